"""Key bindings of the console: every binding's id, where each one acts, the help table built
from them, and the check of the keys remapped in the config (``[keys]``, and ``ui.kill_key``,
which is the binding ``app.kill``).

Every :class:`~textual.binding.Binding` of the console has a stable dotted id
(``app.kill``, ``markets.order_ticket``, ``ticket.send``). The config's ``[keys]`` table maps
ids to keys (``"app.kill" = "f12"``, several keys comma-separated) and the console hands that
map to Textual as its keymap (:meth:`textual.app.App.set_keymap`), so the footers show the
remapped keys and Textual routes them. Before the console starts, :func:`console_keymap`
checks the remaps: a known id, a key a terminal can send, and no other binding acting on the
same key where this one acts (:data:`PLACES`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from textual.binding import Binding, BindingsMap

from pfterm.core.runtime.config import ConfigError, Settings
from pfterm.widgets.market_table import MarketTable
from pfterm.widgets.trading import OpenOrdersPanel

KILL_ID = "app.kill"
"""The kill switch's binding id (``ui.kill_key`` sets its key too)."""

DEFAULT_KILL_KEY = "ctrl+k"

APP_BINDINGS: list[Binding] = [
    Binding("question_mark", "help", "Help", id="app.help"),
    Binding("slash", "filter", "Filter", id="app.filter"),
    Binding("escape", "escape", "Clear filter / fold kill banner", show=False, id="app.clear"),
    Binding("d", "detail", "Detail", id="app.detail"),
    Binding("D", "toggle_delisted", "Delisted", show=False, id="app.delisted"),
    Binding("ctrl+s", "save_svg", "Screenshot", show=False, id="app.screenshot"),
    Binding("q", "quit", "Quit", id="app.quit"),
]


def kill_binding(action: str = "kill", *, priority: bool = True) -> Binding:
    """The kill switch's binding (id :data:`KILL_ID`). The console's is a *priority* binding on
    the app, so that it works on every screen, inside dialogs and text inputs, and is never
    shadowed by a widget's own key; a full screen with its own footer lists a copy
    (``action="app.kill"``, ``priority=False``) so that the footer shows it, remapped with it."""
    return Binding(DEFAULT_KILL_KEY, action, "KILL", priority=priority, id=KILL_ID)


def trading_bindings() -> list[Binding]:
    """The trading keys, the kill switch first."""
    return [
        kill_binding(),
        Binding("o", "order", "Order", id="markets.order_ticket"),
        Binding("h", "hedge", "Hedge", id="markets.hedge"),
        Binding("r", "rebalance", "Rebalance", id="app.rebalance"),
        Binding("t", "trading", "Trading", id="app.trading"),
        Binding("H", "harvest", "Harvester", id="app.harvester"),
        Binding("F", "matrix", "Funding matrix", show=False, id="app.matrix"),
        Binding("C", "cancel_all", "Cancel all orders", show=False, id="app.cancel_all"),
        Binding("R", "resume", "Resume trading after a kill", show=False, id="app.resume"),
    ]


# ---------------------------------------------------------------------------- showing keys

_KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "escape": "Esc",
    "enter": "Enter",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "space": "space",
}
"""How the help table writes a key."""

_HINT_NAMES = {**_KEY_NAMES, "tab": "Tab", "shift+tab": "shift+Tab", "backspace": "Backspace"}
_ARROWS = {"up": "↑", "down": "↓", "left": "←", "right": "→"}
"""How the dialogs' key hints write a key (arrows as glyphs, in this order)."""


def _label(key: str, names: Mapping[str, str]) -> str:
    """``key`` as ``names`` writes it, else the character it types (``full_stop`` → ``.``), else as is."""
    if key in names:
        return names[key]
    return _character(key) or key


def _keys(binding: Binding, remaps: Mapping[str, str]) -> str:
    key = remaps.get(binding.id, binding.key) if binding.id else binding.key
    return ", ".join(_label(k.strip(), _KEY_NAMES) for k in key.split(","))


