"""Tests for pfterm.core.market.signals: quadrant, trend, cascade detector, funding alerts (docs/domain.md §5)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pfterm.core.market.models import AlertKind
from pfterm.core.market.signals import (
    CascadeDetector,
    CascadeSample,
    CascadeSignal,
    FundingAlerter,
    Quadrant,
    Trend,
    oi_quadrant,
    oi_trend,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

# --- quadrant ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "oi", "quadrant", "strong"),
    [
        (0.01, 0.02, Quadrant.NEW_LONGS, True),
        (0.01, -0.02, Quadrant.SHORT_COVERING, False),
        (-0.01, 0.02, Quadrant.NEW_SHORTS, True),
        (-0.01, -0.02, Quadrant.LONG_CAPITULATION, False),
        (0.0, 0.02, Quadrant.NEUTRAL, False),
        (0.01, 0.0, Quadrant.NEUTRAL, False),
        (math.nan, 0.02, Quadrant.NEUTRAL, False),
    ],
)
def test_quadrants(price: float, oi: float, quadrant: Quadrant, strong: bool) -> None:
    result = oi_quadrant(price, oi)
    assert result is quadrant
    assert result.strong is strong


def test_quadrant_values() -> None:
    assert Quadrant.NEW_LONGS.value == "new longs"
    assert Quadrant.SHORT_COVERING.value == "short covering"
    assert Quadrant.NEW_SHORTS.value == "new shorts"
    assert Quadrant.LONG_CAPITULATION.value == "long capitulation"
    assert Quadrant.NEUTRAL.value == "neutral"


def test_quadrant_dead_band() -> None:
    assert oi_quadrant(0.004, 0.02, dead_band=0.005) is Quadrant.NEUTRAL
    assert oi_quadrant(0.02, -0.005, dead_band=0.005) is Quadrant.NEUTRAL  # on the edge: flat
    assert oi_quadrant(0.02, -0.006, dead_band=0.005) is Quadrant.SHORT_COVERING
    with pytest.raises(ValueError):
        oi_quadrant(0.01, 0.01, dead_band=-0.1)


changes = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)


@given(changes, changes, st.floats(min_value=0.0, max_value=0.1))
def test_quadrant_consistent_with_signs(price: float, oi: float, band: float) -> None:
    q = oi_quadrant(price, oi, band)
    if abs(price) <= band or abs(oi) <= band:
        assert q is Quadrant.NEUTRAL
    else:
        assert q is not Quadrant.NEUTRAL
        assert q.strong == (oi > 0)  # strong = fresh positions opening
        assert (q in (Quadrant.NEW_LONGS, Quadrant.SHORT_COVERING)) == (price > 0)


# --- trend ------------------------------------------------------------------------------


def test_trend() -> None:
    assert oi_trend([100.0, 101.0, 102.0]) is Trend.RISING
    assert oi_trend([100.0, 99.5, 98.0]) is Trend.FALLING
    assert oi_trend([100.0, 120.0, 100.5]) is Trend.STABLE
    assert oi_trend([100.0, 101.0]) is Trend.STABLE  # exactly 1 %: not beyond the threshold
    assert oi_trend([100.0, 100.5], threshold=0.001) is Trend.RISING
    assert oi_trend([]) is Trend.STABLE
    assert oi_trend([100.0]) is Trend.STABLE
    assert oi_trend([0.0, 100.0]) is Trend.STABLE
    assert oi_trend((1e6, 9e5)) is Trend.FALLING


# --- cascade detector ------------------------------------------------------------------


def test_cascade_fires_on_oi_drop_with_price_move() -> None:
    det = CascadeDetector()
    assert det.update(T0, 100_000.0, 1e9) is None  # first sample
    # updates inside the interval are not sampled, whatever they say
    assert det.update(T0 + 10_000, 97_000.0, 0.96e9) is None
    assert det.update(T0 + 29_999, 97_000.0, 0.96e9) is None
    assert len(det.samples) == 1
    signal = det.update(T0 + 30_000, 97_000.0, 0.96e9)
    assert isinstance(signal, CascadeSignal)
    assert signal.time_ms == T0 + 30_000
    assert signal.oi_change == pytest.approx(-0.04)
    assert signal.price_change == pytest.approx(-0.03)
    assert signal.price == 97_000.0
    assert signal.oi == 0.96e9
    assert signal.liquidation_usd == 0.0
    assert det.last_signal_ms == T0 + 30_000


def test_cascade_fires_on_upward_price_move() -> None:
    det = CascadeDetector()
    det.update(T0, 100.0, 1e8)
    signal = det.update(T0 + 30_000, 103.0, 0.96e8)  # short squeeze: OI down, price up
    assert signal is not None and signal.price_change == pytest.approx(0.03)


@pytest.mark.parametrize(
    ("price", "oi"),
    [
        (100.0, 0.90e9),  # OI only
        (97.0, 1e9),  # price only
        (97.0, 1.05e9),  # price down, OI up: new shorts, not a cascade
        (98.5, 0.96e9),  # price move too small
        (97.0, 0.975e9),  # OI drop too small
    ],
)
def test_cascade_needs_both_conditions(price: float, oi: float) -> None:
    det = CascadeDetector()
    det.update(T0, 100.0, 1e9)
    assert det.update(T0 + 30_000, price, oi) is None
    assert len(det.samples) == 2


def test_cascade_cooldown() -> None:
    det = CascadeDetector(cooldown_ms=60_000)
    price, oi = 100.0, 1e9
    det.update(T0, price, oi)
    fired = []
    for i in range(1, 7):
        price *= 0.97
        oi *= 0.96
        fired.append(det.update(T0 + i * 30_000, price, oi) is not None)
    # fires at 30 s, suppressed at 60 s (30 s later), fires at 90 s (60 s later), ...
    assert fired == [True, False, True, False, True, False]


def test_cascade_sampling_respects_interval() -> None:
    det = CascadeDetector(sample_interval_ms=30_000)
    for t in range(0, 120_001, 1_000):
        det.update(T0 + t, 100.0, 1e9)
    times = [s.time_ms - T0 for s in det.samples]
    assert times == [0, 30_000, 60_000, 90_000, 120_000]
    # samples sit on a fixed 30 s grid: the first update of each slot is sampled, later
    # updates in the same slot are not, and an irregular feed does not shift the grid
    det.update(T0 + 155_000, 100.0, 1e9)
    det.update(T0 + 179_999, 100.0, 1e9)
    det.update(T0 + 180_001, 100.0, 1e9)
    det.update(T0 + 185_000, 100.0, 1e9)
    assert [s.time_ms - T0 for s in det.samples][-2:] == [155_000, 180_001]
    # out-of-order updates are ignored
    assert det.update(T0 + 1_000, 50.0, 1.0) is None
    assert det.samples[-1].time_ms == T0 + 180_001


def test_cascade_pushes_at_the_sample_interval_are_all_compared() -> None:
    """A feed pushing about every 30 s (2 Hz at 60x) with jitter: no interval goes unchecked."""
    det = CascadeDetector(sample_interval_ms=30_000, cooldown_ms=0)
    t, fired = T0, 0
    jitter = [-300, 250, -100, 400, -350, 0, 150, -200]
    for i in range(40):
        t = T0 + i * 30_000 + jitter[i % len(jitter)]
        crash = i == 25
        sig = det.update(t, 95.0 if crash else 100.0, 0.9e9 if crash else 1e9)
        fired += sig is not None
    assert fired == 1


def test_cascade_window_bounded() -> None:
    det = CascadeDetector(window=20)
    for i in range(100):
        det.update(T0 + i * 30_000, 100.0 + i, 1e9)
    samples = det.samples
    assert len(samples) == 20
    assert det.window == 20
    assert samples[0] == CascadeSample(T0 + 80 * 30_000, 180.0, 1e9)
    assert samples[-1].time_ms == T0 + 99 * 30_000
    assert isinstance(samples, tuple)  # a read-only copy


def test_cascade_ignores_long_gaps_and_bad_data() -> None:
    det = CascadeDetector()
    det.update(T0, 100.0, 1e9)
    assert det.update(T0 + 10 * 60_000, 90.0, 0.5e9) is None  # feed stalled 10 min
    assert len(det.samples) == 2
    assert det.update(T0 + 11 * 60_000, 0.0, 0.5e9) is None  # bad price: no sample
    assert det.update(T0 + 11 * 60_000, math.nan, 0.5e9) is None
    assert det.update(T0 + 11 * 60_000, 90.0, -1.0) is None
    assert len(det.samples) == 2


def test_liquidations_strengthen_signal() -> None:
    # OI −2 % alone is below the 3 % threshold ...
    plain = CascadeDetector()
    plain.update(T0, 100.0, 1e9)
    assert plain.update(T0 + 30_000, 97.0, 0.98e9) is None
    # ... but with liquidations reported in the interval the threshold halves to 1.5 %
    det = CascadeDetector()
    det.update(T0, 100.0, 1e9)
    assert det.add_liquidations(T0 + 5_000, 2_000_000.0)
    assert det.add_liquidations(T0 + 6_000, 500_000.0)
    assert det.pending_liquidation_usd == pytest.approx(2_500_000.0)
    signal = det.update(T0 + 30_000, 97.0, 0.98e9)
    assert signal is not None
    assert signal.liquidation_usd == pytest.approx(2_500_000.0)
    assert det.pending_liquidation_usd == 0.0
    # −1 % OI is too weak even with liquidations
    det2 = CascadeDetector()
    det2.update(T0, 100.0, 1e9)
    det2.add_liquidations(T0 + 1_000, 1e6)
    assert det2.update(T0 + 30_000, 97.0, 0.99e9) is None


def test_liquidations_stale_and_invalid() -> None:
    det = CascadeDetector()
    det.update(T0, 100.0, 1e9)
    det.update(T0 + 30_000, 100.0, 1e9)
    assert det.add_liquidations(T0 + 1_000, 1.0)  # late by < one interval: counted
    assert not det.add_liquidations(T0 - 1, 1.0)  # older than one interval: stale
    assert det.pending_liquidation_usd == 1.0
    with pytest.raises(ValueError):
        det.add_liquidations(T0 + 40_000, -5.0)
    with pytest.raises(ValueError):
        det.add_liquidations(T0 + 40_000, math.inf)


def test_cascade_signal_to_alert() -> None:
    signal = CascadeSignal(T0, -0.03, -0.04, 97_000.0, 9.6e8, 1_234_567.0)
    alert = signal.to_alert("BTC")
    assert alert.kind is AlertKind.CASCADE
    assert alert.symbol == "BTC"
    assert alert.time_ms == T0
    assert alert.oi_change == -0.04 and alert.price_change == -0.03
    assert alert.message == ("BTC liquidation cascade (longs liquidated): OI -4.0 %, price -3.0 %, liquidations $1.2M")
    assert "\n" not in alert.message
    assert alert.extra["liquidation_usd"] == 1_234_567.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sample_interval_ms": 0},
        {"window": 1},
        {"oi_drop": 0.0},
        {"price_move": -0.01},
        {"cooldown_ms": -1},
        {"liquidation_oi_factor": 0.0},
        {"max_gap_ms": 1_000},
    ],
)
def test_cascade_rejects_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CascadeDetector(**kwargs)  # type: ignore[arg-type]


@given(
    st.lists(
        st.tuples(
            st.integers(0, 40_000),
            st.floats(min_value=1.0, max_value=1e5),
            st.floats(min_value=0.0, max_value=1e10),
        ),
        max_size=80,
    )
)
def test_cascade_invariants(steps: list[tuple[int, float, float]]) -> None:
    det = CascadeDetector(window=5)
    t = T0
    last_signal = None
    for dt, price, oi in steps:
        t += dt
        signal = det.update(t, price, oi)
        samples = det.samples
        assert len(samples) <= 5
        # at most one sample per 30 s slot of venue time
        assert all(b.time_ms // 30_000 > a.time_ms // 30_000 for a, b in zip(samples, samples[1:], strict=False))
        if signal is not None:
            assert signal.oi_change < -0.03 and abs(signal.price_change) > 0.02
            if last_signal is not None:
                assert signal.time_ms - last_signal >= 60_000
            last_signal = signal.time_ms


# --- funding alerts ------------------------------------------------------------------------

HOURLY_10PCT = 0.10 / 8760  # 10 % APR as an hourly rate


def kinds(alerts: list) -> list[AlertKind]:
    return [a.kind for a in alerts]


def test_funding_flip() -> None:
    fa = FundingAlerter()
    assert fa.update("BTC", T0, HOURLY_10PCT, 1) == []  # first established sign: no alert
    assert fa.established_sign == 1
    alerts = fa.update("BTC", T0 + 1, -0.123 / 8760, 1)
    assert kinds(alerts) == [AlertKind.FUNDING_FLIP]
    alert = alerts[0]
    assert alert.symbol == "BTC" and alert.time_ms == T0 + 1
    assert alert.message == "BTC funding flipped to negative: -12.3 % APR"
    assert alert.funding_apr == pytest.approx(-0.123)
    assert alert.extra == {"rate": -0.123 / 8760, "interval_h": 1}
    assert fa.update("BTC", T0 + 2, -0.2 / 8760, 1) == []  # same sign: nothing
    back = fa.update("BTC", T0 + 3, 0.0005, 8)  # 54.75 % APR on an 8 h interval
    assert kinds(back) == [AlertKind.FUNDING_FLIP]
    assert back[0].message == "BTC funding flipped to positive: +54.8 % APR"


def test_funding_no_flap_around_zero() -> None:
    fa = FundingAlerter(flip_min_apr=0.01)
    fa.update("ETH", T0, HOURLY_10PCT, 1)
    noise = [0.005, -0.005, 0.0, -0.0099, 0.009, -0.001]  # |APR| < 1 %
    for i, value in enumerate(noise):
        assert fa.update("ETH", T0 + i, value / 8760, 1) == []
    assert fa.established_sign == 1
    # noise below the threshold also never establishes a first sign
    fresh = FundingAlerter(flip_min_apr=0.01)
    for i, value in enumerate(noise):
        assert fresh.update("ETH", T0 + i, value / 8760, 1) == []
    assert fresh.established_sign == 0


def test_funding_extreme_and_rearm() -> None:
    fa = FundingAlerter(extreme_apr=1.0, rearm_ratio=0.8)
    hourly = lambda a: a / 8760  # noqa: E731
    first = fa.update("SOL", T0, hourly(1.2), 1)
    assert kinds(first) == [AlertKind.EXTREME_FUNDING]
    assert first[0].funding_apr == pytest.approx(1.2)
    assert first[0].message.startswith("SOL extreme funding: +120.0 % APR")
    assert not fa.extreme_armed
    assert fa.update("SOL", T0 + 1, hourly(1.5), 1) == []  # still extreme: silent
    assert fa.update("SOL", T0 + 2, hourly(0.9), 1) == []  # below extreme, above re-arm
    assert fa.update("SOL", T0 + 3, hourly(1.05), 1) == []  # back up without re-arming
    assert fa.update("SOL", T0 + 4, hourly(0.79), 1) == []  # below 80 %: re-arms
    assert fa.extreme_armed
    again = fa.update("SOL", T0 + 5, hourly(1.0), 1)  # exactly at threshold: fires
    assert kinds(again) == [AlertKind.EXTREME_FUNDING]


def test_funding_extreme_negative_with_flip() -> None:
    fa = FundingAlerter()
    fa.update("DOGE", T0, 0.0001, 8)
    alerts = fa.update("DOGE", T0 + 1, -0.002, 1)  # −1752 % APR
    assert kinds(alerts) == [AlertKind.FUNDING_FLIP, AlertKind.EXTREME_FUNDING]
    assert all("\n" not in a.message for a in alerts)
    assert alerts[1].funding_apr == pytest.approx(-17.52)


def test_funding_alerter_bad_input() -> None:
    fa = FundingAlerter()
    assert fa.update("BTC", T0, math.nan, 1) == []
    with pytest.raises(ValueError):
        fa.update("BTC", T0, 0.0001, 0)
    for kwargs in ({"extreme_apr": 0.0}, {"flip_min_apr": -0.1}, {"rearm_ratio": 1.5}):
        with pytest.raises(ValueError):
            FundingAlerter(**kwargs)


@given(st.lists(st.floats(min_value=-3.0, max_value=3.0), max_size=60))
def test_funding_alerter_invariants(aprs: list[float]) -> None:
    fa = FundingAlerter(extreme_apr=1.0, flip_min_apr=0.01, rearm_ratio=0.8)
    sign = 0
    armed = True
    for i, value in enumerate(aprs):
        alerts = fa.update("X", T0 + i, value / 8760, 1)
        got = kinds(alerts)
        apr_value = value / 8760 * 8760
        new_sign = sign
        if abs(apr_value) >= 0.01 and apr_value != 0:
            new_sign = 1 if apr_value > 0 else -1
        expect_flip = sign != 0 and new_sign != sign
        assert (AlertKind.FUNDING_FLIP in got) == expect_flip
        sign = new_sign
        expect_extreme = armed and abs(apr_value) >= 1.0
        assert (AlertKind.EXTREME_FUNDING in got) == expect_extreme
        if expect_extreme:
            armed = False
        elif not armed and abs(apr_value) < 0.8:
            armed = True
