"""Binance USDⓈ-M futures trading on the embedded simulator (``pfterm.core.sim.binance_futures``
behind ``pfterm.core.sim.server``), over loopback with requests signed as Binance clients sign them
(HMAC-SHA256 of the query string + form body, ``X-MBX-APIKEY``), on the lockstep clock."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import pytest

from pfterm.core.sim.binance_futures import MAINT_MARGIN_RATE, MAKER_FEE, TAKER_FEE
from pfterm.core.sim.market import HOUR_MS, MarketModel
from pfterm.core.sim.server import SimulatorServer
from pfterm.core.sim.snapshot import load_snapshot
from tests.fixture_files import FIXTURES

if TYPE_CHECKING:
    from tests.conftest import StartSimulator

START = 1_767_225_600_000 + 30 * 60 * 1000
"""Sim start: 2026-01-01 00:30 UTC; the next 8 h Binance settlement is 08:00."""
_SNAPSHOT = load_snapshot()
_KEY = "simkey" + "A" * 58
_SECRET = "simsecret" + "b" * 55
_USDT = 100_000.0
_FIXTURES = FIXTURES / "binance"


class Binance:
    """A minimal signed Binance USDⓈ-M client (what python-binance / ccxt send)."""

    def __init__(
        self, server: SimulatorServer, http: httpx.AsyncClient, key: str = _KEY, secret: str = _SECRET
    ) -> None:
        self.server = server
        self.http = http
        self.key = key
        self.secret = secret

    async def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        in_body: bool | None = None,
        timestamp: int | None = None,
        key: str | None = None,
        secret: str | None = None,
    ) -> tuple[int, Any]:
        fields = dict(params or {})
        fields["timestamp"] = self.server.model.now_ms if timestamp is None else timestamp
        text = urlencode(fields)
        signature = hmac.new((secret or self.secret).encode(), text.encode(), hashlib.sha256).hexdigest()
        signed = f"{text}&signature={signature}"
        headers = {"X-MBX-APIKEY": self.key if key is None else key}
        if in_body if in_body is not None else method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            r = await self.http.request(method, path, content=signed.encode(), headers=headers)
        else:
            r = await self.http.request(method, f"{path}?{signed}", headers=headers)
        return r.status_code, r.json()

    async def ok(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        status, body = await self.call(method, path, params)
        assert status == 200, body
        return body

    async def refused(
        self, method: str, path: str, params: dict[str, Any] | None, code: int, status: int = 400
    ) -> dict[str, Any]:
        got, body = await self.call(method, path, params)
        assert (got, body.get("code") if isinstance(body, dict) else body) == (status, code), body
        assert isinstance(body["msg"], str) and body["msg"]
        return body

    def touch(self, symbol: str) -> tuple[int, int]:
        return self.server.binance.touch(symbol)

    def px(self, symbol: str, ticks: int) -> str:
        return self.server.binance.specs[symbol].fmt_price(ticks)

    def qty_for(self, symbol: str, usd: float) -> str:
        """A quantity worth about ``usd`` at the mark, on the step."""
        spec = self.server.binance.specs[symbol]
        steps = max(round(usd / self.server.binance.mark(symbol) / spec.step), 1)
        return spec.fmt_qty(steps)


def _server(seed: int = 7, **kw: Any) -> SimulatorServer:
    model = MarketModel(_SNAPSHOT, seed=seed, start_ms=START, cascade_rate_per_hour=0.0)
    return SimulatorServer(
        model, lockstep=True, tick_hz=5.0, starting_usdc=_USDT, binance_credentials=[(_KEY, _SECRET)], **kw
    )


@pytest.fixture
async def bn(start_simulator: StartSimulator) -> AsyncIterator[Binance]:
    server = await start_simulator(_server())
    async with httpx.AsyncClient(base_url=server.http_url or "", timeout=30.0) as http:
        yield Binance(server, http)


def _order(symbol: str, side: str, kind: str, qty: str, **extra: Any) -> dict[str, Any]:
    return {"symbol": symbol, "side": side, "type": kind, "quantity": qty, **extra}


# -- auth -------------------------------------------------------------------------------


async def test_auth_errors(bn: Binance) -> None:
    path = "/fapi/v2/account"
    status, body = await bn.call("GET", path, key="")
    assert (status, body) == (401, {"code": -2014, "msg": "API-key format invalid."})
    status, body = await bn.call("GET", path, key="nope")
    assert (status, body) == (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
    status, body = await bn.call("GET", path, secret="wrong")
    assert (status, body) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})
    now = bn.server.model.now_ms
    stale = {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
    assert await bn.call("GET", path, timestamp=now - 5_001) == (400, stale)
    assert await bn.call("GET", path, timestamp=now + 1_000) == (400, stale)
    assert (await bn.call("GET", path, timestamp=now - 5_000))[0] == 200
    assert (await bn.call("GET", path, {"recvWindow": 20_000}, timestamp=now - 15_000))[0] == 200
    # The signature may travel in the body (POST form) as well as in the query string.
    status, body = await bn.call("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": 10}, in_body=False)
    assert status == 200 and body["leverage"] == 10
    # A tampered parameter breaks the signature.
    text = urlencode({"symbol": "BTCUSDT", "timestamp": now})
    sig = hmac.new(_SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
    r = await bn.http.get(
        f"/fapi/v3/positionRisk?symbol=ETHUSDT&timestamp={now}&signature={sig}", headers={"X-MBX-APIKEY": _KEY}
    )
    assert r.status_code == 400 and r.json()["code"] == -1022


async def test_time_and_exchange_info(bn: Binance) -> None:
    r = await bn.http.get("/fapi/v1/time")
    assert r.json() == {"serverTime": bn.server.model.now_ms}
    info = (await bn.http.get("/fapi/v1/exchangeInfo")).json()
    assert info["timezone"] == "UTC" and info["serverTime"] == bn.server.model.now_ms
    assert info["assets"][0]["asset"] == "USDT"
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert set(symbols) == set(bn.server.cex.markets["binance"])
    for name in ("BTCUSDT", "ETHUSDT", "1000PEPEUSDT"):
        s = symbols[name]
        assert (s["pair"], s["contractType"], s["status"], s["quoteAsset"], s["marginAsset"]) == (
            name,
            "PERPETUAL",
            "TRADING",
            "USDT",
            "USDT",
        )
        filters = {f["filterType"]: f for f in s["filters"]}
        assert list(filters) == ["PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "MIN_NOTIONAL"]
        mark = bn.server.binance.mark(name)
        tick, step = float(filters["PRICE_FILTER"]["tickSize"]), float(filters["LOT_SIZE"]["stepSize"])
        assert tick * 1e4 < mark and 1.0 <= step * mark < 10.0 + 1e-9
        assert float(filters["PRICE_FILTER"]["minPrice"]) == tick < mark < float(filters["PRICE_FILTER"]["maxPrice"])
        assert filters["MIN_NOTIONAL"]["notional"] == "5"
        assert len(filters["LOT_SIZE"]["stepSize"].split(".")[-1]) == s["quantityPrecision"] or step >= 1
    assert symbols["BTCUSDT"]["baseAsset"] == "BTC" and symbols["1000PEPEUSDT"]["baseAsset"] == "1000PEPE"


# -- orders -----------------------------------------------------------------------------


async def test_ioc_limit_buy_fills_at_the_ask_with_taker_fee(bn: Binance) -> None:
    bid, ask = bn.touch("BTCUSDT")
    qty = bn.qty_for("BTCUSDT", 10_000)
    order = await bn.ok(
        "POST",
        "/fapi/v1/order",
        _order(
            "BTCUSDT",
            "BUY",
            "LIMIT",
            qty,
            price=bn.px("BTCUSDT", ask + 500),
            timeInForce="IOC",
            newOrderRespType="RESULT",
        ),
    )
    assert order["status"] == "FILLED" and order["executedQty"] == qty == order["origQty"]
    assert order["avgPrice"] == bn.px("BTCUSDT", ask) and order["price"] == bn.px("BTCUSDT", ask + 500)
    assert (order["type"], order["origType"], order["timeInForce"], order["side"]) == ("LIMIT", "LIMIT", "IOC", "BUY")
    assert order["positionSide"] == "BOTH" and order["reduceOnly"] is False and isinstance(order["orderId"], int)
    notional = float(qty) * float(bn.px("BTCUSDT", ask))
    assert float(order["cumQuote"]) == pytest.approx(notional)
    trades = await bn.ok("GET", "/fapi/v1/userTrades", {"symbol": "BTCUSDT"})
    assert len(trades) == 1
    t = trades[0]
    assert (t["orderId"], t["side"], t["buyer"], t["maker"], t["commissionAsset"]) == (
        order["orderId"],
        "BUY",
        True,
        False,
        "USDT",
    )
    assert t["price"] == bn.px("BTCUSDT", ask) and t["qty"] == qty
    assert float(t["commission"]) == pytest.approx(notional * TAKER_FEE, abs=1e-8)
    assert float(t["realizedPnl"]) == 0.0
    account = await bn.ok("GET", "/fapi/v2/account")
    assert float(account["totalWalletBalance"]) == pytest.approx(_USDT - notional * TAKER_FEE, abs=1e-6)
    # A limit that does not reach the touch expires untouched.
    order = await bn.ok(
        "POST",
        "/fapi/v1/order",
        _order("BTCUSDT", "BUY", "LIMIT", qty, price=bn.px("BTCUSDT", bid - 10), timeInForce="IOC"),
    )
    assert order["status"] == "EXPIRED" and float(order["executedQty"]) == 0.0 and order["avgPrice"] == "0.00"
    order = await bn.ok(
        "POST",
        "/fapi/v1/order",
        _order("BTCUSDT", "BUY", "LIMIT", qty, price=bn.px("BTCUSDT", bid - 10), timeInForce="FOK"),
    )
    assert order["status"] == "EXPIRED"
    assert await bn.ok("GET", "/fapi/v1/openOrders") == []


async def test_market_order_fills_at_the_touch(bn: Binance) -> None:
    bid, _ask = bn.touch("ETHUSDT")
    qty = bn.qty_for("ETHUSDT", 3_000)
    order = await bn.ok("POST", "/fapi/v1/order", _order("ETHUSDT", "SELL", "MARKET", qty))
    assert (order["status"], order["type"], order["price"]) == ("FILLED", "MARKET", "0")
    assert order["avgPrice"] == bn.px("ETHUSDT", bid) and order["executedQty"] == qty
    positions = await bn.ok("GET", "/fapi/v3/positionRisk", {"symbol": "ETHUSDT"})
    assert len(positions) == 1 and positions[0]["positionAmt"] == f"-{qty}"
    assert float(positions[0]["entryPrice"]) == pytest.approx(float(bn.px("ETHUSDT", bid)))
    await bn.refused("POST", "/fapi/v1/order", _order("ETHUSDT", "SELL", "MARKET", qty, price="3000"), -1106)


async def test_post_only_refused_when_crossing_then_rests_and_fills_as_maker(bn: Binance) -> None:
    symbol = "BTCUSDT"
    _bid, ask = bn.touch(symbol)
    qty = bn.qty_for(symbol, 5_000)
    body = await bn.refused(
        "POST",
        "/fapi/v1/order",
        _order(symbol, "BUY", "LIMIT", qty, price=bn.px(symbol, ask), timeInForce="GTX"),
        -5022,
    )
    assert body["msg"] == "Due to the order could not be executed as maker, the Post Only order will be rejected."
    limit = ask - 1
    order = await bn.ok(
        "POST",
        "/fapi/v1/order",
        _order(symbol, "BUY", "LIMIT", qty, price=bn.px(symbol, limit), timeInForce="GTX", newClientOrderId="gtx-1"),
    )
    assert order["status"] == "NEW" and order["timeInForce"] == "GTX" and order["executedQty"] == "0.0000"
    for _ in range(24 * 60):
        await bn.server.advance(60)
        got = await bn.ok("GET", "/fapi/v1/order", {"symbol": symbol, "origClientOrderId": "gtx-1"})
        if got["status"] != "NEW":
            break
    assert got["status"] == "FILLED" and got["avgPrice"] == bn.px(symbol, limit) and got["executedQty"] == qty
    trades = await bn.ok("GET", "/fapi/v1/userTrades", {"symbol": symbol})
    assert len(trades) == 1 and trades[0]["maker"] is True and trades[0]["price"] == bn.px(symbol, limit)
    notional = float(qty) * float(bn.px(symbol, limit))
    assert float(trades[0]["commission"]) == pytest.approx(notional * MAKER_FEE, abs=1e-8)
    assert await bn.ok("GET", "/fapi/v1/openOrders") == []


async def test_gtc_rests_and_cancels_by_client_order_id(bn: Binance) -> None:
    symbol = "BTCUSDT"
    bid, _ask = bn.touch(symbol)
    price = bn.px(symbol, bid * 9 // 10)
    qty = bn.qty_for(symbol, 2_000)
    order = await bn.ok(
        "POST",
        "/fapi/v1/order",
        _order(symbol, "BUY", "LIMIT", qty, price=price, timeInForce="GTC", newClientOrderId="my.order:1/a_b-c"),
    )
    assert (order["status"], order["clientOrderId"], order["price"]) == ("NEW", "my.order:1/a_b-c", price)
    opened = await bn.ok("GET", "/fapi/v1/openOrders", {"symbol": symbol})
    assert [o["orderId"] for o in opened] == [order["orderId"]] and opened[0]["time"] == bn.server.model.now_ms
    await bn.refused(
        "POST",
        "/fapi/v1/order",
        _order(symbol, "BUY", "LIMIT", qty, price=price, timeInForce="GTC", newClientOrderId="my.order:1/a_b-c"),
        -4116,
    )
    await bn.refused(
        "POST",
        "/fapi/v1/order",
        _order(symbol, "BUY", "LIMIT", qty, price=price, timeInForce="GTC", newClientOrderId="bad id!"),
        -1100,
    )
    account = await bn.ok("GET", "/fapi/v2/account")
    assert float(account["totalOpenOrderInitialMargin"]) == pytest.approx(float(qty) * float(price) / 20, rel=1e-9)
    canceled = await bn.ok("DELETE", "/fapi/v1/order", {"symbol": symbol, "origClientOrderId": "my.order:1/a_b-c"})
    assert canceled["status"] == "CANCELED" and canceled["orderId"] == order["orderId"]
    await bn.refused("DELETE", "/fapi/v1/order", {"symbol": symbol, "origClientOrderId": "my.order:1/a_b-c"}, -2011)
    await bn.refused("DELETE", "/fapi/v1/order", {"symbol": symbol, "orderId": 12345}, -2011)
    got = await bn.ok("GET", "/fapi/v1/order", {"symbol": symbol, "orderId": order["orderId"]})
    assert got["status"] == "CANCELED"
    await bn.refused("GET", "/fapi/v1/order", {"symbol": symbol, "orderId": 12345}, -2013)
    await bn.refused("GET", "/fapi/v1/order", {"symbol": "ETHUSDT", "orderId": order["orderId"]}, -2013)
    # Still taken after the cancel.
    await bn.refused(
        "POST",
        "/fapi/v1/order",
        _order(symbol, "BUY", "LIMIT", qty, price=price, timeInForce="GTC", newClientOrderId="my.order:1/a_b-c"),
        -4116,
    )
    assert await bn.ok("GET", "/fapi/v1/openOrders") == []


async def test_order_validation(bn: Binance) -> None:
    symbol = "BTCUSDT"
    bid, _ask = bn.touch(symbol)
    price = bn.px(symbol, bid - 100)
    qty = bn.qty_for(symbol, 1_000)
    gtc = {"timeInForce": "GTC", "price": price}
    cases: list[tuple[dict[str, Any], int]] = [
        (_order("NOPEUSDT", "BUY", "LIMIT", qty, **gtc), -1121),
        (_order(symbol, "HOLD", "LIMIT", qty, **gtc), -1117),
        (_order(symbol, "BUY", "STOP", qty, **gtc), -1116),
        (_order(symbol, "BUY", "LIMIT", qty, timeInForce="GTD", price=price), -1115),
        (_order(symbol, "BUY", "LIMIT", qty, price=price), -1102),
        (_order(symbol, "BUY", "LIMIT", qty, timeInForce="GTC"), -1102),
        (_order(symbol, "BUY", "LIMIT", "0", **gtc), -4003),
        (_order(symbol, "BUY", "LIMIT", "0.00001", **gtc), -1111),
        (_order(symbol, "BUY", "LIMIT", qty, timeInForce="GTC", price=price + "1"), -1111),
        (_order(symbol, "BUY", "LIMIT", qty, timeInForce="GTC", price=price[:-1] + "5"), -4014),
        (_order(symbol, "BUY", "LIMIT", "0.0001", timeInForce="GTC", price=bn.px(symbol, 100)), -4164),
        ({"side": "BUY", "type": "MARKET", "quantity": qty}, -1102),
    ]
    for params, code in cases:
        body = await bn.refused("POST", "/fapi/v1/order", params, code)
        if code == -4164:
            assert body["msg"] == "Order's notional must be no smaller than 5 (unless you choose reduce only)."
        if code == -1121:
            assert body["msg"] == "Invalid symbol."
    body = await bn.refused("POST", "/fapi/v1/order", _order(symbol, "BUY", "MARKET", ""), -1102)
    assert body["msg"] == "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."
    assert await bn.ok("GET", "/fapi/v1/openOrders") == []


async def test_reduce_only(bn: Binance) -> None:
    symbol = "ETHUSDT"
    qty = bn.qty_for(symbol, 3_000)
    body = await bn.refused("POST", "/fapi/v1/order", _order(symbol, "SELL", "MARKET", qty, reduceOnly="true"), -2022)
    assert body["msg"] == "ReduceOnly Order is rejected."
    await bn.ok("POST", "/fapi/v1/order", _order(symbol, "BUY", "MARKET", qty))
    await bn.refused("POST", "/fapi/v1/order", _order(symbol, "BUY", "MARKET", qty, reduceOnly="true"), -2022)
    # Reduce-only beyond the position closes it and expires the rest; notional floor waived.
    double = bn.server.binance.specs[symbol].fmt_qty(2 * round(float(qty) / bn.server.binance.specs[symbol].step))
    bid, _ask = bn.touch(symbol)
    order = await bn.ok("POST", "/fapi/v1/order", _order(symbol, "SELL", "MARKET", double, reduceOnly="true"))
    assert order["status"] == "EXPIRED" and order["executedQty"] == qty and order["reduceOnly"] is True
    assert await bn.ok("GET", "/fapi/v3/positionRisk") == []
    trades = await bn.ok("GET", "/fapi/v1/userTrades", {"symbol": symbol})
    entry, exit_ = float(trades[0]["price"]), float(trades[1]["price"])
    assert float(trades[1]["realizedPnl"]) == pytest.approx(float(qty) * (exit_ - entry), abs=1e-8)
    assert exit_ == float(bn.px(symbol, bid))
    pnl = await bn.ok("GET", "/fapi/v1/income", {"incomeType": "REALIZED_PNL"})
    assert [float(r["income"]) for r in pnl] == [pytest.approx(float(trades[1]["realizedPnl"]), abs=1e-8)]
    assert pnl[0]["tradeId"] == str(trades[1]["id"])


async def test_insufficient_margin(bn: Binance) -> None:
    bn.server.register_binance_key("small-key", "small-secret", usdt=10.0)
    small = Binance(bn.server, bn.http, "small-key", "small-secret")
    account = await small.ok("GET", "/fapi/v2/account")
    assert account["totalWalletBalance"] == "10.00000000"
    qty = small.qty_for("BTCUSDT", 500)  # 25 USDT of initial margin at 20×
    body = await small.refused("POST", "/fapi/v1/order", _order("BTCUSDT", "BUY", "MARKET", qty), -2019)
    assert body["msg"] == "Margin is insufficient."
    bid, _ask = small.touch("BTCUSDT")
    await small.refused(
        "POST",
        "/fapi/v1/order",
        _order("BTCUSDT", "BUY", "LIMIT", qty, timeInForce="GTC", price=small.px("BTCUSDT", bid - 10)),
        -2019,
    )
    await small.ok("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": 50})
    small_qty = small.qty_for("BTCUSDT", 300)  # 6 USDT at 50×
    assert (await small.ok("POST", "/fapi/v1/order", _order("BTCUSDT", "BUY", "MARKET", small_qty)))[
        "status"
    ] == "FILLED"
    with pytest.raises(ValueError):
        bn.server.register_binance_key("small-key", "x")


async def test_batch_orders(bn: Binance) -> None:
    symbol = "BTCUSDT"
    _bid, ask = bn.touch(symbol)
    qty = bn.qty_for(symbol, 1_000)
    batch = [
        {
            "symbol": symbol,
            "side": "BUY",
            "type": "LIMIT",
            "quantity": qty,
            "price": bn.px(symbol, ask),
            "timeInForce": "IOC",
        },
        {"symbol": "NOPEUSDT", "side": "BUY", "type": "LIMIT", "quantity": qty, "price": "1", "timeInForce": "GTC"},
        {
            "symbol": symbol,
            "side": "SELL",
            "type": "LIMIT",
            "quantity": qty,
            "price": bn.px(symbol, ask + 1000),
            "timeInForce": "GTC",
            "newClientOrderId": "batch-2",
        },
    ]
    out = await bn.ok("POST", "/fapi/v1/batchOrders", {"batchOrders": json.dumps(batch)})
    assert len(out) == 3
    assert out[0]["status"] == "FILLED" and out[0]["avgPrice"] == bn.px(symbol, ask)
    assert out[1] == {"code": -1121, "msg": "Invalid symbol."}
    assert out[2]["status"] == "NEW" and out[2]["clientOrderId"] == "batch-2"
    await bn.refused("POST", "/fapi/v1/batchOrders", {"batchOrders": json.dumps(batch * 2)}, -1102)
    await bn.refused("POST", "/fapi/v1/batchOrders", {"batchOrders": "not json"}, -1102)
    assert len(await bn.ok("GET", "/fapi/v1/openOrders")) == 1


async def test_cancel_all_open_orders(bn: Binance) -> None:
    for symbol, usd in (("BTCUSDT", 1_000), ("BTCUSDT", 1_500), ("ETHUSDT", 1_000)):
        bid, _ask = bn.touch(symbol)
        await bn.ok(
            "POST",
            "/fapi/v1/order",
            _order(symbol, "BUY", "LIMIT", bn.qty_for(symbol, usd), price=bn.px(symbol, bid - 50), timeInForce="GTC"),
        )
    assert len(await bn.ok("GET", "/fapi/v1/openOrders")) == 3
    out = await bn.ok("DELETE", "/fapi/v1/allOpenOrders", {"symbol": "BTCUSDT"})
    assert out == {"code": 200, "msg": "The operation of cancel all open order is done."}
    left = await bn.ok("GET", "/fapi/v1/openOrders")
    assert [o["symbol"] for o in left] == ["ETHUSDT"]
    assert await bn.ok("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"}) == []


async def test_countdown_cancel_all_fires_at_its_deadline(bn: Binance) -> None:
    symbol = "BTCUSDT"
    bid, _ask = bn.touch(symbol)
    order = await bn.ok(
        "POST",
        "/fapi/v1/order",
        _order(
            symbol, "BUY", "LIMIT", bn.qty_for(symbol, 1_000), price=bn.px(symbol, bid * 9 // 10), timeInForce="GTC"
        ),
    )
    armed_at = bn.server.model.now_ms
    out = await bn.ok("POST", "/fapi/v1/countdownCancelAll", {"symbol": symbol, "countdownTime": 90_000})
    assert out == {"symbol": symbol, "countdownTime": "90000"}
    await bn.server.advance(60)
    assert len(await bn.ok("GET", "/fapi/v1/openOrders")) == 1
    await bn.server.advance(60)
    got = await bn.ok("GET", "/fapi/v1/order", {"symbol": symbol, "orderId": order["orderId"]})
    assert got["status"] == "CANCELED" and got["updateTime"] == armed_at + 90_000
    # Disarmed by 0.
    await bn.ok(
        "POST",
        "/fapi/v1/order",
        _order(
            symbol, "BUY", "LIMIT", bn.qty_for(symbol, 1_000), price=bn.px(symbol, bid * 9 // 10), timeInForce="GTC"
        ),
    )
    await bn.ok("POST", "/fapi/v1/countdownCancelAll", {"symbol": symbol, "countdownTime": 30_000})
    await bn.ok("POST", "/fapi/v1/countdownCancelAll", {"symbol": symbol, "countdownTime": 0})
    await bn.server.advance(120)
    assert len(await bn.ok("GET", "/fapi/v1/openOrders")) == 1


# -- account reports ---------------------------------------------------------------------


async def test_account_and_position_risk_shapes(bn: Binance) -> None:
    fixture_positions = json.loads((_FIXTURES / "ccxt_fetchPositions_1.json").read_text())
    fixture_account = json.loads((_FIXTURES / "ccxt_fetchBalance_1.json").read_text())
    empty = await bn.ok("GET", "/fapi/v2/account")
    assert set(empty) == set(fixture_account) and empty["positions"] == []
    assert set(empty["assets"][0]) == set(fixture_account["assets"][0])
    assert empty["availableBalance"] == empty["totalWalletBalance"] == f"{_USDT:.8f}"

    lev = await bn.ok("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": 10})
    assert lev == {"leverage": 10, "maxNotionalValue": lev["maxNotionalValue"], "symbol": "BTCUSDT"}
    await bn.refused("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": 51}, -4028)
    qty = bn.qty_for("BTCUSDT", 20_000)
    await bn.ok("POST", "/fapi/v1/order", _order("BTCUSDT", "BUY", "MARKET", qty))
    eth_qty = bn.qty_for("ETHUSDT", 5_000)
    await bn.ok("POST", "/fapi/v1/order", _order("ETHUSDT", "SELL", "MARKET", eth_qty))
    await bn.server.advance(600)

    rows = await bn.ok("GET", "/fapi/v3/positionRisk")
    assert [r["symbol"] for r in rows] == ["BTCUSDT", "ETHUSDT"]
    assert all(set(r) == set(fixture_positions[0]) for r in rows)
    btc = rows[0]
    assert isinstance(btc["updateTime"], int) and btc["positionAmt"] == qty and btc["marginAsset"] == "USDT"
    amt, mark, entry = float(btc["positionAmt"]), float(btc["markPrice"]), float(btc["entryPrice"])
    assert mark == pytest.approx(bn.server.binance.mark("BTCUSDT"), abs=1e-6)
    assert float(btc["notional"]) == pytest.approx(amt * mark, abs=1e-6)
    assert float(btc["unRealizedProfit"]) == pytest.approx(amt * (mark - entry), abs=1e-6)
    assert float(btc["maintMargin"]) == pytest.approx(amt * mark * MAINT_MARGIN_RATE, abs=1e-6)
    assert float(btc["initialMargin"]) == pytest.approx(amt * mark / 10, abs=1e-6)
    assert float(btc["breakEvenPrice"]) == pytest.approx(entry * (1 + TAKER_FEE), rel=1e-9)
    account = await bn.ok("GET", "/fapi/v2/account")
    eth = rows[1]
    wallet = float(account["totalWalletBalance"])
    # Cross liquidation price of the long with the short held fixed (module docstring).
    expected = (wallet - float(eth["maintMargin"]) + float(eth["unRealizedProfit"]) - amt * entry) / (
        amt * MAINT_MARGIN_RATE - amt
    )
    assert float(btc["liquidationPrice"]) == pytest.approx(max(expected, 0.0), abs=1e-4)
    assert await bn.ok("GET", "/fapi/v3/positionRisk", {"symbol": "ETHUSDT"}) == [rows[1]]
    v2 = await bn.ok("GET", "/fapi/v2/positionRisk", {"symbol": "BTCUSDT"})
    assert v2[0]["leverage"] == "10" and v2[0]["marginType"] == "cross"

    assert set(account) == set(fixture_account)
    assert [p["symbol"] for p in account["positions"]] == ["BTCUSDT", "ETHUSDT"]
    for key in (
        "symbol",
        "initialMargin",
        "maintMargin",
        "unrealizedProfit",
        "positionInitialMargin",
        "openOrderInitialMargin",
        "leverage",
        "isolated",
        "entryPrice",
        "maxNotional",
        "positionSide",
        "positionAmt",
        "notional",
        "isolatedWallet",
        "updateTime",
    ):
        assert key in account["positions"][0]
    assert account["positions"][0]["leverage"] == "10" and account["positions"][0]["isolated"] is False
    upnl = sum(float(r["unRealizedProfit"]) for r in rows)
    assert float(account["totalUnrealizedProfit"]) == pytest.approx(upnl, abs=1e-6)
    assert float(account["totalMarginBalance"]) == pytest.approx(wallet + upnl, abs=1e-6)
    im = sum(float(r["initialMargin"]) for r in rows)
    assert float(account["totalInitialMargin"]) == pytest.approx(im, abs=1e-6)
    assert float(account["availableBalance"]) == pytest.approx(wallet + upnl - im, abs=1e-6)
    assert (await bn.ok("GET", "/fapi/v3/account"))["totalWalletBalance"] == account["totalWalletBalance"]


async def test_funding_settlement_in_income(bn: Binance) -> None:
    fixture = json.loads((_FIXTURES / "ccxt_fetchFundingHistory_1.json").read_text())
    btc_qty, eth_qty = bn.qty_for("BTCUSDT", 20_000), bn.qty_for("ETHUSDT", 10_000)
    await bn.ok("POST", "/fapi/v1/order", _order("BTCUSDT", "BUY", "MARKET", btc_qty))
    await bn.ok("POST", "/fapi/v1/order", _order("ETHUSDT", "SELL", "MARKET", eth_qty))
    settle = START - 30 * 60 * 1000 + 8 * HOUR_MS
    await bn.server.advance((settle - 60_000 - bn.server.model.now_ms) / 1000)
    assert await bn.ok("GET", "/fapi/v1/income", {"incomeType": "FUNDING_FEE"}) == []
    rates = {
        s: float((await bn.http.get("/fapi/v1/premiumIndex", params={"symbol": s})).json()["lastFundingRate"])
        for s in ("BTCUSDT", "ETHUSDT")
    }
    await bn.server.advance(60)
    marks = {s: bn.server.binance.mark(s) for s in ("BTCUSDT", "ETHUSDT")}
    assert bn.server.model.now_ms == settle
    rows = await bn.ok("GET", "/fapi/v1/income", {"incomeType": "FUNDING_FEE"})
    assert [r["symbol"] for r in rows] == ["BTCUSDT", "ETHUSDT"]
    assert all(set(r) == set(fixture[0]) for r in rows)
    for r, amt in zip(rows, (float(btc_qty), -float(eth_qty)), strict=False):
        assert (r["incomeType"], r["asset"], r["info"], r["time"], r["tradeId"]) == (
            "FUNDING_FEE",
            "USDT",
            "FUNDING_FEE",
            settle,
            "",
        )
        expected = -amt * marks[r["symbol"]] * rates[r["symbol"]]
        assert float(r["income"]) == pytest.approx(expected, rel=1e-3, abs=1e-7)
        if rates[r["symbol"]] > 0:
            assert (float(r["income"]) < 0) == (amt > 0)  # positive rate: longs pay, shorts receive
    assert isinstance(rows[0]["tranId"], int) and rows[1]["tranId"] > rows[0]["tranId"]
    assert await bn.ok("GET", "/fapi/v1/income", {"symbol": "ETHUSDT", "incomeType": "FUNDING_FEE"}) == rows[1:]
    every = await bn.ok("GET", "/fapi/v1/income")
    assert [r["incomeType"] for r in every] == ["COMMISSION", "COMMISSION", "FUNDING_FEE", "FUNDING_FEE"]
    assert await bn.ok("GET", "/fapi/v1/income", {"startTime": settle + 1}) == []
    assert len(await bn.ok("GET", "/fapi/v1/income", {"startTime": 0, "limit": 1})) == 1
    # No second settlement within the interval.
    await bn.server.advance(3600)
    assert len(await bn.ok("GET", "/fapi/v1/income", {"incomeType": "FUNDING_FEE"})) == 2


async def test_user_trades_queries(bn: Binance) -> None:
    symbol = "SOLUSDT"
    for _ in range(4):
        await bn.ok("POST", "/fapi/v1/order", _order(symbol, "BUY", "MARKET", bn.qty_for(symbol, 200)))
        await bn.server.advance(60)
    trades = await bn.ok("GET", "/fapi/v1/userTrades", {"symbol": symbol})
    ids = [t["id"] for t in trades]
    assert len(ids) == 4 and ids == sorted(ids)
    assert set(trades[0]) == {
        "symbol",
        "id",
        "orderId",
        "side",
        "price",
        "qty",
        "realizedPnl",
        "quoteQty",
        "commission",
        "commissionAsset",
        "time",
        "positionSide",
        "buyer",
        "maker",
    }
    assert [
        t["id"] for t in await bn.ok("GET", "/fapi/v1/userTrades", {"symbol": symbol, "fromId": ids[1], "limit": 2})
    ] == ids[1:3]
    assert [t["id"] for t in await bn.ok("GET", "/fapi/v1/userTrades", {"symbol": symbol, "limit": 2})] == ids[2:]
    start = trades[2]["time"]
    assert [t["id"] for t in await bn.ok("GET", "/fapi/v1/userTrades", {"symbol": symbol, "startTime": start})] == ids[
        2:
    ]
    assert await bn.ok("GET", "/fapi/v1/userTrades", {"symbol": "BTCUSDT"}) == []
    await bn.refused("GET", "/fapi/v1/userTrades", {}, -1102)


async def test_liquidation_closes_every_position_at_mark(bn: Binance) -> None:
    await bn.ok("POST", "/fapi/v1/order", _order("BTCUSDT", "BUY", "MARKET", bn.qty_for("BTCUSDT", 50_000)))
    bid, _ask = bn.touch("ETHUSDT")
    await bn.ok(
        "POST",
        "/fapi/v1/order",
        _order(
            "ETHUSDT",
            "BUY",
            "LIMIT",
            bn.qty_for("ETHUSDT", 1_000),
            price=bn.px("ETHUSDT", bid - 100),
            timeInForce="GTC",
        ),
    )
    sim = bn.server.binance
    account = sim.account(_KEY)
    assert account is not None
    account.wallet = 50.0  # far below maintenance (200 USDT on 50 k notional)
    sim.tick(bn.server.model.now_ms)
    assert await bn.ok("GET", "/fapi/v3/positionRisk") == []
    assert await bn.ok("GET", "/fapi/v1/openOrders") == []
    trades = await bn.ok("GET", "/fapi/v1/userTrades", {"symbol": "BTCUSDT"})
    assert len(trades) == 2 and trades[1]["side"] == "SELL" and float(trades[1]["commission"]) == 0.0
    closing = await bn.ok("GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": trades[1]["orderId"]})
    assert closing["clientOrderId"].startswith("autoclose-") and closing["status"] == "FILLED"


# -- determinism -------------------------------------------------------------------------


async def _session(seed: int) -> list[Any]:
    server = _server(seed)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.http_url or "", timeout=30.0) as http:
            client = Binance(server, http)
            out: list[Any] = []
            for i in range(6):
                for symbol in ("BTCUSDT", "ETHUSDT"):
                    bid, ask = client.touch(symbol)
                    side = "BUY" if i % 2 == 0 else "SELL"
                    limit = ask - 1 if side == "BUY" else bid + 1
                    out.append(
                        await client.ok(
                            "POST",
                            "/fapi/v1/order",
                            _order(
                                symbol,
                                side,
                                "LIMIT",
                                client.qty_for(symbol, 2_000),
                                price=client.px(symbol, limit),
                                timeInForce="GTX",
                            ),
                        )
                    )
                    out.append(
                        await client.ok(
                            "POST", "/fapi/v1/order", _order(symbol, side, "MARKET", client.qty_for(symbol, 1_000))
                        )
                    )
                await server.advance(1800)
            for symbol in ("BTCUSDT", "ETHUSDT"):
                out.append(await client.ok("GET", "/fapi/v1/userTrades", {"symbol": symbol}))
            out.append(await client.ok("GET", "/fapi/v1/income", {"startTime": 0, "limit": 1000}))
            out.append(await client.ok("GET", "/fapi/v3/positionRisk"))
            return out
    finally:
        await server.stop()


async def test_same_seed_same_fills() -> None:
    first = await _session(11)
    second = await _session(11)
    assert first == second
    assert any(t["maker"] for t in first[-4]) and any(not t["maker"] for t in first[-4])
