"""Hyperliquid's protocol on the simulator: ``POST /info``, ``POST /exchange`` and WebSocket ``/ws``.

:class:`HyperliquidRoutes` answers these routes for a
:class:`~pfterm.core.sim.server.SimulatorServer` from its
:class:`~pfterm.core.sim.market.MarketModel` and :class:`~pfterm.core.sim.exchange.SimExchange`.
Push rates are wall-clock rates, like the real venue, whatever the speed.

Wire behaviour (docs/venues.md, Hyperliquid):

* ``POST /info`` with ``{"type": ...}``: ``meta``, ``metaAndAssetCtxs``, ``allMids`` (perp
  coins, then spot pairs keyed ``"PURR/USDC"`` for index 0 and ``"@{index}"`` otherwise),
  ``spotMeta``, ``spotMetaAndAssetCtxs``, ``l2Book {coin, nSigFigs?}`` (perp coin or spot
  pair), ``fundingHistory {coin, startTime, endTime?}``, ``predictedFundings``,
  ``recentTrades {coin}``. A body that does not deserialise, or an unknown type, answers
  HTTP 422 with a short text, as the venue does. The ``dex`` field the official SDK adds
  (``""``, the main dex) is accepted and ignored.
* ``GET /ws``: the first frame is the text ``Websocket connection established.``; then
  ``subscribe`` / ``unsubscribe`` (acked on channel ``subscriptionResponse``), ``ping`` (answered
  on channel ``pong``); mistakes are reported on channel ``error``. A connection that sends no
  message for ``idle_timeout_s`` is closed.
* Subscriptions: ``allMids`` (``{"mids": {...}}`` at ``push_hz``), ``activeAssetCtx {coin}``
  (``{"coin", "ctx"}`` at ``push_hz`` per coin, each coin on its own phase so frames spread over
  the period), ``l2Book {coin, nSigFigs?}`` (at ``book_hz``), ``trades {coin}`` (as trades occur).
  Each subscription first receives the current state.

Trading (the server's :class:`~pfterm.core.sim.exchange.SimExchange`; every tick steps the
model, then calls ``exchange.tick(model.now_ms)`` through :meth:`HyperliquidRoutes.tick_exchange`):

* ``POST /exchange`` with ``{action, nonce, signature{r,s,v}, vaultAddress?, expiresAfter?}``.
  The acting account is the address recovered from the L1 signature with
  :func:`~pfterm.core.venues.hyperliquid.signing.recover_l1_signer` (``is_mainnet`` defaults to
  ``True``: the simulator answers as mainnet, so clients sign with source ``"a"``; the official
  Python SDK signs every non-mainnet URL as testnet, source ``"b"``, so serve it with
  ``is_mainnet=False`` / ``python -m pfterm.core.sim --testnet``). Accounts
  are faucet-funded on first use, so a signature over different bytes than were sent (a
  tampered action, a wrong nonce) recovers an unrelated address and acts on that fresh,
  empty account, never on the intended one; the venue would answer that such a wallet does
  not exist. Each signer is its own account: agent (API) wallets and ``approveAgent`` are
  not supported, and a non-null ``vaultAddress`` is refused.
* Nonces, per signer, on the server's wall clock (``clock_ms``, not the simulated clock, since
  clients draw nonces from their own wall clock and the sim clock may run fast): a nonce must
  lie in ``(now − 2 days, now + 1 day)``, must not repeat, and must exceed the smallest of the
  signer's 100 highest nonces (Hyperliquid docs, "Nonces and API wallets"). An
  ``expiresAfter`` before now is refused. Times inside actions (``scheduleCancel.time``) are on
  the simulated clock, the ``time`` of ``clearinghouseState``.
* Spot (asset id ``10000 + spot index``, ``spotMeta`` from ``core/sim/data/spotMeta.json``, a
  constructed universe: see its README): see :class:`~pfterm.core.sim.exchange.SimExchange` for
  pricing, fees and balances. Faucet: a new account gets ``starting_usdc`` in its perp
  margin **and** an equal, separate spot USDC balance, so spot and perp legs (cash and carry)
  can be traded without a transfer action; ``usdClassTransfer`` is not implemented.
* Actions: ``order`` (``grouping`` ``"na"`` only; a ``builder`` field is accepted and
  ignored, no builder fee is charged) → ``{"status": "ok", "response": {"type":
  "order", "data": {"statuses": [...]}}}`` with one ``resting`` / ``filled`` / ``error`` per
  order (a rejected order is still ``ok``); ``cancel {cancels: [{a, o}]}`` and
  ``cancelByCloid {cancels: [{asset, cloid}]}`` → type ``"cancel"`` with ``"success"`` or
  ``{"error": msg}`` per entry; ``updateLeverage`` and ``scheduleCancel {time?}`` →
  ``{"status": "ok", "response": {"type": "default"}}``. Anything refused as a whole (unknown
  action, bad fields, bad signature, nonce, vault) answers HTTP 200
  ``{"status": "err", "response": "<message>"}``; a body that is not JSON answers 422.
* ``/info`` user queries (addresses in any case): ``clearinghouseState {user}``,
  ``spotClearinghouseState {user}`` → ``{"balances": [{coin, token, total, hold, entryNtl}]}``,
  ``openOrders {user}``, ``frontendOpenOrders {user}``, ``userFills {user}``,
  ``userFunding {user, startTime, endTime?}``.
* User subscriptions (pushed as changes happen, after each action and each tick):
  ``orderUpdates {user}`` → ``[{order: {coin, side, limitPx, sz, oid, timestamp, origSz,
  cloid?}, status, statusTimestamp}]`` with status ``open`` / ``filled`` / ``canceled`` /
  ``scheduledCancel`` / ``reduceOnlyCanceled`` / ``liquidatedCanceled``;
  ``userFills {user}`` → ``{isSnapshot?, user, fills}`` (snapshot newest first, then new
  fills oldest first); ``userFundings {user}`` → ``{isSnapshot?, user, fundings: [{time, coin,
  usdc, szi, fundingRate, nSamples}]}``; ``userEvents {user}`` on channel ``user`` →
  ``{fills}``, ``{funding}`` or ``{liquidation: {lid, liquidator, liquidated_user,
  liquidated_ntl_pos, liquidated_account_value}}``.
"""

