"""Cross-venue funding, open interest and liquidations.

* :mod:`.symbols` — each venue's market names joined to one canonical symbol;
* :mod:`.matrix` — the funding matrix and liquidation feed (pure state, no I/O);
* :mod:`.session` — snapshots and streams of the read-only venues feeding the matrix.

May import :mod:`pfterm.core.market` and :mod:`pfterm.core.venues`; never trading or harvesting.
"""
