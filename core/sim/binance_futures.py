"""Binance USDⓈ-M futures accounts and matching for the embedded simulator.

Pure computation, no I/O: :class:`BinanceFuturesSim` keeps API-key accounts against the
Binance venue of a :class:`~pfterm.core.sim.cex.CexModel` and answers with the real API's wire
shapes (Binance "USDⓈ-M Futures" REST docs; ``fixtures/binance/ccxt_fetchPositions_1.json``,
``ccxt_fetchBalance_1.json``, ``ccxt_fetchFundingHistory_1.json``), numbers as decimal strings
where Binance sends strings. Errors are raised as :class:`BinanceApiError` carrying the
venue's ``{"code", "msg"}`` and HTTP status, so an HTTP layer only routes and serialises.

Units: prices and USDT amounts in USD(T), quantities in base units (signed ``positionAmt``:
long > 0), times in integer ms UTC on the *simulated* clock, rates and fees as fractions.
Prices are held as integer ticks and quantities as integer steps, so positions open and
close exactly.

Authentication (signed endpoints): header ``X-MBX-APIKEY``; ``signature`` = lowercase hex
HMAC-SHA256(secret, totalParams), totalParams = the raw query string followed directly by
the raw form body, each without its ``signature=`` component. A request is accepted when
``timestamp < now + 1000`` and ``now − timestamp ≤ recvWindow`` (default 5000 ms, at most
60 000), ``now`` being the simulated clock (so lockstep sessions sign with sim time;
``GET /fapi/v1/time`` tells it).

Markets: every market the :class:`CexModel` lists on Binance, one-way mode (``positionSide``
``BOTH``), cross margin, USDT only. Filters are fixed at construction from the mark then:
tick = ``10^⌊log10(mark × 1e−5)⌋`` (BTC ≈ 90 k → 0.1), ``pricePrecision`` = tick decimals + 1
(so, as on Binance, a price may be precise enough yet off the tick: -4014), step =
``10^⌈log10(1 / mark)⌉`` (one step is worth 1–10 USD), min notional 5 USDT.

Model:

* **Book**: bid = ``mark × (1 − h)`` rounded down to the tick, ask = ``mark × (1 + h)``
  rounded up, ``h`` = :data:`HALF_SPREAD` (0.01 %), unlimited depth on both sides, read live.
* **Taker fills**: a marketable LIMIT order (buy ``price ≥ ask``, sell ``price ≤ bid``) and a
  MARKET order fill in full at once at the touch (ask for buys, bid for sells), never at the
  limit. IOC and FOK therefore either fill in full or expire untouched (``EXPIRED``,
  ``executedQty`` 0); a non-marketable GTC rests (``NEW``); a GTX that would cross is refused
  (-5022) and otherwise rests.
* **Maker fills**: at each :meth:`BinanceFuturesSim.tick` (and before each signed request) a
  resting order fills in full at its limit price when the touch crosses it (buy: ask ≤
  price; sell: bid ≥ price). No margin check is made at that moment.
* **Reduce-only**: refused (-2022) when the position is flat or on the order's side; at fill
  time the quantity is capped to the position, the rest expires (status ``EXPIRED``,
  ``executedQty`` < ``origQty``); a resting one that finds the position gone expires.
* **Fees**: taker :data:`TAKER_FEE` (0.05 %), maker :data:`MAKER_FEE` (0.02 %) of the fill's
  notional, charged in USDT to the wallet (Binance regular tier). Each fill books a
  ``COMMISSION`` income row and, when it reduces a position, a ``REALIZED_PNL`` row
  (average-entry accounting; a fill through zero closes, then opens the rest at the fill
  price).
* **Funding**: at each settlement the CexModel makes (drained from
  :meth:`CexModel.drain_settlements` at each tick) a position receives
  ``−positionAmt × mark × rate`` USDT (positive rate: longs pay), booked as ``FUNDING_FEE``
  income at the settlement instant; positions are taken as they stand at the tick that
  drains it, before that tick's maker fills.
* **Margin**: leverage per symbol (default 20, 1–50); position initial margin =
  ``|notional at mark| / leverage``; open-order initial margin per symbol = the larger of the
  buy and sell sides' notional (at limit price) that would *increase* the position,
  ``/ leverage`` (reduce-only orders count nothing). Maintenance margin =
  ``|notional| × 0.004`` (:data:`MAINT_MARGIN_RATE`, Binance's lowest tier for every market:
  a simplification). A non-reduce-only order is refused (-2019) when, counting it as an open
  order (at its fill price if marketable), the total initial margin would exceed
  ``wallet + unrealized P&L`` *and* be larger than before it. Fees are not reserved.
* **Liquidation price** (cross, one position ``P`` with entry ``E``, the rest of the account
  held fixed): ``L = (W − MM_other + UPnL_other − P·E) / (|P|·mmr − P)`` with ``W`` the
  wallet, so that margin balance equals maintenance margin at mark ``L``; ``0`` when
  ``L ≤ 0``.
* **Liquidation**: at a tick where ``wallet + unrealized P&L`` is below the total
  maintenance margin, every open order is cancelled and every position closed at the mark
  (rounded to the tick) without fee, through an ``autoclose-…`` order whose trade and
  ``REALIZED_PNL`` income are recorded; no insurance-fund clearance fee. The wallet may end
  negative.
* **Dead man's switch** (``countdownCancelAll``): the open orders of the symbol are cancelled
  at the first tick at or after the deadline (the server ticks exactly at it in lockstep);
  it then disarms.

Simplifications: LIMIT and MARKET only (other types answer -1116), no partial fills, no
self-trade prevention, ``newOrderRespType`` ACK answers the full result, ``maxNotional`` is
reported (:data:`MAX_NOTIONAL_1X` / leverage) but not enforced, every ``clientOrderId`` ever
used by an account stays taken (-4116). Orders, trades and income are kept per account in
bounded logs (:data:`LOG_LEN`).

Determinism: no randomness; order, trade and transaction ids come from counters shared by all
accounts, so the same market path and the same request sequence give the same answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from pfterm.core.sim.cex import BINANCE, CexMarket, CexModel

__all__ = [
    "BinanceApiError",
    "BinanceFuturesSim",
    "FuturesAccount",
    "FuturesIncome",
    "FuturesOrder",
    "FuturesPosition",
    "FuturesTrade",
    "SignedRequest",
    "SymbolSpec",
    "WireParams",
]

HALF_SPREAD = 0.0001
"""Half the bid/ask spread around the mark (fraction)."""
TAKER_FEE = 0.0005
"""Taker commission, fraction of notional (Binance USDⓈ-M regular tier)."""
MAKER_FEE = 0.0002
"""Maker commission, fraction of notional (Binance USDⓈ-M regular tier)."""
MAINT_MARGIN_RATE = 0.004
"""Maintenance margin, fraction of notional (one tier for every market: a simplification)."""
DEFAULT_LEVERAGE = 20
MAX_LEVERAGE = 50
MAX_NOTIONAL_1X = 50_000_000.0
"""Reported ``maxNotionalValue`` (USDT) at 1× leverage; divided by the leverage."""
MIN_NOTIONAL = 5.0
"""Smallest order notional (USDT) unless reduce-only."""
MAX_OPEN_ORDERS = 200
"""Open orders per symbol and account."""
MAX_BATCH = 5
LOG_LEN = 10_000
"""Orders, trades and income rows kept per account."""
DEFAULT_RECV_WINDOW_MS = 5_000
MAX_RECV_WINDOW_MS = 60_000
FUTURE_TOLERANCE_MS = 1_000
"""How far ahead of the server clock a ``timestamp`` may be (ms)."""
WEEK_MS = 7 * 86_400_000
FIRST_ORDER_ID = 4_000_000_001
FIRST_TRADE_ID = 300_000_001
FIRST_TRAN_ID = 8_000_000_000_001

_CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_SIDES = ("BUY", "SELL")
_TYPES = ("LIMIT", "MARKET")
_TIFS = ("GTC", "IOC", "FOK", "GTX")


class BinanceApiError(Exception):
    """A request Binance would refuse: ``code`` / ``msg`` as the venue sends them, ``status``
    the HTTP status (400, or 401 for API-key errors)."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def wire(self) -> dict[str, Any]:
        """The ``{"code", "msg"}`` error body."""
        return {"code": self.code, "msg": self.msg}


