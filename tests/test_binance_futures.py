"""Binance USDⓈ-M trading client: signing, parsers against the fixtures of ``tests/fixtures``, order formatting,
and :class:`BinanceFuturesClient` against an ``httpx.MockTransport`` (no network).

Fixture provenance (``tests/fixtures/README.md``): ``ccxt_fetchPositions_1/2.json``
are real USDⓈ-M ``positionRisk`` bodies, ``ccxt_fetchPositions_3.json`` a real COIN-M one,
``ccxt_fetchBalance_1.json`` a real ``/fapi/v2/account`` body, ``ccxt_fetchFundingHistory_1.json``
a real ``/fapi/v1/income`` body; ccxt stringified ids/times there (the live API sends numbers).
There is no captured ``exchangeInfo``, order, ``userTrades`` or non-empty account-position
body: those below are SYNTHETIC, in the documented shape.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfterm.core.venues.binance.futures import (
    BinanceCredentials,
    BinanceError,
    BinanceFuturesClient,
    BinanceOrder,
    BinanceUnavailable,
    OrderRequest,
    SymbolRules,
    format_price,
    format_quantity,
    parse_account,
    parse_exchange_info,
    parse_income,
    parse_order,
    parse_position_risk,
    parse_user_trades,
    sign,
)
from pfterm.core.venues.errors import VenueError
from tests.fixture_files import FIXTURES

FIX = FIXTURES / "binance"

DOCS_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "s3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tXYZW"
CREDS = BinanceCredentials(KEY, SECRET)
NOW_MS = 1_700_000_000_123
POST_ONLY_MSG = "Due to the order could not be executed as maker, the Post Only order will be rejected."
BAD_SIGNATURE_MSG = "Signature for this request is not valid."


def fixture(name: str) -> Any:
    return json.loads((FIX / name).read_text())


def rules(
    step: str = "0.001", tick: str = "0.10", min_qty: str = "0.001", max_qty: str = "1000", min_notional: str = "100"
) -> SymbolRules:
    return SymbolRules("BTCUSDT", "BTC", float(tick), float(step), float(min_qty), float(max_qty), float(min_notional))


# SYNTHETIC exchangeInfo in the documented shape (values as on the live BTCUSDT/ETHUSDT).
EXCHANGE_INFO: dict[str, Any] = {
    "timezone": "UTC",
    "serverTime": 1_700_000_000_000,
    "symbols": [
        {
            "symbol": "BTCUSDT",
            "pair": "BTCUSDT",
            "contractType": "PERPETUAL",
            "status": "TRADING",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "marginAsset": "USDT",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "556.80", "maxPrice": "4529764", "tickSize": "0.10"},
                {"filterType": "LOT_SIZE", "stepSize": "0.001", "maxQty": "1000", "minQty": "0.001"},
                {"filterType": "MARKET_LOT_SIZE", "stepSize": "0.001", "maxQty": "120", "minQty": "0.001"},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MIN_NOTIONAL", "notional": "100"},
                {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500"},
            ],
        },
        {
            "symbol": "ETHUSDT",
            "pair": "ETHUSDT",
            "contractType": "PERPETUAL",
            "status": "TRADING",
            "baseAsset": "ETH",
            "quoteAsset": "USDT",
            "marginAsset": "USDT",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "39.86", "maxPrice": "306177", "tickSize": "0.01"},
                {"filterType": "LOT_SIZE", "stepSize": "0.001", "maxQty": "10000", "minQty": "0.001"},
                {"filterType": "MIN_NOTIONAL", "notional": "20"},
            ],
        },
        {
            "symbol": "BTCUSDT_250926",
            "pair": "BTCUSDT",
            "contractType": "CURRENT_QUARTER",
            "status": "TRADING",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "marginAsset": "USDT",
            "filters": [],
        },
        {
            "symbol": "OLDUSDT",
            "pair": "OLDUSDT",
            "contractType": "PERPETUAL",
            "status": "SETTLING",
            "baseAsset": "OLD",
            "quoteAsset": "USDT",
            "marginAsset": "USDT",
            "filters": [],
        },
    ],
}


def order_obj(**over: Any) -> dict[str, Any]:
    """SYNTHETIC order object in the documented shape (live types: numbers for ids and times)."""
    obj: dict[str, Any] = {
        "orderId": 4611875134427365377,
        "symbol": "BTCUSDT",
        "status": "NEW",
        "clientOrderId": "pf-1",
        "price": "60000.10",
        "avgPrice": "0.00",
        "origQty": "0.010",
        "executedQty": "0",
        "cumQty": "0",
        "cumQuote": "0",
        "timeInForce": "GTX",
        "type": "LIMIT",
        "reduceOnly": False,
        "closePosition": False,
        "side": "BUY",
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": "LIMIT",
        "updateTime": 1_700_000_000_456,
    }
    obj.update(over)
    return obj


# ---------------------------------------------------------------------------- signing, credentials


def test_sign_matches_the_docs_example() -> None:
    query = (
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    )
    assert sign(query, DOCS_SECRET) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    assert sign(query + "0", DOCS_SECRET) != sign(query, DOCS_SECRET)


def test_credentials_repr_hides_the_secret_and_most_of_the_key() -> None:
    for text in (repr(CREDS), str(CREDS), f"{CREDS}", repr([CREDS])):
        assert SECRET not in text
        assert KEY not in text
        assert KEY[:4] in text
    with pytest.raises(ValueError):
        BinanceCredentials("", SECRET)
    with pytest.raises(ValueError):
        BinanceCredentials(KEY, "")


# ---------------------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    ("name", "mark", "upnl", "liq", "notional", "initial", "maint"),
    [
        (
            "ccxt_fetchPositions_1.json",
            67502.68519858,
            0.51106678,
            64846.98753790,
            607.52416678,
            7.59405208,
            2.43009666,
        ),
        ("ccxt_fetchPositions_2.json", 67582.2, 1.2267, 64846.78939917, 608.2398, 7.60299749, 2.4329592),
    ],
)
def test_parse_position_risk_fixtures(
    name: str, mark: float, upnl: float, liq: float, notional: float, initial: float, maint: float
) -> None:
    (pos,) = parse_position_risk(fixture(name))
    assert pos.symbol == "BTCUSDT"
    assert pos.size == 0.009 and pos.is_long
    assert pos.entry_px == 67445.9
    assert pos.mark_px == mark
    assert pos.unrealized_pnl == upnl
    assert pos.liquidation_px == liq
    assert pos.notional == notional
    assert pos.initial_margin == initial
    assert pos.maint_margin == maint
    assert pos.update_ms == 1722161166529
    assert pos.position_side == "BOTH"


def test_parse_position_risk_live_types_drops_zero_and_maps_zero_liquidation() -> None:
    item = fixture("ccxt_fetchPositions_1.json")[0]
    live = {**item, "updateTime": 1722161166529, "positionAmt": "-0.009", "liquidationPrice": "0"}
    flat = {**item, "symbol": "ETHUSDT", "positionAmt": "0.000"}
    (pos,) = parse_position_risk([live, flat])
    assert pos.size == -0.009 and not pos.is_long
    assert pos.liquidation_px is None
    assert pos.update_ms == 1722161166529
    assert parse_position_risk(json.dumps([flat]).encode()) == []


def test_parse_position_risk_refuses_inverse_body() -> None:
    with pytest.raises(ValueError, match="COIN-M"):
        parse_position_risk(fixture("ccxt_fetchPositions_3.json"))
    # Even the zero COIN-M item alone is refused: the body came from the wrong endpoint.
    with pytest.raises(ValueError, match="COIN-M"):
        parse_position_risk(fixture("ccxt_fetchPositions_3.json")[1:])


def test_parse_position_risk_malformed() -> None:
    item = fixture("ccxt_fetchPositions_1.json")[0]
    with pytest.raises(ValueError, match="markPrice"):
        parse_position_risk([{**item, "markPrice": "abc"}])
    with pytest.raises(ValueError, match="notional"):
        parse_position_risk([{k: v for k, v in item.items() if k != "notional"}])
    with pytest.raises(ValueError, match="expected an array"):
        parse_position_risk({"code": -1})


def test_parse_account_fixture() -> None:
    acct = parse_account(fixture("ccxt_fetchBalance_1.json"))
    assert acct.wallet_balance == 31.022612
    assert acct.margin_balance == 31.022612
    assert acct.available_balance == 31.022612
    assert acct.unrealized_pnl == 0.0
    assert acct.maint_margin == 0.0
    assert acct.initial_margin == 0.0
    assert acct.positions == ()


def test_parse_account_positions_keep_nonzero_without_mark() -> None:
    body = fixture("ccxt_fetchBalance_1.json")
    # SYNTHETIC v2 account position entries (documented shape: no markPrice, no liquidationPrice).
    body["positions"] = [
        {
            "symbol": "BTCUSDT",
            "initialMargin": "7.6",
            "maintMargin": "2.43",
            "unrealizedProfit": "1.2267",
            "positionInitialMargin": "7.6",
            "openOrderInitialMargin": "0",
            "leverage": "80",
            "isolated": False,
            "entryPrice": "67445.9",
            "maxNotional": "250000",
            "positionSide": "BOTH",
            "positionAmt": "0.009",
            "updateTime": 1722161166529,
        },
        {
            "symbol": "ETHUSDT",
            "initialMargin": "0",
            "maintMargin": "0",
            "unrealizedProfit": "0.00000000",
            "positionInitialMargin": "0",
            "openOrderInitialMargin": "0",
            "leverage": "20",
            "isolated": False,
            "entryPrice": "0.0",
            "maxNotional": "250000",
            "positionSide": "BOTH",
            "positionAmt": "0.000",
            "updateTime": 0,
        },
    ]
    (pos,) = parse_account(body).positions
    assert (pos.symbol, pos.size, pos.entry_px, pos.unrealized_pnl) == ("BTCUSDT", 0.009, 67445.9, 1.2267)
    assert (pos.initial_margin, pos.maint_margin) == (7.6, 2.43)
    assert pos.mark_px is None and pos.liquidation_px is None and pos.notional is None
    body["totalWalletBalance"] = None
    with pytest.raises(ValueError, match="totalWalletBalance"):
        parse_account(body)


def test_parse_income_fixture_and_live_types() -> None:
    (row,) = parse_income(fixture("ccxt_fetchFundingHistory_1.json"))
    assert row.symbol == "BTCUSDT"
    assert row.income_type == "FUNDING_FEE"
    assert row.income == -0.04618913
    assert row.asset == "USDT"
    assert row.time_ms == 1707465600000
    assert row.tran_id == 8082457372019390060
    assert row.trade_id is None
    assert row.info == "FUNDING_FEE"
    live = {
        **fixture("ccxt_fetchFundingHistory_1.json")[0],
        "time": 1707465600000,
        "tranId": 8082457372019390060,
        "symbol": "",
        "incomeType": "TRANSFER",
        "tradeId": "12345",
    }
    (row,) = parse_income([live])
    assert (row.symbol, row.tran_id, row.trade_id, row.time_ms) == (None, 8082457372019390060, "12345", 1707465600000)
    with pytest.raises(ValueError, match="tranId"):
        parse_income([{**live, "tranId": "x"}])


def test_parse_user_trades() -> None:
    # SYNTHETIC item, documented shape.
    item = {
        "buyer": False,
        "commission": "0.07819010",
        "commissionAsset": "USDT",
        "id": 698759,
        "maker": False,
        "orderId": 25851813,
        "price": "7819.01",
        "qty": "0.002",
        "quoteQty": "15.63802",
        "realizedPnl": "-0.91539999",
        "side": "SELL",
        "positionSide": "BOTH",
        "symbol": "BTCUSDT",
        "time": 1569514978020,
    }
    (t,) = parse_user_trades(
        [
            item,
        ]
    )
    assert (t.id, t.order_id, t.symbol, t.side) == (698759, 25851813, "BTCUSDT", "SELL")
    assert (t.price, t.qty, t.quote_qty, t.realized_pnl) == (7819.01, 0.002, 15.63802, -0.91539999)
    assert (t.commission, t.commission_asset, t.time_ms, t.maker) == (0.0781901, "USDT", 1569514978020, False)
    (t,) = parse_user_trades([{**item, "id": "698759", "time": "1569514978020", "maker": "true"}])
    assert (t.id, t.time_ms, t.maker) == (698759, 1569514978020, True)
    with pytest.raises(ValueError, match="side"):
        parse_user_trades([{**item, "side": "sell"}])


def test_parse_order_fields_and_states() -> None:
    order = parse_order(order_obj())
    assert order == BinanceOrder(
        order_id=4611875134427365377,
        client_order_id="pf-1",
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        time_in_force="GTX",
        status="NEW",
        price=60000.1,
        avg_price=0.0,
        orig_qty=0.01,
        executed_qty=0.0,
        reduce_only=False,
        update_ms=1_700_000_000_456,
        cum_quote=0.0,
    )
    assert order.is_open and not order.filled
    done = parse_order(
        order_obj(
            status="FILLED",
            executedQty="0.010",
            avgPrice="60000.1",
            reduceOnly="true",
            orderId="4611875134427365377",
            updateTime="1700000000999",
        )
    )
    assert not done.is_open and done.filled and done.reduce_only
    assert (done.order_id, done.update_ms, done.avg_price) == (4611875134427365377, 1700000000999, 60000.1)
    # Cancel answers have no avgPrice; openOrders items may carry only ``time``.
    cancelled = order_obj(status="CANCELED", executedQty="0.004", cumQuote="240.0004")
    del cancelled["avgPrice"]
    assert parse_order(cancelled).avg_price == pytest.approx(60000.1)
    listed = order_obj(time=1_700_000_000_001)
    del listed["updateTime"]
    assert parse_order(listed).update_ms == 1_700_000_000_001
    with pytest.raises(ValueError, match="origQty"):
        parse_order(order_obj(origQty="lots"))
    with pytest.raises(ValueError, match="reduceOnly"):
        parse_order(order_obj(reduceOnly="maybe"))


def test_parse_exchange_info() -> None:
    out = parse_exchange_info(EXCHANGE_INFO)
    assert set(out) == {"BTCUSDT", "ETHUSDT"}
    btc = out["BTCUSDT"]
    assert btc == SymbolRules("BTCUSDT", "BTC", 0.1, 0.001, 0.001, 1000.0, 100.0, "USDT")
    assert btc.exact("tick_size") == Decimal("0.1") and btc.exact("step_size") == Decimal("0.001")
    assert out["ETHUSDT"].exact("min_notional") == Decimal("20")
    broken = copy.deepcopy(EXCHANGE_INFO)
    broken["symbols"][1]["filters"] = broken["symbols"][1]["filters"][:2]
    with pytest.raises(ValueError, match="ETHUSDT: filter MIN_NOTIONAL missing"):
        parse_exchange_info(broken)


# ---------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("qty", "step", "expected"),
    [
        (0.0105, "0.001", "0.01"),
        (0.1 + 0.2, "0.001", "0.3"),
        (1.0, "0.001", "1"),
        (0.0009, "0.001", "0"),
        (123.456, "1", "123"),
        (57.0, "10", "50"),
        (1e-7, "0.0000001", "0.0000001"),
        (2.5e-5, "0.00001", "0.00002"),
        (12345678.9, "0.1", "12345678.9"),
    ],
)
def test_format_quantity_cases(qty: float, step: str, expected: str) -> None:
    assert format_quantity(qty, rules(step=step)) == expected


def test_format_quantity_rejects_bad_input() -> None:
    for bad in (-0.001, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            format_quantity(bad, rules())


@pytest.mark.parametrize(
    ("px", "tick", "rounding", "expected"),
    [
        (60000.14, "0.10", "down", "60000.1"),
        (60000.14, "0.10", "up", "60000.2"),
        (60000.15, "0.10", "nearest", "60000.2"),
        (60000.10, "0.10", "up", "60000.1"),
        (0.00001234, "0.0000001", "nearest", "0.0000123"),
        (1.5e-7, "0.0000001", "down", "0.0000001"),
        (3000.0, "0.01", "down", "3000"),
    ],
)
def test_format_price_cases(px: float, tick: str, rounding: Any, expected: str) -> None:
    assert format_price(px, rules(tick=tick), rounding) == expected


def test_format_price_rejects_bad_input() -> None:
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            format_price(bad, rules())
    with pytest.raises(ValueError, match="below one tick"):
        format_price(0.05, rules(tick="0.10"), "down")
    with pytest.raises(ValueError, match="rounding"):
        format_price(1.0, rules(), "sideways")  # type: ignore[arg-type]


STEPS = ["0.001", "0.01", "0.1", "1", "10", "0.00001", "0.0000001", "0.5", "0.025"]


@settings(max_examples=400, deadline=None)
@given(qty=st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False), step=st.sampled_from(STEPS))
def test_format_quantity_is_a_floor_to_step(qty: float, step: str) -> None:
    out = format_quantity(qty, rules(step=step))
    assert "e" not in out.lower() and not out.startswith("-")
    assert out == "0" or "." not in out or not out.endswith("0")
    value, stepd = Decimal(out), Decimal(step)
    assert value % stepd == 0
    assert float(out) <= qty
    assert Decimal(repr(qty)) - value < stepd


@settings(max_examples=300, deadline=None)
@given(px=st.floats(min_value=10, max_value=1e6, allow_nan=False), tick=st.sampled_from(STEPS))
def test_format_price_brackets_the_input(px: float, tick: str) -> None:
    r = rules(tick=tick)
    down, up, near = (Decimal(format_price(px, r, m)) for m in ("down", "up", "nearest"))
    tickd, exact = Decimal(tick), Decimal(repr(px))
    assert down % tickd == 0 and up % tickd == 0 and near % tickd == 0
    assert down <= exact <= up and up - down <= tickd
    assert near in (down, up)


# ---------------------------------------------------------------------------- order requests


def test_order_request_params_round_passively() -> None:
    r = rules()
    buy = OrderRequest("BTCUSDT", "BUY", 0.0105, 60000.19, time_in_force="GTX", client_order_id="pf-buy.1:a/b_c")
    assert buy.to_params(r) == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.01",
        "price": "60000.1",
        "timeInForce": "GTX",
        "newClientOrderId": "pf-buy.1:a/b_c",
        "newOrderRespType": "RESULT",
    }
    sell = OrderRequest("BTCUSDT", "SELL", 0.002, 60000.11, reduce_only=True)
    params = sell.to_params(r)
    assert params["price"] == "60000.2" and params["reduceOnly"] == "true" and "newClientOrderId" not in params
    market = OrderRequest("BTCUSDT", "SELL", 0.5, type="MARKET")
    assert market.to_params(r) == {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "MARKET",
        "quantity": "0.5",
        "newOrderRespType": "RESULT",
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"side": "buy"},
        {"quantity": 0.0},
        {"quantity": float("nan")},
        {"price": None},
        {"price": -1.0},
        {"type": "STOP"},
        {"time_in_force": "DAY"},
        {"client_order_id": "x" * 37},
        {"client_order_id": "bad id"},
        {"client_order_id": ""},
        {"client_order_id": "é"},
        {"type": "MARKET"},  # a market order with a price
        {"symbol": "BTC USDT"},
    ],
)
def test_order_request_validation(kwargs: dict[str, Any]) -> None:
    base: dict[str, Any] = {"symbol": "BTCUSDT", "side": "BUY", "quantity": 0.01, "price": 60000.0}
    with pytest.raises(ValueError):
        OrderRequest(**{**base, **kwargs})


def test_order_request_checks_rules() -> None:
    r = rules()
    with pytest.raises(ValueError, match="below the minimum"):
        OrderRequest("BTCUSDT", "BUY", 0.0009, 60000.0).to_params(r)
    with pytest.raises(ValueError, match="above the maximum"):
        OrderRequest("BTCUSDT", "BUY", 1000.5, 60000.0).to_params(r)
    with pytest.raises(ValueError, match="notional"):
        OrderRequest("BTCUSDT", "BUY", 0.001, 60000.0).to_params(r)  # 60 USDT < 100
    assert OrderRequest("BTCUSDT", "SELL", 0.001, 60000.0, reduce_only=True).to_params(r)["quantity"] == "0.001"
    with pytest.raises(ValueError, match="rules are for"):
        OrderRequest("ETHUSDT", "BUY", 1.0, 3000.0).to_params(r)


# ---------------------------------------------------------------------------- client (MockTransport)


class Venue:
    """Programmable fake: ``routes[(method, path)]`` returns ``(status, json)`` or raises."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], Callable[[httpx.Request], Any]] = {
            ("GET", "/fapi/v1/exchangeInfo"): lambda _r: (200, EXCHANGE_INFO),
        }

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return httpx.Response(404, json={"code": -1, "msg": "no route"})
        status, body = route(request)
        if isinstance(body, (bytes, str)):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    def signed(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


def params_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))


