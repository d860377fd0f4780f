"""Alert thresholds of the engine's detectors: the detector keys of ``[alerts]``.

Apart from :mod:`pfterm.core.market.engine` so that reading the configuration (``pfterm
--help`` lists every key) does not import the engine.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DetectorSettings(BaseModel):
    """Alert thresholds: the detector keys of ``[alerts]`` in the config (``docs/domain.md`` §5,
    seed 003 defaults), read when a market's detectors are made. The config's
    ``AlertsSection`` (:mod:`pfterm.core.runtime.config`) is this plus the console's ``bell``.

    ``cascade_oi_drop`` and ``cascade_price_move`` are fractions per sample interval;
    ``extreme_apr`` and ``flip_min_apr`` are annualised fractions (1.0 = 100 %).

    Raises:
        pydantic.ValidationError (a ValueError): a value out of range or an unknown field.
    """

    model_config = ConfigDict(extra="forbid")

    cascade_sample_s: float = Field(
        default=30.0, gt=0, description="cascade detector: one OI and price sample per this many venue seconds"
    )
    cascade_window: int = Field(default=20, ge=2, le=10_000, description="cascade detector: samples kept")
    cascade_oi_drop: float = Field(
        default=0.03,
        gt=0,
        lt=1,
        description="cascade: open interest falls by more than this fraction within one sample",
    )
    cascade_price_move: float = Field(
        default=0.02, gt=0, lt=1, description="cascade: and the price moves by more than this fraction, either way"
    )
    cascade_cooldown_s: float = Field(
        default=300.0, ge=0, description="venue seconds at least between two cascade alerts of a market"
    )
    extreme_apr: float = Field(default=1.0, gt=0, description="|funding APR| that counts as extreme (1.0 = 100 %)")
    flip_min_apr: float = Field(
        default=0.10,
        ge=0,
        description="|funding APR| a rate needs to establish its sign; a flip is a change of that sign",
    )
