"""Binance USDⓈ-M adapter: parsers against the fixtures of ``tests/fixtures``, REST snapshot against an
``httpx.MockTransport``, and :class:`BinanceStream` against a local WebSocket server.

Fixture provenance (``tests/fixtures/README.md``):

* ``ws_markPrice_arr.recorded.json`` and ``ws_forceOrder.recorded.jsonl``: frames recorded live
  (2026-10) per the recorder's comments — their values are asserted exactly;
* ``docs_markPriceUpdate.json``, ``docs_forceOrder.json``: Binance docs examples (shape only).

There is no captured REST body for ``premiumIndex`` / ``fundingInfo`` / ``openInterest`` in the
fixtures; the REST bodies below are SYNTHETIC, built in the documented shape from the recorded
WS values.
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
from pfterm.core.venues.binance.market import (
    BINANCE_REST_URL,
    BINANCE_WS_URL,
    BinanceStream,
    VenueError,
    WireError,
    default_to_symbol,
    fetch_snapshot,
    parse_force_order_frame,
    parse_funding_info,
    parse_mark_price_frame,
    parse_open_interest,
    parse_premium_index,
)
from tests.fixture_files import FIXTURES
from tests.replay import ListSink, ReplayServer, eventually, fast_policy

if TYPE_CHECKING:
    from tests.conftest import ServeReplay

FIX = FIXTURES / "binance"


def mark_arr() -> list[dict[str, Any]]:
    return json.loads((FIX / "ws_markPrice_arr.recorded.json").read_text())


def mark_frame() -> str:
    """The recorded array as the combined stream wraps it."""
    return json.dumps({"stream": "!markPrice@arr@1s", "data": mark_arr()})


def force_lines() -> list[str]:
    return (FIX / "ws_forceOrder.recorded.jsonl").read_text().splitlines()


# ------------------------------------------------------------------ symbols


def test_symbol_rule() -> None:
    assert default_to_symbol("BTCUSDT") == "BTC"
    assert default_to_symbol("1000PEPEUSDT") == "kPEPE"
    assert default_to_symbol("1000SHIBUSDT") == "kSHIB"
    for skipped in ("BTCUSDC", "BTCUSD_PERP", "BTCUSDT_250926", "BTC-26DEC25", "BTCPERP", "USDT"):
        assert default_to_symbol(skipped) is None, skipped


def test_urls() -> None:
    assert BINANCE_REST_URL == "https://fapi.binance.com"
    assert BINANCE_WS_URL == "wss://fstream.binance.com/market/stream?streams=!markPrice@arr@1s/!forceOrder@arr"


# ------------------------------------------------------------------ WS parsers


def test_mark_price_recorded_frame_exact_values() -> None:
    records = parse_mark_price_frame(mark_frame(), {"ETHUSDT": 4.0})
    assert [r.symbol for r in records] == ["BTC", "ETH"]
    btc, eth = records
    assert btc == VenueFunding(
        venue="binance",
        symbol="BTC",
        native="BTCUSDT",
        rate=0.00003779,
        interval_h=8.0,  # not in fundingInfo → 8 h
        next_funding_ms=1791216000000,
        mark_px=86141.0,  # ``p``; ``P`` = 86110.40591268 is the settle-price estimate, not the mark
        index_px=86181.65630435,
        oi_base=None,
        oi_usd=None,
        time_ms=1791201678000,
    )
    assert eth.rate == 0.00006061 and eth.interval_h == 4.0 and eth.mark_px == 2715.93
    assert eth.index_px == 2717.21325581 and eth.next_funding_ms == 1791216000000
    # the bare array (no combined wrapper) parses the same
    assert parse_mark_price_frame(mark_arr(), {"ETHUSDT": 4.0}) == records


def test_mark_price_with_oi_and_kpepe_mapping() -> None:
    item = {**mark_arr()[0], "s": "1000PEPEUSDT", "p": "0.01", "i": "0.0101"}
    [rec] = parse_mark_price_frame({"stream": "!markPrice@arr@1s", "data": [item]}, {}, oi={"1000PEPEUSDT": 5e9})
    assert rec.symbol == "kPEPE" and rec.native == "1000PEPEUSDT"
    assert rec.oi_base == 5e9 and rec.oi_usd == pytest.approx(5e7)


def test_mark_price_docs_single_object() -> None:
    [rec] = parse_mark_price_frame((FIX / "docs_markPriceUpdate.json").read_text(), {})
    assert (rec.rate, rec.mark_px, rec.next_funding_ms, rec.time_ms) == (
        0.00038167,
        11794.15,
        1562306400000,
        1562305380000,
    )


def test_mark_price_skips_non_linear_and_rejects_garbage() -> None:
    dated = {**mark_arr()[0], "s": "BTCUSDT_250926", "r": "", "T": 0}
    assert parse_mark_price_frame([dated], {}) == []
    bad = {**mark_arr()[0], "r": "abc"}
    with pytest.raises(WireError) as info:
        parse_mark_price_frame([bad], {})
    assert "abc" not in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(WireError):
        parse_mark_price_frame("{not json", {})
    with pytest.raises(ValueError):  # WireError is a ValueError
        parse_mark_price_frame([{"s": "BTCUSDT"}], {})


def test_force_order_recorded_frames_and_side_mapping() -> None:
    combined_arr, combined_symbol, raw = (parse_force_order_frame(line) for line in force_lines())
    assert combined_arr == [
        Liquidation(
            venue="binance",
            symbol="BTC",
            native="BTCUSDT",
            side="long",  # o.S == "SELL": the liquidation order sold → a long was liquidated
            size_base=0.190,  # o.z (filled) == o.q here
            price=82651.90,  # o.ap (average), not o.p 82338.30
            usd=pytest.approx(0.190 * 82651.90),
            time_ms=1791565602120,
        )
    ]
    [xrp] = combined_symbol
    assert (xrp.symbol, xrp.side, xrp.size_base, xrp.price, xrp.time_ms) == (
        "XRP",
        "short",
        127.2,
        1.4912,
        1791091174219,
    )
    [manta] = raw
    assert (manta.symbol, manta.side, manta.size_base, manta.price) == ("MANTA", "long", 2049.1, 0.0722187)


def test_force_order_falls_back_to_q_and_p() -> None:
    frame = json.loads(force_lines()[0])
    frame["data"]["o"].update({"z": "0", "ap": "0"})
    [liq] = parse_force_order_frame(frame)
    assert liq.size_base == 0.190 and liq.price == 82338.30
    frame["data"]["o"]["S"] = "HOLD"
    with pytest.raises(WireError):
        parse_force_order_frame(frame)
    [docs] = parse_force_order_frame((FIX / "docs_forceOrder.json").read_text())
    assert (docs.side, docs.size_base, docs.price) == ("long", 0.014, 9910.12345678)


# ------------------------------------------------------------------ REST parsers (synthetic bodies)

PREMIUM = [
    {
        "symbol": "BTCUSDT",
        "markPrice": "86141.00000000",
        "indexPrice": "86181.65630435",
        "estimatedSettlePrice": "86110.40591268",
        "lastFundingRate": "0.00003779",
        "interestRate": "0.00010000",
        "nextFundingTime": 1791216000000,
        "time": 1791201678000,
    },
    {
        "symbol": "1000PEPEUSDT",
        "markPrice": "0.0100000",
        "indexPrice": "0.0100100",
        "estimatedSettlePrice": "0.0100050",
        "lastFundingRate": "-0.00020000",
        "interestRate": "0.00010000",
        "nextFundingTime": 1791205200000,
        "time": 1791201678001,
    },
    {  # dated contract: skipped
        "symbol": "BTCUSDT_260925",
        "markPrice": "87000.0",
        "indexPrice": "86181.6",
        "estimatedSettlePrice": "86110.4",
        "lastFundingRate": "",
        "interestRate": "",
        "nextFundingTime": 0,
        "time": 1791201678000,
    },
    {  # USDC-margined: skipped
        "symbol": "BTCUSDC",
        "markPrice": "86140.0",
        "indexPrice": "86181.6",
        "estimatedSettlePrice": "86110.4",
        "lastFundingRate": "0.0001",
        "interestRate": "0.0001",
        "nextFundingTime": 1791216000000,
        "time": 1791201678000,
    },
]
FUNDING_INFO = [
    {
        "symbol": "1000PEPEUSDT",
        "adjustedFundingRateCap": "0.02000000",
        "adjustedFundingRateFloor": "-0.02000000",
        "fundingIntervalHours": 4,
        "disclaimer": False,
    }
]


def test_rest_parsers() -> None:
    intervals = parse_funding_info(FUNDING_INFO)
    assert intervals == {"1000PEPEUSDT": 4.0}
    assert parse_open_interest({"openInterest": "10659.509", "symbol": "BTCUSDT", "time": 1589437530011}) == (
        "BTCUSDT",
        10659.509,
    )
    records = parse_premium_index(PREMIUM, intervals, {"BTCUSDT": 10659.509}, now_ms=1)
    assert [r.symbol for r in records] == ["BTC", "kPEPE"]
    btc, pepe = records
    assert btc.interval_h == 8.0 and btc.rate == 0.00003779 and btc.next_funding_ms == 1791216000000
    assert btc.oi_base == 10659.509 and btc.oi_usd == pytest.approx(10659.509 * 86141.0)
    assert btc.time_ms == 1791201678000
    assert pepe.interval_h == 4.0 and pepe.rate == -0.0002 and pepe.oi_base is None and pepe.oi_usd is None
    assert pepe.apr == pytest.approx(-0.0002 * 8760 / 4)
    with pytest.raises(WireError):
        parse_funding_info({"code": -1})
    with pytest.raises(WireError):
        parse_open_interest({"symbol": "BTCUSDT"})


class FakeRest:
    def __init__(self, *, fail_oi: set[str] | None = None, premium_status: int = 200) -> None:
        self.fail_oi = fail_oi or set()
        self.premium_status = premium_status
        self.paths: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.paths.append(path)
        if path == "/fapi/v1/premiumIndex":
            return httpx.Response(self.premium_status, json=PREMIUM)
        if path == "/fapi/v1/fundingInfo":
            return httpx.Response(200, json=FUNDING_INFO)
        if path == "/fapi/v1/openInterest":
            symbol = request.url.params["symbol"]
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            await asyncio.sleep(0.01)
            self.in_flight -= 1
            if symbol in self.fail_oi:
                return httpx.Response(400, json={"code": -1121, "msg": "Invalid symbol."})
            oi = {"BTCUSDT": "10659.509", "1000PEPEUSDT": "7000000000"}[symbol]
            return httpx.Response(200, json={"openInterest": oi, "symbol": symbol, "time": 1791201678000})
        return httpx.Response(404)


async def test_fetch_snapshot_mock_transport() -> None:
    rest = FakeRest()
    async with httpx.AsyncClient(transport=httpx.MockTransport(rest)) as client:
        records = await fetch_snapshot(client, "http://binance.test/", now_ms=5, concurrency=1)
    assert rest.max_in_flight == 1
    assert sorted(p for p in rest.paths if p.endswith("openInterest")) == ["/fapi/v1/openInterest"] * 2
    by = {r.symbol: r for r in records}
    assert set(by) == {"BTC", "kPEPE"}
    assert by["BTC"].oi_base == 10659.509 and by["BTC"].interval_h == 8.0
    assert by["kPEPE"].oi_base == 7e9 and by["kPEPE"].oi_usd == pytest.approx(7e7) and by["kPEPE"].interval_h == 4.0


async def test_fetch_snapshot_oi_subset_failure_and_errors() -> None:
    rest = FakeRest(fail_oi={"1000PEPEUSDT"})
    async with httpx.AsyncClient(transport=httpx.MockTransport(rest)) as client:
        records = await fetch_snapshot(client, "http://binance.test", oi_symbols=["1000PEPEUSDT"])
    # only the requested market's OI is fetched; its failure leaves OI unknown, not an error
    assert [p for p in rest.paths if p.endswith("openInterest")] == ["/fapi/v1/openInterest"]
    assert {r.symbol: r.oi_base for r in records} == {"BTC": None, "kPEPE": None}
    rest_down = FakeRest(premium_status=503)
    async with httpx.AsyncClient(transport=httpx.MockTransport(rest_down)) as client:
        with pytest.raises(VenueError) as info:
            await fetch_snapshot(client, "http://binance.test")
    assert str(info.value) == "binance /fapi/v1/premiumIndex: HTTP 503"


# ------------------------------------------------------------------ stream against a local server


STREAM_PATH = "/market/stream?streams=!markPrice@arr@1s/!forceOrder@arr"


class Replay(ReplayServer):
    """Connection n sends ``scripts[n]`` (the last script repeats); the first one is then
    pinged (the client answers protocol pings by itself: websockets does it) and dropped."""

    pong_latency: float | None = None

    def __init__(self, scripts: list[list[str]], *, drop_first: bool = True) -> None:
        super().__init__(scripts, drop_first=drop_first)

    async def after_replay(self, ws: ServerConnection, n: int) -> None:
        if n == 0:
            self.pong_latency = await asyncio.wait_for(await ws.ping(), 2)


@pytest.fixture
def replay_factory(replay_servers: ServeReplay) -> Callable[..., Any]:
    return lambda scripts, **kwargs: replay_servers(Replay(scripts, **kwargs), STREAM_PATH)


async def test_stream_replay_drop_reconnect_and_malformed(replay_factory: Any) -> None:
    first = [mark_frame(), *force_lines(), '{"stream":"!markPrice@arr@1s","data":[{"s":"BTCUSDT","p":"x"}]}', "garbage"]
    later_order = force_lines()[0].replace('"T":1791565602120', '"T":1791565603120')  # one order is counted once
    second = [mark_frame(), later_order]
    replay = await replay_factory([first, second])
    sink = ListSink()
    stream = BinanceStream(sink, replay.url, intervals={"ETHUSDT": 4.0}, policy=fast_policy(), status_interval_s=0.01)
    task = asyncio.create_task(stream.run())
    await eventually(lambda: replay.connections == 2 and len(sink.funding) == 2 and len(sink.liquidations) == 4)
    assert replay.pong_latency is not None  # pinged by the server and answered
    assert [r.symbol for r in sink.funding[0]] == ["BTC", "ETH"] and sink.funding[0][1].interval_h == 4.0
    assert sink.funding[1] == sink.funding[0]
    assert [[liq.side for liq in batch] for batch in sink.liquidations] == [["long"], ["short"], ["long"], ["long"]]
    assert stream.malformed == 2
    await eventually(lambda: sink.statuses[-1].malformed == 2)
    retrying = [s for s in sink.statuses if s.state is FeedState.RETRYING]
    assert len(retrying) == 1 and "1011" in retrying[0].detail and retrying[0].retry_at_mono is not None
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
    assert all("\n" not in s.detail for s in sink.statuses)


async def test_stream_stale_then_fresh_then_silence_reconnect(replay_factory: Any) -> None:
    replay = await replay_factory([[]], drop_first=False)
    sink = ListSink()
    stream = BinanceStream(sink, replay.url, policy=fast_policy(), stale_after_s=0.15, silence_timeout_s=0.6)
    task = asyncio.create_task(stream.run())
    await eventually(lambda: stream.stale)
    assert sink.statuses[-1].state is FeedState.CONNECTED and sink.statuses[-1].detail.startswith("stale")
    assert replay.current is not None
    await replay.current.send(mark_frame())
    await eventually(lambda: not stream.stale and len(sink.funding) == 1)
    assert sink.statuses[-1].detail == ""
    await eventually(lambda: replay.connections >= 2)  # silence watchdog
    assert any("no data" in s.detail for s in sink.statuses if s.state is FeedState.RETRYING)
    await stream.stop()
    await asyncio.wait_for(task, 5)


async def test_stream_planned_reconnect_before_lifetime_limit(replay_factory: Any) -> None:
    replay = await replay_factory([[mark_frame()]], drop_first=False)
    sink = ListSink()
    stream = BinanceStream(sink, replay.url, policy=fast_policy(), max_connection_s=0.3)
    task = asyncio.create_task(stream.run())
    await eventually(lambda: replay.connections >= 2 and len(sink.funding) >= 2)
    assert any("planned reconnect" in s.detail for s in sink.statuses)
    await stream.stop()
    await asyncio.wait_for(task, 5)
    assert sink.statuses[-1].state is FeedState.STOPPED


async def test_stream_sink_failure_is_contained(replay_factory: Any) -> None:
    class Exploding(ListSink):
        def on_liquidations(self, records: list[Liquidation]) -> None:
            raise RuntimeError("boom")

    replay = await replay_factory([[force_lines()[0], mark_frame()]], drop_first=False)
    sink = Exploding()
    stream = BinanceStream(sink, replay.url, policy=fast_policy())
    task = asyncio.create_task(stream.run())
    await eventually(lambda: len(sink.funding) == 1)
    assert stream.sink_errors == 1 and stream.malformed == 0 and replay.connections == 1
    await stream.stop()
    await asyncio.wait_for(task, 5)
