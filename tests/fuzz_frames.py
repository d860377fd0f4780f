"""Seeded fuzzing of the venue streams: valid frames built from the recorded fixtures, with
values varied within their valid ranges, interleaved with garbage frames (one field of a valid
frame replaced by a value no venue can send, or the whole frame broken), replayed by a local
127.0.0.1 WebSocket server into the real stream class and a recording sink.

Each venue is a :class:`VenueFuzz` over its channels (:attr:`VenueFuzz.channels`: funding or
tickers, liquidations, open interest, mids, books): it builds a valid frame and the records it
must yield, or a garbage frame and the count it must add to ``malformed`` (+ ``unknown_symbols``
where the venue counts unknown markets there). :func:`run_venue` returns a :class:`FuzzResult` with the
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pfterm.core.market.models import AssetCtx, BookSnapshot, FeedStatus, Liquidation, VenueFunding
from pfterm.core.venues import numbers
from pfterm.core.venues.binance.market import MAX_LIQUIDATION_ORDERS, BinanceStream, default_to_symbol
from pfterm.core.venues.bybit.market import BybitStream
from pfterm.core.venues.dydx.market import DydxStream
from pfterm.core.venues.hyperliquid.stream import HyperliquidStream
from pfterm.core.venues.okx.market import OkxStream
from pfterm.core.venues.wsbase import VenueStream
from tests.replay import ReplayServer, eventually, fast_policy, serving

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


BAD_SIDES: tuple[Any, ...] = ("X", "", 1, None)
"""Sides no liquidation can carry."""

Record = tuple[Any, ...]
"""A delivered record reduced to what the run compares: ``("funding", symbol, rate, mark)``,
``("liq", symbol, side, size_base, price, time_ms)``, ``("mids", ((coin, mid), …))`` or
``("book", coin, time_ms, ((px, sz), …) bids, ((px, sz), …) asks)``."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def bad_times() -> tuple[Any, ...]:
    """Timestamps out of the accepted window (far future, before 2015) or not integers."""
    return (now_ms() + 10 * 86_400_000, 1_000, "12ab", [1], -5)


HL_BAD_TIMES: tuple[Any, ...] = (numbers.MAX_TIME_MS + 1, numbers.MIN_TIME_MS - 1, 0, "12ab", [1], -5, None)
"""Hyperliquid times out of its absolute 2015–2100 window (simulator time may run ahead of the
wall clock, so a time ten days ahead is valid there) or not integers."""


@dataclass
class Frame:
    """One scripted frame: its text, the records it must yield (:data:`Record`), and how much it
    must add to the venue's malformed (+ unknown-symbol) count."""

    text: str
    records: list[Record] = field(default_factory=list)
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


class RecordSink:
    """A :class:`~pfterm.core.venues.base.CrossVenueSink` and
    :class:`~pfterm.core.venues.base.MarketDataSink` keeping every record delivered, in arrival
    order across channels (``items``: ``VenueFunding``, ``Liquidation``, ``AssetCtx``,
    ``BookSnapshot`` or a ``dict`` of mids). An ``AssetCtx`` of a coin outside ``known`` is
    counted, not kept, as the engine does."""

    def __init__(self, known: tuple[str, ...] = ()) -> None:
        self.known = known
        self.items: list[Any] = []
        self.unknown_symbols = 0

    def on_venue_funding(self, records: list[VenueFunding]) -> None:
        self.items.extend(records)

    def on_liquidations(self, records: list[Liquidation]) -> None:
        self.items.extend(records)

    def on_ctx(self, ctx: AssetCtx) -> None:
        if ctx.symbol in self.known:
            self.items.append(ctx)
        else:
            self.unknown_symbols += 1

    def on_mids(self, mids: Any, recv_mono: float) -> None:
        self.items.append(dict(mids))

    def on_book(self, book: BookSnapshot) -> None:
        self.items.append(book)

    def on_trades(self, trades: Any) -> None:
        raise AssertionError("no trades are sent")

    def on_feed_status(self, status: FeedStatus) -> None:
        pass


