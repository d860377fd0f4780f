"""Embedded Hyperliquid-compatible exchange simulator, so the console works offline.

* :mod:`core.sim.market` — :class:`MarketModel`, a deterministic market seeded from a real
  ``metaAndAssetCtxs`` snapshot, with Hyperliquid wire serialisation;
* :mod:`core.sim.server` — :class:`SimulatorServer`, ``POST /info`` and WebSocket ``/ws``
  on a loopback address, plus Binance- and Bybit-compatible public market data;
* :mod:`core.sim.cex` — :class:`~core.sim.cex.CexModel`, the Binance- and Bybit-like venues
  derived from the market model;
* :mod:`core.sim.snapshot` — :func:`load_snapshot`, the packaged seed data;
* ``python -m core.sim`` — the command line (:func:`core.sim.__main__.serve` to embed it).
"""

from core.sim.market import (
    CascadeRecord,
    FundingRow,
    MarketModel,
    SimMarket,
    UnknownCoinError,
    price_str,
)
from core.sim.server import SimulatorServer
from core.sim.snapshot import load_snapshot

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
