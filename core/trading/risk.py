"""Pre-trade risk checks and margin arithmetic (pure, no I/O).

Every order the console proposes passes :func:`check_order` before it is signed. A refusal
says why in one line. The guiding rule: limits stop *new exposure*; they never stop a close.
An order that only reduces an existing position (a kill-switch close, an auto-reduce) passes
every limit, in every :class:`TradingState`, as long as its price is not absurd on the
aggressive side (:attr:`RiskLimits.close_band`, wider than the kill switch's slippage).

Sources: ``docs/domain.md`` §4 (liquidation, distance guards) and §6 (leverage, per-market and
per-venue shares, daily loss limit).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from pfterm.core.market.models import OrderIntent, Position

__all__ = [
    "Refusal",
    "RefusalCode",
    "RiskLimits",
    "TradingState",
    "check_order",
    "daily_loss_breached",
    "distance_to_liquidation",
    "is_reducing",
    "liquidation_price",
    "margin_ratio",
]


class TradingState(enum.Enum):
    """What the console may send.

    * ``ACTIVE``: anything within :class:`RiskLimits`;
    * ``REDUCING``: only orders that reduce an existing position (reduce-only or not);
    * ``HALTED``: only cancels and reduce-only closes (the kill switch's state).
    """

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class RefusalCode(enum.Enum):
    """Why :func:`check_order` refused an order."""

    INVALID = "invalid"
    HALTED = "halted"
    REDUCING = "reducing"
    NOT_REDUCING = "not reducing"
    NO_PRICE = "no price"
    FAT_FINGER = "fat finger"
    ORDER_NOTIONAL = "order notional"
    POSITION_NOTIONAL = "position notional"
    MARKET_SHARE = "market share"
    LEVERAGE = "leverage"
    VENUE_SHARE = "venue share"
    DAILY_LOSS = "daily loss"


@dataclass(slots=True, frozen=True)
class Refusal:
    """A refused order: ``code`` for programs, ``message`` one line for people."""

    code: RefusalCode
    message: str


class RiskLimits(BaseModel):
    """Pre-trade limits: the risk keys of ``[trading]`` in the config, and the frozen value the
    risk gate (:func:`check_order`) reads. Fractions are plain (``0.03`` = 3 %), amounts USD.

    Each field's meaning and source is its ``description`` (``pfterm config --defaults`` prints
    them): ``docs/domain.md`` §6 for leverage, the market and venue shares and the daily loss limit;
    ``close_band`` is wider than the kill switch's 5 % slippage (``docs/venues.md`` Hyperliquid) plus
    any mid/mark gap, so that a kill close is never refused; the others are console defaults.

    The config's ``[trading]`` section (:class:`pfterm.core.runtime.config.TradingSection`)
    carries these keys flat, beside its other keys; :meth:`of` takes the limits out of it.

    Raises:
        pydantic.ValidationError (a ValueError): a non-positive or non-finite limit, a fraction
            out of its range (``close_band`` and the bands in ``(0, 1)``), or an unknown field.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_leverage: float = Field(
        default=3.0,
        gt=0,
        allow_inf_nan=False,
        description="position notional after an order / account equity, at most (docs/domain.md §6: 3×)",
    )
    max_order_notional_usd: float = Field(
        default=50_000.0, gt=0, allow_inf_nan=False, description="one order's size × mark, USD, at most"
    )
    max_position_notional_usd: float = Field(
        default=250_000.0,
        gt=0,
        allow_inf_nan=False,
        description="one market's position notional after an order, USD, at most",
    )
    max_market_share: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="one market's position notional as a share of capital, at most "
        "(docs/domain.md §6: conservative 0.02, moderate 0.05, aggressive 0.10)",
    )
    fat_finger_band: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="an opening order's limit may be at most this fraction worse than mark "
        "(above for a buy, below for a sell); passive prices far from mark rest and are allowed",
    )
    close_band: float = Field(
        default=0.10,
        gt=0,
        lt=1,
        description="a reducing order's limit may be at most this fraction worse than mark; "
        "wider than kill_slippage, so that a kill close is never refused",
    )
    daily_loss_limit: float = Field(
        default=0.03,
        gt=0,
        lt=1,
        description="share of capital lost since 00:00 UTC that halts opening orders and fires the kill switch "
        "(docs/domain.md §6)",
    )
    max_venue_share: float = Field(
        default=0.30,
        gt=0,
        le=1,
        description="open notional on one venue as a share of capital, at most (docs/domain.md §6)",
    )

    @classmethod
    def of(cls, source: object) -> RiskLimits:
        """The limits carried by ``source``, any object with these attributes (the config's
        ``[trading]`` section), as a frozen value of their own.

        Raises:
            pydantic.ValidationError: a value out of range.
        """
        return cls(**{name: getattr(source, name) for name in cls.model_fields})


