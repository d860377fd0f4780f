"""Configuration: a TOML file in the platform config directory, overridden by CLI flags.

The file is optional. Every key is validated; an unknown key or a bad value raises
:class:`ConfigError` whose message names the key, e.g.
``config.toml: alerts.extreme_apr: Input should be greater than 0``.

The models below are the settings themselves: each key's default, bounds and meaning
(``Field(description=...)``) are written once, on the model the code reads. Sections read
by code that may not import this package are defined beside that code and composed here:
``[alerts]`` is :class:`pfterm.core.market.engine.DetectorSettings` plus ``bell``;
``[trading]`` is :class:`pfterm.core.trading.settings.DeskOptions` and
:class:`pfterm.core.trading.risk.RiskLimits` plus the keys of access; ``[harvest]`` is
:class:`pfterm.core.harvest.settings.HarvestSection`.

``pfterm config --defaults`` prints every key with its default and meaning as a commented
TOML document, and ``pfterm --help`` lists every section and key; both are generated from
these models (:mod:`pfterm.core.runtime.config_document`).
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from pfterm.core.harvest.settings import HarvestSection
from pfterm.core.market.alert_gate import AlertGate
from pfterm.core.market.alert_thresholds import DetectorSettings
from pfterm.core.market.models import AlertKind
from pfterm.core.trading.risk import RiskLimits
from pfterm.core.trading.settings import DeskOptions

SortKey = Literal["funding", "abs_funding", "oi", "oi_change", "volume", "symbol"]
SORT_KEYS: tuple[str, ...] = get_args(SortKey)
Venue = Literal["sim", "hyperliquid"]
VENUES: tuple[str, ...] = get_args(Venue)
CrossVenue = Literal["binance", "bybit", "okx", "dydx"]


class ConfigError(Exception):
    """A configuration file or flag that cannot be used; the message is one line naming the key."""


KEY_MODIFIERS: tuple[str, ...] = ("alt", "ctrl", "hyper", "meta", "shift", "super")
"""Modifiers a key name may carry, in the order a key name lists them (alphabetical, as Textual does)."""

NAMED_KEYS: frozenset[str] = frozenset(
    {
        "escape",
        "enter",
        "tab",
        "space",
        "backspace",
        "insert",
        "delete",
        "home",
        "end",
        "pageup",
        "pagedown",
        "up",
        "down",
        "left",
        "right",
        *(f"f{i}" for i in range(1, 25)),
    }
)
"""Keys named by a word rather than the character they type."""

_SHORT_CHAR_NAMES = {"slash": "/", "backslash": "\\", "at": "@", "minus": "-", "plus": "+", "underscore": "_"}


def _char_name(name: str) -> str | None:
    """The character a Textual character-key name stands for (``question_mark`` → ``?``), or ``None``."""
    if name in _SHORT_CHAR_NAMES:
        return _SHORT_CHAR_NAMES[name]
    try:
        ch = unicodedata.lookup(name.replace("_", " ").upper())
    except KeyError:
        return None
    return ch if len(ch) == 1 and ch.isprintable() and not ch.isspace() else None


def normalize_key(text: str) -> str:
    """``text`` as a key name: one key, optionally with modifiers (``ctrl+k``, ``f12``,
    ``ctrl+shift+left``, ``question_mark``), modifiers lower case and in alphabetical order.

    This checks the spelling only; whether a terminal can send the key and whether the console
    already uses it is checked when the console starts (:func:`pfterm.tui.bindings.remap_problem`).

    Raises:
        ValueError: empty, blank or spaced, a list of keys, an unknown modifier or key name
            (``ctrl+zz``), or a modifier with an upper-case letter (one line).
    """
    s = text.strip() if isinstance(text, str) else ""
    if not s:
        raise ValueError("no key given: name one key, e.g. ctrl+k or f12")
    if any(ch.isspace() for ch in s):
        raise ValueError(f"{text!r} contains a space: name one key, e.g. ctrl+k or f12")
    if "," in s:
        raise ValueError(f"{text!r} lists several keys: name one key, e.g. ctrl+k or f12")
    *mods, base = s.split("+")
    if not base or any(not m for m in mods):
        raise ValueError(f"{text!r} is not a key name (the + key itself is written 'plus')")
    lowered = [m.lower() for m in mods]
    for m in lowered:
        if m not in KEY_MODIFIERS:
            raise ValueError(f"{text!r}: unknown modifier {m!r} (use {', '.join(KEY_MODIFIERS)})")
    if len(set(lowered)) != len(lowered):
        raise ValueError(f"{text!r} repeats a modifier")
    if len(base) == 1:
        if not base.isprintable():
            raise ValueError(f"{text!r} is not a key name")
        if lowered and base.isalpha() and base.isupper():
            raise ValueError(f"{text!r}: write {'+'.join(lowered)}+{base.lower()} (terminals send it in lower case)")
        if not base.isalnum():  # Textual names punctuation keys: "?" is question_mark
            name = unicodedata.name(base, base).lower().replace("-", "_").replace(" ", "_")
            base = {v: k for k, v in _SHORT_CHAR_NAMES.items()}.get(base, name)
    elif base.lower() in NAMED_KEYS or _char_name(base.lower()) is not None:
        base = base.lower()
    else:
        raise ValueError(f"{text!r}: {base!r} is not a key (e.g. k, f12, escape, pageup, question_mark)")
    return "+".join([*sorted(lowered), base])


def normalize_keys(text: object) -> str:
    """``text`` as a comma-separated list of key names, each spelt as :func:`normalize_key` does
    (``"ctrl+k, F12"`` → ``"ctrl+k,f12"``): the value of a ``[keys]`` entry.

    Raises:
        ValueError: not a string, an empty item, an item that is not a key name, or a key
            listed twice (one line).
    """
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a key name (e.g. ctrl+k, f12, or several: ctrl+k,f12)")
    keys = [normalize_key(part) for part in text.split(",")]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{text!r} lists a key twice")
    return ",".join(keys)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class VenueSection(_Section):
    """Which venue to watch: ``sim`` or ``hyperliquid`` (mainnet or testnet)."""

    name: Venue = Field(default="sim", description='"sim" (the embedded simulator) or "hyperliquid"')
    network: Literal["mainnet", "testnet"] = Field(
        default="mainnet", description="Hyperliquid network; a --url venue takes this network's signatures"
    )


class SimSection(_Section):
    """Embedded simulator: RNG seed, clock speed (sim s per wall s), cascades per sim hour."""

    seed: int = Field(default=1, description="random seed of the simulated market")
    speed: float = Field(
        default=1.0, gt=0, le=100_000, description="simulated seconds per wall second (60: an hour a minute)"
    )
    cascade_rate: float = Field(default=2.5, ge=0, description="liquidation cascades per simulated hour")


class MarketsSection(_Section):
    """Market list: delisted visibility, OI window (venue minutes), staleness threshold (wall s)."""

    include_delisted: bool = Field(default=False, description="also list delisted markets")
    oi_window_min: float = Field(
        default=60.0, gt=0, description="window of the OI change and OI × price quadrant, venue minutes"
    )
    stale_after_s: float = Field(
        default=10.0, gt=0, description="a market silent this long is shown stale, wall seconds"
    )


class HttpSection(_Section):
    """REST answers: the largest body read from any venue, MiB after decompression."""

    max_answer_mb: float = Field(
        default=16.0,
        ge=1,
        le=1024,
        description="largest REST answer read, MiB once decompressed; a larger one is malformed",
    )

    def max_answer_bytes(self) -> int:
        """``max_answer_mb`` in bytes (MiB × 2^20)."""
        return int(self.max_answer_mb * 1024 * 1024)


class AlertsSection(_Section, DetectorSettings):
    """Alerts: the detector thresholds (:class:`~pfterm.core.market.engine.DetectorSettings`, read by
    the engine as they are) and which alerts are raised (:class:`~pfterm.core.market.alert_gate.AlertGate`):
    repeats within ``repeat_after_s`` venue seconds are counted, not raised; at most
    ``toasts_per_min`` toasts a wall minute; the bell (master switch) rings for ``bell_kinds`` only."""

    bell: bool = Field(default=True, description="ring the terminal bell on an alert (master switch)")
    bell_kinds: list[str] = Field(
        default_factory=lambda: [AlertKind.CASCADE.value],
        description="the alert kinds that ring the bell: " + " | ".join(k.value for k in AlertKind),
    )
    repeat_after_s: float = Field(
        default=300.0,
        ge=0,
        description="venue seconds in which the same kind of alert on the same market is a repeat: "
        "counted (×N in Alerts), no toast nor bell",
    )
    toasts_per_min: int = Field(
        default=6, ge=1, le=600, description="toasts at most per wall minute; beyond, summarised as +N more alerts"
    )

    @field_validator("bell_kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        known = [k.value for k in AlertKind]
        for kind in value:
            if kind not in known:
                raise ValueError(f"{kind!r} is not an alert kind ({', '.join(known)})")
        return value

    def alert_gate(self) -> AlertGate:
        """A fresh :class:`~pfterm.core.market.alert_gate.AlertGate` with these settings."""
        return AlertGate(
            repeat_after_s=self.repeat_after_s,
            toasts_per_min=self.toasts_per_min,
            bell=self.bell,
            bell_kinds=[AlertKind(k) for k in self.bell_kinds],
        )


class UiSection(_Section):
    """Console: flush rate of coalesced updates (Hz), the initial sort and the kill-switch key
    (a key name, :func:`normalize_key`; the console checks at start that a terminal can send it
    and that nothing else uses it)."""

    flush_hz: float = Field(default=8.0, gt=0, le=30, description="screen updates per second (coalesced)")
    sort: SortKey = Field(default="abs_funding", description="initial sort: " + " | ".join(get_args(SortKey)))
    kill_key: str = Field(
        default="ctrl+k", description="the kill switch's key (ctrl+k, f12): one a terminal sends that nothing else uses"
    )
    screenshot_dir: Path | None = Field(
        default=None,
        description="where ctrl+s saves SVG screenshots; unset: <platform data dir>/screenshots",
        examples=["~/pfterm-screenshots"],
    )

    @field_validator("kill_key", mode="before")
    @classmethod
    def _key_name(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a key name (e.g. ctrl+k, f12)")
        return normalize_key(value)


class TradingSection(_Section, DeskOptions, RiskLimits):
    """Trading: the desk's options (:class:`~pfterm.core.trading.settings.DeskOptions`: kill
    switch, slippage, rebalancing, dead man's switch, polling, spot held elsewhere), the risk
    limits (:class:`~pfterm.core.trading.risk.RiskLimits`, ``docs/domain.md`` §6) and the keys of access
    below. Fractions are plain (``0.05`` = 5 %), amounts USD, durations seconds.

    Editable like every section (``frozen`` off); a desk takes a frozen copy
    (:meth:`pfterm.core.trading.settings.DeskSettings.from_section`).
    """

    model_config = ConfigDict(frozen=False)

    allow_mainnet: bool = Field(
        default=False, description="orders on Hyperliquid mainnet or Binance production need this explicit opt-in"
    )
    key_file: Path | None = Field(
        default=None,
        description="Hyperliquid key file, hex on its first line, chmod 600 (or $PFTERM_HL_PRIVATE_KEY); "
        "unset: read-only, or a fresh account on the embedded simulator",
        examples=["~/.config/pfterm/hl.key"],
    )
    account: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description="master address when the key is an API wallet (or $PFTERM_HL_ACCOUNT)",
        examples=["0x0000000000000000000000000000000000000000"],
    )
    journal: Path | None = Field(
        default=None,
        description="the trading journal (SQLite); unset: <platform data dir>/journal.sqlite",
        examples=["~/.local/share/pfterm/journal.sqlite"],
    )
    binance_url: str | None = Field(
        default=None,
        description="Binance USD-M base URL of the perp-against-perp leg; unset: the one paired with the "
        "Hyperliquid network (the simulator's own on the simulator)",
        examples=["https://testnet.binancefuture.com"],
    )
    binance_key_file: Path | None = Field(
        default=None,
        description="Binance API key file: the key, then the secret, on two lines, chmod 600 "
        "(or $PFTERM_BINANCE_API_KEY and $PFTERM_BINANCE_API_SECRET)",
        examples=["~/.config/pfterm/binance.key"],
    )


class SymbolsSection(_Section):
    """Joining venue symbols: ``overrides[venue][native] = canonical`` (``""`` excludes a market),
    on top of the rules of :class:`pfterm.core.crossvenue.symbols.SymbolMap`."""

    overrides: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='by venue: native symbol = canonical symbol ("" excludes the market)',
        examples=[{"binance": {"BTCDOMUSDT": ""}}],
    )


class CrossVenueSection(_Section):
    """The read-only venues watched beside the trading venue; ``refresh_s`` between REST snapshots."""

    venues: list[CrossVenue] = Field(
        default_factory=lambda: list(get_args(CrossVenue)),
        description="read-only venues watched beside the trading venue (the simulator serves binance and bybit)",
    )
    refresh_s: float = Field(default=60.0, ge=5, description="seconds between two REST snapshots (open interest)")
    bybit_tickers_s: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="read Bybit rates, marks and OI by REST every this many seconds; 0: its 100 ms ticker stream",
    )


class Settings(_Section):
    """All of pfterm's settings."""

    venue: VenueSection = Field(default_factory=VenueSection)
    urls: dict[str, str] = Field(
        default_factory=dict,
        description="a venue's base URL by venue (hyperliquid, binance, bybit, okx, dydx); "
        'hyperliquid = "mainnet" or "testnet" names that network',
        examples=[{"hyperliquid": "http://127.0.0.1:8765"}],
    )
    sim: SimSection = Field(default_factory=SimSection)
    markets: MarketsSection = Field(default_factory=MarketsSection)
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    ui: UiSection = Field(default_factory=UiSection)
    trading: TradingSection = Field(default_factory=TradingSection)
    harvest: HarvestSection = Field(default_factory=HarvestSection)
    symbols: SymbolsSection = Field(default_factory=SymbolsSection)
    crossvenue: CrossVenueSection = Field(default_factory=CrossVenueSection)
    http: HttpSection = Field(default_factory=HttpSection)
    keys: dict[str, Annotated[str, BeforeValidator(normalize_keys)]] = Field(
        default_factory=dict, examples=[{"app.kill": "f12"}]
    )
    """Key bindings remapped by id: ``"app.kill" = "f12"`` (:func:`normalize_keys`); the console
    checks the ids and that the keys are typable and free when it starts."""

    @field_validator("keys", mode="before")
    @classmethod
    def _binding_ids(cls, value: object) -> object:
        """``app.kill = "f12"`` unquoted is a nested table in TOML: back to the dotted id."""
        flat: dict[str, object] = {}

        def add(prefix: str, table: dict) -> None:
            for name, item in table.items():
                if isinstance(item, dict):
                    add(f"{prefix}{name}.", item)
                else:
                    flat[f"{prefix}{name}"] = item

        if not isinstance(value, dict):
            return value
        add("", value)
        return flat


