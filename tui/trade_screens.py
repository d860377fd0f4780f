"""Trading modals: hedge preview, rebalance preview, the order ticket and the quit question.

Each shows what would be sent (or what quitting leaves behind) and returns the user's
decision; none sends anything. The console builds the previews (:mod:`pfterm.core.trading.hedging`) and
quotes (``quote`` callable) and acts on the result. Everything works with the keyboard only:
Enter sends, Escape cancels.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import events
from textual.actions import parse as parse_action
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static

from pfterm.core.market.models import OrderIntent
from pfterm.core.trading.hedging import HedgePreview
from pfterm.core.trading.portfolio import RebalanceView, TicketQuote, TicketRequest
from pfterm.core.trading.ticket import band_warning
from pfterm.tui.bindings import hint_keys, keys_of
from pfterm.widgets.numbers import fmt_money, fmt_price, fmt_size
from pfterm.widgets.trading import Choice

__all__ = [
    "HarvesterRestartScreen",
    "HedgeScreen",
    "OrderTicketScreen",
    "QuitScreen",
    "RebalanceScreen",
    "describe_intent",
    "parse_limit",
    "parse_size",
]

BUY_STYLE = "#4ec98b"
SELL_STYLE = "#f0625c"
REFUSAL_STYLE = "bold #f0625c"


def _side_text(is_buy: bool) -> Text:
    t = Text()
    t.append("BUY" if is_buy else "SELL", style=f"bold {BUY_STYLE if is_buy else SELL_STYLE}")
    return t


def describe_intent(intent: OrderIntent) -> Text:
    """``BUY 0.0153 BTC @ 65,432 IOC reduce-only`` with the side coloured."""
    t = _side_text(intent.is_buy)
    t.append(f" {fmt_size(intent.size)} {intent.symbol} @ {fmt_price(intent.limit_px)} {intent.tif.upper()}")
    if intent.reduce_only:
        t.append(" reduce-only", style="#ffd166")
    return t


def _footer(screen: ModalScreen, prefix: str, sendable: bool) -> Static:
    """The preview's key hint, with the keys of its ``<prefix>.send`` / ``<prefix>.cancel``
    bindings as remapped (``Enter send · Esc cancel``)."""
    send = hint_keys(keys_of(screen, f"{prefix}.send"))
    cancel = hint_keys(keys_of(screen, f"{prefix}.cancel"))
    text = f"{send} send · {cancel} cancel" if sendable else f"{send} / {cancel} close"
    return Static(Text(text, style="dim"), classes="trade-footer")


class HedgeScreen(ModalScreen[bool]):
    """Preview of one hedge order: asset, delta before (USD), the order (side, size at the
    expected price, IOC limit price, reduce-only), estimated fee (USD) and delta after.

    Dismisses ``True`` on Enter when the hedge can be sent, ``False`` on Escape, and ``False``
    on Enter when there is nothing to send (no preview, or a refusal).
    """

    CSS_PATH = "trade.tcss"
    BINDINGS = [
        Binding("enter", "confirm", "Send", priority=True, id="hedge.send"),
        Binding("escape", "cancel", "Cancel", priority=True, id="hedge.cancel"),
    ]

    def __init__(
        self,
        symbol: str,
        preview: HedgePreview | None,
        refusal: str | None = None,
        note: str | None = None,
    ) -> None:
        """``symbol``: the asset; ``preview``: the planned hedge or ``None`` when there is
        none; ``refusal``: one line why it cannot be sent; ``note``: one extra line."""
        super().__init__()
        self.symbol = symbol
        self.preview = preview
        self.refusal = refusal
        self.note = note

    @property
    def sendable(self) -> bool:
        """Whether Enter sends: a preview and no refusal."""
        return self.preview is not None and self.refusal is None

    def compose(self) -> ComposeResult:
        """The preview box."""
        with Vertical(classes="trade-box", id="hedge-box"):
            yield Static(Text(f"Hedge {self.symbol}", style="bold"), classes="trade-title")
            yield Static(self._body(), id="hedge-body")
            yield _footer(self, "hedge", self.sendable)

    def _body(self) -> RenderableType:
        parts: list[RenderableType] = []
        p = self.preview
        if p is not None:
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="dim", no_wrap=True)
            grid.add_column()
            grid.add_row("delta before", Text(fmt_money(p.delta_before_usd, signed=True), style="bold"))
            order = _side_text(p.intent.is_buy)
            order.append(f" {fmt_size(p.size)} {p.intent.symbol} @ ~{fmt_price(p.est_px)}")
            grid.add_row("order", order)
            limit = Text(f"IOC limit {fmt_price(p.intent.limit_px)}")
            if p.intent.reduce_only:
                limit.append("  reduce-only", style="#ffd166")
            grid.add_row("", limit)
            grid.add_row("notional", fmt_money(p.size * p.est_px))
            grid.add_row("est. fee", fmt_money(p.est_fee_usd))
            grid.add_row("delta after", Text(fmt_money(p.delta_after_usd, signed=True), style="bold"))
            parts.append(grid)
        if self.refusal is not None:
            parts.append(Text(f"cannot send: {self.refusal}", style=REFUSAL_STYLE))
        elif p is None:
            parts.append(Text(f"nothing to hedge on {self.symbol}", style="bold #ffd166"))
        if self.note:
            parts.append(Text(self.note, style="dim"))
        return Group(*parts)

    def action_confirm(self) -> None:
        """Send when sendable; otherwise just close."""
        self.dismiss(self.sendable)

    def action_cancel(self) -> None:
        """Close without sending."""
        self.dismiss(False)


class RebalanceScreen(ModalScreen[bool]):
    """Preview of a rebalance: one line per hedge (asset, side, size, expected price, IOC limit,
    fee, delta before → after, USD), the assets left alone with the reason, and totals (orders,
    notional, fees).

    Dismisses ``True`` on Enter when there is at least one hedge and no refusal; ``False`` on
    Escape, and on Enter otherwise.
    """

    CSS_PATH = "trade.tcss"
    BINDINGS = [
        Binding("enter", "confirm", "Send", priority=True, id="rebalance.send"),
        Binding("escape", "cancel", "Cancel", priority=True, id="rebalance.cancel"),
    ]

    EMPTY = "book is within the rebalance threshold; nothing to send"

    def __init__(self, view: RebalanceView, refusal: str | None = None) -> None:
        """``view``: the proposal; ``refusal``: one line why it cannot be sent."""
        super().__init__()
        self.view = view
        self.refusal = refusal

    @property
    def sendable(self) -> bool:
        """Whether Enter sends: at least one hedge and no refusal."""
        return bool(self.view.hedges) and self.refusal is None

    def compose(self) -> ComposeResult:
        """The preview box, scrollable for long plans."""
        with Vertical(classes="trade-box", id="rebalance-box"):
            yield Static(Text("Rebalance", style="bold"), classes="trade-title")
            with VerticalScroll(id="rebalance-body"):
                yield Static(self._body())
            yield _footer(self, "rebalance", self.sendable)

    def _body(self) -> RenderableType:
        v = self.view
        parts: list[RenderableType] = []
        if v.hedges:
            table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold dim")
            table.add_column("asset", style="bold", no_wrap=True)
            table.add_column("side", no_wrap=True)
            table.add_column("size", justify="right", no_wrap=True)
            table.add_column("est px", justify="right", no_wrap=True)
            table.add_column("IOC limit", justify="right", no_wrap=True)
            table.add_column("fee", justify="right", no_wrap=True)
            table.add_column("Δ before → after", justify="right", no_wrap=True)
            for h in v.hedges:
                size = fmt_size(h.size) + (" RO" if h.intent.reduce_only else "")
                table.add_row(
                    h.intent.symbol,
                    _side_text(h.intent.is_buy),
                    size,
                    fmt_price(h.est_px),
                    fmt_price(h.intent.limit_px),
                    fmt_money(h.est_fee_usd),
                    f"{fmt_money(h.delta_before_usd, 0, signed=True)} → {fmt_money(h.delta_after_usd, 0, signed=True)}",
                )
            parts.append(table)
            notional = sum(h.size * h.est_px for h in v.hedges)
            fees = sum(h.est_fee_usd for h in v.hedges)
            n = len(v.hedges)
            parts.append(
                Text(
                    f"{n} order{'s' if n != 1 else ''} · notional {fmt_money(notional)} · est. fees {fmt_money(fees)}",
                    style="bold",
                )
            )
        else:
            parts.append(Text(self.EMPTY, style="bold #ffd166"))
        if v.skipped:
            parts.append(Text("left alone:", style="dim"))
            for reason in v.skipped:
                parts.append(Text(f"  · {reason}", style="#ffd166"))
        if self.refusal is not None:
            parts.append(Text(f"cannot send: {self.refusal}", style=REFUSAL_STYLE))
        return Group(*parts)

    def action_confirm(self) -> None:
        """Send when sendable; otherwise just close."""
        self.dismiss(self.sendable)

    def action_cancel(self) -> None:
        """Close without sending."""
        self.dismiss(False)


def _number(text: str) -> float:
    """A positive finite number, thousands separators allowed; raises ``ValueError`` otherwise."""
    cleaned = text.replace(",", "").replace("_", "").strip()
    value = float(cleaned)
    if not (value > 0 and value != float("inf")):
        raise ValueError("must be a positive number")
    return value


def parse_size(text: str) -> tuple[float, bool]:
    """The ticket's size field: ``"0.5"`` is 0.5 base units, ``"$1000"`` or ``"1000$"`` (also
    ``"1,000 $"``) is USD 1000 notional. Returns ``(size, size_in_usd)``.

    Raises:
        ValueError: empty, not a number, not positive or not finite (one-line message).
    """
    s = text.strip()
    if not s:
        raise ValueError("enter a size: base units, or $ amount for USD")
    usd = s.startswith("$") or s.endswith("$")
    body = s.strip("$").strip() if usd else s
    try:
        return _number(body), usd
    except ValueError:
        raise ValueError(f"size {s!r} is not a positive number (e.g. 0.5 or $1000)") from None


def parse_limit(text: str) -> float | None:
    """The ticket's limit price field: empty is ``None`` (at market), else a positive USD price.

    Raises:
        ValueError: not a number, not positive or not finite (one-line message).
    """
    s = text.strip().lstrip("$")
    if not s:
        return None
    try:
        return _number(s)
    except ValueError:
        raise ValueError(f"limit price {text.strip()!r} is not a positive number") from None


TIF_OPTIONS = (
    ("Gtc", "GTC", ""),
    ("Alo", "ALO post-only", ""),
    ("Ioc", "IOC", ""),
)

TYPE_OPTIONS = (
    ("limit", "Limit", ""),
    ("market", "Market", ""),
)

TICKET_FIELDS = ("side", "type", "size", "limit", "tif", "reduce")
"""The ticket's fields in Tab order."""

