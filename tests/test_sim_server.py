"""Tests of the simulator server (``pfterm.core.sim.server``) and CLI, over 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from pfterm.core.sim.market import MarketModel
from pfterm.core.sim.server import WELCOME_TEXT, SimulatorServer
from pfterm.core.sim.snapshot import load_snapshot

REPO = Path(__file__).resolve().parents[1]
START = 1_767_225_600_000 + 30 * 60 * 1000

_SNAPSHOT = load_snapshot()


def _model(seed: int = 1) -> MarketModel:
    return MarketModel(_SNAPSHOT, seed=seed, start_ms=START, cascade_rate_per_hour=0.0)


@pytest.fixture
async def server() -> AsyncIterator[SimulatorServer]:
    srv = SimulatorServer(_model(), speed=60.0, push_hz=10.0, book_hz=10.0, tick_hz=20.0)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def _ws(srv: SimulatorServer) -> ClientConnection:
    assert srv.ws_url is not None
    conn = await connect(srv.ws_url, ping_interval=None, max_queue=1024)
    assert await asyncio.wait_for(conn.recv(), 2) == WELCOME_TEXT
    return conn


async def _send(conn: ClientConnection, obj: Any) -> None:
    await conn.send(json.dumps(obj))


async def _recv_json(conn: ClientConnection, timeout: float = 2.0) -> Any:
    return json.loads(await asyncio.wait_for(conn.recv(), timeout))


async def _collect(conn: ClientConnection, seconds: float) -> list[Any]:
    out: list[Any] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            out.append(json.loads(await asyncio.wait_for(conn.recv(), left)))
        except TimeoutError:
            break
    return out


# --- construction ----------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::", "10.0.0.1"])
def test_non_loopback_host_refused(host: str) -> None:
    with pytest.raises(ValueError, match=host.replace(".", r"\.")):
        SimulatorServer(_model(), host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "::1", "localhost"])
def test_loopback_hosts_accepted(host: str) -> None:
    SimulatorServer(_model(), host=host)


async def test_urls_and_clock(server: SimulatorServer) -> None:
    assert server.port and server.port > 0
    assert server.http_url == f"http://127.0.0.1:{server.port}"
    assert server.ws_url == f"ws://127.0.0.1:{server.port}/ws"
    t0 = server.model.now_ms
    await asyncio.sleep(0.3)
    # speed 60: 0.3 s of wall time is about 18 s of sim time.
    assert 9_000 <= server.model.now_ms - t0 <= 40_000


# --- HTTP /info ------------------------------------------------------------------------


async def test_info_endpoints(server: SimulatorServer) -> None:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=5) as http:
        meta = (await http.post("/info", json={"type": "meta"})).json()
        assert len(meta["universe"]) == 227 and meta == _SNAPSHOT[0]

        r = await http.post("/info", json={"type": "metaAndAssetCtxs"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        meta2, ctxs = r.json()
        assert meta2 == meta and len(ctxs) == 227
        assert all(isinstance(v, str) for v in ctxs[0].values() if not isinstance(v, list))

        mids = (await http.post("/info", json={"type": "allMids"})).json()
        perp_mids = {k: v for k, v in mids.items() if not k.startswith("@") and "/" not in k}
        assert len(perp_mids) == 189 and "BTC" in mids and "MATIC" not in mids
        assert {"PURR/USDC", "@107", "@142", "@151"} <= mids.keys()  # spot pairs, keyed as HL does

        book = (await http.post("/info", json={"type": "l2Book", "coin": "ETH"})).json()
        assert book["coin"] == "ETH" and len(book["levels"][0]) == 20
        body = {"type": "l2Book", "coin": "ETH", "nSigFigs": 3}
        agg = (await http.post("/info", json=body)).json()
        assert len(agg["levels"][1]) >= 1
        assert (await http.post("/info", json={"type": "l2Book", "coin": "NOPE"})).json() is None

        hist = (await http.post("/info", json={"type": "fundingHistory", "coin": "BTC", "startTime": 0})).json()
        assert len(hist) >= 72 and set(hist[0]) == {"coin", "fundingRate", "premium", "time"}
        start = hist[-5]["time"]
        body = {"type": "fundingHistory", "coin": "BTC", "startTime": start, "endTime": start + 3_600_000}
        window = (await http.post("/info", json=body)).json()
        assert [w["time"] for w in window] == [start, start + 3_600_000]

        pred = (await http.post("/info", json={"type": "predictedFundings"})).json()
        assert len(pred) == 189 and pred[0][1][0][0] == "HlPerp"

        trades = (await http.post("/info", json={"type": "recentTrades", "coin": "BTC"})).json()
        assert trades and trades[0]["coin"] == "BTC"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"type": "noSuchType"}',
        b'{"kind": "meta"}',
        b'{"type": "l2Book"}',
        b'{"type": "l2Book", "coin": "BTC", "nSigFigs": 9}',
        b'{"type": "fundingHistory", "coin": "BTC"}',
        b'{"type": "fundingHistory", "coin": "BTC", "startTime": "yesterday"}',
        b'{"type": "fundingHistory", "coin": "NOPE", "startTime": 0}',
    ],
)
async def test_info_bad_requests_get_422(server: SimulatorServer, body: bytes) -> None:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=5) as http:
        r = await http.post("/info", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert r.text and len(r.text) < 300


# --- WebSocket -------------------------------------------------------------------------


async def test_subscribe_ack_and_ctx_frames_only_for_subscribed(server: SimulatorServer) -> None:
    conn = await _ws(server)
    try:
        for coin in ("BTC", "ETH"):
            sub = {"type": "activeAssetCtx", "coin": coin}
            await _send(conn, {"method": "subscribe", "subscription": sub})
            ack = await _recv_json(conn)
            expected = {"method": "subscribe", "subscription": sub}
            assert ack == {"channel": "subscriptionResponse", "data": expected}
            first = await _recv_json(conn)
            assert first["channel"] == "activeAssetCtx" and first["data"]["coin"] == coin
        frames = await _collect(conn, 0.8)
        coins = [f["data"]["coin"] for f in frames if f["channel"] == "activeAssetCtx"]
        assert set(coins) == {"BTC", "ETH"}
        assert coins.count("BTC") >= 4 and coins.count("ETH") >= 4  # 10 Hz for 0.8 s
        ctx = frames[-1]["data"]["ctx"]
        assert set(ctx) >= {"funding", "openInterest", "markPx", "oraclePx", "midPx", "impactPxs"}

        sub = {"type": "activeAssetCtx", "coin": "BTC"}
        await _send(conn, {"method": "unsubscribe", "subscription": sub})
        frames = await _collect(conn, 0.6)
        acks = [f for f in frames if f["channel"] == "subscriptionResponse"]
        expected = {"method": "unsubscribe", "subscription": sub}
        assert acks == [{"channel": "subscriptionResponse", "data": expected}]
        after_ack = frames[frames.index(acks[0]) + 1 :]
        assert after_ack and {f["data"]["coin"] for f in after_ack} == {"ETH"}
    finally:
        await conn.close()


async def test_ping_pong(server: SimulatorServer) -> None:
    conn = await _ws(server)
    try:
        await _send(conn, {"method": "ping"})
        assert await _recv_json(conn) == {"channel": "pong"}
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "raw",
    [
        "{oops",
        '"just a string"',
        json.dumps({"method": "dance"}),
        json.dumps({"method": "subscribe", "subscription": {"type": "candles", "coin": "BTC"}}),
        json.dumps({"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "NOPE"}}),
        json.dumps({"method": "subscribe", "subscription": {"type": "trades"}}),
        json.dumps({"method": "subscribe"}),
        json.dumps({"method": "unsubscribe", "subscription": {"type": "allMids"}}),
    ],
)
async def test_error_channel(server: SimulatorServer, raw: str) -> None:
    conn = await _ws(server)
    try:
        await conn.send(raw)
        msg = await _recv_json(conn)
        assert msg["channel"] == "error" and isinstance(msg["data"], str) and msg["data"]
        # The connection stays usable.
        await _send(conn, {"method": "ping"})
        assert await _recv_json(conn) == {"channel": "pong"}
    finally:
        await conn.close()


async def test_duplicate_subscription_is_an_error(server: SimulatorServer) -> None:
    conn = await _ws(server)
    try:
        sub = {"method": "subscribe", "subscription": {"type": "allMids"}}
        await _send(conn, sub)
        assert (await _recv_json(conn))["channel"] == "subscriptionResponse"
        mids = await _recv_json(conn)
        assert mids["channel"] == "allMids" and len(mids["data"]["mids"]) == 189 + 4  # perps + spot pairs
        await _send(conn, sub)
        frames = await _collect(conn, 0.3)
        assert any(f["channel"] == "error" and "Already subscribed" in f["data"] for f in frames)
    finally:
        await conn.close()


async def test_trades_and_book_subscriptions(server: SimulatorServer) -> None:
    conn = await _ws(server)
    try:
        await _send(conn, {"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}})
        await _send(conn, {"method": "subscribe", "subscription": {"type": "l2Book", "coin": "SOL"}})
        frames = await _collect(conn, 1.0)
        trades = [t for f in frames if f["channel"] == "trades" for t in f["data"]]
        books = [f["data"] for f in frames if f["channel"] == "l2Book"]
        assert len(trades) >= 10
        assert {t["coin"] for t in trades} == {"BTC"}
        assert set(trades[0]) == {"coin", "side", "px", "sz", "time", "hash", "tid", "users"}
        assert len(books) >= 3 and all(b["coin"] == "SOL" and len(b["levels"]) == 2 for b in books)
        assert "BTC" in server.model.watched_coins
    finally:
        await conn.close()
    for _ in range(50):
        if "BTC" not in server.model.watched_coins:
            break
        await asyncio.sleep(0.02)
    assert "BTC" not in server.model.watched_coins


async def test_ctx_pushes_are_spread_over_the_period() -> None:
    """189 coins at 2 Hz, ticked at 10 Hz: one second of ticks queues 2 pushes per coin, no
    tick carrying a third of them. Ticks are driven by hand on a stopped tick loop, so the
    count is exact whatever the machine's load; the frames are then read off the socket."""
    srv = SimulatorServer(_model(), speed=1.0, push_hz=2.0, tick_hz=10.0)
    await srv.start()
    conn = await _ws(srv)
    try:
        coins = srv.model.listed_coins
        for coin in coins:
            sub = {"type": "activeAssetCtx", "coin": coin}
            await _send(conn, {"method": "subscribe", "subscription": sub})
        await _collect(conn, 0.3)  # acks and first snapshots
        assert srv._tick_task is not None
        srv._tick_task.cancel()  # the test is the clock from here on
        await asyncio.sleep(0)
        (client,) = tuple(srv._clients)
        await _collect(conn, 0.2)  # whatever the last live tick queued
        assert not client.queue
        per_tick: list[int] = []
        t = srv._last_tick
        for _ in range(10):
            before = len(client.queue)
            t += 0.1
            srv._tick(t)
            per_tick.append(len(client.queue) - before)
        total = sum(per_tick)
        assert total == 2 * len(coins), per_tick
        assert max(per_tick) < total / 3, per_tick
        frames = [json.loads(await asyncio.wait_for(conn.recv(), 5.0)) for _ in range(total)]
        assert all(f["channel"] == "activeAssetCtx" for f in frames)
    finally:
        await conn.close()
        await srv.stop()


