"""The Binance USDⓈ-M leg (:class:`pfterm.core.trading.binance.BinanceClient` under an
:class:`~pfterm.core.trading.orders.OrderManager`) attached to the Hyperliquid desk, end to end against
the embedded simulator over 127.0.0.1 on the lockstep clock: funding quotes (and malformed
``premiumIndex`` items), the desk's gate on Binance orders, post-only rejections, lot flooring
without float noise, orders below the minimum, funding synced after a close, a ``-1021``
timestamp refusal, the desk's kill switch across both venues (flat, not flat, a crashing
Binance run) and equity and day P&L across both venues.

What every venue must do (place, cancel, batches, lost answers, restart reconcile, kill to flat
on one venue, fills and funding sync) is in ``tests/contract``."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import pfterm.core.trading.binance as bn
from pfterm.core.market.models import OrderIntent
from pfterm.core.sim.market import HOUR_MS, MarketModel
from pfterm.core.sim.server import SimulatorServer
from pfterm.core.sim.snapshot import load_snapshot
from pfterm.core.trading.binance import BinanceClient, ServerClock
from pfterm.core.trading.desk import Desk, DeskSettings
from pfterm.core.trading.journal import AccountRef, Journal
from pfterm.core.trading.orders import OrderManager
from pfterm.core.trading.portfolio import KillPhase, TicketRequest
from pfterm.core.trading.risk import RiskLimits, TradingState
from pfterm.core.venues.binance.futures import (
    BinanceCredentials,
    BinanceError,
    BinanceFuturesClient,
    BinanceUnavailable,
)
from pfterm.core.venues.hyperliquid.orders import Cloid
from pfterm.core.venues.hyperliquid.signing import Signer
from tests.desks import NETWORK, binance_manager, desk_on

if TYPE_CHECKING:
    from tests.conftest import StartSimulator

START = 1_767_225_600_000 + 7 * HOUR_MS + 30 * 60_000
"""2026-01-01 07:30 UTC: 30 minutes before the 08:00 Binance settlement (8 h grid)."""
SETTLE_MS = 1_767_225_600_000 + 8 * HOUR_MS
_SNAPSHOT = load_snapshot()
_KEY = "simkey" + "C" * 58
_SECRET = "simsecret" + "d" * 55
_USDT = 100_000.0
LOOSE = RiskLimits(
    max_market_share=1.0,
    max_order_notional_usd=1e7,
    max_position_notional_usd=1e7,
    max_leverage=20,
    max_venue_share=1.0,
)


@dataclass
class Env:
    server: SimulatorServer
    model: MarketModel
    journal: Journal
    desk: Desk
    om: OrderManager
    """The Binance leg (attached by :meth:`attach`)."""

    @property
    def client(self) -> BinanceClient:
        return self.om.client  # type: ignore[return-value]

    @property
    def rest(self) -> BinanceFuturesClient:
        return self.client.client

    def clock(self) -> int:
        return self.model.now_ms

    async def attach(self) -> None:
        self.desk.attach(self.om)
        assert await self.desk.start_venue(self.om), self.om.error

    def touch(self, native: str = "BTCUSDT") -> tuple[float, float]:
        """(bid, ask) of a Binance market, USD."""
        spec = self.server.binance.specs[native]
        bid, ask = self.server.binance.touch(native)
        return spec.price(bid), spec.price(ask)

    def order(
        self, symbol: str, is_buy: bool, size: float, px: float, *, tif: str = "Ioc", reduce_only: bool = False
    ) -> OrderIntent:
        return OrderIntent(symbol, 0, is_buy, size, px, tif, reduce_only, Cloid.new().raw, "test")

    def buy(self, size: float, symbol: str = "BTC", **kw: Any) -> OrderIntent:
        """A marketable buy: limit 0.5 % above the ask, on the tick."""
        _, ask = self.touch(symbol + "USDT")
        tick = self.client.rules[symbol].tick_size
        return self.order(symbol, True, size, round(math.ceil(ask * 1.005 / tick) * tick, 8), **kw)

    def sell(self, size: float, symbol: str = "BTC", **kw: Any) -> OrderIntent:
        """A marketable sell: limit 0.5 % below the bid, on the tick."""
        bid, _ = self.touch(symbol + "USDT")
        tick = self.client.rules[symbol].tick_size
        return self.order(symbol, False, size, round(math.floor(bid * 0.995 / tick) * tick, 8), **kw)

    async def hl_market(self, symbol: str, is_buy: bool, usd: float) -> None:
        quote = self.desk.quote(TicketRequest(symbol, is_buy, usd, True, None, "Ioc", False, "market"))
        assert quote.intent is not None and quote.refusal is None, quote.refusal
        [out] = await self.desk.submit([quote.intent])
        assert out.status == "filled", out.message


@pytest.fixture
async def env(tmp_path: Path, start_simulator: StartSimulator) -> AsyncIterator[Env]:
    model = MarketModel(_SNAPSHOT, seed=11, start_ms=START, cascade_rate_per_hour=0.0)
    server = SimulatorServer(
        model, speed=0, lockstep=True, tick_hz=5.0, starting_usdc=_USDT, binance_credentials=[(_KEY, _SECRET)]
    )
    await start_simulator(server)
    journal = Journal(tmp_path / "journal.sqlite", clock=lambda: model.now_ms)
    clock = lambda: model.now_ms  # noqa: E731
    url = server.http_url or ""
    desk = desk_on(url, Signer.generate(), journal, DeskSettings(limits=LOOSE, kill_deadline_s=5.0), clock=clock)
    om = binance_manager(url, BinanceCredentials(_KEY, _SECRET), journal, clock_ms=clock)
    try:
        await desk.start()
        assert desk.error is None, desk.error
        yield Env(server, model, journal, desk, om)
    finally:
        if desk.kill_running:
            await desk.kill()
        await desk.aclose()
        await om.aclose()
        journal.close()


@pytest.fixture
async def leg(env: Env) -> Env:
    """The environment with the Binance leg attached to the desk."""
    await env.attach()
    return env


# -- quotes ------------------------------------------------------------------------------------


async def test_quotes_give_rates_intervals_next_settlement_and_marks(leg: Env) -> None:
    c = leg.client
    assert c.native("BTC") == "BTCUSDT" and c.native("ETH") == "ETHUSDT" and c.native("NOPE") is None
    quotes = await c.quotes()
    btc = quotes["BTC"]
    assert btc.native == "BTCUSDT" and btc.symbol == "BTC"
    assert btc.interval_h in (4.0, 8.0)
    assert btc.next_funding_ms > leg.model.now_ms
    assert btc.next_funding_ms - leg.model.now_ms <= btc.interval_h * HOUR_MS
    bid, ask = leg.touch()
    assert bid <= btc.mark_px <= ask
    assert math.isfinite(btc.rate) and btc.rate != 0.0
    assert set(quotes) <= set(c.rules)
    assert {q.interval_h for q in quotes.values()} <= {4.0, 8.0}
    assert any(q.interval_h == 4.0 for q in quotes.values())  # fundingInfo read: not all the default 8 h
    assert c.marks["BTC"] == btc.mark_px
    assert c.malformed_quotes == 0
    assert (await c.mids())["BTC"] == btc.mark_px  # the leg's mids are its marks


async def test_quotes_skip_and_count_malformed_items(leg: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    c = leg.client
    real_get = bn.get_json

    async def with_bad_items(http: Any, url: str, **kw: Any) -> Any:
        raw = await real_get(http, url, **kw)
        if url.endswith("/premiumIndex"):
            btc = next(i for i in raw if i["symbol"] == "BTCUSDT")
            return [
                {"symbol": "ETHUSDT", "markPrice": "n/a"},
                {**btc, "markPrice": "0"},
                None,
                *[i for i in raw if i["symbol"] != "BTCUSDT"],
            ]
        return raw

    monkeypatch.setattr(bn, "get_json", with_bad_items)
    c.marks.clear()
    quotes = await c.quotes()
    assert c.malformed_quotes == 3
    assert "BTC" not in quotes and "BTC" not in c.marks  # its only item was unusable
    assert "ETH" in quotes and quotes["ETH"].mark_px > 0  # the good ETH item still counts
    assert len(quotes) > 100
    await c.quotes()
    assert c.malformed_quotes == 6


# -- orders through the desk -------------------------------------------------------------------


async def test_binance_orders_pass_the_desks_gate(leg: Env) -> None:
    [opened] = await leg.desk.submit([leg.buy(0.01)], venue="binance")
    assert opened.status == "filled", opened.message
    assert leg.server.binance.account(_KEY).leverage.get("BTCUSDT") == 3  # set before the first opening order
    await leg.om.refresh()
    pos = leg.om.position("BTC")
    assert pos is not None and pos.size == pytest.approx(0.01)
    # cross margin, $900 long on $100 k: the venue reports no liquidation price (0), so it is unknown
    assert pos.liquidation_px is None and leg.om.liquidation_distance("BTC") is None
    [row] = [r for r in leg.desk.view().positions if r.venue == "binance"]
    assert row.symbol == "BTC" and row.side == "LONG" and row.size == pytest.approx(0.01)
    trades_before = len(await leg.rest.user_trades("BTCUSDT"))
    unknown = leg.order("NOPE", True, 1.0, 10.0)
    opening = leg.buy(0.01)
    leg.desk.set_state(TradingState.HALTED, "test")
    outs = await leg.desk.submit([opening, unknown], venue="binance")
    assert [o.status for o in outs] == ["refused", "refused"]
    assert "halted" in outs[0].message and "not traded on binance" in outs[1].message
    assert all(o.venue == "binance" for o in outs)
    close = leg.sell(0.01, reduce_only=True)
    [closed] = await leg.desk.submit([close], venue="binance")
    assert closed.status == "filled", closed.message  # a reduce-only close goes out while halted
    for it in (opening, unknown):
        assert leg.journal.intent(it.cloid) is None
    stored = leg.journal.intent(close.cloid)
    assert stored is not None and stored.state == "filled" and stored.venue == "binance"
    assert len(await leg.rest.user_trades("BTCUSDT")) == trades_before + 1  # only the close
    assert await leg.rest.positions() == []


async def test_post_only_that_would_cross_is_rejected(leg: Env) -> None:
    _, ask = leg.touch()
    order = leg.order("BTC", True, 0.01, round(ask + 10.0, 1), tif="Alo")
    [out] = await leg.desk.submit([order], venue="binance")
    assert out.status == "error" and "-5022" in out.message
    stored = leg.journal.intent(order.cloid)
    assert stored is not None and stored.state == "rejected" and "-5022" in (stored.error or "")
    assert stored.venue == "binance" and stored.tif == "Alo"
    assert await leg.rest.open_orders() == []
    assert (await leg.om.refresh()).flat


async def test_float_noise_sizes_do_not_lose_a_step(leg: Env) -> None:
    om = leg.om
    step = leg.client.rules["BTC"].step_size
    assert step == 0.0001  # the simulator's BTC step
    assert om.floor_size("BTC", 0.12345678) == 0.1234
    assert om.floor_size("BTC", 0.3 - 0.1) == 0.2  # 0.19999999999999998 must not lose a step
    assert om.floor_size("BTC", 0.0003 - 0.0002) == 0.0001  # 9.999999999999996e-05
    assert om.floor_size("BTC", 0.00019) == 0.0001
    assert om.floor_size("BTC", step / 2) == 0.0
    assert om.floor_size("BTC", -1.0) == 0.0
    assert om.floor_size("NOPE", 1.0) == 0.0
    assert om.min_notional("BTC") == 5.0 and om.min_notional("NOPE") == math.inf

    order = leg.buy(0.3 - 0.1)
    [out] = await leg.desk.submit([order], venue="binance")
    assert out.status == "filled", out.message
    assert out.filled_sz == pytest.approx(0.2, abs=1e-12)
    noisy = leg.buy(0.0003 - 0.0002)
    [small] = await leg.desk.submit([noisy], venue="binance")  # never raises
    assert small.status == "filled", small.message
    assert small.filled_sz == pytest.approx(0.0001, abs=1e-12)
    await leg.om.refresh()
    assert leg.om.position_size("BTC") == pytest.approx(0.2001, abs=1e-12)


async def test_an_order_below_the_minimum_after_flooring_fails_alone_without_raising(leg: Env) -> None:
    eth_ask = leg.touch("ETHUSDT")[1]
    assert 0.0019 * eth_ask * 1.005 >= 5.0 > 0.001 * eth_ask * 1.005  # $5 before flooring, not after
    good = leg.buy(0.01)
    tiny = leg.buy(0.0019, "ETH")
    outs = await leg.desk.submit([good, tiny], venue="binance")  # one batch: never raises
    assert outs[1].status == "error" and "not sent" in outs[1].message and "minimum" in outs[1].message
    assert outs[0].status == "filled", outs[0].message  # the good order of the batch still goes
    assert leg.journal.intent(good.cloid).state == "filled"
    stored = leg.journal.intent(tiny.cloid)
    assert stored is not None and stored.state == "rejected" and "minimum" in (stored.error or "")
    assert [t.qty for t in await leg.rest.user_trades("ETHUSDT")] == []


async def test_funding_synced_after_a_close_keeps_the_size_and_rate_at_settlement(leg: Env) -> None:
    long_btc = leg.buy(0.05)
    [out] = await leg.desk.submit([long_btc], venue="binance")
    assert out.status == "filled" and out.answer is not None and out.answer.avg_px
    await leg.om.refresh()  # the desk's next reading of the leg: the close below reduces it
    await leg.server.advance(29 * 60)  # 07:59
    quotes = await leg.client.quotes()
    rate = quotes["BTC"].rate
    assert quotes["BTC"].next_funding_ms == SETTLE_MS and rate != 0.0
    await leg.server.advance(2 * 60)  # 08:01: past the settlement
    [close] = await leg.desk.submit([leg.sell(0.05, reduce_only=True)], venue="binance")
    assert close.status == "filled", close.message
    await leg.om.refresh()
    assert leg.om.position_size("BTC") == 0.0
    new_fills, payments = await leg.om.sync()
    assert (new_fills, payments) == (2, 1)
    assert await leg.om.sync() == (0, 0)  # nothing journalled twice
    aj = leg.om.journal
    assert aj is not None
    [pay] = aj.funding()
    assert (pay.venue, pay.symbol, pay.time_ms) == ("binance", "BTC", SETTLE_MS)
    assert pay.size == pytest.approx(0.05)  # the position at the settlement, not now (flat)
    assert pay.rate == pytest.approx(rate, rel=0.05)
    # a long pays a positive rate and receives a negative one: usdc = −size × mark × rate
    assert math.copysign(1.0, pay.usdc) == -math.copysign(1.0, rate)
    assert pay.usdc == pytest.approx(-0.05 * out.answer.avg_px * rate, rel=0.05)
    buy_fill = next(f for f in aj.fills(symbol="BTC") if f.side == "B")
    assert buy_fill.cloid == long_btc.cloid and buy_fill.oid == out.answer.oid  # matched through the oid
    assert buy_fill.fee == pytest.approx(0.05 * buy_fill.px * bn.BINANCE_TAKER_FEE, rel=1e-6)
    assert buy_fill.fee_token == "USDT"
    assert [f.side for f in aj.fills(symbol="BTC")] == ["B", "A"] and all(f.cloid for f in aj.fills())


async def test_a_lost_answer_of_an_order_that_never_arrived_is_rejected(
    leg: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def lost_before_arrival(reqs: Any) -> Any:
        raise BinanceUnavailable("binance POST /fapi/v1/batchOrders: connect timeout", outcome_unknown=True)

    monkeypatch.setattr(leg.rest, "place_batch", lost_before_arrival)
    order = leg.buy(0.02)
    [out] = await leg.desk.submit([order], venue="binance")
    assert out.status == "error" and "no trace" in out.message, out.message  # asked by cloid, not resent
    stored = leg.journal.intent(order.cloid)
    assert stored is not None and stored.state == "rejected"
    monkeypatch.undo()
    assert await leg.rest.user_trades("BTCUSDT") == []


async def test_a_timestamp_refusal_resyncs_the_clock_and_the_order_goes_once(env: Env) -> None:
    """A -1021 (timestamp outside recvWindow) refuses the whole request: the leg anchors its
    signing clock on the venue's time again and sends the same order once more."""
    wall = [1_000.0]
    clock = ServerClock(wall=lambda: wall[0])
    rest = BinanceFuturesClient(env.server.http_url or "", BinanceCredentials(_KEY, _SECRET), clock_ms=clock)
    client = BinanceClient(rest, AccountRef.binance(NETWORK, _KEY), clock=clock, now_ms=env.clock)
    om = OrderManager(client, env.journal, wall_ms=env.clock)
    desk = desk_on(
        env.server.http_url or "", Signer.generate(), env.journal, DeskSettings(limits=LOOSE), clock=env.clock
    )
    try:
        await desk.start()
        desk.attach(om)
        assert await desk.start_venue(om), om.error  # anchored on the venue's time
        wall[0] += 600.0  # the wall clock jumps 10 minutes: every signature is out of the window
        with pytest.raises(BinanceError, match="-1021"):
            await rest.account()
        _, ask = env.touch()
        tick = client.rules["BTC"].tick_size
        order = env.order("BTC", True, 0.002, round(math.ceil(ask * 1.005 / tick) * tick, 8))
        [out] = await desk.submit([order], venue="binance")
        assert out.status == "filled", out.message
        trades = await rest.user_trades("BTCUSDT")
        assert len(trades) == 1  # placed once
        assert env.server.binance.account(_KEY).leverage.get("BTCUSDT") == 3  # set before it, on the new clock
        assert env.journal.intent(order.cloid).state == "filled"
        wall[0] += 600.0
        await om.refresh()  # a read is repeated the same way
        assert om.position_size("BTC") == pytest.approx(0.002)
    finally:
        await desk.aclose()
        await om.aclose()


