"""The kill banner after a kill: it leads with the trading state and the result, folds to one line
(Esc, or by itself after a while) without ever covering the markets header at 80×24, a running
kill's banner stays; ``R`` says what it does, and asks before restarting a halted harvester."""

from __future__ import annotations

import pytest

from pfterm.core.trading.desk import Desk
from pfterm.core.trading.portfolio import KillPhase, KillStatus
from pfterm.core.trading.risk import TradingState
from pfterm.tui.app import PftermApp
from pfterm.tui.trade_screens import HarvesterRestartScreen
from pfterm.widgets.trading import KillBanner
from tests.seeded import FrozenMono
from tests.test_tui import screen_text
from tests.test_tui_trading import _app, _fixed_trader, _open_book, _wait, server, trader

__all__ = ["server", "trader"]  # the simulator and the desk on it, as pytest fixtures

FLAT = KillStatus(KillPhase.FLAT, 2, 450, 6, tuple(f"C{i} sold 1 @ 100" for i in range(4)), (), "")
FAILED = KillStatus(KillPhase.FAILED, 5, 5_000, 2, ("BTC sold 0.25 @ 88,000",), ("ETH -4 still open",), "deadline")
RUNNING = KillStatus(KillPhase.RUNNING, 1, 120, 3, (), (), "kill switch engaged", deadline_mono=10_000.0)


def _notes(app: PftermApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def _header_shown(app: PftermApp) -> bool:
    """Whether the markets table's column header is on screen."""
    return any("Market" in line and "Fund/h" in line for line in screen_text(app).splitlines())


async def _show(app: PftermApp, desk: Desk, status: KillStatus | None, pilot) -> KillBanner:
    desk.kill_status = status
    app.flush()
    await pilot.pause()
    return app.kill_banner


async def test_a_real_kill_leads_with_halted_and_the_result(trader: Desk) -> None:
    await _open_book(trader)
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+k")
        await _wait(pilot, lambda: trader.last_kill is not None)
        await pilot.pause(0.3)
        elapsed = f"{trader.kill_status.elapsed_ms / 1000:.2f} s"
        text = screen_text(app)
        assert f"HALTED · FLAT in {elapsed}: 3 positions closed, 3 orders cancelled · R resume · Esc fold" in text
        assert "✓ " in text


async def test_esc_folds_to_one_line_then_hides_and_the_markets_header_stays_at_80x24() -> None:
    desk = _fixed_trader()
    app = _app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        banner = await _show(app, desk, FLAT, pilot)
        assert banner.display and banner.region.height == 5 and _header_shown(app)
        # 80 columns: the headline is written short, so that it fits one line with its keys
        assert "HALTED · FLAT in 0.45 s · 4 closed, 6 cancelled · R resume · Esc fold" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert banner.is_folded and banner.region.height == 1
        text = screen_text(app)
        assert "HALTED · FLAT in 0.45 s · 4 closed, 6 cancelled · R resume · Esc hide" in text
        assert "C0 sold" not in text and _header_shown(app)
        app.flush()  # the same status again: it stays folded
        await pilot.pause()
        assert banner.is_folded
        await pilot.press("escape")
        await pilot.pause()
        assert not banner.display and "HALTED · FLAT" not in screen_text(app)
        # a new kill's banner opens again
        banner = await _show(app, desk, FAILED, pilot)
        assert banner.display and not banner.is_folded
        text = screen_text(app)
        assert "HALTED · KILL FAILED: 1 closed, 2 cancelled, 1 failed · R resume · Esc fold" in text
        assert "✗ ETH -4 still open" in text and _header_shown(app)


async def test_a_flat_banner_folds_by_itself_after_15_s_a_failed_one_stays_open() -> None:
    mono = FrozenMono()
    desk = _fixed_trader()
    app = _app(desk, mono)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        banner = await _show(app, desk, FLAT, pilot)
        assert not banner.is_folded
        assert "HALTED · FLAT in 0.45 s: 4 positions closed, 6 orders cancelled · R resume · Esc fold" in screen_text(
            app
        )
        mono.t += KillBanner.FOLD_AFTER_S - 0.1
        app.flush()
        await pilot.pause()
        assert not banner.is_folded and banner.region.height == 5
        mono.t += 0.2
        app.flush()
        await pilot.pause()
        assert banner.is_folded and banner.region.height == 1
        assert "Esc hide" in screen_text(app)
        banner = await _show(app, desk, FAILED, pilot)
        mono.t += 60
        app.flush()
        await pilot.pause()
        assert banner.display and not banner.is_folded and "✗ ETH -4 still open" in screen_text(app)


async def test_a_running_kill_cannot_be_folded_or_hidden() -> None:
    mono = FrozenMono()
    desk = _fixed_trader()
    app = _app(desk, mono)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        banner = await _show(app, desk, RUNNING, pilot)
        await pilot.press("escape", "escape")
        mono.t += 60
        app.flush()
        await pilot.pause()
        assert banner.display and not banner.is_folded and not banner.fold() and not banner.hide()
        assert "KILL SWITCH — round 1, 120ms" in screen_text(app)


async def test_R_when_already_active_says_so_and_changes_nothing(trader: Desk) -> None:
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        before = trader.state_record
        events = len(trader.journal.events())
        await pilot.press("R")
        await pilot.pause()
        assert _notes(app) == ["trading is already active"]
        assert trader.state is TradingState.ACTIVE and trader.state_record == before
        assert len(trader.journal.events()) == events


@pytest.mark.parametrize("answer", ["y", "n"])
async def test_resume_after_a_kill_that_halted_the_harvester_asks_to_restart_it(trader: Desk, answer: str) -> None:
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("H")
        await _wait(pilot, lambda: app.harvester is not None and app.harvester.cycles >= 1)
        await pilot.press("ctrl+k")
        await _wait(pilot, lambda: trader.last_kill is not None)
        await pilot.pause(0.1)
        assert app.harvester.status == "halted"
        await pilot.press("R")
        await pilot.pause()
        assert trader.state is TradingState.ACTIVE and "trading ACTIVE again" in _notes(app)
        assert isinstance(app.screen, HarvesterRestartScreen)
        assert "y / Enter restart · n / Esc leave stopped" in screen_text(app)
        await pilot.press(answer)
        await pilot.pause()
        assert not isinstance(app.screen, HarvesterRestartScreen)
        if answer == "y":
            assert app.harvester.status == "running"
            await _wait(pilot, lambda: app.harvester.cycles >= 2)
        else:
            assert app.harvester.status == "stopped"
            assert "harvester stays stopped; H starts it" in _notes(app)
