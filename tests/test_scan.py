"""``pfterm scan --json`` against each venue's recorded payloads served on 127.0.0.1: the
normalized rate, interval, next settlement time and open interest must be exactly the
payloads' own.

Provenance of what is served (see tests/fixtures/README.md):

* Hyperliquid ``metaAndAssetCtxs``: a real mainnet capture (REST);
* dYdX ``/v4/perpetualMarkets``: a real indexer answer captured by ccxt (REST);
* OKX ``funding-rate``: the recorded WebSocket push's ``data`` items, which are the same
  objects the REST endpoint returns, in the REST envelope ``{"code":"0","data":[...]}``;
* Bybit ``tickers``: the documentation's ticker snapshot object, in the REST envelope
  ``{"retCode":0,"result":{"list":[...]}}`` (the REST and WebSocket ticker share field names);
* Binance ``premiumIndex``: DERIVED from the recorded ``!markPrice@arr`` frame by renaming
  its fields to the REST names (``s``→symbol, ``p``→markPrice, ``i``→indexPrice,
  ``r``→lastFundingRate, ``T``→nextFundingTime, ``E``→time); open interest is a test value.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from pfterm.tui.cli import main
from tests.fixture_files import FIXTURES

FIX = FIXTURES


def _load(rel: str):
    return json.loads((FIX / rel).read_text())


BINANCE_WS = _load("binance/ws_markPrice_arr.recorded.json")
BYBIT = _load("bybit/docs_tickers_linear_snapshot.json")["data"]
OKX = _load("okx/ws_funding_rate.recorded.json")["data"]
DYDX = _load("dydx/ccxt_fetchMarkets_1.json")
HL = _load("hyperliquid/metaAndAssetCtxs.mainnet.json")
BINANCE_OI = {"BTCUSDT": "81234.567", "ETHUSDT": "1500000.25"}


def _premium_index() -> list[dict]:
    return [
        {
            "symbol": f["s"],
            "markPrice": f["p"],
            "indexPrice": f["i"],
            "estimatedSettlePrice": f["P"],
            "lastFundingRate": f["r"],
            "interestRate": "0.00010000",
            "nextFundingTime": f["T"],
            "time": f["E"],
        }
        for f in BINANCE_WS
    ]


@pytest.fixture
async def venue_url(unused_tcp_port: int) -> AsyncIterator[str]:
    async def premium(_r: web.Request) -> web.Response:
        return web.json_response(_premium_index())

    async def funding_info(_r: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "symbol": "ETHUSDT",
                    "adjustedFundingRateCap": "0.02",
                    "adjustedFundingRateFloor": "-0.02",
                    "fundingIntervalHours": 4,
                    "disclaimer": False,
                }
            ]
        )

    async def open_interest(r: web.Request) -> web.Response:
        sym = r.query["symbol"]
        return web.json_response({"symbol": sym, "openInterest": BINANCE_OI[sym], "time": 1791201678000})

    async def tickers(_r: web.Request) -> web.Response:
        return web.json_response({"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [BYBIT]}})

    async def okx_funding(_r: web.Request) -> web.Response:
        return web.json_response({"code": "0", "msg": "", "data": OKX})

    async def okx_oi(_r: web.Request) -> web.Response:
        return web.json_response({"code": "0", "msg": "", "data": []})

    async def okx_instruments(_r: web.Request) -> web.Response:
        return web.json_response({"code": "0", "msg": "", "data": []})

    async def dydx(_r: web.Request) -> web.Response:
        return web.json_response(DYDX)

    async def hl_info(r: web.Request) -> web.Response:
        body = await r.json()
        if body["type"] == "metaAndAssetCtxs":
            return web.json_response(HL)
        if body["type"] == "predictedFundings":
            return web.json_response([])
        return web.json_response({"error": "unsupported"}, status=422)

    app = web.Application()
    app.router.add_get("/fapi/v1/premiumIndex", premium)
    app.router.add_get("/fapi/v1/fundingInfo", funding_info)
    app.router.add_get("/fapi/v1/openInterest", open_interest)
    app.router.add_get("/v5/market/tickers", tickers)
    app.router.add_get("/api/v5/public/funding-rate", okx_funding)
    app.router.add_get("/api/v5/public/open-interest", okx_oi)
    app.router.add_get("/api/v5/public/instruments", okx_instruments)
    app.router.add_get("/v4/perpetualMarkets", dydx)
    app.router.add_post("/info", hl_info)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", unused_tcp_port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{unused_tcp_port}"
    finally:
        await runner.cleanup()


def _run_scan(url: str, capsys, tmp_path: Path) -> dict:
    cfg = tmp_path / "c.toml"
    cfg.write_text("")
    args = ["scan", "--json", "--config", str(cfg)]
    for v in ("hyperliquid", "binance", "bybit", "okx", "dydx"):
        args += ["--url", f"{v}={url}"]
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def _one(out: dict, venue: str, symbol: str) -> dict:
    [rec] = [r for r in out[venue]["records"] if r["symbol"] == symbol]
    return rec


async def test_scan_reproduces_each_venues_payload(venue_url: str, capsys, tmp_path: Path) -> None:
    import asyncio

    out = await asyncio.to_thread(_run_scan, venue_url, capsys, tmp_path)
    assert all("records" in out[v] for v in out), out

    b = _one(out, "binance", "BTC")
    assert (b["native"], b["rate"], b["interval_h"], b["next_funding_ms"]) == (
        "BTCUSDT",
        0.00003779,
        8.0,
        1791216000000,
    )
    assert b["oi_base"] == 81234.567 and b["oi_usd"] == pytest.approx(81234.567 * 86141.0)
    e = _one(out, "binance", "ETH")
    assert (e["rate"], e["interval_h"]) == (0.00006061, 4.0)  # fundingInfo says 4 h; the rest are 8 h

    y = _one(out, "bybit", "BTC")
    assert (y["rate"], y["interval_h"], y["next_funding_ms"]) == (-0.005, 8.0, 1760342400000)

    o = _one(out, "okx", "BTC")
    item = OKX[0]
    assert o["rate"] == float(item["fundingRate"])
    assert o["next_funding_ms"] == int(item["fundingTime"])  # the upcoming settlement, not nextFundingTime
    assert o["interval_h"] == (int(item["nextFundingTime"]) - int(item["fundingTime"])) / 3_600_000

    d = _one(out, "dydx", "BTC")
    m = DYDX["markets"]["BTC-USD"]
    assert (d["rate"], d["interval_h"], d["oi_base"]) == (float(m["nextFundingRate"]), 1.0, float(m["openInterest"]))
    assert d["apr"] == pytest.approx(float(m["nextFundingRate"]) * 8760)

    names = [u["name"] for u in HL[0]["universe"]]
    i = names.index("BTC")
    ctx = HL[1][i]
    h = _one(out, "hyperliquid", "BTC")
    assert (h["rate"], h["interval_h"], h["oi_base"]) == (float(ctx["funding"]), 1.0, float(ctx["openInterest"]))
    assert h["next_funding_ms"] % 3_600_000 == 0  # no predictedFundings served: the next top of the hour


def test_scan_rejects_an_unknown_venue(capsys) -> None:
    assert main(["scan", "--venue", "kraken"]) == 2
    assert "unknown venue 'kraken'" in capsys.readouterr().err


def test_prices_and_sizes_are_put_in_the_joined_unit() -> None:
    from pfterm.core.crossvenue.session import to_canonical_units
    from pfterm.core.crossvenue.symbols import SymbolMap
    from pfterm.core.market.models import Liquidation, VenueFunding

    sm = SymbolMap()
    okx = VenueFunding("okx", "kPEPE", "PEPE-USDT-SWAP", 0.0001, 8.0, None, 0.00001, 0.0000101, 2e9, 20_000.0, 0)
    bin_ = VenueFunding("binance", "kPEPE", "1000PEPEUSDT", 0.0001, 8.0, None, 0.01, 0.0101, 2e6, 20_000.0, 0)
    [o, b] = to_canonical_units([okx, bin_], sm)
    assert o.mark_px == pytest.approx(0.01) and o.oi_base == pytest.approx(2e6) and o.oi_usd == 20_000.0
    assert b == bin_
    [liq] = to_canonical_units([Liquidation("okx", "kPEPE", "PEPE-USDT-SWAP", "long", 5e6, 0.00001, 50.0, 0)], sm)
    assert liq.price == pytest.approx(0.01) and liq.size_base == pytest.approx(5e3) and liq.usd == 50.0


async def test_a_venue_unreachable_at_start_is_picked_up_when_it_answers(unused_tcp_port: int) -> None:
    """The cross-venue session retries a failed snapshot and starts the venue's stream then."""
    import asyncio

    from pfterm.core.crossvenue.session import CrossVenueData, CrossVenueSession

    up = {"ok": False}

    async def tickers(_r: web.Request) -> web.Response:
        if not up["ok"]:
            return web.Response(status=503)
        return web.json_response({"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [BYBIT]}})

    app = web.Application()
    app.router.add_get("/v5/market/tickers", tickers)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    data = CrossVenueData()
    url = f"http://127.0.0.1:{unused_tcp_port}"
    session = CrossVenueSession(data, ["bybit"], {"bybit": url, "bybit-ws": "ws://127.0.0.1:9/none"}, refresh_s=0.2)
    task = asyncio.create_task(session.run())
    try:
        for _ in range(50):
            await asyncio.sleep(0.05)
            if "bybit/rest" in data.feeds:
                break
        assert data.feeds["bybit/rest"].state.value == "retrying" and not session._streams  # noqa: SLF001
        up["ok"] = True
        for _ in range(100):
            await asyncio.sleep(0.05)
            if session._streams:  # noqa: SLF001
                break
        assert session._streams and data.matrix.latest("BTC", "bybit") is not None  # noqa: SLF001
    finally:
        await session.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runner.cleanup()


async def test_bybit_rates_are_polled_by_rest_and_its_stream_carries_liquidations_only(unused_tcp_port: int) -> None:
    """With ``bybit_poll_s`` the session reads Bybit's tickers by REST each poll (a rate change
    shows at the next one) and its stream subscribes no ``tickers.*`` topic."""
    import asyncio

    from pfterm.core.crossvenue.session import CrossVenueData, CrossVenueSession

    rate = {"now": BYBIT["fundingRate"]}
    hits: list[float] = []

    async def tickers(_r: web.Request) -> web.Response:
        hits.append(asyncio.get_running_loop().time())
        item = {**BYBIT, "fundingRate": rate["now"]}
        return web.json_response({"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [item]}})

    app = web.Application()
    app.router.add_get("/v5/market/tickers", tickers)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    data = CrossVenueData()
    url = f"http://127.0.0.1:{unused_tcp_port}"
    urls = {"bybit": url, "bybit-ws": "ws://127.0.0.1:9/none"}
    session = CrossVenueSession(data, ["bybit"], urls, refresh_s=60.0, bybit_poll_s=0.1)
    task = asyncio.create_task(session.run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.02)
            if session._streams:  # noqa: SLF001
                break
        [stream] = session._streams  # noqa: SLF001
        assert stream.topics() and not any(t.startswith("tickers.") for t in stream.topics())
        rate["now"] = "0.00042"
        for _ in range(100):
            await asyncio.sleep(0.02)
            latest = data.matrix.latest("BTC", "bybit")
            if latest is not None and latest.rate == pytest.approx(0.00042):
                break
        assert data.matrix.latest("BTC", "bybit").rate == pytest.approx(0.00042)
        assert 2 <= len(hits) <= 20  # the first snapshot, then one request per poll
    finally:
        await session.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runner.cleanup()
