"""Binance USDⓈ-M futures' protocol on the simulator: public and signed ``/fapi`` REST and the
market WebSocket.

:class:`BinanceRoutes` answers these routes for a
:class:`~pfterm.core.sim.server.SimulatorServer` from its
:class:`~pfterm.core.sim.cex.CexModel` (Binance venue: prices correlated with the Hyperliquid
markets, its own funding regime, 4 h / 8 h intervals, OI and liquidations; everything on the
simulated clock) and its :class:`~pfterm.core.sim.binance_futures.BinanceFuturesSim`. Point
``pfterm.core.venues.binance.market`` at ``http_url`` /
:attr:`~pfterm.core.sim.server.SimulatorServer.binance_ws_url`:

* REST: ``GET /fapi/v1/premiumIndex`` (every market; ``?symbol=`` one object),
  ``GET /fapi/v1/fundingInfo`` (only the 4 h markets), ``GET /fapi/v1/openInterest?symbol=``
  (base units). Unknown symbol → HTTP 400 ``{"code": -1121, "msg": "Invalid symbol."}``.
* WebSocket: ``GET /market/stream?streams=!markPrice@arr@1s/!forceOrder@arr`` (also
  ``/stream``); exactly those two streams (anything else: HTTP 400), combined frames
  ``{"stream", "data"}``: the mark-price array once per wall second, one ``forceOrder`` object
  per message, at most one per symbol per (simulated) second, ``o.S`` = ``SELL`` for a
  liquidated long. ``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` are answered
  ``{"result", "id"}``. The server pings (``BINANCE_PING_S``); these connections need not
  send anything and are exempt from ``idle_timeout_s``.
* Trading (the :class:`~pfterm.core.sim.binance_futures.BinanceFuturesSim` over the CexModel's
  Binance venue; model, fees, margin and funding in its docstring). Accounts are API keys
  registered in process (``binance_credentials``,
  :meth:`~pfterm.core.sim.server.SimulatorServer.register_binance_key`), each funded with USDT.
  Public: ``GET /fapi/v1/time`` (the *simulated* clock), ``GET /fapi/v1/ping``,
  ``GET /fapi/v1/exchangeInfo``. Signed (header ``X-MBX-APIKEY``, ``timestamp`` on the
  simulated clock, ``recvWindow``, ``signature`` = hex HMAC-SHA256 of the raw query string +
  raw form body): ``POST /fapi/v1/order``, ``POST /fapi/v1/batchOrders`` (≤ 5),
  ``DELETE /fapi/v1/order``, ``DELETE /fapi/v1/allOpenOrders``, ``GET /fapi/v1/order``,
  ``GET /fapi/v1/openOrders``, ``GET /fapi/v2/account`` (also ``/fapi/v3/account``),
  ``GET /fapi/v3/positionRisk`` (``/fapi/v2/positionRisk``: the v2 shape), ``GET
  /fapi/v1/userTrades``, ``GET /fapi/v1/income``, ``POST /fapi/v1/leverage``, ``POST
  /fapi/v1/countdownCancelAll``, ``GET /fapi/v1/positionSide/dual`` (always one-way),
  ``GET /fapi/v1/leverageBracket`` (one bracket per symbol).
  Refusals answer HTTP 400 (401 for API-key errors) ``{"code", "msg"}`` with Binance's codes.
  The model is ticked after every model step (with the exchange) and before every signed
  request; :meth:`~pfterm.core.sim.server.SimulatorServer.advance` also cuts its steps at
  ``countdownCancelAll`` deadlines.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from pfterm.core.sim.binance_futures import BinanceApiError, BinanceFuturesSim, FuturesAccount, WireParams
from pfterm.core.sim.cex import BINANCE, CexLiquidation, CexModel
from pfterm.core.sim.http import json_response
from pfterm.core.sim.stream import Client, SubKey, due

if TYPE_CHECKING:
    from pfterm.core.sim.server import SimulatorServer

_dumps: Callable[[Any], bytes] = orjson.dumps
_loads: Callable[[str | bytes], Any] = orjson.loads

MARK_STREAM = "!markPrice@arr@1s"
"""The combined-stream name of the every-market mark price array (once per wall second)."""
FORCE_STREAM = "!forceOrder@arr"
"""The combined-stream name of every market's liquidation orders."""
STREAMS = (MARK_STREAM, FORCE_STREAM)
"""The Binance combined-stream names the simulator serves."""
STREAM_PATH = "/market/stream"
"""Path of the combined-stream WebSocket (the legacy ``/stream`` is served too)."""
BINANCE_PING_S = 60.0
"""Protocol ping period (wall s) on Binance-style connections; no pong in half of it closes
them (the real venue pings every 3 minutes)."""
_BAD_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}
_NO_SYMBOL = {
    "code": -1102,
    "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
}

