"""Panels that fit the terminal: the activity log re-flows on resize, no table header is wider
than its panel at 80×24, the funding matrix keeps what says what to trade, countdowns and
symbols whole, the latest liquidations newest first, and report dates in ISO 8601."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from pfterm.core.crossvenue.matrix import LiquidationFeed
from pfterm.core.harvest.report import build_report, report_text
from pfterm.core.market.models import Liquidation
from pfterm.core.trading.journal import Journal
from pfterm.core.trading.portfolio import ActivityLevel
from pfterm.tui.screens import MatrixScreen, TradingScreen
from pfterm.widgets.matrix import BASIS_TITLES, FundingMatrixTable
from pfterm.widgets.panels import SettlementPanel
from pfterm.widgets.trading import ActivityLog, PositionsPanel, RowTable
from tests.test_report import SPOT, _carry, _Clock, _losing_long
from tests.test_report import T0 as REPORT_T0
from tests.test_tui import screen_text
from tests.test_tui_trading import _app, _fixed_trader, _matrix_records


def _liq(venue: str, usd: float, t: int, symbol: str = "ETH") -> Liquidation:
    return Liquidation(venue, symbol, symbol + "USDT", "long", 1.0, 3000.0, usd, t)


def test_liquidation_feed_recent_is_newest_first_by_time() -> None:
    feed = LiquidationFeed(max_recent=4)
    # the venues' streams interleave: a Bybit event arrives after a newer Binance one
    feed.extend([_liq("binance", 1.0, 10_000), _liq("binance", 2.0, 30_000), _liq("bybit", 3.0, 20_000)])
    feed.add(_liq("okx", 4.0, 25_000, "BTC"))
    assert [x.time_ms for x in feed.recent()] == [30_000, 25_000, 20_000, 10_000]
    # full: an event older than everything kept is not kept, a newer one pushes out the oldest
    feed.add(_liq("okx", 5.0, 5_000))
    assert [x.time_ms for x in feed.recent()] == [30_000, 25_000, 20_000, 10_000]
    feed.add(_liq("okx", 6.0, 15_000))
    assert [x.time_ms for x in feed.recent()] == [30_000, 25_000, 20_000, 15_000]
    assert [x.time_ms for x in feed.recent(2, symbol="ETH")] == [30_000, 20_000]
    # the same time: the later arrival first
    feed.add(_liq("bybit", 7.0, 30_000))
    assert [x.usd for x in feed.recent(2)] == [7.0, 2.0]


def test_report_dates_are_iso(tmp_path: Path) -> None:
    clock = _Clock(REPORT_T0 - 5_000)
    journal = Journal(tmp_path / "journal.sqlite", clock=clock)
    try:
        _carry(journal, clock)
        _losing_long(journal)
        text = report_text(build_report(journal, spot_map=SPOT, since_ms=REPORT_T0 - 60_000))
    finally:
        journal.close()
    assert "2026-01-01 00:00" in text and "2026-01-01 10:00" in text  # opened: BTC carry, ETH long
    assert "since 2025-12-31 23:59 UTC" in text
    assert not re.search(r"(?<![\d-])\d\d-\d\d-\d\d ", text), text  # no two-digit years
    assert max(len(line) for line in text.splitlines()) <= 100


# ---------------------------------------------------------------------------- on screen


def _visible(widget) -> list[str]:
    """The widget's visible content lines as rendered (line API), as plain text."""
    return [widget.render_line(y).text for y in range(widget.size.height)]


def _cells(strip) -> int:
    """The cells a rendered line really takes (not the length it claims)."""
    return sum(seg.cell_length for seg in strip)


LONG = (
    "hedge: SELL 30 SOL on binance rejected after three attempts: margin insufficient for the "
    "requested notional, reduce the size or add collateral before retrying zebra"
)


async def _trading_screen(pilot) -> None:
    await pilot.pause()
    await pilot.press("t")
    await pilot.pause(0.2)
    assert isinstance(pilot.app.screen, TradingScreen)


