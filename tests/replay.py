"""Test harness shared by the cross-venue stream tests (``tests/test_venue_*.py``): a local
127.0.0.1 WebSocket server that replays scripted frames and can drop a connection, a
list-collecting :class:`~pfterm.core.venues.base.CrossVenueSink`, and a wait-for-a-condition helper.
No network: every server listens on 127.0.0.1 on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from pfterm.core.market.models import FeedState, FeedStatus, Liquidation, VenueFunding
from pfterm.core.venues.reconnect import ReconnectPolicy

__all__ = ["ListSink", "ReplayServer", "eventually", "fast_policy", "server_pool", "serving"]

_S = TypeVar("_S", bound="ReplayServer")


class ListSink:
    """A :class:`~pfterm.core.venues.base.CrossVenueSink` keeping every call: one list per batch."""

    def __init__(self) -> None:
        self.funding: list[list[VenueFunding]] = []
        self.liquidations: list[list[Liquidation]] = []
        self.statuses: list[FeedStatus] = []

    def on_venue_funding(self, records: list[VenueFunding]) -> None:
        self.funding.append(records)

    def on_liquidations(self, records: list[Liquidation]) -> None:
        self.liquidations.append(records)

    def on_feed_status(self, status: FeedStatus) -> None:
        self.statuses.append(status)

    def states(self) -> list[FeedState]:
        """The published states with consecutive repeats folded."""
        out: list[FeedState] = []
        for status in self.statuses:
            if not out or out[-1] is not status.state:
                out.append(status.state)
        return out


async def eventually(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait until ``predicate()`` is true. :raises AssertionError: after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def fast_policy(max_s: float = 0.1) -> ReconnectPolicy:
    """A reconnect policy that retries within a fraction of a second."""
    return ReconnectPolicy(initial_s=0.05, max_s=max_s)


class ReplayServer:
    """A scripted venue. On connection ``n`` (from 0) it sends :attr:`greeting`, then (when
    :attr:`replay_on_connect`) replays ``scripts[n]`` (the last script repeats); with
    ``drop_first`` the first connection is then closed with :attr:`drop_code`. Every message
    the client sends is decoded (JSON, else the text itself), kept in ``received[n]`` and
    given to :meth:`answer`. :meth:`push` sends frames on the latest connection.

    Subclasses answer like a venue (pongs, subscription acks) by overriding :meth:`answer`,
    and may replay later (``replay_on_connect = False``, then :meth:`replay` from :meth:`answer`).
    """

    greeting: tuple[str, ...] = ()
    replay_on_connect = True
    drop_code = 1011

    def __init__(self, scripts: list[list[str]] | None = None, *, drop_first: bool = False) -> None:
        self.scripts = scripts or [[]]
        self.drop_first = drop_first
        self.connections = 0
        self.received: list[list[Any]] = []
        self.current: ServerConnection | None = None
        self.url = ""

    async def handler(self, ws: ServerConnection) -> None:
        n = self.connections
        self.connections += 1
        self.current = ws
        inbox: list[Any] = []
        self.received.append(inbox)
        with contextlib.suppress(ConnectionClosed):
            for text in self.greeting:
                await ws.send(text)
            if self.replay_on_connect and not await self.replay(ws, n):
                return
            async for text in ws:
                try:
                    message = json.loads(text)
                except ValueError:
                    message = text
                inbox.append(message)
                if not await self.answer(ws, n, message):
                    return

    async def answer(self, ws: ServerConnection, n: int, message: Any) -> bool:
        """Answer one client message on connection ``n``; ``False`` ends the connection."""
        return True

    async def after_replay(self, ws: ServerConnection, n: int) -> None:
        """Called after ``scripts[n]`` was sent, before the first connection is dropped."""

    async def replay(self, ws: ServerConnection, n: int) -> bool:
        """Send ``scripts[n]``; drop the first connection when asked (then ``False``)."""
        for text in self.scripts[min(n, len(self.scripts) - 1)]:
            await ws.send(text)
        await self.after_replay(ws, n)
        if n == 0 and self.drop_first:
            await ws.close(code=self.drop_code, reason="replay drop")
            return False
        return True

    async def push(self, *frames: str) -> None:
        """Send ``frames`` on the latest connection."""
        assert self.current is not None
        for text in frames:
            await self.current.send(text)


@contextlib.asynccontextmanager
async def serving(venue: _S, path: str = "/") -> AsyncIterator[_S]:
    """Serve ``venue`` on 127.0.0.1 (free port) while the block runs; ``venue.url`` is
    ``ws://127.0.0.1:<port><path>``."""
    server = await serve(venue.handler, "127.0.0.1", 0)
    port = next(iter(server.sockets)).getsockname()[1]
    venue.url = f"ws://127.0.0.1:{port}{path}"
    try:
        yield venue
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def server_pool() -> AsyncIterator[Callable[[_S, str], Awaitable[_S]]]:
    """Yields ``start(venue, path)`` that serves ``venue`` (as :func:`serving`) until the block ends."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(venue: _S, path: str = "/") -> _S:
            return await stack.enter_async_context(serving(venue, path))

        yield start
