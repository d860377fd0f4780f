"""Kill switch, delta and hedge planning (core.actions)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.actions import (
    HedgePreview,
    asset_delta,
    delta_ratio,
    gross_long_value,
    plan_hedge,
    plan_kill,
    plan_rebalance,
)
from core.models import MarketInfo, OpenOrder, Position, SpotBalance
from core.venues.hyperliquid.orders import market_price, round_size

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


# --------------------------------------------------------------------------- kill

sizes = st.integers(min_value=-10**6, max_value=10**6).filter(lambda n: n != 0)


@given(
    orders=st.lists(st.tuples(st.sampled_from(SYMBOLS), st.integers(0, 2**40)), max_size=20),
    positions=st.dictionaries(st.sampled_from(SYMBOLS), sizes),
    slippage=st.floats(min_value=0.0, max_value=0.2),
)
def test_kill_cancels_everything_and_closes_every_position_once(orders, positions, slippage) -> None:
    open_orders = [order(s, oid) for s, oid in orders]
    # Venue sizes are on the step: integer count of steps.
    book = [pos(s, n / 10 ** MARKETS[s].sz_decimals) for s, n in positions.items()]
    plan = plan_kill(open_orders, book, MIDS, MARKETS, slippage)
    assert plan.complete
    assert plan.cancels == [(MARKETS[o.symbol].asset_id, o.oid) for o in open_orders]
    assert sorted(c.symbol for c in plan.closes) == sorted(positions)
    assert len({c.cloid for c in plan.closes}) == len(plan.closes)
    for close, p in zip(plan.closes, book, strict=True):
        mid = MIDS[p.symbol]
        assert close.reduce_only and close.tif == "Ioc" and close.purpose == "kill"
        assert close.is_buy == (p.size < 0)
        assert close.size == abs(p.size)
        assert close.asset_id == MARKETS[p.symbol].asset_id
        eps = 1e-12 * mid  # float noise in the reference bound, not in the price
        if close.is_buy:
            assert mid * (1 + slippage) - eps <= close.limit_px <= mid * (1 + slippage) * 1.001 + 1
        else:
            assert mid * (1 - slippage) * 0.999 - 1 <= close.limit_px <= mid * (1 - slippage) + eps
        assert close.limit_px >= mid if close.is_buy else close.limit_px <= mid


def test_kill_uses_full_size_despite_float_noise() -> None:
    noisy = 0.1 + 0.2  # 0.30000000000000004
    plan = plan_kill([], [pos("SOL", -noisy), pos("ETH", 0.0299999999)], MIDS, MARKETS, new_cloid=counter_cloids())
    assert [c.size for c in plan.closes] == [0.3, 0.03]
    assert plan.closes[0].cloid == "0x" + "0" * 31 + "1"
    assert plan.closes[0].limit_px == 157.5  # 150 × 1.05
    assert plan.closes[1].limit_px == 2850.0  # 3000 × 0.95


def test_kill_reports_unclosable_and_uncancellable() -> None:
    mids = {k: v for k, v in MIDS.items() if k != "ETH"}
    positions = [pos("ETH", 1.0), Position("DOGE", 5.0, 0.1, 0.1, None, 1, 1, 0), pos("BTC", 0.000001), pos("SOL", 0.0)]
    plan = plan_kill([order("BTC", 1), OpenOrder("DOGE", 2, None, False, 1.0, 1.0, False, 0)], positions, mids, MARKETS)
    assert plan.cancels == [(0, 1)]
    assert [s.symbol for s in plan.uncancellable] == ["DOGE"]
    assert not plan.closes
    assert [(s.symbol, s.reason.split()[0]) for s in plan.unclosable] == [("ETH", "no"), ("DOGE", "DOGE"), ("BTC", "BTC")]
    assert plan.unclosable[0].reason == "no mid price for ETH"
    assert "below one size step" in plan.unclosable[2].reason
    assert not plan.complete


def test_kill_reports_unpriceable_close() -> None:
    market = {"X": MarketInfo("hyperliquid", "X", 9, 5, 3)}
    plan = plan_kill([], [Position("X", 1.0, 0.06, 0.06, None, 1, 1, 0)], {"X": 0.0625}, market)
    assert not plan.closes
    assert "cannot be priced" in plan.unclosable[0].reason


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
    step_usd = 10.0 ** -sz_decimals * mid
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
