"""Venue numbers are validated before they reach any state: strict decimal syntax, ranges no
venue can leave (prices > 0, OI ≥ 0, funding within the cap, sane timestamps), one bad market
never costs the good ones, one bad record never poisons the next. Frames are real fixtures
with one field changed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pfterm.core.market.clock import VenueClock
from pfterm.core.market.models import AssetCtx
from pfterm.core.venues import numbers
from pfterm.core.venues.binance.market import parse_mark_price_frame, parse_premium_index
from pfterm.core.venues.bybit.market import TickerBook, parse_tickers
from pfterm.core.venues.dydx.market import DydxFormatError, MarketsBook, parse_perpetual_markets
from pfterm.core.venues.hyperliquid.wire import (
    MalformedFrame,
    WireFormatError,
    decode_ws_frame,
    parse_l2_book,
    parse_meta_and_asset_ctxs,
)
from pfterm.core.venues.okx.market import OkxFormatError
from pfterm.core.venues.okx.market import parse_funding_rate as okx_parse_funding_rate
from pfterm.core.venues.okx.market import parse_open_interest as okx_parse_open_interest
from pfterm.core.venues.wsbase import WireError, int_field, num

FIX = Path(__file__).parent / "fixtures"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

BAD_TEXTS = ["1_000", " 12 ", "１２３", "١٢٣", "NaN", "nan", "inf", "-Infinity", "1e999", "", "+-1", "1.2.3", "0x10"]


def hl_meta_and_ctxs() -> list[Any]:
    return json.loads((FIX / "hyperliquid" / "metaAndAssetCtxs.mainnet.json").read_text())


def hl_ctx_frame(**changes: Any) -> bytes:
    """An ``activeAssetCtx`` frame with the fixture's first market ctx, ``changes`` applied."""
    meta, ctxs = hl_meta_and_ctxs()
    ctx = {**ctxs[0], **changes}
    return json.dumps({"channel": "activeAssetCtx", "data": {"coin": meta["universe"][0]["name"], "ctx": ctx}}).encode()


# ------------------------------------------------------------------ strict decimal syntax


@pytest.mark.parametrize("text", BAD_TEXTS)
def test_decimal_refuses_everything_but_plain_ascii_decimals(text: str) -> None:
    with pytest.raises(ValueError):
        numbers.decimal(text)
    with pytest.raises(WireError):
        num({"p": text}, "p", "test")


@pytest.mark.parametrize("value", [True, None, 10**400, float("nan"), float("inf"), [1], {"a": 1}])
def test_decimal_refuses_non_numbers_and_non_finite(value: Any) -> None:
    with pytest.raises(ValueError):
        numbers.decimal(value)


@pytest.mark.parametrize(
    ("value", "expected"), [("50000", 50000.0), ("-0.0001", -0.0001), ("1e-5", 1e-5), (".5", 0.5), (3, 3.0)]
)
def test_decimal_accepts_what_venues_send(value: Any, expected: float) -> None:
    assert numbers.decimal(value) == expected


@pytest.mark.parametrize("text", ["1_000", " 12 ", "１２３", "١٢٣", "1.5", "", str(10**400)])
def test_int_field_is_strict(text: str) -> None:
    with pytest.raises(WireError):
        int_field({"E": text}, "E", "test")
    assert int_field({"E": "1767225600000"}, "E", "test") == T0


@pytest.mark.parametrize("text", ["1_000", " 12 ", "１２３", "١٢٣", "NaN", "inf"])
def test_hyperliquid_frames_refuse_loose_number_syntax(text: str) -> None:
    with pytest.raises(MalformedFrame):
        decode_ws_frame(hl_ctx_frame(markPx=text))


# ------------------------------------------------------------------ Hyperliquid ranges


@pytest.mark.parametrize(
    "changes",
    [
        {"markPx": "-50001"},
        {"oraclePx": "-50000"},
        {"openInterest": "-1000"},
        {"markPx": "0"},
        {"midPx": "-1"},
        {"funding": "-5"},
        {"funding": "0.0401"},
        {"impactPxs": ["-1", "2"]},
    ],
)
def test_hyperliquid_ctx_out_of_range_is_malformed_and_never_stored(changes: dict[str, Any]) -> None:
    with pytest.raises(MalformedFrame):
        decode_ws_frame(hl_ctx_frame(**changes))


def test_hyperliquid_ctx_at_the_cap_is_kept() -> None:
    ctx = decode_ws_frame(hl_ctx_frame(funding="-0.04", openInterest="0"))
    assert isinstance(ctx, AssetCtx) and ctx.funding == -0.04


