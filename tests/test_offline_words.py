"""Offline and read-only states say why on screen: the status bar gives the reason a feed is
retrying, the portfolio says READ-ONLY (or STARTING), never ACTIVE, for an account that cannot trade;
one clock: venue time everywhere, labelled with the wall clock beside it when a simulator runs fast."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console
from textual.app import App, ComposeResult

from pfterm.core.market.models import FeedState, FeedStatus
from pfterm.core.market.views import FeedView
from pfterm.core.trading.credentials import TradingAccess
from pfterm.core.trading.desk import Desk
from pfterm.core.trading.portfolio import ActivityLevel, PortfolioView
from pfterm.core.trading.risk import TradingState
from pfterm.widgets.panels import StatusBar, StatusView
from pfterm.widgets.trading import PortfolioPanel


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield PortfolioPanel(id="portfolio")


def status(detail: str) -> StatusView:
    feed = FeedStatus("hyperliquid/rest", FeedState.RETRYING, retry_at_mono=104.0, detail=detail)
    return StatusView("hyperliquid mainnet", (FeedView(feed),), (), 0, 0, None, 1_791_000_000_000, 100.0)


def plain(widget) -> str:
    """The widget's text as the terminal shows it."""
    if isinstance(widget, PortfolioPanel):
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(widget._render_view(widget.view))
        return console.export_text()
    return str(widget.render())


async def test_a_retrying_feed_says_why_in_the_status_bar() -> None:
    app = Host()
    async with app.run_test(size=(160, 10)):
        bar = app.query_one(StatusBar)
        bar.show(status("hyperliquid info metaAndAssetCtxs: ConnectError: [Errno -2] Name or service not known"))
        text = plain(bar)
        assert "retrying in 4s ([Errno -2] Name or service not known)" in text
        bar.show(status("hyperliquid info meta: HTTP 503: " + "x" * 200))
        text = plain(bar)
        assert "(HTTP 503: xxx" in text and "…)" in text  # the reason, shortened, never the whole body


async def test_a_read_only_account_is_not_shown_active() -> None:
    app = Host()
    async with app.run_test(size=(120, 12)):
        panel = app.query_one(PortfolioPanel)
        panel.show(
            PortfolioView(None, "mainnet", "no key (PFTERM_HL_PRIVATE_KEY or trading.key_file)", TradingState.ACTIVE)
        )
        text = plain(panel)
        assert "READ-ONLY" in text and "no key" in text and "ACTIVE" not in text
        panel.show(PortfolioView(None, "mainnet", "venue starting…", TradingState.ACTIVE, starting=True))
        text = plain(panel)
        assert "STARTING" in text and "ACTIVE" not in text and "READ-ONLY" not in text
        panel.show(PortfolioView("0x17c5…D025", "sim", None, TradingState.ACTIVE))
        assert "ACTIVE" in plain(panel)


async def test_a_fast_simulator_labels_venue_time_and_shows_the_wall_clock() -> None:
    app = Host()
    async with app.run_test(size=(160, 10)):
        bar = app.query_one(StatusBar)
        view = status("")
        bar.show(replace(view, speed=60.0, wall_ms=1_791_003_723_000))
        text = plain(bar)
        assert "sim time 2026-10-03 04:00:00 UTC · wall 05:02:03" in text
        bar.show(replace(view, speed=None, wall_ms=1_791_003_723_000))
        assert "wall" not in plain(bar)  # one clock where venue and wall time agree


def test_the_activity_log_is_stamped_with_the_venue_clock() -> None:
    access = TradingAccess(None, None, "sim", "no key")
    desk = Desk(access, None, None, wall_ms=lambda: 1_000, activity_ms=lambda: 1_791_000_000_000)
    desk.note(ActivityLevel.INFO, "hello")
    assert desk.activity[-1].time_ms == 1_791_000_000_000
    assert Desk(access, None, None, wall_ms=lambda: 1_000).activity_ms() == 1_000  # default: the wall clock


async def test_the_status_bar_repaints_without_laying_the_screen_out_again() -> None:
    app = Host()
    async with app.run_test(size=(160, 10)):
        bar = app.query_one(StatusBar)
        layouts: list[bool] = []
        original = bar.refresh

        def spy(*args, layout: bool = False, **kwargs):
            layouts.append(layout)
            return original(*args, layout=layout, **kwargs)

        bar.refresh = spy  # type: ignore[method-assign]
        for detail in ("a", "b", "c"):
            bar.show(status(detail))
        assert layouts and not any(layouts)  # a one-line bar never changes the screen's layout
