"""dYdX v4 indexer read-only adapter: funding, open interest and liquidations.

Wire facts (``docs/venues.md`` "dYdX v4 indexer"; the indexer's websocket documentation and
sources in ``dydxprotocol/v4-chain`` ``indexer/services/comlink/public/websocket-documentation.md``,
``indexer/packages/postgres/src/types/websocket-message-types.ts``,
``indexer/services/socks/src/{types,config}.ts``):

* ``GET /v4/perpetualMarkets`` → ``{"markets": {ticker: {oraclePrice, nextFundingRate,
  openInterest, status, ...}}}``; ``nextFundingRate`` is an HOURLY rate (dYdX settles every
  hour, ``docs/domain.md`` §1), ``openInterest`` base units (one side).
* The indexer gives no next settlement time: ``next_funding_ms`` is the next top of the UTC
  hour after ``now_ms`` (computed here, not reported by the venue).
* dYdX has no separate mark price: the oracle price is its index and what margin and
  liquidations use, so both ``mark_px`` and ``index_px`` are ``oraclePrice``;
  ``oi_usd = openInterest × oraclePrice``.
* WS ``wss://indexer.dydx.trade/v4/ws``: a ``connected`` greeting; ``{"type":"subscribe",
  "channel":"v4_markets"}`` answers ``subscribed`` with ``contents.markets`` (the REST shape),
  then ``channel_data`` with partial ``contents.trading[ticker]`` fields and
  ``contents.oraclePrices[ticker].oraclePrice``. ``v4_trades`` (``id`` = ticker) answers the
  recent trades, then ``channel_data`` ``contents.trades[]`` = ``{id, size, price, side,
  createdAt, type}`` where ``side`` is the TAKER's side and a forced close is
  ``type: "LIQUIDATED"`` (the taker order was the liquidation). ``docs/venues.md`` describes the
  flag as ``liquidation: true``; both are accepted. ``DELEVERAGED`` (ADL) is not a
  liquidation and is skipped.
* Keepalive: the server pings every 30 s (the ``websockets`` library answers) and drops a
  connection that does not pong within 10 s; it also accepts ``{"type":"ping"}`` (answer
  ``{"type":"pong"}``), which we send when idle. Limits: 2 subscribe messages per second and
  32 ``v4_trades`` subscriptions per connection (socks ``config.ts``).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import httpx

from pfterm.core.market.models import Liquidation, VenueFunding
from pfterm.core.venues import numbers
from pfterm.core.venues.base import CrossVenueSink
from pfterm.core.venues.errors import VenueError, one_line
from pfterm.core.venues.public_rest import get_json
from pfterm.core.venues.reconnect import ReconnectPolicy
from pfterm.core.venues.wsbase import ToSymbol, VenueStream, WireError, base_to_symbol, checked, num, wall_ms

__all__ = [
    "DYDX_REST_URL",
    "DYDX_WS_URL",
    "DydxFormatError",
    "DydxStream",
    "MarketsBook",
    "dydx_symbol",
    "fetch_snapshot",
    "next_hour_ms",
    "parse_perpetual_markets",
    "parse_trades_liquidations",
]

log = logging.getLogger(__name__)

DYDX_REST_URL = "https://indexer.dydx.trade"
"""dYdX v4 mainnet indexer REST base URL."""

DYDX_WS_URL = "wss://indexer.dydx.trade/v4/ws"
"""dYdX v4 mainnet indexer WebSocket URL."""

VENUE = "dydx"
FEED = "dydx/ws"
INTERVAL_H = 1.0
"""dYdX funding interval in hours (hourly settlement, ``docs/domain.md`` §1)."""
MAX_TRADES_SUBSCRIPTIONS = 32
"""The indexer's per-connection ``v4_trades`` channel limit."""
_HOUR_MS = 3_600_000
_SKIPPED_STATUSES = frozenset({"FINAL_SETTLEMENT"})


class DydxFormatError(WireError):
    """A dYdX payload did not validate (one line, never quoting the payload)."""


