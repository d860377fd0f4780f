"""The markets panel: one line per market, sortable, filterable, with a cursor.

Rendered with Textual's line API: only lines that are visible *and* changed are redrawn,
so a flush that touches 200 markets costs the ~40 lines on screen, and the terminal
receives only those. Columns that do not fit the width are dropped by priority.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from pfterm.core.market.funding import countdown_ms, format_countdown
from pfterm.core.market.signals import Quadrant
from pfterm.core.market.views import MarketRow, sort_value
from pfterm.widgets.numbers import fmt_pct, fmt_price, fmt_rate, fmt_usd

POS = Style(color="#4ec98b")
NEG = Style(color="#f0625c")
DIM = Style(color="#7d8590")
PLAIN = Style()
BOLD = Style(bold=True)
STALE = Style(color="#7d8590", italic=True)
HEADER = Style(color="#c9d1d9", bold=True, bgcolor="#1f2933")
HEADER_SORTED = Style(color="#ffd166", bold=True, bgcolor="#1f2933")
CURSOR_BG = Style(bgcolor="#264f78")
CURSOR_BG_BLUR = Style(bgcolor="#30363d")

QUADRANT_STYLE = {
    Quadrant.NEW_LONGS: POS,
    Quadrant.SHORT_COVERING: Style(color="#9ccc65"),
    Quadrant.NEW_SHORTS: NEG,
    Quadrant.LONG_CAPITULATION: Style(color="#ff9e64"),
    Quadrant.NEUTRAL: DIM,
}


QUADRANT_LABEL = {
    Quadrant.NEW_LONGS: "new longs",
    Quadrant.SHORT_COVERING: "short cover",
    Quadrant.NEW_SHORTS: "new shorts",
    Quadrant.LONG_CAPITULATION: "capitulation",
    Quadrant.NEUTRAL: "neutral",
}


COUNTDOWN_REPAINT_S = 0.5
"""Least wall time (s) between two repaints of the countdown column when venue time runs
faster than the wall clock (a simulator at ``--speed`` > 1)."""


def _fit_pct(frac: float, decimals: int, width: int) -> str:
    """``frac`` as a signed percentage that fits ``width`` cells and always keeps its ``%``:
    fewer decimals first, then a capped value (``">+999%"``)."""
    for d in range(decimals, -1, -1):
        text = fmt_pct(frac, d)
        if len(text) <= width:
            return text
    cap = 10 ** (width - 3) - 1  # room for the sign, ">" and "%"
    return f">+{cap}%" if frac > 0 else f"<-{cap}%"


def span_shown_ms(span_ms: int) -> int:
    """``span_ms`` (ms) as the OI change column's title writes it: whole seconds under a
    minute, whole minutes under 100, else whole hours (rounded down, so the title never
    claims more than is covered)."""
    unit = 1000 if span_ms < 60_000 else 60_000 if span_ms < 100 * 60_000 else 3_600_000
    return span_ms // unit * unit


def oi_title(span_ms: int) -> str:
    """The OI change column's title for a change measured over ``span_ms`` (ms): the time it
    really covers (``"OIΔ60m"`` once the 60-minute window is full, ``"OIΔ3m"`` while it
    fills, ``"OIΔ45s"``, ``"OIΔ4h"``), plain ``"OI Δ"`` before any change is known."""
    if span_ms <= 0:
        return "OI Δ"
    if span_ms < 60_000:
        return f"OIΔ{span_ms // 1000}s"
    if span_ms < 100 * 60_000:
        return f"OIΔ{span_ms // 60_000}m"
    return f"OIΔ{span_ms // 3_600_000}h"


def _signed(v: float | None) -> Style:
    if v is None or v == 0:
        return DIM
    return POS if v > 0 else NEG


@dataclass(frozen=True, slots=True)
class Column:
    """A column: key, header, width (cells), right-aligned?, priority (lower drops last),
    and a cell function ``(row, now_ms) -> (text, style)``."""

    key: str
    title: str
    width: int
    right: bool
    priority: int
    cell: Callable[[MarketRow, int], tuple[str, Style]]
    sort: str | None = None


COLUMNS: tuple[Column, ...] = (
    Column("symbol", "Market", 9, False, 0, lambda r, n: (r.symbol, BOLD), "symbol"),
    Column("mark", "Mark", 10, True, 0, lambda r, n: (fmt_price(r.mark), PLAIN)),
    Column("oracle", "Oracle", 10, True, 6, lambda r, n: (fmt_price(r.oracle), DIM)),
    Column("basis", "Basis", 7, True, 4, lambda r, n: (_fit_pct(r.basis, 2, 7), _signed(r.basis))),
    Column("funding", "Fund/h", 9, True, 0, lambda r, n: (fmt_rate(r.funding), _signed(r.funding)), "funding"),
    Column("apr", "APR", 8, True, 1, lambda r, n: (fmt_pct(r.funding_apr, 1), _signed(r.funding_apr)), "abs_funding"),
    Column("next", "Next", 7, True, 2, lambda r, n: (format_countdown(countdown_ms(n, r.next_funding_ms)), PLAIN)),
    Column("oi", "OI", 7, True, 1, lambda r, n: (fmt_usd(r.oi_usd), PLAIN), "oi"),
    Column("oi_chg", "OI Δ", 7, True, 3, lambda r, n: (fmt_pct(r.oi_change, 1), _signed(r.oi_change)), "oi_change"),
    Column("quadrant", "OI×Price", 12, False, 5, lambda r, n: (QUADRANT_LABEL[r.quadrant], QUADRANT_STYLE[r.quadrant])),
    Column("volume", "Vol 24h", 7, True, 3, lambda r, n: (fmt_usd(r.volume_usd), DIM), "volume"),
)

SORT_TITLES = {
    "funding": "funding",
    "abs_funding": "|funding|",
    "oi": "open interest",
    "oi_change": "OI change",
    "volume": "24h volume",
    "symbol": "symbol",
}
SORT_ORDER = ("abs_funding", "funding", "oi", "oi_change", "volume", "symbol")


class MarketTable(ScrollView, can_focus=True):
    """Scrollable market list rendered line by line.

    Feed it :class:`~pfterm.core.market.views.MarketRow` snapshots with :meth:`update_rows` and the venue
    time with :meth:`set_now`; it posts :class:`MarketTable.Selected` when the cursor moves
    to another market and :class:`MarketTable.Opened` on Enter.

    The order stays live: :meth:`update_rows` re-sorts whenever a sort value changed, the cursor
    staying on its market (not its line) and in view, unless the order is frozen
    (:meth:`action_toggle_freeze`, ``❄`` in the header) for reading. A filter lists the markets
    whose symbol contains its text, the exact symbol first, then those starting with it, then
    the rest, each group in the sort order.
    """

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="markets.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="markets.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="markets.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="markets.page_down"),
        Binding("home", "edge(0)", "First", show=False, id="markets.first"),
        Binding("end", "edge(1)", "Last", show=False, id="markets.last"),
        Binding("s", "cycle_sort", "Sort", id="markets.sort"),
        Binding("S", "reverse_sort", "Reverse", show=False, id="markets.reverse_sort"),
        Binding("f", "toggle_freeze", "Freeze order", show=False, id="markets.freeze"),
        Binding("enter", "open", "Detail", show=False, id="markets.open_detail"),
    ]

    class Selected(Message):
        """The cursor moved to ``symbol``."""

        def __init__(self, symbol: str) -> None:
            super().__init__()
            self.symbol = symbol

    class SortChanged(Message):
        """The sort key, direction or filter changed (the order on screen changed)."""

    class Opened(Message):
        """Enter was pressed on ``symbol``."""

        def __init__(self, symbol: str) -> None:
            super().__init__()
            self.symbol = symbol

    def __init__(self, *, sort: str = "abs_funding", name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.rows: dict[str, MarketRow] = {}
        self.order: list[str] = []
        self._index: dict[str, int] = {}
        self.sort_key = sort
        self.sort_desc = sort != "symbol"
        self.filter_text = ""
        self.frozen = False
        self._frozen_rank: dict[str, int] = {}
        self._oi_span_ms = 0  # the OI change span the column title states (ms, as shown)
        self.cursor = 0
        self.selected: str | None = None
        self.now_ms = 0
        self._countdown_painted_ms = 0  # venue time (ms) the countdown column was last redrawn for
        self._countdown_painted_mono = float("-inf")  # and when (wall_clock, s)
        self.wall_clock: Callable[[], float] = time.monotonic
        """Wall seconds (monotonic) pacing the countdown repaints when venue time runs fast."""
        self._columns: tuple[Column, ...] = COLUMNS
        self._columns_width = -1
        self._pending_latency: dict[str, float] = {}
        self.latencies: deque[float] = deque(maxlen=100_000)
        self.measure_latency = False

    # ------------------------------------------------------------------ data in
    def update_rows(self, rows: Iterable[MarketRow]) -> None:
        """Replace the given markets' rows and redraw, on screen, only the cells that changed."""
        new_symbols = False
        reorder = False
        span_changed = False
        key = self.sort_key
        top = self.scroll_offset.y
        height = self.size.height
        for row in rows:
            sym = row.symbol
            old = self.rows.get(sym)
            if old is None:
                new_symbols = True
            elif not reorder and sort_value(old, key) != sort_value(row, key):
                reorder = True
            if old is None or old.oi_span_ms != row.oi_span_ms:
                span_changed = True
            self.rows[sym] = row
            i = self._index.get(sym)
            if i is not None and top <= i < top + height - 1:
                if old is None or old.stale != row.stale:
                    self.refresh_line(i + 1)
                    changed = True
                else:
                    changed = self._refresh_changed_cells(i, old, row)
                if changed and self.measure_latency and row.recv_mono:
                    # data-to-screen latency: receipt of the frame → its line repainted
                    self._pending_latency.setdefault(sym, row.recv_mono)
        if span_changed:
            self._update_oi_span()
        if new_symbols or (reorder and not self.frozen):
            self.resort()

    def _update_oi_span(self) -> None:
        """Restate the OI change column's title (and the dimming of shorter rows) when the span
        the changes cover moved to another shown minute (second, under a minute)."""
        span = span_shown_ms(max((r.oi_span_ms for r in self.rows.values()), default=0))
        if span != self._oi_span_ms:
            self._oi_span_ms = span
            self.refresh()

    def _refresh_changed_cells(self, i: int, old: MarketRow, new: MarketRow) -> bool:
        """Refresh the span of line ``i`` between the first and last column whose text changed.

        Textual repaints (and sends to the terminal) only refreshed regions, so a new mark price
        costs about ten cells, not the whole line: this keeps an SSH session's bandwidth low.
        Returns whether anything was refreshed.
        """
        cols = self._fit_columns(self.size.width)
        now = self.now_ms
        x = 0
        first = last = -1
        for c in cols:
            if c.cell(old, now)[0] != c.cell(new, now)[0]:
                if first < 0:
                    first = x
                last = x + c.width
            x += c.width + 1
        if first < 0:
            return False
        self.refresh(Region(first, i + 1 - self.scroll_offset.y, last - first, 1))
        return True

    def set_now(self, now_ms: int) -> None:
        """Set the venue time used for countdowns; when a displayed second changes, only the
        countdown cells are redrawn. When venue time runs fast (a simulator at ×60 moves the
        countdowns several seconds at every flush), that column is redrawn at most every
        :data:`COUNTDOWN_REPAINT_S` wall seconds: a blur of digits is not worth 8 repaints a
        second of every visible line."""
        if now_ms // 1000 == self.now_ms // 1000:
            self.now_ms = now_ms
            return
        jump_ms = now_ms - self._countdown_painted_ms
        self.now_ms = now_ms
        mono = self.wall_clock()
        if abs(jump_ms) >= 2000 and mono - self._countdown_painted_mono < COUNTDOWN_REPAINT_S:
            return  # fast venue time: the next flush after the interval repaints the column
        self._countdown_painted_ms = now_ms
        self._countdown_painted_mono = mono
        x = 0
        for c in self._fit_columns(self.size.width):
            if c.key == "next":
                self.refresh(Region(x, 1, c.width, max(0, self.size.height - 1)))
                return
            x += c.width + 1

    def set_filter(self, text: str) -> None:
        """Show only markets whose symbol contains ``text`` (case-insensitive): the exact symbol
        first, then symbols starting with it, then the others, each group in the sort order."""
        self.filter_text = text.strip().lower()
        self.resort()
        self.post_message(self.SortChanged())

    def select_top(self) -> str | None:
        """Put the cursor on the first market listed (the best filter match), in view; its symbol."""
        if not self.order:
            return None
        self._move_to(0)
        return self.selected

    def set_sort(self, key: str, descending: bool | None = None) -> None:
        """Order by ``key`` (see :data:`SORT_ORDER`), numbers descending by default."""
        if key not in SORT_TITLES:
            raise ValueError(f"unknown sort key {key!r}")
        self.sort_key = key
        self.sort_desc = (key != "symbol") if descending is None else descending
        self.frozen = False
        self.resort()
        self.post_message(self.SortChanged())

    def resort(self) -> None:
        """Recompute the visible order, keeping the cursor on the selected market and that market
        in view. While frozen, markets keep the order they had when it was frozen (markets new
        since then last)."""
        f = self.filter_text
        syms = [s for s in self.rows if not f or f in s.lower()]
        if self.frozen:
            rank = self._frozen_rank
            last = len(rank)
            syms.sort(key=lambda s: (rank.get(s, last), s))
        else:
            key = self.sort_key
            rows = self.rows
            syms.sort(key=lambda s: (sort_value(rows[s], key), s), reverse=self.sort_desc)
        if f:
            # stable: within each group the order above stays
            syms.sort(key=lambda s: 0 if s.lower() == f else 1 if s.lower().startswith(f) else 2)
        if syms != self.order:
            old = self.order
            self.order = syms
            self._index = {s: i for i, s in enumerate(syms)}
            self.virtual_size = Size(0, len(syms) + 1)  # width: columns are fitted, never scrolled
            if self.selected in self._index:
                self.cursor = self._index[self.selected]
            else:
                self.cursor = min(self.cursor, max(0, len(syms) - 1))
                self._select(self.cursor)
            self._refresh_moved_lines(old, syms)
            self._scroll_to_cursor()

    def _refresh_moved_lines(self, old: list[str], new: list[str]) -> None:
        """Repaint the visible lines whose market changed between the orders ``old`` and
        ``new`` (a live re-sort usually swaps a few neighbours: a few lines, not the table);
        everything when the number of markets changed (a filter, new markets)."""
        if len(old) != len(new):
            self.refresh()
            return
        top = self.scroll_offset.y
        width = self.size.width
        for i in range(top, min(top + self.size.height - 1, len(new))):
            if old[i] != new[i]:
                self.refresh(Region(0, i + 1 - top, width, 1))

    # ------------------------------------------------------------------ actions
    def action_cursor(self, delta: int) -> None:
        """Move the cursor by ``delta`` lines."""
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        """Move the cursor by one page."""
        self._move_to(self.cursor + direction * max(1, self.size.height - 2))

    def action_edge(self, end: int) -> None:
        """Jump to the first (0) or last (1) market."""
        self._move_to(len(self.order) - 1 if end else 0)

    def action_cycle_sort(self) -> None:
        """Next sort key in :data:`SORT_ORDER`."""
        i = SORT_ORDER.index(self.sort_key) if self.sort_key in SORT_ORDER else -1
        self.set_sort(SORT_ORDER[(i + 1) % len(SORT_ORDER)])

    def action_reverse_sort(self) -> None:
        """Flip ascending/descending."""
        self.set_sort(self.sort_key, not self.sort_desc)

    def action_toggle_freeze(self) -> None:
        """Freeze the order as it is now (rows keep updating in place), or let it follow the
        sort again; changing the sort unfreezes too."""
        self.frozen = not self.frozen
        if self.frozen:
            self._frozen_rank = {s: i for i, s in enumerate(self.order)}
        else:
            self.resort()
        self.refresh_line(0)
        self.post_message(self.SortChanged())

    def action_open(self) -> None:
        """Open the selected market's detail."""
        if self.selected:
            self.post_message(self.Opened(self.selected))

    def select(self, symbol: str) -> bool:
        """Move the cursor to ``symbol``; False when it is not listed (filtered out or unknown)."""
        i = self._index.get(symbol)
        if i is None:
            return False
        self._move_to(i)
        return True

    def _move_to(self, i: int) -> None:
        if not self.order:
            return
        i = max(0, min(len(self.order) - 1, i))
        old = self.cursor
        self.cursor = i
        self.refresh_line(old + 1)
        self.refresh_line(i + 1)
        self._select(i)
        self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        """Keep the cursor line visible below the fixed header line."""
        if self.size.height <= 1:
            return  # not laid out yet
        i = self.cursor
        top = self.scroll_offset.y
        visible = self.size.height - 1
        # force: right after a re-sort the scrollbar may not be laid out yet (a one-line filter
        # result had none), which would otherwise refuse the scroll
        if i < top:
            self.scroll_to(y=i, animate=False, force=True)
        elif i >= top + visible:
            self.scroll_to(y=i - visible + 1, animate=False, force=True)

    def _select(self, i: int) -> None:
        sym = self.order[i] if 0 <= i < len(self.order) else None
        if sym is not None and sym != self.selected:
            self.selected = sym
            self.post_message(self.Selected(sym))

    def watch_scroll_y(self, old: float, new: float) -> None:  # noqa: D102 - Textual hook
        super().watch_scroll_y(old, new)
        self.refresh()

    # ------------------------------------------------------------------ rendering
    def _fit_columns(self, width: int) -> tuple[Column, ...]:
        if width == self._columns_width:
            return self._columns
        cols = list(COLUMNS)
        while sum(c.width + 1 for c in cols) > width and len(cols) > 1:
            worst = max(cols, key=lambda c: (c.priority, COLUMNS.index(c)))
            if worst.priority == 0:
                break
            cols.remove(worst)
        self._columns = tuple(cols)
        self._columns_width = width
        return self._columns

    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the visible area: 0 is the header, then markets from the scroll offset."""
        width = self.size.width
        cols = self._fit_columns(width)
        if y == 0:
            return self._header(cols, width)
        i = self.scroll_offset.y + y - 1
        if i >= len(self.order):
            return Strip.blank(width)
        sym = self.order[i]
        row = self.rows[sym]
        if self.measure_latency:
            t = self._pending_latency.pop(sym, None)
            if t is not None:
                self.latencies.append(time.monotonic() - t)
        bg = None
        if i == self.cursor:
            bg = CURSOR_BG if self.has_focus else CURSOR_BG_BLUR
        segs: list[Segment] = []
        used = 0
        now = self.now_ms
        for c in cols:
            text, style = c.cell(row, now)
            if row.stale and c.key != "symbol":
                style = STALE
            elif c.key == "oi_chg" and span_shown_ms(row.oi_span_ms) < self._oi_span_ms:
                style = DIM  # covers less time than the column title states
            text = text[: c.width]
            cell = text.rjust(c.width) if c.right else text.ljust(c.width)
            if bg is not None:
                style = style + bg
            if segs and segs[-1].style == style:
                # one run of text per style: the terminal gets one colour code for basis,
                # funding and APR of the same sign, not three (each code costs ~15 bytes)
                segs[-1] = Segment(segs[-1].text + cell + " ", style)
            else:
                segs.append(Segment(cell + " ", style))
            used += c.width + 1
        if used < width:
            segs.append(Segment(" " * (width - used), bg or PLAIN))
        return Strip(segs, width).crop(0, width)

    def _header(self, cols: tuple[Column, ...], width: int) -> Strip:
        segs: list[Segment] = []
        used = 0
        for c in cols:
            title = oi_title(self._oi_span_ms) if c.key == "oi_chg" else c.title
            style = HEADER
            if c.sort == self.sort_key:
                mark = "❄" if self.frozen else "▼" if self.sort_desc else "▲"  # frozen: no live order
                title = title[: c.width - len(mark)] + mark  # the sort mark is never cut off
                style = HEADER_SORTED
            cell = title.rjust(c.width) if c.right else title.ljust(c.width)
            segs.append(Segment(cell[: c.width] + " ", style))
            used += c.width + 1
        if used < width:
            segs.append(Segment(" " * (width - used), HEADER))
        return Strip(segs, width).crop(0, width)

    def on_click(self, event) -> None:  # noqa: D102 - Textual hook
        if event.y >= 1:
            self._move_to(self.scroll_offset.y + event.y - 1)
