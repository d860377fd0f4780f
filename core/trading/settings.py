"""What a trading desk reads from ``[trading]``: its own keys and the risk limits.

:class:`DeskOptions` holds the desk's keys of the config's ``[trading]`` section (kill switch,
slippage, rebalancing, dead man's switch, account polling, spot held elsewhere, spot aliases),
each with its default, bounds and meaning (the field's ``description``, printed by ``pfterm
config --defaults``); :class:`pfterm.core.trading.risk.RiskLimits` holds the risk keys. The
config's ``TradingSection`` (:mod:`pfterm.core.runtime.config`) is both plus the keys of access
(key files, account, journal, Binance URL), so every default is written here or there, once.

:class:`DeskSettings` is what a :class:`pfterm.core.trading.desk.Desk` reads: the same options,
the limits as one frozen value, and the polling cadence, which is no config key.

This module is light on purpose (pydantic and :mod:`pfterm.core.trading.risk` only): the
config loader and ``pfterm --help`` import it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from pfterm.core.trading.risk import RiskLimits

__all__ = ["SPOT_ALIASES", "DeskOptions", "DeskSettings"]

SPOT_ALIASES: Mapping[str, str] = {"UBTC": "BTC", "UETH": "ETH", "USOL": "SOL", "UFART": "FARTCOIN"}
"""Hyperliquid spot tokens standing for a perp's asset (Unit-bridged coins), token → perp symbol:
the default of ``trading.spot_aliases`` and of :class:`pfterm.core.trading.hyperliquid.HyperliquidClient`."""


class DeskOptions(BaseModel):
    """The desk's keys of ``[trading]``. Fractions plain, durations seconds (wall clock)."""

    model_config = ConfigDict(extra="forbid")

    kill_slippage: float = Field(
        default=0.05, gt=0, lt=0.5, description="kill switch closes: IOC limit at mid ± this fraction"
    )
    kill_deadline_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="the kill switch repeats cancel/close rounds until flat or this many seconds",
    )
    order_slippage: float = Field(
        default=0.01, gt=0, lt=0.5, description='"market" tickets and hedges: IOC limit at mid ± this fraction'
    )
    rebalance_threshold: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="an asset whose delta ratio (|delta| / gross long value) exceeds this is rebalanced "
        "(docs/domain.md §3)",
    )
    dead_man_switch: bool = Field(
        default=False,
        description="keep a scheduled cancel-all armed ahead while pfterm runs (orders cancel if it stops)",
    )
    dead_man_lead_s: float = Field(
        default=60.0, ge=10, le=86_400, description="how far ahead the dead man's switch is armed, seconds"
    )
    dead_man_heartbeat_s: float = Field(
        default=15.0, gt=0, le=3_600, description="how often the dead man's switch is armed again, seconds"
    )
    poll_s: float = Field(default=2.0, ge=0.2, le=60, description="account refresh period, seconds")
    external_spot: dict[str, float] = Field(
        default_factory=dict,
        description="spot held elsewhere, base units by coin (BTC = 0.5), counted in delta",
        examples=[{"BTC": 0.5}],
    )
    spot_aliases: dict[str, str] = Field(
        default_factory=lambda: dict(SPOT_ALIASES),
        description="Hyperliquid spot tokens that stand for a perp's asset, token = perp symbol",
    )


class DeskSettings(DeskOptions):
    """What a :class:`pfterm.core.trading.desk.Desk` reads: its ``[trading]`` options, the risk
    limits as one frozen value (``limits``) and the account polling cadence. Frozen: a desk's
    settings change only by being replaced whole (``model_copy(update=...)``).

    Build it from the config with :meth:`from_section`; tests build it directly, with defaults
    for what they leave out.

    Raises:
        pydantic.ValidationError (a ValueError): a value out of range or an unknown field.
    """

    model_config = ConfigDict(frozen=True)

    limits: RiskLimits = Field(default_factory=RiskLimits, description="the risk gate's limits")
    orders_every: int = Field(
        default=5, ge=1, description="open orders and spot are read every this many account polls"
    )
    fills_every: int = Field(default=15, ge=1, description="fills and funding are synced every this many account polls")
    kill_on_daily_loss: bool = Field(
        default=True, description="the daily loss limit fires the kill switch (else it only halts trading)"
    )

    @classmethod
    def from_section(cls, section: object) -> DeskSettings:
        """The desk's settings from the config's ``[trading]`` section (duck-typed: any object with
        the fields of :class:`DeskOptions` and :class:`~pfterm.core.trading.risk.RiskLimits`).
        Dictionaries are copied: the desk's are its own.

        Raises:
            pydantic.ValidationError: a value out of range.
        """
        options = {name: getattr(section, name) for name in DeskOptions.model_fields}
        options = {k: dict(v) if isinstance(v, Mapping) else v for k, v in options.items()}
        return cls(limits=RiskLimits.of(section), **options)
