"""Binance USDⓈ-M futures (the real venue, its testnet or the simulator's ``/fapi``) as an
:class:`~pfterm.core.trading.venue.ExchangeClient`: the second leg of perp-against-perp positions.

A thin adapter over :class:`~pfterm.core.venues.binance.futures.BinanceFuturesClient` (HMAC-signed
REST), in pfterm's shapes: markets are joined under Hyperliquid symbols (``BTCUSDT`` →
``BTC``, ``1000PEPEUSDT`` → ``kPEPE``, same units), prices and sizes follow ``PRICE_FILTER`` and
``LOT_SIZE`` from ``exchangeInfo``.

* batches of 5 (``batchOrders``); native cancel-all per symbol (``allOpenOrders``); the dead
  man's switch is ``countdownCancelAll`` per symbol; a lost answer is settled by asking for the
  order by its client id (``GET /fapi/v1/order?origClientOrderId``);
* signed requests carry the venue's time (:class:`ServerClock`); a request refused for its
  timestamp alone (``-1021``) was not acted on and is sent again once on a clock anchored afresh;
* leverage is set on a market before its first opening order (seed 002: < 3×);
* :meth:`BinanceClient.quotes` reads every market's funding (``premiumIndex`` + ``fundingInfo``)
  for the harvester's spread.

Fees (https://www.binance.com/en/fee/futureFee, regular user, USDT-margined): maker 0.02 %,
taker 0.05 % of notional, charged in USDT.

Sources: https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api ,
``docs/venues.md`` "Binance USDⓈ-M futures".
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from pfterm.core.market.models import OpenOrder, OrderIntent, Position
from pfterm.core.trading.journal import AccountRef
from pfterm.core.trading.venue import CancelAnswer, Capabilities, Instrument, PlaceAnswer, VenueAccount
from pfterm.core.venues.binance.futures import (
    BinanceAccount,
    BinanceError,
    BinanceFuturesClient,
    BinanceOrder,
    BinancePosition,
    OrderRequest,
    SymbolRules,
    format_price,
    format_quantity,
)
from pfterm.core.venues.binance.market import DEFAULT_INTERVAL_H, default_to_symbol, parse_funding_info
from pfterm.core.venues.errors import VenueError
from pfterm.core.venues.public_rest import get_json
from pfterm.core.venues.records import Fill, FundingPayment

log = logging.getLogger(__name__)

_T = TypeVar("_T")

__all__ = [
    "BINANCE_MAKER_FEE",
    "BINANCE_TAKER_FEE",
    "BinanceClient",
    "BinanceRules",
    "HedgeQuote",
    "ServerClock",
]

VENUE = "binance"
BINANCE_MAKER_FEE = 0.0002
"""Binance USDⓈ-M regular-tier maker fee, fraction of notional (0.02 %)."""
BINANCE_TAKER_FEE = 0.0005
"""Binance USDⓈ-M regular-tier taker fee, fraction of notional (0.05 %)."""
BATCH_MAX = 5
"""``POST /fapi/v1/batchOrders`` takes at most 5 orders."""
TIMESTAMP_REFUSED = -1021
"""Binance's "Timestamp for this request is outside of the recvWindow": refused as a whole."""
FILL_LOG_LEN = 2_000
"""Fills kept per symbol to find the position at a past settlement (:meth:`BinanceClient.size_at`)."""
QUOTED_RATES_KEPT = 20_000
"""(symbol, settlement) rates kept from the quotes (a few days of every market)."""
TRADES_WINDOW_MS = 7 * 86_400_000
"""``userTrades`` with ``startTime`` spans at most 7 days."""
_TIF_WIRE = {"Ioc": "IOC", "Gtc": "GTC", "Alo": "GTX"}


@dataclass(frozen=True, slots=True)
class HedgeQuote:
    """One Binance market for the harvester: Hyperliquid ``symbol`` and Binance ``native``,
    funding ``rate`` (fraction per ``interval_h`` hours, the running interval's),
    ``next_funding_ms`` (ms UTC) and ``mark_px`` (USD)."""

    symbol: str
    native: str
    rate: float
    interval_h: float
    next_funding_ms: int
    mark_px: float


