"""Embedded Hyperliquid-compatible exchange simulator, so the console works offline.

* :mod:`pfterm.core.sim.market` — :class:`MarketModel`, a deterministic market seeded from a real
  ``metaAndAssetCtxs`` snapshot, with Hyperliquid wire serialisation;
* :mod:`pfterm.core.sim.server` — :class:`SimulatorServer`, one aiohttp app on a loopback
  address: lifecycle, the tick loop and the lockstep clock (``advance``), the WebSocket client
  registry and send queues shared by every protocol;
* :mod:`pfterm.core.sim.routes` — the protocols it serves, one module each: Hyperliquid
  (``POST /info``, ``POST /exchange``, WebSocket ``/ws``), Binance USDⓈ-M (``/fapi`` REST, the
  market stream) and Bybit v5 (tickers REST, the public linear stream);
* :mod:`pfterm.core.sim.exchange` — :class:`~pfterm.core.sim.exchange.SimExchange`, the
  Hyperliquid accounts and matching; :mod:`pfterm.core.sim.binance_futures` — the Binance
  USDⓈ-M accounts and matching;
* :mod:`pfterm.core.sim.http`, :mod:`pfterm.core.sim.stream` — the HTTP answers and the
  WebSocket clients and push schedule the protocols share;
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
