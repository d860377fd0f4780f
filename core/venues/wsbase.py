"""Reconnecting JSON WebSocket client shared by the read-only cross-venue adapters
(:mod:`pfterm.core.venues.binance.market`, :mod:`pfterm.core.venues.bybit.market`, :mod:`pfterm.core.venues.okx.market`,
:mod:`pfterm.core.venues.dydx.market`) and the Hyperliquid market-data stream
(:mod:`pfterm.core.venues.hyperliquid.stream`), plus the small payload field helpers they share.

Units: durations and intervals are **seconds** (``float``, ``*_s``), monotonic instants come
from the injected ``clock`` (seconds, :func:`time.monotonic` by default); wall-clock
timestamps are **milliseconds** since the Unix epoch (``int``, ``*_ms``, :func:`wall_ms`).

Lifecycle of :class:`VenueStream` (one task runs :meth:`VenueStream.run` until
:meth:`VenueStream.stop`):

1. wait as the :class:`~pfterm.core.venues.reconnect.ReconnectPolicy` says (jittered backoff after
   failures, a budget of new connections), then connect;
2. on connect: :meth:`~VenueStream._on_connection` (e.g. clear a merged book), then send
   :meth:`~VenueStream._subscribe_messages` in order, spaced by ``subscribe_interval_s``;
3. serve: every frame goes to :meth:`~VenueStream._handle`; a keepalive task sends
   ``ping_text`` (when set) every ``ping_interval_s`` without sending (or, with
   ``ping_only_when_idle``, without sending or receiving), marks the feed stale, and closes
   the connection on silence or at ``max_connection_s``;
4. heartbeats: with ``protocol_pings`` (the default) ``websockets`` itself sends a protocol
   ping every ``ping_interval_s`` and closes the connection (code 1011, ``keepalive ping
   timeout``) when no pong came within ``pong_timeout_s``; a venue whose pong is an
   application frame (``pong_timed``, Hyperliquid) has it timed here instead: its ping goes
   out once nothing was sent *or* received for ``ping_interval_s``, and no pong within
   ``pong_timeout_s`` closes the connection (``"no pong for N s"``). Either way a peer that
   stops answering is dropped within ``ping_interval_s + pong_timeout_s``;
5. any failure (DNS, refused, handshake, close by the venue, watchdog) → back to 1; protocol
   pings of the server are answered by ``websockets`` itself.

FeedStatus semantics (published on ``sink.on_feed_status``, ``feed`` = the stream's label):

* ``CONNECTING`` — a connection attempt is under way;
* ``CONNECTED`` — connected and subscribed; ``detail`` is ``""``, or
  ``"stale: no data for N s"`` while no frame arrived for ``stale_after_s`` (the models have
  no STALE state: the state stays CONNECTED, :attr:`VenueStream.stale` is true, and the next
  frame clears both and publishes again), or ``"venue error: …"`` after an error answer;
* ``RETRYING`` — disconnected; ``retry_at_mono`` is the clock instant of the next attempt and
  ``detail`` why the connection ended: the venue's close code and reason, ``"no data for N
  s"`` (silence watchdog, ``silence_timeout_s``), ``"no pong for N s"`` (``pong_timed``),
  ``"closed: code 1011 keepalive ping timeout"`` (protocol pings), ``"planned reconnect after N s"``
  (``max_connection_s``), ``"send failed: …"`` or the connect error, one line;
* ``STOPPED`` — :meth:`~VenueStream.run` has returned (also the state before it starts).

``malformed`` counts frames dropped since construction because :meth:`~VenueStream._handle`
raised :class:`WireError` (not JSON, wrong shape) or one of :data:`MALFORMED_ERRORS` (nesting
too deep, a number too large to convert), plus the records a handler dropped alone from a
frame of many markets (the good ones are kept); a record is never partly applied by the
parsers. A growth of the count is published at most every ``status_interval_s``; the log
line about dropped frames at most every ``log_interval_s`` and never quotes a payload. An
exception raised by the sink (or any other exception in a handler) is counted in
``sink_errors``, logged (rate-limited) and never ends the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import websockets
from websockets.asyncio.client import ClientConnection, connect

from pfterm.core.market.models import FeedState, FeedStatus, Liquidation, VenueFunding
from pfterm.core.venues import numbers
from pfterm.core.venues.base import CrossVenueSink
from pfterm.core.venues.errors import one_line
from pfterm.core.venues.reconnect import Clock, ReconnectPolicy, Stopped, unless_stopped

__all__ = [
    "MALFORMED_ERRORS",
    "MAX_LOGGED_KINDS",
    "ToSymbol",
    "VenueStream",
    "WireError",
    "as_dict",
    "as_list",
    "base_to_symbol",
    "checked",
    "exc_line",
    "int_field",
    "loads",
    "num",
    "opt_num",
    "str_field",
    "time_field",
    "wall_ms",
]

_T = TypeVar("_T")

MAX_LOGGED_KINDS = 64
"""How many distinct kinds of rejected frame a stream logs on first sight; later kinds go
into the rate-limited summary line only (a hostile venue cannot fill the log or memory)."""

_NO_DIGITS = str.maketrans("", "", "0123456789")

ToSymbol = Callable[[str], "str | None"]
"""Maps a venue's native market name to the joined symbol, or ``None`` to skip the market."""


