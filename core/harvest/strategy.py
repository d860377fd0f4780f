"""Decision math of the funding harvester: score, size, time, allocate and exit (pure).

Nothing here does I/O, sleeps, awaits or talks to a venue: the headless bot and the console
build :class:`FundingMarket` snapshots from the engine, call these functions and act on the
results. Every decision comes back with a one-line reason that carries its numbers, so a log
line or a console row can say *why*.

Decision flow of one scan (``docs/domain.md`` §6, seeds 000/001/002):

1. **Exits first.** For every held position, :func:`exit_decision` checks, in priority order:
   funding flipped against it, basis stop, basis wider than twice the entry basis, APR below
   the profile's exit APR, held too long, too close to liquidation (reduce by half). The whole
   book is killed by :func:`kill_exits` when the daily loss limit is reached.
2. **Candidates.** For every market, :func:`evaluate` returns a :class:`Candidate` or a
   :class:`Skip` whose reason names the first failing check: open interest, entry APR, a hedge
   leg, net rate after fees, basis at entry, settlement timing, quarter-Kelly size.
3. **Allocation.** :func:`allocate` walks the candidates best score first and turns each
   quarter-Kelly fraction into USD to add, net of what is already held, within the profile's
   total exposure, the per-venue share and the capital the hedged positions tie up.

Units (``docs/domain.md`` preamble): a funding *rate* is a plain fraction per interval and always
travels with that interval in hours (``interval_h``; 1 h on Hyperliquid); an *APR* is a plain
fraction per year (``0.2`` = 20 %, simple, 8760 h); prices and notionals are USD; timestamps
are integer milliseconds UTC. The seeds quote every rate per 8 h: where a formula comes from
a seed, the rate it takes is the 8 h rate (:func:`rate_8h`) and its "period" is 8 h.

Sizing caveat (computed in :func:`position_fraction`): with the seed's Kelly inputs (3 periods
of funding against a 3 % basis stop) quarter-Kelly is positive only above ≈ 590 % APR, so the
horizon is a parameter and the seed's default effectively never trades.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pfterm.core.market.funding import HOURS_PER_YEAR, basis_fraction, break_even_periods, convert_rate
from pfterm.core.market.funding import apr as _apr
from pfterm.core.trading.risk import RiskLimits, daily_loss_breached

__all__ = [
    "BASIS_MEANINGFUL",
    "KELLY_FRACTION",
    "MIN_FRACTION",
    "MIN_ORDER_USD",
    "PROFILES",
    "Candidate",
    "EntryTiming",
    "Exit",
    "FundingMarket",
    "HeldPosition",
    "Profile",
    "ScoreModel",
    "Skip",
    "allocate",
    "break_even_periods",
    "carry_apr",
    "entry_timing",
    "evaluate",
    "exit_decision",
    "kelly_fraction",
    "kelly_min_apr",
    "kill_exits",
    "net_rate_per_period",
    "position_fraction",
    "rate_8h",
    "score",
    "score_seed001",
    "score_seed002",
]

ScoreModel = Literal["seed001", "seed002"]
Side = Literal["short_perp", "long_perp"]

KELLY_FRACTION = 0.25
"""Share of the Kelly fraction actually used: quarter-Kelly (seed 002)."""

MIN_FRACTION = 0.005
"""Smallest position worth opening, a fraction of capital: 0.5 % (seed 002)."""

BASIS_MEANINGFUL = 0.0005
"""Smallest ``|entry basis|`` (fraction, 0.05 %) for which "basis wider than 2× entry" (seed 000)
is applied: twice a near-zero entry basis is noise, and would close on any tick."""

MIN_ORDER_USD = 10.0
"""Hyperliquid minimum order value, USD (``docs/domain.md`` §3). Equal to ``pfterm.core.trading.hedging.MIN_ORDER_USD``,
not imported from there because ``pfterm.core.trading.hedging`` loads the venue package (and asyncio)."""

P_OI_RISING = 0.65
"""Seed 002's probability that funding persists 3 periods when open interest is rising."""

P_OI_OTHER = 0.50
"""Seed 002's probability that funding persists 3 periods otherwise."""


# --------------------------------------------------------------------------- formatting


def _pct(x: float, digits: int = 2) -> str:
    """``0.2 → "20 %"``, ``0.1234 → "12.34 %"`` (trailing zeros trimmed)."""
    if not math.isfinite(x):
        return f"{x} %"
    text = f"{x * 100:.{digits}f}".rstrip("0").rstrip(".")
    return f"{'0' if text in ('', '-0') else text} %"


def _rate(x: float, interval_h: float) -> str:
    """A funding rate with its interval: ``0.0001, 8 → "+0.0100 %/8h"``."""
    return f"{x * 100:+.4f} %/{interval_h:g}h"


def _carry_text(m: FundingMarket) -> str:
    """The rate a position in ``m`` earns, with its interval: the venue's own rate, or for a
    perp hedge the spread and both legs (``"spread +0.0300 %/8h = +0.0050 %/1h − binance
    +0.0100 %/8h"``)."""
    now = "" if m.rate_now is None else f", now {_rate(m.carry_now_rate_8h, 8)}"
    if m.hedge != "perp":
        if m.rate_now is None:
            return _rate(m.rate, m.interval_h)
        return f"average {_rate(m.rate, m.interval_h)}{now}"
    avg = "" if m.rate_now is None else "average "
    return (
        f"{avg}spread {_rate(m.carry_rate_8h, 8)} = {_rate(m.rate, m.interval_h)} − {m.hedge_venue} "
        f"{_rate(m.hedge_rate or 0.0, m.hedge_interval_h or 8.0)}{now}"
    )