def hint_keys(keys: Iterable[str]) -> str:
    """Keys as a dialog's hint line writes them: ``["tab", "down", "shift+tab", "up"]`` →
    ``"Tab/↑↓"`` (``shift+X`` left out beside ``X``, arrows as glyphs run together, last)."""
    keys = list(dict.fromkeys(keys))
    shown = [k for k in keys if k not in _ARROWS and not (k.startswith("shift+") and k[6:] in keys)]
    names = [_label(k, _HINT_NAMES) for k in shown]
    arrows = "".join(glyph for key, glyph in _ARROWS.items() if key in keys)
    return "/".join([*names, *([arrows] if arrows else [])])


def key_hint(binding_id: str, remaps: Mapping[str, str], default: str) -> str:
    """How a hint inside a panel writes the keys of ``binding_id``: the config's keys when
    ``remaps`` (binding id → ``"key[,key...]"``) remaps it, written as :func:`hint_keys` does,
    else ``default`` (the panel's own spelling of the default key)."""
    keys = remaps.get(binding_id)
    return hint_keys(keys.split(",")) if keys else default


def keys_of(screen: object, binding_id: str) -> list[str]:
    """The keys that trigger binding ``binding_id`` on ``screen`` now, remaps applied, in order
    (from Textual's :attr:`~textual.screen.Screen.active_bindings`)."""
    active = screen.active_bindings  # type: ignore[attr-defined]
    return [key for key, b in active.items() if b.binding.id == binding_id]


_HELP_TEXT = {
    "escape": "Clear filter / fold kill banner: an open filter first, else a finished kill's banner folds to "
    "one line, then hides",
    "quit": "Quit; asks first (y / n) while positions or orders are open",
}
"""Help lines longer than a footer label, by action (each starts with the binding's description)."""

_DESCRIPTIONS = {
    KILL_ID: "KILL SWITCH: cancel every order, close every position (no confirmation)",
    "app.clear": _HELP_TEXT["escape"],
    "app.quit": _HELP_TEXT["quit"],
    "markets.order_ticket": "Order ticket for the selected market",
    "markets.hedge": "Hedge the selected asset",
    "app.trading": "Trading screen",
    "app.harvester": "Start / stop the funding harvester",
    "markets.open_detail": "Full-screen detail of the selected market",
    "markets.freeze": "Freeze / unfreeze the market order (❄ in the header)",
}
"""``pfterm keys`` lines longer than a footer label, by binding id."""


def _declared(cls: type) -> list[Binding]:
    """The bindings a class declares itself (``BINDINGS``), in order."""
    return [b for b in cls.__dict__.get("BINDINGS", ()) if isinstance(b, Binding)]


