"""Cross-venue funding matrix and liquidation feed: pure state, no I/O.

Units (``docs/domain.md`` preamble): rates are plain fractions carried with their interval in hours;
APR a fraction per year (simple, 8760 h); USD amounts; times integer ms UTC. Venue keys are the
lower-case names of :class:`pfterm.core.market.models.VenueFunding` (``"hyperliquid"``, ``"binance"``, …);
symbols are canonical (:mod:`pfterm.core.crossvenue.symbols`).

* :func:`normalize` puts every venue's rate on one basis (per hour, per 8 h, or APR).
* :class:`FundingMatrix` keeps the latest :class:`~pfterm.core.market.models.VenueFunding` per (symbol, venue)
  and builds :class:`MatrixRow` s with the best cross-venue :class:`Spread` per market.
* :class:`LiquidationFeed` keeps recent :class:`~pfterm.core.market.models.Liquidation` s, per-minute
  long/short USD per market, window totals, and a liquidation-surge signal.

Min viable spread (``docs/domain.md`` §1, seed 001): ``(fee_A + fee_B) × 2 / expected_holding_periods``
per period. The period used here is **8 h** (as ``[harvest] holding_periods`` in the config:
"8 h periods fees are amortised over"), so the per-hour minimum is that figure ÷ 8:
``min_viable_per_hour = (fee_long + fee_short) × 2 / (holding_periods × 8)``. Fees are the taker
fees of :data:`TAKER_FEES` unless the caller passes others (e.g. :data:`MAKER_FEES`).
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from statistics import median
from typing import Literal

from pfterm.core.market.funding import HOURS_PER_YEAR, convert_rate, countdown_ms, min_cross_venue_spread
from pfterm.core.market.models import Liquidation, VenueFunding

__all__ = [
    "BASIS_HOURS",
    "MAKER_FEES",
    "PERIOD_H",
    "TAKER_FEES",
    "Basis",
    "FundingMatrix",
    "LiquidationFeed",
    "LiquidationSignal",
    "MatrixCell",
    "MatrixRow",
    "MatrixSort",
    "Spread",
    "best_spread",
    "countdown",
    "detect_surge",
    "normalize",
]

Basis = Literal["hour", "8h", "apr"]
MatrixSort = Literal["spread", "symbol", "oi"]

BASIS_HOURS: dict[str, float] = {"hour": 1.0, "8h": 8.0, "apr": float(HOURS_PER_YEAR)}
"""Hours each basis spans: a rate on basis ``b`` is a fraction per ``BASIS_HOURS[b]`` hours."""

PERIOD_H = 8.0
"""Length of the "period" in docs/domain.md §1's min cross-venue spread, hours (see module doc)."""

MINUTE_MS = 60_000

TAKER_FEES: dict[str, float] = {
    "hyperliquid": 0.00045,
    "binance": 0.0005,
    "bybit": 0.00055,
    "okx": 0.0005,
    "dydx": 0.0005,
}
"""Base-tier perpetual taker fees, fraction of notional (docs/venues.md and docs/domain.md give none).

* hyperliquid 0.045 %: https://hyperliquid.gitbook.io/hyperliquid-docs/trading/fees (tier 0
  perps; ``userFees`` reports ``userCrossRate = 0.00045`` for a base account);
* binance 0.05 %: https://www.binance.com/en/fee/futureFee (USDⓈ-M, regular user / VIP 0);
* bybit 0.055 %: https://www.bybit.com/en/help-center/article/Trading-Fee-Structure
  (derivatives, non-VIP);
* okx 0.05 %: https://www.okx.com/fees (perpetuals, Regular Lv1);
* dydx 0.05 % (5 bps): https://docs.dydx.exchange/introduction-trading_fees (tier 1, < $1M 30 d).
"""

