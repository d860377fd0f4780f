"""Which alerts interrupt the trader: repeats held back, a cap on toasts, the bell by kind.

The engine records every alert (:attr:`pfterm.core.market.engine.Engine.alerts`); this module
decides which of them are *raised* — shown as a toast, rung on the bell — so that a busy market
informs without nagging. Two clocks, on purpose:

* **repeats** are measured on the alert's own ``time_ms``, **venue** time: a cascade on ETH
  followed by another within ``repeat_after_s`` venue seconds is one event that goes on, not
  news. A simulator running ×60 produces a venue hour per wall minute, and venue time keeps it
  exactly as noisy per market event as the real venue.
* the **cap** on toasts is measured in **wall** seconds (a monotonic clock, ``mono``): it protects
  the trader's eyes, which live in wall time; beyond it the held-back alerts are summarised as
  "+N more alerts" on the next toast.

No Textual here: the console and the headless harvester share it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pfterm.core.market.models import Alert, AlertKind

CAP_WINDOW_S = 60.0
"""The cap on toasts counts the toasts of the last this many wall seconds."""

AlertKey = tuple[str, AlertKind]
"""(market symbol, alert kind): what a repeat is a repeat of."""


@dataclass(slots=True, frozen=True)
class AlertVerdict:
    """What to do with one alert.

    ``toast``: show it now. ``bell``: ring the terminal bell (only with ``toast``).
    ``repeat``: its place in the run of its (market, kind) — 1 for an alert that opens a run,
    n for the n-th alert inside the run's window (a repeat is never toasted nor rung).
    ``held``: on a toast, how many alerts the cap held back since the previous toast
    (shown as "+N more alerts"); 0 otherwise.
    """

    toast: bool
    bell: bool
    repeat: int
    held: int = 0


@dataclass(slots=True)
class RepeatRuns:
    """Runs of alerts of one (market, kind): an alert within ``window_ms`` (venue ms) of its run's
    first alert joins that run; any other opens a new run. A run's window is fixed at its first
    alert, so an endless stream still opens a new run once every window."""

    window_ms: int
    _runs: dict[AlertKey, tuple[int, int]] = field(default_factory=dict)
    """Key → (first alert's ``time_ms``, alerts in the run so far)."""

    def add(self, alert: Alert) -> int:
        """Count ``alert`` in its run; returns its place in it (1 = it opens a new run)."""
        key = (alert.symbol, alert.kind)
        run = self._runs.get(key)
        if run is not None and abs(alert.time_ms - run[0]) < self.window_ms:
            n = run[1] + 1
            self._runs[key] = (run[0], n)
            return n
        self._runs[key] = (alert.time_ms, 1)
        if len(self._runs) > 4096:
            self._prune(alert.time_ms)
        return 1

    def _prune(self, now_ms: int) -> None:
        """Forget runs whose window closed long ago (keeps the table bounded)."""
        self._runs = {k: r for k, r in self._runs.items() if abs(now_ms - r[0]) < self.window_ms}


class AlertGate:
    """Decides, alert by alert, whether it is toasted and rung.

    Args:
        repeat_after_s: venue seconds during which a second alert of the same (market, kind) as
            an alert that opened a run is a repeat: recorded, not raised. 0 raises every alert.
        toasts_per_min: at most this many toasts (summaries included) in any 60 wall seconds;
            alerts beyond it are held and counted into the next toast ("+N more alerts").
        bell: the master switch of the terminal bell.
        bell_kinds: the kinds that ring the bell when toasted.
    """

    def __init__(
        self,
        *,
        repeat_after_s: float = 300.0,
        toasts_per_min: int = 6,
        bell: bool = True,
        bell_kinds: Iterable[AlertKind] = (AlertKind.CASCADE,),
    ) -> None:
        self.runs = RepeatRuns(round(repeat_after_s * 1000))
        self.toasts_per_min = toasts_per_min
        self.bell = bell
        self.bell_kinds = frozenset(bell_kinds)
        self.held = 0
        """Alerts the cap held back since the last toast."""
        self._toasts: deque[float] = deque()
        """``mono`` times of the toasts of the last :data:`CAP_WINDOW_S` s, oldest first."""

    def _slot(self, mono: float) -> bool:
        """A toast may be shown at ``mono`` (wall s) without exceeding the cap; takes the slot if so."""
        toasts = self._toasts
        while toasts and mono - toasts[0] >= CAP_WINDOW_S:
            toasts.popleft()
        if len(toasts) >= self.toasts_per_min:
            return False
        toasts.append(mono)
        return True

    def admit(self, alert: Alert, mono: float) -> AlertVerdict:
        """The verdict on ``alert`` (already recorded by the engine), arriving at ``mono`` (wall s)."""
        repeat = self.runs.add(alert)
        if repeat > 1:
            return AlertVerdict(toast=False, bell=False, repeat=repeat)
        if not self._slot(mono):
            self.held += 1
            return AlertVerdict(toast=False, bell=False, repeat=1)
        held, self.held = self.held, 0
        return AlertVerdict(toast=True, bell=self.bell and alert.kind in self.bell_kinds, repeat=1, held=held)

    def take_held(self, mono: float) -> int:
        """Alerts held back by the cap, once a toast is allowed again at ``mono`` (wall s): their
        count (and the slot is taken for the summary toast); 0 when none is held or no slot is free."""
        if not self.held or not self._slot(mono):
            return 0
        held, self.held = self.held, 0
        return held


def collapse_repeats(alerts: Sequence[Alert], repeat_after_s: float) -> list[tuple[Alert, int]]:
    """``alerts`` (newest first, as the engine keeps them) as one line per run of repeats: the
    run's newest alert and how many alerts the run holds, newest run first. Runs are those of
    :class:`AlertGate` (same (market, kind) within ``repeat_after_s`` venue seconds of the run's
    first alert), so a line stands for exactly one toast."""
    runs = RepeatRuns(round(repeat_after_s * 1000))
    lines: list[list] = []  # [newest alert, alerts in the run, arrival index of the newest]
    open_line: dict[AlertKey, list] = {}
    for i, alert in enumerate(reversed(alerts)):
        key = (alert.symbol, alert.kind)
        line = open_line.get(key)
        if runs.add(alert) == 1 or line is None:
            line = open_line[key] = [alert, 0, i]
            lines.append(line)
        line[0], line[2] = alert, i
        line[1] += 1
    lines.sort(key=lambda line: line[2], reverse=True)
    return [(a, n) for a, n, _ in lines]
