"""Hyperliquid wire formats: validation and normalization into :mod:`pfterm.core.market.models`.

Every payload is validated in one pass by ``pydantic-core`` validators built once at import.
The validators construct the normalized :mod:`pfterm.core.market.models` dataclasses directly (field
aliases map wire names such as ``markPx`` to ``mark_px``), so the WebSocket hot path builds
no intermediate dicts and runs no per-field Python code.

Numbers: Hyperliquid sends prices, sizes, rates and volumes as decimal strings
(``"funding": "0.0000125"``); some captured payloads carry JSON numbers instead, and ccxt
fixtures stringify integers (``"maxLeverage": "50"``). Both spellings are accepted; booleans,
``null`` (where not optional), non-numeric strings, NaN and infinities are rejected. Decimal
strings become ``float``: market data is displayed and fed to statistics, never sent back.

Units of the results: prices USD, sizes and open interest base units (one side), funding
rates fractions per hour (Hyperliquid settles hourly), timestamps integer ms since the epoch.

Sources:

* info endpoint: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint
  and https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals
  (``meta``, ``metaAndAssetCtxs``, ``fundingHistory``, ``predictedFundings``, ``l2Book``,
  ``allMids``, ``recentTrades``);
* WebSocket: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NotRequired, TypeAlias

from pydantic import GetPydanticSchema, TypeAdapter, ValidationError
from pydantic_core import CoreSchema, SchemaValidator
from pydantic_core import core_schema as cs
from typing_extensions import TypedDict

from pfterm.core.market.models import (
    AssetCtx,
    BookLevel,
    BookSnapshot,
    FundingPoint,
    MarketInfo,
    PredictedFunding,
    Side,
    Trade,
)
from pfterm.core.venues import numbers
from pfterm.core.venues.errors import one_line

__all__ = [
    "HL_FUNDING_INTERVAL_H",
    "VENUE",
    "WELCOME_TEXT",
    "AllMids",
    "ChannelError",
    "MalformedFrame",
    "Pong",
    "SubscriptionAck",
    "WireFormatError",
    "WsMessage",
    "decode_ws_frame",
    "parse_all_mids",
    "parse_asset_ctxs",
    "parse_funding_history",
    "parse_l2_book",
    "parse_meta",
    "parse_meta_and_asset_ctxs",
    "parse_predicted_fundings",
    "parse_trades",
]

log = logging.getLogger(__name__)

VENUE = "hyperliquid"
"""``MarketInfo.venue`` of every Hyperliquid market."""

HL_FUNDING_INTERVAL_H = 1.0
"""Hyperliquid perpetuals settle funding every hour; rates on its wire are per hour."""

WELCOME_TEXT = "Websocket connection established."
"""Plain-text first frame the Hyperliquid WebSocket server sends after the handshake."""

_PREDICTED_DEFAULT_INTERVAL_H = {"HlPerp": 1.0}
_PREDICTED_OTHER_INTERVAL_H = 8.0


# --------------------------------------------------------------------------------------------
# Errors


class WireFormatError(ValueError):
    """A Hyperliquid payload did not validate.

    ``reason`` is one short line naming the first offending field, e.g.
    ``"data.ctx.markPx: expected a decimal number"``; it never contains the payload itself.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedFrame(WireFormatError):
    """A WebSocket frame was not valid JSON, had an unknown ``channel`` or did not validate."""


def _reason(exc: ValidationError) -> str:
    """One short line describing the first validation error of ``exc``."""
    errors = exc.errors(include_url=False, include_input=False, include_context=True)
    if not errors:
        return "invalid payload"
    first = errors[0]
    kind = first.get("type", "")
    ctx = first.get("ctx") or {}
    if kind == "union_tag_invalid":
        text = f"unknown channel {str(ctx.get('tag', ''))[:40]!r}"
    elif kind == "union_tag_not_found":
        text = "no channel"
    elif kind == "json_invalid":
        text = "invalid JSON"
    else:
        loc = ".".join(str(part) for part in first.get("loc", ()))
        text = f"{loc}: {first.get('msg', kind)}" if loc else str(first.get("msg", kind))
    if len(errors) > 1:
        text += f" (+{len(errors) - 1} more)"
    return text[:160]


