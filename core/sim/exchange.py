"""Accounts, orders and matching of the embedded Hyperliquid-compatible simulator.

Pure computation, no I/O: :class:`SimExchange` keeps cross-margin accounts against a
:class:`core.sim.market.MarketModel` and answers with Hyperliquid's wire shapes (numbers as
decimal strings), so an HTTP layer only has to route and serialise.

Units follow DOMAIN.md: prices and USDC amounts in USD, sizes in base units (signed ``szi``:
long > 0), times in integer milliseconds UTC on the simulated clock, rates as fractions.
Sizes are held internally as integer lots (``10^−szDecimals`` base units) so positions
open and close exactly.

Model (VENUES.md "Exchange", Hyperliquid docs "Exchange endpoint", "Order types",
"Fees", "Funding", "Margining", "Liquidations"):

* **Orders**: limit orders only (``tif`` ``Gtc`` / ``Alo`` / ``Ioc``), optionally reduce-only,
  with an optional ``cloid``. Each order is answered in turn with ``{"resting": {oid, cloid?}}``,
  ``{"filled": {totalSz, avgPx, oid, cloid?}}`` or ``{"error": "<venue message> asset=N"}``;
  a rejected order never fails the batch.
* **Taker matching**: the marketable part of an order walks the model's synthetic book
  (:meth:`MarketModel.l2_book_wire`, 20 levels a side) from the best level up to the limit
  price, paying each level's price (size-dependent slippage). Liquidity is not consumed: every
  order walks the book as the model currently shows it.
* **Maker fills**: a resting order fills in full at its limit price when the model mid
  strictly crosses it (buy: ``mid < limitPx``; sell: ``mid > limitPx``) on a later
  :meth:`SimExchange.tick`. No margin check is made at that moment.
* **Fees**: ``notional × rate`` USDC, taker on book fills, maker on resting fills; defaults are
  Hyperliquid's base tier (0.045 % taker, 0.015 % maker; Hyperliquid docs, "Fees").
* **Margin** (cross only): position margin ``|szi| × mark / leverage``; leverage per asset
  defaults to ``min(maxLeverage, 20)``. An order is refused when the margin of the size it
  would add, plus its taker fee, exceeds ``accountValue − margin used − margin reserved by
  resting orders``.
* **Funding** (DOMAIN.md §1): at every top of the hour a position receives
  ``−szi × oraclePx × rate`` USDC (positive rate: longs pay), with the model's settled rate
  for that hour and the oracle price at settlement time. ``cumFunding`` counts funding *paid*
  (positive = paid), as Hyperliquid reports it.
* **Liquidation** (DOMAIN.md §4, approximated): maintenance margin is half the initial margin
  at the asset's maximum leverage, ``|szi| × mark / (2 · maxLeverage)`` summed over positions.
  When ``accountValue`` falls below it, every open order is cancelled and every position
  closed at the mark without fee, recorded as fills carrying a ``liquidation`` marker.

Error messages are the venue's texts from ``fixtures/hyperliquid/exchange_error_messages.json``
(Hyperliquid docs, "Error responses") with the venue's ``" asset=N"`` suffix. Situations the
fixture does not cover (unknown asset, off-lot size, duplicate cloid, leverage, schedule cancel)
use short messages of the same style.

Determinism: no randomness; order ids, trade ids and hashes come from counters, so the
same model and the same calls give the same answers.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from core.sim.market import HOUR_MS, MarketModel, SimMarket, decimal_str, price_str
from core.venues.hyperliquid.orders import is_valid_price

__all__ = [
    "DEFAULT_LEVERAGE",
    "FILLS_LEN",
    "FUNDING_LEN",
    "MAKER_FEE",
    "MIN_ORDER_USD",
    "SCHEDULE_CANCEL_MIN_MS",
    "TAKER_FEE",
    "SimExchange",
]

# --- parameters ------------------------------------------------------------------------

MAKER_FEE = 0.00015
"""Maker fee, fraction of notional (Hyperliquid docs "Fees": base tier perps, 0.015 %)."""
TAKER_FEE = 0.00045
"""Taker fee, fraction of notional (Hyperliquid docs "Fees": base tier perps, 0.045 %)."""
DEFAULT_LEVERAGE = 20
"""Cross leverage an asset starts at, capped by its ``maxLeverage`` (Hyperliquid UI default)."""
MIN_ORDER_USD = 10.0
"""Minimum order value, USD (error ``MinTradeNtl``); reduce-only orders are exempt."""
SCHEDULE_CANCEL_MIN_MS = 5_000
"""A dead man's switch must be at least 5 s ahead (VENUES.md, ``scheduleCancel``)."""
FILLS_LEN = 10_000
"""Fills kept per account (Hyperliquid's ``userFills`` serves at most the 2 000 latest)."""
FUNDING_LEN = 10_000
"""Funding rows kept per account (over a year of hourly rows for a dozen positions)."""
USD_DECIMALS = 6
"""Decimals of USDC amounts on the wire."""
PX_DECIMALS = 8
"""Decimals of computed prices (averages) on the wire."""

