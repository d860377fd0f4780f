"""Wiring of one live market session: venue choice, embedded simulator, feed and engine.

The embedded simulator runs in a child process (``python -m pfterm.core.sim``) so that its
market model never competes with the console's event loop; it is reached only through
its Hyperliquid-compatible HTTP/WebSocket endpoints on 127.0.0.1, exactly like the real
venue. The child exits when the parent closes its stdin, so it never outlives pfterm.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
from collections import ChainMap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pfterm.core.market.clock import VenueClock
from pfterm.core.market.engine import Engine, Settlement
from pfterm.core.runtime.config import Settings
from pfterm.core.runtime.heap import settle_heap
from pfterm.core.trading.credentials import TradingAccess, trading_access
from pfterm.core.venues.hyperliquid import MAINNET_API_URL, TESTNET_API_URL, ws_url_for
from pfterm.core.venues.networks import binance_futures_network, hyperliquid_alias, hyperliquid_network, parse_venue_url

if TYPE_CHECKING:
    from pfterm.core.crossvenue.session import CrossVenueSession
    from pfterm.core.venues.hyperliquid.feed import HyperliquidMarketData

log = logging.getLogger(__name__)


class SimulatorStartError(RuntimeError):
    """The embedded simulator did not come up; the message says why in one line."""


class EmbeddedSimulator:
    """A ``python -m pfterm.core.sim`` child process bound to a free loopback port.

    Args:
        seed: RNG seed; speed: simulated seconds per wall second; cascade_rate: cascades
        per simulated hour; start_ms: simulated clock start (ms UTC), ``None`` for now.
    """

    def __init__(self, seed: int, speed: float, cascade_rate: float, start_ms: int | None = None) -> None:
        from pfterm.core.venues.binance.futures import BinanceCredentials

        self.binance_credentials = BinanceCredentials("sim" + secrets.token_hex(16), secrets.token_hex(32))
        """A fresh Binance API key pair for this session's simulated Binance account."""
        self.seed = seed
        self.speed = speed
        self.cascade_rate = cascade_rate
        self.start_ms = start_ms
        self.http_url: str | None = None
        self.ws_url: str | None = None
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self, timeout_s: float = 15.0) -> str:
        """Start the child and return its HTTP base URL once it listens.

        Raises:
            SimulatorStartError: the child exited or printed nothing usable in time.
        """
        from pfterm.core.sim.__main__ import child_command

        extra = ["--speed", repr(self.speed), "--cascade-rate", repr(self.cascade_rate)]
        if self.start_ms is not None:
            extra += ["--start-ms", str(self.start_ms)]
        args = child_command(self.seed, *extra)
        from pfterm.core.trading.credentials import BINANCE_KEY_ENV, BINANCE_SECRET_ENV

        env = dict(os.environ)
        env[BINANCE_KEY_ENV] = self.binance_credentials.api_key
        env[BINANCE_SECRET_ENV] = self.binance_credentials.secret
        self._proc = await asyncio.create_subprocess_exec(
            *args,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), timeout_s)
        except TimeoutError:
            await self.stop()
            raise SimulatorStartError(f"simulator did not start within {timeout_s:.0f}s") from None
        try:
            info = json.loads(line)
            self.http_url = str(info["listening"])
            self.ws_url = str(info["ws"])
        except (ValueError, KeyError, TypeError):
            await self.stop()
            raise SimulatorStartError("simulator exited before listening") from None
        log.info("embedded simulator at %s (seed %s, speed %s)", self.http_url, self.seed, self.speed)
        return self.http_url

    async def stop(self) -> None:
        """Stop the child (close stdin, then terminate, then kill) and reap it."""
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 2.0)
        except TimeoutError:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@dataclass(slots=True, frozen=True)
class Endpoint:
    """Where the market data comes from: display label, HTTP base URL (None until the
    embedded simulator is up), clock rate hint (None = estimate from venue timestamps), and
    for the embedded simulator a random ``session`` id (its accounts exist for one session)."""

    label: str
    http_url: str | None
    clock_rate: float | None
    embedded: bool
    session: str = ""


