"""Unit and property tests of the harvester's pure decision math (core/harvest/strategy.py).

Every expected number is worked out by hand in the comment next to it (docs/domain.md §1, §2, §4, §6;
seeds 001 and 002).
"""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pfterm.core.harvest.strategy import (
    MIN_ORDER_USD,
    PROFILES,
    Candidate,
    EntryTiming,
    Exit,
    FundingMarket,
    HeldPosition,
    Profile,
    Skip,
    allocate,
    break_even_periods,
    entry_timing,
    evaluate,
    exit_decision,
    kelly_fraction,
    kelly_min_apr,
    kill_exits,
    net_rate_per_period,
    position_fraction,
    rate_8h,
    score,
    score_seed001,
    score_seed002,
)
from pfterm.core.market.funding import apr
from pfterm.core.trading import hedging

FAST = settings(max_examples=200, deadline=None)
MODERATE = PROFILES["moderate"]
HOUR_MS = 3_600_000
HL_MAKER = 0.00015  # pfterm.core.trading.hyperliquid.HL_MAKER_FEE (not imported: it pulls in the venue stack)


def market(**kw) -> FundingMarket:
    """A Hyperliquid-like market that passes every entry check at now_ms = NOW with the defaults.

    rate 0.0008 /1h → r8 = 0.0064 /8h, APR = 0.0008 × 8760 = 7.008 (700.8 %);
    basis (100.1 − 100) / 100 = 0.001; OI $20M rising; settlement 40 min after NOW.
    """
    base = dict(
        symbol="BTC",
        rate=0.0008,
        interval_h=1.0,
        next_funding_ms=HOUR_MS,
        mark_px=100.1,
        index_px=100.0,
        spot_px=100.0,
        open_interest_usd=20_000_000.0,
        oi_trend="rising",
        long_short_ratio=None,
        hedge="spot",
    )
    base.update(kw)
    return FundingMarket(**base)


NOW = HOUR_MS - 40 * 60_000  # 40 min before settlement: inside the preferred 30–60 min window


# --------------------------------------------------------------------------- profiles / market


def test_profiles_match_domain_table():
    assert PROFILES["conservative"] == Profile("conservative", 0.30, 0.15, 0.02, 0.20, 0.02)
    assert PROFILES["moderate"] == Profile("moderate", 0.20, 0.10, 0.05, 0.50, 0.03)
    assert PROFILES["aggressive"] == Profile("aggressive", 0.12, 0.06, 0.10, 0.80, 0.05)


def test_profile_rejects_inconsistent_values():
    with pytest.raises(ValueError, match="exit APR"):
        Profile("x", entry_apr=0.1, exit_apr=0.2, max_per_market=0.05, max_total=0.5, basis_stop=0.03)
    with pytest.raises(ValueError, match="max per market"):
        Profile("x", entry_apr=0.2, exit_apr=0.1, max_per_market=0.6, max_total=0.5, basis_stop=0.03)
    with pytest.raises(ValueError, match="basis_stop"):
        Profile("x", entry_apr=0.2, exit_apr=0.1, max_per_market=0.05, max_total=0.5, basis_stop=0.0)


def test_market_rejects_bad_prices():
    with pytest.raises(ValueError, match="index_px"):
        market(index_px=0.0)
    with pytest.raises(ValueError, match="spot_px"):
        market(spot_px=-1.0)
    with pytest.raises(ValueError, match="interval_h"):
        market(interval_h=0.0)


def test_rate_8h_and_apr():
    # Hyperliquid baseline 0.00125 %/1h × 8 = 0.01 %/8h; APR 0.0001 × 8760 / 8 = 0.1095.
    assert rate_8h(0.0000125, 1.0) == pytest.approx(0.0001)
    assert rate_8h(0.0004, 4.0) == pytest.approx(0.0008)  # 0.0004 × 8 / 4
    m = market(rate=0.0000125)
    assert m.rate_8h == pytest.approx(0.0001)
    assert m.apr == pytest.approx(0.1095)


def test_basis_uses_spot_then_index():
    # with spot: (100.1 − 100) / 100 = 0.001; without: (100.1 − 99.9) / 99.9 = 0.2 / 99.9
    assert market().basis == pytest.approx(0.001)
    assert market(spot_px=None, index_px=99.9).basis == pytest.approx(0.2 / 99.9)


@FAST
@given(
    hourly=st.floats(-0.04, 0.04, allow_nan=False),
    interval=st.sampled_from([1.0, 2.0, 4.0, 6.0, 8.0]),
)
def test_same_hourly_rate_same_apr_across_intervals(hourly, interval):
    # The same per-hour carry quoted per `interval` hours has the same APR, and so has its 8 h form.
    rate = hourly * interval
    assert apr(rate, interval) == pytest.approx(apr(hourly, 1.0), rel=1e-12, abs=1e-15)
    assert apr(rate_8h(hourly, 1.0), 8.0) == pytest.approx(apr(hourly, 1.0), rel=1e-12, abs=1e-15)
    assert rate_8h(rate, interval) == pytest.approx(hourly * 8, rel=1e-12, abs=1e-18)


# --------------------------------------------------------------------------- scores


