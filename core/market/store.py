"""Market-state store: the latest value per market plus bounded history.

One :class:`MarketState` per market keeps the latest :class:`~pfterm.core.market.models.AssetCtx`,
the venue's predicted fundings, settled funding history and ring buffers of sampled
(mark, open interest) used by plots and detectors. Every buffer is bounded
(``deque(maxlen=…)``) so a console left running for weeks uses constant memory.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from pfterm.core.market.funding import PremiumSampler, apr, basis_fraction, premium_sample
from pfterm.core.market.models import AssetCtx, FundingPoint, MarketInfo, PredictedFunding
from pfterm.core.market.signals import Quadrant, oi_quadrant


@dataclass(slots=True, frozen=True)
class Sample:
    """One point of a market's sampled history: venue time (ms), mark (USD), open interest in
    base units and in USD, funding rate per the market's interval."""

    time_ms: int
    mark_px: float
    oi: float
    oi_usd: float
    funding: float


@dataclass(slots=True)
class MarketState:
    """Everything the engine knows about one market.

    ``oi_change`` / ``price_change`` are fractions over the configured OI window (venue
    time), ``None`` until the window holds two samples; OI change is measured in contracts
    (base units), so a price move alone never shows as an OI change (docs/domain.md §5). ``next_funding_ms`` is the venue's
    next settlement time (ms UTC) from ``predictedFundings`` when it has reported one.
    """

    info: MarketInfo
    ctx: AssetCtx | None = None
    sampler: PremiumSampler = field(default_factory=PremiumSampler)
    history: deque[Sample] = field(default_factory=lambda: deque(maxlen=720))
    window: deque[Sample] = field(default_factory=lambda: deque(maxlen=64))
    funding_history: deque[FundingPoint] = field(default_factory=lambda: deque(maxlen=500))
    predicted: dict[str, PredictedFunding] = field(default_factory=dict)
    next_funding_ms: int | None = None
    oi_change: float | None = None
    price_change: float | None = None
    quadrant: Quadrant = Quadrant.NEUTRAL
    last_premium: float | None = None
    updated_ms: int = 0

    @property
    def symbol(self) -> str:
        """The venue's coin name."""
        return self.info.symbol

    @property
    def basis(self) -> float | None:
        """Mark versus oracle (index) as a fraction: ``(mark − oracle) / oracle`` (docs/domain.md §2)."""
        c = self.ctx
        if c is None or c.oracle_px <= 0:
            return None
        return basis_fraction(c.mark_px, c.oracle_px)

    @property
    def funding_apr(self) -> float | None:
        """The venue's current rate annualised (fraction/year, docs/domain.md §1)."""
        c = self.ctx
        return None if c is None else apr(c.funding, c.funding_interval_h)

    @property
    def predicted_local(self) -> float | None:
        """Hourly rate predicted locally from the sampled premiums of the running hour."""
        return self.sampler.predicted_rate


MAX_PREDICTED_VENUES = 8
"""Most venue labels :attr:`MarketState.predicted` holds per market."""


class MarketStore:
    """Latest state per market with bounded history; no I/O, no locking (one event loop).

    Args:
        history_step_ms: minimum venue-time spacing of retained history samples.
        oi_window_ms: window (venue time) over which OI change and price change are measured.
    """

    def __init__(self, *, history_step_ms: int = 5_000, oi_window_ms: int = 3_600_000) -> None:
        self.markets: dict[str, MarketState] = {}
        self.history_step_ms = history_step_ms
        self.oi_window_ms = oi_window_ms
        self._window_step_ms = max(1, oi_window_ms // 60)

    def __len__(self) -> int:
        return len(self.markets)

    def get(self, symbol: str) -> MarketState | None:
        """The state of ``symbol`` or ``None``."""
        return self.markets.get(symbol)

    def load(self, markets: list[MarketInfo], ctxs: list[AssetCtx | None], now_ms: int) -> None:
        """Replace the universe from a full snapshot, keeping history of markets that remain."""
        fresh: dict[str, MarketState] = {}
        for info, ctx in zip(markets, ctxs, strict=True):
            state = self.markets.get(info.symbol) or MarketState(info=info)
            state.info = info
            fresh[info.symbol] = state
            if ctx is not None:
                self.apply(state, ctx, now_ms)
        self.markets = fresh

    def apply(self, state: MarketState, ctx: AssetCtx, now_ms: int) -> None:
        """Apply one new context at venue time ``now_ms`` (hot path: O(1) amortised)."""
        state.ctx = ctx
        state.updated_ms = now_ms
        p: float | None
        if ctx.impact_bid is not None and ctx.impact_ask is not None and ctx.oracle_px > 0:
            p = premium_sample(ctx.impact_bid, ctx.impact_ask, ctx.oracle_px)
        else:
            p = ctx.premium
        if p is not None:
            state.last_premium = p
            state.sampler.add(now_ms, p)
        hist = state.history
        win = state.window
        sample = None
        if not hist or now_ms - hist[-1].time_ms >= self.history_step_ms:
            sample = Sample(now_ms, ctx.mark_px, ctx.open_interest, ctx.open_interest * ctx.oracle_px, ctx.funding)
            hist.append(sample)
        if not win or now_ms - win[-1].time_ms >= self._window_step_ms:
            if sample is None:
                sample = Sample(now_ms, ctx.mark_px, ctx.open_interest, ctx.open_interest * ctx.oracle_px, ctx.funding)
            win.append(sample)
            cutoff = now_ms - self.oi_window_ms
            while len(win) > 2 and win[1].time_ms <= cutoff:
                win.popleft()
        first = win[0]
        if len(win) >= 2 and first.oi > 0 and first.mark_px > 0:
            state.oi_change = ctx.open_interest / first.oi - 1.0
            state.price_change = ctx.mark_px / first.mark_px - 1.0
            state.quadrant = oi_quadrant(state.price_change, state.oi_change, dead_band=0.001)

    def set_funding_history(self, symbol: str, points: list[FundingPoint]) -> None:
        """Replace one market's settled funding history (oldest first, bounded)."""
        state = self.markets.get(symbol)
        if state is not None:
            state.funding_history.clear()
            state.funding_history.extend(points)

    def set_predicted(self, predicted: list[PredictedFunding], venue_label: str) -> None:
        """Record predicted fundings; ``venue_label``'s entries also set ``next_funding_ms``.

        Bounded: only markets of the loaded universe, at most :data:`MAX_PREDICTED_VENUES` venue
        labels each (the first seen; Hyperliquid sends three: HlPerp, BinPerp, BybitPerp)."""
        for p in predicted:
            state = self.markets.get(p.symbol)
            if state is None:
                continue
            if p.venue not in state.predicted and len(state.predicted) >= MAX_PREDICTED_VENUES:
                continue  # bounded: further venue labels of one market are ignored
            state.predicted[p.venue] = p
            if p.venue == venue_label:
                state.next_funding_ms = p.next_funding_ms
