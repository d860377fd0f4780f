"""Command line for the embedded simulator: ``python -m pfterm.core.sim``.

Starts :class:`~pfterm.core.sim.server.SimulatorServer` and, once bound, prints exactly one JSON line
to stdout::

    {"listening": "http://127.0.0.1:PORT", "ws": "ws://127.0.0.1:PORT/ws", "speed": 60.0, "seed": 1}

With ``--lockstep`` the speed is 0, the line also carries ``"lockstep": true``, and the
simulated clock moves only through ``POST /sim/advance {"seconds": N, "step_s": S}`` (a
simulator control, not part of the Hyperliquid protocol; see :mod:`pfterm.core.sim.server`).
``--regime positive|negative|natural`` and ``--regime-flip-at-ms`` select the funding regime
(:class:`pfterm.core.sim.market.MarketModel`).

A Binance USDⓈ-M API key pair in ``PFTERM_BINANCE_API_KEY`` / ``PFTERM_BINANCE_API_SECRET`` is
registered and funded on the simulated Binance venue (its signed ``/fapi`` endpoints); the
embedded simulator's parent passes a fresh pair that way (the environment, never argv).

It stops cleanly on SIGINT / SIGTERM and, with ``--exit-on-stdin-eof``, when its stdin reaches
end of file (a parent that dies closes the pipe, so the simulator never outlives it).
Diagnostics go to stderr through :mod:`logging`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from pfterm.core.sim import options
from pfterm.core.sim.server import SimulatorServer

log = logging.getLogger("pfterm.core.sim")


def _print_line(info: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()


def _watch_stdin_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set ``stop`` (from a daemon thread) once stdin reaches end of file."""

    def run() -> None:
        stream = sys.stdin.buffer if sys.stdin is not None else None
        try:
            while stream is not None and stream.read(65536):
                pass
        except (OSError, ValueError):
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=run, name="sim-stdin-eof", daemon=True).start()


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 1,
    speed: float = 1.0,
    cascade_rate_per_hour: float = 2.5,
    start_ms: int | None = None,
    push_hz: float = 2.0,
    starting_usdc: float = 100_000.0,
    is_mainnet: bool = True,
    regime: str = "natural",
    regime_flip_at_ms: int | None = None,
    lockstep: bool = False,
    binance_credentials: Sequence[tuple[str, str]] = (),
    exit_on_stdin_eof: bool = False,
    stop_event: asyncio.Event | None = None,
    announce: Callable[[dict[str, Any]], None] | None = _print_line,
    install_signal_handlers: bool = True,
) -> None:
    """Run the simulator until SIGINT/SIGTERM, stdin EOF (if asked) or ``stop_event`` is set.

    Once bound, ``announce`` receives ``{"listening": http_url, "ws": ws_url, "speed": float,
    "seed": int}`` (default: printed as one JSON line on stdout and flushed). ``starting_usdc``
    (USD) is credited to each trading account the first time it is used. ``is_mainnet`` selects
    the signing source ``/exchange`` verifies (``"a"``; ``False``: testnet ``"b"``, what the
    official Python SDK signs for any non-mainnet URL). ``regime`` / ``regime_flip_at_ms``
    select the funding regime; ``lockstep`` forces speed 0 and serves ``POST /sim/advance``
    (the announcement then carries ``"lockstep": true`` and ``"speed": 0.0``). Another CLI can
    embed the simulator by calling this with its own ``stop_event`` and ``announce``, and
    ``install_signal_handlers=False`` if it owns the signals.
    """
    loop = asyncio.get_running_loop()
    stop = stop_event if stop_event is not None else asyncio.Event()
    server = SimulatorServer(
        seed=seed,
        start_ms=start_ms,
        cascade_rate_per_hour=cascade_rate_per_hour,
        host=host,
        port=port,
        speed=speed,
        push_hz=push_hz,
        starting_usdc=starting_usdc,
        is_mainnet=is_mainnet,
        regime=regime,
        regime_flip_at_ms=regime_flip_at_ms,
        lockstep=lockstep,
        binance_credentials=binance_credentials,
    )
    installed: list[signal.Signals] = []
    if install_signal_handlers:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix loops
                pass
    await server.start()
    try:
        if announce is not None:
            line: dict[str, Any] = {
                "listening": server.http_url,
                "ws": server.ws_url,
                "speed": float(server.speed),
                "seed": seed,
            }
            if lockstep:
                line["lockstep"] = True
            announce(line)
        if exit_on_stdin_eof:
            _watch_stdin_eof(loop, stop)
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await server.stop()


