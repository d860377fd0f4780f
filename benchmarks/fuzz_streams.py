"""Seeded fuzzing of the venue streams at volume: the harness of ``tests/test_fuzz_streams.py``
(:mod:`tests.fuzz_frames`) with ``--frames`` frames per venue (about 40 % garbage) over every
channel the stream reads (funding or tickers, liquidations, OKX open interest, Hyperliquid mids
and books), replayed over 127.0.0.1 into the real stream classes. Printed per venue: frames, garbage frames,
malformed counted (+ unknown symbols where the venue counts them), invalid records accepted,
valid records lost, largest map size (and its bound), wall time in seconds.

Usage: ``python benchmarks/fuzz_streams.py [--frames 10000] [--seed 1]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.* when run as a script

from tests.fuzz_frames import VENUES, run_venue


async def main(frames: int, seed: int) -> int:
    """Run every venue; 1 when any venue accepted an invalid record, lost a valid one or
    counted other than the garbage sent, else 0."""
    failed = 0
    print(
        f"{'venue':11} {'frames':>7} {'garbage':>7} {'counted':>7} {'invalid':>7} {'lost':>5} {'map':>9} {'wall s':>7}"
    )
    for name in sorted(VENUES):
        r = await run_venue(VENUES[name](), seed, frames, timeout_s=600.0)
        print(
            f"{r.venue:11} {r.frames:7d} {r.garbage:7d} {r.counted:7d} {r.invalid_accepted:7d} "
            f"{r.valid_lost:5d} {r.map_size:4d}/{r.map_bound:<4d} {r.wall_s:7.2f}"
        )
        failed |= r.invalid_accepted > 0 or r.valid_lost > 0 or r.counted != r.garbage or r.map_size > r.map_bound
    return int(failed)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000, help="frames per venue")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.frames, args.seed)))