def assert_signed(request: httpx.Request) -> None:
    """The signature is the last parameter and the HMAC of everything before it."""
    raw = request.url.query.decode()
    unsigned, sep, signature = raw.rpartition("&signature=")
    assert sep and "&" not in signature
    assert signature == sign(unsigned, SECRET)
    assert request.headers["X-MBX-APIKEY"] == KEY
    params = params_of(request)
    assert params["timestamp"] == str(NOW_MS) and params["recvWindow"] == "5000"
    assert request.content == b""


@pytest.fixture
def venue() -> Venue:
    return Venue()


@pytest.fixture
async def client(venue: Venue) -> Any:
    http = httpx.AsyncClient(transport=httpx.MockTransport(venue.handler))
    async with BinanceFuturesClient(
        "https://fapi.test", CREDS, client=http, clock_ms=lambda: NOW_MS, retry_delay_s=0.0
    ) as c:
        yield c
    await http.aclose()


async def test_place_sends_a_signed_query(client: BinanceFuturesClient, venue: Venue) -> None:
    venue.routes[("POST", "/fapi/v1/order")] = lambda _r: (200, order_obj())
    order = await client.place(
        OrderRequest("BTCUSDT", "BUY", 0.0105, 60000.19, time_in_force="GTX", client_order_id="pf-1")
    )
    assert order.order_id == 4611875134427365377 and order.is_open
    (request,) = venue.signed("/fapi/v1/order")
    assert request.method == "POST"
    assert_signed(request)
    params = params_of(request)
    assert params["quantity"] == "0.01" and params["price"] == "60000.1" and params["newClientOrderId"] == "pf-1"
    assert list(params)[-3:] == ["recvWindow", "timestamp", "signature"]
    # exchangeInfo is public: no key, no signature; and cached after the first read.
    (info,) = venue.signed("/fapi/v1/exchangeInfo")
    assert "X-MBX-APIKEY" not in info.headers and "signature" not in params_of(info)
    await client.place(OrderRequest("BTCUSDT", "BUY", 0.01, 60000.0))
    assert len(venue.signed("/fapi/v1/exchangeInfo")) == 1
    await client.exchange_info(refresh=True)
    assert len(venue.signed("/fapi/v1/exchangeInfo")) == 2


