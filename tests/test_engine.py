"""Venue clock, market store and engine: coalescing, windows, alerts, events."""

from __future__ import annotations

import asyncio

import pytest

from pfterm.core.market.clock import VenueClock
from pfterm.core.market.engine import DetectorSettings, Engine, MarketsLoaded
from pfterm.core.market.models import Alert, AlertKind, AssetCtx, FeedState, FeedStatus, MarketInfo, PredictedFunding
from pfterm.core.market.signals import Quadrant
from pfterm.core.market.views import market_row


class FakeMono:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def ctx(sym: str, mark: float, oi: float, funding: float = 0.0000125, oracle: float | None = None) -> AssetCtx:
    o = oracle if oracle is not None else mark
    return AssetCtx(sym, mark, o, mark, funding, 1.0, 0.0, oi, mark, 1e6, o * 0.9999, o * 1.0001, 0, 1.0)


def make_engine(mono: FakeMono, **det) -> Engine:
    clock = VenueClock(rate=1.0, mono=mono, wall_ms=lambda: T0)
    eng = Engine(venue="hyperliquid", clock=clock, detectors=DetectorSettings(**det), oi_window_ms=600_000)
    infos = [MarketInfo("hyperliquid", s, i, 3, 20) for i, s in enumerate(("BTC", "ETH"))]
    eng.on_markets(infos, [ctx("BTC", 100.0, 1000.0), ctx("ETH", 10.0, 5000.0)])
    return eng


def test_clock_fixed_rate_and_anchor() -> None:
    mono = FakeMono()
    c = VenueClock(rate=60.0, mono=mono, wall_ms=lambda: T0)
    mono.t += 1.0
    assert c.now_ms() == T0 + 60_000
    c.observe(T0 + 120_000)
    mono.t += 0.5
    assert c.now_ms() == T0 + 150_000


def test_clock_estimates_rate_from_venue_timestamps() -> None:
    mono = FakeMono()
    c = VenueClock(rate=None, mono=mono, wall_ms=lambda: T0)
    for i in range(10):
        c.observe(T0 + i * 30_000, mono=mono.t)
        mono.t += 0.5
    assert c.rate == pytest.approx(60.0, rel=1e-6)
    r = VenueClock(rate=None, mono=mono, wall_ms=lambda: T0)
    for i in range(10):
        r.observe(T0 + i * 1000 + (7 if i % 2 else 0), mono=mono.t)
        mono.t += 1.0
    assert r.rate == 1.0  # jitter around wall speed snaps to exactly 1


def test_take_dirty_coalesces_many_updates_into_one_entry() -> None:
    mono = FakeMono()
    eng = make_engine(mono)
    eng.take_dirty()
    for i in range(100):
        eng.on_ctx(ctx("BTC", 100.0 + i * 0.01, 1000.0))
    assert eng.take_dirty() == {"BTC"}
    assert eng.take_dirty() == set()
    assert eng.store.get("BTC").ctx.mark_px == pytest.approx(100.99)


def test_unknown_symbol_ignored() -> None:
    eng = make_engine(FakeMono())
    eng.take_dirty()
    eng.on_ctx(ctx("NOPE", 1.0, 1.0))
    assert eng.take_dirty() == set()


def test_oi_window_change_and_quadrant() -> None:
    mono = FakeMono()
    eng = make_engine(mono)
    for i in range(1, 21):
        mono.t += 30.0  # 30 s apart, window 10 min
        eng.on_ctx(ctx("BTC", 100.0 * (1 + 0.001 * i), 1000.0 * (1 + 0.002 * i)))
    st = eng.store.get("BTC")
    assert st.oi_change is not None and st.oi_change > 0
    assert st.price_change is not None and st.price_change > 0
    assert st.quadrant is Quadrant.NEW_LONGS
    # the window start never lags more than the window + one step behind now
    assert eng.clock.now_ms() - st.window[0].time_ms <= 600_000 + 600_000 // 60


async def test_price_drop_alone_is_not_a_cascade() -> None:
    """OI in USD would fall 4 % with the price; contracts did not move: no cascade."""
    mono = FakeMono()
    eng = make_engine(mono)
    q = eng.subscribe()
    for _ in range(3):
        mono.t += 30.0
        eng.on_ctx(ctx("BTC", 100.0, 1000.0))
    mono.t += 30.0
    eng.on_ctx(ctx("BTC", 96.0, 1000.0))
    assert not [e for e in _drain(q) if isinstance(e, Alert)]
    assert eng.store.get("BTC").oi_change == pytest.approx(0.0)