def test_score_seed001_hand_computed():
    # 0.05 %/8h, $142M OI, L/S 2.0: 0.0005 × 1000 + min(14.2, 10) − (2.0 − 1.8) × 0.5
    #   = 0.5 + 10 − 0.1 = 10.4
    m = market(rate=0.0005, interval_h=8.0, open_interest_usd=142_000_000, long_short_ratio=2.0)
    assert score_seed001(m) == pytest.approx(10.4)
    # the same carry quoted hourly (0.0005 / 8 per 1 h) scores the same: seed 001 uses 8 h rates
    assert score_seed001(dataclasses.replace(m, rate=0.0000625, interval_h=1.0)) == pytest.approx(10.4)
    # $30M OI, no L/S published: 0.5 + 3 − 0 = 3.5; L/S 1.5 ≤ 1.8: no penalty either
    m2 = dataclasses.replace(m, open_interest_usd=30_000_000, long_short_ratio=None)
    assert score_seed001(m2) == pytest.approx(3.5)
    assert score_seed001(dataclasses.replace(m2, long_short_ratio=1.5)) == pytest.approx(3.5)
    # negative funding is scored by its magnitude: |−0.0005| × 1000 + 3 = 3.5
    assert score_seed001(dataclasses.replace(m2, rate=-0.0005)) == pytest.approx(3.5)


def test_score_seed002_hand_computed():
    # 0.05 %/8h → APR 0.0005 × 1095 = 0.5475; basis 0.001 → discount 1 − 0.005 = 0.995
    # rising: 0.5475 × 0.995 × 1.15 = 0.626476875; falling: × 0.80 = 0.43581; stable: 0.5447625
    m = market(rate=0.0005, interval_h=8.0)
    assert score_seed002(m) == pytest.approx(0.626476875)
    assert score_seed002(dataclasses.replace(m, oi_trend="falling")) == pytest.approx(0.43581)
    assert score_seed002(dataclasses.replace(m, oi_trend="stable")) == pytest.approx(0.5447625)
    # negative rate, rising OI: also × 1.15 (OI rises with the rate's sign)
    assert score_seed002(dataclasses.replace(m, rate=-0.0005)) == pytest.approx(0.626476875)
    # basis 20 %: discount capped at 0.5 → 0.5475 × 0.5 × 1.15 = 0.3148125
    assert score_seed002(dataclasses.replace(m, mark_px=120.0)) == pytest.approx(0.3148125)
    assert score(m, "seed002") == score_seed002(m)
    assert score(m, "seed001") == score_seed001(m)
    with pytest.raises(ValueError, match="unknown score model"):
        score(m, "seed003")  # type: ignore[arg-type]


@FAST
@given(
    r1=st.floats(-0.01, 0.01, allow_nan=False),
    r2=st.floats(-0.01, 0.01, allow_nan=False),
    mark=st.floats(90.0, 110.0),
    trend=st.sampled_from(["rising", "falling", "stable"]),
)
def test_score_seed002_monotone_in_abs_apr(r1, r2, mark, trend):
    lo, hi = sorted((r1, r2), key=abs)
    assume(lo != 0)  # a zero rate has no "sign" to rise with: trend factor 1, score 0 anyway
    a = market(rate=lo, mark_px=mark, oi_trend=trend)
    b = market(rate=hi, mark_px=mark, oi_trend=trend)
    assert score_seed002(a) <= score_seed002(b) + 1e-15


# --------------------------------------------------------------------------- fees


def test_net_rate_and_break_even():
    # seed 001: 0.0005 − 2 × 0.0005 / 12 = 0.0005 − 0.0000833… = 0.000416666…
    assert net_rate_per_period(0.0005, 0.0005) == pytest.approx(0.0005 - 0.001 / 12)
    # generalised holding: 0.0005 − 2 × 0.0005 / 4 = 0.00025
    assert net_rate_per_period(0.0005, 0.0005, holding_periods=4) == pytest.approx(0.00025)
    # Hyperliquid maker 0.015 %: 0.0001 − 0.0003 / 12 = 0.000075
    assert net_rate_per_period(0.0001, HL_MAKER) == pytest.approx(0.000075)
    with pytest.raises(ValueError):
        net_rate_per_period(0.0005, 0.0005, holding_periods=0)
    # DOMAIN §1: 2 × 0.001 / 0.0005 = 4 periods; maker 0.05 %: 2 × 0.0005 / 0.0005 = 2
    assert break_even_periods(0.001, 0.0005) == pytest.approx(4.0)
    assert break_even_periods(0.0005, 0.0005) == pytest.approx(2.0)
    assert break_even_periods(0.001, 0.0) == math.inf


# --------------------------------------------------------------------------- sizing


def test_kelly_hand_computed():
    # r8 0.6 %, stop 3 %, 3 periods: b = 3 × 0.006 / 0.03 = 0.6
    # rising p 0.65: (0.65 × 0.6 − 0.35) / 0.6 = 0.04 / 0.6 = 0.0666…
    assert kelly_fraction(0.006, 0.03, True) == pytest.approx(0.04 / 0.6)
    # p 0.5: (0.3 − 0.5) / 0.6 = −0.333…
    assert kelly_fraction(0.006, 0.03, False) == pytest.approx(-1 / 3)
    # sign ignored
    assert kelly_fraction(-0.006, 0.03, True) == pytest.approx(0.04 / 0.6)
    # horizon 30: b = 6, (3.9 − 0.35) / 6 = 0.591666…
    assert kelly_fraction(0.006, 0.03, True, horizon_periods=30) == pytest.approx(3.55 / 6)
    # zero rate: no division by zero, no edge
    assert kelly_fraction(0.0, 0.03, True) == -math.inf
    with pytest.raises(ValueError):
        kelly_fraction(0.006, 0.0, True)


