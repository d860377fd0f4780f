"""Hyperliquid order wire formatting: number spelling, tick/lot rounding and action dicts (no I/O).

Actions built here are hashed with msgpack before signing
(:func:`pfterm.core.venues.hyperliquid.signing.action_hash`), so their **key order is part of the
format**: an order is ``{a, b, p, s, r, t[, c]}`` in exactly that order, a trigger order type is
``{isMarket, triggerPx, tpsl}``. Prices and sizes travel as decimal strings with at most 8
decimals and no trailing zeros (:func:`float_to_wire`).

Units: prices in USD (quote) per base unit, sizes in base units, times in ms since the epoch,
``asset`` the integer asset id (perps: index in ``meta.universe``; spot: ``10000 + index``).

Price and size rules (tick and lot size): a price has at most 5 significant figures and at
most ``MAX_DECIMALS - szDecimals`` decimals (``MAX_DECIMALS`` 6 for perps, 8 for spot); an
integer price is always valid whatever its significant figures; a size has at most
``szDecimals`` decimals.

Hyperliquid has no market order: a "market" order is an aggressive IOC limit order
(:func:`market_price`), with ``reduce_only`` set to close.

Sources:

* https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/exchange-endpoint
* https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/tick-and-lot-size
* https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/signing
* ``docs/venues.md``, Hyperliquid "Exchange".
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
)
from typing import Any, Final, Literal, TypeAlias, get_args

__all__ = [
    "GROUPINGS",
    "ORDER_WIRE_KEYS",
    "PERP_MAX_DECIMALS",
    "SPOT_MAX_DECIMALS",
    "TIFS",
    "Cloid",
    "Grouping",
    "OrderType",
    "PriceRounding",
    "Tif",
    "Tpsl",
    "Trigger",
    "cancel_action",
    "cancel_by_cloid_action",
    "float_to_wire",
    "floor_size",
    "is_valid_price",
    "is_valid_size",
    "market_price",
    "order_action",
    "order_wire",
    "price_tick",
    "round_price",
    "round_size",
    "schedule_cancel_action",
    "update_leverage_action",
]

Tif: TypeAlias = Literal["Gtc", "Alo", "Ioc"]
"""Time in force: ``Gtc`` good till cancelled, ``Alo`` add-liquidity-only (post-only), ``Ioc`` immediate or cancel."""

TIFS: Final[frozenset[str]] = frozenset(get_args(Tif))

Tpsl: TypeAlias = Literal["tp", "sl"]
"""Trigger kind: take profit or stop loss."""

Grouping: TypeAlias = Literal["na", "normalTpsl", "positionTpsl"]
"""Order batch grouping: ``na`` independent orders; ``normalTpsl``/``positionTpsl`` attach TP/SL."""

GROUPINGS: Final[frozenset[str]] = frozenset(get_args(Grouping))

PriceRounding: TypeAlias = Literal["nearest", "up", "down"]
"""How :func:`round_price` picks a valid price: nearest (ties to even), or toward +∞ / −∞."""

PERP_MAX_DECIMALS: Final = 6
"""``MAX_DECIMALS`` for perpetual prices; the allowed decimals are this minus ``szDecimals``."""

SPOT_MAX_DECIMALS: Final = 8
"""``MAX_DECIMALS`` for spot prices."""

MAX_SIGNIFICANT_FIGURES: Final = 5
"""Significant figures allowed in a non-integer price."""

WIRE_DECIMALS: Final = 8
"""Decimals a wire number is rounded to before trailing zeros are dropped."""

ORDER_WIRE_KEYS: Final = ("a", "b", "p", "s", "r", "t")
"""Keys of an order wire, in hashing order; ``"c"`` (client order id) follows when present."""

_WIRE_QUANTUM: Final = Decimal(1).scaleb(-WIRE_DECIMALS)
_WIRE_TOLERANCE: Final = 1e-12
# Wide enough for any finite float quantized to 1e-8 (|x| < 1.8e308 → ≤ 317 digits).
_CTX: Final = Context(prec=400, Emax=999_999, Emin=-999_999)

_CLOID_RE: Final = re.compile(r"0x[0-9a-fA-F]{32}")


# --------------------------------------------------------------------------- numbers


def _check_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(f"{name} must be an int, float or Decimal, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")


def _human_decimal(name: str, value: float | int | Decimal) -> Decimal:
    """``value`` as the decimal a person means: a float's shortest round-tripping repr."""
    _check_number(name, value)
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def _check_sz_decimals(sz_decimals: object, limit: int) -> int:
    if isinstance(sz_decimals, bool) or not isinstance(sz_decimals, int):
        raise TypeError(f"sz_decimals must be an int, got {type(sz_decimals).__name__}")
    if not 0 <= sz_decimals <= limit:
        raise ValueError(f"sz_decimals must be within 0..{limit}, got {sz_decimals}")
    return sz_decimals


