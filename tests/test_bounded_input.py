"""Bad venue input never corrupts state: hostile frames are counted as malformed (never a
handler error), and every map keyed by venue input is bounded (known markets only, or a cap).

Streams run against a local aiohttp WebSocket server on 127.0.0.1 that sends scripted frames.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from aiohttp import web

from pfterm.core.crossvenue.matrix import LiquidationFeed
from pfterm.core.crossvenue.session import MAX_SURGED, CrossVenueData
from pfterm.core.market.clock import VenueClock
from pfterm.core.market.engine import MAX_OTHER_MIDS, Engine
from pfterm.core.market.models import Liquidation, MarketInfo, PredictedFunding
from pfterm.core.market.store import MAX_PREDICTED_VENUES
from pfterm.core.venues.binance.market import MAX_LIQUIDATION_ORDERS, BinanceStream
from pfterm.core.venues.bybit.market import MAX_TICKERS, BybitStream, TickerBook
from pfterm.core.venues.dydx.market import MAX_MARKETS, MarketsBook
from pfterm.core.venues.errors import VenueError
from pfterm.core.venues.hyperliquid import account
from pfterm.core.venues.hyperliquid.rest import HyperliquidInfo
from pfterm.core.venues.hyperliquid.stream import HyperliquidStream
from pfterm.core.venues.hyperliquid.wire import MalformedFrame, WireFormatError, decode_ws_frame
from pfterm.core.venues.okx.market import OkxStream
from pfterm.core.venues.wsbase import MAX_LOGGED_KINDS, VenueStream, WireError, loads
from tests.replay import ListSink, eventually, fast_policy

FIX = Path(__file__).parent / "fixtures"

DEEP = "[" * 100_000 + "]" * 100_000
"""A 100 000-deep nested array: ``json.loads`` raises RecursionError on it."""

HUGE = "9" * 401
"""A 401-digit integer: a Python int, but beyond the float range (OverflowError)."""


class ScriptedVenue:
    """Accepts WebSocket connections and sends ``frames`` on each, then waits."""

    def __init__(self, frames: list[str]) -> None:
        self.frames = frames
        self.url = ""

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        for frame in self.frames:
            await ws.send_str(frame)
        async for _ in ws:
            pass
        return ws


@pytest.fixture
async def venue_factory() -> AsyncIterator[Callable[[list[str]], Any]]:
    runners: list[web.AppRunner] = []

    async def make(frames: list[str]) -> ScriptedVenue:
        venue = ScriptedVenue(frames)
        app = web.Application()
        app.router.add_get("/ws", venue.handler)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        venue.url = f"ws://127.0.0.1:{runner.addresses[0][1]}/ws"
        runners.append(runner)
        return venue

    yield make
    for runner in runners:
        await runner.cleanup()


def no_traceback_errors(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info is not None]
    assert not bad, [r.getMessage() for r in bad]


def hl_engine(coins: tuple[str, ...] = ("BTC", "ETH")) -> Engine:
    engine = Engine(venue="hyperliquid", clock=VenueClock())
    markets = [MarketInfo("hyperliquid", c, i, 5, 50) for i, c in enumerate(coins)]
    engine.on_markets(markets, [None] * len(markets))
    return engine


def mark_price(price: str) -> str:
    item = {
        "e": "markPriceUpdate",
        "E": 1791000000000,
        "s": "BTCUSDT",
        "p": "0",
        "i": "1",
        "P": "1",
        "r": "0.0001",
        "T": 1791003600000,
    }
    text = json.dumps({"stream": "!markPrice@arr@1s", "data": [item]})
    return text.replace('"p": "0"', f'"p": {price}')


# ------------------------------------------------------------------ malformed, never a crash


async def test_hostile_frames_are_malformed_on_a_venue_stream(
    venue_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    venue = await venue_factory([DEEP, mark_price(HUGE), mark_price('"91000.5"')])
    sink = ListSink()
    stream = BinanceStream(sink, venue.url, policy=fast_policy(), status_interval_s=0.01)
    caplog.set_level(logging.WARNING)
    task = asyncio.create_task(stream.run())
    try:
        await eventually(lambda: len(sink.funding) == 1)
    finally:
        await stream.stop()
        await task
    assert stream.malformed == 2
    assert stream.sink_errors == 0
    assert sink.funding[0][0].mark_px == 91000.5  # the next valid frame is applied
    no_traceback_errors(caplog)
    logged = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert any("nested too deeply" in m for m in logged)
    assert not any(HUGE in m for m in logged)


class ConvertingStream(VenueStream):
    """A stream whose handler converts a frame's number itself, as any venue parser may."""

    def _handle(self, message: str | bytes, now: float) -> None:
        value = self._decode(message)
        if value == "ok":
            self.acks += 1
            return
        float(value)  # OverflowError for a 401-digit integer