def test_hyperliquid_snapshot_keeps_every_good_market() -> None:
    raw = hl_meta_and_ctxs()
    bad = copy.deepcopy(raw)
    bad[1][6]["funding"] = "NaN"
    bad[1][7]["markPx"] = "-1"
    rejected: list[str] = []
    markets, ctxs = parse_meta_and_asset_ctxs(bad, rejected=rejected)
    good_markets, good_ctxs = parse_meta_and_asset_ctxs(raw)
    assert markets == good_markets
    assert ctxs[6] is None and ctxs[7] is None
    assert [c for i, c in enumerate(ctxs) if i not in (6, 7)] == [c for i, c in enumerate(good_ctxs) if i not in (6, 7)]
    assert [r.split(":")[0] for r in rejected] == ["6", "7"]


def test_hyperliquid_snapshot_with_a_broken_meta_still_fails() -> None:
    bad = hl_meta_and_ctxs()
    bad[0]["universe"][0]["szDecimals"] = "x"
    with pytest.raises(WireFormatError):
        parse_meta_and_asset_ctxs(bad)


def test_hyperliquid_book_with_negative_price_is_malformed() -> None:
    book = json.loads((FIX / "hyperliquid" / "http_l2_book_btc.json").read_text())
    book["levels"][0][0]["px"] = "-110427.0"
    with pytest.raises(WireFormatError):
        parse_l2_book(book)


# ------------------------------------------------------------------ venue clock


@pytest.mark.parametrize("value", [0, -1, 10**400, 4 * 10**15, float("inf"), float("nan"), 1.5e12 + 0.5, True])
def test_venue_clock_refuses_absurd_times_without_raising(value: Any) -> None:
    clock = VenueClock(rate=1.0, mono=lambda: 0.0, wall_ms=lambda: T0)
    assert clock.observe(value) is False
    assert clock.now_ms() == T0 and clock.rejected == 1
    assert clock.observe(T0 + 5000) is True
    assert clock.now_ms() == T0 + 5000


def test_l2_book_time_zero_never_reaches_the_book_or_the_venue_clock() -> None:
    book = json.loads((FIX / "hyperliquid" / "http_l2_book_btc.json").read_text())
    book["time"] = 0
    with pytest.raises(WireFormatError, match="time"):
        parse_l2_book(book)
    clock = VenueClock(rate=1.0, mono=lambda: 0.0, wall_ms=lambda: T0)
    clock.observe(0)  # and the clock refuses it on its own as well
    assert clock.now_ms() == T0


# ------------------------------------------------------------------ dYdX


def dydx_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIX / "dydx" / name).read_text())


def oracle_update(ticker: str, price: str) -> dict[str, Any]:
    """The recorded ``channel_data`` message carrying an oracle price instead of trading fields."""
    msg = dydx_fixture("docs_v4_markets_channel_data_1.json")
    msg["contents"] = {"oraclePrices": {ticker: {"oraclePrice": price}}}
    return msg


def test_dydx_snapshot_with_an_empty_field_keeps_the_good_market_and_later_updates() -> None:
    snap = dydx_fixture("docs_v4_markets_subscribed.json")
    snap["contents"]["markets"]["ETH-USD"]["openInterest"] = ""
    book = MarketsBook()
    records = book.apply(snap, T0)
    assert [r.native for r in records] == ["BTC-USD"]
    assert len(book.rejected) == 1 and "openInterest" in book.rejected[0]
    for i in range(10):
        got = book.apply(oracle_update("BTC-USD", f"{60000 + i}.5"), T0)
        assert [(r.native, r.mark_px) for r in got] == [("BTC-USD", 60000 + i + 0.5)]


@pytest.mark.parametrize("price", ["", "-1", "0", "NaN", "1_000"])
def test_dydx_bad_update_changes_nothing_and_the_next_is_taken(price: str) -> None:
    book = MarketsBook()
    book.apply(dydx_fixture("docs_v4_markets_subscribed.json"), T0)
    before = copy.deepcopy(book.markets)
    msg = oracle_update("BTC-USD", "61000")
    msg["contents"]["oraclePrices"]["ETH-USD"] = {"oraclePrice": price}
    with pytest.raises(DydxFormatError):
        book.apply(msg, T0)
    assert book.markets == before
    assert [r.mark_px for r in book.apply(oracle_update("BTC-USD", "61000"), T0)] == [61000.0]


