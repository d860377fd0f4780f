"""A deterministic, accelerated harvester session on the embedded simulator.

``pfterm harvest --venue sim --duration 7d --seed 7 --report json`` runs here. The simulator
runs in this process on 127.0.0.1 with its clock frozen; the harvester talks to it over HTTP
exactly as it would to Hyperliquid (``/info``, signed ``/exchange``), and between two cycles
the session advances the simulator's clock by one cycle (``SimulatorServer.advance``: fills,
hourly funding, scheduled cancels and liquidations happen on the way). The simulator is
therefore in lockstep with the harvester: the run takes as long as the work, not as long as
the simulated time, and the same seed gives the same decisions.

Determinism: the market model is seeded, the clock starts at a fixed time
(:data:`SESSION_START_MS`), the account key is derived from the seed, and the harvester's
clock is the simulator's. Client order ids are random but appear in no report.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pfterm.core.harvest.harvester import Harvester, HarvesterSettings
from pfterm.core.runtime.config import Settings
from pfterm.core.trading.binance import BinanceClient
from pfterm.core.trading.credentials import TradingAccess
from pfterm.core.trading.desk import Desk, DeskSettings
from pfterm.core.trading.hyperliquid import HyperliquidClient
from pfterm.core.trading.journal import AccountRef, Journal
from pfterm.core.trading.orders import OrderManager
from pfterm.core.venues.binance.futures import BinanceCredentials, BinanceFuturesClient
from pfterm.core.venues.hyperliquid.signing import Signer

__all__ = ["SESSION_START_MS", "harvester_settings", "parse_duration", "run_simulated_harvest"]

SESSION_START_MS = 1_767_571_200_000 + 20 * 60_000
"""2026-01-05 00:20 UTC: a fixed start, 40 minutes before a settlement."""


def parse_duration(text: str) -> float:
    """``"7d"``, ``"36h"``, ``"90m"``, ``"45s"`` or plain seconds → seconds.

    Raises:
        ValueError: anything else, or a non-positive duration.
    """
    units = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}
    t = text.strip().lower()
    try:
        value = float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        raise ValueError(f"duration {text!r}: expected e.g. 7d, 36h, 90m or seconds") from None
    if not value > 0:
        raise ValueError(f"duration {text!r} must be positive")
    return value


def harvester_settings(settings: Settings, profile: str | None = None) -> HarvesterSettings:
    """:class:`HarvesterSettings` from ``[harvest]``, with ``profile`` overriding the config's
    (:meth:`HarvesterSettings.from_section`).

    Raises:
        KeyError: ``profile`` names no profile.
    """
    return HarvesterSettings.from_section(settings.harvest, profile)


def _session_binance_credentials(seed: int) -> BinanceCredentials:
    """The simulated session's Binance API key pair (derived from the seed: same run, same key)."""
    digest = hashlib.sha256(f"pfterm simulated binance {seed}".encode()).hexdigest()
    return BinanceCredentials("sim" + digest[:29], digest[32:] + digest[:32])


def _session_signer(seed: int) -> Signer:
    digest = hashlib.sha256(f"pfterm simulated harvest {seed}".encode()).hexdigest()
    return Signer("0x" + digest)


