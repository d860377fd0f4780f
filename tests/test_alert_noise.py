"""Alerts in the console inform without nagging: a burst of repeats is one toast, one bell and
one line ``×N``; the bell rings only for the chosen kinds; the cap summarises; toasts cover
neither the status bar nor the Activity panel."""

from __future__ import annotations

import io

from rich.console import Console

from pfterm.core.market.models import Alert, AlertKind
from pfterm.tui.app import PftermApp
from pfterm.widgets.panels import AlertsPanel, StatusBar
from pfterm.widgets.trading import ActivityLog
from tests.test_tui import make_app


def instrument(app: PftermApp) -> list[int]:
    """Count the app's bells (returned list grows by one per bell)."""
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    return bells


async def settle(pilot, app: PftermApp) -> None:
    for _ in range(3):
        await pilot.pause()
    app.flush()
    await pilot.pause()


def panel_lines(panel: AlertsPanel) -> list[str]:
    """The Alerts panel's lines as plain text."""
    console = Console(width=panel.size.width, record=True, file=io.StringIO())
    console.print(panel.content)
    return console.export_text().splitlines()


def toasts(app: PftermApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def test_a_burst_of_twenty_repeats_is_one_toast_one_bell_and_one_line() -> None:
    app = make_app()
    bells = instrument(app)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        t = app.engine.clock.now_ms()
        for i in range(20):
            # a stream: one venue second and three wall seconds apart (the simulator at ×1/3 ...
            # or a slow terminal): still within the repeat window of the first
            app.engine.raise_alert(Alert(AlertKind.CASCADE, "SOL", t + i * 1000, f"SOL cascade #{i}"))
            app.mono.t += 3.0
            await pilot.pause()
        await settle(pilot, app)
        assert toasts(app) == ["cascade: SOL cascade #0"]
        assert len(bells) == 1
        sol = [line for line in panel_lines(app.alerts_panel) if " SOL " in line]
        assert len(sol) == 1 and "cascade ×20" in sol[0], sol


async def test_a_kind_outside_bell_kinds_is_toasted_without_the_bell() -> None:
    app = make_app()
    bells = instrument(app)
    assert app.settings.alerts.bell_kinds == ["cascade"]
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        now = app.engine.clock.now_ms()
        app.engine.raise_alert(Alert(AlertKind.FUNDING_FLIP, "BTC", now, "BTC funding flipped to negative"))
        await settle(pilot, app)
        assert toasts(app) == ["funding flip: BTC funding flipped to negative"]
        assert bells == []
        app.mono.t += 120.0
        app.engine.raise_alert(Alert(AlertKind.CASCADE, "BTC", now, "BTC cascade"))
        await settle(pilot, app)
        assert len(toasts(app)) == 2 and len(bells) == 1


async def test_beyond_the_cap_alerts_are_summarised_as_more_alerts() -> None:
    app = make_app()
    app.alert_gate = app.settings.alerts.model_copy(update={"toasts_per_min": 3}).alert_gate()
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        now = app.engine.clock.now_ms()
        for sym in ("BTC", "SOL", "HYPE", "DOGE", "AVAX"):
            app.engine.raise_alert(Alert(AlertKind.EXTREME_FUNDING, sym, now, f"{sym} extreme funding"))
        await settle(pilot, app)
        assert len(toasts(app)) == 3
        app.mono.t += 60.0
        for _ in range(round(app.settings.ui.flush_hz)):
            app.flush()
        await pilot.pause()
        assert toasts(app)[-1] == "alerts: +2 more alerts: see the Alerts panel"


async def test_toasts_cover_neither_the_status_bar_nor_the_activity_panel() -> None:
    for size in ((160, 50), (80, 24)):
        app = make_app()
        async with app.run_test(size=size, notifications=True) as pilot:
            await pilot.pause()
            now = app.engine.clock.now_ms()
            for sym, kind in (("SOL", AlertKind.CASCADE), ("BTC", AlertKind.FUNDING_FLIP), ("ETH", AlertKind.CASCADE)):
                app.engine.raise_alert(Alert(kind, sym, now, f"{sym} {kind.value}: a message long enough to wrap"))
                app.mono.t += 30.0  # the cap is not what this is about
            await settle(pilot, app)
            await pilot.pause(0.1)
            shown = list(app.screen.query("Toast"))
            assert len(shown) == 3, size
            status = app.query_one(StatusBar).region
            activity = app.query_one(ActivityLog).region
            for toast in shown:
                assert not toast.region.overlaps(status), (size, toast.region, status)
                assert not toast.region.overlaps(activity), (size, toast.region, activity)
