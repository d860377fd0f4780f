"""HyperliquidStream and HyperliquidMarketData against tiny local servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from pfterm.core.market.models import (
    AssetCtx,
    BookSnapshot,
    FeedState,
    FeedStatus,
    FundingPoint,
    MarketInfo,
    PredictedFunding,
    Trade,
)
from pfterm.core.venues.hyperliquid.feed import HyperliquidMarketData
from pfterm.core.venues.hyperliquid.rest import HyperliquidInfo
from pfterm.core.venues.hyperliquid.stream import HyperliquidStream
from pfterm.core.venues.hyperliquid.wire import WELCOME_TEXT
from pfterm.core.venues.reconnect import ReconnectPolicy
from tests.fixture_files import FIXTURES
from tests.replay import eventually

HL = FIXTURES / "hyperliquid"

CTX = {
    "funding": "0.0000125",
    "openInterest": "33193.39724",
    "prevDayPx": "92661.0",
    "dayNtlVlm": "2621135493.3779191971",
    "premium": "-0.0006674644",
    "oraclePx": "91091.0",
    "markPx": "91029.0",
    "midPx": "91026.5",
    "impactPxs": ["91026.0", "91030.2"],
    "dayBaseVlm": "28387.92009",
}


def frame(channel: str, data: Any = None) -> str:
    body: dict[str, Any] = {"channel": channel}
    if data is not None:
        body["data"] = data
    return json.dumps(body, separators=(",", ":"))


class ListSink:
    """A MarketDataSink that records everything in lists."""

    def __init__(self) -> None:
        self.markets: list[tuple[list[MarketInfo], list[AssetCtx | None]]] = []
        self.ctxs: list[AssetCtx] = []
        self.mids: list[tuple[dict[str, float], float]] = []
        self.trades: list[list[Trade]] = []
        self.books: list[BookSnapshot] = []
        self.history: list[tuple[str, list[FundingPoint]]] = []
        self.predicted: list[list[PredictedFunding]] = []
        self.statuses: list[FeedStatus] = []

    def on_markets(self, markets: list[MarketInfo], ctxs: list[AssetCtx | None]) -> None:
        self.markets.append((markets, ctxs))

    def on_ctx(self, ctx: AssetCtx) -> None:
        self.ctxs.append(ctx)

    def on_mids(self, mids: Mapping[str, float], recv_mono: float) -> None:
        self.mids.append((dict(mids), recv_mono))

    def on_trades(self, trades: Iterable[Trade]) -> None:
        self.trades.append(list(trades))

    def on_book(self, book: BookSnapshot) -> None:
        self.books.append(book)

    def on_funding_history(self, symbol: str, points: list[FundingPoint]) -> None:
        self.history.append((symbol, points))

    def on_predicted(self, predicted: list[PredictedFunding]) -> None:
        self.predicted.append(predicted)

    def on_feed_status(self, status: FeedStatus) -> None:
        self.statuses.append(status)

    def states(self, feed: str = "hyperliquid/ws") -> list[FeedState]:
        states: list[FeedState] = []
        for status in self.statuses:
            if status.feed == feed and (not states or states[-1] is not status.state):
                states.append(status.state)
        return states


class FakeVenue:
    """A Hyperliquid-like WebSocket server: welcome, acks, pongs, pushes on demand."""

    def __init__(self, *, welcome: bool = True, close_immediately: bool = False, answer_pings: bool = True) -> None:
        self.welcome = welcome
        self.close_immediately = close_immediately
        self.answer_pings = answer_pings
        self.connections = 0
        self.connect_times: list[float] = []
        self.received: list[list[dict[str, Any]]] = []
        self.current: ServerConnection | None = None
        self.server: Server | None = None
        self.url = ""

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.connect_times.append(time.monotonic())
        if self.close_immediately:
            await ws.close()
            return
        self.current = ws
        inbox: list[dict[str, Any]] = []
        self.received.append(inbox)
        if self.welcome:
            await ws.send(WELCOME_TEXT)
        with contextlib.suppress(ConnectionClosed):
            async for text in ws:
                message = json.loads(text)
                inbox.append(message)
                if message.get("method") == "ping":
                    if self.answer_pings:
                        await ws.send(frame("pong"))
                elif message.get("method") in ("subscribe", "unsubscribe"):
                    await ws.send(frame("subscriptionResponse", message))

    async def push(self, *frames: str) -> None:
        assert self.current is not None
        for text in frames:
            await self.current.send(text)

    def subs(self, connection: int = -1) -> list[dict[str, Any]]:
        return [m["subscription"] for m in self.received[connection] if m.get("method") == "subscribe"]


@pytest.fixture
async def venue_factory() -> AsyncIterator[Callable[..., Any]]:
    servers: list[Server] = []

    async def start(**kwargs: Any) -> FakeVenue:
        venue = FakeVenue(**kwargs)
        server = await serve(venue.handler, "127.0.0.1", 0)
        servers.append(server)
        venue.server = server
        port = next(iter(server.sockets)).getsockname()[1]
        venue.url = f"ws://127.0.0.1:{port}/ws"
        return venue

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def fast_policy(**kwargs: Any) -> ReconnectPolicy:
    kwargs.setdefault("initial_s", 0.05)
    kwargs.setdefault("max_s", 0.2)
    return ReconnectPolicy(**kwargs)


async def start_stream(stream: HyperliquidStream) -> asyncio.Task[None]:
    return asyncio.create_task(stream.run())


async def stop_stream(stream: HyperliquidStream, task: asyncio.Task[None]) -> None:
    await stream.stop()
    await asyncio.wait_for(task, 5)


# ------------------------------------------------------------------ stream


async def test_frames_flow_to_sink_and_malformed_frame_is_counted(venue_factory: Any, caplog: Any) -> None:
    venue = await venue_factory()
    sink = ListSink()
    stream = HyperliquidStream(sink, venue.url, policy=fast_policy(), status_interval_s=0.05)
    stream.subscribe({"type": "activeAssetCtx", "coin": "BTC"})
    stream.subscribe({"type": "allMids"})
    stream.subscribe({"type": "allMids"})  # duplicate ignored
    task = await start_stream(stream)
    await eventually(lambda: venue.received and len(venue.subs()) == 2)
    assert venue.subs() == [{"type": "activeAssetCtx", "coin": "BTC"}, {"type": "allMids"}]
    await eventually(lambda: stream.acks == 2)

    before_ms = time.time_ns() // 1_000_000
    with caplog.at_level(logging.WARNING):
        await venue.push(
            frame("activeAssetCtx", {"coin": "BTC", "ctx": CTX}),
            '{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"markPx":"garbage"}}}',
            frame("allMids", {"mids": {"BTC": "91026.5", "@142": "1.5"}}),
            frame(
                "trades",
                [{"coin": "BTC", "side": "B", "px": "91027", "sz": "0.1", "time": 1_791_000_000_001, "tid": 9}],
            ),
            frame(
                "l2Book", {"coin": "BTC", "time": 1_791_000_000_005, "levels": [[{"px": "1", "sz": "2", "n": 1}], []]}
            ),
            "not even json",
            frame("error", "Invalid subscription"),
            frame("activeAssetCtx", {"coin": "BTC", "ctx": {**CTX, "markPx": "91030.0"}}),
        )
        await eventually(lambda: len(sink.ctxs) == 2)
    assert [c.mark_px for c in sink.ctxs] == [91029.0, 91030.0]
    ctx = sink.ctxs[0]
    assert ctx.recv_ms >= before_ms and ctx.recv_mono > 0
    assert sink.mids[0][0] == {"BTC": 91026.5, "@142": 1.5} and sink.mids[0][1] > 0
    assert sink.trades[0][0].tid == 9
    assert sink.books[0].symbol == "BTC"
    assert stream.malformed == 2 and stream.channel_errors == 1
    malformed_logs = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(malformed_logs) == 2  # the first of each kind at once; repeats wait for the interval
    await eventually(lambda: sink.statuses[-1].malformed == 2)
    assert "Invalid subscription" in sink.statuses[-1].detail
    await stop_stream(stream, task)
    assert sink.states() == [FeedState.CONNECTING, FeedState.CONNECTED, FeedState.STOPPED]


async def test_welcome_frame_is_optional_and_not_malformed(venue_factory: Any) -> None:
    for welcome in (True, False):
        venue = await venue_factory(welcome=welcome)
        sink = ListSink()
        stream = HyperliquidStream(sink, venue.url, policy=fast_policy())
        stream.subscribe({"type": "allMids"})
        task = await start_stream(stream)
        await eventually(lambda stream=stream: stream.acks == 1)
        await venue.push(frame("allMids", {"mids": {"ETH": "3000"}}))
        await eventually(lambda sink=sink: len(sink.mids) == 1)
        assert stream.malformed == 0
        await stop_stream(stream, task)


async def test_server_drop_reconnects_resubscribes_and_calls_on_connected(venue_factory: Any) -> None:
    venue = await venue_factory()
    sink = ListSink()
    connected_calls: list[int] = []

    async def on_connected() -> None:
        connected_calls.append(venue.connections)

    stream = HyperliquidStream(sink, venue.url, on_connected=on_connected, policy=fast_policy())
    stream.subscribe({"type": "allMids"})
    task = await start_stream(stream)
    await eventually(lambda: stream.acks == 1)
    stream.subscribe({"type": "trades", "coin": "SOL"})  # while connected: sent at once
    await eventually(lambda: len(venue.subs()) == 2)
    stream.unsubscribe({"type": "trades", "coin": "SOL"})
    stream.subscribe({"type": "l2Book", "coin": "ETH"})
    await eventually(lambda: len(venue.received[0]) == 4)
    assert venue.received[0][2] == {"method": "unsubscribe", "subscription": {"type": "trades", "coin": "SOL"}}

    assert venue.current is not None
    await venue.current.close(code=1012, reason="restart")
    await eventually(lambda: venue.connections == 2 and len(venue.received) == 2 and len(venue.subs(1)) == 2)
    assert venue.subs(1) == [{"type": "allMids"}, {"type": "l2Book", "coin": "ETH"}]
    await eventually(lambda: len(connected_calls) == 2)
    await venue.push(frame("allMids", {"mids": {"BTC": "1"}}))
    await eventually(lambda: len(sink.mids) == 1)

    retrying = [s for s in sink.statuses if s.state is FeedState.RETRYING]
    assert len(retrying) == 1
    assert retrying[0].retry_at_mono is not None and retrying[0].retry_at_mono >= time.monotonic() - 5
    assert "1012" in retrying[0].detail
    await stop_stream(stream, task)
    assert sink.states() == [
        FeedState.CONNECTING,
        FeedState.CONNECTED,
        FeedState.RETRYING,
        FeedState.CONNECTING,
        FeedState.CONNECTED,
        FeedState.STOPPED,
    ]


async def test_accept_then_close_is_paced_by_backoff(venue_factory: Any) -> None:
    venue = await venue_factory(close_immediately=True)
    sink = ListSink()
    stream = HyperliquidStream(sink, venue.url)  # default policy: 0.5–1 s, 1–2 s, 2–4 s …
    task = await start_stream(stream)
    await asyncio.sleep(3.0)
    await stop_stream(stream, task)
    assert 2 <= venue.connections <= 4, venue.connect_times
    gaps = [b - a for a, b in zip(venue.connect_times, venue.connect_times[1:], strict=False)]
    assert all(g >= 0.45 for g in gaps), gaps
    assert all(later >= earlier * 0.9 for earlier, later in zip(gaps, gaps[1:], strict=False)), gaps
    retrying = [s for s in sink.statuses if s.state is FeedState.RETRYING]
    assert retrying and all(s.retry_at_mono is not None for s in retrying)


async def test_unreachable_server_retries_and_stops_promptly() -> None:
    sink = ListSink()
    stream = HyperliquidStream(sink, "ws://127.0.0.1:9/ws", policy=fast_policy(), open_timeout_s=1)
    task = await start_stream(stream)
    await eventually(lambda: len([s for s in sink.statuses if s.state is FeedState.RETRYING]) >= 2)
    assert all("\n" not in s.detail for s in sink.statuses)
    started = time.monotonic()
    await stop_stream(stream, task)
    assert time.monotonic() - started < 1.0
    assert sink.statuses[-1].state is FeedState.STOPPED


async def test_ping_sent_when_idle(venue_factory: Any) -> None:
    venue = await venue_factory()
    sink = ListSink()
    stream = HyperliquidStream(sink, venue.url, policy=fast_policy(), ping_interval_s=0.15)
    task = await start_stream(stream)
    await eventually(lambda: venue.received and sum(m == {"method": "ping"} for m in venue.received[0]) >= 3)
    assert venue.connections == 1  # pongs keep the connection alive
    await stop_stream(stream, task)


async def test_silence_watchdog_reconnects(venue_factory: Any) -> None:
    venue = await venue_factory(answer_pings=False, welcome=False)
    sink = ListSink()
    stream = HyperliquidStream(sink, venue.url, policy=fast_policy(), ping_interval_s=5.0, silence_timeout_s=0.3)
    task = await start_stream(stream)
    await eventually(lambda: venue.connections >= 2)
    retrying = [s for s in sink.statuses if s.state is FeedState.RETRYING]
    assert retrying and "no data" in retrying[0].detail
    await stop_stream(stream, task)


async def test_sink_exception_does_not_break_stream(venue_factory: Any) -> None:
    class Exploding(ListSink):
        def on_book(self, book: BookSnapshot) -> None:
            raise RuntimeError("boom")

    venue = await venue_factory()
    sink = Exploding()
    stream = HyperliquidStream(sink, venue.url, policy=fast_policy())
    stream.subscribe({"type": "l2Book", "coin": "X"})
    task = await start_stream(stream)
    await eventually(lambda: stream.acks == 1)
    await venue.push(
        frame("l2Book", {"coin": "X", "time": 1_791_000_000_005, "levels": [[], []]}),
        frame("allMids", {"mids": {"X": "2"}}),
    )
    await eventually(lambda: len(sink.mids) == 1)
    assert venue.connections == 1 and stream.sink_errors == 1
    await stop_stream(stream, task)


# ------------------------------------------------------------------ feed (REST + WS)


class FakeInfo:
    """``httpx.MockTransport`` handler serving info queries from fixtures."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        kind = body["type"]
        if kind == "metaAndAssetCtxs":
            if self.fail_first > 0:
                self.fail_first -= 1
                return httpx.Response(502, text="<html>\nBad gateway\n</html>")
            return httpx.Response(200, content=(HL / "metaAndAssetCtxs.mainnet.json").read_bytes())
        if kind == "predictedFundings":
            return httpx.Response(
                200, json=[["BTC", [["HlPerp", {"fundingRate": "0.0000125", "nextFundingTime": 1733958000000}]]]]
            )
        if kind == "fundingHistory":
            return httpx.Response(200, content=(HL / "http_funding_history.json").read_bytes())
        return httpx.Response(422, text="unknown")

    def count(self, kind: str) -> int:
        return sum(1 for r in self.requests if r["type"] == kind)


