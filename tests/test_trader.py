"""The order manager and kill switch (``core.trading.Trader``) end to end against the simulator
over 127.0.0.1: journalling, risk refusals, kill switch with many positions and orders
(including partial failures), hedge/rebalance sizes, restart reconciliation, lost answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from core.credentials import TradingAccess
from core.journal import Journal
from core.models import OrderIntent
from core.portfolio import KillPhase, TicketRequest
from core.risk import RiskLimits, TradingState
from core.sim.market import MarketModel
from core.sim.server import SimulatorServer
from core.sim.snapshot import load_snapshot
from core.trading import Trader, TraderSettings
from core.venues.hyperliquid.exchange import HyperliquidExchange
from core.venues.hyperliquid.orders import Cloid, round_price
from core.venues.hyperliquid.signing import Signer

START = 1_767_225_600_000 + 30 * 60 * 1000
_SNAPSHOT = load_snapshot()
LOOSE = RiskLimits(max_market_share=1.0, max_order_notional_usd=1e7, max_position_notional_usd=1e7, max_leverage=20)


@pytest.fixture
async def server() -> AsyncIterator[SimulatorServer]:
    model = MarketModel(_SNAPSHOT, seed=3, start_ms=START, cascade_rate_per_hour=0.0)
    srv = SimulatorServer(model, speed=0.0, tick_hz=50.0, starting_usdc=100_000.0)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def _trader(
    server: SimulatorServer,
    journal: Journal,
    signer: Signer,
    *,
    limits: RiskLimits = LOOSE,
    transport: httpx.AsyncBaseTransport | None = None,
    **settings: object,
) -> Trader:
    access = TradingAccess(signer, signer.address, "sim", None, "test")
    ex = HyperliquidExchange(server.http_url or "", signer, is_mainnet=True, transport=transport, timeout_s=5.0)
    settings.setdefault("kill_deadline_s", 5.0)
    s = TraderSettings(limits=limits, **settings)  # type: ignore[arg-type]
    return Trader(access, ex, journal, s, venue="sim")


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "journal.sqlite")
    yield j
    j.close()


def _market_order(trader: Trader, symbol: str, is_buy: bool, usd: float) -> OrderIntent:
    quote = trader.quote(TicketRequest(symbol, is_buy, usd, True, None, "Ioc", False))
    assert quote.intent is not None and quote.refusal is None, quote.refusal
    return quote.intent


def _resting(trader: Trader, symbol: str, is_buy: bool, usd: float, away: float = 0.2) -> OrderIntent:
    mark = trader.mark(symbol)
    assert mark is not None
    px = mark * (1 - away if is_buy else 1 + away)
    quote = trader.quote(TicketRequest(symbol, is_buy, usd, True, px, "Gtc", False))
    assert quote.intent is not None, quote.refusal
    return quote.intent


LIQUID = ["BTC", "ETH", "SOL", "HYPE", "XRP", "DOGE", "AVAX", "LINK", "SUI", "BNB"]


async def test_order_is_journalled_before_and_after(server: SimulatorServer, journal: Journal) -> None:
    trader = _trader(server, journal, Signer.generate())
    await trader.start()
    intent = _market_order(trader, "BTC", True, 2_000)
    [out] = await trader.submit([intent])
    assert out.status == "filled", out.message
    stored = journal.intent(intent.cloid)
    assert stored is not None and stored.state == "filled" and stored.sent_ms is not None
    assert stored.filled_sz == pytest.approx(intent.size)
    await trader.refresh()
    [pos] = [p for p in trader.account.state.positions if p.symbol == "BTC"]
    assert pos.size == pytest.approx(intent.size)
    view = trader.view()
    assert view.positions[0].symbol == "BTC" and view.positions[0].side == "LONG"
    assert any("filled" in a.text for a in view.activity)
    await trader.exchange.aclose()


async def test_risk_refusal_sends_nothing(server: SimulatorServer, journal: Journal) -> None:
    trader = _trader(server, journal, Signer.generate(), limits=RiskLimits(max_order_notional_usd=1_000))
    await trader.start()
    intent = _market_order(trader, "ETH", True, 500)
    big = trader.quote(TicketRequest("ETH", True, 5_000, True, None, "Ioc", False))
    assert big.refusal is not None and "order notional" in big.refusal
    [out] = await trader.submit([big.intent])
    assert out.status == "refused" and journal.intent(big.intent.cloid) is None
    assert any(e.kind == "refusal" for e in journal.events())
    [ok] = await trader.submit([intent])
    assert ok.status == "filled"
    await trader.exchange.aclose()


async def test_kill_switch_flattens_many_positions_and_orders(server: SimulatorServer, journal: Journal) -> None:
    trader = _trader(server, journal, Signer.generate())
    await trader.start()
    opens = [_market_order(trader, s, i % 2 == 0, 1_500) for i, s in enumerate(LIQUID)]
    rests = [_resting(trader, s, i % 2 == 1, 300, away=0.02 + 0.001 * k) for k in range(3) for i, s in enumerate(LIQUID)]
    outs = await trader.submit(opens + rests)
    assert [o.status for o in outs].count("filled") == len(LIQUID)
    assert [o.status for o in outs].count("resting") == len(rests)
    await trader.refresh()
    assert len(trader.account.orders) == len(rests)

    report = await trader.kill()
    assert report.flat, report.failures
    assert report.cancelled == len(rests)
    assert len(report.closed) >= len(LIQUID)
    assert report.acked_ms is not None and report.acked_ms <= report.elapsed_ms
    assert trader.state is TradingState.HALTED
    assert trader.kill_status is not None and trader.kill_status.phase is KillPhase.FLAT

    state = await trader.exchange.account_state()
    assert not [p for p in state.positions if p.size != 0]
    assert await trader.exchange.open_orders() == []
    kills = [i for i in journal.intents() if i.purpose == "kill"]
    assert len(kills) >= len(LIQUID) and all(i.state == "filled" for i in kills)
    assert all(i.state == "cancelled" for i in journal.intents() if i.tif == "Gtc")
    [result] = [e for e in journal.events() if e.kind == "kill_result"]
    assert result.detail["flat"] is True and result.detail["cancelled"] == len(rests)

    # HALTED: opening orders are refused, reduce-only closes would pass
    again = trader.quote(TicketRequest("BTC", True, 1_000, True, None, "Ioc", False))
    assert again.intent is not None and "halted" in (again.refusal or "")
    again = again.intent
    trader.resume()
    assert trader.check(again) is None
    await trader.exchange.aclose()


async def test_kill_switch_reports_what_it_cannot_close(server: SimulatorServer, journal: Journal) -> None:
    trader = _trader(server, journal, Signer.generate(), kill_deadline_s=0.6)
    await trader.start()
    await trader.submit([_market_order(trader, s, True, 1_000) for s in ("BTC", "ETH")])
    del trader.markets["ETH"]  # metadata gone: the ETH close cannot be built
    report = await trader.kill()
    assert not report.flat
    assert [p.symbol for p in report.remaining_positions] == ["ETH"]
    assert any("ETH" in f for f in report.failures)
    assert any(c.startswith("BTC sold") for c in report.closed)
    assert trader.kill_status is not None and trader.kill_status.phase is KillPhase.FAILED
    assert "NOT FLAT" in trader.kill_status.message
    await trader.exchange.aclose()


async def test_hedge_and_rebalance_sizes(server: SimulatorServer, journal: Journal) -> None:
    trader = _trader(server, journal, Signer.generate(), external_spot={"ETH": 2.0}, rebalance_threshold=0.05)
    await trader.start()
    [out] = await trader.submit([_market_order(trader, "BTC", True, 3_000)])
    await trader.refresh()
    btc = trader.account.state.positions[0].size
    preview, refusal = trader.preview_hedge("BTC")
    assert refusal is None and preview is not None
    assert not preview.intent.is_buy and preview.size == pytest.approx(btc)
    assert abs(preview.delta_after_usd) < abs(preview.delta_before_usd) * 0.01
    assert preview.intent.reduce_only  # it only shrinks the long

    view, refusal = trader.preview_rebalance()
    by_coin = {h.intent.symbol: h for h in view.hedges}
    assert set(by_coin) == {"BTC", "ETH"}
    eth_mark = trader.mark("ETH")
    assert by_coin["ETH"].size == pytest.approx(2.0, abs=10 ** -trader.markets["ETH"].sz_decimals)
    assert not by_coin["ETH"].intent.is_buy and eth_mark is not None
    assert all(h.intent.purpose == "rebalance" for h in view.hedges)
    outs = await trader.submit([h.intent for h in view.hedges])
    assert all(o.status == "filled" for o in outs), [o.message for o in outs]
    await trader.refresh()
    for row in trader.view().portfolio.deltas:
        assert row.ratio < 0.05, row
    await trader.exchange.aclose()


async def test_read_only_trader_refuses_with_reason(journal: Journal) -> None:
    access = TradingAccess(None, None, "mainnet", "no key: set PFTERM_HL_PRIVATE_KEY")
    trader = Trader(access, None, journal)
    await trader.start()
    intent = OrderIntent("BTC", 0, True, 0.01, 60_000.0, "Ioc", False, Cloid.new().raw, "manual")
    [out] = await trader.submit([intent])
    assert out.status == "refused" and "read-only" in out.message
    view = trader.view()
    assert view.portfolio.read_only and "PFTERM_HL_PRIVATE_KEY" in view.portfolio.read_only
    report = await trader.kill()
    assert not report.flat and "read-only" in report.failures[0]


async def test_restart_reconciles_and_never_resends(server: SimulatorServer, tmp_path: Path) -> None:
    signer = Signer.generate()
    path = tmp_path / "j.sqlite"
    with Journal(path) as j1:
        t1 = _trader(server, j1, signer)
        await t1.start()
        rest = _resting(t1, "BTC", True, 500)
        [out] = await t1.submit([rest])
        assert out.status == "resting"
        # a crash between journalling and sending: an intent that never left the process
        ghost = _market_order(t1, "ETH", True, 1_000)
        j1.record_intent(
            cloid=ghost.cloid, symbol="ETH", asset=ghost.asset_id, side="B", size=ghost.size,
            price=ghost.limit_px, tif="Ioc", purpose="manual", venue="sim",
        )  # fmt: skip
        await t1.exchange.aclose()
    with Journal(path) as j2:
        t2 = _trader(server, j2, signer)
        await t2.start()
        assert j2.intent(rest.cloid).state == "acked"
        gone = j2.intent(ghost.cloid)
        assert gone.state == "cancelled" and "not resent" in (gone.error or "")
        assert not [p for p in t2.account.state.positions if p.symbol == "ETH"]
        assert any("never reached the venue" in a.text for a in t2.activity)
        await t2.exchange.aclose()


class _LoseAnswers(httpx.AsyncBaseTransport):
    """Delivers requests to the venue but loses the answers of ``/exchange`` (a timeout)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.lose = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.lose and request.url.path == "/exchange":
            await response.aread()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_lost_answer_is_reconciled_not_resent(server: SimulatorServer, journal: Journal) -> None:
    transport = _LoseAnswers()
    trader = _trader(server, journal, Signer.generate(), transport=transport)
    await trader.start()
    intent = _market_order(trader, "SOL", True, 1_000)
    transport.lose = True
    [out] = await trader.submit([intent])
    transport.lose = False
    assert out.status == "unknown"
    await trader.reconcile()
    stored = journal.intent(intent.cloid)
    assert stored.state == "filled" and stored.filled_sz == pytest.approx(intent.size)
    fills = journal.fills(symbol="SOL")
    assert len(fills) >= 1 and sum(f.sz for f in fills) == pytest.approx(intent.size)
    await trader.refresh()
    [pos] = [p for p in trader.account.state.positions if p.symbol == "SOL"]
    assert pos.size == pytest.approx(intent.size)  # exactly one order reached the venue
    await trader.exchange.aclose()