# --------------------------------------------------------------------------------------------
# Scalar schemas

_DECIMAL_PATTERN = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?$"
"""Plain ASCII decimal text (:func:`pfterm.core.venues.numbers.is_decimal_text`): no blanks,
underscores, digits of other scripts, ``NaN`` or ``inf``."""

_FLOAT_SCHEMA: CoreSchema = cs.union_schema(
    [
        cs.chain_schema(
            [
                cs.str_schema(strict=True, max_length=64, pattern=_DECIMAL_PATTERN),
                cs.float_schema(allow_inf_nan=False),
            ]
        ),
        cs.float_schema(strict=True, allow_inf_nan=False),
    ],
    mode="left_to_right",
    custom_error_type="decimal_number",
    custom_error_message="expected a decimal number",
)
"""A finite number given as a plain decimal string or a JSON number (never a bool or null)."""

_INT_SCHEMA: CoreSchema = cs.union_schema(
    [
        cs.int_schema(strict=True, ge=-(2**63) + 1, le=2**63 - 1),
        cs.chain_schema(
            [cs.str_schema(strict=True, pattern=r"^[+-]?[0-9]{1,19}$"), cs.int_schema(ge=-(2**63) + 1, le=2**63 - 1)]
        ),
    ],
    mode="left_to_right",
    custom_error_type="integer",
    custom_error_message="expected an integer",
)
"""An integer given as a JSON number or a decimal string (ccxt fixtures stringify ints)."""


def _bounded(
    schema: CoreSchema, *, gt: float | None = None, ge: float | None = None, le: float | None = None
) -> CoreSchema:
    """``schema`` (a float) followed by a range check (``gt``/``ge``/``le``)."""
    return cs.chain_schema([schema, cs.float_schema(gt=gt, ge=ge, le=le)])


def _bounded_int(schema: CoreSchema, *, ge: int | None = None, le: int | None = None) -> CoreSchema:
    """``schema`` (an int) followed by a range check (``ge``/``le``)."""
    return cs.chain_schema([schema, cs.int_schema(ge=ge, le=le)])


_PRICE_SCHEMA = _bounded(_FLOAT_SCHEMA, gt=0)
"""A price (USD): finite and > 0."""
_SIZE_SCHEMA = _PRICE_SCHEMA
"""A size (base units): finite and > 0."""
_NON_NEGATIVE_SCHEMA = _bounded(_FLOAT_SCHEMA, ge=0)
"""Open interest, volumes, a previous day price of a new listing: finite and ≥ 0."""
_HL_RATE_SCHEMA = _bounded(_FLOAT_SCHEMA, ge=-numbers.HL_RATE_CAP_PER_H, le=numbers.HL_RATE_CAP_PER_H)
"""A Hyperliquid funding rate per hour, within the ±4 %/h cap (``docs/domain.md`` §1)."""
_TIME_SCHEMA = _bounded_int(_INT_SCHEMA, ge=numbers.MIN_TIME_MS, le=numbers.MAX_TIME_MS)
"""A timestamp (ms since the epoch) from 2015 to 2100: simulator time may run ahead of the
wall clock, so the window is absolute, not relative to now (an ``l2Book`` time of 0 or 10^400
is refused before it reaches the book or :class:`pfterm.core.market.clock.VenueClock`)."""
_COUNT_SCHEMA = _bounded_int(_INT_SCHEMA, ge=0)

_STR_SCHEMA: CoreSchema = cs.str_schema(strict=True)
_OPT_FLOAT_SCHEMA: CoreSchema = cs.with_default_schema(cs.nullable_schema(_FLOAT_SCHEMA), default=None)
_OPT_PRICE_SCHEMA: CoreSchema = cs.with_default_schema(cs.nullable_schema(_PRICE_SCHEMA), default=None)

