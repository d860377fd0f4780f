"""Key bindings of the console, in one place, the help table built from them, and the check
of remapped keys (``ui.kill_key``): a key a terminal can send, used by nothing else."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.binding import Binding

from pfterm.widgets.market_table import MarketTable

APP_BINDINGS: list[Binding] = [
    Binding("question_mark", "help", "Help"),
    Binding("slash", "filter", "Filter"),
    Binding("escape", "escape", "Clear filter / hide kill banner", show=False),
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


_HELP_TEXT = {
    "escape": "Clear filter / hide kill banner: an open filter first, else the banner of a finished kill",
    "quit": "Quit; asks first (y / n) while positions or orders are open",
}
"""Help lines longer than a footer label, by action (each starts with the binding's description)."""


def help_rows(kill_key: str = "ctrl+k") -> list[tuple[str, str, str]]:
    """``(keys, description, where)`` for every binding, for the help screen."""
    rows = [(_keys(b), _HELP_TEXT.get(b.action, b.description), "anywhere") for b in APP_BINDINGS]
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


# ---------------------------------------------------------------------------- remapped keys

REMAPPABLE: Mapping[str, str] = {"kill": "ui.kill_key"}
"""Binding id → the setting that remaps it (through Textual's keymap)."""

_ARRIVES_AS = {
    "ctrl+i": "tab",
    "ctrl+m": "enter",
    "ctrl+h": "backspace",
    "ctrl+left_square_bracket": "escape",
    "ctrl+space": "ctrl+@",
    "ctrl+at": "ctrl+@",
}
"""Keys a terminal sends as another key (the same control character)."""


def remapped_keys(ui: object) -> dict[str, str]:
    """Binding id → key for every remappable binding, from the ``[ui]`` settings."""
    return {"kill": str(ui.kill_key)}


def typable_keys() -> frozenset[str]:
    """Every key name with a modifier or a name (``ctrl+k``, ``f12``, ``shift+tab``) that a
    terminal sends and Textual decodes, from Textual's own table of terminal sequences."""
    from textual._ansi_sequences import ANSI_SEQUENCES_KEYS

    names: set[str] = set()
    for keys in ANSI_SEQUENCES_KEYS.values():
        if isinstance(keys, tuple):
            names.update(getattr(k, "value", k) for k in keys)
    # Escape followed by a character is that character with alt (Textual decodes it so)
    names.update(f"alt+{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789")
    return frozenset(n for n in names if not n.startswith("<"))


def _is_character(key: str) -> bool:
    """A key that types a character (``k``, ``K``, ``question_mark``): a text field takes it."""
    from textual.keys import key_to_character

    ch = key_to_character(key)
    return ch is not None and ch.isprintable()


def _binding_keys(binding: Binding | tuple) -> list[str]:
    key = binding.key if isinstance(binding, Binding) else binding[0]
    return [k.strip() for k in key.split(",") if k.strip()]


def _binding_text(binding: Binding | tuple) -> tuple[str, str]:
    if isinstance(binding, Binding):
        return binding.action, binding.description or binding.action
    return binding[1], (binding[2] if len(binding) > 2 else binding[1])


def _class_bindings(cls: type) -> Iterable[Binding | tuple]:
    """A class's bindings with those it inherits (Textual merges them the same way)."""
    for klass in reversed(cls.__mro__):
        yield from klass.__dict__.get("BINDINGS", ())


def bound_keys() -> dict[str, str]:
    """Every key the console acts on, besides the remappable ones → what it does and where
    (``"escape" → "Clear filter / hide kill banner (anywhere)"``). Text fields' own editing
    keys are not listed: the kill key is a priority binding and wins over them on purpose."""
    from textual.app import App
    from textual.containers import VerticalScroll
    from textual.screen import Screen

    from pfterm.tui.screens import DetailScreen, HelpScreen, MatrixScreen, TradingScreen
    from pfterm.tui.trade_screens import HedgeScreen, OrderTicketScreen, QuitScreen, RebalanceScreen
    from pfterm.widgets.trading import OpenOrdersPanel, PositionsPanel

    out: dict[str, str] = {}

    def add(key: str, what: str, where: str) -> None:
        out.setdefault(key, f"{what} ({where})")

    groups: list[tuple[str, Iterable[Binding | tuple]]] = [
        ("anywhere", [*APP_BINDINGS, *trading_bindings()[1:], *App.BINDINGS]),
        ("anywhere", [Binding(App.COMMAND_PALETTE_BINDING, "command_palette", "command palette")]),
        ("every screen", Screen.BINDINGS),
        ("markets", MarketTable.BINDINGS),
        ("positions", _class_bindings(PositionsPanel)),
        ("open orders", _class_bindings(OpenOrdersPanel)),
        ("alerts", _class_bindings(VerticalScroll)),
        ("help", HelpScreen.BINDINGS),
        ("market detail", DetailScreen.BINDINGS),
        ("trading screen", TradingScreen.BINDINGS),
        ("funding matrix", MatrixScreen.BINDINGS),
        ("hedge preview", HedgeScreen.BINDINGS),
        ("rebalance preview", RebalanceScreen.BINDINGS),
        ("quit question", QuitScreen.BINDINGS),
    ]
    for where, bindings in groups:
        for b in bindings:
            action, what = _binding_text(b)
            if action.removeprefix("app.") == "kill":
                continue
            for key in _binding_keys(b):
                add(key, what, where)
    for key in OrderTicketScreen.KEYS:
        add(key, "a ticket key", "order ticket")
    return out


def remap_problem(remaps: Mapping[str, str]) -> str | None:
    """One line saying what is wrong with the remapped keys (binding id → key name, already
    spelled as :func:`pfterm.core.runtime.config.normalize_key` returns it), or ``None`` when all are usable.

    A remapped key must be one a terminal can send (``ctrl+k``, ``f12``; not ``ctrl+i``, which
    arrives as Tab), must not type a character (the kill key acts everywhere, so ``k`` would
    fire while typing in the filter or the order ticket), and must not be used by anything else
    in the console or by another remapped key.
    """
    typable = typable_keys()
    bound = bound_keys()
    seen: dict[str, str] = {}
    for binding_id, key in remaps.items():
        setting = REMAPPABLE.get(binding_id, binding_id)
        if _is_character(key):
            return (f"{setting} = {key!r} types a character: it would act while typing in the filter or "
                    "the order ticket; use a modifier or a function key, e.g. ctrl+k or f12")  # fmt: skip
        if key in _ARRIVES_AS:
            return f"{setting} = {key!r} cannot be told apart: terminals send it as {_ARRIVES_AS[key]}"
        if key not in typable:
            return f"{setting} = {key!r} is not a key a terminal sends; use e.g. ctrl+k, ctrl+x or f12"
        if key in bound:
            return f"{setting} = {key!r} is already {bound[key]}; choose a free key, e.g. ctrl+k or f12"
        if key in seen:
            return f"{setting} = {key!r} is also {REMAPPABLE.get(seen[key], seen[key])}"
        seen[key] = binding_id
    return None
