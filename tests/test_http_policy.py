"""The HTTP policy of every market-data REST call (:mod:`pfterm.core.venues.public_rest`):
``Retry-After`` honoured per host, no fan-out storm, decompressed bodies capped.

Every server here is a local aiohttp application on 127.0.0.1. The decompression bomb is a
200 MiB run of zeros gzip-compressed on the fly (about 200 KB on the wire)."""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import textwrap
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from pfterm.core.venues import public_rest
from pfterm.core.venues.binance import market as binance
from pfterm.core.venues.errors import VenueError
from pfterm.core.venues.hyperliquid.rest import HyperliquidInfo
from pfterm.core.venues.public_rest import HostGate, get_json, send

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

BOMB_DECODED_BYTES = 200 * 1024 * 1024
_bomb: bytes | None = None


def gzip_bomb() -> bytes:
    """200 MiB of zeros, gzip-compressed one MiB at a time (never held decompressed)."""
    global _bomb
    if _bomb is None:
        packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        block = bytes(1024 * 1024)
        parts = [packer.compress(block) for _ in range(BOMB_DECODED_BYTES // len(block))]
        parts.append(packer.flush())
        _bomb = b"".join(parts)
    return _bomb


async def bomb(request: web.Request) -> web.Response:
    if request.can_read_body:
        await request.read()
    return web.Response(body=gzip_bomb(), headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})


@pytest.fixture
async def serve(unused_tcp_port_factory) -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        port = unused_tcp_port_factory()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


# ---------------------------------------------------------------------------- Retry-After


async def test_429_with_retry_after_waits_then_asks_exactly_once_more(serve) -> None:
    hits: list[float] = []

    async def handler(_r: web.Request) -> web.Response:
        hits.append(time.monotonic())
        if len(hits) == 1:
            return web.Response(status=429, headers={"Retry-After": "2"})
        return web.json_response({"ok": 1})

    app = web.Application()
    app.router.add_get("/x", handler)
    url = await serve(app)
    async with httpx.AsyncClient() as client:
        started = time.monotonic()
        assert await get_json(client, url + "/x", venue="test") == {"ok": 1}
    assert len(hits) == 2
    assert hits[1] - hits[0] >= 2.0 and time.monotonic() - started >= 2.0


async def test_retry_after_as_http_date_is_honoured(serve) -> None:
    hits: list[float] = []

    async def handler(_r: web.Request) -> web.Response:
        hits.append(time.time())
        if len(hits) == 1:
            when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(int(time.time()) + 3))
            return web.Response(status=503, headers={"Retry-After": when})
        return web.json_response([])

    app = web.Application()
    app.router.add_get("/x", handler)
    url = await serve(app)
    async with httpx.AsyncClient() as client:
        assert await get_json(client, url + "/x", venue="test") == []
    assert len(hits) == 2 and hits[1] - hits[0] >= 2.0


async def test_a_long_retry_after_closes_the_host_for_every_request(serve) -> None:
    seen: list[str] = []

    async def handler(r: web.Request) -> web.Response:
        seen.append(r.path)
        return web.Response(status=429, headers={"Retry-After": "60"})

    app = web.Application()
    app.router.add_get("/a", handler)
    app.router.add_get("/b", handler)
    url = await serve(app)
    async with httpx.AsyncClient() as client:
        with pytest.raises(VenueError) as first:
            await get_json(client, url + "/a", venue="test")
        assert first.value.status == 429 and first.value.retry_after_s == pytest.approx(60, abs=1)
        started = time.monotonic()
        for path in ("/a", "/b", "/b"):
            with pytest.raises(VenueError) as later:
                await get_json(client, url + path, venue="test")
            assert "rate limited by the venue, next request in" in str(later.value)
            assert later.value.status == 429 and 55 <= (later.value.retry_after_s or 0) <= 60
        assert time.monotonic() - started < 1.0
    assert seen == ["/a"]


async def test_hyperliquid_info_is_not_asked_again_before_retry_after(serve) -> None:
    calls: list[str] = []

    async def info(r: web.Request) -> web.Response:
        calls.append((await r.json())["type"])
        return web.Response(status=429, text="rate limited", headers={"Retry-After": "60"})

    app = web.Application()
    app.router.add_post("/info", info)
    url = await serve(app)
    async with HyperliquidInfo(url) as hl:
        for _ in range(10):
            with pytest.raises(VenueError) as err:
                await hl.all_mids()
            assert err.value.status == 429 and (err.value.retry_after_s or 0) > 50
    assert calls == ["allMids"]


