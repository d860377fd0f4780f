"""Tests for pfterm.core.market.funding: formulas from docs/domain.md §1–§2 and the premium sampler."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pfterm.core.market.funding import (
    HL_HOURLY_CAP,
    HL_INTEREST_8H,
    HL_PREMIUM_CLAMP,
    HL_PREMIUM_SAMPLE_MS,
    HOURS_PER_YEAR,
    MS_PER_HOUR,
    PremiumSampler,
    apr,
    basis_fraction,
    break_even_periods,
    convert_rate,
    countdown_ms,
    format_countdown,
    funding_payment,
    funding_rate_8h,
    hl_hourly_rate,
    min_cross_venue_spread,
    next_settlement_ms,
    premium_sample,
    rate_from_apr,
)

rates = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)
intervals = st.sampled_from([0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 24.0]) | st.floats(min_value=0.01, max_value=168.0)
premiums = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False)
prices = st.floats(min_value=1e-6, max_value=1e7, allow_nan=False)
times = st.integers(min_value=0, max_value=4_102_444_800_000)  # up to 2100-01-01


def close(expected: float) -> object:
    """Equality up to float rounding: 1e-12 relative, 1e-15 absolute."""
    return pytest.approx(expected, rel=1e-12, abs=1e-15)


# --- APR and interval conversion -------------------------------------------------------


def test_constants() -> None:
    assert HOURS_PER_YEAR == 8760
    assert HL_INTEREST_8H == 0.0001
    assert HL_PREMIUM_CLAMP == 0.0005
    assert HL_HOURLY_CAP == 0.04
    assert HL_PREMIUM_SAMPLE_MS == 5000


def test_known_apr_values() -> None:
    assert apr(0.0001, 8) == pytest.approx(0.1095)
    assert apr(0.0005, 8) == pytest.approx(0.5475)
    assert apr(0.0000125, 1) == pytest.approx(0.1095)
    assert rate_from_apr(0.1095, 8) == pytest.approx(0.0001)


@given(rates, intervals)
def test_apr_rate_round_trip(rate: float, interval_h: float) -> None:
    assert rate_from_apr(apr(rate, interval_h), interval_h) == close(rate)


@given(st.floats(min_value=-100.0, max_value=100.0, allow_nan=False), intervals)
def test_rate_apr_round_trip(value: float, interval_h: float) -> None:
    assert apr(rate_from_apr(value, interval_h), interval_h) == close(value)


@given(rates, intervals, intervals)
def test_convert_rate_round_trip(rate: float, a: float, b: float) -> None:
    assert convert_rate(convert_rate(rate, a, b), b, a) == close(rate)


@given(rates, intervals, intervals)
def test_convert_rate_preserves_apr(rate: float, a: float, b: float) -> None:
    assert apr(convert_rate(rate, a, b), b) == close(apr(rate, a))


@given(rates)
def test_same_hourly_rate_same_apr_at_1_4_8h(hourly: float) -> None:
    expected = apr(hourly, 1)
    for interval_h in (4, 8):
        assert apr(convert_rate(hourly, 1, interval_h), interval_h) == close(expected)


def test_convert_rate_examples() -> None:
    assert convert_rate(0.0001, 8, 1) == pytest.approx(0.0000125)
    assert convert_rate(0.0000125, 1, 8) == pytest.approx(0.0001)
    assert convert_rate(0.0003, 4, 4) == 0.0003


@pytest.mark.parametrize("bad", [0, -1, -0.5, math.nan, math.inf])
def test_intervals_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError):
        convert_rate(0.0001, bad, 1)
    with pytest.raises(ValueError):
        convert_rate(0.0001, 1, bad)
    with pytest.raises(ValueError):
        apr(0.0001, bad)
    with pytest.raises(ValueError):
        rate_from_apr(0.1, bad)
    with pytest.raises(ValueError):
        next_settlement_ms(0, bad)


# --- Hyperliquid rate formula ----------------------------------------------------------


@given(premiums)
def test_funding_rate_8h_stays_within_clamp_of_premium(p: float) -> None:
    assert abs(funding_rate_8h(p) - p) <= HL_PREMIUM_CLAMP + 1e-15


@given(
    st.floats(
        min_value=HL_INTEREST_8H - HL_PREMIUM_CLAMP,
        max_value=HL_INTEREST_8H + HL_PREMIUM_CLAMP,
    )
)
def test_funding_rate_8h_is_interest_inside_band(p: float) -> None:
    assert funding_rate_8h(p) == HL_INTEREST_8H


def test_funding_rate_8h_examples() -> None:
    assert funding_rate_8h(0.0) == 0.0001
    assert funding_rate_8h(0.001) == pytest.approx(0.001 - 0.0005)
    assert funding_rate_8h(-0.001) == pytest.approx(-0.001 + 0.0005)
    assert funding_rate_8h(0.0, interest_8h=0.0002, clamp=0.0001) == pytest.approx(0.0001)
    with pytest.raises(ValueError):
        funding_rate_8h(0.0, clamp=-0.0001)


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_hl_hourly_rate_within_cap(p: float) -> None:
    assert -HL_HOURLY_CAP <= hl_hourly_rate(p) <= HL_HOURLY_CAP


@given(st.floats(min_value=-0.3, max_value=0.3))
def test_hl_hourly_rate_is_f8_over_8_inside_cap(p: float) -> None:
    assert hl_hourly_rate(p) == pytest.approx(funding_rate_8h(p) / 8)


def test_hl_hourly_baseline_and_cap() -> None:
    assert hl_hourly_rate(0.0) == pytest.approx(0.0000125)
    assert hl_hourly_rate(0.0) == 0.0001 / 8
    assert hl_hourly_rate(1.0) == HL_HOURLY_CAP
    assert hl_hourly_rate(-1.0) == -HL_HOURLY_CAP


# --- premium and basis -----------------------------------------------------------------


@given(prices, st.floats(min_value=0.0, max_value=0.05), st.floats(min_value=0.0, max_value=0.05))
def test_premium_zero_when_oracle_between_impact_prices(oracle: float, below: float, above: float) -> None:
    assert premium_sample(oracle * (1 - below), oracle * (1 + above), oracle) == 0.0


@given(prices, st.floats(min_value=1e-6, max_value=0.5), st.floats(min_value=0.0, max_value=0.05))
def test_premium_positive_when_bid_above_oracle(oracle: float, up: float, spread: float) -> None:
    bid = oracle * (1 + up)
    value = premium_sample(bid, bid * (1 + spread), oracle)
    assert value > 0
    assert value == pytest.approx((bid - oracle) / oracle)


@given(prices, st.floats(min_value=1e-6, max_value=0.5), st.floats(min_value=0.0, max_value=0.05))
def test_premium_negative_when_ask_below_oracle(oracle: float, down: float, spread: float) -> None:
    ask = oracle * (1 - down)
    value = premium_sample(ask * (1 - spread), ask, oracle)
    assert value < 0
    assert value == pytest.approx(-(oracle - ask) / oracle)


def test_premium_example_and_errors() -> None:
    assert premium_sample(100.2, 100.3, 100.0) == pytest.approx(0.002)
    assert premium_sample(99.7, 99.9, 100.0) == pytest.approx(-0.001)
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            premium_sample(1.0, 1.0, bad)


def test_basis_fraction() -> None:
    assert basis_fraction(101.0, 100.0) == pytest.approx(0.01)
    assert basis_fraction(99.5, 100.0) == pytest.approx(-0.005)
    assert basis_fraction(100.0, 100.0) == 0.0
    with pytest.raises(ValueError):
        basis_fraction(1.0, 0.0)


# --- settlement clock ------------------------------------------------------------------


@given(times, st.sampled_from([1, 2, 4, 6, 8, 0.5]), st.integers(-(10**12), 10**12))
def test_next_settlement_properties(now: int, interval_h: float, anchor: int) -> None:
    step = round(interval_h * MS_PER_HOUR)
    nxt = next_settlement_ms(now, interval_h, anchor)
    assert isinstance(nxt, int)
    assert now < nxt <= now + step
    assert (nxt - anchor) % step == 0


@given(times, st.sampled_from([1, 2, 4, 6, 8, 12, 24]))
def test_next_settlement_default_grid_is_utc_midnight_aligned(now: int, interval_h: int) -> None:
    nxt = next_settlement_ms(now, interval_h)
    assert nxt % (interval_h * MS_PER_HOUR) == 0
    assert (nxt % (24 * MS_PER_HOUR)) % (interval_h * MS_PER_HOUR) == 0


def test_next_settlement_examples() -> None:
    midnight = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    assert next_settlement_ms(midnight + 1, 1) == midnight + MS_PER_HOUR
    assert next_settlement_ms(midnight, 1) == midnight + MS_PER_HOUR  # strictly after
    assert next_settlement_ms(midnight - 1, 1) == midnight
    assert next_settlement_ms(midnight + 9 * MS_PER_HOUR, 8) == midnight + 16 * MS_PER_HOUR
    assert next_settlement_ms(midnight + 23 * MS_PER_HOUR, 8) == midnight + 24 * MS_PER_HOUR
    # anchored grid: settlements at :30 past
    half = 30 * 60_000
    assert next_settlement_ms(midnight, 1, anchor_ms=midnight + half) == midnight + half


@given(times, times)
def test_countdown_never_negative(now: int, nxt: int) -> None:
    left = countdown_ms(now, nxt)
    assert left >= 0
    assert left == max(nxt - now, 0)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "00:00"),
        (-5000, "00:00"),
        (999, "00:00"),
        (1000, "00:01"),
        (59_999, "00:59"),
        (60_000, "01:00"),
        (61_500, "01:01"),
        (3_599_999, "59:59"),
        (3_600_000, "1:00:00"),
        (3_661_999, "1:01:01"),
        (8 * MS_PER_HOUR - 1, "7:59:59"),
        (36_000_000, "10:00:00"),
    ],
)
def test_format_countdown_examples(ms: int, text: str) -> None:
    assert format_countdown(ms) == text


@given(st.integers(min_value=0, max_value=100 * MS_PER_HOUR))
def test_format_countdown_round_trip_floors(ms: int) -> None:
    parts = [int(p) for p in format_countdown(ms).split(":")]
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    assert seconds == ms // 1000


# --- payments and break-even ------------------------------------------------------------


@given(
    st.floats(min_value=1e-6, max_value=1e4),
    prices,
    st.floats(min_value=1e-9, max_value=0.04),
)
def test_funding_payment_sign_conventions(size: float, oracle: float, rate: float) -> None:
    assert funding_payment(size, oracle, rate) < 0  # long pays on positive rate
    assert funding_payment(-size, oracle, rate) > 0  # short receives
    assert funding_payment(size, oracle, -rate) > 0  # long receives on negative rate
    assert funding_payment(-size, oracle, -rate) < 0  # short pays
    assert funding_payment(size, oracle, rate) == -funding_payment(-size, oracle, rate)


def test_funding_payment_example() -> None:
    # short 2 BTC at oracle 50 000, 0.0000125/h: receives 1.25 USD
    assert funding_payment(-2.0, 50_000.0, 0.0000125) == pytest.approx(1.25)
    assert funding_payment(2.0, 50_000.0, 0.0000125) == pytest.approx(-1.25)
    zero = funding_payment(-1.0, 100.0, 0.0)
    assert zero == 0.0 and math.copysign(1.0, zero) == 1.0


def test_break_even_example_from_domain() -> None:
    assert break_even_periods(0.001, 0.0005) == pytest.approx(4.0)
    assert break_even_periods(0.001, -0.0005) == pytest.approx(4.0)
    assert break_even_periods(0.001, 0.0) == math.inf
    assert break_even_periods(0.0, 0.0005) == 0.0
    assert break_even_periods(-0.0001, 0.0005) == 0.0


def test_min_cross_venue_spread() -> None:
    assert min_cross_venue_spread(0.0005, 0.0004, 12) == pytest.approx(0.00015)
    assert min_cross_venue_spread(0.001, 0.001, 4) == pytest.approx(0.001)
    with pytest.raises(ValueError):
        min_cross_venue_spread(0.001, 0.001, 0)


# --- PremiumSampler ----------------------------------------------------------------------

HOUR0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, on the hourly grid


def test_sampler_empty() -> None:
    sampler = PremiumSampler()
    assert sampler.count == 0
    assert sampler.average is None
    assert sampler.predicted_rate is None
    assert sampler.interval_start_ms is None
    assert sampler.last_settled_rate is None
    assert sampler.interval_h == 1


def test_sampler_one_sample_per_slot() -> None:
    sampler = PremiumSampler()
    assert sampler.add(HOUR0 + 100, 0.001)
    assert not sampler.add(HOUR0 + 4_999, 0.5)  # same 5 s slot: ignored
    assert sampler.add(HOUR0 + 5_000, 0.003)  # next slot
    assert not sampler.add(HOUR0 + 200, 0.9)  # older slot: ignored
    assert sampler.count == 2
    assert sampler.average == pytest.approx(0.002)
    assert sampler.interval_start_ms == HOUR0
    assert sampler.interval_end_ms == HOUR0 + MS_PER_HOUR


def test_sampler_predicted_rate_equals_formula() -> None:
    sampler = PremiumSampler()
    values = [0.0004, 0.0012, -0.0002, 0.0030, 0.0009]
    for i, value in enumerate(values):
        sampler.add(HOUR0 + i * HL_PREMIUM_SAMPLE_MS, value)
    avg = sum(values) / len(values)
    assert sampler.average == pytest.approx(avg)
    assert sampler.predicted_rate == pytest.approx(hl_hourly_rate(avg))
    f8 = avg + max(-0.0005, min(0.0005, 0.0001 - avg))
    assert sampler.predicted_rate == pytest.approx(f8 / 8)


def test_sampler_zero_premium_predicts_baseline() -> None:
    sampler = PremiumSampler()
    for i in range(720):
        sampler.add(HOUR0 + i * 5000, 0.0)
    assert sampler.count == 720
    assert sampler.predicted_rate == pytest.approx(0.0000125)


def test_sampler_resets_at_hour_boundary() -> None:
    sampler = PremiumSampler()
    for i in range(720):  # a full hour of samples
        assert sampler.add(HOUR0 + i * 5000 + 1, 0.002)
    assert sampler.count == 720
    assert sampler.add(HOUR0 + MS_PER_HOUR, -0.001)
    assert sampler.interval_start_ms == HOUR0 + MS_PER_HOUR
    assert sampler.count == 1
    assert sampler.average == pytest.approx(-0.001)
    assert sampler.last_settled_average == pytest.approx(0.002)
    assert sampler.last_settled_rate == pytest.approx(hl_hourly_rate(0.002))
    # a sample from the finished hour is now out of order
    assert not sampler.add(HOUR0 + MS_PER_HOUR - 1, 0.5)
    assert sampler.count == 1


def test_sampler_gap_forgets_unobserved_interval() -> None:
    sampler = PremiumSampler()
    sampler.add(HOUR0, 0.002)
    sampler.add(HOUR0 + 3 * MS_PER_HOUR + 10, 0.0)
    assert sampler.interval_start_ms == HOUR0 + 3 * MS_PER_HOUR
    assert sampler.last_settled_rate is None
    assert sampler.last_settled_average is None
    assert sampler.count == 1


def test_sampler_other_interval_and_errors() -> None:
    sampler = PremiumSampler(interval_h=8)
    sampler.add(HOUR0 + 7 * MS_PER_HOUR, 0.001)
    assert sampler.interval_start_ms == HOUR0
    sampler.add(HOUR0 + 8 * MS_PER_HOUR, 0.0)
    assert sampler.last_settled_average == pytest.approx(0.001)
    with pytest.raises(ValueError):
        PremiumSampler(interval_h=0)
    with pytest.raises(ValueError):
        PremiumSampler(interval_h=1 / 7200)  # 0.5 s: not whole sample slots
    with pytest.raises(ValueError):
        PremiumSampler().add(HOUR0, math.nan)


@given(st.lists(st.tuples(st.integers(0, 3 * MS_PER_HOUR), premiums), max_size=60))
def test_sampler_invariants(events: list[tuple[int, float]]) -> None:
    sampler = PremiumSampler()
    kept: list[tuple[int, float]] = []
    last_slot = None
    for t, p in events:
        accepted = sampler.add(HOUR0 + t, p)
        slot = (HOUR0 + t) // 5000
        assert accepted == (last_slot is None or slot > last_slot)
        if accepted:
            last_slot = slot
            kept.append((HOUR0 + t, p))
    if not kept:
        assert sampler.count == 0
        return
    start = kept[-1][0] - kept[-1][0] % MS_PER_HOUR
    in_hour = [p for t, p in kept if t >= start]
    assert sampler.interval_start_ms == start
    assert sampler.count == len(in_hour)
    assert sampler.average == pytest.approx(sum(in_hour) / len(in_hour), rel=1e-12, abs=1e-12)
    assert sampler.predicted_rate is not None
    assert abs(sampler.predicted_rate) <= HL_HOURLY_CAP