def float_to_wire(x: float | int | Decimal) -> str:
    """Spell a price or size the way Hyperliquid hashes it: ≤ 8 decimals, no trailing zeros, no exponent.

    ``x`` is rounded to 8 decimals (half-even on its exact value, as ``f"{x:.8f}"`` does). If that
    moves the value by ``1e-12`` or more (compared as floats for a float, exactly for an ``int``
    or ``Decimal``), the caller passed an unrounded number and ``ValueError`` is raised rather
    than silently sending another price. Zero, including ``-0.0`` and values that round to zero,
    is ``"0"`` (the official SDK would spell ``-0.0`` as ``"-0"``).

    Examples: ``100.0`` → ``"100"``, ``1670.1`` → ``"1670.1"``, ``0.0147`` → ``"0.0147"``,
    ``1e-8`` → ``"0.00000001"``, ``1.123456789`` → ``ValueError``.

    Raises:
        TypeError: ``x`` is not an ``int``, ``float`` or ``Decimal`` (``bool`` is refused).
        ValueError: ``x`` is NaN/infinite or has significant digits beyond 8 decimals.

    Source: the official SDK's ``float_to_wire``; "trailing zeroes should be removed",
    https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/signing
    """
    _check_number("x", x)
    exact = Decimal(x)
    rounded = exact.quantize(_WIRE_QUANTUM, rounding=ROUND_HALF_EVEN, context=_CTX)
    if isinstance(x, float):
        error = abs(float(rounded) - x)
    else:
        error = float(abs(_CTX.subtract(rounded, exact)))
    if error >= _WIRE_TOLERANCE:
        raise ValueError(f"{x!r} has more than {WIRE_DECIMALS} decimals; round it before sending")
    if rounded.is_zero():
        return "0"
    return format(rounded.normalize(_CTX), "f")


def _price_quantum_exponent(px: Decimal, max_decimals: int) -> int:
    # Exponent of the last allowed digit: 5 significant figures, capped by the decimals limit,
    # and never coarser than 1 because integers are always allowed.
    return min(max(px.adjusted() - (MAX_SIGNIFICANT_FIGURES - 1), -max_decimals), 0)


def _max_price_decimals(sz_decimals: int, is_spot: bool) -> int:
    base = SPOT_MAX_DECIMALS if is_spot else PERP_MAX_DECIMALS
    return base - _check_sz_decimals(sz_decimals, base)


_ROUNDING_MODES: Final = {"nearest": ROUND_HALF_EVEN, "up": ROUND_CEILING, "down": ROUND_FLOOR}


def _round_price_decimal(px: Decimal, sz_decimals: int, is_spot: bool, rounding: str) -> Decimal:
    max_decimals = _max_price_decimals(sz_decimals, is_spot)
    try:
        mode = _ROUNDING_MODES[rounding]
    except KeyError:
        raise ValueError(f"rounding must be one of {sorted(_ROUNDING_MODES)}, got {rounding!r}") from None
    if px <= 0:
        raise ValueError(f"price must be positive, got {px}")
    if px == px.to_integral_value():
        return px
    exponent = _price_quantum_exponent(px, max_decimals)
    result = px.quantize(Decimal(1).scaleb(exponent), rounding=mode, context=_CTX)
    if result <= 0:
        raise ValueError(f"price {px} rounds to zero with sz_decimals={sz_decimals}")
    return result


