"""Value types of the simulator's command-line options, shared by ``pfterm sim`` and
``python -m pfterm.core.sim``: each parses one option's text or raises
:class:`argparse.ArgumentTypeError` with a one-line reason (argparse then exits 2).

The ranges are the simulator's own: a TCP port (0 = any free one), a clock speed above 0 and at
most 100 000 simulated seconds per wall second (``--lockstep`` is the way to stop the clock),
push rates above 0 and at most 50 Hz, non-negative cascade rates, a positive faucet credit.
"""

from __future__ import annotations

import argparse
import math

MAX_SPEED = 100_000.0
"""Fastest simulated clock, simulated seconds per wall second (the console's ``sim.speed`` cap)."""

MAX_PUSH_HZ = 50.0
"""Fastest ``activeAssetCtx`` / ``allMids`` push rate per coin, per second."""


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port, 0–65535 (0: the system picks a free one)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65_535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, got {value}")
    return value


def speed(text: str) -> float:
    """Simulated seconds per wall second, above 0 and at most :data:`MAX_SPEED`."""
    value = _number(text)
    if not 0 < value <= MAX_SPEED:
        raise argparse.ArgumentTypeError(
            f"the speed is above 0 and at most {MAX_SPEED:g}, got {text} (--lockstep stops the clock)"
        )
    return value


def push_hz(text: str) -> float:
    """Pushes per second per coin, above 0 and at most :data:`MAX_PUSH_HZ`."""
    value = _number(text)
    if not 0 < value <= MAX_PUSH_HZ:
        raise argparse.ArgumentTypeError(f"a push rate is above 0 and at most {MAX_PUSH_HZ:g} per second, got {text}")
    return value


def cascade_rate(text: str) -> float:
    """Liquidation cascades per simulated hour, 0 or more."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"a cascade rate is 0 or more per simulated hour, got {text}")
    return value


def usdc(text: str) -> float:
    """A faucet credit, USDC, above 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"a credit is above 0 USDC, got {text}")
    return value