_TEXT_FIELDS = ("size", "limit")
_ANY_FIELD = ("ticket.send", "ticket.cancel", "ticket.next_field", "ticket.previous_field")
"""Ticket bindings that act whatever the active field, a text field included."""
_EDITING = ("ticket.delete", "ticket.clear")
"""Ticket bindings that edit a text field."""
_LIMIT_ONLY = ("limit", "tif")
WARN_STYLE = "bold #ffd166"


class OrderTicketScreen(ModalScreen[OrderIntent | None]):
    """An order ticket for one market, keyboard only.

    Fields, in Tab order (Tab / ↓ next, shift+Tab / ↑ previous; the ticket opens on the size):

    * side: buy / sell (←/→/space on the field, or ``b`` / ``s`` on any field but a text one);
    * type: limit / market, explicit (←/→/space, or ``l`` / ``m``): a limit without a price is
      an error, never a market order; a market order is an IOC at mark ± the order slippage;
    * size: base units, or ``$1000`` / ``1000$`` for USD notional at the order's price;
    * limit px: USD (limit orders only);
    * tif: GTC, ALO post-only, IOC (limit orders only);
    * reduce-only (space).

    Text fields take typed characters at the end, Backspace deletes the last one, ctrl+u clears.
    Every key of the ticket is a binding with an id (``ticket.send``, ``ticket.buy``…) that the
    config's ``[keys]`` table remaps; the hint line shows the keys as remapped.
    Every key asks ``quote`` for the exact order and shows it: side, size, type, price, time in
    force, notional, fee and its kind, distance from the mark; or the refusal in red; an
    unparseable field shows its own error and ``quote`` is not called. Enter dismisses with the
    quoted :class:`~pfterm.core.market.models.OrderIntent` when it is sendable; a limit beyond the fat-finger
    band from the mark needs a second Enter on the unchanged order. Escape dismisses ``None``.

    Keys are never lost nor reordered, however fast they come: no widget of the ticket takes
    focus, so every key goes to the screen's own message queue in the order it was typed, and
    the screen applies it to its fields, one after the other. Keys typed before the ticket is
    mounted wait in that queue and are applied, in order, once it is. (Focusable inputs would
    race: Tab moves focus only after the key has bubbled back up, while the keys behind it are
    already on their way to the old field; a priority Enter would submit before the input had
    seen the digits queued ahead of it.) Keys still queued when the ticket closes are dropped.
    """

    CSS_PATH = "trade.tcss"
    AUTO_FOCUS = ""  # nothing focusable: keys reach the screen itself, in order
    # The ticket's keys, remappable by id. The screen applies them itself, in order (see
    # take_key): a key it takes never reaches Textual's own dispatch of bindings.
    BINDINGS = [
        Binding("enter", "submit", "Send", show=False, id="ticket.send"),
        Binding("escape", "cancel", "Cancel", show=False, id="ticket.cancel"),
        Binding("tab,down", "move(1)", "Next field", show=False, id="ticket.next_field"),
        Binding("shift+tab,up", "move(-1)", "Previous field", show=False, id="ticket.previous_field"),
        Binding("left", "step_option(-1)", "Previous option", show=False, id="ticket.previous_option"),
        Binding("right", "step_option(1)", "Next option", show=False, id="ticket.next_option"),
        Binding("space", "toggle_field", "Next option; reduce-only on / off", show=False, id="ticket.toggle"),
        Binding("b", "side('buy')", "Buy", show=False, id="ticket.buy"),
        Binding("s", "side('sell')", "Sell", show=False, id="ticket.sell"),
        Binding("l", "order_type('limit')", "Limit order", show=False, id="ticket.limit"),
        Binding("m", "order_type('market')", "Market order", show=False, id="ticket.market"),
        Binding("backspace", "delete_char", "Delete the last character", show=False, id="ticket.delete"),
        Binding("ctrl+u", "clear_field", "Clear the field", show=False, id="ticket.clear"),
    ]

    def __init__(
        self,
        symbol: str,
        mark_px: float | None,
        quote: Callable[[TicketRequest], TicketQuote],
        default_is_buy: bool = True,
        *,
        order_type: str = "limit",
        fat_finger_band: float | None = None,
    ) -> None:
        """``symbol``: the market; ``mark_px``: its mark, USD, for display; ``quote``: turns a
        request into the venue-rounded order or a refusal (called on every change);
        ``order_type``: the type selected at first, ``"limit"`` or ``"market"``;
        ``fat_finger_band``: the risk limits' band (fraction), used only with a ``quote`` that
        does not report :attr:`~pfterm.core.trading.portfolio.TicketQuote.confirm` itself."""
        super().__init__()
        self.symbol = symbol
        self.mark_px = mark_px
        self._quote_fn = quote
        self._default_is_buy = default_is_buy
        self._default_type = order_type
        self.fat_finger_band = fat_finger_band
        self.active = "size"
        """The field keys go to."""
        self.request: TicketRequest | None = None
        """The last request sent to ``quote``, ``None`` while a field is invalid."""
        self.quote: TicketQuote | None = None
        """The last quote, ``None`` while a field is invalid or empty."""
        self.error: str | None = None
        """The current input error or quote failure, one line."""
        self.armed: TicketRequest | None = None
        """The request a first Enter was pressed on when it needed a confirmation."""
        self.closed = False
        """Set on Enter-send or Escape: later keys are not applied."""
        self._bound: dict[str, Binding] | None = None

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        """Title, the six fields, the order line(s) and the key hints."""
        with Vertical(classes="trade-box", id="ticket-box"):
            title = Text(f"Order ticket — {self.symbol}", style="bold")
            title.append(f"   mark {fmt_price(self.mark_px)}", style="dim")
            yield Static(title, classes="trade-title")
            side = Choice(
                (("buy", "Buy", BUY_STYLE), ("sell", "Sell", SELL_STYLE)),
                "buy" if self._default_is_buy else "sell",
                id="ticket-side",
            )
            kind = Choice(TYPE_OPTIONS, self._default_type, id="ticket-type")
            size = Input(placeholder="0.5 base, or $1000", id="ticket-size", select_on_focus=False)
            limit = Input(placeholder="limit price, USD (required)", id="ticket-limit", select_on_focus=False)
            tif = Choice(TIF_OPTIONS, "Gtc", id="ticket-tif")
            reduce = Checkbox("reduce-only", id="ticket-reduce")
            for widget in (side, kind, size, limit, tif, reduce):
                widget.can_focus = False  # see the class docstring: the screen takes every key
            rows = (
                ("side", "side", side, ""),
                ("type", "type", kind, ""),
                ("size", "size", size, " -tall"),
                ("limit", "limit px", limit, " -tall"),
                ("tif", "tif", tif, ""),
                ("reduce", "", reduce, " -tall"),
            )
            for name, label, widget, tall in rows:
                with Horizontal(classes="ticket-row", id=f"row-{name}"):
                    yield Label(label, classes=f"ticket-label{tall}")
                    yield widget
            yield Static(id="ticket-quote")
            yield Static(Text(self.key_hint(), style="dim"), classes="trade-footer")

    def on_mount(self) -> None:  # noqa: D102 - Textual hook
        self._show_fields()
        self.refresh_quote()

    def _field(self, name: str):
        return self.query_one(f"#ticket-{name}")

    def _input(self, name: str) -> Input:
        return self.query_one(f"#ticket-{name}", Input)

    def _choice(self, name: str) -> Choice:
        return self.query_one(f"#ticket-{name}", Choice)

    @property
    def order_type(self) -> str:
        """``"limit"`` or ``"market"``, as selected."""
        return self._choice("type").value

    def fields(self) -> tuple[str, ...]:
        """The fields that apply, in Tab order: a market order has no limit price and no TIF."""
        market = self.order_type == "market"
        return tuple(f for f in TICKET_FIELDS if not (market and f in _LIMIT_ONLY))

    def _show_fields(self) -> None:
        """Mark the active row; a market order shows no limit price and no time in force (a
        price typed before switching to market is kept for switching back)."""
        market = self.order_type == "market"
        if self.active not in self.fields():
            self.active = "type"
        for name in TICKET_FIELDS:
            self.query_one(f"#row-{name}").set_class(name == self.active, "-active")
            self._field(name).set_class(name == self.active, "-active")
        for name in _LIMIT_ONLY:
            self.query_one(f"#row-{name}").display = not market

    # ------------------------------------------------------------------ keys
    def bound_keys(self) -> dict[str, Binding]:
        """Key → the ticket's binding it triggers, remaps applied (the app's keymap, through
        Textual's :attr:`~textual.screen.Screen.active_bindings`)."""
        if self._bound is None:
            own = {b.id for b in self.BINDINGS if isinstance(b, Binding)}
            self._bound = {k: a.binding for k, a in self.active_bindings.items() if a.binding.id in own}
        return self._bound

    def _keys_for(self, *binding_ids: str) -> list[str]:
        return [k for binding_id in binding_ids for k, b in self.bound_keys().items() if b.id == binding_id]

    def key_hint(self) -> str:
        """The hint line: ``Enter send · Esc cancel · Tab/↑↓ field · ←→ option · b/s side · l/m type``
        with the keys as remapped."""
        parts = [
            (("ticket.send",), "send"),
            (("ticket.cancel",), "cancel"),
            (("ticket.next_field", "ticket.previous_field"), "field"),
            (("ticket.previous_option", "ticket.next_option"), "option"),
            (("ticket.buy", "ticket.sell"), "side"),
            (("ticket.limit", "ticket.market"), "type"),
        ]
        return " · ".join(f"{hint_keys(self._keys_for(*ids))} {what}" for ids, what in parts)

    async def on_key(self, event: events.Key) -> None:
        """Every key of the ticket arrives here, in the order typed (nothing takes focus)."""
        event.stop()
        event.prevent_default()
        self.take_key(event.key, event.character)

    def on_paste(self, event: events.Paste) -> None:
        """Pasted text goes into the active text field (its first line)."""
        event.stop()
        if self.closed or self.active not in _TEXT_FIELDS or not event.text:
            return
        self._type(event.text.splitlines()[0] if event.text.splitlines() else "")
        self.refresh_quote()

    def on_click(self, event: events.Click) -> None:
        """A click on a field makes it the active one."""
        node: DOMNode | None = event.widget
        while node is not None and node is not self:
            if node.id and node.id.startswith("row-") and node.id[4:] in self.fields():
                self.active = node.id[4:]
                self._show_fields()
                return
            node = node.parent

    def take_key(self, key: str, character: str | None = None) -> None:
        """Apply one key (a Textual key name, and the character it types if any) to the ticket.

        Send, cancel and the field moves act on any field; on a text field the editing keys
        act and any other key that types a character types it; on the other fields the side,
        type and option keys act (:attr:`BINDINGS`, as remapped)."""
        if self.closed:
            return
        binding = self.bound_keys().get(key)
        if binding is None or binding.id not in _ANY_FIELD:
            if self.active in _TEXT_FIELDS and (binding is None or binding.id not in _EDITING):
                if character is not None and len(character) == 1 and character.isprintable():
                    self._type(character)
                    self.refresh_quote()
                return
            if binding is None:
                return
        _target, name, params = parse_action(binding.action)
        getattr(self, f"action_{name}")(*params)

    def action_move(self, step: int) -> None:
        """Make the next (``1``) or previous (``-1``) field that applies the active one."""
        self._move(step)

    def action_order_type(self, order_type: str) -> None:
        """Select ``"limit"`` or ``"market"``."""
        self._set_type(order_type)
        self.refresh_quote()

    def action_step_option(self, step: int) -> None:
        """On the side, type or tif field: the next (``1``) or previous (``-1``) option."""
        if self.active not in ("side", "type", "tif"):
            return
        if self.active == "type":
            self._set_type("market" if self.order_type == "limit" else "limit")
        else:
            self._choice(self.active).action_step(step)
        self.refresh_quote()

    def action_toggle_field(self) -> None:
        """Reduce-only on / off on its field; the next option on an option field."""
        if self.active != "reduce":
            self.action_step_option(1)
            return
        box = self.query_one("#ticket-reduce", Checkbox)
        box.value = not box.value
        self.refresh_quote()

    def action_delete_char(self) -> None:
        """Delete the active text field's last character."""
        if self.active in _TEXT_FIELDS:
            self._input(self.active).value = self._input(self.active).value[:-1]
            self.refresh_quote()

    def action_clear_field(self) -> None:
        """Empty the active text field."""
        if self.active in _TEXT_FIELDS:
            self._input(self.active).value = ""
            self.refresh_quote()

    def _type(self, text: str) -> None:
        field = self._input(self.active)
        field.value += text
        field.cursor_position = len(field.value)

    def _set_type(self, order_type: str) -> None:
        self._choice("type").value = order_type
        self._show_fields()

    def _move(self, step: int) -> None:
        fields = self.fields()
        i = fields.index(self.active) if self.active in fields else 0
        self.active = fields[(i + step) % len(fields)]
        self._show_fields()

    def _close(self, intent: OrderIntent | None) -> None:
        self.closed = True
        self.dismiss(intent)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:  # noqa: D102 - Textual hook (a click)
        event.stop()
        if not self.closed:
            self.refresh_quote()

    # ------------------------------------------------------------------ quoting
    def build_request(self) -> TicketRequest:
        """The request the fields describe; a market order is IOC without a price.

        Raises:
            ValueError: a field does not parse, or a limit order has no price (one-line message).
        """
        size, in_usd = parse_size(self._input("size").value)
        order_type = self.order_type
        if order_type == "limit":
            limit_px = parse_limit(self._input("limit").value)
            if limit_px is None:
                raise ValueError("a limit order needs a limit price (or choose type market: m)")
            tif = self._choice("tif").value
        else:
            limit_px, tif = None, "Ioc"
        return TicketRequest(
            symbol=self.symbol,
            is_buy=self._choice("side").value == "buy",
            size=size,
            size_in_usd=in_usd,
            limit_px=limit_px,
            tif=tif,
            reduce_only=self.query_one("#ticket-reduce", Checkbox).value,
            order_type=order_type,
        )

    def refresh_quote(self) -> None:
        """Parse the fields, ask ``quote`` and show the order, or the error."""
        self.quote = None
        self.request = None
        self.error = None
        line = self.query_one("#ticket-quote", Static)
        try:
            request = self.build_request()
        except ValueError as exc:
            self.error = str(exc)
            empty = not self._input("size").value.strip()
            line.update(Text(self.error, style="dim" if empty else REFUSAL_STYLE))
            return
        self.request = request
        try:
            quote = self._quote_fn(request)
        except Exception as exc:  # the quote is the console's; a bug there must not kill the ticket
            self.error = f"quote failed: {exc}"
            line.update(Text(self.error, style=REFUSAL_STYLE))
            return
        self.quote = quote
        line.update(self._quote_text(quote))

    @property
    def confirm(self) -> str | None:
        """Why the quoted order needs a second Enter (a limit beyond the fat-finger band), or ``None``."""
        q = self.quote
        if q is None or q.intent is None:
            return None
        if q.order_type:
            return q.confirm
        # a quoter that does not report it: judge the band here, from the ticket's mark
        if self.fat_finger_band is None or self.request is None or self.request.order_type != "limit":
            return None
        return band_warning(q.intent.is_buy, q.intent.limit_px, self.mark_px, self.fat_finger_band)

    def _quote_text(self, q: TicketQuote) -> Text:
        if q.intent is None:
            return Text(q.refusal or "the order cannot be built", style=REFUSAL_STYLE)
        it = q.intent
        market = (q.order_type or (self.request.order_type if self.request else "")) == "market"
        mark = q.mark_px if q.mark_px is not None else self.mark_px
        t = _side_text(it.is_buy)
        t.append(f" {fmt_size(it.size)} {it.symbol}  ", style="bold")
        if market:
            est = q.est_px if q.est_px is not None else mark
            t.append("MARKET", style="bold")
            t.append(f" ~{fmt_price(est)}  (IOC limit {fmt_price(it.limit_px)})")
        else:
            t.append("LIMIT", style="bold")
            t.append(f" {fmt_price(it.limit_px)}  {it.tif.upper()}")
        if it.reduce_only:
            t.append("  reduce-only", style="#ffd166")
        fee = f"est. fee {fmt_money(q.est_fee_usd)}"
        if q.order_type:
            fee += f" ({'taker' if q.taker else 'maker'} {q.fee_rate * 100:.3f}%)"
        details = [f"notional {fmt_money(q.notional_usd)}", fee]
        distance = q.distance if q.order_type else ((it.limit_px - mark) / mark if mark and not market else None)
        if distance is not None and not market:
            details.append(f"mark {distance * 100:+.2f}%")
        t.append("\n" + " · ".join(details), style="dim")
        if q.refusal is not None:
            t.append(f"\n{q.refusal}", style=REFUSAL_STYLE)
        elif (reason := self.confirm) is not None:
            if self.armed == self.request:
                t.append(f"\n{reason}: press Enter again to send it", style=f"reverse {WARN_STYLE}")
            else:
                t.append(f"\n{reason}: Enter, then Enter again, sends it", style=WARN_STYLE)
        return t

    @property
    def sendable(self) -> bool:
        """Whether Enter sends (possibly after a confirmation): a quoted intent without refusal."""
        return self.quote is not None and self.quote.intent is not None and self.quote.refusal is None

    # ------------------------------------------------------------------ actions
    def action_side(self, side: str) -> None:
        """Set the side to ``"buy"`` or ``"sell"``."""
        self._choice("side").value = side
        self.refresh_quote()

    def action_submit(self) -> None:
        """Send the quoted order when it is sendable; a limit beyond the band needs a second
        Enter on the same order; otherwise stay open (and ring)."""
        if self.closed:
            return
        if not self.sendable:
            self.app.bell()
            return
        assert self.quote is not None
        if self.confirm is not None and self.armed != self.request:
            self.armed = self.request
            self.query_one("#ticket-quote", Static).update(self._quote_text(self.quote))
            return
        self._close(self.quote.intent)

    def action_cancel(self) -> None:
        """Close without an order."""
        self._close(None)


