"""The pfterm console: a Textual app rendering coalesced snapshots of the engine.

Data path: venue → adapter → :class:`~core.engine.Engine` (per message, no UI work) →
every ``1/flush_hz`` s the app takes the set of changed markets, snapshots them
(:mod:`core.views`) and hands the snapshots to the widgets. Discrete engine events
(alerts, feed changes) arrive on a bounded queue and raise toasts and the bell.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input

from core.config import SORT_KEYS, Settings
from core.engine import Engine
from core.models import Alert, AlertKind
from core.session import Endpoint, MarketSession, SimulatorStartError, build_engine, resolve_endpoint
from core.views import MarketRow, market_detail, market_row
from tui.bindings import APP_BINDINGS, help_rows
from tui.screens import DetailScreen, HelpScreen
from widgets.detail import MarketDetail
from widgets.market_table import SORT_TITLES, MarketTable
from widgets.panels import AlertsPanel, SettlementPanel, StatusBar, StatusView

TOAST_MIN_INTERVAL_S = 2.0


class PftermApp(App[int]):
    """The console.

    Args:
        settings: validated settings.
        engine: an engine to render; by default one is built for ``settings``' venue.
        endpoint: where data comes from; by default resolved from ``settings``.
        start_feed: start the market session (simulator/venue); tests pass ``False`` and
            feed the engine themselves.
        mono: monotonic clock used for ages and staleness (tests freeze it).
    """

    CSS_PATH = "app.tcss"
    TITLE = "pfterm"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS = APP_BINDINGS

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        endpoint: Endpoint | None = None,
        start_feed: bool = True,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.endpoint = endpoint or resolve_endpoint(settings)
        self.engine = engine or build_engine(settings, self.endpoint)
        self.session = MarketSession(settings, self.endpoint, self.engine) if start_feed else None
        self.mono = mono
        self.show_delisted = settings.markets.include_delisted
        self._alert_seq_shown = -1
        self._last_toast = 0.0
        self._pending_toasts = 0
        self._tick = 0
        self._stale: set[str] = set()
        self._settlement_second = -1
        self._latency_file = os.environ.get("PFTERM_LATENCY_FILE")

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        """Markets on the left; settlement, detail and alerts on the right; status and keys below."""
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Input(placeholder="filter markets (Enter keeps, Esc clears)", id="filter")
                yield MarketTable(sort=self.settings.ui.sort, id="markets")
            with Vertical(id="side"):
                yield SettlementPanel(id="settlement")
                yield MarketDetail(id="detail")
                with VerticalScroll(id="alerts-box"):
                    yield AlertsPanel(id="alerts")
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
        table.border_title = "Markets"
        table.measure_latency = bool(self._latency_file)
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
        now = self.mono()
        if now - self._last_toast < TOAST_MIN_INTERVAL_S:
            self._pending_toasts += 1
            return
        extra = f" (+{self._pending_toasts} more)" if self._pending_toasts else ""
        self._pending_toasts = 0
        self._last_toast = now
        severity = "error" if alert.kind is AlertKind.CASCADE else "warning"
        self.notify(alert.message + extra, title=alert.kind.value, severity=severity, timeout=6)
        if self.settings.alerts.bell:
            self.bell()

    # ------------------------------------------------------------------ flush
    def flush(self) -> None:
        """Push coalesced engine state to the widgets (runs ``flush_hz`` times a second)."""
        eng = self.engine
        now_ms = eng.clock.now_ms()
        mono = self.mono()
        stale_after = self.settings.markets.stale_after_s
        table = self.table
        dirty = eng.take_dirty()
        self._tick += 1
        every_second = self._tick % max(1, round(self.settings.ui.flush_hz)) == 0
        if every_second:
            # staleness changes without any message arriving: re-check every market once a second
            stale_now = {m.symbol for m in eng.markets(True) if eng.is_stale(m, stale_after, mono)}
            dirty |= stale_now ^ self._stale
            self._stale = stale_now
        rows = self._rows(dirty, now_ms, mono)
        table.update_rows(rows)
        table.set_now(now_ms)
        if every_second or self._tick == 1:
            table.resort()
            self._update_sort_title()
            self._flush_status(now_ms, mono)
        if now_ms // 1000 != self._settlement_second:
            # the countdown must agree with the rows' even when venue time runs fast (sim ×60)
            self._settlement_second = now_ms // 1000
            self._flush_settlement(now_ms, mono)
        if eng.alert_seq != self._alert_seq_shown:
            self._alert_seq_shown = eng.alert_seq
            self.alerts_panel.show(eng.alerts)
        sel = table.selected
        if sel and (every_second or self._tick == 1):
            self._flush_detail(sel, now_ms, mono)

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
        self.settlement.show(now_ms, nxt, live[::-1][:3], live[:3])

    def _flush_status(self, now_ms: int, mono: float) -> None:
        eng = self.engine
        table = self.table
        view = StatusView(
            venue=self.endpoint.label,
            feeds=tuple(eng.feeds[k] for k in sorted(eng.feeds)),
            last_msg=tuple(sorted(eng.last_msg.items())),
            stale=len(self._stale & set(table.rows)),
            markets=len(table.rows),
            speed=self.endpoint.clock_rate if self.endpoint.embedded else None,
            now_ms=now_ms,
            now_mono=mono,
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
        """Enter keeps the filter and returns to the markets."""
        if event.input.id == "filter":
            if not event.value:
                event.input.remove_class("-active")
            self.table.focus()

    # ------------------------------------------------------------------ actions
    def action_help(self) -> None:
        """Show every key binding."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(help_rows()))

    def action_filter(self) -> None:
        """Show and focus the market filter."""
        box = self.filter_box
        box.add_class("-active")
        box.focus()

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
        screen = DetailScreen()
        self.push_screen(screen)
        screen.call_after_refresh(screen.show, self._detail_view(sel, self.engine.clock.now_ms(), self.mono()))

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
        """Save an SVG screenshot of the screen in the current directory."""
        path = self.save_screenshot(path=".")
        self.notify(f"saved {path}")

    async def action_quit(self) -> None:
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
        path.write_text(json.dumps({"n": len(lat), "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": lat[-1] * 1000}))

    def _update_sort_title(self) -> None:
        table = self.table
        arrow = "▼" if table.sort_desc else "▲"
        flt = f"  filter “{table.filter_text}”" if table.filter_text else ""
        table.border_title = f"Markets ({len(table.order)})  sort: {SORT_TITLES[table.sort_key]} {arrow}{flt}"

    # ------------------------------------------------------------------ command palette
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every console action, for the command palette."""
        yield from super().get_system_commands(screen)
        for key in SORT_KEYS:
            yield SystemCommand(f"Sort by {SORT_TITLES[key]}", f"Order markets by {SORT_TITLES[key]}",
                                lambda k=key: self.action_sort(k))  # fmt: skip
        yield SystemCommand("Reverse sort", "Flip ascending / descending", self.action_reverse)
        yield SystemCommand("Filter markets", "Type part of a market name", self.action_filter)
        yield SystemCommand("Clear filter", "Show every market again", self.action_clear_filter)
        yield SystemCommand("Market detail", "Full-screen detail of the selected market", self.action_detail)
        yield SystemCommand("Toggle delisted markets", "Show or hide delisted markets", self.action_toggle_delisted)
        yield SystemCommand("Key bindings", "List every key", self.action_help)
        yield SystemCommand("Save SVG screenshot", "Write the screen to an SVG file", self.action_save_svg)
