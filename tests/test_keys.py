"""Remapping the console's keys by binding id (``[keys]``, ``ui.kill_key``), with Textual's Pilot:
a remapped key acts and its old key no longer does (main screen, order ticket, dialogs); the
help screen, the footers and the dialogs' hint lines show the remapped keys; the kill key still
works on every screen after remaps; every refused remap is one line (exit 2 from the command
line); ``pfterm keys`` lists every id.

The desk test talks to a simulator server on 127.0.0.1; the market panels are fed by the seeded
engine of :mod:`tests.seeded`."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Checkbox, Input, Static

from pfterm.core.market.models import MarketInfo, OrderIntent
from pfterm.core.runtime.config import ConfigError, Settings, load_settings
from pfterm.core.sim.market import MarketModel
from pfterm.core.sim.server import SimulatorServer
from pfterm.core.sim.snapshot import load_snapshot
from pfterm.core.trading.desk import Desk, DeskSettings
from pfterm.core.trading.journal import Journal
from pfterm.core.trading.portfolio import (
    KillPhase,
    KillStatus,
    PortfolioView,
    RebalanceView,
    TicketQuote,
    TicketRequest,
    TradingView,
)
from pfterm.core.trading.risk import RiskLimits, TradingState
from pfterm.core.trading.ticket import quote_ticket
from pfterm.core.venues.hyperliquid.signing import Signer
from pfterm.tui.app import PftermApp
from pfterm.tui.bindings import (
    APP_BINDINGS,
    KILL_ID,
    console_bindings,
    console_keymap,
    help_rows,
    places,
    remap_problem,
    trading_bindings,
)
from pfterm.tui.cli import main
from pfterm.tui.screens import DetailScreen, HelpScreen, MatrixScreen, TradingScreen
from pfterm.tui.trade_screens import HedgeScreen, OrderTicketScreen, QuitScreen, RebalanceScreen
from pfterm.widgets.market_table import MarketTable
from pfterm.widgets.trading import ActivityLog, KillBanner, OpenOrdersPanel, PortfolioPanel, PositionsPanel
from tests.conftest import StartSimulator
from tests.desks import desk_on
from tests.seeded import T0, FrozenMono, seeded_engine
from tests.test_tui import screen_text

CONSOLE_MODULES = (
    "pfterm.tui.app",
    "pfterm.tui.screens",
    "pfterm.tui.trade_screens",
    "pfterm.widgets.detail",
    "pfterm.widgets.harvest",
    "pfterm.widgets.market_table",
    "pfterm.widgets.matrix",
    "pfterm.widgets.panels",
    "pfterm.widgets.trading",
)
BTC = MarketInfo("hyperliquid", "BTC", 0, 5, 40)
MARK = 87_487.0
LIMITS = RiskLimits(max_market_share=1.0, max_order_notional_usd=1e7, max_position_notional_usd=1e7, max_leverage=20)


def _settings(keys: dict[str, str] | None = None, **ui: object) -> Settings:
    settings = Settings()
    if keys is not None:
        settings.keys = keys  # validated on assignment, as the config file is
    for name, value in ui.items():
        setattr(settings.ui, name, value)
    return settings


def _app(settings: Settings, desk: Desk | None = None) -> PftermApp:
    mono = FrozenMono()
    engine, _model, _settings_unused, endpoint = seeded_engine(mono, cascade=None)
    return PftermApp(settings, engine=engine, endpoint=endpoint, start_feed=False, mono=mono, desk=desk)


def _quote(request: TicketRequest) -> TicketQuote:
    return quote_ticket(request, market=BTC, mark_px=MARK, order_slippage=0.01, check=lambda _intent: None)


def _hint(app: PftermApp) -> str:
    """The dialog's key hint line."""
    return str(app.screen.query_one(".trade-footer", Static).content)


# ---------------------------------------------------------------------------- ids