class QuitScreen(ModalScreen[bool]):
    """Asks before quitting while positions or orders are open: ``y`` / Enter quit, ``n`` /
    Escape stay. On the embedded simulator it says that the simulator's account, with its
    positions and orders, goes away on exit; on a venue, that they stay open there.

    Dismisses ``True`` to quit, ``False`` to stay.
    """

    CSS_PATH = "trade.tcss"
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Quit", id="quit.yes"),
        Binding("n,escape", "answer(False)", "Stay", id="quit.no"),
    ]

    def __init__(self, positions: int, orders: int, venue: str, embedded: bool) -> None:
        """``positions`` / ``orders``: how many are open; ``venue``: where (for the text);
        ``embedded``: the console runs its own simulator, which stops with it."""
        super().__init__()
        self.positions = positions
        self.orders = orders
        self.venue = venue
        self.embedded = embedded

    def compose(self) -> ComposeResult:
        """The question, what quitting does to the open book, and the keys."""
        with Vertical(classes="trade-box", id="quit-box"):
            yield Static(Text("Quit pfterm?", style="bold"), classes="trade-title")
            yield Static(self.message(), id="quit-body")
            yes = " / ".join(hint_keys([k]) for k in keys_of(self, "quit.yes"))
            no = " / ".join(hint_keys([k]) for k in keys_of(self, "quit.no"))
            yield Static(Text(f"{yes} quit · {no} stay", style="dim"), classes="trade-footer")

    def message(self) -> Text:
        """What is open and what happens to it on exit."""
        parts = []
        if self.positions:
            parts.append(f"{self.positions} open position{'s' if self.positions != 1 else ''}")
        if self.orders:
            parts.append(f"{self.orders} open order{'s' if self.orders != 1 else ''}")
        t = Text(f"You have {' and '.join(parts)}.\n", style="bold")
        if self.embedded:
            t.append(
                "This is the embedded simulator: it stops when pfterm exits, and its account goes away "
                "with these positions and orders.",
                style=WARN_STYLE,
            )
        else:
            t.append(f"They stay open on {self.venue} after pfterm exits; nothing is cancelled or closed.")
        return t

    def action_answer(self, quit_: bool) -> None:
        """Close the question with the answer."""
        self.dismiss(quit_)


