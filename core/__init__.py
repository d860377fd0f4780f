"""The engine of pfterm: everything the console and the headless commands share, no UI.

One subpackage per concern (each ``__init__`` says what it owns and what it may import):

* :mod:`pfterm.core.market` — market state: domain types, funding arithmetic, the engine, its
  store, signals and the immutable views the console renders;
* :mod:`pfterm.core.venues` — the wire of each venue (Hyperliquid, Binance, Bybit, OKX, dYdX);
* :mod:`pfterm.core.crossvenue` — symbols joined across venues, the funding matrix, its session;
* :mod:`pfterm.core.trading` — the one order path: clients, order managers, desk, risk, kill
  switch, journal, shared trading state;
* :mod:`pfterm.core.harvest` — the funding harvester: strategy math, the bot, its P&L report and
  the lockstep sessions on the simulator;
* :mod:`pfterm.core.sim` — the embedded exchange, reached only over its wire protocols;
* :mod:`pfterm.core.runtime` — configuration and the wiring of a session (console or headless).

Never imports Textual, :mod:`pfterm.widgets` or :mod:`pfterm.tui` (``[tool.importlinter]`` in
``pyproject.toml`` checks every rule named in these docstrings).
"""
