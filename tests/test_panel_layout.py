"""Panels that fit the terminal: the activity log re-flows on resize, no table header is wider
than its panel at 80×24, the funding matrix keeps what says what to trade, countdowns and
symbols whole, the latest liquidations newest first, and report dates in ISO 8601."""

from __future__ import annotations

import re
from pathlib import Path

from pfterm.core.crossvenue.matrix import LiquidationFeed
from pfterm.core.harvest.report import build_report, report_text
from pfterm.core.market.models import Liquidation
from pfterm.core.trading.journal import Journal
from tests.test_report import SPOT, _carry, _Clock, _losing_long
from tests.test_report import T0 as REPORT_T0


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
