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
* :mod:`pfterm.core.sim.options` — the value types (ranges) of the command-line options, shared
  with ``pfterm sim``;
* ``python -m pfterm.core.sim`` — the command line (:func:`pfterm.core.sim.__main__.serve` to embed it).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CascadeRecord": "pfterm.core.sim.market",
    "FundingRow": "pfterm.core.sim.market",
    "MarketModel": "pfterm.core.sim.market",
    "SimMarket": "pfterm.core.sim.market",
    "UnknownCoinError": "pfterm.core.sim.market",
    "price_str": "pfterm.core.sim.market",
    "SimulatorServer": "pfterm.core.sim.server",
    "load_snapshot": "pfterm.core.sim.snapshot",
}
"""Names importable from the package, each from its module, imported on first use: importing
a light module of the package (:mod:`.options`, for ``pfterm --help``) must not load the server."""

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