def test_kelly_threshold_numbers_in_docstring():
    # Kelly > 0 ⇔ b > (1 − p)/p; b = 100 × r8 with 3 periods and a 3 % stop; APR = r8 × 1095
    # p 0.65: b > 0.35 / 0.65 = 0.538461… → r8 > 0.00538461… → APR > 5.896153…
    assert kelly_min_apr(0.03, True) == pytest.approx(0.35 / 0.65 / 100 * 1095)
    assert kelly_min_apr(0.03, True) == pytest.approx(5.896153846)
    # p 0.5: b > 1 → r8 > 0.01 → APR > 10.95
    assert kelly_min_apr(0.03, False) == pytest.approx(10.95)
    # quarter-Kelly ≥ 0.5 % ⇔ kelly ≥ 0.02 ⇔ b ≥ (1 − p)/(p − 0.02):
    # p 0.65: 0.35 / 0.63 = 0.5555… → APR 6.0833…; p 0.5: 0.5 / 0.48 = 1.041666… → APR 11.40625
    assert kelly_min_apr(0.03, True, min_fraction=0.005) == pytest.approx(6.083333333)
    assert kelly_min_apr(0.03, False, min_fraction=0.005) == pytest.approx(11.40625)
    # horizon that makes Kelly positive at 20 % APR: b = H × (0.2 / 1095) / 0.03 = 0.35 / 0.65
    #   → H = 0.538461… × 0.03 × 1095 / 0.2 = 88.44…
    assert kelly_min_apr(0.03, True, horizon_periods=88.4423076923077) == pytest.approx(0.2)
    assert kelly_min_apr(0.03, True, min_fraction=0.2) == math.inf  # 4 × 0.2 ≥ 0.65


@FAST
@given(
    r1=st.floats(1e-7, 0.05),
    r2=st.floats(1e-7, 0.05),
    stop=st.floats(0.005, 0.1),
    rising=st.booleans(),
    horizon=st.floats(1.0, 200.0),
)
def test_kelly_increasing_in_abs_rate(r1, r2, stop, rising, horizon):
    lo, hi = sorted((r1, r2))
    k_lo = kelly_fraction(lo, stop, rising, horizon)
    k_hi = kelly_fraction(-hi, stop, rising, horizon)  # sign does not matter
    assert k_lo <= k_hi
    if hi > lo * (1 + 1e-9):
        assert k_lo < k_hi


def test_position_fraction_hand_computed():
    # r8 = 0.00075 /1h × 8 = 0.006 → kelly 0.0666… (above) → quarter 0.016666…, under the 5 % cap
    assert position_fraction(market(rate=0.00075), MODERATE) == pytest.approx(0.04 / 0.6 / 4)
    # r8 = 0.03: b = 3, kelly = (1.95 − 0.35) / 3 = 0.5333…, quarter 0.1333… → capped at 5 %
    assert position_fraction(market(rate=0.00375), MODERATE) == pytest.approx(0.05)
    # kelly 0.01 (quarter 0.25 % < 0.5 % minimum): b = 0.35 / 0.64 = 0.546875 → r8 = 0.00546875
    assert position_fraction(market(rate=0.00546875 / 8), MODERATE) == 0.0
    # the profiles' entry APRs never size with the seed horizon: 20 % APR, rising
    assert position_fraction(market(rate=0.2 / 8760), MODERATE) == 0.0
    # …but do with a long enough horizon (120 periods = 40 days): b = 120 × (0.2/1095)/0.03 = 0.7306
    #   kelly = 0.65 − 0.35 / 0.7306 = 0.1709 → quarter 0.0427
    assert position_fraction(market(rate=0.2 / 8760), MODERATE, horizon_periods=120) == pytest.approx(
        (0.65 - 0.35 / (120 * 0.2 / 1095 / 0.03)) / 4
    )


@FAST
@given(
    rate=st.floats(-0.04, 0.04, allow_nan=False),
    trend=st.sampled_from(["rising", "falling", "stable"]),
    profile=st.sampled_from(list(PROFILES.values())),
    horizon=st.floats(0.5, 500.0),
    min_fraction=st.floats(0.0, 0.02),
)
def test_position_fraction_bounds(rate, trend, profile, horizon, min_fraction):
    f = position_fraction(
        market(rate=rate, oi_trend=trend), profile, horizon_periods=horizon, min_fraction=min_fraction
    )
    assert 0.0 <= f <= profile.max_per_market
    assert f == 0.0 or f >= min_fraction


# --------------------------------------------------------------------------- timing


