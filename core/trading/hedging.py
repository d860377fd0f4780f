"""Trading action planning: delta, hedges and rebalancing (pure; produces intents, sends nothing).

Every order here is Hyperliquid-shaped (``docs/venues.md``): no market orders, so hedges are
aggressive IOC limits at mid ± slippage (:func:`~pfterm.core.venues.hyperliquid.orders.market_price`).
Delta and rebalancing follow ``docs/domain.md`` §3. The kill switch's plan is
:func:`pfterm.core.trading.kill.plan_kill`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pfterm.core.market.models import MarketInfo, OrderIntent, Position, SpotBalance
from pfterm.core.trading.hyperliquid import HL_TAKER_FEE
from pfterm.core.trading.settings import DeskOptions
from pfterm.core.venues.hyperliquid.orders import Cloid, market_price, round_size

__all__ = [
    "DEFAULT_REBALANCE_THRESHOLD",
    "MIN_ORDER_USD",
    "REBALANCE_LADDER",
    "HedgePreview",
    "RebalancePlan",
    "Skipped",
    "asset_delta",
    "delta_ratio",
    "gross_long_value",
    "plan_hedge",
    "plan_rebalance",
]

MIN_ORDER_USD = 10.0
"""Hyperliquid minimum order value, USD (``docs/domain.md`` §3): smaller hedges are not sent."""


REBALANCE_LADDER = (0.005, 0.02, 0.05)
"""Seed 001 ladder of delta ratios (``docs/domain.md`` §3): 0.5 % add margin to the short leg,
2 % resize both legs, 5 % close and re-enter."""

DEFAULT_REBALANCE_THRESHOLD: float = DeskOptions.model_fields["rebalance_threshold"].default
"""Delta ratio above which :func:`plan_rebalance` hedges: the config's ``trading.rebalance_threshold``
default (seed 000's 5 %)."""

CloidFactory = Callable[[], str]


def _new_cloid() -> str:
    return Cloid.new().raw


def _usable_price(px: float | None) -> bool:
    return px is not None and math.isfinite(px) and px > 0


@dataclass(slots=True, frozen=True)
class Skipped:
    """Something a plan could not act on: ``symbol`` and a one-line ``reason``."""

    symbol: str
    reason: str


def _spot_qty(coin: str, spot_balances: Iterable[SpotBalance], external_spot: Mapping[str, float]) -> float:
    return sum(b.total for b in spot_balances if b.coin == coin) + external_spot.get(coin, 0.0)


def _perp_qty(coin: str, positions: Iterable[Position]) -> float:
    return sum(p.size for p in positions if p.symbol == coin)


def _price(coin: str, mids: Mapping[str, float]) -> float:
    px = mids.get(coin)
    if not _usable_price(px):
        raise ValueError(f"no mid price for {coin}")
    assert px is not None
    return px


def asset_delta(
    coin: str,
    positions: Iterable[Position],
    spot_balances: Iterable[SpotBalance],
    external_spot: Mapping[str, float],
    mids: Mapping[str, float],
) -> float:
    """Delta of one asset, USD: ``(Σ spot + external spot + Σ signed perp size) × mid``.

    ``docs/domain.md`` §3 (seed 000). Spot balances are matched on ``coin`` exactly (the caller maps
    venue spot names such as ``UBTC`` to the perp symbol); ``external_spot`` is cold-wallet
    holdings declared in config, base units by coin.

    Raises:
        ValueError: no usable mid for ``coin`` while it has a non-zero quantity.
    """
    positions = list(positions)
    qty = _spot_qty(coin, spot_balances, external_spot) + _perp_qty(coin, positions)
    if qty == 0:
        return 0.0
    return qty * _price(coin, mids)


def gross_long_value(
    coin: str,
    positions: Iterable[Position],
    spot_balances: Iterable[SpotBalance],
    external_spot: Mapping[str, float],
    mids: Mapping[str, float],
) -> float:
    """Value of the long legs of one asset, USD: ``(Σ positive spot + Σ long perp) × mid``.

    Raises:
        ValueError: no usable mid for ``coin`` while it has a long leg.
    """
    spot = [b.total for b in spot_balances if b.coin == coin] + [external_spot.get(coin, 0.0)]
    perp = [p.size for p in positions if p.symbol == coin]
    qty = sum(q for q in spot + perp if q > 0)
    if qty == 0:
        return 0.0
    return qty * _price(coin, mids)


def delta_ratio(delta_usd: float, gross_long_usd: float) -> float:
    """``|delta| / gross long value`` (``docs/domain.md`` §3); ``inf`` for a delta with no long leg."""
    if gross_long_usd <= 0:
        return 0.0 if delta_usd == 0 else math.inf
    return abs(delta_usd) / gross_long_usd


@dataclass(slots=True, frozen=True)
class HedgePreview:
    """A hedge order and its expected effect.

    * ``intent``: IOC at mid ± slippage; reduce-only when it only shrinks the current perp position;
    * ``size``: base units, on the size step; ``est_px``: expected fill, USD (mid);
    * ``est_fee_usd``: ``size × est_px × taker_fee``;
    * ``delta_before_usd`` / ``delta_after_usd``: the asset's delta, USD, before and after a fill at mid.
    """

    intent: OrderIntent
    size: float
    est_px: float
    est_fee_usd: float
    delta_before_usd: float
    delta_after_usd: float


def plan_hedge(
    coin: str,
    positions: Sequence[Position],
    spot_balances: Sequence[SpotBalance],
    external_spot: Mapping[str, float],
    *,
    market: MarketInfo,
    mid: float,
    slippage: float = 0.05,
    min_order_usd: float = MIN_ORDER_USD,
    taker_fee: float = HL_TAKER_FEE,
    new_cloid: CloidFactory = _new_cloid,
) -> HedgePreview | None:
    """The perp order that brings ``coin``'s delta to neutral, or ``None`` if none is worth sending.

    Size ``|delta| / mid`` rounded to ``market.sz_decimals`` (nearest, so the residual delta is at
    most half a step × mid); sell when delta > 0. ``None`` when the rounded size is zero or its
    value ``size × mid`` is below ``min_order_usd`` (``docs/domain.md`` §3: Hyperliquid $10 minimum).
    ``est_fee_usd`` uses ``taker_fee`` (fraction; default Hyperliquid base tier 0.045 %).

    Raises:
        ValueError: ``mid`` not positive, or no valid limit price exists (see ``market_price``).
    """
    if not _usable_price(mid):
        raise ValueError(f"mid must be positive, got {mid!r}")
    delta = asset_delta(coin, positions, spot_balances, external_spot, {coin: mid})
    size = round_size(abs(delta) / mid, market.sz_decimals)
    if size <= 0 or size * mid < min_order_usd:
        return None
    is_buy = delta < 0
    perp = _perp_qty(coin, positions)
    reduce_only = perp != 0 and (perp < 0) == is_buy and size <= abs(perp)
    intent = OrderIntent(
        symbol=market.symbol,
        asset_id=market.asset_id,
        is_buy=is_buy,
        size=size,
        limit_px=market_price(mid, is_buy, slippage, sz_decimals=market.sz_decimals),
        tif="Ioc",
        reduce_only=reduce_only,
        cloid=new_cloid(),
        purpose="hedge",
    )
    signed = size if is_buy else -size
    return HedgePreview(
        intent=intent,
        size=size,
        est_px=mid,
        est_fee_usd=size * mid * taker_fee,
        delta_before_usd=delta,
        delta_after_usd=delta + signed * mid,
    )


@dataclass(slots=True)
class RebalancePlan:
    """One batch of hedges (``hedges``) and the assets over threshold left alone (``skipped``)."""

    hedges: list[HedgePreview] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def orders(self) -> list[OrderIntent]:
        """The hedge intents, for one ``order`` batch."""
        return [h.intent for h in self.hedges]


def plan_rebalance(
    positions: Sequence[Position],
    spot_balances: Sequence[SpotBalance],
    external_spot: Mapping[str, float],
    mids: Mapping[str, float],
    markets: Mapping[str, MarketInfo],
    *,
    threshold: float = DEFAULT_REBALANCE_THRESHOLD,
    slippage: float = 0.05,
    min_order_usd: float = MIN_ORDER_USD,
    taker_fee: float = HL_TAKER_FEE,
    new_cloid: CloidFactory = _new_cloid,
) -> RebalancePlan:
    """Hedges for every asset whose delta ratio exceeds ``threshold`` (``docs/domain.md`` §3).

    Assets are every coin with a perp position, a spot balance or declared external spot, in
    sorted order. Delta ratio is ``|delta| / gross long value``; ``threshold`` is a fraction
    (default 5 %, seed 000; see :data:`REBALANCE_LADDER` for seed 001's 0.5 % / 2 % / 5 %).
    Each hedge is :func:`plan_hedge`; an asset over threshold without a market, a mid, a valid
    price, or a hedge worth the minimum order value goes to ``skipped`` with the reason.
    Assets without a mid are always reported, since their ratio cannot be computed.
    """
    coins = sorted(
        {p.symbol for p in positions if p.size != 0}
        | {b.coin for b in spot_balances if b.total != 0}
        | {c for c, q in external_spot.items() if q != 0}
    )
    plan = RebalancePlan()
    for coin in coins:
        mid = mids.get(coin)
        if not _usable_price(mid):
            plan.skipped.append(Skipped(coin, f"no mid price for {coin}"))
            continue
        assert mid is not None
        prices = {coin: mid}
        delta = asset_delta(coin, positions, spot_balances, external_spot, prices)
        ratio = delta_ratio(delta, gross_long_value(coin, positions, spot_balances, external_spot, prices))
        if ratio <= threshold:
            continue
        market = markets.get(coin)
        if market is None:
            plan.skipped.append(Skipped(coin, f"{coin} delta ratio {ratio:.2%} but no perp market to hedge on"))
            continue
        try:
            hedge = plan_hedge(
                coin,
                positions,
                spot_balances,
                external_spot,
                market=market,
                mid=mid,
                slippage=slippage,
                min_order_usd=min_order_usd,
                taker_fee=taker_fee,
                new_cloid=new_cloid,
            )
        except ValueError as exc:
            plan.skipped.append(Skipped(coin, f"{coin} hedge cannot be priced: {exc}"))
            continue
        if hedge is None:
            plan.skipped.append(
                Skipped(
                    coin, f"{coin} delta ${delta:,.2f} over threshold but hedge below ${min_order_usd:,.0f} minimum"
                )
            )
            continue
        plan.hedges.append(hedge)
    return plan
