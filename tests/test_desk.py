"""The Hyperliquid desk (:class:`pfterm.core.trading.desk.Desk`) end to end against the embedded
simulator over 127.0.0.1 on a lockstep clock: the risk gate (refusals journalled, nothing
sent), the trading state shared by every process on the account (HALTED, REDUCING, a halt by
one desk seen by another on the same journal file), the per-venue notional share, the daily
loss limit counted across venues with spot, the kill switch (many positions and orders, what it
cannot close, through request faults and a dead venue), hedge and rebalance sizes, venue spot
as delta, the read-only desk, the dead man's switch disarmed on a clean stop and ticket quotes.

What every venue must do (place, cancel, batches, lost answers, restart reconcile, kill to flat
on one venue, funding sync) is in ``tests/contract``."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from pfterm.core.market.models import OrderIntent, Position, SpotBalance
from pfterm.core.sim.market import MarketModel
from pfterm.core.sim.server import SimulatorServer
from pfterm.core.sim.snapshot import load_snapshot
from pfterm.core.trading.credentials import TradingAccess
from pfterm.core.trading.desk import Desk, DeskSettings
from pfterm.core.trading.journal import Journal
from pfterm.core.trading.portfolio import KillPhase, TicketRequest
from pfterm.core.trading.risk import RiskLimits, TradingState
from pfterm.core.trading.venue import AccountSnapshot
from pfterm.core.venues.hyperliquid.orders import Cloid, round_price
from pfterm.core.venues.hyperliquid.signing import Signer
from tests.desks import desk_on

if TYPE_CHECKING:
    from tests.conftest import StartSimulator

START = 1_767_225_600_000 + 30 * 60 * 1000
"""2026-01-01 00:30 UTC."""
_SNAPSHOT = load_snapshot()
LOOSE = RiskLimits(
    max_market_share=1.0,
    max_order_notional_usd=1e7,
    max_position_notional_usd=1e7,
    max_leverage=20,
    max_venue_share=1.0,
)
LIQUID = ["BTC", "ETH", "SOL", "HYPE", "XRP", "DOGE", "AVAX", "LINK", "SUI", "BNB"]
USDC = 100_000.0


class Flaky(httpx.AsyncBaseTransport):
    """Fails a seeded-random fraction ``rate`` of requests with one of ``kinds``: HTTP ``"500"``
    or ``"429"`` and a connection ``"reset"``, none of them forwarded, or ``"drop"``: the
    request reaches the venue (it takes effect) and its answer is lost."""

    def __init__(self, seed: int = 0, kinds: tuple[str, ...] = ("500", "429", "reset", "drop")) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.rng = random.Random(seed)
        self.kinds = kinds
        self.rate = 0.0
        self.requests = 0
        self.forwarded = 0
        self.faults: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.rate and self.rng.random() < self.rate:
            kind = self.rng.choice(self.kinds)
            self.faults[kind] += 1
            if kind == "500":
                return httpx.Response(500, text="internal error", request=request)
            if kind == "429":
                return httpx.Response(429, headers={"Retry-After": "0"}, text="too many requests", request=request)
            if kind == "reset":
                raise httpx.ReadError("connection reset by peer", request=request)
            self.forwarded += 1
            response = await self.inner.handle_async_request(request)
            await response.aread()
            raise httpx.ReadError("connection closed without an answer", request=request)
        self.forwarded += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Env:
    server: SimulatorServer
    model: MarketModel
    journal: Journal
    path: Path
    desks: list[Desk]

    @property
    def url(self) -> str:
        return self.server.http_url or ""

    def clock(self) -> int:
        return self.model.now_ms

    async def desk(
        self,
        signer: Signer | None = None,
        *,
        journal: Journal | None = None,
        limits: RiskLimits = LOOSE,
        origin: str = "console",
        transport: httpx.AsyncBaseTransport | None = None,
        **settings: object,
    ) -> Desk:
        """A started desk for ``signer``'s account (a new account by default)."""
        settings.setdefault("kill_deadline_s", 5.0)
        s = DeskSettings(limits=limits, **settings)  # type: ignore[arg-type]
        desk = desk_on(
            self.url,
            signer or Signer.generate(),
            journal or self.journal,
            s,
            clock=self.clock,
            origin=origin,
            transport=transport,
            timeout_s=5.0,
        )
        self.desks.append(desk)
        await desk.start()
        assert desk.error is None, desk.error
        return desk


