"""Two centralized perp venues (Binance- and Bybit-like) derived from the Hyperliquid model.

Pure computation, no I/O: :class:`CexModel` follows a :class:`~pfterm.core.sim.market.MarketModel`
and exposes, per venue, the public market data the funding matrix reads, in the venues' own
wire shapes (``*_wire`` methods: ``docs/venues.md`` "Binance USDⓈ-M futures" / "Bybit v5" and the
fixtures in ``tests/fixtures``), so the server only routes and serialises.

Listings: every listed (not delisted) Hyperliquid market ``BASE`` is ``{BASE}USDT`` on both
venues; ``kPEPE`` → ``1000PEPEUSDT`` (Hyperliquid's ``k`` prefix is the venues' ``1000``
prefix, same unit). Names that would not map back through
:func:`native_of` are skipped.

Model, per venue and market (all on the *simulated* clock, ms UTC):

* **Index** = the Hyperliquid oracle; **mark** = ``oracle × (1 + premium + ε)``, read live at
  every request, so marks move with Hyperliquid's prices at the tick rate.
* **Premium index** ``p``: Ornstein–Uhlenbeck (5 min half-life) around
  ``clamp(HL premium, ±0.4 %) + venue offset + market level``. The *venue offset* is the venue's own funding
  regime: a slow OU (8 h half-life) around a venue mean (Binance −0.012 %, Bybit +0.010 %), so
  Binance's funding sits a bit below Hyperliquid's and Bybit's a bit above, with noise; the
  *market level* is a constant per venue and market (sd 0.008 %). ``ε`` is a fast (1 min) mark
  noise. Hyperliquid's regimes (``positive`` / ``negative``) carry over through its premium.
* **Funding** (docs/domain.md §1, 8-hour convention): ``P̄`` = the time average of ``p`` over the
  running interval; ``F = P̄ + clamp(I − P̄, ±0.05 %)`` with ``I = 0.01 % × interval / 8 h``,
  then the venue's cap (Binance ±0.75 % on 8 h, ±2 % on 4 h markets; Bybit ``fundingCap``
  0.5 % / 2 %). Intervals: 8 h on the 00/08/16 UTC grid, a seeded ~12 % (Binance, listed by
  ``fundingInfo``) / ~18 % (Bybit, ``fundingIntervalHour``) of the markets outside the 20
  largest on 4 h. ``nextFundingTime`` is the next grid instant.
* **Open interest** (single-sided, base units) = Hyperliquid's OI × a venue multiple
  (Binance 2.4, Bybit 1.3) × a per-market lognormal factor × a slow OU wobble: it follows
  Hyperliquid's OI, cascades included. Bybit's two-sided ``openInterest`` is twice it.
* **Liquidations**: each cascade the Hyperliquid model starts (``model.cascades``) schedules,
  on both venues, forced orders on the same side spread over the cascade window: their USD
  sum is ``|oi_move| × venue OI USD × U(0.2, 0.4)``; Binance at most one per market per second
  (as its ``forceOrder`` stream shows), Bybit 5–120 orders. Plus a background trickle
  (Binance 0.35 /s, Bybit 0.25 /s across all markets, market drawn by √OI, lognormal USD
  sizes around 1.5 k$). Prices are the venue mark at emission ± 0.1–0.6 % (worse for the
  liquidated side).

Settlements: every funding settlement a step makes is logged as a :class:`CexSettlement`
(venue, market, the settlement instant, the rate that was in force over the interval, the mark
at the step that settled it) in a bounded per-venue log drained by
:meth:`CexModel.drain_settlements`, so an account model can credit funding. A step that
spans several intervals settles (and logs) once, at the first missed instant.

Stepping: :meth:`CexModel.sync` brings the state to the Hyperliquid clock, at most once per
simulated second (the processes are discretised exactly for any step length, so one step of a
minute costs the same as one of a second: ~0.5 ms for 189 markets × 2 venues). Readers call it
before reading; the server calls it after each model step.

Determinism: every draw comes from a generator seeded from ``("cex", seed)``, separate from
the Hyperliquid model's, so adding the venues never changes Hyperliquid's path. The state
depends only on the Hyperliquid model's path and the sequence of :meth:`sync` instants.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pfterm.core.market.funding import funding_rate_8h, next_settlement_ms
from pfterm.core.sim.market import HOUR_MS, NORMAL_BITS, NORMALS, CascadeRecord, MarketModel, SimMarket

__all__ = [
    "BINANCE",
    "BYBIT",
    "CexLiquidation",
    "CexMarket",
    "CexModel",
    "CexSettlement",
    "VenueSpec",
    "native_of",
]

SECOND_MS = 1_000
INTEREST_8H = 0.0001
PREMIUM_CLAMP = 0.0005
PREMIUM_HALF_LIFE_S = 300.0
MARK_NOISE_HALF_LIFE_S = 60.0
MARK_NOISE_SD = 0.00006
OFFSET_HALF_LIFE_S = 8.0 * 3600.0
OI_WOBBLE_HALF_LIFE_S = 6.0 * 3600.0
OI_WOBBLE_SD = 0.05
LEVEL_SD = 0.00008
PREMIUM_FOLLOW_LIMIT = 0.004
"""The venues follow Hyperliquid's premium only within ±0.4 % (its dislocations stay its own)."""
LIQ_LOG_LEN = 20_000
SETTLE_LOG_LEN = 10_000
"""Undrained settlements kept per venue (oldest dropped first)."""
TRICKLE_MAX_PER_STEP = 200
TOP_ALWAYS_8H = 20
OI_STEP_MS = 60_000
"""The slow OI wobble is stepped at most once per simulated minute."""


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """Constants of one simulated venue (see the module docstring)."""

    name: str
    premium_offset: float
    """Mean of the venue's premium offset (fraction): its funding regime."""
    offset_sd: float
    """Stationary sd of the venue-wide offset (fraction)."""
    premium_sd: float
    """Stationary sd of a market's premium around its target (fraction)."""
    oi_multiple: float
    """Venue OI / Hyperliquid OI, median over markets."""
    oi_spread_sd: float
    """Sd of the log of the per-market OI factor."""
    four_hour_share: float
    """Share of the markets (outside the largest) on a 4 h funding interval."""
    cap_8h: float
    cap_4h: float
    liq_rate_per_s: float
    """Background liquidations per simulated second, whole venue."""
    liq_median_usd: float
    volume_multiple: float
    """Venue 24 h volume / Hyperliquid 24 h volume."""


