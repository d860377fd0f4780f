"""Durable trading journal: order intents, acks, fills, cancels, funding, an action log, and
per-account shared state (trading state, sync cursors and gaps, account books).

Every order pfterm sends is journalled in SQLite *before* the network call (an intent,
committed with ``synchronous=FULL`` in WAL mode) and *after* it (the venue's ack, the
fills, the cancels). After a crash the journal is reconciled with what the venue reports
(open orders and fills, :meth:`AccountJournal.reconcile`) so that nothing is lost and no order
is sent twice: every order carries a client order id (``cloid``, ``0x`` + 32 hex digits) that
is written before the order leaves the process, and the journal refuses to mark an intent
as sent twice (:meth:`AccountJournal.mark_sent`).

**Accounts.** One journal file holds many accounts. Every row of the order tables (intents,
fills, cancels, funding) is keyed by an :class:`AccountRef` — venue, network and account —
and every match the journal makes (a fill to its intent by cloid or by the venue's order id
``oid``, a cancel to its intent, reconciliation) stays inside one account: order ids and trade
ids are only unique per venue, network and account (two embedded-simulator sessions reuse
them, hence the session id in the simulator's network ``"sim:<session id>"``). Use the scoped
view :meth:`Journal.for_account` → :class:`AccountJournal`. The unscoped methods of
:class:`Journal` (``record_intent(..., venue=label)``, ``fills()``…) are the *process-wide,
legacy* form kept for callers that predate accounts: they take a venue *label* (``"sim"``,
``"hyperliquid"``, ``"hyperliquid-testnet"``, ``"hyperliquid@host:port"``, ``"binance"``),
write it as the account ``"legacy"`` of the label's venue and network
(:meth:`AccountRef.from_legacy_label`), read every account and report each row's venue as
such a label.

**Shared trading state.** :meth:`AccountJournal.trading_state` / :meth:`~AccountJournal.set_trading_state`:
one ACTIVE / REDUCING / HALTED state per account, shared by every process that opens the file
(a console and a ``pfterm harvest`` daemon on the same account). A read is one primary-key
SELECT (cheap enough to poll every 0.5 s and before every order); a write is one
``BEGIN IMMEDIATE`` transaction (waits up to the busy timeout for another process's write)
that bumps a version number and journals an event.

**Sync cursors and gaps.** :meth:`AccountJournal.sync_cursor` is the venue time of the last
fill / funding payment synced, so a process fetches from there (not from midnight);
:meth:`AccountJournal.record_gap` records a span that could not be fetched, for the report.

**Books.** A perp-against-perp position has its legs on two accounts (a Hyperliquid account
and a Binance account traded together): :meth:`Journal.register_book` groups them; the P&L
report replays one book at a time (:meth:`Journal.books`).

Intent states::

    pending ──► sent ──► acked (resting) ──► filled / cancelled
       │          │            │
       │          ├──► rejected, filled, cancelled
       └──────────┴────────────┴──► unknown ──► sent (resend, same cloid) / cancelled (abandoned)

An ``unknown`` intent seen again on the venue (open, or filled) moves on to ``acked`` or
``filled``. ``unknown`` is what reconciliation concludes when the venue knows nothing of an intent:
if it was never marked sent it *never reached the venue* (:meth:`AccountJournal.never_sent`);
the caller decides whether to resend it with the same cloid or abandon it. The journal
never sends anything itself. Fills are the venue's truth: once the filled size reaches
the intent's size the intent is ``filled`` whatever its previous state.

Units: prices in USD (quote), sizes in base units (always positive, the side says the
direction), fees and funding in the fee/settlement token (USDC), timestamps in ms UTC.
Funding ``usdc`` is from the user's side: positive = received.

Detail payloads of :meth:`Journal.log_event` are stored as JSON with every value whose key
looks secret (contains ``key``, ``secret``, ``private``, ``signature`` or ``mnemonic``,
case-insensitively) replaced by ``"[redacted]"`` at any depth; the order tables have no
column that could hold a secret, and an :class:`AccountRef` refuses a string that looks like
a key (a Binance account is named by a hash of its API key, :meth:`AccountRef.binance`).

Schema: migrations are append-only (``PRAGMA user_version`` counts those applied). Version 2
added the account columns (old rows are mapped from their venue label, account ``"legacy"``),
rebuilt ``fills`` and ``funding`` with per-account uniqueness, and added the tables
``trading_state``, ``sync_cursors``, ``sync_gaps`` and ``book_members``.

Threading: a :class:`Journal` owns one :mod:`sqlite3` connection created with the default
``check_same_thread=True``; use it (and its :class:`AccountJournal` views) from the thread
that opened it (the application's event loop thread). Calls are short synchronous
transactions (an ``fsync`` each); callers on an event loop accept that latency as the price of
durability before the network call. Several processes may open the same file: every write is
``BEGIN IMMEDIATE`` with a busy timeout (:data:`BUSY_TIMEOUT_S`), every read sees the latest
committed write of any process.

Files: the database and its ``-wal``/``-shm`` side files are created ``0600`` and any missing
directory above them ``0700``, whatever the umask (:func:`make_private_dirs`,
:func:`create_private_file`); an existing file with group/other bits gets a one-line warning
and is tightened to ``0600`` when the user owns it (:func:`tighten_private_file`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from pfterm.core.venues.records import (
    Fill,
    FundingPayment,
    Side,
)
from pfterm.core.venues.records import (
    cloid as _cloid,
)
from pfterm.core.venues.records import (
    finite as _finite,
)
from pfterm.core.venues.records import (
    optional_cloid as _optional_cloid,
)
from pfterm.core.venues.records import (
    parse_side as _side,
)
from pfterm.core.venues.records import (
    positive as _positive,
)

__all__ = [
    "ACTIVE_STATES",
    "BUSY_TIMEOUT_S",
    "INTENT_STATES",
    "LEGACY_ACCOUNT",
    "REDACTED",
    "SCHEMA_VERSION",
    "SYNC_STREAMS",
    "TERMINAL_STATES",
    "TRADING_STATES",
    "AccountJournal",
    "AccountRef",
    "Book",
    "Cancel",
    "Event",
    "Fill",
    "FundingPayment",
    "Intent",
    "IntentChange",
    "Journal",
    "JournalError",
    "ReconcileReport",
    "StaleTradingStateError",
    "SyncGap",
    "TradingStateRecord",
    "UnknownIntentError",
    "create_private_file",
    "make_private_dirs",
    "redact",
    "tighten_private_file",
]

REDACTED: Final = "[redacted]"
_SECRET_MARKERS: Final = ("key", "secret", "private", "signature", "mnemonic")

INTENT_STATES: Final = frozenset({"pending", "sent", "acked", "rejected", "filled", "cancelled", "unknown"})
#: States of an intent the venue may still be working (or may not know yet).
ACTIVE_STATES: Final = ("pending", "sent", "acked")
#: States no ack or reconciliation moves an intent out of (only fills reaching the size do).
TERMINAL_STATES: Final = frozenset({"rejected", "filled", "cancelled"})
#: Trading states of an account, from the most permissive: new risk allowed; only orders
#: that reduce exposure; nothing but the kill switch.
TRADING_STATES: Final = ("active", "reducing", "halted")
#: Venue streams with a sync cursor.
SYNC_STREAMS: Final = frozenset({"fills", "funding"})
#: The account of rows written by the process-wide (legacy) methods and of rows migrated
#: from a journal older than schema version 2: the real account is unknown.
LEGACY_ACCOUNT: Final = "legacy"
#: Seconds a write waits for another connection's (or process's) write to finish.
BUSY_TIMEOUT_S: Final = 10.0

_TIFS: Final = frozenset({"Gtc", "Alo", "Ioc"})
_ACK_STATUSES: Final = frozenset({"resting", "filled", "error"})
_CANCEL_STATUSES: Final = frozenset({"requested", "cancelled", "error"})
_MAX_LIMIT: Final = 100_000
# Relative tolerance when comparing a filled size with the intent's size (float sums).
_SIZE_RTOL: Final = 1e-9
_MAX_LINE: Final = 300

AckStatus = Literal["resting", "filled", "error"]
CancelStatus = Literal["requested", "cancelled", "error"]
TradingStateName = Literal["active", "reducing", "halted"]
_Key = tuple[str, str, str]  # (venue, network, account)


class JournalError(RuntimeError):
    """A journal operation was refused (invalid transition, duplicate cloid, newer schema)."""


class UnknownIntentError(JournalError, KeyError):
    """No intent is journalled under the given cloid (for this account, on a scoped view)."""


class StaleTradingStateError(JournalError):
    """:meth:`AccountJournal.set_trading_state` with ``expected_version`` found another version:
    another process changed the state meanwhile. ``current`` is the state now journalled."""

    def __init__(self, message: str, current: TradingStateRecord | None) -> None:
        super().__init__(message)
        self.current = current


# --------------------------------------------------------------------------- schema

# Old venue label → venue / network (migration 2 and the process-wide methods; the Python
# twin is ``_label_venue_network``, the tests check that both agree).
#   "sim" → hyperliquid, sim:legacy; "hyperliquid" → hyperliquid, mainnet;
#   "hyperliquid-testnet" → hyperliquid, testnet; "hyperliquid@h:p" → hyperliquid, url:h:p
#   (the part after the last "@": never URL credentials); anything else L → L, legacy.

#: Migrations, applied in order; ``PRAGMA user_version`` is the number applied so far.
#: Append only: never edit a migration that has shipped.
# Old venue labels of journals written before accounts were journalled ("sim", "hyperliquid",
# "hyperliquid-testnet", "hyperliquid@host:port", "binance") as the venue and network of their
# rows, in SQL (migration 2): see AccountRef.from_legacy_label for the same mapping in Python.
_LEGACY_NETWORK: Final = """CASE
                WHEN venue = 'sim' THEN 'sim:legacy'
                WHEN venue = 'hyperliquid' THEN 'mainnet'
                WHEN venue = 'hyperliquid-testnet' THEN 'testnet'
                WHEN substr(venue, 1, 12) = 'hyperliquid@'
                    THEN 'url:' || substr(venue, length(rtrim(venue, replace(venue, '@', ''))) + 1)
                ELSE 'legacy' END"""
_LEGACY_VENUE: Final = """CASE
                WHEN venue = 'sim' OR venue = 'hyperliquid-testnet'
                     OR substr(venue, 1, 12) = 'hyperliquid@' THEN 'hyperliquid'
                ELSE venue END"""

_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        CREATE TABLE intents (
            cloid        TEXT PRIMARY KEY CHECK (length(cloid) = 34),
            created_ms   INTEGER NOT NULL,
            updated_ms   INTEGER NOT NULL,
            venue        TEXT NOT NULL,
            symbol       TEXT NOT NULL,
            asset        INTEGER NOT NULL,
            side         TEXT NOT NULL CHECK (side IN ('B', 'A')),
            size         REAL NOT NULL CHECK (size > 0),
            price        REAL NOT NULL CHECK (price > 0),
            tif          TEXT NOT NULL,
            reduce_only  INTEGER NOT NULL CHECK (reduce_only IN (0, 1)),
            purpose      TEXT NOT NULL,
            state        TEXT NOT NULL CHECK (state IN
                           ('pending','sent','acked','rejected','filled','cancelled','unknown')),
            sent_ms      INTEGER,
            oid          INTEGER,
            filled_sz    REAL NOT NULL DEFAULT 0,
            avg_px       REAL,
            error        TEXT
        )
        """,
        "CREATE INDEX intents_state ON intents (state)",
        "CREATE INDEX intents_oid ON intents (venue, oid)",
        """
        CREATE TABLE fills (
            id           INTEGER PRIMARY KEY,
            venue        TEXT NOT NULL,
            tid          INTEGER NOT NULL,
            hash         TEXT NOT NULL,
            cloid        TEXT,
            oid          INTEGER,
            symbol       TEXT NOT NULL,
            side         TEXT NOT NULL CHECK (side IN ('B', 'A')),
            px           REAL NOT NULL,
            sz           REAL NOT NULL,
            fee          REAL NOT NULL,
            fee_token    TEXT NOT NULL,
            time_ms      INTEGER NOT NULL,
            closed_pnl   REAL NOT NULL,
            direction    TEXT,
            UNIQUE (venue, tid, hash)
        )
        """,
        "CREATE INDEX fills_time ON fills (time_ms)",
        "CREATE INDEX fills_cloid ON fills (cloid)",
        "CREATE INDEX fills_oid ON fills (venue, oid)",
        """
        CREATE TABLE cancels (
            id           INTEGER PRIMARY KEY,
            time_ms      INTEGER NOT NULL,
            venue        TEXT NOT NULL,
            cloid        TEXT REFERENCES intents (cloid),
            oid          INTEGER,
            status       TEXT NOT NULL CHECK (status IN ('requested', 'cancelled', 'error')),
            error        TEXT,
            CHECK (cloid IS NOT NULL OR oid IS NOT NULL)
        )
        """,
        "CREATE INDEX cancels_cloid ON cancels (cloid)",
        """
        CREATE TABLE funding (
            id           INTEGER PRIMARY KEY,
            venue        TEXT NOT NULL,
            time_ms      INTEGER NOT NULL,
            symbol       TEXT NOT NULL,
            usdc         REAL NOT NULL,
            size         REAL NOT NULL,
            rate         REAL NOT NULL,
            UNIQUE (venue, time_ms, symbol)
        )
        """,
        "CREATE INDEX funding_time ON funding (time_ms)",
        """
        CREATE TABLE events (
            id           INTEGER PRIMARY KEY,
            time_ms      INTEGER NOT NULL,
            kind         TEXT NOT NULL,
            message      TEXT NOT NULL,
            detail       TEXT NOT NULL
        )
        """,
        "CREATE INDEX events_kind ON events (kind, id)",
    ),
    # 2: accounts (venue, network, account) on every order table; per-account uniqueness of
    # fills and funding (table rebuilds, rows copied with their ids); shared trading state,
    # sync cursors and gaps, account books.
    (
        # intents: new columns, old labels mapped (every SET expression sees the old row)
        "ALTER TABLE intents ADD COLUMN network TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE intents ADD COLUMN account TEXT NOT NULL DEFAULT ''",
        f"""
        UPDATE intents SET
            account = 'legacy',
            network = {_LEGACY_NETWORK},
            venue = {_LEGACY_VENUE}
        """,
        "DROP INDEX intents_oid",
        "CREATE INDEX intents_account_oid ON intents (venue, network, account, oid)",
        "CREATE INDEX intents_account_state ON intents (venue, network, account, state)",
        # fills: rebuilt for UNIQUE (venue, network, account, tid, hash)
        """
        CREATE TABLE fills_v2 (
            id           INTEGER PRIMARY KEY,
            venue        TEXT NOT NULL,
            network      TEXT NOT NULL CHECK (length(network) > 0),
            account      TEXT NOT NULL CHECK (length(account) > 0),
            tid          INTEGER NOT NULL,
            hash         TEXT NOT NULL,
            cloid        TEXT,
            oid          INTEGER,
            symbol       TEXT NOT NULL,
            side         TEXT NOT NULL CHECK (side IN ('B', 'A')),
            px           REAL NOT NULL,
            sz           REAL NOT NULL,
            fee          REAL NOT NULL,
            fee_token    TEXT NOT NULL,
            time_ms      INTEGER NOT NULL,
            closed_pnl   REAL NOT NULL,
            direction    TEXT,
            UNIQUE (venue, network, account, tid, hash)
        )
        """,
        f"""
        INSERT INTO fills_v2 (id, venue, network, account, tid, hash, cloid, oid, symbol, side,
                              px, sz, fee, fee_token, time_ms, closed_pnl, direction)
        SELECT id,
            {_LEGACY_VENUE},
            {_LEGACY_NETWORK},
            'legacy', tid, hash, cloid, oid, symbol, side, px, sz, fee, fee_token, time_ms,
            closed_pnl, direction
        FROM fills
        """,
        "DROP TABLE fills",
        "ALTER TABLE fills_v2 RENAME TO fills",
        "CREATE INDEX fills_time ON fills (time_ms)",
        "CREATE INDEX fills_cloid ON fills (cloid)",
        "CREATE INDEX fills_account_oid ON fills (venue, network, account, oid)",
        "CREATE INDEX fills_account_time ON fills (venue, network, account, time_ms)",
        # cancels: new columns, labels mapped
        "ALTER TABLE cancels ADD COLUMN network TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE cancels ADD COLUMN account TEXT NOT NULL DEFAULT ''",
        f"""
        UPDATE cancels SET
            account = 'legacy',
            network = {_LEGACY_NETWORK},
            venue = {_LEGACY_VENUE}
        """,
        "CREATE INDEX cancels_account ON cancels (venue, network, account, id)",
        # funding: rebuilt for UNIQUE (venue, network, account, time_ms, symbol)
        """
        CREATE TABLE funding_v2 (
            id           INTEGER PRIMARY KEY,
            venue        TEXT NOT NULL,
            network      TEXT NOT NULL CHECK (length(network) > 0),
            account      TEXT NOT NULL CHECK (length(account) > 0),
            time_ms      INTEGER NOT NULL,
            symbol       TEXT NOT NULL,
            usdc         REAL NOT NULL,
            size         REAL NOT NULL,
            rate         REAL NOT NULL,
            UNIQUE (venue, network, account, time_ms, symbol)
        )
        """,
        f"""
        INSERT INTO funding_v2 (id, venue, network, account, time_ms, symbol, usdc, size, rate)
        SELECT id,
            {_LEGACY_VENUE},
            {_LEGACY_NETWORK},
            'legacy', time_ms, symbol, usdc, size, rate
        FROM funding
        """,
        "DROP TABLE funding",
        "ALTER TABLE funding_v2 RENAME TO funding",
        "CREATE INDEX funding_time ON funding (time_ms)",
        # events: the account, NULL for a process-wide event (every old one)
        "ALTER TABLE events ADD COLUMN venue TEXT",
        "ALTER TABLE events ADD COLUMN network TEXT",
        "ALTER TABLE events ADD COLUMN account TEXT",
        "CREATE INDEX events_account ON events (venue, network, account, kind, id)",
        """
        CREATE TABLE trading_state (
            venue        TEXT NOT NULL,
            network      TEXT NOT NULL,
            account      TEXT NOT NULL,
            state        TEXT NOT NULL CHECK (state IN ('active', 'reducing', 'halted')),
            reason       TEXT NOT NULL,
            since_ms     INTEGER NOT NULL,
            origin       TEXT NOT NULL,
            updated_ms   INTEGER NOT NULL,
            version      INTEGER NOT NULL CHECK (version > 0),
            PRIMARY KEY (venue, network, account)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE sync_cursors (
            venue        TEXT NOT NULL,
            network      TEXT NOT NULL,
            account      TEXT NOT NULL,
            stream       TEXT NOT NULL,
            time_ms      INTEGER NOT NULL,
            updated_ms   INTEGER NOT NULL,
            PRIMARY KEY (venue, network, account, stream)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE sync_gaps (
            id           INTEGER PRIMARY KEY,
            venue        TEXT NOT NULL,
            network      TEXT NOT NULL,
            account      TEXT NOT NULL,
            stream       TEXT NOT NULL,
            from_ms      INTEGER NOT NULL,
            to_ms        INTEGER NOT NULL,
            reason       TEXT NOT NULL,
            recorded_ms  INTEGER NOT NULL,
            CHECK (to_ms >= from_ms),
            UNIQUE (venue, network, account, stream, from_ms, to_ms)
        )
        """,
        """
        CREATE TABLE book_members (
            venue        TEXT NOT NULL,
            network      TEXT NOT NULL,
            account      TEXT NOT NULL,
            book_venue   TEXT NOT NULL,
            book_network TEXT NOT NULL,
            book_account TEXT NOT NULL,
            since_ms     INTEGER NOT NULL,
            PRIMARY KEY (venue, network, account)
        ) WITHOUT ROWID
        """,
    ),
)

