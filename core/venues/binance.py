"""Binance USDⓈ-M futures: read-only funding, open interest and liquidations.

Wire facts (``VENUES.md`` "Binance USDⓈ-M futures"; Binance derivatives docs):

* REST ``https://fapi.binance.com``:

  - ``GET /fapi/v1/premiumIndex`` (no ``symbol``: every market) → ``[{symbol, markPrice,
    indexPrice, estimatedSettlePrice, lastFundingRate, interestRate, nextFundingTime, time}]``.
    Despite its name ``lastFundingRate`` is the rate of the *running* interval (the one
    settled at ``nextFundingTime``). Dated contracts (``BTCUSDT_250926``) report
    ``lastFundingRate: ""`` and ``nextFundingTime: 0``; they are skipped by the symbol rule.
  - ``GET /fapi/v1/fundingInfo`` → ``[{symbol, adjustedFundingRateCap, adjustedFundingRateFloor,
    fundingIntervalHours, disclaimer}]`` — *only* symbols whose cap/floor/interval was changed;
    every symbol not listed settles every **8 h**.
  - ``GET /fapi/v1/openInterest?symbol=`` → ``{openInterest, symbol, time}`` in base units,
    one symbol per request (weight 1).

* WebSocket: market streams are routed under ``/market/`` since 2026-04:
  ``wss://fstream.binance.com/market/stream?streams=!markPrice@arr@1s/!forceOrder@arr``.
  Combined frames are ``{"stream": name, "data": payload}``:

  - ``!markPrice@arr@1s`` → ``data`` is a list of ``markPriceUpdate`` objects: ``p`` mark,
    ``i`` index, ``P`` estimated *settle price* (not a rate: never used as the mark),
    ``r`` funding rate, ``T`` next funding time, ``E`` event time;
  - ``!forceOrder@arr`` → ``data`` is one ``forceOrder`` object per message (Binance sends
    only the latest liquidation per symbol per second). ``o.S`` is the side of the
    liquidation *order*: ``SELL`` closes a long, so a ``SELL`` means a LONG was liquidated.

  The server pings; the ``websockets`` library answers pings with pongs by itself (see
  ``tests/test_venue_binance.py``). A connection lives at most 24 h, so the client
  reconnects on its own a little earlier (``max_connection_s``).

Symbols: markets are joined under Hyperliquid-style names by ``to_symbol`` (default
:func:`default_to_symbol`: ``BTCUSDT`` → ``BTC``, ``1000PEPEUSDT`` → ``kPEPE``; everything
that is not a ``XXXUSDT`` linear perpetual → ``None`` = skipped).

This module also holds :class:`JsonStream`, the reconnecting JSON WebSocket client shared
with :mod:`core.venues.bybit` (it lives here only because no other module may be created
for it yet; it belongs in a neutral ``core/venues`` module).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

import httpx
import websockets
from websockets.asyncio.client import ClientConnection, connect

from core.models import FeedState, FeedStatus, Liquidation, VenueFunding
from core.venues.base import CrossVenueSink
from core.venues.reconnect import Clock, ReconnectPolicy, Stopped, unless_stopped

__all__ = [
    "BINANCE_REST_URL",
    "BINANCE_WS_URL",
    "DEFAULT_INTERVAL_H",
    "VENUE",
    "BinanceStream",
    "JsonStream",
    "ToSymbol",
    "VenueError",
    "WireError",
    "default_to_symbol",
    "fetch_snapshot",
    "parse_force_order_frame",
    "parse_funding_info",
    "parse_mark_price_frame",
    "parse_open_interest",
    "parse_premium_index",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

VENUE = "binance"
"""Venue label used in :class:`~core.models.VenueFunding` and :class:`~core.models.Liquidation`."""

BINANCE_REST_URL = "https://fapi.binance.com"
"""Binance USDⓈ-M futures REST base URL."""

BINANCE_WS_URL = "wss://fstream.binance.com/market/stream?streams=!markPrice@arr@1s/!forceOrder@arr"
"""Routed (``/market/``) combined stream: every mark price each second and every liquidation."""

DEFAULT_INTERVAL_H = 8.0
"""Funding interval of every symbol absent from ``/fapi/v1/fundingInfo`` (hours)."""

MAX_CONNECTION_S = 24 * 3600.0
"""Binance closes a WebSocket connection after 24 h."""

ToSymbol = Callable[[str], "str | None"]
"""Maps a venue's native market name to the joined symbol, or ``None`` to skip the market."""


