"""Deterministic market model behind the embedded Hyperliquid-compatible simulator.

Pure computation, no I/O: :class:`MarketModel` is seeded from a real ``metaAndAssetCtxs``
snapshot and advanced with :meth:`MarketModel.step`. Everything it produces is available in
Hyperliquid's wire shapes (``*_wire`` methods), so the server only routes and serialises.

Units follow docs/domain.md: prices in USD, sizes and open interest in base units (one side),
timestamps in integer milliseconds UTC on the *simulated* clock, funding rates as fractions
per hour (Hyperliquid settles hourly). Simulated time advances only through ``step``.

Model, per listed market (delisted markets are served exactly as in the snapshot):

* **Oracle (index) price**: log random walk with an annualised volatility hinted by the
  snapshot's 24 h move (``|ln(markPx / prevDayPx)| · √365 / 0.8``, clamped to [0.4, 2.0]),
  correlated to one common market factor (correlation ``0.6 · β``, ``β ~ U(0.5, 1.2)``),
  plus rare jumps.
* **Basis**: ``mark = oracle · (1 + b)``; ``b`` is Ornstein–Uhlenbeck with a 10 min half-life
  around a slow level that itself wanders (6 h half-life) around the snapshot's
  ``markPx / oraclePx − 1``. ``mid = mark · (1 + ε)`` with ε a small fraction of the spread.
* **Impact prices**: ``mid · (1 ∓ h)``, ``h`` the snapshot's impact half-spread (floored),
  widened during cascades.
* **Premium and funding** (docs/domain.md §1, Hyperliquid docs): a premium sample
  ``(max(impactBid − oracle, 0) − max(oracle − impactAsk, 0)) / oracle`` every 5 s of sim time;
  the hour's average ``P̄`` gives ``F8 = P̄ + clamp(0.0001 − P̄, −0.0005, 0.0005)`` and the
  hourly rate ``F8 / 8`` capped at ±4 %/h, settled at every UTC top of the hour. The formulas
  are the engine's own (:func:`pfterm.core.market.funding.premium_sample`, :func:`pfterm.core.market.funding.hl_hourly_rate`).
* **Funding regimes** (``regime``): ``"natural"`` (default) is the model above. ``"positive"``
  biases every market's premium so funding stays persistently positive: the basis anchor
  (the target of the slow level) becomes ``+(REGIME_PREMIUM + h)`` instead of the snapshot's
  basis (``h`` the market's impact half-spread, so the *premium* targets ``REGIME_PREMIUM`` =
  0.00096, i.e. ``F8 = 0.00096 − 0.0005``, an hourly rate of 5.7e-5, about +50 % APR), and
  the stationary noise of the level and of the fast basis is cut to ``REGIME_LEVEL_SD_MULT``
  (0.25) and ``REGIME_BASIS_SD_MULT`` (0.5) of the natural ones. Funding still emerges from
  the same samples and formula (nothing overwrites rates). ``"negative"`` is the mirror
  (anchor ``−(REGIME_PREMIUM + h)``, about −50 % APR: the formula's clamp makes the two
  symmetric in APR; not in sign counts, since a premium in the flat band [−0.0004, 0.0006]
  settles at the +0.01 %/8 h interest, +11 % APR). ``regime_flip_at_ms`` (sim ms): at that
  instant the bias changes sign — the anchor, the level and the basis of every market are
  shifted by ``−2 × anchor`` at once (a step of the mark of about 0.2 %), so the first full
  hour after the flip already settles with the new sign (the hour containing the flip is
  mixed). The 72 h of synthesised history and the running hour's earlier samples follow the
  regime's sign at ``start_ms``. Liquidation cascades still shock the basis (±0.1–0.4 %, 10 min
  half-life) and are what widens the band: BTC, ETH and HYPE each get one every 2–4 h.
  Measured (seed 7, 48 sim hours in 60 s steps with 60 s segments, as
  ``SimulatorServer.advance`` does; APR = hourly rate × 8760; p10 / median / p90, share of
  hours with the regime's sign):

  =============  ======================  ======================  ======================
  setting        BTC                     ETH                     HYPE
  =============  ======================  ======================  ======================
  positive       +11 / +55 / +86, 100 %  +11 / +44 / +96, 100 %  +11 / +44 / +69, 100 %
  negative       −106 / −46 / −14, 92 %  −114 / −57 / −6, 94 %   −112 / −56 / −33, 98 %
  positive, no   +20 / +47 / +76, 100 %  +37 / +65 / +82, 100 %  +35 / +50 / +68, 100 %
  cascades
  negative, no   −80 / −54 / −25, 100 %  −64 / −36 / −19, 100 %  −66 / −51 / −33, 100 %
  cascades
  natural        −78 / +5 / +11          −95 / −23 / +11         +11 / +11 / +80
  =============  ======================  ======================  ======================

  Seeds 1 and 2 give the same picture (positive medians +30..+61 %, p90 up to +117 %).
* **Open interest**: log OU (12 h half-life) around the snapshot level.
* **Volume**: a notional flow around the snapshot's ``dayNtlVlm / 86 400`` USD per second,
  summed over a rolling 24 h window in hourly buckets; ``prevDayPx`` is read from an hourly
  ring of marks.
* **Liquidation cascades** (the situation docs/domain.md §5's detector looks for): Poisson
  arrivals across the market; over 10–30 s the price moves 3–8 % and open interest falls
  5–15 %, the spread widens, the basis dislocates, trades burst; a partial rebound follows.
* **Public trades**: generated only for markets someone watches (:meth:`MarketModel.watch_trades`).

Determinism: the price path depends only on ``(snapshot, seed, start_ms, regime,
regime_flip_at_ms)`` and the sequence of ``step`` / ``step_to`` calls (durations and
``max_segment_s``). Trades and books draw from generators derived from the same seed but
separate from the price path, so watching trades or reading books never changes prices.

The per-market state (:class:`SimMarket`) is public and read-only for callers, so a later
trading layer (accounts, orders, fills) can price against ``mid``, ``mark`` and the book.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, NamedTuple

from pfterm.core.market.funding import (
    HL_INTEREST_8H,
    HL_PREMIUM_CLAMP,
    HL_PREMIUM_SAMPLE_MS,
    hl_hourly_rate,
    premium_sample,
)

# --- time ------------------------------------------------------------------------------
SECOND_MS = 1_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
YEAR_S = 365.0 * 86_400.0
PREMIUM_SAMPLE_MS = HL_PREMIUM_SAMPLE_MS
"""Premium sampling interval (Hyperliquid docs: every 5 seconds)."""
STEP_SEGMENTS = 64
"""Segments a long :meth:`MarketModel.step` is cut into at most (plus hour boundaries)."""

# --- funding (docs/domain.md §1; the formulas are pfterm.core.market.funding's) ------------------------------
FUNDING_HISTORY_LEN = 24 * 60
"""Settled rows kept per market (60 days of hourly settlements)."""
SYNTH_HISTORY_HOURS = 72
"""Hours of prior funding history synthesised at construction."""
FUNDING_HISTORY_PAGE = 500
"""Rows per ``fundingHistory`` answer (venue limit, docs/venues.md)."""

# --- model parameters ------------------------------------------------------------------
VOL_MIN, VOL_MAX = 0.4, 2.0
BETA_MIN, BETA_MAX = 0.5, 1.2
FACTOR_CORRELATION = 0.6
JUMP_RATE_PER_S = 1.0 / (4.0 * 86_400.0)
BASIS_HALF_LIFE_S = 600.0
BASIS_LEVEL_HALF_LIFE_S = 6.0 * 3_600.0
BASIS_ANCHOR_LIMIT = 0.01
BASIS_LIMIT = 0.05
OI_HALF_LIFE_S = 12.0 * 3_600.0
OI_STATIONARY_SD = 0.10
SPREAD_HALF_LIFE_S = 60.0
HALF_SPREAD_FLOOR = 2e-6
IMPACT_NOTIONAL_MAJOR = 20_000.0
IMPACT_NOTIONAL_OTHER = 6_000.0
"""Impact notional in USD (Hyperliquid docs: 20 000 for BTC and ETH, 6 000 otherwise)."""

CASCADE_CANDIDATES = 60
CASCADE_LONG_SHARE = 0.65
CASCADE_DURATION_S = (10.0, 30.0)
CASCADE_PRICE_MOVE = (0.03, 0.08)
CASCADE_OI_DROP = (0.05, 0.15)
CASCADE_BASIS_SHOCK = (0.001, 0.004)
CASCADE_SPREAD_MULT = 3.0
CASCADE_VOLUME_MULT = 8.0
CASCADE_REBOUND_S = (60.0, 180.0)
CASCADE_REBOUND_SHARE = (0.2, 0.5)
CASCADE_LOG_LEN = 1_000

TRADE_RATE_REF_VOLUME = 2.6e9
TRADE_RATE_MAX_PER_S = 5.0
TRADE_RATE_MIN_PER_S = 0.05
TRADES_PER_SEGMENT_MAX = 200
RECENT_TRADES_LEN = 100
PENDING_TRADES_LEN = 5_000
TRADE_BACKFILL_S = 60.0

BOOK_IMPACT_LEVELS = 5

NORMAL_BITS = 12
NORMALS = tuple(NormalDist().inv_cdf((i + 0.5) / (1 << NORMAL_BITS)) for i in range(1 << NORMAL_BITS))
"""Standard normal quantiles: ``NORMALS[rng.getrandbits(NORMAL_BITS)]`` is a cheap normal draw
(a 4096-point discretisation, tails cut at ±3.6 σ), ~10× faster than ``random.gauss``: the
per-step noise of every market is drawn this way."""

# --- funding regimes -------------------------------------------------------------------
REGIMES = ("natural", "positive", "negative")
"""Accepted values of ``MarketModel(regime=...)``."""
REGIME_PREMIUM = 0.00096
"""Average premium (fraction) a biased regime targets: ``F8 = 0.00096 − 0.0005``, hourly rate
``F8 / 8 ≈ 5.7e-5``, about 50 % APR (negative regime: the mirror)."""
REGIME_LEVEL_SD_MULT = 0.25
"""Stationary noise of the slow basis level under a biased regime, relative to natural."""
REGIME_BASIS_SD_MULT = 0.5
"""Noise of the fast basis around its level under a biased regime, relative to natural."""

_ZERO_STR = "0.0"
_floor = math.floor
_log10 = math.log10


class UnknownCoinError(KeyError):
    """A coin that is not in the snapshot's universe."""


