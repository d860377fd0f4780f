"""Hyperliquid signing against the official SDK's vectors, signer recovery, key hygiene and nonces."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import pickle
import threading
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from pfterm.core.venues.hyperliquid.signing import (
    DEFAULT_SIGNATURE_CHAIN_ID,
    USD_SEND_TYPES,
    WITHDRAW_TYPES,
    NonceSource,
    Signer,
    action_hash,
    float_to_int,
    float_to_int_for_hashing,
    l1_typed_data,
    recover_l1_signer,
    recover_user_signed_signer,
    sign_l1_action,
    sign_user_signed_action,
)
from tests.fixture_files import FIXTURES

HL = FIXTURES / "hyperliquid"

# The SDK's public test key (never funded) and its address.
TEST_KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
TEST_ADDRESS = Account.from_key(TEST_KEY).address


def _load(name: str) -> Any:
    return json.loads((HL / name).read_text())


L1_VECTORS: list[dict[str, Any]] = _load("signing_vectors.json")
EXTRA: dict[str, Any] = _load("signing_vectors_extra.json")


def _same_signature(got: dict[str, Any], expected: dict[str, Any]) -> bool:
    return (
        int(got["r"], 16) == int(expected["r"], 16)
        and int(got["s"], 16) == int(expected["s"], 16)
        and got["v"] == expected["v"]
    )


@pytest.fixture(scope="module")
def account() -> Any:
    return Account.from_key(TEST_KEY)


ORDER_ACTION = {
    "type": "order",
    "orders": [{"a": 4, "b": True, "p": "1670.1", "s": "0.0147", "r": False, "t": {"limit": {"tif": "Ioc"}}}],
    "grouping": "na",
}


# --------------------------------------------------------------------------- official vectors


def test_vector_files_are_complete() -> None:
    assert len(L1_VECTORS) == 18
    assert len(EXTRA["action_hash_vectors"]) == 1
    assert len(EXTRA["user_signed_action_vectors"]) == 2


@pytest.mark.parametrize("vector", L1_VECTORS, ids=[v["name"] for v in L1_VECTORS])
def test_l1_vectors(vector: dict[str, Any]) -> None:
    account = Account.from_key(vector["private_key"])
    signature = sign_l1_action(
        account,
        vector["action"],
        nonce_ms=vector["nonce"],
        vault_address=vector["vault_address"],
        expires_after_ms=vector["expires_after"],
        is_mainnet=vector["is_mainnet"],
    )
    assert _same_signature(signature, vector["expected"]), vector["name"]
    assert signature["r"].startswith("0x") and signature["s"].startswith("0x")
    # The vector's expected signature recovers the key's address.
    recovered = recover_l1_signer(
        vector["action"],
        vector["expected"],
        nonce_ms=vector["nonce"],
        vault_address=vector["vault_address"],
        expires_after_ms=vector["expires_after"],
        is_mainnet=vector["is_mainnet"],
    )
    assert recovered == account.address


@pytest.mark.parametrize("vector", EXTRA.get("action_hash_vectors", []), ids=lambda v: v["name"])
def test_action_hash_vectors(vector: dict[str, Any]) -> None:
    digest = action_hash(vector["action"], vector["vault_address"], vector["nonce"], vector["expires_after"])
    assert "0x" + digest.hex() == vector["expected"]["connection_id"]
    typed = l1_typed_data(digest, vector["is_mainnet"])
    assert typed["message"]["source"] == vector["expected"]["phantom_agent_source"]


def test_l1_domain_matches_fixture() -> None:
    domain = EXTRA["l1_signing_domain"]
    typed = l1_typed_data(b"\x00" * 32, True)
    assert typed["domain"] == {k: domain[k] for k in ("name", "version", "chainId", "verifyingContract")}
    assert typed["primaryType"] == domain["primaryType"]
    assert typed["types"]["Agent"] == domain["types"]["Agent"]
    assert l1_typed_data(b"\x00" * 32, False)["message"]["source"] == "b"


@pytest.mark.parametrize("vector", EXTRA.get("user_signed_action_vectors", []), ids=lambda v: v["name"])
def test_user_signed_vectors(vector: dict[str, Any]) -> None:
    account = Account.from_key(vector["private_key"])
    kind = vector["primary_type"].split(":")[1]
    action = {"type": {"UsdSend": "usdSend", "Withdraw": "withdraw3"}[kind], **vector["message_literal_in_test"]}
    original = dict(action)
    sent, signature = sign_user_signed_action(
        account,
        action,
        payload_types=vector["sign_types"],
        primary_type=vector["primary_type"],
        is_mainnet=vector["is_mainnet"],
    )
    assert _same_signature(signature, vector["expected"])
    assert action == original, "the caller's action is not modified"
    for key, value in vector["fields_added_by_sdk"].items():
        assert sent[key] == value
    assert int(sent["signatureChainId"], 16) == vector["domain"]["chainId"] == DEFAULT_SIGNATURE_CHAIN_ID
    assert list(vector["sign_types"]) == list(USD_SEND_TYPES) == list(WITHDRAW_TYPES)
    signer = recover_user_signed_signer(
        sent, vector["expected"], payload_types=vector["sign_types"], primary_type=vector["primary_type"]
    )
    assert signer == account.address
    # Replaying on mainnet or to another destination recovers someone else.
    for tampered in ({**sent, "hyperliquidChain": "Mainnet"}, {**sent, "amount": "2"}):
        other = recover_user_signed_signer(
            tampered, vector["expected"], payload_types=vector["sign_types"], primary_type=vector["primary_type"]
        )
        assert other != account.address


@pytest.mark.parametrize("case", EXTRA.get("float_to_int_for_hashing_vectors", []), ids=lambda c: repr(c["input"]))
def test_float_to_int_for_hashing_vectors(case: dict[str, Any]) -> None:
    if "expected_error" in case:
        with pytest.raises(ValueError):
            float_to_int_for_hashing(case["input"])
    else:
        assert float_to_int_for_hashing(case["input"]) == case["expected"]


def test_float_to_int_exact_and_typed() -> None:
    assert float_to_int_for_hashing(1000) == 100_000_000_000
    assert float_to_int_for_hashing(123123123123.0) == 12312312312300000000  # exact, no float noise
    assert float_to_int_for_hashing(Decimal("0.00000001")) == 1
    assert float_to_int(1.5, 6) == 1_500_000
    assert float_to_int(-2.25, 2) == -225
    with pytest.raises(ValueError):
        float_to_int_for_hashing(Decimal("0.000000001"))
    with pytest.raises(ValueError):
        float_to_int_for_hashing(float("nan"))
    with pytest.raises(ValueError):
        float_to_int_for_hashing(float("inf"))
    with pytest.raises(TypeError):
        float_to_int_for_hashing(True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        float_to_int_for_hashing("1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        float_to_int(1.0, -1)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_float_to_int_for_hashing_inverts_scaling(units: int) -> None:
    assert float_to_int_for_hashing(Decimal(units).scaleb(-8)) == units
    if abs(units) <= 10**12:  # up to 10_000, a float still resolves 8 decimals within the tolerance
        assert float_to_int_for_hashing(units / 10**8) == units


# --------------------------------------------------------------------------- action hash rules


def test_action_hash_layout_flags() -> None:
    base = action_hash(ORDER_ACTION, None, 1, None)
    assert len(base) == 32
    assert action_hash(ORDER_ACTION, None, 1, None) == base
    assert action_hash(ORDER_ACTION, None, 2, None) != base
    assert action_hash(ORDER_ACTION, "0x" + "00" * 20, 1, None) != base
    assert action_hash(ORDER_ACTION, None, 1, 0) != base
    assert action_hash(ORDER_ACTION, None, 1, 5) != action_hash(ORDER_ACTION, None, 1, 6)
    # Vault addresses are case-insensitive hex.
    vault = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"
    shouted = "0x" + vault[2:].upper()
    assert action_hash(ORDER_ACTION, vault, 1, None) == action_hash(ORDER_ACTION, shouted, 1, None)


def test_action_hash_is_key_order_sensitive() -> None:
    order = ORDER_ACTION["orders"][0]
    reordered = {"b": order["b"], "a": order["a"], **{k: order[k] for k in ("p", "s", "r", "t")}}
    action = {**ORDER_ACTION, "orders": [reordered]}
    assert action_hash(action, None, 1, None) != action_hash(ORDER_ACTION, None, 1, None)


@pytest.mark.parametrize(
    ("action", "vault", "nonce", "expires", "error"),
    [
        ({"type": "dummy", "num": 1.0}, None, 0, None, ValueError),
        ({"type": "x", "orders": [{"p": 0.5}]}, None, 0, None, ValueError),
        ({"type": "dummy"}, "0x1234", 0, None, ValueError),
        ({"type": "dummy"}, "1719884eb866cb12b2287399b15f7db5e7d775ea", 0, None, ValueError),
        ({"type": "dummy"}, None, -1, None, ValueError),
        ({"type": "dummy"}, None, 2**64, None, ValueError),
        ({"type": "dummy"}, None, True, None, TypeError),
        ({"type": "dummy"}, None, 1.0, None, TypeError),
        ({"type": "dummy"}, None, 0, -5, ValueError),
        (["type", "dummy"], None, 0, None, TypeError),
    ],
)
def test_action_hash_rejects(action: Any, vault: Any, nonce: Any, expires: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        action_hash(action, vault, nonce, expires)


# --------------------------------------------------------------------------- recovery


def test_recover_round_trip_and_tampering(account: Any) -> None:
    kwargs: dict[str, Any] = {
        "nonce_ms": 1_700_000_000_000,
        "vault_address": None,
        "expires_after_ms": 1_700_000_060_000,
        "is_mainnet": True,
    }
    signature = sign_l1_action(account, ORDER_ACTION, **kwargs)
    assert recover_l1_signer(ORDER_ACTION, signature, **kwargs) == TEST_ADDRESS

    tampered_order = {**ORDER_ACTION["orders"][0], "p": "1670.2"}
    tampered_action = {**ORDER_ACTION, "orders": [tampered_order]}
    variants = [
        (tampered_action, kwargs),
        (ORDER_ACTION, {**kwargs, "nonce_ms": kwargs["nonce_ms"] + 1}),
        (ORDER_ACTION, {**kwargs, "is_mainnet": False}),
        (ORDER_ACTION, {**kwargs, "vault_address": "0x1719884eb866cb12b2287399b15f7db5e7d775ea"}),
        (ORDER_ACTION, {**kwargs, "expires_after_ms": None}),
    ]
    for action, changed in variants:
        assert recover_l1_signer(action, signature, **changed) != TEST_ADDRESS


@settings(max_examples=15, deadline=None)
@given(
    nonce=st.integers(min_value=0, max_value=2**64 - 1),
    mainnet=st.booleans(),
    expires=st.none() | st.integers(min_value=0, max_value=2**64 - 1),
    num=st.integers(min_value=0, max_value=2**63),
)
def test_recover_round_trip_property(nonce: int, mainnet: bool, expires: int | None, num: int) -> None:
    signer = _SIGNER
    action = {"type": "dummy", "num": num}
    kwargs: dict[str, Any] = {
        "nonce_ms": nonce,
        "vault_address": None,
        "expires_after_ms": expires,
        "is_mainnet": mainnet,
    }
    signature = signer.sign_l1_action(action, **kwargs)
    assert recover_l1_signer(action, signature, **kwargs) == signer.address
    assert recover_l1_signer(action, signature, **{**kwargs, "is_mainnet": not mainnet}) != signer.address


_SIGNER = Signer(TEST_KEY)


def test_recover_accepts_padded_and_int_components(account: Any) -> None:
    kwargs: dict[str, Any] = {"nonce_ms": 0, "vault_address": None, "expires_after_ms": None, "is_mainnet": True}
    action = {"type": "dummy", "num": 100000000000}
    sig = sign_l1_action(account, action, **kwargs)
    padded = {name: f"0x{int(sig[name], 16):064x}" for name in ("r", "s")} | {"v": sig["v"]}
    as_ints = {"r": int(sig["r"], 16), "s": int(sig["s"], 16), "v": sig["v"]}
    assert recover_l1_signer(action, padded, **kwargs) == TEST_ADDRESS
    assert recover_l1_signer(action, as_ints, **kwargs) == TEST_ADDRESS


@pytest.mark.parametrize(
    "signature",
    [
        {},
        {"r": "0x1", "s": "0x1"},
        {"r": "0x1", "s": "0x1", "v": 29},
        {"r": "0x1", "s": "0x1", "v": True},
        {"r": "0x0", "s": "0x1", "v": 27},
        {"r": "zz", "s": "0x1", "v": 27},
        {"r": "0x" + "f" * 64, "s": "0x1", "v": 27},
        {"r": "0x" + "1" * 65, "s": "0x1", "v": 27},
        "not a mapping",
    ],
)
def test_recover_rejects_malformed_signatures(signature: Any) -> None:
    with pytest.raises(ValueError):
        recover_l1_signer(
            {"type": "dummy"}, signature, nonce_ms=0, vault_address=None, expires_after_ms=None, is_mainnet=True
        )


# --------------------------------------------------------------------------- Signer key hygiene


def _key_spellings(key: str) -> list[str]:
    bare = key[2:] if key.startswith("0x") else key
    return [bare.lower(), bare.upper(), bare[:16].lower(), bare[-16:].lower()]


def test_signer_basics() -> None:
    signer = Signer(TEST_KEY)
    assert signer.address == TEST_ADDRESS
    assert Signer(TEST_KEY[2:]).address == TEST_ADDRESS
    assert Signer(f"  {TEST_KEY.upper().replace('0X', '0x')}\n").address == TEST_ADDRESS
    assert repr(signer) == f"Signer(address={TEST_ADDRESS})"
    signature = signer.sign_l1_action({"type": "dummy", "num": 100000000000}, nonce_ms=0)
    assert _same_signature(
        signature,
        {
            "r": "0x53749d5b30552aeb2fca34b530185976545bb22d0b3ce6f62e31be961a59298",
            "s": "0x755c40ba9bf05223521753995abb2f73ab3229be8ec921f350cb447e384d8ed8",
            "v": 27,
        },
    )
    sent, sig = signer.sign_user_signed_action(
        {
            "type": "usdSend",
            "destination": "0x5e9ee1089755c3435139848e47e6635505d5a13a",
            "amount": "1",
            "time": 1687816341423,
        },
        payload_types=USD_SEND_TYPES,
        primary_type="HyperliquidTransaction:UsdSend",
        is_mainnet=False,
    )
    recovered = recover_user_signed_signer(
        sent, sig, payload_types=USD_SEND_TYPES, primary_type="HyperliquidTransaction:UsdSend"
    )
    assert recovered == TEST_ADDRESS


def test_signer_never_shows_the_key(caplog: pytest.LogCaptureFixture) -> None:
    signer = Signer(TEST_KEY)
    logger = logging.getLogger("pfterm.test.signing")
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        logger.info("signer %s %r", signer, signer)
        logger.info(f"{signer} {signer!r} {signer:}")
    rendered = [
        repr(signer),
        str(signer),
        format(signer),
        f"{signer!s}",
        caplog.text,
        repr([signer]),
        repr({"s": signer}),
    ]
    for text in rendered:
        for spelling in _key_spellings(TEST_KEY):
            assert spelling not in text.lower()
    assert not hasattr(signer, "__dict__")
    with pytest.raises(TypeError):
        pickle.dumps(signer)
    with pytest.raises(TypeError):
        copy.deepcopy(signer)


def test_generated_signer() -> None:
    first, second = Signer.generate(), Signer.generate()
    assert first.address != second.address
    sig = first.sign_l1_action({"type": "dummy"}, nonce_ms=5, is_mainnet=False)
    recovered = recover_l1_signer(
        {"type": "dummy"}, sig, nonce_ms=5, vault_address=None, expires_after_ms=None, is_mainnet=False
    )
    assert recovered == first.address


BAD_KEYS = [
    TEST_KEY[:-1],  # 63 digits
    TEST_KEY + "0",  # 65 digits
    TEST_KEY[:-1] + "g",  # not hex
    "0x" + "0" * 64,  # zero scalar
    "0x" + "f" * 64,  # above the curve order
    "0x" + "F" * 64,
    "0X" + TEST_KEY[2:],
    "",
]


@pytest.mark.parametrize("bad", BAD_KEYS, ids=range(len(BAD_KEYS)))
def test_bad_keys_raise_without_echo(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        Signer(bad)
    message = str(info.value) + repr(info.value)
    bare = bad[2:] if bad[:2].lower() == "0x" else bad
    if bare:
        assert bare.lower()[:16] not in message.lower()
        assert bare.lower()[-16:] not in message.lower()
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    # No frame below the caller still holds the key, so tracebacks showing locals stay clean.
    tb = info.tb.tb_next
    while tb is not None:
        assert bad not in [v for v in tb.tb_frame.f_locals.values() if isinstance(v, str)]
        tb = tb.tb_next


def test_bad_key_types_raise_value_error() -> None:
    for bad in (None, 123, b"\x01" * 32):
        with pytest.raises(ValueError):
            Signer(bad)  # type: ignore[arg-type]


def test_signing_errors_do_not_contain_the_key() -> None:
    signer = Signer(TEST_KEY)
    with pytest.raises(ValueError) as info:
        signer.sign_l1_action({"type": "dummy", "num": 1.5}, nonce_ms=0)
    for spelling in _key_spellings(TEST_KEY):
        assert spelling not in str(info.value).lower()


# --------------------------------------------------------------------------- nonces


@given(st.lists(st.integers(min_value=0, max_value=2**62), min_size=1, max_size=60))
def test_nonces_strictly_increase_over_any_clock(readings: list[int]) -> None:
    clock = iter(readings)
    source = NonceSource(lambda: next(clock))
    nonces = [source.next() for _ in readings]
    assert all(b > a for a, b in zip(nonces, nonces[1:], strict=False))
    previous = 0
    for reading, nonce in zip(readings, nonces, strict=True):
        assert nonce >= reading
        # The clock is used as is whenever it is ahead of everything handed out.
        if reading > previous:
            assert nonce == reading
        else:
            assert nonce == previous + 1
        previous = nonce
    assert source.last == nonces[-1]


def test_nonce_backwards_jump_and_stall() -> None:
    readings = iter([1000, 1000, 1000, 900, 1001, 1005, 2000])
    source = NonceSource(lambda: next(readings))
    assert [source.next() for _ in range(7)] == [1000, 1001, 1002, 1003, 1004, 1005, 2000]


def test_nonce_observe_and_start() -> None:
    source = NonceSource(lambda: 100, last=500)
    assert source.next() == 501
    source.observe(10_000)
    assert source.next() == 10_001
    source.observe(5)  # older nonces change nothing
    assert source.next() == 10_002
    with pytest.raises(ValueError):
        NonceSource(last=-1)
    with pytest.raises(TypeError):
        source.observe(1.5)  # type: ignore[arg-type]
    assert repr(source) == "NonceSource(last=10002)"


def test_default_clock_is_wall_ms() -> None:
    import time

    before = time.time_ns() // 1_000_000
    nonce = NonceSource().next()
    after = time.time_ns() // 1_000_000
    assert before <= nonce <= after + 1


def test_nonces_unique_across_threads() -> None:
    source = NonceSource(lambda: 1_700_000_000_000)
    results: list[list[int]] = [[] for _ in range(8)]

    def work(bucket: list[int]) -> None:
        for _ in range(2000):
            bucket.append(source.next())

    threads = [threading.Thread(target=work, args=(bucket,)) for bucket in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [n for bucket in results for n in bucket]
    assert len(set(everything)) == len(everything) == 16_000
    for bucket in results:
        assert bucket == sorted(bucket)


async def test_nonces_unique_across_tasks() -> None:
    source = NonceSource()

    async def burst() -> list[int]:
        out = []
        for _ in range(200):
            out.append(source.next())
            await asyncio.sleep(0)
        return out

    buckets = await asyncio.gather(*(burst() for _ in range(10)))
    everything = [n for bucket in buckets for n in bucket]
    assert len(set(everything)) == len(everything)
