"""Binance USDⓈ-M futures trading client: signed REST orders, account, positions, fills, income.

:class:`BinanceFuturesClient` places and cancels orders (one at a time or in batches of five),
sets leverage, arms the dead man's switch (``countdownCancelAll``) and reads the account
(``/fapi/v2/account``), positions (``/fapi/v3/positionRisk``), open orders, fills
(``/fapi/v1/userTrades``) and income (``/fapi/v1/income``: funding fees, commissions, realized PnL).
The market-data side of Binance (funding, open interest, liquidations) is
:mod:`pfterm.core.venues.binance.market`; its :func:`~pfterm.core.venues.binance.market.default_to_symbol` maps the native
names used here (``BTCUSDT``) to the joined symbols (``BTC``).

Wire facts:

* Every parameter travels in the query string, for ``POST``/``DELETE`` too. A SIGNED request
  appends ``timestamp`` (ms, from the injectable clock) and ``recvWindow``, then
  ``signature`` = lowercase hex HMAC-SHA256 of the exact query string sent, keyed by the secret;
  the API key goes in the ``X-MBX-APIKEY`` header.
* Errors are HTTP 4xx with ``{"code": <negative int>, "msg": "<text>"}`` (e.g. ``-2019`` Margin is
  insufficient, ``-2013`` Order does not exist, ``-2011`` Unknown order sent, ``-5022`` post-only
  order would cross, ``-4116`` duplicated client order id, ``-1021`` timestamp outside
  recvWindow, ``-1022`` bad signature, ``-2015`` invalid API key) → :class:`BinanceError`.
  ``batchOrders`` answers HTTP 200 with a list holding, in input order, an order object or such
  an error object per order. ``allOpenOrders`` answers ``{"code": 200, "msg": "The operation of
  cancel all open order is done."}``: code 200 is success.
* HTTP 5xx, timeouts and transport failures → :class:`BinanceUnavailable`. ``GET`` requests are
  retried with exponential backoff (3 tries in all); order placement and cancellation are
  **never** retried here: the outcome of a request that got no answer is unknown
  (``outcome_unknown``), and the caller reconciles by client order id
  (:meth:`BinanceFuturesClient.query_order`) before sending again.
* Numbers arrive as JSON numbers or as decimal strings (prices and quantities are strings on
  the live API; recorded test data stringifies ids and times too); every parser accepts both.

Units: prices in the quote asset (USDT, or USDC for ``…USDC`` markets) per base unit;
quantities in base units (e.g. BTC); PnL, margins, notionals and income in the margin asset
(USDT); times in ms since the Unix epoch. The account is assumed to be in one-way position mode
(``positionSide`` ``BOTH``).

Secrets: the secret only feeds :func:`sign`; it is never logged nor put in an exception, and
:class:`BinanceCredentials` hides it from ``repr``. Requests are logged at DEBUG without their
signature; error messages name the method and path, never the URL.

Sources:

* https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
  (SIGNED endpoint security, timing security, HTTP return codes)
* https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code
* https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information
* https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api (New Order,
  Place Multiple Orders, Cancel Order, Cancel All Open Orders, Auto-Cancel All Open Orders,
  Query Order, Current All Open Orders, Position Information V3, Account Trade List,
  Change Initial Leverage)
* https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api
  (Account Information V2, Get Income History)
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any, Literal
from urllib.parse import urlencode

import backoff
import httpx
import orjson

from pfterm.core.venues.errors import VenueError, one_line, retry_after_s
from pfterm.core.venues.public_rest import request_capped
from pfterm.core.venues.wsbase import WireError, as_dict, as_list, int_field, loads, num, opt_num, str_field, wall_ms

__all__ = [
    "BATCH_SIZE",
    "BINANCE_FUTURES_URL",
    "BinanceAccount",
    "BinanceCredentials",
    "BinanceError",
    "BinanceFuturesClient",
    "BinanceIncome",
    "BinanceOrder",
    "BinancePosition",
    "BinanceTrade",
    "BinanceUnavailable",
    "OrderRequest",
    "SymbolRules",
    "format_price",
    "format_quantity",
    "parse_account",
    "parse_exchange_info",
    "parse_income",
    "parse_order",
    "parse_position_risk",
    "parse_user_trades",
    "sign",
]

log = logging.getLogger(__name__)

BINANCE_FUTURES_URL = "https://fapi.binance.com"
"""Binance USDⓈ-M futures REST base URL (production)."""

BATCH_SIZE = 5
"""Most orders ``POST /fapi/v1/batchOrders`` accepts in one request."""

GET_TRIES = 3
"""Attempts of a ``GET`` in all (the first one and two retries) on :class:`BinanceUnavailable`."""

ORDER_DOES_NOT_EXIST = -2013
"""Error code of ``GET /fapi/v1/order`` for an order the venue does not know."""

OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
"""Order statuses of an order still working on the book."""

Side = Literal["BUY", "SELL"]
OrderType = Literal["LIMIT", "MARKET"]
TimeInForce = Literal["GTC", "IOC", "FOK", "GTX"]
Rounding = Literal["down", "up", "nearest"]

_CLIENT_ORDER_ID_RE = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
_ROUNDING = {"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_UP}


# ---------------------------------------------------------------------------- credentials and signing


@dataclass(frozen=True, slots=True)
class BinanceCredentials:
    """An API key and its secret. ``repr``/``str`` show only the key's first 4 characters and
    never the secret.

    :raises ValueError: empty or non-ASCII key or secret (they go into a header / an HMAC key).
    """

    api_key: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        for name in ("api_key", "secret"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or not value.isascii() or not value.isprintable():
                raise ValueError(f"BinanceCredentials: {name} must be a non-empty printable ASCII string")

    def __repr__(self) -> str:
        return f"BinanceCredentials(api_key='{self.api_key[:4]}…', secret=<hidden>)"

    __str__ = __repr__


def sign(total_params: str, secret: str) -> str:
    """Signature of a SIGNED request: lowercase hex HMAC-SHA256 of ``total_params`` (the exact
    query string sent, without ``signature``) keyed by ``secret``.

    Source: https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
    ("SIGNED (TRADE and USER_DATA) Endpoint security").
    """
    return hmac.new(secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------- errors


class BinanceError(VenueError):
    """Binance refused a request: ``{"code": <negative>, "msg": ...}`` (HTTP 4xx, or an entry of a
    ``batchOrders`` answer), another HTTP 4xx (``code`` ``None``), or the request was not sent
    because it needs an API key (``code`` ``None``, ``http_status`` ``None``).

    ``str(err)`` is one line, e.g. ``"binance -2019: Margin is insufficient."``. A refusal is
    final: the order was not placed / not cancelled. ``retryable`` is ``True`` only for rate
    limits (HTTP 429/418) and the recvWindow error (``-1021``); nothing retries automatically.
    """

    def __init__(
        self,
        code: int | None,
        msg: str,
        *,
        http_status: int | None = None,
        endpoint: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        self.code = code
        self.msg = one_line(msg)
        self.http_status = http_status
        self.endpoint = endpoint
        text = f"binance {code}: {self.msg}" if code is not None else f"binance: {self.msg}"
        super().__init__(
            text,
            status=http_status,
            retryable=http_status in (418, 429) or code == -1021,
            retry_after_s=retry_after_s,
        )


class BinanceUnavailable(VenueError):
    """No usable answer: timeout, transport failure, HTTP 5xx or a malformed answer.

    ``str(err)`` is one line, e.g. ``"binance POST /fapi/v1/order: HTTP 503"``.
    ``outcome_unknown`` is ``True`` when a ``POST``/``DELETE`` may have reached the venue (timeout,
    dropped connection, 5xx, unreadable answer): reconcile by client order id before resending.
    ``retryable`` is ``False`` for malformed answers (a retry would not change them).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = True,
        outcome_unknown: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(
            one_line(message),
            status=status,
            retryable=retryable,
            outcome_unknown=outcome_unknown,
            retry_after_s=retry_after_s,
        )