BINANCE = VenueSpec(
    name="binance",
    premium_offset=-0.00012,
    offset_sd=0.00006,
    premium_sd=0.00008,
    oi_multiple=2.4,
    oi_spread_sd=0.5,
    four_hour_share=0.12,
    cap_8h=0.0075,
    cap_4h=0.02,
    liq_rate_per_s=0.35,
    liq_median_usd=1_500.0,
    volume_multiple=4.0,
)
BYBIT = VenueSpec(
    name="bybit",
    premium_offset=0.00010,
    offset_sd=0.00006,
    premium_sd=0.0001,
    oi_multiple=1.3,
    oi_spread_sd=0.5,
    four_hour_share=0.18,
    cap_8h=0.005,
    cap_4h=0.02,
    liq_rate_per_s=0.25,
    liq_median_usd=1_500.0,
    volume_multiple=2.0,
)
VENUE_SPECS = (BINANCE, BYBIT)


def native_of(coin: str) -> str | None:
    """The venues' ``{BASE}USDT`` name of a Hyperliquid coin (``kPEPE`` → ``1000PEPEUSDT``), or
    ``None`` when the name would not map back to ``coin``."""
    if len(coin) > 1 and coin[0] == "k" and coin[1].isupper():
        native = f"1000{coin[1:]}USDT"
    else:
        native = f"{coin}USDT"
    base = native[:-4]
    if not (base.isascii() and base.isalnum()):
        return None
    if coin[0] != "k" and base.startswith("1000") and len(base) > 4 and base[4].isalpha():
        return None  # the venues would read ``1000X`` as Hyperliquid's ``kX``
    return native


@dataclass(frozen=True, slots=True)
class CexLiquidation:
    """One forced close on a simulated venue: ``side`` of the liquidated position
    (``"long"`` / ``"short"``), ``size`` base units, ``price`` USD, ``time_ms`` sim ms."""

    venue: str
    native: str
    side: str
    size: float
    price: float
    time_ms: int


@dataclass(frozen=True, slots=True)
class CexSettlement:
    """One funding settlement of one market: ``settle_ms`` the settlement instant (sim ms),
    ``rate`` the rate in force over the interval (fraction per interval), ``mark`` the mark
    price (USD) at the step that settled it."""

    venue: str
    native: str
    settle_ms: int
    rate: float
    mark: float


