"""Tests of the simulator's market model (``pfterm.core.sim.market``) and its seed data."""

from __future__ import annotations

import copy
import json
import math
import time
from decimal import Decimal
from pathlib import Path

import pytest

from pfterm.core.market.funding import hl_hourly_rate, premium_sample
from pfterm.core.sim.market import (
    HOUR_MS,
    PREMIUM_SAMPLE_MS,
    MarketModel,
    UnknownCoinError,
    decimal_str,
    price_str,
)
from pfterm.core.sim.snapshot import SnapshotError, load_snapshot, snapshot_bytes, validate_snapshot
from tests.fixture_files import FIXTURES

REPO = Path(__file__).resolve().parents[1]
META_FIXTURE = FIXTURES / "hyperliquid" / "metaAndAssetCtxs.mainnet.json"

# 2026-01-01T00:00:00Z; most tests start half an hour later.
HOUR0 = 1_767_225_600_000
START = HOUR0 + 30 * 60 * 1000


@pytest.fixture(scope="module")
def snapshot() -> list:
    return load_snapshot()


@pytest.fixture(scope="module")
def long_run(snapshot: list) -> MarketModel:
    """A model run for three simulated hours in uneven steps, with frequent cascades."""
    model = MarketModel(snapshot, seed=7, start_ms=START, cascade_rate_per_hour=20.0)
    for i in range(3 * 360):
        model.step(7.0 + (i % 5) * 1.5)
    return model


def _sig_figs(text: str) -> int:
    digits = Decimal(text).normalize().as_tuple().digits
    return len(digits)


def _is_integer_str(text: str) -> bool:
    return text.endswith(".0")


# --- seed data -------------------------------------------------------------------------


def test_packaged_snapshot_is_byte_identical_to_fixture() -> None:
    assert snapshot_bytes() == META_FIXTURE.read_bytes()


def test_snapshot_counts(snapshot: list) -> None:
    meta, ctxs = snapshot
    assert len(meta["universe"]) == len(ctxs) == 227
    assert sum(1 for a in meta["universe"] if a.get("isDelisted")) == 38


def test_validate_snapshot_rejects_bad_shapes() -> None:
    with pytest.raises(SnapshotError):
        validate_snapshot({"universe": []})
    with pytest.raises(SnapshotError):
        validate_snapshot([{"universe": [{"name": "BTC"}]}, []])


# --- formatting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("px", "max_decimals", "expected"),
    [
        (91029.3, 1, "91029.0"),
        (2.42613, 4, "2.4261"),
        (0.000005123, 12, "0.000005123"),
        (0.000005123, 6, "0.000005"),
        (110427.4, 1, "110427.0"),
        (9.999996, 4, "10.0"),
        (131.27, 4, "131.27"),
        (0.12711, 6, "0.12711"),
    ],
)
def test_price_str(px: float, max_decimals: int, expected: str) -> None:
    assert price_str(px, max_decimals) == expected


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (0.0000125, 10, "0.0000125"),
        (-0.0000060428, 10, "-0.0000060428"),
        (0.0, 10, "0.0"),
        (-1e-14, 10, "0.0"),
        (17339832.0, 0, "17339832.0"),
        (1e-7, 10, "0.0000001"),
        (2621135493.3779, 2, "2621135493.38"),
    ],
)
def test_decimal_str(value: float, decimals: int, expected: str) -> None:
    assert decimal_str(value, decimals) == expected


# --- funding formula (docs/domain.md §1) ----------------------------------------------------


def test_funding_formula_regions() -> None:
    assert hl_hourly_rate(0.0) == pytest.approx(0.0000125, abs=1e-18)
    # Flat region: the interest-rate clamp pins F8 to 0.0001 for P in [-0.0004, 0.0006].
    assert hl_hourly_rate(-0.0004) == pytest.approx(0.0000125)
    assert hl_hourly_rate(0.0006) == pytest.approx(0.0000125)
    assert hl_hourly_rate(0.001) == pytest.approx((0.001 - 0.0005) / 8)
    assert hl_hourly_rate(-0.001) == pytest.approx((-0.001 + 0.0005) / 8)
    # ±4 %/h cap.
    assert hl_hourly_rate(1.0) == 0.04
    assert hl_hourly_rate(-1.0) == -0.04


