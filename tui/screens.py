"""Modal screens: help (every key binding) and the full-screen market detail."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from core.views import MarketDetailView
from widgets.detail import MarketDetail


class HelpScreen(ModalScreen[None]):
    """Lists every key binding of the console with what it does."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self._rows = rows

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
            yield Static(
                Text(
                    "Type / to filter markets by name; ctrl+p opens the command palette with every action. "
                    "Esc closes this help.",
                    style="dim",
                )
            )


class DetailScreen(ModalScreen[None]):
    """The selected market's detail over the whole screen (the narrow layout's detail view)."""

    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        """One :class:`~widgets.detail.MarketDetail`."""
        yield MarketDetail(id="detail-full")

    def show(self, view: MarketDetailView | None) -> None:
        """Render ``view``."""
        self.query_one(MarketDetail).show(view)
