"""Hyperliquid (and the embedded simulator) as an :class:`~pfterm.core.trading.venue.ExchangeClient`.

A thin adapter over :class:`~pfterm.core.venues.hyperliquid.exchange.HyperliquidExchange` (signed
``POST /exchange``) and its :class:`~pfterm.core.venues.hyperliquid.rest.HyperliquidInfo` (``POST
/info``), in pfterm's shapes (``docs/venues.md`` Hyperliquid):

* instruments: ``meta`` (perps, asset id = index) and ``spotMeta`` (spot pairs, asset id =
  10000 + index, named ``"@142"`` or ``"PURR/USDC"``); tick and lot from ``szDecimals``
  (≤ 5 significant figures, ≤ 6 − szDecimals decimals, 8 − szDecimals for spot);
* no market orders (an IOC at mid ± slippage stands in), no cancel-all (orders are listed and
  cancelled in one batch), batches of any size (weight ``1 + n // 40``);
* dead man's switch: ``scheduleCancel`` at a venue time (≥ 5 s ahead, 10 triggers a day);
* a lost answer is settled from ``frontendOpenOrders`` (still working) and ``userFills`` (by
  cloid); no trace of it means it is not working and nothing of it filled.

Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/exchange-endpoint
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from pfterm.core.market.models import MarketInfo, OpenOrder, OrderIntent, SpotBalance
from pfterm.core.trading.journal import AccountRef
from pfterm.core.trading.settings import SPOT_ALIASES
from pfterm.core.trading.venue import CancelAnswer, Capabilities, Instrument, PlaceAnswer, VenueAccount
from pfterm.core.venues.hyperliquid.exchange import HyperliquidExchange
from pfterm.core.venues.hyperliquid.orders import floor_size, market_price, price_tick, round_price, round_size
from pfterm.core.venues.records import Fill, FundingPayment

__all__ = [
    "HL_MAKER_FEE",
    "HL_MIN_ORDER_USD",
    "HL_TAKER_FEE",
    "SPOT_ALIASES",
    "STABLECOINS",
    "HyperliquidClient",
    "HyperliquidRules",
]

HL_MIN_ORDER_USD = 10.0
"""Hyperliquid's minimum order value, USD (``docs/domain.md`` §3)."""

HL_MAKER_FEE = 0.00015
"""Hyperliquid base-tier perp maker fee, a fraction (0.015 %,
https://hyperliquid.gitbook.io/hyperliquid-docs/trading/fees)."""

HL_TAKER_FEE = 0.00045
"""Hyperliquid base-tier perp taker fee, a fraction (0.045 %,
https://hyperliquid.gitbook.io/hyperliquid-docs/trading/fees)."""

STABLECOINS = frozenset({"USDC", "USDT", "USDT0", "USDE", "USDH", "USDHL"})
"""Spot tokens that are cash, not an asset with delta."""

BATCH_MAX = 200
"""Orders per ``order`` action: the venue takes any batch (weight ``1 + n // 40``); 200 keeps one
request's body and signing time small."""


@dataclass(frozen=True, slots=True)
class HyperliquidRules:
    """Hyperliquid's tick and lot rules for one market: ``sz_decimals`` and spot or perp
    (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/tick-and-lot-size)."""

    sz_decimals: int
    is_spot: bool = False

    def floor_size(self, size: float) -> float:
        """``size`` truncated to ``sz_decimals`` (base units)."""
        return floor_size(max(size, 0.0), self.sz_decimals) if size > 0 else 0.0

    def round_size(self, size: float) -> float:
        """``size`` rounded to ``sz_decimals``, ties away from zero (base units)."""
        return round_size(max(size, 0.0), self.sz_decimals) if size > 0 else 0.0

    def round_price(self, px: float) -> float:
        """The valid price nearest ``px`` (USD). Raises ``ValueError`` when ``px`` ≤ 0."""
        return round_price(px, self.sz_decimals, is_spot=self.is_spot)

    def aggressive_price(self, ref_px: float, is_buy: bool, slippage: float) -> float:
        """``ref_px × (1 ± slippage)`` rounded away from ``ref_px`` (USD)."""
        return market_price(ref_px, is_buy, slippage, sz_decimals=self.sz_decimals, is_spot=self.is_spot)

    def tick(self, px: float) -> float:
        """The price increment at ``px`` (USD)."""
        return price_tick(px, self.sz_decimals, is_spot=self.is_spot)