def test_premium_sample() -> None:
    # Argument order (impact bid, impact ask, oracle), as in pfterm.core.market.funding.
    assert premium_sample(100.5, 101.0, 100.0) == pytest.approx(0.005)
    assert premium_sample(99.0, 99.5, 100.0) == pytest.approx(-0.005)
    assert premium_sample(99.9, 100.1, 100.0) == 0.0


# --- determinism -----------------------------------------------------------------------


def _run(snapshot: list, seed: int, steps: list[float]) -> MarketModel:
    model = MarketModel(copy.deepcopy(snapshot), seed=seed, start_ms=START, cascade_rate_per_hour=30.0)
    for dt in steps:
        model.step(dt)
    return model


def _state(model: MarketModel) -> str:
    hist = {c: model.funding_history_wire(c, 0) for c in model.listed_coins[:20]}
    return json.dumps([model.meta_and_asset_ctxs_wire(), hist, [list(map(str, model.cascades))], model.now_ms])


def test_same_seed_same_output(snapshot: list) -> None:
    steps = [0.1] * 50 + [6.0] * 100 + [123.4, 0.0, 0.0004, 3600.0]
    a = _run(snapshot, 11, steps)
    b = _run(snapshot, 11, steps)
    assert _state(a) == _state(b)
    assert a.l2_book_wire("ETH") == b.l2_book_wire("ETH")
    c = _run(snapshot, 12, steps)
    assert _state(a) != _state(c)


def test_construction_is_deterministic_and_wire_starts_from_snapshot(snapshot: list) -> None:
    a = MarketModel(snapshot, seed=3, start_ms=START)
    b = MarketModel(snapshot, seed=3, start_ms=START)
    assert _state(a) == _state(b)
    raw = snapshot[1][0]
    ctx = a.ctx_wire("BTC")
    assert ctx["markPx"] == raw["markPx"]
    assert ctx["oraclePx"] == raw["oraclePx"]
    assert ctx["midPx"] == raw["midPx"]
    assert ctx["prevDayPx"] == raw["prevDayPx"]
    assert ctx["openInterest"] == raw["openInterest"]
    assert float(ctx["funding"]) == pytest.approx(float(raw["funding"]), rel=1e-6)


def test_watching_trades_does_not_change_prices(snapshot: list) -> None:
    a = MarketModel(snapshot, seed=5, start_ms=START)
    b = MarketModel(snapshot, seed=5, start_ms=START)
    b.watch_trades("BTC")
    b.watch_trades("SOL")
    for _ in range(100):
        a.step(1.0)
        b.step(1.0)
        b.l2_book_wire("BTC")
    assert a.all_mids_wire() == b.all_mids_wire()
    assert a.ctx_wire("BTC") == b.ctx_wire("BTC")


# --- delisted --------------------------------------------------------------------------


def test_delisted_markets_are_served_as_in_snapshot(long_run: MarketModel) -> None:
    pristine = load_snapshot()
    meta, ctxs = pristine
    delisted = [(a["name"], c) for a, c in zip(meta["universe"], ctxs, strict=False) if a.get("isDelisted")]
    assert len(delisted) == 38
    mids = long_run.all_mids_wire()
    for coin, raw in delisted:
        assert long_run.ctx_wire(coin) == raw
        assert coin not in mids
        assert long_run.l2_book_wire(coin)["levels"] == [[], []]
    wire_meta, wire_ctxs = long_run.meta_and_asset_ctxs_wire()
    assert wire_meta == meta
    for i, asset in enumerate(meta["universe"]):
        if asset.get("isDelisted"):
            assert wire_ctxs[i] == ctxs[i]
    assert len(long_run.listed_coins) == 189