# --- number formatting -----------------------------------------------------------------


def _trim(text: str) -> str:
    """Strip trailing zeros of a fixed-point string, keep at least one decimal (``"12.0"``)."""
    if "." in text:
        text = text.rstrip("0")
        if text[-1] == ".":
            text += "0"
    else:
        text += ".0"
    return _ZERO_STR if text == "-0.0" else text


def decimal_str(value: float, decimals: int) -> str:
    """Fixed-point decimal string with at most ``decimals`` decimals, never exponent notation.

    Trailing zeros are dropped but one decimal is always kept, as on Hyperliquid's wire:
    ``decimal_str(0.0000125, 10) == "0.0000125"``, ``decimal_str(17339832, 0) == "17339832.0"``.
    """
    if value - value != 0.0:  # NaN or ±inf (inf − inf is NaN)
        return _ZERO_STR
    return _trim(f"{value:.{decimals if decimals > 0 else 0}f}")


def price_decimals(px: float, max_decimals: int, sig_figs: int = 5) -> int:
    """Decimals a price may carry: ``sig_figs`` significant figures, at most ``max_decimals``.

    Integer prices are always allowed, so the result is never negative. For perps
    ``max_decimals = 6 − szDecimals`` (docs/venues.md, Hyperliquid price rules).
    """
    if not px > 0:
        return max_decimals if max_decimals > 0 else 0
    d = sig_figs - 1 - _floor(_log10(px))
    if d > max_decimals:
        d = max_decimals
    return d if d > 0 else 0


def price_str(px: float, max_decimals: int = 6, sig_figs: int = 5) -> str:
    """A price as Hyperliquid writes it: ≤ ``sig_figs`` significant figures (integers always
    allowed), ≤ ``max_decimals`` decimals, no exponent.

    Examples: ``price_str(91029.3, 1) == "91029.0"``, ``price_str(2.42613, 4) == "2.4261"``,
    ``price_str(0.000005123, 12) == "0.000005123"``.
    """
    return _trim(f"{px:.{price_decimals(px, max_decimals, sig_figs)}f}")


def _implied_avg_premium(hourly_rate: float, fallback: float) -> float:
    """Average premium that the funding formula maps to ``hourly_rate``; ``fallback`` when the
    rate sits on the flat part of the formula (premium within [−0.0004, 0.0006])."""
    f8 = hourly_rate * 8.0
    if f8 < HL_INTEREST_8H - 1e-12:
        return f8 - HL_PREMIUM_CLAMP
    if f8 > HL_INTEREST_8H + 1e-12:
        return f8 + HL_PREMIUM_CLAMP
    return fallback


def _poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth for small means, rounded normal above 30)."""
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


def _overlap(a0: int, a1: int, b0: int, b1: int) -> int:
    """Length in ms of the intersection of ``[a0, a1]`` and ``[b0, b1]``."""
    lo = a0 if a0 > b0 else b0
    hi = a1 if a1 < b1 else b1
    return hi - lo if hi > lo else 0


def _floor_hour(ms: int) -> int:
    return ms - ms % HOUR_MS


# --- records ---------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class CascadeRecord:
    """One liquidation cascade the model started.

    ``side`` is the liquidated side (``"long"``: price falls, ``"short"``: squeeze, price rises);
    ``price_move`` and ``oi_move`` are the planned signed fractional changes over
    ``[start_ms, end_ms]`` (sim ms), before random-walk noise and the later partial rebound.
    """

    coin: str
    start_ms: int
    end_ms: int
    side: str
    price_move: float
    oi_move: float


class FundingRow(NamedTuple):
    """One settled hourly funding: ``time_ms`` is the hour boundary (sim ms, UTC),
    ``rate`` the hourly rate (fraction per hour), ``premium`` the hour's average premium."""

    time_ms: int
    rate: float
    premium: float