@pytest.fixture
async def env(tmp_path: Path, start_simulator: StartSimulator) -> AsyncIterator[Env]:
    model = MarketModel(_SNAPSHOT, seed=3, start_ms=START, cascade_rate_per_hour=0.0)
    server = await start_simulator(SimulatorServer(model, speed=0, lockstep=True, tick_hz=5.0, starting_usdc=USDC))
    path = tmp_path / "journal.sqlite"
    journal = Journal(path, clock=lambda: model.now_ms)
    e = Env(server, model, journal, path, [])
    try:
        yield e
    finally:
        for desk in e.desks:
            if desk.kill_running:
                await desk.kill()
            await desk.aclose()
        journal.close()


def _market(desk: Desk, symbol: str, is_buy: bool, usd: float, *, reduce_only: bool = False) -> OrderIntent:
    quote = desk.quote(TicketRequest(symbol, is_buy, usd, True, None, "Ioc", reduce_only, "market"))
    assert quote.intent is not None and quote.refusal is None, quote.refusal
    return quote.intent


def _resting(desk: Desk, symbol: str, is_buy: bool, usd: float, away: float = 0.2) -> OrderIntent:
    mark = desk.mark(symbol)
    assert mark is not None
    px = mark * (1 - away if is_buy else 1 + away)
    quote = desk.quote(TicketRequest(symbol, is_buy, usd, True, px, "Gtc", False, "limit"))
    assert quote.intent is not None and quote.refusal is None, quote.refusal
    return quote.intent


async def _positions(desk: Desk) -> dict[str, float]:
    snap = await desk.refresh()
    return {p.symbol: p.size for p in snap.account.positions if p.size != 0}


# -- the risk gate ----------------------------------------------------------------------------


async def test_risk_refusal_sends_nothing_and_is_journalled(env: Env) -> None:
    desk = await env.desk(limits=RiskLimits(max_order_notional_usd=1_000))
    small = _market(desk, "ETH", True, 500)
    big = desk.quote(TicketRequest("ETH", True, 5_000, True, None, "Ioc", False, "market"))
    assert big.intent is not None and big.refusal is not None and "order notional" in big.refusal
    [out] = await desk.submit([big.intent])
    assert out.status == "refused" and "order notional" in out.message
    assert env.journal.intent(big.intent.cloid) is None  # never journalled as an order: never sent
    [refusal] = env.journal.events(kind="refusal")
    assert refusal.detail["cloid"] == big.intent.cloid and refusal.detail["venue"] == "hyperliquid"
    assert "order notional" in refusal.message
    assert await _positions(desk) == {}
    [ok] = await desk.submit([small])
    assert ok.status == "filled", ok.message
    assert (await _positions(desk))["ETH"] == pytest.approx(small.size)
    view = desk.view()
    assert [(r.symbol, r.side, r.venue) for r in view.positions] == [("ETH", "LONG", "")]
    assert any("filled" in a.text for a in view.activity) and any("order notional" in a.text for a in view.activity)


async def test_halted_refuses_every_opening_order_but_lets_reduce_only_closes_out(env: Env) -> None:
    desk = await env.desk()
    [opened] = await desk.submit([_market(desk, "BTC", True, 3_000)])
    assert opened.status == "filled"
    btc = (await _positions(desk))["BTC"]

    opening = [_market(desk, "ETH", True, 1_000), _market(desk, "BTC", True, 1_000), _market(desk, "SOL", False, 1_000)]
    unflagged = _market(desk, "BTC", False, 1_000)
    desk.set_state(TradingState.HALTED, "test halt")
    assert desk.state is TradingState.HALTED
    outs = await desk.submit(opening)
    assert [o.status for o in outs] == ["refused"] * 3, [o.message for o in outs]
    assert all("halted" in o.message for o in outs)
    assert all(env.journal.intent(it.cloid) is None for it in opening)
    # the same gate for the kill switch's own signature and for the ticket
    assert "halted" in (desk.gate("hyperliquid", opening[0]) or "")
    assert "halted" in (desk.quote(TicketRequest("ETH", True, 1_000, True, None, "Ioc", False, "market")).refusal or "")
    # a close that is not flagged reduce-only is refused too: in HALTED only reduce-only goes out
    [o] = await desk.submit([unflagged])
    assert o.status == "refused" and "reduce-only" in o.message
    assert await _positions(desk) == {"BTC": pytest.approx(btc)}  # nothing reached the venue

    mark = desk.mark("BTC")
    assert mark is not None
    close = desk.manager().ioc("BTC", False, btc, mark, 0.01, reduce_only=True, purpose="close")
    assert close is not None
    [closed] = await desk.submit([close])
    assert closed.status == "filled", closed.message
    assert await _positions(desk) == {}
    assert env.journal.intent(close.cloid).state == "filled"


