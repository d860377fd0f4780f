"""Kill-switch latency on the simulator over 127.0.0.1: batched vs one order per request.

Each run starts from the same book: ``--positions`` open positions (one per market, the most
liquid markets of the snapshot, alternating long/short, ``--usd`` notional each) and
``--orders`` resting GTC orders spread over those markets 8-20 % away from mark (they never
fill during a run). Then:

* **batched** (what pfterm's kill key runs, :meth:`pfterm.core.trading.desk.Desk.kill`): read the account,
  one ``cancel`` batch and one reduce-only IOC ``order`` batch sent concurrently, journalled
  before and after, then verify flat from ``clearinghouseState``;
* **one by one**: the same cancels and closes, one signed request each, in sequence (what a
  naive script does), journalled the same way, then the same verification.

Reported per mode, over ``--runs`` runs: time from the call ("keystroke") to every cancel and
close acknowledged, and to flat verified; p50 / p99 / max in ms, and the ratio of medians.

The simulator runs as a separate process (``python -m pfterm.core.sim``) like a remote venue would;
the journal is a real SQLite file in a temporary directory (WAL, synchronous=FULL).

``--console`` runs the kill switch the way a trader does: the Textual console (headless, 160×50)
streams the simulator's full market data, the book is opened through the console's desk,
and the kill key is pressed; the time is measured from the key press.

``--binance N`` adds N positions and 2N resting orders on the simulator's Binance USDⓈ-M venue,
attached to the desk as its second venue: the batched kill then cancels and closes both venues
in parallel and reports flat only when both are.

``--faults`` runs the kill-switch fault trials instead (:mod:`benchmarks.kill_faults`): ``pfterm kill``
behind a fault-injecting proxy (dropped answers, 429, 500, resets on ``--rate`` of the requests, then
permanent faults), ``--trials`` runs per fault, flatness checked on the venue; a table then JSON.

Usage: ``python benchmarks/kill.py [--runs 20] [--positions 50] [--orders 200] [--console] [--binance 20]``
or ``python benchmarks/kill.py --faults [--trials 100] [--rate 0.3]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pfterm.core.market.models import OrderIntent
from pfterm.core.sim.__main__ import child_command
from pfterm.core.trading.binance import BinanceClient
from pfterm.core.trading.credentials import TradingAccess
from pfterm.core.trading.desk import Desk, DeskSettings
from pfterm.core.trading.hyperliquid import HyperliquidClient
from pfterm.core.trading.journal import AccountRef, Journal
from pfterm.core.trading.kill import plan_kill
from pfterm.core.trading.orders import OrderManager
from pfterm.core.trading.portfolio import TicketRequest
from pfterm.core.trading.risk import RiskLimits
from pfterm.core.venues.hyperliquid.exchange import HyperliquidExchange
from pfterm.core.venues.hyperliquid.orders import Cloid
from pfterm.core.venues.hyperliquid.signing import Signer

LIMITS = RiskLimits(
    max_leverage=50,
    max_order_notional_usd=1e9,
    max_position_notional_usd=1e9,
    max_market_share=1.0,
    max_venue_share=1.0,
)


BINANCE_KEY = ("bench" + "0" * 27, "1" * 64)
"""The simulated Binance account's key pair (registered through the environment at start)."""


