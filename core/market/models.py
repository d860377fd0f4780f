"""Normalized domain types shared by the engine, the venue adapters and the console.

Units everywhere (see ``docs/domain.md`` preamble):

* prices in quote currency (USD / USDC) as ``float``;
* sizes and open interest in base units as ``float``;
* timestamps as integer milliseconds since the Unix epoch, UTC (``*_ms``);
* funding rates as plain fractions (``0.0001`` = 0.01 %) always carried together
  with the interval they apply to, in hours (``interval_h``).

Market data uses ``float`` on purpose: it is displayed and fed to statistics, never
sent back to a venue. Order prices and sizes (which are) are formatted separately.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(slots=True, frozen=True)
class MarketInfo:
    """Static description of one perpetual market on one venue.

    ``symbol`` is the venue's own coin name (Hyperliquid ``"BTC"``, ``"kPEPE"``);
    ``asset_id`` is the venue's integer asset index (Hyperliquid: position in ``meta.universe``);
    ``sz_decimals`` is the number of decimals allowed in an order size (base units).
    """

    venue: str
    symbol: str
    asset_id: int
    sz_decimals: int
    max_leverage: int
    only_isolated: bool = False
    delisted: bool = False


@dataclass(slots=True)
class AssetCtx:
    """One market's live context at one moment, as a venue reports it.

    * ``mark_px``, ``oracle_px`` (the index), ``mid_px``: USD;
    * ``funding``: the venue's current (predicted) rate for the running interval, a fraction
      per ``funding_interval_h`` hours (Hyperliquid: per 1 h);
    * ``premium``: the venue's premium, a fraction of the oracle price (``None`` if absent);
    * ``open_interest``: one side, base units;
    * ``day_ntl_vlm``: 24 h notional volume, USD; ``prev_day_px``: price 24 h ago, USD;
    * ``impact_bid`` / ``impact_ask``: impact prices, USD (``None`` if absent);
    * ``recv_ms``: local wall-clock receive time; ``recv_mono``: ``time.monotonic()`` at receipt
      (seconds), used for staleness and data-to-screen latency.
    """

    symbol: str
    mark_px: float
    oracle_px: float
    mid_px: float | None
    funding: float
    funding_interval_h: float
    premium: float | None
    open_interest: float
    prev_day_px: float
    day_ntl_vlm: float
    impact_bid: float | None
    impact_ask: float | None
    recv_ms: int = 0
    recv_mono: float = 0.0

    @property
    def open_interest_usd(self) -> float:
        """Open interest in USD: one-side base units × oracle price (Hyperliquid convention)."""
        return self.open_interest * self.oracle_px


class Side(enum.Enum):
    """Aggressor side of a trade (``BUY`` = taker bought)."""

    BUY = "B"
    SELL = "A"


@dataclass(slots=True, frozen=True)
class Trade:
    """One public trade: price USD, size base units, ``time_ms`` venue time."""

    symbol: str
    side: Side
    px: float
    sz: float
    time_ms: int
    tid: int = 0


@dataclass(slots=True, frozen=True)
class BookLevel:
    """One aggregated price level: price USD, size base units, ``n`` orders."""

    px: float
    sz: float
    n: int = 0


@dataclass(slots=True, frozen=True)
class BookSnapshot:
    """Top of an L2 book: bids best first, asks best first; ``time_ms`` venue time."""

    symbol: str
    time_ms: int
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]


@dataclass(slots=True, frozen=True)
class FundingPoint:
    """One settled funding: ``rate`` per ``interval_h`` hours, at ``time_ms`` (venue time)."""

    symbol: str
    time_ms: int
    rate: float
    interval_h: float
    premium: float | None = None


@dataclass(slots=True, frozen=True)
class PredictedFunding:
    """A venue's predicted next funding for one market.

    ``rate`` per ``interval_h`` hours, paid at ``next_funding_ms`` (ms, UTC).
    ``venue`` is the venue's own label (Hyperliquid ``predictedFundings``: ``HlPerp``,
    ``BinPerp``, ``BybitPerp``).
    """

    symbol: str
    venue: str
    rate: float
    interval_h: float
    next_funding_ms: int


class FeedState(enum.Enum):
    """Connection state of one data feed."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RETRYING = "retrying"
    STOPPED = "stopped"


@dataclass(slots=True, frozen=True)
class FeedStatus:
    """State of one feed (e.g. ``"hyperliquid/ws"``) for the status bar.

    ``retry_at_mono``: ``time.monotonic()`` of the next connection attempt while RETRYING;
    ``malformed``: frames dropped because they did not validate, since start;
    ``detail``: the last error, one line, never a traceback and never a secret.
    """

    feed: str
    state: FeedState
    retry_at_mono: float | None = None
    malformed: int = 0
    detail: str = ""


class AlertKind(enum.Enum):
    """What an alert is about."""

    CASCADE = "cascade"
    FUNDING_FLIP = "funding flip"
    EXTREME_FUNDING = "extreme funding"
    LIQUIDATIONS = "liquidations"


