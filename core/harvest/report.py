"""P&L attribution report from the trading journal (``docs/domain.md`` §7, §1).

Every position is split into the four terms of seed 000's attribution::

    net = spot_pnl + perp_pnl + funding_pnl − fees

all in USD. The report works on any journal: one written by the harvester (which logs a
``harvest_open`` event per position) or one holding only manual fills and funding.

**Positions.** Fills are grouped by *underlying*: a perp fill's symbol (``"BTC"``) is its
own underlying; a spot fill's pair (``"@142"``, ``"PURR/USDC"``) is mapped to the perp
symbol of its base token (``@142`` → ``UBTC`` → ``BTC``, see :func:`default_spot_map`).
Replaying the fills of one underlying in time order, a position opens with the first fill
that leaves either leg non-flat and closes with the fill after which *both* the perp leg
and the spot leg are flat again. It therefore contains the perp leg's round trip from flat to
flat (open, adds, partial closes, close) and the spot fills of the same underlying in that
window, whichever leg was traded first. A perp fill that flips the position through zero
while the spot leg is flat closes the position and opens a new one with the remainder (the
fill's fee is split pro rata). A spot remainder worth less than ``dust_usd`` (default 10 USD,
Hyperliquid's minimum order value: it cannot be sold on its own, typically the lot rounding left
by a fee charged in the base token) and less than a tenth of the spot leg's peak value counts
as flat; it stays in the spot book (a later sale of it is credited to the last position of
that underlying, a later buy averages with it).

**Realised P&L: average-cost accounting**, for each leg separately. Opening or adding moves
the average entry to the size-weighted mean of the fills; reducing realises
``closed × (px − avg)`` for a long and ``closed × (avg − px)`` for a short (§7: a short's
perp P&L is ``(entry − exit) × size``) and leaves the average unchanged; flipping through
zero realises the closed part and restarts the average at the fill price. This is the rule
Hyperliquid applies to ``closedPnl`` (and the simulator reproduces), so ``perp_pnl`` of a
closed perp round trip equals the sum of the venue's ``closed_pnl`` of its fills.

**Spot leg.** Only what the journal shows is known: a spot sale beyond the inventory bought
since the journal started (or since the replay start) has no cost basis; its proceeds are
excluded from ``spot_pnl`` and the position carries a note. A spot fee charged in the base
token (Hyperliquid charges a spot buy's fee in the token received) leaves the inventory as a
disposal at the fill price: it realises ``fee × (px − avg)`` in ``spot_pnl`` (zero after a
single buy) and counts ``fee × px`` USD in ``fees``, which keeps ``net`` equal to the cash
result once the position is flat.

**Fees** are converted to USD: a stablecoin (USDC…) 1:1; a token of the fill's own
underlying (``UBTC`` on a BTC fill) × the fill price; another token × its ``marks`` price
when given, else it is left out with a note. Rebates (negative fees) reduce ``fees``.

**Funding** is the sum of the journal's funding payments (``usdc``, positive = received)
of the perp symbol with ``opened_ms ≤ time ≤ closed_ms`` (open positions: from
``opened_ms`` on). Payments outside every position (a position opened before the journal's
first fill) are reported as ``unattributed_funding``, outside the totals.

**Realised funding APR** (§1 annualisation, a year = 8760 h): ``funding_pnl / (avg_notional
× held_years)`` where ``avg_notional`` is the time-weighted mean of the perp leg's notional
``|size| × last fill px`` (USD) over the holding time: only the perp leg earns funding.

**Perp against perp.** Fills journalled under a hedge venue's label (:data:`HEDGE_VENUES`,
``"binance"``) are the *other* perp leg of the same underlying (the Binance order manager journals
them under the Hyperliquid symbol): a third book, average cost like the first perp leg, whose
realised P&L joins ``perp_pnl``. The position closes when every leg is flat, so its funding is
both venues' payments over its life.

**Books.** A journal holds many accounts (:class:`pfterm.core.trading.journal.AccountRef`); ``book=`` replays
only the fills, funding, intents and events of one :class:`pfterm.core.trading.journal.Book`'s accounts (a
Hyperliquid account and the Binance account hedging it), so that nothing of another account —
another simulator session reusing trade ids, another wallet — is ever mixed in. Inside a book
the hedge venue's fills are the other perp leg (above); a book without a Hyperliquid account
(a Binance account on its own) reports them as its own perp leg. Without ``book`` the whole
journal is replayed as one (the process-wide form, every account merged). Sync gaps the
journal recorded for the accounts (:meth:`pfterm.core.trading.journal.AccountJournal.record_gap`) are listed
in the notes: funding or fills in them are missing from the figures.

**Open positions** are listed with ``closed_ms = None`` and their legs still held in
``open_legs`` (:class:`OpenLeg`: size, average entry, mark, unrealised P&L). ``status`` is
``"closed"``, ``"open"`` or ``"partly open"`` — a leg traded in the position is flat again
while another is still held (the perp bought back, the spot still held): the realised figures
of such a position are not a round trip's. Without a mark a position's open legs are
*unpriced*: only realised P&L, funding and fees so far are counted, ``unrealised`` is
``None`` and a note says so (never a silent zero). With ``marks`` (USD by perp symbol; a spot
leg is marked at its underlying's perp symbol) the open legs are marked: ``unrealised`` is their
P&L at the marks, *included* in ``spot_pnl``/``perp_pnl``/``net`` (so that ``net`` is the
change of equity), and ``realised_net`` / ``realised_spot_pnl`` / ``realised_perp_pnl`` give
the realised part apart; ``net_with_unrealised`` is ``net`` when every open leg is priced and
``None`` otherwise.

**Strategy.** A ``harvest_open`` event (detail ``position_id``, ``symbol``, ``side``,
``strategy``, optionally ``cloids``) is matched to a position of the same symbol by cloid
when the event lists the orders' cloids, else by time: the event closest to the position's
opening among those logged from ``EVENT_SLACK_MS`` before it opened to when it closed (the
event clock is the journal's wall clock, the fill clock the venue's). The event gives the
position its id, side and strategy; a ``harvest_close`` event with the same ``position_id``
gives the close reason. Without an event a position whose orders were journalled with
purpose ``"harvest"`` is ``"harvest"``, otherwise ``"manual"``.

**Window.** ``since_ms`` selects the positions still open at or closed after ``since_ms``
(ms UTC); each selected position is reported whole (the replay always starts at the
journal's first fill so that entry prices are right).

Nothing here imports Textual; times are ms UTC, sizes base units, money USD.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from pfterm.core.trading.journal import AccountJournal, AccountRef, Book, Event, Journal, SyncGap
from pfterm.core.venues.records import Fill, FundingPayment

__all__ = [
    "EVENT_SLACK_MS",
    "OpenLeg",
    "PnlReport",
    "PnlTotals",
    "PositionPnl",
    "books_matching",
    "build_report",
    "default_spot_map",
    "parse_since",
    "report_json",
    "report_text",
]

MS_PER_YEAR: Final = 8760 * 3_600_000
"""Milliseconds in a year of 8760 hours (``docs/domain.md`` §1 annualisation)."""

EVENT_SLACK_MS: Final = 10 * 60_000
"""A ``harvest_open`` event may be logged up to this long (ms) before its position's first fill."""