def resolve_endpoint(settings: Settings) -> Endpoint:
    """Choose the Hyperliquid-protocol endpoint for ``settings``.

    ``--url hyperliquid=URL`` wins (clock rate estimated from the venue's timestamps);
    otherwise ``sim`` starts the embedded simulator and ``hyperliquid`` uses mainnet or
    testnet (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api).
    """
    url = settings.urls.get("hyperliquid")
    if url:
        alias = hyperliquid_alias(url)  # --url hyperliquid=mainnet: the network's own URL
        url = {"mainnet": MAINNET_API_URL, "testnet": TESTNET_API_URL}[alias] if alias else url.strip()
        return Endpoint(f"hyperliquid @ {url}", url.rstrip("/"), None, False)
    if settings.venue.name == "sim":
        return Endpoint(f"sim (seed {settings.sim.seed})", None, settings.sim.speed, True, secrets.token_hex(4))
    net = settings.venue.network
    return Endpoint(f"hyperliquid {net}", MAINNET_API_URL if net == "mainnet" else TESTNET_API_URL, 1.0, False)


def trading_network(settings: Settings, endpoint: Endpoint) -> tuple[str, bool]:
    """``(network, signs_for_mainnet)`` of ``endpoint``.

    ``network`` gates trading (:func:`pfterm.core.trading.credentials.trading_access`): ``"sim"`` for the
    embedded simulator, ``"mainnet"`` whenever the parsed URL reaches Hyperliquid mainnet, however
    it is spelt (:func:`pfterm.core.venues.networks.hyperliquid_network`: scheme and host case, default
    port, trailing dot, userinfo, path, the alias ``mainnet``), else ``"testnet"`` (a testnet,
    local or other URL). Mainnet and testnet URLs sign for their own network; any other
    ``--url`` venue signs with the phantom-agent source of ``venue.network`` (``pfterm sim``
    verifies mainnet signatures unless started with ``--testnet``), and the embedded simulator
    verifies mainnet signatures. A remote host that is neither (a proxy, say) and signs for
    mainnet is gated as mainnet: its signatures are valid on mainnet, wherever it forwards them.

    Raises:
        ValueError: the endpoint's URL cannot be parsed or is not http(s)/ws(s) (one line).
    """
    if endpoint.embedded:
        return "sim", True
    network = hyperliquid_network(endpoint.http_url or "")
    if network == "mainnet":
        return "mainnet", True
    if network == "testnet":
        return "testnet", False
    signs_mainnet = settings.venue.network == "mainnet"
    if network == "other" and signs_mainnet:
        # an unknown remote host that takes mainnet signatures may be a proxy to mainnet
        return "mainnet", True
    return "testnet", signs_mainnet


def resolve_access(settings: Settings, endpoint: Endpoint, key_file: Path | None = None) -> TradingAccess:
    """Who may trade on ``endpoint``: key from ``key_file`` / ``trading.key_file`` / the
    environment, mainnet gated by ``trading.allow_mainnet``.

    Raises:
        pfterm.core.trading.credentials.CredentialsError: a bad key source (one line, never the key).
    """
    network, _ = trading_network(settings, endpoint)
    t = settings.trading
    return trading_access(network, key_file=key_file or t.key_file, allow_mainnet=t.allow_mainnet, account=t.account)


def journal_path(settings: Settings) -> Path:
    """``trading.journal`` or ``<platform data dir>/pfterm/journal.sqlite``."""
    if settings.trading.journal is not None:
        return settings.trading.journal.expanduser()
    from platformdirs import user_data_path

    return user_data_path("pfterm") / "journal.sqlite"


def account_network(endpoint: Endpoint) -> str:
    """The journal's network of ``endpoint``'s accounts: ``"mainnet"`` or ``"testnet"``
    (however the URL is spelt), ``"sim:<session>"`` for the embedded simulator (its accounts
    live for one session), ``"url:<host:port>"`` for another ``--url`` venue (canonical host:
    lower case, no trailing dot, no userinfo, no default port), so that rows of one account are
    never matched with another's.

    Raises:
        ValueError: the endpoint's URL cannot be parsed (one line).
    """
    if endpoint.embedded:
        return f"sim:{endpoint.session or 'embedded'}"
    url = endpoint.http_url or ""
    network = hyperliquid_network(url)
    if network in ("mainnet", "testnet"):
        return network
    return f"url:{parse_venue_url(url).netloc}"


