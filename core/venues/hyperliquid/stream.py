"""Hyperliquid WebSocket market-data client with paced reconnection.

Protocol (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket):

* the server greets with the text frame ``Websocket connection established.``;
* subscriptions are ``{"method": "subscribe", "subscription": {...}}`` (``unsubscribe``
  likewise), acknowledged on channel ``subscriptionResponse``; failures come on ``error``;
* the server drops a connection that sent nothing for 60 s, so the client sends
  ``{"method": "ping"}`` (answer: channel ``pong``) whenever nothing was sent or received for
  ``ping_interval_s`` (50 s by default); the pong is an application frame, so it is timed here
  (not by ``websockets``): none within ``pong_timeout_s`` (10 s) drops the connection;
* per IP: at most 30 new connections per minute and 1000 subscriptions
  (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/rate-limits-and-user-limits).

The connect / keepalive / silence watchdog / reconnect / FeedStatus lifecycle is
:class:`pfterm.core.venues.wsbase.VenueStream`'s; reconnection is driven by
:class:`pfterm.core.venues.reconnect.ReconnectPolicy`, never by the ``websockets`` reconnect
iterator, so delays and the new-connection budget are explicit. This module adds the
Hyperliquid protocol: subscriptions (replayed on every reconnect), the ping text and a
direct, allocation-free dispatch of decoded frames into the sink.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pfterm.core.market.models import AssetCtx, BookSnapshot
from pfterm.core.venues.base import MarketDataSink
from pfterm.core.venues.hyperliquid.wire import (
    WELCOME_TEXT,
    AllMids,
    ChannelError,
    MalformedFrame,
    Pong,
    SubscriptionAck,
    decode_ws_frame,
)
from pfterm.core.venues.reconnect import Clock, ReconnectPolicy
from pfterm.core.venues.wsbase import MALFORMED_ERRORS, VenueStream, exc_line
from pfterm.core.venues.wsbase import wall_ms as _wall_ms

__all__ = ["HyperliquidStream", "subscription_key"]

_PING = '{"method":"ping"}'
_WELCOME_BYTES = WELCOME_TEXT.encode()


def subscription_key(sub: dict[str, Any]) -> str:
    """Canonical text of a subscription object (sorted keys), used to deduplicate subscriptions."""
    return json.dumps(sub, sort_keys=True, separators=(",", ":"))


def _message(method: str, sub: dict[str, Any]) -> str:
    return json.dumps({"method": method, "subscription": sub}, separators=(",", ":"))


class HyperliquidStream(VenueStream):
    """One Hyperliquid WebSocket connection, kept alive and re-established until stopped.

    Decoded frames go to ``sink`` by direct calls:

    * ``activeAssetCtx`` → ``sink.on_ctx(ctx)`` with ``recv_ms`` (wall clock, ms) and
      ``recv_mono`` (``clock()`` seconds) stamped at receipt;
    * ``allMids`` → ``sink.on_mids(mids, recv_mono)`` (USD by coin); a frame with bad mids
      passes its good ones on and counts once in :attr:`malformed`;
    * ``trades`` → ``sink.on_trades(trades)`` (oldest first);
    * ``l2Book`` → ``sink.on_book(book)``;
    * ``error`` → counted in :attr:`channel_errors`, logged (rate-limited), shown as status detail;
    * a frame that does not validate is dropped and counted in :attr:`malformed`; logging is
      the first of each kind at once, the rest in one line per ``log_interval_s``; the stream
      keeps running.

    Status goes to ``sink.on_feed_status`` under the name ``feed`` on every state change
    (CONNECTING → CONNECTED → RETRYING with ``retry_at_mono`` … → STOPPED) and, at most every
    ``status_interval_s``, when the malformed or error counters grow.

    Subscriptions (objects such as ``{"type": "activeAssetCtx", "coin": "BTC"}``) may be
    added or removed at any time; all current ones are re-sent after every (re)connect,
    after which ``on_connected`` is called (a coroutine result is run as a task).

    A ping without a pong within ``pong_timeout_s`` closes the connection (so a peer that
    stops answering is dropped within ``ping_interval_s + pong_timeout_s``), and a silence
    watchdog closes it when nothing arrived for ``silence_timeout_s`` (default twice the ping
    interval); either triggers a reconnect.
    """

    ping_text = _PING
    """Hyperliquid's application ping, sent when nothing was sent or received for ``ping_interval_s``."""
    protocol_pings = False
    pong_timed = True
    max_frame_bytes = 8 * 1024 * 1024

    def __init__(
        self,
        sink: MarketDataSink,
        ws_url: str,
        *,
        on_connected: Callable[[], Awaitable[None] | None] | None = None,
        policy: ReconnectPolicy | None = None,
        feed: str = "hyperliquid/ws",
        ping_interval_s: float = 50.0,
        pong_timeout_s: float = 10.0,
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
        :param feed: name used in :class:`~pfterm.core.market.models.FeedStatus`.
        :param ping_interval_s: send a ping when nothing was sent or received for this long (seconds).
        :param pong_timeout_s: drop the connection when a ping had no pong for this long (seconds).
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
        super().__init__(
            sink,  # type: ignore[arg-type]  # only on_feed_status is used by the base
            ws_url,
            feed=feed,
            policy=policy,
            ping_interval_s=ping_interval_s,
            pong_timeout_s=pong_timeout_s,
            silence_timeout_s=silence_timeout_s if silence_timeout_s is not None else 2 * ping_interval_s,
            open_timeout_s=open_timeout_s,
            close_timeout_s=close_timeout_s,
            log_interval_s=log_interval_s,
            status_interval_s=status_interval_s,
            clock=clock,
            wall_ms=wall_ms,
        )
        self._on_connected = on_connected
        self._subs: dict[str, dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

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
        self.send(_message("subscribe", sub))

    def unsubscribe(self, sub: dict[str, Any]) -> None:
        """Remove a subscription; the venue is told now if connected. Unknown ones are ignored."""
        if self._subs.pop(subscription_key(sub), None) is None:
            return
        self.send(_message("unsubscribe", sub))

    # ---------------------------------------------------------------- lifecycle hooks

    def _subscribe_messages(self) -> list[str]:
        return [_message("subscribe", sub) for sub in self._subs.values()]

    def _on_serving(self) -> None:
        callback = self._on_connected
        if callback is None:
            return
        try:
            result = callback()
        except Exception:
            self._log.exception("%s: on_connected callback failed", self.feed)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("%s: on_connected task failed: %s", self.feed, exc_line(task.exception()))  # type: ignore[arg-type]

    def _on_stopped(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # ---------------------------------------------------------------- frames (hot path)

    def _dispatch(self, message: str | bytes, now: float) -> None:
        try:
            msg = decode_ws_frame(message)
        except MalformedFrame as exc:
            self._on_malformed(message, exc.reason)
            return
        except MALFORMED_ERRORS as exc:  # decoding gave up on the frame
            failure = type(exc).__name__
            self._on_malformed(message, f"{failure} while decoding", failure)
            return
        kind = type(msg)
        sink = self._sink
        try:
            if kind is AssetCtx:
                msg.recv_mono = now  # type: ignore[union-attr]
                msg.recv_ms = self._wall_ms()  # type: ignore[union-attr]
                sink.on_ctx(msg)  # type: ignore[attr-defined]
            elif kind is AllMids:
                if msg.rejected:  # type: ignore[union-attr]
                    self._on_malformed(message, msg.reason)  # type: ignore[union-attr]
                sink.on_mids(msg.mids, now)  # type: ignore[attr-defined,union-attr]
            elif kind is list:
                sink.on_trades(msg)  # type: ignore[attr-defined]
            elif kind is BookSnapshot:
                sink.on_book(msg)  # type: ignore[attr-defined]
            elif kind is Pong:
                self._on_pong()
            elif kind is SubscriptionAck:
                self.acks += 1
            elif kind is ChannelError:
                self._on_venue_error(msg.message)  # type: ignore[union-attr]
        except Exception:
            self._sink_failed(f"a {kind.__name__}")

    def _on_malformed(self, message: str | bytes, reason: str, kind: str = "") -> None:
        if message == WELCOME_TEXT or message == _WELCOME_BYTES:
            return
        super()._on_malformed(message, reason, kind)