@pytest.mark.parametrize(
    ("left_s", "allowed", "preferred", "fragment"),
    [
        (-10, False, False, "stale"),
        (0, False, False, "stale"),
        (299, False, False, "no entry within 5m"),
        (300, False, False, "no entry within 5m"),
        (301, True, False, "outside the preferred"),
        (1799, True, False, "outside the preferred"),
        (1800, True, True, "inside the preferred 30m–60m"),
        (3600, True, True, "inside the preferred"),
        (3601, True, False, "outside the preferred"),
        (8 * 3600, True, False, "settlement in 8h"),
    ],
)
def test_entry_timing_table(left_s, allowed, preferred, fragment):
    t = entry_timing(1_000_000, 1_000_000 + left_s * 1000)
    assert (t.allowed, t.preferred) == (allowed, preferred)
    assert fragment in t.reason


def test_entry_timing_reason_has_the_countdown():
    # without the interval the next window (the settlement after this one) cannot be placed
    assert entry_timing(0, 250_000) == EntryTiming(
        False, False, "settlement in 4m10s: no entry within 5m of settlement", None
    )
    # hourly: the next preferred window opens at this settlement, 250 s away
    assert entry_timing(0, 250_000, interval_h=1.0).wait_s == 250.0


@pytest.mark.parametrize(
    ("left_s", "interval_h", "wait_s"),
    [
        (301, 1.0, 301.0),  # second half of a Hyperliquid hour: the window opens at the settlement
        (1799, 1.0, 1799.0),
        (1800, 1.0, 0.0),
        (3600, 1.0, 0.0),
        (3601, 8.0, 1.0),
        (8 * 3600, 8.0, 7 * 3600.0),  # just after a Binance settlement: 7 h to the next window
        (1000, 8.0, 1000.0 + 7 * 3600.0),
        (3601, None, 1.0),  # ahead of the window: known without the interval
    ],
)
def test_entry_timing_wait_for_the_preferred_window(left_s, interval_h, wait_s):
    assert entry_timing(1_000_000, 1_000_000 + left_s * 1000, interval_h=interval_h).wait_s == pytest.approx(wait_s)


@FAST
@given(now=st.integers(0, 10**13), left_ms=st.integers(300_001, 3_600_000))
def test_entry_timing_hourly_wait_is_at_most_half_an_hour(now, left_ms):
    t = entry_timing(now, now + left_ms, interval_h=1.0)
    assert t.allowed and 0.0 <= t.wait_s <= 1800.0
    assert (t.wait_s == 0.0) == t.preferred


@FAST
@given(now=st.integers(0, 10**13), left_ms=st.integers(-(10**8), 300_000))
def test_entry_timing_never_within_five_minutes(now, left_ms):
    t = entry_timing(now, now + left_ms)
    assert not t.allowed and not t.preferred


@FAST
@given(now=st.integers(0, 10**13), left_ms=st.integers(-(10**8), 10**8))
def test_entry_timing_preferred_implies_allowed(now, left_ms):
    t = entry_timing(now, now + left_ms)
    assert t.allowed or not t.preferred
    assert t.preferred == (1_800_000 <= left_ms <= 3_600_000)


# --------------------------------------------------------------------------- evaluate


def _eval(m: FundingMarket, **kw):
    kw.setdefault("now_ms", NOW)
    kw.setdefault("maker_fee", HL_MAKER)
    return evaluate(m, MODERATE, **kw)


def test_evaluate_candidate_hand_computed():
    c = _eval(market())
    assert isinstance(c, Candidate)
    assert c.side == "short_perp"
    # r8 0.0064: net = 0.0064 − 2 × 0.00015 / 12 = 0.0064 − 0.000025 = 0.006375
    assert c.net_rate_8h == pytest.approx(0.006375)
    # b = 3 × 0.0064 / 0.03 = 0.64; kelly = 0.65 − 0.35 / 0.64 = 0.103125; quarter 0.02578125
    assert c.fraction == pytest.approx(0.02578125)
    # seed 002: 7.008 × (1 − 0.005) × 1.15 = 8.019…
    assert c.score == pytest.approx(7.008 * 0.995 * 1.15)
    assert "short_perp BTC" in c.reason and "inside the preferred" in c.reason
    # seed 001 model: 0.0064 × 1000 + min(2, 10) = 8.4
    assert _eval(market(), score_model="seed001").score == pytest.approx(8.4)


def test_evaluate_negative_funding_goes_long_perp():
    c = _eval(market(rate=-0.0008))
    assert isinstance(c, Candidate) and c.side == "long_perp"
    assert "caller must check it holds the spot" in c.reason
    c2 = _eval(market(rate=-0.0008, hedge="external"))
    assert isinstance(c2, Candidate) and c2.side == "long_perp"
    assert "caller must check" not in c2.reason