async def test_ticket_quote_rounds_and_validates(server: SimulatorServer, journal: Journal) -> None:
    trader = _trader(server, journal, Signer.generate())
    await trader.start()
    mark = trader.mark("BTC")
    q = trader.quote(TicketRequest("BTC", False, 0.123456789, False, mark * 1.01, "Alo", False))
    assert q.refusal is None and q.intent.size == 0.12345 and q.intent.tif == "Alo"
    assert q.intent.limit_px == round_price(mark * 1.01, trader.markets["BTC"].sz_decimals)
    cross = trader.quote(TicketRequest("BTC", True, 0.01, False, mark * 1.01, "Alo", False))
    assert cross.refusal and "post-only" in cross.refusal
    tiny = trader.quote(TicketRequest("BTC", True, 5, True, None, "Ioc", False))
    assert tiny.refusal and "$10 minimum" in tiny.refusal
    assert trader.quote(TicketRequest("NOPE", True, 1, False, None, "Ioc", False)).refusal
    fat = trader.quote(TicketRequest("BTC", True, 0.01, False, mark * 1.2, "Gtc", False))
    assert fat.refusal and "from mark" in fat.refusal
    await trader.exchange.aclose()


async def test_hedge_counts_venue_spot_as_delta(server: SimulatorServer, journal: Journal) -> None:
    """Cash-and-carry: spot UBTC bought on the venue is BTC delta, hedged by a perp short."""
    from core.models import MarketInfo

    trader = _trader(server, journal, Signer.generate())
    await trader.start()
    ubtc = MarketInfo("hyperliquid", "@142", 10142, 5, 1)
    mid = (await trader.exchange.info.all_mids())["@142"]
    px = round_price(mid * 1.01, 5, is_spot=True)
    intent = OrderIntent("@142", 10142, True, 0.05, px, "Ioc", False, Cloid.new().raw, "test")
    [res] = await trader.exchange.place([intent], {"@142": ubtc})
    assert res.status == "filled", res.error
    await trader.refresh()
    [spot] = trader.account.spot
    assert spot.coin == "BTC" and 0.0499 < spot.total <= 0.05  # UBTC mapped to BTC; fee paid in UBTC
    preview, refusal = trader.preview_hedge("BTC")
    assert refusal is None and preview is not None
    assert not preview.intent.is_buy and not preview.intent.reduce_only
    assert preview.size == pytest.approx(spot.total, abs=1e-5)
    [out] = await trader.submit([preview.intent])
    assert out.status == "filled"
    await trader.refresh()
    [row] = trader.view().portfolio.deltas
    assert row.coin == "BTC" and abs(row.delta_usd) < 0.00001 * mid + 1 and row.spot_qty == pytest.approx(spot.total)
    await trader.exchange.aclose()