@dataclass(frozen=True, slots=True)
class BinanceRules:
    """``PRICE_FILTER`` and ``LOT_SIZE`` of one market (:class:`~pfterm.core.venues.binance.futures.SymbolRules`)."""

    rules: SymbolRules

    def floor_size(self, size: float) -> float:
        """``size`` floored to the step (base units); rounded to 12 decimals first so that float
        noise (0.3 − 0.1 = 0.19999…) does not lose a step."""
        if not size > 0:
            return 0.0
        return float(format_quantity(round(size, 12), self.rules))

    def round_size(self, size: float) -> float:
        """``size`` rounded to the nearest step (base units)."""
        if not size > 0:
            return 0.0
        step = self.rules.step_size
        return float(format_quantity(round(round(size / step) * step, 12), self.rules))

    def round_price(self, px: float) -> float:
        """The nearest multiple of the tick (USD). Raises ``ValueError`` when ``px`` ≤ 0."""
        if not px > 0:
            raise ValueError(f"price {px!r} is not positive")
        return float(format_price(px, self.rules))

    def aggressive_price(self, ref_px: float, is_buy: bool, slippage: float) -> float:
        """``ref_px × (1 ± slippage)`` on the tick, rounded away from ``ref_px`` (USD).

        Raises:
            ValueError: ``ref_px`` not positive.
        """
        if not ref_px > 0:
            raise ValueError(f"reference price {ref_px!r} is not positive")
        px = ref_px * (1 + slippage if is_buy else 1 - slippage)
        return float(format_price(px, self.rules, "up" if is_buy else "down"))

    def tick(self, px: float) -> float:
        """The tick (USD), the same at every price."""
        return self.rules.tick_size


class ServerClock:
    """The venue's time for signed requests, ms: wall time anchored on the server's.

    Binance refuses a request whose ``timestamp`` is outside ``recvWindow`` of its own clock
    (-1021). :meth:`sync` anchors on ``GET /fapi/v1/time``; calls then return
    ``server_ms + (wall − wall_at_sync) × rate`` (``rate``: venue seconds per wall second, 1 for a
    real venue, the speed of an accelerated simulator) − ``lag_ms``. Unsynced, it is the wall
    clock. An accelerated simulator's clock moves in jumps (speed × its tick period: 12 s at
    120× and 10 ticks/s), and Binance refuses a timestamp more than 1 s ahead of it: signing
    ``lag_ms`` behind the estimate, with a ``recvWindow`` of twice that, stays inside the
    window whatever the phase of the jumps."""

    def __init__(self, rate: float = 1.0, wall: Callable[[], float] = time.time, lag_ms: int = 0) -> None:
        self.rate = float(rate)
        self.lag_ms = int(lag_ms)
        self._wall = wall
        self._anchor: tuple[float, int] | None = None

    def sync(self, server_ms: int) -> None:
        """Anchor on the server's time ``server_ms`` (ms UTC) read just now."""
        self._anchor = (self._wall(), int(server_ms))

    def __call__(self) -> int:
        if self._anchor is None:
            return int(self._wall() * 1000)
        w0, s0 = self._anchor
        return s0 + int((self._wall() - w0) * 1000 * self.rate) - self.lag_ms


def _answer(cloid: str, order: BinanceOrder) -> PlaceAnswer:
    if order.executed_qty > 0:
        return PlaceAnswer(
            cloid,
            "filled" if not order.is_open else "resting",
            order.order_id,
            order.executed_qty,
            order.avg_price or None,
        )
    if order.is_open:
        return PlaceAnswer(cloid, "resting", order.order_id)
    return PlaceAnswer(cloid, "cancelled", order.order_id, error=f"nothing filled ({order.status.lower()})")