WireFloat = Annotated[float, GetPydanticSchema(lambda _t, _h: _FLOAT_SCHEMA)]
"""Annotation for pydantic models/TypedDicts: a finite decimal (string or JSON number) → ``float``."""

WireInt = Annotated[int, GetPydanticSchema(lambda _t, _h: _INT_SCHEMA)]
"""Annotation for pydantic models/TypedDicts: an integer (JSON number or decimal string) → ``int``."""

_Path: TypeAlias = tuple[str | int, ...]


def _field(name: str, schema: CoreSchema, path: _Path) -> cs.DataclassField:
    """A dataclass field read from the wire at ``path``."""
    return cs.dataclass_field(name, schema, validation_alias=list(path))


def _const(name: str, value: Any) -> cs.DataclassField:
    """A dataclass field that is never read from the wire and always holds ``value``."""
    return cs.dataclass_field(name, cs.with_default_schema(cs.any_schema(), default=value), init=False)


def _dataclass(cls: type, fields: list[cs.DataclassField], *, frozen: bool) -> CoreSchema:
    return cs.dataclass_schema(
        cls,
        cs.dataclass_args_schema(cls.__name__, fields, extra_behavior="ignore"),
        fields=[f["name"] for f in fields],
        slots=True,
        frozen=frozen,
    )


# --------------------------------------------------------------------------------------------
# Model schemas, parameterised by where the object sits in its payload


def _asset_ctx_schema(ctx: _Path, symbol: _Path | None) -> CoreSchema:
    """``AssetCtx`` built from a ctx object at ``ctx`` and the coin name at ``symbol``.

    With ``symbol=None`` the symbol is left empty for the caller to fill in (REST ctxs are
    matched to ``meta.universe`` by position). ``impactPxs`` is ``[bid, ask]``; ``premium``,
    ``midPx`` and ``impactPxs`` may be absent or null (delisted markets).
    """
    sym = _field("symbol", _STR_SCHEMA, symbol) if symbol is not None else _const("symbol", "")
    return _dataclass(
        AssetCtx,
        [
            sym,
            _field("mark_px", _PRICE_SCHEMA, (*ctx, "markPx")),
            _field("oracle_px", _PRICE_SCHEMA, (*ctx, "oraclePx")),
            _field("mid_px", _OPT_PRICE_SCHEMA, (*ctx, "midPx")),
            _field("funding", _HL_RATE_SCHEMA, (*ctx, "funding")),
            _const("funding_interval_h", HL_FUNDING_INTERVAL_H),
            _field("premium", _OPT_FLOAT_SCHEMA, (*ctx, "premium")),
            _field("open_interest", _NON_NEGATIVE_SCHEMA, (*ctx, "openInterest")),
            _field("prev_day_px", _NON_NEGATIVE_SCHEMA, (*ctx, "prevDayPx")),
            _field("day_ntl_vlm", _NON_NEGATIVE_SCHEMA, (*ctx, "dayNtlVlm")),
            _field("impact_bid", _OPT_PRICE_SCHEMA, (*ctx, "impactPxs", 0)),
            _field("impact_ask", _OPT_PRICE_SCHEMA, (*ctx, "impactPxs", 1)),
            _const("recv_ms", 0),
            _const("recv_mono", 0.0),
        ],
        frozen=False,
    )


_BOOK_LEVEL_SCHEMA = _dataclass(
    BookLevel,
    [
        _field("px", _PRICE_SCHEMA, ("px",)),
        _field("sz", _SIZE_SCHEMA, ("sz",)),
        _field("n", cs.with_default_schema(_COUNT_SCHEMA, default=0), ("n",)),
    ],
    frozen=True,
)
_BOOK_SIDE_SCHEMA = cs.tuple_schema([_BOOK_LEVEL_SCHEMA], variadic_item_index=0)


