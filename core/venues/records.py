"""What a venue reports about an account: fills and funding payments, as parsed records.

Shared by the venue clients that parse them and the trading journal that stores them, so
neither has to import the other. Units: prices USD, sizes base units, times ms UTC, rates
fractions per funding interval.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

Side = Literal["B", "A"]
"""Hyperliquid's side letters: ``"B"`` bid/buy, ``"A"`` ask/sell."""

_CLOID_RE: Final = re.compile(r"^0x[0-9a-f]{32}$")


@dataclass(slots=True, frozen=True)
class Fill:
    """One execution of the user's order on the venue.

    Identity is ``(venue, network, account, tid, hash)``: Hyperliquid's ``hash`` can be all
    zeros, ``tid`` (trade id) distinguishes such fills; trade ids repeat across accounts and
    simulator sessions. ``venue`` as given is ignored by :meth:`AccountJournal.record_fills`
    (the account's ref wins) and read by the process-wide :meth:`Journal.record_fills` as an
    old venue label. ``px`` USD, ``sz`` base units (> 0), ``side``
    ``"B"``/``"A"``, ``fee`` in ``fee_token`` (negative = rebate), ``closed_pnl`` USD
    realised by this fill, ``time_ms`` venue time (ms UTC), ``direction`` the venue's label
    (``"Open Long"``…) when given. ``cloid`` is the one the venue reported or, failing that,
    the journal's intent matched by ``oid``.
    """

    venue: str
    tid: int
    hash: str
    symbol: str
    side: Side
    px: float
    sz: float
    fee: float
    fee_token: str
    time_ms: int
    oid: int | None = None
    cloid: str | None = None
    closed_pnl: float = 0.0
    direction: str | None = None

    @classmethod
    def from_hyperliquid(cls, item: Mapping[str, Any]) -> Fill:
        """Parse one Hyperliquid ``userFills`` / ``userFillsByTime`` item.

        Shape: ``{coin, px, sz, side "B"|"A", time, dir, closedPnl, hash, oid, fee, tid,
        cloid?, feeToken, ...}`` with numbers as decimal strings.

        Raises:
            ValueError: a required field is missing or malformed.
        """
        try:
            return cls(
                venue="hyperliquid",
                tid=int(item["tid"]),
                hash=str(item["hash"]),
                symbol=str(item["coin"]),
                side=parse_side(item["side"]),
                px=positive(item["px"], "px"),
                sz=positive(item["sz"], "sz"),
                fee=finite(item.get("fee", 0.0), "fee"),
                fee_token=str(item.get("feeToken") or "USDC"),
                time_ms=int(item["time"]),
                oid=None if item.get("oid") is None else int(item["oid"]),
                cloid=optional_cloid(item.get("cloid")),
                closed_pnl=finite(item.get("closedPnl", 0.0), "closedPnl"),
                direction=None if item.get("dir") is None else str(item["dir"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed Hyperliquid fill {dict(item)!r}: {exc}") from exc


@dataclass(slots=True, frozen=True)
class FundingPayment:
    """One funding settlement on a position.

    ``usdc`` from the user's side (positive = received), ``size`` the signed position in
    base units at settlement (negative = short), ``rate`` the funding rate for the
    interval (fraction), ``time_ms`` settlement time (ms UTC). Identity is ``(venue, network,
    account, time_ms, symbol)``; ``venue`` is overridden as for :class:`Fill`.
    """

    venue: str
    time_ms: int
    symbol: str
    usdc: float
    size: float
    rate: float

    @classmethod
    def from_hyperliquid(cls, item: Mapping[str, Any]) -> FundingPayment:
        """Parse one Hyperliquid ``userFunding`` item.

        Shape: ``{time, hash, delta: {type "funding", coin, usdc, szi, fundingRate, ...}}``.

        Raises:
            ValueError: a required field is missing or malformed.
        """
        try:
            delta = item["delta"]
            return cls(
                venue="hyperliquid",
                time_ms=int(item["time"]),
                symbol=str(delta["coin"]),
                usdc=finite(delta["usdc"], "usdc"),
                size=finite(delta["szi"], "szi"),
                rate=finite(delta["fundingRate"], "fundingRate"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed Hyperliquid funding item {dict(item)!r}: {exc}") from exc


def cloid(value: Any) -> str:
    """``value`` as a client order id: ``0x`` + 32 lowercase hex digits.

    Raises:
        ValueError: not a str of that shape.
    """
    if not isinstance(value, str):
        raise ValueError(f"cloid must be a str, got {type(value).__name__}")
    cloid = value.lower()
    if not _CLOID_RE.match(cloid):
        raise ValueError(f"cloid must be 0x followed by 32 hex digits, got {value!r}")
    return cloid


def optional_cloid(value: Any) -> str | None:
    """:func:`cloid` of ``value``, or ``None`` for ``None`` / ``""``. Raises ``ValueError`` as it."""
    return None if value is None or value == "" else cloid(value)


def parse_side(value: Any) -> Side:
    """``"B"`` for b/buy/bid, ``"A"`` for a/sell/ask (any case).

    Raises:
        ValueError: anything else.
    """
    s = str(value).strip().lower()
    if s in ("b", "buy", "bid"):
        return "B"
    if s in ("a", "sell", "ask"):
        return "A"
    raise ValueError(f"side must be 'B'/'A' (or buy/sell), got {value!r}")


def finite(value: Any, name: str) -> float:
    """``value`` as a finite float (``name`` labels the error).

    Raises:
        ValueError: not a number, NaN or infinite.
    """
    try:
        f = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return f


def positive(value: Any, name: str) -> float:
    """:func:`finite` ``value`` that is > 0. Raises ``ValueError`` otherwise."""
    f = finite(value, name)
    if f <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return f
