"""The HTTP policy of every market-data REST call, and GET-a-JSON-document for the public
(unauthenticated) endpoints of the read-only cross-venue adapters
(:mod:`pfterm.core.venues.binance.market`, :mod:`pfterm.core.venues.bybit.market`,
:mod:`pfterm.core.venues.okx.market`, :mod:`pfterm.core.venues.dydx.market`); the Hyperliquid
info client (:mod:`pfterm.core.venues.hyperliquid.rest`) sends through :func:`send` too.

The policy, per host (``host:port`` of the URL), shared by every request of one event loop:

* **Retry-After**: an HTTP 429 or 503 closes the host's :class:`HostGate` for the answer's
  ``Retry-After`` (seconds or HTTP-date, :func:`~pfterm.core.venues.errors.retry_after_s`), and
  for at least the next value of an exponential backoff (``backoff.expo``: 1, 2, 4 … 300 s)
  when 429s repeat without a success in between. No request goes to a closed host: a wait of
  at most :data:`MAX_GATE_WAIT_S` is slept out, a longer one fails at once with a
  :class:`VenueError` carrying ``retry_after_s``.
* **Budget**: requests take their weight from the host's
  :class:`~pfterm.core.venues.reconnect.SlidingWindowLimiter` (the venue's documented limit,
  :data:`HOST_LIMITS`) and hold one of :data:`HOST_CONCURRENCY` slots while in flight.
* **Capped bodies**: the body is read as a stream and decompressed here, never past
  ``max_body_bytes`` (default :func:`max_body_bytes`: :data:`MAX_BODY_BYTES` unless
  :func:`set_max_body_bytes` changed it, from ``[http] max_answer_mb``), for one answer and for all the answers of
  the host being read at once: a larger answer (a decompression bomb included) is a malformed
  answer, the rest is never read.

Every failure of :func:`get_json` is one :class:`~pfterm.core.venues.errors.VenueError` with a
one-line message that never quotes the body."""

from __future__ import annotations

import asyncio
import time
import weakref
import zlib
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import backoff
import httpx
import orjson

from pfterm.core.venues.errors import RETRY_AFTER_MAX_S, VenueError, one_line, retry_after_s
from pfterm.core.venues.reconnect import URGENT, SlidingWindowLimiter

__all__ = [
    "HOST_CONCURRENCY",
    "HOST_LIMITS",
    "MAX_BODY_BYTES",
    "MAX_GATE_WAIT_S",
    "THROTTLE_STATUSES",
    "Answer",
    "HostGate",
    "VenueError",
    "get_json",
    "host_gate",
    "retryable_status",
    "max_body_bytes",
    "request_capped",
    "send",
    "set_max_body_bytes",
]

MAX_BODY_BYTES = 16 * 1024 * 1024
"""Default largest answer body read, in bytes after decompression (16 MiB); a larger one is
malformed."""

_max_body_bytes = MAX_BODY_BYTES


def max_body_bytes() -> int:
    """The process-wide cap on one answer's decoded body, bytes (:func:`set_max_body_bytes`)."""
    return _max_body_bytes


def set_max_body_bytes(limit: int) -> None:
    """Set the process-wide cap on one answer's decoded body (bytes), read by every later
    request that does not pass its own ``max_body_bytes``; the CLI sets it once from
    ``[http] max_answer_mb`` before any client starts.

    :raises ValueError: ``limit`` is not a positive integer.
    """
    global _max_body_bytes
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ValueError("the answer body cap must be a positive number of bytes")
    _max_body_bytes = limit


MAX_GATE_WAIT_S = 5.0
"""Longest wait (seconds) for a host's gate to open: a request that would wait longer fails at
once instead (its error's ``retry_after_s`` tells the caller when to ask again)."""

HOST_CONCURRENCY = 8
"""Requests in flight at once to one host."""

HOST_LIMITS: dict[str, tuple[float, float]] = {
    "binance": (2400.0, 60.0),
    "bybit": (600.0, 5.0),
    "okx": (10.0, 2.0),
    "dydx": (100.0, 10.0),
}
"""Request budget by venue as ``(weight, window seconds)``, the venue's documented per-IP limit:
Binance USDⓈ-M 2400 weight per minute (``openInterest`` weighs 1, ``premiumIndex`` without a
symbol 10); Bybit v5 600 requests per 5 s; OKX public ``funding-rate`` 10 requests per 2 s (the
strictest endpoint used); dYdX indexer 100 requests per 10 s. A venue not listed (Hyperliquid,
whose client keeps its own weight limiter) has no budget here, only the gate and the slots."""

