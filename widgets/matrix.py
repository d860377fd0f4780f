"""The funding matrix (market × venue) and the cross-venue liquidation feed.

Both render snapshots handed to them (:mod:`pfterm.core.crossvenue.matrix`); neither reads a venue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from pfterm.core.crossvenue.matrix import MatrixRow, countdown
from pfterm.core.market.models import FeedState, FeedStatus, Liquidation
from pfterm.widgets.numbers import fmt_usd
from pfterm.widgets.trading import BOLD, DIM, NEG, PLAIN, POS, RowTable, TColumn

BASIS_TITLES = {"hour": "per hour", "8h": "per 8 h", "apr": "APR"}
VENUE_TITLES = {"hyperliquid": "Hyperliquid", "binance": "Binance", "bybit": "Bybit", "okx": "OKX", "dydx": "dYdX"}
VENUE_CODES = {"hyperliquid": "HL", "binance": "Binance", "bybit": "Bybit", "okx": "OKX", "dydx": "dYdX"}


def fmt_basis(value: float, basis: str) -> str:
    """A rate on ``basis`` as a signed percentage: per hour 4 decimals, per 8 h 3, APR 1."""
    decimals = {"hour": 4, "8h": 3}.get(basis, 1)
    return f"{value * 100:+.{decimals}f}%"


def _compact_countdown(ms: int | None) -> str:
    """``"3h42m"`` from an hour up, ``"42m07s"`` below: never ambiguous between h:mm and mm:ss."""
    if ms is None:
        return ""
    sec = max(0, ms // 1000)
    if sec >= 3600:
        return f"{sec // 3600}h{(sec % 3600) // 60:02d}m"
    return f"{sec // 60}m{sec % 60:02d}s"


VENUE_WIDTH = 16
"""Cells of a venue column: the widest rate (``-12345.6%`` APR, ``+0.1234%`` per hour), a space
and the widest countdown (``59m59s``, ``23h59m``)."""


def _venue_column(venue: str, basis: str) -> TColumn[MatrixRow]:
    def cell(row: MatrixRow, now_ms: int) -> tuple[str, Style]:
        c = row.cells.get(venue)
        if c is None:
            return "—", DIM
        text = f"{fmt_basis(c.rate, basis)} {_compact_countdown(countdown(c, now_ms))}"
        if c.stale:
            return text, DIM
        return text, POS if c.rate > 0 else NEG if c.rate < 0 else PLAIN

    return TColumn(venue, VENUE_TITLES.get(venue, venue), VENUE_WIDTH, True, 1, cell)


def _spread_cell(basis: str):
    def cell(row: MatrixRow, _now: int) -> tuple[str, Style]:
        b = row.best
        if b is None:
            return "—", DIM
        per_basis = b.spread_per_hour * {"hour": 1, "8h": 8, "apr": 8760}[basis]
        return fmt_basis(per_basis, basis), BOLD if b.viable else DIM

    return cell


def _viable_cell(basis: str):
    def cell(row: MatrixRow, _now: int) -> tuple[str, Style]:
        b = row.best
        if b is None:
            return "", DIM
        return fmt_basis(b.min_viable_per_hour * {"hour": 1, "8h": 8, "apr": 8760}[basis], basis), DIM

    return cell


def _direction(row: MatrixRow, template: str) -> tuple[str, Style]:
    """The best pair's direction written with ``template`` (``{long}``/``{short}``: venue codes)."""
    b = row.best
    if b is None:
        return "", DIM
    text = template.format(
        long=VENUE_CODES.get(b.long_venue, b.long_venue), short=VENUE_CODES.get(b.short_venue, b.short_venue)
    )
    return text, POS + BOLD if b.viable else DIM


def _direction_cell(row: MatrixRow, _now: int) -> tuple[str, Style]:
    """The direction in words: ``long dYdX, short Bybit``."""
    return _direction(row, "long {long}, short {short}")


def _direction_short_cell(row: MatrixRow, _now: int) -> tuple[str, Style]:
    """The direction abbreviated: ``L dYdX / S Bybit`` (long dYdX, short Bybit)."""
    return _direction(row, "L {long} / S {short}")


