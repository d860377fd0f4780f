"""Configuration: a TOML file in the platform config directory, overridden by CLI flags.

The file is optional. Every key is validated; an unknown key or a bad value raises
:class:`ConfigError` whose message names the key, e.g.
``config.toml: alerts.extreme_apr: Input should be greater than 0``.

Example ``~/.config/pfterm/config.toml``::

    [venue]
    name = "sim"              # "sim" (embedded simulator) or "hyperliquid"
    network = "mainnet"       # or "testnet" (hyperliquid only)

    [urls]
    hyperliquid = "http://127.0.0.1:8765"   # override a venue's base URL

    [sim]
    seed = 1
    speed = 1.0               # simulated seconds per wall second
    cascade_rate = 2.5        # liquidation cascades per simulated hour

    [markets]
    include_delisted = false
    oi_window_min = 60        # OI change / quadrant window (venue minutes)
    stale_after_s = 10        # a market silent this long is shown stale

    [alerts]
    cascade_oi_drop = 0.03    # fraction per sample interval (DOMAIN.md §5)
    cascade_price_move = 0.02
    cascade_sample_s = 30
    cascade_window = 20
    extreme_apr = 1.0         # 1.0 = 100 % APR
    flip_min_apr = 0.10
    bell = true

    [ui]
    flush_hz = 8              # screen updates per second
    sort = "abs_funding"      # funding | abs_funding | oi | oi_change | volume | symbol
    kill_key = "ctrl+k"       # the kill switch: a key name (ctrl+k, f12), free of other uses

    [keys]                    # any key binding by its id (pfterm keys lists them); kill_key is "app.kill"
    "app.help" = "question_mark,f1"   # one key or several, comma-separated

    [trading]
    allow_mainnet = false     # mainnet orders need this explicit opt-in
    key_file = "~/.config/pfterm/hl.key"   # or PFTERM_HL_PRIVATE_KEY; chmod 600
    account = "0x…"           # master address when the key is an API wallet (or PFTERM_HL_ACCOUNT)
    journal = "~/.local/share/pfterm/journal.sqlite"
    kill_slippage = 0.05      # kill-switch closes: IOC at mid ± 5 %
    kill_deadline_s = 10      # repeat cancel/close rounds until flat or this deadline
    order_slippage = 0.01     # "market" tickets and hedges: IOC at mid ± 1 %
    rebalance_threshold = 0.05  # delta ratio (DOMAIN.md §3)
    dead_man_switch = false   # keep a scheduleCancel ahead while pfterm runs
    dead_man_lead_s = 60
    dead_man_heartbeat_s = 15
    poll_s = 2                # account refresh period
    max_leverage = 3.0        # DOMAIN.md §6
    max_order_notional_usd = 50000
    max_position_notional_usd = 250000
    max_market_share = 0.05
    fat_finger_band = 0.05
    close_band = 0.10
    daily_loss_limit = 0.03
    max_venue_share = 0.30

    [trading.external_spot]   # spot held elsewhere (base units), counted in delta
    BTC = 0.5

    [harvest]
    profile = "moderate"      # conservative | moderate | aggressive (DOMAIN.md §6)
    score_model = "seed002"   # seed001 | seed002
    min_oi_usd = 5000000
    holding_periods = 12      # 8 h periods fees are amortised over
    spread_holding_periods = 3  # the same for perp-against-perp spreads
    # horizon_periods = 90    # 8 h periods of funding in the Kelly reward (default: max_hold_h / 8)
    cycle_s = 300             # venue seconds between scans
    max_hold_h = 720          # 30 days
    maker_first = true        # perp leg as a post-only maker order first
    slippage = 0.005
    perp_hedge = "binance"    # second venue for perp-against-perp positions, or "none"
    spread_window_h = 24      # hours the two venues' rates are averaged over before a spread counts
    rate_window_h = 8         # hours a carry's funding is averaged over (seeded from fundingHistory)
    max_entry_wait_s = 1800   # wait this long at most for the preferred 30-60 min entry window
    log_file = "~/.local/state/pfterm/log/harvest.log"
"""

