"""Seeded fuzzing of the venue streams: valid frames built from the recorded fixtures, with
values varied within their valid ranges, interleaved with garbage frames (one field of a valid
frame replaced by a value no venue can send, or the whole frame broken), replayed by a local
127.0.0.1 WebSocket server into the real stream class and a recording sink.

Each venue is a :class:`VenueFuzz`: it builds a valid frame and the one record it must yield,
or a garbage frame and the count it must add to ``malformed`` (+ ``unknown_symbols`` where the
venue counts unknown markets there). :func:`run_venue` returns a :class:`FuzzResult` with the
invalid records accepted, the valid records lost and the counts, used by
``tests/test_fuzz_streams.py`` and ``benchmarks/fuzz_streams.py``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pfterm.core.market.models import AssetCtx, FeedStatus, VenueFunding
from pfterm.core.venues import numbers
from pfterm.core.venues.binance.market import BinanceStream
from pfterm.core.venues.bybit.market import BybitStream
from pfterm.core.venues.dydx.market import DydxStream
from pfterm.core.venues.hyperliquid.stream import HyperliquidStream
from pfterm.core.venues.okx.market import OkxStream
from pfterm.core.venues.wsbase import VenueStream
from tests.replay import ListSink, ReplayServer, eventually, fast_policy, serving

__all__ = ["VENUES", "FuzzResult", "VenueFuzz", "run_venue"]

FIX = Path(__file__).parent / "fixtures"

DEEP = "[" * 100_000 + "]" * 100_000
"""A 100 000-deep nested array (``json.loads`` raises RecursionError)."""

HUGE_INT = "9" * 401
"""A 401-digit integer: beyond the float range."""

BAD_NUMBERS: tuple[Any, ...] = (
    "-1.5",
    -3,
    0,
    "0",
    "NaN",
    "inf",
    "1_000",
    " 12 ",
    "１２３",
    "1e999",
    [1],
    {"v": 1},
    True,
    None,
    "",
)
"""Values no price field may carry (not a plain decimal, not finite, or not > 0)."""

BAD_RATES: tuple[Any, ...] = ("0.9", -0.5, "NaN", "1e999", "1_0")
"""Funding rates beyond every venue's cap or not numbers."""


BAD_OPEN_INTEREST: tuple[Any, ...] = ("-1", -0.5, "NaN", "1_0", "", "1e999")
"""Open interests no venue can send (negative, not a number, not finite)."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def bad_times() -> tuple[Any, ...]:
    """Timestamps out of the accepted window (far future, before 2015) or not integers."""
    return (now_ms() + 10 * 86_400_000, 1_000, "12ab", [1], -5)


@dataclass
class Frame:
    """One scripted frame: its text, the records it must yield (``(symbol, rate, mark)``), and
    how much it must add to the venue's malformed (+ unknown-symbol) count."""

    text: str
    records: list[tuple[str, float, float | None]] = field(default_factory=list)
    garbage: int = 0


@dataclass
class FuzzResult:
    """What one venue run saw. Counts are frames or records; ``wall_s`` seconds."""

    venue: str
    frames: int
    garbage: int
    counted: int
    invalid_accepted: int
    valid_lost: int
    map_size: int
    map_bound: int
    sink_errors: int
    wall_s: float


def _raw(text: str, value_json: str) -> str:
    """``text`` with the placeholder string value replaced by the raw JSON text ``value_json``."""
    return text.replace(json.dumps("\x00MARK\x00"), value_json)


