"""``pfterm kill`` from the shell, end to end against a ``pfterm sim`` process on 127.0.0.1:
exit 0 only when flat, the result printed and journalled; refusals exit 2 with one line and
never print the key."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pfterm.core.trading.journal import Journal
from pfterm.tui.cli import main
from tests.simproc import pfterm_sim

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def sim_url() -> Iterator[str]:
    with pfterm_sim(2) as url:
        yield url


def _open_book(url: str, key: str, journal: Path) -> None:
    from pfterm.core.trading.credentials import trading_access
    from pfterm.core.trading.desk import DeskSettings
    from pfterm.core.trading.portfolio import TicketRequest
    from pfterm.core.trading.risk import RiskLimits
    from tests.desks import desk_on

    async def go() -> None:
        access = trading_access("testnet", env={"PFTERM_HL_PRIVATE_KEY": key})
        with Journal(journal) as j:
            d = desk_on(
                url,
                access.signer,
                j,
                DeskSettings(limits=RiskLimits(max_market_share=1.0, max_venue_share=1.0)),
                network="url:setup",
            )
            await d.start()
            intents = []
            for sym in ("BTC", "ETH", "SOL", "HYPE"):
                intents.append(
                    d.quote(TicketRequest(sym, sym != "SOL", 1_500, True, None, "Ioc", False, "market")).intent
                )
                limit = d.mark(sym) * 0.85
                intents.append(d.quote(TicketRequest(sym, True, 300, True, limit, "Gtc", False, "limit")).intent)
            outs = await d.submit(intents)
            assert all(o.status in ("filled", "resting") for o in outs), [o.message for o in outs]
            await d.aclose()

    asyncio.run(go())


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pfterm.tui.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_pfterm_kill_flattens_and_exits_0(sim_url: str, tmp_path: Path) -> None:
    key = "0x" + secrets.token_hex(32)
    _open_book(sim_url, key, tmp_path / "setup.sqlite")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[trading]\njournal = "{tmp_path / "journal.sqlite"}"\n')
    env = {**os.environ, "PFTERM_HL_PRIVATE_KEY": key}
    args = ["kill", "--config", str(cfg), "--url", f"hyperliquid={sim_url}", "--log-file", str(tmp_path / "log")]
    r = _run(args, env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FLAT" in r.stdout and "4 order(s) cancelled" in r.stdout
    assert r.stdout.count("closed: ") == 4
    assert key[2:] not in r.stdout + r.stderr + (tmp_path / "log").read_text()
    with Journal(tmp_path / "journal.sqlite") as j:
        [result] = [e for e in j.events() if e.kind == "kill_result"]
        assert result.detail["flat"] is True and result.detail["cancelled"] == 4
        assert sum(1 for i in j.intents() if i.purpose == "kill" and i.state == "filled") == 4
    again = _run(args, env)  # already flat: nothing to do, still exit 0
    assert again.returncode == 0 and "0 order(s) cancelled" in again.stdout


def test_pfterm_kill_refusals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PFTERM_HL_PRIVATE_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["kill"]) == 2
    assert "embedded simulator starts empty" in capsys.readouterr().err
    assert main(["kill", "--url", "hyperliquid=http://127.0.0.1:9", "--log-file", str(tmp_path / "l")]) == 2
    assert "read-only: no key" in capsys.readouterr().err
    loose = tmp_path / "key"
    key = "0x" + secrets.token_hex(32)
    loose.write_text(key)
    loose.chmod(0o644)
    assert main(["kill", "--key-file", str(loose), "--url", "hyperliquid=http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "chmod 600" in err and key[2:] not in err
    assert main(["--key-file", str(loose)]) == 2  # the console refuses the same way
    assert "chmod 600" in capsys.readouterr().err


def test_pfterm_kill_flattens_the_binance_leg_too(tmp_path: Path) -> None:
    """With a Binance key configured, ``pfterm kill`` cancels and closes on both venues; the
    secret is never printed."""
    from pfterm.core.venues.binance.futures import BinanceCredentials, BinanceFuturesClient, OrderRequest

    bn_key, bn_secret = "k" + secrets.token_hex(16), secrets.token_hex(32)
    env = {**os.environ, "PFTERM_BINANCE_API_KEY": bn_key, "PFTERM_BINANCE_API_SECRET": bn_secret}
    with pfterm_sim(2, env=env) as url:
        hl_key = "0x" + secrets.token_hex(32)
        _open_book(url, hl_key, tmp_path / "setup.sqlite")

        async def binance(action: str) -> tuple[list, list]:
            async with BinanceFuturesClient(url, BinanceCredentials(bn_key, bn_secret)) as c:
                if action == "open":
                    rules = await c.exchange_info()
                    for native, side in (("BTCUSDT", "BUY"), ("ETHUSDT", "SELL")):
                        px = float(
                            (await c.http.get(f"{url}/fapi/v1/premiumIndex", params={"symbol": native})).json()[
                                "markPrice"
                            ]
                        )
                        qty = 2_000 / px
                        await c.place(
                            OrderRequest(native, side, qty, px * (1.02 if side == "BUY" else 0.98), "LIMIT", "IOC")
                        )
                    await c.place(OrderRequest("BTCUSDT", "BUY", 0.01, 1_000.0, "LIMIT", "GTC"))
                    assert rules
                return await c.positions(), await c.open_orders()

        positions, orders = asyncio.run(binance("open"))
        assert len(positions) == 2 and len(orders) == 1
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[trading]\njournal = "{tmp_path / "journal.sqlite"}"\n')
        r = _run(
            ["kill", "--config", str(cfg), "--url", f"hyperliquid={url}", "--log-file", str(tmp_path / "log")],
            {**env, "PFTERM_HL_PRIVATE_KEY": hl_key},
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert "kill switch on binance" in r.stdout and "FLAT" in r.stdout
        assert "5 order(s) cancelled" in r.stdout  # 4 on Hyperliquid + 1 on Binance
        assert r.stdout.count("closed: binance") == 2 and r.stdout.count("closed: ") == 6
        log_text = (tmp_path / "log").read_text()
        assert bn_secret not in r.stdout + r.stderr + log_text
        assert "signature=" not in log_text  # signed URLs (replayable within recvWindow) are not logged
        positions, orders = asyncio.run(binance("read"))
        assert positions == [] and orders == []