async def test_signature_changes_with_the_injected_clock(venue: Venue) -> None:
    ticks = iter([1_000, 2_000])
    venue.routes[("GET", "/fapi/v1/openOrders")] = lambda _r: (200, [])
    http = httpx.AsyncClient(transport=httpx.MockTransport(venue.handler))
    async with BinanceFuturesClient("https://fapi.test", CREDS, client=http, clock_ms=lambda: next(ticks)) as c:
        await c.open_orders("BTCUSDT")
        await c.open_orders("BTCUSDT")
    await http.aclose()
    first, second = venue.signed("/fapi/v1/openOrders")
    assert params_of(first)["timestamp"] == "1000" and params_of(second)["timestamp"] == "2000"
    assert params_of(first)["signature"] != params_of(second)["signature"]


async def test_error_json_raises_binance_error_with_code(client: BinanceFuturesClient, venue: Venue) -> None:
    venue.routes[("POST", "/fapi/v1/order")] = lambda _r: (400, {"code": -2019, "msg": "Margin is insufficient."})
    with pytest.raises(BinanceError) as info:
        await client.place(OrderRequest("BTCUSDT", "BUY", 0.01, 60000.0))
    err = info.value
    assert (err.code, err.msg, err.http_status) == (-2019, "Margin is insufficient.", 400)
    assert str(err) == "binance -2019: Margin is insufficient."
    assert isinstance(err, VenueError) and not err.retryable
    assert len(venue.signed("/fapi/v1/order")) == 1


