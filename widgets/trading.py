"""Trading panels: positions, open orders, portfolio, activity log and the kill-switch banner,
plus :class:`Choice`, a keyboard-only option toggle used by the order ticket.

Every widget renders a snapshot from :mod:`pfterm.core.trading.portfolio` handed to it by the console; none
reads the engine or talks to a venue. The console flushes at 8 Hz, so each ``show`` compares
the new snapshot with the last one and does nothing when it is unchanged.

The two tables use Textual's line API (like :class:`~pfterm.widgets.market_table.MarketTable`): only
visible lines are rendered, and columns that do not fit the width are dropped by priority.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from rich.console import Group, RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.events import Resize
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import RichLog, Static

from pfterm.core.trading.hedging import DEFAULT_REBALANCE_THRESHOLD
from pfterm.core.trading.portfolio import (
    ActivityEntry,
    ActivityLevel,
    KillPhase,
    KillStatus,
    OrderRow,
    PortfolioView,
    PositionRow,
)
from pfterm.core.trading.risk import TradingState
from pfterm.widgets.numbers import fmt_money, fmt_pct, fmt_price, fmt_size, fmt_usd

__all__ = [
    "LIQ_DANGER",
    "LIQ_GUARD",
    "LIQ_WARN",
    "ActivityLog",
    "Choice",
    "KillBanner",
    "OpenOrdersPanel",
    "PortfolioPanel",
    "PositionsPanel",
    "RowTable",
    "TColumn",
    "liq_distance_style",
]

POS = Style(color="#4ec98b")
NEG = Style(color="#f0625c")
WARN = Style(color="#ffd166")
DIM = Style(color="#7d8590")
PLAIN = Style()
BOLD = Style(bold=True)
HEADER = Style(color="#c9d1d9", bold=True, bgcolor="#1f2933")
CURSOR_BG = Style(bgcolor="#264f78")
CURSOR_BG_BLUR = Style(bgcolor="#30363d")

LIQ_GUARD = 0.10
"""Distance to liquidation that must never be crossed (``docs/domain.md`` §4, seed 003): shown reversed red."""
LIQ_DANGER = 0.15
"""Distance to liquidation below which positions are auto-reduced (``docs/domain.md`` §4, seed 001): shown red."""
LIQ_WARN = 0.30
"""Console warning level, twice the auto-reduce distance (not from the seeds): shown yellow."""

MARGIN_RATIO_WARN = 1 / 3
"""Margin ratio (equity / notional, ``docs/domain.md`` §4) below which it turns yellow: the account is
above the 3× leverage limit of ``docs/domain.md`` §6."""
MARGIN_RATIO_DANGER = 0.10
"""Margin ratio below which it turns red: above 10× effective leverage (console choice)."""


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S")


def _signed(v: float | None) -> Style:
    if v is None or v == 0:
        return DIM
    return POS if v > 0 else NEG


def liq_distance_style(distance: float | None) -> Style:
    """Style for a distance to liquidation (fraction, ``docs/domain.md`` §4): reversed red below
    :data:`LIQ_GUARD` (10 %), red below :data:`LIQ_DANGER` (15 %), yellow below :data:`LIQ_WARN`
    (30 %), plain otherwise; dim when unknown."""
    if distance is None:
        return DIM
    if distance < LIQ_GUARD:
        return Style(color="#f0625c", bold=True, reverse=True)
    if distance < LIQ_DANGER:
        return Style(color="#f0625c", bold=True)
    if distance < LIQ_WARN:
        return WARN
    return PLAIN


def _age(ms: int) -> str:
    """A compact age: ``"42s"``, ``"5m"``, ``"3h"``, ``"2d"`` (negative clamps to 0s)."""
    s = max(0, ms // 1000)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86_400:
        return f"{s // 3600}h"
    return f"{s // 86_400}d"


R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TColumn(Generic[R]):
    """A table column: key, header, width (cells), right-aligned?, priority (0 is never dropped,
    higher drops first), and a cell function ``(row, now_ms) -> (text, style)``."""

    key: str
    title: str
    width: int
    right: bool
    priority: int
    cell: Callable[[R, int], tuple[str, Style]]


class RowTable(ScrollView, Generic[R], can_focus=True):
    """A header line and one line per row, with a cursor; rendered line by line."""

    COLUMNS: ClassVar[tuple[TColumn[Any], ...]] = ()
    NARROW_COLUMNS: ClassVar[tuple[TColumn[Any], ...]] = ()
    """Narrower (abbreviated) columns used when even the never-dropped columns of :attr:`COLUMNS`
    do not fit; empty: none."""
    EMPTY: ClassVar[str] = ""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="rows.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="rows.down"),
        Binding("home", "edge(0)", "First", show=False, id="rows.first"),
        Binding("end", "edge(1)", "Last", show=False, id="rows.last"),
    ]

    DEFAULT_CSS = """
    RowTable {
        height: auto;
        min-height: 2;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.rows: tuple[R, ...] = ()
        self.cursor = 0
        self.now_ms = 0
        self.renders = 0
        """How many times the rows were replaced (a test hook for "unchanged data costs nothing")."""
        self._columns: tuple[TColumn[R], ...] = self.COLUMNS
        self._columns_width = -1
        self.virtual_size = Size(0, 2)

    def _key(self, row: R) -> object:
        return row

    def _set_rows(self, rows: Sequence[R], now_ms: int = 0) -> None:
        rows = tuple(rows)
        old_key = self._key(self.rows[self.cursor]) if 0 <= self.cursor < len(self.rows) else None
        count_changed = len(rows) != len(self.rows)
        self.rows = rows
        self.now_ms = now_ms
        self.renders += 1
        keys = [self._key(r) for r in rows]
        if old_key in keys:
            self.cursor = keys.index(old_key)
        else:
            self.cursor = min(self.cursor, max(0, len(rows) - 1))
        if count_changed:
            self.virtual_size = Size(0, max(1, len(rows)) + 1)
        self.refresh(layout=count_changed)
        self._cursor_moved()

    def _cursor_moved(self) -> None:
        """Hook: the cursor may now be on another row."""

    def current(self) -> R | None:
        """The row under the cursor, ``None`` without rows."""
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    # ------------------------------------------------------------------ actions
    def action_cursor(self, delta: int) -> None:
        """Move the cursor by ``delta`` rows."""
        self._move_to(self.cursor + delta)

    def action_edge(self, end: int) -> None:
        """Jump to the first (0) or last (1) row."""
        self._move_to(len(self.rows) - 1 if end else 0)

    def _move_to(self, i: int) -> None:
        if not self.rows:
            return
        i = max(0, min(len(self.rows) - 1, i))
        if i == self.cursor:
            return
        old = self.cursor
        self.cursor = i
        self.refresh_line(old + 1 - self.scroll_offset.y)
        self.refresh_line(i + 1 - self.scroll_offset.y)
        top = self.scroll_offset.y
        visible = max(1, self.size.height - 1)
        if i < top:
            self.scroll_to(y=i, animate=False)
        elif i >= top + visible:
            self.scroll_to(y=i - visible + 1, animate=False)
        self._cursor_moved()

    def on_focus(self) -> None:  # noqa: D102 - Textual hook
        self.refresh()

    def on_blur(self) -> None:  # noqa: D102 - Textual hook
        self.refresh()

    def on_click(self, event) -> None:  # noqa: D102 - Textual hook
        if event.y >= 1:
            self._move_to(self.scroll_offset.y + event.y - 1)

    def watch_scroll_y(self, old: float, new: float) -> None:  # noqa: D102 - Textual hook
        super().watch_scroll_y(old, new)
        self.refresh()

    # ------------------------------------------------------------------ rendering
    def fit_columns(self, width: int) -> tuple[TColumn[R], ...]:
        """The columns shown at ``width`` cells: lowest-priority columns dropped until they fit;
        when they still do not, :attr:`NARROW_COLUMNS` (if any) fitted the same way."""
        if width == self._columns_width:
            return self._columns
        cols = self._fit(self.COLUMNS, width)
        if self.NARROW_COLUMNS and sum(c.width + 1 for c in cols) > width:
            cols = self._fit(self.NARROW_COLUMNS, width)
        self._columns = cols
        self._columns_width = width
        return self._columns

    @staticmethod
    def _fit(columns: tuple[TColumn[R], ...], width: int) -> tuple[TColumn[R], ...]:
        """``columns`` without the lowest-priority ones (the rightmost first among equals) until
        they fit ``width`` cells or only never-dropped (priority 0) columns are left."""
        cols = list(columns)
        while sum(c.width + 1 for c in cols) > width and len(cols) > 1:
            worst = max(cols, key=lambda c: (c.priority, columns.index(c)))
            if worst.priority == 0:
                break
            cols.remove(worst)
        return tuple(cols)

    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the visible area: 0 is the header, then rows from the scroll offset."""
        width = self.size.width
        cols = self.fit_columns(width)
        if y == 0:
            return self._header(cols, width)
        i = self.scroll_offset.y + y - 1
        if not self.rows:
            if i == 0:
                return Strip([Segment(self.EMPTY.ljust(width), DIM)]).crop(0, width)
            return Strip.blank(width)
        if i >= len(self.rows):
            return Strip.blank(width)
        row = self.rows[i]
        bg = None
        if i == self.cursor:
            bg = CURSOR_BG if self.has_focus else CURSOR_BG_BLUR
        segs: list[Segment] = []
        used = 0
        for c in cols:
            text, style = c.cell(row, self.now_ms)
            text = text[: c.width]
            cell = text.rjust(c.width) if c.right else text.ljust(c.width)
            segs.append(Segment(cell + " ", style + bg if bg is not None else style))
            used += c.width + 1
        if used < width:
            segs.append(Segment(" " * (width - used), bg or PLAIN))
        return Strip(segs).crop(0, width)

    def _header(self, cols: tuple[TColumn[R], ...], width: int) -> Strip:
        segs: list[Segment] = []
        used = 0
        for c in cols:
            cell = c.title.rjust(c.width) if c.right else c.title.ljust(c.width)
            segs.append(Segment(cell[: c.width] + " ", HEADER))
            used += c.width + 1
        if used < width:
            segs.append(Segment(" " * (width - used), HEADER))
        return Strip(segs).crop(0, width)


def _side_cell(r: PositionRow, _now: int) -> tuple[str, Style]:
    return r.side, POS + BOLD if r.size > 0 else NEG + BOLD


def _liq_dist_cell(r: PositionRow, _now: int) -> tuple[str, Style]:
    if r.liq_distance is not None and r.liq_distance >= 10:
        return ">999%", liq_distance_style(r.liq_distance)  # far out of reach: digits would only mislead
    return fmt_pct(r.liq_distance, 1, signed=False), liq_distance_style(r.liq_distance)


VENUE_TAGS = {"binance": "BN"}
"""Short tag shown after the market of a position held on a hedge venue (``BTC·BN``)."""


def _market_cell(r: PositionRow) -> tuple[str, Style]:
    if not r.venue:
        return r.symbol, BOLD
    return f"{r.symbol}·{VENUE_TAGS.get(r.venue, r.venue[:2].upper())}", BOLD


POSITION_COLUMNS: tuple[TColumn[PositionRow], ...] = (
    TColumn("symbol", "Market", 9, False, 0, lambda r, n: _market_cell(r)),
    TColumn("side", "Side", 5, False, 0, _side_cell),
    TColumn("size", "Size", 11, True, 0, lambda r, n: (fmt_size(abs(r.size)), PLAIN)),
    TColumn("entry", "Entry", 10, True, 3, lambda r, n: (fmt_price(r.entry_px), PLAIN)),
    TColumn("mark", "Mark", 10, True, 1, lambda r, n: (fmt_price(r.mark_px), PLAIN)),
    TColumn("notional", "Notional", 10, True, 2, lambda r, n: (fmt_money(r.notional_usd, 0), PLAIN)),
    TColumn(
        "upnl", "uPnL", 11, True, 0, lambda r, n: (fmt_money(r.unrealized_pnl, signed=True), _signed(r.unrealized_pnl))
    ),
    TColumn(
        "funding",
        "Funding",
        9,
        True,
        4,
        lambda r, n: (fmt_money(r.funding_since_open, signed=True), _signed(r.funding_since_open)),
    ),
    TColumn("leverage", "Lev", 5, True, 5, lambda r, n: (f"{r.leverage:.1f}×", PLAIN)),
    TColumn("liq", "Liq px", 10, True, 3, lambda r, n: (fmt_price(r.liquidation_px), PLAIN)),
    TColumn("liq_dist", "Liq dist", 8, True, 0, _liq_dist_cell),
    TColumn("margin", "Margin", 9, True, 4, lambda r, n: (fmt_money(r.margin_used, 0), DIM)),
)


def _upnl_compact(r: PositionRow, _now: int) -> tuple[str, Style]:
    v = r.unrealized_pnl
    text = fmt_usd(v)
    return ("+" + text if v is not None and v > 0 else text), _signed(v)


NARROW_POSITION_COLUMNS: tuple[TColumn[PositionRow], ...] = (
    TColumn("symbol", "Market", 9, False, 0, lambda r, n: _market_cell(r)),
    TColumn("side", "Side", 5, False, 0, _side_cell),
    TColumn("size", "Size", 9, True, 0, lambda r, n: (fmt_size(abs(r.size)), PLAIN)),
    TColumn("upnl", "uPnL", 7, True, 0, _upnl_compact),
    TColumn("liq_dist", "Liq%", 6, True, 0, _liq_dist_cell),
    TColumn("mark", "Mark", 10, True, 1, lambda r, n: (fmt_price(r.mark_px), PLAIN)),
)
"""The positions below about 50 cells (the trading screen at 80 columns): uPnL in compact USD
(``+$12.3K``), the distance to liquidation titled ``Liq%``."""


class PositionsPanel(RowTable[PositionRow]):
    """Open positions, one line each: market, side (LONG green / SHORT red), size (base units),
    entry and mark (USD), notional, unrealized P&L and funding since open (USD, coloured),
    leverage, liquidation price and distance (coloured per ``docs/domain.md`` §4, see
    :func:`liq_distance_style`), margin used (USD).

    Feed it with :meth:`show`; it posts :class:`PositionsPanel.Selected` when the cursor moves
    to another market (up/down or j/k when focused).
    """

    COLUMNS = POSITION_COLUMNS
    NARROW_COLUMNS = NARROW_POSITION_COLUMNS
    EMPTY = "no open positions"

    class Selected(Message):
        """The cursor moved to the position in ``symbol``."""

        def __init__(self, symbol: str) -> None:
            super().__init__()
            self.symbol = symbol

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.selected: str | None = None

    def _key(self, row: PositionRow) -> object:
        return (row.symbol, row.venue)

    def show(self, rows: Sequence[PositionRow]) -> None:
        """Render ``rows``; nothing happens when they equal the last ones."""
        if tuple(rows) == self.rows:
            return
        self._set_rows(rows)

    def _cursor_moved(self) -> None:
        row = self.current()
        sym = row.symbol if row is not None else None
        if sym != self.selected:
            self.selected = sym
            if sym is not None:
                self.post_message(self.Selected(sym))


def _order_side_cell(r: OrderRow, _now: int) -> tuple[str, Style]:
    return ("BUY", POS + BOLD) if r.is_buy else ("SELL", NEG + BOLD)


def _order_id_cell(r: OrderRow, _now: int) -> tuple[str, Style]:
    return str(r.oid), DIM


def _cloid_cell(r: OrderRow, _now: int) -> tuple[str, Style]:
    return (r.cloid[:10] if r.cloid else "—"), DIM


ORDER_COLUMNS: tuple[TColumn[OrderRow], ...] = (
    TColumn("symbol", "Market", 9, False, 0, lambda r, n: (r.symbol, BOLD)),
    TColumn("side", "Side", 4, False, 0, _order_side_cell),
    TColumn("size", "Size", 11, True, 0, lambda r, n: (fmt_size(r.size), PLAIN)),
    TColumn("limit", "Limit", 10, True, 0, lambda r, n: (fmt_price(r.limit_px), PLAIN)),
    TColumn("distance", "vs mark", 8, True, 1, lambda r, n: (fmt_pct(r.distance, 2), DIM)),
    TColumn("reduce_only", "RO", 2, False, 2, lambda r, n: ("RO" if r.reduce_only else "", WARN)),
    TColumn("age", "Age", 4, True, 2, lambda r, n: (_age(n - r.timestamp_ms), DIM)),
    TColumn("oid", "OID", 12, True, 3, _order_id_cell),
    TColumn("cloid", "Cloid", 10, False, 4, _cloid_cell),
)


class OpenOrdersPanel(RowTable[OrderRow]):
    """Resting orders, one line each: market, side, remaining size (base units), limit price
    (USD), distance of the limit from mark (signed %), reduce-only flag, age, venue order id
    and the start of the client order id.

    When focused, up/down (j/k) move the cursor and ``c`` posts
    :class:`OpenOrdersPanel.CancelRequested` for the highlighted order.
    """

    COLUMNS = ORDER_COLUMNS
    EMPTY = "no open orders"

    BINDINGS = [Binding("c", "cancel_order", "Cancel order", id="orders.cancel")]

    class CancelRequested(Message):
        """The user asked to cancel order ``oid`` on ``symbol``."""

        def __init__(self, symbol: str, oid: int) -> None:
            super().__init__()
            self.symbol = symbol
            self.oid = oid

    def _key(self, row: OrderRow) -> object:
        return row.oid

    def show(self, rows: Sequence[OrderRow], now_ms: int) -> None:
        """Render ``rows`` with ages relative to ``now_ms`` (ms UTC); nothing happens when the
        rows equal the last ones and the displayed second has not changed."""
        if tuple(rows) == self.rows and now_ms // 1000 == self.now_ms // 1000:
            return
        self._set_rows(rows, now_ms)

    def action_cancel_order(self) -> None:
        """Ask the console to cancel the highlighted order."""
        row = self.current()
        if row is not None:
            self.post_message(self.CancelRequested(row.symbol, row.oid))


STATE_STYLE = {
    TradingState.ACTIVE: "bold #0d1117 on #4ec98b",
    TradingState.REDUCING: "bold #0d1117 on #ffd166",
    TradingState.HALTED: "bold reverse #f0625c",
}


READ_ONLY_STYLE = "bold #0d1117 on #ffd166"


def _margin_ratio_style(ratio: float | None) -> str:
    if ratio is None:
        return "#7d8590"
    if ratio < MARGIN_RATIO_DANGER:
        return "bold #f0625c"
    if ratio < MARGIN_RATIO_WARN:
        return "#ffd166"
    return "#4ec98b"


def _signed_style(v: float | None) -> str:
    if v is None or v == 0:
        return "#7d8590"
    return "#4ec98b" if v > 0 else "#f0625c"


def _lines_shape(v: PortfolioView) -> tuple[object, ...]:
    """What the portfolio panel's height depends on: its optional lines (and their lengths,
    which may wrap) and the number of delta rows; equal shapes render the same number of lines."""
    return (
        v.state,
        v.starting,
        len(v.state_reason or ""),
        len(v.read_only or ""),
        len(v.error or ""),
        len(v.deltas),
    )


class PortfolioPanel(Static):
    """The account at a glance: trading state, account and network, read-only reason, equity,
    spot USDC, margin used, margin ratio (maintenance / equity, coloured), leverage, P&L and
    funding today (USD), per-asset delta (USD and ratio of gross long value) and total delta,
    and the last refresh error."""

    DEFAULT_CSS = """
    PortfolioPanel {
        height: auto;
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.view: PortfolioView | None = None
        self.renders = 0
        self.resume_key = KillBanner.RESUME_KEY
        """How the hint after a halt writes the resume key (the console sets it when remapped)."""

    def show(self, view: PortfolioView) -> None:
        """Render ``view``; nothing happens when it equals the last one."""
        if view == self.view:
            return
        old = self.view
        self.view = view
        self.renders += 1
        # new numbers in the same lines (the usual case: marks moved) need no layout pass
        self.update(self._render_view(view), layout=old is None or _lines_shape(old) != _lines_shape(view))

    def on_resize(self) -> None:
        """The layout depends on the width: render the last view again, and lay the panel out
        again once this layout pass is over (its height follows the rows; a layout asked for
        from inside the resize was sometimes lost, leaving the one-column height)."""
        if self.view is not None:
            self.update(self._render_view(self.view))
            self.call_after_refresh(self.refresh, layout=True)

    def _render_view(self, v: PortfolioView) -> RenderableType:
        parts: list[RenderableType] = []
        head = Text(no_wrap=True, overflow="ellipsis")
        # a halted or reducing account says so first (shared by every process on it); otherwise a
        # session that cannot trade says why (starting, read-only) rather than ACTIVE
        if v.state is not TradingState.ACTIVE:
            head.append(f" {v.state.value.upper()} ", style=STATE_STYLE[v.state])
        elif v.starting:
            head.append(" STARTING ", style="bold #0d1117 on #8ab4f8")
        elif v.read_only:
            head.append(" READ-ONLY ", style=READ_ONLY_STYLE)
        else:
            head.append(f" {v.state.value.upper()} ", style=STATE_STYLE[v.state])
        head.append("  ")
        head.append(
            v.account or ("no key" if v.read_only and not v.starting else "—"), style="bold" if v.account else "dim"
        )
        head.append(f" · {v.network}", style="dim")
        if v.updated_ms is not None:
            head.append(f"  updated {_utc(v.updated_ms)}", style="dim")
        parts.append(head)
        if v.state_reason:
            hint = f" · {self.resume_key} resumes" if v.state.value != "active" else ""
            parts.append(
                Text(f"{v.state.value.upper()}: {v.state_reason}{hint}", style=f"{STATE_STYLE[v.state]}", no_wrap=False)
            )
        if v.read_only:
            parts.append(Text(v.read_only if v.starting else f"read-only: {v.read_only}", style=READ_ONLY_STYLE))
        if v.error:
            parts.append(Text(f"refresh failed: {v.error}", style="bold #f0625c"))

        cells: list[tuple[str, Text]] = [
            ("equity", Text(fmt_money(v.equity_usd), style="bold")),
            ("spot USDC", Text(fmt_money(v.spot_usdc))),
            ("margin used", Text(fmt_money(v.margin_used_usd))),
            (
                "margin ratio",
                Text(fmt_pct(v.margin_ratio, 1, signed=False), style=_margin_ratio_style(v.margin_ratio)),
            ),
            ("leverage", Text("—" if v.leverage is None else f"{v.leverage:.2f}×")),
            ("P&L today", Text(fmt_money(v.pnl_today_usd, signed=True), style=_signed_style(v.pnl_today_usd))),
            (
                "funding today",
                Text(fmt_money(v.funding_today_usd, signed=True), style=_signed_style(v.funding_today_usd)),
            ),
        ]
        pairs = 2 if self.size.width >= 50 else 1
        grid = Table.grid(padding=(0, 1), expand=True)
        for _ in range(pairs):
            grid.add_column(style="dim", no_wrap=True)
            grid.add_column(justify="right", no_wrap=True, ratio=1)
        for i in range(0, len(cells), pairs):
            row: list[RenderableType] = []
            for label, value in cells[i : i + pairs]:
                row += [label, value]
            grid.add_row(*row)
        parts.append(grid)

        if v.deltas:
            deltas = Table.grid(padding=(0, 1), expand=True)
            deltas.add_column(no_wrap=True, style="bold")
            deltas.add_column(justify="right", no_wrap=True, ratio=1)
            deltas.add_column(justify="right", no_wrap=True, min_width=7)
            for d in v.deltas:
                over = d.ratio > DEFAULT_REBALANCE_THRESHOLD
                ratio = "naked" if d.ratio == float("inf") else fmt_pct(d.ratio, 1, signed=False)
                deltas.add_row(
                    d.coin,
                    Text(fmt_money(d.delta_usd, signed=True), style=_signed_style(d.delta_usd)),
                    Text(ratio, style="bold #ffd166" if over else "dim"),
                )
            deltas.add_row(
                Text("total Δ", style="dim"),
                Text(fmt_money(v.total_delta_usd, signed=True), style="bold " + _signed_style(v.total_delta_usd)),
                "",
            )
            parts.append(deltas)
        else:
            parts.append(Text(f"total Δ {fmt_money(v.total_delta_usd, signed=True)}", style="dim"))
        return Group(*parts)


LEVEL_STYLE = {
    ActivityLevel.INFO: "#c9d1d9",
    ActivityLevel.OK: "#4ec98b",
    ActivityLevel.WARN: "#ffd166",
    ActivityLevel.ERROR: "bold #f0625c",
}


class ActivityLog(RichLog):
    """The activity log: ``HH:MM:SS text`` (UTC) coloured by level, newest at the bottom,
    auto-scrolling, at most :attr:`MAX_LINES` lines.

    Entries are kept unwrapped and word-wrapped to the panel's current width: when the width
    changes (a terminal resize) every line is wrapped again, so no text is cut off. Each entry
    keeps its wrapped lines for the last :attr:`WIDTHS_KEPT` widths, so a repaint or a return
    to an earlier width wraps nothing."""

    MAX_LINES = 500
    WIDTHS_KEPT = 2

    DEFAULT_CSS = """
    ActivityLog {
        height: 1fr;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(
            max_lines=self.MAX_LINES,
            min_width=20,
            wrap=True,
            markup=False,
            highlight=False,
            auto_scroll=True,
            name=name,
            id=id,
            classes=classes,
        )
        self.seq: int | None = None
        self._entries: deque[tuple[Text, dict[int, list[Strip]]]] = deque(maxlen=self.MAX_LINES)
        self._wrap_width = 0
        """The width :attr:`lines` are wrapped at; 0 before the first layout."""

    def show(self, entries: Sequence[ActivityEntry], seq: int) -> None:
        """Append the entries added since the last call.

        ``entries`` is the engine's bounded log, newest last; ``seq`` counts lines ever added.
        Nothing happens when ``seq`` is unchanged; when more lines were added than ``entries``
        holds, or ``seq`` went backwards (a new session), the log is rebuilt from ``entries``.
        """
        if seq == self.seq:
            return
        entries = list(entries)
        if self.seq is None or seq < self.seq or seq - self.seq > len(entries):
            self.clear()
            fresh = entries
        else:
            fresh = entries[len(entries) - (seq - self.seq) :]
        self.seq = seq
        added: list[tuple[Text, dict[int, list[Strip]]]] = [
            (self.format_entry(e), {}) for e in fresh[-self.MAX_LINES :]
        ]
        self._entries.extend(added)
        if self._wrap_width:
            for entry in added:
                self.lines.extend(self._wrapped(entry, self._wrap_width))
            self._lines_changed()

    def clear(self) -> ActivityLog:
        """Empty the log (lines and the entries they are wrapped from)."""
        self._entries.clear()
        super().clear()
        return self

    def on_resize(self, event: Resize) -> None:
        """Wrap every entry again when the width changed."""
        width = self.scrollable_content_region.width
        if width <= 0 or width == self._wrap_width:
            return
        self._wrap_width = width
        self.lines = [strip for entry in self._entries for strip in self._wrapped(entry, width)]
        self._lines_changed()

    def _wrapped(self, entry: tuple[Text, dict[int, list[Strip]]], width: int) -> list[Strip]:
        """``entry``'s lines wrapped at ``width`` cells (cached per width)."""
        text, cache = entry
        strips = cache.get(width)
        if strips is None:
            console = self.app.console
            segments = console.render(text, console.options.update_width(width))
            strips = Strip.from_lines(list(Segment.split_lines(segments))) or [Strip.blank(0)]
            if len(cache) >= self.WIDTHS_KEPT:
                del cache[next(iter(cache))]
            cache[width] = strips
        return strips

    def _lines_changed(self) -> None:
        """Trim to :attr:`MAX_LINES`, size the scroll area, repaint, follow the end."""
        if len(self.lines) > self.MAX_LINES:
            del self.lines[: len(self.lines) - self.MAX_LINES]
        self._start_line = 0
        self._line_cache.clear()
        self._widest_line_width = self._wrap_width
        self.virtual_size = Size(self._wrap_width, len(self.lines))
        self.refresh()
        if self.auto_scroll:
            self.scroll_end(animate=False, immediate=False, x_axis=False)

    @staticmethod
    def format_entry(e: ActivityEntry) -> Text:
        """``HH:MM:SS text``, time dim and text coloured by level."""
        t = Text(overflow="fold")
        t.append(_utc(e.time_ms), style="dim")
        t.append(" ")
        t.append(e.text, style=LEVEL_STYLE[e.level])
        return t


class KillBanner(Widget):
    """The kill switch's progress, docked at the top of its container; hidden when idle. (The
    console floats it over the top rows while a kill runs, and gives a finished kill's banner
    its own rows, so that it never covers the markets header: ``tui/app.tcss``.)

    RUNNING is white on red with a live countdown to the run's deadline (it keeps moving even
    when the venue answers nothing and the status does not change). A finished kill leads with
    the trading state it left and the result, then the keys: ``HALTED · FLAT in 0.45 s:
    4 positions closed, 6 orders cancelled · R resume · Esc fold`` (FLAT black on green, FAILED
    white on dark red), then the closes and every failure. :attr:`HIDE_KEY` folds it to that
    one line (:meth:`fold`) and, folded, hides it (:meth:`hide`); a FLAT banner folds by itself
    :attr:`FOLD_AFTER_S` seconds after it is first shown (a FAILED one stays open until the
    trader folds it). A running kill can be neither folded nor hidden. The headline is written
    short when the full one does not fit the banner's width, so the folded banner is one line
    even at 80 columns.

    Cheap at the console's flush rate: an unchanged status with the same countdown (tenths of
    a second) does nothing; a countdown tick repaints the banner alone, and the screen is laid
    out again only when the status, and so possibly the banner's height, changes (or it folds).
    """

    MAX_LINES = 4
    """How many ``closed`` and ``failures`` lines are listed before ``+N more``."""

    RESUME_KEY = "R"
    """The key that resumes trading after a kill (the console's ``resume`` binding)."""

    HIDE_KEY = "Esc"
    """The key that folds a finished kill's banner, then hides it (the console's Escape, once no
    filter is open)."""

    FOLD_AFTER_S = 15.0
    """A FLAT banner folds by itself this long after it is first shown, seconds of the console's
    monotonic clock (wall time, whatever the venue's clock does)."""

    DEFAULT_CSS = """
    KillBanner {
        dock: top;
        display: none;
        height: auto;
        width: 100%;
        padding: 0 1;
    }
    KillBanner.-folded {
        height: 1;
    }
    KillBanner.-running {
        background: #c62828;
        color: #ffffff;
        text-style: bold;
    }
    KillBanner.-flat {
        background: #4ec98b;
        color: #000000;
    }
    KillBanner.-failed {
        background: #7f0000;
        color: #ffffff;
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.status: KillStatus | None = None
        """The status shown (or folded, or hidden by :meth:`hide`), ``None`` when idle."""
        self.remaining_s: float | None = None
        """Seconds to the deadline at the last :meth:`show`, to a tenth (negative: past it);
        ``None`` without a deadline or when the run is over."""
        self.resume_key = self.RESUME_KEY
        """How the banner writes the resume key (the console sets it when remapped)."""
        self.hide_key = self.HIDE_KEY
        """How the banner writes the key that folds, then hides it (the console sets it when remapped)."""
        self.fold_after_s = self.FOLD_AFTER_S
        """Seconds after which a FLAT banner folds by itself (monotonic clock)."""
        self.hidden: KillStatus | None = None
        """The finished status the trader hid; the banner stays hidden until the status changes."""
        self.folded: KillStatus | None = None
        """The finished status folded to one line; it stays folded until the status changes."""
        self._shown_since: tuple[KillStatus, float | None] | None = None
        self._shape: tuple[KillStatus | None, bool, bool] = (None, True, False)

    def show(
        self, status: KillStatus | None, now_mono: float | None = None, *, deadline_mono: float | None = None
    ) -> None:
        """Hide the banner (``None``) or render ``status``; fold a FLAT one shown for
        :attr:`fold_after_s` seconds.

        Args:
            status: the kill switch's progress, ``None`` when no kill is shown.
            now_mono: the console's monotonic clock, seconds (the same clock as the deadline).
            deadline_mono: when the run gives up, monotonic seconds, for a status that does not
                carry its own ``deadline_mono``.
        """
        remaining = None
        if status is not None and status.phase is KillPhase.RUNNING and now_mono is not None:
            deadline = status.deadline_mono if status.deadline_mono is not None else deadline_mono
            if deadline is not None:
                remaining = round(deadline - now_mono, 1)
        if status is None or status.phase is KillPhase.RUNNING:
            self._shown_since = None
        elif self._shown_since is None or self._shown_since[0] != status or self._shown_since[1] is None:
            self._shown_since = (status, now_mono)
        elif (
            status.phase is KillPhase.FLAT
            and now_mono is not None
            and self._shown_since[1] is not None
            and now_mono - self._shown_since[1] >= self.fold_after_s
            and self.hidden != status
        ):
            self.folded = status
        visible = status is not None and status != self.hidden
        folded = status is not None and status == self.folded
        if (
            status == self.status
            and remaining == self.remaining_s
            and visible == self.display
            and folded == self._shape[2]
        ):
            return
        # the countdown has a fixed width, so a tick never changes the banner's height; its
        # wording changes (and may wrap differently) only when the deadline passes
        shape = (status, remaining is None or remaining >= 0, folded)
        relayout = shape != self._shape or visible != self.display
        self._shape = shape
        self.status = status
        self.remaining_s = remaining
        if status is None:
            self.hidden = None
            self.folded = None
        if not visible or status is None:
            self.display = False
            return
        self.set_class(status.phase is KillPhase.RUNNING, "-running")
        self.set_class(status.phase is KillPhase.FLAT, "-flat")
        self.set_class(status.phase is KillPhase.FAILED, "-failed")
        self.set_class(folded, "-folded")
        self.display = True
        self.refresh(layout=relayout)

    def fold(self) -> bool:
        """Fold a finished kill's banner to its one-line headline until the status changes; a
        running kill's banner, a folded or a hidden one stays as it is. Returns whether it folded."""
        s = self.status
        if s is None or s.phase is KillPhase.RUNNING or not self.display or self.folded == s:
            return False
        self.folded = s
        self._shape = (s, True, True)
        self.add_class("-folded")
        self.refresh(layout=True)
        return True

    def hide(self) -> bool:
        """Hide a finished kill's banner (folded or not) until the status changes; a running kill
        stays. Returns whether the banner was hidden."""
        s = self.status
        if s is None or s.phase is KillPhase.RUNNING or not self.display:
            return False
        self.hidden = s
        self.display = False
        return True

    @property
    def hideable(self) -> bool:
        """Whether :meth:`hide` would hide something: a finished kill is on screen."""
        return self.display and self.status is not None and self.status.phase is not KillPhase.RUNNING

    @property
    def is_folded(self) -> bool:
        """Whether a finished kill is on screen folded to one line."""
        return self.hideable and self.folded == self.status

    def render(self) -> Text:  # noqa: D102 - Textual hook
        if self.status is None:
            return Text()
        return self.render_status(
            self.status,
            self.remaining_s,
            resume_key=self.resume_key,
            hide_key=self.hide_key,
            folded=self.folded == self.status,
            width=self.content_region.width or None,
        )

    @classmethod
    def headline(cls, s: KillStatus, *, short: bool = False) -> str:
        """A finished kill's trading state and result: ``HALTED · FLAT in 0.45 s: 4 positions
        closed, 6 orders cancelled``; ``short``: ``HALTED · FLAT in 0.45 s · 4 closed, 6 cancelled``,
        ``HALTED · KILL FAILED: 1 closed, 2 cancelled, 1 failed`` (elapsed: wall seconds from the
        keystroke)."""
        closed, cancelled, failed = len(s.closed), s.cancelled, len(s.failures)
        took = f"{s.elapsed_ms / 1000:.2f} s"
        if short:
            counts = f"{closed} closed, {cancelled} cancelled"
            if s.phase is KillPhase.FLAT:
                return f"{s.state} · FLAT in {took} · {counts}"
            return f"{s.state} · KILL FAILED: {counts}, {failed} failed"
        counts = (
            f"{closed} position{'s' if closed != 1 else ''} closed, "
            f"{cancelled} order{'s' if cancelled != 1 else ''} cancelled"
        )
        if s.phase is KillPhase.FLAT:
            return f"{s.state} · FLAT in {took}: {counts}"
        rounds = f"{s.rounds} round{'s' if s.rounds != 1 else ''}"
        return f"{s.state} · KILL SWITCH FAILED after {took}, {rounds}: {counts}, {failed} failed"

    @classmethod
    def render_status(
        cls,
        s: KillStatus,
        remaining_s: float | None = None,
        *,
        resume_key: str | None = None,
        hide_key: str | None = None,
        folded: bool = False,
        width: int | None = None,
    ) -> Text:
        """The banner text for ``s``. A running kill: headline, countdown, the venue's message,
        then closes and failures. A finished one: trading state, result and keys on the first
        line (:meth:`headline`), then, unless ``folded``, the closes and failures.

        ``remaining_s``: seconds to the deadline of a running kill (negative: past it), ``None``
        when unknown. ``resume_key`` and ``hide_key``: how the keys are written, :attr:`RESUME_KEY`
        and :attr:`HIDE_KEY` if not given. ``width``: the banner's width in cells; a first line
        longer than it is written short (and, folded, cut to it)."""
        if s.phase is KillPhase.RUNNING:
            head = f"KILL SWITCH — round {s.rounds}, {s.elapsed_ms}ms: cancelled {s.cancelled}, closing…"
            t = Text(head, style="bold")
            if remaining_s is not None:
                if remaining_s >= 0:
                    t.append(f"\ngives up in {remaining_s:5.1f} s")
                else:
                    t.append(f"\ndeadline passed {-remaining_s:5.1f} s ago, still waiting for the venue")
            if s.message and s.message != head:
                t.append(f"\n{s.message}")
        else:
            keys = (
                f" · {resume_key or cls.RESUME_KEY} resume · {hide_key or cls.HIDE_KEY} {'hide' if folded else 'fold'}"
            )
            head = cls.headline(s)
            if width is not None and len(head) + len(keys) > width:
                head = cls.headline(s, short=True)
                if len(head) + len(keys) > width:  # the keys stay whole
                    head = head[: max(0, width - len(keys) - 1)] + "…"
            t = Text(head, style="bold")
            t.append(keys)
            if folded:
                t.no_wrap = True
                t.overflow = "ellipsis"
                return t
        for mark, lines in (("✓", s.closed), ("✗", s.failures)):
            for line in lines[: cls.MAX_LINES]:
                t.append(f"\n  {mark} {line}")
            if len(lines) > cls.MAX_LINES:
                t.append(f"\n  +{len(lines) - cls.MAX_LINES} more")
        return t


class Choice(Widget, can_focus=True):
    """One of a few options, all shown, the current one highlighted: ``[ Buy ] Sell``.

    Left/right (h/l) and space move between options; it posts :class:`Choice.Changed`.
    Enter is not bound, so a screen's Enter binding works from here.
    """

    DEFAULT_CSS = """
    Choice {
        height: 1;
        width: auto;
        padding: 0 1;
    }
    Choice:focus {
        background: $boost;
    }
    """

    BINDINGS = [
        Binding("left,h", "step(-1)", "Previous", show=False, id="choice.previous"),
        Binding("right,l,space", "step(1)", "Next", show=False, id="choice.next"),
    ]

    index: reactive[int] = reactive(0)

    class Changed(Message):
        """The option of ``choice`` is now ``value``."""

        def __init__(self, choice: Choice, value: str) -> None:
            super().__init__()
            self.choice = choice
            self.value = value

        @property
        def control(self) -> Choice:
            """The :class:`Choice` that changed."""
            return self.choice

    def __init__(
        self,
        options: Sequence[tuple[str, str, str]],
        value: str | None = None,
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """``options``: ``(value, label, style)`` triples, in display order; ``value`` the initial one."""
        super().__init__(id=id, classes=classes)
        self.options = tuple(options)
        values = [o[0] for o in self.options]
        self.set_reactive(Choice.index, values.index(value) if value is not None else 0)

    @property
    def value(self) -> str:
        """The current option's value."""
        return self.options[self.index][0]

    @value.setter
    def value(self, value: str) -> None:
        self.index = [o[0] for o in self.options].index(value)

    def action_step(self, delta: int) -> None:
        """Move to the next (``1``) or previous (``-1``) option, wrapping around."""
        self.index = (self.index + delta) % len(self.options)

    def watch_index(self, old: int, new: int) -> None:  # noqa: D102 - Textual hook
        if old != new:
            self.post_message(self.Changed(self, self.value))

    def render(self) -> Text:  # noqa: D102 - Textual hook
        t = Text(no_wrap=True)
        for i, (_value, label, style) in enumerate(self.options):
            if i:
                t.append(" ")
            if i == self.index:
                t.append(f"[ {label} ]", style=f"bold {style}".strip())
            else:
                t.append(f"  {label}  ", style="dim")
        return t

    def get_content_width(self, container: Size, viewport: Size) -> int:  # noqa: D102 - Textual hook
        return sum(len(label) + 4 for _v, label, _s in self.options) + len(self.options) - 1
