"""Immutable snapshots of engine state for display.

Widgets never hold engine objects: at each flush the console turns the markets that
changed into :class:`MarketRow` values and the selected market into a
:class:`MarketDetailView`. The same snapshots serve any other front end (the headless
harvester's logs, ``--json`` outputs).
"""

from __future__ import annotations

from dataclasses import dataclass

from pfterm.core.market.funding import apr, next_settlement_ms
from pfterm.core.market.models import BookSnapshot, FeedState, FeedStatus, FundingPoint
from pfterm.core.market.signals import Quadrant
from pfterm.core.market.store import MarketState, Sample


@dataclass(slots=True, frozen=True)
class MarketRow:
    """One line of the markets panel.

    Prices USD; ``basis`` fraction of oracle; ``funding`` fraction per ``interval_h`` hours;
    ``funding_apr`` fraction per year; ``next_funding_ms`` ms UTC (venue's value when known,
    else the next interval boundary); ``oi_usd`` USD (one side × oracle); ``oi_change`` and
    ``price_change`` fractions over the OI window; ``oi_span_ms`` the venue time (ms) those two
    changes really cover (shorter than the configured window while it fills, 0 while they are
    unknown); ``volume_usd`` 24 h notional USD; ``recv_mono`` the monotonic receive time of the
    data shown (for latency measurement).
    """

    symbol: str
    mark: float
    oracle: float
    basis: float
    funding: float
    interval_h: float
    funding_apr: float
    next_funding_ms: int
    oi_usd: float
    oi_change: float | None
    price_change: float | None
    quadrant: Quadrant
    volume_usd: float
    delisted: bool
    stale: bool
    recv_mono: float
    oi_span_ms: int = 0


def market_row(state: MarketState, now_ms: int, stale: bool) -> MarketRow | None:
    """Snapshot ``state`` as a :class:`MarketRow`; ``None`` before its first context."""
    c = state.ctx
    if c is None:
        return None
    nxt = state.next_funding_ms
    if nxt is None or nxt <= now_ms:
        nxt = next_settlement_ms(now_ms, c.funding_interval_h)
    return MarketRow(
        symbol=state.info.symbol,
        mark=c.mark_px,
        oracle=c.oracle_px,
        basis=(c.mark_px - c.oracle_px) / c.oracle_px if c.oracle_px > 0 else 0.0,
        funding=c.funding,
        interval_h=c.funding_interval_h,
        funding_apr=apr(c.funding, c.funding_interval_h),
        next_funding_ms=nxt,
        oi_usd=c.open_interest * c.oracle_px,
        oi_change=state.oi_change,
        price_change=state.price_change,
        quadrant=state.quadrant,
        volume_usd=c.day_ntl_vlm,
        delisted=state.info.delisted,
        stale=stale,
        recv_mono=c.recv_mono,
        oi_span_ms=_oi_span_ms(state),
    )


def _oi_span_ms(state: MarketState) -> int:
    """Venue time (ms) covered by ``state.oi_change``: from the oldest sample of the OI window to
    the latest update it was computed at; 0 while the change is unknown."""
    if state.oi_change is None or not state.window:
        return 0
    return max(0, max(state.updated_ms, state.window[-1].time_ms) - state.window[0].time_ms)


@dataclass(slots=True, frozen=True)
class MarketDetailView:
    """Everything the market-detail panel shows for the selected market.

    ``premium`` is the latest locally computed premium sample (fraction of oracle);
    ``predicted_local`` the hourly rate predicted from this hour's sampled premiums
    (docs/domain.md §1) with ``premium_samples`` samples; ``venue_predicted`` the venue's own
    hourly rate. ``history`` are sampled (time, mark, OI, funding) points; ``funding_history``
    settled rates, oldest first.
    """

    row: MarketRow
    mid: float | None
    premium: float | None
    venue_premium: float | None
    impact_bid: float | None
    impact_ask: float | None
    predicted_local: float | None
    premium_samples: int
    max_leverage: int
    sz_decimals: int
    open_interest: float
    prev_day_px: float
    history: tuple[Sample, ...]
    funding_history: tuple[FundingPoint, ...]
    book: BookSnapshot | None


def market_detail(state: MarketState, row: MarketRow, book: BookSnapshot | None) -> MarketDetailView:
    """Snapshot the selected market for the detail panel (``book`` only if it is this market's)."""
    c = state.ctx
    assert c is not None
    return MarketDetailView(
        row=row,
        mid=c.mid_px,
        premium=state.last_premium,
        venue_premium=c.premium,
        impact_bid=c.impact_bid,
        impact_ask=c.impact_ask,
        predicted_local=state.sampler.predicted_rate,
        premium_samples=state.sampler.count,
        max_leverage=state.info.max_leverage,
        sz_decimals=state.info.sz_decimals,
        open_interest=c.open_interest,
        prev_day_px=c.prev_day_px,
        history=tuple(state.history),
        funding_history=tuple(state.funding_history),
        book=book if book is not None and book.symbol == state.info.symbol else None,
    )


@dataclass(slots=True, frozen=True)
class FeedView:
    """One feed as the status bar shows it: its :class:`FeedStatus` and ``silent_s``, the
    seconds since its last message when the feed is CONNECTED but has been silent for at least
    ``stale_after_s`` (``None`` otherwise: not stale)."""

    status: FeedStatus
    silent_s: float | None = None

    @property
    def stale(self) -> bool:
        """True while the feed is connected but silent (see ``silent_s``)."""
        return self.silent_s is not None


def feed_view(status: FeedStatus, last_msg_mono: float | None, stale_after_s: float, now_mono: float) -> FeedView:
    """Snapshot ``status`` for display; stale when CONNECTED and ``now_mono - last_msg_mono``
    (monotonic s, e.g. :meth:`~pfterm.core.market.engine.Engine.feed_last_msg`) is at least
    ``stale_after_s`` (wall s, ``markets.stale_after_s``). ``last_msg_mono=None``: never stale."""
    if status.state is not FeedState.CONNECTED or last_msg_mono is None:
        return FeedView(status)
    silent = now_mono - last_msg_mono
    return FeedView(status, silent if silent >= stale_after_s else None)


def sort_value(row: MarketRow, key: str) -> float | str:
    """The value ``row`` is ordered by for sort ``key`` (descending for numbers)."""
    if key == "funding":
        return row.funding_apr
    if key == "abs_funding":
        return abs(row.funding_apr)
    if key == "oi":
        return row.oi_usd
    if key == "oi_change":
        return row.oi_change if row.oi_change is not None else float("-inf")
    if key == "volume":
        return row.volume_usd
    if key == "symbol":
        return row.symbol.lower()
    raise ValueError(f"unknown sort key {key!r}")


__all__ = ["FeedView", "MarketRow", "MarketDetailView", "feed_view", "market_row", "market_detail", "sort_value"]
