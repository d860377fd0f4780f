"""Capture the README screenshots from the live console.

Starts pfterm headless against the embedded simulator (``--speed`` 60 by default, so a
couple of simulated hours of funding, OI changes and alerts accumulate), waits, and saves
Textual's own SVG export of the main screen at 160×50 and 80×24 into this folder; with
``rsvg-convert`` on the PATH it also renders PNGs. At 160×50 it first trades through the
console's own desk (a few market orders and resting bids on the session's funded
simulator account), and also saves the kill switch's banner after pressing the kill key
(``kill-160x50.svg``) and the funding matrix (``matrix-160x50.svg``).

Usage: ``python screenshots/capture.py [--seconds 90] [--speed 60] [--seed 1]``
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
from pathlib import Path

from pfterm.core.runtime.config import Settings
from pfterm.core.trading.credentials import trading_access
from pfterm.core.trading.portfolio import TicketRequest
from pfterm.tui.app import PftermApp

HERE = Path(__file__).resolve().parent


async def capture(size: tuple[int, int], seconds: float, speed: float, seed: int) -> Path:
    """Run the console at ``size`` for ``seconds`` and save an SVG; returns its path."""
    settings = Settings()
    settings.sim.speed = speed
    settings.sim.seed = seed
    settings.trading.journal = HERE / ".capture-journal.sqlite"
    app = PftermApp(settings, access=trading_access("sim", env={}))
    name = f"main-{size[0]}x{size[1]}.svg"
    async with app.run_test(size=size) as pilot:
        await pilot.pause(seconds / 3)
        desk = app.desk
        if size[0] >= 120 and desk is not None and desk.account is not None:
            book = [("BTC", True, 4_000), ("ETH", False, 3_000), ("SOL", True, 2_500), ("HYPE", False, 2_000)]
            intents = [
                desk.quote(TicketRequest(s, b, usd, True, None, "Ioc", False, "market")).intent for s, b, usd in book
            ]
            for sym, _b, _usd in book[:3]:
                px = (desk.mark(sym) or 0) * 0.93
                intents.append(desk.quote(TicketRequest(sym, True, 500, True, px, "Gtc", False, "limit")).intent)
            await desk.submit([i for i in intents if i is not None])
        await pilot.pause(seconds * 2 / 3)
        app.save_screenshot(filename=name, path=str(HERE))
        if size[0] >= 120 and desk is not None:
            await pilot.press(settings.ui.kill_key)
            for _ in range(200):
                if desk.last_kill is not None:
                    break
                await pilot.pause(0.05)
            await pilot.pause(1.0)
            app.save_screenshot(filename=f"kill-{size[0]}x{size[1]}.svg", path=str(HERE))
            await pilot.press("F")  # the funding matrix across the simulator's venues
            await pilot.pause(3.0)
            app.save_screenshot(filename=f"matrix-{size[0]}x{size[1]}.svg", path=str(HERE))
            await pilot.press("escape")
        await app.action_quit()
    (HERE / ".capture-journal.sqlite").unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        (HERE / f".capture-journal.sqlite{suffix}").unlink(missing_ok=True)
    return HERE / name


def main() -> None:
    """Capture both sizes, then PNGs if possible."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--speed", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    for size in ((160, 50), (80, 24)):
        svg = asyncio.run(capture(size, a.seconds, a.speed, a.seed))
        extra = [HERE / f"kill-{size[0]}x{size[1]}.svg", HERE / f"matrix-{size[0]}x{size[1]}.svg"]
        svgs = [svg] + (extra if size[0] >= 120 else [])
        for path in svgs:
            print(path)
            if shutil.which("rsvg-convert") and path.exists():
                png = path.with_suffix(".png")
                subprocess.run(["rsvg-convert", "-o", str(png), str(path)], check=True)
                print(png)


if __name__ == "__main__":
    main()