def _usd(x: float) -> str:
    """``3_200_000 → "$3.2M"``, ``12_500 → "$12.5k"``, ``-42.5 → "-$42.50"``."""
    sign, a = ("-" if x < 0 else ""), abs(x)
    if a >= 1e9:
        return f"{sign}${a / 1e9:.3g}B"
    if a >= 1e6:
        return f"{sign}${a / 1e6:.3g}M"
    if a >= 1e4:
        return f"{sign}${a / 1e3:.3g}k"
    return f"{sign}${a:,.2f}"


def _duration(seconds: float) -> str:
    """``250 → "4m10s"``, ``3600 → "60m"``, ``90_000 → "25h"``."""
    s = int(seconds)
    if s >= 6 * 3600:
        return f"{s / 3600:.3g}h"
    minutes, sec = divmod(s, 60)
    return f"{minutes}m{sec:02d}s" if sec else f"{minutes}m"


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True, slots=True)
class Profile:
    """Entry/exit thresholds and exposure limits of one risk profile (``docs/domain.md`` §6, seed 002).

    All fields are plain fractions:

    * ``entry_apr``: enter only when ``|APR| > entry_apr`` (fraction per year, 0.2 = 20 %);
    * ``exit_apr``: close when ``|APR| < exit_apr`` (fraction per year);
    * ``max_per_market``: largest position in one market, fraction of capital;
    * ``max_total``: largest total harvest exposure, fraction of capital;
    * ``basis_stop``: close when ``|basis| > basis_stop`` (fraction of the spot/index price).

    Raises:
        ValueError: a non-finite or non-positive field, ``exit_apr > entry_apr`` or
            ``max_per_market > max_total``.
    """

    name: str
    entry_apr: float
    exit_apr: float
    max_per_market: float
    max_total: float
    basis_stop: float

    def __post_init__(self) -> None:
        for field_name in ("entry_apr", "exit_apr", "max_per_market", "max_total", "basis_stop"):
            value = getattr(self, field_name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"profile {self.name}: {field_name} must be finite and > 0, got {value!r}")
        if self.exit_apr > self.entry_apr:
            raise ValueError(
                f"profile {self.name}: exit APR {_pct(self.exit_apr)} above entry APR {_pct(self.entry_apr)}"
            )
        if self.max_per_market > self.max_total:
            raise ValueError(
                f"profile {self.name}: max per market {_pct(self.max_per_market)} above max total "
                f"{_pct(self.max_total)}"
            )


PROFILES: dict[str, Profile] = {
    "conservative": Profile(
        "conservative", entry_apr=0.30, exit_apr=0.15, max_per_market=0.02, max_total=0.20, basis_stop=0.02
    ),
    "moderate": Profile(
        "moderate", entry_apr=0.20, exit_apr=0.10, max_per_market=0.05, max_total=0.50, basis_stop=0.03
    ),
    "aggressive": Profile(
        "aggressive", entry_apr=0.12, exit_apr=0.06, max_per_market=0.10, max_total=0.80, basis_stop=0.05
    ),
}
"""The three profiles of the ``docs/domain.md`` §6 table (seed 002), as fractions."""


# --------------------------------------------------------------------------- market snapshot


def rate_8h(rate: float, interval_h: float) -> float:
    """A funding rate rescaled to an 8 h interval, linearly (``docs/domain.md`` §1).

    Args:
        rate: fraction per ``interval_h`` hours.
        interval_h: the rate's interval, hours (> 0; Hyperliquid: 1).

    Returns:
        Fraction per 8 h: ``rate × 8 / interval_h`` (Hyperliquid's hourly baseline 0.00125 %/1h
        → 0.01 %/8h). The APR is unchanged: ``apr(rate_8h(r, h), 8) == apr(r, h)``.

    Raises:
        ValueError: ``interval_h`` not a finite positive number of hours.
    """
    return convert_rate(rate, interval_h, 8.0)


def _finite_positive(x: float | None) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def carry_apr(
    rate: float, interval_h: float, hedge_rate: float | None = None, hedge_interval_h: float | None = None
) -> float:
    """APR a position *short this perp* earns, a signed fraction per year (``docs/domain.md`` §1).

    ``rate`` is a fraction per ``interval_h`` hours; with a perp hedge (``hedge_rate`` per
    ``hedge_interval_h`` hours, long on the other venue) it is the spread of the two APRs,
    each annualised from its own interval. Raises ``ValueError`` for an interval that is not
    finite and > 0."""
    own = _apr(rate, interval_h)
    if hedge_rate is None:
        return own
    return own - _apr(hedge_rate, hedge_interval_h or 8.0)


