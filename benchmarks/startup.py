"""Start-up cost of the ``pfterm`` command: wall time of ``pfterm --help``.

Runs the installed ``pfterm`` console script (falling back to ``python -m pfterm.tui.cli``)
``--runs`` times and prints the median and the worst run in seconds.

Usage: ``python benchmarks/startup.py [--runs 20]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def main() -> None:
    """Time ``pfterm --help`` repeatedly and print median / max."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    exe = shutil.which("pfterm")
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "pfterm.tui.cli", "--help"]
    subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    print(
        f"{' '.join(cmd[-2:]) if exe else 'python -m pfterm.tui.cli --help'}: median {statistics.median(times):.3f} s, max {max(times):.3f} s over {a.runs} runs"
    )


if __name__ == "__main__":
    main()
