"""The order manager: one trading account on one venue, journalled, risk-checked, killable.

A :class:`Trader` is shared by the console and the headless commands, so both behave
identically. Every order it sends:

1. is priced and sized on the venue's tick and lot and checked against the risk limits
   (:func:`core.risk.check_order`); a refusal is reported and journalled, nothing is sent;
2. gets a cloid and is journalled as an intent *before* the network call, then marked sent
   (:class:`core.journal.Journal`, one transaction per batch);
3. is sent in one signed batch; the venue's per-order answers are journalled *after* it;
   a request whose outcome is unknown (timeout, 5xx) is reconciled with the venue's open
   orders and fills instead of being resent.

On start the journal is reconciled with the venue (open orders, fills; positions are logged)
and intents that never reached the venue are abandoned with a reason rather than resent:
prices have moved since, and a trader decides again. Nothing is ever sent twice.

The kill switch (:meth:`Trader.kill`) halts trading, cancels every open order in one batch
and closes every position with reduce-only IOC orders in one batch (the two batches go out
concurrently), then re-reads the account and repeats for whatever is left until flat or the
deadline. Risk limits never block it: its closes are reduce-only IOCs bounded by the kill
slippage (``VENUES.md`` Hyperliquid: no market orders, no cancel-all).

Account state is polled (``clearinghouseState`` every ``poll_s``, open orders, spot balances,
fills and funding less often, weights per ``VENUES.md``) and re-read at once after every action.

Units: prices and money USD, sizes base units, times ms since the epoch unless named ``_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from core.actions import (
    HL_TAKER_FEE,
    MIN_ORDER_USD,
    HedgePreview,
    asset_delta,
    delta_ratio,
    gross_long_value,
    plan_hedge,
    plan_kill,
    plan_rebalance,
)
from core.credentials import TradingAccess
from core.journal import Journal
from core.models import MarketInfo, OpenOrder, OrderIntent, Position, SpotBalance
from core.portfolio import (
    ActivityEntry,
    ActivityLevel,
    AssetDeltaRow,
    KillPhase,
    KillStatus,
    OrderRow,
    PortfolioView,
    PositionRow,
    RebalanceView,
    TicketQuote,
    TicketRequest,
    TradingView,
    short_address,
)
from core.risk import RiskLimits, TradingState, check_order, daily_loss_breached, distance_to_liquidation
from core.venues.hyperliquid.account import AccountState
from core.venues.reconnect import URGENT
from core.venues.hyperliquid.exchange import ExchangeError, HyperliquidExchange, OrderResult
from core.venues.hyperliquid.orders import Cloid, floor_size, market_price, price_tick, round_price

log = logging.getLogger(__name__)

__all__ = [
    "HL_MAKER_FEE",
    "SPOT_ALIASES",
    "STABLECOINS",
    "AccountSnapshot",
    "KillReport",
    "SubmitOutcome",
    "Trader",
    "TraderSettings",
]

HL_MAKER_FEE = 0.00015
"""Hyperliquid base-tier perp maker fee, a fraction (0.015 %)."""

STABLECOINS = frozenset({"USDC", "USDT", "USDT0", "USDE", "USDH", "USDHL"})
"""Spot tokens that are cash, not an asset with delta."""

SPOT_ALIASES: Mapping[str, str] = {"UBTC": "BTC", "UETH": "ETH", "USOL": "SOL", "UFART": "FARTCOIN"}
"""Hyperliquid spot tokens standing for a perp's asset (Unit-bridged coins), token → perp symbol."""

ACTIVITY_MAX = 500
_PRICE_QUERY_TIMEOUT_S = 5.0


@dataclass(slots=True, frozen=True)
class TraderSettings:
    """What the trader needs from ``[trading]`` (see :class:`core.config.TradingSection`).

    Fractions plain, durations seconds; ``external_spot`` base units by coin;
    ``spot_aliases`` maps venue spot tokens to perp symbols (``UBTC`` → ``BTC``).
    """

    limits: RiskLimits = field(default_factory=RiskLimits)
    kill_slippage: float = 0.05
    kill_deadline_s: float = 10.0
    order_slippage: float = 0.01
    rebalance_threshold: float = 0.05
    dead_man_switch: bool = False
    dead_man_lead_s: float = 60.0
    dead_man_heartbeat_s: float = 15.0
    poll_s: float = 2.0
    orders_every: int = 5
    fills_every: int = 15
    kill_on_daily_loss: bool = True
    external_spot: Mapping[str, float] = field(default_factory=dict)
    spot_aliases: Mapping[str, str] = field(default_factory=lambda: dict(SPOT_ALIASES))

    @classmethod
    def from_section(cls, section: Any) -> TraderSettings:
        """Build from a :class:`core.config.TradingSection` (duck-typed to keep core.config optional)."""
        limits = RiskLimits(
            max_leverage=section.max_leverage,
            max_order_notional_usd=section.max_order_notional_usd,
            max_position_notional_usd=section.max_position_notional_usd,
            max_market_share=section.max_market_share,
            fat_finger_band=section.fat_finger_band,
            close_band=section.close_band,
            daily_loss_limit=section.daily_loss_limit,
            max_venue_share=section.max_venue_share,
        )
        return cls(
            limits=limits,
            kill_slippage=section.kill_slippage,
            kill_deadline_s=section.kill_deadline_s,
            order_slippage=section.order_slippage,
            rebalance_threshold=section.rebalance_threshold,
            dead_man_switch=section.dead_man_switch,
            dead_man_lead_s=section.dead_man_lead_s,
            dead_man_heartbeat_s=section.dead_man_heartbeat_s,
            poll_s=section.poll_s,
            external_spot=dict(section.external_spot),
            spot_aliases=dict(section.spot_aliases),
        )


@dataclass(slots=True, frozen=True)
class AccountSnapshot:
    """The venue's view of the account: perp state, open orders, spot balances (perp symbols,
    stablecoins dropped), and when it was read (wall ms)."""

    state: AccountState
    orders: tuple[OpenOrder, ...]
    spot: tuple[SpotBalance, ...]
    spot_usdc: float | None
    read_ms: int


@dataclass(slots=True, frozen=True)
class SubmitOutcome:
    """What happened to one intent of a batch: ``status`` ``"resting"``, ``"filled"``,
    ``"error"`` (venue rejected), ``"refused"`` (risk check or read-only: never sent) or
    ``"unknown"`` (sent, outcome unknown: reconciled later). ``message`` is one line."""

    intent: OrderIntent
    status: str
    message: str
    result: OrderResult | None = None


