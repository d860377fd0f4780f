"""Hyperliquid WebSocket market-data client with paced reconnection.

Protocol (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket):

* the server greets with the text frame ``Websocket connection established.``;
* subscriptions are ``{"method": "subscribe", "subscription": {...}}`` (``unsubscribe``
  likewise), acknowledged on channel ``subscriptionResponse``; failures come on ``error``;
* the server drops a connection that sent nothing for 60 s, so the client sends
  ``{"method": "ping"}`` (answer: channel ``pong``) whenever it has been quiet for
  ``ping_interval_s`` (50 s by default);
* per IP: at most 30 new connections per minute and 1000 subscriptions
  (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/rate-limits-and-user-limits).

Reconnection is driven by :class:`core.venues.reconnect.ReconnectPolicy`, never by the
``websockets`` reconnect iterator, so delays and the new-connection budget are explicit.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import websockets
from websockets.asyncio.client import ClientConnection, connect

from core.models import AssetCtx, BookSnapshot, FeedState, FeedStatus
from core.venues.base import MarketDataSink
from core.venues.hyperliquid.wire import (
    WELCOME_TEXT,
    AllMids,
    ChannelError,
    MalformedFrame,
    Pong,
    SubscriptionAck,
    decode_ws_frame,
)
from core.venues.reconnect import Clock, ReconnectPolicy, Stopped, unless_stopped

__all__ = ["HyperliquidStream", "subscription_key"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_PING = '{"method":"ping"}'
_MAX_FRAME_BYTES = 8 * 1024 * 1024


def subscription_key(sub: dict[str, Any]) -> str:
    """Canonical text of a subscription object (sorted keys), used to deduplicate subscriptions."""
    return json.dumps(sub, sort_keys=True, separators=(",", ":"))


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    line = f"{name}: {text}" if text else name
    return line[:160]


class HyperliquidStream:
    """One Hyperliquid WebSocket connection, kept alive and re-established until stopped.

    Decoded frames go to ``sink`` by direct calls:

    * ``activeAssetCtx`` → ``sink.on_ctx(ctx)`` with ``recv_ms`` (wall clock, ms) and
      ``recv_mono`` (``clock()`` seconds) stamped at receipt;
    * ``allMids`` → ``sink.on_mids(mids, recv_mono)`` (USD by coin);
    * ``trades`` → ``sink.on_trades(trades)`` (oldest first);
    * ``l2Book`` → ``sink.on_book(book)``;
    * ``error`` → counted in :attr:`channel_errors`, logged (rate-limited), shown as status detail;
    * a frame that does not validate is dropped and counted in :attr:`malformed`; logging is
      limited to one line per ``log_interval_s``; the stream keeps running.

    Status goes to ``sink.on_feed_status`` under the name ``feed`` on every state change
    (CONNECTING → CONNECTED → RETRYING with ``retry_at_mono`` … → STOPPED) and, at most every
    ``status_interval_s``, when the malformed or error counters grow.

    Subscriptions (objects such as ``{"type": "activeAssetCtx", "coin": "BTC"}``) may be
    added or removed at any time; all current ones are re-sent after every (re)connect,
    after which ``on_connected`` is called (a coroutine result is run as a task).

    A silence watchdog closes the connection when nothing arrived for ``silence_timeout_s``
    (default twice the ping interval), which triggers a reconnect.
    """

    def __init__(
        self,
        sink: MarketDataSink,
        ws_url: str,
        *,
        on_connected: Callable[[], Awaitable[None] | None] | None = None,
        policy: ReconnectPolicy | None = None,
        feed: str = "hyperliquid/ws",
        ping_interval_s: float = 50.0,
        silence_timeout_s: float | None = None,
        open_timeout_s: float = 10.0,
        close_timeout_s: float = 2.0,
        log_interval_s: float = 10.0,
        status_interval_s: float = 0.25,
        clock: Clock = time.monotonic,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        """Create a stream (nothing connects until :meth:`run`).

        :param sink: receiver of normalized data and feed status.
        :param ws_url: ``ws://`` or ``wss://`` URL, e.g. ``wss://api.hyperliquid.xyz/ws``.
        :param on_connected: called after each successful (re)connect, once subscriptions
            have been queued for sending.
        :param policy: reconnection pacing; default :class:`ReconnectPolicy` with Hyperliquid's
            30 new connections per minute.
        :param feed: name used in :class:`~core.models.FeedStatus`.
        :param ping_interval_s: send a ping when nothing was sent for this long (seconds).
        :param silence_timeout_s: reconnect when nothing was received for this long
            (seconds, default ``2 * ping_interval_s``).
        :param open_timeout_s: TCP + TLS + WebSocket handshake timeout (seconds).
        :param close_timeout_s: how long a closing handshake may take (seconds).
        :param log_interval_s: minimum spacing of malformed-frame / error-channel log lines.
        :param status_interval_s: minimum spacing of count-only status updates (seconds).
        :param clock: monotonic clock (seconds) for ``recv_mono``, pings and the watchdog.
        :param wall_ms: wall clock in ms since the epoch for ``recv_ms``.
        :raises ValueError: on a non-positive interval.
        """
        if ping_interval_s <= 0 or (silence_timeout_s is not None and silence_timeout_s <= 0):
            raise ValueError("ping_interval_s and silence_timeout_s must be positive")
        self._sink = sink
        self.ws_url = ws_url
        self._on_connected = on_connected
        self.policy = policy if policy is not None else ReconnectPolicy(clock=clock)
        self.feed = feed
        self.ping_interval_s = ping_interval_s
        self.silence_timeout_s = silence_timeout_s if silence_timeout_s is not None else 2 * ping_interval_s
        self._open_timeout_s = open_timeout_s
        self._close_timeout_s = close_timeout_s
        self._log_interval_s = log_interval_s
        self._status_interval_s = status_interval_s
        self._clock = clock
        self._wall_ms = wall_ms

        self._subs: dict[str, dict[str, Any]] = {}
        self._out: asyncio.Queue[str] | None = None
        self._ws: ClientConnection | None = None
        self._stop_event: asyncio.Event | None = None
        self._done: asyncio.Event | None = None
        self._stopping = False
        self._running = False
        self._tasks: set[asyncio.Task[Any]] = set()

        self.state = FeedState.STOPPED
        self.malformed = 0
        """Frames dropped because they did not validate, since construction."""
        self.channel_errors = 0
        """``error`` channel messages received, since construction."""
        self.acks = 0
        """``subscriptionResponse`` messages received, since construction."""
        self.connects = 0
        """Successful connections, since construction."""
        self.sink_errors = 0
        """Exceptions raised by the sink while handling frames (they are logged, rate-limited)."""
        self._detail = ""
        self._retry_at: float | None = None
        self._last_recv = 0.0
        self._last_sent = 0.0
        self._last_status_at = float("-inf")
        self._status_pending: asyncio.TimerHandle | None = None
        self._last_malformed_log = float("-inf")
        self._malformed_unlogged = 0
        self._last_error_log = float("-inf")
        self._errors_unlogged = 0
        self._last_sink_log = float("-inf")

    # ---------------------------------------------------------------- subscriptions

    @property
    def subscriptions(self) -> list[dict[str, Any]]:
        """Current subscriptions, in the order they were added."""
        return list(self._subs.values())

    def subscribe(self, sub: dict[str, Any]) -> None:
        """Add a subscription; sent now if connected, else on the next connect. Idempotent."""
        key = subscription_key(sub)
        if key in self._subs:
            return
        self._subs[key] = dict(sub)
        self._enqueue({"method": "subscribe", "subscription": sub})

    def unsubscribe(self, sub: dict[str, Any]) -> None:
        """Remove a subscription; the venue is told now if connected. Unknown ones are ignored."""
        if self._subs.pop(subscription_key(sub), None) is None:
            return
        self._enqueue({"method": "unsubscribe", "subscription": sub})

    def _enqueue(self, message: dict[str, Any]) -> None:
        if self._out is not None:
            self._out.put_nowait(json.dumps(message, separators=(",", ":")))

    # ---------------------------------------------------------------- lifecycle

    async def run(self) -> None:
        """Connect and serve until :meth:`stop`; reconnect with the policy after any failure.

        Never raises for network or protocol problems (they become RETRYING status);
        returns after :meth:`stop` with state STOPPED. A stopped stream does not run again
        (``run()`` after ``stop()`` returns at once).

        :raises RuntimeError: if already running.
        """
        if self._running:
            raise RuntimeError("HyperliquidStream.run() is already running")
        self._running = True
        self._stop_event = asyncio.Event()
        done = self._done = asyncio.Event()
        if self._stopping:
            self._stop_event.set()
        try:
            while not self._stopping:
                try:
                    await self._until_stopped(self.policy.wait_before_connect())
                    self._set_state(FeedState.CONNECTING)
                    ws = await self._until_stopped(self._connect())
                except Stopped:
                    break
                except Exception as exc:  # DNS, refused, handshake rejected, timeout …
                    self._detail = _one_line(exc)
                    self.policy.disconnected()
                    self._set_retrying()
                    continue
                try:
                    await self._serve(ws)
                except Exception as exc:
                    self._detail = _one_line(exc)
                    log.debug("%s: connection ended: %s", self.feed, self._detail)
                finally:
                    self._ws = None
                    self._out = None
                    await self._close(ws)
                    self.policy.disconnected()
                if not self._stopping:
                    self._set_retrying()
        finally:
            self._running = False
            self._out = None
            if self._ws is not None:
                await self._close(self._ws)
                self._ws = None
            for task in list(self._tasks):
                task.cancel()
            if self._status_pending is not None:
                self._status_pending.cancel()
                self._status_pending = None
            self._detail = ""
            self._retry_at = None
            self._set_state(FeedState.STOPPED)
            done.set()

    async def stop(self) -> None:
        """Stop :meth:`run`: close the connection cleanly, interrupt any pending wait and
        return once :meth:`run` has finished (at most about ``close_timeout_s`` later)."""
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()
        ws = self._ws
        if ws is not None:
            await self._close(ws)
        if self._running and self._done is not None:
            await self._done.wait()

    async def _connect(self) -> ClientConnection:
        return await connect(
            self.ws_url,
            open_timeout=self._open_timeout_s,
            close_timeout=self._close_timeout_s,
            ping_interval=None,  # application-level ping below, as the venue documents
            max_size=_MAX_FRAME_BYTES,
        )

    async def _close(self, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await ws.close()

    async def _until_stopped(self, awaitable: Coroutine[Any, Any, _T]) -> _T:
        """Await ``awaitable`` unless :meth:`stop` is called first (then raise ``Stopped``);
        a connection that opened just as the stop came is closed, not leaked."""
        assert self._stop_event is not None
        if self._stopping:
            awaitable.close()
            raise Stopped
        result = await unless_stopped(awaitable, self._stop_event)
        if self._stopping:
            if isinstance(result, ClientConnection):
                await self._close(result)
            raise Stopped
        return result

    async def _serve(self, ws: ClientConnection) -> None:
        """Run one established connection until it closes."""
        self.policy.connected()
        self.connects += 1
        now = self._clock()
        self._last_recv = now
        self._last_sent = now
        out: asyncio.Queue[str] = asyncio.Queue()
        for sub in self._subs.values():
            out.put_nowait(json.dumps({"method": "subscribe", "subscription": sub}, separators=(",", ":")))
        self._ws = ws
        self._out = out
        self._detail = ""
        self._retry_at = None
        self._set_state(FeedState.CONNECTED)
        writer = asyncio.create_task(self._writer(ws, out))
        keepalive = asyncio.create_task(self._keepalive(ws))
        self._notify_connected()
        try:
            await self._reader(ws)
        finally:
            writer.cancel()
            keepalive.cancel()
            await asyncio.gather(writer, keepalive, return_exceptions=True)

    def _notify_connected(self) -> None:
        callback = self._on_connected
        if callback is None:
            return
        try:
            result = callback()
        except Exception:
            log.exception("%s: on_connected callback failed", self.feed)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: on_connected task failed: %s", self.feed, _one_line(task.exception()))  # type: ignore[arg-type]

    async def _reader(self, ws: ClientConnection) -> None:
        clock = self._clock
        dispatch = self._dispatch
        try:
            async for message in ws:
                now = clock()
                self._last_recv = now
                dispatch(message, now)
        except websockets.ConnectionClosed as exc:
            if not self._detail:
                self._detail = _close_detail(exc)
            return
        if not self._detail and not self._stopping:
            self._detail = _close_detail_from(ws)

    async def _writer(self, ws: ClientConnection, out: asyncio.Queue[str]) -> None:
        try:
            while True:
                message = await out.get()
                await ws.send(message)
                self._last_sent = self._clock()
        except websockets.ConnectionClosed:
            return
        except Exception as exc:
            self._detail = f"send failed: {_one_line(exc)}"
            await self._close(ws)

    async def _keepalive(self, ws: ClientConnection) -> None:
        clock = self._clock
        while True:
            now = clock()
            if now - self._last_recv >= self.silence_timeout_s:
                self._detail = f"no data for {self.silence_timeout_s:g} s"
                log.warning("%s: %s, reconnecting", self.feed, self._detail)
                await self._close(ws)
                return
            if now - self._last_sent >= self.ping_interval_s and self._out is not None:
                self._last_sent = now
                self._out.put_nowait(_PING)
            next_ping = self._last_sent + self.ping_interval_s
            deadline = self._last_recv + self.silence_timeout_s
            await asyncio.sleep(max(min(next_ping, deadline) - now, 0.01))

    # ---------------------------------------------------------------- frames

    def _dispatch(self, message: str | bytes, now: float) -> None:
        try:
            msg = decode_ws_frame(message)
        except MalformedFrame as exc:
            self._on_malformed(message, exc.reason)
            return
        kind = type(msg)
        sink = self._sink
        try:
            if kind is AssetCtx:
                msg.recv_mono = now  # type: ignore[union-attr]
                msg.recv_ms = self._wall_ms()  # type: ignore[union-attr]
                sink.on_ctx(msg)  # type: ignore[arg-type]
            elif kind is AllMids:
                sink.on_mids(msg.mids, now)  # type: ignore[union-attr]
            elif kind is list:
                sink.on_trades(msg)  # type: ignore[arg-type]
            elif kind is BookSnapshot:
                sink.on_book(msg)  # type: ignore[arg-type]
            elif kind is Pong:
                pass  # liveness is tracked for every frame
            elif kind is SubscriptionAck:
                self.acks += 1
            elif kind is ChannelError:
                self._on_channel_error(msg)  # type: ignore[arg-type]
        except Exception:
            self._sink_failed(kind.__name__)

    def _sink_failed(self, what: str) -> None:
        self.sink_errors += 1
        now = self._clock()
        if now - self._last_sink_log >= self._log_interval_s:
            log.exception("%s: sink raised while handling a %s (%d so far)", self.feed, what, self.sink_errors)
            self._last_sink_log = now

    def _on_malformed(self, message: str | bytes, reason: str) -> None:
        if message == WELCOME_TEXT or message == WELCOME_TEXT.encode():
            return
        self.malformed += 1
        self._malformed_unlogged += 1
        now = self._clock()
        if now - self._last_malformed_log >= self._log_interval_s:
            log.warning(
                "%s: dropped %d malformed frame(s); latest (%d bytes): %s",
                self.feed,
                self._malformed_unlogged,
                len(message),
                reason,
            )
            self._last_malformed_log = now
            self._malformed_unlogged = 0
        self._counts_changed()

    def _on_channel_error(self, err: ChannelError) -> None:
        self.channel_errors += 1
        self._errors_unlogged += 1
        self._detail = f"venue error: {err.message}"[:160]
        now = self._clock()
        if now - self._last_error_log >= self._log_interval_s:
            log.warning("%s: %d error message(s); latest: %s", self.feed, self._errors_unlogged, err.message)
            self._last_error_log = now
            self._errors_unlogged = 0
        self._counts_changed()

    # ---------------------------------------------------------------- status

    def _set_retrying(self) -> None:
        self._retry_at = self.policy.retry_at()
        self._set_state(FeedState.RETRYING)
        log.info(
            "%s: %s; retrying in %.1f s",
            self.feed,
            self._detail or "disconnected",
            max(self._retry_at - self._clock(), 0.0),
        )

    def _set_state(self, state: FeedState) -> None:
        self.state = state
        self._publish_status()

    def _counts_changed(self) -> None:
        if self._status_pending is not None:
            return
        wait = self._last_status_at + self._status_interval_s - self._clock()
        if wait <= 0:
            self._publish_status()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._publish_status()
            return
        self._status_pending = loop.call_later(wait, self._publish_status)

    def status(self) -> FeedStatus:
        """The current :class:`~core.models.FeedStatus` of this stream."""
        return FeedStatus(
            feed=self.feed,
            state=self.state,
            retry_at_mono=self._retry_at if self.state is FeedState.RETRYING else None,
            malformed=self.malformed,
            detail=self._detail,
        )

    def _publish_status(self) -> None:
        if self._status_pending is not None:
            self._status_pending.cancel()
            self._status_pending = None
        self._last_status_at = self._clock()
        try:
            self._sink.on_feed_status(self.status())
        except Exception:
            log.exception("%s: sink raised in on_feed_status", self.feed)


def _close_detail(exc: websockets.ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "connection lost"
    reason = f" {frame.reason}" if frame.reason else ""
    return f"closed: code {frame.code}{reason}"[:160]


def _close_detail_from(ws: ClientConnection) -> str:
    code = ws.close_code
    if code is None:
        return "connection closed"
    reason = f" {ws.close_reason}" if ws.close_reason else ""
    return f"closed: code {code}{reason}"[:160]