def _book_schema(at: _Path) -> CoreSchema:
    """``BookSnapshot`` from ``{coin, time, levels: [[bids…], [asks…]]}`` at ``at``."""
    return _dataclass(
        BookSnapshot,
        [
            _field("symbol", _STR_SCHEMA, (*at, "coin")),
            _field("time_ms", _TIME_SCHEMA, (*at, "time")),
            _field("bids", _BOOK_SIDE_SCHEMA, (*at, "levels", 0)),
            _field("asks", _BOOK_SIDE_SCHEMA, (*at, "levels", 1)),
        ],
        frozen=True,
    )


_TRADE_SCHEMA = _dataclass(
    Trade,
    [
        _field("symbol", _STR_SCHEMA, ("coin",)),
        _field("side", cs.enum_schema(Side, list(Side), sub_type="str"), ("side",)),
        _field("px", _PRICE_SCHEMA, ("px",)),
        _field("sz", _SIZE_SCHEMA, ("sz",)),
        _field("time_ms", _TIME_SCHEMA, ("time",)),
        _field("tid", cs.with_default_schema(_INT_SCHEMA, default=0), ("tid",)),
    ],
    frozen=True,
)


def _oldest_first(trades: list[Trade]) -> list[Trade]:
    """Return ``trades`` oldest first (``recentTrades`` answers newest first)."""
    if len(trades) > 1 and trades[0].time_ms > trades[-1].time_ms:
        trades.reverse()
    return trades


_TRADES_SCHEMA = cs.no_info_after_validator_function(_oldest_first, cs.list_schema(_TRADE_SCHEMA))

_FUNDING_POINT_SCHEMA = _dataclass(
    FundingPoint,
    [
        _field("symbol", _STR_SCHEMA, ("coin",)),
        _field("time_ms", _TIME_SCHEMA, ("time",)),
        _field("rate", _HL_RATE_SCHEMA, ("fundingRate",)),
        _const("interval_h", HL_FUNDING_INTERVAL_H),
        _field("premium", _OPT_FLOAT_SCHEMA, ("premium",)),
    ],
    frozen=True,
)

_MIDS_SCHEMA = cs.dict_schema(_STR_SCHEMA, _PRICE_SCHEMA)


# --------------------------------------------------------------------------------------------
# WebSocket messages without a pfterm.core.market.models counterpart


@dataclass(slots=True, frozen=True)
class AllMids:
    """An ``allMids`` push: mid price (USD) by coin name.

    Keys include spot pairs (``"@142"``, ``"PURR/USDC"``) besides perp coins. A mid that
    does not validate (not a decimal, not > 0) is left out and counted in ``rejected``, with
    the first one's reason in ``reason``: one bad coin never drops the others.
    """

    mids: dict[str, float]
    rejected: int = 0
    reason: str = ""


@dataclass(slots=True, frozen=True)
class SubscriptionAck:
    """A ``subscriptionResponse``: the server accepted ``method`` (``"subscribe"`` /
    ``"unsubscribe"``) for ``subscription`` (the object we sent, e.g. ``{"type": "allMids"}``)."""

    method: str
    subscription: dict[str, Any]


@dataclass(slots=True, frozen=True)
class Pong:
    """The server's answer to ``{"method": "ping"}``."""


@dataclass(slots=True, frozen=True)
class ChannelError:
    """An ``error`` channel message, e.g. ``"Invalid subscription …"``; one line, ≤ 200 chars."""

    message: str


_PONG = Pong()


def _error_message(frame: dict[str, Any]) -> ChannelError:
    data = frame["data"]
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), default=str)
    return ChannelError(one_line(text, 200))


