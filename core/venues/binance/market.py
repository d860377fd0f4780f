"""Binance USDⓈ-M futures: read-only funding, open interest and liquidations.

Wire facts (``docs/venues.md`` "Binance USDⓈ-M futures"; Binance derivatives docs):

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

The connection lifecycle (reconnect, staleness, status) is :class:`pfterm.core.venues.wsbase.VenueStream`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from pfterm.core.market.models import Liquidation, VenueFunding
from pfterm.core.venues import errors, numbers
from pfterm.core.venues.base import CrossVenueSink
from pfterm.core.venues.errors import VenueError
from pfterm.core.venues.public_rest import get_json
from pfterm.core.venues.reconnect import ReconnectPolicy
from pfterm.core.venues.wsbase import (
    ToSymbol,
    VenueStream,
    WireError,
    as_dict,
    as_list,
    checked,
    exc_line,
    int_field,
    loads,
    num,
    opt_num,
    str_field,
    time_field,
    wall_ms,
)

__all__ = [
    "BINANCE_REST_URL",
    "BINANCE_WS_URL",
    "DEFAULT_INTERVAL_H",
    "VENUE",
    "BinanceStream",
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

VENUE = "binance"
"""Venue label used in :class:`~pfterm.core.market.models.VenueFunding` and :class:`~pfterm.core.market.models.Liquidation`."""

BINANCE_REST_URL = "https://fapi.binance.com"
"""Binance USDⓈ-M futures REST base URL."""

BINANCE_WS_URL = "wss://fstream.binance.com/market/stream?streams=!markPrice@arr@1s/!forceOrder@arr"
"""Routed (``/market/``) combined stream: every mark price each second and every liquidation."""

DEFAULT_INTERVAL_H = 8.0
"""Funding interval of every symbol absent from ``/fapi/v1/fundingInfo`` (hours)."""

RATE_LIMITED_STATUSES = frozenset({418, 429})
"""Binance's rate-limit answers: 429 over the limit, 418 the IP banned for ignoring 429s."""

MAX_LIQUIDATION_ORDERS = 4096
"""Most liquidation orders :class:`BinanceStream` remembers to count each once."""

MAX_CONNECTION_S = 24 * 3600.0
"""Binance closes a WebSocket connection after 24 h."""

one_line = exc_line
"""Kept name of :func:`pfterm.core.venues.wsbase.exc_line` (one-line exception text)."""


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


# ---------------------------------------------------------------------------- REST parsers


def parse_funding_info(raw: Any) -> dict[str, float]:
    """``GET /fapi/v1/fundingInfo`` → ``{native: interval hours}``.

    Only symbols with a non-default setting are listed; look anything else up with
    ``.get(native, DEFAULT_INTERVAL_H)`` (8 h). :raises WireError: on a malformed body.
    """
    out: dict[str, float] = {}
    for item in as_list(loads(raw), "fundingInfo"):
        item = as_dict(item, "fundingInfo item")
        native = str_field(item, "symbol", "fundingInfo item")
        hours = num(item, "fundingIntervalHours", "fundingInfo item")
        if hours <= 0:
            raise WireError("fundingInfo item: fundingIntervalHours is not positive")
        out[native] = hours
    return out


def parse_open_interest(raw: Any) -> tuple[str, float]:
    """``GET /fapi/v1/openInterest?symbol=`` → ``(native, open interest in base units)``.

    :raises WireError: on a malformed body.
    """
    obj = as_dict(loads(raw), "openInterest")
    value = checked(
        num(obj, "openInterest", "openInterest"), numbers.check_open_interest, "openInterest", "openInterest"
    )
    return str_field(obj, "symbol", "openInterest"), value


