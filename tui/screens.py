"""The screens over the main screen: help (a dialog) and the
full-screen views (market detail, trading, funding matrix), which cover it edge to edge. All
are modal (the main screen's keys do not act through them); while one is open the console
stops feeding the main screen (:meth:`pfterm.tui.app.PftermApp.flush`)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from pfterm.core.crossvenue.matrix import Basis, MatrixSort
from pfterm.core.market.views import MarketDetailView
from pfterm.core.trading.portfolio import TradingView
from pfterm.tui.bindings import help_note, key_hint, kill_binding
from pfterm.widgets.detail import MarketDetail
from pfterm.widgets.matrix import BASIS_TITLES, FundingMatrixTable, LiquidationPanel
from pfterm.widgets.trading import ActivityLog, KillBanner, OpenOrdersPanel, PortfolioPanel, PositionsPanel


def _composed(screen: Screen) -> bool:
    """Whether ``screen`` has its widgets to show a view in: mounted and not yet torn down. The
    console's flush timer may fire between a push and the screen's mount, or while the app
    closes; a view then is skipped (the next flush brings a newer one)."""
    return screen.is_mounted and bool(screen.children)


class HelpScreen(ModalScreen[None]):
    """Lists every key binding of the console with what it does."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]

    def __init__(self, rows: list[tuple[str, str, str]], note: str | None = None) -> None:
        """``rows``: ``(keys, action, where)``; ``note``: the line under the table (default
        :func:`~pfterm.tui.bindings.help_note` with the default keys)."""
        super().__init__()
        self._rows = rows
        self._note = note if note is not None else help_note()

    def compose(self) -> ComposeResult:
        """A scrollable table of (keys, action, where)."""
        table = Table(title="pfterm — keys", expand=True, show_edge=False, header_style="bold")
        table.add_column("key", style="bold #ffd166", no_wrap=True)
        table.add_column("action")
        table.add_column("where", style="dim")
        for keys, desc, where in self._rows:
            table.add_row(keys, desc, where)
        with VerticalScroll(id="help-box"):
            yield Static(table)
            yield Static(Text(self._note, style="dim"))


class DetailScreen(ModalScreen[None]):
    """The selected market's detail over the whole screen (the narrow layout's detail view)."""

    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close", id="detail.close")]

    def __init__(self, view: MarketDetailView | None = None) -> None:
        """``view``: what the first paint shows (the console's flush brings newer ones)."""
        super().__init__()
        self._first_view = view

    def compose(self) -> ComposeResult:
        """One :class:`~pfterm.widgets.detail.MarketDetail`."""
        yield MarketDetail(id="detail-full")

    def on_mount(self) -> None:
        """Fill the detail before the first paint: one paint, not an empty one then the data."""
        if self._first_view is not None:
            self.query_one(MarketDetail).show(self._first_view)
            self._first_view = None

    def show(self, view: MarketDetailView | None) -> None:
        """Render ``view`` (skipped until the screen is mounted)."""
        if _composed(self):
            self.query_one(MarketDetail).show(view)