from __future__ import annotations

import heapq
import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import orjson
from aiohttp import web
from typing_extensions import TypeIs

from pfterm.core.sim.http import json_body, unprocessable
from pfterm.core.sim.market import UnknownCoinError
from pfterm.core.sim.stream import Client, SubKey, due, push_phases
from pfterm.core.venues.hyperliquid.signing import recover_l1_signer

if TYPE_CHECKING:
    from pfterm.core.sim.server import SimulatorServer

_dumps: Callable[[Any], bytes] = orjson.dumps
_loads: Callable[[str | bytes], Any] = orjson.loads

log = logging.getLogger(__name__)

WELCOME_TEXT = "Websocket connection established."
"""First frame of every WebSocket connection (verbatim from the venue)."""

_PONG = _dumps({"channel": "pong"})
_L2_SIG_FIGS = (2, 3, 4, 5)
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_USER_CHANNELS = {
    "orderUpdates": "orderUpdates",
    "userFills": "userFills",
    "userFundings": "userFundings",
    "userEvents": "user",
}
"""User subscription type → the channel its frames arrive on."""
_USER_INFO = (
    "clearinghouseState",
    "spotClearinghouseState",
    "openOrders",
    "frontendOpenOrders",
    "userFills",
    "userFunding",
)
_SNAPSHOT_ROWS = 2_000
DAY_MS = 86_400_000
NONCE_PAST_MS = 2 * DAY_MS
"""A nonce older than this (ms) before the server's clock is refused."""
NONCE_FUTURE_MS = DAY_MS
"""A nonce further than this (ms) after the server's clock is refused."""
NONCE_KEPT = 100
"""Highest nonces remembered per signer; a new nonce must exceed the smallest of them."""


class InfoRequestError(ValueError):
    """An ``/info`` body the venue would refuse (HTTP 422); the message is the reply text."""


class _NonceWindow:
    """The ``NONCE_KEPT`` highest nonces (ms) one signer has used, as the venue keeps them."""

    __slots__ = ("heap", "seen")

    def __init__(self) -> None:
        self.heap: list[int] = []
        self.seen: set[int] = set()

    def admit(self, nonce: int, now_ms: int) -> str | None:
        """Record ``nonce`` and return ``None``, or return why it is refused (nothing recorded)."""
        if nonce <= now_ms - NONCE_PAST_MS:
            return f"Invalid nonce: {nonce} is more than 2 days before the current time {now_ms}"
        if nonce >= now_ms + NONCE_FUTURE_MS:
            return f"Invalid nonce: {nonce} is more than 1 day after the current time {now_ms}"
        if nonce in self.seen:
            return f"Invalid nonce: duplicate nonce {nonce}"
        if len(self.heap) >= NONCE_KEPT and nonce <= self.heap[0]:
            return (
                f"Invalid nonce: {nonce} is not greater than the smallest of the "
                f"{NONCE_KEPT} highest nonces used ({self.heap[0]})"
            )
        heapq.heappush(self.heap, nonce)
        self.seen.add(nonce)
        if len(self.heap) > NONCE_KEPT:
            self.seen.discard(heapq.heappop(self.heap))
        return None


