"""Console benchmark: CPU, terminal output rate, data-to-screen latency, first data.

Runs the real ``pfterm`` console in a pseudo-terminal of 160×50 (default) against the
embedded simulator streaming the full snapshot (every listed market's context about
twice a second), for ``--seconds`` (default 60), and reports:

* console CPU as % of one core (user + system of the console process only; the
  simulator runs in its own child process and is reported separately);
* terminal output in kB/s (everything the console wrote to the pty);
* data-to-screen latency p50 / p99 (frame receipt → its market line rendered, recorded by
  the console itself with ``PFTERM_LATENCY_FILE``);
* time to first data on screen: from process start until a real market name and a
  ticking countdown appear in the pty output;
* the garbage collector's runs in the measured window: how many (full ones apart), the
  longest pause and the total in ms per second (timed by the console through ``gc.callbacks``);
* key to screen p50 / p99 (``--key-trials``): from typing a screen's key (``s`` on the main
  screen) until its text (:data:`MARKERS`) is in the pty output.

Usage: ``python benchmarks/console.py [--seconds 60] [--cols 160] [--rows 50] [--json]
[--screen main|detail|trading|matrix|help|ticket | --all-screens] [--harvest] [-- pfterm args]``
(``--harvest -- --speed 60``: the harvester running on a simulator at 60× speed;
``--profile out.html``: where the time goes, by pyinstrument's sampling profiler).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import re
import select
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

import psutil

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]")


SCREENS: dict[str, bytes] = {
    "main": b"",
    "detail": b"d",
    "trading": b"t",
    "matrix": b"F",
    "help": b"?",
    "ticket": b"o",
}
"""Each measured screen and the keys that open it from the main screen (default key map)."""

MARKERS: dict[str, bytes] = {
    "main": rb"sort: ",  # the markets title, rewritten by the sort key (s)
    "detail": rb"max \d+\xc3\x97",  # the detail's title: "BTC  max 40×"
    "trading": rb"Positions \xe2\x94\x80",  # its title without the main screen's "(N)" count
    "matrix": rb"Funding matrix",
    "help": rb"pfterm \xe2\x80\x94 keys",
    "ticket": rb"Order ticket",
}
"""What appears in the terminal's output once a screen's key has been acted on (plain text,
escape sequences removed): the end of a key-to-screen measurement."""


def _wait_for(fd: int, pattern: bytes, timeout_s: float) -> float | None:
    """Read the pty until ``pattern`` shows in its plain text; seconds taken, ``None`` on timeout."""
    started = time.monotonic()
    text = b""
    while time.monotonic() - started < timeout_s:
        r, _, _ = select.select([fd], [], [], 0.01)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return None
            text = (text + ANSI.sub(b"", chunk))[-200_000:]
            if re.search(pattern, text):
                return time.monotonic() - started
    return None


def _drain(fd: int, quiet_s: float = 0.1, most_s: float = 0.5) -> None:
    """Read and drop the pty's output until it has been quiet for ``quiet_s`` (the tail of a
    repaint must not be taken for the next screen's text), for at most ``most_s`` (a live
    screen repaints several times a second and may never be quiet that long)."""
    until = time.monotonic() + most_s
    while time.monotonic() < until and select.select([fd], [], [], quiet_s)[0]:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def key_to_screen(fd: int, screen: str, trials: int) -> list[float]:
    """Type the key of ``screen`` ``trials`` times (closing it with Esc in between; on the main
    screen the sort key) and return each time until the screen showed, ms."""
    out: list[float] = []
    key = SCREENS[screen] or b"s"
    for _ in range(trials):
        _drain(fd)
        os.write(fd, key)
        took = _wait_for(fd, MARKERS[screen], 5.0)
        if took is not None:
            out.append(took * 1000)
        if screen != "main":
            os.write(fd, b"\x1b")
            _wait_for(fd, rb"Markets \(", 5.0)
        time.sleep(0.25)
    return out


def run(
    seconds: float,
    cols: int,
    rows: int,
    extra: list[str],
    keys: bytes = b"",
    profile: str | None = None,
    screen: str = "main",
    trials: int = 0,
) -> dict:
    """Run the console for ``seconds`` in a ``cols``×``rows`` pty and measure it; ``keys`` are
    typed once the first data is on screen (opening the screen to measure). With ``profile``
    (a file name ending ``.html`` or ``.txt``) the console runs under pyinstrument's sampling
    profiler, which writes its call tree there (its CPU figures are then inflated). After the
    measurement, ``trials`` key-to-screen timings of ``screen`` (:func:`key_to_screen`)."""
    lat_file = Path(tempfile.mkstemp(suffix=".json")[1])
    lat_file.unlink()
    log_file = Path(tempfile.mkstemp(suffix=".log")[1])
    env = dict(os.environ, PFTERM_LATENCY_FILE=str(lat_file), TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
    env.pop("NO_COLOR", None)
    t_start = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:  # child: become pfterm
        prefix = [sys.executable]
        if profile:
            renderer = "html" if profile.endswith(".html") else "text"
            prefix += ["-m", "pyinstrument", "--interval", "0.002", "--show-all", "-r", renderer, "-o", profile]
        os.execvpe(sys.executable, [*prefix, "-m", "pfterm.tui.cli", "--log-file", str(log_file), *extra], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = psutil.Process(pid)
    total = 0
    first_data: float | None = None
    plain_tail = b""
    measure_from: float | None = None
    cpu0 = None
    bytes0 = 0
    sim_cpu0 = None
    deadline = None
    while True:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            break
        if now - t_start > seconds + 30:
            break
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            total += len(chunk)
            if first_data is None:
                plain_tail = (plain_tail + ANSI.sub(b"", chunk))[-20000:]
                # real market names listed (the title counts them) and a countdown on screen
                if re.search(rb"Markets \([1-9]\d*\)", plain_tail) and re.search(rb" \d\d:\d\d ", plain_tail):
                    first_data = time.monotonic() - t_start
        if first_data is not None and keys and time.monotonic() - t_start > first_data + 2:
            os.write(fd, keys)
            keys = b""
        if first_data is not None and measure_from is None and time.monotonic() - t_start > first_data + 5:
            # measure a steady state: after start-up settles
            measure_from = time.monotonic()
            ct = proc.cpu_times()
            cpu0 = ct.user + ct.system
            bytes0 = total
            kids = proc.children(recursive=True)
            sim_cpu0 = sum(k.cpu_times().user + k.cpu_times().system for k in kids)
            deadline = measure_from + seconds
    elapsed = time.monotonic() - (measure_from or t_start)
    ct = proc.cpu_times()
    cpu = (ct.user + ct.system - (cpu0 or 0.0)) / elapsed * 100
    kids = proc.children(recursive=True)
    sim_cpu = (sum(k.cpu_times().user + k.cpu_times().system for k in kids) - (sim_cpu0 or 0.0)) / elapsed * 100
    out_rate = (total - bytes0) / elapsed / 1000
    key_ms: list[float] = []
    key_ms_typed: list[float] = []
    if trials:
        if screen != "main":
            os.write(fd, b"\x1b")
            _wait_for(fd, rb"Markets \(", 5.0)
            time.sleep(0.5)
        key_ms_typed = key_to_screen(fd, screen, trials)
        key_ms = sorted(key_ms_typed)
    os.write(fd, b"\x1b\x1b")  # close the measured screen, then quit
    time.sleep(0.3)
    os.write(fd, b"q")
    time.sleep(0.3)
    os.write(fd, b"y")  # the quit question, asked while positions are open (the harvester's)
    t_quit = time.monotonic()
    while time.monotonic() - t_quit < 10:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                if not os.read(fd, 65536):
                    break
            except OSError:
                break
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            break
    else:
        os.kill(pid, 9)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    lat = json.loads(lat_file.read_text()) if lat_file.exists() else {}
    # the collector's runs (end time on the shared monotonic clock, generation, pause ms)
    # inside the measured window
    window = (measure_from or t_start, deadline or time.monotonic())
    gc_runs = [(gen, ms) for end, gen, ms in lat.get("gc_runs", []) if window[0] <= end <= window[1]]
    gc_full = [ms for gen, ms in gc_runs if gen == 2]
    return {
        "terminal": f"{cols}x{rows}",
        "seconds": round(elapsed, 1),
        "console_cpu_pct_of_core": round(cpu, 1),
        "simulator_cpu_pct_of_core": round(sim_cpu, 1),
        "terminal_output_kB_per_s": round(out_rate, 1),
        "latency_p50_ms": round(lat.get("p50_ms", float("nan")), 1),
        "latency_p99_ms": round(lat.get("p99_ms", float("nan")), 1),
        "latency_samples": lat.get("n", 0),
        "first_data_s": round(first_data, 2) if first_data is not None else None,
        "key_to_screen_p50_ms": round(key_ms[len(key_ms) // 2], 1) if key_ms else None,
        "key_to_screen_p99_ms": round(key_ms[min(len(key_ms) - 1, int(len(key_ms) * 0.99))], 1) if key_ms else None,
        "key_trials_shown": len(key_ms),
        "key_to_screen_ms": [round(ms) for ms in key_ms_typed],  # in the order typed
        "gc_runs": len(gc_runs),
        "gc_full_runs": len(gc_full),
        "gc_pause_max_ms": round(max((ms for _, ms in gc_runs), default=0.0), 1),
        "gc_ms_per_s": round(sum(ms for _, ms in gc_runs) / elapsed, 1),
    }


def main() -> None:
    """Parse arguments, run, print the results."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--cols", type=int, default=160)
    ap.add_argument("--rows", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--screen", choices=sorted(SCREENS), default="main", help="the screen to measure")
    ap.add_argument("--all-screens", action="store_true", help="measure every screen, one run each")
    ap.add_argument("--harvest", action="store_true", help="start the funding harvester (H) first")
    ap.add_argument("--key-trials", type=int, default=20, help="key-to-screen timings per screen (0: none)")
    ap.add_argument(
        "--profile", metavar="FILE", help="profile the console with pyinstrument into FILE (.html or .txt; one screen)"
    )
    ap.add_argument("pfterm_args", nargs="*", help="extra pfterm arguments (after --)")
    a = ap.parse_args()
    names = list(SCREENS) if a.all_screens else [a.screen]
    results = []
    for name in names:
        keys = (b"H" if a.harvest else b"") + SCREENS[name]
        res = {"screen": name, **run(a.seconds, a.cols, a.rows, a.pfterm_args, keys, a.profile, name, a.key_trials)}
        results.append(res)
        if a.json:
            print(json.dumps(res), flush=True)
        elif not a.all_screens:
            for k, v in res.items():
                print(f"{k:28} {v}")
    if a.all_screens and not a.json:
        print(
            f"{'screen':10} {'CPU % core':>10} {'kB/s':>8} {'key p50 ms':>11} {'key p99 ms':>11} {'shown':>6}"
            f" {'gc max ms':>10}"
        )
        for r in results:
            print(
                f"{r['screen']:10} {r['console_cpu_pct_of_core']:>10} {r['terminal_output_kB_per_s']:>8}"
                f" {r['key_to_screen_p50_ms']!s:>11} {r['key_to_screen_p99_ms']!s:>11} {r['key_trials_shown']:>6}"
                f" {r['gc_pause_max_ms']:>10}"
            )


if __name__ == "__main__":
    main()