def child_command(seed: int, *args: str) -> list[str]:
    """The argv that runs this command line as a child process of the running interpreter on a
    free loopback port (``--port 0``) with ``--seed seed`` and ``args`` (e.g. ``"--speed", "1"``),
    exiting when its stdin closes. Its first stdout line is the JSON of :func:`serve`
    (``{"listening": URL, ...}``)."""
    return [
        sys.executable,
        "-m",
        "pfterm.core.sim",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--seed",
        str(seed),
        *args,
        "--exit-on-stdin-eof",
    ]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m pfterm.core.sim`` argument parser."""
    p = _Parser(
        prog="python -m pfterm.core.sim",
        description="Local Hyperliquid-compatible simulator (HTTP /info and /exchange, WebSocket /ws).",
    )
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=options.port, default=8765, help="TCP port, 0 picks a free one (default 8765)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--speed", type=options.speed, default=1.0, help="simulated seconds per wall second (default 1)")
    p.add_argument(
        "--cascade-rate",
        type=options.cascade_rate,
        default=2.5,
        help="liquidation cascades per simulated hour across the market (default 2.5)",
    )
    p.add_argument("--start-ms", type=int, default=None, help="simulated start time, ms UTC (default now)")
    p.add_argument("--push-hz", type=options.push_hz, default=2.0, help="activeAssetCtx / allMids pushes per second")
    p.add_argument(
        "--starting-usdc",
        type=options.usdc,
        default=100_000.0,
        help="USDC credited to each trading account on first use (default 100000)",
    )
    p.add_argument(
        "--testnet",
        action="store_true",
        help='verify /exchange signatures as testnet (source "b"), as the official Python SDK '
        "signs for any URL other than mainnet's",
    )
    p.add_argument(
        "--regime",
        choices=("natural", "positive", "negative"),
        default="natural",
        help="funding regime: natural (default), or premium biased so funding is persistently "
        "positive / negative (about ±50%% APR)",
    )
    p.add_argument(
        "--regime-flip-at-ms",
        type=int,
        default=None,
        help="simulated time (ms UTC) at which the regime's bias reverses sign",
    )
    p.add_argument(
        "--lockstep",
        action="store_true",
        help="speed 0; the clock moves only through POST /sim/advance {seconds, step_s} "
        "(a simulator control, not part of the Hyperliquid protocol)",
    )
    p.add_argument("--exit-on-stdin-eof", action="store_true", help="also exit when stdin reaches end of file")
    p.add_argument("--log-level", default="WARNING", help="stderr log level (default WARNING)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv`` (default ``sys.argv[1:]``), serve, return the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from pfterm.core.trading.credentials import CredentialsError, load_binance_credentials

    try:
        loaded = load_binance_credentials(None)
    except CredentialsError as exc:
        log.error("%s", exc)
        return 2
    binance = [(loaded[0].api_key, loaded[0].secret)] if loaded else []
    try:
        asyncio.run(
            serve(
                host=args.host,
                port=args.port,
                seed=args.seed,
                speed=args.speed,
                cascade_rate_per_hour=args.cascade_rate,
                start_ms=args.start_ms,
                push_hz=args.push_hz,
                starting_usdc=args.starting_usdc,
                is_mainnet=not args.testnet,
                regime=args.regime,
                regime_flip_at_ms=args.regime_flip_at_ms,
                lockstep=args.lockstep,
                binance_credentials=binance,
                exit_on_stdin_eof=args.exit_on_stdin_eof,
            )
        )
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    except OSError as exc:
        log.error("cannot start the simulator: %s", exc)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
