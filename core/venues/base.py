"""The contract between venue adapters and the engine.

An adapter turns a venue's wire data into :mod:`pfterm.core.market.models` values and hands them to a
:class:`MarketDataSink` by direct method calls (no per-message event objects on the hot
path). The engine implements the sink; tests may implement it with lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from pfterm.core.market.models import (
    AssetCtx,
    BookSnapshot,
    FeedStatus,
    FundingPoint,
    Liquidation,
    MarketInfo,
    PredictedFunding,
    Trade,
    VenueFunding,
)


class MarketDataSink(Protocol):
    """Receiver of normalized market data. Every method must return quickly and never raise."""

    def on_markets(self, markets: list[MarketInfo], ctxs: list[AssetCtx | None]) -> None:
        """A full universe snapshot: ``markets[i]`` with its context ``ctxs[i]`` (``None`` if absent)."""

    def on_ctx(self, ctx: AssetCtx) -> None:
        """One market's new live context."""

    def on_mids(self, mids: Mapping[str, float], recv_mono: float) -> None:
        """Mid prices (USD) by symbol; may include symbols not in the perp universe (spot)."""

    def on_trades(self, trades: Iterable[Trade]) -> None:
        """Public trades, oldest first."""

    def on_book(self, book: BookSnapshot) -> None:
        """An L2 book snapshot; its ``time_ms`` is also a sample of the venue's clock."""

    def on_funding_history(self, symbol: str, points: list[FundingPoint]) -> None:
        """Settled funding history for one market, oldest first."""

    def on_predicted(self, predicted: list[PredictedFunding]) -> None:
        """Predicted next fundings across markets and venues."""

    def on_feed_status(self, status: FeedStatus) -> None:
        """A feed changed state or its malformed-frame count grew."""


class CrossVenueSink(Protocol):
    """Receiver of the read-only cross-venue feeds (Binance, Bybit, OKX, dYdX). Every method
    must return quickly and never raise."""

    def on_venue_funding(self, records: list[VenueFunding]) -> None:
        """New funding/OI values for some markets of one venue (a snapshot or a delta, merged)."""

    def on_liquidations(self, records: list[Liquidation]) -> None:
        """Forced closes, oldest first."""

    def on_feed_status(self, status: FeedStatus) -> None:
        """A feed changed state or its malformed-frame count grew."""
