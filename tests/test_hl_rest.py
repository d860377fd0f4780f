"""HyperliquidInfo against a local aiohttp server on 127.0.0.1 serving the fixtures of ``tests/fixtures``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from pfterm.core.market.models import BookLevel, FundingPoint, PredictedFunding
from pfterm.core.venues.hyperliquid.rest import (
    MAINNET_API_URL,
    TESTNET_API_URL,
    HyperliquidInfo,
    VenueError,
    api_url_for,
    info_weight,
    ws_url_for,
)
from tests.fixture_files import FIXTURES

HL = FIXTURES / "hyperliquid"


PREDICTED = [
    [
        "BTC",
        [
            ["BinPerp", {"fundingRate": "0.0001", "nextFundingTime": 1733961600000}],
            ["HlPerp", {"fundingRate": "0.0000125", "nextFundingTime": 1733958000000, "fundingIntervalHours": 1}],
        ],
    ],
]


def fixture(name: str) -> bytes:
    return (HL / name).read_bytes()


class InfoServer:
    """A minimal ``POST /info`` server; ``responses`` maps info type → (status, body bytes)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.responses: dict[str, tuple[int, bytes]] = {
            "metaAndAssetCtxs": (200, fixture("metaAndAssetCtxs.mainnet.json")),
            "meta": (200, fixture("sdk_cassettes/meta.json")),
            "allMids": (200, fixture("sdk_cassettes/allMids.json")),
            "l2Book": (200, fixture("http_l2_book_btc.json")),
            "fundingHistory": (200, fixture("http_funding_history.json")),
            "predictedFundings": (200, json.dumps(PREDICTED).encode()),
        }
        self.delay_s = 0.0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status, payload = self.responses.get(body.get("type"), (422, b"Failed to deserialize the JSON body"))
        return web.Response(status=status, body=payload, content_type="application/json")


@pytest.fixture
async def server() -> AsyncIterator[InfoServer]:
    srv = InfoServer()
    app = web.Application()
    app.router.add_post("/info", srv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    srv.url = f"http://127.0.0.1:{port}"
    try:
        yield srv
    finally:
        await runner.cleanup()


async def test_meta_and_asset_ctxs(server: InfoServer) -> None:
    async with HyperliquidInfo(server.url) as info:
        markets, ctxs = await info.meta_and_asset_ctxs()
    assert server.requests == [{"type": "metaAndAssetCtxs"}]
    assert len(markets) == 227 and sum(m.delisted for m in markets) == 38
    assert ctxs[0] is not None and ctxs[0].mark_px == 91029.0 and ctxs[0].oracle_px == 91091.0
    assert ctxs[0].funding == -0.000025387 and ctxs[0].open_interest == 33193.39724


async def test_other_queries_and_request_bodies(server: InfoServer) -> None:
    async with HyperliquidInfo(server.url + "/") as info:
        assert info.info_url == server.url + "/info"
        markets = await info.meta()
        mids = await info.all_mids()
        book = await info.l2_book("BTC", n_sig_figs=5)
        await info.l2_book("BTC")
        history = await info.funding_history("BTC", 1769900000000, 1769920000000)
        predicted = await info.predicted_fundings()
    assert len(markets) == 28 and mids["BTC"] == 30135.0
    assert book.bids[0] == BookLevel(110427.0, 4.11882, 0)
    assert history[2] == FundingPoint("BTC", 1769916000000, 0.0000033, 1.0, None)
    assert predicted == [
        PredictedFunding("BTC", "BinPerp", 0.0001, 8.0, 1733961600000),
        PredictedFunding("BTC", "HlPerp", 0.0000125, 1.0, 1733958000000),
    ]
    assert server.requests == [
        {"type": "meta"},
        {"type": "allMids"},
        {"type": "l2Book", "coin": "BTC", "nSigFigs": 5},
        {"type": "l2Book", "coin": "BTC"},
        {"type": "fundingHistory", "coin": "BTC", "startTime": 1769900000000, "endTime": 1769920000000},
        {"type": "predictedFundings"},
    ]


async def test_funding_history_follows_pages() -> None:
    T0 = 1_700_000_000_000  # noqa: N806 (a venue timestamp, ms)
    page1 = [{"coin": "ETH", "fundingRate": "0.00001", "premium": "0.0", "time": T0 + 1000 + i} for i in range(500)]
    page2 = [{"coin": "ETH", "fundingRate": "0.00002", "time": T0 + 2000 + i} for i in range(3)]
    pages = [page1, page2]
    requests: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(json.loads(request.content))
        return httpx.Response(200, json=pages[len(requests) - 1])

    async with HyperliquidInfo("http://127.0.0.1:1", transport=httpx.MockTransport(handler)) as info:
        points = await info.funding_history("ETH", T0)
        used = info.limiter.used()
    assert len(points) == 503 and points[-1].time_ms == T0 + 2002
    assert [r["startTime"] for r in requests] == [T0, T0 + 1500]
    assert used == 20 + 500 // 20 + 20  # base weight per call + 1 per 20 rows returned


@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (500, b"internal error\n  trace line", True),
        (429, b"", True),
        (400, b'{"error":"bad request"}', False),
        (422, b"Failed to deserialize the JSON body into the target type", False),
    ],
)
async def test_http_errors_become_one_line_venue_error(
    server: InfoServer, status: int, body: bytes, retryable: bool
) -> None:
    server.responses["meta"] = (status, body)
    async with HyperliquidInfo(server.url) as info:
        with pytest.raises(VenueError) as err:
            await info.meta()
    message = str(err.value)
    assert "\n" not in message and f"HTTP {status}" in message and "meta" in message
    assert err.value.status == status and err.value.retryable is retryable
    assert err.value.__cause__ is None and (err.value.__context__ is None or err.value.__suppress_context__)