# ---------------------------------------------------------------------------- symbol rules and formatting


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """Trading rules of one USDⓈ-M perpetual from ``GET /fapi/v1/exchangeInfo``.

    * ``symbol``: native name (``"BTCUSDT"``); ``base_asset`` (``"BTC"``), ``quote_asset`` (``"USDT"``);
    * ``tick_size``: price increment (quote per base unit), ``PRICE_FILTER.tickSize``;
    * ``step_size``, ``min_qty``, ``max_qty``: quantity increment and bounds of limit orders (base
      units), ``LOT_SIZE``;
    * ``min_notional``: least ``price × quantity`` of an order (quote), ``MIN_NOTIONAL.notional``.

    The :meth:`exact` method gives the exact decimal values (the shortest decimal that reads
    back as the float, i.e. the exchange's own string such as ``"0.10"`` → ``Decimal("0.1")``).
    """

    symbol: str
    base_asset: str
    tick_size: float
    step_size: float
    min_qty: float
    max_qty: float
    min_notional: float
    quote_asset: str = "USDT"

    def exact(self, name: str) -> Decimal:
        """The field ``name`` (``"tick_size"``, ``"step_size"``, ``"min_qty"``, ``"max_qty"``,
        ``"min_notional"``) as an exact :class:`~decimal.Decimal` (the shortest decimal that
        reads back as the stored float: ``0.1`` → ``Decimal("0.1")``)."""
        return Decimal(repr(float(getattr(self, name))))


def parse_exchange_info(raw: Any) -> dict[str, SymbolRules]:
    """``GET /fapi/v1/exchangeInfo`` → ``{native symbol: SymbolRules}`` of the perpetuals that trade.

    Only ``contractType == "PERPETUAL"`` and ``status == "TRADING"`` symbols are kept (dated
    contracts, settling/closed markets are skipped). Each kept symbol needs the filters
    ``PRICE_FILTER`` (``tickSize``), ``LOT_SIZE`` (``stepSize``, ``minQty``, ``maxQty``) and
    ``MIN_NOTIONAL`` (``notional``), with positive tick and step.

    :raises ValueError: (:class:`~pfterm.core.venues.wsbase.WireError`) malformed body, missing filter or
        non-positive tick/step, naming the symbol.
    """
    body = as_dict(loads(raw, what="exchangeInfo"), "exchangeInfo")
    out: dict[str, SymbolRules] = {}
    for item in as_list(body.get("symbols"), "exchangeInfo symbols"):
        item = as_dict(item, "exchangeInfo symbol")
        if item.get("contractType") != "PERPETUAL" or item.get("status") != "TRADING":
            continue
        native = str_field(item, "symbol", "exchangeInfo symbol")
        what = f"exchangeInfo {native}"
        filters: dict[str, dict[str, Any]] = {}
        for entry in as_list(item.get("filters"), f"{what} filters"):
            entry = as_dict(entry, f"{what} filter")
            if isinstance(entry.get("filterType"), str):
                filters[entry["filterType"]] = entry
        for name in ("PRICE_FILTER", "LOT_SIZE", "MIN_NOTIONAL"):
            if name not in filters:
                raise WireError(f"{what}: filter {name} missing")
        rules = SymbolRules(
            symbol=native,
            base_asset=str_field(item, "baseAsset", what),
            tick_size=num(filters["PRICE_FILTER"], "tickSize", f"{what} PRICE_FILTER"),
            step_size=num(filters["LOT_SIZE"], "stepSize", f"{what} LOT_SIZE"),
            min_qty=num(filters["LOT_SIZE"], "minQty", f"{what} LOT_SIZE"),
            max_qty=num(filters["LOT_SIZE"], "maxQty", f"{what} LOT_SIZE"),
            min_notional=num(filters["MIN_NOTIONAL"], "notional", f"{what} MIN_NOTIONAL"),
            quote_asset=str_field(item, "quoteAsset", what),
        )
        if rules.tick_size <= 0 or rules.step_size <= 0:
            raise WireError(f"{what}: tickSize and stepSize must be positive")
        out[native] = rules
    return out


def _exact(value: float, what: str) -> Decimal:
    """``value`` as the shortest decimal that reads back as the same float (``0.3`` → ``"0.3"``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number")
    return Decimal(repr(float(value)))


def _plain(value: Decimal) -> str:
    """``value`` in fixed-point notation without trailing zeros (``Decimal("5E+1")`` → ``"50"``)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def format_quantity(qty: float, rules: SymbolRules) -> str:
    """``qty`` (base units) floored to a multiple of ``rules.step_size``, as the order's
    ``quantity`` string: fixed-point, no exponent, no trailing zeros (``"0.01"``, ``"3"``).

    The result never exceeds ``qty`` and is within one step of it; a ``qty`` below one step
    gives ``"0"`` (which :meth:`OrderRequest.to_params` refuses). The float is read as its
    shortest decimal form, so ``0.1 + 0.2`` floors to ``"0.3"`` but ``0.03 - 0.02``
    (``0.009999999999999998``) floors to ``"0.009"`` with a ``0.001`` step.

    :raises ValueError: negative or non-finite ``qty``.
    """
    value = _exact(qty, "quantity")
    if value < 0:
        raise ValueError("quantity must not be negative")
    step = rules.exact("step_size")
    return _plain((value / step).to_integral_value(rounding=ROUND_FLOOR) * step)