def round_price(
    px: float | int | Decimal,
    sz_decimals: int,
    *,
    is_spot: bool = False,
    rounding: PriceRounding = "nearest",
) -> float:
    """The valid Hyperliquid price closest to ``px`` (USD) under the tick rules.

    A valid price has ≤ 5 significant figures and ≤ ``6 - sz_decimals`` decimals for perps
    (``8 - sz_decimals`` for spot); an integer price is always valid, so ``123456.7`` becomes
    ``123457`` rather than ``123460``. ``px`` is read as its shortest decimal repr (``0.1`` is
    ``0.1``, not its binary expansion). ``rounding`` is ``"nearest"`` (ties to even), ``"up"``
    or ``"down"``; use ``"down"`` for post-only bids and ``"up"`` for post-only asks to avoid
    crossing, or the reverse to stay at least as aggressive as ``px``.

    The result satisfies :func:`is_valid_price`, is within half a :func:`price_tick` of ``px``
    for ``"nearest"`` (within one tick otherwise), and its ``repr`` is its exact decimal value,
    so :func:`float_to_wire` accepts it.

    Raises:
        TypeError: ``px`` or ``sz_decimals`` has the wrong type.
        ValueError: ``px`` is not positive and finite, ``sz_decimals`` is outside
            ``0..MAX_DECIMALS``, ``rounding`` is unknown, or the price rounds to zero.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/tick-and-lot-size
    """
    value = _round_price_decimal(_human_decimal("px", px), sz_decimals, is_spot, rounding)
    return float(value)


def price_tick(px: float | int | Decimal, sz_decimals: int, *, is_spot: bool = False) -> float:
    """The price increment allowed around ``px`` (USD): ``10 ** (exponent of its 5th significant
    figure)``, no finer than ``10 ** -(MAX_DECIMALS - sz_decimals)`` and no coarser than ``1``.

    Examples (perps, ``sz_decimals=0``): ``1234.5`` → ``0.1``; ``0.001234`` → ``0.000001``;
    ``91029`` → ``1``; ``123456`` → ``1``.

    Raises:
        TypeError, ValueError: as :func:`round_price` (``px`` must be positive).
    """
    value = _human_decimal("px", px)
    max_decimals = _max_price_decimals(sz_decimals, is_spot)
    if value <= 0:
        raise ValueError(f"price must be positive, got {value}")
    return float(Decimal(1).scaleb(_price_quantum_exponent(value, max_decimals)))


def is_valid_price(px: float | int | Decimal, sz_decimals: int, *, is_spot: bool = False) -> bool:
    """Whether ``px`` (USD) passes the tick rules: positive, and an integer or ≤ 5 significant
    figures with ≤ ``MAX_DECIMALS - sz_decimals`` decimals.

    Raises:
        TypeError, ValueError: ``px``/``sz_decimals`` of the wrong type, non-finite ``px``, or
            ``sz_decimals`` outside ``0..MAX_DECIMALS``.
    """
    value = _human_decimal("px", px)
    max_decimals = _max_price_decimals(sz_decimals, is_spot)
    if value <= 0:
        return False
    if value == value.to_integral_value():
        return True
    normal = value.normalize(_CTX)
    _sign, digits, exponent = normal.as_tuple()
    assert isinstance(exponent, int)
    return len(digits) <= MAX_SIGNIFICANT_FIGURES and -exponent <= max_decimals


def _round_size_decimal(sz: float | int | Decimal, sz_decimals: int, mode: str) -> Decimal:
    value = _human_decimal("sz", sz)
    _check_sz_decimals(sz_decimals, SPOT_MAX_DECIMALS)
    if value < 0:
        raise ValueError(f"size must not be negative, got {value}")
    return value.quantize(Decimal(1).scaleb(-sz_decimals), rounding=mode, context=_CTX)


def round_size(sz: float | int | Decimal, sz_decimals: int) -> float:
    """``sz`` (base units, ≥ 0) rounded to ``sz_decimals`` decimals, ties away from zero.

    ``sz`` is read as its shortest decimal repr, so ``0.125`` at 2 decimals is ``0.13`` and
    ``2.675`` is ``2.68`` (Python's ``round`` would give ``0.12`` and ``2.67``). Rounding may go
    *up*: to close a position with a reduce-only order, or whenever the size must not exceed an
    amount, use :func:`floor_size`. The result may be ``0.0``; the exchange rejects zero sizes.

    Raises:
        TypeError: wrong argument types.
        ValueError: ``sz`` negative or non-finite, ``sz_decimals`` outside ``0..8``.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/tick-and-lot-size
    """
    return float(_round_size_decimal(sz, sz_decimals, ROUND_HALF_UP))


