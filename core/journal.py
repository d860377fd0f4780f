"""Durable trading journal: order intents, acks, fills, cancels, funding and an action log.

Every order pfterm sends is journalled in SQLite *before* the network call (an intent,
committed with ``synchronous=FULL`` in WAL mode) and *after* it (the venue's ack, the
fills, the cancels). After a crash the journal is reconciled with what the venue reports
(open orders and fills, :meth:`Journal.reconcile`) so that nothing is lost and no order is
sent twice: every order carries a client order id (``cloid``, ``0x`` + 32 hex digits) that
is written before the order leaves the process, and the journal refuses to mark an intent
as sent twice (:meth:`Journal.mark_sent`).

Intent states::

    pending ──► sent ──► acked (resting) ──► filled / cancelled
       │          │            │
       │          ├──► rejected, filled, cancelled
       └──────────┴────────────┴──► unknown ──► sent (resend, same cloid) / cancelled (abandoned)

An ``unknown`` intent seen again on the venue (open, or filled) moves on to ``acked`` or
``filled``. ``unknown`` is what reconciliation concludes when the venue knows nothing of an intent:
if it was never marked sent it *never reached the venue* (:meth:`Journal.never_sent`);
the caller decides whether to resend it with the same cloid or abandon it. The journal
never sends anything itself. Fills are the venue's truth: once the filled size reaches
the intent's size the intent is ``filled`` whatever its previous state.

Units: prices in USD (quote), sizes in base units (always positive, the side says the
direction), fees and funding in the fee/settlement token (USDC), timestamps in ms UTC.
Funding ``usdc`` is from the user's side: positive = received.

Detail payloads of :meth:`Journal.log_event` are stored as JSON with every value whose key
looks secret (contains ``key``, ``secret``, ``private``, ``signature`` or ``mnemonic``,
case-insensitively) replaced by ``"[redacted]"`` at any depth; the order tables have no
column that could hold a secret.

Threading: a :class:`Journal` owns one :mod:`sqlite3` connection created with the default
``check_same_thread=True``; use it from the thread that opened it (the application's event
loop thread). Calls are short synchronous transactions (an ``fsync`` each); callers on an
event loop accept that latency as the price of durability before the network call.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

__all__ = [
    "ACTIVE_STATES",
    "INTENT_STATES",
    "REDACTED",
    "SCHEMA_VERSION",
    "TERMINAL_STATES",
    "Cancel",
    "Event",
    "Fill",
    "FundingPayment",
    "Intent",
    "IntentChange",
    "Journal",
    "JournalError",
    "ReconcileReport",
    "UnknownIntentError",
    "redact",
]

REDACTED: Final = "[redacted]"
_SECRET_MARKERS: Final = ("key", "secret", "private", "signature", "mnemonic")
_CLOID_RE: Final = re.compile(r"^0x[0-9a-f]{32}$")

INTENT_STATES: Final = frozenset(
    {"pending", "sent", "acked", "rejected", "filled", "cancelled", "unknown"}
)
#: States of an intent the venue may still be working (or may not know yet).
ACTIVE_STATES: Final = ("pending", "sent", "acked")
#: States no ack or reconciliation moves an intent out of (only fills reaching the size do).
TERMINAL_STATES: Final = frozenset({"rejected", "filled", "cancelled"})
_TIFS: Final = frozenset({"Gtc", "Alo", "Ioc"})
_ACK_STATUSES: Final = frozenset({"resting", "filled", "error"})
_CANCEL_STATUSES: Final = frozenset({"requested", "cancelled", "error"})
_MAX_LIMIT: Final = 100_000
# Relative tolerance when comparing a filled size with the intent's size (float sums).
_SIZE_RTOL: Final = 1e-9

Side = Literal["B", "A"]
AckStatus = Literal["resting", "filled", "error"]
CancelStatus = Literal["requested", "cancelled", "error"]


class JournalError(RuntimeError):
    """A journal operation was refused (invalid transition, duplicate cloid, newer schema)."""


class UnknownIntentError(JournalError, KeyError):
    """No intent is journalled under the given cloid."""


# --------------------------------------------------------------------------- schema

#: Migrations, applied in order; ``PRAGMA user_version`` is the number applied so far.
#: Append only: never edit a migration that has shipped.
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
)

#: Schema version this module writes.
SCHEMA_VERSION: Final = len(_MIGRATIONS)


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
    Timestamps are ms UTC.
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

    @property
    def is_active(self) -> bool:
        """True while the venue may still be working the order (pending, sent, acked)."""
        return self.state in ACTIVE_STATES


@dataclass(slots=True, frozen=True)
class Fill:
    """One execution of the user's order on the venue.

    Identity is ``(venue, tid, hash)``: Hyperliquid's ``hash`` can be all zeros, ``tid``
    (trade id) distinguishes such fills. ``px`` USD, ``sz`` base units (> 0), ``side``
    ``"B"``/``"A"``, ``fee`` in ``fee_token`` (negative = rebate), ``closed_pnl`` USD
    realised by this fill, ``time_ms`` venue time (ms UTC), ``direction`` the venue's label
    (``"Open Long"``…) when given. ``cloid`` is the one the venue reported or, failing that,
    the journal's intent matched by ``oid``.
    """

    venue: str
    tid: int
    hash: str
    symbol: str
    side: Side
    px: float
    sz: float
    fee: float
    fee_token: str
    time_ms: int
    oid: int | None = None
    cloid: str | None = None
    closed_pnl: float = 0.0
    direction: str | None = None

    @classmethod
    def from_hyperliquid(cls, item: Mapping[str, Any]) -> Fill:
        """Parse one Hyperliquid ``userFills`` / ``userFillsByTime`` item.

        Shape: ``{coin, px, sz, side "B"|"A", time, dir, closedPnl, hash, oid, fee, tid,
        cloid?, feeToken, ...}`` with numbers as decimal strings.

        Raises:
            ValueError: a required field is missing or malformed.
        """
        try:
            return cls(
                venue="hyperliquid",
                tid=int(item["tid"]),
                hash=str(item["hash"]),
                symbol=str(item["coin"]),
                side=_side(item["side"]),
                px=_positive(item["px"], "px"),
                sz=_positive(item["sz"], "sz"),
                fee=_finite(item.get("fee", 0.0), "fee"),
                fee_token=str(item.get("feeToken") or "USDC"),
                time_ms=int(item["time"]),
                oid=None if item.get("oid") is None else int(item["oid"]),
                cloid=_optional_cloid(item.get("cloid")),
                closed_pnl=_finite(item.get("closedPnl", 0.0), "closedPnl"),
                direction=None if item.get("dir") is None else str(item["dir"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed Hyperliquid fill {dict(item)!r}: {exc}") from exc


@dataclass(slots=True, frozen=True)
class FundingPayment:
    """One funding settlement on a position.

    ``usdc`` from the user's side (positive = received), ``size`` the signed position in
    base units at settlement (negative = short), ``rate`` the funding rate for the
    interval (fraction), ``time_ms`` settlement time (ms UTC).
    """

    venue: str
    time_ms: int
    symbol: str
    usdc: float
    size: float
    rate: float

    @classmethod
    def from_hyperliquid(cls, item: Mapping[str, Any]) -> FundingPayment:
        """Parse one Hyperliquid ``userFunding`` item.

        Shape: ``{time, hash, delta: {type "funding", coin, usdc, szi, fundingRate, ...}}``.

        Raises:
            ValueError: a required field is missing or malformed.
        """
        try:
            delta = item["delta"]
            return cls(
                venue="hyperliquid",
                time_ms=int(item["time"]),
                symbol=str(delta["coin"]),
                usdc=_finite(delta["usdc"], "usdc"),
                size=_finite(delta["szi"], "szi"),
                rate=_finite(delta["fundingRate"], "fundingRate"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed Hyperliquid funding item {dict(item)!r}: {exc}") from exc


@dataclass(slots=True, frozen=True)
class Cancel:
    """One cancel request or outcome: ``status`` ``"requested"|"cancelled"|"error"``,
    ``time_ms`` ms UTC, identified by ``cloid`` and/or venue ``oid``."""

    id: int
    time_ms: int
    venue: str
    cloid: str | None
    oid: int | None
    status: str
    error: str | None


@dataclass(slots=True, frozen=True)
class Event:
    """One entry of the action log: ``time_ms`` ms UTC, ``kind`` a short category
    (``"order"``, ``"harvest"``, ``"reconcile"``…), a human ``message`` and a redacted
    JSON ``detail``."""

    id: int
    time_ms: int
    kind: str
    message: str
    detail: dict[str, Any]


@dataclass(slots=True, frozen=True)
class IntentChange:
    """A state transition made by reconciliation: ``before`` → ``after`` with a reason."""

    cloid: str
    before: str
    after: str
    reason: str


@dataclass(slots=True)
class ReconcileReport:
    """What :meth:`Journal.reconcile` found and changed.

    ``changes``: intent transitions made by this call (empty when run again on the same
    venue state). ``new_fills``: venue fills journalled by this call (already-known fills
    are not repeated); ``foreign_fills`` the subset matching no intent (orders placed
    elsewhere). ``never_sent``: every intent currently ``unknown`` that was never marked
    sent — it never reached the venue; resend with the same cloid
    (:meth:`Journal.mark_sent`) or drop it (:meth:`Journal.abandon`). ``resting``: cloids of
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


