"""One source of settings: the config model is what the engine, desk and harvester read, and the
printed defaults (``pfterm config --defaults``), ``pfterm --help`` and the README's example are
generated from it or checked against it."""

from __future__ import annotations

import dataclasses
import inspect
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from pfterm.core.crossvenue.session import CrossVenueSession
from pfterm.core.harvest.harvester import HarvesterSettings
from pfterm.core.harvest.lockstep import harvester_settings
from pfterm.core.harvest.strategy import PROFILES
from pfterm.core.market.alert_thresholds import DetectorSettings
from pfterm.core.runtime.config import ConfigError, HarvestSection, Settings, apply_override, load_settings
from pfterm.core.runtime.config_document import settings_document, toml_value
from pfterm.core.trading.hyperliquid import SPOT_ALIASES
from pfterm.core.trading.risk import RiskLimits
from pfterm.core.trading.settings import DeskOptions, DeskSettings
from pfterm.tui.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]


def config_keys() -> Iterator[tuple[str, str | None, BaseModel | None]]:
    """``(section, key or None, section model or None)`` for every key of the config: the
    fields of each section, and each top-level table (``urls``, ``keys``) as a key of its own."""
    s = Settings()
    for name in type(s).model_fields:
        value = getattr(s, name)
        if isinstance(value, BaseModel):
            for key in type(value).model_fields:
                yield name, key, value
        else:
            yield name, None, None


def section_block(text: str, section: str) -> str:
    """The lines of ``text`` from ``[section]`` up to the next section's header."""
    start = text.index(f"[{section}]")
    nxt = re.search(r"^\s*(# )?\[(?!" + re.escape(section) + r"[.\]])", text[start + 1 :], re.M)
    return text[start : start + 1 + nxt.start()] if nxt else text[start:]


# ---------------------------------------------------------------------------- the generated texts


def test_the_defaults_document_lists_every_key_and_parses_back_to_the_defaults() -> None:
    doc = settings_document()
    for section, key, model in config_keys():
        if key is None:
            assert re.search(rf"^\[{section}\]$", doc, re.M), section
            continue
        assert model is not None
        value = getattr(model, key)
        if isinstance(value, Mapping):
            assert re.search(rf"^(# )?\[{section}\.{key}[.\]]", doc, re.M), f"{section}.{key}"
        else:
            assert re.search(rf"^(# )?{key} = ", section_block(doc, section), re.M), f"{section}.{key}"
    assert Settings.model_validate(tomllib.loads(doc)) == Settings()


def test_pfterm_help_lists_every_section_and_key() -> None:
    text = build_parser().format_help()
    for section, key, model in config_keys():
        if key is None:
            assert f"[{section}]" in text, section
            continue
        assert model is not None
        if isinstance(getattr(model, key), Mapping):
            assert f"[{section}.{key}]" in text, f"{section}.{key}"
        else:
            assert f" {key} = " in section_block(text, section), f"{section}.{key}"
    assert "pfterm config --defaults" in text


