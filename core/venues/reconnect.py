"""Reconnection pacing shared by every streaming venue adapter.

Two independent brakes keep a client from hammering a venue:

* :class:`ReconnectPolicy` spaces consecutive attempts with a jittered exponential backoff
  (the sequence comes from :func:`backoff.expo`, the randomness from :func:`backoff.full_jitter`)
  and only forgets past failures once a connection has *stayed* healthy for a while, so a
  server that accepts and immediately drops us still sees growing delays;
* :class:`SlidingWindowLimiter` caps how many things (new connections, request weight) may
  happen inside a sliding time window, e.g. Hyperliquid's "30 new WebSocket connections per
  minute per IP" and "REST weight 1200 per minute per IP"
  (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/rate-limits-and-user-limits).
  One limiter may be shared by several connections of the same process.

Time is read from an injectable monotonic clock (seconds) and waited on with an injectable
``sleep`` coroutine, so both classes are testable without real waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from contextvars import ContextVar
from typing import Any, TypeVar

import backoff

__all__ = [
    "Clock",
    "ReconnectPolicy",
    "Sleep",
    "SlidingWindowLimiter",
    "URGENT",
    "equal_jitter",
]

Clock = Callable[[], float]
"""A monotonic clock returning seconds (``time.monotonic`` by default)."""

Sleep = Callable[[float], Awaitable[Any]]
"""A coroutine function sleeping for the given number of seconds (``asyncio.sleep`` by default)."""


def equal_jitter(value: float) -> float:
    """Return a delay drawn uniformly from ``[value / 2, value]`` (seconds).

    Half of the backoff value is kept, the other half is randomised with
    :func:`backoff.full_jitter`. Unlike pure full jitter this never returns a near-zero delay
    after several failures, while still spreading clients that failed together.
    """
    half = value / 2.0
    return half + backoff.full_jitter(half)


URGENT: ContextVar[bool] = ContextVar("pfterm_limiter_urgent", default=False)
"""Set to ``True`` inside a task that must never wait for local pacing (the kill switch):
:meth:`SlidingWindowLimiter.acquire` then charges the cost at once instead of waiting, so a
kill is not queued behind a harvester or a poller that has used up the window. The variable
is per task (``contextvars``): setting it in the kill switch's task affects nothing else."""


