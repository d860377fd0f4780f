"""Hyperliquid market data for the console and the harvester: REST snapshots + live WebSocket.

:class:`HyperliquidMarketData` combines :class:`~pfterm.core.venues.hyperliquid.rest.HyperliquidInfo`
and :class:`~pfterm.core.venues.hyperliquid.stream.HyperliquidStream` behind one ``run()``/``stop()``
pair and reports everything to a :class:`~pfterm.core.venues.base.MarketDataSink`.

Sources: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals,
https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from pfterm.core.market.models import AssetCtx, FeedState, FeedStatus, MarketInfo
from pfterm.core.venues.base import MarketDataSink
from pfterm.core.venues.hyperliquid.rest import MAINNET_API_URL, HyperliquidInfo, VenueError, ws_url_for
from pfterm.core.venues.hyperliquid.stream import HyperliquidStream
from pfterm.core.venues.reconnect import Clock, ReconnectPolicy, Sleep, SlidingWindowLimiter, Stopped, unless_stopped

__all__ = ["HyperliquidMarketData"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

REST_FEED = "hyperliquid/rest"
"""Feed name of the REST side in :class:`~pfterm.core.market.models.FeedStatus`."""

WS_FEED = "hyperliquid/ws"
"""Feed name of the WebSocket side in :class:`~pfterm.core.market.models.FeedStatus`."""


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class HyperliquidMarketData:
    """Live Hyperliquid perp market data delivered to a sink.

    ``run()``:

    1. fetches ``metaAndAssetCtxs`` over REST (retried with a :class:`ReconnectPolicy`
       until it succeeds; failures are reported as feed ``hyperliquid/rest`` RETRYING with a
       one-line detail, never raised) and calls ``sink.on_markets`` with the listed markets
       (delisted ones are delivered flagged, and subscribed only when ``include_delisted``);
    2. subscribes ``allMids`` and ``activeAssetCtx {coin}`` for each of those markets and runs
       the WebSocket (feed ``hyperliquid/ws``); after every *re*connect it fetches
       ``metaAndAssetCtxs`` again, re-delivers it and adjusts subscriptions to new listings;
    3. polls ``predictedFundings`` every ``predicted_poll_s`` seconds → ``sink.on_predicted``.

    :meth:`select` follows one market in detail: ``trades`` and ``l2Book`` subscriptions and
    the last ``funding_history_h`` hours of settled funding → ``sink.on_funding_history``.

    Units are those of :mod:`pfterm.core.market.models` (USD prices, base-unit sizes, hourly funding, ms).
    """

    def __init__(
        self,
        sink: MarketDataSink,
        base_url: str = MAINNET_API_URL,
        ws_url: str | None = None,
        *,
        include_delisted: bool = False,
        predicted_poll_s: float = 60.0,
        funding_history_h: float = 72.0,
        ping_interval_s: float = 50.0,
        pong_timeout_s: float = 10.0,
        info: HyperliquidInfo | None = None,
        connection_limiter: SlidingWindowLimiter | None = None,
        rest_policy: ReconnectPolicy | None = None,
        ws_policy: ReconnectPolicy | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        """Create the feed (nothing happens until :meth:`run`).

        :param sink: receiver of markets, contexts, mids, trades, books, funding and status.
        :param base_url: REST base URL or network name (``"mainnet"``, ``"testnet"``).
        :param ws_url: WebSocket URL; derived from ``base_url`` when ``None``
            (``https://h`` → ``wss://h/ws``).
        :param include_delisted: also subscribe delisted markets' contexts.
        :param predicted_poll_s: seconds between ``predictedFundings`` polls (> 0).
        :param funding_history_h: hours of funding history fetched by :meth:`select`.
        :param ping_interval_s: WebSocket ping interval (seconds).
        :param pong_timeout_s: a ping without a pong for this long drops the WebSocket (seconds).
        :param info: REST client to use (not closed by :meth:`stop`); default: one owned here.
        :param connection_limiter: new-connection limiter shared with other Hyperliquid
            connections of this process (default: 30 per minute, private).
        :param rest_policy: retry pacing of REST snapshots (default ``ReconnectPolicy()``).
        :param ws_policy: reconnect pacing of the WebSocket (default uses ``connection_limiter``).
        :param clock: monotonic clock (seconds).
        :param sleep: coroutine used for waiting between polls and retries.
        :param wall_ms: wall clock, ms since the epoch (funding-history window, ``recv_ms``).
        :raises ValueError: if ``predicted_poll_s`` is not positive.
        """
        if predicted_poll_s <= 0:
            raise ValueError("predicted_poll_s must be positive")
        self._sink = sink
        self._owns_info = info is None
        self.info = info if info is not None else HyperliquidInfo(base_url, clock=clock, sleep=sleep)
        self.ws_url = ws_url or ws_url_for(self.info.base_url)
        self.include_delisted = include_delisted
        self.predicted_poll_s = predicted_poll_s
        self.funding_history_h = funding_history_h
        self._clock = clock
        self._sleep = sleep
        self._wall_ms = wall_ms
        self._rest_policy = rest_policy or ReconnectPolicy(clock=clock, sleep=sleep)
        if ws_policy is None:
            limiter = connection_limiter or SlidingWindowLimiter(30, 60.0, clock=clock, sleep=sleep)
            ws_policy = ReconnectPolicy(limiter=limiter, clock=clock, sleep=sleep)
        self.stream = HyperliquidStream(
            sink,
            self.ws_url,
            on_connected=self._on_ws_connected,
            policy=ws_policy,
            feed=WS_FEED,
            ping_interval_s=ping_interval_s,
            pong_timeout_s=pong_timeout_s,
            clock=clock,
            wall_ms=wall_ms,
        )
        self.markets: list[MarketInfo] = []
        """Markets of the last snapshot delivered to the sink."""
        self._ctx_coins: set[str] = set()
        self._selected: str | None = None
        self._history_task: asyncio.Task[None] | None = None
        self._resnapshot_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop_event: asyncio.Event | None = None
        self._done: asyncio.Event | None = None
        self._stopping = False
        self._running = False
        self._rest_state = FeedState.STOPPED
        self._rest_detail = ""

    # ---------------------------------------------------------------- public API

    @property
    def selected(self) -> str | None:
        """The coin followed in detail, if any."""
        return self._selected

    async def run(self) -> None:
        """Run until :meth:`stop`. Never raises for venue or network failures.

        :raises RuntimeError: if already running.
        """
        if self._running:
            raise RuntimeError("HyperliquidMarketData.run() is already running")
        self._running = True
        self._stop_event = asyncio.Event()
        done = self._done = asyncio.Event()
        if self._stopping:
            self._stop_event.set()
        stream_task: asyncio.Task[None] | None = None
        try:
            markets, ctxs = await self._snapshot()
            self._apply_snapshot(markets, ctxs)
            stream_task = asyncio.create_task(self.stream.run())
            self._spawn(self._poll_predicted())
            if self._selected is not None and self._history_task is None:
                self._history_task = self._spawn(self._fetch_history(self._selected))
            await self._stop_event.wait()
        except Stopped:
            pass
        finally:
            self._stopping = True
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.stream.stop()
            if stream_task is not None:
                with contextlib.suppress(Exception):
                    await stream_task
            if self._owns_info:
                await self.info.aclose()
            self._running = False
            self._rest_detail = ""
            self._set_rest(FeedState.STOPPED)
            done.set()

    async def stop(self) -> None:
        """Stop :meth:`run`: cancel polls, close the WebSocket cleanly and the REST client.

        Returns once :meth:`run` has finished its cleanup (a stopped feed does not run again).
        """
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()
        if self._running and self._done is not None:
            await self._done.wait()

    def select(self, coin: str | None) -> None:
        """Follow ``coin`` in detail (``None`` to follow nothing).

        Unsubscribes ``trades``/``l2Book`` of the previous coin, subscribes them for ``coin``
        and fetches its funding history of the last ``funding_history_h`` hours
        (→ ``sink.on_funding_history(coin, points)``, oldest first, rates per 1 h).
        Safe to call before :meth:`run`; the history is then fetched once running.
        """
        if coin == self._selected:
            return
        previous = self._selected
        if previous is not None:
            self.stream.unsubscribe({"type": "trades", "coin": previous})
            self.stream.unsubscribe({"type": "l2Book", "coin": previous})
        if self._history_task is not None:
            self._history_task.cancel()
            self._history_task = None
        self._selected = coin
        if coin is None:
            return
        self.stream.subscribe({"type": "trades", "coin": coin})
        self.stream.subscribe({"type": "l2Book", "coin": coin})
        if self._running and not self._stopping:
            self._history_task = self._spawn(self._fetch_history(coin))

    def refresh_history(self) -> None:
        """Fetch the selected coin's funding history again (e.g. after a settlement)."""
        coin = self._selected
        if coin is None or not self._running or self._stopping:
            return
        if self._history_task is not None:
            self._history_task.cancel()
        self._history_task = self._spawn(self._fetch_history(coin))

    # ---------------------------------------------------------------- snapshots

    async def _snapshot(self) -> tuple[list[MarketInfo], list[AssetCtx | None]]:
        """``metaAndAssetCtxs``, retried with the REST policy until it succeeds or stop."""
        policy = self._rest_policy
        while True:
            await self._until_stopped(policy.wait_before_connect())
            if self._rest_state is not FeedState.RETRYING:
                self._set_rest(FeedState.CONNECTING)
            try:
                result = await self._until_stopped(self.info.meta_and_asset_ctxs())
            except VenueError as exc:
                policy.disconnected()
                self._rest_detail = str(exc)
                self._set_rest(FeedState.RETRYING, retry_at=policy.retry_at())
                log.warning("%s: %s", REST_FEED, exc)
                continue
            policy.reset()
            self._rest_detail = ""
            self._set_rest(FeedState.CONNECTED)
            return result

    def _apply_snapshot(self, markets: list[MarketInfo], ctxs: list[AssetCtx | None]) -> None:
        """Deliver the whole universe (delisted markets flagged, so a consumer can show them
        on demand) and align ``activeAssetCtx`` subscriptions with the live markets."""
        now_mono, now_ms = self._clock(), self._wall_ms()
        for ctx in ctxs:
            if ctx is not None:
                ctx.recv_mono = now_mono
                ctx.recv_ms = now_ms
        self.markets = markets
        try:
            self._sink.on_markets(markets, ctxs)
        except Exception:
            log.exception("%s: sink raised in on_markets", REST_FEED)
        live = [m for m in markets if self.include_delisted or not m.delisted]
        wanted = {market.symbol for market in live}
        for coin in sorted(self._ctx_coins - wanted):
            self.stream.unsubscribe({"type": "activeAssetCtx", "coin": coin})
        self.stream.subscribe({"type": "allMids"})
        for market in live:
            if market.symbol not in self._ctx_coins:
                self.stream.subscribe({"type": "activeAssetCtx", "coin": market.symbol})
        self._ctx_coins = wanted

    def _on_ws_connected(self) -> None:
        """After a reconnect (not the first connect), fetch and deliver a fresh snapshot."""
        if self.stream.connects <= 1 or self._stopping:
            return
        if self._resnapshot_task is not None and not self._resnapshot_task.done():
            return
        self._resnapshot_task = self._spawn(self._resnapshot())

    async def _resnapshot(self) -> None:
        try:
            markets, ctxs = await self._snapshot()
        except Stopped:
            return
        self._apply_snapshot(markets, ctxs)

    # ---------------------------------------------------------------- polls

    async def _poll_predicted(self) -> None:
        while not self._stopping:
            try:
                predicted = await self.info.predicted_fundings()
            except VenueError as exc:
                self._rest_detail = str(exc)
                self._set_rest(FeedState.RETRYING, retry_at=self._clock() + self.predicted_poll_s)
                log.warning("%s: %s", REST_FEED, exc)
            else:
                try:
                    self._sink.on_predicted(predicted)
                except Exception:
                    log.exception("%s: sink raised in on_predicted", REST_FEED)
                if self._rest_state is not FeedState.CONNECTED:
                    self._rest_detail = ""
                    self._set_rest(FeedState.CONNECTED)
            await self._sleep(self.predicted_poll_s)

    async def _fetch_history(self, coin: str) -> None:
        """Funding history of ``coin``; retried with backoff while it stays selected."""
        policy = ReconnectPolicy(clock=self._clock, sleep=self._sleep)
        while self._selected == coin and not self._stopping:
            await policy.wait_before_connect()
            end_ms = self._wall_ms()
            start_ms = end_ms - int(self.funding_history_h * 3_600_000)
            try:
                points = await self.info.funding_history(coin, start_ms)
            except VenueError as exc:
                policy.disconnected()
                log.warning("%s: funding history of %s: %s", REST_FEED, coin, exc)
                continue
            if self._selected == coin:
                try:
                    self._sink.on_funding_history(coin, points)
                except Exception:
                    log.exception("%s: sink raised in on_funding_history", REST_FEED)
            return

    # ---------------------------------------------------------------- plumbing

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("%s: background task failed: %s: %s", REST_FEED, type(exc).__name__, exc)

    async def _until_stopped(self, awaitable: Coroutine[Any, Any, _T]) -> _T:
        """Await ``awaitable`` unless :meth:`stop` is called first (then raise ``Stopped``)."""
        if self._stopping or self._stop_event is None:
            awaitable.close()
            raise Stopped
        result = await unless_stopped(awaitable, self._stop_event)
        if self._stopping:
            raise Stopped
        return result

    def _set_rest(self, state: FeedState, *, retry_at: float | None = None) -> None:
        self._rest_state = state
        status = FeedStatus(feed=REST_FEED, state=state, retry_at_mono=retry_at, detail=self._rest_detail)
        try:
            self._sink.on_feed_status(status)
        except Exception:
            log.exception("%s: sink raised in on_feed_status", REST_FEED)
