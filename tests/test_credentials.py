"""Key loading and the trading gate (``core.credentials``): sources, permissions, no leaks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.credentials import ACCOUNT_ENV, KEY_ENV, CredentialsError, trading_access
from core.venues.hyperliquid.signing import Signer

KEY = "0x" + "4f" * 32
ADDRESS = Signer(KEY).address


def _key_file(tmp_path: Path, mode: int, text: str = KEY + "\n") -> Path:
    path = tmp_path / "hl.key"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_key_from_environment() -> None:
    access = trading_access("testnet", env={KEY_ENV: KEY})
    assert access.can_trade and access.account == ADDRESS and access.source == "environment"
    assert KEY[2:] not in repr(access)


def test_key_file_owner_only(tmp_path: Path) -> None:
    access = trading_access("testnet", key_file=_key_file(tmp_path, 0o600), env={KEY_ENV: "0x" + "11" * 32})
    assert access.account == ADDRESS  # the file wins over the environment


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_loose_key_file_is_refused(tmp_path: Path, mode: int) -> None:
    path = _key_file(tmp_path, mode)
    with pytest.raises(CredentialsError, match="chmod 600") as err:
        trading_access("testnet", key_file=path, env={})
    assert KEY[2:] not in str(err.value)


def test_missing_and_invalid_keys_never_quote_the_key(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="does not exist"):
        trading_access("testnet", key_file=tmp_path / "nope", env={})
    bad = "0x" + "zz" * 32
    with pytest.raises(CredentialsError) as err:
        trading_access("testnet", env={KEY_ENV: bad})
    assert "zz" not in str(err.value) and err.value.__cause__ is None
    with pytest.raises(CredentialsError) as err:
        trading_access("testnet", key_file=_key_file(tmp_path, 0o600, "not-a-key-abcdef\n"), env={})
    assert "abcdef" not in str(err.value)


def test_read_only_without_key_and_mainnet_gate() -> None:
    ro = trading_access("testnet", env={})
    assert not ro.can_trade and KEY_ENV in (ro.read_only or "")
    gated = trading_access("mainnet", env={KEY_ENV: KEY})
    assert not gated.can_trade and "allow_mainnet" in (gated.read_only or "")
    assert gated.account == ADDRESS
    assert trading_access("mainnet", env={KEY_ENV: KEY}, allow_mainnet=True).can_trade


def test_api_wallet_master_account_and_sim_session_key() -> None:
    master = "0x" + "ab" * 20
    access = trading_access("testnet", env={KEY_ENV: KEY, ACCOUNT_ENV: master})
    assert access.account == master and access.signer.address == ADDRESS
    with pytest.raises(CredentialsError, match=ACCOUNT_ENV):
        trading_access("testnet", env={KEY_ENV: KEY, ACCOUNT_ENV: "0x123"})
    sim = trading_access("sim", env={})
    assert sim.can_trade and sim.source == "simulator session"
    assert trading_access("sim", env={}).account != sim.account