MAKER_FEES: dict[str, float] = {
    "hyperliquid": 0.00015,
    "binance": 0.0002,
    "bybit": 0.0002,
    "okx": 0.0002,
    "dydx": 0.0001,
}
"""Base-tier perpetual maker fees, fraction of notional; same sources as :data:`TAKER_FEES`
(hyperliquid 0.015 %, binance 0.02 %, bybit 0.02 %, okx 0.02 %, dydx 0.01 % = 1 bps)."""


def normalize(rate: float, interval_h: float, basis: Basis) -> float:
    """A funding rate on one basis: per hour, per 8 h, or annualised (docs/domain.md §1).

    Args:
        rate: fraction per ``interval_h`` hours.
        interval_h: the rate's interval, hours (> 0).
        basis: ``"hour"`` → ``rate / interval_h``; ``"8h"`` → ``rate × 8 / interval_h``;
            ``"apr"`` → ``rate × 8760 / interval_h``.

    Raises:
        ValueError: ``interval_h`` not a finite positive number, or an unknown basis.
    """
    try:
        hours = BASIS_HOURS[basis]
    except KeyError:
        raise ValueError(f"basis must be one of {', '.join(BASIS_HOURS)}, got {basis!r}") from None
    return convert_rate(rate, interval_h, hours)


@dataclass(slots=True, frozen=True)
class MatrixCell:
    """One venue's funding for one market, as shown in the matrix.

    ``rate``: on the requested basis (:func:`normalize`); ``interval_h``: the venue's interval;
    ``next_funding_ms``: next settlement, ms UTC (``None`` if unknown); ``apr``: fraction per
    year; ``oi_usd``: open interest USD (``None`` if unknown); ``stale``: no update for longer
    than the matrix's ``stale_after_ms`` (excluded from the best spread).
    """

    venue: str
    rate: float
    interval_h: float
    next_funding_ms: int | None
    apr: float
    oi_usd: float | None
    stale: bool


@dataclass(slots=True, frozen=True)
class Spread:
    """The best cross-venue funding spread of one market.

    Short on ``short_venue`` (highest per-hour rate: receives the most), long on ``long_venue``
    (lowest). ``spread_per_hour = rate_short − rate_long`` (fractions per hour, ≥ 0);
    ``spread_apr = spread_per_hour × 8760``; ``min_viable_per_hour`` = docs/domain.md §1 min spread
    for 8 h periods ÷ 8; ``viable`` iff ``spread_per_hour > min_viable_per_hour``;
    ``direction`` = ``"long {long_venue}, short {short_venue}"``.
    """

    symbol: str
    long_venue: str
    short_venue: str
    spread_per_hour: float
    spread_apr: float
    min_viable_per_hour: float
    viable: bool
    direction: str


@dataclass(slots=True, frozen=True)
class MatrixRow:
    """One market: its cells by venue (stale ones included, flagged) and the best spread."""

    symbol: str
    cells: dict[str, MatrixCell]
    best: Spread | None


def countdown(cell: MatrixCell, now_ms: int) -> int | None:
    """Ms until ``cell``'s next settlement (never negative), ``None`` when the venue gave none."""
    if cell.next_funding_ms is None:
        return None
    return countdown_ms(now_ms, cell.next_funding_ms)


def _merge(new: VenueFunding, old: VenueFunding) -> VenueFunding:
    """``new`` with its ``None`` optional fields taken from ``old``."""
    fills = {}
    for name in ("next_funding_ms", "mark_px", "index_px", "oi_base", "oi_usd"):
        if getattr(new, name) is None and getattr(old, name) is not None:
            fills[name] = getattr(old, name)
    return replace(new, **fills) if fills else new