def _cloid(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"cloid must be a str, got {type(value).__name__}")
    cloid = value.lower()
    if not _CLOID_RE.match(cloid):
        raise ValueError(f"cloid must be 0x followed by 32 hex digits, got {value!r}")
    return cloid


def _optional_cloid(value: Any) -> str | None:
    return None if value is None or value == "" else _cloid(value)


def _side(value: Any) -> Side:
    s = str(value).strip().lower()
    if s in ("b", "buy", "bid"):
        return "B"
    if s in ("a", "sell", "ask"):
        return "A"
    raise ValueError(f"side must be 'B'/'A' (or buy/sell), got {value!r}")


def _finite(value: Any, name: str) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return f


def _positive(value: Any, name: str) -> float:
    f = _finite(value, name)
    if f <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return f


def _limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    return min(limit, _MAX_LIMIT)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


# --------------------------------------------------------------------------- journal

_INTENT_COLS: Final = (
    "cloid, created_ms, updated_ms, venue, symbol, asset, side, size, price, tif, "
    "reduce_only, purpose, state, sent_ms, oid, filled_sz, avg_px, error"
)
_FILL_COLS: Final = (
    "venue, tid, hash, symbol, side, px, sz, fee, fee_token, time_ms, oid, cloid, "
    "closed_pnl, direction"
)


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
    venue: Any,
) -> tuple[Any, ...]:
    """Validated ``intents`` row values (without timestamps and state), cloid first."""
    cloid = _cloid(cloid)
    if tif not in _TIFS:
        raise ValueError(f"tif must be one of {sorted(_TIFS)}, got {tif!r}")
    if not symbol or not purpose or not venue:
        raise ValueError("symbol, purpose and venue must be non-empty")
    if not isinstance(asset, int) or isinstance(asset, bool) or asset < 0:
        raise ValueError(f"asset must be a non-negative int, got {asset!r}")
    return (
        cloid,
        venue,
        symbol,
        asset,
        _side(side),
        _positive(size, "size"),
        _positive(price, "price"),
        tif,
        1 if reduce_only else 0,
        purpose,
    )



