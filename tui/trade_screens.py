"""Trading modals: hedge preview, rebalance preview and the order ticket.

Each shows what would be sent and returns the user's decision; none sends anything. The
console builds the previews (:mod:`core.actions`) and quotes (``quote`` callable) and acts on
the result. Everything works with the keyboard only: Enter sends, Escape cancels.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static

from core.actions import HedgePreview
from core.models import OrderIntent
from core.portfolio import RebalanceView, TicketQuote, TicketRequest
from widgets.numbers import fmt_money, fmt_price, fmt_size
from widgets.trading import Choice

__all__ = [
    "HedgeScreen",
    "OrderTicketScreen",
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


def _footer(sendable: bool) -> Static:
    text = "Enter send · Esc cancel" if sendable else "Enter / Esc close"
    return Static(Text(text, style="dim"), classes="trade-footer")


class HedgeScreen(ModalScreen[bool]):
    """Preview of one hedge order: asset, delta before (USD), the order (side, size at the
    expected price, IOC limit price, reduce-only), estimated fee (USD) and delta after.

    Dismisses ``True`` on Enter when the hedge can be sent, ``False`` on Escape, and ``False``
    on Enter when there is nothing to send (no preview, or a refusal).
    """

    CSS_PATH = "trade.tcss"
    BINDINGS = [
        Binding("enter", "confirm", "Send", priority=True),
        Binding("escape", "cancel", "Cancel", priority=True),
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
            yield _footer(self.sendable)

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
        Binding("enter", "confirm", "Send", priority=True),
        Binding("escape", "cancel", "Cancel", priority=True),
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
            yield _footer(self.sendable)

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


class OrderTicketScreen(ModalScreen[OrderIntent | None]):
    """An order ticket for one market, keyboard only.

    Fields (Tab / shift+Tab between them): side (``b`` / ``s`` when no input is focused, or
    left/right/space on the side field), size (base units, or ``$1000`` / ``1000$`` for USD
    notional), limit price (empty: at market, an IOC at mark ± slippage), time in force
    (left/right/space: GTC, ALO post-only, IOC; ignored at market), reduce-only (space).

    Every change asks ``quote`` for the rounded order and shows it, or its refusal in red;
    an unparseable field shows its own error and ``quote`` is not called. Enter (from any
    field) dismisses with the quoted :class:`~core.models.OrderIntent` when there is one and
    no refusal; Escape dismisses ``None``.
    """

    CSS_PATH = "trade.tcss"
    AUTO_FOCUS = "#ticket-size"
    BINDINGS = [
        Binding("enter", "submit", "Send", priority=True),
        Binding("escape", "cancel", "Cancel", priority=True),
        Binding("b", "side('buy')", "Buy", show=False),
        Binding("s", "side('sell')", "Sell", show=False),
    ]

    def __init__(
        self,
        symbol: str,
        mark_px: float | None,
        quote: Callable[[TicketRequest], TicketQuote],
        default_is_buy: bool = True,
    ) -> None:
        """``symbol``: the market; ``mark_px``: its mark, USD, for display; ``quote``: turns a
        request into the venue-rounded order or a refusal (called on every change)."""
        super().__init__()
        self.symbol = symbol
        self.mark_px = mark_px
        self._quote_fn = quote
        self._default_is_buy = default_is_buy
        self.request: TicketRequest | None = None
        """The last request sent to ``quote``, ``None`` while a field is invalid."""
        self.quote: TicketQuote | None = None
        """The last quote, ``None`` while a field is invalid or empty."""
        self.error: str | None = None
        """The current input error or quote failure, one line."""

    def compose(self) -> ComposeResult:
        """Title, the five fields, the quote line and the key hints."""
        with Vertical(classes="trade-box", id="ticket-box"):
            title = Text(f"Order ticket — {self.symbol}", style="bold")
            title.append(f"   mark {fmt_price(self.mark_px)}", style="dim")
            yield Static(title, classes="trade-title")
            with Horizontal(classes="ticket-row"):
                yield Label("side", classes="ticket-label")
                yield Choice(
                    (("buy", "Buy", BUY_STYLE), ("sell", "Sell", SELL_STYLE)),
                    "buy" if self._default_is_buy else "sell",
                    id="ticket-side",
                )
            with Horizontal(classes="ticket-row"):
                yield Label("size", classes="ticket-label -tall")
                yield Input(placeholder="0.5 base, or $1000", id="ticket-size", select_on_focus=False)
            with Horizontal(classes="ticket-row"):
                yield Label("limit px", classes="ticket-label -tall")
                yield Input(placeholder="empty = market (IOC)", id="ticket-limit", select_on_focus=False)
            with Horizontal(classes="ticket-row"):
                yield Label("tif", classes="ticket-label")
                yield Choice(TIF_OPTIONS, "Gtc", id="ticket-tif")
            with Horizontal(classes="ticket-row"):
                yield Label("", classes="ticket-label -tall")
                yield Checkbox("reduce-only", id="ticket-reduce")
            yield Static(id="ticket-quote")
            yield Static(
                Text("Enter send · Esc cancel · Tab next field · b/s side", style="dim"), classes="trade-footer"
            )

    def on_mount(self) -> None:  # noqa: D102 - Textual hook
        self.refresh_quote()

    # ------------------------------------------------------------------ events
    def on_input_changed(self, event: Input.Changed) -> None:  # noqa: D102 - Textual hook
        event.stop()
        self.refresh_quote()

    def on_choice_changed(self, event: Choice.Changed) -> None:  # noqa: D102 - Textual hook
        event.stop()
        self.refresh_quote()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:  # noqa: D102 - Textual hook
        event.stop()
        self.refresh_quote()

    # ------------------------------------------------------------------ quoting
    def build_request(self) -> TicketRequest:
        """The request the fields describe; at market the TIF is ``"Ioc"``.

        Raises:
            ValueError: a field does not parse (one-line message).
        """
        size, in_usd = parse_size(self.query_one("#ticket-size", Input).value)
        limit_px = parse_limit(self.query_one("#ticket-limit", Input).value)
        tif = self.query_one("#ticket-tif", Choice).value if limit_px is not None else "Ioc"
        return TicketRequest(
            symbol=self.symbol,
            is_buy=self.query_one("#ticket-side", Choice).value == "buy",
            size=size,
            size_in_usd=in_usd,
            limit_px=limit_px,
            tif=tif,
            reduce_only=self.query_one("#ticket-reduce", Checkbox).value,
        )

    def refresh_quote(self) -> None:
        """Parse the fields, ask ``quote`` and show the result line."""
        self.quote = None
        self.request = None
        self.error = None
        line = self.query_one("#ticket-quote", Static)
        tif_field = self.query_one("#ticket-tif", Choice)
        try:
            request = self.build_request()
        except ValueError as exc:
            self.error = str(exc)
            empty = not self.query_one("#ticket-size", Input).value.strip()
            line.update(Text(self.error, style="dim" if empty else REFUSAL_STYLE))
            return
        tif_field.set_class(request.limit_px is None, "-inactive")
        self.request = request
        try:
            quote = self._quote_fn(request)
        except Exception as exc:  # the quote is the console's; a bug there must not kill the ticket
            self.error = f"quote failed: {exc}"
            line.update(Text(self.error, style=REFUSAL_STYLE))
            return
        self.quote = quote
        line.update(self._quote_text(quote))

    def _quote_text(self, q: TicketQuote) -> Text:
        if q.intent is None or q.refusal is not None:
            return Text(q.refusal or "the order cannot be built", style=REFUSAL_STYLE)
        t = describe_intent(q.intent)
        t.append(f"\nnotional {fmt_money(q.notional_usd)} · est. fee {fmt_money(q.est_fee_usd)}", style="dim")
        return t

    @property
    def sendable(self) -> bool:
        """Whether Enter sends: a quoted intent without refusal."""
        return self.quote is not None and self.quote.intent is not None and self.quote.refusal is None

    # ------------------------------------------------------------------ actions
    def action_side(self, side: str) -> None:
        """Set the side to ``"buy"`` or ``"sell"``."""
        self.query_one("#ticket-side", Choice).value = side

    def action_submit(self) -> None:
        """Send the quoted order when it is sendable; otherwise stay open."""
        if self.sendable:
            assert self.quote is not None
            self.dismiss(self.quote.intent)
        else:
            self.app.bell()

    def action_cancel(self) -> None:
        """Close without an order."""
        self.dismiss(None)