async def test_drop_connections_closes_every_socket(server: SimulatorServer) -> None:
    conns = [await _ws(server) for _ in range(3)]
    for c in conns:
        await _send(c, {"method": "subscribe", "subscription": {"type": "allMids"}})
    await asyncio.sleep(0.1)
    assert server.connection_count == 3
    dropped = await server.drop_connections()
    assert dropped == 3
    for c in conns:
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(c.recv(), 2)
    assert server.connection_count == 0
    # Reconnecting works.
    again = await _ws(server)
    await _send(again, {"method": "ping"})
    assert await _recv_json(again) == {"channel": "pong"}
    assert await server.drop_connections(abort=True) == 1
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(again.recv(), 2)


async def test_idle_connection_is_closed() -> None:
    srv = SimulatorServer(_model(), idle_timeout_s=0.4)
    await srv.start()
    try:
        quiet = await _ws(srv)
        chatty = await _ws(srv)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.2:
            await _send(chatty, {"method": "ping"})
            assert await _recv_json(chatty) == {"channel": "pong"}
            await asyncio.sleep(0.1)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(quiet.recv(), 1)
        await _send(chatty, {"method": "ping"})
        assert await _recv_json(chatty) == {"channel": "pong"}
        await chatty.close()
    finally:
        await srv.stop()