async def test_reducing_refuses_orders_that_add_exposure(env: Env) -> None:
    desk = await env.desk()
    [opened] = await desk.submit([_market(desk, "ETH", False, 4_000)])
    assert opened.status == "filled"
    eth = (await _positions(desk))["ETH"]
    assert eth < 0
    adds = [_market(desk, "ETH", False, 1_000), _market(desk, "SOL", True, 1_000)]
    desk.set_state(TradingState.REDUCING, "test")
    outs = await desk.submit(adds)
    assert [o.status for o in outs] == ["refused", "refused"]
    assert all("reducing only" in o.message for o in outs)
    # buying back half the short shrinks it: allowed without the reduce-only flag
    mark = desk.mark("ETH")
    assert mark is not None
    half = desk.manager().ioc("ETH", True, -eth / 2, mark, 0.01, purpose="manual")
    assert half is not None and not half.reduce_only
    [out] = await desk.submit([half])
    assert out.status == "filled", out.message
    assert (await _positions(desk)) == {"ETH": pytest.approx(eth + half.size)}
    assert desk.view().portfolio.state is TradingState.REDUCING


async def test_a_halt_by_one_desk_is_seen_by_another_process_at_once(env: Env) -> None:
    """Two desks on one account and one journal file (two processes: the console and a harvest
    daemon): a kill on one is refused by the other's gate before its next order, with who
    halted it; resuming on either returns both to ACTIVE."""
    signer = Signer.generate()
    other = Journal(env.path, clock=env.clock)
    try:
        console = await env.desk(signer, origin="console")
        harvest = await env.desk(signer, journal=other, origin="pfterm harvest")
        assert harvest.primary is not None and console.primary is not None
        assert harvest.primary.ref == console.primary.ref
        eth = _market(harvest, "ETH", True, 1_000)
        assert harvest.check(eth) is None
        assert harvest.state is TradingState.ACTIVE  # read and cached just now

        report = await console.kill("test")
        assert report.flat, report.failures
        refusal = harvest.check(eth)  # read fresh: no poll interval to wait for
        assert refusal is not None and "halted" in refusal and "by console pid" in refusal
        [out] = await harvest.submit([eth])
        assert out.status == "refused"
        assert other.intent(eth.cloid) is None and await _positions(harvest) == {}
        rec = harvest.shared.read(max_age_s=0.0)
        assert rec.state is TradingState.HALTED and rec.origin.startswith("console pid")
        view = harvest.view().portfolio
        assert view.state is TradingState.HALTED
        reason = view.state_reason or ""
        assert "kill switch" in reason and "console pid" in reason

        harvest.resume()
        assert console.shared.read(max_age_s=0.0).state is TradingState.ACTIVE
        assert console.check(eth) is None
        [ok] = await console.submit([eth])
        assert ok.status == "filled", ok.message
        rows = [e.detail for e in env.journal.events(kind="trading_state") if "origin" in e.detail]
        who = [(r["state"], r["origin"].split(" pid")[0]) for r in rows[:2]]
        assert who == [("active", "pfterm harvest"), ("halted", "console")]  # newest first
    finally:
        other.close()