@dataclass(frozen=True, slots=True)
class FundingMarket:
    """One perpetual market as the harvester sees it at a scan.

    * ``rate``: the venue's funding rate for the running interval, a fraction per
      ``interval_h`` hours (Hyperliquid: per 1 h, the predicted/current hourly rate);
    * ``interval_h``: funding interval, hours (1.0 on Hyperliquid, often 8 elsewhere);
    * ``next_funding_ms``: next settlement, ms UTC (take it from the venue, ``docs/domain.md`` §1);
    * ``mark_px`` / ``index_px`` / ``spot_px``: perp mark, oracle/index and the hedge leg's spot
      price, USD (``spot_px`` ``None``: no venue spot market);
    * ``open_interest_usd``: open interest, USD notional;
    * ``oi_trend``: open-interest trend over the caller's window (``docs/domain.md`` §5);
    * ``long_short_ratio``: accounts long / accounts short (seed 001), ``None`` if unpublished;
    * ``hedge``: how a position here would be hedged: ``"spot"`` (spot leg on the same venue),
      ``"external"`` (declared spot held elsewhere, a cold wallet), ``"perp"`` (the opposite
      perp on a second venue, ``hedge_*`` below), ``"none"`` (cannot be hedged);
    * ``hedge_venue`` / ``hedge_rate`` / ``hedge_interval_h`` / ``hedge_next_funding_ms`` /
      ``hedge_mark_px``: the second venue's name, funding rate (fraction per
      ``hedge_interval_h`` hours), next settlement (ms UTC) and mark (USD) when
      ``hedge == "perp"``. The position then earns the *spread* of the two rates
      (:attr:`carry_rate_8h`, ``docs/domain.md`` §1 "min cross-venue spread");
    * ``rate_now`` / ``hedge_rate_now``: when ``rate`` / ``hedge_rate`` are time averages (the
      harvester judges positions on averaged funding, see :class:`pfterm.core.harvest.harvester.RateAverage`),
      this instant's predicted rates, same units; ``None`` when ``rate`` is itself the instant
      rate. Entries need this instant's carry to confirm the average; exits read the average
      (:func:`exit_decision`).

    Raises:
        ValueError: a non-positive or non-finite ``interval_h``, ``mark_px``, ``index_px`` or
            ``spot_px`` (when given), or a non-finite ``rate``. Skip such markets before building one.
    """

    symbol: str
    rate: float
    interval_h: float
    next_funding_ms: int
    mark_px: float
    index_px: float
    spot_px: float | None
    open_interest_usd: float
    oi_trend: Literal["rising", "falling", "stable"]
    long_short_ratio: float | None = None
    hedge: Literal["spot", "external", "perp", "none"] = "none"
    hedge_venue: str | None = None
    hedge_rate: float | None = None
    hedge_interval_h: float | None = None
    hedge_next_funding_ms: int | None = None
    hedge_mark_px: float | None = None
    rate_now: float | None = None
    hedge_rate_now: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.rate):
            raise ValueError(f"{self.symbol}: funding rate must be finite, got {self.rate!r}")
        for field_name in ("interval_h", "mark_px", "index_px"):
            if not _finite_positive(getattr(self, field_name)):
                raise ValueError(
                    f"{self.symbol}: {field_name} must be finite and > 0, got {getattr(self, field_name)!r}"
                )
        if self.spot_px is not None and not _finite_positive(self.spot_px):
            raise ValueError(f"{self.symbol}: spot_px must be finite and > 0 or None, got {self.spot_px!r}")
        if self.hedge == "perp":
            if not self.hedge_venue:
                raise ValueError(f"{self.symbol}: a perp hedge needs hedge_venue")
            if self.hedge_rate is None or not math.isfinite(self.hedge_rate):
                raise ValueError(f"{self.symbol}: hedge_rate must be finite, got {self.hedge_rate!r}")
            for field_name in ("hedge_interval_h", "hedge_mark_px"):
                if not _finite_positive(getattr(self, field_name)):
                    raise ValueError(
                        f"{self.symbol}: {field_name} must be finite and > 0 for a perp hedge, got {getattr(self, field_name)!r}"
                    )
            if self.hedge_next_funding_ms is None:
                raise ValueError(f"{self.symbol}: a perp hedge needs hedge_next_funding_ms")

    @property
    def rate_8h(self) -> float:
        """The rate as a fraction per 8 h (:func:`rate_8h`; ``docs/domain.md`` §1)."""
        return rate_8h(self.rate, self.interval_h)

    @property
    def apr(self) -> float:
        """Annualised rate, fraction per year: ``rate × 8760 / interval_h`` (``docs/domain.md`` §1). Signed."""
        return _apr(self.rate, self.interval_h)

    @property
    def basis(self) -> float:
        """``(mark − spot) / spot``, a fraction, with ``index_px`` when no spot price (``docs/domain.md`` §2).

        With a perp hedge it is the gap between the two legs, ``(mark − hedge_mark) / hedge_mark``:
        the price risk a perp-against-perp position carries, which the basis stop bounds."""
        if self.hedge == "perp" and self.hedge_mark_px is not None:
            return basis_fraction(self.mark_px, self.hedge_mark_px)
        ref = self.spot_px if self.spot_px is not None else self.index_px
        return basis_fraction(self.mark_px, ref)

    @property
    def hedge_rate_8h(self) -> float:
        """The second venue's rate as a fraction per 8 h; ``0.0`` without a perp hedge."""
        if self.hedge != "perp" or self.hedge_rate is None or self.hedge_interval_h is None:
            return 0.0
        return rate_8h(self.hedge_rate, self.hedge_interval_h)

    @property
    def carry_rate_8h(self) -> float:
        """What a position *short this perp* receives per 8 h, a signed fraction.

        Spot or external hedge: the rate itself (:attr:`rate_8h`). Perp hedge: the spread
        ``rate_8h − hedge_rate_8h`` (short here, long there; negative → the opposite pair).
        Each venue's rate is converted to 8 h first, so an hourly venue and an 8-hourly one
        compare (``docs/domain.md`` §1)."""
        if self.hedge == "perp":
            return self.rate_8h - self.hedge_rate_8h
        return self.rate_8h

    @property
    def carry_now_rate_8h(self) -> float:
        """:attr:`carry_rate_8h` from this instant's rates (``rate_now``, ``hedge_rate_now``)
        where they are given, fraction per 8 h, signed; equal to :attr:`carry_rate_8h` otherwise."""
        own = rate_8h(self.rate if self.rate_now is None else self.rate_now, self.interval_h)
        if self.hedge != "perp":
            return own
        other = self.hedge_rate if self.hedge_rate_now is None else self.hedge_rate_now
        return own - rate_8h(other or 0.0, self.hedge_interval_h or 8.0)

    @property
    def carry_now_apr(self) -> float:
        """:attr:`carry_now_rate_8h` annualised (× 8760 / 8), a signed fraction per year."""
        return self.carry_now_rate_8h * HOURS_PER_YEAR / 8.0

    @property
    def carry_apr(self) -> float:
        """:attr:`carry_rate_8h` annualised (× 8760 / 8, :func:`carry_apr`), a signed fraction per
        year; equal to :attr:`apr` without a perp hedge."""
        if self.hedge == "perp":
            return carry_apr(self.rate, self.interval_h, self.hedge_rate or 0.0, self.hedge_interval_h)
        return self.apr


