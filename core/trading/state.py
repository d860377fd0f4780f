"""One trading state per account, shared by every pfterm process trading it.

The state (:class:`~pfterm.core.trading.risk.TradingState`: ACTIVE, REDUCING, HALTED), why and since when, is
stored in the journal keyed by venue, network and account
(:meth:`pfterm.core.trading.journal.AccountJournal.trading_state`). A kill from the console, from ``pfterm
kill`` or from the daily-loss limit writes HALTED there; every process trading the account (a
``pfterm harvest`` daemon, another console) reads it before each order and every
:data:`POLL_S` seconds, so it stops entering within a poll. ``R`` in the console or ``pfterm
resume`` writes ACTIVE.

A desk trades several accounts at once (the Hyperliquid account and the Binance leg): its
state is the most restrictive of theirs, and a change is written to all of them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pfterm.core.trading.journal import AccountJournal
from pfterm.core.trading.risk import TradingState

log = logging.getLogger(__name__)

__all__ = ["POLL_S", "SharedTradingState", "StateRecord", "process_origin"]

POLL_S = 0.5
"""How often a process re-reads the shared state when nothing else asks, seconds."""

_RANK = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


def process_origin(what: str) -> str:
    """``"<what> pid <pid>"``: who changed a state, for the journal and the screen."""
    return f"{what} pid {os.getpid()}"


@dataclass(frozen=True, slots=True)
class StateRecord:
    """The desk's trading state: ``state``, ``reason`` (one line), ``since_ms`` (wall ms UTC),
    ``origin`` (which process set it, e.g. ``"pfterm kill pid 4242"``)."""

    state: TradingState
    reason: str
    since_ms: int
    origin: str


class SharedTradingState:
    """The trading state of a set of accounts, read from and written to the journal.

    Args:
        journals: the accounts' journal views (empty: the state lives in this process only,
            for tests of pure previews).
        origin: this process, for the records it writes (:func:`process_origin`).
        wall_ms: wall clock, ms UTC; mono: monotonic clock, seconds.
    """

    def __init__(
        self,
        journals: Sequence[AccountJournal],
        origin: str,
        *,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.journals = list(journals)
        self.origin = origin
        self.wall_ms = wall_ms
        self.mono = mono
        self._local = StateRecord(TradingState.ACTIVE, "", wall_ms(), origin)
        self._cached: StateRecord | None = None
        self._read_at = -1e18
        self.error: str | None = None

    def add(self, journal: AccountJournal) -> None:
        """Share the state with one more account (a venue attached later); a stricter state of
        this desk is written to it at once."""
        if journal in self.journals:
            return
        self.journals.append(journal)
        current = self.read(max_age_s=0.0)
        if current.state is not TradingState.ACTIVE:
            self._write([journal], current.state, current.reason)
        self._read_at = -1e18

    def read(self, max_age_s: float = POLL_S) -> StateRecord:
        """The most restrictive state of the accounts, read from the journal unless the last
        read is younger than ``max_age_s`` seconds. A journal that cannot be read keeps the last
        known state (and ``error`` says why): it never silently becomes ACTIVE."""
        if not self.journals:
            return self._local
        now = self.mono()
        if self._cached is not None and now - self._read_at < max_age_s:
            return self._cached
        best: StateRecord | None = None
        try:
            for j in self.journals:
                rec = j.trading_state()
                if rec is None:
                    continue
                state = TradingState(rec.state)
                cand = StateRecord(state, rec.reason, rec.since_ms, rec.origin)
                if best is None or _RANK[state] > _RANK[best.state]:
                    best = cand
            self.error = None
        except Exception as exc:  # noqa: BLE001 - a busy or broken journal must not unhalt anything
            self.error = f"trading state unreadable: {exc}"
            log.error("%s", self.error)
            return self._cached or self._local
        self._cached = best or StateRecord(TradingState.ACTIVE, "", self._local.since_ms, self.origin)
        self._read_at = now
        return self._cached

    @property
    def state(self) -> TradingState:
        """The state as of the last :data:`POLL_S` seconds."""
        return self.read().state

    def set(self, state: TradingState, reason: str) -> StateRecord:
        """Write ``state`` (with a one-line ``reason``) for every account; returns the record.

        Raises:
            sqlite3.Error, pfterm.core.trading.journal.JournalError: the journal refused the write (the state
                is still set in this process).
        """
        self._local = StateRecord(state, reason, self.wall_ms(), self.origin)
        self._cached = self._local
        self._read_at = self.mono()
        self._write(self.journals, state, reason)
        return self._local

    def _write(self, journals: Sequence[AccountJournal], state: TradingState, reason: str) -> None:
        for j in journals:
            j.set_trading_state(state.value, reason, self.origin)