# -- the desk's kill switch across both venues ---------------------------------------------------


async def test_desk_kill_switch_flattens_both_venues(leg: Env) -> None:
    desk = leg.desk
    desk.attach(leg.om)  # attaching twice changes nothing
    assert desk.hedges == [leg.om] and list(desk.managers) == ["hyperliquid", "binance"]
    await leg.hl_market("BTC", False, 3_000)  # short on Hyperliquid …
    bid, _ = leg.touch("ETHUSDT")
    outs = await desk.submit(
        [leg.buy(0.03), leg.order("ETH", True, 0.01, round(bid * 0.8, 2), tif="Gtc")], venue="binance"
    )  # … long on Binance, and a resting order
    assert [o.status for o in outs] == ["filled", "resting"], [o.message for o in outs]

    report = await desk.kill("test")
    assert report.flat, report.failures
    assert any(c.startswith("BTC bought") for c in report.closed)  # the Hyperliquid close
    assert any(c.startswith("binance BTC sold 0.03") for c in report.closed)  # the Binance close
    assert report.cancelled >= 1
    assert "FLAT" in report.summary() and "NOT FLAT" not in report.summary()
    assert [v.venue for v in report.venues] == ["hyperliquid", "binance"] and all(v.flat for v in report.venues)
    assert (await desk.refresh()).flat
    assert await leg.rest.positions() == [] and await leg.rest.open_orders() == []
    kills = [i for i in leg.journal.intents() if i.purpose == "kill" and i.venue == "binance"]
    assert len(kills) == 1 and kills[0].reduce_only and kills[0].state == "filled"
    [result] = leg.journal.events(kind="kill_result")
    assert result.detail["flat"] is True and result.detail["venues"] == ["hyperliquid", "binance"]
    # the Binance account is halted too: another process trading it refuses to open
    assert leg.om.journal is not None
    rec = leg.om.journal.trading_state()
    assert rec is not None and rec.state == "halted"
    again = await desk.kill("again")  # nothing left: flat at the first reading
    assert again.flat and again.cancelled == 0 and again.closed == [] and again.rounds == 0
    assert len(leg.journal.events(kind="kill_result")) == 2