async def _start_sim(starting_usdc: float) -> tuple[asyncio.subprocess.Process, str]:
    env = {**os.environ, "PFTERM_BINANCE_API_KEY": BINANCE_KEY[0], "PFTERM_BINANCE_API_SECRET": BINANCE_KEY[1]}
    proc = await asyncio.create_subprocess_exec(
        *child_command(7, "--speed", "1", "--cascade-rate", "0", "--starting-usdc", repr(starting_usdc)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    return proc, json.loads(line)["listening"]


def _q(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, math.ceil(p * len(s)) - 1)]


def _desk(url: str, signer: Signer, journal: Journal, limits: RiskLimits = LIMITS) -> Desk:
    """A desk on the simulator at ``url`` for ``signer``'s account, its journal at ``journal``."""
    access = TradingAccess(signer, signer.address, "sim", None, "benchmark")
    ex = HyperliquidExchange(url, signer, is_mainnet=True)
    client = HyperliquidClient(ex, AccountRef("hyperliquid", "url:benchmark", signer.address))
    return Desk(access, OrderManager(client, journal), journal, DeskSettings(limits=limits), origin="benchmark")


async def _setup(desk: Desk, symbols: list[str], n_orders: int, usd: float) -> None:
    opens = []
    for i, sym in enumerate(symbols):
        q = desk.quote(TicketRequest(sym, i % 2 == 0, usd, True, None, "Ioc", False, "market"))
        assert q.intent is not None and q.refusal is None, (sym, q.refusal)
        opens.append(q.intent)
    rests = []
    k = 0
    while len(rests) < n_orders:
        sym = symbols[k % len(symbols)]
        is_buy = (k // len(symbols)) % 2 == 0
        away = 0.08 + 0.03 * ((k // len(symbols)) % 4)
        mark = desk.mark(sym)
        assert mark is not None
        px = mark * (1 - away if is_buy else 1 + away)
        q = desk.quote(TicketRequest(sym, is_buy, 25.0, True, px, "Gtc", False, "limit"))
        assert q.intent is not None and q.refusal is None, (sym, q.refusal)
        rests.append(q.intent)
        k += 1
    for chunk in (opens, rests[: len(rests) // 2], rests[len(rests) // 2 :]):
        outs = await desk.submit(chunk)
        bad = [o.message for o in outs if o.status not in ("filled", "resting")]
        assert not bad, bad[:3]
    await desk.refresh()
    st = desk.account
    assert st is not None
    npos = len([p for p in st.account.positions if p.size != 0])
    assert npos == len(symbols) and len(st.orders) == n_orders, (npos, len(st.orders))


async def _binance_leg(url: str, desk: Desk) -> OrderManager:
    from pfterm.core.venues.binance.futures import BinanceCredentials, BinanceFuturesClient

    rest = BinanceFuturesClient(url, BinanceCredentials(*BINANCE_KEY))
    om = OrderManager(
        BinanceClient(rest, AccountRef.binance("url:benchmark", BINANCE_KEY[0]), max_leverage=20), desk.journal
    )
    desk.attach(om)
    assert await desk.start_venue(om), om.error
    return om


async def _setup_binance(desk: Desk, leg: OrderManager, symbols: list[str], usd: float) -> None:
    """One position per symbol (alternating sides, ``usd`` each) and two resting orders 15 % away."""
    marks = {s: q.mark_px for s, q in (await leg.client.quotes()).items()}  # type: ignore[attr-defined]
    orders: list[OrderIntent] = []
    for i, sym in enumerate(s for s in symbols if s in marks):
        px = marks[sym]
        o = leg.ioc(sym, i % 2 == 0, usd / px, px, 0.01, purpose="benchmark")
        if o is not None:
            orders.append(o)
        inst = leg.instrument(sym)
        assert inst is not None
        for k in (0.85, 0.84):
            size = inst.rules.floor_size(usd / px)
            limit = inst.rules.round_price(px * k)
            orders.append(OrderIntent(sym, 0, True, size, limit, "Gtc", False, Cloid.new().raw, "benchmark"))
    outs = await desk.submit(orders, venue=leg.venue)
    bad = [o.message for o in outs if o.status not in ("filled", "resting")]
    assert not bad, bad[:3]


async def _one_by_one(desk: Desk) -> tuple[float, float]:
    """Cancel then close everything with one request per order; (acked_ms, flat_ms)."""
    t0 = time.perf_counter()
    om = desk.manager()
    snap = await om.refresh(orders=True, mids=True)  # same reads as the kill switch
    plan = plan_kill(om, snap.orders, snap.account.positions, om.mids, desk.settings.kill_slippage)
    for o in snap.orders:
        await desk.cancel([o], purpose="kill-1by1")
    for intent in plan.closes:
        await desk.submit([intent])
    acked = (time.perf_counter() - t0) * 1000
    snap = await om.refresh(orders=True)
    assert snap.flat, "one-by-one did not flatten"
    return acked, (time.perf_counter() - t0) * 1000


async def run(runs: int, n_pos: int, n_orders: int, usd: float, n_binance: int = 0) -> dict[str, object]:
    proc, url = await _start_sim(starting_usdc=10_000_000.0)
    tmp = tempfile.TemporaryDirectory()
    try:
        batched_ack: list[float] = []
        batched_flat: list[float] = []
        single_ack: list[float] = []
        single_flat: list[float] = []
        rounds: list[int] = []
        for i in range(runs):
            for mode in ("batched", "one-by-one"):
                signer = Signer.generate()
                journal = Journal(Path(tmp.name) / f"{mode}-{i}.sqlite")
                desk = _desk(url, signer, journal)
                hedge = None
                try:
                    await desk.start()
                    if i == 0 and mode == "batched":
                        ctxs = await desk.hyperliquid.info.meta_and_asset_ctxs()
                        liquid = sorted(
                            (c for c in ctxs[1] if c is not None and c.symbol in desk.markets),
                            key=lambda c: -c.day_ntl_vlm,
                        )
                        symbols = [c.symbol for c in liquid[:n_pos]]
                    await _setup(desk, symbols, n_orders, usd)
                    if n_binance and mode == "batched":
                        hedge = await _binance_leg(url, desk)
                        await _setup_binance(desk, hedge, symbols[:n_binance], usd)
                    if mode == "batched":
                        report = await desk.kill(reason="benchmark")
                        assert report.flat and report.acked_ms is not None, report.failures
                        batched_ack.append(report.acked_ms)
                        batched_flat.append(report.elapsed_ms)
                        rounds.append(report.rounds)
                    else:
                        a, f = await _one_by_one(desk)
                        single_ack.append(a)
                        single_flat.append(f)
                finally:
                    await desk.stop()
                    await desk.aclose()
                    journal.close()
            print(
                f"run {i + 1}/{runs}: batched ack {batched_ack[-1]:.1f} ms, flat {batched_flat[-1]:.1f} ms "
                f"({rounds[-1]} round); one-by-one ack {single_ack[-1]:.0f} ms",
                file=sys.stderr,
            )
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        await proc.wait()
        tmp.cleanup()

    def stats(xs: list[float]) -> dict[str, float]:
        return {"p50": statistics.median(xs), "p99": _q(xs, 0.99), "max": max(xs)}

    return {
        "positions": n_pos,
        "orders": n_orders,
        "binance_positions": n_binance,
        "binance_orders": 2 * n_binance,
        "runs": runs,
        "batched_acked_ms": stats(batched_ack),
        "batched_flat_ms": stats(batched_flat),
        "batched_rounds_max": max(rounds),
        "one_by_one_acked_ms": stats(single_ack),
        "one_by_one_flat_ms": stats(single_flat),
        "ratio_acked_p50": statistics.median(single_ack) / statistics.median(batched_ack),
    }


async def run_console(runs: int, n_pos: int, n_orders: int, usd: float) -> dict[str, object]:
    """Press the kill key in the running console ``runs`` times (one fresh account each)."""

    from pfterm.core.runtime.config import Settings
    from pfterm.core.runtime.session import resolve_endpoint
    from pfterm.tui.app import PftermApp

    proc, url = await _start_sim(starting_usdc=10_000_000.0)
    tmp = tempfile.TemporaryDirectory()
    acked: list[float] = []
    flat: list[float] = []
    try:
        for i in range(runs):
            settings = Settings()
            settings.urls["hyperliquid"] = url
            settings.trading.journal = Path(tmp.name) / f"console-{i}.sqlite"
            endpoint = resolve_endpoint(settings)
            signer = Signer.generate()
            access = TradingAccess(signer, signer.address, "testnet", None, "benchmark")
            app = PftermApp(settings, endpoint=endpoint, access=access)
            async with app.run_test(size=(160, 50)) as pilot:
                for _ in range(600):
                    t = app.desk
                    if t is not None and t.account is not None and len(app.engine.marks) > 100:
                        break
                    await pilot.pause(0.05)
                desk = app.desk
                assert desk is not None and desk.account is not None, "console desk did not start"
                desk.settings = desk.settings.model_copy(update={"limits": LIMITS})
                liquid = sorted(
                    (st for st in app.engine.store.markets.values() if st.ctx is not None and not st.info.delisted),
                    key=lambda st: -st.ctx.day_ntl_vlm,
                )
                await _setup(desk, [st.info.symbol for st in liquid[:n_pos]], n_orders, usd)
                await pilot.pause(1.0)  # the console renders the new book, data keeps streaming
                t_press = time.perf_counter()
                await pilot.press(settings.ui.kill_key)
                for _ in range(2000):
                    if desk.last_kill is not None:
                        break
                    await pilot.pause(0.005)
                report = desk.last_kill
                assert report is not None and report.flat and report.acked_ms is not None, report
                acked.append((report.started - t_press) * 1000 + report.acked_ms)
                flat.append((report.started - t_press) * 1000 + report.elapsed_ms)
                print(
                    f"run {i + 1}/{runs}: keystroke→acked {acked[-1]:.1f} ms, →flat {flat[-1]:.1f} ms", file=sys.stderr
                )
                await pilot.press("q")
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        await proc.wait()
        tmp.cleanup()
    return {
        "mode": "console 160x50, full market data",
        "positions": n_pos,
        "orders": n_orders,
        "runs": runs,
        "keystroke_to_acked_ms": {"p50": statistics.median(acked), "p99": _q(acked, 0.99), "max": max(acked)},
        "keystroke_to_flat_ms": {"p50": statistics.median(flat), "p99": _q(flat, 0.99), "max": max(flat)},
    }


def main() -> None:
    """Run the benchmark and print a JSON summary."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--positions", type=int, default=50)
    ap.add_argument("--orders", type=int, default=200)
    ap.add_argument("--usd", type=float, default=2_000.0, help="notional of each position, USD")
    ap.add_argument("--console", action="store_true", help="press the kill key in the running console")
    ap.add_argument(
        "--binance",
        type=int,
        default=0,
        metavar="N",
        help="also N positions + 2N resting orders on the simulated Binance leg (batched mode)",
    )
    ap.add_argument(
        "--faults",
        action="store_true",
        help="fault trials: `pfterm kill` behind a fault-injecting proxy (benchmarks/kill_faults.py)",
    )
    ap.add_argument("--trials", type=int, default=100, help="--faults: runs per fault case")
    ap.add_argument("--rate", type=float, default=0.3, help="--faults: fraction of requests faulted (transient cases)")
    a = ap.parse_args()
    if a.faults:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks.* when run as a script
        from benchmarks.kill_faults import main as faults_main

        raise SystemExit(faults_main(["--trials", str(a.trials), "--rate", repr(a.rate)]))
    import logging

    logging.disable(logging.CRITICAL)  # the kill switch logs at ERROR; keep the report readable
    if a.console:
        result = asyncio.run(run_console(a.runs, a.positions, a.orders, a.usd))
    else:
        result = asyncio.run(run(a.runs, a.positions, a.orders, a.usd, a.binance))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