def floor_size(sz: float | int | Decimal, sz_decimals: int) -> float:
    """``sz`` (base units, ≥ 0) truncated to ``sz_decimals`` decimals; never greater than ``sz``.

    For reduce-only closes and budget-limited orders. ``sz`` is read as its shortest decimal repr,
    so a size parsed from the venue's decimal string (``"0.0147"`` → ``0.0147``) is kept exactly
    and float noise above a step is dropped (``0.1 + 0.2`` → ``0.3`` at 2 decimals). Noise
    *below* a step is not recovered: a computed ``0.0299999999`` floors to ``0.02``.

    Raises:
        TypeError, ValueError: as :func:`round_size`.
    """
    return float(_round_size_decimal(sz, sz_decimals, ROUND_DOWN))


def is_valid_size(sz: float | int | Decimal, sz_decimals: int) -> bool:
    """Whether ``sz`` (base units) is positive with at most ``sz_decimals`` decimals.

    Raises:
        TypeError, ValueError: wrong types, non-finite ``sz``, ``sz_decimals`` outside ``0..8``.
    """
    value = _human_decimal("sz", sz)
    _check_sz_decimals(sz_decimals, SPOT_MAX_DECIMALS)
    return value > 0 and value == value.quantize(Decimal(1).scaleb(-sz_decimals), context=_CTX)


def market_price(
    mid: float | int | Decimal,
    is_buy: bool,
    slippage: float | Decimal = 0.05,
    *,
    sz_decimals: int,
    is_spot: bool = False,
) -> float:
    """Limit price (USD) for an aggressive IOC order standing in for a market order.

    ``mid × (1 + slippage)`` for a buy, ``mid × (1 − slippage)`` for a sell, then rounded to a
    valid price *away from* ``mid`` (up for buys, down for sells) so the order is at least as
    aggressive as asked. Hyperliquid has no market order type; send the result with ``Ioc``.

    Args:
        mid: current mid (or mark) price, USD, positive.
        is_buy: order side.
        slippage: fraction, ``0 ≤ slippage < 1``; default 5 % as in the official SDK.
        sz_decimals: the asset's ``szDecimals`` from ``meta``.
        is_spot: spot rules (8 instead of 6 max decimals).

    Raises:
        TypeError, ValueError: bad types, ``mid`` not positive, ``slippage`` out of range, or as
            :func:`round_price`.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/exchange-endpoint
    """
    mid_d = _human_decimal("mid", mid)
    slip_d = _human_decimal("slippage", slippage)
    if mid_d <= 0:
        raise ValueError(f"mid must be positive, got {mid_d}")
    if not 0 <= slip_d < 1:
        raise ValueError(f"slippage must be within [0, 1), got {slip_d}")
    factor = 1 + slip_d if is_buy else 1 - slip_d
    target = _CTX.multiply(mid_d, factor)
    return float(_round_price_decimal(target, sz_decimals, is_spot, "up" if is_buy else "down"))


# --------------------------------------------------------------------------- client order ids


@dataclass(frozen=True, slots=True)
class Cloid:
    """A client order id: 16 bytes written ``0x`` + 32 lowercase hex digits (``raw``).

    Construct with :meth:`new` (random), :meth:`from_str` or :meth:`from_int`. Hex digits are
    lowercased so ids compare equal to those the venue echoes back.

    Raises:
        ValueError: ``raw`` is not ``0x`` followed by exactly 32 hex digits.
    """

    raw: str

    def __post_init__(self) -> None:
        if not isinstance(self.raw, str) or _CLOID_RE.fullmatch(self.raw) is None:
            raise ValueError(f"cloid must be 0x followed by 32 hex digits, got {self.raw!r}")
        object.__setattr__(self, "raw", self.raw.lower())

    @classmethod
    def new(cls) -> Cloid:
        """A random client order id (128 bits from :mod:`secrets`)."""
        return cls("0x" + secrets.token_hex(16))

    @classmethod
    def from_str(cls, text: str) -> Cloid:
        """Parse ``0x`` + 32 hex digits; raises ``ValueError`` otherwise."""
        return cls(text)

    @classmethod
    def from_int(cls, value: int) -> Cloid:
        """The id whose 16 big-endian bytes encode ``value`` (``0 ≤ value < 2**128``)."""
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 128:
            raise ValueError(f"cloid int must be within [0, 2**128), got {value!r}")
        return cls(f"0x{value:032x}")

    def to_raw(self) -> str:
        """The wire spelling, ``0x`` + 32 hex digits."""
        return self.raw

    def __str__(self) -> str:
        return self.raw


def _cloid_raw(cloid: Cloid | str) -> str:
    if isinstance(cloid, Cloid):
        return cloid.raw
    if isinstance(cloid, str):
        return Cloid.from_str(cloid).raw
    raise TypeError(f"cloid must be a Cloid or str, got {type(cloid).__name__}")