class VenueFuzz:
    """A venue's frame generator and stream factory. Subclasses set :attr:`name` and implement
    :meth:`valid`, :meth:`mutate` (one field of ``item`` replaced, or ``None`` when this venue
    cannot carry that mutation), :meth:`stream` and :meth:`map_size`."""

    name = ""
    known: tuple[str, ...] = ()
    deletable = True
    """Whether a frame without one of the fields is malformed (``False`` where a frame may
    carry only some fields, a partial update: there the field is sent empty instead)."""
    counts_unknown = False
    """Whether a frame of a market outside :attr:`known` is counted (``unknown_symbols``)."""

    def valid(self, rng: random.Random) -> tuple[dict[str, Any], tuple[str, float, float | None]]:
        raise NotImplementedError

    def make_sink(self) -> Any:
        """The recording sink the stream delivers to."""
        return ListSink()

    def delivered(self, sink: Any, now: int) -> list[tuple[tuple[str, float, float | None], bool]]:
        """Every record delivered, in order: ``((symbol, rate, mark), values valid)``."""
        return [((r.symbol, r.rate, r.mark_px), _valid_record(r, now)) for batch in sink.funding for r in batch]

    def encode(self, item: dict[str, Any]) -> str:
        raise NotImplementedError

    def fields(self) -> dict[str, str]:
        """``{"price": key, "rate": key, "time": key, "symbol": key}`` of :meth:`valid`'s item
        (``price`` absent when the venue's records carry none)."""
        raise NotImplementedError

    def stream(self, sink: Any, url: str) -> VenueStream:
        raise NotImplementedError

    def map_size(self, stream: VenueStream) -> int:
        raise NotImplementedError

    def garbage(self, rng: random.Random) -> Frame:
        """A garbage frame: one field of a valid frame replaced, or the frame broken whole."""
        item, _ = self.valid(rng)
        keys = self.fields()
        kinds = [k for k in ("price", "rate", "oi", "time") if k in keys] + ["truncated", "deep", "huge"]
        if self.counts_unknown:
            kinds.append("symbol")
        kind = rng.choice(kinds)
        if kind == "truncated":
            text = self.encode(item)
            return Frame(text[: rng.randrange(1, len(text) - 1)], garbage=1)
        if kind == "deep":
            return Frame(DEEP, garbage=1)
        if kind == "huge":
            item[keys.get("price", keys["rate"])] = "\x00MARK\x00"
            return Frame(_raw(self.encode(item), HUGE_INT), garbage=1)
        if kind == "symbol":
            item[keys["symbol"]] = self.unknown_symbol(rng)
        else:
            pool = {"price": BAD_NUMBERS, "rate": BAD_RATES, "oi": BAD_OPEN_INTEREST, "time": bad_times()}[kind]
            value = pool[rng.randrange(len(pool))]
            if value is None and not self.deletable:
                value = ""
            if value is None:
                del item[keys[kind]]
            else:
                item[keys[kind]] = value
        return self.adjust(Frame(self.encode(item), garbage=1), item, kind)

    def unknown_symbol(self, rng: random.Random) -> str:
        """A native market name the venue joins but the stream did not subscribe."""
        return f"ZZ{rng.randrange(10**6)}USDT"

    def adjust(self, frame: Frame, item: dict[str, Any], kind: str) -> Frame:
        """Hook for a venue whose garbage of ``kind`` needs another frame shape."""
        return frame

    def script(self, seed: int, count: int, garbage_share: float = 0.4) -> list[Frame]:
        """``count`` frames from ``random.Random(seed)``, about ``garbage_share`` garbage; the
        last frame is always valid (the run waits for its record)."""
        rng = random.Random(seed)
        out: list[Frame] = []
        for i in range(count):
            if i < count - 1 and rng.random() < garbage_share:
                out.append(self.garbage(rng))
            else:
                item, record = self.valid(rng)
                out.append(Frame(self.encode(item), [record]))
        return out


def _vary(rng: random.Random, base: float) -> float:
    """``base`` times a factor in [0.5, 1.5), rounded to 6 significant digits (still > 0)."""
    value = base * (0.5 + rng.random())
    return float(f"{value:.6g}")


def _rate(rng: random.Random) -> float:
    return round(rng.uniform(-0.003, 0.003), 8)


class BinanceFuzz(VenueFuzz):
    """``!markPrice@arr@1s`` frames of one market (``tests/fixtures/binance/ws_markPrice_arr``).

    Binance joins an open universe (every ``…USDT`` market), so an unknown symbol is not garbage
    there and is not generated. A frame whose only item fails validation is one malformed frame."""

    name = "binance"

    def __init__(self) -> None:
        self.items = json.loads((FIX / "binance" / "ws_markPrice_arr.recorded.json").read_text())
        self.known = tuple(i["s"] for i in self.items)

    def fields(self) -> dict[str, str]:
        return {"price": "p", "rate": "r", "time": "E", "symbol": "s"}

    def valid(self, rng: random.Random) -> tuple[dict[str, Any], tuple[str, float, float | None]]:
        item = dict(rng.choice(self.items))
        mark = _vary(rng, float(item["p"]))
        rate = _rate(rng)
        item.update(p=f"{mark}", i=f"{_vary(rng, float(item['i']))}", r=f"{rate}", E=now_ms() - rng.randrange(10**6))
        return item, (item["s"].removesuffix("USDT"), rate, mark)

    def encode(self, item: dict[str, Any]) -> str:
        return json.dumps({"stream": "!markPrice@arr@1s", "data": [item]})

    def stream(self, sink: ListSink, url: str) -> VenueStream:
        return BinanceStream(sink, url, policy=fast_policy(), status_interval_s=0.01)

    def map_size(self, stream: VenueStream) -> int:
        assert isinstance(stream, BinanceStream)
        return len(stream._liq_filled)