def test_every_binding_of_the_console_has_a_dotted_id() -> None:
    declared: list[Binding] = [*APP_BINDINGS, *trading_bindings()]
    for name in CONSOLE_MODULES:
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if isinstance(obj, type) and obj.__module__ == name and "BINDINGS" in obj.__dict__:
                declared += obj.__dict__["BINDINGS"]
    assert declared
    for b in declared:
        assert isinstance(b, Binding) and b.id and "." in b.id and " " not in b.id, b
    # one id, one set of default keys wherever it is declared (the kill key's footer copies)
    keys: dict[str, str] = {}
    for b in declared:
        assert keys.setdefault(b.id, b.key) == b.key, b.id  # type: ignore[arg-type]
    known = console_bindings()
    # every id that acts somewhere is listed; the option widget's own keys act nowhere (the order
    # ticket's fields take no focus: its ticket.* keys move between options)
    assert set(keys) - set(known) == {"choice.previous", "choice.next"}
    assert {"app.kill", "markets.order_ticket", "ticket.send", "rows.up", "quit.yes"} <= set(known)


def test_the_default_keys_pass_the_check_and_make_no_keymap() -> None:
    known = console_bindings()
    assert remap_problem({i: ",".join(info.keys) for i, info in known.items()}) is None
    assert console_keymap(Settings()) == {}
    # a remap to the default keys is no remap (a keymap entry would move the binding in the footer)
    assert console_keymap(_settings({"app.kill": "ctrl+k", "markets.sort": "s"}, kill_key="ctrl+k")) == {}
    assert console_keymap(_settings({"app.help": "f1,question_mark"})) == {"app.help": "f1,question_mark"}


async def test_places_cover_every_focusable_widget_of_every_screen() -> None:
    app = _app(Settings())
    covered = {(p.screen_class, p.focus_class) for p in places()}
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        screens: list[Screen] = [
            HelpScreen(help_rows()),
            DetailScreen(),
            TradingScreen(),
            MatrixScreen(),
            HedgeScreen("BTC", None),
            RebalanceScreen(RebalanceView()),
            QuitScreen(1, 0, "sim", True),
            OrderTicketScreen("BTC", MARK, _quote),
        ]
        main_chain = [type(w) for w in app.screen.focus_chain]
        assert main_chain and all((None, cls) in covered for cls in main_chain), main_chain
        for screen in screens:
            await app.push_screen(screen)
            for _ in range(100):  # under load a pause can end before the screen's mount
                await pilot.pause()
                if screen.is_mounted:
                    break
            await pilot.pause()
            chain = [type(w) for w in screen.focus_chain]
            assert all((type(screen), cls) in covered for cls in chain), (screen, chain)
            if not chain:
                assert (type(screen), None) in covered, screen
            app.pop_screen()
            await pilot.pause()


async def test_a_screen_shown_before_its_mount_or_after_its_teardown_skips_the_view() -> None:
    # the console's flush timer can fire between a push and the screen's mount, and while the
    # app closes: a view then must not raise (it would end the console with a traceback)
    app = _app(Settings())
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        view = TradingView(
            portfolio=PortfolioView(account=None, network="mainnet", read_only="no key", state=TradingState.ACTIVE)
        )
        for screen in (TradingScreen(), DetailScreen(), MatrixScreen()):
            app.push_screen(screen)  # not awaited: not mounted yet
            if isinstance(screen, TradingScreen):
                screen.show(view, 0)
            elif isinstance(screen, DetailScreen):
                screen.show(None)
            else:
                screen.show((), [], 0, ((), 0))
            await pilot.pause()
            assert screen.is_mounted
            app.pop_screen()
            await pilot.pause()


# ---------------------------------------------------------------------------- remapped keys act


async def test_remapped_main_screen_keys_act_and_the_old_keys_do_not() -> None:
    app = _app(_settings({"app.help": "f1", "markets.sort": "x", "markets.down": "ctrl+n", "app.filter": "ctrl+f"}))
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.query_one(MarketTable)
        sort, first = table.sort_key, table.selected
        await pilot.press("s", "j", "down")  # the old keys: nothing
        assert (table.sort_key, table.selected) == (sort, first)
        await pilot.press("ctrl+n")
        assert table.selected != first
        await pilot.press("x")
        assert table.sort_key != sort
        # the footer: the new keys, in the same order as ever (the kill key first of the console's)
        assert "x Sort  ^k KILL  f1 Help  ^f Filter  d Detail" in screen_text(app)
        await pilot.press("question_mark")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        rows = help_rows(app.key_remaps)
        assert ("f1", "Help", "anywhere") in rows and ("x", "Sort", "markets") in rows
        assert ("ctrl+n", "Down", "markets") in rows
        text = screen_text(app)
        assert "f1" in text and "ctrl+n" in text and "Type ctrl+f to filter markets by name" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("slash")
        assert not isinstance(app.focused, Input)
        await pilot.press("ctrl+f")
        assert isinstance(app.focused, Input)