# --------------------------------------------------------------------------- scores


def score_seed001(m: FundingMarket) -> float:
    """Seed 001's ranking score (``docs/domain.md`` §6), higher is better.

    ``|r8| × 1000 + min(OI_usd / 10M, 10) − max(0, long_short − 1.8) × 0.5`` where ``r8`` is the
    rate per **8 h** (seed 001 quotes every rate per 8 h; an hourly rate is converted first).
    Seed 001 only ever scores positive rates; the harvester also harvests negative ones from the
    long side, so the magnitude ``|r8|`` is used (identical for positive rates). The long/short
    penalty is seed 001's, unmirrored: it penalises a crowded long side. ``long_short_ratio``
    ``None`` → no penalty.

    Example: 0.05 %/8h, $142M OI, L/S 2.0 → ``0.5 + 10 − 0.1 = 10.4``.
    """
    penalty = 0.0 if m.long_short_ratio is None else max(0.0, m.long_short_ratio - 1.8) * 0.5
    return abs(m.carry_rate_8h) * 1000.0 + min(m.open_interest_usd / 10_000_000.0, 10.0) - penalty


def _trend_factor(m: FundingMarket) -> float:
    """Seed 002: × 1.15 when OI rises with a non-zero rate, × 0.80 when OI falls, else × 1."""
    if m.oi_trend == "rising" and m.carry_rate_8h != 0:
        return 1.15
    if m.oi_trend == "falling":
        return 0.80
    return 1.0


def score_seed002(m: FundingMarket) -> float:
    """Seed 002's ranking score (``docs/domain.md`` §6), higher is better, an APR-like fraction.

    ``|APR| × (1 − min(|basis| × 5, 0.5)) × trend`` with ``APR`` the annualised rate (fraction
    per year), ``basis`` as in :attr:`FundingMarket.basis` (fraction) and ``trend`` 1.15 when
    open interest is rising with the rate (either sign: new positions on the paying side keep
    the rate up), 0.80 when it is falling, 1.0 when stable.

    Example: 54.75 % APR, basis 0.1 %, OI rising → ``0.5475 × 0.995 × 1.15 ≈ 0.6265``.
    """
    discount = 1.0 - min(abs(m.basis) * 5.0, 0.5)
    return abs(m.carry_apr) * discount * _trend_factor(m)


def score(m: FundingMarket, model: ScoreModel) -> float:
    """The score of ``m`` under ``model`` (``"seed001"`` or ``"seed002"``; ``docs/domain.md`` §6).

    Raises:
        ValueError: an unknown model name.
    """
    if model == "seed001":
        return score_seed001(m)
    if model == "seed002":
        return score_seed002(m)
    raise ValueError(f"unknown score model {model!r} (expected 'seed001' or 'seed002')")


# --------------------------------------------------------------------------- fees


def net_rate_per_period(rate_per_period: float, maker_fee: float, holding_periods: float = 12) -> float:
    """Funding per period net of amortised round-trip fees (seed 001, ``docs/domain.md`` §6).

    Args:
        rate_per_period: funding the position *receives* per period, fraction per period (for a
            harvest pass ``|rate|``; seed 001 uses 8 h periods).
        maker_fee: fee per trade, fraction of notional, paid on entry and on exit
            (Hyperliquid base-tier perp maker 0.015 %, ``pfterm.core.trading.hyperliquid.HL_MAKER_FEE``).
        holding_periods: expected holding time in periods of the same length (seed 001: 12 × 8 h
            = 4 days).

    Returns:
        ``rate_per_period − 2 × maker_fee / holding_periods``, fraction per period
        (0.05 %/8h with a 0.05 % maker fee over 12 periods → 0.0005 − 0.0001/12 ≈ 0.04167 %/8h).

    Raises:
        ValueError: ``holding_periods`` not a finite number > 0.

    See also :func:`break_even_periods` (re-exported from :mod:`pfterm.core.market.funding`):
    ``2 × fee / |rate|`` periods to earn back the fees (``docs/domain.md`` §1).
    """
    if not (math.isfinite(holding_periods) and holding_periods > 0):
        raise ValueError(f"holding_periods must be a finite number > 0, got {holding_periods!r}")
    return rate_per_period - 2.0 * maker_fee / holding_periods


# --------------------------------------------------------------------------- sizing


def _p_persist(oi_rising: bool) -> float:
    return P_OI_RISING if oi_rising else P_OI_OTHER


def _kelly_b(rate_8h: float, basis_stop: float, horizon_periods: float) -> float:
    if not (math.isfinite(basis_stop) and basis_stop > 0):
        raise ValueError(f"basis_stop must be a finite fraction > 0, got {basis_stop!r}")
    if not (math.isfinite(horizon_periods) and horizon_periods > 0):
        raise ValueError(f"horizon_periods must be a finite number > 0, got {horizon_periods!r}")
    return horizon_periods * abs(rate_8h) / basis_stop