class BybitFuzz(VenueFuzz):
    """``tickers.*`` snapshots (``tests/fixtures/bybit/docs_tickers_linear_snapshot.json``) of
    two subscribed markets; an unknown market is counted in ``unknown_symbols``. A snapshot may
    carry an empty field (a market without a rate yet), so the empty-string garbage is sent as a
    delta, where Bybit never sends an empty field."""

    name = "bybit"
    counts_unknown = True

    def __init__(self) -> None:
        self.base = json.loads((FIX / "bybit" / "docs_tickers_linear_snapshot.json").read_text())
        self.known = ("BTCUSDT", "ETHUSDT")

    def fields(self) -> dict[str, str]:
        return {"price": "markPrice", "rate": "fundingRate", "time": "ts", "symbol": "symbol"}

    def valid(self, rng: random.Random) -> tuple[dict[str, Any], tuple[str, float, float | None]]:
        data = dict(self.base["data"])
        native = rng.choice(self.known)
        mark = _vary(rng, 60_000.0 if native == "BTCUSDT" else 3_000.0)
        rate = _rate(rng)
        data.update(symbol=native, markPrice=f"{mark}", indexPrice=f"{mark}", fundingRate=f"{rate}")
        item = {"topic": f"tickers.{native}", "type": "snapshot", "cs": 1, "ts": now_ms(), **data}
        return item, (native.removesuffix("USDT"), rate, mark)

    def encode(self, item: dict[str, Any]) -> str:
        head: dict[str, Any] = {k: item[k] for k in ("topic", "type", "cs") if k in item}
        if "ts" in item:
            head["ts"] = item["ts"]
        data = {k: v for k, v in item.items() if k not in ("topic", "type", "cs", "ts")}
        return json.dumps({**head, "data": data})

    def unknown_symbol(self, rng: random.Random) -> str:
        """A native market name the venue joins but the stream did not subscribe."""
        return f"ZZ{rng.randrange(10**6)}USDT"

    def adjust(self, frame: Frame, item: dict[str, Any], kind: str) -> Frame:
        if kind == "price" and item.get("markPrice") in ("", None):
            delta = {k: item[k] for k in ("topic", "cs", "ts", "symbol")}
            delta.update(type="delta", markPrice="")
            return Frame(self.encode(delta), garbage=1)
        return frame

    def stream(self, sink: ListSink, url: str) -> VenueStream:
        return BybitStream(sink, list(self.known), url, policy=fast_policy(), status_interval_s=0.01)

    def map_size(self, stream: VenueStream) -> int:
        assert isinstance(stream, BybitStream)
        return len(stream.book._fields)

    def counted(self, stream: VenueStream) -> int:
        assert isinstance(stream, BybitStream)
        return stream.book.unknown_symbols


class OkxFuzz(VenueFuzz):
    """``funding-rate`` pushes of one instrument (``tests/fixtures/okx/ws_funding_rate``): no
    price in this channel (records carry none); an instrument not subscribed is counted in
    ``unknown_symbols``."""

    name = "okx"
    counts_unknown = True

    def __init__(self) -> None:
        self.base = json.loads((FIX / "okx" / "ws_funding_rate.recorded.json").read_text())["data"][0]
        self.known = ("BTC-USDT-SWAP", "ETH-USDT-SWAP")

    def fields(self) -> dict[str, str]:
        return {"rate": "fundingRate", "time": "ts", "symbol": "instId"}

    def unknown_symbol(self, rng: random.Random) -> str:
        return f"ZZ{rng.randrange(10**6)}-USDT-SWAP"

    def valid(self, rng: random.Random) -> tuple[dict[str, Any], tuple[str, float, float | None]]:
        item = dict(self.base)
        native = rng.choice(self.known)
        rate = _rate(rng)
        item.update(instId=native, fundingRate=f"{rate}", ts=str(now_ms() - rng.randrange(10**6)))
        return item, (native.split("-")[0], rate, None)

    def encode(self, item: dict[str, Any]) -> str:
        return json.dumps({"arg": {"channel": "funding-rate", "instId": item.get("instId")}, "data": [item]})

    def stream(self, sink: ListSink, url: str) -> VenueStream:
        return OkxStream(
            sink,
            list(self.known),
            ws_url=url,
            open_interest=False,
            liquidations=False,
            policy=fast_policy(),
            status_interval_s=0.01,
        )

    def map_size(self, stream: VenueStream) -> int:
        assert isinstance(stream, OkxStream)
        return max(len(stream._last), len(stream.oi))

    def counted(self, stream: VenueStream) -> int:
        assert isinstance(stream, OkxStream)
        return stream.unknown_symbols


