"""Strict reading of the numbers venues send, and the ranges a venue can send them in.

Every venue number (price, size, rate, timestamp) is read by :func:`decimal` or
:func:`integer`: a JSON number (``int``/``float``, never a ``bool``) or a string of ASCII
digits with at most one leading sign, one decimal point and an optional exponent
(``"-0.0001"``, ``"1e-5"``, ``"50000"``). Underscores (``"1_000"``), blanks (``" 12 "``),
digits of other scripts (``"１２３"``, ``"١٢٣"``), ``"NaN"``, ``"inf"`` and anything else
that Python's :func:`float` would accept beyond that syntax are refused; so is every value
that is not finite once converted.

Range rules (:func:`check_price`, :func:`check_size`, :func:`check_open_interest`,
:func:`check_rate`, :func:`check_time_ms`) say what no venue can send: a price or size that is
not > 0, a negative open interest, a funding rate beyond the venue's cap, a timestamp out of
:data:`MIN_TIME_MS` … wall clock + :data:`MAX_FUTURE_MS`. Each raises :class:`ValueError`
with one line that never quotes the value; the venue modules turn it into their wire error.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

__all__ = [
    "HL_RATE_CAP_PER_H",
    "MAX_FUTURE_MS",
    "MAX_RATE_PER_INTERVAL",
    "MAX_TIME_MS",
    "MIN_TIME_MS",
    "check_open_interest",
    "check_price",
    "check_rate",
    "check_size",
    "check_time_ms",
    "decimal",
    "integer",
    "is_decimal_text",
]

_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,19}")
_MAX_TEXT = 64
"""Longest decimal text accepted (characters); venues send at most about 30."""

HL_RATE_CAP_PER_H = 0.04
"""Hyperliquid caps funding at 4 % per hour (``docs/domain.md`` §1, Hyperliquid docs)."""

MAX_RATE_PER_INTERVAL = 0.05
"""Bound on |funding rate| per settlement interval for venues whose docs give no single cap
(Binance, Bybit, OKX, dYdX: per-market caps of at most a few percent per interval,
``docs/venues.md``); 5 % per interval is above every cap they publish."""

MIN_TIME_MS = 1_420_070_400_000
"""2015-01-01T00:00:00Z in ms: no venue record is older (recorded sessions replay fine)."""

MAX_TIME_MS = 4_102_444_800_000
"""2100-01-01T00:00:00Z in ms: the bound used where no wall clock applies (simulator time)."""

MAX_FUTURE_MS = 86_400_000
"""How far (ms, one day) a venue timestamp may lie ahead of the local wall clock."""


def is_decimal_text(text: str) -> bool:
    """True when ``text`` is a plain ASCII decimal (see the module docstring)."""
    return len(text) <= _MAX_TEXT and _DECIMAL_TEXT.fullmatch(text) is not None


def decimal(value: Any) -> float:
    """``value`` (a JSON number or a plain ASCII decimal string) as a finite ``float``.

    :raises ValueError: a bool, ``None``, another type, text outside the strict syntax, or a
        result that is not finite (``1e999``, ``10**400``).
    """
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, str):
        if not is_decimal_text(value):
            raise ValueError("not a decimal number")
        out = float(value)
    elif isinstance(value, int):
        try:
            out = float(value)
        except OverflowError:
            raise ValueError("not finite") from None
    elif isinstance(value, float):
        out = value
    else:
        raise ValueError("not a number")
    if not math.isfinite(out):
        raise ValueError("not finite")
    return out


def integer(value: Any) -> int:
    """``value`` (a JSON integer, an integral float, or a string of at most 19 ASCII digits with
    an optional sign) as an ``int`` within ±(2**63 − 1).

    :raises ValueError: anything else.
    """
    if isinstance(value, bool):
        raise ValueError("not an integer")
    if isinstance(value, str):
        if _INTEGER_TEXT.fullmatch(value) is None:
            raise ValueError("not an integer")
        out = int(value)
    elif isinstance(value, int):
        out = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        out = int(value)
    else:
        raise ValueError("not an integer")
    if abs(out) > 2**63 - 1:
        raise ValueError("integer out of range")
    return out


def check_price(value: float) -> float:
    """``value`` if it is a price a venue can send (> 0). :raises ValueError: otherwise."""
    if not value > 0:
        raise ValueError("price is not positive")
    return value


def check_size(value: float) -> float:
    """``value`` if it is a size a venue can send (> 0). :raises ValueError: otherwise."""
    if not value > 0:
        raise ValueError("size is not positive")
    return value


def check_open_interest(value: float) -> float:
    """``value`` if it is an open interest a venue can send (≥ 0). :raises ValueError: otherwise."""
    if not value >= 0:
        raise ValueError("open interest is negative")
    return value


def check_rate(value: float, cap: float = MAX_RATE_PER_INTERVAL) -> float:
    """``value`` (a funding rate, fraction per interval) if ``|value| ≤ cap``.

    :raises ValueError: beyond the cap (no venue settles such a rate).
    """
    if not abs(value) <= cap:
        raise ValueError("funding rate beyond the venue's cap")
    return value


def check_time_ms(value: int, now_ms: int | None = None, *, max_future_ms: int = MAX_FUTURE_MS) -> int:
    """``value`` (ms since the epoch) if it lies in ``[MIN_TIME_MS, now_ms + max_future_ms]``.

    :param now_ms: the local wall clock (ms); ``None`` reads it.
    :raises ValueError: older than :data:`MIN_TIME_MS` or too far in the future.
    """
    if value < MIN_TIME_MS:
        raise ValueError("timestamp before 2015")
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if value > now + max_future_ms:
        raise ValueError("timestamp too far in the future")
    return value