def test_history_is_bounded() -> None:
    mono = FakeMono()
    eng = make_engine(mono)
    for _ in range(5000):
        mono.t += 11.0
        eng.on_ctx(ctx("BTC", 100.0, 1000.0))
    st = eng.store.get("BTC")
    assert len(st.history) == st.history.maxlen
    assert len(st.window) <= st.window.maxlen


async def test_cascade_raises_alert_event_and_is_kept_newest_first() -> None:
    mono = FakeMono()
    eng = make_engine(mono)
    q = eng.subscribe()
    for _ in range(3):
        mono.t += 30.0
        eng.on_ctx(ctx("BTC", 100.0, 1000.0))
    mono.t += 30.0
    eng.on_ctx(ctx("BTC", 96.0, 900.0))  # -4 % price, -10 % OI in one interval
    alerts = [e for e in _drain(q) if isinstance(e, Alert)]
    assert [a.kind for a in alerts] == [AlertKind.CASCADE]
    assert alerts[0].oi_change == pytest.approx(-0.10, rel=1e-9)  # contracts, not USD
    assert alerts[0].price_change == pytest.approx(-0.04, rel=1e-9)
    assert eng.alerts[0] is alerts[0] and eng.alert_seq == 1


async def test_extreme_funding_is_live_but_flips_wait_for_the_settlement() -> None:
    mono = FakeMono()
    eng = make_engine(mono, extreme_apr=1.0, flip_min_apr=0.05)
    q = eng.subscribe()
    eng.on_ctx(ctx("ETH", 10.0, 5000.0, funding=0.00002))  # +17.5 % APR: sign + (baseline at load)
    eng.on_ctx(ctx("ETH", 10.0, 5000.0, funding=-0.00002))  # predicted rate dips negative ...
    eng.on_ctx(ctx("ETH", 10.0, 5000.0, funding=0.00002))  # ... and recovers within the hour
    assert not [e for e in _drain(q) if isinstance(e, Alert)]
    eng.on_ctx(ctx("ETH", 10.0, 5000.0, funding=-0.0002))  # -175 % APR, but 0 min into the hour
    assert not [e for e in _drain(q) if isinstance(e, Alert)]
    mono.t += 600.0  # 10 min in: the prediction has settled enough to judge
    eng.on_ctx(ctx("ETH", 10.0, 5000.0, funding=-0.00021))
    assert [e.kind for e in _drain(q) if isinstance(e, Alert)] == [AlertKind.EXTREME_FUNDING]
    mono.t += 3000.0  # the hour settles at -184 %: that is a flip of funding actually paid
    eng.on_ctx(ctx("BTC", 100.0, 1000.0))
    alerts = [e for e in _drain(q) if isinstance(e, Alert)]
    assert [(a.kind, a.symbol) for a in alerts] == [(AlertKind.FUNDING_FLIP, "ETH")]
    assert alerts[0].time_ms % 3_600_000 == 0


async def test_state_found_at_load_is_a_silent_baseline() -> None:
    mono = FakeMono()
    clock = VenueClock(rate=1.0, mono=mono, wall_ms=lambda: T0)
    eng = Engine(venue="hyperliquid", clock=clock, detectors=DetectorSettings(extreme_apr=1.0))
    q = eng.subscribe()
    eng.on_markets([MarketInfo("hyperliquid", "AXS", 0, 1, 5)], [ctx("AXS", 1.0, 1e6, funding=-0.00144)])
    mono.t += 900.0
    eng.on_ctx(ctx("AXS", 1.0, 1e6, funding=-0.00145))  # still extreme, 15 min in: no news
    assert not [e for e in _drain(q) if isinstance(e, Alert)]
    eng.on_ctx(ctx("AXS", 1.0, 1e6, funding=0.00002))  # positive into the settlement: news
    mono.t += 2700.0
    eng.on_ctx(ctx("AXS", 1.0, 1e6, funding=0.00002))
    assert [e.kind for e in _drain(q) if isinstance(e, Alert)] == [AlertKind.FUNDING_FLIP]


