"""Accounts, orders and matching of the embedded Hyperliquid-compatible simulator.

Pure computation, no I/O: :class:`SimExchange` keeps cross-margin accounts against a
:class:`pfterm.core.sim.market.MarketModel` and answers with Hyperliquid's wire shapes (numbers as
decimal strings), so an HTTP layer only has to route and serialise.

Units follow docs/domain.md: prices and USDC amounts in USD, sizes in base units (signed ``szi``:
long > 0), times in integer milliseconds UTC on the simulated clock, rates as fractions.
Sizes are held internally as integer lots (``10^−szDecimals`` base units) so positions
open and close exactly.

Model (docs/venues.md "Exchange", Hyperliquid docs "Exchange endpoint", "Order types",
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
* **Funding** (docs/domain.md §1): at every top of the hour a position receives
  ``−szi × oraclePx × rate`` USDC (positive rate: longs pay), with the model's settled rate
  for that hour and the oracle price at settlement time. ``cumFunding`` counts funding *paid*
  (positive = paid), as Hyperliquid reports it.
* **Liquidation** (docs/domain.md §4, approximated): maintenance margin is half the initial margin
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
import json
import math
import re
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from pfterm.core.sim.market import (
    HOUR_MS,
    MarketModel,
    SimMarket,
    UnknownCoinError,
    decimal_str,
    price_decimals,
    price_str,
)

__all__ = [
    "DEFAULT_LEVERAGE",
    "FILLS_LEN",
    "FUNDING_LEN",
    "MAKER_FEE",
    "MIN_ORDER_USD",
    "SCHEDULE_CANCEL_MIN_MS",
    "SPOT_ASSET_OFFSET",
    "SPOT_MAKER_FEE",
    "SPOT_TAKER_FEE",
    "SimExchange",
    "SpotPair",
    "TAKER_FEE",
    "load_spot_meta",
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
"""A dead man's switch must be at least 5 s ahead (docs/venues.md, ``scheduleCancel``)."""
FILLS_LEN = 10_000
"""Fills kept per account (Hyperliquid's ``userFills`` serves at most the 2 000 latest)."""
FUNDING_LEN = 10_000
"""Funding rows kept per account (over a year of hourly rows for a dozen positions)."""
USD_DECIMALS = 6
SPOT_MAKER_FEE = 0.0004
"""Spot maker fee, fraction of notional (Hyperliquid docs "Fees": base tier spot, 0.040 %)."""
SPOT_TAKER_FEE = 0.0007
"""Spot taker fee, fraction of notional (Hyperliquid docs "Fees": base tier spot, 0.070 %; the real
capture ``fixtures/hyperliquid/http_user_fills_dust_conversion.json`` charges 0.00088689 USOL on a
1.267 USOL taker buy, exactly 0.07 %)."""
SPOT_ASSET_OFFSET = 10_000
"""Spot asset id = 10 000 + spot universe index (docs/venues.md, ``spotMeta``)."""
SPOT_PX_DECIMALS = 8
"""Spot prices carry at most ``8 − szDecimals`` decimals (and 5 significant figures)."""
SPOT_AMOUNT_DECIMALS = 8
"""Decimals of spot token amounts on the wire (balances, spot fees)."""
SPOT_HALF_SPREAD = 0.0002
"""Half spread of the synthetic spot book around the spot mid, fraction of the mid."""
SPOT_LEVEL_STEP = 0.0004
"""Distance between successive spot book levels, fraction of the mid."""
SPOT_LEVEL_USD = 25_000.0
"""Notional (USD) shown at each spot book level."""
SPOT_BOOK_LEVELS = 20
"""Levels per side of the synthetic spot book."""
SPOT_PERP_ALIASES = {"UBTC": "BTC", "UETH": "ETH", "USOL": "SOL"}
"""Spot base tokens that are wrapped versions of a perp's underlying (Unit tokens)."""
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
ERR_SPOT_BALANCE = "Order has insufficient spot balance to trade"
"""``InsufficientSpotBalance`` (exchange_error_messages.json, without the docs' "(Spot-only)" tag)."""
ERR_SPOT_MIN_NTL = "Order must have minimum value of 10 {quote}."
"""``MinTradeSpotNtl`` (exchange_error_messages.json)."""
# Simulator-only, same style as the venue's.
ERR_SPOT_UNAVAILABLE = "Spot market not available in simulator."
ERR_SPOT_REDUCE_ONLY = "Reduce only orders are not supported for spot."

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
    spot: SpotPair | None = None


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
    spot: dict[str, float] = field(default_factory=dict)
    """Spot token balances by token name (base units, held included)."""
    spot_entry: dict[str, float] = field(default_factory=dict)
    """Cost basis of each spot token balance, USDC (``entryNtl``)."""