async def test_the_venue_notional_share_is_enforced(env: Env) -> None:
    limits = RiskLimits(
        max_market_share=1.0,
        max_order_notional_usd=1e7,
        max_position_notional_usd=1e7,
        max_leverage=20,
        max_venue_share=0.30,
    )
    desk = await env.desk(limits=limits)
    capital = desk.capital_usd
    assert capital is not None and capital >= USDC * 0.99
    [first] = await desk.submit([_market(desk, "BTC", True, 0.2 * capital)])
    assert first.status == "filled", first.message
    await desk.refresh()
    big = desk.quote(TicketRequest("ETH", True, 0.15 * capital, True, None, "Ioc", False, "market"))
    assert big.intent is not None and big.refusal is not None
    assert "venue notional" in big.refusal and "30 %" in big.refusal
    [out] = await desk.submit([big.intent])
    assert out.status == "refused" and "venue notional" in out.message
    assert env.journal.intent(big.intent.cloid) is None
    [ok] = await desk.submit([_market(desk, "ETH", True, 0.05 * capital)])
    assert ok.status == "filled", ok.message
    # shrinking the venue's exposure is never refused by the share
    btc = (await _positions(desk))["BTC"]
    mark = desk.mark("BTC")
    assert mark is not None
    back = desk.manager().ioc("BTC", False, btc / 2, mark, 0.01)
    assert back is not None and desk.check(back) is None


# -- the daily loss limit -----------------------------------------------------------------------


def _carry(base: AccountSnapshot, *, perp_equity: float, btc_px: float, spot_btc: float = 1.0) -> AccountSnapshot:
    """``base`` with a carry: 1 BTC spot against a 1 BTC perp short entered at 100,000."""
    short = Position("BTC", -1.0, 100_000.0, btc_px, None, 5.0, 20_000.0, -(btc_px - 100_000.0))
    acc = replace(
        base.account,
        equity_usd=perp_equity,
        positions=(short,),
        notional_usd=btc_px,
        spot=(SpotBalance("BTC", spot_btc),),
        spot_cash_usd=0.0,
        time_ms=START + 60_000,
    )
    return AccountSnapshot(acc, (), base.read_ms)


async def test_daily_loss_counts_spot_a_hedged_carry_does_not_fire_the_kill_switch(env: Env) -> None:
    desk = await env.desk(kill_deadline_s=2.0)
    om = desk.manager()
    assert om.snapshot is not None
    prices = {"BTC": 100_000.0}
    desk._prices = lambda: prices  # noqa: SLF001 - the console's price feed
    om.snapshot = _carry(om.snapshot, perp_equity=50_000.0, btc_px=100_000.0)
    desk._day_start = None  # noqa: SLF001 - the day's first reading is this one
    desk._track_day()  # noqa: SLF001
    assert desk.capital_usd == pytest.approx(150_000.0)  # 50 k margin + 1 BTC spot
    assert desk.pnl_today == pytest.approx(0.0)

    # BTC +10 %: the short loses 10 k of margin, the spot gains 10 k
    prices["BTC"] = 110_000.0
    om.snapshot = _carry(om.snapshot, perp_equity=40_000.0, btc_px=110_000.0)
    assert desk.pnl_today == pytest.approx(0.0)
    desk.check_daily_loss()
    assert not desk.kill_running and desk.last_kill is None
    assert desk.state is TradingState.ACTIVE
    assert not env.journal.events(kind="daily_loss")

    # a real loss: 6 k more of margin gone (4 % of the day's 150 k)
    om.snapshot = _carry(om.snapshot, perp_equity=34_000.0, btc_px=110_000.0)
    assert desk.pnl_today == pytest.approx(-6_000.0)
    desk.check_daily_loss()
    assert desk.kill_running
    assert desk.shared.read(max_age_s=0.0).state is TradingState.HALTED
    [event] = env.journal.events(kind="daily_loss")
    assert event.detail["pnl_today"] == pytest.approx(-6_000.0) and event.detail["capital"] == pytest.approx(150_000.0)
    report = await desk.kill()  # the run in progress
    assert desk.last_kill is report
    assert report.flat, report.failures  # the simulator's account holds nothing
    [result] = env.journal.events(kind="kill_result")
    assert result.detail["flat"] is True
    assert any("daily loss limit" in e.message for e in env.journal.events(kind="kill"))


# -- the kill switch ---------------------------------------------------------------------------