def open_journal(settings: Settings):
    """The journal (:class:`pfterm.core.trading.journal.Journal`) at :func:`journal_path`, created if needed.

    Raises:
        sqlite3.Error, pfterm.core.trading.journal.JournalError: it cannot be opened.
    """
    from pfterm.core.trading.journal import Journal

    path = journal_path(settings)
    return Journal(path)  # creates the missing directories 0700 and the file 0600


def open_desk(
    settings: Settings,
    endpoint: Endpoint,
    access: TradingAccess,
    http_url: str,
    *,
    engine: Engine | None = None,
    origin: str = "console",
    venue_now_ms=None,
    journal=None,
):
    """A :class:`pfterm.core.trading.desk.Desk` for ``access`` on ``http_url`` with the journal open
    (its Hyperliquid order manager included when ``access`` can trade).

    With ``engine`` the desk takes markets and live marks from the market feed; without one
    (headless commands) it reads ``meta`` and ``allMids`` from the venue. ``origin`` names
    the process in the shared trading state (``"console"``, ``"pfterm harvest"``…).
    """
    from pfterm.core.trading.desk import Desk, DeskSettings
    from pfterm.core.trading.hyperliquid import HyperliquidClient
    from pfterm.core.trading.journal import AccountRef
    from pfterm.core.trading.orders import OrderManager
    from pfterm.core.venues.hyperliquid.exchange import HyperliquidExchange

    journal = journal if journal is not None else open_journal(settings)
    ds = DeskSettings.from_section(settings.trading)
    _, is_mainnet = trading_network(settings, endpoint)
    markets = None
    prices = None
    if engine is not None:
        markets = {sym: st.info for sym, st in engine.store.markets.items()}
        prices = lambda: ChainMap(engine.marks, engine.mids)  # noqa: E731 - perp marks, then spot mids
        venue_now_ms = venue_now_ms or engine.clock.now_ms
    primary = None
    if access.can_trade:
        assert access.signer is not None and access.account is not None
        exchange = HyperliquidExchange(http_url, access.signer, is_mainnet=is_mainnet, account_address=access.account)
        ref = AccountRef("hyperliquid", account_network(endpoint), access.account.lower())
        client = HyperliquidClient(
            exchange, ref, venue_now_ms=venue_now_ms, spot_aliases=ds.spot_aliases, markets=markets
        )
        primary = OrderManager(
            client, journal, dead_man_lead_s=ds.dead_man_lead_s, dead_man_heartbeat_s=ds.dead_man_heartbeat_s
        )
    return Desk(access, primary, journal, ds, markets=markets, prices=prices, origin=origin, activity_ms=venue_now_ms)


BINANCE_TESTNET_URL = "https://testnet.binancefuture.com"
"""Binance USDⓈ-M futures testnet REST base (https://testnet.binancefuture.com)."""


def hedge_venue_url(settings: Settings, endpoint: Endpoint, http_url: str) -> tuple[str | None, str]:
    """Where the perp-against-perp Binance leg trades, or ``None``, and why (one line).

    ``trading.binance_url`` wins, but one that reaches Binance production (any spelling of a host
    under ``binance.com`` other than the demo hosts, :func:`pfterm.core.venues.networks.binance_futures_network`)
    needs ``trading.allow_mainnet``, and one that cannot be parsed turns the leg off; the embedded
    simulator and a simulator on a loopback ``--url`` serve Binance's ``/fapi`` on the same
    address; Hyperliquid mainnet pairs with Binance's production API (only with
    ``trading.allow_mainnet``), testnet with Binance's testnet.
    """
    from pfterm.core.venues.binance.futures import BINANCE_FUTURES_URL

    if settings.harvest.perp_hedge == "none":
        return None, "harvest.perp_hedge = none"
    if settings.trading.binance_url:
        try:
            binance = binance_futures_network(settings.trading.binance_url)
        except ValueError as exc:
            return None, f"trading.binance_url: {exc}"
        if binance == "mainnet" and not settings.trading.allow_mainnet:
            return None, "trading.binance_url is Binance production and mainnet trading is off (trading.allow_mainnet)"
        return settings.trading.binance_url.strip(), "trading.binance_url"
    try:
        local = parse_venue_url(http_url).is_loopback
    except ValueError:
        local = False
    if endpoint.embedded or local:
        return http_url, "the simulator's Binance endpoints"
    network, _ = trading_network(settings, endpoint)
    if network == "mainnet":
        if not settings.trading.allow_mainnet:
            return None, "mainnet trading is off (trading.allow_mainnet)"
        return BINANCE_FUTURES_URL, "Binance USDⓈ-M production"
    if network == "testnet":
        return BINANCE_TESTNET_URL, "Binance USDⓈ-M testnet"
    return None, f"no Binance venue paired with {endpoint.label}: set trading.binance_url"