@pytest.mark.parametrize(
    ("changes", "kwargs", "expected"),
    [
        # 1. OI
        ({"open_interest_usd": 3_200_000}, {}, "OI $3.2M below $5M minimum"),
        # 1 before 2: fails both, reports OI
        ({"open_interest_usd": 3_200_000, "rate": 0.0}, {}, "OI $3.2M below $5M minimum"),
        # 2. APR: 0.00002 × 8760 = 0.1752 ≤ 0.20
        ({"rate": 0.00002}, {}, "|APR| 17.52 % (+0.0020 %/1h) not above moderate entry 20 %"),
        ({"rate": 0.0}, {}, "|APR| 0 % (+0.0000 %/1h) not above moderate entry 20 %"),
        # 3. hedge
        ({"hedge": "none"}, {}, "no spot market and no second venue to hedge with"),
        ({"hedge": "none", "rate": -0.0008}, {}, "no spot market and no second venue to hedge with (negative"),
        # 4. fees: 0.0064 − 2 × 0.05 / 12 = 0.0064 − 0.008333 = −0.001933
        ({}, {"maker_fee": 0.05}, "net -0.1933 %/8h after fees ≤ 0"),
        # 5. basis (104 − 100) / 100 = 4 % ≥ 3 %; exactly 3 % also refused
        ({"mark_px": 104.0}, {}, "basis 4 % at or beyond the moderate 3 % basis stop"),
        ({"mark_px": 97.0}, {}, "basis -3 % at or beyond"),
        # 6. timing: 200 s before settlement
        ({}, {"now_ms": HOUR_MS - 200_000}, "settlement in 3m20s: no entry within 5m of settlement"),
        # 7. sizing: r8 = 0.0016, b = 0.16, kelly = 0.65 − 0.35/0.16 = −1.5375
        ({"rate": 0.0002}, {}, "quarter-Kelly 0 % below 0.5 % minimum (kelly -1.5375, p 0.65, b 0.1600"),
        # OI not rising: p 0.5, b 0.64, kelly = 0.5 − 0.5/0.64 = −0.28125
        ({"oi_trend": "falling"}, {}, "(kelly -0.2812, p 0.50, b 0.6400"),
    ],
)
def test_evaluate_skips(changes, kwargs, expected):
    s = _eval(market(**changes), **kwargs)
    assert isinstance(s, Skip), s
    assert s.symbol == "BTC"
    assert expected in s.reason, s.reason
    assert "\n" not in s.reason


def test_evaluate_sizing_skip_names_required_apr():
    s = _eval(market(rate=0.0002))
    assert isinstance(s, Skip)
    assert "needs APR ≥ 608.3 %" in s.reason


# --------------------------------------------------------------------------- allocate


def cand(symbol: str, score_: float, fraction: float) -> Candidate:
    return Candidate(market(symbol=symbol), score_, fraction, 0.001, "short_perp", "test")


def test_allocate_hand_computed():
    # capital $100k, moderate (50 %), venue 30 %, 3× → capital use 1 + 1/3: 1/1.333 = 75 %
    # cap = min(0.5, 0.3, 0.75) × 100k = $30k; already held: ETH $20k + B $1k = $21k → room $9k
    cands = [cand("C", 1.0, 0.05), cand("A", 3.0, 0.05), cand("B", 2.0, 0.05), cand("D", 0.5, 0.05)]
    out = allocate(cands, profile=MODERATE, capital_usd=100_000, current_usd={"ETH": 20_000, "B": 1_000})
    # best first: A wants 5 % × 100k = 5k → room 4k; B wants 5k − 1k held = 4k → room 0; C, D nothing
    assert [(c.market.symbol, usd) for c, usd in out] == [("A", pytest.approx(5_000)), ("B", pytest.approx(4_000))]


def test_allocate_leverage_and_min_order():
    aggressive = PROFILES["aggressive"]
    # venue share 100 %, max_total 80 %, 3×: capital use caps at 75 % → $75k of $100k
    cands = [cand(f"S{i}", 10 - i, 0.10) for i in range(10)]
    out = allocate(cands, profile=aggressive, capital_usd=100_000, current_usd={}, max_venue_share=1.0)
    assert sum(usd for _, usd in out) == pytest.approx(75_000)
    # 1× leverage: 1 + 1/1 = 2 per USD → 50 %
    out1 = allocate(
        cands, profile=aggressive, capital_usd=100_000, current_usd={}, max_venue_share=1.0, max_leverage=1.0
    )
    assert sum(usd for _, usd in out1) == pytest.approx(50_000)
    # an add of $5 (fraction 0.005 of $1000 − nothing held) is below the $10 minimum
    assert MIN_ORDER_USD == hedging.MIN_ORDER_USD
    assert allocate([cand("X", 1.0, 0.005)], profile=aggressive, capital_usd=1_000, current_usd={}) == []


def test_allocate_already_full_or_duplicate():
    # held 5k in A = 5 % target: nothing to add; A twice: sized once
    assert allocate([cand("A", 1.0, 0.05)], profile=MODERATE, capital_usd=100_000, current_usd={"A": 5_000}) == []
    out = allocate([cand("A", 1.0, 0.05), cand("A", 2.0, 0.03)], profile=MODERATE, capital_usd=100_000, current_usd={})
    assert len(out) == 1 and out[0][0].score == 2.0 and out[0][1] == pytest.approx(3_000)