def kelly_fraction(rate_8h: float, basis_stop: float, oi_rising: bool, horizon_periods: float = 3) -> float:
    """Seed 002's raw Kelly fraction for a funding harvest (``docs/domain.md`` §6).

    ``p = 0.65`` if open interest is rising else ``0.50`` (probability the funding persists),
    ``b = horizon_periods × |rate_8h| / basis_stop`` (funding collected over the horizon against
    the basis stop as the loss), ``kelly = (p·b − (1 − p)) / b = p − (1 − p) / b``.

    Args:
        rate_8h: funding rate, fraction per **8 h** (seed 002 quotes 8 h rates; convert hourly
            rates with :func:`rate_8h`). Its sign is ignored.
        basis_stop: the profile's basis stop, fraction (> 0).
        oi_rising: whether open interest is rising.
        horizon_periods: number of 8 h periods the funding is expected to be collected (seed: 3).

    Returns:
        The raw Kelly fraction of capital, possibly negative (no edge). A zero rate gives
        ``b = 0`` and returns ``-inf`` (Kelly's limit as ``b → 0⁺``) instead of dividing by zero.
        Example: 0.6 %/8h, 3 % stop, OI rising, 3 periods → ``b = 0.6``,
        ``(0.65 × 0.6 − 0.35) / 0.6 ≈ 0.0667``.

    Raises:
        ValueError: ``basis_stop`` or ``horizon_periods`` not finite and > 0.
    """
    p = _p_persist(oi_rising)
    b = _kelly_b(rate_8h, basis_stop, horizon_periods)
    if b == 0:
        return -math.inf
    return (p * b - (1.0 - p)) / b


def kelly_min_apr(basis_stop: float, oi_rising: bool, horizon_periods: float = 3, min_fraction: float = 0.0) -> float:
    """Smallest ``|APR|`` (fraction per year) at which quarter-Kelly reaches ``min_fraction``.

    Solves ``0.25 × (p − (1 − p) / b) = min_fraction`` for ``b``, then
    ``|r8| = b × basis_stop / horizon_periods`` and ``APR = |r8| × 8760 / 8`` (seed 002,
    ``docs/domain.md`` §1/§6). ``min_fraction = 0`` gives the APR at which Kelly turns positive.
    Returns ``inf`` when ``min_fraction`` cannot be reached at any rate (``4 × min_fraction ≥ p``).
    The per-market cap is not applied. Values: see :func:`position_fraction`.
    """
    p = _p_persist(oi_rising)
    _kelly_b(0.0, basis_stop, horizon_periods)  # validates
    edge = p - min_fraction / KELLY_FRACTION
    if edge <= 0:
        return math.inf
    b = (1.0 - p) / edge
    return b * basis_stop / horizon_periods * HOURS_PER_YEAR / 8.0


def position_fraction(
    m: FundingMarket,
    profile: Profile,
    *,
    horizon_periods: float = 3,
    min_fraction: float = MIN_FRACTION,
) -> float:
    """Quarter-Kelly position size in ``m``, a fraction of capital (seed 002, ``docs/domain.md`` §6).

    ``f = clip(0.25 × kelly_fraction(m.rate_8h, profile.basis_stop, OI rising, horizon), 0,
    profile.max_per_market)``, and ``0`` when ``f < min_fraction`` (seed 002 skips below 0.5 %).
    Result: ``0`` or within ``[min_fraction, profile.max_per_market]`` (``0`` when the cap itself
    is below ``min_fraction``).

    Why the horizon is a parameter: with the seed's horizon of 3 periods (8 h each) and the
    moderate 3 % basis stop, ``b = 3 × |r8| / 0.03 = 100 × |r8|`` and Kelly > 0 needs
    ``b > (1 − p) / p``:

    * OI rising, ``p = 0.65``: ``b > 0.5385`` → ``|r8| > 0.5385 %/8h`` → **APR > 589.6 %**
      (quarter-Kelly ≥ 0.5 % needs ``b ≥ 0.35 / 0.63 = 0.5556`` → APR ≥ 608.3 %);
    * otherwise, ``p = 0.5``: ``b > 1`` → ``|r8| > 1 %/8h`` → **APR > 1095 %**
      (≥ 0.5 %: ``b ≥ 0.5 / 0.48 = 1.0417`` → APR ≥ 1140.6 %).

    So the seed's sizing never trades at the profiles' entry APRs (12–30 %). For Kelly to turn
    positive at 20 % APR (``|r8| = 0.01826 %/8h``) the horizon must be ≈ 88.4 periods (29.5 days)
    with rising OI, 164.25 periods (54.75 days) otherwise. :func:`kelly_min_apr` computes these.

    Args:
        m: the market.
        profile: the risk profile (basis stop, per-market cap).
        horizon_periods: 8 h periods of funding expected (seed 002: 3).
        min_fraction: smallest fraction worth opening (seed 002: 0.005).
    """
    kelly = kelly_fraction(m.carry_rate_8h, profile.basis_stop, m.oi_trend == "rising", horizon_periods)
    f = min(max(KELLY_FRACTION * kelly, 0.0), profile.max_per_market)
    return f if f >= min_fraction and f > 0 else 0.0


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True, slots=True)
class EntryTiming:
    """Whether an entry may be sent now (``allowed``), whether now is the preferred window
    (``preferred``), a one-line ``reason`` with the time to settlement, and ``wait_s``: seconds
    until a preferred window opens (``0`` inside one; ``None`` when it cannot be told: the
    settlement interval was not given and the next window belongs to the settlement after)."""

    allowed: bool
    preferred: bool
    reason: str
    wait_s: float | None = 0.0


