"""The order ticket's pricing: a :class:`~pfterm.core.trading.portfolio.TicketRequest` becomes the exact order
that would be sent (rounded to the venue's tick and lot, risk-checked), or why it cannot be.

Pure: everything comes in as arguments (the market's lot decimals, the mark, the slippage of a
market order, the risk check), so the console's ticket, a headless caller and the tests all
price an order the same way.

Rules:

* the order type is explicit (``"market"`` or ``"limit"``); a limit order without a price is
  refused, never turned into a market order;
* a market order is an IOC limit at mark ± ``order_slippage`` (Hyperliquid has no market
  orders, ``docs/venues.md``), rounded away from the mark so it is at least as aggressive as asked;
* a size in USD is divided by the order's own price: the limit price for a limit order, the
  mark for a market order; then floored to the lot (never more than asked);
* a limit further from the mark than the fat-finger band (either side) is sendable only after
  a confirmation: :attr:`TicketQuote.confirm` says so in one line.

Units: prices and money USD, sizes base units, fractions plain (``0.05`` = 5 %).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pfterm.core.market.models import MarketInfo, OrderIntent
from pfterm.core.trading.hedging import MIN_ORDER_USD
from pfterm.core.trading.hyperliquid import HL_MAKER_FEE, HL_TAKER_FEE
from pfterm.core.trading.portfolio import TicketQuote, TicketRequest
from pfterm.core.venues.hyperliquid.orders import Cloid, floor_size, market_price, round_price

__all__ = [
    "ORDER_TYPES",
    "TIFS",
    "band_warning",
    "quote_ticket",
    "ticket_order_type",
]


ORDER_TYPES = ("market", "limit")
"""The ticket's order types."""

TIFS = ("Gtc", "Alo", "Ioc")
"""Times in force of a limit order: good till cancelled, post-only (add liquidity only), IOC."""


def _usable(px: float | None) -> bool:
    return px is not None and math.isfinite(px) and px > 0


def _px(value: float) -> str:
    """A price for a one-line message: ``80000.0 → "80,000"``, ``0.00123 → "0.00123"``."""
    return f"{value:,g}" if value < 1e6 else f"{value:,.0f}"


def _pct(frac: float) -> str:
    return f"{frac * 100:.1f}".rstrip("0").rstrip(".") + " %"


def ticket_order_type(request: TicketRequest) -> str:
    """The order type of ``request``: its explicit ``order_type``; a request that predates the
    field (``order_type`` ``None``) is a limit order when it carries a price, else market."""
    if request.order_type is not None:
        return request.order_type
    return "limit" if request.limit_px is not None else "market"


def band_warning(is_buy: bool, limit_px: float, mark_px: float | None, band: float) -> str | None:
    """One line when ``limit_px`` (USD) is more than ``band`` (fraction) away from ``mark_px``
    on either side, ``None`` otherwise or without a usable mark.

    Above the mark for a buy (below for a sell) the order takes liquidity far through the book;
    on the other side it rests far from the market. Either way it is rarely what was meant.
    """
    if not _usable(mark_px) or not _usable(limit_px):
        return None
    assert mark_px is not None
    distance = (limit_px - mark_px) / mark_px
    if abs(distance) <= band:
        return None
    where = "above" if distance > 0 else "below"
    side = "buy" if is_buy else "sell"
    return (
        f"{side} limit {_px(limit_px)} is {_pct(abs(distance))} {where} mark {_px(mark_px)}, "
        f"beyond the {_pct(band)} band"
    )