@FAST
@given(
    specs=st.lists(st.tuples(st.sampled_from("ABCDEFGH"), st.floats(-5, 5), st.floats(0.0, 0.10)), max_size=12),
    held=st.dictionaries(st.sampled_from("ABCDEFGHXYZ"), st.floats(0.0, 40_000.0), max_size=6),
    capital=st.floats(1_000.0, 1_000_000.0),
    profile=st.sampled_from(list(PROFILES.values())),
    venue_share=st.floats(0.05, 1.0),
    leverage=st.floats(1.0, 10.0),
)
def test_allocate_properties(specs, held, capital, profile, venue_share, leverage):
    cands = [cand(sym, sc, fr) for sym, sc, fr in specs]
    out = allocate(
        cands,
        profile=profile,
        capital_usd=capital,
        current_usd=held,
        max_venue_share=venue_share,
        max_leverage=leverage,
    )
    current = sum(held.values())
    added = sum(usd for _, usd in out)
    cap = min(profile.max_total, venue_share, 1 / (1 + 1 / leverage)) * capital
    eps = 1e-6 * capital
    assert all(usd > 0 and usd >= MIN_ORDER_USD for _, usd in out)
    assert added <= max(cap - current, 0.0) + eps  # Σ current + new ≤ every cap (nothing if already over)
    assert current + added <= max(cap, current) + eps
    assert current + added <= max(profile.max_total * capital, current) + eps
    assert current + added <= max(venue_share * capital, current) + eps
    symbols = [c.market.symbol for c, _ in out]
    assert len(symbols) == len(set(symbols))
    for c, usd in out:  # never beyond the target, counting what is held
        assert held.get(c.market.symbol, 0.0) + usd <= c.fraction * capital + eps
    scores = [c.score for c, _ in out]
    assert scores == sorted(scores, reverse=True)


# --------------------------------------------------------------------------- exits


def held(**kw) -> HeldPosition:
    base = dict(symbol="BTC", side="short_perp", entry_ms=0, entry_apr=0.5, entry_basis=0.001, notional_usd=5_000.0)
    base.update(kw)
    return HeldPosition(**base)


def _exit(pos: HeldPosition, m: FundingMarket, **kw):
    kw.setdefault("now_ms", HOUR_MS)
    kw.setdefault("max_hold_ms", 7 * 24 * HOUR_MS)
    kw.setdefault("liq_distance", 0.5)
    return exit_decision(pos, m, MODERATE, **kw)


def test_exit_keep():
    # APR 7.008 ≥ 10 %, basis 0.1 % ≤ 2 × 0.1 %, 1 h held, 50 % from liquidation: keep
    assert _exit(held(), market()) is None


def test_exit_rules_in_priority_order():
    # 1. flip beats everything else (basis 4 % is also beyond the stop)
    e = _exit(held(), market(rate=-0.0001, mark_px=104.0))
    assert e == Exit("BTC", "funding flipped: short_perp BTC now pays -0.0100 %/1h (-87.6 % APR)", "close")
    e = _exit(held(side="long_perp"), market(rate=0.0001))
    assert e is not None and e.kind == "close" and e.reason.startswith("funding flipped: long_perp")
    # 2. basis stop: 4 % > 3 %
    e = _exit(held(), market(mark_px=104.0))
    assert e == Exit("BTC", "basis stop: BTC basis 4 % beyond moderate 3 %", "close")
    # 3. widened: entry 0.1 %, now 0.25 % > 0.2 %
    e = _exit(held(), market(mark_px=100.25))
    assert e is not None and e.reason == "basis widened: BTC basis 0.25 % beyond 2 × entry 0.1 %"
    # …not applied when the entry basis was tiny (0.01 % ≤ 0.05 %)
    assert _exit(held(entry_basis=0.0001), market(mark_px=100.25)) is None
    # 4. faded: 0.00001 × 8760 = 0.0876 < 0.10
    e = _exit(held(), market(rate=0.00001))
    assert e is not None and e.reason == "funding faded: BTC |APR| 8.76 % below moderate exit 10 % (entered at 50 %)"
    # 5. max hold: 8 days held > 7 days
    e = _exit(held(), market(), now_ms=8 * 24 * HOUR_MS)
    assert e is not None and e.kind == "close" and e.reason == "max hold: BTC held 192h beyond 168h"
    # 6. liquidation: 12 % < 15 % → reduce by half
    e = _exit(held(), market(), liq_distance=0.12)
    assert e == Exit("BTC", "reduce first: BTC 12 % from liquidation, below 15 %; halve both legs", "reduce", 0.5)
    assert _exit(held(), market(), liq_distance=None) is None
    with pytest.raises(ValueError, match="checked against"):
        _exit(held(symbol="ETH"), market())


@FAST
@given(
    side=st.sampled_from(["short_perp", "long_perp"]),
    magnitude=st.floats(1e-9, 0.04),
    mark=st.floats(50.0, 150.0),
    liq=st.one_of(st.none(), st.floats(0.0, 1.0)),
    hold=st.integers(0, 10**10),
)
def test_exit_flip_always_closes(side, magnitude, mark, liq, hold):
    rate = -magnitude if side == "short_perp" else magnitude
    e = _exit(held(side=side), market(rate=rate, mark_px=mark), liq_distance=liq, now_ms=hold)
    assert e is not None and e.kind == "close" and e.reason.startswith("funding flipped")


def test_kill_exits():
    positions = [held(), held(symbol="ETH")]
    # 3 % of $100k = $3k: −$2,999 is not a breach, −$3,000 is
    assert kill_exits(positions, day_pnl_usd=-2_999, capital_usd=100_000) == []
    out = kill_exits(positions, day_pnl_usd=-3_000, capital_usd=100_000)
    assert [(e.symbol, e.kind) for e in out] == [("BTC", "kill"), ("ETH", "kill")]
    assert out[0].reason == "kill switch: day P&L -$3,000.00 reached the 3 % daily loss limit of capital $100k"


