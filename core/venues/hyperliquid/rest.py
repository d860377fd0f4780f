"""Hyperliquid info endpoint client (``POST {base_url}/info``), read-only market data.

Every query is a JSON body ``{"type": <info type>, …}``; answers are validated and
normalized by :mod:`pfterm.core.venues.hyperliquid.wire`.

Rate limit: Hyperliquid allows REST weight 1200 per minute per IP; ``l2Book``, ``allMids``,
``clearinghouseState``, ``orderStatus``, ``spotClearinghouseState`` and ``exchangeStatus``
weigh 2, ``userRole`` 60, other info types 20, and ``fundingHistory``/``recentTrades``/
user-history types add 1 per 20 items returned
(https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/rate-limits-and-user-limits).
:class:`HyperliquidInfo` accounts for this on the client side and waits rather than exceeds.

Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from pfterm.core.market.models import AssetCtx, BookSnapshot, FundingPoint, MarketInfo, PredictedFunding
from pfterm.core.venues.errors import VenueError, one_line, retry_after_s
from pfterm.core.venues.hyperliquid import wire
from pfterm.core.venues.public_rest import send
from pfterm.core.venues.reconnect import Clock, Sleep, SlidingWindowLimiter

__all__ = [
    "MAINNET_API_URL",
    "MAINNET_WS_URL",
    "TESTNET_API_URL",
    "TESTNET_WS_URL",
    "HyperliquidInfo",
    "VenueError",
    "api_url_for",
    "info_weight",
    "ws_url_for",
]


MAINNET_API_URL = "https://api.hyperliquid.xyz"
"""Hyperliquid mainnet REST base URL (info queries go to ``{base}/info``)."""

TESTNET_API_URL = "https://api.hyperliquid-testnet.xyz"
"""Hyperliquid testnet REST base URL."""

MAINNET_WS_URL = "wss://api.hyperliquid.xyz/ws"
"""Hyperliquid mainnet WebSocket URL."""

TESTNET_WS_URL = "wss://api.hyperliquid-testnet.xyz/ws"
"""Hyperliquid testnet WebSocket URL."""

NETWORKS = {"mainnet": MAINNET_API_URL, "testnet": TESTNET_API_URL}
"""REST base URL by network name."""

REST_WEIGHT_PER_MINUTE = 1200
"""Hyperliquid's REST weight budget per IP per minute."""

FUNDING_HISTORY_PAGE_ROWS = 500
"""Maximum rows Hyperliquid returns for one ``fundingHistory`` call."""

_LIGHT_TYPES = frozenset(
    {"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState", "exchangeStatus"}
)
_PER_ITEM_TYPES = frozenset(
    {
        "recentTrades",
        "historicalOrders",
        "userFills",
        "userFillsByTime",
        "fundingHistory",
        "userFunding",
        "nonUserFundingUpdates",
        "twapHistory",
        "userTwapSliceFills",
        "userTwapSliceFillsByTime",
        "delegatorHistory",
        "delegatorRewards",
        "validatorStats",
    }
)


def info_weight(info_type: str) -> int:
    """Base request weight of one info query of type ``info_type`` (2, 20 or 60).

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/rate-limits-and-user-limits
    """
    if info_type in _LIGHT_TYPES:
        return 2
    if info_type == "userRole":
        return 60
    return 20


def answer_weight(info_type: str, items: int) -> int:
    """Extra request weight charged for the size of an answer with ``items`` rows: one per 20
    rows for the per-item info types (``fundingHistory``, ``userFills``, …), one per 60 candles
    (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/rate-limits-and-user-limits)."""
    if info_type in _PER_ITEM_TYPES:
        return items // 20
    if info_type == "candleSnapshot":
        return items // 60
    return 0


def api_url_for(network: str) -> str:
    """REST base URL for ``"mainnet"`` / ``"testnet"``, or ``network`` itself if it is a URL.

    Network names are matched in any case, surrounding whitespace is ignored and a trailing
    ``/`` is removed. :raises ValueError: for any other value.
    """
    value = network.strip()
    if value.lower() in NETWORKS:
        return NETWORKS[value.lower()]
    if urlsplit(value).scheme.lower() in ("http", "https"):
        return value.rstrip("/")
    raise ValueError(f"unknown Hyperliquid network {network!r} (mainnet, testnet or an http(s) URL)")