# --- funding settlement ----------------------------------------------------------------


def test_settled_rate_matches_formula_on_recorded_premiums(long_run: MarketModel) -> None:
    for coin in long_run.listed_coins:
        rows = long_run.funding_history(coin)
        assert len(rows) == 72 + 3
        for row in rows:
            assert row.rate == hl_hourly_rate(row.premium)
            assert abs(row.rate) <= 0.04
        wire = long_run.funding_history_wire(coin, 0)
        for row, w in zip(rows, wire, strict=True):
            assert float(w["fundingRate"]) == pytest.approx(row.rate, abs=1e-10)
            assert float(w["premium"]) == pytest.approx(row.premium, abs=1e-10)


def test_hour_average_of_samples_is_recorded(snapshot: list) -> None:
    model = MarketModel(snapshot, seed=2, start_ms=HOUR0, cascade_rate_per_hour=0.0)
    samples: dict[str, list[float]] = {"BTC": [], "DOGE": []}
    for _ in range(HOUR_MS // PREMIUM_SAMPLE_MS):
        model.step(PREMIUM_SAMPLE_MS / 1000)
        for coin, out in samples.items():
            out.append(model.market(coin).premium)
    assert model.now_ms == HOUR0 + HOUR_MS
    for coin, out in samples.items():
        assert len(out) == 720
        row = model.funding_history(coin)[-1]
        assert row.time_ms == HOUR0 + HOUR_MS
        assert row.premium == pytest.approx(sum(out) / len(out), rel=1e-9, abs=1e-15)
        assert row.rate == hl_hourly_rate(row.premium)
        # Just after settlement the prediction restarts from the new hour's first samples.
        model_pred = model.predicted_funding(coin)
        assert model_pred == hl_hourly_rate(model.market(coin).premium)


def test_settlements_land_on_hour_boundaries(snapshot: list) -> None:
    model = MarketModel(snapshot, seed=4, start_ms=START + 1234, cascade_rate_per_hour=0.0)
    before = model.funding_history("ETH")
    assert [r.time_ms for r in before][-1] == HOUR0
    assert all(b.time_ms - a.time_ms == HOUR_MS for a, b in zip(before, before[1:], strict=False))
    # Step to 1 ms before the next boundary: nothing settles.
    model.step((HOUR0 + HOUR_MS - model.now_ms - 1) / 1000)
    assert len(model.funding_history("ETH")) == len(before)
    model.step(0.001)
    rows = model.funding_history("ETH")
    assert len(rows) == len(before) + 1
    assert rows[-1].time_ms == HOUR0 + HOUR_MS
    # One step spanning three boundaries settles three hours with their own times.
    model.step(3 * 3600.0 + 5.0)
    rows = model.funding_history("ETH")
    assert [r.time_ms for r in rows[-3:]] == [HOUR0 + k * HOUR_MS for k in (2, 3, 4)]
    assert model.next_funding_ms == HOUR0 + 5 * HOUR_MS
    # The fundingHistory window and page limit.
    wire = model.funding_history_wire("ETH", HOUR0 + 2 * HOUR_MS)
    assert [w["time"] for w in wire] == [HOUR0 + k * HOUR_MS for k in (2, 3, 4)]
    wire = model.funding_history_wire("ETH", HOUR0, HOUR0 + 2 * HOUR_MS)
    assert [w["time"] for w in wire] == [HOUR0 + k * HOUR_MS for k in (0, 1, 2)]
    model.step(20 * 24 * 3600.0)  # 20 days: the history exceeds one page
    page = model.funding_history_wire("ETH", 0)
    assert len(page) == 500
    times = [w["time"] for w in page]
    assert times == sorted(times)


# --- dynamics --------------------------------------------------------------------------


def test_prices_stay_positive_and_consistent(long_run: MarketModel) -> None:
    for coin in long_run.listed_coins:
        m = long_run.market(coin)
        assert m.oracle > 0 and m.mark > 0 and m.mid > 0
        assert 0 < m.impact_bid < m.impact_ask
        assert m.open_interest > 0
        assert abs(m.mark / m.oracle - 1) <= 0.05
        ctx = long_run.ctx_wire(coin)
        for key in ("oraclePx", "markPx", "midPx", "prevDayPx"):
            assert float(ctx[key]) > 0, (coin, key, ctx)
        assert float(ctx["dayNtlVlm"]) > 0


def test_prev_day_px_follows_hourly_ring(snapshot: list) -> None:
    model = MarketModel(snapshot, seed=9, start_ms=HOUR0, cascade_rate_per_hour=0.0)
    assert model.ctx_wire("SOL")["prevDayPx"] == snapshot[1][5]["prevDayPx"]
    model.step(24 * 3600.0)
    # After exactly 24 h, prevDayPx is the mark at the start.
    assert float(model.ctx_wire("SOL")["prevDayPx"]) == pytest.approx(float(snapshot[1][5]["markPx"]), rel=1e-4)


@pytest.mark.parametrize("longs", [True, False])
def test_forced_cascade_is_detectable_within_30s(snapshot: list, longs: bool) -> None:
    model = MarketModel(snapshot, seed=21, start_ms=START, cascade_rate_per_hour=0.0)
    model.step(1.0)
    before = model.ctx_wire("SOL")
    rec = model.trigger_cascade("SOL", long_liquidation=longs)
    assert rec.coin == "SOL" and rec.start_ms == model.now_ms
    assert 10_000 <= rec.end_ms - rec.start_ms <= 30_000
    assert 0.03 <= abs(rec.price_move) <= 0.08 and -0.15 <= rec.oi_move <= -0.05
    for _ in range(30):
        model.step(1.0)
    after = model.ctx_wire("SOL")
    px_move = float(after["markPx"]) / float(before["markPx"]) - 1
    oracle_move = float(after["oraclePx"]) / float(before["oraclePx"]) - 1
    oi_move = float(after["openInterest"]) / float(before["openInterest"]) - 1
    assert abs(px_move) > 0.02 and abs(oracle_move) > 0.02
    assert (px_move < 0) == longs
    assert oi_move < -0.03
    assert list(model.cascades) == [rec]
    # Partial rebound afterwards, never a full one.
    for _ in range(40):
        model.step(5.0)
    later = float(model.market("SOL").oracle)
    start_px = float(before["oraclePx"])
    end_px = float(after["oraclePx"])
    assert abs(later / start_px - 1) > 0.01
    assert abs(later - start_px) < abs(end_px - start_px) * 1.05


def test_random_cascades_are_detectable_and_hit_large_markets(snapshot: list) -> None:
    model = MarketModel(snapshot, seed=8, start_ms=START, cascade_rate_per_hour=120.0)
    checked = 0
    for _ in range(2_000):
        n_before = len(model.cascades)
        model.step(1.0)
        if len(model.cascades) == n_before:
            continue
        rec = model.cascades[-1]
        # Picked among the 60 largest markets by OI (USD) that were not already cascading.
        free = [c for c in model.listed_coins if model.market(c).cascade is None or c == rec.coin]
        top = sorted(free, key=lambda c: model.market(c).oi_usd, reverse=True)[:60]
        assert rec.start_ms == model.now_ms and rec.coin in top
        before = model.ctx_wire(rec.coin)
        for _ in range(30):
            model.step(1.0)
        after = model.ctx_wire(rec.coin)
        # What docs/domain.md §5's detector needs within one 30 s sample interval.
        px_move = float(after["markPx"]) / float(before["markPx"]) - 1
        oi_move = float(after["openInterest"]) / float(before["openInterest"]) - 1
        assert abs(px_move) > 0.02, rec
        assert (px_move < 0) == (rec.side == "long")
        assert oi_move < -0.03, rec
        checked += 1
        if checked == 3:
            break
    assert checked == 3


def test_cascade_rate_zero_means_none(snapshot: list) -> None:
    model = MarketModel(snapshot, seed=8, start_ms=START, cascade_rate_per_hour=0.0)
    model.step(3 * 3600.0)
    assert not model.cascades


# --- wire shapes -----------------------------------------------------------------------

CTX_KEYS = [
    "funding",
    "openInterest",
    "prevDayPx",
    "dayNtlVlm",
    "premium",
    "oraclePx",
    "markPx",
    "midPx",
    "impactPxs",
    "dayBaseVlm",
]


def _assert_plain_decimal(text: object) -> None:
    assert isinstance(text, str)
    assert "e" not in text.lower() and "." in text, text
    Decimal(text)


def test_ctx_wire_shape(long_run: MarketModel, snapshot: list) -> None:
    universe = snapshot[0]["universe"]
    for i, coin in enumerate(long_run.coins):
        ctx = long_run.ctx_wire(coin)
        assert list(ctx) == CTX_KEYS
        if coin not in long_run.listed_coins:
            continue
        for key in CTX_KEYS:
            if key == "impactPxs":
                assert len(ctx[key]) == 2
                for px in ctx[key]:
                    _assert_plain_decimal(px)
            else:
                _assert_plain_decimal(ctx[key])
        max_dec = 6 - universe[i]["szDecimals"]
        for px in (ctx["prevDayPx"], ctx["oraclePx"], ctx["markPx"], *ctx["impactPxs"]):
            assert _sig_figs(px) <= 5 or _is_integer_str(px), (coin, px)
            assert -Decimal(px).normalize().as_tuple().exponent <= max_dec, (coin, px)
        # The mid is the centre of two book prices: at most one more figure.
        assert _sig_figs(ctx["midPx"]) <= 6 or _is_integer_str(ctx["midPx"])
        bid, ask = (Decimal(p) for p in ctx["impactPxs"])
        assert bid <= Decimal(ctx["midPx"]) <= ask
        funding = Decimal(ctx["funding"])
        assert abs(funding) <= Decimal("0.04")
        assert -funding.as_tuple().exponent <= 10


def test_other_wire_shapes(long_run: MarketModel) -> None:
    mids = long_run.all_mids_wire()
    assert list(mids) == long_run.listed_coins
    for coin, px in mids.items():
        _assert_plain_decimal(px)
        assert px == long_run.ctx_wire(coin)["midPx"]

    predicted = long_run.predicted_fundings_wire()
    assert [row[0] for row in predicted] == long_run.listed_coins
    for coin, venues in predicted:
        ((venue, info),) = venues
        assert venue == "HlPerp"
        assert set(info) == {"fundingRate", "nextFundingTime", "fundingIntervalHours"}
        assert info["fundingIntervalHours"] == 1
        assert info["nextFundingTime"] == long_run.next_funding_ms
        assert info["nextFundingTime"] % HOUR_MS == 0
        assert info["fundingRate"] == long_run.ctx_wire(coin)["funding"]

    hist = long_run.funding_history_wire("BTC", long_run.now_ms - 10 * HOUR_MS)
    assert hist and all(set(h) == {"coin", "fundingRate", "premium", "time"} for h in hist)
    assert all(h["time"] >= long_run.now_ms - 10 * HOUR_MS for h in hist)
    for h in hist:
        _assert_plain_decimal(h["fundingRate"])
        _assert_plain_decimal(h["premium"])

    with pytest.raises(UnknownCoinError):
        long_run.ctx_wire("NOPE")


@pytest.mark.parametrize("coin", ["BTC", "ETH", "DOGE", "kPEPE", "SOL"])
def test_l2_book_consistent_with_ctx(long_run: MarketModel, coin: str) -> None:
    book = long_run.l2_book_wire(coin)
    ctx = long_run.ctx_wire(coin)
    assert set(book) == {"coin", "time", "levels"} and book["coin"] == coin
    assert book["time"] == long_run.now_ms
    bids, asks = book["levels"]
    assert len(bids) == len(asks) == 20
    for lvl in bids + asks:
        assert set(lvl) == {"px", "sz", "n"} and isinstance(lvl["n"], int) and lvl["n"] >= 1
        _assert_plain_decimal(lvl["px"])
        _assert_plain_decimal(lvl["sz"])
        assert _sig_figs(lvl["px"]) <= 5 or _is_integer_str(lvl["px"])
        assert Decimal(lvl["sz"]) > 0
    bid_px = [Decimal(b["px"]) for b in bids]
    ask_px = [Decimal(a["px"]) for a in asks]
    assert bid_px == sorted(bid_px, reverse=True) and len(set(bid_px)) == 20
    assert ask_px == sorted(ask_px) and len(set(ask_px)) == 20
    assert bid_px[0] < ask_px[0]
    assert (bid_px[0] + ask_px[0]) / 2 == Decimal(ctx["midPx"])
    impact_bid, impact_ask = (Decimal(p) for p in ctx["impactPxs"])
    assert bid_px[-1] <= impact_bid <= bid_px[0]
    assert ask_px[0] <= impact_ask <= ask_px[-1]


def test_l2_book_aggregation(long_run: MarketModel) -> None:
    for sig in (2, 3, 4):
        bids, asks = long_run.l2_book_wire("ETH", 20, sig)["levels"]
        assert bids and asks
        for lvl in bids + asks:
            assert _sig_figs(lvl["px"]) <= sig or _is_integer_str(lvl["px"])
        assert Decimal(bids[0]["px"]) < Decimal(asks[0]["px"])


def test_trades(snapshot: list) -> None:
    model = MarketModel(snapshot, seed=6, start_ms=START, cascade_rate_per_hour=0.0)
    assert model.drain_trades() == {}
    model.watch_trades("BTC")
    assert model.recent_trades_wire("BTC"), "backfill gives a first read"
    model.step(10.0)
    new = model.drain_trades()["BTC"]
    assert len(new) >= 5
    tids = [t["tid"] for t in new]
    assert tids == sorted(tids) and len(set(tids)) == len(tids)
    mid = model.market("BTC").mid
    for t in new:
        assert list(t) == ["coin", "side", "px", "sz", "time", "hash", "tid", "users"]
        assert t["coin"] == "BTC" and t["side"] in ("A", "B")
        assert START < t["time"] <= model.now_ms
        assert abs(float(t["px"]) / mid - 1) < 0.01
        assert float(t["sz"]) > 0
        assert t["hash"].startswith("0x") and len(t["hash"]) == 66
        assert len(t["users"]) == 2
    assert model.drain_trades() == {}
    recent = model.recent_trades_wire("BTC")
    assert [t["time"] for t in recent] == sorted((t["time"] for t in recent), reverse=True)
    # A cascade brings a burst of one-sided trades.
    model.trigger_cascade("BTC", long_liquidation=True, duration_s=20.0)
    model.step(20.0)
    burst = model.drain_trades()["BTC"]
    assert len(burst) > 2 * len(new)
    sells = sum(1 for t in burst if t["side"] == "A")
    assert sells > 0.6 * len(burst)
    model.watch_trades("BTC", enabled=False)
    model.step(5.0)
    assert model.drain_trades() == {}


def test_step_validation(snapshot: list) -> None:
    model = MarketModel(snapshot, seed=1, start_ms=START)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            model.step(bad)
    v = model.version
    model.step(0.0004)
    model.step(0.0004)
    assert model.now_ms == START and model.version == v
    model.step(0.0004)  # carried remainders add up to 1 ms
    assert model.now_ms == START + 1


def test_step_cost_at_10hz(snapshot: list) -> None:
    model = MarketModel(snapshot, seed=1, start_ms=START)
    model.step(0.1)
    t0 = time.process_time()
    for _ in range(100):  # 10 wall seconds at 10 Hz and speed 60
        model.step(6.0)
    per_step = (time.process_time() - t0) / 100
    # 10 % of a core at 10 Hz is 10 ms per step; keep a wide margin for slow machines.
    assert per_step < 0.01
