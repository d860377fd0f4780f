"""The pfterm console: a Textual app rendering coalesced snapshots of the engine.

Data path: venue → adapter → :class:`~pfterm.core.market.engine.Engine` (per message, no UI work) →
every ``1/flush_hz`` s the app takes the set of changed markets, snapshots them
(:mod:`pfterm.core.market.views`) and hands the snapshots to the widgets. Discrete engine events
(alerts, feed changes) arrive on a bounded queue and raise toasts and the bell.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.message_pump import MessagePump
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Footer, Input

from pfterm.core.crossvenue.session import CrossVenueData, hyperliquid_records
from pfterm.core.market.engine import Engine
from pfterm.core.market.models import Alert, AlertKind, OrderIntent
from pfterm.core.market.views import MarketRow, feed_view, market_detail, market_row
from pfterm.core.runtime.config import SORT_KEYS, Settings
from pfterm.core.runtime.heap import CollectorPauses, settle_heap
from pfterm.core.runtime.session import Endpoint, MarketSession, SimulatorStartError, build_engine, resolve_endpoint
from pfterm.core.trading.credentials import TradingAccess
from pfterm.core.trading.desk import Desk
from pfterm.core.trading.portfolio import KillPhase, TradingView
from pfterm.tui.bindings import (
    APP_BINDINGS,
    KILL_ID,
    console_keymap,
    full_keymap,
    help_note,
    help_rows,
    key_hint,
    trading_bindings,
)
from pfterm.tui.screens import DetailScreen, HelpScreen, MatrixScreen, TradingScreen
from pfterm.tui.trade_screens import HarvesterRestartScreen, HedgeScreen, OrderTicketScreen, QuitScreen, RebalanceScreen
from pfterm.widgets.detail import MarketDetail
from pfterm.widgets.harvest import HarvesterPanel
from pfterm.widgets.market_table import SORT_TITLES, MarketTable
from pfterm.widgets.panels import AlertsPanel, SettlementPanel, StatusBar, StatusView
from pfterm.widgets.trading import ActivityLog, KillBanner, OpenOrdersPanel, PortfolioPanel, PositionsPanel

if TYPE_CHECKING:
    from pfterm.core.harvest.harvester import Harvester

PORTFOLIO_EVERY = 4
"""The Portfolio panel is repainted every this many flushes (2 Hz at the default 8 Hz)."""

HEAP_SETTLE_DELAY_S = 2.0
"""Seconds after the first markets are listed before the heap is settled (frozen): the
start-up's last objects (first snapshot, first paint) are then built."""

KEY_STALL_S = 1.0
"""A key whose handling has not finished after this long (wall seconds) no longer holds back
the keys typed after it (see :meth:`PftermApp.on_event`)."""


class KeyHandled(Message):
    """Posted right behind a key forwarded to a widget or screen; when it has bubbled back to
    the app, every handler of key number ``seq`` has run, bindings included."""

    def __init__(self, seq: int) -> None:
        super().__init__()
        self.seq = seq