@dataclass(slots=True)
class KillReport:
    """The result of one kill-switch run.

    * ``flat``: no open order and no position at the last verification;
    * ``acked_ms``: keystroke → every cancel and close of round 1 answered (wall ms);
    * ``elapsed_ms``: keystroke → verified flat (or given up);
    * ``rounds``: cancel/close rounds sent; ``cancelled``: orders cancelled;
    * ``closed``: one line per close fill; ``failures``: reasons left at the end;
    * ``remaining_positions`` / ``remaining_orders``: what the last verification still saw;
    * ``started``: the trader's monotonic clock (s) when the kill switch was started.
    """

    flat: bool = False
    acked_ms: float | None = None
    elapsed_ms: float = 0.0
    rounds: int = 0
    cancelled: int = 0
    closed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    remaining_positions: list[Position] = field(default_factory=list)
    remaining_orders: list[OpenOrder] = field(default_factory=list)
    started: float = 0.0

    def summary(self) -> str:
        """One line: flat or not, how long, what was done."""
        if self.flat:
            return (
                f"kill switch: FLAT in {self.elapsed_ms:.0f} ms — {self.cancelled} order(s) cancelled, "
                f"{len(self.closed)} close fill(s), {self.rounds} round(s)"
            )
        left = f"{len(self.remaining_positions)} position(s), {len(self.remaining_orders)} order(s) left"
        why = f": {self.failures[0]}" if self.failures else ""
        return f"kill switch: NOT FLAT after {self.elapsed_ms:.0f} ms — {left}{why}"


def _fmt_px(px: float) -> str:
    if px >= 1000:
        return f"{px:,.1f}"
    if px >= 1:
        return f"{px:,.4g}" if px < 100 else f"{px:,.2f}"
    return f"{px:.6g}"


def _fmt_sz(sz: float) -> str:
    return f"{sz:.8f}".rstrip("0").rstrip(".")


