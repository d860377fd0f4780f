"""Hyperliquid request signing: L1 actions, user-signed actions, nonces and the signer.

Every ``POST /exchange`` body carries ``{action, nonce, signature{r,s,v}, vaultAddress,
expiresAfter}``. Two signature schemes exist:

* **L1 actions** (orders, cancels, leverage, ``scheduleCancel``, sub-account actions …):
  the action is msgpack-encoded and hashed together with the nonce, the vault flag and the
  optional expiry (:func:`action_hash`). That hash becomes ``connectionId`` of a *phantom
  agent* ``Agent{source: string, connectionId: bytes32}`` with ``source`` ``"a"`` on mainnet and
  ``"b"`` on testnet, signed as EIP-712 typed data in the domain
  ``{name: "Exchange", version: "1", chainId: 1337, verifyingContract: 0x0…0}``.
* **User-signed actions** (``usdSend``, ``withdraw3``, ``approveAgent`` …): the action's own
  fields are EIP-712 typed data of type ``HyperliquidTransaction:<Name>`` in the domain
  ``{name: "HyperliquidSignTransaction", version: "1", chainId: <signatureChainId>,
  verifyingContract: 0x0…0}``; the action carries ``signatureChainId`` and
  ``hyperliquidChain`` (``"Mainnet"``/``"Testnet"``) so it cannot be replayed across networks.

Hashing uses ``msgpack`` and keccak-256 from ``eth-utils``; EIP-712 encoding, signing and
recovery use ``eth-account``. Nothing here is hand-rolled cryptography.

Units: nonces and expiries are integer milliseconds since the Unix epoch; numbers inside
actions are decimal strings (see :func:`pfterm.core.venues.hyperliquid.orders.float_to_wire`) or
integers (see :func:`float_to_int_for_hashing`), never floats.

Private keys never appear in reprs, logs or exception messages.

Sources:

* https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/signing
* https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/nonces-and-api-wallets
* https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/exchange-endpoint
* ``docs/venues.md``, Hyperliquid "Exchange"; the official SDK's test vectors in
  ``fixtures/hyperliquid/signing_vectors*.json``.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, Final, TypedDict

import msgpack
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

__all__ = [
    "DEFAULT_SIGNATURE_CHAIN_ID",
    "L1_DOMAIN",
    "USD_SEND_TYPES",
    "WITHDRAW_TYPES",
    "NonceSource",
    "Signature",
    "Signer",
    "action_hash",
    "float_to_int",
    "float_to_int_for_hashing",
    "l1_typed_data",
    "phantom_agent",
    "recover_l1_signer",
    "recover_user_signed_signer",
    "sign_l1_action",
    "sign_user_signed_action",
    "user_signed_typed_data",
]


class Signature(TypedDict):
    """An ECDSA signature as Hyperliquid's ``/exchange`` body carries it.

    ``r`` and ``s`` are ``0x``-prefixed lowercase hex without zero padding (the official SDK's
    spelling, so they may be shorter than 64 digits: compare them as integers); ``v`` is 27 or 28.
    """

    r: str
    s: str
    v: int


_ZERO_ADDRESS: Final = "0x0000000000000000000000000000000000000000"

_EIP712_DOMAIN_TYPE: Final = (
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
)

L1_DOMAIN: Final[Mapping[str, Any]] = {
    "name": "Exchange",
    "version": "1",
    "chainId": 1337,
    "verifyingContract": _ZERO_ADDRESS,
}
"""EIP-712 domain of L1 actions (the phantom agent), identical on mainnet and testnet."""

_AGENT_TYPE: Final = (
    {"name": "source", "type": "string"},
    {"name": "connectionId", "type": "bytes32"},
)

_USER_SIGNED_DOMAIN_NAME: Final = "HyperliquidSignTransaction"

DEFAULT_SIGNATURE_CHAIN_ID: Final = 0x66EEE
"""Chain id (421614, Arbitrum Sepolia) put in ``signatureChainId`` of user-signed actions.