async def test_batch_splits_into_chunks_and_keeps_input_order(client: BinanceFuturesClient, venue: Venue) -> None:
    seen_sizes: list[int] = []

    def batch(request: httpx.Request) -> tuple[int, Any]:
        assert_signed(request)
        entries = json.loads(params_of(request)["batchOrders"])
        seen_sizes.append(len(entries))
        answer: list[Any] = []
        for entry in entries:
            assert all(isinstance(v, str) for v in entry.values())
            if entry["newClientOrderId"] == "c-6":
                answer.append({"code": -5022, "msg": POST_ONLY_MSG})
            else:
                answer.append(order_obj(clientOrderId=entry["newClientOrderId"], origQty=entry["quantity"]))
        return 200, answer

    venue.routes[("POST", "/fapi/v1/batchOrders")] = batch
    reqs = [
        OrderRequest(
            "BTCUSDT", "BUY", round(0.01 + i * 0.001, 3), 60000.0, time_in_force="GTX", client_order_id=f"c-{i}"
        )
        for i in range(12)
    ]
    results = await client.place_batch(reqs)
    assert sorted(seen_sizes) == [2, 5, 5]
    assert len(results) == 12
    for i, result in enumerate(results):
        if i == 6:
            assert isinstance(result, BinanceError) and result.code == -5022
        else:
            assert isinstance(result, BinanceOrder)
            assert result.client_order_id == f"c-{i}"
            assert result.orig_qty == round(0.01 + i * 0.001, 3)
    raw = venue.signed("/fapi/v1/batchOrders")[0].url.query.decode()
    assert "%5B%7B%22symbol%22%3A%22BTCUSDT%22" in raw  # compact JSON, url-encoded, signed as sent