async def test_kill_switch_flattens_many_positions_and_orders(env: Env) -> None:
    desk = await env.desk()
    opens = [_market(desk, s, i % 2 == 0, 1_500) for i, s in enumerate(LIQUID)]
    rests = [_resting(desk, s, i % 2 == 1, 300, away=0.02 + 0.001 * k) for k in range(2) for i, s in enumerate(LIQUID)]
    outs = await desk.submit(opens + rests)
    statuses = [o.status for o in outs]
    assert statuses.count("filled") == len(LIQUID) and statuses.count("resting") == len(rests), statuses
    snap = await desk.refresh()
    assert len(snap.orders) == 20 and len([p for p in snap.account.positions if p.size]) == 10

    import gc

    task = desk.start_kill()
    assert not gc.isenabled()  # the collector never pauses a kill in progress
    report = await task
    await asyncio.sleep(0)
    assert gc.isenabled()  # and is back once it is done
    assert report.flat, report.failures
    assert 1 <= report.rounds <= 2
    assert report.cancelled == len(rests)
    assert len(report.closed) >= len(LIQUID)
    assert report.acked_ms is not None and report.acked_ms <= report.elapsed_ms
    assert report.elapsed_ms <= desk.settings.kill_deadline_s * 1000
    assert desk.state is TradingState.HALTED
    assert desk.kill_status is not None and desk.kill_status.phase is KillPhase.FLAT

    assert (await desk.refresh()).flat
    kills = [i for i in env.journal.intents() if i.purpose == "kill"]
    assert {i.symbol for i in kills} == set(LIQUID)
    assert all(i.state == "filled" and i.reduce_only for i in kills)
    assert all(i.state == "cancelled" for i in env.journal.intents() if i.tif == "Gtc")
    for it in rests:
        assert [c.status for c in env.journal.cancels(cloid=it.cloid)] == ["requested", "cancelled"]
    [result] = env.journal.events(kind="kill_result")
    assert result.detail["flat"] is True and result.detail["cancelled"] == len(rests)

    # HALTED: opening orders are refused until the trader resumes
    again = desk.quote(TicketRequest("BTC", True, 1_000, True, None, "Ioc", False, "market"))
    assert again.intent is not None and "halted" in (again.refusal or "")
    desk.resume()
    assert desk.state is TradingState.ACTIVE and desk.kill_status is None
    assert desk.check(again.intent) is None


async def test_kill_switch_reports_what_it_cannot_close(env: Env) -> None:
    desk = await env.desk(kill_deadline_s=0.6)
    outs = await desk.submit([_market(desk, s, True, 1_000) for s in ("BTC", "ETH")])
    assert [o.status for o in outs] == ["filled", "filled"]
    om = desk.manager()
    om.instruments.pop("ETH")  # the venue no longer lists ETH: its close cannot be built
    om.client._instruments.pop("ETH")  # type: ignore[attr-defined]  # noqa: SLF001
    t0 = time.perf_counter()
    report = await desk.kill()
    assert time.perf_counter() - t0 < 0.6 + 0.5
    assert not report.flat
    assert [p.symbol for p in report.remaining_positions] == ["ETH"]
    assert any("ETH" in f and "close it by hand" in f for f in report.failures), report.failures
    assert any(c.startswith("BTC sold") for c in report.closed)
    assert desk.kill_status is not None and desk.kill_status.phase is KillPhase.FAILED
    assert "NOT FLAT" in desk.kill_status.message
    [result] = env.journal.events(kind="kill_result")
    assert result.detail["flat"] is False and result.detail["failures"]
    assert await _positions(desk) == {"ETH": pytest.approx(outs[1].filled_sz)}


async def test_kill_switch_ends_flat_through_request_faults(env: Env) -> None:
    transport = Flaky(seed=7)
    desk = await env.desk(transport=transport, kill_deadline_s=5.0)
    outs = await desk.submit(
        [_market(desk, s, i % 2 == 0, 1_500) for i, s in enumerate(LIQUID[:4])]
        + [_resting(desk, s, True, 300) for s in LIQUID[:4]]
    )
    assert [o.status for o in outs] == ["filled"] * 4 + ["resting"] * 4, [o.message for o in outs]
    await desk.refresh()
    transport.rate = 0.3
    t0 = time.perf_counter()
    report = await desk.kill()
    took = time.perf_counter() - t0
    transport.rate = 0.0
    assert sum(transport.faults.values()) > 0, "no fault was injected"
    assert report.flat, (report.failures, transport.faults)
    assert took <= desk.settings.kill_deadline_s
    snap = await desk.refresh()
    assert snap.flat