THROTTLE_STATUSES = frozenset({418, 429, 503})
"""Answers that close a host's gate: 429 (rate limited), 503 (overloaded), and Binance's 418
(the IP banned for ignoring 429s; its ``Retry-After`` says until when)."""

ACCEPT_ENCODING = "gzip, deflate"
"""The encodings asked for and decoded (by :func:`send`, bounded); others are refused."""


def retryable_status(status: int) -> bool:
    """Whether a retry may change an HTTP error answer: 5xx, 408 (timeout), 429 (rate limit)."""
    return status >= 500 or status in (408, 429)


class HostGate:
    """The shared pacing state of one host: when it may be asked again, its budget, its slots.

    ``open_at`` is a ``time.monotonic`` value (seconds) before which no request is sent.
    """

    def __init__(self, limiter: SlidingWindowLimiter | None, concurrency: int = HOST_CONCURRENCY) -> None:
        self.limiter = limiter
        self.slots = asyncio.Semaphore(max(1, concurrency))
        self.open_at = 0.0
        self.throttled_count = 0
        """Consecutive 429/503 answers since the last success."""
        self.buffered = 0
        """Decoded body bytes held by this host's answers being read (bounded by the body cap)."""
        self._backoff: Generator[float, Any, None] | None = None

    def closed_for(self) -> float:
        """Seconds until the host may be asked again (0 when open)."""
        return max(0.0, self.open_at - time.monotonic())

    def throttled(self, retry_after: float | None) -> float:
        """Record a 429/503 answer with its ``Retry-After`` (seconds or ``None``); close the gate
        for ``max(retry_after, next backoff value)`` and return that delay in seconds."""
        if self._backoff is None:
            self._backoff = backoff.expo(base=2, factor=1.0, max_value=RETRY_AFTER_MAX_S)
            self._backoff.send(None)  # backoff's generators start with a bare yield
        delay = max(retry_after or 0.0, next(self._backoff))
        self.throttled_count += 1
        self.open_at = max(self.open_at, time.monotonic() + delay)
        return delay

    def succeeded(self) -> None:
        """Record an answer that was not a 429/503: the backoff starts over."""
        self._backoff = None
        self.throttled_count = 0


_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, HostGate]] = weakref.WeakKeyDictionary()


def host_gate(url: str, venue: str | None = None) -> HostGate:
    """The :class:`HostGate` of ``url``'s ``host:port`` in the running event loop, created on
    first use with the budget of ``venue`` from :data:`HOST_LIMITS` (none for other venues)."""
    gates = _GATES.setdefault(asyncio.get_running_loop(), {})
    key = httpx.URL(url).netloc.decode("ascii", "replace")
    gate = gates.get(key)
    if gate is None:
        limit = HOST_LIMITS.get(venue or "")
        gate = HostGate(SlidingWindowLimiter(limit[0], limit[1]) if limit is not None else None)
        gates[key] = gate
    return gate


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer read in full: ``status``, ``headers``, decoded ``content`` (≤ the cap),
    ``reason`` phrase, and ``retry_after_s``, the delay (seconds) the host's gate was closed
    for when the status is 429/503 (else ``None``)."""

    status: int
    headers: httpx.Headers
    content: bytes
    reason: str
    retry_after_s: float | None = None
    """Seconds the host's gate was closed for after a 429/503 (in a task that set
    :data:`~pfterm.core.venues.reconnect.URGENT`: the answer's own ``Retry-After``), else ``None``."""

    @property
    def text(self) -> str:
        """The body as text (UTF-8, undecodable bytes replaced)."""
        return self.content.decode("utf-8", "replace")


DECODE_STEP_BYTES = 1024 * 1024
"""Most bytes decompressed by one step while reading a body (keeps the transient copies small)."""


def _decoder(encoding: str, label: str) -> Any:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)  # RFC 9110 "deflate" is the zlib format
    raise VenueError(f"{label}: answer in an unsupported encoding {one_line(encoding, 40)!r}", retryable=False)