def help_rows(remaps: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
    """``(keys, description, where)`` for every binding of the main screen, for the help
    screen; ``remaps``: binding id → keys (``"ctrl+k,f12"``), as :func:`console_keymap` returns."""
    remaps = remaps or {}
    rows = [(_keys(b, remaps), _HELP_TEXT.get(b.action, b.description), "anywhere") for b in APP_BINDINGS]
    kill, *trading = trading_bindings()
    rows.append(
        (
            _keys(kill, remaps),
            "KILL SWITCH: cancel every order, close every position (no confirmation)",
            "anywhere, even in dialogs",
        )
    )
    rows += [
        (_keys(b, remaps), b.description, "selected market" if b.action in ("order", "hedge") else "anywhere")
        for b in trading
    ]
    rows += [(_keys(b, remaps), "cancel the highlighted order", "open orders") for b in _declared(OpenOrdersPanel)]
    rows += [(_keys(b, remaps), b.description, "markets") for b in _declared(MarketTable)]
    rows += [
        ("ctrl+p", "command palette (every action)", "anywhere"),
        ("Tab", "move focus", "anywhere"),
        ("ctrl+q", "quit", "anywhere"),
    ]
    return rows


def help_note(remaps: Mapping[str, str] | None = None) -> str:
    """The line under the help table, with the filter and close keys as remapped."""
    remaps = remaps or {}
    filter_key = _label(remaps.get("app.filter", "slash").split(",")[0], _KEY_NAMES)
    close_key = _label(remaps.get("help.close", "escape").split(",")[0], _KEY_NAMES)
    return (
        f"Type {filter_key} to filter markets by name; ctrl+p opens the command palette with every action. "
        f"{close_key} closes this help."
    )


# ---------------------------------------------------------------------------- where keys act


@dataclass(frozen=True)
class Place:
    """A screen of the console with one widget focused (or none): the bindings active together.

    Attributes:
        screen: what the screen is called in messages (``"main screen"``, ``"order ticket"``).
        screen_class: the screen's class; ``None`` for the console's main screen.
        focus: what the focused widget is called (``"markets"``), ``None`` when nothing has focus.
        focus_class: the focused widget's class.
        own_keys: the screen takes every key itself (the order ticket): only its own bindings
            and the app's priority bindings act there.
    """

    screen: str
    screen_class: type | None = None
    focus: str | None = None
    focus_class: type | None = None
    own_keys: bool = False


def places() -> list[Place]:
    """Every place of the console, main screen first (the filter field is left out: a text
    field takes the keys it edits with, and the kill key, a priority binding, wins over them)."""
    from textual.containers import VerticalScroll

    from pfterm.tui.screens import DetailScreen, HelpScreen, MatrixScreen, TradingScreen
    from pfterm.tui.trade_screens import (
        HarvesterRestartScreen,
        HedgeScreen,
        OrderTicketScreen,
        QuitScreen,
        RebalanceScreen,
    )
    from pfterm.widgets.matrix import FundingMatrixTable
    from pfterm.widgets.trading import ActivityLog, PositionsPanel

    main = "main screen"
    return [
        Place(main, None, "markets", MarketTable),
        Place(main, None, "positions", PositionsPanel),
        Place(main, None, "open orders", OpenOrdersPanel),
        Place(main, None, "alerts", VerticalScroll),
        Place(main, None, "activity", ActivityLog),
        Place("help", HelpScreen, "help", VerticalScroll),
        Place("market detail", DetailScreen),
        Place("trading screen", TradingScreen, "trading screen", PositionsPanel),
        Place("trading screen", TradingScreen, "trading screen", OpenOrdersPanel),
        Place("trading screen", TradingScreen, "trading screen", ActivityLog),
        Place("funding matrix", MatrixScreen, "funding matrix", FundingMatrixTable),
        Place("hedge preview", HedgeScreen),
        Place("rebalance preview", RebalanceScreen, "rebalance preview", VerticalScroll),
        Place("quit question", QuitScreen),
        Place("harvester restart question", HarvesterRestartScreen),
        Place("order ticket", OrderTicketScreen, own_keys=True),
    ]


@dataclass(frozen=True)
class Bound:
    """One key of one binding active in a place; ``where`` names the screen or widget that binds it."""

    key: str
    binding: Binding
    where: str


def _class_bindings(cls: type) -> Iterable[tuple[str, Binding]]:
    """A class's bindings, one per key, merged with those it inherits as Textual merges them."""
    for key, bindings in cls._merge_bindings().key_to_bindings.items():  # type: ignore[attr-defined]
        for b in bindings:
            yield key, b


def active_keys(place: Place) -> list[Bound]:
    """The keys active in ``place``, in the order Textual looks them up (the focused widget,
    the screen, the app; on a modal screen only the app's priority bindings reach past it)."""
    from textual.app import App
    from textual.screen import ModalScreen, Screen

    from pfterm.tui.app import PftermApp

    out: list[Bound] = []
    if place.focus_class is not None:
        out += [Bound(k, b, place.focus or place.screen) for k, b in _class_bindings(place.focus_class)]
    if place.own_keys and place.screen_class is not None:
        own = BindingsMap(place.screen_class.__dict__.get("BINDINGS", ())).key_to_bindings.items()
        out += [Bound(k, b, place.screen) for k, bs in own for b in bs]
    else:
        screen = place.screen_class or Screen
        out += [Bound(k, b, place.screen if b.id else "every screen") for k, b in _class_bindings(screen)]
    modal = place.screen_class is not None and issubclass(place.screen_class, ModalScreen)
    palette = Binding(App.COMMAND_PALETTE_BINDING, "command_palette", "command palette", priority=True)
    for key, b in [*_class_bindings(PftermApp), (palette.key, palette)]:
        if b.priority or not modal:
            out.append(Bound(key, b, "anywhere" if b.priority else "main screen"))
    return out


@dataclass
class BindingInfo:
    """One binding id of the console: its default keys, what it does and where it acts."""

    id: str
    keys: list[str] = field(default_factory=list)
    description: str = ""
    where: list[str] = field(default_factory=list)


def console_bindings() -> dict[str, BindingInfo]:
    """Every binding id of the console → its default keys, description and places, the app's
    first, then in the order of :func:`places`."""
    out: dict[str, BindingInfo] = {}
    for place in places():
        for bound in sorted(active_keys(place), key=lambda x: x.where not in ("anywhere", "main screen")):
            b = bound.binding
            if b.id is None:
                continue
            info = out.setdefault(b.id, BindingInfo(b.id, description=_DESCRIPTIONS.get(b.id, b.description)))
            if bound.key not in info.keys:
                info.keys.append(bound.key)
            where = "anywhere, even in dialogs" if b.id == KILL_ID else bound.where
            if where not in info.where:
                info.where.append(where)
    return out


# ---------------------------------------------------------------------------- remapped keys

_ARRIVES_AS = {
    "ctrl+i": "tab",
    "ctrl+m": "enter",
    "ctrl+h": "backspace",
    "ctrl+left_square_bracket": "escape",
    "ctrl+space": "ctrl+@",
    "ctrl+at": "ctrl+@",
}
"""Keys a terminal sends as another key (the same control character)."""

_WHILE_TYPING = {
    KILL_ID: "the filter or the order ticket",
    "ticket.send": "the order ticket",
    "ticket.cancel": "the order ticket",
    "ticket.next_field": "the order ticket",
    "ticket.previous_field": "the order ticket",
    "ticket.delete": "the order ticket",
    "ticket.clear": "the order ticket",
}
"""Bindings that act while text is typed, so that their keys must not type a character."""


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


def _character(key: str) -> str | None:
    """The character ``key`` types (``k``, ``K``, ``question_mark`` → ``?``), or ``None``."""
    from textual.keys import REPLACED_KEYS, key_to_character

    ch = key_to_character(REPLACED_KEYS.get(key, key))  # slash → solidus → "/"
    return ch if ch is not None and ch.isprintable() else None


def _is_character(key: str) -> bool:
    """A key that types a character: a text field takes it."""
    return _character(key) is not None


def remap_problem(remaps: Mapping[str, str], names: Mapping[str, str] | None = None) -> str | None:
    """One line saying what is wrong with the remapped keys, or ``None`` when all are usable.

    Args:
        remaps: binding id → its new keys, comma-separated, each spelt as
            :func:`pfterm.core.runtime.config.normalize_key` returns it (``"ctrl+k,f12"``).
        names: binding id → the setting that remapped it, for the message (default
            ``[keys] <id>``; ``ui.kill_key`` for the kill key set there).

    A remapped binding must exist (:func:`console_bindings`); each of its keys must be one a
    terminal can send (``ctrl+k``, ``f12``, ``x``; not ``ctrl+i``, which arrives as Tab); a
    binding that acts while text is typed (the kill key everywhere, the order ticket's send,
    cancel, field and editing keys) must not take a key that types a character; and no other
    binding may act on the same key where this one acts (:func:`places`; the kill key acts
    everywhere, so it must be free everywhere).
    """
    names = names or {}

    def label(binding_id: str) -> str:
        return names.get(binding_id, f"[keys] {binding_id}")

    known = console_bindings()
    typable = typable_keys()
    placed = [active_keys(place) for place in places()]

    def keys_now(b: Binding) -> list[str]:
        return remaps[b.id].split(",") if b.id is not None and b.id in remaps else [b.key]

    for binding_id, value in remaps.items():
        setting = label(binding_id)
        if binding_id not in known:
            return f"{setting}: no key binding has this id ('pfterm keys' lists them)"
        keys = value.split(",")
        for key in keys:
            if binding_id in _WHILE_TYPING and _is_character(key):
                return (
                    f"{setting} = {key!r} types a character: it would act while typing in "
                    f"{_WHILE_TYPING[binding_id]}; use a modifier or a function key, e.g. ctrl+k or f12"
                )
            if key in _ARRIVES_AS:
                return f"{setting} = {key!r} cannot be told apart: terminals send it as {_ARRIVES_AS[key]}"
            if not _is_character(key) and key not in typable:
                return f"{setting} = {key!r} is not a key a terminal sends; use e.g. ctrl+k, ctrl+x or f12"
        for bound in placed:
            if not any(x.binding.id == binding_id for x in bound):
                continue
            for key in keys:
                for other in bound:
                    b = other.binding
                    if b.id == binding_id or key not in keys_now(b):
                        continue
                    if b.id is not None and b.id in remaps:
                        return f"{setting} = {key!r} is also {label(b.id)}"
                    what = b.description or b.action
                    return f"{setting} = {key!r} is already {what} ({other.where}); choose another key"
    return None


def _configured(settings: Settings) -> tuple[dict[str, str], dict[str, str], str | None]:
    """The remaps the settings ask for (binding id → keys), the setting each comes from, and
    the disagreement between ``ui.kill_key`` and ``[keys] app.kill``, if any."""
    remaps = dict(settings.keys)
    names = {binding_id: f"[keys] {binding_id}" for binding_id in remaps}
    kill_key = settings.ui.kill_key
    conflict = None
    if "kill_key" in settings.ui.model_fields_set or kill_key != DEFAULT_KILL_KEY:
        if KILL_ID not in remaps:
            remaps[KILL_ID], names[KILL_ID] = kill_key, "ui.kill_key"
        elif remaps[KILL_ID] != kill_key:
            conflict = (
                f"ui.kill_key = {kill_key!r} and [keys] {KILL_ID} = {remaps[KILL_ID]!r} disagree: "
                f"set the kill key in one place ([keys] is the general form)"
            )
    return remaps, names, conflict


def console_keymap(settings: Settings) -> dict[str, str]:
    """The keymap the console hands to Textual (:meth:`textual.app.App.set_keymap`): binding id →
    keys (``"ctrl+k,f12"``) from ``[keys]`` and ``ui.kill_key``, only those that differ from the
    defaults (:func:`full_keymap` adds the others, for the footers' order).

    Raises:
        ConfigError: ``ui.kill_key`` and ``[keys] app.kill`` disagree, or a remap is unusable
            (:func:`remap_problem`); one line.
    """
    remaps, names, conflict = _configured(settings)
    if conflict is not None:
        raise ConfigError(conflict)
    problem = remap_problem(remaps, names)
    if problem is not None:
        raise ConfigError(problem)
    known = console_bindings()
    return {i: keys for i, keys in remaps.items() if keys.split(",") != known[i].keys}


def full_keymap(remaps: Mapping[str, str]) -> dict[str, str]:
    """``remaps`` with every other binding id at its default keys, in the order of
    :func:`console_bindings`; ``{}`` without remaps.

    Textual takes every binding of a keymap out of its place and puts it back after the
    others, in the order the bindings were declared; with every id in the keymap, each screen's
    and widget's bindings keep their order, and the footers theirs (the kill key first).
    """
    if not remaps:
        return {}
    return {**{i: ",".join(info.keys) for i, info in console_bindings().items()}, **remaps}


def key_table(settings: Settings) -> tuple[str, str | None]:
    """``pfterm keys``: every binding id with its default keys (``→`` the configured ones when
    ``settings`` remap it), where it acts and what it does, as aligned text; and the one-line
    problem with the configured remaps, or ``None``."""
    remaps, _names, _conflict = _configured(settings)
    try:
        console_keymap(settings)
        problem = None
    except ConfigError as exc:
        problem = str(exc)
    rows = [("id", "keys", "where", "action")]
    for info in console_bindings().values():
        keys = ",".join(info.keys)
        if info.id in remaps and remaps[info.id].split(",") != info.keys:
            keys += f" → {remaps[info.id]}"
        rows.append((info.id, keys, ", ".join(info.where), info.description))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}".rstrip() for a, b, c, d in rows]
    lines += ["", 'Remap in the config file: [keys] "app.kill" = "f12" (several keys: "ctrl+k,f12").']
    return "\n".join(lines) + "\n", problem
