"""Market state: what the venues' data becomes before anything trades on it.

* :mod:`.models` — normalised domain types (markets, contexts, liquidations, orders, positions);
* :mod:`.funding` — funding-rate arithmetic, settlement clocks, payments (``docs/domain.md`` §1);
* :mod:`.clock` — the venue's clock as seen from this machine;
* :mod:`.engine` — the engine: venue frames in, market state, signals and alerts out
  (its alert thresholds in :mod:`.alert_thresholds`);
* :mod:`.store` — latest value per market plus bounded history;
* :mod:`.signals` — OI × price quadrant, OI trend, liquidation cascades, funding alerts;
* :mod:`.views` — immutable snapshots of engine state for display.

May import only the standard library and third-party packages: no venue, order or strategy.
"""