async def test_backed_up_client_is_dropped_without_hurting_others() -> None:
    srv = SimulatorServer(_model(), max_queued_frames=1)
    await srv.start()
    try:
        slow = await _ws(srv)
        other = await _ws(srv)
        # Ack plus snapshot are two frames at once: over this server's limit of one.
        await _send(slow, {"method": "subscribe", "subscription": {"type": "allMids"}})
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(slow.recv(), 2)
        await _send(other, {"method": "ping"})
        assert await _recv_json(other) == {"channel": "pong"}
        await other.close()
    finally:
        await srv.stop()


async def test_stop_closes_clients() -> None:
    srv = SimulatorServer(_model())
    await srv.start()
    conn = await _ws(srv)
    await srv.stop()
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(conn.recv(), 2)


# --- command line ----------------------------------------------------------------------


@contextmanager
def _spawn(*extra: str) -> Iterator[subprocess.Popen[str]]:
    """Run ``python -m pfterm.core.sim`` on a free port; always reaped and its pipes closed."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "pfterm.core.sim", "--port", "0", "--seed", "3", "--speed", "60", *extra]
    with subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _listening_line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else ""
    return json.loads(line)


def test_cli_prints_listening_line_and_exits_on_sigterm() -> None:
    with _spawn("--start-ms", str(START)) as proc:
        info = _listening_line(proc)
        assert set(info) == {"listening", "ws", "speed", "seed"}
        assert info["speed"] == 60.0 and info["seed"] == 3
        assert info["listening"].startswith("http://127.0.0.1:")
        port = int(info["listening"].rsplit(":", 1)[1])
        assert info["ws"] == f"ws://127.0.0.1:{port}/ws"
        r = httpx.post(info["listening"] + "/info", json={"type": "allMids"}, timeout=5)
        assert r.status_code == 200 and "BTC" in r.json()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout is not None and proc.stdout.read() == ""  # exactly one line


def test_cli_exits_on_stdin_eof() -> None:
    with _spawn("--exit-on-stdin-eof") as proc:
        _listening_line(proc)
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0


def test_cli_refuses_non_loopback_host() -> None:
    with _spawn("--host", "0.0.0.0") as proc:
        assert proc.wait(timeout=10) == 2
        assert proc.stderr is not None and "0.0.0.0" in proc.stderr.read()