_SIGNED_ROUTES: tuple[tuple[str, str, Callable[[BinanceFuturesSim, FuturesAccount, WireParams, int], Any]], ...] = (
    ("POST", "/fapi/v1/order", BinanceFuturesSim.new_order),
    ("DELETE", "/fapi/v1/order", BinanceFuturesSim.cancel_order),
    ("GET", "/fapi/v1/order", BinanceFuturesSim.query_order),
    ("POST", "/fapi/v1/batchOrders", BinanceFuturesSim.batch_orders),
    ("DELETE", "/fapi/v1/allOpenOrders", BinanceFuturesSim.cancel_all),
    ("GET", "/fapi/v1/openOrders", BinanceFuturesSim.open_orders),
    ("GET", "/fapi/v2/account", BinanceFuturesSim.account_wire),
    ("GET", "/fapi/v3/account", BinanceFuturesSim.account_wire),
    ("GET", "/fapi/v3/positionRisk", BinanceFuturesSim.position_risk),
    ("GET", "/fapi/v2/positionRisk", BinanceFuturesSim.position_risk_v2),
    ("GET", "/fapi/v1/userTrades", BinanceFuturesSim.user_trades),
    ("GET", "/fapi/v1/income", BinanceFuturesSim.income),
    ("POST", "/fapi/v1/leverage", BinanceFuturesSim.set_leverage),
    ("POST", "/fapi/v1/countdownCancelAll", BinanceFuturesSim.countdown_cancel_all),
    ("GET", "/fapi/v1/positionSide/dual", BinanceFuturesSim.position_mode),
    ("GET", "/fapi/v1/leverageBracket", BinanceFuturesSim.leverage_brackets),
)
"""Signed Binance USDⓈ-M routes: (method, path, the model method answering it)."""


