"""Key loading and the trading gate (``pfterm.core.trading.credentials``): sources, permissions, no leaks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pfterm.core.trading.credentials import ACCOUNT_ENV, KEY_ENV, CredentialsError, trading_access
from pfterm.core.venues.hyperliquid.signing import Signer

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


# --------------------------------------------------------------------------- Binance leg


def test_binance_key_pair_from_file_or_environment(tmp_path: Path) -> None:
    from pfterm.core.trading.credentials import BINANCE_KEY_ENV, BINANCE_SECRET_ENV, load_binance_credentials

    assert load_binance_credentials(None, {}) is None
    creds, source = load_binance_credentials(None, {BINANCE_KEY_ENV: " k1 ", BINANCE_SECRET_ENV: "s1"})
    assert (creds.api_key, creds.secret, source) == ("k1", "s1", "environment")
    assert "s1" not in repr(creds)
    with pytest.raises(CredentialsError, match="only one is set"):
        load_binance_credentials(None, {BINANCE_KEY_ENV: "k1"})
    path = tmp_path / "binance.key"
    path.write_text("\nkey-from-file\nsecret-from-file\n")
    path.chmod(0o600)
    creds, source = load_binance_credentials(path, {BINANCE_KEY_ENV: "k1", BINANCE_SECRET_ENV: "s1"})
    assert (creds.api_key, creds.secret, source) == ("key-from-file", "secret-from-file", str(path))  # the file wins
    path.chmod(0o640)
    with pytest.raises(CredentialsError, match="chmod 600"):
        load_binance_credentials(path, {})
    path.chmod(0o600)
    path.write_text("only-a-key\n")
    with pytest.raises(CredentialsError, match="two lines") as err:
        load_binance_credentials(path, {})
    assert "only-a-key" not in str(err.value)


def test_which_binance_venue_pairs_with_which_hyperliquid() -> None:
    from pfterm.core.runtime.config import Settings
    from pfterm.core.runtime.session import BINANCE_TESTNET_URL, Endpoint, hedge_venue_url

    s = Settings()
    sim = Endpoint("sim", None, 60.0, True)
    assert hedge_venue_url(s, sim, "http://127.0.0.1:4321") == (
        "http://127.0.0.1:4321",
        "the simulator's Binance endpoints",
    )
    local = Endpoint("hyperliquid @ http://127.0.0.1:8765", "http://127.0.0.1:8765", None, False)
    assert hedge_venue_url(s, local, "http://127.0.0.1:8765")[0] == "http://127.0.0.1:8765"
    mainnet = Endpoint("hyperliquid mainnet", "https://api.hyperliquid.xyz", 1.0, False)
    s.venue.name = "hyperliquid"
    url, why = hedge_venue_url(s, mainnet, "https://api.hyperliquid.xyz")
    assert url is None and "allow_mainnet" in why
    s.trading.allow_mainnet = True
    assert hedge_venue_url(s, mainnet, "https://api.hyperliquid.xyz")[0] == "https://fapi.binance.com"
    s.venue.network = "testnet"
    testnet = Endpoint("hyperliquid testnet", "https://api.hyperliquid-testnet.xyz", 1.0, False)
    assert hedge_venue_url(s, testnet, "https://api.hyperliquid-testnet.xyz")[0] == BINANCE_TESTNET_URL
    s.trading.binance_url = "http://127.0.0.1:9999"
    assert hedge_venue_url(s, mainnet, "https://api.hyperliquid.xyz") == (
        "http://127.0.0.1:9999",
        "trading.binance_url",
    )
    s.harvest.perp_hedge = "none"
    assert hedge_venue_url(s, sim, "http://127.0.0.1:4321")[0] is None


def test_server_clock_follows_the_venue_at_its_rate() -> None:
    from pfterm.core.trading.binance import ServerClock

    wall = [1_000.0]
    c = ServerClock(rate=120.0, wall=lambda: wall[0], lag_ms=30_000)
    assert c() == 1_000_000  # unsynced: the wall clock
    c.sync(5_000_000)
    wall[0] += 0.5  # half a wall second = 60 venue seconds
    assert c() == 5_000_000 + 60_000 - 30_000
    real = ServerClock(wall=lambda: wall[0])
    real.sync(7_000)
    wall[0] += 2.0
    assert real() == 9_000