# --------------------------------------------------------------------------- order types and wires


@dataclass(frozen=True, slots=True)
class Trigger:
    """Trigger order type (stop loss / take profit).

    ``trigger_px`` (USD) is the mark price that activates the order; ``is_market`` executes it
    as a market order once triggered (the order's own ``p`` then bounds slippage), otherwise as
    a limit at ``p``; ``tpsl`` is ``"tp"`` or ``"sl"``.

    Raises:
        ValueError: ``trigger_px`` not positive/finite or ``tpsl`` unknown (on construction).
    """

    trigger_px: float | int | Decimal
    is_market: bool
    tpsl: Tpsl

    def __post_init__(self) -> None:
        _check_number("trigger_px", self.trigger_px)
        if not self.trigger_px > 0:
            raise ValueError(f"trigger_px must be positive, got {self.trigger_px!r}")
        if not isinstance(self.is_market, bool):
            raise TypeError("is_market must be a bool")
        if self.tpsl not in ("tp", "sl"):
            raise ValueError(f"tpsl must be 'tp' or 'sl', got {self.tpsl!r}")

    def to_wire(self) -> dict[str, Any]:
        """``{"trigger": {"isMarket": bool, "triggerPx": str, "tpsl": "tp"|"sl"}}`` in that key order."""
        return {
            "trigger": {
                "isMarket": self.is_market,
                "triggerPx": float_to_wire(self.trigger_px),
                "tpsl": self.tpsl,
            }
        }


OrderType: TypeAlias = Tif | Trigger
"""An order's type: a :data:`Tif` for a limit order, or a :class:`Trigger`."""


def _check_asset(asset: object) -> int:
    if isinstance(asset, bool) or not isinstance(asset, int):
        raise TypeError(f"asset must be an int, got {type(asset).__name__}")
    if asset < 0:
        raise ValueError(f"asset must not be negative, got {asset}")
    return asset


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def order_wire(
    asset: int,
    is_buy: bool,
    px: float | int | Decimal,
    sz: float | int | Decimal,
    reduce_only: bool,
    tif: OrderType = "Gtc",
    cloid: Cloid | str | None = None,
) -> dict[str, Any]:
    """One order as it goes inside an ``order`` action.

    Returns ``{"a": asset, "b": is_buy, "p": px, "s": sz, "r": reduce_only, "t": type}`` with
    ``"c": cloid`` appended when given, keys in exactly that order; ``p``/``s`` are spelled by
    :func:`float_to_wire`; ``t`` is ``{"limit": {"tif": tif}}`` or, for a :class:`Trigger`,
    ``{"trigger": {"isMarket", "triggerPx", "tpsl"}}``.

    Prices and sizes are not re-rounded here: pass values from :func:`round_price` and
    :func:`round_size`/:func:`floor_size` (the exchange rejects off-tick values).

    Args:
        asset: asset id (perps: index in ``meta.universe``; spot: ``10000 + index``).
        is_buy: ``True`` to buy.
        px: limit price, USD, positive.
        sz: size, base units, positive.
        reduce_only: only reduce an existing position.
        tif: ``"Gtc"``, ``"Alo"`` (post-only), ``"Ioc"``, or a :class:`Trigger`.
        cloid: optional client order id.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: non-positive ``px``/``sz``, too many decimals (see :func:`float_to_wire`),
            unknown ``tif`` or malformed ``cloid``.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/exchange-endpoint
    """
    _check_asset(asset)
    _check_bool("is_buy", is_buy)
    _check_bool("reduce_only", reduce_only)
    _check_number("px", px)
    _check_number("sz", sz)
    if not px > 0:
        raise ValueError(f"px must be positive, got {px!r}")
    if not sz > 0:
        raise ValueError(f"sz must be positive, got {sz!r}")
    if isinstance(tif, Trigger):
        order_type = tif.to_wire()
    elif isinstance(tif, str) and tif in TIFS:
        order_type = {"limit": {"tif": tif}}
    else:
        raise ValueError(f"tif must be one of {sorted(TIFS)} or a Trigger, got {tif!r}")
    wire: dict[str, Any] = {
        "a": asset,
        "b": is_buy,
        "p": float_to_wire(px),
        "s": float_to_wire(sz),
        "r": reduce_only,
        "t": order_type,
    }
    if cloid is not None:
        wire["c"] = _cloid_raw(cloid)
    return wire


