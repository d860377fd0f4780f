"""The engine: one place where venue data becomes market state, signals and alerts.

Adapters call the :class:`Engine` through the :class:`~pfterm.core.venues.base.MarketDataSink`
methods. Consumers (the console, the headless harvester) read it two ways:

* **state**, coalesced: :meth:`Engine.take_dirty` returns the set of markets that changed
  since the last call, so a consumer flushing a few times a second sees the latest value
  per market and never one update per message;
* **events**, discrete and rare: alerts, feed status changes, universe reloads and
  settlements, delivered to every :meth:`Engine.subscribe`-d bounded queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pfterm.core.market.alert_thresholds import DetectorSettings
from pfterm.core.market.clock import VenueClock
from pfterm.core.market.funding import apr
from pfterm.core.market.models import (
    Alert,
    AssetCtx,
    BookSnapshot,
    FeedState,
    FeedStatus,
    FundingPoint,
    Liquidation,
    MarketInfo,
    PredictedFunding,
    Trade,
)
from pfterm.core.market.signals import CascadeDetector, FundingAlerter
from pfterm.core.market.store import MarketState, MarketStore

log = logging.getLogger(__name__)

PREDICTION_SETTLE_FRACTION = 1 / 6
"""Share of a funding interval (10 min of an hour) after which a venue's predicted rate,
an average of that interval's premium samples, is steady enough to alert on."""


@dataclass(slots=True, frozen=True)
class MarketsLoaded:
    """Event: the universe was (re)loaded; ``count`` markets are in the store."""

    count: int


@dataclass(slots=True, frozen=True)
class Settlement:
    """Event: venue time crossed a funding settlement instant ``time_ms`` (ms UTC)."""

    time_ms: int


Event = Alert | FeedStatus | MarketsLoaded | Settlement


MAX_OTHER_MIDS = 4096
"""Most mids :attr:`Engine.mids` holds for coins outside the loaded perp universe: spot pairs
(Hyperliquid lists a few hundred) and coins seen before the universe loaded."""


def _is_spot_pair(coin: str) -> bool:
    """True for Hyperliquid's spot names in ``allMids``: ``"@<index>"`` or ``"BASE/QUOTE"``."""
    return (coin.startswith("@") and coin[1:].isdigit()) or coin.count("/") == 1


@dataclass(slots=True)
class _Subscriber:
    queue: asyncio.Queue[Event]
    dropped: int = 0


