"""Market detail: funding history and mark price plots, premium, impact prices, and the
locally predicted funding rate beside the venue's own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from pfterm.core.market.funding import apr
from pfterm.core.market.views import MarketDetailView
from pfterm.widgets.numbers import fmt_pct, fmt_price, fmt_rate, fmt_usd

HD_FILL_MAX_CELLS = 1_500
"""The largest funding plot (width × height, cells) filled in half blocks; larger ones are
filled in full blocks (plotext's half-block fill costs ~4× more, 54 ms at 156×20)."""


class SeriesPlot(PlotextPlot):
    """A plotext plot whose figure is redrawn from scratch on every render.

    plotext keeps layout decisions (tick placement) from earlier builds and clamps figures to
    the process's terminal size; drawing the figure inside ``render`` at the widget's current
    size makes the output a pure function of (data, size).
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._draw: Callable[[Any], None] | None = None

    def draw(self, fn: Callable[[Any], None]) -> None:
        """Set the function that draws the figure into a fresh plotext object, and refresh."""
        self._draw = fn
        self.refresh()

    def render(self):  # noqa: D102 - Textual hook
        self._plot = Plot()
        # plotext reads the process's terminal size (COLUMNS, the tty) when a figure is made
        # and uses it for layout; the widget's own size is the only one that means anything here.
        self._plot._set_terminal_size(self.size.width, self.size.height + 1)
        self._plot._limit_size(False, False)
        if self._draw is not None:
            self._draw(self._plot)
        return super().render()


class MarketDetail(Vertical):
    """Detail of one market, re-rendered from a :class:`~pfterm.core.market.views.MarketDetailView`.

    Plots are rebuilt only when their data changed (plotting is the costly part), numbers
    on every call.
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._funding_key: tuple | None = None
        self._mark_key: tuple | None = None
        self._early: tuple[MarketDetailView | None] | None = None
        self._ready = False
        self._numbers_shown = False  # the numbers grid (not the placeholder) is on screen

    def compose(self) -> ComposeResult:
        """Numbers on top, then the funding-history and mark-price plots."""
        yield Static(id="detail-numbers")
        yield SeriesPlot(id="funding-plot")
        yield SeriesPlot(id="mark-plot")

    def on_mount(self) -> None:
        """Render a view that arrived before the panel's children were mounted."""
        self._ready = True
        if self._early is not None:
            (view,) = self._early
            self._early = None
            self.show(view)

    def show(self, v: MarketDetailView | None) -> None:
        """Render ``v`` (``None``: nothing selected yet); before mount it is kept for on_mount."""
        if not self._ready:
            self._early = (v,)
            return
        numbers = self.query_one("#detail-numbers", Static)
        if v is None:
            numbers.update(Text("select a market", style="dim"))
            self._numbers_shown = False
            return
        r = v.row
        self.border_title = f"{r.symbol}  max {v.max_leverage}×"
        g = Table.grid(padding=(0, 1), expand=True)
        g.add_column(style="dim")
        g.add_column(justify="right")
        g.add_column(style="dim")
        g.add_column(justify="right")
        g.add_row("mark", fmt_price(r.mark), "oracle", fmt_price(r.oracle))
        g.add_row("mid", fmt_price(v.mid), "basis", fmt_pct(r.basis, 3))
        g.add_row("impact bid", fmt_price(v.impact_bid), "impact ask", fmt_price(v.impact_ask))
        g.add_row("premium", fmt_pct(v.premium, 4), "venue prem.", fmt_pct(v.venue_premium, 4))
        g.add_row(
            "venue rate/h",
            fmt_rate(r.funding),
            "APR",
            fmt_pct(r.funding_apr, 2),
        )
        pred = v.predicted_local
        g.add_row(
            f"predicted/h ({v.premium_samples})",
            fmt_rate(pred),
            "APR",
            fmt_pct(apr(pred, 1.0) if pred is not None else None, 2),
        )
        g.add_row("open interest", fmt_usd(r.oi_usd), "24h vol", fmt_usd(r.volume_usd))
        chg24 = r.mark / v.prev_day_px - 1 if v.prev_day_px > 0 else None
        g.add_row("OI Δ window", fmt_pct(r.oi_change, 2), "24h chg", fmt_pct(chg24, 2))
        # the grid always has the same rows: the screen is laid out again only when it replaces
        # the placeholder line
        numbers.update(g, layout=not self._numbers_shown)
        self._numbers_shown = True
        self._plot_funding(v)
        self._plot_mark(v)

    def _plot_funding(self, v: MarketDetailView) -> None:
        pts = v.funding_history[-48:]
        key = (v.row.symbol, len(pts), pts[-1].time_ms if pts else 0)
        if key == self._funding_key:
            return
        self._funding_key = key
        ys = [apr(p.rate, p.interval_h) * 100 for p in pts]
        last = pts[-1].time_ms if pts else 0
        # x in hours before the latest settlement: plain numbers keep plotext's layout deterministic
        xs = [-(last - p.time_ms) / 3_600_000 for p in pts]

        def draw(plt) -> None:
            if not pts:
                plt.title("funding APR % (settled): loading history…")
                return
            plt.title("funding APR % (x: hours before last)")
            # a filled line, not plt.bar: bar() sets categorical tick labels through a set, whose
            # order (and so the layout) changes with Python's string-hash seed
            # half blocks ("hd") where the plot is small; full blocks ("sd") on a large one,
            # where filling in half blocks costs 54 ms a render (156×20, the full-screen
            # detail) against 12 ms
            size = widget.size
            marker = "hd" if size.width * size.height <= HD_FILL_MAX_CELLS else "sd"
            plt.plot(xs, ys, color="red" if sum(ys) < 0 else "green", fillx=True, marker=marker)

        widget = self.query_one("#funding-plot", SeriesPlot)
        widget.draw(draw)

    def _plot_mark(self, v: MarketDetailView) -> None:
        hist = v.history[-240:]
        key = (v.row.symbol, len(hist), hist[-1].time_ms if hist else 0)
        if key == self._mark_key:
            return
        self._mark_key = key
        ys = [s.mark_px for s in hist]
        last = hist[-1].time_ms if hist else 0
        xs = [-(last - s.time_ms) / 60_000 for s in hist]

        def draw(plt) -> None:
            plt.title("mark price (x: minutes ago)")
            if len(ys) >= 2:
                plt.plot(xs, ys, marker="braille", color="cyan")

        self.query_one("#mark-plot", SeriesPlot).draw(draw)
