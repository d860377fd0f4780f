"""Funding-rate arithmetic: conversions, Hyperliquid's rate formula, settlement clocks, payments.

Units (``docs/domain.md`` preamble):

* a funding *rate* is a plain fraction (``0.0001`` = 0.01 %) paid once per interval and is
  always used together with its interval in hours (``interval_h``);
* an *APR* is a plain fraction per year (``0.1095`` = 10.95 %), simple (not compounded),
  with a year of :data:`HOURS_PER_YEAR` hours;
* prices are USD, sizes base units (signed: long > 0), payments USD;
* timestamps and durations are integer milliseconds, UTC.

Every function is pure, allocation-light and safe to call on every market update.

Sources: ``docs/domain.md`` §1 (funding) and §2 (basis); Hyperliquid docs, trading/funding.
"""

from __future__ import annotations

import math

__all__ = [
    "HL_HOURLY_CAP",
    "HL_INTEREST_8H",
    "HL_PREMIUM_CLAMP",
    "HL_PREMIUM_SAMPLE_MS",
    "HOURS_PER_YEAR",
    "MS_PER_HOUR",
    "PremiumSampler",
    "apr",
    "basis_fraction",
    "break_even_periods",
    "convert_rate",
    "countdown_ms",
    "format_countdown",
    "funding_payment",
    "funding_rate_8h",
    "hl_hourly_rate",
    "min_cross_venue_spread",
    "next_settlement_ms",
    "premium_sample",
    "rate_from_apr",
]

HOURS_PER_YEAR = 8760
"""Hours in the (365-day) year used to annualise rates (docs/domain.md §1)."""

HL_INTEREST_8H = 0.0001
"""Hyperliquid interest-rate component, a fraction per 8 h (0.01 %/8 h; Hyperliquid docs)."""

HL_PREMIUM_CLAMP = 0.0005
"""Bound on ``interest − premium`` in the 8 h rate formula, a fraction per 8 h (±0.05 %)."""

HL_HOURLY_CAP = 0.04
"""Hyperliquid cap on the hourly funding rate, a fraction per hour (±4 %/h)."""

HL_PREMIUM_SAMPLE_MS = 5000
"""Hyperliquid samples the premium once every 5 s of venue time."""

MS_PER_HOUR = 3_600_000
"""Milliseconds in one hour."""


def _check_interval(interval_h: float, name: str = "interval_h") -> None:
    """Raise ``ValueError`` unless ``interval_h`` is a finite number of hours > 0."""
    if not (interval_h > 0 and math.isfinite(interval_h)):
        raise ValueError(f"{name} must be a finite number of hours > 0, got {interval_h!r}")


def convert_rate(rate: float, from_interval_h: float, to_interval_h: float) -> float:
    """Rescale a funding rate from one interval to another, linearly (no compounding).

    Args:
        rate: fraction per ``from_interval_h`` hours.
        from_interval_h: interval of ``rate``, hours (> 0).
        to_interval_h: wanted interval, hours (> 0).

    Returns:
        The same carry as a fraction per ``to_interval_h`` hours:
        ``rate × to_interval_h / from_interval_h``. ``convert_rate(0.0001, 8, 1) == 0.0000125``.

    Raises:
        ValueError: if either interval is not a finite positive number.

    Source: docs/domain.md §1 (rates always carried with their interval; Hyperliquid pays ``F8 / 8``
    hourly).
    """
    _check_interval(from_interval_h, "from_interval_h")
    _check_interval(to_interval_h, "to_interval_h")
    return rate * to_interval_h / from_interval_h


def apr(rate: float, interval_h: float) -> float:
    """Annualise a funding rate (simple, not compounded).

    Args:
        rate: fraction per ``interval_h`` hours.
        interval_h: the rate's interval, hours (> 0).

    Returns:
        APR as a fraction per year: ``rate × 8760 / interval_h``
        (0.0001 per 8 h → 0.1095, i.e. 10.95 %; 0.0005 per 8 h → 0.5475).

    Raises:
        ValueError: if ``interval_h`` is not a finite positive number.

    Source: docs/domain.md §1 ("annualised"); seed 001, 002.
    """
    _check_interval(interval_h)
    return rate * HOURS_PER_YEAR / interval_h


def rate_from_apr(apr: float, interval_h: float) -> float:
    """Inverse of :func:`apr`: the per-interval rate that annualises to ``apr``.

    Args:
        apr: fraction per year (0.1095 = 10.95 %).
        interval_h: wanted interval, hours (> 0).

    Returns:
        Fraction per ``interval_h`` hours: ``apr × interval_h / 8760``.

    Raises:
        ValueError: if ``interval_h`` is not a finite positive number.

    Source: docs/domain.md §1 ("annualised").
    """
    _check_interval(interval_h)
    return apr * interval_h / HOURS_PER_YEAR


