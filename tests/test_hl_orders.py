"""Hyperliquid order wire formatting: number spelling, tick/lot rounding, action shapes and the SDK vectors."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account
from hypothesis import assume, given
from hypothesis import strategies as st

from pfterm.core.venues.hyperliquid.orders import (
    ORDER_WIRE_KEYS,
    Cloid,
    Trigger,
    cancel_action,
    cancel_by_cloid_action,
    float_to_wire,
    floor_size,
    is_valid_price,
    is_valid_size,
    market_price,
    order_action,
    order_wire,
    price_tick,
    round_price,
    round_size,
    schedule_cancel_action,
    update_leverage_action,
)
from pfterm.core.venues.hyperliquid.signing import action_hash, sign_l1_action
from tests.fixture_files import FIXTURES

HL = FIXTURES / "hyperliquid"


def _vectors() -> dict[str, dict[str, Any]]:
    out = {v["name"]: v for v in json.loads((HL / "signing_vectors.json").read_text())}
    extra = json.loads((HL / "signing_vectors_extra.json").read_text())
    out.update({v["name"]: v for v in extra["action_hash_vectors"]})
    return out


VECTORS = _vectors()

# --------------------------------------------------------------------------- float_to_wire


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (100.0, "100"),
        (100, "100"),
        (1670.1, "1670.1"),
        (0.0147, "0.0147"),
        (1e-8, "0.00000001"),
        (0.1 + 0.2, "0.3"),
        (-0.0, "0"),
        (0.0, "0"),
        (1e-13, "0"),
        (-1.5, "-1.5"),
        (123456789.12345678, "123456789.12345678"),
        (1e20, "100000000000000000000"),
        (91029.0, "91029"),
        (Decimal("1.50000000"), "1.5"),
        (Decimal("2E+3"), "2000"),
        (Decimal("-0"), "0"),
    ],
)
def test_float_to_wire_examples(value: Any, wire: str) -> None:
    assert float_to_wire(value) == wire


@pytest.mark.parametrize("value", [1.123456789, 1e-9, 0.000000015, Decimal("0.000000001"), Decimal("1.123456785")])
def test_float_to_wire_refuses_unrounded(value: Any) -> None:
    with pytest.raises(ValueError):
        float_to_wire(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), Decimal("NaN"), Decimal("Infinity")])
def test_float_to_wire_refuses_non_finite(value: Any) -> None:
    with pytest.raises(ValueError):
        float_to_wire(value)


@pytest.mark.parametrize("value", [True, "1.5", None, [1]])
def test_float_to_wire_refuses_other_types(value: Any) -> None:
    with pytest.raises(TypeError):
        float_to_wire(value)


_WIRE_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]{0,7}[1-9])?")


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_float_to_wire_round_trips(raw: float) -> None:
    x = round(raw, 8)
    wire = float_to_wire(x)
    assert _WIRE_RE.fullmatch(wire), wire
    assert wire != "-0"
    assert Decimal(wire) == Decimal(f"{x:.8f}")
    assert float(wire) == x or abs(float(wire) - x) < 1e-12


@given(st.integers(min_value=-(10**17), max_value=10**17), st.integers(min_value=0, max_value=8))
def test_float_to_wire_decimal_exact(coefficient: int, decimals: int) -> None:
    value = Decimal(coefficient).scaleb(-decimals)
    wire = float_to_wire(value)
    assert _WIRE_RE.fullmatch(wire), wire
    assert Decimal(wire) == value


# --------------------------------------------------------------------------- prices


@pytest.mark.parametrize(
    ("px", "sz_decimals", "is_spot", "valid"),
    [
        # Examples from the tick-and-lot-size page.
        (1234.5, 0, False, True),
        (1234.56, 0, False, False),
        (0.001234, 0, False, True),
        (0.0012345, 0, False, False),
        (0.01234, 1, False, True),
        (0.012345, 1, False, False),
        (123456, 0, False, True),
        (12345.6, 0, False, False),
        (0.0001234, 0, True, True),
        (0.0001234, 1, True, True),
        (0.0001234, 3, True, False),
        # Integers are valid whatever their significant figures or the decimals limit.
        (91029, 5, False, True),
        (1234567, 6, False, True),
        (0.5, 6, False, False),
        (0, 0, False, False),
        (-1.5, 0, False, False),
    ],
)
def test_is_valid_price(px: float, sz_decimals: int, is_spot: bool, valid: bool) -> None:
    assert is_valid_price(px, sz_decimals, is_spot=is_spot) is valid


@pytest.mark.parametrize(
    ("px", "sz_decimals", "kwargs", "expected"),
    [
        (1234.56, 0, {}, 1234.6),
        (123456.7, 0, {}, 123457.0),
        (12345.67, 0, {}, 12346.0),
        (0.0012345, 0, {}, 0.001234),  # tie to even
        (0.0012355, 0, {}, 0.001236),
        (0.012345, 1, {}, 0.01234),
        (3124.456, 4, {}, 3124.5),
        (0.123456, 5, {}, 0.1),
        (9.99996, 0, {}, 10.0),
        (99999.5, 0, {}, 100000.0),
        (0.0001234, 2, {"is_spot": True}, 0.000123),
        (0.00012345678, 0, {"is_spot": True}, 0.00012346),
        (1234.51, 0, {"rounding": "down"}, 1234.5),
        (1234.51, 0, {"rounding": "up"}, 1234.6),
        (1234.5, 0, {"rounding": "up"}, 1234.5),
        (91029, 5, {}, 91029.0),
        (Decimal("1670.14"), 4, {}, 1670.1),
    ],
)
def test_round_price_examples(px: Any, sz_decimals: int, kwargs: dict[str, Any], expected: float) -> None:
    assert round_price(px, sz_decimals, **kwargs) == expected


def test_round_price_errors() -> None:
    with pytest.raises(ValueError):
        round_price(0.0, 0)
    with pytest.raises(ValueError):
        round_price(-5.5, 0)
    with pytest.raises(ValueError):
        round_price(float("nan"), 0)
    with pytest.raises(ValueError):
        round_price(1.5, 7)  # perps allow szDecimals up to 6
    with pytest.raises(ValueError):
        round_price(1.5, -1)
    with pytest.raises(TypeError):
        round_price(1.5, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        round_price(1.5, 0, rounding="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        round_price(0.0000001, 0)  # below half the finest perp tick
    with pytest.raises(ValueError):
        round_price(0.0000009, 0, rounding="down")


def test_price_tick_examples() -> None:
    assert price_tick(1234.5, 0) == 0.1
    assert price_tick(0.001234, 0) == 1e-6
    assert price_tick(0.001234, 2) == 1e-4
    assert price_tick(91029, 5) == 1.0
    assert price_tick(123456.7, 0) == 1.0
    assert price_tick(0.00001234, 0, is_spot=True) == 1e-8
    with pytest.raises(ValueError):
        price_tick(0, 0)


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _sig_figs(value: Decimal) -> int:
    return len(value.normalize().as_tuple().digits)


price_inputs = st.floats(min_value=1e-4, max_value=1e7, allow_nan=False, allow_infinity=False)


@given(px=price_inputs, sz_decimals=st.integers(min_value=0, max_value=5), is_spot=st.booleans())
def test_round_price_properties(px: float, sz_decimals: int, is_spot: bool) -> None:
    max_decimals = (8 if is_spot else 6) - sz_decimals
    tick = Decimal(repr(price_tick(px, sz_decimals, is_spot=is_spot)))
    assume(Decimal(repr(px)) >= tick)  # far enough from zero not to round to it
    result = round_price(px, sz_decimals, is_spot=is_spot)
    exact = Decimal(repr(result))
    assert result > 0
    if exact != exact.to_integral_value():
        assert _sig_figs(exact) <= 5
        assert _decimals(exact) <= max_decimals
    assert is_valid_price(result, sz_decimals, is_spot=is_spot)
    assert abs(exact - Decimal(repr(px))) <= tick / 2
    assert round_price(result, sz_decimals, is_spot=is_spot) == result  # idempotent
    float_to_wire(result)  # representable on the wire without error
    up = round_price(px, sz_decimals, is_spot=is_spot, rounding="up")
    down = round_price(px, sz_decimals, is_spot=is_spot, rounding="down")
    assert down <= px <= up
    assert Decimal(repr(up)) - Decimal(repr(down)) <= tick
    assert is_valid_price(up, sz_decimals, is_spot=is_spot) and is_valid_price(down, sz_decimals, is_spot=is_spot)


@given(px=st.integers(min_value=1, max_value=10**9), sz_decimals=st.integers(min_value=0, max_value=6))
def test_integer_prices_always_allowed(px: int, sz_decimals: int) -> None:
    assert is_valid_price(px, sz_decimals)
    assert round_price(float(px), sz_decimals) == px


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("sz", "sz_decimals", "rounded", "floored"),
    [
        (0.125, 2, 0.13, 0.12),  # ties away from zero, unlike round()
        (2.675, 2, 2.68, 2.67),
        (0.0147, 4, 0.0147, 0.0147),
        (0.01479, 3, 0.015, 0.014),
        (0.1 + 0.2, 2, 0.3, 0.3),
        (1.5, 0, 2.0, 1.0),
        (0.0004, 3, 0.0, 0.0),
        (7, 0, 7.0, 7.0),
        (Decimal("0.123456789"), 5, 0.12346, 0.12345),
    ],
)
def test_size_rounding_examples(sz: Any, sz_decimals: int, rounded: float, floored: float) -> None:
    assert round_size(sz, sz_decimals) == rounded
    assert floor_size(sz, sz_decimals) == floored


def test_size_rounding_errors() -> None:
    for func in (round_size, floor_size):
        with pytest.raises(ValueError):
            func(-1.0, 2)
        with pytest.raises(ValueError):
            func(float("inf"), 2)
        with pytest.raises(ValueError):
            func(1.0, 9)
        with pytest.raises(TypeError):
            func(True, 2)  # type: ignore[arg-type]


sizes = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(sz=sizes, sz_decimals=st.integers(min_value=0, max_value=8))
def test_floor_size_never_exceeds_input(sz: float, sz_decimals: int) -> None:
    floored = floor_size(sz, sz_decimals)
    step = Decimal(1).scaleb(-sz_decimals)
    assert floored <= sz
    assert Decimal(repr(sz)) - Decimal(repr(floored)) < step
    assert _decimals(Decimal(repr(floored))) <= sz_decimals
    if floored > 0:
        assert is_valid_size(floored, sz_decimals)
        float_to_wire(floored)


@given(sz=sizes, sz_decimals=st.integers(min_value=0, max_value=8))
def test_round_size_within_half_a_step(sz: float, sz_decimals: int) -> None:
    rounded = round_size(sz, sz_decimals)
    step = Decimal(1).scaleb(-sz_decimals)
    assert abs(Decimal(repr(rounded)) - Decimal(repr(sz))) <= step / 2
    assert _decimals(Decimal(repr(rounded))) <= sz_decimals
    assert floor_size(sz, sz_decimals) <= rounded


def test_is_valid_size() -> None:
    assert is_valid_size(1.001, 3)
    assert not is_valid_size(1.0001, 3)
    assert not is_valid_size(0, 3)
    assert is_valid_size(5, 0)


# --------------------------------------------------------------------------- market price


def test_market_price_examples() -> None:
    assert market_price(3124.4, True, sz_decimals=4) == 3280.7  # 3280.62 rounded up
    assert market_price(3124.4, False, sz_decimals=4) == 2968.1  # 2968.18 rounded down
    assert market_price(91029, True, sz_decimals=5) == 95581.0  # 95580.45 → integer, up
    assert market_price(100, True, 0, sz_decimals=2) == 100.0
    assert market_price(0.0012345, False, 0.01, sz_decimals=0) == 0.001222


@given(
    mid=st.floats(min_value=0.01, max_value=1e6, allow_nan=False),
    is_buy=st.booleans(),
    slippage=st.floats(min_value=0, max_value=0.5),
    sz_decimals=st.integers(min_value=0, max_value=2),
)
def test_market_price_is_at_least_as_aggressive(mid: float, is_buy: bool, slippage: float, sz_decimals: int) -> None:
    px = market_price(mid, is_buy, slippage, sz_decimals=sz_decimals)
    target = Decimal(repr(mid)) * ((1 + Decimal(repr(slippage))) if is_buy else (1 - Decimal(repr(slippage))))
    assert is_valid_price(px, sz_decimals)
    if is_buy:
        assert Decimal(repr(px)) >= target
    else:
        assert Decimal(repr(px)) <= target


def test_market_price_errors() -> None:
    with pytest.raises(ValueError):
        market_price(100, True, 1.0, sz_decimals=0)
    with pytest.raises(ValueError):
        market_price(100, True, -0.01, sz_decimals=0)
    with pytest.raises(ValueError):
        market_price(0, True, sz_decimals=0)
    with pytest.raises(TypeError):
        market_price(100, True)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        market_price(0.0019, False, 0.5, sz_decimals=3)  # a sell limit below the finest tick


# --------------------------------------------------------------------------- cloid


def test_cloid() -> None:
    one = Cloid.from_int(1)
    assert one.raw == "0x00000000000000000000000000000001" == str(one) == one.to_raw()
    assert Cloid.from_str("0x" + "AB" * 16).raw == "0x" + "ab" * 16
    assert Cloid.from_str("0x" + "ab" * 16) == Cloid("0x" + "AB" * 16)
    ids = {Cloid.new() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"0x[0-9a-f]{32}", c.raw) for c in ids)
    assert Cloid.from_int(2**128 - 1).raw == "0x" + "f" * 32


@pytest.mark.parametrize(
    "bad", ["", "0x", "00" * 16, "0x" + "0" * 31, "0x" + "0" * 33, "0x" + "g" * 32, "0X" + "0" * 32]
)
def test_cloid_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        Cloid.from_str(bad)


def test_cloid_from_int_rejects() -> None:
    for bad in (-1, 2**128, True):
        with pytest.raises(ValueError):
            Cloid.from_int(bad)


# --------------------------------------------------------------------------- order wires and actions


def test_order_wire_key_order() -> None:
    wire = order_wire(3, False, 91029.0, 0.001, True, "Alo")
    assert tuple(wire) == ORDER_WIRE_KEYS == ("a", "b", "p", "s", "r", "t")
    assert wire == {"a": 3, "b": False, "p": "91029", "s": "0.001", "r": True, "t": {"limit": {"tif": "Alo"}}}
    with_cloid = order_wire(3, False, 91029.0, 0.001, True, "Ioc", Cloid.from_int(7))
    assert tuple(with_cloid) == (*ORDER_WIRE_KEYS, "c")
    assert with_cloid["c"] == "0x00000000000000000000000000000007"
    assert order_wire(3, False, 1, 1, False, "Gtc", "0x" + "AA" * 16)["c"] == "0x" + "aa" * 16
    trigger = order_wire(0, True, 100, 1, True, Trigger(98.5, False, "tp"))
    assert tuple(trigger["t"]["trigger"]) == ("isMarket", "triggerPx", "tpsl")
    assert trigger["t"] == {"trigger": {"isMarket": False, "triggerPx": "98.5", "tpsl": "tp"}}


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((1, True, 100.0, 1.0, False, "Fok"), ValueError),
        ((1, True, 100.0, 1.0, False, "gtc"), ValueError),
        ((1, True, 0.0, 1.0, False, "Gtc"), ValueError),
        ((1, True, 100.0, 0.0, False, "Gtc"), ValueError),
        ((1, True, 100.0, -1.0, False, "Gtc"), ValueError),
        ((1, True, 100.123456789, 1.0, False, "Gtc"), ValueError),
        ((-1, True, 100.0, 1.0, False, "Gtc"), ValueError),
        ((True, True, 100.0, 1.0, False, "Gtc"), TypeError),
        ((1, 1, 100.0, 1.0, False, "Gtc"), TypeError),
        ((1, True, 100.0, 1.0, 0, "Gtc"), TypeError),
        ((1, True, "100", 1.0, False, "Gtc"), TypeError),
        ((1, True, 100.0, 1.0, False, "Gtc", "0x12"), ValueError),
        ((1, True, 100.0, 1.0, False, "Gtc", 12), TypeError),
    ],
)
def test_order_wire_rejects(args: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        order_wire(*args)


def test_trigger_rejects() -> None:
    with pytest.raises(ValueError):
        Trigger(0, True, "sl")
    with pytest.raises(ValueError):
        Trigger(1.0, True, "stop")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Trigger(1.0, 1, "sl")  # type: ignore[arg-type]


def test_order_action() -> None:
    wire = order_wire(1, True, 100, 100, False, "Gtc")
    action = order_action([wire])
    assert list(action) == ["type", "orders", "grouping"]
    assert action == {"type": "order", "orders": [wire], "grouping": "na"}
    assert order_action([wire, wire], "normalTpsl")["grouping"] == "normalTpsl"
    with pytest.raises(ValueError):
        order_action([])
    with pytest.raises(ValueError):
        order_action([wire], "all")  # type: ignore[arg-type]
    reordered = {k: wire[k] for k in ("b", "a", "p", "s", "r", "t")}
    with pytest.raises(ValueError):
        order_action([reordered])
    with pytest.raises(ValueError):
        order_action([{**wire, "extra": 1}])


def test_cancel_actions() -> None:
    action = cancel_action([(0, 123), (5, 2**40)])
    assert action == {"type": "cancel", "cancels": [{"a": 0, "o": 123}, {"a": 5, "o": 2**40}]}
    assert list(action) == ["type", "cancels"] and list(action["cancels"][0]) == ["a", "o"]
    by_cloid = cancel_by_cloid_action([(4, Cloid.from_int(1)), (2, "0x" + "AB" * 16)])
    assert by_cloid == {
        "type": "cancelByCloid",
        "cancels": [
            {"asset": 4, "cloid": "0x00000000000000000000000000000001"},
            {"asset": 2, "cloid": "0x" + "ab" * 16},
        ],
    }
    assert list(by_cloid["cancels"][0]) == ["asset", "cloid"]
    for bad in ([], [(0, -1)], [(-1, 1)]):
        with pytest.raises(ValueError):
            cancel_action(bad)
    with pytest.raises(TypeError):
        cancel_action([(0, "12")])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        cancel_by_cloid_action([])
    with pytest.raises(ValueError):
        cancel_by_cloid_action([(0, "0x1")])


def test_update_leverage_action() -> None:
    action = update_leverage_action(1, True, 10)
    assert action == {"type": "updateLeverage", "asset": 1, "isCross": True, "leverage": 10}
    assert list(action) == ["type", "asset", "isCross", "leverage"]
    with pytest.raises(ValueError):
        update_leverage_action(1, True, 0)
    with pytest.raises(TypeError):
        update_leverage_action(1, True, 2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        update_leverage_action(1, "yes", 2)  # type: ignore[arg-type]


def test_schedule_cancel_action() -> None:
    assert schedule_cancel_action(None) == {"type": "scheduleCancel"}
    assert schedule_cancel_action(123456789) == {"type": "scheduleCancel", "time": 123456789}
    with pytest.raises(ValueError):
        schedule_cancel_action(-1)
    with pytest.raises(TypeError):
        schedule_cancel_action(1.5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- SDK vector cross-checks

# The human values behind each order vector (from its note), rebuilt with this module.
ORDER_VECTOR_BUILDS: dict[str, Any] = {
    "order_gtc": lambda: order_action([order_wire(1, True, 100.0, 100.0, False, "Gtc")]),
    "order_gtc_cloid": lambda: order_action([order_wire(1, True, 100.0, 100.0, False, "Gtc", Cloid.from_int(1))]),
    "order_trigger_sl": lambda: order_action([order_wire(1, True, 100.0, 100.0, False, Trigger(103.0, True, "sl"))]),
}


@pytest.mark.parametrize("base", sorted(ORDER_VECTOR_BUILDS))
@pytest.mark.parametrize("network", ["mainnet", "testnet"])
def test_built_orders_match_signing_vectors(base: str, network: str) -> None:
    vector = VECTORS[f"{base}_{network}"]
    action = ORDER_VECTOR_BUILDS[base]()
    assert action == vector["action"]
    assert json.dumps(action) == json.dumps(vector["action"])  # same key order throughout
    signature = sign_l1_action(
        Account.from_key(vector["private_key"]),
        action,
        nonce_ms=vector["nonce"],
        vault_address=vector["vault_address"],
        expires_after_ms=vector["expires_after"],
        is_mainnet=vector["is_mainnet"],
    )
    assert int(signature["r"], 16) == int(vector["expected"]["r"], 16)
    assert int(signature["s"], 16) == int(vector["expected"]["s"], 16)
    assert signature["v"] == vector["expected"]["v"]


def test_built_order_matches_phantom_agent_vector() -> None:
    vector = VECTORS["phantom_agent_order_ioc_mainnet"]
    action = order_action([order_wire(4, True, 1670.1, 0.0147, False, "Ioc")])
    assert json.dumps(action) == json.dumps(vector["action"])
    digest = action_hash(action, vector["vault_address"], vector["nonce"], vector["expires_after"])
    assert "0x" + digest.hex() == vector["expected"]["connection_id"]


@pytest.mark.parametrize("network", ["mainnet", "testnet"])
def test_built_schedule_cancel_matches_vectors(network: str) -> None:
    assert schedule_cancel_action(None) == VECTORS[f"schedule_cancel_no_time_{network}"]["action"]
    assert schedule_cancel_action(123456789) == VECTORS[f"schedule_cancel_time_{network}"]["action"]