MALFORMED_ERRORS: tuple[type[BaseException], ...] = (RecursionError, OverflowError, ValueError, MemoryError)
"""What decoding a frame or converting its numbers raises for hostile input (a 100 000-deep
nested array, a 401-digit integer turned into a float, a number string over Python's digit
limit, a frame too large to hold): each is one malformed frame, never a handler error."""


class WireError(ValueError):
    """A venue payload did not have the documented shape. The message is one line and never
    quotes the payload. Venue modules subclass it (``OkxFormatError``, ``DydxFormatError``).
    ``kind`` names the decoding failure behind it (``"RecursionError"`` …), ``""`` for a shape error."""

    kind: str = ""


# ---------------------------------------------------------------------------- small helpers


def wall_ms() -> int:
    """Wall-clock time in ms since the Unix epoch."""
    return time.time_ns() // 1_000_000


def exc_line(exc: BaseException) -> str:
    """``"<ExceptionName>: <message>"`` on one line, at most 160 characters."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    line = f"{name}: {text}" if text else name
    return line[:160]


def base_to_symbol(base: str) -> str | None:
    """Joined symbol of a venue base asset: ``"BTC"`` → ``"BTC"``, ``"1000PEPE"`` → ``"kPEPE"``
    (a ``1000`` prefix is Hyperliquid's ``k``); ``None`` for an empty base."""
    if not base:
        return None
    if base.startswith("1000") and len(base) > 4:
        return "k" + base[4:]
    return base


def loads(raw: str | bytes | Any, error: type[WireError] = WireError, what: str = "frame") -> Any:
    """JSON-decode ``raw`` (``str``/``bytes``); anything else is returned as it is (already
    decoded). :raises error: ``"<what> is not JSON"``, or ``"… nested too deeply"`` / ``"… too
    large"`` (``kind`` ``"RecursionError"`` / ``"MemoryError"``), never those exceptions themselves."""
    if isinstance(raw, (str, bytes, bytearray)):
        try:
            return json.loads(raw)
        except ValueError:  # includes UnicodeDecodeError and over-long integers
            raise error(f"{what} is not JSON") from None
        except (RecursionError, MemoryError) as exc:
            failure = error(f"{what} is {'nested too deeply' if isinstance(exc, RecursionError) else 'too large'}")
            failure.kind = type(exc).__name__
            raise failure from None
    return raw


def num(obj: Mapping[str, Any], key: str, what: str, error: type[WireError] = WireError) -> float:
    """``obj[key]`` as a finite float: a JSON number (not a bool) or a plain ASCII decimal
    string (:func:`pfterm.core.venues.numbers.decimal`: no blanks, underscores, other scripts,
    ``"NaN"`` or ``"inf"``).

    :raises error: one line naming ``what`` and ``key``, never the value."""
    value = obj.get(key)
    if isinstance(value, bool) or value is None:
        raise error(f"{what}: field {key!r} missing")
    try:
        return numbers.decimal(value)
    except ValueError:
        raise error(f"{what}: field {key!r} is not a finite decimal number") from None


def opt_num(obj: Mapping[str, Any], key: str, what: str, error: type[WireError] = WireError) -> float | None:
    """Like :func:`num`, but ``None`` when the field is absent, ``null`` or ``""``."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    return num(obj, key, what, error)


def int_field(obj: Mapping[str, Any], key: str, what: str, error: type[WireError] = WireError) -> int:
    """``obj[key]`` as an int: a JSON integer, an integral float or a string of ASCII digits
    with an optional sign (:func:`pfterm.core.venues.numbers.integer`; not bools), within
    ±(2**63 − 1).

    :raises error: one line naming ``what`` and ``key``, never the value."""
    value = obj.get(key)
    if isinstance(value, bool) or value is None:
        raise error(f"{what}: field {key!r} missing")
    try:
        return numbers.integer(value)
    except ValueError:
        raise error(f"{what}: field {key!r} is not an integer") from None


def checked(
    value: float, rule: Callable[[float], float], key: str, what: str, error: type[WireError] = WireError
) -> float:
    """``rule(value)`` (a range rule of :mod:`pfterm.core.venues.numbers`, e.g. ``check_price``),
    its :class:`ValueError` raised as ``error`` naming ``what`` and ``key``, never the value."""
    try:
        return rule(value)
    except ValueError as exc:
        raise error(f"{what}: field {key!r}: {exc}") from None


def time_field(
    obj: Mapping[str, Any], key: str, what: str, now_ms: int | None, error: type[WireError] = WireError
) -> int:
    """``obj[key]`` as a timestamp in ms since the epoch, within
    :func:`pfterm.core.venues.numbers.check_time_ms` of ``now_ms`` (the local wall clock in ms;
    ``None`` reads it): not before 2015, at most one day ahead.

    :raises error: not an integer, or out of that window."""
    value = int_field(obj, key, what, error)
    try:
        return numbers.check_time_ms(value, now_ms)
    except ValueError as exc:
        raise error(f"{what}: field {key!r}: {exc}") from None


def str_field(obj: Mapping[str, Any], key: str, what: str, error: type[WireError] = WireError) -> str:
    """``obj[key]`` as a non-empty string. :raises error: otherwise."""
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise error(f"{what}: field {key!r} missing or not a string")
    return value


def as_dict(value: Any, what: str, error: type[WireError] = WireError) -> dict[str, Any]:
    """``value`` if it is a JSON object. :raises error: otherwise."""
    if not isinstance(value, dict):
        raise error(f"{what}: expected an object, got {type(value).__name__}")
    return value


def as_list(value: Any, what: str, error: type[WireError] = WireError) -> list[Any]:
    """``value`` if it is a JSON array. :raises error: otherwise."""
    if not isinstance(value, list):
        raise error(f"{what}: expected an array, got {type(value).__name__}")
    return value


def _close_detail(code: int | None, reason: str, default: str) -> str:
    if code is None:
        return default
    return one_line(f"closed: code {code}{' ' + reason if reason else ''}")


# ---------------------------------------------------------------------------- the stream


class VenueStream:
    """One JSON WebSocket connection to a read-only venue, kept alive until stopped.

    See the module docstring for the lifecycle and the status semantics. Subclasses
    implement :meth:`_handle` (raise :class:`WireError` for a frame that does not validate,
    deliver records with :meth:`_emit_funding` / :meth:`_emit_liquidations`, report error
    answers with :meth:`_on_venue_error`) and may override :meth:`_subscribe_messages`,
    :meth:`_on_connection`, :meth:`_on_serving` and :meth:`_on_stopped`; a hot-path subclass
    may override :meth:`_dispatch` itself (it is what the reader calls). Class attributes:
    ``ping_text`` (application ping, ``None`` = none), ``ping_only_when_idle`` (received
    frames also postpone the ping), ``protocol_pings`` (WebSocket pings by ``websockets``),
    ``pong_timed`` (the reply to ``ping_text`` is timed; the subclass calls :meth:`_on_pong`)
    and ``max_frame_bytes``.

    :param feed: the status label (``"okx/ws"`` …).
    :param ping_interval_s: ping period (s), see ``ping_only_when_idle``; also the period of
        the protocol pings.
    :param pong_timeout_s: how long (s) a pong may take before the connection is dropped
        (protocol pings, or ``ping_text`` with ``pong_timed``).
    :param stale_after_s: silence (s) after which the feed is marked stale; ``None`` = never.
    :param silence_timeout_s: silence (s) after which the connection is replaced; ``None`` =
        ``ping_interval_s + 10``.
    :param max_connection_s: reconnect on purpose after this long (s; venue lifetime caps);
        ``None`` = never.
    :param subscribe_interval_s: pause (s) after each non-ping message sent (venue rate limits).
    :param log_interval_s: minimum time (s) between two log lines about dropped frames,
        venue errors or sink errors.
    :param status_interval_s: minimum time (s) between two status updates caused by counts.
    :param clock: monotonic clock (s); ``wall_ms``: wall clock (ms), for record times.
    """

    ping_text: str | None = None
    ping_only_when_idle: bool = False
    protocol_pings: bool = True
    pong_timed: bool = False
    max_frame_bytes: int = 16 * 1024 * 1024

    def __init__(
        self,
        sink: CrossVenueSink,
        ws_url: str,
        *,
        feed: str,
        policy: ReconnectPolicy | None = None,
        ping_interval_s: float = 20.0,
        pong_timeout_s: float = 10.0,
        stale_after_s: float | None = None,
        silence_timeout_s: float | None = None,
        max_connection_s: float | None = None,
        subscribe_interval_s: float = 0.0,
        open_timeout_s: float = 10.0,
        close_timeout_s: float = 2.0,
        log_interval_s: float = 10.0,
        status_interval_s: float = 0.25,
        clock: Clock = time.monotonic,
        wall_ms: Callable[[], int] = wall_ms,
    ) -> None:
        if silence_timeout_s is None:
            silence_timeout_s = ping_interval_s + 10.0
        if min(ping_interval_s, pong_timeout_s, silence_timeout_s) <= 0 or any(
            v is not None and v <= 0 for v in (stale_after_s, max_connection_s)
        ):
            raise ValueError("intervals and timeouts must be positive")
        if subscribe_interval_s < 0:
            raise ValueError("subscribe_interval_s must not be negative")
        self._sink = sink
        self._log = logging.getLogger(type(self).__module__)
        self.ws_url = ws_url
        self.feed = feed
        self.policy = policy if policy is not None else ReconnectPolicy(clock=clock)
        self.ping_interval_s = ping_interval_s
        self.pong_timeout_s = pong_timeout_s
        self.stale_after_s = stale_after_s
        self.silence_timeout_s = silence_timeout_s
        self.max_connection_s = max_connection_s
        self.subscribe_interval_s = subscribe_interval_s
        self._open_timeout_s = open_timeout_s
        self._close_timeout_s = close_timeout_s
        self._log_interval_s = log_interval_s
        self._status_interval_s = status_interval_s
        self._clock = clock
        self._wall_ms = wall_ms

        self._out: asyncio.Queue[str] | None = None
        self._ws: ClientConnection | None = None
        self._stop_event: asyncio.Event | None = None
        self._done: asyncio.Event | None = None
        self._stopping = False
        self._running = False

        self.state = FeedState.STOPPED
        self.stale = False
        """True while connected but silent for at least ``stale_after_s``."""
        self.malformed = 0
        """Frames dropped because they did not validate, since construction."""
        self.connects = 0
        """Successful connections, since construction."""
        self.sink_errors = 0
        """Exceptions raised by the sink (or a handler) while handling frames."""
        self.venue_errors = 0
        """Error answers from the venue (e.g. a rejected subscription), since construction."""
        self.acks = 0
        """Subscription acknowledgements, since construction (venues that send them)."""
        self.pongs = 0
        """Replies to our ``ping_text``, since construction (venues that send them)."""
        self._detail = ""
        self._cause = False  # _detail says why this connection ended (watchdog, send failure)
        self._retry_at: float | None = None
        self._connected_at = 0.0
        self._last_recv = 0.0
        self._last_sent = 0.0
        self._pong_due: float | None = None
        self._last_status_at = float("-inf")
        self._status_pending: asyncio.TimerHandle | None = None
        self._last_malformed_log = float("-inf")
        self._malformed_unlogged = 0
        self._malformed_kinds: set[str] = set()  # rejection kinds already logged (≤ MAX_LOGGED_KINDS)
        self._last_error_log = float("-inf")
        self._errors_unlogged = 0
        self._last_sink_log = float("-inf")

    @property
    def channel_errors(self) -> int:
        """Same as :attr:`venue_errors` (the name :class:`HyperliquidStream` uses)."""
        return self.venue_errors

    # ---------------------------------------------------------------- subclass hooks

    def _subscribe_messages(self) -> list[str]:
        """Texts to send after every (re)connect, in order."""
        return []

    def _on_connection(self) -> None:
        """Called when a connection is established, before the subscriptions go out."""

    def _on_serving(self) -> None:
        """Called once a connection is CONNECTED and its writer and keepalive run (the
        subscriptions are queued, :meth:`send` works), before the first frame is read."""

    def _on_stopped(self) -> None:
        """Called when :meth:`run` ends, before the final STOPPED status."""

    def _handle(self, message: str | bytes, now: float) -> None:
        """Decode and dispatch one frame; raise :class:`WireError` if it does not validate."""
        raise NotImplementedError

    # ---------------------------------------------------------------- lifecycle

    async def run(self) -> None:
        """Connect and serve until :meth:`stop`; reconnect with the policy after any failure.

        Never raises for network or protocol problems (they become RETRYING status); returns
        after :meth:`stop` with state STOPPED. :raises RuntimeError: if already running.
        """
        if self._running:
            raise RuntimeError(f"{type(self).__name__}.run() is already running")
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
                    self._detail = exc_line(exc)
                    self.policy.disconnected()
                    self._set_retrying()
                    continue
                try:
                    await self._serve(ws)
                except Exception as exc:
                    self._detail = exc_line(exc)
                    self._log.debug("%s: connection ended: %s", self.feed, self._detail)
                finally:
                    self._ws = None
                    self._out = None
                    self.stale = False
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
            if self._status_pending is not None:
                self._status_pending.cancel()
                self._status_pending = None
            self._on_stopped()
            self._detail = ""
            self._retry_at = None
            self.stale = False
            self._set_state(FeedState.STOPPED)
            done.set()

    async def stop(self) -> None:
        """Stop :meth:`run` and return once it has finished (about ``close_timeout_s`` at most)."""
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()
        ws = self._ws
        if ws is not None:
            await self._close(ws)
        if self._running and self._done is not None:
            await self._done.wait()

    def send(self, text: str) -> None:
        """Queue ``text`` for sending on the current connection (dropped when disconnected)."""
        if self._out is not None:
            self._out.put_nowait(text)

    async def _connect(self) -> ClientConnection:
        return await connect(
            self.ws_url,
            open_timeout=self._open_timeout_s,
            close_timeout=self._close_timeout_s,
            # websockets pings and times the pong itself; server pings are always answered
            ping_interval=self.ping_interval_s if self.protocol_pings else None,
            ping_timeout=self.pong_timeout_s if self.protocol_pings else None,
            max_size=self.max_frame_bytes,
        )

    async def _close(self, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await ws.close()

    async def _until_stopped(self, awaitable: Coroutine[Any, Any, _T]) -> _T:
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
        self.policy.connected()
        self.connects += 1
        now = self._clock()
        self._connected_at = now
        self._last_recv = now
        self._last_sent = now
        self._pong_due = None
        out: asyncio.Queue[str] = asyncio.Queue()
        self._on_connection()
        for text in self._subscribe_messages():
            out.put_nowait(text)
        self._ws = ws
        self._out = out
        self._detail = ""
        self._cause = False
        self._retry_at = None
        self.stale = False
        self._set_state(FeedState.CONNECTED)
        writer = asyncio.create_task(self._writer(ws, out))
        keepalive = asyncio.create_task(self._keepalive(ws))
        self._on_serving()
        try:
            await self._reader(ws)
        finally:
            writer.cancel()
            keepalive.cancel()
            await asyncio.gather(writer, keepalive, return_exceptions=True)

    async def _reader(self, ws: ClientConnection) -> None:
        clock = self._clock
        dispatch = self._dispatch
        try:
            async for message in ws:
                now = clock()
                self._last_recv = now
                if self.stale:
                    self.stale = False
                    self._detail = ""
                    self._publish_status()
                dispatch(message, now)
        except websockets.ConnectionClosed as exc:
            if not self._cause:  # a close reason beats an earlier stale or venue-error detail
                frame = exc.rcvd or exc.sent
                code, reason = (None, "") if frame is None else (frame.code, frame.reason)
                self._detail = _close_detail(code, reason, "connection lost")
            return
        if not self._cause and not self._stopping:
            self._detail = _close_detail(ws.close_code, ws.close_reason or "", "connection closed")

    async def _writer(self, ws: ClientConnection, out: asyncio.Queue[str]) -> None:
        try:
            while True:
                message = await out.get()
                await ws.send(message)
                self._last_sent = self._clock()
                if self.subscribe_interval_s > 0 and message != self.ping_text:
                    await asyncio.sleep(self.subscribe_interval_s)
        except websockets.ConnectionClosed:
            return
        except Exception as exc:
            self._end(f"send failed: {exc_line(exc)}")
            await self._close(ws)

    def _end(self, detail: str) -> None:
        self._detail = detail
        self._cause = True

    async def _keepalive(self, ws: ClientConnection) -> None:
        clock = self._clock
        while True:
            now = clock()
            silent = now - self._last_recv
            if silent >= self.silence_timeout_s:
                self._end(f"no data for {self.silence_timeout_s:g} s")
                self._log.warning("%s: %s, reconnecting", self.feed, self._detail)
                await self._close(ws)
                return
            if self.max_connection_s is not None and now - self._connected_at >= self.max_connection_s:
                self._end(f"planned reconnect after {self.max_connection_s:g} s")
                self._log.info("%s: %s", self.feed, self._detail)
                await self._close(ws)
                return
            if self._pong_due is not None and now >= self._pong_due:
                self._end(f"no pong for {self.pong_timeout_s:g} s")
                self._log.warning("%s: %s, reconnecting", self.feed, self._detail)
                await self._close(ws)
                return
            deadlines = [self._last_recv + self.silence_timeout_s]
            if self.stale_after_s is not None and not self.stale:
                if silent >= self.stale_after_s:
                    self.stale = True
                    self._detail = f"stale: no data for {self.stale_after_s:g} s"
                    self._log.info("%s: %s", self.feed, self._detail)
                    self._publish_status()
                else:
                    deadlines.append(self._last_recv + self.stale_after_s)
            if self.ping_text is not None and self._pong_due is None:
                if self.pong_timed:  # a silent peer must be pinged too, to be found out
                    since = min(self._last_sent, self._last_recv)
                elif self.ping_only_when_idle:
                    since = max(self._last_sent, self._last_recv)
                else:
                    since = self._last_sent
                if now - since >= self.ping_interval_s:
                    self._last_sent = since = now
                    self.send(self.ping_text)
                    if self.pong_timed:
                        self._pong_due = now + self.pong_timeout_s
                deadlines.append(since + self.ping_interval_s)
            if self._pong_due is not None:
                deadlines.append(self._pong_due)
            if self.max_connection_s is not None:
                deadlines.append(self._connected_at + self.max_connection_s)
            await asyncio.sleep(max(min(deadlines) - now, 0.01))

    # ---------------------------------------------------------------- frames

    def _on_pong(self) -> None:
        """Count a reply to ``ping_text`` and clear its deadline (``pong_timed`` streams)."""
        self.pongs += 1
        self._pong_due = None

    def _dispatch(self, message: str | bytes, now: float) -> None:
        try:
            self._handle(message, now)
        except WireError as exc:
            self._on_malformed(message, str(exc), exc.kind)
        except MALFORMED_ERRORS as exc:  # decoding or number conversion gave up on the frame
            kind = type(exc).__name__
            self._on_malformed(message, f"{kind} while decoding", kind)  # the text may quote the payload
        except Exception:
            self._sink_failed()

    def _decode(self, message: str | bytes, error: type[WireError] = WireError) -> Any:
        """JSON of a text or binary frame. :raises error: ``"<feed>: frame is not JSON"``."""
        return loads(message, error, f"{self.feed}: frame")

    def _deliver(self, method: Callable[[Any], None], records: list[Any]) -> None:
        """Call a sink method with non-empty ``records``, counting (not propagating) failures."""
        if not records:
            return
        try:
            method(records)
        except Exception:
            self._sink_failed()

    def _emit_funding(self, records: list[VenueFunding]) -> None:
        self._deliver(self._sink.on_venue_funding, records)

    def _emit_liquidations(self, records: list[Liquidation]) -> None:
        self._deliver(self._sink.on_liquidations, records)

    def _sink_failed(self, what: str = "a frame") -> None:
        self.sink_errors += 1
        now = self._clock()
        if now - self._last_sink_log >= self._log_interval_s:
            self._log.exception("%s: error while handling %s (%d so far)", self.feed, what, self.sink_errors)
            self._last_sink_log = now

    def _on_malformed(self, message: str | bytes, reason: str, kind: str = "") -> None:
        """Count one dropped frame and log it once per kind.

        ``kind`` names a decoding failure (``"RecursionError"``, ``"OverflowError"`` …); without
        one the kind is ``reason`` with its digits removed (``"tickers message: field 'ts':
        timestamp too far in the future"``; array indices do not make new kinds). The first
        frame of each kind is logged at once (one line, no traceback); the rest, and every
        kind past :data:`MAX_LOGGED_KINDS`, in one summary line at most every
        ``log_interval_s``."""
        self.malformed += 1
        self._malformed_unlogged += 1
        now = self._clock()
        key = kind or reason.translate(_NO_DIGITS)[:120]
        kinds = self._malformed_kinds
        first_of_kind = key not in kinds and len(kinds) < MAX_LOGGED_KINDS
        if first_of_kind:
            kinds.add(key)
        if first_of_kind or now - self._last_malformed_log >= self._log_interval_s:
            self._log.warning(
                "%s: dropped %d malformed frame(s); latest (%d bytes): %s",
                self.feed,
                self._malformed_unlogged,
                len(message),
                reason,
            )
            self._last_malformed_log = now
            self._malformed_unlogged = 0
        self._counts_changed()

    def _on_venue_error(self, text: str) -> None:
        """Count an error answer of the venue and show it as the status detail."""
        self.venue_errors += 1
        self._errors_unlogged += 1
        self._detail = one_line(f"venue error: {text}")
        now = self._clock()
        if now - self._last_error_log >= self._log_interval_s:
            self._log.warning("%s: %d error message(s); latest: %s", self.feed, self._errors_unlogged, self._detail)
            self._last_error_log = now
            self._errors_unlogged = 0
        self._counts_changed()

    # ---------------------------------------------------------------- status

    def _set_retrying(self) -> None:
        self._retry_at = self.policy.retry_at()
        self._set_state(FeedState.RETRYING)
        self._log.info(
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
        """The current :class:`~pfterm.core.market.models.FeedStatus` of this stream."""
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
            self._log.exception("%s: sink raised in on_feed_status", self.feed)