async def test_activity_log_reflows_on_resize() -> None:
    trader = _fixed_trader()
    app = _app(trader)
    async with app.run_test(size=(160, 50)) as pilot:
        await _trading_screen(pilot)
        trader.note(ActivityLevel.WARN, LONG)
        app.flush()
        await pilot.pause()
        log = app.screen.query_one(ActivityLog)
        wide_lines = len(log.lines)
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        assert log.size.width < 40
        seen = " ".join(" ".join(_visible(log)).split())
        assert " ".join(LONG.split()) in seen  # every word of the long line, in the narrow panel
        assert all(_cells(log.render_line(y)) <= log.size.width for y in range(log.size.height))
        assert len(log.lines) > wide_lines
        await pilot.resize_terminal(160, 50)
        await pilot.pause(0.2)
        assert len(log.lines) == wide_lines  # wider again: fewer, longer lines
        assert " ".join(LONG.split()) in " ".join(" ".join(_visible(log)).split())


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
async def test_trading_screen_headers_fit_their_panels(size: tuple[int, int]) -> None:
    app = _app(_fixed_trader())
    async with app.run_test(size=size) as pilot:
        await _trading_screen(pilot)
        for table in app.screen.query(RowTable):
            width = table.size.width
            header = table.render_line(0)
            assert _cells(header) <= width, (table.id, header.text)
            for y in range(1, table.size.height):
                assert _cells(table.render_line(y)) <= width, (table.id, y)
            for col in table.fit_columns(width):  # each title shown whole
                assert col.title in header.text, (table.id, col.title)
        positions = app.screen.query_one(PositionsPanel)
        titles = [c.title for c in positions.fit_columns(positions.size.width)]
        assert {"Market", "Side", "Size", "uPnL"} <= set(titles) and ("Liq dist" in titles or "Liq%" in titles)
        text = "\n".join(_visible(positions))
        assert "SOL·BN" in text and "SHORT" in text and "22.9%" in text


def _matrix_app():
    app = _app(None)
    recs, liqs = _matrix_records()
    app.crossvenue.on_venue_funding(recs)
    app.crossvenue.on_liquidations(liqs)
    return app


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
async def test_matrix_keeps_market_spread_direction_and_whole_countdowns(size: tuple[int, int]) -> None:
    app = _matrix_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("F")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, MatrixScreen)
        table = screen.query_one(FundingMatrixTable)
        for basis in ("apr", "8h", "hour"):
            assert screen.basis == basis
            await pilot.pause(0.2)
            lines = _visible(table)
            header = lines[0]
            assert "Market" in header and "Best spread" in header and "Direction" in header, header
            assert all(_cells(table.render_line(y)) <= table.size.width for y in range(table.size.height))
            body = "\n".join(lines[1:4])
            assert re.search(r"\d+m\d\ds", body), body  # dYdX / Hyperliquid settle within the hour
            assert not re.search(r"\d+m\d\d(?!s)", body), body  # no countdown cut short
            assert "%" in body
            sol = next(line for line in lines if line.startswith("SOL"))
            assert "dYdX" in sol and ("Bybit" in sol or "OKX" in sol), sol  # what to trade
            assert BASIS_TITLES[basis] in str(table.border_title)
            await pilot.press("b")
        if size[0] == 80:
            assert re.fullmatch(r"\d of 5 venues: widen for all", str(table.border_subtitle))
        else:
            assert not table.border_subtitle and "long dYdX, short" in "\n".join(_visible(table))


async def test_settlement_symbols_whole_at_80x24() -> None:
    app = _app(None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        panel = app.query_one(SettlementPanel)
        now_ms, next_ms, highest, lowest, note = panel._last
        highest = [replace(r, symbol=s) for r, s in zip(highest, ("MOODENG", "PROMPT", "SPX6900"), strict=False)]
        lowest = [replace(r, symbol=s) for r, s in zip(lowest, ("FARTCOIN", "PUMPFUN", "kBONK"), strict=False)]
        panel.show(now_ms, next_ms, highest, lowest, note)
        await pilot.pause()
        text = screen_text(app)
        for r in (*highest, *lowest):
            assert r.symbol in text, r.symbol
        assert "%" in text and "…" not in text
