"""Tests for pfterm.core.crossvenue.matrix: rate normalisation, the cross-venue funding matrix, liquidations."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pfterm.core.crossvenue.matrix import (
    MAKER_FEES,
    TAKER_FEES,
    FundingMatrix,
    LiquidationFeed,
    countdown,
    detect_surge,
    normalize,
)
from pfterm.core.market.funding import min_cross_venue_spread
from pfterm.core.market.models import Liquidation, VenueFunding

NOW = 1_800_000_000_000
MIN = 60_000

per_hour = st.floats(min_value=-0.04, max_value=0.04, allow_nan=False)
intervals = st.sampled_from([0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 24.0]) | st.floats(min_value=0.01, max_value=168.0)


def vf(
    venue: str,
    rate: float,
    interval_h: float = 8.0,
    *,
    symbol: str = "BTC",
    time_ms: int = NOW,
    oi_usd: float | None = 1e6,
    next_ms: int | None = None,
) -> VenueFunding:
    return VenueFunding(
        venue=venue,
        symbol=symbol,
        native=symbol,
        rate=rate,
        interval_h=interval_h,
        next_funding_ms=next_ms,
        mark_px=100.0,
        index_px=100.0,
        oi_base=None if oi_usd is None else oi_usd / 100.0,
        oi_usd=oi_usd,
        time_ms=time_ms,
    )


# ----------------------------------------------------------------------------- normalize


def test_normalize_examples() -> None:
    assert normalize(0.0001, 8, "hour") == pytest.approx(0.0000125)
    assert normalize(0.0001, 8, "8h") == pytest.approx(0.0001)
    assert normalize(0.0001, 8, "apr") == pytest.approx(0.1095)  # docs/domain.md §1
    assert normalize(0.0005, 8, "apr") == pytest.approx(0.5475)
    assert normalize(0.0000125, 1, "8h") == pytest.approx(0.0001)
    with pytest.raises(ValueError):
        normalize(0.0001, 0, "hour")
    with pytest.raises(ValueError):
        normalize(0.0001, 8, "day")  # type: ignore[arg-type]


@given(per_hour)
def test_same_hourly_rate_same_apr_whatever_interval(rate_h: float) -> None:
    aprs = [normalize(rate_h * h, h, "apr") for h in (1, 4, 8)]
    for a in aprs:
        assert a == pytest.approx(rate_h * 8760, rel=1e-12, abs=1e-15)
    hours = [normalize(rate_h * h, h, "hour") for h in (1, 4, 8)]
    assert hours == pytest.approx([rate_h] * 3, rel=1e-12, abs=1e-18)


@given(per_hour, intervals, st.sampled_from(["hour", "8h", "apr"]))
def test_normalize_round_trips(rate_h: float, interval_h: float, basis: str) -> None:
    rate = rate_h * interval_h
    hours = {"hour": 1.0, "8h": 8.0, "apr": 8760.0}[basis]
    there = normalize(rate, interval_h, basis)  # type: ignore[arg-type]
    back = normalize(there, hours, "hour") * interval_h
    assert back == pytest.approx(rate, rel=1e-9, abs=1e-15)


def test_fee_tables() -> None:
    venues = {"hyperliquid", "binance", "bybit", "okx", "dydx"}
    assert set(TAKER_FEES) == set(MAKER_FEES) == venues
    assert TAKER_FEES["hyperliquid"] == 0.00045
    assert all(0 < MAKER_FEES[v] < TAKER_FEES[v] < 0.001 for v in venues)


# ----------------------------------------------------------------------------- matrix


def test_best_spread_picks_max_and_min() -> None:
    m = FundingMatrix()
    m.update(
        [
            vf("hyperliquid", 0.0002, 1),  # 0.0002/h: highest → short
            vf("binance", 0.0001, 8),  # 0.0000125/h
            vf("okx", -0.0004, 8),  # -0.00005/h: lowest → long
            vf("bybit", 0.0003, 4),  # 0.000075/h
        ]
    )
    (row,) = m.rows("hour", now_ms=NOW)
    best = row.best
    assert best is not None
    assert (best.short_venue, best.long_venue) == ("hyperliquid", "okx")
    assert best.direction == "long okx, short hyperliquid"
    assert best.spread_per_hour == pytest.approx(0.00025)
    assert best.spread_apr == pytest.approx(0.00025 * 8760)
    expected_min = min_cross_venue_spread(TAKER_FEES["okx"], TAKER_FEES["hyperliquid"], 12) / 8
    assert best.min_viable_per_hour == pytest.approx(expected_min)
    assert best.viable
    assert row.cells["binance"].rate == pytest.approx(0.0000125)
    assert row.cells["bybit"].apr == pytest.approx(0.0003 * 8760 / 4)


@pytest.mark.parametrize("factor", [0.5, 0.999, 1.001, 2.0])
def test_viable_iff_spread_exceeds_min(factor: float) -> None:
    fees = {"a": 0.0005, "b": 0.0004}
    min_ph = (0.0005 + 0.0004) * 2 / 12 / 8
    m = FundingMatrix()
    m.update([vf("a", 0.0, 1), vf("b", min_ph * factor, 1)])
    (row,) = m.rows("hour", now_ms=NOW, fees=fees, holding_periods=12)
    assert row.best is not None
    assert row.best.min_viable_per_hour == pytest.approx(min_ph)
    assert row.best.viable is (factor > 1)


def test_stale_cells_shown_but_not_in_best() -> None:
    m = FundingMatrix()
    m.update(
        [
            vf("hyperliquid", 0.01, 1, time_ms=NOW - 200_000),  # stale, would be the short leg
            vf("binance", 0.0008, 8),
            vf("bybit", -0.0008, 8),
        ]
    )
    (row,) = m.rows("8h", now_ms=NOW, stale_after_ms=120_000)
    assert row.cells["hyperliquid"].stale
    assert not row.cells["binance"].stale
    assert row.best is not None
    assert (row.best.short_venue, row.best.long_venue) == ("binance", "bybit")
    # Only one fresh venue left: the row stays, without a best spread.
    m2 = FundingMatrix()
    m2.update([vf("hyperliquid", 0.01, 1, time_ms=NOW - 200_000), vf("binance", 0.0008, 8)])
    (row,) = m2.rows("8h", now_ms=NOW)
    assert row.best is None


def test_merge_keeps_oi_when_later_record_lacks_it() -> None:
    m = FundingMatrix()
    m.update([vf("binance", 0.0001, oi_usd=5e6, next_ms=NOW + 1000, time_ms=NOW - 10)])
    m.update([vf("binance", 0.0002, oi_usd=None, time_ms=NOW)])
    rec = m.latest("BTC", "binance")
    assert rec is not None
    assert rec.rate == 0.0002
    assert rec.oi_usd == 5e6 and rec.oi_base == 5e4
    assert rec.next_funding_ms == NOW + 1000
    # An older record arriving late does not overwrite the rate but fills nothing it has.
    m.update([vf("binance", 0.0009, oi_usd=7e6, time_ms=NOW - 5)])
    rec = m.latest("BTC", "binance")
    assert rec is not None and rec.rate == 0.0002 and rec.oi_usd == 5e6


def test_min_venues_sort_and_bounds() -> None:
    m = FundingMatrix(max_symbols=3)
    m.update(
        [
            vf("binance", 0.0001, symbol="ETH", oi_usd=1e9),
            vf("okx", 0.0001, symbol="ETH", oi_usd=1e9),
            vf("binance", 0.0010, symbol="kPEPE", oi_usd=1e6),
            vf("okx", -0.0010, symbol="kPEPE", oi_usd=1e6),
            vf("binance", 0.0005, symbol="BTC", oi_usd=5e9),
            vf("okx", 0.0001, symbol="BTC", oi_usd=5e9),
        ]
    )
    assert [r.symbol for r in m.rows("apr", now_ms=NOW, sort="spread")] == ["kPEPE", "BTC", "ETH"]
    assert [r.symbol for r in m.rows("apr", now_ms=NOW, sort="symbol")] == ["BTC", "ETH", "kPEPE"]
    assert [r.symbol for r in m.rows("apr", now_ms=NOW, sort="oi")] == ["BTC", "ETH", "kPEPE"]
    # A single-venue market has no row unless min_venues allows it.
    m.update([vf("hyperliquid", 0.0001, symbol="SOL")])
    assert len(m) == 3  # bounded: ETH (least recently updated) was dropped
    assert "SOL" not in {r.symbol for r in m.rows("apr", now_ms=NOW)}
    assert "SOL" in {r.symbol for r in m.rows("apr", now_ms=NOW, min_venues=1)}
    assert "ETH" not in {r.symbol for r in m.rows("apr", now_ms=NOW, min_venues=1)}
    with pytest.raises(ValueError):
        m.rows("apr", now_ms=NOW, sort="volume")  # type: ignore[arg-type]


def test_bad_records_skipped_and_countdown() -> None:
    m = FundingMatrix()
    assert m.update([vf("binance", math.nan), vf("okx", 0.0001, 0.0), vf("bybit", 0.0001, next_ms=NOW + 90_000)]) == 1
    (row,) = m.rows("hour", now_ms=NOW, min_venues=1)
    assert countdown(row.cells["bybit"], NOW) == 90_000
    assert countdown(row.cells["bybit"], NOW + 100_000) == 0
    m.update([vf("dydx", 0.0001, 1)])
    (row,) = m.rows("hour", now_ms=NOW)
    assert countdown(row.cells["dydx"], NOW) is None


# ----------------------------------------------------------------------------- liquidations


def liq(side: str, usd: float, time_ms: int, symbol: str = "BTC", venue: str = "binance") -> Liquidation:
    return Liquidation(venue, symbol, symbol + "USDT", side, usd / 100.0, 100.0, usd, time_ms)


def test_minute_buckets_sum_by_side() -> None:
    f = LiquidationFeed()
    t0 = NOW - NOW % MIN
    f.extend(
        [
            liq("long", 100, t0 + 1_000),
            liq("long", 50, t0 + 59_999),
            liq("short", 30, t0 + 10_000, venue="bybit"),
            liq("short", 20, t0 + 2 * MIN + 5),
            liq("long", 7, t0 + 5, symbol="ETH"),
        ]
    )
    assert f.minute_buckets("BTC") == [(t0, 150.0, 30.0), (t0 + MIN, 0.0, 0.0), (t0 + 2 * MIN, 0.0, 20.0)]
    assert f.minute_buckets("ETH", now_ms=t0 + MIN) == [(t0, 7.0, 0.0), (t0 + MIN, 0.0, 0.0)]
    assert f.minute_buckets("SOL") == []
    assert f.totals(3 * MIN, t0 + 2 * MIN + 10) == {"BTC": (150.0, 50.0), "ETH": (7.0, 0.0)}
    assert f.totals(MIN, t0 + 2 * MIN + 10) == {"BTC": (0.0, 20.0)}
    assert [x.usd for x in f.recent(2)] == [20, 50]  # newest first by time, not by arrival
    assert [x.usd for x in f.recent(symbol="BTC")] == [20, 50, 30, 100]
    assert not f.add(liq("sideways", 1, t0))


def test_buckets_are_bounded() -> None:
    f = LiquidationFeed(max_recent=10, max_minutes=5, max_symbols=2)
    t0 = NOW - NOW % MIN
    for i in range(20):
        f.add(liq("long", 1, t0 + i * MIN))
    buckets = f.minute_buckets("BTC")
    assert len(buckets) == 5 and buckets[0][0] == t0 + 15 * MIN
    assert len(f.recent()) == 10
    assert not f.add(liq("long", 1, t0))  # older than the kept history
    f.add(liq("long", 1, t0 + 19 * MIN, symbol="ETH"))
    f.add(liq("long", 1, t0 + 19 * MIN, symbol="SOL"))
    assert f.minute_buckets("BTC") == []  # evicted: least recently updated


def test_surge_fires_on_burst_not_on_steady_flow() -> None:
    t0 = NOW - NOW % MIN
    steady = LiquidationFeed()
    for i in range(40):
        steady.add(liq("long" if i % 2 else "short", 200_000, t0 + i * MIN + 30_000))
        assert steady.surge("BTC", t0 + i * MIN + 31_000) is None

    burst = LiquidationFeed()
    for i in range(35):
        burst.add(liq("short", 50_000, t0 + i * MIN + 30_000))
    now = t0 + 35 * MIN + 20_000
    burst.add(liq("long", 200_000, now - 5_000))
    assert burst.surge("BTC", now) is None  # 200k: above the floor, not above 5 × the 50k median
    burst.add(liq("long", 1_000_000, now - 1_000, venue="okx"))
    sig = burst.surge("BTC", now)
    assert sig is not None
    assert sig.minute_ms == t0 + 35 * MIN
    assert sig.usd == 1_200_000 and sig.long_usd == 1_200_000 and sig.side == "long"
    assert sig.baseline_usd == 50_000 and sig.ratio == pytest.approx(24)


def test_surge_floor_and_history() -> None:
    t0 = 0
    quiet = [(t0 + i * MIN, 0.0, 0.0) for i in range(30)]
    assert detect_surge("X", quiet + [(t0 + 30 * MIN, 50_000.0, 0.0)], floor_usd=100_000) is None
    sig = detect_surge("X", quiet + [(t0 + 30 * MIN, 150_000.0, 0.0)], floor_usd=100_000)
    assert sig is not None and sig.ratio == math.inf
    # Right after start-up there is no baseline yet.
    assert detect_surge("X", [(0, 0.0, 0.0), (MIN, 1e9, 0.0)], min_history=5) is None