class WireError(ValueError):
    """A venue payload did not have the documented shape. The message is one line and never
    quotes the payload."""


class VenueError(Exception):
    """A venue REST request failed (transport error, HTTP status, or an error body); one line."""


# ---------------------------------------------------------------------------- symbols


def default_to_symbol(native: str) -> str | None:
    """Joined symbol of a USDT-margined linear perpetual named ``<BASE>USDT``, else ``None``.

    ``BTCUSDT`` → ``"BTC"``; ``1000PEPEUSDT`` → ``"kPEPE"`` (a ``1000`` prefix followed by a
    letter becomes Hyperliquid's ``k`` prefix, same unit). ``BTCUSDC``, ``BTCUSD_PERP``,
    ``BTCUSDT_250926`` (dated), ``BTC-26DEC25`` → ``None``.
    """
    if not native.endswith("USDT"):
        return None
    base = native[:-4]
    if not base or not base.isalnum() or not base.isascii():
        return None
    if base.startswith("1000") and len(base) > 4 and base[4].isalpha():
        return "k" + base[4:]
    return base


# ---------------------------------------------------------------------------- field helpers


def _num(obj: Mapping[str, Any], key: str, what: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or value is None:
        raise WireError(f"{what}: field {key!r} missing")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise WireError(f"{what}: field {key!r} is not a number") from None
    if not math.isfinite(out):
        raise WireError(f"{what}: field {key!r} is not finite")
    return out


def _opt_num(obj: Mapping[str, Any], key: str, what: str) -> float | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    return _num(obj, key, what)


def _int(obj: Mapping[str, Any], key: str, what: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or value is None:
        raise WireError(f"{what}: field {key!r} missing")
    try:
        if isinstance(value, str):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int):
            return value
    except ValueError:
        pass
    raise WireError(f"{what}: field {key!r} is not an integer")


def _str(obj: Mapping[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise WireError(f"{what}: field {key!r} missing or not a string")
    return value


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise WireError(f"{what}: expected an array, got {type(value).__name__}")
    return value


def _loads(raw: str | bytes | Any) -> Any:
    if isinstance(raw, (str, bytes, bytearray)):
        try:
            return json.loads(raw)
        except ValueError:
            raise WireError("frame is not JSON") from None
    return raw


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def one_line(exc: BaseException) -> str:
    """``"<ExceptionName>: <message>"`` on one line, at most 160 characters."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    line = f"{name}: {text}" if text else name
    return line[:160]


# ---------------------------------------------------------------------------- REST parsers


def parse_funding_info(raw: Any) -> dict[str, float]:
    """``GET /fapi/v1/fundingInfo`` → ``{native: interval hours}``.

    Only symbols with a non-default setting are listed; look anything else up with
    ``.get(native, DEFAULT_INTERVAL_H)`` (8 h). :raises WireError: on a malformed body.
    """
    out: dict[str, float] = {}
    for item in _list(_loads(raw), "fundingInfo"):
        item = _dict(item, "fundingInfo item")
        native = _str(item, "symbol", "fundingInfo item")
        hours = _num(item, "fundingIntervalHours", "fundingInfo item")
        if hours <= 0:
            raise WireError("fundingInfo item: fundingIntervalHours is not positive")
        out[native] = hours
    return out


def parse_open_interest(raw: Any) -> tuple[str, float]:
    """``GET /fapi/v1/openInterest?symbol=`` → ``(native, open interest in base units)``.

    :raises WireError: on a malformed body.
    """
    obj = _dict(_loads(raw), "openInterest")
    return _str(obj, "symbol", "openInterest"), _num(obj, "openInterest", "openInterest")


def parse_premium_index(
    raw: Any,
    intervals: Mapping[str, float],
    oi: Mapping[str, float],
    now_ms: int,
    to_symbol: ToSymbol = default_to_symbol,
) -> list[VenueFunding]:
    """``GET /fapi/v1/premiumIndex`` (all symbols) → one record per joined market.

    * ``rate`` = ``lastFundingRate`` (the running interval's rate), per ``intervals[native]``
      hours, else :data:`DEFAULT_INTERVAL_H` (8 h: ``fundingInfo`` lists only exceptions);
    * ``next_funding_ms`` = ``nextFundingTime``; ``mark_px`` / ``index_px`` from
      ``markPrice`` / ``indexPrice``;
    * ``oi_base`` = ``oi[native]`` (base units, one side) when known, ``oi_usd`` = ``oi_base × mark``;
    * ``time_ms`` = the item's ``time``, else ``now_ms``.

    Markets that ``to_symbol`` maps to ``None`` are skipped before validation.
    :raises WireError: on a malformed body or item.
    """
    out: list[VenueFunding] = []
    for item in _list(_loads(raw), "premiumIndex"):
        item = _dict(item, "premiumIndex item")
        native = _str(item, "symbol", "premiumIndex item")
        symbol = to_symbol(native)
        if symbol is None:
            continue
        what = f"premiumIndex {native}"
        mark = _num(item, "markPrice", what)
        next_ms = _int(item, "nextFundingTime", what)
        oi_base = oi.get(native)
        time_ms = _int(item, "time", what) if item.get("time") is not None else now_ms
        out.append(
            VenueFunding(
                venue=VENUE,
                symbol=symbol,
                native=native,
                rate=_num(item, "lastFundingRate", what),
                interval_h=float(intervals.get(native, DEFAULT_INTERVAL_H)),
                next_funding_ms=next_ms or None,
                mark_px=mark,
                index_px=_opt_num(item, "indexPrice", what),
                oi_base=oi_base,
                oi_usd=oi_base * mark if oi_base is not None else None,
                time_ms=time_ms,
            )
        )
    return out


# ---------------------------------------------------------------------------- WS parsers


def _unwrap(raw: Any, what: str) -> tuple[str, Any]:
    """``(stream name or "", payload)`` of a combined (``{"stream","data"}``) or raw frame."""
    msg = _loads(raw)
    if isinstance(msg, dict) and "stream" in msg and "data" in msg:
        stream = msg["stream"]
        if not isinstance(stream, str):
            raise WireError(f"{what}: field 'stream' is not a string")
        return stream, msg["data"]
    return "", msg


def _mark_price_record(
    item: Any, intervals: Mapping[str, float], oi: Mapping[str, float] | None, to_symbol: ToSymbol
) -> VenueFunding | None:
    item = _dict(item, "markPriceUpdate")
    native = _str(item, "s", "markPriceUpdate")
    symbol = to_symbol(native)
    if symbol is None:
        return None
    what = f"markPriceUpdate {native}"
    mark = _num(item, "p", what)  # ``P`` is the estimated settle price: never the mark
    next_ms = _int(item, "T", what)
    oi_base = oi.get(native) if oi is not None else None
    return VenueFunding(
        venue=VENUE,
        symbol=symbol,
        native=native,
        rate=_num(item, "r", what),
        interval_h=float(intervals.get(native, DEFAULT_INTERVAL_H)),
        next_funding_ms=next_ms or None,
        mark_px=mark,
        index_px=_opt_num(item, "i", what),
        oi_base=oi_base,
        oi_usd=oi_base * mark if oi_base is not None else None,
        time_ms=_int(item, "E", what),
    )


def parse_mark_price_frame(
    raw: Any,
    intervals: Mapping[str, float],
    to_symbol: ToSymbol = default_to_symbol,
    *,
    oi: Mapping[str, float] | None = None,
) -> list[VenueFunding]:
    """A ``!markPrice@arr[@1s]`` frame (combined ``{"stream","data":[...]}`` or the bare array,
    or one ``<symbol>@markPrice`` object) → records.

    ``rate`` = ``r`` per ``intervals.get(native, 8)`` hours; ``next_funding_ms`` = ``T``;
    ``mark_px`` = ``p`` (``P``, the estimated settle price, is ignored); ``index_px`` = ``i``;
    ``time_ms`` = ``E``. ``oi_base`` comes from ``oi`` when given (the stream carries no open
    interest), ``oi_usd`` = ``oi_base × p``. :raises WireError: on a malformed frame.
    """
    _stream, data = _unwrap(raw, "markPrice frame")
    items = data if isinstance(data, list) else [data]
    out: list[VenueFunding] = []
    for item in items:
        record = _mark_price_record(item, intervals, oi, to_symbol)
        if record is not None:
            out.append(record)
    return out


def parse_force_order_frame(raw: Any, to_symbol: ToSymbol = default_to_symbol) -> list[Liquidation]:
    """A ``forceOrder`` frame (combined, bare object, or an array of them) → liquidations.

    ``o.S == "SELL"`` (the liquidation order sells) → a ``"long"`` was liquidated, ``"BUY"``
    → ``"short"``. Size: ``o.z`` (filled accumulated quantity) when positive, else ``o.q``
    (order quantity), base units. Price: ``o.ap`` (average fill price) when positive, else
    ``o.p`` (order price). Time: ``o.T``. :raises WireError: on a malformed frame.
    """
    _stream, data = _unwrap(raw, "forceOrder frame")
    items = data if isinstance(data, list) else [data]
    out: list[Liquidation] = []
    for item in items:
        item = _dict(item, "forceOrder")
        order = _dict(item.get("o"), "forceOrder.o")
        native = _str(order, "s", "forceOrder.o")
        symbol = to_symbol(native)
        if symbol is None:
            continue
        what = f"forceOrder {native}"
        side_raw = order.get("S")
        if side_raw == "SELL":
            side = "long"
        elif side_raw == "BUY":
            side = "short"
        else:
            raise WireError(f"{what}: field 'S' is not BUY or SELL")
        size = _opt_num(order, "z", what) or 0.0
        if size <= 0:
            size = _num(order, "q", what)
        price = _opt_num(order, "ap", what) or 0.0
        if price <= 0:
            price = _num(order, "p", what)
        if size <= 0 or price <= 0:
            raise WireError(f"{what}: size or price is not positive")
        out.append(
            Liquidation(
                venue=VENUE,
                symbol=symbol,
                native=native,
                side=side,
                size_base=size,
                price=price,
                usd=size * price,
                time_ms=_int(order, "T", what),
            )
        )
    return out


# ---------------------------------------------------------------------------- REST snapshot


async def _get_json(client: httpx.AsyncClient, url: str, params: Mapping[str, str] | None = None) -> Any:
    path = httpx.URL(url).path
    try:
        response = await client.get(url, params=params)
    except httpx.HTTPError as exc:
        raise VenueError(f"binance {path}: {one_line(exc)}") from None
    if response.status_code != 200:
        raise VenueError(f"binance {path}: HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise VenueError(f"binance {path}: body is not JSON") from None


async def fetch_snapshot(
    client: httpx.AsyncClient,
    base_url: str = BINANCE_REST_URL,
    *,
    to_symbol: ToSymbol = default_to_symbol,
    oi_symbols: Sequence[str] | None = None,
    now_ms: int | None = None,
    concurrency: int = 8,
) -> list[VenueFunding]:
    """Every joined Binance market's funding, interval, next settlement, prices and OI.

    Requests ``premiumIndex`` (all symbols) and ``fundingInfo`` concurrently, then
    ``openInterest`` for ``oi_symbols`` (natives; default: every joined market of the
    premium index) with at most ``concurrency`` requests in flight. A failed or malformed
    open-interest answer leaves that market's OI ``None`` (logged once per call) rather than
    failing the snapshot; the two bulk requests must succeed.

    :raises VenueError: a bulk request failed or answered with an error status.
    :raises WireError: a bulk answer was malformed.
    """
    base = base_url.rstrip("/")
    now = now_ms if now_ms is not None else _wall_ms()
    premium_raw, info_raw = await asyncio.gather(
        _get_json(client, f"{base}/fapi/v1/premiumIndex"),
        _get_json(client, f"{base}/fapi/v1/fundingInfo"),
    )
    intervals = parse_funding_info(info_raw)
    if oi_symbols is None:
        rows = parse_premium_index(premium_raw, intervals, {}, now, to_symbol)
        wanted = [r.native for r in rows]
    else:
        wanted = list(dict.fromkeys(oi_symbols))
    gate = asyncio.Semaphore(max(1, concurrency))
    failures: list[str] = []

    async def one(native: str) -> tuple[str, float] | None:
        async with gate:
            try:
                return parse_open_interest(
                    await _get_json(client, f"{base}/fapi/v1/openInterest", {"symbol": native})
                )
            except (VenueError, WireError) as exc:
                failures.append(one_line(exc))
                return None

    results = await asyncio.gather(*(one(n) for n in wanted))
    if failures:
        log.warning("binance: open interest missing for %d market(s); first: %s", len(failures), failures[0])
    oi = {native: value for native, value in (r for r in results if r is not None)}
    return parse_premium_index(premium_raw, intervals, oi, now, to_symbol)


# ---------------------------------------------------------------------------- streaming


class JsonStream:
    """One JSON WebSocket connection to a read-only venue, kept alive until stopped.

    Mirrors :class:`core.venues.hyperliquid.stream.HyperliquidStream`: reconnection is paced by
    a :class:`~core.venues.reconnect.ReconnectPolicy` (jittered backoff, connection budget);
    state goes to ``sink.on_feed_status`` (CONNECTING → CONNECTED → RETRYING … → STOPPED);
    frames that fail to parse are dropped and counted (:attr:`malformed`, logged at most once
    per ``log_interval_s``); a sink that raises is logged and counted, never fatal.

    Liveness:

    * ``stale_after_s`` without any frame → :attr:`stale` becomes true and a status with
      detail ``"stale: no data for N s"`` is published (state stays CONNECTED: the models have
      no STALE state); the next frame clears it and publishes again;
    * ``silence_timeout_s`` without any frame → the connection is closed and re-established;
    * ``max_connection_s`` after connecting → closed and re-established (venue lifetime caps);
    * ``ping_text`` (if set) is sent whenever nothing was sent for ``ping_interval_s``.

    Protocol-level pings from the server are answered by ``websockets`` itself.
    Subclasses implement :meth:`_handle` and may override :meth:`_on_open_messages`.
    """

    def __init__(
        self,
        sink: CrossVenueSink,
        ws_url: str,
        *,
        feed: str,
        policy: ReconnectPolicy | None = None,
        ping_text: str | None = None,
        ping_interval_s: float = 20.0,
        stale_after_s: float = 10.0,
        silence_timeout_s: float = 60.0,
        max_connection_s: float | None = None,
        open_timeout_s: float = 10.0,
        close_timeout_s: float = 2.0,
        log_interval_s: float = 10.0,
        status_interval_s: float = 0.25,
        clock: Clock = time.monotonic,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        if min(ping_interval_s, stale_after_s, silence_timeout_s) <= 0 or (
            max_connection_s is not None and max_connection_s <= 0
        ):
            raise ValueError("intervals and timeouts must be positive")
        self._sink = sink
        self._log = logging.getLogger(type(self).__module__)
        self.ws_url = ws_url
        self.feed = feed
        self.policy = policy if policy is not None else ReconnectPolicy(clock=clock)
        self.ping_text = ping_text
        self.ping_interval_s = ping_interval_s
        self.stale_after_s = stale_after_s
        self.silence_timeout_s = silence_timeout_s
        self.max_connection_s = max_connection_s
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
        """Frames dropped because they did not parse, since construction."""
        self.connects = 0
        """Successful connections, since construction."""
        self.sink_errors = 0
        """Exceptions raised by the sink while handling frames."""
        self.venue_errors = 0
        """Error answers from the venue (e.g. a rejected subscription)."""
        self._detail = ""
        self._retry_at: float | None = None
        self._connected_at = 0.0
        self._last_recv = 0.0
        self._last_sent = 0.0
        self._last_status_at = float("-inf")
        self._status_pending: asyncio.TimerHandle | None = None
        self._last_malformed_log = float("-inf")
        self._malformed_unlogged = 0
        self._last_sink_log = float("-inf")

    # ---------------------------------------------------------------- hooks

    def _on_open_messages(self) -> list[str]:
        """Texts to send right after each (re)connect (e.g. subscriptions)."""
        return []

    def _handle(self, message: str | bytes, now: float) -> None:
        """Parse one frame and call the sink; raise :class:`WireError` if malformed."""
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
                    self._detail = one_line(exc)
                    self.policy.disconnected()
                    self._set_retrying()
                    continue
                try:
                    await self._serve(ws)
                except Exception as exc:
                    self._detail = one_line(exc)
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
            ping_interval=None,  # server pings are answered automatically; liveness below
            max_size=16 * 1024 * 1024,
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
        out: asyncio.Queue[str] = asyncio.Queue()
        for text in self._on_open_messages():
            out.put_nowait(text)
        self._ws = ws
        self._out = out
        self._detail = ""
        self._retry_at = None
        self.stale = False
        self._set_state(FeedState.CONNECTED)
        writer = asyncio.create_task(self._writer(ws, out))
        keepalive = asyncio.create_task(self._keepalive(ws))
        try:
            await self._reader(ws)
        finally:
            writer.cancel()
            keepalive.cancel()
            await asyncio.gather(writer, keepalive, return_exceptions=True)

    async def _reader(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                now = self._clock()
                self._last_recv = now
                if self.stale:
                    self.stale = False
                    self._detail = ""
                    self._publish_status()
                self._dispatch(message, now)
        except websockets.ConnectionClosed as exc:
            if not self._detail:
                self._detail = _close_detail(exc)
            return
        if not self._detail and not self._stopping:
            code = ws.close_code
            self._detail = "connection closed" if code is None else f"closed: code {code}"

    async def _writer(self, ws: ClientConnection, out: asyncio.Queue[str]) -> None:
        try:
            while True:
                message = await out.get()
                await ws.send(message)
                self._last_sent = self._clock()
        except websockets.ConnectionClosed:
            return
        except Exception as exc:
            self._detail = f"send failed: {one_line(exc)}"
            await self._close(ws)

    async def _keepalive(self, ws: ClientConnection) -> None:
        clock = self._clock
        while True:
            now = clock()
            silent = now - self._last_recv
            if silent >= self.silence_timeout_s:
                self._detail = f"no data for {self.silence_timeout_s:g} s"
                self._log.warning("%s: %s, reconnecting", self.feed, self._detail)
                await self._close(ws)
                return
            if self.max_connection_s is not None and now - self._connected_at >= self.max_connection_s:
                self._detail = f"planned reconnect after {self.max_connection_s:g} s"
                self._log.info("%s: %s", self.feed, self._detail)
                await self._close(ws)
                return
            if silent >= self.stale_after_s and not self.stale:
                self.stale = True
                self._detail = f"stale: no data for {self.stale_after_s:g} s"
                self._log.info("%s: %s", self.feed, self._detail)
                self._publish_status()
            if self.ping_text is not None and now - self._last_sent >= self.ping_interval_s:
                self._last_sent = now
                self.send(self.ping_text)
            deadlines = [self._last_recv + self.silence_timeout_s]
            if not self.stale:
                deadlines.append(self._last_recv + self.stale_after_s)
            if self.ping_text is not None:
                deadlines.append(self._last_sent + self.ping_interval_s)
            if self.max_connection_s is not None:
                deadlines.append(self._connected_at + self.max_connection_s)
            await asyncio.sleep(max(min(deadlines) - now, 0.01))

    # ---------------------------------------------------------------- frames

    def _dispatch(self, message: str | bytes, now: float) -> None:
        try:
            self._handle(message, now)
        except WireError as exc:
            self._on_malformed(message, str(exc))
        except Exception:
            self._sink_failed()

    def _deliver(self, method: Callable[[Any], None], records: list[Any]) -> None:
        """Call a sink method, counting (not propagating) its failures."""
        if not records:
            return
        try:
            method(records)
        except Exception:
            self._sink_failed()

    def _sink_failed(self) -> None:
        self.sink_errors += 1
        now = self._clock()
        if now - self._last_sink_log >= self._log_interval_s:
            self._log.exception("%s: sink raised (%d so far)", self.feed, self.sink_errors)
            self._last_sink_log = now

    def _on_malformed(self, message: str | bytes, reason: str) -> None:
        self.malformed += 1
        self._malformed_unlogged += 1
        now = self._clock()
        if now - self._last_malformed_log >= self._log_interval_s:
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
        self.venue_errors += 1
        self._detail = f"venue error: {' '.join(text.split())}"[:160]
        self._log.warning("%s: %s", self.feed, self._detail)
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
            self._log.exception("%s: sink raised in on_feed_status", self.feed)


def _close_detail(exc: websockets.ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "connection lost"
    reason = f" {frame.reason}" if frame.reason else ""
    return f"closed: code {frame.code}{reason}"[:160]


class BinanceStream(JsonStream):
    """Binance's ``!markPrice@arr@1s`` and ``!forceOrder@arr`` combined stream.

    * mark-price arrays → ``sink.on_venue_funding(records)`` (rates per ``intervals`` hours,
      8 h when absent; OI from ``oi`` when given, else ``None``);
    * force orders → ``sink.on_liquidations(records)``;
    * anything else that parses as JSON (e.g. a ``{"result": null, "id": …}`` answer) is
      ignored; an ``{"error": …}`` answer is counted as a venue error.

    ``intervals`` and ``oi`` are read on every frame, so the caller may keep them up to date
    (e.g. from a periodic :func:`fetch_snapshot`). Defaults: stale after 5 s (the stream ticks
    every second), reconnect after 30 s of silence and before Binance's 24 h limit.
    """

    def __init__(
        self,
        sink: CrossVenueSink,
        ws_url: str = BINANCE_WS_URL,
        *,
        intervals: Mapping[str, float] | None = None,
        oi: Mapping[str, float] | None = None,
        to_symbol: ToSymbol = default_to_symbol,
        policy: ReconnectPolicy | None = None,
        feed: str = "binance/ws",
        stale_after_s: float = 5.0,
        silence_timeout_s: float = 30.0,
        max_connection_s: float = MAX_CONNECTION_S - 15 * 60,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            sink,
            ws_url,
            feed=feed,
            policy=policy,
            ping_text=None,
            stale_after_s=stale_after_s,
            silence_timeout_s=silence_timeout_s,
            max_connection_s=max_connection_s,
            **kwargs,
        )
        self.intervals: Mapping[str, float] = intervals if intervals is not None else {}
        self.oi = oi
        self._to_symbol = to_symbol

    def _handle(self, message: str | bytes, now: float) -> None:
        msg = _loads(message)
        stream, data = _unwrap(msg, "binance frame")
        if not stream:
            if isinstance(msg, dict) and ("result" in msg or "error" in msg) and "id" in msg:
                if msg.get("error") is not None:
                    err = msg["error"]
                    self._on_venue_error(str(err.get("msg", "")) if isinstance(err, dict) else "error")
                return
        first = data[0] if isinstance(data, list) and data else data
        event = first.get("e") if isinstance(first, dict) else None
        if "markPrice" in stream or event == "markPriceUpdate":
            records = parse_mark_price_frame(data, self.intervals, self._to_symbol, oi=self.oi)
            self._deliver(self._sink.on_venue_funding, records)
        elif "forceOrder" in stream or event == "forceOrder":
            self._deliver(self._sink.on_liquidations, parse_force_order_frame(data, self._to_symbol))
        elif isinstance(data, list) and not data:
            return
        else:
            raise WireError("binance frame: unknown stream or event")

