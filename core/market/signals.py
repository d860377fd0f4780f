"""Market signals: OI × price quadrant, OI trend, liquidation cascades, funding alerts.

Units: price and OI changes are plain fractions (``-0.03`` = −3 %) over the caller's or the
detector's sample interval; prices USD; open interest USD; timestamps integer ms of venue time;
funding rates fractions per ``interval_h`` hours, APRs fractions per year.

The stateful detectors keep one instance per market and are cheap enough to be fed every
market update.

Source: ``docs/domain.md`` §5 (signals, seed 003 and 002) and §1 (funding flip, APR).
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pfterm.core.market.funding import apr as _apr
from pfterm.core.market.models import Alert, AlertKind

__all__ = [
    "CascadeDetector",
    "CascadeSample",
    "CascadeSignal",
    "FundingAlerter",
    "Quadrant",
    "Trend",
    "oi_quadrant",
    "oi_trend",
]


class Quadrant(enum.Enum):
    """Which way price and open interest moved together (docs/domain.md §5; seed 003).

    ``NEW_LONGS`` and ``NEW_SHORTS`` are the strong (trend-confirming) quadrants: fresh money
    opening positions in the direction of the move.
    """

    NEW_LONGS = "new longs"
    SHORT_COVERING = "short covering"
    NEW_SHORTS = "new shorts"
    LONG_CAPITULATION = "long capitulation"
    NEUTRAL = "neutral"

    @property
    def strong(self) -> bool:
        """``True`` for the trend-confirming quadrants (new longs, new shorts)."""
        return self is Quadrant.NEW_LONGS or self is Quadrant.NEW_SHORTS


def oi_quadrant(price_change: float, oi_change: float, dead_band: float = 0.0) -> Quadrant:
    """Classify a (price change, OI change) pair into a :class:`Quadrant`.

    Args:
        price_change: relative price change over the window, fraction.
        oi_change: relative open-interest change over the same window, fraction.
        dead_band: changes with ``|change| ≤ dead_band`` count as flat, fraction (≥ 0).

    Returns:
        price up & OI up → ``NEW_LONGS``; up & down → ``SHORT_COVERING``; down & up →
        ``NEW_SHORTS``; down & down → ``LONG_CAPITULATION``; either change flat (or NaN) →
        ``NEUTRAL``.

    Raises:
        ValueError: if ``dead_band`` is negative or NaN.

    Source: docs/domain.md §5 ("Open-interest × price quadrant"); seed 003.
    """
    if not dead_band >= 0:
        raise ValueError(f"dead_band must be >= 0, got {dead_band!r}")
    if not (abs(price_change) > dead_band and abs(oi_change) > dead_band):
        return Quadrant.NEUTRAL
    if price_change > 0:
        return Quadrant.NEW_LONGS if oi_change > 0 else Quadrant.SHORT_COVERING
    return Quadrant.NEW_SHORTS if oi_change > 0 else Quadrant.LONG_CAPITULATION


class Trend(enum.Enum):
    """Direction of a series (open interest) over a window."""

    RISING = "rising"
    FALLING = "falling"
    STABLE = "stable"


def oi_trend(values: Sequence[float], threshold: float = 0.01) -> Trend:
    """Trend of an open-interest series from its first to its last value.

    Args:
        values: OI values over the window, oldest first (USD or base units, consistently).
        threshold: relative change beyond which the series is rising / falling, fraction.

    Returns:
        ``RISING`` if ``(last − first) / |first| > threshold``, ``FALLING`` if it is
        ``< −threshold``, otherwise ``STABLE``. Also ``STABLE`` for fewer than two values, a zero
        first value, or non-finite input.

    Source: docs/domain.md §5 ("OI trend"); seed 002.
    """
    if len(values) < 2:
        return Trend.STABLE
    first = values[0]
    if first == 0:
        return Trend.STABLE
    change = (values[-1] - first) / abs(first)
    if change > threshold:
        return Trend.RISING
    if change < -threshold:
        return Trend.FALLING
    return Trend.STABLE


class CascadeSample(NamedTuple):
    """One sample kept by :class:`CascadeDetector`: venue time ms, price USD, open interest in
    base units (contracts)."""

    time_ms: int
    price: float
    oi: float


def _usd_compact(usd: float) -> str:
    """``1_234_567 → "$1.2M"``; used in one-line alert messages."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(usd) >= scale:
            return f"${usd / scale:.1f}{suffix}"
    return f"${usd:.0f}"