def test_dydx_rest_snapshot_keeps_good_markets() -> None:
    raw = dydx_fixture("docs_v4_markets_subscribed.json")["contents"]
    raw["markets"]["BTC-USD"]["nextFundingRate"] = "-5"
    rejected: list[str] = []
    assert [r.native for r in parse_perpetual_markets(raw, T0, rejected=rejected)] == ["ETH-USD"]
    assert len(rejected) == 1


# ------------------------------------------------------------------ Bybit


def bybit_snapshot() -> dict[str, Any]:
    return json.loads((FIX / "bybit" / "docs_tickers_linear_snapshot.json").read_text())


def bybit_delta(**fields: Any) -> dict[str, Any]:
    """The first recorded delta, re-timed after the snapshot, carrying ``fields`` instead."""
    snap = bybit_snapshot()
    line = (FIX / "bybit" / "ws_tickers_delta.recorded.jsonl").read_text().splitlines()[0]
    msg = json.loads(line)
    msg["data"] = {"symbol": snap["data"]["symbol"], **fields}
    msg["ts"] = snap["ts"] + 1000
    return msg


def test_bybit_bad_delta_changes_nothing_and_the_next_ten_are_taken() -> None:
    snap = bybit_snapshot()
    now = snap["ts"] + 60_000
    book = TickerBook()
    assert book.apply(snap, now)
    before = book.fields("BTCUSDT")
    with pytest.raises(WireError):
        book.apply(bybit_delta(fundingRate="", indexPrice="not-a-number"), now)
    assert book.fields("BTCUSDT") == before
    for i in range(10):
        rate = f"0.0000{i + 1}"
        (record,) = book.apply(bybit_delta(fundingRate=rate), now)
        assert record.rate == float(rate)


@pytest.mark.parametrize(
    "fields", [{"markPrice": "-1"}, {"indexPrice": "0"}, {"fundingRate": "-5"}, {"singleOpenInterest": "-3"}]
)
def test_bybit_out_of_range_delta_is_refused(fields: dict[str, Any]) -> None:
    snap = bybit_snapshot()
    book = TickerBook()
    book.apply(snap, snap["ts"])
    with pytest.raises(WireError):
        book.apply(bybit_delta(**fields), snap["ts"] + 1000)


def test_bybit_far_future_ts_is_refused_and_later_updates_are_taken() -> None:
    snap = bybit_snapshot()
    now = snap["ts"] + 60_000
    book = TickerBook()
    book.apply(snap, now)
    future = bybit_delta(fundingRate="0.0001")
    future["ts"] = 4 * 10**15
    with pytest.raises(WireError):
        book.apply(future, now)
    (record,) = book.apply(bybit_delta(fundingRate="0.0002"), now)
    assert record.time_ms == snap["ts"] + 1000 and record.rate == 0.0002


def test_bybit_rest_tickers_keep_good_markets() -> None:
    snap = bybit_snapshot()
    good = {**snap["data"]}
    bad = {**snap["data"], "symbol": "ETHUSDT", "markPrice": "NaN"}
    body = {"retCode": 0, "result": {"list": [good, bad]}, "time": snap["ts"]}
    assert [r.native for r in parse_tickers(body, snap["ts"])] == ["BTCUSDT"]


# ------------------------------------------------------------------ Binance


def binance_arr() -> list[dict[str, Any]]:
    return json.loads((FIX / "binance" / "ws_markPrice_arr.recorded.json").read_text())


@pytest.mark.parametrize(
    "changes", [{"p": "-50001"}, {"p": "0"}, {"i": "-1"}, {"r": "-5"}, {"E": 4 * 10**15}, {"E": 0}, {"p": "1_000"}]
)
def test_binance_bad_item_is_dropped_alone(changes: dict[str, Any]) -> None:
    arr = binance_arr()
    now = arr[0]["E"] + 1000
    arr[0].update(changes)
    rejected: list[str] = []
    records = parse_mark_price_frame(arr, {}, now_ms=now, rejected=rejected)
    assert [r.native for r in records] == [item["s"] for item in arr[1:]]
    assert len(rejected) == 1


def test_binance_far_future_event_time_never_blocks_later_updates() -> None:
    arr = binance_arr()
    now = arr[0]["E"] + 1000
    future = copy.deepcopy(arr[:1])
    future[0]["E"] = 4 * 10**15
    with pytest.raises(WireError):
        parse_mark_price_frame(future, {}, now_ms=now)
    (record,) = parse_mark_price_frame(arr[:1], {}, now_ms=now)
    assert record.time_ms == arr[0]["E"]