def _day_start_ms(ms: int) -> int:
    day = datetime.fromtimestamp(ms / 1000, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(day.timestamp() * 1000)


def _side_word(is_buy: bool) -> str:
    return "BUY" if is_buy else "SELL"


def describe_intent(intent: OrderIntent) -> str:
    """``"BUY 0.5 BTC @ 65,432 Ioc reduce-only"``: one intent for logs and the screen."""
    ro = " reduce-only" if intent.reduce_only else ""
    return f"{_side_word(intent.is_buy)} {_fmt_sz(intent.size)} {intent.symbol} @ {_fmt_px(intent.limit_px)} {intent.tif}{ro}"


class Trader:
    """Order manager, account view and actions for one account on one Hyperliquid-protocol venue.

    Args:
        access: who may trade (:func:`core.credentials.trading_access`); without a signer the
            trader is read-only: it shows nothing and refuses every order with the reason.
        exchange: the signed client (``None`` when read-only).
        journal: the durable journal (``None`` only in tests of pure previews).
        settings: limits and behaviour.
        markets: market metadata by perp symbol (asset ids, size decimals); refreshed from
            ``meta`` on :meth:`start` when empty.
        prices: live mark prices by symbol (the console's market feed), USD; used for display,
            previews and risk checks. ``None``: prices come from the venue's ``allMids``.
        venue_now_ms: the venue's clock (ms) for the dead man's switch; wall clock by default.
        venue: the journal's venue label.
        wall_ms, mono: clocks (tests freeze them).
    """

    def __init__(
        self,
        access: TradingAccess,
        exchange: HyperliquidExchange | None,
        journal: Journal | None,
        settings: TraderSettings | None = None,
        *,
        markets: Mapping[str, MarketInfo] | None = None,
        prices: Callable[[], Mapping[str, float]] | None = None,
        venue_now_ms: Callable[[], int] | None = None,
        venue: str = "hyperliquid",
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        mono: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.access = access
        self.exchange = exchange if access.can_trade else None
        self.journal = journal
        self.settings = settings or TraderSettings()
        self.markets: dict[str, MarketInfo] = dict(markets or {})
        self._prices = prices
        self._venue_mids: dict[str, float] = {}
        self._venue_now_ms = venue_now_ms or wall_ms
        self.venue = venue
        self.wall_ms = wall_ms
        self.mono = mono
        self.state = TradingState.ACTIVE
        self.account: AccountSnapshot | None = None
        self.error: str | None = None
        self.activity: deque[ActivityEntry] = deque(maxlen=ACTIVITY_MAX)
        self.activity_seq = 0
        self._activity_view: tuple[int, tuple[ActivityEntry, ...]] = (0, ())
        self.kill_status: KillStatus | None = None
        self.last_kill: KillReport | None = None
        self._kill_task: asyncio.Task[KillReport] | None = None
        self._wake = asyncio.Event()
        self._orders_due = True
        self._poll_n = 0
        self._day_start: tuple[int, float] | None = None
        self._day_venues = 0
        self._funding_today = 0.0
        self._funding_day = 0
        self._stopping = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._dead_man_armed = False
        self.hedges: list[Any] = []
        """Second venues (:class:`core.binance_trader.BinanceTrader`) whose equity counts in the
        day's P&L and whose positions the kill switch closes too (:meth:`attach_hedge`)."""

    # ------------------------------------------------------------------ activity
    def note(self, level: ActivityLevel, text: str) -> None:
        """Append one line to the activity log (bounded to :data:`ACTIVITY_MAX`) and the log."""
        self.activity.append(ActivityEntry(self.wall_ms(), level, text))
        self.activity_seq += 1
        pylevel = {ActivityLevel.ERROR: logging.ERROR, ActivityLevel.WARN: logging.WARNING}.get(level, logging.INFO)
        log.log(pylevel, "%s", text)

    def _event(self, kind: str, message: str, detail: Mapping[str, Any] | None = None) -> None:
        if self.journal is not None:
            try:
                self.journal.log_event(kind, message, detail)
            except Exception as exc:  # noqa: BLE001 - the journal must not take the console down
                log.error("journal event failed: %s", exc)

    @property
    def can_trade(self) -> bool:
        """True when orders can be signed and sent."""
        return self.exchange is not None

    @property
    def read_only_reason(self) -> str | None:
        """Why trading is off, or ``None``."""
        return self.access.read_only

    # ------------------------------------------------------------------ prices
    def mark(self, symbol: str) -> float | None:
        """The best known mark for ``symbol``: the feed's, else the venue's mid, else the position's mark."""
        if self._prices is not None:
            px = self._prices().get(symbol)
            if px is not None and px > 0 and math.isfinite(px):
                return px
        px = self._venue_mids.get(symbol)
        if px is not None and px > 0:
            return px
        if self.account is not None:
            for p in self.account.state.positions:
                if p.symbol == symbol and p.mark_px > 0:
                    return p.mark_px
        return None

    def _marks(self, symbols: Sequence[str]) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in symbols:
            px = self.mark(s)
            if px is not None:
                out[s] = px
        return out

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Load markets if needed, read the account and reconcile the journal with the venue.

        Intents that never reached the venue are abandoned (reported, not resent).
        Errors are reported in the activity log; the trader keeps polling.
        """
        if self.exchange is None:
            self.note(ActivityLevel.WARN, f"read-only: {self.access.read_only}")
            return
        ex = self.exchange
        try:
            if not self.markets:
                self.markets = {m.symbol: m for m in await ex.info.meta()}
            await self.refresh(orders=True)
            await self.reconcile()
        except ExchangeError as exc:
            self.error = str(exc)
            self.note(ActivityLevel.ERROR, f"account: {exc}")
        if self.settings.dead_man_switch:
            self._tasks.append(asyncio.create_task(self._dead_man_loop(), name="dead-man-switch"))

    async def run(self) -> None:
        """Poll the account until :meth:`stop`: ``clearinghouseState`` every ``poll_s`` (sooner
        after an action), open orders and spot every ``orders_every`` polls, fills and funding
        every ``fills_every`` polls. Checks the daily loss limit after each read."""
        if self.exchange is None:
            return
        while not self._stopping:
            if self.kill_running:  # the kill switch reads the account itself; stay out of its way
                await asyncio.sleep(0.05)
                continue
            self._poll_n += 1
            n = self._poll_n
            try:
                await self.refresh(orders=self._orders_due or n % self.settings.orders_every == 0)
                if n % self.settings.fills_every == 0:
                    await self.sync_fills_and_funding()
                self.error = None
            except ExchangeError as exc:
                if self.error != str(exc):
                    self.note(ActivityLevel.ERROR, f"account refresh: {exc}")
                self.error = str(exc)
            except Exception as exc:  # noqa: BLE001 - keep polling whatever a bad answer does
                self.error = f"account refresh: {type(exc).__name__}: {exc}"
                log.exception("account refresh failed")
            self._check_daily_loss()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)

    @property
    def orders_due(self) -> bool:
        """Whether open orders and spot balances should be re-read (never read yet, or an
        action asked for it with :meth:`refresh_soon`)."""
        return self._orders_due or self.account is None

    def refresh_soon(self, orders: bool = True) -> None:
        """Ask :meth:`run` to re-read the account now (after an action)."""
        self._orders_due = self._orders_due or orders
        self._wake.set()

    async def stop(self) -> None:
        """Stop polling and the dead man's switch (disarmed on a clean stop)."""
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._dead_man_armed and self.exchange is not None:
            try:
                await asyncio.wait_for(self.exchange.schedule_cancel(None), 3.0)
                self._event("dead_man_switch", "disarmed on exit")
            except (ExchangeError, TimeoutError) as exc:
                log.warning("dead man's switch not disarmed: %s", exc)

    # ------------------------------------------------------------------ account
    async def refresh(self, orders: bool = True, *, mids: Mapping[str, float] | None = None) -> AccountSnapshot:
        """Read the account from the venue (state, and open orders + spot when ``orders``;
        ``allMids`` too when the trader has no live price feed, unless the caller passes the
        ``mids`` it has just read).

        Raises:
            ExchangeError: the venue could not be read.
            RuntimeError: read-only trader.
        """
        ex = self._require_exchange()
        prev = self.account
        if mids is not None:
            self._venue_mids = dict(mids)
        elif self._prices is None:
            self._venue_mids = await ex.info.all_mids()
        if orders:
            state, open_orders, spot_raw = await asyncio.gather(ex.account_state(), ex.open_orders(), self._spot(ex))
            self._orders_due = False
        else:
            state = await ex.account_state()
            open_orders = list(prev.orders) if prev else []
            spot_raw = None if prev is None else (prev.spot, prev.spot_usdc)
        spot, usdc = spot_raw if spot_raw is not None else ((), None)
        snap = AccountSnapshot(state, tuple(open_orders), tuple(spot), usdc, self.wall_ms())
        self.account = snap
        self._track_day(snap)
        return snap

    async def _spot(self, ex: HyperliquidExchange) -> tuple[tuple[SpotBalance, ...], float | None] | None:
        getter = getattr(ex, "spot_balances", None)
        if getter is None:
            return None
        try:
            balances = await getter()
        except ExchangeError:
            return None
        aliases = self.settings.spot_aliases
        usdc = sum(b.total for b in balances if b.coin == "USDC")
        assets = tuple(
            SpotBalance(aliases.get(b.coin, b.coin), b.total)
            for b in balances
            if b.coin not in STABLECOINS and b.total != 0
        )
        return assets, usdc

    def attach_hedge(self, hedge: Any) -> None:
        """Add a second venue's trader (:class:`core.binance_trader.BinanceTrader`): its equity
        counts in the day's P&L (the legs of a perp-against-perp position offset each other
        only together) and the kill switch cancels and closes everything there in parallel."""
        if hedge not in self.hedges:
            self.hedges.append(hedge)
            self._day_start = None  # re-baseline the day with the new venue's equity in it

    def _hedge_equity(self) -> tuple[float, int]:
        """Sum of the hedge venues' equity that is known, USD, and how many are known."""
        known = [h.equity for h in self.hedges if h.equity is not None]
        return float(sum(known)), len(known)

    @property
    def equity_all_venues(self) -> float | None:
        """Account value here + every hedge venue's known equity, USD (``None`` before a read)."""
        if self.account is None:
            return None
        return self.account.state.account_value + self._hedge_equity()[0]

    def _track_day(self, snap: AccountSnapshot) -> None:
        # the venue's own time when it gives one: a simulator may run faster than the wall clock
        now = snap.state.time_ms or snap.read_ms
        day = _day_start_ms(now)
        hedge_eq, known = self._hedge_equity()
        equity = snap.state.account_value + hedge_eq
        if self._day_start is None or self._day_start[0] != day or self._day_venues != known:
            self._day_start = (day, equity)
            self._day_venues = known
            self._event("equity_mark", f"equity at first sight of the day {equity:.2f}",
                        {"day_ms": day, "equity": equity, "venues": 1 + known})  # fmt: skip

    @property
    def pnl_today(self) -> float | None:
        """Equity now − equity at the first read of the UTC day, USD (transfers count as P&L);
        hedge venues included (:meth:`attach_hedge`)."""
        if self.account is None or self._day_start is None:
            return None
        return self.account.state.account_value + self._hedge_equity()[0] - self._day_start[1]

    def _check_daily_loss(self) -> None:
        pnl = self.pnl_today
        if pnl is None or self.account is None or self.state is TradingState.HALTED:
            return
        capital = self._day_start[1] if self._day_start else (self.equity_all_venues or 0.0)
        if capital > 0 and daily_loss_breached(pnl, capital, self.settings.limits):
            msg = (
                f"daily loss limit: P&L today {pnl:,.2f} USD is beyond "
                f"{self.settings.limits.daily_loss_limit:.1%} of {capital:,.0f} USD"
            )
            self.note(ActivityLevel.ERROR, msg)
            self._event("daily_loss", msg, {"pnl_today": pnl, "capital": capital})
            if self.settings.kill_on_daily_loss:
                self.start_kill(reason="daily loss limit")
            else:
                self.state = TradingState.HALTED

    async def sync_fills_and_funding(self) -> None:
        """Journal the venue's recent fills and today's funding payments, and those of every
        attached hedge venue (idempotent)."""
        ex = self._require_exchange()
        if self.journal is None:
            return
        now = self.wall_ms()
        day = _day_start_ms(now)
        fills, funding = await asyncio.gather(ex.user_fills(), ex.user_funding(day))
        self.journal.record_fills(self._own(fills))
        self.journal.record_fundings(self._own(funding))
        for h in self.hedges:  # the other venue's legs: same journal, same cadence
            try:
                await h.sync_fills_and_funding()
            except Exception as exc:  # noqa: BLE001 - a hedge venue's hiccup must not stop this venue's sync
                log.warning("%s fills/funding sync failed: %s", h.venue, exc)
        self._funding_today = sum(p.usdc for p in self.journal.funding(day))
        self._funding_day = day

    async def reconcile(self) -> None:
        """Reconcile the journal with the venue's open orders and fills; abandon never-sent intents.

        Raises:
            ExchangeError: the venue could not be read.
        """
        ex = self._require_exchange()
        if self.journal is None:
            return
        open_orders, fills = await asyncio.gather(ex.open_orders(), ex.user_fills())
        fills = self._own(fills)
        rows = [
            {
                "coin": o.symbol,
                "oid": o.oid,
                "cloid": o.cloid,
                "side": "B" if o.is_buy else "A",
                "limitPx": o.limit_px,
                "sz": o.size,
            }
            for o in open_orders
        ]
        report = self.journal.reconcile(rows, fills, venue=self.venue)
        for intent in report.never_sent:
            self.journal.abandon(intent.cloid, "never reached the venue before a restart; not resent")
            self.note(
                ActivityLevel.WARN,
                f"journal: {intent.symbol} {intent.purpose} order {intent.cloid[:10]}… never reached the venue; dropped",
            )
        for change in report.changes:
            self.note(ActivityLevel.INFO, f"journal: {change.cloid[:10]}… {change.before} → {change.after} ({change.reason})")
        if report.untracked_orders:
            self.note(ActivityLevel.INFO, f"journal: {len(report.untracked_orders)} open order(s) placed outside pfterm")
        if self.account is not None:
            positions = {p.symbol: p.size for p in self.account.state.positions}
            self._event("positions", f"venue positions at reconcile: {len(positions)}", {"positions": positions})
        if report.changed or report.never_sent:
            self.note(
                ActivityLevel.INFO,
                f"journal reconciled: {len(report.changes)} change(s), {len(report.new_fills)} new fill(s), "
                f"{len(report.never_sent)} never sent",
            )

    def _own(self, records: Sequence[Any]) -> list[Any]:
        """Venue records (fills, funding) labelled with this trader's journal venue."""
        return [r if r.venue == self.venue else replace(r, venue=self.venue) for r in records]

    def _require_exchange(self) -> HyperliquidExchange:
        if self.exchange is None:
            raise RuntimeError(f"read-only: {self.access.read_only}")
        return self.exchange

    def _position(self, symbol: str) -> Position | None:
        if self.account is None:
            return None
        return next((p for p in self.account.state.positions if p.symbol == symbol and p.size != 0), None)

    # ------------------------------------------------------------------ risk
    def check(self, intent: OrderIntent) -> str | None:
        """The risk check of :func:`core.risk.check_order` for ``intent`` in the current state;
        ``None`` if it may be sent, else the one-line reason."""
        if self.exchange is None:
            return f"read-only: {self.access.read_only}"
        if self.account is None:
            return "account not read yet; try again in a moment"
        market = self.markets.get(intent.symbol)
        tick = price_tick(intent.limit_px, market.sz_decimals) if market else 0.0
        state = self.account.state
        refusal = check_order(
            intent,
            state=self.state,
            limits=self.settings.limits,
            mark_px=self.mark(intent.symbol),
            position=self._position(intent.symbol),
            equity_usd=state.account_value,
            venue_notional_usd=state.total_ntl_pos,
            day_pnl_usd=self.pnl_today,
            price_tick_usd=tick,
        )
        return None if refusal is None else refusal.message

    # ------------------------------------------------------------------ orders
    async def submit(self, intents: Sequence[OrderIntent], *, check: bool = True) -> list[SubmitOutcome]:
        """Risk-check, journal, send in one batch and journal the answers.

        ``check=False`` skips the risk limits (the kill switch's reduce-only closes only).
        Returns one :class:`SubmitOutcome` per intent, in order; never raises for venue errors.
        """
        outcomes: dict[int, SubmitOutcome] = {}
        accepted: list[tuple[int, OrderIntent]] = []
        for i, intent in enumerate(intents):
            reason = self.check(intent) if check else (None if self.exchange else f"read-only: {self.access.read_only}")
            if reason is not None:
                outcomes[i] = SubmitOutcome(intent, "refused", reason)
                self.note(ActivityLevel.WARN, f"{intent.purpose}: {describe_intent(intent)} {reason}")
                self._event("refusal", reason, {"cloid": intent.cloid, "symbol": intent.symbol, "purpose": intent.purpose})
            else:
                accepted.append((i, intent))
        if accepted:
            sent = await self._send([it for _, it in accepted])
            for (i, _), outcome in zip(accepted, sent, strict=True):
                outcomes[i] = outcome
        return [outcomes[i] for i in range(len(intents))]

    def _journal_before_send(self, intents: Sequence[OrderIntent]) -> None:
        journal = self.journal
        if journal is None or not intents:
            return
        with journal.batch():
            journal.record_intents(
                [
                    {
                        "cloid": it.cloid,
                        "symbol": it.symbol,
                        "asset": it.asset_id,
                        "side": "B" if it.is_buy else "A",
                        "size": it.size,
                        "price": it.limit_px,
                        "tif": it.tif,
                        "reduce_only": it.reduce_only,
                        "purpose": it.purpose,
                        "venue": self.venue,
                    }
                    for it in intents
                ]
            )
            journal.mark_sent_many([it.cloid for it in intents])

    async def _send(self, intents: list[OrderIntent], *, journalled: bool = False) -> list[SubmitOutcome]:
        ex = self._require_exchange()
        journal = self.journal
        if not journalled:
            self._journal_before_send(intents)
        try:
            results = await ex.place(intents, self.markets)
        except ValueError as exc:
            return self._fail_batch(intents, f"not sent: {exc}", unknown=False)
        except ExchangeError as exc:
            return self._fail_batch(intents, str(exc), unknown=exc.outcome_unknown)
        finally:
            self.refresh_soon()
        outcomes = []
        acks = []
        for it, res in zip(intents, results, strict=True):
            acks.append(
                {"cloid": it.cloid, "status": res.status, "oid": res.oid, "error": res.error,
                 "avg_px": res.avg_px, "filled_sz": res.filled_sz}  # fmt: skip
            )
            if res.status == "error":
                msg = f"{it.purpose}: {describe_intent(it)} rejected: {res.error}"
                self.note(ActivityLevel.ERROR, msg)
            elif res.status == "filled":
                msg = f"{it.purpose}: {_side_word(it.is_buy)} {_fmt_sz(res.filled_sz or 0)} {it.symbol} filled @ {_fmt_px(res.avg_px or 0)}"
                if res.filled_sz is not None and res.filled_sz < it.size * (1 - 1e-9):
                    msg += f" (partial: {_fmt_sz(res.filled_sz)} of {_fmt_sz(it.size)})"
                self.note(ActivityLevel.OK, msg)
            else:
                msg = f"{it.purpose}: {describe_intent(it)} resting, oid {res.oid}"
                self.note(ActivityLevel.OK, msg)
            outcomes.append(SubmitOutcome(it, res.status, msg, res))
        if journal is not None:
            try:
                journal.record_acks(acks)
            except Exception as exc:  # noqa: BLE001 - the orders are out; reconcile will catch up
                self.note(ActivityLevel.ERROR, f"journal: acks not recorded ({exc}); will reconcile")
        return outcomes

    def _fail_batch(self, intents: list[OrderIntent], message: str, *, unknown: bool) -> list[SubmitOutcome]:
        journal = self.journal
        if unknown:
            self.note(ActivityLevel.ERROR, f"order batch outcome unknown ({message}); reconciling with the venue")
            self._tasks.append(asyncio.create_task(self._reconcile_quietly()))
            return [SubmitOutcome(it, "unknown", message) for it in intents]
        self.note(ActivityLevel.ERROR, f"order batch failed: {message}")
        if journal is not None:
            journal.record_acks([{"cloid": it.cloid, "status": "error", "error": message} for it in intents])
        return [SubmitOutcome(it, "error", message) for it in intents]

    async def _reconcile_quietly(self) -> None:
        try:
            await self.reconcile()
        except Exception as exc:  # noqa: BLE001
            self.note(ActivityLevel.ERROR, f"reconcile failed: {exc}")

    async def cancel(self, orders: Sequence[OpenOrder], *, purpose: str = "manual") -> tuple[int, list[str]]:
        """Cancel ``orders`` in one batch (journalled before and after).

        Returns ``(cancelled, failures)``: how many the venue cancelled and one line per failure.
        Cancels are allowed in every trading state.
        """
        kept, pairs, failures = self._cancel_plan(orders)
        if not pairs:
            return 0, failures
        self._journal_before_cancel(kept)
        return await self._cancel_send(kept, pairs, failures, purpose)

    def _cancel_plan(self, orders: Sequence[OpenOrder]) -> tuple[list[OpenOrder], list[tuple[int, int]], list[str]]:
        pairs: list[tuple[int, int]] = []
        failures: list[str] = []
        kept: list[OpenOrder] = []
        for o in orders:
            market = self.markets.get(o.symbol)
            if market is None:
                failures.append(f"{o.symbol} oid {o.oid}: market unknown; cancel it by hand")
                continue
            pairs.append((market.asset_id, o.oid))
            kept.append(o)
        return kept, pairs, failures

    def _journal_before_cancel(self, kept: Sequence[OpenOrder]) -> None:
        if self.journal is not None and kept:
            self.journal.record_cancels([{"cloid": o.cloid, "oid": o.oid, "venue": self.venue} for o in kept])

    async def _cancel_send(
        self, kept: list[OpenOrder], pairs: list[tuple[int, int]], failures: list[str], purpose: str
    ) -> tuple[int, list[str]]:
        ex = self._require_exchange()
        journal = self.journal
        try:
            results = await ex.cancel(pairs)
        except ExchangeError as exc:
            self.refresh_soon()
            msg = f"{purpose}: cancel batch of {len(pairs)} failed: {exc}"
            self.note(ActivityLevel.ERROR, msg)
            return 0, [*failures, msg]
        self.refresh_soon()
        done = 0
        records = []
        for o, res in zip(kept, results, strict=True):
            records.append({"cloid": o.cloid, "oid": o.oid, "status": res.status, "error": res.error, "venue": self.venue})
            if res.status == "cancelled":
                done += 1
            else:
                failures.append(f"{o.symbol} oid {o.oid}: {res.error}")
        if journal is not None:
            journal.record_cancels(records)
        level = ActivityLevel.OK if not failures else ActivityLevel.WARN
        self.note(level, f"{purpose}: cancelled {done} of {len(pairs)} order(s)" + (f"; {failures[0]}" if failures else ""))
        return done, failures

    # ------------------------------------------------------------------ kill switch
    @property
    def kill_running(self) -> bool:
        """True while a kill-switch run is in progress."""
        return self._kill_task is not None and not self._kill_task.done()

    def start_kill(self, reason: str = "kill key") -> asyncio.Task[KillReport]:
        """Start the kill switch (or return the run in progress). Sets HALTED at once."""
        if self._kill_task is not None and not self._kill_task.done():
            return self._kill_task
        self.state = TradingState.HALTED
        self._kill_task = asyncio.create_task(self._kill(reason, self.mono()), name="kill-switch")
        return self._kill_task

    async def kill(self, reason: str = "kill key") -> KillReport:
        """Run the kill switch to the end and return its :class:`KillReport`."""
        return await asyncio.shield(self.start_kill(reason))

    def _kill_progress(self, report: KillReport, t0: float, phase: KillPhase, message: str) -> None:
        report.elapsed_ms = (self.mono() - t0) * 1000
        self.kill_status = KillStatus(
            phase=phase,
            rounds=report.rounds,
            elapsed_ms=int(report.elapsed_ms),
            cancelled=report.cancelled,
            closed=tuple(report.closed),
            failures=tuple(report.failures),
            message=message,
        )

    async def _read_for_kill(self, ex: HyperliquidExchange) -> tuple[AccountState, list[OpenOrder], dict[str, float]]:
        state, orders, mids = await asyncio.gather(ex.account_state(), ex.open_orders(), ex.info.all_mids())
        self._venue_mids = mids
        prev = self.account
        self.account = AccountSnapshot(
            state, tuple(orders), prev.spot if prev else (), prev.spot_usdc if prev else None, self.wall_ms()
        )
        return state, orders, mids

    async def _kill(self, reason: str, t0: float) -> KillReport:
        URGENT.set(True)  # this task's requests never wait behind the local rate budget
        report = KillReport(started=t0)
        self._kill_progress(report, t0, KillPhase.RUNNING, f"KILL SWITCH ({reason}): halted; cancelling and closing")
        self.note(ActivityLevel.ERROR, f"KILL SWITCH ({reason}): trading halted")
        self._event("kill", f"kill switch pressed ({reason})", {"reason": reason})
        # every hedge venue is cancelled and closed in parallel with this one
        hedge_runs = [asyncio.create_task(h.kill(reason), name=f"kill-{h.venue}") for h in self.hedges]
        try:
            ex = self._require_exchange()
        except RuntimeError as exc:
            report.failures.append(str(exc))
            await self._merge_hedge_kills(report, hedge_runs)
            self._kill_progress(report, t0, KillPhase.FAILED, f"kill switch: {exc}")
            return report
        deadline = t0 + self.settings.kill_deadline_s
        s = self.settings
        while True:
            try:
                state, orders, mids = await self._read_for_kill(ex)
            except ExchangeError as exc:
                report.failures = [f"account read failed: {exc}"]
                if self.mono() >= deadline:
                    break
                await asyncio.sleep(0.25)
                continue
            positions = [p for p in state.positions if p.size != 0]
            report.remaining_positions, report.remaining_orders = positions, list(orders)
            if not positions and not orders:
                report.flat = True
                break
            if self.mono() >= deadline:
                break
            if report.rounds:
                await asyncio.sleep(0.1 if report.rounds < 3 else 0.3)  # let a thin book refill
                if self.mono() >= deadline:
                    break
                state, orders, mids = await self._read_for_kill(ex)
                positions = [p for p in state.positions if p.size != 0]
                report.remaining_positions, report.remaining_orders = positions, list(orders)
                if not positions and not orders:
                    report.flat = True
                    break
            plan = plan_kill(orders, positions, mids, self.markets, s.kill_slippage)
            report.rounds += 1
            failures: list[str] = [f"{x.symbol}: {x.reason}" for x in plan.unclosable + plan.uncancellable]
            kept, pairs, _ = self._cancel_plan(orders)  # unknown markets are in plan.uncancellable
            # one journal transaction (one fsync) for everything about to be sent
            if self.journal is not None:
                with self.journal.batch():
                    self._journal_before_cancel(kept)
                    self._journal_before_send(plan.closes)
            jobs = []
            if pairs:
                jobs.append(self._cancel_send(kept, pairs, [], "kill"))
            if plan.closes:
                jobs.append(self._send(list(plan.closes), journalled=True))
            answers = await asyncio.gather(*jobs, return_exceptions=True)
            if report.acked_ms is None:
                report.acked_ms = (self.mono() - t0) * 1000
            for answer in answers:
                if isinstance(answer, BaseException):
                    failures.append(f"{type(answer).__name__}: {answer}")
                elif isinstance(answer, tuple):
                    done, cancel_failures = answer
                    report.cancelled += done
                    failures += cancel_failures
                else:
                    for outcome in answer:
                        res = outcome.result
                        it = outcome.intent
                        if res is not None and res.status == "filled" and res.filled_sz:
                            verb = "bought" if it.is_buy else "sold"
                            report.closed.append(f"{it.symbol} {verb} {_fmt_sz(res.filled_sz)} @ {_fmt_px(res.avg_px or 0)}")
                        elif outcome.status != "filled":
                            failures.append(f"{it.symbol} close: {outcome.message}")
            report.failures = failures
            self._kill_progress(
                report, t0, KillPhase.RUNNING,
                f"KILL SWITCH round {report.rounds}: {report.cancelled} cancelled, {len(report.closed)} closed; verifying",
            )  # fmt: skip
        if report.flat:
            report.failures = []
        elif not report.failures:
            report.failures = [
                f"{p.symbol} {_fmt_sz(p.size)} still open" for p in report.remaining_positions
            ] + [f"{o.symbol} oid {o.oid} still open" for o in report.remaining_orders]
        await self._merge_hedge_kills(report, hedge_runs)
        phase = KillPhase.FLAT if report.flat else KillPhase.FAILED
        self._kill_progress(report, t0, phase, report.summary())
        level = ActivityLevel.OK if report.flat else ActivityLevel.ERROR
        self.note(level, report.summary())
        for line in report.failures[:10]:
            self.note(ActivityLevel.ERROR, f"kill: {line}")
        self._event(
            "kill_result",
            report.summary(),
            {
                "flat": report.flat,
                "acked_ms": report.acked_ms,
                "elapsed_ms": report.elapsed_ms,
                "rounds": report.rounds,
                "cancelled": report.cancelled,
                "closed": report.closed,
                "failures": report.failures,
            },
        )
        self.last_kill = report
        self.refresh_soon()
        return report

    async def _merge_hedge_kills(self, report: KillReport, runs: list[asyncio.Task[Any]]) -> None:
        """Wait for the hedge venues' kill runs and fold them into ``report``: flat only when
        every venue is flat; their cancels, closes and failures are added."""
        if not runs:
            return
        results = await asyncio.gather(*runs, return_exceptions=True)
        for h, res in zip(self.hedges, results, strict=False):
            if isinstance(res, BaseException):
                report.flat = False
                report.failures.append(f"{h.venue}: kill switch failed: {type(res).__name__}: {res}")
                continue
            report.cancelled += res.cancelled
            report.closed += res.closed
            if not res.flat:
                report.flat = False
                report.failures += res.failures or [f"{h.venue}: not flat"]

    def resume(self) -> None:
        """Leave HALTED/REDUCING for ACTIVE (an explicit user action after a kill)."""
        if self._kill_task is not None and not self._kill_task.done():
            return
        self.state = TradingState.ACTIVE
        self.kill_status = None
        self.note(ActivityLevel.INFO, "trading resumed (ACTIVE)")
        self._event("resume", "trading resumed")

    # ------------------------------------------------------------------ dead man's switch
    async def _dead_man_loop(self) -> None:
        ex = self._require_exchange()
        s = self.settings
        while True:
            at = self._venue_now_ms() + int(s.dead_man_lead_s * 1000)
            try:
                await ex.schedule_cancel(at)
                if not self._dead_man_armed:
                    self.note(ActivityLevel.INFO, f"dead man's switch armed: orders cancel {s.dead_man_lead_s:g} s after pfterm stops")
                    self._event("dead_man_switch", "armed", {"lead_s": s.dead_man_lead_s})
                self._dead_man_armed = True
            except ExchangeError as exc:
                self.note(ActivityLevel.ERROR, f"dead man's switch heartbeat failed: {exc}")
            await asyncio.sleep(s.dead_man_heartbeat_s)

    # ------------------------------------------------------------------ previews
    def _spot_and_positions(self) -> tuple[list[Position], list[SpotBalance]]:
        """Positions for delta and hedging: this venue's, plus every hedge venue's perp
        positions under the same symbol (a Binance long offsets a Hyperliquid short)."""
        if self.account is None:
            return [], []
        positions = [p for p in self.account.state.positions if p.size != 0]
        for h in self.hedges:
            for sym, size, entry, upnl, liq in h.position_rows():
                mark = h.marks.get(sym) or entry or 0.0
                positions.append(Position(sym, size, entry or mark, mark, liq, float(h.max_leverage), 0.0, upnl))
        return positions, list(self.account.spot)

    def preview_hedge(self, symbol: str) -> tuple[HedgePreview | None, str | None]:
        """The order neutralising ``symbol``'s delta and ``None``, or ``None`` and why not.

        The preview's intent is also risk-checked; a refusal comes back as the reason with the preview.
        """
        if self.exchange is None:
            return None, f"read-only: {self.access.read_only}"
        if self.account is None:
            return None, "account not read yet"
        market = self.markets.get(symbol)
        if market is None:
            return None, f"{symbol}: no perp market"
        mid = self.mark(symbol)
        if mid is None:
            return None, f"{symbol}: no price"
        positions, spot = self._spot_and_positions()
        try:
            preview = plan_hedge(
                symbol, positions, spot, self.settings.external_spot,
                market=market, mid=mid, slippage=self.settings.order_slippage,
            )  # fmt: skip
        except ValueError as exc:
            return None, f"{symbol}: hedge cannot be priced: {exc}"
        if preview is None:
            delta = asset_delta(symbol, positions, spot, self.settings.external_spot, {symbol: mid})
            return None, f"{symbol} delta {delta:+,.2f} USD: nothing to hedge (below one lot or the ${MIN_ORDER_USD:.0f} minimum)"
        return preview, self.check(preview.intent)

    def preview_rebalance(self) -> tuple[RebalanceView, str | None]:
        """Hedges for every asset whose delta ratio exceeds the threshold, and a refusal if any
        hedge would be refused (the first reason)."""
        if self.exchange is None:
            return RebalanceView(), f"read-only: {self.access.read_only}"
        if self.account is None:
            return RebalanceView(), "account not read yet"
        positions, spot = self._spot_and_positions()
        coins = {p.symbol for p in positions} | {b.coin for b in spot} | set(self.settings.external_spot)
        plan = plan_rebalance(
            positions, spot, self.settings.external_spot, self._marks(sorted(coins)), self.markets,
            threshold=self.settings.rebalance_threshold, slippage=self.settings.order_slippage,
        )  # fmt: skip
        hedges = tuple(replace(h, intent=replace(h.intent, purpose="rebalance")) for h in plan.hedges)
        view = RebalanceView(hedges=hedges, skipped=tuple(f"{s.symbol}: {s.reason}" for s in plan.skipped))
        refusal = next((r for r in (self.check(h.intent) for h in hedges) if r is not None), None)
        return view, refusal

    def quote(self, req: TicketRequest) -> TicketQuote:
        """Turn an order ticket into a rounded, risk-checked intent (never raises)."""
        market = self.markets.get(req.symbol)
        if market is None:
            return TicketQuote(None, refusal=f"{req.symbol}: no perp market")
        mark = self.mark(req.symbol)
        if not (math.isfinite(req.size) and req.size > 0):
            return TicketQuote(None, refusal="size must be positive")
        if req.tif not in ("Gtc", "Alo", "Ioc"):
            return TicketQuote(None, refusal=f"unknown time in force {req.tif!r}")
        try:
            if req.limit_px is None:
                if mark is None:
                    return TicketQuote(None, refusal=f"{req.symbol}: no price for a market order")
                px = market_price(mark, req.is_buy, self.settings.order_slippage, sz_decimals=market.sz_decimals)
                tif = "Ioc"
            else:
                if not (math.isfinite(req.limit_px) and req.limit_px > 0):
                    return TicketQuote(None, refusal="limit price must be positive")
                px = round_price(req.limit_px, market.sz_decimals)
                tif = req.tif
            ref_px = mark if mark is not None else px
            base = req.size / ref_px if req.size_in_usd else req.size
            size = floor_size(base, market.sz_decimals)
        except ValueError as exc:
            return TicketQuote(None, refusal=str(exc))
        if size <= 0:
            return TicketQuote(None, refusal=f"size rounds to zero at {market.sz_decimals} decimals")
        intent = OrderIntent(
            symbol=req.symbol, asset_id=market.asset_id, is_buy=req.is_buy, size=size, limit_px=px,
            tif=tif, reduce_only=req.reduce_only, cloid=Cloid.new().raw, purpose="manual",
        )  # fmt: skip
        notional = size * (mark if mark is not None and tif == "Ioc" else px)
        crosses = mark is not None and ((req.is_buy and px >= mark) or (not req.is_buy and px <= mark))
        fee_rate = HL_TAKER_FEE if tif == "Ioc" or (tif == "Gtc" and crosses) else HL_MAKER_FEE
        if notional < MIN_ORDER_USD and not req.reduce_only:
            return TicketQuote(intent, notional, notional * fee_rate, f"order value ${notional:,.2f} is below the ${MIN_ORDER_USD:.0f} minimum")
        if tif == "Alo" and crosses:
            return TicketQuote(intent, notional, notional * fee_rate, "post-only order would cross the book")
        return TicketQuote(intent, notional, notional * fee_rate, self.check(intent))

    # ------------------------------------------------------------------ view
    def _activity_tuple(self) -> tuple[ActivityEntry, ...]:
        """The activity log as a tuple, rebuilt only when a line was added (views are taken at
        the console's flush rate)."""
        seq, entries = self._activity_view
        if seq != self.activity_seq:
            entries = tuple(self.activity)
            self._activity_view = (self.activity_seq, entries)
        return entries

    def view(self) -> TradingView:
        """A snapshot for the console's panels, with live marks from the feed."""
        acc = self.account
        network = self.access.network
        base = dict(
            account=short_address(self.access.account) if self.access.account else None,
            network=network,
            read_only=self.access.read_only,
            state=self.state,
        )
        if acc is None:
            return TradingView(
                portfolio=PortfolioView(**base, error=self.error),  # type: ignore[arg-type]
                activity=self._activity_tuple(),
                activity_seq=self.activity_seq,
                kill=self.kill_status,
            )
        st = acc.state
        rows = []
        ntl = 0.0
        upnl_total = 0.0
        for p in st.positions:
            if p.size == 0:
                continue
            mark = self.mark(p.symbol) or p.mark_px
            upnl = p.size * (mark - p.entry_px)
            notional = abs(p.size) * mark
            ntl += notional
            upnl_total += upnl
            dist = distance_to_liquidation(p.liquidation_px, mark) if p.liquidation_px and mark > 0 else None
            rows.append(
                PositionRow(
                    symbol=p.symbol, size=p.size, entry_px=p.entry_px, mark_px=mark, notional_usd=notional,
                    unrealized_pnl=upnl, funding_since_open=p.funding_since_open, leverage=p.leverage,
                    liquidation_px=p.liquidation_px, liq_distance=dist, margin_used=p.margin_used,
                )  # fmt: skip
            )
        for h in self.hedges:  # the other legs of perp-against-perp positions, for the eye only
            for sym, hp in sorted(h.positions.items()):
                mark = h.marks.get(sym) or hp.mark_px or hp.entry_px or 0.0
                liq = hp.liquidation_px
                rows.append(
                    PositionRow(
                        symbol=sym, size=hp.size, entry_px=hp.entry_px or mark, mark_px=mark,
                        notional_usd=abs(hp.size) * mark, unrealized_pnl=hp.unrealized_pnl, funding_since_open=0.0,
                        leverage=float(h.max_leverage), liquidation_px=liq,
                        liq_distance=distance_to_liquidation(liq, mark) if liq and mark > 0 else None,
                        margin_used=hp.initial_margin, venue=h.venue,
                    )  # fmt: skip
                )
        rows.sort(key=lambda r: -r.notional_usd)
        orders = []
        for o in acc.orders:
            mark = self.mark(o.symbol)
            orders.append(
                OrderRow(
                    symbol=o.symbol, oid=o.oid, cloid=o.cloid, is_buy=o.is_buy, limit_px=o.limit_px, size=o.size,
                    reduce_only=o.reduce_only, timestamp_ms=o.timestamp_ms,
                    distance=None if not mark else (o.limit_px - mark) / mark,
                )  # fmt: skip
            )
        orders.sort(key=lambda r: (r.symbol, -r.limit_px))
        # equity moves with the live marks between account reads
        venue_upnl = sum(p.unrealized_pnl for p in st.positions)
        equity = st.account_value + (upnl_total - venue_upnl)
        deltas = self._deltas(acc)
        pnl_today = None if self._day_start is None else equity + self._hedge_equity()[0] - self._day_start[1]
        portfolio = PortfolioView(
            **base,  # type: ignore[arg-type]
            equity_usd=equity,
            spot_usdc=acc.spot_usdc,
            margin_used_usd=st.total_margin_used,
            maintenance_margin_usd=st.cross_maintenance_margin_used,
            margin_ratio=(equity / ntl) if ntl > 0 else None,
            leverage=(ntl / equity) if equity > 0 else None,
            deltas=deltas,
            total_delta_usd=sum(d.delta_usd for d in deltas),
            funding_today_usd=self._funding_today,
            pnl_today_usd=pnl_today,
            updated_ms=acc.read_ms,
            error=self.error,
        )
        return TradingView(
            portfolio=portfolio,
            positions=tuple(rows),
            orders=tuple(orders),
            activity=self._activity_tuple(),
            activity_seq=self.activity_seq,
            kill=self.kill_status,
        )

    def _deltas(self, acc: AccountSnapshot) -> tuple[AssetDeltaRow, ...]:
        positions, spot = self._spot_and_positions()
        ext = self.settings.external_spot
        coins = sorted({p.symbol for p in positions} | {b.coin for b in spot} | {c for c, q in ext.items() if q})
        out = []
        for coin in coins:
            mid = self.mark(coin)
            if mid is None:
                continue
            px = {coin: mid}
            delta = asset_delta(coin, positions, spot, ext, px)
            ratio = delta_ratio(delta, gross_long_value(coin, positions, spot, ext, px))
            out.append(
                AssetDeltaRow(
                    coin=coin,
                    spot_qty=sum(b.total for b in spot if b.coin == coin) + ext.get(coin, 0.0),
                    perp_qty=sum(p.size for p in positions if p.symbol == coin),
                    delta_usd=delta,
                    ratio=ratio,
                )
            )
        return tuple(out)