def entry_timing(
    now_ms: int,
    next_funding_ms: int,
    *,
    no_entry_s: float = 300,
    preferred_window_s: tuple[float, float] = (1800, 3600),
    interval_h: float | None = None,
) -> EntryTiming:
    """Entry timing around the next funding settlement (seed 001, ``docs/domain.md`` §6).

    Seed 001: never enter within 5 minutes before a settlement (thin liquidity, slippage can
    exceed a payment); prefer 30–60 minutes before it.

    Args:
        now_ms: current time, ms UTC.
        next_funding_ms: next settlement, ms UTC (from the venue).
        no_entry_s: no entry when the settlement is this close or closer, seconds (default 300).
        preferred_window_s: ``(lo, hi)`` seconds before settlement that are preferred (inclusive).
        interval_h: the settlement interval, hours (Hyperliquid: 1); with it ``wait_s`` is known
            when the next window belongs to the settlement after this one.

    Returns:
        ``allowed`` is ``False`` when ``0 < time left ≤ no_entry_s`` and also when the
        settlement is not in the future (stale ``next_funding_ms``: refresh it first).
        ``preferred`` implies ``allowed``. On Hyperliquid (hourly) the preferred window is the
        first half of each hour, and from its second half the next one opens at the settlement
        (``wait_s`` = time left).
    """
    left_ms = int(next_funding_ms) - int(now_ms)
    left_s = left_ms / 1000.0
    lo, hi = preferred_window_s
    if left_s > hi:
        wait: float | None = left_s - hi
    elif left_s >= lo:
        wait = 0.0
    elif interval_h is not None and interval_h > 0:
        wait = max(left_s, 0.0) + max(interval_h * 3600.0 - hi, 0.0)
    else:
        wait = None
    if left_ms <= 0:
        return EntryTiming(False, False, f"next settlement {_duration(-left_s)} in the past: stale funding clock", wait)
    if left_s <= no_entry_s:
        return EntryTiming(
            False,
            False,
            f"settlement in {_duration(left_s)}: no entry within {_duration(no_entry_s)} of settlement",
            wait,
        )
    if lo <= left_s <= hi:
        return EntryTiming(
            True,
            True,
            f"settlement in {_duration(left_s)}: inside the preferred {_duration(lo)}–{_duration(hi)} window",
        )
    return EntryTiming(
        True,
        False,
        f"settlement in {_duration(left_s)}: allowed, outside the preferred {_duration(lo)}–{_duration(hi)} window",
        wait,
    )


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class Candidate:
    """A market worth entering: its ``score`` (under the chosen model), quarter-Kelly
    ``fraction`` of capital, ``net_rate_8h`` (fraction per 8 h received after amortised fees),
    ``side`` (``"short_perp"``: long spot + short perp for a positive rate; ``"long_perp"``:
    short/sell spot + long perp for a negative rate), a one-line ``reason`` and the
    :class:`EntryTiming` it was judged on (``timing``)."""

    market: FundingMarket
    score: float
    fraction: float
    net_rate_8h: float
    side: Side
    reason: str
    timing: EntryTiming | None = None


@dataclass(frozen=True, slots=True)
class Skip:
    """A market not entered: ``symbol`` and the first failing check, one line with the numbers."""

    symbol: str
    reason: str


def evaluate(
    m: FundingMarket,
    profile: Profile,
    *,
    now_ms: int,
    score_model: ScoreModel = "seed002",
    maker_fee: float,
    min_oi_usd: float = 5_000_000,
    holding_periods: float = 12,
    horizon_periods: float = 3,
) -> Candidate | Skip:
    """Whether to enter ``m`` under ``profile`` now: a :class:`Candidate` or the first :class:`Skip`.

    Checks, in order (``docs/domain.md`` §6, seeds 001/002):

    1. open interest ≥ ``min_oi_usd`` (USD; seed 002: $5M);
    2. ``|APR| > profile.entry_apr`` (fraction per year) of what the position earns
       (:attr:`FundingMarket.carry_apr`: the rate, or with a perp hedge the spread of the two);
    3. a hedge leg exists (``hedge != "none"``);
    4. funding after fees > 0: :func:`net_rate_per_period` of ``|carry_rate_8h|`` with
       ``maker_fee`` (fraction per trade, both legs together) amortised over ``holding_periods``
       8 h periods (seed 001: 12). For a perp hedge this is seed 001's minimum cross-venue
       spread ``(fee_A + fee_B) × 2 / holding_periods`` (``docs/domain.md`` §1);
    5. ``|basis| < profile.basis_stop`` at entry (entering at the stop would close at once);
    6. :func:`entry_timing` allows an entry at ``now_ms`` (ms UTC), against the next
       settlement of both venues for a perp hedge;
    7. :func:`position_fraction` (quarter-Kelly over ``horizon_periods`` 8 h periods) is not 0.

    Side: ``short_perp`` when the carry is positive (long spot + short perp, or short perp here
    + long perp on the hedge venue), ``long_perp`` when negative (long perp hedged by selling
    spot, by the external leg, or by a short perp on the hedge venue). A ``long_perp`` with
    ``hedge == "spot"`` needs spot to *sell*: the caller must check it holds that spot (the
    candidate's reason says so).
    """
    sym = m.symbol
    if m.open_interest_usd < min_oi_usd:
        return Skip(sym, f"OI {_usd(m.open_interest_usd)} below {_usd(min_oi_usd)} minimum")

    a = m.carry_apr
    if not abs(a) > profile.entry_apr:
        return Skip(
            sym,
            f"|APR| {_pct(abs(a))} ({_carry_text(m)}) not above {profile.name} entry {_pct(profile.entry_apr)}",
        )

    side: Side = "short_perp" if a > 0 else "long_perp"
    if m.hedge == "none":
        if side == "short_perp":
            return Skip(sym, "no spot market and no second venue to hedge with")
        return Skip(sym, "no spot market and no second venue to hedge with (negative funding needs spot to sell)")

    r8 = m.carry_rate_8h
    net = net_rate_per_period(abs(r8), maker_fee, holding_periods)
    if net <= 0:
        return Skip(
            sym,
            f"net {_rate(net, 8)} after fees ≤ 0 (|rate| {_rate(abs(r8), 8)} − 2 × {_pct(maker_fee, 4)} fee "
            f"/ {holding_periods:g} periods)",
        )

    basis = m.basis
    if abs(basis) >= profile.basis_stop:
        return Skip(
            sym, f"basis {_pct(basis, 3)} at or beyond the {profile.name} {_pct(profile.basis_stop)} basis stop"
        )

    timing = entry_timing(now_ms, m.next_funding_ms, interval_h=m.interval_h)
    if not timing.allowed:
        return Skip(sym, timing.reason)
    if m.hedge == "perp" and m.hedge_next_funding_ms is not None:
        other = entry_timing(now_ms, m.hedge_next_funding_ms)
        if not other.allowed:
            return Skip(sym, f"{m.hedge_venue} {other.reason}")

    oi_rising = m.oi_trend == "rising"
    fraction = position_fraction(m, profile, horizon_periods=horizon_periods)
    if fraction == 0:
        kelly = kelly_fraction(r8, profile.basis_stop, oi_rising, horizon_periods)
        b = _kelly_b(r8, profile.basis_stop, horizon_periods)
        return Skip(
            sym,
            f"quarter-Kelly {_pct(max(KELLY_FRACTION * kelly, 0.0))} below {_pct(MIN_FRACTION)} minimum "
            f"(kelly {kelly:.4f}, p {_p_persist(oi_rising):.2f}, b {b:.4f} = {horizon_periods:g} × "
            f"{_pct(abs(r8), 4)} / {_pct(profile.basis_stop)}; needs APR ≥ "
            f"{_pct(kelly_min_apr(profile.basis_stop, oi_rising, horizon_periods, MIN_FRACTION), 1)})",
        )

    s = score(m, score_model)
    hedge_note = ""
    if side == "long_perp" and m.hedge == "spot":
        hedge_note = "; hedge sells spot: caller must check it holds the spot"
    reason = (
        f"{side} {sym}: APR {_pct(a)} ({_carry_text(m)}), net {_rate(net, 8)} after fees, "
        f"basis {_pct(basis, 3)}, OI {m.oi_trend}, quarter-Kelly {_pct(fraction)}, {score_model} score "
        f"{s:.4g}; {timing.reason}{hedge_note}"
    )
    return Candidate(market=m, score=s, fraction=fraction, net_rate_8h=net, side=side, reason=reason, timing=timing)


