"""The harvester's keys: the ``[harvest]`` section of the config, with defaults and meanings.

:class:`HarvestSection` is the validated model (each field's ``description`` is its meaning,
printed by ``pfterm config --defaults``); the config (:mod:`pfterm.core.runtime.config`) holds
it as ``Settings.harvest`` and the harvester reads it resolved
(:meth:`pfterm.core.harvest.harvester.HarvesterSettings.from_section`).

This module is light on purpose (pydantic only): the config loader and ``pfterm --help``
import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["HarvestSection"]


class HarvestSection(BaseModel):
    """The funding harvester (``pfterm harvest`` and the console's ``H``).

    Why some defaults are what they are:

    * ``spread_holding_periods`` = 3 (one day): a cross-venue spread that clears the entry
      level fades below the exit level within about a day (7 simulated days: median 31 h), so
      amortising both venues' round trip over four days would enter spreads that cannot pay it
      (at 20 % APR a spread needs ~57 h); three periods ask ~47 % APR of it before the fees are
      covered;
    * ``horizon_periods`` unset = ``max_hold_h / 8`` (90 periods): seed 002 counts 3, with which
      quarter-Kelly is positive only above ~590 % APR (3 % basis stop, rising OI; see
      :func:`pfterm.core.harvest.strategy.position_fraction`), so nothing realistic would ever
      be entered; counting what a position can collect over its maximum holding time, Kelly
      turns positive at 20 % APR for rising OI: the moderate profile's entry level;
    * ``rate_window_h`` = 8: Hyperliquid's predicted hourly rate swings by tens of % APR within
      hours, and entering on a spike pays the round trip's fees (~0.23 %) for an hour or two of
      it; the average is seeded from the venue's settled ``fundingHistory`` when the harvester
      loads, so it is usable from the first cycle;
    * ``max_entry_wait_s`` = 1800: on Hyperliquid's hourly clock the preferred window (30-60 min
      before a settlement, seed 001) is never further away.

    Raises:
        pydantic.ValidationError (a ValueError): a value out of range or an unknown key.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    profile: Literal["conservative", "moderate", "aggressive"] = Field(
        default="moderate",
        description="risk profile: entry/exit APR, per-market and total caps, basis stop (docs/domain.md §6); "
        "pfterm harvest --profile overrides it",
    )
    score_model: Literal["seed001", "seed002"] = Field(
        default="seed002", description="how markets are scored (docs/domain.md §6)"
    )
    min_oi_usd: float = Field(
        default=5_000_000.0, ge=0, description="markets with less open interest are skipped, USD (seed 002: 5M)"
    )
    holding_periods: float = Field(
        default=12.0, gt=0, description="8 h periods a carry's entry and exit fees are amortised over (seed 001: 12)"
    )
    spread_holding_periods: float = Field(
        default=3.0, gt=0, description="the same for perp-against-perp spreads (3: about a day)"
    )
    horizon_periods: float | None = Field(
        default=None,
        gt=0,
        description="8 h periods of funding the Kelly reward counts; unset: max_hold_h / 8",
        examples=[90.0],
    )
    cycle_s: float = Field(default=300.0, gt=0, description="venue seconds between two scans")
    max_hold_h: float = Field(
        default=720.0, gt=0, description="a position is closed after this many hours (720: 30 days)"
    )
    maker_first: bool = Field(default=True, description="post the perp leg as a post-only (ALO) maker order first")
    slippage: float = Field(default=0.005, gt=0, lt=0.2, description="IOC legs: limit at mid ± this fraction")
    reduce_below: float = Field(
        default=0.15,
        gt=0,
        lt=1,
        description="a position is reduced when its liquidation distance falls below this fraction",
    )
    perp_hedge: Literal["binance", "none"] = Field(
        default="binance",
        description='second venue for perp-against-perp positions where no spot leg exists, or "none"',
    )
    spread_window_h: float = Field(
        default=24.0,
        ge=0,
        le=72,
        description="hours the two venues' rates are averaged over (time constant); no spread entry before "
        "the averages are this old",
    )
    rate_window_h: float = Field(
        default=8.0,
        ge=0,
        le=72,
        description="hours a market's own funding is averaged over (time constant) for carries, seeded from "
        "its funding history; 0: the instant rate",
    )
    max_entry_wait_s: float = Field(
        default=1800.0,
        ge=0,
        le=86_400,
        description="an entry waits at most this long for the preferred window (30-60 min before a "
        "settlement); 0: never waits",
    )
    log_file: Path | None = Field(
        default=None,
        description="pfterm harvest's log file, rotated (--log-file overrides it); "
        "unset: <platform log dir>/harvest.log",
        examples=["~/.local/state/pfterm/log/harvest.log"],
    )