async def test_event_queue_is_bounded_drop_oldest() -> None:
    eng = make_engine(FakeMono())
    q = eng.subscribe(maxsize=3)
    for i in range(10):
        eng.on_feed_status(FeedStatus("hyperliquid/ws", FeedState.CONNECTING, detail=str(i)))
    got = _drain(q)
    assert [e.detail for e in got] == ["7", "8", "9"]


def test_predicted_sets_next_funding_and_row_uses_it() -> None:
    mono = FakeMono()
    eng = make_engine(mono)
    nxt = T0 + 3_600_000
    eng.on_predicted(
        [
            PredictedFunding("BTC", "HlPerp", 0.00001, 1.0, nxt),
            PredictedFunding("BTC", "BinPerp", 0.0001, 8.0, T0 + 8 * 3_600_000),
        ]
    )
    st = eng.store.get("BTC")
    assert st.next_funding_ms == nxt and set(st.predicted) == {"HlPerp", "BinPerp"}
    row = market_row(st, T0 + 1000, stale=False)
    assert row.next_funding_ms == nxt
    # after the venue's time passes, fall back to the next hourly boundary
    row = market_row(st, nxt + 5, stale=False)
    assert row.next_funding_ms == nxt + 3_600_000


def test_staleness_follows_wall_clock() -> None:
    mono = FakeMono()
    eng = make_engine(mono)
    st = eng.store.get("BTC")
    assert not eng.is_stale(st, 10.0, now_mono=1.0 + 5)
    assert eng.is_stale(st, 10.0, now_mono=1.0 + 11)


def test_markets_loaded_event_and_delisted_filter() -> None:
    mono = FakeMono()
    clock = VenueClock(rate=1.0, mono=mono, wall_ms=lambda: T0)
    eng = Engine(venue="hyperliquid", clock=clock)
    q = eng.subscribe()
    infos = [MarketInfo("hyperliquid", "A", 0, 2, 10), MarketInfo("hyperliquid", "OLD", 1, 2, 10, delisted=True)]
    eng.on_markets(infos, [ctx("A", 1.0, 1.0), None])
    assert [m.symbol for m in eng.markets()] == ["A"]
    assert [m.symbol for m in eng.markets(include_delisted=True)] == ["A", "OLD"]
    assert isinstance(q.get_nowait(), MarketsLoaded)


def _drain(q: asyncio.Queue) -> list:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


async def test_session_refetches_followed_history_after_each_settlement() -> None:
    from pfterm.core.market.engine import Settlement
    from pfterm.core.runtime.config import Settings
    from pfterm.core.runtime.session import Endpoint, MarketSession

    class FakeFeed:
        refreshed = 0

        def refresh_history(self) -> None:
            self.refreshed += 1

    eng = make_engine(FakeMono())
    session = MarketSession(Settings(), Endpoint("test", "http://127.0.0.1:1", 1.0, False), eng)
    session.feed = FakeFeed()
    task = asyncio.create_task(session._refresh_history_after_settlements(delay_s=0.0))
    await asyncio.sleep(0)
    eng._publish(Settlement(T0 + 3_600_000))
    eng._publish(MarketsLoaded(2))
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    assert session.feed.refreshed == 1


def test_cross_venue_liquidations_relax_the_cascade_oi_condition() -> None:
    """docs/domain.md §5: with forced closes reported in the interval, an OI drop of less than the
    3 % threshold (but more than half of it), with the price move, is a cascade; without them
    it is not."""
    from pfterm.core.market.models import Liquidation

    def cascades(with_liqs: bool) -> list[Alert]:
        mono = FakeMono()
        eng = make_engine(mono)
        q = eng.subscribe()
        mono.t += 30
        eng.on_ctx(ctx("ETH", 10.0, 5000.0))
        mono.t += 30
        if with_liqs:
            t = eng.clock.now_ms() - 5_000
            eng.on_liquidations([Liquidation("binance", "ETH", "ETHUSDT", "long", 1000.0, 9.8, 9_800.0, t)])
        eng.on_ctx(ctx("ETH", 9.7, 4900.0))  # price −3 %, OI −2 %
        out = []
        while not q.empty():
            e = q.get_nowait()
            if isinstance(e, Alert) and e.kind is AlertKind.CASCADE:
                out.append(e)
        return out

    assert cascades(False) == []
    [alert] = cascades(True)
    assert alert.symbol == "ETH"