class BinanceRoutes:
    """The Binance USDⓈ-M protocol of ``server`` (see the module docstring): public and
    signed ``/fapi`` REST and the combined-stream WebSocket. Subscription kind it owns:
    ``"bn"`` (key ``("bn", stream name)``). Event loop thread only."""

    kinds: tuple[str, ...] = ("bn",)
    """Subscription key kinds (``key[0]``) this protocol owns."""

    def __init__(self, server: SimulatorServer) -> None:
        self._server = server
        self._mark_due = False
        self._liqs: list[CexLiquidation] = []

    def mount(self, router: web.UrlDispatcher) -> None:
        """Add the ``/fapi`` REST routes and the ``/market/stream`` (and ``/stream``) WebSocket
        to ``router``."""
        router.add_get("/fapi/v1/premiumIndex", self._handle_premium_index)
        router.add_get("/fapi/v1/fundingInfo", self._handle_funding_info)
        router.add_get("/fapi/v1/openInterest", self._handle_open_interest)
        router.add_get("/fapi/v1/time", self._handle_time)
        router.add_get("/fapi/v1/ping", self._handle_ping)
        router.add_get("/fapi/v1/exchangeInfo", self._handle_exchange_info)
        for method, path, endpoint in _SIGNED_ROUTES:
            router.add_route(method, path, self._signed_handler(endpoint))
        router.add_get(STREAM_PATH, self._handle_ws)
        router.add_get("/stream", self._handle_ws)

    # -- ticks ----------------------------------------------------------------------------

    def begin_tick(self, prev: float, cur: float) -> None:
        """Start a push tick covering ``(prev, cur]`` (wall seconds since start): take the new
        liquidations (every tick, subscribed or not, so none pile up) and whether the
        once-a-second mark price is due."""
        self._liqs = self._server.cex.drain_liquidations(BINANCE.name)
        self._mark_due = due(prev, cur, 0.0, 1.0)

    def push(self, key: SubKey, clients: set[Client]) -> None:
        """Push what is due on stream ``key[1]`` this tick to ``clients``."""
        if key[1] == MARK_STREAM:
            if self._mark_due:
                self._server.broadcast(clients, self._mark_frame())
        else:
            for liq in self._liqs:
                self._server.broadcast(clients, self._force_frame(liq))

    def released(self, key: SubKey) -> None:
        """``key`` lost its last subscriber: nothing to stop (streams are drawn from the model)."""

    def _mark_frame(self) -> bytes:
        return _dumps({"stream": MARK_STREAM, "data": self._server.cex.binance_mark_price_wire()})

    def _force_frame(self, liq: CexLiquidation) -> bytes:
        data = CexModel.binance_force_order_wire(liq, max(liq.time_ms, self._server.model.now_ms))
        return _dumps({"stream": FORCE_STREAM, "data": data})

    # -- public REST ----------------------------------------------------------------------

    async def _handle_premium_index(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/premiumIndex[?symbol=]``: every market, or one object."""
        cex = await self._server.synced_cex()
        symbol = request.query.get("symbol")
        if symbol is None:
            return json_response(cex.binance_premium_index_wire())
        item = cex.binance_premium_index_wire(symbol)
        return json_response(_BAD_SYMBOL, 400) if item is None else json_response(item)

    async def _handle_funding_info(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/fundingInfo``: only the markets with a non-default setting."""
        cex = await self._server.synced_cex()
        return json_response(cex.binance_funding_info_wire())

    async def _handle_open_interest(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/openInterest?symbol=``: one market's OI in base units."""
        cex = await self._server.synced_cex()
        symbol = request.query.get("symbol")
        if not symbol:
            return json_response(_NO_SYMBOL, 400)
        item = cex.binance_open_interest_wire(symbol)
        return json_response(_BAD_SYMBOL, 400) if item is None else json_response(item)

    async def _handle_time(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/time`` → ``{"serverTime": sim ms}``
        (:meth:`~pfterm.core.sim.server.SimulatorServer.venue_clock_ms`)."""
        await self._server.wait_advance()
        return json_response({"serverTime": self._server.venue_clock_ms()})

    async def _handle_ping(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/ping`` → ``{}``."""
        return json_response({})

    async def _handle_exchange_info(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/exchangeInfo``: every Binance market with its filters."""
        await self._server.wait_advance()
        return json_response(self._server.binance.exchange_info_wire(self._server.model.now_ms))

    # -- signed REST ----------------------------------------------------------------------

    def _signed_handler(
        self, endpoint: Callable[[BinanceFuturesSim, FuturesAccount, WireParams, int], Any]
    ) -> Callable[[web.Request], Coroutine[Any, Any, web.Response]]:
        """An aiohttp handler answering one signed Binance endpoint: authenticate (raw query
        string + raw form body), bring the venue to the clock, run ``endpoint``."""
        server = self._server

        async def handle(request: web.Request) -> web.Response:
            body = (await request.read()).decode("utf-8", errors="replace")
            await server.wait_advance()
            now = server.model.now_ms
            server.cex.sync()
            binance = server.binance
            binance.tick(now)
            clock = server.venue_clock_ms()  # timestamps are checked against a continuous clock
            try:
                signed = binance.authenticate(
                    request.headers.get("X-MBX-APIKEY"), request.rel_url.raw_query_string, body, clock
                )
                result = endpoint(binance, signed.account, signed.params, now)
            except BinanceApiError as exc:
                return json_response(exc.wire(), exc.status)
            return json_response(result)

        return handle

    # -- WebSocket ------------------------------------------------------------------------

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        """``GET /market/stream?streams=a/b`` (also the legacy ``/stream``): Binance combined
        streams; only ``!markPrice@arr@1s`` and ``!forceOrder@arr`` exist here (anything else:
        HTTP 400). Frames are ``{"stream", "data"}``; the server pings, the client need not
        send anything (``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` are answered)."""
        streams = [s for s in request.query.get("streams", "").split("/") if s]
        bad = [s for s in streams if s not in STREAMS]
        if not streams or bad:
            name = (bad or [""])[0][:64]
            return json_response({"code": -1100, "msg": f"Invalid stream name: '{name}'"}, 400)
        ws = web.WebSocketResponse(compress=False, autoping=True, heartbeat=BINANCE_PING_S, max_msg_size=1 << 16)
        await ws.prepare(request)
        client = Client(ws, request.transport, request.remote or "?")
        client.idle_exempt = True  # liveness: protocol pings (heartbeat), as on the venue
        for stream in streams:
            self._server.subscribe(client, ("bn", stream), {})
        await self._server.serve_client(client, self._on_message)
        return ws

    def _on_message(self, client: Client, text: str) -> None:
        server = self._server
        try:
            msg = _loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            server.enqueue(client, _dumps({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None}))
            return
        req_id = msg.get("id")
        method = msg.get("method")
        params = msg.get("params", [])
        if method == "LIST_SUBSCRIPTIONS":
            names = [key[1] for key in client.subs if key[0] == "bn"]
            server.enqueue(client, _dumps({"result": names, "id": req_id}))
            return
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            server.enqueue(client, _dumps({"error": {"code": 2, "msg": "Invalid request"}, "id": req_id}))
            return
        if not all(isinstance(p, str) and p in STREAMS for p in params):
            server.enqueue(
                client, _dumps({"error": {"code": 2, "msg": "Invalid request: unknown stream"}, "id": req_id})
            )
            return
        for name in params:
            if method == "SUBSCRIBE":
                server.subscribe(client, ("bn", name), {})
            else:
                server.unsubscribe(client, ("bn", name))
        server.enqueue(client, _dumps({"result": None, "id": req_id}))