# --------------------------------------------------------------------------- perp against perp


def perp_market(**kw) -> FundingMarket:
    """A Hyperliquid market hedged by the opposite perp on Binance (no spot leg).

    Hyperliquid 0.00005 /1h → 0.0004 /8h; Binance 0.0001 /8h; spread 0.0003 /8h →
    carry APR 0.0003 × 1095 = 0.3285 (32.85 %). Marks 100.05 vs 100.0 → basis 0.0005.
    Binance settles 4 h after NOW (outside the 5 min window).
    """
    base = dict(
        rate=0.00005,
        spot_px=None,
        mark_px=100.05,
        hedge="perp",
        hedge_venue="binance",
        hedge_rate=0.0001,
        hedge_interval_h=8.0,
        hedge_next_funding_ms=NOW + 4 * HOUR_MS,
        hedge_mark_px=100.0,
    )
    base.update(kw)
    return market(**base)


def test_perp_hedge_carry_is_the_spread_per_8h():
    m = perp_market()
    assert m.rate_8h == pytest.approx(0.0004)
    assert m.hedge_rate_8h == pytest.approx(0.0001)
    assert m.carry_rate_8h == pytest.approx(0.0003)
    assert m.carry_apr == pytest.approx(0.3285)
    assert m.basis == pytest.approx(0.0005)  # against the other perp, not the index (100.0 → same here)
    m2 = perp_market(hedge_mark_px=99.0)
    assert m2.basis == pytest.approx(100.05 / 99.0 - 1)


def test_perp_hedge_needs_its_fields():
    with pytest.raises(ValueError, match="hedge_venue"):
        perp_market(hedge_venue=None)
    with pytest.raises(ValueError, match="hedge_mark_px"):
        perp_market(hedge_mark_px=0.0)
    with pytest.raises(ValueError, match="hedge_rate"):
        perp_market(hedge_rate=math.nan)


@FAST
@given(
    r1=st.floats(-0.01, 0.01, allow_nan=False),
    h1=st.sampled_from([1.0, 4.0, 8.0]),
    r2=st.floats(-0.01, 0.01, allow_nan=False),
    h2=st.sampled_from([1.0, 4.0, 8.0]),
)
def test_spread_is_antisymmetric_and_annualises_like_a_rate(r1, h1, r2, h2):
    a = perp_market(rate=r1, interval_h=h1, hedge_rate=r2, hedge_interval_h=h2)
    assert a.carry_rate_8h == pytest.approx(r1 * 8 / h1 - r2 * 8 / h2, abs=1e-15)
    assert a.carry_apr == pytest.approx(a.carry_rate_8h * 8760 / 8, abs=1e-12)
    # without a perp hedge the carry is the venue's own rate, to the bit
    plain = market(rate=r1, interval_h=h1)
    assert plain.carry_rate_8h == plain.rate_8h and plain.carry_apr == plain.apr


def test_perp_hedge_enters_the_spread_side():
    fee = HL_MAKER + 0.0005  # Hyperliquid maker + Binance taker, one side each
    c = evaluate(perp_market(), MODERATE, now_ms=NOW, maker_fee=fee, horizon_periods=90)
    assert isinstance(c, Candidate), c
    assert c.side == "short_perp"  # Hyperliquid pays more: short it, long Binance
    # net = 0.0003 − 2 × 0.00065 / 12 = 0.000191666…
    assert c.net_rate_8h == pytest.approx(0.0003 - 2 * fee / 12)
    assert "spread" in c.reason and "binance" in c.reason
    # Binance paying more: long Hyperliquid, short Binance; no spot needed
    c2 = evaluate(perp_market(rate=-0.00002), MODERATE, now_ms=NOW, maker_fee=fee, horizon_periods=90)
    assert isinstance(c2, Candidate) and c2.side == "long_perp"
    assert "sells spot" not in c2.reason


def test_perp_hedge_both_positive_rates_can_be_too_close():
    # Hyperliquid 0.0000125 /1h = 0.0001 /8h, Binance 0.0001 /8h: spread 0, nothing to harvest
    s = evaluate(perp_market(rate=0.0000125), MODERATE, now_ms=NOW, maker_fee=0.00065, horizon_periods=90)
    assert isinstance(s, Skip) and "not above" in s.reason and "spread" in s.reason


def test_perp_hedge_minimum_spread_after_both_fees():
    # spread 0.0003 /8h; minimum (fee_A + fee_B) × 2 / 12: 0.00031667 with fees of 0.0019
    s = evaluate(perp_market(), MODERATE, now_ms=NOW, maker_fee=0.0019, horizon_periods=90)
    assert isinstance(s, Skip) and "after fees" in s.reason
    # 0.0017 → minimum 0.00028333 < 0.0003: enters
    c = evaluate(perp_market(), MODERATE, now_ms=NOW, maker_fee=0.0017, horizon_periods=90)
    assert isinstance(c, Candidate)


def test_perp_hedge_timing_checks_the_other_venues_settlement():
    s = evaluate(
        perp_market(hedge_next_funding_ms=NOW + 2 * 60_000), MODERATE, now_ms=NOW, maker_fee=0.00065, horizon_periods=90
    )
    assert isinstance(s, Skip) and s.reason.startswith("binance settlement in 2m")


