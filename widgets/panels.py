"""Small panels of the main screen: settlement, alerts and the status bar.

Each renders a snapshot handed to it by the console; none of them reads the engine or
talks to a venue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from pfterm.core.market.alert_gate import collapse_repeats
from pfterm.core.market.funding import countdown_ms, format_countdown
from pfterm.core.market.models import Alert, AlertKind, FeedState
from pfterm.core.market.views import FeedView, MarketRow
from pfterm.widgets.numbers import fmt_pct, fmt_rate, fmt_usd


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S")


class SettlementPanel(Static):
    """Countdown to the venue's next settlement, the extremes of funding, and the
    estimated payment of each open position (read-only session: none). Symbols are shown
    whole: a narrow panel leaves out the rate per interval, then the APR's decimal."""

    _shape: tuple[int, bool, int, int] | None = None
    """What the panel's height depends on, at the last render: rows, rate shown, note length, width."""

    def show(
        self,
        now_ms: int,
        next_ms: int | None,
        highest: Sequence[MarketRow],
        lowest: Sequence[MarketRow],
        positions_note: str = "positions: none (read-only)",
    ) -> None:
        """Render for venue time ``now_ms`` (ms UTC) and settlement ``next_ms``."""
        self._last = (now_ms, next_ms, highest, lowest, positions_note)
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("next settlement ", style="bold")
        if next_ms is None:
            t.append("—")
        else:
            t.append(format_countdown(countdown_ms(now_ms, next_ms)), style="bold #ffd166")
            t.append(f"  {_utc(next_ms)[:5]} UTC", style="dim")
        wide, decimals, sym_widths = self._layout(highest, lowest)
        grid = Table.grid(padding=(0, 1))
        for sym_width in sym_widths:
            grid.add_column(no_wrap=True, width=sym_width)
            if wide:
                grid.add_column(justify="right", no_wrap=True)
            grid.add_column(justify="right", no_wrap=True)
        for i in range(max(len(highest), len(lowest))):
            cells: list[Text | str] = []
            for arrow, side in (("▲", highest), ("▼", lowest)):
                if i < len(side):
                    r = side[i]
                    style = "#4ec98b" if r.funding > 0 else "#f0625c"
                    cells.append(Text(f"{arrow} {r.symbol}", style="bold"))
                    if wide:
                        cells.append(Text(fmt_rate(r.funding), style=style))
                    cells.append(Text(fmt_pct(r.funding_apr, decimals), style=style))
                else:
                    cells += [""] * (3 if wide else 2)
            grid.add_row(*cells)
        # the panel's height follows its lines: lay the screen out again only when they may
        # have changed (a layout pass per second costs more than the panel's own render)
        shape = (max(len(highest), len(lowest)), wide, len(positions_note), self.size.width)
        self.update(Group(t, grid, Text(positions_note, style="dim")), layout=shape != self._shape)
        self._shape = shape

    def _layout(self, highest: Sequence[MarketRow], lowest: Sequence[MarketRow]) -> tuple[bool, int, tuple[int, int]]:
        """(rate per interval shown?, APR decimals, cells of the ▲ and ▼ symbol columns): the
        richest layout in which every symbol fits whole at this width: rate and APR, then the
        APR alone with one decimal, then with none (then symbols may be cut)."""
        sides = (highest, lowest)
        up, down = (max((len(r.symbol) + 2 for r in side), default=0) for side in sides)
        syms = (up, down)
        rates = sum(max((len(fmt_rate(r.funding)) for r in side), default=0) for side in sides)
        for wide, decimals in ((True, 1), (False, 1), (False, 0)):
            aprs = sum(max((len(fmt_pct(r.funding_apr, decimals)) for r in side), default=0) for side in sides)
            need = sum(syms) + aprs + (rates + 5 if wide else 3)
            if need <= self.size.width:
                # the slack split between the symbol columns: the ▼ side ends at the right edge
                slack = self.size.width - need
                return wide, decimals, (syms[0] + slack - slack // 2, syms[1] + slack // 2)
        return False, 0, syms

    def on_resize(self) -> None:
        """The layout depends on the width: render the last data again."""
        last = getattr(self, "_last", None)
        if last is not None:
            self.show(*last)


ALERT_STYLE = {
    AlertKind.CASCADE: "bold #f0625c",
    AlertKind.FUNDING_FLIP: "#ffd166",
    AlertKind.EXTREME_FUNDING: "#ff9e64",
    AlertKind.LIQUIDATIONS: "bold #ff9e64",
}


class AlertsPanel(Static):
    """Alerts, newest first: time (venue, UTC), market, kind, OI change, price change."""

    def show(self, alerts: Sequence[Alert], limit: int = 50, repeat_after_s: float = 0.0) -> None:
        """Render the newest ``limit`` lines of ``alerts`` (already newest first); below 50 cells
        wide the OI and price changes follow the kind instead of having columns. Repeats of a
        (market, kind) within ``repeat_after_s`` venue seconds (:func:`collapse_repeats`, the
        runs the console toasts once) are one line: the newest of them, with ``×N``."""
        self._last = (alerts, limit, repeat_after_s)
        if not alerts:
            self.update(Text("no alerts yet", style="dim"))
            return
        wide = self.size.width >= 50
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(no_wrap=True, style="dim")
        table.add_column(no_wrap=True, style="bold", min_width=4)
        table.add_column(no_wrap=True, ratio=1, overflow="ellipsis")
        if wide:
            table.add_column(justify="right", no_wrap=True)
            table.add_column(justify="right", no_wrap=True)
        for a, n in collapse_repeats(alerts, repeat_after_s)[:limit]:
            oi = fmt_pct(a.oi_change, 1) if a.oi_change is not None else ""
            px = fmt_pct(a.price_change, 1) if a.price_change is not None else ""
            detail = a.kind.value
            if a.kind is not AlertKind.CASCADE and a.funding_apr is not None:
                detail = f"{a.kind.value} {fmt_pct(a.funding_apr, 0)}"
            elif a.kind is AlertKind.LIQUIDATIONS and "usd" in a.extra:
                detail = f"{a.kind.value} {fmt_usd(a.extra['usd'])}/min"
            if n > 1:
                detail = f"{detail} ×{n}"
            when = _utc(a.time_ms)
            if wide:
                table.add_row(when, a.symbol, Text(detail, style=ALERT_STYLE.get(a.kind, "bold")), oi, px)
            else:
                if oi:
                    detail = f"{detail} OI {oi} px {px}"
                table.add_row(when[:5], a.symbol, Text(detail, style=ALERT_STYLE.get(a.kind, "bold")))
        self.update(table)

    def on_resize(self) -> None:
        """The layout depends on the width: render the last alerts again."""
        last = getattr(self, "_last", None)
        if last is not None:
            self.show(*last)


@dataclass(slots=True, frozen=True)
class StatusView:
    """What the status bar shows: venue label, feeds (status and silence), per-channel last
    message (monotonic s), stale and total market counts, malformed frames, clock speed, venue time."""

    venue: str
    feeds: tuple[FeedView, ...]
    last_msg: tuple[tuple[str, float], ...]
    stale: int
    markets: int
    speed: float | None
    now_ms: int
    now_mono: float
    wall_ms: int | None = None
    """The wall clock (ms), shown beside the venue time when a simulator runs at another speed."""


def _short(detail: str, venue: str, limit: int = 56) -> str:
    """What went wrong in ``detail``, at most ``limit`` characters: leading labels naming the
    request (``"hyperliquid info meta: "``, starting with ``venue``) and exception class names
    (``"ConnectError: "``) are dropped, the reason kept (``"[Errno -2] Name or service not known"``)."""
    parts = detail.split(": ")
    while len(parts) > 1:
        head = parts[0]
        if head.startswith(venue) or (head.isidentifier() and head.endswith(("Error", "Exception", "Timeout"))):
            parts.pop(0)
        else:
            break
    text = ": ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StatusBar(Static):
    """One line: venue, connection state (with retry countdown and, while retrying, why),
    message ages, staleness."""

    def show(self, v: StatusView) -> None:
        """Render ``v``."""
        now = v.now_mono
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f" {v.venue} ", style="bold reverse")
        t.append(" ")
        malformed = 0
        for view in v.feeds:
            f = view.status
            malformed += f.malformed
            name = f.feed.split("/")[-1]
            if view.silent_s is not None:
                t.append(f"{name} ◌ stale {view.silent_s:.0f} s", style="bold #ff9e64")
            elif f.state is FeedState.CONNECTED:
                t.append(f"{name} ● connected", style="#4ec98b")
            elif f.state is FeedState.RETRYING:
                wait = max(0.0, (f.retry_at_mono or now) - now)
                t.append(f"{name} ○ retrying in {wait:.0f}s", style="bold #f0625c")
                if f.detail:  # why: the venue's answer or the network error, shortened
                    t.append(f" ({_short(f.detail, f.feed.split('/')[0])})", style="#f0625c")
            elif f.state is FeedState.CONNECTING:
                t.append(f"{name} ◌ connecting", style="#ffd166")
            else:
                t.append(f"{name} stopped", style="dim")
            t.append("  ")
        if v.stale:
            t.append(f"{v.stale}/{v.markets} stale  ", style="bold #ff9e64")
        else:
            t.append(f"{v.markets} mkts  ", style="dim")
        if malformed:
            t.append(f"{malformed} malformed  ", style="#ff9e64")
        if v.speed is not None and v.speed != 1.0:
            t.append(f"sim ×{v.speed:g}  ", style="#8ab4f8")
        for chan, mono in v.last_msg:
            age = now - mono
            t.append(f"{chan} {age:.1f}s  ", style="#f0625c" if age > 5 else "dim")
        venue_time = datetime.fromtimestamp(v.now_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if v.speed is not None and v.speed != 1.0 and v.wall_ms is not None:
            # two clocks differ: label them (activity, alerts and the harvester use venue time)
            wall = datetime.fromtimestamp(v.wall_ms / 1000, UTC).strftime("%H:%M:%S")
            t.append(f"sim time {venue_time} · wall {wall}", style="dim")
        else:
            t.append(venue_time, style="dim")
        self.update(t, layout=False)  # one line, always: never a reason to lay the screen out again