async def test_remapped_ticket_keys_act_in_order_and_the_hint_shows_them() -> None:
    app = _app(_settings({"ticket.sell": "x", "ticket.next_field": "ctrl+n", "ticket.send": "ctrl+s"}))
    results: list[OrderIntent | None] = []
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        await app.push_screen(OrderTicketScreen("BTC", MARK, _quote), results.append)
        await pilot.pause()
        ticket = app.screen
        assert isinstance(ticket, OrderTicketScreen)
        hint = _hint(app)
        assert hint.startswith("ctrl+s send · Esc cancel · ctrl+n/shift+Tab/↑ field · ←→ option · b/x side")
        await pilot.press("shift+tab", "shift+tab")  # size → type → side
        assert ticket.active == "side"
        await pilot.press("s")  # the old sell key: nothing
        assert ticket._choice("side").value == "buy"
        await pilot.press("x")
        assert ticket._choice("side").value == "sell"
        await pilot.press("tab", "down")  # the old next-field keys: nothing
        assert ticket.active == "side"
        await pilot.press("ctrl+n", "m", "ctrl+n", "0", ".", "5")  # type: market; size 0.5
        assert ticket.active == "size" and ticket.order_type == "market" and ticket.sendable
        await pilot.press("enter")  # the old send key: nothing
        assert not ticket.closed and not results
        await pilot.press("ctrl+s")
        await pilot.pause()
        [intent] = results
        assert intent is not None and not intent.is_buy and intent.size == 0.5 and intent.tif == "Ioc"


async def test_swapped_ticket_keys() -> None:
    app = _app(_settings({"ticket.buy": "s", "ticket.sell": "b"}))
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        await app.push_screen(OrderTicketScreen("BTC", MARK, _quote))
        await pilot.pause()
        ticket = app.screen
        assert isinstance(ticket, OrderTicketScreen)
        assert "s/b side" in _hint(app)
        await pilot.press("shift+tab", "b")
        assert ticket._choice("side").value == "sell"
        await pilot.press("s")
        assert ticket._choice("side").value == "buy"


async def test_remapped_dialog_keys_act_and_their_hints_show_them() -> None:
    app = _app(_settings({"hedge.send": "y", "hedge.cancel": "n", "quit.yes": "Y,enter"}))
    results: list[object] = []
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        await app.push_screen(HedgeScreen("BTC", None), results.append)
        await pilot.pause()
        assert "y / n close" in _hint(app)
        await pilot.press("enter", "escape")  # the old keys: nothing
        assert isinstance(app.screen, HedgeScreen) and not results
        await pilot.press("n")
        assert not isinstance(app.screen, HedgeScreen) and results == [False]
        await app.push_screen(QuitScreen(1, 0, "sim", True), results.append)
        await pilot.pause()
        assert "Y / Enter quit · n / Esc stay" in _hint(app)
        await pilot.press("y")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("Y")
        assert results == [False, True]


