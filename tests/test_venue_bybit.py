"""Bybit v5 adapter: parsers against the fixtures of ``tests/fixtures``, the ticker snapshot/delta merge,
the REST snapshot against an ``httpx.MockTransport`` and :class:`BybitStream` against a local
WebSocket server.

Fixture provenance (``tests/fixtures/README.md``):

* ``ws_allLiquidation.recorded.jsonl``, ``ws_tickers_delta.recorded.jsonl``: frames recorded live
  (2026-10) per the recorder's comments — values asserted exactly;
* ``docs_tickers_linear_snapshot.json`` (2025 docs, testnet-like values),
  ``docs_tickers_linear_snapshot.2023.json``, ``docs_allLiquidation.json``: docs examples.

No captured REST ``/v5/market/tickers`` body and no payload with ``singleOpenInterest`` exist in
the fixtures; such bodies below are SYNTHETIC (documented shape, ``docs/venues.md``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection

from pfterm.core.market.models import FeedState, Liquidation, VenueFunding
from pfterm.core.venues.binance.market import VenueError, WireError
from pfterm.core.venues.bybit.market import (
    BYBIT_REST_URL,
    BYBIT_WS_URL,
    BybitStream,
    TickerBook,
    fetch_snapshot,
    parse_all_liquidation,
    parse_tickers,
    subscribe_messages,
)
from tests.fixture_files import FIXTURES
from tests.replay import ListSink, ReplayServer, eventually, fast_policy

if TYPE_CHECKING:
    from tests.conftest import ServeReplay

FIX = FIXTURES / "bybit"


def snapshot_text() -> str:
    return (FIX / "docs_tickers_linear_snapshot.json").read_text()


def delta_lines() -> list[str]:
    return (FIX / "ws_tickers_delta.recorded.jsonl").read_text().splitlines()


def liq_lines() -> list[str]:
    return (FIX / "ws_allLiquidation.recorded.jsonl").read_text().splitlines()


def test_urls() -> None:
    assert BYBIT_REST_URL == "https://api.bybit.com"
    assert BYBIT_WS_URL == "wss://stream.bybit.com/v5/public/linear"


# ------------------------------------------------------------------ liquidations


def test_all_liquidation_recorded_frames_position_side() -> None:
    btc = parse_all_liquidation(liq_lines()[0])
    assert btc == [
        Liquidation("bybit", "BTC", "BTCUSDT", "long", 0.006, 82396.90, pytest.approx(0.006 * 82396.90), 1791565600992),
        Liquidation("bybit", "BTC", "BTCUSDT", "long", 0.038, 82394.30, pytest.approx(0.038 * 82394.30), 1791565601058),
    ]  # S == "Buy" is the POSITION side: a long was liquidated
    [strk] = parse_all_liquidation(liq_lines()[1])
    assert (strk.symbol, strk.side, strk.size_base, strk.price, strk.time_ms) == (
        "STRK",
        "long",
        2084.9,
        0.05165,
        1791091285156,
    )
    [rose] = parse_all_liquidation((FIX / "docs_allLiquidation.json").read_text())
    assert (rose.side, rose.size_base, rose.price, rose.time_ms) == ("short", 20000.0, 0.04499, 1739502302929)


def test_all_liquidation_kpepe_and_malformed() -> None:
    msg = json.loads(liq_lines()[1])
    msg["data"][0].update({"s": "1000PEPEUSDT", "S": "Sell"})
    [liq] = parse_all_liquidation(msg)
    assert (liq.symbol, liq.native, liq.side) == ("kPEPE", "1000PEPEUSDT", "short")
    msg["data"][0]["S"] = "Long"
    with pytest.raises(WireError):
        parse_all_liquidation(msg)
    msg["data"][0].update({"S": "Buy", "v": "lots"})
    with pytest.raises(WireError) as info:
        parse_all_liquidation(msg)
    assert "lots" not in str(info.value)


# ------------------------------------------------------------------ tickers


def test_ticker_book_snapshot_then_recorded_deltas_keep_absent_fields() -> None:
    book = TickerBook()
    [snap] = book.apply(snapshot_text())
    assert snap == VenueFunding(
        venue="bybit",
        symbol="BTC",
        native="BTCUSDT",
        rate=-0.005,
        interval_h=8.0,
        next_funding_ms=1760342400000,
        mark_px=66666.60,
        index_px=115418.19,
        oi_base=None,  # no singleOpenInterest: openInterest 492373.72 is NOT used (sidedness unknown)
        oi_usd=None,
        time_ms=1760325052630,
    )
    first, second = delta_lines()
    assert book.apply(first) == []  # only bid1 changed: nothing funding-related
    fields = book.fields("BTCUSDT")
    assert fields["bid1Price"] == "84792.60" and fields["bid1Size"] == "1.302"
    assert fields["ask1Price"] == "66666.70" and fields["ask1Size"] == "23775.469"  # kept from the snapshot
    assert book.apply(second) == []
    fields = book.fields("BTCUSDT")
    assert (fields["bid1Price"], fields["ask1Price"], fields["ask1Size"]) == ("84792.60", "84792.70", "17.487")
    assert fields["fundingRate"] == "-0.005" and fields["markPrice"] == "66666.60"  # absent from both deltas

    # a funding-relevant delta (synthetic, same shape) yields the merged record
    delta = json.loads(second)
    delta["data"] = {"symbol": "BTCUSDT", "markPrice": "84790.00", "singleOpenInterest": "25000.5"}
    delta["ts"] = 1791091006700
    [rec] = book.apply(delta)
    assert (rec.mark_px, rec.rate, rec.next_funding_ms, rec.time_ms) == (84790.0, -0.005, 1760342400000, 1791091006700)
    assert rec.oi_base == 25000.5 and rec.oi_usd == pytest.approx(25000.5 * 84790.0)
    # an invalid delta changes nothing
    with pytest.raises(WireError):
        book.apply({**delta, "data": {"symbol": "BTCUSDT", "fundingRate": "n/a"}})
    assert book.fields("BTCUSDT")["fundingRate"] == "-0.005"
    # a new snapshot replaces everything
    [again] = book.apply(snapshot_text())
    assert again == snap and "bid1Size" in book.fields("BTCUSDT") and book.fields("BTCUSDT")["bid1Size"] == "23789.165"


def test_old_docs_snapshot_and_missing_interval() -> None:
    book = TickerBook()
    [rec] = book.apply((FIX / "docs_tickers_linear_snapshot.2023.json").read_text())
    assert (rec.rate, rec.interval_h, rec.next_funding_ms, rec.mark_px) == (-0.000212, 8.0, 1673280000000, 17217.33)
    assert rec.oi_base is None  # 2023 openInterest (68744.761) predates the two-sided change: not guessed
    msg = json.loads(snapshot_text())
    del msg["data"]["fundingIntervalHour"]
    msg["data"]["symbol"] = "ETHUSDT"
    [eth] = TickerBook().apply(msg)
    assert eth.interval_h == 8.0 and eth.symbol == "ETH"


def rest_item(**over: str) -> dict[str, str]:
    item = dict(json.loads(snapshot_text())["data"])
    item.update(over)
    return item


REST_BODY = {
    "retCode": 0,
    "retMsg": "OK",
    "result": {
        "category": "linear",
        "list": [
            rest_item(
                openInterest="50000.002",  # two-sided since 2026-06
                openInterestValue="4239500169.58",
                singleOpenInterest="25000.001",
                singleOpenInterestValue="2119750084.79",
                markPrice="84790.00",
            ),
            rest_item(
                symbol="1000PEPEUSDT",
                markPrice="0.0100000",
                indexPrice="0.0100100",
                fundingRate="0.0001",
                fundingIntervalHour="4",
                nextFundingTime="1791100800000",
                singleOpenInterest="6000000000",
            ),
            rest_item(symbol="BTCPERP"),  # USDC perpetual: skipped
            rest_item(symbol="BTC-26DEC25", fundingRate="", nextFundingTime="0"),  # dated: skipped
        ],
    },
    "retExtInfo": {},
    "time": 1791091006999,
}


def test_parse_tickers_rest_single_sided_oi() -> None:
    btc, pepe = parse_tickers(REST_BODY, now_ms=1)
    assert (btc.symbol, btc.oi_base, btc.oi_usd, btc.time_ms) == ("BTC", 25000.001, 2119750084.79, 1791091006999)
    assert (pepe.symbol, pepe.interval_h, pepe.rate, pepe.next_funding_ms) == ("kPEPE", 4.0, 0.0001, 1791100800000)
    assert pepe.oi_base == 6e9 and pepe.oi_usd == pytest.approx(6e7)  # no value field: base × mark
    assert parse_tickers(REST_BODY["result"], now_ms=7)[0].time_ms == 7
    with pytest.raises(VenueError):
        parse_tickers({"retCode": 10001, "retMsg": "params error", "result": {}}, now_ms=1)
    with pytest.raises(WireError):
        parse_tickers({"retCode": 0, "result": {"list": "x"}}, now_ms=1)


async def test_fetch_snapshot_mock_transport() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json=REST_BODY)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        records = await fetch_snapshot(client, "http://bybit.test/")
    assert [r.symbol for r in records] == ["BTC", "kPEPE"]
    assert seen[0].path == "/v5/market/tickers" and seen[0].params["category"] == "linear"
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(403))) as client:
        with pytest.raises(VenueError) as info:
            await fetch_snapshot(client, "http://bybit.test")
    assert str(info.value) == "bybit /v5/market/tickers: HTTP 403"


def test_subscribe_batches() -> None:
    topics = [f"tickers.S{i}USDT" for i in range(23)]
    messages = [json.loads(m) for m in subscribe_messages(topics)]
    assert [len(m["args"]) for m in messages] == [10, 10, 3]
    assert all(m["op"] == "subscribe" for m in messages)
    assert [a for m in messages for a in m["args"]] == topics


# ------------------------------------------------------------------ stream against a local server


MARK_DELTA = json.dumps(
    {
        "topic": "tickers.BTCUSDT",
        "type": "delta",
        "data": {"symbol": "BTCUSDT", "markPrice": "84790.00", "fundingRate": "0.0001"},
        "cs": 820163808400,
        "ts": 1791091006700,
    }
)


class FakeBybit(ReplayServer):
    """Answers subscribes and pings like Bybit; after the subscriptions of connection n it
    replays ``scripts[n]`` once ``batches`` subscribe requests arrived (last script repeats);
    the first connection is then dropped."""

    replay_on_connect = False
    drop_code = 1001

    def __init__(
        self, scripts: list[list[str]], *, drop_first: bool = True, reject: str | None = None, batches: int = 1
    ) -> None:
        super().__init__(scripts, drop_first=drop_first)
        self.batches = batches
        self.reject = reject

    async def answer(self, ws: ServerConnection, n: int, msg: Any) -> bool:
        if msg.get("op") == "ping":
            await ws.send(json.dumps({"success": True, "ret_msg": "pong", "conn_id": "c", "op": "ping"}))
        elif msg.get("op") == "subscribe":
            ok = self.reject is None or self.reject not in msg["args"]
            answer = {"success": ok, "ret_msg": "" if ok else f"Invalid topic: {self.reject}", "op": "subscribe"}
            await ws.send(json.dumps(answer))
            if sum(m.get("op") == "subscribe" for m in self.received[n]) == self.batches:
                return await self.replay(ws, n)
        return True

    def subscribed(self, connection: int) -> list[str]:
        return [a for m in self.received[connection] if m.get("op") == "subscribe" for a in m["args"]]


@pytest.fixture
def bybit_factory(replay_servers: ServeReplay) -> Callable[..., Any]:
    return lambda scripts, **kwargs: replay_servers(FakeBybit(scripts, **kwargs), "/v5/public/linear")


NATIVES = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "1000PEPEUSDT", "XRPUSDT", "STRKUSDT", "BTCPERP"]


async def test_stream_replay_drop_reconnect_and_malformed(bybit_factory: Any) -> None:
    first = [
        snapshot_text(),
        *delta_lines(),
        MARK_DELTA,
        *liq_lines(),
        '{"topic":"allLiquidation.X","data":[{}]}',
        "[1",
    ]
    second = [snapshot_text(), liq_lines()[1]]
    venue = await bybit_factory([first, second], batches=2)
    sink = ListSink()
    stream = BybitStream(sink, NATIVES, venue.url, policy=fast_policy(), status_interval_s=0.01)
    task = asyncio.create_task(stream.run())
    await eventually(lambda: venue.connections == 2 and len(sink.funding) == 3 and len(sink.liquidations) == 3)
    # 6 joined natives (BTCPERP dropped) × 2 topics = 12 topics in batches of 10
    for connection in (0, 1):
        batches = [m["args"] for m in venue.received[connection] if m.get("op") == "subscribe"]
        assert [len(b) for b in batches] == [10, 2]
    assert venue.subscribed(1) == [f"tickers.{n}" for n in NATIVES[:-1]] + [f"allLiquidation.{n}" for n in NATIVES[:-1]]

    snap, marked, snap_again = sink.funding
    assert snap[0].rate == -0.005 and snap[0].mark_px == 66666.6
    # the mark delta merged on top of snapshot + bid/ask deltas; interval/next kept
    assert (marked[0].rate, marked[0].mark_px, marked[0].next_funding_ms, marked[0].interval_h) == (
        0.0001,
        84790.0,
        1760342400000,
        8.0,
    )
    assert snap_again == snap  # book cleared on reconnect, fresh snapshot
    assert [[liq.side for liq in b] for b in sink.liquidations] == [["long", "long"], ["long"], ["long"]]
    assert stream.malformed == 2
    await eventually(lambda: sink.statuses[-1].malformed == 2)
    retrying = [s for s in sink.statuses if s.state is FeedState.RETRYING]
    assert len(retrying) == 1 and "1001" in retrying[0].detail
    await stream.stop()
    await asyncio.wait_for(task, 5)
    assert sink.states() == [
        FeedState.CONNECTING,
        FeedState.CONNECTED,
        FeedState.RETRYING,
        FeedState.CONNECTING,
        FeedState.CONNECTED,
        FeedState.STOPPED,
    ]


async def test_stream_pings_and_reports_rejected_subscription(bybit_factory: Any) -> None:
    venue = await bybit_factory([[]], drop_first=False, reject="tickers.BTCUSDT")
    sink = ListSink()
    stream = BybitStream(
        sink, ["BTCUSDT"], venue.url, policy=fast_policy(), ping_interval_s=0.1, stale_after_s=0.5, silence_timeout_s=2
    )
    task = asyncio.create_task(stream.run())
    await eventually(lambda: venue.received and sum(m.get("op") == "ping" for m in venue.received[0]) >= 3)
    assert venue.connections == 1 and not stream.stale  # pongs count as traffic
    assert stream.venue_errors == 1
    assert any("Invalid topic: tickers.BTCUSDT" in s.detail for s in sink.statuses)
    await stream.stop()
    await asyncio.wait_for(task, 5)


async def test_stream_goes_stale_without_traffic(bybit_factory: Any) -> None:
    venue = await bybit_factory([[]], drop_first=False)
    sink = ListSink()
    stream = BybitStream(
        sink, ["BTCUSDT"], venue.url, policy=fast_policy(), ping_interval_s=60, stale_after_s=0.15, silence_timeout_s=5
    )
    task = asyncio.create_task(stream.run())
    await eventually(lambda: stream.stale)
    assert sink.statuses[-1].state is FeedState.CONNECTED and "stale" in sink.statuses[-1].detail
    await stream.stop()
    await asyncio.wait_for(task, 5)