It only names the chain the wallet signed for; the network is chosen by ``hyperliquidChain``.
It is the value the official SDK uses on both networks.
"""

USD_SEND_TYPES: Final[tuple[Mapping[str, str], ...]] = (
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "destination", "type": "string"},
    {"name": "amount", "type": "string"},
    {"name": "time", "type": "uint64"},
)
"""EIP-712 fields of ``HyperliquidTransaction:UsdSend`` (``amount`` a USD decimal string, ``time`` ms)."""

WITHDRAW_TYPES: Final[tuple[Mapping[str, str], ...]] = USD_SEND_TYPES
"""EIP-712 fields of ``HyperliquidTransaction:Withdraw`` (same shape as ``UsdSend``)."""

_U64_LIMIT: Final = 1 << 64
_SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_ADDRESS_RE: Final = re.compile(r"0x[0-9a-fA-F]{40}")
_PRIVATE_KEY_RE: Final = re.compile(r"(?:0x)?[0-9a-fA-F]{64}")
_HEX_RE: Final = re.compile(r"0x[0-9a-fA-F]{1,64}")


# --------------------------------------------------------------------------- numbers


def float_to_int(x: float | int | Decimal, decimals: int) -> int:
    """Scale ``x`` by ``10**decimals`` to an integer, refusing to lose precision.

    The result is ``round(x * 10**decimals)``, computed on the exact value of ``x`` (so
    ``float_to_int(123123123123.0, 8)`` is exactly ``12312312312300000000``). Like the official
    SDK, a residue below ``1e-3`` of a unit after scaling is tolerated (it is float noise: ``1.033``
    is stored as ``1.03299999999999991…``); anything larger is a real loss.

    Raises:
        TypeError: ``x`` is not an ``int``, ``float`` or ``Decimal`` (``bool`` is refused).
        ValueError: ``x`` is NaN or infinite, ``decimals`` is negative, or scaling would drop
            a significant digit (e.g. ``1.2312312e-05`` at 8 decimals).
    """
    if isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0:
        raise ValueError(f"decimals must be a non-negative int, got {decimals!r}")
    if isinstance(x, bool) or not isinstance(x, (int, float, Decimal)):
        raise TypeError(f"expected int, float or Decimal, got {type(x).__name__}")
    if isinstance(x, int):
        return x * 10**decimals
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"cannot scale non-finite value {x!r}")
    exact = Decimal(x)
    if not exact.is_finite():
        raise ValueError(f"cannot scale non-finite value {x!r}")
    with localcontext() as ctx:
        ctx.prec = max(64, len(exact.as_tuple().digits) + decimals + 8)
        scaled = exact.scaleb(decimals)
        rounded = scaled.to_integral_value(rounding=ROUND_HALF_EVEN)
        if abs(rounded - scaled) >= Decimal("0.001"):
            raise ValueError(f"{x!r} has more than {decimals} decimals; scaling it would lose precision")
    return int(rounded)


def float_to_int_for_hashing(x: float | int | Decimal) -> int:
    """``x`` as an integer count of ``1e-8`` units, the form hashed actions use for amounts.

    Example: ``1.033`` → ``103300000``; ``1.231e-05`` → ``1231``. See :func:`float_to_int`
    for the tolerance and the errors raised (``ValueError`` if ``x`` has more than 8 decimals).
    Source: the official SDK's ``float_to_int_for_hashing`` and its test vectors.
    """
    return float_to_int(x, 8)


# --------------------------------------------------------------------------- hashing


def _check_u64(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int (milliseconds), got {type(value).__name__}")
    if not 0 <= value < _U64_LIMIT:
        raise ValueError(f"{name} must fit in an unsigned 64-bit integer, got {value}")
    return value


def _address_bytes(name: str, address: object) -> bytes:
    if not isinstance(address, str) or _ADDRESS_RE.fullmatch(address) is None:
        raise ValueError(f"{name} must be a 0x-prefixed 20-byte hex address, got {address!r}")
    return bytes.fromhex(address[2:])


def _reject_floats(value: object, path: str) -> None:
    if isinstance(value, float):
        raise ValueError(
            f"action field {path} is a float ({value!r}); Hyperliquid hashes decimal strings "
            "(float_to_wire) or integers (float_to_int_for_hashing)"
        )
    if isinstance(value, Mapping):
        for key, item in value.items():
            _reject_floats(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _reject_floats(item, f"{path}[{index}]")


def action_hash(
    action: Mapping[str, Any],
    vault_address: str | None,
    nonce_ms: int,
    expires_after_ms: int | None,
) -> bytes:
    """The 32-byte keccak-256 digest that identifies an L1 action (the phantom agent's ``connectionId``).

    Hashed bytes: ``msgpack(action)`` ‖ ``nonce_ms`` as 8 bytes big-endian ‖ ``0x00`` if there is
    no vault, else ``0x01`` ‖ the vault's 20 address bytes ‖ (only if ``expires_after_ms`` is set)
    ``0x00`` ‖ ``expires_after_ms`` as 8 bytes big-endian.

    ``action`` is encoded as given, so **dict key order matters** (order wires are
    ``a, b, p, s, r, t, c``) and integers must stay integers. Floats are refused because their
    encoding would not match what the exchange re-encodes from the JSON body.

    Args:
        action: the action dict exactly as it will be sent (``{"type": …, …}``).
        vault_address: ``0x``-prefixed vault or sub-account address the action is for, or ``None``.
        nonce_ms: the request nonce, ms since the epoch (unsigned 64-bit).
        expires_after_ms: optional expiry, ms since the epoch (unsigned 64-bit), or ``None``.

    Raises:
        TypeError: ``action`` is not a mapping, or a nonce/expiry is not an ``int``.
        ValueError: a float inside ``action``, a malformed vault address, or a nonce/expiry
            outside ``[0, 2**64)``.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/signing
    """
    if not isinstance(action, Mapping):
        raise TypeError(f"action must be a mapping, got {type(action).__name__}")
    _reject_floats(action, "action")
    data = bytearray(msgpack.packb(dict(action) if not isinstance(action, dict) else action))
    data += _check_u64("nonce_ms", nonce_ms).to_bytes(8, "big")
    if vault_address is None:
        data += b"\x00"
    else:
        data += b"\x01" + _address_bytes("vault_address", vault_address)
    if expires_after_ms is not None:
        data += b"\x00" + _check_u64("expires_after_ms", expires_after_ms).to_bytes(8, "big")
    return keccak(bytes(data))


def phantom_agent(connection_id: bytes, is_mainnet: bool) -> dict[str, Any]:
    """The EIP-712 ``Agent`` message for an action hash: ``{"source": "a"|"b", "connectionId": bytes}``.

    Raises:
        ValueError: ``connection_id`` is not 32 bytes.
    """
    if not isinstance(connection_id, (bytes, bytearray)) or len(connection_id) != 32:
        raise ValueError("connection_id must be 32 bytes")
    return {"source": "a" if is_mainnet else "b", "connectionId": bytes(connection_id)}


def l1_typed_data(connection_id: bytes, is_mainnet: bool) -> dict[str, Any]:
    """Full EIP-712 typed-data document (``domain``, ``types``, ``primaryType``, ``message``) of an L1 action.

    Raises:
        ValueError: ``connection_id`` is not 32 bytes.
    """
    return {
        "domain": dict(L1_DOMAIN),
        "types": {"EIP712Domain": list(_EIP712_DOMAIN_TYPE), "Agent": list(_AGENT_TYPE)},
        "primaryType": "Agent",
        "message": phantom_agent(connection_id, is_mainnet),
    }


def _l1_signable(
    action: Mapping[str, Any],
    nonce_ms: int,
    vault_address: str | None,
    expires_after_ms: int | None,
    is_mainnet: bool,
) -> SignableMessage:
    digest = action_hash(action, vault_address, nonce_ms, expires_after_ms)
    return encode_typed_data(full_message=l1_typed_data(digest, is_mainnet))


def _signature_dict(signed: Any) -> Signature:
    return {"r": hex(signed.r), "s": hex(signed.s), "v": int(signed.v)}


def sign_l1_action(
    account: LocalAccount,
    action: Mapping[str, Any],
    *,
    nonce_ms: int,
    vault_address: str | None = None,
    expires_after_ms: int | None = None,
    is_mainnet: bool = True,
) -> Signature:
    """Sign an L1 action (order, cancel, ``updateLeverage`` …) for ``POST /exchange``.

    Args:
        account: an ``eth_account`` ``LocalAccount`` (the trading wallet or an API/agent wallet).
        action: the action exactly as it will be sent; see :func:`action_hash` for its rules.
        nonce_ms: the request's nonce, ms since the epoch; must also be sent as ``nonce``.
        vault_address: vault or sub-account acted for (sent as ``vaultAddress``), or ``None``.
        expires_after_ms: optional expiry (sent as ``expiresAfter``), ms since the epoch.
        is_mainnet: ``True`` signs for mainnet (source ``"a"``), ``False`` for testnet (``"b"``).

    Returns:
        ``{"r": "0x…", "s": "0x…", "v": 27|28}`` (see :class:`Signature`).

    Raises:
        TypeError, ValueError: as :func:`action_hash`.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/signing
    """
    signable = _l1_signable(action, nonce_ms, vault_address, expires_after_ms, is_mainnet)
    return _signature_dict(account.sign_message(signable))


def _parse_signature(signature: Mapping[str, Any]) -> tuple[int, int, int]:
    try:
        r_raw, s_raw, v_raw = signature["r"], signature["s"], signature["v"]
    except (KeyError, TypeError):
        raise ValueError("signature must be a mapping with r, s and v") from None
    parts: list[int] = []
    for name, raw in (("r", r_raw), ("s", s_raw)):
        if isinstance(raw, str) and _HEX_RE.fullmatch(raw):
            value = int(raw, 16)
        elif isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        else:
            raise ValueError(f"signature {name} must be 0x-prefixed hex of at most 32 bytes")
        if not 0 < value < _SECP256K1_N:
            raise ValueError(f"signature {name} is out of range")
        parts.append(value)
    if isinstance(v_raw, bool) or v_raw not in (27, 28):
        raise ValueError("signature v must be 27 or 28")
    return int(v_raw), parts[0], parts[1]


def _recover(signable: SignableMessage, signature: Mapping[str, Any]) -> str:
    vrs = _parse_signature(signature)
    try:
        return str(Account.recover_message(signable, vrs=vrs))
    except Exception as exc:  # eth-account raises several types for unrecoverable signatures
        raise ValueError(f"signature cannot be recovered: {type(exc).__name__}") from None


def recover_l1_signer(
    action: Mapping[str, Any],
    signature: Mapping[str, Any],
    *,
    nonce_ms: int,
    vault_address: str | None,
    expires_after_ms: int | None,
    is_mainnet: bool,
) -> str:
    """The checksummed address that produced ``signature`` over this L1 action.

    Any change to the action, nonce, vault, expiry or network yields a different (unrelated)
    address rather than an error, so callers verify by comparing with the expected signer.

    Args:
        action, nonce_ms, vault_address, expires_after_ms, is_mainnet: as :func:`sign_l1_action`.
        signature: ``{"r", "s", "v"}`` with ``r``/``s`` as ``0x`` hex (any padding) or ints.

    Raises:
        TypeError, ValueError: as :func:`action_hash`; ``ValueError`` also for a malformed or
            unrecoverable signature.
    """
    signable = _l1_signable(action, nonce_ms, vault_address, expires_after_ms, is_mainnet)
    return _recover(signable, signature)


# --------------------------------------------------------------------------- user-signed actions


def _check_payload_types(payload_types: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    fields: list[dict[str, str]] = []
    for item in payload_types:
        try:
            fields.append({"name": str(item["name"]), "type": str(item["type"])})
        except (KeyError, TypeError):
            raise ValueError("payload_types entries must be {'name': …, 'type': …}") from None
    if not fields:
        raise ValueError("payload_types must not be empty")
    return fields


def user_signed_typed_data(
    action: Mapping[str, Any],
    payload_types: Sequence[Mapping[str, str]],
    primary_type: str,
) -> dict[str, Any]:
    """Full EIP-712 typed-data document of a user-signed action that already carries ``signatureChainId``.

    The domain's ``chainId`` is ``int(action["signatureChainId"], 16)``; the message holds only
    the fields named in ``payload_types`` (other action keys such as ``type`` are not signed).

    Raises:
        ValueError: ``signatureChainId`` missing or not hex, a typed field missing from
            ``action``, or malformed ``payload_types``.
    """
    fields = _check_payload_types(payload_types)
    chain_id_raw = action.get("signatureChainId")
    if not isinstance(chain_id_raw, str) or re.fullmatch(r"0x[0-9a-fA-F]+", chain_id_raw) is None:
        raise ValueError("action.signatureChainId must be a 0x-prefixed hex chain id")
    missing = [f["name"] for f in fields if f["name"] not in action]
    if missing:
        raise ValueError(f"action lacks typed field(s): {', '.join(missing)}")
    return {
        "domain": {
            "name": _USER_SIGNED_DOMAIN_NAME,
            "version": "1",
            "chainId": int(chain_id_raw, 16),
            "verifyingContract": _ZERO_ADDRESS,
        },
        "types": {"EIP712Domain": list(_EIP712_DOMAIN_TYPE), primary_type: fields},
        "primaryType": primary_type,
        "message": {f["name"]: action[f["name"]] for f in fields},
    }


def sign_user_signed_action(
    account: LocalAccount,
    action: Mapping[str, Any],
    *,
    payload_types: Sequence[Mapping[str, str]],
    primary_type: str,
    is_mainnet: bool,
    signature_chain_id: int = DEFAULT_SIGNATURE_CHAIN_ID,
) -> tuple[dict[str, Any], Signature]:
    """Sign a user-signed action (``usdSend``, ``withdraw3`` …) with the account's own key.

    ``action`` is not modified. The returned action is a copy with ``signatureChainId``
    (``hex(signature_chain_id)``, e.g. ``"0x66eee"``) and ``hyperliquidChain`` (``"Mainnet"`` or
    ``"Testnet"``) set; **send that copy**, since the signature covers those values.
    ``expiresAfter`` must not be sent with user-signed actions.

    Args:
        account: an ``eth_account`` ``LocalAccount``; agent wallets cannot sign these.
        action: e.g. ``{"type": "usdSend", "destination": "0x…", "amount": "1", "time": ms}``.
        payload_types: the EIP-712 fields, e.g. :data:`USD_SEND_TYPES`.
        primary_type: e.g. ``"HyperliquidTransaction:UsdSend"``.
        is_mainnet: selects ``hyperliquidChain``.
        signature_chain_id: EIP-712 domain chain id; defaults to :data:`DEFAULT_SIGNATURE_CHAIN_ID`.

    Returns:
        ``(action_to_send, signature)``.

    Raises:
        ValueError: as :func:`user_signed_typed_data`, or a non-positive ``signature_chain_id``.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/signing
    """
    if isinstance(signature_chain_id, bool) or not isinstance(signature_chain_id, int) or signature_chain_id <= 0:
        raise ValueError("signature_chain_id must be a positive int")
    to_send = dict(action)
    to_send["signatureChainId"] = hex(signature_chain_id)
    to_send["hyperliquidChain"] = "Mainnet" if is_mainnet else "Testnet"
    signable = encode_typed_data(full_message=user_signed_typed_data(to_send, payload_types, primary_type))
    return to_send, _signature_dict(account.sign_message(signable))


def recover_user_signed_signer(
    action: Mapping[str, Any],
    signature: Mapping[str, Any],
    *,
    payload_types: Sequence[Mapping[str, str]],
    primary_type: str,
) -> str:
    """The checksummed address that signed a user-signed action (as sent, with ``signatureChainId``).

    Raises:
        ValueError: as :func:`user_signed_typed_data`, or a malformed/unrecoverable signature.
    """
    signable = encode_typed_data(full_message=user_signed_typed_data(action, payload_types, primary_type))
    return _recover(signable, signature)


# --------------------------------------------------------------------------- signer and nonces


def _account_from_hex(private_key: object) -> tuple[LocalAccount | None, str]:
    """``(account, "")`` for a valid hex key, else ``(None, reason)``; the reason never quotes the key."""
    if not isinstance(private_key, str):
        return None, "private key must be a hex string"
    text = private_key.strip()
    if _PRIVATE_KEY_RE.fullmatch(text) is None:
        return None, "private key must be 64 hex digits, optionally prefixed with 0x"
    if text[:2] == "0x":
        text = text[2:]
    if not 0 < int(text, 16) < _SECP256K1_N:
        return None, "private key is not a valid secp256k1 key"
    try:
        return Account.from_key("0x" + text), ""
    except Exception:  # eth-account/eth-keys error types vary by version
        return None, "private key was rejected by eth-account"


class Signer:
    """A Hyperliquid signing key: its address and the two signing schemes, and nothing that leaks it.

    Built from a hex private key (64 hex digits, optional ``0x`` prefix, surrounding whitespace
    ignored). The key is never part of ``repr``/``str``, of an exception message, or of a pickle
    (pickling and copying are refused). ``address`` is the checksummed address: for an API
    (agent) wallet it is the agent's address, not the master account whose state is queried.

    Raises:
        ValueError: the key is not a string of 64 hex digits or is not a valid secp256k1 scalar.
            The message never repeats the input.
    """

    __slots__ = ("_account", "_address")

    def __init__(self, private_key: str) -> None:
        # The key leaves this frame's locals before any error is raised, so tracebacks that
        # render local variables cannot show it.
        account, problem = _account_from_hex(private_key)
        del private_key
        if account is None:
            raise ValueError(problem)
        self._account: LocalAccount = account
        self._address: str = str(account.address)

    @classmethod
    def generate(cls) -> Signer:
        """A signer for a fresh random key (tests, the simulator, new agent wallets)."""
        account = Account.create()
        signer = cls.__new__(cls)
        signer._account = account
        signer._address = str(account.address)
        return signer

    @property
    def address(self) -> str:
        """The signing address, EIP-55 checksummed (``0x`` + 40 hex digits)."""
        return self._address

    def sign_l1_action(
        self,
        action: Mapping[str, Any],
        *,
        nonce_ms: int,
        vault_address: str | None = None,
        expires_after_ms: int | None = None,
        is_mainnet: bool = True,
    ) -> Signature:
        """:func:`sign_l1_action` with this key."""
        return sign_l1_action(
            self._account,
            action,
            nonce_ms=nonce_ms,
            vault_address=vault_address,
            expires_after_ms=expires_after_ms,
            is_mainnet=is_mainnet,
        )

    def sign_user_signed_action(
        self,
        action: Mapping[str, Any],
        *,
        payload_types: Sequence[Mapping[str, str]],
        primary_type: str,
        is_mainnet: bool,
        signature_chain_id: int = DEFAULT_SIGNATURE_CHAIN_ID,
    ) -> tuple[dict[str, Any], Signature]:
        """:func:`sign_user_signed_action` with this key; returns ``(action_to_send, signature)``."""
        return sign_user_signed_action(
            self._account,
            action,
            payload_types=payload_types,
            primary_type=primary_type,
            is_mainnet=is_mainnet,
            signature_chain_id=signature_chain_id,
        )

    def __repr__(self) -> str:
        return f"Signer(address={self._address})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Signer holds a private key and cannot be pickled or copied")


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class NonceSource:
    """Strictly increasing millisecond nonces for one signer.

    Each :meth:`next` returns the clock's current time in ms, or ``last + 1`` if the clock has
    not advanced past the previous nonce (several requests in one millisecond, or the clock
    stepped backwards). A lock makes it safe from several threads and, trivially, from many
    tasks of one event loop.

    Hyperliquid keeps the 100 highest nonces per signer; a new nonce must exceed the smallest of
    them, must not repeat, and must lie within ``(T - 2 days, T + 1 day)`` of the block time
    ``T``. Bursts above 1000 requests per second run ahead of the clock, which the window absorbs.
    Use one source per signing key (API wallets have their own nonce sets).

    Args:
        clock_ms: returns the current time in integer ms since the epoch; defaults to the
            system wall clock.
        last: a nonce already used; every nonce handed out will be greater.

    Source: https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/nonces-and-api-wallets
    """

    __slots__ = ("_clock", "_last", "_lock")

    def __init__(self, clock_ms: Callable[[], int] | None = None, *, last: int = 0) -> None:
        self._clock: Callable[[], int] = clock_ms if clock_ms is not None else _wall_clock_ms
        self._last = _check_u64("last", last)
        self._lock = threading.Lock()

    @property
    def last(self) -> int:
        """The most recent nonce handed out (or the initial ``last``), ms."""
        return self._last

    def next(self) -> int:
        """The next nonce, ms since the epoch; strictly greater than every earlier one."""
        with self._lock:
            now = int(self._clock())
            nonce = now if now > self._last else self._last + 1
            self._last = nonce
            return nonce

    def observe(self, nonce_ms: int) -> None:
        """Record a nonce used elsewhere with the same key, so later nonces exceed it."""
        _check_u64("nonce_ms", nonce_ms)
        with self._lock:
            if nonce_ms > self._last:
                self._last = nonce_ms

    def __repr__(self) -> str:
        return f"NonceSource(last={self._last})"