async def test_the_kill_key_still_works_on_every_screen_after_remaps() -> None:
    remaps = {
        "app.kill": "f12",
        "app.help": "f1",
        "ticket.send": "ctrl+s",
        "hedge.send": "y",
        "trading.close": "ctrl+t",
    }
    app = _app(_settings(remaps))
    kills: list[str] = []

    def kill() -> None:  # what the kill switch does to the screens, recorded
        kills.append(type(app.screen).__name__ if not isinstance(app.focused, Input) else "filter")
        while len(app.screen_stack) > 1:
            app.pop_screen()

    app.action_kill = kill  # type: ignore[method-assign]
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        main = app.screen

        async def check(name: str) -> None:
            await pilot.pause()
            screen, before = app.screen, len(kills)
            await pilot.press("ctrl+k")  # the old kill key: nothing
            assert app.screen is screen and len(kills) == before, name
            await pilot.press("f12")
            await pilot.pause()
            assert kills[before:] == [name] and app.screen is main, (name, kills)

        for widget in (MarketTable, PositionsPanel, OpenOrdersPanel, ActivityLog):
            main.query_one(widget).focus()
            await check("Screen")
        main.query_one("#alerts-box", VerticalScroll).focus()
        await check("Screen")
        await pilot.press("slash", "b")  # typing in the filter
        assert isinstance(app.focused, Input)
        await check("filter")
        await pilot.press("escape")
        for key, screen_class in (("f1", HelpScreen), ("d", DetailScreen), ("t", TradingScreen), ("F", MatrixScreen)):
            await pilot.press(key)
            assert isinstance(app.screen, screen_class), key
            await check(screen_class.__name__)
        for screen in (
            HedgeScreen("BTC", None),
            RebalanceScreen(RebalanceView()),
            QuitScreen(1, 1, "sim", True),
            OrderTicketScreen("BTC", MARK, _quote),
        ):
            await app.push_screen(screen)
            if isinstance(screen, OrderTicketScreen):
                await pilot.press("1")  # typing in the size field
            await check(type(screen).__name__)
        assert len(kills) == 14
        # the footers show the new kill key: the main screen's, the trading screen's own
        assert "f12 KILL" in screen_text(app)
        await pilot.press("t")
        await pilot.pause()
        assert "f12 KILL" in screen_text(app) and "^k" not in screen_text(app)


@pytest.fixture
async def trader(start_simulator: StartSimulator, tmp_path: Path) -> AsyncIterator[Desk]:
    model = MarketModel(load_snapshot(), seed=5, start_ms=T0, cascade_rate_per_hour=0.0)
    server = await start_simulator(SimulatorServer(model, speed=0.0, tick_hz=50.0, starting_usdc=100_000.0))
    journal = Journal(tmp_path / "journal.sqlite")
    desk = desk_on(
        server.http_url or "",
        Signer.generate(),
        journal,
        DeskSettings(limits=LIMITS, kill_deadline_s=5.0),
        timeout_s=5.0,
    )
    await desk.start()
    try:
        yield desk
    finally:
        await desk.aclose()
        journal.close()


