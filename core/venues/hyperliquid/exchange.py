"""Hyperliquid trading client: signed ``POST /exchange`` actions and the user's own state.

:class:`HyperliquidExchange` places and cancels orders, sets leverage and arms the dead man's
switch (``scheduleCancel``), and reads the account (``clearinghouseState``,
``frontendOpenOrders``, ``userFills``, ``userFunding``) for the master address.

Request body of every action: ``{"action", "nonce", "signature": {r, s, v}, "vaultAddress",
"expiresAfter"}``; the action is an L1 action signed by :class:`~pfterm.core.venues.hyperliquid.signing.Signer`
with a nonce from :class:`~pfterm.core.venues.hyperliquid.signing.NonceSource` (ms, strictly increasing).

Answers:

* whole-request failure: ``{"status": "err", "response": "<text>"}`` → :class:`ExchangeError`;
* success: ``{"status": "ok", "response": {"type": "order"|"cancel"|"default", "data"?: {"statuses": [...]}}}``.
  A rejected order still comes back with ``status: "ok"``: each entry of ``statuses`` is
  ``{"resting": {"oid"}}``, ``{"filled": {"totalSz", "avgPx", "oid"}}``, ``{"error": "<text>"}`` or,
  for a cancel, the string ``"success"``; every entry is read and returned per order.

Agent (API) wallets: an agent key signs on behalf of a master account; pass the master's
address as ``account_address`` so info queries ask about the account, not the agent.

Rate limit: an exchange action weighs ``1 + floor(batch / 40)`` against the same 1200-per-minute
IP budget as info queries; it is taken from the :class:`~pfterm.core.venues.hyperliquid.rest.HyperliquidInfo`
limiter shared by this client.

Secrets: the private key stays inside the ``Signer``; request bodies are logged at DEBUG without
their signature, and error messages quote only the venue's text.

Sources:

* https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/exchange-endpoint
* https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/error-responses
* https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/nonces-and-api-wallets
* https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/rate-limits-and-user-limits
* ``docs/venues.md``, Hyperliquid "Exchange".
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
import orjson

from pfterm.core.market.models import MarketInfo, OpenOrder, OrderIntent, SpotBalance
from pfterm.core.venues.errors import retry_after_s
from pfterm.core.venues.hyperliquid import account
from pfterm.core.venues.hyperliquid.account import AccountState
from pfterm.core.venues.hyperliquid.orders import (
    Cloid,
    cancel_action,
    cancel_by_cloid_action,
    is_valid_price,
    is_valid_size,
    order_action,
    order_wire,
    schedule_cancel_action,
    update_leverage_action,
)
from pfterm.core.venues.hyperliquid.rest import HyperliquidInfo, VenueError, answer_weight, api_url_for, one_line
from pfterm.core.venues.hyperliquid.signing import NonceSource, Signer
from pfterm.core.venues.hyperliquid.wire import WireFormatError
from pfterm.core.venues.public_rest import request_capped
from pfterm.core.venues.records import Fill, FundingPayment

__all__ = [
    "CancelResult",
    "ExchangeError",
    "HyperliquidExchange",
    "OrderResult",
    "action_weight",
]

log = logging.getLogger(__name__)

_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_T = TypeVar("_T")


def action_weight(batch: int) -> int:
    """Rate-limit weight of one exchange action carrying ``batch`` orders or cancels: ``1 + batch // 40``.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/rate-limits-and-user-limits
    """
    return 1 + max(0, batch) // 40


class ExchangeError(VenueError):
    """An exchange request failed as a whole: ``{"status": "err"}``, HTTP error, transport
    failure, timeout or a malformed answer.

    ``str(err)`` is one line, e.g. ``"hyperliquid exchange order: User or API Wallet 0x… does not
    exist."``. ``outcome_unknown`` is ``True`` when the request may have reached the venue but no
    answer was read (timeout, dropped connection, 5xx): reconcile with :meth:`HyperliquidExchange.open_orders`
    or by cloid before resending. Per-order rejections are not errors; they are in
    :class:`OrderResult`/:class:`CancelResult`.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        outcome_unknown: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(
            message, status=status, retryable=retryable, outcome_unknown=outcome_unknown, retry_after_s=retry_after_s
        )