def format_price(px: float, rules: SymbolRules, rounding: Rounding = "nearest") -> str:
    """``px`` (quote per base unit) rounded to a multiple of ``rules.tick_size`` as the order's
    ``price`` string (fixed-point, no trailing zeros).

    ``rounding``: ``"down"`` (floor: passive for a buy), ``"up"`` (ceiling: passive for a sell)
    or ``"nearest"`` (half up).

    :raises ValueError: non-positive or non-finite ``px``, unknown ``rounding``, or a result of 0
        (``px`` below one tick rounded down).
    """
    value = _exact(px, "price")
    if value <= 0:
        raise ValueError("price must be positive")
    if rounding not in _ROUNDING:
        raise ValueError(f"rounding must be one of {sorted(_ROUNDING)}")
    tick = rules.exact("tick_size")
    out = (value / tick).to_integral_value(rounding=_ROUNDING[rounding]) * tick
    if out <= 0:
        raise ValueError(f"price {px!r} is below one tick ({_plain(tick)})")
    return _plain(out)


# ---------------------------------------------------------------------------- order request


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order to place (one-way position mode).

    * ``symbol``: native name (``"BTCUSDT"``); ``side``: ``"BUY"``/``"SELL"``;
    * ``quantity``: base units, floored to the lot step when sent;
    * ``price``: limit price (quote per base unit) for ``"LIMIT"``, ``None`` for ``"MARKET"``;
      rounded to the tick *passively* when sent (a buy down, a sell up);
    * ``time_in_force``: ``"GTC"``, ``"IOC"``, ``"FOK"`` or ``"GTX"`` (post-only: refused with
      ``-5022`` if it would cross); not sent for market orders;
    * ``reduce_only``: only reduce the position;
    * ``client_order_id``: ``newClientOrderId``, 1–36 characters of ``[.A-Z:/a-z0-9_-]``; the key
      for reconciling an order whose placement got no answer. ``None`` lets Binance pick one.

    :raises ValueError: on any invalid field (at construction).
    """

    symbol: str
    side: Side
    quantity: float
    price: float | None = None
    type: OrderType = "LIMIT"
    time_in_force: TimeInForce = "GTC"
    reduce_only: bool = False
    client_order_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol or not self.symbol.isprintable() or " " in self.symbol:
            raise ValueError("order symbol must be a native Binance symbol such as 'BTCUSDT'")
        if self.side not in ("BUY", "SELL"):
            raise ValueError("order side must be 'BUY' or 'SELL'")
        if self.type not in ("LIMIT", "MARKET"):
            raise ValueError("order type must be 'LIMIT' or 'MARKET'")
        if self.time_in_force not in ("GTC", "IOC", "FOK", "GTX"):
            raise ValueError("time_in_force must be one of GTC, IOC, FOK, GTX")
        if _exact(self.quantity, "order quantity") <= 0:
            raise ValueError("order quantity must be positive")
        if self.type == "LIMIT":
            if self.price is None or _exact(self.price, "order price") <= 0:
                raise ValueError("a LIMIT order needs a positive price")
        elif self.price is not None:
            raise ValueError("a MARKET order takes no price")
        if self.type == "MARKET" and self.time_in_force == "GTX":
            raise ValueError("a MARKET order cannot be post-only (GTX)")
        if not isinstance(self.reduce_only, bool):
            raise ValueError("reduce_only must be a bool")
        if self.client_order_id is not None and (
            not isinstance(self.client_order_id, str) or _CLIENT_ORDER_ID_RE.fullmatch(self.client_order_id) is None
        ):
            raise ValueError("client_order_id must be 1-36 characters of [.A-Z:/a-z0-9_-]")

    def to_params(self, rules: SymbolRules) -> dict[str, str]:
        """The ``POST /fapi/v1/order`` parameters (also one ``batchOrders`` entry), all strings.

        ``quantity`` via :func:`format_quantity`; ``price`` via :func:`format_price`, rounded
        passively (``"down"`` for a buy, ``"up"`` for a sell); ``timeInForce`` for limit orders;
        ``reduceOnly`` only when true; ``newOrderRespType=RESULT`` (the answer carries the fill).

        :raises ValueError: ``rules`` of another symbol; quantity outside ``[min_qty, max_qty]``
            after flooring; a limit order (not reduce-only) below ``min_notional``.
        """
        if rules.symbol != self.symbol:
            raise ValueError(f"rules are for {rules.symbol}, not {self.symbol}")
        quantity = format_quantity(self.quantity, rules)
        qty = Decimal(quantity)
        if qty <= 0 or qty < rules.exact("min_qty"):
            raise ValueError(
                f"{self.symbol}: quantity {self.quantity!r} is below the minimum {_plain(rules.exact('min_qty'))}"
            )
        if qty > rules.exact("max_qty"):
            raise ValueError(
                f"{self.symbol}: quantity {quantity} is above the maximum {_plain(rules.exact('max_qty'))}"
            )
        params = {"symbol": self.symbol, "side": self.side, "type": self.type, "quantity": quantity}
        if self.type == "LIMIT":
            assert self.price is not None  # checked in __post_init__
            price = format_price(self.price, rules, "down" if self.side == "BUY" else "up")
            if not self.reduce_only and qty * Decimal(price) < rules.exact("min_notional"):
                raise ValueError(
                    f"{self.symbol}: notional {_plain(qty * Decimal(price))} is below the minimum "
                    f"{_plain(rules.exact('min_notional'))}"
                )
            params["price"] = price
            params["timeInForce"] = self.time_in_force
        if self.reduce_only:
            params["reduceOnly"] = "true"
        if self.client_order_id is not None:
            params["newClientOrderId"] = self.client_order_id
        params["newOrderRespType"] = "RESULT"
        return params


# ---------------------------------------------------------------------------- answers


def _flag(obj: Mapping[str, Any], key: str, what: str) -> bool:
    """``obj[key]`` as a bool: JSON ``true``/``false`` or the strings ``"true"``/``"false"``."""
    value = obj.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise WireError(f"{what}: field {key!r} is not a boolean")


def _side(obj: Mapping[str, Any], what: str) -> Side:
    side = obj.get("side")
    if side not in ("BUY", "SELL"):
        raise WireError(f"{what}: field 'side' is not BUY/SELL")
    return side


@dataclass(frozen=True, slots=True)
class BinanceOrder:
    """An order as Binance reports it (``POST``/``DELETE``/``GET /fapi/v1/order``, ``openOrders``,
    ``batchOrders`` entries).

    * ``order_id``: venue id; ``client_order_id``; ``symbol`` (native); ``side`` ``"BUY"``/``"SELL"``;
    * ``type`` (``LIMIT``, ``MARKET``, …), ``time_in_force`` (``GTC``, ``IOC``, ``FOK``, ``GTX``);
    * ``status``: ``NEW``, ``PARTIALLY_FILLED``, ``FILLED``, ``CANCELED``, ``EXPIRED``,
      ``EXPIRED_IN_MATCH``, …;
    * ``price``: limit price (``0.0`` for market orders), ``avg_price``: average fill price
      (``0.0`` while nothing filled), quote per base unit;
    * ``orig_qty``, ``executed_qty``: base units; ``cum_quote``: filled notional (quote), ``None``
      when absent;
    * ``reduce_only``; ``update_ms``: last update (``updateTime``, else ``time``).
    """

    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    type: str
    time_in_force: str
    status: str
    price: float
    avg_price: float
    orig_qty: float
    executed_qty: float
    reduce_only: bool
    update_ms: int
    cum_quote: float | None = None

    @property
    def is_open(self) -> bool:
        """Still working on the book (``NEW`` or ``PARTIALLY_FILLED``)."""
        return self.status in OPEN_STATUSES

    @property
    def filled(self) -> bool:
        """Something was executed (``executed_qty > 0``)."""
        return self.executed_qty > 0


def parse_order(raw: Any) -> BinanceOrder:
    """One order object → :class:`BinanceOrder`.

    ``avgPrice`` is absent from cancel answers; it is then ``cumQuote / executedQty`` when
    something filled, else ``0.0``.

    :raises ValueError: (:class:`~pfterm.core.venues.wsbase.WireError`) missing or malformed field.
    """
    obj = as_dict(loads(raw, what="order"), "order")
    what = f"order {obj.get('orderId', '?')}"
    executed = num(obj, "executedQty", what)
    cum_quote = opt_num(obj, "cumQuote", what)
    avg = opt_num(obj, "avgPrice", what)
    if avg is None:
        avg = cum_quote / executed if cum_quote is not None and executed > 0 else 0.0
    return BinanceOrder(
        order_id=int_field(obj, "orderId", what),
        client_order_id=str_field(obj, "clientOrderId", what),
        symbol=str_field(obj, "symbol", what),
        side=_side(obj, what),
        type=str_field(obj, "type", what),
        time_in_force=str_field(obj, "timeInForce", what),
        status=str_field(obj, "status", what),
        price=num(obj, "price", what),
        avg_price=avg,
        orig_qty=num(obj, "origQty", what),
        executed_qty=executed,
        reduce_only=_flag(obj, "reduceOnly", what),
        update_ms=int_field(obj, "updateTime" if obj.get("updateTime") is not None else "time", what),
        cum_quote=cum_quote,
    )


@dataclass(frozen=True, slots=True)
class BinancePosition:
    """One position.

    * ``symbol`` (native); ``size``: signed ``positionAmt`` in base units (negative = short);
    * ``entry_px``, ``mark_px``, ``liquidation_px``: quote per base unit; ``liquidation_px`` is
      ``None`` when Binance reports ``0`` (no liquidation price);
    * ``unrealized_pnl``, ``notional`` (signed, ``size × mark``), ``maint_margin``,
      ``initial_margin``: margin asset (USDT);
    * ``position_side``: ``BOTH`` in one-way mode; ``update_ms``.

    From ``/fapi/v3/positionRisk`` every field is set. Entries of :class:`BinanceAccount` have no
    ``mark_px``/``liquidation_px`` (``None``), and ``entry_px`` (absent in the v3 account) or
    ``notional`` (absent in the v2 account) may be ``None``.
    """

    symbol: str
    size: float
    entry_px: float | None
    mark_px: float | None
    unrealized_pnl: float
    liquidation_px: float | None
    notional: float | None
    maint_margin: float
    initial_margin: float
    update_ms: int
    position_side: str = "BOTH"

    @property
    def is_long(self) -> bool:
        """``size > 0``."""
        return self.size > 0


def _check_linear(item: Mapping[str, Any], what: str) -> None:
    """Refuse a COIN-M (inverse) position: its ``positionAmt`` counts contracts (USD 100 or 10
    each), its notional (``notionalValue``) and PnL are in the coin — read as USDⓈ-M they would be
    wrong by orders of magnitude."""
    if "notionalValue" in item and "notional" not in item:
        raise WireError(
            f"{what}: COIN-M (inverse) position (contracts, coin-margined); "
            "this client reads USDⓈ-M /fapi positions only"
        )


def parse_position_risk(raw: Any) -> list[BinancePosition]:
    """``GET /fapi/v3/positionRisk`` → the non-zero positions.

    Fields: ``positionAmt``, ``entryPrice``, ``markPrice``, ``unRealizedProfit``,
    ``liquidationPrice`` (``"0"`` → ``None``), ``notional``, ``maintMargin``, ``initialMargin``,
    ``positionSide``, ``updateTime``.

    A COIN-M body (``/dapi`` ``positionRisk``: ``BTCUSD_PERP`` with ``notionalValue`` in BTC and
    ``positionAmt`` in contracts) is refused as a whole rather than misread.

    :raises ValueError: (:class:`~pfterm.core.venues.wsbase.WireError`) malformed body or item, or a
        COIN-M item.
    """
    out: list[BinancePosition] = []
    for item in as_list(loads(raw, what="positionRisk"), "positionRisk"):
        item = as_dict(item, "positionRisk item")
        what = f"positionRisk {item.get('symbol', '?')}"
        _check_linear(item, what)
        size = num(item, "positionAmt", what)
        if size == 0:
            continue
        liq = num(item, "liquidationPrice", what)
        out.append(
            BinancePosition(
                symbol=str_field(item, "symbol", what),
                size=size,
                entry_px=num(item, "entryPrice", what),
                mark_px=num(item, "markPrice", what),
                unrealized_pnl=num(item, "unRealizedProfit", what),
                liquidation_px=liq if liq > 0 else None,
                notional=num(item, "notional", what),
                maint_margin=num(item, "maintMargin", what),
                initial_margin=num(item, "initialMargin", what),
                update_ms=int_field(item, "updateTime", what),
                position_side=item.get("positionSide") or "BOTH",
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class BinanceAccount:
    """Account totals of ``GET /fapi/v2/account`` (or v3), in USD(T):

    ``wallet_balance`` (``totalWalletBalance``), ``unrealized_pnl`` (``totalUnrealizedProfit``),
    ``margin_balance`` (``totalMarginBalance`` = wallet + unrealized), ``maint_margin``
    (``totalMaintMargin``), ``initial_margin`` (``totalInitialMargin``), ``available_balance``
    (``availableBalance``), and ``positions``: the non-zero entries of its ``positions`` list
    (no mark or liquidation price there: ``None``).
    """

    wallet_balance: float
    unrealized_pnl: float
    margin_balance: float
    maint_margin: float
    initial_margin: float
    available_balance: float
    positions: tuple[BinancePosition, ...] = ()


def parse_account(raw: Any) -> BinanceAccount:
    """``GET /fapi/v2/account`` (or ``/fapi/v3/account``) → :class:`BinanceAccount`.

    :raises ValueError: (:class:`~pfterm.core.venues.wsbase.WireError`) malformed body or position.
    """
    obj = as_dict(loads(raw, what="account"), "account")
    positions: list[BinancePosition] = []
    for item in as_list(obj.get("positions", []), "account positions"):
        item = as_dict(item, "account position")
        what = f"account position {item.get('symbol', '?')}"
        _check_linear(item, what)
        size = num(item, "positionAmt", what)
        if size == 0:
            continue
        positions.append(
            BinancePosition(
                symbol=str_field(item, "symbol", what),
                size=size,
                entry_px=opt_num(item, "entryPrice", what),
                mark_px=None,
                unrealized_pnl=num(item, "unrealizedProfit", what),
                liquidation_px=None,
                notional=opt_num(item, "notional", what),
                maint_margin=num(item, "maintMargin", what),
                initial_margin=num(item, "initialMargin", what),
                update_ms=int_field(item, "updateTime", what),
                position_side=item.get("positionSide") or "BOTH",
            )
        )
    return BinanceAccount(
        wallet_balance=num(obj, "totalWalletBalance", "account"),
        unrealized_pnl=num(obj, "totalUnrealizedProfit", "account"),
        margin_balance=num(obj, "totalMarginBalance", "account"),
        maint_margin=num(obj, "totalMaintMargin", "account"),
        initial_margin=num(obj, "totalInitialMargin", "account"),
        available_balance=num(obj, "availableBalance", "account"),
        positions=tuple(positions),
    )


@dataclass(frozen=True, slots=True)
class BinanceTrade:
    """One fill of ``GET /fapi/v1/userTrades``.

    ``id`` (trade id), ``order_id``, ``symbol``, ``side``; ``price`` (quote per base unit), ``qty``
    (base units), ``quote_qty`` (quote); ``realized_pnl`` (margin asset, closing fills);
    ``commission`` in ``commission_asset`` as Binance sends it; ``time_ms``; ``maker``.
    """

    id: int
    order_id: int
    symbol: str
    side: Side
    price: float
    qty: float
    realized_pnl: float
    quote_qty: float
    commission: float
    commission_asset: str
    time_ms: int
    maker: bool


def parse_user_trades(raw: Any) -> list[BinanceTrade]:
    """``GET /fapi/v1/userTrades`` → one :class:`BinanceTrade` per item, in the venue's order.

    :raises ValueError: (:class:`~pfterm.core.venues.wsbase.WireError`) malformed body or item.
    """
    out: list[BinanceTrade] = []
    for item in as_list(loads(raw, what="userTrades"), "userTrades"):
        item = as_dict(item, "userTrades item")
        what = f"userTrades {item.get('id', '?')}"
        out.append(
            BinanceTrade(
                id=int_field(item, "id", what),
                order_id=int_field(item, "orderId", what),
                symbol=str_field(item, "symbol", what),
                side=_side(item, what),
                price=num(item, "price", what),
                qty=num(item, "qty", what),
                realized_pnl=num(item, "realizedPnl", what),
                quote_qty=num(item, "quoteQty", what),
                commission=num(item, "commission", what),
                commission_asset=str_field(item, "commissionAsset", what),
                time_ms=int_field(item, "time", what),
                maker=_flag(item, "maker", what),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class BinanceIncome:
    """One ``GET /fapi/v1/income`` row: a cash flow of the futures wallet.

    * ``symbol``: native, ``None`` for account-level rows (``TRANSFER`` …, sent as ``""``);
    * ``income_type``: ``FUNDING_FEE``, ``COMMISSION``, ``REALIZED_PNL``, ``TRANSFER``, …;
    * ``income``: signed amount of ``asset`` (positive = received);
    * ``time_ms``; ``tran_id``: transaction id (int, up to 19 digits); ``trade_id``: related
      trade id (``None`` when ``""``); ``info``: free text.
    """

    symbol: str | None
    income_type: str
    income: float
    asset: str
    time_ms: int
    tran_id: int
    trade_id: str | None
    info: str


def parse_income(raw: Any) -> list[BinanceIncome]:
    """``GET /fapi/v1/income`` → one :class:`BinanceIncome` per item, in the venue's order.

    :raises ValueError: (:class:`~pfterm.core.venues.wsbase.WireError`) malformed body or item.
    """
    out: list[BinanceIncome] = []
    for item in as_list(loads(raw, what="income"), "income"):
        item = as_dict(item, "income item")
        what = f"income {item.get('tranId', '?')}"
        symbol = item.get("symbol")
        trade_id = item.get("tradeId")
        info = item.get("info")
        if symbol is not None and not isinstance(symbol, str):
            raise WireError(f"{what}: field 'symbol' is not a string")
        out.append(
            BinanceIncome(
                symbol=symbol or None,
                income_type=str_field(item, "incomeType", what),
                income=num(item, "income", what),
                asset=str_field(item, "asset", what),
                time_ms=int_field(item, "time", what),
                tran_id=int_field(item, "tranId", what),
                trade_id=str(trade_id) if trade_id not in (None, "") else None,
                info=info if isinstance(info, str) else "",
            )
        )
    return out


# ---------------------------------------------------------------------------- client


def _error_entry(entry: Any) -> tuple[int, str] | None:
    """``(code, msg)`` of a ``{"code": <negative>, "msg": ...}`` answer, else ``None``."""
    if not isinstance(entry, Mapping):
        return None
    code = entry.get("code")
    if isinstance(code, bool) or not isinstance(code, int) or code >= 0:
        return None
    return code, one_line(str(entry.get("msg", "")))


class BinanceFuturesClient:
    """Async client of the Binance USDⓈ-M futures REST API (signed trading and user data).

    Methods raise :class:`BinanceError` when Binance refuses (or when a signed method is called
    without credentials, before sending anything), :class:`BinanceUnavailable` when no usable
    answer came, and ``ValueError`` for invalid arguments before sending anything. ``GET``\\s are
    retried (3 tries, exponential backoff) on :class:`BinanceUnavailable`; nothing else is.
    Use as an async context manager or call :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str = BINANCE_FUTURES_URL,
        credentials: BinanceCredentials | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        clock_ms: Callable[[], int] | None = None,
        recv_window_ms: int = 5000,
        timeout_s: float = 10.0,
        retry_delay_s: float = 0.5,
    ) -> None:
        """Create a client.

        :param base_url: REST base URL (production, testnet, or the in-repo simulator).
        :param credentials: API key and secret; ``None`` allows only the public methods.
        :param client: existing ``httpx.AsyncClient`` (not closed by :meth:`aclose`).
        :param clock_ms: source of the ``timestamp`` parameter (ms since the epoch); the wall
            clock by default, the simulator's clock in lockstep runs.
        :param recv_window_ms: ``recvWindow`` (ms, 1–60000): how late a request may arrive.
        :param timeout_s: per-request timeout, seconds.
        :param retry_delay_s: first backoff delay of a ``GET`` retry (seconds, doubling, jittered).
        :raises ValueError: ``recv_window_ms`` out of range, non-positive ``timeout_s``.
        """
        if not 0 < recv_window_ms <= 60_000:
            raise ValueError("recv_window_ms must be in 1..60000")
        if not timeout_s > 0:
            raise ValueError("timeout_s must be positive")
        if credentials is not None and not isinstance(credentials, BinanceCredentials):
            raise TypeError("credentials must be BinanceCredentials")
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._clock_ms = clock_ms or wall_ms
        self.recv_window_ms = int(recv_window_ms)
        self._timeout = httpx.Timeout(timeout_s)
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=self._timeout)
        self._rules: dict[str, SymbolRules] | None = None
        self._rules_lock = asyncio.Lock()
        self._get_with_retry = backoff.on_exception(
            backoff.expo,
            BinanceUnavailable,
            max_tries=GET_TRIES,
            factor=retry_delay_s,
            giveup=lambda exc: isinstance(exc, BinanceUnavailable) and not exc.retryable,  # only these retry
            on_backoff=self._log_backoff,
            logger=None,
        )(self._send)

    def __repr__(self) -> str:
        return f"BinanceFuturesClient(base_url={self.base_url!r}, credentials={self._credentials!r})"

    @property
    def http(self) -> httpx.AsyncClient:
        """The HTTP client, for the venue's public market-data reads (``premiumIndex``…)."""
        return self._client

    async def __aenter__(self) -> BinanceFuturesClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            await self._client.aclose()

    # ----------------------------------------------------------------------- transport

    @staticmethod
    def _log_backoff(details: Any) -> None:
        exc = details.get("exception")
        log.warning("binance: retry %d in %.2f s after: %s", details["tries"], details["wait"], exc)

    async def _request(
        self, method: str, path: str, params: Mapping[str, str | int] | None = None, *, signed: bool
    ) -> Any:
        """Send one request (``GET``\\s with retries) and return the decoded JSON answer.

        :raises BinanceError: no credentials for a signed request; a ``{"code": <negative>}``
            answer; another HTTP 4xx.
        :raises BinanceUnavailable: timeout, transport failure, HTTP 5xx, non-JSON answer.
        """
        endpoint = f"{method} {path}"
        if signed and self._credentials is None:
            raise BinanceError(None, f"no API key: {endpoint} is a signed endpoint", endpoint=endpoint)
        clean = {key: str(value) for key, value in (params or {}).items()}
        if method == "GET":
            return await self._get_with_retry(method, path, clean, signed)
        return await self._send(method, path, clean, signed)

    async def _send(self, method: str, path: str, params: dict[str, str], signed: bool) -> Any:
        """One attempt: build (and sign) the query string, send, decode and check the answer."""
        endpoint = f"{method} {path}"
        headers: dict[str, str] = {}
        if signed:
            assert self._credentials is not None  # checked by _request
            params = {**params, "recvWindow": str(self.recv_window_ms), "timestamp": str(int(self._clock_ms()))}
            query = urlencode(params)
            log.debug("%s %s", endpoint, query)
            query = f"{query}&signature={sign(query, self._credentials.secret)}"
            headers["X-MBX-APIKEY"] = self._credentials.api_key
        else:
            query = urlencode(params)
            log.debug("%s %s", endpoint, query)
        url = f"{self.base_url}{path}?{query}" if query else f"{self.base_url}{path}"
        sent_unknown = method != "GET"
        try:
            response = await request_capped(
                self._client, method, url, label=f"binance {endpoint}", headers=headers, timeout=self._timeout
            )
        except VenueError as exc:  # the answer's body: over the cap, corrupt or in an unknown encoding
            raise BinanceUnavailable(
                str(exc), status=exc.status, retryable=False, outcome_unknown=sent_unknown
            ) from None
        except httpx.TimeoutException:
            raise BinanceUnavailable(
                f"binance {endpoint}: timed out after {self._timeout.read:g} s", outcome_unknown=sent_unknown
            ) from None
        except httpx.HTTPError as exc:
            connect_failed = isinstance(exc, httpx.ConnectError)
            detail = one_line(str(exc)) or "connection failed"
            raise BinanceUnavailable(
                f"binance {endpoint}: {type(exc).__name__}: {detail}",
                outcome_unknown=sent_unknown and not connect_failed,
            ) from None
        status = response.status
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:  # includes undecodable UTF-8
            answer = None
        error = _error_entry(answer)
        if status >= 500:
            detail = f": {error[0]} {error[1]}" if error else ""
            raise BinanceUnavailable(
                f"binance {endpoint}: HTTP {status}{detail}",
                status=status,
                outcome_unknown=sent_unknown,
                retry_after_s=retry_after_s(response.headers),
            )
        if error is not None:
            raise BinanceError(
                error[0], error[1], http_status=status, endpoint=endpoint, retry_after_s=retry_after_s(response.headers)
            )
        if status >= 400:
            raise BinanceError(
                None,
                f"{endpoint}: HTTP {status}",
                http_status=status,
                endpoint=endpoint,
                retry_after_s=retry_after_s(response.headers),
            )
        if answer is None:
            raise BinanceUnavailable(
                f"binance {endpoint}: malformed answer: not JSON",
                status=status,
                retryable=False,
                outcome_unknown=sent_unknown,
            )
        return answer

    @staticmethod
    def _malformed(endpoint: str, exc: ValueError, *, outcome_unknown: bool = False) -> BinanceUnavailable:
        return BinanceUnavailable(
            f"binance {endpoint}: malformed answer: {exc}", status=200, retryable=False, outcome_unknown=outcome_unknown
        )

    def _parse(self, endpoint: str, parse: Callable[[Any], Any], answer: Any, *, outcome_unknown: bool = False) -> Any:
        try:
            return parse(answer)
        except ValueError as exc:
            raise self._malformed(endpoint, exc, outcome_unknown=outcome_unknown) from None

    # ----------------------------------------------------------------------- public

    async def server_time(self) -> int:
        """``GET /fapi/v1/time`` → the server's time, ms since the epoch.

        :raises BinanceUnavailable, BinanceError: on failure.
        """
        answer = await self._request("GET", "/fapi/v1/time", signed=False)
        return self._parse("GET /fapi/v1/time", lambda a: int_field(as_dict(a, "time"), "serverTime", "time"), answer)

    async def exchange_info(self, *, refresh: bool = False) -> dict[str, SymbolRules]:
        """``GET /fapi/v1/exchangeInfo`` (weight 1) → rules of the trading perpetuals, read once and
        cached; ``refresh=True`` reads them again.

        :raises BinanceUnavailable, BinanceError: on failure.
        """
        async with self._rules_lock:
            if self._rules is None or refresh:
                answer = await self._request("GET", "/fapi/v1/exchangeInfo", signed=False)
                self._rules = self._parse("GET /fapi/v1/exchangeInfo", parse_exchange_info, answer)
            return dict(self._rules)

    async def _rules_for(self, symbol: str) -> SymbolRules:
        rules = (await self.exchange_info()).get(symbol)
        if rules is None:
            raise ValueError(f"{symbol!r} is not a trading USDⓈ-M perpetual")
        return rules

    # ----------------------------------------------------------------------- orders

    async def place(self, req: OrderRequest) -> BinanceOrder:
        """``POST /fapi/v1/order`` (never retried) → the order as placed (``RESULT``: with fills).

        :raises ValueError: unknown symbol or ``req`` not satisfying its rules (nothing sent).
        :raises BinanceError: refused, e.g. ``-2019`` margin, ``-5022`` post-only would cross,
            ``-4116`` duplicated client order id.
        :raises BinanceUnavailable: no answer (``outcome_unknown``: reconcile by client order id).
        """
        params = req.to_params(await self._rules_for(req.symbol))
        answer = await self._request("POST", "/fapi/v1/order", params, signed=True)
        return self._parse("POST /fapi/v1/order", parse_order, answer, outcome_unknown=True)

    async def place_batch(self, reqs: Sequence[OrderRequest]) -> list[BinanceOrder | BinanceError]:
        """``POST /fapi/v1/batchOrders`` in chunks of :data:`BATCH_SIZE` (5) sent concurrently;
        one result per request, in input order. Never retried.

        Each entry is the placed :class:`BinanceOrder` or the :class:`BinanceError` refusing that
        order (its own ``{"code", "msg"}`` entry, or a refusal of its whole chunk such as ``-1021``):
        a refused order was not placed.

        :raises ValueError: empty input, unknown symbol or an invalid request (nothing sent).
        :raises BinanceUnavailable: (``outcome_unknown``) raised after every chunk has finished
            when the answer of at least one chunk was lost or unreadable; the orders of the other
            chunks may have been placed too: reconcile every order by client order id.
        """
        if not reqs:
            raise ValueError("place_batch needs at least one order")
        rules = await self.exchange_info()
        params: list[dict[str, str]] = []
        for index, req in enumerate(reqs):
            if req.symbol not in rules:
                raise ValueError(f"order {index}: {req.symbol!r} is not a trading USDⓈ-M perpetual")
            params.append(req.to_params(rules[req.symbol]))
        chunks = [params[i : i + BATCH_SIZE] for i in range(0, len(params), BATCH_SIZE)]
        answers = await asyncio.gather(*(self._place_chunk(chunk) for chunk in chunks), return_exceptions=True)
        lost = [(chunk, exc) for chunk, exc in zip(chunks, answers, strict=True) if isinstance(exc, BaseException)]
        if lost:
            unknown = sum(len(chunk) for chunk, _exc in lost)
            first = lost[0][1]
            if not isinstance(first, BinanceUnavailable):
                raise first
            raise BinanceUnavailable(
                f"{first} ({unknown} of {len(params)} orders in doubt)", status=first.status, outcome_unknown=True
            ) from None
        return [result for chunk_results in answers for result in chunk_results]  # type: ignore[union-attr]

    async def _place_chunk(self, chunk: list[dict[str, str]]) -> list[BinanceOrder | BinanceError]:
        """Send one chunk; a whole-chunk refusal becomes one :class:`BinanceError` per order.

        :raises BinanceUnavailable: the chunk's outcome is unknown.
        """
        endpoint = "POST /fapi/v1/batchOrders"
        batch = json.dumps(chunk, separators=(",", ":"))
        try:
            answer = await self._request("POST", "/fapi/v1/batchOrders", {"batchOrders": batch}, signed=True)
        except BinanceError as exc:
            return [exc] * len(chunk)
        if not isinstance(answer, list) or len(answer) != len(chunk):
            count = len(answer) if isinstance(answer, list) else "no list"
            raise self._malformed(endpoint, WireError(f"{count} entries for {len(chunk)} orders"), outcome_unknown=True)
        results: list[BinanceOrder | BinanceError] = []
        for entry in answer:
            error = _error_entry(entry)
            if error is not None:
                results.append(BinanceError(error[0], error[1], http_status=200, endpoint=endpoint))
            else:
                results.append(self._parse(endpoint, parse_order, entry, outcome_unknown=True))
        return results

    @staticmethod
    def _order_key(symbol: str, order_id: int | None, client_order_id: str | None) -> dict[str, str]:
        if (order_id is None) == (client_order_id is None):
            raise ValueError("give exactly one of order_id and client_order_id")
        params = {"symbol": symbol}
        if order_id is not None:
            if isinstance(order_id, bool) or not isinstance(order_id, int) or order_id <= 0:
                raise ValueError("order_id must be a positive int")
            params["orderId"] = str(order_id)
        else:
            if not isinstance(client_order_id, str) or _CLIENT_ORDER_ID_RE.fullmatch(client_order_id) is None:
                raise ValueError("client_order_id must be 1-36 characters of [.A-Z:/a-z0-9_-]")
            params["origClientOrderId"] = client_order_id
        return params

    async def cancel(
        self, symbol: str, *, order_id: int | None = None, client_order_id: str | None = None
    ) -> BinanceOrder:
        """``DELETE /fapi/v1/order`` (never retried) by ``order_id`` or ``client_order_id``
        → the order as cancelled.

        :raises ValueError: neither or both ids given (nothing sent).
        :raises BinanceError: e.g. ``-2011`` unknown order (already filled, cancelled or never placed).
        :raises BinanceUnavailable: no answer (``outcome_unknown``).
        """
        params = self._order_key(symbol, order_id, client_order_id)
        answer = await self._request("DELETE", "/fapi/v1/order", params, signed=True)
        return self._parse("DELETE /fapi/v1/order", parse_order, answer, outcome_unknown=True)

    async def cancel_all(self, symbol: str) -> None:
        """``DELETE /fapi/v1/allOpenOrders``: cancel every open order of ``symbol`` (never retried).

        :raises BinanceError, BinanceUnavailable: on failure.
        """
        answer = await self._request("DELETE", "/fapi/v1/allOpenOrders", {"symbol": symbol}, signed=True)
        if not isinstance(answer, Mapping) or answer.get("code") != 200:
            raise self._malformed("DELETE /fapi/v1/allOpenOrders", WireError("expected code 200"), outcome_unknown=True)

    async def countdown_cancel_all(self, symbol: str, countdown_ms: int) -> None:
        """``POST /fapi/v1/countdownCancelAll``: cancel every open order of ``symbol`` unless called
        again within ``countdown_ms`` (dead man's switch; ``0`` disarms). Never retried.

        :raises ValueError: negative ``countdown_ms`` (nothing sent).
        :raises BinanceError, BinanceUnavailable: on failure.
        """
        if isinstance(countdown_ms, bool) or not isinstance(countdown_ms, int) or countdown_ms < 0:
            raise ValueError("countdown_ms must be a non-negative int")
        await self._request(
            "POST", "/fapi/v1/countdownCancelAll", {"symbol": symbol, "countdownTime": countdown_ms}, signed=True
        )

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        """``POST /fapi/v1/leverage`` → the leverage now set (1–125, capped by the bracket).

        :raises ValueError: ``leverage`` not in 1..125 (nothing sent).
        :raises BinanceError, BinanceUnavailable: on failure.
        """
        if isinstance(leverage, bool) or not isinstance(leverage, int) or not 1 <= leverage <= 125:
            raise ValueError("leverage must be an int in 1..125")
        answer = await self._request("POST", "/fapi/v1/leverage", {"symbol": symbol, "leverage": leverage}, signed=True)
        return self._parse(
            "POST /fapi/v1/leverage", lambda a: int_field(as_dict(a, "leverage"), "leverage", "leverage"), answer
        )

    # ----------------------------------------------------------------------- user data (GET, retried)

    async def open_orders(self, symbol: str | None = None) -> list[BinanceOrder]:
        """``GET /fapi/v1/openOrders`` (weight 1 with ``symbol``, 40 without) → working orders.

        :raises BinanceError, BinanceUnavailable: on failure.
        """
        params = {"symbol": symbol} if symbol is not None else {}
        answer = await self._request("GET", "/fapi/v1/openOrders", params, signed=True)
        return self._parse(
            "GET /fapi/v1/openOrders",
            lambda a: [parse_order(item) for item in as_list(a, "openOrders")],
            answer,
        )

    async def query_order(
        self, symbol: str, *, order_id: int | None = None, client_order_id: str | None = None
    ) -> BinanceOrder | None:
        """``GET /fapi/v1/order`` by ``order_id`` or ``client_order_id`` → the order, or ``None``
        if Binance does not know it (``-2013``: never placed, or cancelled/expired without fill
        more than 3 days ago).

        :raises ValueError: neither or both ids given (nothing sent).
        :raises BinanceError, BinanceUnavailable: any other failure.
        """
        params = self._order_key(symbol, order_id, client_order_id)
        try:
            answer = await self._request("GET", "/fapi/v1/order", params, signed=True)
        except BinanceError as exc:
            if exc.code == ORDER_DOES_NOT_EXIST:
                return None
            raise
        return self._parse("GET /fapi/v1/order", parse_order, answer)

    async def account(self) -> BinanceAccount:
        """``GET /fapi/v2/account`` (weight 5) → balances, margins and non-zero positions.

        :raises BinanceError, BinanceUnavailable: on failure.
        """
        answer = await self._request("GET", "/fapi/v2/account", signed=True)
        return self._parse("GET /fapi/v2/account", parse_account, answer)

    async def positions(self, symbol: str | None = None) -> list[BinancePosition]:
        """``GET /fapi/v3/positionRisk`` (weight 5) → non-zero positions.

        :raises BinanceError, BinanceUnavailable: on failure.
        """
        params = {"symbol": symbol} if symbol is not None else {}
        answer = await self._request("GET", "/fapi/v3/positionRisk", params, signed=True)
        return self._parse("GET /fapi/v3/positionRisk", parse_position_risk, answer)

    async def user_trades(
        self, symbol: str, *, start_ms: int | None = None, from_id: int | None = None, limit: int = 1000
    ) -> list[BinanceTrade]:
        """``GET /fapi/v1/userTrades`` (weight 5) → fills of ``symbol``, oldest first.

        ``start_ms`` (within the last 6 months; the window spans 7 days) or ``from_id`` (trade id
        to start from; not combinable with ``start_ms``); ``limit`` 1..1000.

        :raises ValueError: invalid arguments (nothing sent).
        :raises BinanceError, BinanceUnavailable: on failure.
        """
        if not 1 <= limit <= 1000:
            raise ValueError("limit must be in 1..1000")
        if start_ms is not None and from_id is not None:
            raise ValueError("give at most one of start_ms and from_id")
        params: dict[str, str | int] = {"symbol": symbol}
        if start_ms is not None:
            params["startTime"] = int(start_ms)
        if from_id is not None:
            params["fromId"] = int(from_id)
        params["limit"] = limit
        answer = await self._request("GET", "/fapi/v1/userTrades", params, signed=True)
        return self._parse("GET /fapi/v1/userTrades", parse_user_trades, answer)

    async def income(
        self,
        *,
        income_type: str | None = None,
        symbol: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 1000,
    ) -> list[BinanceIncome]:
        """``GET /fapi/v1/income`` (weight 30) → wallet cash flows, e.g.
        ``income_type="FUNDING_FEE"`` for funding payments; ``limit`` 1..1000.

        :raises ValueError: invalid ``limit`` (nothing sent).
        :raises BinanceError, BinanceUnavailable: on failure.
        """
        if not 1 <= limit <= 1000:
            raise ValueError("limit must be in 1..1000")
        params: dict[str, str | int] = {}
        if symbol is not None:
            params["symbol"] = symbol
        if income_type is not None:
            params["incomeType"] = income_type
        if start_ms is not None:
            params["startTime"] = int(start_ms)
        if end_ms is not None:
            params["endTime"] = int(end_ms)
        params["limit"] = limit
        answer = await self._request("GET", "/fapi/v1/income", params, signed=True)
        return self._parse("GET /fapi/v1/income", parse_income, answer)