async def test_desk_kill_is_not_flat_when_the_binance_leg_is_not(leg: Env) -> None:
    desk = leg.desk
    desk.settings = DeskSettings(limits=LOOSE, kill_deadline_s=1.0)
    await leg.hl_market("ETH", True, 2_000)
    [out] = await desk.submit([leg.sell(0.5, "ETH")], venue="binance")
    assert out.status == "filled", out.message
    inst = leg.om.instruments.pop("ETH")  # the leg no longer lists ETH: its close cannot be built
    leg.client._instruments.pop("ETH")  # noqa: SLF001
    try:
        report = await desk.kill("test")
    finally:
        leg.om.instruments["ETH"] = inst
        leg.client._instruments["ETH"] = inst  # noqa: SLF001
    assert not report.flat
    assert any(f.startswith("binance ETH") for f in report.failures), report.failures
    assert any(c.startswith("ETH sold") for c in report.closed)  # Hyperliquid itself got flat
    assert {v.venue: v.flat for v in report.venues} == {"hyperliquid": True, "binance": False}
    assert "NOT FLAT" in report.summary()
    assert desk.kill_status is not None and desk.kill_status.phase is KillPhase.FAILED
    assert (await desk.refresh()).flat
    assert [(p.symbol, p.size) for p in await leg.rest.positions()] == [("ETHUSDT", pytest.approx(-0.5))]
    [result] = leg.journal.events(kind="kill_result")
    assert result.detail["flat"] is False


