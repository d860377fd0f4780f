"""The embedded exchange: one aiohttp app on a loopback address serving the simulator's protocols.

:class:`SimulatorServer` serves a :class:`~pfterm.core.sim.market.MarketModel` over aiohttp on a
loopback address only. A tick loop (``tick_hz`` times a wall second) advances the model by
``wall_dt × speed`` simulated seconds and pushes subscription frames. Push rates are wall-clock
rates, like the real venues, whatever the speed.

Each protocol's routes live in their own module (:mod:`pfterm.core.sim.routes`), where its wire
behaviour is described:

* Hyperliquid (:mod:`pfterm.core.sim.routes.hyperliquid`): ``POST /info``, ``POST /exchange``
  (trading on a :class:`~pfterm.core.sim.exchange.SimExchange` owned by the server; every tick
  steps the model, then calls ``exchange.tick(model.now_ms)``) and WebSocket ``/ws``;
* Binance USDⓈ-M (:mod:`pfterm.core.sim.routes.binance`): public and signed ``/fapi`` REST
  (trading on a :class:`~pfterm.core.sim.binance_futures.BinanceFuturesSim` over the
  :class:`~pfterm.core.sim.cex.CexModel`'s Binance venue) and the market stream
  (:attr:`SimulatorServer.binance_ws_url`);
* Bybit v5 (:mod:`pfterm.core.sim.routes.bybit`): ``GET /v5/market/tickers`` and the public
  linear stream (:attr:`SimulatorServer.bybit_ws_url`).

The Binance- and Bybit-like venues are a :class:`~pfterm.core.sim.cex.CexModel` derived from the
model (prices correlated with the Hyperliquid markets, each venue's own funding regime, 4 h /
8 h intervals, OI and liquidations; everything on the simulated clock), for the funding matrix.

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
instead of slowing anyone else. The client registry, the subscription index and the queues
are the server's, shared by every WebSocket protocol (see "shared by the protocol routes"
below).
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import time
from collections.abc import Callable, Coroutine, Sequence, Set
from typing import Any, Protocol, TypeVar

from aiohttp import WSMsgType, web

from pfterm.core.sim.binance_futures import BinanceFuturesSim
from pfterm.core.sim.cex import CexModel
from pfterm.core.sim.exchange import MAKER_FEE, TAKER_FEE, SimExchange
from pfterm.core.sim.http import is_loopback_host, json_body, json_response, unprocessable
from pfterm.core.sim.market import HOUR_MS, MarketModel
from pfterm.core.sim.routes.binance import BINANCE_PING_S, STREAMS, BinanceRoutes
from pfterm.core.sim.routes.binance import STREAM_PATH as BINANCE_STREAM_PATH
from pfterm.core.sim.routes.bybit import BYBIT_TICKER_HZ, BybitRoutes
from pfterm.core.sim.routes.bybit import STREAM_PATH as BYBIT_STREAM_PATH
from pfterm.core.sim.routes.hyperliquid import (
    DAY_MS,
    NONCE_FUTURE_MS,
    NONCE_KEPT,
    NONCE_PAST_MS,
    WELCOME_TEXT,
    HyperliquidRoutes,
    InfoRequestError,
)
from pfterm.core.sim.snapshot import load_snapshot
from pfterm.core.sim.stream import Client, SubKey

__all__ = [
    "ADVANCE_MAX_S",
    "ADVANCE_SEGMENT_S",
    "BINANCE_PING_S",
    "BYBIT_TICKER_HZ",
    "DAY_MS",
    "NONCE_FUTURE_MS",
    "NONCE_KEPT",
    "NONCE_PAST_MS",
    "WELCOME_TEXT",
    "InfoRequestError",
    "SimulatorServer",
    "is_loopback_host",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

ADVANCE_SEGMENT_S = 60.0
"""Longest model segment (sim seconds) :meth:`SimulatorServer.advance` steps the model by."""
ADVANCE_MAX_S = 366.0 * 86_400.0
"""Longest single ``advance`` (sim seconds); a guard against a typo hanging the server."""
_ADVANCE_YIELD_S = 0.02
"""Wall seconds an advance runs before it lets the event loop serve pushes and pings."""
_NO_CLIENTS: frozenset[Client] = frozenset()


class _ProtocolRoutes(Protocol):
    """What the server asks of each protocol's routes (see :mod:`pfterm.core.sim.routes`)."""

    kinds: tuple[str, ...]

    def mount(self, router: web.UrlDispatcher) -> None: ...

    def begin_tick(self, prev: float, cur: float) -> None: ...

    def push(self, key: SubKey, clients: set[Client]) -> None: ...

    def released(self, key: SubKey) -> None: ...


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

    The routes of each protocol are mounted from :mod:`pfterm.core.sim.routes`; :meth:`info` and
    :meth:`exchange_request` answer Hyperliquid requests in process. :meth:`wait_advance`,
    :meth:`synced_cex`, :meth:`venue_clock_ms`, :meth:`subscribe`, :meth:`unsubscribe`,
    :meth:`subscribers`, :meth:`enqueue`, :meth:`broadcast` and :meth:`serve_client` are what
    those routes share (clock, client registry, subscription index, send queues); event loop
    thread only.
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

        self._clients: set[Client] = set()
        self._subs: dict[SubKey, set[Client]] = {}
        self._cex = CexModel(model, venues=cex_venues)
        self._starting_usdc = float(starting_usdc)
        self._binance = BinanceFuturesSim(self._cex)
        for api_key, secret in binance_credentials:
            self.register_binance_key(api_key, secret)
        self._hyperliquid = HyperliquidRoutes(self, clock_ms if clock_ms is not None else _wall_clock_ms)
        self._binance_routes = BinanceRoutes(self)
        self._bybit_routes = BybitRoutes(self)
        self._protocols: tuple[_ProtocolRoutes, ...] = (self._hyperliquid, self._binance_routes, self._bybit_routes)
        """Every protocol's routes, in the order they are mounted and ticked."""
        self._owners: dict[str, _ProtocolRoutes] = {kind: p for p in self._protocols for kind in p.kinds}
        """Subscription key kind → the routes that push it."""
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
        return "ws" + self.http_url[4:] + BINANCE_STREAM_PATH + "?streams=" + "/".join(STREAMS)

    @property
    def bybit_ws_url(self) -> str | None:
        """``ws://…/v5/public/linear`` once started."""
        return None if self.http_url is None else "ws" + self.http_url[4:] + BYBIT_STREAM_PATH

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

    # -- Hyperliquid requests in process ---------------------------------------------------

    def info(self, body: Any) -> bytes:
        """Answer one ``/info`` request body with the JSON bytes the venue would send.

        Raises :class:`InfoRequestError` (HTTP 422) for a body that is not an object with a
        known ``type`` or whose fields have the wrong types (``user`` must be ``0x`` + 40 hex
        digits, any case). Unknown coins answer ``null`` for
        ``l2Book`` and 422 for ``fundingHistory`` / ``recentTrades``. See
        :mod:`pfterm.core.sim.routes.hyperliquid` for the types answered.
        """
        return self._hyperliquid.info(body)

    def exchange_request(self, body: Any) -> dict[str, Any]:
        """Verify and execute one ``/exchange`` body; return the venue's JSON reply object.

        ``{"status": "ok", "response": {...}}`` when the action was executed (order and cancel
        entries may still carry errors), ``{"status": "err", "response": "<message>"}`` when it
        was refused as a whole. Pushes the resulting user changes to subscribers. See
        :mod:`pfterm.core.sim.routes.hyperliquid` for the actions, signatures and nonces."""
        return self._hyperliquid.exchange_request(body)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind, start serving and start the tick loop; sets ``port``, ``http_url``, ``ws_url``."""
        if self._runner is not None:
            raise RuntimeError("server already started")
        app = web.Application()
        for protocol in self._protocols:
            protocol.mount(app.router)
        if self.lockstep:
            app.router.add_post("/sim/advance", self._handle_advance)
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

    async def _close_client(self, client: Client, *, code: int, message: bytes, abort: bool = False) -> None:
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

    def _forget(self, client: Client) -> None:
        self._clients.discard(client)
        for key in list(client.subs):
            self.unsubscribe(client, key)

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
            self._step_venues()
        for protocol in self._protocols:
            protocol.begin_tick(prev, cur)
        if not self._subs:
            return
        owners = self._owners
        for key, clients in list(self._subs.items()):
            if clients:
                owners[key[0]].push(key, clients)

    def _step_venues(self) -> None:
        """Bring the venues to the model's clock after a model step: the Hyperliquid exchange
        (with its user pushes), the CEX-like venues, then Binance USDⓈ-M trading."""
        self._hyperliquid.tick_exchange()
        self._cex.sync()
        self._binance.tick(self._model.now_ms)

    def _check_idle(self) -> None:
        limit = time.monotonic() - self.idle_timeout_s
        for client in list(self._clients):
            if client.last_recv < limit and not client.closing and not client.idle_exempt:
                log.info("closing idle WebSocket %s", client.peer)
                self._background(self._close_client(client, code=1000, message=b"idle timeout"))

    # -- lockstep clock --------------------------------------------------------------------

    async def advance(self, seconds: float, step_s: float = 60.0, *, max_segment_s: float = ADVANCE_SEGMENT_S) -> None:
        """Advance the simulated clock by ``seconds`` (sim seconds, ≥ 0) in steps of at most
        ``step_s`` (> 0), doing after every step what a tick does for the exchange
        (:meth:`~pfterm.core.sim.routes.hyperliquid.HyperliquidRoutes.tick_exchange`: hourly
        funding settlement into accounts, dead man's switches, resting maker fills,
        liquidations, user pushes; then the CEX-like venues and Binance USDⓈ-M trading).

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
            hyperliquid = self._hyperliquid
            end = model.now_ms + int(round(seconds * 1000.0))
            loop = asyncio.get_running_loop()
            released = loop.time()
            while model.now_ms < end:
                now = model.now_ms
                nxt = hyperliquid.first_scheduled_cancel(now, min(now + step_ms, end, (now // HOUR_MS + 1) * HOUR_MS))
                countdown = self._binance.next_deadline(now)
                if countdown is not None and countdown < nxt:
                    nxt = countdown
                model.step_to(nxt, max_segment_s=segment_s)
                self._step_venues()
                if loop.time() - released >= _ADVANCE_YIELD_S:
                    await asyncio.sleep(0)
                    released = loop.time()

    async def _handle_advance(self, request: web.Request) -> web.Response:
        """``POST /sim/advance {"seconds": N, "step_s": S?}`` → ``{"now_ms": ...}`` (lockstep
        only; a simulator control, not part of the Hyperliquid protocol)."""
        body = await json_body(request)
        if isinstance(body, web.Response):
            return body
        if not isinstance(body, dict):
            return unprocessable('expected an object {"seconds": N, "step_s": S}')
        seconds = body.get("seconds")
        step_s = body.get("step_s", 60.0)
        for name, value in (("seconds", seconds), ("step_s", step_s)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return unprocessable(f"{name}: expected a number")
        assert isinstance(seconds, (int, float)) and isinstance(step_s, (int, float))
        try:
            await self.advance(float(seconds), float(step_s))
        except ValueError as exc:
            return unprocessable(str(exc))
        return json_response({"now_ms": self._model.now_ms})

    # -- shared by the protocol routes -----------------------------------------------------

    async def wait_advance(self) -> None:
        """Wait for a running :meth:`advance` to finish (requests see its end state)."""
        if self._advance_lock.locked():
            async with self._advance_lock:
                pass

    async def synced_cex(self) -> CexModel:
        """:attr:`cex` synced to the model's clock, once a running advance is over."""
        await self.wait_advance()
        self._cex.sync()
        return self._cex

    def venue_clock_ms(self) -> int:
        """The simulated time as a continuous clock, ms: the model's time plus what the running
        tick period has added at this speed (the model itself moves in jumps of speed × tick
        period). Binance's ``/fapi/v1/time`` and its timestamp checks read it, as a real venue's
        clock is continuous. Call from the event loop thread."""
        now = self._model.now_ms
        if not self.lockstep and self._speed > 0 and self._last_tick:
            now += int((asyncio.get_running_loop().time() - self._last_tick) * self._speed * 1000)
        return now

    def subscribe(self, client: Client, key: SubKey, sub: dict[str, Any]) -> bool:
        """Register ``client`` on ``key`` (``sub``: the subscription object it sent, kept in
        ``client.subs``); ``False``, and nothing changed, if it already was."""
        if key in client.subs:
            return False
        client.subs[key] = sub
        self._subs.setdefault(key, set()).add(client)
        return True

    def unsubscribe(self, client: Client, key: SubKey) -> None:
        """Remove ``client`` from ``key`` (no-op if it was not on it); the last one out lets the
        owning protocol release what the key needed."""
        client.subs.pop(key, None)
        clients = self._subs.get(key)
        if clients is None:
            return
        clients.discard(client)
        if not clients:
            del self._subs[key]
            self._owners[key[0]].released(key)

    def subscribers(self, key: SubKey) -> Set[Client]:
        """The clients subscribed to ``key`` (empty if none); do not modify it."""
        return self._subs.get(key, _NO_CLIENTS)

    def broadcast(self, clients: Set[Client], frame: bytes) -> None:
        """Queue the serialised ``frame`` for every client of ``clients``."""
        for client in tuple(clients):
            self.enqueue(client, frame)

    def enqueue(self, client: Client, frame: bytes) -> None:
        """Queue the serialised ``frame`` for ``client``; a client past ``max_queued_frames`` or
        ``max_queued_bytes`` is dropped as too slow (close code 1008) instead."""
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

    async def serve_client(
        self,
        client: Client,
        on_text: Callable[[Client, str], None],
        *,
        greeting: str | None = None,
        on_binary: Callable[[Client], None] | None = None,
    ) -> None:
        """Serve one prepared WebSocket connection until it closes: register ``client``, start
        its sender, send ``greeting`` (if any) directly, then hand every text message to
        ``on_text`` and every binary one to ``on_binary`` (ignored without it); on the way out
        its subscriptions are dropped and it leaves the registry."""
        self._clients.add(client)
        sender = self._background(self._sender(client))
        ws = client.ws
        try:
            if greeting is not None:
                await ws.send_str(greeting)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    client.last_recv = time.monotonic()
                    on_text(client, msg.data)
                elif msg.type == WSMsgType.BINARY and on_binary is not None:
                    client.last_recv = time.monotonic()
                    on_binary(client)
                elif msg.type == WSMsgType.ERROR:
                    break
        except ConnectionError:
            pass
        finally:
            client.closing = True
            self._forget(client)
            client.wake.set()
            sender.cancel()

    async def _sender(self, client: Client) -> None:
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


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000
