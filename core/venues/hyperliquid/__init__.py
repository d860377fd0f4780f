"""Hyperliquid venue adapter: market data over ``POST /info`` and the WebSocket API.

* :mod:`.wire` — validation and normalization of wire payloads into :mod:`pfterm.core.market.models`;
* :mod:`.rest` — :class:`HyperliquidInfo`, the info-endpoint client, URLs and :class:`VenueError`;
* :mod:`.stream` — :class:`HyperliquidStream`, one self-healing WebSocket connection;
* :mod:`.feed` — :class:`HyperliquidMarketData`, REST snapshots + live stream for a sink.

Docs: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api
"""

from pfterm.core.venues.hyperliquid.feed import REST_FEED, WS_FEED, HyperliquidMarketData
from pfterm.core.venues.hyperliquid.rest import (
    MAINNET_API_URL,
    MAINNET_WS_URL,
    NETWORKS,
    TESTNET_API_URL,
    TESTNET_WS_URL,
    HyperliquidInfo,
    VenueError,
    api_url_for,
    info_weight,
    ws_url_for,
)
from pfterm.core.venues.hyperliquid.stream import HyperliquidStream
from pfterm.core.venues.hyperliquid.wire import MalformedFrame, WireFormatError, decode_ws_frame

__all__ = [
    "MAINNET_API_URL",
    "MAINNET_WS_URL",
    "NETWORKS",
    "REST_FEED",
    "TESTNET_API_URL",
    "TESTNET_WS_URL",
    "WS_FEED",
    "HyperliquidInfo",
    "HyperliquidMarketData",
    "HyperliquidStream",
    "MalformedFrame",
    "VenueError",
    "WireFormatError",
    "api_url_for",
    "decode_ws_frame",
    "info_weight",
    "ws_url_for",
]