async def test_kill_switch_gives_up_in_time_when_every_request_fails(env: Env) -> None:
    transport = Flaky(seed=1, kinds=("500", "429", "reset"))
    desk = await env.desk(transport=transport, kill_deadline_s=1.5)
    outs = await desk.submit([_market(desk, "BTC", True, 1_000), _resting(desk, "ETH", True, 300)])
    assert [o.status for o in outs] == ["filled", "resting"]
    await desk.refresh()
    transport.rate = 1.0
    before = transport.forwarded
    t0 = time.perf_counter()
    report = await desk.kill()  # never raises
    took = time.perf_counter() - t0
    transport.rate = 0.0
    assert transport.forwarded == before and transport.requests > before  # nothing reached the venue
    assert took <= 1.5 + 0.5
    assert not report.flat
    # round 1 went out on the desk's last reading: every send and every read after it failed
    assert report.failures and any("HTTP 500" in f for f in report.failures), report.failures
    assert desk.kill_status is not None and desk.kill_status.phase is KillPhase.FAILED
    snap = await desk.refresh()
    assert [p.symbol for p in snap.account.positions if p.size] == ["BTC"] and len(snap.orders) == 1


# -- previews ----------------------------------------------------------------------------------


async def test_hedge_and_rebalance_sizes(env: Env) -> None:
    desk = await env.desk(external_spot={"ETH": 2.0}, rebalance_threshold=0.05)
    [out] = await desk.submit([_market(desk, "BTC", True, 3_000)])
    assert out.status == "filled"
    btc = (await _positions(desk))["BTC"]
    preview, refusal = desk.preview_hedge("BTC")
    assert refusal is None and preview is not None
    assert not preview.intent.is_buy and preview.size == pytest.approx(btc)
    assert abs(preview.delta_after_usd) < abs(preview.delta_before_usd) * 0.01
    assert preview.intent.reduce_only  # it only shrinks the long

    view, refusal = desk.preview_rebalance()
    assert refusal is None
    by_coin = {h.intent.symbol: h for h in view.hedges}
    assert set(by_coin) == {"BTC", "ETH"}
    assert by_coin["ETH"].size == pytest.approx(2.0, abs=10 ** -desk.markets["ETH"].sz_decimals)
    assert not by_coin["ETH"].intent.is_buy
    assert by_coin["BTC"].size == pytest.approx(btc) and not by_coin["BTC"].intent.is_buy
    assert all(h.intent.purpose == "rebalance" for h in view.hedges)
    outs = await desk.submit([h.intent for h in view.hedges])
    assert all(o.status == "filled" for o in outs), [o.message for o in outs]
    await desk.refresh()
    deltas = desk.view().portfolio.deltas
    assert {d.coin for d in deltas} >= {"ETH"}
    for row in deltas:
        assert row.ratio < 0.05, row


async def test_hedge_counts_venue_spot_as_delta(env: Env) -> None:
    """Cash-and-carry: spot UBTC bought on the venue is BTC delta, hedged by a perp short."""
    desk = await env.desk()
    om = desk.manager()
    pair = om.instrument("@142")
    assert pair is not None and pair.kind == "spot" and pair.base == "BTC"
    mid = om.mids["@142"]
    buy = OrderIntent(
        "@142",
        pair.asset_id,
        True,
        0.05,
        pair.rules.aggressive_price(mid, True, 0.01),
        "Ioc",
        False,
        Cloid.new().raw,
        "test",
    )
    assert buy.limit_px == round_price(buy.limit_px, 5, is_spot=True)
    [res] = await desk.submit([buy])
    assert res.status == "filled", res.message
    snap = await desk.refresh()
    [spot] = snap.account.spot
    assert spot.coin == "BTC" and 0.0499 < spot.total <= 0.05  # UBTC counted as BTC; the fee paid in UBTC
    preview, refusal = desk.preview_hedge("BTC")
    assert refusal is None and preview is not None
    assert not preview.intent.is_buy and not preview.intent.reduce_only
    assert preview.size == pytest.approx(spot.total, abs=1e-5)
    [out] = await desk.submit([preview.intent])
    assert out.status == "filled", out.message
    await desk.refresh()
    [row] = desk.view().portfolio.deltas
    btc_mid = desk.mark("BTC")
    assert btc_mid is not None
    assert row.coin == "BTC" and abs(row.delta_usd) < 0.00001 * btc_mid + 1
    assert row.spot_qty == pytest.approx(spot.total) and row.perp_qty == pytest.approx(-preview.size)