WsMessage: TypeAlias = AssetCtx | AllMids | list[Trade] | BookSnapshot | SubscriptionAck | Pong | ChannelError
"""What :func:`decode_ws_frame` returns, by channel:
``activeAssetCtx`` → :class:`~pfterm.core.market.models.AssetCtx`, ``allMids`` → :class:`AllMids`,
``trades`` → ``list[Trade]`` (oldest first), ``l2Book`` → :class:`~pfterm.core.market.models.BookSnapshot`,
``subscriptionResponse`` → :class:`SubscriptionAck`, ``pong`` → :class:`Pong`,
``error`` → :class:`ChannelError`."""

_FRAME_SCHEMA = cs.tagged_union_schema(
    {
        "activeAssetCtx": _asset_ctx_schema(("data", "ctx"), ("data", "coin")),
        "allMids": _dataclass(
            AllMids,
            [_field("mids", _MIDS_SCHEMA, ("data", "mids")), _const("rejected", 0), _const("reason", "")],
            frozen=True,
        ),
        "trades": cs.typed_dict_schema({"data": cs.typed_dict_field(_TRADES_SCHEMA)}),
        "l2Book": _book_schema(("data",)),
        "subscriptionResponse": _dataclass(
            SubscriptionAck,
            [
                _field("method", _STR_SCHEMA, ("data", "method")),
                _field("subscription", cs.dict_schema(_STR_SCHEMA, cs.any_schema()), ("data", "subscription")),
            ],
            frozen=True,
        ),
        "pong": cs.no_info_after_validator_function(lambda _frame: _PONG, cs.dict_schema()),
        "error": cs.no_info_after_validator_function(
            _error_message,
            cs.typed_dict_schema({"data": cs.typed_dict_field(cs.any_schema())}),
        ),
    },
    discriminator="channel",
)
_FRAME_VALIDATE_JSON = SchemaValidator(_FRAME_SCHEMA).validate_json


def decode_ws_frame(data: bytes | str) -> WsMessage:
    """Validate one Hyperliquid WebSocket frame and return its normalized content.

    The frame is ``{"channel": <name>, "data": …}``; see :data:`WsMessage` for the value
    returned per channel. Context values carry ``recv_ms = 0`` / ``recv_mono = 0.0``: the
    receiver stamps them. Validation and construction happen in a single pass in
    ``pydantic-core`` (about 2–3 µs for an ``activeAssetCtx`` frame).

    :param data: the frame's text (``str``) or its UTF-8 bytes.
    :raises MalformedFrame: not JSON, not an object, unknown or missing ``channel``, or a
        field missing / of the wrong type (e.g. a non-numeric price string); also nesting too
        deep or a number too large to convert (never ``RecursionError``/``OverflowError``). The exception's
        ``reason`` is one short line.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions
    """
    try:
        value = _FRAME_VALIDATE_JSON(data)
    except ValidationError as exc:
        mids = _good_mids_of_frame(data, exc)
        if mids is None:
            raise MalformedFrame(_reason(exc)) from None
        return mids
    except (RecursionError, OverflowError, ValueError, MemoryError) as exc:  # hostile input, past validation
        raise MalformedFrame(f"{type(exc).__name__} while decoding") from None
    if type(value) is dict:  # the only channel validated into a dict is ``trades``
        return value["data"]
    return value


_ONE_PRICE = SchemaValidator(_PRICE_SCHEMA)
_LOOSE_MIDS = SchemaValidator(cs.dict_schema(_STR_SCHEMA, cs.any_schema()))
_LOOSE_MIDS_FRAME = SchemaValidator(
    cs.typed_dict_schema(
        {
            "data": cs.typed_dict_field(
                cs.typed_dict_schema({"mids": cs.typed_dict_field(cs.dict_schema(_STR_SCHEMA, cs.any_schema()))})
            )
        }
    )
)


