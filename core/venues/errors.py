"""The one error type of venue requests, shared by every adapter (Hyperliquid, Binance and the
read-only cross-venue ones), the one-line text helper used for its messages, and the reading
of an HTTP ``Retry-After`` header."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

__all__ = ["RETRY_AFTER_MAX_S", "VenueError", "one_line", "retry_after_s"]

RETRY_AFTER_MAX_S = 300.0
"""Longest ``Retry-After`` taken at its word, seconds; a longer (or absurd) value is capped."""


class VenueError(Exception):
    """A venue request failed: transport error, timeout, HTTP error status or a malformed answer.

    ``str(err)`` is one line meant for the status bar, e.g.
    ``"hyperliquid info l2Book: HTTP 429: rate limited"``; ``status`` is the HTTP status or
    ``None`` when no response was received; ``retryable`` is ``False`` for answers that a retry
    would not change (HTTP 4xx other than 408/429, malformed payloads); ``outcome_unknown`` is
    ``True`` when a request that changes state (an order, a cancel) may have reached the venue
    but no answer was read (timeout, dropped connection, 5xx, unreadable answer): reconcile
    before sending anything again; ``retry_after_s`` is the venue's ``Retry-After`` (seconds)
    when it sent one (HTTP 429/503), else ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = True,
        outcome_unknown: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.outcome_unknown = outcome_unknown
        self.retry_after_s = retry_after_s


def one_line(text: str, limit: int = 160) -> str:
    """``text`` with all whitespace runs folded to single spaces, cut to ``limit`` characters
    (ending in "…" when cut): error details shown in a status bar or a log line."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retry_after_s(headers: Mapping[str, str], *, now_s: float | None = None) -> float | None:
    """The ``Retry-After`` of an HTTP answer in seconds (≥ 0, at most :data:`RETRY_AFTER_MAX_S`),
    or ``None`` when absent or unreadable.

    The header is either delta-seconds (``"2"``) or an HTTP-date (``"Wed, 21 Oct 2026 07:28:00
    GMT"``), RFC 9110 §10.2.3 (https://www.rfc-editor.org/rfc/rfc9110#field.retry-after).
    ``now_s`` (epoch seconds) is the clock an HTTP-date is read against; the wall clock by default.
    """
    raw = headers.get("retry-after") if headers is not None else None
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now_s is None else now_s)
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_S)