async def test_repeated_429s_back_off_and_a_success_starts_over() -> None:
    gate = HostGate(None)
    assert [gate.throttled(None) for _ in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert gate.throttled(3.0) == 16.0  # the backoff outgrows a short Retry-After
    gate.succeeded()
    assert gate.throttled(3.0) == 3.0
    assert gate.throttled(None) == 2.0


# ---------------------------------------------------------------------------- fan-out


def _binance_app(symbols: list[str], open_interest: Handler) -> web.Application:
    async def premium(_r: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "symbol": s,
                    "markPrice": "100",
                    "indexPrice": "100",
                    "estimatedSettlePrice": "100",
                    "lastFundingRate": "0.0001",
                    "interestRate": "0.0001",
                    "nextFundingTime": 1791201600000,
                    "time": 1791201000000,
                }
                for s in symbols
            ]
        )

    async def funding_info(_r: web.Request) -> web.Response:
        return web.json_response([])

    app = web.Application()
    app.router.add_get("/fapi/v1/premiumIndex", premium)
    app.router.add_get("/fapi/v1/fundingInfo", funding_info)
    app.router.add_get("/fapi/v1/openInterest", open_interest)
    return app


SYMBOLS = [f"C{i:03d}USDT" for i in range(60)]


async def test_a_429_stops_the_rest_of_the_open_interest_fan_out(serve) -> None:
    asked: list[str] = []

    async def open_interest(r: web.Request) -> web.Response:
        asked.append(r.query["symbol"])
        await asyncio.sleep(0.01)
        return web.Response(status=429, headers={"Retry-After": "1"})

    url = await serve(_binance_app(SYMBOLS, open_interest))
    async with httpx.AsyncClient() as client:
        records = await binance.fetch_snapshot(client, url, now_ms=1791201000000)
    assert len(records) == len(SYMBOLS) and all(r.oi_base is None for r in records)
    assert 1 <= len(asked) <= 8  # at most the requests already in flight, not all 60


async def test_one_request_at_a_time_the_fan_out_stops_at_the_first_429(serve) -> None:
    asked: list[str] = []

    async def open_interest(r: web.Request) -> web.Response:
        asked.append(r.query["symbol"])
        return web.Response(status=429, headers={"Retry-After": "1"})

    url = await serve(_binance_app(SYMBOLS, open_interest))
    started = time.monotonic()
    async with httpx.AsyncClient() as client:
        records = await binance.fetch_snapshot(client, url, now_ms=1791201000000, concurrency=1)
    assert all(r.oi_base is None for r in records)
    assert asked == [SYMBOLS[0]] and time.monotonic() - started < 1.0


async def test_the_fan_out_is_paced_within_the_host_budget(serve, monkeypatch) -> None:
    monkeypatch.setitem(public_rest.HOST_LIMITS, "binance", (20.0, 1.0))
    stamps: list[float] = []

    async def open_interest(r: web.Request) -> web.Response:
        stamps.append(time.monotonic())
        return web.json_response({"symbol": r.query["symbol"], "openInterest": "5", "time": 1})

    url = await serve(_binance_app(SYMBOLS[:30], open_interest))
    async with httpx.AsyncClient() as client:
        records = await binance.fetch_snapshot(client, url, now_ms=1791201000000)
    assert all(r.oi_base == 5.0 for r in records) and len(stamps) == 30
    # premiumIndex (10) + fundingInfo (1) + 30 × openInterest (1) = 41 weight at 20 per second
    assert stamps[-1] - stamps[0] >= 1.0
    for i, t in enumerate(stamps):
        assert sum(1 for u in stamps[i:] if u - t < 0.95) <= 20


# ---------------------------------------------------------------------------- body cap


