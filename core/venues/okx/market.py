"""OKX v5 read-only adapter: funding, open interest and liquidations of USDT-margined swaps.

Wire facts (``docs/venues.md`` "OKX v5"; https://www.okx.com/docs-v5/en/):

* ``GET /api/v5/public/funding-rate?instId=ANY`` and the WS ``funding-rate`` channel carry
  ``fundingRate``: the *predicted* rate of the settlement at ``fundingTime`` — the UPCOMING
  settlement, not the last one (``settFundingRate`` is the last settled rate and
  ``prevFundingTime`` its time). So ``next_funding_ms = fundingTime`` and the interval is
  ``nextFundingTime − fundingTime`` (never assumed to be 8 h). ``nextFundingRate`` is an
  empty string nowadays and is not used. The channel has no mark or index price.
* ``GET /api/v5/public/open-interest?instType=SWAP``: ``oi`` in contracts, ``oiCcy`` in coin
  (base units, used as ``oi_base``), ``oiUsd`` in USD.
* ``GET /api/v5/public/instruments?instType=SWAP``: ``ctVal`` (base units per contract for
  linear swaps), needed because liquidation sizes are in contracts.
* WS ``liquidation-orders`` (``instType: SWAP``): ``data[].details[]`` with ``sz``
  (contracts), ``bkPx`` (the bankruptcy price, not a fill price), ``side`` (the forced
  order's side), ``posSide`` (``long``/``short`` = the position closed; ``net`` or empty in
  one-way mode, then a forced ``sell`` closes a long).
* Keepalive: the server closes a connection with no traffic for 30 s; send the text ``ping``
  when idle (reply: text ``pong``).

Only USDT-margined SWAP instruments are joined (``BTC-USDT-SWAP`` → ``BTC``); coin-margined
(``BTC-USD-SWAP``), USDC swaps and futures are skipped by the default symbol mapping.

The connection lifecycle (reconnect, keepalive, status) is :class:`pfterm.core.venues.wsbase.VenueStream`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from pfterm.core.market.models import Liquidation, VenueFunding
from pfterm.core.venues import numbers
from pfterm.core.venues.base import CrossVenueSink
from pfterm.core.venues.errors import VenueError, one_line
from pfterm.core.venues.public_rest import get_json
from pfterm.core.venues.reconnect import ReconnectPolicy
from pfterm.core.venues.wsbase import (
    ToSymbol,
    VenueStream,
    WireError,
    base_to_symbol,
    checked,
    int_field,
    num,
    time_field,
    wall_ms,
)

__all__ = [
    "OKX_REST_URL",
    "OKX_WS_URL",
    "FrameError",
    "OkxFormatError",
    "OkxStream",
    "fetch_contract_values",
    "fetch_snapshot",
    "okx_symbol",
    "parse_funding_rate",
    "parse_instruments",
    "parse_liquidation_orders",
    "parse_open_interest",
]

log = logging.getLogger(__name__)

OKX_REST_URL = "https://www.okx.com"
"""OKX REST base URL."""

OKX_WS_URL = "wss://ws.okx.com:8443/ws/v5/public"
"""OKX public WebSocket URL."""

VENUE = "okx"
FEED = "okx/ws"
_HOUR_MS = 3_600_000.0
_MAX_FRAME_BYTES = 8 * 1024 * 1024

FrameError = WireError
"""Kept name of :class:`pfterm.core.venues.wsbase.WireError` (a payload did not validate)."""


class OkxFormatError(FrameError):
    """An OKX payload did not validate (one line, never quoting the payload)."""


# ---------------------------------------------------------------------------- symbols


def okx_symbol(native: str) -> str | None:
    """Default OKX mapping: ``"BTC-USDT-SWAP"`` → ``"BTC"``; ``None`` (skip) for anything that
    is not a USDT-margined perpetual swap (``BTC-USD-SWAP``, ``BTC-USDC-SWAP``, futures)."""
    parts = native.split("-")
    if len(parts) != 3 or parts[1] != "USDT" or parts[2] != "SWAP":
        return None
    return base_to_symbol(parts[0])


# ---------------------------------------------------------------------------- parsing helpers


def _data(raw: Any, what: str) -> list[Any]:
    if not isinstance(raw, Mapping):
        raise OkxFormatError(f"okx {what}: payload is not an object")
    code = raw.get("code")
    if code is not None and str(code) != "0":
        raise OkxFormatError(f"okx {what}: error code {str(code)[:16]}")
    data = raw.get("data")
    if not isinstance(data, list):
        raise OkxFormatError(f"okx {what}: 'data' is not a list")
    return data


def _num(item: Mapping[str, Any], key: str, what: str) -> float:
    return num(item, key, f"okx {what}", OkxFormatError)


def _int(item: Mapping[str, Any], key: str, what: str) -> int:
    return int_field(item, key, f"okx {what}", OkxFormatError)


def _inst_id(item: Any, what: str) -> str:
    if not isinstance(item, Mapping):
        raise OkxFormatError(f"okx {what}: item is not an object")
    inst = item.get("instId")
    if not isinstance(inst, str) or not inst:
        raise OkxFormatError(f"okx {what}: 'instId' missing")
    return inst


# ---------------------------------------------------------------------------- parsers


def parse_funding_rate(
    raw: Any,
    now_ms: int,
    to_symbol: ToSymbol = okx_symbol,
    *,
    oi: Mapping[str, tuple[float, float]] | None = None,
) -> list[VenueFunding]:
    """Normalize a REST ``/api/v5/public/funding-rate`` answer (``{"code":"0","data":[...]}``)
    or a WS ``funding-rate`` push (``{"arg":{...},"data":[...]}``).

    ``rate`` = ``fundingRate``, the predicted rate of the settlement at ``fundingTime`` (the
    upcoming one), hence ``next_funding_ms = fundingTime``; ``interval_h = (nextFundingTime −
    fundingTime) / 1 h``. Mark and index are ``None`` (not in this channel). ``oi_base`` /
    ``oi_usd`` come from ``oi`` (``native → (oiCcy, oiUsd)``, see :func:`parse_open_interest`)
    when it has the instrument, else ``None``. ``time_ms`` = the item's ``ts``, else ``now_ms``.
    Items that ``to_symbol`` maps to ``None`` are skipped without further validation.
    ``fundingRate`` must lie within ±5 % per interval (:data:`numbers.MAX_RATE_PER_INTERVAL`,
    above OKX's caps) and ``ts`` between 2015 and the local wall clock + 1 day.

    :raises OkxFormatError: on a malformed payload or item.
    """
    what = "funding-rate"
    out: list[VenueFunding] = []
    for item in _data(raw, what):
        native = _inst_id(item, what)
        symbol = to_symbol(native)
        if symbol is None:
            continue
        rate = checked(
            _num(item, "fundingRate", what), numbers.check_rate, "fundingRate", f"okx {what}", OkxFormatError
        )
        funding_time = _int(item, "fundingTime", what)
        next_time = _int(item, "nextFundingTime", what)
        if next_time <= funding_time:
            raise OkxFormatError("okx funding-rate: 'nextFundingTime' is not after 'fundingTime'")
        ts = item.get("ts")
        time_ms = time_field(item, "ts", f"okx {what}", None, OkxFormatError) if ts not in (None, "") else now_ms
        oi_pair = oi.get(native) if oi is not None else None
        out.append(
            VenueFunding(
                venue=VENUE,
                symbol=symbol,
                native=native,
                rate=rate,
                interval_h=(next_time - funding_time) / _HOUR_MS,
                next_funding_ms=funding_time,
                mark_px=None,
                index_px=None,
                oi_base=oi_pair[0] if oi_pair is not None else None,
                oi_usd=oi_pair[1] if oi_pair is not None else None,
                time_ms=time_ms,
            )
        )
    return out


def parse_open_interest(raw: Any) -> dict[str, tuple[float, float]]:
    """Normalize a REST ``/api/v5/public/open-interest`` answer or a WS ``open-interest`` push
    into ``native → (oi_base, oi_usd)``: ``oiCcy`` (coin, base units) and ``oiUsd``.

    ``oi`` (contracts) is ignored. Both values must be ≥ 0; an item that does not validate is
    dropped alone (one warning line per call).

    :raises OkxFormatError: on a malformed payload, or when no item validated while some did not.
    """
    what = "open-interest"
    out: dict[str, tuple[float, float]] = {}
    reasons: list[str] = []
    for item in _data(raw, what):
        try:
            native = _inst_id(item, what)
            out[native] = (_oi(item, "oiCcy", what), _oi(item, "oiUsd", what))
        except OkxFormatError as exc:
            reasons.append(str(exc))
    if reasons:
        if not out:
            raise OkxFormatError(reasons[0])
        log.warning("okx open-interest: %d malformed item(s) dropped; first: %s", len(reasons), reasons[0])
    return out


def _oi(item: Mapping[str, Any], key: str, what: str) -> float:
    """``item[key]`` as an open interest (finite, ≥ 0). :raises OkxFormatError: otherwise."""
    return checked(_num(item, key, what), numbers.check_open_interest, key, f"okx {what}", OkxFormatError)


def parse_instruments(raw: Any) -> dict[str, float]:
    """Normalize ``/api/v5/public/instruments?instType=SWAP`` into ``native → ctVal``.

    Only linear swaps are kept (``ctType == "linear"`` when given): for them ``ctVal`` is in
    base units per contract (``ctValCcy`` = the base coin). Inverse swaps (``ctVal`` in USD)
    are dropped. :raises OkxFormatError: on a malformed payload.
    """
    what = "instruments"
    out: dict[str, float] = {}
    for item in _data(raw, what):
        native = _inst_id(item, what)
        if item.get("instType", "SWAP") != "SWAP":
            continue
        if item.get("ctType") not in (None, "", "linear"):
            continue
        ct_val = _num(item, "ctVal", what)
        if ct_val <= 0:
            raise OkxFormatError("okx instruments: 'ctVal' is not positive")
        out[native] = ct_val
    return out


def parse_liquidation_orders(
    raw: Any,
    ct_val: Mapping[str, float],
    to_symbol: ToSymbol = okx_symbol,
) -> list[Liquidation]:
    """Normalize a WS ``liquidation-orders`` push into :class:`Liquidation` values, oldest first.

    ``size_base = sz (contracts) × ctVal``; ``price = bkPx`` (OKX reports the bankruptcy
    price); side: ``posSide`` ``long``/``short`` is the position closed; in one-way (net)
    mode (``posSide`` ``net`` or empty) a forced ``sell`` closed a long, a ``buy`` a short.
    Instruments that ``to_symbol`` skips, or whose ``ctVal`` is not in ``ct_val`` (the size
    cannot be converted, it is never guessed), are dropped.

    :raises OkxFormatError: on a malformed payload.
    """
    what = "liquidation-orders"
    out: list[Liquidation] = []
    for item in _data(raw, what):
        native = _inst_id(item, what)
        symbol = to_symbol(native)
        if symbol is None:
            continue
        details = item.get("details")
        if not isinstance(details, list):
            raise OkxFormatError("okx liquidation-orders: 'details' is not a list")
        value = ct_val.get(native)
        if value is None:
            log.debug("okx: no ctVal for %s, liquidation dropped", native)
            continue
        for detail in details:
            if not isinstance(detail, Mapping):
                raise OkxFormatError("okx liquidation-orders: detail is not an object")
            pos_side = detail.get("posSide", "")
            order_side = detail.get("side")
            if pos_side in ("long", "short"):
                side = pos_side
            elif pos_side in ("net", "", None) and order_side in ("sell", "buy"):
                side = "long" if order_side == "sell" else "short"
            else:
                raise OkxFormatError("okx liquidation-orders: unknown 'posSide'/'side'")
            size = _num(detail, "sz", what) * value
            price = _num(detail, "bkPx", what)
            if size <= 0 or price <= 0:
                raise OkxFormatError("okx liquidation-orders: non-positive size or price")
            out.append(
                Liquidation(
                    venue=VENUE,
                    symbol=symbol,
                    native=native,
                    side=side,
                    size_base=size,
                    price=price,
                    usd=size * price,
                    time_ms=time_field(detail, "ts", f"okx {what}", None, OkxFormatError),
                )
            )
    out.sort(key=lambda liq: liq.time_ms)
    return out


# ---------------------------------------------------------------------------- REST


async def _get_json(client: httpx.AsyncClient, url: str, params: Mapping[str, str], what: str) -> Any:
    """:func:`~pfterm.core.venues.public_rest.get_json` plus OKX's in-body error ``code`` (≠ ``"0"``;
    ``50011`` = rate limited, retryable)."""
    body = await get_json(client, url, params, venue=VENUE, what=what)
    if isinstance(body, Mapping) and str(body.get("code", "0")) != "0":
        code = str(body.get("code"))[:16]
        raise VenueError(f"okx {what}: venue error code {code}", status=200, retryable=code == "50011")
    return body


async def fetch_snapshot(
    client: httpx.AsyncClient,
    base_url: str = OKX_REST_URL,
    *,
    to_symbol: ToSymbol = okx_symbol,
    now_ms: int | None = None,
) -> list[VenueFunding]:
    """Fetch every swap's funding (``funding-rate?instId=ANY``) and open interest
    (``open-interest?instType=SWAP``) and merge them (``oi_base``/``oi_usd`` set when OKX
    reports the instrument's OI).

    :raises VenueError: one line, on transport errors, HTTP errors, OKX error codes or
        malformed answers.
    """
    base = base_url.rstrip("/")
    funding_raw, oi_raw = await asyncio.gather(
        _get_json(client, base + "/api/v5/public/funding-rate", {"instId": "ANY"}, "funding-rate"),
        _get_json(client, base + "/api/v5/public/open-interest", {"instType": "SWAP"}, "open-interest"),
    )
    try:
        oi = parse_open_interest(oi_raw)
        return parse_funding_rate(funding_raw, now_ms if now_ms is not None else wall_ms(), to_symbol, oi=oi)
    except OkxFormatError as exc:
        raise VenueError(str(exc), status=200, retryable=False) from None


async def fetch_contract_values(client: httpx.AsyncClient, base_url: str = OKX_REST_URL) -> dict[str, float]:
    """Fetch ``instruments?instType=SWAP`` and return ``native → ctVal`` (linear swaps).

    :raises VenueError: one line, on any failure.
    """
    raw = await _get_json(
        client, base_url.rstrip("/") + "/api/v5/public/instruments", {"instType": "SWAP"}, "instruments"
    )
    try:
        return parse_instruments(raw)
    except OkxFormatError as exc:
        raise VenueError(str(exc), status=200, retryable=False) from None


# ---------------------------------------------------------------------------- OKX stream


class OkxStream(VenueStream):
    """OKX public WebSocket: ``funding-rate`` per instId, optionally ``open-interest`` per
    instId, and ``liquidation-orders`` for ``instType: SWAP``.

    * funding pushes → ``sink.on_venue_funding`` (OI merged from the latest known value:
      ``oi`` seeds it, e.g. from the REST open-interest snapshot, and ``open-interest`` pushes
      update it, re-emitting the market's last funding record with the new OI);
    * liquidations → ``sink.on_liquidations`` (oldest first), sized with ``ct_val``
      (``native → ctVal``, see :func:`fetch_contract_values`; the mapping is read at each
      push, so the caller may refresh it in place);
    * ``{"event":"subscribe"}`` acks are counted, ``{"event":"error"}`` counted and shown as
      status detail; text ``pong`` answers our ``ping``.

    State is bounded by the followed ``inst_ids``: funding and open-interest entries of any
    other market are counted in :attr:`unknown_symbols`, neither stored nor delivered.

    Subscriptions go in batches of ``batch_size`` args per ``{"op":"subscribe"}`` message.
    Keepalive: ``ping`` after ``ping_interval_s`` (default 20 s) without traffic; no frame
    for ``silence_timeout_s`` (default 30 s, OKX's own idle limit) → reconnect. Feed ``okx/ws``.
    """

    ping_text = "ping"
    ping_only_when_idle = True
    max_frame_bytes = _MAX_FRAME_BYTES

    def __init__(
        self,
        sink: CrossVenueSink,
        inst_ids: Iterable[str],
        *,
        ws_url: str = OKX_WS_URL,
        ct_val: Mapping[str, float] | None = None,
        oi: Mapping[str, tuple[float, float]] | None = None,
        open_interest: bool = True,
        liquidations: bool = True,
        to_symbol: ToSymbol = okx_symbol,
        batch_size: int = 50,
        feed: str = FEED,
        policy: ReconnectPolicy | None = None,
        ping_interval_s: float = 20.0,
        silence_timeout_s: float | None = 30.0,
        subscribe_interval_s: float = 0.1,
        **kwargs: Any,
    ) -> None:
        """Create a stream (nothing connects until :meth:`run`).

        :param inst_ids: OKX instIds to follow (``"BTC-USDT-SWAP"`` …); those ``to_symbol``
            maps to ``None`` are not subscribed.
        :param kwargs: further :class:`~pfterm.core.venues.wsbase.VenueStream` options (timeouts,
            clocks, ``stale_after_s``: off by default, funding pushes come every 30–90 s).
        """
        super().__init__(
            sink,
            ws_url,
            feed=feed,
            policy=policy,
            ping_interval_s=ping_interval_s,
            silence_timeout_s=silence_timeout_s,
            subscribe_interval_s=subscribe_interval_s,
            **kwargs,
        )
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        self._to_symbol = to_symbol
        self.inst_ids = [i for i in dict.fromkeys(inst_ids) if to_symbol(i) is not None]
        self.ct_val: Mapping[str, float] = ct_val if ct_val is not None else {}
        self._known = frozenset(self.inst_ids)
        self.oi: dict[str, tuple[float, float]] = {k: v for k, v in (oi or {}).items() if k in self._known}
        """``native → (oi_base, oi_usd)``; bounded: only the followed :attr:`inst_ids`."""
        self.open_interest = open_interest
        self.liquidations = liquidations
        self.batch_size = batch_size
        self._last: dict[str, VenueFunding] = {}  # followed inst_ids only
        self.unknown_symbols = 0
        """Funding / open-interest entries of markets not followed, dropped (not stored)."""

    def _subscribe_messages(self) -> list[str]:
        args: list[dict[str, str]] = [{"channel": "funding-rate", "instId": i} for i in self.inst_ids]
        if self.open_interest:
            args += [{"channel": "open-interest", "instId": i} for i in self.inst_ids]
        if self.liquidations:
            args.append({"channel": "liquidation-orders", "instType": "SWAP"})
        return [
            json.dumps({"op": "subscribe", "args": args[k : k + self.batch_size]}, separators=(",", ":"))
            for k in range(0, len(args), self.batch_size)
        ]

    def _handle(self, message: str | bytes, now: float) -> None:
        if message == "pong" or message == b"pong":
            self.pongs += 1
            return
        msg = self._decode(message, OkxFormatError)
        if not isinstance(msg, dict):
            raise OkxFormatError("okx: frame is not an object")
        event = msg.get("event")
        if event is not None:
            if event in ("subscribe", "unsubscribe"):
                self.acks += 1
            elif event == "error":
                code = str(msg.get("code", ""))[:16]
                text = msg.get("msg")
                self._on_venue_error(one_line(f"{code} {text}") if isinstance(text, str) else one_line(code))
            elif event == "notice":
                log.info("%s: notice: %s", self.feed, one_line(str(msg.get("msg", ""))))
            return
        arg = msg.get("arg")
        if not isinstance(arg, dict):
            raise OkxFormatError("okx: push without 'arg'")
        channel = arg.get("channel")
        if channel == "funding-rate":
            parsed = parse_funding_rate(msg, self._wall_ms(), self._to_symbol, oi=self.oi)
            records = [r for r in parsed if r.native in self._known]
            self.unknown_symbols += len(parsed) - len(records)
            for record in records:
                self._last[record.native] = record
            self._emit_funding(records)
        elif channel == "open-interest":
            parsed_oi = parse_open_interest(msg)
            updates = {k: v for k, v in parsed_oi.items() if k in self._known}
            self.unknown_symbols += len(parsed_oi) - len(updates)
            self.oi.update(updates)
            changed: list[VenueFunding] = []
            for native, (base, usd) in updates.items():
                last = self._last.get(native)
                if last is not None and (last.oi_base, last.oi_usd) != (base, usd):
                    record = _replace_oi(last, base, usd)
                    self._last[native] = record
                    changed.append(record)
            self._emit_funding(changed)
        elif channel == "liquidation-orders":
            self._emit_liquidations(parse_liquidation_orders(msg, self.ct_val, self._to_symbol))


def _replace_oi(record: VenueFunding, base: float, usd: float) -> VenueFunding:
    return VenueFunding(
        venue=record.venue,
        symbol=record.symbol,
        native=record.native,
        rate=record.rate,
        interval_h=record.interval_h,
        next_funding_ms=record.next_funding_ms,
        mark_px=record.mark_px,
        index_px=record.index_px,
        oi_base=base,
        oi_usd=usd,
        time_ms=record.time_ms,
    )


def inst_ids_of(records: Sequence[VenueFunding]) -> list[str]:
    """The natives of snapshot records, to subscribe an :class:`OkxStream` to them."""
    return [r.native for r in records]
