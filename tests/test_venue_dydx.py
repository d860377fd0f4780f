"""dYdX adapter: parsers against the fixtures of ``tests/fixtures``, REST snapshot via MockTransport, and the
stream against a local WebSocket server on 127.0.0.1 (no network).

Fixture provenance (``tests/fixtures/README.md``): ``ccxt_fetchMarkets_1.json`` is an
indexer ``/v4/perpetualMarkets`` answer captured by ccxt's maintainers; ``docs_v4_markets_*``
are official indexer documentation examples (shape authoritative, values illustrative);
``synthetic_*.nautilus.json`` are SYNTHETIC. There is no recorded ``v4_trades`` frame: the
trades below follow the indexer documentation's ``channel_data`` example (``type:
"LIQUIDATED"``, taker ``side``) and are marked as constructed.
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
from pfterm.core.venues.dydx.market import (
    DYDX_REST_URL,
    DYDX_WS_URL,
    DydxFormatError,
    DydxStream,
    MarketsBook,
    dydx_symbol,
    fetch_snapshot,
    next_hour_ms,
    parse_perpetual_markets,
    parse_trades_liquidations,
)
from pfterm.core.venues.hyperliquid.rest import VenueError
from tests.fixture_files import FIXTURES
from tests.replay import ListSink, ReplayServer, eventually, fast_policy

if TYPE_CHECKING:
    from tests.conftest import ServeReplay

DYDX = FIXTURES / "dydx"

NOW = 1753765201053  # 2025-07-29T05:00:01.053Z (the ccxt funding-history fixture's effectiveAt)


def load(name: str) -> Any:
    return json.loads((DYDX / name).read_text())


def trades_message(kind: str = "channel_data") -> dict[str, Any]:
    """Constructed in the indexer docs' v4_trades channel_data shape."""
    return {
        "type": kind,
        "connection_id": "57844645-0b1d-4c3f-ad71-1c6154154a13",
        "message_id": 4,
        "id": "BTC-USD",
        "channel": "v4_trades",
        "version": "1.1.0",
        "contents": {
            "trades": [
                {
                    "id": "t-3",
                    "size": "0.5",
                    "price": "27830",
                    "side": "SELL",
                    "createdAt": "2023-04-04T00:29:21.000Z",
                    "type": "LIQUIDATED",
                },
                {
                    "id": "t-2",
                    "size": "0.000100431",
                    "price": "27839",
                    "side": "BUY",
                    "createdAt": "2023-04-04T00:29:19.353Z",
                    "type": "LIQUIDATED",
                },
                {
                    "id": "t-1",
                    "size": "0.000000005",
                    "price": "27837",
                    "side": "SELL",
                    "createdAt": "2023-04-04T00:29:19.353Z",
                    "type": "LIMIT",
                },
                {
                    "id": "t-0",
                    "size": "1",
                    "price": "27800",
                    "side": "SELL",
                    "createdAt": "2023-04-04T00:29:18.000Z",
                    "type": "DELEVERAGED",
                },
            ]
        },
    }


# ------------------------------------------------------------------ parsers


def test_perpetual_markets_fixture_is_hourly() -> None:
    [btc] = parse_perpetual_markets(load("ccxt_fetchMarkets_1.json"), NOW)
    assert (btc.venue, btc.symbol, btc.native) == ("dydx", "BTC", "BTC-USD")
    assert btc.rate == 0.00016451111111111111 and btc.interval_h == 1.0
    assert btc.apr == btc.rate * 8760  # hourly rate: APR = rate × 8760
    assert btc.rate_per_hour == btc.rate
    assert btc.mark_px == btc.index_px == 118700.5426  # oracle price: dYdX has no separate mark
    assert btc.oi_base == 59.0763 and btc.oi_usd == pytest.approx(59.0763 * 118700.5426)
    # not given by the indexer: the next top of the hour after now
    assert btc.next_funding_ms == 1753768800000 == next_hour_ms(NOW)
    assert next_hour_ms(1753768800000) == 1753768800000 + 3_600_000
    assert btc.time_ms == NOW