async def _read_capped(response: httpx.Response, label: str, cap: int, gate: HostGate) -> bytes:
    """The decoded body of ``response``, read from the wire chunk by chunk and decompressed at
    most :data:`DECODE_STEP_BYTES` at a time, never more than ``cap + 1`` bytes in all.

    The bytes held count against ``gate.buffered`` while the read lasts, so that the answers of
    one host read at the same time hold at most ``cap`` decoded bytes together (a host sending
    decompression bombs to every request costs one cap, not one per request).

    :raises VenueError: past ``cap`` bytes (this answer's or the host's in flight), a corrupt
        compressed body or an encoding other than identity/gzip/deflate (``retryable=False``).
    """
    status = response.status_code

    def too_large(size: int) -> VenueError:
        what = "body larger than" if size > cap else "bodies of this host being read exceed"
        return VenueError(f"{label}: malformed answer: {what} {cap} bytes", status=status, retryable=False)

    if response.is_stream_consumed:  # read by the transport already (httpx.MockTransport)
        if len(response.content) > cap:
            raise too_large(len(response.content))
        return response.content
    decoder = _decoder(response.headers.get("content-encoding", ""), label)
    parts: list[bytes] = []
    size = 0

    def keep(part: bytes) -> None:
        nonlocal size
        size += len(part)
        gate.buffered += len(part)
        if size > cap or gate.buffered > cap:
            raise too_large(size)
        parts.append(part)

    try:
        async for chunk in response.aiter_raw():
            if decoder is None:
                keep(chunk)
                continue
            data = chunk
            while data:
                keep(decoder.decompress(data, min(cap - size + 1, DECODE_STEP_BYTES)))
                data = decoder.unconsumed_tail
        if decoder is not None:
            keep(decoder.flush())
        return b"".join(parts)
    except zlib.error:
        raise VenueError(
            f"{label}: malformed answer: corrupt compressed body", status=status, retryable=False
        ) from None
    finally:
        gate.buffered -= size
        parts.clear()


