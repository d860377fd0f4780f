"""The exchange-client protocol: what a trading venue must offer pfterm's one order path.

Every trading venue (Hyperliquid, Binance USDⓈ-M, the next one) is reached through an
:class:`ExchangeClient`. The :class:`~pfterm.core.trading.orders.OrderManager` above it owns the
journal, the answers, lost-answer recovery and the kill loop; the client only speaks the wire.
A venue contract suite (``tests/contract/``) runs the same tests on every client against the
embedded simulator.

Shapes and units (the same for every venue):

* symbols are pfterm's: a perp by its Hyperliquid name (``"BTC"``, ``"kPEPE"``), a
  Hyperliquid spot pair by its venue name (``"@142"``, ``"PURR/USDC"``); a client maps them to
  its own (``"BTCUSDT"``, ``"1000PEPEUSDT"``) and converts sizes and prices to the joined unit;
* prices and money in USD (USDC or USDT 1:1), sizes in base units (positive; the side says the
  direction; positions are signed, negative = short), timestamps ms UTC;
* every request that fails raises :class:`~pfterm.core.venues.errors.VenueError` with a one-line
  message: ``outcome_unknown`` when a state-changing request may have reached the venue,
  ``retry_after_s`` when the venue asked to wait (HTTP 429), ``retryable`` as the venue's answer
  suggests. Invalid arguments raise ``ValueError`` before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeGuard, runtime_checkable

from pfterm.core.market.models import OpenOrder, OrderIntent, Position, SpotBalance
from pfterm.core.trading.journal import AccountRef
from pfterm.core.venues.records import Fill, FundingPayment

__all__ = [
    "AccountSnapshot",
    "CancelAnswer",
    "Capabilities",
    "ExchangeClient",
    "Instrument",
    "PlaceAnswer",
    "PriceRules",
    "VenueAccount",
]


class PriceRules(Protocol):
    """A market's tick and lot rules (Hyperliquid: significant figures and ``szDecimals``;
    Binance: ``PRICE_FILTER`` and ``LOT_SIZE``). Prices USD, sizes base units."""

    def floor_size(self, size: float) -> float:
        """``size`` truncated to the lot (never larger); ``0.0`` when below one lot."""
        ...

    def round_size(self, size: float) -> float:
        """``size`` rounded to the nearest lot (a reduce-only close of a venue size)."""
        ...

    def round_price(self, px: float) -> float:
        """The valid price nearest ``px``. Raises ``ValueError`` for a non-positive price."""
        ...

    def aggressive_price(self, ref_px: float, is_buy: bool, slippage: float) -> float:
        """A valid limit ``ref_px × (1 ± slippage)`` rounded away from ``ref_px`` (an IOC that
        stands in for a market order). Raises ``ValueError`` for a non-positive ``ref_px``."""
        ...

    def tick(self, px: float) -> float:
        """The price increment around ``px``, USD."""
        ...


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradeable market of a venue.

    * ``symbol``: pfterm's name (see the module docstring); ``native``: the venue's;
    * ``kind``: ``"perp"`` or ``"spot"``; ``base``: the asset whose delta it carries (a spot
      pair's token mapped to its perp symbol, ``UBTC`` → ``"BTC"``);
    * ``asset_id``: the venue's numeric id where orders need one (Hyperliquid: perp index,
      spot 10000 + index), else 0;
    * ``rules``: tick and lot (:class:`PriceRules`); ``min_notional_usd``: the smallest opening
      order value; ``max_leverage``: the venue's cap for the market.
    """

    symbol: str
    native: str
    kind: Literal["perp", "spot"]
    base: str
    asset_id: int
    rules: PriceRules
    min_notional_usd: float
    max_leverage: int = 1


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a venue can do, which the order manager plans around.

    * ``batch_max``: orders (or cancels) per request; a longer batch is split;
    * ``native_cancel_all``: the venue cancels every open order of a market in one request
      (Binance ``allOpenOrders``); without it the kill switch lists orders and cancels them;
    * ``dead_man_switch``: ``"schedule"`` (cancel everything at a venue time: Hyperliquid
      ``scheduleCancel``), ``"countdown"`` (per market, re-armed: Binance
      ``countdownCancelAll``) or ``None``;
    * ``query_by_cloid``: the venue answers "what became of the order with this client id"
      (Binance ``GET /fapi/v1/order?origClientOrderId``); without it a lost answer is settled
      from the open orders and the fills;
    * ``spot``: the account also holds spot balances (a carry's long leg).
    """

    batch_max: int
    native_cancel_all: bool
    dead_man_switch: Literal["schedule", "countdown"] | None
    query_by_cloid: bool
    spot: bool


@dataclass(frozen=True, slots=True)
class VenueAccount:
    """The venue's view of the account's margin and positions.

    * ``equity_usd``: perp margin account value (Hyperliquid ``accountValue``, Binance margin
      balance = wallet + unrealised P&L);
    * ``positions``: non-zero perp positions (pfterm symbols, signed base units);
    * ``notional_usd``: gross open notional; ``margin_used_usd``; ``maintenance_usd`` (``None``
      when not reported);
    * ``time_ms``: the venue's time of the reading when it gives one;
    * ``spot``: non-cash spot balances by perp symbol (``UBTC`` counted as ``BTC``);
      ``spot_cash_usd``: spot stablecoins (``None`` when the venue has no spot account);
    * ``available_usd``: margin free for new positions (Hyperliquid ``withdrawable``, Binance
      ``availableBalance``), ``None`` when not reported.
    """

    equity_usd: float
    positions: tuple[Position, ...]
    notional_usd: float
    margin_used_usd: float
    maintenance_usd: float | None
    time_ms: int | None
    spot: tuple[SpotBalance, ...] = ()
    spot_cash_usd: float | None = None
    available_usd: float | None = None


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """One reading of an account: :class:`VenueAccount` plus its open orders and when it was
    read (``read_ms``, wall ms)."""

    account: VenueAccount
    orders: tuple[OpenOrder, ...]
    read_ms: int

    @property
    def flat(self) -> bool:
        """No position and no open order."""
        return not self.orders and not any(p.size != 0 for p in self.account.positions)


@dataclass(frozen=True, slots=True)
class PlaceAnswer:
    """The venue's verdict on one order, in the batch's order.

    ``status`` ``"resting"`` (on the book), ``"filled"`` (filled at once, wholly or partly:
    ``filled_sz`` base units at ``avg_px`` USD), ``"cancelled"`` (nothing filled and no longer
    working: an IOC that found no liquidity, a post-only that would cross) or ``"error"``
    (refused; ``error`` holds the venue's one-line reason); ``oid`` the venue's order id.
    """

    cloid: str
    status: Literal["resting", "filled", "cancelled", "error"]
    oid: int | None = None
    filled_sz: float = 0.0
    avg_px: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    """The venue's verdict on one cancel: ``status`` ``"cancelled"`` or ``"error"`` (``error``:
    the venue's reason, e.g. already filled); the order by ``oid`` and ``cloid``."""

    oid: int | None
    cloid: str | None
    status: Literal["cancelled", "error"]
    error: str | None = None


@runtime_checkable
class ExchangeClient(Protocol):
    """A signed client of one account on one venue (see the module docstring for units).

    Attributes:
        venue: the venue's name (``"hyperliquid"``, ``"binance"``), the journal's ``venue``.
        ref: the account (:class:`~pfterm.core.trading.journal.AccountRef`: venue, network, account).
        capabilities: :class:`Capabilities`.
        base_url: where requests go (for messages; never carries a secret).
    """

    venue: str
    ref: AccountRef
    capabilities: Capabilities
    base_url: str

    async def load_instruments(self) -> Mapping[str, Instrument]:
        """Read the venue's markets (perps, and spot pairs where it has them) by pfterm symbol.

        Raises:
            VenueError: the venue could not be read.
        """
        ...

    def instrument(self, symbol: str) -> Instrument | None:
        """The market named ``symbol`` from the last :meth:`load_instruments`, or ``None``."""
        ...

    async def account(self) -> VenueAccount:
        """Margin, positions (and spot balances where the venue has them).

        Raises:
            VenueError: on any failure.
        """
        ...

    async def open_orders(self) -> list[OpenOrder]:
        """Every working order of the account (pfterm symbols, ``cloid`` when the order has one).

        Raises:
            VenueError: on any failure.
        """
        ...

    async def mids(self) -> dict[str, float]:
        """Mid (or mark) price by pfterm symbol, USD, for pricing closes and hedges.

        Raises:
            VenueError: on any failure.
        """
        ...

    async def fills(self, since_ms: int | None) -> list[Fill]:
        """The account's fills from ``since_ms`` (ms UTC, inclusive; ``None``: as far back as the
        venue's default window), oldest first, with ``venue`` set and symbols in pfterm's names.

        Raises:
            VenueError: on any failure.
        """
        ...

    async def funding(self, since_ms: int) -> list[FundingPayment]:
        """Funding payments from ``since_ms`` (ms UTC, inclusive), oldest first; ``usdc``
        positive = received.

        Raises:
            VenueError: on any failure.
        """
        ...

    async def place(self, intents: Sequence[OrderIntent]) -> list[PlaceAnswer]:
        """Send ``intents`` (at most ``capabilities.batch_max``) in one request; one answer each.

        Raises:
            ValueError: an intent is not valid for the venue (nothing sent).
            VenueError: the request as a whole failed (``outcome_unknown`` says whether it may
                have been acted on).
        """
        ...

    async def cancel(self, orders: Sequence[OpenOrder]) -> list[CancelAnswer]:
        """Cancel ``orders`` (at most ``capabilities.batch_max``); one answer each.

        Raises:
            VenueError: the request as a whole failed.
        """
        ...

    async def cancel_all(self, symbols: Sequence[str]) -> None:
        """Cancel every open order of ``symbols`` natively (only with
        ``capabilities.native_cancel_all``).

        Raises:
            NotImplementedError: the venue has no native cancel-all.
            VenueError: on failure.
        """
        ...

    async def query(self, cloid: str, symbol: str) -> PlaceAnswer | None:
        """What became of the order sent with ``cloid``: its answer, or ``None`` when the venue
        has no trace of it (never placed).

        Raises:
            VenueError: on failure.
        """
        ...

    async def arm_dead_man(self, lead_ms: int, symbols: Sequence[str]) -> None:
        """Arm (or re-arm) the dead man's switch: every open order is cancelled ``lead_ms``
        from now unless this is called again (``symbols``: the markets with orders, for a
        per-market countdown). ``lead_ms = 0`` disarms.

        Raises:
            NotImplementedError: no dead man's switch (``capabilities.dead_man_switch`` ``None``).
            VenueError: on failure.
        """
        ...

    async def aclose(self) -> None:
        """Close the client's connections."""
        ...


class SpotAccountClient(ExchangeClient, Protocol):
    """An :class:`ExchangeClient` whose account also holds spot balances (``capabilities.spot``):
    Hyperliquid, whose spot tokens carry a cash-and-carry's long leg."""

    async def account(self, *, spot: bool = True) -> VenueAccount:
        """Margin and positions, with the spot balances too when ``spot`` (one read more).

        Raises:
            VenueError: on any failure.
        """
        ...

    async def spot(self) -> tuple[tuple[SpotBalance, ...], float]:
        """The spot balances alone: non-cash tokens by perp symbol (base units) and the spot
        stablecoins, USD.

        Raises:
            VenueError: on any failure.
        """
        ...


def holds_spot(client: ExchangeClient) -> TypeGuard[SpotAccountClient]:
    """Whether ``client``'s account holds spot balances (``capabilities.spot``): then it reads them
    as a :class:`SpotAccountClient` does."""
    return client.capabilities.spot
