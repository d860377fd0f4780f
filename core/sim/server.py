"""The embedded Hyperliquid-compatible exchange: HTTP ``POST /info`` and WebSocket ``/ws``.

:class:`SimulatorServer` serves a :class:`~pfterm.core.sim.market.MarketModel` over aiohttp on a
loopback address only. A tick loop (``tick_hz`` times a wall second) advances the model by
``wall_dt × speed`` simulated seconds and pushes subscription frames. Push rates are wall-clock
rates, like the real venue, whatever the speed.

Wire behaviour (VENUES.md, Hyperliquid):

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

Trading (a :class:`~pfterm.core.sim.exchange.SimExchange` owned by the server; every tick steps the
model, then calls ``exchange.tick(model.now_ms)``):

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

Binance- and Bybit-compatible public market data, for the funding matrix (same app, same
port; a :class:`~pfterm.core.sim.cex.CexModel` derived from the model: prices correlated with the
Hyperliquid markets, each venue's own funding regime, 4 h / 8 h intervals, OI and
liquidations; everything on the simulated clock). Point ``pfterm.core.venues.binance.market`` /
``pfterm.core.venues.bybit.market`` at ``http_url`` / :attr:`SimulatorServer.binance_ws_url` /
:attr:`SimulatorServer.bybit_ws_url`:

* Binance REST: ``GET /fapi/v1/premiumIndex`` (every market; ``?symbol=`` one object),
  ``GET /fapi/v1/fundingInfo`` (only the 4 h markets), ``GET /fapi/v1/openInterest?symbol=``
  (base units). Unknown symbol → HTTP 400 ``{"code": -1121, "msg": "Invalid symbol."}``.
* Binance WebSocket: ``GET /market/stream?streams=!markPrice@arr@1s/!forceOrder@arr`` (also
  ``/stream``); exactly those two streams (anything else: HTTP 400), combined frames
  ``{"stream", "data"}``: the mark-price array once per wall second, one ``forceOrder`` object
  per message, at most one per symbol per (simulated) second, ``o.S`` = ``SELL`` for a
  liquidated long. ``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` are answered
  ``{"result", "id"}``. The server pings (``BINANCE_PING_S``); these connections need not
  send anything and are exempt from ``idle_timeout_s``.
* Binance USDⓈ-M trading (a :class:`~pfterm.core.sim.binance_futures.BinanceFuturesSim` over the
  CexModel's Binance venue; model, fees, margin and funding in its docstring). Accounts are
  API keys registered in process (``binance_credentials``, :meth:`SimulatorServer.register_binance_key`),
  each funded with USDT. Public: ``GET /fapi/v1/time`` (the *simulated* clock),
  ``GET /fapi/v1/ping``, ``GET /fapi/v1/exchangeInfo``. Signed (header ``X-MBX-APIKEY``,
  ``timestamp`` on the simulated clock, ``recvWindow``, ``signature`` = hex HMAC-SHA256 of
  the raw query string + raw form body): ``POST /fapi/v1/order``, ``POST /fapi/v1/batchOrders``
  (≤ 5), ``DELETE /fapi/v1/order``, ``DELETE /fapi/v1/allOpenOrders``, ``GET /fapi/v1/order``,
  ``GET /fapi/v1/openOrders``, ``GET /fapi/v2/account`` (also ``/fapi/v3/account``),
  ``GET /fapi/v3/positionRisk`` (``/fapi/v2/positionRisk``: the v2 shape), ``GET
  /fapi/v1/userTrades``, ``GET /fapi/v1/income``, ``POST /fapi/v1/leverage``, ``POST
  /fapi/v1/countdownCancelAll``, ``GET /fapi/v1/positionSide/dual`` (always one-way),
  ``GET /fapi/v1/leverageBracket`` (one bracket per symbol).
  Refusals answer HTTP 400 (401 for API-key errors) ``{"code", "msg"}`` with Binance's codes.
  The model is ticked after every model step (with the exchange) and before every signed
  request; :meth:`SimulatorServer.advance` also cuts its steps at ``countdownCancelAll``
  deadlines.
* Bybit REST: ``GET /v5/market/tickers?category=linear[&symbol=]`` → ``{retCode: 0, retMsg,
  result: {category, list}, retExtInfo, time}``, all fields strings, ``openInterest``
  two-sided and ``singleOpenInterest`` one side, ``fundingIntervalHour``; a wrong category or
  symbol answers HTTP 200 with ``retCode`` 10001.
* Bybit WebSocket: ``GET /v5/public/linear``: ``{"op": "subscribe" | "unsubscribe", "args",
  "req_id"?}`` → ``{success, ret_msg, conn_id, req_id, op}`` (topics that do not exist are
  refused with ``success: false`` and a ``ret_msg``; the valid topics of the same request are
  still subscribed); ``{"op": "ping"}`` → ``{"success": true, "ret_msg": "pong", "conn_id",
  "req_id", "op": "ping"}`` (the public-stream pong of the Bybit docs). ``tickers.{symbol}``:
  a ``snapshot`` then ``delta`` messages with only the changed fields, at most
  ``BYBIT_TICKER_HZ`` (10) per symbol per wall second; ``allLiquidation.{symbol}``: arrays of
  ``{T, s, S, v, p}``, ``S`` the liquidated position's side (``Buy`` = a long).

Lockstep clock (simulator control, **not part of the Hyperliquid protocol**): a client that
drives the simulated clock itself (deterministic accelerated sessions) builds the server with
``lockstep=True`` (``python -m pfterm.core.sim --lockstep``). The speed is then 0 and the tick loop no
longer steps the model nor ticks the exchange (it only pushes frames); time moves only through
:meth:`SimulatorServer.advance`, in process, or over the wire with ``POST /sim/advance
{"seconds": N, "step_s": S}`` → ``{"now_ms": <sim ms after the advance>}`` (``step_s``
optional, default 60; bad fields answer 422). Without ``lockstep`` that route does not exist
(404). HTTP requests that arrive during an advance are answered after it. Same seed, same
snapshot and start, and the same sequence of requests and advances give byte-identical
``/info`` answers (nonces are still checked against the wall clock, but never appear in
answers).

Every frame is serialised once and shared by all its subscribers; each connection has its own
bounded send queue drained by its own task, and a client whose queue backs up is disconnected
instead of slowing anyone else.
"""