def best_spread(
    symbol: str,
    rates_per_hour: Mapping[str, float],
    fees: Mapping[str, float],
    holding_periods: float,
) -> Spread | None:
    """Best spread among ``{venue: rate per hour}`` (≥ 2 venues, else ``None``).

    A venue missing from ``fees`` is charged the highest fee in ``fees`` (conservative).
    Ties: the alphabetically first venue is taken on each side.
    """
    if len(rates_per_hour) < 2:
        return None
    items = sorted(rates_per_hour.items())
    short_venue, short_rate = max(items, key=lambda kv: kv[1])
    long_venue, long_rate = min(((v, r) for v, r in items if v != short_venue), key=lambda kv: kv[1])
    default_fee = max(fees.values()) if fees else 0.0
    fee_sum_min = min_cross_venue_spread(
        fees.get(long_venue, default_fee), fees.get(short_venue, default_fee), holding_periods
    )
    min_ph = fee_sum_min / PERIOD_H
    spread = short_rate - long_rate
    return Spread(
        symbol=symbol,
        long_venue=long_venue,
        short_venue=short_venue,
        spread_per_hour=spread,
        spread_apr=spread * HOURS_PER_YEAR,
        min_viable_per_hour=min_ph,
        viable=spread > min_ph,
        direction=f"long {long_venue}, short {short_venue}",
    )


class FundingMatrix:
    """Latest funding per (symbol, venue) and the cross-venue matrix built from it.

    Bounded: at most ``max_symbols`` markets (the least recently updated one is dropped to make
    room) and ``max_venues`` venues per market (records for further venues are ignored).

    Args:
        max_symbols: markets kept (≥ 1).
        max_venues: venues kept per market (≥ 1).
    """

    __slots__ = ("_data", "_max_symbols", "_max_venues")

    def __init__(self, max_symbols: int = 2000, max_venues: int = 8) -> None:
        if max_symbols < 1 or max_venues < 1:
            raise ValueError("max_symbols and max_venues must be >= 1")
        self._data: OrderedDict[str, dict[str, VenueFunding]] = OrderedDict()
        self._max_symbols = max_symbols
        self._max_venues = max_venues

    def venues(self) -> set[str]:
        """Every venue with at least one record."""
        return {v for cells in self._data.values() for v in cells}

    def __len__(self) -> int:
        return len(self._data)

    def latest(self, symbol: str, venue: str) -> VenueFunding | None:
        """The merged record kept for (``symbol``, ``venue``), or ``None``."""
        return self._data.get(symbol, {}).get(venue)

    def update(self, records: Iterable[VenueFunding]) -> int:
        """Merge records; return how many were kept.

        Per (symbol, venue) the newer record (by ``time_ms``; a tie goes to the incoming one)
        wins, and its ``None`` fields (``next_funding_ms``, ``mark_px``, ``index_px``,
        ``oi_base``, ``oi_usd``) are filled from the older: a WS funding push without OI keeps
        the OI of the last REST poll, and a late REST poll fills the gaps of a newer push.
        Records with an empty symbol, a non-finite rate or a non-positive / non-finite interval
        are skipped.
        """
        kept = 0
        data = self._data
        for rec in records:
            if not rec.symbol or not math.isfinite(rec.rate):
                continue
            if not (rec.interval_h > 0 and math.isfinite(rec.interval_h)):
                continue
            venues = data.get(rec.symbol)
            if venues is None:
                if len(data) >= self._max_symbols:
                    data.popitem(last=False)
                venues = data[rec.symbol] = {}
            else:
                data.move_to_end(rec.symbol)
            old = venues.get(rec.venue)
            if old is None:
                if len(venues) >= self._max_venues:
                    continue
                venues[rec.venue] = rec
            elif rec.time_ms >= old.time_ms:
                venues[rec.venue] = _merge(rec, old)
            else:
                venues[rec.venue] = _merge(old, rec)
            kept += 1
        return kept

    def rows(
        self,
        basis: Basis,
        *,
        now_ms: int,
        stale_after_ms: int = 120_000,
        min_venues: int = 2,
        holding_periods: float = 12,
        sort: MatrixSort = "spread",
        fees: Mapping[str, float] | None = None,
    ) -> list[MatrixRow]:
        """The matrix: one row per market listed on at least ``min_venues`` venues.

        Args:
            basis: basis of each cell's ``rate`` (:func:`normalize`).
            now_ms: current time, ms UTC (same clock as the records' ``time_ms``).
            stale_after_ms: a cell with ``now_ms − time_ms > stale_after_ms`` is stale: shown,
                flagged, and left out of the best spread.
            min_venues: venues (stale or not) a market needs to get a row.
            holding_periods: expected 8 h periods the pair is held (> 0), for the min spread.
            sort: ``"spread"`` (best spread per hour, largest first; rows without one last),
                ``"symbol"`` (case-insensitive), ``"oi"`` (total known ``oi_usd``, largest first).
            fees: per-venue fee per trade (default :data:`TAKER_FEES`).

        Raises:
            ValueError: unknown basis or sort, or ``holding_periods`` not > 0.
        """
        if basis not in BASIS_HOURS:
            raise ValueError(f"basis must be one of {', '.join(BASIS_HOURS)}, got {basis!r}")
        if not (holding_periods > 0 and math.isfinite(holding_periods)):
            raise ValueError(f"holding_periods must be a finite number > 0, got {holding_periods!r}")
        fee_table = TAKER_FEES if fees is None else fees
        out: list[MatrixRow] = []
        for symbol, venues in self._data.items():
            if len(venues) < min_venues:
                continue
            cells: dict[str, MatrixCell] = {}
            fresh: dict[str, float] = {}
            for venue, rec in venues.items():
                stale = now_ms - rec.time_ms > stale_after_ms
                cells[venue] = MatrixCell(
                    venue=venue,
                    rate=normalize(rec.rate, rec.interval_h, basis),
                    interval_h=rec.interval_h,
                    next_funding_ms=rec.next_funding_ms,
                    apr=rec.apr,
                    oi_usd=rec.oi_usd,
                    stale=stale,
                )
                if not stale:
                    fresh[venue] = rec.rate_per_hour
            best = best_spread(symbol, fresh, fee_table, holding_periods)
            out.append(MatrixRow(symbol, dict(sorted(cells.items())), best))
        if sort == "spread":
            out.sort(key=lambda r: r.symbol.upper())
            out.sort(key=lambda r: -r.best.spread_per_hour if r.best else math.inf)
        elif sort == "symbol":
            out.sort(key=lambda r: (r.symbol.upper(), r.symbol))
        elif sort == "oi":
            out.sort(key=lambda r: r.symbol.upper())
            out.sort(key=lambda r: -sum(c.oi_usd or 0.0 for c in r.cells.values()))
        else:
            raise ValueError(f"sort must be spread, symbol or oi, got {sort!r}")
        return out