def test_decoding_errors_of_a_handler_count_as_malformed_once_logged_per_kind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = ConvertingStream(ListSink(), "ws://127.0.0.1:1/ws", feed="test/ws")
    caplog.set_level(logging.WARNING)
    for frame in (HUGE, DEEP, HUGE, DEEP, '"ok"'):
        stream._dispatch(frame, 0.0)
    assert stream.malformed == 4 and stream.sink_errors == 0 and stream.acks == 1
    no_traceback_errors(caplog)
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2  # the first of each kind, at once; repeats wait for the log interval
    assert "OverflowError" in logged[0] and "nested too deeply" in logged[1]


def test_rejected_records_are_logged_once_per_kind(caplog: pytest.LogCaptureFixture) -> None:
    sink = ListSink()
    stream = BinanceStream(sink, "ws://127.0.0.1:1/ws")
    future = mark_price('"91000.5"').replace("1791000000000", "4000000000000000")
    negative = mark_price('"-5"')
    caplog.set_level(logging.WARNING)
    for text in (future, negative, future, negative, future, mark_price('"91000.5"')):
        stream._dispatch(text, 0.0)
    assert stream.malformed == 5 and len(sink.funding) == 1
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2, logged  # one line per kind; repeats wait for the rate-limited summary
    assert "future" in logged[0] and "'p'" in logged[1]
    assert not any("4000000000000000" in m or "-5" in m for m in logged)  # reasons never echo values


def test_kinds_logged_on_first_sight_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    stream = ConvertingStream(ListSink(), "ws://127.0.0.1:1/ws", feed="test/ws")
    caplog.set_level(logging.WARNING)
    for n in range(3 * MAX_LOGGED_KINDS):
        stream._on_malformed("x", f"field {'k' * (n % 7)}{chr(65 + n % 26)}{chr(65 + n // 26)}: bad")
    assert stream.malformed == 3 * MAX_LOGGED_KINDS
    assert len(stream._malformed_kinds) == MAX_LOGGED_KINDS
    assert len(caplog.records) == MAX_LOGGED_KINDS  # later kinds only in the interval's summary