async def test_feed_snapshot_subscriptions_select_and_resnapshot(venue_factory: Any) -> None:
    venue = await venue_factory()
    sink = ListSink()
    rest = FakeInfo(fail_first=2)
    info = HyperliquidInfo("http://127.0.0.1:1", transport=httpx.MockTransport(rest))
    feed = HyperliquidMarketData(
        sink,
        ws_url=venue.url,
        info=info,
        predicted_poll_s=0.2,
        rest_policy=fast_policy(),
        ws_policy=fast_policy(),
    )
    feed.select("BTC")  # before run: fetched once running
    task = asyncio.create_task(feed.run())
    await eventually(lambda: len(sink.markets) == 1)
    markets, ctxs = sink.markets[0]
    # the whole universe is delivered, delisted markets flagged; only the 189 live ones are subscribed
    assert len(markets) == 227 and sum(m.delisted for m in markets) == 38
    assert ctxs[0] is not None and ctxs[0].symbol == "BTC" and ctxs[0].recv_mono > 0

    rest_states = sink.states("hyperliquid/rest")
    assert rest_states[:3] == [FeedState.CONNECTING, FeedState.RETRYING, FeedState.CONNECTED]
    retry = next(s for s in sink.statuses if s.feed == "hyperliquid/rest" and s.state is FeedState.RETRYING)
    assert "HTTP 502" in retry.detail and "\n" not in retry.detail and retry.retry_at_mono is not None

    await eventually(lambda: venue.received and len(venue.subs(0)) == 1 + 189 + 2, timeout=5)
    subs = venue.subs(0)
    assert {"type": "allMids"} in subs
    assert {"type": "activeAssetCtx", "coin": "BTC"} in subs
    assert {"type": "activeAssetCtx", "coin": "HPOS"} not in subs  # delisted
    assert {"type": "trades", "coin": "BTC"} in subs and {"type": "l2Book", "coin": "BTC"} in subs

    await eventually(lambda: len(sink.history) == 1 and len(sink.predicted) >= 2)
    assert sink.history[0][0] == "BTC" and len(sink.history[0][1]) == 3
    history_request = next(r for r in rest.requests if r["type"] == "fundingHistory")
    span_ms = time.time_ns() // 1_000_000 - history_request["startTime"]
    assert 72 * 3_600_000 <= span_ms < 72 * 3_600_000 + 60_000
    assert sink.predicted[0] == [PredictedFunding("BTC", "HlPerp", 0.0000125, 1.0, 1733958000000)]

    feed.select("ETH")
    await eventually(lambda: len(venue.received[0]) >= 1 + 189 + 2 + 4)
    tail = venue.received[0][-4:]
    assert {"method": "unsubscribe", "subscription": {"type": "trades", "coin": "BTC"}} in tail
    assert {"method": "subscribe", "subscription": {"type": "l2Book", "coin": "ETH"}} in tail
    await eventually(lambda: len(sink.history) == 2 and sink.history[1][0] == "ETH")

    snapshots_before = rest.count("metaAndAssetCtxs")
    assert venue.current is not None
    await venue.current.close()
    await eventually(lambda: len(venue.received) == 2 and len(venue.subs(1)) == 1 + 189 + 2, timeout=5)
    await eventually(lambda: rest.count("metaAndAssetCtxs") == snapshots_before + 1 and len(sink.markets) == 2)
    assert {"type": "l2Book", "coin": "ETH"} in venue.subs(1)
    assert {"type": "trades", "coin": "BTC"} not in venue.subs(1)

    await feed.stop()
    await asyncio.wait_for(task, 5)
    assert sink.statuses[-1].state is FeedState.STOPPED
    assert sink.states()[-1] is FeedState.STOPPED