def resume_accounts(settings: Settings, endpoint: Endpoint, access: TradingAccess) -> list[str]:
    """``pfterm resume``: set the shared trading state of ``access``'s account on ``endpoint``
    (and of the Binance leg paired with it, when a Binance key is configured) to ACTIVE; one
    line per account saying what it was, since when and who set it.

    Raises:
        sqlite3.Error, pfterm.core.trading.journal.JournalError: the journal cannot be opened or written.
        ValueError: the endpoint's URL cannot be parsed.
    """
    from datetime import UTC, datetime

    from pfterm.core.trading.credentials import CredentialsError, load_binance_credentials
    from pfterm.core.trading.journal import AccountRef
    from pfterm.core.trading.state import process_origin

    refs = [AccountRef("hyperliquid", account_network(endpoint), (access.account or "").lower())]
    url, _why = hedge_venue_url(settings, endpoint, endpoint.http_url or "")
    if url is not None:
        try:
            loaded = load_binance_credentials(settings.trading.binance_key_file)
        except CredentialsError:
            loaded = None
        if loaded is not None:
            refs.append(AccountRef.binance(binance_network(endpoint, url), loaded[0].api_key))
    lines = []
    journal = open_journal(settings)
    try:
        for ref in refs:
            aj = journal.for_account(ref)
            before = aj.trading_state()
            if before is None or before.state == "active":
                lines.append(f"{ref.label}: already ACTIVE")
                continue
            since = datetime.fromtimestamp(before.since_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            aj.set_trading_state("active", "resumed from the shell", process_origin("pfterm resume"))
            lines.append(
                f"{ref.label}: ACTIVE again (was {before.state.upper()} since {since} by {before.origin}: {before.reason})"
            )
    finally:
        journal.close()
    return lines


def binance_network(endpoint: Endpoint, url: str) -> str:
    """The journal's network of a Binance account at ``url``: ``"mainnet"`` (production) or
    ``"testnet"``, the Hyperliquid endpoint's own network when the simulator serves both on
    one address, else ``"url:<host:port>"``.

    Raises:
        ValueError: ``url`` cannot be parsed.
    """
    kind = binance_futures_network(url)
    if kind in ("mainnet", "testnet"):
        return kind
    if endpoint.embedded or (
        endpoint.http_url and parse_venue_url(endpoint.http_url).netloc == parse_venue_url(url).netloc
    ):
        return account_network(endpoint)
    return f"url:{parse_venue_url(url).netloc}"


def open_binance_leg(
    settings: Settings, endpoint: Endpoint, desk, http_url: str, *, credentials=None, rate: float = 1.0
):
    """The Binance USDⓈ-M order manager for perp-against-perp positions, attached to ``desk``
    (same gate, same shared state, the kill switch flattens it too), not yet started; or
    ``None`` with the reason logged and noted (no venue for this endpoint, no key, a bad key
    file).

    ``credentials`` (the embedded simulator's) win over ``trading.binance_key_file`` and the
    environment. ``rate`` is simulated seconds per wall second: signed requests carry the
    venue's time, anchored on its ``/fapi/v1/time`` and advanced at that rate.
    """
    from pfterm.core.trading.binance import BinanceClient, ServerClock
    from pfterm.core.trading.credentials import CredentialsError, load_binance_credentials
    from pfterm.core.trading.journal import AccountRef
    from pfterm.core.trading.orders import OrderManager
    from pfterm.core.trading.portfolio import ActivityLevel
    from pfterm.core.venues.binance.futures import BinanceFuturesClient

    if not desk.can_trade:
        return None
    url, why = hedge_venue_url(settings, endpoint, http_url)
    if url is None:
        log.info("perp against perp off: %s", why)
        return None
    if credentials is None:
        try:
            loaded = load_binance_credentials(settings.trading.binance_key_file)
        except CredentialsError as exc:
            desk.note(ActivityLevel.ERROR, f"binance: {exc}")
            return None
        if loaded is None:
            log.info("perp against perp off: no Binance key (PFTERM_BINANCE_API_KEY / trading.binance_key_file)")
            return None
        credentials = loaded[0]
    if rate > 1.0:  # an accelerated simulator: its clock jumps, sign well inside a wide window
        clock = ServerClock(rate, lag_ms=30_000)
        rest = BinanceFuturesClient(url, credentials, clock_ms=clock, recv_window_ms=60_000)
    else:
        clock = ServerClock(rate)
        rest = BinanceFuturesClient(url, credentials, clock_ms=clock)
    t = settings.trading
    ref = AccountRef.binance(binance_network(endpoint, url), credentials.api_key)
    client = BinanceClient(rest, ref, max_leverage=max(1, int(t.max_leverage)), clock=clock)
    om = OrderManager(
        client, desk.journal, dead_man_lead_s=t.dead_man_lead_s, dead_man_heartbeat_s=t.dead_man_heartbeat_s
    )
    desk.attach(om)
    om.why = why  # type: ignore[attr-defined]
    return om


async def open_hedge(
    settings: Settings, endpoint: Endpoint, desk, http_url: str, *, credentials=None, rate: float = 1.0
):
    """:func:`open_binance_leg`, started (markets, account, reconcile); ``None`` (noted with
    the reason) when there is no leg or the venue is unreachable or refuses the key."""
    from pfterm.core.trading.portfolio import ActivityLevel

    om = open_binance_leg(settings, endpoint, desk, http_url, credentials=credentials, rate=rate)
    if om is None:
        return None
    why = getattr(om, "why", "")
    if not await desk.start_venue(om):
        desk.note(ActivityLevel.ERROR, f"binance ({why}) unavailable: {om.error}")
        desk.detach(om)
        await om.aclose()
        return None
    desk.note(ActivityLevel.INFO, f"binance leg ready ({why}): perp against perp on (the kill key flattens it too)")
    log.info("binance leg ready (%s) at %s", why, om.client.base_url)
    return om


def build_engine(settings: Settings, endpoint: Endpoint) -> Engine:
    """An :class:`Engine` configured from ``settings`` with a clock suited to ``endpoint``: its
    detectors read ``[alerts]`` itself (an ``AlertsSection`` is a
    :class:`~pfterm.core.market.engine.DetectorSettings`), its OI window is ``markets.oi_window_min``."""
    return Engine(
        venue="hyperliquid",
        clock=VenueClock(rate=endpoint.clock_rate),
        detectors=settings.alerts,
        oi_window_ms=int(settings.markets.oi_window_min * 60_000),
    )


class MarketSession:
    """Runs the feed for ``engine`` until stopped, starting the embedded simulator if needed."""

    def __init__(
        self,
        settings: Settings,
        endpoint: Endpoint,
        engine: Engine,
        access: TradingAccess | None = None,
        *,
        crossvenue=None,
    ) -> None:
        self.settings = settings
        self.endpoint = endpoint
        self.engine = engine
        self.access = access
        self.crossvenue = crossvenue
        self.cross: CrossVenueSession | None = None
        self.cross_venues: tuple[str, ...] = ()
        self.desk = None
        """The trading desk (:class:`pfterm.core.trading.desk.Desk`) once the venue is up, else ``None``."""
        self.hedge = None
        """The Binance leg's order manager once ready (:func:`open_hedge`), else ``None``."""
        self._http_url: str | None = None
        self.sim: EmbeddedSimulator | None = None
        self.feed: HyperliquidMarketData | None = None
        self._selected: str | None = None
        self._stopping = False

    async def run(self) -> None:
        """Start (simulator, then feed) and run until :meth:`stop`.

        Raises:
            SimulatorStartError: the embedded simulator could not be started.
        """
        from pfterm.core.venues.hyperliquid.feed import HyperliquidMarketData

        http_url = self.endpoint.http_url
        if self.endpoint.embedded:
            s = self.settings.sim
            self.sim = EmbeddedSimulator(s.seed, s.speed, s.cascade_rate)
            http_url = await self.sim.start()
        assert http_url is not None
        self._http_url = http_url
        if self._stopping:
            return
        feed = self.feed = HyperliquidMarketData(
            self.engine,
            http_url,
            ws_url_for(http_url),
            include_delisted=self.settings.markets.include_delisted,
        )
        if self._selected:
            feed.select(self._selected)
        refresher = asyncio.create_task(self._refresh_history_after_settlements())
        cross_task = None
        if self.crossvenue is not None and self.settings.crossvenue.venues:
            cross_task = asyncio.create_task(self._run_crossvenue(http_url))
        trading = None
        if self.access is not None:
            self.desk = open_desk(self.settings, self.endpoint, self.access, http_url, engine=self.engine)
            trading = asyncio.create_task(self._run_desk(self.desk))
        try:
            await feed.run()
        finally:
            refresher.cancel()
            if trading is not None:
                trading.cancel()
            if cross_task is not None:
                cross_task.cancel()

    async def _run_crossvenue(self, http_url: str) -> None:
        """Watch the read-only venues: on the embedded simulator its Binance- and Bybit-compatible
        endpoints; otherwise each venue's public API (or its ``--url`` override)."""
        from pfterm.core.crossvenue.session import CrossVenueSession
        from pfterm.core.crossvenue.symbols import SymbolMap

        wanted: list[str] = list(self.settings.crossvenue.venues)
        urls: dict[str, str]
        if self.endpoint.embedded:
            venues = [v for v in wanted if v in ("binance", "bybit")]
            urls = {v: http_url for v in venues}
        else:
            venues = wanted
            urls = {k: v for k, v in self.settings.urls.items() if k != "hyperliquid"}
        self.cross_venues = tuple(venues)
        cross = self.cross = CrossVenueSession(
            self.crossvenue,
            venues,
            urls,
            SymbolMap(self.settings.symbols.overrides),
            refresh_s=self.settings.crossvenue.refresh_s,
            bybit_poll_s=self.settings.crossvenue.bybit_tickers_s,
        )
        try:
            await cross.run()
        finally:
            await cross.stop()

    async def _run_desk(self, desk) -> None:
        """Wait for the market list (asset ids), then start the desk (and the Binance leg) and
        poll the accounts."""
        for _ in range(300):
            if self.engine.store.markets or self._stopping:
                break
            await asyncio.sleep(0.1)
        desk.markets.update({sym: st.info for sym, st in self.engine.store.markets.items()})
        await desk.start()
        if desk.can_trade:
            self.hedge = await open_hedge(
                self.settings,
                self.endpoint,
                desk,
                self._http_url or "",
                rate=self.endpoint.clock_rate or 1.0,
                credentials=self.sim.binance_credentials if self.sim is not None else None,
            )
        await desk.run()

    async def _refresh_history_after_settlements(self, delay_s: float = 1.0) -> None:
        """After each settlement, fetch the followed market's history again (one new row)."""
        queue = self.engine.subscribe(maxsize=64)
        try:
            while True:
                event = await queue.get()
                if isinstance(event, Settlement) and self.feed is not None:
                    await asyncio.sleep(delay_s)  # let the venue publish the settled row
                    self.feed.refresh_history()
        finally:
            self.engine.unsubscribe(queue)

    def select(self, symbol: str) -> None:
        """Follow ``symbol`` closely (trades, book, funding history)."""
        self._selected = symbol
        self.engine.selected = symbol
        if self.feed is not None:
            self.feed.select(symbol)

    async def stop(self) -> None:
        """Stop the feed and the embedded simulator."""
        self._stopping = True
        if self.desk is not None:
            desk, self.desk = self.desk, None
            self.hedge = None
            await desk.stop()
            for line in await desk.final_sync(2.0):
                log.warning("%s", line)
            await desk.aclose()
            if desk.journal is not None:
                desk.journal.close()
        if self.feed is not None:
            await self.feed.stop()
        if self.sim is not None:
            await self.sim.stop()


async def kill_headless(
    settings: Settings, endpoint: Endpoint, access: TradingAccess, write=print, *, started: float | None = None
):
    """``pfterm kill``: halt the account for every process, cancel and close everything on every
    venue (the Binance leg too when a key for it is configured) until flat or
    ``trading.kill_deadline_s`` after ``started`` (``time.perf_counter()`` seconds; now by
    default), sync fills and funding into the journal if time is left, and report.

    ``write`` receives one line at a time (never a secret), one per round and one per close or
    failure. Returns the :class:`pfterm.core.trading.kill.KillReport`; its ``flat`` decides the exit
    status. Never raises for a venue failure.
    """
    import time

    from pfterm.core.trading.kill import KillReport
    from pfterm.core.trading.portfolio import ActivityLevel

    t0 = time.perf_counter() if started is None else started
    if endpoint.http_url is None:
        raise ValueError("pfterm kill needs a running venue, not the embedded simulator")
    if not access.can_trade:
        return KillReport(failures=[f"read-only: {access.read_only}"])
    desk = open_desk(settings, endpoint, access, endpoint.http_url, origin="pfterm kill")
    rounds_seen: dict[str, tuple[int, int]] = {}

    def note(level: ActivityLevel, text: str) -> None:
        log.log(logging.ERROR if level is ActivityLevel.ERROR else logging.INFO, "%s", text)

    for om in desk.managers.values():
        om.note = note
    try:
        write(f"kill switch on {endpoint.label} for {access.account} (deadline {settings.trading.kill_deadline_s:g} s)")
        leg = open_binance_leg(settings, endpoint, desk, endpoint.http_url)
        if leg is not None:
            leg.note = note
            write(f"kill switch on binance ({leg.client.base_url}) too")
        task = desk.start_kill("pfterm kill", started=t0)

        async def rounds() -> None:
            """One line per round sent, and per reading tried while nothing can be read."""
            while not task.done():
                status = desk.kill_status
                if status is not None and (status.rounds, status.attempts) != rounds_seen.get("all"):
                    rounds_seen["all"] = (status.rounds, status.attempts)
                    left = max(0.0, (status.deadline_mono or t0) - time.perf_counter())
                    if status.rounds:
                        write(
                            f"  round {status.rounds}: {status.cancelled} cancelled, {len(status.closed)} closed, "
                            f"{len(status.failures)} problem(s); {left:.1f} s left"
                        )
                    elif status.attempts:
                        why = status.failures[0] if status.failures else "no answer"
                        write(f"  try {status.attempts}: {why}; {left:.1f} s left")
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(rounds())
        report = await task
        watcher.cancel()
        for line in report.closed:
            write(f"  closed: {line}")
        for line in report.failures:
            write(f"  FAILED: {line}")
        write(report.summary())
        # the journal sync must not take the process past its deadline (1 s is left for the exit)
        budget = t0 + settings.trading.kill_deadline_s - 1.0 - time.perf_counter()
        for line in await desk.final_sync(min(budget, 2.0)):
            write(f"  journal: {line}")
        write(f"journal: {journal_path(settings)}")
        return report
    finally:
        await desk.aclose()
        if desk.journal is not None:
            desk.journal.close()


HARVEST_SHARE_SLACK = 1.05
"""The gate admits a harvest leg up to 5 % beyond the profile's per-market cap: the harvester
sizes a position at the cap at one price, and its legs fill, are matched and re-marked at
others."""


def harvest_limits(desk, hs) -> None:
    """Let the desk's risk gate admit the harvester's profile: its per-market cap
    (``max_per_market``, ``docs/domain.md`` §6, with :data:`HARVEST_SHARE_SLACK`) becomes the gate's
    market share when it is larger. Every other limit stays as configured."""
    limits = desk.settings.limits
    share = hs.profile.max_per_market * HARVEST_SHARE_SLACK
    if share > limits.max_market_share:
        wider = limits.model_copy(update={"max_market_share": share})
        desk.settings = desk.settings.model_copy(update={"limits": wider})


async def harvest_live(
    settings: Settings, endpoint: Endpoint, access: TradingAccess, hs, *, flatten_on_exit: bool = False
) -> int:
    """``pfterm harvest`` without ``--duration``: run the harvester until SIGTERM/SIGINT.

    Starts the embedded simulator when the venue is ``sim`` (at ``sim.speed``). The harvester
    trades through the same desk, gate, journal and shared trading state as a console: when
    another process halts the account (the kill key, ``pfterm kill``, the daily loss limit) it
    stops entering at once and waits; when the account is resumed (``R``, ``pfterm resume``) it
    carries on. On a stop signal it stops after its current step; positions are left as they
    are unless ``flatten_on_exit``, which runs the kill switch (carry spot legs included).
    Fills and funding are synced into the journal before the process exits. Returns the exit
    status: 0, or 1 when a flatten did not end flat.
    """
    import signal
    import time

    from pfterm.core.harvest.harvester import Harvester
    from pfterm.core.trading.risk import TradingState
    from pfterm.core.trading.state import POLL_S

    sim = None
    http_url = endpoint.http_url
    if endpoint.embedded:
        sim = EmbeddedSimulator(settings.sim.seed, settings.sim.speed, settings.sim.cascade_rate)
        http_url = await sim.start()
    assert http_url is not None
    rate = endpoint.clock_rate or 1.0
    t0 = time.time()
    venue_now = lambda: int((t0 + (time.time() - t0) * rate) * 1000)  # noqa: E731
    desk = open_desk(settings, endpoint, access, http_url, origin="pfterm harvest", venue_now_ms=venue_now)
    harvest_limits(desk, hs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    poll = None
    try:
        await desk.start()
        hedge = None
        if access.can_trade:
            hedge = await open_hedge(
                settings,
                endpoint,
                desk,
                http_url,
                rate=rate,
                credentials=sim.binance_credentials if sim is not None else None,
            )
        harvester = Harvester(desk, hs, now_ms=venue_now, hedge=hedge)
        poll = asyncio.create_task(desk.run(), name="account-poll")
        log.info("harvester starting on %s as %s (profile %s)", endpoint.label, access.account, hs.profile.name)
        settle_heap()  # start-up is over: full collections never walk its objects again
        stopper = asyncio.create_task(stop.wait())
        run: asyncio.Task[None] | None = None
        while not stop.is_set():
            if desk.state is TradingState.HALTED:
                rec = desk.state_record
                log.warning("trading HALTED by %s (%s): the harvester waits for a resume", rec.origin, rec.reason)
                while desk.state is TradingState.HALTED and not stop.is_set():
                    await asyncio.wait({stopper}, timeout=POLL_S)
                if stop.is_set():
                    break
                log.info("trading resumed by %s: the harvester carries on", desk.state_record.origin)
                harvester.status = "stopped"
            run = asyncio.create_task(harvester.run(wall_per_venue_s=1.0 / rate), name="harvester")
            done, _ = await asyncio.wait({run, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if run in done and run.exception() is not None:
                log.error("harvester failed: %s", run.exception())
                code = 1
                break
            if stopper in done:
                break
            if desk.state is not TradingState.HALTED:
                break  # the harvester stopped for a reason of its own (logged by it)
        log.info("harvester stopping (%s)", "signal" if stop.is_set() else harvester.status)
        stopper.cancel()
        await harvester.stop()
        if run is not None and not run.done():
            run.cancel()  # and awaited: nothing of it may still run when the clients close
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run
        if flatten_on_exit:
            report = await desk.kill(reason="flatten on exit")
            log.info("%s", report.summary())
            code = 0 if report.flat else 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await desk.stop()
        if poll is not None:
            poll.cancel()
        for line in await desk.final_sync(5.0):
            log.warning("%s", line)
        await desk.aclose()
        if desk.journal is not None:
            desk.journal.close()
        if sim is not None:
            await sim.stop()
    return code