async def test_hostile_frames_are_malformed_on_the_hyperliquid_stream(
    venue_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    mids = '{"channel":"allMids","data":{"mids":{"BTC":%s}}}'
    venue = await venue_factory([DEEP, mids % HUGE, mids % '"91000.5"'])
    engine = hl_engine()
    stream = HyperliquidStream(engine, venue.url, policy=fast_policy(), status_interval_s=0.01)
    caplog.set_level(logging.WARNING)
    task = asyncio.create_task(stream.run())
    try:
        await eventually(lambda: engine.mids.get("BTC") == 91000.5)
    finally:
        await stream.stop()
        await task
    assert stream.malformed == 2
    assert stream.sink_errors == 0
    no_traceback_errors(caplog)


def test_decoders_turn_hostile_input_into_their_wire_error() -> None:
    with pytest.raises(WireError, match="nested too deeply"):
        loads(DEEP)
    with pytest.raises(MalformedFrame):
        decode_ws_frame(DEEP)
    with pytest.raises(WireFormatError):
        account.parse_clearinghouse_state(DEEP)
    state = json.dumps({"marginSummary": {"accountValue": 1}}).replace("1}", HUGE + "}")
    with pytest.raises(WireFormatError):
        account.parse_clearinghouse_state(state)


# ------------------------------------------------------------------ bounded maps


def test_all_mids_of_unknown_coins_leave_no_entries() -> None:
    engine = hl_engine()
    frame = json.dumps({"channel": "allMids", "data": {"mids": {f"ZZ{i}": "1.5" for i in range(50_000)}}})
    msg = decode_ws_frame(frame)
    engine.on_mids(msg.mids, 0.0)  # type: ignore[union-attr]
    assert engine.mids == {}
    assert engine.unknown_symbols == 50_000
    engine.on_mids({"BTC": 91000.0, "@107": 12.0, "PURR/USDC": 0.2}, 0.0)
    assert engine.mids == {"BTC": 91000.0, "@107": 12.0, "PURR/USDC": 0.2}  # universe and spot pairs


def test_spot_mids_stay_at_their_cap() -> None:
    engine = hl_engine()
    engine.on_mids({f"@{i}": 1.0 for i in range(MAX_OTHER_MIDS + 500)}, 0.0)
    assert len(engine.mids) == MAX_OTHER_MIDS
    engine.on_mids({"@0": 2.0, "BTC": 3.0}, 0.0)  # stored ones keep updating, the universe always fits
    assert engine.mids["@0"] == 2.0 and engine.mids["BTC"] == 3.0
    assert len(engine.mids) == MAX_OTHER_MIDS + 1


def test_predictions_are_kept_for_the_universe_and_few_venues() -> None:
    engine = hl_engine()
    engine.take_dirty()
    engine.on_predicted([PredictedFunding(f"X{i}", "HlPerp", 0.0001, 1.0, 1) for i in range(1000)])
    assert engine.take_dirty() == set()
    engine.on_predicted([PredictedFunding("BTC", f"V{i}", 0.0001, 1.0, 1) for i in range(100)])
    assert len(engine.store.markets["BTC"].predicted) == MAX_PREDICTED_VENUES


def okx_oi_frame(inst_ids: list[str]) -> str:
    data = [
        {"instId": i, "instType": "SWAP", "oi": "1", "oiCcy": "2", "oiUsd": "3", "ts": "1791000000000"}
        for i in inst_ids
    ]
    return json.dumps({"arg": {"channel": "open-interest", "instId": inst_ids[0]}, "data": data})


def test_okx_open_interest_of_unknown_markets_leaves_no_entries() -> None:
    sink = ListSink()
    stream = OkxStream(sink, ["BTC-USDT-SWAP"], oi={"ETH-USDT-SWAP": (1.0, 2.0)})
    assert stream.oi == {}  # the seed keeps the followed markets only
    stream._dispatch(okx_oi_frame([f"Z{i}-USDT-SWAP" for i in range(20_000)]), 0.0)
    assert stream.oi == {} and stream.unknown_symbols == 20_000 and stream.malformed == 0
    stream._dispatch(okx_oi_frame(["BTC-USDT-SWAP"]), 0.0)
    assert stream.oi == {"BTC-USDT-SWAP": (2.0, 3.0)}


def test_bybit_tickers_of_unknown_markets_leave_no_entries() -> None:
    stream = BybitStream(ListSink(), ["BTCUSDT"])
    for i in range(50):
        data = {"symbol": f"Z{i}USDT", "fundingRate": "0.0001", "markPrice": "1", "nextFundingTime": "1"}
        stream._dispatch(
            json.dumps({"topic": f"tickers.Z{i}USDT", "type": "snapshot", "ts": 1791000000000, "data": data}), 0.0
        )
    assert stream.book.fields("Z0USDT") == {} and stream.unknown_symbols == 50


def test_bybit_ticker_book_without_known_markets_stays_at_its_cap() -> None:
    book = TickerBook()
    for i in range(MAX_TICKERS + 20):
        book.apply(
            json.dumps(
                {"topic": f"tickers.Z{i}USDT", "type": "snapshot", "ts": 1791000000000, "data": {"symbol": f"Z{i}USDT"}}
            )
        )
    assert len(book._fields) == MAX_TICKERS and book.unknown_symbols == 20


def test_dydx_markets_book_stays_at_its_cap() -> None:
    book = MarketsBook()
    trading = {f"Z{i}-USD": {"nextFundingRate": "0"} for i in range(MAX_MARKETS + 100)}
    book.apply({"type": "channel_data", "contents": {"trading": trading}}, 1)
    assert len(book.markets) == MAX_MARKETS and book.unknown_symbols == 100
    prices = {f"Y{i}-USD": {"oraclePrice": "1"} for i in range(10)}
    book.apply({"type": "channel_data", "contents": {"oraclePrices": prices}}, 1)
    assert len(book.markets) == MAX_MARKETS and book.unknown_symbols == 110


def test_surge_memory_stays_at_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LiquidationFeed, "surge", lambda self, symbol, now: SimpleNamespace(minute_ms=60_000))
    data = CrossVenueData(on_surge=lambda sig: None)
    for i in range(MAX_SURGED + 50):
        data.on_liquidations([Liquidation("binance", f"Z{i}", f"Z{i}USDT", "long", 1.0, 1.0, 1.0, 60_000 + i)])
    assert len(data._surged) == MAX_SURGED