def _field_garbage(
    rng: random.Random,
    frame: dict[str, Any],
    targets: dict[str, tuple[dict[str, Any], tuple[str, ...]]],
    times: tuple[Any, ...],
) -> Frame:
    """A garbage copy of ``frame`` (a channel's valid frame, mutated in place): one kind of
    ``targets`` (``"price"``, ``"size"``, ``"time"``, ``"side"`` → the object holding the
    fields and the field names, all set to one bad value or all left out when it is ``None``),
    or the frame truncated, nested too deep, or a price beyond the float range."""
    kinds = [k for k in ("price", "size", "time", "side") if k in targets] + ["truncated", "deep", "huge"]
    kind = rng.choice(kinds)
    if kind == "truncated":
        text = json.dumps(frame)
        return Frame(text[: rng.randrange(1, len(text) - 1)], garbage=1)
    if kind == "deep":
        return Frame(DEEP, garbage=1)
    target, keys = targets["price" if kind == "huge" else kind]
    pool = {"price": BAD_NUMBERS, "size": BAD_NUMBERS, "time": times, "side": BAD_SIDES, "huge": ("\x00MARK\x00",)}
    value = pool[kind][rng.randrange(len(pool[kind]))]
    for key in keys:
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return Frame(_raw(json.dumps(frame), HUGE_INT), garbage=1)


def _liq_record(liq: Liquidation) -> Record:
    return ("liq", liq.symbol, liq.side, liq.size_base, liq.price, liq.time_ms)


def _record_of(item: Any, now: int) -> tuple[Record, bool]:
    """``(record, values valid)`` of one delivered item (see :class:`RecordSink`)."""
    if isinstance(item, VenueFunding):
        return ("funding", item.symbol, item.rate, item.mark_px), _valid_record(item, now)
    if isinstance(item, Liquidation):
        return _liq_record(item), _valid_liquidation(item, now)
    if isinstance(item, AssetCtx):
        ok = (
            item.mark_px > 0
            and item.oracle_px > 0
            and abs(item.funding) <= numbers.HL_RATE_CAP_PER_H
            and item.open_interest >= 0
        )
        return ("funding", item.symbol, item.funding, item.mark_px), ok
    if isinstance(item, BookSnapshot):
        levels = item.bids + item.asks
        ok = numbers.MIN_TIME_MS <= item.time_ms <= numbers.MAX_TIME_MS and all(
            _positive(lv.px) and _positive(lv.sz) for lv in levels
        )
        bids = tuple((lv.px, lv.sz) for lv in item.bids)
        asks = tuple((lv.px, lv.sz) for lv in item.asks)
        return ("book", item.symbol, item.time_ms, bids, asks), ok
    assert isinstance(item, dict)
    return ("mids", tuple(item.items())), all(_positive(v) for v in item.values())


def _positive(value: float) -> bool:
    """Finite and > 0."""
    return isinstance(value, float) and 0 < value < float("inf")


class VenueFuzz:
    """A venue's frame generator and stream factory. Subclasses set :attr:`name` and implement
    :meth:`valid`, :meth:`encode` and :meth:`fields` (the funding channel, whose garbage is
    :meth:`garbage`), :meth:`channel_frame` for each other channel of :attr:`channels`,
    :meth:`stream` and :meth:`map_size`."""

    name = ""
    known: tuple[str, ...] = ()
    channels: tuple[str, ...] = ("funding",)
    """The channels frames are drawn from, uniformly: ``"funding"`` (:meth:`valid` /
    :meth:`garbage`) and the venue's others (:meth:`channel_frame`)."""
    deletable = True
    """Whether a frame without one of the fields is malformed (``False`` where a frame may
    carry only some fields, a partial update: there the field is sent empty instead)."""
    counts_unknown = False
    """Whether a frame of a market outside :attr:`known` is counted (``unknown_symbols``)."""

    def valid(self, rng: random.Random) -> tuple[dict[str, Any], tuple[str, float, float | None]]:
        raise NotImplementedError

    def make_sink(self) -> RecordSink:
        """The recording sink the stream delivers to."""
        return RecordSink()

    def delivered(self, sink: RecordSink, now: int) -> list[tuple[Record, bool]]:
        """Every record delivered, in order: ``(record, values valid)``."""
        return [_record_of(item, now) for item in sink.items]

    def channel_frame(self, channel: str, rng: random.Random, garbage: bool) -> Frame:
        """A valid (or, with ``garbage``, a garbage) frame of ``channel`` (not ``"funding"``)."""
        raise NotImplementedError

    def map_bound(self) -> int:
        """Most entries :meth:`map_size` may reach."""
        return len(self.known)

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
            last = i == count - 1
            channel = "funding" if last else rng.choice(self.channels)
            bad = not last and rng.random() < garbage_share
            if channel != "funding":
                out.append(self.channel_frame(channel, rng, bad))
            elif bad:
                out.append(self.garbage(rng))
            else:
                out.append(self.funding_frame(rng))
        return out

    def funding_frame(self, rng: random.Random) -> Frame:
        """A valid frame of the funding channel and its one record."""
        item, (symbol, rate, mark) = self.valid(rng)
        return Frame(self.encode(item), [("funding", symbol, rate, mark)])