async def test_batch_chunk_refusal_is_per_order(client: BinanceFuturesClient, venue: Venue) -> None:
    def batch(request: httpx.Request) -> tuple[int, Any]:
        entries = json.loads(params_of(request)["batchOrders"])
        if entries[0]["newClientOrderId"] == "c-5":
            return 400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
        return 200, [order_obj(clientOrderId=e["newClientOrderId"]) for e in entries]

    venue.routes[("POST", "/fapi/v1/batchOrders")] = batch
    reqs = [OrderRequest("BTCUSDT", "SELL", 0.01, 60000.0, client_order_id=f"c-{i}") for i in range(7)]
    results = await client.place_batch(reqs)
    assert [type(r) for r in results] == [BinanceOrder] * 5 + [BinanceError] * 2
    assert [r.code for r in results[5:]] == [-1021, -1021]  # type: ignore[union-attr]
    assert len(venue.signed("/fapi/v1/batchOrders")) == 2


async def test_batch_lost_chunk_raises_after_all_chunks(client: BinanceFuturesClient, venue: Venue) -> None:
    def batch(request: httpx.Request) -> tuple[int, Any]:
        entries = json.loads(params_of(request)["batchOrders"])
        if entries[0]["newClientOrderId"] == "c-5":
            return 503, {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}
        return 200, [order_obj(clientOrderId=e["newClientOrderId"]) for e in entries]

    venue.routes[("POST", "/fapi/v1/batchOrders")] = batch
    reqs = [OrderRequest("BTCUSDT", "SELL", 0.01, 60000.0, client_order_id=f"c-{i}") for i in range(12)]
    with pytest.raises(BinanceUnavailable, match="5 of 12 orders in doubt") as info:
        await client.place_batch(reqs)
    assert info.value.outcome_unknown and info.value.status == 503
    assert len(venue.signed("/fapi/v1/batchOrders")) == 3  # every chunk sent, the lost one not retried