from __future__ import annotations

import tomllib
import unicodedata
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

SortKey = Literal["funding", "abs_funding", "oi", "oi_change", "volume", "symbol"]
SORT_KEYS: tuple[str, ...] = ("funding", "abs_funding", "oi", "oi_change", "volume", "symbol")
VENUES: tuple[str, ...] = ("sim", "hyperliquid")


class ConfigError(Exception):
    """A configuration file or flag that cannot be used; the message is one line naming the key."""


KEY_MODIFIERS: tuple[str, ...] = ("alt", "ctrl", "hyper", "meta", "shift", "super")
"""Modifiers a key name may carry, in the order a key name lists them (alphabetical, as Textual does)."""

NAMED_KEYS: frozenset[str] = frozenset(
    {"escape", "enter", "tab", "space", "backspace", "insert", "delete", "home", "end", "pageup", "pagedown",
     "up", "down", "left", "right", *(f"f{i}" for i in range(1, 25))}
)  # fmt: skip
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
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class VenueSection(_Section):
    """Which venue to watch: ``sim`` or ``hyperliquid`` (mainnet or testnet)."""

    name: Literal["sim", "hyperliquid"] = "sim"
    network: Literal["mainnet", "testnet"] = "mainnet"


class SimSection(_Section):
    """Embedded simulator: RNG seed, clock speed (sim s per wall s), cascades per sim hour."""

    seed: int = 1
    speed: float = Field(1.0, gt=0, le=100_000)
    cascade_rate: float = Field(2.5, ge=0)


class MarketsSection(_Section):
    """Market list: delisted visibility, OI window (venue minutes), staleness threshold (wall s)."""

    include_delisted: bool = False
    oi_window_min: float = Field(60.0, gt=0)
    stale_after_s: float = Field(10.0, gt=0)


class AlertsSection(_Section):
    """Detector thresholds (DOMAIN.md §5); fractions, APR as a fraction per year."""

    cascade_oi_drop: float = Field(0.03, gt=0, lt=1)
    cascade_price_move: float = Field(0.02, gt=0, lt=1)
    cascade_sample_s: float = Field(30.0, gt=0)
    cascade_window: int = Field(20, ge=2, le=10_000)
    cascade_cooldown_s: float = Field(300.0, ge=0)
    extreme_apr: float = Field(1.0, gt=0)
    flip_min_apr: float = Field(0.10, ge=0)
    bell: bool = True


class UiSection(_Section):
    """Console: flush rate of coalesced updates (Hz), the initial sort and the kill-switch key
    (a key name, :func:`normalize_key`; the console checks at start that a terminal can send it
    and that nothing else uses it)."""

    flush_hz: float = Field(8.0, gt=0, le=30)
    sort: SortKey = "abs_funding"
    kill_key: str = "ctrl+k"

    @field_validator("kill_key", mode="before")
    @classmethod
    def _key_name(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a key name (e.g. ctrl+k, f12)")
        return normalize_key(value)


DEFAULT_SPOT_ALIASES: dict[str, str] = {"UBTC": "BTC", "UETH": "ETH", "USOL": "SOL", "UFART": "FARTCOIN"}
"""Hyperliquid spot tokens that stand for a perp's asset (Unit-bridged coins); the same table as
:data:`pfterm.core.trading.hyperliquid.SPOT_ALIASES`, kept here so that reading the config needs no trading code."""


class TradingSection(_Section):
    """Trading: access, kill switch, hedging, dead man's switch and risk limits.

    Fractions are plain (``0.05`` = 5 %), amounts USD, durations seconds. Risk limit defaults
    are :class:`pfterm.core.trading.risk.RiskLimits`' (``DOMAIN.md`` §6).
    """

    allow_mainnet: bool = False
    key_file: Path | None = None
    account: str | None = Field(None, pattern=r"^0x[0-9a-fA-F]{40}$")
    journal: Path | None = None
    kill_slippage: float = Field(0.05, gt=0, lt=0.5)
    kill_deadline_s: float = Field(10.0, gt=0, le=600)
    order_slippage: float = Field(0.01, gt=0, lt=0.5)
    rebalance_threshold: float = Field(0.05, gt=0, lt=1)
    dead_man_switch: bool = False
    dead_man_lead_s: float = Field(60.0, ge=10, le=86_400)
    dead_man_heartbeat_s: float = Field(15.0, gt=0, le=3_600)
    poll_s: float = Field(2.0, ge=0.2, le=60)
    max_leverage: float = Field(3.0, gt=0)
    max_order_notional_usd: float = Field(50_000.0, gt=0)
    max_position_notional_usd: float = Field(250_000.0, gt=0)
    max_market_share: float = Field(0.05, gt=0, le=1)
    fat_finger_band: float = Field(0.05, gt=0, lt=1)
    close_band: float = Field(0.10, gt=0, lt=1)
    daily_loss_limit: float = Field(0.03, gt=0, lt=1)
    max_venue_share: float = Field(0.30, gt=0, le=1)
    binance_url: str | None = None
    binance_key_file: Path | None = None
    external_spot: dict[str, float] = Field(default_factory=dict)
    spot_aliases: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_SPOT_ALIASES))