def ws_url_for(api_url: str) -> str:
    """WebSocket URL matching a REST base URL: ``http→ws``, ``https→wss``, path ``/ws``.

    ``https://api.hyperliquid.xyz`` → ``wss://api.hyperliquid.xyz/ws``;
    ``http://127.0.0.1:8080`` → ``ws://127.0.0.1:8080/ws``; a base path is kept
    (``http://h/prefix`` → ``ws://h/prefix/ws``). :raises ValueError: if the scheme is not http(s).
    """
    parts = urlsplit(api_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"not an http(s) URL: {api_url!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", "", ""))


class HyperliquidInfo:
    """Async client for Hyperliquid's ``POST /info`` market-data queries.

    Returns :mod:`pfterm.core.market.models` values (prices USD, sizes base units, funding per 1 h,
    timestamps ms). Every failure is raised as :class:`VenueError` with a one-line message.
    Request weight is accounted locally in a sliding 60 s window (``weight_per_minute``,
    Hyperliquid's 1200 by default); a call that would exceed it waits.

    Use as an async context manager or call :meth:`aclose` when done.
    """

    def __init__(
        self,
        base_url: str = MAINNET_API_URL,
        *,
        timeout_s: float = 10.0,
        weight_per_minute: int = REST_WEIGHT_PER_MINUTE,
        limiter: SlidingWindowLimiter | None = None,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Create a client.

        :param base_url: REST base URL, a network name (``"mainnet"``, ``"testnet"``) or any
            ``http(s)`` URL (e.g. the local simulator).
        :param timeout_s: per-request timeout in seconds (connect, read, write and pool).
        :param weight_per_minute: local weight budget; ignored if ``limiter`` is given.
        :param limiter: weight limiter to share with other clients of the same IP.
        :param client: an existing ``httpx.AsyncClient`` (not closed by :meth:`aclose`).
        :param transport: transport for the owned client (tests: ``httpx.MockTransport``).
        :param clock: monotonic clock (seconds) for the limiter.
        :param sleep: coroutine used by the limiter to wait.
        """
        self.base_url = api_url_for(base_url)
        self.info_url = self.base_url + "/info"
        self.limiter = limiter or SlidingWindowLimiter(weight_per_minute, 60.0, clock=clock, sleep=sleep)
        self._timeout = httpx.Timeout(timeout_s)
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=self._timeout,
            transport=transport,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )

    async def __aenter__(self) -> HyperliquidInfo:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            await self._client.aclose()

    async def post_info(self, body: dict[str, Any]) -> bytes:
        """Send one info query and return the raw answer body (JSON bytes).

        Waits for weight budget first (:func:`info_weight` of ``body["type"]``), then sends under
        the host policy of :func:`pfterm.core.venues.public_rest.send`: nothing is sent before a
        ``Retry-After`` has passed, one more try follows a 429/503 whose wait is short, and the
        body is read up to :func:`~pfterm.core.venues.public_rest.max_body_bytes` decoded bytes.

        :raises VenueError: on timeout, transport failure, HTTP status ≥ 400 (``retry_after_s``
            set for 429/503), a host still closed by an earlier 429/503, or a body over the cap.
        """
        info_type = str(body.get("type", "?"))
        label = f"hyperliquid info {info_type}"
        await self.limiter.acquire(info_weight(info_type))
        try:
            answer = await send(self._client, "POST", self.info_url, label=label, json=body, timeout=self._timeout)
        except httpx.TimeoutException:
            raise VenueError(f"{label}: timed out after {self._timeout.read:g} s") from None
        except httpx.HTTPError as exc:
            raise VenueError(f"{label}: {type(exc).__name__}: {one_line(str(exc)) or 'connection failed'}") from None
        if answer.status >= 400:
            status = answer.status
            retryable = status >= 500 or status in (408, 429)
            body_text = one_line(answer.text) if answer.content else answer.reason
            raise VenueError(
                f"{label}: HTTP {status}: {body_text}",
                status=status,
                retryable=retryable,
                retry_after_s=answer.retry_after_s
                if answer.retry_after_s is not None
                else retry_after_s(answer.headers),
            )
        return answer.content

    async def _query(self, body: dict[str, Any], parse: Any) -> Any:
        raw = await self.post_info(body)
        try:
            return parse(raw)
        except wire.WireFormatError as exc:
            raise VenueError(
                f"hyperliquid info {body['type']}: malformed answer: {exc.reason}", retryable=False
            ) from None
        except (RecursionError, OverflowError, ValueError, MemoryError) as exc:  # decoding gave up
            raise VenueError(
                f"hyperliquid info {body['type']}: malformed answer: {type(exc).__name__} while decoding",
                retryable=False,
            ) from None

    async def meta_and_asset_ctxs(self) -> tuple[list[MarketInfo], list[AssetCtx | None]]:
        """``metaAndAssetCtxs`` (weight 20): every perp market with its live context.

        :returns: ``(markets, ctxs)``, see :func:`wire.parse_meta_and_asset_ctxs`.
        :raises VenueError: on any failure.
        """
        return await self._query({"type": "metaAndAssetCtxs"}, wire.parse_meta_and_asset_ctxs)

    async def meta(self) -> list[MarketInfo]:
        """``meta`` (weight 20): the perp universe, ``asset_id`` = index.

        :raises VenueError: on any failure.
        """
        return await self._query({"type": "meta"}, wire.parse_meta)

    async def predicted_fundings(self) -> list[PredictedFunding]:
        """``predictedFundings`` (weight 20): next funding per coin on HlPerp/BinPerp/BybitPerp.

        :returns: see :func:`wire.parse_predicted_fundings` (rate per ``interval_h`` hours).
        :raises VenueError: on any failure.
        """
        return await self._query({"type": "predictedFundings"}, wire.parse_predicted_fundings)

    async def funding_history(self, coin: str, start_ms: int, end_ms: int | None = None) -> list[FundingPoint]:
        """``fundingHistory`` for ``coin`` from ``start_ms`` to ``end_ms`` (ms, inclusive; now if ``None``).

        Follows pages of 500 rows until the range is covered. Each call weighs 20 plus 1 per
        20 rows returned.

        :returns: settled fundings oldest first, rate per 1 h.
        :raises VenueError: on any failure.
        """
        points: list[FundingPoint] = []
        start = int(start_ms)
        while True:
            body: dict[str, Any] = {"type": "fundingHistory", "coin": coin, "startTime": start}
            if end_ms is not None:
                body["endTime"] = int(end_ms)
            page: list[FundingPoint] = await self._query(body, wire.parse_funding_history)
            self.limiter.charge(answer_weight("fundingHistory", len(page)))
            points.extend(page)
            if len(page) < FUNDING_HISTORY_PAGE_ROWS:
                return points
            next_start = page[-1].time_ms + 1
            if next_start <= start or (end_ms is not None and next_start > end_ms):
                return points
            start = next_start

    async def l2_book(self, coin: str, n_sig_figs: int | None = None) -> BookSnapshot:
        """``l2Book`` (weight 2): up to 20 levels per side for ``coin``.

        :param n_sig_figs: aggregate prices to 2–5 significant figures (``None`` = full precision).
        :raises VenueError: on any failure.
        """
        body: dict[str, Any] = {"type": "l2Book", "coin": coin}
        if n_sig_figs is not None:
            body["nSigFigs"] = int(n_sig_figs)
        return await self._query(body, wire.parse_l2_book)

    async def all_mids(self) -> dict[str, float]:
        """``allMids`` (weight 2): mid price (USD) of every coin, spot pairs included.

        :raises VenueError: on any failure.
        """
        return await self._query({"type": "allMids"}, wire.parse_all_mids)