from __future__ import annotations

import asyncio
import heapq
import ipaddress
import json
import logging
import math
import re
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import orjson
from aiohttp import WSMsgType, web

from pfterm.core.sim.binance_futures import (
    BinanceApiError,
    BinanceFuturesSim,
    FuturesAccount,
    WireParams,
)
from pfterm.core.sim.cex import BINANCE, BYBIT, CexLiquidation, CexModel
from pfterm.core.sim.exchange import MAKER_FEE, TAKER_FEE, SimExchange
from pfterm.core.sim.market import HOUR_MS, MarketModel, UnknownCoinError
from pfterm.core.sim.snapshot import load_snapshot
from pfterm.core.venues.hyperliquid.signing import recover_l1_signer

_dumps: Callable[[Any], bytes] = orjson.dumps
_loads: Callable[[str | bytes], Any] = orjson.loads

log = logging.getLogger(__name__)

_T = TypeVar("_T")

WELCOME_TEXT = "Websocket connection established."
"""First frame of every WebSocket connection (verbatim from the venue)."""

_GOLDEN = 0.6180339887498949
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
ADVANCE_SEGMENT_S = 60.0
"""Longest model segment (sim seconds) :meth:`SimulatorServer.advance` steps the model by."""
ADVANCE_MAX_S = 366.0 * 86_400.0
"""Longest single ``advance`` (sim seconds); a guard against a typo hanging the server."""
_ADVANCE_YIELD_S = 0.02
"""Wall seconds an advance runs before it lets the event loop serve pushes and pings."""
_BN_MARK = "!markPrice@arr@1s"
_BN_FORCE = "!forceOrder@arr"
_BINANCE_STREAMS = (_BN_MARK, _BN_FORCE)
"""The Binance combined-stream names the simulator serves."""
BINANCE_PING_S = 60.0
"""Protocol ping period (wall s) on Binance-style connections; no pong in half of it closes
them (the real venue pings every 3 minutes)."""
BYBIT_TICKER_HZ = 10.0
"""Most ``tickers.{symbol}`` pushes per wall second per symbol (the venue pushes every 100 ms)."""
_BN_BAD_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}
_BN_NO_SYMBOL = {
    "code": -1102,
    "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
}


