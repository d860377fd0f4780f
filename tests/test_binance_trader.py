"""The Binance USDⓈ-M order manager and kill switch (``core.binance_trader.BinanceTrader``), the
second venue of perp-against-perp positions, end to end against the embedded simulator over
127.0.0.1 on the lockstep clock: trading rules, orders and their journal, refusals, rejections,
a lost answer reconciled by client order id, fills and funding into the journal, funding quotes,
the kill switch; and the Hyperliquid trader's kill switch and day P&L covering it
(``core.trading.Trader.attach_hedge``)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import core.binance_trader as bt
from core.binance_trader import BinanceTrader, LegOrder, VenueKillReport
from core.credentials import TradingAccess
from core.journal import Journal
from core.portfolio import TicketRequest
from core.risk import RiskLimits
from core.sim.market import HOUR_MS, MarketModel
from core.sim.server import SimulatorServer
from core.sim.snapshot import load_snapshot
from core.trading import Trader, TraderSettings
from core.venues.binance_futures import BinanceCredentials, BinanceError, BinanceFuturesClient, BinanceUnavailable
from core.venues.hyperliquid.exchange import HyperliquidExchange
from core.venues.hyperliquid.signing import Signer

START = 1_767_225_600_000 + 7 * HOUR_MS + 30 * 60_000
"""2026-01-01 07:30 UTC: 30 minutes before the 08:00 Binance settlement (8 h grid)."""
SETTLE_MS = 1_767_225_600_000 + 8 * HOUR_MS
_SNAPSHOT = load_snapshot()
_KEY = "simkey" + "C" * 58
_SECRET = "simsecret" + "d" * 55
_USDT = 100_000.0
LOOSE = RiskLimits(max_market_share=1.0, max_order_notional_usd=1e7, max_position_notional_usd=1e7, max_leverage=20)


@dataclass
class Env:
    server: SimulatorServer
    model: MarketModel
    client: BinanceFuturesClient
    hedge: BinanceTrader
    journal: Journal
    path: Path

    def touch(self, native: str = "BTCUSDT") -> tuple[float, float]:
        """(bid, ask) of a Binance market, USD."""
        spec = self.server.binance.specs[native]
        bid, ask = self.server.binance.touch(native)
        return spec.price(bid), spec.price(ask)

    def account(self) -> Any:
        return self.server.binance.account(_KEY)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    model = MarketModel(_SNAPSHOT, seed=11, start_ms=START, cascade_rate_per_hour=0.0)
    server = SimulatorServer(
        model, speed=0, lockstep=True, tick_hz=5.0, starting_usdc=_USDT, binance_credentials=[(_KEY, _SECRET)]
    )
    await server.start()
    path = tmp_path / "journal.sqlite"
    journal = Journal(path, clock=lambda: model.now_ms)
    client = BinanceFuturesClient(
        server.http_url or "", BinanceCredentials(_KEY, _SECRET), clock_ms=lambda: model.now_ms, timeout_s=10.0
    )
    hedge = BinanceTrader(client, journal=journal, kill_deadline_s=5.0)
    try:
        await hedge.start()
        yield Env(server, model, client, hedge, journal, path)
    finally:
        await client.aclose()
        journal.close()
        await server.stop()


def _buy(env: Env, size: float, symbol: str = "BTC", native: str = "BTCUSDT", **kw: Any) -> LegOrder:
    """A marketable buy: limit 0.5 % above the ask, on the tick."""
    _, ask = env.touch(native)
    tick = env.hedge.rules[symbol].tick_size
    return LegOrder.new(symbol, True, size, round(math.ceil(ask * 1.005 / tick) * tick, 8), **kw)


def _sell(env: Env, size: float, symbol: str = "BTC", native: str = "BTCUSDT", **kw: Any) -> LegOrder:
    """A marketable sell: limit 0.5 % below the bid, on the tick."""
    bid, _ = env.touch(native)
    tick = env.hedge.rules[symbol].tick_size
    return LegOrder.new(symbol, False, size, round(math.floor(bid * 0.995 / tick) * tick, 8), **kw)


# -- rules -----------------------------------------------------------------------------------


async def test_start_reads_rules_and_account(env: Env) -> None:
    h = env.hedge
    assert h.native("BTC") == "BTCUSDT"
    assert h.native("ETH") == "ETHUSDT"
    assert h.native("NOPE") is None
    step = h.rules["BTC"].step_size
    assert step == 0.0001  # the simulator's BTC step (one step worth 1–10 USD)
    assert h.floor_size("BTC", 0.12345678) == 0.1234
    assert h.floor_size("BTC", 0.3 - 0.1) == 0.2  # 0.19999999999999998 must not lose a step
    assert h.floor_size("BTC", 0.00019) == 0.0001
    assert h.floor_size("BTC", step / 2) == 0.0
    assert h.floor_size("BTC", -1.0) == 0.0
    assert h.floor_size("NOPE", 1.0) == 0.0
    assert h.min_notional("BTC") == 5.0
    assert h.min_notional("NOPE") == math.inf
    assert h.equity == pytest.approx(_USDT)
    assert h.positions == {} and h.position_size("BTC") == 0.0 and h.notional_usd() == 0.0


# -- orders ----------------------------------------------------------------------------------


async def test_submit_fills_journals_and_shows_the_position(env: Env) -> None:
    h = env.hedge
    _, ask = env.touch()
    order = _buy(env, 0.05)
    [out] = await h.submit([order])
    assert out.status == "filled", out.message
    assert out.filled_sz == pytest.approx(0.05)
    assert out.avg_px == pytest.approx(ask)  # the simulator fills a marketable limit at the touch
    assert isinstance(out.order_id, int) and out.order_id > 0
    assert "bought" in out.message and "BTC" in out.message
    stored = env.journal.intent(order.cloid)
    assert stored is not None
    assert (stored.venue, stored.symbol, stored.side, stored.state) == ("binance", "BTC", "B", "filled")
    assert stored.oid == out.order_id and stored.sent_ms is not None
    assert stored.filled_sz == pytest.approx(0.05) and stored.avg_px == pytest.approx(ask)
    assert env.account().leverage.get("BTCUSDT") == 3  # max_leverage set before the first order

    assert h.position_size("BTC") == 0.0  # not until the next read
    await h.refresh()
    assert h.position_size("BTC") == pytest.approx(0.05)
    fee = 0.05 * ask * bt.BINANCE_TAKER_FEE
    mark = h.positions["BTC"].mark_px
    assert isinstance(h.equity, float)
    assert h.equity == pytest.approx(_USDT - fee + 0.05 * (mark - ask), abs=0.01)
    assert _USDT - 10 < h.equity < _USDT
    [row] = h.position_rows()
    assert row[0] == "BTC" and row[1] == pytest.approx(0.05) and row[2] == pytest.approx(ask)
    assert h.notional_usd() == pytest.approx(0.05 * mark)
    # cross margin, $4.5 k long on $100 k: the venue reports no liquidation price (0) → unknown
    assert h.positions["BTC"].liquidation_px is None and h.liquidation_distance("BTC") is None
    assert h.liquidation_distance("ETH") is None


async def test_refusals_send_nothing(env: Env) -> None:
    h = env.hedge
    [opened] = await h.submit([_buy(env, 0.01)])
    assert opened.status == "filled"
    trades_before = len(await env.client.user_trades("BTCUSDT"))

    halted = True
    h.halted = lambda: halted
    opening = _buy(env, 0.01)
    unknown = LegOrder.new("NOPE", True, 1.0, 10.0)
    below_step = _buy(env, 0.00001)
    small = LegOrder.new("BTC", True, 0.0001, 40_000.0, tif="Gtc")  # $4 < $5 minimum
    [o1] = await h.submit([opening])
    assert o1.status == "refused" and "halted" in o1.message
    close = _sell(env, 0.01, reduce_only=True, purpose="kill")
    [o2] = await h.submit([close])
    assert o2.status == "filled", o2.message  # reduce-only goes out while halted
    halted = False
    outs = await h.submit([unknown, below_step, small])
    assert [o.status for o in outs] == ["refused"] * 3
    assert "not listed" in outs[0].message
    assert "step" in outs[1].message
    assert "minimum" in outs[2].message
    for o in (opening, unknown, below_step, small):
        assert env.journal.intent(o.cloid) is None
    assert env.journal.intent(close.cloid).state == "filled"
    assert len(await env.client.user_trades("BTCUSDT")) == trades_before + 1  # only the close
    assert await env.client.open_orders() == []
    await h.refresh()
    assert h.positions == {}


async def test_post_only_that_would_cross_is_rejected(env: Env) -> None:
    h = env.hedge
    _, ask = env.touch()
    order = LegOrder.new("BTC", True, 0.01, round(ask + 10.0, 1), tif="Alo")
    [out] = await h.submit([order])
    assert out.status == "rejected"
    assert "-5022" in out.message
    stored = env.journal.intent(order.cloid)
    assert stored is not None and stored.state == "rejected" and "-5022" in (stored.error or "")
    assert stored.venue == "binance" and stored.tif == "Alo"
    assert await env.client.open_orders() == []
    await h.refresh()
    assert h.positions == {}


async def test_resting_order_is_journalled_as_acked(env: Env) -> None:
    bid, _ = env.touch()
    order = LegOrder.new("BTC", True, 0.001, round(bid * 0.9, 1), tif="Gtc")
    [out] = await env.hedge.submit([order])
    assert out.status == "resting" and out.filled_sz == 0.0 and out.order_id
    stored = env.journal.intent(order.cloid)
    assert stored.state == "acked" and stored.oid == out.order_id
    [o] = await env.client.open_orders("BTCUSDT")
    assert o.client_order_id == order.cloid and o.order_id == out.order_id


async def test_lost_answer_is_reconciled_by_client_id_not_resent(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    h = env.hedge
    real = env.client.place_batch
    calls: list[int] = []

    async def lose_the_answer(reqs: Any) -> Any:
        calls.append(len(reqs))
        await real(reqs)  # the orders reach the venue …
        raise BinanceUnavailable("binance POST /fapi/v1/batchOrders: read timeout", outcome_unknown=True)  # … the answer does not

    monkeypatch.setattr(env.client, "place_batch", lose_the_answer)
    order = _buy(env, 0.02)
    [out] = await h.submit([order])
    assert calls == [1]
    assert out.status == "filled", out.message
    assert out.filled_sz == pytest.approx(0.02) and out.order_id
    stored = env.journal.intent(order.cloid)
    assert stored.state == "filled" and stored.oid == out.order_id
    monkeypatch.undo()
    trades = await env.client.user_trades("BTCUSDT")
    assert len(trades) == 1 and trades[0].order_id == out.order_id  # exactly one order reached the venue
    assert [o.client_id for o in env.account().orders.values()] == [order.cloid]
    await h.refresh()
    assert h.position_size("BTC") == pytest.approx(0.02)


async def test_lost_answer_of_an_order_that_never_arrived_is_rejected(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    async def lost_before_arrival(reqs: Any) -> Any:
        raise BinanceUnavailable("binance POST /fapi/v1/batchOrders: connect timeout", outcome_unknown=True)

    monkeypatch.setattr(env.client, "place_batch", lost_before_arrival)
    order = _buy(env, 0.02)
    [out] = await env.hedge.submit([order])
    assert out.status == "rejected" and "no such order" in out.message
    assert env.journal.intent(order.cloid).state == "rejected"
    assert await env.client.user_trades("BTCUSDT") == []


# -- journal sync ----------------------------------------------------------------------------


async def test_sync_journals_fills_and_funding_once(env: Env) -> None:
    h = env.hedge
    long_btc = _buy(env, 0.05)
    [out] = await h.submit([long_btc])
    assert out.status == "filled"
    await env.server.advance(29 * 60)  # 07:59
    quotes = await h.quotes()
    rate = quotes["BTC"].rate
    assert quotes["BTC"].next_funding_ms == SETTLE_MS and rate != 0.0
    await env.server.advance(2 * 60)  # 08:01: past the settlement
    assert env.model.now_ms > SETTLE_MS
    await h.refresh()
    await h.sync_fills_and_funding()

    [fill] = env.journal.fills()
    assert (fill.venue, fill.symbol, fill.side) == ("binance", "BTC", "B")
    assert fill.sz == pytest.approx(0.05) and fill.px == pytest.approx(out.avg_px)
    assert fill.oid == out.order_id and fill.cloid == long_btc.cloid  # matched through the oid
    assert fill.fee == pytest.approx(0.05 * out.avg_px * bt.BINANCE_TAKER_FEE, rel=1e-6)
    assert fill.fee_token == "USDT"

    [pay] = env.journal.funding()
    assert (pay.venue, pay.symbol, pay.time_ms) == ("binance", "BTC", SETTLE_MS)
    assert pay.size == pytest.approx(0.05)
    # a long pays a positive rate and receives a negative one: usdc = −size × mark × rate
    assert math.copysign(1.0, pay.usdc) == -math.copysign(1.0, rate)
    assert pay.usdc == pytest.approx(-0.05 * quotes["BTC"].mark_px * rate, rel=0.05)
    assert pay.rate == pytest.approx(rate, rel=0.05)
    assert env.journal.intent(long_btc.cloid).state == "filled"

    await h.sync_fills_and_funding()
    assert len(env.journal.fills()) == 1 and len(env.journal.funding()) == 1


async def test_sync_picks_up_only_new_trades(env: Env) -> None:
    h = env.hedge
    await h.submit([_buy(env, 0.01)])
    await h.sync_fills_and_funding()
    assert len(env.journal.fills(symbol="BTC")) == 1
    await h.submit([_sell(env, 0.01, reduce_only=True), _buy(env, 0.1, "ETH", "ETHUSDT")])
    await h.sync_fills_and_funding()
    assert [(f.symbol, f.side) for f in env.journal.fills()] == [("BTC", "B"), ("BTC", "A"), ("ETH", "B")]
    assert all(f.cloid is not None for f in env.journal.fills())


# -- quotes ----------------------------------------------------------------------------------


async def test_quotes(env: Env) -> None:
    h = env.hedge
    quotes = await h.quotes()
    btc = quotes["BTC"]
    assert btc.native == "BTCUSDT" and btc.symbol == "BTC"
    assert btc.interval_h in (4.0, 8.0)
    assert btc.next_funding_ms > env.model.now_ms
    assert btc.next_funding_ms - env.model.now_ms <= btc.interval_h * HOUR_MS
    bid, ask = env.touch()
    assert bid <= btc.mark_px <= ask
    assert math.isfinite(btc.rate)
    assert set(quotes) <= set(h.rules)
    assert {q.interval_h for q in quotes.values()} <= {4.0, 8.0}
    assert any(q.interval_h == 4.0 for q in quotes.values())  # fundingInfo read: not all default 8 h
    assert h.marks["BTC"] == btc.mark_px
    assert h.malformed_quotes == 0


async def test_quotes_skip_and_count_malformed_items(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    h = env.hedge
    real_get = bt.get_json

    async def with_bad_items(http: Any, url: str, **kw: Any) -> Any:
        raw = await real_get(http, url, **kw)
        if url.endswith("/premiumIndex"):
            btc = next(i for i in raw if i["symbol"] == "BTCUSDT")
            return [{"symbol": "ETHUSDT", "markPrice": "n/a"}, {**btc, "markPrice": "0"}, None,
                    *[i for i in raw if i["symbol"] != "BTCUSDT"]]  # fmt: skip
        return raw

    monkeypatch.setattr(bt, "get_json", with_bad_items)
    quotes = await h.quotes()
    assert h.malformed_quotes == 3
    assert "BTC" not in quotes  # its only item was unusable
    assert "ETH" in quotes and quotes["ETH"].mark_px > 0  # the good ETH item still counts
    assert len(quotes) > 100
    await h.quotes()
    assert h.malformed_quotes == 6


# -- kill switch -----------------------------------------------------------------------------


async def test_kill_flattens_positions_and_cancels_orders(env: Env) -> None:
    h = env.hedge
    bid, _ = env.touch()
    rest = LegOrder.new("BTC", True, 0.001, round(bid * 0.8, 1), tif="Gtc")
    outs = await h.submit([_buy(env, 0.03), _sell(env, 1.0, "ETH", "ETHUSDT"), rest])
    assert [o.status for o in outs] == ["filled", "filled", "resting"], [o.message for o in outs]
    h.halted = lambda: True  # the console is HALTED by the kill key: closes go out anyway

    report = await h.kill("test")
    assert report.flat, report.failures
    assert report.venue == "binance" and report.failures == []
    assert report.cancelled >= 1 and report.rounds >= 1
    assert len(report.closed) == 2
    assert any("BTC sold 0.03" in c for c in report.closed)
    assert any("ETH bought 1" in c for c in report.closed)
    assert await env.client.positions() == []
    assert await env.client.open_orders() == []
    assert env.journal.intent(rest.cloid).state in ("acked", "cancelled")
    kills = [i for i in env.journal.intents() if i.purpose == "kill"]
    assert len(kills) == 2 and all(i.reduce_only and i.state == "filled" and i.venue == "binance" for i in kills)
    [started] = env.journal.events(kind="kill_venue")
    assert started.detail == {"venue": "binance", "reason": "test"}
    [result] = env.journal.events(kind="kill_venue_result")
    assert result.detail["flat"] is True and result.detail["cancelled"] == report.cancelled
    assert len(result.detail["closed"]) == 2

    again = await h.kill("again")
    assert again.flat and again.cancelled == 0 and again.closed == [] and again.rounds == 0
    assert len(env.journal.events(kind="kill_venue_result")) == 2


async def test_kill_reports_what_it_cannot_close(env: Env) -> None:
    h = env.hedge
    await h.submit([_buy(env, 0.01), _buy(env, 0.01, "ETH", "ETHUSDT")])
    h.kill_deadline_s = 0.5
    eth_rules = h.rules.pop("ETH")  # rules gone: the ETH close cannot be built
    try:
        report = await h.kill()
    finally:
        h.rules["ETH"] = eth_rules
    assert not report.flat
    assert any("ETH" in f for f in report.failures)
    assert any("BTC sold" in c for c in report.closed)
    [result] = env.journal.events(kind="kill_venue_result")
    assert result.detail["flat"] is False and result.detail["failures"]
    await h.refresh()
    assert set(h.positions) == {"ETH"}


# -- the Hyperliquid trader with the Binance venue attached ----------------------------------


async def _hl_trader(env: Env) -> Trader:
    signer = Signer.generate()
    access = TradingAccess(signer, signer.address, "sim", None, "test")
    ex = HyperliquidExchange(env.server.http_url or "", signer, is_mainnet=True, timeout_s=10.0)
    clock = lambda: env.model.now_ms  # noqa: E731
    trader = Trader(
        access, ex, env.journal, TraderSettings(limits=LOOSE, kill_deadline_s=5.0),
        venue="sim", venue_now_ms=clock, wall_ms=clock,
    )  # fmt: skip
    await trader.start()
    return trader


async def _hl_market(trader: Trader, symbol: str, is_buy: bool, usd: float) -> None:
    quote = trader.quote(TicketRequest(symbol, is_buy, usd, True, None, "Ioc", False))
    assert quote.intent is not None and quote.refusal is None, quote.refusal
    [out] = await trader.submit([quote.intent])
    assert out.status == "filled", out.message


async def test_trader_kill_switch_flattens_both_venues(env: Env) -> None:
    trader = await _hl_trader(env)
    try:
        trader.attach_hedge(env.hedge)
        trader.attach_hedge(env.hedge)
        assert trader.hedges == [env.hedge]
        await _hl_market(trader, "BTC", False, 3_000)  # short on Hyperliquid …
        [out] = await env.hedge.submit([_buy(env, 0.03)])  # … long on Binance
        assert out.status == "filled"
        bid, _ = env.touch("ETHUSDT")
        [rest] = await env.hedge.submit([LegOrder.new("ETH", True, 0.01, round(bid * 0.8, 2), tif="Gtc")])
        assert rest.status == "resting"

        report = await trader.kill("test")
        assert report.flat, report.failures
        assert any(c.startswith("BTC bought") for c in report.closed)  # the Hyperliquid close
        assert any(c.startswith("binance BTC sold 0.03") for c in report.closed)  # the Binance close
        assert report.cancelled >= 1
        assert "FLAT" in report.summary()
        state = await trader.exchange.account_state()
        assert not [p for p in state.positions if p.size != 0]
        assert await env.client.positions() == [] and await env.client.open_orders() == []
        assert [e.detail["flat"] for e in env.journal.events(kind="kill_venue_result")] == [True]
        [result] = env.journal.events(kind="kill_result")
        assert result.detail["flat"] is True
    finally:
        await trader.stop()
        await trader.exchange.aclose()


async def test_trader_kill_switch_is_not_flat_when_binance_is_not(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    trader = await _hl_trader(env)
    try:
        trader.attach_hedge(env.hedge)
        await _hl_market(trader, "ETH", True, 2_000)
        [out] = await env.hedge.submit([_sell(env, 0.5, "ETH", "ETHUSDT")])
        assert out.status == "filled"

        async def stuck(reason: str = "kill key") -> VenueKillReport:
            return VenueKillReport("binance", flat=False, rounds=3, failures=["binance ETH -0.5 still open"])

        monkeypatch.setattr(env.hedge, "kill", stuck)
        report = await trader.kill("test")
        assert not report.flat
        assert "binance ETH -0.5 still open" in report.failures
        assert any(c.startswith("ETH sold") for c in report.closed)  # Hyperliquid itself got flat
        assert "NOT FLAT" in report.summary()
        state = await trader.exchange.account_state()
        assert not [p for p in state.positions if p.size != 0]
        [result] = env.journal.events(kind="kill_result")
        assert result.detail["flat"] is False
    finally:
        await trader.stop()
        await trader.exchange.aclose()


async def test_trader_kill_switch_survives_a_crashing_binance_kill(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    trader = await _hl_trader(env)
    try:
        trader.attach_hedge(env.hedge)

        async def crash(reason: str = "kill key") -> VenueKillReport:
            raise RuntimeError("boom")

        monkeypatch.setattr(env.hedge, "kill", crash)
        report = await trader.kill("test")
        assert not report.flat
        assert any("binance" in f and "boom" in f for f in report.failures)
    finally:
        await trader.stop()
        await trader.exchange.aclose()


async def test_trader_equity_and_day_pnl_include_the_hedge(env: Env) -> None:
    trader = await _hl_trader(env)
    try:
        hl_value = trader.account.state.account_value
        assert trader.equity_all_venues == pytest.approx(hl_value)
        assert trader.pnl_today == pytest.approx(0.0, abs=1e-6)
        trader.attach_hedge(env.hedge)
        assert trader.equity_all_venues == pytest.approx(hl_value + env.hedge.equity)
        await trader.refresh()  # the day is re-baselined with the Binance equity in it
        base = trader.equity_all_venues
        assert base == pytest.approx(trader.account.state.account_value + _USDT)
        assert trader.pnl_today == pytest.approx(0.0, abs=1e-6)

        [out] = await env.hedge.submit([_buy(env, 0.1)])
        assert out.status == "filled"
        await env.hedge.refresh()
        lost = _USDT - env.hedge.equity
        assert lost > 0.1 * out.avg_px * bt.BINANCE_TAKER_FEE * 0.99  # at least the fee
        assert trader.equity_all_venues == pytest.approx(trader.account.state.account_value + env.hedge.equity)
        assert trader.pnl_today == pytest.approx(trader.account.state.account_value - hl_value - lost, abs=1e-6)
        assert trader.pnl_today < 0
    finally:
        await trader.stop()
        await trader.exchange.aclose()


# -- known defects ---------------------------------------------------------------------------


async def test_float_noise_size_passes_the_checks_and_is_sent_or_refused(env: Env) -> None:
    order = _buy(env, 0.0003 - 0.0002)  # 9.999999999999996e-05: floor_size says one step (0.0001)
    assert env.hedge.floor_size("BTC", order.size) == 0.0001
    try:
        [out] = await env.hedge.submit([order])
    except ValueError as exc:  # today
        stored = env.journal.intent(order.cloid)
        pytest.fail(f"submit raised {exc!r}; the intent is left {stored.state if stored else None!r}")
    assert out.status in ("filled", "refused")
    stored = env.journal.intent(order.cloid)
    assert stored is None or stored.state in ("filled", "rejected")


async def test_float_noise_size_does_not_lose_a_step(env: Env) -> None:
    order = _buy(env, 0.3 - 0.1)
    [out] = await env.hedge.submit([order])
    assert out.status == "filled", out.message
    assert out.filled_sz == pytest.approx(env.hedge.floor_size("BTC", order.size))  # 0.2; today 0.1999


async def test_below_minimum_after_flooring_is_refused_not_raised(env: Env) -> None:
    h = env.hedge
    eth_ask = env.touch("ETHUSDT")[1]
    assert 0.0019 * eth_ask * 1.005 >= 5.0 > 0.001 * eth_ask * 1.005
    good = _buy(env, 0.01)
    tiny = _buy(env, 0.0019, "ETH", "ETHUSDT")
    try:
        outs = await h.submit([good, tiny])
    except ValueError as exc:  # today
        states = [(i.symbol, i.state) for i in env.journal.intents()]
        sent = len(await env.client.user_trades("BTCUSDT"))
        pytest.fail(f"submit raised {exc!r}; journal {states}; BTC trades on the venue: {sent}")
    assert [o.status for o in outs] == ["filled", "refused"]
    assert env.journal.intent(good.cloid).state == "filled"


async def test_funding_synced_after_a_close_keeps_the_size_and_rate_at_settlement(env: Env) -> None:
    h = env.hedge
    [out] = await h.submit([_buy(env, 0.05)])
    assert out.status == "filled"
    await env.server.advance(29 * 60)
    rate = (await h.quotes())["BTC"].rate
    await env.server.advance(2 * 60)  # past the 08:00 settlement
    [close] = await h.submit([_sell(env, 0.05, reduce_only=True)])
    assert close.status == "filled"
    await h.refresh()
    await h.sync_fills_and_funding()
    [pay] = env.journal.funding()
    assert pay.time_ms == SETTLE_MS and pay.usdc == pytest.approx(-0.05 * out.avg_px * rate, rel=0.05)
    assert pay.size == pytest.approx(0.05)  # today 0.0
    assert pay.rate == pytest.approx(rate, rel=0.05)  # today 0.0


async def test_a_timestamp_refusal_resyncs_the_clock_and_resends_once(env: Env) -> None:
    """A -1021 (clock outside recvWindow) is a refusal of the whole request: the trader anchors
    its signing clock on the venue's time again and sends the same order once more."""
    from core.binance_trader import ServerClock

    wall = [0.0]
    clock = ServerClock(wall=lambda: wall[0])
    client = BinanceFuturesClient(env.server.http_url or "", BinanceCredentials(_KEY, _SECRET), clock_ms=clock)
    hedge = BinanceTrader(client, journal=env.journal, clock=clock)
    try:
        await hedge.start()  # anchored on the venue's time
        wall[0] += 600.0  # the wall clock jumps 10 minutes: every signature is now out of the window
        with pytest.raises(BinanceError, match="-1021"):
            await client.account()
        [out] = await hedge.submit([_buy(env, 0.002)])
        assert out.status == "filled", out.message
        assert len(await client.user_trades("BTCUSDT")) == 1  # placed once
        wall[0] += 600.0
        await hedge.refresh()  # a read is repeated the same way
        assert hedge.position_size("BTC") == pytest.approx(0.002)
    finally:
        await client.aclose()