class _UserView:
    """What the subscribers of one address were last told: open orders by oid, newest fill
    ``tid``, newest funding ``time`` (ms); pushes are the difference from the current state."""

    __slots__ = ("open", "last_tid", "last_funding_ms")

    def __init__(self, open_orders: dict[int, dict[str, Any]], last_tid: int, last_funding_ms: int) -> None:
        self.open = open_orders
        self.last_tid = last_tid
        self.last_funding_ms = last_funding_ms


class HyperliquidRoutes:
    """The Hyperliquid protocol of ``server`` (see the module docstring): ``/info``,
    ``/exchange`` and ``/ws``, with the per-signer nonce windows, the scheduled cancels and
    what each watched user's subscribers were last told.

    ``clock_ms`` (integer ms UTC) is the clock nonces and ``expiresAfter`` are checked
    against; the signing source follows ``server.is_mainnet``. Subscription kinds it owns:
    ``allMids``, ``activeAssetCtx``, ``l2Book``, ``trades`` and the user kinds
    (``orderUpdates``, ``userFills``, ``userFundings``, ``userEvents``). Event loop thread only.
    """

    kinds: tuple[str, ...] = ("allMids", "activeAssetCtx", "l2Book", "trades", *_USER_CHANNELS)
    """Subscription key kinds (``key[0]``) this protocol owns."""

    def __init__(self, server: SimulatorServer, clock_ms: Callable[[], int]) -> None:
        self._server = server
        self._model = server.model
        self._exchange = server.exchange
        self._clock_ms = clock_ms
        self._nonces: dict[str, _NonceWindow] = {}
        self._views: dict[str, _UserView] = {}
        self._dead_man: dict[str, int] = {}
        self._phase = push_phases(self._model.coins)
        self._meta_bytes = _dumps(self._model.meta_wire())
        self._spot_meta_bytes = _dumps(self._exchange.spot_meta_wire())
        self._prev = 0.0
        self._cur = 0.0
        self._trades: dict[str, list[dict[str, Any]]] = {}

    def mount(self, router: web.UrlDispatcher) -> None:
        """Add ``POST /info``, ``POST /exchange`` and ``GET /ws`` to ``router``."""
        router.add_post("/info", self._handle_info)
        router.add_post("/exchange", self._handle_exchange)
        router.add_get("/ws", self._handle_ws)

    # -- ticks ----------------------------------------------------------------------------

    def tick_exchange(self) -> None:
        """Advance the exchange to the model's clock (hourly funding, scheduled cancels,
        resting maker fills, liquidations) and push what changed for watched users."""
        now = self._model.now_ms
        fired = {a for a, t in self._dead_man.items() if t <= now}
        for address in fired:
            del self._dead_man[address]
        self._exchange.tick(now)
        for address in list(self._views):
            self._publish_user(address, reason="scheduledCancel" if address in fired else None)

    def first_scheduled_cancel(self, now_ms: int, until_ms: int) -> int:
        """The earliest ``scheduleCancel`` time (sim ms) strictly between ``now_ms`` and
        ``until_ms``, else ``until_ms``: where a lockstep advance must cut its step."""
        for when in self._dead_man.values():
            if now_ms < when < until_ms:
                until_ms = when
        return until_ms

    def begin_tick(self, prev: float, cur: float) -> None:
        """Start a push tick covering ``(prev, cur]`` (wall seconds since start): take the new
        public trades (every tick, subscribed or not, so none pile up)."""
        self._prev = prev
        self._cur = cur
        self._trades = self._model.drain_trades()

    def push(self, key: SubKey, clients: set[Client]) -> None:
        """Push what is due on ``key`` this tick to ``clients`` (user kinds are pushed as
        changes happen, not here)."""
        kind = key[0]
        prev, cur = self._prev, self._cur
        if kind == "activeAssetCtx":
            period = 1.0 / self._server.push_hz
            if due(prev, cur, self._phase[key[1]] * period, period):
                self._server.broadcast(clients, self._ctx_frame(key[1]))
        elif kind == "l2Book":
            period = 1.0 / self._server.book_hz
            if due(prev, cur, self._phase[key[1]] * period, period):
                self._server.broadcast(clients, self._book_frame(key[1], key[2]))
        elif kind == "trades":
            new = self._trades.get(key[1])
            if new:
                self._server.broadcast(clients, _dumps({"channel": "trades", "data": new}))
        elif kind == "allMids":
            if due(prev, cur, 0.0, 1.0 / self._server.push_hz):
                self._server.broadcast(clients, self._mids_frame())

    def released(self, key: SubKey) -> None:
        """``key`` lost its last subscriber: stop generating its trades, or stop tracking its
        user once none of the user kinds is subscribed for it."""
        if key[0] == "trades":
            self._model.watch_trades(key[1], enabled=False)
        elif key[0] in _USER_CHANNELS and not any(self._server.subscribers((kind, key[1])) for kind in _USER_CHANNELS):
            self._views.pop(key[1], None)

    # -- frames ---------------------------------------------------------------------------

    def _ctx_frame(self, coin: str) -> bytes:
        ctx = self._model.ctx_wire(coin)
        return _dumps({"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": ctx}})

    def _book_frame(self, coin: str, n_sig_figs: int | None) -> bytes:
        book = self._model.l2_book_wire(coin, 20, n_sig_figs)
        return _dumps({"channel": "l2Book", "data": book})

    def _mids_frame(self) -> bytes:
        return _dumps({"channel": "allMids", "data": {"mids": self._all_mids()}})

    def _all_mids(self) -> dict[str, str]:
        """``allMids``: perp mids, then spot mids keyed ``"PURR/USDC"`` / ``"@{index}"``."""
        mids = dict(self._model.all_mids_wire())
        mids.update(self._exchange.spot_mids_wire())
        return mids

    # -- WebSocket ------------------------------------------------------------------------

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False, autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        client = Client(ws, request.transport, request.remote or "?")
        log.debug("WebSocket connected: %s", client.peer)
        try:
            await self._server.serve_client(client, self._on_message, greeting=WELCOME_TEXT, on_binary=self._on_binary)
        finally:
            log.debug("WebSocket closed: %s", client.peer)
        return ws

    def _on_binary(self, client: Client) -> None:
        self._send_error(client, "Binary frames are not supported")

    def _on_message(self, client: Client, text: str) -> None:
        try:
            msg = _loads(text)
        except ValueError:
            self._send_error(client, f"Error parsing JSON into valid websocket request: {text[:200]}")
            return
        if not isinstance(msg, dict):
            self._send_error(client, f"Error parsing JSON into valid websocket request: {text[:200]}")
            return
        method = msg.get("method")
        if method == "ping":
            self._server.enqueue(client, _PONG)
        elif method in ("subscribe", "unsubscribe"):
            sub = msg.get("subscription")
            try:
                key = self._subscription_key(sub)
            except InfoRequestError as exc:
                self._send_error(client, str(exc))
                return
            sub = cast(dict[str, Any], sub)  # _subscription_key accepted it: an object
            if method == "subscribe":
                self._subscribe(client, key, sub)
            else:
                self._unsubscribe(client, key, sub)
        else:
            self._send_error(client, f"Unknown method: {str(method)[:100]}")

    def _send_error(self, client: Client, message: str) -> None:
        self._server.enqueue(client, _dumps({"channel": "error", "data": message}))

    def _subscription_key(self, sub: Any) -> SubKey:
        """Validate a subscription object and return its registry key."""
        text = json.dumps(sub, separators=(",", ":"))[:200]
        if not isinstance(sub, dict) or not isinstance(sub.get("type"), str):
            raise InfoRequestError(f"Invalid subscription {text}")
        kind = sub["type"]
        if kind == "allMids":
            return ("allMids",)
        if kind in ("activeAssetCtx", "trades", "l2Book"):
            coin = sub.get("coin")
            if not isinstance(coin, str):
                raise InfoRequestError(f"Invalid subscription {text}")
            try:
                self._model.market(coin)
            except UnknownCoinError:
                raise InfoRequestError(f"Invalid subscription {text}: unknown coin {coin}") from None
            if kind == "l2Book":
                sig = sub.get("nSigFigs")
                if sig is not None and (isinstance(sig, bool) or sig not in _L2_SIG_FIGS):
                    raise InfoRequestError(f"Invalid subscription {text}: nSigFigs must be 2-5 or null")
                return ("l2Book", coin, sig)
            return (kind, coin)
        if kind in _USER_CHANNELS:
            user = sub.get("user")
            if not isinstance(user, str) or not _ADDRESS_RE.match(user):
                raise InfoRequestError(f"Invalid subscription {text}")
            return (kind, user.lower())
        raise InfoRequestError(f"Invalid subscription {text}")

    def _ack(self, client: Client, method: str, sub: dict[str, Any]) -> None:
        frame = {"channel": "subscriptionResponse", "data": {"method": method, "subscription": sub}}
        self._server.enqueue(client, _dumps(frame))

    def _subscribe(self, client: Client, key: SubKey, sub: dict[str, Any]) -> None:
        server = self._server
        if not server.subscribe(client, key, sub):
            self._send_error(client, f"Already subscribed: {json.dumps(sub, separators=(',', ':'))}")
            return
        if key[0] == "trades" and len(server.subscribers(key)) == 1:
            self._model.watch_trades(key[1])
        self._ack(client, "subscribe", sub)
        # The current state goes to the new subscriber first, as on the venue.
        kind = key[0]
        if kind == "activeAssetCtx":
            server.enqueue(client, self._ctx_frame(key[1]))
        elif kind == "l2Book":
            server.enqueue(client, self._book_frame(key[1], key[2]))
        elif kind == "allMids":
            server.enqueue(client, self._mids_frame())
        elif kind in _USER_CHANNELS:
            self._watch(key[1])
            self._user_snapshot(client, kind, key[1])
        elif kind == "trades":
            recent = list(reversed(self._model.market(key[1]).recent_trades))[:50]
            if recent:
                recent.reverse()
                server.enqueue(client, _dumps({"channel": "trades", "data": recent}))

    def _unsubscribe(self, client: Client, key: SubKey, sub: dict[str, Any]) -> None:
        if key not in client.subs:
            self._send_error(client, f"Already unsubscribed: {json.dumps(sub, separators=(',', ':'))}")
            return
        self._server.unsubscribe(client, key)
        self._ack(client, "unsubscribe", sub)

    # -- /info ----------------------------------------------------------------------------

    async def _handle_info(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        if isinstance(body, web.Response):
            return body
        await self._server.wait_advance()
        try:
            payload = self.info(body)
        except InfoRequestError as exc:
            return unprocessable(str(exc))
        return web.Response(body=payload, content_type="application/json")

    def info(self, body: Any) -> bytes:
        """Answer one ``/info`` request body with the JSON bytes the venue would send.

        Raises :class:`InfoRequestError` (HTTP 422) for a body that is not an object with a
        known ``type`` or whose fields have the wrong types (``user`` must be ``0x`` + 40 hex
        digits, any case). Unknown coins answer ``null`` for
        ``l2Book`` and 422 for ``fundingHistory`` / ``recentTrades``.
        """
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            raise InfoRequestError("Failed to deserialize the JSON body into the target type: missing field `type`")
        kind = body["type"]
        model = self._model
        if kind == "meta":
            return self._meta_bytes
        if kind == "metaAndAssetCtxs":
            return _dumps(model.meta_and_asset_ctxs_wire())
        if kind == "allMids":
            return _dumps(self._all_mids())
        if kind == "spotMeta":
            return self._spot_meta_bytes
        if kind == "spotMetaAndAssetCtxs":
            return _dumps(self._exchange.spot_meta_and_asset_ctxs_wire())
        if kind == "predictedFundings":
            return _dumps(model.predicted_fundings_wire())
        if kind == "l2Book":
            coin = _field(body, "coin", str)
            sig = body.get("nSigFigs")
            if sig is not None and (isinstance(sig, bool) or sig not in _L2_SIG_FIGS):
                raise InfoRequestError(
                    "Failed to deserialize the JSON body into the target type: nSigFigs must be 2, 3, 4, 5 or null"
                )
            if self._exchange.spot_pair(coin) is not None:
                return _dumps(self._exchange.spot_book_wire(coin))
            try:
                return _dumps(model.l2_book_wire(coin, 20, sig))
            except UnknownCoinError:
                return b"null"
        if kind == "fundingHistory":
            coin = _field(body, "coin", str)
            start = _field(body, "startTime", int)
            end = body.get("endTime")
            if end is not None and (isinstance(end, bool) or not isinstance(end, int)):
                raise InfoRequestError(
                    "Failed to deserialize the JSON body into the target type: endTime: invalid type"
                )
            try:
                return _dumps(model.funding_history_wire(coin, start, end))
            except UnknownCoinError:
                raise InfoRequestError(f"unknown coin {coin}") from None
        if kind == "recentTrades":
            coin = _field(body, "coin", str)
            try:
                return _dumps(model.recent_trades_wire(coin))
            except UnknownCoinError:
                raise InfoRequestError(f"unknown coin {coin}") from None
        if kind in _USER_INFO:
            return _dumps(self._user_info(kind, body))
        raise InfoRequestError(
            f"Failed to deserialize the JSON body into the target type: unknown variant `{kind[:64]}`"
        )

    def _user_info(self, kind: str, body: dict[str, Any]) -> Any:
        """Answer the ``/info`` user queries (``_USER_INFO``) as the venue's JSON values."""
        user = _field(body, "user", str)
        if not _ADDRESS_RE.match(user):
            raise InfoRequestError("Failed to deserialize the JSON body into the target type: user: invalid address")
        ex = self._exchange
        if kind == "clearinghouseState":
            return ex.clearinghouse_state(user)
        if kind == "spotClearinghouseState":
            return ex.spot_clearinghouse_state(user)
        if kind == "openOrders":
            return ex.open_orders(user)
        if kind == "frontendOpenOrders":
            return [_frontend_row(row) for row in ex.open_orders(user)]
        if kind == "userFills":
            return ex.user_fills(user)[:_SNAPSHOT_ROWS]
        start = _field(body, "startTime", int)
        end = body.get("endTime")
        if end is not None and (isinstance(end, bool) or not isinstance(end, int)):
            raise InfoRequestError("Failed to deserialize the JSON body into the target type: endTime: invalid type")
        return ex.user_funding(user, start, end)

    # -- /exchange ------------------------------------------------------------------------

    async def _handle_exchange(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        if isinstance(body, web.Response):
            return body
        await self._server.wait_advance()
        try:
            reply = self.exchange_request(body)
        except Exception:  # one bad request must not take the endpoint down
            log.exception("exchange request failed")
            reply = _refuse("Internal error")
        return web.Response(body=_dumps(reply), content_type="application/json")

    def exchange_request(self, body: Any) -> dict[str, Any]:
        """Verify and execute one ``/exchange`` body; return the venue's JSON reply object.

        ``{"status": "ok", "response": {...}}`` when the action was executed (order and cancel
        entries may still carry errors), ``{"status": "err", "response": "<message>"}`` when it
        was refused as a whole. Pushes the resulting user changes to subscribers."""
        if not isinstance(body, dict):
            return _refuse("Failed to deserialize the JSON body into the target type: expected an object")
        action = body.get("action")
        nonce = body.get("nonce")
        signature = body.get("signature")
        vault = body.get("vaultAddress")
        expires = body.get("expiresAfter")
        if not isinstance(action, dict) or not isinstance(action.get("type"), str):
            return _refuse("Failed to deserialize the JSON body into the target type: action: missing field `type`")
        if not _is_int(nonce) or nonce < 0:
            return _refuse("Failed to deserialize the JSON body into the target type: nonce: invalid type")
        if not isinstance(signature, dict):
            return _refuse("Failed to deserialize the JSON body into the target type: signature: invalid type")
        if expires is not None and (not _is_int(expires) or expires < 0):
            return _refuse("Failed to deserialize the JSON body into the target type: expiresAfter: invalid type")
        if vault is not None:
            return _refuse("Vault and sub-account actions are not supported by the simulator")
        kind = action["type"]
        run = self._ACTIONS.get(kind)
        if run is None:
            return _refuse(f"Unknown action type: {kind[:64]}")
        try:
            signer = recover_l1_signer(
                action,
                signature,
                nonce_ms=nonce,
                vault_address=None,
                expires_after_ms=expires,
                is_mainnet=self._server.is_mainnet,
            )
        except (TypeError, ValueError) as exc:
            return _refuse(f"Invalid signature: {exc}")
        except OverflowError:
            return _refuse("Invalid signature: the action holds an integer too large to hash")
        now = int(self._clock_ms())
        if expires is not None and expires < now:
            return _refuse(f"Action expired: expiresAfter {expires} is before the current time {now}")
        address = signer.lower()
        window = self._nonces.get(address)
        if window is None:
            window = self._nonces[address] = _NonceWindow()
        problem = window.admit(nonce, now)
        if problem is not None:
            return _refuse(problem)
        log.debug("exchange action %s by %s", kind, address)
        return run(self, address, action)

    def _act_order(self, address: str, action: dict[str, Any]) -> dict[str, Any]:
        orders = action.get("orders")
        grouping = action.get("grouping", "na")
        if not isinstance(orders, list) or not orders or not all(isinstance(o, dict) for o in orders):
            return _refuse("Failed to deserialize the JSON body into the target type: orders: invalid type")
        if grouping != "na":
            return _refuse(f"Order grouping {str(grouping)[:32]} is not supported by the simulator")
        statuses = self._exchange.place_orders(address, orders, self._model.now_ms)
        placed: dict[int, dict[str, Any]] = {}
        for wire, status in zip(orders, statuses, strict=False):
            done = status.get("filled") or status.get("resting")
            if done is not None:
                placed[done["oid"]] = wire
        self._publish_user(address, placed=placed)
        return _accept("order", {"statuses": statuses})

    def _act_cancel(self, address: str, action: dict[str, Any]) -> dict[str, Any]:
        cancels = action.get("cancels")
        if (
            not isinstance(cancels, list)
            or not cancels
            or not all(isinstance(c, dict) and _is_int(c.get("a")) and _is_int(c.get("o")) for c in cancels)
        ):
            return _refuse("Failed to deserialize the JSON body into the target type: cancels: invalid type")
        statuses = [self._exchange.cancel(address, c["a"], c["o"]) for c in cancels]
        self._publish_user(address)
        return _accept("cancel", {"statuses": statuses})

    def _act_cancel_by_cloid(self, address: str, action: dict[str, Any]) -> dict[str, Any]:
        cancels = action.get("cancels")
        if (
            not isinstance(cancels, list)
            or not cancels
            or not all(
                isinstance(c, dict) and _is_int(c.get("asset")) and isinstance(c.get("cloid"), str) for c in cancels
            )
        ):
            return _refuse("Failed to deserialize the JSON body into the target type: cancels: invalid type")
        statuses = [self._exchange.cancel_by_cloid(address, c["asset"], c["cloid"]) for c in cancels]
        self._publish_user(address)
        return _accept("cancel", {"statuses": statuses})

    def _act_update_leverage(self, address: str, action: dict[str, Any]) -> dict[str, Any]:
        asset, is_cross, leverage = action.get("asset"), action.get("isCross"), action.get("leverage")
        if not _is_int(asset) or not isinstance(is_cross, bool) or not _is_int(leverage):
            return _refuse("Failed to deserialize the JSON body into the target type: updateLeverage: invalid type")
        result = self._exchange.update_leverage(address, asset, is_cross, leverage)
        if result != "success":
            return _refuse(result["error"] if isinstance(result, dict) else str(result))
        return {"status": "ok", "response": {"type": "default"}}

    def _act_schedule_cancel(self, address: str, action: dict[str, Any]) -> dict[str, Any]:
        when = action.get("time")
        if when is not None and not _is_int(when):
            return _refuse("Failed to deserialize the JSON body into the target type: time: invalid type")
        result = self._exchange.schedule_cancel(address, when, self._model.now_ms)
        if result != "success":
            return _refuse(result["error"] if isinstance(result, dict) else str(result))
        if when is None:
            self._dead_man.pop(address, None)
        else:
            self._dead_man[address] = when
        return {"status": "ok", "response": {"type": "default"}}

    _ACTIONS: dict[str, Callable[[HyperliquidRoutes, str, dict[str, Any]], dict[str, Any]]] = {
        "order": _act_order,
        "cancel": _act_cancel,
        "cancelByCloid": _act_cancel_by_cloid,
        "updateLeverage": _act_update_leverage,
        "scheduleCancel": _act_schedule_cancel,
    }

    # -- user pushes ----------------------------------------------------------------------

    def _watch(self, address: str) -> None:
        """Start tracking ``address`` for pushes, from its current state."""
        if address in self._views:
            return
        ex = self._exchange
        fills = ex.user_fills(address)
        funding = ex.user_funding(address, 0)
        self._views[address] = _UserView(
            {row["oid"]: row for row in ex.open_orders(address)},
            fills[0]["tid"] if fills else -1,
            funding[-1]["time"] if funding else -1,
        )

    def _user_snapshot(self, client: Client, kind: str, address: str) -> None:
        ex = self._exchange
        if kind == "userFills":
            data = {"isSnapshot": True, "user": address, "fills": ex.user_fills(address)[:_SNAPSHOT_ROWS]}
            self._server.enqueue(client, _dumps({"channel": "userFills", "data": data}))
        elif kind == "userFundings":
            rows = [_funding_event(r) for r in ex.user_funding(address, 0)[-_SNAPSHOT_ROWS:]]
            data = {"isSnapshot": True, "user": address, "fundings": rows}
            self._server.enqueue(client, _dumps({"channel": "userFundings", "data": data}))

    def _publish_user(
        self,
        address: str,
        *,
        placed: dict[int, dict[str, Any]] | None = None,
        reason: str | None = None,
    ) -> None:
        """Push the changes of ``address`` since its subscribers were last told.

        ``placed`` maps the oids of orders placed just now to their wires (for orders that
        filled at once and never rested); ``reason`` is the status of orders that vanished
        without a fill (default ``canceled``, or ``reduceOnlyCanceled`` for reduce-only)."""
        view = self._views.get(address)
        if view is None:
            return
        ex = self._exchange
        now = self._model.now_ms
        open_now = {row["oid"]: row for row in ex.open_orders(address)}
        new_fills: list[dict[str, Any]] = []
        for fill in ex.user_fills(address):
            if fill["tid"] <= view.last_tid:
                break
            new_fills.append(fill)
        new_fills.reverse()
        fundings = ex.user_funding(address, view.last_funding_ms + 1)
        liquidated = [f for f in new_fills if "liquidation" in f]
        filled_oids = {f["oid"] for f in new_fills if "liquidation" not in f}

        updates: list[dict[str, Any]] = []
        for oid, row in view.open.items():
            if oid in open_now:
                continue
            if oid in filled_oids:
                updates.append(_order_update({**row, "sz": "0.0"}, "filled", now))
            elif liquidated:
                updates.append(_order_update(row, "liquidatedCanceled", now))
            elif reason is not None:
                updates.append(_order_update(row, reason, now))
            elif row.get("reduceOnly"):
                updates.append(_order_update(row, "reduceOnlyCanceled", now))
            else:
                updates.append(_order_update(row, "canceled", now))
        for oid, row in open_now.items():
            before = view.open.get(oid)
            if before is None or before["sz"] != row["sz"]:
                updates.append(_order_update(row, "open", now))
        for oid in sorted(filled_oids - view.open.keys() - open_now.keys()):
            updates.append(_order_update(_taken_order(oid, new_fills, (placed or {}).get(oid), now), "filled", now))

        view.open = open_now
        if new_fills:
            view.last_tid = new_fills[-1]["tid"]
        if fundings:
            view.last_funding_ms = fundings[-1]["time"]

        def push(kind: str, data: Any) -> None:
            clients = self._server.subscribers((kind, address))
            if clients:
                self._server.broadcast(clients, _dumps({"channel": _USER_CHANNELS[kind], "data": data}))

        if updates:
            push("orderUpdates", updates)
        if new_fills:
            push("userFills", {"user": address, "fills": new_fills})
            push("userEvents", {"fills": new_fills})
        if fundings:
            events = [_funding_event(r) for r in fundings]
            push("userFundings", {"user": address, "fundings": events})
            for event in events:
                push("userEvents", {"funding": event})
        if liquidated:
            state = ex.clearinghouse_state(address)
            push(
                "userEvents",
                {
                    "liquidation": {
                        "lid": liquidated[0]["tid"],
                        "liquidator": "0x" + "0" * 40,
                        "liquidated_user": address,
                        "liquidated_ntl_pos": _money(sum(float(f["px"]) * float(f["sz"]) for f in liquidated)),
                        "liquidated_account_value": state["marginSummary"]["accountValue"],
                    }
                },
            )


def _is_int(value: Any) -> TypeIs[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _refuse(message: str) -> dict[str, Any]:
    """``{"status": "err", "response": message}``: an action refused as a whole."""
    return {"status": "err", "response": message}


def _accept(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"status": "ok", "response": {"type": kind, "data": data}}


def _money(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".") if x else "0.0"


def _frontend_row(row: dict[str, Any]) -> dict[str, Any]:
    """A ``frontendOpenOrders`` row: the open-order row plus the venue's frontend fields."""
    out = dict(row)
    out.update(
        {
            "orderType": "Limit",
            "tif": None,
            "triggerPx": "0.0",
            "triggerCondition": "N/A",
            "isTrigger": False,
            "isPositionTpsl": False,
            "children": [],
        }
    )
    return out


def _order_update(row: dict[str, Any], status: str, now_ms: int) -> dict[str, Any]:
    """One ``orderUpdates`` entry from an open-order-shaped row (sim ms timestamps)."""
    order = {k: row[k] for k in ("coin", "side", "limitPx", "sz", "oid", "timestamp", "origSz")}
    if row.get("cloid") is not None:
        order["cloid"] = row["cloid"]
    return {"order": order, "status": status, "statusTimestamp": now_ms}


def _taken_order(oid: int, fills: list[dict[str, Any]], wire: dict[str, Any] | None, now_ms: int) -> dict[str, Any]:
    """The open-order-shaped row of an order that filled without resting, from its fills and,
    when known, its wire (``p`` limit price, ``s`` original size)."""
    mine = [f for f in fills if f["oid"] == oid]
    first = mine[0]
    total = sum(float(f["sz"]) for f in mine)
    row: dict[str, Any] = {
        "coin": first["coin"],
        "side": first["side"],
        "limitPx": str(wire["p"]) if wire is not None and "p" in wire else first["px"],
        "sz": "0.0",
        "oid": oid,
        "timestamp": first.get("time", now_ms),
        "origSz": str(wire["s"]) if wire is not None and "s" in wire else _money(total),
    }
    if first.get("cloid") is not None:
        row["cloid"] = first["cloid"]
    return row


def _funding_event(row: dict[str, Any]) -> dict[str, Any]:
    """A ``userFunding`` row as the WebSocket user channels carry it:
    ``{time, coin, usdc, szi, fundingRate, nSamples}``."""
    delta = row["delta"]
    return {
        "time": row["time"],
        "coin": delta["coin"],
        "usdc": delta["usdc"],
        "szi": delta["szi"],
        "fundingRate": delta["fundingRate"],
        "nSamples": delta["nSamples"],
    }


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        raise InfoRequestError(f"Failed to deserialize the JSON body into the target type: missing field `{name}`")
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InfoRequestError(f"Failed to deserialize the JSON body into the target type: {name}: invalid type")
    return value