# --------------------------------------------------------------------------- allocation


def allocate(
    candidates: Sequence[Candidate],
    *,
    profile: Profile,
    capital_usd: float,
    current_usd: Mapping[str, float],
    max_venue_share: float = 0.30,
    max_leverage: float = 3.0,
    min_order_usd: float = MIN_ORDER_USD,
    hedge_venue_usd: Mapping[str, float] | None = None,
) -> list[tuple[Candidate, float]]:
    """USD notional to add per candidate, best score first (``docs/domain.md`` §6).

    For each candidate in descending ``score`` (ties keep input order; a symbol listed twice
    is sized once, from its best entry): ``want = fraction × capital − held`` where ``held`` is
    ``|current_usd[symbol]|`` (USD notional already open there). The add is then capped so that,
    counting every current holding (also symbols without a candidate) plus the adds so far:

    * total notional ≤ ``profile.max_total × capital``;
    * no venue holds more than ``max_venue_share × capital`` (seed 000: 30 % on one venue).
      Every position has its first leg on the venue being allocated, so its notional counts
      there; a perp-hedged candidate (``hedge == "perp"``) also puts the same notional on its
      ``hedge_venue``, counted with ``hedge_venue_usd[venue]`` (USD already held there);
    * capital tied up ≤ capital: a spot-hedged USD costs its spot leg plus the perp margin at
      ``max_leverage`` (seed 002: perp leverage < 3×), ``1 + 1 / L`` USD; a perp-hedged USD
      costs the margin of both perps, ``2 / L``. Current holdings are counted at ``1 + 1 / L``
      (the larger figure: their hedge is not known here).

    Adds below ``min_order_usd`` (Hyperliquid $10, ``pfterm.core.trading.hedging.MIN_ORDER_USD``) cannot be
    sent and are dropped (they use no room).

    Args:
        candidates: from :func:`evaluate`.
        profile: the risk profile.
        capital_usd: total trading capital over every venue, USD.
        current_usd: USD notional already held, by symbol (first legs).
        max_venue_share: fraction of capital allowed on one venue.
        max_leverage: perp leverage multiple used for margin (> 0).
        min_order_usd: smallest add worth sending, USD.
        hedge_venue_usd: USD notional already held on each hedge venue (perp legs), by venue.

    Returns:
        ``(candidate, usd_to_add)`` pairs, best score first, every ``usd_to_add > 0``.

    Raises:
        ValueError: ``max_leverage`` not finite and > 0.
    """
    if not (math.isfinite(max_leverage) and max_leverage > 0):
        raise ValueError(f"max_leverage must be a finite number > 0, got {max_leverage!r}")
    if not (math.isfinite(capital_usd) and capital_usd > 0):
        return []
    carry_cost = 1.0 + 1.0 / max_leverage
    perp_cost = 2.0 / max_leverage
    venue_cap = max_venue_share * capital_usd
    total = sum(abs(v) for v in current_usd.values() if math.isfinite(v))
    tied = total * carry_cost
    on_hedge: dict[str, float] = {k: abs(v) for k, v in (hedge_venue_usd or {}).items() if math.isfinite(v)}
    seen: set[str] = set()
    out: list[tuple[Candidate, float]] = []
    for c in sorted(candidates, key=lambda c: c.score, reverse=True):
        m = c.market
        sym = m.symbol
        if sym in seen:
            continue
        seen.add(sym)
        held = current_usd.get(sym, 0.0)
        held = abs(held) if math.isfinite(held) else 0.0
        want = c.fraction * capital_usd - held
        hedge_venue = m.hedge_venue if m.hedge == "perp" else None  # a perp hedge's venue
        cost = perp_cost if hedge_venue is not None else carry_cost
        add = min(
            want,
            profile.max_total * capital_usd - total,
            venue_cap - total,
            (capital_usd - tied) / cost,
        )
        if hedge_venue is not None:
            add = min(add, venue_cap - on_hedge.get(hedge_venue, 0.0))
        if not (add > 0 and add >= min_order_usd):
            continue
        out.append((c, add))
        total += add
        tied += add * cost
        if hedge_venue is not None:
            on_hedge[hedge_venue] = on_hedge.get(hedge_venue, 0.0) + add
    return out