def test_perp_hedge_exits_when_the_spread_flips_or_fades():
    pos = HeldPosition("BTC", "short_perp", entry_ms=0, entry_apr=0.3285, entry_basis=0.0005, notional_usd=1000)
    kw = dict(now_ms=NOW, max_hold_ms=30 * 24 * HOUR_MS, liq_distance=None)
    # both venues still positive, but Binance now pays more: the spread turned against the short
    e = exit_decision(pos, perp_market(rate=0.00001), MODERATE, **kw)
    assert e is not None and e.reason.startswith("funding flipped")
    # spread 0.00005 × 8 − 0.0003 = 0.0001 /8h → 10.95 % APR: above the 10 % exit, kept
    assert exit_decision(pos, perp_market(hedge_rate=0.0003), MODERATE, **kw) is None
    # spread 0.00005 × 8 − 0.00032 = 0.00008 /8h → 8.76 %: faded
    e = exit_decision(pos, perp_market(hedge_rate=0.00032), MODERATE, **kw)
    assert e is not None and e.reason.startswith("funding faded")
    # the two perps' prices drifting apart is the basis stop
    e = exit_decision(pos, perp_market(hedge_mark_px=96.0), MODERATE, **kw)
    assert e is not None and e.reason.startswith("basis stop")


def test_allocate_counts_the_hedge_venue_share_and_margin_only():
    cap = 100_000.0
    prof = PROFILES["aggressive"]  # 10 % per market, 80 % total
    c = Candidate(perp_market(), score=1.0, fraction=0.10, net_rate_8h=0.0002, side="short_perp", reason="")
    # Binance already holds $25k of perp legs: 30 % × 100k − 25k = 5k room left there
    [(got, usd)] = allocate([c], profile=prof, capital_usd=cap, current_usd={}, hedge_venue_usd={"binance": 25_000})
    assert got is c and usd == pytest.approx(5_000)
    # margin only: $28k on Hyperliquid already (first legs, counted at 1 + 1/3 = $37.3k tied);
    # the venue share leaves 30k − 28k = 2k
    [(_, usd)] = allocate([c], profile=prof, capital_usd=cap, current_usd={"ETH": 28_000})
    assert usd == pytest.approx(2_000)
    # a perp-hedged USD ties 2/3 USD of margin, a carry USD 4/3: with $70k already tied by
    # carry holdings (52.5k × 4/3) the remaining 30k of capital buys 45k of perp-perp, but
    # only the per-market 10k is wanted; the venue share is lifted to see the capital cap
    many = [
        Candidate(
            perp_market(symbol=f"S{i}"),
            score=1.0 - i / 100,
            fraction=0.10,
            net_rate_8h=0.0002,
            side="short_perp",
            reason="",
        )
        for i in range(6)
    ]
    plan = allocate(many, profile=prof, capital_usd=cap, current_usd={"ETH": 52_500}, max_venue_share=5.0)
    # total cap 80k − 52.5k = 27.5k: 10k + 10k + 7.5k
    assert [round(u) for _, u in plan] == [10_000, 10_000, 7_500]


# --------------------------------------------------------------------------- averaged funding


def test_instant_carry_beside_the_average():
    # no instant rate given: the instant carry is the carry itself
    m = market()
    assert m.carry_now_rate_8h == m.carry_rate_8h and m.carry_now_apr == m.carry_apr
    # average 0.0008 /1h, this instant −0.0001 /1h → −0.0008 /8h, −87.6 % APR
    m = market(rate_now=-0.0001)
    assert m.carry_rate_8h == pytest.approx(0.0064)
    assert m.carry_now_rate_8h == pytest.approx(-0.0008)
    assert m.carry_now_apr == pytest.approx(-0.876)
    e = _exit(held(), market(rate=-0.0001, rate_now=0.0001))
    assert e.reason == "funding flipped: short_perp BTC now pays average -0.0100 %/1h, now +0.0800 %/8h (-87.6 % APR)"
    # perp hedge: average spread 0.00005 × 8 − 0.0001 = 0.0003 /8h; now 0.0002 × 8 − 0.0004 = 0.0012 /8h
    p = perp_market(rate_now=0.0002, hedge_rate_now=0.0004)
    assert p.carry_rate_8h == pytest.approx(0.0003)
    assert p.carry_now_rate_8h == pytest.approx(0.0012)
    # only one venue's instant rate known: the other's average stands in
    assert perp_market(rate_now=0.0002).carry_now_rate_8h == pytest.approx(0.0016 - 0.0001)


@FAST
@given(avg=st.floats(0.0000125, 0.004), now=st.floats(-0.04, 0.04), side=st.sampled_from(["short_perp", "long_perp"]))
def test_exits_are_judged_on_the_average_not_the_instant(avg, now, side):
    # an average that pays the position above the exit level keeps it, whatever this instant says
    rate = avg if side == "short_perp" else -avg
    assume(abs(rate) * 8760 >= MODERATE.exit_apr)
    assert _exit(held(side=side), market(rate=rate, rate_now=now)) is None
    # the same average against the position closes it as a flip, whatever this instant says
    e = _exit(held(side=side), market(rate=-rate, rate_now=now))
    assert e is not None and e.reason.startswith("funding flipped")