async def test_a_kill_key_remapped_in_keys_flattens_from_inside_the_order_ticket(trader: Desk) -> None:
    mark = trader.mark("BTC")
    intents = [
        trader.quote(TicketRequest("BTC", True, 1_500, True, None, "Ioc", False, "market")).intent,
        trader.quote(TicketRequest("BTC", True, 200, True, mark * 0.9, "Gtc", False, "limit")).intent,
    ]
    outcomes = await trader.submit(intents)
    assert all(o.status in ("filled", "resting") for o in outcomes), [o.message for o in outcomes]
    await trader.refresh()
    app = _app(_settings({KILL_ID: "f12,ctrl+x"}), desk=trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        app.table.select("BTC")
        await pilot.press("o", "1")
        assert isinstance(app.screen, OrderTicketScreen)
        await pilot.press("ctrl+k")
        await pilot.pause(0.2)
        assert trader.last_kill is None and isinstance(app.screen, OrderTicketScreen)
        await pilot.press("ctrl+x")  # the second of the two keys
        assert not isinstance(app.screen, OrderTicketScreen)
        for _ in range(400):
            if trader.last_kill is not None:
                break
            await pilot.pause(0.02)
        report = trader.last_kill
        assert report is not None and report.flat and report.cancelled == 1 and len(report.closed) == 1


# ---------------------------------------------------------------------------- refused remaps

REFUSED = [
    ('"app.nope" = "f5"', "[keys] app.nope: no key binding has this id ('pfterm keys' lists them)"),
    ('"app.help" = "ctrl+shift+k"', "[keys] app.help = 'ctrl+shift+k' is not a key a terminal sends"),
    ('"app.help" = "ctrl+i"', "[keys] app.help = 'ctrl+i' cannot be told apart: terminals send it as tab"),
    ('"app.kill" = "k"', "[keys] app.kill = 'k' types a character: it would act while typing in the filter"),
    ('"ticket.send" = "x"', "[keys] ticket.send = 'x' types a character: it would act while typing in the order"),
    ('"app.help" = "s"', "[keys] app.help = 's' is already Sort (markets)"),
    ('"matrix.basis" = "s"', "[keys] matrix.basis = 's' is already Sort (funding matrix)"),
    ('"rows.up" = "c"', "[keys] rows.up = 'c' is already Cancel order (open orders)"),
    ('"ticket.buy" = "s"', "[keys] ticket.buy = 's' is already Sell (order ticket)"),
    ('"markets.sort" = "ctrl+k"', "[keys] markets.sort = 'ctrl+k' is already KILL (anywhere)"),
    ('"hedge.send" = "ctrl+k"', "[keys] hedge.send = 'ctrl+k' is already KILL (anywhere)"),
    ('"app.kill" = "ctrl+s"', "[keys] app.kill = 'ctrl+s' is already Screenshot (main screen)"),
    ('"app.kill" = "f5,ctrl+q"', "[keys] app.kill = 'ctrl+q' is already Quit (anywhere)"),
    ('"app.kill" = "f5"\n"app.help" = "f5"', "[keys] app.kill = 'f5' is also [keys] app.help"),
    (
        '"app.kill" = "f12"\n[ui]\nkill_key = "ctrl+x"',
        "ui.kill_key = 'ctrl+x' and [keys] app.kill = 'f12' disagree: set the kill key in one place",
    ),
]


@pytest.mark.parametrize(("entries", "message"), REFUSED)
def test_a_refused_remap_stops_the_console_with_one_line(tmp_path: Path, entries: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[keys]\n{entries}\n")
    settings = load_settings(path)
    with pytest.raises(ConfigError) as exc:
        _app(settings)
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


@pytest.mark.parametrize(("entries", "message"), REFUSED[::3])
def test_a_refused_remap_exits_2_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entries: str, message: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[keys]\n{entries}\n")
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pfterm: error: {message}") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ('app.help = "ctrl+zz"', "config.toml: keys.app.help: 'ctrl+zz': 'zz' is not a key"),
        ('"app.help" = "f1,f1"', "config.toml: keys.app.help: 'f1,f1' lists a key twice"),
        ('"app.help" = "f1,"', "config.toml: keys.app.help: no key given"),
        ('"app.help" = 1', "config.toml: keys.app.help: 1 is not a key name"),
    ],
)
def test_a_misspelt_key_fails_when_the_config_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entries: str, message: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[keys]\n{entries}\n")
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace("+", r"\+")):
        load_settings(path)
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pfterm: error: {message}") and err.count("\n") == 1


def test_dotted_ids_unquoted_and_key_spellings(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[ui]\nkill_key = "F12"\n[keys]\napp.kill = "f12"\napp.help = "?, F1"\n[keys.ticket]\nsend = "ctrl+s"\n'
    )
    settings = load_settings(path)
    assert settings.keys == {"app.kill": "f12", "app.help": "question_mark,f1", "ticket.send": "ctrl+s"}
    assert console_keymap(settings) == {"app.kill": "f12", "app.help": "question_mark,f1", "ticket.send": "ctrl+s"}
    # ui.kill_key alone is the app.kill binding
    assert console_keymap(_settings(kill_key="ctrl+x")) == {KILL_ID: "ctrl+x"}


# ---------------------------------------------------------------------------- pfterm keys