def _split_mids(mids: dict[str, Any]) -> AllMids:
    """Validate each mid of ``{coin: mid}`` on its own: the good ones, and the count and
    first reason of the rest."""
    good: dict[str, float] = {}
    rejected = 0
    reason = ""
    for coin, raw in mids.items():
        try:
            good[coin] = _ONE_PRICE.validate_python(raw)
        except ValidationError as exc:
            rejected += 1
            if not reason:
                reason = f"mids.{coin[:20]}: {_reason(exc)}"
    return AllMids(good, rejected, reason)


def _good_mids_of_frame(data: bytes | str, exc: ValidationError) -> AllMids | None:
    """When ``exc`` failed an ``allMids`` frame only inside ``data.mids`` entries (the
    frame's shape is right), the frame's good mids; otherwise ``None``."""
    errors = exc.errors(include_url=False, include_input=False)
    if not errors or any(tuple(e["loc"][:3]) != ("allMids", "data", "mids") or len(e["loc"]) < 4 for e in errors):
        return None
    try:
        frame = _LOOSE_MIDS_FRAME.validate_json(data)
    except ValidationError:
        return None
    return _split_mids(frame["data"]["mids"])


# --------------------------------------------------------------------------------------------
# REST (info endpoint) payloads


class _UniverseEntry(TypedDict):
    name: str
    szDecimals: WireInt
    maxLeverage: WireInt
    onlyIsolated: NotRequired[bool | None]
    isDelisted: NotRequired[bool | None]


class _Meta(TypedDict):
    universe: list[_UniverseEntry]


_RestCtx = Annotated[
    AssetCtx | None,
    GetPydanticSchema(lambda _t, _h: cs.nullable_schema(_asset_ctx_schema((), None))),
]


class _PredictedEntry(TypedDict):
    fundingRate: WireFloat
    nextFundingTime: WireInt
    fundingIntervalHours: NotRequired[WireFloat | None]


_META = TypeAdapter(_Meta)
_META_AND_CTXS = TypeAdapter(tuple[_Meta, list[_RestCtx]])
_CTX_LIST = TypeAdapter(list[_RestCtx])
_ONE_CTX = TypeAdapter(_RestCtx)
_META_AND_ANY = TypeAdapter(tuple[_Meta, list[Any]])
_ANY_LIST = TypeAdapter(list[Any])
_PREDICTED = TypeAdapter(list[tuple[str, list[tuple[str, _PredictedEntry | None]]]])
_BOOK = SchemaValidator(_book_schema(()))
_FUNDING_HISTORY = SchemaValidator(cs.list_schema(_FUNDING_POINT_SCHEMA))
_ALL_MIDS = SchemaValidator(_MIDS_SCHEMA)
_TRADES = SchemaValidator(_TRADES_SCHEMA)


def _validate(validator: SchemaValidator | TypeAdapter[Any], raw: Any) -> Any:
    """Validate JSON text (``bytes``/``str``) or an already-decoded value."""
    try:
        if isinstance(raw, (bytes, bytearray, str)):
            return validator.validate_json(raw)
        return validator.validate_python(raw)
    except ValidationError as exc:
        raise WireFormatError(_reason(exc)) from None


def _markets(meta: _Meta) -> list[MarketInfo]:
    return [
        MarketInfo(
            venue=VENUE,
            symbol=entry["name"],
            asset_id=index,
            sz_decimals=entry["szDecimals"],
            max_leverage=entry["maxLeverage"],
            only_isolated=bool(entry.get("onlyIsolated")),
            delisted=bool(entry.get("isDelisted")),
        )
        for index, entry in enumerate(meta["universe"])
    ]


def parse_meta(raw: Any) -> list[MarketInfo]:
    """Parse an info ``meta`` answer into markets, ``asset_id`` = index in ``universe``.

    :param raw: JSON text (``bytes``/``str``) or the decoded object
        ``{"universe": [{name, szDecimals, maxLeverage, onlyIsolated?, isDelisted?, …}], …}``;
        optional flags may be absent or null (→ ``False``).
    :returns: one :class:`~pfterm.core.market.models.MarketInfo` per universe entry, in order
        (``venue="hyperliquid"``; ``sz_decimals`` = decimals of an order size in base units).
    :raises WireFormatError: if the payload does not validate.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals
    """
    return _markets(_validate(_META, raw))