async def test_malformed_answer_is_venue_error(server: InfoServer) -> None:
    server.responses["l2Book"] = (200, b'{"coin":"BTC","levels":[[{"px":"x","sz":"1"}],[]],"time":1}')
    server.responses["allMids"] = (200, b"<html>gateway</html>")
    async with HyperliquidInfo(server.url) as info:
        with pytest.raises(VenueError, match="malformed answer"):
            await info.l2_book("BTC")
        with pytest.raises(VenueError, match="invalid JSON"):
            await info.all_mids()


async def test_timeout_is_venue_error(server: InfoServer) -> None:
    server.delay_s = 1.0
    async with HyperliquidInfo(server.url, timeout_s=0.2) as info:
        with pytest.raises(VenueError, match="timed out"):
            await info.meta()


async def test_connection_refused_is_venue_error() -> None:
    async with HyperliquidInfo("http://127.0.0.1:9", timeout_s=2) as info:
        with pytest.raises(VenueError) as err:
            await info.all_mids()
    assert "\n" not in str(err.value) and err.value.status is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_weight_limiter_waits_instead_of_exceeding() -> None:
    clock = FakeClock()
    sent: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(clock.now)
        body = json.loads(request.content)
        if body["type"] == "allMids":
            return httpx.Response(200, json={"BTC": "1.0"})
        return httpx.Response(200, content=fixture("sdk_cassettes/meta.json"))

    async with HyperliquidInfo(
        "http://127.0.0.1:1", transport=httpx.MockTransport(handler), clock=clock, sleep=clock.sleep
    ) as info:
        for _ in range(60):  # 60 × 20 = 1200: the whole minute's budget
            await info.meta()
        assert clock.slept == [] and info.limiter.used() == 1200
        clock.now = 30.0
        await info.all_mids()  # weight 2 does not fit until the first calls expire at t = 60
        assert sent[-1] == pytest.approx(60.0)
        await info.meta()
    for t in sent:
        window = [u for u in sent if t <= u < t + 60.0]
        assert len(window) <= 61


def test_weights_and_urls() -> None:
    assert info_weight("l2Book") == info_weight("allMids") == info_weight("clearinghouseState") == 2
    assert info_weight("metaAndAssetCtxs") == info_weight("predictedFundings") == info_weight("fundingHistory") == 20
    assert info_weight("userRole") == 60
    assert api_url_for("mainnet") == MAINNET_API_URL == "https://api.hyperliquid.xyz"
    assert api_url_for("testnet") == TESTNET_API_URL == "https://api.hyperliquid-testnet.xyz"
    assert api_url_for("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    with pytest.raises(ValueError):
        api_url_for("devnet")
    assert ws_url_for(MAINNET_API_URL) == "wss://api.hyperliquid.xyz/ws"
    assert ws_url_for(TESTNET_API_URL) == "wss://api.hyperliquid-testnet.xyz/ws"
    assert ws_url_for("http://127.0.0.1:8080") == "ws://127.0.0.1:8080/ws"
    assert ws_url_for("http://127.0.0.1:8080/sim/") == "ws://127.0.0.1:8080/sim/ws"
    with pytest.raises(ValueError):
        ws_url_for("ftp://x")
