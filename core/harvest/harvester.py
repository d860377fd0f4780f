"""The funding harvester: the automated face of pfterm, on the console's own trading desk.

Every cycle (``cycle_s`` of venue time):

1. **Read** every perp market (``metaAndAssetCtxs``), every mid (``allMids``, spot pairs
   included) and the account (through the :class:`~pfterm.core.trading.desk.Desk`). Open interest is
   kept per market over the last scans to judge its trend (``docs/domain.md`` §5).
2. **Halt** when the account is HALTED (the kill switch from any process, or the daily loss
   limit): nothing more is entered and the harvester stops.
3. **Finish openings**: a perp leg posted as a maker order (ALO) last cycle that is still
   resting is cancelled and the remainder sent as an IOC within the slippage bound; the spot
   leg is then bought to the perp leg's filled size.
4. **Exits** (:func:`pfterm.core.harvest.strategy.exit_decision`): funding flipped, basis stop, basis wider
   than 2× entry, APR below the profile's exit level, maximum holding time (close both legs),
   or liquidation distance below 15 % (reduce both legs first).
5. **Entries**: every market is scored (:func:`pfterm.core.harvest.strategy.evaluate`: OI floor, entry APR,
   a hedge leg, fees amortised over the expected holding, basis, settlement timing,
   quarter-Kelly size) and the best are allocated within the profile's per-market and total
   caps and the venue share (:func:`pfterm.core.harvest.strategy.allocate`). A position is long spot + short
   perp (cash-and-carry) where the venue lists a spot market for the asset; otherwise, with
   a second venue attached (the desk's Binance order manager), perp against perp:
   short the perp whose funding pays more, long the other, collecting the spread of the two
   rates. The Hyperliquid leg is posted as a post-only maker order at the top of the book when
   ``maker_first``, else sent as an IOC; the other leg (spot, or the Binance perp) follows as
   an IOC matched to what filled.
6. **Delta**: the same rebalance action as the console's ``r`` key
   (:meth:`~pfterm.core.trading.desk.Desk.preview_rebalance`) brings any carry asset over the threshold
   back; a perp-against-perp position's Binance leg is resized to the Hyperliquid leg when the
   two differ by more than the rebalance ladder's 2 % (``docs/domain.md`` §3).

Every decision (entered, skipped and why, exited and why) is journalled as an event with
its inputs and kept in a bounded list for the console's panel. Orders carry
``purpose="harvest"`` and go through the desk's risk gate and journal like any order.

Units: USD, base units, fractions (APR 0.2 = 20 %), ms timestamps.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from pfterm.core.harvest.settings import HarvestSection
from pfterm.core.harvest.strategy import (
    PROFILES,
    Candidate,
    Exit,
    FundingMarket,
    HeldPosition,
    Profile,
    ScoreModel,
    Skip,
    allocate,
    carry_apr,
    evaluate,
    exit_decision,
)
from pfterm.core.market.funding import next_settlement_ms
from pfterm.core.market.models import MarketInfo, OrderIntent
from pfterm.core.market.signals import Trend, oi_trend
from pfterm.core.trading.binance import BINANCE_TAKER_FEE, HedgeQuote
from pfterm.core.trading.desk import Desk
from pfterm.core.trading.hyperliquid import HL_MAKER_FEE
from pfterm.core.trading.orders import OrderManager
from pfterm.core.trading.risk import TradingState
from pfterm.core.trading.state import POLL_S
from pfterm.core.venues.errors import VenueError
from pfterm.core.venues.hyperliquid.orders import Cloid, floor_size, market_price, round_price

log = logging.getLogger(__name__)

__all__ = ["Decision", "HarvestPosition", "Harvester", "HarvesterSettings", "HarvesterView", "RateAverage"]

DECISIONS_KEPT = 300
MIN_LEG_USD = 10.0
SPOT_TAKER_FEE = 0.0007
"""Hyperliquid base-tier spot taker fee, a fraction (0.07 %,
https://hyperliquid.gitbook.io/hyperliquid-docs/trading/fees)."""
CARRY_FEE = HL_MAKER_FEE + SPOT_TAKER_FEE
"""Fee per leg pair of a cash-and-carry entry: perp maker + spot taker; passed to the seed's
``rate − 2 × fee / holding_periods`` net-rate test, so the exit is priced like the entry."""
PERP_PERP_FEE = HL_MAKER_FEE + BINANCE_TAKER_FEE
"""Fee per leg pair of a perp-against-perp entry: Hyperliquid maker + Binance taker; with the
same test this is seed 001's minimum cross-venue spread ``(fee_A + fee_B) × 2 / periods``."""
HEDGE_RESIZE = 0.02
"""A perp hedge leg is resized when it differs from the first leg by more than 2 % of the
position (the rebalance ladder's "resize both legs" rung, ``docs/domain.md`` §3)."""


@dataclass(slots=True, frozen=True)
class HarvesterSettings:
    """The harvester's knobs, resolved from ``[harvest]``
    (:class:`~pfterm.core.harvest.settings.HarvestSection`, where each key's default and meaning
    is written) by :meth:`from_section`, the one place that builds it.

    A frozen dataclass rather than the section itself: it is the resolved form the harvest loop
    reads on every cycle — ``profile`` is the :class:`~pfterm.core.harvest.strategy.Profile` the
    section's name stands for (or ``pfterm harvest --profile``'s), ``horizon_periods`` is a
    number (``max_hold_h / 8`` when the key is unset) — and a run's knobs are varied with
    :func:`dataclasses.replace`. The fields named like the section's keys have no defaults of
    their own; the two below them are strategy constants, not config keys:

    * ``oi_scans``: scans in the open-interest trend window;
    * ``min_entry_basis``: the "basis wider than 2× entry" exit (seed 000) applies only to an
      entry basis at least this large (0.2 %): below it, doubling is ordinary noise of a few
      basis points and the rule would churn positions (and fees) on every wiggle.
    """

    profile: Profile
    score_model: ScoreModel
    min_oi_usd: float
    holding_periods: float
    spread_holding_periods: float
    horizon_periods: float
    cycle_s: float
    max_hold_h: float
    maker_first: bool
    slippage: float
    reduce_below: float
    perp_hedge: str
    spread_window_h: float
    rate_window_h: float
    max_entry_wait_s: float
    oi_scans: int = 12
    min_entry_basis: float = 0.002

    @classmethod
    def from_section(cls, section: HarvestSection | None = None, profile: str | None = None) -> HarvesterSettings:
        """The knobs of ``section`` (the defaults when ``None``), with ``profile`` (a profile
        name) overriding the section's.

        Raises:
            KeyError: ``profile`` names no profile of :data:`~pfterm.core.harvest.strategy.PROFILES`.
        """
        s = section if section is not None else HarvestSection()
        values: dict[str, Any] = {
            "profile": PROFILES[profile or s.profile],
            "horizon_periods": s.horizon_periods or s.max_hold_h / 8,
        }
        for f in fields(cls):
            if f.name not in values and f.name in HarvestSection.model_fields:
                values[f.name] = getattr(s, f.name)
        return cls(**values)


@dataclass(slots=True, frozen=True)
class Decision:
    """One harvester decision: venue time ms, market, ``action`` (``enter``, ``skip``, ``exit``,
    ``reduce``, ``rebalance``, ``halt``, ``error``), one-line reason and its inputs."""

    time_ms: int
    symbol: str
    action: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class HarvestPosition:
    """A position the harvester holds: perp ``symbol``, its spot pair (``"@142"``, ``None`` when
    the hedge is declared external spot), side, when and at what APR/basis it was entered,
    sizes (base units; perp signed), and the oid of a maker perp order still working
    (``pending_oid``) with its target size.

    Sides: ``short_perp`` is cash-and-carry (long spot + short perp, positive funding);
    ``long_perp`` harvests negative funding by selling spot already held and buying the perp.
    Either way the spot leg is kept at ``spot_base − perp_size``.

    With ``hedge_venue`` set (``"binance"``) the position is perp against perp: the other leg is
    that venue's perp, kept at ``−perp_size`` (``hedge_size``, signed base units)."""

    id: str
    symbol: str
    spot_pair: str | None
    spot_asset: int | None
    side: str
    entry_ms: int
    entry_apr: float
    entry_basis: float
    target_size: float
    perp_size: float = 0.0
    spot_size: float = 0.0
    pending_oid: int | None = None
    spot_base: float = 0.0
    """Venue spot held before this position (base units): the spot leg is ``spot_base − perp``."""
    hedge_venue: str | None = None
    hedge_size: float = 0.0

    def held(self, mark_px: float) -> HeldPosition:
        """The strategy's view of this position (notional at ``mark_px``, USD)."""
        return HeldPosition(
            symbol=self.symbol,
            side=self.side,  # type: ignore[arg-type]
            entry_ms=self.entry_ms,
            entry_apr=self.entry_apr,
            entry_basis=self.entry_basis,
            notional_usd=abs(self.perp_size) * mark_px,
        )


@dataclass(slots=True, frozen=True)
class HarvesterView:
    """What the console's Harvester panel shows."""

    status: str
    profile: str
    cycles: int
    positions: tuple[tuple[str, str, float, float, float], ...]
    """symbol, strategy label (``carry``, ``reverse``, ``vs binance``), perp size (signed base
    units), notional USD, entry APR (fraction)."""
    targets: tuple[tuple[str, float], ...]  # symbol, USD the last allocation wanted to add
    decisions: tuple[Decision, ...]
    funding_usd: float
    last_cycle_ms: int | None
    error: str | None


@functools.lru_cache(maxsize=64)
def _ewma_weight(dt_ms: int, tau_ms: float) -> float:
    """``1 − exp(−Δt / τ)``; every market is sampled at the same instants, so a few Δt recur."""
    return 1.0 - math.exp(-dt_ms / tau_ms) if tau_ms > 0 else 1.0


@dataclass(slots=True)
class RateAverage:
    """Exponentially weighted time average of one funding rate (fraction per its interval).

    ``update(rate, now_ms, tau_ms)`` folds in a sample with weight ``1 − exp(−Δt / τ)``
    (Δt since the previous sample, ms; the first sample is the average) and returns the average.
    ``since_ms`` is when the first sample came: an average younger than ``τ`` mostly reflects
    its first samples (see :attr:`HarvesterSettings.spread_window_h`)."""

    value: float = 0.0
    last_ms: int | None = None
    since_ms: int | None = None

    def update(self, rate: float, now_ms: int, tau_ms: float) -> float:
        if self.last_ms is None or self.since_ms is None:
            self.value, self.last_ms, self.since_ms = rate, now_ms, now_ms
            return rate
        dt = max(now_ms - self.last_ms, 0)
        w = _ewma_weight(dt, tau_ms)
        self.value += w * (rate - self.value)
        self.last_ms = now_ms
        return self.value

    def age_ms(self, now_ms: int) -> int:
        """How long this average has been collecting samples, ms."""
        return 0 if self.since_ms is None else now_ms - self.since_ms

    def seed(self, points: list[tuple[int, float]], tau_ms: float) -> None:
        """Fold in past samples ``[(time ms, rate), ...]`` oldest first (a venue's settled
        funding history), as if they had been seen live; ``since_ms`` becomes the first one's
        time. Samples not newer than the last one folded are ignored."""
        for t, rate in points:
            if self.last_ms is None or t > self.last_ms:
                self.update(rate, t, tau_ms)


@dataclass(slots=True)
class _SpotPair:
    name: str
    asset_id: int
    sz_decimals: int


class Harvester:
    """Runs the harvest cycle on ``desk`` (see the module docstring).

    Args:
        desk: the trading desk (the console's own, or a headless one); must be able to trade.
        settings: strategy knobs.
        now_ms: the venue's clock (ms); the simulator's clock in a lockstep session.
        hedge: the second venue's order manager for perp-against-perp positions (``None``:
            markets without a spot leg are skipped). It is attached to ``desk``
            (:meth:`~pfterm.core.trading.desk.Desk.attach`) so that its orders pass the same gate and
            the kill switch covers it; this constructor does it.
    """

    def __init__(
        self,
        desk: Desk,
        settings: HarvesterSettings | None = None,
        *,
        now_ms: Callable[[], int] | None = None,
        hedge: OrderManager | None = None,
    ) -> None:
        self.desk = desk
        self.hedge = hedge
        if hedge is not None:
            desk.attach(hedge)
        self._quotes: dict[str, HedgeQuote] = {}
        self._rate_avg: dict[tuple[str, str], RateAverage] = {}
        self.settings = settings or HarvesterSettings.from_section()
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.status = "stopped"
        self.positions: dict[str, HarvestPosition] = {}
        self.decisions: deque[Decision] = deque(maxlen=DECISIONS_KEPT)
        self.cycles = 0
        self.error: str | None = None
        self.last_cycle_ms: int | None = None
        self.funding_usd = 0.0
        self._oi: dict[str, deque[float]] = {}
        self._spot: dict[str, _SpotPair] = {}
        self._started_ms: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._seq = 0
        self.targets: list[tuple[str, float]] = []
        """The last allocation: (symbol, USD to add), best first."""
        self.counts: Counter[str] = Counter()
        """Decisions journalled by action since start (the bounded list keeps only the latest); a
        market skipped again for the same kind of reason is not journalled, nor counted, again."""
        self.exit_reasons: Counter[str] = Counter()
        self._last_skip: dict[str, str] = {}
        self._windows: list[list[Any]] = []
        """[symbol, entered ms, left ms or None] of every position since start (funding windows)."""

    # ------------------------------------------------------------------ decisions
    def _decide(self, symbol: str, action: str, reason: str, **detail: Any) -> Decision:
        d = Decision(self.now_ms(), symbol, action, reason, detail)
        if action == "skip":
            # the same market skipped for the same kind of reason every cycle is one line, not hundreds
            kind = reason.split(" ")[0]
            if self._last_skip.get(symbol) == kind:
                return d
            self._last_skip[symbol] = kind
        else:
            self._last_skip.pop(symbol, None)
        self.counts[action] += 1
        if action in ("exit", "reduce"):
            self.exit_reasons[reason.split(":")[0]] += 1
        self.decisions.append(d)
        level = logging.WARNING if action in ("exit", "reduce", "halt", "error") else logging.INFO
        log.log(level, "harvest %s %s: %s", action, symbol, reason)
        self._log_event(f"harvest_{action}", f"{symbol}: {reason}", {"symbol": symbol, **detail})
        return d

    def _log_event(self, kind: str, message: str, detail: Mapping[str, Any]) -> None:
        om = self.desk.primary
        if om is not None and om.journal is not None:
            try:
                om.journal.log_event(kind, message, detail)
            except Exception as exc:  # noqa: BLE001 - a journal hiccup must not stop the cycle
                log.error("journal event failed: %s", exc)

    # ------------------------------------------------------------------ lifecycle
    async def load(self) -> None:
        """Read the venue's markets and spot pairs (for cash-and-carry legs) when the desk has
        not yet, and seed the funding averages."""
        om = self.desk.primary
        if om is None:
            raise RuntimeError(f"read-only: {self.desk.read_only_reason}")
        if not any(i.kind == "spot" for i in om.instruments.values()) or not self.desk.markets:
            await self.desk.start_venue(om)
        for inst in om.instruments.values():
            if inst.kind == "spot":
                self._spot.setdefault(inst.base, _SpotPair(inst.symbol, inst.asset_id, inst.rules.sz_decimals))  # type: ignore[attr-defined]
        if not self._spot:
            log.warning("no spot markets: cash-and-carry is off, perp-only markets are skipped")
        await self._seed_rate_averages()

    def _carry_symbols(self) -> list[str]:
        """Markets a position can be hedged in without a second venue: a venue spot pair or
        declared external spot (cash-and-carry, reverse carry, external hedge)."""
        ext = self.desk.settings.external_spot
        return sorted(s for s in self.desk.markets if s in self._spot or ext.get(s))

    async def _seed_rate_averages(self) -> None:
        """Seed each carry market's funding average from the venue's settled hourly rates
        (``fundingHistory`` over three time constants; weight ~21 a market): the harvester judges
        carries on the average from its first cycle instead of after a warm-up. A market whose
        history cannot be read warms up from live samples instead (logged)."""
        tau_h = self.settings.rate_window_h
        hl = self.desk.hyperliquid
        if tau_h <= 0 or hl is None:
            return
        tau_ms = tau_h * 3_600_000
        now = self.now_ms()
        for sym in self._carry_symbols():
            if ("carry", sym) in self._rate_avg:
                continue  # loaded before (the console's H after a stop): the average goes on
            try:
                rows = await hl.info.funding_history(sym, now - int(3 * tau_ms), now)
            except VenueError as exc:
                log.warning("funding history of %s unavailable (%s): its average warms up live", sym, exc)
                continue
            if rows:
                avg = self._rate_avg[("carry", sym)] = RateAverage()
                avg.seed([(p.time_ms, p.rate) for p in rows], tau_ms)

    def start(self) -> asyncio.Task[None]:
        """Run :meth:`run` in a task (the console's ``H``); returns it."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="harvester")
        return self._task

    async def stop(self) -> None:
        """Stop cycling (positions are left as they are); a halted harvester stays halted."""
        if self.status == "running":
            self.status = "stopped"
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def run(self, *, wall_per_venue_s: float = 1.0) -> None:
        """Cycle until stopped or halted; sleeps ``cycle_s × wall_per_venue_s`` wall seconds between
        cycles, watching the shared trading state meanwhile: a halt by any process (the kill key,
        ``pfterm kill``, the daily loss limit) stops it within :data:`~pfterm.core.trading.state.POLL_S`."""
        await self.load()
        if self.status != "halted":
            self.status = "running"
        while self.status == "running":
            await self.cycle()
            if self.status != "running":
                break
            wake = asyncio.get_running_loop().time() + self._next_wait_s() * wall_per_venue_s
            while self.status == "running":
                left = wake - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                await asyncio.sleep(min(left, POLL_S))
                if self.desk.state is TradingState.HALTED:
                    self._halt()

    def _next_wait_s(self) -> float:
        """Venue seconds to the next scan: one cycle, or sooner to scan as the next settlement
        comes into the preferred entry window (45 minutes before it, seed 001)."""
        now = self.now_ms()
        approach = next_settlement_ms(now, 1.0) - 45 * 60_000
        while approach <= now:
            approach += 3_600_000
        return max(1.0, min(self.settings.cycle_s, (approach - now) / 1000))

    # ------------------------------------------------------------------ the cycle
    async def cycle(self) -> None:
        """One scan: read, halt check, finish openings, exits, entries, delta."""
        desk = self.desk
        hl = desk.hyperliquid
        if hl is None:
            self.status = "halted"
            self._decide("*", "halt", f"read-only: {desk.read_only_reason}")
            return
        if desk.state is TradingState.HALTED or desk.kill_running:
            self._halt()
            return
        now = self.now_ms()
        if self._started_ms is None:
            self._started_ms = now
        self.cycles += 1
        try:
            (_metas, ctxs), mids = await asyncio.gather(hl.info.meta_and_asset_ctxs(), hl.info.all_mids())
            # the mids just read are not read a second time. Open orders and spot balances change
            # only by orders: they are read with a maker order of ours working, when the desk
            # asks (after an action of the console's), every third cycle, and after every order
            # of the harvester's (its own refreshes); margin and positions every cycle
            working = any(p.pending_oid is not None for p in self.positions.values())
            await desk.refresh(orders=working or desk.orders_due or self.cycles % 3 == 1, mids=mids)
        except VenueError as exc:
            self.error = str(exc)
            self._decide("*", "error", f"venue read failed: {exc}")
            return
        self.error = None
        if self.hedge is not None:
            # the account is read every third cycle while a perp hedge is held (legs, margin,
            # liquidation distance) and hourly otherwise (capital for sizing); every order of
            # the harvester reads it again at once, so its own changes are never missed
            held = any(p.hedge_venue for p in self.positions.values())
            due = self.hedge.snapshot is None or self.cycles % (3 if held else 12) == 1
            quotes = self.hedge.client.quotes  # type: ignore[attr-defined]
            try:
                if due:
                    _, self._quotes = await asyncio.gather(self.hedge.refresh(orders=False), quotes())
                else:
                    self._quotes = await quotes()
            except (VenueError, ValueError) as exc:
                # held perp-against-perp positions keep their legs; nothing new is entered there
                self._quotes = {}
                self.error = f"{self.hedge.venue}: {exc}"
                self._decide("*", "error", f"{self.hedge.venue} read failed: {exc}")
        self.last_cycle_ms = now
        desk.check_daily_loss()  # same rule as the poller, at the harvester's pace
        if desk.state is TradingState.HALTED or desk.kill_running:
            self._halt()
            return
        self._forget_gone()
        markets = self._markets(ctxs, mids, now)
        try:
            await self._finish_openings(markets)
            await self._exits(markets, now)
            await self._entries(markets, now)
            await self._delta(markets)
        except VenueError as exc:
            # a read between two orders failed: the orders sent are journalled and the next
            # cycle starts from a fresh reading of the account
            self.error = str(exc)
            self._decide("*", "error", f"venue read failed mid-cycle: {exc}")
        self._sync_sizes()
        self._update_funding()

    def _markets(self, ctxs: list[Any], mids: Mapping[str, float], now: int) -> dict[str, FundingMarket]:
        """This scan's markets, judged on averaged funding (:class:`RateAverage`) with this
        instant's rates beside (``rate_now``): a carry market (venue or external spot) on its
        own rate averaged over ``rate_window_h``, a market hedged by the other venue's perp on
        both rates averaged over ``spread_window_h``. Predicted rates swing by tens of % APR
        within minutes (a spread of two of them more so), and entering and leaving on each
        swing pays the fees every time."""
        out: dict[str, FundingMarket] = {}
        ext = self.desk.settings.external_spot
        listed = self.hedge_symbols()
        tau_ms = self.settings.spread_window_h * 3_600_000
        carry_tau_ms = self.settings.rate_window_h * 3_600_000
        avgs = self._rate_avg

        def averaged(kind: str, sym: str, rate: float, tau: float) -> float:
            a = avgs.get((kind, sym))
            if a is None:
                a = avgs[(kind, sym)] = RateAverage()
            return a.update(rate, now, tau)

        settle: dict[float, int] = {}  # next settlement by interval: the same for every market
        rising, falling = Trend.RISING, Trend.FALLING
        oi_scans = self.settings.oi_scans
        entry_apr = self.settings.profile.entry_apr
        for c in ctxs:
            if c is None:
                continue
            sym = c.symbol
            info = self.desk.markets.get(sym)
            if info is None or info.delisted:
                continue
            oi_usd = c.open_interest * c.oracle_px
            hist = self._oi.get(sym)
            if hist is None:
                hist = self._oi[sym] = deque(maxlen=oi_scans)
            hist.append(oi_usd)
            pair = self._spot.get(sym)
            spot_px = mids.get(pair.name) if pair is not None else None
            if spot_px is not None and not (spot_px > 0 and math.isfinite(spot_px)):
                spot_px = None
            held = self.positions.get(sym)
            quote = self._quotes.get(sym) if sym in listed else None
            rate = c.funding
            carry_rate = None
            if carry_tau_ms > 0 and (pair is not None or ext.get(sym)):
                carry_rate = averaged("carry", sym, c.funding, carry_tau_ms)
            if quote is not None:
                rate = averaged("own", sym, c.funding, tau_ms)
                hedge_rate = averaged("hedge", sym, quote.rate, tau_ms)
            carry_sign = c.funding if carry_rate is None else carry_rate
            hedge: Literal["spot", "external", "perp", "none"]
            if held is not None:
                # a held position is judged on the hedge it has
                hedge = "perp" if held.hedge_venue else ("spot" if spot_px else "external")
            elif spot_px and (carry_sign > 0 or self._spot_balance(sym) > 0):
                hedge = "spot"
            elif ext.get(sym) and carry_sign > 0:
                hedge = "external"
            elif quote is not None:
                hedge = "perp"  # no spot leg for this side: the other venue's perp
            else:
                hedge = "spot" if spot_px else "none"
            if hedge == "perp" and quote is None:
                hedge = "none"  # the other venue is not readable right now
            interval = c.funding_interval_h
            # a market neither held nor above the entry level is of no use to this scan (its
            # averages and OI trend are kept above): no snapshot is built for it
            if held is None:
                if hedge == "perp" and quote is not None:
                    apr = carry_apr(rate, interval, hedge_rate, quote.interval_h)
                else:
                    apr = carry_apr(carry_rate if carry_rate is not None and hedge != "none" else c.funding, interval)
                if not abs(apr) > entry_apr:
                    continue
            extra: dict[str, Any] = {}
            if hedge == "perp" and quote is not None:
                extra = dict(
                    hedge_venue=self.hedge.venue if self.hedge else None,
                    hedge_rate=hedge_rate,
                    hedge_interval_h=quote.interval_h,
                    hedge_next_funding_ms=quote.next_funding_ms,
                    hedge_mark_px=quote.mark_px,
                    rate=rate,
                    rate_now=c.funding,
                    hedge_rate_now=quote.rate,
                )
            elif carry_rate is not None and hedge != "none":
                extra = dict(rate=carry_rate, rate_now=c.funding)
            else:
                extra = dict(rate=c.funding)
            nxt = settle.get(interval)
            if nxt is None:
                nxt = settle[interval] = next_settlement_ms(now, interval)
            trend = oi_trend(list(hist))
            out[sym] = FundingMarket(
                symbol=sym,
                interval_h=interval,
                next_funding_ms=nxt,
                mark_px=c.mark_px,
                index_px=c.oracle_px,
                spot_px=spot_px,
                open_interest_usd=oi_usd,
                oi_trend="rising" if trend is rising else ("falling" if trend is falling else "stable"),
                hedge=hedge,
                **extra,
            )
        return out

    def hedge_symbols(self) -> set[str]:
        """Symbols the hedge venue lists (empty without one)."""
        return set(self.hedge.client.rules) if self.hedge is not None else set()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ orders
    def _intent(
        self, symbol: str, asset: int, is_buy: bool, size: float, px: float, tif: str, reduce_only: bool
    ) -> OrderIntent:
        return OrderIntent(symbol, asset, is_buy, size, px, tif, reduce_only, Cloid.new().raw, "harvest")

    def _perp_ioc(
        self, m: FundingMarket, info: MarketInfo, is_buy: bool, size: float, reduce_only: bool
    ) -> OrderIntent:
        px = market_price(m.mark_px, is_buy, self.settings.slippage, sz_decimals=info.sz_decimals)
        return self._intent(info.symbol, info.asset_id, is_buy, size, px, "Ioc", reduce_only)

    def _spot_ioc(self, pair: _SpotPair, mid: float, is_buy: bool, size: float) -> OrderIntent:
        # prices on the perp tick rule are valid spot prices too (spot allows more decimals)
        px = market_price(mid, is_buy, self.settings.slippage, sz_decimals=pair.sz_decimals)
        return self._intent(pair.name, pair.asset_id, is_buy, size, px, "Ioc", False)

    async def _send(self, intents: list[OrderIntent], venue: str | None = None) -> list[Any]:
        """Through the desk's one order path: the shared trading state (a HALTED account sends
        nothing new), the risk gate, the journal."""
        return await self.desk.submit(intents, venue=venue)

    def _perp_position(self, symbol: str) -> float:
        acc = self.desk.account
        if acc is None:
            return 0.0
        return sum(p.size for p in acc.account.positions if p.symbol == symbol)

    def _spot_balance(self, symbol: str) -> float:
        acc = self.desk.account
        if acc is None:
            return 0.0
        return sum(b.total for b in acc.account.spot if b.coin == symbol)

    def _halt(self) -> None:
        """The account is HALTED (by this process or another): stop entering and cycling."""
        desk = self.desk
        rec = desk.state_record
        self.status = "halted"
        why = "kill switch" if desk.kill_running or "kill" in rec.reason else "trading halted"
        self._decide("*", "halt", f"{why} ({rec.origin}): harvester stopped; positions left to the kill switch")

    def _forget_gone(self) -> None:
        """Drop positions whose legs are all gone (the kill switch, a liquidation, by hand)."""
        for pos in list(self.positions.values()):
            if pos.pending_oid is not None:
                continue
            info = self.desk.markets.get(pos.symbol)
            step = 10 ** -(info.sz_decimals if info else 8)
            spot_gone = (
                pos.side != "short_perp"
                or pos.hedge_venue is not None
                or pos.spot_pair is None
                or (self._spot_balance(pos.symbol) <= pos.spot_base + step)
            )
            if abs(self._perp_position(pos.symbol)) < step and self._hedge_flat(pos) and spot_gone:
                self._forget(pos.symbol)

    # ------------------------------------------------------------------ steps
    async def _finish_openings(self, markets: Mapping[str, FundingMarket]) -> None:
        desk = self.desk
        for pos in list(self.positions.values()):
            if pos.pending_oid is None:
                continue
            m = markets.get(pos.symbol)
            info = desk.markets.get(pos.symbol)
            acc = desk.account
            if m is None or info is None or acc is None:
                continue
            resting = [o for o in acc.orders if o.oid == pos.pending_oid]
            if resting:
                await desk.cancel(resting, purpose="harvest")
                await desk.refresh()
            pos.pending_oid = None
            filled = abs(self._perp_position(pos.symbol))
            rest = floor_size(max(pos.target_size - filled, 0.0), info.sz_decimals)
            intents = []
            if rest * m.mark_px >= MIN_LEG_USD:
                intents.append(self._perp_ioc(m, info, pos.side == "long_perp", rest, False))
            if intents:
                await self._send(intents)
                await desk.refresh()
            await self._match_hedge(pos, m)

    async def _match_hedge(self, pos: HarvestPosition, m: FundingMarket) -> None:
        """Bring the position's other leg (spot, or the hedge venue's perp) to its first leg."""
        if pos.hedge_venue is not None:
            await self._match_perp_hedge(pos, m)
        else:
            await self._match_spot(pos, m)

    async def _match_perp_hedge(self, pos: HarvestPosition, m: FundingMarket, *, tolerance: float = 0.0) -> None:
        """IOC on the hedge venue so that its perp equals ``−perp`` (base units), when the gap
        is worth an order (above the venue's minimum notional, and above ``tolerance`` × the
        position's notional)."""
        hedge = self.hedge
        if hedge is None:
            return
        perp = self._perp_position(pos.symbol)
        have = hedge.position_size(pos.symbol)
        want = -perp
        gap = want - have
        px = m.hedge_mark_px or hedge.client.marks.get(pos.symbol) or m.mark_px  # type: ignore[attr-defined]
        size = hedge.floor_size(pos.symbol, abs(gap))
        if size <= 0 or size * px < max(MIN_LEG_USD, tolerance * abs(perp) * px):
            return
        reducing = abs(want) < abs(have) and (want == 0 or (want > 0) == (have > 0))
        if size * px < hedge.min_notional(pos.symbol) and not reducing:
            return
        order = hedge.ioc(
            pos.symbol, gap > 0, size, px, self.settings.slippage, reduce_only=reducing, purpose="harvest"
        )
        if order is None:
            return
        [out] = await self._send([order], venue=hedge.venue)
        if out.status != "filled":
            self._decide(pos.symbol, "error", f"{hedge.venue} leg {out.status}: {out.message}", position_id=pos.id)
        try:
            await hedge.refresh(orders=False)
        except VenueError as exc:
            self._decide(pos.symbol, "error", f"{hedge.venue} read failed: {exc}")

    async def _match_spot(self, pos: HarvestPosition, m: FundingMarket) -> None:
        """Buy (or sell) spot so that the spot leg equals the perp leg's size."""
        pair = self._spot.get(pos.symbol)
        if pair is None or m.spot_px is None:
            return
        perp = self._perp_position(pos.symbol)
        want = max(pos.spot_base - perp, 0.0)  # short perp ↔ long spot; long perp ↔ spot sold
        have = self._spot_balance(pos.symbol)
        diff = floor_size(abs(want - have), pair.sz_decimals)
        if diff * m.spot_px < MIN_LEG_USD:
            return
        outs = await self._send([self._spot_ioc(pair, m.spot_px, want > have, diff)])
        for o in outs:
            if o.status not in ("filled", "resting"):
                self._decide(pos.symbol, "error", f"spot leg {o.status}: {o.message}")
        await self.desk.refresh()

    async def _exits(self, markets: Mapping[str, FundingMarket], now: int) -> None:
        desk = self.desk
        for pos in list(self.positions.values()):
            m = markets.get(pos.symbol)
            if m is None:
                continue
            if pos.hedge_venue is not None and m.hedge != "perp":
                continue  # the other venue's funding is unknown this cycle: judge it next cycle
            liq = None
            acc = desk.account
            if acc is not None:
                p = next((p for p in acc.account.positions if p.symbol == pos.symbol and p.size != 0), None)
                if p is not None and p.liquidation_px:
                    liq = abs(p.liquidation_px - m.mark_px) / m.mark_px
            if pos.hedge_venue is not None and self.hedge is not None:
                other = self.hedge.liquidation_distance(pos.symbol)
                if other is not None:
                    liq = other if liq is None else min(liq, other)
            ex = exit_decision(
                pos.held(m.mark_px),
                m,
                self.settings.profile,
                now_ms=now,
                max_hold_ms=int(self.settings.max_hold_h * 3_600_000),
                liq_distance=liq,
                reduce_below=self.settings.reduce_below,
                min_entry_basis=self.settings.min_entry_basis,
            )
            if ex is not None:
                await self._close(pos, m, ex)

    async def _close(self, pos: HarvestPosition, m: FundingMarket, ex: Exit) -> None:
        """Close (or reduce) the perp leg with a reduce-only IOC, then bring the spot leg back
        to ``spot_base − perp``: sell the carry's spot, or buy back the spot a long-perp sold."""
        desk = self.desk
        info = desk.markets.get(pos.symbol)
        if info is None:
            return
        fraction = 1.0 if ex.kind == "close" else ex.reduce_fraction
        perp = self._perp_position(pos.symbol)
        spot = self._spot_balance(pos.symbol)
        size = floor_size(abs(perp) * fraction, info.sz_decimals) if fraction < 1 else abs(perp)
        action = "exit" if ex.kind == "close" else "reduce"
        self._decide(
            pos.symbol, action, ex.reason, position_id=pos.id, apr=m.apr, basis=m.basis, perp_size=perp, spot_size=spot
        )
        if pos.pending_oid is not None and desk.account is not None:
            resting = [o for o in desk.account.orders if o.oid == pos.pending_oid]
            if resting:
                await desk.cancel(resting, purpose="harvest")
            pos.pending_oid = None
        if size > 0:
            outs = await self._send([self._perp_ioc(m, info, perp < 0, size, True)])
            for o in outs:
                if o.status != "filled":
                    self._decide(pos.symbol, "error", f"{action} perp leg {o.status}: {o.message}")
            await desk.refresh()
        await self._match_hedge(pos, m)
        if (
            ex.kind == "close"
            and abs(self._perp_position(pos.symbol)) < 10**-info.sz_decimals
            and self._hedge_flat(pos)
        ):
            self._forget(pos.symbol)
            self._log_event("harvest_close", f"{pos.symbol}: {ex.reason}", {"position_id": pos.id, "reason": ex.reason})

    def _hedge_flat(self, pos: HarvestPosition) -> bool:
        """True when the position has no perp hedge or its hedge leg is flat."""
        if pos.hedge_venue is None or self.hedge is None:
            return True
        return self.hedge.floor_size(pos.symbol, abs(self.hedge.position_size(pos.symbol))) == 0

    async def _entries(self, markets: Mapping[str, FundingMarket], now: int) -> None:
        desk = self.desk
        s = self.settings
        acc = desk.account
        if acc is None:
            return
        candidates: list[Candidate] = []
        for m in markets.values():
            if m.symbol in self.positions:
                continue  # _markets() keeps the others only above the entry level
            fee = PERP_PERP_FEE if m.hedge == "perp" else CARRY_FEE
            if m.rate_now is not None:
                what = "spread" if m.hedge == "perp" else "funding"
                if m.hedge == "perp":
                    age, window_ms = self._rate_avg[("own", m.symbol)].age_ms(now), s.spread_window_h * 3_600_000
                else:
                    age, window_ms = self._rate_avg[("carry", m.symbol)].age_ms(now), s.rate_window_h * 3_600_000
                if age < window_ms:
                    self._decide(
                        m.symbol,
                        "skip",
                        f"{what} averaging: {age / 60_000:.0f} of {window_ms / 60_000:.0f} min of rates seen",
                        apr=m.carry_apr,
                    )
                    continue
                now_apr = m.carry_now_apr
                if not (now_apr * m.carry_apr > 0 and abs(now_apr) > s.profile.entry_apr):
                    # the average is above the entry level but this instant's rate is not (a
                    # move the average has not caught up with): not entered on a stale signal
                    self._decide(
                        m.symbol,
                        "skip",
                        f"{what} now {now_apr * 100:+.1f} % APR does not confirm the "
                        f"{m.carry_apr * 100:+.1f} % average",
                        apr=m.carry_apr,
                    )
                    continue
            verdict = evaluate(
                m,
                s.profile,
                now_ms=now,
                score_model=s.score_model,
                maker_fee=fee,
                min_oi_usd=s.min_oi_usd,
                horizon_periods=s.horizon_periods,
                holding_periods=s.spread_holding_periods if m.hedge == "perp" else s.holding_periods,
            )
            if isinstance(verdict, Skip):
                # only the interesting skips are kept: funding high enough to look at
                if abs(m.carry_apr) >= s.profile.entry_apr:
                    self._decide(m.symbol, "skip", verdict.reason, apr=m.carry_apr)
                continue
            if m.hedge == "perp":
                # shorting the perp that trades *below* the other (or buying the dearer one) loses
                # as the gap closes: the basis must not stand against the position at entry
                against = -m.basis if verdict.side == "short_perp" else m.basis
                if against > s.min_entry_basis:
                    self._decide(
                        m.symbol,
                        "skip",
                        f"basis {m.basis * 100:+.2f} % between the venues stands against "
                        f"a {verdict.side} (limit {s.min_entry_basis * 100:.2f} %)",
                        apr=m.carry_apr,
                    )
                    continue
            if verdict.side == "long_perp" and m.hedge == "spot" and self._spot_balance(m.symbol) <= 0:
                self._decide(m.symbol, "skip", "negative funding: no spot held to sell against a perp long", apr=m.apr)
                continue
            timing = verdict.timing
            if (
                timing is not None
                and not timing.preferred
                and timing.wait_s is not None
                and timing.wait_s <= s.max_entry_wait_s
            ):
                # seed 001 prefers entries 30–60 min before a settlement: one that opens soon is waited for
                self._decide(
                    m.symbol,
                    "skip",
                    f"waiting {timing.wait_s / 60:.0f} min for the preferred entry window "
                    f"(30–60 min before a settlement)",
                    apr=m.carry_apr,
                )
                continue
            candidates.append(verdict)
        if not candidates:
            return
        capital = acc.account.equity_usd + (acc.account.spot_cash_usd or 0.0)
        hedge_usd: dict[str, float] = {}
        if self.hedge is not None and self.hedge.snapshot is not None:
            capital += self.hedge.snapshot.account.equity_usd
            hedge_usd[self.hedge.venue] = self.hedge.snapshot.account.notional_usd
        current = {
            p.symbol: abs(self._perp_position(p.symbol)) * markets[p.symbol].mark_px
            for p in self.positions.values()
            if p.symbol in markets
        }
        plan = allocate(
            candidates, profile=s.profile, capital_usd=capital, current_usd=current, hedge_venue_usd=hedge_usd
        )
        self.targets = [(c.market.symbol, usd) for c, usd in plan]
        for cand, usd in plan:
            await self._enter(cand, usd, now)

    async def _enter(self, cand: Candidate, usd: float, now: int) -> None:
        """Open one position: the perp leg first (post-only maker, else IOC), then the spot leg.

        * cash-and-carry (``short_perp`` with a venue spot market): short perp, buy spot;
        * ``short_perp`` hedged by declared external spot: short perp only, never more than the
          external quantity not already hedged;
        * ``long_perp`` (negative funding): long perp, sell spot held on the venue, never more
          than what is held;
        * perp against perp (``m.hedge == "perp"``): this perp on the side the spread pays, the
          hedge venue's perp on the other, sized to what both venues' steps allow and to the
          hedge account's margin at the desk's maximum leverage.
        """
        desk = self.desk
        m = cand.market
        info = desk.markets.get(m.symbol)
        if info is None:
            return
        pair = self._spot.get(m.symbol) if m.spot_px is not None else None
        held = self._spot_balance(m.symbol)
        decimals = info.sz_decimals if pair is None else min(info.sz_decimals, pair.sz_decimals)
        base = usd / m.mark_px
        hedge = self.hedge if m.hedge == "perp" else None
        pair = None if hedge is not None else pair
        if hedge is not None:
            free = (hedge.snapshot.account.available_usd or 0.0) if hedge.snapshot is not None else 0.0
            base = min(base, free * hedge.client.max_leverage * 0.9 / (m.hedge_mark_px or m.mark_px))  # type: ignore[attr-defined]
            what = (
                f"short perp + long {hedge.venue} perp"
                if cand.side == "short_perp"
                else f"long perp + short {hedge.venue} perp"
            )
        elif cand.side == "short_perp" and pair is None:
            external = float(desk.settings.external_spot.get(m.symbol, 0.0))
            hedged = sum(-p.perp_size for p in self.positions.values() if p.symbol == m.symbol)
            base = min(base, max(external - hedged, 0.0))
            what = "short perp against declared external spot"
        elif cand.side == "short_perp":
            spot_usdc = desk.account.account.spot_cash_usd if desk.account else None
            if spot_usdc is not None:
                base = min(base, spot_usdc / 1.01 / m.spot_px)  # type: ignore[operator]
            what = "short perp + long spot"
        else:
            if pair is None or held <= 0:
                self._decide(m.symbol, "skip", "negative funding: no venue spot held to sell against a perp long")
                return
            base = min(base, held)
            what = "long perp + sell spot held"
        size = floor_size(base, decimals)
        if hedge is not None:
            size = hedge.floor_size(m.symbol, size)
            if size * m.mark_px < hedge.min_notional(m.symbol):
                self._decide(
                    m.symbol,
                    "skip",
                    f"size ${size * m.mark_px:,.2f} below {hedge.venue}'s "
                    f"${hedge.min_notional(m.symbol):g} minimum order",
                )
                return
        if size * m.mark_px < MIN_LEG_USD:
            self._decide(m.symbol, "skip", f"size ${size * m.mark_px:,.2f} below the ${MIN_LEG_USD:.0f} minimum order")
            return
        self._seq += 1
        pos = HarvestPosition(
            id=f"h{now}-{self._seq}",
            symbol=m.symbol,
            spot_pair=pair.name if pair else None,
            spot_asset=pair.asset_id if pair else None,
            side=cand.side,
            entry_ms=now,
            entry_apr=m.carry_apr,
            entry_basis=m.basis,
            target_size=size,
            spot_base=held if hedge is None else 0.0,
            hedge_venue=hedge.venue if hedge is not None else None,
        )
        if hedge is not None:
            strategy = "perp_perp"
        else:
            strategy = "cash_and_carry" if cand.side == "short_perp" else "reverse_carry"
        self._decide(
            m.symbol,
            "enter",
            f"{cand.reason}; {what}, {size:g} = ${size * m.mark_px:,.0f}",
            position_id=pos.id,
            score=cand.score,
            fraction=cand.fraction,
            apr=m.carry_apr,
            basis=m.basis,
            oi_usd=m.open_interest_usd,
            oi_trend=m.oi_trend,
            rate=m.rate,
            rate_now=m.rate_now,
            size=size,
            strategy=strategy,
            hedge_venue=pos.hedge_venue,
            hedge_rate=m.hedge_rate,
            hedge_interval_h=m.hedge_interval_h,
        )
        self._log_event(
            "harvest_open",
            f"{m.symbol} {strategy}",
            {"position_id": pos.id, "symbol": m.symbol, "side": cand.side, "strategy": strategy},
        )
        self.positions[m.symbol] = pos
        self._windows.append([m.symbol, now, None])
        is_buy = cand.side == "long_perp"
        if self.settings.maker_first:
            px = await self._maker_price(m, info, is_buy)
            [out] = await self._send([self._intent(info.symbol, info.asset_id, is_buy, size, px, "Alo", False)])
            if out.status == "resting" and out.answer is not None:
                pos.pending_oid = out.answer.oid
                return
            if out.status == "filled":
                await desk.refresh()
                await self._match_hedge(pos, m)
                return
            # rejected (would cross, or anything else): fall back to IOC within the bound
        [out] = await self._send([self._perp_ioc(m, info, is_buy, size, False)])
        await desk.refresh()
        if out.status != "filled":
            self._decide(m.symbol, "error", f"perp leg {out.status}: {out.message}", position_id=pos.id)
            if abs(self._perp_position(m.symbol)) == 0:
                self._forget(m.symbol)
                return
        await self._match_hedge(pos, m)

    async def _maker_price(self, m: FundingMarket, info: MarketInfo, is_buy: bool) -> float:
        """A post-only price that rests: at the book's touch on our side (best bid for a buy,
        best ask for a sell), and never nearer the other side than one tick off the mark. The
        mark alone can sit beyond the touch (a post-only there crosses and is refused); without a
        readable book the mark ± one tick is used."""
        near = m.mark_px * (0.9999 if is_buy else 1.0001)
        hl = self.desk.hyperliquid
        try:
            book = await hl.info.l2_book(info.symbol) if hl is not None else None
        except (VenueError, ValueError):
            book = None
        side = (book.bids if is_buy else book.asks) if book is not None else ()
        if side:
            touch = side[0].px
            near = min(near, touch) if is_buy else max(near, touch)
        return round_price(near, info.sz_decimals, rounding="down" if is_buy else "up")

    async def _delta(self, markets: Mapping[str, FundingMarket]) -> None:
        # perp against perp: the other venue's leg follows this one within the 2 % rung
        for pos in [p for p in self.positions.values() if p.hedge_venue is not None and p.pending_oid is None]:
            m = markets.get(pos.symbol)
            if m is None:
                continue
            await self._match_perp_hedge(pos, m, tolerance=HEDGE_RESIZE)
            info = self.desk.markets.get(pos.symbol)
            step = 10 ** -(info.sz_decimals if info else 8)
            if abs(self._perp_position(pos.symbol)) < step and self._hedge_flat(pos):
                self._forget(pos.symbol)  # both legs gone (kill switch, liquidation, by hand)
        view, refusal = self.desk.preview_rebalance()
        # Only carry positions are neutral by design. A reverse carry (spot sold, perp bought)
        # keeps the delta of the spot that was held before it, which is the trader's own choice.
        harvest_syms = {s for s, p in self.positions.items() if p.side == "short_perp" and p.hedge_venue is None}
        hedges = [h for h in view.hedges if h.intent.symbol in harvest_syms]
        if not hedges or refusal is not None:
            return
        # a perp leg still being worked as a maker order is not a delta to hedge yet
        hedges = [h for h in hedges if self.positions[h.intent.symbol].pending_oid is None]
        if not hedges:
            return
        for h in hedges:
            self._decide(
                h.intent.symbol,
                "rebalance",
                f"delta {h.delta_before_usd:+,.2f} USD over threshold",
                delta=h.delta_before_usd,
            )
        await self.desk.submit([h.intent for h in hedges])
        await self.desk.refresh()

    def _forget(self, symbol: str) -> None:
        """Drop a position that is gone, ending its funding window."""
        self.positions.pop(symbol, None)
        now = self.now_ms()
        for w in self._windows:
            if w[0] == symbol and w[2] is None:
                w[2] = now

    def _update_funding(self) -> None:
        """:attr:`funding_usd`: the funding payments journalled (both venues) for the symbols the
        harvester held, while it held them, since it started (USD, received positive)."""
        journals = [om.journal for om in self.desk.managers.values() if om.journal is not None]
        if not journals or self._started_ms is None or not self._windows:
            return
        total = 0.0
        for p in (p for j in journals for p in j.funding(since_ms=self._started_ms)):
            for sym, start, end in self._windows:
                if sym == p.symbol and start <= p.time_ms and (end is None or p.time_ms <= end):
                    total += p.usdc
                    break
        self.funding_usd = total

    def _sync_sizes(self) -> None:
        for pos in self.positions.values():
            pos.perp_size = self._perp_position(pos.symbol)
            pos.spot_size = self._spot_balance(pos.symbol)
            if pos.hedge_venue is not None and self.hedge is not None:
                pos.hedge_size = self.hedge.position_size(pos.symbol)

    # ------------------------------------------------------------------ view
    def view(self) -> HarvesterView:
        """A snapshot for the console's Harvester panel."""
        rows = []
        for p in self.positions.values():
            mark = self.desk.mark(p.symbol) or 0.0
            perp = self._perp_position(p.symbol)  # the account's, not the last cycle's
            if p.hedge_venue is not None:
                label = f"vs {p.hedge_venue}"
            else:
                label = "carry" if p.side == "short_perp" else "reverse"
            rows.append((p.symbol, label, perp, abs(perp) * mark, p.entry_apr))
        return HarvesterView(
            status=self.status,
            profile=self.settings.profile.name,
            cycles=self.cycles,
            positions=tuple(rows),
            targets=tuple(self.targets),
            decisions=tuple(self.decisions)[-50:],
            funding_usd=self.funding_usd,
            last_cycle_ms=self.last_cycle_ms,
            error=self.error,
        )