def parse_premium_index(
    raw: Any,
    intervals: Mapping[str, float],
    oi: Mapping[str, float],
    now_ms: int,
    to_symbol: ToSymbol = default_to_symbol,
    *,
    rejected: list[str] | None = None,
) -> list[VenueFunding]:
    """``GET /fapi/v1/premiumIndex`` (all symbols) → one record per joined market.

    * ``rate`` = ``lastFundingRate`` (the running interval's rate), per ``intervals[native]``
      hours, else :data:`DEFAULT_INTERVAL_H` (8 h: ``fundingInfo`` lists only exceptions);
    * ``next_funding_ms`` = ``nextFundingTime``; ``mark_px`` / ``index_px`` from
      ``markPrice`` / ``indexPrice``;
    * ``oi_base`` = ``oi[native]`` (base units, one side) when known, ``oi_usd`` = ``oi_base × mark``;
    * ``time_ms`` = the item's ``time``, else ``now_ms``.

    Markets that ``to_symbol`` maps to ``None`` are skipped before validation. A market that
    does not validate (:func:`_mark_price_record` rules: prices > 0, rate within ±5 %, ``time``
    between 2015 and the wall clock + 1 day) is dropped alone, its reason appended to ``rejected``
    when given, else logged in one line per call.
    :raises WireError: on a malformed body, or when no market validated while some did not.
    """
    out: list[VenueFunding] = []
    reasons: list[str] = []
    for item in as_list(loads(raw), "premiumIndex"):
        try:
            item = as_dict(item, "premiumIndex item")
            native = str_field(item, "symbol", "premiumIndex item")
            symbol = to_symbol(native)
            if symbol is None:
                continue
            what = f"premiumIndex {native}"
            time_ms = time_field(item, "time", what, None) if item.get("time") is not None else now_ms
            out.append(
                _funding_record(
                    item,
                    native,
                    symbol,
                    ("markPrice", "indexPrice", "lastFundingRate", "nextFundingTime"),
                    intervals,
                    oi.get(native),
                    time_ms,
                    what,
                )
            )
        except WireError as exc:
            reasons.append(str(exc))
    _report("premiumIndex", reasons, bool(out), rejected)
    return out


def _price(item: Mapping[str, Any], key: str, what: str) -> float:
    """``item[key]`` as a price (finite, > 0). :raises WireError: otherwise."""
    return checked(num(item, key, what), numbers.check_price, key, what)


def _funding_record(
    item: Mapping[str, Any],
    native: str,
    symbol: str,
    keys: tuple[str, str, str, str],
    intervals: Mapping[str, float],
    oi_base: float | None,
    time_ms: int,
    what: str,
) -> VenueFunding:
    """One market's record from a ``premiumIndex`` item or a ``markPriceUpdate``, whose fields
    ``keys`` = (mark, index, rate, next funding time) carry the same values under other names:
    prices USD > 0 (the index optional), the rate per interval (``intervals``, else 8 h),
    ``oi_base`` base units (USD = × mark). :raises WireError: a field that does not validate."""
    mark_key, index_key, rate_key, next_key = keys
    mark = _price(item, mark_key, what)
    next_ms = int_field(item, next_key, what)
    index_px = _price(item, index_key, what) if opt_num(item, index_key, what) is not None else None
    return VenueFunding(
        venue=VENUE,
        symbol=symbol,
        native=native,
        rate=_rate(item, rate_key, what),
        interval_h=float(intervals.get(native, DEFAULT_INTERVAL_H)),
        next_funding_ms=next_ms or None,
        mark_px=mark,
        index_px=index_px,
        oi_base=oi_base,
        oi_usd=oi_base * mark if oi_base is not None else None,
        time_ms=time_ms,
    )


def _rate(item: Mapping[str, Any], key: str, what: str) -> float:
    """``item[key]`` as a funding rate per interval within ±5 % (:data:`numbers.MAX_RATE_PER_INTERVAL`,
    above every cap of ``fundingInfo``). :raises WireError: otherwise."""
    return checked(num(item, key, what), numbers.check_rate, key, what)


def _report(what: str, reasons: list[str], kept: bool, rejected: list[str] | None) -> None:
    """Raise the first reason when nothing was kept; else hand the reasons to ``rejected`` or
    log them in one line."""
    if not reasons:
        return
    if not kept:
        raise WireError(reasons[0])
    if rejected is not None:
        rejected.extend(reasons)
    else:
        log.warning("binance %s: %d malformed market(s) dropped; first: %s", what, len(reasons), reasons[0])


# ---------------------------------------------------------------------------- WS parsers


def _unwrap(raw: Any, what: str) -> tuple[str, Any]:
    """``(stream name or "", payload)`` of a combined (``{"stream","data"}``) or raw frame."""
    msg = loads(raw)
    if isinstance(msg, dict) and "stream" in msg and "data" in msg:
        stream = msg["stream"]
        if not isinstance(stream, str):
            raise WireError(f"{what}: field 'stream' is not a string")
        return stream, msg["data"]
    return "", msg