def test_binance_premium_index_keeps_good_markets() -> None:
    items = [
        {
            "symbol": item["s"],
            "markPrice": item["p"],
            "indexPrice": item["i"],
            "lastFundingRate": item["r"],
            "nextFundingTime": item["T"],
            "time": item["E"],
        }
        for item in binance_arr()
    ]
    items[1]["lastFundingRate"] = "NaN"
    rejected: list[str] = []
    records = parse_premium_index(items, {}, {}, now_ms=items[0]["time"], rejected=rejected)
    assert [r.native for r in records] == [items[0]["symbol"]] and len(rejected) == 1


# ------------------------------------------------------------------ OKX


def okx_funding(**changes: Any) -> dict[str, Any]:
    msg = json.loads((FIX / "okx" / "ws_funding_rate.recorded.json").read_text())
    msg["data"][0].update(changes)
    return msg


@pytest.mark.parametrize(
    "changes", [{"ts": str(4 * 10**15)}, {"ts": "0"}, {"fundingRate": "-5"}, {"fundingRate": "NaN"}]
)
def test_okx_bad_funding_push_is_refused_and_the_next_is_taken(changes: dict[str, Any]) -> None:
    with pytest.raises(OkxFormatError):
        okx_parse_funding_rate(okx_funding(**changes), T0)
    (record,) = okx_parse_funding_rate(okx_funding(), T0)
    assert record.native == "BTC-USDT-SWAP"


def test_okx_open_interest_keeps_good_items() -> None:
    good = {"instId": "BTC-USDT-SWAP", "oi": "1", "oiCcy": "10", "oiUsd": "900000"}
    bad = {"instId": "ETH-USDT-SWAP", "oi": "1", "oiCcy": "-1000", "oiUsd": "1"}
    assert okx_parse_open_interest({"code": "0", "data": [good, bad]}) == {"BTC-USDT-SWAP": (10.0, 900000.0)}


def _first_line(path: str) -> dict:
    return json.loads((FIX / path).read_text().splitlines()[0])


FAR_FUTURE_MS = 4_000_000_000_000_000


def test_a_liquidation_with_a_far_future_time_is_refused_on_every_venue() -> None:
    from pfterm.core.venues.binance.market import parse_force_order_frame
    from pfterm.core.venues.bybit.market import parse_all_liquidation
    from pfterm.core.venues.okx.market import parse_liquidation_orders
    from pfterm.core.venues.wsbase import WireError

    bn = _first_line("binance/ws_forceOrder.recorded.jsonl")
    assert parse_force_order_frame(bn)  # the real frame passes
    bn["data"]["o"]["T"] = FAR_FUTURE_MS
    with pytest.raises(WireError, match="'T'"):
        parse_force_order_frame(bn)
    by = _first_line("bybit/ws_allLiquidation.recorded.jsonl")
    assert parse_all_liquidation(by)
    by["data"][0]["T"] = FAR_FUTURE_MS
    with pytest.raises(WireError, match="'T'"):
        parse_all_liquidation(by)
    okx = _first_line("okx/ws_liquidation_orders.recorded.jsonl")
    ct_val = {"BTC-USDT-SWAP": 0.01}
    assert parse_liquidation_orders(okx, ct_val)
    okx["data"][0]["details"][0]["ts"] = str(FAR_FUTURE_MS)
    with pytest.raises(WireError, match="'ts'"):
        parse_liquidation_orders(okx, ct_val)


@pytest.mark.parametrize("created_at", ["2099-01-01T00:00:00.000Z", "2010-01-01T00:00:00.000Z"])
def test_dydx_liquidation_time_out_of_the_window_is_refused(created_at: str) -> None:
    """A ``v4_trades`` liquidation's ``createdAt`` goes through the window of every venue time
    (2015 … wall clock + 1 day). The message is constructed in the indexer docs' shape."""
    from pfterm.core.venues.dydx.market import parse_trades_liquidations

    trade = {"id": "t-1", "size": "0.5", "price": "27830", "side": "SELL", "type": "LIQUIDATED"}
    message = {"type": "channel_data", "id": "BTC-USD", "channel": "v4_trades", "contents": {"trades": [trade]}}
    trade["createdAt"] = "2023-04-04T00:29:21.000Z"
    assert parse_trades_liquidations(message)[0].time_ms == 1680568161000
    trade["createdAt"] = created_at
    with pytest.raises(DydxFormatError, match="createdAt"):
        parse_trades_liquidations(message)
