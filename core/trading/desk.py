"""The desk: the trading state, the risk gate, kill-all, delta and the views, above one order
manager per venue.

Every order of every caller — the console's keys, the harvester, ``pfterm kill``, the daily-loss
limit — goes through :meth:`Desk.submit`:

1. the **trading state** shared by every process trading the account
   (:class:`~pfterm.core.trading.state.SharedTradingState`) is read fresh from the journal: HALTED
   accepts only cancels and reduce-only closes, REDUCING only orders that shrink a position;
2. the **risk gate** (:func:`pfterm.core.trading.risk.check_order`) with capital counted across every venue,
   spot included: leverage, order and position notional, per-market share, **per-venue share**
   (``trading.max_venue_share``), fat-finger band, daily loss;
3. the venue's :class:`~pfterm.core.trading.orders.OrderManager`: journal before send, answers after,
   lost answers settled by cloid, never resent.

The **kill switch** (:meth:`Desk.start_kill`) sets HALTED for every account of the desk at once
(so every other process stops entering), then runs :func:`pfterm.core.trading.kill.kill_venue` on every
venue concurrently under one hard deadline (``kill_deadline_s``), carries' spot legs included,
and reports exactly what is left.

The **daily loss limit** (``docs/domain.md`` §6: 3 % of the day's starting capital) reads equity
across every venue *including spot* (a carry's spot gain offsets its perp loss) and fires the
same kill switch.

Units: prices and money USD, sizes base units, fractions plain, times ms UTC unless ``_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pfterm.core.market.models import MarketInfo, OpenOrder, OrderIntent, Position, SpotBalance
from pfterm.core.trading.credentials import TradingAccess
from pfterm.core.trading.hedging import (
    MIN_ORDER_USD,
    HedgePreview,
    asset_delta,
    delta_ratio,
    gross_long_value,
    plan_hedge,
    plan_rebalance,
)
from pfterm.core.trading.hyperliquid import HyperliquidClient
from pfterm.core.trading.journal import Journal
from pfterm.core.trading.kill import KillReport, VenueKillReport, kill_venue
from pfterm.core.trading.orders import OrderManager, SubmitOutcome, describe_intent
from pfterm.core.trading.portfolio import (
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
from pfterm.core.trading.risk import (
    RefusalCode,
    TradingState,
    check_order,
    daily_loss_breached,
    distance_to_liquidation,
)
from pfterm.core.trading.settings import DeskSettings
from pfterm.core.trading.state import SharedTradingState, StateRecord, process_origin
from pfterm.core.trading.ticket import quote_ticket
from pfterm.core.trading.venue import AccountSnapshot
from pfterm.core.venues.errors import VenueError

log = logging.getLogger(__name__)

__all__ = ["ACTIVITY_MAX", "Desk", "DeskSettings"]

ACTIVITY_MAX = 500
"""Lines kept in the activity log."""


def _day_start_ms(ms: int) -> int:
    day = datetime.fromtimestamp(ms / 1000, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(day.timestamp() * 1000)


def _usable(px: float | None) -> bool:
    return px is not None and math.isfinite(px) and px > 0


class Desk:
    """The trading desk of one trader: one order manager per venue, one state, one gate.

    Args:
        access: who may trade (:func:`pfterm.core.trading.credentials.trading_access`); without a signer the
            desk is read-only: it shows nothing and refuses every order with the reason.
        primary: the Hyperliquid order manager (``None`` when read-only).
        journal: the durable journal (``None`` only in tests of pure previews).
        settings: limits and behaviour.
        markets: perp metadata by symbol (the console's market feed); read from the venue on
            :meth:`start` otherwise.
        prices: live prices by symbol, USD (the console's feed: perp marks, then spot mids);
            ``None``: the venue's mids.
        origin: who this process is, for the shared trading state (``"console"``, ``"pfterm
            harvest"``, ``"pfterm kill"``).
        wall_ms, mono: clocks (tests freeze them).
        activity_ms: the clock of the activity log's times, ms (default ``wall_ms``): the venue's
            clock, so that on a simulator running fast the log, the alerts and the harvester
            speak of the same time.
    """

    def __init__(
        self,
        access: TradingAccess,
        primary: OrderManager | None,
        journal: Journal | None,
        settings: DeskSettings | None = None,
        *,
        markets: Mapping[str, MarketInfo] | None = None,
        prices: Callable[[], Mapping[str, float]] | None = None,
        origin: str = "console",
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        mono: Callable[[], float] = time.perf_counter,
        activity_ms: Callable[[], int] | None = None,
    ) -> None:
        self.access = access
        self.primary = primary if access.can_trade else None
        self.journal = journal
        self.settings = settings or DeskSettings()
        self.markets: dict[str, MarketInfo] = dict(markets or {})
        """Perp metadata of the primary venue by symbol (asset ids, lot decimals)."""
        self._prices = prices
        self.wall_ms = wall_ms
        self.activity_ms = activity_ms or wall_ms
        self.mono = mono
        self.origin = process_origin(origin)
        self.managers: dict[str, OrderManager] = {}
        """Every venue's order manager by venue name, the primary first."""
        journals = []
        if self.primary is not None:
            self.primary.note = self.note
            self.managers[self.primary.venue] = self.primary
            if self.primary.journal is not None:
                journals.append(self.primary.journal)
        self.shared = SharedTradingState(journals, self.origin, wall_ms=wall_ms, mono=mono)
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
        self._stopping = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._last_state: TradingState = TradingState.ACTIVE

    # ------------------------------------------------------------------ activity
    def note(self, level: ActivityLevel, text: str) -> None:
        """Append one line to the activity log (bounded to :data:`ACTIVITY_MAX`) and the log."""
        self.activity.append(ActivityEntry(self.activity_ms(), level, text))
        self.activity_seq += 1
        pylevel = {ActivityLevel.ERROR: logging.ERROR, ActivityLevel.WARN: logging.WARNING}.get(level, logging.INFO)
        log.log(pylevel, "%s", text)

    def _event(self, kind: str, message: str, detail: Mapping[str, Any] | None = None) -> None:
        om = self.primary
        target = om.journal if om is not None and om.journal is not None else self.journal
        if target is None:
            return
        try:
            target.log_event(kind, message, detail)
        except Exception as exc:  # noqa: BLE001 - the journal must not take the console down
            log.error("journal event failed: %s", exc)

    # ------------------------------------------------------------------ venues
    @property
    def can_trade(self) -> bool:
        """True when orders can be signed and sent."""
        return self.primary is not None

    @property
    def read_only_reason(self) -> str | None:
        """Why trading is off, or ``None``."""
        return self.access.read_only

    @property
    def hyperliquid(self) -> HyperliquidClient | None:
        """The primary venue's client (market-data reads for the harvester), or ``None``."""
        return self.primary.client if self.primary is not None else None  # type: ignore[return-value]

    @property
    def hedges(self) -> list[OrderManager]:
        """The other venues' managers (the Binance leg), in the order attached."""
        return [m for v, m in self.managers.items() if self.primary is None or v != self.primary.venue]

    def attach(self, manager: OrderManager) -> None:
        """Add a venue (the Binance leg): its orders pass the same gate, its account shares the
        trading state, its equity counts in the day's P&L and the kill switch flattens it too."""
        if manager.venue in self.managers:
            return
        manager.note = self.note
        self.managers[manager.venue] = manager
        if manager.journal is not None:
            self.shared.add(manager.journal)
        if self.journal is not None and self.primary is not None:
            with contextlib.suppress(Exception):
                self.journal.register_book(self.primary.ref, [m.ref for m in self.managers.values()])
        self._day_start = None  # re-baseline the day with the new venue's equity in it

    def detach(self, manager: OrderManager) -> None:
        """Remove a venue that could not be started (its account keeps its journal rows)."""
        if self.managers.get(manager.venue) is manager and manager is not self.primary:
            del self.managers[manager.venue]
            if manager.journal in self.shared.journals:
                self.shared.journals.remove(manager.journal)
            self._day_start = None

    def manager(self, venue: str | None = None) -> OrderManager:
        """The order manager of ``venue`` (the primary when ``None``).

        Raises:
            RuntimeError: read-only desk, or no such venue attached.
        """
        if self.primary is None:
            raise RuntimeError(f"read-only: {self.access.read_only}")
        if venue is None:
            return self.primary
        om = self.managers.get(venue)
        if om is None:
            raise RuntimeError(f"no {venue} account attached")
        return om

    @property
    def account(self) -> AccountSnapshot | None:
        """The primary venue's last account reading."""
        return self.primary.snapshot if self.primary is not None else None

    # ------------------------------------------------------------------ prices
    def mark(self, symbol: str) -> float | None:
        """The best known price of ``symbol``: the feed's, else the venue's mid, else the
        position's mark (USD)."""
        if self._prices is not None:
            px = self._prices().get(symbol)
            if _usable(px):
                return px
        for om in self.managers.values():
            px = om.mids.get(symbol)
            if _usable(px):
                return px
        for om in self.managers.values():
            if om.snapshot is not None:
                for p in om.snapshot.account.positions:
                    if p.symbol == symbol and _usable(p.mark_px):
                        return p.mark_px
        return None

    def _marks(self, symbols: Sequence[str]) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in symbols:
            px = self.mark(s)
            if px is not None:
                out[s] = px
        return out

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> TradingState:
        """The trading state shared with every process trading these accounts (read at most
        :data:`pfterm.core.trading.state.POLL_S` seconds ago)."""
        return self.shared.state

    @property
    def state_record(self) -> StateRecord:
        """The state with why, since when and who set it."""
        return self.shared.read()

    def set_state(self, state: TradingState, reason: str) -> None:
        """Set the trading state for every account of the desk (every process sees it)."""
        try:
            self.shared.set(state, reason)
        except Exception as exc:  # noqa: BLE001 - the state holds in this process regardless
            self.note(
                ActivityLevel.ERROR, f"trading state not shared ({exc}); other processes may not see {state.value}"
            )
        self._last_state = state
        self._event("trading_state", f"{state.value}: {reason}", {"state": state.value, "reason": reason})

    def _watch_state(self) -> None:
        """Note a change of the shared state made by another process."""
        rec = self.shared.read()
        if rec.state is not self._last_state:
            self._last_state = rec.state
            self.note(
                ActivityLevel.ERROR if rec.state is TradingState.HALTED else ActivityLevel.INFO,
                f"trading {rec.state.value.upper()} by {rec.origin}" + (f": {rec.reason}" if rec.reason else ""),
            )

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Load markets, read every account and reconcile the journal with each venue.

        Errors are reported in the activity log; the desk keeps polling.
        """
        if self.primary is None:
            self.note(ActivityLevel.WARN, f"read-only: {self.access.read_only}")
            return
        if self.journal is not None and self.primary is not None:
            with contextlib.suppress(Exception):
                self.journal.register_book(self.primary.ref, [m.ref for m in self.managers.values()])
        for om in list(self.managers.values()):
            await self.start_venue(om)
        self._watch_state()
        if self.settings.dead_man_switch:
            for om in self.managers.values():
                self._tasks.append(asyncio.create_task(om.dead_man_loop(), name=f"dead-man-{om.venue}"))

    async def start_venue(self, om: OrderManager) -> bool:
        """Markets, account and reconcile of one venue; ``False`` (noted) when it failed."""
        try:
            await om.load_instruments()
            if om is self.primary:
                self.markets.update(
                    {
                        sym: MarketInfo(
                            om.venue, sym, inst.asset_id, getattr(inst.rules, "sz_decimals", 0), inst.max_leverage
                        )
                        for sym, inst in om.instruments.items()
                        if inst.kind == "perp"
                    }
                )
            await om.refresh(orders=True, mids=self._prices is None or om is not self.primary)
            self._track_day()
            await om.reconcile()
            return True
        except VenueError as exc:
            om.error = str(exc)
            if om is self.primary:
                self.error = str(exc)
            self.note(ActivityLevel.ERROR, f"{om.venue} account: {exc}")
            return False

    async def run(self) -> None:
        """Poll until :meth:`stop`: the primary's account every ``poll_s`` (sooner after an
        action), open orders and spot every ``orders_every`` polls, the other venues every
        other poll, fills and funding every ``fills_every`` polls; the shared trading state every
        poll; the daily loss limit after each read."""
        if self.primary is None:
            return
        while not self._stopping:
            if self.kill_running:  # the kill switch reads the accounts itself; stay out of its way
                await asyncio.sleep(0.05)
                continue
            self._poll_n += 1
            n = self._poll_n
            try:
                due = self._orders_due or n % self.settings.orders_every == 0
                await self.refresh(orders=due)
                for om in self.hedges:
                    if n % 2 == 0 or om.snapshot is None:
                        await om.refresh(orders=due)
                if n % self.settings.fills_every == 0:
                    await self.sync_fills_and_funding()
                self.error = None
            except VenueError as exc:
                if self.error != str(exc):
                    self.note(ActivityLevel.ERROR, f"account refresh: {exc}")
                self.error = str(exc)
            except Exception as exc:  # noqa: BLE001 - keep polling whatever a bad answer does
                self.error = f"account refresh: {type(exc).__name__}: {exc}"
                log.exception("account refresh failed")
            self._watch_state()
            self.check_daily_loss()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)

    @property
    def orders_due(self) -> bool:
        """Whether open orders and spot should be re-read (never read, or an action asked)."""
        return self._orders_due or self.account is None

    def refresh_soon(self, orders: bool = True) -> None:
        """Ask :meth:`run` to re-read the account now (after an action)."""
        self._orders_due = self._orders_due or orders
        self._wake.set()

    async def stop(self) -> None:
        """Stop polling and the dead man's switches (disarmed on a clean stop)."""
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for om in self.managers.values():
            await om.disarm_dead_man()

    async def aclose(self) -> None:
        """Close every venue's client (each bounded: a frozen venue never holds the exit)."""
        for om in self.managers.values():
            await om.aclose()

    # ------------------------------------------------------------------ account
    async def refresh(self, orders: bool = True, *, mids: Mapping[str, float] | None = None) -> AccountSnapshot:
        """Read the primary account (open orders and spot too when ``orders``; the venue's
        ``allMids`` when there is no live feed, unless the caller passes ``mids`` just read).

        Raises:
            VenueError: the venue could not be read.
            RuntimeError: read-only desk.
        """
        om = self.manager()
        if mids is not None:
            om.mids = dict(mids)
        snap = await om.refresh(orders=orders, mids=mids is None and self._prices is None, spot=orders)
        if orders:
            self._orders_due = False
        self._track_day()
        return snap

    def _spot_value(self, om: OrderManager) -> float:
        """Spot cash + spot tokens at the best known price, USD (0 without a spot account)."""
        snap = om.snapshot
        if snap is None or snap.account.spot_cash_usd is None:
            return 0.0
        total = snap.account.spot_cash_usd
        for b in snap.account.spot:
            px = self.mark(b.coin)
            if px is not None:
                total += b.total * px
        return total

    def equity_by_venue(self) -> dict[str, float]:
        """Each venue's equity known so far, USD: perp margin account value + spot (cash and
        tokens at the best known price)."""
        out = {}
        for venue, om in self.managers.items():
            if om.snapshot is not None:
                out[venue] = om.snapshot.account.equity_usd + self._spot_value(om)
        return out

    @property
    def capital_usd(self) -> float | None:
        """Equity across every venue, spot included, USD (``None`` before the first read)."""
        eq = self.equity_by_venue()
        return sum(eq.values()) if eq else None

    def _track_day(self) -> None:
        om = self.primary
        if om is None or om.snapshot is None:
            return
        snap = om.snapshot
        now = snap.account.time_ms or snap.read_ms  # a simulator may run faster than the wall clock
        day = _day_start_ms(now)
        eq = self.equity_by_venue()
        equity = sum(eq.values())
        if self._day_start is None or self._day_start[0] != day or self._day_venues != len(eq):
            self._day_start = (day, equity)
            self._day_venues = len(eq)
            self._event(
                "equity_mark",
                f"equity at first sight of the day {equity:.2f}",
                {"day_ms": day, "equity": equity, "venues": len(eq)},
            )

    @property
    def pnl_today(self) -> float | None:
        """Equity now − equity at the first reading of the UTC day, every venue, spot included,
        USD (transfers count as P&L)."""
        if self._day_start is None:
            return None
        cap = self.capital_usd
        return None if cap is None else cap - self._day_start[1]

    def check_daily_loss(self) -> None:
        """Fire the kill switch (or halt, without ``kill_on_daily_loss``) when the day's P&L over
        every venue, spot included, is beyond ``daily_loss_limit`` of the day's starting capital
        (``docs/domain.md`` §6). Called after every account reading."""
        pnl = self.pnl_today
        if pnl is None or self.state is TradingState.HALTED or self.kill_running:
            return
        capital = self._day_start[1] if self._day_start else (self.capital_usd or 0.0)
        if capital > 0 and daily_loss_breached(pnl, capital, self.settings.limits):
            msg = (
                f"daily loss limit: P&L today {pnl:,.2f} USD (every venue, spot included) is beyond "
                f"{self.settings.limits.daily_loss_limit:.1%} of {capital:,.0f} USD"
            )
            self.note(ActivityLevel.ERROR, msg)
            self._event("daily_loss", msg, {"pnl_today": pnl, "capital": capital})
            if self.settings.kill_on_daily_loss:
                self.start_kill(reason="daily loss limit")
            else:
                self.set_state(TradingState.HALTED, "daily loss limit")

    async def sync_fills_and_funding(self) -> None:
        """Journal every venue's fills and funding since the last sync (idempotent)."""
        for om in self.managers.values():
            try:
                await om.sync()
            except VenueError as exc:
                log.warning("%s fills/funding sync failed: %s", om.venue, exc)
        self._refresh_funding_today()

    def _refresh_funding_today(self) -> None:
        om = self.primary
        if om is None or om.journal is None:
            return
        day = _day_start_ms(self.wall_ms())
        total = 0.0
        for m in self.managers.values():
            if m.journal is not None:
                total += sum(p.usdc for p in m.journal.funding(since_ms=day))
        self._funding_today = total

    async def final_sync(self, timeout_s: float) -> list[str]:
        """Sync every venue's fills and funding before the process exits, within ``timeout_s``
        seconds; one line per venue that could not be synced (also recorded as a gap)."""
        results = await asyncio.gather(*(om.final_sync(timeout_s) for om in self.managers.values()))
        return [r for r in results if r]

    async def reconcile(self) -> None:
        """Reconcile every venue's journal rows with the venue.

        Raises:
            VenueError: a venue could not be read.
        """
        for om in self.managers.values():
            await om.reconcile()

    # ------------------------------------------------------------------ risk gate
    def _position(self, om: OrderManager, symbol: str) -> Position | None:
        if om.snapshot is None:
            return None
        inst = om.instrument(symbol)
        if inst is not None and inst.kind == "spot":
            held = sum(b.total for b in om.snapshot.account.spot if b.coin == inst.base)
            if held == 0:
                return None
            px = self.mark(symbol) or 0.0
            return Position(symbol, held, px, px, None, 1.0, 0.0, 0.0)
        return next((p for p in om.snapshot.account.positions if p.symbol == symbol and p.size != 0), None)

    def check(self, intent: OrderIntent, venue: str | None = None) -> str | None:
        """The risk gate for ``intent`` on ``venue`` in the shared trading state (read fresh):
        ``None`` if it may be sent, else the one-line reason. The same for every caller."""
        if self.primary is None:
            return f"read-only: {self.access.read_only}"
        om = self.managers.get(venue or self.primary.venue)
        if om is None:
            return f"no {venue} account attached"
        if om.snapshot is None:
            return "account not read yet; try again in a moment"
        inst = om.instrument(intent.symbol)
        if inst is None:
            return f"{intent.symbol} is not traded on {om.venue}"
        state = self.shared.read(max_age_s=0.0)
        position = self._position(om, intent.symbol)
        checked = intent
        if inst.kind == "spot" and not intent.is_buy and position is not None and intent.size <= position.size + 1e-12:
            checked = replace(intent, reduce_only=True)  # selling spot held can only reduce it
        tick = 0.0
        with contextlib.suppress(ValueError):
            tick = inst.rules.tick(intent.limit_px)
        capital = self.capital_usd
        snap = om.snapshot.account
        mark = self._venue_mark(om, intent.symbol)
        if not checked.reduce_only and mark is not None and intent.size * mark < inst.min_notional_usd:
            return (
                f"refused: {intent.symbol} order value ${intent.size * mark:,.2f} is below {om.venue}'s "
                f"${inst.min_notional_usd:g} minimum"
            )
        refusal = check_order(
            checked,
            state=state.state,
            limits=self.settings.limits,
            mark_px=mark,
            position=position,
            equity_usd=snap.equity_usd if inst.kind == "perp" else (capital or snap.equity_usd),
            capital_usd=capital,
            venue_notional_usd=snap.notional_usd,
            day_pnl_usd=self.pnl_today,
            price_tick_usd=tick,
        )
        if refusal is None:
            return None
        if refusal.code is RefusalCode.NOT_REDUCING:
            # the venue never lets a reduce-only order add exposure: when the last reading shows
            # no position to reduce (it may be a moment old), it is the venue's to refuse
            return None
        if state.state is TradingState.HALTED and refusal.code is RefusalCode.HALTED and state.origin != self.origin:
            return f"{refusal.message} (halted by {state.origin})"
        return refusal.message

    def _venue_mark(self, om: OrderManager, symbol: str) -> float | None:
        """The price the gate checks an order of ``om``'s venue against: that venue's own mid or
        mark when known (the two venues of a perp-against-perp pair differ by their basis),
        else the best known price."""
        if om is not self.primary:
            px = om.mids.get(symbol)
            if not _usable(px):
                pos = om.position(symbol)
                px = pos.mark_px if pos is not None else None
            if not _usable(px):
                px = getattr(om.client, "marks", {}).get(symbol)
            if _usable(px):
                return px
        return self.mark(symbol)

    def gate(self, venue: str, intent: OrderIntent) -> str | None:
        """:meth:`check` with the venue first (the kill switch's signature)."""
        return self.check(intent, venue)

    # ------------------------------------------------------------------ orders
    async def submit(self, intents: Sequence[OrderIntent], *, venue: str | None = None) -> list[SubmitOutcome]:
        """Risk-check every intent, then journal, send and journal the answers of those that
        pass (:meth:`OrderManager.send`). Returns one :class:`SubmitOutcome` per intent, in
        order; never raises for a venue failure. The one order path of every caller."""
        outcomes: dict[int, SubmitOutcome] = {}
        accepted: list[tuple[int, OrderIntent]] = []
        name = venue or (self.primary.venue if self.primary else "")
        for i, intent in enumerate(intents):
            reason = self.check(intent, venue)
            if reason is not None:
                outcomes[i] = SubmitOutcome(intent, "refused", reason, venue=name)
                self.note(ActivityLevel.WARN, f"{intent.purpose}: {describe_intent(intent)} {reason}")
                self._event(
                    "refusal",
                    reason,
                    {"cloid": intent.cloid, "symbol": intent.symbol, "purpose": intent.purpose, "venue": name},
                )
            else:
                accepted.append((i, intent))
        if accepted:
            om = self.manager(venue)
            sent = await om.send([it for _, it in accepted])
            self.refresh_soon()
            for (i, _), outcome in zip(accepted, sent, strict=True):
                outcomes[i] = outcome
        return [outcomes[i] for i in range(len(intents))]

    async def cancel(
        self, orders: Sequence[OpenOrder], *, purpose: str = "manual", venue: str | None = None
    ) -> tuple[int, list[str]]:
        """Cancel ``orders`` on ``venue`` (journalled before and after); allowed in every state.
        Returns ``(cancelled, failures)``."""
        if self.primary is None:
            return 0, [f"read-only: {self.access.read_only}"]
        done = await self.manager(venue).cancel(orders, purpose=purpose)
        self.refresh_soon()
        return done

    # ------------------------------------------------------------------ kill switch
    @property
    def kill_running(self) -> bool:
        """True while a kill-switch run is in progress."""
        return self._kill_task is not None and not self._kill_task.done()

    def start_kill(self, reason: str = "kill key", *, started: float | None = None) -> asyncio.Task[KillReport]:
        """Start the kill switch (or return the run in progress): HALTED at once for every
        account of the desk (every pfterm process trading them stops entering), then every
        venue cancelled and closed concurrently until flat or ``kill_deadline_s`` after
        ``started`` (the desk's monotonic clock; now by default)."""
        if self._kill_task is not None and not self._kill_task.done():
            return self._kill_task
        t0 = self.mono() if started is None else started
        # a full collection of a console's heap stops the process for a few hundred ms (seen in the
        # kill benchmark as its slowest runs): the kill switch is not paused by the collector
        gc_was_on = gc.isenabled()
        gc.disable()
        self.set_state(TradingState.HALTED, f"kill switch ({reason})")
        self._kill_progress([], t0, KillPhase.RUNNING, f"KILL SWITCH ({reason}): halted; cancelling and closing")
        self._kill_task = asyncio.create_task(self._kill(reason, t0), name="kill-switch")
        if gc_was_on:
            self._kill_task.add_done_callback(lambda _t: gc.enable())
        return self._kill_task

    async def kill(self, reason: str = "kill key", *, started: float | None = None) -> KillReport:
        """Run the kill switch to the end and return its :class:`~pfterm.core.trading.kill.KillReport`."""
        return await asyncio.shield(self.start_kill(reason, started=started))

    def _kill_progress(self, parts: Sequence[VenueKillReport], t0: float, phase: KillPhase, message: str) -> None:
        deadline = t0 + self.settings.kill_deadline_s
        self.kill_status = KillStatus(
            phase=phase,
            rounds=max((p.rounds for p in parts), default=0),
            elapsed_ms=int((self.mono() - t0) * 1000),
            cancelled=sum(p.cancelled for p in parts),
            closed=tuple(line for p in parts for line in p.closed),
            failures=tuple(line for p in parts for line in p.failures),
            message=message,
            deadline_mono=deadline,
            state="HALTED",
            attempts=max((p.attempts for p in parts), default=0),
        )

    async def _kill(self, reason: str, t0: float) -> KillReport:
        deadline_s = self.settings.kill_deadline_s
        deadline = t0 + deadline_s
        self.note(ActivityLevel.ERROR, f"KILL SWITCH ({reason}): trading halted")
        self._event("kill", f"kill switch pressed ({reason})", {"reason": reason})
        if not self.managers:
            report = KillReport(failures=[f"read-only: {self.access.read_only}"], started=t0, deadline_s=deadline_s)
            self._kill_progress([], t0, KillPhase.FAILED, report.summary())
            self.last_kill = report
            return report
        parts: dict[str, VenueKillReport] = {v: VenueKillReport(v) for v in self.managers}

        def progress(part: VenueKillReport) -> None:
            parts[part.venue] = part
            done = list(parts.values())
            if not any(p.rounds for p in done):
                message = f"KILL SWITCH: reading the account (try {max(p.attempts for p in done)})"
            else:
                message = (
                    f"KILL SWITCH round {max(p.rounds for p in done)}: {sum(p.cancelled for p in done)} cancelled, "
                    f"{sum(len(p.closed) for p in done)} closed; verifying"
                )
            self._kill_progress(done, t0, KillPhase.RUNNING, message)

        runs = [
            kill_venue(
                om,
                deadline=deadline,
                slippage=self.settings.kill_slippage,
                mono=self.mono,
                gate=self.gate,
                progress=progress,
                started=t0,
                marks=partial(self._venue_mark, om),
            )
            for om in self.managers.values()
        ]
        results = await asyncio.gather(*runs, return_exceptions=True)
        final = []
        for venue, res in zip(self.managers, results, strict=True):
            if isinstance(res, BaseException):
                log.error("kill switch on %s failed", venue, exc_info=res)
                final.append(
                    VenueKillReport(venue, failures=[f"{venue}: kill switch failed: {type(res).__name__}: {res}"])
                )
            else:
                final.append(res)
        report = KillReport.merge(final, started=t0, deadline_s=deadline_s, elapsed_ms=(self.mono() - t0) * 1000)
        phase = KillPhase.FLAT if report.flat else KillPhase.FAILED
        self._kill_progress(final, t0, phase, report.summary())
        self.note(ActivityLevel.OK if report.flat else ActivityLevel.ERROR, report.summary())
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
                "venues": [v.venue for v in final],
            },
        )
        self.last_kill = report
        self.refresh_soon()
        return report

    def resume(self) -> None:
        """Leave HALTED/REDUCING for ACTIVE (an explicit user action after a kill), for every
        process trading these accounts."""
        if self.kill_running:
            return
        self.set_state(TradingState.ACTIVE, "resumed")
        self.kill_status = None
        self.note(ActivityLevel.INFO, "trading resumed (ACTIVE)")
        self._event("resume", "trading resumed")

    # ------------------------------------------------------------------ previews
    def _spot_and_positions(self) -> tuple[list[Position], list[SpotBalance]]:
        """Positions for delta and hedging: the primary's, plus every other venue's perp
        positions under the same symbol (a Binance long offsets a Hyperliquid short)."""
        om = self.primary
        if om is None or om.snapshot is None:
            return [], []
        positions = [p for p in om.snapshot.account.positions if p.size != 0]
        for h in self.hedges:
            if h.snapshot is not None:
                positions += [p for p in h.snapshot.account.positions if p.size != 0]
        return positions, list(om.snapshot.account.spot)

    def preview_hedge(self, symbol: str) -> tuple[HedgePreview | None, str | None]:
        """The order neutralising ``symbol``'s delta and ``None``, or ``None`` and why not.
        The preview's intent is risk-checked; a refusal comes back with the preview."""
        if self.primary is None:
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
                symbol,
                positions,
                spot,
                self.settings.external_spot,
                market=market,
                mid=mid,
                slippage=self.settings.order_slippage,
            )
        except ValueError as exc:
            return None, f"{symbol}: hedge cannot be priced: {exc}"
        if preview is None:
            delta = asset_delta(symbol, positions, spot, self.settings.external_spot, {symbol: mid})
            return (
                None,
                f"{symbol} delta {delta:+,.2f} USD: nothing to hedge (below one lot or the ${MIN_ORDER_USD:.0f} minimum)",
            )
        return preview, self.check(preview.intent)

    def preview_rebalance(self) -> tuple[RebalanceView, str | None]:
        """Hedges for every asset whose delta ratio exceeds the threshold, and a refusal if any
        hedge would be refused (the first reason)."""
        if self.primary is None:
            return RebalanceView(), f"read-only: {self.access.read_only}"
        if self.account is None:
            return RebalanceView(), "account not read yet"
        positions, spot = self._spot_and_positions()
        coins = {p.symbol for p in positions} | {b.coin for b in spot} | set(self.settings.external_spot)
        plan = plan_rebalance(
            positions,
            spot,
            self.settings.external_spot,
            self._marks(sorted(coins)),
            self.markets,
            threshold=self.settings.rebalance_threshold,
            slippage=self.settings.order_slippage,
        )
        hedges = tuple(replace(h, intent=replace(h.intent, purpose="rebalance")) for h in plan.hedges)
        view = RebalanceView(hedges=hedges, skipped=tuple(f"{s.symbol}: {s.reason}" for s in plan.skipped))
        refusal = next((r for r in (self.check(h.intent) for h in hedges) if r is not None), None)
        return view, refusal

    def quote(self, req: TicketRequest) -> TicketQuote:
        """Turn an order ticket into a rounded, risk-checked intent (never raises)."""
        return quote_ticket(
            req,
            market=self.markets.get(req.symbol),
            mark_px=self.mark(req.symbol),
            order_slippage=self.settings.order_slippage,
            fat_finger_band=self.settings.limits.fat_finger_band,
            check=self.check,
        )

    # ------------------------------------------------------------------ view
    def _activity_tuple(self) -> tuple[ActivityEntry, ...]:
        seq, entries = self._activity_view
        if seq != self.activity_seq:
            entries = tuple(self.activity)
            self._activity_view = (self.activity_seq, entries)
        return entries

    def view(self) -> TradingView:
        """A snapshot for the console's panels, with live marks from the feed."""
        om = self.primary
        snap = om.snapshot if om is not None else None
        rec = self.shared.read()
        base = dict(
            account=short_address(self.access.account) if self.access.account else None,
            network=self.access.network,
            read_only=self.access.read_only,
            state=rec.state,
            state_reason=(f"{rec.reason} ({rec.origin})" if rec.state is not TradingState.ACTIVE else None),
        )
        if snap is None:
            return TradingView(
                portfolio=PortfolioView(**base, error=self.error),  # type: ignore[arg-type]
                activity=self._activity_tuple(),
                activity_seq=self.activity_seq,
                kill=self.kill_status,
            )
        acc = snap.account
        rows = []
        ntl = 0.0
        upnl_total = 0.0
        for venue, m in self.managers.items():
            if m.snapshot is None:
                continue
            for p in m.snapshot.account.positions:
                if p.size == 0:
                    continue
                mark = self.mark(p.symbol) if m is om else (p.mark_px or self.mark(p.symbol))
                mark = mark or p.mark_px or p.entry_px
                upnl = p.size * (mark - p.entry_px) if m is om else p.unrealized_pnl
                notional = abs(p.size) * mark
                if m is om:
                    ntl += notional
                    upnl_total += upnl
                dist = distance_to_liquidation(p.liquidation_px, mark) if p.liquidation_px and mark > 0 else None
                rows.append(
                    PositionRow(
                        symbol=p.symbol,
                        size=p.size,
                        entry_px=p.entry_px,
                        mark_px=mark,
                        notional_usd=notional,
                        unrealized_pnl=upnl,
                        funding_since_open=p.funding_since_open,
                        leverage=p.leverage,
                        liquidation_px=p.liquidation_px,
                        liq_distance=dist,
                        margin_used=p.margin_used,
                        venue="" if m is om else venue,
                    )
                )
        rows.sort(key=lambda r: -r.notional_usd)
        orders = []
        for o in snap.orders:
            mark = self.mark(o.symbol)
            orders.append(
                OrderRow(
                    symbol=o.symbol,
                    oid=o.oid,
                    cloid=o.cloid,
                    is_buy=o.is_buy,
                    limit_px=o.limit_px,
                    size=o.size,
                    reduce_only=o.reduce_only,
                    timestamp_ms=o.timestamp_ms,
                    distance=None if not mark else (o.limit_px - mark) / mark,
                )
            )
        orders.sort(key=lambda r: (r.symbol, -r.limit_px))
        venue_upnl = sum(p.unrealized_pnl for p in acc.positions)
        equity = acc.equity_usd + (upnl_total - venue_upnl)  # equity moves with the live marks between reads
        deltas = self._deltas()
        portfolio = PortfolioView(
            **base,  # type: ignore[arg-type]
            equity_usd=equity,
            spot_usdc=acc.spot_cash_usd,
            margin_used_usd=acc.margin_used_usd,
            maintenance_margin_usd=acc.maintenance_usd,
            margin_ratio=(equity / ntl) if ntl > 0 else None,
            leverage=(ntl / equity) if equity > 0 else None,
            deltas=deltas,
            total_delta_usd=sum(d.delta_usd for d in deltas),
            funding_today_usd=self._funding_today,
            pnl_today_usd=self._pnl_today_marked(equity),
            updated_ms=snap.read_ms,
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

    def _pnl_today_marked(self, primary_equity: float) -> float | None:
        """:attr:`pnl_today` with the primary venue's equity at the live marks (as shown)."""
        if self._day_start is None or self.primary is None:
            return None
        eq = self.equity_by_venue()
        eq[self.primary.venue] = primary_equity + self._spot_value(self.primary)
        return sum(eq.values()) - self._day_start[1]

    def _deltas(self) -> tuple[AssetDeltaRow, ...]:
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