# --------------------------------------------------------------------------- exits


@dataclass(frozen=True, slots=True)
class HeldPosition:
    """A harvest position: ``side``, ``entry_ms`` (ms UTC), ``entry_apr`` (signed fraction per
    year at entry), ``entry_basis`` (fraction at entry, ``docs/domain.md`` §2) and ``notional_usd``."""

    symbol: str
    side: Side
    entry_ms: int
    entry_apr: float
    entry_basis: float
    notional_usd: float


@dataclass(frozen=True, slots=True)
class Exit:
    """What to do with a position: ``kind`` ``"close"`` (both legs), ``"reduce"`` (both legs by
    ``reduce_fraction`` of the notional) or ``"kill"`` (kill switch: close everything now), with
    a one-line ``reason``."""

    symbol: str
    reason: str
    kind: Literal["close", "reduce", "kill"]
    reduce_fraction: float = 1.0


def exit_decision(
    pos: HeldPosition,
    m: FundingMarket,
    profile: Profile,
    *,
    now_ms: int,
    max_hold_ms: int,
    liq_distance: float | None,
    reduce_below: float = 0.15,
    min_entry_basis: float = BASIS_MEANINGFUL,
) -> Exit | None:
    """The first exit rule ``pos`` meets in market ``m``, or ``None`` to keep it.

    Priority (``docs/domain.md`` §4/§6, seeds 000/001/002):

    1. funding flipped against the position (``short_perp`` and a negative
       :attr:`~FundingMarket.carry_rate_8h`, or ``long_perp`` and a positive one; with a perp
       hedge, the spread): it now pays → close (seed 000). Where the market carries averaged
       rates (``rate_now`` given) every rule here is judged on the average: an hour of adverse
       funding costs far less than the round trip's fees, and the instant rate swings through
       zero many times a day;
    2. ``|basis| > profile.basis_stop`` → close (seed 002);
    3. ``|basis| > 2 × |entry_basis|`` → close (seed 000), only when ``|entry_basis| >
       min_entry_basis`` (default 0.05 %): twice a near-zero entry basis is noise;
    4. ``|carry APR| < profile.exit_apr`` → close (seed 002);
    5. held longer than ``max_hold_ms`` (``now_ms − entry_ms``, ms) → close;
    6. ``liq_distance`` (fraction, :func:`pfterm.core.trading.risk.distance_to_liquidation`) below
       ``reduce_below`` (seed 001: 15 %) → reduce by half first (``reduce_fraction`` 0.5).

    Raises:
        ValueError: ``pos`` and ``m`` are different symbols.
    """
    sym = pos.symbol
    if sym != m.symbol:
        raise ValueError(f"position {sym} checked against market {m.symbol}")
    carry = m.carry_rate_8h
    rate_txt = f"{_carry_text(m)} ({_pct(m.carry_apr)} APR)"
    if (pos.side == "short_perp" and carry < 0) or (pos.side == "long_perp" and carry > 0):
        return Exit(sym, f"funding flipped: {pos.side} {sym} now pays {rate_txt}", "close")

    basis = m.basis
    if abs(basis) > profile.basis_stop:
        return Exit(
            sym, f"basis stop: {sym} basis {_pct(basis, 3)} beyond {profile.name} {_pct(profile.basis_stop)}", "close"
        )

    if abs(pos.entry_basis) > min_entry_basis and abs(basis) > 2.0 * abs(pos.entry_basis):
        return Exit(
            sym,
            f"basis widened: {sym} basis {_pct(basis, 3)} beyond 2 × entry {_pct(pos.entry_basis, 3)}",
            "close",
        )

    if abs(m.carry_apr) < profile.exit_apr:
        return Exit(
            sym,
            f"funding faded: {sym} |APR| {_pct(abs(m.carry_apr))} below {profile.name} exit {_pct(profile.exit_apr)} "
            f"(entered at {_pct(pos.entry_apr)})",
            "close",
        )

    held_ms = int(now_ms) - int(pos.entry_ms)
    if held_ms > max_hold_ms:
        return Exit(
            sym, f"max hold: {sym} held {_duration(held_ms / 1000)} beyond {_duration(max_hold_ms / 1000)}", "close"
        )

    if liq_distance is not None and liq_distance < reduce_below:
        return Exit(
            sym,
            f"reduce first: {sym} {_pct(liq_distance, 1)} from liquidation, below {_pct(reduce_below)}; halve both legs",
            "reduce",
            0.5,
        )
    return None


def kill_exits(
    positions: Iterable[HeldPosition],
    *,
    day_pnl_usd: float,
    capital_usd: float,
    limits: RiskLimits | None = None,
) -> list[Exit]:
    """A ``"kill"`` :class:`Exit` for every position once the daily loss limit is reached.

    Uses :func:`pfterm.core.trading.risk.daily_loss_breached`: ``day_pnl_usd ≤ −daily_loss_limit × capital_usd``
    (USD both; ``docs/domain.md`` §6, seed 002: 3 %). Empty list when not breached.
    """
    lim = limits if limits is not None else RiskLimits()
    if not daily_loss_breached(day_pnl_usd, capital_usd, lim):
        return []
    reason = (
        f"kill switch: day P&L {_usd(day_pnl_usd)} reached the {_pct(lim.daily_loss_limit)} daily loss limit "
        f"of capital {_usd(capital_usd)}"
    )
    return [Exit(p.symbol, reason, "kill") for p in positions]