@dataclass(slots=True, frozen=True)
class OrderResult:
    """The venue's verdict on one order of a batch, in the batch's order.

    * ``status``: ``"resting"`` (on the book, or a trigger order waiting), ``"filled"`` (fully
      filled at once; an IOC's partial fill also reports ``filled`` with ``filled_sz`` < size),
      or ``"error"`` (rejected; ``error`` holds the venue's one-line reason);
    * ``oid``: venue order id (``None`` for errors and waiting trigger orders);
    * ``filled_sz`` base units and ``avg_px`` USD when filled, else ``None``;
    * ``cloid``: the client order id sent with the order.
    """

    cloid: str | None
    status: Literal["resting", "filled", "error"]
    oid: int | None = None
    filled_sz: float | None = None
    avg_px: float | None = None
    error: str | None = None


@dataclass(slots=True, frozen=True)
class CancelResult:
    """The venue's verdict on one cancel of a batch, in the batch's order.

    ``status`` ``"cancelled"`` or ``"error"`` (``error`` holds the venue's reason, e.g.
    ``"Order was never placed, already canceled, or filled."``); the order is named by
    ``asset`` and ``oid`` (cancel by oid) or ``cloid`` (cancel by client order id).
    """

    asset: int
    oid: int | None
    cloid: str | None
    status: Literal["cancelled", "error"]
    error: str | None = None


def _check_address(name: str, address: str) -> str:
    if not isinstance(address, str) or _ADDRESS_RE.fullmatch(address) is None:
        raise ValueError(f"{name} must be a 0x-prefixed 20-byte hex address")
    return address


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _order_result(cloid: str | None, entry: Any) -> OrderResult | None:
    """One ``statuses`` entry of an order answer, or ``None`` if it has no known shape."""
    if isinstance(entry, str):
        if entry in ("waitingForTrigger", "waitingForFill"):
            return OrderResult(cloid, "resting")
        return None
    if not isinstance(entry, Mapping):
        return None
    if "error" in entry:
        return OrderResult(cloid, "error", error=one_line(str(entry["error"])))
    if isinstance(resting := entry.get("resting"), Mapping):
        return OrderResult(cloid, "resting", oid=_int(resting.get("oid")))
    if isinstance(filled := entry.get("filled"), Mapping):
        return OrderResult(
            cloid,
            "filled",
            oid=_int(filled.get("oid")),
            filled_sz=_float(filled.get("totalSz")),
            avg_px=_float(filled.get("avgPx")),
        )
    return None


