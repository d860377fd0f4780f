"""Binance- and Bybit-compatible public market data served by the simulator (``pfterm.core.sim.cex``
behind ``pfterm.core.sim.server``), read with the real read-only clients pointed at 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest
from websockets.asyncio.client import connect

from pfterm.core.market.funding import next_settlement_ms
from pfterm.core.market.models import FeedStatus, Liquidation, VenueFunding
from pfterm.core.sim.cex import CexModel, native_of
from pfterm.core.sim.market import MarketModel
from pfterm.core.sim.server import SimulatorServer
from pfterm.core.sim.snapshot import load_snapshot
from pfterm.core.venues.binance import market as binance
from pfterm.core.venues.binance.market import BinanceStream
from pfterm.core.venues.bybit import market as bybit
from pfterm.core.venues.bybit.market import BybitStream

if TYPE_CHECKING:
    from tests.conftest import StartSimulator

START = 1_767_225_600_000 + 30 * 60 * 1000
_SNAPSHOT = load_snapshot()
_H8 = 8 * 3_600_000


class ListSink:
    def __init__(self) -> None:
        self.funding: list[VenueFunding] = []
        self.liquidations: list[Liquidation] = []
        self.statuses: list[FeedStatus] = []

    def on_venue_funding(self, records: list[VenueFunding]) -> None:
        self.funding.extend(records)

    def on_liquidations(self, records: list[Liquidation]) -> None:
        self.liquidations.extend(records)

    def on_feed_status(self, status: FeedStatus) -> None:
        self.statuses.append(status)


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def server(start_simulator: StartSimulator) -> SimulatorServer:
    model = MarketModel(_SNAPSHOT, seed=1, start_ms=START, cascade_rate_per_hour=0.0)
    return await start_simulator(SimulatorServer(model, speed=0.0, tick_hz=20.0))


def _check_records(records: list[VenueFunding], server: SimulatorServer, cap: float) -> dict[str, VenueFunding]:
    now = server.model.now_ms
    by_symbol = {r.symbol: r for r in records}
    assert len(by_symbol) == len(records) >= 150
    for r in records:
        assert r.interval_h in (4.0, 8.0)
        assert r.next_funding_ms == next_settlement_ms(now, r.interval_h)
        assert abs(r.rate) <= cap + 1e-12
        oracle = server.model.market(r.symbol).oracle
        assert r.mark_px is not None and abs(r.mark_px / oracle - 1.0) < 0.01
        assert r.index_px is not None and abs(r.index_px / oracle - 1.0) < 1e-6
        assert r.oi_base is not None and r.oi_base > 0
        assert r.oi_usd == pytest.approx(r.oi_base * r.mark_px, rel=1e-3)
        assert r.time_ms == now
    btc = by_symbol["BTC"]
    assert btc.interval_h == 8.0 and btc.next_funding_ms % _H8 == 0
    hl_oi = server.model.market("BTC").open_interest
    assert 0.3 * hl_oi < btc.oi_base < 30 * hl_oi
    assert any(r.interval_h == 4.0 for r in records)
    assert by_symbol["kPEPE"].native == "1000PEPEUSDT"
    return by_symbol


async def test_rest_snapshots_with_the_real_clients(server: SimulatorServer) -> None:
    async with httpx.AsyncClient(timeout=5.0) as client:
        bn = await binance.fetch_snapshot(client, base_url=server.http_url or "")
        by = await bybit.fetch_snapshot(client, base_url=server.http_url or "")
        bad = await client.get(f"{server.http_url}/fapi/v1/openInterest", params={"symbol": "NOPEUSDT"})
        missing = await client.get(f"{server.http_url}/fapi/v1/openInterest")
        one = await client.get(f"{server.http_url}/fapi/v1/premiumIndex", params={"symbol": "1000PEPEUSDT"})
        info = (await client.get(f"{server.http_url}/fapi/v1/fundingInfo")).json()
        wrong = (await client.get(f"{server.http_url}/v5/market/tickers", params={"category": "spot"})).json()
    bn_sym = _check_records(bn, server, 0.02)
    by_sym = _check_records(by, server, 0.02)
    assert {r.venue for r in bn} == {"binance"} and {r.venue for r in by} == {"bybit"}
    # Venues disagree: their own premiums, intervals and OI multiples.
    assert [bn_sym[s].oi_base for s in ("BTC", "ETH")] != [by_sym[s].oi_base for s in ("BTC", "ETH")]
    assert {s for s, r in bn_sym.items() if r.interval_h == 4} != {s for s, r in by_sym.items() if r.interval_h == 4}
    assert bad.status_code == 400 and bad.json()["code"] == -1121
    assert missing.status_code == 400
    assert one.status_code == 200 and one.json()["symbol"] == "1000PEPEUSDT"
    assert isinstance(one.json()["nextFundingTime"], int)
    assert all(isinstance(i["fundingIntervalHours"], int) for i in info)
    assert {i["symbol"] for i in info} == {r.native for r in bn if r.interval_h == 4}
    assert wrong["retCode"] != 0


async def test_streams_and_a_cascade_on_both_venues(server: SimulatorServer) -> None:
    bn_sink, by_sink = ListSink(), ListSink()
    bn_stream = BinanceStream(bn_sink, ws_url=server.binance_ws_url or "")
    natives = ["BTCUSDT", "ETHUSDT", "1000PEPEUSDT"]
    by_stream = BybitStream(by_sink, natives, ws_url=server.bybit_ws_url or "")
    tasks = [asyncio.create_task(bn_stream.run()), asyncio.create_task(by_stream.run())]
    try:
        await eventually(
            lambda: len(bn_sink.funding) >= 150 and {r.symbol for r in by_sink.funding} >= {"BTC", "kPEPE"}
        )
        btc = next(r for r in by_sink.funding if r.symbol == "BTC")
        assert btc.oi_base is not None and btc.oi_base > 0 and btc.interval_h == 8.0
        mark = next(r for r in bn_sink.funding if r.symbol == "BTC")
        assert mark.next_funding_ms is not None and mark.next_funding_ms % _H8 == 0
        assert mark.oi_base is None  # the stream carries no OI (the client joins it from REST)

        record = server.model.trigger_cascade("BTC", long_liquidation=True, price_move=0.05, oi_drop=0.12, duration_s=6)
        server.speed = 30.0  # 6 sim seconds of cascade in 0.2 wall seconds
        n_funding = len(by_sink.funding)

        def btc_longs(sink: ListSink) -> list[Liquidation]:
            return [
                x for x in sink.liquidations if x.symbol == "BTC" and x.side == "long" and x.time_ms >= record.start_ms
            ]

        await eventually(
            lambda: sum(x.usd for x in btc_longs(bn_sink)) > 1e6 and sum(x.usd for x in btc_longs(by_sink)) > 1e6
        )
        await eventually(lambda: len(by_sink.funding) > n_funding)  # deltas keep coming
        for sink in (bn_sink, by_sink):
            cascade = btc_longs(sink)
            assert all(record.start_ms <= x.time_ms <= record.end_ms + 1_000 for x in cascade)
            assert all(x.price > 0 and x.size_base > 0 for x in cascade)
        # Binance shows at most one liquidation per symbol per second.
        seconds = [(x.symbol, x.time_ms // 1000) for x in bn_sink.liquidations]
        assert len(seconds) == len(set(seconds))
        assert bn_stream.malformed == 0 and by_stream.malformed == 0 and by_stream.venue_errors == 0
    finally:
        await asyncio.gather(bn_stream.stop(), by_stream.stop())
        await asyncio.gather(*tasks)


async def test_bybit_ops_and_binance_stream_names(server: SimulatorServer) -> None:
    async with connect(server.bybit_ws_url or "") as ws:
        await ws.send(json.dumps({"op": "ping", "req_id": "7"}))
        pong = json.loads(await ws.recv())
        assert pong["success"] is True and pong["ret_msg"] == "pong" and pong["op"] == "ping" and pong["req_id"] == "7"
        await ws.send(json.dumps({"op": "subscribe", "args": ["orderbook.50.BTCUSDT"]}))
        nack = json.loads(await ws.recv())
        assert nack["success"] is False and nack["op"] == "subscribe" and nack["ret_msg"]
        await ws.send(json.dumps({"op": "subscribe", "args": ["tickers.NOPEUSDT"]}))
        assert json.loads(await ws.recv())["success"] is False
        await ws.send(json.dumps({"op": "subscribe", "args": ["tickers.ETHUSDT", "allLiquidation.ETHUSDT"]}))
        ack = json.loads(await ws.recv())
        assert ack["success"] is True and ack["op"] == "subscribe"
        snap = json.loads(await ws.recv())
        assert snap["topic"] == "tickers.ETHUSDT" and snap["type"] == "snapshot"
        assert isinstance(snap["ts"], int) and all(isinstance(v, str) for v in snap["data"].values())
        assert float(snap["data"]["openInterest"]) == pytest.approx(
            2 * float(snap["data"]["singleOpenInterest"]), rel=1e-6
        )
        await ws.send(json.dumps({"op": "unsubscribe", "args": ["tickers.ETHUSDT"]}))
        while True:
            msg = json.loads(await ws.recv())
            if msg.get("op") == "unsubscribe":
                assert msg["success"] is True
                break
    async with httpx.AsyncClient(timeout=5.0) as client:
        bad = await client.get(f"{server.http_url}/market/stream", params={"streams": "btcusdt@depth"})
    assert bad.status_code == 400


async def _lockstep_answers(seed: int) -> tuple[bytes, bytes, bytes]:
    model = MarketModel(_SNAPSHOT, seed=seed, start_ms=START, cascade_rate_per_hour=2.5)
    srv = SimulatorServer(model, lockstep=True, tick_hz=20.0)
    await srv.start()
    try:
        await srv.advance(3 * 3600 + 17, step_s=60)
        async with httpx.AsyncClient(base_url=srv.http_url or "", timeout=5.0) as client:
            premium = (await client.get("/fapi/v1/premiumIndex")).content
            oi = (await client.get("/fapi/v1/openInterest", params={"symbol": "ETHUSDT"})).content
            tickers = (await client.get("/v5/market/tickers", params={"category": "linear"})).content
        return premium, oi, tickers
    finally:
        await srv.stop()


async def test_rest_answers_are_deterministic_per_seed() -> None:
    a = await _lockstep_answers(3)
    b = await _lockstep_answers(3)
    c = await _lockstep_answers(4)
    assert a == b
    assert a[0] != c[0] and a[2] != c[2]
    rows = json.loads(a[0])
    assert rows[0]["time"] == START + (3 * 3600 + 17) * 1000


def test_cex_draws_never_change_the_hyperliquid_path() -> None:
    plain = MarketModel(_SNAPSHOT, seed=1, start_ms=START, cascade_rate_per_hour=2.5)
    with_cex = MarketModel(_SNAPSHOT, seed=1, start_ms=START, cascade_rate_per_hour=2.5)
    cex = CexModel(with_cex)
    for _ in range(120):
        plain.step(30.0)
        with_cex.step(30.0)
        cex.sync()
    assert plain.meta_and_asset_ctxs_wire() == with_cex.meta_and_asset_ctxs_wire()


def test_listing_names_and_funding_disagreement() -> None:
    assert native_of("kPEPE") == "1000PEPEUSDT"
    assert native_of("BTC") == "BTCUSDT"
    model = MarketModel(_SNAPSHOT, seed=1, start_ms=START, regime="positive", cascade_rate_per_hour=0.0)
    cex = CexModel(model)
    assert "1000PEPEUSDT" in cex.markets["binance"] and "1000PEPEUSDT" in cex.markets["bybit"]
    for _ in range(240):
        model.step(30.0)
        cex.sync()
    # Persistently positive Hyperliquid funding; Binance a bit below it, Bybit a bit above (per 8 h).
    hl = sorted(model.predicted_funding(c) * 8 for c in model.listed_coins if cex.native(c))
    bn = sorted(cm.rate * 8 / cm.interval_h for cm in cex.markets["binance"].values())
    by = sorted(cm.rate * 8 / cm.interval_h for cm in cex.markets["bybit"].values())
    median = len(bn) // 2
    assert bn[median] < hl[median] < by[median]
    assert bn[median] > 0 and by[median] > 0


def test_a_venue_left_out_lists_nothing_and_binance_still_moves() -> None:
    model = MarketModel(_SNAPSHOT, seed=1, start_ms=START, cascade_rate_per_hour=2.5)
    cex = CexModel(model, venues=("binance",))
    assert cex.simulated == ("binance",)
    assert cex.markets["bybit"] == {} and len(cex.markets["binance"]) > 100
    before = {n: cm.premium for n, cm in cex.markets["binance"].items()}
    for _ in range(240):  # two hours, cascades included: none may look for a Bybit market
        model.step(30.0)
        cex.sync()
    assert any(cm.premium != before[n] for n, cm in cex.markets["binance"].items())
    assert cex.drain_liquidations("bybit") == []
    for bad in (("bybit",), ("binance", "okx")):
        with pytest.raises(ValueError, match="venues"):
            CexModel(model, venues=bad)