async def run_simulated_harvest(
    settings: Settings,
    hs: HarvesterSettings,
    *,
    seed: int,
    duration_s: float,
    regime: str = "natural",
    regime_flip_at_ms: int | None = None,
    starting_usdc: float = 100_000.0,
    journal_path: Path | None = None,
    progress: Callable[[str], None] | None = None,
    step_s: float = 150.0,
) -> dict[str, Any]:
    """Run the harvester for ``duration_s`` simulated seconds and return the session report.

    Between two cycles the simulator advances in steps (and model segments) of ``step_s``
    simulated seconds, two per 5-minute cycle by default; hours, settlements and scheduled
    cancels are always stepped to exactly. Resting orders' fills, liquidations and the venues'
    premium samples are resolved at that grain, finer than anything the harvester reads (its
    cycle); the model's mean-reverting processes (basis, open interest) are stepped exactly
    for any length, and a segment's premium sample counts for the 5 s samples it spans.

    The report (JSON-ready) holds the inputs, wall time, cycles, equity at start and end,
    the P&L attribution of :func:`pfterm.core.harvest.report.build_report` (funding, fees, spot and perp
    P&L, net, win rate, realised funding APR), decision counts and exit reasons.
    """
    from pfterm.core.harvest.report import build_report, report_json
    from pfterm.core.sim.market import MarketModel
    from pfterm.core.sim.server import SimulatorServer
    from pfterm.core.sim.snapshot import load_snapshot

    t_wall = time.perf_counter()
    model = MarketModel(
        load_snapshot(),
        seed=seed,
        start_ms=SESSION_START_MS,
        cascade_rate_per_hour=settings.sim.cascade_rate,
        regime=regime,
        regime_flip_at_ms=regime_flip_at_ms,
    )
    bn_creds = _session_binance_credentials(seed) if hs.perp_hedge == "binance" else None
    server = SimulatorServer(
        model,
        speed=0.0,
        tick_hz=1.0,
        starting_usdc=starting_usdc,
        lockstep=True,
        binance_credentials=[(bn_creds.api_key, bn_creds.secret)] if bn_creds else (),
        cex_venues=("binance",),  # the harvester reads no other: Bybit is not simulated
    )
    await server.start()
    tmp = None
    if journal_path is None:
        tmp = tempfile.TemporaryDirectory(prefix="pfterm-harvest-")
        journal_path = Path(tmp.name) / "journal.sqlite"
    journal = Journal(journal_path, clock=lambda: model.now_ms)  # journal times on the simulated clock
    signer = _session_signer(seed)
    access = TradingAccess(signer, signer.address, "sim", None, "simulated session")
    from pfterm.core.venues.hyperliquid.exchange import HyperliquidExchange
    from pfterm.core.venues.hyperliquid.rest import HyperliquidInfo

    # Hyperliquid's request-weight budget holds per *simulated* minute: the harvester is held to
    # the same pace it would keep live, and is not slowed by the wall clock.
    info = HyperliquidInfo(server.http_url or "", timeout_s=30.0, clock=lambda: model.now_ms / 1000)
    exchange = HyperliquidExchange(server.http_url or "", signer, is_mainnet=True, timeout_s=30.0, info=info)
    clock = lambda: model.now_ms  # noqa: E731
    network = f"sim:seed-{seed}"
    ds = DeskSettings.from_section(settings.trading)
    client = HyperliquidClient(
        exchange,
        AccountRef("hyperliquid", network, signer.address.lower()),
        venue_now_ms=clock,
        spot_aliases=ds.spot_aliases,
    )
    primary = OrderManager(client, journal, wall_ms=clock)
    desk = Desk(access, primary, journal, ds, origin="pfterm harvest (simulated)", wall_ms=clock)
    from pfterm.core.runtime.session import harvest_limits

    harvest_limits(desk, hs)
    hedge = None
    bn_client = None
    if bn_creds is not None:
        bn_client = BinanceFuturesClient(server.http_url or "", bn_creds, clock_ms=clock, timeout_s=30.0)
        bn_ref = AccountRef.binance(network, bn_creds.api_key)
        hedge = OrderManager(
            BinanceClient(bn_client, bn_ref, max_leverage=int(settings.trading.max_leverage), now_ms=clock),
            journal,
            wall_ms=clock,
        )
    harvester = Harvester(desk, hs, now_ms=clock, hedge=hedge)
    start_ms = model.now_ms
    end_ms = start_ms + int(duration_s * 1000)
    try:
        await desk.start()
        equity0 = desk.capital_usd or 0.0
        await harvester.load()
        harvester.status = "running"
        last_note = 0
        while model.now_ms < end_ms and harvester.status == "running":
            if harvester.cycles % 12 == 11:  # hourly, as a live desk's poller does: funding collected
                await desk.sync_fills_and_funding()
            await harvester.cycle()
            await server.advance(min(hs.cycle_s, (end_ms - model.now_ms) / 1000), step_s=step_s, max_segment_s=step_s)
            if progress is not None and model.now_ms - last_note >= 86_400_000:
                last_note = model.now_ms
                day = (model.now_ms - start_ms) / 86_400_000
                progress(f"day {day:.1f}: {len(harvester.positions)} position(s), {harvester.cycles} cycles")
        if desk.kill_running:
            await desk.kill()
        await desk.sync_fills_and_funding()
        for om in desk.managers.values():
            await om.refresh(orders=False, mids=True)
        equity1 = desk.capital_usd or 0.0
        marks = dict(primary.mids)  # the last allMids, perp and spot
        hedge_marks = None
        if hedge is not None and hedge.snapshot is not None:
            hedge_marks = {p.symbol: p.mark_px for p in hedge.snapshot.account.positions if p.mark_px}
        book = next((b for b in journal.books() if b.primary == primary.ref), None)
        report = build_report(journal, since_ms=0, marks=marks, now_ms=model.now_ms, hedge_marks=hedge_marks, book=book)
        actions = harvester.counts
        exits = harvester.exit_reasons
        return {
            "session": {
                "venue": "sim (lockstep)",
                "seed": seed,
                "regime": regime,
                "profile": hs.profile.name,
                "score_model": hs.score_model,
                "duration_s": duration_s,
                "simulated_from_ms": start_ms,
                "simulated_to_ms": model.now_ms,
                "cycles": harvester.cycles,
                "cycle_s": hs.cycle_s,
                "wall_s": round(time.perf_counter() - t_wall, 2),
                # "completed": the duration ran out with the harvester running; else why it stopped
                "status": "completed" if harvester.status == "running" else harvester.status,
                "funding_collected_usd": round(harvester.funding_usd, 2),
            },
            "account": {
                "starting_usdc": starting_usdc * (3 if hedge is not None else 2),
                "venues": ["hyperliquid (sim)"] + ([f"{hedge.venue} (sim)"] if hedge is not None else []),
                "equity_start_usd": round(equity0, 2),
                "equity_end_usd": round(equity1, 2),
                "open_positions": len(harvester.positions),
            },
            "kill_switch": None
            if desk.last_kill is None
            else {"flat": desk.last_kill.flat, "summary": desk.last_kill.summary()},
            "decisions": dict(actions),
            "exit_reasons": dict(exits),
            "pnl": report_json(report),
            "journal": str(journal_path) if tmp is None else None,
        }
    finally:
        await desk.stop()
        await exchange.aclose()
        await info.aclose()
        if bn_client is not None:
            await bn_client.aclose()
        journal.close()
        await server.stop()
        if tmp is not None:
            tmp.cleanup()


def run(settings: Settings, hs: HarvesterSettings, **kw: Any) -> dict[str, Any]:
    """Synchronous wrapper of :func:`run_simulated_harvest` for the CLI."""
    return asyncio.run(run_simulated_harvest(settings, hs, **kw))
