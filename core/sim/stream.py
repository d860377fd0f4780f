"""WebSocket pieces the simulator's streaming protocols share: :class:`Client` (one connection,
its subscriptions and its bounded outgoing frame queue) and the push schedule (:func:`due`,
:func:`push_phases`).

The registry of clients, the queues' draining and the subscription index live in
:class:`~pfterm.core.sim.server.SimulatorServer`; each protocol's routes
(:mod:`pfterm.core.sim.routes`) decide what a subscription key means and what is pushed on it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from aiohttp import web

SubKey = tuple[Any, ...]
"""A subscription's registry key: its kind first (``"l2Book"``, ``"bn"``, ``"by.tickers"``, …),
then what selects it (coin, symbol, user, stream name)."""

_GOLDEN = 0.6180339887498949


class Client:
    """One WebSocket connection: its subscriptions (``subs``: registry key → the subscription
    object the client sent, ``{}`` where the protocol has none) and its bounded outgoing frame
    queue (``queue`` of serialised frames, ``queued_bytes`` their total size; ``wake`` is set
    when there is something to send). ``last_recv`` is the monotonic time (s) of the last
    message received; ``idle_exempt`` connections are never closed as idle. ``conn_id`` is the
    protocol's connection id where it has one (Bybit), else ``""``."""

    __slots__ = (
        "ws",
        "transport",
        "subs",
        "queue",
        "queued_bytes",
        "wake",
        "last_recv",
        "closing",
        "peer",
        "idle_exempt",
        "conn_id",
    )

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None, peer: str) -> None:
        self.ws = ws
        self.transport = transport
        self.peer = peer
        self.subs: dict[SubKey, dict[str, Any]] = {}
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.wake = asyncio.Event()
        self.last_recv = time.monotonic()
        self.closing = False
        self.idle_exempt = False
        self.conn_id = ""


def due(prev: float, cur: float, phase: float, period: float) -> bool:
    """True when an instant ``phase + k·period`` (seconds) falls in ``(prev, cur]``."""
    return math.floor((cur - phase) / period) > math.floor((prev - phase) / period)


def push_phases(names: Iterable[str]) -> dict[str, float]:
    """``{name: phase}``, each phase a fraction of the push period in ``[0, 1)``: the i-th name
    gets ``i × 0.618… mod 1`` (golden-ratio spacing), so per-name pushes spread evenly over the
    period instead of bunching on one tick."""
    return {name: (i * _GOLDEN) % 1.0 for i, name in enumerate(names)}