def test_symbols_and_skips() -> None:
    assert dydx_symbol("BTC-USD") == "BTC" and dydx_symbol("1000PEPE-USD") == "kPEPE"
    assert dydx_symbol("BTC-USDC") is None and dydx_symbol("BTC") is None
    raw = load("ccxt_fetchMarkets_1.json")
    raw["markets"]["OLD-USD"] = {**raw["markets"]["BTC-USD"], "ticker": "OLD-USD", "status": "FINAL_SETTLEMENT"}
    assert [r.native for r in parse_perpetual_markets(raw, NOW)] == ["BTC-USD"]
    assert parse_perpetual_markets(raw, NOW, to_symbol=lambda t: None) == []


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.update(markets="SECRETVALUE"),
        lambda r: r["markets"]["BTC-USD"].update(nextFundingRate="SECRETVALUE"),
        lambda r: r["markets"]["BTC-USD"].pop("oraclePrice"),
    ],
)
def test_malformed_markets_one_line_without_payload(mutate: Callable[[dict[str, Any]], Any]) -> None:
    raw = load("ccxt_fetchMarkets_1.json")
    mutate(raw)
    with pytest.raises(DydxFormatError) as info:
        parse_perpetual_markets(raw, NOW)
    assert isinstance(info.value, ValueError)
    assert "SECRETVALUE" not in str(info.value) and "\n" not in str(info.value)


def test_markets_book_merges_snapshot_and_updates() -> None:
    book = MarketsBook()
    snap = book.apply(load("docs_v4_markets_subscribed.json"), NOW)
    assert [(r.native, r.rate, r.mark_px, r.oi_base) for r in snap] == [
        ("BTC-USD", 0.0, 27752.92, 1891.473716288),
        ("ETH-USD", 0.0, 1808.2, 44027.853711),
    ]
    upd = book.apply(load("docs_v4_markets_channel_data_1.json"), NOW + 1)
    assert [(r.native, r.rate, r.mark_px, r.oi_base, r.time_ms) for r in upd] == [
        ("BTC-USD", 0.00006821875, 27752.92, 1891.473716288, NOW + 1),
        ("ETH-USD", 0.00007478125, 1808.2, 44027.853711, NOW + 1),
    ]
    assert book.markets["ETH-USD"]["volume24H"] == "1462890959.6541"
    oracle = book.apply(load("synthetic_v4_markets_update.nautilus.json"), NOW + 2)  # SYNTHETIC values
    btc = next(r for r in oracle if r.native == "BTC-USD")
    assert btc.mark_px == btc.index_px == 43300.0 and btc.rate == 0.00006821875
    assert btc.oi_usd == pytest.approx(1891.473716288 * 43300.0)
    # a volume-only change is not a funding change; a repeated value neither
    volume_only = {
        "type": "channel_data",
        "channel": "v4_markets",
        "contents": {"trading": {"BTC-USD": {"volume24H": "1"}}},
    }
    assert book.apply(volume_only, NOW + 3) == []
    status = book.apply(load("synthetic_v4_markets_status_update.nautilus.json"), NOW + 4)  # SYNTHETIC
    assert [(r.native, r.rate) for r in status] == [("BTC-USD", 0.0001), ("ETH-USD", 0.00008)]
    batch = {
        "type": "channel_batch_data",
        "channel": "v4_markets",
        "contents": [
            {"trading": {"BTC-USD": {"openInterest": "2000"}}},
            {"oraclePrices": {"BTC-USD": {"oraclePrice": "43000"}}},
        ],
    }
    [merged] = book.apply(batch, NOW + 5)
    assert (merged.oi_base, merged.mark_px, merged.oi_usd) == (2000.0, 43000.0, 2000.0 * 43000.0)
    # a new ticker is emitted once it has rate, OI and oracle
    new = {
        "type": "channel_data",
        "channel": "v4_markets",
        "contents": {"trading": {"SOL-USD": {"nextFundingRate": "0.00001"}}},
    }
    assert book.apply(new, NOW) == []
    more = {
        "type": "channel_data",
        "channel": "v4_markets",
        "contents": {
            "trading": {"SOL-USD": {"openInterest": "10"}},
            "oraclePrices": {"SOL-USD": {"oraclePrice": "150"}},
        },
    }
    assert [(r.symbol, r.oi_usd) for r in book.apply(more, NOW)] == [("SOL", 1500.0)]
    with pytest.raises(DydxFormatError):
        book.apply({"type": "channel_data", "contents": {"oraclePrices": {"BTC-USD": {"oraclePrice": "x"}}}}, NOW)


