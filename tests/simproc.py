"""A ``pfterm sim`` process on 127.0.0.1 for tests that drive pfterm's commands as a user would
(``pfterm kill``, ``pfterm harvest`` against ``--url``)."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

from pfterm.core.sim.__main__ import child_command

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def pfterm_sim(seed: int, *args: str, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Run ``python -m pfterm.core.sim`` on a free loopback port (``--cascade-rate 0`` and ``args``,
    e.g. ``"--speed", "120"``) and yield its base URL; the process exits when the block ends
    (its stdin closes)."""
    proc = subprocess.Popen(
        child_command(seed, "--cascade-rate", "0", *args),
        cwd=REPO,
        env=None if env is None else dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())["listening"]
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
