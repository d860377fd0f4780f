"""Embedded Hyperliquid-compatible exchange simulator, so the console works offline.

* :mod:`pfterm.core.sim.market` — :class:`MarketModel`, a deterministic market seeded from a real
  ``metaAndAssetCtxs`` snapshot, with Hyperliquid wire serialisation;
* :mod:`pfterm.core.sim.server` — :class:`SimulatorServer`, ``POST /info`` and WebSocket ``/ws``
  on a loopback address, plus Binance- and Bybit-compatible public market data;
* :mod:`pfterm.core.sim.cex` — :class:`~pfterm.core.sim.cex.CexModel`, the Binance- and Bybit-like venues
  derived from the market model;
* :mod:`pfterm.core.sim.snapshot` — :func:`load_snapshot`, the packaged seed data;
* ``python -m pfterm.core.sim`` — the command line (:func:`pfterm.core.sim.__main__.serve` to embed it).
"""

from pfterm.core.sim.market import (
    CascadeRecord,
    FundingRow,
    MarketModel,
    SimMarket,
    UnknownCoinError,
    price_str,
)
from pfterm.core.sim.server import SimulatorServer
from pfterm.core.sim.snapshot import load_snapshot

__all__ = [
    "CascadeRecord",
    "FundingRow",
    "MarketModel",
    "SimMarket",
    "SimulatorServer",
    "UnknownCoinError",
    "load_snapshot",
    "price_str",
]
