"""The kill switch on one venue: cancel every order, close every position, sell the carries'
spot legs, verify, and keep at it until flat or the deadline.

:func:`kill_venue` runs on one :class:`~pfterm.core.trading.orders.OrderManager`; the desk runs it on
every venue at once under one deadline (:meth:`pfterm.core.trading.desk.Desk.kill`). The rules:

* **a hard deadline**: ``deadline`` (the caller's monotonic clock, seconds) bounds everything;
  every request is cut off at it, and at it the run reports exactly what is left;
* **every read is retried** on any venue or transport failure (timeouts, resets, HTTP 429
  honouring ``Retry-After``, 5xx, a malformed answer) with a short backoff, within a per-round
  budget (:data:`READ_BUDGET_S`); nothing escapes as an exception;
* **cancels and closes go out even when a read fails**: the last known orders, positions and
  prices are used, then the next round verifies. Closes are reduce-only IOCs at mid (else mark) ±
  ``slippage``: sending one again on a stale reading can never open or flip a position, and a
  new round always sends new cloids sized from the latest reading, so nothing is ever resent;
* **a carry's spot leg is sold too**: at the first reading, spot held against a perp short of the
  same asset (``UBTC`` against a ``BTC`` short) is a cash-and-carry's long leg; once the perp is
  closed it would be an unhedged long, so ``min(spot, |short|)`` of it is sold with IOCs (spot
  held beyond that, or without a short, is the trader's and stays);
* **one journal transaction** records a round's cancels and closes before they leave.

Sources: ``docs/venues.md`` Hyperliquid (no market orders, no cancel-all), ``docs/domain.md`` §3 (carry
legs), Binance USDⓈ-M ``allOpenOrders``.

Units: sizes base units, prices USD, durations seconds (monotonic clock), ``*_ms`` wall ms.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeGuard

from pfterm.core.market.models import OpenOrder, OrderIntent, Position, SpotBalance
from pfterm.core.trading.orders import OrderManager, fmt_px, fmt_sz
from pfterm.core.trading.retrying import read_retrying, refused_retrying
from pfterm.core.trading.venue import AccountSnapshot, VenueAccount, holds_spot
from pfterm.core.venues.errors import VenueError
from pfterm.core.venues.hyperliquid.orders import Cloid
from pfterm.core.venues.reconnect import URGENT

log = logging.getLogger(__name__)

__all__ = [
    "READ_BUDGET_S",
    "KillPlan",
    "KillReport",
    "VenueKillReport",
    "carry_spot_to_sell",
    "kill_venue",
    "plan_kill",
]

READ_BUDGET_S = 2.5
"""How long one round keeps retrying a failed read before acting on the last known state, s
(two of the venue's usual 1 s ``Retry-After``)."""
ROUND_PAUSE_S = (0.1, 0.3)
"""Pause before the next round when the reading right after a round shows something left: after
the first two rounds, then after later ones (a thin book refills), seconds."""
UNREAD_PAUSE_MAX_S = 1.0
"""Longest pause after a round in which nothing could be read (doubling from 0.1 s): a venue
that is down is asked again, but not hammered (its request-weight budget still counts)."""
RECENT_READING_MS = 5_000
"""A desk's last reading of the account younger than this (ms) is acted on at once by round 1."""
MIDS_MAX_AGE_S = 2.0
"""Prices older than this are read again before a round is priced, seconds."""
SPOT_DUST_USD = 10.0
"""Spot left to sell worth less than this is dust (below the venue's minimum order), USD."""


@dataclass(slots=True)
class VenueKillReport:
    """The kill switch on one venue.

    ``flat``: no position, no open order and no carry spot left at the last *verified* reading;
    ``acked_ms``: start → every cancel and close of round 1 answered; ``elapsed_ms``: start → end;
    ``rounds`` sent; ``attempts``: readings tried (one per round, more while nothing can be read); ``cancelled`` orders; ``closed``: one line per close fill; ``failures``: one
    line per thing that went wrong and is still true at the end; ``remaining_positions`` /
    ``remaining_orders`` / ``remaining_spot``: what the last reading still showed.
    """

    venue: str
    flat: bool = False
    acked_ms: float | None = None
    elapsed_ms: float = 0.0
    rounds: int = 0
    attempts: int = 0
    cancelled: int = 0
    closed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    remaining_positions: list[Position] = field(default_factory=list)
    remaining_orders: list[OpenOrder] = field(default_factory=list)
    remaining_spot: list[str] = field(default_factory=list)
    account_read: bool = False
    """Whether the account was read at least once (else what is left is unknown)."""

    def left(self) -> list[str]:
        """One line per thing still open (positions, orders, carry spot)."""
        if not self.account_read:
            return [f"{self.venue}: the account could not be read: its positions and orders are unknown"]
        out = [f"{self.venue} {p.symbol} {fmt_sz(p.size)} still open" for p in self.remaining_positions]
        out += [f"{self.venue} {o.symbol} order {o.oid} still open" for o in self.remaining_orders]
        out += [f"{self.venue} {line}" for line in self.remaining_spot]
        return out


@dataclass(slots=True)
class KillReport:
    """The kill switch across every venue of the desk.

    * ``flat``: every venue flat; ``acked_ms``: start → round 1 answered on every venue;
      ``elapsed_ms``: start → end (wall); ``rounds``: the most rounds any venue needed;
    * ``cancelled``, ``closed``, ``failures``, ``remaining_*``: summed over the venues;
    * ``deadline_s``: the deadline it ran under; ``started``: the desk's monotonic clock at
      the start; ``venues``: each venue's :class:`VenueKillReport`.
    """

    flat: bool = False
    acked_ms: float | None = None
    elapsed_ms: float = 0.0
    rounds: int = 0
    cancelled: int = 0
    closed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    remaining_positions: list[Position] = field(default_factory=list)
    remaining_orders: list[OpenOrder] = field(default_factory=list)
    remaining_spot: list[str] = field(default_factory=list)
    started: float = 0.0
    deadline_s: float = 0.0
    venues: list[VenueKillReport] = field(default_factory=list)

    @classmethod
    def merge(
        cls, parts: Sequence[VenueKillReport], *, started: float, deadline_s: float, elapsed_ms: float
    ) -> KillReport:
        """One report from each venue's."""
        acks = [p.acked_ms for p in parts if p.acked_ms is not None]
        return cls(
            flat=bool(parts) and all(p.flat for p in parts),
            acked_ms=max(acks) if acks and len(acks) == len(parts) else None,
            elapsed_ms=elapsed_ms,
            rounds=max((p.rounds for p in parts), default=0),
            cancelled=sum(p.cancelled for p in parts),
            closed=[line for p in parts for line in p.closed],
            failures=[line for p in parts for line in p.failures],
            remaining_positions=[x for p in parts for x in p.remaining_positions],
            remaining_orders=[x for p in parts for x in p.remaining_orders],
            remaining_spot=[x for p in parts for x in p.remaining_spot],
            started=started,
            deadline_s=deadline_s,
            venues=list(parts),
        )

    def left(self) -> list[str]:
        """One line per thing still open, every venue."""
        return [line for v in self.venues for line in v.left()]

    def summary(self) -> str:
        """One line: flat or not, how long, what was done (or is left)."""
        if self.flat:
            return (
                f"kill switch: FLAT in {self.elapsed_ms:.0f} ms — {self.cancelled} order(s) cancelled, "
                f"{len(self.closed)} close fill(s), {self.rounds} round(s)"
            )
        unread = [v.venue for v in self.venues if not v.account_read]
        if unread:
            left = f"{', '.join(unread)} account(s) never read: positions and orders unknown"
        else:
            left = (
                f"{len(self.remaining_positions)} position(s), {len(self.remaining_orders)} order(s)"
                + (f", {len(self.remaining_spot)} carry spot leg(s)" if self.remaining_spot else "")
                + " left"
            )
        why = f": {self.failures[0]}" if self.failures else ""
        return f"kill switch: NOT FLAT after {self.elapsed_ms:.0f} ms — {left}{why}"


@dataclass(slots=True)
class KillPlan:
    """One round of the kill switch on one venue: ``cancels`` (every open order),
    ``closes`` (reduce-only IOCs, one per position), ``spot_sells`` (IOCs selling carry spot)
    and ``skipped`` (one line per thing that cannot be sent, with the reason)."""

    cancels: list[OpenOrder] = field(default_factory=list)
    closes: list[OrderIntent] = field(default_factory=list)
    spot_sells: list[OrderIntent] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _usable(px: float | None) -> TypeGuard[float]:
    return px is not None and math.isfinite(px) and px > 0


def carry_spot_to_sell(account: VenueAccount) -> dict[str, float]:
    """The carry spot legs of ``account``: per asset, ``min(spot, |perp short|)`` base units
    where spot of the asset is held against a short perp of it (``docs/domain.md`` §3)."""
    shorts = {p.symbol: -p.size for p in account.positions if p.size < 0}
    out: dict[str, float] = {}
    for b in account.spot:
        short = shorts.get(b.coin, 0.0)
        if b.total > 0 and short > 0:
            out[b.coin] = out.get(b.coin, 0.0) + min(b.total, short)
    return out


def plan_kill(
    om: OrderManager,
    orders: Sequence[OpenOrder],
    positions: Sequence[Position],
    mids: Mapping[str, float],
    slippage: float,
    *,
    spot_left: Mapping[str, float] | None = None,
    spot_held: Sequence[SpotBalance] = (),
    new_cloid: Callable[[], str] = lambda: Cloid.new().raw,
) -> KillPlan:
    """The round for ``om``'s venue: cancel every order; close every position with a
    reduce-only IOC for its full size (rounded to the nearest lot: a reduce-only order cannot
    exceed the position) at mid (else the position's mark) ± ``slippage``, rounded away from
    mid; sell ``spot_left`` (asset → base units still to sell, capped by ``spot_held``) with IOCs
    on the asset's spot pair. Zero-size positions are ignored; what cannot be priced or sized is
    in ``skipped`` with the reason, never silently dropped."""
    plan = KillPlan(cancels=list(orders))
    for p in positions:
        if p.size == 0:
            continue
        inst = om.instrument(p.symbol)
        if inst is None:
            plan.skipped.append(f"{om.venue} {p.symbol}: not in the venue's markets; close it by hand")
            continue
        ref = mids.get(p.symbol)
        if not _usable(ref):
            ref = p.mark_px if _usable(p.mark_px) else None
        if ref is None:
            plan.skipped.append(f"{om.venue} {p.symbol}: no price to close at")
            continue
        is_buy = p.size < 0
        try:
            size = inst.rules.round_size(abs(p.size))
            px = inst.rules.aggressive_price(ref, is_buy, slippage)
        except ValueError as exc:
            plan.skipped.append(f"{om.venue} {p.symbol}: close cannot be priced: {exc}")
            continue
        if size <= 0:
            plan.skipped.append(f"{om.venue} {p.symbol}: size {fmt_sz(abs(p.size))} is below one lot")
            continue
        plan.closes.append(OrderIntent(p.symbol, inst.asset_id, is_buy, size, px, "Ioc", True, new_cloid(), "kill"))
    held = {b.coin: b.total for b in spot_held}
    for asset, qty in (spot_left or {}).items():
        pair = getattr(om.client, "spot_pair_of", lambda _a: None)(asset)
        qty = min(qty, held.get(asset, 0.0))
        if pair is None or qty <= 0:
            continue
        ref = mids.get(pair.symbol)
        if not _usable(ref):
            plan.skipped.append(f"{om.venue} {asset} spot: no price to sell at")
            continue
        size = pair.rules.floor_size(qty)
        if size <= 0 or size * ref < SPOT_DUST_USD:
            continue
        try:
            px = pair.rules.aggressive_price(ref, False, slippage)
        except ValueError as exc:
            plan.skipped.append(f"{om.venue} {asset} spot: sale cannot be priced: {exc}")
            continue
        plan.spot_sells.append(
            OrderIntent(pair.symbol, pair.asset_id, False, size, px, "Ioc", False, new_cloid(), "kill")
        )
    return plan


async def kill_venue(
    om: OrderManager,
    *,
    deadline: float,
    slippage: float,
    mono: Callable[[], float],
    gate: Callable[[str, OrderIntent], str | None] | None = None,
    progress: Callable[[VenueKillReport], None] | None = None,
    started: float | None = None,
    marks: Callable[[str], float | None] | None = None,
) -> VenueKillReport:
    """Run the kill switch on ``om``'s venue until flat or ``deadline`` (``mono`` seconds).

    ``gate(venue, intent)`` is the desk's risk gate (``None`` passes; a refusal is a failure
    line). ``progress`` is called after every round. ``marks(symbol)`` is the desk's live price
    of a market of this venue (the console's feed), used when no fresh venue mid is at hand; a
    position's own mark otherwise. Never raises for a venue failure.
    """
    URGENT.set(True)  # this task's requests never wait behind the local rate budget
    t0 = mono() if started is None else started
    report = VenueKillReport(om.venue)
    last: AccountSnapshot | None = om.snapshot
    mids: dict[str, float] = dict(om.mids)
    keep_spot: dict[str, float] | None = None  # asset → spot balance that stays (not a carry leg)
    failures: list[str] = []
    report.account_read = last is not None
    last_why: dict[str, str] = {}  # the last real failure of each read, kept across rounds
    mids_at = -math.inf if not mids else mono()
    spot_pending = True  # a carry's spot leg may be left to sell (until a spot reading says not)
    unread = 0  # rounds in a row in which neither the account nor the orders could be read
    spot_client = om.client if holds_spot(om.client) else None
    spot_capable = spot_client is not None
    spot_task: asyncio.Task[tuple[tuple[SpotBalance, ...], float] | None] | None = None
    first_positions: tuple[Position, ...] | None = None  # the perp positions when the kill began
    settled = False  # the reading after a round's pause: plan the next round on it
    # a desk that has read the account lately (the console polls it) sends round 1 on that reading
    # at once: a round costs a verification more, but the orders are out a read sooner. Closes are
    # reduce-only (one sent on a stale reading can never open anything) and the rounds go on
    # until a fresh reading is flat
    at_once = last is not None and bool(om.instruments) and om.wall_ms() - last.read_ms <= RECENT_READING_MS
    if at_once and last is not None:
        first_positions = last.account.positions
    try:
        while mono() < deadline:
            why_account: list[str] = []
            why_orders: list[str] = []
            why_markets: list[str] = []
            # a verification reads what can have changed: the perp account and the orders; spot while
            # a carry leg may be left to sell (the first spot reading does not hold up round 1: the
            # perps are closed first); prices when a position has no mark of its own; markets once
            if spot_client is not None and spot_pending and spot_task is None:
                spot_task = asyncio.ensure_future(
                    read_retrying(
                        spot_client.spot, deadline=deadline, budget_s=READ_BUDGET_S, mono=mono, patience=unread
                    )
                )
            unmarked = [p.symbol for p in last.account.positions if p.size and not _usable(p.mark_px)] if last else []
            stale = mono() - mids_at > MIDS_MAX_AGE_S
            mids_due = (spot_pending and keep_spot is not None) or any(s not in mids or stale for s in unmarked)
            account_read = read_retrying(
                (lambda: spot_client.account(spot=False)) if spot_client is not None else om.client.account,
                deadline=deadline,
                budget_s=READ_BUDGET_S,
                mono=mono,
                errors=why_account,
                patience=unread,
            )
            orders_read = read_retrying(
                om.client.open_orders,
                deadline=deadline,
                budget_s=READ_BUDGET_S,
                mono=mono,
                errors=why_orders,
                patience=unread,
            )
            mids_read = (
                read_retrying(om.client.mids, deadline=deadline, budget_s=READ_BUDGET_S, mono=mono, patience=unread)
                if mids_due
                else asyncio.sleep(0, result=None)
            )
            more_reads: list[Awaitable[object]] = []
            if spot_task is not None and keep_spot is not None:
                more_reads.append(spot_task)  # confirming a carry sale: this round waits for the spot
            if not om.instruments:  # markets first read concurrently with the account
                more_reads.append(
                    read_retrying(
                        om.load_instruments,
                        deadline=deadline,
                        budget_s=READ_BUDGET_S,
                        mono=mono,
                        errors=why_markets,
                        patience=unread,
                    )
                )
            account: VenueAccount | None
            orders: list[OpenOrder] | None
            fresh_mids: dict[str, float] | None
            if at_once:
                for job in (account_read, orders_read, mids_read, *more_reads):
                    if asyncio.iscoroutine(job):
                        job.close()  # not awaited: round 1 goes on the reading the desk has
                account = orders = fresh_mids = None
            else:
                # the three reads as tasks of their own (created in the order gather would create
                # them), so that each answer keeps its type
                account_job = asyncio.ensure_future(account_read)
                orders_job = asyncio.ensure_future(orders_read)
                mids_job = asyncio.ensure_future(mids_read)
                await asyncio.gather(account_job, orders_job, mids_job, *more_reads)
                account, orders, fresh_mids = account_job.result(), orders_job.result(), mids_job.result()
            spot_reading = None
            if spot_task is not None and spot_task.done():
                spot_reading = spot_task.result()
                spot_task = None
            if account is not None and first_positions is None:
                first_positions = account.positions
            if account is not None and spot_capable:
                if spot_reading is not None:
                    account = replace(account, spot=spot_reading[0], spot_cash_usd=spot_reading[1])
                elif last is not None:
                    account = replace(account, spot=last.account.spot, spot_cash_usd=last.account.spot_cash_usd)
            fresh = account is not None and orders is not None
            if fresh_mids is not None:
                mids = dict(fresh_mids)
                om.mids = mids
                mids_at = mono()
            if account is not None:
                report.account_read = True
            if account is not None or orders is not None:
                prev = last
                acc = account if account is not None else (prev.account if prev is not None else None)
                ords = tuple(orders) if orders is not None else (prev.orders if prev is not None else ())
                if acc is not None:
                    last = AccountSnapshot(acc, ords, om.wall_ms())
                    om.snapshot = last
            for key, errs in (("markets", why_markets), ("account", why_account), ("orders", why_orders)):
                real = [e for e in errs if e != "deadline reached"]
                if real:
                    last_why[key] = real[-1]
            if report.rounds and mono() >= deadline and (account is None or orders is None):
                break  # the deadline cut this verification short: the last round's failures stand
            read_failures: list[str] = []
            known = "acting on the last known state" if last is not None else "nothing known of it yet"
            if at_once:
                at_once = False
                account_skipped = True
            else:
                account_skipped = False
            if not om.instruments:
                read_failures.append(
                    f"{om.venue}: markets could not be read ({last_why.get('markets', 'no answer')}); "
                    "nothing can be priced or cancelled"
                )
            if account is None and not account_skipped:
                read_failures.append(
                    f"{om.venue}: account read failed ({last_why.get('account', 'no answer')}); {known}"
                )
            if orders is None and not account_skipped:
                read_failures.append(
                    f"{om.venue}: open orders read failed ({last_why.get('orders', 'no answer')}); {known}"
                )
            if read_failures:
                failures = read_failures
            if not account_skipped:
                unread = 0 if (account is not None or orders is not None) else unread + 1
            report.attempts += 1
            if last is None:
                report.failures = read_failures
                report.elapsed_ms = (mono() - t0) * 1000
                if progress is not None:
                    progress(report)
                if mono() >= deadline:
                    break
                await asyncio.sleep(
                    min(UNREAD_PAUSE_MAX_S * 2 ** (unread - 5), UNREAD_PAUSE_MAX_S, max(0.0, deadline - mono()))
                )
                continue
            positions = [p for p in last.account.positions if p.size != 0]
            if spot_capable and keep_spot is None and spot_reading is not None and first_positions is not None:
                carry = carry_spot_to_sell(replace(last.account, positions=first_positions, spot=spot_reading[0]))
                keep_spot = {b.coin: b.total - carry.get(b.coin, 0.0) for b in spot_reading[0]}
            spot_left = _spot_left(last.account, keep_spot or {})
            spot_left = {a: q for a, q in spot_left.items() if _spot_worth(om, a, q, mids) >= SPOT_DUST_USD}
            if spot_reading is not None and keep_spot is not None:
                spot_pending = bool(spot_left)
            report.remaining_positions = positions
            report.remaining_orders = list(last.orders)
            report.remaining_spot = [
                f"{a} spot {fmt_sz(q)} of a carry still held" for a, q in sorted(spot_left.items())
            ]
            spot_known = not spot_capable or (keep_spot is not None and not spot_pending)
            if fresh and not positions and not last.orders and not spot_left and spot_known:
                if report.acked_ms is None:  # nothing to send: verified flat is this venue's answer
                    report.acked_ms = (mono() - t0) * 1000
                report.flat = True
                failures = []
                break
            if mono() >= deadline:
                break
            if report.rounds and not settled:
                # the verification right after a round shows something left: give a thin book (or a
                # slow venue) a moment and read again before the next round is planned
                pause = ROUND_PAUSE_S[0] if report.rounds < 3 else ROUND_PAUSE_S[1]
                if unread:
                    pause = min(UNREAD_PAUSE_MAX_S, pause * 2 ** (unread - 1))
                await asyncio.sleep(min(pause, max(0.0, deadline - mono())))
                settled = True
                continue
            settled = False
            prices = dict(mids) if mono() - mids_at <= MIDS_MAX_AGE_S else {}
            if marks is not None:
                for p in positions:
                    if p.symbol not in prices and _usable(px := marks(p.symbol)):
                        prices[p.symbol] = px
            plan = plan_kill(
                om, last.orders, positions, prices, slippage, spot_left=spot_left, spot_held=last.account.spot
            )
            round_failures = read_failures + plan.skipped
            intents = []
            for it in plan.closes + plan.spot_sells:
                refusal = gate(om.venue, it) if gate is not None else None
                if refusal is not None:
                    round_failures.append(f"{om.venue} {it.symbol} close refused: {refusal}")
                else:
                    intents.append(it)
            if not plan.cancels and not intents:
                failures = round_failures
                if fresh:  # nothing that can be sent, and a fresh reading says it is not flat
                    await asyncio.sleep(min(ROUND_PAUSE_S[1], max(0.0, deadline - mono())))
                settled = True  # read again (at once when the reading was not a fresh one)
                continue
            try:
                if om.journal is not None and om._journal_root is not None:  # noqa: SLF001 - one transaction for the round
                    with om._journal_root.batch():  # noqa: SLF001
                        om.journal_before_cancel(plan.cancels)
                        om._journal_intents(intents)  # noqa: SLF001
            except Exception as exc:  # noqa: BLE001 - an order that is not journalled does not leave
                round_failures.append(f"{om.venue}: journal refused the round ({exc}); nothing sent")
                failures = round_failures
                await asyncio.sleep(min(0.1, max(0.0, deadline - mono())))
                continue
            left = max(0.01, deadline - mono())
            jobs: list[Awaitable[Any]] = []
            if plan.cancels:
                jobs.append(_cancel(om, plan.cancels, left))
            if intents:
                jobs.append(om.send(intents, journalled=True, settle_lost=False, timeout_s=left, retry_refused_s=left))
            answers = await asyncio.gather(*jobs, return_exceptions=True)
            if report.acked_ms is None:
                report.acked_ms = (mono() - t0) * 1000
            report.rounds += 1
            for ans in answers:
                if isinstance(ans, BaseException):
                    round_failures.append(f"{om.venue}: {type(ans).__name__}: {ans}")
                elif isinstance(ans, tuple):
                    done, cancel_failures = ans
                    report.cancelled += done
                    round_failures += cancel_failures
                else:
                    for out in ans:
                        it = out.intent
                        if out.status == "filled" and out.filled_sz > 0:
                            verb = "bought" if it.is_buy else "sold"
                            what = f"{it.symbol} spot" if it in plan.spot_sells else it.symbol
                            price = out.answer.avg_px if out.answer is not None else None
                            report.closed.append(
                                f"{'' if om.venue == 'hyperliquid' else om.venue + ' '}{what} {verb} "
                                f"{fmt_sz(out.filled_sz)} @ {fmt_px(price or 0)}"
                            )
                        elif out.status != "filled":
                            round_failures.append(f"{om.venue} {it.symbol} close: {out.message}")
            failures = round_failures
            report.failures = failures
            report.elapsed_ms = (mono() - t0) * 1000
            if progress is not None:
                progress(report)

    finally:
        if spot_task is not None:
            spot_task.cancel()
    report.elapsed_ms = (mono() - t0) * 1000
    if report.flat:
        report.failures = []
    else:
        left_lines = report.left()
        report.failures = _dedupe(failures + left_lines) or [f"{om.venue}: not verified flat before the deadline"]
    if progress is not None:
        progress(report)
    return report


def _spot_left(account: VenueAccount, keep: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for b in account.spot:
        if b.coin in keep:
            extra = b.total - keep[b.coin]
            if extra > 1e-12:
                out[b.coin] = extra
    return out


def _spot_worth(om: OrderManager, asset: str, qty: float, mids: Mapping[str, float]) -> float:
    pair = getattr(om.client, "spot_pair_of", lambda _a: None)(asset)
    px = mids.get(pair.symbol) if pair is not None else None
    if not _usable(px):
        px = mids.get(asset)
    return qty * px if _usable(px) else math.inf


async def _cancel(om: OrderManager, orders: Sequence[OpenOrder], timeout_s: float) -> tuple[int, list[str]]:
    """Cancel ``orders``: natively per market where the venue can (journalled as cancelled when
    it answers), else listed in batches."""
    if om.client.capabilities.native_cancel_all:
        symbols = sorted({o.symbol for o in orders})
        try:
            await refused_retrying(lambda: om.client.cancel_all(symbols), timeout_s, time.monotonic() + timeout_s)
        except (VenueError, TimeoutError, OSError) as exc:
            return 0, [f"{om.venue} cancel-all failed: {exc or 'timed out'}"]
        if om.journal is not None:
            try:
                om.journal.record_cancels([{"cloid": o.cloid, "oid": o.oid, "status": "cancelled"} for o in orders])
            except Exception as exc:  # noqa: BLE001
                log.error("journal: cancel answers not recorded: %s", exc)
        return len(orders), []
    return await om.cancel(orders, purpose="kill", journalled=True, timeout_s=timeout_s, retry_refused_s=timeout_s)


def _dedupe(lines: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(lines))