class HyperliquidExchange:
    """Async client for Hyperliquid's signed ``POST /exchange`` actions and the user's info queries.

    Every method raises :class:`ExchangeError` (a :class:`VenueError`) with a one-line message
    when the request as a whole fails, and ``ValueError``/``TypeError`` before sending anything
    when its arguments are invalid. Use as an async context manager or call :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str,
        signer: Signer,
        *,
        is_mainnet: bool,
        account_address: str | None = None,
        vault_address: str | None = None,
        info: HyperliquidInfo | None = None,
        nonces: NonceSource | None = None,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        """Create a client.

        :param base_url: REST base URL, ``"mainnet"``/``"testnet"`` or an ``http(s)`` URL.
        :param signer: the key that signs actions (the account's own key or an agent wallet's).
        :param is_mainnet: signs for mainnet (phantom-agent source ``"a"``) or testnet (``"b"``);
            must match ``base_url``'s network or the venue recovers a different signer.
        :param account_address: the master account's address when ``signer`` is an agent
            wallet; info queries use it. Defaults to ``signer.address``.
        :param vault_address: vault or sub-account to trade for (sent as ``vaultAddress``).
        :param info: info client whose weight limiter is shared; one is created otherwise.
        :param nonces: nonce source for ``signer``; share one per key across clients.
        :param client: existing ``httpx.AsyncClient`` (not closed by :meth:`aclose`).
        :param transport: transport for the owned client (tests).
        :param timeout_s: per-request timeout, seconds.
        :raises ValueError: malformed ``account_address``/``vault_address`` or ``base_url``.
        """
        if not isinstance(signer, Signer):
            raise TypeError("signer must be a Signer")
        self.base_url = api_url_for(base_url)
        self.exchange_url = self.base_url + "/exchange"
        self.is_mainnet = bool(is_mainnet)
        self._signer = signer
        self.account_address = _check_address(
            "account_address", account_address if account_address is not None else signer.address
        )
        self.vault_address = None if vault_address is None else _check_address("vault_address", vault_address)
        self._nonces = nonces if nonces is not None else NonceSource()
        self._timeout = httpx.Timeout(timeout_s)
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=self._timeout,
            transport=transport,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        self._owns_info = info is None
        self.info = info or HyperliquidInfo(self.base_url, timeout_s=timeout_s, client=self._client)

    @property
    def signer_address(self) -> str:
        """Address of the signing key (the agent's when trading through an API wallet)."""
        return self._signer.address

    def __repr__(self) -> str:
        return (
            f"HyperliquidExchange(base_url={self.base_url!r}, signer={self._signer.address}, "
            f"account={self.account_address}, mainnet={self.is_mainnet})"
        )

    async def __aenter__(self) -> HyperliquidExchange:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client and info client if this object created them."""
        if self._owns_info:
            await self.info.aclose()
        if self._owns_client:
            await self._client.aclose()

    # ----------------------------------------------------------------------- transport

    async def _post_action(self, action: dict[str, Any], batch: int) -> Any:
        """Sign ``action``, send it and return ``response`` of an ``ok`` answer.

        :raises ExchangeError: transport failure, timeout, HTTP ≥ 400, undecodable answer or
            ``{"status": "err"}``.
        """
        kind = str(action.get("type", "?"))
        label = f"hyperliquid exchange {kind}"
        await self.info.limiter.acquire(action_weight(batch))
        nonce = self._nonces.next()
        signature = self._signer.sign_l1_action(
            action, nonce_ms=nonce, vault_address=self.vault_address, is_mainnet=self.is_mainnet
        )
        unsigned = {"action": action, "nonce": nonce, "vaultAddress": self.vault_address, "expiresAfter": None}
        if log.isEnabledFor(logging.DEBUG):
            log.debug("POST %s %s", self.exchange_url, json.dumps(unsigned, separators=(",", ":")))
        body = {
            "action": action,
            "nonce": nonce,
            "signature": signature,
            "vaultAddress": self.vault_address,
            "expiresAfter": None,
        }
        try:
            response = await request_capped(
                self._client, "POST", self.exchange_url, label=label, json=body, timeout=self._timeout
            )
        except VenueError as exc:  # the answer's body: over the cap, corrupt or in an unknown encoding
            raise ExchangeError(str(exc), status=exc.status, outcome_unknown=True) from None
        except httpx.TimeoutException:
            raise ExchangeError(f"{label}: timed out after {self._timeout.read:g} s", outcome_unknown=True) from None
        except httpx.HTTPError as exc:
            sent = not isinstance(exc, httpx.ConnectError)
            raise ExchangeError(
                f"{label}: {type(exc).__name__}: {one_line(str(exc)) or 'connection failed'}",
                retryable=not sent,
                outcome_unknown=sent,
            ) from None
        if response.status >= 400:
            status = response.status
            text = one_line(response.text) if response.content else response.reason
            raise ExchangeError(
                f"{label}: HTTP {status}: {text}",
                status=status,
                retryable=status == 429,
                outcome_unknown=status >= 500,
                retry_after_s=retry_after_s(response.headers),
            )
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise ExchangeError(f"{label}: malformed answer: invalid JSON", outcome_unknown=True) from None
        if not isinstance(answer, Mapping):
            raise ExchangeError(f"{label}: malformed answer: expected an object", outcome_unknown=True)
        if answer.get("status") == "err":
            raise ExchangeError(f"{label}: {one_line(str(answer.get('response', 'error')))}")
        if answer.get("status") != "ok":
            raise ExchangeError(f"{label}: malformed answer: status is not ok/err", outcome_unknown=True)
        return answer.get("response")

    @staticmethod
    def _statuses(response: Any, kind: str, expected: int) -> list[Any]:
        label = f"hyperliquid exchange {kind}"
        data = response.get("data") if isinstance(response, Mapping) else None
        statuses = data.get("statuses") if isinstance(data, Mapping) else None
        if not isinstance(statuses, list):
            raise ExchangeError(f"{label}: malformed answer: no statuses", outcome_unknown=True)
        if len(statuses) != expected:
            raise ExchangeError(
                f"{label}: malformed answer: {len(statuses)} statuses for {expected} requests",
                outcome_unknown=True,
            )
        return statuses

    # ----------------------------------------------------------------------- actions

    async def place(self, orders: Sequence[OrderIntent], markets: Mapping[str, MarketInfo]) -> list[OrderResult]:
        """Send ``orders`` as one ``order`` action (grouping ``"na"``) and return one result per order.

        Each intent becomes :func:`~pfterm.core.venues.hyperliquid.orders.order_wire` ``(asset_id, is_buy,
        limit_px, size, reduce_only, tif, cloid)``; prices and sizes must already be on the
        market's tick and lot (checked here against ``markets[intent.symbol].sz_decimals``).

        :param orders: one or more :class:`OrderIntent` (limit orders, ``tif`` Gtc/Alo/Ioc).
        :param markets: market descriptions by symbol (``MarketInfo.symbol``).
        :returns: :class:`OrderResult` per order, in input order; rejected orders have
            ``status == "error"`` and the venue's reason.
        :raises ValueError: empty batch, unknown symbol, asset id not matching the market,
            off-tick price, off-lot size or malformed cloid (nothing is sent).
        :raises ExchangeError: the request as a whole failed, or the answer does not carry one
            status per order.
        """
        if not orders:
            raise ValueError("place needs at least one order")
        wires: list[dict[str, Any]] = []
        for index, intent in enumerate(orders):
            market = markets.get(intent.symbol)
            if market is None:
                raise ValueError(f"order {index}: unknown market {intent.symbol!r}")
            if market.asset_id != intent.asset_id:
                raise ValueError(
                    f"order {index}: asset id {intent.asset_id} does not match {intent.symbol} ({market.asset_id})"
                )
            if not is_valid_size(intent.size, market.sz_decimals):
                raise ValueError(f"order {index}: size {intent.size!r} is not on {intent.symbol}'s lot size")
            if not is_valid_price(intent.limit_px, market.sz_decimals):
                raise ValueError(f"order {index}: price {intent.limit_px!r} is not on {intent.symbol}'s tick")
            wires.append(
                order_wire(
                    intent.asset_id,
                    intent.is_buy,
                    intent.limit_px,
                    intent.size,
                    intent.reduce_only,
                    intent.tif,  # type: ignore[arg-type]  # validated by order_wire
                    Cloid.from_str(intent.cloid) if intent.cloid else None,
                )
            )
        action = order_action(wires)
        response = await self._post_action(action, len(wires))
        statuses = self._statuses(response, "order", len(wires))
        results: list[OrderResult] = []
        for wire_order, entry in zip(wires, statuses, strict=True):
            cloid = wire_order.get("c")
            result = _order_result(cloid, entry)
            if result is None:
                result = OrderResult(cloid, "error", error="unrecognized order status from venue")
            results.append(result)
        return results

    async def _cancel(
        self, action: dict[str, Any], keys: Sequence[tuple[int, int | None, str | None]]
    ) -> list[CancelResult]:
        response = await self._post_action(action, len(keys))
        statuses = self._statuses(response, action["type"], len(keys))
        results: list[CancelResult] = []
        for (asset, oid, cloid), entry in zip(keys, statuses, strict=True):
            if entry == "success":
                results.append(CancelResult(asset, oid, cloid, "cancelled"))
            elif isinstance(entry, Mapping) and "error" in entry:
                results.append(CancelResult(asset, oid, cloid, "error", one_line(str(entry["error"]))))
            else:
                results.append(CancelResult(asset, oid, cloid, "error", "unrecognized cancel status from venue"))
        return results

    async def cancel(self, cancels: Sequence[tuple[int, int]]) -> list[CancelResult]:
        """Cancel orders by ``(asset, oid)`` in one ``cancel`` action.

        :returns: one :class:`CancelResult` per pair, in input order.
        :raises ValueError, TypeError: empty input or malformed pairs (nothing is sent).
        :raises ExchangeError: the request as a whole failed.
        """
        pairs = [(asset, oid) for asset, oid in cancels]
        action = cancel_action(pairs)
        return await self._cancel(action, [(asset, oid, None) for asset, oid in pairs])

    async def cancel_by_cloid(self, cancels: Sequence[tuple[int, Cloid | str]]) -> list[CancelResult]:
        """Cancel orders by ``(asset, cloid)`` in one ``cancelByCloid`` action.

        :returns: one :class:`CancelResult` per pair, in input order (``cloid`` lowercased).
        :raises ValueError, TypeError: empty input or malformed pairs (nothing is sent).
        :raises ExchangeError: the request as a whole failed.
        """
        action = cancel_by_cloid_action(list(cancels))
        keys = [(entry["asset"], None, entry["cloid"]) for entry in action["cancels"]]
        return await self._cancel(action, keys)

    async def update_leverage(self, asset: int, leverage: int, is_cross: bool = True) -> None:
        """Set ``asset``'s leverage (integer multiple) and margin mode (cross or isolated).

        :raises ValueError, TypeError: invalid arguments (nothing is sent).
        :raises ExchangeError: the venue refused (e.g. above ``maxLeverage``) or the request failed.
        """
        await self._post_action(update_leverage_action(asset, is_cross, leverage), 1)

    async def schedule_cancel(self, time_ms: int | None) -> None:
        """Arm the dead man's switch: cancel every open order at ``time_ms`` (ms since the epoch).

        ``None`` disarms it. The venue requires ``time_ms`` at least 5 s ahead and allows 10
        triggers per day; a refusal is raised.

        :raises ValueError, TypeError: invalid ``time_ms`` (nothing is sent).
        :raises ExchangeError: the venue refused or the request failed.
        """
        await self._post_action(schedule_cancel_action(time_ms), 1)

    # ----------------------------------------------------------------------- info (master address)

    async def _info(self, body: dict[str, Any], parse: Callable[[Any], _T]) -> _T:
        try:
            raw = await self.info.post_info(body)
        except VenueError as exc:
            raise ExchangeError(
                str(exc), status=exc.status, retryable=exc.retryable, retry_after_s=exc.retry_after_s
            ) from None
        try:
            return parse(raw)
        except (WireFormatError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, WireFormatError) else "invalid item"
            raise ExchangeError(f"hyperliquid info {body['type']}: malformed answer: {reason}") from None

    async def account_state(self) -> AccountState:
        """``clearinghouseState`` (weight 2) of the master account: equity, margin and positions.

        :raises ExchangeError: on any failure.
        """
        return await self._info(
            {"type": "clearinghouseState", "user": self.account_address}, account.parse_clearinghouse_state
        )

    async def spot_balances(self) -> list[SpotBalance]:
        """``spotClearinghouseState`` (weight 2) of the master account: spot token balances
        (``total`` in token units, held amounts included).

        :raises ExchangeError: on any failure.
        """
        return await self._info(
            {"type": "spotClearinghouseState", "user": self.account_address},
            account.parse_spot_clearinghouse_state,
        )

    async def spot_meta(self) -> list[account.SpotPairInfo]:
        """``spotMeta`` (weight 20): the spot pairs, with ``asset_id = 10000 + index``.

        :raises ExchangeError: on any failure.
        """
        return await self._info({"type": "spotMeta"}, account.parse_spot_meta)

    async def open_orders(self) -> list[OpenOrder]:
        """``frontendOpenOrders`` (weight 20) of the master account, with reduce-only flags and cloids.

        :raises ExchangeError: on any failure.
        """
        return await self._info({"type": "frontendOpenOrders", "user": self.account_address}, account.parse_open_orders)

    async def user_fills(self) -> list[Fill]:
        """``userFills`` (weight 20 + 1 per 20 rows): the master account's most recent fills (≤ 2000).

        :raises ExchangeError: on any failure.
        """
        fills = await self._info(
            {"type": "userFills", "user": self.account_address},
            lambda raw: [Fill.from_hyperliquid(_mapping_item(item)) for item in _json_list(raw)],
        )
        self.info.limiter.charge(answer_weight("userFills", len(fills)))
        return fills

    async def user_funding(self, start_ms: int, end_ms: int | None = None) -> list[FundingPayment]:
        """``userFunding`` (weight 20 + 1 per 20 rows): funding settlements from ``start_ms`` to
        ``end_ms`` (ms, inclusive; now when ``None``), ``usdc`` positive when received.

        :raises ExchangeError: on any failure.
        """
        body: dict[str, Any] = {"type": "userFunding", "user": self.account_address, "startTime": int(start_ms)}
        if end_ms is not None:
            body["endTime"] = int(end_ms)
        payments = await self._info(
            body, lambda raw: [FundingPayment.from_hyperliquid(_mapping_item(item)) for item in _json_list(raw)]
        )
        self.info.limiter.charge(answer_weight("userFunding", len(payments)))
        return payments


def _json_list(raw: bytes) -> list[Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        raise WireFormatError("invalid JSON") from None
    if not isinstance(data, list):
        raise WireFormatError("expected a list")
    return data


def _mapping_item(item: Any) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise WireFormatError("expected a list of objects")
    return item
