"""ReconnectPolicy and SlidingWindowLimiter with a fake clock (no real waiting)."""

from __future__ import annotations

import asyncio
import random

import pytest

from pfterm.core.venues.reconnect import ReconnectPolicy, SlidingWindowLimiter, equal_jitter


class FakeClock:
    """A monotonic clock advanced only by ``sleep``."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(seconds, 0.0)


def make_policy(clock: FakeClock, **kwargs) -> ReconnectPolicy:
    return ReconnectPolicy(clock=clock, sleep=clock.sleep, **kwargs)


def test_delays_grow_within_jitter_bounds_and_cap() -> None:
    random.seed(7)
    clock = FakeClock()
    policy = make_policy(clock, initial_s=1.0, max_s=30.0)
    delays = [policy.next_delay() for _ in range(10)]
    expected_upper = [1, 2, 4, 8, 16, 30, 30, 30, 30, 30]
    for delay, upper in zip(delays, expected_upper, strict=False):
        assert upper / 2 <= delay <= upper
    # Lower bound of step n is above the upper bound of step n-2: strictly growing envelope.
    assert delays[2] > delays[0] and delays[4] > delays[2]
    assert max(delays) <= 30.0


def test_jitter_spreads_delays() -> None:
    random.seed(1)
    samples = {round(equal_jitter(8.0), 6) for _ in range(50)}
    assert len(samples) > 40
    assert all(4.0 <= s <= 8.0 for s in samples)


def test_no_jitter_gives_plain_exponential() -> None:
    policy = make_policy(FakeClock(), initial_s=0.5, max_s=4.0, jitter=None)
    assert [policy.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_short_connections_do_not_reset_backoff() -> None:
    clock = FakeClock()
    policy = make_policy(clock, jitter=None, healthy_after_s=30.0)
    delays = []
    for _ in range(5):
        policy.connected()
        clock.now += 5.0  # accepted, then dropped after 5 s
        delays.append(policy.disconnected())
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_healthy_connection_resets_backoff() -> None:
    clock = FakeClock()
    policy = make_policy(clock, jitter=None, healthy_after_s=30.0)
    for _ in range(4):
        policy.connected()
        policy.disconnected()
    policy.connected()
    clock.now += 29.9
    assert policy.disconnected() == 16.0  # not yet healthy long enough
    policy.connected()
    clock.now += 30.0
    assert policy.disconnected() == 1.0
    assert policy.failures == 1


def test_failed_attempts_without_connection_keep_growing() -> None:
    clock = FakeClock()
    policy = make_policy(clock, jitter=None)
    assert [policy.disconnected() for _ in range(4)] == [1.0, 2.0, 4.0, 8.0]


async def test_wait_before_connect_sleeps_scheduled_delay() -> None:
    clock = FakeClock()
    policy = make_policy(clock, jitter=None)
    await policy.wait_before_connect()  # first attempt: immediate
    assert clock.slept == []
    policy.connected()
    delay = policy.disconnected()
    assert policy.retry_at() == pytest.approx(clock.now + delay)
    await policy.wait_before_connect()
    assert clock.slept == [pytest.approx(delay)]


async def test_limiter_enforces_30_per_minute_with_fake_clock() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(30, 60.0, clock=clock, sleep=clock.sleep)
    start = clock.now
    stamps = []
    for _ in range(65):
        await limiter.acquire()
        stamps.append(clock.now)
    assert all(s == start for s in stamps[:30])
    # No 60 s window ever holds more than 30 admissions.
    for i, t in enumerate(stamps):
        assert sum(1 for u in stamps[i:] if u < t + 60.0) <= 30
    assert stamps[30] == pytest.approx(start + 60.0)
    assert stamps[60] == pytest.approx(start + 120.0)


async def test_limiter_shared_between_policies() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, 60.0, clock=clock, sleep=clock.sleep)
    a = make_policy(clock, limiter=limiter)
    b = make_policy(clock, limiter=limiter)
    for policy in (a, b, a):
        await policy.wait_before_connect()
    assert clock.slept == []
    assert b.retry_at() == pytest.approx(clock.now + 60.0)
    await b.wait_before_connect()
    assert clock.now == pytest.approx(1060.0)


async def test_limiter_weights_charge_and_capacity() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(100, 60.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire(20)
    limiter.charge(70)
    assert limiter.used() == 90
    assert not limiter.try_acquire(20)
    clock.now += 10
    await limiter.acquire(20)  # waits until the first 20 expire at t0 + 60 (the 70 still count)
    assert clock.now == pytest.approx(1060.0)
    with pytest.raises(ValueError):
        await limiter.acquire(101)


async def test_limiter_concurrent_waiters_never_exceed() -> None:
    loop_sleep = asyncio.sleep
    clock = FakeClock()

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        await loop_sleep(0)

    limiter = SlidingWindowLimiter(5, 1.0, clock=clock, sleep=sleep)
    stamps: list[float] = []

    async def worker() -> None:
        for _ in range(4):
            await limiter.acquire()
            stamps.append(clock.now)

    await asyncio.gather(*(worker() for _ in range(5)))
    assert len(stamps) == 20
    stamps.sort()
    for i, t in enumerate(stamps):
        assert sum(1 for u in stamps[i:] if u < t + 1.0) <= 5


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 60)
    with pytest.raises(ValueError):
        ReconnectPolicy(initial_s=5, max_s=1)


async def test_urgent_task_is_not_queued_behind_a_full_window() -> None:
    """The kill switch's task sets URGENT: its acquire is charged at once even when the window
    is full, while an ordinary task still waits; the flag does not leak to other tasks."""
    import asyncio

    from pfterm.core.venues.reconnect import URGENT, SlidingWindowLimiter

    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    lim = SlidingWindowLimiter(10, 60.0, clock=lambda: now[0], sleep=fake_sleep)
    lim.charge(10)  # the window is used up

    async def urgent() -> float:
        URGENT.set(True)
        await lim.acquire(4)
        return now[0]

    assert await asyncio.create_task(urgent()) == 0.0 and slept == []
    assert lim.used() == 14  # charged: later acquirers wait longer
    assert URGENT.get() is False
    await lim.acquire(1)  # this task was not marked: it waits for the window to free
    assert slept and now[0] >= 60.0