def _usd(value: float) -> str:
    return f"${value:,.0f}" if abs(value) >= 100 else f"${value:,.2f}"


def _pct(value: float) -> str:
    return f"{value * 100:.2f}".rstrip("0").rstrip(".") + " %"


def _finite_positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def is_reducing(intent: OrderIntent, position: Position | None) -> bool:
    """Whether ``intent`` can only shrink ``position`` (never open, never flip).

    True when the order is on the opposite side of a non-zero position and either is
    reduce-only (the venue caps it at the position) or its size is at most ``|position.size|``.
    """
    if position is None or position.size == 0 or intent.size <= 0:
        return False
    opposite = intent.is_buy == (position.size < 0)
    if not opposite:
        return False
    return intent.reduce_only or intent.size <= abs(position.size)


def daily_loss_breached(day_pnl_usd: float, capital_usd: float, limits: RiskLimits) -> bool:
    """``day_pnl_usd ≤ −daily_loss_limit × capital_usd`` (USD both); ``docs/domain.md`` §6, seed 002."""
    return day_pnl_usd <= -limits.daily_loss_limit * capital_usd


def check_order(
    intent: OrderIntent,
    *,
    state: TradingState,
    limits: RiskLimits,
    mark_px: float | None,
    position: Position | None,
    equity_usd: float,
    capital_usd: float | None = None,
    venue_notional_usd: float = 0.0,
    day_pnl_usd: float | None = None,
    price_tick_usd: float = 0.0,
) -> Refusal | None:
    """``None`` if ``intent`` may be sent, else the first :class:`Refusal`.

    Args:
        intent: the proposed order (size base units, ``limit_px`` USD).
        state: the console's :class:`TradingState`.
        limits: the :class:`RiskLimits` in force.
        mark_px: the market's mark price, USD (``None`` if unknown).
        position: the current position in ``intent.symbol`` on this venue, if any.
        equity_usd: account equity on this venue, USD (leverage denominator).
        capital_usd: total trading capital across venues, USD, for the market/venue shares and
            the daily loss limit; defaults to ``equity_usd``.
        venue_notional_usd: gross open notional on this venue before the order, USD.
        day_pnl_usd: P&L since 00:00 UTC, USD; ``None`` skips the daily loss check.
        price_tick_usd: the venue's price tick at ``intent.limit_px``, USD. A close rounded to a
            valid price away from mid may land up to one tick beyond the band (coarse on cheap
            coins: Hyperliquid 0.125 at ``szDecimals`` 4 has a 0.01 tick, 8 %), so reducing
            orders get this much extra room. Pass it whenever the market's ticks are known.

    Order of checks: malformed intent; reducing orders (see below); state; price sanity;
    daily loss; order notional; position notional and market share; leverage; venue share.

    Reducing orders (:func:`is_reducing`) skip every exposure limit and the daily loss check,
    in every state (in ``HALTED`` they must also be reduce-only). Their only check is the
    :attr:`RiskLimits.close_band` on the aggressive side, and only when ``mark_px`` is known:
    a close priced by the kill switch at mid ± 5 % slippage always passes, so a kill switch
    close is never blocked by limits.
    """
    symbol = intent.symbol
    if not (math.isfinite(intent.size) and intent.size > 0):
        return Refusal(RefusalCode.INVALID, f"refused: {symbol} order size {intent.size!r} is not positive")
    if not _finite_positive(intent.limit_px):
        return Refusal(RefusalCode.INVALID, f"refused: {symbol} limit price {intent.limit_px!r} is not positive")

    reducing = is_reducing(intent, position)
    if reducing:
        if state is TradingState.HALTED and not intent.reduce_only:
            return Refusal(RefusalCode.HALTED, f"refused: trading halted; {symbol} close must be reduce-only")
        if _finite_positive(mark_px):
            assert mark_px is not None
            beyond = intent.limit_px - mark_px if intent.is_buy else mark_px - intent.limit_px
            worse = beyond / mark_px
            if beyond > limits.close_band * mark_px + max(price_tick_usd, 0.0):
                return Refusal(
                    RefusalCode.FAT_FINGER,
                    f"refused: {symbol} close at {intent.limit_px:g} is {_pct(worse)} worse than mark "
                    f"{mark_px:g} (max {_pct(limits.close_band)})",
                )
        return None

    if intent.reduce_only:
        return Refusal(RefusalCode.NOT_REDUCING, f"refused: {symbol} reduce-only order would not reduce a position")
    if state is TradingState.HALTED:
        return Refusal(RefusalCode.HALTED, f"refused: trading halted; only cancels and reduce-only closes for {symbol}")
    if state is TradingState.REDUCING:
        return Refusal(RefusalCode.REDUCING, f"refused: reducing only; {symbol} order would add exposure")

    if not _finite_positive(mark_px):
        return Refusal(RefusalCode.NO_PRICE, f"refused: no mark price for {symbol}")
    assert mark_px is not None
    # Only the aggressive side is a fat finger: a bid far below mark (or an ask far above)
    # just rests, and traders place them on purpose to catch a cascade's wick.
    deviation = (intent.limit_px - mark_px if intent.is_buy else mark_px - intent.limit_px) / mark_px
    if deviation > limits.fat_finger_band:
        return Refusal(
            RefusalCode.FAT_FINGER,
            f"refused: {symbol} limit {intent.limit_px:g} is {_pct(deviation)} from mark {mark_px:g} "
            f"(max {_pct(limits.fat_finger_band)})",
        )

    capital = equity_usd if capital_usd is None else capital_usd
    if day_pnl_usd is not None and daily_loss_breached(day_pnl_usd, capital, limits):
        return Refusal(
            RefusalCode.DAILY_LOSS,
            f"refused: daily loss {_usd(-day_pnl_usd)} reached the {_pct(limits.daily_loss_limit)} limit "
            f"of capital {_usd(capital)}",
        )

    order_notional = intent.size * mark_px
    if order_notional > limits.max_order_notional_usd:
        return Refusal(
            RefusalCode.ORDER_NOTIONAL,
            f"refused: {symbol} order notional {_usd(order_notional)} exceeds max {_usd(limits.max_order_notional_usd)}",
        )

    current = position.size if position is not None else 0.0
    after = current + (intent.size if intent.is_buy else -intent.size)
    position_notional = abs(after) * mark_px
    if position_notional > limits.max_position_notional_usd:
        return Refusal(
            RefusalCode.POSITION_NOTIONAL,
            f"refused: {symbol} position notional {_usd(position_notional)} would exceed max "
            f"{_usd(limits.max_position_notional_usd)}",
        )
    market_cap = limits.max_market_share * capital
    if position_notional > market_cap:
        return Refusal(
            RefusalCode.MARKET_SHARE,
            f"refused: {symbol} position notional {_usd(position_notional)} would exceed "
            f"{_pct(limits.max_market_share)} of capital ({_usd(market_cap)})",
        )
    if equity_usd <= 0:
        return Refusal(RefusalCode.LEVERAGE, f"refused: no equity to margin the {symbol} order")
    leverage = position_notional / equity_usd
    if leverage > limits.max_leverage:
        return Refusal(
            RefusalCode.LEVERAGE,
            f"refused: {symbol} leverage {leverage:.2f}x would exceed max {limits.max_leverage:g}x",
        )
    added = position_notional - abs(current) * mark_px
    venue_after = venue_notional_usd + max(added, 0.0)
    venue_cap = limits.max_venue_share * capital
    if capital_usd is not None and venue_after > venue_cap:
        return Refusal(
            RefusalCode.VENUE_SHARE,
            f"refused: venue notional {_usd(venue_after)} would exceed {_pct(limits.max_venue_share)} "
            f"of capital ({_usd(venue_cap)})",
        )
    return None


