"""Parsers of Hyperliquid user state (clearinghouseState, open orders) on the shared real fixtures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pfterm.core.venues.hyperliquid.account import AccountState, parse_clearinghouse_state, parse_open_orders
from pfterm.core.venues.hyperliquid.wire import WireFormatError
from tests.fixture_files import FIXTURES

HL = FIXTURES / "hyperliquid"


STATE_FIXTURES = [
    "sdk_cassettes/clearinghouseState.json",
    "ccxt_fetchPositions_1.json",
    "ccxt_fetchPositions_2.json",
    "ccxt_fetchPositions_3.json",
    "ccxt_fetchPositions_4.json",
]


def load(name: str) -> Any:
    return json.loads((HL / name).read_text())


@pytest.mark.parametrize("name", STATE_FIXTURES)
def test_every_state_fixture_parses_consistently(name: str) -> None:
    raw = load(name)
    state = parse_clearinghouse_state(raw)
    assert isinstance(state, AccountState)
    assert state.account_value == float(raw["marginSummary"]["accountValue"])
    assert len(state.positions) == len(raw["assetPositions"])
    # notional at mark reproduces the venue's total notional
    assert sum(p.notional_usd for p in state.positions) == pytest.approx(state.total_ntl_pos, rel=1e-9, abs=1e-6)
    for pos, entry in zip(state.positions, raw["assetPositions"], strict=True):
        wire = entry["position"]
        assert pos.symbol == wire["coin"]
        assert pos.size == float(wire["szi"]) and pos.size != 0
        assert pos.mark_px > 0
        assert pos.leverage == float(wire["leverage"]["value"])
        cum = wire.get("cumFunding")
        assert pos.funding_since_open == (-float(cum["sinceOpen"]) if cum else 0.0)
    # bytes input gives the same result
    assert parse_clearinghouse_state((HL / name).read_bytes()) == state


def test_sdk_cassette_values() -> None:
    state = parse_clearinghouse_state(load("sdk_cassettes/clearinghouseState.json"))
    assert state.time_ms is None and state.cross_maintenance_margin_used is None
    assert state.total_margin_used == 171.740766
    assert state.withdrawable == 1010.57173
    btc, eth = state.positions[0], state.positions[1]
    assert btc.symbol == "BTC" and btc.size == -0.00785 and btc.entry_px == 26951.0
    assert btc.mark_px == pytest.approx(211.64542 / 0.00785)
    assert btc.liquidation_px == 173198.69592357
    assert btc.margin_used == 10.582271 and btc.unrealized_pnl == -0.08007
    assert eth.liquidation_px is None and eth.size == 0.1334


def test_ccxt_stringified_ints_and_isolated_margin() -> None:
    state = parse_clearinghouse_state(load("ccxt_fetchPositions_1.json"))
    assert state.time_ms == 1764350959056
    assert state.account_value == 6.889701 and state.cross_account_value == 3.429999
    assert state.cross_maintenance_margin_used == 0.0
    (pos,) = state.positions
    assert pos.symbol == "flx:CRCL" and pos.leverage == 3.0 and pos.liquidation_px == 64.2010892308
    assert pos.mark_px == pytest.approx(10.41482 / 0.13)


def test_funding_sign_is_received_positive() -> None:
    # ETH long through a rally: cumFunding.sinceOpen +3855.42 means paid, so received is negative
    state = parse_clearinghouse_state(load("ccxt_fetchPositions_3.json"))
    sol, eth = state.positions
    assert sol.size == -0.5 and sol.funding_since_open == 0.0
    assert str(sol.funding_since_open) == "0.0"  # never -0.0
    assert eth.funding_since_open == -3855.422147
    state2 = parse_clearinghouse_state(load("ccxt_fetchPositions_2.json"))
    assert [p.funding_since_open for p in state2.positions] == [-8.357218, -161.431624]


def test_isolated_short() -> None:
    state = parse_clearinghouse_state(load("ccxt_fetchPositions_4.json"))
    (pos,) = state.positions
    assert pos.size == -4.0 and pos.mark_px == pytest.approx(48.145) and pos.leverage == 10.0
    assert state.time_ms == 1761803589961


def test_zero_size_entries_are_skipped() -> None:
    raw = load("ccxt_fetchPositions_4.json")
    raw["assetPositions"][0]["position"]["szi"] = "0.0"
    assert parse_clearinghouse_state(raw).positions == []


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r["assetPositions"][0]["position"].pop("szi"), "assetPositions[0].position.szi: missing"),
        (lambda r: r["assetPositions"][0]["position"].__setitem__("entryPx", True), "entryPx"),
        (lambda r: r["assetPositions"][0]["position"].__setitem__("positionValue", "NaN"), "positionValue"),
        (lambda r: r["assetPositions"][0]["position"].__setitem__("marginUsed", "abc"), "marginUsed"),
        (lambda r: r.pop("marginSummary"), "marginSummary"),
        (lambda r: r.__setitem__("time", "12x"), "time"),
        (lambda r: r.__setitem__("assetPositions", "x"), "assetPositions"),
    ],
)
def test_malformed_state_is_rejected_with_field_name(mutate: Any, reason: str) -> None:
    raw = load("ccxt_fetchPositions_4.json")
    mutate(raw)
    with pytest.raises(WireFormatError) as info:
        parse_clearinghouse_state(raw)
    assert reason in info.value.reason
    assert "\n" not in info.value.reason


def test_invalid_json_and_wrong_top_level() -> None:
    with pytest.raises(WireFormatError, match="invalid JSON"):
        parse_clearinghouse_state(b"{nope")
    with pytest.raises(WireFormatError):
        parse_clearinghouse_state([])
    with pytest.raises(WireFormatError, match="expected a list"):
        parse_open_orders({})


def test_frontend_open_orders_with_extras() -> None:
    buy, stop = parse_open_orders(load("http_frontend_open_orders.json"))
    assert buy.symbol == "BTC" and buy.oid == 2001 and buy.is_buy
    assert buy.size == 0.05 and buy.limit_px == 95000.0  # remaining sz, not origSz 0.10
    assert buy.cloid == "0xaabbccdd00112233aabbccdd00112233" and not buy.reduce_only
    assert buy.timestamp_ms == 1769916000000
    assert stop.symbol == "ETH" and not stop.is_buy and stop.reduce_only and stop.cloid is None
    assert stop.size == 1.25 and stop.limit_px == 2400.0


def test_sdk_frontend_open_orders_ignores_children() -> None:
    orders = parse_open_orders(load("sdk_cassettes/frontendOpenOrders.json"))
    assert [o.oid for o in orders] == [3184595907, 3184595906, 3184595905]
    assert [o.reduce_only for o in orders] == [True, True, False]
    assert [o.is_buy for o in orders] == [False, False, True]


def test_plain_open_orders() -> None:
    raw = load("sdk_cassettes/openOrders.json")
    orders = parse_open_orders(raw)
    assert len(orders) == len(raw)
    first = orders[0]
    assert (first.symbol, first.oid, first.is_buy, first.limit_px, first.size) == (
        "MATIC",
        62269971,
        True,
        1.0357,
        208.7,
    )
    assert first.timestamp_ms == 1679940217356
    assert all(o.cloid is None and not o.reduce_only for o in orders)
    assert {o.is_buy for o in orders} == {True, False}


def test_open_orders_accepts_stringified_ints_and_uppercase_cloid() -> None:
    item = {
        "coin": "SOL",
        "side": "A",
        "limitPx": 25,
        "sz": "1.0",
        "oid": "296683658818",
        "timestamp": "1700000000000",
        "cloid": "0xAABBCCDD00112233AABBCCDD00112233",
    }
    (order,) = parse_open_orders([item])
    assert order.oid == 296683658818 and order.timestamp_ms == 1700000000000 and order.limit_px == 25.0
    assert order.cloid == "0xaabbccdd00112233aabbccdd00112233"


@pytest.mark.parametrize(
    ("field", "value"),
    [("side", "X"), ("oid", 1.5), ("oid", True), ("reduceOnly", "yes"), ("cloid", 5), ("limitPx", None)],
)
def test_malformed_open_order_is_rejected(field: str, value: Any) -> None:
    item = {"coin": "SOL", "side": "B", "limitPx": "1", "sz": "1", "oid": 1, "timestamp": 1}
    item[field] = value
    with pytest.raises(WireFormatError) as info:
        parse_open_orders([item])
    assert info.value.reason.startswith(f"[0].{field}")
