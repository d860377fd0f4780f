"""Trading widgets and modals with Textual's Pilot, on fixed data, plus one SVG snapshot."""

from __future__ import annotations

import html
import re
from dataclasses import replace

from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen

from pfterm.core.market.models import OrderIntent
from pfterm.core.trading.hedging import HedgePreview
from pfterm.core.trading.portfolio import (
    ActivityEntry,
    ActivityLevel,
    AssetDeltaRow,
    KillPhase,
    KillStatus,
    OrderRow,
    PortfolioView,
    PositionRow,
    RebalanceView,
    TicketQuote,
    TicketRequest,
)
from pfterm.core.trading.risk import TradingState
from pfterm.tui.trade_screens import HedgeScreen, OrderTicketScreen, RebalanceScreen, parse_limit, parse_size
from pfterm.widgets.numbers import fmt_money, fmt_size
from pfterm.widgets.trading import (
    ActivityLog,
    KillBanner,
    OpenOrdersPanel,
    PortfolioPanel,
    PositionsPanel,
    liq_distance_style,
)

NOW = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC
CLOID = "0x" + "ab" * 16

POSITIONS = (
    PositionRow("BTC", 0.5, 64_000.0, 65_432.0, 32_716.0, 716.0, 12.5, 3.0, 44_000.0, 0.3275, 10_905.3),
    PositionRow("ETH", -4.0, 3_500.0, 3_400.0, 13_600.0, 400.0, -3.25, 5.0, 3_900.0, 0.1470, 2_720.0),
    PositionRow("SOL", 10.0, 150.0, 148.0, 1_480.0, -20.0, 0.0, 10.0, 132.0, 0.1081, 148.0),
)

ORDERS = (
    OrderRow("BTC", 111_111, CLOID, True, 60_000.0, 0.1, False, NOW - 42_000, -0.083),
    OrderRow("ETH", 222_222, None, False, 3_600.0, 1.5, True, NOW - 3_600_000, 0.0588),
    OrderRow("SOL", 333_333, None, True, 140.0, 5.0, False, NOW - 120_000, -0.054),
)

PORTFOLIO = PortfolioView(
    account="0x1234…abcd",
    network="testnet",
    read_only=None,
    state=TradingState.ACTIVE,
    equity_usd=25_000.0,
    spot_usdc=5_000.0,
    margin_used_usd=13_773.3,
    maintenance_margin_usd=2_500.0,
    margin_ratio=0.1,
    leverage=1.92,
    deltas=(
        AssetDeltaRow("BTC", 0.0, 0.5, 32_716.0, 1.0),
        AssetDeltaRow("ETH", 4.0, -4.0, 0.0, 0.0),
    ),
    total_delta_usd=32_716.0,
    funding_today_usd=8.75,
    pnl_today_usd=-120.5,
    updated_ms=NOW,
)

ACTIVITY = (
    ActivityEntry(NOW - 5_000, ActivityLevel.INFO, "connected to testnet as 0x1234…abcd"),
    ActivityEntry(NOW - 3_000, ActivityLevel.OK, "BUY 0.1 BTC @ 60,000 GTC resting oid 111111"),
    ActivityEntry(NOW - 2_000, ActivityLevel.WARN, "ETH liquidation distance 14.7% below 15%"),
    ActivityEntry(NOW - 1_000, ActivityLevel.ERROR, "cancel oid 999 refused: order not found"),
)