_BN_SIGNED_ROUTES: tuple[tuple[str, str, Callable[[BinanceFuturesSim, FuturesAccount, WireParams, int], Any]], ...] = (
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


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and any loopback IP (``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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


class _Client:
    """One WebSocket connection: its subscriptions and its bounded outgoing frame queue."""

    __slots__ = (
        "ws",
        "transport",
        "subs",
        "queue",
        "queued_bytes",
        "wake",
        "last_recv",
        "closing",
        "peer",
        "idle_exempt",
        "conn_id",
    )

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None, peer: str) -> None:
        self.ws = ws
        self.transport = transport
        self.peer = peer
        self.subs: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.wake = asyncio.Event()
        self.last_recv = time.monotonic()
        self.closing = False
        self.idle_exempt = False
        self.conn_id = ""


class SimulatorServer:
    """A local exchange speaking Hyperliquid's market-data protocol over HTTP and WebSocket.

    Pass a ready ``model`` or let the server build one from ``snapshot`` (default: the packaged
    seed), ``seed``, ``start_ms`` (sim start, ms UTC; default: wall clock now) and
    ``cascade_rate_per_hour``. ``host`` must be a loopback address (``ValueError`` otherwise);
    ``port=0`` picks a free port. ``speed`` is simulated seconds per wall second (settable while
    running, 0 freezes the clock). ``push_hz`` is the per-coin ``activeAssetCtx`` rate and the
    ``allMids`` rate, ``book_hz`` the per-book ``l2Book`` rate (wall clock). ``idle_timeout_s``
    closes silent connections. A connection with more than ``max_queued_frames`` frames or
    ``max_queued_bytes`` bytes waiting is dropped as too slow.

    Trading: ``maker_fee`` / ``taker_fee`` (fractions of notional) and ``starting_usdc`` (USD
    credited to an account on first use) configure the owned :class:`SimExchange`;
    ``is_mainnet`` selects the signing source the server verifies (``"a"`` when ``True``);
    ``clock_ms`` (returns integer ms UTC, default the wall clock) is the clock nonces and
    ``expiresAfter`` are checked against.

    ``regime`` / ``regime_flip_at_ms`` select the model's funding regime when the server builds
    the model (see :class:`MarketModel`). ``lockstep=True`` forces ``speed`` to 0 for good: the
    simulated clock moves only through :meth:`advance` (and ``POST /sim/advance``, served only
    in this mode), and the tick loop neither steps the model nor ticks the exchange, so the
    state depends only on requests and advances (see the module docstring).

    ``binance_credentials``: ``(api key, secret)`` pairs of Binance USDⓈ-M accounts, each
    funded with ``starting_usdc`` USDT at construction (more with
    :meth:`register_binance_key`). ``cex_venues``: the CEX-like venues simulated beside it
    (:class:`~pfterm.core.sim.cex.CexModel`; default Binance and Bybit); one left out lists no markets.

    After ``await start()``: ``port``, ``http_url`` (``http://127.0.0.1:PORT``) and ``ws_url``
    (``ws://127.0.0.1:PORT/ws``) are set. Usable as ``async with``.
    """

    def __init__(
        self,
        model: MarketModel | None = None,
        *,
        seed: int = 1,
        start_ms: int | None = None,
        cascade_rate_per_hour: float = 2.5,
        snapshot: list[Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        push_hz: float = 2.0,
        book_hz: float = 2.0,
        tick_hz: float = 10.0,
        idle_timeout_s: float = 60.0,
        max_queued_frames: int = 5_000,
        max_queued_bytes: int = 16 * 1024 * 1024,
        maker_fee: float = MAKER_FEE,
        taker_fee: float = TAKER_FEE,
        starting_usdc: float = 100_000.0,
        is_mainnet: bool = True,
        clock_ms: Callable[[], int] | None = None,
        regime: str = "natural",
        regime_flip_at_ms: int | None = None,
        lockstep: bool = False,
        binance_credentials: Sequence[tuple[str, str]] = (),
        cex_venues: Sequence[str] | None = None,
    ) -> None:
        if not is_loopback_host(host):
            raise ValueError(f"refusing to bind non-loopback host {host!r}: the simulator is local only")
        for name, value in (("push_hz", push_hz), ("book_hz", book_hz), ("tick_hz", tick_hz)):
            if not value > 0 or not math.isfinite(value):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not idle_timeout_s > 0:
            raise ValueError("idle_timeout_s must be positive")
        if model is None:
            model = MarketModel(
                snapshot if snapshot is not None else load_snapshot(),
                seed=seed,
                start_ms=int(time.time() * 1000) if start_ms is None else int(start_ms),
                cascade_rate_per_hour=cascade_rate_per_hour,
                regime=regime,
                regime_flip_at_ms=regime_flip_at_ms,
            )
        self.lockstep = bool(lockstep)
        """True when only :meth:`advance` moves the simulated clock (``/sim/advance`` served)."""
        self._advance_lock = asyncio.Lock()
        self._model = model
        self._exchange = SimExchange(model, maker_fee=maker_fee, taker_fee=taker_fee, starting_usdc=starting_usdc)
        self.is_mainnet = bool(is_mainnet)
        self._clock_ms: Callable[[], int] = clock_ms if clock_ms is not None else _wall_clock_ms
        self._nonces: dict[str, _NonceWindow] = {}
        self._views: dict[str, _UserView] = {}
        self._dead_man: dict[str, int] = {}
        self._host = "127.0.0.1" if host == "localhost" else host.strip("[]")
        self._requested_port = int(port)
        self.speed = 0.0 if self.lockstep else speed
        self.push_hz = float(push_hz)
        self.book_hz = float(book_hz)
        self.tick_hz = float(tick_hz)
        self.idle_timeout_s = float(idle_timeout_s)
        self.max_queued_frames = int(max_queued_frames)
        self.max_queued_bytes = int(max_queued_bytes)

        self.port: int | None = None
        self.http_url: str | None = None
        self.ws_url: str | None = None
        self.frames_sent = 0
        """WebSocket frames handed to connections since start (pushes, acks and replies)."""

        self._clients: set[_Client] = set()
        self._subs: dict[tuple[Any, ...], set[_Client]] = {}
        self._phase: dict[str, float] = {coin: (i * _GOLDEN) % 1.0 for i, coin in enumerate(model.coins)}
        self._meta_bytes = _dumps(model.meta_wire())
        self._cex = CexModel(model, venues=cex_venues)
        self._starting_usdc = float(starting_usdc)
        self._binance = BinanceFuturesSim(self._cex)
        for api_key, secret in binance_credentials:
            self.register_binance_key(api_key, secret)
        self._bybit_sent: dict[str, dict[str, str]] = {}
        self._bybit_cs = 0
        self._conn_seq = 0
        self._bybit_phase: dict[str, float] = {
            native: (i * _GOLDEN) % 1.0 for i, native in enumerate(self._cex.markets[BYBIT.name])
        }
        self._spot_meta_bytes = _dumps(self._exchange.spot_meta_wire())
        self._runner: web.AppRunner | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._t0 = 0.0
        self._last_tick = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- properties -----------------------------------------------------------------------

    @property
    def model(self) -> MarketModel:
        """The market model being served (step it directly only while the server is stopped
        or from the event loop thread)."""
        return self._model

    @property
    def cex(self) -> CexModel:
        """The Binance- and Bybit-like venues derived from :attr:`model` (event loop thread only)."""
        return self._cex

    @property
    def binance(self) -> BinanceFuturesSim:
        """The Binance USDⓈ-M accounts and matching behind ``/fapi`` trading (event loop
        thread only)."""
        return self._binance

    def register_binance_key(self, api_key: str, secret: str, usdt: float | None = None) -> None:
        """Create a Binance USDⓈ-M account for ``api_key`` / ``secret`` with a fresh wallet of
        ``usdt`` USDT (default ``starting_usdc``). ``ValueError`` for a key already
        registered or an empty key / secret."""
        self._binance.register(api_key, secret, self._starting_usdc if usdt is None else float(usdt))

    @property
    def binance_ws_url(self) -> str | None:
        """``ws://…/market/stream?streams=!markPrice@arr@1s/!forceOrder@arr`` once started."""
        if self.http_url is None:
            return None
        return "ws" + self.http_url[4:] + "/market/stream?streams=" + "/".join(_BINANCE_STREAMS)

    @property
    def bybit_ws_url(self) -> str | None:
        """``ws://…/v5/public/linear`` once started."""
        return None if self.http_url is None else "ws" + self.http_url[4:] + "/v5/public/linear"

    @property
    def exchange(self) -> SimExchange:
        """The accounts and matching engine behind ``/exchange`` (event loop thread only)."""
        return self._exchange

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second (≥ 0)."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if not value >= 0 or not math.isfinite(value):
            raise ValueError(f"speed must be a finite number >= 0, got {value!r}")
        if value and getattr(self, "lockstep", False):
            raise ValueError("a lockstep simulator runs at speed 0: use advance()")
        self._speed = float(value)

    @property
    def connection_count(self) -> int:
        """Open WebSocket connections."""
        return len(self._clients)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind, start serving and start the tick loop; sets ``port``, ``http_url``, ``ws_url``."""
        if self._runner is not None:
            raise RuntimeError("server already started")
        app = web.Application()
        app.router.add_post("/info", self._handle_info)
        app.router.add_post("/exchange", self._handle_exchange)
        app.router.add_get("/ws", self._handle_ws)
        if self.lockstep:
            app.router.add_post("/sim/advance", self._handle_advance)
        app.router.add_get("/fapi/v1/premiumIndex", self._handle_bn_premium_index)
        app.router.add_get("/fapi/v1/fundingInfo", self._handle_bn_funding_info)
        app.router.add_get("/fapi/v1/openInterest", self._handle_bn_open_interest)
        app.router.add_get("/fapi/v1/time", self._handle_bn_time)
        app.router.add_get("/fapi/v1/ping", self._handle_bn_ping)
        app.router.add_get("/fapi/v1/exchangeInfo", self._handle_bn_exchange_info)
        for method, path, endpoint in _BN_SIGNED_ROUTES:
            app.router.add_route(method, path, self._bn_signed_handler(endpoint))
        app.router.add_get("/market/stream", self._handle_bn_ws)
        app.router.add_get("/stream", self._handle_bn_ws)
        app.router.add_get("/v5/market/tickers", self._handle_by_tickers)
        app.router.add_get("/v5/public/linear", self._handle_by_ws)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._requested_port))
            sock.setblocking(False)
            site = web.SockSite(runner, sock)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = sock.getsockname()[1]
        netloc = f"[{self._host}]:{self.port}" if family == socket.AF_INET6 else f"{self._host}:{self.port}"
        self.http_url = f"http://{netloc}"
        self.ws_url = f"ws://{netloc}/ws"
        loop = asyncio.get_running_loop()
        self._t0 = self._last_tick = loop.time()
        self._tick_task = asyncio.create_task(self._tick_loop(), name="sim-tick")
        log.info(
            "simulator listening on %s (speed %.3g, seed %s)",
            self.http_url,
            self.speed,
            self._model.seed,
        )

    async def stop(self) -> None:
        """Stop the tick loop, close every connection (code 1001) and release the socket."""
        if self._tick_task is not None:
            self._tick_task.cancel()
            try:
                await self._tick_task
            except asyncio.CancelledError:
                pass
            self._tick_task = None
        await self._close_all(code=1001, message=b"server stopping", abort=False)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._tasks):
            task.cancel()
        log.info("simulator stopped")

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def drop_connections(self, *, abort: bool = False) -> asyncio.Task[int]:
        """Close every WebSocket connection now (for reconnect tests).

        With ``abort`` the TCP connections are cut without a close handshake, like a network
        failure; otherwise each gets a close frame with code 1012 (service restart). The
        closing starts immediately; await the returned task to wait until all are closed.
        Its result is the number of connections dropped.
        """
        return self._background(self._close_all(code=1012, message=b"dropped", abort=abort))

    def _background(self, coro: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        """Run ``coro`` as a task the server keeps a reference to until it finishes."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _close_all(self, *, code: int, message: bytes, abort: bool) -> int:
        clients = list(self._clients)
        await asyncio.gather(
            *(self._close_client(c, code=code, message=message, abort=abort) for c in clients),
            return_exceptions=True,
        )
        return len(clients)

    async def _close_client(self, client: _Client, *, code: int, message: bytes, abort: bool = False) -> None:
        if client.closing:
            return
        client.closing = True
        self._forget(client)
        client.wake.set()
        if not abort:
            try:
                await asyncio.wait_for(client.ws.close(code=code, message=message), timeout=2.0)
                return
            except (TimeoutError, ConnectionError, RuntimeError):
                pass
        if client.transport is not None:
            client.transport.abort()

    def _forget(self, client: _Client) -> None:
        self._clients.discard(client)
        for key in list(client.subs):
            self._unsubscribe_key(client, key)

    # -- tick loop ------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.tick_hz
        next_at = loop.time() + period
        last_idle_check = loop.time()
        while True:
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            next_at += period
            if next_at < now:
                next_at = now + period
            try:
                self._tick(now)
                if now - last_idle_check >= min(1.0, self.idle_timeout_s / 4.0):
                    last_idle_check = now
                    self._check_idle()
            except Exception:  # a bug in one tick must not stop the exchange
                log.exception("simulator tick failed")

    def _tick(self, now: float) -> None:
        dt = now - self._last_tick
        prev = self._last_tick - self._t0
        cur = now - self._t0
        self._last_tick = now
        if not self.lockstep:
            if dt > 0 and self._speed > 0:
                self._model.step(dt * self._speed)
            self._tick_exchange()
            self._cex.sync()
            self._binance.tick(self._model.now_ms)
        trades = self._model.drain_trades()
        bn_liqs = self._cex.drain_liquidations(BINANCE.name)
        by_liqs = self._cex.drain_liquidations(BYBIT.name)
        if not self._subs:
            return
        by_liq_frames = self._bybit_liq_frames(by_liqs) if by_liqs else {}
        bn_mark_due = _due(prev, cur, 0.0, 1.0)
        by_period = 1.0 / BYBIT_TICKER_HZ
        ctx_period = 1.0 / self.push_hz
        book_period = 1.0 / self.book_hz
        for key, clients in list(self._subs.items()):
            if not clients:
                continue
            kind = key[0]
            if kind == "activeAssetCtx":
                if _due(prev, cur, self._phase[key[1]] * ctx_period, ctx_period):
                    self._broadcast(clients, self._ctx_frame(key[1]))
            elif kind == "l2Book":
                if _due(prev, cur, self._phase[key[1]] * book_period, book_period):
                    self._broadcast(clients, self._book_frame(key[1], key[2]))
            elif kind == "trades":
                new = trades.get(key[1])
                if new:
                    self._broadcast(clients, _dumps({"channel": "trades", "data": new}))
            elif kind == "allMids":
                if _due(prev, cur, 0.0, ctx_period):
                    self._broadcast(clients, self._mids_frame())
            elif kind == "bn":
                if key[1] == _BN_MARK:
                    if bn_mark_due:
                        self._broadcast(clients, self._bn_mark_frame())
                else:
                    for liq in bn_liqs:
                        self._broadcast(clients, self._bn_force_frame(liq))
            elif kind == "by.tickers":
                if _due(prev, cur, self._bybit_phase[key[1]] * by_period, by_period):
                    frame = self._bybit_delta_frame(key[1])
                    if frame is not None:
                        self._broadcast(clients, frame)
            elif kind == "by.liq":
                frame = by_liq_frames.get(key[1])
                if frame is not None:
                    self._broadcast(clients, frame)

    # -- lockstep clock --------------------------------------------------------------------

    async def advance(self, seconds: float, step_s: float = 60.0, *, max_segment_s: float = ADVANCE_SEGMENT_S) -> None:
        """Advance the simulated clock by ``seconds`` (sim seconds, ≥ 0) in steps of at most
        ``step_s`` (> 0), doing after every step what a tick does for the exchange
        (:meth:`_tick_exchange`: hourly funding settlement into accounts, dead man's switches,
        resting maker fills, liquidations, user pushes).

        Steps are integer sim milliseconds and are also cut at every top of the hour and at
        every scheduled-cancel time, so each hour is settled exactly once, at its boundary,
        with the oracle of that instant, and a ``scheduleCancel`` fires at its exact time.
        The model moves in segments of at most ``min(step_s, max_segment_s)`` (default
        :data:`ADVANCE_SEGMENT_S`, 60 s; see :meth:`MarketModel.step`), so the sequence of model
        segments depends only on the clock, ``seconds``, ``step_s`` and ``max_segment_s``:
        deterministic. About 0.4 ms of wall time per model
        segment (189 listed markets): 7 sim days at ``step_s=60`` take about 5 s.

        Coroutine-safe: concurrent calls run one after the other, and ``/info`` /
        ``/exchange`` requests arriving meanwhile are answered once the advance is over. The
        event loop is released every ~20 ms of wall time so WebSocket pushes keep flowing;
        what may happen then (WebSocket subscribe / unsubscribe) is the only thing that can
        interleave. Raises ``ValueError`` for a negative, non-finite or too long (> 366 days)
        ``seconds`` or a non-positive ``step_s``.
        """
        if not seconds >= 0 or not math.isfinite(seconds) or seconds > ADVANCE_MAX_S:
            raise ValueError(f"seconds must be a finite number in [0, {ADVANCE_MAX_S:.0f}], got {seconds!r}")
        if not step_s > 0 or not math.isfinite(step_s):
            raise ValueError(f"step_s must be a positive number, got {step_s!r}")
        if not max_segment_s > 0 or not math.isfinite(max_segment_s):
            raise ValueError(f"max_segment_s must be a positive number, got {max_segment_s!r}")
        step_ms = max(1, int(round(step_s * 1000.0)))
        segment_s = min(step_ms / 1000.0, max_segment_s)
        async with self._advance_lock:
            model = self._model
            end = model.now_ms + int(round(seconds * 1000.0))
            loop = asyncio.get_running_loop()
            released = loop.time()
            while model.now_ms < end:
                now = model.now_ms
                nxt = min(now + step_ms, end, (now // HOUR_MS + 1) * HOUR_MS)
                for when in self._dead_man.values():
                    if now < when < nxt:
                        nxt = when
                countdown = self._binance.next_deadline(now)
                if countdown is not None and countdown < nxt:
                    nxt = countdown
                model.step_to(nxt, max_segment_s=segment_s)
                self._tick_exchange()
                self._cex.sync()
                self._binance.tick(model.now_ms)
                if loop.time() - released >= _ADVANCE_YIELD_S:
                    await asyncio.sleep(0)
                    released = loop.time()

    async def _wait_advance(self) -> None:
        """Wait for a running :meth:`advance` to finish (requests see its end state)."""
        if self._advance_lock.locked():
            async with self._advance_lock:
                pass

    async def _handle_advance(self, request: web.Request) -> web.Response:
        """``POST /sim/advance {"seconds": N, "step_s": S?}`` → ``{"now_ms": ...}`` (lockstep
        only; a simulator control, not part of the Hyperliquid protocol)."""
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        if not isinstance(body, dict):
            return _unprocessable('expected an object {"seconds": N, "step_s": S}')
        seconds = body.get("seconds")
        step_s = body.get("step_s", 60.0)
        for name, value in (("seconds", seconds), ("step_s", step_s)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return _unprocessable(f"{name}: expected a number")
        try:
            await self.advance(float(seconds), float(step_s))
        except ValueError as exc:
            return _unprocessable(str(exc))
        return web.Response(body=_dumps({"now_ms": self._model.now_ms}), content_type="application/json")

    def _check_idle(self) -> None:
        limit = time.monotonic() - self.idle_timeout_s
        for client in list(self._clients):
            if client.last_recv < limit and not client.closing and not client.idle_exempt:
                log.info("closing idle WebSocket %s", client.peer)
                self._background(self._close_client(client, code=1000, message=b"idle timeout"))

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

    def _broadcast(self, clients: set[_Client], frame: bytes) -> None:
        for client in tuple(clients):
            self._enqueue(client, frame)

    def _enqueue(self, client: _Client, frame: bytes) -> None:
        if client.closing:
            return
        client.queue.append(frame)
        client.queued_bytes += len(frame)
        if len(client.queue) > self.max_queued_frames or client.queued_bytes > self.max_queued_bytes:
            log.warning(
                "dropping slow WebSocket %s (%d frames, %d bytes queued)",
                client.peer,
                len(client.queue),
                client.queued_bytes,
            )
            client.queue.clear()
            client.queued_bytes = 0
            self._background(self._close_client(client, code=1008, message=b"too slow", abort=True))
            return
        client.wake.set()

    async def _sender(self, client: _Client) -> None:
        ws = client.ws
        queue = client.queue
        while not client.closing:
            await client.wake.wait()
            client.wake.clear()
            while queue and not client.closing:
                frame = queue.popleft()
                client.queued_bytes -= len(frame)
                try:
                    await ws.send_frame(frame, WSMsgType.TEXT)
                except (ConnectionError, RuntimeError):
                    self._background(self._close_client(client, code=1011, message=b"", abort=True))
                    return
                self.frames_sent += 1

    # -- WebSocket ------------------------------------------------------------------------

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False, autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        client = _Client(ws, request.transport, request.remote or "?")
        self._clients.add(client)
        sender = self._background(self._sender(client))
        log.debug("WebSocket connected: %s", client.peer)
        try:
            await ws.send_str(WELCOME_TEXT)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    client.last_recv = time.monotonic()
                    self._on_message(client, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    client.last_recv = time.monotonic()
                    self._send_error(client, "Binary frames are not supported")
                elif msg.type == WSMsgType.ERROR:
                    break
        except ConnectionError:
            pass
        finally:
            client.closing = True
            self._forget(client)
            client.wake.set()
            sender.cancel()
            log.debug("WebSocket closed: %s", client.peer)
        return ws

    def _on_message(self, client: _Client, text: str) -> None:
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
            self._enqueue(client, _PONG)
        elif method in ("subscribe", "unsubscribe"):
            sub = msg.get("subscription")
            try:
                key = self._subscription_key(sub)
            except InfoRequestError as exc:
                self._send_error(client, str(exc))
                return
            if method == "subscribe":
                self._subscribe(client, key, sub)
            else:
                self._unsubscribe(client, key, sub)
        else:
            self._send_error(client, f"Unknown method: {str(method)[:100]}")

    def _send_error(self, client: _Client, message: str) -> None:
        self._enqueue(client, _dumps({"channel": "error", "data": message}))

    def _subscription_key(self, sub: Any) -> tuple[Any, ...]:
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

    def _ack(self, client: _Client, method: str, sub: dict[str, Any]) -> None:
        frame = {"channel": "subscriptionResponse", "data": {"method": method, "subscription": sub}}
        self._enqueue(client, _dumps(frame))

    def _subscribe(self, client: _Client, key: tuple[Any, ...], sub: dict[str, Any]) -> None:
        if key in client.subs:
            self._send_error(client, f"Already subscribed: {json.dumps(sub, separators=(',', ':'))}")
            return
        client.subs[key] = sub
        clients = self._subs.setdefault(key, set())
        clients.add(client)
        if key[0] == "trades" and len(clients) == 1:
            self._model.watch_trades(key[1])
        self._ack(client, "subscribe", sub)
        # The current state goes to the new subscriber first, as on the venue.
        kind = key[0]
        if kind == "activeAssetCtx":
            self._enqueue(client, self._ctx_frame(key[1]))
        elif kind == "l2Book":
            self._enqueue(client, self._book_frame(key[1], key[2]))
        elif kind == "allMids":
            self._enqueue(client, self._mids_frame())
        elif kind in _USER_CHANNELS:
            self._watch(key[1])
            self._user_snapshot(client, kind, key[1])
        elif kind == "trades":
            recent = list(reversed(self._model.market(key[1]).recent_trades))[:50]
            if recent:
                recent.reverse()
                self._enqueue(client, _dumps({"channel": "trades", "data": recent}))

    def _unsubscribe(self, client: _Client, key: tuple[Any, ...], sub: dict[str, Any]) -> None:
        if key not in client.subs:
            self._send_error(client, f"Already unsubscribed: {json.dumps(sub, separators=(',', ':'))}")
            return
        self._unsubscribe_key(client, key)
        self._ack(client, "unsubscribe", sub)

    def _unsubscribe_key(self, client: _Client, key: tuple[Any, ...]) -> None:
        client.subs.pop(key, None)
        clients = self._subs.get(key)
        if clients is None:
            return
        clients.discard(client)
        if not clients:
            del self._subs[key]
            if key[0] == "trades":
                self._model.watch_trades(key[1], enabled=False)
            elif key[0] in _USER_CHANNELS and not any((kind, key[1]) in self._subs for kind in _USER_CHANNELS):
                self._views.pop(key[1], None)

    # -- HTTP -----------------------------------------------------------------------------

    async def _handle_info(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        await self._wait_advance()
        try:
            payload = self.info(body)
        except InfoRequestError as exc:
            return _unprocessable(str(exc))
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

    # -- exchange -------------------------------------------------------------------------

    async def _handle_exchange(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        await self._wait_advance()
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
                is_mainnet=self.is_mainnet,
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

    _ACTIONS: dict[str, Callable[[SimulatorServer, str, dict[str, Any]], dict[str, Any]]] = {
        "order": _act_order,
        "cancel": _act_cancel,
        "cancelByCloid": _act_cancel_by_cloid,
        "updateLeverage": _act_update_leverage,
        "scheduleCancel": _act_schedule_cancel,
    }

    # -- Binance / Bybit public market data ------------------------------------------------

    async def _cex_ready(self) -> CexModel:
        """The CEX model synced to the model's clock, once a running advance is over."""
        await self._wait_advance()
        self._cex.sync()
        return self._cex

    async def _handle_bn_premium_index(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/premiumIndex[?symbol=]``: every market, or one object."""
        cex = await self._cex_ready()
        symbol = request.query.get("symbol")
        if symbol is None:
            return _json_response(cex.binance_premium_index_wire())
        item = cex.binance_premium_index_wire(symbol)
        return _json_response(_BN_BAD_SYMBOL, 400) if item is None else _json_response(item)

    async def _handle_bn_funding_info(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/fundingInfo``: only the markets with a non-default setting."""
        cex = await self._cex_ready()
        return _json_response(cex.binance_funding_info_wire())

    async def _handle_bn_open_interest(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/openInterest?symbol=``: one market's OI in base units."""
        cex = await self._cex_ready()
        symbol = request.query.get("symbol")
        if not symbol:
            return _json_response(_BN_NO_SYMBOL, 400)
        item = cex.binance_open_interest_wire(symbol)
        return _json_response(_BN_BAD_SYMBOL, 400) if item is None else _json_response(item)

    async def _handle_bn_time(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/time`` → ``{"serverTime": sim ms}`` (:meth:`_venue_clock_ms`)."""
        await self._wait_advance()
        return _json_response({"serverTime": self._venue_clock_ms()})

    def _venue_clock_ms(self) -> int:
        """The simulated time as a continuous clock, ms: the model's time plus what the running
        tick period has added at this speed (the model itself moves in jumps of speed × tick
        period). Binance's ``/fapi/v1/time`` and its timestamp checks read it, as a real venue's
        clock is continuous."""
        now = self._model.now_ms
        if not self.lockstep and self._speed > 0 and self._last_tick:
            now += int((asyncio.get_running_loop().time() - self._last_tick) * self._speed * 1000)
        return now

    async def _handle_bn_ping(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/ping`` → ``{}``."""
        return _json_response({})

    async def _handle_bn_exchange_info(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/exchangeInfo``: every Binance market with its filters."""
        await self._wait_advance()
        return _json_response(self._binance.exchange_info_wire(self._model.now_ms))

    def _bn_signed_handler(
        self, endpoint: Callable[[BinanceFuturesSim, FuturesAccount, WireParams, int], Any]
    ) -> Callable[[web.Request], Coroutine[Any, Any, web.Response]]:
        """An aiohttp handler answering one signed Binance endpoint: authenticate (raw query
        string + raw form body), bring the venue to the clock, run ``endpoint``."""

        async def handle(request: web.Request) -> web.Response:
            body = (await request.read()).decode("utf-8", errors="replace")
            await self._wait_advance()
            now = self._model.now_ms
            self._cex.sync()
            self._binance.tick(now)
            clock = self._venue_clock_ms()  # timestamps are checked against a continuous clock
            try:
                signed = self._binance.authenticate(
                    request.headers.get("X-MBX-APIKEY"), request.rel_url.raw_query_string, body, clock
                )
                result = endpoint(self._binance, signed.account, signed.params, now)
            except BinanceApiError as exc:
                return _json_response(exc.wire(), exc.status)
            return _json_response(result)

        return handle

    async def _handle_by_tickers(self, request: web.Request) -> web.Response:
        """``GET /v5/market/tickers?category=linear[&symbol=]`` (errors answer HTTP 200 with a
        non-zero ``retCode``, as Bybit does)."""
        cex = await self._cex_ready()
        category = request.query.get("category")
        if category != "linear":
            return _json_response(_bybit_error(10001, "Illegal category", cex.model.now_ms))
        body = cex.bybit_tickers_wire()
        symbol = request.query.get("symbol")
        if symbol is not None:
            items = [i for i in body["result"]["list"] if i["symbol"] == symbol]
            if not items:
                return _json_response(_bybit_error(10001, "Not supported symbols", cex.model.now_ms))
            body = {**body, "result": {"category": "linear", "list": items}}
        return _json_response(body)

    def _cex_subscribe(self, client: _Client, key: tuple[Any, ...]) -> bool:
        """Register ``client`` on ``key``; ``False`` if it already was."""
        if key in client.subs:
            return False
        client.subs[key] = {}
        self._subs.setdefault(key, set()).add(client)
        return True

    async def _serve_cex_ws(
        self, request: web.Request, ws: web.WebSocketResponse, client: _Client, on_text: Callable[[_Client, str], None]
    ) -> web.WebSocketResponse:
        self._clients.add(client)
        sender = self._background(self._sender(client))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    client.last_recv = time.monotonic()
                    on_text(client, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        except ConnectionError:
            pass
        finally:
            client.closing = True
            self._forget(client)
            client.wake.set()
            sender.cancel()
        return ws

    async def _handle_bn_ws(self, request: web.Request) -> web.StreamResponse:
        """``GET /market/stream?streams=a/b`` (also the legacy ``/stream``): Binance combined
        streams; only ``!markPrice@arr@1s`` and ``!forceOrder@arr`` exist here (anything else:
        HTTP 400). Frames are ``{"stream", "data"}``; the server pings, the client need not
        send anything (``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` are answered)."""
        streams = [s for s in request.query.get("streams", "").split("/") if s]
        bad = [s for s in streams if s not in _BINANCE_STREAMS]
        if not streams or bad:
            name = (bad or [""])[0][:64]
            return _json_response({"code": -1100, "msg": f"Invalid stream name: '{name}'"}, 400)
        ws = web.WebSocketResponse(compress=False, autoping=True, heartbeat=BINANCE_PING_S, max_msg_size=1 << 16)
        await ws.prepare(request)
        client = _Client(ws, request.transport, request.remote or "?")
        client.idle_exempt = True  # liveness: protocol pings (heartbeat), as on the venue
        for stream in streams:
            self._cex_subscribe(client, ("bn", stream))
        return await self._serve_cex_ws(request, ws, client, self._on_bn_message)

    def _on_bn_message(self, client: _Client, text: str) -> None:
        try:
            msg = _loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            self._enqueue(client, _dumps({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None}))
            return
        req_id = msg.get("id")
        method = msg.get("method")
        params = msg.get("params", [])
        if method == "LIST_SUBSCRIPTIONS":
            names = [key[1] for key in client.subs if key[0] == "bn"]
            self._enqueue(client, _dumps({"result": names, "id": req_id}))
            return
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            self._enqueue(client, _dumps({"error": {"code": 2, "msg": "Invalid request"}, "id": req_id}))
            return
        if not all(isinstance(p, str) and p in _BINANCE_STREAMS for p in params):
            self._enqueue(
                client, _dumps({"error": {"code": 2, "msg": "Invalid request: unknown stream"}, "id": req_id})
            )
            return
        for name in params:
            if method == "SUBSCRIBE":
                self._cex_subscribe(client, ("bn", name))
            else:
                self._unsubscribe_key(client, ("bn", name))
        self._enqueue(client, _dumps({"result": None, "id": req_id}))

    def _bn_mark_frame(self) -> bytes:
        return _dumps({"stream": _BN_MARK, "data": self._cex.binance_mark_price_wire()})

    def _bn_force_frame(self, liq: CexLiquidation) -> bytes:
        data = CexModel.binance_force_order_wire(liq, max(liq.time_ms, self._model.now_ms))
        return _dumps({"stream": _BN_FORCE, "data": data})

    async def _handle_by_ws(self, request: web.Request) -> web.StreamResponse:
        """``GET /v5/public/linear``: Bybit v5 public linear stream (see the module docstring)."""
        ws = web.WebSocketResponse(compress=False, autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        client = _Client(ws, request.transport, request.remote or "?")
        self._conn_seq += 1
        client.conn_id = f"sim-{self._model.seed}-{self._conn_seq}"
        return await self._serve_cex_ws(request, ws, client, self._on_by_message)

    def _by_reply(self, client: _Client, op: str, req_id: Any, success: bool, ret_msg: str) -> None:
        reply = {"success": success, "ret_msg": ret_msg, "conn_id": client.conn_id, "req_id": req_id, "op": op}
        self._enqueue(client, _dumps(reply))

    def _bybit_topic_key(self, topic: Any) -> tuple[tuple[str, str] | None, str]:
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
        if self._cex.market(BYBIT.name, native) is None:
            return None, f"Invalid symbol :[{topic[:64]}]"
        return key, ""

    def _on_by_message(self, client: _Client, text: str) -> None:
        try:
            msg = _loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            self._by_reply(client, "", "", False, "error:request not a JSON object")
            return
        op = msg.get("op")
        req_id = msg.get("req_id", "")
        if op == "ping":
            self._by_reply(client, "ping", req_id, True, "pong")
            return
        if op not in ("subscribe", "unsubscribe"):
            self._by_reply(client, str(op)[:32], req_id, False, f"error:unsupported op {str(op)[:32]}")
            return
        args = msg.get("args")
        if not isinstance(args, list) or not args:
            self._by_reply(client, op, req_id, False, "error:args must be a non-empty array")
            return
        errors: list[str] = []
        snapshots: list[str] = []
        for topic in args:
            key, error = self._bybit_topic_key(topic)
            if key is None:
                errors.append(error)
            elif op == "subscribe":
                if not self._cex_subscribe(client, key):
                    errors.append(f"error:already subscribed,topic:{topic}")
                elif key[0] == "by.tickers":
                    snapshots.append(key[1])
            elif key not in client.subs:
                errors.append(f"error:not subscribed,topic:{topic}")
            else:
                self._unsubscribe_key(client, key)
        self._by_reply(client, op, req_id, not errors, "; ".join(errors))
        if snapshots:
            self._cex.sync()
            for native in snapshots:
                self._enqueue(
                    client, self._bybit_snapshot_frame(native, fresh=len(self._subs[("by.tickers", native)]) == 1)
                )

    def _bybit_snapshot_frame(self, native: str, *, fresh: bool) -> bytes:
        """The ``tickers.{native}`` snapshot: the fields last published to the topic (so later
        deltas apply to it), refreshed first when the topic has no other subscriber."""
        sent = self._bybit_sent.get(native)
        if sent is None or fresh:
            fields = self._cex.bybit_ticker_fields(native)
            assert fields is not None
            sent = self._bybit_sent[native] = fields
        self._bybit_cs += 1
        frame = {
            "topic": f"tickers.{native}",
            "type": "snapshot",
            "data": sent,
            "cs": self._bybit_cs,
            "ts": self._model.now_ms,
        }
        return _dumps(frame)

    def _bybit_delta_frame(self, native: str) -> bytes | None:
        """A ``tickers.{native}`` delta with the fields that changed since the last push."""
        old = self._bybit_sent.get(native)
        cur = self._cex.bybit_ticker_fields(native)
        if cur is None:
            return None
        if old is None:
            self._bybit_sent[native] = cur
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
        self._bybit_sent[native] = cur
        data = {"symbol": native, **changed}
        self._bybit_cs += 1
        frame = {
            "topic": f"tickers.{native}",
            "type": "delta",
            "data": data,
            "cs": self._bybit_cs,
            "ts": self._model.now_ms,
        }
        return _dumps(frame)

    def _bybit_liq_frames(self, liqs: list[CexLiquidation]) -> dict[str, bytes]:
        """``{native: allLiquidation frame}`` for the natives someone subscribed to."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for liq in liqs:
            if ("by.liq", liq.native) in self._subs:
                grouped.setdefault(liq.native, []).append(CexModel.bybit_liquidation_item(liq))
        now = self._model.now_ms
        return {
            native: _dumps({"topic": f"allLiquidation.{native}", "type": "snapshot", "ts": now, "data": items})
            for native, items in grouped.items()
        }

    # -- user pushes ----------------------------------------------------------------------

    def _tick_exchange(self) -> None:
        """Advance the exchange to the model's clock and push what changed for watched users."""
        now = self._model.now_ms
        fired = {a for a, t in self._dead_man.items() if t <= now}
        for address in fired:
            del self._dead_man[address]
        self._exchange.tick(now)
        for address in list(self._views):
            self._publish_user(address, reason="scheduledCancel" if address in fired else None)

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

    def _user_snapshot(self, client: _Client, kind: str, address: str) -> None:
        ex = self._exchange
        if kind == "userFills":
            data = {"isSnapshot": True, "user": address, "fills": ex.user_fills(address)[:_SNAPSHOT_ROWS]}
            self._enqueue(client, _dumps({"channel": "userFills", "data": data}))
        elif kind == "userFundings":
            rows = [_funding_event(r) for r in ex.user_funding(address, 0)[-_SNAPSHOT_ROWS:]]
            data = {"isSnapshot": True, "user": address, "fundings": rows}
            self._enqueue(client, _dumps({"channel": "userFundings", "data": data}))

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
            clients = self._subs.get((kind, address))
            if clients:
                self._broadcast(clients, _dumps({"channel": _USER_CHANNELS[kind], "data": data}))

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


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _is_int(value: Any) -> bool:
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


def _json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=_dumps(obj), content_type="application/json")


def _bybit_error(code: int, msg: str, now_ms: int) -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": now_ms}


def _unprocessable(text: str) -> web.Response:
    return web.Response(status=422, text=text, content_type="text/plain")


async def _json_body(request: web.Request) -> Any:
    """The request's decoded JSON body, or the venue's 422 answer when it is not JSON."""
    try:
        return _loads(await request.read())
    except ValueError:
        return _unprocessable("Failed to parse the request body as JSON")


def _due(prev: float, cur: float, phase: float, period: float) -> bool:
    """True when an instant ``phase + k·period`` (seconds) falls in ``(prev, cur]``."""
    return math.floor((cur - phase) / period) > math.floor((prev - phase) / period)
