"""The order manager: one per venue, the only code that sends an order or a cancel.

An :class:`OrderManager` wraps one :class:`~pfterm.core.trading.venue.ExchangeClient` (one account on
one venue) and owns, for every order of every caller (console, harvester, ``pfterm kill``):

1. **journal before send**: each intent gets a cloid and is journalled, then marked sent, in
   one SQLite transaction per batch (:mod:`pfterm.core.trading.journal`, keyed by the account's
   :class:`~pfterm.core.trading.journal.AccountRef`) *before* the network call;
2. **answers after**: the venue's per-order answers are journalled; a batch longer than the
   venue's ``batch_max`` is split and the parts sent concurrently;
3. **lost answers**: a request whose outcome is unknown (timeout, reset, 5xx, unreadable
   answer) is settled by asking the venue what became of each cloid
   (:meth:`~pfterm.core.trading.venue.ExchangeClient.query`), never by sending it again;
4. **reconcile on start**: intents that never left the process are abandoned with a note (prices
   have moved; a trader decides again), others are matched with the venue's open orders and fills;
5. **cancels** are journalled before and after;
6. **fills and funding** are synced from where the last sync stopped (the journal's sync
   cursors), so payments made while pfterm was down are recorded; a gap the venue can no longer
   fill is recorded as such, never hidden;
7. the **dead man's switch** where the venue has one (a heartbeat re-arms it; a clean stop
   disarms it).

It does no risk checking: that is the desk's (:class:`~pfterm.core.trading.desk.Desk`), which passes
every order through one gate before it reaches a manager. The kill switch's loop is in
:mod:`pfterm.core.trading.kill`, on top of this class.

Units: prices and money USD, sizes base units, times ms UTC unless named ``_s`` (seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from pfterm.core.market.models import OpenOrder, OrderIntent, Position
from pfterm.core.trading.journal import AccountJournal, Journal
from pfterm.core.trading.portfolio import ActivityLevel
from pfterm.core.trading.retrying import read_retrying, refused_retrying
from pfterm.core.trading.settings import DeskOptions
from pfterm.core.trading.venue import AccountSnapshot, ExchangeClient, Instrument, PlaceAnswer, VenueAccount, holds_spot
from pfterm.core.venues.errors import VenueError
from pfterm.core.venues.hyperliquid.orders import Cloid
from pfterm.core.venues.reconnect import URGENT

log = logging.getLogger(__name__)

__all__ = ["OrderManager", "SubmitOutcome", "describe_intent", "fmt_px", "fmt_sz"]

FUNDING_FIRST_SYNC_MS = 7 * 86_400_000
"""How far back the first funding sync of an account reaches when the journal holds nothing of
it yet (ms): a week."""
FUNDING_PAGES_MAX = 40
"""Pages of ``userFunding`` read in one sync before the rest waits for the next (500 rows each)."""
HL_FILLS_MAX = 2_000
"""``userFills`` returns at most the latest 2000 fills: more than that since the last sync is a gap."""


def fmt_px(px: float) -> str:
    """A price for one line of text: ``65,432.1``, ``1.234``, ``0.000123``."""
    if px >= 1000:
        return f"{px:,.1f}"
    if px >= 1:
        return f"{px:,.4g}" if px < 100 else f"{px:,.2f}"
    return f"{px:.6g}"


def fmt_sz(sz: float) -> str:
    """A size in base units without trailing zeros: ``0.5``, ``12``."""
    return f"{sz:.8f}".rstrip("0").rstrip(".")


def describe_intent(intent: OrderIntent) -> str:
    """``"BUY 0.5 BTC @ 65,432 Ioc reduce-only"``: one intent for logs and the screen."""
    ro = " reduce-only" if intent.reduce_only else ""
    side = "BUY" if intent.is_buy else "SELL"
    return f"{side} {fmt_sz(intent.size)} {intent.symbol} @ {fmt_px(intent.limit_px)} {intent.tif}{ro}"


@dataclass(slots=True, frozen=True)
class SubmitOutcome:
    """What happened to one intent: ``status`` ``"resting"``, ``"filled"`` (some or all of it),
    ``"error"`` (the venue refused, or nothing filled), ``"refused"`` (the risk gate or a
    read-only account: never sent) or ``"unknown"`` (sent, outcome not settled yet: reconciled
    later); ``message`` is one line; ``venue`` the manager's venue; ``answer`` the venue's."""

    intent: OrderIntent
    status: Literal["resting", "filled", "error", "refused", "unknown"]
    message: str
    answer: PlaceAnswer | None = None
    venue: str = ""

    @property
    def filled_sz(self) -> float:
        """Base units filled (0 when nothing is known to have filled)."""
        return self.answer.filled_sz if self.answer is not None else 0.0


class OrderManager:
    """Orders, cancels, account reads and journal sync of one account on one venue.

    Args:
        client: the venue's :class:`~pfterm.core.trading.venue.ExchangeClient`.
        journal: the process's journal (``None`` only in tests of pure reads); the manager
            writes through its account view (:meth:`pfterm.core.trading.journal.Journal.for_account`).
        note: where one line per order outcome goes (the desk's activity log).
        wall_ms: wall clock, ms UTC (tests freeze it).
        dead_man_lead_s: how far ahead the dead man's switch is armed, seconds.
        dead_man_heartbeat_s: how often it is re-armed, seconds.
    """

    def __init__(
        self,
        client: ExchangeClient,
        journal: Journal | None,
        *,
        note: Callable[[ActivityLevel, str], None] | None = None,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        dead_man_lead_s: float = DeskOptions.model_fields["dead_man_lead_s"].default,
        dead_man_heartbeat_s: float = DeskOptions.model_fields["dead_man_heartbeat_s"].default,
    ) -> None:
        self.client = client
        self.venue = client.venue
        self.ref = client.ref
        self.journal: AccountJournal | None = journal.for_account(client.ref) if journal is not None else None
        self._journal_root = journal
        self.note = note or (lambda level, text: log.info("%s", text))
        self.wall_ms = wall_ms
        self.instruments: dict[str, Instrument] = {}
        self.snapshot: AccountSnapshot | None = None
        """The last reading of the account (``None`` before the first)."""
        self.mids: dict[str, float] = {}
        """Mid (or mark) prices by symbol from the venue's last read, USD."""
        self.error: str | None = None
        """The last read's failure, one line (``None`` after a good read)."""
        self.dead_man_lead_s = float(dead_man_lead_s)
        self.dead_man_heartbeat_s = float(dead_man_heartbeat_s)
        self._dead_man_armed = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ labels
    @property
    def label(self) -> str:
        """The venue's name for messages (``"hyperliquid"``, ``"binance"``)."""
        return self.venue

    def _event(self, kind: str, message: str, detail: Mapping[str, Any] | None = None) -> None:
        if self.journal is None:
            return
        try:
            self.journal.log_event(kind, message, detail)
        except Exception as exc:  # noqa: BLE001 - the journal must not take the order path down
            log.error("journal event failed: %s", exc)

    # ------------------------------------------------------------------ instruments and reads
    async def load_instruments(self) -> dict[str, Instrument]:
        """Read the venue's markets (:meth:`ExchangeClient.load_instruments`). Raises VenueError."""
        self.instruments = dict(await self.client.load_instruments())
        return self.instruments

    def instrument(self, symbol: str) -> Instrument | None:
        """The market named ``symbol`` on this venue, or ``None``."""
        return self.instruments.get(symbol) or self.client.instrument(symbol)

    async def refresh(self, *, orders: bool = True, mids: bool = False, spot: bool = True) -> AccountSnapshot:
        """Read the account (and its open orders when ``orders``, else keep the last ones; and
        the venue's mids when ``mids``), concurrently.

        Raises:
            VenueError: a read failed (the last snapshot is kept).
        """
        prev = self.snapshot
        jobs: list[Any] = [self._account(spot)]
        if orders:
            jobs.append(self.client.open_orders())
        if mids:
            jobs.append(self.client.mids())
        try:
            results = await asyncio.gather(*jobs)
        except VenueError as exc:
            self.error = str(exc)
            raise
        account: VenueAccount = results[0]
        open_orders = tuple(results[1]) if orders else (prev.orders if prev is not None else ())
        if mids:
            self.mids = dict(results[-1])
        if not spot and prev is not None and account.spot_cash_usd is None and prev.account.spot_cash_usd is not None:
            # spot balances change only by orders: keep the last ones between spot reads
            account = replace(account, spot=prev.account.spot, spot_cash_usd=prev.account.spot_cash_usd)
        snap = AccountSnapshot(account, open_orders, self.wall_ms())
        self.snapshot = snap
        self.error = None
        return snap

    async def _account(self, spot: bool) -> VenueAccount:
        if holds_spot(self.client):
            return await self.client.account(spot=spot)
        return await self.client.account()

    # ------------------------------------------------------------------ positions and sizing
    def position(self, symbol: str) -> Position | None:
        """The open position in ``symbol`` at the last reading, or ``None``."""
        if self.snapshot is None:
            return None
        return next((p for p in self.snapshot.account.positions if p.symbol == symbol and p.size != 0), None)

    def position_size(self, symbol: str) -> float:
        """Signed position in base units at the last reading (0.0 when flat or unknown)."""
        p = self.position(symbol)
        return 0.0 if p is None else p.size

    def liquidation_distance(self, symbol: str) -> float | None:
        """``|liq − mark| / mark`` of the position (``docs/domain.md`` §4), ``None`` when unknown."""
        p = self.position(symbol)
        if p is None or not p.liquidation_px or not p.mark_px:
            return None
        return abs(p.liquidation_px - p.mark_px) / p.mark_px

    @property
    def equity_usd(self) -> float | None:
        """Perp margin account value at the last reading, USD (``None`` before one)."""
        return None if self.snapshot is None else self.snapshot.account.equity_usd

    def floor_size(self, symbol: str, size: float) -> float:
        """``size`` (base units) floored to the market's lot; 0.0 for an unknown market."""
        inst = self.instrument(symbol)
        return 0.0 if inst is None or not size > 0 else inst.rules.floor_size(size)

    def min_notional(self, symbol: str) -> float:
        """Smallest opening order value of the market, USD; ``inf`` for an unknown market."""
        inst = self.instrument(symbol)
        return math.inf if inst is None else inst.min_notional_usd

    def ioc(
        self,
        symbol: str,
        is_buy: bool,
        size: float,
        ref_px: float,
        slippage: float,
        *,
        reduce_only: bool = False,
        purpose: str = "manual",
    ) -> OrderIntent | None:
        """An IOC within ``slippage`` (fraction) of ``ref_px`` (USD) for ``size`` floored to the
        lot, with a fresh cloid; ``None`` when the market is unknown, the size floors to 0 or
        the price is unusable."""
        inst = self.instrument(symbol)
        sz = self.floor_size(symbol, size)
        if inst is None or sz <= 0 or not (ref_px > 0 and math.isfinite(ref_px)):
            return None
        try:
            px = inst.rules.aggressive_price(ref_px, is_buy, slippage)
        except ValueError:
            return None
        return OrderIntent(symbol, inst.asset_id, is_buy, sz, px, "Ioc", reduce_only, Cloid.new().raw, purpose)

    # ------------------------------------------------------------------ orders
    def _journal_intents(self, intents: Sequence[OrderIntent]) -> None:
        if self.journal is None or not intents:
            return
        self.journal.record_sending(
            [
                {
                    "cloid": it.cloid,
                    "symbol": it.symbol,
                    "asset": it.asset_id,
                    "side": "B" if it.is_buy else "A",
                    "size": it.size,
                    "price": it.limit_px,
                    "tif": it.tif,
                    "reduce_only": it.reduce_only,
                    "purpose": it.purpose,
                }
                for it in intents
            ]
        )

    def journal_before_send(self, intents: Sequence[OrderIntent]) -> None:
        """Journal ``intents`` as sent, in one transaction (one ``fsync``).

        Raises:
            pfterm.core.trading.journal.JournalError, sqlite3.Error: the journal refused; nothing may be sent.
        """
        if self.journal is None or not intents:
            return
        assert self._journal_root is not None
        with self._journal_root.batch():
            self._journal_intents(intents)

    async def send(
        self,
        intents: Sequence[OrderIntent],
        *,
        journalled: bool = False,
        settle_lost: bool = True,
        timeout_s: float | None = None,
        retry_refused_s: float = 0.0,
    ) -> list[SubmitOutcome]:
        """Journal (unless ``journalled``), send in batches of the venue's ``batch_max`` (sent
        concurrently) and journal the answers. Never raises for a venue failure: each intent's
        outcome says what happened.

        A batch whose answer is lost is settled cloid by cloid (:meth:`settle`) when
        ``settle_lost``; otherwise (the kill switch, which re-reads the account anyway) its
        intents come back ``"unknown"``. ``timeout_s`` bounds each request (``None``: the
        client's own timeout). A batch the venue turned away for the request rate (HTTP 429:
        not acted on) is sent again, same cloids, after its ``Retry-After``, for up to
        ``retry_refused_s`` seconds.
        """
        if not intents:
            return []
        if not journalled:
            try:
                self.journal_before_send(intents)
            except Exception as exc:  # noqa: BLE001 - nothing goes out that is not journalled
                msg = f"not sent: the journal refused it ({type(exc).__name__}: {exc})"
                self.note(ActivityLevel.ERROR, msg)
                return [SubmitOutcome(it, "error", msg, venue=self.venue) for it in intents]
        size = max(1, self.client.capabilities.batch_max)
        batches = [list(intents[i : i + size]) for i in range(0, len(intents), size)]
        until = time.monotonic() + max(0.0, retry_refused_s)
        parts = await asyncio.gather(*(self._send_batch(b, settle_lost, timeout_s, until) for b in batches))
        return [o for part in parts for o in part]

    async def _send_batch(
        self, batch: list[OrderIntent], settle_lost: bool, timeout_s: float | None, retry_until: float = 0.0
    ) -> list[SubmitOutcome]:
        try:
            answers = await refused_retrying(lambda: self.client.place(batch), timeout_s, retry_until)
        except ValueError as exc:
            if len(batch) > 1:  # nothing was sent: one invalid order must not sink the others
                parts = await asyncio.gather(
                    *(self._send_batch([it], settle_lost, timeout_s, retry_until) for it in batch)
                )
                return [o for part in parts for o in part]
            return self._fail(batch, f"not sent: {exc}", unknown=False)
        except (VenueError, TimeoutError) as exc:
            unknown = isinstance(exc, TimeoutError) or exc.outcome_unknown
            why = str(exc) or "timed out"
            if unknown and settle_lost:
                return await self._settle_batch(batch, why)
            return self._fail(batch, why, unknown=unknown)
        return self._answers(batch, answers)

    def _answers(self, batch: Sequence[OrderIntent], answers: Sequence[PlaceAnswer]) -> list[SubmitOutcome]:
        outcomes = []
        acks = []
        for it, ans in zip(batch, answers, strict=True):
            side = "BUY" if it.is_buy else "SELL"
            where = "" if self.venue == "hyperliquid" else f"{self.venue} "
            if ans.status == "filled":
                status = "filled"
                msg = f"{it.purpose}: {where}{side} {fmt_sz(ans.filled_sz)} {it.symbol} filled @ {fmt_px(ans.avg_px or 0)}"
                if ans.filled_sz < it.size * (1 - 1e-9):
                    msg += f" (partial: {fmt_sz(ans.filled_sz)} of {fmt_sz(it.size)})"
                acks.append(
                    {
                        "cloid": it.cloid,
                        "status": "filled",
                        "oid": ans.oid,
                        "avg_px": ans.avg_px,
                        "filled_sz": ans.filled_sz,
                    }
                )
                level = ActivityLevel.OK
            elif ans.status == "resting":
                status = "resting"
                msg = f"{it.purpose}: {where}{describe_intent(it)} resting, oid {ans.oid}"
                acks.append({"cloid": it.cloid, "status": "resting", "oid": ans.oid})
                level = ActivityLevel.OK
            else:
                status = "error"
                msg = f"{it.purpose}: {where}{describe_intent(it)} rejected: {ans.error or ans.status}"
                acks.append({"cloid": it.cloid, "status": "error", "oid": ans.oid, "error": ans.error or ans.status})
                level = ActivityLevel.ERROR
            self.note(level, msg)
            outcomes.append(SubmitOutcome(it, status, msg, ans, self.venue))  # type: ignore[arg-type]
        self._record_acks(acks)
        return outcomes

    def _record_acks(self, acks: list[dict[str, Any]]) -> None:
        if self.journal is None or not acks:
            return
        try:
            self.journal.record_acks(acks)
        except Exception as exc:  # noqa: BLE001 - the orders are out; reconcile will catch up
            self.note(ActivityLevel.ERROR, f"journal: answers not recorded ({exc}); the next reconcile catches up")

    def _fail(self, batch: Sequence[OrderIntent], message: str, *, unknown: bool) -> list[SubmitOutcome]:
        if unknown:
            self.note(ActivityLevel.ERROR, f"{self.venue} order batch outcome unknown ({message}); reconciled later")
            return [SubmitOutcome(it, "unknown", f"outcome unknown: {message}", venue=self.venue) for it in batch]
        self.note(ActivityLevel.ERROR, f"{self.venue} order batch failed: {message}")
        self._record_acks([{"cloid": it.cloid, "status": "error", "error": message} for it in batch])
        return [SubmitOutcome(it, "error", message, venue=self.venue) for it in batch]

    async def settle(self, intent: OrderIntent, why: str) -> SubmitOutcome:
        """What became of ``intent`` whose answer was lost (``why``): ask the venue by cloid and
        journal the verdict; ``"unknown"`` when the venue cannot be asked either."""
        try:
            ans = await self.client.query(intent.cloid, intent.symbol)
        except VenueError as exc:
            return SubmitOutcome(intent, "unknown", f"answer lost ({why}); query failed: {exc}", venue=self.venue)
        if ans is None:
            ans = PlaceAnswer(intent.cloid, "error", error=f"answer lost ({why}); the venue has no trace of it")
        return self._answers([intent], [ans])[0]

    async def _settle_batch(self, batch: list[OrderIntent], why: str) -> list[SubmitOutcome]:
        self.note(
            ActivityLevel.WARN,
            f"{self.venue}: answer lost ({why}); asking the venue what became of {len(batch)} order(s)",
        )
        return list(await asyncio.gather(*(self.settle(it, why) for it in batch)))

    # ------------------------------------------------------------------ cancels
    def journal_before_cancel(self, orders: Sequence[OpenOrder]) -> None:
        """Journal cancel requests for ``orders`` (one transaction)."""
        if self.journal is None or not orders:
            return
        self.journal.request_cancels([(o.cloid, o.oid) for o in orders])

    async def cancel(
        self,
        orders: Sequence[OpenOrder],
        *,
        purpose: str = "manual",
        journalled: bool = False,
        timeout_s: float | None = None,
        retry_refused_s: float = 0.0,
    ) -> tuple[int, list[str]]:
        """Cancel ``orders`` (journalled before and after), in batches of ``batch_max`` sent
        concurrently. Returns ``(cancelled, failures)``: how many the venue cancelled and one
        line per failure. Never raises for a venue failure. Allowed in every trading state. A
        batch turned away for the request rate (HTTP 429) goes again after its ``Retry-After``
        for up to ``retry_refused_s`` seconds."""
        if not orders:
            return 0, []
        if not journalled:
            try:
                self.journal_before_cancel(orders)
            except Exception as exc:  # noqa: BLE001
                log.error("journal: cancel requests not recorded: %s", exc)
        size = max(1, self.client.capabilities.batch_max)
        chunks = [list(orders[i : i + size]) for i in range(0, len(orders), size)]

        until = time.monotonic() + max(0.0, retry_refused_s)

        async def one(chunk: list[OpenOrder]) -> tuple[int, list[str], list[dict[str, Any]]]:
            try:
                answers = await refused_retrying(lambda: self.client.cancel(chunk), timeout_s, until)
            except (VenueError, TimeoutError) as exc:
                return 0, [f"{self.venue} cancel batch of {len(chunk)} failed: {exc or 'timed out'}"], []
            done, failures, rows = 0, [], []
            for o, a in zip(chunk, answers, strict=True):
                rows.append({"cloid": o.cloid, "oid": o.oid, "status": a.status, "error": a.error})
                if a.status == "cancelled":
                    done += 1
                else:
                    failures.append(f"{self.venue} {o.symbol} oid {o.oid}: {a.error}")
            return done, failures, rows

        results = await asyncio.gather(*(one(c) for c in chunks))
        done = sum(r[0] for r in results)
        failures = [f for r in results for f in r[1]]
        rows = [row for r in results for row in r[2]]
        if self.journal is not None and rows:
            try:
                self.journal.record_cancels(rows)
            except Exception as exc:  # noqa: BLE001
                log.error("journal: cancel answers not recorded: %s", exc)
        level = ActivityLevel.OK if not failures else ActivityLevel.WARN
        self.note(
            level,
            f"{purpose}: {self.venue} cancelled {done} of {len(orders)} order(s)"
            + (f"; {failures[0]}" if failures else ""),
        )
        return done, failures

    # ------------------------------------------------------------------ reconcile and sync
    async def reconcile(self) -> None:
        """Match the journal with the venue's open orders and fills; abandon intents that never
        left the process; settle by cloid those sent whose answer never came.

        Raises:
            VenueError: the venue could not be read.
        """
        if self.journal is None:
            return
        j = self.journal
        open_orders, fills = await asyncio.gather(self.client.open_orders(), self.client.fills(j.sync_cursor("fills")))
        rows = [
            {
                "coin": o.symbol,
                "oid": o.oid,
                "cloid": o.cloid,
                "side": "B" if o.is_buy else "A",
                "limitPx": o.limit_px,
                "sz": o.size,
            }
            for o in open_orders
        ]
        report = j.reconcile(rows, fills)
        self._advance_cursor("fills", [f.time_ms for f in fills])
        for intent in report.never_sent:
            j.abandon(intent.cloid, "never reached the venue before a restart; not resent")
            self.note(
                ActivityLevel.WARN,
                f"journal: {intent.symbol} {intent.purpose} order {intent.cloid[:10]}… never reached the venue; dropped",
            )
        for change in report.changes:
            self.note(
                ActivityLevel.INFO, f"journal: {change.cloid[:10]}… {change.before} → {change.after} ({change.reason})"
            )
        if report.untracked_orders:
            self.note(
                ActivityLevel.INFO,
                f"journal: {len(report.untracked_orders)} {self.venue} order(s) placed outside pfterm",
            )
        if report.changed or report.never_sent:
            self.note(
                ActivityLevel.INFO,
                f"journal reconciled ({self.venue}): {len(report.changes)} change(s), {len(report.new_fills)} new fill(s), "
                f"{len(report.never_sent)} never sent",
            )

    def _advance_cursor(self, stream: str, times: Sequence[int]) -> None:
        if self.journal is None or not times:
            return
        last = max(times)
        cur = self.journal.sync_cursor(stream)
        if cur is None or last > cur:
            self.journal.set_sync_cursor(stream, last)

    async def sync(self) -> tuple[int, int]:
        """Journal the fills and funding payments since the last sync (idempotent: rows already
        journalled are ignored). Returns ``(new fills, new payments)``.

        Funding starts from the last synced payment (the first sync of an account: a week back);
        fills from the last synced fill. When the venue can no longer give everything since the
        cursor (Hyperliquid's ``userFills`` keeps the latest 2000), the gap is recorded.

        Raises:
            VenueError: the venue could not be read.
        """
        if self.journal is None:
            return 0, 0
        j = self.journal
        fills_from = j.sync_cursor("fills")
        fills = await self.client.fills(fills_from)
        new_fills = j.record_fills(fills)
        if fills_from is not None and len(fills) >= HL_FILLS_MAX and self.venue == "hyperliquid":
            oldest = min(f.time_ms for f in fills)
            if oldest > fills_from:
                j.record_gap("fills", fills_from, oldest, "more fills than the venue returns at once (2000)")
        self._advance_cursor("fills", [f.time_ms for f in fills])
        new_payments = 0
        cur = j.sync_cursor("funding")
        since = (cur + 1) if cur is not None else self.wall_ms() - FUNDING_FIRST_SYNC_MS
        for _ in range(FUNDING_PAGES_MAX):
            payments = await self.client.funding(since)
            new_payments += j.record_fundings(payments)
            if not payments:
                break
            last = max(p.time_ms for p in payments)
            self._advance_cursor("funding", [last])
            if len(payments) < 500 or last < since:
                break
            since = last + 1
        return new_fills, new_payments

    async def final_sync(self, timeout_s: float) -> str | None:
        """:meth:`sync` before the process exits, retried (:func:`pfterm.core.trading.retrying.read_retrying`)
        within ``timeout_s`` seconds; ``None`` when done, else one line saying what was not
        synced (also recorded as a gap, so a report says so)."""
        if self.journal is None:
            return None
        mono = time.monotonic
        done = None
        # a few requests, once, on the way out: they never wait behind the local request-weight
        # budget a busy process has used up (the journal would otherwise stay short of them)
        token = URGENT.set(True)
        try:
            if timeout_s > 0.05:
                done = await read_retrying(self.sync, deadline=mono() + timeout_s, budget_s=timeout_s, mono=mono)
        finally:
            URGENT.reset(token)
        if done is not None:
            return None
        why = f"{self.venue}: fills/funding not synced before exit (venue unreachable or too slow); the next start catches up"
        with contextlib.suppress(Exception):
            cur = self.journal.sync_cursor("funding") or self.wall_ms()
            self.journal.record_gap("funding", cur, self.wall_ms(), "not synced before exit")
        return why

    # ------------------------------------------------------------------ dead man's switch
    async def dead_man_loop(self) -> None:
        """Re-arm the dead man's switch every ``dead_man_heartbeat_s`` (runs until cancelled)."""
        lead_ms = int(self.dead_man_lead_s * 1000)
        while True:
            symbols = sorted({o.symbol for o in self.snapshot.orders}) if self.snapshot else []
            try:
                await self.client.arm_dead_man(lead_ms, symbols)
                if not self._dead_man_armed:
                    self.note(
                        ActivityLevel.INFO,
                        f"{self.venue}: dead man's switch armed: orders cancel {self.dead_man_lead_s:g} s after pfterm stops",
                    )
                    self._event("dead_man_switch", "armed", {"lead_s": self.dead_man_lead_s})
                self._dead_man_armed = True
            except NotImplementedError:
                return
            except VenueError as exc:
                self.note(ActivityLevel.ERROR, f"{self.venue}: dead man's switch heartbeat failed: {exc}")
            await asyncio.sleep(self.dead_man_heartbeat_s)

    async def disarm_dead_man(self) -> None:
        """Disarm the dead man's switch after a clean stop (bounded to 3 s)."""
        if not self._dead_man_armed:
            return
        symbols = sorted({o.symbol for o in self.snapshot.orders}) if self.snapshot else []
        try:
            await asyncio.wait_for(self.client.arm_dead_man(0, symbols), 3.0)
            self._dead_man_armed = False
            self._event("dead_man_switch", "disarmed on exit")
        except (VenueError, TimeoutError, NotImplementedError) as exc:
            log.warning("%s: dead man's switch not disarmed: %s", self.venue, exc)

    async def aclose(self) -> None:
        """Close the client (bounded to 1 s: a frozen venue must not hold the exit)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.aclose(), 1.0)