def order_action(orders: Sequence[Mapping[str, Any]], grouping: Grouping = "na") -> dict[str, Any]:
    """``{"type": "order", "orders": [...], "grouping": grouping}`` for a batch of order wires.

    Each order must have the keys of :func:`order_wire` in its order (checked, since a
    reordered dict would hash differently from what the exchange reconstructs).

    Raises:
        ValueError: empty batch, unknown ``grouping``, or an order with wrong keys/key order.
    """
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {sorted(GROUPINGS)}, got {grouping!r}")
    batch = [dict(order) for order in orders]
    if not batch:
        raise ValueError("an order action needs at least one order")
    for index, order in enumerate(batch):
        keys = tuple(order)
        if keys != ORDER_WIRE_KEYS and keys != (*ORDER_WIRE_KEYS, "c"):
            raise ValueError(f"order {index} has keys {keys}; expected a, b, p, s, r, t[, c] in that order")
    return {"type": "order", "orders": batch, "grouping": grouping}


def cancel_action(cancels: Iterable[tuple[int, int]]) -> dict[str, Any]:
    """``{"type": "cancel", "cancels": [{"a": asset, "o": oid}, ...]}`` from ``(asset, oid)`` pairs.

    Raises:
        TypeError: a non-int asset or oid.
        ValueError: empty input, or a negative asset or oid.
    """
    entries: list[dict[str, int]] = []
    for asset, oid in cancels:
        _check_asset(asset)
        if isinstance(oid, bool) or not isinstance(oid, int):
            raise TypeError(f"oid must be an int, got {type(oid).__name__}")
        if oid < 0:
            raise ValueError(f"oid must not be negative, got {oid}")
        entries.append({"a": asset, "o": oid})
    if not entries:
        raise ValueError("a cancel action needs at least one order")
    return {"type": "cancel", "cancels": entries}


def cancel_by_cloid_action(cancels: Iterable[tuple[int, Cloid | str]]) -> dict[str, Any]:
    """``{"type": "cancelByCloid", "cancels": [{"asset": asset, "cloid": "0x…"}, ...]}``.

    Raises:
        TypeError: a non-int asset or a cloid that is neither :class:`Cloid` nor ``str``.
        ValueError: empty input, negative asset, malformed cloid.
    """
    entries: list[dict[str, Any]] = []
    for asset, cloid in cancels:
        entries.append({"asset": _check_asset(asset), "cloid": _cloid_raw(cloid)})
    if not entries:
        raise ValueError("a cancelByCloid action needs at least one order")
    return {"type": "cancelByCloid", "cancels": entries}


def update_leverage_action(asset: int, is_cross: bool, leverage: int) -> dict[str, Any]:
    """``{"type": "updateLeverage", "asset": asset, "isCross": is_cross, "leverage": leverage}``.

    ``leverage`` is an integer multiple (e.g. ``10`` for 10×); the exchange caps it at the
    asset's ``maxLeverage``.

    Raises:
        TypeError: wrong types. ValueError: negative asset or ``leverage < 1``.
    """
    _check_asset(asset)
    _check_bool("is_cross", is_cross)
    if isinstance(leverage, bool) or not isinstance(leverage, int):
        raise TypeError(f"leverage must be an int, got {type(leverage).__name__}")
    if leverage < 1:
        raise ValueError(f"leverage must be at least 1, got {leverage}")
    return {"type": "updateLeverage", "asset": asset, "isCross": is_cross, "leverage": leverage}


def schedule_cancel_action(time_ms: int | None) -> dict[str, Any]:
    """Dead man's switch: ``{"type": "scheduleCancel", "time": time_ms}``, or without ``time`` to unset.

    At ``time_ms`` (ms since the epoch) every open order is cancelled. The exchange requires it
    to be at least 5 s in the future and allows at most 10 triggers per day (reset 00:00 UTC).

    Raises:
        TypeError: ``time_ms`` not an int. ValueError: ``time_ms`` negative.
    """
    if time_ms is None:
        return {"type": "scheduleCancel"}
    if isinstance(time_ms, bool) or not isinstance(time_ms, int):
        raise TypeError(f"time_ms must be an int, got {type(time_ms).__name__}")
    if time_ms < 0:
        raise ValueError(f"time_ms must not be negative, got {time_ms}")
    return {"type": "scheduleCancel", "time": time_ms}
