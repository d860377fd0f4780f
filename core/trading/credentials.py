"""Where the trading key comes from, and whether trading is allowed at all.

The key is read from ``PFTERM_HL_PRIVATE_KEY`` or from a key file (``--key-file PATH`` or
``trading.key_file``) that only its owner may read; ``PFTERM_HL_ACCOUNT`` names the master
account when the key is an API (agent) wallet. The key goes straight into a
:class:`~pfterm.core.venues.hyperliquid.signing.Signer` and is never printed, logged or journalled:
every error here names the *source* of the key, never its value.

Trading on Hyperliquid mainnet needs ``trading.allow_mainnet = true`` in the config; without
it, or without a key, the console is read-only and says why. The embedded simulator gets a
fresh key per session (its accounts are credited by the simulator's faucet).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pfterm.core.venues.binance.futures import BinanceCredentials
from pfterm.core.venues.hyperliquid.signing import Signer

__all__ = [
    "ACCOUNT_ENV",
    "KEY_ENV",
    "CredentialsError",
    "TradingAccess",
    "load_key",
    "trading_access",
]

KEY_ENV = "PFTERM_HL_PRIVATE_KEY"
ACCOUNT_ENV = "PFTERM_HL_ACCOUNT"
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


class CredentialsError(Exception):
    """The key or account could not be used; the message is one line and never contains the key."""


@dataclass(slots=True, frozen=True)
class TradingAccess:
    """Whether and as whom pfterm may trade.

    * ``signer``: the signing key (``None`` when read-only);
    * ``account``: the master account address whose state is read and traded (the signer's own
      address unless ``PFTERM_HL_ACCOUNT`` names another);
    * ``network``: ``"sim"``, ``"testnet"`` or ``"mainnet"`` (what the signature is for);
    * ``read_only``: why trading is off, one line, ``None`` when trading is allowed;
    * ``source``: where the key came from (``"environment"``, a file path, ``"simulator session"``).
    """

    signer: Signer | None
    account: str | None
    network: str
    read_only: str | None
    source: str | None = None

    @property
    def can_trade(self) -> bool:
        """True when orders may be signed and sent."""
        return self.signer is not None and self.read_only is None


def _check_file(path: Path) -> None:
    """Refuse a key file that another user could read, replace or redirect.

    Refused: a symlink that is not the user's, or that points at a file not the user's; a file
    that is not a regular file, not owned by the user or with any group/other permission bit; a
    file (or a symlink to it) in a directory, or below one, that group or others may write
    without the sticky bit (they could swap the file). ``0600`` owned by the user in a
    ``0700``/``0755`` directory passes.

    Raises:
        CredentialsError: one line naming the path and the reason (never the key).
    """
    uid = os.getuid() if hasattr(os, "getuid") else None
    try:
        link = path.lstat()
        st = path.stat()
    except FileNotFoundError:
        raise CredentialsError(f"key file {path} does not exist") from None
    except OSError as exc:
        raise CredentialsError(f"key file {path} cannot be read: {exc.strerror}") from None
    if stat.S_ISLNK(link.st_mode) and uid is not None and link.st_uid != uid:
        raise CredentialsError(f"key file {path} is a symlink not owned by the current user")
    if not stat.S_ISREG(st.st_mode):
        raise CredentialsError(f"key file {path} is not a regular file")
    if uid is not None and st.st_uid != uid:
        what = "the target of symlink" if stat.S_ISLNK(link.st_mode) else "key file"
        raise CredentialsError(f"{what} {path} is not owned by the current user")
    loose = st.st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    if loose:
        raise CredentialsError(
            f"key file {path} is accessible by group/others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run: chmod 600 {path}"
        )
    directories = {Path(os.path.realpath(path)).parent, Path(os.path.realpath(path.absolute().parent))}
    for directory in sorted(directories):
        for ancestor in (directory, *directory.parents):
            try:
                mode = ancestor.stat().st_mode
            except OSError as exc:
                raise CredentialsError(f"key file {path}: {ancestor} cannot be checked: {exc.strerror}") from None
            if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
                raise CredentialsError(
                    f"key file {path} is in {ancestor}, which group/others may write (mode "
                    f"{stat.S_IMODE(mode):04o}, no sticky bit); move the key to a directory only you can write"
                )


def _signer(raw: str, source: str) -> Signer:
    value = raw.strip()
    if not value:
        raise CredentialsError(f"the key from {source} is empty")
    try:
        return Signer(value)
    except Exception:  # noqa: BLE001 - never chain: the exception could quote the key
        raise CredentialsError(f"the key from {source} is not a valid secp256k1 private key (hex)") from None


def load_key(key_file: Path | None, env: Mapping[str, str]) -> tuple[Signer, str] | None:
    """The signing key and a description of where it came from, or ``None`` if none is given.

    ``key_file`` wins over ``PFTERM_HL_PRIVATE_KEY`` in ``env``. The file holds the key in hex
    (``0x`` optional) on its first non-empty line and must be a regular file owned by the user
    with no group/other permission bits (``chmod 600``), not behind another user's symlink, and
    in no directory that group/others may write without the sticky bit.

    Raises:
        CredentialsError: missing or too-open file, or an invalid key (the key is never quoted).
    """
    if key_file is not None:
        path = Path(key_file).expanduser()
        _check_file(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise CredentialsError(f"key file {path} cannot be read as text") from None
        line = next((ln for ln in text.splitlines() if ln.strip()), "")
        return _signer(line, f"key file {path}"), str(path)
    raw = env.get(KEY_ENV)
    if raw is None or not raw.strip():
        return None
    return _signer(raw, f"${KEY_ENV}"), "environment"


def trading_access(
    network: str,
    *,
    key_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    allow_mainnet: bool = False,
    account: str | None = None,
) -> TradingAccess:
    """Decide whether pfterm trades on ``network`` and with which key.

    * ``"sim"`` (the embedded simulator): the given key if any, else a fresh random key for this
      session (the simulator's faucet credits it);
    * ``"testnet"`` / ``"mainnet"`` or a ``--url`` venue: the given key; none → read-only;
      mainnet without ``allow_mainnet`` → read-only with the reason.

    ``account`` (or ``PFTERM_HL_ACCOUNT`` in ``env``) names the master address for an API wallet.

    Raises:
        CredentialsError: a bad key source or a malformed account address.
    """
    env = os.environ if env is None else env
    master = account or env.get(ACCOUNT_ENV) or None
    if master is not None and not _ADDRESS_RE.match(master.strip()):
        raise CredentialsError(f"{ACCOUNT_ENV} must be a 0x-prefixed 40-hex-digit address")
    loaded = load_key(key_file, env)
    if loaded is None:
        if network == "sim":
            signer = Signer.generate()
            return TradingAccess(signer, signer.address, network, None, "simulator session")
        reason = f"no key: set {KEY_ENV} or pass --key-file to trade"
        return TradingAccess(None, master.strip() if master else None, network, reason)
    signer, source = loaded
    address = master.strip() if master else signer.address
    if network == "mainnet" and not allow_mainnet:
        reason = "mainnet trading is off: set trading.allow_mainnet = true in the config"
        return TradingAccess(None, address, network, reason, source)
    return TradingAccess(signer, address, network, None, source)


BINANCE_KEY_ENV = "PFTERM_BINANCE_API_KEY"
BINANCE_SECRET_ENV = "PFTERM_BINANCE_API_SECRET"


def load_binance_credentials(
    key_file: Path | None, env: Mapping[str, str] | None = None
) -> tuple[BinanceCredentials, str] | None:
    """The Binance USDⓈ-M API key pair and where it came from, or ``None`` if none is given.

    ``key_file`` (``trading.binance_key_file``) wins over ``PFTERM_BINANCE_API_KEY`` +
    ``PFTERM_BINANCE_API_SECRET`` in ``env``. The file holds the API key on its first non-empty
    line and the secret on the second, with the same permission rules as the Hyperliquid key
    file (``chmod 600``, owned by the user). Neither value is ever quoted in an error.

    Raises:
        CredentialsError: a missing or too-open file, a file without two lines, or only one of
            the two environment variables set.
    """
    env = os.environ if env is None else env
    if key_file is not None:
        path = Path(key_file).expanduser()
        _check_file(path)
        try:
            lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except (OSError, UnicodeDecodeError):
            raise CredentialsError(f"key file {path} cannot be read as text") from None
        if len(lines) < 2:
            raise CredentialsError(f"key file {path} must hold the API key and the secret on two lines")
        return BinanceCredentials(lines[0], lines[1]), str(path)
    key = (env.get(BINANCE_KEY_ENV) or "").strip()
    secret = (env.get(BINANCE_SECRET_ENV) or "").strip()
    if not key and not secret:
        return None
    if not key or not secret:
        raise CredentialsError(f"set both ${BINANCE_KEY_ENV} and ${BINANCE_SECRET_ENV} (only one is set)")
    return BinanceCredentials(key, secret), "environment"