def default_config_path() -> Path:
    """``<platform config dir>/pfterm/config.toml`` (e.g. ``~/.config/pfterm/config.toml``)."""
    from platformdirs import user_config_path

    return user_config_path("pfterm") / "config.toml"


def _first_error(exc: ValidationError, where: str) -> ConfigError:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(root)"
    msg = _message(err)
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return ConfigError(f"{where}: {key}: {msg}")


def _message(err: Mapping[str, object]) -> str:
    """A pydantic error's message, without the ``Value error, `` prefix of a validator's own."""
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def load_settings(path: Path | None = None, *, required: bool = False) -> Settings:
    """Read and validate the TOML config at ``path`` (default location when ``None``).

    A missing file gives the defaults unless ``required`` (an explicit ``--config``).

    Raises:
        ConfigError: unreadable file, TOML syntax error, unknown key or bad value.
    """
    p = path or default_config_path()
    if not p.exists():
        if required:
            raise ConfigError(f"{p}: no such file")
        return Settings()
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p.name}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{p}: {exc.strerror}") from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise _first_error(exc, p.name) from None


def apply_override(settings: Settings, dotted: str, value: object) -> None:
    """Set ``section.key`` to ``value`` with validation (used for CLI flags).

    Raises:
        ConfigError: unknown key or bad value, naming the key.
    """
    section_name, _, key = dotted.partition(".")
    section = getattr(settings, section_name, None)
    if not isinstance(section, BaseModel) or key not in type(section).model_fields:
        raise ConfigError(f"{dotted}: unknown key")
    try:
        setattr(section, key, value)
    except ValidationError as exc:
        raise ConfigError(f"{dotted}: {_message(exc.errors()[0])}") from None


def parse_url_overrides(items: list[str]) -> dict[str, str]:
    """Parse ``VENUE=URL`` pairs from ``--url``.

    Raises:
        ConfigError: a pair without ``=`` or with an empty side.
    """
    out: dict[str, str] = {}
    for item in items:
        venue, sep, url = item.partition("=")
        if not sep or not venue or not url:
            raise ConfigError(f"--url {item!r}: expected VENUE=URL, e.g. hyperliquid=http://127.0.0.1:8765")
        out[venue.strip().lower()] = url.strip()
    return out