def test_pfterm_config_defaults_prints_the_document(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[alerts]\nbogus = 1\n")
    assert main(["config", "--defaults", "--config", str(bad)]) == 0  # the defaults, whatever the file says
    out = capsys.readouterr().out
    assert out == settings_document()
    assert main(["config", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "alerts.bogus: unknown key" in err


def test_the_settings_in_force_print_as_a_document_that_reads_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    p = tmp_path / "config.toml"
    p.write_text(
        '[trading]\nkey_file = "~/keys/hl.key"\nmax_leverage = 2\n[trading.external_spot]\nBTC = 0.25\n'
        '[harvest]\nhorizon_periods = 30\n[symbols.overrides.okx]\n"FOO-USDT-SWAP" = ""\n'
        '[urls]\nhyperliquid = "http://127.0.0.1:1"\n[keys]\n"app.kill" = "F12"\n'
    )
    assert main(["--speed", "60", "config", "--config", str(p)]) == 0
    printed = Settings.model_validate(tomllib.loads(capsys.readouterr().out))
    expected = load_settings(p)
    expected.sim.speed = 60.0
    assert printed == expected
    assert printed.trading.key_file == Path("~/keys/hl.key") and printed.keys == {"app.kill": "f12"}


def test_every_key_has_a_meaning_and_every_unset_one_an_example_that_validates() -> None:
    for section, key, model in config_keys():
        info = type(model).model_fields[key] if model is not None else Settings.model_fields[section]
        where = f"{section}.{key}" if key else section
        assert info.description and len(info.description) > 10, where
        default = getattr(model, key) if model is not None else getattr(Settings(), section)
        if default is None or (isinstance(default, Mapping) and not default):
            assert info.examples, f"{where}: an unset key is printed commented out with an example"
            raw = {section: {key: info.examples[0]}} if key else {section: info.examples[0]}
            Settings.model_validate(raw)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (3, "3"),
        (0.05, "0.05"),
        (float("inf"), "inf"),
        ('a "b"\n', '"a \\"b\\"\\n"'),
        (Path("~/x"), '"~/x"'),
        (["a", 1], '["a", 1]'),
        ({"app.kill": "f12", "k": 1.5}, '{"app.kill" = "f12", k = 1.5}'),
    ],
)
def test_toml_values_read_back(value: object, text: str) -> None:
    assert toml_value(value) == text
    parsed = tomllib.loads(f"x = {text}")["x"]
    assert parsed == (str(value) if isinstance(value, Path) else value)


# ---------------------------------------------------------------------------- no copies


def test_the_desk_reads_the_trading_section_with_its_defaults_written_once() -> None:
    trading = Settings().trading
    assert set(DeskOptions.model_fields) | set(RiskLimits.model_fields) <= set(type(trading).model_fields)
    assert DeskSettings.from_section(trading) == DeskSettings()
    assert RiskLimits.of(trading) == RiskLimits()
    assert DeskSettings().spot_aliases == dict(SPOT_ALIASES) == trading.spot_aliases
    # the desk's copy is frozen and its own: editing the section does not reach a running desk
    trading.external_spot["ETH"] = 1.0
    ds = DeskSettings.from_section(trading)
    trading.external_spot["ETH"] = 2.0
    assert ds.external_spot == {"ETH": 1.0}
    with pytest.raises(ValueError):
        ds.limits.max_leverage = 5.0  # type: ignore[misc]
    # the desk's own cadence is no config key
    for name in ("limits", "orders_every", "fills_every", "kill_on_daily_loss"):
        assert name not in type(trading).model_fields


def test_the_engine_reads_the_alerts_section_itself() -> None:
    from pfterm.core.runtime.session import Endpoint, build_engine

    settings = Settings()
    engine = build_engine(settings, Endpoint("test", "http://127.0.0.1:1", 1.0, False))
    assert engine.detectors is settings.alerts
    assert isinstance(settings.alerts, DetectorSettings)
    assert DetectorSettings() == DetectorSettings.model_validate(
        settings.alerts.model_dump(exclude={"bell", "bell_kinds", "repeat_after_s", "toasts_per_min"})
    )


def test_the_harvester_settings_are_built_from_the_section_in_one_place() -> None:
    keys = set(HarvestSection.model_fields)
    for f in dataclasses.fields(HarvesterSettings):
        if f.name in keys:  # a key of [harvest]: its default is the section's, not repeated here
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, f.name
    own = {f.name for f in dataclasses.fields(HarvesterSettings)} - keys
    assert own == {"oi_scans", "min_entry_basis"}
    section = HarvestSection()
    hs = HarvesterSettings.from_section()
    assert hs == harvester_settings(Settings())
    assert hs.profile is PROFILES[section.profile] and hs.horizon_periods == section.max_hold_h / 8
    for name in keys & {f.name for f in dataclasses.fields(HarvesterSettings)} - {"profile", "horizon_periods"}:
        assert getattr(hs, name) == getattr(section, name), name
    assert harvester_settings(Settings(), "aggressive").profile is PROFILES["aggressive"]
    assert set(get_args(HarvestSection.model_fields["profile"].annotation)) == set(PROFILES)


def test_the_cross_venue_refresh_has_no_default_of_its_own() -> None:
    assert inspect.signature(CrossVenueSession).parameters["refresh_s"].default is inspect.Parameter.empty


# ---------------------------------------------------------------------------- errors stay one line


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[trading]\norders_every = 3\n", "trading.orders_every: unknown key"),
        ("[trading]\nmax_leverage = 0\n", "trading.max_leverage"),
        ("[trading]\nmax_leverage = inf\n", "trading.max_leverage"),
        ("[trading]\nkill_slippage = 0.9\n", "trading.kill_slippage"),
        ("[alerts]\ncascade_window = 1\n", "alerts.cascade_window"),
        ("[harvest]\nbogus = 1\n", "harvest.bogus: unknown key"),
        ('[harvest]\nprofile = "yolo"\n', "harvest.profile"),
    ],
)
def test_the_composed_sections_name_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, needle: str
) -> None:
    p = tmp_path / "config.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_settings(p)
    assert main(["config", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err


def test_overrides_of_the_composed_sections_validate() -> None:
    s = Settings()
    for dotted, bad in (("harvest.cycle_s", -1), ("trading.max_leverage", 0), ("alerts.extreme_apr", 0)):
        with pytest.raises(ConfigError, match=re.escape(dotted)):
            apply_override(s, dotted, bad)
    apply_override(s, "trading.max_leverage", 2)
    assert s.trading.max_leverage == 2.0


# ---------------------------------------------------------------------------- the README's example


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Configuration\n") :]
    section = section[: section.index("\n## ", 1)]
    return re.search(r"```toml\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_readme_example_config_works_on_the_embedded_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pfterm.core.runtime.session import resolve_access, resolve_endpoint
    from pfterm.core.trading.credentials import load_binance_credentials

    monkeypatch.setenv("HOME", str(tmp_path))  # a fresh machine: no key files anywhere
    for var in ("PFTERM_HL_PRIVATE_KEY", "PFTERM_HL_ACCOUNT", "PFTERM_BINANCE_API_KEY", "PFTERM_BINANCE_API_SECRET"):
        monkeypatch.delenv(var, raising=False)
    p = tmp_path / "config.toml"
    p.write_text(readme_example())
    settings = load_settings(p, required=True)
    assert settings != Settings()  # the example does set things
    endpoint = resolve_endpoint(settings)
    assert endpoint.embedded
    access = resolve_access(settings, endpoint)
    assert access.can_trade and access.source == "simulator session"
    assert load_binance_credentials(settings.trading.binance_key_file) is None
    assert main(["config", "--config", str(p)]) == 0
    assert Settings.model_validate(tomllib.loads(capsys.readouterr().out)) == settings
