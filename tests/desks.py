"""Building trading desks on a simulator for tests: a Hyperliquid order manager for a signer's
account (and optionally the simulator's Binance leg), the way :func:`pfterm.core.runtime.session.open_desk`
builds one for a live session, without a settings file."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from pfterm.core.trading.binance import BinanceClient
from pfterm.core.trading.credentials import TradingAccess
from pfterm.core.trading.desk import Desk, DeskSettings
from pfterm.core.trading.hyperliquid import HyperliquidClient
from pfterm.core.trading.journal import AccountRef, Journal
from pfterm.core.trading.orders import OrderManager
from pfterm.core.trading.venue import AccountSnapshot, Capabilities, VenueAccount
from pfterm.core.venues.binance.futures import BinanceCredentials, BinanceFuturesClient
from pfterm.core.venues.errors import VenueError
from pfterm.core.venues.hyperliquid.exchange import HyperliquidExchange
from pfterm.core.venues.hyperliquid.signing import Signer

NETWORK = "sim:test"
"""The journal network of test accounts."""


def hyperliquid_manager(
    url: str,
    signer: Signer,
    journal: Journal | None,
    *,
    network: str = NETWORK,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], int] | None = None,
    timeout_s: float = 10.0,
) -> OrderManager:
    """An order manager for ``signer``'s account on the Hyperliquid-protocol venue at ``url``."""
    ex = HyperliquidExchange(url, signer, is_mainnet=True, transport=transport, timeout_s=timeout_s)
    client = HyperliquidClient(ex, AccountRef("hyperliquid", network, signer.address), venue_now_ms=clock)
    if clock is None:
        return OrderManager(client, journal)
    return OrderManager(client, journal, wall_ms=clock)


def desk_on(
    url: str,
    signer: Signer,
    journal: Journal | None,
    settings: DeskSettings | None = None,
    *,
    network: str = NETWORK,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], int] | None = None,
    origin: str = "test",
    timeout_s: float = 10.0,
    mono: Callable[[], float] | None = None,
) -> Desk:
    """A desk for ``signer``'s account at ``url`` (journal ``journal``, the simulator's clock
    ``clock`` for a lockstep run)."""
    om = hyperliquid_manager(
        url, signer, journal, network=network, transport=transport, clock=clock, timeout_s=timeout_s
    )
    access = TradingAccess(signer, signer.address, "sim", None, "test")
    kw: dict = {}
    if clock is not None:
        kw["wall_ms"] = clock
    if mono is not None:
        kw["mono"] = mono
    return Desk(access, om, journal, settings, origin=origin, **kw)


def binance_manager(
    url: str,
    credentials: BinanceCredentials,
    journal: Journal | None,
    *,
    network: str = NETWORK,
    max_leverage: int = 3,
    clock_ms: Callable[[], int] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> OrderManager:
    """An order manager for the Binance USDⓈ-M account of ``credentials`` at ``url``."""
    http = httpx.AsyncClient(transport=transport) if transport is not None else None
    rest = BinanceFuturesClient(url, credentials, clock_ms=clock_ms, client=http)
    client = BinanceClient(
        rest, AccountRef.binance(network, credentials.api_key), max_leverage=max_leverage, now_ms=clock_ms
    )
    if http is not None:
        close = client.aclose

        async def aclose() -> None:
            await close()
            await http.aclose()

        client.aclose = aclose  # type: ignore[method-assign]
    if clock_ms is None:
        return OrderManager(client, journal)
    return OrderManager(client, journal, wall_ms=clock_ms)


class FixedVenue:
    """A venue that is fixed data (no network), for snapshots of the console: the manager
    built on it (:func:`fixed_manager`) holds a given account reading; every request raises."""

    capabilities = Capabilities(
        batch_max=10, native_cancel_all=False, dead_man_switch=None, query_by_cloid=False, spot=False
    )
    base_url = "fixed:"

    def __init__(self, venue: str, ref: AccountRef) -> None:
        self.venue = venue
        self.ref = ref

    def instrument(self, symbol: str) -> None:
        return None

    def __getattr__(self, name: str):  # noqa: ANN204 - any request: this venue answers nothing
        async def refuse(*_a: object, **_k: object) -> None:
            raise VenueError(f"{self.venue} fixed data: no {name}")

        return refuse


def fixed_manager(
    venue: str, ref: AccountRef, account: VenueAccount, orders: tuple = (), *, read_ms: int = 0
) -> OrderManager:
    """An order manager over :class:`FixedVenue` holding ``account`` and ``orders``."""
    om = OrderManager(FixedVenue(venue, ref), None)  # type: ignore[arg-type]
    om.snapshot = AccountSnapshot(account, tuple(orders), read_ms)
    return om