def liquidation_price(entry: float, leverage: float, mmr: float, is_long: bool) -> float:
    """Isolated-margin liquidation price, USD.

    Long ``entry × (1 − 1/L + mmr)``, short ``entry × (1 + 1/L − mmr)``, with ``entry`` USD,
    ``L`` the leverage multiple and ``mmr`` the maintenance margin rate (fraction). Source:
    ``docs/domain.md`` §4 (seeds 003/004). Prefer the venue's own ``liquidationPx`` when reported.
    A long result ≤ 0 means the position cannot be liquidated; it is returned as ``0.0``.

    Raises:
        ValueError: ``entry`` or ``leverage`` not positive, ``mmr`` negative.
    """
    if not (_finite_positive(entry) and _finite_positive(leverage)):
        raise ValueError(f"entry and leverage must be positive, got {entry!r}, {leverage!r}")
    if not (math.isfinite(mmr) and mmr >= 0):
        raise ValueError(f"mmr must be a non-negative fraction, got {mmr!r}")
    if is_long:
        return max(entry * (1 - 1 / leverage + mmr), 0.0)
    return entry * (1 + 1 / leverage - mmr)


def distance_to_liquidation(liq: float, mark: float) -> float:
    """``|liq − mark| / mark``, a fraction (``docs/domain.md`` §4; guard 10 %, auto-reduce 15 %).

    Raises:
        ValueError: ``mark`` not positive.
    """
    if not _finite_positive(mark):
        raise ValueError(f"mark must be positive, got {mark!r}")
    return abs(liq - mark) / mark


def margin_ratio(equity: float, notional: float) -> float:
    """``equity / notional`` (both USD), a fraction (``docs/domain.md`` §4); ``inf`` with no notional."""
    if notional == 0:
        return math.inf
    return equity / abs(notional)
