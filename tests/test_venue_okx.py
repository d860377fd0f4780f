"""OKX adapter: parsers against the fixtures of ``tests/fixtures``, REST snapshot via MockTransport, and the
stream against a local WebSocket server on 127.0.0.1 (no network).

Fixture provenance (``tests/fixtures/README.md``):
* ``ws_funding_rate.recorded.json``, ``ws_liquidation_orders.recorded.jsonl``: frames a
  third-party test file says were recorded live (we only see the quote);
* ``synthetic_funding_rate.nautilus.json``: SYNTHETIC / old-docs shape.
There is no REST funding-rate, open-interest or instruments fixture: those payloads are built
here in the documented shape (``{"code":"0","msg":"","data":[...]}``) and marked as such.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection

from pfterm.core.market.models import FeedState, Liquidation
from pfterm.core.venues.hyperliquid.rest import VenueError
from pfterm.core.venues.okx.market import (
    OKX_REST_URL,
    OKX_WS_URL,
    OkxFormatError,
    OkxStream,
    fetch_snapshot,
    okx_symbol,
    parse_funding_rate,
    parse_instruments,
    parse_liquidation_orders,
    parse_open_interest,
)
from tests.fixture_files import FIXTURES
from tests.replay import ListSink, ReplayServer, eventually, fast_policy

if TYPE_CHECKING:
    from tests.conftest import ServeReplay

OKX = FIXTURES / "okx"

NOW = 1790358600000

# ctVal of BTC-USDT-SWAP is 0.01 BTC per contract (OKX instruments endpoint; consistent with the
# BTC open-interest sample oi 2660239.59 contracts / oiCcy 26602.3959 BTC = 100). The CELO value
# below is a TEST VALUE, not checked against OKX.
CT_VAL = {"BTC-USDT-SWAP": 0.01, "CELO-USDT-SWAP": 10.0}


def recorded_funding() -> dict[str, Any]:
    return json.loads((OKX / "ws_funding_rate.recorded.json").read_text())


def recorded_liquidations() -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in (OKX / "ws_liquidation_orders.recorded.jsonl").read_text().splitlines() if line
    ]


def rest_funding() -> dict[str, Any]:
    """REST shape (constructed): the recorded BTC item + a coin-margined swap (skipped) + an
    ETH item with a 4 h interval (hand-made)."""
    btc = recorded_funding()["data"][0]
    usd = {**btc, "instId": "BTC-USD-SWAP"}
    eth = {
        **btc,
        "instId": "ETH-USDT-SWAP",
        "fundingRate": "-0.00005",
        "fundingTime": "1790366400000",
        "nextFundingTime": "1790380800000",
    }
    return {"code": "0", "msg": "", "data": [btc, usd, eth]}


def rest_open_interest() -> dict[str, Any]:
    """Documented shape, constructed values (BTC figures from a public OKX open-interest sample)."""
    return {
        "code": "0",
        "msg": "",
        "data": [
            {
                "instId": "BTC-USDT-SWAP",
                "instType": "SWAP",
                "oi": "2660239.59",
                "oiCcy": "26602.3959",
                "oiUsd": "2433776053.94",
                "ts": "1790358600000",
            },
            {
                "instId": "ETH-USDT-SWAP",
                "instType": "SWAP",
                "oi": "5932935.53",
                "oiCcy": "593293.553",
                "oiUsd": "1877845290.47",
                "ts": "1790358600000",
            },
        ],
    }


# ------------------------------------------------------------------ parsers


def test_recorded_funding_rate_is_for_the_upcoming_settlement_at_fundingTime() -> None:
    raw = recorded_funding()
    item = raw["data"][0]
    [rec] = parse_funding_rate(raw, NOW)
    assert rec.venue == "okx" and rec.symbol == "BTC" and rec.native == "BTC-USDT-SWAP"
    assert rec.rate == 0.0000263463215391
    # the predicted rate settles at fundingTime (the upcoming one), NOT at nextFundingTime
    assert rec.next_funding_ms == 1790380800000 == int(item["fundingTime"])
    assert rec.next_funding_ms != int(item["nextFundingTime"])
    assert int(item["ts"]) < int(item["fundingTime"])  # the push precedes that settlement
    assert int(item["prevFundingTime"]) < int(item["ts"])  # settFundingRate belongs to the previous one
    assert rec.rate != float(item["settFundingRate"])
    # interval = nextFundingTime − fundingTime = 8 h here
    assert rec.interval_h == (1790409600000 - 1790380800000) / 3_600_000 == 8.0
    assert rec.time_ms == 1790358563915
    assert rec.mark_px is None and rec.index_px is None
    assert rec.oi_base is None and rec.oi_usd is None
    assert rec.apr == pytest.approx(0.0000263463215391 * 3 * 365)


def test_synthetic_funding_rate_shape() -> None:
    [rec] = parse_funding_rate(json.loads((OKX / "synthetic_funding_rate.nautilus.json").read_text()), NOW)
    assert (rec.rate, rec.next_funding_ms, rec.interval_h, rec.time_ms) == (0.0001, 1744590349506, 8.0, 1744590349506)


def test_rest_funding_rate_merges_open_interest_and_skips_coin_margined() -> None:
    oi = parse_open_interest(rest_open_interest())
    assert oi["BTC-USDT-SWAP"] == (26602.3959, 2433776053.94)
    records = parse_funding_rate(rest_funding(), NOW, oi=oi)
    assert [r.native for r in records] == ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]
    btc, eth = records
    assert (btc.oi_base, btc.oi_usd) == (26602.3959, 2433776053.94)
    assert eth.interval_h == 4.0 and eth.next_funding_ms == 1790366400000 and eth.rate == -0.00005
    assert eth.apr == pytest.approx(-0.00005 * 8760 / 4)
    without_ts = {"code": "0", "data": [{k: v for k, v in rest_funding()["data"][0].items() if k != "ts"}]}
    assert parse_funding_rate(without_ts, NOW)[0].time_ms == NOW


def test_default_symbol_rules_and_injected_mapping() -> None:
    assert okx_symbol("BTC-USDT-SWAP") == "BTC"
    assert okx_symbol("1000PEPE-USDT-SWAP") == "kPEPE"
    for skipped in ("BTC-USD-SWAP", "BTC-USDC-SWAP", "BTC-USDT-251226", "BTC-USDT"):
        assert okx_symbol(skipped) is None
    records = parse_funding_rate(recorded_funding(), NOW, to_symbol=lambda native: "XBT")
    assert records[0].symbol == "XBT"
    assert parse_funding_rate(recorded_funding(), NOW, to_symbol=lambda native: None) == []


def test_instruments_keep_linear_swaps_only() -> None:
    raw = {  # documented shape, constructed
        "code": "0",
        "data": [
            {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "ctType": "linear", "ctVal": "0.01", "ctValCcy": "BTC"},
            {"instType": "SWAP", "instId": "BTC-USD-SWAP", "ctType": "inverse", "ctVal": "100", "ctValCcy": "USD"},
        ],
    }
    assert parse_instruments(raw) == {"BTC-USDT-SWAP": 0.01}


def test_recorded_liquidations_long_and_short_in_contracts() -> None:
    btc_frame, celo_frame = recorded_liquidations()
    [btc] = parse_liquidation_orders(btc_frame, CT_VAL)
    assert btc == Liquidation(
        venue="okx",
        symbol="BTC",
        native="BTC-USDT-SWAP",
        side="long",
        size_base=pytest.approx(8.55 * 0.01),
        price=82655.7,
        usd=pytest.approx(8.55 * 0.01 * 82655.7),
        time_ms=1791565600771,
    )
    [celo] = parse_liquidation_orders(celo_frame, CT_VAL)
    assert celo.side == "short" and celo.symbol == "CELO" and celo.price == 0.09583
    assert celo.size_base == pytest.approx(19979 * 10.0) and celo.time_ms == 1791565462608
    both = {"arg": btc_frame["arg"], "data": btc_frame["data"] + celo_frame["data"]}
    assert [liq.symbol for liq in parse_liquidation_orders(both, CT_VAL)] == ["CELO", "BTC"]  # oldest first
    # no ctVal known: dropped, never guessed
    assert parse_liquidation_orders(btc_frame, {}) == []


@pytest.mark.parametrize(
    ("pos_side", "side", "expected"),
    [
        ("long", "sell", "long"),
        ("short", "buy", "short"),
        ("net", "sell", "long"),
        ("net", "buy", "short"),
        ("", "sell", "long"),
        ("", "buy", "short"),
    ],
)
def test_liquidation_side_mapping(pos_side: str, side: str, expected: str) -> None:
    frame = recorded_liquidations()[0]
    frame["data"][0]["details"][0].update(posSide=pos_side, side=side)
    assert parse_liquidation_orders(frame, CT_VAL)[0].side == expected


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.update(data="SECRETVALUE"),
        lambda r: r["data"][0].update(fundingRate="SECRETVALUE"),
        lambda r: r["data"][0].update(nextFundingTime=r["data"][0]["fundingTime"]),
        lambda r: r["data"][0].pop("fundingTime"),
        lambda r: r.update(code="51000"),
    ],
)
def test_malformed_funding_is_one_line_value_error_without_payload(mutate: Callable[[dict[str, Any]], Any]) -> None:
    raw = recorded_funding()
    mutate(raw)
    with pytest.raises(OkxFormatError) as info:
        parse_funding_rate(raw, NOW)
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value) and "SECRETVALUE" not in str(info.value)


def test_malformed_liquidation_side() -> None:
    frame = recorded_liquidations()[0]
    frame["data"][0]["details"][0].update(posSide="SECRETVALUE")
    with pytest.raises(OkxFormatError) as info:
        parse_liquidation_orders(frame, CT_VAL)
    assert "SECRETVALUE" not in str(info.value)


# ------------------------------------------------------------------ REST snapshot


async def test_fetch_snapshot_with_mock_transport() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if request.url.path == "/api/v5/public/funding-rate":
            return httpx.Response(200, json=rest_funding())
        if request.url.path == "/api/v5/public/open-interest":
            return httpx.Response(200, json=rest_open_interest())
        return httpx.Response(404)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        records = await fetch_snapshot(client, now_ms=NOW)
    assert {(u.host, u.path, str(u.params)) for u in seen} == {
        ("www.okx.com", "/api/v5/public/funding-rate", "instId=ANY"),
        ("www.okx.com", "/api/v5/public/open-interest", "instType=SWAP"),
    }
    assert OKX_REST_URL == "https://www.okx.com" and OKX_WS_URL == "wss://ws.okx.com:8443/ws/v5/public"
    assert [(r.symbol, r.next_funding_ms, r.interval_h, r.oi_base) for r in records] == [
        ("BTC", 1790380800000, 8.0, 26602.3959),
        ("ETH", 1790366400000, 4.0, 593293.553),
    ]


@pytest.mark.parametrize(
    ("response", "text"),
    [
        (httpx.Response(503, text="<html>\nbusy</html>"), "HTTP 503"),
        (httpx.Response(200, json={"code": "50011", "msg": "Too Many Requests", "data": []}), "code 50011"),
        (httpx.Response(200, text="not json"), "not JSON"),
        (httpx.Response(200, json={"code": "0", "data": [{"instId": "BTC-USDT-SWAP"}]}), "okx"),
    ],
)
async def test_fetch_snapshot_errors_are_one_line(response: httpx.Response, text: str) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda request: response)) as client:
        with pytest.raises(VenueError) as info:
            await fetch_snapshot(client, "http://okx.test", now_ms=NOW)
    assert text in str(info.value) and "\n" not in str(info.value)


# ------------------------------------------------------------------ stream


class FakeOkx(ReplayServer):
    """OKX-like server: acks subscriptions, answers text ping with pong, pushes on demand."""

    async def answer(self, ws: ServerConnection, n: int, message: Any) -> bool:
        if message == "ping":
            await ws.send("pong")
        else:
            for arg in message.get("args", []):
                await ws.send(json.dumps({"event": "subscribe", "arg": arg, "connId": "a1b2"}))
        return True

    def args(self, connection: int = -1) -> list[dict[str, str]]:
        return [a for m in self.received[connection] if isinstance(m, dict) for a in m.get("args", [])]


@pytest.fixture
async def okx_server(replay_servers: ServeReplay) -> tuple[FakeOkx, str]:
    venue = await replay_servers(FakeOkx(), "/ws/v5/public")
    return venue, venue.url


async def test_stream_end_to_end_with_drop_and_malformed(okx_server: tuple[FakeOkx, str]) -> None:
    venue, url = okx_server
    sink = ListSink()
    oi = parse_open_interest(rest_open_interest())
    stream = OkxStream(
        sink,
        ["BTC-USDT-SWAP", "ETH-USDT-SWAP", "BTC-USD-SWAP"],
        ws_url=url,
        ct_val=CT_VAL,
        oi=oi,
        batch_size=2,
        policy=fast_policy(0.2),
        subscribe_interval_s=0.0,
        status_interval_s=0.02,
    )
    task = asyncio.create_task(stream.run())
    await eventually(lambda: stream.acks == 5)
    assert venue.args(0) == [
        {"channel": "funding-rate", "instId": "BTC-USDT-SWAP"},
        {"channel": "funding-rate", "instId": "ETH-USDT-SWAP"},
        {"channel": "open-interest", "instId": "BTC-USDT-SWAP"},
        {"channel": "open-interest", "instId": "ETH-USDT-SWAP"},
        {"channel": "liquidation-orders", "instType": "SWAP"},
    ]  # the coin-margined swap is not subscribed; batches of 2 args
    assert [len(m["args"]) for m in venue.received[0]] == [2, 2, 1]

    funding_text = (OKX / "ws_funding_rate.recorded.json").read_text().strip()
    liq_lines = (OKX / "ws_liquidation_orders.recorded.jsonl").read_text().splitlines()
    oi_push = json.dumps(
        {
            "arg": {"channel": "open-interest", "instId": "BTC-USDT-SWAP"},
            "data": [
                {
                    "instId": "BTC-USDT-SWAP",
                    "instType": "SWAP",
                    "oi": "2700000",
                    "oiCcy": "27000",
                    "oiUsd": "2470000000",
                    "ts": "1790358700000",
                }
            ],
        }
    )
    await venue.push(
        funding_text,
        '{"arg":{"channel":"funding-rate","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP"}]}',
        liq_lines[0],
        "}{ not json",
        oi_push,
        json.dumps({"event": "error", "code": "60012", "msg": "Invalid request", "connId": "a1b2"}),
    )
    await eventually(lambda: len(sink.funding) == 2 and len(sink.liquidations) == 1)
    [btc] = sink.funding[0]
    assert btc.rate == 0.0000263463215391 and btc.next_funding_ms == 1790380800000
    assert (btc.oi_base, btc.oi_usd) == (26602.3959, 2433776053.94)  # merged from the REST OI snapshot
    [btc_oi] = sink.funding[1]
    assert (btc_oi.oi_base, btc_oi.oi_usd, btc_oi.rate) == (27000.0, 2470000000.0, btc.rate)
    assert sink.liquidations[0][0].side == "long" and sink.liquidations[0][0].size_base == pytest.approx(0.0855)
    await eventually(lambda: stream.malformed == 2 and stream.channel_errors == 1)
    await eventually(lambda: sink.statuses[-1].malformed == 2)
    assert "60012" in sink.statuses[-1].detail

    assert venue.current is not None
    await venue.current.close(code=1011, reason="restart")
    await eventually(lambda: venue.connections == 2 and len(venue.args(1)) == 5)
    await eventually(lambda: venue.current is not None and stream.acks == 10)
    await venue.push(liq_lines[1])
    await eventually(lambda: len(sink.liquidations) == 2)
    assert sink.liquidations[1][0].symbol == "CELO" and sink.liquidations[1][0].side == "short"
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
    assert all(s.feed == "okx/ws" for s in sink.statuses)


async def test_stream_sends_text_ping_when_idle(okx_server: tuple[FakeOkx, str]) -> None:
    venue, url = okx_server
    sink = ListSink()
    stream = OkxStream(
        sink, [], ws_url=url, liquidations=False, policy=fast_policy(0.2), ping_interval_s=0.1, silence_timeout_s=0.5
    )
    task = asyncio.create_task(stream.run())
    await eventually(lambda: venue.received and venue.received[0].count("ping") >= 3)
    assert stream.pongs >= 2 and venue.connections == 1 and stream.malformed == 0
    await stream.stop()
    await asyncio.wait_for(task, 5)
