"""GET-a-JSON-document for the public (unauthenticated) REST endpoints of the read-only
cross-venue adapters (:mod:`pfterm.core.venues.binance.market`, :mod:`pfterm.core.venues.bybit.market`,
:mod:`pfterm.core.venues.okx.market`, :mod:`pfterm.core.venues.dydx.market`). Every failure is one
:class:`~pfterm.core.venues.errors.VenueError` with a one-line message that never quotes the body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from pfterm.core.venues.errors import VenueError, one_line

__all__ = ["VenueError", "get_json", "retryable_status"]


def retryable_status(status: int) -> bool:
    """Whether a retry may change an HTTP error answer: 5xx, 408 (timeout), 429 (rate limit)."""
    return status >= 500 or status in (408, 429)


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    params: Mapping[str, str] | None = None,
    *,
    venue: str,
    what: str | None = None,
) -> Any:
    """``GET url?params`` and return the decoded JSON body of a ``200`` answer.

    Messages start with ``"<venue> <what>: "`` (``what`` defaults to the URL path, e.g.
    ``"binance /fapi/v1/premiumIndex: HTTP 503"``).

    :raises VenueError: ``"…: timeout"`` / ``"…: <ExceptionName>: <text>"`` when no answer
        came (``status=None``, retryable); ``"…: HTTP <status>"`` for any status other than
        200 (retryable for 5xx, 408, 429); ``"…: answer is not JSON"`` (``status=200``, not
        retryable).
    """

    def label() -> str:  # built only for an error: parsing the URL costs more than the happy path
        return f"{venue} {what if what is not None else httpx.URL(url).path}"

    try:
        response = await client.get(url, params=params)
    except httpx.TimeoutException:
        raise VenueError(f"{label()}: timeout") from None
    except httpx.HTTPError as exc:
        detail = " ".join(str(exc).split())
        name = type(exc).__name__
        raise VenueError(one_line(f"{label()}: {name}: {detail}" if detail else f"{label()}: {name}")) from None
    status = response.status_code
    if status != 200:
        raise VenueError(f"{label()}: HTTP {status}", status=status, retryable=retryable_status(status))
    try:
        return orjson.loads(response.content)
    except ValueError:  # orjson.JSONDecodeError, invalid UTF-8 included
        raise VenueError(f"{label()}: answer is not JSON", status=200, retryable=False) from None