DEFAULT_DUST_USD: Final = 10.0
"""Spot remainder (USD) below which a spot leg counts as flat (Hyperliquid's minimum order value)."""

HEDGE_VENUES: Final = frozenset({"binance"})
"""Journal venue labels of a second venue's perp: its fills are the hedge leg of a
perp-against-perp position (``pfterm.core.trading.binance``), not a second perp position."""

STABLECOINS: Final = frozenset({"USDC", "USDT", "USDT0", "USDE", "USDH", "USDHL", "USD"})
"""Fee tokens converted 1:1 to USD (the same list as :data:`pfterm.core.trading.STABLECOINS`)."""

_DEFAULT_ALIASES: Final[Mapping[str, str]] = {"UBTC": "BTC", "UETH": "ETH", "USOL": "SOL", "UFART": "FARTCOIN"}
_SPOT_META: Final = Path(__file__).resolve().parents[1] / "sim" / "data" / "spotMeta.json"
_PAGE: Final = 100_000
_QTY_RTOL: Final = 1e-9


# --------------------------------------------------------------------------- mapping


def default_spot_map(
    aliases: Mapping[str, str] | None = None, spot_meta: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Spot pair name as it appears in fills → perp symbol of its base token.

    Built from a Hyperliquid ``spotMeta`` answer (default: the packaged
    ``core/sim/data/spotMeta.json``; ``universe[i].tokens[0]`` is the base token index) and
    ``aliases`` (token → perp symbol, default ``UBTC→BTC, UETH→ETH, USOL→SOL,
    UFART→FARTCOIN``, :data:`pfterm.core.trading.hyperliquid.SPOT_ALIASES`). Pairs named ``"BASE/QUOTE"`` not in
    the table are resolved by name at lookup time (:func:`_underlying`).
    """
    aliases = _DEFAULT_ALIASES if aliases is None else aliases
    if spot_meta is None:
        try:
            spot_meta = json.loads(_SPOT_META.read_text("utf-8"))
        except (OSError, ValueError):
            spot_meta = {"universe": [], "tokens": []}
    tokens = {t["index"]: t["name"] for t in spot_meta.get("tokens", [])}
    out: dict[str, str] = {}
    for pair in spot_meta.get("universe", []):
        base = tokens.get(pair["tokens"][0])
        if base is not None:
            out[str(pair["name"])] = aliases.get(base, base)
    return out


def _underlying(symbol: str, spot_map: Mapping[str, str], aliases: Mapping[str, str]) -> tuple[str, bool]:
    """``(underlying perp symbol, is_spot)`` of a fill's symbol."""
    if symbol in spot_map:
        return spot_map[symbol], True
    if "/" in symbol:
        base = symbol.split("/", 1)[0]
        return aliases.get(base, base), True
    if symbol.startswith("@"):
        return symbol, True  # an unknown spot pair: its own underlying (noted on the position)
    return symbol, False


# --------------------------------------------------------------------------- results


@dataclass(slots=True, frozen=True)
class OpenLeg:
    """One leg of an open position still held: ``leg`` ``"perp"``, ``"spot"`` or ``"hedge"``
    (the hedge venue's perp of a perp-against-perp position), its ``venue``, ``size`` (base
    units, signed for a perp: negative = short), ``avg_px`` the average entry (USD, average
    cost), ``mark`` the USD price it was marked at (``None``: unpriced) and
    ``unrealised_pnl`` = ``size × (mark − avg_px)`` (USD; ``None`` when unpriced)."""

    leg: str
    venue: str
    size: float
    avg_px: float
    mark: float | None
    unrealised_pnl: float | None

    @property
    def priced(self) -> bool:
        """True when the leg was marked."""
        return self.unrealised_pnl is not None


@dataclass(slots=True)
class PositionPnl:
    """One position's attribution (``docs/domain.md`` §7). Money USD, times ms UTC.

    ``id``: the harvester's ``position_id`` or ``"<symbol>-<opened_ms>"``; ``symbol`` the
    underlying perp symbol; ``strategy`` from the ``harvest_open`` event, else
    ``"harvest"``/``"manual"``; ``side`` ``"short_perp"``/``"long_perp"`` (the perp leg's
    first direction) or ``"long_spot"``/``"short_spot"`` without a perp leg;
    ``closed_ms`` ``None`` while open. ``spot_pnl``/``perp_pnl`` realised by average cost
    (plus the marked unrealised part for open positions when a mark was given,
    ``unrealised``), ``funding_pnl`` received funding, ``fees`` paid fees, ``net`` =
    spot + perp + funding − fees. ``notional_usd``: the largest leg notional reached
    (``|size| × last fill px``). ``funding_apr_realised``: ``funding / (avg perp notional ×
    held years)``, ``None`` without perp exposure time. ``perp_size``/``spot_size``: what is
    still held (base units, signed perp). ``hedge_venue``/``hedge_size``: the second venue of
    a perp-against-perp position and its perp leg still held (signed base units); both perp
    legs' P&L is in ``perp_pnl``, both venues' funding in ``funding_pnl``. ``open_legs``: the
    legs still held (:class:`OpenLeg`), ``partly_open`` a leg of the position is flat again while
    another is held. ``notes``: caveats (unmatched spot sale, fee not converted, open legs
    unpriced, partly open…).
    """

    id: str
    symbol: str
    strategy: str
    side: str
    opened_ms: int
    closed_ms: int | None
    spot_pnl: float = 0.0
    perp_pnl: float = 0.0
    funding_pnl: float = 0.0
    fees: float = 0.0
    notional_usd: float = 0.0
    funding_apr_realised: float | None = None
    unrealised: float | None = 0.0
    perp_size: float = 0.0
    spot_size: float = 0.0
    close_reason: str | None = None
    fills: int = 0
    venue_closed_pnl: float = 0.0
    hedge_venue: str | None = None
    hedge_size: float = 0.0
    notes: list[str] = field(default_factory=list)
    # time-weighted perp notional, USD·ms (for the APR)
    notional_ms: float = 0.0
    open_legs: list[OpenLeg] = field(default_factory=list)
    partly_open: bool = False

    @property
    def net(self) -> float:
        """``spot_pnl + perp_pnl + funding_pnl − fees`` (USD, §7); with marks, open legs at
        the marks included."""
        return self.spot_pnl + self.perp_pnl + self.funding_pnl - self.fees

    @property
    def is_open(self) -> bool:
        """True while the position is not flat."""
        return self.closed_ms is None

    @property
    def status(self) -> str:
        """``"closed"``, ``"open"`` or ``"partly open"`` (a leg closed, another still held)."""
        if not self.is_open:
            return "closed"
        return "partly open" if self.partly_open else "open"

    @property
    def unpriced(self) -> bool:
        """True for an open position whose open legs have no mark (unrealised unknown)."""
        return self.is_open and self.unrealised is None

    @property
    def unrealised_spot(self) -> float:
        """Marked unrealised P&L of the spot leg (USD) included in ``spot_pnl`` (0 if none)."""
        return sum(leg.unrealised_pnl or 0.0 for leg in self.open_legs if leg.leg == "spot")

    @property
    def unrealised_perp(self) -> float:
        """Marked unrealised P&L of the perp legs (USD) included in ``perp_pnl`` (0 if none)."""
        return sum(leg.unrealised_pnl or 0.0 for leg in self.open_legs if leg.leg != "spot")

    @property
    def realised_spot_pnl(self) -> float:
        """Realised spot P&L (USD)."""
        return self.spot_pnl - self.unrealised_spot

    @property
    def realised_perp_pnl(self) -> float:
        """Realised perp P&L of both perp legs (USD)."""
        return self.perp_pnl - self.unrealised_perp

    @property
    def realised_net(self) -> float:
        """``net`` without the marked unrealised legs (USD): realised spot + perp + funding − fees."""
        return self.net - (self.unrealised or 0.0)

    @property
    def net_with_unrealised(self) -> float | None:
        """``net`` with every open leg at its mark (USD); ``None`` when an open leg is unpriced."""
        return None if self.unpriced else self.net


@dataclass(slots=True)
class PnlTotals:
    """Sums over a set of positions (USD); ``win_rate`` = closed with ``net > 0`` / closed
    (``None`` without closed positions); ``funding_apr_realised`` = Σ funding / Σ (avg perp
    notional × held years) (``None`` without perp exposure time)."""

    positions: int = 0
    closed: int = 0
    wins: int = 0
    spot_pnl: float = 0.0
    perp_pnl: float = 0.0
    funding_pnl: float = 0.0
    fees: float = 0.0
    notional_ms: float = 0.0
    open: int = 0
    partly_open: int = 0
    unpriced: int = 0
    unrealised_spot: float = 0.0
    unrealised_perp: float = 0.0

    @property
    def net(self) -> float:
        """``spot_pnl + perp_pnl + funding_pnl − fees`` (USD; marked open legs included)."""
        return self.spot_pnl + self.perp_pnl + self.funding_pnl - self.fees

    @property
    def unrealised(self) -> float:
        """Marked unrealised P&L of the priced open legs (USD)."""
        return self.unrealised_spot + self.unrealised_perp

    @property
    def realised_net(self) -> float:
        """``net`` without the marked unrealised legs (USD)."""
        return self.net - self.unrealised

    @property
    def net_with_unrealised(self) -> float | None:
        """``net`` with every open leg at its mark; ``None`` when an open position is unpriced."""
        return None if self.unpriced else self.net

    @property
    def win_rate(self) -> float | None:
        """Closed positions with positive net / closed positions."""
        return self.wins / self.closed if self.closed else None

    @property
    def funding_apr_realised(self) -> float | None:
        """Realised funding APR over these positions (fraction, §1)."""
        if self.notional_ms <= 0:
            return None
        return self.funding_pnl / (self.notional_ms / MS_PER_YEAR)

    def add(self, p: PositionPnl) -> None:
        """Add one position."""
        self.positions += 1
        if not p.is_open:
            self.closed += 1
            self.wins += p.net > 0
        else:
            self.open += 1
            self.partly_open += p.partly_open
            self.unpriced += p.unpriced
        self.spot_pnl += p.spot_pnl
        self.perp_pnl += p.perp_pnl
        self.funding_pnl += p.funding_pnl
        self.fees += p.fees
        self.notional_ms += p.notional_ms
        self.unrealised_spot += p.unrealised_spot
        self.unrealised_perp += p.unrealised_perp


@dataclass(slots=True)
class PnlReport:
    """The report: ``positions`` (oldest first), ``by_strategy`` totals, the grand ``total``,
    ``since_ms`` the window start (ms UTC, ``None`` = whole journal), ``as_of_ms`` the time
    open positions are measured to, ``unattributed_funding`` funding (USD) received outside
    every position (not in the totals), ``marked`` whether marks were given, ``book`` the
    book replayed (``None``: the whole journal), ``gaps`` the sync gaps of its accounts
    overlapping the window, ``notes`` report-wide caveats."""

    positions: list[PositionPnl]
    by_strategy: dict[str, PnlTotals]
    total: PnlTotals
    since_ms: int | None
    as_of_ms: int
    unattributed_funding: float = 0.0
    marked: bool = False
    notes: list[str] = field(default_factory=list)
    book: Book | None = None
    gaps: list[SyncGap] = field(default_factory=list)

    @property
    def win_rate(self) -> float | None:
        """Closed positions with net > 0 / closed positions (``None`` without any)."""
        return self.total.win_rate

    @property
    def funding_apr_realised(self) -> float | None:
        """Overall realised funding APR (fraction)."""
        return self.total.funding_apr_realised


# --------------------------------------------------------------------------- replay


@dataclass(slots=True)
class _Book:
    """Running state of one underlying's two legs."""

    perp_q: float = 0.0
    perp_avg: float = 0.0
    perp_px: float = 0.0  # last perp fill px
    perp_t: int = 0  # time of the last perp notional change
    spot_q: float = 0.0
    spot_avg: float = 0.0
    spot_px: float = 0.0
    spot_peak: float = 0.0  # peak spot value (USD) in the current position
    perp_scale: float = 0.0
    hedge_q: float = 0.0  # the hedge venue's perp leg (signed base units), perp against perp
    hedge_avg: float = 0.0
    hedge_scale: float = 0.0
    perp_venue: str = ""
    spot_venue: str = ""
    pos: PositionPnl | None = None


def _flat(q: float, scale: float) -> bool:
    return abs(q) <= max(scale, 1e-12) * _QTY_RTOL


def _fee_usd(
    fill: Fill, underlying: str, aliases: Mapping[str, str], marks: Mapping[str, float] | None
) -> tuple[float, str | None]:
    token = fill.fee_token
    if fill.fee == 0 or token.upper() in STABLECOINS:
        return fill.fee, None
    if aliases.get(token, token) == underlying or token == fill.symbol:
        return fill.fee * fill.px, None
    px = (marks or {}).get(aliases.get(token, token))
    if px is not None:
        return fill.fee * float(px), None
    return 0.0, f"fee of {fill.fee:g} {token} not converted to USD (no price)"


def _all_fills(source: AccountJournal) -> list[Fill]:
    """Every fill of one account, oldest first (paged past the journal's per-call limit)."""
    out: list[Fill] = []
    seen: set[tuple[str, int, str]] = set()
    since: int | None = None
    while True:
        batch = source.fills(since, limit=_PAGE)
        new = [f for f in batch if (f.venue, f.tid, f.hash) not in seen]
        for f in new:
            seen.add((f.venue, f.tid, f.hash))
        out.extend(new)
        if len(batch) < _PAGE or not new:
            return out
        since = batch[-1].time_ms


def _all_funding(source: AccountJournal) -> list[FundingPayment]:
    out: list[FundingPayment] = []
    seen: set[tuple[str, int, str]] = set()
    since: int | None = None
    while True:
        batch = source.funding(since, limit=_PAGE)
        new = [p for p in batch if (p.venue, p.time_ms, p.symbol) not in seen]
        for p in new:
            seen.add((p.venue, p.time_ms, p.symbol))
        out.extend(new)
        if len(batch) < _PAGE or not new:
            return out
        since = batch[-1].time_ms


class _Replay:
    def __init__(
        self,
        spot_map: Mapping[str, str],
        aliases: Mapping[str, str],
        marks: Mapping[str, float] | None,
        dust_usd: float,
        purposes: Mapping[str, str],
        hedge_venues: frozenset[str] = HEDGE_VENUES,
    ) -> None:
        self.spot_map = spot_map
        self.aliases = aliases
        self.marks = marks
        self.dust_usd = dust_usd
        self.purposes = purposes
        self.hedge_venues = hedge_venues
        self.books: dict[str, _Book] = {}
        self.positions: list[PositionPnl] = []
        self.cloids: dict[int, set[str]] = {}  # id(position) → cloids of its fills
        self.purpose_of: dict[int, set[str]] = {}
        self.legs_of: dict[int, set[str]] = {}  # id(position) → legs traded in it

    # ---------------------------------------------------------------- helpers

    def _spot_flat(self, b: _Book) -> bool:
        """The spot leg is empty or a remainder worth less than ``dust_usd`` and less than a
        tenth of the leg's peak value (so that a small position is not taken for dust)."""
        value = b.spot_q * b.spot_px
        return b.spot_q <= 1e-12 or value < min(self.dust_usd, 0.1 * b.spot_peak)

    def _open(self, b: _Book, symbol: str, t: int) -> PositionPnl:
        p = PositionPnl(id=f"{symbol}-{t}", symbol=symbol, strategy="manual", side="", opened_ms=t, closed_ms=None)
        b.pos = p
        b.perp_t = t
        b.spot_peak = b.spot_q * b.spot_px
        self.positions.append(p)
        self.cloids[id(p)] = set()
        self.purpose_of[id(p)] = set()
        self.legs_of[id(p)] = set()
        return p

    def _accrue(self, b: _Book, t: int) -> None:
        """Integrate the perp leg's notional up to ``t`` (USD·ms)."""
        if b.pos is not None and t > b.perp_t:
            b.pos.notional_ms += abs(b.perp_q) * b.perp_px * (t - b.perp_t)
        b.perp_t = max(b.perp_t, t)

    def _maybe_close(self, b: _Book, t: int) -> None:
        if (
            b.pos is not None
            and _flat(b.perp_q, b.perp_scale)
            and self._spot_flat(b)
            and _flat(b.hedge_q, b.hedge_scale)
        ):
            self._accrue(b, t)
            b.perp_q = 0.0
            b.pos.closed_ms = t
            b.pos = None

    def _track(self, p: PositionPnl, fill: Fill, fee: float, note: str | None) -> None:
        p.fees += fee
        p.fills += 1
        if note and note not in p.notes:
            p.notes.append(note)
        if fill.cloid:
            self.cloids[id(p)].add(fill.cloid)
            purpose = self.purposes.get(fill.cloid)
            if purpose:
                self.purpose_of[id(p)].add(purpose)

    # ---------------------------------------------------------------- fills

    def fill(self, fill: Fill) -> None:
        symbol, is_spot = _underlying(fill.symbol, self.spot_map, self.aliases)
        b = self.books.setdefault(symbol, _Book())
        fee, note = _fee_usd(fill, symbol, self.aliases, self.marks)
        if is_spot:
            b.spot_venue = fill.venue
            self._spot(b, symbol, fill, fee, note)
        elif fill.venue in self.hedge_venues:
            self._hedge_perp(b, symbol, fill, fee, note)
        else:
            b.perp_venue = fill.venue
            self._perp(b, symbol, fill, fee, note)

    def _hedge_perp(self, b: _Book, symbol: str, fill: Fill, fee: float, note: str | None) -> None:
        """A fill of the hedge venue's perp (the other leg of a perp-against-perp position):
        average-cost P&L like the first perp leg, added to ``perp_pnl``; a flip through zero
        just restarts the average (the position is delimited by the legs together)."""
        t = fill.time_ms
        b.hedge_scale = max(b.hedge_scale, fill.sz)
        p = b.pos or self._open(b, symbol, t)
        if not p.side:
            p.side = "short_perp" if fill.side == "B" else "long_perp"  # the first leg is the opposite
        d = fill.sz if fill.side == "B" else -fill.sz
        q = b.hedge_q
        if _flat(q, b.hedge_scale) or (q > 0) == (d > 0):
            new = q + d
            b.hedge_avg = (abs(q) * b.hedge_avg + fill.sz * fill.px) / abs(new)
            b.hedge_q = new
        else:
            closing = min(fill.sz, abs(q))
            p.perp_pnl += closing * (fill.px - b.hedge_avg) * (1.0 if q > 0 else -1.0)
            p.venue_closed_pnl += fill.closed_pnl
            rest = fill.sz - closing
            if rest <= fill.sz * _QTY_RTOL:
                b.hedge_q = 0.0 if _flat(q + d, b.hedge_scale) else q + d
            else:
                b.hedge_q = rest if d > 0 else -rest
                b.hedge_avg = fill.px
        self._track(p, fill, fee, note)
        self.legs_of[id(p)].add("hedge")
        p.hedge_venue = fill.venue
        self._maybe_close(b, t)

    def _perp(self, b: _Book, symbol: str, fill: Fill, fee: float, note: str | None) -> None:
        t = fill.time_ms
        b.perp_scale = max(b.perp_scale, fill.sz)
        p = b.pos or self._open(b, symbol, t)
        self._accrue(b, t)
        d = fill.sz if fill.side == "B" else -fill.sz
        q = b.perp_q
        if not p.side:
            p.side = "long_perp" if d > 0 else "short_perp"
        elif p.side.endswith("_spot"):
            p.side = "long_perp" if d > 0 else "short_perp"
        if _flat(q, b.perp_scale) or (q > 0) == (d > 0):
            new = q + d
            b.perp_avg = (abs(q) * b.perp_avg + fill.sz * fill.px) / abs(new)
            b.perp_q = new
            self._track(p, fill, fee, note)
        else:
            closing = min(fill.sz, abs(q))
            sign = 1.0 if q > 0 else -1.0
            p.perp_pnl += closing * (fill.px - b.perp_avg) * sign
            p.venue_closed_pnl += fill.closed_pnl
            rest = fill.sz - closing
            if rest <= fill.sz * _QTY_RTOL:
                b.perp_q = 0.0 if _flat(q + d, b.perp_scale) else q + d
                self._track(p, fill, fee, note)
            else:
                # flip through zero: close the old side, restart the average at the fill price
                b.perp_q = 0.0
                if self._spot_flat(b):
                    self._track(p, fill, fee * closing / fill.sz, note)
                    b.perp_px = fill.px
                    self._maybe_close(b, t)
                    p = self._open(b, symbol, t)
                    p.side = "long_perp" if d > 0 else "short_perp"
                    self._track(p, fill, fee * rest / fill.sz, None)  # counted in both
                else:
                    self._track(p, fill, fee, note)
                b.perp_q = rest if d > 0 else -rest
                b.perp_avg = fill.px
        b.perp_px = fill.px
        self.legs_of[id(p)].add("perp")
        p = b.pos or p
        self.legs_of[id(p)].add("perp")
        p.notional_usd = max(p.notional_usd, abs(b.perp_q) * fill.px)
        self._maybe_close(b, t)

    def _spot(self, b: _Book, symbol: str, fill: Fill, fee: float, note: str | None) -> None:
        t = fill.time_ms
        b.spot_px = fill.px
        last = next((q for q in reversed(self.positions) if q.symbol == symbol), None)
        if b.pos is None and fill.side == "A" and last is not None and fill.sz <= b.spot_q * (1 + 1e-9):
            # selling carried dust: its P&L goes to the last position of this underlying
            p = last
        else:
            p = b.pos or self._open(b, symbol, t)
        if not p.side:
            p.side = "long_spot" if fill.side == "B" else "short_spot"
        base_fee = (
            fill.fee
            if (
                fee != 0
                and fill.fee_token.upper() not in STABLECOINS
                and self.aliases.get(fill.fee_token, fill.fee_token) == symbol
            )
            else 0.0
        )
        if fill.side == "B":
            new = b.spot_q + fill.sz
            b.spot_avg = (max(b.spot_q, 0.0) * b.spot_avg + fill.sz * fill.px) / new
            b.spot_q = new
        else:
            matched = min(fill.sz, max(b.spot_q, 0.0))
            p.spot_pnl += matched * (fill.px - b.spot_avg)
            b.spot_q -= matched
            unmatched = fill.sz - matched
            if unmatched > fill.sz * 1e-9 and unmatched * fill.px >= 0.01:
                msg = (
                    f"spot sale of {unmatched:g} {symbol} beyond the journalled inventory "
                    "(no cost basis): excluded from spot P&L"
                )
                if msg not in p.notes:
                    p.notes.append(msg)
        if base_fee:
            # the fee tokens leave the inventory at the fill price (fees counts fee × px)
            gone = min(base_fee, max(b.spot_q, 0.0))
            p.spot_pnl += gone * (fill.px - b.spot_avg)
            b.spot_q -= gone
        if b.spot_q <= 1e-12:
            b.spot_q = 0.0
        self._track(p, fill, fee, note)
        self.legs_of[id(p)].add("spot")
        b.spot_peak = max(b.spot_peak, b.spot_q * fill.px)
        p.notional_usd = max(p.notional_usd, b.spot_q * fill.px)
        if b.pos is not None:
            self._maybe_close(b, t)


# --------------------------------------------------------------------------- build


def _match_events(
    positions: list[PositionPnl],
    replay: _Replay,
    opens: list[Event],
    closes: list[Event],
) -> None:
    used: set[int] = set()
    by_pid: dict[str, Event] = {}
    for ev in closes:
        pid = ev.detail.get("position_id")
        if pid is not None:
            by_pid.setdefault(str(pid), ev)
    for p in positions:
        cands = [e for e in opens if e.id not in used and str(e.detail.get("symbol", "")) == p.symbol]
        cloids = replay.cloids[id(p)]
        match = next((e for e in cands if cloids & {str(c).lower() for c in e.detail.get("cloids") or []}), None)
        if match is None:
            end = p.closed_ms if p.closed_ms is not None else math.inf
            timed = [e for e in cands if p.opened_ms - EVENT_SLACK_MS <= e.time_ms <= end]
            if timed:
                match = min(timed, key=lambda e: abs(e.time_ms - p.opened_ms))
        if match is not None:
            used.add(match.id)
            d = match.detail
            p.strategy = str(d.get("strategy") or "harvest")
            if d.get("position_id") is not None:
                p.id = str(d["position_id"])
            if d.get("side"):
                p.side = str(d["side"])
            close = by_pid.get(p.id)
            if close is not None and p.closed_ms is not None:
                p.close_reason = None if close.detail.get("reason") is None else str(close.detail["reason"])
        elif "harvest" in replay.purpose_of[id(p)]:
            p.strategy = "harvest"


def _attribute_funding(positions: list[PositionPnl], funding: Iterable[FundingPayment], since_ms: int | None) -> float:
    by_symbol: dict[str, list[PositionPnl]] = {}
    for p in positions:
        by_symbol.setdefault(p.symbol, []).append(p)
    unattributed = 0.0
    for pay in funding:
        target = next(
            (
                p
                for p in by_symbol.get(pay.symbol, [])
                if p.opened_ms <= pay.time_ms and (p.closed_ms is None or pay.time_ms <= p.closed_ms)
            ),
            None,
        )
        if target is not None:
            target.funding_pnl += pay.usdc
        elif since_ms is None or pay.time_ms >= since_ms:
            unattributed += pay.usdc
    return unattributed


def build_report(
    journal: Journal,
    *,
    since_ms: int | None = None,
    venue: str | None = None,
    marks: Mapping[str, float] | None = None,
    spot_map: Mapping[str, str] | None = None,
    aliases: Mapping[str, str] | None = None,
    now_ms: int | None = None,
    dust_usd: float = DEFAULT_DUST_USD,
    hedge_marks: Mapping[str, float] | None = None,
    book: Book | None = None,
) -> PnlReport:
    """Attribute the journal's P&L to positions (module docstring: rules and formulas, §7).

    Args:
        journal: the trading journal (read only).
        since_ms: report positions open at or closed after this time (ms UTC); ``None``: all.
        venue: only fills and funding of this venue (``None``: all) — with ``book`` a venue
            (``"binance"``), without it an old venue label (``"sim"``, ``"binance"``…).
        marks: USD price by perp symbol to mark open legs (a spot leg at its underlying's
            symbol); ``None``: open legs unpriced (noted, never counted as zero).
        spot_map: spot pair name → perp symbol (default :func:`default_spot_map`).
        aliases: spot token → perp symbol, for ``"BASE/QUOTE"`` pairs missing from
            ``spot_map`` and fee tokens (default :data:`pfterm.core.trading.hyperliquid.SPOT_ALIASES`).
        now_ms: end of the holding time of open positions for the APR (default: now).
        dust_usd: a spot remainder below this value (USD) counts as flat.
        hedge_marks: perp symbol → USD mark on the hedge venue, for the open perp legs there
            (default: ``marks``; the two venues' marks differ by the perp-against-perp basis).
        book: replay only this book's accounts (:meth:`pfterm.core.trading.journal.Journal.books`); ``None``:
            the whole journal as one (process-wide form).

    Raises:
        sqlite3.Error: the journal cannot be read.
    """
    aliases = _DEFAULT_ALIASES if aliases is None else aliases
    spot_map = default_spot_map(aliases) if spot_map is None else spot_map
    if book is None:
        # every account, each read on its own (trade ids repeat across accounts), records
        # labelled with the old venue labels as the process-wide reads give them
        refs = journal.accounts()
        hedge_venues = HEDGE_VENUES
    else:
        refs = list(book.members)
        # a book without a first perp venue (a Binance account alone): its perp is the position
        hedge_venues = HEDGE_VENUES if any(r.venue not in HEDGE_VENUES for r in refs) else frozenset()
    fills_all: list[Fill] = []
    funding: list[FundingPayment] = []
    purposes: dict[str, str] = {}
    for ref in refs:
        view = journal.for_account(ref)
        label = ref.legacy_label if book is None else ref.venue
        fills_all += [f if f.venue == label else replace(f, venue=label) for f in _all_fills(view)]
        funding += [p if p.venue == label else replace(p, venue=label) for p in _all_funding(view)]
        purposes.update((i.cloid, i.purpose) for i in view.intents(limit=_PAGE))
    # (time, tid): fills of one ms in venue trade-id order, not journal insertion order
    # (Hyperliquid's userFills lists the newest first, so insertion order is reversed)
    fills = sorted((f for f in fills_all if venue is None or f.venue == venue), key=lambda f: (f.time_ms, f.tid))
    funding = [p for p in funding if venue is None or p.venue == venue]
    replay = _Replay(spot_map, aliases, marks, dust_usd, purposes, hedge_venues)
    for f in fills:
        replay.fill(f)
    last_t = max([f.time_ms for f in fills] + [p.time_ms for p in funding], default=0)
    as_of = now_ms if now_ms is not None else max(last_t, time.time_ns() // 1_000_000)
    positions = replay.positions
    for symbol, b in replay.books.items():
        p = b.pos
        if p is None:
            continue
        replay._accrue(b, as_of)
        p.perp_size = b.perp_q
        p.spot_size = b.spot_q
        p.hedge_size = b.hedge_q
        _mark_open(p, b, symbol, marks, hedge_marks, replay)
    unattributed = _attribute_funding(positions, funding, since_ms)
    opens, closes = _events(journal, book)
    _match_events(positions, replay, opens, closes)
    selected = [p for p in positions if since_ms is None or p.closed_ms is None or p.closed_ms >= since_ms]
    by_strategy: dict[str, PnlTotals] = {}
    total = PnlTotals()
    for p in selected:
        end = p.closed_ms if p.closed_ms is not None else as_of
        if p.notional_ms > 0 and end > p.opened_ms:
            p.funding_apr_realised = p.funding_pnl / (p.notional_ms / MS_PER_YEAR)
        by_strategy.setdefault(p.strategy, PnlTotals()).add(p)
        total.add(p)
    notes = []
    if unattributed:
        notes.append(f"{unattributed:,.2f} USD of funding fell outside every journalled position (not in the totals)")
    gaps = [
        g
        for r in refs
        for g in journal.for_account(r).gaps()
        if (since_ms is None or g.to_ms >= since_ms) and g.from_ms <= as_of
    ]
    for g in gaps:
        notes.append(
            f"{g.stream} of {g.ref.label} not synced {_when(g.from_ms)} to {_when(g.to_ms)} UTC "
            f"({g.reason}): missing from these figures"
        )
    if total.partly_open:
        notes.append(f"{total.partly_open} position(s) partly open: a leg closed while another is still held")
    if total.unpriced:
        notes.append(f"{total.unpriced} open position(s) unpriced (no mark): unrealised P&L not included")
    return PnlReport(
        positions=selected,
        by_strategy=dict(sorted(by_strategy.items())),
        total=total,
        since_ms=since_ms,
        as_of_ms=as_of,
        unattributed_funding=unattributed,
        marked=marks is not None,
        notes=notes,
        book=book,
        gaps=gaps,
    )


def _mark_open(
    p: PositionPnl,
    b: _Book,
    symbol: str,
    marks: Mapping[str, float] | None,
    hedge_marks: Mapping[str, float] | None,
    replay: _Replay,
) -> None:
    """List an open position's legs, mark them when ``marks`` has the symbol (unrealised
    P&L joins ``perp_pnl``/``spot_pnl``), flag it partly open."""
    mark = None if marks is None else marks.get(symbol)
    hmark = None if mark is None else float((hedge_marks or {}).get(symbol, mark))
    held: list[str] = []
    if abs(b.perp_q) > 1e-12:
        u = None if mark is None else b.perp_q * (float(mark) - b.perp_avg)
        p.open_legs.append(
            OpenLeg("perp", b.perp_venue, b.perp_q, b.perp_avg, mark if mark is None else float(mark), u)
        )
        if not _flat(b.perp_q, b.perp_scale):
            held.append("perp")
    if b.spot_q > 1e-12:
        u = None if mark is None else b.spot_q * (float(mark) - b.spot_avg)
        p.open_legs.append(
            OpenLeg("spot", b.spot_venue, b.spot_q, b.spot_avg, mark if mark is None else float(mark), u)
        )
        if not replay._spot_flat(b):
            held.append("spot")
    if abs(b.hedge_q) > 1e-12:
        u = None if hmark is None else b.hedge_q * (hmark - b.hedge_avg)
        p.open_legs.append(OpenLeg("hedge", p.hedge_venue or "", b.hedge_q, b.hedge_avg, hmark, u))
        if not _flat(b.hedge_q, b.hedge_scale):
            held.append("hedge")
    if mark is None or hmark is None:  # hmark is None exactly when mark is
        p.unrealised = None
        p.notes.append(f"open: unpriced (no mark for {symbol}): unrealised legs excluded")
    else:
        # the same sums as ever: perp legs into perp_pnl, the spot leg into spot_pnl
        upnl = b.perp_q * (float(mark) - b.perp_avg) + b.hedge_q * (float(hmark) - b.hedge_avg)
        uspot = b.spot_q * (float(mark) - b.spot_avg)
        p.perp_pnl += upnl
        p.spot_pnl += uspot
        p.unrealised = upnl + uspot
        p.notes.append(f"open: marked at {float(mark):g}")
    traded = replay.legs_of.get(id(p), set())
    closed = [leg for leg in ("perp", "spot", "hedge") if leg in traded and leg not in held]
    if held and closed:
        p.partly_open = True
        sizes = ", ".join(f"{leg.leg} {leg.size:+g}" for leg in p.open_legs if leg.leg in held)
        p.notes.append(f"partly open: {' and '.join(closed)} leg closed, {sizes} still held")
    elif len(held) == 2:
        a, c = (abs(leg.size) for leg in p.open_legs if leg.leg in held)
        if abs(a - c) > 0.1 * max(a, c):
            sizes = " vs ".join(f"{leg.leg} {leg.size:+g}" for leg in p.open_legs if leg.leg in held)
            p.notes.append(f"legs unequal: {sizes}")


def _events(journal: Journal, book: Book | None) -> tuple[list[Event], list[Event]]:
    """The ``harvest_open`` and ``harvest_close`` events (oldest first) of the book's accounts
    and the process-wide ones (older journals', the legacy writers'); all without a book."""
    out: list[list[Event]] = []
    for kind in ("harvest_open", "harvest_close"):
        if book is None:
            evs = journal.events(_PAGE, kind=kind)
        else:
            seen: dict[int, Event] = {}
            for r in book.members:
                for e in journal.for_account(r).events(_PAGE, kind=kind, include_process_wide=True):
                    seen[e.id] = e
            evs = list(seen.values())
        out.append(sorted(evs, key=lambda e: e.id))
    return out[0], out[1]


def books_matching(books: Iterable[Book], text: str) -> list[Book]:
    """The books with an account matching ``text`` (case-insensitive): its address or id
    (``0x…``, ``key:…``, ``legacy``), a prefix of it of at least 6 characters, its label as
    printed (``"hyperliquid mainnet 0x12ab…cdef"``) or ``"venue network account"``."""
    q = " ".join(text.split()).lower()

    def hit(r: AccountRef) -> bool:
        acc = r.account.lower()
        return q in (acc, r.label.lower(), f"{r.venue} {r.network} {r.account}".lower()) or (
            len(q) >= 6 and acc.startswith(q)
        )

    return [b for b in books if any(hit(r) for r in b.members)]


# --------------------------------------------------------------------------- output


def _usd(x: float) -> float:
    return round(x + 0.0, 2) + 0.0


def _frac(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def _totals_json(t: PnlTotals) -> dict[str, Any]:
    return {
        "positions": t.positions,
        "closed": t.closed,
        "open": t.open,
        "partly_open": t.partly_open,
        "unpriced": t.unpriced,
        "wins": t.wins,
        "win_rate": _frac(t.win_rate),
        "spot_pnl": _usd(t.spot_pnl),
        "perp_pnl": _usd(t.perp_pnl),
        "funding_pnl": _usd(t.funding_pnl),
        "fees": _usd(t.fees),
        "net": _usd(t.net),
        "realised_net": _usd(t.realised_net),
        "unrealised_pnl": _usd(t.unrealised),
        "net_with_unrealised": None if t.net_with_unrealised is None else _usd(t.net_with_unrealised),
        "funding_apr_realised": _frac(t.funding_apr_realised),
    }


def _leg_json(leg: OpenLeg) -> dict[str, Any]:
    return {
        "leg": leg.leg,
        "venue": leg.venue,
        "size": leg.size,
        "avg_px": leg.avg_px,
        "mark": leg.mark,
        "unrealised_pnl": None if leg.unrealised_pnl is None else _usd(leg.unrealised_pnl),
    }


def report_json(report: PnlReport) -> dict[str, Any]:
    """The report as a JSON-ready dict with stable keys; USD rounded to cents, fractions
    (win rate, APR) to 6 decimals, times ms UTC, sizes base units.

    ``spot_pnl``/``perp_pnl``/``net`` include open legs at the marks when marked;
    ``realised_*`` exclude them; ``unrealised`` (per position, ``null`` = unpriced) and
    ``unrealised_pnl`` (totals, priced legs only) are the marked part; ``net_with_unrealised``
    is ``null`` while an open leg is unpriced. ``status``: ``closed``/``open``/``partly open``.
    A report of a book also has ``book`` (label of its primary account), ``accounts`` (labels)
    and ``sync_gaps``.
    """
    out: dict[str, Any] = {
        "since_ms": report.since_ms,
        "as_of_ms": report.as_of_ms,
        "marked": report.marked,
        "positions": [
            {
                "id": p.id,
                "symbol": p.symbol,
                "strategy": p.strategy,
                "side": p.side,
                "opened_ms": p.opened_ms,
                "closed_ms": p.closed_ms,
                "open": p.is_open,
                "status": p.status,
                "spot_pnl": _usd(p.spot_pnl),
                "perp_pnl": _usd(p.perp_pnl),
                "funding_pnl": _usd(p.funding_pnl),
                "fees": _usd(p.fees),
                "net": _usd(p.net),
                "realised_spot_pnl": _usd(p.realised_spot_pnl),
                "realised_perp_pnl": _usd(p.realised_perp_pnl),
                "realised_net": _usd(p.realised_net),
                "unrealised": None if p.unrealised is None else _usd(p.unrealised),
                "unpriced": p.unpriced,
                "net_with_unrealised": None if p.net_with_unrealised is None else _usd(p.net_with_unrealised),
                "open_legs": [_leg_json(leg) for leg in p.open_legs],
                "notional_usd": _usd(p.notional_usd),
                "funding_apr_realised": _frac(p.funding_apr_realised),
                "perp_size": p.perp_size,
                "spot_size": p.spot_size,
                "hedge_venue": p.hedge_venue,
                "hedge_size": p.hedge_size,
                "fills": p.fills,
                "close_reason": p.close_reason,
                "notes": list(p.notes),
            }
            for p in report.positions
        ],
        "by_strategy": {k: _totals_json(v) for k, v in report.by_strategy.items()},
        "total": _totals_json(report.total),
        "win_rate": _frac(report.win_rate),
        "funding_apr_realised": _frac(report.funding_apr_realised),
        "unattributed_funding": _usd(report.unattributed_funding),
        "notes": list(report.notes),
    }
    if report.book is not None:
        out["book"] = report.book.primary.label
        out["accounts"] = [m.label for m in report.book.members]
        out["sync_gaps"] = [
            {"account": g.ref.label, "stream": g.stream, "from_ms": g.from_ms, "to_ms": g.to_ms, "reason": g.reason}
            for g in report.gaps
        ]
    return out


def _money(x: float, width: int = 8) -> str:
    """USD right-aligned in ``width`` chars: cents, then whole dollars, then k/M."""
    for text in (f"{x:,.2f}", f"{x:,.0f}", f"{x / 1e3:,.1f}k", f"{x / 1e6:,.1f}M", f"{x / 1e9:,.1f}B"):
        if len(text) <= width:
            return text.rjust(width)
    return f"{x:.1e}".rjust(width)


def _pct(x: float | None, width: int = 7) -> str:
    if x is None:
        return "-".rjust(width)
    text = f"{x * 100:.1f}%"
    return (text if len(text) <= width else f"{x * 100:.0f}%").rjust(width)


def _when(ms: int) -> str:
    """``ms`` (ms UTC) as ISO 8601 date and minute: ``"2026-12-07 14:05"``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _held(p: PositionPnl) -> str:
    if p.closed_ms is None:
        return "part" if p.partly_open else "open"
    h = (p.closed_ms - p.opened_ms) / 3_600_000
    if h < 1:
        return f"{h * 60:.0f}m"
    if h < 48:
        return f"{h:.1f}h" if h < 9.95 else f"{h:.0f}h"
    d = h / 24
    return f"{d:.1f}d" if d < 9.95 else f"{d:.0f}d"


_SIDES: Final = {"short_perp": "S-perp", "long_perp": "L-perp", "long_spot": "L-spot", "short_spot": "S-spot"}
_HEAD: Final = (
    f"{'SYMBOL':<6} {'STRATEGY':<14} {'SIDE':<6} {'OPENED UTC':<16} {'HELD':>4} "
    f"{'SPOT':>8} {'PERP':>8} {'FUNDING':>8} {'FEES':>7} {'NET':>8} {'APR':>5}"
)


@dataclass(slots=True, frozen=True)
class _Realised:
    """The realised figures of a position or totals (USD), for the table."""

    spot_pnl: float
    perp_pnl: float
    funding_pnl: float
    fees: float
    net: float
    funding_apr_realised: float | None


def _realised(x: PositionPnl | PnlTotals) -> _Realised:
    return _Realised(
        x.spot_pnl - x.unrealised_spot,
        x.perp_pnl - x.unrealised_perp,
        x.funding_pnl,
        x.fees,
        x.realised_net,
        x.funding_apr_realised,
    )


def _row(label: str, strategy: str, side: str, opened: str, held: str, t: Any) -> str:
    return (
        f"{label[:6]:<6} {strategy[:14]:<14} {side[:6]:<6} {opened[:16]:<16} {held[:4]:>4} "
        f"{_money(t.spot_pnl, 8)} {_money(t.perp_pnl, 8)} {_money(t.funding_pnl, 8)} {_money(t.fees, 7)} "
        f"{_money(t.net, 8)} {_pct(t.funding_apr_realised, 5)}"
    )


def _open_lines(p: PositionPnl) -> list[str]:
    """Below an open position's row: its status, then one line per leg held."""
    if p.unpriced:
        head = f"  {p.status}, unpriced (no mark): unrealised not included"
    else:
        head = f"  {p.status}: unrealised {p.unrealised or 0.0:+,.2f} at the marks, net with unrealised {p.net:+,.2f}"
    lines = [head]
    for leg in p.open_legs:
        where = f" {leg.venue}" if leg.venue else ""
        text = f"    {leg.leg}{where} {leg.size:+,.6g} @ {leg.avg_px:,.6g}"
        if leg.mark is None or leg.unrealised_pnl is None:
            text += ", no mark"
        else:
            text += f", mark {leg.mark:,.6g}: {leg.unrealised_pnl:+,.2f}"
        lines.append(text)
    return lines


def report_text(report: PnlReport) -> str:
    """The report as an aligned table (≤ 100 columns): one row per position with its
    *realised* figures (money USD, APR = realised funding APR) — an open position is followed
    by its status (open / partly open), its legs held and their unrealised P&L at the marks or
    "no mark" —, totals per strategy and overall (realised), the open positions' unrealised
    total and net with unrealised, win rate, notes."""
    since = "the journal's start" if report.since_ms is None else _when(report.since_ms) + " UTC"
    lines = [f"P&L attribution since {since} (net = spot + perp + funding - fees, USD, realised)"]
    if report.book is not None:
        lines.append(f"book: {report.book.label}")
    lines += ["", _HEAD, "-" * len(_HEAD)]
    for p in report.positions:
        lines.append(_row(p.symbol, p.strategy, _SIDES.get(p.side, p.side), _when(p.opened_ms), _held(p), _realised(p)))
        if p.is_open:
            lines.extend(_open_lines(p))
    lines.append("-" * len(_HEAD))
    for name, t in report.by_strategy.items():
        lines.append(_row("total", name, "", f"{t.positions} pos {t.closed} closed", "", _realised(t)))
    total = report.total
    lines.append(_row("TOTAL", "all", "", f"{total.positions} pos {total.closed} closed", "", _realised(total)))
    if total.open:
        text = f"open: {total.open} position(s)"
        if total.partly_open:
            text += f", {total.partly_open} partly open"
        priced = total.open - total.unpriced
        if priced:
            text += f"; unrealised {total.unrealised:+,.2f} at the marks"
        nwu = total.net_with_unrealised
        if nwu is not None:
            text += f"; net with unrealised {nwu:+,.2f} USD"
        else:
            text += f"; {total.unpriced} unpriced (no mark): net with unrealised unknown"
        lines.append(text)
    wr = report.win_rate
    lines.append("")
    lines.append(
        "win rate: "
        + (
            "- (no closed position)"
            if wr is None
            else f"{wr * 100:.1f}% ({report.total.wins}/{report.total.closed} closed positions with net > 0)"
        )
    )
    apr = report.funding_apr_realised
    lines.append("realised funding APR: " + ("-" if apr is None else f"{apr * 100:.2f}%"))
    notes = list(report.notes)
    for p in report.positions:
        for n in p.notes:
            notes.append(f"{p.id}: {n}")
    if notes:
        lines.append("notes:")
        for n in notes:
            lines.append(f"  {n}"[:100])
    return "\n".join(line.rstrip()[:100] for line in lines)


# --------------------------------------------------------------------------- --since


_REL_RE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_MS: Final = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_since(text: str, now_ms: int | None = None) -> int:
    """``--since`` → ms UTC: a relative duration (``7d``, ``24h``, ``30m``, ``90s``, ``2w``)
    back from ``now_ms`` (default: now), or an ISO date / datetime (``2026-01-05``,
    ``2026-01-05T12:00``; UTC unless it carries an offset).

    Raises:
        ValueError: anything else (one line).
    """
    m = _REL_RE.match(text)
    if m:
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        return now - int(float(m.group(1)) * _UNIT_MS[m.group(2).lower()])
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"bad --since {text!r}: use an ISO date/datetime (UTC) like 2026-01-05 or a duration like 7d, 24h"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
