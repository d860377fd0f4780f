"""The journal is complete and kept per account: after ``pfterm harvest --flatten-on-exit`` and
after ``pfterm kill``, ``pfterm report`` equals the venue's own ledger for the account (the
simulator's ``userFills`` closedPnl and fees, ``userFunding``, and the equity change over perp
and spot); two embedded-simulator sessions with one HOME keep apart in one journal."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pfterm.core.venues.hyperliquid.exchange import HyperliquidExchange
from pfterm.core.venues.hyperliquid.signing import Signer
from tests.simproc import pfterm_sim
from tests.test_cli_kill import _open_book

REPO = Path(__file__).resolve().parents[1]
STARTING = 100_000.0


@pytest.fixture
def sim_url() -> Iterator[str]:
    with pfterm_sim(4, "--speed", "600") as url:
        yield url


def _env(tmp_path: Path, key: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PFTERM_", "XDG_"))}
    env["HOME"] = str(tmp_path / "home")
    if key is not None:
        env["PFTERM_HL_PRIVATE_KEY"] = key
    return env


def _pfterm(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pfterm.tui.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _ledger(url: str, key: str) -> dict[str, float]:
    """The venue's ledger of the account: perp closedPnl, fees (USD; a spot buy's fee is charged in
    the token received, valued at the fill price), funding, and equity (perp account value + spot
    USDC + tokens at mid)."""

    async def read() -> dict[str, float]:
        async with HyperliquidExchange(url, Signer(key), is_mainnet=True) as ex:
            fills, funding, state, spot, mids = await asyncio.gather(
                ex.user_fills(), ex.user_funding(0), ex.account_state(), ex.spot_balances(), ex.info.all_mids()
            )
        fees = sum(f.fee * (f.px if f.fee_token not in ("USDC", "USDT") else 1.0) for f in fills)
        perp = sum(f.closed_pnl for f in fills if not f.symbol.startswith("@") and "/" not in f.symbol)
        aliases = {"UBTC": "BTC", "UETH": "ETH"}
        tokens = sum(b.total * mids.get(aliases.get(b.coin, b.coin), 0.0) for b in spot if b.coin != "USDC")
        usdc = sum(b.total for b in spot if b.coin == "USDC")
        return {
            "perp_pnl": perp,
            "fees": fees,
            "funding": sum(p.usdc for p in funding),
            "equity": state.account_value + usdc + tokens,
            "fills": float(len(fills)),
        }

    return asyncio.run(read())


def _books(env: dict[str, str], *extra: str) -> list[dict]:
    r = _pfterm(["report", "--json", "--no-marks", *extra], env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["books"]


def _assert_report_is_the_ledger(book: dict, ledger: dict[str, float], journal: Path) -> None:
    from pfterm.core.trading.journal import Journal

    with Journal(journal) as j:
        assert len(j.fills()) == ledger["fills"]  # every fill of the account, none of another
    t = book["total"]
    assert t["open"] == 0 and t["partly_open"] == 0, book["positions"]
    assert t["perp_pnl"] == pytest.approx(ledger["perp_pnl"], abs=0.02)
    assert t["fees"] == pytest.approx(ledger["fees"], abs=0.02)
    assert t["funding_pnl"] == pytest.approx(ledger["funding"], abs=0.01)
    # flat: the net of every position is the account's whole change, spot included (dust at mid)
    assert t["net"] == pytest.approx(ledger["equity"] - 2 * STARTING, abs=0.5)


def test_report_equals_the_ledger_after_harvest_flatten_on_exit(sim_url: str, tmp_path: Path) -> None:
    key = "0x" + secrets.token_hex(32)
    env = _env(tmp_path, key)
    _open_book(sim_url, key, tmp_path / "setup.sqlite")  # positions and orders the harvester finds
    cfg = tmp_path / "config.toml"
    cfg.write_text("[harvest]\ncycle_s = 2\nmax_entry_wait_s = 0\n")
    log = tmp_path / "harvest.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pfterm.tui.cli",
            "harvest",
            "--url",
            f"hyperliquid={sim_url}",
            "--config",
            str(cfg),
            "--log-file",
            str(log),
            "--flatten-on-exit",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (log.exists() and "harvester starting" in log.read_text()):
            time.sleep(0.2)
        time.sleep(8)  # 80 simulated minutes at 600×: a settlement's funding on the open book
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "kill switch: FLAT" in log.read_text()
    ledger = _ledger(sim_url, key)
    assert ledger["funding"] != 0  # the test means something only with funding paid
    [book] = _books(env, "--config", str(cfg))
    _assert_report_is_the_ledger(book, ledger, tmp_path / "home/.local/share/pfterm/journal.sqlite")


def test_report_equals_the_ledger_after_pfterm_kill(sim_url: str, tmp_path: Path) -> None:
    key = "0x" + secrets.token_hex(32)
    env = _env(tmp_path, key)
    _open_book(sim_url, key, tmp_path / "setup.sqlite")
    time.sleep(7)  # over an hour at 600×: funding settles on the open positions
    r = _pfterm(["kill", "--url", f"hyperliquid={sim_url}"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    ledger = _ledger(sim_url, key)
    assert ledger["funding"] != 0
    [book] = _books(env)
    _assert_report_is_the_ledger(book, ledger, tmp_path / "home/.local/share/pfterm/journal.sqlite")


def test_two_embedded_sessions_with_one_home_keep_apart(tmp_path: Path) -> None:
    env = _env(tmp_path)
    cfg = tmp_path / "config.toml"
    # Short averaging windows so the first spreads are judged within seconds of venue time: at
    # 1200x the client's request-weight budget (per wall minute) runs out after a few cycles, and
    # with the default 24 h spread window whether anything was entered by then depended on the
    # hour the simulator started at.
    cfg.write_text(
        '[harvest]\nprofile = "aggressive"\ncycle_s = 300\nmax_entry_wait_s = 0\nspread_window_h = 0.5\nrate_window_h = 1\n'
    )
    for n in range(2):
        log = tmp_path / f"harvest{n}.log"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pfterm.tui.cli",
                "harvest",
                "--venue",
                "sim",
                "--speed",
                "1200",
                "--seed",
                "7",
                "--config",
                str(cfg),
                "--log-file",
                str(log),
                "--flatten-on-exit",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                text = log.read_text() if log.exists() else ""
                if "harvest enter" in text and " filled @ " in text:  # a position is open
                    break
                time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err[-2000:]
        assert "harvest enter" in log.read_text(), "the session traded nothing: the test would mean nothing"
    books = _books(env, "--config", str(cfg))
    assert len(books) == 2  # one per session: a session's account lives in its own simulator
    sessions = []
    for book in books:
        hl = [a for a in book["accounts"] if a.startswith("hyperliquid sim:")]
        assert len(hl) == 1, book["accounts"]  # the session's Hyperliquid account, and its Binance leg
        sessions.append(hl[0].split()[1])
        assert all(a.split()[1] == sessions[-1] for a in book["accounts"])  # both legs in that session
        assert book["total"]["open"] == 0, book["positions"]  # each session flattened its own account
        assert book["total"]["positions"] >= 1
    assert sessions[0] != sessions[1]