def _mandatory(name: str) -> BinanceApiError:
    return BinanceApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


_BAD_SYMBOL = (-1121, "Invalid symbol.")
_PRECISION = (-1111, "Precision is over the maximum defined for this asset.")
_MARGIN = (-2019, "Margin is insufficient.")
_REDUCE_ONLY = (-2022, "ReduceOnly Order is rejected.")
_POST_ONLY = (-5022, "Due to the order could not be executed as maker, the Post Only order will be rejected.")
_UNKNOWN_ORDER = (-2011, "Unknown order sent.")
_NO_ORDER = (-2013, "Order does not exist.")


def _error(pair: tuple[int, str]) -> BinanceApiError:
    return BinanceApiError(pair[0], pair[1])


# -- wire parameters ---------------------------------------------------------------------


class WireParams:
    """The decoded parameters of one request (query and body merged) with Binance's checks:
    a missing, empty or malformed value raises -1102 naming the parameter."""

    def __init__(self, items: Mapping[str, str]) -> None:
        self._items = dict(items)

    def text(self, name: str) -> str | None:
        """The value of ``name``, ``None`` when absent or empty."""
        value = self._items.get(name)
        return value if value else None

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise _mandatory(name)
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.text(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise _mandatory(name) from None

    def decimal(self, name: str) -> Decimal | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise _mandatory(name) from None
        if not number.is_finite():
            raise _mandatory(name)
        return number

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.text(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise _mandatory(name)
        return lowered == "true"


# -- markets -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """Trading rules of one symbol: tick ``10^tick_exp`` USDT, step ``10^step_exp`` base units,
    bounds in ticks / steps."""

    symbol: str
    base: str
    tick_exp: int
    price_precision: int
    step_exp: int
    min_price_ticks: int
    max_price_ticks: int
    max_qty_steps: int
    max_market_qty_steps: int

    @classmethod
    def from_mark(cls, symbol: str, mark: float) -> SymbolSpec:
        """Filters derived from the price magnitude (see the module docstring)."""
        mark = mark if mark > 0 and math.isfinite(mark) else 1.0
        tick_exp = min(max(math.floor(math.log10(mark * 1e-5)), -8), 3)
        step_exp = min(max(math.ceil(math.log10(1.0 / mark)), -8), 6)
        max_price = 10 ** math.ceil(math.log10(mark * 1_000.0))
        return cls(
            symbol=symbol,
            base=symbol[: -len("USDT")],
            tick_exp=tick_exp,
            price_precision=min(max(1 - tick_exp, 0), 8),
            step_exp=step_exp,
            min_price_ticks=1,
            max_price_ticks=max(round(max_price / 10.0**tick_exp), 1),
            max_qty_steps=10_000_000,
            max_market_qty_steps=1_000_000,
        )

    @property
    def tick(self) -> float:
        return 10.0**self.tick_exp

    @property
    def step(self) -> float:
        return 10.0**self.step_exp

    @property
    def quantity_precision(self) -> int:
        return max(-self.step_exp, 0)

    def price(self, ticks: int) -> float:
        """USDT of ``ticks`` ticks."""
        return ticks * self.tick

    def qty(self, steps: int) -> float:
        """Base units of ``steps`` steps."""
        return steps * self.step

    def fmt_price(self, ticks: int) -> str:
        return f"{ticks * self.tick:.{self.price_precision}f}"

    def fmt_qty(self, steps: int) -> str:
        return f"{steps * self.step:.{self.quantity_precision}f}"

    def parse_price(self, value: Decimal) -> int:
        """Ticks of a limit price (-4001 / -1111 / -4014 / -4013 / -4016)."""
        if value <= 0:
            raise BinanceApiError(-4001, "Price less than 0.")
        if _decimals(value) > self.price_precision:
            raise _error(_PRECISION)
        ticks = value.scaleb(-self.tick_exp)
        if ticks != ticks.to_integral_value():
            raise BinanceApiError(-4014, "Price not increased by tick size.")
        n = int(ticks)
        if n < self.min_price_ticks:
            raise BinanceApiError(-4013, "Price less than min price.")
        if n > self.max_price_ticks:
            raise BinanceApiError(-4016, f"Limit price can't be higher than {self.fmt_price(self.max_price_ticks)}.")
        return n

    def parse_qty(self, value: Decimal, *, market: bool) -> int:
        """Steps of an order quantity (-4003 / -1111 / -4005)."""
        if value <= 0:
            raise BinanceApiError(-4003, "Quantity less than or equal to zero.")
        steps = value.scaleb(-self.step_exp)
        if _decimals(value) > self.quantity_precision or steps != steps.to_integral_value():
            raise _error(_PRECISION)
        n = int(steps)
        if n > (self.max_market_qty_steps if market else self.max_qty_steps):
            raise BinanceApiError(-4005, "Quantity greater than max quantity.")
        return n

    def filters_wire(self) -> list[dict[str, Any]]:
        step = self.fmt_qty(1)
        return [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": self.fmt_price(self.min_price_ticks),
                "maxPrice": self.fmt_price(self.max_price_ticks),
                "tickSize": self.fmt_price(1),
            },
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": self.fmt_qty(self.max_qty_steps), "stepSize": step},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": step,
                "maxQty": self.fmt_qty(self.max_market_qty_steps),
                "stepSize": step,
            },
            {"filterType": "MIN_NOTIONAL", "notional": f"{MIN_NOTIONAL:g}"},
        ]


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


# -- account state -----------------------------------------------------------------------


@dataclass(slots=True)
class FuturesOrder:
    """One order: price in ticks (0 for MARKET), quantities in steps, ``cum_quote`` USDT."""

    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    tif: str
    price_ticks: int
    qty_steps: int
    reduce_only: bool
    time_ms: int
    status: str = "NEW"
    filled_steps: int = 0
    cum_quote: float = 0.0
    avg_ticks: int = 0
    update_ms: int = 0

    @property
    def is_buy(self) -> bool:
        return self.side == "BUY"


@dataclass(slots=True)
class FuturesPosition:
    """One-way position: ``steps`` signed (long > 0), ``entry`` average entry price (USDT)."""

    steps: int = 0
    entry: float = 0.0
    update_ms: int = 0


@dataclass(frozen=True, slots=True)
class FuturesTrade:
    """One fill: ``price_ticks`` / ``qty_steps`` as the symbol counts them; USDT amounts."""

    trade_id: int
    order_id: int
    symbol: str
    side: str
    price_ticks: int
    qty_steps: int
    quote_qty: float
    realized_pnl: float
    commission: float
    maker: bool
    time_ms: int


@dataclass(frozen=True, slots=True)
class FuturesIncome:
    """One income row (USDT, signed: positive = received)."""

    tran_id: int
    symbol: str
    kind: str
    amount: float
    time_ms: int
    trade_id: int | None = None


@dataclass(slots=True)
class FuturesAccount:
    """One API key's USDT-margined account."""

    api_key: str
    secret: bytes
    wallet: float
    leverage: dict[str, int] = field(default_factory=dict)
    positions: dict[str, FuturesPosition] = field(default_factory=dict)
    orders: dict[int, FuturesOrder] = field(default_factory=dict)
    """Every order still remembered (bounded: the oldest closed ones are forgotten)."""
    open: dict[int, FuturesOrder] = field(default_factory=dict)
    by_client_id: dict[str, int] = field(default_factory=dict)
    used_client_ids: set[str] = field(default_factory=set)
    trades: deque[FuturesTrade] = field(default_factory=lambda: deque(maxlen=LOG_LEN))
    income: deque[FuturesIncome] = field(default_factory=lambda: deque(maxlen=LOG_LEN))
    countdowns: dict[str, int] = field(default_factory=dict)
    """Dead man's switch deadlines per symbol (sim ms)."""
    update_ms: int = 0


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """An authenticated request: its account and its parameters."""

    account: FuturesAccount
    params: WireParams


@dataclass(frozen=True, slots=True)
class _SymbolMargin:
    """Margin figures of one symbol of one account (USDT)."""

    position_im: float
    order_im: float
    maint: float
    upnl: float
    bid_notional: float
    ask_notional: float


# -- the venue ---------------------------------------------------------------------------


class BinanceFuturesSim:
    """Binance USDⓈ-M futures accounts and matching over the Binance venue of ``cex``.

    Public methods taking ``(account, params, now_ms)`` answer one signed endpoint each and
    return its JSON value; they raise :class:`BinanceApiError` for what the venue refuses.
    ``now_ms`` is the simulated clock (ms UTC).
    """

    def __init__(self, cex: CexModel) -> None:
        self._cex = cex
        self._markets: dict[str, CexMarket] = cex.markets[BINANCE.name]
        self.specs: dict[str, SymbolSpec] = {
            native: SymbolSpec.from_mark(native, cm.mark()) for native, cm in self._markets.items()
        }
        self._accounts: dict[str, FuturesAccount] = {}
        self._next_order_id = FIRST_ORDER_ID
        self._next_trade_id = FIRST_TRADE_ID
        self._next_tran_id = FIRST_TRAN_ID

    # -- accounts and authentication ------------------------------------------------------

    def register(self, api_key: str, secret: str, usdt: float) -> FuturesAccount:
        """Create the account of ``api_key`` with ``usdt`` USDT in its wallet.

        Raises ``ValueError`` for an empty key or secret, a negative amount or a key already
        registered."""
        if not api_key or not secret:
            raise ValueError("api key and secret must be non-empty")
        if not usdt >= 0 or not math.isfinite(usdt):
            raise ValueError(f"usdt must be a finite number >= 0, got {usdt!r}")
        if api_key in self._accounts:
            raise ValueError(f"api key {api_key[:8]}… is already registered")
        account = FuturesAccount(api_key=api_key, secret=secret.encode(), wallet=float(usdt))
        self._accounts[api_key] = account
        return account

    def account(self, api_key: str) -> FuturesAccount | None:
        return self._accounts.get(api_key)

    def authenticate(self, api_key: str | None, query: str, body: str, now_ms: int) -> SignedRequest:
        """Check a signed request (raw query string and raw form body as sent) and return its
        account and merged parameters (-2014, -2015, -1102, -1022, -1131, -1021)."""
        if not api_key:
            raise BinanceApiError(-2014, "API-key format invalid.", 401)
        account = self._accounts.get(api_key)
        if account is None:
            raise BinanceApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        params = WireParams(
            dict(parse_qsl(query, keep_blank_values=True)) | dict(parse_qsl(body, keep_blank_values=True))
        )
        timestamp = params.integer("timestamp")
        if timestamp is None:
            raise _mandatory("timestamp")
        signature = params.required("signature")
        payload = (_without_signature(query) + _without_signature(body)).encode()
        expected = hmac.new(account.secret, payload, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise BinanceApiError(-1022, "Signature for this request is not valid.")
        window = params.integer("recvWindow", DEFAULT_RECV_WINDOW_MS)
        assert window is not None
        if window <= 0 or window > MAX_RECV_WINDOW_MS:
            raise BinanceApiError(-1131, f"recvWindow must be less than {MAX_RECV_WINDOW_MS}")
        if not (timestamp < now_ms + FUTURE_TOLERANCE_MS and now_ms - timestamp <= window):
            raise BinanceApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
        return SignedRequest(account, params)

    # -- market state ---------------------------------------------------------------------

    def _spec(self, symbol: str | None) -> SymbolSpec:
        if symbol is None:
            raise _mandatory("symbol")
        spec = self.specs.get(symbol)
        if spec is None:
            raise _error(_BAD_SYMBOL)
        return spec

    def mark(self, symbol: str) -> float:
        """The live mark price (USDT) of ``symbol``."""
        return self._markets[symbol].mark()

    def touch(self, symbol: str) -> tuple[int, int]:
        """``(bid, ask)`` in ticks: the mark ± :data:`HALF_SPREAD`, bid rounded down, ask up."""
        spec = self.specs[symbol]
        mark = self.mark(symbol)
        tick = spec.tick
        bid = max(math.floor(mark * (1.0 - HALF_SPREAD) / tick + 1e-9), 1)
        ask = max(math.ceil(mark * (1.0 + HALF_SPREAD) / tick - 1e-9), bid + 1)
        return bid, ask

    def exchange_info_wire(self, now_ms: int) -> dict[str, Any]:
        """``GET /fapi/v1/exchangeInfo``: every Binance market of the CexModel."""
        symbols = []
        for spec in self.specs.values():
            symbols.append(
                {
                    "symbol": spec.symbol,
                    "pair": spec.symbol,
                    "contractType": "PERPETUAL",
                    "deliveryDate": 4133404800000,
                    "onboardDate": 1569398400000,
                    "status": "TRADING",
                    "maintMarginPercent": "2.5000",
                    "requiredMarginPercent": "5.0000",
                    "baseAsset": spec.base,
                    "quoteAsset": "USDT",
                    "marginAsset": "USDT",
                    "pricePrecision": spec.price_precision,
                    "quantityPrecision": spec.quantity_precision,
                    "baseAssetPrecision": 8,
                    "quotePrecision": 8,
                    "underlyingType": "COIN",
                    "underlyingSubType": [],
                    "triggerProtect": "0.0500",
                    "liquidationFee": "0.012500",
                    "marketTakeBound": "0.05",
                    "filters": spec.filters_wire(),
                    "orderTypes": list(_TYPES),
                    "timeInForce": list(_TIFS),
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": now_ms,
            "futuresType": "U_MARGINED",
            "rateLimits": [],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": symbols,
        }

    # -- orders ---------------------------------------------------------------------------

    def new_order(self, account: FuturesAccount, params: WireParams, now_ms: int) -> dict[str, Any]:
        """``POST /fapi/v1/order`` → the order object."""
        order = self._place(account, params, now_ms)
        return self.order_wire(order)

    def batch_orders(self, account: FuturesAccount, params: WireParams, now_ms: int) -> list[dict[str, Any]]:
        """``POST /fapi/v1/batchOrders``: each entry placed in turn; an entry's refusal is its
        ``{"code", "msg"}`` in the answer list. More than 5 entries refuse the whole call."""
        raw = params.required("batchOrders")
        try:
            entries = json.loads(raw)
        except ValueError:
            raise _mandatory("batchOrders") from None
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_BATCH:
            raise _mandatory("batchOrders")
        out: list[dict[str, Any]] = []
        for entry in entries:
            try:
                if not isinstance(entry, dict):
                    raise _mandatory("batchOrders")
                fields = {str(k): _wire_str(v) for k, v in entry.items()}
                out.append(self.order_wire(self._place(account, WireParams(fields), now_ms)))
            except BinanceApiError as exc:
                out.append(exc.wire())
        return out

    def _place(self, account: FuturesAccount, params: WireParams, now_ms: int) -> FuturesOrder:
        spec = self._spec(params.text("symbol"))
        side = params.required("side")
        if side not in _SIDES:
            raise BinanceApiError(-1117, "Invalid side.")
        kind = params.required("type")
        if kind not in _TYPES:
            raise BinanceApiError(-1116, "Invalid orderType.")
        position_side = params.text("positionSide")
        if position_side not in (None, "BOTH"):
            raise BinanceApiError(-4061, "Order's position side does not match user's setting.")
        market = kind == "MARKET"
        if market:
            if params.text("price") is not None:
                raise BinanceApiError(-1106, "Parameter 'price' sent when not required.")
            tif = "GTC"
        else:
            tif = params.required("timeInForce")
            if tif not in _TIFS:
                raise BinanceApiError(-1115, "Invalid timeInForce.")
        qty_value = params.decimal("quantity")
        if qty_value is None:
            raise _mandatory("quantity")
        steps = spec.parse_qty(qty_value, market=market)
        price_ticks = 0
        if not market:
            price_value = params.decimal("price")
            if price_value is None:
                raise _mandatory("price")
            price_ticks = spec.parse_price(price_value)
        reduce_only = params.boolean("reduceOnly")
        resp_type = params.text("newOrderRespType")
        if resp_type not in (None, "ACK", "RESULT"):
            raise _mandatory("newOrderRespType")
        client_id = params.text("newClientOrderId")
        if client_id is not None:
            if not _CLIENT_ID_RE.match(client_id):
                raise BinanceApiError(
                    -1100,
                    "Illegal characters found in parameter 'newClientOrderId'; "
                    "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
                )
            if client_id in account.used_client_ids:
                raise BinanceApiError(-4116, "ClientOrderId is duplicated.")

        symbol = spec.symbol
        is_buy = side == "BUY"
        position = account.positions.get(symbol)
        held = position.steps if position is not None else 0
        if reduce_only and (held == 0 or (held > 0) == is_buy):
            raise _error(_REDUCE_ONLY)
        bid, ask = self.touch(symbol)
        touch = ask if is_buy else bid
        marketable = market or (price_ticks >= ask if is_buy else price_ticks <= bid)
        ref_ticks = touch if marketable else price_ticks
        if not reduce_only and spec.qty(steps) * spec.price(touch if market else price_ticks) < MIN_NOTIONAL:
            raise BinanceApiError(
                -4164, f"Order's notional must be no smaller than {MIN_NOTIONAL:g} (unless you choose reduce only)."
            )
        if not marketable and sum(1 for o in account.open.values() if o.symbol == symbol) >= MAX_OPEN_ORDERS:
            raise BinanceApiError(-2025, "Reach max open order limit.")
        if not reduce_only:
            probe = FuturesOrder(0, "", symbol, side, kind, tif, ref_ticks, steps, False, now_ms)
            before = self._initial_margin(account)
            after = self._initial_margin(account, probe)
            if after > self._margin_balance(account) and after > before + 1e-9:
                raise _error(_MARGIN)
        if tif == "GTX" and marketable:
            raise _error(_POST_ONLY)

        order_id = self._next_order_id
        self._next_order_id += 1
        if client_id is None:
            client_id = f"sim-{order_id}"
        order = FuturesOrder(
            order_id, client_id, symbol, side, kind, tif, price_ticks, steps, reduce_only, now_ms, update_ms=now_ms
        )
        self._remember(account, order)
        if marketable:
            if tif == "FOK" and reduce_only and steps > abs(held):
                order.status = "EXPIRED"
            else:
                self._fill(account, order, touch, maker=False, now_ms=now_ms)
        elif tif in ("IOC", "FOK"):
            order.status = "EXPIRED"
        else:
            account.open[order_id] = order
        return order

    def _remember(self, account: FuturesAccount, order: FuturesOrder) -> None:
        account.orders[order.order_id] = order
        account.by_client_id[order.client_id] = order.order_id
        account.used_client_ids.add(order.client_id)
        if len(account.orders) > LOG_LEN:
            oldest = next((oid for oid in account.orders if oid not in account.open), None)
            if oldest is not None:
                gone = account.orders.pop(oldest)
                if account.by_client_id.get(gone.client_id) == oldest:
                    del account.by_client_id[gone.client_id]

    def _find(self, account: FuturesAccount, params: WireParams, missing: tuple[int, str]) -> FuturesOrder:
        symbol = self._spec(params.text("symbol")).symbol
        order_id = params.integer("orderId")
        client_id = params.text("origClientOrderId")
        if order_id is None and client_id is None:
            raise _mandatory("orderId")
        if order_id is None:
            assert client_id is not None
            order_id = account.by_client_id.get(client_id)
        order = account.orders.get(order_id) if order_id is not None else None
        if order is None or order.symbol != symbol or (client_id is not None and order.client_id != client_id):
            raise _error(missing)
        return order

    def cancel_order(self, account: FuturesAccount, params: WireParams, now_ms: int) -> dict[str, Any]:
        """``DELETE /fapi/v1/order`` (``orderId`` or ``origClientOrderId``) → the order,
        ``CANCELED``; -2011 when unknown or no longer open."""
        order = self._find(account, params, _UNKNOWN_ORDER)
        if order.order_id not in account.open:
            raise _error(_UNKNOWN_ORDER)
        self._cancel(account, order, now_ms)
        return self.order_wire(order)

    def cancel_all(self, account: FuturesAccount, params: WireParams, now_ms: int) -> dict[str, Any]:
        """``DELETE /fapi/v1/allOpenOrders?symbol=``."""
        symbol = self._spec(params.text("symbol")).symbol
        self._cancel_symbol(account, symbol, now_ms)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _cancel(self, account: FuturesAccount, order: FuturesOrder, now_ms: int, status: str = "CANCELED") -> None:
        account.open.pop(order.order_id, None)
        order.status = status
        order.update_ms = now_ms

    def _cancel_symbol(self, account: FuturesAccount, symbol: str | None, now_ms: int) -> None:
        for order in [o for o in account.open.values() if symbol is None or o.symbol == symbol]:
            self._cancel(account, order, now_ms)

    def query_order(self, account: FuturesAccount, params: WireParams, now_ms: int) -> dict[str, Any]:
        """``GET /fapi/v1/order`` → the order in any state; -2013 when unknown."""
        return self.order_wire(self._find(account, params, _NO_ORDER), query=True)

    def open_orders(self, account: FuturesAccount, params: WireParams, now_ms: int) -> list[dict[str, Any]]:
        """``GET /fapi/v1/openOrders[?symbol=]`` → open orders, oldest first."""
        symbol = params.text("symbol")
        if symbol is not None:
            self._spec(symbol)
        return [self.order_wire(o, query=True) for o in account.open.values() if symbol is None or o.symbol == symbol]

    def order_wire(self, order: FuturesOrder, *, query: bool = False) -> dict[str, Any]:
        """The Binance order object (``query`` adds ``time``, as ``GET`` answers have it;
        otherwise ``cumQty``, as order placement and cancel answers have it)."""
        spec = self.specs[order.symbol]
        out: dict[str, Any] = {
            "orderId": order.order_id,
            "symbol": order.symbol,
            "status": order.status,
            "clientOrderId": order.client_id,
            "price": spec.fmt_price(order.price_ticks) if order.price_ticks else "0",
            "avgPrice": spec.fmt_price(order.avg_ticks) if order.filled_steps else "0.00",
            "origQty": spec.fmt_qty(order.qty_steps),
            "executedQty": spec.fmt_qty(order.filled_steps),
            "cumQuote": f"{order.cum_quote:.8f}",
            "timeInForce": order.tif,
            "type": order.type,
            "reduceOnly": order.reduce_only,
            "closePosition": False,
            "side": order.side,
            "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": order.type,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "NONE",
            "goodTillDate": 0,
            "updateTime": order.update_ms,
        }
        if query:
            out["time"] = order.time_ms
        else:
            out["cumQty"] = out["executedQty"]
        return out

    # -- fills ----------------------------------------------------------------------------

    def _fill(
        self,
        account: FuturesAccount,
        order: FuturesOrder,
        price_ticks: int,
        *,
        maker: bool,
        now_ms: int,
        fee: float | None = None,
    ) -> None:
        """Fill ``order`` at ``price_ticks`` (in full, or capped to the position when reduce-
        only; the rest expires) and book the trade, fees and realized P&L."""
        spec = self.specs[order.symbol]
        position = account.positions.setdefault(order.symbol, FuturesPosition())
        steps = order.qty_steps - order.filled_steps
        if order.reduce_only:
            reducible = -position.steps if order.is_buy else position.steps
            steps = min(steps, max(reducible, 0))
        account.open.pop(order.order_id, None)
        order.update_ms = now_ms
        if steps <= 0:
            order.status = "EXPIRED"
            return
        price = spec.price(price_ticks)
        signed = steps if order.is_buy else -steps
        realized = 0.0
        held = position.steps
        if held and (held > 0) != (signed > 0):
            closing = min(abs(held), steps)
            realized = spec.qty(closing) * (price - position.entry) * (1.0 if held > 0 else -1.0)
        new_steps = held + signed
        if new_steps == 0:
            position.entry = 0.0
        elif held == 0 or (held > 0) != (new_steps > 0):
            position.entry = price
        elif abs(new_steps) > abs(held):
            position.entry = (abs(held) * position.entry + steps * price) / abs(new_steps)
        position.steps = new_steps
        position.update_ms = now_ms
        notional = spec.qty(steps) * price
        rate = fee if fee is not None else (MAKER_FEE if maker else TAKER_FEE)
        commission = notional * rate
        account.wallet += realized - commission
        account.update_ms = now_ms
        order.filled_steps += steps
        order.cum_quote += notional
        order.avg_ticks = price_ticks
        order.status = "FILLED" if order.filled_steps == order.qty_steps else "EXPIRED"
        trade_id = self._next_trade_id
        self._next_trade_id += 1
        account.trades.append(
            FuturesTrade(
                trade_id,
                order.order_id,
                order.symbol,
                order.side,
                price_ticks,
                steps,
                notional,
                realized,
                commission,
                maker,
                now_ms,
            )
        )
        if realized:
            self._book(account, order.symbol, "REALIZED_PNL", realized, now_ms, trade_id)
        if commission:
            self._book(account, order.symbol, "COMMISSION", -commission, now_ms, trade_id)
        if new_steps == 0:
            del account.positions[order.symbol]

    def _book(
        self, account: FuturesAccount, symbol: str, kind: str, amount: float, time_ms: int, trade_id: int | None = None
    ) -> None:
        account.income.append(FuturesIncome(self._next_tran_id, symbol, kind, amount, time_ms, trade_id))
        self._next_tran_id += 1

    # -- clock ----------------------------------------------------------------------------

    def next_deadline(self, after_ms: int) -> int | None:
        """The earliest dead man's switch deadline later than ``after_ms`` (sim ms), if any."""
        times = [t for a in self._accounts.values() for t in a.countdowns.values() if t > after_ms]
        return min(times) if times else None

    def tick(self, now_ms: int) -> None:
        """Bring every account to ``now_ms``: dead man's switches, funding settlements, maker
        fills, then liquidations (in that order; accounts in registration order)."""
        settlements = self._cex.drain_settlements(BINANCE.name)
        for account in self._accounts.values():
            for symbol, deadline in list(account.countdowns.items()):
                if deadline <= now_ms:
                    del account.countdowns[symbol]
                    self._cancel_symbol(account, symbol, now_ms)
        for settlement in settlements:
            for account in self._accounts.values():
                position = account.positions.get(settlement.native)
                if position is None or not position.steps:
                    continue
                spec = self.specs[settlement.native]
                amount = -spec.qty(position.steps) * settlement.mark * settlement.rate
                account.wallet += amount
                self._book(account, settlement.native, "FUNDING_FEE", amount, settlement.settle_ms)
        for account in self._accounts.values():
            if account.open:
                self._maker_fills(account, now_ms)
            if account.positions:
                self._check_liquidation(account, now_ms)

    def _maker_fills(self, account: FuturesAccount, now_ms: int) -> None:
        touches: dict[str, tuple[int, int]] = {}
        for order in list(account.open.values()):
            bid, ask = touches.get(order.symbol) or touches.setdefault(order.symbol, self.touch(order.symbol))
            crossed = ask <= order.price_ticks if order.is_buy else bid >= order.price_ticks
            if crossed:
                self._fill(account, order, order.price_ticks, maker=True, now_ms=now_ms)

    def _check_liquidation(self, account: FuturesAccount, now_ms: int) -> None:
        margins = self._margins(account)
        maint = sum(m.maint for m in margins.values())
        if account.wallet + sum(m.upnl for m in margins.values()) >= maint:
            return
        self._cancel_symbol(account, None, now_ms)
        for symbol, position in list(account.positions.items()):
            spec = self.specs[symbol]
            ticks = max(round(self.mark(symbol) / spec.tick), 1)
            order_id = self._next_order_id
            self._next_order_id += 1
            side = "SELL" if position.steps > 0 else "BUY"
            order = FuturesOrder(
                order_id,
                f"autoclose-{now_ms}-{order_id}",
                symbol,
                side,
                "LIMIT",
                "IOC",
                ticks,
                abs(position.steps),
                True,
                now_ms,
                update_ms=now_ms,
            )
            self._remember(account, order)
            self._fill(account, order, ticks, maker=False, now_ms=now_ms, fee=0.0)

    # -- margin ---------------------------------------------------------------------------

    def _leverage(self, account: FuturesAccount, symbol: str) -> int:
        return account.leverage.get(symbol, DEFAULT_LEVERAGE)

    def _margins(self, account: FuturesAccount, extra: FuturesOrder | None = None) -> dict[str, _SymbolMargin]:
        """Per-symbol margin figures for every symbol with a position or open orders (plus
        ``extra`` counted as an open order)."""
        orders: dict[str, list[FuturesOrder]] = {}
        for order in account.open.values():
            orders.setdefault(order.symbol, []).append(order)
        if extra is not None:
            orders.setdefault(extra.symbol, []).append(extra)
        out: dict[str, _SymbolMargin] = {}
        for symbol in dict.fromkeys([*account.positions, *orders]):
            spec = self.specs[symbol]
            lev = self._leverage(account, symbol)
            position = account.positions.get(symbol)
            held = position.steps if position is not None else 0
            mark = self.mark(symbol)
            notional = abs(spec.qty(held)) * mark
            upnl = spec.qty(held) * (mark - position.entry) if position is not None else 0.0
            buy_steps = sell_steps = 0
            buy_ntl = sell_ntl = 0.0
            for order in orders.get(symbol, ()):
                rest = order.qty_steps - order.filled_steps
                ntl = spec.qty(rest) * spec.price(order.price_ticks)
                if order.reduce_only:
                    continue
                if order.is_buy:
                    buy_steps += rest
                    buy_ntl += ntl
                else:
                    sell_steps += rest
                    sell_ntl += ntl
            buy_inc = buy_ntl * max(buy_steps - max(-held, 0), 0) / buy_steps if buy_steps else 0.0
            sell_inc = sell_ntl * max(sell_steps - max(held, 0), 0) / sell_steps if sell_steps else 0.0
            out[symbol] = _SymbolMargin(
                position_im=notional / lev,
                order_im=max(buy_inc, sell_inc) / lev,
                maint=notional * MAINT_MARGIN_RATE,
                upnl=upnl,
                bid_notional=buy_ntl,
                ask_notional=sell_ntl,
            )
        return out

    def _initial_margin(self, account: FuturesAccount, extra: FuturesOrder | None = None) -> float:
        return sum(m.position_im + m.order_im for m in self._margins(account, extra).values())

    def _margin_balance(self, account: FuturesAccount) -> float:
        return account.wallet + sum(m.upnl for m in self._margins(account).values())

    def _liquidation_price(self, account: FuturesAccount, symbol: str, margins: Mapping[str, _SymbolMargin]) -> float:
        """Cross liquidation price of ``symbol`` (module docstring), 0 when none."""
        position = account.positions[symbol]
        qty = self.specs[symbol].qty(position.steps)
        other_mm = sum(m.maint for s, m in margins.items() if s != symbol)
        other_upnl = sum(m.upnl for s, m in margins.items() if s != symbol)
        denominator = abs(qty) * MAINT_MARGIN_RATE - qty
        if denominator == 0:
            return 0.0
        price = (account.wallet - other_mm + other_upnl - qty * position.entry) / denominator
        return max(price, 0.0)

    def set_leverage(self, account: FuturesAccount, params: WireParams, now_ms: int) -> dict[str, Any]:
        """``POST /fapi/v1/leverage {symbol, leverage}`` (1–50)."""
        symbol = self._spec(params.text("symbol")).symbol
        leverage = params.integer("leverage")
        if leverage is None:
            raise _mandatory("leverage")
        if not 1 <= leverage <= MAX_LEVERAGE:
            raise BinanceApiError(-4028, f"Leverage {leverage} is not valid")
        account.leverage[symbol] = leverage
        return {"leverage": leverage, "maxNotionalValue": f"{MAX_NOTIONAL_1X / leverage:.0f}", "symbol": symbol}

    def leverage_brackets(self, account: FuturesAccount, params: WireParams, now_ms: int) -> Any:
        """``GET /fapi/v1/leverageBracket[?symbol=]``: one bracket per symbol (max leverage
        50, maintenance :data:`MAINT_MARGIN_RATE`, cap :data:`MAX_NOTIONAL_1X`); a list, or
        one object for ``symbol``."""
        symbol = params.text("symbol")
        names = [self._spec(symbol).symbol] if symbol is not None else list(self.specs)
        rows = [
            {
                "symbol": name,
                "brackets": [
                    {
                        "bracket": 1,
                        "initialLeverage": MAX_LEVERAGE,
                        "notionalCap": int(MAX_NOTIONAL_1X),
                        "notionalFloor": 0,
                        "maintMarginRatio": MAINT_MARGIN_RATE,
                        "cum": 0.0,
                    }
                ],
            }
            for name in names
        ]
        return rows[0] if symbol is not None else rows

    def countdown_cancel_all(self, account: FuturesAccount, params: WireParams, now_ms: int) -> dict[str, Any]:
        """``POST /fapi/v1/countdownCancelAll {symbol, countdownTime}`` (ms; 0 disarms)."""
        symbol = self._spec(params.text("symbol")).symbol
        countdown = params.integer("countdownTime")
        if countdown is None or countdown < 0:
            raise _mandatory("countdownTime")
        if countdown == 0:
            account.countdowns.pop(symbol, None)
        else:
            account.countdowns[symbol] = now_ms + countdown
        return {"symbol": symbol, "countdownTime": str(countdown)}

    # -- account reports ------------------------------------------------------------------

    def position_mode(self, account: FuturesAccount, params: WireParams, now_ms: int) -> dict[str, Any]:
        """``GET /fapi/v1/positionSide/dual``: always one-way mode."""
        return {"dualSidePosition": False}

    def account_wire(self, account: FuturesAccount, params: WireParams, now_ms: int) -> dict[str, Any]:
        """``GET /fapi/v2/account`` (also served as v3): totals, the USDT asset and the
        non-zero positions."""
        margins = self._margins(account)
        upnl = sum(m.upnl for m in margins.values())
        pos_im = sum(m.position_im for m in margins.values())
        ord_im = sum(m.order_im for m in margins.values())
        maint = sum(m.maint for m in margins.values())
        wallet = account.wallet
        balance = wallet + upnl
        available = max(balance - pos_im - ord_im, 0.0)
        withdraw = max(min(wallet, available), 0.0)
        positions = []
        for symbol, position in account.positions.items():
            spec = self.specs[symbol]
            m = margins[symbol]
            lev = self._leverage(account, symbol)
            positions.append(
                {
                    "symbol": symbol,
                    "initialMargin": _f8(m.position_im + m.order_im),
                    "maintMargin": _f8(m.maint),
                    "unrealizedProfit": _f8(m.upnl),
                    "positionInitialMargin": _f8(m.position_im),
                    "openOrderInitialMargin": _f8(m.order_im),
                    "leverage": str(lev),
                    "isolated": False,
                    "entryPrice": _trim(position.entry),
                    "breakEvenPrice": _trim(_break_even(position.entry, position.steps)),
                    "maxNotional": f"{MAX_NOTIONAL_1X / lev:.0f}",
                    "bidNotional": _f8(m.bid_notional),
                    "askNotional": _f8(m.ask_notional),
                    "positionSide": "BOTH",
                    "positionAmt": spec.fmt_qty(position.steps),
                    "notional": _f8(spec.qty(position.steps) * self.mark(symbol)),
                    "isolatedWallet": "0",
                    "updateTime": position.update_ms,
                }
            )
        asset = {
            "asset": "USDT",
            "walletBalance": _f8(wallet),
            "unrealizedProfit": _f8(upnl),
            "marginBalance": _f8(balance),
            "maintMargin": _f8(maint),
            "initialMargin": _f8(pos_im + ord_im),
            "positionInitialMargin": _f8(pos_im),
            "openOrderInitialMargin": _f8(ord_im),
            "maxWithdrawAmount": _f8(withdraw),
            "crossWalletBalance": _f8(wallet),
            "crossUnPnl": _f8(upnl),
            "availableBalance": _f8(available),
            "marginAvailable": True,
            "updateTime": account.update_ms,
        }
        return {
            "feeTier": 0,
            "canTrade": True,
            "canDeposit": True,
            "canWithdraw": True,
            "tradeGroupId": -1,
            "updateTime": 0,
            "multiAssetsMargin": False,
            "totalInitialMargin": _f8(pos_im + ord_im),
            "totalMaintMargin": _f8(maint),
            "totalWalletBalance": _f8(wallet),
            "totalUnrealizedProfit": _f8(upnl),
            "totalMarginBalance": _f8(balance),
            "totalPositionInitialMargin": _f8(pos_im),
            "totalOpenOrderInitialMargin": _f8(ord_im),
            "totalCrossWalletBalance": _f8(wallet),
            "totalCrossUnPnl": _f8(upnl),
            "availableBalance": _f8(available),
            "maxWithdrawAmount": _f8(withdraw),
            "assets": [asset],
            "positions": positions,
        }

    def position_risk(self, account: FuturesAccount, params: WireParams, now_ms: int) -> list[dict[str, Any]]:
        """``GET /fapi/v3/positionRisk[?symbol=]`` → the non-zero positions."""
        symbol = params.text("symbol")
        if symbol is not None:
            self._spec(symbol)
        margins = self._margins(account)
        out = []
        for name, position in account.positions.items():
            if symbol is not None and name != symbol:
                continue
            spec = self.specs[name]
            m = margins[name]
            mark = self.mark(name)
            out.append(
                {
                    "symbol": name,
                    "positionSide": "BOTH",
                    "positionAmt": spec.fmt_qty(position.steps),
                    "entryPrice": _trim(position.entry),
                    "breakEvenPrice": _trim(_break_even(position.entry, position.steps)),
                    "markPrice": _f8(mark),
                    "unRealizedProfit": _f8(m.upnl),
                    "liquidationPrice": _f8(self._liquidation_price(account, name, margins)),
                    "isolatedMargin": "0",
                    "notional": _f8(spec.qty(position.steps) * mark),
                    "marginAsset": "USDT",
                    "isolatedWallet": "0",
                    "initialMargin": _f8(m.position_im + m.order_im),
                    "maintMargin": _f8(m.maint),
                    "positionInitialMargin": _f8(m.position_im),
                    "openOrderInitialMargin": _f8(m.order_im),
                    "adl": 0,
                    "bidNotional": _f8(m.bid_notional),
                    "askNotional": _f8(m.ask_notional),
                    "updateTime": position.update_ms,
                }
            )
        return out

    def position_risk_v2(self, account: FuturesAccount, params: WireParams, now_ms: int) -> list[dict[str, Any]]:
        """``GET /fapi/v2/positionRisk[?symbol=]``: the v2 shape (leverage, margin type) of the
        non-zero positions."""
        rows = self.position_risk(account, params, now_ms)
        out = []
        for row in rows:
            lev = self._leverage(account, row["symbol"])
            out.append(
                {
                    "symbol": row["symbol"],
                    "positionAmt": row["positionAmt"],
                    "entryPrice": row["entryPrice"],
                    "breakEvenPrice": row["breakEvenPrice"],
                    "markPrice": row["markPrice"],
                    "unRealizedProfit": row["unRealizedProfit"],
                    "liquidationPrice": row["liquidationPrice"],
                    "leverage": str(lev),
                    "maxNotionalValue": f"{MAX_NOTIONAL_1X / lev:.0f}",
                    "marginType": "cross",
                    "isolatedMargin": "0.00000000",
                    "isAutoAddMargin": "false",
                    "positionSide": "BOTH",
                    "notional": row["notional"],
                    "isolatedWallet": "0",
                    "updateTime": row["updateTime"],
                }
            )
        return out

    def user_trades(self, account: FuturesAccount, params: WireParams, now_ms: int) -> list[dict[str, Any]]:
        """``GET /fapi/v1/userTrades?symbol=`` (``fromId`` / ``startTime`` / ``endTime`` /
        ``limit`` ≤ 1000, default 500), oldest first. With ``fromId`` or ``startTime`` the
        first ``limit`` matches, otherwise the last ``limit`` (of the last 7 days when no
        time is given)."""
        spec = self._spec(params.text("symbol"))
        limit = _limit(params, 500)
        from_id = params.integer("fromId")
        start = params.integer("startTime")
        end = params.integer("endTime")
        rows = [t for t in account.trades if t.symbol == spec.symbol]
        if from_id is not None:
            rows = [t for t in rows if t.trade_id >= from_id]
        if start is not None:
            rows = [t for t in rows if t.time_ms >= start]
        if end is not None:
            rows = [t for t in rows if t.time_ms <= end]
        if from_id is None and start is None and end is None:
            rows = [t for t in rows if t.time_ms > now_ms - WEEK_MS]
        rows = rows[:limit] if from_id is not None or start is not None else rows[-limit:]
        return [
            {
                "symbol": t.symbol,
                "id": t.trade_id,
                "orderId": t.order_id,
                "side": t.side,
                "price": spec.fmt_price(t.price_ticks),
                "qty": spec.fmt_qty(t.qty_steps),
                "realizedPnl": _f8(t.realized_pnl),
                "quoteQty": _f8(t.quote_qty),
                "commission": _f8(t.commission),
                "commissionAsset": "USDT",
                "time": t.time_ms,
                "positionSide": "BOTH",
                "buyer": t.side == "BUY",
                "maker": t.maker,
            }
            for t in rows
        ]

    def income(self, account: FuturesAccount, params: WireParams, now_ms: int) -> list[dict[str, Any]]:
        """``GET /fapi/v1/income`` (``symbol``, ``incomeType``, ``startTime``, ``endTime``,
        ``limit`` ≤ 1000, default 100), oldest first: the first ``limit`` rows from
        ``startTime``, or the last ``limit`` rows when it is absent."""
        symbol = params.text("symbol")
        if symbol is not None:
            self._spec(symbol)
        kind = params.text("incomeType")
        limit = _limit(params, 100)
        start = params.integer("startTime")
        end = params.integer("endTime")
        rows = [
            r
            for r in account.income
            if (symbol is None or r.symbol == symbol)
            and (kind is None or r.kind == kind)
            and (start is None or r.time_ms >= start)
            and (end is None or r.time_ms <= end)
        ]
        rows = rows[:limit] if start is not None else rows[-limit:]
        return [
            {
                "symbol": r.symbol,
                "incomeType": r.kind,
                "income": _f8(r.amount),
                "asset": "USDT",
                "info": r.kind,
                "time": r.time_ms,
                "tranId": r.tran_id,
                "tradeId": "" if r.trade_id is None else str(r.trade_id),
            }
            for r in rows
        ]


def _without_signature(raw: str) -> str:
    """``raw`` (query string or form body) without its ``signature=`` component."""
    if "signature=" not in raw:
        return raw
    return "&".join(part for part in raw.split("&") if not part.startswith("signature="))


def _wire_str(value: Any) -> str:
    """A batch entry's value as the string a query parameter would carry."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _limit(params: WireParams, default: int) -> int:
    limit = params.integer("limit", default)
    assert limit is not None
    return min(max(limit, 1), 1000)


def _break_even(entry: float, steps: int) -> float:
    """Entry price moved by the taker fee (the fixture's ``breakEvenPrice``)."""
    return entry * (1.0 + TAKER_FEE) if steps > 0 else entry * (1.0 - TAKER_FEE)


def _f8(x: float) -> str:
    text = f"{x:.8f}"
    return "0.00000000" if text == "-0.00000000" else text


def _trim(x: float) -> str:
    text = f"{x:.8f}".rstrip("0").rstrip(".")
    return "0.0" if text in ("", "0", "-0") else text