def _mark_price_record(
    item: Any, intervals: Mapping[str, float], oi: Mapping[str, float] | None, to_symbol: ToSymbol, now_ms: int | None
) -> VenueFunding | None:
    item = as_dict(item, "markPriceUpdate")
    native = str_field(item, "s", "markPriceUpdate")
    symbol = to_symbol(native)
    if symbol is None:
        return None
    what = f"markPriceUpdate {native}"
    # ``P`` is the estimated settle price: never the mark
    oi_base = oi.get(native) if oi is not None else None
    time_ms = time_field(item, "E", what, now_ms)
    return _funding_record(item, native, symbol, ("p", "i", "r", "T"), intervals, oi_base, time_ms, what)


def parse_mark_price_frame(
    raw: Any,
    intervals: Mapping[str, float],
    to_symbol: ToSymbol = default_to_symbol,
    *,
    oi: Mapping[str, float] | None = None,
    now_ms: int | None = None,
    rejected: list[str] | None = None,
) -> list[VenueFunding]:
    """A ``!markPrice@arr[@1s]`` frame (combined ``{"stream","data":[...]}`` or the bare array,
    or one ``<symbol>@markPrice`` object) → records.

    ``rate`` = ``r`` per ``intervals.get(native, 8)`` hours; ``next_funding_ms`` = ``T``;
    ``mark_px`` = ``p`` (``P``, the estimated settle price, is ignored); ``index_px`` = ``i``;
    ``time_ms`` = ``E``. ``oi_base`` comes from ``oi`` when given (the stream carries no open
    interest), ``oi_usd`` = ``oi_base × p``.

    Each item is validated on its own: ``p`` (and ``i`` when sent) > 0, ``r`` within ±5 % per
    interval, ``E`` between 2015 and ``now_ms`` (the local wall clock in ms; ``None`` reads it)
    + 1 day. An item that does not validate is dropped alone, its reason appended to
    ``rejected`` when given (else logged in one line per call).

    :raises WireError: on a malformed frame, or when no item validated while some did not.
    """
    _stream, data = _unwrap(raw, "markPrice frame")
    items = data if isinstance(data, list) else [data]
    out: list[VenueFunding] = []
    reasons: list[str] = []
    for item in items:
        try:
            record = _mark_price_record(item, intervals, oi, to_symbol, now_ms)
        except WireError as exc:
            reasons.append(str(exc))
            continue
        if record is not None:
            out.append(record)
    _report("markPrice", reasons, bool(out), rejected)
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
        item = as_dict(item, "forceOrder")
        order = as_dict(item.get("o"), "forceOrder.o")
        native = str_field(order, "s", "forceOrder.o")
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
        size = opt_num(order, "z", what) or 0.0
        if size <= 0:
            size = num(order, "q", what)
        price = opt_num(order, "ap", what) or 0.0
        if price <= 0:
            price = num(order, "p", what)
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
                time_ms=time_field(order, "T", what, None),
            )
        )
    return out


