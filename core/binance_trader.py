"""The second trading venue: Binance USDⓈ-M futures, for perp-against-perp harvest positions.

A perp-against-perp position shorts the perp whose funding pays more and longs the same asset's
perp where it pays less, collecting the spread of the two rates (``DOMAIN.md`` §1 "min
cross-venue spread", §6). pfterm's first venue is Hyperliquid (:class:`core.trading.Trader`);
this module is the order manager of the other leg, on Binance USDⓈ-M (the real one, or the
embedded simulator's Binance-compatible endpoints, through the same signed REST protocol).

:class:`BinanceTrader` does for that account what the Hyperliquid trader does for its own, on
the same rules:

* **orders** (:meth:`BinanceTrader.submit`): journalled *before* they are sent (one transaction
  per batch, venue label ``"binance"``, the cloid as Binance's ``newClientOrderId``), sent as
  one ``batchOrders`` call per 5, answers journalled after; an answer lost in transit is
  reconciled by querying the order by its client id, never resent. While the console's
  trading state is HALTED only reduce-only orders go out.
* **account** (:meth:`BinanceTrader.refresh`): ``/fapi/v2/account`` (equity) and
  ``/fapi/v3/positionRisk`` (positions with the venue's liquidation price), concurrently.
* **funding and fills** (:meth:`BinanceTrader.sync_fills_and_funding`): ``userTrades`` of every
  symbol traded and ``income?incomeType=FUNDING_FEE``, journalled under the Hyperliquid symbol
  of the asset (``BTCUSDT`` → ``BTC``, ``1000PEPEUSDT`` → ``kPEPE``) so the P&L report pairs
  the two legs of a position.
* **kill switch** (:meth:`BinanceTrader.kill`): every open order cancelled (``allOpenOrders``
  per symbol) and every position closed with reduce-only IOC orders within ``kill_slippage`` of
  the mark, in one concurrent round, re-read and repeated until flat or ``kill_deadline_s``.
  The Hyperliquid trader runs it in parallel with its own (:meth:`core.trading.Trader.attach_hedge`).
* **quotes** (:meth:`BinanceTrader.quotes`): every market's funding rate, interval, next
  settlement and mark from ``premiumIndex`` + ``fundingInfo`` (``VENUES.md`` "Binance"),
  for the harvester's spread.

Fees (https://www.binance.com/en/fee/futureFee, regular user, USDT-margined): maker 0.02 %,
taker 0.05 % of notional, charged in USDT.

Units: sizes in base units, prices and money in USD(T), rates as fractions per their interval
in hours, timestamps ms UTC. Nothing here imports Textual.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from core.journal import Fill, FundingPayment, Journal
from core.portfolio import ActivityLevel
from core.venues.binance import DEFAULT_INTERVAL_H, default_to_symbol, parse_funding_info
from core.venues.binance_futures import (
    BinanceAccount,
    BinanceError,
    BinanceFuturesClient,
    BinanceOrder,
    BinancePosition,
    BinanceUnavailable,
    OrderRequest,
    SymbolRules,
    format_price,
    format_quantity,
)
from core.venues.errors import VenueError
from core.venues.hyperliquid.orders import Cloid
from core.venues.public_rest import get_json

log = logging.getLogger(__name__)

__all__ = [
    "BINANCE_MAKER_FEE",
    "BINANCE_TAKER_FEE",
    "BinanceTrader",
    "HedgeQuote",
    "LegOrder",
    "LegOutcome",
    "ServerClock",
    "VenueKillReport",
]

VENUE = "binance"
BINANCE_MAKER_FEE = 0.0002
"""Binance USDⓈ-M regular-tier maker fee, fraction of notional (0.02 %)."""
BINANCE_TAKER_FEE = 0.0005
"""Binance USDⓈ-M regular-tier taker fee, fraction of notional (0.05 %)."""
BATCH_MAX = 5
"""``POST /fapi/v1/batchOrders`` takes at most 5 orders."""
TIMESTAMP_REFUSED = -1021
"""Binance's "Timestamp for this request is outside of the recvWindow": the request was refused
as a whole, so it may be sent again (after re-syncing the clock)."""
FILL_LOG_LEN = 2_000
"""Fills kept per symbol to find the position at a past settlement (:meth:`BinanceTrader.size_at`)."""
QUOTED_RATES_KEPT = 20_000
"""(symbol, settlement) rates kept from the quotes (a few days of every market)."""
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
class LegOrder:
    """An order for the Binance leg: Hyperliquid ``symbol`` (``"BTC"``), side, ``size`` (base
    units, > 0), ``limit_px`` (USD), ``tif`` (``"Ioc"``, ``"Gtc"``, ``"Alo"`` = post-only GTX),
    ``reduce_only``, ``cloid`` (``0x`` + 32 hex, sent as ``newClientOrderId``) and ``purpose``."""

    symbol: str
    is_buy: bool
    size: float
    limit_px: float
    tif: str
    reduce_only: bool
    cloid: str
    purpose: str

    @staticmethod
    def new(symbol: str, is_buy: bool, size: float, limit_px: float, *, tif: str = "Ioc",
            reduce_only: bool = False, purpose: str = "harvest") -> LegOrder:
        """A :class:`LegOrder` with a fresh cloid."""  # fmt: skip
        return LegOrder(symbol, is_buy, size, limit_px, tif, reduce_only, Cloid.new().raw, purpose)


@dataclass(frozen=True, slots=True)
class LegOutcome:
    """What happened to one :class:`LegOrder`: ``status`` ``"filled"`` (some or all of it:
    ``filled_sz`` base units at ``avg_px``), ``"resting"``, ``"rejected"`` (venue refused or
    nothing filled), ``"refused"`` (never sent: halted, unknown market, below minimum) or
    ``"unknown"`` (sent, answer lost and not reconciled yet); ``message`` is one line."""

    order: LegOrder
    status: str
    message: str
    filled_sz: float = 0.0
    avg_px: float | None = None
    order_id: int | None = None


@dataclass(slots=True)
class VenueKillReport:
    """The kill switch on one venue: ``flat`` at the last verification, ``cancelled`` orders,
    ``closed`` (one line per close), ``failures`` left, ``rounds`` sent, ``elapsed_ms`` (wall)."""

    venue: str
    flat: bool = False
    cancelled: int = 0
    closed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rounds: int = 0
    elapsed_ms: float = 0.0


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


def _ack_status(order: BinanceOrder) -> str:
    if order.executed_qty > 0:
        return "filled"
    if order.is_open:
        return "resting"
    return "rejected"


class BinanceTrader:
    """Order manager, account view and kill switch of one Binance USDⓈ-M account.

    Args:
        client: the signed REST client (its base URL is the real Binance or the simulator).
        journal: the durable journal shared with the Hyperliquid trader (``None`` in tests of
            pure reads).
        to_symbol: Binance native → Hyperliquid symbol (``None``: not joined).
        halted: whether trading is HALTED (the console's state): only reduce-only orders then.
        max_leverage: leverage set on a symbol before its first order (seed 002: < 3×).
        kill_slippage: the kill switch's IOC bound around the mark, fraction.
        kill_deadline_s: the kill switch gives up after this long (wall seconds).
        mono: monotonic clock, seconds.
        clock: the client's signing clock, synced with the venue's on :meth:`start` (``None``:
            the client's own clock is used as given).
        note: where one line per order outcome goes (the console's activity log).
    """

    venue = VENUE

    def __init__(
        self,
        client: BinanceFuturesClient,
        *,
        journal: Journal | None = None,
        to_symbol: Callable[[str], str | None] = default_to_symbol,
        halted: Callable[[], bool] = lambda: False,
        max_leverage: int = 3,
        kill_slippage: float = 0.01,
        kill_deadline_s: float = 10.0,
        mono: Callable[[], float] = time.perf_counter,
        clock: ServerClock | None = None,
        note: Callable[[ActivityLevel, str], None] | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.note = note or (lambda level, text: None)
        """Activity-log sink (the console's, through the Hyperliquid trader's ``note``)."""
        self.journal = journal
        self.to_symbol = to_symbol
        self.halted = halted
        self.max_leverage = int(max_leverage)
        self.kill_slippage = float(kill_slippage)
        self.kill_deadline_s = float(kill_deadline_s)
        self.mono = mono
        self.rules: dict[str, SymbolRules] = {}
        """Trading rules by Hyperliquid symbol."""
        self.account: BinanceAccount | None = None
        self.positions: dict[str, BinancePosition] = {}
        """Open positions by Hyperliquid symbol (venue's view at the last :meth:`refresh`)."""
        self.marks: dict[str, float] = {}
        self.error: str | None = None
        self._leverage_set: set[str] = set()
        self._traded: set[str] = set()
        self._last_trade_id: dict[str, int] = {}
        self._last_income_ms = 0
        self._intervals: dict[str, float] | None = None
        self._native_map: dict[str, str] | None = None
        self._fill_log: dict[str, deque[tuple[int, float]]] = {}
        self._quoted_rate: dict[tuple[str, int], float] = {}
        """The rate quoted for each (symbol, settlement ms): what that settlement paid."""
        self.malformed_quotes = 0
        """premiumIndex items skipped because they could not be read, since start."""

    # ------------------------------------------------------------------ markets
    async def start(self) -> None:
        """Read the exchange's trading rules (tick, step, minimum notional) and the account.

        Raises:
            VenueError: the venue could not be read (or rejected the key).
        """
        if self.clock is not None:
            self.clock.sync(await self.client.server_time())
        rules = await self.client.exchange_info()
        self.rules = {}
        for native, r in rules.items():
            sym = self.to_symbol(native)
            if sym is not None:
                self.rules.setdefault(sym, r)
        await self.refresh()

    def native(self, symbol: str) -> str | None:
        """Binance's name of a Hyperliquid symbol (``"BTC"`` → ``"BTCUSDT"``), ``None`` if unlisted."""
        r = self.rules.get(symbol)
        return None if r is None else r.symbol

    def floor_size(self, symbol: str, size: float) -> float:
        """``size`` (base units) floored to the market's step; 0.0 for an unknown market."""
        r = self.rules.get(symbol)
        if r is None or not size > 0:
            return 0.0
        # rounded to 12 decimals first: a difference of floats (0.3 − 0.1 = 0.19999…) must not lose a step
        return float(format_quantity(round(size, 12), r))

    def min_notional(self, symbol: str) -> float:
        """Smallest order value the market accepts, USD (``MIN_NOTIONAL``); ``inf`` if unlisted."""
        r = self.rules.get(symbol)
        return math.inf if r is None else r.min_notional

    async def quotes(self) -> dict[str, HedgeQuote]:
        """Every joined market's funding, interval, next settlement and mark (public
        ``premiumIndex`` for all symbols, ``fundingInfo`` once for the intervals: ``VENUES.md``).

        Only markets the account can trade (:attr:`rules`) are kept. An item that cannot be read
        is skipped and counted in :attr:`malformed_quotes` (logged once per read), never fatal.

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
        natives = self._natives()
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
            if not (mark > 0 and math.isfinite(rate) and nxt > 0):
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

    def _natives(self) -> dict[str, str]:
        if self._native_map is None or len(self._native_map) != len(self.rules):
            self._native_map = {r.symbol: sym for sym, r in self.rules.items()}
        return self._native_map

    # ------------------------------------------------------------------ account
    async def resync_clock(self) -> None:
        """Anchor the signing clock on the venue's time again (after a -1021)."""
        if self.clock is not None:
            self.clock.sync(await self.client.server_time())

    async def refresh(self) -> BinanceAccount:
        """Read equity and positions (once more after re-syncing the clock when the venue
        refused the timestamp, -1021: a refused read is safe to repeat).

        Raises:
            VenueError: the venue could not be read.
        """
        try:
            account, positions = await asyncio.gather(self.client.account(), self.client.positions())
        except BinanceError as exc:
            if exc.code != TIMESTAMP_REFUSED or self.clock is None:
                raise
            await self.resync_clock()
            account, positions = await asyncio.gather(self.client.account(), self.client.positions())
        self.account = account
        by_symbol: dict[str, BinancePosition] = {}
        for p in positions:
            sym = self.to_symbol(p.symbol)
            if sym is not None and p.size != 0:
                by_symbol[sym] = p
                if p.mark_px:
                    self.marks.setdefault(sym, p.mark_px)
        self.positions = by_symbol
        self._traded.update(by_symbol)
        self.error = None
        return account

    @property
    def equity(self) -> float | None:
        """Margin balance (wallet + unrealised P&L), USD; ``None`` before the first read."""
        return None if self.account is None else self.account.margin_balance

    def position_size(self, symbol: str) -> float:
        """Signed position in base units (0.0 when flat or unknown)."""
        p = self.positions.get(symbol)
        return 0.0 if p is None else p.size

    def notional_usd(self) -> float:
        """Gross notional of every open position, USD (at the venue's mark)."""
        return sum(abs(p.size) * (p.mark_px or p.entry_px or 0.0) for p in self.positions.values())

    def liquidation_distance(self, symbol: str) -> float | None:
        """``|liq − mark| / mark`` of the position (``DOMAIN.md`` §4), ``None`` when unknown."""
        p = self.positions.get(symbol)
        if p is None or not p.liquidation_px or not p.mark_px:
            return None
        return abs(p.liquidation_px - p.mark_px) / p.mark_px

    # ------------------------------------------------------------------ orders
    def order_for(self, symbol: str, is_buy: bool, size: float, mark_px: float, slippage: float,
                  *, reduce_only: bool = False, purpose: str = "harvest") -> LegOrder | None:
        """An IOC within ``slippage`` (fraction) of ``mark_px`` for ``size`` floored to the step,
        or ``None`` when the market is unknown or the size floors to 0."""  # fmt: skip
        r = self.rules.get(symbol)
        sz = self.floor_size(symbol, size)
        if r is None or sz <= 0 or not mark_px > 0:
            return None
        px = float(format_price(mark_px * (1 + slippage if is_buy else 1 - slippage), r, "down" if is_buy else "up"))
        return LegOrder.new(symbol, is_buy, sz, px, tif="Ioc", reduce_only=reduce_only, purpose=purpose)

    def _request(self, o: LegOrder) -> OrderRequest:
        return OrderRequest(
            symbol=self.rules[o.symbol].symbol,
            side="BUY" if o.is_buy else "SELL",
            quantity=o.size,
            price=o.limit_px,
            type="LIMIT",
            time_in_force=_TIF_WIRE.get(o.tif, "IOC"),
            reduce_only=o.reduce_only,
            client_order_id=o.cloid,
        )

    async def _ensure_leverage(self, symbols: Sequence[str]) -> None:
        todo = [s for s in dict.fromkeys(symbols) if s not in self._leverage_set and s in self.rules]
        if not todo:
            return
        results = await asyncio.gather(
            *(self.client.set_leverage(self.rules[s].symbol, self.max_leverage) for s in todo), return_exceptions=True
        )
        for s, res in zip(todo, results, strict=True):
            if isinstance(res, BaseException):
                log.warning("binance: leverage of %s not set: %s", s, res)
            else:
                self._leverage_set.add(s)

    async def submit(self, orders: Sequence[LegOrder]) -> list[LegOutcome]:
        """Journal, send and journal the answers of ``orders`` (one ``batchOrders`` per 5).

        Refused without sending: an order that is not reduce-only while HALTED, an unknown
        market, a size that floors to 0, an opening order below the market's minimum notional.
        Returns one :class:`LegOutcome` per order, in order. Never raises for a venue error:
        it is the outcome's ``message`` (and journalled).
        """
        out: dict[int, LegOutcome] = {}
        send: list[tuple[int, LegOrder]] = []
        for i, o in enumerate(orders):
            why = None
            if o.symbol in self.rules:
                # the size that goes out is the floored one: every check below is about it
                o = replace(o, size=self.floor_size(o.symbol, o.size))
            if self.halted() and not o.reduce_only:
                why = "trading halted: only reduce-only orders"
            elif o.symbol not in self.rules:
                why = f"{o.symbol} is not listed on Binance"
            elif o.size <= 0:
                why = f"size {orders[i].size:g} is below the step"
            elif not o.reduce_only and o.size * o.limit_px < self.min_notional(o.symbol):
                why = f"${o.size * o.limit_px:,.2f} below the ${self.min_notional(o.symbol):g} minimum order value"
            else:
                try:
                    self._request(o).to_params(self.rules[o.symbol])
                except ValueError as exc:
                    why = f"not a valid order for binance: {exc}"
            if why is not None:
                out[i] = LegOutcome(o, "refused", why)
                self.note(ActivityLevel.ERROR, f"{o.purpose}: binance {o.symbol} refused: {why}")
            else:
                send.append((i, o))
        if send:
            await self._ensure_leverage([o.symbol for _, o in send if not o.reduce_only])
            self._journal_before_send([o for _, o in send])
            answers = await self._place([o for _, o in send])
            for (i, _), outcome in zip(send, answers, strict=True):
                out[i] = outcome
                level = ActivityLevel.OK if outcome.status in ("filled", "resting") else ActivityLevel.ERROR
                self.note(level, f"{outcome.order.purpose}: {outcome.message}")
            self._journal_answers(answers)
        for o in orders:
            self._traded.add(o.symbol)
        return [out[i] for i in range(len(orders))]

    async def _place(self, orders: list[LegOrder]) -> list[LegOutcome]:
        requests = [self._request(o) for o in orders]
        try:
            results: list[BinanceOrder | BinanceError] = await self.client.place_batch(requests)
        except BinanceUnavailable as exc:
            return await self._reconcile_lost(orders, str(exc))
        except BinanceError as exc:
            return [LegOutcome(o, "rejected", str(exc)) for o in orders]
        stale = [i for i, r in enumerate(results) if isinstance(r, BinanceError) and r.code == TIMESTAMP_REFUSED]
        if stale and self.clock is not None:
            # refused for the timestamp alone: nothing was placed, so these go again once, on a
            # clock anchored afresh (same client ids: the venue never accepted them)
            await self.resync_clock()
            try:
                again = await self.client.place_batch([requests[i] for i in stale])
            except BinanceUnavailable as exc:
                return await self._reconcile_lost(orders, str(exc))
            for i, r in zip(stale, again, strict=True):
                results[i] = r
        outs = []
        for o, res in zip(orders, results, strict=True):
            if isinstance(res, BinanceError):
                outs.append(LegOutcome(o, "rejected", str(res)))
                continue
            outs.append(self._outcome(o, res))
        return outs

    def _outcome(self, o: LegOrder, res: BinanceOrder) -> LegOutcome:
        status = _ack_status(res)
        verb = "bought" if o.is_buy else "sold"
        if status == "filled":
            msg = f"binance {o.symbol} {verb} {res.executed_qty:g} @ {res.avg_price:g}"
        elif status == "resting":
            msg = f"binance {o.symbol} {'buy' if o.is_buy else 'sell'} {o.size:g} resting @ {o.limit_px:g}"
        else:
            msg = f"binance {o.symbol}: nothing filled ({res.status.lower()})"
        return LegOutcome(o, status, msg, res.executed_qty, res.avg_price or None, res.order_id)

    async def _reconcile_lost(self, orders: list[LegOrder], why: str) -> list[LegOutcome]:
        """The batch's answer was lost: ask for each order by its client id (never resend)."""
        outs = []
        for o in orders:
            try:
                res = await self.client.query_order(self.rules[o.symbol].symbol, client_order_id=o.cloid)
            except VenueError as exc:
                outs.append(LegOutcome(o, "unknown", f"answer lost ({why}); query failed: {exc}"))
                continue
            if res is None:
                outs.append(LegOutcome(o, "rejected", f"answer lost ({why}); the venue has no such order"))
            else:
                outs.append(self._outcome(o, res))
        return outs

    def _journal_before_send(self, orders: Sequence[LegOrder]) -> None:
        if self.journal is None:
            return
        with self.journal.batch():
            self.journal.record_intents([
                {"cloid": o.cloid, "symbol": o.symbol, "asset": 0, "side": "B" if o.is_buy else "A", "size": o.size,
                 "price": o.limit_px, "tif": o.tif, "reduce_only": o.reduce_only, "purpose": o.purpose, "venue": VENUE}
                for o in orders
            ])  # fmt: skip
            self.journal.mark_sent_many([o.cloid for o in orders])

    def _journal_answers(self, outcomes: Sequence[LegOutcome]) -> None:
        if self.journal is None:
            return
        acks = []
        for oc in outcomes:
            if oc.status == "filled":
                acks.append({"cloid": oc.order.cloid, "status": "filled", "oid": oc.order_id,
                             "avg_px": oc.avg_px, "filled_sz": oc.filled_sz})  # fmt: skip
            elif oc.status == "resting":
                acks.append({"cloid": oc.order.cloid, "status": "resting", "oid": oc.order_id})
            elif oc.status == "rejected":
                acks.append({"cloid": oc.order.cloid, "status": "error", "error": oc.message})
        if acks:
            self.journal.record_acks(acks)

    # ------------------------------------------------------------------ journal sync
    async def sync_fills_and_funding(self) -> None:
        """Journal the trades of every symbol traded and the funding payments since the last
        sync (idempotent: the journal ignores a fill or payment it already has).

        Raises:
            VenueError: the venue could not be read.
        """
        if self.journal is None:
            return
        symbols = sorted(s for s in self._traded if s in self.rules)
        trades = await asyncio.gather(
            *(self.client.user_trades(self.rules[s].symbol, from_id=self._last_trade_id.get(s, -1) + 1) for s in symbols)
        )
        fills = []
        for sym, rows in zip(symbols, trades, strict=True):
            log_ = self._fill_log.setdefault(sym, deque(maxlen=FILL_LOG_LEN))
            for t in rows:
                if t.id <= self._last_trade_id.get(sym, -1):
                    continue
                self._last_trade_id[sym] = t.id
                log_.append((t.time_ms, t.qty if t.side == "BUY" else -t.qty))
                fills.append(Fill(
                    venue=VENUE, tid=t.id, hash=str(t.order_id), symbol=sym, side="B" if t.side == "BUY" else "A",
                    px=t.price, sz=t.qty, fee=t.commission, fee_token=t.commission_asset, time_ms=t.time_ms,
                    oid=t.order_id, closed_pnl=t.realized_pnl,
                ))  # fmt: skip
        if fills:
            self.journal.record_fills(fills)
        income, _ = await asyncio.gather(
            self.client.income(income_type="FUNDING_FEE", start_ms=self._last_income_ms or None), self.refresh()
        )
        payments = []
        for row in income:
            sym = self.to_symbol(row.symbol) if row.symbol else None
            if sym is None:
                continue
            self._last_income_ms = max(self._last_income_ms, row.time_ms)
            size = self.size_at(sym, row.time_ms)
            rate = self._quoted_rate.get((sym, row.time_ms))
            if rate is None:
                # not quoted before that settlement: −income / (size × mark), at the latest mark
                mark = self.marks.get(sym)
                rate = -row.income / (size * mark) if size and mark else 0.0
            payments.append(FundingPayment(VENUE, row.time_ms, sym, row.income, size, rate))
        if payments:
            self.journal.record_fundings(payments)

    def size_at(self, symbol: str, time_ms: int) -> float:
        """The position (signed base units) at ``time_ms``: the one read last, minus the fills
        journalled by :meth:`sync_fills_and_funding` after that time (the last
        :data:`FILL_LOG_LEN` fills per symbol)."""
        later = sum(q for t, q in self._fill_log.get(symbol, ()) if t > time_ms)
        size = self.position_size(symbol) - later
        return 0.0 if abs(size) < 1e-12 else size

    # ------------------------------------------------------------------ kill switch
    async def cancel_all(self) -> tuple[int, list[str]]:
        """Cancel every open order (``allOpenOrders`` per symbol, concurrently): (cancelled, failures)."""
        return await self._cancel_orders(await self.client.open_orders())

    async def kill(self, reason: str = "kill key") -> VenueKillReport:
        """Cancel every order and close every position on this account, verify, repeat until
        flat or ``kill_deadline_s``. Closes are reduce-only IOCs within ``kill_slippage`` of the
        mark and go out whether or not trading is HALTED. Never raises: problems are the
        report's ``failures``."""
        t0 = self.mono()
        report = VenueKillReport(VENUE)
        deadline = t0 + self.kill_deadline_s
        if self.journal is not None:
            self.journal.log_event("kill_venue", f"binance: kill switch ({reason})", {"venue": VENUE, "reason": reason})
        while True:
            try:
                _, orders = await asyncio.gather(self.refresh(), self.client.open_orders())
            except VenueError as exc:
                report.failures = [f"binance account read failed: {exc}"]
                if self.mono() >= deadline:
                    break
                await asyncio.sleep(0.25)
                continue
            if not self.positions and not orders:
                report.flat = True
                break
            if self.mono() >= deadline:
                report.failures = report.failures or [
                    f"binance {s} {p.size:g} still open" for s, p in self.positions.items()
                ] + [f"binance {o.symbol} order {o.order_id} still open" for o in orders]
                break
            if report.rounds:
                await asyncio.sleep(0.1)
            report.rounds += 1
            closes = []
            failures: list[str] = []
            for sym, p in self.positions.items():
                mark = p.mark_px or self.marks.get(sym) or p.entry_px or 0.0
                o = self.order_for(sym, p.size < 0, abs(p.size), mark, self.kill_slippage, reduce_only=True, purpose="kill")
                if o is None:
                    failures.append(f"binance {sym}: cannot size a close of {p.size:g}")
                else:
                    closes.append(o)
            cancel_job = self._cancel_orders(orders)
            close_job = self.submit(closes) if closes else asyncio.sleep(0, result=[])
            (cancelled, cancel_failures), outcomes = await asyncio.gather(cancel_job, close_job)
            report.cancelled += cancelled
            failures += cancel_failures
            for oc in outcomes:
                if oc.status == "filled":
                    report.closed.append(oc.message)
                else:
                    failures.append(f"binance {oc.order.symbol} close: {oc.message}")
            report.failures = failures
        report.elapsed_ms = (self.mono() - t0) * 1000
        if report.flat:
            report.failures = []
        if self.journal is not None:
            self.journal.log_event(
                "kill_venue_result",
                f"binance: {'FLAT' if report.flat else 'NOT FLAT'} in {report.elapsed_ms:.0f} ms",
                {"venue": VENUE, "flat": report.flat, "cancelled": report.cancelled, "closed": report.closed,
                 "failures": report.failures, "rounds": report.rounds},
            )  # fmt: skip
        return report

    async def _cancel_orders(self, orders: Sequence[BinanceOrder]) -> tuple[int, list[str]]:
        """``allOpenOrders`` for every symbol with an order in ``orders``, concurrently:
        (orders of the symbols that answered, one failure line per symbol that did not)."""
        natives = sorted({o.symbol for o in orders})
        if not natives:
            return 0, []
        results = await asyncio.gather(*(self.client.cancel_all(n) for n in natives), return_exceptions=True)
        failed = {n: r for n, r in zip(natives, results, strict=True) if isinstance(r, BaseException)}
        failures = [f"binance {n} cancel: {r}" for n, r in failed.items()]
        return sum(1 for o in orders if o.symbol not in failed), failures

    # ------------------------------------------------------------------ view
    def position_rows(self) -> list[tuple[str, float, float, float, float | None]]:
        """``(symbol, signed size, entry px, unrealised P&L, liquidation px)`` per open position."""
        return [(s, p.size, p.entry_px, p.unrealized_pnl, p.liquidation_px) for s, p in sorted(self.positions.items())]