async def test_feed_stop_during_startup_retries(venue_factory: Any) -> None:
    sink = ListSink()
    rest = FakeInfo(fail_first=10_000)
    info = HyperliquidInfo("http://127.0.0.1:1", transport=httpx.MockTransport(rest))
    feed = HyperliquidMarketData(sink, ws_url="ws://127.0.0.1:9/ws", info=info, rest_policy=fast_policy())
    task = asyncio.create_task(feed.run())
    await eventually(lambda: rest.count("metaAndAssetCtxs") >= 3)
    await feed.stop()
    await asyncio.wait_for(task, 2)  # never raised
    assert sink.markets == []
    assert sink.statuses[-1].feed == "hyperliquid/rest" and sink.statuses[-1].state is FeedState.STOPPED


async def test_feed_include_delisted(venue_factory: Any) -> None:
    venue = await venue_factory()
    sink = ListSink()
    info = HyperliquidInfo("http://127.0.0.1:1", transport=httpx.MockTransport(FakeInfo()))
    feed = HyperliquidMarketData(sink, ws_url=venue.url, info=info, include_delisted=True, ws_policy=fast_policy())
    task = asyncio.create_task(feed.run())
    await eventually(lambda: venue.received and len(venue.subs(0)) == 1 + 227, timeout=5)
    assert len(sink.markets[0][0]) == 227
    await feed.stop()
    await asyncio.wait_for(task, 5)
