"""Wall time of the accelerated harvester session on the embedded simulator.

Runs ``pfterm harvest --venue sim --duration 7d --seed 7 --report json`` (the installed
console script, falling back to ``python -m pfterm.tui.cli``) ``--runs`` times, one after the other
on an otherwise idle machine, and prints each run's wall time (process start to exit, and the
session's own ``wall_s``) with the median and the worst, plus the first run's P&L summary
(the same seed gives the same report every run).

Budget: under 60 s of process wall time for the 7-day session.

Usage: ``python benchmarks/harvest.py [--runs 3] [--duration 7d] [--seed 7]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> None:
    """Run the simulated session ``--runs`` times; print wall times and the P&L summary."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", default="7d")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    exe = shutil.which("pfterm")
    base = [exe] if exe else [sys.executable, "-m", "pfterm.tui.cli"]
    walls: list[float] = []
    first: dict | None = None
    with tempfile.TemporaryDirectory(prefix="pfterm-bench-") as home:
        # a private HOME: no config of the user's, logs and state kept out of theirs
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=f"{home}/.config", XDG_STATE_HOME=f"{home}/.state")
        cmd = [*base, "harvest", "--venue", "sim", "--duration", a.duration, "--seed", str(a.seed), "--report", "json"]
        for i in range(a.runs):
            t0 = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, check=True, text=True, env=env).stdout
            wall = time.perf_counter() - t0
            report = json.loads(out)
            walls.append(wall)
            print(
                f"run {i + 1}: {wall:.1f} s (session {report['session']['wall_s']:.1f} s, "
                f"{report['session']['cycles']} cycles)"
            )
            first = first or report
    assert first is not None
    t = first["pnl"]["total"]
    print(
        f"{a.duration} seed {a.seed}: median {statistics.median(walls):.1f} s, max {max(walls):.1f} s over {a.runs} runs"
    )
    print(
        f"funding {t['funding_pnl']:+,.2f}  fees {-t['fees']:+,.2f}  net {t['net']:+,.2f} USD, "
        f"{t['positions']} positions ({t['closed']} closed)"
    )


if __name__ == "__main__":
    main()