class DydxFuzz(VenueFuzz):
    """``v4_markets`` ``channel_data`` updates of one ticker carrying its rate, open interest
    and oracle price (the shapes of ``tests/fixtures/dydx/*v4_markets*``). dYdX joins an open
    universe (bounded by ``MAX_MARKETS``), so an unknown ticker is not garbage there and is not
    generated; a field left out is a valid partial update, so it is sent empty instead."""

    name = "dydx"
    deletable = False

    def __init__(self) -> None:
        self.known = ("BTC-USD", "ETH-USD")

    def fields(self) -> dict[str, str]:
        return {"price": "oraclePrice", "rate": "nextFundingRate", "oi": "openInterest", "symbol": "ticker"}

    def valid(self, rng: random.Random) -> tuple[dict[str, Any], tuple[str, float, float | None]]:
        ticker = rng.choice(self.known)
        oracle = _vary(rng, 43_300.0 if ticker == "BTC-USD" else 2_255.0)
        rate = _rate(rng)
        item = {
            "ticker": ticker,
            "nextFundingRate": f"{rate}",
            "openInterest": f"{_vary(rng, 500.0)}",
            "oraclePrice": f"{oracle}",
        }
        return item, (ticker.split("-")[0], rate, oracle)

    def encode(self, item: dict[str, Any]) -> str:
        ticker = item["ticker"]
        trading = {k: item[k] for k in ("nextFundingRate", "openInterest") if k in item}
        prices = {ticker: {k: item[k] for k in ("oraclePrice",) if k in item}}
        contents = {"trading": {ticker: trading}, "oraclePrices": prices}
        return json.dumps({"type": "channel_data", "channel": "v4_markets", "message_id": 1, "contents": contents})

    def stream(self, sink: ListSink, url: str) -> VenueStream:
        return DydxStream(sink, ws_url=url, policy=fast_policy(), status_interval_s=0.01)

    def map_size(self, stream: VenueStream) -> int:
        assert isinstance(stream, DydxStream)
        return len(stream.book.markets)


class CtxSink:
    """A :class:`~pfterm.core.venues.base.MarketDataSink` keeping every ``AssetCtx`` of a known
    coin and counting (not storing) the others, as the engine does for mids."""

    def __init__(self, known: tuple[str, ...]) -> None:
        self.known = known
        self.ctxs: list[AssetCtx] = []
        self.unknown_symbols = 0

    def on_ctx(self, ctx: AssetCtx) -> None:
        if ctx.symbol in self.known:
            self.ctxs.append(ctx)
        else:
            self.unknown_symbols += 1

    def on_feed_status(self, status: FeedStatus) -> None:
        pass

    def on_mids(self, mids: Any, recv_mono: float) -> None:
        raise AssertionError("no mids are sent")

    def on_trades(self, trades: Any) -> None:
        raise AssertionError("no trades are sent")

    def on_book(self, book: Any) -> None:
        raise AssertionError("no books are sent")