class CexMarket:
    """One market on one simulated venue. Public for reading; only :class:`CexModel` writes."""

    __slots__ = (
        "venue",
        "coin",
        "native",
        "hl",
        "interval_h",
        "interval_ms",
        "cap",
        "level",
        "premium",
        "noise",
        "prem_sum",
        "prem_ms",
        "interval_end",
        "oi_factor",
        "oi_dev",
        "px_decimals",
        "sz_decimals",
        "rate",
        "interest",
    )

    # Funding and pricing state, set by CexModel when it lists the market (declared here for
    # type checkers).
    interval_h: int
    interval_ms: int
    cap: float
    level: float
    premium: float
    noise: float
    prem_sum: float
    prem_ms: int
    interval_end: int
    oi_factor: float
    oi_dev: float
    interest: float

    def __init__(self, venue: VenueSpec, hl: SimMarket, native: str) -> None:
        self.venue = venue
        self.coin = hl.coin
        self.native = native
        self.hl = hl
        self.sz_decimals = hl.sz_decimals
        px = hl.oracle
        self.px_decimals = min(max(6 - math.floor(math.log10(px)), 1), 8) if px > 0 else 8
        self.rate = 0.0

    def mark(self) -> float:
        """Current mark price (USD): the live Hyperliquid oracle × (1 + premium + noise)."""
        return self.hl.oracle * (1.0 + self.premium + self.noise)

    def index(self) -> float:
        """Current index price (USD): the live Hyperliquid oracle."""
        return self.hl.oracle

    def open_interest(self) -> float:
        """Single-sided open interest, base units."""
        return self.hl.open_interest * self.oi_factor * math.exp(self.oi_dev)