def _ctxs_one_by_one(items: list[Any], what: str, rejected: list[str] | None) -> list[AssetCtx | None]:
    """Validate each ctx on its own: a ctx that does not validate becomes ``None``, its reason
    (``"<index>: <reason>"``) goes to ``rejected`` and one warning line is logged per call."""
    out: list[AssetCtx | None] = []
    reasons: list[str] = []
    for index, item in enumerate(items):
        try:
            out.append(_validate(_ONE_CTX, item))
        except WireFormatError as exc:
            reasons.append(f"{index}: {exc.reason}")
            out.append(None)
    if reasons:
        log.warning("hyperliquid %s: %d malformed market(s) dropped; first: %s", what, len(reasons), reasons[0])
        if rejected is not None:
            rejected.extend(reasons)
    return out


def parse_meta_and_asset_ctxs(
    raw: Any, *, rejected: list[str] | None = None
) -> tuple[list[MarketInfo], list[AssetCtx | None]]:
    """Parse an info ``metaAndAssetCtxs`` answer ``[meta, [ctx…]]``.

    :param raw: JSON text or decoded value; ``ctx = {funding, openInterest, prevDayPx,
        dayNtlVlm, premium?, oraclePx, markPx, midPx?, impactPxs?, dayBaseVlm}`` with decimal
        strings; delisted markets carry null ``premium``/``midPx``/``impactPxs``.
    :param rejected: when given, receives one ``"<index>: <reason>"`` line per ctx that did
        not validate (prices not > 0, OI or volume < 0, funding beyond ±4 %/h, bad syntax).
    :returns: ``(markets, ctxs)`` of equal length; ``ctxs[i]`` belongs to ``markets[i]``
        (symbol filled in, ``funding`` per 1 h, open interest one side in base units) or is
        ``None`` when the venue sent null, a ctx that does not validate (counted in
        ``rejected``; every good market is kept) or fewer ctxs than markets.
    :raises WireFormatError: if ``meta`` or the outer shape does not validate, or there are
        more ctxs than markets.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals
    """
    try:
        meta, ctxs = _validate(_META_AND_CTXS, raw)
    except WireFormatError:
        meta, items = _validate(_META_AND_ANY, raw)
        ctxs = _ctxs_one_by_one(items, "metaAndAssetCtxs", rejected)
    markets = _markets(meta)
    if len(ctxs) > len(markets):
        raise WireFormatError(f"{len(ctxs)} asset ctxs for {len(markets)} markets")
    for market, ctx in zip(markets, ctxs, strict=False):
        if ctx is not None:
            ctx.symbol = market.symbol
    ctxs.extend([None] * (len(markets) - len(ctxs)))
    return markets, ctxs


def parse_asset_ctxs(raw: Any, symbols: Sequence[str], *, rejected: list[str] | None = None) -> list[AssetCtx | None]:
    """Parse a bare list of asset ctxs (e.g. one dex of an ``allDexsAssetCtxs`` push).

    :param raw: JSON text or decoded list of ctx objects (see :func:`parse_meta_and_asset_ctxs`).
    :param symbols: coin names by position; ctxs beyond ``len(symbols)`` get the symbol ``""``.
    :param rejected: receives one ``"<index>: <reason>"`` line per ctx that did not validate.
    :returns: one context (or ``None`` for a null entry or one that does not validate) per
        list entry, in order.
    :raises WireFormatError: if the payload is not a list.
    """
    try:
        ctxs = _validate(_CTX_LIST, raw)
    except WireFormatError:
        ctxs = _ctxs_one_by_one(_validate(_ANY_LIST, raw), "asset ctxs", rejected)
    for ctx, symbol in zip(ctxs, symbols, strict=False):
        if ctx is not None:
            ctx.symbol = symbol
    return ctxs