async def test_batch_short_answer_is_in_doubt(client: BinanceFuturesClient, venue: Venue) -> None:
    venue.routes[("POST", "/fapi/v1/batchOrders")] = lambda _r: (200, [order_obj()])
    reqs = [OrderRequest("BTCUSDT", "SELL", 0.01, 60000.0, client_order_id=f"c-{i}") for i in range(2)]
    with pytest.raises(BinanceUnavailable, match="1 entries for 2 orders") as info:
        await client.place_batch(reqs)
    assert info.value.outcome_unknown


async def test_get_503_is_retried_then_succeeds(client: BinanceFuturesClient, venue: Venue) -> None:
    answers = iter(
        [(503, b"Service Unavailable"), (503, {"code": -1001, "msg": "Internal error"}), (200, [order_obj()])]
    )
    venue.routes[("GET", "/fapi/v1/openOrders")] = lambda _r: next(answers)
    orders = await client.open_orders("BTCUSDT")
    assert [o.client_order_id for o in orders] == ["pf-1"]
    attempts = venue.signed("/fapi/v1/openOrders")
    assert len(attempts) == 3
    for request in attempts:
        assert_signed(request)


async def test_get_gives_up_after_three_tries(client: BinanceFuturesClient, venue: Venue) -> None:
    venue.routes[("GET", "/fapi/v2/account")] = lambda _r: (502, b"Bad Gateway")
    with pytest.raises(BinanceUnavailable, match="HTTP 502") as info:
        await client.account()
    assert not info.value.outcome_unknown
    assert len(venue.signed("/fapi/v2/account")) == 3