@dataclass
class Engine:
    """Market state, detectors and the event flow for one trading venue.

    Args:
        venue: venue name (``"hyperliquid"``); ``predicted_label`` is its label in
            ``predictedFundings`` (``"HlPerp"``).
        clock: the venue clock; detectors and countdowns run on venue time.
        detectors: alert thresholds.
        oi_window_ms: window for OI change / OI × price quadrant (venue ms).
        alert_capacity: how many alerts are kept for display.
        mono: monotonic clock (seconds) for receive times of frames that carry none.
        stream_feed: the feed whose frames reach :meth:`on_ctx`, :meth:`on_mids`,
            :meth:`on_trades` and :meth:`on_book` (default ``"<venue>/ws"``); its silence is
            :meth:`feed_last_msg`.
    """

    venue: str
    clock: VenueClock
    detectors: DetectorSettings = field(default_factory=DetectorSettings)
    oi_window_ms: int = 3_600_000
    alert_capacity: int = 200
    predicted_label: str = "HlPerp"
    mono: Callable[[], float] = time.monotonic
    stream_feed: str = ""

    def __post_init__(self) -> None:
        self.store = MarketStore(oi_window_ms=self.oi_window_ms)
        self.alerts: deque[Alert] = deque(maxlen=self.alert_capacity)
        self.feeds: dict[str, FeedStatus] = {}
        self.last_msg: dict[str, float] = {}
        if not self.stream_feed:
            self.stream_feed = f"{self.venue}/ws"
        self._connected_mono: dict[str, float] = {}
        self.selected: str | None = None
        self.book: BookSnapshot | None = None
        self.trades: deque[Trade] = deque(maxlen=200)
        self.alert_seq = 0
        self._dirty: set[str] = set()
        self._subs: list[_Subscriber] = []
        self._cascade: dict[str, CascadeDetector] = {}
        self._funding_alerts: dict[str, FundingAlerter] = {}
        self._last_settlement_hour: int | None = None
        self.ctx_count = 0
        self.marks: dict[str, float] = {}
        """Mark price (USD) by symbol, from contexts of the loaded universe only."""
        self.mids: dict[str, float] = {}
        """Mid price (USD) by coin (:meth:`on_mids`): perps of the loaded universe, and at most
        :data:`MAX_OTHER_MIDS` others (spot pairs ``"@<index>"``, ``"BASE/QUOTE"``; coins seen
        before the universe loaded), the first seen kept."""
        self.unknown_symbols = 0
        """``allMids`` entries dropped because their coin is outside the loaded universe (and no
        room was left under :data:`MAX_OTHER_MIDS`), since construction."""
        self._other_mids = 0

    # ------------------------------------------------------------------ consumers
    def subscribe(self, maxsize: int = 1024) -> asyncio.Queue[Event]:
        """A bounded queue receiving every future event; on overflow the oldest is dropped."""
        sub = _Subscriber(asyncio.Queue(maxsize=maxsize))
        self._subs.append(sub)
        return sub.queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        """Stop delivering events to ``queue``."""
        self._subs = [s for s in self._subs if s.queue is not queue]

    def take_dirty(self) -> set[str]:
        """Symbols whose state changed since the previous call (and reset the set)."""
        dirty, self._dirty = self._dirty, set()
        return dirty

    def _publish(self, event: Event) -> None:
        for sub in self._subs:
            q = sub.queue
            if q.full():
                q.get_nowait()
                sub.dropped += 1
            q.put_nowait(event)

    # ------------------------------------------------------------------ queries
    def markets(self, include_delisted: bool = False) -> list[MarketState]:
        """Markets in universe order; delisted ones only when asked."""
        return [m for m in self.store.markets.values() if include_delisted or not m.info.delisted]

    def is_stale(self, state: MarketState, stale_after_s: float, now_mono: float | None = None) -> bool:
        """True when ``state`` has had no update for ``stale_after_s`` wall seconds."""
        c = state.ctx
        if c is None or c.recv_mono == 0.0:
            return True
        now = self.mono() if now_mono is None else now_mono
        return now - c.recv_mono > stale_after_s

    def feed_last_msg(self, feed: str) -> float | None:
        """Monotonic time (s, the ``mono`` clock) of the last message on ``feed``, or of its
        connection when nothing came since; ``None`` for a feed whose messages the engine does
        not see (anything but :attr:`stream_feed`) or that never connected nor sent."""
        if feed != self.stream_feed:
            return None
        times = list(self.last_msg.values())
        connected = self._connected_mono.get(feed)
        if connected is not None:
            times.append(connected)
        return max(times, default=None)

    # ------------------------------------------------------------------ MarketDataSink
    def on_markets(self, markets: list[MarketInfo], ctxs: list[AssetCtx | None]) -> None:
        """Load a full universe snapshot (MarketDataSink)."""
        now = self.clock.now_ms()
        self.store.load(markets, ctxs, now)
        self._dirty.update(self.store.markets)
        self.marks.update({c.symbol: c.mark_px for c in ctxs if c is not None})
        # Alerts are about changes: the state found at (re)load establishes the baseline
        # silently, so opening the console does not replay every already-extreme market.
        for ctx in ctxs:
            if ctx is not None:
                self._funding_alerter(ctx.symbol).update(ctx.symbol, now, ctx.funding, ctx.funding_interval_h)
        self._publish(MarketsLoaded(len(self.store.markets)))

    def on_ctx(self, ctx: AssetCtx) -> None:
        """Apply one market's new context and run the detectors (MarketDataSink, hot path)."""
        state = self.store.markets.get(ctx.symbol)
        if state is None:
            return
        self.ctx_count += 1
        self.last_msg["activeAssetCtx"] = ctx.recv_mono
        now = self.clock.now_ms()
        self._check_settlement(now)
        prev_funding = state.ctx.funding if state.ctx is not None else None
        self.store.apply(state, ctx, now)
        self.marks[ctx.symbol] = ctx.mark_px
        self._dirty.add(ctx.symbol)
        det = self._cascade.get(ctx.symbol)
        if det is None:
            d = self.detectors
            det = self._cascade[ctx.symbol] = CascadeDetector(
                sample_interval_ms=int(d.cascade_sample_s * 1000),
                window=d.cascade_window,
                oi_drop=d.cascade_oi_drop,
                price_move=d.cascade_price_move,
                cooldown_ms=int(d.cascade_cooldown_s * 1000),
            )
        sig = det.update(now, ctx.mark_px, ctx.open_interest)
        if sig is not None:
            self._raise(sig.to_alert(ctx.symbol))
        if prev_funding != ctx.funding:
            interval_ms = ctx.funding_interval_h * 3_600_000
            # A prediction made from the first samples of an interval is noise: judge extremes
            # only once PREDICTION_SETTLE_FRACTION of the interval is behind it.
            if now % interval_ms >= interval_ms * PREDICTION_SETTLE_FRACTION:
                alert = self._funding_alerter(ctx.symbol).update_extreme(
                    ctx.symbol, now, ctx.funding, ctx.funding_interval_h
                )
                if alert is not None:
                    self._raise(alert)

    def _funding_alerter(self, symbol: str) -> FundingAlerter:
        fa = self._funding_alerts.get(symbol)
        if fa is None:
            d = self.detectors
            fa = self._funding_alerts[symbol] = FundingAlerter(extreme_apr=d.extreme_apr, flip_min_apr=d.flip_min_apr)
        return fa

    def on_mids(self, mids: Mapping[str, float], recv_mono: float) -> None:
        """Mid prices by coin, USD (MarketDataSink); spot pairs included as the venue names them.

        Bounded: a perp coin is stored when it is in the loaded universe; a spot pair
        (``"@<index>"`` or ``"BASE/QUOTE"``, an open universe the engine does not load), or any
        coin while no universe is loaded yet, only while fewer than :data:`MAX_OTHER_MIDS` such
        entries are stored (entries already stored keep updating). Every other coin is counted
        in :attr:`unknown_symbols`, not stored."""
        self.last_msg["allMids"] = recv_mono
        stored = self.mids
        known = self.store.markets
        for coin, px in mids.items():
            if coin in stored or coin in known:
                stored[coin] = px
            elif (not known or _is_spot_pair(coin)) and self._other_mids < MAX_OTHER_MIDS:
                stored[coin] = px
                self._other_mids += 1
            else:
                self.unknown_symbols += 1

    def on_trades(self, trades: Iterable[Trade]) -> None:
        """Public trades of the selected market (MarketDataSink)."""
        last = None
        for t in trades:
            self.trades.append(t)
            last = t
        if last is not None:
            self.last_msg["trades"] = self.mono()
            self.clock.observe(last.time_ms)
            self._dirty.add(last.symbol)

    def on_book(self, book: BookSnapshot) -> None:
        """L2 book of the selected market; its timestamp anchors the venue clock."""
        self.book = book
        self.last_msg["l2Book"] = self.mono()
        self.clock.observe(book.time_ms)
        self._dirty.add(book.symbol)

    def on_funding_history(self, symbol: str, points: list[FundingPoint]) -> None:
        """Settled funding history for one market (MarketDataSink)."""
        self.store.set_funding_history(symbol, points)
        if symbol in self.store.markets:
            self._dirty.add(symbol)

    def on_predicted(self, predicted: list[PredictedFunding]) -> None:
        """Predicted fundings; sets each market's next settlement time (MarketDataSink)."""
        self.store.set_predicted(predicted, self.predicted_label)
        known = self.store.markets
        self._dirty.update(p.symbol for p in predicted if p.symbol in known)

    def on_feed_status(self, status: FeedStatus) -> None:
        """Record a feed's state and tell subscribers when it changed (MarketDataSink)."""
        prev = self.feeds.get(status.feed)
        self.feeds[status.feed] = status
        if status.state is FeedState.CONNECTED and (prev is None or prev.state is not FeedState.CONNECTED):
            self._connected_mono[status.feed] = self.mono()  # silence counts from the connection
        if prev is None or prev.state != status.state or prev.detail != status.detail:
            log.info("feed %s: %s %s", status.feed, status.state.value, status.detail)
        self._publish(status)

    # ------------------------------------------------------------------ internals
    def on_liquidations(self, records: Iterable[Liquidation]) -> None:
        """Forced closes seen on any venue: their USD strengthens the market's cascade detector
        (docs/domain.md §5: with liquidations in the interval the OI condition is relaxed). Times
        must be on the venue clock of :meth:`on_ctx` (the simulator serves both on its own)."""
        for liq in records:
            det = self._cascade.get(liq.symbol)
            if det is not None and liq.usd > 0:
                det.add_liquidations(liq.time_ms, liq.usd)

    def raise_alert(self, alert: Alert) -> None:
        """Record and publish an alert found outside the engine's own detectors (e.g. a
        cross-venue liquidation surge)."""
        self._raise(alert)

    def _raise(self, alert: Alert) -> None:
        self.alerts.appendleft(alert)
        self.alert_seq += 1
        log.warning("alert: %s", alert.message)
        self._publish(alert)

    def _check_settlement(self, now_ms: int) -> None:
        hour = now_ms // 3_600_000
        if self._last_settlement_hour is None:
            self._last_settlement_hour = hour
        elif hour != self._last_settlement_hour:
            self._last_settlement_hour = hour
            boundary = hour * 3_600_000
            self._publish(Settlement(boundary))
            self._check_flips(boundary)

    def _check_flips(self, boundary_ms: int) -> None:
        """At a settlement, compare each market's rate in force (the last one before the
        boundary, i.e. the rate being settled) with its last established sign. Flips are about
        funding actually paid; intra-hour wobbles of the prediction are not news."""
        for state in self.store.markets.values():
            c = state.ctx
            if c is None or state.info.delisted:
                continue
            alert = self._funding_alerter(c.symbol).update_flip(c.symbol, boundary_ms, c.funding, c.funding_interval_h)
            if alert is not None:
                self._raise(alert)

    def top_funding(self, n: int = 3) -> tuple[list[MarketState], list[MarketState]]:
        """The ``n`` listed markets with the highest and the lowest current funding APR."""
        live = [m for m in self.store.markets.values() if m.ctx is not None and not m.info.delisted]
        live.sort(key=lambda m: apr(m.ctx.funding, m.ctx.funding_interval_h))  # type: ignore[union-attr]
        return live[::-1][:n], live[:n]
