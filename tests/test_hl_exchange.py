"""HyperliquidExchange against a local aiohttp server on 127.0.0.1 that verifies signatures."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pfterm.core.market.models import MarketInfo, OrderIntent
from pfterm.core.venues.hyperliquid.exchange import (
    CancelResult,
    ExchangeError,
    HyperliquidExchange,
    OrderResult,
    action_weight,
)
from pfterm.core.venues.hyperliquid.orders import Cloid
from pfterm.core.venues.hyperliquid.rest import VenueError
from pfterm.core.venues.hyperliquid.signing import NonceSource, Signer, recover_l1_signer
from pfterm.core.venues.records import Fill, FundingPayment
from tests.fixture_files import FIXTURES

HL = FIXTURES / "hyperliquid"


KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
AGENT_KEY = "0x" + "8f2a55949038a9610f50fb23b5883af3b4ecb3c3bb792cbcefbd1542c692be63"
MASTER = "0x" + "ab" * 20

MARKETS = {
    "BTC": MarketInfo("hyperliquid", "BTC", 0, 5, 40),
    "ETH": MarketInfo("hyperliquid", "ETH", 1, 4, 25),
    "SOL": MarketInfo("hyperliquid", "SOL", 5, 2, 20),
}
CLOIDS = ["0x" + f"{i:032x}" for i in range(1, 4)]
BODY_KEYS = ["action", "nonce", "signature", "vaultAddress", "expiresAfter"]


def fixture(name: str) -> Any:
    return json.loads((HL / name).read_text())


def intent(
    symbol: str, is_buy: bool, size: float, px: float, cloid: str, tif: str = "Gtc", reduce_only: bool = False
) -> OrderIntent:
    return OrderIntent(symbol, MARKETS[symbol].asset_id, is_buy, size, px, tif, reduce_only, cloid, "test")


def ok(kind: str, statuses: list[Any] | None = None) -> dict[str, Any]:
    if statuses is None:
        return {"status": "ok", "response": {"type": kind}}
    return {"status": "ok", "response": {"type": kind, "data": {"statuses": statuses}}}


@dataclass
class FakeVenue:
    """Just enough of /exchange and /info: records requests, recovers signers, replays canned answers."""

    is_mainnet: bool = False
    exchange_answers: list[Any] = field(default_factory=list)
    info_answers: dict[str, Any] = field(default_factory=dict)
    exchange_bodies: list[dict[str, Any]] = field(default_factory=list)
    signers: list[str] = field(default_factory=list)
    info_bodies: list[dict[str, Any]] = field(default_factory=list)
    exchange_status: int = 200

    async def exchange(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.exchange_bodies.append(body)
        assert list(body) == BODY_KEYS
        self.signers.append(
            recover_l1_signer(
                body["action"],
                body["signature"],
                nonce_ms=body["nonce"],
                vault_address=body["vaultAddress"],
                expires_after_ms=body["expiresAfter"],
                is_mainnet=self.is_mainnet,
            )
        )
        if self.exchange_status != 200:
            return web.Response(status=self.exchange_status, text="upstream\nfailure")
        return web.json_response(self.exchange_answers.pop(0))

    async def info(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.info_bodies.append(body)
        return web.json_response(self.info_answers[body["type"]])


@pytest.fixture
async def venue() -> AsyncIterator[tuple[FakeVenue, str]]:
    fake = FakeVenue()
    app = web.Application()
    app.router.add_post("/exchange", fake.exchange)
    app.router.add_post("/info", fake.info)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield fake, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def make(url: str, signer: Signer, **kwargs: Any) -> HyperliquidExchange:
    return HyperliquidExchange(url, signer, is_mainnet=False, timeout_s=5.0, **kwargs)


async def test_place_mixed_statuses_in_order(venue: tuple[FakeVenue, str]) -> None:
    fake, url = venue
    signer = Signer(KEY)
    fake.exchange_answers.append(
        ok(
            "order",
            [
                {"resting": {"oid": 77738308}},
                {"filled": {"totalSz": "0.02", "avgPx": "1891.4", "oid": 77747314}},
                {"error": "Order must have minimum value of $10."},
            ],
        )
    )
    orders = [
        intent("BTC", True, 0.001, 60000.0, CLOIDS[0], "Alo"),
        intent("ETH", False, 0.02, 1890.0, CLOIDS[1], "Ioc", reduce_only=True),
        intent("SOL", True, 0.05, 20.5, CLOIDS[2]),
    ]
    async with make(url, signer) as ex:
        results = await ex.place(orders, MARKETS)
    assert results == [
        OrderResult(CLOIDS[0], "resting", oid=77738308),
        OrderResult(CLOIDS[1], "filled", oid=77747314, filled_sz=0.02, avg_px=1891.4),
        OrderResult(CLOIDS[2], "error", error="Order must have minimum value of $10."),
    ]
    assert fake.signers == [signer.address]
    action = fake.exchange_bodies[0]["action"]
    assert list(action) == ["type", "orders", "grouping"] and action["grouping"] == "na"
    assert all(list(o) == ["a", "b", "p", "s", "r", "t", "c"] for o in action["orders"])
    assert action["orders"][0] == {
        "a": 0,
        "b": True,
        "p": "60000",
        "s": "0.001",
        "r": False,
        "t": {"limit": {"tif": "Alo"}},
        "c": CLOIDS[0],
    }
    assert action["orders"][1]["r"] is True and action["orders"][1]["a"] == 1
    assert fake.exchange_bodies[0]["vaultAddress"] is None and fake.exchange_bodies[0]["expiresAfter"] is None


async def test_place_real_fixtures(venue: tuple[FakeVenue, str]) -> None:
    fake, url = venue
    fake.exchange_answers += [
        fixture("ccxt_createOrder_1.json"),
        fixture("ccxt_createOrderWithTakeProfitAndStopLoss_1.json"),
    ]
    async with make(url, Signer(KEY)) as ex:
        (one,) = await ex.place([intent("SOL", True, 1.0, 25.6, CLOIDS[0], "Ioc")], MARKETS)
        three = await ex.place([intent("SOL", True, 1.0, 40.0, c) for c in CLOIDS], MARKETS)
    assert one == OrderResult(CLOIDS[0], "filled", oid=296683658818, filled_sz=1.0, avg_px=25.585)
    assert [r.status for r in three] == ["filled", "resting", "resting"]
    assert three[0].oid == 211341310459 and three[1].oid is None


async def test_whole_request_error_is_one_line(venue: tuple[FakeVenue, str]) -> None:
    fake, url = venue
    fake.exchange_answers.append({"status": "err", "response": "User or API Wallet 0x12 does not exist.\nsecond line"})
    async with make(url, Signer(KEY)) as ex:
        with pytest.raises(ExchangeError) as info:
            await ex.place([intent("BTC", True, 0.001, 60000.0, CLOIDS[0])], MARKETS)
    assert isinstance(info.value, VenueError)
    assert str(info.value) == "hyperliquid exchange order: User or API Wallet 0x12 does not exist. second line"
    assert not info.value.outcome_unknown


async def test_status_count_mismatch_and_http_error(venue: tuple[FakeVenue, str]) -> None:
    fake, url = venue
    fake.exchange_answers.append(ok("order", []))
    async with make(url, Signer(KEY)) as ex:
        with pytest.raises(ExchangeError, match="0 statuses for 1 requests") as info:
            await ex.place([intent("BTC", True, 0.001, 60000.0, CLOIDS[0])], MARKETS)
        assert info.value.outcome_unknown
        fake.exchange_status = 502
        with pytest.raises(ExchangeError) as info:
            await ex.cancel([(0, 1)])
    assert info.value.status == 502 and info.value.outcome_unknown and "\n" not in str(info.value)


async def test_place_validates_before_sending(venue: tuple[FakeVenue, str]) -> None:
    fake, url = venue
    async with make(url, Signer(KEY)) as ex:
        with pytest.raises(ValueError, match="tick"):
            await ex.place([intent("BTC", True, 0.001, 60000.5, CLOIDS[0])], MARKETS)
        with pytest.raises(ValueError, match="lot"):
            await ex.place([intent("SOL", True, 0.001, 20.0, CLOIDS[0])], MARKETS)
        with pytest.raises(ValueError, match="unknown market"):
            await ex.place([intent("BTC", True, 0.001, 60000.0, CLOIDS[0])], {})
        bad = OrderIntent("BTC", 9, True, 0.001, 60000.0, "Gtc", False, CLOIDS[0], "t")
        with pytest.raises(ValueError, match="asset id"):
            await ex.place([bad], MARKETS)
        with pytest.raises(ValueError, match="at least one"):
            await ex.place([], MARKETS)
    assert fake.exchange_bodies == []


async def test_cancels(venue: tuple[FakeVenue, str]) -> None:
    fake, url = venue
    missing = "Order was never placed, already canceled, or filled."
    fake.exchange_answers += [
        ok("cancel", ["success", {"error": missing}]),
        ok("cancel", [{"error": missing}]),
    ]
    signer = Signer(KEY)
    async with make(url, signer) as ex:
        by_oid = await ex.cancel([(0, 11), (1, 12)])
        by_cloid = await ex.cancel_by_cloid([(5, Cloid.from_str(CLOIDS[0].upper().replace("0X", "0x")))])
    assert by_oid == [CancelResult(0, 11, None, "cancelled"), CancelResult(1, 12, None, "error", missing)]
    assert by_cloid == [CancelResult(5, None, CLOIDS[0], "error", missing)]
    assert fake.exchange_bodies[0]["action"] == {"type": "cancel", "cancels": [{"a": 0, "o": 11}, {"a": 1, "o": 12}]}
    assert fake.exchange_bodies[1]["action"] == {"type": "cancelByCloid", "cancels": [{"asset": 5, "cloid": CLOIDS[0]}]}
    assert fake.signers == [signer.address] * 2


async def test_leverage_and_schedule_cancel(venue: tuple[FakeVenue, str]) -> None:
    fake, url = venue
    fake.exchange_answers += [
        ok("default"),
        ok("default"),
        ok("default"),
        {"status": "err", "response": "Cannot set scheduled cancel time until enough volume traded"},
    ]
    async with make(url, Signer(KEY)) as ex:
        await ex.update_leverage(1, 10)
        await ex.update_leverage(2, 3, is_cross=False)
        await ex.schedule_cancel(None)
        with pytest.raises(ExchangeError, match="^hyperliquid exchange scheduleCancel: Cannot set"):
            await ex.schedule_cancel(1_900_000_000_000)
    actions = [b["action"] for b in fake.exchange_bodies]
    assert actions[0] == {"type": "updateLeverage", "asset": 1, "isCross": True, "leverage": 10}
    assert list(actions[1]) == ["type", "asset", "isCross", "leverage"] and actions[1]["isCross"] is False
    assert actions[2] == {"type": "scheduleCancel"}
    assert actions[3] == {"type": "scheduleCancel", "time": 1_900_000_000_000}


async def test_nonces_strictly_increase_with_a_stuck_clock(venue: tuple[FakeVenue, str]) -> None:
    fake, url = venue
    fake.exchange_answers += [ok("default")] * 3 + [ok("cancel", ["success"])]
    async with make(url, Signer(KEY), nonces=NonceSource(lambda: 1_700_000_000_000)) as ex:
        await ex.update_leverage(1, 5)
        await ex.schedule_cancel(None)
        await ex.update_leverage(1, 6)
        await ex.cancel([(0, 1)])
    nonces = [b["nonce"] for b in fake.exchange_bodies]
    assert nonces == sorted(set(nonces)) and len(nonces) == 4 and nonces[0] == 1_700_000_000_000


async def test_agent_wallet_signs_and_info_uses_master(venue: tuple[FakeVenue, str]) -> None:
    fake, url = venue
    agent = Signer(AGENT_KEY)
    fake.exchange_answers.append(ok("order", [{"resting": {"oid": 5}}]))
    fake.info_answers.update(
        {
            "clearinghouseState": fixture("ccxt_fetchPositions_3.json"),
            "frontendOpenOrders": fixture("http_frontend_open_orders.json"),
            "userFills": fixture("http_user_fills_with_cloid.json"),
            "userFunding": fixture("sdk_cassettes/userFunding_with_end_time.json"),
        }
    )
    async with make(url, agent, account_address=MASTER) as ex:
        assert ex.signer_address == agent.address and ex.account_address == MASTER
        await ex.place([intent("BTC", True, 0.001, 60000.0, CLOIDS[0])], MARKETS)
        state = await ex.account_state()
        orders = await ex.open_orders()
        fills = await ex.user_fills()
        funding = await ex.user_funding(1_681_948_800_000, 1_682_000_000_000)
    assert fake.signers == [agent.address]
    assert [b["user"] for b in fake.info_bodies] == [MASTER] * 4
    assert fake.info_bodies[3] == {
        "type": "userFunding",
        "user": MASTER,
        "startTime": 1_681_948_800_000,
        "endTime": 1_682_000_000_000,
    }
    assert [p.symbol for p in state.positions] == ["SOL", "ETH"]
    assert [o.oid for o in orders] == [2001, 2002]
    assert fills and all(isinstance(f, Fill) for f in fills) and fills[0].cloid == "0x5bdd47600dea461f36c8378cd7b4150c"
    assert funding and all(isinstance(f, FundingPayment) for f in funding) and funding[0].usdc == 0.145796


async def test_info_defaults_to_signer_address_and_malformed_answer(venue: tuple[FakeVenue, str]) -> None:
    fake, url = venue
    signer = Signer(KEY)
    fake.info_answers["clearinghouseState"] = {"assetPositions": []}
    fake.info_answers["userFills"] = [{"coin": "BTC"}]
    async with make(url, signer) as ex:
        with pytest.raises(ExchangeError, match="^hyperliquid info clearinghouseState: malformed answer: "):
            await ex.account_state()
        with pytest.raises(ExchangeError, match="^hyperliquid info userFills: malformed answer"):
            await ex.user_fills()
    assert fake.info_bodies[0]["user"] == signer.address


async def test_action_weight_is_charged_to_shared_limiter(venue: tuple[FakeVenue, str]) -> None:
    fake, url = venue
    assert [action_weight(n) for n in (1, 39, 40, 79, 80)] == [1, 1, 2, 2, 3]
    fake.exchange_answers.append(ok("cancel", ["success"] * 40))
    async with make(url, Signer(KEY)) as ex:
        await ex.cancel([(0, i) for i in range(40)])
        assert ex.info.limiter.used() == 2


async def test_key_never_logged_or_in_errors(venue: tuple[FakeVenue, str], caplog: pytest.LogCaptureFixture) -> None:
    fake, url = venue
    signer = Signer(KEY)
    fake.exchange_answers += [
        ok("order", [{"error": "Insufficient margin to place order."}]),
        {"status": "err", "response": "bad"},
    ]
    fake.info_answers["clearinghouseState"] = {"nope": 1}
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with make(url, signer, account_address=MASTER) as ex:
        texts += [repr(ex), str(ex), repr(signer)]
        await ex.place([intent("BTC", True, 0.001, 60000.0, CLOIDS[0])], MARKETS)
        for call in (lambda: ex.place([intent("BTC", True, 0.001, 60000.0, CLOIDS[1])], MARKETS), ex.account_state):
            with pytest.raises(ExchangeError) as info:
                await call()
            texts += [str(info.value), repr(info.value)]
    debug = [
        r for r in caplog.records if r.name == "pfterm.core.venues.hyperliquid.exchange" and r.levelno == logging.DEBUG
    ]
    assert len(debug) == 2 and '"nonce"' in debug[0].getMessage() and '"type":"order"' in debug[0].getMessage()
    texts += [r.getMessage() for r in caplog.records]
    signature = fake.exchange_bodies[0]["signature"]
    for text in texts:
        assert KEY[2:].lower() not in text.lower()
        assert "signature" not in text and signature["r"] not in text and signature["s"] not in text


async def test_wrong_network_is_detected_by_signer_recovery(venue: tuple[FakeVenue, str]) -> None:
    fake, url = venue
    fake.exchange_answers.append(ok("default"))
    signer = Signer(KEY)
    async with HyperliquidExchange(url, signer, is_mainnet=True, timeout_s=5.0) as ex:
        await ex.update_leverage(0, 2)
    assert fake.signers != [signer.address]  # the fake verifies as testnet


def test_constructor_validation() -> None:
    signer = Signer(KEY)
    with pytest.raises(ValueError, match="account_address"):
        HyperliquidExchange("http://127.0.0.1:1", signer, is_mainnet=False, account_address="0x12")
    with pytest.raises(TypeError):
        HyperliquidExchange("http://127.0.0.1:1", KEY, is_mainnet=False)  # type: ignore[arg-type]