async def test_post_order_503_is_not_retried(client: BinanceFuturesClient, venue: Venue) -> None:
    venue.routes[("POST", "/fapi/v1/order")] = lambda _r: (503, {"code": -1001, "msg": "Internal error"})
    with pytest.raises(BinanceUnavailable) as info:
        await client.place(OrderRequest("BTCUSDT", "BUY", 0.01, 60000.0, client_order_id="pf-9"))
    assert info.value.outcome_unknown and info.value.status == 503
    assert len(venue.signed("/fapi/v1/order")) == 1


async def test_cancel_timeout_is_not_retried(client: BinanceFuturesClient, venue: Venue) -> None:
    def boom(request: httpx.Request) -> Any:
        raise httpx.ReadTimeout("read timed out", request=request)

    venue.routes[("DELETE", "/fapi/v1/order")] = boom
    with pytest.raises(BinanceUnavailable, match="timed out") as info:
        await client.cancel("BTCUSDT", client_order_id="pf-1")
    assert info.value.outcome_unknown
    assert len(venue.signed("/fapi/v1/order")) == 1


async def test_query_order_unknown_is_none(client: BinanceFuturesClient, venue: Venue) -> None:
    venue.routes[("GET", "/fapi/v1/order")] = lambda _r: (400, {"code": -2013, "msg": "Order does not exist."})
    assert await client.query_order("BTCUSDT", client_order_id="pf-404") is None
    (request,) = venue.signed("/fapi/v1/order")
    assert params_of(request)["origClientOrderId"] == "pf-404"
    venue.routes[("GET", "/fapi/v1/order")] = lambda _r: (400, {"code": -1022, "msg": BAD_SIGNATURE_MSG})
    with pytest.raises(BinanceError, match="-1022"):
        await client.query_order("BTCUSDT", order_id=7)
    venue.routes[("GET", "/fapi/v1/order")] = lambda _r: (200, order_obj(status="FILLED", executedQty="0.01"))
    found = await client.query_order("BTCUSDT", order_id=4611875134427365377)
    assert found is not None and found.filled and not found.is_open
    with pytest.raises(ValueError):
        await client.query_order("BTCUSDT")
    with pytest.raises(ValueError):
        await client.query_order("BTCUSDT", order_id=1, client_order_id="x")


async def test_cancel_and_cancel_all(client: BinanceFuturesClient, venue: Venue) -> None:
    cancelled = order_obj(status="CANCELED")
    del cancelled["avgPrice"]
    venue.routes[("DELETE", "/fapi/v1/order")] = lambda _r: (200, cancelled)
    venue.routes[("DELETE", "/fapi/v1/allOpenOrders")] = lambda _r: (
        200,
        {"code": 200, "msg": "The operation of cancel all open order is done."},
    )
    order = await client.cancel("BTCUSDT", order_id=4611875134427365377)
    assert order.status == "CANCELED" and not order.is_open
    assert params_of(venue.signed("/fapi/v1/order")[0])["orderId"] == "4611875134427365377"
    assert await client.cancel_all("BTCUSDT") is None
    (request,) = venue.signed("/fapi/v1/allOpenOrders")
    assert request.method == "DELETE" and params_of(request)["symbol"] == "BTCUSDT"
    assert_signed(request)
    venue.routes[("DELETE", "/fapi/v1/order")] = lambda _r: (400, {"code": -2011, "msg": "Unknown order sent."})
    with pytest.raises(BinanceError) as info:
        await client.cancel("BTCUSDT", client_order_id="gone")
    assert info.value.code == -2011


async def test_account_positions_income_trades_leverage_countdown(client: BinanceFuturesClient, venue: Venue) -> None:
    venue.routes[("GET", "/fapi/v2/account")] = lambda _r: (200, fixture("ccxt_fetchBalance_1.json"))
    venue.routes[("GET", "/fapi/v3/positionRisk")] = lambda _r: (200, fixture("ccxt_fetchPositions_1.json"))
    venue.routes[("GET", "/fapi/v1/income")] = lambda _r: (200, fixture("ccxt_fetchFundingHistory_1.json"))
    venue.routes[("GET", "/fapi/v1/userTrades")] = lambda _r: (200, [])
    venue.routes[("POST", "/fapi/v1/leverage")] = lambda _r: (
        200,
        {"leverage": 3, "maxNotionalValue": "1000000", "symbol": "BTCUSDT"},
    )
    venue.routes[("POST", "/fapi/v1/countdownCancelAll")] = lambda _r: (
        200,
        {"symbol": "BTCUSDT", "countdownTime": "60000"},
    )
    assert (await client.account()).wallet_balance == 31.022612
    (pos,) = await client.positions("BTCUSDT")
    assert pos.mark_px == 67502.68519858
    (row,) = await client.income(income_type="FUNDING_FEE", start_ms=1, end_ms=2, limit=100)
    assert row.income == -0.04618913
    assert await client.user_trades("BTCUSDT", from_id=5, limit=10) == []
    assert await client.set_leverage("BTCUSDT", 3) == 3
    assert await client.countdown_cancel_all("BTCUSDT", 60_000) is None
    income_params = params_of(venue.signed("/fapi/v1/income")[0])
    assert {k: income_params[k] for k in ("incomeType", "startTime", "endTime", "limit")} == {
        "incomeType": "FUNDING_FEE",
        "startTime": "1",
        "endTime": "2",
        "limit": "100",
    }
    trade_params = params_of(venue.signed("/fapi/v1/userTrades")[0])
    assert (trade_params["symbol"], trade_params["fromId"], trade_params["limit"]) == ("BTCUSDT", "5", "10")
    assert params_of(venue.signed("/fapi/v1/leverage")[0])["leverage"] == "3"
    assert params_of(venue.signed("/fapi/v1/countdownCancelAll")[0])["countdownTime"] == "60000"
    for request in venue.requests:
        if request.url.path != "/fapi/v1/exchangeInfo":
            assert_signed(request)