class CexModel:
    """Binance- and Bybit-like venues following ``model`` (see the module docstring).

    ``seed`` defaults to the model's seed. Call :meth:`sync` to bring the state to the model's
    clock (cheap when nothing is due); the ``*_wire`` methods do not sync by themselves.
    ``venues`` names the venues simulated (default both); a venue left out lists no markets
    and costs nothing to step (a lockstep harvest session reads Binance alone).

    Raises:
        ValueError: an unknown venue name, or no Binance (the other venues' symbols are joined
            through it).
    """

    def __init__(self, model: MarketModel, seed: int | None = None, venues: Sequence[str] | None = None) -> None:
        names = [spec.name for spec in VENUE_SPECS]
        chosen = set(names if venues is None else venues)
        if not chosen <= set(names) or BINANCE.name not in chosen:
            raise ValueError(f"venues must include {BINANCE.name!r} and name only {names}, got {venues!r}")
        self.simulated: tuple[str, ...] = tuple(spec.name for spec in VENUE_SPECS if spec.name in chosen)
        """The venues simulated (the others list no markets)."""
        self.model = model
        self.seed = model.seed if seed is None else int(seed)
        self._rng = random.Random(f"cex:{self.seed}")
        self.now_ms = model.now_ms
        self.version = 0
        self.markets: dict[str, dict[str, CexMarket]] = {}
        """``{venue: {native: CexMarket}}``, Hyperliquid universe order."""
        self._lists: dict[str, list[CexMarket]] = {}
        self._offset: dict[str, float] = {}
        self._liqs: dict[str, deque[CexLiquidation]] = {}
        self._settlements: dict[str, deque[CexSettlement]] = {}
        self._scheduled: dict[str, list[tuple[int, str, str, float]]] = {}
        self._last_liq_second: dict[str, dict[str, int]] = {}
        self._trickle_cum: dict[str, tuple[int, list[float]]] = {}
        self._last_cascade: CascadeRecord | None = model.cascades[-1] if model.cascades else None
        self._cache: dict[Any, tuple[tuple[int, int], Any]] = {}
        self._oi_ms = self.now_ms

        listed = [model.market(c) for c in model.listed_coins]
        candidates = [(m, native_of(m.coin)) for m in listed]
        pairs = [(m, n) for m, n in candidates if n is not None]
        top = {m.coin for m in sorted(listed, key=lambda m: m.oi_usd, reverse=True)[:TOP_ALWAYS_8H]}
        rng = self._rng
        for spec in VENUE_SPECS:
            self._offset[spec.name] = spec.premium_offset + rng.gauss(0.0, spec.offset_sd)
            out: dict[str, CexMarket] = {}
            for hl, native in pairs if spec.name in chosen else ():
                cm = CexMarket(spec, hl, native)
                four = hl.coin not in top and rng.random() < spec.four_hour_share
                cm.interval_h = 4 if four else 8
                cm.interval_ms = cm.interval_h * HOUR_MS
                cm.cap = spec.cap_4h if four else spec.cap_8h
                cm.interest = INTEREST_8H * cm.interval_h / 8.0
                cm.level = rng.gauss(0.0, LEVEL_SD)
                base = _follow(hl.prem_sum / hl.prem_n if hl.prem_n else hl.premium)
                base += self._offset[spec.name] + cm.level
                cm.premium = base + rng.gauss(0.0, spec.premium_sd)
                cm.noise = rng.gauss(0.0, MARK_NOISE_SD)
                cm.oi_factor = spec.oi_multiple * math.exp(rng.gauss(0.0, spec.oi_spread_sd))
                cm.oi_dev = rng.gauss(0.0, OI_WOBBLE_SD)
                end = next_settlement_ms(self.now_ms, cm.interval_h)
                cm.interval_end = end
                cm.prem_ms = self.now_ms - (end - cm.interval_ms)
                cm.prem_sum = base * cm.prem_ms  # the interval so far, as Hyperliquid's hour
                cm.rate = self._rate(cm)
                out[native] = cm
            self.markets[spec.name] = out
            self._lists[spec.name] = list(out.values())
            self._liqs[spec.name] = deque(maxlen=LIQ_LOG_LEN)
            self._settlements[spec.name] = deque(maxlen=SETTLE_LOG_LEN)
            self._scheduled[spec.name] = []
            self._last_liq_second[spec.name] = {}
        self._by_coin = {cm.coin: cm.native for cm in self._lists[BINANCE.name]}

    # -- lookups -------------------------------------------------------------------------

    @property
    def venues(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in VENUE_SPECS)

    def native(self, coin: str) -> str | None:
        """The venues' native name of a Hyperliquid coin, or ``None`` if not listed."""
        return self._by_coin.get(coin)

    def market(self, venue: str, native: str) -> CexMarket | None:
        return self.markets[venue].get(native)

    # -- dynamics ------------------------------------------------------------------------

    @staticmethod
    def _rate(cm: CexMarket) -> float:
        avg = cm.prem_sum / cm.prem_ms if cm.prem_ms > 0 else cm.premium
        rate = funding_rate_8h(avg, cm.interest, PREMIUM_CLAMP)
        cap = cm.cap
        return cap if rate > cap else (-cap if rate < -cap else rate)

    def sync(self) -> bool:
        """Step to the model's clock if at least one simulated second has passed since the
        last step (or the clock went back: a new model). Returns ``True`` when it stepped."""
        now = self.model.now_ms
        if now - self.now_ms < SECOND_MS:
            return False
        self._step(self.now_ms, now)
        return True

    def _step(self, t0: int, t1: int) -> None:
        dt = (t1 - t0) / 1000.0
        rng = self._rng
        gauss = rng.gauss
        ln2 = math.log(2.0)
        dec_p = math.exp(-ln2 / PREMIUM_HALF_LIFE_S * dt)
        np_ = math.sqrt(1.0 - dec_p * dec_p)
        dec_n = math.exp(-ln2 / MARK_NOISE_HALF_LIFE_S * dt)
        nn = MARK_NOISE_SD * math.sqrt(1.0 - dec_n * dec_n)
        dec_o = math.exp(-ln2 / OFFSET_HALF_LIFE_S * dt)
        no = math.sqrt(1.0 - dec_o * dec_o)
        oi_due = t1 - self._oi_ms >= OI_STEP_MS
        if oi_due:
            dec_oi = math.exp(-ln2 / OI_WOBBLE_HALF_LIFE_S * (t1 - self._oi_ms) / 1000.0)
            noi = OI_WOBBLE_SD * math.sqrt(1.0 - dec_oi * dec_oi)
            self._oi_ms = t1
        span = t1 - t0
        lim = PREMIUM_FOLLOW_LIMIT
        normals = NORMALS
        bits = rng.getrandbits
        nb = NORMAL_BITS
        for spec in VENUE_SPECS:
            off = self._offset[spec.name]
            off = spec.premium_offset + (off - spec.premium_offset) * dec_o + spec.offset_sd * no * gauss(0.0, 1.0)
            self._offset[spec.name] = off
            psd = spec.premium_sd * np_
            settled = self._settlements[spec.name]
            for cm in self._lists[spec.name]:
                hp = cm.hl.premium
                target = (lim if hp > lim else (-lim if hp < -lim else hp)) + off + cm.level
                p = target + (cm.premium - target) * dec_p + psd * normals[bits(nb)]
                cm.premium = p
                cm.noise = cm.noise * dec_n + nn * normals[bits(nb)]
                if oi_due:
                    cm.oi_dev = cm.oi_dev * dec_oi + noi * normals[bits(nb)]
                if t1 >= cm.interval_end:
                    settled.append(CexSettlement(spec.name, cm.native, cm.interval_end, cm.rate, cm.mark()))
                    cm.interval_end = next_settlement_ms(t1, cm.interval_h)
                    cm.prem_ms = t1 - (cm.interval_end - cm.interval_ms)
                    cm.prem_sum = p * cm.prem_ms
                else:
                    cm.prem_sum += p * span
                    cm.prem_ms += span
                # F = P̄ + clamp(I − P̄, ±0.05 %), then the venue cap (inlined _rate).
                avg = cm.prem_sum / cm.prem_ms if cm.prem_ms > 0 else p
                diff = cm.interest - avg
                rate = avg + (
                    PREMIUM_CLAMP if diff > PREMIUM_CLAMP else (-PREMIUM_CLAMP if diff < -PREMIUM_CLAMP else diff)
                )
                if -PREMIUM_CLAMP <= diff <= PREMIUM_CLAMP:
                    rate = cm.interest
                cap = cm.cap
                cm.rate = cap if rate > cap else (-cap if rate < -cap else rate)
        self._new_cascades()
        for spec in VENUE_SPECS:
            self._trickle(spec, t0, t1, dt)
            self._release(spec.name, t1)
        self.now_ms = t1
        self.version += 1

    # -- liquidations --------------------------------------------------------------------

    def _new_cascades(self) -> None:
        log = self.model.cascades
        fresh: list[CascadeRecord] = []
        for rec in reversed(log):
            if rec is self._last_cascade:
                break
            fresh.append(rec)
        if not log:
            return
        self._last_cascade = log[-1]
        for rec in reversed(fresh):
            native = self._by_coin.get(rec.coin)
            if native is not None:
                self._schedule_cascade(rec, native)

    def _schedule_cascade(self, rec: CascadeRecord, native: str) -> None:
        rng = self._rng
        start, end = rec.start_ms, max(rec.end_ms, rec.start_ms + SECOND_MS)
        for spec in VENUE_SPECS:
            cm = self.markets[spec.name].get(native)
            if cm is None:
                continue  # a venue not simulated
            total = abs(rec.oi_move) * cm.open_interest() * cm.index() * rng.uniform(0.2, 0.4)
            if total <= 0:
                continue
            if spec is BINANCE:
                seconds = list(range(start // SECOND_MS + 1, end // SECOND_MS + 1)) or [start // SECOND_MS + 1]
                k = max(3, int(len(seconds) * rng.uniform(0.6, 1.0)))
                chosen = sorted(rng.sample(seconds, min(k, len(seconds))))
                times = [s * SECOND_MS + rng.randrange(SECOND_MS) for s in chosen]
                times = [min(max(t, start), end) for t in times]
            else:
                n = int(min(max(math.sqrt(total / 5_000.0), 5), 120))
                times = sorted(rng.randint(start, end) for _ in range(n))
            weights = [rng.lognormvariate(0.0, 1.0) for _ in times]
            scale = total / sum(weights)
            for t, w in zip(times, weights, strict=False):
                self._scheduled[spec.name].append((t, native, rec.side, w * scale))
            self._scheduled[spec.name].sort(key=lambda e: e[0])

    def _trickle(self, spec: VenueSpec, t0: int, t1: int, dt: float) -> None:
        rng = self._rng
        lam = spec.liq_rate_per_s * dt
        n = _poisson(rng, lam)
        if not n:
            return
        n = min(n, TRICKLE_MAX_PER_STEP)
        markets = self._lists[spec.name]
        cached = self._trickle_cum.get(spec.name)
        if cached is None or t1 - cached[0] >= 300 * SECOND_MS:
            cum: list[float] = []
            acc = 0.0
            for cm in markets:
                acc += math.sqrt(max(cm.hl.open_interest * cm.oi_factor * cm.hl.oracle, 0.0))
                cum.append(acc)
            cached = (t1, cum)
            self._trickle_cum[spec.name] = cached
        cum = cached[1]
        if not cum or cum[-1] <= 0:
            return
        sched = self._scheduled[spec.name]
        for _ in range(n):
            cm = markets[min(bisect.bisect_left(cum, rng.random() * cum[-1]), len(markets) - 1)]
            usd = min(rng.lognormvariate(math.log(spec.liq_median_usd), 1.3), 250_000.0)
            side = "long" if rng.random() < 0.5 else "short"
            sched.append((rng.randint(t0 + 1, t1), cm.native, side, usd))
        sched.sort(key=lambda e: e[0])

    def _release(self, venue: str, t1: int) -> None:
        """Turn the scheduled liquidations due by ``t1`` into records, priced now."""
        sched = self._scheduled[venue]
        if not sched or sched[0][0] > t1:
            return
        cut = bisect.bisect_right(sched, t1, key=lambda e: e[0])
        due, self._scheduled[venue] = sched[:cut], sched[cut:]
        rng = self._rng
        out = self._liqs[venue]
        last_second = self._last_liq_second[venue]
        markets = self.markets[venue]
        for t, native, side, usd in due:
            if venue == BINANCE.name:
                sec = t // SECOND_MS
                if last_second.get(native) == sec:
                    continue  # Binance shows at most one liquidation per symbol per second
                last_second[native] = sec
            cm = markets[native]
            slip = rng.uniform(0.001, 0.006)
            price = cm.mark() * (1.0 - slip if side == "long" else 1.0 + slip)
            lot = 10.0**-cm.sz_decimals
            size = max(round(usd / price / lot) * lot, lot)
            out.append(CexLiquidation(venue, native, side, size, price, t))

    def liquidations(self, venue: str) -> deque[CexLiquidation]:
        """Every liquidation emitted on ``venue``, oldest first (bounded log)."""
        return self._liqs[venue]

    def drain_liquidations(self, venue: str) -> list[CexLiquidation]:
        """The liquidations emitted on ``venue`` since the last drain, oldest first."""
        log = self._liqs[venue]
        out = list(log)
        log.clear()
        return out

    def drain_settlements(self, venue: str) -> list[CexSettlement]:
        """The funding settlements made on ``venue`` since the last drain, oldest first."""
        log = self._settlements[venue]
        out = list(log)
        log.clear()
        return out

    # -- wire ----------------------------------------------------------------------------

    def _cached(self, key: Any, build: Any) -> Any:
        stamp = (self.version, self.model.version)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        value = build()
        self._cache[key] = (stamp, value)
        return value

    def _now(self) -> int:
        return self.model.now_ms

    # Binance

    def _premium_item(self, cm: CexMarket, now: int) -> dict[str, Any]:
        index = cm.index()
        return {
            "symbol": cm.native,
            "markPrice": f"{cm.mark():.8f}",
            "indexPrice": f"{index:.8f}",
            "estimatedSettlePrice": f"{index * (1.0 + 0.5 * cm.premium):.8f}",
            "lastFundingRate": f"{cm.rate:.8f}",
            "interestRate": f"{INTEREST_8H:.8f}",
            "nextFundingTime": next_settlement_ms(now, cm.interval_h),
            "time": now,
        }

    def binance_premium_index_wire(self, native: str | None = None) -> Any:
        """``GET /fapi/v1/premiumIndex``: the list of every market, or one object for
        ``native`` (``None`` when unknown)."""
        now = self._now()
        markets = self.markets[BINANCE.name]
        if native is not None:
            cm = markets.get(native)
            return None if cm is None else self._premium_item(cm, now)
        return self._cached(("bn-premium",), lambda: [self._premium_item(cm, now) for cm in markets.values()])

    def binance_funding_info_wire(self) -> list[dict[str, Any]]:
        """``GET /fapi/v1/fundingInfo``: only the markets with a non-default setting (4 h)."""
        return [
            {
                "symbol": cm.native,
                "adjustedFundingRateCap": f"{cm.cap:.8f}",
                "adjustedFundingRateFloor": f"{-cm.cap:.8f}",
                "fundingIntervalHours": cm.interval_h,
                "disclaimer": False,
            }
            for cm in self._lists[BINANCE.name]
            if cm.interval_h != 8
        ]

    def binance_open_interest_wire(self, native: str) -> dict[str, Any] | None:
        """``GET /fapi/v1/openInterest?symbol=`` (``None`` for an unknown symbol)."""
        cm = self.markets[BINANCE.name].get(native)
        if cm is None:
            return None
        return {
            "openInterest": f"{cm.open_interest():.{cm.sz_decimals}f}",
            "symbol": native,
            "time": self._now(),
        }

    def binance_mark_price_wire(self) -> list[dict[str, Any]]:
        """The ``data`` array of a ``!markPrice@arr@1s`` frame (every market)."""

        def build() -> list[dict[str, Any]]:
            now = self._now()
            out = []
            for cm in self._lists[BINANCE.name]:
                mark = f"{cm.mark():.8f}"
                index = cm.index()
                out.append(
                    {
                        "e": "markPriceUpdate",
                        "E": now,
                        "s": cm.native,
                        "p": mark,
                        "ap": mark,
                        "P": f"{index * (1.0 + 0.5 * cm.premium):.8f}",
                        "i": f"{index:.8f}",
                        "r": f"{cm.rate:.8f}",
                        "T": next_settlement_ms(now, cm.interval_h),
                        "st": 1,
                    }
                )
            return out

        return self._cached(("bn-mark",), build)

    @staticmethod
    def binance_force_order_wire(liq: CexLiquidation, event_ms: int) -> dict[str, Any]:
        """One ``forceOrder`` event: ``o.S`` is the liquidation *order's* side (``SELL``
        closes a long)."""
        cm_dec = _sz_decimals(liq.size)
        qty = f"{liq.size:.{cm_dec}f}"
        order_px = liq.price * (0.998 if liq.side == "long" else 1.002)
        return {
            "e": "forceOrder",
            "E": event_ms,
            "o": {
                "s": liq.native,
                "S": "SELL" if liq.side == "long" else "BUY",
                "o": "LIMIT",
                "f": "IOC",
                "q": qty,
                "p": _px8(order_px),
                "ap": _px8(liq.price),
                "X": "FILLED",
                "l": qty,
                "z": qty,
                "T": liq.time_ms,
                "ps": liq.native,
                "st": 1,
            },
        }

    # Bybit

    def _bybit_slow(self, cm: CexMarket) -> dict[str, str]:
        """Ticker fields that change at most once per CEX step (cached)."""

        def build() -> dict[str, str]:
            model = self.model
            hl = cm.hl
            ratio = 1.0 + cm.premium
            prev24 = model.prev_day_px(cm.coin) * ratio
            prev1h = hl.px_ring[-1] * ratio if hl.px_ring else prev24
            ntl, _base = model.day_volume(cm.coin)
            turnover = ntl * cm.venue.volume_multiple
            mark = cm.mark()
            oi = cm.open_interest()
            d, z = cm.px_decimals, cm.sz_decimals
            move = abs(mark / prev24 - 1.0) if prev24 > 0 else 0.0
            lot_ntl = max(oi * 0.0005, 10.0**-z)
            return {
                "prevPrice24h": f"{prev24:.{d}f}",
                "highPrice24h": f"{max(prev24, mark) * (1.0 + 0.3 * move + 0.004):.{d}f}",
                "lowPrice24h": f"{min(prev24, mark) * (1.0 - 0.3 * move - 0.004):.{d}f}",
                "prevPrice1h": f"{prev1h:.{d}f}",
                "openInterest": f"{2.0 * oi:.{z}f}",
                "openInterestValue": f"{2.0 * oi * mark:.2f}",
                "singleOpenInterest": f"{oi:.{z}f}",
                "singleOpenInterestValue": f"{oi * mark:.2f}",
                "turnover24h": f"{turnover:.4f}",
                "volume24h": f"{turnover / mark:.{z}f}" if mark > 0 else "0",
                "fundingIntervalHour": str(cm.interval_h),
                "fundingCap": _trim_rate(cm.cap),
                "fundingRate": _trim_rate(cm.rate),
                "bid1Size": f"{lot_ntl * 1.3:.{z}f}",
                "ask1Size": f"{lot_ntl * 0.9:.{z}f}",
            }

        return self._cached_step(("by-slow", cm.native), build)

    def _cached_step(self, key: Any, build: Any) -> Any:
        hit = self._cache.get(key)
        if hit is not None and hit[0] == (self.version, -1):
            return hit[1]
        value = build()
        self._cache[key] = ((self.version, -1), value)
        return value

    def bybit_ticker_fields(self, native: str) -> dict[str, str] | None:
        """Every field of the WebSocket ``tickers.{native}`` snapshot (all strings), or
        ``None`` for an unknown market."""
        cm = self.markets[BYBIT.name].get(native)
        if cm is None:
            return None
        now = self._now()
        d = cm.px_decimals
        mark = cm.mark()
        tick = 10.0**-d
        slow = self._bybit_slow(cm)
        prev24 = float(slow["prevPrice24h"])
        last = round(mark / tick) * tick
        return {
            "symbol": native,
            "tickDirection": "ZeroPlusTick",
            "price24hPcnt": f"{(last / prev24 - 1.0) if prev24 > 0 else 0.0:.6f}",
            "lastPrice": f"{last:.{d}f}",
            "prevPrice24h": slow["prevPrice24h"],
            "highPrice24h": slow["highPrice24h"],
            "lowPrice24h": slow["lowPrice24h"],
            "prevPrice1h": slow["prevPrice1h"],
            "markPrice": f"{mark:.{d}f}",
            "indexPrice": f"{cm.index():.{d}f}",
            "openInterest": slow["openInterest"],
            "openInterestValue": slow["openInterestValue"],
            "turnover24h": slow["turnover24h"],
            "volume24h": slow["volume24h"],
            "fundingIntervalHour": slow["fundingIntervalHour"],
            "fundingCap": slow["fundingCap"],
            "nextFundingTime": str(next_settlement_ms(now, cm.interval_h)),
            "fundingRate": slow["fundingRate"],
            "bid1Price": f"{last - tick:.{d}f}",
            "bid1Size": slow["bid1Size"],
            "ask1Price": f"{last:.{d}f}",
            "ask1Size": slow["ask1Size"],
            "preOpenPrice": "",
            "preQty": "",
            "curPreListingPhase": "",
            "singleOpenInterest": slow["singleOpenInterest"],
            "singleOpenInterestValue": slow["singleOpenInterestValue"],
        }

    def bybit_tickers_wire(self) -> dict[str, Any]:
        """``GET /v5/market/tickers?category=linear``: the whole answer body."""

        def build() -> dict[str, Any]:
            items = []
            for native in self.markets[BYBIT.name]:
                f = self.bybit_ticker_fields(native)
                assert f is not None
                f.pop("tickDirection")
                f.update(
                    {
                        "predictedDeliveryPrice": "",
                        "basisRate": "",
                        "deliveryFeeRate": "",
                        "deliveryTime": "0",
                        "basis": "",
                    }
                )
                items.append(f)
            return {
                "retCode": 0,
                "retMsg": "OK",
                "result": {"category": "linear", "list": items},
                "retExtInfo": {},
                "time": self._now(),
            }

        return self._cached(("by-tickers",), build)

    @staticmethod
    def bybit_liquidation_item(liq: CexLiquidation) -> dict[str, Any]:
        """One ``allLiquidation`` item: ``S`` is the liquidated *position's* side (``Buy`` =
        a long)."""
        return {
            "T": liq.time_ms,
            "s": liq.native,
            "S": "Buy" if liq.side == "long" else "Sell",
            "v": f"{liq.size:.{_sz_decimals(liq.size)}f}",
            "p": _px_sig(liq.price),
        }


def _follow(hl_premium: float) -> float:
    return min(max(hl_premium, -PREMIUM_FOLLOW_LIMIT), PREMIUM_FOLLOW_LIMIT)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0.0:
        return 0
    if lam < 30.0:
        limit = math.exp(-lam)
        k = 0
        p = rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))


def _sz_decimals(size: float) -> int:
    """Decimals to write a size already rounded to its lot (at most 8, no float noise)."""
    text = f"{size:.8f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def _px8(px: float) -> str:
    return f"{px:.8f}"


def _px_sig(px: float) -> str:
    """A price with 6 significant figures, fixed point (Bybit writes tick-size decimals)."""
    d = min(max(5 - math.floor(math.log10(px)), 0), 10) if px > 0 else 8
    return f"{px:.{d}f}"


def _trim_rate(rate: float) -> str:
    text = f"{rate:.8f}".rstrip("0")
    if text.endswith("."):
        text += "0"
    return "0" if text in ("0.0", "-0.0") else text
