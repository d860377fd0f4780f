"""Spot trading in the simulator (``pfterm.core.sim``): ``spotMeta``, spot mids and books, signed spot
orders over ``POST /exchange`` (asset id 10000 + index), balances, fees and fills; and the client
parsers on the real-shaped fixture. Everything runs on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from pfterm.core.market.models import MarketInfo, OrderIntent, SpotBalance
from pfterm.core.sim.exchange import SPOT_MAKER_FEE, SPOT_TAKER_FEE, SimExchange
from pfterm.core.sim.market import MarketModel
from pfterm.core.sim.server import SimulatorServer
from pfterm.core.sim.snapshot import load_snapshot
from pfterm.core.venues.hyperliquid.account import parse_spot_clearinghouse_state, parse_spot_meta
from pfterm.core.venues.hyperliquid.exchange import HyperliquidExchange
from pfterm.core.venues.hyperliquid.signing import Signer
from tests.fixture_files import FIXTURES

if TYPE_CHECKING:
    from tests.conftest import StartSimulator

START = 1_767_225_600_000
_SNAPSHOT = load_snapshot()
_FIXTURES = FIXTURES / "hyperliquid"
UBTC = MarketInfo("hyperliquid", "@142", 10142, 5, 1)
PURR = MarketInfo("hyperliquid", "PURR/USDC", 10000, 0, 1)


@pytest.fixture
async def server(start_simulator: StartSimulator) -> SimulatorServer:
    model = MarketModel(_SNAPSHOT, seed=1, start_ms=START, cascade_rate_per_hour=0.0)
    return await start_simulator(SimulatorServer(model, speed=0.0, tick_hz=50.0, starting_usdc=50_000.0))


@pytest.fixture
async def client(server: SimulatorServer) -> AsyncIterator[HyperliquidExchange]:
    async with HyperliquidExchange(server.http_url or "", Signer.generate(), is_mainnet=True, timeout_s=5.0) as ex:
        yield ex


def _intent(
    m: MarketInfo, is_buy: bool, size: float, px: float, tif: str = "Ioc", cloid: str = "0x" + "0" * 31 + "1"
) -> OrderIntent:
    return OrderIntent(m.symbol, m.asset_id, is_buy, size, px, tif, False, cloid, "test")


def _balances(rows: list[SpotBalance]) -> dict[str, float]:
    return {b.coin: b.total for b in rows}


async def _info(server: SimulatorServer, body: dict) -> object:
    async with httpx.AsyncClient(base_url=server.http_url or "", timeout=5.0) as http:
        r = await http.post("/info", json=body)
        assert r.status_code == 200
        return r.json()


async def test_spot_meta_mids_and_book_served(server: SimulatorServer, client: HyperliquidExchange) -> None:
    raw = await _info(server, {"type": "spotMeta"})
    packaged = json.loads((Path(__file__).resolve().parents[1] / "core/sim/data/spotMeta.json").read_text())
    assert raw == packaged
    pairs = {p.name: p for p in await client.spot_meta()}
    assert pairs["@142"].asset_id == 10142 and pairs["@142"].base == "UBTC" and pairs["@142"].sz_decimals == 5
    assert pairs["PURR/USDC"].asset_id == 10000 and pairs["PURR/USDC"].quote == "USDC"

    mids = await _info(server, {"type": "allMids"})
    assert isinstance(mids, dict)
    btc_oracle = server.model.market("BTC").oracle
    assert float(mids["@142"]) == pytest.approx(btc_oracle, rel=5e-4)  # spot tracks the index
    assert float(mids["@151"]) == pytest.approx(server.model.market("ETH").oracle, rel=5e-4)

    book = await _info(server, {"type": "l2Book", "coin": "@142"})
    assert isinstance(book, dict)
    bids, asks = book["levels"]
    assert float(bids[0]["px"]) < float(mids["@142"]) < float(asks[0]["px"])

    meta, ctxs = await _info(server, {"type": "spotMetaAndAssetCtxs"})  # type: ignore[misc]
    assert meta == packaged and [c["coin"] for c in ctxs] == [u["name"] for u in packaged["universe"]]


async def test_spot_buy_then_sell_moves_balances_and_charges_fees(
    server: SimulatorServer, client: HyperliquidExchange
) -> None:
    before = _balances(await client.spot_balances())
    assert before == {"USDC": 50_000.0}
    perp_value = (await client.account_state()).account_value
    assert perp_value == pytest.approx(50_000.0)  # perp margin is a separate faucet

    mids = await _info(server, {"type": "allMids"})
    px = round(float(mids["@142"]) * 1.01)  # marketable, integer: on UBTC's tick
    [res] = await client.place([_intent(UBTC, True, 0.1, px)], {UBTC.symbol: UBTC})
    assert res.status == "filled", res
    fills = [f for f in server.exchange.user_fills(client.account_address) if f["coin"] == "@142"]
    assert len(fills) >= 1 and all(f["dir"] == "Buy" and f["feeToken"] == "UBTC" for f in fills)
    cost = sum(float(f["px"]) * float(f["sz"]) for f in fills)
    fee_base = sum(float(f["fee"]) for f in fills)
    assert fee_base == pytest.approx(0.1 * SPOT_TAKER_FEE, rel=1e-6)
    after = _balances(await client.spot_balances())
    assert after["USDC"] == pytest.approx(50_000.0 - cost, abs=1e-6)
    assert after["UBTC"] == pytest.approx(0.1 - fee_base, abs=1e-8)
    assert (await client.account_state()).account_value == pytest.approx(perp_value)  # perp untouched

    # Sell what is left, rounded down to the lot: fee in USDC.
    sell = 0.0999
    px_sell = round(float(mids["@142"]) * 0.99)
    [res] = await client.place([_intent(UBTC, False, sell, px_sell, cloid="0x" + "0" * 31 + "2")], {UBTC.symbol: UBTC})
    assert res.status == "filled", res
    sells = [f for f in server.exchange.user_fills(client.account_address) if f["dir"] == "Sell"]
    proceeds = sum(float(f["px"]) * float(f["sz"]) for f in sells)
    fee_usdc = sum(float(f["fee"]) for f in sells)
    assert all(f["feeToken"] == "USDC" and f["side"] == "A" for f in sells)
    assert fee_usdc == pytest.approx(proceeds * SPOT_TAKER_FEE, rel=1e-6)
    final = _balances(await client.spot_balances())
    assert final["USDC"] == pytest.approx(50_000.0 - cost + proceeds - fee_usdc, abs=1e-6)
    assert final["UBTC"] == pytest.approx(0.1 - fee_base - sell, abs=1e-8)

    # Spot fills show up in userFills with the pair's coin key, as on the venue.
    raw_fills = await _info(server, {"type": "userFills", "user": client.account_address})
    assert {f["coin"] for f in raw_fills} == {"@142"}  # type: ignore[union-attr,index]
    assert len(await client.user_fills()) == len(raw_fills)  # type: ignore[arg-type]  # parses


async def test_spot_errors(server: SimulatorServer, client: HyperliquidExchange) -> None:
    markets = {UBTC.symbol: UBTC, PURR.symbol: PURR}
    mids = await _info(server, {"type": "allMids"})
    px = round(float(mids["@142"]) * 1.01)
    # 1 UBTC costs more than the 50 000 USDC spot balance.
    [res] = await client.place([_intent(UBTC, True, 1.0, px)], markets)
    assert res.status == "error" and res.error == "Order has insufficient spot balance to trade asset=10142"
    # Selling a token the account does not hold.
    [res] = await client.place([_intent(UBTC, False, 0.001, px)], markets)
    assert res.status == "error" and "insufficient spot balance" in (res.error or "")
    # Below the 10 USDC minimum.
    [res] = await client.place([_intent(UBTC, True, 0.0001, px)], markets)
    assert res.status == "error" and res.error == "Order must have minimum value of 10 USDC. asset=10142"
    # Reduce-only has no meaning on spot.
    intent = OrderIntent("@142", 10142, True, 0.01, px, "Ioc", True, "0x" + "0" * 31 + "3", "test")
    [res] = await client.place([intent], markets)
    assert res.status == "error" and "not supported for spot" in (res.error or "")
    assert _balances(await client.spot_balances()) == {"USDC": 50_000.0}


async def test_spot_resting_order_holds_and_fills_as_maker(
    server: SimulatorServer, client: HyperliquidExchange
) -> None:
    mids = await _info(server, {"type": "allMids"})
    mid = float(mids["@142"])
    px = round(mid * 0.98)
    [res] = await client.place([_intent(UBTC, True, 0.1, px, tif="Gtc")], {UBTC.symbol: UBTC})
    assert res.status == "resting"
    state = await _info(server, {"type": "spotClearinghouseState", "user": client.account_address})
    usdc = state["balances"][0]  # type: ignore[index]
    assert usdc["coin"] == "USDC" and float(usdc["hold"]) == pytest.approx(0.1 * px)
    orders = await client.open_orders()
    assert [(o.symbol, o.oid) for o in orders] == [("@142", res.oid)]
    # The index falls through the limit: the order fills in full at its price, maker fee.
    btc = server.model.market("BTC")
    btc.oracle = px * 0.99
    server.exchange.tick(server.model.now_ms)
    [fill] = [f for f in server.exchange.user_fills(client.account_address)]
    assert fill["crossed"] is False and float(fill["px"]) == px
    assert float(fill["fee"]) == pytest.approx(0.1 * SPOT_MAKER_FEE)
    bal = _balances(await client.spot_balances())
    assert bal["USDC"] == pytest.approx(50_000.0 - 0.1 * px)
    assert bal["UBTC"] == pytest.approx(0.1 * (1 - SPOT_MAKER_FEE))
    assert await client.open_orders() == []


def test_untradeable_pair_is_refused() -> None:
    model = MarketModel(_SNAPSHOT, seed=1, start_ms=START, cascade_rate_per_hour=0.0)
    meta = {
        "universe": [
            {"tokens": [1, 0], "name": "PURR/USDC", "index": 0, "isCanonical": True},
            {"tokens": [2, 0], "name": "@1", "index": 1, "isCanonical": False},
        ],
        "tokens": [
            {"name": "USDC", "szDecimals": 8, "index": 0},
            {"name": "PURR", "szDecimals": 0, "index": 1},
            {"name": "NOPERP", "szDecimals": 2, "index": 2},
        ],
    }
    ex = SimExchange(model, spot_meta=meta)
    user = "0x" + "ab" * 20
    [st] = ex.place_orders(
        user, [{"a": 10001, "b": True, "p": "1.0", "s": "100", "r": False, "t": {"limit": {"tif": "Ioc"}}}], START
    )
    assert st == {"error": "Spot market not available in simulator. asset=10001"}
    assert "@1" not in ex.spot_mids_wire() and "PURR/USDC" in ex.spot_mids_wire()


def test_parse_spot_clearinghouse_state_fixture() -> None:
    path = _FIXTURES / "http_spot_clearinghouse_state.json"
    rows = parse_spot_clearinghouse_state(path.read_bytes())
    assert rows == [
        SpotBalance("USDC", 14.625485),
        SpotBalance("PURR", 2000.0),
        SpotBalance("HYPE", 5.2),
        SpotBalance("+10", 25.0),
    ]


def test_parse_spot_meta_packaged() -> None:
    raw = (Path(__file__).resolve().parents[1] / "core/sim/data/spotMeta.json").read_bytes()
    pairs = parse_spot_meta(raw)
    assert [(p.name, p.asset_id, p.base, p.quote, p.sz_decimals) for p in pairs] == [
        ("PURR/USDC", 10000, "PURR", "USDC", 0),
        ("@107", 10107, "HYPE", "USDC", 2),
        ("@142", 10142, "UBTC", "USDC", 5),
        ("@151", 10151, "UETH", "USDC", 4),
    ]
