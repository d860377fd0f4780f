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


def trading_bindings(kill_key: str = "ctrl+k") -> list[Binding]:
    """The trading keys; the kill switch is a *priority* binding so that it works on every
    screen, inside dialogs and text inputs, and is never shadowed by a widget's own key."""
    return [
        Binding(kill_key, "kill", "KILL", priority=True, id="kill"),
        Binding("o", "order", "Order"),
        Binding("h", "hedge", "Hedge"),
        Binding("r", "rebalance", "Rebalance"),
        Binding("t", "trading", "Trading"),
        Binding("H", "harvest", "Harvester"),
        Binding("F", "matrix", "Funding matrix", show=False),
        Binding("C", "cancel_all", "Cancel all orders", show=False),
        Binding("R", "resume", "Resume trading after a kill", show=False),
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


def help_rows(kill_key: str = "ctrl+k") -> list[tuple[str, str, str]]:
    """``(keys, description, where)`` for every binding, for the help screen."""
    rows = [(_keys(b), b.description, "anywhere") for b in APP_BINDINGS]
    kill, *trading = trading_bindings(kill_key)
    rows.append((_keys(kill), "KILL SWITCH: cancel every order, close every position (no confirmation)",
                 "anywhere, even in dialogs"))  # fmt: skip
    rows += [(_keys(b), b.description, "selected market" if b.action in ("order", "hedge") else "anywhere")
             for b in trading]  # fmt: skip
    rows.append(("c", "cancel the highlighted order", "open orders"))
    rows += [(_keys(b), b.description, "markets") for b in MarketTable.BINDINGS]  # type: ignore[union-attr]
    rows += [
        ("ctrl+p", "command palette (every action)", "anywhere"),
        ("Tab", "move focus", "anywhere"),
        ("ctrl+q", "quit", "anywhere"),
    ]
    return rows