class PftermApp(App[int]):
    """The console.

    Args:
        settings: validated settings.
        engine: an engine to render; by default one is built for ``settings``' venue.
        endpoint: where data comes from; by default resolved from ``settings``.
        start_feed: start the market session (simulator/venue); tests pass ``False`` and
            feed the engine themselves.
        mono: monotonic clock used for ages and staleness (tests freeze it).
        access: who may trade (:func:`pfterm.core.runtime.session.resolve_access`); ``None``: no trading
            (the panels say so).
        desk: an already built :class:`~pfterm.core.trading.desk.Desk` (tests); by default the market
            session opens one for ``access`` once the venue is up.
        settles_heap: once the first markets are listed, freeze the process's start-up heap
            (:func:`pfterm.core.runtime.heap.settle_heap`: a process-wide collector setting, so
            the ``pfterm`` command sets it, not an app embedded in another process).

    Raises:
        ConfigError: a remapped key (``[keys]``, ``ui.kill_key``) of an unknown binding, that a
            terminal cannot send, or that another binding already uses where it acts (one line;
            :func:`pfterm.tui.bindings.console_keymap`).

    Every binding has an id; the config's remaps are Textual's keymap, so footers and routing
    follow them.

    Keys are handled one at a time, in the order typed: a key goes on to the focused widget
    (or screen) only once the one before it has been fully handled, bindings included (see
    :meth:`on_event`). So a key that opens a dialog (``o``, ``h``, ``q``) has opened it before
    the keys typed after it are routed, and they go into the dialog.
    """

    CSS_PATH = ["app.tcss", "trade.tcss"]
    """Every stylesheet, the dialogs' too: read at start-up, so opening a dialog the first time
    does not make Textual parse the whole stylesheet again and restyle every widget (~110 ms)."""
    TITLE = "pfterm"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    # the kill key first, so that even an 80-column footer shows it
    BINDINGS = [*trading_bindings()[:1], *APP_BINDINGS, *trading_bindings()[1:]]

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        endpoint: Endpoint | None = None,
        start_feed: bool = True,
        mono: Callable[[], float] = time.monotonic,
        access: TradingAccess | None = None,
        desk: Desk | None = None,
        settles_heap: bool = False,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.endpoint = endpoint or resolve_endpoint(settings)
        self.engine = engine or build_engine(settings, self.endpoint)
        from pfterm.core.crossvenue.symbols import SymbolMap

        self.crossvenue = CrossVenueData(
            on_surge=self._on_surge,
            on_liquidations=self.engine.on_liquidations,
            symbols=SymbolMap(settings.symbols.overrides),
        )
        self.session = (
            MarketSession(settings, self.endpoint, self.engine, access, crossvenue=self.crossvenue)
            if start_feed
            else None
        )
        self._desk = desk
        self._trading_seq = -1
        self._trading_titles: tuple[str, str] | None = None
        self.harvester: Harvester | None = None
        # every key is remappable by binding id ([keys], ui.kill_key) through Textual's keymap;
        # without remaps there is no keymap at all
        self.key_remaps = console_keymap(settings)
        """Binding id → its keys (``"ctrl+k,f12"``), for the bindings the config remaps."""
        if self.key_remaps:
            self.set_keymap(full_keymap(self.key_remaps))
        kill = next(b for b in trading_bindings() if b.id == KILL_ID)
        self._kill_keys = frozenset(self.key_remaps.get(KILL_ID, kill.key).split(","))
        self._kill_deadline: float | None = None
        """When the kill started from this console gives up (``mono`` seconds), for a kill
        status that does not carry its own deadline."""
        self._keys_pending: deque[events.Key | events.Paste] = deque()
        self._key_seq = 0
        self._key_in_flight: tuple[int, MessagePump, float] | None = None
        self.mono = mono
        self.show_delisted = settings.markets.include_delisted
        self._alert_seq_shown = -1
        self.alert_gate = settings.alerts.alert_gate()
        """Which alerts are toasted and rung (repeats and the cap held back, the bell by kind)."""
        self._tick = 0
        self._covered = False
        """A screen was on top at the last flush (the main screen's widgets were not fed)."""
        self._stale: set[str] = set()
        self._settlement_second = -1
        self._latency_file = os.environ.get("PFTERM_LATENCY_FILE")
        self._gc_pauses = CollectorPauses()
        """The collector's pauses, timed for the benchmark (only with ``PFTERM_LATENCY_FILE``)."""
        self._heap_settled = not settles_heap

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        """Markets on the left; settlement, detail and alerts on the right; status and keys below."""
        banner = KillBanner(id="kill-banner")
        banner.resume_key = key_hint("app.resume", self.key_remaps, KillBanner.RESUME_KEY)
        banner.hide_key = key_hint("app.clear", self.key_remaps, KillBanner.HIDE_KEY)
        yield banner
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Input(placeholder="filter markets (Enter keeps, Esc clears)", id="filter")
                yield MarketTable(sort=self.settings.ui.sort, id="markets")
                yield PositionsPanel(id="positions")
            with Vertical(id="side"):
                yield SettlementPanel(id="settlement")
                portfolio = PortfolioPanel(id="portfolio")
                portfolio.resume_key = key_hint("app.resume", self.key_remaps, KillBanner.RESUME_KEY)
                yield portfolio
                yield MarketDetail(id="detail")
                with VerticalScroll(id="alerts-box"):
                    yield AlertsPanel(id="alerts")
        with Horizontal(id="trading-row"):
            yield OpenOrdersPanel(id="orders")
            yield ActivityLog(id="activity")
            yield HarvesterPanel(id="harvester")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        """Start the feed, the flush timer and the event consumer."""
        # Direct references: queries search the active screen, which is a modal while help or
        # the full-screen detail is open, but the main screen must keep updating underneath.
        self.table = table = self.query_one(MarketTable)
        self.settlement = self.query_one(SettlementPanel)
        self.alerts_panel = self.query_one(AlertsPanel)
        self.status_bar = self.query_one(StatusBar)
        self.detail = self.query_one("#detail", MarketDetail)
        self.filter_box = self.query_one("#filter", Input)
        self.kill_banner = self.query_one(KillBanner)
        self.positions_panel = self.query_one(PositionsPanel)
        self.orders_panel = self.query_one(OpenOrdersPanel)
        self.portfolio_panel = self.query_one(PortfolioPanel)
        self.activity_log = self.query_one(ActivityLog)
        self.harvester_panel = self.query_one(HarvesterPanel)
        self.harvester_panel.border_title = "Harvester"
        self.harvester_panel.display = False
        self.positions_panel.border_title = "Positions"
        self.orders_panel.border_title = "Open orders"
        self.portfolio_panel.border_title = "Portfolio"
        self.activity_log.border_title = "Activity"
        table.border_title = "Markets"
        table.measure_latency = bool(self._latency_file)
        if self._latency_file:
            self._gc_pauses.install()
        self.settlement.border_title = "Settlement"
        self.query_one("#alerts-box").border_title = "Alerts"
        self.detail.border_title = "Detail"
        table.focus()
        self._update_sort_title()
        self.set_interval(1.0 / self.settings.ui.flush_hz, self.flush)
        self._consume_events()
        if self.session is not None:
            self._run_session()
        self.flush()

    # ------------------------------------------------------------------ keys, in order
    async def on_event(self, event: events.Event) -> None:
        """Route keys (and pastes) one at a time, in the order typed.

        Textual forwards a key to the focused widget and resolves the app's and the screen's
        bindings only when the key bubbles back up, through each widget's message queue; keys
        typed meanwhile are routed at once, to whatever has focus *then*. So ``o`` followed
        quickly by ``0.02`` sent the digits to the market table before the order ticket
        existed, and ``j`` then ``o`` could open the ticket on the market before the cursor
        moved. Here a key is routed only once the previous one has come back (a
        :class:`KeyHandled` marker posted behind it has bubbled up); keys arriving meanwhile
        wait, in order. The kill key never waits: it acts at once, and drops the keys typed
        before it. A key still unhandled after :data:`KEY_STALL_S`, or whose target has left
        the screen stack, stops holding the others back.
        """
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            urgent = isinstance(event, events.Key) and event.key in self._kill_keys
            if urgent:
                self._keys_pending.clear()
            elif self._key_in_flight is not None or self._keys_pending:
                self._keys_pending.append(event)
                self._check_key_in_flight()
                return
            await self._route_key(event)
            return
        await super().on_event(event)

    async def _route_key(self, event: events.Key | events.Paste) -> None:
        """Textual's routing of one key (priority bindings, then the focused widget or the
        screen), then a marker behind it when it went on to a widget."""
        target = self.focused or self.screen
        await super().on_event(event)
        if not event.is_forwarded or self._key_in_flight is not None:
            return  # handled here by a priority binding (or, the kill key, while another is out)
        self._key_seq += 1
        if target.post_message(KeyHandled(self._key_seq)):
            self._key_in_flight = (self._key_seq, target, time.monotonic())

    async def on_key_handled(self, message: KeyHandled) -> None:
        """The key in flight is handled: route the next waiting ones."""
        if self._key_in_flight is not None and self._key_in_flight[0] == message.seq:
            self._key_in_flight = None
            await self._route_pending()

    async def _route_pending(self) -> None:
        while self._keys_pending and self._key_in_flight is None:
            await self._route_key(self._keys_pending.popleft())

    def _check_key_in_flight(self) -> None:
        """Stop waiting for a key whose target has gone (a closed dialog) or that stalls."""
        flight = self._key_in_flight
        if flight is None:
            return
        _seq, target, t0 = flight
        try:
            gone = not target.is_attached or target.screen not in self.screen_stack  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a removed widget has no screen
            gone = True
        if gone or time.monotonic() - t0 > KEY_STALL_S:
            self._key_in_flight = None
            if self._keys_pending:
                self.call_later(self._route_pending)

    @work(exclusive=True, group="session")
    async def _run_session(self) -> None:
        assert self.session is not None
        try:
            await self.session.run()
        except SimulatorStartError as exc:
            self.notify(f"simulator: {exc}", severity="error", timeout=30)
        except asyncio.CancelledError:
            raise

    @work(group="events")
    async def _consume_events(self) -> None:
        queue = self.engine.subscribe()
        try:
            while True:
                event = await queue.get()
                if isinstance(event, Alert):
                    self._on_alert(event)
        finally:
            self.engine.unsubscribe(queue)

    def _on_alert(self, alert: Alert) -> None:
        """Toast (and ring for the chosen kinds) an alert the gate lets through; repeats and alerts
        beyond the cap are only counted (the Alerts panel has them all)."""
        verdict = self.alert_gate.admit(alert, self.mono())
        if not verdict.toast:
            return
        extra = f" (+{verdict.held} more alerts)" if verdict.held else ""
        severity: SeverityLevel = "error" if alert.kind is AlertKind.CASCADE else "warning"
        self.notify(alert.message + extra, title=alert.kind.value, severity=severity, timeout=6)
        if verdict.bell:
            self.bell()

    # ------------------------------------------------------------------ flush
    def flush(self) -> None:
        """Push coalesced engine state to the widgets (runs ``flush_hz`` times a second)."""
        if not self.is_running or not self.screen_stack:
            return  # starting or shutting down: no screen to paint (a timer tick can land then)
        self._check_key_in_flight()
        desk = self.desk
        if desk is not None and desk.kill_running:
            # the kill switch owns the event loop: no repaint but its banner (a live countdown
            # to the deadline, even while the venue answers nothing) until it is done
            self.kill_banner.show(desk.kill_status, self.mono(), deadline_mono=self._kill_deadline)
            return
        eng = self.engine
        now_ms = eng.clock.now_ms()
        mono = self.mono()
        self._tick += 1
        every_second = self._tick % max(1, round(self.settings.ui.flush_hz)) == 0
        if every_second and (held := self.alert_gate.take_held(mono)):
            self.notify(f"+{held} more alerts: see the Alerts panel", title="alerts", severity="warning", timeout=6)
        if len(self.screen_stack) > 1:
            # covered (a dialog or a full-screen view on top): only the top screen is fed; the
            # main screen's widgets wait, their changes kept in the engine's dirty set, and are
            # brought up to date at the first flush after it shows again
            self._covered = True
            self._flush_top(now_ms, mono, every_second)
            return
        if self._covered:
            self._covered = False
            self._tick = 1  # a full flush: sort, status, detail, settlement, portfolio
            self._settlement_second = -1
            self._trading_titles = None
        stale_after = self.settings.markets.stale_after_s
        table = self.table
        dirty = eng.take_dirty()
        if every_second:
            # staleness changes without any message arriving: re-check every market once a second
            stale_now = {m.symbol for m in eng.markets(True) if eng.is_stale(m, stale_after, mono)}
            dirty |= stale_now ^ self._stale
            self._stale = stale_now
        rows = self._rows(dirty, now_ms, mono)
        table.update_rows(rows)
        if not self._heap_settled and table.order:
            # start-up is over once markets are listed: settle the heap a moment later, so a
            # full collection never walks start-up's objects again (core/runtime/heap.py)
            self._heap_settled = True
            self.set_timer(HEAP_SETTLE_DELAY_S, settle_heap)
        table.set_now(now_ms)
        if every_second or self._tick == 1:
            self._update_sort_title()  # the order itself is kept live by update_rows
            self._flush_status(now_ms, mono)
        if now_ms // 1000 != self._settlement_second:
            # the countdown must agree with the rows' even when venue time runs fast (sim ×60)
            self._settlement_second = now_ms // 1000
            self._flush_settlement(now_ms, mono)
        if eng.alert_seq != self._alert_seq_shown:
            self._alert_seq_shown = eng.alert_seq
            self.alerts_panel.show(eng.alerts, repeat_after_s=self.settings.alerts.repeat_after_s)
        sel = table.selected
        if sel and (every_second or self._tick == 1):
            self._flush_detail(sel, now_ms, mono)
        self._flush_trading(now_ms)

    def _flush_top(self, now_ms: int, mono: float, every_second: bool) -> None:
        """Feed the screen on top of the main screen: the trading screen at every flush, the
        detail and the funding matrix once a second; a dialog needs nothing (it reads what it
        shows when it opens, and the kill banner's state is re-read on return)."""
        screen = self.screen
        if isinstance(screen, TradingScreen):
            desk = self.desk
            view = desk.view() if desk is not None else TradingView(portfolio=_no_trading_portfolio(self.session))
            screen.show(view, now_ms)
        elif isinstance(screen, DetailScreen):
            if every_second or self._tick == 1:
                sel = self.table.selected
                if sel:
                    self._flush_detail(sel, now_ms, mono)
        elif isinstance(screen, MatrixScreen) and every_second:
            self.refresh_matrix()

    # ------------------------------------------------------------------ funding matrix
    def action_matrix(self) -> None:
        """The funding matrix across venues and the liquidation feed (full screen)."""
        if isinstance(self.screen, MatrixScreen):
            self.pop_screen()
            return
        self.push_screen(MatrixScreen())
        self.call_after_refresh(self.refresh_matrix)

    def matrix_venues(self) -> tuple[str, ...]:
        """The venues in the matrix: the trading venue's, then the watched read-only ones."""
        cross = self.session.cross_venues if self.session is not None else ()
        seen = self.crossvenue.matrix.venues()
        return ("hyperliquid", *[v for v in ("binance", "bybit", "okx", "dydx") if v in cross or v in seen])

    def refresh_matrix(self) -> None:
        """Push the matrix (with Hyperliquid's live rates from the engine) and the liquidations."""
        screen = self.screen
        if not isinstance(screen, MatrixScreen):
            return
        eng = self.engine
        now_ms = eng.clock.now_ms()
        states = [st for st in eng.store.markets.values() if st.ctx is not None and not st.info.delisted]
        if states:
            records = hyperliquid_records([st.info for st in states], [st.ctx for st in states], [], now_ms)
            # the venue's predicted settlement time, unless it has already passed (it is polled)
            nxt = {st.info.symbol: st.next_funding_ms for st in states if (st.next_funding_ms or 0) > now_ms}
            self.crossvenue.matrix.update(
                [r if not nxt.get(r.symbol) else replace(r, next_funding_ms=nxt[r.symbol]) for r in records]
            )
        rows = self.crossvenue.matrix.rows(
            screen.basis,
            now_ms=now_ms,
            sort=screen.sort,
            holding_periods=self.settings.harvest.holding_periods,
        )
        liq = self.crossvenue.liquidations
        sel = screen.selected
        window_min = 60
        liq_args = (
            liq.recent(20),
            liq.totals(window_min * 60_000, now_ms),
            liq.minute_buckets(sel, now_ms, minutes=10) if sel else [],
            sel,
            window_min,
            tuple(self.crossvenue.feeds[k] for k in sorted(self.crossvenue.feeds)),
        )
        screen.show(self.matrix_venues(), rows, now_ms, liq_args)

    def _on_surge(self, sig) -> None:
        side = "longs" if sig.long_usd >= sig.short_usd else "shorts"
        ratio = "" if sig.ratio == float("inf") else f", {sig.ratio:.0f}× the usual minute"
        msg = f"{sig.symbol} liquidations across venues: ${sig.usd:,.0f} in a minute, mostly {side}{ratio}"
        self.engine.raise_alert(
            Alert(
                AlertKind.LIQUIDATIONS,
                sig.symbol,
                sig.minute_ms,
                msg,
                extra={"usd": sig.usd, "long_usd": sig.long_usd, "short_usd": sig.short_usd},
            )
        )

    # ------------------------------------------------------------------ trading
    @property
    def desk(self) -> Desk | None:
        """The account's order manager, once the venue is up (``None`` before, or without trading)."""
        if self._desk is not None:
            return self._desk
        return self.session.desk if self.session is not None else None

    def _flush_trading(self, now_ms: int) -> None:
        desk = self.desk
        if desk is None:
            view = TradingView(portfolio=_no_trading_portfolio(self.session))
        else:
            view = desk.view()
        self._show_trading(view, now_ms, self)

    def _show_trading(self, view: TradingView, now_ms: int, _where: object) -> None:
        self.kill_banner.show(view.kill, self.mono(), deadline_mono=self._kill_deadline)
        self.positions_panel.show(view.positions)
        self.orders_panel.show(view.orders, now_ms)
        if self._tick % PORTFOLIO_EVERY == 1 or view.portfolio.state is not getattr(
            self.portfolio_panel.view, "state", None
        ):
            # equity, P&L and the delta table move with every mark: a table of many assets is the
            # costliest repaint of the screen, and twice a second is enough for it
            self.portfolio_panel.show(view.portfolio)
        if view.activity_seq != self._trading_seq:
            self._trading_seq = view.activity_seq
            self.activity_log.show(view.activity, view.activity_seq)
        if self.harvester is not None:
            self.harvester_panel.display = True
            self.harvester_panel.show(self.harvester.view())
        # a border title set even to the same text repaints the whole panel: only on change
        titles = (f"Positions ({len(view.positions)})", f"Open orders ({len(view.orders)})")
        if titles != self._trading_titles:
            self._trading_titles = titles
            self.positions_panel.border_title, self.orders_panel.border_title = titles

    def _rows(self, symbols: Iterable[str], now_ms: int, mono: float) -> list[MarketRow]:
        eng = self.engine
        stale_after = self.settings.markets.stale_after_s
        out = []
        for sym in symbols:
            state = eng.store.get(sym)
            if state is None or (state.info.delisted and not self.show_delisted):
                continue
            row = market_row(state, now_ms, eng.is_stale(state, stale_after, mono) and not state.info.delisted)
            if row is not None:
                out.append(row)
        return out

    def _flush_settlement(self, now_ms: int, mono: float) -> None:
        table = self.table
        live = [r for r in table.rows.values() if not r.delisted]
        live.sort(key=lambda r: r.funding_apr)
        nxt = min((r.next_funding_ms for r in live), default=None)
        self.settlement.show(now_ms, nxt, live[::-1][:3], live[:3], self._positions_note())

    def _positions_note(self) -> str:
        """Estimated funding of the open positions at the next settlement (USD, received +)."""
        desk = self.desk
        if desk is None or not desk.can_trade:
            return "positions: none (read-only)"
        acc = desk.account
        positions = [p for p in acc.account.positions if p.size != 0] if acc else []
        if not positions:
            return "positions: none"
        total = 0.0
        for p in positions:
            st = self.engine.store.get(p.symbol)
            if st is None or st.ctx is None:
                continue
            # longs pay a positive rate: payment = −size × mark × rate (docs/domain.md §1)
            total += -p.size * st.ctx.mark_px * st.ctx.funding
        sign = "+" if total >= 0 else "−"
        return f"your next funding: {sign}${abs(total):,.2f} on {len(positions)} position(s)"

    def _flush_status(self, now_ms: int, mono: float) -> None:
        eng = self.engine
        table = self.table
        view = StatusView(
            venue=self.endpoint.label,
            feeds=tuple(
                feed_view(eng.feeds[k], eng.feed_last_msg(k), self.settings.markets.stale_after_s, mono)
                for k in sorted(eng.feeds)
            ),
            last_msg=tuple(sorted(eng.last_msg.items())),
            stale=len(self._stale & set(table.rows)),
            markets=len(table.rows),
            speed=self.endpoint.clock_rate if self.endpoint.embedded else None,
            now_ms=now_ms,
            now_mono=mono,
            wall_ms=time.time_ns() // 1_000_000,
        )
        self.status_bar.show(view)

    def _detail_view(self, sym: str, now_ms: int, mono: float):
        state = self.engine.store.get(sym)
        if state is None or state.ctx is None:
            return None
        stale = self.engine.is_stale(state, self.settings.markets.stale_after_s, mono)
        row = market_row(state, now_ms, stale)
        assert row is not None
        return market_detail(state, row, self.engine.book)

    def _flush_detail(self, sym: str, now_ms: int, mono: float) -> None:
        view = self._detail_view(sym, now_ms, mono)
        if isinstance(self.screen, DetailScreen):
            self.screen.show(view)
        elif self.screen.has_class("-wide") or not self.screen.has_class("-narrow"):
            self.detail.show(view)

    # ------------------------------------------------------------------ events from widgets
    def on_market_table_selected(self, message: MarketTable.Selected) -> None:
        """Follow the newly selected market closely and show its detail."""
        if self.session is not None:
            self.session.select(message.symbol)
        else:
            self.engine.selected = message.symbol
        self._flush_detail(message.symbol, self.engine.clock.now_ms(), self.mono())

    def on_market_table_sort_changed(self, message: MarketTable.SortChanged) -> None:
        """Keep the panel title in step with the sort and filter."""
        self._update_sort_title()

    def on_market_table_opened(self, message: MarketTable.Opened) -> None:
        """Enter on a market opens its full-screen detail."""
        self.action_detail()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Filter as the user types."""
        if event.input.id == "filter":
            self.table.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter keeps the filter and returns to the markets, the cursor on the best match."""
        if event.input.id == "filter":
            if not event.value:
                event.input.remove_class("-active")
            else:
                self.table.select_top()
            self.table.focus()

    # ------------------------------------------------------------------ actions
    def action_help(self) -> None:
        """Show every key binding."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(help_rows(self.key_remaps), help_note(self.key_remaps)))

    def action_filter(self) -> None:
        """Show and focus the market filter."""
        box = self.filter_box
        box.add_class("-active")
        # focus now, not after the queued messages (Widget.focus defers it): the keys typed
        # right after the filter key are already on their way and must reach the box
        self.screen.set_focus(box)

    def action_escape(self) -> None:
        """Escape on the main screen: clear an open filter; else fold the banner of a finished
        kill to one line, and hide it once folded (a running kill's banner stays); else the same
        as clearing the filter."""
        box = self.filter_box
        banner = self.kill_banner
        if not box.has_class("-active") and not box.value and (banner.fold() or banner.hide()):
            return
        self.action_clear_filter()

    def action_clear_filter(self) -> None:
        """Clear and hide the filter."""
        box = self.filter_box
        box.value = ""
        box.remove_class("-active")
        self.table.set_filter("")
        self.table.focus()

    def action_detail(self) -> None:
        """Open the selected market's detail full screen."""
        sel = self.table.selected
        if sel is None or isinstance(self.screen, DetailScreen):
            return
        self.push_screen(DetailScreen(self._detail_view(sel, self.engine.clock.now_ms(), self.mono())))

    def action_sort(self, key: str) -> None:
        """Sort the markets by ``key``."""
        self.table.set_sort(key)

    def action_reverse(self) -> None:
        """Reverse the sort order."""
        self.table.action_reverse_sort()

    def action_toggle_delisted(self) -> None:
        """Show or hide delisted markets."""
        self.show_delisted = not self.show_delisted
        table = self.table
        if not self.show_delisted:
            for sym in [s for s, r in table.rows.items() if r.delisted]:
                del table.rows[sym]
        table.update_rows(self._rows(list(self.engine.store.markets), self.engine.clock.now_ms(), self.mono()))
        table.resort()
        self._update_sort_title()

    def action_save_svg(self) -> None:
        """Save an SVG screenshot of the screen in ``ui.screenshot_dir`` (default the user data
        directory's ``pfterm/screenshots``, created ``0700``: a screenshot shows the account)
        and show where; a directory that cannot be written is reported, nothing raised."""
        from platformdirs import user_data_path

        from pfterm.core.trading.journal import make_private_dirs
        from pfterm.core.venues.errors import one_line

        folder = self.settings.ui.screenshot_dir or user_data_path("pfterm") / "screenshots"
        try:
            folder = folder.expanduser()
            make_private_dirs(folder)
            path = self.save_screenshot(path=str(folder))
        except OSError as exc:
            self.notify(f"screenshot not saved: {one_line(str(exc))}", severity="error", timeout=10)
            return
        self.notify(f"screenshot saved: {path}", timeout=10)

    async def action_quit(self) -> None:
        """Quit: at once when nothing is open; with open positions or orders, ask first
        (:class:`~pfterm.tui.trade_screens.QuitScreen`; on the embedded simulator its account goes
        away with them). ``ctrl+q`` inside the question quits."""
        if isinstance(self.screen, QuitScreen):
            await self._quit_now()
            return
        positions, orders = self._open_book()
        if not positions and not orders:
            await self._quit_now()
            return

        def answered(quit_: bool | None) -> None:
            if quit_:
                self.call_later(self._quit_now)

        self.push_screen(QuitScreen(positions, orders, self.endpoint.label, self.endpoint.embedded), answered)

    def _open_book(self) -> tuple[int, int]:
        """How many positions and open orders the account has, as the panels show them."""
        desk = self.desk
        if desk is None:
            return 0, 0
        try:
            view = desk.view()
        except Exception:  # noqa: BLE001 - quitting must work even when the account view fails
            return 0, 0
        return len(view.positions), len(view.orders)

    async def _quit_now(self) -> None:
        """Stop the feed and the embedded simulator, then exit."""
        await self._stop_session()
        self.exit(0)

    async def _stop_session(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            await session.stop()
        if self._latency_file:
            self._write_latency(Path(self._latency_file))

    async def on_unmount(self) -> None:
        """Make sure the simulator child is gone whatever way the app ends."""
        await self._stop_session()

    def _write_latency(self, path: Path) -> None:
        lat = sorted(self.table.latencies)
        if not lat:
            return
        q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000  # noqa: E731
        self._gc_pauses.uninstall()  # a collection must not append while the runs are read
        gc_runs = [list(run) for run in self._gc_pauses.runs]
        path.write_text(
            json.dumps(
                {"n": len(lat), "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": lat[-1] * 1000, "gc_runs": gc_runs}
            )
        )

    # ------------------------------------------------------------------ trading actions
    def _ready_desk(self, what: str) -> Desk | None:
        desk = self.desk
        if desk is None:
            self.notify(f"{what}: trading is not available yet (venue starting)", severity="warning")
            return None
        if not desk.can_trade:
            self.notify(f"{what}: read-only — {desk.read_only_reason}", severity="warning", timeout=8)
            return None
        return desk

    def _focus_symbol(self) -> str | None:
        if self.positions_panel.has_focus and self.positions_panel.selected:
            return self.positions_panel.selected
        return self.table.selected

    def action_kill(self) -> None:
        """The kill switch: halt, cancel every order, close every position, verify flat. No confirmation."""
        desk = self.desk
        if desk is None:
            self.notify("KILL: trading is not running on this venue yet; nothing to kill", severity="error")
            return
        while len(self.screen_stack) > 1:  # the emergency key wins over any dialog
            self.pop_screen()
        self._keys_pending.clear()  # keys typed before the kill no longer apply
        if not desk.kill_running:
            self._kill_deadline = self.mono() + desk.settings.kill_deadline_s
        task = desk.start_kill("kill key")
        if self.harvester is not None and self.harvester.status == "running":
            self.harvester.status = "halted"  # the kill switch halts the harvester too
            self.run_worker(self.harvester.stop(), group="harvester")
        self.kill_banner.show(desk.kill_status, self.mono(), deadline_mono=self._kill_deadline)
        self.bell()
        task.add_done_callback(lambda t: self.call_later(self._kill_done, t))

    def _kill_done(self, task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.notify(f"kill switch error: {exc}", severity="error", timeout=30)
            return
        report = task.result()
        self.notify(
            report.summary(), title="KILL SWITCH", severity="information" if report.flat else "error", timeout=20
        )
        self.bell()

    def action_resume(self) -> None:
        """Leave HALTED after a kill: back to ACTIVE and hide the banner. Already ACTIVE (and no
        kill shown): says so and changes nothing. A harvester the halt stopped is not restarted
        behind the trader's back: :class:`HarvesterRestartScreen` asks."""
        desk = self._ready_desk("resume")
        if desk is None:
            return
        status = desk.kill_status
        if status is not None and status.phase is KillPhase.RUNNING:
            self.notify("the kill switch is still running", severity="warning")
            return
        if status is None and desk.state is desk.state.ACTIVE:
            self.notify("trading is already active")
            return
        desk.resume()
        self.notify("trading ACTIVE again")
        harvester = self.harvester
        if harvester is None or harvester.status != "halted":
            return
        start_key = key_hint("app.harvester", self.key_remaps, "H")

        def answered(restart: bool | None) -> None:
            if harvester.status != "halted":
                return  # started or halted again meanwhile
            if restart and desk.state is desk.state.ACTIVE:
                self.action_harvest()
            else:
                harvester.status = "stopped"
                self.notify(f"harvester stays stopped; {start_key} starts it")

        self.push_screen(HarvesterRestartScreen(harvester.settings.profile.name, start_key), answered)

    def action_order(self) -> None:
        """Open the order ticket for the selected market."""
        desk = self._ready_desk("order")
        sym = self._focus_symbol()
        if desk is None or sym is None:
            return

        def done(intent: OrderIntent | None) -> None:
            if intent is not None:
                self._send([intent], "order")

        band = desk.settings.limits.fat_finger_band
        self.push_screen(OrderTicketScreen(sym, desk.mark(sym), desk.quote, fat_finger_band=band), done)

    def action_hedge(self) -> None:
        """Preview the perp order that neutralises the selected asset's delta."""
        desk = self._ready_desk("hedge")
        sym = self._focus_symbol()
        if desk is None or sym is None:
            return
        preview, reason = desk.preview_hedge(sym)
        refusal, note = (reason, None) if preview is not None else (None, reason)
        if preview is None and reason and "nothing to hedge" not in reason:
            refusal, note = reason, None

        def done(ok: bool | None) -> None:
            if ok and preview is not None:
                self._send([preview.intent], "hedge")

        self.push_screen(HedgeScreen(sym, preview, refusal, note), done)

    def action_rebalance(self) -> None:
        """Preview the orders bringing every asset over the threshold back to delta-neutral."""
        desk = self._ready_desk("rebalance")
        if desk is None:
            return
        view, refusal = desk.preview_rebalance()

        def done(ok: bool | None) -> None:
            if ok and view.hedges:
                self._send([h.intent for h in view.hedges], "rebalance")

        self.push_screen(RebalanceScreen(view, refusal), done)

    def action_harvest(self) -> None:
        """Start or stop the funding harvester on this account (in-process, same desk)."""
        desk = self._ready_desk("harvester")
        if desk is None:
            return
        from pfterm.core.harvest.harvester import Harvester
        from pfterm.core.harvest.lockstep import harvester_settings

        if self.harvester is not None and self.harvester.status == "running":
            self.run_worker(self.harvester.stop(), group="harvester")
            self.notify("harvester stopped; its positions stay open")
            return
        if desk.state is not desk.state.ACTIVE:
            self.notify(
                f"trading is halted: resume ({key_hint('app.resume', self.key_remaps, KillBanner.RESUME_KEY)}) before starting the harvester",
                severity="warning",
            )
            return
        if self.harvester is None:
            hedge = self.session.hedge if self.session is not None else None
            self.harvester = Harvester(
                desk, harvester_settings(self.settings), now_ms=self.engine.clock.now_ms, hedge=hedge
            )
        elif self.harvester.hedge is None and self.session is not None and self.session.hedge is not None:
            # the Binance leg came up after the harvester was first started: use it from now on
            self.harvester.hedge = self.session.hedge
            desk.attach(self.session.hedge)
        rate = self.endpoint.clock_rate or 1.0
        self.harvester.status = "running"
        self.run_worker(self.harvester.run(wall_per_venue_s=1.0 / rate), group="harvester", exclusive=True)
        self.notify(f"harvester started ({self.harvester.settings.profile.name})")

    def action_cancel_all(self) -> None:
        """Cancel every open order (one batch, journalled)."""
        desk = self._ready_desk("cancel all")
        if desk is None or desk.account is None:
            return
        orders = list(desk.account.orders)
        if not orders:
            self.notify("no open orders")
            return
        self.run_worker(self._cancel(orders), group="orders")

    def action_trading(self) -> None:
        """Positions, orders, portfolio and activity over the whole screen."""
        if isinstance(self.screen, TradingScreen):
            self.pop_screen()
            return
        self.push_screen(TradingScreen())
        self.call_after_refresh(self._flush_top, self.engine.clock.now_ms(), self.mono(), True)

    def on_open_orders_panel_cancel_requested(self, message: OpenOrdersPanel.CancelRequested) -> None:
        """``c`` on an open order cancels it."""
        desk = self._ready_desk("cancel")
        if desk is None or desk.account is None:
            return
        orders = [o for o in desk.account.orders if o.oid == message.oid]
        if orders:
            self.run_worker(self._cancel(orders), group="orders")

    def _send(self, intents: list[OrderIntent], what: str) -> None:
        self.run_worker(self._submit(intents, what), group="orders")

    async def _submit(self, intents: list[OrderIntent], what: str) -> None:
        desk = self.desk
        if desk is None:
            return
        outcomes = await desk.submit(intents)
        bad = [o for o in outcomes if o.status in ("refused", "error", "unknown")]
        for o in bad[:3]:
            self.notify(o.message, title=f"{what} {o.status}", severity="error", timeout=10)
        if not bad:
            self.notify(
                outcomes[0].message if len(outcomes) == 1 else f"{what}: {len(outcomes)} orders sent", timeout=4
            )

    async def _cancel(self, orders) -> None:
        desk = self.desk
        if desk is None:
            return
        done, failures = await desk.cancel(orders)
        if failures:
            self.notify(failures[0], title="cancel failed", severity="error", timeout=10)
        else:
            self.notify(f"cancelled {done} order(s)", timeout=4)

    def _update_sort_title(self) -> None:
        table = self.table
        arrow = "▼" if table.sort_desc else "▲"
        flt = f"  filter “{table.filter_text}”" if table.filter_text else ""
        frozen = " ❄ frozen" if table.frozen else ""
        table.border_title = f"Markets ({len(table.order)})  sort: {SORT_TITLES[table.sort_key]} {arrow}{frozen}{flt}"

    # ------------------------------------------------------------------ command palette
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every console action, for the command palette."""
        yield from super().get_system_commands(screen)
        for key in SORT_KEYS:
            yield SystemCommand(
                f"Sort by {SORT_TITLES[key]}", f"Order markets by {SORT_TITLES[key]}", lambda k=key: self.action_sort(k)
            )
        yield SystemCommand("Reverse sort", "Flip ascending / descending", self.action_reverse)
        yield SystemCommand("Filter markets", "Type part of a market name", self.action_filter)
        yield SystemCommand("Clear filter", "Show every market again", self.action_clear_filter)
        yield SystemCommand("Market detail", "Full-screen detail of the selected market", self.action_detail)
        yield SystemCommand("Toggle delisted markets", "Show or hide delisted markets", self.action_toggle_delisted)
        yield SystemCommand("KILL SWITCH", "Cancel every order and close every position now", self.action_kill)
        yield SystemCommand("Order ticket", "Buy or sell the selected market", self.action_order)
        yield SystemCommand(
            "Hedge selected asset", "Preview the perp order that neutralises its delta", self.action_hedge
        )
        yield SystemCommand(
            "Rebalance to delta-neutral", "Preview hedges for every asset over threshold", self.action_rebalance
        )
        yield SystemCommand("Cancel all orders", "Cancel every open order in one batch", self.action_cancel_all)
        yield SystemCommand(
            "Start / stop the harvester", "Automated funding harvesting on this account", self.action_harvest
        )
        yield SystemCommand("Resume trading", "Back to ACTIVE after a kill", self.action_resume)
        yield SystemCommand(
            "Trading screen", "Positions, orders, portfolio and activity full screen", self.action_trading
        )
        yield SystemCommand("Funding matrix", "Funding across venues, best spreads, liquidations", self.action_matrix)
        yield SystemCommand("Key bindings", "List every key", self.action_help)
        yield SystemCommand("Save SVG screenshot", "Write the screen to an SVG file", self.action_save_svg)


def _no_trading_portfolio(session: MarketSession | None):
    """The portfolio shown before a desk exists (venue starting) or with trading off."""
    from pfterm.core.trading.portfolio import PortfolioView
    from pfterm.core.trading.risk import TradingState

    access = session.access if session is not None else None
    if access is None:
        return PortfolioView(None, "—", "trading not configured", TradingState.ACTIVE)
    if access.read_only:
        return PortfolioView(None, access.network, access.read_only, TradingState.ACTIVE)
    return PortfolioView(None, access.network, "venue starting…", TradingState.ACTIVE, starting=True)
