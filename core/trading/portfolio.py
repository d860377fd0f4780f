"""Snapshots of one trading account for display: positions, open orders, portfolio, activity.

These are immutable values built by :class:`pfterm.core.trading.desk.Desk` from the venue's account
state and the live marks of the market feed; widgets render them and never see the venue.

Units: prices and money USD (USDC), sizes base units (signed for positions: long > 0),
fractions plain (``0.05`` = 5 %), times ms since the epoch (UTC).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from pfterm.core.market.models import OrderIntent
from pfterm.core.trading.hedging import HedgePreview
from pfterm.core.trading.risk import TradingState

__all__ = [
    "ActivityEntry",
    "ActivityLevel",
    "AssetDeltaRow",
    "KillPhase",
    "KillStatus",
    "OrderRow",
    "PortfolioView",
    "PositionRow",
    "RebalanceView",
    "TicketQuote",
    "TicketRequest",
    "TradingView",
    "short_address",
]


def short_address(address: str) -> str:
    """``0x1234…abcd`` for display: an account address is not a secret but is long."""
    return address if len(address) < 12 else f"{address[:6]}…{address[-4:]}"


@dataclass(slots=True, frozen=True)
class PositionRow:
    """One perp position as displayed.

    * ``size``: signed base units; ``entry_px``/``mark_px``/``liquidation_px`` USD
      (``mark_px`` is the feed's live mark when known, else the venue's);
    * ``notional_usd``: ``|size| × mark_px``; ``unrealized_pnl``: ``size × (mark − entry)``, USD;
    * ``funding_since_open``: USD, received positive;
    * ``leverage``: multiple; ``margin_used``: USD;
    * ``liq_distance``: ``|mark − liq| / mark`` (``docs/domain.md`` §4), ``None`` without a liquidation price;
    * ``venue``: ``""`` on the trading venue, else the hedge venue holding it (``"binance"``:
      the other leg of a perp-against-perp position; its funding since open is not tracked, 0).
    """

    symbol: str
    size: float
    entry_px: float
    mark_px: float
    notional_usd: float
    unrealized_pnl: float
    funding_since_open: float
    leverage: float
    liquidation_px: float | None
    liq_distance: float | None
    margin_used: float
    venue: str = ""

    @property
    def side(self) -> str:
        """``"LONG"`` or ``"SHORT"``."""
        return "LONG" if self.size > 0 else "SHORT"


@dataclass(slots=True, frozen=True)
class OrderRow:
    """One resting order: ``limit_px`` USD, ``size`` remaining base units, ``timestamp_ms`` venue time,
    ``distance``: ``(limit − mark) / mark`` signed fraction, ``None`` without a mark."""

    symbol: str
    oid: int
    cloid: str | None
    is_buy: bool
    limit_px: float
    size: float
    reduce_only: bool
    timestamp_ms: int
    distance: float | None


@dataclass(slots=True, frozen=True)
class AssetDeltaRow:
    """Delta of one asset (``docs/domain.md`` §3): ``spot_qty`` (venue spot + declared external) and
    ``perp_qty`` base units, ``delta_usd`` USD at mid, ``ratio`` = ``|delta| / gross long value``
    (``inf`` for a naked short)."""

    coin: str
    spot_qty: float
    perp_qty: float
    delta_usd: float
    ratio: float


@dataclass(slots=True, frozen=True)
class PortfolioView:
    """The account at a glance.

    * ``account``: short master address, ``None`` when read-only without a key;
    * ``network``: ``"sim"``, ``"testnet"`` or ``"mainnet"``;
    * ``read_only``: why trading is off (one line), ``None`` when trading is possible;
    * ``state``: :class:`~pfterm.core.trading.risk.TradingState`, shared by every pfterm process trading the
      account; ``state_reason``: why and by whom it is not ACTIVE (``None`` when ACTIVE);
    * ``equity_usd``: perp account value; ``spot_usdc``: spot USDC balance;
    * ``margin_used_usd``; ``maintenance_margin_usd``; ``margin_ratio``: equity / total notional
      (``docs/domain.md`` §4; lower is riskier), ``None`` without positions; ``leverage``: total
      notional / equity;
    * ``deltas``: per asset; ``total_delta_usd``: their sum;
    * ``funding_today_usd``: funding received since 00:00 UTC (journal), USD;
    * ``pnl_today_usd``: equity now − equity at the first sight of the day, ``None`` before it;
    * ``updated_ms``: when the venue state was read; ``error``: last account refresh failure;
    * ``starting``: the venue is not up yet (the console shows STARTING, not a trading state).
    """

    account: str | None
    network: str
    read_only: str | None
    state: TradingState
    state_reason: str | None = None
    equity_usd: float | None = None
    spot_usdc: float | None = None
    margin_used_usd: float | None = None
    maintenance_margin_usd: float | None = None
    margin_ratio: float | None = None
    leverage: float | None = None
    deltas: tuple[AssetDeltaRow, ...] = ()
    total_delta_usd: float = 0.0
    funding_today_usd: float = 0.0
    pnl_today_usd: float | None = None
    updated_ms: int | None = None
    error: str | None = None
    starting: bool = False
    """The venue is still starting: no account state yet (``read_only`` says so meanwhile)."""


class ActivityLevel(enum.Enum):
    """Severity of an activity line."""

    INFO = "info"
    OK = "ok"
    WARN = "warn"
    ERROR = "error"


@dataclass(slots=True, frozen=True)
class ActivityEntry:
    """One line of the activity log: time ms UTC (the desk's ``activity_ms`` clock: venue time in
    the console), severity, text (one line, no secrets)."""

    time_ms: int
    level: ActivityLevel
    text: str


class KillPhase(enum.Enum):
    """Where the kill switch is: sending and verifying, flat, or given up at the deadline."""

    RUNNING = "running"
    FLAT = "flat"
    FAILED = "failed"


@dataclass(slots=True, frozen=True)
class KillStatus:
    """Progress and result of one kill-switch run, for the banner.

    * ``rounds``: cancel/close rounds sent so far; ``elapsed_ms``: since the keystroke (wall);
    * ``cancelled``: orders cancelled; ``closed``: one line per close fill
      (``"BTC sold 0.5 @ 65,432"``); ``failures``: one line per failure with the reason;
    * ``message``: the headline;
    * ``attempts``: reads of the accounts so far (a round is sent only after one succeeds);
    * ``deadline_mono``: when the run gives up, in monotonic seconds on the trader's clock
      (the console's ``mono``, the same clock); ``None`` when not known;
    * ``state``: the trading state the run leaves behind (``"HALTED"``: only cancels and
      reduce-only closes until the trader resumes).
    """

    phase: KillPhase
    rounds: int
    elapsed_ms: int
    cancelled: int
    closed: tuple[str, ...]
    failures: tuple[str, ...]
    message: str
    deadline_mono: float | None = None
    state: str = "HALTED"
    attempts: int = 0


@dataclass(slots=True, frozen=True)
class TradingView:
    """Everything the trading panels show, at one flush.

    ``activity`` is newest last and bounded; ``activity_seq`` increases whenever a line is added,
    so a widget can skip re-rendering an unchanged log.
    """

    portfolio: PortfolioView
    positions: tuple[PositionRow, ...] = ()
    orders: tuple[OrderRow, ...] = ()
    activity: tuple[ActivityEntry, ...] = ()
    activity_seq: int = 0
    kill: KillStatus | None = None


@dataclass(slots=True, frozen=True)
class TicketRequest:
    """What the order ticket asks for.

    * ``size``: base units if ``size_in_usd`` is false, else USD notional (converted at the
      order's price: the limit price of a limit order, the mark of a market order);
    * ``limit_px``: USD; ``None`` for a market order (an IOC at mark ± the configured slippage);
    * ``tif``: ``"Gtc"``, ``"Alo"`` (post-only) or ``"Ioc"``; a market order is always IOC;
    * ``order_type``: ``"market"`` or ``"limit"``, explicit: a limit without a price is refused.
      ``None`` (callers that predate it): limit when ``limit_px`` is given, else market.
    """

    symbol: str
    is_buy: bool
    size: float
    size_in_usd: bool
    limit_px: float | None
    tif: str
    reduce_only: bool
    order_type: str | None = None


@dataclass(slots=True, frozen=True)
class TicketQuote:
    """The order a :class:`TicketRequest` becomes, or why it cannot be sent.

    * ``intent``: rounded to the venue's tick and lot; ``notional_usd`` = size × ``est_px``;
    * ``est_fee_usd``: at the taker fee (IOC, or a GTC limit through the mark) or the maker
      fee (resting); ``fee_rate`` that fraction and ``taker`` which one;
    * ``refusal``: one line when the order would be refused (risk limits, trading state, bad input);
    * ``order_type``: ``"market"`` or ``"limit"`` (``""`` from a quoter that does not say);
    * ``mark_px``: the mark the quote used, USD; ``est_px``: the price it is expected to trade
      or rest at, USD (the mark when it takes liquidity, else its limit);
    * ``distance``: ``(limit − mark) / mark``, signed fraction, ``None`` without a mark;
    * ``confirm``: one line when the limit is beyond the fat-finger band from the mark: the
      ticket sends it only on a second Enter; ``None`` otherwise.
    """

    intent: OrderIntent | None
    notional_usd: float = 0.0
    est_fee_usd: float = 0.0
    refusal: str | None = None
    order_type: str = ""
    mark_px: float | None = None
    est_px: float | None = None
    fee_rate: float = 0.0
    taker: bool = False
    distance: float | None = None
    confirm: str | None = None


@dataclass(slots=True, frozen=True)
class RebalanceView:
    """A rebalance proposal for the preview: the hedges and the assets left alone with reasons."""

    hedges: tuple[HedgePreview, ...] = ()
    skipped: tuple[str, ...] = field(default_factory=tuple)
