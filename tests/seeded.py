"""A deterministic market session for console tests: the simulator's market model driven
with fixed steps, its wire output decoded by the real adapter, a frozen clock."""

from __future__ import annotations

import json

from pfterm.core.market.clock import VenueClock
from pfterm.core.market.engine import Engine
from pfterm.core.runtime.config import Settings
from pfterm.core.runtime.session import Endpoint, build_engine
from pfterm.core.sim.market import MarketModel
from pfterm.core.sim.snapshot import load_snapshot
from pfterm.core.venues.hyperliquid.wire import (
    decode_ws_frame,
    parse_funding_history,
    parse_l2_book,
    parse_meta_and_asset_ctxs,
    parse_predicted_fundings,
)

T0 = 1_767_268_800_000 + 17 * 60_000 + 23_000  # 2026-01-01 12:17:23 UTC
MONO0 = 5_000.0


class FrozenMono:
    """A monotonic clock that moves only when told."""

    def __init__(self, t: float = MONO0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def seeded_engine(
    mono: FrozenMono, *, seed: int = 1, updates: int = 8, step_s: float = 30.0, cascade: str | None = "ETH"
) -> tuple[Engine, MarketModel, Settings, Endpoint]:
    """Engine fed from a seeded :class:`MarketModel`: a snapshot, then ``updates`` rounds of
    every market's ``activeAssetCtx`` ``step_s`` sim-seconds apart (a forced cascade on
    ``cascade`` midway), predicted fundings, every market's funding history and BTC's book. The venue
    clock is frozen at the model's time afterwards."""
    model = MarketModel(load_snapshot(), seed=seed, start_ms=T0 - updates * int(step_s * 1000), cascade_rate_per_hour=0)
    settings = Settings()
    endpoint = Endpoint("sim (seed 1)", "http://127.0.0.1:1", 1.0, True)
    now = {"ms": model.now_ms}
    engine = build_engine(settings, endpoint)
    engine.clock = VenueClock(rate=0.0, mono=mono, wall_ms=lambda: now["ms"])
    engine.mono = mono
    markets, ctxs = parse_meta_and_asset_ctxs(json.dumps(model.meta_and_asset_ctxs_wire()))
    for c in ctxs:
        if c is not None:
            c.recv_mono = mono.t
    engine.on_markets(markets, ctxs)
    for i in range(updates):
        if cascade and i == updates // 2:
            model.trigger_cascade(cascade, long_liquidation=True, price_move=0.06, oi_drop=0.12, duration_s=10)
        model.step(step_s)
        now["ms"] = model.now_ms
        engine.clock.observe(model.now_ms, mono.t)
        for coin in model.listed_coins:
            frame = json.dumps({"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": model.ctx_wire(coin)}})
            ctx = decode_ws_frame(frame)
            ctx.recv_mono = mono.t
            engine.on_ctx(ctx)
    engine.on_predicted(parse_predicted_fundings(json.dumps(model.predicted_fundings_wire())))
    for coin in model.listed_coins:
        rows = model.funding_history_wire(coin, model.now_ms - 72 * 3_600_000)
        engine.on_funding_history(coin, parse_funding_history(json.dumps(rows)))
    engine.on_book(parse_l2_book(json.dumps(model.l2_book_wire("BTC"))))
    engine.clock.observe(model.now_ms, mono.t)
    return engine, model, settings, endpoint