def quote_ticket(
    request: TicketRequest,
    *,
    market: MarketInfo | None,
    mark_px: float | None,
    order_slippage: float,
    check: Callable[[OrderIntent], str | None],
    fat_finger_band: float = 0.05,
    taker_fee: float = HL_TAKER_FEE,
    maker_fee: float = HL_MAKER_FEE,
    min_order_usd: float = MIN_ORDER_USD,
    cloid: str | None = None,
) -> TicketQuote:
    """The order ``request`` becomes, or why it cannot be sent (never raises).

    Args:
        request: what the ticket asks for (size base units, or USD when ``size_in_usd``).
        market: the market's static description (lot decimals, asset id); ``None``: unknown.
        mark_px: the market's mark, USD; ``None`` when unknown (a market order then refuses).
        order_slippage: a market order's IOC limit distance from the mark, a fraction.
        check: the risk check of the account; ``None`` when the intent may be sent, else one line.
            Called last, only with a well-formed intent.
        fat_finger_band: a limit further than this fraction from the mark needs a confirmation
            (:attr:`TicketQuote.confirm`); the risk limits' ``fat_finger_band``.
        taker_fee: fee fraction of an order that takes liquidity (IOC, or a GTC limit through
            the mark).
        maker_fee: fee fraction of an order that rests.
        min_order_usd: the venue's minimum order value, USD (reduce-only orders are exempt).
        cloid: the client order id of the intent, ``0x`` + 32 hex digits; a new random one when
            ``None``.

    Returns:
        A :class:`TicketQuote`: ``intent`` ``None`` with a ``refusal`` when no order can be
        built; an ``intent`` with a ``refusal`` when the order is built but may not be sent
        (minimum value, post-only crossing, risk check); ``confirm`` set for a limit beyond the
        band. ``notional_usd`` = size × ``est_px``, ``est_fee_usd`` = notional × ``fee_rate``.
    """
    symbol = request.symbol
    order_type = ticket_order_type(request)
    if order_type not in ORDER_TYPES:
        return TicketQuote(None, refusal=f"unknown order type {order_type!r} (market or limit)")
    if market is None:
        return TicketQuote(None, refusal=f"{symbol}: no perp market", order_type=order_type)
    mark = mark_px if _usable(mark_px) else None
    if not (math.isfinite(request.size) and request.size > 0):
        return TicketQuote(None, refusal="size must be positive", order_type=order_type, mark_px=mark)
    try:
        if order_type == "market":
            if request.limit_px is not None:
                return TicketQuote(
                    None, refusal="a market order takes no limit price", order_type=order_type, mark_px=mark
                )
            if mark is None:
                return TicketQuote(None, refusal=f"{symbol}: no price for a market order", order_type=order_type)
            px = market_price(mark, request.is_buy, order_slippage, sz_decimals=market.sz_decimals)
            tif = "Ioc"
            size_px = mark
        else:
            if request.limit_px is None:
                return TicketQuote(
                    None, refusal="a limit order needs a limit price", order_type=order_type, mark_px=mark
                )
            if not _usable(request.limit_px):
                return TicketQuote(None, refusal="limit price must be positive", order_type=order_type, mark_px=mark)
            if request.tif not in TIFS:
                return TicketQuote(
                    None, refusal=f"unknown time in force {request.tif!r}", order_type=order_type, mark_px=mark
                )
            px = round_price(request.limit_px, market.sz_decimals)
            tif = request.tif
            size_px = px
        base = request.size / size_px if request.size_in_usd else request.size
        size = floor_size(base, market.sz_decimals)
    except ValueError as exc:
        return TicketQuote(None, refusal=str(exc), order_type=order_type, mark_px=mark)
    if size <= 0:
        return TicketQuote(
            None, refusal=f"size rounds to zero at {market.sz_decimals} decimals", order_type=order_type, mark_px=mark
        )
    intent = OrderIntent(
        symbol=symbol,
        asset_id=market.asset_id,
        is_buy=request.is_buy,
        size=size,
        limit_px=px,
        tif=tif,
        reduce_only=request.reduce_only,
        cloid=cloid or Cloid.new().raw,
        purpose="manual",
    )
    crosses = mark is not None and ((request.is_buy and px >= mark) or (not request.is_buy and px <= mark))
    taker = tif == "Ioc" or (tif == "Gtc" and crosses)
    fee_rate = taker_fee if taker else maker_fee
    # what it is expected to trade at: the mark when it takes liquidity, else its own price
    est_px = mark if mark is not None and (order_type == "market" or crosses) else px
    notional = size * est_px
    distance = (px - mark) / mark if mark is not None else None
    confirm = band_warning(request.is_buy, px, mark, fat_finger_band) if order_type == "limit" else None
    fields = dict(
        notional_usd=notional,
        est_fee_usd=notional * fee_rate,
        order_type=order_type,
        mark_px=mark,
        est_px=est_px,
        fee_rate=fee_rate,
        taker=taker,
        distance=distance,
        confirm=confirm,
    )
    if notional < min_order_usd and not request.reduce_only:
        return TicketQuote(
            intent,
            refusal=f"order value ${notional:,.2f} is below the ${min_order_usd:,.0f} minimum",
            **fields,  # type: ignore[arg-type]
        )
    if tif == "Alo" and crosses:
        return TicketQuote(intent, refusal="post-only order would cross the book", **fields)  # type: ignore[arg-type]
    return TicketQuote(intent, refusal=check(intent), **fields)  # type: ignore[arg-type]
