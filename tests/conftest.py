"""Pytest fixtures shared by the test files.

* ``start_simulator``: starts :class:`~pfterm.core.sim.server.SimulatorServer` instances for one
  test (each listens on 127.0.0.1, its default host, on a free port) and stops them at teardown.
* ``replay_servers``: serves scripted WebSocket venues (:class:`tests.replay.ReplayServer`
  subclasses) on 127.0.0.1 for one test, closed at teardown.

The exchange payloads the tests read are in ``tests/fixtures`` (``FIXTURES`` in
``tests/fixture_files.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import pytest

from tests.replay import ReplayServer, server_pool

if TYPE_CHECKING:
    from pfterm.core.sim.server import SimulatorServer

_R = TypeVar("_R", bound=ReplayServer)

StartSimulator = Callable[["SimulatorServer"], Awaitable["SimulatorServer"]]
"""``await start(server)``: start ``server`` and return it; it is stopped when the test ends."""

ServeReplay = Callable[[_R, str], Awaitable[_R]]
"""``await serve(venue, path)``: serve ``venue`` until the test ends and return it, its ``url``
set to ``ws://127.0.0.1:<port><path>``."""


@pytest.fixture
async def start_simulator() -> AsyncIterator[StartSimulator]:
    """A function starting simulator servers for this test; every server it started is stopped
    at teardown, in the order started (after the teardown of the fixtures that use this one)."""
    started: list[SimulatorServer] = []

    async def start(server: SimulatorServer) -> SimulatorServer:
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def replay_servers() -> AsyncIterator[ServeReplay]:
    """A function serving scripted venues (:func:`tests.replay.server_pool`) until this test ends."""
    async with server_pool() as serve:
        yield serve
