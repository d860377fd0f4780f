"""Console behaviour with Textual's Pilot, and deterministic SVG snapshots of the main screen."""

from __future__ import annotations

import html
import re

import pytest

from pfterm.core.market.models import AlertKind
from pfterm.tui.app import PftermApp
from pfterm.tui.screens import DetailScreen, HelpScreen
from pfterm.widgets.market_table import MarketTable
from tests.seeded import FrozenMono, seeded_engine


def screen_text(app: PftermApp) -> str:
    """What is on the terminal right now, as plain text (from Textual's own SVG export)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


def make_app(**kw) -> PftermApp:
    mono = FrozenMono()
    engine, _model, settings, endpoint = seeded_engine(mono, **kw)
    return PftermApp(settings, engine=engine, endpoint=endpoint, start_feed=False, mono=mono)


async def test_markets_listed_sorted_by_abs_funding_and_cascade_alert_shown() -> None:
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.query_one(MarketTable)
        assert len(table.order) == 189  # every listed market, delisted hidden
        aprs = [abs(table.rows[s].funding_apr) for s in table.order]
        assert aprs == sorted(aprs, reverse=True)
        cascades = [a for a in app.engine.alerts if a.kind is AlertKind.CASCADE]
        assert [a.symbol for a in cascades] == ["ETH"]
        assert cascades[0].oi_change < -0.03 and cascades[0].price_change < -0.02
        text = screen_text(app)
        assert "ETH" in text and "cascade" in text and table.order[0] in text


@pytest.mark.parametrize(
    ("presses", "key", "descending"),
    [(1, "funding", True), (2, "oi", True), (3, "oi_change", True), (4, "volume", True), (5, "symbol", False)],
)
async def test_sort_cycle(presses: int, key: str, descending: bool) -> None:
    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)) as pilot:
        for _ in range(presses):
            await pilot.press("s")
        table = app.query_one(MarketTable)
        assert (table.sort_key, table.sort_desc) == (key, descending)
        rows = [table.rows[s] for s in table.order]
        if key == "symbol":
            assert [r.symbol.lower() for r in rows] == sorted(r.symbol.lower() for r in rows)
        elif key == "oi":
            assert [r.oi_usd for r in rows] == sorted((r.oi_usd for r in rows), reverse=True)
        await pilot.press("S")
        assert table.sort_desc is not descending


async def test_filter_by_typing_then_escape_clears() -> None:
    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("slash", "e", "t", "h")
        table = app.query_one(MarketTable)
        assert table.order and all("eth" in s.lower() for s in table.order)
        assert "ETH" in table.order
        await pilot.press("enter")
        assert table.has_focus and table.filter_text == "eth"
        await pilot.press("escape")
        assert len(table.order) == 189


async def test_cursor_selects_market_and_detail_follows() -> None:
    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)) as pilot:
        table = app.query_one(MarketTable)
        first = table.selected
        assert first == table.order[0]
        await pilot.press("down", "down")
        assert table.selected == table.order[2] and app.engine.selected == table.order[2]
        await pilot.press("end")
        assert table.selected == table.order[-1]
        await pilot.press("home")
        assert table.selected == first
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)


async def test_help_lists_every_binding() -> None:
    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for b in (*app.BINDINGS, *MarketTable.BINDINGS):
            assert b.description in text
        # the main screen keeps updating underneath the modal
        app.engine.on_ctx(app.engine.store.get("BTC").ctx)
        app.flush()
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_offers_actions() -> None:
    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)):
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for needle in ("Sort by funding", "Sort by open interest", "Filter markets", "Market detail", "Key bindings"):
            assert needle in titles


async def test_narrow_layout_hides_detail_and_keeps_core_columns() -> None:
    app = make_app(cascade=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.has_class("-narrow")
        table = app.query_one(MarketTable)
        keys = [c.key for c in table._fit_columns(table.size.width)]
        assert {"symbol", "mark", "funding", "apr", "next", "oi"} <= set(keys)


async def settle(pilot) -> None:
    """Let layout, the first flushes and the plots' re-renders finish before the capture."""
    await pilot.pause()
    await pilot.pause(0.5)
    await pilot.pause()


def test_main_screen_160x50(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 50), run_before=settle)


def test_main_screen_80x24(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=settle)


async def test_a_covered_main_screen_does_no_work_and_catches_up_when_shown() -> None:
    from dataclasses import replace

    app = make_app(cascade=None)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.query_one(MarketTable)
        shown = table.rows["BTC"].mark
        updates: list[int] = []
        original = table.update_rows

        def counting(rows):  # every call from the console's flush
            updates.append(len(rows))
            return original(rows)

        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        # counted from the moment the help covers the main screen (a timer flush may land
        # between the key and the push, while the main screen still shows)
        table.update_rows = counting  # type: ignore[method-assign]
        ctx = app.engine.store.get("BTC").ctx
        app.engine.on_ctx(replace(ctx, mark_px=shown * 1.01))
        for _ in range(20):  # 2.5 s of flushes at 8 Hz with the help on top
            app.flush()
        assert updates == [] and table.rows["BTC"].mark == shown
        await pilot.press("escape")
        await pilot.pause()
        app.flush()
        assert updates and table.rows["BTC"].mark == pytest.approx(shown * 1.01)


async def test_ctrl_s_saves_the_screenshot_in_the_private_screenshot_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "shots" / "pfterm"
    app = make_app(cascade=None)
    app.settings.ui.screenshot_dir = folder
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = list(folder.glob("*.svg"))
        assert len(saved) == 1 and (folder.stat().st_mode & 0o777) == 0o700
        assert not list(tmp_path.glob("*.svg"))  # never the current directory
        assert any(str(saved[0]) in str(n.message) for n in app._notifications)
        (tmp_path / "blocked").write_text("a file, not a folder")
        app.settings.ui.screenshot_dir = tmp_path / "blocked" / "x"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert any("screenshot not saved" in str(n.message) for n in app._notifications)