def _intent_row(row: sqlite3.Row) -> Intent:
    return Intent(
        cloid=row["cloid"],
        created_ms=row["created_ms"],
        updated_ms=row["updated_ms"],
        venue=row["venue"],
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
    )


def _fill_row(row: sqlite3.Row) -> Fill:
    return Fill(**{k: row[k] for k in row.keys()})


class Journal:
    """The SQLite trading journal (see the module docstring for states and guarantees).

    Args:
        path: database file; parent directories are created. ``":memory:"`` works for
            throwaway use (no WAL then).
        clock: ms UTC clock for ``created_ms``/``updated_ms``/event times (injectable).

    Raises:
        JournalError: the file's schema is newer than this code understands.
        sqlite3.Error: the file cannot be opened or is not a database.

    All writes commit before the method returns. Use from one thread (see module doc);
    ``close()`` or a ``with`` block releases the connection.
    """

    def __init__(self, path: Path | str, *, clock: Callable[[], int] = _wall_ms) -> None:
        self._path = path if str(path) == ":memory:" else Path(path)
        if isinstance(self._path, Path):
            self._path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._depth = 0  # nesting of _tx: inner transactions join the outer one (batch)
        # isolation_level=None: no implicit transactions; every write runs in an explicit
        # BEGIN IMMEDIATE … COMMIT (see _tx).
        self._conn = sqlite3.connect(str(self._path), isolation_level=None, timeout=10.0)
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
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal schema version {version} is newer than supported {SCHEMA_VERSION}"
            )
        for index in range(version, SCHEMA_VERSION):
            with self._tx():
                for statement in _MIGRATIONS[index]:
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {index + 1}")

    @contextmanager
    def batch(self) -> Iterator[Journal]:
        """Group several journal calls into one transaction (one ``fsync``), all or none.

        Inside the block every method joins the outer transaction; an exception rolls back
        everything recorded in the block. Use it when one decision records several things at
        once, e.g. the kill switch's cancel requests and close intents before sending them.
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
        venue: str = "hyperliquid",
    ) -> Intent:
        """Journal an order about to be sent, in state ``pending``; committed (and fsynced)
        when this returns. Call it before signing/sending, then :meth:`mark_sent`.

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
        row = _intent_values(cloid, symbol, asset, side, size, price, tif, reduce_only, purpose, venue)
        with self._tx() as conn:
            self._insert_intents(conn, [row])
        return self._require(row[0])

    def record_intents(self, intents: Sequence[Mapping[str, Any]]) -> list[Intent]:
        """Journal a batch of intents in one transaction (one ``fsync``), all or none.

        Each mapping has :meth:`record_intent`'s keyword arguments. Use it for a batch that
        goes out as one venue action (a kill switch's closes, a rebalance).

        Raises:
            ValueError: a malformed intent (nothing is journalled).
            JournalError: a cloid already journalled, or twice in the batch (nothing is journalled).
        """
        rows = [
            _intent_values(
                i["cloid"],
                i["symbol"],
                i["asset"],
                i["side"],
                i["size"],
                i["price"],
                i.get("tif", "Gtc"),
                bool(i.get("reduce_only", False)),
                i.get("purpose", "manual"),
                i.get("venue", "hyperliquid"),
            )
            for i in intents
        ]
        with self._tx() as conn:
            self._insert_intents(conn, rows)
        return [self._require(r[0]) for r in rows]

    def _insert_intents(self, conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        now = self._clock()
        try:
            conn.executemany(
                f"INSERT INTO intents ({_INTENT_COLS}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,'pending',NULL,NULL,0,NULL,NULL)",
                [(r[0], now, now, *r[1:]) for r in rows],
            )
        except sqlite3.IntegrityError as exc:
            if len(rows) == 1:
                raise JournalError(f"cloid {rows[0][0]} is already journalled") from exc
            raise JournalError(f"a cloid of the batch is already journalled: {exc}") from exc

    def mark_sent(self, cloid: str) -> Intent:
        """Record that the order is about to go (or has gone) over the wire.

        Allowed from ``pending`` and from ``unknown`` (a resend with the same cloid after
        reconciliation); a no-op if already ``sent``.

        Raises:
            UnknownIntentError: no such intent.
            JournalError: the intent is acked or finished — sending it again would
                duplicate the order.
        """
        return self.mark_sent_many([cloid])[0]

    def mark_sent_many(self, cloids: Sequence[str]) -> list[Intent]:
        """:meth:`mark_sent` for a batch, in one transaction: all or none.

        Raises:
            UnknownIntentError, JournalError: as :meth:`mark_sent`, for any of them.
        """
        norm = [_cloid(c) for c in cloids]
        with self._tx() as conn:
            now = self._clock()
            for cloid in norm:
                intent = self._get(conn, cloid)
                if intent.state == "sent":
                    continue
                if intent.state not in ("pending", "unknown"):
                    raise JournalError(
                        f"intent {cloid} is {intent.state}; refusing to mark it sent again"
                    )
                conn.execute(
                    "UPDATE intents SET state='sent', sent_ms=?, updated_ms=?, error=NULL "
                    "WHERE cloid=?",
                    (now, now, cloid),
                )
        return [self._require(c) for c in norm]

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
        records the oid; an ``error`` never overrides ``filled``.

        Raises:
            ValueError: bad status, or ``resting`` without ``oid``.
            UnknownIntentError: no such intent.
        """
        with self._tx() as conn:
            self._ack(conn, _cloid(cloid), status, oid, error, avg_px, filled_sz)
        return self._require(cloid)

    def record_acks(self, acks: Sequence[Mapping[str, Any]]) -> list[Intent]:
        """:meth:`record_ack` for a batch in one transaction; each mapping has ``cloid``,
        ``status`` and optionally ``oid``, ``error``, ``avg_px``, ``filled_sz``.

        Raises:
            ValueError, UnknownIntentError: as :meth:`record_ack` (nothing is recorded).
        """
        norm = [_cloid(a["cloid"]) for a in acks]
        with self._tx() as conn:
            for cloid, a in zip(norm, acks, strict=True):
                self._ack(
                    conn, cloid, a["status"], a.get("oid"), a.get("error"), a.get("avg_px"), a.get("filled_sz")
                )
        return [self._require(c) for c in norm]

    def _ack(
        self,
        conn: sqlite3.Connection,
        cloid: str,
        status: str,
        oid: int | None,
        error: str | None,
        avg_px: float | str | None,
        filled_sz: float | str | None,
    ) -> None:
        if status not in _ACK_STATUSES:
            raise ValueError(f"status must be one of {sorted(_ACK_STATUSES)}, got {status!r}")
        if status == "resting" and oid is None:
            raise ValueError("a resting ack needs the venue's oid")
        intent = self._get(conn, cloid)
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
        it becomes ``cancelled`` with ``reason``.

        Raises:
            UnknownIntentError: no such intent.
            JournalError: the intent was sent/acked/finished (cancel it on the venue instead).
        """
        cloid = _cloid(cloid)
        with self._tx() as conn:
            intent = self._get(conn, cloid)
            if intent.state not in ("pending", "unknown"):
                raise JournalError(f"intent {cloid} is {intent.state}; cannot abandon it")
            self._set(conn, cloid, state="cancelled", error=reason, now=self._clock())
        return self._require(cloid)

    def intent(self, cloid: str) -> Intent | None:
        """The intent journalled under ``cloid`` (any case), or ``None``.

        Raises:
            ValueError: malformed cloid.
        """
        row = self._conn.execute(
            f"SELECT {_INTENT_COLS} FROM intents WHERE cloid=?", (_cloid(cloid),)
        ).fetchone()
        return None if row is None else _intent_row(row)

    def open_intents(self, limit: int = 1000) -> list[Intent]:
        """Intents the venue may still be working: ``pending``, ``sent``, ``acked``
        (resting), oldest first, at most ``limit``."""
        rows = self._conn.execute(
            f"SELECT {_INTENT_COLS} FROM intents WHERE state IN ('pending','sent','acked') "
            "ORDER BY created_ms, cloid LIMIT ?",
            (_limit(limit),),
        ).fetchall()
        return [_intent_row(r) for r in rows]

    def never_sent(self, limit: int = 1000) -> list[Intent]:
        """Intents reconciliation found unknown to the venue and never marked sent (a crash
        between journalling and sending), oldest first, at most ``limit``."""
        rows = self._conn.execute(
            f"SELECT {_INTENT_COLS} FROM intents WHERE state='unknown' AND sent_ms IS NULL "
            "ORDER BY created_ms, cloid LIMIT ?",
            (_limit(limit),),
        ).fetchall()
        return [_intent_row(r) for r in rows]

    def intents(self, since_ms: int | None = None, limit: int = 1000) -> list[Intent]:
        """All intents created at or after ``since_ms`` (ms UTC), oldest first, at most
        ``limit``."""
        rows = self._conn.execute(
            f"SELECT {_INTENT_COLS} FROM intents WHERE created_ms >= ? "
            "ORDER BY created_ms, cloid LIMIT ?",
            (since_ms if since_ms is not None else -(2**62), _limit(limit)),
        ).fetchall()
        return [_intent_row(r) for r in rows]

    # ------------------------------------------------------------------ fills, cancels, funding

    def record_fill(self, fill: Fill) -> bool:
        """Journal one fill; idempotent on ``(venue, tid, hash)``.

        The fill is linked to its intent by cloid, or by ``oid`` when the venue gave no
        cloid; the intent's ``filled_sz``/``avg_px`` are recomputed and it becomes
        ``filled`` once the filled size reaches its size.

        Returns:
            True if the fill was new, False if it was already journalled.
        """
        with self._tx() as conn:
            return self._insert_fill(conn, fill) is not None

    def record_fills(self, fills: Iterable[Fill]) -> int:
        """:meth:`record_fill` for many fills in one transaction; returns how many were new."""
        with self._tx() as conn:
            return sum(1 for f in fills if self._insert_fill(conn, f) is not None)

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
        to ``cancelled`` unless it is already ``filled`` or ``rejected``.

        Args:
            cloid: the order's cloid, and/or oid: the venue's order id (one is required;
                with only an oid the intent is looked up by it).

        Raises:
            ValueError: neither id given, or a bad status.
            UnknownIntentError: only a cloid was given and no intent has it.
        """
        with self._tx() as conn:
            return self._cancel(conn, cloid, oid, status, error, venue)

    def record_cancels(self, cancels: Sequence[Mapping[str, Any]]) -> list[Cancel]:
        """:meth:`record_cancel` for a batch in one transaction; each mapping has ``cloid``
        and/or ``oid``, ``status`` and optionally ``error`` and ``venue``.

        Raises:
            ValueError, UnknownIntentError: as :meth:`record_cancel` (nothing is recorded).
        """
        with self._tx() as conn:
            return [
                self._cancel(
                    conn,
                    c.get("cloid"),
                    c.get("oid"),
                    c.get("status", "requested"),
                    c.get("error"),
                    c.get("venue", "hyperliquid"),
                )
                for c in cancels
            ]

    def _cancel(
        self,
        conn: sqlite3.Connection,
        cloid: str | None,
        oid: int | None,
        status: str,
        error: str | None,
        venue: str,
    ) -> Cancel:
        if cloid is None and oid is None:
            raise ValueError("record_cancel needs a cloid or an oid")
        if status not in _CANCEL_STATUSES:
            raise ValueError(f"status must be one of {sorted(_CANCEL_STATUSES)}, got {status!r}")
        norm = _optional_cloid(cloid)
        oid = None if oid is None else int(oid)
        now = self._clock()
        if norm is None:
            row = conn.execute("SELECT cloid FROM intents WHERE venue=? AND oid=?", (venue, oid)).fetchone()
            norm = None if row is None else row["cloid"]
        elif conn.execute("SELECT 1 FROM intents WHERE cloid=?", (norm,)).fetchone() is None:
            if oid is None:
                raise UnknownIntentError(norm)
            norm = None  # a cloid placed elsewhere: keep the row by oid only
        cur = conn.execute(
            "INSERT INTO cancels (time_ms, venue, cloid, oid, status, error) VALUES (?,?,?,?,?,?)",
            (now, venue, norm, oid, status, error),
        )
        if status == "cancelled" and norm is not None:
            intent = self._get(conn, norm)
            if intent.state not in ("filled", "rejected", "cancelled"):
                self._set(conn, norm, state="cancelled", now=now)
        return Cancel(cur.lastrowid or 0, now, venue, norm, oid, status, error)

    def cancels(self, cloid: str | None = None, limit: int = 1000) -> list[Cancel]:
        """Cancel records (optionally of one cloid), oldest first, at most ``limit``."""
        if cloid is None:
            rows = self._conn.execute(
                "SELECT * FROM cancels ORDER BY id LIMIT ?", (_limit(limit),)
            ).fetchall()
        else:
            rows = self._conn.execute(
                "SELECT * FROM cancels WHERE cloid=? ORDER BY id LIMIT ?",
                (_cloid(cloid), _limit(limit)),
            ).fetchall()
        return [Cancel(**{k: r[k] for k in r.keys()}) for r in rows]

    def fills(
        self, since_ms: int | None = None, *, symbol: str | None = None, limit: int = 10_000
    ) -> list[Fill]:
        """Fills with ``time_ms >= since_ms`` (optionally one symbol), oldest first, at most
        ``limit``."""
        sql = f"SELECT {_FILL_COLS} FROM fills WHERE time_ms >= ?"
        args: list[Any] = [since_ms if since_ms is not None else -(2**62)]
        if symbol is not None:
            sql += " AND symbol = ?"
            args.append(symbol)
        sql += " ORDER BY time_ms, id LIMIT ?"
        args.append(_limit(limit))
        return [_fill_row(r) for r in self._conn.execute(sql, args).fetchall()]

    def record_funding(self, payment: FundingPayment) -> bool:
        """Journal one funding payment; idempotent on ``(venue, time_ms, symbol)``.

        Returns:
            True if new, False if already journalled.
        """
        return self.record_fundings([payment]) == 1

    def record_fundings(self, payments: Iterable[FundingPayment]) -> int:
        """:meth:`record_funding` for many payments in one transaction; returns how many were new."""
        with self._tx() as conn:
            n = 0
            for p in payments:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO funding (venue, time_ms, symbol, usdc, size, rate) VALUES (?,?,?,?,?,?)",
                    (
                        p.venue,
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
        first, at most ``limit``."""
        sql = "SELECT venue, time_ms, symbol, usdc, size, rate FROM funding WHERE time_ms >= ?"
        args: list[Any] = [since_ms if since_ms is not None else -(2**62)]
        if symbol is not None:
            sql += " AND symbol = ?"
            args.append(symbol)
        sql += " ORDER BY time_ms, symbol LIMIT ?"
        args.append(_limit(limit))
        return [
            FundingPayment(**{k: r[k] for k in r.keys()})
            for r in self._conn.execute(sql, args).fetchall()
        ]

    # ------------------------------------------------------------------ events

    def log_event(self, kind: str, message: str, detail: Mapping[str, Any] | None = None) -> int:
        """Append to the action log; ``detail`` is redacted (:func:`redact`) and stored as
        JSON (values JSON cannot encode are stored as their ``str``).

        Returns:
            The event's id.

        Raises:
            ValueError: empty ``kind``.
        """
        if not kind:
            raise ValueError("event kind must be non-empty")
        payload = json.dumps(redact(dict(detail or {})), default=str, sort_keys=True)
        with self._tx() as conn:
            return self._insert_event(conn, kind, message, payload)

    def events(self, limit: int = 200, *, kind: str | None = None) -> list[Event]:
        """The newest ``limit`` events (optionally of one kind), newest first."""
        if kind is None:
            rows = self._conn.execute(
                "SELECT * FROM events ORDER BY id DESC LIMIT ?", (_limit(limit),)
            ).fetchall()
        else:
            rows = self._conn.execute(
                "SELECT * FROM events WHERE kind=? ORDER BY id DESC LIMIT ?",
                (kind, _limit(limit)),
            ).fetchall()
        return [
            Event(r["id"], r["time_ms"], r["kind"], r["message"], json.loads(r["detail"]))
            for r in rows
        ]

    # ------------------------------------------------------------------ reconciliation

    def reconcile(
        self,
        open_orders: Sequence[Mapping[str, Any]],
        fills: Iterable[Mapping[str, Any] | Fill],
        *,
        venue: str = "hyperliquid",
        limit: int = 10_000,
    ) -> ReconcileReport:
        """Bring the journal in line with the venue after a restart (or at any time).

        Args:
            open_orders: the venue's open orders (Hyperliquid ``frontendOpenOrders`` /
                ``openOrders`` items: ``{coin, oid, cloid?, side, limitPx, sz, ...}``).
            fills: the venue's recent fills (``userFills`` items or :class:`Fill`).
            venue: the venue these lists come from; only its intents are reconciled.
            limit: at most this many active intents are examined.

        Rules, for each intent in ``pending``/``sent``/``acked``/``unknown``:

        * every venue fill is journalled first (idempotently), fills matching no intent
          too; an intent whose filled size reaches its size becomes ``filled``;
        * cloid among the open orders → ``acked`` with the venue's oid;
        * not open but partly filled → ``cancelled`` (the rest was cancelled or expired);
        * not open, no fills, never sent (``pending``) → ``unknown``, listed in
          ``never_sent``: it never reached the venue (the caller resends with the same
          cloid or abandons it; the journal never resends);
        * not open, no fills, ``sent`` or ``acked`` → ``unknown`` with a reason (rejected,
          cancelled, expired, or filled outside the fills given);
        * already ``unknown`` and still absent → unchanged.

        Idempotent: running it again on the same venue state changes nothing and reports
        no changes. Everything runs in one transaction; a reconcile that changed something
        also appends a ``"reconcile"`` event.

        Raises:
            ValueError: a malformed venue fill.
        """
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
        active_sql = (
            f"SELECT {_INTENT_COLS} FROM intents WHERE venue=? AND state IN "
            "('pending','sent','acked','unknown') ORDER BY created_ms, cloid LIMIT ?"
        )
        with self._tx() as conn:
            before = {r["cloid"]: r["state"] for r in conn.execute(active_sql, (venue, lim))}
            reasons: dict[str, str] = {}
            for fill in parsed:
                stored = self._insert_fill(conn, fill)
                if stored is not None:
                    report.new_fills.append(stored)
                    if stored.cloid is None or self._find(conn, stored.cloid) is None:
                        report.foreign_fills.append(stored)
                    elif stored.cloid in before:
                        reasons[stored.cloid] = "fills found on the venue"
            for cloid in before:
                intent = self._get(conn, cloid)
                if intent.state in TERMINAL_STATES:
                    continue  # filled by the fills just journalled
                order = open_by_cloid.get(cloid)
                if order is None and intent.oid is not None and intent.oid in open_oids:
                    order = {"oid": intent.oid}
                if order is not None:
                    oid = int(order["oid"])
                    report.resting.append(cloid)
                    if intent.state != "acked" or intent.oid != oid:
                        self._set(conn, cloid, state="acked", oid=oid, error=None, now=now)
                        reasons[cloid] = f"resting on the venue, oid {oid}"
                    continue
                if intent.filled_sz > 0:
                    reason = (
                        f"partly filled ({intent.filled_sz:g} of {intent.size:g}); "
                        "no longer open on the venue"
                    )
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
                        "was resting; no longer open and no fills seen: "
                        "cancelled, or filled outside the fills given"
                    )
                self._set(conn, cloid, state="unknown", error=reason, now=now)
                reasons[cloid] = reason
            for cloid, state in before.items():
                after = self._get(conn, cloid).state
                if after != state:
                    report.changes.append(
                        IntentChange(cloid, state, after, reasons.get(cloid, "venue state"))
                    )
            for c, order in open_by_cloid.items():
                if self._find(conn, c) is None:
                    report.untracked_orders.append(dict(order))
            for order in open_orders:
                if _optional_cloid(order.get("cloid")) is None:
                    oid = order.get("oid")
                    if oid is None or conn.execute(
                        "SELECT 1 FROM intents WHERE venue=? AND oid=?", (venue, int(oid))
                    ).fetchone() is None:
                        report.untracked_orders.append(dict(order))
            never = conn.execute(
                f"SELECT {_INTENT_COLS} FROM intents WHERE venue=? AND state='unknown' "
                "AND sent_ms IS NULL ORDER BY created_ms, cloid LIMIT ?",
                (venue, _limit(limit)),
            ).fetchall()
            report.never_sent = [_intent_row(r) for r in never]
            if report.changed:
                self._insert_event(
                    conn,
                    "reconcile",
                    f"reconciled: {len(report.changes)} intent change(s), "
                    f"{len(report.new_fills)} new fill(s)",
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
                )
        return report

    # ------------------------------------------------------------------ internals

    def _find(self, conn: sqlite3.Connection, cloid: str) -> Intent | None:
        row = conn.execute(f"SELECT {_INTENT_COLS} FROM intents WHERE cloid=?", (cloid,)).fetchone()
        return None if row is None else _intent_row(row)

    def _get(self, conn: sqlite3.Connection, cloid: str) -> Intent:
        intent = self._find(conn, cloid)
        if intent is None:
            raise UnknownIntentError(cloid)
        return intent

    def _require(self, cloid: str) -> Intent:
        intent = self.intent(cloid)
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

    def _insert_fill(self, conn: sqlite3.Connection, fill: Fill) -> Fill | None:
        cloid = _optional_cloid(fill.cloid)
        if cloid is None and fill.oid is not None:
            row = conn.execute(
                "SELECT cloid FROM intents WHERE venue=? AND oid=?", (fill.venue, fill.oid)
            ).fetchone()
            cloid = None if row is None else row["cloid"]
        stored = Fill(
            venue=fill.venue,
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
            f"INSERT OR IGNORE INTO fills ({_FILL_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                stored.venue,
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
        if cloid is not None and self._find(conn, cloid) is not None:
            if stored.oid is not None:
                conn.execute(
                    "UPDATE intents SET oid=? WHERE cloid=? AND oid IS NULL", (stored.oid, cloid)
                )
            self._sync_fills(conn, cloid)
        return stored

    def _sync_fills(self, conn: sqlite3.Connection, cloid: str) -> None:
        """Recompute an intent's filled size/average price from its journalled fills and
        move it to ``filled`` once the size is reached."""
        intent = self._get(conn, cloid)
        row = conn.execute(
            "SELECT COALESCE(SUM(sz), 0) AS sz, SUM(px * sz) AS notional FROM fills "
            "WHERE cloid=? OR (venue=? AND oid IS NOT NULL AND oid=?)",
            (cloid, intent.venue, intent.oid),
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

    def _insert_event(self, conn: sqlite3.Connection, kind: str, message: str, payload: str) -> int:
        cur = conn.execute(
            "INSERT INTO events (time_ms, kind, message, detail) VALUES (?,?,?,?)",
            (self._clock(), kind, message, payload),
        )
        return int(cur.lastrowid or 0)