def test_pfterm_keys_lists_every_id_with_its_default_and_configured_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[keys]\n"app.help" = "f1"\n')
    assert main(["keys", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip() and "." in line.split()[0]}
    assert set(console_bindings()) <= set(rows)
    assert out.splitlines()[0].split() == ["id", "keys", "where", "action"]
    assert "question_mark → f1" in rows["app.help"]
    assert "ctrl+k" in rows[KILL_ID] and "anywhere, even in dialogs" in rows[KILL_ID]
    assert "tab,down" in rows["ticket.next_field"] and "order ticket" in rows["ticket.next_field"]
    assert "positions, open orders, trading screen, funding matrix" in rows["rows.up"]
    # an unusable remap: the table still lists the ids, and the problem is one line (exit 2)
    path.write_text('[keys]\n"app.nope" = "f1"\n')
    assert main(["keys", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert "app.kill" in captured.out and captured.err.startswith("pfterm: error: [keys] app.nope: no key binding")


async def test_the_default_hints_are_unchanged() -> None:
    app = _app(Settings())
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        for screen, hint in (
            (
                OrderTicketScreen("BTC", MARK, _quote),
                "Enter send · Esc cancel · Tab/↑↓ field · ←→ option · b/s side · l/m type",
            ),
            (HedgeScreen("BTC", None), "Enter / Esc close"),
            (RebalanceScreen(RebalanceView()), "Enter / Esc close"),
            (QuitScreen(1, 0, "sim", True), "y / Enter quit · n / Esc stay"),
        ):
            await app.push_screen(screen)
            await pilot.pause()
            assert _hint(app) == hint
            app.pop_screen()
        assert "^k KILL" in screen_text(app) and "? Help" in screen_text(app)


async def test_a_remapped_kill_key_keeps_its_place_first_in_an_80_column_footer() -> None:
    app = _app(_settings({"app.kill": "f12", "app.quit": "ctrl+k"}))  # the kill's old key is free again
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        footer = [line for line in screen_text(app).splitlines() if "KILL" in line]
        assert footer and footer[0].lstrip().startswith("s Sort  f12 KILL  ? Help"), footer


async def test_the_ticket_default_keys_keep_their_meaning() -> None:
    app = _app(Settings())
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        await app.push_screen(OrderTicketScreen("BTC", MARK, _quote))
        await pilot.pause()
        t = app.screen
        assert isinstance(t, OrderTicketScreen) and t.active == "size"
        size = t._input("size")
        # a text field: characters are typed (b, s, l, m and space too), Backspace and ctrl+u edit,
        # arrows left / right do nothing
        await pilot.press("1", "b", "s", "space", "l", "m", "left", "right")
        assert size.value == "1bs lm" and t._choice("side").value == "buy" and t.order_type == "limit"
        await pilot.press("backspace", "backspace")
        assert size.value == "1bs "
        await pilot.press("ctrl+u", "0", ".", "5")
        assert size.value == "0.5"
        # the option fields: b / s side, l / m type, left / right / space step
        await pilot.press("up", "up")
        assert t.active == "side"
        await pilot.press("s")
        assert t._choice("side").value == "sell"
        await pilot.press("left")
        assert t._choice("side").value == "buy"
        await pilot.press("space")
        assert t._choice("side").value == "sell"
        await pilot.press("m")
        assert t.order_type == "market"
        await pilot.press("down")
        assert t.active == "type"
        await pilot.press("right")
        assert t.order_type == "limit"
        await pilot.press("space")
        assert t.order_type == "market"
        await pilot.press("l", "tab", "tab", "tab")
        assert t.active == "tif"
        tif = t._choice("tif").value
        await pilot.press("right")
        assert t._choice("tif").value != tif
        await pilot.press("left")
        assert t._choice("tif").value == tif
        # reduce-only: space turns it on and off, left / right do nothing
        await pilot.press("tab", "left", "right")
        reduce = t.query_one("#ticket-reduce", Checkbox)
        assert t.active == "reduce" and not reduce.value
        await pilot.press("space")
        assert reduce.value
        await pilot.press("space")
        assert not reduce.value
        await pilot.press("escape")
        assert not isinstance(app.screen, OrderTicketScreen)


async def test_the_kill_banner_and_portfolio_name_the_remapped_resume_and_hide_keys() -> None:
    app = _app(_settings({"app.resume": "ctrl+r", "app.clear": "f9"}))
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        banner = app.query_one(KillBanner)
        assert (banner.resume_key, banner.hide_key) == ("ctrl+r", "f9")
        assert app.query_one("#portfolio", PortfolioPanel).resume_key == "ctrl+r"
        status = KillStatus(KillPhase.FLAT, rounds=1, elapsed_ms=95, cancelled=2, closed=(), failures=(), message="")
        text = banner.render_status(status, resume_key=banner.resume_key, hide_key=banner.hide_key).plain
        assert "ctrl+r resume · f9 fold" in text
        folded = banner.render_status(status, resume_key=banner.resume_key, hide_key=banner.hide_key, folded=True)
        assert folded.plain.endswith("ctrl+r resume · f9 hide")
    # without remaps: the keys as ever
    default = _app(_settings({}))
    async with default.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        banner = default.query_one(KillBanner)
        assert (banner.resume_key, banner.hide_key) == ("R", "Esc")