class TradingScreen(ModalScreen[None]):
    """Positions, open orders, portfolio and activity over the whole screen (``t``; Esc closes).

    The console's kill key works here as everywhere; ``c`` cancels the highlighted order.
    """

    # the kill key shown in this screen's footer too (the app's priority binding acts on it;
    # the same id follows a remapped kill key)
    BINDINGS = [
        kill_binding("app.kill", priority=False),
        Binding("escape,t,q", "dismiss", "Close", id="trading.close"),
    ]

    def compose(self) -> ComposeResult:
        """Positions and orders on the left, portfolio and activity on the right."""
        with Horizontal(id="trading-full"):
            with Vertical(id="trading-full-left"):
                yield PositionsPanel(id="full-positions")
                yield OpenOrdersPanel(id="full-orders")
            with Vertical(id="trading-full-side"):
                portfolio = PortfolioPanel(id="full-portfolio")
                portfolio.resume_key = key_hint(
                    "app.resume", getattr(self.app, "key_remaps", {}), KillBanner.RESUME_KEY
                )
                yield portfolio
                yield ActivityLog(id="full-activity")
        # this screen's own keys (close, cancel, the kill key) instead of the console's below it
        yield Footer()

    def on_mount(self) -> None:
        """Titles, and focus on the positions."""
        self.query_one(PositionsPanel).border_title = "Positions"
        self.query_one(OpenOrdersPanel).border_title = "Open orders"
        self.query_one(PortfolioPanel).border_title = "Portfolio"
        self.query_one(ActivityLog).border_title = "Activity"
        self.query_one(PositionsPanel).focus()

    def show(self, view: TradingView, now_ms: int) -> None:
        """Render ``view`` (``now_ms``: venue time for order ages; skipped until the screen is mounted)."""
        if not _composed(self):
            return
        self.query_one(PositionsPanel).show(view.positions)
        self.query_one(OpenOrdersPanel).show(view.orders, now_ms)
        self.query_one(PortfolioPanel).show(view.portfolio)
        self.query_one(ActivityLog).show(view.activity, view.activity_seq)


class MatrixScreen(ModalScreen[None]):
    """The funding matrix (market × venue) beside the cross-venue liquidation feed (``F``).

    ``b`` cycles the basis (per hour, per 8 h, APR), ``s`` the sort (best spread, market, OI);
    Esc closes. The console pushes fresh rows once a second.
    """

    BINDINGS = [
        kill_binding("app.kill", priority=False),
        Binding("escape,F,q", "dismiss", "Close", id="matrix.close"),
        Binding("b", "basis", "Basis", id="matrix.basis"),
        Binding("s", "sort", "Sort", id="matrix.sort"),
    ]
    BASES: tuple[Basis, ...] = ("apr", "8h", "hour")
    SORTS: tuple[MatrixSort, ...] = ("spread", "oi", "symbol")

    def __init__(self) -> None:
        super().__init__()
        self.basis: Basis = "apr"
        self.sort: MatrixSort = "spread"

    def compose(self) -> ComposeResult:
        """Matrix on the left, liquidations on the right."""
        with Vertical(id="matrix-box"):
            yield FundingMatrixTable(id="matrix")
            yield LiquidationPanel(id="liquidations")
        yield Footer()  # this screen's keys (basis, sort, close), not the console's below it

    def on_mount(self) -> None:
        """Titles and focus."""
        self.query_one(LiquidationPanel).border_title = "Liquidations"
        self._title()
        self.query_one(FundingMatrixTable).focus()

    def _title(self) -> None:
        self.query_one(
            FundingMatrixTable
        ).border_title = (
            f"Funding matrix — {BASIS_TITLES[self.basis]}, countdown to each venue's settlement; sort: {self.sort}"
        )

    def action_basis(self) -> None:
        """Next basis."""
        self.basis = self.BASES[(self.BASES.index(self.basis) + 1) % len(self.BASES)]
        self._title()
        self.app.refresh_matrix()  # type: ignore[attr-defined]

    def action_sort(self) -> None:
        """Next sort."""
        self.sort = self.SORTS[(self.SORTS.index(self.sort) + 1) % len(self.SORTS)]
        self._title()
        self.app.refresh_matrix()  # type: ignore[attr-defined]

    @property
    def selected(self) -> str | None:
        """The market under the cursor."""
        row = self.query_one(FundingMatrixTable).current()
        return row.symbol if row is not None else None

    def show(self, venues, rows, now_ms: int, liq_args: tuple) -> None:
        """Render the matrix rows (for ``venues``) and the liquidation panel (skipped until the
        screen is mounted)."""
        if not _composed(self):
            return
        table = self.query_one(FundingMatrixTable)
        table.configure(venues, self.basis)
        table.show(rows, now_ms)
        self.query_one(LiquidationPanel).show(*liq_args)