async def test_desk_kill_survives_a_crashing_binance_kill(leg: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    await leg.hl_market("BTC", True, 2_000)

    async def crash(**_kw: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(leg.client, "account", crash)
    report = await leg.desk.kill("test")  # never raises
    assert not report.flat
    assert any("binance" in f and "boom" in f for f in report.failures), report.failures
    assert any(c.startswith("BTC sold") for c in report.closed)  # Hyperliquid was still flattened
    assert {v.venue: v.flat for v in report.venues} == {"hyperliquid": True, "binance": False}
    assert leg.desk.kill_status is not None and leg.desk.kill_status.phase is KillPhase.FAILED
    assert (await leg.desk.refresh()).flat
    [result] = leg.journal.events(kind="kill_result")
    assert result.detail["flat"] is False


# -- equity and day P&L ------------------------------------------------------------------------


async def test_desk_equity_and_day_pnl_include_the_binance_leg(env: Env) -> None:
    desk = env.desk
    hl_snap = desk.account
    assert hl_snap is not None
    hl_value = desk.equity_by_venue()["hyperliquid"]
    assert hl_value == pytest.approx(hl_snap.account.equity_usd + (hl_snap.account.spot_cash_usd or 0.0))
    assert desk.capital_usd == pytest.approx(hl_value)
    assert desk.pnl_today == pytest.approx(0.0, abs=1e-6)

    await env.attach()  # the day is re-baselined with the Binance equity in it
    assert desk.capital_usd == pytest.approx(hl_value + _USDT)
    assert desk.pnl_today == pytest.approx(0.0, abs=1e-6)

    [out] = await desk.submit([env.buy(0.1)], venue="binance")
    assert out.status == "filled" and out.answer is not None and out.answer.avg_px
    await env.om.refresh()
    bn_equity = env.om.equity_usd
    assert bn_equity is not None
    lost = _USDT - bn_equity
    assert lost > 0.1 * out.answer.avg_px * bn.BINANCE_TAKER_FEE * 0.99  # at least the fee
    assert desk.equity_by_venue() == {"hyperliquid": pytest.approx(hl_value), "binance": pytest.approx(bn_equity)}
    assert desk.capital_usd == pytest.approx(hl_value + bn_equity)
    assert desk.pnl_today == pytest.approx(-lost, abs=1e-6)
    assert desk.pnl_today < 0
    assert desk.view().portfolio.pnl_today_usd == pytest.approx(-lost, abs=1e-6)