class HyperliquidClient:
    """One Hyperliquid account (the real venue or the simulator) behind the exchange-client
    protocol.

    Args:
        exchange: the signed client; its ``info`` client reads market data.
        ref: the account's journal key (venue ``"hyperliquid"``).
        venue_now_ms: the venue's clock (ms UTC) for the dead man's switch (a simulator may run
            faster than the wall clock); the wall clock by default.
        spot_aliases: spot token → perp symbol (``UBTC`` → ``BTC``) for delta and carries.
        markets: perp metadata already known (the console's market feed), so that the first
            orders need no ``meta`` read; :meth:`load_instruments` reads it anyway.
    """

    venue = "hyperliquid"
    capabilities = Capabilities(
        batch_max=BATCH_MAX, native_cancel_all=False, dead_man_switch="schedule", query_by_cloid=False, spot=True
    )

    def __init__(
        self,
        exchange: HyperliquidExchange,
        ref: AccountRef,
        *,
        venue_now_ms: Callable[[], int] | None = None,
        spot_aliases: Mapping[str, str] | None = None,
        markets: Mapping[str, MarketInfo] | None = None,
    ) -> None:
        self.exchange = exchange
        self.info = exchange.info
        self.ref = ref
        self.base_url = exchange.base_url
        self.spot_aliases = dict(SPOT_ALIASES if spot_aliases is None else spot_aliases)
        self._venue_now_ms = venue_now_ms or (lambda: int(time.time() * 1000))
        self._instruments: dict[str, Instrument] = {}
        self._wire_markets: dict[str, MarketInfo] = {}
        if markets:
            self._add_perps(markets.values())

    # ------------------------------------------------------------------ instruments
    def _add_perps(self, markets: Iterable[MarketInfo]) -> None:
        for m in markets:
            if m.delisted:
                continue
            self._wire_markets[m.symbol] = m
            self._instruments[m.symbol] = Instrument(
                symbol=m.symbol,
                native=m.symbol,
                kind="perp",
                base=m.symbol,
                asset_id=m.asset_id,
                rules=HyperliquidRules(m.sz_decimals),
                min_notional_usd=HL_MIN_ORDER_USD,
                max_leverage=m.max_leverage,
            )

    async def load_instruments(self) -> Mapping[str, Instrument]:
        """Perps from ``meta`` and spot pairs (USDC-quoted) from ``spotMeta``, read concurrently.

        Raises:
            VenueError: ``meta`` could not be read (a ``spotMeta`` failure only leaves spot out).
        """
        metas, pairs = await asyncio.gather(self.info.meta(), self.exchange.spot_meta(), return_exceptions=True)
        if isinstance(metas, BaseException):
            raise metas
        self._add_perps(metas)
        if not isinstance(pairs, BaseException):
            for p in pairs:
                if p.quote != "USDC":
                    continue
                base = self.spot_aliases.get(p.base, p.base)
                self._wire_markets[p.name] = MarketInfo("hyperliquid", p.name, p.asset_id, p.sz_decimals, 1)
                self._instruments[p.name] = Instrument(
                    symbol=p.name,
                    native=p.name,
                    kind="spot",
                    base=base,
                    asset_id=p.asset_id,
                    rules=HyperliquidRules(p.sz_decimals, is_spot=True),
                    min_notional_usd=HL_MIN_ORDER_USD,
                )
        return dict(self._instruments)

    def instrument(self, symbol: str) -> Instrument | None:
        """The market named ``symbol`` (perp ``"BTC"``, spot pair ``"@142"``), or ``None``."""
        return self._instruments.get(symbol)

    def spot_pair_of(self, base: str) -> Instrument | None:
        """The USDC spot pair whose token stands for perp ``base`` (``"BTC"`` → ``UBTC/USDC``)."""
        return next((i for i in self._instruments.values() if i.kind == "spot" and i.base == base), None)

    # ------------------------------------------------------------------ reads
    async def account(self, *, spot: bool = True) -> VenueAccount:
        """``clearinghouseState`` and (``spot``) ``spotClearinghouseState``, concurrently.

        Raises:
            VenueError: either read failed.
        """
        if spot:
            state, (held, cash) = await asyncio.gather(self.exchange.account_state(), self.spot())
        else:
            state, held, cash = await self.exchange.account_state(), (), None
        return VenueAccount(
            equity_usd=state.account_value,
            positions=tuple(p for p in state.positions if p.size != 0),
            notional_usd=state.total_ntl_pos,
            margin_used_usd=state.total_margin_used,
            maintenance_usd=state.cross_maintenance_margin_used,
            time_ms=state.time_ms,
            spot=held,
            spot_cash_usd=cash,
            available_usd=state.withdrawable,
        )

    async def spot(self) -> tuple[tuple[SpotBalance, ...], float]:
        """``spotClearinghouseState`` (weight 2): the non-cash tokens by perp symbol (``UBTC``
        → ``BTC``, zero balances dropped) and the spot USDC, USD.

        Raises:
            VenueError: the read failed.
        """
        balances = await self.exchange.spot_balances()
        cash = sum(b.total for b in balances if b.coin == "USDC")
        held = tuple(
            SpotBalance(self.spot_aliases.get(b.coin, b.coin), b.total)
            for b in balances
            if b.coin not in STABLECOINS and b.total != 0
        )
        return held, cash

    async def open_orders(self) -> list[OpenOrder]:
        """``frontendOpenOrders`` (weight 20). Raises VenueError."""
        return await self.exchange.open_orders()

    async def mids(self) -> dict[str, float]:
        """``allMids`` (weight 2): perps by symbol, spot pairs by pair name. Raises VenueError."""
        return await self.info.all_mids()

    async def fills(self, since_ms: int | None) -> list[Fill]:
        """``userFills`` (the latest 2000) from ``since_ms``, oldest first. Raises VenueError."""
        rows = await self.exchange.user_fills()
        out = [f for f in rows if since_ms is None or f.time_ms >= since_ms]
        out.sort(key=lambda f: (f.time_ms, f.tid))
        return out

    async def funding(self, since_ms: int) -> list[FundingPayment]:
        """``userFunding`` from ``since_ms``, oldest first. Raises VenueError."""
        rows = await self.exchange.user_funding(since_ms)
        return sorted(rows, key=lambda p: (p.time_ms, p.symbol))

    # ------------------------------------------------------------------ orders
    async def place(self, intents: Sequence[OrderIntent]) -> list[PlaceAnswer]:
        """One ``order`` action for ``intents``. Raises ValueError (nothing sent) or VenueError."""
        results = await self.exchange.place(intents, self._wire_markets)
        out = []
        for it, r in zip(intents, results, strict=True):
            if r.status == "filled":
                out.append(PlaceAnswer(it.cloid, "filled", r.oid, r.filled_sz or 0.0, r.avg_px))
            elif r.status == "resting":
                out.append(PlaceAnswer(it.cloid, "resting", r.oid))
            else:
                out.append(PlaceAnswer(it.cloid, "error", r.oid, error=r.error))
        return out

    async def cancel(self, orders: Sequence[OpenOrder]) -> list[CancelAnswer]:
        """One ``cancel`` action by ``(asset, oid)``; an order of an unknown market is answered
        with an error without being sent. Raises VenueError."""
        known = [(o, self._instruments.get(o.symbol)) for o in orders]
        pairs = [(inst.asset_id, o.oid) for o, inst in known if inst is not None]
        results = iter(await self.exchange.cancel(pairs) if pairs else [])
        out = []
        for o, inst in known:
            if inst is None:
                out.append(CancelAnswer(o.oid, o.cloid, "error", f"{o.symbol}: market unknown; cancel it by hand"))
                continue
            r = next(results)
            out.append(CancelAnswer(o.oid, o.cloid, r.status, r.error))
        return out

    async def cancel_all(self, symbols: Sequence[str]) -> None:
        """Hyperliquid has no cancel-all. Raises NotImplementedError."""
        raise NotImplementedError("hyperliquid has no cancel-all: list the open orders and cancel them")

    async def query(self, cloid: str, symbol: str) -> PlaceAnswer | None:
        """The order sent with ``cloid``: resting (in ``frontendOpenOrders``), filled (its
        ``userFills``, size summed, average price) or ``None`` (no trace: not working, nothing
        filled). Raises VenueError."""
        orders, fills = await asyncio.gather(self.exchange.open_orders(), self.exchange.user_fills())
        mine = [f for f in fills if f.cloid == cloid]
        working = next((o for o in orders if o.cloid == cloid), None)
        if mine:
            size = sum(f.sz for f in mine)
            avg = sum(f.sz * f.px for f in mine) / size
            return PlaceAnswer(cloid, "filled", mine[0].oid, size, avg)
        if working is not None:
            return PlaceAnswer(cloid, "resting", working.oid)
        return None

    async def arm_dead_man(self, lead_ms: int, symbols: Sequence[str]) -> None:
        """``scheduleCancel`` at venue time + ``lead_ms`` (``0`` disarms). Raises VenueError."""
        await self.exchange.schedule_cancel(None if lead_ms <= 0 else self._venue_now_ms() + int(lead_ms))

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        await self.exchange.aclose()