async def test_inverse_positions_answer_is_malformed(client: BinanceFuturesClient, venue: Venue) -> None:
    venue.routes[("GET", "/fapi/v3/positionRisk")] = lambda _r: (200, fixture("ccxt_fetchPositions_3.json"))
    with pytest.raises(BinanceUnavailable, match="COIN-M") as info:
        await client.positions()
    assert not info.value.retryable
    assert len(venue.signed("/fapi/v3/positionRisk")) == 1


async def test_server_time_is_public(client: BinanceFuturesClient, venue: Venue) -> None:
    venue.routes[("GET", "/fapi/v1/time")] = lambda _r: (200, {"serverTime": 1499827319559})
    assert await client.server_time() == 1499827319559
    (request,) = venue.signed("/fapi/v1/time")
    assert request.url.query == b"" and "X-MBX-APIKEY" not in request.headers


async def test_signed_call_without_credentials_sends_nothing(venue: Venue) -> None:
    venue.routes[("GET", "/fapi/v1/time")] = lambda _r: (200, {"serverTime": 5})
    http = httpx.AsyncClient(transport=httpx.MockTransport(venue.handler))
    async with BinanceFuturesClient("https://fapi.test", client=http) as c:
        with pytest.raises(BinanceError, match="no API key") as info:
            await c.open_orders()
        assert info.value.code is None
        with pytest.raises(BinanceError, match="no API key"):
            await c.cancel_all("BTCUSDT")
        assert venue.requests == []
        assert await c.server_time() == 5
    await http.aclose()


async def test_malformed_and_non_json_answers(client: BinanceFuturesClient, venue: Venue) -> None:
    venue.routes[("POST", "/fapi/v1/order")] = lambda _r: (200, b"<html>oops</html>")
    with pytest.raises(BinanceUnavailable, match="not JSON") as info:
        await client.place(OrderRequest("BTCUSDT", "BUY", 0.01, 60000.0))
    assert info.value.outcome_unknown
    venue.routes[("GET", "/fapi/v1/openOrders")] = lambda _r: (200, [{"orderId": 1}])
    with pytest.raises(BinanceUnavailable, match="malformed answer"):
        await client.open_orders()
    assert len(venue.signed("/fapi/v1/openOrders")) == 1  # malformed answers are not retried
    venue.routes[("GET", "/fapi/v1/openOrders")] = lambda _r: (403, b"WAF Limit")
    with pytest.raises(BinanceError, match="HTTP 403") as err:
        await client.open_orders()
    assert err.value.code is None and err.value.http_status == 403


async def test_transport_error_on_get_is_retried(client: BinanceFuturesClient, venue: Venue) -> None:
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return 200, []

    venue.routes[("GET", "/fapi/v1/openOrders")] = flaky
    assert await client.open_orders() == []
    assert calls["n"] == 2


async def test_secret_never_in_errors_or_logs(
    client: BinanceFuturesClient, venue: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    venue.routes[("POST", "/fapi/v1/order")] = lambda _r: (400, {"code": -1022, "msg": BAD_SIGNATURE_MSG})
    venue.routes[("GET", "/fapi/v1/openOrders")] = lambda _r: (503, b"down")
    venue.routes[("DELETE", "/fapi/v1/allOpenOrders")] = lambda _r: (200, b"not json")
    for call in (
        lambda: client.place(OrderRequest("BTCUSDT", "BUY", 0.01, 60000.0, client_order_id="pf-s")),
        lambda: client.open_orders(),
        lambda: client.cancel_all("BTCUSDT"),
    ):
        with pytest.raises(VenueError) as info:
            await call()
        errors.append(info.value)
    assert len(errors) == 3
    assert caplog.records, "the client logs requests at DEBUG and retries at WARNING"
    assert any("POST /fapi/v1/order" in r.getMessage() for r in caplog.records)
    assert any(r.levelno == logging.WARNING for r in caplog.records)  # the GET retries
    texts = [r.getMessage() for r in caplog.records] + [str(e) for e in errors] + [repr(e) for e in errors]
    texts.append(repr(client))
    for text in texts:
        assert SECRET not in text
        assert KEY not in text
    # Our own records never carry the (replayable) signed query; httpx's INFO line does, which
    # is why tui/cli.py keeps the "httpx" logger at WARNING.
    own = [r.getMessage() for r in caplog.records if r.name == "pfterm.core.venues.binance.futures"]
    assert own and not any("signature=" in text for text in own + [str(e) for e in errors])