def dydx_symbol(ticker: str) -> str | None:
    """Default mapping: ``"BTC-USD"`` → ``"BTC"``, ``"1000PEPE-USD"`` → ``"kPEPE"``; ``None``
    for anything else."""
    base, sep, quote = ticker.rpartition("-")
    if not sep or quote != "USD":
        return None
    return base_to_symbol(base)


def next_hour_ms(now_ms: int) -> int:
    """The next top of the UTC hour strictly after ``now_ms`` (ms)."""
    return (now_ms // _HOUR_MS + 1) * _HOUR_MS


def _num(item: Mapping[str, Any], key: str, what: str) -> float:
    return num(item, key, f"dydx {what}", DydxFormatError)


def _iso_ms(value: Any, what: str) -> int:
    """An ISO 8601 time with a zone (``"2023-04-04T00:29:21.000Z"``) as ms since the epoch,
    between 2015 and the local wall clock + 1 day. :raises DydxFormatError: otherwise."""
    if not isinstance(value, str):
        raise DydxFormatError(f"dydx {what}: 'createdAt' missing")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DydxFormatError(f"dydx {what}: 'createdAt' is not an ISO time") from None
    if moment.tzinfo is None:
        raise DydxFormatError(f"dydx {what}: 'createdAt' has no time zone")
    try:
        return numbers.check_time_ms(int(moment.timestamp() * 1000 + 0.5))
    except ValueError as exc:
        raise DydxFormatError(f"dydx {what}: 'createdAt': {exc}") from None


_RULES = {
    "nextFundingRate": numbers.check_rate,
    "openInterest": numbers.check_open_interest,
    "oraclePrice": numbers.check_price,
}
"""Range of each merged field: the hourly rate within ±5 % (:data:`numbers.MAX_RATE_PER_INTERVAL`,
far above dYdX's cap), open interest ≥ 0, the oracle price > 0."""


def _field(item: Mapping[str, Any], key: str, what: str) -> float:
    """``item[key]`` as a number within its :data:`_RULES` range. :raises DydxFormatError: otherwise."""
    return checked(_num(item, key, what), _RULES[key], key, f"dydx {what}", DydxFormatError)


def _record(ticker: str, symbol: str, market: Mapping[str, Any], now_ms: int, what: str) -> VenueFunding:
    rate = _field(market, "nextFundingRate", what)
    oracle = _field(market, "oraclePrice", what)
    oi = _field(market, "openInterest", what)
    return VenueFunding(
        venue=VENUE,
        symbol=symbol,
        native=ticker,
        rate=rate,
        interval_h=INTERVAL_H,
        next_funding_ms=next_hour_ms(now_ms),
        mark_px=oracle,
        index_px=oracle,
        oi_base=oi,
        oi_usd=oi * oracle,
        time_ms=now_ms,
    )


def _markets(raw: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise DydxFormatError(f"dydx {what}: payload is not an object")
    markets = raw.get("markets")
    if not isinstance(markets, Mapping):
        raise DydxFormatError(f"dydx {what}: 'markets' is not an object")
    return markets


def parse_perpetual_markets(
    raw: Any, now_ms: int, to_symbol: ToSymbol = dydx_symbol, *, rejected: list[str] | None = None
) -> list[VenueFunding]:
    """Normalize ``/v4/perpetualMarkets`` (``{"markets": {ticker: {...}}}``, also the
    ``contents`` of a ``v4_markets`` ``subscribed`` message).

    ``rate = nextFundingRate`` per 1 h; ``next_funding_ms`` = next top of the hour after
    ``now_ms`` (computed: the indexer does not give it); ``mark_px = index_px =
    oraclePrice``; ``oi_base = openInterest``; ``oi_usd = oi_base × oraclePrice``;
    ``time_ms = now_ms``. Markets in ``FINAL_SETTLEMENT`` and tickers ``to_symbol`` skips are
    left out. A market that does not validate (a field missing, not a plain decimal, or out of
    range: rate beyond ±5 %/h, OI < 0, price ≤ 0) is left out alone, its reason appended to
    ``rejected`` when given (else one warning line per call); every good market is kept.
    :raises DydxFormatError: the payload or its ``markets`` is not an object, or no market
        validated while some did not (the first reason).
    """
    what = "perpetualMarkets"
    out: list[VenueFunding] = []
    reasons: list[str] = []
    for ticker, market in _markets(raw, what).items():
        symbol = to_symbol(ticker)
        if symbol is None:
            continue
        try:
            if not isinstance(market, Mapping):
                raise DydxFormatError("dydx perpetualMarkets: market is not an object")
            if market.get("status") in _SKIPPED_STATUSES:
                continue
            out.append(_record(ticker, symbol, market, now_ms, what))
        except DydxFormatError as exc:
            reasons.append(str(exc))
    if reasons and not out:
        raise DydxFormatError(reasons[0])
    _report(reasons, rejected)
    return out


def _report(reasons: list[str], rejected: list[str] | None) -> None:
    """Hand the reasons of dropped markets to ``rejected``, or log them in one line."""
    if not reasons:
        return
    if rejected is not None:
        rejected.extend(reasons)
    else:
        log.warning("dydx: %d malformed market(s) dropped; first: %s", len(reasons), reasons[0])


def _is_liquidation(trade: Mapping[str, Any]) -> bool:
    return trade.get("liquidation") is True or trade.get("type") == "LIQUIDATED"


def parse_trades_liquidations(raw: Any, to_symbol: ToSymbol = dydx_symbol) -> list[Liquidation]:
    """Liquidations in a ``v4_trades`` message (``subscribed`` or ``channel_data``; the ticker
    is the message ``id``), oldest first.

    A trade is a liquidation when ``type == "LIQUIDATED"`` or ``liquidation is True``;
    ``side`` is the taker's, and the taker of a liquidation trade is the liquidated account:
    taker ``SELL`` → a long was liquidated, ``BUY`` → a short. ``size`` base units, ``price``
    USD, ``createdAt`` ISO → ms, between 2015 and the local wall clock + 1 day.
    :raises DydxFormatError: on a malformed message.
    """
    return [liq for _id, liq in _trade_liquidations(raw, to_symbol)]


def _trade_liquidations(raw: Any, to_symbol: ToSymbol) -> list[tuple[str | None, Liquidation]]:
    """(trade id or ``None``, liquidation) pairs of a ``v4_trades`` message, oldest first."""
    what = "v4_trades"
    if not isinstance(raw, Mapping):
        raise DydxFormatError("dydx v4_trades: message is not an object")
    ticker = raw.get("id")
    if not isinstance(ticker, str) or not ticker:
        raise DydxFormatError("dydx v4_trades: 'id' (ticker) missing")
    contents = raw.get("contents")
    trades = contents.get("trades") if isinstance(contents, Mapping) else None
    if not isinstance(trades, list):
        raise DydxFormatError("dydx v4_trades: 'contents.trades' is not a list")
    symbol = to_symbol(ticker)
    if symbol is None:
        return []
    out: list[tuple[str | None, Liquidation]] = []
    for trade in trades:
        if not isinstance(trade, Mapping):
            raise DydxFormatError("dydx v4_trades: trade is not an object")
        if not _is_liquidation(trade):
            continue
        side = trade.get("side")
        if side not in ("BUY", "SELL"):
            raise DydxFormatError("dydx v4_trades: 'side' is not BUY or SELL")
        size = _num(trade, "size", what)
        price = _num(trade, "price", what)
        if size <= 0 or price <= 0:
            raise DydxFormatError("dydx v4_trades: non-positive size or price")
        trade_id = trade.get("id")
        liq = Liquidation(
            venue=VENUE,
            symbol=symbol,
            native=ticker,
            side="long" if side == "SELL" else "short",
            size_base=size,
            price=price,
            usd=size * price,
            time_ms=_iso_ms(trade.get("createdAt"), what),
        )
        out.append((trade_id if isinstance(trade_id, str) and trade_id else None, liq))
    out.sort(key=lambda pair: pair[1].time_ms)
    return out


_FIELDS = ("nextFundingRate", "openInterest", "oraclePrice")


MAX_MARKETS = 4096
"""Most tickers a :class:`MarketsBook` holds (the dYdX indexer lists a few hundred markets)."""


class MarketsBook:
    """The ``v4_markets`` channel merged into full per-ticker records.

    :meth:`apply` takes a decoded message: ``subscribed`` (``contents.markets``, replaces the
    book), ``channel_data`` (``contents.trading[ticker]`` partial fields and
    ``contents.oraclePrices[ticker].oraclePrice``) or ``channel_batch_data`` (a list of such
    contents), and returns :class:`VenueFunding` records for the tickers whose rate, open
    interest or oracle price changed (all tickers for a snapshot), once a ticker has all
    three values. :meth:`load` seeds the book from a REST ``/v4/perpetualMarkets`` answer.
    """

    def __init__(self, to_symbol: ToSymbol = dydx_symbol) -> None:
        self._to_symbol = to_symbol
        self.markets: dict[str, dict[str, Any]] = {}
        """``ticker → merged fields``; bounded: at most :data:`MAX_MARKETS` tickers (an open
        universe: the first seen are kept, later new ones counted in :attr:`unknown_symbols`)."""
        self.unknown_symbols = 0
        """Market entries dropped because the book already holds :data:`MAX_MARKETS` tickers."""
        self.rejected: list[str] = []
        """Reasons of market entries dropped as malformed (a snapshot keeps its good markets);
        the stream drains it into its malformed count."""

    def load(self, raw: Any, now_ms: int) -> list[VenueFunding]:
        """Replace the book with a full ``{"markets": {...}}`` payload; return every record.

        A market whose fields do not validate is left out of the book (its reason goes to
        :attr:`rejected`) so that it never spoils later updates; the good ones are kept."""
        markets = _markets(raw, "v4_markets")
        book: dict[str, dict[str, Any]] = {}
        for ticker, market in markets.items():
            if not isinstance(market, Mapping):
                self.rejected.append("dydx v4_markets: market is not an object")
                continue
            try:
                for key in _FIELDS:
                    if key in market:
                        _field(market, key, "v4_markets")
            except DydxFormatError as exc:
                self.rejected.append(str(exc))
                continue
            if len(book) >= MAX_MARKETS:
                self.unknown_symbols += 1
                continue
            book[ticker] = dict(market)
        self.markets = book
        return self._records(list(book), now_ms)

    def apply(self, msg: Any, now_ms: int) -> list[VenueFunding]:
        """Merge one ``v4_markets`` message. :raises DydxFormatError: if it does not validate."""
        if not isinstance(msg, Mapping):
            raise DydxFormatError("dydx v4_markets: message is not an object")
        kind = msg.get("type")
        contents = msg.get("contents")
        if kind == "subscribed":
            return self.load(contents, now_ms)
        if kind == "channel_data":
            changed = self._merge(contents)
        elif kind == "channel_batch_data":
            if not isinstance(contents, list):
                raise DydxFormatError("dydx v4_markets: batch contents is not a list")
            changed = set()
            for part in contents:
                changed |= self._merge(part)
        else:
            raise DydxFormatError("dydx v4_markets: unknown message type")
        return self._records(sorted(changed), now_ms)

    def _merge(self, contents: Any) -> set[str]:
        if not isinstance(contents, Mapping):
            raise DydxFormatError("dydx v4_markets: 'contents' is not an object")
        changed: set[str] = set()
        trading = contents.get("trading")
        prices = contents.get("oraclePrices")
        # validate every entry before merging any: a bad message changes nothing
        if trading is not None:
            if not isinstance(trading, Mapping):
                raise DydxFormatError("dydx v4_markets: 'trading' is not an object")
            for fields in trading.values():
                if not isinstance(fields, Mapping):
                    raise DydxFormatError("dydx v4_markets: trading entry is not an object")
                for key in _FIELDS:
                    if key in fields:
                        _field(fields, key, "v4_markets")
        if prices is not None:
            if not isinstance(prices, Mapping):
                raise DydxFormatError("dydx v4_markets: 'oraclePrices' is not an object")
            for entry in prices.values():
                if not isinstance(entry, Mapping):
                    raise DydxFormatError("dydx v4_markets: oracle entry is not an object")
                _field(entry, "oraclePrice", "v4_markets")
        if trading is not None:
            for ticker, fields in trading.items():
                market = self._market(ticker)
                if market is None:
                    continue
                if any(key in fields and fields[key] != market.get(key) for key in _FIELDS):
                    changed.add(ticker)
                market.update(fields)
        if prices is not None:
            for ticker, entry in prices.items():
                market = self._market(ticker)
                if market is None:
                    continue
                if entry["oraclePrice"] != market.get("oraclePrice"):
                    changed.add(ticker)
                market["oraclePrice"] = entry["oraclePrice"]
        return changed

    def _market(self, ticker: str) -> dict[str, Any] | None:
        """The fields of ``ticker``, created while the book holds fewer than :data:`MAX_MARKETS`;
        ``None`` (counted in :attr:`unknown_symbols`) for a new ticker past the cap."""
        market = self.markets.get(ticker)
        if market is None:
            if len(self.markets) >= MAX_MARKETS:
                self.unknown_symbols += 1
                return None
            market = self.markets[ticker] = {}
        return market

    def _records(self, tickers: Iterable[str], now_ms: int) -> list[VenueFunding]:
        out: list[VenueFunding] = []
        for ticker in tickers:
            symbol = self._to_symbol(ticker)
            market = self.markets.get(ticker)
            if symbol is None or market is None or market.get("status") in _SKIPPED_STATUSES:
                continue
            if not all(key in market for key in _FIELDS):
                continue
            try:
                out.append(_record(ticker, symbol, market, now_ms, "v4_markets"))
            except DydxFormatError as exc:  # only reachable through a bad seed: drop the market
                self.rejected.append(str(exc))
                del self.markets[ticker]
        return out


async def fetch_snapshot(
    client: httpx.AsyncClient,
    base_url: str = DYDX_REST_URL,
    *,
    to_symbol: ToSymbol = dydx_symbol,
    now_ms: int | None = None,
) -> list[VenueFunding]:
    """Fetch ``GET /v4/perpetualMarkets`` and normalize it (:func:`parse_perpetual_markets`).

    :raises VenueError: one line, on transport errors, HTTP errors or a malformed answer.
    """
    url = base_url.rstrip("/") + "/v4/perpetualMarkets"
    raw = await get_json(client, url, venue=VENUE, what="perpetualMarkets")
    try:
        return parse_perpetual_markets(raw, now_ms if now_ms is not None else wall_ms(), to_symbol)
    except DydxFormatError as exc:
        raise VenueError(str(exc), status=200, retryable=False) from None


class DydxStream(VenueStream):
    """dYdX indexer WebSocket: ``v4_markets`` (funding, OI, oracle) and ``v4_trades`` for
    ``tickers`` (liquidations only).

    * ``v4_markets`` messages are merged in :attr:`book` (:class:`MarketsBook`); changed
      tickers go to ``sink.on_venue_funding`` (the whole book after each ``subscribed``);
    * liquidation trades go to ``sink.on_liquidations`` oldest first, de-duplicated by trade
      id (the ``subscribed`` answer repeats recent trades after every reconnect);
    * ``error`` messages are counted and shown as status detail; ``connected``,
      ``subscribed`` acks and ``pong`` are consumed.

    At most :data:`MAX_TRADES_SUBSCRIPTIONS` tickers (the indexer's limit; extra ones are
    dropped with a warning). Subscriptions are spaced by ``subscribe_interval_s`` (default
    0.55 s: the indexer allows 2 per second). Feed ``dydx/ws``.
    """

    ping_text = '{"type":"ping"}'
    ping_only_when_idle = True
    max_frame_bytes = 8 * 1024 * 1024

    def __init__(
        self,
        sink: CrossVenueSink,
        tickers: Iterable[str] = (),
        *,
        ws_url: str = DYDX_WS_URL,
        to_symbol: ToSymbol = dydx_symbol,
        feed: str = FEED,
        policy: ReconnectPolicy | None = None,
        ping_interval_s: float = 25.0,
        silence_timeout_s: float | None = 60.0,
        subscribe_interval_s: float = 0.55,
        seen_ids: int = 10_000,
        **kwargs: Any,
    ) -> None:
        """Create a stream (nothing connects until :meth:`run`).

        :param tickers: dYdX tickers (``"BTC-USD"`` …) whose trades are followed for liquidations.
        :param seen_ids: how many liquidation trade ids are remembered for de-duplication.
        :param kwargs: further :class:`~pfterm.core.venues.wsbase.VenueStream` options (timeouts,
            clocks, ``stale_after_s``: off by default).
        """
        super().__init__(
            sink,
            ws_url,
            feed=feed,
            policy=policy,
            ping_interval_s=ping_interval_s,
            silence_timeout_s=silence_timeout_s,
            subscribe_interval_s=subscribe_interval_s,
            **kwargs,
        )
        wanted = [t for t in dict.fromkeys(tickers) if to_symbol(t) is not None]
        if len(wanted) > MAX_TRADES_SUBSCRIPTIONS:
            log.warning("%s: %d tickers asked, the indexer allows %d", feed, len(wanted), MAX_TRADES_SUBSCRIPTIONS)
            wanted = wanted[:MAX_TRADES_SUBSCRIPTIONS]
        self.tickers = wanted
        self._to_symbol = to_symbol
        self.book = MarketsBook(to_symbol)
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()
        self._seen_max = seen_ids

    def _subscribe_messages(self) -> list[str]:
        messages = [json.dumps({"type": "subscribe", "channel": "v4_markets"}, separators=(",", ":"))]
        messages += [
            json.dumps({"type": "subscribe", "channel": "v4_trades", "id": t}, separators=(",", ":"))
            for t in self.tickers
        ]
        return messages

    def _handle(self, message: str | bytes, now: float) -> None:
        msg = self._decode(message, DydxFormatError)
        if not isinstance(msg, dict):
            raise DydxFormatError("dydx: frame is not an object")
        kind = msg.get("type")
        if kind in ("connected", "pong", "unsubscribed"):
            if kind == "pong":
                self.pongs += 1
            return
        if kind == "error":
            text = msg.get("message")
            self._on_venue_error(one_line(text) if isinstance(text, str) else "error")
            return
        if kind not in ("subscribed", "channel_data", "channel_batch_data"):
            raise DydxFormatError("dydx: unknown message type")
        if kind == "subscribed":
            self.acks += 1
        channel = msg.get("channel")
        if channel == "v4_markets":
            records = self.book.apply(msg, self._wall_ms())
            for reason in self.book.rejected:
                self._on_malformed(message, reason)
            self.book.rejected.clear()
            self._emit_funding(records)
        elif channel == "v4_trades":
            if kind == "channel_batch_data":
                parts = msg.get("contents")
                if not isinstance(parts, list):
                    raise DydxFormatError("dydx v4_trades: batch contents is not a list")
                singles = [{**msg, "type": "channel_data", "contents": part} for part in parts]
            else:
                singles = [msg]
            fresh: list[Liquidation] = []
            for single in singles:
                fresh += self._unseen(_trade_liquidations(single, self._to_symbol))
            fresh.sort(key=lambda liq: liq.time_ms)
            self._emit_liquidations(fresh)

    def _unseen(self, pairs: list[tuple[str | None, Liquidation]]) -> list[Liquidation]:
        """Drop liquidations whose trade id was already delivered (trades without an id are kept)."""
        out: list[Liquidation] = []
        for trade_id, record in pairs:
            if trade_id is not None:
                if trade_id in self._seen:
                    continue
                self._seen.add(trade_id)
                self._seen_order.append(trade_id)
                if len(self._seen_order) > self._seen_max:
                    self._seen.discard(self._seen_order.popleft())
            out.append(record)
        return out