@dataclass(frozen=True, slots=True)
class CascadeSignal:
    """A detected liquidation cascade.

    * ``time_ms``: venue time of the sample that completed the interval, ms;
    * ``price_change``, ``oi_change``: relative changes over that one sample interval, fractions;
    * ``price``: price at the sample, USD; ``oi``: open interest at the sample, base units;
    * ``liquidation_usd``: forced-close volume reported during the interval, USD (0 when the
      venue publishes none).

    Source: docs/domain.md §5 ("Cascade"); seed 003.
    """

    time_ms: int
    price_change: float
    oi_change: float
    price: float
    oi: float
    liquidation_usd: float

    def to_alert(self, symbol: str) -> Alert:
        """This signal as an :class:`~pfterm.core.market.models.Alert` of kind ``CASCADE`` for ``symbol``.

        The message is one line, e.g. ``"BTC liquidation cascade (longs liquidated): OI -4.0 %,
        price -3.0 %"``, followed by the liquidation volume when there is any. ``extra`` carries
        ``price``, ``oi`` and ``liquidation_usd``.
        """
        side = "longs liquidated" if self.price_change < 0 else "shorts squeezed"
        message = (
            f"{symbol} liquidation cascade ({side}): OI {self.oi_change * 100:+.1f} %, "
            f"price {self.price_change * 100:+.1f} %"
        )
        if self.liquidation_usd > 0:
            message += f", liquidations {_usd_compact(self.liquidation_usd)}"
        return Alert(
            kind=AlertKind.CASCADE,
            symbol=symbol,
            time_ms=self.time_ms,
            message=message,
            oi_change=self.oi_change,
            price_change=self.price_change,
            extra={
                "price": self.price,
                "oi": self.oi,
                "liquidation_usd": self.liquidation_usd,
            },
        )


