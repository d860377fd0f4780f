"""The one error type of venue requests, shared by every adapter (Hyperliquid, Binance and the
read-only cross-venue ones), the one-line text helper used for its messages, and the reading
of an HTTP ``Retry-After`` header."""

from __future__ import annotations

import math
import re
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


_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI: colours, cursor moves, screen clears
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC/DCS/SOS/PM/APC strings (titles, links)
    r"|\x1b[NO][^\x00-\x1f\x7f-\x9f]?"  # SS2/SS3 and the character they shift
    r"|\x1b[ -/]*[0-~]?"  # any other escape (two or more characters)
    r"|\x9b[0-?]*[ -/]*[@-~]?"  # 8-bit CSI
    r"|[\x90\x98\x9d-\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # 8-bit OSC/DCS/SOS/PM/APC
)
_CONTROL_CHARS = {code: " " for code in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85)} | {
    code: None
    for code in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))
    if code not in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85)
}
"""``str.translate`` table: C0 and C1 whitespace controls become spaces, every other C0, DEL and C1 is dropped."""


def one_line(text: str, limit: int = 160) -> str:
    """``text`` made safe for one line of a status bar, a toast or a log file: terminal escape
    sequences (ECMA-48 CSI, OSC, DCS…, 7- and 8-bit) and control characters (C0, DEL, C1) removed,
    whitespace runs (tabs and line breaks included) folded to single spaces, cut to ``limit``
    characters (ending in "…" when cut).

    Every text that comes from a venue (error messages, reject reasons) goes through this before
    it is logged, journalled or shown, so that a venue cannot move the cursor, recolour or retitle
    the terminal, ring its bell or forge a log line.
    """
    text = " ".join(_ESCAPE_SEQUENCE.sub("", text).translate(_CONTROL_CHARS).split())
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