def parse_l2_book(raw: Any) -> BookSnapshot:
    """Parse an info ``l2Book`` answer (or a WS ``l2Book`` payload's ``data``).

    :param raw: ``{coin, time (ms), levels: [[bid…], [ask…]]}``, level ``{px, sz, n?}``
        (``n`` = order count, 0 when absent).
    :returns: :class:`~pfterm.core.market.models.BookSnapshot`, bids and asks best first as sent.
    :raises WireFormatError: if the payload does not validate.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint#l2-book-snapshot
    """
    return _validate(_BOOK, raw)


def parse_funding_history(raw: Any) -> list[FundingPoint]:
    """Parse an info ``fundingHistory`` answer.

    :param raw: ``[{coin, fundingRate, premium?, time (ms)}, …]`` (≤ 500 rows per call).
    :returns: settled fundings oldest first, ``rate`` per 1 h (``interval_h = 1.0``),
        ``premium`` ``None`` when absent.
    :raises WireFormatError: if the payload does not validate.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals#retrieve-historical-funding-rates
    """
    points: list[FundingPoint] = _validate(_FUNDING_HISTORY, raw)
    if any(a.time_ms > b.time_ms for a, b in zip(points, points[1:], strict=False)):
        points.sort(key=lambda p: p.time_ms)
    return points


def parse_predicted_fundings(raw: Any) -> list[PredictedFunding]:
    """Parse an info ``predictedFundings`` answer.

    :param raw: ``[[coin, [[venue, {fundingRate, nextFundingTime (ms),
        fundingIntervalHours?} | null], …]], …]``, venues ``HlPerp``, ``BinPerp``, ``BybitPerp``.
    :returns: one :class:`~pfterm.core.market.models.PredictedFunding` per non-null entry, in wire order;
        ``interval_h`` is ``fundingIntervalHours`` or, when absent, 1 for ``HlPerp`` and 8
        for other venues; ``rate`` is per ``interval_h`` hours.
    :raises WireFormatError: if the payload does not validate.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint/perpetuals#retrieve-predicted-funding-rates-for-different-venues
    """
    out: list[PredictedFunding] = []
    for coin, venues in _validate(_PREDICTED, raw):
        for venue, entry in venues:
            if entry is None:
                continue
            interval = entry.get("fundingIntervalHours")
            if interval is None:
                interval = _PREDICTED_DEFAULT_INTERVAL_H.get(venue, _PREDICTED_OTHER_INTERVAL_H)
            out.append(PredictedFunding(coin, venue, entry["fundingRate"], float(interval), entry["nextFundingTime"]))
    return out


def parse_all_mids(raw: Any) -> dict[str, float]:
    """Parse an info ``allMids`` answer ``{coin: mid}`` into USD floats by coin.

    Keys include spot pairs (``"@107"``, ``"PURR/USDC"``). A mid that does not validate
    (not a decimal, not > 0) is left out and one warning line is logged; the others are kept.

    :raises WireFormatError: if the payload is not an object of coin names.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint#retrieve-mids-for-all-coins
    """
    try:
        return _validate(_ALL_MIDS, raw)
    except WireFormatError:
        mids = _split_mids(_validate(_LOOSE_MIDS, raw))
    log.warning("hyperliquid allMids: %d malformed mid(s) dropped; first: %s", mids.rejected, mids.reason)
    return mids.mids


def parse_trades(raw: Any) -> list[Trade]:
    """Parse trades (info ``recentTrades`` answer or a WS ``trades`` payload's ``data``).

    :param raw: ``[{coin, side "B"|"A", px, sz, time (ms), tid, hash?, users?}, …]``.
    :returns: trades oldest first; ``side`` is the aggressor (``B`` = taker bought).
    :raises WireFormatError: if the payload does not validate.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket/subscriptions
    """
    return _validate(_TRADES, raw)