#: Schema version this module writes.
SCHEMA_VERSION: Final = len(_MIGRATIONS)


# --------------------------------------------------------------------------- accounts

_VENUE_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
# printable, no whitespace: one token of a one-line label
_TOKEN_RE: Final = re.compile(r"^[^\s\x00-\x1f\x7f]{1,200}$")
_HL_ADDRESS_RE: Final = re.compile(r"^0x[0-9a-f]{40}$")
# longer than an address (0x + 40 hex digits): a private key, an API key or secret (64 characters)
_SECRET_RUN_RE: Final = re.compile(r"[A-Za-z0-9]{43,}")


@dataclass(slots=True, frozen=True, order=True)
class AccountRef:
    """Which account a journal row belongs to: ``(venue, network, account)``.

    * ``venue``: ``"hyperliquid"``, ``"binance"`` or a future venue (lowercase).
    * ``network``: ``"mainnet"``, ``"testnet"``, ``"sim:<session id>"`` for the embedded
      simulator (a new id per session: the simulator reuses order and trade ids),
      ``"url:<host:port>"`` for another endpoint, ``"legacy"`` when unknown.
    * ``account``: for Hyperliquid the ``0x`` address, lowercased (normalised here); for
      Binance an opaque id, ``"key:"`` + the first 16 hex digits of the API key's SHA-256
      (:meth:`binance`); ``"legacy"`` for rows of unknown account (:data:`LEGACY_ACCOUNT`).

    No field may hold a secret: an API key or private key is never stored.

    Raises:
        ValueError: an empty or multi-token field, a network carrying URL credentials
            (``@``), an account that looks like a key
            (a run of more than 42 letters/digits: longer than an address), or a Hyperliquid
            account that is not an address (nor ``"legacy"``).
    """

    venue: str
    network: str
    account: str

    def __post_init__(self) -> None:
        for name in ("venue", "network", "account"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ValueError(f"AccountRef.{name} must be a str, got {type(value).__name__}")
        venue = self.venue.strip().lower()
        if not _VENUE_RE.match(venue):
            raise ValueError(f"venue must be a lowercase name like 'hyperliquid', got {self.venue!r}")
        object.__setattr__(self, "venue", venue)
        if not _TOKEN_RE.match(self.network):
            raise ValueError(f"network must be one printable token, got {self.network!r}")
        if "@" in self.network:
            raise ValueError("network must not carry URL credentials ('@'): use url:<host:port>")
        account = self.account.strip()
        if venue == "hyperliquid" and account != LEGACY_ACCOUNT:
            account = account.lower()
            if not _HL_ADDRESS_RE.match(account):
                raise ValueError("a Hyperliquid account is its 0x address (40 hex digits)")
        elif not _TOKEN_RE.match(account):
            raise ValueError("account must be one printable token (an id, never a key)")
        if _SECRET_RUN_RE.search(account):
            raise ValueError("account looks like a key or secret: store an opaque id (AccountRef.binance)")
        object.__setattr__(self, "account", account)

    @classmethod
    def hyperliquid(cls, network: str, address: str) -> AccountRef:
        """A Hyperliquid account (``address`` any case; stored lowercase).

        Raises:
            ValueError: as the constructor.
        """
        return cls("hyperliquid", network, address)

    @classmethod
    def binance(cls, network: str, api_key: str) -> AccountRef:
        """A Binance account named by its API key without storing it: ``"key:"`` + the first
        16 hex digits of ``sha256(api_key)`` (the same key always gives the same id).

        Raises:
            ValueError: empty ``api_key`` or a bad ``network``.
        """
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key must be a non-empty str")
        digest = hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]
        return cls("binance", network, f"key:{digest}")

    @classmethod
    def from_legacy_label(cls, label: str) -> AccountRef:
        """The account rows written under an old venue label belong to: ``"sim"`` →
        ``hyperliquid sim:legacy``, ``"hyperliquid"`` → ``hyperliquid mainnet``,
        ``"hyperliquid-testnet"`` → ``hyperliquid testnet``, ``"hyperliquid@h:p"`` →
        ``hyperliquid url:h:p``, anything else ``L`` → ``L legacy``; account ``"legacy"``.

        Raises:
            ValueError: an empty label, or one that does not make a valid ref.
        """
        if not isinstance(label, str) or not label:
            raise ValueError("venue label must be a non-empty str")
        venue, network = _label_venue_network(label)
        return cls(venue, network, LEGACY_ACCOUNT)

    @property
    def label(self) -> str:
        """One line for screens and logs, e.g. ``"hyperliquid mainnet 0x12ab…cdef"``."""
        return f"{self.venue} {self.network} {_short_account(self.account)}"

    @property
    def legacy_label(self) -> str:
        """The old venue label of this venue and network (``"sim"``, ``"hyperliquid"``,
        ``"hyperliquid-testnet"``, ``"hyperliquid@h:p"``, ``"binance"``…), as the
        process-wide methods report it."""
        return _legacy_label(self.venue, self.network)

    @property
    def is_legacy(self) -> bool:
        """True for the unknown account of old or process-wide rows (:data:`LEGACY_ACCOUNT`)."""
        return self.account == LEGACY_ACCOUNT

    @property
    def _key(self) -> _Key:
        return (self.venue, self.network, self.account)


def _short_account(account: str) -> str:
    if _HL_ADDRESS_RE.match(account):
        return f"{account[:6]}…{account[-4:]}"
    if len(account) > 24:
        return f"{account[:12]}…{account[-4:]}"
    return account


def _label_venue_network(label: str) -> tuple[str, str]:
    """Venue and network of an old venue label (the Python twin of migration 2's CASE)."""
    if label == "sim":
        return "hyperliquid", "sim:legacy"
    if label == "hyperliquid":
        return "hyperliquid", "mainnet"
    if label == "hyperliquid-testnet":
        return "hyperliquid", "testnet"
    if label[:12] == "hyperliquid@":
        return "hyperliquid", "url:" + label.rsplit("@", 1)[1]
    return label, "legacy"


def _legacy_label(venue: str, network: str) -> str:
    if venue == "hyperliquid":
        if network == "mainnet":
            return "hyperliquid"
        if network == "testnet":
            return "hyperliquid-testnet"
        if network.startswith("sim:"):
            return "sim"
        if network.startswith("url:"):
            return "hyperliquid@" + network[4:]
    return venue


def _legacy_key(label: str) -> _Key:
    if not isinstance(label, str) or not label:
        raise ValueError("venue must be a non-empty str")
    return (*_label_venue_network(label), LEGACY_ACCOUNT)