async def test_a_body_over_the_cap_is_malformed_plain_or_compressed(serve) -> None:
    async def plain(_r: web.Request) -> web.Response:
        return web.Response(body=b"[" + b"0," * 2000 + b"0]")

    async def packed(_r: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(b" " * 5000 + b"[]"), headers={"Content-Encoding": "gzip"})

    async def corrupt(_r: web.Request) -> web.Response:
        return web.Response(body=b"not gzip at all", headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/plain", plain)
    app.router.add_get("/packed", packed)
    app.router.add_get("/corrupt", corrupt)
    url = await serve(app)
    async with httpx.AsyncClient() as client:
        for path in ("/plain", "/packed"):
            assert (await send(client, "GET", url + path, label="t", max_body_bytes=10_000)).status == 200
            with pytest.raises(VenueError, match=r"^t: malformed answer: body larger than 1000 bytes$") as err:
                await send(client, "GET", url + path, label="t", max_body_bytes=1000)
            assert err.value.retryable is False
        with pytest.raises(VenueError, match="malformed answer: corrupt compressed body"):
            await get_json(client, url + "/corrupt", venue="test")


MEASURE = textwrap.dedent(
    """
    import asyncio, json, resource, sys, time
    import httpx
    from pfterm.core.venues.errors import VenueError
    from pfterm.core.venues.hyperliquid.rest import HyperliquidInfo
    from pfterm.core.venues.public_rest import get_json

    async def main(url):
        errors = []
        async with httpx.AsyncClient() as client:
            try:
                await get_json(client, url + "/fapi/v1/premiumIndex", venue="binance")
            except VenueError as exc:
                errors.append(str(exc))
        async with HyperliquidInfo(url) as info:
            try:
                await info.all_mids()
            except VenueError as exc:
                errors.append(str(exc))
        return errors

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    errors = asyncio.run(main(sys.argv[1]))
    print(json.dumps({"errors": errors, "seconds": time.monotonic() - started,
                      "growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024}))
    """
)


async def _run(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_gzip_bomb_fails_fast_with_bounded_memory(serve) -> None:
    gzip_bomb()
    app = web.Application()
    app.router.add_get("/fapi/v1/premiumIndex", bomb)
    app.router.add_post("/info", bomb)
    url = await serve(app)
    code, out, err = await _run(sys.executable, "-c", MEASURE, url)
    assert code == 0, err
    result = json.loads(out)
    assert result["errors"] == [
        f"binance /fapi/v1/premiumIndex: malformed answer: body larger than {public_rest.MAX_BODY_BYTES} bytes",
        f"hyperliquid info allMids: malformed answer: body larger than {public_rest.MAX_BODY_BYTES} bytes",
    ]
    assert result["seconds"] < 5.0
    assert result["growth_mb"] < 100


ORDER_PATH_MEASURE = textwrap.dedent(
    """
    import asyncio, json, resource, sys, time
    from pfterm.core.venues.binance.futures import BinanceCredentials, BinanceFuturesClient
    from pfterm.core.venues.errors import VenueError
    from pfterm.core.venues.hyperliquid.exchange import HyperliquidExchange
    from pfterm.core.venues.hyperliquid.signing import Signer

    KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

    async def main(url):
        out = []
        async with HyperliquidExchange(url, Signer(KEY), is_mainnet=False, timeout_s=10.0) as ex:
            try:
                await ex.cancel([(0, 1)])
            except VenueError as exc:
                out.append([type(exc).__name__, str(exc), exc.outcome_unknown, exc.retryable])
        binance = BinanceFuturesClient(url, BinanceCredentials("k" * 64, "s" * 64), timeout_s=10.0)
        try:
            await binance.cancel_all("BTCUSDT")
        except VenueError as exc:
            out.append([type(exc).__name__, str(exc), exc.outcome_unknown, exc.retryable])
        finally:
            await binance.aclose()
        return out

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    errors = asyncio.run(main(sys.argv[1]))
    print(json.dumps({"errors": errors, "seconds": time.monotonic() - started,
                      "growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024}))
    """
)


async def test_order_answers_are_read_under_the_same_cap(serve) -> None:
    """A bomb answering a cancel (Hyperliquid /exchange, Binance DELETE allOpenOrders) is an
    unreadable answer to a request that may have been applied: outcome unknown, never retried
    as is, and read no further than the cap."""
    gzip_bomb()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", bomb)
    url = await serve(app)
    code, out, err = await _run(sys.executable, "-c", ORDER_PATH_MEASURE, url)
    assert code == 0, err
    result = json.loads(out)
    cap = public_rest.MAX_BODY_BYTES
    assert result["errors"] == [
        ["ExchangeError", f"hyperliquid exchange cancel: malformed answer: body larger than {cap} bytes", True, False],
        [
            "BinanceUnavailable",
            f"binance DELETE /fapi/v1/allOpenOrders: malformed answer: body larger than {cap} bytes",
            True,
            False,
        ],
    ]
    assert result["seconds"] < 5.0
    assert result["growth_mb"] < 100


async def test_the_body_cap_is_a_setting(serve, monkeypatch) -> None:
    async def body(_r: web.Request) -> web.Response:
        return web.Response(body=b"x" * 2000)

    app = web.Application()
    app.router.add_get("/x", body)
    url = await serve(app)
    monkeypatch.setattr(public_rest, "_max_body_bytes", public_rest.MAX_BODY_BYTES)
    async with httpx.AsyncClient() as client:
        assert (await send(client, "GET", url + "/x", label="t")).status == 200
        public_rest.set_max_body_bytes(1000)
        assert public_rest.max_body_bytes() == 1000
        with pytest.raises(VenueError, match=r"^t: malformed answer: body larger than 1000 bytes$"):
            await send(client, "GET", url + "/x", label="t")
        with pytest.raises(VenueError, match="body larger than 1000 bytes"):
            await public_rest.request_capped(client, "GET", url + "/x", label="t")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive number of bytes"):
            public_rest.set_max_body_bytes(bad)  # type: ignore[arg-type]


SCAN_RSS = textwrap.dedent(
    """
    import resource, subprocess, sys
    proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    sys.stdout.write(proc.stderr)
    sys.stdout.write("RC %d MAXRSS_MB %.1f\\n" % (proc.returncode,
                     resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024))
    """
)


async def test_pfterm_scan_against_gzip_bombs_exits_1_with_one_line_per_venue(serve, tmp_path: Path) -> None:
    gzip_bomb()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", bomb)
    url = await serve(app)
    cfg = tmp_path / "c.toml"
    cfg.write_text("")
    pfterm = str(Path(sys.executable).with_name("pfterm"))
    argv = [pfterm, "scan", "--config", str(cfg)]
    venues = ("hyperliquid", "binance", "bybit", "okx", "dydx")
    for venue in venues:
        argv += ["--url", f"{venue}={url}"]
    started = time.monotonic()
    code, out, err = await _run(sys.executable, "-c", SCAN_RSS, *argv)
    assert code == 0, err
    *lines, last = out.strip().splitlines()
    _, rc, _, rss_mb = last.split()
    assert int(rc) == 1
    assert sorted(line.split(":")[1].strip() for line in lines) == sorted(venues)
    assert all("malformed answer: body larger than" in line for line in lines), lines
    assert float(rss_mb) < 100
    assert time.monotonic() - started < 30


async def test_answers_of_one_host_read_at_once_share_the_cap(serve) -> None:
    async def body(_r: web.Request) -> web.Response:
        return web.Response(body=b"x" * 200)

    app = web.Application()
    app.router.add_get("/x", body)
    url = await serve(app)
    gate = public_rest.host_gate(url + "/x")
    gate.buffered = 900  # another answer of this host being read holds 900 bytes
    async with httpx.AsyncClient() as client:
        with pytest.raises(
            VenueError, match=r"^t: malformed answer: bodies of this host being read exceed 1000 bytes$"
        ):
            await send(client, "GET", url + "/x", label="t", max_body_bytes=1000)
        assert gate.buffered == 900
        gate.buffered = 0
        assert (await send(client, "GET", url + "/x", label="t", max_body_bytes=1000)).content == b"x" * 200
    assert gate.buffered == 0


def test_the_config_sets_the_cap_for_every_command(tmp_path: Path, monkeypatch) -> None:
    from pfterm.tui import cli

    monkeypatch.setattr(public_rest, "_max_body_bytes", public_rest.MAX_BODY_BYTES)
    cfg = tmp_path / "c.toml"
    cfg.write_text("[http]\nmax_answer_mb = 2\n")
    cli._settings_from_args(cli.build_parser().parse_args(["scan", "--config", str(cfg)]))
    assert public_rest.max_body_bytes() == 2 * 1024 * 1024
    cfg.write_text("[http]\nmax_answer_mb = 0\n")
    code = cli.main(["scan", "--config", str(cfg)])
    assert code == 2
