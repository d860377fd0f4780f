"""A silent feed is shown stale, and a WebSocket peer that stops answering pings is dropped.

Every server here is a local aiohttp server on 127.0.0.1 that accepts, sends one frame and
then says nothing more; with ``answer_pings=False`` it answers neither protocol pings nor
Hyperliquid's ``{"method":"ping"}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from pfterm.core.market.clock import VenueClock
from pfterm.core.market.engine import Engine
from pfterm.core.market.models import FeedState, FeedStatus
from pfterm.core.market.views import feed_view
from pfterm.core.venues.hyperliquid.feed import HyperliquidMarketData
from pfterm.core.venues.hyperliquid.stream import HyperliquidStream
from pfterm.core.venues.wsbase import VenueStream
from pfterm.tui.app import PftermApp
from tests.replay import eventually, fast_policy
from tests.seeded import FrozenMono, seeded_engine
from tests.test_tui import screen_text

MIDS = json.dumps({"channel": "allMids", "data": {"mids": {"BTC": "91000.0"}}})


class SilentVenue:
    """Accepts, sends ``first`` (when set), then stays silent; counts connections. With
    ``answer_pings`` it answers protocol pings and Hyperliquid pings; without, neither."""

    def __init__(self, *, answer_pings: bool, first: str | None = MIDS) -> None:
        self.answer_pings = answer_pings
        self.first = first
        self.connections = 0
        self.latest: web.WebSocketResponse | None = None
        self.url = ""

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=self.answer_pings)
        await ws.prepare(request)
        self.connections += 1
        self.latest = ws
        if self.first is not None:
            await ws.send_str(self.first)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT and self.answer_pings and json.loads(msg.data) == {"method": "ping"}:
                await ws.send_str('{"channel":"pong"}')
        return ws

    async def push(self, text: str) -> None:
        assert self.latest is not None
        await self.latest.send_str(text)


@pytest.fixture
async def venue_factory() -> AsyncIterator[Callable[..., Any]]:
    runners: list[web.AppRunner] = []

    async def make(**kw: Any) -> SilentVenue:
        venue = SilentVenue(**kw)
        app = web.Application()
        app.router.add_get("/ws", venue.handler)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        venue.url = f"ws://127.0.0.1:{port}/ws"
        runners.append(runner)
        return venue

    yield make
    for runner in runners:
        await runner.cleanup()


class StatusSink:
    """Records feed statuses with their monotonic arrival time."""

    def __init__(self) -> None:
        self.statuses: list[tuple[float, FeedStatus]] = []
        self.frames = 0

    def on_feed_status(self, status: FeedStatus) -> None:
        self.statuses.append((time.monotonic(), status))

    def first(self, state: FeedState) -> tuple[float, FeedStatus]:
        return next(x for x in self.statuses if x[1].state is state)


class CountingStream(VenueStream):
    """A venue without application pings (Binance-like): only protocol keepalive."""

    def _handle(self, message: str | bytes, now: float) -> None:
        self._sink.frames += 1  # type: ignore[attr-defined]


INTERVAL_S = 0.3
PONG_TIMEOUT_S = 0.3
SLACK_S = 1.0  # closing handshake and a loaded machine; the silence watchdog alone would take 30 s


async def test_protocol_ping_without_pong_drops_within_interval_plus_timeout_and_reconnects(
    venue_factory: Any,
) -> None:
    venue = await venue_factory(answer_pings=False)
    sink = StatusSink()
    stream = CountingStream(
        sink,  # type: ignore[arg-type]
        venue.url,
        feed="binance/ws",
        policy=fast_policy(),
        ping_interval_s=INTERVAL_S,
        pong_timeout_s=PONG_TIMEOUT_S,
        silence_timeout_s=30.0,
        close_timeout_s=0.2,
    )
    task = asyncio.create_task(stream.run())
    try:
        await eventually(lambda: venue.connections >= 2, timeout=5.0)
        connected_at, _ = sink.first(FeedState.CONNECTED)
        dropped_at, dropped = sink.first(FeedState.RETRYING)
        assert sink.frames >= 1
        assert "keepalive ping timeout" in dropped.detail
        assert dropped_at - connected_at <= INTERVAL_S + PONG_TIMEOUT_S + SLACK_S
        await eventually(lambda: stream.state is FeedState.CONNECTED and stream.connects >= 2)
    finally:
        await stream.stop()
        await task


async def test_protocol_pings_answered_keep_the_connection(venue_factory: Any) -> None:
    venue = await venue_factory(answer_pings=True)
    sink = StatusSink()
    stream = CountingStream(
        sink,  # type: ignore[arg-type]
        venue.url,
        feed="binance/ws",
        policy=fast_policy(),
        ping_interval_s=0.1,
        pong_timeout_s=0.3,
        silence_timeout_s=30.0,
    )
    task = asyncio.create_task(stream.run())
    try:
        await eventually(lambda: stream.state is FeedState.CONNECTED)
        await asyncio.sleep(1.0)
        assert venue.connections == 1 and stream.state is FeedState.CONNECTED
    finally:
        await stream.stop()
        await task


def hl_engine() -> Engine:
    return Engine(venue="hyperliquid", clock=VenueClock())


async def test_hyperliquid_ping_without_pong_drops_within_interval_plus_timeout_and_reconnects(
    venue_factory: Any,
) -> None:
    venue = await venue_factory(answer_pings=False)
    engine = hl_engine()
    sink = StatusSink()
    engine_status = engine.on_feed_status

    def on_feed_status(status: FeedStatus) -> None:
        sink.on_feed_status(status)
        engine_status(status)

    engine.on_feed_status = on_feed_status  # type: ignore[method-assign]
    stream = HyperliquidStream(
        engine,
        venue.url,
        policy=fast_policy(),
        ping_interval_s=INTERVAL_S,
        pong_timeout_s=PONG_TIMEOUT_S,
        silence_timeout_s=30.0,
        close_timeout_s=0.2,
    )
    task = asyncio.create_task(stream.run())
    try:
        await eventually(lambda: venue.connections >= 2, timeout=5.0)
        connected_at, _ = sink.first(FeedState.CONNECTED)
        dropped_at, dropped = sink.first(FeedState.RETRYING)
        assert engine.mids == {"BTC": 91000.0}
        assert dropped.detail == f"no pong for {PONG_TIMEOUT_S:g} s"
        assert dropped_at - connected_at <= INTERVAL_S + PONG_TIMEOUT_S + SLACK_S
        await eventually(lambda: stream.state is FeedState.CONNECTED and stream.connects >= 2)
    finally:
        await stream.stop()
        await task


async def test_silent_feed_goes_stale_and_back_to_connected_on_next_message(venue_factory: Any) -> None:
    venue = await venue_factory(answer_pings=True)
    engine = hl_engine()
    stale_after_s = 0.4
    stream = HyperliquidStream(engine, venue.url, policy=fast_policy(), ping_interval_s=0.1, pong_timeout_s=1.0)

    def view() -> Any:
        status = engine.feeds["hyperliquid/ws"]
        return feed_view(status, engine.feed_last_msg(status.feed), stale_after_s, time.monotonic())

    task = asyncio.create_task(stream.run())
    try:
        await eventually(lambda: "BTC" in engine.mids)
        assert not view().stale and view().status.state is FeedState.CONNECTED
        await eventually(lambda: view().stale)  # pongs keep the connection, but no data came
        assert view().silent_s >= stale_after_s  # type: ignore[operator]
        assert venue.connections == 1 and stream.pongs >= 1
        await venue.push(MIDS.replace("91000.0", "91001.0"))
        await eventually(lambda: not view().stale)
        assert view().status.state is FeedState.CONNECTED and engine.mids["BTC"] == 91001.0
    finally:
        await stream.stop()
        await task


def test_feed_view_is_stale_only_while_connected() -> None:
    connected = FeedStatus("hyperliquid/ws", FeedState.CONNECTED)
    assert feed_view(connected, 100.0, 10.0, 109.9).silent_s is None
    assert feed_view(connected, 100.0, 10.0, 164.0).silent_s == 64.0
    assert feed_view(connected, None, 10.0, 164.0).silent_s is None
    retrying = FeedStatus("hyperliquid/ws", FeedState.RETRYING, retry_at_mono=170.0)
    assert not feed_view(retrying, 100.0, 10.0, 164.0).stale


def test_engine_counts_silence_from_connection_for_its_stream_feed_only() -> None:
    mono = FrozenMono(1000.0)
    engine = Engine(venue="hyperliquid", clock=VenueClock(mono=mono), mono=mono)
    engine.on_feed_status(FeedStatus("hyperliquid/ws", FeedState.CONNECTED))
    engine.on_feed_status(FeedStatus("hyperliquid/rest", FeedState.CONNECTED))
    assert engine.feed_last_msg("hyperliquid/ws") == 1000.0
    assert engine.feed_last_msg("hyperliquid/rest") is None
    engine.on_mids({"BTC": 1.0}, 1005.0)
    assert engine.feed_last_msg("hyperliquid/ws") == 1005.0


async def test_status_bar_shows_a_silent_feed_stale_then_connected() -> None:
    mono = FrozenMono()
    engine, _model, settings, endpoint = seeded_engine(mono)
    engine.on_feed_status(FeedStatus("hyperliquid/ws", FeedState.CONNECTED))
    engine.on_mids({"BTC": 91000.0}, mono.t)
    app = PftermApp(settings, engine=engine, endpoint=endpoint, start_feed=False, mono=mono)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        await pilot.pause(0.3)
        assert "ws ● connected" in screen_text(app)
        mono.t += 64.0
        await pilot.pause(1.3)
        text = screen_text(app)
        assert "ws ◌ stale 64 s" in text and "ws ● connected" not in text
        engine.on_mids({"BTC": 91001.0}, mono.t)
        await pilot.pause(1.3)
        text = screen_text(app)
        assert "ws ● connected" in text and "stale 64 s" not in text


async def test_market_data_passes_the_pong_timeout_to_its_stream() -> None:
    feed = HyperliquidMarketData(hl_engine(), "http://127.0.0.1:1", ping_interval_s=5.0, pong_timeout_s=3.0)
    try:
        assert (feed.stream.ping_interval_s, feed.stream.pong_timeout_s) == (5.0, 3.0)
    finally:
        await feed.stop()