class _Cascade:
    """A running cascade: log-price and log-OI drifts per ms, then a rebound drift."""

    __slots__ = (
        "start_ms",
        "end_ms",
        "done_ms",
        "price_rate",
        "oi_rate",
        "rebound_rate",
        "buy_share",
    )

    def __init__(
        self,
        start_ms: int,
        end_ms: int,
        done_ms: int,
        log_price: float,
        log_oi: float,
        log_rebound: float,
    ) -> None:
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.done_ms = done_ms
        span = end_ms - start_ms
        self.price_rate = log_price / span
        self.oi_rate = log_oi / span
        rebound_span = done_ms - end_ms
        self.rebound_rate = log_rebound / rebound_span if rebound_span > 0 else 0.0
        self.buy_share = 0.85 if log_price > 0 else 0.15


class SimMarket:
    """State of one simulated market. Attributes are public for reading; only the model writes.

    Identity: ``coin``, ``asset_id`` (universe index), ``sz_decimals``, ``px_decimals``
    (``6 − szDecimals``, the perp price decimal limit), ``listed``.
    Live state (listed markets): ``oracle``, ``mark``, ``mid``, ``impact_bid``, ``impact_ask``
    (USD); ``basis`` (fraction, ``mark / oracle − 1``); ``premium`` (latest 5 s sample, fraction);
    ``open_interest`` (base units, one side). ``raw_ctx`` is the snapshot's ctx object.
    """

    __slots__ = (
        "coin",
        "asset_id",
        "sz_decimals",
        "px_decimals",
        "listed",
        "raw_ctx",
        "sigma",
        "rho",
        "rho_c",
        "jump_sd",
        "log_oracle",
        "oracle",
        "mark",
        "mid",
        "mid_sd",
        "basis",
        "basis_level",
        "basis_anchor",
        "basis_sd",
        "basis_level_sd",
        "regime_target",
        "half_spread",
        "spread_mult",
        "impact_bid",
        "impact_ask",
        "impact_notional",
        "premium",
        "prem_sum",
        "prem_n",
        "log_oi",
        "log_oi_mean",
        "open_interest",
        "vol_rate",
        "vol_ring",
        "base_ring",
        "vol_hour",
        "base_hour",
        "px_ring",
        "history",
        "cascade",
        "trade_rate",
        "trade_usd",
        "recent_trades",
        "pending_trades",
    )

    # Live state of a listed market, set by MarketModel._init_market (declared here for type
    # checkers; unlisted markets never get these slots filled).
    sigma: float
    rho: float
    rho_c: float
    jump_sd: float
    log_oracle: float
    oracle: float
    mark: float
    mid: float
    mid_sd: float
    basis: float
    basis_level: float
    basis_anchor: float
    basis_sd: float
    basis_level_sd: float
    regime_target: float
    half_spread: float
    spread_mult: float
    impact_bid: float
    impact_ask: float
    impact_notional: float
    premium: float
    prem_sum: float
    prem_n: int
    log_oi: float
    log_oi_mean: float
    open_interest: float
    vol_rate: float
    vol_ring: deque[float]
    base_ring: deque[float]
    vol_hour: float
    base_hour: float
    px_ring: deque[float]
    trade_rate: float
    trade_usd: float

    def __init__(self, asset: dict[str, Any], asset_id: int, ctx: dict[str, Any]) -> None:
        self.coin: str = asset["name"]
        self.asset_id = asset_id
        self.sz_decimals: int = int(asset.get("szDecimals", 0))
        self.px_decimals = 6 - self.sz_decimals
        self.listed = not asset.get("isDelisted", False) and ctx.get("midPx") is not None
        self.raw_ctx = ctx
        self.cascade: _Cascade | None = None
        self.history: deque[FundingRow] = deque(maxlen=FUNDING_HISTORY_LEN)
        self.recent_trades: deque[dict[str, Any]] = deque(maxlen=RECENT_TRADES_LEN)
        self.pending_trades: deque[dict[str, Any]] = deque(maxlen=PENDING_TRADES_LEN)

    @property
    def lot(self) -> float:
        """Smallest size step in base units (``10^−szDecimals``)."""
        return 10.0**-self.sz_decimals

    @property
    def oi_usd(self) -> float:
        """Open interest in USD: one-side base units × oracle price."""
        return self.open_interest * self.oracle if self.listed else 0.0


# --- the model -------------------------------------------------------------------------


