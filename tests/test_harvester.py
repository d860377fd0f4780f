"""The funding harvester end to end on the simulator in lockstep (``pfterm.core.harvest.lockstep``):
funding collected in a positive regime, exits on a funding flip, the daily loss limit firing
the kill switch, determinism, and the ``pfterm harvest`` command line."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import pytest

from pfterm.core.harvest.lockstep import SESSION_START_MS, harvester_settings, parse_duration, run_simulated_harvest
from pfterm.core.runtime.config import Settings
from pfterm.tui.cli import main


def _quiet_settings() -> Settings:
    s = Settings()
    s.sim.cascade_rate = 0.0  # clean regimes: cascades' basis shocks are tested elsewhere
    return s


@contextlib.asynccontextmanager
async def lockstep_desk(regime: str) -> AsyncIterator[tuple[object, object]]:
    """A simulator in lockstep (``regime`` funding) and a desk on a fresh account, both on
    the simulated clock: yields ``(server, desk)``."""
    from pfterm.core.sim.market import MarketModel
    from pfterm.core.sim.server import SimulatorServer
    from pfterm.core.sim.snapshot import load_snapshot
    from pfterm.core.trading.journal import Journal
    from pfterm.core.venues.hyperliquid.signing import Signer
    from tests.desks import desk_on

    model = MarketModel(load_snapshot(), seed=7, start_ms=SESSION_START_MS, cascade_rate_per_hour=0.0, regime=regime)
    server = SimulatorServer(model, speed=0.0, tick_hz=1.0, lockstep=True)
    await server.start()
    journal = Journal(":memory:", clock=lambda: model.now_ms)
    desk = desk_on(server.http_url or "", Signer.generate(), journal, clock=lambda: model.now_ms, timeout_s=30.0)
    try:
        await desk.start()
        yield server, desk
    finally:
        await desk.stop()
        await desk.aclose()
        journal.close()
        await server.stop()


async def test_positive_regime_collects_funding() -> None:
    s = _quiet_settings()
    report = await run_simulated_harvest(s, harvester_settings(s), seed=7, duration_s=2 * 86_400, regime="positive")
    total = report["pnl"]["total"]
    assert report["decisions"].get("enter", 0) >= 1
    assert total["funding_pnl"] > 0
    assert total["fees"] > 0
    # the attribution adds up: spot + perp + funding − fees = net
    assert total["net"] == pytest.approx(
        total["spot_pnl"] + total["perp_pnl"] + total["funding_pnl"] - total["fees"], abs=0.05
    )
    # and the net is the account's equity change (marked at the end)
    change = report["account"]["equity_end_usd"] - report["account"]["equity_start_usd"]
    assert total["net"] == pytest.approx(change, abs=max(5.0, 0.02 * abs(change)))
    carry = [p for p in report["pnl"]["positions"] if p["strategy"] == "cash_and_carry"]
    assert carry and all(p["side"] == "short_perp" for p in carry)


async def test_funding_flip_is_exited() -> None:
    s = _quiet_settings()
    flip = SESSION_START_MS + 24 * 3_600_000
    report = await run_simulated_harvest(
        s, harvester_settings(s), seed=7, duration_s=36 * 3_600, regime="positive", regime_flip_at_ms=flip
    )
    assert report["decisions"].get("enter", 0) >= 1
    # every cash-and-carry position is out once Hyperliquid's funding turned; perp-against-perp
    # positions follow the spread of the two venues, which a flip of one venue's regime need
    # not turn (the other venue follows its premium)
    carry = [p for p in report["pnl"]["positions"] if p["strategy"] == "cash_and_carry"]
    assert carry and all(p["closed_ms"] is not None for p in carry)
    # positions held through the flip were closed by it: their funding average (8 h) first falls
    # under the exit level ("faded") or, when the turn is abrupt, below zero ("flipped")
    through = [p for p in carry if p["opened_ms"] < flip < p["closed_ms"]]
    assert through
    assert all(p["close_reason"].startswith(("funding faded", "funding flipped")) for p in through)
    assert all(p["closed_ms"] - flip <= 12 * 3_600_000 for p in through)


async def test_daily_loss_limit_fires_the_kill_switch_and_stops() -> None:
    s = _quiet_settings()
    s.trading.daily_loss_limit = 1e-6  # the first fees breach it
    report = await run_simulated_harvest(s, harvester_settings(s), seed=7, duration_s=6 * 3_600, regime="positive")
    assert report["session"]["status"] == "halted"
    assert report["decisions"].get("halt", 0) == 1
    assert report["kill_switch"] is not None and report["kill_switch"]["flat"] is True
    assert report["session"]["simulated_to_ms"] < SESSION_START_MS + 6 * 3_600_000


async def test_same_seed_same_session() -> None:
    s = _quiet_settings()
    a = await run_simulated_harvest(s, harvester_settings(s), seed=3, duration_s=12 * 3_600, regime="positive")
    b = await run_simulated_harvest(s, harvester_settings(s), seed=3, duration_s=12 * 3_600, regime="positive")
    for r in (a, b):
        r["session"].pop("wall_s")
    assert a == b


def test_duration_parser() -> None:
    assert parse_duration("7d") == 604_800 and parse_duration("36h") == 129_600 and parse_duration("90") == 90
    for bad in ("", "7w", "-1h", "0"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_cli_simulated_session_json(tmp_path, capsys) -> None:
    code = main(
        [
            "harvest",
            "--venue",
            "sim",
            "--speed",
            "3600",
            "--duration",
            "3h",
            "--seed",
            "7",
            "--report",
            "json",
            "--log-file",
            str(tmp_path / "h.log"),
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["session"]["seed"] == 7 and report["session"]["cycles"] == 36
    assert set(report["pnl"]["total"]) >= {"funding_pnl", "fees", "net", "win_rate"}
    assert report["session"]["status"] == "completed"
    assert (tmp_path / "h.log").exists()


def test_cli_simulated_session_text(tmp_path, capsys) -> None:
    code = main(
        [
            "harvest",
            "--venue",
            "sim",
            "--duration",
            "2h",
            "--seed",
            "7",
            "--report",
            "text",
            "--log-file",
            str(tmp_path / "h.log"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "funding earned" in out and "fees" in out and " net " in out
    assert "status: completed" in out
    # seed 7 enters one HYPE carry within the first two hours: the per-strategy line shows it
    assert "  cash_and_carry: 1 position(s), funding +" in out


def test_cli_refuses_a_duration_on_a_real_venue(tmp_path, capsys) -> None:
    code = main(["harvest", "--venue", "hyperliquid", "--duration", "1d", "--log-file", str(tmp_path / "h.log")])
    assert code == 2
    assert "embedded simulator only" in capsys.readouterr().err


@pytest.mark.parametrize("flatten", [False, True])
def test_live_harvest_stops_cleanly_on_sigterm(tmp_path, flatten: bool) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[trading]\njournal = "{tmp_path / "journal.sqlite"}"\n[harvest]\ncycle_s = 60\n')
    log = tmp_path / "harvest.log"
    args = [
        sys.executable,
        "-m",
        "pfterm.tui.cli",
        "harvest",
        "--venue",
        "sim",
        "--speed",
        "600",
        "--config",
        str(cfg),
        "--log-file",
        str(log),
    ] + (["--flatten-on-exit"] if flatten else [])
    env = {k: v for k, v in os.environ.items() if k != "PFTERM_HL_PRIVATE_KEY"}
    proc = subprocess.Popen(args, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = log.read_text() if log.exists() else ""
            if text.count("harvest ") >= 3 or "harvest enter" in text:
                break
            time.sleep(0.2)
        assert "harvester starting" in log.read_text()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert proc.returncode == 0, err[-2000:]
    assert "harvester stopping (signal)" in text
    if flatten:
        assert "kill switch: FLAT" in text
    else:
        assert "kill switch" not in text


async def test_external_spot_is_hedged_with_a_perp_short_only() -> None:
    s = _quiet_settings()
    s.trading.external_spot = {"SOL": 40.0}  # SOL has no spot market on the venue: declared cold-wallet spot
    report = await run_simulated_harvest(s, harvester_settings(s), seed=7, duration_s=12 * 3_600, regime="positive")
    sol = [p for p in report["pnl"]["positions"] if p["symbol"] == "SOL"]
    assert sol, report["decisions"]
    assert all(p["side"] == "short_perp" and p["spot_pnl"] == 0 for p in sol)
    assert all(abs(p["perp_size"]) <= 40.0 for p in sol)  # never beyond the declared spot


async def test_negative_funding_is_harvested_against_spot_held() -> None:
    from pfterm.core.harvest.harvester import Harvester
    from pfterm.core.market.models import MarketInfo, OrderIntent
    from pfterm.core.venues.hyperliquid.orders import Cloid, market_price

    async with lockstep_desk("negative") as (server, desk):
        ex = desk.hyperliquid.exchange
        mid = (await ex.info.all_mids())["@107"]  # HYPE/USDC
        buy = OrderIntent(
            "@107",
            10107,
            True,
            200.0,
            market_price(mid, True, 0.01, sz_decimals=2),
            "Ioc",
            False,
            Cloid.new().raw,
            "test",
        )
        [res] = await ex.place([buy], {"@107": MarketInfo("hyperliquid", "@107", 10107, 2, 1)})
        assert res.status == "filled"
        await desk.refresh()
        held = sum(b.total for b in desk.account.account.spot if b.coin == "HYPE")
        h = Harvester(desk, now_ms=desk.wall_ms)
        await h.load()
        h.status = "running"
        for _ in range(36):
            await h.cycle()
            await server.advance(300)
            if "HYPE" in h.positions and h.positions["HYPE"].pending_oid is None and h.positions["HYPE"].perp_size > 0:
                break
        pos = h.positions.get("HYPE")
        assert pos is not None and pos.side == "long_perp", [d.reason for d in h.decisions if d.symbol == "HYPE"]
        await desk.refresh()
        perp = sum(p.size for p in desk.account.account.positions if p.symbol == "HYPE")
        spot = sum(b.total for b in desk.account.account.spot if b.coin == "HYPE")
        assert perp > 0 and spot < held
        assert perp + spot == pytest.approx(held, abs=0.02)  # the spot sold became the perp bought


async def test_the_kill_switch_sells_the_carry_spot_legs_too() -> None:
    from pfterm.core.harvest.harvester import Harvester

    async with lockstep_desk("positive") as (server, desk):
        await desk.refresh()
        cash_before = desk.account.account.spot_cash_usd
        h = Harvester(desk, now_ms=desk.wall_ms)
        await h.load()
        h.status = "running"
        for _ in range(24):
            await h.cycle()
            await server.advance(300)
            if any(p.pending_oid is None and p.spot_size > 0 for p in h.positions.values()):
                break
        carried = {s for s, p in h.positions.items() if p.spot_size > 0}
        assert carried
        report = await desk.kill(reason="flatten on exit")
        assert report.flat, report.failures
        assert any("spot sold" in line for line in report.closed), report.closed
        await desk.refresh(mids=await desk.hyperliquid.mids())
        for b in desk.account.account.spot:
            assert b.total * (desk.mark(b.coin) or 0) < 10.0, b  # at most dust below one order is left
        assert desk.account.account.spot_cash_usd == pytest.approx(cash_before, rel=0.01)


async def test_perp_against_perp_on_two_venues(tmp_path) -> None:
    """Markets without a spot leg are harvested against Binance's perp: both legs opened and
    closed together, Binance's funding journalled, and the attribution equals the change of
    equity over both venues."""
    import dataclasses

    from pfterm.core.trading.journal import Journal

    s = _quiet_settings()
    # a short average and no waiting for the preferred window: many entries within hours
    hs = dataclasses.replace(harvester_settings(s), spread_window_h=1.0, max_entry_wait_s=0.0)
    path = tmp_path / "journal.sqlite"
    report = await run_simulated_harvest(s, hs, seed=7, duration_s=10 * 3_600, journal_path=path)
    assert report["account"]["venues"] == ["hyperliquid (sim)", "binance (sim)"]
    pp = [p for p in report["pnl"]["positions"] if p["strategy"] == "perp_perp"]
    closed = [p for p in pp if not p["open"]]
    assert len(pp) >= 5 and len(closed) >= 3
    for p in closed:
        assert p["perp_size"] == 0 and p["hedge_size"] == 0 and p["hedge_venue"] == "binance"
        assert p["close_reason"]
    for p in pp:
        if p["open"] and p["fills"] >= 2:  # both legs placed (a leg sent in the last cycle may be alone)
            assert p["hedge_size"] == pytest.approx(-p["perp_size"])
    total = report["pnl"]["total"]
    change = report["account"]["equity_end_usd"] - report["account"]["equity_start_usd"]
    assert total["net"] == pytest.approx(change, abs=max(5.0, 0.02 * abs(change)))
    # the panel's "funding collected" (synced hourly during the run) agrees with the attribution
    # (synced once more at the end: the last hour may be missing from the former)
    collected = report["session"]["funding_collected_usd"]
    assert collected != 0 and collected == pytest.approx(
        total["funding_pnl"], abs=max(2.0, 0.25 * abs(total["funding_pnl"]))
    )
    with Journal(path) as j:
        venues = {f.venue for f in j.fills()}
        binance_funding = [f for f in j.funding() if f.venue == "binance"]
    assert venues == {"sim", "binance"}
    # the 08:00 UTC settlement (the session starts at 00:20) paid or charged the open Binance legs
    assert binance_funding and all(f.time_ms % (8 * 3_600_000) == 0 for f in binance_funding)
    assert all(f.size != 0 and f.usdc * f.size * f.rate <= 0 for f in binance_funding)  # longs pay a positive rate


def test_rate_average_seeded_from_history_equals_live_updates() -> None:
    from pfterm.core.harvest.harvester import RateAverage

    tau = 8 * 3_600_000
    rows = [(h * 3_600_000, 0.00001 * (h % 5)) for h in range(24)]
    live = RateAverage()
    for t, r in rows:
        live.update(r, t, tau)
    seeded = RateAverage()
    seeded.seed(rows, tau)
    assert seeded == live and seeded.since_ms == 0 and seeded.age_ms(30 * 3_600_000) == 30 * 3_600_000
    # w = 1 − exp(−1/8) per hourly row: the average lags the rows, it is not their last value
    assert 0 < seeded.value < max(r for _, r in rows)
    # rows not newer than the last one folded are ignored (a history read twice)
    seeded.seed(rows[-3:], tau)
    assert seeded == live


async def test_carry_is_judged_on_an_average_seeded_from_the_funding_history() -> None:
    """The harvester reads the settled funding of its carry markets when it loads: the first
    cycle judges them on an average over hours of history, and an entry names both the average
    and this instant's rate."""
    from pfterm.core.harvest.harvester import Harvester

    async with lockstep_desk("positive") as (server, desk):
        h = Harvester(desk, now_ms=desk.wall_ms)
        await h.load()
        h.status = "running"
        tau = h.settings.rate_window_h * 3_600_000
        for sym in ("BTC", "ETH", "HYPE", "PURR"):
            avg = h._rate_avg[("carry", sym)]  # noqa: SLF001
            assert avg.age_ms(desk.wall_ms()) >= 2 * tau, sym  # 3 τ of settled hours folded in
        for _ in range(6):
            await h.cycle()
            await server.advance(300)
        entries = [d for d in h.decisions if d.action == "enter" and d.detail.get("strategy") == "cash_and_carry"]
        assert entries, [d.reason for d in h.decisions]
        for d in entries:
            assert "average" in d.reason and ", now" in d.reason
            assert d.detail["rate_now"] is not None and d.detail["rate_now"] * d.detail["rate"] > 0
        assert not any("averaging" in d.reason for d in h.decisions if d.symbol in ("BTC", "ETH", "HYPE"))


async def test_an_entry_waits_for_the_preferred_window() -> None:
    """At 00:40 a carry is worth entering but the settlement is 20 min away: the harvester
    waits for the window that opens at 01:00 (30–60 min before the 02:00 settlement)."""
    from pfterm.core.harvest.harvester import Harvester

    async with lockstep_desk("positive") as (server, desk):
        await server.advance(20 * 60)  # 00:20 → 00:40 UTC
        h = Harvester(desk, now_ms=desk.wall_ms)
        await h.load()
        h.status = "running"
        for _ in range(3):  # 00:40, 00:45, 00:50
            await h.cycle()
            await server.advance(300)
        assert h.counts["enter"] == 0
        waiting = [d for d in h.decisions if d.reason.startswith("waiting")]
        assert waiting and waiting[0].reason.startswith("waiting 20 min for the preferred entry window")
        await server.advance(15 * 60)  # 01:10
        await h.cycle()
        assert h.counts["enter"] >= 1
        entered = [d for d in h.decisions if d.action == "enter"]
        assert all(d.time_ms % 3_600_000 < 30 * 60_000 for d in entered)  # inside the first half of the hour