@dataclass(slots=True, frozen=True)
class SpotPair:
    """One spot market of the simulator's ``spotMeta``.

    ``name`` is the venue's coin key (``"PURR/USDC"`` for index 0, ``"@{index}"`` for the
    others); ``asset_id = 10 000 + index``; ``base`` / ``quote`` are token names;
    ``sz_decimals`` is the base token's ``szDecimals``; ``perp`` is the simulated perp whose
    underlying the base token is (``None``: the pair cannot trade in the simulator).
    """

    index: int
    name: str
    base: str
    quote: str
    sz_decimals: int
    perp: str | None

    @property
    def asset_id(self) -> int:
        return SPOT_ASSET_OFFSET + self.index

    @property
    def lot(self) -> float:
        return 10.0**-self.sz_decimals

    @property
    def px_decimals(self) -> int:
        return SPOT_PX_DECIMALS - self.sz_decimals


def load_spot_meta() -> dict[str, Any]:
    """The packaged ``spotMeta`` answer (``core/sim/data/spotMeta.json``, see its README)."""
    from importlib import resources

    return json.loads(resources.files("pfterm.core.sim").joinpath("data/spotMeta.json").read_text("utf-8"))


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
        spot_meta: dict[str, Any] | None = None,
        spot_maker_fee: float = SPOT_MAKER_FEE,
        spot_taker_fee: float = SPOT_TAKER_FEE,
    ) -> None:
        for name, value in (
            ("maker_fee", maker_fee),
            ("taker_fee", taker_fee),
            ("starting_usdc", starting_usdc),
            ("spot_maker_fee", spot_maker_fee),
            ("spot_taker_fee", spot_taker_fee),
        ):
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
        self.spot_maker_fee = float(spot_maker_fee)
        self.spot_taker_fee = float(spot_taker_fee)
        self._spot_meta = spot_meta if spot_meta is not None else load_spot_meta()
        self._spot_pairs: dict[int, SpotPair] = {}
        self._spot_by_name: dict[str, SpotPair] = {}
        self._spot_tokens: dict[str, dict[str, Any]] = {}
        tokens = {t["index"]: t for t in self._spot_meta.get("tokens", [])}
        for t in tokens.values():
            self._spot_tokens[t["name"]] = t
        for u in self._spot_meta.get("universe", []):
            base, quote = (tokens.get(i) for i in u["tokens"])
            if base is None or quote is None:
                continue
            pair = SpotPair(
                int(u["index"]),
                u["name"],
                base["name"],
                quote["name"],
                int(base.get("szDecimals", 0)),
                self._perp_of(base["name"]),
            )
            self._spot_pairs[pair.asset_id] = pair
            self._spot_by_name[pair.name] = pair

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
            acct.spot["USDC"] = self.starting_usdc
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
            if not o.reduce_only and o.spot is None:
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
        if not isinstance(asset, int) or isinstance(asset, bool):
            return {"error": ERR_ASSET}
        if asset >= SPOT_ASSET_OFFSET:
            return self._place_spot(acct, wire, asset, now_ms)
        coin = self._by_asset.get(asset)
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
        if not _on_tick(px_d, m.sz_decimals, PERP_PRICE_DECIMALS):
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
                if o.spot is not None:
                    self._try_spot_maker_fill(acct, o, now_ms)
                else:
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
        (docs/domain.md §1; :func:`pfterm.core.market.funding.funding_payment`), ``rate`` being the model's settled
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
            for oid in [o.oid for o in acct.orders.values() if o.spot is None]:
                del acct.orders[oid]
            for coin, pos in list(acct.positions.items()):
                m = self.model.market(coin)
                mark_s = price_str(m.mark, m.px_decimals)
                mark = float(mark_s)
                oid = self._next_oid
                self._next_oid += 1
                marker = {"liquidatedUser": acct.address, "markPx": mark_s, "method": "market"}
                self._fill(
                    acct,
                    m,
                    oid,
                    None,
                    pos.lots < 0,
                    mark,
                    mark_s,
                    abs(pos.lots),
                    now_ms,
                    crossed=True,
                    liquidation=marker,
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
            if o.spot is not None:
                out.append(self._spot_order_row(o))
                continue
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

    # -- spot -----------------------------------------------------------------------------
    #
    # Spot (Hyperliquid docs "Spot", docs/venues.md ``spotMeta``): asset id 10 000 + universe index;
    # balances per token, separate from the perp account's USDC (a new account starts with
    # ``starting_usdc`` in *each*, so spot and perp can be traded side by side without a
    # transfer). No leverage and no reduce-only. A pair trades only when its base token is the
    # underlying of a simulated, listed perp (``SPOT_PERP_ALIASES``: UBTC → BTC, …; otherwise
    # the same name); its mid is that perp's oracle price (the index the perp's basis is
    # measured against, docs/domain.md §2), so ``perp mark / spot mid − 1`` is the model's basis.
    # Fees: taker on book fills, maker on resting fills (``SPOT_TAKER_FEE`` / ``SPOT_MAKER_FEE``),
    # charged in the token received (base on a buy, quote on a sell), as in the real fill
    # capture (``feeToken`` "USOL" on a buy of ``@156``).

    def _perp_of(self, token: str) -> str | None:
        coin = SPOT_PERP_ALIASES.get(token, token)
        try:
            m = self.model.market(coin)
        except UnknownCoinError:
            return None
        return coin if m.listed else None

    @property
    def spot_pairs(self) -> list[SpotPair]:
        """The spot pairs of ``spotMeta`` in universe order (tradeable or not)."""
        return list(self._spot_pairs.values())

    def spot_pair(self, name: str) -> SpotPair | None:
        """The spot pair whose coin key is ``name`` (``"PURR/USDC"``, ``"@142"``), or ``None``."""
        return self._spot_by_name.get(name)

    def spot_mid(self, pair: SpotPair) -> float | None:
        """Spot mid (quote per base) of a tradeable pair: the perp's oracle price; else ``None``."""
        if pair.perp is None:
            return None
        return self.model.market(pair.perp).oracle

    def spot_meta_wire(self) -> dict[str, Any]:
        """``spotMeta``: the packaged ``{universe, tokens}`` unchanged."""
        return self._spot_meta

    def spot_mids_wire(self) -> dict[str, str]:
        """Spot entries of ``allMids``: ``{pair name: mid}`` for tradeable pairs (book centre)."""
        out: dict[str, str] = {}
        for pair in self._spot_pairs.values():
            book = self.spot_book_wire(pair.name, n_levels=1)  # the top of the book is all a mid needs
            bids, asks = book["levels"]
            if bids and asks:
                d = max(_decimals(bids[0]["px"]), _decimals(asks[0]["px"])) + 1
                out[pair.name] = _trim_num(f"{(float(bids[0]['px']) + float(asks[0]['px'])) / 2.0:.{d}f}")
        return out

    def spot_meta_and_asset_ctxs_wire(self) -> list[Any]:
        """``spotMetaAndAssetCtxs``: ``[spotMeta, [ctx...]]``, one ctx per pair in universe order:
        ``{prevDayPx, dayNtlVlm, markPx, midPx, coin}`` (the real answer also carries
        ``circulatingSupply`` and more, which the simulator does not model). Untradeable pairs
        have ``null`` prices; the simulator keeps no spot volume (``dayNtlVlm`` ``"0.0"``)."""
        mids = self.spot_mids_wire()
        ctxs: list[dict[str, Any]] = []
        for pair in self._spot_pairs.values():
            mid = self.spot_mid(pair)
            if mid is None:
                ctxs.append({"prevDayPx": None, "dayNtlVlm": _ZERO, "markPx": None, "midPx": None, "coin": pair.name})
                continue
            m = self.model.market(pair.perp)  # type: ignore[arg-type]
            prev = self.model.prev_day_px(m.coin) * (m.oracle / m.mark if m.mark > 0 else 1.0)
            ctxs.append(
                {
                    "prevDayPx": price_str(prev, pair.px_decimals),
                    "dayNtlVlm": _ZERO,
                    "markPx": price_str(mid, pair.px_decimals),
                    "midPx": mids.get(pair.name),
                    "coin": pair.name,
                }
            )
        return [self._spot_meta, ctxs]

    def spot_book_wire(self, name: str, n_levels: int = SPOT_BOOK_LEVELS) -> dict[str, Any]:
        """``l2Book`` of a spot pair: ``{coin, time, levels: [bids, asks]}``, level ``{px, sz, n}``.

        Deterministic: level ``i`` sits ``SPOT_HALF_SPREAD + i × SPOT_LEVEL_STEP`` from the mid
        (on the spot tick: 5 significant figures, ≤ 8 − szDecimals decimals) and shows about
        ``SPOT_LEVEL_USD`` of base. Untradeable pairs have empty sides. Raises
        :class:`UnknownCoinError` for a name that is not a spot pair."""
        pair = self._spot_by_name.get(name)
        if pair is None:
            raise UnknownCoinError(name)
        mid = self.spot_mid(pair)
        now = self.model.now_ms
        if mid is None or not mid > 0:
            return {"coin": name, "time": now, "levels": [[], []]}
        bids: list[dict[str, Any]] = []
        asks: list[dict[str, Any]] = []
        for side, sign, rounding in ((bids, -1.0, math.floor), (asks, 1.0, math.ceil)):
            last = None
            for i in range(n_levels * 2):
                if len(side) >= n_levels:
                    break
                raw = mid * (1.0 + sign * (SPOT_HALF_SPREAD + i * SPOT_LEVEL_STEP))
                if raw <= 0:
                    break
                d = price_decimals(raw, pair.px_decimals)
                step = 10.0**-d
                px = rounding(raw / step + (1e-9 if sign < 0 else -1e-9)) * step
                px_s = _trim_num(f"{px:.{d}f}")
                if px_s == last or not px > 0:
                    continue
                last = px_s
                sz = max(round(SPOT_LEVEL_USD / px, pair.sz_decimals), pair.lot)
                side.append({"px": px_s, "sz": decimal_str(sz, pair.sz_decimals), "n": 1 + i % 5})
        return {"coin": name, "time": now, "levels": [bids, asks]}

    def _spot_hold(self, acct: _Account, token: str) -> float:
        """Amount of ``token`` held by the account's resting spot orders (base units)."""
        held = 0.0
        for o in acct.orders.values():
            pair = o.spot
            if pair is None:
                continue
            if o.is_buy and pair.quote == token:
                held += o.lots * pair.lot * o.px
            elif not o.is_buy and pair.base == token:
                held += o.lots * pair.lot
        return held

    def spot_balance(self, address: str, token: str) -> float:
        """Total spot balance of ``token`` (held included), base units of the token."""
        return self._account(address).spot.get(token, 0.0)

    def _place_spot(self, acct: _Account, wire: dict[str, Any], asset: int, now_ms: int) -> dict[str, Any]:
        pair = self._spot_pairs.get(asset)
        if pair is None:
            return {"error": ERR_ASSET}
        if pair.perp is None:
            return _err(ERR_SPOT_UNAVAILABLE, asset)
        is_buy = wire.get("b")
        reduce_only = wire.get("r")
        if not isinstance(is_buy, bool) or not isinstance(reduce_only, bool):
            return _err(ERR_TIF, asset)
        if reduce_only:
            return _err(ERR_SPOT_REDUCE_ONLY, asset)
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
        if not _on_tick(px_d, pair.sz_decimals, SPOT_PRICE_DECIMALS):
            return _err(ERR_TICK, asset)
        if not sz_d.is_finite() or sz_d <= 0:
            return _err(ERR_SIZE, asset)
        lots_d = sz_d.scaleb(pair.sz_decimals)
        if lots_d != lots_d.to_integral_value():
            return _err(ERR_SIZE, asset)
        px = float(px_d)
        lots = int(lots_d)
        if lots * pair.lot * px < MIN_ORDER_USD:
            return _err(ERR_SPOT_MIN_NTL.format(quote=pair.quote), asset)

        bids, asks = self.spot_book_wire(pair.name)["levels"]
        if tif == "Alo":
            crosses = (asks and px >= float(asks[0]["px"])) if is_buy else (bids and px <= float(bids[0]["px"]))
            if crosses:
                bbo = f"{bids[0]['px'] if bids else _ZERO}@{asks[0]['px'] if asks else _ZERO}"
                return _err(ERR_ALO.format(bbo=bbo), asset)
        # Balance check at the limit price (a buy can never spend more than px × sz).
        token, need = (pair.quote, lots * pair.lot * px) if is_buy else (pair.base, lots * pair.lot)
        available = acct.spot.get(token, 0.0) - self._spot_hold(acct, token)
        if need > available + 1e-9:
            return _err(ERR_SPOT_BALANCE, asset)

        matched: list[tuple[float, str, int]] = []
        remaining = lots
        if tif != "Alo":
            for lvl in asks if is_buy else bids:
                lpx = float(lvl["px"])
                if (lpx > px) if is_buy else (lpx < px):
                    break
                take = min(remaining, round(float(lvl["sz"]) * 10**pair.sz_decimals))
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
            self._spot_fill(acct, pair, oid, cloid, is_buy, lpx, lpx_s, take, now_ms, crossed=True)
            filled += take
            cost += lpx * take
        if remaining > 0 and tif != "Ioc":
            acct.orders[oid] = _Order(
                oid, pair.name, asset, is_buy, px, remaining, lots, False, tif, cloid, now_ms, pair
            )
            body: dict[str, Any] = {"oid": oid}
            if cloid is not None:
                body["cloid"] = cloid
            return {"resting": body}
        body = {
            "totalSz": decimal_str(filled * pair.lot, pair.sz_decimals),
            "avgPx": _px(cost / filled),
            "oid": oid,
        }
        if cloid is not None:
            body["cloid"] = cloid
        return {"filled": body}

    def _spot_fill(
        self,
        acct: _Account,
        pair: SpotPair,
        oid: int,
        cloid: str | None,
        is_buy: bool,
        px: float,
        px_s: str,
        lots: int,
        now_ms: int,
        *,
        crossed: bool,
    ) -> None:
        """Apply one spot fill of ``lots`` at ``px`` to the balances and record it."""
        size = lots * pair.lot
        notional = size * px
        rate = self.spot_taker_fee if crossed else self.spot_maker_fee
        start = acct.spot.get(pair.base, 0.0)
        if is_buy:
            fee = size * rate
            fee_token = pair.base
            acct.spot[pair.quote] = acct.spot.get(pair.quote, 0.0) - notional
            acct.spot[pair.base] = start + size - fee
            acct.spot_entry[pair.base] = acct.spot_entry.get(pair.base, 0.0) + notional
        else:
            fee = notional * rate
            fee_token = pair.quote
            acct.spot[pair.base] = start - size
            acct.spot[pair.quote] = acct.spot.get(pair.quote, 0.0) + notional - fee
            if start > 0:
                acct.spot_entry[pair.base] = acct.spot_entry.get(pair.base, 0.0) * max(0.0, 1.0 - size / start)
        if abs(acct.spot.get(pair.base, 0.0)) < 1e-12:
            acct.spot[pair.base] = 0.0
            acct.spot_entry.pop(pair.base, None)
        tid = self._next_tid
        self._next_tid += 1
        row: dict[str, Any] = {
            "coin": pair.name,
            "px": px_s,
            "sz": decimal_str(size, pair.sz_decimals),
            "side": "B" if is_buy else "A",
            "time": now_ms,
            "startPosition": decimal_str(start, SPOT_AMOUNT_DECIMALS),
            "dir": "Buy" if is_buy else "Sell",
            "closedPnl": _ZERO,
            "hash": _hash(acct.address, oid, tid),
            "oid": oid,
            "crossed": crossed,
            "fee": decimal_str(fee, SPOT_AMOUNT_DECIMALS),
            "tid": tid,
        }
        if cloid is not None:
            row["cloid"] = cloid
        row["feeToken"] = fee_token
        acct.fills.append(row)

    def _try_spot_maker_fill(self, acct: _Account, o: _Order, now_ms: int) -> None:
        pair = o.spot
        assert pair is not None
        mid = self.spot_mid(pair)
        if mid is None or not ((mid < o.px) if o.is_buy else (mid > o.px)):
            return
        del acct.orders[o.oid]
        px_s = price_str(o.px, pair.px_decimals)
        self._spot_fill(acct, pair, o.oid, o.cloid, o.is_buy, o.px, px_s, o.lots, now_ms, crossed=False)

    def _spot_order_row(self, o: _Order) -> dict[str, Any]:
        pair = o.spot
        assert pair is not None
        row: dict[str, Any] = {
            "coin": pair.name,
            "side": "B" if o.is_buy else "A",
            "limitPx": price_str(o.px, pair.px_decimals),
            "sz": decimal_str(o.lots * pair.lot, pair.sz_decimals),
            "oid": o.oid,
            "timestamp": o.timestamp,
            "origSz": decimal_str(o.orig_lots * pair.lot, pair.sz_decimals),
            "reduceOnly": False,
        }
        if o.cloid is not None:
            row["cloid"] = o.cloid
        return row

    def spot_clearinghouse_state(self, address: str) -> dict[str, Any]:
        """``spotClearinghouseState``: ``{"balances": [{coin, token, total, hold, entryNtl}]}``
        (amounts in token units as decimal strings, ``entryNtl`` USDC), USDC first, then the
        other tokens with a non-zero balance in token-index order (shape as
        ``fixtures/hyperliquid/http_spot_clearinghouse_state.json``)."""
        acct = self._account(address)
        names = ["USDC"] + sorted(
            (n for n, v in acct.spot.items() if n != "USDC" and (v or self._spot_hold(acct, n))),
            key=lambda n: self._spot_tokens.get(n, {}).get("index", 1 << 30),
        )
        balances = []
        for name in names:
            balances.append(
                {
                    "coin": name,
                    "token": self._spot_tokens.get(name, {}).get("index", 0),
                    "total": decimal_str(acct.spot.get(name, 0.0), SPOT_AMOUNT_DECIMALS),
                    "hold": decimal_str(self._spot_hold(acct, name), SPOT_AMOUNT_DECIMALS),
                    "entryNtl": _usd(acct.spot_entry.get(name, 0.0)),
                }
            )
        return {"balances": balances}


def _decimals(text: str) -> int:
    return len(text.split(".", 1)[1]) if "." in text else 0


def _trim_num(text: str) -> str:
    """Drop trailing zeros of a fixed-point string, keeping one decimal (``"12.50"`` → ``"12.5"``)."""
    if "." not in text:
        return text + ".0"
    text = text.rstrip("0")
    return text + "0" if text.endswith(".") else text


PERP_PRICE_DECIMALS: Final = 6
"""A perp price may carry at most ``6 - szDecimals`` decimals (Hyperliquid docs, "Tick and lot size")."""

SPOT_PRICE_DECIMALS: Final = 8
"""A spot price may carry at most ``8 - szDecimals`` decimals."""

PRICE_SIGNIFICANT_FIGURES: Final = 5
"""A non-integer price may carry at most 5 significant figures."""


def _on_tick(px: Decimal, sz_decimals: int, max_decimals: int) -> bool:
    """The exchange's own tick check of a positive, finite price ``px`` (USD): an integer, or at
    most :data:`PRICE_SIGNIFICANT_FIGURES` significant figures and ``max_decimals - sz_decimals``
    decimals. Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/tick-and-lot-size
    """
    if px == px.to_integral_value():
        return True
    _sign, digits, exponent = px.normalize().as_tuple()
    return (
        isinstance(exponent, int)
        and len(digits) <= PRICE_SIGNIFICANT_FIGURES
        and -exponent <= max_decimals - sz_decimals
    )