@dataclass(slots=True, frozen=True)
class Alert:
    """A discrete alert raised by the engine's detectors.

    ``time_ms`` is venue time; ``oi_change`` and ``price_change`` are fractions over the
    detector's sample interval (``None`` when not relevant); ``message`` is one line for humans.
    """

    kind: AlertKind
    symbol: str
    time_ms: int
    message: str
    oi_change: float | None = None
    price_change: float | None = None
    funding_apr: float | None = None
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class Position:
    """One open perpetual position on one venue.

    * ``size``: signed, base units (long > 0, short < 0);
    * ``entry_px``, ``mark_px``, ``liquidation_px``: USD (``liquidation_px`` is the venue's own
      figure, ``None`` when it reports none; see ``docs/domain.md`` §4);
    * ``leverage``: multiple (``3.0`` = 3×);
    * ``margin_used``, ``unrealized_pnl``: USD;
    * ``funding_since_open``: USD, received positive, paid negative.
    """

    symbol: str
    size: float
    entry_px: float
    mark_px: float
    liquidation_px: float | None
    leverage: float
    margin_used: float
    unrealized_pnl: float
    funding_since_open: float = 0.0

    @property
    def notional_usd(self) -> float:
        """Absolute position value at mark, USD: ``|size| × mark_px``."""
        return abs(self.size) * self.mark_px


@dataclass(slots=True, frozen=True)
class OpenOrder:
    """One resting order: ``limit_px`` USD, ``size`` remaining base units, ``timestamp_ms`` venue time.

    ``oid`` is the venue's order id, ``cloid`` the client order id (``0x`` + 32 hex) if one was set.
    """

    symbol: str
    oid: int
    cloid: str | None
    is_buy: bool
    limit_px: float
    size: float
    reduce_only: bool
    timestamp_ms: int


@dataclass(slots=True, frozen=True)
class SpotBalance:
    """A spot holding: ``total`` in base units of ``coin`` (held plus available)."""

    coin: str
    total: float


@dataclass(slots=True, frozen=True)
class OrderIntent:
    """An order the console proposes, not yet sent.

    * ``asset_id``: the venue's integer asset index (see :class:`MarketInfo`);
    * ``size``: positive, base units, already on the venue's size step;
    * ``limit_px``: USD, already on the venue's price tick;
    * ``tif``: ``"Gtc"``, ``"Alo"`` (post-only) or ``"Ioc"``;
    * ``cloid``: client order id, ``0x`` + 32 hex digits;
    * ``purpose``: short label for logs and confirmations (``"kill"``, ``"hedge"``, …).
    """

    symbol: str
    asset_id: int
    is_buy: bool
    size: float
    limit_px: float
    tif: str
    reduce_only: bool
    cloid: str
    purpose: str

    @property
    def notional_usd(self) -> float:
        """``size × limit_px``, USD."""
        return self.size * self.limit_px


@dataclass(slots=True, frozen=True)
class VenueFunding:
    """One market's funding and open interest on one venue, normalized (``docs/domain.md`` §1).

    * ``venue``: ``"binance"``, ``"bybit"``, ``"okx"``, ``"dydx"``, ``"hyperliquid"``;
    * ``symbol``: the joined symbol across venues (:mod:`pfterm.core.crossvenue.symbols`, e.g. ``"BTC"``,
      ``"kPEPE"``); ``native``: the venue's own (``"BTCUSDT"``, ``"BTC-USDT-SWAP"``, ``"BTC-USD"``);
    * ``rate``: the funding rate for the running interval, a fraction per ``interval_h`` hours
      (the venue's predicted/next rate; never rescaled);
    * ``interval_h``: hours between settlements, as the venue says (never assumed);
    * ``next_funding_ms``: the venue's next settlement time, ms UTC (``None`` if not given);
    * ``mark_px`` / ``index_px``: USD (``None`` if not given);
    * ``oi_base``: open interest, single-sided, base units; ``oi_usd``: the same in USD;
    * ``time_ms``: when the venue produced the values (or the receive time), ms UTC.
    """

    venue: str
    symbol: str
    native: str
    rate: float
    interval_h: float
    next_funding_ms: int | None
    mark_px: float | None
    index_px: float | None
    oi_base: float | None
    oi_usd: float | None
    time_ms: int

    @property
    def rate_per_hour(self) -> float:
        """``rate / interval_h``: fraction per hour."""
        return self.rate / self.interval_h

    @property
    def apr(self) -> float:
        """Annualised rate, simple: ``rate × 8760 / interval_h`` (``docs/domain.md`` §1)."""
        return self.rate * 8760.0 / self.interval_h


@dataclass(slots=True, frozen=True)
class Liquidation:
    """One forced close on a venue, normalized (``docs/venues.md`` "Liquidation side per venue").

    ``side`` is the side of the position that was liquidated (``"long"`` or ``"short"``),
    whatever field the venue encodes it in; ``size_base`` base units (> 0), ``price`` USD,
    ``usd`` = ``size_base × price``; ``time_ms`` venue time, ms UTC; ``symbol`` joined,
    ``native`` the venue's."""

    venue: str
    symbol: str
    native: str
    side: str
    size_base: float
    price: float
    usd: float
    time_ms: int