def test_trades_liquidation_side_is_taker_side() -> None:
    liqs = parse_trades_liquidations(trades_message())
    assert liqs == [
        Liquidation(
            "dydx", "BTC", "BTC-USD", "short", 0.000100431, 27839.0, pytest.approx(0.000100431 * 27839.0), 1680568159353
        ),
        Liquidation("dydx", "BTC", "BTC-USD", "long", 0.5, 27830.0, 0.5 * 27830.0, 1680568161000),
    ]
    # taker BUY → short liquidated; taker SELL → long liquidated; LIMIT and DELEVERAGED skipped; oldest first
    flagged = trades_message()
    flagged["contents"]["trades"] = [
        {"size": "2", "price": "10", "side": "SELL", "createdAt": "2023-04-04T00:00:00Z", "liquidation": True}
    ]
    assert [(liq.side, liq.usd) for liq in parse_trades_liquidations(flagged)] == [("long", 20.0)]
    bad = trades_message()
    bad["contents"]["trades"][0]["side"] = "SECRETVALUE"
    with pytest.raises(DydxFormatError) as info:
        parse_trades_liquidations(bad)
    assert "SECRETVALUE" not in str(info.value)


async def test_fetch_snapshot_with_mock_transport() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, content=(DYDX / "ccxt_fetchMarkets_1.json").read_bytes())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        [btc] = await fetch_snapshot(client, now_ms=NOW)
    assert str(seen[0]) == "https://indexer.dydx.trade/v4/perpetualMarkets"
    assert DYDX_REST_URL == "https://indexer.dydx.trade" and DYDX_WS_URL == "wss://indexer.dydx.trade/v4/ws"
    assert btc.rate == 0.00016451111111111111 and btc.oi_base == 59.0763

    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(502, text="a\nb"))) as client:
        with pytest.raises(VenueError) as info:
            await fetch_snapshot(client, "http://dydx.test")
    assert str(info.value) == "dydx perpetualMarkets: HTTP 502"


# ------------------------------------------------------------------ stream


class FakeIndexer(ReplayServer):
    """dYdX-indexer-like server replaying fixture messages on subscribe."""

    greeting = (json.dumps({"type": "connected", "connection_id": "c", "message_id": 0}),)

    async def answer(self, ws: ServerConnection, n: int, message: Any) -> bool:
        if message.get("type") == "ping":
            await ws.send(json.dumps({"type": "pong", "connection_id": "c", "message_id": 1}))
        elif message.get("channel") == "v4_markets":
            await ws.send((DYDX / "docs_v4_markets_subscribed.json").read_text())
        elif message.get("channel") == "v4_trades":
            await ws.send(json.dumps(trades_message("subscribed")))
        return True


@pytest.fixture
async def indexer(replay_servers: ServeReplay) -> tuple[FakeIndexer, str]:
    venue = await replay_servers(FakeIndexer(), "/v4/ws")
    return venue, venue.url


