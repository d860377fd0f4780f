"""Ingest cost per WebSocket frame: decode + validate + normalize + store.

Frames are built from the real mainnet snapshot (``core/sim/data``): one
``activeAssetCtx`` frame per listed market, exactly as Hyperliquid sends them. Each frame
goes through the same code the live stream runs (``HyperliquidStream._dispatch``) into a
real :class:`~pfterm.core.market.engine.Engine` (store update, premium sampling, OI window, cascade and
funding detectors). Reported: the best of several runs, µs per frame.

With ``--sdk-python PATH`` (a Python with ``hyperliquid-python-sdk`` installed, e.g. a
separate venv), the same frames are also fed to the official SDK's
``WebsocketManager.on_message`` with a no-op callback, which only ``json.loads`` and
dispatches (no validation, numbers left as strings, no store), for comparison.

Usage: ``python benchmarks/ingest.py [--sdk-python /tmp/sdkvenv/bin/python]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import timeit

from pfterm.core.market.clock import VenueClock
from pfterm.core.market.engine import Engine
from pfterm.core.sim.snapshot import load_snapshot
from pfterm.core.venues.hyperliquid.stream import HyperliquidStream
from pfterm.core.venues.hyperliquid.wire import parse_meta_and_asset_ctxs


def frames() -> list[bytes]:
    """One ``activeAssetCtx`` frame per listed market of the real snapshot, as bytes."""
    meta, ctxs = load_snapshot()
    out = []
    for asset, ctx in zip(meta["universe"], ctxs, strict=True):
        if asset.get("isDelisted"):
            continue
        out.append(json.dumps({"channel": "activeAssetCtx", "data": {"coin": asset["name"], "ctx": ctx}}).encode())
    return out


def measure_pfterm(data: list[bytes], repeat: int = 7, number: int = 200) -> float:
    """Best µs per frame through the live stream's dispatch into an engine."""
    engine = Engine(venue="hyperliquid", clock=VenueClock(rate=1.0))
    markets, ctxs = parse_meta_and_asset_ctxs(load_snapshot())
    engine.on_markets(markets, ctxs)
    stream = HyperliquidStream(engine, "ws://127.0.0.1:1/ws")
    dispatch = stream._dispatch
    mono = time.monotonic

    def run() -> None:
        for f in data:
            dispatch(f, mono())

    best = min(timeit.repeat(run, repeat=repeat, number=number))
    assert stream.malformed == 0
    return best / (number * len(data)) * 1e6


def measure_sdk(python: str, data: list[bytes]) -> float:
    """Best µs per frame through the official SDK's ``WebsocketManager.on_message``."""
    code = r"""
import json, sys, timeit
from hyperliquid.websocket_manager import WebsocketManager
frames = json.loads(sys.stdin.read())
wm = WebsocketManager("http://127.0.0.1:1")
for f in frames:
    coin = json.loads(f)["data"]["coin"]
    wm.active_subscriptions["activeassetctx:" + coin.lower()].append(type("S", (), {"callback": staticmethod(lambda m: None)})())
om = wm.on_message
def run():
    for f in frames:
        om(None, f)
best = min(timeit.repeat(run, repeat=7, number=200))
print(best / (200 * len(frames)) * 1e6)
"""
    out = subprocess.run(
        [python, "-c", code], input=json.dumps([f.decode() for f in data]), capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run and print the measurements."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sdk-python", help="a Python interpreter with hyperliquid-python-sdk installed")
    a = ap.parse_args()
    data = frames()
    print(
        f"frames: {len(data)} activeAssetCtx frames from the real snapshot, {sum(map(len, data)) / len(data):.0f} B avg"
    )
    print(f"pfterm  decode+validate+normalize+store: {measure_pfterm(data):.2f} us/frame")
    if a.sdk_python:
        print(f"official SDK json.loads+dispatch only:   {measure_sdk(a.sdk_python, data):.2f} us/frame")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
