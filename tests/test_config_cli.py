"""Configuration file validation and CLI behaviour (errors are one line, exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pfterm.core.runtime.config import ConfigError, Settings, apply_override, load_settings, parse_url_overrides
from pfterm.tui.cli import main

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
    r = subprocess.run(
        [sys.executable, "-m", "pfterm.tui.cli", "--frobnicate"], cwd=REPO, capture_output=True, text=True
    )
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "--frobnicate" in r.stderr


def test_help_documents_flags_and_config_and_is_fast() -> None:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pfterm.tui.cli", "--help"], cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0
    for needle in ("--venue", "--url", "--speed", "--seed", "config.toml", "[alerts]", "sim"):
        assert needle in r.stdout
    # generous bound for a loaded CI box; the README's benchmark reports the real number
    assert elapsed < 3.0
    # the config keys are generated from the model (every key of every section: tests/test_settings.py)
    from pfterm.core.runtime.config import HarvestSection

    missing = [k for k in HarvestSection.model_fields if f"{k} = " not in r.stdout]
    assert not missing, missing


def test_spot_aliases_default_is_the_clients_table() -> None:
    from pfterm.core.trading.hyperliquid import SPOT_ALIASES

    assert Settings().trading.spot_aliases == dict(SPOT_ALIASES)


# ---------------------------------------------------------------------------- remapped keys


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("ctrl+k", "ctrl+k"),
        (" F12 ", "f12"),
        ("shift+ctrl+left", "ctrl+shift+left"),
        ("ctrl+/", "ctrl+slash"),
        ("?", "question_mark"),
        ("CTRL+x", "ctrl+x"),
    ],
)
def test_key_names_are_normalized(text: str, key: str) -> None:
    from pfterm.core.runtime.config import normalize_key

    assert normalize_key(text) == key


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("ctrl+zz", "'zz' is not a key"),
        ("", "no key given"),
        ("   ", "no key given"),
        ("ctrl+ k", "contains a space"),
        ("ctrl+", "is not a key name"),
        ("cmd+k", "unknown modifier 'cmd'"),
        ("ctrl+k,ctrl+x", "lists several keys"),
        ("ctrl+ctrl+k", "repeats a modifier"),
        ("ctrl+K", "write ctrl+k"),
    ],
)
def test_bad_key_names_fail_at_config_load_with_one_line(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "config.toml"
    p.write_text(f"[ui]\nkill_key = {json.dumps(text)}\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(p)
    msg = str(exc.value)
    assert msg.startswith("config.toml: ui.kill_key: ") and needle in msg and "\n" not in msg
    with pytest.raises(ConfigError, match="ui.kill_key"):
        apply_override(Settings(), "ui.kill_key", text)


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        ("k", "types a character"),
        ("q", "types a character"),
        ("o", "types a character"),
        ("space", "types a character"),
        ("ctrl+p", "command palette"),
        ("ctrl+s", "Screenshot"),
        ("escape", "Clear filter"),
        ("up", "(markets)"),
        ("enter", "already"),
        ("tab", "Focus Next"),
        ("ctrl+q", "Quit"),
        ("ctrl+i", "terminals send it as tab"),
        ("ctrl+h", "as backspace"),
        ("ctrl+shift+k", "not a key a terminal sends"),
        ("ctrl+u", "order ticket"),
    ],
)
def test_remapped_key_must_be_typable_and_free(key: str, needle: str) -> None:
    from pfterm.tui.bindings import remap_problem

    problem = remap_problem({"app.kill": key}, {"app.kill": "ui.kill_key"})
    assert problem is not None and problem.startswith(f"ui.kill_key = {key!r}") and needle in problem
    assert "\n" not in problem


@pytest.mark.parametrize("key", ["ctrl+k", "ctrl+x", "f12", "ctrl+f5", "alt+k", "ctrl+z"])
def test_free_typable_keys_are_accepted(key: str) -> None:
    from pfterm.tui.bindings import remap_problem

    assert remap_problem({"app.kill": key}) is None


def test_the_console_refuses_a_colliding_kill_key_at_start() -> None:
    from pfterm.tui.app import PftermApp
    from tests.seeded import FrozenMono, seeded_engine

    mono = FrozenMono()
    engine, _model, settings, endpoint = seeded_engine(mono, cascade=None)
    settings.ui.kill_key = "ctrl+s"
    with pytest.raises(ConfigError, match=r"ui.kill_key = 'ctrl\+s' is already Screenshot"):
        PftermApp(settings, engine=engine, endpoint=endpoint, start_feed=False, mono=mono)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ('"ctrl+zz"', "config.toml: ui.kill_key: 'ctrl+zz': 'zz' is not a key"),
        ('"k"', "ui.kill_key = 'k' types a character"),
        ('"ctrl+p"', "ui.kill_key = 'ctrl+p' is already command palette"),
    ],
)
def test_cli_bad_kill_key_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, needle: str
) -> None:
    p = tmp_path / "config.toml"
    p.write_text(f"[ui]\nkill_key = {value}\n")
    assert main(["--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pfterm: error: ") and err.count("\n") == 1 and needle in err


def test_cli_colliding_kill_key_no_traceback(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text('[ui]\nkill_key = "ctrl+q"\n')
    r = subprocess.run(
        [sys.executable, "-m", "pfterm.tui.cli", "--config", str(p)], cwd=REPO, capture_output=True, text=True
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "ui.kill_key = 'ctrl+q' is already Quit" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["sim", "--port", "99999"], "a port is 0-65535, got 99999"),
        (["sim", "--port", "-1"], "a port is 0-65535"),
        (["sim", "--speed", "0"], "--lockstep stops the clock"),
        (["sim", "--speed", "1e9"], "at most 100000"),
        (["sim", "--speed", "inf"], "finite"),
        (["sim", "--push-hz", "nan"], "finite"),
        (["sim", "--cascade-rate", "-1"], "0 or more"),
        (["sim", "--starting-usdc", "0"], "above 0 USDC"),
        (["sim", "--speed", "2", "--lockstep"], "not allowed with argument --speed"),
    ],
)
def test_sim_range_errors_are_one_line_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err
    assert err.startswith("pfterm sim: error:")


def test_module_entry_point_checks_the_same_ranges() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "pfterm.core.sim", "--port", "70000"], cwd=REPO, capture_output=True, text=True
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "a port is 0-65535" in r.stderr and "Traceback" not in r.stderr


def test_pfterm_sim_lockstep_serves_an_advancing_clock_only_on_request() -> None:
    """``pfterm sim --lockstep``: the announced line says so, the clock stands still until
    ``POST /sim/advance`` moves it."""
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "pfterm.tui.cli", "sim", "--port", "0", "--lockstep"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert line["lockstep"] is True and line["speed"] == 0.0
        url = line["listening"]
        with httpx.Client(timeout=10) as client:

            def advance(seconds: float) -> int:
                r = client.post(f"{url}/sim/advance", json={"seconds": seconds, "step_s": 10})
                assert r.status_code == 200, r.text
                return int(r.json()["now_ms"])

            t0 = advance(10)
            time.sleep(0.5)
            assert advance(10) == t0 + 10_000  # nothing moved it while it waited
            assert advance(60) == t0 + 70_000
    finally:
        proc.terminate()
        proc.wait(10)
