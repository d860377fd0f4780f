"""Bybit v5's protocol on the simulator: the linear tickers REST and the public linear WebSocket.

:class:`BybitRoutes` answers these routes for a
:class:`~pfterm.core.sim.server.SimulatorServer` from its
:class:`~pfterm.core.sim.cex.CexModel` (Bybit venue: prices correlated with the Hyperliquid
markets, its own funding regime, 4 h / 8 h intervals, OI and liquidations; everything on the
simulated clock). Point ``pfterm.core.venues.bybit.market`` at ``http_url`` /
:attr:`~pfterm.core.sim.server.SimulatorServer.bybit_ws_url`:

* REST: ``GET /v5/market/tickers?category=linear[&symbol=]`` → ``{retCode: 0, retMsg,
  result: {category, list}, retExtInfo, time}``, all fields strings, ``openInterest``
  two-sided and ``singleOpenInterest`` one side, ``fundingIntervalHour``; a wrong category or
  symbol answers HTTP 200 with ``retCode`` 10001.
* WebSocket: ``GET /v5/public/linear``: ``{"op": "subscribe" | "unsubscribe", "args",
  "req_id"?}`` → ``{success, ret_msg, conn_id, req_id, op}`` (topics that do not exist are
  refused with ``success: false`` and a ``ret_msg``; the valid topics of the same request are
  still subscribed); ``{"op": "ping"}`` → ``{"success": true, "ret_msg": "pong", "conn_id",
  "req_id", "op": "ping"}`` (the public-stream pong of the Bybit docs). ``tickers.{symbol}``:
  a ``snapshot`` then ``delta`` messages with only the changed fields, at most
  ``BYBIT_TICKER_HZ`` (10) per symbol per wall second; ``allLiquidation.{symbol}``: arrays of
  ``{T, s, S, v, p}``, ``S`` the liquidated position's side (``Buy`` = a long).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from pfterm.core.sim.cex import BYBIT, CexLiquidation, CexModel
from pfterm.core.sim.http import json_response
from pfterm.core.sim.stream import Client, SubKey, due, push_phases

if TYPE_CHECKING:
    from pfterm.core.sim.server import SimulatorServer

_dumps: Callable[[Any], bytes] = orjson.dumps
_loads: Callable[[str | bytes], Any] = orjson.loads

STREAM_PATH = "/v5/public/linear"
"""Path of the public linear WebSocket."""
BYBIT_TICKER_HZ = 10.0
"""Most ``tickers.{symbol}`` pushes per wall second per symbol (the venue pushes every 100 ms)."""


class BybitRoutes:
    """The Bybit v5 protocol of ``server`` (see the module docstring): tickers REST and the
    public linear stream, with the ticker fields last published per symbol (deltas are
    computed against them), the stream's ``cs`` sequence and the connection ids. Subscription
    kinds it owns: ``"by.tickers"`` and ``"by.liq"`` (key ``(kind, symbol)``). Event loop
    thread only."""

    kinds: tuple[str, ...] = ("by.tickers", "by.liq")
    """Subscription key kinds (``key[0]``) this protocol owns."""

    def __init__(self, server: SimulatorServer) -> None:
        self._server = server
        self._sent: dict[str, dict[str, str]] = {}
        self._cs = 0
        self._conn_seq = 0
        self._phase = push_phases(server.cex.markets[BYBIT.name])
        self._prev = 0.0
        self._cur = 0.0
        self._liq_frames: dict[str, bytes] = {}

    def mount(self, router: web.UrlDispatcher) -> None:
        """Add ``GET /v5/market/tickers`` and the ``/v5/public/linear`` WebSocket to ``router``."""
        router.add_get("/v5/market/tickers", self._handle_tickers)
        router.add_get(STREAM_PATH, self._handle_ws)

    # -- ticks ----------------------------------------------------------------------------

    def begin_tick(self, prev: float, cur: float) -> None:
        """Start a push tick covering ``(prev, cur]`` (wall seconds since start): take the new
        liquidations (every tick, subscribed or not, so none pile up) as frames per symbol."""
        self._prev = prev
        self._cur = cur
        liqs = self._server.cex.drain_liquidations(BYBIT.name)
        self._liq_frames = self._liquidation_frames(liqs) if liqs else {}

    def push(self, key: SubKey, clients: set[Client]) -> None:
        """Push what is due on ``key`` this tick to ``clients``: a ticker delta at most
        ``BYBIT_TICKER_HZ`` times a wall second (each symbol on its own phase), liquidations
        as they occur."""
        if key[0] == "by.tickers":
            period = 1.0 / BYBIT_TICKER_HZ
            if due(self._prev, self._cur, self._phase[key[1]] * period, period):
                frame = self._delta_frame(key[1])
                if frame is not None:
                    self._server.broadcast(clients, frame)
        elif key[0] == "by.liq":
            frame = self._liq_frames.get(key[1])
            if frame is not None:
                self._server.broadcast(clients, frame)

    def released(self, key: SubKey) -> None:
        """``key`` lost its last subscriber: nothing to stop (topics are drawn from the model)."""

    # -- REST -----------------------------------------------------------------------------

    async def _handle_tickers(self, request: web.Request) -> web.Response:
        """``GET /v5/market/tickers?category=linear[&symbol=]`` (errors answer HTTP 200 with a
        non-zero ``retCode``, as Bybit does)."""
        cex = await self._server.synced_cex()
        category = request.query.get("category")
        if category != "linear":
            return json_response(_error(10001, "Illegal category", cex.model.now_ms))
        body = cex.bybit_tickers_wire()
        symbol = request.query.get("symbol")
        if symbol is not None:
            items = [i for i in body["result"]["list"] if i["symbol"] == symbol]
            if not items:
                return json_response(_error(10001, "Not supported symbols", cex.model.now_ms))
            body = {**body, "result": {"category": "linear", "list": items}}
        return json_response(body)

    # -- WebSocket ------------------------------------------------------------------------

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        """``GET /v5/public/linear``: Bybit v5 public linear stream (see the module docstring)."""
        ws = web.WebSocketResponse(compress=False, autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        client = Client(ws, request.transport, request.remote or "?")
        self._conn_seq += 1
        client.conn_id = f"sim-{self._server.model.seed}-{self._conn_seq}"
        await self._server.serve_client(client, self._on_message)
        return ws

    def _reply(self, client: Client, op: str, req_id: Any, success: bool, ret_msg: str) -> None:
        reply = {"success": success, "ret_msg": ret_msg, "conn_id": client.conn_id, "req_id": req_id, "op": op}
        self._server.enqueue(client, _dumps(reply))

    def _topic_key(self, topic: Any) -> tuple[tuple[str, str] | None, str]:
        """``(registry key, "")`` for a served topic, else ``(None, error message)``."""
        if not isinstance(topic, str):
            return None, "error:topic must be a string"
        kind, _, native = topic.partition(".")
        if kind == "tickers":
            key = ("by.tickers", native)
        elif kind == "allLiquidation":
            key = ("by.liq", native)
        else:
            return None, f"error:handler not found,topic:{topic[:64]}"
        if self._server.cex.market(BYBIT.name, native) is None:
            return None, f"Invalid symbol :[{topic[:64]}]"
        return key, ""

    def _on_message(self, client: Client, text: str) -> None:
        server = self._server
        try:
            msg = _loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            self._reply(client, "", "", False, "error:request not a JSON object")
            return
        op = msg.get("op")
        req_id = msg.get("req_id", "")
        if op == "ping":
            self._reply(client, "ping", req_id, True, "pong")
            return
        if op not in ("subscribe", "unsubscribe"):
            self._reply(client, str(op)[:32], req_id, False, f"error:unsupported op {str(op)[:32]}")
            return
        args = msg.get("args")
        if not isinstance(args, list) or not args:
            self._reply(client, op, req_id, False, "error:args must be a non-empty array")
            return
        errors: list[str] = []
        snapshots: list[str] = []
        for topic in args:
            key, error = self._topic_key(topic)
            if key is None:
                errors.append(error)
            elif op == "subscribe":
                if not server.subscribe(client, key, {}):
                    errors.append(f"error:already subscribed,topic:{topic}")
                elif key[0] == "by.tickers":
                    snapshots.append(key[1])
            elif key not in client.subs:
                errors.append(f"error:not subscribed,topic:{topic}")
            else:
                server.unsubscribe(client, key)
        self._reply(client, op, req_id, not errors, "; ".join(errors))
        if snapshots:
            server.cex.sync()
            for native in snapshots:
                fresh = len(server.subscribers(("by.tickers", native))) == 1
                server.enqueue(client, self._snapshot_frame(native, fresh=fresh))

    # -- frames ---------------------------------------------------------------------------

    def _snapshot_frame(self, native: str, *, fresh: bool) -> bytes:
        """The ``tickers.{native}`` snapshot: the fields last published to the topic (so later
        deltas apply to it), refreshed first when the topic has no other subscriber."""
        sent = self._sent.get(native)
        if sent is None or fresh:
            fields = self._server.cex.bybit_ticker_fields(native)
            assert fields is not None
            sent = self._sent[native] = fields
        self._cs += 1
        frame = {
            "topic": f"tickers.{native}",
            "type": "snapshot",
            "data": sent,
            "cs": self._cs,
            "ts": self._server.model.now_ms,
        }
        return _dumps(frame)

    def _delta_frame(self, native: str) -> bytes | None:
        """A ``tickers.{native}`` delta with the fields that changed since the last push."""
        old = self._sent.get(native)
        cur = self._server.cex.bybit_ticker_fields(native)
        if cur is None:
            return None
        if old is None:
            self._sent[native] = cur
            return None
        changed = {k: v for k, v in cur.items() if k != "tickDirection" and old.get(k) != v}
        if not changed:
            return None
        if "lastPrice" in changed:
            up = float(changed["lastPrice"]) > float(old["lastPrice"])
            changed["tickDirection"] = "PlusTick" if up else "MinusTick"
            cur["tickDirection"] = changed["tickDirection"]
        else:
            cur["tickDirection"] = old.get("tickDirection", "ZeroPlusTick")
        self._sent[native] = cur
        data = {"symbol": native, **changed}
        self._cs += 1
        frame = {
            "topic": f"tickers.{native}",
            "type": "delta",
            "data": data,
            "cs": self._cs,
            "ts": self._server.model.now_ms,
        }
        return _dumps(frame)

    def _liquidation_frames(self, liqs: list[CexLiquidation]) -> dict[str, bytes]:
        """``{native: allLiquidation frame}`` for the natives someone subscribed to."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for liq in liqs:
            if self._server.subscribers(("by.liq", liq.native)):
                grouped.setdefault(liq.native, []).append(CexModel.bybit_liquidation_item(liq))
        now = self._server.model.now_ms
        return {
            native: _dumps({"topic": f"allLiquidation.{native}", "type": "snapshot", "ts": now, "data": items})
            for native, items in grouped.items()
        }


def _error(code: int, msg: str, now_ms: int) -> dict[str, Any]:
    """A Bybit v5 refusal body: non-zero ``retCode`` (answered with HTTP 200, as Bybit does)."""
    return {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": now_ms}
