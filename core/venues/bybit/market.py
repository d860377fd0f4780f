"""Bybit v5 linear perpetuals: read-only funding, open interest and liquidations.

Wire facts (``docs/venues.md`` "Bybit v5"; Bybit v5 docs):

* REST ``GET https://api.bybit.com/v5/market/tickers?category=linear`` →
  ``{"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [...]}, "time": ms}``;
  each item carries (all strings) ``symbol, fundingRate, nextFundingTime,
  fundingIntervalHour, fundingCap, markPrice, indexPrice, openInterest,
  openInterestValue, singleOpenInterest, singleOpenInterestValue, …``.
  ``category=linear`` also lists USDC perpetuals (``BTCPERP``) and dated futures
  (``BTC-26DEC25``, ``fundingRate: ""``); the symbol rule skips them.
* WebSocket ``wss://stream.bybit.com/v5/public/linear``: ``{"op": "subscribe", "args": [...]}``
  (at most :data:`SUBSCRIBE_BATCH` topics per request here), ``{"op": "ping"}`` every 20 s.

  - ``tickers.{symbol}``: a ``snapshot`` with every field, then ``delta`` messages carrying
    only the fields that changed: :class:`TickerBook` merges them;
  - ``allLiquidation.{symbol}``: ``data`` is an array of ``{T, s, S, v, p}`` where ``S`` is
    the side of the **position** that was liquidated (``Buy`` = a long) — the opposite of
    Binance's order-side convention; ``v`` size (base units), ``p`` bankruptcy price.

Open interest sidedness (the trap): since 2026-06 Bybit's ``openInterest`` /
``openInterestValue`` count **both sides** (longs + shorts); the single-sided figures that
:class:`~pfterm.core.market.models.VenueFunding` wants are ``singleOpenInterest`` (base units) and
``singleOpenInterestValue`` (USD). Payloads from before that change (e.g. the docs
snapshots in ``tests/fixtures/bybit``, 2023 and 2025) carry only ``openInterest``, which was then
single-sided. A payload without ``singleOpenInterest`` is therefore ambiguous: it could be
an old single-sided figure or a new two-sided one, so halving it or taking it as is would each
be wrong half the time. This module does neither: without ``singleOpenInterest`` the OI is
reported as unknown (``None``), never guessed. ``oi_usd`` = ``singleOpenInterestValue``
when present, else ``singleOpenInterest × markPrice``.

Funding interval: ``fundingIntervalHour`` (hours) as the venue says; when a payload lacks it
8 h is assumed and a warning is logged once per market.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from pfterm.core.market.models import Liquidation, VenueFunding
from pfterm.core.venues import numbers
from pfterm.core.venues.base import CrossVenueSink
from pfterm.core.venues.binance.market import default_to_symbol
from pfterm.core.venues.errors import VenueError, one_line
from pfterm.core.venues.public_rest import get_json
from pfterm.core.venues.reconnect import ReconnectPolicy
from pfterm.core.venues.wsbase import (
    ToSymbol,
    VenueStream,
    WireError,
    as_dict,
    as_list,
    checked,
    int_field,
    loads,
    num,
    str_field,
    time_field,
    wall_ms,
)

__all__ = [
    "BYBIT_REST_URL",
    "BYBIT_WS_URL",
    "DEFAULT_INTERVAL_H",
    "SUBSCRIBE_BATCH",
    "VENUE",
    "BybitStream",
    "TickerBook",
    "fetch_snapshot",
    "parse_all_liquidation",
    "parse_tickers",
    "subscribe_messages",
    "ticker_record",
]

log = logging.getLogger(__name__)

VENUE = "bybit"
"""Venue label used in :class:`~pfterm.core.market.models.VenueFunding` and :class:`~pfterm.core.market.models.Liquidation`."""

BYBIT_REST_URL = "https://api.bybit.com"
"""Bybit v5 REST base URL."""

BYBIT_WS_URL = "wss://stream.bybit.com/v5/public/linear"
"""Bybit v5 public WebSocket for linear (USDT/USDC) contracts."""

DEFAULT_INTERVAL_H = 8.0
"""Interval assumed (with a warning) when a payload lacks ``fundingIntervalHour``."""

SUBSCRIBE_BATCH = 10
"""Topics per ``subscribe`` request (Bybit caps ``args`` per request; 10 is the documented
spot cap and is safe for linear too)."""

PING_TEXT = '{"op":"ping"}'

FUNDING_FIELDS = frozenset(
    {
        "fundingRate",
        "fundingIntervalHour",
        "nextFundingTime",
        "markPrice",
        "indexPrice",
        "singleOpenInterest",
        "singleOpenInterestValue",
    }
)
"""Ticker fields that feed a :class:`~pfterm.core.market.models.VenueFunding`; a delta touching none of
them produces no record."""

_warned_interval: set[str] = set()


def ticker_record(
    native: str, fields: Mapping[str, Any], time_ms: int, to_symbol: ToSymbol = default_to_symbol
) -> VenueFunding | None:
    """One market's record from its (merged) ticker ``fields``; ``None`` if the market is not
    joined (``to_symbol`` → ``None``) or has no funding rate yet (``fundingRate`` absent/empty).

    :raises WireError: a present field is not a plain decimal or out of range (:func:`check_fields`).
    """
    symbol = to_symbol(native)
    if symbol is None:
        return None
    return _record(native, symbol, _parse_fields(fields, f"ticker {native}"), time_ms)


FieldValues = dict[str, "float | int | None"]
"""The funding fields of one ticker, parsed: ``fundingRate`` (per interval), prices (USD),
``singleOpenInterest`` (base units) / ``singleOpenInterestValue`` (USD),
``fundingIntervalHour`` (hours), ``nextFundingTime`` (ms); ``None`` for a field sent empty."""


def _record(native: str, symbol: str, values: FieldValues, time_ms: int) -> VenueFunding | None:
    """The record of a market from its parsed funding fields (``None`` without a rate)."""
    rate = values.get("fundingRate")
    if rate is None:
        return None
    interval = values.get("fundingIntervalHour")
    if interval is None:
        if native not in _warned_interval:
            _warned_interval.add(native)
            log.warning("bybit %s: no fundingIntervalHour, assuming %g h", native, DEFAULT_INTERVAL_H)
        interval = DEFAULT_INTERVAL_H
    mark = values.get("markPrice")
    oi_base = values.get("singleOpenInterest")
    oi_usd = values.get("singleOpenInterestValue")
    if oi_base is None:
        oi_usd = None  # never derive a single side from the two-sided openInterest
    elif oi_usd is None and mark is not None:
        oi_usd = oi_base * mark
    return VenueFunding(
        venue=VENUE,
        symbol=symbol,
        native=native,
        rate=float(rate),
        interval_h=float(interval),
        next_funding_ms=int(values.get("nextFundingTime") or 0) or None,
        mark_px=mark,
        index_px=values.get("indexPrice"),
        oi_base=oi_base,
        oi_usd=oi_usd,
        time_ms=time_ms,
    )


_RULES = {
    "fundingRate": numbers.check_rate,
    "markPrice": numbers.check_price,
    "indexPrice": numbers.check_price,
    "singleOpenInterest": numbers.check_open_interest,
    "singleOpenInterestValue": numbers.check_open_interest,
}
"""Range of each funding field a ticker may carry: the rate within ±5 % per interval
(:data:`numbers.MAX_RATE_PER_INTERVAL`, above every ``fundingCap`` Bybit lists), prices > 0,
open interest ≥ 0."""


def _parse_fields(fields: Mapping[str, Any], what: str, *, delta: bool = False) -> FieldValues:
    """Validate and parse every funding field present in ``fields`` (see :func:`check_fields`),
    each once: ``{field: value}``, ``None`` for a field sent empty."""
    out: FieldValues = {}
    for key in FUNDING_FIELDS:
        if key not in fields:
            continue
        if fields[key] in (None, ""):
            if delta:
                raise WireError(f"{what}: field {key!r} is empty in a delta")
            out[key] = None
        elif key == "nextFundingTime":
            out[key] = int_field(fields, key, what)
        elif key == "fundingIntervalHour":
            hours = num(fields, key, what)
            if hours <= 0:
                raise WireError(f"{what}: fundingIntervalHour is not positive")
            out[key] = hours
        else:
            out[key] = checked(num(fields, key, what), _RULES[key], key, what)
    return out


def check_fields(fields: Mapping[str, Any], what: str, *, delta: bool = False) -> None:
    """Validate every funding field present in ``fields`` (:data:`FUNDING_FIELDS`): plain
    decimals (:func:`pfterm.core.venues.numbers.decimal`) within their :data:`_RULES` range,
    ``fundingIntervalHour`` > 0, ``nextFundingTime`` an integer. Absent, ``null`` or ``""``
    fields are allowed in a snapshot (a market without a rate yet); a ``delta`` only carries
    changed fields, so there an empty one is refused.

    :raises WireError: the first field that does not validate (named, its value never quoted).
    """
    _parse_fields(fields, what, delta=delta)


def parse_tickers(raw: Any, now_ms: int, to_symbol: ToSymbol = default_to_symbol) -> list[VenueFunding]:
    """``GET /v5/market/tickers?category=linear`` (whole body, or its ``result``) → records.

    ``time_ms`` is the body's ``time`` when present, else ``now_ms``. Markets that are not
    joined or have no funding rate are skipped; a market that does not validate is dropped
    alone (one warning line per call). :raises WireError: malformed body, or no market
    validated while some did not;
    :raises VenueError: the body is an error answer (``retCode`` ≠ 0).
    """
    body = as_dict(loads(raw), "tickers")
    time_ms = now_ms
    if "result" in body:
        code = body.get("retCode", 0)
        if code != 0:
            msg = one_line(str(body.get("retMsg", "")), 120)
            raise VenueError(f"bybit tickers: retCode {code} {msg}".rstrip())
        if body.get("time") is not None:
            time_ms = int_field(body, "time", "tickers")
        body = as_dict(body["result"], "tickers.result")
    out: list[VenueFunding] = []
    reasons: list[str] = []
    for item in as_list(body.get("list"), "tickers.result.list"):
        try:
            item = as_dict(item, "tickers item")
            record = ticker_record(str_field(item, "symbol", "tickers item"), item, time_ms, to_symbol)
        except WireError as exc:  # one bad market never costs the good ones
            reasons.append(str(exc))
            continue
        if record is not None:
            out.append(record)
    if reasons:
        if not out:
            raise WireError(reasons[0])
        log.warning("bybit tickers: %d malformed market(s) dropped; first: %s", len(reasons), reasons[0])
    return out


MAX_TICKERS = 4096
"""Most markets a :class:`TickerBook` without a ``known`` set keeps (Bybit lists about 500 linear perps)."""


class TickerBook:
    """Merges WebSocket ``tickers.{symbol}`` snapshots and deltas into full per-market fields.

    A ``snapshot`` replaces a market's fields; a ``delta`` updates only the fields it carries
    (absent fields keep their previous value). :meth:`apply` returns the records of markets
    whose funding-relevant fields (:data:`FUNDING_FIELDS`) changed, with ``time_ms`` = the
    message's ``ts``. A message that does not validate changes nothing.
    """

    def __init__(self, to_symbol: ToSymbol = default_to_symbol, known: Iterable[str] | None = None) -> None:
        """Create an empty book.

        :param known: the natives whose tickers are kept (the subscribed markets); any other
            market's message is counted in :attr:`unknown_symbols` and changes nothing.
            ``None``: every market ``to_symbol`` joins (bounded by :data:`MAX_TICKERS`).
        """
        self._to_symbol = to_symbol
        self._known = frozenset(known) if known is not None else None
        self._fields: dict[str, dict[str, Any]] = {}
        self._values: dict[str, FieldValues] = {}  # the same markets' funding fields, parsed
        self.unknown_symbols = 0
        """Ticker messages of markets not kept (unknown, or past :data:`MAX_TICKERS`), dropped."""

    def fields(self, native: str) -> Mapping[str, Any]:
        """The merged fields of ``native`` (empty if never seen)."""
        return dict(self._fields.get(native, {}))

    def record(self, native: str, time_ms: int) -> VenueFunding | None:
        """The current record of ``native`` (``None`` if unknown, not joined or no rate)."""
        values = self._values.get(native)
        symbol = self._to_symbol(native)
        return _record(native, symbol, values, time_ms) if values is not None and symbol is not None else None

    def clear(self) -> None:
        """Forget everything (after a reconnect a fresh snapshot arrives)."""
        self._fields.clear()
        self._values.clear()

    def apply(self, raw: Any, now_ms: int | None = None) -> list[VenueFunding]:
        """Merge one ``tickers.*`` message.

        The message's own fields are validated before anything is merged (:func:`check_fields`;
        a delta's fields may not be empty) and its ``ts`` must lie between 2015 and ``now_ms``
        (the local wall clock in ms; ``None`` reads it) + 1 day, so a bad message changes
        nothing and the next valid one is taken. Each field is parsed once: the book keeps
        the parsed values beside the fields as sent.

        :raises WireError: if it does not validate."""
        msg = as_dict(loads(raw), "tickers message")
        kind = msg.get("type")
        if kind not in ("snapshot", "delta"):
            raise WireError("tickers message: type is not snapshot or delta")
        data = as_dict(msg.get("data"), "tickers message data")
        native = str_field(data, "symbol", "tickers message data")
        ts = time_field(msg, "ts", "tickers message", now_ms)
        symbol = self._to_symbol(native)
        if symbol is None:
            return []
        values = _parse_fields(data, f"ticker {native}", delta=kind == "delta")
        old = self._fields.get(native)
        if old is None and (
            (self._known is not None and native not in self._known) or len(self._fields) >= MAX_TICKERS
        ):
            self.unknown_symbols += 1
            return []
        if kind == "snapshot" or old is None:
            self._fields[native] = dict(data)
            self._values[native] = values
            changed = True
        else:
            changed = any(key in FUNDING_FIELDS and old.get(key) != value for key, value in data.items())
            self._fields[native] = {**old, **data}
            if values:
                self._values[native] = {**self._values[native], **values}
        if kind == "delta" and not changed:
            return []
        record = _record(native, symbol, self._values[native], ts)
        return [record] if record is not None else []


def parse_all_liquidation(raw: Any, to_symbol: ToSymbol = default_to_symbol) -> list[Liquidation]:
    """An ``allLiquidation.{symbol}`` message → liquidations, oldest first as sent.

    ``S`` is the liquidated **position's** side: ``Buy`` → ``"long"``, ``Sell`` → ``"short"``;
    ``v`` size (base units), ``p`` price (bankruptcy price), ``T`` time.
    :raises WireError: on a malformed message.
    """
    msg = as_dict(loads(raw), "allLiquidation message")
    data = msg.get("data")
    items = data if isinstance(data, list) else [as_dict(data, "allLiquidation data")]
    out: list[Liquidation] = []
    for item in items:
        item = as_dict(item, "allLiquidation item")
        native = str_field(item, "s", "allLiquidation item")
        symbol = to_symbol(native)
        if symbol is None:
            continue
        what = f"allLiquidation {native}"
        side_raw = item.get("S")
        if side_raw == "Buy":
            side = "long"
        elif side_raw == "Sell":
            side = "short"
        else:
            raise WireError(f"{what}: field 'S' is not Buy or Sell")
        size = num(item, "v", what)
        price = num(item, "p", what)
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
                time_ms=time_field(item, "T", what, None),
            )
        )
    return out


async def fetch_snapshot(
    client: httpx.AsyncClient,
    base_url: str = BYBIT_REST_URL,
    *,
    to_symbol: ToSymbol = default_to_symbol,
    now_ms: int | None = None,
) -> list[VenueFunding]:
    """Every joined Bybit linear perpetual's funding, interval, next settlement, prices, OI
    (one request: ``/v5/market/tickers?category=linear``).

    :raises VenueError: transport failure, HTTP status ≠ 200, non-JSON body or ``retCode`` ≠ 0.
    :raises WireError: malformed body.
    """
    url = f"{base_url.rstrip('/')}/v5/market/tickers"
    body = await get_json(client, url, {"category": "linear"}, venue=VENUE)
    return parse_tickers(body, now_ms if now_ms is not None else wall_ms(), to_symbol)


def subscribe_messages(topics: Sequence[str], batch: int = SUBSCRIBE_BATCH) -> list[str]:
    """``{"op":"subscribe","args":[...]}`` texts, at most ``batch`` topics each."""
    size = max(1, batch)
    return [
        json.dumps({"op": "subscribe", "args": list(topics[i : i + size])}, separators=(",", ":"))
        for i in range(0, len(topics), size)
    ]


class BybitStream(VenueStream):
    """Bybit ``tickers.{symbol}`` + ``allLiquidation.{symbol}`` for the given natives.

    * ticker snapshots/deltas are merged by a :class:`TickerBook` (cleared on reconnect) →
      ``sink.on_venue_funding(records)`` for markets whose funding fields changed;
    * liquidations → ``sink.on_liquidations(records)``;
    * ``{"op": ...}`` answers: pongs are liveness only; ``success: false`` (e.g. an unknown
      symbol in a subscribe) counts as a venue error and shows in the status detail.

    Sends ``{"op":"ping"}`` when nothing was sent for 20 s; stale after 30 s without any
    frame, reconnect after 60 s. Subscriptions go out in batches of ``batch_size`` topics
    after every (re)connect.
    """

    ping_text = PING_TEXT

    def __init__(
        self,
        sink: CrossVenueSink,
        natives: Sequence[str],
        ws_url: str = BYBIT_WS_URL,
        *,
        to_symbol: ToSymbol = default_to_symbol,
        policy: ReconnectPolicy | None = None,
        feed: str = "bybit/ws",
        batch_size: int = SUBSCRIBE_BATCH,
        ping_interval_s: float = 20.0,
        stale_after_s: float = 30.0,
        silence_timeout_s: float = 60.0,
        tickers: bool = True,
        **kwargs: Any,
    ) -> None:
        """:param tickers: subscribe ``tickers.*`` (Bybit pushes each every 100 ms); ``False``:
        liquidations only, the rates read by REST instead (see
        :class:`pfterm.core.crossvenue.session.CrossVenueSession`'s ``bybit_poll_s``)."""
        super().__init__(
            sink,
            ws_url,
            feed=feed,
            policy=policy,
            ping_interval_s=ping_interval_s,
            stale_after_s=stale_after_s,
            silence_timeout_s=silence_timeout_s,
            **kwargs,
        )
        self.natives = [n for n in dict.fromkeys(natives) if to_symbol(n) is not None]
        self.batch_size = batch_size
        self._to_symbol = to_symbol
        self.book = TickerBook(to_symbol, known=self.natives)
        self.tickers = tickers

    @property
    def unknown_symbols(self) -> int:
        """Ticker messages of markets not subscribed, dropped by :attr:`book`."""
        return self.book.unknown_symbols

    def topics(self) -> list[str]:
        """Every subscribed topic: all ``tickers.*`` (unless ``tickers=False``) then all ``allLiquidation.*``."""
        tickers = [f"tickers.{n}" for n in self.natives] if self.tickers else []
        return tickers + [f"allLiquidation.{n}" for n in self.natives]

    def _on_connection(self) -> None:
        self.book.clear()

    def _subscribe_messages(self) -> list[str]:
        return subscribe_messages(self.topics(), self.batch_size)

    def _handle(self, message: str | bytes, now: float) -> None:
        msg = as_dict(loads(message), "bybit frame")
        topic = msg.get("topic")
        if topic is None and "op" in msg:
            if msg.get("success") is False:
                self._on_venue_error(one_line(str(msg.get("ret_msg", "request failed"))))
            elif msg.get("op") in ("ping", "pong"):
                self.pongs += 1
            elif msg.get("op") == "subscribe":
                self.acks += 1
            return
        if not isinstance(topic, str):
            raise WireError("bybit frame: no topic")
        if topic.startswith("tickers."):
            self._emit_funding(self.book.apply(msg, self._wall_ms()))
        elif topic.startswith("allLiquidation."):
            self._emit_liquidations(parse_all_liquidation(msg, self._to_symbol))
        else:
            raise WireError("bybit frame: unknown topic")
