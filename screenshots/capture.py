"""Capture the README screenshots from the live console.

Starts pfterm headless against the embedded simulator (``--speed`` 60 by default, so a
couple of simulated hours of funding, OI changes and alerts accumulate), waits, and saves
Textual's own SVG export of the main screen at 160×50 and 80×24 into this folder; with
``rsvg-convert`` on the PATH it also renders PNGs.

Usage: ``python screenshots/capture.py [--seconds 90] [--speed 60] [--seed 1]``
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
from pathlib import Path

from core.config import Settings
from tui.app import PftermApp

HERE = Path(__file__).resolve().parent


async def capture(size: tuple[int, int], seconds: float, speed: float, seed: int) -> Path:
    """Run the console at ``size`` for ``seconds`` and save an SVG; returns its path."""
    settings = Settings()
    settings.sim.speed = speed
    settings.sim.seed = seed
    app = PftermApp(settings)
    name = f"main-{size[0]}x{size[1]}.svg"
    async with app.run_test(size=size) as pilot:
        await pilot.pause(seconds)
        app.save_screenshot(filename=name, path=str(HERE))
        await app.action_quit()
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
        print(svg)
        if shutil.which("rsvg-convert"):
            png = svg.with_suffix(".png")
            subprocess.run(["rsvg-convert", "-o", str(png), str(svg)], check=True)
            print(png)


if __name__ == "__main__":
    main()
