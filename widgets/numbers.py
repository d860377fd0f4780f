"""Number formatting for narrow terminal columns (pure functions, no Textual)."""

from __future__ import annotations

import math


def fmt_price(px: float | None) -> str:
    """A USD price with up to 5 significant figures, the way Hyperliquid quotes it.

    ``91029.0 → "91,029"``, ``2.4261 → "2.4261"``, ``0.000005123 → "0.0000051230"``;
    ``None`` or a non-finite value gives ``"—"``.
    """
    if px is None or not math.isfinite(px):
        return "—"
    if px == 0:
        return "0"
    a = abs(px)
    if a >= 10_000:
        return f"{px:,.0f}"
    decimals = max(0, 4 - int(math.floor(math.log10(a))))
    return f"{px:,.{decimals}f}"


def fmt_usd(v: float | None) -> str:
    """A compact USD amount: ``$1.23B``, ``$45.6M``, ``$789K``, ``$950``."""
    if v is None or not math.isfinite(v):
        return "—"
    a = abs(v)
    sign = "-" if v < 0 else ""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if a >= div:
            x = a / div
            return f"{sign}${x:.{2 if x < 10 else 1 if x < 100 else 0}f}{suffix}"
    return f"{sign}${a:.0f}"


def fmt_pct(frac: float | None, decimals: int = 2, signed: bool = True) -> str:
    """A fraction as a percentage: ``0.0123 → "+1.23%"``; ``None`` gives ``"—"``."""
    if frac is None or not math.isfinite(frac):
        return "—"
    return f"{frac * 100:+.{decimals}f}%" if signed else f"{frac * 100:.{decimals}f}%"


def fmt_rate(rate: float | None) -> str:
    """A funding rate per interval as a percentage with 4 decimals: ``0.0000125 → "0.0013%"``."""
    if rate is None or not math.isfinite(rate):
        return "—"
    return f"{rate * 100:+.4f}%"


def fmt_size(size: float | None, max_decimals: int = 8) -> str:
    """An order or position size in base units, without trailing zeros and without
    thousands separators beyond the integer part: ``0.01530 → "0.0153"``, ``1200.0 → "1,200"``;
    ``None`` or a non-finite value gives ``"—"``."""
    if size is None or not math.isfinite(size):
        return "—"
    text = f"{size:,.{max_decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_money(v: float | None, decimals: int = 2, signed: bool = False) -> str:
    """An exact USD amount: ``1234.5 → "$1,234.50"``, ``-3.2 → "-$3.20"``; with ``signed``
    a positive amount gets ``+`` (``"+$3.20"``); ``None`` or a non-finite value gives ``"—"``."""
    if v is None or not math.isfinite(v):
        return "—"
    body = f"${abs(v):,.{decimals}f}"
    if v < 0 and body.strip("$0.,"):
        return f"-{body}"
    if signed and v > 0 and body.strip("$0.,"):
        return f"+{body}"
    return body