def premium_sample(impact_bid: float, impact_ask: float, oracle: float) -> float:
    """One Hyperliquid premium sample from impact prices and the oracle price.

    Args:
        impact_bid: impact bid price, USD.
        impact_ask: impact ask price, USD.
        oracle: oracle (index) price, USD (> 0).

    Returns:
        ``(max(impact_bid − oracle, 0) − max(oracle − impact_ask, 0)) / oracle``, a fraction
        of the oracle price: positive when the book's bid side is above the oracle, negative when
        its ask side is below, zero when the oracle lies between the impact prices.

    Raises:
        ValueError: if ``oracle`` is not a finite positive number.

    Source: docs/domain.md §1 ("premium sample"); Hyperliquid docs, trading/funding.
    """
    if not (oracle > 0 and math.isfinite(oracle)):
        raise ValueError(f"oracle price must be a finite positive USD price, got {oracle!r}")
    return (max(impact_bid - oracle, 0.0) - max(oracle - impact_ask, 0.0)) / oracle


def funding_rate_8h(
    avg_premium: float,
    interest_8h: float = HL_INTEREST_8H,
    clamp: float = HL_PREMIUM_CLAMP,
) -> float:
    """The 8 h funding rate from an average premium: ``P̄ + clamp(I − P̄, −c, +c)``.

    Args:
        avg_premium: average premium ``P̄``, a fraction of the index price.
        interest_8h: interest component ``I``, fraction per 8 h (default 0.01 %).
        clamp: bound ``c`` on ``I − P̄``, fraction per 8 h (default 0.05 %; ≥ 0).

    Returns:
        ``F8``, fraction per 8 h. Whenever ``|I − P̄| ≤ c`` this is exactly ``I``; otherwise it
        stays within ``c`` of ``P̄``. No outer clamp is applied here (venues differ; see
        :func:`hl_hourly_rate` for Hyperliquid's).

    Raises:
        ValueError: if ``clamp`` is negative or NaN.

    Source: docs/domain.md §1 ("rate (8 h convention)"); seed 002, 004; Hyperliquid docs.
    """
    if not clamp >= 0:
        raise ValueError(f"clamp must be >= 0, got {clamp!r}")
    diff = interest_8h - avg_premium
    if diff > clamp:
        diff = clamp
    elif diff < -clamp:
        diff = -clamp
    else:
        # Inside the band the premium cancels: return I itself, free of rounding.
        return interest_8h
    return avg_premium + diff


def hl_hourly_rate(avg_premium: float) -> float:
    """Hyperliquid's hourly funding rate for an hour whose average premium is ``avg_premium``.

    Args:
        avg_premium: average of the hour's premium samples (see :func:`premium_sample`),
            a fraction of the oracle price.

    Returns:
        Fraction per 1 h: ``clamp(F8 / 8, −0.04, +0.04)`` with ``F8`` from
        :func:`funding_rate_8h` with Hyperliquid's defaults. A zero premium gives the
        baseline ``0.0000125`` (0.01 %/8 h ÷ 8, ≈ 10.95 % APR).

    Source: docs/domain.md §1 ("Hyperliquid hourly rate"); Hyperliquid docs, trading/funding.
    """
    hourly = funding_rate_8h(avg_premium) / 8.0
    if hourly > HL_HOURLY_CAP:
        return HL_HOURLY_CAP
    if hourly < -HL_HOURLY_CAP:
        return -HL_HOURLY_CAP
    return hourly


def basis_fraction(perp_px: float, index_px: float) -> float:
    """Basis of a perpetual over its index (or spot), as a fraction of the index.

    Args:
        perp_px: perpetual price (mid or mark), USD.
        index_px: index / oracle / spot price, USD (> 0).

    Returns:
        ``(perp_px − index_px) / index_px``; positive when the perp trades rich.

    Raises:
        ValueError: if ``index_px`` is not a finite positive number.

    Source: docs/domain.md §2 ("Basis %").
    """
    if not (index_px > 0 and math.isfinite(index_px)):
        raise ValueError(f"index price must be a finite positive USD price, got {index_px!r}")
    return (perp_px - index_px) / index_px


