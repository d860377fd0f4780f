"""Hyperliquid user-state wire formats: ``clearinghouseState`` and open orders, normalized.

Pure parsing, no I/O. Inputs are the decoded JSON of ``POST /info`` answers (or the raw
bytes/str, which are decoded first). Numbers arrive as decimal strings (``"szi": "-0.00785"``);
JSON numbers are accepted too, and so are integers stringified by ccxt's captures
(``"time": "1709652410317"``, ``"value": "20"``, ``"oid": "296683658818"``). Booleans, NaN,
infinities and non-numeric strings are rejected with :class:`~pfterm.core.venues.hyperliquid.wire.WireFormatError`,
whose ``reason`` names the offending field and never quotes the payload.

Units of the results: prices and money USD (USDC), sizes base units, times integer ms
since the epoch, leverage a multiple.

Funding sign: Hyperliquid's ``cumFunding`` (``allTime``, ``sinceOpen``, ``sinceChange``) counts
funding **paid** as positive. The captures agree: in ``ccxt_fetchPositions_3.json`` the ETH long
(1.6 @ 1100, in profit during a rally, when longs pay) shows ``allTime`` ``+3855.42`` and the SOL
short shows ``allTime`` ``-92.12``. ``userFunding`` uses the opposite sign (``usdc`` received
positive: in ``userFunding_with_end_time.json`` the APE long, at a negative rate where shorts pay
longs, gets ``usdc`` ``+0.145796``). :attr:`pfterm.core.market.models.Position.funding_since_open` is funding
*received*, so it is ``-cumFunding.sinceOpen``.

Sources:

* https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals
  (``clearinghouseState``)
* https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint
  (``openOrders``, ``frontendOpenOrders``)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pfterm.core.market.models import OpenOrder, Position, SpotBalance
from pfterm.core.venues.hyperliquid.wire import WireFormatError

__all__ = [
    "AccountState",
    "SpotPairInfo",
    "parse_clearinghouse_state",
    "parse_open_orders",
    "parse_spot_clearinghouse_state",
    "parse_spot_meta",
]


@dataclass(slots=True, frozen=True)
class AccountState:
    """A perpetuals account at one moment, from ``clearinghouseState``.

    * ``account_value``: equity, USD (``marginSummary.accountValue``: cross and isolated);
    * ``total_ntl_pos``: sum of absolute position notionals at mark, USD;
    * ``total_margin_used``: margin held by positions, USD;
    * ``withdrawable``: USD that can be withdrawn now;
    * ``cross_account_value``: equity of the cross-margin part alone, USD;
    * ``cross_maintenance_margin_used``: USD, ``None`` when the answer omits it;
    * ``time_ms``: the venue's timestamp of the state, ``None`` when the answer omits it;
    * ``positions``: open positions in venue order (see :class:`pfterm.core.market.models.Position`).
    """

    account_value: float
    total_ntl_pos: float
    total_margin_used: float
    withdrawable: float
    cross_account_value: float
    cross_maintenance_margin_used: float | None
    time_ms: int | None
    positions: list[Position] = field(default_factory=list)


# --------------------------------------------------------------------------- scalar readers


def _decode(raw: Any) -> Any:
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw).decode("utf-8", errors="replace")
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:  # over-long integers included
            raise WireFormatError("invalid JSON") from None
        except (RecursionError, MemoryError) as exc:  # nesting too deep, too large to hold
            raise WireFormatError(f"invalid JSON ({type(exc).__name__})") from None
    return raw


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise WireFormatError(f"{path}: expected an object")
    return value


def _get(obj: Mapping[str, Any], key: str, path: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        raise WireFormatError(f"{path}.{key}: missing") from None


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool):
        raise WireFormatError(f"{path}: expected a decimal number")
    if isinstance(value, (int, float, str)):
        try:
            result = float(value)
        except (ValueError, OverflowError):  # OverflowError: an integer beyond the float range
            raise WireFormatError(f"{path}: expected a decimal number") from None
    else:
        raise WireFormatError(f"{path}: expected a decimal number")
    if not math.isfinite(result):
        raise WireFormatError(f"{path}: expected a finite number")
    return result


def _optional_number(value: Any, path: str) -> float | None:
    return None if value is None else _number(value, path)


def _integer(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise WireFormatError(f"{path}: expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise WireFormatError(f"{path}: expected an integer")


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise WireFormatError(f"{path}: expected a boolean")
    return value


# --------------------------------------------------------------------------- clearinghouseState


def _position(entry: Any, path: str) -> Position | None:
    pos = _mapping(_get(_mapping(entry, path), "position", path), f"{path}.position")
    path = f"{path}.position"
    size = _number(_get(pos, "szi", path), f"{path}.szi")
    if size == 0:
        return None
    leverage = _mapping(_get(pos, "leverage", path), f"{path}.leverage")
    position_value = _number(_get(pos, "positionValue", path), f"{path}.positionValue")
    cum_funding = pos.get("cumFunding")
    paid_since_open = 0.0
    if cum_funding is not None:
        paid_since_open = _number(
            _get(_mapping(cum_funding, f"{path}.cumFunding"), "sinceOpen", f"{path}.cumFunding"),
            f"{path}.cumFunding.sinceOpen",
        )
    entry_px = _number(_get(pos, "entryPx", path), f"{path}.entryPx")
    return Position(
        symbol=str(_get(pos, "coin", path)),
        size=size,
        entry_px=entry_px,
        mark_px=abs(position_value / size),
        liquidation_px=_optional_number(pos.get("liquidationPx"), f"{path}.liquidationPx"),
        leverage=_number(_get(leverage, "value", f"{path}.leverage"), f"{path}.leverage.value"),
        margin_used=_number(_get(pos, "marginUsed", path), f"{path}.marginUsed"),
        unrealized_pnl=_number(_get(pos, "unrealizedPnl", path), f"{path}.unrealizedPnl"),
        funding_since_open=-paid_since_open if paid_since_open else 0.0,
    )


def parse_clearinghouse_state(raw: Any) -> AccountState:
    """Normalize a ``clearinghouseState`` answer into an :class:`AccountState`.

    Input shape: ``{marginSummary{accountValue, totalNtlPos, totalRawUsd, totalMarginUsed},
    crossMarginSummary{…}, crossMaintenanceMarginUsed?, withdrawable, time?,
    assetPositions[{type: "oneWay", position{coin, szi, leverage{type, value, rawUsd?},
    entryPx, positionValue, unrealizedPnl, returnOnEquity, liquidationPx|null, marginUsed,
    maxLeverage?, cumFunding?{allTime, sinceOpen, sinceChange}}}]}``.

    Per position: ``size`` is ``szi`` (signed: long > 0, short < 0); ``mark_px`` is
    ``positionValue / |szi|`` (the answer carries no mark price); ``liquidation_px`` is
    ``None`` when the venue reports ``null`` (no liquidation price within reach);
    ``leverage`` is ``leverage.value``; ``funding_since_open`` is ``-cumFunding.sinceOpen``
    (funding received, see the module docstring) and ``0.0`` when ``cumFunding`` is absent
    (older answers). Entries with ``szi`` zero are skipped.

    Args:
        raw: the decoded JSON object, or its ``bytes``/``str`` text.

    Raises:
        WireFormatError: invalid JSON, a missing field, or a malformed number; ``reason`` is
            one line naming the field (e.g. ``"assetPositions[0].position.szi: missing"``).
    """
    data = _mapping(_decode(raw), "clearinghouseState")
    summary = _mapping(_get(data, "marginSummary", "clearinghouseState"), "marginSummary")
    cross = _mapping(_get(data, "crossMarginSummary", "clearinghouseState"), "crossMarginSummary")
    entries = _get(data, "assetPositions", "clearinghouseState")
    if not isinstance(entries, Sequence) or isinstance(entries, (str, bytes)):
        raise WireFormatError("assetPositions: expected a list")
    positions = [
        position
        for index, entry in enumerate(entries)
        if (position := _position(entry, f"assetPositions[{index}]")) is not None
    ]
    time_raw = data.get("time")
    return AccountState(
        account_value=_number(_get(summary, "accountValue", "marginSummary"), "marginSummary.accountValue"),
        total_ntl_pos=_number(_get(summary, "totalNtlPos", "marginSummary"), "marginSummary.totalNtlPos"),
        total_margin_used=_number(_get(summary, "totalMarginUsed", "marginSummary"), "marginSummary.totalMarginUsed"),
        withdrawable=_number(_get(data, "withdrawable", "clearinghouseState"), "withdrawable"),
        cross_account_value=_number(
            _get(cross, "accountValue", "crossMarginSummary"), "crossMarginSummary.accountValue"
        ),
        cross_maintenance_margin_used=_optional_number(
            data.get("crossMaintenanceMarginUsed"), "crossMaintenanceMarginUsed"
        ),
        time_ms=None if time_raw is None else _integer(time_raw, "time"),
        positions=positions,
    )


# --------------------------------------------------------------------------- open orders


def _open_order(item: Any, path: str) -> OpenOrder:
    order = _mapping(item, path)
    side = _get(order, "side", path)
    if side not in ("B", "A"):
        raise WireFormatError(f"{path}.side: expected 'B' or 'A'")
    cloid = order.get("cloid")
    if cloid is not None and not isinstance(cloid, str):
        raise WireFormatError(f"{path}.cloid: expected a string or null")
    reduce_only = order.get("reduceOnly", False)
    return OpenOrder(
        symbol=str(_get(order, "coin", path)),
        oid=_integer(_get(order, "oid", path), f"{path}.oid"),
        cloid=cloid.lower() if cloid else None,
        is_buy=side == "B",
        limit_px=_number(_get(order, "limitPx", path), f"{path}.limitPx"),
        size=_number(_get(order, "sz", path), f"{path}.sz"),
        reduce_only=_bool(reduce_only, f"{path}.reduceOnly"),
        timestamp_ms=_integer(_get(order, "timestamp", path), f"{path}.timestamp"),
    )


def parse_open_orders(raw: Any) -> list[OpenOrder]:
    """Normalize an ``openOrders`` or ``frontendOpenOrders`` answer into :class:`OpenOrder` values.

    Item shape: ``{coin, side "B"|"A", limitPx, sz, oid, timestamp}`` plus, from
    ``frontendOpenOrders``, ``origSz, reduceOnly, cloid|null, orderType, tif, isTrigger,
    triggerPx, triggerCondition, isPositionTpsl, children[…]``. ``side "B"`` is a buy;
    ``size`` is the remaining ``sz`` (not ``origSz``); ``reduce_only`` is ``False`` when the
    field is absent (plain ``openOrders``); ``cloid`` is lowercased. Only top-level items are
    returned: ``children`` (TP/SL attached to a parent) repeat orders already listed at top
    level and are ignored. Order is the venue's.

    Args:
        raw: the decoded JSON list, or its ``bytes``/``str`` text.

    Raises:
        WireFormatError: invalid JSON, not a list, a missing field or a malformed value.
    """
    data = _decode(raw)
    if not isinstance(data, list):
        raise WireFormatError("openOrders: expected a list")
    return [_open_order(item, f"[{index}]") for index, item in enumerate(data)]


# --------------------------------------------------------------------------- spot


def parse_spot_clearinghouse_state(raw: Any) -> list[SpotBalance]:
    """Normalize a ``spotClearinghouseState`` answer ``{"balances": [{coin, token, total, hold,
    entryNtl}]}`` into :class:`~pfterm.core.market.models.SpotBalance` rows (``total`` in units of ``coin``,
    held amounts included), in venue order. Zero balances are kept.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/spot
    (shape as ``fixtures/hyperliquid/http_spot_clearinghouse_state.json``).
    """
    data = _mapping(_decode(raw), "spotClearinghouseState")
    rows = _get(data, "balances", "spotClearinghouseState")
    if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)):
        raise WireFormatError("spotClearinghouseState.balances: expected a list")
    out: list[SpotBalance] = []
    for i, row in enumerate(rows):
        path = f"balances[{i}]"
        item = _mapping(row, path)
        coin = _get(item, "coin", path)
        if not isinstance(coin, str) or not coin:
            raise WireFormatError(f"{path}.coin: expected a token name")
        out.append(SpotBalance(coin, _number(_get(item, "total", path), f"{path}.total")))
    return out


@dataclass(slots=True, frozen=True)
class SpotPairInfo:
    """One spot market from ``spotMeta``.

    * ``name``: the venue's coin key (``"PURR/USDC"`` for index 0, ``"@{index}"`` otherwise),
      used in ``allMids``, ``l2Book`` and fills;
    * ``index``: spot universe index; ``asset_id = 10000 + index`` (docs/venues.md, ``spotMeta``);
    * ``base`` / ``quote``: token names (``"UBTC"``, ``"USDC"``);
    * ``sz_decimals``: decimals of an order size, base token units (the base token's
      ``szDecimals``); prices allow ``8 − sz_decimals`` decimals.
    """

    name: str
    index: int
    asset_id: int
    base: str
    quote: str
    sz_decimals: int


def parse_spot_meta(raw: Any) -> list[SpotPairInfo]:
    """Normalize a ``spotMeta`` answer ``{tokens: [{name, szDecimals, index, ...}], universe:
    [{name, tokens: [base, quote], index, ...}]}`` into :class:`SpotPairInfo` rows in universe
    order. Tokens are looked up by their ``index`` field, not their list position.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/spot
    """
    data = _mapping(_decode(raw), "spotMeta")
    tokens_raw = _get(data, "tokens", "spotMeta")
    universe = _get(data, "universe", "spotMeta")
    for key, value in (("tokens", tokens_raw), ("universe", universe)):
        if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
            raise WireFormatError(f"spotMeta.{key}: expected a list")
    tokens: dict[int, tuple[str, int]] = {}
    for i, t in enumerate(tokens_raw):
        path = f"tokens[{i}]"
        item = _mapping(t, path)
        name = _get(item, "name", path)
        if not isinstance(name, str):
            raise WireFormatError(f"{path}.name: expected a string")
        tokens[_integer(_get(item, "index", path), f"{path}.index")] = (
            name,
            _integer(_get(item, "szDecimals", path), f"{path}.szDecimals"),
        )
    out: list[SpotPairInfo] = []
    for i, u in enumerate(universe):
        path = f"universe[{i}]"
        item = _mapping(u, path)
        name = _get(item, "name", path)
        if not isinstance(name, str):
            raise WireFormatError(f"{path}.name: expected a string")
        pair = _get(item, "tokens", path)
        if not isinstance(pair, Sequence) or isinstance(pair, (str, bytes)) or len(pair) != 2:
            raise WireFormatError(f"{path}.tokens: expected [base, quote]")
        base_i = _integer(pair[0], f"{path}.tokens[0]")
        quote_i = _integer(pair[1], f"{path}.tokens[1]")
        if base_i not in tokens or quote_i not in tokens:
            raise WireFormatError(f"{path}.tokens: unknown token index")
        index = _integer(_get(item, "index", path), f"{path}.index")
        base, sz_decimals = tokens[base_i]
        out.append(SpotPairInfo(name, index, 10_000 + index, base, tokens[quote_i][0], sz_decimals))
    return out