# --- venue messages (exchange_error_messages.json) ----------------------------------------

ERR_TICK = "Price must be divisible by tick size."
ERR_MIN_NTL = "Order must have minimum value of $10."
ERR_MARGIN = "Insufficient margin to place order."
ERR_REDUCE_ONLY = "Reduce only order would increase position."
ERR_ALO = "Post only order would have immediately matched, bbo was {bbo}."
ERR_IOC = "Order could not immediately match against any resting orders."
ERR_MISSING = "Order was never placed, already canceled, or filled."
# Not in the fixture: same style as the venue's.
ERR_ASSET = "Invalid asset."
ERR_SIZE = "Order has invalid size."
ERR_PRICE = "Order has invalid price."
ERR_TIF = "Invalid order type."
ERR_CLOID = "Duplicate cloid among open orders."
ERR_LEVERAGE = "Invalid leverage value."
ERR_LEVERAGE_MARGIN = "Insufficient margin to change leverage."
ERR_ISOLATED = "Isolated margin is not supported."
ERR_SCHEDULE = "Scheduled cancel time too early, must be at least 5 seconds after current time."

_ADDRESS_RE = re.compile(r"^0x[0-9a-f]{40}$")
_CLOID_RE = re.compile(r"^0x[0-9a-f]{32}$")
_TIFS = ("Gtc", "Alo", "Ioc")
_ZERO = "0.0"


def _usd(x: float) -> str:
    return decimal_str(x, USD_DECIMALS)


def _px(x: float) -> str:
    return decimal_str(x, PX_DECIMALS)


def _hash(*parts: object) -> str:
    text = ":".join(str(p) for p in parts)
    return "0x" + hashlib.sha256(text.encode()).hexdigest()


def _err(message: str, asset: int) -> dict[str, str]:
    return {"error": f"{message} asset={asset}"}


# --- state -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Order:
    oid: int
    coin: str
    asset: int
    is_buy: bool
    px: float
    lots: int
    orig_lots: int
    reduce_only: bool
    tif: str
    cloid: str | None
    timestamp: int


@dataclass(slots=True)
class _Position:
    lots: int = 0
    entry_px: float = 0.0
    cum_all: float = 0.0
    cum_open: float = 0.0
    cum_change: float = 0.0


@dataclass(slots=True)
class _Account:
    address: str
    usdc: float
    positions: dict[str, _Position] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    orders: dict[int, _Order] = field(default_factory=dict)
    fills: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=FILLS_LEN))
    funding: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=FUNDING_LEN))
    cancel_at: int | None = None


def _dir(start_lots: int, is_buy: bool, end_lots: int) -> str:
    """Hyperliquid's fill ``dir``: Open/Close Long/Short, or a flip ``Long > Short``."""
    if start_lots > 0 and end_lots < 0:
        return "Long > Short"
    if start_lots < 0 and end_lots > 0:
        return "Short > Long"
    if is_buy:
        return "Close Short" if start_lots < 0 else "Open Long"
    return "Close Long" if start_lots > 0 else "Open Short"


# --- the exchange ----------------------------------------------------------------------