async def test_stream_end_to_end_with_drop_dedupe_and_malformed(indexer: tuple[FakeIndexer, str]) -> None:
    venue, url = indexer
    sink = ListSink()
    stream = DydxStream(
        sink,
        ["BTC-USD", "BTC-USD", "BTC-USDC"],
        ws_url=url,
        policy=fast_policy(0.2),
        subscribe_interval_s=0.01,
        status_interval_s=0.02,
    )
    task = asyncio.create_task(stream.run())
    await eventually(lambda: stream.acks == 2 and len(sink.liquidations) == 1)
    assert venue.received[0] == [
        {"type": "subscribe", "channel": "v4_markets"},
        {"type": "subscribe", "channel": "v4_trades", "id": "BTC-USD"},
    ]
    assert [r.native for r in sink.funding[0]] == ["BTC-USD", "ETH-USD"]
    assert [liq.side for liq in sink.liquidations[0]] == ["short", "long"]

    await venue.push(
        (DYDX / "docs_v4_markets_channel_data_1.json").read_text(),
        "not json",
        json.dumps(
            {
                "type": "channel_data",
                "channel": "v4_markets",
                "contents": {"trading": {"BTC-USD": {"openInterest": []}}},
            }
        ),
        json.dumps({"type": "error", "message": "Invalid subscribe message", "connection_id": "c", "message_id": 9}),
    )
    await eventually(lambda: len(sink.funding) == 2 and stream.malformed == 2 and stream.channel_errors == 1)
    assert [(r.native, r.rate) for r in sink.funding[1]] == [("BTC-USD", 0.00006821875), ("ETH-USD", 0.00007478125)]
    await eventually(lambda: sink.statuses[-1].malformed == 2)

    assert venue.current is not None
    await venue.current.close(code=1001, reason="going away")
    await eventually(lambda: venue.connections == 2 and stream.acks == 4)
    await eventually(lambda: len(sink.funding) == 3)
    assert sink.funding[2][0].rate == 0.0  # the book was reloaded from the new snapshot
    fresh = trades_message()
    fresh["contents"]["trades"].insert(
        0,
        {
            "id": "t-4",
            "size": "1",
            "price": "27000",
            "side": "SELL",
            "createdAt": "2023-04-04T00:30:00Z",
            "type": "LIQUIDATED",
        },
    )
    await venue.push(json.dumps(fresh))
    await eventually(lambda: len(sink.liquidations) == 2)
    # the re-sent subscribed trades and the repeated ids add nothing: only the new one
    assert [(liq.side, liq.price) for liq in sink.liquidations[1]] == [("long", 27000.0)]
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
    assert all(s.feed == "dydx/ws" for s in sink.statuses)


async def test_stream_silence_watchdog_reconnects(indexer: tuple[FakeIndexer, str]) -> None:
    venue, url = indexer
    sink = ListSink()
    stream = DydxStream(
        sink,
        [],
        ws_url=url,
        policy=fast_policy(0.2),
        ping_interval_s=5.0,
        silence_timeout_s=0.3,
        subscribe_interval_s=0.0,
    )
    task = asyncio.create_task(stream.run())
    await eventually(lambda: venue.connections >= 2)
    retrying = [s for s in sink.statuses if s.state is FeedState.RETRYING]
    assert retrying and "no data" in retrying[0].detail
    await stream.stop()
    await asyncio.wait_for(task, 5)


async def test_stream_app_ping_when_idle(indexer: tuple[FakeIndexer, str]) -> None:
    venue, url = indexer
    sink = ListSink()
    stream = DydxStream(
        sink,
        [],
        ws_url=url,
        policy=fast_policy(0.2),
        ping_interval_s=0.1,
        silence_timeout_s=1.0,
        subscribe_interval_s=0.0,
    )
    task = asyncio.create_task(stream.run())
    await eventually(lambda: stream.pongs >= 2)
    assert venue.connections == 1 and {"type": "ping"} in venue.received[0]
    await stream.stop()
    await asyncio.wait_for(task, 5)