# ---------------------------------------------------------------------------- REST snapshot


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
    premium index) with at most ``concurrency`` requests in flight, paced within the host's
    weight budget (:data:`pfterm.core.venues.public_rest.HOST_LIMITS`: 2400 per minute,
    ``premiumIndex`` weighs 10, ``openInterest`` 1). A failed or malformed open-interest answer
    leaves that market's OI ``None`` (logged once per call) rather than failing the snapshot; a
    rate-limit answer (HTTP 418, 429, or a host closed by an earlier ``Retry-After``) stops the
    rest of the fan-out, whose OI stays ``None``. The two bulk requests must succeed.

    :raises VenueError: a bulk request failed or answered with an error status.
    :raises WireError: a bulk answer was malformed.
    """
    base = base_url.rstrip("/")
    now = now_ms if now_ms is not None else wall_ms()
    premium_raw, info_raw = await asyncio.gather(
        get_json(client, f"{base}/fapi/v1/premiumIndex", venue=VENUE, weight=10),
        get_json(client, f"{base}/fapi/v1/fundingInfo", venue=VENUE),
    )
    intervals = parse_funding_info(info_raw)
    if oi_symbols is None:
        rows = parse_premium_index(premium_raw, intervals, {}, now, to_symbol)
        wanted = [r.native for r in rows]
    else:
        wanted = list(dict.fromkeys(oi_symbols))
    gate = asyncio.Semaphore(max(1, concurrency))
    failures: list[str] = []
    halted = False  # a rate-limit answer stops the rest of the fan-out

    async def one(native: str) -> tuple[str, float] | None:
        nonlocal halted
        async with gate:
            if halted:
                return None
            try:
                return parse_open_interest(
                    await get_json(client, f"{base}/fapi/v1/openInterest", {"symbol": native}, venue=VENUE, attempts=1)
                )
            except (VenueError, WireError) as exc:
                failures.append(exc_line(exc))
                if isinstance(exc, VenueError) and exc.status in RATE_LIMITED_STATUSES:
                    halted = True
                return None

    results = await asyncio.gather(*(one(n) for n in wanted))
    if failures:
        skipped = sum(r is None for r in results) - len(failures)
        log.warning(
            "binance: open interest missing for %d market(s)%s; first: %s",
            len(failures) + skipped,
            f" ({skipped} not asked after a rate limit)" if skipped else "",
            failures[0],
        )
    oi = {native: value for native, value in (r for r in results if r is not None)}
    return parse_premium_index(premium_raw, intervals, oi, now, to_symbol)


# ---------------------------------------------------------------------------- streaming


class BinanceStream(VenueStream):
    """Binance's ``!markPrice@arr@1s`` and ``!forceOrder@arr`` combined stream.

    * mark-price arrays → ``sink.on_venue_funding(records)`` (rates per ``intervals`` hours,
      8 h when absent; OI from ``oi`` when given, else ``None``);
    * force orders → ``sink.on_liquidations(records)``, each order counted once (a repeated
      snapshot of the same order delivers only its newly filled size, see :meth:`_new_fills`);
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
            stale_after_s=stale_after_s,
            silence_timeout_s=silence_timeout_s,
            max_connection_s=max_connection_s,
            **kwargs,
        )
        self.intervals: Mapping[str, float] = intervals if intervals is not None else {}
        self.oi = oi
        self._to_symbol = to_symbol
        self._liq_filled: OrderedDict[tuple[str, str, int], float] = OrderedDict()
        """``(native, side, order time T ms) → filled size (base units) already delivered``; bounded:
        the :data:`MAX_LIQUIDATION_ORDERS` most recent orders (an open universe, oldest dropped)."""
        self.repeated_liquidations = 0
        """``forceOrder`` snapshots of an order already delivered with no new fill, dropped."""

    def _new_fills(self, records: list[Liquidation]) -> list[Liquidation]:
        """What ``records`` add to the liquidations already delivered.

        Binance sends a ``forceOrder`` snapshot per order at most every second while it fills,
        ``o.z`` the accumulated filled size (docs/venues.md, Binance ``forceOrder``): the same
        order (``native``, ``side``, order time ``o.T``) is counted once. Its first snapshot is
        delivered whole; a later one only for the size filled since (``size_base`` and ``usd``
        of the increase, at the snapshot's average price), or dropped (counted in
        :attr:`repeated_liquidations`) when nothing more was filled."""
        out: list[Liquidation] = []
        seen = self._liq_filled
        for rec in records:
            key = (rec.native, rec.side, rec.time_ms)
            before = seen.get(key)
            if before is None:
                out.append(rec)
            elif rec.size_base > before:
                added = rec.size_base - before
                out.append(dataclasses.replace(rec, size_base=added, usd=added * rec.price))
            else:
                self.repeated_liquidations += 1
                continue
            seen[key] = rec.size_base
            seen.move_to_end(key)
            if len(seen) > MAX_LIQUIDATION_ORDERS:
                seen.popitem(last=False)
        return out

    def _handle(self, message: str | bytes, now: float) -> None:
        msg = loads(message)
        stream, data = _unwrap(msg, "binance frame")
        if not stream:
            if isinstance(msg, dict) and ("result" in msg or "error" in msg) and "id" in msg:
                if msg.get("error") is not None:
                    err = msg["error"]
                    self._on_venue_error(errors.one_line(str(err.get("msg", ""))) if isinstance(err, dict) else "error")
                return
        first = data[0] if isinstance(data, list) and data else data
        event = first.get("e") if isinstance(first, dict) else None
        if "markPrice" in stream or event == "markPriceUpdate":
            rejected: list[str] = []
            records = parse_mark_price_frame(
                data, self.intervals, self._to_symbol, oi=self.oi, now_ms=self._wall_ms(), rejected=rejected
            )
            for reason in rejected:
                self._on_malformed(message, reason)
            self._emit_funding(records)
        elif "forceOrder" in stream or event == "forceOrder":
            self._emit_liquidations(self._new_fills(parse_force_order_frame(data, self._to_symbol)))
        elif isinstance(data, list) and not data:
            return
        else:
            raise WireError("binance frame: unknown stream or event")