class CascadeDetector:
    """Liquidation-cascade detector for one market (docs/domain.md §5; seed 003).

    Feed :meth:`update` every market update. Samples sit on a fixed grid of venue time: the
    first update in each ``sample_interval_ms`` slot is sampled (a feed pushing at about the
    sample interval then never skips one because a push came a little early), and the new
    sample is compared with the previous one, and a :class:`CascadeSignal` is returned when, over that
    single interval,

    * open interest fell by more than ``oi_drop`` (``oi_change < −oi_drop``), and
    * price moved by more than ``price_move`` either way (``|price_change| > price_move``),
    * and at least ``cooldown_ms`` have passed since the previous signal.

    Liquidation volume strengthens the signal (docs/domain.md §5): when forced-close volume was
    reported through :meth:`add_liquidations` during the interval, the OI condition is relaxed
    to ``oi_change < −oi_drop × liquidation_oi_factor`` (half the OI threshold by default); the
    price condition is unchanged. The volume is reported in the signal either way.

    Two samples further apart than ``max_gap_ms`` (a stalled feed) are not compared: a drop
    over a long gap is not a move "within one sample interval".

    Between samples :meth:`update` does one comparison and allocates nothing.

    Args:
        sample_interval_ms: width of a sampling slot, ms (> 0; seed 003: 30 s).
        window: samples kept, oldest dropped first (≥ 2; seed 003: 20).
        oi_drop: OI fall that qualifies, fraction (> 0; seed 003: 3 %).
        price_move: absolute price move that qualifies, fraction (≥ 0; seed 003: 2 %).
        cooldown_ms: minimum venue time between two signals, ms (≥ 0).
        liquidation_oi_factor: multiplier of ``oi_drop`` when liquidations were seen, in (0, 1].
        max_gap_ms: longest interval still compared, ms (default ``2 × sample_interval_ms``).

    Raises:
        ValueError: on any argument outside the ranges above.
    """

    __slots__ = (
        "_interval_ms",
        "_oi_drop",
        "_price_move",
        "_cooldown_ms",
        "_liq_factor",
        "_max_gap_ms",
        "_samples",
        "_next_sample_ms",
        "_last_signal_ms",
        "_liq_usd",
    )

    def __init__(
        self,
        sample_interval_ms: int = 30_000,
        window: int = 20,
        oi_drop: float = 0.03,
        price_move: float = 0.02,
        cooldown_ms: int = 60_000,
        liquidation_oi_factor: float = 0.5,
        max_gap_ms: int | None = None,
    ) -> None:
        if not sample_interval_ms > 0:
            raise ValueError(f"sample_interval_ms must be > 0, got {sample_interval_ms!r}")
        if window < 2:
            raise ValueError(f"window must keep at least 2 samples, got {window!r}")
        if not (oi_drop > 0 and math.isfinite(oi_drop)):
            raise ValueError(f"oi_drop must be a finite fraction > 0, got {oi_drop!r}")
        if not (price_move >= 0 and math.isfinite(price_move)):
            raise ValueError(f"price_move must be a finite fraction >= 0, got {price_move!r}")
        if not cooldown_ms >= 0:
            raise ValueError(f"cooldown_ms must be >= 0, got {cooldown_ms!r}")
        if not 0 < liquidation_oi_factor <= 1:
            raise ValueError(f"liquidation_oi_factor must be in (0, 1], got {liquidation_oi_factor!r}")
        if max_gap_ms is None:
            max_gap_ms = 2 * sample_interval_ms
        if not max_gap_ms >= sample_interval_ms:
            raise ValueError(f"max_gap_ms must be >= sample_interval_ms, got {max_gap_ms!r}")
        self._interval_ms = sample_interval_ms
        self._oi_drop = oi_drop
        self._price_move = price_move
        self._cooldown_ms = cooldown_ms
        self._liq_factor = liquidation_oi_factor
        self._max_gap_ms = max_gap_ms
        self._samples: deque[CascadeSample] = deque(maxlen=window)
        # Start of the next sampling slot (venue ms); -inf before the first sample.
        self._next_sample_ms: float = -math.inf
        self._last_signal_ms: int | None = None
        self._liq_usd = 0.0

    @property
    def samples(self) -> tuple[CascadeSample, ...]:
        """The kept samples, oldest first (a copy; at most ``window`` of them)."""
        return tuple(self._samples)

    @property
    def window(self) -> int:
        """Maximum number of samples kept."""
        return self._samples.maxlen or 0

    @property
    def sample_interval_ms(self) -> int:
        """Minimum venue time between samples, ms."""
        return self._interval_ms

    @property
    def pending_liquidation_usd(self) -> float:
        """Forced-close volume accumulated for the running interval, USD."""
        return self._liq_usd

    @property
    def last_signal_ms(self) -> int | None:
        """Venue time of the last signal, ms (``None`` if none yet)."""
        return self._last_signal_ms

    def add_liquidations(self, time_ms: int, usd: float) -> bool:
        """Add forced-close (liquidation) volume to the running sample interval.

        Volume is attributed to the interval that the next sample closes. Reports that arrive
        late (timestamped before the last sample, as happens when feeds lag during a cascade)
        are still counted, unless they are older than one full sample interval before the
        last sample; then they are stale and dropped. ``time_ms`` must be on the same clock as
        :meth:`update`'s.

        Args:
            time_ms: venue time of the liquidation, ms.
            usd: liquidated notional, USD (≥ 0).

        Returns:
            ``True`` if the volume was counted, ``False`` if it was stale.

        Raises:
            ValueError: if ``usd`` is negative or not finite.
        """
        if not (usd >= 0 and math.isfinite(usd)):
            raise ValueError(f"liquidation volume must be a finite USD amount >= 0, got {usd!r}")
        if self._samples and time_ms < self._samples[-1].time_ms - self._interval_ms:
            return False
        self._liq_usd += usd
        return True

    def update(self, time_ms: int, price: float, oi: float) -> CascadeSignal | None:
        """Feed one market update; maybe take a sample; maybe return a cascade signal.

        Args:
            time_ms: venue time of the update, ms.
            price: mark (or mid) price, USD.
            oi: open interest in base units (contracts). Not USD: a USD figure falls with the
                price alone and would turn any sharp drop into a "cascade", and rises in a
                squeeze, hiding the closes (docs/domain.md §5 "OI falls").

        Returns:
            A :class:`CascadeSignal` when the sample just taken completes a qualifying interval
            (see the class description), else ``None``. Updates before the next sample is due,
            out of order, or with a non-positive / non-finite price or a negative / non-finite
            OI take no sample and return ``None``.
        """
        if time_ms < self._next_sample_ms:
            return None
        if not (0 < price < math.inf and 0 <= oi < math.inf):
            return None
        samples = self._samples
        prev = samples[-1] if samples else None
        samples.append(CascadeSample(time_ms, price, oi))
        self._next_sample_ms = (time_ms // self._interval_ms + 1) * self._interval_ms
        liq = self._liq_usd
        self._liq_usd = 0.0
        if prev is None or prev.oi <= 0 or time_ms - prev.time_ms > self._max_gap_ms:
            return None
        oi_change = (oi - prev.oi) / prev.oi
        price_change = (price - prev.price) / prev.price
        oi_threshold = self._oi_drop * self._liq_factor if liq > 0 else self._oi_drop
        if not (oi_change < -oi_threshold and abs(price_change) > self._price_move):
            return None
        last = self._last_signal_ms
        if last is not None and time_ms - last < self._cooldown_ms:
            return None
        self._last_signal_ms = time_ms
        return CascadeSignal(time_ms, price_change, oi_change, price, oi, liq)


class FundingAlerter:
    """Funding-flip and extreme-funding alerts for one market.

    * ``FUNDING_FLIP``: the rate's sign differs from the last *established* sign. A sign is
      established only by a rate with ``|APR| ≥ flip_min_apr``, so a rate hovering around zero
      never flaps; the first established sign raises nothing. A harvesting short whose rate
      turns negative now pays (docs/domain.md §1, "funding flip"; seed 000).
    * ``EXTREME_FUNDING``: ``|APR| ≥ extreme_apr``; then silent until ``|APR|`` has fallen
      below ``rearm_ratio × extreme_apr`` (hysteresis), after which it can fire again.

    APR is ``rate × 8760 / interval_h`` (docs/domain.md §1). Each :meth:`update` is O(1).

    Args:
        extreme_apr: |APR| that counts as extreme, fraction per year (> 0; 1.0 = 100 %).
        flip_min_apr: |APR| needed to establish a sign, fraction per year (≥ 0).
        rearm_ratio: fraction of ``extreme_apr`` below which the extreme alert re-arms, (0, 1].

    Raises:
        ValueError: on any argument outside the ranges above.
    """

    __slots__ = ("_extreme", "_flip_min", "_rearm_below", "_sign", "_armed")

    def __init__(self, extreme_apr: float = 1.0, flip_min_apr: float = 0.01, rearm_ratio: float = 0.8) -> None:
        if not (extreme_apr > 0 and math.isfinite(extreme_apr)):
            raise ValueError(f"extreme_apr must be a finite fraction > 0, got {extreme_apr!r}")
        if not (flip_min_apr >= 0 and math.isfinite(flip_min_apr)):
            raise ValueError(f"flip_min_apr must be a finite fraction >= 0, got {flip_min_apr!r}")
        if not 0 < rearm_ratio <= 1:
            raise ValueError(f"rearm_ratio must be in (0, 1], got {rearm_ratio!r}")
        self._extreme = extreme_apr
        self._flip_min = flip_min_apr
        self._rearm_below = rearm_ratio * extreme_apr
        self._sign = 0
        self._armed = True

    @property
    def established_sign(self) -> int:
        """Last established sign of the rate: ``+1``, ``-1``, or ``0`` before one is established."""
        return self._sign

    @property
    def extreme_armed(self) -> bool:
        """``True`` while the next extreme rate will raise an alert."""
        return self._armed

    def update(self, symbol: str, time_ms: int, rate: float, interval_h: float) -> list[Alert]:
        """Feed the market's current (predicted or settled) funding rate.

        Args:
            symbol: market symbol, used in the alerts.
            time_ms: venue time of the rate, ms.
            rate: funding rate, fraction per ``interval_h`` hours.
            interval_h: the rate's interval, hours (> 0).

        Returns:
            The alerts raised by this update (usually none; at most one flip and one extreme),
            each with ``funding_apr`` set and ``extra = {"rate": rate, "interval_h": interval_h}``.
            A non-finite rate is ignored and returns ``[]``.

        Raises:
            ValueError: if ``interval_h`` is not a finite positive number.
        """
        alerts = [
            self.update_flip(symbol, time_ms, rate, interval_h),
            self.update_extreme(symbol, time_ms, rate, interval_h),
        ]
        return [a for a in alerts if a is not None]

    def update_flip(self, symbol: str, time_ms: int, rate: float, interval_h: float) -> Alert | None:
        """Flip check alone (arguments as :meth:`update`). Feed it settled rates to alert only
        on sign changes of funding actually paid, not on intra-interval wobbles of a prediction."""
        value = _apr(rate, interval_h)
        if not math.isfinite(value) or value == 0 or abs(value) < self._flip_min:
            return None
        sign = 1 if value > 0 else -1
        previous, self._sign = self._sign, sign
        if not previous or sign == previous:
            return None
        word = "positive" if sign > 0 else "negative"
        return Alert(
            kind=AlertKind.FUNDING_FLIP,
            symbol=symbol,
            time_ms=time_ms,
            message=f"{symbol} funding flipped to {word}: {value * 100:+.1f} % APR",
            funding_apr=value,
            extra={"rate": rate, "interval_h": interval_h},
        )

    def update_extreme(self, symbol: str, time_ms: int, rate: float, interval_h: float) -> Alert | None:
        """Extreme-funding check alone, with its hysteresis (arguments as :meth:`update`)."""
        value = _apr(rate, interval_h)
        if not math.isfinite(value):
            return None
        magnitude = abs(value)
        if not self._armed:
            if magnitude < self._rearm_below:
                self._armed = True
            return None
        if magnitude < self._extreme:
            return None
        self._armed = False
        return Alert(
            kind=AlertKind.EXTREME_FUNDING,
            symbol=symbol,
            time_ms=time_ms,
            message=f"{symbol} extreme funding: {value * 100:+.1f} % APR ({rate * 100:+.4f} % per {interval_h:g} h)",
            funding_apr=value,
            extra={"rate": rate, "interval_h": interval_h},
        )
