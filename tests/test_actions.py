"""Delta and hedge planning (pfterm.core.trading.hedging)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pfterm.core.market.models import MarketInfo, OpenOrder, Position, SpotBalance
from pfterm.core.trading.hedging import (
    HedgePreview,
    asset_delta,
    delta_ratio,
    gross_long_value,
    plan_hedge,
    plan_rebalance,
)
from pfterm.core.venues.hyperliquid.orders import market_price, round_size

SYMBOLS = ["BTC", "ETH", "SOL", "kPEPE"]
MARKETS = {
    "BTC": MarketInfo("hyperliquid", "BTC", 0, 5, 40),
    "ETH": MarketInfo("hyperliquid", "ETH", 1, 4, 25),
    "SOL": MarketInfo("hyperliquid", "SOL", 5, 2, 20),
    "kPEPE": MarketInfo("hyperliquid", "kPEPE", 7, 0, 10),
}
MIDS = {"BTC": 100_000.0, "ETH": 3_000.0, "SOL": 150.0, "kPEPE": 0.0125}


def counter_cloids():
    counter = itertools.count(1)
    return lambda: f"0x{next(counter):032x}"


def pos(symbol: str, size: float) -> Position:
    mark = MIDS[symbol]
    return Position(symbol, size, mark, mark, None, 3.0, abs(size) * mark / 3, 0.0)


def order(symbol: str, oid: int) -> OpenOrder:
    return OpenOrder(symbol, oid, None, True, MIDS[symbol] * 0.9, 1.0, False, 1_700_000_000_000)


# --------------------------------------------------------------------------- delta


def test_asset_delta_counts_spot_external_and_perp() -> None:
    positions = [pos("BTC", -1.5), pos("ETH", 2.0)]
    spot = [SpotBalance("BTC", 1.0), SpotBalance("ETH", 5.0)]
    delta = asset_delta("BTC", positions, spot, {"BTC": 0.25}, MIDS)
    assert delta == pytest.approx((1.0 + 0.25 - 1.5) * 100_000)
    assert gross_long_value("BTC", positions, spot, {"BTC": 0.25}, MIDS) == pytest.approx(125_000)
    assert delta_ratio(delta, 125_000) == pytest.approx(0.2)
    assert delta_ratio(0.0, 0.0) == 0.0
    assert asset_delta("SOL", positions, spot, {}, {}) == 0.0
    with pytest.raises(ValueError):
        asset_delta("BTC", positions, spot, {}, {})


# --------------------------------------------------------------------------- hedge


def test_hedge_sells_perp_against_spot() -> None:
    spot = [SpotBalance("ETH", 10.0)]
    preview = plan_hedge("ETH", [pos("ETH", -7.0)], spot, {"ETH": 0.5}, market=MARKETS["ETH"], mid=3_000.0)
    assert isinstance(preview, HedgePreview)
    assert not preview.intent.is_buy and preview.size == 3.5
    assert preview.intent.tif == "Ioc" and not preview.intent.reduce_only
    assert preview.intent.limit_px == 2850.0
    assert preview.delta_before_usd == pytest.approx(10_500.0)
    assert preview.delta_after_usd == pytest.approx(0.0)
    assert preview.est_fee_usd == pytest.approx(10_500.0 * 0.00045)


def test_hedge_buys_back_an_overshort_as_reduce_only() -> None:
    preview = plan_hedge("SOL", [pos("SOL", -12.0)], [SpotBalance("SOL", 10.0)], {}, market=MARKETS["SOL"], mid=150.0)
    assert preview is not None
    assert preview.intent.is_buy and preview.size == 2.0 and preview.intent.reduce_only


def test_hedge_below_minimum_is_none() -> None:
    spot = [SpotBalance("SOL", 0.06)]  # $9
    assert plan_hedge("SOL", [], spot, {}, market=MARKETS["SOL"], mid=150.0) is None
    assert plan_hedge("SOL", [], [SpotBalance("SOL", 0.07)], {}, market=MARKETS["SOL"], mid=150.0) is not None


@given(
    spot=st.floats(min_value=0.0, max_value=1e4),
    perp=st.floats(min_value=-1e4, max_value=1e4),
    mid=st.floats(min_value=0.01, max_value=1e5),
    sz_decimals=st.integers(0, 5),
)
def test_hedge_properties(spot: float, perp: float, mid: float, sz_decimals: int) -> None:
    market = MarketInfo("hyperliquid", "X", 3, sz_decimals, 10)
    positions = [Position("X", perp, mid, mid, None, 1, 1, 0)]
    balances = [SpotBalance("X", spot)]
    step_usd = 10.0**-sz_decimals * mid
    delta = asset_delta("X", positions, balances, {}, {"X": mid})
    try:
        market_price(mid, delta < 0, 0.05, sz_decimals=sz_decimals)
    except ValueError:
        # No valid sell price (cheap coin with many size decimals): documented to raise.
        if round_size(abs(delta) / mid, sz_decimals) * mid >= 10.0:
            with pytest.raises(ValueError):
                plan_hedge("X", positions, balances, {}, market=market, mid=mid)
        return
    preview = plan_hedge("X", positions, balances, {}, market=market, mid=mid)
    if preview is None:
        assert abs(delta) < 0.5 * step_usd * (1 + 1e-9) or abs(delta) < 10.0 + 0.5 * step_usd
        return
    assert preview.size * mid >= 10.0
    assert preview.intent.is_buy == (delta < 0)
    assert abs(preview.delta_after_usd) <= 0.5 * step_usd * (1 + 1e-9) + 1e-9 * abs(delta)
    assert abs(preview.delta_after_usd) < step_usd


# --------------------------------------------------------------------------- rebalance


def test_rebalance_hedges_only_assets_over_threshold() -> None:
    positions = [pos("BTC", -0.97), pos("ETH", -9.0), pos("SOL", -100.0)]
    spot = [SpotBalance("BTC", 1.0), SpotBalance("ETH", 10.0), SpotBalance("SOL", 100.0), SpotBalance("kPEPE", 500.0)]
    plan = plan_rebalance(positions, spot, {"DOGE": 1000.0}, MIDS, MARKETS, new_cloid=counter_cloids())
    # BTC 3 % (under 5 %), ETH 10 %, SOL neutral, kPEPE $6.25 unhedged (100 %, below $10), DOGE no mid.
    assert [h.intent.symbol for h in plan.hedges] == ["ETH"]
    assert plan.hedges[0].size == 1.0 and not plan.hedges[0].intent.is_buy
    assert plan.orders == [plan.hedges[0].intent]
    assert sorted(s.symbol for s in plan.skipped) == ["DOGE", "kPEPE"]
    tight = plan_rebalance(positions, spot, {}, MIDS, MARKETS, threshold=0.02)
    assert [(h.intent.symbol, h.size) for h in tight.hedges] == [("BTC", 0.03), ("ETH", 1.0)]


def test_rebalance_reports_missing_market() -> None:
    mids = dict(MIDS, DOGE=0.1)
    plan = plan_rebalance([], [], {"DOGE": 1000.0}, mids, MARKETS)
    assert plan.skipped[0].symbol == "DOGE" and "no perp market" in plan.skipped[0].reason


def test_rebalance_reports_unpriceable_hedge() -> None:
    markets = {"X": MarketInfo("hyperliquid", "X", 9, 5, 3)}
    plan = plan_rebalance([], [SpotBalance("X", 1000.0)], {}, {"X": 0.0625}, markets)
    assert not plan.hedges
    assert "cannot be priced" in plan.skipped[0].reason