class SlidingWindowLimiter:
    """Admit at most ``capacity`` units of cost within any ``window_s``-second window.

    Each admitted event is remembered with its cost until it is ``window_s`` seconds old.
    :meth:`acquire` waits (never raises for a full window) until the new cost fits;
    :meth:`charge` records cost that was incurred without asking first (e.g. extra request
    weight that is only known from a response's size).

    Units are whatever the caller counts: connections (cost 1, Hyperliquid capacity 30 per
    60 s) or REST request weight (Hyperliquid capacity 1200 per 60 s).

    The limiter is not thread-safe; share it only between coroutines of one event loop.
    """

    def __init__(
        self,
        capacity: float = 30,
        window_s: float = 60.0,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Create a limiter.

        :param capacity: maximum total cost inside one window (> 0).
        :param window_s: window length in seconds (> 0).
        :param clock: monotonic clock in seconds.
        :param sleep: coroutine function used to wait.
        :raises ValueError: if ``capacity`` or ``window_s`` is not positive.
        """
        if capacity <= 0 or window_s <= 0:
            raise ValueError("capacity and window_s must be positive")
        self.capacity = float(capacity)
        self.window_s = float(window_s)
        self._clock = clock
        self._sleep = sleep
        self._events: deque[tuple[float, float]] = deque()
        self._used = 0.0

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s
        events = self._events
        while events and events[0][0] <= horizon:
            self._used -= events.popleft()[1]
        if not events:
            self._used = 0.0

    def used(self) -> float:
        """Total cost recorded inside the current window."""
        self._prune(self._clock())
        return self._used

    def available_at(self, cost: float = 1) -> float:
        """Clock time (seconds) from which ``cost`` fits, assuming nothing else is recorded.

        Returns the current clock value when it already fits.
        """
        now = self._clock()
        self._prune(now)
        excess = self._used + cost - self.capacity
        if excess <= 0:
            return now
        freed = 0.0
        for stamp, event_cost in self._events:
            freed += event_cost
            if freed >= excess:
                return stamp + self.window_s
        return now + self.window_s

    def try_acquire(self, cost: float = 1) -> bool:
        """Record ``cost`` and return ``True`` if it fits now, else record nothing and return ``False``."""
        now = self._clock()
        self._prune(now)
        if self._used + cost > self.capacity:
            return False
        self._events.append((now, cost))
        self._used += cost
        return True

    def charge(self, cost: float) -> None:
        """Record ``cost`` now even if it overflows the window (later acquirers wait longer)."""
        if cost <= 0:
            return
        now = self._clock()
        self._prune(now)
        self._events.append((now, cost))
        self._used += cost

    async def acquire(self, cost: float = 1) -> None:
        """Wait until ``cost`` fits in the window, then record it (at once, overflowing the
        window, in a task that set :data:`URGENT`).

        :raises ValueError: if ``cost`` exceeds the capacity (it could never fit).
        """
        if cost > self.capacity:
            raise ValueError(f"cost {cost} exceeds limiter capacity {self.capacity}")
        if URGENT.get():
            self.charge(cost)
            return
        while not self.try_acquire(cost):
            wait = self.available_at(cost) - self._clock()
            await self._sleep(max(wait, 0.001))


class ReconnectPolicy:
    """Pacing of connection attempts for one logical connection.

    Usage by a client loop::

        while running:
            await policy.wait_before_connect()   # backoff delay, then a limiter slot
            try:
                ws = await connect(...)
                policy.connected()
                ...                               # serve until the connection ends
            finally:
                policy.disconnected()             # schedules the next attempt
            report RETRYING with policy.retry_at()

    Delays (seconds) follow ``backoff.expo(base=2, factor=initial_s, max_value=max_s)`` passed
    through ``jitter`` (default :func:`equal_jitter`): with the defaults the n-th consecutive
    failure waits in ``[0.5, 1]``, ``[1, 2]``, ``[2, 4]`` … up to ``[15, 30]`` seconds. The
    sequence restarts only when :meth:`disconnected` follows a :meth:`connected` that happened
    at least ``healthy_after_s`` seconds earlier. The very first attempt is not delayed.

    Every attempt also takes one unit from ``limiter`` (by default a private
    30-per-60-seconds :class:`SlidingWindowLimiter`, Hyperliquid's per-IP new-connection limit);
    pass the same limiter to several policies to share the budget.
    """

    def __init__(
        self,
        *,
        initial_s: float = 1.0,
        max_s: float = 30.0,
        healthy_after_s: float = 30.0,
        limiter: SlidingWindowLimiter | None = None,
        jitter: Callable[[float], float] | None = equal_jitter,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Create a policy.

        :param initial_s: backoff value of the first retry before jitter (seconds, > 0).
        :param max_s: cap of the backoff value before jitter (seconds, >= ``initial_s``).
        :param healthy_after_s: a connection that lasted this long resets the backoff (seconds).
        :param limiter: new-connection limiter; default 30 per 60 s using ``clock``/``sleep``.
        :param jitter: maps a backoff value to the actual delay; ``None`` disables jitter.
        :param clock: monotonic clock in seconds.
        :param sleep: coroutine function used to wait.
        :raises ValueError: on non-positive or inconsistent durations.
        """
        if initial_s <= 0 or max_s < initial_s or healthy_after_s < 0:
            raise ValueError("require 0 < initial_s <= max_s and healthy_after_s >= 0")
        self.initial_s = initial_s
        self.max_s = max_s
        self.healthy_after_s = healthy_after_s
        self.limiter = limiter if limiter is not None else SlidingWindowLimiter(30, 60.0, clock=clock, sleep=sleep)
        self._jitter = jitter
        self._clock = clock
        self._sleep = sleep
        self._gen = self._new_generator()
        self._connected_at: float | None = None
        self._next_attempt_at: float | None = None
        self.failures = 0
        """Consecutive attempts since the last reset (connections that did not stay healthy)."""

    def _new_generator(self) -> Generator[float, Any, None]:
        gen = backoff.expo(base=2, factor=self.initial_s, max_value=self.max_s)
        gen.send(None)  # backoff's generators start with a bare yield
        return gen

    def reset(self) -> None:
        """Forget past failures: the next delay is drawn from the start of the sequence."""
        self._gen = self._new_generator()
        self.failures = 0

    def next_delay(self) -> float:
        """Advance the backoff sequence and return the next jittered delay in seconds."""
        value = next(self._gen)
        self.failures += 1
        return self._jitter(value) if self._jitter is not None else value

    def connected(self) -> None:
        """Record that a connection was just established (starts the healthy timer)."""
        self._connected_at = self._clock()

    def disconnected(self) -> float:
        """Record the end of an attempt or connection and schedule the next attempt.

        Resets the backoff first if the connection had stayed up for ``healthy_after_s``.
        Returns the delay (seconds) before the next attempt may start.
        """
        now = self._clock()
        if self._connected_at is not None and now - self._connected_at >= self.healthy_after_s:
            self.reset()
        self._connected_at = None
        delay = self.next_delay()
        self._next_attempt_at = now + delay
        return delay

    def retry_at(self) -> float:
        """Monotonic time (seconds) at which the next attempt will start at the earliest.

        Accounts for the backoff delay and for the connection limiter's window.
        """
        now = self._clock()
        start = self._next_attempt_at if self._next_attempt_at is not None else now
        return max(start, self.limiter.available_at(1))

    async def wait_before_connect(self) -> None:
        """Return when the next connection attempt may start.

        Sleeps out the scheduled backoff delay (none before the first attempt), then takes one
        unit from the connection limiter, waiting for the window if needed.
        """
        if self._next_attempt_at is not None:
            remaining = self._next_attempt_at - self._clock()
            if remaining > 0:
                await self._sleep(remaining)
            self._next_attempt_at = None
        await self.limiter.acquire(1)


_T = TypeVar("_T")


class Stopped(Exception):
    """Awaited work was abandoned because its owner was asked to stop."""


async def unless_stopped(awaitable: Coroutine[Any, Any, _T], stop_event: asyncio.Event) -> _T:
    """Await ``awaitable`` unless ``stop_event`` is set first.

    Returns the awaitable's result. When the stop comes first, the work is cancelled (and
    awaited, swallowing what it raises) and :class:`Stopped` is raised. Cancellation of the
    caller cancels the work too.
    """
    if stop_event.is_set():
        awaitable.close()
        raise Stopped
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop_event.wait())
    try:
        done, _pending = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        stopper.cancel()
    if task in done:
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise Stopped
