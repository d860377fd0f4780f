"""The venue's clock, as seen from this machine.

Settlement countdowns and detector sampling run on *venue* time. For a real venue that
is wall-clock time (UTC, ms) up to a small offset; for the embedded simulator running
at ``--speed N`` it advances N times faster than the wall clock. The clock is anchored
on timestamps the venue itself sends (``l2Book.time``, trade times) and, when a rate
hint is not given, estimates the rate from those samples by least squares over a
bounded window.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

MIN_VENUE_MS = 1_420_070_400_000
"""2015-01-01T00:00:00Z in ms: an older venue timestamp is refused by :meth:`VenueClock.observe`."""

MAX_VENUE_MS = 4_102_444_800_000
"""2100-01-01T00:00:00Z in ms: a venue timestamp from then on is refused (the simulator's
clock may run ahead of the wall clock, so the bound is absolute)."""


class VenueClock:
    """Affine map from the local monotonic clock to venue time.

    ``venue_ms = anchor_venue_ms + (mono − anchor_mono) × rate × 1000``.

    Args:
        rate: venue seconds per wall second when known (1.0 for a real venue, the
            simulator's speed for the embedded one). ``None`` means "estimate it".
        mono: injectable monotonic clock in seconds (tests freeze it).
        wall_ms: injectable wall clock in ms UTC, used until the venue sends a timestamp.
        window: number of (mono, venue_ms) samples kept for the rate estimate.
    """

    __slots__ = ("rejected", "_rate", "_fixed_rate", "_mono", "_anchor_mono", "_anchor_ms", "_samples")

    def __init__(
        self,
        rate: float | None = 1.0,
        *,
        mono: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] | None = None,
        window: int = 32,
    ) -> None:
        self._fixed_rate = rate is not None
        self._rate = 1.0 if rate is None else float(rate)
        self._mono = mono
        now_wall = wall_ms() if wall_ms is not None else int(time.time() * 1000)
        self._anchor_mono = mono()
        self._anchor_ms = float(now_wall)
        self._samples: deque[tuple[float, float]] = deque(maxlen=window)
        self.rejected = 0
        """Samples refused by :meth:`observe` (out of range or not an integer), since construction."""

    @property
    def rate(self) -> float:
        """Venue seconds per local second (1.0 for real venues)."""
        return self._rate

    def now_ms(self) -> int:
        """Current venue time in integer ms UTC."""
        return int(self._anchor_ms + (self._mono() - self._anchor_mono) * self._rate * 1000.0)

    def observe(self, venue_ms: int, mono: float | None = None) -> bool:
        """Record that the venue's clock read ``venue_ms`` at local monotonic time ``mono``.

        Re-anchors the clock on the newest sample (venue timestamps are authoritative) and,
        when the rate is not fixed, re-estimates it from the retained samples. Samples that
        would move the clock backwards by more than one second are treated as a venue clock
        reset: the history is cleared.

        A sample no venue can send is refused and changes nothing: not an integer (a bool, a
        non-finite or fractional float), before 2015-01-01 (:data:`MIN_VENUE_MS`) or from 2100
        on (:data:`MAX_VENUE_MS`). Refusals are counted in :attr:`rejected`; never raises.

        :returns: ``True`` when the sample was taken, ``False`` when it was refused.
        """
        value: object = venue_ms
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.rejected += 1
            return False
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            self.rejected += 1
            return False
        if not MIN_VENUE_MS <= value < MAX_VENUE_MS:
            self.rejected += 1
            return False
        m = self._mono() if mono is None else mono
        if self._samples and venue_ms < self._samples[-1][1] - 1000:
            self._samples.clear()
        self._samples.append((m, float(venue_ms)))
        if not self._fixed_rate and len(self._samples) >= 3:
            xs = [s[0] for s in self._samples]
            if xs[-1] - xs[0] >= 1.0:
                self._rate = self._fit_rate()
        self._anchor_mono = m
        self._anchor_ms = float(venue_ms)
        return True

    def _fit_rate(self) -> float:
        n = len(self._samples)
        mx = sum(s[0] for s in self._samples) / n
        my = sum(s[1] for s in self._samples) / n
        sxx = sum((s[0] - mx) ** 2 for s in self._samples)
        if sxx <= 0:
            return self._rate
        sxy = sum((s[0] - mx) * (s[1] - my) for s in self._samples)
        rate = sxy / sxx / 1000.0
        if rate <= 0:
            return self._rate
        # A real venue's clock runs at wall speed; don't let network jitter pretend otherwise.
        return 1.0 if abs(rate - 1.0) < 0.05 else rate