def next_settlement_ms(now_ms: int, interval_h: float, anchor_ms: int = 0) -> int:
    """The first funding settlement strictly after ``now_ms`` on a fixed grid.

    The grid is ``anchor_ms + k × interval_h`` hours for every integer ``k``. With the default
    anchor (the Unix epoch, a UTC midnight) an hourly interval gives the top of every UTC hour
    and 8 h gives 00/08/16 UTC; any interval dividing 24 h stays aligned to UTC midnight.
    Venues publish their next settlement time: prefer it when available (docs/domain.md §1).

    Args:
        now_ms: current time, ms UTC.
        interval_h: settlement interval, hours (> 0; rounded to a whole millisecond).
        anchor_ms: any instant on the grid, ms UTC.

    Returns:
        The smallest grid instant ``t`` with ``now_ms < t ≤ now_ms + interval``, ms UTC.
        A ``now_ms`` exactly on the grid returns the following instant.

    Raises:
        ValueError: if ``interval_h`` is not a finite positive number of at least 1 ms.

    Source: docs/domain.md §1 ("Settlement clocks"); Hyperliquid docs (top of every hour).
    """
    _check_interval(interval_h)
    step = round(interval_h * MS_PER_HOUR)
    if step <= 0:
        raise ValueError(f"interval_h must be at least 1 ms, got {interval_h!r}")
    now = int(now_ms)
    anchor = int(anchor_ms)
    return anchor + ((now - anchor) // step + 1) * step


def countdown_ms(now_ms: int, next_ms: int) -> int:
    """Milliseconds left until ``next_ms``, never negative.

    Args:
        now_ms: current time, ms UTC.
        next_ms: target instant (e.g. from :func:`next_settlement_ms`), ms UTC.

    Returns:
        ``max(next_ms − now_ms, 0)``, ms.
    """
    left = int(next_ms) - int(now_ms)
    return left if left > 0 else 0


def format_countdown(ms: int) -> str:
    """Format a countdown for display: ``"mm:ss"`` under an hour, ``"h:mm:ss"`` from an hour up.

    Milliseconds are floored to whole seconds (a countdown never shows more time than is
    left), and negative values show as zero.

    Args:
        ms: remaining time, ms.

    Returns:
        e.g. ``0 → "00:00"``, ``59_999 → "00:59"``, ``3_599_999 → "59:59"``,
        ``3_600_000 → "1:00:00"``, ``36_000_000 → "10:00:00"``.
    """
    total = int(ms) // 1000
    if total <= 0:
        return "00:00"
    minutes, seconds = divmod(total, 60)
    if minutes < 60:
        return f"{minutes:02d}:{seconds:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def funding_payment(size: float, oracle_px: float, rate: float) -> float:
    """USD a position receives at one funding settlement (negative: it pays).

    Args:
        size: signed position size, base units (long > 0, short < 0).
        oracle_px: price used for the funding notional, USD (Hyperliquid: the oracle price,
            not the mark).
        rate: the settlement's funding rate, fraction per that interval.

    Returns:
        ``−size × oracle_px × rate`` USD: with a positive rate longs pay and shorts receive,
        with a negative rate the reverse. Funding is on notional, never on margin.

    Source: docs/domain.md §1 ("payment per interval", "Hyperliquid notional for funding");
    Hyperliquid docs, trading/funding.
    """
    # ``+ 0.0`` turns a negative zero (e.g. short at zero rate) into 0.0 for display.
    return -(size * oracle_px * rate) + 0.0


def break_even_periods(fee_rate: float, rate_per_period: float) -> float:
    """Funding periods needed to earn back the entry and exit fees of a position.

    Args:
        fee_rate: fee per trade as a fraction of notional (0.001 = 0.1 % taker), paid once on
            entry and once on exit.
        rate_per_period: funding rate collected per period, fraction per period (its sign is
            ignored: the position is assumed to be on the receiving side).

    Returns:
        ``2 × fee_rate / |rate_per_period|`` periods (0.1 % taker at 0.05 %/8 h → 4.0);
        ``math.inf`` when the rate is zero; ``0.0`` when ``fee_rate ≤ 0`` (nothing to recoup,
        e.g. maker rebates).

    Source: docs/domain.md §1 ("break-even periods"); seed 001.
    """
    if fee_rate <= 0:
        return 0.0
    if rate_per_period == 0:
        return math.inf
    return 2.0 * fee_rate / abs(rate_per_period)


def min_cross_venue_spread(fee_a: float, fee_b: float, holding_periods: float) -> float:
    """Smallest per-period funding spread worth a cross-venue (long A / short B) trade.

    Args:
        fee_a: fee per trade on venue A, fraction of notional.
        fee_b: fee per trade on venue B, fraction of notional.
        holding_periods: expected number of funding periods the pair is held (> 0).

    Returns:
        ``(fee_a + fee_b) × 2 / holding_periods``: fraction per period that the rate difference
        must exceed to pay for opening and closing both legs.

    Raises:
        ValueError: if ``holding_periods`` is not a finite positive number.

    Source: docs/domain.md §1 ("min cross-venue spread"); seed 001.
    """
    if not (holding_periods > 0 and math.isfinite(holding_periods)):
        raise ValueError(f"holding_periods must be a finite number > 0, got {holding_periods!r}")
    return (fee_a + fee_b) * 2.0 / holding_periods


class PremiumSampler:
    """Local prediction of the running Hyperliquid funding rate from premium samples.

    Hyperliquid samples the premium every 5 s and settles the hour's average at the top of
    each UTC hour (docs/domain.md §1; Hyperliquid docs, trading/funding). This class mirrors that:

    * at most one sample is kept per 5 s slot of venue time (``slot = time_ms // 5000``);
      later samples in the same slot, and samples from an older slot, are ignored;
    * when a sample falls in a later funding interval (a grid of ``interval_h`` hours from the
      Unix epoch), the running interval is closed first: if it is the interval immediately
      before the new one and had samples, its average and rate become
      :attr:`last_settled_average` / :attr:`last_settled_rate`, otherwise (a gap in the
      data) both become ``None``; then the accumulator restarts.

    The estimate only covers the samples seen: a sampler started mid-hour predicts from part
    of the hour. ``add`` is O(1) and allocation-free.

    Args:
        interval_h: funding interval, hours (> 0; Hyperliquid: 1).

    Raises:
        ValueError: if ``interval_h`` is not a finite positive number of whole 5 s slots.
    """

    __slots__ = (
        "_interval_ms",
        "_interval_start",
        "_last_slot",
        "_sum",
        "_count",
        "_settled_avg",
        "_settled_rate",
    )

    def __init__(self, interval_h: float = 1) -> None:
        _check_interval(interval_h)
        interval_ms = round(interval_h * MS_PER_HOUR)
        if interval_ms <= 0 or interval_ms % HL_PREMIUM_SAMPLE_MS:
            raise ValueError(
                f"interval_h must be a whole number of {HL_PREMIUM_SAMPLE_MS} ms slots, got {interval_h!r}"
            )
        self._interval_ms: int = interval_ms
        self._interval_start: int | None = None
        self._last_slot: int | None = None
        self._sum: float = 0.0
        self._count: int = 0
        self._settled_avg: float | None = None
        self._settled_rate: float | None = None

    def add(self, time_ms: int, premium: float) -> bool:
        """Offer one premium sample.

        Args:
            time_ms: venue time of the sample, ms UTC.
            premium: premium as a fraction of the oracle price (see :func:`premium_sample`,
                or the venue's own ``premium`` field).

        Returns:
            ``True`` if the sample was kept, ``False`` if its 5 s slot already had one or is
            older than the last kept sample.

        Raises:
            ValueError: if ``premium`` is not finite (it would poison the average).
        """
        slot = time_ms // HL_PREMIUM_SAMPLE_MS
        last = self._last_slot
        if last is not None and slot <= last:
            return False
        if not math.isfinite(premium):
            raise ValueError(f"premium must be finite, got {premium!r}")
        start = time_ms - time_ms % self._interval_ms
        current = self._interval_start
        if current is None or start != current:
            if current is not None:
                if start == current + self._interval_ms and self._count:
                    avg = self._sum / self._count
                    self._settled_avg = avg
                    self._settled_rate = hl_hourly_rate(avg)
                else:
                    self._settled_avg = None
                    self._settled_rate = None
            self._interval_start = start
            self._sum = 0.0
            self._count = 0
        self._last_slot = slot
        self._sum += premium
        self._count += 1
        return True

    @property
    def interval_h(self) -> float:
        """The funding interval, hours."""
        return self._interval_ms / MS_PER_HOUR

    @property
    def interval_start_ms(self) -> int | None:
        """Start of the running funding interval, ms UTC (``None`` before the first sample)."""
        return self._interval_start

    @property
    def interval_end_ms(self) -> int | None:
        """End (settlement instant) of the running interval, ms UTC (``None`` before any sample)."""
        start = self._interval_start
        return None if start is None else start + self._interval_ms

    @property
    def count(self) -> int:
        """Samples kept in the running interval."""
        return self._count

    @property
    def average(self) -> float | None:
        """Mean premium of the running interval, fraction of oracle (``None`` when empty)."""
        return self._sum / self._count if self._count else None

    @property
    def predicted_rate(self) -> float | None:
        """Predicted hourly rate for the running interval via :func:`hl_hourly_rate`.

        Fraction per 1 h, or ``None`` when no sample has been kept in this interval.
        """
        return hl_hourly_rate(self._sum / self._count) if self._count else None

    @property
    def last_settled_average(self) -> float | None:
        """Mean premium of the interval just before the running one (``None`` if unobserved)."""
        return self._settled_avg

    @property
    def last_settled_rate(self) -> float | None:
        """Hourly rate computed for the interval just before the running one.

        Fraction per 1 h, or ``None`` if that interval had no samples.
        """
        return self._settled_rate