# ------------------------------------------------------------------ Binance liquidations


def force_lines() -> list[str]:
    return (FIX / "binance" / "ws_forceOrder.recorded.jsonl").read_text().splitlines()


def test_binance_liquidation_snapshots_of_one_order_count_once() -> None:
    sink = ListSink()
    stream = BinanceStream(sink, "ws://127.0.0.1:1/ws")
    lines = force_lines()
    for _ in range(3):
        for line in lines:
            stream._dispatch(line, 0.0)
    delivered = [liq for batch in sink.liquidations for liq in batch]
    assert [(liq.native, liq.size_base) for liq in delivered] == [
        ("BTCUSDT", 0.190),  # o.z, the accumulated filled size (o.l is the last fill)
        ("XRPUSDT", 127.2),
        ("MANTAUSDT", 2049.1),
    ]
    assert stream.repeated_liquidations == 6 and stream.malformed == 0


def test_binance_liquidation_growing_fill_adds_only_the_new_size() -> None:
    sink = ListSink()
    stream = BinanceStream(sink, "ws://127.0.0.1:1/ws")
    first = force_lines()[0]
    stream._dispatch(first.replace('"z":"0.190"', '"z":"0.100"'), 0.0)
    stream._dispatch(first, 0.0)
    sizes = [round(liq.size_base, 9) for batch in sink.liquidations for liq in batch]
    assert sizes == [0.1, 0.09]
    assert sink.liquidations[1][0].usd == pytest.approx(0.09 * 82651.90)


def test_binance_liquidation_memory_stays_at_its_cap() -> None:
    stream = BinanceStream(ListSink(), "ws://127.0.0.1:1/ws")
    first = force_lines()[0]
    for t in range(MAX_LIQUIDATION_ORDERS + 10):
        stream._dispatch(first.replace('"T":1791565602120', f'"T":{1791565602120 + t}'), 0.0)
    assert len(stream._liq_filled) == MAX_LIQUIDATION_ORDERS


async def test_hyperliquid_info_decoding_failures_are_malformed_answers() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=DEEP.encode())

    async with HyperliquidInfo("http://127.0.0.1:1", transport=httpx.MockTransport(handler)) as info:
        with pytest.raises(VenueError, match="malformed answer"):
            await info.meta()
        with pytest.raises(VenueError, match="malformed answer: OverflowError while decoding"):
            await info._query({"type": "meta"}, lambda raw: float(int(HUGE)))