def _row_ref(venue: str, network: str, account: str) -> AccountRef:
    """A ref read back from the database: validated when possible; an old row whose label
    makes no valid ref (a venue label with spaces…) is returned as stored."""
    try:
        return AccountRef(venue, network, account)
    except ValueError:
        ref = object.__new__(AccountRef)
        object.__setattr__(ref, "venue", venue)
        object.__setattr__(ref, "network", network)
        object.__setattr__(ref, "account", account)
        return ref


@dataclass(slots=True, frozen=True)
class Book:
    """Accounts traded together and reported together (``docs/domain.md`` §7 per book): ``primary``
    names the book (the Hyperliquid account of a perp-against-perp pair), ``members`` every
    account in it, ``primary`` first, at most one per venue. ``registered``: False for an
    account never registered (a book of its own) and for the legacy accounts grouped by
    :meth:`Journal.books`."""

    primary: AccountRef
    members: tuple[AccountRef, ...]
    registered: bool = True

    @property
    def label(self) -> str:
        """One line: the members' labels joined by ``" + "``."""
        return " + ".join(m.label for m in self.members)

    def __contains__(self, ref: object) -> bool:
        return ref in self.members


@dataclass(slots=True, frozen=True)
class TradingStateRecord:
    """The shared trading state of one account.

    ``state``: ``"active"`` (new risk allowed), ``"reducing"`` (only orders that reduce
    exposure), ``"halted"`` (nothing but the kill switch); ``reason`` one line; ``since_ms``
    when this state was entered (ms UTC, journal clock; kept when the same state is set
    again); ``origin`` who set it (``"console pid 1234"``, ``"pfterm kill"``, ``"daily loss"``,
    ``"harvester"``…); ``updated_ms`` the last write; ``version`` increases by one with
    every write (1 for the first).
    """

    ref: AccountRef
    state: str
    reason: str
    since_ms: int
    origin: str
    updated_ms: int
    version: int


@dataclass(slots=True, frozen=True)
class SyncGap:
    """A span ``[from_ms, to_ms]`` (venue time, ms UTC) of a venue stream (``"fills"`` or
    ``"funding"``) that could not be fetched, with the ``reason``; ``recorded_ms`` when it was
    journalled."""

    id: int
    ref: AccountRef
    stream: str
    from_ms: int
    to_ms: int
    reason: str
    recorded_ms: int


# --------------------------------------------------------------------------- records


@dataclass(slots=True, frozen=True)
class Intent:
    """One order intent as journalled.

    ``side`` is ``"B"`` (buy) or ``"A"`` (sell); ``size`` base units (> 0); ``price`` the
    USD limit price; ``asset`` the venue's asset id; ``tif`` ``"Gtc"|"Alo"|"Ioc"``;
    ``purpose`` why it was sent (``"kill"``, ``"hedge"``, ``"rebalance"``, ``"manual"``,
    ``"harvest"``…); ``state`` one of :data:`INTENT_STATES`; ``sent_ms`` when it was last
    marked sent (``None``: never left the process as far as the journal knows); ``oid`` the
    venue's order id once known; ``filled_sz`` base units filled so far, ``avg_px`` their
    USD average price; ``error`` the venue's rejection or the reconciliation's reason.
    Timestamps are ms UTC. ``venue`` is the venue (read through an :class:`AccountJournal`)
    or the old venue label (read through the process-wide :class:`Journal` methods);
    ``network`` and ``account`` complete the :class:`AccountRef` (:attr:`ref`).
    """

    cloid: str
    created_ms: int
    updated_ms: int
    venue: str
    symbol: str
    asset: int
    side: Side
    size: float
    price: float
    tif: str
    reduce_only: bool
    purpose: str
    state: str
    sent_ms: int | None
    oid: int | None
    filled_sz: float
    avg_px: float | None
    error: str | None
    network: str = ""
    account: str = ""

    @property
    def is_active(self) -> bool:
        """True while the venue may still be working the order (pending, sent, acked)."""
        return self.state in ACTIVE_STATES

    @property
    def ref(self) -> AccountRef:
        """The account the intent belongs to."""
        venue = _label_venue_network(self.venue)[0] if self.network else self.venue
        return _row_ref(venue, self.network, self.account)


@dataclass(slots=True, frozen=True)
class Cancel:
    """One cancel request or outcome: ``status`` ``"requested"|"cancelled"|"error"``,
    ``time_ms`` ms UTC, identified by ``cloid`` and/or venue ``oid``; ``venue`` as for
    :class:`Intent`, ``network``/``account`` the rest of its :class:`AccountRef`."""

    id: int
    time_ms: int
    venue: str
    cloid: str | None
    oid: int | None
    status: str
    error: str | None
    network: str = ""
    account: str = ""


@dataclass(slots=True, frozen=True)
class Event:
    """One entry of the action log: ``time_ms`` ms UTC, ``kind`` a short category
    (``"order"``, ``"harvest"``, ``"reconcile"``…), a human ``message`` and a redacted
    JSON ``detail``; ``ref`` the account it concerns, ``None`` for a process-wide event."""

    id: int
    time_ms: int
    kind: str
    message: str
    detail: dict[str, Any]
    ref: AccountRef | None = None


@dataclass(slots=True, frozen=True)
class IntentChange:
    """A state transition made by reconciliation: ``before`` → ``after`` with a reason."""

    cloid: str
    before: str
    after: str
    reason: str


@dataclass(slots=True)
class ReconcileReport:
    """What :meth:`AccountJournal.reconcile` (or the process-wide :meth:`Journal.reconcile`)
    found and changed.

    ``changes``: intent transitions made by this call (empty when run again on the same
    venue state). ``new_fills``: venue fills journalled by this call (already-known fills
    are not repeated); ``foreign_fills`` the subset matching no intent (orders placed
    elsewhere). ``never_sent``: every intent currently ``unknown`` that was never marked
    sent — it never reached the venue; resend with the same cloid
    (:meth:`AccountJournal.mark_sent`) or drop it (:meth:`AccountJournal.abandon`). ``resting``: cloids of
    journalled intents the venue lists as open. ``untracked_orders``: venue open orders
    (as given) whose cloid the journal does not know.
    """

    changes: list[IntentChange] = field(default_factory=list)
    new_fills: list[Fill] = field(default_factory=list)
    foreign_fills: list[Fill] = field(default_factory=list)
    never_sent: list[Intent] = field(default_factory=list)
    resting: list[str] = field(default_factory=list)
    untracked_orders: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True if this reconciliation modified the journal."""
        return bool(self.changes or self.new_fills)


# --------------------------------------------------------------------------- validation


def redact(value: Any) -> Any:
    """Return a copy of ``value`` (JSON-like: dicts, lists, tuples, scalars) in which every
    mapping value whose key contains ``key``, ``secret``, ``private``, ``signature`` or
    ``mnemonic`` (case-insensitive) is replaced by :data:`REDACTED`, at any depth.
    Non-string keys are converted to strings."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            name = str(k)
            lowered = name.lower()
            out[name] = REDACTED if any(m in lowered for m in _SECRET_MARKERS) else redact(v)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact(v) for v in value]
    return value


def _limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    return min(limit, _MAX_LIMIT)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


_log = logging.getLogger(__name__)

_SIDE_FILES: Final = ("-wal", "-shm")
"""Suffixes of the files SQLite keeps beside a WAL database (they take the database's mode)."""


def make_private_dirs(path: Path) -> None:
    """Create the directory ``path`` and every missing ancestor, each ``0700`` whatever the umask.

    Directories that already exist are left as they are (they may be the user's own, e.g.
    ``~/.local/state``); only those created here are set to ``0700``.

    Raises:
        OSError: a directory cannot be created (e.g. a file stands in the way).
    """
    missing: list[Path] = []
    here = Path(path)
    while not here.is_dir():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            if directory.is_dir():
                continue  # another process made it meanwhile
            raise
        os.chmod(directory, 0o700)  # the umask may have taken bits off mkdir's mode


def create_private_file(path: Path) -> bool:
    """Create the empty file ``path`` with mode ``0600`` whatever the umask; ``False`` if it existed.

    An existing file is left untouched (see :func:`tighten_private_file`).

    Raises:
        OSError: the file cannot be created (missing directory, no permission).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return True


def tighten_private_file(path: Path, what: str) -> None:
    """A one-line warning when the existing regular file ``path`` has group/other permission bits,
    and ``chmod 0600`` when the current user owns it (a file owned by someone else is left as is).

    ``what`` names the file in the warning (``"journal"``, ``"log file"``). A missing file or
    one that is not a regular file is ignored.

    Raises:
        OSError: the mode of a file the user owns cannot be changed.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISREG(st.st_mode) or not mode & 0o077:
        return
    if st.st_uid == os.getuid():
        os.chmod(path, 0o600)
        _log.warning("%s %s was readable by group/others (mode %04o): tightened to 0600", what, path, mode)
    else:
        _log.warning("%s %s is readable by group/others (mode %04o) and owned by another user", what, path, mode)


def _one_line(value: Any, name: str) -> str:
    """``value`` as one line: whitespace runs collapsed, at most 300 characters.

    Raises:
        ValueError: empty once collapsed.
    """
    text = " ".join(str(value).split())
    if not text:
        raise ValueError(f"{name} must be non-empty")
    return text if len(text) <= _MAX_LINE else text[: _MAX_LINE - 1] + "…"


