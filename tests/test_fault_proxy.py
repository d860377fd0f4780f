"""The fault-injecting proxy (:mod:`pfterm.core.sim.fault_proxy`) against a tiny upstream on 127.0.0.1:
each fault does what it stands for, rate 0 is a transparent proxy, decisions follow the seed."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import pytest
from aiohttp import web

from pfterm.core.sim.fault_proxy import FAULTS, FaultProxy

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Upstream:
    """A recording upstream: every request it answers, and its base URL."""

    url: str = ""
    seen: list[tuple[str, str, bytes, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()

    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path == "/ws":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.send_str("Websocket connection established.")
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await ws.send_str("echo:" + msg.data)
            return ws
        up.seen.append((request.method, request.path_qs, await request.read(), dict(request.headers)))
        return web.Response(status=201, body=b'{"up": true}', content_type="application/json", headers={"X-Up": "yes"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    up.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield up
    await runner.cleanup()


async def _post(url: str, path: str = "/info", timeout: float = 5.0) -> httpx.Response:
    async with httpx.AsyncClient(timeout=timeout) as c:
        return await c.post(url + path, json={"type": "meta"})


async def test_rate_0_forwards_everything_unchanged(upstream: Upstream) -> None:
    async with FaultProxy(upstream.url, list(FAULTS), 0.0, seed=1) as proxy:
        assert proxy.base_url is not None and proxy.base_url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as c:
            r = await c.post(
                proxy.base_url + "/exchange?a=1&b=%20x",
                content=b'{"action": 1}',
                headers={"X-Custom": "kept", "Connection": "keep-alive, X-Hop", "X-Hop": "dropped"},
            )
            g = await c.get(proxy.base_url + "/fapi/v1/premiumIndex?symbol=BTCUSDT")
    assert r.status_code == 201 and r.content == b'{"up": true}' and r.headers["X-Up"] == "yes"
    assert g.status_code == 201
    method, path_qs, body, headers = upstream.seen[0]
    assert (method, path_qs, body) == ("POST", "/exchange?a=1&b=%20x", b'{"action": 1}')
    assert headers["X-Custom"] == "kept"
    assert "X-Hop" not in headers  # named in Connection: hop-by-hop, not forwarded
    assert headers["Host"] == upstream.url.removeprefix("http://")
    assert upstream.seen[1][:2] == ("GET", "/fapi/v1/premiumIndex?symbol=BTCUSDT")
    assert proxy.requests == 2 and proxy.forwarded == 2 and not proxy.faults


async def test_rate_1_faults_every_eligible_path_and_only_those(upstream: Upstream) -> None:
    async with FaultProxy(upstream.url, "500", 1.0, seed=1) as proxy:
        assert proxy.base_url is not None
        paths = ("/info", "/exchange", "/fapi/v1/order", "/informal", "/other")
        codes = {p: (await _post(proxy.base_url, p)).status_code for p in paths}
    assert codes == {"/info": 500, "/exchange": 500, "/fapi/v1/order": 500, "/informal": 201, "/other": 201}
    assert [s[1] for s in upstream.seen] == ["/informal", "/other"]
    assert proxy.faults == {"500": 3} and proxy.requests == 5 and proxy.forwarded == 2


async def test_drop_reaches_the_upstream_but_the_answer_is_lost(upstream: Upstream) -> None:
    async with FaultProxy(upstream.url, "drop", 1.0) as proxy:
        assert proxy.base_url is not None
        with pytest.raises(httpx.TransportError):
            await _post(proxy.base_url, "/exchange")
    assert len(upstream.seen) == 1 and upstream.seen[0][1] == "/exchange"
    assert upstream.seen[0][2] == b'{"type":"meta"}'
    assert proxy.faults == {"drop": 1} and proxy.forwarded == 1


async def test_429_carries_retry_after_and_never_reaches_the_upstream(upstream: Upstream) -> None:
    async with FaultProxy(upstream.url, "429", 1.0, retry_after_s=3) as proxy:
        assert proxy.base_url is not None
        r = await _post(proxy.base_url)
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert upstream.seen == [] and proxy.faults == {"429": 1} and proxy.forwarded == 0


async def test_500_is_not_forwarded_and_500_after_is(upstream: Upstream) -> None:
    async with FaultProxy(upstream.url, "500", 1.0) as proxy:
        assert proxy.base_url is not None
        assert (await _post(proxy.base_url)).status_code == 500
    assert upstream.seen == []
    async with FaultProxy(upstream.url, "500-after", 1.0) as proxy:
        assert proxy.base_url is not None
        assert (await _post(proxy.base_url, "/exchange")).status_code == 500
    assert [s[1] for s in upstream.seen] == ["/exchange"]


async def test_reset_closes_the_connection_without_forwarding(upstream: Upstream) -> None:
    async with FaultProxy(upstream.url, "reset", 1.0) as proxy:
        assert proxy.base_url is not None
        with pytest.raises(httpx.TransportError):
            await _post(proxy.base_url, "/exchange")
    assert upstream.seen == [] and proxy.faults == {"reset": 1}


async def test_delay_holds_then_forwards(upstream: Upstream) -> None:
    async with FaultProxy(upstream.url, "delay", 1.0, delay_s=0.4) as proxy:
        assert proxy.base_url is not None
        t0 = time.perf_counter()
        r = await _post(proxy.base_url)
        held = time.perf_counter() - t0
    assert r.status_code == 201 and held >= 0.4
    assert len(upstream.seen) == 1


async def test_freeze_never_answers_until_the_client_gives_up(upstream: Upstream) -> None:
    proxy = FaultProxy(upstream.url, "freeze", 1.0)
    url = await proxy.start()
    try:
        t0 = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            await _post(url, timeout=0.5)
        assert time.perf_counter() - t0 >= 0.5
    finally:
        t1 = time.perf_counter()
        await proxy.stop()
        assert time.perf_counter() - t1 < 2.0  # a held request does not stall the shutdown
    assert upstream.seen == [] and proxy.faults == {"freeze": 1}


async def test_same_seed_same_fault_sequence(upstream: Upstream) -> None:
    async def sequence(seed: int) -> list[str | None]:
        async with FaultProxy(upstream.url, ["429", "500"], 0.5, seed=seed) as proxy:
            assert proxy.base_url is not None
            async with httpx.AsyncClient() as c:
                for _ in range(40):
                    await c.post(proxy.base_url + "/info", json={})
            return [f for _, _, f in proxy.history]

    first, again, other = await sequence(5), await sequence(5), await sequence(6)
    assert first == again
    assert first != other
    assert {None, "429", "500"} <= set(first)


async def test_rate_is_the_fraction_of_faulted_requests(upstream: Upstream) -> None:
    async with FaultProxy(upstream.url, "500", 0.3, seed=11) as proxy:
        assert proxy.base_url is not None
        async with httpx.AsyncClient() as c:
            codes = [(await c.post(proxy.base_url + "/info", json={})).status_code for _ in range(300)]
    assert 60 <= codes.count(500) <= 120  # 90 expected
    assert codes.count(500) == proxy.faults["500"] and codes.count(201) == proxy.forwarded


async def test_websocket_passes_through(upstream: Upstream) -> None:
    async with FaultProxy(upstream.url, "500", 1.0) as proxy:
        assert proxy.base_url is not None
        async with aiohttp.ClientSession() as s, s.ws_connect(proxy.base_url.replace("http", "ws") + "/ws") as ws:
            assert (await ws.receive_str(timeout=5)) == "Websocket connection established."
            await ws.send_str("ping")
            assert (await ws.receive_str(timeout=5)) == "echo:ping"


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FaultProxy("http://127.0.0.1:1", "teapot", 0.5)
    with pytest.raises(ValueError, match="rate"):
        FaultProxy("http://127.0.0.1:1", "500", 1.5)
    with pytest.raises(ValueError, match="at least one"):
        FaultProxy("http://127.0.0.1:1", [], 0.5)
    with pytest.raises(ValueError, match="http"):
        FaultProxy("ftp://127.0.0.1:1", "500", 0.5)


async def test_command_line_announces_serves_and_summarises(upstream: Upstream) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pfterm.core.sim.fault_proxy",
        "--upstream",
        upstream.url,
        "--fault",
        "429",
        "--rate",
        "1",
        "--seed",
        "1",
        "--port",
        "0",
        "--retry-after",
        "2",
        "--exit-on-stdin-eof",
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 20))
        assert first["listening"].startswith("http://127.0.0.1:") and first["faults"] == ["429"]
        r = await _post(first["listening"])
        assert r.status_code == 429 and r.headers["Retry-After"] == "2"
        other = await _post(first["listening"], "/elsewhere")
        assert other.status_code == 201
    finally:
        proc.stdin.close()
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out.decode().strip().splitlines()[-1])["summary"]
    assert summary["faults"] == {"429": 1} and summary["requests"] == 2 and summary["forwarded"] == 1


def test_command_line_rejects_unknown_fault() -> None:
    import subprocess

    r = subprocess.run(
        [sys.executable, "-m", "pfterm.core.sim.fault_proxy", "--upstream", "http://127.0.0.1:1", "--fault", "teapot"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and "unknown fault" in r.stderr and "Traceback" not in r.stderr
