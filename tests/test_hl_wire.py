"""Hyperliquid wire parsing against the fixtures of ``tests/fixtures``, malformed frames and decode cost."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pfterm.core.market.models import (
    AssetCtx,
    BookLevel,
    BookSnapshot,
    FundingPoint,
    MarketInfo,
    PredictedFunding,
    Side,
    Trade,
)
from pfterm.core.venues.hyperliquid.wire import (
    WELCOME_TEXT,
    AllMids,
    ChannelError,
    MalformedFrame,
    Pong,
    SubscriptionAck,
    WireFormatError,
    decode_ws_frame,
    parse_all_mids,
    parse_asset_ctxs,
    parse_funding_history,
    parse_l2_book,
    parse_meta,
    parse_meta_and_asset_ctxs,
    parse_predicted_fundings,
    parse_trades,
)
from tests.fixture_files import FIXTURES

HL = FIXTURES / "hyperliquid"


def load_bytes(name: str) -> bytes:
    return (HL / name).read_bytes()


def load(name: str) -> Any:
    return json.loads(load_bytes(name))


def frame(channel: str, data: Any) -> bytes:
    return json.dumps({"channel": channel, "data": data}, separators=(",", ":")).encode()


# ------------------------------------------------------------------ parser tests by fixture


def check_meta_and_asset_ctxs(raw: bytes) -> None:
    markets, ctxs = parse_meta_and_asset_ctxs(raw)
    assert len(markets) == len(ctxs) == 227
    assert sum(m.delisted for m in markets) == 38
    assert sum(m.only_isolated for m in markets) == 9
    assert [m.asset_id for m in markets] == list(range(227))
    assert all(m.venue == "hyperliquid" for m in markets)
    btc, btc_ctx = markets[0], ctxs[0]
    assert btc == MarketInfo("hyperliquid", "BTC", 0, 5, 40)
    assert btc_ctx == AssetCtx(
        symbol="BTC",
        mark_px=91029.0,
        oracle_px=91091.0,
        mid_px=91026.5,
        funding=-0.000025387,
        funding_interval_h=1.0,
        premium=-0.0006674644,
        open_interest=33193.39724,
        prev_day_px=92661.0,
        day_ntl_vlm=2621135493.3779191971,
        impact_bid=91026.0,
        impact_ask=91030.2,
    )
    assert btc_ctx.open_interest_usd == pytest.approx(33193.39724 * 91091.0)
    by_symbol = {m.symbol: (m, c) for m, c in zip(markets, ctxs, strict=False)}
    eth, eth_ctx = by_symbol["ETH"]
    assert (eth.asset_id, eth.sz_decimals, eth.max_leverage) == (1, 4, 25)
    assert eth_ctx.mark_px == 3124.4 and eth_ctx.open_interest == 965550.1860000001
    kpepe = by_symbol["kPEPE"][1]
    assert kpepe.oracle_px == 0.005174 and kpepe.open_interest == 3498081254.0
    mega = by_symbol["MEGA"][0]
    assert mega.only_isolated and not mega.delisted and mega.max_leverage == 3
    hpos, hpos_ctx = by_symbol["HPOS"]
    assert hpos.delisted and hpos.only_isolated
    assert hpos_ctx.premium is None and hpos_ctx.mid_px is None
    assert hpos_ctx.impact_bid is None and hpos_ctx.impact_ask is None
    assert hpos_ctx.funding == 0.0 and hpos_ctx.open_interest == 0.0 and hpos_ctx.mark_px == 0.041873
    for market, ctx in zip(markets, ctxs, strict=False):
        assert ctx is not None and ctx.symbol == market.symbol
        if not market.delisted:
            assert ctx.premium is not None and ctx.mid_px is not None and ctx.impact_bid is not None


def check_meta_perp_sample(raw: bytes) -> None:
    markets = parse_meta(raw)
    assert [(m.symbol, m.asset_id, m.sz_decimals, m.max_leverage) for m in markets] == [
        ("BTC", 0, 5, 40),
        ("ETH", 1, 4, 25),
        ("ATOM", 2, 2, 5),
    ]
    assert not any(m.delisted or m.only_isolated for m in markets)  # null flags


def check_sdk_meta(raw: bytes) -> None:
    markets = parse_meta(raw)
    assert len(markets) == 28
    assert markets[15] == MarketInfo("hyperliquid", "kPEPE", 15, 0, 50)
    assert markets[-1].symbol == "APT" and markets[-1].sz_decimals == 2


def check_ws_allmids(raw: bytes) -> None:
    msg = decode_ws_frame(raw)
    assert isinstance(msg, AllMids)
    assert msg.mids == {"@142": 80907.5, "BTC": 80868.5, "ETH": 2296.45, "SOL": 94.8775, "PURR/USDC": 0.067131}


def check_sdk_allmids(raw: bytes) -> None:
    mids = parse_all_mids(raw)
    assert len(mids) == 28
    assert mids["BTC"] == 30135.0 and mids["kPEPE"] == 0.001565


def check_l2_book_btc(raw: bytes) -> None:
    book = parse_l2_book(raw)
    assert book.symbol == "BTC" and book.time_ms == 1761786491067
    assert book.bids[0] == BookLevel(110427.0, 4.11882, 0)
    assert book.asks[0] == BookLevel(110428.0, 3.72573, 0)
    assert len(book.bids) == len(book.asks) == 5
    assert [lv.px for lv in book.bids] == sorted((lv.px for lv in book.bids), reverse=True)
    assert [lv.px for lv in book.asks] == sorted(lv.px for lv in book.asks)


def check_l2_book_snapshot(raw: bytes) -> None:
    book = parse_l2_book(raw)
    assert book.time_ms == 1703875200000
    assert book.bids[0] == BookLevel(98450.5, 2.5, 0)  # no ``n`` on the wire
    assert book.asks[-1] == BookLevel(98454.0, 2.8, 0)


def check_ws_book_data(raw: bytes) -> None:
    book = parse_l2_book(raw)
    assert book.bids[0] == BookLevel(98450.5, 2.5, 3)
    framed = decode_ws_frame(frame("l2Book", json.loads(raw)))
    assert framed == book


def check_sdk_l2_book(raw: bytes) -> None:
    book = parse_l2_book(raw)
    assert book.symbol == "DYDX" and book.time_ms == 1689630203930
    assert len(book.bids) == len(book.asks) == 20
    assert book.bids[0] == BookLevel(2.111, 134.4, 1)
    assert book.asks[0] == BookLevel(2.1124, 352.3, 2)
    assert book.bids[-1] == BookLevel(1.81, 2397.0, 1)


def check_http_funding_history(raw: bytes) -> None:
    points = parse_funding_history(raw)
    assert points == [
        FundingPoint("BTC", 1769908800000, 0.0000125, 1.0, 0.00029005),
        FundingPoint("BTC", 1769912400000, -0.0000081, 1.0, -0.000125),
        FundingPoint("BTC", 1769916000000, 0.0000033, 1.0, None),
    ]


def check_sdk_funding_with_end(raw: bytes) -> None:
    points = parse_funding_history(raw)
    assert len(points) == 34
    assert points[0] == FundingPoint("BTC", 1683849600048, -0.00061334, 1.0, -0.00091334)
    assert points[-1].time_ms == 1684800000022 and points[-1].rate == -0.00018991


def check_sdk_funding_without_end(raw: bytes) -> None:
    points = parse_funding_history(raw)
    assert len(points) == 1038
    assert all(a.time_ms < b.time_ms for a, b in zip(points, points[1:], strict=False))
    assert points[-1] == FundingPoint("BTC", 1689627600065, 0.0000125, 1.0, 0.00007028)


def check_all_dexs_asset_ctxs(raw: bytes) -> None:
    doc = json.loads(raw)
    assert doc["channel"] == "allDexsAssetCtxs"
    dexes = dict((name, ctxs) for name, ctxs in doc["data"]["ctxs"])
    meta_names = [u["name"] for u in load("metaAndAssetCtxs.mainnet.json")[0]["universe"]]
    main = parse_asset_ctxs(dexes[""], meta_names)
    assert len(main) == 230
    assert main[0] is not None and main[0].symbol == "BTC"
    assert main[0].mark_px == 77562.0 and main[0].funding == -0.0000015186
    assert main[0].impact_bid == 77558.0 and main[0].impact_ask == 77559.0
    assert main[-1] is not None and main[-1].symbol == ""  # listed after the meta snapshot
    nulls = [c for c in main if c is not None and c.premium is None]
    assert nulls and all(c.mid_px is None for c in nulls)
    for name, ctxs in dexes.items():  # HIP-3 dexes share the ctx shape
        assert len(parse_asset_ctxs(ctxs, [])) == len(ctxs), name


def check_recent_trades(raw: bytes) -> None:
    trades = parse_trades(raw)
    assert [t.tid for t in trades] == [300001, 300002, 300003]  # oldest first
    assert trades[0] == Trade("BTC", Side.SELL, 104300.0, 0.005, 1769916000000, 300001)
    assert trades[1].side is Side.BUY


PARSER_CHECKS: dict[str, Callable[[bytes], None]] = {
    "metaAndAssetCtxs.mainnet.json": check_meta_and_asset_ctxs,
    "http_meta_perp_sample.json": check_meta_perp_sample,
    "ws_allmids.json": check_ws_allmids,
    "http_l2_book_btc.json": check_l2_book_btc,
    "http_l2_book_snapshot.json": check_l2_book_snapshot,
    "ws_book_data.json": check_ws_book_data,
    "http_funding_history.json": check_http_funding_history,
    "http_recent_trades_btc.json": check_recent_trades,
    "ws_all_dexs_asset_ctxs.json": check_all_dexs_asset_ctxs,
    "sdk_cassettes/meta.json": check_sdk_meta,
    "sdk_cassettes/allMids.json": check_sdk_allmids,
    "sdk_cassettes/l2Book_DYDX.json": check_sdk_l2_book,
    "sdk_cassettes/fundingHistory_BTC_with_end_time.json": check_sdk_funding_with_end,
    "sdk_cassettes/fundingHistory_BTC_without_end_time.json": check_sdk_funding_without_end,
}

# User and trading data (fills, positions, orders, balances, ledger, signing vectors, exchange
# answers and errors). These are parsed by the trading layer, not by the market-data adapter.
TRADING_FIXTURES = frozenset(
    {
        "ccxt_createOrderWithTakeProfitAndStopLoss_1.json",
        "ccxt_createOrder_1.json",
        "ccxt_fetchBalance_1.json",
        "ccxt_fetchMyTrades_1.json",
        "ccxt_fetchMyTrades_2.json",
        "ccxt_fetchPositions_1.json",
        "ccxt_fetchPositions_2.json",
        "ccxt_fetchPositions_3.json",
        "ccxt_fetchPositions_4.json",
        "exchange_error_messages.json",
        "http_frontend_open_orders.json",
        "http_historical_order_liquidation_market.json",
        "http_order_status_frontend_market.json",
        "http_spot_clearinghouse_state.json",
        "http_user_fills.json",
        "http_user_fills_dust_conversion.json",
        "http_user_fills_with_cloid.json",
        "signing_vectors.json",
        "signing_vectors_extra.json",
        "ws_user_fill_liquidation.json",
        "ws_user_twap_history.json",
        "ws_user_twap_slice_fills.json",
        "sdk_cassettes/clearinghouseState.json",
        "sdk_cassettes/extraAgents.json",
        "sdk_cassettes/frontendOpenOrders.json",
        "sdk_cassettes/historicalOrders.json",
        "sdk_cassettes/openOrders.json",
        "sdk_cassettes/portfolio.json",
        "sdk_cassettes/userFills.json",
        "sdk_cassettes/userFillsByTime.json",
        "sdk_cassettes/userFunding_with_end_time.json",
        "sdk_cassettes/userFunding_without_end_time.json",
        "sdk_cassettes/userNonFundingLedgerUpdates_with_end_time.json",
        "sdk_cassettes/userNonFundingLedgerUpdates_without_end_time.json",
        "sdk_cassettes/userRateLimit.json",
        "sdk_cassettes/userRole.json",
        "sdk_cassettes/userTwapSliceFills.json",
        "sdk_cassettes/userVaultEquities.json",
        "sdk_cassettes/delegatorHistory.json",
    }
)

# Files that are neither market data pfterm consumes nor trading data, with the reason.
OTHER_FIXTURES = {
    "sdk_cassettes/index.json": "index of the cassette folder, not a payload",
    "sdk_cassettes/candleSnapshot_kPEPE_1h.json": "candles are not used by pfterm",
    "http_outcome_meta.json": "prediction-outcome markets are not perpetuals",
}


def all_fixture_files() -> list[str]:
    return sorted(str(p.relative_to(HL)) for p in HL.rglob("*") if p.is_file() and p.suffix != ".md")


def test_every_fixture_is_accounted_for() -> None:
    files = set(all_fixture_files())
    known = set(PARSER_CHECKS) | TRADING_FIXTURES | set(OTHER_FIXTURES)
    assert files - known == set(), "new Hyperliquid fixture: add a parser test or list it"
    assert known - files == set(), "listed fixture no longer exists"
    assert not (set(PARSER_CHECKS) & TRADING_FIXTURES)


@pytest.mark.parametrize("name", sorted(PARSER_CHECKS))
def test_parse_fixture(name: str) -> None:
    PARSER_CHECKS[name](load_bytes(name))


def test_parsers_accept_decoded_values() -> None:
    markets, ctxs = parse_meta_and_asset_ctxs(load("metaAndAssetCtxs.mainnet.json"))
    assert len(markets) == 227 and ctxs[0] is not None and ctxs[0].mark_px == 91029.0
    assert parse_l2_book(load("http_l2_book_btc.json")).time_ms == 1761786491067


# ------------------------------------------------------------------ synthetic edge cases


def test_stringified_ints_are_accepted() -> None:
    raw = {"universe": [{"name": "X", "szDecimals": "2", "maxLeverage": "50", "isDelisted": True}]}
    assert parse_meta(raw) == [MarketInfo("hyperliquid", "X", 0, 2, 50, False, True)]
    book = parse_l2_book({"coin": "X", "time": "1709652410317", "levels": [[{"px": 1, "sz": "2", "n": "3"}], []]})
    assert book == BookSnapshot("X", 1709652410317, (BookLevel(1.0, 2.0, 3),), ())


def test_meta_and_ctxs_with_fewer_or_null_ctxs() -> None:
    meta = {
        "universe": [{"name": "A", "szDecimals": 1, "maxLeverage": 3}, {"name": "B", "szDecimals": 1, "maxLeverage": 3}]
    }
    markets, ctxs = parse_meta_and_asset_ctxs([meta, [None]])
    assert len(markets) == 2 and ctxs == [None, None]
    with pytest.raises(WireFormatError):
        parse_meta_and_asset_ctxs([{"universe": []}, [None]])


def test_predicted_fundings() -> None:
    raw = [
        [
            "BTC",
            [
                ["BinPerp", {"fundingRate": "0.0001", "nextFundingTime": 1733961600000}],
                ["HlPerp", {"fundingRate": "0.0000125", "nextFundingTime": 1733958000000}],
                ["BybitPerp", {"fundingRate": "0.0001", "nextFundingTime": 1733961600000, "fundingIntervalHours": 4}],
            ],
        ],
        ["NEW", [["BinPerp", None], ["HlPerp", {"fundingRate": "-0.0002", "nextFundingTime": "1733958000000"}]]],
    ]
    assert parse_predicted_fundings(json.dumps(raw)) == [
        PredictedFunding("BTC", "BinPerp", 0.0001, 8.0, 1733961600000),
        PredictedFunding("BTC", "HlPerp", 0.0000125, 1.0, 1733958000000),
        PredictedFunding("BTC", "BybitPerp", 0.0001, 4.0, 1733961600000),
        PredictedFunding("NEW", "HlPerp", -0.0002, 1.0, 1733958000000),
    ]
    with pytest.raises(WireFormatError):
        parse_predicted_fundings([["BTC", [["HlPerp", {"fundingRate": "x", "nextFundingTime": 1}]]]])


def test_funding_history_is_sorted_oldest_first() -> None:
    rows = [
        {"coin": "ETH", "fundingRate": "0.00002", "time": 1_791_000_000_002},
        {"coin": "ETH", "fundingRate": "0.00001", "premium": "0.0001", "time": 1_791_000_000_001},
    ]
    assert [p.time_ms for p in parse_funding_history(rows)] == [1_791_000_000_001, 1_791_000_000_002]


# ------------------------------------------------------------------ WebSocket frames


def ctx_frames() -> list[bytes]:
    meta, ctxs = load("metaAndAssetCtxs.mainnet.json")
    return [
        json.dumps({"channel": "activeAssetCtx", "data": {"coin": u["name"], "ctx": c}}, separators=(",", ":")).encode()
        for u, c in zip(meta["universe"], ctxs, strict=False)
    ]


def test_decode_active_asset_ctx_frames_match_rest_parse() -> None:
    frames = ctx_frames()
    _markets, rest_ctxs = parse_meta_and_asset_ctxs(load_bytes("metaAndAssetCtxs.mainnet.json"))
    decoded = [decode_ws_frame(f) for f in frames]
    assert decoded == rest_ctxs
    assert decode_ws_frame(frames[0].decode()) == rest_ctxs[0]  # str input


def test_decode_other_channels() -> None:
    assert decode_ws_frame(b'{"channel":"pong"}') == Pong()
    ack = decode_ws_frame(frame("subscriptionResponse", {"method": "subscribe", "subscription": {"type": "allMids"}}))
    assert ack == SubscriptionAck("subscribe", {"type": "allMids"})
    err = decode_ws_frame(frame("error", 'Invalid subscription {"type":"l2Book","coin":"NOPE"}'))
    assert err == ChannelError('Invalid subscription {"type":"l2Book","coin":"NOPE"}')
    trades = decode_ws_frame(
        frame(
            "trades",
            [
                {
                    "coin": "SOL",
                    "side": "B",
                    "px": "94.5",
                    "sz": "3.1",
                    "hash": "0x",
                    "time": 1_791_000_000_010,
                    "tid": 7,
                    "users": ["a", "b"],
                },
                {
                    "coin": "SOL",
                    "side": "A",
                    "px": "94.4",
                    "sz": "1",
                    "hash": "0x",
                    "time": 1_791_000_000_011,
                    "tid": 8,
                    "users": ["a", "b"],
                },
            ],
        )
    )
    assert trades == [
        Trade("SOL", Side.BUY, 94.5, 3.1, 1_791_000_000_010, 7),
        Trade("SOL", Side.SELL, 94.4, 1.0, 1_791_000_000_011, 8),
    ]


GOOD_CTX = {
    "funding": "0.0000125",
    "openInterest": "10.5",
    "prevDayPx": "1.0",
    "dayNtlVlm": "100.0",
    "premium": "0.0001",
    "oraclePx": "1.01",
    "markPx": "1.02",
    "midPx": "1.015",
    "impactPxs": ["1.01", "1.02"],
    "dayBaseVlm": "99.0",
}


def ctx_frame(**changes: Any) -> bytes:
    ctx = dict(GOOD_CTX)
    for key, value in changes.items():
        if value is ...:
            del ctx[key]
        else:
            ctx[key] = value
    return frame("activeAssetCtx", {"coin": "X", "ctx": ctx})


def test_good_ctx_frame_decodes() -> None:
    ctx = decode_ws_frame(ctx_frame())
    assert isinstance(ctx, AssetCtx) and ctx.mark_px == 1.02 and ctx.impact_ask == 1.02
    assert decode_ws_frame(ctx_frame(premium=None, midPx=..., impactPxs=None)).premium is None


@pytest.mark.parametrize(
    ("data", "reason_part"),
    [
        (b"not json at all", "invalid JSON"),
        (WELCOME_TEXT.encode(), "invalid JSON"),
        (b'{"channel":"bogus","data":{}}', "unknown channel"),
        (b'{"data":{}}', "no channel"),
        (b"[1,2,3]", ""),
        (b'"pong"', ""),
        (b"", "invalid JSON"),
        (b'{"channel":"activeAssetCtx"}', "coin"),
        (frame("activeAssetCtx", {"ctx": GOOD_CTX}), "coin"),
        (ctx_frame(markPx=...), "markPx"),
        (ctx_frame(funding="abc"), "funding"),
        (ctx_frame(funding=""), "funding"),
        (ctx_frame(funding=True), "funding"),
        (ctx_frame(funding=None), "funding"),
        (ctx_frame(oraclePx="NaN"), "oraclePx"),
        (ctx_frame(openInterest="inf"), "openInterest"),
        (ctx_frame(midPx="1.0.0"), "midPx"),
        (ctx_frame(impactPxs=["1.0", "x"]), "impactPxs"),
        (frame("activeAssetCtx", {"coin": 5, "ctx": GOOD_CTX}), "coin"),
        (frame("allMids", {"mids": ["BTC", "x"]}), "mids"),
        (frame("allMids", {}), "mids"),
        (
            frame("trades", [{"coin": "X", "side": "Q", "px": "1", "sz": "1", "time": 1_791_000_000_001, "tid": 1}]),
            "side",
        ),
        (frame("trades", {"coin": "X"}), "data"),
        (frame("l2Book", {"coin": "X", "time": 1_791_000_000_001, "levels": [[{"px": "1"}], []]}), "sz"),
        (frame("l2Book", {"coin": "X", "time": "soon", "levels": [[], []]}), "time"),
        (frame("l2Book", {"coin": "X", "time": 0, "levels": [[], []]}), "time"),
        (frame("l2Book", {"coin": "X", "time": 10**400, "levels": [[], []]}), "time"),
        (frame("trades", [{"coin": "X", "side": "B", "px": "1", "sz": "1", "time": -5, "tid": 1}]), "time"),
        (frame("subscriptionResponse", "ok"), ""),
    ],
)
def test_malformed_frames_raise_one_exception_type(data: bytes, reason_part: str) -> None:
    with pytest.raises(MalformedFrame) as info:
        decode_ws_frame(data)
    reason = info.value.reason
    assert reason and "\n" not in reason and len(reason) <= 160
    assert reason_part in reason


def test_malformed_reason_never_echoes_payload() -> None:
    secret_like = "0x" + "ab" * 32
    with pytest.raises(MalformedFrame) as info:
        decode_ws_frame(ctx_frame(funding=secret_like))
    assert secret_like not in str(info.value)


@pytest.mark.parametrize("bad", ['"x"', '"-1"', '"0"', '"1_000"', '" 12 "', '"NaN"', "null", "true", "9" * 401])
def test_one_bad_mid_drops_only_its_coin(bad: str) -> None:
    mids = '{"BTC":"91000.5","ETH":' + bad + ',"@142":"1.5"}'
    text = '{"channel":"allMids","data":{"mids":' + mids + "}}"
    msg = decode_ws_frame(text)
    assert isinstance(msg, AllMids)
    assert msg.mids == {"BTC": 91000.5, "@142": 1.5}
    assert msg.rejected == 1 and msg.reason.startswith("mids.ETH:")
    assert parse_all_mids(mids) == {"BTC": 91000.5, "@142": 1.5}


def test_a_clean_all_mids_frame_rejects_nothing() -> None:
    msg = decode_ws_frame(frame("allMids", {"mids": {"BTC": "91000.5"}}))
    assert isinstance(msg, AllMids) and msg.rejected == 0 and msg.reason == ""