class HarvestSection(_Section):
    """The funding harvester (``pfterm harvest`` and the console's ``H``); see
    :class:`pfterm.core.harvest.harvester.HarvesterSettings` for the meaning of each knob."""

    profile: Literal["conservative", "moderate", "aggressive"] = "moderate"
    score_model: Literal["seed001", "seed002"] = "seed002"
    min_oi_usd: float = Field(5_000_000.0, ge=0)
    holding_periods: float = Field(12.0, gt=0)
    spread_holding_periods: float = Field(3.0, gt=0)
    horizon_periods: float | None = Field(None, gt=0)
    cycle_s: float = Field(300.0, gt=0)
    max_hold_h: float = Field(720.0, gt=0)
    maker_first: bool = True
    slippage: float = Field(0.005, gt=0, lt=0.2)
    reduce_below: float = Field(0.15, gt=0, lt=1)
    perp_hedge: Literal["binance", "none"] = "binance"
    spread_window_h: float = Field(24.0, ge=0, le=72)
    rate_window_h: float = Field(8.0, ge=0, le=72)
    max_entry_wait_s: float = Field(1800.0, ge=0, le=86_400)
    log_file: Path | None = None


class SymbolsSection(_Section):
    """Joining venue symbols: ``overrides[venue][native] = canonical`` (``""`` excludes a market),
    on top of the rules of :class:`pfterm.core.crossvenue.symbols.SymbolMap`."""

    overrides: dict[str, dict[str, str]] = Field(default_factory=dict)


class CrossVenueSection(_Section):
    """The read-only venues watched beside the trading venue; ``refresh_s`` between REST snapshots."""

    venues: list[Literal["binance", "bybit", "okx", "dydx"]] = Field(
        default_factory=lambda: ["binance", "bybit", "okx", "dydx"]
    )
    refresh_s: float = Field(60.0, ge=5)


class Settings(_Section):
    """All of pfterm's settings."""

    venue: VenueSection = Field(default_factory=VenueSection)
    urls: dict[str, str] = Field(default_factory=dict)
    sim: SimSection = Field(default_factory=SimSection)
    markets: MarketsSection = Field(default_factory=MarketsSection)
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    ui: UiSection = Field(default_factory=UiSection)
    trading: TradingSection = Field(default_factory=TradingSection)
    harvest: HarvestSection = Field(default_factory=HarvestSection)
    symbols: SymbolsSection = Field(default_factory=SymbolsSection)
    crossvenue: CrossVenueSection = Field(default_factory=CrossVenueSection)
    keys: dict[str, Annotated[str, BeforeValidator(normalize_keys)]] = Field(default_factory=dict)
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


def _message(err: dict) -> str:
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