class FundingMatrixTable(RowTable[MatrixRow]):
    """Market × venue funding on one basis (hour / 8 h / APR) with each venue's countdown to
    its next settlement, the best spread, its minimum viable spread after fees (``docs/domain.md``
    §1) and the direction; rows whose spread beats the fees are bold.

    Market, best spread and direction are always shown. When the venues do not all fit, the
    direction is abbreviated (``L dYdX / S Bybit``) if that leaves room for more venues, the
    rightmost venues are left out, and the bottom border says how many are shown."""

    EMPTY = "waiting for the venues' first snapshots…"

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.basis = "apr"
        self.venues: tuple[str, ...] = ()
        self._shown: tuple[tuple[MatrixRow, ...], int] | None = None

    def configure(self, venues: Sequence[str], basis: str) -> None:
        """Columns for ``venues`` on ``basis``."""
        if tuple(venues) == self.venues and basis == self.basis and self.COLUMNS:
            return
        self.venues = tuple(venues)
        self.basis = basis
        head = (
            TColumn("symbol", "Market", 9, False, 0, lambda r, n: (r.symbol, BOLD)),
            *(_venue_column(v, basis) for v in self.venues),
            TColumn("spread", "Best spread", 11, True, 0, _spread_cell(basis)),
            TColumn("viable", "Min viable", 10, True, 2, _viable_cell(basis)),
        )
        # per-instance columns: one per venue shown
        self.COLUMNS = (*head, TColumn("direction", "Direction", 26, False, 0, _direction_cell))  # type: ignore[misc]
        self.NARROW_COLUMNS = (*head, TColumn("direction", "Direction", 19, False, 0, _direction_short_cell))  # type: ignore[misc]
        self._columns_width = -1
        self._shown = None
        self._show_hint()
        self.refresh()

    def fit_columns(self, width: int) -> tuple[TColumn[MatrixRow], ...]:
        """The columns shown at ``width`` cells: the full direction while that shows as many
        venues as the abbreviated one, else the abbreviated; venues left out from the right."""
        if width == self._columns_width:
            return self._columns
        full = self._fit(self.COLUMNS, width)
        if self.NARROW_COLUMNS and self._venue_count(full) < len(self.venues):
            short = self._fit(self.NARROW_COLUMNS, width)
            if self._venue_count(short) > self._venue_count(full):
                full = short
        self._columns = full
        self._columns_width = width
        return full

    def _venue_count(self, cols: tuple[TColumn[MatrixRow], ...]) -> int:
        return sum(c.key in self.venues for c in cols)

    def _show_hint(self) -> None:
        """The bottom border names how many venues are shown when some are left out."""
        if not self.size.width or not self.venues:
            return
        shown = self._venue_count(self.fit_columns(self.size.width))
        hint = "" if shown == len(self.venues) else f"{shown} of {len(self.venues)} venues: widen for all"
        if self.border_subtitle != hint:
            self.border_subtitle = hint

    def on_resize(self) -> None:
        """The columns depend on the width: the hint too."""
        self._show_hint()

    def _key(self, row: MatrixRow) -> object:
        return row.symbol

    def show(self, rows: Sequence[MatrixRow], now_ms: int) -> None:
        """Render ``rows`` at venue time ``now_ms``; unchanged rows in the same second do nothing."""
        key = (tuple(rows), now_ms // 1000)
        if self._shown == key:
            return
        self._shown = key
        self._set_rows(rows, now_ms)


def _hms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S")


class LiquidationPanel(Static):
    """Forced closes across venues: the markets with most liquidated USD over the window
    (long vs short), the selected market's last minutes, then the latest events."""

    def show(
        self,
        recent: Sequence[Liquidation],
        totals: dict[str, tuple[float, float]],
        minutes: Sequence[tuple[int, float, float]],
        symbol: str | None,
        window_min: int,
        feeds: Sequence[FeedStatus] = (),
    ) -> None:
        """Render; ``totals`` by market (long USD, short USD) over ``window_min`` minutes,
        ``minutes`` the selected market's per-minute (minute ms, long USD, short USD),
        ``feeds`` the read-only venues' connection states."""
        parts: list[Text | Table] = []
        if feeds:
            line = Text("feeds ", style="dim")
            for f in feeds:
                ok = f.state is FeedState.CONNECTED and not f.detail.startswith("stale")
                line.append(
                    "● ", style="#4ec98b" if ok else "#ffd166" if f.state is FeedState.CONNECTING else "#f0625c"
                )
                line.append(f"{f.feed} {f.state.value}  ", style="" if ok else "bold")
            parts.append(line)
        head = Text(f"last {window_min} min, liquidated USD", style="dim")
        parts.append(head)
        top = sorted(totals.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:6]
        if top:
            grid = Table.grid(padding=(0, 1))
            for justify in ("left", "right", "right"):
                grid.add_column(justify=justify, no_wrap=True)
            grid.add_row(Text("market", style="dim"), Text("longs", style="dim"), Text("shorts", style="dim"))
            for sym, (lng, sht) in top:
                grid.add_row(
                    Text(sym, style="bold"), Text(fmt_usd(lng), style="#f0625c"), Text(fmt_usd(sht), style="#4ec98b")
                )
            parts.append(grid)
        else:
            parts.append(Text("no liquidations yet", style="dim"))
        if symbol and minutes:
            line = Text(f"{symbol} per minute: ", style="dim")
            for minute_ms, lng, sht in list(minutes)[-5:]:
                if lng or sht:
                    line.append(f"{_hms(minute_ms)[:5]} ", style="dim")
                    line.append(f"L {fmt_usd(lng)} ", style="#f0625c")
                    line.append(f"S {fmt_usd(sht)}  ", style="#4ec98b")
            parts.append(line)
        for liq in list(recent)[:12]:
            t = Text(no_wrap=True, overflow="ellipsis")
            t.append(_hms(liq.time_ms) + " ", style="dim")
            t.append(f"{VENUE_TITLES.get(liq.venue, liq.venue):<8} ", style="dim")
            t.append(f"{liq.symbol:<7} ", style="bold")
            t.append(f"{liq.side.upper():<5} ", style="#f0625c" if liq.side == "long" else "#4ec98b")
            t.append(f"{fmt_usd(liq.usd):>8}")
            parts.append(t)
        self.update(Group(*parts))
