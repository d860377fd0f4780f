"""Reads retried until they succeed or a deadline: the kill switch's reads and the journal
sync before a process exits.

A failed read (any :class:`~pfterm.core.venues.errors.VenueError`: timeout, reset, HTTP 429, 5xx, a
malformed answer; or a transport ``OSError``) is tried again after a short backoff
(:data:`BACKOFF_S` doubling up to :data:`BACKOFF_MAX_S`), or after the venue's ``Retry-After``
when it sent one, with the :mod:`backoff` library; every attempt is cut off at the deadline.
An order or a cancel whose answer is lost is never sent again blindly (the order manager
settles it by cloid, the kill switch re-reads and plans a new round); one the venue turned away
for the request rate (HTTP 429, not acted on) may go again after its ``Retry-After``
(:func:`refused_retrying`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import backoff

from pfterm.core.venues.errors import VenueError

log = logging.getLogger(__name__)

__all__ = ["BACKOFF_MAX_S", "BACKOFF_S", "read_retrying", "refused_retrying"]

BACKOFF_S = 0.05
"""First wait between retries of a failed read, seconds (doubling, capped by :data:`BACKOFF_MAX_S`)."""
BACKOFF_MAX_S = 0.4
"""Longest wait between retries of a failed read (a ``Retry-After`` is honoured beyond it), seconds."""

T = TypeVar("T")


def _waits(first: int = 0) -> Any:
    """Wait generator for :mod:`backoff`: it is sent each failure; a ``Retry-After`` is honoured,
    else ``BACKOFF_S`` doubling (from its ``first`` doubling) up to ``BACKOFF_MAX_S``."""
    n = first
    exc = yield
    while True:
        after = getattr(exc, "retry_after_s", None)
        wait = after if after is not None else min(BACKOFF_MAX_S, BACKOFF_S * 2**n)
        n += 1
        exc = yield wait


async def read_retrying(
    read: Callable[[], Awaitable[T]],
    *,
    deadline: float,
    budget_s: float,
    mono: Callable[[], float],
    errors: list[str] | None = None,
    patience: int = 0,
) -> T | None:
    """``await read()`` retried on any :class:`VenueError` or timeout for up to ``budget_s``
    seconds (never past ``deadline``), each attempt cut off at ``deadline``; ``None`` when it
    never succeeded, and then the last failure (one line) is appended to ``errors``. ``patience``
    starts the backoff that many doublings in (a caller whose earlier rounds all failed asks
    less often). Never raises for a venue failure."""
    remaining = deadline - mono()
    if remaining <= 0:
        if errors is not None:
            errors.append("deadline reached")
        return None

    async def attempt() -> T:
        left = deadline - mono()
        if left <= 0:
            raise TimeoutError("deadline reached")
        return await asyncio.wait_for(read(), left)

    retrying = backoff.on_exception(
        _waits,
        (VenueError, TimeoutError, OSError),
        max_time=min(budget_s, remaining),
        jitter=None,
        logger=None,
        first=max(0, int(patience)),
    )(attempt)
    try:
        return await retrying()
    except (VenueError, TimeoutError, OSError) as exc:
        why = str(exc) or "timed out"
        log.warning("read failed: %s", why)
        if errors is not None:
            errors.append(why)
        return None


async def refused_retrying(call: Callable[[], Any], timeout_s: float | None, until: float) -> Any:
    """``await call()``, sent again while the venue turns it away for the request rate (HTTP
    429, not acted on) after its ``Retry-After`` (0.2 s when it gives none), until the
    monotonic time ``until``; every attempt together is cut off ``timeout_s`` seconds from now
    (``None``: the client's own timeouts).

    Raises:
        VenueError, TimeoutError, ValueError: as ``call``, once no retry is left.
    """
    end = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        try:
            coro = call()
            if end is None:
                return await coro
            return await asyncio.wait_for(coro, max(0.01, end - time.monotonic()))
        except VenueError as exc:
            if exc.status not in (418, 429) or exc.outcome_unknown:
                raise
            wait = exc.retry_after_s if exc.retry_after_s is not None else 0.2
            if time.monotonic() + wait >= min(until, end if end is not None else until):
                raise
            await asyncio.sleep(wait)