def _iso(ms: int) -> str:
    """``ms`` (since the epoch) as the indexer writes times: ISO 8601 UTC with milliseconds."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _bad_iso_times() -> tuple[Any, ...]:
    """ISO times out of the accepted window (far future, before 2015), without a zone, or not
    ISO times at all."""
    now = now_ms()
    return (_iso(now + 10 * 86_400_000), _iso(1_000_000_000_000), "2026-01-01T00:00:00", "12ab", [1], -5, None)


def _vary(rng: random.Random, base: float) -> float:
    """``base`` times a factor in [0.5, 1.5), rounded to 6 significant digits (still > 0)."""
    value = base * (0.5 + rng.random())
    return float(f"{value:.6g}")


def _rate(rng: random.Random) -> float:
    return round(rng.uniform(-0.003, 0.003), 8)


class BinanceFuzz(VenueFuzz):
    """``!markPrice@arr@1s`` frames of one market (``tests/fixtures/binance/ws_markPrice_arr``)
    and ``forceOrder`` frames (the three wrappings of ``ws_forceOrder.recorded.jsonl``).

    Binance joins an open universe (every ``…USDT`` market), so an unknown symbol is not garbage
    there and is not generated. A frame whose only item fails validation is one malformed frame.
    Each valid liquidation has its own order time ``T``: a repeat of (symbol, side, ``T``) is
    one order filling further and only its new fill is delivered (:meth:`BinanceStream._new_fills`),
    so every valid one here must arrive exactly once. The price garbage goes to both ``ap``
    and ``p`` (a missing or zero average price falls back to the order price), the size garbage
    to both ``z`` and ``q`` likewise."""

    name = "binance"
    channels = ("funding", "liquidation")

    def __init__(self) -> None:
        self.items = json.loads((FIX / "binance" / "ws_markPrice_arr.recorded.json").read_text())
        self.known = tuple(i["s"] for i in self.items)
        lines = (FIX / "binance" / "ws_forceOrder.recorded.jsonl").read_text().splitlines()
        self.force_orders = [json.loads(line) for line in lines if line]
        self._order_time = now_ms() - 20_000_000

    def map_bound(self) -> int:
        return MAX_LIQUIDATION_ORDERS

    def channel_frame(self, channel: str, rng: random.Random, garbage: bool) -> Frame:
        frame = json.loads(json.dumps(rng.choice(self.force_orders)))
        event = frame["data"] if "stream" in frame else frame
        order = event["o"]
        size = _vary(rng, float(order["q"]))
        price = _vary(rng, float(order["ap"]))
        self._order_time += rng.randrange(1, 1000)
        order.update(q=f"{size}", z=f"{size}", l=f"{size}", ap=f"{price}", p=f"{_vary(rng, price)}", T=self._order_time)
        event["E"] = self._order_time + rng.randrange(1000)
        if garbage:
            targets = {
                "price": (order, ("ap", "p")),
                "size": (order, ("z", "q")),
                "time": (order, ("T",)),
                "side": (order, ("S",)),
            }
            return _field_garbage(rng, frame, targets, bad_times())
        symbol = default_to_symbol(order["s"])
        side = "long" if order["S"] == "SELL" else "short"
        return Frame(json.dumps(frame), [("liq", symbol, side, size, price, self._order_time)])

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

    def stream(self, sink: RecordSink, url: str) -> VenueStream:
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
    channels = ("funding", "liquidation")

    def __init__(self) -> None:
        self.base = json.loads((FIX / "bybit" / "docs_tickers_linear_snapshot.json").read_text())
        self.known = ("BTCUSDT", "ETHUSDT")
        lines = (FIX / "bybit" / "ws_allLiquidation.recorded.jsonl").read_text().splitlines()
        self.liquidations = [json.loads(line) for line in lines if line]
        self.liquidations.append(json.loads((FIX / "bybit" / "docs_allLiquidation.json").read_text()))

    def channel_frame(self, channel: str, rng: random.Random, garbage: bool) -> Frame:
        """An ``allLiquidation`` frame (``ws_allLiquidation.recorded.jsonl``, ``docs_allLiquidation``)
        with its items varied; a liquidation of a market not subscribed is still delivered, so an
        unknown symbol is not garbage there. One bad item drops its whole frame (one malformed)."""
        frame = json.loads(json.dumps(rng.choice(self.liquidations)))
        frame["ts"] = now_ms() - rng.randrange(10**6)
        records: list[Record] = []
        for item in frame["data"]:
            size, price = _vary(rng, float(item["v"])), _vary(rng, float(item["p"]))
            item.update(v=f"{size}", p=f"{price}", T=frame["ts"] - rng.randrange(1000))
            side = "long" if item["S"] == "Buy" else "short"
            records.append(("liq", item["s"].removesuffix("USDT"), side, size, price, item["T"]))
        if garbage:
            item = rng.choice(frame["data"])
            targets = {"price": (item, ("p",)), "size": (item, ("v",)), "time": (item, ("T",)), "side": (item, ("S",))}
            return _field_garbage(rng, frame, targets, bad_times())
        return Frame(json.dumps(frame), records)

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

    def stream(self, sink: RecordSink, url: str) -> VenueStream:
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
    ``unknown_symbols``. Also ``liquidation-orders`` pushes (``ws_liquidation_orders.recorded.jsonl``,
    sizes in contracts × :attr:`ct_val`) and ``open-interest`` pushes of the documented shape
    (no recorded push exists; values built here), which re-emit the market's last funding
    record when its open interest changed."""

    name = "okx"
    counts_unknown = True
    channels = ("funding", "liquidation", "open-interest")
    ct_val = {"BTC-USDT-SWAP": 0.01, "ETH-USDT-SWAP": 0.1, "CELO-USDT-SWAP": 10.0}
    """Contracts → base units; BTC and ETH as OKX lists them, CELO a test value."""

    def __init__(self) -> None:
        self.base = json.loads((FIX / "okx" / "ws_funding_rate.recorded.json").read_text())["data"][0]
        self.known = ("BTC-USDT-SWAP", "ETH-USDT-SWAP")
        lines = (FIX / "okx" / "ws_liquidation_orders.recorded.jsonl").read_text().splitlines()
        self.liquidations = [json.loads(line) for line in lines if line]
        self._last: dict[str, tuple[str, float]] = {}
        """native → (symbol, rate) of its last valid funding frame."""
        self._oi: dict[str, tuple[float, float]] = {}
        """native → the last valid open interest pushed (oiCcy, oiUsd)."""
        self._record_oi: dict[str, tuple[float, float] | None] = {}
        """native → the open interest its last delivered funding record carries."""

    def funding_frame(self, rng: random.Random) -> Frame:
        frame = super().funding_frame(rng)
        _, symbol, rate, _ = frame.records[0]
        native = f"{symbol}-USDT-SWAP"
        self._last[native] = (symbol, rate)
        self._record_oi[native] = self._oi.get(native)
        return frame

    def channel_frame(self, channel: str, rng: random.Random, garbage: bool) -> Frame:
        if channel == "open-interest":
            return self._open_interest(rng, garbage)
        frame = json.loads(json.dumps(rng.choice(self.liquidations)))
        item = frame["data"][0]
        detail = item["details"][0]
        contracts, price = _vary(rng, float(detail["sz"])), _vary(rng, float(detail["bkPx"]))
        detail.update(sz=f"{contracts}", bkPx=f"{price}", ts=str(now_ms() - rng.randrange(10**6)))
        if garbage:
            targets = {
                "price": (detail, ("bkPx",)),
                "size": (detail, ("sz",)),
                "time": (detail, ("ts",)),
                "side": (detail, ("posSide", "side")),
            }
            return _field_garbage(rng, frame, targets, bad_times())
        native = item["instId"]
        size = contracts * self.ct_val[native]
        record = ("liq", native.split("-")[0], detail["posSide"], size, price, int(detail["ts"]))
        return Frame(json.dumps(frame), [record])

    def _open_interest(self, rng: random.Random, garbage: bool) -> Frame:
        native = rng.choice(self.known)
        base = _vary(rng, 26_602.0 if native == "BTC-USDT-SWAP" else 593_293.0)
        usd = _vary(rng, 2.4e9)
        item = {
            "instId": native,
            "instType": "SWAP",
            "oi": f"{base / self.ct_val[native]:.6g}",
            "oiCcy": f"{base}",
            "oiUsd": f"{usd}",
            "ts": str(now_ms()),
        }
        push = {"arg": {"channel": "open-interest", "instId": native}, "data": [item]}
        if garbage:
            kind = rng.choice(("oi", "symbol", "truncated", "deep", "huge"))
            if kind == "truncated":
                text = json.dumps(push)
                return Frame(text[: rng.randrange(1, len(text) - 1)], garbage=1)
            if kind == "deep":
                return Frame(DEEP, garbage=1)
            if kind == "huge":
                item["oiCcy"] = "\x00MARK\x00"
                return Frame(_raw(json.dumps(push), HUGE_INT), garbage=1)
            if kind == "symbol":
                item["instId"] = self.unknown_symbol(rng)
            else:
                item[rng.choice(("oiCcy", "oiUsd"))] = BAD_OPEN_INTEREST[rng.randrange(len(BAD_OPEN_INTEREST))]
            return Frame(json.dumps(push), garbage=1)
        pair = (base, usd)
        self._oi[native] = pair
        if native not in self._last or self._record_oi[native] == pair:
            return Frame(json.dumps(push))
        self._record_oi[native] = pair
        symbol, rate = self._last[native]
        return Frame(json.dumps(push), [("funding", symbol, rate, None)])

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

    def stream(self, sink: RecordSink, url: str) -> VenueStream:
        return OkxStream(
            sink, list(self.known), ws_url=url, ct_val=self.ct_val, policy=fast_policy(), status_interval_s=0.01
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
    channels = ("funding", "liquidation")

    def __init__(self) -> None:
        self.known = ("BTC-USD", "ETH-USD")
        self._trade_id = 0

    def channel_frame(self, channel: str, rng: random.Random, garbage: bool) -> Frame:
        """A ``v4_trades`` ``channel_data`` message in the indexer documentation's shape (no
        recorded frame exists; values built here): a plain trade, which carries no liquidation,
        and one or two ``LIQUIDATED`` trades, each with its own id (the stream delivers a trade
        id once)."""
        ticker = rng.choice(self.known)
        base = 43_300.0 if ticker == "BTC-USD" else 2_255.0
        start = now_ms() - rng.randrange(10**6)
        trades: list[dict[str, Any]] = [
            {"id": "plain", "size": "0.1", "price": f"{base}", "side": "BUY", "createdAt": _iso(start), "type": "LIMIT"}
        ]
        records: list[Record] = []
        for k in range(rng.randrange(1, 3)):
            self._trade_id += 1
            size, price, at = _vary(rng, 0.5), _vary(rng, base), start + k * rng.randrange(1, 500)
            side = rng.choice(("BUY", "SELL"))
            trades.append(
                {
                    "id": f"t-{self._trade_id}",
                    "size": f"{size}",
                    "price": f"{price}",
                    "side": side,
                    "createdAt": _iso(at),
                    "type": "LIQUIDATED",
                }
            )
            records.append(("liq", ticker.split("-")[0], "long" if side == "SELL" else "short", size, price, at))
        message = {
            "type": "channel_data",
            "connection_id": "57844645-0b1d-4c3f-ad71-1c6154154a13",
            "message_id": 4,
            "id": ticker,
            "channel": "v4_trades",
            "version": "1.1.0",
            "contents": {"trades": trades},
        }
        if garbage:
            trade = rng.choice(trades[1:])
            targets = {
                "price": (trade, ("price",)),
                "size": (trade, ("size",)),
                "time": (trade, ("createdAt",)),
                "side": (trade, ("side",)),
            }
            return _field_garbage(rng, message, targets, _bad_iso_times())
        return Frame(json.dumps(message), records)

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

    def stream(self, sink: RecordSink, url: str) -> VenueStream:
        return DydxStream(sink, ws_url=url, policy=fast_policy(), status_interval_s=0.01)

    def map_size(self, stream: VenueStream) -> int:
        assert isinstance(stream, DydxStream)
        return len(stream.book.markets)


class HyperliquidFuzz(VenueFuzz):
    """``activeAssetCtx`` frames built from ``tests/fixtures/hyperliquid/metaAndAssetCtxs.mainnet.json``
    (BTC, ETH), funding within the ±4 %/h cap. The frame carries no timestamp (the receive time
    is local), so there is no timestamp garbage; the stream hands every valid ctx to the sink,
    which (like the engine) keeps only known coins and counts the others.

    Also ``allMids`` frames (``ws_allmids.json``, every mid varied) and ``l2Book`` frames (the
    book of ``http_l2_book_btc.json``, the payload a WS ``l2Book`` frame carries as ``data``,
    levels varied). An ``allMids`` frame with one bad mid is delivered without that coin and
    counted once in ``malformed``, so its garbage frame also yields a record."""

    name = "hyperliquid"
    counts_unknown = True
    channels = ("funding", "mids", "book")

    def __init__(self) -> None:
        meta, ctxs = json.loads((FIX / "hyperliquid" / "metaAndAssetCtxs.mainnet.json").read_text())
        self.known = ("BTC", "ETH")
        self.ctxs = {a["name"]: c for a, c in zip(meta["universe"], ctxs, strict=False) if a["name"] in self.known}
        self.mids = json.loads((FIX / "hyperliquid" / "ws_allmids.json").read_text())
        self.book = json.loads((FIX / "hyperliquid" / "http_l2_book_btc.json").read_text())

    def channel_frame(self, channel: str, rng: random.Random, garbage: bool) -> Frame:
        if channel == "mids":
            return self._mids(rng, garbage)
        book = json.loads(json.dumps(self.book))
        book["time"] = now_ms() - rng.randrange(10**6)
        factor = 0.5 + rng.random()
        for side in book["levels"]:
            for level in side:
                level.update(px=f"{float(level['px']) * factor:.6g}", sz=f"{_vary(rng, float(level['sz']))}")
        frame = {"channel": "l2Book", "data": book}
        if garbage:
            level = rng.choice(rng.choice(book["levels"]))
            targets = {"price": (level, ("px",)), "size": (level, ("sz",)), "time": (book, ("time",))}
            return _field_garbage(rng, frame, targets, HL_BAD_TIMES)
        bids, asks = (tuple((float(lv["px"]), float(lv["sz"])) for lv in side) for side in book["levels"])
        return Frame(json.dumps(frame), [("book", book["coin"], book["time"], bids, asks)])

    def _mids(self, rng: random.Random, garbage: bool) -> Frame:
        frame = json.loads(json.dumps(self.mids))
        mids = frame["data"]["mids"]
        for coin, mid in mids.items():
            mids[coin] = f"{_vary(rng, float(mid))}"
        if garbage:
            kind = rng.choice(("mid", "truncated", "deep"))
            if kind == "truncated":
                text = json.dumps(frame)
                return Frame(text[: rng.randrange(1, len(text) - 1)], garbage=1)
            if kind == "deep":
                return Frame(DEEP, garbage=1)
            bad_coin = rng.choice(list(mids))
            # One bad mid (a bad number, ``null`` or a 401-digit integer) drops that coin only: the
            # frame still delivers the others and counts once in ``malformed``.
            pool = (*BAD_NUMBERS, "\x00MARK\x00")
            mids[bad_coin] = pool[rng.randrange(len(pool))]
            good = tuple((c, float(m)) for c, m in mids.items() if c != bad_coin)
            return Frame(_raw(json.dumps(frame), HUGE_INT), [("mids", good)], garbage=1)
        return Frame(json.dumps(frame), [("mids", tuple((c, float(m)) for c, m in mids.items()))])

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

    def make_sink(self) -> RecordSink:
        return RecordSink(self.known)

    def stream(self, sink: Any, url: str) -> VenueStream:
        return HyperliquidStream(sink, url, policy=fast_policy(), status_interval_s=0.01)

    def map_size(self, stream: VenueStream) -> int:
        return len({c.symbol for c in stream._sink.items if isinstance(c, AssetCtx)})

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
        if rec.oi_usd is not None:
            numbers.check_open_interest(rec.oi_usd)
    except ValueError:
        return False
    return True


def _valid_liquidation(liq: Liquidation, now: int) -> bool:
    """Whether a delivered liquidation has only values a venue can send: price and size > 0
    (finite), ``usd`` their product, a known side, a time in the accepted window."""
    try:
        numbers.check_time_ms(liq.time_ms, now)
    except ValueError:
        return False
    return (
        _positive(liq.price)
        and _positive(liq.size_base)
        and liq.usd == liq.size_base * liq.price
        and liq.side in ("long", "short")
    )


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
            await eventually(lambda: len(sink.items) >= len(expected), timeout_s)
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
        map_bound=fuzz.map_bound(),
        sink_errors=stream.sink_errors,
        wall_s=wall,
    )
