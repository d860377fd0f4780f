"""Cross-venue funding, open interest and liquidations: snapshots, streams and the matrix.

Hyperliquid is read by its own feed into the :class:`~pfterm.core.market.engine.Engine`; Binance, Bybit,
OKX and dYdX are read here with their read-only adapters (:mod:`pfterm.core.venues.binance.market`,
``bybit``, ``okx``, ``dydx``) into one :class:`CrossVenueData`: a
:class:`~pfterm.core.crossvenue.matrix.FundingMatrix` (latest record per market and venue) and a
:class:`~pfterm.core.crossvenue.matrix.LiquidationFeed`. Venue symbols are joined by a
:class:`~pfterm.core.crossvenue.symbols.SymbolMap` (``BTCUSDT``, ``BTC-USDT-SWAP``, ``BTC-USD`` → ``BTC``).

* :func:`scan` fetches one REST snapshot of every venue asked for (``pfterm scan``).
* :class:`CrossVenueSession` takes a snapshot, then keeps the matrix live with each venue's
  stream and refreshes the REST snapshot (open interest) every ``refresh_s``.

Units: rates are fractions per their own ``interval_h`` (never rescaled here), OI in base
units and USD, times ms UTC. Prices of markets quoted in another unit on one venue (OKX
``PEPE-USDT-SWAP`` vs Hyperliquid ``kPEPE``) are not shown by the matrix, whose figures —
rates, APR, OI in USD, liquidations in USD — do not depend on the unit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx

from pfterm.core.crossvenue.matrix import FundingMatrix, LiquidationFeed, LiquidationSignal
from pfterm.core.crossvenue.symbols import SymbolMap
from pfterm.core.market.models import FeedState, FeedStatus, Liquidation, VenueFunding

log = logging.getLogger(__name__)

MAX_SURGED = 1000
"""Most markets whose last told surge minute is remembered (as many as the liquidation tape keeps)."""

__all__ = [
    "CEX_VENUES",
    "SCAN_VENUES",
    "CrossVenueData",
    "CrossVenueSession",
    "hyperliquid_records",
    "scan",
    "to_canonical_units",
]

CEX_VENUES: tuple[str, ...] = ("binance", "bybit", "okx", "dydx")
"""The read-only venues of this module, in display order."""
SCAN_VENUES: tuple[str, ...] = ("hyperliquid", *CEX_VENUES)


def to_canonical_units(records: Sequence[Any], symbols: SymbolMap) -> list[Any]:
    """Records (:class:`VenueFunding` or :class:`Liquidation`) with prices and base sizes in
    the joined symbol's unit (OKX ``PEPE-USDT-SWAP`` quotes one PEPE; ``kPEPE`` is 1000):
    prices × scale, base sizes ÷ scale; rates and USD amounts unchanged."""
    from dataclasses import replace

    out = []
    for r in records:
        try:
            k = symbols.scale(r.venue, r.native)
        except ValueError:
            k = 1.0
        if k == 1.0:
            out.append(r)
        elif isinstance(r, VenueFunding):
            out.append(
                replace(
                    r,
                    mark_px=None if r.mark_px is None else r.mark_px * k,
                    index_px=None if r.index_px is None else r.index_px * k,
                    oi_base=None if r.oi_base is None else r.oi_base / k,
                )
            )
        else:
            out.append(replace(r, price=r.price * k, size_base=r.size_base / k))
    return out


def hyperliquid_records(
    metas: Sequence[Any], ctxs: Sequence[Any], predicted: Sequence[Any], now_ms: int
) -> list[VenueFunding]:
    """Hyperliquid markets as :class:`VenueFunding`: the live (predicted) hourly rate, its
    interval, the next settlement from ``predictedFundings`` (else the next top of the hour),
    mark, oracle (index), OI one side in base units and USD at the oracle price."""
    nxt: dict[str, int] = {}
    for p in predicted:
        if getattr(p, "venue", None) == "HlPerp" and getattr(p, "next_funding_ms", None):
            nxt[p.symbol] = p.next_funding_ms
    out = []
    for m, c in zip(metas, ctxs, strict=False):
        if c is None or m.delisted:
            continue
        hour = 3_600_000 * c.funding_interval_h
        next_ms = nxt.get(m.symbol) or int((now_ms // hour + 1) * hour)
        out.append(
            VenueFunding(
                venue="hyperliquid",
                symbol=m.symbol,
                native=m.symbol,
                rate=c.funding,
                interval_h=c.funding_interval_h,
                next_funding_ms=next_ms,
                mark_px=c.mark_px,
                index_px=c.oracle_px,
                oi_base=c.open_interest,
                oi_usd=c.open_interest * c.oracle_px,
                time_ms=now_ms,
            )
        )
    return out


async def _snapshot(
    venue: str, client: httpx.AsyncClient, url: str | None, symbols: SymbolMap, now_ms: int
) -> list[VenueFunding]:
    kw: dict[str, Any] = {"to_symbol": symbols.to_symbol(venue), "now_ms": now_ms}
    if url:
        kw["base_url"] = url.rstrip("/")
    if venue == "binance":
        from pfterm.core.venues.binance import market as binance

        return to_canonical_units(await binance.fetch_snapshot(client, **kw), symbols)
    if venue == "bybit":
        from pfterm.core.venues.bybit import market as bybit

        return to_canonical_units(await bybit.fetch_snapshot(client, **kw), symbols)
    if venue == "okx":
        from pfterm.core.venues.okx import market as okx

        return to_canonical_units(await okx.fetch_snapshot(client, **kw), symbols)
    if venue == "dydx":
        from pfterm.core.venues.dydx import market as dydx

        return to_canonical_units(await dydx.fetch_snapshot(client, **kw), symbols)
    if venue == "hyperliquid":
        from pfterm.core.venues.hyperliquid.rest import HyperliquidInfo

        async with HyperliquidInfo(url or "mainnet", client=client) as info:
            (metas, ctxs), predicted = await asyncio.gather(info.meta_and_asset_ctxs(), info.predicted_fundings())
        return hyperliquid_records(metas, ctxs, predicted, now_ms)
    raise ValueError(f"unknown venue {venue!r}; expected one of {', '.join(SCAN_VENUES)}")


async def scan(
    venues: Sequence[str],
    urls: Mapping[str, str],
    symbols: SymbolMap | None = None,
    *,
    now_ms: int | None = None,
    timeout_s: float = 15.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, list[VenueFunding] | str]:
    """One REST snapshot per venue, concurrently: ``{venue: records}`` or ``{venue: "error: …"}``.

    ``urls`` overrides a venue's base URL (``--url VENUE=URL``). A venue that fails does not
    stop the others; its entry is the one-line reason.
    """
    symbols = symbols or SymbolMap()
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    async with httpx.AsyncClient(timeout=timeout_s, transport=transport, follow_redirects=True) as client:
        results = await asyncio.gather(
            *(_snapshot(v, client, urls.get(v), symbols, now) for v in venues), return_exceptions=True
        )
    out: dict[str, list[VenueFunding] | str] = {}
    for venue, res in zip(venues, results, strict=True):
        if isinstance(res, BaseException):
            msg = " ".join(str(res).split())[:200] or type(res).__name__
            out[venue] = f"error: {msg}"
        else:
            out[venue] = res
    return out


class CrossVenueData:
    """The cross-venue state the console renders (implements :class:`~pfterm.core.venues.base.CrossVenueSink`).

    ``matrix`` and ``liquidations`` are bounded; ``seq`` grows with every change so the console
    can coalesce its redraws; ``feeds`` holds each stream's latest :class:`FeedStatus`;
    ``on_surge`` is called (once per market and minute) with a :class:`LiquidationSignal`;
    ``on_liquidations`` receives every batch (the engine's cascade detectors take their USD).
    """

    def __init__(
        self,
        *,
        on_surge: Callable[[LiquidationSignal], None] | None = None,
        on_liquidations: Callable[[list[Liquidation]], None] | None = None,
        symbols: SymbolMap | None = None,
    ) -> None:
        self.matrix = FundingMatrix()
        self.liquidations = LiquidationFeed()
        self.feeds: dict[str, FeedStatus] = {}
        self.seq = 0
        self.liq_seq = 0
        self.on_surge = on_surge
        self.on_liquidations_seen = on_liquidations
        self.symbols = symbols or SymbolMap()
        self._surged: OrderedDict[str, int] = OrderedDict()
        """``symbol → minute (ms)`` of its last surge told; bounded: at most :data:`MAX_SURGED`
        markets (an open universe, the least recently surged dropped first)."""

    def on_venue_funding(self, records: list[VenueFunding]) -> None:
        """Merge funding/OI records (newest wins; missing fields kept), in the joined unit."""
        if self.matrix.update(to_canonical_units(records, self.symbols)):
            self.seq += 1

    def on_liquidations(self, records: list[Liquidation]) -> None:
        """Add forced closes (in the joined unit) and check each touched market for a surge."""
        records = to_canonical_units(records, self.symbols)
        added = self.liquidations.extend(records)
        if not added:
            return
        self.liq_seq += 1
        if self.on_liquidations_seen is not None:
            try:
                self.on_liquidations_seen(records)
            except Exception:  # noqa: BLE001 - a sink never raises
                log.exception("liquidation consumer failed")
        if self.on_surge is None:
            return
        now = max(r.time_ms for r in records)
        for symbol in {r.symbol for r in records}:
            sig = self.liquidations.surge(symbol, now)
            if sig is not None and self._surged.get(symbol) != sig.minute_ms:
                self._surged[symbol] = sig.minute_ms
                self._surged.move_to_end(symbol)
                if len(self._surged) > MAX_SURGED:
                    self._surged.popitem(last=False)
                try:
                    self.on_surge(sig)
                except Exception:  # noqa: BLE001 - a sink never raises
                    log.exception("liquidation surge callback failed")

    def on_feed_status(self, status: FeedStatus) -> None:
        """Keep the feed's latest state for the status bar."""
        self.feeds[status.feed] = status
        self.seq += 1


class CrossVenueSession:
    """Keeps :class:`CrossVenueData` live: REST snapshots every ``refresh_s`` and each venue's stream.

    Args:
        data: where records go.
        venues: which of :data:`CEX_VENUES` to read.
        urls: base URLs by venue (REST; the stream URL is derived for the simulator, else the
            venue's public one, or ``urls["<venue>-ws"]`` when given).
        symbols: the symbol map.
        refresh_s: seconds between two REST snapshots (the config's ``crossvenue.refresh_s``,
            where its default is written).
        bybit_poll_s: read Bybit's funding, marks and OI from its REST tickers every this many
            seconds, its stream carrying liquidations only (``crossvenue.bybit_tickers_s``);
            ``0``: from the ``tickers.*`` stream, which Bybit pushes every 100 ms per market
            (about 10 % of a core for ~150 markets, against one request per poll).
    """

    def __init__(
        self,
        data: CrossVenueData,
        venues: Iterable[str],
        urls: Mapping[str, str] | None = None,
        symbols: SymbolMap | None = None,
        *,
        refresh_s: float,
        bybit_poll_s: float = 0.0,
    ) -> None:
        self.data = data
        self.venues = [v for v in venues if v in CEX_VENUES]
        self.urls = dict(urls or {})
        self.symbols = symbols or SymbolMap()
        self.refresh_s = refresh_s
        self.bybit_poll_s = bybit_poll_s
        self._streams: list[Any] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = False
        self._okx_ct: dict[str, float] = {}

    def _ws_url(self, venue: str, default: str, path: str) -> str:
        if f"{venue}-ws" in self.urls:
            return self.urls[f"{venue}-ws"]
        rest = self.urls.get(venue)
        if rest and rest.startswith("http://127.0.0.1"):
            return "ws://" + rest[len("http://") :].rstrip("/") + path
        return default

    async def run(self) -> None:
        """Snapshot every venue and refresh the snapshots until :meth:`stop`; a venue's stream
        starts after its first successful snapshot (which names its markets), so a venue that is
        unreachable at start-up is picked up when it answers (retried every 10 s until then)."""
        async with httpx.AsyncClient(timeout=15.0, follow_redirects=True) as client:
            started: set[str] = set()
            while not self._stopping:
                snapshots = await self._refresh(client)
                for venue, records in snapshots.items():
                    if venue in started or not records:
                        continue
                    if venue == "okx":
                        await self._load_okx_contracts(client)
                    stream = self._stream(venue, records, client)
                    if stream is not None:
                        started.add(venue)
                        self._streams.append(stream)
                        self._tasks.append(asyncio.create_task(stream.run(), name=f"{venue}-stream"))
                        if venue == "bybit" and self.bybit_poll_s > 0:
                            self._tasks.append(asyncio.create_task(self._poll(venue, client), name="bybit-poll"))
                await asyncio.sleep(self.refresh_s if started >= set(self.venues) else min(self.refresh_s, 10.0))

    async def _poll(self, venue: str, client: httpx.AsyncClient) -> None:
        """Read ``venue``'s REST snapshot every ``bybit_poll_s`` until :meth:`stop` (its rates,
        marks and OI instead of a 100 ms stream); a failed read is shown on the venue's REST feed
        status and retried at the next tick."""
        while not self._stopping:
            await asyncio.sleep(self.bybit_poll_s)
            now = int(time.time() * 1000)
            try:
                records = await _snapshot(venue, client, self.urls.get(venue), self.symbols, now)
            except Exception as exc:  # noqa: BLE001 - a venue's failure is its feed status, never a crash
                detail = " ".join(str(exc).split())[:160] or type(exc).__name__
                self.data.on_feed_status(FeedStatus(f"{venue}/rest", FeedState.RETRYING, detail=detail))
                continue
            self.data.on_venue_funding(records)
            self.data.on_feed_status(FeedStatus(f"{venue}/rest", FeedState.CONNECTED))

    async def _load_okx_contracts(self, client: httpx.AsyncClient) -> None:
        from pfterm.core.venues.okx import market as okx

        try:  # contract sizes: OKX liquidations come in contracts
            self._okx_ct = await okx.fetch_contract_values(client, self.urls.get("okx", okx.OKX_REST_URL))
        except Exception as exc:  # noqa: BLE001 - liquidations are dropped without it, not the feed
            log.warning("okx contract values unavailable: %s", exc)

    async def _refresh(self, client: httpx.AsyncClient) -> dict[str, list[VenueFunding]]:
        now = int(time.time() * 1000)
        results = await asyncio.gather(
            *(_snapshot(v, client, self.urls.get(v), self.symbols, now) for v in self.venues), return_exceptions=True
        )
        out: dict[str, list[VenueFunding]] = {}
        for venue, res in zip(self.venues, results, strict=True):
            if isinstance(res, BaseException):
                detail = " ".join(str(res).split())[:160] or type(res).__name__
                log.warning("%s snapshot failed: %s", venue, detail)
                self.data.on_feed_status(FeedStatus(f"{venue}/rest", FeedState.RETRYING, detail=detail))
                continue
            out[venue] = res
            self.data.on_venue_funding(res)
            self.data.on_feed_status(FeedStatus(f"{venue}/rest", FeedState.CONNECTED))
        return out

    def _stream(self, venue: str, records: list[VenueFunding], client: httpx.AsyncClient) -> Any:
        natives = sorted({r.native for r in records})
        to_symbol = self.symbols.to_symbol(venue)
        if venue == "binance":
            from pfterm.core.venues.binance import market as binance

            url = self._ws_url(
                venue, binance.BINANCE_WS_URL, "/market/stream?streams=!markPrice@arr@1s/!forceOrder@arr"
            )
            intervals = {r.native: r.interval_h for r in records}
            return binance.BinanceStream(self.data, url, intervals=intervals, to_symbol=to_symbol)
        if venue == "bybit":
            from pfterm.core.venues.bybit import market as bybit

            url = self._ws_url(venue, bybit.BYBIT_WS_URL, "/v5/public/linear")
            return bybit.BybitStream(self.data, natives, url, to_symbol=to_symbol, tickers=self.bybit_poll_s <= 0)
        if venue == "okx":
            from pfterm.core.venues.okx import market as okx

            url = self._ws_url(venue, okx.OKX_WS_URL, "/ws/v5/public")
            return okx.OkxStream(self.data, natives, ws_url=url, ct_val=self._okx_ct, to_symbol=to_symbol)
        if venue == "dydx":
            from pfterm.core.venues.dydx import market as dydx

            url = self._ws_url(venue, dydx.DYDX_WS_URL, "/v4/ws")
            return dydx.DydxStream(self.data, natives[:32], ws_url=url, to_symbol=to_symbol)
        return None

    async def stop(self) -> None:
        """Stop every stream and the refresh loop."""
        self._stopping = True
        for stream in self._streams:
            with contextlib.suppress(Exception):
                await stream.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