class BinanceClient:
    """One Binance USDⓈ-M account behind the exchange-client protocol.

    Args:
        client: the signed REST client (its base URL is the real Binance or the simulator).
        ref: the account's journal key (:meth:`pfterm.core.trading.journal.AccountRef.binance` of the API key).
        to_symbol: Binance native → Hyperliquid symbol (``None``: not joined).
        max_leverage: leverage set on a market before its first opening order.
        clock: the client's signing clock, synced with the venue's on :meth:`load_instruments`
            (``None``: the client's own clock is used as given).
        now_ms: the venue's time, ms UTC, for the 7-day window of ``userTrades`` (default: the
            signing clock, else the wall clock; a lockstep simulator passes its own).
    """

    venue = VENUE
    capabilities = Capabilities(
        batch_max=BATCH_MAX, native_cancel_all=True, dead_man_switch="countdown", query_by_cloid=True, spot=False
    )

    def __init__(
        self,
        client: BinanceFuturesClient,
        ref: AccountRef,
        *,
        to_symbol: Callable[[str], str | None] = default_to_symbol,
        max_leverage: int = 3,
        clock: ServerClock | None = None,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.client = client
        self._now_ms = now_ms or clock or (lambda: int(time.time() * 1000))
        self.ref = ref
        self.base_url = client.base_url
        self.to_symbol = to_symbol
        self.max_leverage = max(1, int(max_leverage))
        self.clock = clock
        self.rules: dict[str, SymbolRules] = {}
        """Trading rules by Hyperliquid symbol."""
        self._instruments: dict[str, Instrument] = {}
        self._natives: dict[str, str] = {}
        self._leverage_set: set[str] = set()
        self.traded: set[str] = set()
        """Symbols whose fills are read (every symbol held or ordered since start)."""
        self.marks: dict[str, float] = {}
        """Latest mark per symbol (positions, quotes), USD."""
        self._intervals: dict[str, float] | None = None
        self._fill_log: dict[str, deque[tuple[int, float]]] = {}
        self._positions: dict[str, float] = {}
        self._quoted_rate: dict[tuple[str, int], float] = {}
        self.malformed_quotes = 0
        """premiumIndex items skipped because they could not be read, since start."""

    # ------------------------------------------------------------------ instruments
    async def load_instruments(self) -> Mapping[str, Instrument]:
        """Sync the signing clock, then read ``exchangeInfo`` (perpetuals that trade).

        Raises:
            VenueError: the venue could not be read.
        """
        if self.clock is not None:
            self.clock.sync(await self.client.server_time())
        rules = await self.client.exchange_info()
        self.rules = {}
        for native, r in rules.items():
            sym = self.to_symbol(native)
            if sym is not None:
                self.rules.setdefault(sym, r)
        self._natives = {r.symbol: sym for sym, r in self.rules.items()}
        self._instruments = {
            sym: Instrument(sym, r.symbol, "perp", sym, 0, BinanceRules(r), r.min_notional, self.max_leverage)
            for sym, r in self.rules.items()
        }
        return dict(self._instruments)

    def instrument(self, symbol: str) -> Instrument | None:
        """The market named ``symbol`` (Hyperliquid's name), or ``None`` if Binance lists none."""
        return self._instruments.get(symbol)

    def native(self, symbol: str) -> str | None:
        """Binance's name of a Hyperliquid symbol (``"BTC"`` → ``"BTCUSDT"``), ``None`` if unlisted."""
        r = self.rules.get(symbol)
        return None if r is None else r.symbol

    async def resync_clock(self) -> None:
        """Anchor the signing clock on the venue's time again (after a -1021)."""
        if self.clock is not None:
            self.clock.sync(await self.client.server_time())

    async def _again_on_stale_clock(self, call: Callable[[], Awaitable[_T]]) -> _T:
        try:
            return await call()
        except BinanceError as exc:
            if exc.code != TIMESTAMP_REFUSED or self.clock is None:
                raise
            await self.resync_clock()
            return await call()

    # ------------------------------------------------------------------ reads
    async def account(self) -> VenueAccount:
        """``/fapi/v2/account`` (equity) and ``/fapi/v3/positionRisk`` (positions with the venue's
        liquidation price), concurrently; read again once after a -1021.

        Raises:
            VenueError: either read failed.
        """

        async def both() -> tuple[BinanceAccount, list[BinancePosition]]:
            return await asyncio.gather(self.client.account(), self.client.positions())

        acc, rows = await self._again_on_stale_clock(both)
        positions = []
        for p in rows:
            sym = self._natives.get(p.symbol) or self.to_symbol(p.symbol)
            if sym is None or p.size == 0:
                continue
            mark = p.mark_px or self.marks.get(sym) or p.entry_px or 0.0
            if p.mark_px:
                self.marks[sym] = p.mark_px
            leverage = (
                abs(p.notional or p.size * mark) / p.initial_margin if p.initial_margin else float(self.max_leverage)
            )
            positions.append(
                Position(
                    sym,
                    p.size,
                    p.entry_px or mark,
                    mark,
                    p.liquidation_px,
                    leverage,
                    p.initial_margin,
                    p.unrealized_pnl,
                )
            )
            self.traded.add(sym)
        self._positions = {p.symbol: p.size for p in positions}
        notional = sum(abs(p.size) * p.mark_px for p in positions)
        return VenueAccount(
            equity_usd=acc.margin_balance,
            positions=tuple(positions),
            notional_usd=notional,
            margin_used_usd=acc.initial_margin,
            maintenance_usd=acc.maint_margin,
            time_ms=None,
            available_usd=acc.available_balance,
        )

    def _open_order(self, o: BinanceOrder) -> OpenOrder | None:
        sym = self._natives.get(o.symbol) or self.to_symbol(o.symbol)
        if sym is None:
            return None
        cloid = o.client_order_id if o.client_order_id.startswith("0x") else None
        return OpenOrder(
            sym, o.order_id, cloid, o.side == "BUY", o.price, o.orig_qty - o.executed_qty, o.reduce_only, o.update_ms
        )

    async def open_orders(self) -> list[OpenOrder]:
        """``GET /fapi/v1/openOrders`` (every symbol, weight 40). Raises VenueError."""
        rows = await self._again_on_stale_clock(self.client.open_orders)
        out = [oo for o in rows if (oo := self._open_order(o)) is not None]
        self.traded.update(o.symbol for o in out)
        return out

    async def mids(self) -> dict[str, float]:
        """Mark prices by symbol from ``premiumIndex`` (every market, public). Raises VenueError."""
        await self.quotes()
        return dict(self.marks)

    async def fills(self, since_ms: int | None) -> list[Fill]:
        """``userTrades`` of every symbol traded since start, from ``since_ms`` (at most the
        venue's 7-day window back), oldest first.

        Raises:
            VenueError: a read failed.
        """
        symbols = sorted(s for s in self.traded if s in self.rules)
        start = None if since_ms is None else max(int(since_ms), self._now_ms() - TRADES_WINDOW_MS + 60_000)
        rows = await asyncio.gather(
            *(
                self._again_on_stale_clock(partial(self.client.user_trades, self.rules[s].symbol, start_ms=start))
                for s in symbols
            )
        )
        fills = []
        for sym, trades in zip(symbols, rows, strict=True):
            log_ = self._fill_log.setdefault(sym, deque(maxlen=FILL_LOG_LEN))
            seen = {t for t, _ in log_}
            for t in trades:
                if t.time_ms not in seen:
                    log_.append((t.time_ms, t.qty if t.side == "BUY" else -t.qty))
                fills.append(
                    Fill(
                        venue=VENUE,
                        tid=t.id,
                        hash=str(t.order_id),
                        symbol=sym,
                        side="B" if t.side == "BUY" else "A",
                        px=t.price,
                        sz=t.qty,
                        fee=t.commission,
                        fee_token=t.commission_asset,
                        time_ms=t.time_ms,
                        oid=t.order_id,
                        closed_pnl=t.realized_pnl,
                    )
                )
        fills.sort(key=lambda f: (f.time_ms, f.tid))
        return fills

    async def funding(self, since_ms: int) -> list[FundingPayment]:
        """``income?incomeType=FUNDING_FEE`` from ``since_ms``, oldest first; each payment's rate
        is the one quoted for that settlement (else ``−income / (size × mark)``) and its size the
        position then (:meth:`size_at`).

        Raises:
            VenueError: the read failed.
        """
        rows = await self._again_on_stale_clock(
            lambda: self.client.income(income_type="FUNDING_FEE", start_ms=int(since_ms))
        )
        out = []
        for row in rows:
            sym = (self._natives.get(row.symbol) or self.to_symbol(row.symbol)) if row.symbol else None
            if sym is None:
                continue
            size = self.size_at(sym, row.time_ms)
            rate = self._quoted_rate.get((sym, row.time_ms))
            if rate is None:
                mark = self.marks.get(sym)
                rate = -row.income / (size * mark) if size and mark else 0.0
            out.append(FundingPayment(VENUE, row.time_ms, sym, row.income, size, rate))
        out.sort(key=lambda p: (p.time_ms, p.symbol))
        return out

    def size_at(self, symbol: str, time_ms: int) -> float:
        """The position (signed base units) at ``time_ms``: the one read last minus the fills
        read by :meth:`fills` after that time (the last :data:`FILL_LOG_LEN` per symbol)."""
        later = sum(q for t, q in self._fill_log.get(symbol, ()) if t > time_ms)
        size = self._positions.get(symbol, 0.0) - later
        return 0.0 if abs(size) < 1e-12 else size

    async def quotes(self) -> dict[str, HedgeQuote]:
        """Every joined market's funding, interval, next settlement and mark (public
        ``premiumIndex`` for all symbols, ``fundingInfo`` once for the intervals).

        An item that cannot be read is skipped and counted in :attr:`malformed_quotes`.

        Raises:
            VenueError: the venue could not be read, or answered something that is not a list.
        """
        http = self.client.http
        base = self.client.base_url
        if self._intervals is None:
            self._intervals = parse_funding_info(await get_json(http, f"{base}/fapi/v1/fundingInfo", venue=VENUE))
        raw = await get_json(http, f"{base}/fapi/v1/premiumIndex", venue=VENUE)
        if not isinstance(raw, list):
            raise VenueError("binance /fapi/v1/premiumIndex: answer is not a list")
        natives = self._natives
        intervals = self._intervals
        out: dict[str, HedgeQuote] = {}
        bad = 0
        for item in raw:
            try:
                sym = natives.get(item["symbol"])
                if sym is None:
                    continue
                mark = float(item["markPrice"])
                rate = float(item["lastFundingRate"])
                nxt = int(item["nextFundingTime"])
            except (KeyError, TypeError, ValueError):
                bad += 1
                continue
            if not (mark > 0 and math.isfinite(rate) and math.isfinite(mark) and nxt > 0):
                bad += 1
                continue
            native = item["symbol"]
            self._quoted_rate[(sym, nxt)] = rate
            out[sym] = HedgeQuote(sym, native, rate, float(intervals.get(native, DEFAULT_INTERVAL_H)), nxt, mark)
        while len(self._quoted_rate) > QUOTED_RATES_KEPT:
            del self._quoted_rate[next(iter(self._quoted_rate))]
        if bad:
            self.malformed_quotes += bad
            log.warning("binance premiumIndex: %d item(s) unreadable, skipped (%d so far)", bad, self.malformed_quotes)
        self.marks.update({s: q.mark_px for s, q in out.items()})
        return out

    # ------------------------------------------------------------------ orders
    def _request(self, it: OrderIntent) -> OrderRequest:
        return OrderRequest(
            symbol=self.rules[it.symbol].symbol,
            side="BUY" if it.is_buy else "SELL",
            quantity=round(it.size, 12),  # float noise (0.3 - 0.1) must not lose a step when floored
            price=it.limit_px,
            type="LIMIT",
            time_in_force=_TIF_WIRE.get(it.tif, "IOC"),  # type: ignore[arg-type]
            reduce_only=it.reduce_only,
            client_order_id=it.cloid,
        )

    async def _ensure_leverage(self, symbols: Sequence[str]) -> None:
        todo = [s for s in dict.fromkeys(symbols) if s not in self._leverage_set and s in self.rules]
        if not todo:
            return
        results = await asyncio.gather(
            *(
                self._again_on_stale_clock(partial(self.client.set_leverage, self.rules[s].symbol, self.max_leverage))
                for s in todo
            ),
            return_exceptions=True,
        )
        for s, res in zip(todo, results, strict=True):
            if isinstance(res, BaseException):
                log.warning("binance: leverage of %s not set: %s", s, res)
            else:
                self._leverage_set.add(s)

    async def place(self, intents: Sequence[OrderIntent]) -> list[PlaceAnswer]:
        """``batchOrders`` (chunks of 5, concurrently); orders refused for the timestamp alone
        (-1021) go again once on a re-synced clock, with the same client ids.

        Raises:
            ValueError: an unknown market or an order off its rules (nothing sent).
            VenueError: the answer of a chunk was lost (``outcome_unknown``).
        """
        for it in intents:
            if it.symbol not in self.rules:
                raise ValueError(f"{it.symbol} is not listed on binance")
        requests = [self._request(it) for it in intents]
        for req, it in zip(requests, intents, strict=True):
            req.to_params(self.rules[it.symbol])  # raises ValueError before anything is sent
        await self._ensure_leverage([it.symbol for it in intents if not it.reduce_only])
        self.traded.update(it.symbol for it in intents)
        results: list[BinanceOrder | BinanceError] = await self.client.place_batch(requests)
        stale = [i for i, r in enumerate(results) if isinstance(r, BinanceError) and r.code == TIMESTAMP_REFUSED]
        if stale and self.clock is not None:
            await self.resync_clock()
            again = await self.client.place_batch([requests[i] for i in stale])
            for i, r in zip(stale, again, strict=True):
                results[i] = r
        out = []
        for it, res in zip(intents, results, strict=True):
            if isinstance(res, BinanceError):
                out.append(PlaceAnswer(it.cloid, "error", error=str(res)))
            else:
                out.append(_answer(it.cloid, res))
        return out

    async def cancel(self, orders: Sequence[OpenOrder]) -> list[CancelAnswer]:
        """``DELETE /fapi/v1/order`` per order (concurrently, by order id). A refusal of one
        order (already filled or cancelled: -2011) is its answer; a lost answer is too (the
        caller re-reads the open orders).

        Raises:
            VenueError: never for a single order's failure (it is that order's answer).
        """

        async def one(o: OpenOrder) -> CancelAnswer:
            native = self.native(o.symbol)
            if native is None:
                return CancelAnswer(o.oid, o.cloid, "error", f"{o.symbol}: market unknown; cancel it by hand")
            try:
                await self._again_on_stale_clock(lambda: self.client.cancel(native, order_id=o.oid))
            except VenueError as exc:
                return CancelAnswer(o.oid, o.cloid, "error", str(exc))
            return CancelAnswer(o.oid, o.cloid, "cancelled")

        return list(await asyncio.gather(*(one(o) for o in orders)))

    async def cancel_all(self, symbols: Sequence[str]) -> None:
        """``DELETE /fapi/v1/allOpenOrders`` for each of ``symbols``, concurrently.

        Raises:
            VenueError: the first failure (the others were still sent).
        """
        natives = [n for s in dict.fromkeys(symbols) if (n := self.native(s)) is not None]
        results = await asyncio.gather(
            *(self._again_on_stale_clock(partial(self.client.cancel_all, n)) for n in natives),
            return_exceptions=True,
        )
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def query(self, cloid: str, symbol: str) -> PlaceAnswer | None:
        """``GET /fapi/v1/order?origClientOrderId=cloid``: the order's answer, or ``None`` when
        Binance does not know it (-2013: never placed). Raises VenueError."""
        native = self.native(symbol)
        if native is None:
            return None
        order = await self._again_on_stale_clock(lambda: self.client.query_order(native, client_order_id=cloid))
        return None if order is None else _answer(cloid, order)

    async def arm_dead_man(self, lead_ms: int, symbols: Sequence[str]) -> None:
        """``countdownCancelAll`` for each of ``symbols`` (``lead_ms`` 0 disarms).

        Raises:
            VenueError: the first failure.
        """
        natives = [n for s in dict.fromkeys(symbols) if (n := self.native(s)) is not None]
        results = await asyncio.gather(
            *(self.client.countdown_cancel_all(n, max(0, int(lead_ms))) for n in natives), return_exceptions=True
        )
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()