async def test_dead_man_switch_cancels_orders_when_the_heartbeat_stops(server: SimulatorServer, journal: Journal) -> None:
    import asyncio

    trader = _trader(server, journal, Signer.generate(), dead_man_switch=True, dead_man_lead_s=30.0,
                     dead_man_heartbeat_s=0.2)  # fmt: skip
    trader._venue_now_ms = lambda: server.model.now_ms
    await trader.start()
    [out] = await trader.submit([_resting(trader, "BTC", True, 500)])
    assert out.status == "resting"
    for _ in range(100):
        if trader._dead_man_armed:
            break
        await asyncio.sleep(0.02)
    assert trader._dead_man_armed and any("dead man's switch armed" in a.text for a in trader.activity)
    # pfterm "dies": the heartbeat stops without disarming
    for task in trader._tasks:
        task.cancel()
    trader._dead_man_armed = False
    server.speed = 600.0  # 60 sim seconds in 0.1 s: past the 30 s lead
    for _ in range(200):
        if not await trader.exchange.open_orders():
            break
        await asyncio.sleep(0.02)
    assert await trader.exchange.open_orders() == []
    await trader.exchange.aclose()


async def test_clean_stop_disarms_the_dead_man_switch(server: SimulatorServer, journal: Journal) -> None:
    import asyncio

    trader = _trader(server, journal, Signer.generate(), dead_man_switch=True, dead_man_lead_s=30.0,
                     dead_man_heartbeat_s=0.2)  # fmt: skip
    trader._venue_now_ms = lambda: server.model.now_ms
    await trader.start()
    [out] = await trader.submit([_resting(trader, "ETH", False, 500)])
    for _ in range(100):
        if trader._dead_man_armed:
            break
        await asyncio.sleep(0.02)
    await trader.stop()
    assert any(e.kind == "dead_man_switch" and "disarmed" in e.message for e in journal.events())
    server.speed = 600.0
    await asyncio.sleep(0.3)
    assert [o.oid for o in await trader.exchange.open_orders()] == [out.result.oid]  # still resting
    await trader.exchange.aclose()
