"""Tests of the simulator's accounts and matching (``pfterm.core.sim.exchange``)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfterm.core.sim.exchange import SimExchange
from pfterm.core.sim.market import HOUR_MS, MarketModel
from pfterm.core.sim.snapshot import load_snapshot
from pfterm.core.venues.hyperliquid.orders import order_wire, round_price
from tests.fixture_files import FIXTURES

HOUR0 = 1_767_225_600_000
START = HOUR0 + 30 * 60 * 1000
A = "0x" + "ab" * 20
B = "0x" + "CD" * 20
CLOID = "0x" + "12" * 16
HL = FIXTURES / "hyperliquid"


@pytest.fixture(scope="module")
def snapshot() -> list:
    return load_snapshot()


def _world(snapshot: list, seed: int = 3) -> tuple[MarketModel, SimExchange]:
    model = MarketModel(snapshot, seed=seed, start_ms=START, cascade_rate_per_hour=0)
    return model, SimExchange(model)


def _ioc(
    model: MarketModel, coin: str, is_buy: bool, sz: float, *, slip: float = 0.01, reduce_only: bool = False
) -> dict:
    m = model.market(coin)
    px = round_price(m.mid * (1 + slip if is_buy else 1 - slip), m.sz_decimals)
    return order_wire(m.asset_id, is_buy, px, sz, reduce_only, "Ioc")


def _levels(model: MarketModel, coin: str, is_buy: bool) -> list[tuple[float, float]]:
    bids, asks = model.l2_book_wire(coin)["levels"]
    return [(float(lvl["px"]), float(lvl["sz"])) for lvl in (asks if is_buy else bids)]


@pytest.mark.parametrize("is_buy", [True, False])
def test_ioc_walks_the_book_with_slippage_and_pays_taker_fee(snapshot: list, is_buy: bool) -> None:
    model, ex = _world(snapshot)
    levels = _levels(model, "BTC", is_buy)
    sz = round(levels[0][1] + levels[1][1] + levels[2][1] / 2, 5)
    [status] = ex.place_orders(A, [_ioc(model, "BTC", is_buy, sz)], model.now_ms)
    filled = status["filled"]
    assert float(filled["totalSz"]) == pytest.approx(sz)
    avg = float(filled["avgPx"])
    best = levels[0][0]
    assert (avg > best) if is_buy else (avg < best)  # slippage beyond the top level
    expected_cost = (
        levels[0][0] * levels[0][1] + levels[1][0] * levels[1][1] + levels[2][0] * (sz - levels[0][1] - levels[1][1])
    )
    assert avg * sz == pytest.approx(expected_cost, rel=1e-9)
    fills = ex.user_fills(A)
    assert len(fills) == 3 and all(f["crossed"] for f in fills)
    assert {f["side"] for f in fills} == {"B" if is_buy else "A"}
    fees = sum(float(f["fee"]) for f in fills)
    assert fees == pytest.approx(expected_cost * 0.00045, abs=3e-6)
    assert ex.balance(A) == pytest.approx(100_000.0 - expected_cost * 0.00045, abs=1e-9)
    state = ex.clearinghouse_state(A)
    assert float(state["assetPositions"][0]["position"]["szi"]) == pytest.approx(sz if is_buy else -sz)


def test_ioc_stops_at_limit_price_and_rejects_when_nothing_matches(snapshot: list) -> None:
    model, ex = _world(snapshot)
    levels = _levels(model, "BTC", True)
    limit = levels[1][0]
    wire = order_wire(0, True, limit, 1.0, False, "Ioc")
    [status] = ex.place_orders(A, [wire], model.now_ms)
    assert float(status["filled"]["totalSz"]) == pytest.approx(levels[0][1] + levels[1][1])
    assert ex.open_orders(A) == []  # remainder cancelled
    below = round_price(model.market("BTC").mid * 0.99, 5)
    [err] = ex.place_orders(A, [order_wire(0, True, below, 0.01, False, "Ioc")], model.now_ms)
    assert err == {"error": "Order could not immediately match against any resting orders. asset=0"}


def test_order_validation_messages(snapshot: list) -> None:
    model, ex = _world(snapshot)
    mid = model.market("BTC").mid
    px = round_price(mid, 5)
    bad_tick = {"a": 0, "b": True, "p": "91000.5", "s": "0.01", "r": False, "t": {"limit": {"tif": "Gtc"}}}
    bad_lot = {"a": 0, "b": True, "p": str(int(px)), "s": "0.000001", "r": False, "t": {"limit": {"tif": "Gtc"}}}
    tiny = order_wire(0, True, px, 0.0001, False, "Gtc")
    huge = order_wire(0, True, px, 100.0, False, "Gtc")
    unknown = order_wire(99_999, True, 1.0, 1.0, False, "Gtc")
    out = ex.place_orders(A, [bad_tick, bad_lot, tiny, huge, unknown], model.now_ms)
    assert out[0] == {"error": "Price must be divisible by tick size. asset=0"}
    assert "error" in out[1]
    assert out[2] == {"error": "Order must have minimum value of $10. asset=0"}
    assert out[3] == {"error": "Insufficient margin to place order. asset=0"}
    assert "error" in out[4]
    assert ex.user_fills(A) == [] and ex.open_orders(A) == []


def test_reduce_only_is_clipped_and_rejected_when_it_would_increase(snapshot: list) -> None:
    model, ex = _world(snapshot)
    [first] = ex.place_orders(A, [_ioc(model, "ETH", True, 0.5)], model.now_ms)
    assert float(first["filled"]["totalSz"]) == pytest.approx(0.5)
    [rej] = ex.place_orders(A, [_ioc(model, "ETH", True, 0.1, reduce_only=True)], model.now_ms)
    assert rej == {"error": "Reduce only order would increase position. asset=1"}
    [rej2] = ex.place_orders(B, [_ioc(model, "ETH", False, 0.1, reduce_only=True)], model.now_ms)
    assert rej2 == {"error": "Reduce only order would increase position. asset=1"}
    [closed] = ex.place_orders(A, [_ioc(model, "ETH", False, 2.0, reduce_only=True)], model.now_ms)
    assert float(closed["filled"]["totalSz"]) == pytest.approx(0.5)
    assert ex.clearinghouse_state(A)["assetPositions"] == []
    assert ex.user_fills(A)[0]["dir"] == "Close Long"


def test_alo_rejected_when_crossing_and_rests_otherwise(snapshot: list) -> None:
    model, ex = _world(snapshot)
    bids, asks = model.l2_book_wire("BTC")["levels"]
    cross = order_wire(0, True, float(asks[0]["px"]), 0.01, False, "Alo")
    passive = order_wire(0, False, float(asks[0]["px"]), 0.01, False, "Alo")
    out = ex.place_orders(A, [cross, passive], model.now_ms)
    assert out[0] == {
        "error": f"Post only order would have immediately matched, bbo was {bids[0]['px']}@{asks[0]['px']}. asset=0"
    }
    assert "resting" in out[1]
    assert [o["side"] for o in ex.open_orders(A)] == ["A"]


def _step_until(model: MarketModel, ex: SimExchange, pred, limit: int = 2_000) -> None:
    for _ in range(limit):
        if pred():
            return
        model.step(5.0)
        ex.tick(model.now_ms)
    raise AssertionError("condition not reached")


def test_gtc_rests_then_fills_as_maker_when_the_mid_crosses(snapshot: list) -> None:
    model, ex = _world(snapshot)
    m = model.market("BTC")
    px = round_price(m.mid * 0.999, 5)
    [status] = ex.place_orders(A, [order_wire(0, True, px, 0.02, False, "Gtc", CLOID)], model.now_ms)
    oid = status["resting"]["oid"]
    assert status["resting"]["cloid"] == CLOID
    ex.tick(model.now_ms)
    assert [o["oid"] for o in ex.open_orders(A)] == [oid]
    _step_until(model, ex, lambda: not ex.open_orders(A))
    assert m.mid < px
    [fill] = ex.user_fills(A)
    assert fill["oid"] == oid and fill["crossed"] is False and fill["cloid"] == CLOID
    assert float(fill["px"]) == px and fill["dir"] == "Open Long"
    assert float(fill["fee"]) == pytest.approx(px * 0.02 * 0.00015, abs=1e-6)


def test_gtc_marketable_part_takes_and_remainder_rests(snapshot: list) -> None:
    model, ex = _world(snapshot)
    levels = _levels(model, "BTC", True)
    wire = order_wire(0, True, levels[0][0], round(levels[0][1] + 0.01, 5), False, "Gtc")
    [status] = ex.place_orders(A, [wire], model.now_ms)
    assert "resting" in status
    [resting] = ex.open_orders(A)
    assert float(resting["sz"]) == pytest.approx(0.01)
    assert float(ex.user_fills(A)[0]["sz"]) == pytest.approx(levels[0][1])


def test_cancel_and_cancel_by_cloid(snapshot: list) -> None:
    model, ex = _world(snapshot)
    px = round_price(model.market("BTC").mid * 0.95, 5)
    out = ex.place_orders(
        A,
        [order_wire(0, True, px, 0.01, False, "Gtc"), order_wire(0, True, px, 0.01, False, "Gtc", CLOID)],
        model.now_ms,
    )
    oid = out[0]["resting"]["oid"]
    [dup] = ex.place_orders(A, [order_wire(0, True, px, 0.01, False, "Gtc", CLOID)], model.now_ms)
    assert "error" in dup
    missing = {"error": "Order was never placed, already canceled, or filled. asset=0"}
    assert ex.cancel(B, 0, oid) == missing  # another account's order
    assert ex.cancel(A, 1, oid) == {"error": missing["error"].replace("asset=0", "asset=1")}  # wrong asset
    assert ex.cancel(A, 0, oid) == "success"
    assert ex.cancel(A, 0, oid) == missing
    assert ex.cancel_by_cloid(A, 0, CLOID.upper().replace("0X", "0x")) == "success"
    assert ex.cancel_by_cloid(A, 0, CLOID) == missing
    assert ex.open_orders(A) == []


def test_schedule_cancel_fires(snapshot: list) -> None:
    model, ex = _world(snapshot)
    now = model.now_ms
    px = round_price(model.market("BTC").mid * 0.9, 5)
    ex.place_orders(A, [order_wire(0, True, px, 0.01, False, "Gtc")], now)
    assert "error" in ex.schedule_cancel(A, now + 4_999, now)
    assert ex.schedule_cancel(A, now + 10_000, now) == "success"
    model.step(5.0)
    ex.tick(model.now_ms)
    assert len(ex.open_orders(A)) == 1
    model.step(5.0)
    ex.tick(model.now_ms)
    assert ex.open_orders(A) == []


@pytest.mark.parametrize("is_buy", [True, False])
def test_funding_settlement_sign_and_amount(snapshot: list, is_buy: bool) -> None:
    model, ex = _world(snapshot)
    ex.place_orders(A, [_ioc(model, "ETH", is_buy, 1.0)], model.now_ms)
    before = ex.balance(A)
    model.step(30 * 60 + 1)
    boundary = HOUR0 + HOUR_MS
    ex.tick(model.now_ms)
    ex.settle_funding(boundary)  # idempotent
    rate = next(r.rate for r in model.funding_history("ETH") if r.time_ms == boundary)
    szi = 1.0 if is_buy else -1.0
    expected = -szi * model.market("ETH").oracle * rate
    [row] = ex.user_funding(A, boundary, boundary)
    assert row["time"] == boundary and row["delta"]["type"] == "funding"
    assert float(row["delta"]["usdc"]) == pytest.approx(expected, abs=1e-6)
    assert float(row["delta"]["szi"]) == szi
    if rate > 0:
        assert (expected < 0) == is_buy  # positive rate: longs pay
    assert ex.balance(A) - before == pytest.approx(expected, abs=1e-9)
    cum = ex.clearinghouse_state(A)["assetPositions"][0]["position"]["cumFunding"]
    assert float(cum["allTime"]) == pytest.approx(-expected, abs=1e-6)


def test_clearinghouse_state_keys_match_the_venue(snapshot: list) -> None:
    real = json.loads((HL / "ccxt_fetchPositions_2.json").read_text())
    model, ex = _world(snapshot)
    ex.place_orders(A, [_ioc(model, "SOL", False, 3.0), _ioc(model, "ETH", True, 1.0)], model.now_ms)
    state = ex.clearinghouse_state(A)
    assert set(state) == set(real)
    assert set(state["marginSummary"]) == set(real["marginSummary"])
    assert set(state["crossMarginSummary"]) == set(real["crossMarginSummary"])
    for mine, theirs in zip(state["assetPositions"], real["assetPositions"], strict=False):
        assert set(mine) == set(theirs)
        assert set(mine["position"]) == set(theirs["position"])
        assert set(mine["position"]["leverage"]) == set(theirs["position"]["leverage"])
        assert set(mine["position"]["cumFunding"]) == set(theirs["position"]["cumFunding"])
    short = next(p["position"] for p in state["assetPositions"] if p["position"]["coin"] == "SOL")
    assert float(short["liquidationPx"]) > float(short["entryPx"])
    assert isinstance(state["time"], int)
    fill_keys = set(json.loads((HL / "http_user_fills_with_cloid.json").read_text())[0]) - {"twapId", "cloid"}
    assert fill_keys <= set(ex.user_fills(A)[0])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    trades=st.lists(
        st.tuples(st.sampled_from(["BTC", "ETH", "SOL"]), st.booleans(), st.integers(1, 40)), min_size=1, max_size=6
    ),
    steps=st.integers(0, 30),
)
def test_account_value_is_balance_plus_unrealized_pnl(snapshot: list, trades, steps: int) -> None:
    model, ex = _world(snapshot, seed=11)
    for coin, is_buy, n in trades:
        m = model.market(coin)
        sz = round(n * 20.0 / m.mid, m.sz_decimals) or m.lot
        ex.place_orders(
            A, [_ioc(model, coin, is_buy, max(sz, round(12.0 / m.mid + m.lot, m.sz_decimals)))], model.now_ms
        )
    model.step(steps * 10.0)
    state = ex.clearinghouse_state(A)
    upnl = sum(float(p["position"]["unrealizedPnl"]) for p in state["assetPositions"])
    assert float(state["marginSummary"]["accountValue"]) == pytest.approx(ex.balance(A) + upnl, abs=1e-5)
    used = sum(float(p["position"]["marginUsed"]) for p in state["assetPositions"])
    assert float(state["marginSummary"]["totalMarginUsed"]) == pytest.approx(used, abs=1e-5)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(coin=st.sampled_from(["BTC", "ETH", "SOL"]), is_buy=st.booleans(), usd=st.integers(20, 20_000))
def test_round_trip_at_the_same_price_loses_exactly_the_fees(snapshot: list, coin: str, is_buy: bool, usd: int) -> None:
    model, ex = _world(snapshot, seed=5)
    m = model.market(coin)
    bids, asks = model.l2_book_wire(coin)["levels"]
    px = float((bids if is_buy else asks)[0]["px"])  # the passive side: the Alo order rests
    sz = round(usd / px, m.sz_decimals) or m.lot
    price = round_price(px, m.sz_decimals)
    # A resting order at the same price opens, then another closes, both as maker at ``price``.
    ex.place_orders(
        A,
        [order_wire(m.asset_id, is_buy, price, max(sz, round(12 / px + m.lot, m.sz_decimals)), False, "Alo")],
        model.now_ms,
    )
    assert len(ex.open_orders(A)) == 1
    start = ex.balance(A)
    order = ex.open_orders(A)[0]
    acct_orders = ex._account(A).orders  # force the fill at the limit, independent of price moves
    o = acct_orders[order["oid"]]
    ex._fill(ex._account(A), m, o.oid, None, o.is_buy, o.px, order["limitPx"], o.lots, model.now_ms, crossed=False)
    del acct_orders[o.oid]
    ex._fill(
        ex._account(A), m, o.oid + 1, None, not o.is_buy, o.px, order["limitPx"], o.lots, model.now_ms, crossed=False
    )
    fees = sum(float(f["fee"]) for f in ex.user_fills(A))
    assert ex.clearinghouse_state(A)["assetPositions"] == []
    assert ex.balance(A) - start == pytest.approx(-2 * o.lots * m.lot * o.px * 0.00015, abs=1e-9)
    assert ex.account_value(A) - start == pytest.approx(-fees, abs=2e-6)
    assert all(f["closedPnl"] == "0.0" for f in ex.user_fills(A))


def test_liquidation_closes_positions_at_mark(snapshot: list) -> None:
    model = MarketModel(snapshot, seed=3, start_ms=START, cascade_rate_per_hour=0)
    ex = SimExchange(model, starting_usdc=1_000.0)
    assert ex.update_leverage(A, 1, True, 25) == "success"
    [status] = ex.place_orders(A, [_ioc(model, "ETH", True, round(20_000 / model.market("ETH").mid, 4))], model.now_ms)
    assert "filled" in status
    liq = float(ex.clearinghouse_state(A)["assetPositions"][0]["position"]["liquidationPx"])
    assert 0 < liq < model.market("ETH").mark
    model.trigger_cascade("ETH", long_liquidation=True, price_move=0.2, oi_drop=0.1, duration_s=10)
    model.step(15.0)
    ex.tick(model.now_ms)
    assert ex.clearinghouse_state(A)["assetPositions"] == []
    last = ex.user_fills(A)[0]
    assert last["liquidation"]["liquidatedUser"] == A and last["dir"] == "Close Long"


def test_update_leverage_rules(snapshot: list) -> None:
    _, ex = _world(snapshot)
    assert "error" in ex.update_leverage(A, 0, True, 41)  # BTC max 40
    assert "error" in ex.update_leverage(A, 0, False, 5)
    assert ex.update_leverage(A, 0, True, 3) == "success"


def _run(snapshot: list) -> str:
    model, ex = _world(snapshot, seed=21)
    for i in range(20):
        coin = ["BTC", "ETH", "SOL"][i % 3]
        m = model.market(coin)
        ex.place_orders(A, [_ioc(model, coin, i % 2 == 0, round(500 / m.mid + m.lot, m.sz_decimals))], model.now_ms)
        px = round_price(m.mid * (0.999 if i % 2 else 1.001), m.sz_decimals)
        ex.place_orders(
            B,
            [order_wire(m.asset_id, i % 2 == 1, px, round(300 / m.mid + m.lot, m.sz_decimals), False, "Gtc")],
            model.now_ms,
        )
        model.step(300.0)
        ex.tick(model.now_ms)
    return json.dumps(
        [ex.clearinghouse_state(a) for a in (A, B)] + [ex.user_fills(a) for a in (A, B)] + [ex.user_funding(A, 0)],
        sort_keys=True,
    )


def test_deterministic_for_a_seeded_model(snapshot: list) -> None:
    assert _run(snapshot) == _run(snapshot)