# --------------------------------------------------------------------------- liquidations


@dataclass(slots=True, frozen=True)
class LiquidationSignal:
    """A minute whose forced-close volume stands out (see :func:`detect_surge`).

    ``minute_ms``: start of the minute, ms UTC; ``usd``: long + short USD liquidated in it;
    ``long_usd`` / ``short_usd``: by liquidated side; ``baseline_usd``: median per-minute USD of
    the previous minutes; ``ratio``: ``usd / baseline_usd`` (``inf`` when the baseline is 0).
    """

    symbol: str
    minute_ms: int
    usd: float
    long_usd: float
    short_usd: float
    baseline_usd: float
    ratio: float

    @property
    def side(self) -> str:
        """``"long"`` when longs were liquidated most (price falling), else ``"short"``."""
        return "long" if self.long_usd >= self.short_usd else "short"


def detect_surge(
    symbol: str,
    buckets: Sequence[tuple[int, float, float]],
    *,
    k: float = 5.0,
    floor_usd: float = 100_000.0,
    min_history: int = 5,
) -> LiquidationSignal | None:
    """Liquidation surge in the last bucket of a dense per-minute series.

    Fires when the last minute's USD (long + short) is ``≥ floor_usd`` **and** ``> k ×`` the
    median of the minutes before it (zeros count: quiet minutes are part of the baseline).
    Needs at least ``min_history`` earlier minutes (no verdict right after start-up).

    Args:
        symbol: market, copied into the signal.
        buckets: ``(minute_ms, long_usd, short_usd)``, oldest first, one per minute with no gaps
            (as :meth:`LiquidationFeed.minute_buckets` returns them).
        k: multiple of the baseline median that counts as a surge (> 1).
        floor_usd: minimum USD in the minute (guards quiet markets whose median is 0).
        min_history: earlier minutes needed (≥ 1).
    """
    if len(buckets) < min_history + 1:
        return None
    minute_ms, long_usd, short_usd = buckets[-1]
    usd = long_usd + short_usd
    if usd < floor_usd:
        return None
    base = median(lu + su for _, lu, su in buckets[:-1])
    if not usd > k * base:
        return None
    ratio = usd / base if base > 0 else math.inf
    return LiquidationSignal(symbol, minute_ms, usd, long_usd, short_usd, base, ratio)


