"""One trading state per account, shared by every pfterm process trading it: a ``pfterm harvest``
daemon and, separately, a console's kill key or ``pfterm kill`` on the same account (two
processes, one journal file, one ``pfterm sim`` on 127.0.0.1). After the kill both are flat, the
daemon is halted and enters nothing new; ``pfterm resume`` lets it carry on."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pfterm.core.trading.journal import Journal
from pfterm.core.venues.hyperliquid.exchange import HyperliquidExchange
from pfterm.core.venues.hyperliquid.signing import Signer
from tests.simproc import pfterm_sim
from tests.test_cli_kill import _open_book

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def sim_url() -> Iterator[str]:
    with pfterm_sim(7, "--speed", "120", "--regime", "positive") as url:
        yield url


def _venue_book(url: str, key: str) -> tuple[int, int]:
    async def read() -> tuple[int, int]:
        async with HyperliquidExchange(url, Signer(key), is_mainnet=True) as ex:
            state, orders = await asyncio.gather(ex.account_state(), ex.open_orders())
        return len([p for p in state.positions if p.size]), len(orders)

    return asyncio.run(read())


def _wait_for(cond, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def _harvest(url: str, key: str, tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    cfg = tmp_path / "config.toml"
    journal = tmp_path / "journal.sqlite"
    cfg.write_text(f'[trading]\njournal = "{journal}"\n[harvest]\ncycle_s = 60\nmax_entry_wait_s = 0\n')
    log = tmp_path / "harvest.log"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PFTERM_")}, "PFTERM_HL_PRIVATE_KEY": key}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pfterm.tui.cli",
            "harvest",
            "--url",
            f"hyperliquid={url}",
            "--config",
            str(cfg),
            "--log-file",
            str(log),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: log.exists() and "harvester starting" in log.read_text(), 60, "the harvester started")
    return proc, cfg, journal


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return err


def _entries_after(journal: Path, since_ms: int) -> list[str]:
    """Orders journalled after ``since_ms`` that were not the kill switch's."""
    with Journal(journal) as j:
        return [f"{i.purpose} {i.symbol} {i.state}" for i in j.intents(since_ms=since_ms) if i.purpose != "kill"]


def _check_halted_then_resume(url: str, key: str, cfg: Path, journal: Path, log: Path, killed_ms: int) -> None:
    _wait_for(lambda: "the harvester waits for a resume" in log.read_text(), 2, "the daemon stopped entering")
    time.sleep(6)  # a dozen harvester cycles at 120×: none may enter
    assert _venue_book(url, key) == (0, 0)
    assert _entries_after(journal, killed_ms) == []
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PFTERM_")}, "PFTERM_HL_PRIVATE_KEY": key}
    r = subprocess.run(
        [sys.executable, "-m", "pfterm.tui.cli", "resume", "--url", f"hyperliquid={url}", "--config", str(cfg)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "ACTIVE again (was HALTED" in r.stdout and "kill switch" in r.stdout
    _wait_for(lambda: "the harvester carries on" in log.read_text(), 5, "the daemon saw the resume")


def test_pfterm_kill_halts_a_running_harvest_daemon_on_the_same_account(sim_url: str, tmp_path: Path) -> None:
    key = "0x" + secrets.token_hex(32)
    _open_book(sim_url, key, tmp_path / "setup.sqlite")
    proc, cfg, journal = _harvest(sim_url, key, tmp_path)
    log = tmp_path / "harvest.log"
    try:
        time.sleep(2)  # a few cycles of the daemon
        killed_ms = int(time.time() * 1000)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PFTERM_")}, "PFTERM_HL_PRIVATE_KEY": key}
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "pfterm.tui.cli",
                "kill",
                "--url",
                f"hyperliquid={sim_url}",
                "--config",
                str(cfg),
                "--log-file",
                str(tmp_path / "kill.log"),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert "FLAT" in r.stdout
        _check_halted_then_resume(sim_url, key, cfg, journal, log, killed_ms)
    finally:
        err = _stop(proc)
    assert "Traceback" not in err


async def test_the_console_kill_key_halts_a_running_harvest_daemon_on_the_same_account(
    sim_url: str, tmp_path: Path
) -> None:
    from pfterm.core.runtime.config import Settings
    from pfterm.core.runtime.session import resolve_endpoint
    from pfterm.core.trading.credentials import trading_access
    from pfterm.tui.app import PftermApp

    key = "0x" + secrets.token_hex(32)
    await asyncio.to_thread(_open_book, sim_url, key, tmp_path / "setup.sqlite")
    proc, cfg, journal = await asyncio.to_thread(_harvest, sim_url, key, tmp_path)
    log = tmp_path / "harvest.log"
    try:
        settings = Settings()
        settings.urls["hyperliquid"] = sim_url
        settings.trading.journal = journal
        access = trading_access("testnet", env={"PFTERM_HL_PRIVATE_KEY": key})
        app = PftermApp(settings, endpoint=resolve_endpoint(settings), access=access)
        async with app.run_test(size=(160, 50)) as pilot:
            for _ in range(300):
                if app.desk is not None and app.desk.account is not None:
                    break
                await pilot.pause(0.05)
            assert app.desk is not None and app.desk.account is not None
            killed_ms = int(time.time() * 1000)
            await pilot.press("ctrl+k")
            for _ in range(400):
                if app.desk.last_kill is not None:
                    break
                await pilot.pause(0.05)
            assert app.desk.last_kill is not None and app.desk.last_kill.flat, app.desk.last_kill
            await asyncio.to_thread(_check_halted_then_resume, sim_url, key, cfg, journal, log, killed_ms)
            await pilot.pause(0.8)  # the console reads the shared state too: ACTIVE again there
            assert app.desk.state.value == "active"
            app.exit()
    finally:
        err = await asyncio.to_thread(_stop, proc)
    assert "Traceback" not in err
