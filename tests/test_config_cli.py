"""Configuration file validation and CLI behaviour (errors are one line, exit 2)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import ConfigError, Settings, apply_override, load_settings, parse_url_overrides
from tui.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_defaults_without_file(tmp_path: Path) -> None:
    s = load_settings(tmp_path / "absent.toml")
    assert s == Settings()
    assert s.venue.name == "sim" and s.sim.speed == 1.0 and s.alerts.cascade_oi_drop == 0.03


def test_valid_file(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text('[venue]\nname = "hyperliquid"\nnetwork = "testnet"\n[sim]\nspeed = 60\n[alerts]\nextreme_apr = 0.5\n')
    s = load_settings(p)
    assert (s.venue.name, s.venue.network, s.sim.speed, s.alerts.extreme_apr) == ("hyperliquid", "testnet", 60, 0.5)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[alerts]\nbogus = 1\n", "alerts.bogus: unknown key"),
        ("[nosuchsection]\nx = 1\n", "nosuchsection: unknown key"),
        ("[sim]\nspeed = -1\n", "sim.speed"),
        ('[venue]\nname = "binance"\n', "venue.name"),
        ("[ui\n", "invalid TOML"),
    ],
)
def test_bad_file_names_the_key(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "config.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_settings(p)
    msg = str(exc.value)
    assert needle in msg and "\n" not in msg


def test_overrides_validate() -> None:
    s = Settings()
    apply_override(s, "sim.speed", 60.0)
    assert s.sim.speed == 60.0
    with pytest.raises(ConfigError, match="sim.speed"):
        apply_override(s, "sim.speed", 0)
    with pytest.raises(ConfigError, match="unknown key"):
        apply_override(s, "sim.nope", 1)


def test_url_overrides() -> None:
    assert parse_url_overrides(["hyperliquid=http://127.0.0.1:1"]) == {"hyperliquid": "http://127.0.0.1:1"}
    with pytest.raises(ConfigError, match="VENUE=URL"):
        parse_url_overrides(["hyperliquid"])


def test_cli_malformed_config_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "c.toml"
    p.write_text("[markets]\nstale_after_s = 'soon'\n")
    assert main(["--config", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "markets.stale_after_s" in err


def test_cli_missing_explicit_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "none.toml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_unknown_flag_one_line_exit_2() -> None:
    r = subprocess.run([sys.executable, "-m", "tui.cli", "--frobnicate"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "--frobnicate" in r.stderr


def test_help_documents_flags_and_config_and_is_fast() -> None:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "tui.cli", "--help"], cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0
    for needle in ("--venue", "--url", "--speed", "--seed", "config.toml", "[alerts]", "sim"):
        assert needle in r.stdout
    # generous bound for a loaded CI box; the README's benchmark reports the real number
    assert elapsed < 3.0
    # every [harvest] key is listed (the help text is written by hand)
    from core.config import HarvestSection

    missing = [k for k in HarvestSection.model_fields if f"{k} = " not in r.stdout]
    assert not missing, missing


def test_spot_alias_tables_agree() -> None:
    from core.config import DEFAULT_SPOT_ALIASES
    from core.trading import SPOT_ALIASES

    assert dict(SPOT_ALIASES) == DEFAULT_SPOT_ALIASES