class LiquidationFeed:
    """Recent liquidations, per-minute long/short USD per market, and a surge signal.

    How it complements :class:`pfterm.core.market.signals.CascadeDetector` (docs/domain.md §5): the cascade
    detector needs OI *and* price to move within one 30 s sample, and uses liquidation volume
    only to relax its OI threshold (feed it each :class:`~pfterm.core.market.models.Liquidation` through
    ``add_liquidations(time_ms, usd)``). The surge signal here reads forced-close volume alone,
    summed across every venue that publishes it (Binance, Bybit, OKX, dYdX; canonical symbols),
    so it still fires when OI is slow or missing on the venue watched (Hyperliquid publishes no
    liquidation feed; OKX OI is polled) and it says which side is being flushed. Show both;
    a surge coinciding with a cascade signal is the strongest case.

    Bounded: ``max_recent`` liquidations kept for :meth:`recent` and :meth:`totals`;
    ``max_minutes`` minutes of buckets per market; ``max_symbols`` markets (least recently
    updated dropped first).

    Args:
        max_recent: liquidations kept (≥ 1).
        max_minutes: minutes of history per market (≥ 2; ≥ surge lookback + 1).
        max_symbols: markets with buckets (≥ 1).
    """

    __slots__ = ("_recent", "_buckets", "_last_minute", "_max_minutes", "_max_symbols", "_first_minute")

    def __init__(self, max_recent: int = 5000, max_minutes: int = 60, max_symbols: int = 1000) -> None:
        if max_recent < 1 or max_minutes < 2 or max_symbols < 1:
            raise ValueError("need max_recent >= 1, max_minutes >= 2, max_symbols >= 1")
        self._recent: deque[Liquidation] = deque(maxlen=max_recent)
        # symbol -> minute_ms -> [long_usd, short_usd]
        self._buckets: OrderedDict[str, dict[int, list[float]]] = OrderedDict()
        self._last_minute: dict[str, int] = {}
        self._max_minutes = max_minutes
        self._max_symbols = max_symbols
        self._first_minute: int | None = None

    def add(self, liq: Liquidation) -> bool:
        """Record one liquidation; ``False`` (ignored) for a bad side, a non-finite or negative
        ``usd``, or a minute older than the market's kept history."""
        if liq.side not in ("long", "short") or not (liq.usd >= 0 and math.isfinite(liq.usd)):
            return False
        minute = liq.time_ms - liq.time_ms % MINUTE_MS
        last = self._last_minute.get(liq.symbol)
        if last is not None and minute <= last - self._max_minutes * MINUTE_MS:
            return False
        self._insert_recent(liq)
        if self._first_minute is None or minute < self._first_minute:
            self._first_minute = minute
        buckets = self._buckets.get(liq.symbol)
        if buckets is None:
            if len(self._buckets) >= self._max_symbols:
                dropped, _ = self._buckets.popitem(last=False)
                self._last_minute.pop(dropped, None)
            buckets = self._buckets[liq.symbol] = {}
        else:
            self._buckets.move_to_end(liq.symbol)
        cell = buckets.get(minute)
        if cell is None:
            cell = buckets[minute] = [0.0, 0.0]
        cell[0 if liq.side == "long" else 1] += liq.usd
        if last is None or minute > last:
            self._last_minute[liq.symbol] = minute
            cutoff = minute - self._max_minutes * MINUTE_MS
            for m in [m for m in buckets if m <= cutoff]:
                del buckets[m]
        return True

    def _insert_recent(self, liq: Liquidation) -> None:
        """Keep :attr:`_recent` newest first by ``time_ms`` (ties: the later arrival first).
        Venues' streams interleave: a liquidation may arrive after a newer one from another
        venue, so it goes where its time puts it; older than everything kept in a full feed, it
        is not kept."""
        recent = self._recent
        if not recent or liq.time_ms >= recent[0].time_ms:
            recent.appendleft(liq)
            return
        if len(recent) == recent.maxlen:
            if liq.time_ms < recent[-1].time_ms:
                return
            recent.pop()
        for i, x in enumerate(recent):
            if x.time_ms <= liq.time_ms:
                recent.insert(i, liq)
                return
        recent.append(liq)

    def extend(self, liqs: Iterable[Liquidation]) -> int:
        """:meth:`add` each; return how many were recorded."""
        return sum(self.add(liq) for liq in liqs)

    def recent(self, n: int | None = None, symbol: str | None = None) -> list[Liquidation]:
        """The latest liquidations, newest first by event time (``time_ms``), at most ``n``; one
        market if given."""
        it = (x for x in self._recent if symbol is None or x.symbol == symbol)
        out: list[Liquidation] = []
        for x in it:
            if n is not None and len(out) >= n:
                break
            out.append(x)
        return out

    def minute_buckets(
        self, symbol: str, now_ms: int | None = None, minutes: int | None = None
    ) -> list[tuple[int, float, float]]:
        """``(minute_ms, long_usd, short_usd)`` per minute, oldest first, no gaps (0 for quiet
        minutes), ending at the minute of ``now_ms`` (default: the market's latest minute) and
        starting ``minutes`` (default and maximum ``max_minutes``) minutes back, but not before
        the feed's first liquidation. ``[]`` for an unknown market."""
        buckets = self._buckets.get(symbol)
        if not buckets:
            return []
        end = self._last_minute[symbol] if now_ms is None else now_ms - now_ms % MINUTE_MS
        n = self._max_minutes if minutes is None else max(1, min(minutes, self._max_minutes))
        start = end - (n - 1) * MINUTE_MS
        if self._first_minute is not None:
            start = max(start, self._first_minute)
        out = []
        for m in range(start, end + MINUTE_MS, MINUTE_MS):
            long_usd, short_usd = buckets.get(m, (0.0, 0.0))
            out.append((m, long_usd, short_usd))
        return out

    def totals(self, window_ms: int, now_ms: int) -> dict[str, tuple[float, float]]:
        """``{symbol: (long_usd, short_usd)}`` liquidated with ``now_ms − window_ms < time_ms ≤
        now_ms``, exact over the ``max_recent`` liquidations kept."""
        lo = now_ms - window_ms
        out: dict[str, list[float]] = {}
        for x in self._recent:
            if lo < x.time_ms <= now_ms:
                acc = out.setdefault(x.symbol, [0.0, 0.0])
                acc[0 if x.side == "long" else 1] += x.usd
        return {s: (a[0], a[1]) for s, a in out.items()}

    def surge(
        self,
        symbol: str,
        now_ms: int,
        *,
        k: float = 5.0,
        floor_usd: float = 100_000.0,
        lookback_min: int = 30,
        min_history: int = 5,
    ) -> LiquidationSignal | None:
        """:func:`detect_surge` on the minute of ``now_ms`` (running, so it fires mid-minute)
        against the median of the previous ``lookback_min`` minutes. Call it after each
        :meth:`add`; dedupe on ``signal.minute_ms`` to alert once per minute."""
        buckets = self.minute_buckets(symbol, now_ms, lookback_min + 1)
        return detect_surge(symbol, buckets, k=k, floor_usd=floor_usd, min_history=min_history)