async def _exchange(
    gate: HostGate,
    client: httpx.AsyncClient,
    method: str,
    url: str,
    label: str,
    params: Mapping[str, str] | None,
    json: Any,
    timeout: httpx.Timeout | None,
    max_body_bytes: int,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """One request and its answer read under the body cap, with no pacing."""
    request = client.build_request(
        method,
        url,
        params=params,
        json=json,
        headers={**(headers or {}), "Accept-Encoding": ACCEPT_ENCODING},
        timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
    )
    response = await client.send(request, stream=True)
    try:
        content = await _read_capped(response, label, max_body_bytes, gate)
    finally:
        await response.aclose()
    return Answer(response.status_code, response.headers, content, response.reason_phrase)


async def request_capped(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    label: str,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    timeout: httpx.Timeout | None = None,
    max_body_bytes: int | None = None,
) -> Answer:
    """Send one request and read its answer under the body cap, with no pacing and no retry:
    for the order paths (:mod:`pfterm.core.venues.hyperliquid.exchange`,
    :mod:`pfterm.core.venues.binance.futures`), which wait out ``Retry-After`` and reconcile
    in their own loops.

    :param label: start of error messages, e.g. ``"hyperliquid exchange order"``.
    :param max_body_bytes: the cap on the decoded body, bytes; ``None``: :func:`max_body_bytes`.
    :raises VenueError: the body is larger than the cap once decoded, corrupt, or in an
        encoding other than gzip/deflate (``retryable=False``; a request that changes state
        may have been applied: the caller decides).
    :raises httpx.HTTPError: transport failures and timeouts, for the caller to word.
    """
    cap = _max_body_bytes if max_body_bytes is None else max_body_bytes
    return await _exchange(host_gate(url), client, method, url, label, None, json, timeout, cap, headers)


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    label: str,
    venue: str | None = None,
    params: Mapping[str, str] | None = None,
    json: Any = None,
    timeout: httpx.Timeout | None = None,
    weight: float = 1.0,
    attempts: int = 2,
    max_body_bytes: int | None = None,
) -> Answer:
    """Send one request under the host policy (module docstring) and return the whole answer.

    A 429/503 answer closes the host's gate (:meth:`HostGate.throttled`); when ``attempts``
    allows another try and the gate opens within :data:`MAX_GATE_WAIT_S`, the request is sent
    once more after it opens, else the 429/503 :class:`Answer` is returned (``retry_after_s``
    set) for the caller to report. Any other status is returned as is. In a task that set
    :data:`~pfterm.core.venues.reconnect.URGENT` (the kill switch) nothing waits and nothing is
    retried here; a 429/503 still closes the gate for everything else.

    :param label: start of error messages, e.g. ``"binance /fapi/v1/openInterest"``.
    :param venue: names the host's budget in :data:`HOST_LIMITS` when its gate is created.
    :param weight: the request's weight in that budget.
    :param max_body_bytes: the cap on the decoded body, bytes; ``None``: the process-wide
        :func:`max_body_bytes`.
    :raises VenueError: the gate stays closed longer than :data:`MAX_GATE_WAIT_S` (``status=429``,
        ``retry_after_s`` = seconds left, nothing sent); the body is larger than
        ``max_body_bytes`` once decoded, corrupt, or in an encoding other than gzip/deflate
        (``retryable=False``).
    :raises httpx.HTTPError: transport failures and timeouts, for the caller to word.
    """
    gate = host_gate(url, venue)
    if max_body_bytes is None:
        max_body_bytes = _max_body_bytes
    if URGENT.get():  # the kill switch: no local wait, no retry here (its own loop retries)
        answer = await _exchange(gate, client, method, url, label, params, json, timeout, max_body_bytes)
        if answer.status in THROTTLE_STATUSES:
            header = retry_after_s(answer.headers)
            gate.throttled(header)
            return Answer(answer.status, answer.headers, answer.content, answer.reason, retry_after_s=header)
        gate.succeeded()
        return answer
    for attempt in range(max(1, attempts)):
        wait = gate.closed_for()
        if wait > MAX_GATE_WAIT_S:
            raise VenueError(
                f"{label}: rate limited by the venue, next request in {wait:.0f} s",
                status=429,
                retryable=True,
                retry_after_s=wait,
            )
        if wait > 0:
            await asyncio.sleep(wait)
        if gate.limiter is not None:
            await gate.limiter.acquire(min(weight, gate.limiter.capacity))
        async with gate.slots:
            wait = gate.closed_for()  # closed by another request while this one queued
            if wait > 0:
                if wait > MAX_GATE_WAIT_S:
                    raise VenueError(
                        f"{label}: rate limited by the venue, next request in {wait:.0f} s",
                        status=429,
                        retryable=True,
                        retry_after_s=wait,
                    )
                await asyncio.sleep(wait)
            answer = await _exchange(gate, client, method, url, label, params, json, timeout, max_body_bytes)
        if answer.status not in THROTTLE_STATUSES:
            gate.succeeded()
            return answer
        delay = gate.throttled(retry_after_s(answer.headers))
        if attempt + 1 >= attempts or delay > MAX_GATE_WAIT_S:
            return Answer(answer.status, answer.headers, answer.content, answer.reason, retry_after_s=delay)
    raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    params: Mapping[str, str] | None = None,
    *,
    venue: str,
    what: str | None = None,
    weight: float = 1.0,
    attempts: int = 2,
) -> Any:
    """``GET url?params`` under the host policy (:func:`send`) and return the decoded JSON body
    of a ``200`` answer.

    Messages start with ``"<venue> <what>: "`` (``what`` defaults to the URL path, e.g.
    ``"binance /fapi/v1/premiumIndex: HTTP 503"``). ``weight`` is the request's weight in the
    venue's budget; ``attempts`` counts the tries a 429/503 may cost (see :func:`send`).

    :raises VenueError: ``"…: timeout"`` / ``"…: <ExceptionName>: <text>"`` when no answer
        came (``status=None``, retryable); ``"…: HTTP <status>"`` for any status other than
        200 (retryable for 5xx, 408, 429; ``retry_after_s`` set for 429/503); ``"…: rate
        limited by the venue, next request in N s"`` when the host's gate is closed;
        ``"…: malformed answer: …"`` for a body over the cap or corrupt, ``"…: answer is not
        JSON"`` (``status=200``, not retryable).
    """

    label = f"{venue} {what if what is not None else httpx.URL(url).path}"
    try:
        answer = await send(
            client, "GET", url, label=label, venue=venue, params=params, weight=weight, attempts=attempts
        )
    except httpx.TimeoutException:
        raise VenueError(f"{label}: timeout") from None
    except httpx.HTTPError as exc:
        detail = " ".join(str(exc).split())
        name = type(exc).__name__
        raise VenueError(one_line(f"{label}: {name}: {detail}" if detail else f"{label}: {name}")) from None
    status = answer.status
    if status != 200:
        raise VenueError(
            f"{label}: HTTP {status}",
            status=status,
            retryable=retryable_status(status),
            retry_after_s=answer.retry_after_s,
        )
    try:
        return orjson.loads(answer.content)
    except ValueError:  # orjson.JSONDecodeError, invalid UTF-8 included
        raise VenueError(f"{label}: answer is not JSON", status=200, retryable=False) from None