def _ms(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int (ms UTC), got {value!r}")
    return value


def _stream(value: Any) -> str:
    if value not in SYNC_STREAMS:
        raise ValueError(f"stream must be one of {sorted(SYNC_STREAMS)}, got {value!r}")
    return str(value)


# --------------------------------------------------------------------------- journal

_INTENT_COLS: Final = (
    "cloid, created_ms, updated_ms, venue, symbol, asset, side, size, price, tif, "
    "reduce_only, purpose, state, sent_ms, oid, filled_sz, avg_px, error, network, account"
)
_FILL_COLS: Final = "venue, tid, hash, symbol, side, px, sz, fee, fee_token, time_ms, oid, cloid, closed_pnl, direction"
_FUNDING_COLS: Final = "venue, time_ms, symbol, usdc, size, rate"
_SCOPE: Final = "venue=? AND network=? AND account=?"
_ALL_TIME: Final = -(2**62)


def _intent_values(
    cloid: Any,
    symbol: Any,
    asset: Any,
    side: Any,
    size: Any,
    price: Any,
    tif: Any,
    reduce_only: bool,
    purpose: Any,
) -> tuple[Any, ...]:
    """Validated ``intents`` row values (without account, timestamps and state), cloid first:
    ``(cloid, symbol, asset, side, size, price, tif, reduce_only, purpose)``."""
    cloid = _cloid(cloid)
    if tif not in _TIFS:
        raise ValueError(f"tif must be one of {sorted(_TIFS)}, got {tif!r}")
    if not symbol or not purpose:
        raise ValueError("symbol, purpose and venue must be non-empty")
    if not isinstance(asset, int) or isinstance(asset, bool) or asset < 0:
        raise ValueError(f"asset must be a non-negative int, got {asset!r}")
    return (
        cloid,
        symbol,
        asset,
        _side(side),
        _positive(size, "size"),
        _positive(price, "price"),
        tif,
        1 if reduce_only else 0,
        purpose,
    )


def _out_venue(row: sqlite3.Row, legacy: bool) -> str:
    return _legacy_label(row["venue"], row["network"]) if legacy else row["venue"]


def _intent_row(row: sqlite3.Row, legacy: bool = True) -> Intent:
    return Intent(
        cloid=row["cloid"],
        created_ms=row["created_ms"],
        updated_ms=row["updated_ms"],
        venue=_out_venue(row, legacy),
        symbol=row["symbol"],
        asset=row["asset"],
        side=row["side"],
        size=row["size"],
        price=row["price"],
        tif=row["tif"],
        reduce_only=bool(row["reduce_only"]),
        purpose=row["purpose"],
        state=row["state"],
        sent_ms=row["sent_ms"],
        oid=row["oid"],
        filled_sz=row["filled_sz"],
        avg_px=row["avg_px"],
        error=row["error"],
        network=row["network"],
        account=row["account"],
    )


def _fill_row(row: sqlite3.Row, legacy: bool) -> Fill:
    return Fill(
        venue=_out_venue(row, legacy),
        tid=row["tid"],
        hash=row["hash"],
        symbol=row["symbol"],
        side=row["side"],
        px=row["px"],
        sz=row["sz"],
        fee=row["fee"],
        fee_token=row["fee_token"],
        time_ms=row["time_ms"],
        oid=row["oid"],
        cloid=row["cloid"],
        closed_pnl=row["closed_pnl"],
        direction=row["direction"],
    )


def _funding_row(row: sqlite3.Row, legacy: bool) -> FundingPayment:
    return FundingPayment(_out_venue(row, legacy), row["time_ms"], row["symbol"], row["usdc"], row["size"], row["rate"])


def _cancel_row(row: sqlite3.Row, legacy: bool) -> Cancel:
    return Cancel(
        row["id"],
        row["time_ms"],
        _out_venue(row, legacy),
        row["cloid"],
        row["oid"],
        row["status"],
        row["error"],
        row["network"],
        row["account"],
    )


def _event_row(row: sqlite3.Row) -> Event:
    ref = None if row["account"] is None else _row_ref(row["venue"], row["network"], row["account"])
    return Event(row["id"], row["time_ms"], row["kind"], row["message"], json.loads(row["detail"]), ref)


def _state_row(row: sqlite3.Row) -> TradingStateRecord:
    return TradingStateRecord(
        ref=_row_ref(row["venue"], row["network"], row["account"]),
        state=row["state"],
        reason=row["reason"],
        since_ms=row["since_ms"],
        origin=row["origin"],
        updated_ms=row["updated_ms"],
        version=row["version"],
    )


def _gap_row(row: sqlite3.Row) -> SyncGap:
    return SyncGap(
        row["id"],
        _row_ref(row["venue"], row["network"], row["account"]),
        row["stream"],
        row["from_ms"],
        row["to_ms"],
        row["reason"],
        row["recorded_ms"],
    )


def _scope(key: _Key | None, prefix: str = "WHERE") -> tuple[str, list[Any]]:
    """SQL restricting a query to one account (nothing for the process-wide form)."""
    if key is None:
        return "", []
    return f" {prefix} {_SCOPE}", list(key)


class Journal:
    """The SQLite trading journal (see the module docstring for accounts, states and guarantees).

    Args:
        path: database file, created ``0600`` (missing parent directories ``0700``); an existing
            one with group/other bits is tightened (:func:`tighten_private_file`). ``":memory:"`` works for
            throwaway use (no WAL then).
        clock: ms UTC clock for ``created_ms``/``updated_ms``/event/state times (injectable).

    Raises:
        JournalError: the file's schema is newer than this code understands.
        sqlite3.Error: the file cannot be opened or is not a database.

    All writes commit before the method returns. Use from one thread (see module doc);
    ``close()`` or a ``with`` block releases the connection. :meth:`for_account` gives the
    per-account view every new caller should use; the order methods here without an account
    are the process-wide, legacy form (a venue label, account ``"legacy"``).
    """

    def __init__(self, path: Path | str, *, clock: Callable[[], int] = _wall_ms) -> None:
        self._path = path if str(path) == ":memory:" else Path(path)
        if isinstance(self._path, Path):
            # 0700 directories, a 0600 file: SQLite gives its -wal/-shm files the database's mode
            make_private_dirs(self._path.parent)
            for file in (self._path, *(Path(f"{self._path}{suffix}") for suffix in _SIDE_FILES)):
                tighten_private_file(file, "journal")
            create_private_file(self._path)
        self._clock = clock
        self._depth = 0  # nesting of _tx: inner transactions join the outer one (batch)
        # isolation_level=None: no implicit transactions; every write runs in an explicit
        # BEGIN IMMEDIATE … COMMIT (see _tx); the timeout is SQLite's busy timeout, how long
        # a write waits for another connection's (another process's) write lock.
        self._conn = sqlite3.connect(str(self._path), isolation_level=None, timeout=BUSY_TIMEOUT_S)
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: in WAL mode every commit is fsynced, so an intent is on disk before the
            # order goes out; acks and fills get the same guarantee.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except BaseException:
            self._conn.close()
            raise
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def path(self) -> Path | str:
        """The database path given at construction."""
        return self._path

    @property
    def schema_version(self) -> int:
        """``PRAGMA user_version`` of the open database."""
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @property
    def journal_mode(self) -> str:
        """SQLite journal mode in force (``"wal"`` for a file database)."""
        return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        """Apply the missing migrations, each in its own ``BEGIN IMMEDIATE`` transaction; the
        version is re-read inside it, so two processes opening an old file at once migrate it
        once."""
        if self.schema_version > SCHEMA_VERSION:
            raise JournalError(f"journal schema version {self.schema_version} is newer than supported {SCHEMA_VERSION}")
        while True:
            with self._tx():
                version = self.schema_version
                if version > SCHEMA_VERSION:
                    raise JournalError(f"journal schema version {version} is newer than supported {SCHEMA_VERSION}")
                if version == SCHEMA_VERSION:
                    return
                for statement in _MIGRATIONS[version]:
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {version + 1}")

    @contextmanager
    def batch(self) -> Iterator[Journal]:
        """Group several journal calls into one transaction (one ``fsync``), all or none.

        Inside the block every method — of this journal and of any :class:`AccountJournal`
        of it — joins the outer transaction; an exception rolls back everything recorded in
        the block. Use it when one decision records several things at once, e.g. the kill
        switch's cancel requests and close intents on two accounts before sending them.
        """
        with self._tx():
            yield self

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        if self._depth:
            self._depth += 1
            try:
                yield conn
            finally:
                self._depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield conn
        except BaseException:
            self._depth = 0
            conn.execute("ROLLBACK")
            raise
        self._depth = 0
        conn.execute("COMMIT")

    # ------------------------------------------------------------------ accounts and books

    def for_account(self, ref: AccountRef) -> AccountJournal:
        """The journal seen from one account: every write is keyed by ``ref`` and every read
        and match stays inside it.

        Raises:
            TypeError: ``ref`` is not an :class:`AccountRef`.
        """
        if not isinstance(ref, AccountRef):
            raise TypeError(f"for_account needs an AccountRef, got {type(ref).__name__}")
        return AccountJournal(self, ref)

    def accounts(self) -> list[AccountRef]:
        """Every account with at least one row (intents, fills, cancels, funding, events,
        trading state, sync cursors or gaps, books), sorted."""
        parts = [
            f"SELECT DISTINCT venue, network, account FROM {t}"
            for t in (
                "intents",
                "fills",
                "cancels",
                "funding",
                "trading_state",
                "sync_cursors",
                "sync_gaps",
                "book_members",
            )
        ]
        parts.append("SELECT DISTINCT venue, network, account FROM events WHERE account IS NOT NULL")
        rows = self._conn.execute(" UNION ".join(parts) + " ORDER BY 1, 2, 3").fetchall()
        return sorted(_row_ref(r[0], r[1], r[2]) for r in rows)

    def register_book(self, primary: AccountRef, members: Sequence[AccountRef]) -> Book:
        """Record that ``members`` (``primary`` is added if missing) are traded together and
        reported as one book. Idempotent: registering the same book again writes nothing.
        Additive: members registered before and not listed now stay in the book.

        An account belongs to one book: a member registered in another book moves to this
        one, and a book whose primary moves here dissolves (its other accounts become books
        of their own); every such change is journalled as a ``"book"`` event.

        Returns:
            The book as now registered.

        Raises:
            TypeError: a ref is not an :class:`AccountRef`.
            ValueError: two members of the same venue (the report pairs legs by venue).
        """
        refs = [primary, *members]
        for r in refs:
            if not isinstance(r, AccountRef):
                raise TypeError(f"register_book needs AccountRefs, got {type(r).__name__}")
        ordered: list[AccountRef] = []
        for r in refs:
            if r not in ordered:
                ordered.append(r)
        venues = [r.venue for r in ordered]
        if len(set(venues)) != len(venues):
            raise ValueError(f"a book has at most one account per venue, got {[r.label for r in ordered]}")
        with self._tx() as conn:
            now = self._clock()
            current = {r: self._book_key(conn, r) for r in ordered}
            if all(k == primary._key for k in current.values()):
                return self._book(conn, primary._key)  # already so: nothing written
            moved: list[str] = []
            for r in ordered:
                old = current[r]
                if old is not None and old != primary._key and r._key == old:
                    # r was the primary of another book: that book dissolves
                    conn.execute(
                        "DELETE FROM book_members WHERE book_venue=? AND book_network=? AND book_account=?",
                        old,
                    )
                    moved.append(f"the book of {r.label} dissolved")
                if old != primary._key:
                    if old is not None:
                        moved.append(f"{r.label} moved from the book of {_row_ref(*old).label}")
                    conn.execute(
                        "INSERT INTO book_members (venue, network, account, book_venue, book_network, "
                        "book_account, since_ms) VALUES (?,?,?,?,?,?,?) ON CONFLICT (venue, network, account) "
                        "DO UPDATE SET book_venue=excluded.book_venue, book_network=excluded.book_network, "
                        "book_account=excluded.book_account, since_ms=excluded.since_ms",
                        (*r._key, *primary._key, now),
                    )
            book = self._book(conn, primary._key)
            self._insert_event(
                conn,
                "book",
                f"book {book.label}" + (f" ({'; '.join(moved)})" if moved else ""),
                json.dumps({"members": [m.label for m in book.members], "moved": moved}, sort_keys=True),
                primary._key,
            )
            return book

    def books(self) -> list[Book]:
        """Every book, sorted by primary: the registered ones, then every other account with
        rows as a book of its own — except the ``"legacy"`` accounts (old rows, process-wide
        writers) of a venue other than Hyperliquid (the Binance leg), which join the legacy
        Hyperliquid account when there is exactly one (as the old single-journal report
        paired them); with several they stay alone."""
        rows = self._conn.execute("SELECT * FROM book_members").fetchall()
        groups: dict[_Key, list[AccountRef]] = {}
        for r in rows:
            groups.setdefault((r["book_venue"], r["book_network"], r["book_account"]), []).append(
                _row_ref(r["venue"], r["network"], r["account"])
            )
        registered = {m for ms in groups.values() for m in ms}
        out = [Book(_row_ref(*k), tuple(sorted(ms, key=lambda m: (m._key != k, m))), True) for k, ms in groups.items()]
        rest = [a for a in self.accounts() if a not in registered]
        legacy_hl = [a for a in rest if a.is_legacy and a.venue == "hyperliquid"]
        legacy_other = [a for a in rest if a.is_legacy and a.venue != "hyperliquid"]
        joined: set[AccountRef] = set()
        if len(legacy_hl) == 1 and legacy_other:
            by_venue: dict[str, AccountRef] = {}
            for a in legacy_other:
                by_venue.setdefault(a.venue, a)
            members = (legacy_hl[0], *sorted(by_venue.values()))
            out.append(Book(legacy_hl[0], members, False))
            joined.update(members)
        out.extend(Book(a, (a,), False) for a in rest if a not in joined)
        return sorted(out, key=lambda b: b.primary)

    def book_of(self, ref: AccountRef) -> Book:
        """The book ``ref`` belongs to (see :meth:`books`); a book of its own when it has none."""
        for b in self.books():
            if ref in b.members:
                return b
        return Book(ref, (ref,), False)

    def _book_key(self, conn: sqlite3.Connection, ref: AccountRef) -> _Key | None:
        row = conn.execute(
            "SELECT book_venue, book_network, book_account FROM book_members WHERE " + _SCOPE, ref._key
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def _book_members(self, conn: sqlite3.Connection, key: _Key) -> set[AccountRef]:
        rows = conn.execute(
            "SELECT venue, network, account FROM book_members WHERE book_venue=? AND book_network=? AND book_account=?",
            key,
        ).fetchall()
        return {_row_ref(r[0], r[1], r[2]) for r in rows}

    def _book(self, conn: sqlite3.Connection, key: _Key) -> Book:
        members = self._book_members(conn, key)
        primary = _row_ref(*key)
        return Book(primary, tuple(sorted(members, key=lambda m: (m != primary, m))), True)

    # ------------------------------------------------------------------ intents (process-wide form)

    def record_intent(
        self,
        *,
        cloid: str,
        symbol: str,
        asset: int,
        side: str,
        size: float | str,
        price: float | str,
        tif: str = "Gtc",
        reduce_only: bool = False,
        purpose: str = "manual",
        venue: str = "hyperliquid",
    ) -> Intent:
        """Journal an order about to be sent, in state ``pending``; committed (and fsynced)
        when this returns. Call it before signing/sending, then :meth:`mark_sent`.

        Process-wide (legacy) form: ``venue`` is an old venue label, the intent belongs to
        that label's ``"legacy"`` account (:meth:`AccountRef.from_legacy_label`); new callers
        use :meth:`AccountJournal.record_intent`.

        Args:
            cloid: ``0x`` + 32 hex digits (stored lowercase); unique for the journal's life.
            symbol: venue coin (``"BTC"``); asset: venue asset id.
            side: ``"B"``/``"A"`` (``"buy"``/``"sell"`` accepted).
            size: base units (> 0); price: USD limit price (> 0).
            tif: ``"Gtc"``, ``"Alo"`` or ``"Ioc"``; reduce_only: the venue flag.
            purpose: why the order exists (``"kill"``, ``"hedge"``, ``"rebalance"``,
                ``"manual"``, ``"harvest"``…).

        Raises:
            ValueError: a malformed argument.
            JournalError: the cloid is already journalled (never reuse one).
        """
        row = _intent_values(cloid, symbol, asset, side, size, price, tif, reduce_only, purpose)
        key = _legacy_key(venue)
        with self._tx() as conn:
            self._insert_intents(conn, [(key, row)])
        return self._require(row[0], None)

    def record_intents(self, intents: Sequence[Mapping[str, Any]]) -> list[Intent]:
        """Journal a batch of intents in one transaction (one ``fsync``), all or none.

        Each mapping has :meth:`record_intent`'s keyword arguments (process-wide form: an
        optional ``venue`` label). Use it for a batch that goes out as one venue action (a
        kill switch's closes, a rebalance).

        Raises:
            ValueError: a malformed intent (nothing is journalled).
            JournalError: a cloid already journalled, or twice in the batch (nothing is journalled).
        """
        rows = [(_legacy_key(i.get("venue", "hyperliquid")), _mapping_intent(i)) for i in intents]
        with self._tx() as conn:
            self._insert_intents(conn, rows)
        return [self._require(r[0], None) for _, r in rows]

    def _insert_intents(self, conn: sqlite3.Connection, rows: Sequence[tuple[_Key, tuple[Any, ...]]]) -> None:
        now = self._clock()
        try:
            conn.executemany(
                "INSERT INTO intents (cloid, created_ms, updated_ms, venue, network, account, symbol, "
                "asset, side, size, price, tif, reduce_only, purpose, state, sent_ms, oid, filled_sz, "
                "avg_px, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,'pending',NULL,NULL,0,NULL,NULL)",
                [(r[0], now, now, *key, *r[1:]) for key, r in rows],
            )
        except sqlite3.IntegrityError as exc:
            if len(rows) == 1:
                raise JournalError(f"cloid {rows[0][1][0]} is already journalled") from exc
            raise JournalError(f"a cloid of the batch is already journalled: {exc}") from exc

    def mark_sent(self, cloid: str) -> Intent:
        """Record that the order is about to go (or has gone) over the wire.

        Allowed from ``pending`` and from ``unknown`` (a resend with the same cloid after
        reconciliation); a no-op if already ``sent``. Process-wide form (any account).

        Raises:
            UnknownIntentError: no such intent.
            JournalError: the intent is acked or finished — sending it again would
                duplicate the order.
        """
        return self._mark_sent([cloid], None)[0]

    def mark_sent_many(self, cloids: Sequence[str]) -> list[Intent]:
        """:meth:`mark_sent` for a batch, in one transaction: all or none.

        Raises:
            UnknownIntentError, JournalError: as :meth:`mark_sent`, for any of them.
        """
        return self._mark_sent(cloids, None)

    def _mark_sent(self, cloids: Sequence[str], key: _Key | None) -> list[Intent]:
        norm = [_cloid(c) for c in cloids]
        with self._tx() as conn:
            now = self._clock()
            for cloid in norm:
                intent = self._get(conn, cloid, key)
                if intent.state == "sent":
                    continue
                if intent.state not in ("pending", "unknown"):
                    raise JournalError(f"intent {cloid} is {intent.state}; refusing to mark it sent again")
                conn.execute(
                    "UPDATE intents SET state='sent', sent_ms=?, updated_ms=?, error=NULL WHERE cloid=?",
                    (now, now, cloid),
                )
        return [self._require(c, key) for c in norm]

    def record_ack(
        self,
        cloid: str,
        *,
        status: AckStatus,
        oid: int | None = None,
        error: str | None = None,
        avg_px: float | str | None = None,
        filled_sz: float | str | None = None,
    ) -> Intent:
        """Record the venue's answer for one order (one entry of ``statuses``).

        ``status``: ``"resting"`` (→ ``acked``, needs ``oid``), ``"filled"`` (→ ``filled``;
        ``filled_sz`` = ``totalSz`` base units, ``avg_px`` = ``avgPx`` USD — an IOC may
        fill only part of the size) or ``"error"`` (→ ``rejected`` with ``error``). The
        state never moves backwards: a ``resting`` ack arriving after the fills only
        records the oid; an ``error`` never overrides ``filled``. Process-wide form.

        Raises:
            ValueError: bad status, or ``resting`` without ``oid``.
            UnknownIntentError: no such intent.
        """
        return self._record_acks(
            [{"cloid": cloid, "status": status, "oid": oid, "error": error, "avg_px": avg_px, "filled_sz": filled_sz}],
            None,
        )[0]

    def record_acks(self, acks: Sequence[Mapping[str, Any]]) -> list[Intent]:
        """:meth:`record_ack` for a batch in one transaction; each mapping has ``cloid``,
        ``status`` and optionally ``oid``, ``error``, ``avg_px``, ``filled_sz``.

        Raises:
            ValueError, UnknownIntentError: as :meth:`record_ack` (nothing is recorded).
        """
        return self._record_acks(acks, None)

    def _record_acks(self, acks: Sequence[Mapping[str, Any]], key: _Key | None) -> list[Intent]:
        norm = [_cloid(a["cloid"]) for a in acks]
        with self._tx() as conn:
            for cloid, a in zip(norm, acks, strict=True):
                self._ack(
                    conn, cloid, a["status"], a.get("oid"), a.get("error"), a.get("avg_px"), a.get("filled_sz"), key
                )
        return [self._require(c, key) for c in norm]

    def _ack(
        self,
        conn: sqlite3.Connection,
        cloid: str,
        status: str,
        oid: int | None,
        error: str | None,
        avg_px: float | str | None,
        filled_sz: float | str | None,
        key: _Key | None,
    ) -> None:
        if status not in _ACK_STATUSES:
            raise ValueError(f"status must be one of {sorted(_ACK_STATUSES)}, got {status!r}")
        if status == "resting" and oid is None:
            raise ValueError("a resting ack needs the venue's oid")
        intent = self._get(conn, cloid, key)
        now = self._clock()
        new_oid = intent.oid if oid is None else int(oid)
        if status == "resting":
            state = "acked" if intent.state in ("pending", "sent", "unknown") else intent.state
            self._set(conn, cloid, state=state, oid=new_oid, now=now)
        elif status == "filled":
            sz = intent.filled_sz
            px = intent.avg_px
            if filled_sz is not None:
                ack_sz = _positive(filled_sz, "filled_sz")
                if ack_sz > sz:
                    sz = ack_sz
                    px = None if avg_px is None else _positive(avg_px, "avg_px")
            conn.execute(
                "UPDATE intents SET state='filled', oid=?, filled_sz=?, avg_px=?, "
                "error=NULL, updated_ms=? WHERE cloid=?",
                (new_oid, sz, px, now, cloid),
            )
        else:
            state = intent.state if intent.state in TERMINAL_STATES else "rejected"
            self._set(conn, cloid, state=state, oid=new_oid, error=error or "rejected", now=now)
        self._sync_fills(conn, cloid)

    def abandon(self, cloid: str, reason: str = "abandoned") -> Intent:
        """Drop an intent that never reached the venue (``pending`` or ``unknown``):
        it becomes ``cancelled`` with ``reason``. Process-wide form.

        Raises:
            UnknownIntentError: no such intent.
            JournalError: the intent was sent/acked/finished (cancel it on the venue instead).
        """
        return self._abandon(cloid, reason, None)

    def _abandon(self, cloid: str, reason: str, key: _Key | None) -> Intent:
        cloid = _cloid(cloid)
        with self._tx() as conn:
            intent = self._get(conn, cloid, key)
            if intent.state not in ("pending", "unknown"):
                raise JournalError(f"intent {cloid} is {intent.state}; cannot abandon it")
            self._set(conn, cloid, state="cancelled", error=reason, now=self._clock())
        return self._require(cloid, key)

    def intent(self, cloid: str) -> Intent | None:
        """The intent journalled under ``cloid`` (any case, any account), or ``None``.

        Raises:
            ValueError: malformed cloid.
        """
        return self._find(self._conn, _cloid(cloid), None)

    def open_intents(self, limit: int = 1000) -> list[Intent]:
        """Intents the venue may still be working: ``pending``, ``sent``, ``acked``
        (resting), oldest first, at most ``limit``; every account (process-wide form)."""
        return self._intents_where("state IN ('pending','sent','acked')", [], limit, None)

    def never_sent(self, limit: int = 1000) -> list[Intent]:
        """Intents reconciliation found unknown to the venue and never marked sent (a crash
        between journalling and sending), oldest first, at most ``limit``; every account."""
        return self._intents_where("state='unknown' AND sent_ms IS NULL", [], limit, None)

    def intents(self, since_ms: int | None = None, limit: int = 1000) -> list[Intent]:
        """All intents created at or after ``since_ms`` (ms UTC), oldest first, at most
        ``limit``; every account."""
        return self._intents_where("created_ms >= ?", [since_ms if since_ms is not None else _ALL_TIME], limit, None)

    def _intents_where(self, cond: str, args: list[Any], limit: int, key: _Key | None) -> list[Intent]:
        scope, scope_args = _scope(key, "AND")
        rows = self._conn.execute(
            f"SELECT {_INTENT_COLS} FROM intents WHERE {cond}{scope} ORDER BY created_ms, cloid LIMIT ?",
            [*args, *scope_args, _limit(limit)],
        ).fetchall()
        return [_intent_row(r, key is None) for r in rows]

    # ------------------------------------------------------------------ fills, cancels, funding

    def record_fill(self, fill: Fill) -> bool:
        """Journal one fill; idempotent on ``(venue, network, account, tid, hash)``.

        Process-wide form: ``fill.venue`` is an old venue label naming the ``"legacy"``
        account. The fill is linked to that account's intent by cloid, or by ``oid`` when the
        venue gave no cloid; the intent's ``filled_sz``/``avg_px`` are recomputed and it
        becomes ``filled`` once the filled size reaches its size.

        Returns:
            True if the fill was new, False if it was already journalled.
        """
        return self.record_fills([fill]) == 1

    def record_fills(self, fills: Iterable[Fill]) -> int:
        """:meth:`record_fill` for many fills in one transaction; returns how many were new."""
        with self._tx() as conn:
            return sum(1 for f in fills if self._insert_fill(conn, f, _legacy_key(f.venue), f.venue) is not None)

    def record_cancel(
        self,
        cloid: str | None = None,
        oid: int | None = None,
        *,
        status: CancelStatus = "requested",
        error: str | None = None,
        venue: str = "hyperliquid",
    ) -> Cancel:
        """Journal a cancel request (``"requested"``, before the call) or its outcome
        (``"cancelled"`` / ``"error"``, after). A ``cancelled`` outcome moves the intent
        to ``cancelled`` unless it is already ``filled`` or ``rejected``. Process-wide form
        (``venue`` an old label).

        Args:
            cloid: the order's cloid (any account's intent, as before accounts), and/or oid:
                the venue's order id (one is required; with only an oid the intent is looked
                up by it among the label's account's intents).

        Raises:
            ValueError: neither id given, or a bad status.
            UnknownIntentError: only a cloid was given and no intent has it.
        """
        key = _legacy_key(venue)
        with self._tx() as conn:
            return self._cancel(conn, cloid, oid, status, error, key, venue, scoped=False)

    def record_cancels(self, cancels: Sequence[Mapping[str, Any]]) -> list[Cancel]:
        """:meth:`record_cancel` for a batch in one transaction; each mapping has ``cloid``
        and/or ``oid``, ``status`` and optionally ``error`` and ``venue``.

        Raises:
            ValueError, UnknownIntentError: as :meth:`record_cancel` (nothing is recorded).
        """
        with self._tx() as conn:
            out = []
            for c in cancels:
                label = c.get("venue", "hyperliquid")
                out.append(
                    self._cancel(
                        conn,
                        c.get("cloid"),
                        c.get("oid"),
                        c.get("status", "requested"),
                        c.get("error"),
                        _legacy_key(label),
                        label,
                        scoped=False,
                    )
                )
            return out

    def _cancel(
        self,
        conn: sqlite3.Connection,
        cloid: str | None,
        oid: int | None,
        status: str,
        error: str | None,
        key: _Key,
        out_venue: str,
        scoped: bool = True,
    ) -> Cancel:
        """Insert a cancel row under ``key``. ``scoped``: the cloid must be an intent of
        ``key``'s account; else (the process-wide form, as before accounts) of any account."""
        if cloid is None and oid is None:
            raise ValueError("record_cancel needs a cloid or an oid")
        if status not in _CANCEL_STATUSES:
            raise ValueError(f"status must be one of {sorted(_CANCEL_STATUSES)}, got {status!r}")
        norm = _optional_cloid(cloid)
        oid = None if oid is None else int(oid)
        now = self._clock()
        if norm is None:
            row = conn.execute(f"SELECT cloid FROM intents WHERE {_SCOPE} AND oid=?", (*key, oid)).fetchone()
            norm = None if row is None else row["cloid"]
        elif self._find(conn, norm, key if scoped else None) is None:
            if oid is None:
                raise UnknownIntentError(norm)
            norm = None  # a cloid placed elsewhere (or another account's): keep the row by oid only
        cur = conn.execute(
            "INSERT INTO cancels (time_ms, venue, network, account, cloid, oid, status, error) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (now, *key, norm, oid, status, error),
        )
        if status == "cancelled" and norm is not None:
            intent = self._get(conn, norm, key if scoped else None)
            if intent.state not in ("filled", "rejected", "cancelled"):
                self._set(conn, norm, state="cancelled", now=now)
        return Cancel(cur.lastrowid or 0, now, out_venue, norm, oid, status, error, key[1], key[2])

    def cancels(self, cloid: str | None = None, limit: int = 1000) -> list[Cancel]:
        """Cancel records (optionally of one cloid), oldest first, at most ``limit``; every
        account (process-wide form)."""
        return self._cancels(cloid, limit, None)

    def _cancels(self, cloid: str | None, limit: int, key: _Key | None) -> list[Cancel]:
        conds, args = [], []
        if cloid is not None:
            conds.append("cloid=?")
            args.append(_cloid(cloid))
        if key is not None:
            conds.append(_SCOPE)
            args.extend(key)
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        rows = self._conn.execute(
            f"SELECT * FROM cancels{where} ORDER BY id LIMIT ?", [*args, _limit(limit)]
        ).fetchall()
        return [_cancel_row(r, key is None) for r in rows]

    def fills(self, since_ms: int | None = None, *, symbol: str | None = None, limit: int = 10_000) -> list[Fill]:
        """Fills with ``time_ms >= since_ms`` (optionally one symbol), oldest first, at most
        ``limit``; every account, ``venue`` as the old venue label (process-wide form)."""
        return self._fills(since_ms, symbol, limit, None)

    def _fills(self, since_ms: int | None, symbol: str | None, limit: int, key: _Key | None) -> list[Fill]:
        sql = f"SELECT network, {_FILL_COLS} FROM fills WHERE time_ms >= ?"
        args: list[Any] = [since_ms if since_ms is not None else _ALL_TIME]
        if key is not None:
            sql += f" AND {_SCOPE}"
            args.extend(key)
        if symbol is not None:
            sql += " AND symbol = ?"
            args.append(symbol)
        sql += " ORDER BY time_ms, id LIMIT ?"
        args.append(_limit(limit))
        return [_fill_row(r, key is None) for r in self._conn.execute(sql, args).fetchall()]

    def record_funding(self, payment: FundingPayment) -> bool:
        """Journal one funding payment; idempotent on ``(venue, network, account, time_ms,
        symbol)``. Process-wide form (``payment.venue`` an old label, account ``"legacy"``).

        Returns:
            True if new, False if already journalled.
        """
        return self.record_fundings([payment]) == 1

    def record_fundings(self, payments: Iterable[FundingPayment]) -> int:
        """:meth:`record_funding` for many payments in one transaction; returns how many were new."""
        return self._record_fundings(payments, None)

    def _record_fundings(self, payments: Iterable[FundingPayment], key: _Key | None) -> int:
        with self._tx() as conn:
            n = 0
            for p in payments:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO funding (venue, network, account, time_ms, symbol, usdc, size, rate) "
                    "VALUES (?,?,?,?,?,?,?,?)",
                    (
                        *(key if key is not None else _legacy_key(p.venue)),
                        int(p.time_ms),
                        p.symbol,
                        _finite(p.usdc, "usdc"),
                        _finite(p.size, "size"),
                        _finite(p.rate, "rate"),
                    ),
                )
                n += cur.rowcount
            return n

    def funding(
        self, since_ms: int | None = None, *, symbol: str | None = None, limit: int = 10_000
    ) -> list[FundingPayment]:
        """Funding payments with ``time_ms >= since_ms`` (optionally one symbol), oldest
        first, at most ``limit``; every account, ``venue`` as the old venue label
        (process-wide form)."""
        return self._funding(since_ms, symbol, limit, None)

    def _funding(self, since_ms: int | None, symbol: str | None, limit: int, key: _Key | None) -> list[FundingPayment]:
        sql = f"SELECT network, {_FUNDING_COLS} FROM funding WHERE time_ms >= ?"
        args: list[Any] = [since_ms if since_ms is not None else _ALL_TIME]
        if key is not None:
            sql += f" AND {_SCOPE}"
            args.extend(key)
        if symbol is not None:
            sql += " AND symbol = ?"
            args.append(symbol)
        sql += " ORDER BY time_ms, symbol, id LIMIT ?"
        args.append(_limit(limit))
        return [_funding_row(r, key is None) for r in self._conn.execute(sql, args).fetchall()]

    # ------------------------------------------------------------------ events

    def log_event(self, kind: str, message: str, detail: Mapping[str, Any] | None = None) -> int:
        """Append a process-wide event (no account) to the action log; ``detail`` is redacted
        (:func:`redact`) and stored as JSON (values JSON cannot encode are stored as their
        ``str``). An event about one account: :meth:`AccountJournal.log_event`.

        Returns:
            The event's id.

        Raises:
            ValueError: empty ``kind``.
        """
        return self._log_event(kind, message, detail, None)

    def _log_event(self, kind: str, message: str, detail: Mapping[str, Any] | None, key: _Key | None) -> int:
        if not kind:
            raise ValueError("event kind must be non-empty")
        payload = json.dumps(redact(dict(detail or {})), default=str, sort_keys=True)
        with self._tx() as conn:
            return self._insert_event(conn, kind, message, payload, key)

    def events(self, limit: int = 200, *, kind: str | None = None) -> list[Event]:
        """The newest ``limit`` events (optionally of one kind), newest first; every account's
        and the process-wide ones."""
        return self._events(limit, kind, None, True)

    def _events(self, limit: int, kind: str | None, key: _Key | None, process_wide: bool) -> list[Event]:
        conds: list[str] = []
        args: list[Any] = []
        if kind is not None:
            conds.append("kind=?")
            args.append(kind)
        if key is not None:
            conds.append(f"(({_SCOPE}){' OR account IS NULL' if process_wide else ''})")
            args.extend(key)
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        rows = self._conn.execute(
            f"SELECT * FROM events{where} ORDER BY id DESC LIMIT ?", [*args, _limit(limit)]
        ).fetchall()
        return [_event_row(r) for r in rows]

    # ------------------------------------------------------------------ reconciliation

    def reconcile(
        self,
        open_orders: Sequence[Mapping[str, Any]],
        fills: Iterable[Mapping[str, Any] | Fill],
        *,
        venue: str = "hyperliquid",
        limit: int = 10_000,
    ) -> ReconcileReport:
        """Process-wide (legacy) form of :meth:`AccountJournal.reconcile`: the intents of
        ``venue``'s ``"legacy"`` account (``venue`` an old label) are reconciled; each fill is
        journalled under its own ``venue`` label (a parsed Hyperliquid fill: ``"hyperliquid"``).

        Raises:
            ValueError: a malformed venue fill.
        """
        return self._reconcile(open_orders, fills, _legacy_key(venue), None, limit)

    def _reconcile(
        self,
        open_orders: Sequence[Mapping[str, Any]],
        fills: Iterable[Mapping[str, Any] | Fill],
        key: _Key,
        ref: AccountRef | None,
        limit: int,
    ) -> ReconcileReport:
        """Reconcile the intents of ``key``. ``ref`` given: the scoped form (every fill goes to
        ``ref``'s account, records carry the venue); ``None``: the legacy form (each fill under
        its own label, records carry labels)."""
        report = ReconcileReport()
        parsed = [f if isinstance(f, Fill) else Fill.from_hyperliquid(f) for f in fills]
        open_by_cloid: dict[str, Mapping[str, Any]] = {}
        open_oids: set[int] = set()
        for order in open_orders:
            if order.get("oid") is not None:
                open_oids.add(int(order["oid"]))
            c = _optional_cloid(order.get("cloid"))
            if c is not None:
                open_by_cloid[c] = order
        now = self._clock()
        lim = _limit(limit)
        legacy = ref is None
        active_sql = (
            f"SELECT cloid, state FROM intents WHERE {_SCOPE} AND state IN "
            "('pending','sent','acked','unknown') ORDER BY created_ms, cloid LIMIT ?"
        )
        with self._tx() as conn:
            before = {r["cloid"]: r["state"] for r in conn.execute(active_sql, (*key, lim))}
            reasons: dict[str, str] = {}
            for fill in parsed:
                fkey = key if ref is not None else _legacy_key(fill.venue)
                out_venue = ref.venue if ref is not None else fill.venue
                stored = self._insert_fill(conn, fill, fkey, out_venue)
                if stored is not None:
                    report.new_fills.append(stored)
                    if stored.cloid is None or self._find(conn, stored.cloid, fkey) is None:
                        report.foreign_fills.append(stored)
                    elif stored.cloid in before:
                        reasons[stored.cloid] = "fills found on the venue"
            for cloid in before:
                intent = self._get(conn, cloid, key)
                if intent.state in TERMINAL_STATES:
                    continue  # filled by the fills just journalled
                resting = open_by_cloid.get(cloid)
                if resting is None and intent.oid is not None and intent.oid in open_oids:
                    resting = {"oid": intent.oid}
                if resting is not None:
                    oid = int(resting["oid"])
                    report.resting.append(cloid)
                    if intent.state != "acked" or intent.oid != oid:
                        self._set(conn, cloid, state="acked", oid=oid, error=None, now=now)
                        reasons[cloid] = f"resting on the venue, oid {oid}"
                    continue
                if intent.filled_sz > 0:
                    reason = f"partly filled ({intent.filled_sz:g} of {intent.size:g}); no longer open on the venue"
                    self._set(conn, cloid, state="cancelled", error=reason, now=now)
                    reasons[cloid] = reason
                    continue
                if intent.state == "unknown":
                    continue
                if intent.state == "pending":
                    reason = "never reached the venue: not open, no fills"
                elif intent.state == "sent":
                    reason = "sent but not open and no fills: rejected, cancelled or expired"
                else:
                    reason = (
                        "was resting; no longer open and no fills seen: cancelled, or filled outside the fills given"
                    )
                self._set(conn, cloid, state="unknown", error=reason, now=now)
                reasons[cloid] = reason
            for cloid, state in before.items():
                after = self._get(conn, cloid, key).state
                if after != state:
                    report.changes.append(IntentChange(cloid, state, after, reasons.get(cloid, "venue state")))
            for c, order in open_by_cloid.items():
                if self._find(conn, c, key) is None:
                    report.untracked_orders.append(dict(order))
            for order in open_orders:
                if _optional_cloid(order.get("cloid")) is None:
                    order_oid = order.get("oid")
                    if (
                        order_oid is None
                        or conn.execute(
                            f"SELECT 1 FROM intents WHERE {_SCOPE} AND oid=?", (*key, int(order_oid))
                        ).fetchone()
                        is None
                    ):
                        report.untracked_orders.append(dict(order))
            never = conn.execute(
                f"SELECT {_INTENT_COLS} FROM intents WHERE {_SCOPE} AND state='unknown' "
                "AND sent_ms IS NULL ORDER BY created_ms, cloid LIMIT ?",
                (*key, lim),
            ).fetchall()
            report.never_sent = [_intent_row(r, legacy) for r in never]
            if report.changed:
                self._insert_event(
                    conn,
                    "reconcile",
                    f"reconciled: {len(report.changes)} intent change(s), {len(report.new_fills)} new fill(s)",
                    json.dumps(
                        {
                            "changes": [
                                {"cloid": c.cloid, "from": c.before, "to": c.after, "reason": c.reason}
                                for c in report.changes
                            ],
                            "new_fills": len(report.new_fills),
                            "foreign_fills": len(report.foreign_fills),
                        },
                        sort_keys=True,
                    ),
                    None if legacy else key,
                )
        return report

    # ------------------------------------------------------------------ per-account state

    def _trading_state(self, key: _Key) -> TradingStateRecord | None:
        rows = self._conn.execute(f"SELECT * FROM trading_state WHERE {_SCOPE}", key).fetchall()
        return _state_row(rows[0]) if rows else None

    def _set_trading_state(
        self, key: _Key, state: str, reason: str, origin: str, expected_version: int | None
    ) -> TradingStateRecord:
        if state not in TRADING_STATES:
            raise ValueError(f"state must be one of {list(TRADING_STATES)}, got {state!r}")
        reason = _one_line(reason, "reason")
        origin = _one_line(origin, "origin")
        with self._tx() as conn:
            rows = conn.execute(f"SELECT * FROM trading_state WHERE {_SCOPE}", key).fetchall()
            current = _state_row(rows[0]) if rows else None
            version = 0 if current is None else current.version
            if expected_version is not None and expected_version != version:
                raise StaleTradingStateError(
                    f"trading state of {_row_ref(*key).label} is at version {version}, not {expected_version}",
                    current,
                )
            now = self._clock()
            since = current.since_ms if current is not None and current.state == state else now
            conn.execute(
                "INSERT INTO trading_state (venue, network, account, state, reason, since_ms, origin, "
                "updated_ms, version) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (venue, network, account) "
                "DO UPDATE SET state=excluded.state, reason=excluded.reason, since_ms=excluded.since_ms, "
                "origin=excluded.origin, updated_ms=excluded.updated_ms, version=excluded.version",
                (*key, state, reason, since, origin, now, version + 1),
            )
            before = "none" if current is None else current.state
            self._insert_event(
                conn,
                "trading_state",
                f"trading {state} ({reason}) by {origin}",
                json.dumps(
                    {"state": state, "previous": before, "reason": reason, "origin": origin, "version": version + 1},
                    sort_keys=True,
                ),
                key,
            )
            return TradingStateRecord(_row_ref(*key), state, reason, since, origin, now, version + 1)

    def _sync_cursor(self, key: _Key, stream: str) -> int | None:
        rows = self._conn.execute(
            f"SELECT time_ms FROM sync_cursors WHERE {_SCOPE} AND stream=?", (*key, _stream(stream))
        ).fetchall()
        return int(rows[0][0]) if rows else None

    def _set_sync_cursor(self, key: _Key, stream: str, time_ms: int) -> int:
        stream = _stream(stream)
        time_ms = _ms(time_ms, "time_ms")
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO sync_cursors (venue, network, account, stream, time_ms, updated_ms) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT (venue, network, account, stream) DO UPDATE SET "
                "time_ms=MAX(time_ms, excluded.time_ms), updated_ms=excluded.updated_ms",
                (*key, stream, time_ms, self._clock()),
            )
            row = conn.execute(
                f"SELECT time_ms FROM sync_cursors WHERE {_SCOPE} AND stream=?", (*key, stream)
            ).fetchone()
            return int(row[0])

    def _record_gap(self, key: _Key, stream: str, from_ms: int, to_ms: int, reason: str) -> SyncGap:
        stream = _stream(stream)
        from_ms = _ms(from_ms, "from_ms")
        to_ms = _ms(to_ms, "to_ms")
        if to_ms < from_ms:
            raise ValueError(f"gap ends before it starts: {from_ms} > {to_ms}")
        reason = _one_line(reason, "reason")
        with self._tx() as conn:
            now = self._clock()
            conn.execute(
                "INSERT INTO sync_gaps (venue, network, account, stream, from_ms, to_ms, reason, recorded_ms) "
                "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (venue, network, account, stream, from_ms, to_ms) "
                "DO UPDATE SET reason=excluded.reason, recorded_ms=excluded.recorded_ms",
                (*key, stream, from_ms, to_ms, reason, now),
            )
            row = conn.execute(
                f"SELECT * FROM sync_gaps WHERE {_SCOPE} AND stream=? AND from_ms=? AND to_ms=?",
                (*key, stream, from_ms, to_ms),
            ).fetchone()
            self._insert_event(
                conn,
                "sync_gap",
                f"{stream} not synced from {from_ms} to {to_ms} ms: {reason}",
                json.dumps({"stream": stream, "from_ms": from_ms, "to_ms": to_ms, "reason": reason}, sort_keys=True),
                key,
            )
            return _gap_row(row)

    def _gaps(self, key: _Key, stream: str | None, limit: int) -> list[SyncGap]:
        sql = f"SELECT * FROM sync_gaps WHERE {_SCOPE}"
        args: list[Any] = list(key)
        if stream is not None:
            sql += " AND stream=?"
            args.append(_stream(stream))
        rows = self._conn.execute(sql + " ORDER BY from_ms, id LIMIT ?", [*args, _limit(limit)]).fetchall()
        return [_gap_row(r) for r in rows]

    # ------------------------------------------------------------------ internals

    def _find(self, conn: sqlite3.Connection, cloid: str, key: _Key | None) -> Intent | None:
        scope, args = _scope(key, "AND")
        row = conn.execute(f"SELECT {_INTENT_COLS} FROM intents WHERE cloid=?{scope}", (cloid, *args)).fetchone()
        return None if row is None else _intent_row(row, key is None)

    def _get(self, conn: sqlite3.Connection, cloid: str, key: _Key | None) -> Intent:
        intent = self._find(conn, cloid, key)
        if intent is None:
            raise UnknownIntentError(cloid)
        return intent

    def _require(self, cloid: str, key: _Key | None) -> Intent:
        intent = self._find(self._conn, _cloid(cloid), key)
        if intent is None:  # pragma: no cover - only if the row vanished under us
            raise UnknownIntentError(cloid)
        return intent

    def _set(
        self,
        conn: sqlite3.Connection,
        cloid: str,
        *,
        state: str,
        now: int,
        oid: int | None = None,
        error: str | None | Literal[False] = False,
    ) -> None:
        sets = ["state=?", "updated_ms=?"]
        args: list[Any] = [state, now]
        if oid is not None:
            sets.append("oid=?")
            args.append(oid)
        if error is not False:
            sets.append("error=?")
            args.append(error)
        args.append(cloid)
        conn.execute(f"UPDATE intents SET {', '.join(sets)} WHERE cloid=?", args)

    def _insert_fill(self, conn: sqlite3.Connection, fill: Fill, key: _Key, out_venue: str) -> Fill | None:
        """Insert ``fill`` into ``key``'s account; link it to that account's intent (by the
        venue's cloid, else by oid) and recompute the intent. Returns the stored fill
        (``venue`` = ``out_venue``), or ``None`` if already journalled."""
        cloid = _optional_cloid(fill.cloid)
        if cloid is None and fill.oid is not None:
            row = conn.execute(f"SELECT cloid FROM intents WHERE {_SCOPE} AND oid=?", (*key, int(fill.oid))).fetchone()
            cloid = None if row is None else row["cloid"]
        stored = Fill(
            venue=out_venue,
            tid=int(fill.tid),
            hash=str(fill.hash),
            symbol=fill.symbol,
            side=_side(fill.side),
            px=_positive(fill.px, "px"),
            sz=_positive(fill.sz, "sz"),
            fee=_finite(fill.fee, "fee"),
            fee_token=fill.fee_token,
            time_ms=int(fill.time_ms),
            oid=None if fill.oid is None else int(fill.oid),
            cloid=cloid,
            closed_pnl=_finite(fill.closed_pnl, "closed_pnl"),
            direction=fill.direction,
        )
        cur = conn.execute(
            "INSERT OR IGNORE INTO fills (venue, network, account, tid, hash, symbol, side, px, sz, fee, "
            "fee_token, time_ms, oid, cloid, closed_pnl, direction) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                *key,
                stored.tid,
                stored.hash,
                stored.symbol,
                stored.side,
                stored.px,
                stored.sz,
                stored.fee,
                stored.fee_token,
                stored.time_ms,
                stored.oid,
                stored.cloid,
                stored.closed_pnl,
                stored.direction,
            ),
        )
        if cur.rowcount != 1:
            return None
        if cloid is not None and self._find(conn, cloid, key) is not None:
            if stored.oid is not None:
                conn.execute("UPDATE intents SET oid=? WHERE cloid=? AND oid IS NULL", (stored.oid, cloid))
            self._sync_fills(conn, cloid)
        return stored

    def _sync_fills(self, conn: sqlite3.Connection, cloid: str) -> None:
        """Recompute an intent's filled size/average price from its account's journalled
        fills (by cloid, or by the intent's oid) and move it to ``filled`` once the size is
        reached."""
        intent = self._get(conn, cloid, None)
        owner = conn.execute("SELECT venue, network, account FROM intents WHERE cloid=?", (cloid,)).fetchone()
        row = conn.execute(
            "SELECT COALESCE(SUM(sz), 0) AS sz, SUM(px * sz) AS notional FROM fills "
            f"WHERE {_SCOPE} AND (cloid=? OR (oid IS NOT NULL AND oid=?))",
            (owner[0], owner[1], owner[2], cloid, intent.oid),
        ).fetchone()
        total = float(row["sz"])
        if total <= 0 or total <= intent.filled_sz * (1 - _SIZE_RTOL):
            return
        avg = float(row["notional"]) / total
        done = total >= intent.size * (1 - _SIZE_RTOL)
        state = "filled" if done else intent.state
        if not done and state in ("pending", "sent", "unknown"):
            state = "acked"  # partly filled: the venue has it
        conn.execute(
            "UPDATE intents SET filled_sz=?, avg_px=?, state=?, updated_ms=?, "
            "error=CASE WHEN ? = 'filled' THEN NULL ELSE error END WHERE cloid=?",
            (total, avg, state, self._clock(), state, cloid),
        )

    def _insert_event(
        self, conn: sqlite3.Connection, kind: str, message: str, payload: str, key: _Key | None = None
    ) -> int:
        cur = conn.execute(
            "INSERT INTO events (time_ms, kind, message, detail, venue, network, account) VALUES (?,?,?,?,?,?,?)",
            (self._clock(), kind, message, payload, *(key if key is not None else (None, None, None))),
        )
        return int(cur.lastrowid or 0)


