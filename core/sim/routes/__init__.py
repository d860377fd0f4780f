"""The simulator's wire protocols, one module each, mounted by
:class:`~pfterm.core.sim.server.SimulatorServer` on one aiohttp app (same port):

* :mod:`pfterm.core.sim.routes.hyperliquid` —
  :class:`~pfterm.core.sim.routes.hyperliquid.HyperliquidRoutes`: ``POST /info``,
  ``POST /exchange`` (signature recovery, nonce window, actions), WebSocket ``/ws``
  (subscriptions and user-event pushes);
* :mod:`pfterm.core.sim.routes.binance` — :class:`~pfterm.core.sim.routes.binance.BinanceRoutes`:
  Binance USDⓈ-M public and signed ``/fapi`` REST and the combined-stream market WebSocket;
* :mod:`pfterm.core.sim.routes.bybit` — :class:`~pfterm.core.sim.routes.bybit.BybitRoutes`:
  Bybit v5 tickers REST and the public linear WebSocket.

Each class is built with the server (``HyperliquidRoutes(server, clock_ms)``,
``BinanceRoutes(server)``, ``BybitRoutes(server)``) and keeps its protocol's own state. The
server asks each of them the same things: ``mount(router)`` adds its routes; ``kinds`` names
the subscription key kinds it owns; on every tick ``begin_tick(prev, cur)`` (wall seconds
since start) takes what the tick pushes, then ``push(key, clients)`` runs for each of its
subscribed keys, in subscription order; ``released(key)`` runs when a key loses its last
subscriber. The models (:attr:`~pfterm.core.sim.server.SimulatorServer.model`,
``exchange``, ``cex``, ``binance``), the client registry, the subscription index and the
outgoing queues are reached through the server.
"""