class HarvesterRestartScreen(ModalScreen[bool]):
    """Asks, once trading is ACTIVE again after a halt, whether to restart the funding harvester
    the halt stopped: ``y`` / Enter restart it, ``n`` / Escape leave it stopped (the harvester key
    starts it later). Its positions were left as they were either way (the kill closed them).

    Dismisses ``True`` to restart, ``False`` to leave it stopped.
    """

    DEFAULT_CSS = """
    HarvesterRestartScreen {
        align: center middle;
    }
    HarvesterRestartScreen #harvester-restart-box {
        width: 90%;
        max-width: 64;
        height: auto;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    HarvesterRestartScreen .trade-title {
        height: 1;
        margin-bottom: 1;
    }
    HarvesterRestartScreen .trade-footer {
        height: 1;
        margin-top: 1;
    }
    """
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Restart", id="harvester_restart.yes"),
        Binding("n,escape", "answer(False)", "Leave stopped", id="harvester_restart.no"),
    ]

    def __init__(self, profile: str, start_key: str = "H") -> None:
        """``profile``: the harvester's risk profile (for the text); ``start_key``: how the
        console writes the key that starts the harvester later."""
        super().__init__()
        self.profile = profile
        self.start_key = start_key

    def compose(self) -> ComposeResult:
        """The question, what each answer does, and the keys."""
        with Vertical(classes="trade-box", id="harvester-restart-box"):
            yield Static(Text("Restart the harvester?", style="bold"), classes="trade-title")
            yield Static(
                Text(
                    f"Trading is ACTIVE again. The halt stopped the funding harvester ({self.profile}); "
                    f"restarted, it scans and opens positions again. Left stopped, {self.start_key} starts it."
                ),
                id="harvester-restart-body",
            )
            yes = " / ".join(hint_keys([k]) for k in keys_of(self, "harvester_restart.yes"))
            no = " / ".join(hint_keys([k]) for k in keys_of(self, "harvester_restart.no"))
            yield Static(Text(f"{yes} restart · {no} leave stopped", style="dim"), classes="trade-footer")

    def action_answer(self, restart: bool) -> None:
        """Close the question with the answer."""
        self.dismiss(restart)