def _mapping_intent(i: Mapping[str, Any]) -> tuple[Any, ...]:
    return _intent_values(
        i["cloid"],
        i["symbol"],
        i["asset"],
        i["side"],
        i["size"],
        i["price"],
        i.get("tif", "Gtc"),
        bool(i.get("reduce_only", False)),
        i.get("purpose", "manual"),
    )


class AccountJournal:
    """The journal seen from one account (:meth:`Journal.for_account`): the same operations
    as :class:`Journal` without a venue argument; every row written is keyed by :attr:`ref`
    (fills and funding payments get the ref's venue whatever their own ``venue`` says) and
    every read, match and reconciliation stays inside the account. Records read here carry
    the ref's ``venue``.

    Cheap to create; shares the journal's connection and transactions (``batch()`` of two
    views of one journal is one transaction). Same threading rule as :class:`Journal`.
    """

    __slots__ = ("_journal", "_ref", "_key")

    def __init__(self, journal: Journal, ref: AccountRef) -> None:
        self._journal = journal
        self._ref = ref
        self._key: _Key = ref._key

    def __repr__(self) -> str:
        return f"AccountJournal({self._ref.label!r})"

    @property
    def ref(self) -> AccountRef:
        """The account."""
        return self._ref

    @property
    def journal(self) -> Journal:
        """The whole journal."""
        return self._journal

    @contextmanager
    def batch(self) -> Iterator[AccountJournal]:
        """One transaction (one ``fsync``) for every call in the block, all or none; it may
        include calls on other accounts of the same :class:`Journal` (:meth:`Journal.batch`)."""
        with self._journal._tx():
            yield self

    # ------------------------------------------------------------------ intents

    def record_intent(
        self,
        *,
        cloid: str,
        symbol: str,
        asset: int,
        side: str,
        size: float | str,
        price: float | str,
        tif: str = "Gtc",
        reduce_only: bool = False,
        purpose: str = "manual",
    ) -> Intent:
        """Journal an order of this account about to be sent, in state ``pending`` (arguments
        as :meth:`Journal.record_intent`, without ``venue``).

        Raises:
            ValueError: a malformed argument.
            JournalError: the cloid is already journalled (any account: cloids are global).
        """
        return self.record_intents(
            [
                dict(
                    cloid=cloid,
                    symbol=symbol,
                    asset=asset,
                    side=side,
                    size=size,
                    price=price,
                    tif=tif,
                    reduce_only=reduce_only,
                    purpose=purpose,
                )
            ]
        )[0]

    def record_intents(self, intents: Sequence[Mapping[str, Any]]) -> list[Intent]:
        """Journal a batch of this account's intents in one transaction, all or none. Each
        mapping has :meth:`record_intent`'s keyword arguments (no ``venue``: a ``venue`` key is
        accepted only if it is the account's venue).

        Raises:
            ValueError: a malformed intent, or another venue (nothing is journalled).
            JournalError: a cloid already journalled, or twice in the batch (nothing is journalled).
        """
        rows = []
        for i in intents:
            if "venue" in i and i["venue"] != self._ref.venue:
                raise ValueError(f"intent for venue {i['venue']!r} recorded on the account {self._ref.label}")
            rows.append((self._key, _mapping_intent(i)))
        with self._journal._tx() as conn:
            self._journal._insert_intents(conn, rows)
        return [self._journal._require(r[0], self._key) for _, r in rows]

    def record_sending(self, intents: Sequence[Mapping[str, Any]]) -> None:
        """Journal a batch of this account's new intents directly as ``sent`` (the order path's
        hot form of :meth:`record_intents` + :meth:`mark_sent_many`: one ``executemany``, nothing
        read back), in one transaction, all or none. Call it just before the batch goes out.

        Raises:
            ValueError: a malformed intent, or another venue (nothing is journalled).
            JournalError: a cloid already journalled, or twice in the batch (nothing is journalled).
        """
        rows = []
        for i in intents:
            if "venue" in i and i["venue"] != self._ref.venue:
                raise ValueError(f"intent for venue {i['venue']!r} recorded on the account {self._ref.label}")
            rows.append(_mapping_intent(i))
        if not rows:
            return
        j = self._journal
        with j._tx() as conn:
            now = j._clock()
            try:
                conn.executemany(
                    "INSERT INTO intents (cloid, created_ms, updated_ms, venue, network, account, symbol, "
                    "asset, side, size, price, tif, reduce_only, purpose, state, sent_ms, oid, filled_sz, "
                    "avg_px, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,'sent',?,NULL,0,NULL,NULL)",
                    [(r[0], now, now, *self._key, *r[1:], now) for r in rows],
                )
            except sqlite3.IntegrityError as exc:
                raise JournalError(f"a cloid of the batch is already journalled: {exc}") from exc

    def request_cancels(self, orders: Sequence[tuple[str | None, int | None]]) -> None:
        """Journal ``requested`` cancels of this account's orders, ``(cloid, oid)`` each (one
        given at least), in one transaction with one ``executemany``: the order path's hot form
        of :meth:`record_cancels` for requests. A cloid this account never journalled (an order
        placed elsewhere) is kept by its oid only.

        Raises:
            ValueError: an entry with neither cloid nor oid (nothing is journalled).
        """
        if not orders:
            return
        rows = []
        for cloid, oid in orders:
            if cloid is None and oid is None:
                raise ValueError("a cancel needs a cloid or an oid")
            rows.append((_optional_cloid(cloid), None if oid is None else int(oid)))
        j = self._journal
        with j._tx() as conn:
            known: set[str] = set()
            cloids = [c for c, _ in rows if c is not None]
            for start in range(0, len(cloids), 500):
                chunk = cloids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                known.update(
                    r[0]
                    for r in conn.execute(
                        f"SELECT cloid FROM intents WHERE {_SCOPE} AND cloid IN ({marks})", (*self._key, *chunk)
                    )
                )
            now = j._clock()
            conn.executemany(
                "INSERT INTO cancels (time_ms, venue, network, account, cloid, oid, status, error) "
                "VALUES (?,?,?,?,?,?,'requested',NULL)",
                [(now, *self._key, c if c in known else None, o) for c, o in rows if (c in known) or o is not None],
            )

    def mark_sent(self, cloid: str) -> Intent:
        """:meth:`Journal.mark_sent` for an intent of this account.

        Raises:
            UnknownIntentError: no such intent in this account.
            JournalError: the intent is acked or finished.
        """
        return self._journal._mark_sent([cloid], self._key)[0]

    def mark_sent_many(self, cloids: Sequence[str]) -> list[Intent]:
        """:meth:`mark_sent` for a batch, in one transaction: all or none.

        Raises:
            UnknownIntentError, JournalError: as :meth:`mark_sent`, for any of them.
        """
        return self._journal._mark_sent(cloids, self._key)

    def record_ack(
        self,
        cloid: str,
        *,
        status: AckStatus,
        oid: int | None = None,
        error: str | None = None,
        avg_px: float | str | None = None,
        filled_sz: float | str | None = None,
    ) -> Intent:
        """:meth:`Journal.record_ack` for an intent of this account.

        Raises:
            ValueError: bad status, or ``resting`` without ``oid``.
            UnknownIntentError: no such intent in this account.
        """
        return self.record_acks(
            [{"cloid": cloid, "status": status, "oid": oid, "error": error, "avg_px": avg_px, "filled_sz": filled_sz}]
        )[0]

    def record_acks(self, acks: Sequence[Mapping[str, Any]]) -> list[Intent]:
        """:meth:`record_ack` for a batch in one transaction (nothing is recorded on an error).

        Raises:
            ValueError, UnknownIntentError: as :meth:`record_ack`.
        """
        return self._journal._record_acks(acks, self._key)

    def abandon(self, cloid: str, reason: str = "abandoned") -> Intent:
        """:meth:`Journal.abandon` for an intent of this account.

        Raises:
            UnknownIntentError: no such intent in this account.
            JournalError: the intent was sent/acked/finished.
        """
        return self._journal._abandon(cloid, reason, self._key)

    def intent(self, cloid: str) -> Intent | None:
        """This account's intent under ``cloid`` (any case), or ``None`` (also when the cloid
        belongs to another account).

        Raises:
            ValueError: malformed cloid.
        """
        return self._journal._find(self._journal._conn, _cloid(cloid), self._key)

    def open_intents(self, limit: int = 1000) -> list[Intent]:
        """This account's ``pending``/``sent``/``acked`` intents, oldest first, at most ``limit``."""
        return self._journal._intents_where("state IN ('pending','sent','acked')", [], limit, self._key)

    def never_sent(self, limit: int = 1000) -> list[Intent]:
        """This account's intents found unknown to the venue and never marked sent, oldest
        first, at most ``limit``."""
        return self._journal._intents_where("state='unknown' AND sent_ms IS NULL", [], limit, self._key)

    def intents(self, since_ms: int | None = None, limit: int = 1000) -> list[Intent]:
        """This account's intents created at or after ``since_ms`` (ms UTC), oldest first, at
        most ``limit``."""
        return self._journal._intents_where(
            "created_ms >= ?", [since_ms if since_ms is not None else _ALL_TIME], limit, self._key
        )

    # ------------------------------------------------------------------ fills, cancels, funding

    def record_fill(self, fill: Fill) -> bool:
        """Journal one fill of this account (``fill.venue`` ignored); idempotent on
        ``(tid, hash)`` within the account. Linked to this account's intent by cloid, else by
        ``oid``; never to another account's.

        Returns:
            True if the fill was new, False if it was already journalled.

        Raises:
            ValueError: a malformed fill.
        """
        return self.record_fills([fill]) == 1

    def record_fills(self, fills: Iterable[Fill]) -> int:
        """:meth:`record_fill` for many fills in one transaction; returns how many were new."""
        j = self._journal
        with j._tx() as conn:
            return sum(1 for f in fills if j._insert_fill(conn, f, self._key, self._ref.venue) is not None)

    def record_funding(self, payment: FundingPayment) -> bool:
        """Journal one funding payment of this account (``payment.venue`` ignored); idempotent
        on ``(time_ms, symbol)`` within the account.

        Returns:
            True if new, False if already journalled.

        Raises:
            ValueError: a non-finite amount.
        """
        return self.record_fundings([payment]) == 1

    def record_fundings(self, payments: Iterable[FundingPayment]) -> int:
        """:meth:`record_funding` for many payments in one transaction; returns how many were
        new. To advance the funding cursor atomically with the rows, call
        :meth:`set_sync_cursor` in the same :meth:`batch`."""
        return self._journal._record_fundings(payments, self._key)

    def record_cancel(
        self,
        cloid: str | None = None,
        oid: int | None = None,
        *,
        status: CancelStatus = "requested",
        error: str | None = None,
    ) -> Cancel:
        """:meth:`Journal.record_cancel` for this account: an oid is looked up among this
        account's intents only; a cloid of another account is kept by oid only.

        Raises:
            ValueError: neither id given, or a bad status.
            UnknownIntentError: only a cloid was given and this account has no such intent.
        """
        j = self._journal
        with j._tx() as conn:
            return j._cancel(conn, cloid, oid, status, error, self._key, self._ref.venue)

    def record_cancels(self, cancels: Sequence[Mapping[str, Any]]) -> list[Cancel]:
        """:meth:`record_cancel` for a batch in one transaction; each mapping has ``cloid``
        and/or ``oid``, ``status`` and optionally ``error`` (a ``venue`` key must be the
        account's venue).

        Raises:
            ValueError, UnknownIntentError: as :meth:`record_cancel` (nothing is recorded).
        """
        j = self._journal
        with j._tx() as conn:
            out = []
            for c in cancels:
                if "venue" in c and c["venue"] != self._ref.venue:
                    raise ValueError(f"cancel for venue {c['venue']!r} recorded on the account {self._ref.label}")
                out.append(
                    j._cancel(
                        conn,
                        c.get("cloid"),
                        c.get("oid"),
                        c.get("status", "requested"),
                        c.get("error"),
                        self._key,
                        self._ref.venue,
                    )
                )
            return out

    def cancels(self, cloid: str | None = None, limit: int = 1000) -> list[Cancel]:
        """This account's cancel records (optionally of one cloid), oldest first, at most ``limit``."""
        return self._journal._cancels(cloid, limit, self._key)

    def fills(self, since_ms: int | None = None, *, symbol: str | None = None, limit: int = 10_000) -> list[Fill]:
        """This account's fills with ``time_ms >= since_ms`` (venue time, ms UTC; optionally
        one symbol), oldest first, at most ``limit``."""
        return self._journal._fills(since_ms, symbol, limit, self._key)

    def funding(
        self, since_ms: int | None = None, *, symbol: str | None = None, limit: int = 10_000
    ) -> list[FundingPayment]:
        """This account's funding payments with ``time_ms >= since_ms`` (optionally one
        symbol), oldest first, at most ``limit``."""
        return self._journal._funding(since_ms, symbol, limit, self._key)

    def reconcile(
        self,
        open_orders: Sequence[Mapping[str, Any]],
        fills: Iterable[Mapping[str, Any] | Fill],
        *,
        limit: int = 10_000,
    ) -> ReconcileReport:
        """Bring this account's intents in line with the venue after a restart (or at any time).

        Args:
            open_orders: the account's open orders on the venue (Hyperliquid
                ``frontendOpenOrders`` / ``openOrders`` items: ``{coin, oid, cloid?, side,
                limitPx, sz, ...}``).
            fills: the account's recent venue fills (``userFills`` items or :class:`Fill`);
                journalled under this account whatever their ``venue``.
            limit: at most this many active intents are examined.

        Rules, for each intent of this account in ``pending``/``sent``/``acked``/``unknown``:

        * every venue fill is journalled first (idempotently), fills matching no intent of
          this account too; an intent whose filled size reaches its size becomes ``filled``;
        * cloid among the open orders (or its oid, for an order listed without a cloid) →
          ``acked`` with the venue's oid;
        * not open but partly filled → ``cancelled`` (the rest was cancelled or expired);
        * not open, no fills, never sent (``pending``) → ``unknown``, listed in
          ``never_sent``: it never reached the venue (the caller resends with the same
          cloid or abandons it; the journal never resends);
        * not open, no fills, ``sent`` or ``acked`` → ``unknown`` with a reason (rejected,
          cancelled, expired, or filled outside the fills given);
        * already ``unknown`` and still absent → unchanged.

        Idempotent: running it again on the same venue state changes nothing and reports
        no changes. Everything runs in one transaction; a reconcile that changed something
        also appends a ``"reconcile"`` event of this account.

        Raises:
            ValueError: a malformed venue fill.
        """
        return self._journal._reconcile(open_orders, fills, self._key, self._ref, limit)

    # ------------------------------------------------------------------ events

    def log_event(self, kind: str, message: str, detail: Mapping[str, Any] | None = None) -> int:
        """Append an event about this account (:meth:`Journal.log_event`, tagged with the ref).

        Returns:
            The event's id.

        Raises:
            ValueError: empty ``kind``.
        """
        return self._journal._log_event(kind, message, detail, self._key)

    def events(self, limit: int = 200, *, kind: str | None = None, include_process_wide: bool = False) -> list[Event]:
        """This account's newest ``limit`` events (optionally of one kind), newest first; with
        ``include_process_wide`` also the events of no account (older journals' events, the
        process-wide :meth:`Journal.log_event`)."""
        return self._journal._events(limit, kind, self._key, include_process_wide)

    # ------------------------------------------------------------------ trading state

    def trading_state(self) -> TradingStateRecord | None:
        """The account's shared trading state as last written by any process, or ``None`` if
        never set (callers treat that as active). One primary-key SELECT: cheap enough to
        poll every 0.5 s and before every order."""
        return self._journal._trading_state(self._key)

    def set_trading_state(
        self,
        state: TradingStateName,
        reason: str,
        origin: str,
        *,
        expected_version: int | None = None,
    ) -> TradingStateRecord:
        """Set the account's shared trading state for every process, in one ``BEGIN
        IMMEDIATE`` transaction (waits up to :data:`BUSY_TIMEOUT_S` for another writer), with a
        ``"trading_state"`` event of this account.

        Args:
            state: ``"active"``, ``"reducing"`` or ``"halted"``.
            reason: why, one line (whitespace collapsed, at most 300 characters).
            origin: who (``"console pid 1234"``, ``"pfterm kill"``, ``"daily loss"``…).
            expected_version: if given, write only when the journalled version is this one
                (0: never set) — a compare-and-set against another process's change.

        Returns:
            The new record: ``version`` one more than before; ``since_ms`` kept when the
            state does not change.

        Raises:
            ValueError: unknown state, empty reason or origin.
            StaleTradingStateError: ``expected_version`` is not the journalled version.
            sqlite3.OperationalError: the database stayed locked past the busy timeout.
        """
        return self._journal._set_trading_state(self._key, state, reason, origin, expected_version)

    # ------------------------------------------------------------------ sync cursors and gaps

    def sync_cursor(self, stream: str) -> int | None:
        """The venue time (ms UTC) of the last row of ``stream`` (``"fills"`` or ``"funding"``)
        synced for this account, or ``None`` if never synced. Fetch from it (inclusive: the
        row at the cursor is fetched again and ignored as a duplicate).

        Raises:
            ValueError: unknown stream.
        """
        return self._journal._sync_cursor(self._key, stream)

    def set_sync_cursor(self, stream: str, time_ms: int) -> int:
        """Advance the cursor of ``stream`` to ``time_ms`` (venue time, ms UTC, of the last
        row synced: every row up to it is journalled). Never moves backwards (another process
        may have synced further). Put it in the same :meth:`batch` as the rows it covers.

        Returns:
            The cursor now journalled (``max`` of the old one and ``time_ms``).

        Raises:
            ValueError: unknown stream or a non-int time.
        """
        return self._journal._set_sync_cursor(self._key, stream, time_ms)

    def record_gap(self, stream: str, from_ms: int, to_ms: int, reason: str) -> SyncGap:
        """Record that ``stream`` could not be synced over ``[from_ms, to_ms]`` (venue time,
        ms UTC) and why (one line); idempotent on the span (the reason is updated). Also
        journalled as a ``"sync_gap"`` event. Reports say so.

        Raises:
            ValueError: unknown stream, ``to_ms < from_ms``, empty reason.
        """
        return self._journal._record_gap(self._key, stream, from_ms, to_ms, reason)

    def gaps(self, stream: str | None = None, limit: int = 1000) -> list[SyncGap]:
        """This account's recorded gaps (optionally of one stream), by start time, at most ``limit``.

        Raises:
            ValueError: unknown stream.
        """
        return self._journal._gaps(self._key, stream, limit)
