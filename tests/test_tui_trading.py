"""Trading from the console with Textual's Pilot: the kill key (also inside a dialog and
remapped), the kill banner (countdown, HALTED, hiding it), the order ticket (also typed at
full speed), hedge and rebalance previews, cancelling an order, the quit question, the
read-only refusal, and a deterministic snapshot of the trading screen.

The trader talks to a simulator server on 127.0.0.1 (real signed requests); the market panels
are fed by the seeded engine of :mod:`tests.seeded`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual import events
from textual.app import App
from textual.keys import _character_to_key

from pfterm.core.market.models import OpenOrder, Position
from pfterm.core.sim.market import MarketModel
from pfterm.core.sim.server import SimulatorServer
from pfterm.core.sim.snapshot import load_snapshot
from pfterm.core.trading.credentials import TradingAccess
from pfterm.core.trading.desk import Desk, DeskSettings
from pfterm.core.trading.journal import AccountRef, Journal
from pfterm.core.trading.portfolio import ActivityLevel, KillPhase, TicketRequest
from pfterm.core.trading.risk import RiskLimits, TradingState
from pfterm.core.trading.venue import VenueAccount
from pfterm.core.venues.hyperliquid.signing import Signer
from pfterm.tui.app import PftermApp
from pfterm.tui.screens import DetailScreen, MatrixScreen, TradingScreen
from pfterm.tui.trade_screens import HedgeScreen, OrderTicketScreen, QuitScreen, RebalanceScreen
from pfterm.widgets.trading import OpenOrdersPanel
from tests.desks import desk_on, fixed_manager
from tests.seeded import T0, FrozenMono, seeded_engine
from tests.test_tui import screen_text

LIMITS = RiskLimits(max_market_share=1.0, max_order_notional_usd=1e7, max_position_notional_usd=1e7, max_leverage=20)


@pytest.fixture
async def server() -> AsyncIterator[SimulatorServer]:
    model = MarketModel(load_snapshot(), seed=5, start_ms=T0, cascade_rate_per_hour=0.0)
    srv = SimulatorServer(model, speed=0.0, tick_hz=50.0, starting_usdc=100_000.0)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def trader(server: SimulatorServer, tmp_path: Path) -> AsyncIterator[Desk]:
    journal = Journal(tmp_path / "journal.sqlite")
    t = desk_on(
        server.http_url or "",
        Signer.generate(),
        journal,
        DeskSettings(limits=LIMITS, kill_deadline_s=5.0),
        timeout_s=5.0,
    )
    await t.start()
    try:
        yield t
    finally:
        await t.aclose()
        journal.close()


def _app(trader: Desk | None, mono: FrozenMono | None = None, **ui: object) -> PftermApp:
    mono = mono or FrozenMono()
    engine, _model, settings, endpoint = seeded_engine(mono, cascade=None)
    for key, value in ui.items():
        setattr(settings.ui, key, value)
    return PftermApp(settings, engine=engine, endpoint=endpoint, start_feed=False, mono=mono, desk=trader)


async def _open_book(trader: Desk) -> None:
    intents = []
    for sym in ("BTC", "ETH", "SOL"):
        intents.append(trader.quote(TicketRequest(sym, sym != "ETH", 1_500, True, None, "Ioc", False, "market")).intent)
        mark = trader.mark(sym)
        intents.append(trader.quote(TicketRequest(sym, True, 200, True, mark * 0.9, "Gtc", False, "limit")).intent)
    outs = await trader.submit(intents)
    assert all(o.status in ("filled", "resting") for o in outs), [o.message for o in outs]
    await trader.refresh()


async def _wait(pilot, cond, tries: int = 400) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


def _burst(app: App, keys: list[str]) -> None:
    """Every key at once, as a terminal delivers keys typed faster than the app handles them
    (Pilot's ``press`` lets the app go idle between keys; this does not)."""
    for k in keys:
        name = _character_to_key(k) if len(k) == 1 and not k.isalnum() else k
        app.post_message(events.Key(name, k if len(k) == 1 else None).set_sender(app))


async def test_kill_key_inside_the_order_ticket_flattens_everything(trader: Desk) -> None:
    await _open_book(trader)
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        await pilot.press("o")
        assert isinstance(app.screen, OrderTicketScreen)
        await pilot.press("1")  # typing in the size field: ctrl+k must not be Input's "delete to end"
        await pilot.press("ctrl+k")
        assert not isinstance(app.screen, OrderTicketScreen)  # the dialog is gone
        await _wait(pilot, lambda: trader.last_kill is not None)
        report = trader.last_kill
        assert report.flat and report.cancelled == 3 and len(report.closed) == 3
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "HALTED · FLAT in" in text and "orders cancelled · R resume · Esc fold" in text
        assert trader.kill_status.phase is KillPhase.FLAT
        assert [e for e in trader.journal.events() if e.kind == "kill_result"][0].detail["flat"]
        # Esc clears an open filter first, then folds the banner, then hides it, which stays hidden
        await pilot.press("slash", "e", "escape")
        assert app.table.filter_text == "" and app.kill_banner.display and not app.kill_banner.is_folded
        await pilot.press("escape")
        assert app.kill_banner.is_folded
        await pilot.press("escape")
        assert not app.kill_banner.display
        await pilot.pause(0.3)  # a few flushes of the same status
        assert not app.kill_banner.display and "Esc hide" not in screen_text(app)
        assert trader.state is TradingState.HALTED
        # resume: back to ACTIVE, banner gone
        await pilot.press("R")
        assert trader.state is TradingState.ACTIVE
        await pilot.pause(0.3)
        assert not app.kill_banner.display


async def test_remapped_kill_key(trader: Desk) -> None:
    await _open_book(trader)
    app = _app(trader, kill_key="ctrl+x")
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("ctrl+k")
        await pilot.pause(0.2)
        assert trader.last_kill is None
        await pilot.press("ctrl+x")
        await _wait(pilot, lambda: trader.last_kill is not None)
        assert trader.last_kill.flat
        assert "^x KILL" in screen_text(app)


async def test_order_ticket_sends_a_market_order(trader: Desk) -> None:
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        app.table.select("BTC")
        await pilot.press("o")
        assert isinstance(app.screen, OrderTicketScreen)
        await pilot.press("shift+tab", "m", "tab")  # the type field: market, explicitly
        for ch in "$2000":
            await pilot.press(ch)
        await pilot.press("enter")
        await _wait(pilot, lambda: any("filled" in a.text for a in trader.activity))
        await trader.refresh()
        [pos] = [p for p in trader.account.account.positions if p.symbol == "BTC"]
        assert pos.size > 0 and abs(pos.size * pos.entry_px - 2000) < 50
        await pilot.pause(0.3)
        assert "LONG" in screen_text(app)
        intents = trader.journal.intents()
        assert len(intents) == 1 and intents[0].purpose == "manual" and intents[0].state == "filled"


@pytest.mark.parametrize("speed", ["pilot", "burst"])
async def test_order_ticket_typed_at_full_speed_sends_exactly_that_order(trader: Desk, speed: str) -> None:
    """``o`` and the whole ticket in one go: side, size, type (limit), price, time in force."""
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        app.table.select("BTC")
        px = round(trader.mark("BTC") * 1.02)  # a sell 2 % above the mark rests, post-only
        keys = [
            "o",
            *"0.02",
            "tab",
            *str(px),
            "tab",
            "right",  # size, limit px, tif GTC → ALO
            "shift+tab",
            "shift+tab",
            "shift+tab",
            "shift+tab",
            "s",
            "enter",
        ]  # back to side: sell
        if speed == "pilot":
            await pilot.press(*keys)
        else:
            _burst(app, keys)
        await _wait(pilot, lambda: bool(trader.journal.intents()) and trader.journal.intents()[0].oid is not None)
        [sent] = trader.journal.intents()
        assert (sent.symbol, sent.side, sent.size, sent.price, sent.tif, sent.reduce_only, sent.purpose) == (
            "BTC",
            "A",
            0.02,
            float(px),
            "Alo",
            False,
            "manual",
        )
        await trader.refresh()
        [order] = trader.account.orders
        assert (order.symbol, order.is_buy, order.size, order.limit_px) == ("BTC", False, 0.02, float(px))
        assert not isinstance(app.screen, OrderTicketScreen)


async def test_order_ticket_burst_with_escape_sends_nothing_and_the_rest_goes_on(trader: Desk) -> None:
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        app.table.select("BTC")
        _burst(app, ["o", *"0.02", "tab", *"80000", "escape", "enter"])
        # the Enter typed after Escape reaches the market table (its detail), not a ticket
        await _wait(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.pause(0.3)
        assert trader.journal.intents() == []
        assert trader.account is None or not trader.account.orders


async def test_keys_after_a_cursor_move_act_on_the_new_market(trader: Desk) -> None:
    """``j`` then ``o`` in one burst: the ticket opens on the market the cursor moved to."""
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        app.table.select("BTC")
        below = app.table.order[app.table.order.index("BTC") + 1]
        _burst(app, ["j", "o", *"0.5"])
        await _wait(pilot, lambda: [i.value for i in app.screen.query("#ticket-size")] == ["0.5"])
        assert isinstance(app.screen, OrderTicketScreen)
        assert app.screen.symbol == below


async def test_q_with_an_open_book_asks_first_and_names_the_simulator(trader: Desk) -> None:
    await _open_book(trader)
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        text = screen_text(app)
        assert "You have 3 open positions and 3 open orders." in text
        assert "embedded simulator" in text and "its account goes away" in text
        await pilot.press("n")
        assert not isinstance(app.screen, QuitScreen) and app.return_code is None
        await pilot.press("q", "escape")
        assert not isinstance(app.screen, QuitScreen) and app.return_code is None
        await pilot.press("q", "y")
        await _wait(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0


async def test_q_with_nothing_open_quits_at_once(trader: Desk) -> None:
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await _wait(pilot, lambda: app.return_code is not None)
        assert not isinstance(app.screen, QuitScreen)
    assert app.return_code == 0


@pytest.fixture
async def silent_venue() -> AsyncIterator[str]:
    """A venue URL that accepts connections and never answers (a frozen venue)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for w in held:
            w.close()
        server.close()


async def test_kill_banner_counts_down_while_the_venue_never_answers(silent_venue: str, tmp_path: Path) -> None:
    mono = FrozenMono()
    signer = Signer.generate()
    journal = Journal(tmp_path / "journal.sqlite")
    trader = desk_on(silent_venue, signer, journal, DeskSettings(kill_deadline_s=30.0), timeout_s=120.0, mono=mono)
    app = _app(trader, mono=mono)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+k")
            assert trader.kill_running
            await _wait(pilot, lambda: app.kill_banner.remaining_s == 30.0)
            status = trader.kill_status
            assert "gives up in  30.0 s" in screen_text(app)
            mono.t += 1.5  # the venue still says nothing; the clock moves
            await _wait(pilot, lambda: app.kill_banner.remaining_s == 28.5)
            assert "gives up in  28.5 s" in screen_text(app)
            assert trader.kill_running and trader.kill_status == status  # nothing new from the kill itself
            trader.start_kill().cancel()
    finally:
        await trader.aclose()
        journal.close()


async def test_hedge_preview_then_send_and_escape_sends_nothing(trader: Desk) -> None:
    await trader.submit([trader.quote(TicketRequest("ETH", True, 3_000, True, None, "Ioc", False, "market")).intent])
    await trader.refresh()
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        app.table.select("ETH")
        await pilot.press("h")
        assert isinstance(app.screen, HedgeScreen) and app.screen.sendable
        await pilot.press("escape")
        assert not isinstance(app.screen, HedgeScreen)
        await pilot.pause(0.2)
        assert len(trader.journal.intents()) == 1  # nothing sent
        await pilot.press("h")
        await pilot.press("enter")
        await _wait(
            pilot, lambda: len(trader.journal.intents()) == 2 and trader.journal.intents()[-1].state == "filled"
        )
        await trader.refresh()
        assert not [p for p in trader.account.account.positions if p.symbol == "ETH" and p.size != 0]
        assert trader.journal.intents()[-1].purpose == "hedge"


async def test_rebalance_preview_lists_the_hedges(trader: Desk) -> None:
    await _open_book(trader)
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("r")
        assert isinstance(app.screen, RebalanceScreen)
        assert {h.intent.symbol for h in app.screen.view.hedges} == {"BTC", "ETH", "SOL"}
        await pilot.press("enter")
        await _wait(pilot, lambda: sum(1 for i in trader.journal.intents() if i.purpose == "rebalance") == 3)
        await _wait(
            pilot, lambda: all(i.state == "filled" for i in trader.journal.intents() if i.purpose == "rebalance")
        )
        await trader.refresh()
        assert not [p for p in trader.account.account.positions if p.size != 0]


async def test_c_cancels_the_highlighted_order(trader: Desk) -> None:
    await _open_book(trader)
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(0.2)
        panel = app.query_one("#orders", OpenOrdersPanel)
        panel.focus()
        await pilot.pause()
        target = panel.current()
        await pilot.press("c")
        await _wait(pilot, lambda: any("cancelled 1 of 1" in a.text for a in trader.activity))
        await trader.refresh()
        assert target.oid not in {o.oid for o in trader.account.orders}
        assert len(trader.account.orders) == 2


async def test_read_only_console_refuses_orders_with_the_reason(tmp_path: Path) -> None:
    access = TradingAccess(None, None, "mainnet", "no key: set PFTERM_HL_PRIVATE_KEY or pass --key-file to trade")
    journal = Journal(tmp_path / "j.sqlite")
    trader = Desk(access, None, journal)
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("o")
        assert not isinstance(app.screen, OrderTicketScreen)
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "read-only" in text and "PFTERM_HL_PRIVATE_KEY" in text
    journal.close()


def _fixed_trader() -> Desk:
    """A desk whose accounts are fixed data and clocks frozen (no venue), for the snapshot;
    its SOL short is hedged by a Binance long of 30 SOL."""
    signer = Signer("0x" + "42" * 32)
    access = TradingAccess(signer, signer.address, "sim", None, "test")
    positions = (
        Position("BTC", 0.25, 88_000.0, 88_500.0, 61_200.0, 3.0, 7_375.0, 125.0, 12.4),
        Position("ETH", -4.0, 3_050.0, 3_010.0, 3_700.0, 5.0, 2_408.0, 160.0, -3.1),
        Position("SOL", -30.0, 135.0, 131.0, None, 2.0, 1_965.0, 120.0, 0.8),
    )
    orders = (
        OpenOrder("BTC", 91_000_000_001, "0x" + "ab" * 16, True, 80_000.0, 0.1, False, T0 - 42_000),
        OpenOrder("ETH", 91_000_000_002, None, True, 2_950.0, 4.0, True, T0 - 3_600_000),
    )
    hl = fixed_manager(
        "hyperliquid",
        AccountRef("hyperliquid", "sim:test", signer.address),
        VenueAccount(100_250.0, positions, 42_000.0, 11_748.0, 4_100.0, T0, (), 50_000.0),
        orders,
        read_ms=T0,
    )
    trader = Desk(access, hl, None, DeskSettings(external_spot={"ETH": 1.5}), wall_ms=lambda: T0)
    binance = fixed_manager(
        "binance",
        AccountRef.binance("sim:test", "fixed"),
        VenueAccount(
            19_907.0, (Position("SOL", 30.0, 134.2, 131.1, 88.4, 3.0, 1_311.0, -93.0),), 3_933.0, 1_311.0, 15.7, None
        ),
    )
    trader.attach(binance)
    trader._day_start = (T0 - T0 % 86_400_000, 99_800.0 + 50_000.0 + 20_000.0)
    trader._day_venues = 2
    trader.note(ActivityLevel.OK, "manual: BUY 0.25 BTC filled @ 88,000.0")
    trader.note(ActivityLevel.WARN, "manual: BUY 2 ETH @ 3,500 Gtc refused: ETH limit 3500 is 16 % from mark")
    trader.note(ActivityLevel.ERROR, "hedge: SELL 30 SOL rejected: Insufficient margin to place order.")
    return trader


async def screen_settled(pilot) -> None:
    """Wait until the pushed screen's footer shows its keys and two screenshots 50 ms apart are
    the same (at most 3 s each). The footer composes its keys after the bindings settle, panels
    sized by their content are laid out again after their first render, and the console below
    keeps flushing: a capture taken before all that is over came out different about one run
    in ten (an empty footer row, a taller panel)."""
    from textual.widgets._footer import FooterKey

    app = pilot.app
    for _ in range(60):
        await pilot.pause(0.05)
        if app.screen.query(FooterKey):
            break
    else:
        raise AssertionError("the screen's footer showed no keys for 3 s")
    last = app.export_screenshot()
    for _ in range(60):
        await pilot.pause(0.05)
        shot = app.export_screenshot()
        if shot == last:
            return
        last = shot
    raise AssertionError("the screen kept changing for 3 s")


def test_trading_screen_snapshot(snap_compare) -> None:
    app = _app(_fixed_trader())

    async def open_trading(pilot) -> None:
        await pilot.pause()
        await pilot.press("t")
        await screen_settled(pilot)
        assert isinstance(app.screen, TradingScreen)

    assert snap_compare(app, terminal_size=(160, 50), run_before=open_trading)


async def test_H_starts_the_harvester_and_the_kill_key_halts_it(trader: Desk) -> None:
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("H")
        await _wait(pilot, lambda: app.harvester is not None and app.harvester.cycles >= 1)
        assert app.harvester.status == "running"
        await pilot.pause(0.3)
        assert "RUNNING" in screen_text(app)
        await pilot.press("ctrl+k")
        await _wait(pilot, lambda: trader.last_kill is not None)
        assert app.harvester.status == "halted"
        await pilot.pause(0.3)
        assert "HALTED" in screen_text(app)
        await pilot.press("H")  # refused while halted
        assert app.harvester.status == "halted"


def test_harvester_panel_snapshot(snap_compare) -> None:
    from pfterm.core.harvest.harvester import Decision, Harvester, HarvestPosition

    trader = _fixed_trader()
    app = _app(trader)
    h = Harvester(trader, now_ms=lambda: T0)
    h.status = "running"
    h.cycles = 42
    h.last_cycle_ms = T0
    h.positions["BTC"] = HarvestPosition(
        "h1", "BTC", "@142", 10142, "short_perp", T0 - 7_200_000, 0.42, 0.0008, 0.25, perp_size=-0.25, spot_size=0.2498
    )
    h.positions["SOL"] = HarvestPosition(
        "h2",
        "SOL",
        None,
        None,
        "short_perp",
        T0 - 3_000_000,
        0.31,
        -0.0004,
        30.0,
        perp_size=-30.0,
        hedge_venue="binance",
        hedge_size=30.0,
    )
    h.decisions.extend(
        [
            Decision(
                T0 - 7_200_000, "BTC", "enter", "APR 42 % (score 0.48, quarter-Kelly 5 %); short 0.25 perp + long spot"
            ),
            Decision(T0 - 3_600_000, "ETH", "skip", "basis 3.4 % beyond the 3 % stop"),
            Decision(T0 - 600_000, "SOL", "exit", "funding flipped: short_perp SOL now pays -0.0046 %/1h (-40 % APR)"),
        ]
    )
    h.funding_usd = 18.42
    app.harvester = h
    assert snap_compare(app, terminal_size=(160, 50), run_before=lambda pilot: pilot.pause())


def _matrix_records():
    """Deterministic cross-venue records and liquidations for the matrix snapshot (venue times
    at the seeded engine's clock)."""
    from pfterm.core.market.models import Liquidation, VenueFunding

    recs = []
    rates = {
        "BTC": (0.0001, 0.00006, 0.00012, 0.0000125),
        "ETH": (0.0002, 0.00015, -0.00005, 0.00002),
        "SOL": (-0.0003, 0.0001, 0.0001, -0.00004),
    }
    for sym, (bn, by, ok, dy) in rates.items():
        for venue, rate, iv in (("binance", bn, 8.0), ("bybit", by, 8.0), ("okx", ok, 8.0), ("dydx", dy, 1.0)):
            nxt = T0 - T0 % (int(iv) * 3_600_000) + int(iv) * 3_600_000
            recs.append(VenueFunding(venue, sym, sym, rate, iv, nxt, None, None, 1000.0, 5e7, T0))
    liqs = [
        Liquidation("binance", "ETH", "ETHUSDT", "long", 40.0, 3000.0, 120_000.0, T0 - 50_000),
        Liquidation("bybit", "ETH", "ETHUSDT", "long", 20.0, 2998.0, 59_960.0, T0 - 40_000),
        Liquidation("okx", "BTC", "BTC-USDT-SWAP", "short", 0.5, 88_000.0, 44_000.0, T0 - 20_000),
    ]
    return recs, liqs


def test_funding_matrix_snapshot(snap_compare) -> None:
    app = _app(None)
    recs, liqs = _matrix_records()
    app.crossvenue.on_venue_funding(recs)
    app.crossvenue.on_liquidations(liqs)

    async def open_matrix(pilot) -> None:
        await pilot.pause()
        await pilot.press("F")
        await screen_settled(pilot)
        assert isinstance(app.screen, MatrixScreen)

    assert snap_compare(app, terminal_size=(160, 50), run_before=open_matrix)


async def test_matrix_basis_toggle_and_best_spread() -> None:
    app = _app(None)
    recs, liqs = _matrix_records()
    app.crossvenue.on_venue_funding(recs)
    app.crossvenue.on_liquidations(liqs)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("F")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, MatrixScreen) and screen.basis == "apr"
        table = screen.query_one("#matrix")
        rows = {r.symbol: r for r in table.rows}
        # SOL per hour: dYdX −0.004 % (hourly) is below Binance's −0.03 %/8 h = −0.00375 %/h;
        # Bybit and OKX +0.01 %/8 h are the highest: long dYdX, short Bybit or OKX
        assert rows["SOL"].best.long_venue == "dydx" and rows["SOL"].best.short_venue in ("bybit", "okx")
        assert set(rows["BTC"].cells) >= {"binance", "bybit", "okx", "dydx", "hyperliquid"}
        text = screen_text(app)
        assert "Funding matrix" in text and "APR" in text and "Liquidations" in text
        await pilot.press("b")
        assert screen.basis == "8h"
        await pilot.pause(0.2)
        assert "per 8 h" in screen_text(app)


async def test_a_liquidation_surge_alert_is_shown() -> None:
    """Every alert kind renders (a surge alert once crashed the alerts panel)."""
    from pfterm.core.market.models import Liquidation

    app = _app(None)
    async with app.run_test(size=(160, 50)) as pilot:
        base = T0 - 40 * 60_000
        calm = [
            Liquidation("binance", "ETH", "ETHUSDT", "long", 1.0, 3000.0, 3000.0, base + i * 60_000) for i in range(35)
        ]
        app.crossvenue.on_liquidations(calm)
        burst = [Liquidation("bybit", "ETH", "ETHUSDT", "long", 100.0, 3000.0, 300_000.0, base + 36 * 60_000 + 1_000)]
        app.crossvenue.on_liquidations(burst)
        await pilot.pause(0.3)
        kinds = [a.kind.value for a in app.engine.alerts]
        assert "liquidations" in kinds
        assert "liquidations $300K/min" in screen_text(app)
