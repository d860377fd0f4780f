"""The one error type of venue requests, shared by every adapter (Hyperliquid and the
read-only cross-venue ones), and the one-line text helper used for its messages."""

from __future__ import annotations

__all__ = ["VenueError", "one_line"]


class VenueError(Exception):
    """A venue request failed: transport error, timeout, HTTP error status or a malformed answer.

    ``str(err)`` is one line meant for the status bar, e.g.
    ``"hyperliquid info l2Book: HTTP 429: rate limited"``; ``status`` is the HTTP status or
    ``None`` when no response was received; ``retryable`` is ``False`` for answers that a retry
    would not change (HTTP 4xx other than 408/429, malformed payloads).
    """

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


def one_line(text: str, limit: int = 160) -> str:
    """``text`` with all whitespace runs folded to single spaces, cut to ``limit`` characters
    (ending in "…" when cut): error details shown in a status bar or a log line."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
