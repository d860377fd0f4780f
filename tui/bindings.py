"""Key bindings of the console, in one place, and the help table built from them."""

from __future__ import annotations

from textual.binding import Binding

from widgets.market_table import MarketTable

APP_BINDINGS: list[Binding] = [
    Binding("question_mark", "help", "Help"),
    Binding("slash", "filter", "Filter"),
    Binding("escape", "clear_filter", "Clear filter", show=False),
    Binding("d", "detail", "Detail"),
    Binding("D", "toggle_delisted", "Delisted", show=False),
    Binding("ctrl+s", "save_svg", "Screenshot", show=False),
    Binding("q", "quit", "Quit"),
]

_KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "escape": "Esc",
    "enter": "Enter",
    "pageup": "PgUp",
    "pagedown": "PgDn",
}


def _keys(binding: Binding) -> str:
    return ", ".join(_KEY_NAMES.get(k.strip(), k.strip()) for k in binding.key.split(","))


def help_rows() -> list[tuple[str, str, str]]:
    """``(keys, description, where)`` for every binding, for the help screen."""
    rows = [(_keys(b), b.description, "anywhere") for b in APP_BINDINGS]
    rows += [(_keys(b), b.description, "markets") for b in MarketTable.BINDINGS]  # type: ignore[union-attr]
    rows += [
        ("ctrl+p", "command palette (every action)", "anywhere"),
        ("Tab", "move focus", "anywhere"),
        ("ctrl+q", "quit", "anywhere"),
    ]
    return rows
