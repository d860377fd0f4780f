"""The garbage collector of a long-running pfterm process (the console, ``pfterm harvest``).

CPython frees most objects by reference counting; its cyclic collector runs besides, by
generation, and a full (generation 2) collection walks every tracked object. After start-up a
console holds ~150 000 of them (modules, the market snapshot, widgets, settings models), and
under the full market stream the collector ran ~12 times a second, with a full collection
every ~10 s that stopped the event loop for up to 113 ms: a key typed then waited for it.

:func:`settle_heap`, called once start-up is over, collects what start-up left behind, moves
the survivors to the permanent generation (:func:`gc.freeze`: never walked again; they are
still freed by reference counting when released) and raises the generation-0 threshold so that
short-lived objects (frames, rows, strips) die by reference counting before a collection sees
them. ``benchmarks/console.py``, main screen at 160×50, 30 s, before → after: 373 → 6
collector runs, longest pause 112.8 → 4.1 ms, 14.7 → 0.7 ms of pauses per second, key to
screen p99 110 → 43 ms.

Source: https://docs.python.org/3/library/gc.html#gc.freeze ("… and gc.freeze() …to avoid
…collections"), and the collector's thresholds, https://docs.python.org/3/library/gc.html#gc.set_threshold.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import deque
from dataclasses import dataclass

log = logging.getLogger(__name__)

GEN0_THRESHOLD = 10_000
"""Allocations minus deallocations of tracked objects between generation-0 collections
(CPython's default: 700): short-lived objects die by reference counting first, and a
generation-0 collection walks at most this many young objects (≤ 8 ms measured)."""

GEN1_THRESHOLD = 5
"""Generation-0 collections between generation-1 collections (default 10): the garbage of a
closed screen (thousands of widget objects in cycles) is freed in small steps (≤ 21 ms
measured while a screen was opened and closed 40 times; at 20 000 / 20 a generation-1
collection freed ~75 000 objects in 115–125 ms)."""

GEN2_THRESHOLD = 50
"""Generation-1 collections between full collections (default 10; CPython also waits until
the objects promoted since the last full one exceed 25 % of the generation). Start-up's objects
are frozen, so a full collection walks only what was built since, and rarely."""


@dataclass(frozen=True, slots=True)
class HeapSettled:
    """What :func:`settle_heap` did: ``frozen`` objects moved to the permanent generation,
    ``collected`` unreachable ones freed by its full collection, in ``took_ms`` (wall, ms)."""

    frozen: int
    collected: int
    took_ms: float


def settle_heap() -> HeapSettled:
    """Collect start-up's garbage, freeze what survives and set the collector's thresholds
    (:data:`GEN0_THRESHOLD`, :data:`GEN1_THRESHOLD`, :data:`GEN2_THRESHOLD`).

    Call once, from the process's main thread, when start-up is over (the session is up and
    the first data shown); a second call freezes what the process has built since. One full
    collection runs here: ~0.1 s for a console's start-up heap. Never raises.
    """
    t0 = time.perf_counter()
    collected = gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
    settled = HeapSettled(gc.get_freeze_count(), collected, (time.perf_counter() - t0) * 1000)
    log.info(
        "heap settled: %d objects frozen, %d collected, in %.0f ms",
        settled.frozen,
        settled.collected,
        settled.took_ms,
    )
    return settled


class CollectorPauses:
    """Times every run of the cyclic collector (through :data:`gc.callbacks`): the end time
    (``time.monotonic()`` seconds), the generation (0–2) and the pause (ms) of the last
    ``maxlen`` runs. The console records them for its benchmark (``PFTERM_LATENCY_FILE``).
    """

    def __init__(self, maxlen: int = 100_000) -> None:
        self.runs: deque[tuple[float, int, float]] = deque(maxlen=maxlen)
        self._started = 0.0

    def install(self) -> None:
        """Start timing (idempotent)."""
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def uninstall(self) -> None:
        """Stop timing (idempotent)."""
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.runs.append((time.monotonic(), info["generation"], (time.perf_counter() - self._started) * 1000))
