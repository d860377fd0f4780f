"""The venue contract: what every trading venue's client must do under pfterm's one order path.

Each test runs once per venue (Hyperliquid and Binance USDⓈ-M, both served by the embedded
simulator over 127.0.0.1 on a lockstep clock) through the same
:class:`~pfterm.core.trading.orders.OrderManager` and :class:`~pfterm.core.trading.desk.Desk`: place and
cancel, batches longer than the venue takes, IOC fills synced into the journal, reduce-only
never opening, a lost answer settled by cloid and never resent, restart reconciliation, the
kill switch to flat, the dead man's switch, funding synced from the last payment. A new venue
only has to implement :class:`~pfterm.core.trading.venue.ExchangeClient` and join ``VENUES`` here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from pfterm.core.market.models import OrderIntent
from pfterm.core.sim.market import HOUR_MS, MarketModel
from pfterm.core.sim.server import SimulatorServer
from pfterm.core.sim.snapshot import load_snapshot
from pfterm.core.trading.credentials import TradingAccess
from pfterm.core.trading.desk import Desk, DeskSettings
from pfterm.core.trading.journal import Journal
from pfterm.core.trading.kill import kill_venue
from pfterm.core.trading.orders import OrderManager
from pfterm.core.trading.risk import RiskLimits
from pfterm.core.venues.binance.futures import BinanceCredentials
from pfterm.core.venues.hyperliquid.orders import Cloid
from pfterm.core.venues.hyperliquid.signing import Signer
from tests.desks import binance_manager, hyperliquid_manager

if TYPE_CHECKING:
    from tests.conftest import StartSimulator

START = 1_767_225_600_000 + 7 * HOUR_MS + 30 * 60_000
"""2026-01-01 07:30 UTC: 30 minutes before a settlement of both venues (hourly and 8-hourly)."""
_SNAPSHOT = load_snapshot()
_KEY = "contractkey" + "A" * 53
_SECRET = "contractsecret" + "b" * 50
LOOSE = RiskLimits(
    max_market_share=1.0,
    max_order_notional_usd=1e7,
    max_position_notional_usd=1e7,
    max_leverage=20,
    max_venue_share=1.0,
)
VENUES = ["hyperliquid", "binance"]
SYMBOLS = ["BTC", "ETH", "SOL"]


class LoseAnswers(httpx.AsyncBaseTransport):
    """Delivers requests to the venue but loses the answers of order requests (``lose`` on)."""

    ORDER_PATHS = ("/exchange", "/fapi/v1/batchOrders", "/fapi/v1/order")

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.lose = False
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.lose and request.method == "POST" and request.url.path in self.ORDER_PATHS:
            await response.aread()
            self.lost += 1
            raise httpx.ReadTimeout("answer lost", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Venue:
    """One venue under test: its simulator, manager, desk, journal and transport."""

    name: str
    server: SimulatorServer
    model: MarketModel
    om: OrderManager
    desk: Desk
    journal: Journal
    path: Path
    transport: LoseAnswers

    def mid(self, symbol: str) -> float:
        px = self.om.mids.get(symbol)
        assert px, symbol
        return px

    def marketable(self, symbol: str, is_buy: bool, usd: float, *, reduce_only: bool = False) -> OrderIntent:
        mid = self.mid(symbol)
        it = self.om.ioc(symbol, is_buy, usd / mid, mid, 0.01, reduce_only=reduce_only, purpose="test")
        assert it is not None
        return it

    def resting(self, symbol: str, is_buy: bool, usd: float, away: float = 0.2) -> OrderIntent:
        inst = self.om.instrument(symbol)
        assert inst is not None
        mid = self.mid(symbol)
        px = inst.rules.round_price(mid * (1 - away if is_buy else 1 + away))
        size = inst.rules.floor_size(usd / px)
        return OrderIntent(symbol, inst.asset_id, is_buy, size, px, "Gtc", False, Cloid.new().raw, "test")


def _manager(
    name: str, url: str, journal: Journal, transport: LoseAnswers, model: MarketModel, signer: Signer
) -> OrderManager:
    clock = lambda: model.now_ms  # noqa: E731
    if name == "hyperliquid":
        return hyperliquid_manager(url, signer, journal, transport=transport, clock=clock)
    return binance_manager(
        url, BinanceCredentials(_KEY, _SECRET), journal, max_leverage=10, clock_ms=clock, transport=transport
    )


@pytest.fixture(params=VENUES)
async def venue(
    request: pytest.FixtureRequest, tmp_path: Path, start_simulator: StartSimulator
) -> AsyncIterator[Venue]:
    model = MarketModel(_SNAPSHOT, seed=5, start_ms=START, cascade_rate_per_hour=0.0)
    server = SimulatorServer(
        model, speed=0, lockstep=True, tick_hz=5.0, starting_usdc=100_000.0, binance_credentials=[(_KEY, _SECRET)]
    )
    await start_simulator(server)
    path = tmp_path / "journal.sqlite"
    journal = Journal(path, clock=lambda: model.now_ms)
    transport = LoseAnswers()
    signer = Signer.generate()
    om = _manager(request.param, server.http_url or "", journal, transport, model, signer)
    access = TradingAccess(signer, signer.address, "sim", None, "test")
    desk = Desk(
        access,
        om,
        journal,
        DeskSettings(limits=LOOSE, kill_deadline_s=5.0),
        origin="contract",
        wall_ms=lambda: model.now_ms,
    )
    try:
        assert await desk.start_venue(om), om.error
        await om.refresh(mids=True)
        yield Venue(request.param, server, model, om, desk, journal, path, transport)
    finally:
        await om.aclose()
        journal.close()


async def _book(v: Venue, positions: int = 3, orders: int = 3) -> None:
    outs = await v.desk.submit(
        [v.marketable(s, i % 2 == 0, 2_000) for i, s in enumerate(SYMBOLS[:positions])], venue=v.name
    )
    assert all(o.status == "filled" for o in outs), [o.message for o in outs]
    rest = await v.desk.submit([v.resting(SYMBOLS[i % len(SYMBOLS)], True, 500) for i in range(orders)], venue=v.name)
    assert all(o.status == "resting" for o in rest), [o.message for o in rest]


async def test_place_rest_and_cancel_are_journalled(venue: Venue) -> None:
    intent = venue.resting("BTC", True, 500)
    [out] = await venue.desk.submit([intent], venue=venue.name)
    assert out.status == "resting" and out.answer is not None and out.answer.oid
    aj = venue.om.journal
    assert aj is not None and aj.intent(intent.cloid).state == "acked"
    snap = await venue.om.refresh()
    [order] = [o for o in snap.orders if o.oid == out.answer.oid]
    assert order.cloid == intent.cloid and order.is_buy and order.size == pytest.approx(intent.size)
    done, failures = await venue.desk.cancel([order], venue=venue.name)
    assert (done, failures) == (1, [])
    assert not (await venue.om.refresh()).orders
    statuses = [c.status for c in aj.cancels(cloid=intent.cloid)]
    assert statuses == ["requested", "cancelled"]


async def test_a_batch_longer_than_the_venue_takes_is_split(venue: Venue) -> None:
    n = venue.om.client.capabilities.batch_max + 2 if venue.om.client.capabilities.batch_max < 50 else 12
    intents = [venue.resting(SYMBOLS[i % 3], i % 2 == 0, 300, away=0.2 + 0.01 * (i // 3)) for i in range(n)]
    outs = await venue.om.send(intents)
    assert [o.status for o in outs] == ["resting"] * n, [o.message for o in outs if o.status != "resting"]
    snap = await venue.om.refresh()
    assert {o.cloid for o in snap.orders} == {it.cloid for it in intents}


async def test_ioc_fills_and_its_fills_are_synced_into_the_journal(venue: Venue) -> None:
    intent = venue.marketable("ETH", True, 3_000)
    [out] = await venue.desk.submit([intent], venue=venue.name)
    assert out.status == "filled" and out.filled_sz == pytest.approx(intent.size)
    assert venue.om.position_size("ETH") == 0.0  # not read yet
    await venue.om.refresh()
    assert venue.om.position_size("ETH") == pytest.approx(intent.size)
    new_fills, _ = await venue.om.sync()
    assert new_fills >= 1
    aj = venue.om.journal
    assert aj is not None
    assert sum(f.sz for f in aj.fills(symbol="ETH")) == pytest.approx(intent.size)
    assert aj.intent(intent.cloid).state == "filled"
    again, _ = await venue.om.sync()
    assert again == 0  # idempotent: nothing journalled twice


async def test_reduce_only_never_opens_a_position(venue: Venue) -> None:
    [out] = await venue.om.send([venue.marketable("SOL", False, 1_000, reduce_only=True)])
    assert out.status == "error"
    await venue.om.refresh()
    assert venue.om.position_size("SOL") == 0.0
    [opened] = await venue.om.send([venue.marketable("SOL", True, 1_000)])
    assert opened.status == "filled"
    await venue.om.refresh()
    held = venue.om.position_size("SOL")
    inst = venue.om.instrument("SOL")
    assert inst is not None
    # a reduce-only sell twice the size closes the position and does not flip it
    big = venue.om.ioc("SOL", False, 2 * held, venue.mid("SOL"), 0.01, reduce_only=True, purpose="test")
    assert big is not None
    [closed] = await venue.om.send([big])
    assert closed.status == "filled"
    await venue.om.refresh()
    assert venue.om.position_size("SOL") == 0.0


async def test_a_lost_answer_is_settled_by_cloid_and_never_resent(venue: Venue) -> None:
    intent = venue.marketable("SOL", True, 1_000)
    venue.transport.lose = True
    try:
        [out] = await venue.desk.submit([intent], venue=venue.name)
    finally:
        venue.transport.lose = False
    assert venue.transport.lost == 1
    assert out.status == "filled", out.message  # settled by asking the venue, not resent
    aj = venue.om.journal
    assert aj is not None and aj.intent(intent.cloid).state == "filled"
    await venue.om.refresh()
    assert venue.om.position_size("SOL") == pytest.approx(intent.size)  # exactly one order reached the venue


async def test_restart_reconciles_and_never_resends(venue: Venue) -> None:
    rest = venue.resting("BTC", True, 500)
    [out] = await venue.om.send([rest])
    assert out.status == "resting"
    aj = venue.om.journal
    assert aj is not None
    ghost = venue.marketable("ETH", True, 1_000)  # journalled, then the process died before sending
    aj.record_intents(
        [
            {
                "cloid": ghost.cloid,
                "symbol": "ETH",
                "asset": ghost.asset_id,
                "side": "B",
                "size": ghost.size,
                "price": ghost.limit_px,
                "tif": "Ioc",
                "purpose": "manual",
            }
        ]
    )
    again = _manager(
        venue.name, venue.server.http_url or "", venue.journal, LoseAnswers(), venue.model, Signer.generate()
    )
    again.client.ref = venue.om.ref  # the same account, a new process
    if venue.name == "hyperliquid":
        again.client.exchange = venue.om.client.exchange  # type: ignore[attr-defined]
        again.client.info = venue.om.client.info  # type: ignore[attr-defined]
    again.journal = venue.journal.for_account(venue.om.ref)
    await again.load_instruments()
    await again.reconcile()
    assert aj.intent(rest.cloid).state == "acked"
    gone = aj.intent(ghost.cloid)
    assert gone.state == "cancelled" and "not resent" in (gone.error or "")
    await venue.om.refresh()
    assert venue.om.position_size("ETH") == 0.0


async def test_the_kill_switch_ends_flat(venue: Venue) -> None:
    await _book(venue)
    snap = await venue.om.refresh()
    assert len([p for p in snap.account.positions if p.size]) == 3 and len(snap.orders) == 3
    mono = asyncio.get_running_loop().time
    report = await kill_venue(venue.om, deadline=mono() + 5.0, slippage=0.05, mono=mono, gate=venue.desk.gate)
    assert report.flat, report.failures
    assert report.cancelled == 3 and len(report.closed) == 3
    assert (await venue.om.refresh()).flat


async def test_the_dead_man_switch_cancels_orders_when_the_heartbeat_stops(venue: Venue) -> None:
    [out] = await venue.om.send([venue.resting("BTC", True, 500)])
    assert out.status == "resting"
    await venue.om.refresh()
    venue.om.dead_man_lead_s = 30.0
    venue.om.dead_man_heartbeat_s = 0.1
    beat = asyncio.create_task(venue.om.dead_man_loop())
    for _ in range(100):
        if venue.om._dead_man_armed:  # noqa: SLF001
            break
        await asyncio.sleep(0.02)
    beat.cancel()  # pfterm dies: the heartbeat stops without disarming
    assert venue.om._dead_man_armed  # noqa: SLF001
    await venue.server.advance(20)
    assert (await venue.om.refresh()).orders  # within the lead: still working
    await venue.server.advance(20)
    assert not (await venue.om.refresh()).orders


async def test_funding_is_synced_from_the_last_payment(venue: Venue) -> None:
    [out] = await venue.om.send([venue.marketable("BTC", False, 5_000)])
    assert out.status == "filled"
    await venue.om.refresh()
    await venue.server.advance(3_600)  # past the 08:00 settlement of both venues
    await venue.om.refresh()
    _, payments = await venue.om.sync()
    assert payments >= 1
    aj = venue.om.journal
    assert aj is not None
    cursor = aj.sync_cursor("funding")
    assert cursor is not None and cursor >= START + 30 * 60_000
    _, again = await venue.om.sync()
    assert again == 0
    rows = aj.funding(since_ms=START)
    assert rows and all(p.symbol == "BTC" and p.size < 0 for p in rows)