class SimExchange:
    """Simulated Hyperliquid perp exchange: cross-margin accounts, limit orders, fills,
    hourly funding and liquidation against a :class:`MarketModel`.

    ``maker_fee`` / ``taker_fee`` are fractions of notional (defaults: Hyperliquid base tier,
    0.015 % / 0.045 %); ``starting_usdc`` (USD) is credited to an address the first time any
    method names it (faucet). Addresses are ``0x`` + 40 hex digits, any case (kept lowercase).

    Mutating calls take the caller's ``now_ms`` (sim ms) for timestamps; prices always come
    from the model's current state. :meth:`tick` must be called after the model advances:
    it settles funding, fires dead man's switches, fills crossed resting orders and liquidates.
    """

    def __init__(
        self,
        model: MarketModel,
        *,
        maker_fee: float = MAKER_FEE,
        taker_fee: float = TAKER_FEE,
        starting_usdc: float = 100_000.0,
    ) -> None:
        for name, value in (("maker_fee", maker_fee), ("taker_fee", taker_fee), ("starting_usdc", starting_usdc)):
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite")
        if starting_usdc < 0:
            raise ValueError("starting_usdc must be >= 0")
        self.model = model
        self.maker_fee = float(maker_fee)
        self.taker_fee = float(taker_fee)
        self.starting_usdc = float(starting_usdc)
        self._accounts: dict[str, _Account] = {}
        self._next_oid = 10_000_000_000
        self._next_tid = 500_000_000_000_000
        self._funded_ms = model.now_ms - model.now_ms % HOUR_MS
        self._by_asset = {model.market(c).asset_id: c for c in model.coins}

    # -- accounts -------------------------------------------------------------------------

    def _account(self, address: str) -> _Account:
        if not isinstance(address, str):
            raise TypeError("address must be a string")
        key = address.lower()
        acct = self._accounts.get(key)
        if acct is None:
            if not _ADDRESS_RE.match(key):
                raise ValueError(f"not an address: {address!r}")
            acct = _Account(key, self.starting_usdc)
            self._accounts[key] = acct
        return acct

    @property
    def addresses(self) -> list[str]:
        """Addresses with an account, in order of first use (lowercase)."""
        return list(self._accounts)

    def _leverage(self, acct: _Account, m: SimMarket) -> int:
        lev = acct.leverage.get(m.coin)
        return lev if lev is not None else min(self._max_leverage(m), DEFAULT_LEVERAGE)

    def _max_leverage(self, m: SimMarket) -> int:
        meta = self.model.meta_wire()["universe"][m.asset_id]
        return max(1, int(meta.get("maxLeverage", 1)))

    def _upnl(self, m: SimMarket, pos: _Position) -> float:
        return pos.lots * m.lot * (m.mark - pos.entry_px)

    def _totals(self, acct: _Account) -> tuple[float, float, float, float]:
        """``(accountValue, totalNtlPos, totalMarginUsed, maintenance)`` in USD at mark."""
        value = acct.usdc
        ntl = used = mm = 0.0
        for coin, pos in acct.positions.items():
            m = self.model.market(coin)
            value += self._upnl(m, pos)
            n = abs(pos.lots) * m.lot * m.mark
            ntl += n
            used += n / self._leverage(acct, m)
            mm += n / (2.0 * self._max_leverage(m))
        return value, ntl, used, mm

    def _reserved(self, acct: _Account) -> float:
        """Margin (USD) held by resting orders that would add to a position."""
        total = 0.0
        for o in acct.orders.values():
            if not o.reduce_only:
                m = self.model.market(o.coin)
                total += o.lots * m.lot * o.px / self._leverage(acct, m)
        return total

    def account_value(self, address: str) -> float:
        """``accountValue`` (USD): USDC balance + Σ unrealized PnL at mark."""
        return self._totals(self._account(address))[0]

    def balance(self, address: str) -> float:
        """USDC balance (USD): deposits + realized PnL + funding − fees."""
        return self._account(address).usdc

    def update_leverage(self, address: str, asset: int, is_cross: bool, leverage: int) -> dict[str, str] | str:
        """``updateLeverage``: set the cross leverage of ``asset`` (1 … maxLeverage).

        Returns ``"success"`` or ``{"error": msg}``; isolated margin is refused, as is a
        leverage whose margin the account cannot cover."""
        acct = self._account(address)
        coin = self._by_asset.get(asset) if isinstance(asset, int) and not isinstance(asset, bool) else None
        if coin is None:
            return {"error": ERR_ASSET}
        if not is_cross:
            return {"error": ERR_ISOLATED}
        m = self.model.market(coin)
        if not isinstance(leverage, int) or isinstance(leverage, bool) or not 1 <= leverage <= self._max_leverage(m):
            return {"error": ERR_LEVERAGE}
        old = acct.leverage.get(coin)
        acct.leverage[coin] = leverage
        value, _, used, _ = self._totals(acct)
        if value < used + self._reserved(acct) and coin in acct.positions:
            if old is None:
                del acct.leverage[coin]
            else:
                acct.leverage[coin] = old
            return {"error": ERR_LEVERAGE_MARGIN}
        return "success"

    # -- orders ---------------------------------------------------------------------------

    def place_orders(self, address: str, orders: list[dict[str, Any]], now_ms: int) -> list[dict[str, Any]]:
        """``order`` action: place order wires ``{a, b, p, s, r, t, c?}`` (``p``/``s`` decimal
        strings, ``t = {"limit": {"tif": "Gtc"|"Alo"|"Ioc"}}``) in turn.

        Returns one status per order, in order: ``{"resting": {"oid", "cloid"?}}``,
        ``{"filled": {"totalSz", "avgPx", "oid", "cloid"?}}`` or ``{"error": msg}``.
        A ``Gtc`` order that fills in part and rests the remainder answers ``resting``.
        """
        acct = self._account(address)
        return [self._place(acct, wire, int(now_ms)) for wire in orders]

    def _place(self, acct: _Account, wire: dict[str, Any], now_ms: int) -> dict[str, Any]:
        asset = wire.get("a")
        coin = self._by_asset.get(asset) if isinstance(asset, int) and not isinstance(asset, bool) else None
        if coin is None:
            return {"error": ERR_ASSET}
        m = self.model.market(coin)
        if not m.listed:
            return _err(ERR_ASSET, asset)
        is_buy = wire.get("b")
        reduce_only = wire.get("r")
        if not isinstance(is_buy, bool) or not isinstance(reduce_only, bool):
            return _err(ERR_TIF, asset)
        t = wire.get("t")
        tif = t.get("limit", {}).get("tif") if isinstance(t, dict) and isinstance(t.get("limit"), dict) else None
        if tif not in _TIFS:
            return _err(ERR_TIF, asset)
        cloid = wire.get("c")
        if cloid is not None:
            if not isinstance(cloid, str) or not _CLOID_RE.match(cloid.lower()):
                return _err(ERR_CLOID, asset)
            cloid = cloid.lower()
            if any(o.cloid == cloid for o in acct.orders.values()):
                return _err(ERR_CLOID, asset)
        try:
            px_d = Decimal(str(wire.get("p")))
            sz_d = Decimal(str(wire.get("s")))
        except InvalidOperation:
            return _err(ERR_PRICE, asset)
        if not px_d.is_finite() or px_d <= 0:
            return _err(ERR_PRICE, asset)
        if not is_valid_price(px_d, m.sz_decimals):
            return _err(ERR_TICK, asset)
        if not sz_d.is_finite() or sz_d <= 0:
            return _err(ERR_SIZE, asset)
        lots_d = sz_d.scaleb(m.sz_decimals)
        if lots_d != lots_d.to_integral_value():
            return _err(ERR_SIZE, asset)
        px = float(px_d)
        lots = int(lots_d)
        pos_lots = acct.positions[coin].lots if coin in acct.positions else 0

        if reduce_only:
            if pos_lots == 0 or (pos_lots > 0) == is_buy:
                return _err(ERR_REDUCE_ONLY, asset)
            lots = min(lots, abs(pos_lots))
        elif lots * m.lot * px < MIN_ORDER_USD:
            return _err(ERR_MIN_NTL, asset)

        bids, asks = self.model.l2_book_wire(coin)["levels"]
        if tif == "Alo":
            crosses = (asks and px >= float(asks[0]["px"])) if is_buy else (bids and px <= float(bids[0]["px"]))
            if crosses:
                bbo = f"{bids[0]['px'] if bids else _ZERO}@{asks[0]['px'] if asks else _ZERO}"
                return _err(ERR_ALO.format(bbo=bbo), asset)

        if not reduce_only:
            adding = lots if pos_lots == 0 or (pos_lots > 0) == is_buy else max(0, lots - abs(pos_lots))
            value, _, used, _ = self._totals(acct)
            need = adding * m.lot * px / self._leverage(acct, m)
            if tif != "Alo":
                need += lots * m.lot * px * self.taker_fee
            if adding > 0 and need > value - used - self._reserved(acct) + 1e-9:
                return _err(ERR_MARGIN, asset)

        # Walk the book for the marketable part.
        matched: list[tuple[float, str, int]] = []
        remaining = lots
        if tif != "Alo":
            for lvl in asks if is_buy else bids:
                lpx = float(lvl["px"])
                if (lpx > px) if is_buy else (lpx < px):
                    break
                avail = round(float(lvl["sz"]) * 10**m.sz_decimals)
                take = min(remaining, avail)
                if take > 0:
                    matched.append((lpx, lvl["px"], take))
                    remaining -= take
                if remaining == 0:
                    break
        if tif == "Ioc" and not matched:
            return _err(ERR_IOC, asset)

        oid = self._next_oid
        self._next_oid += 1
        filled = 0
        cost = 0.0
        for lpx, lpx_s, take in matched:
            self._fill(acct, m, oid, cloid, is_buy, lpx, lpx_s, take, now_ms, crossed=True)
            filled += take
            cost += lpx * take
        if remaining > 0 and tif != "Ioc":
            acct.orders[oid] = _Order(oid, coin, asset, is_buy, px, remaining, lots, reduce_only, tif, cloid, now_ms)
            body: dict[str, Any] = {"oid": oid}
            if cloid is not None:
                body["cloid"] = cloid
            return {"resting": body}
        body = {
            "totalSz": decimal_str(filled * m.lot, m.sz_decimals),
            "avgPx": _px(cost / filled),
            "oid": oid,
        }
        if cloid is not None:
            body["cloid"] = cloid
        return {"filled": body}

    def _fill(
        self,
        acct: _Account,
        m: SimMarket,
        oid: int,
        cloid: str | None,
        is_buy: bool,
        px: float,
        px_s: str,
        lots: int,
        now_ms: int,
        *,
        crossed: bool,
        liquidation: dict[str, Any] | None = None,
    ) -> None:
        """Apply one fill of ``lots`` at ``px`` to the account and record it."""
        pos = acct.positions.get(m.coin)
        if pos is None:
            pos = acct.positions[m.coin] = _Position()
        start = pos.lots
        delta = lots if is_buy else -lots
        end = start + delta
        closed_pnl = 0.0
        if start == 0 or (start > 0) == is_buy:
            pos.entry_px = (abs(start) * pos.entry_px + lots * px) / abs(end)
            if start == 0:
                pos.cum_open = 0.0
        else:
            closing = min(lots, abs(start))
            sign = 1.0 if start > 0 else -1.0
            closed_pnl = closing * m.lot * (px - pos.entry_px) * sign
            if (end > 0) != (start > 0) and end != 0:
                pos.entry_px = px
                pos.cum_open = 0.0
        pos.lots = end
        pos.cum_change = 0.0
        notional = lots * m.lot * px
        if liquidation is not None:
            fee = 0.0
        else:
            fee = notional * (self.taker_fee if crossed else self.maker_fee)
        acct.usdc += closed_pnl - fee
        if end == 0:
            del acct.positions[m.coin]
        tid = self._next_tid
        self._next_tid += 1
        row: dict[str, Any] = {
            "coin": m.coin,
            "px": px_s,
            "sz": decimal_str(lots * m.lot, m.sz_decimals),
            "side": "B" if is_buy else "A",
            "time": now_ms,
            "startPosition": decimal_str(start * m.lot, m.sz_decimals),
            "dir": _dir(start, is_buy, end),
            "closedPnl": _usd(closed_pnl),
            "hash": _hash(acct.address, oid, tid),
            "oid": oid,
            "crossed": crossed,
            "fee": _usd(fee),
            "tid": tid,
        }
        if cloid is not None:
            row["cloid"] = cloid
        if liquidation is not None:
            row["liquidation"] = liquidation
        row["feeToken"] = "USDC"
        acct.fills.append(row)

    # -- cancels --------------------------------------------------------------------------

    def cancel(self, address: str, asset: int, oid: int) -> dict[str, str] | str:
        """``cancel``: cancel the open order ``oid`` of ``asset``.

        Returns ``"success"`` or ``{"error": "Order was never placed, already canceled, or
        filled. asset=N"}``."""
        acct = self._account(address)
        o = acct.orders.get(oid) if isinstance(oid, int) else None
        if o is None or o.asset != asset:
            return _err(ERR_MISSING, asset)
        del acct.orders[oid]
        return "success"

    def cancel_by_cloid(self, address: str, asset: int, cloid: str) -> dict[str, str] | str:
        """``cancelByCloid``: cancel the open order of ``asset`` with client id ``cloid``
        (``0x`` + 32 hex digits, any case). Answers as :meth:`cancel`."""
        acct = self._account(address)
        key = cloid.lower() if isinstance(cloid, str) else None
        for o in acct.orders.values():
            if o.cloid is not None and o.cloid == key and o.asset == asset:
                del acct.orders[o.oid]
                return "success"
        return _err(ERR_MISSING, asset)

    def schedule_cancel(self, address: str, time_ms: int | None, now_ms: int) -> dict[str, str] | str:
        """``scheduleCancel`` (dead man's switch): at ``time_ms`` (sim ms) every open order of
        the account is cancelled by :meth:`tick`; ``None`` removes the schedule.

        Returns ``"success"``, or ``{"error": msg}`` when ``time_ms < now_ms + 5 000``."""
        acct = self._account(address)
        if time_ms is None:
            acct.cancel_at = None
            return "success"
        if time_ms < now_ms + SCHEDULE_CANCEL_MIN_MS:
            return {"error": ERR_SCHEDULE}
        acct.cancel_at = int(time_ms)
        return "success"

    # -- time -----------------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        """Bring accounts up to the model's current state, in this order: settle every
        funding hour the model has passed (:meth:`settle_funding`), fire dead man's switches
        whose time is ≤ ``now_ms``, fill resting orders the mid has crossed (maker, at the
        limit price), then liquidate accounts below maintenance margin."""
        now_ms = int(now_ms)
        boundary = self.model.now_ms - self.model.now_ms % HOUR_MS
        if boundary > self._funded_ms:
            self.settle_funding(boundary)
        for acct in self._accounts.values():
            if acct.cancel_at is not None and acct.cancel_at <= now_ms:
                acct.orders.clear()
                acct.cancel_at = None
            for o in list(acct.orders.values()):
                self._try_maker_fill(acct, o, now_ms)
        self.check_liquidations(now_ms)

    def _try_maker_fill(self, acct: _Account, o: _Order, now_ms: int) -> None:
        m = self.model.market(o.coin)
        if not ((m.mid < o.px) if o.is_buy else (m.mid > o.px)):
            return
        lots = o.lots
        if o.reduce_only:
            pos_lots = acct.positions[o.coin].lots if o.coin in acct.positions else 0
            if pos_lots == 0 or (pos_lots > 0) == o.is_buy:
                del acct.orders[o.oid]
                return
            lots = min(lots, abs(pos_lots))
        del acct.orders[o.oid]
        px_s = price_str(o.px, m.px_decimals)
        self._fill(acct, m, o.oid, o.cloid, o.is_buy, o.px, px_s, lots, now_ms, crossed=False)

    def settle_funding(self, boundary_ms: int) -> None:
        """Settle every unsettled top of the hour up to ``boundary_ms`` (a multiple of one hour,
        not after the model's clock): each position receives ``−szi × oraclePx × rate`` USDC
        (DOMAIN.md §1; :func:`core.funding.funding_payment`), ``rate`` being the model's settled
        hourly rate for that hour and ``oraclePx`` the model's current oracle. Rows go to
        ``userFunding`` and ``cumFunding``. Hours already settled are skipped (idempotent)."""
        if boundary_ms % HOUR_MS:
            raise ValueError("boundary_ms must be a top of the hour")
        if boundary_ms > self.model.now_ms:
            raise ValueError("boundary_ms is after the model's clock")
        while self._funded_ms < boundary_ms:
            self._funded_ms += HOUR_MS
            self._settle_hour(self._funded_ms)

    def _settle_hour(self, boundary_ms: int) -> None:
        rates: dict[str, float | None] = {}
        for acct in self._accounts.values():
            for coin, pos in acct.positions.items():
                if coin not in rates:
                    rates[coin] = self._rate_at(coin, boundary_ms)
                rate = rates[coin]
                if rate is None:
                    continue
                m = self.model.market(coin)
                szi = pos.lots * m.lot
                usdc = -(szi * m.oracle * rate) + 0.0
                acct.usdc += usdc
                pos.cum_all -= usdc
                pos.cum_open -= usdc
                pos.cum_change -= usdc
                acct.funding.append(
                    {
                        "delta": {
                            "coin": coin,
                            "fundingRate": decimal_str(rate, 10),
                            "nSamples": None,
                            "szi": decimal_str(szi, m.sz_decimals),
                            "type": "funding",
                            "usdc": _usd(usdc),
                        },
                        "hash": _hash(acct.address, coin, boundary_ms),
                        "time": boundary_ms,
                    }
                )

    def _rate_at(self, coin: str, boundary_ms: int) -> float | None:
        for row in reversed(self.model.market(coin).history):
            if row.time_ms == boundary_ms:
                return row.rate
            if row.time_ms < boundary_ms:
                break
        return None

    def check_liquidations(self, now_ms: int) -> list[str]:
        """Liquidate every account whose ``accountValue`` is below its maintenance margin
        (``Σ |szi| × mark / (2 · maxLeverage)``, half the initial margin at maximum leverage:
        an approximation of Hyperliquid's margin tables). Open orders are cancelled and
        positions closed at the mark without fee; the fills carry
        ``liquidation {liquidatedUser, markPx, method: "market"}``. Returns the addresses."""
        out: list[str] = []
        for acct in self._accounts.values():
            if not acct.positions:
                continue
            value, _, _, mm = self._totals(acct)
            if value >= mm:
                continue
            acct.orders.clear()
            for coin, pos in list(acct.positions.items()):
                m = self.model.market(coin)
                mark_s = price_str(m.mark, m.px_decimals)
                mark = float(mark_s)
                oid = self._next_oid
                self._next_oid += 1
                marker = {"liquidatedUser": acct.address, "markPx": mark_s, "method": "market"}
                self._fill(
                    acct, m, oid, None, pos.lots < 0, mark, mark_s, abs(pos.lots), now_ms,
                    crossed=True, liquidation=marker,
                )
            out.append(acct.address)
        return out

    # -- views ----------------------------------------------------------------------------

    def clearinghouse_state(self, address: str) -> dict[str, Any]:
        """``clearinghouseState`` in Hyperliquid's shape (numbers as decimal strings, USD):
        ``{marginSummary, crossMarginSummary, crossMaintenanceMarginUsed, withdrawable,
        assetPositions: [{type: "oneWay", position: {coin, szi, leverage{type, value},
        entryPx, positionValue, unrealizedPnl, returnOnEquity, liquidationPx, marginUsed,
        maxLeverage, cumFunding{allTime, sinceOpen, sinceChange}}}], time}``.

        ``liquidationPx`` is the mark at which the account would reach maintenance margin with
        every other price unchanged, ``None`` when no positive price does.
        ``returnOnEquity = unrealizedPnl / (|szi| × entryPx / leverage)``."""
        acct = self._account(address)
        value, ntl, used, mm = self._totals(acct)
        positions: list[dict[str, Any]] = []
        for coin in sorted(acct.positions, key=lambda c: self.model.market(c).asset_id):
            pos = acct.positions[coin]
            m = self.model.market(coin)
            lev = self._leverage(acct, m)
            max_lev = self._max_leverage(m)
            szi = pos.lots * m.lot
            pv = abs(szi) * m.mark
            upnl = self._upnl(m, pos)
            k = 1.0 / (2.0 * max_lev)
            mm_other = mm - pv * k
            sign = 1.0 if szi > 0 else -1.0
            liq = (mm_other - value + szi * m.mark) / (szi * (1.0 - sign * k))
            positions.append(
                {
                    "type": "oneWay",
                    "position": {
                        "coin": coin,
                        "szi": decimal_str(szi, m.sz_decimals),
                        "leverage": {"type": "cross", "value": lev},
                        "entryPx": _px(pos.entry_px),
                        "positionValue": _usd(pv),
                        "unrealizedPnl": _usd(upnl),
                        "returnOnEquity": decimal_str(upnl / (abs(szi) * pos.entry_px / lev), 8),
                        "liquidationPx": _px(liq) if liq > 0 and math.isfinite(liq) else None,
                        "marginUsed": _usd(pv / lev),
                        "maxLeverage": max_lev,
                        "cumFunding": {
                            "allTime": _usd(pos.cum_all),
                            "sinceOpen": _usd(pos.cum_open),
                            "sinceChange": _usd(pos.cum_change),
                        },
                    },
                }
            )
        raw = value - sum(
            acct.positions[c].lots * self.model.market(c).lot * self.model.market(c).mark for c in acct.positions
        )
        summary = {
            "accountValue": _usd(value),
            "totalNtlPos": _usd(ntl),
            "totalRawUsd": _usd(raw),
            "totalMarginUsed": _usd(used),
        }
        return {
            "marginSummary": summary,
            "crossMarginSummary": dict(summary),
            "crossMaintenanceMarginUsed": _usd(mm),
            "withdrawable": _usd(max(0.0, value - used)),
            "assetPositions": positions,
            "time": self.model.now_ms,
        }

    def open_orders(self, address: str) -> list[dict[str, Any]]:
        """``openOrders``: ``[{coin, side "B"|"A", limitPx, sz (remaining), oid, timestamp,
        origSz, reduceOnly, cloid?}]``, newest first."""
        acct = self._account(address)
        out: list[dict[str, Any]] = []
        for o in sorted(acct.orders.values(), key=lambda o: o.oid, reverse=True):
            m = self.model.market(o.coin)
            row: dict[str, Any] = {
                "coin": o.coin,
                "side": "B" if o.is_buy else "A",
                "limitPx": price_str(o.px, m.px_decimals),
                "sz": decimal_str(o.lots * m.lot, m.sz_decimals),
                "oid": o.oid,
                "timestamp": o.timestamp,
                "origSz": decimal_str(o.orig_lots * m.lot, m.sz_decimals),
                "reduceOnly": o.reduce_only,
            }
            if o.cloid is not None:
                row["cloid"] = o.cloid
            out.append(row)
        return out

    def user_fills(self, address: str) -> list[dict[str, Any]]:
        """``userFills``: ``[{coin, px, sz, side, time, startPosition, dir, closedPnl, hash, oid,
        crossed, fee, tid, cloid?, liquidation?, feeToken}]``, newest first (fee and
        closedPnl in USDC; closedPnl excludes the fee)."""
        return list(reversed(self._account(address).fills))

    def user_funding(self, address: str, start_ms: int, end_ms: int | None = None) -> list[dict[str, Any]]:
        """``userFunding``: ``[{delta: {coin, fundingRate, nSamples, szi, type: "funding",
        usdc}, hash, time}]`` with ``start_ms ≤ time ≤ end_ms`` (end defaults to the model's
        now), oldest first; ``usdc`` is from the user's side (positive = received)."""
        end = self.model.now_ms if end_ms is None else end_ms
        return [r for r in self._account(address).funding if start_ms <= r["time"] <= end]