class MarketModel:
    """A deterministic Hyperliquid-like perp market seeded from a ``metaAndAssetCtxs`` snapshot.

    ``snapshot`` is ``[meta, ctxs]`` (see :mod:`pfterm.core.sim.snapshot`); ``seed`` fixes every random
    draw; ``start_ms`` is the initial sim time (ms UTC); ``cascade_rate_per_hour`` is the Poisson
    arrival rate of liquidation cascades across the whole market, per simulated hour (0 disables).

    Advance with :meth:`step`; read with the ``*_wire`` methods (Hyperliquid shapes, numbers as
    decimal strings) or :meth:`market`. Returned wire objects are shared caches: do not mutate.
    """

    def __init__(
        self,
        snapshot: list[Any],
        seed: int,
        start_ms: int,
        cascade_rate_per_hour: float = 2.5,
        *,
        regime: str = "natural",
        regime_flip_at_ms: int | None = None,
    ) -> None:
        meta, ctxs = snapshot
        if cascade_rate_per_hour < 0 or not math.isfinite(cascade_rate_per_hour):
            raise ValueError("cascade_rate_per_hour must be a finite number >= 0")
        if regime not in REGIMES:
            raise ValueError(f"regime must be one of {', '.join(REGIMES)}, got {regime!r}")
        if regime_flip_at_ms is not None and regime == "natural":
            raise ValueError("regime_flip_at_ms needs a biased regime (positive or negative)")
        self.regime = regime
        """Funding regime (``"natural"``, ``"positive"`` or ``"negative"``), as constructed."""
        self.regime_flip_at_ms = None if regime_flip_at_ms is None else int(regime_flip_at_ms)
        """Sim ms at which the regime's bias reverses sign, or ``None``."""
        self._bias = 0.0 if regime == "natural" else (1.0 if regime == "positive" else -1.0)
        self._pending_flip_ms: int | None = None
        if self.regime_flip_at_ms is not None:
            if self.regime_flip_at_ms <= int(start_ms):
                self._bias = -self._bias
            else:
                self._pending_flip_ms = self.regime_flip_at_ms
        self._meta: dict[str, Any] = meta
        self._seed = int(seed)
        self._rng = random.Random(self._seed)
        self._trade_rng = random.Random(self._rng.getrandbits(64))
        self._book_seed = self._rng.getrandbits(64)
        self._now_ms = int(start_ms)
        self._carry_ms = 0.0
        self._version = 0
        self.cascade_rate_per_hour = float(cascade_rate_per_hour)
        self.cascades: deque[CascadeRecord] = deque(maxlen=CASCADE_LOG_LEN)
        """Log of started cascades, oldest first (bounded)."""

        self._markets: dict[str, SimMarket] = {}
        self._order: list[SimMarket] = []
        for i, (asset, ctx) in enumerate(zip(meta["universe"], ctxs, strict=True)):
            m = SimMarket(asset, i, ctx)
            self._markets[m.coin] = m
            self._order.append(m)
        self._listed: list[SimMarket] = [m for m in self._order if m.listed]
        for m in self._listed:
            self._init_market(m)
            if self._bias:
                self._init_regime(m)
        for m in self._listed:
            self._synthesize_history(m)

        self._watched: dict[str, SimMarket] = {}
        self._next_tid = 10**14 + self._trade_rng.randrange(10**13)
        self._next_cascade_ms: int | None = None
        self._schedule_next_cascade()

        self._ctx_cache: dict[str, tuple[int, dict[str, Any]]] = {}
        self._mids_cache: tuple[int, dict[str, str]] | None = None
        self._top_cache: dict[str, tuple[int, tuple[int, int, float, int]]] = {}

    # -- construction ---------------------------------------------------------------------

    def _init_market(self, m: SimMarket) -> None:
        ctx = m.raw_ctx
        rng = self._rng
        oracle = float(ctx["oraclePx"])
        mark = float(ctx["markPx"])
        mid = float(ctx["midPx"])
        prev_day = float(ctx["prevDayPx"])
        ib, ia = (float(x) for x in ctx["impactPxs"])

        move = abs(math.log(mark / prev_day)) if prev_day > 0 else 0.0
        m.sigma = min(max(move * math.sqrt(365.0) / 0.8, VOL_MIN), VOL_MAX)
        beta = rng.uniform(BETA_MIN, BETA_MAX)
        m.rho = min(FACTOR_CORRELATION * beta, 0.95)
        m.rho_c = math.sqrt(1.0 - m.rho * m.rho)
        m.jump_sd = 0.012 * m.sigma / 0.8

        m.log_oracle = math.log(oracle)
        m.oracle = oracle
        m.mark = mark
        m.mid = mid
        anchor = min(max(mark / oracle - 1.0, -BASIS_ANCHOR_LIMIT), BASIS_ANCHOR_LIMIT)
        m.basis_anchor = anchor
        m.basis_level = anchor
        m.basis = mark / oracle - 1.0
        m.basis_sd = 0.00015 + 0.00025 * m.sigma
        m.basis_level_sd = 0.0004 + 0.0003 * m.sigma

        tick = 10.0 ** -price_decimals(mid, m.px_decimals)
        half = (ia - ib) / (2.0 * mid) if ia > ib else 0.0
        m.half_spread = max(half, HALF_SPREAD_FLOOR, 0.6 * tick / mid)
        m.spread_mult = 1.0
        m.mid_sd = 0.25 * m.half_spread
        m.impact_bid = ib
        m.impact_ask = ia
        m.impact_notional = IMPACT_NOTIONAL_MAJOR if m.coin in ("BTC", "ETH") else IMPACT_NOTIONAL_OTHER

        premium = float(ctx["premium"]) if ctx.get("premium") is not None else 0.0
        m.premium = premium
        hour0 = _floor_hour(self._now_ms)
        n0 = (self._now_ms - hour0) // PREMIUM_SAMPLE_MS
        avg0 = _implied_avg_premium(float(ctx["funding"]), premium)
        m.prem_n = n0
        m.prem_sum = avg0 * n0

        oi = float(ctx["openInterest"])
        m.open_interest = oi
        m.log_oi = math.log(oi) if oi > 0 else -math.inf
        m.log_oi_mean = m.log_oi

        day_vlm = max(float(ctx["dayNtlVlm"]), 0.0)
        day_base = max(float(ctx.get("dayBaseVlm") or 0.0), 0.0)
        m.vol_rate = day_vlm / 86_400.0
        frac = (self._now_ms - hour0) / HOUR_MS
        m.vol_ring = deque([day_vlm / 24.0] * 24, maxlen=24)
        m.base_ring = deque([day_base / 24.0] * 24, maxlen=24)
        m.vol_hour = day_vlm / 24.0 * frac
        m.base_hour = day_base / 24.0 * frac

        # Marks at the hour boundaries H−24h … H (H = hour of start_ms), on the log line from
        # prevDayPx (24 h before start) to the current mark.
        lp0 = math.log(prev_day) if prev_day > 0 else math.log(mark)
        lp1 = math.log(mark)
        ring: deque[float] = deque(maxlen=25)
        for k in range(24, -1, -1):
            t = hour0 - k * HOUR_MS
            w = 1.0 - (self._now_ms - t) / DAY_MS
            ring.append(math.exp(lp0 + (lp1 - lp0) * w))
        m.px_ring = ring

        # Trades per second grow with the square root of volume: BTC ≈ 5/s, a $1M/day market ≈ 0.1/s.
        rate = TRADE_RATE_MAX_PER_S * math.sqrt(day_vlm / TRADE_RATE_REF_VOLUME)
        m.trade_rate = min(max(rate, TRADE_RATE_MIN_PER_S), TRADE_RATE_MAX_PER_S)
        m.trade_usd = max(m.vol_rate / m.trade_rate, 20.0)

    def _init_regime(self, m: SimMarket) -> None:
        """Bias a market's basis for a positive / negative regime (no random draws)."""
        m.regime_target = REGIME_PREMIUM + m.half_spread
        anchor = self._bias * m.regime_target
        m.basis_anchor = anchor
        m.basis_level = anchor
        m.basis = anchor
        m.basis_level_sd *= REGIME_LEVEL_SD_MULT
        m.basis_sd *= REGIME_BASIS_SD_MULT
        m.prem_sum = self._bias * REGIME_PREMIUM * m.prem_n

    def _flip_regime(self) -> None:
        """Reverse the regime's bias now: shift anchor, level and basis by ``−2 × anchor``."""
        self._bias = -self._bias
        self._pending_flip_ms = None
        for m in self._listed:
            anchor = self._bias * m.regime_target
            shift = anchor - m.basis_anchor
            m.basis_anchor = anchor
            m.basis_level += shift
            m.basis = min(max(m.basis + shift, -BASIS_LIMIT), BASIS_LIMIT)

    def _synthesize_history(self, m: SimMarket) -> None:
        """72 settled hours before start: an hourly OU premium around the snapshot's premium
        (under a biased regime: around the regime's premium)."""
        gauss = self._rng.gauss
        level = self._bias * REGIME_PREMIUM if self._bias else m.premium
        sd = 0.0002 + 0.0002 * m.sigma
        phi = 0.85
        shock = sd * math.sqrt(1.0 - phi * phi)
        prem = level + gauss(0.0, sd)
        newest_first: list[float] = []
        for _ in range(SYNTH_HISTORY_HOURS):
            newest_first.append(prem)
            prem = level + (prem - level) * phi + gauss(0.0, shock)
        hour0 = _floor_hour(self._now_ms)
        n = len(newest_first)
        for k, p in enumerate(reversed(newest_first)):
            t = hour0 - (n - 1 - k) * HOUR_MS
            m.history.append(FundingRow(t, hl_hourly_rate(p), p))

    # -- clock ----------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        """Current simulated time, ms UTC."""
        return self._now_ms

    @property
    def version(self) -> int:
        """Counter bumped every time :meth:`step` changes the state (cache key for readers)."""
        return self._version

    @property
    def seed(self) -> int:
        """The seed the model was built with."""
        return self._seed

    @property
    def next_funding_ms(self) -> int:
        """Next hourly settlement (top of the next UTC hour on the sim clock), ms."""
        return _floor_hour(self._now_ms) + HOUR_MS

    def step(self, dt_s: float, *, max_segment_s: float | None = None) -> None:
        """Advance the simulated clock by ``dt_s`` seconds (≥ 0), processing every premium
        sample instant (multiples of 5 s) and hourly settlement the interval spans.

        The state advances in segments that end on sample instants and never cross an hour
        boundary. A long call is cut into about 64 segments (plus one per hour boundary), and
        a segment spanning ``k`` sample instants counts its closing premium ``k`` times, so a
        day-long step costs about as much as 24 hourly ones. ``max_segment_s`` (≥ 5 s used)
        replaces that rule by segments of up to that length: the processes are discretised
        exactly (OU decays and random-walk variances scale with the segment), so only the
        premium's sampling gets coarser; the cost is one pass over the markets per segment.
        Sub-millisecond remainders are carried to the next call.
        """
        if not dt_s >= 0 or not math.isfinite(dt_s):
            raise ValueError(f"dt_s must be a finite number >= 0, got {dt_s!r}")
        total = dt_s * 1000.0 + self._carry_ms
        advance = int(total)
        self._carry_ms = total - advance
        if advance <= 0:
            return
        self._run_to(self._now_ms + advance, self._segment_target(advance, max_segment_s))

    def step_to(self, end_ms: int, *, max_segment_s: float | None = None) -> None:
        """Advance the simulated clock to ``end_ms`` exactly (integer sim ms, not before now),
        like :meth:`step` (segmenting by ``max_segment_s`` when given) but leaving the
        sub-millisecond carry of :meth:`step` alone."""
        end_ms = int(end_ms)
        if end_ms < self._now_ms:
            raise ValueError(f"end_ms {end_ms} is before the model's clock {self._now_ms}")
        if end_ms == self._now_ms:
            return
        self._run_to(end_ms, self._segment_target(end_ms - self._now_ms, max_segment_s))

    @staticmethod
    def _segment_target(advance_ms: int, max_segment_s: float | None) -> int:
        if max_segment_s is None:
            return max(PREMIUM_SAMPLE_MS, advance_ms // STEP_SEGMENTS)
        if not max_segment_s > 0 or not math.isfinite(max_segment_s):
            raise ValueError(f"max_segment_s must be a positive number, got {max_segment_s!r}")
        return max(PREMIUM_SAMPLE_MS, int(max_segment_s * 1000.0))

    def _run_to(self, end: int, target: int) -> None:
        flip = self._pending_flip_ms
        while self._now_ms < end:
            now = self._now_ms
            seg_end = (now + target) // PREMIUM_SAMPLE_MS * PREMIUM_SAMPLE_MS
            if seg_end <= now:
                seg_end = (now // PREMIUM_SAMPLE_MS + 1) * PREMIUM_SAMPLE_MS
            next_hour = (now // HOUR_MS + 1) * HOUR_MS
            if seg_end > next_hour:
                seg_end = next_hour
            if seg_end > end:
                seg_end = end
            if flip is not None and now < flip < seg_end:
                seg_end = flip
            self._advance(now, seg_end)
            self._now_ms = seg_end
            if flip is not None and seg_end >= flip:
                self._flip_regime()
                flip = None
            samples = seg_end // PREMIUM_SAMPLE_MS - now // PREMIUM_SAMPLE_MS
            if samples:
                self._sample_premiums(samples)
                if seg_end % HOUR_MS == 0:
                    self._settle_hour(seg_end)
            while self._next_cascade_ms is not None and self._next_cascade_ms <= seg_end:
                self._start_random_cascade()
                self._schedule_next_cascade()
        self._version += 1

    # -- dynamics -------------------------------------------------------------------------

    def _advance(self, t0: int, t1: int) -> None:
        """Move every listed market from ``t0`` to ``t1`` (ms)."""
        dt = (t1 - t0) / 1000.0
        rng = self._rng
        normals = NORMALS
        bits = rng.getrandbits
        nbits = NORMAL_BITS
        rand = rng.random
        exp = math.exp
        sq = math.sqrt(dt / YEAR_S)
        zf = normals[bits(nbits)]
        dec_b = exp(-math.log(2.0) / BASIS_HALF_LIFE_S * dt)
        nb = math.sqrt(1.0 - dec_b * dec_b)
        dec_l = exp(-math.log(2.0) / BASIS_LEVEL_HALF_LIFE_S * dt)
        nl = math.sqrt(1.0 - dec_l * dec_l)
        dec_oi = exp(-math.log(2.0) / OI_HALF_LIFE_S * dt)
        noi = OI_STATIONARY_SD * math.sqrt(1.0 - dec_oi * dec_oi)
        dec_sp = exp(-math.log(2.0) / SPREAD_HALF_LIFE_S * dt)
        jump_p = JUMP_RATE_PER_S * dt
        for m in self._listed:
            lr = m.sigma * sq * (m.rho * zf + m.rho_c * normals[bits(nbits)])
            if rand() < jump_p:
                lr += m.jump_sd * normals[bits(nbits)]
            oi_lr = 0.0
            vol_mult = 0.5 + rand()
            c = m.cascade
            if c is not None:
                active = _overlap(t0, t1, c.start_ms, c.end_ms)
                lr += active * c.price_rate + _overlap(t0, t1, c.end_ms, c.done_ms) * c.rebound_rate
                if active:
                    oi_lr = active * c.oi_rate
                    vol_mult *= CASCADE_VOLUME_MULT
                    if m.spread_mult < CASCADE_SPREAD_MULT:
                        m.spread_mult = CASCADE_SPREAD_MULT
                if t1 >= c.done_ms:
                    m.cascade = None
            m.log_oracle += lr
            oracle = exp(m.log_oracle)
            m.oracle = oracle

            level = m.basis_anchor + (m.basis_level - m.basis_anchor) * dec_l
            level += m.basis_level_sd * nl * normals[bits(nbits)]
            m.basis_level = level
            b = level + (m.basis - level) * dec_b + m.basis_sd * nb * normals[bits(nbits)]
            if b > BASIS_LIMIT:
                b = BASIS_LIMIT
            elif b < -BASIS_LIMIT:
                b = -BASIS_LIMIT
            m.basis = b
            mark = oracle * (1.0 + b)
            m.mark = mark

            h = m.half_spread * m.spread_mult
            u = m.mid_sd * normals[bits(nbits)]
            lim = 0.8 * h
            if u > lim:
                u = lim
            elif u < -lim:
                u = -lim
            mid = mark * (1.0 + u)
            m.mid = mid
            m.impact_bid = mid * (1.0 - h)
            m.impact_ask = mid * (1.0 + h)
            if m.spread_mult > 1.0:
                m.spread_mult = 1.0 + (m.spread_mult - 1.0) * dec_sp

            if m.log_oi > -math.inf:
                prev_oi = m.open_interest
                m.log_oi = m.log_oi_mean + (m.log_oi - m.log_oi_mean) * dec_oi + noi * normals[bits(nbits)] + oi_lr
                oi = exp(m.log_oi)
                m.open_interest = oi
                liq = (prev_oi - oi) * oracle if oi_lr else 0.0
            else:
                liq = 0.0
            ntl = m.vol_rate * dt * vol_mult + (liq if liq > 0.0 else 0.0)
            m.vol_hour += ntl
            m.base_hour += ntl / mid

        if self._watched:
            for m in self._watched.values():
                self._generate_trades(m, t0, t1)

    def _sample_premiums(self, count: int) -> None:
        """Take the premium sample of every listed market, counted ``count`` times."""
        for m in self._listed:
            p = premium_sample(m.impact_bid, m.impact_ask, m.oracle)
            m.premium = p
            m.prem_sum += p * count
            m.prem_n += count

    def _settle_hour(self, boundary_ms: int) -> None:
        for m in self._listed:
            avg = m.prem_sum / m.prem_n if m.prem_n else m.premium
            m.history.append(FundingRow(boundary_ms, hl_hourly_rate(avg), avg))
            m.prem_sum = 0.0
            m.prem_n = 0
            m.vol_ring.append(m.vol_hour)
            m.base_ring.append(m.base_hour)
            m.vol_hour = 0.0
            m.base_hour = 0.0
            m.px_ring.append(m.mark)

    # -- cascades -------------------------------------------------------------------------

    def _schedule_next_cascade(self) -> None:
        if self.cascade_rate_per_hour <= 0:
            self._next_cascade_ms = None
            return
        gap_s = self._rng.expovariate(self.cascade_rate_per_hour / 3600.0)
        base = self._next_cascade_ms if self._next_cascade_ms is not None else self._now_ms
        self._next_cascade_ms = base + max(1, int(gap_s * 1000.0))

    def _start_random_cascade(self) -> None:
        candidates = sorted(
            (m for m in self._listed if m.cascade is None and m.open_interest > 0),
            key=lambda m: m.oi_usd,
            reverse=True,
        )[:CASCADE_CANDIDATES]
        if not candidates:
            return
        (m,) = self._rng.choices(candidates, weights=[c.oi_usd for c in candidates])
        self._begin_cascade(m, None, None, None, None)

    def trigger_cascade(
        self,
        coin: str | None = None,
        *,
        long_liquidation: bool | None = None,
        price_move: float | None = None,
        oi_drop: float | None = None,
        duration_s: float | None = None,
    ) -> CascadeRecord:
        """Start a liquidation cascade now, as a random arrival would.

        ``coin`` defaults to an OI-weighted pick among the largest markets; ``long_liquidation``
        (price falls) defaults to a 65 % draw; ``price_move`` (unsigned fraction, default
        U(0.03, 0.08)), ``oi_drop`` (unsigned fraction, default U(0.05, 0.15)) and
        ``duration_s`` (sim seconds, default U(10, 30)) override the random draws. A market
        already in a cascade has its cascade replaced. Returns the logged record.
        """
        if coin is None:
            candidates = sorted(self._listed, key=lambda m: m.oi_usd, reverse=True)
            candidates = candidates[:CASCADE_CANDIDATES]
            (m,) = self._rng.choices(candidates, weights=[c.oi_usd for c in candidates])
        else:
            m = self.market(coin)
            if not m.listed:
                raise ValueError(f"{coin} is delisted")
        return self._begin_cascade(m, long_liquidation, price_move, oi_drop, duration_s)

    def _begin_cascade(
        self,
        m: SimMarket,
        long_liquidation: bool | None,
        price_move: float | None,
        oi_drop: float | None,
        duration_s: float | None,
    ) -> CascadeRecord:
        rng = self._rng
        longs = rng.random() < CASCADE_LONG_SHARE
        move = rng.uniform(*CASCADE_PRICE_MOVE)
        drop = rng.uniform(*CASCADE_OI_DROP)
        duration = rng.uniform(*CASCADE_DURATION_S)
        shock = rng.uniform(*CASCADE_BASIS_SHOCK)
        rebound_s = rng.uniform(*CASCADE_REBOUND_S)
        rebound_share = rng.uniform(*CASCADE_REBOUND_SHARE)
        if long_liquidation is not None:
            longs = long_liquidation
        if price_move is not None:
            move = abs(price_move)
        if oi_drop is not None:
            drop = min(abs(oi_drop), 0.99)
        if duration_s is not None:
            duration = max(duration_s, 0.001)
        sign = -1.0 if longs else 1.0
        price_frac = sign * min(move, 0.99)
        log_price = math.log1p(price_frac)
        log_oi = math.log1p(-drop)
        start = self._now_ms
        end = start + max(1, int(duration * 1000.0))
        done = end + int(rebound_s * 1000.0)
        m.cascade = _Cascade(start, end, done, log_price, log_oi, -rebound_share * log_price)
        m.basis = min(max(m.basis + sign * shock, -BASIS_LIMIT), BASIS_LIMIT)
        m.spread_mult = max(m.spread_mult, CASCADE_SPREAD_MULT)
        record = CascadeRecord(
            coin=m.coin,
            start_ms=start,
            end_ms=end,
            side="long" if longs else "short",
            price_move=price_frac,
            oi_move=-drop,
        )
        self.cascades.append(record)
        return record

    # -- trades ---------------------------------------------------------------------------

    def watch_trades(self, coin: str, enabled: bool = True) -> None:
        """Start (or stop) generating public trades for ``coin``.

        Starting backfills up to 60 s of recent trades so a first read is not empty. Trades use
        their own generator, so watching never changes the price path. Unknown coin raises
        :class:`UnknownCoinError`; delisted markets never trade.
        """
        m = self.market(coin)
        if not enabled:
            self._watched.pop(coin, None)
            m.pending_trades.clear()
            return
        if not m.listed or coin in self._watched:
            return
        self._watched[coin] = m
        t1 = self._now_ms
        t0 = t1 - int(TRADE_BACKFILL_S * 1000.0)
        self._generate_trades(m, t0, t1, backfill=True)

    @property
    def watched_coins(self) -> frozenset[str]:
        """Coins for which trades are generated."""
        return frozenset(self._watched)

    def _generate_trades(self, m: SimMarket, t0: int, t1: int, backfill: bool = False) -> None:
        rng = self._trade_rng
        rate = m.trade_rate
        size_mult = 1.0
        buy_share = 0.5
        c = m.cascade
        if c is not None and _overlap(t0, t1, c.start_ms, c.end_ms) > 0:
            rate *= CASCADE_VOLUME_MULT
            size_mult = 3.0
            buy_share = c.buy_share
        span = t1 - t0
        n = min(_poisson(rng, rate * span / 1000.0), TRADES_PER_SEGMENT_MAX)
        if n == 0:
            return
        times = sorted(t0 + 1 + int(rng.random() * span) for _ in range(n))
        mid = m.mid
        h = m.half_spread * m.spread_mult
        lot = m.lot
        szd = m.sz_decimals
        pxd = m.px_decimals
        coin = m.coin
        recent = m.recent_trades
        pending = m.pending_trades
        for t in times:
            if t > t1:
                t = t1
            buy = rng.random() < buy_share
            off = h * rng.random()
            px = mid * (1.0 + off) if buy else mid * (1.0 - off)
            usd = m.trade_usd * size_mult * rng.expovariate(1.0)
            sz = round(usd / px, szd)
            if sz < lot:
                sz = lot
            tid = self._next_tid
            self._next_tid += 1
            buyer = f"0x{rng.getrandbits(160):040x}"
            seller = f"0x{rng.getrandbits(160):040x}"
            trade = {
                "coin": coin,
                "side": "B" if buy else "A",
                "px": price_str(px, pxd),
                "sz": decimal_str(sz, szd),
                "time": t,
                "hash": f"0x{rng.getrandbits(256):064x}",
                "tid": tid,
                "users": [buyer, seller],
            }
            recent.append(trade)
            if not backfill:
                pending.append(trade)

    def drain_trades(self) -> dict[str, list[dict[str, Any]]]:
        """New trades since the last call, per watched coin with any, oldest first (wire shape
        ``{coin, side, px, sz, time, hash, tid, users}``)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for coin, m in self._watched.items():
            if m.pending_trades:
                out[coin] = list(m.pending_trades)
                m.pending_trades.clear()
        return out

    def recent_trades_wire(self, coin: str) -> list[dict[str, Any]]:
        """Recent trades of ``coin``, newest first like ``recentTrades``; starts watching it."""
        m = self.market(coin)
        if m.listed and coin not in self._watched:
            self.watch_trades(coin)
        return list(reversed(m.recent_trades))

    # -- lookups --------------------------------------------------------------------------

    @property
    def coins(self) -> list[str]:
        """All coins in universe order (asset id = index), delisted included."""
        return [m.coin for m in self._order]

    @property
    def listed_coins(self) -> list[str]:
        """Listed (simulated) coins in universe order."""
        return [m.coin for m in self._listed]

    def market(self, coin: str) -> SimMarket:
        """The state of ``coin``; raises :class:`UnknownCoinError` if not in the universe."""
        try:
            return self._markets[coin]
        except KeyError:
            raise UnknownCoinError(coin) from None

    def funding_history(self, coin: str) -> list[FundingRow]:
        """Settled hourly fundings of ``coin``, oldest first (synthesised rows included)."""
        return list(self.market(coin).history)

    def predicted_funding(self, coin: str) -> float:
        """The running hour's predicted hourly rate: the formula on the samples so far."""
        m = self.market(coin)
        if not m.listed:
            return 0.0
        avg = m.prem_sum / m.prem_n if m.prem_n else m.premium
        return hl_hourly_rate(avg)

    def prev_day_px(self, coin: str) -> float:
        """Mark price 24 sim-hours ago (USD), interpolated inside the hourly ring."""
        m = self.market(coin)
        if not m.listed:
            return float(m.raw_ctx["prevDayPx"])
        frac = (self._now_ms % HOUR_MS) / HOUR_MS
        a, b = m.px_ring[0], m.px_ring[1]
        return a * math.exp(math.log(b / a) * frac)

    def day_volume(self, coin: str) -> tuple[float, float]:
        """Rolling 24 h volume of ``coin``: ``(notional USD, base units)``."""
        m = self.market(coin)
        if not m.listed:
            return float(m.raw_ctx["dayNtlVlm"]), float(m.raw_ctx.get("dayBaseVlm") or 0.0)
        frac = (self._now_ms % HOUR_MS) / HOUR_MS
        # the oldest hour counts for the part of it still inside the 24 h window
        return (
            m.vol_hour + sum(m.vol_ring) - m.vol_ring[0] * frac,
            m.base_hour + sum(m.base_ring) - m.base_ring[0] * frac,
        )

    # -- wire -----------------------------------------------------------------------------

    def meta_wire(self) -> dict[str, Any]:
        """``meta``: the snapshot's ``{universe, marginTables, collateralToken}`` unchanged."""
        return self._meta

    def meta_and_asset_ctxs_wire(self) -> list[Any]:
        """``metaAndAssetCtxs``: ``[meta, [ctx, ...]]`` in universe order."""
        return [self._meta, [self.ctx_wire(m.coin) for m in self._order]]

    def _top(self, m: SimMarket) -> tuple[int, int, float, int]:
        """Best bid and ask in ticks, the tick (USD) and its decimals, from the model mid."""
        cached = self._top_cache.get(m.coin)
        if cached is not None and cached[0] == self._version:
            return cached[1]
        mid = m.mid
        d = price_decimals(mid, m.px_decimals)
        tick = 10.0**-d
        mid_t = mid / tick
        inner = 0.25 * m.half_spread * m.spread_mult * mid / tick
        spread_t = max(1, int(round(2.0 * inner)))
        bb_t = int(math.floor(mid_t - spread_t / 2.0 + 0.5))
        if bb_t < 1:
            bb_t = 1
        top = (bb_t, bb_t + spread_t, tick, d)
        self._top_cache[m.coin] = (self._version, top)
        return top

    def ctx_wire(self, coin: str) -> dict[str, Any]:
        """One market's ctx in Hyperliquid's shape, numbers as decimal strings.

        Keys (snapshot order): ``funding`` (predicted hourly rate), ``openInterest`` (base,
        one side), ``prevDayPx``, ``dayNtlVlm`` (USD), ``premium`` (latest sample),
        ``oraclePx``, ``markPx``, ``midPx`` (book mid, may carry a half tick), ``impactPxs``
        ``[bid, ask]``, ``dayBaseVlm``. Delisted markets return the snapshot's ctx as is.
        """
        m = self.market(coin)
        if not m.listed:
            return m.raw_ctx
        cached = self._ctx_cache.get(coin)
        if cached is not None and cached[0] == self._version:
            return cached[1]
        bb_t, ba_t, tick, d = self._top(m)
        pxd = m.px_decimals
        best_bid = bb_t * tick
        best_ask = ba_t * tick
        ib = m.impact_bid if m.impact_bid < best_bid else best_bid
        ia = m.impact_ask if m.impact_ask > best_ask else best_ask
        ntl, base = self.day_volume(coin)
        szd = m.sz_decimals
        ctx = {
            "funding": decimal_str(self.predicted_funding(coin), 10),
            "openInterest": decimal_str(m.open_interest, szd),
            "prevDayPx": price_str(self.prev_day_px(coin), pxd),
            "dayNtlVlm": decimal_str(ntl, 2),
            "premium": decimal_str(m.premium, 10),
            "oraclePx": price_str(m.oracle, pxd),
            "markPx": price_str(m.mark, pxd),
            "midPx": _trim(f"{(bb_t + ba_t) * tick / 2.0:.{d + 1}f}"),
            "impactPxs": [price_str(ib, pxd), price_str(ia, pxd)],
            "dayBaseVlm": decimal_str(base, szd),
        }
        self._ctx_cache[coin] = (self._version, ctx)
        return ctx

    def all_mids_wire(self) -> dict[str, str]:
        """``allMids`` (``{coin: mid}``) for listed perps, the same mids as ``ctx.midPx``."""
        cached = self._mids_cache
        if cached is not None and cached[0] == self._version:
            return cached[1]
        mids: dict[str, str] = {}
        for m in self._listed:
            bb_t, ba_t, tick, d = self._top(m)
            mids[m.coin] = _trim(f"{(bb_t + ba_t) * tick / 2.0:.{d + 1}f}")
        self._mids_cache = (self._version, mids)
        return mids

    def l2_book_wire(self, coin: str, n_levels: int = 20, n_sig_figs: int | None = None) -> dict[str, Any]:
        """``l2Book``: ``{coin, time, levels: [bids best first, asks best first]}``, levels
        ``{px, sz, n}`` (USD, base units, order count).

        The top of book brackets the mid (``midPx`` is its centre); the first five levels
        of each side hold about the impact notional and are spaced so that walking it lands
        near the impact price; the ctx's impact prices lie between the best and the last
        level shown. ``n_sig_figs`` (2–5) aggregates prices to that many significant figures.
        Delisted markets have empty sides.
        """
        m = self.market(coin)
        now = self._now_ms
        if not m.listed:
            return {"coin": coin, "time": now, "levels": [[], []]}
        bb_t, ba_t, tick, d = self._top(m)
        rng = random.Random(self._book_seed ^ (m.asset_id << 40) ^ self._version)
        best_bid = bb_t * tick
        best_ask = ba_t * tick
        ib = min(m.impact_bid, best_bid)
        ia = max(m.impact_ask, best_ask)
        k = BOOK_IMPACT_LEVELS - 1
        gap_b = max(1, int(round(2.0 * (best_bid - ib) / (k * tick))))
        gap_a = max(1, int(round(2.0 * (ia - best_ask) / (k * tick))))
        size_b = size_a = 1.0
        sig_figs = n_sig_figs if n_sig_figs is not None and n_sig_figs < 5 else None
        if sig_figs is not None:
            # Space the raw levels one aggregation bucket apart so every bucket is populated.
            bucket = 10.0 ** (math.floor(math.log10(best_bid)) - sig_figs + 1)
            bucket_t = max(1, int(round(bucket / tick)))
            if bucket_t > gap_b:
                size_b, gap_b = bucket_t / gap_b, bucket_t
            if bucket_t > gap_a:
                size_a, gap_a = bucket_t / gap_a, bucket_t
        bids = self._book_side(m, rng, bb_t, -gap_b, tick, n_levels, size_b)
        asks = self._book_side(m, rng, ba_t, gap_a, tick, n_levels, size_a)
        if sig_figs is not None:
            bids = _aggregate(bids, sig_figs, m.px_decimals, down=True)
            asks = _aggregate(asks, sig_figs, m.px_decimals, down=False)
        return {"coin": coin, "time": now, "levels": [bids, asks]}

    def _book_side(
        self,
        m: SimMarket,
        rng: random.Random,
        start_t: int,
        gap_t: int,
        tick: float,
        n_levels: int,
        size_mult: float = 1.0,
    ) -> list[dict[str, Any]]:
        levels: list[dict[str, Any]] = []
        per_level = m.impact_notional / BOOK_IMPACT_LEVELS * size_mult
        pxd = m.px_decimals
        szd = m.sz_decimals
        lot = m.lot
        down = gap_t < 0
        last_px = ""
        t = start_t
        for i in range(n_levels * 2):
            if len(levels) >= n_levels or t <= 0:
                break
            px = t * tick
            d = price_decimals(px, pxd)
            # Re-snap on a coarser grid when the level crossed a power of ten upwards.
            step = 10.0**-d
            snapped = (math.floor(px / step + 1e-9) if down else math.ceil(px / step - 1e-9)) * step
            px_s = _trim(f"{snapped:.{d}f}")
            if i < BOOK_IMPACT_LEVELS:
                ntl = per_level * (0.7 + 0.6 * rng.random())
            else:
                ntl = per_level * (1.12 ** (i - BOOK_IMPACT_LEVELS + 1)) * (0.4 + 1.2 * rng.random())
            sz = max(round(ntl / snapped, szd), lot) if snapped > 0 else lot
            if px_s != last_px:
                n = 1 + int(rng.random() * min(12.0, 1.0 + 2.0 * ntl / per_level))
                levels.append({"px": px_s, "sz": decimal_str(sz, szd), "n": n})
                last_px = px_s
            t += gap_t
            if i >= BOOK_IMPACT_LEVELS - 1 and rng.random() < 0.3:
                t += gap_t
        return levels

    def funding_history_wire(self, coin: str, start_ms: int, end_ms: int | None = None) -> list[dict[str, Any]]:
        """``fundingHistory``: ``[{coin, fundingRate, premium, time}]`` with
        ``start_ms ≤ time ≤ end_ms`` (end defaults to now), oldest first, at most 500 rows.
        ``fundingRate`` is per hour; ``premium`` the hour's average premium."""
        m = self.market(coin)
        end = self._now_ms if end_ms is None else end_ms
        out: list[dict[str, Any]] = []
        for row in m.history:
            if row.time_ms < start_ms:
                continue
            if row.time_ms > end:
                break
            out.append(
                {
                    "coin": coin,
                    "fundingRate": decimal_str(row.rate, 10),
                    "premium": decimal_str(row.premium, 10),
                    "time": row.time_ms,
                }
            )
            if len(out) >= FUNDING_HISTORY_PAGE:
                break
        return out

    def predicted_fundings_wire(self) -> list[Any]:
        """``predictedFundings`` for listed perps, universe order:
        ``[[coin, [["HlPerp", {fundingRate, nextFundingTime, fundingIntervalHours: 1}]]], ...]``."""
        nxt = self.next_funding_ms
        return [
            [
                m.coin,
                [
                    [
                        "HlPerp",
                        {
                            "fundingRate": decimal_str(self.predicted_funding(m.coin), 10),
                            "nextFundingTime": nxt,
                            "fundingIntervalHours": 1,
                        },
                    ]
                ],
            ]
            for m in self._listed
        ]


def _aggregate(levels: list[dict[str, Any]], sig_figs: int, max_decimals: int, *, down: bool) -> list[dict[str, Any]]:
    """Merge book levels onto a ``sig_figs`` price grid (bids rounded down, asks up)."""
    out: list[dict[str, Any]] = []
    sizes: list[float] = []
    for lvl in levels:
        px = float(lvl["px"])
        d = price_decimals(px, max_decimals, sig_figs)
        step = 10.0 ** (math.floor(math.log10(px)) - sig_figs + 1) if px > 0 else 1.0
        step = max(step, 10.0**-max_decimals)
        b = (math.floor(px / step + 1e-9) if down else math.ceil(px / step - 1e-9)) * step
        px_s = _trim(f"{b:.{d}f}")
        if out and out[-1]["px"] == px_s:
            sizes[-1] += float(lvl["sz"])
            out[-1]["n"] += lvl["n"]
            out[-1]["_d"] = max(out[-1]["_d"], _decimals_of(lvl["sz"]))
        else:
            out.append({"px": px_s, "sz": lvl["sz"], "n": lvl["n"], "_d": _decimals_of(lvl["sz"])})
            sizes.append(float(lvl["sz"]))
    for lvl, sz in zip(out, sizes, strict=True):
        lvl["sz"] = decimal_str(sz, lvl.pop("_d"))
    return out


def _decimals_of(text: str) -> int:
    return len(text) - text.index(".") - 1 if "." in text else 0