def screen_text(app: App) -> str:
    """What is on the terminal right now, as plain text (from Textual's own SVG export)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


def intent(symbol: str = "BTC", is_buy: bool = True, size: float = 0.5, px: float = 65_432.0, **kw) -> OrderIntent:
    fields = dict(tif="Ioc", reduce_only=False, cloid=CLOID, purpose="ticket")
    fields.update(kw)
    return OrderIntent(symbol=symbol, asset_id=0, is_buy=is_buy, size=size, limit_px=px, **fields)


def hedge(symbol: str = "BTC", size: float = 0.5, delta: float = 32_716.0) -> HedgePreview:
    return HedgePreview(
        intent=intent(symbol, False, size, 62_160.0, reduce_only=True, purpose="hedge"),
        size=size,
        est_px=65_432.0,
        est_fee_usd=size * 65_432.0 * 0.00045,
        delta_before_usd=delta,
        delta_after_usd=delta - size * 65_432.0,
    )


class PanelsApp(App[None]):
    """The trading panels side by side, fed fixed data."""

    CSS = """
    #left { width: 1fr; }
    #right { width: 54; }
    PositionsPanel { height: 6; border: round $primary-darken-1; }
    OpenOrdersPanel { height: 6; border: round $primary-darken-1; }
    PortfolioPanel { border: round $primary-darken-1; padding: 0 1; }
    ActivityLog { border: round $primary-darken-1; }
    """

    def compose(self) -> ComposeResult:
        yield KillBanner()
        with Horizontal():
            with Vertical(id="left"):
                yield PositionsPanel()
                yield OpenOrdersPanel()
                yield ActivityLog()
            with Vertical(id="right"):
                yield PortfolioPanel()

    def on_mount(self) -> None:
        self.query_one(PositionsPanel).show(POSITIONS)
        self.query_one(OpenOrdersPanel).show(ORDERS, NOW)
        self.query_one(PortfolioPanel).show(PORTFOLIO)
        self.query_one(ActivityLog).show(ACTIVITY, len(ACTIVITY))


class ModalHost(App[None]):
    """Pushes one modal on start and records what it dismisses with."""

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self._modal = screen
        self.results: list[object] = []

    def on_mount(self) -> None:
        self.push_screen(self._modal, self.results.append)


# ---------------------------------------------------------------------------- positions


async def test_positions_render_sides_columns_and_liq_colours() -> None:
    app = PanelsApp()
    async with app.run_test(size=(180, 36)) as pilot:
        await pilot.pause()
        panel = app.query_one(PositionsPanel)
        assert [c.key for c in panel.fit_columns(panel.size.width)] == [c.key for c in panel.COLUMNS]
        text = screen_text(app)
        for needle in ("BTC", "ETH", "SOL", "LONG", "SHORT", "+$716.00", "-$20.00", "44,000", "32.8%", "14.7%"):
            assert needle in text, needle
        # side colours: LONG green, SHORT red, on the rendered strip
        line_btc = "".join(s.text for s in panel.render_line(1))
        assert "LONG" in line_btc
        styles = {s.text.strip(): s.style for s in panel.render_line(2) if s.text.strip()}
        assert styles["SHORT"].color.name == "#f0625c"
        styles = {s.text.strip(): s.style for s in panel.render_line(1) if s.text.strip()}
        assert styles["LONG"].color.name == "#4ec98b"
    # docs/domain.md §4: under 10 % reversed red, under 15 % red, under 30 % yellow
    assert liq_distance_style(0.05).reverse and liq_distance_style(0.12).color.name == "#f0625c"
    assert liq_distance_style(0.2).color.name == "#ffd166" and liq_distance_style(0.5).color is None


async def test_positions_empty_state_narrow_columns_and_unchanged_skip() -> None:
    app = PanelsApp()
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        panel = app.query_one(PositionsPanel)
        keys = [c.key for c in panel.fit_columns(panel.size.width)]
        assert {"symbol", "side", "size", "upnl", "liq_dist"} <= set(keys)
        assert "leverage" not in keys
        renders = panel.renders
        panel.show(list(POSITIONS))  # equal content, new list: no work
        assert panel.renders == renders
        panel.show(())
        await pilot.pause()
        assert "no open positions" in screen_text(app)


async def test_positions_cursor_posts_selected() -> None:
    seen: list[str] = []

    class App_(PanelsApp):
        def on_positions_panel_selected(self, message: PositionsPanel.Selected) -> None:
            seen.append(message.symbol)

    app = App_()
    async with app.run_test(size=(140, 36)) as pilot:
        app.query_one(PositionsPanel).focus()
        await pilot.press("down", "down")
        await pilot.pause()
        assert seen[-2:] == ["ETH", "SOL"]


# ---------------------------------------------------------------------------- orders


async def test_orders_cursor_and_c_requests_cancel_of_highlighted_order() -> None:
    requested: list[tuple[str, int]] = []

    class App_(PanelsApp):
        def on_open_orders_panel_cancel_requested(self, message: OpenOrdersPanel.CancelRequested) -> None:
            requested.append((message.symbol, message.oid))

    app = App_()
    async with app.run_test(size=(140, 36)) as pilot:
        panel = app.query_one(OpenOrdersPanel)
        panel.focus()
        await pilot.pause()
        text = screen_text(app)
        for needle in ("BUY", "SELL", "60,000", "-8.30%", "RO", "42s", "1h", "111111", CLOID[:10]):
            assert needle in text, needle
        await pilot.press("down", "c")
        await pilot.pause()
        assert requested == [("ETH", 222_222)]
        # the cursor stays on the same order when rows are replaced and reordered
        panel.show((ORDERS[2], ORDERS[0], ORDERS[1]), NOW)
        await pilot.press("c")
        await pilot.pause()
        assert requested[-1] == ("ETH", 222_222)
        assert any(b.key == "c" and b.show for b in OpenOrdersPanel.BINDINGS)


async def test_orders_skip_unchanged_within_the_same_second() -> None:
    app = PanelsApp()
    async with app.run_test(size=(140, 36)):
        panel = app.query_one(OpenOrdersPanel)
        renders = panel.renders
        panel.show(list(ORDERS), NOW + 400)
        assert panel.renders == renders
        panel.show(list(ORDERS), NOW + 1_000)
        assert panel.renders == renders + 1
        panel.show((), NOW + 1_000)
        assert panel.current() is None


# ---------------------------------------------------------------------------- portfolio


async def test_portfolio_shows_halted_read_only_error_and_deltas() -> None:
    app = PanelsApp()
    async with app.run_test(size=(140, 36)) as pilot:
        panel = app.query_one(PortfolioPanel)
        await pilot.pause()
        text = screen_text(app)
        for needle in ("ACTIVE", "0x1234…abcd", "testnet", "$25,000.00", "10.0%", "1.92×", "-$120.50", "+$8.75"):
            assert needle in text, needle
        assert "BTC" in text and "+$32,716.00" in text and "total Δ" in text
        from dataclasses import replace

        halted = replace(PORTFOLIO, state=TradingState.HALTED, read_only="no private key configured", error="HTTP 502")
        panel.show(halted)
        await pilot.pause()
        text = screen_text(app)
        assert "HALTED" in text
        assert "read-only: no private key configured" in text
        assert "refresh failed: HTTP 502" in text
        renders = panel.renders
        panel.show(replace(halted))
        assert panel.renders == renders


# ---------------------------------------------------------------------------- activity


async def test_activity_log_bounded_and_incremental() -> None:
    app = PanelsApp()
    async with app.run_test(size=(140, 36)) as pilot:
        log = app.query_one(ActivityLog)
        await pilot.pause()
        assert len(log.lines) == len(ACTIVITY)
        assert log.lines[0].text == "23:59:55 connected to testnet as 0x1234…abcd"
        log.show(ACTIVITY, len(ACTIVITY))  # same seq: nothing written
        assert len(log.lines) == len(ACTIVITY)
        entries: list[ActivityEntry] = list(ACTIVITY)
        seq = len(ACTIVITY)
        for i in range(600):
            entries.append(ActivityEntry(NOW + i * 1000, ActivityLevel.INFO, f"line {i}"))
            seq += 1
            if i % 7 == 0:
                log.show(tuple(entries[-800:]), seq)
        log.show(tuple(entries[-800:]), seq)
        await pilot.pause()
        assert len(log.lines) == 500
        assert log.lines[-1].text.endswith("line 599")
        assert log.lines[0].text.endswith("line 100")


# ---------------------------------------------------------------------------- kill banner


async def test_kill_banner_hidden_and_per_phase() -> None:
    app = PanelsApp()
    async with app.run_test(size=(80, 30)) as pilot:
        banner = app.query_one(KillBanner)
        await pilot.pause()
        assert not banner.display
        banner.show(KillStatus(KillPhase.RUNNING, 1, 120, 3, (), (), "kill switch engaged"))
        await pilot.pause()
        assert banner.display and banner.has_class("-running")
        assert "KILL SWITCH — round 1, 120ms: cancelled 3, closing…" in screen_text(app)
        closed = tuple(f"C{i} sold 1 @ 100" for i in range(6))
        banner.show(KillStatus(KillPhase.FLAT, 2, 850, 3, closed, (), ""))
        await pilot.pause()
        text = screen_text(app)
        assert banner.has_class("-flat") and not banner.has_class("-running")
        assert "HALTED · FLAT in 0.85 s · 6 closed, 3 cancelled · R resume · Esc fold" in text
        assert "C0 sold 1 @ 100" in text and "+2 more" in text
        failures = ("ETH close refused: reduce only order would increase position", "no mid price for XYZ")
        banner.show(KillStatus(KillPhase.FAILED, 5, 5_000, 2, closed[:1], failures, "deadline"))
        await pilot.pause()
        text = screen_text(app)
        assert banner.has_class("-failed")
        assert "HALTED · KILL FAILED: 1 closed, 2 cancelled, 2 failed · R resume · Esc fold" in text
        assert "no mid price for XYZ" in text
        banner.show(None)
        await pilot.pause()
        assert not banner.display


async def test_kill_banner_counts_down_without_relayout_and_hides_when_done() -> None:
    app = PanelsApp()
    async with app.run_test(size=(80, 30)) as pilot:
        banner = app.query_one(KillBanner)
        await pilot.pause()
        running = KillStatus(KillPhase.RUNNING, 1, 120, 0, (), (), "waiting for the venue", deadline_mono=1_010.0)
        banner.show(running, 1_000.0)
        await pilot.pause()
        assert "gives up in  10.0 s" in screen_text(app)
        refreshes: list[bool] = []
        original = banner.refresh

        def spy(*args, layout: bool = False, **kw):
            refreshes.append(layout)
            return original(*args, layout=layout, **kw)

        banner.refresh = spy  # type: ignore[method-assign]
        banner.show(running, 1_002.5)  # the same status, 2.5 s later: only the countdown moves
        banner.show(running, 1_002.5)  # nothing new: nothing at all
        await pilot.pause()
        assert "gives up in   7.5 s" in screen_text(app)
        assert refreshes == [False]  # repainted once, never laid out again
        banner.show(running, 1_012.0)
        await pilot.pause()
        assert "deadline passed   2.0 s ago" in screen_text(app)
        # a running kill cannot be hidden; a finished one can, until the status changes
        assert not banner.hide() and banner.display
        done = KillStatus(KillPhase.FAILED, 3, 10_000, 0, (), ("BTC 0.5 still open",), "deadline")
        banner.show(done, 1_013.0)
        await pilot.pause()
        assert "HALTED · KILL FAILED" in screen_text(app) and banner.hideable
        assert banner.hide() and not banner.display
        banner.show(done, 1_014.0)
        assert not banner.display
        banner.show(replace(done, rounds=4), 1_015.0)
        assert banner.display
        # without a deadline in the status, the one given by the console is used
        banner.show(replace(running, deadline_mono=None), 1_000.0, deadline_mono=1_030.0)
        await pilot.pause()
        assert "gives up in  30.0 s" in screen_text(app)


# ---------------------------------------------------------------------------- hedge / rebalance


async def test_hedge_screen_enter_sends_escape_cancels() -> None:
    app = ModalHost(HedgeScreen("BTC", hedge(), None, "includes 0.2 BTC cold wallet"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        for needle in ("Hedge BTC", "+$32,716.00", "SELL", "0.5 BTC @ ~65,432", "IOC limit 62,160", "reduce-only"):
            assert needle in text, needle
        assert "Enter send · Esc cancel" in text and "cold wallet" in text
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [True]
    app = ModalHost(HedgeScreen("BTC", hedge(), None, None))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [False]


async def test_hedge_screen_unsendable_enter_does_not_send() -> None:
    for screen, why in (
        (HedgeScreen("ETH", hedge("ETH"), "trading is HALTED", None), "cannot send: trading is HALTED"),
        (HedgeScreen("ETH", None, None, "delta $4.20 below the $10 minimum"), "nothing to hedge on ETH"),
    ):
        app = ModalHost(screen)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert why in screen_text(app)
            await pilot.press("enter")
            await pilot.pause()
            assert app.results == [False]


async def test_rebalance_screen_table_totals_and_keys() -> None:
    view = RebalanceView(hedges=(hedge("BTC"), hedge("ETH", 2.0, 130_000.0)), skipped=("SOL no mid price",))
    app = ModalHost(RebalanceScreen(view))
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        total = 2.5 * 65_432.0
        for needle in ("Rebalance", "BTC", "ETH", "SOL no mid price", "2 orders", fmt_money(total)):
            assert needle in text, needle
        assert fmt_money(total * 0.00045) in text
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [True]
    for screen in (RebalanceScreen(RebalanceView()), RebalanceScreen(view, refusal="read-only session")):
        app = ModalHost(screen)
        async with app.run_test(size=(110, 30)) as pilot:
            await pilot.pause()
            if not screen.view.hedges:
                assert "book is within the rebalance threshold; nothing to send" in screen_text(app)
            await pilot.press("enter")
            await pilot.pause()
            assert app.results == [False]
    app = ModalHost(RebalanceScreen(view))
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [False]


# ---------------------------------------------------------------------------- order ticket


class Quoter:
    """A deterministic quote function that records its requests."""

    def __init__(self, refusal: str | None = None) -> None:
        self.requests: list[TicketRequest] = []
        self.refusal = refusal

    def __call__(self, req: TicketRequest) -> TicketQuote:
        self.requests.append(req)
        px = req.limit_px or 65_432.0
        size = round(req.size / px, 4) if req.size_in_usd else req.size
        it = intent(req.symbol, req.is_buy, size, px, tif=req.tif, reduce_only=req.reduce_only)
        return TicketQuote(it, it.notional_usd, it.notional_usd * 0.00045, self.refusal)


async def test_ticket_market_size_enter_dismisses_with_quoted_intent() -> None:
    quoter = Quoter()
    app = ModalHost(OrderTicketScreen("BTC", 65_432.0, quoter, order_type="market"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("0", ".", "5")
        await pilot.pause()
        assert quoter.requests[-1] == TicketRequest("BTC", True, 0.5, False, None, "Ioc", False, "market")
        text = screen_text(app)
        assert "BUY 0.5 BTC  MARKET ~65,432" in text and "notional $32,716.00" in text
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [intent("BTC", True, 0.5, 65_432.0)]


async def test_ticket_limit_without_price_is_an_error_never_a_market_order() -> None:
    quoter = Quoter()
    app = ModalHost(OrderTicketScreen("BTC", 65_432.0, quoter))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("0", ".", "5", "enter")
        await pilot.pause()
        assert app.results == [] and quoter.requests == []
        assert "a limit order needs a limit price" in screen_text(app)
        # the type is switched explicitly, and then it is a market order
        await pilot.press("shift+tab", "m")
        await pilot.pause()
        assert app.screen.order_type == "market"
        assert quoter.requests[-1].order_type == "market" and quoter.requests[-1].limit_px is None
        await pilot.press("tab", "tab", "tab")  # type → size → reduce-only (no price, no tif at market) → side
        assert app.screen.active == "side"
        await pilot.press("l")
        assert app.screen.fields() == ("side", "type", "size", "limit", "tif", "reduce")
        assert quoter.requests[-1].order_type == "market"  # back to limit: no price, nothing quoted
        assert "a limit order needs a limit price" in screen_text(app)


async def test_ticket_usd_size_limit_tif_side_reduce_only_by_keyboard() -> None:
    quoter = Quoter()
    app = ModalHost(OrderTicketScreen("BTC", 65_432.0, quoter, default_is_buy=False))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press(*"$1000", "tab", *"65000")
        await pilot.pause()
        req = quoter.requests[-1]
        assert (req.size, req.size_in_usd, req.is_buy, req.limit_px) == (1000.0, True, False, 65_000.0)
        await pilot.press("tab")  # the TIF field
        await pilot.press("right")  # GTC → ALO
        await pilot.press("b")  # side by key outside the text fields
        await pilot.press("tab", "space")  # reduce-only
        await pilot.pause()
        req = quoter.requests[-1]
        assert req == TicketRequest("BTC", True, 1000.0, True, 65_000.0, "Alo", True, "limit")
        expected = intent("BTC", True, round(1000 / 65_000, 4), 65_000.0, tif="Alo", reduce_only=True)
        assert f"BUY {fmt_size(expected.size)} BTC  LIMIT 65,000  ALO  reduce-only" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [expected]
    assert parse_size("1000$") == (1000.0, True) and parse_size(" 1,000 ") == (1000.0, False)
    assert parse_limit("") is None and parse_limit("$65,000") == 65_000.0


async def test_ticket_refusal_blocks_enter_and_escape_returns_none() -> None:
    quoter = Quoter(refusal="order notional $32,716 above the $10,000 limit")
    app = ModalHost(OrderTicketScreen("BTC", 65_432.0, quoter, order_type="market"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("0", ".", "5", "enter")
        await pilot.pause()
        assert app.results == []
        assert "order notional $32,716 above the $10,000 limit" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]


async def test_ticket_garbage_size_shows_error_without_quoting() -> None:
    quoter = Quoter()
    app = ModalHost(OrderTicketScreen("BTC", 65_432.0, quoter))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press(*"abc")
        await pilot.pause()
        assert quoter.requests == []
        assert "size 'abc' is not a positive number" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == []
        await pilot.press("backspace", "backspace", "backspace", "1", "tab", *"-5")
        await pilot.pause()
        assert quoter.requests == []  # a bad limit price is not quoted
        assert "limit price '-5' is not a positive number" in screen_text(app)
        await pilot.press("ctrl+u", *"60000")
        await pilot.pause()
        assert quoter.requests[-1].limit_px == 60_000.0 and quoter.requests[-1].size == 1.0


def _btc_quote(req: TicketRequest) -> TicketQuote:
    """The real pricing for a BTC market at mark 87,487 (5 lot decimals), accepting every order."""
    from pfterm.core.market.models import MarketInfo
    from pfterm.core.trading.ticket import quote_ticket

    market = MarketInfo("hyperliquid", "BTC", 0, 5, 40)
    return quote_ticket(req, market=market, mark_px=87_487.0, order_slippage=0.01, check=lambda _i: None, cloid=CLOID)


async def test_ticket_limit_beyond_the_band_needs_a_second_enter() -> None:
    app = ModalHost(OrderTicketScreen("BTC", 87_487.0, _btc_quote))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press(*"0.02", "tab", *"80000", "enter")
        await pilot.pause()
        assert app.results == []
        text = screen_text(app)
        assert "buy limit 80,000 is 8.6 % below mark 87,487, beyond the 5 % band" in text
        assert "press Enter again to send it" in text
        # a change of the order asks again: the confirmation was for 80,000
        await pilot.press("backspace", "1", "enter")
        await pilot.pause()
        assert app.results == [] and app.screen.armed.limit_px == 80_001.0
        await pilot.press("enter")
        await pilot.pause()
        [sent] = app.results
        assert (sent.is_buy, sent.size, sent.limit_px, sent.tif) == (True, 0.02, 80_001.0, "Gtc")
    # within the band one Enter sends; the $ size is worth $1,000 at the limit price, not at mark
    app = ModalHost(OrderTicketScreen("BTC", 87_487.0, _btc_quote))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press(*"$1000", "tab", *"85000")
        await pilot.pause()
        text = screen_text(app)
        assert "BUY 0.01176 BTC  LIMIT 85,000  GTC" in text and "(maker 0.015%)" in text
        await pilot.press("enter")
        await pilot.pause()
        [sent] = app.results
        assert sent.size == 0.01176 and sent.limit_px == 85_000.0


async def test_ticket_band_confirmation_with_a_quoter_that_does_not_report_it() -> None:
    """A quote without ``confirm`` (an older quoter): the ticket judges the band itself."""
    app = ModalHost(OrderTicketScreen("BTC", 65_432.0, Quoter(), fat_finger_band=0.05))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press(*"0.5", "tab", *"50000", "enter")
        await pilot.pause()
        assert app.results == [] and "beyond the 5 % band" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert [r.limit_px for r in app.results] == [50_000.0]


def _burst(app: App, keys: list[str]) -> None:
    """Post every key at once, the way a terminal delivers keys typed faster than the app
    handles them (Pilot's ``press`` waits for the app between keys)."""
    from textual import events
    from textual.keys import _character_to_key

    for k in keys:
        name = _character_to_key(k) if len(k) == 1 and not k.isalnum() else k
        app.post_message(events.Key(name, k if len(k) == 1 else None).set_sender(app))


async def test_ticket_keys_in_one_burst_arrive_in_order() -> None:
    """Tab in the middle of a burst: with focusable inputs the digits after it went to the
    size field before the focus moved (``0.0280000`` at market)."""
    app = ModalHost(OrderTicketScreen("BTC", 87_487.0, _btc_quote))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        _burst(app, [*"0.02", "tab", *"86000", "tab", "right", "enter"])
        for _ in range(50):
            await pilot.pause(0.02)
            if app.results:
                break
        [sent] = app.results
        assert (sent.is_buy, sent.size, sent.limit_px, sent.tif) == (True, 0.02, 86_000.0, "Alo")
    app = ModalHost(OrderTicketScreen("BTC", 87_487.0, _btc_quote))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        _burst(app, [*"0.02", "tab", *"86000", "escape", "enter"])
        for _ in range(50):
            await pilot.pause(0.02)
            if app.results:
                break
        assert app.results == [None]


# ---------------------------------------------------------------------------- snapshot


async def _settle(pilot) -> None:
    await pilot.pause()
    await pilot.pause()


def test_trading_panels_120x36(snap_compare) -> None:
    assert snap_compare(PanelsApp(), terminal_size=(120, 36), run_before=_settle)