async def test_read_only_desk_refuses_with_reason(env: Env) -> None:
    access = TradingAccess(None, None, "mainnet", "no key: set PFTERM_HL_PRIVATE_KEY")
    desk = Desk(access, None, env.journal)
    await desk.start()
    assert not desk.can_trade and desk.primary is None
    intent = OrderIntent("BTC", 0, True, 0.01, 60_000.0, "Ioc", False, Cloid.new().raw, "manual")
    assert "read-only" in (desk.check(intent) or "")
    [out] = await desk.submit([intent])
    assert out.status == "refused" and "read-only" in out.message and "PFTERM_HL_PRIVATE_KEY" in out.message
    assert env.journal.intent(intent.cloid) is None
    view = desk.view()
    assert view.portfolio.read_only and "PFTERM_HL_PRIVATE_KEY" in view.portfolio.read_only
    preview, why = desk.preview_hedge("BTC")
    assert preview is None and why is not None and "read-only" in why
    _, why = desk.preview_rebalance()
    assert why is not None and "read-only" in why
    assert (await desk.cancel([]))[0] == 0
    report = await desk.kill()
    assert not report.flat and "read-only" in report.failures[0]


# -- dead man's switch and tickets -----------------------------------------------------------------


async def test_clean_stop_disarms_the_dead_man_switch(env: Env) -> None:
    desk = desk_on(
        env.url, Signer.generate(), env.journal, DeskSettings(limits=LOOSE, dead_man_switch=True), clock=env.clock
    )
    env.desks.append(desk)
    om = desk.manager()
    om.dead_man_lead_s = 30.0
    om.dead_man_heartbeat_s = 0.1
    await desk.start()
    [out] = await desk.submit([_resting(desk, "ETH", False, 500)])
    assert out.status == "resting" and out.answer is not None
    for _ in range(100):
        if om._dead_man_armed:  # noqa: SLF001
            break
        await asyncio.sleep(0.02)
    assert om._dead_man_armed  # noqa: SLF001
    assert any("dead man's switch armed" in a.text for a in desk.activity)
    await desk.stop()
    assert not om._dead_man_armed  # noqa: SLF001
    events = [e.message for e in env.journal.events(kind="dead_man_switch")]
    assert any("disarmed" in m for m in events) and any(m == "armed" for m in events)
    await env.server.advance(60)  # past the 30 s lead: nothing is cancelled
    assert [o.oid for o in (await om.refresh()).orders] == [out.answer.oid]  # still resting


async def test_ticket_quote_rounds_and_validates(env: Env) -> None:
    desk = await env.desk()
    mark = desk.mark("BTC")
    assert mark is not None
    q = desk.quote(TicketRequest("BTC", False, 0.123456789, False, mark * 1.01, "Alo", False, "limit"))
    assert q.refusal is None and q.intent is not None
    assert q.intent.size == 0.12345 and q.intent.tif == "Alo" and not q.intent.is_buy
    assert q.intent.limit_px == round_price(mark * 1.01, desk.markets["BTC"].sz_decimals)
    assert not q.taker and q.order_type == "limit"
    cross = desk.quote(TicketRequest("BTC", True, 0.01, False, mark * 1.01, "Alo", False, "limit"))
    assert cross.refusal and "post-only" in cross.refusal
    tiny = desk.quote(TicketRequest("BTC", True, 5, True, None, "Ioc", False, "market"))
    assert tiny.refusal and "$10 minimum" in tiny.refusal
    assert desk.quote(TicketRequest("NOPE", True, 1, False, None, "Ioc", False, "market")).refusal
    fat = desk.quote(TicketRequest("BTC", True, 0.01, False, mark * 1.2, "Gtc", False, "limit"))
    assert fat.refusal and "from mark" in fat.refusal and fat.confirm
    no_px = desk.quote(TicketRequest("BTC", True, 0.01, False, None, "Gtc", False, "limit"))
    assert no_px.intent is None and no_px.refusal and "needs a limit price" in no_px.refusal
    with_px = desk.quote(TicketRequest("BTC", True, 0.01, False, mark, "Ioc", False, "market"))
    assert with_px.intent is None and with_px.refusal and "no limit price" in with_px.refusal
    market = desk.quote(TicketRequest("BTC", True, 2_000, True, None, "Gtc", False, "market"))
    assert market.refusal is None and market.intent is not None and market.intent.tif == "Ioc"
    assert market.intent.limit_px > mark and market.intent.size * mark <= 2_000