class HyperliquidFuzz(VenueFuzz):
    """``activeAssetCtx`` frames built from ``tests/fixtures/hyperliquid/metaAndAssetCtxs.mainnet.json``
    (BTC, ETH), funding within the ±4 %/h cap. The frame carries no timestamp (the receive time
    is local), so there is no timestamp garbage; the stream hands every valid ctx to the sink,
    which (like the engine) keeps only known coins and counts the others."""

    name = "hyperliquid"
    counts_unknown = True
    rate_cap = numbers.HL_RATE_CAP_PER_H

    def __init__(self) -> None:
        meta, ctxs = json.loads((FIX / "hyperliquid" / "metaAndAssetCtxs.mainnet.json").read_text())
        self.known = ("BTC", "ETH")
        self.ctxs = {a["name"]: c for a, c in zip(meta["universe"], ctxs, strict=False) if a["name"] in self.known}

    def fields(self) -> dict[str, str]:
        return {"price": "markPx", "rate": "funding", "oi": "openInterest", "symbol": "coin"}

    def unknown_symbol(self, rng: random.Random) -> str:
        return f"ZZ{rng.randrange(10**6)}"

    def valid(self, rng: random.Random) -> tuple[dict[str, Any], tuple[str, float, float | None]]:
        coin = rng.choice(self.known)
        ctx = dict(self.ctxs[coin])
        mark = _vary(rng, float(ctx["markPx"]))
        rate = _rate(rng)
        ctx.update(markPx=f"{mark}", funding=f"{rate}", openInterest=f"{_vary(rng, float(ctx['openInterest']))}")
        return {"coin": coin, **ctx}, (coin, rate, mark)

    def encode(self, item: dict[str, Any]) -> str:
        ctx = {k: v for k, v in item.items() if k != "coin"}
        data: dict[str, Any] = {"ctx": ctx}
        if "coin" in item:
            data["coin"] = item["coin"]
        return json.dumps({"channel": "activeAssetCtx", "data": data})

    def make_sink(self) -> Any:
        return CtxSink(self.known)

    def delivered(self, sink: Any, now: int) -> list[tuple[tuple[str, float, float | None], bool]]:
        out = []
        for c in sink.ctxs:
            ok = c.mark_px > 0 and c.oracle_px > 0 and abs(c.funding) <= self.rate_cap and c.open_interest >= 0
            out.append(((c.symbol, c.funding, c.mark_px), ok))
        return out

    def stream(self, sink: Any, url: str) -> VenueStream:
        return HyperliquidStream(sink, url, policy=fast_policy(), status_interval_s=0.01)

    def map_size(self, stream: VenueStream) -> int:
        return len({c.symbol for c in stream._sink.ctxs})

    def counted(self, stream: VenueStream) -> int:
        return int(stream._sink.unknown_symbols)


VENUES: dict[str, Callable[[], VenueFuzz]] = {
    "binance": BinanceFuzz,
    "bybit": BybitFuzz,
    "okx": OkxFuzz,
    "dydx": DydxFuzz,
    "hyperliquid": HyperliquidFuzz,
}


def _valid_record(rec: VenueFunding, now: int) -> bool:
    """Whether a delivered record has only values a venue can send."""
    try:
        if rec.mark_px is not None:
            numbers.check_price(rec.mark_px)
        numbers.check_rate(rec.rate)
        numbers.check_time_ms(rec.time_ms, now)
        if rec.index_px is not None:
            numbers.check_price(rec.index_px)
        if rec.oi_base is not None:
            numbers.check_open_interest(rec.oi_base)
    except ValueError:
        return False
    return True


async def run_venue(fuzz: VenueFuzz, seed: int, count: int, timeout_s: float = 60.0) -> FuzzResult:
    """Replay ``fuzz.script(seed, count)`` into the real stream over 127.0.0.1 and compare."""
    frames = fuzz.script(seed, count)
    sink = fuzz.make_sink()
    expected = [r for f in frames for r in f.records]
    started = time.perf_counter()
    async with serving(ReplayServer([[f.text for f in frames]])) as server:
        stream = fuzz.stream(sink, server.url)
        task = asyncio.create_task(stream.run())
        try:
            await eventually(lambda: len(fuzz.delivered(sink, 0)) >= len(expected), timeout_s)
        finally:
            await stream.stop()
            await task
    wall = time.perf_counter() - started
    got = fuzz.delivered(sink, now_ms())
    invalid = sum(not ok for _, ok in got)
    seen = [record for record, _ in got]
    lost = sum(1 for a, b in zip(expected, seen, strict=False) if a != b) + max(len(expected) - len(seen), 0)
    extra = getattr(fuzz, "counted", None)
    counted = stream.malformed + (extra(stream) if extra is not None else 0)
    return FuzzResult(
        venue=fuzz.name,
        frames=len(frames),
        garbage=sum(f.garbage for f in frames),
        counted=counted,
        invalid_accepted=invalid + max(len(seen) - len(expected), 0),
        valid_lost=lost,
        map_size=fuzz.map_size(stream),
        map_bound=len(fuzz.known),
        sink_errors=stream.sink_errors,
        wall_s=wall,
    )
