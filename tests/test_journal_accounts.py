"""One journal, many accounts: account refs, the schema 1 → 2 migration of an existing journal,
rows of two accounts that reuse order/trade ids never matched across accounts, the shared
trading state (two connections, two processes), sync cursors and gaps, account books."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfterm.core.trading.journal import (
    _MIGRATIONS,
    LEGACY_ACCOUNT,
    SCHEMA_VERSION,
    AccountRef,
    Journal,
    JournalError,
    StaleTradingStateError,
    UnknownIntentError,
    _label_venue_network,
)
from pfterm.core.venues.records import Fill, FundingPayment

REPO = Path(__file__).resolve().parents[1]
ADDR_A = "0x" + "a1" * 20
ADDR_B = "0x" + "b2" * 20
SIM_1 = AccountRef.hyperliquid("sim:s1", ADDR_A)
SIM_2 = AccountRef.hyperliquid("sim:s2", ADDR_A)  # same address, a later session
HL_A = AccountRef.hyperliquid("mainnet", ADDR_A)
HL_B = AccountRef.hyperliquid("mainnet", ADDR_B)
BN = AccountRef.binance("mainnet", "k" * 64)


class Tick:
    """Deterministic ms clock advancing 1 ms per read."""

    def __init__(self, start: int = 1_769_916_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1
        return self.now


@pytest.fixture
def journal(tmp_path: Path):
    j = Journal(tmp_path / "journal.sqlite", clock=Tick())
    yield j
    j.close()


def _cloid(n: int) -> str:
    return f"0x{n:032x}"


def _fill(
    symbol: str,
    oid: int | None,
    tid: int,
    sz: float,
    px: float = 100.0,
    *,
    venue: str = "hyperliquid",
    cloid: str | None = None,
    t: int = 1_769_916_001_000,
    side: str = "B",
) -> Fill:
    return Fill(venue, tid, "0x" + "0" * 64, symbol, side, px, sz, 0.01, "USDC", t, oid=oid, cloid=cloid)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- AccountRef


def test_account_ref_normalises_labels_and_refuses_secrets() -> None:
    ref = AccountRef.hyperliquid("mainnet", "0x12AB" + "0" * 32 + "CDEF")
    assert ref.account == "0x12ab" + "0" * 32 + "cdef"
    assert ref.label == "hyperliquid mainnet 0x12ab…cdef"
    assert AccountRef("Hyperliquid", "testnet", ADDR_A).venue == "hyperliquid"
    bn = AccountRef.binance("testnet", "my-api-key")
    assert bn.account.startswith("key:") and len(bn.account) == 4 + 16 and "my-api-key" not in bn.label
    assert AccountRef.binance("testnet", "my-api-key") == bn != AccountRef.binance("testnet", "other")
    assert bn.label == f"binance testnet {bn.account}"
    with pytest.raises(ValueError, match="key"):
        AccountRef("binance", "mainnet", "A" * 64)  # an API key, not an id
    with pytest.raises(ValueError):
        AccountRef("hyperliquid", "mainnet", "0x" + "ab" * 32)  # a private key
    with pytest.raises(ValueError, match="address"):
        AccountRef("hyperliquid", "mainnet", "alice")
    with pytest.raises(ValueError, match="credentials"):
        AccountRef("hyperliquid", "url:user:pw@host:1", ADDR_A)
    for bad in (("", "mainnet", "x"), ("binance", "", "x"), ("binance", "main net", "x"), ("binance", "mainnet", "")):
        with pytest.raises(ValueError):
            AccountRef(*bad)
    with pytest.raises(ValueError):
        AccountRef.binance("mainnet", " ")
    assert AccountRef("hyperliquid", "mainnet", LEGACY_ACCOUNT).is_legacy


@given(st.text(alphabet="0123456789abcdefABCDEFxyzXYZ", min_size=43, max_size=90))
def test_no_ref_stores_a_key_or_secret(secret: str) -> None:
    with pytest.raises(ValueError):
        AccountRef("binance", "mainnet", secret)
    ref = AccountRef.binance("mainnet", secret)
    assert secret not in repr(ref) and "\n" not in ref.label and ref.account.startswith("key:")


@pytest.mark.parametrize(
    ("label", "venue", "network"),
    [
        ("sim", "hyperliquid", "sim:legacy"),
        ("hyperliquid", "hyperliquid", "mainnet"),
        ("hyperliquid-testnet", "hyperliquid", "testnet"),
        ("hyperliquid@127.0.0.1:8765", "hyperliquid", "url:127.0.0.1:8765"),
        ("hyperliquid@user:pw@h:1", "hyperliquid", "url:h:1"),  # never URL credentials
        ("binance", "binance", "legacy"),
    ],
)
def test_legacy_labels(label: str, venue: str, network: str) -> None:
    ref = AccountRef.from_legacy_label(label)
    assert (ref.venue, ref.network, ref.account) == (venue, network, LEGACY_ACCOUNT)
    if "user" not in label:
        assert ref.legacy_label == label


# --------------------------------------------------------------------------- migration


def _v1(path: Path) -> sqlite3.Connection:
    """A journal with schema version 1 as the previous code created it."""
    conn = sqlite3.connect(path)
    for statement in _MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    return conn


_LABELS = ("sim", "hyperliquid", "hyperliquid-testnet", "hyperliquid@127.0.0.1:8765", "binance")


def test_migration_from_schema_1_keeps_every_row_and_maps_accounts(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = _v1(path)
    for n, label in enumerate(_LABELS, start=1):
        conn.execute(
            "INSERT INTO intents (cloid, created_ms, updated_ms, venue, symbol, asset, side, size, price, tif, "
            "reduce_only, purpose, state, sent_ms, oid, filled_sz, avg_px, error) "
            "VALUES (?, 10, 10, ?, 'BTC', 0, 'B', 1.0, 100.0, 'Gtc', 0, 'manual', 'acked', 10, ?, 0, NULL, NULL)",
            (_cloid(n), label, 7),  # the same oid 7 under every label
        )
        # the same tid/hash under every label (unique per label in schema 1)
        conn.execute(
            "INSERT INTO fills (venue, tid, hash, cloid, oid, symbol, side, px, sz, fee, fee_token, time_ms, "
            "closed_pnl, direction) VALUES (?, 1, '0xh', ?, 7, 'BTC', 'B', 100.0, 0.5, 0.01, 'USDC', ?, 0, NULL)",
            (label, _cloid(n), 1000 + n),
        )
        conn.execute(
            "INSERT INTO cancels (time_ms, venue, cloid, oid, status, error) VALUES (20, ?, ?, 7, 'requested', NULL)",
            (label, _cloid(n)),
        )
        conn.execute(
            "INSERT INTO funding (venue, time_ms, symbol, usdc, size, rate) VALUES (?, 3600000, 'BTC', ?, -1, 0.0001)",
            (label, float(n)),
        )
    conn.execute("INSERT INTO events (time_ms, kind, message, detail) VALUES (5, 'harvest_open', 'm', '{\"a\": 1}')")
    conn.commit()
    fill_ids = [r[0] for r in conn.execute("SELECT id FROM fills ORDER BY id")]
    conn.close()

    with Journal(path) as j:
        assert j.schema_version == SCHEMA_VERSION == 2
        assert j.journal_mode == "wal"
        raw = sqlite3.connect(path)
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        for table in ("intents", "fills", "cancels", "funding"):
            rows = raw.execute(
                f"SELECT venue, network, account FROM {table} ORDER BY id"
                if table != "intents"
                else "SELECT venue, network, account FROM intents ORDER BY cloid"
            ).fetchall()
            assert rows == [(*_label_venue_network(label), LEGACY_ACCOUNT) for label in _LABELS], table
        assert [r[0] for r in raw.execute("SELECT id FROM fills ORDER BY id")] == fill_ids
        assert raw.execute("SELECT venue, network, account FROM events").fetchall() == [(None, None, None)]
        raw.close()
        # the process-wide reads give the old labels back
        assert [f.venue for f in j.fills()] == list(_LABELS)
        assert sorted(p.venue for p in j.funding()) == sorted(_LABELS)
        assert [i.venue for i in j.intents()] == list(_LABELS)
        [event] = j.events()
        assert event.detail == {"a": 1} and event.ref is None
        assert j.accounts() == sorted(AccountRef.from_legacy_label(x) for x in _LABELS)
        # an account view sees its own old rows
        sim = j.for_account(AccountRef.from_legacy_label("sim"))
        assert [i.cloid for i in sim.intents()] == [_cloid(1)] and sim.intent(_cloid(1)).venue == "hyperliquid"
        assert len(sim.fills()) == 1 and len(sim.funding()) == 1 and len(sim.cancels()) == 1
        # several legacy Hyperliquid networks: the legacy Binance account stands alone
        assert all(len(b.members) == 1 for b in j.books())
        # per-account uniqueness: the same tid/hash in another account is a new fill
        assert j.for_account(HL_A).record_fill(_fill("BTC", 7, 1, 0.5))
    with Journal(path) as j:  # reopening: nothing to migrate, nothing lost
        assert j.schema_version == 2 and len(j.fills()) == len(_LABELS) + 1


def test_legacy_writers_keep_working_after_migration(tmp_path: Path) -> None:
    """Callers of the old API (a venue label, no account) still match fills to intents by oid,
    and a journal of one legacy Hyperliquid network pairs the legacy Binance leg with it."""
    path = tmp_path / "old.sqlite"
    _v1(path).close()
    with Journal(path, clock=Tick()) as j:
        j.record_intent(cloid=_cloid(1), symbol="ETH", asset=0, side="B", size=1.0, price=3000.0, venue="binance")
        j.mark_sent(_cloid(1))
        j.record_ack(_cloid(1), status="resting", oid=55)
        j.record_intent(cloid=_cloid(2), symbol="ETH", asset=1, side="A", size=1.0, price=3000.0, venue="sim")
        j.mark_sent(_cloid(2))
        j.record_ack(_cloid(2), status="resting", oid=55)  # the same oid on the other venue
        assert j.record_fill(_fill("ETH", 55, 9, 1.0, venue="binance"))
        assert j.intent(_cloid(1)).state == "filled" and j.intent(_cloid(2)).state == "acked"
        assert j.record_fill(_fill("ETH", 55, 9, 1.0, venue="sim", side="A"))
        assert j.intent(_cloid(2)).state == "filled"
        assert {f.venue for f in j.fills()} == {"sim", "binance"}
        assert j.record_cancel(oid=55, status="cancelled", venue="binance").cloid == _cloid(1)
        [book] = j.books()
        assert book.primary == AccountRef.from_legacy_label("sim") and not book.registered
        assert book.members == (AccountRef.from_legacy_label("sim"), AccountRef.from_legacy_label("binance"))


_label_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(_LABELS),
            st.builds(
                lambda h: "hyperliquid@" + h, st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
            ),
            _label_text,
        ),
        min_size=1,
        max_size=8,
        unique=True,
    )
)
def test_migration_sql_maps_labels_as_the_python_code_does(labels: list[str]) -> None:
    conn = sqlite3.connect(":memory:")
    for statement in _MIGRATIONS[0]:
        conn.execute(statement)
    for n, label in enumerate(labels):
        conn.execute(
            "INSERT INTO fills (venue, tid, hash, symbol, side, px, sz, fee, fee_token, time_ms, closed_pnl) "
            "VALUES (?, ?, 'h', 'BTC', 'B', 1, 1, 0, 'USDC', 0, 0)",
            (label, n),
        )
        conn.execute(
            "INSERT INTO funding (venue, time_ms, symbol, usdc, size, rate) VALUES (?, 0, 'BTC', 0, 0, 0)", (label,)
        )
    for statement in _MIGRATIONS[1]:
        conn.execute(statement)
    for table in ("fills", "funding"):
        got = conn.execute(f"SELECT venue, network, account FROM {table} ORDER BY id").fetchall()
        assert got == [(*_label_venue_network(x), LEGACY_ACCOUNT) for x in labels]
    conn.close()


_OPEN_V1 = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from pfterm.core.trading.journal import Journal
    with Journal(sys.argv[2]) as j:
        print(j.schema_version)
    """
)


def test_processes_opening_an_old_journal_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = _v1(path)
    conn.execute("INSERT INTO funding (venue, time_ms, symbol, usdc, size, rate) VALUES ('sim', 1, 'BTC', 1, 1, 0)")
    conn.commit()
    conn.close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_V1, str(REPO), str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e.decode() for _, e in outs]
    assert [o.decode().strip() for o, _ in outs] == ["2"] * 3
    with Journal(path) as j:
        assert [p.venue for p in j.funding()] == ["sim"]


# --------------------------------------------------------------------------- accounts never merge


def test_two_simulator_sessions_reusing_ids_never_match(journal: Journal) -> None:
    """Session 1 filled a SOL order with oid 5; session 2 (same HOME, same journal) rests a BTC
    limit that also gets oid 5 and is cancelled: it must not become 'filled 22.87 @ 131.13'."""
    s1, s2 = journal.for_account(SIM_1), journal.for_account(SIM_2)
    s1.record_intent(cloid=_cloid(1), symbol="SOL", asset=5, side="B", size=22.87, price=131.2)
    s1.mark_sent(_cloid(1))
    s1.record_ack(_cloid(1), status="resting", oid=5)
    assert s1.record_fill(_fill("SOL", 5, 1, 22.87, 131.13))  # no cloid: matched by oid
    assert s1.intent(_cloid(1)).state == "filled"

    s2.record_intent(cloid=_cloid(2), symbol="BTC", asset=0, side="B", size=0.01, price=60_000.0)
    s2.mark_sent(_cloid(2))
    s2.record_ack(_cloid(2), status="resting", oid=5)
    assert s2.record_cancel(oid=5, status="cancelled").cloid == _cloid(2)
    btc = s2.intent(_cloid(2))
    assert (btc.state, btc.filled_sz, btc.avg_px) == ("cancelled", 0.0, None)
    # the same trade id and hash in session 2 is another fill, matched to session 2's order
    assert s2.record_fill(_fill("BTC", 5, 1, 0.004, 60_000.0))
    assert s2.intent(_cloid(2)).filled_sz == pytest.approx(0.004)
    assert s1.intent(_cloid(1)).filled_sz == pytest.approx(22.87)
    assert [f.symbol for f in s1.fills()] == ["SOL"] and [f.symbol for f in s2.fills()] == ["BTC"]
    # a view never reaches another account's intent
    assert s1.intent(_cloid(2)) is None
    with pytest.raises(UnknownIntentError):
        s1.mark_sent(_cloid(2))
    with pytest.raises(UnknownIntentError):
        s1.record_ack(_cloid(2), status="error", error="x")
    with pytest.raises(UnknownIntentError):
        s1.abandon(_cloid(2))
    assert journal.accounts() == [SIM_1, SIM_2]


def test_funding_of_two_accounts_at_the_same_time_is_kept_twice(journal: Journal) -> None:
    pay = FundingPayment("hyperliquid", 1_769_918_400_000, "HYPE", 1.25, -10.0, 0.0001)
    a, b = journal.for_account(HL_A), journal.for_account(HL_B)
    assert a.record_funding(pay) and b.record_funding(pay)
    assert not a.record_funding(pay)  # idempotent per account
    assert len(journal.funding()) == 2 and a.funding() == [pay] == b.funding()
    # the ref overrides what the record says
    assert (
        a.record_funding(FundingPayment("binance", 1, "HYPE", 1.0, -10.0, 0.0))
        and a.funding()[0].venue == "hyperliquid"
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    orders=st.lists(st.integers(1, 6), min_size=1, max_size=6, unique=True),
    fills=st.lists(st.tuples(st.integers(1, 6), st.integers(1, 40), st.sampled_from([0.1, 0.2, 0.3])), max_size=20),
)
def test_fills_are_matched_only_within_their_account(orders: list[int], fills: list[tuple[int, int, float]]) -> None:
    """Two accounts with the same oids and the same trade ids: every intent's filled size is the
    sum of its own account's fills of its oid, never the other's."""
    with Journal(":memory:", clock=Tick()) as j:
        views = [j.for_account(HL_A), j.for_account(HL_B)]
        cloids: dict[tuple[int, int], str] = {}
        n = 0
        for k, v in enumerate(views):
            for oid in orders:
                n += 1
                cloids[(k, oid)] = _cloid(n)
                v.record_intent(cloid=_cloid(n), symbol="BTC", asset=0, side="B", size=100.0, price=1.0)
                v.record_ack(_cloid(n), status="resting", oid=oid)
        for k, v in enumerate(views):
            for oid, tid, sz in fills:
                v.record_fill(_fill("BTC", oid, tid, sz * (k + 1)))
        for k, v in enumerate(views):
            firsts: dict[int, tuple[int, float]] = {}
            for o, tid, sz in fills:  # a (tid, hash) repeated in one account is one fill: the first kept
                firsts.setdefault(tid, (o, sz * (k + 1)))
            for oid in orders:
                expected = sum(sz for o, sz in firsts.values() if o == oid)
                assert v.intent(cloids[(k, oid)]).filled_sz == pytest.approx(expected)


def test_scoped_reconcile_touches_only_its_account(journal: Journal) -> None:
    a, b = journal.for_account(HL_A), journal.for_account(HL_B)
    for v, c in ((a, _cloid(1)), (b, _cloid(2))):
        v.record_intent(cloid=c, symbol="BTC", asset=0, side="B", size=1.0, price=100.0)
        v.mark_sent(c)
    # account A's venue lists B's order (impossible on a real venue, but it must not leak)
    report = a.reconcile([{"coin": "BTC", "oid": 9, "cloid": _cloid(2)}], [_fill("BTC", 9, 1, 1.0)])
    assert {c.cloid: c.after for c in report.changes} == {_cloid(1): "unknown"}
    assert [o["cloid"] for o in report.untracked_orders] == [_cloid(2)]
    assert [f.tid for f in report.foreign_fills] == [1] and report.new_fills[0].venue == "hyperliquid"
    assert b.intent(_cloid(2)).state == "sent" and b.fills() == []
    assert [e.ref for e in a.events(kind="reconcile")] == [HL_A] and b.events() == []
    assert a.reconcile([], []).changes == []


def test_scoped_writes_reject_another_venue_and_batches_span_accounts(journal: Journal) -> None:
    a, bn = journal.for_account(HL_A), journal.for_account(BN)
    with pytest.raises(ValueError, match="venue"):
        a.record_intents(
            [{"cloid": _cloid(1), "symbol": "BTC", "asset": 0, "side": "B", "size": 1, "price": 1, "venue": "binance"}]
        )
    with pytest.raises(RuntimeError), journal.batch():
        a.record_intent(cloid=_cloid(2), symbol="ETH", asset=1, side="A", size=1.0, price=3000.0)
        bn.record_intent(cloid=_cloid(3), symbol="ETH", asset=0, side="B", size=1.0, price=3000.0)
        raise RuntimeError("the kill switch's round was refused")
    assert journal.intents() == []
    with a.batch():
        a.record_intent(cloid=_cloid(2), symbol="ETH", asset=1, side="A", size=1.0, price=3000.0)
        bn.record_intent(cloid=_cloid(3), symbol="ETH", asset=0, side="B", size=1.0, price=3000.0)
        a.mark_sent_many([_cloid(2)])
        bn.record_cancels([{"cloid": _cloid(3), "status": "requested"}])
    assert [i.venue for i in journal.intents()] == ["hyperliquid", "binance"]
    assert bn.intent(_cloid(3)).ref == BN and a.intent(_cloid(2)).ref == HL_A
    assert [c.account for c in bn.cancels()] == [BN.account] and a.cancels() == []
    with pytest.raises(JournalError, match="already"):
        bn.record_intent(cloid=_cloid(2), symbol="ETH", asset=0, side="B", size=1.0, price=1.0)  # cloids are global
    a.log_event("order", "sent", {"apiKey": "x"})
    journal.log_event("startup", "process-wide")
    assert [e.kind for e in a.events()] == ["order"] and a.events()[0].detail == {"apiKey": "[redacted]"}
    assert [e.kind for e in a.events(include_process_wide=True)] == ["startup", "order"]
    assert [e.kind for e in journal.events()] == ["startup", "order"]


# --------------------------------------------------------------------------- trading state


def test_trading_state_round_trip_versions_and_events(journal: Journal) -> None:
    a = journal.for_account(HL_A)
    assert a.trading_state() is None
    first = a.set_trading_state("halted", "kill switch\nfrom the console", "console pid 1234")
    assert (first.state, first.reason, first.origin, first.version) == (
        "halted",
        "kill switch from the console",
        "console pid 1234",
        1,
    )
    assert first.ref == HL_A and first.since_ms == first.updated_ms
    assert a.trading_state() == first
    again = a.set_trading_state("halted", "daily loss limit", "daily loss")
    assert again.version == 2 and again.since_ms == first.since_ms and again.updated_ms > first.updated_ms
    active = a.set_trading_state("active", "resumed", "console pid 1234", expected_version=2)
    assert active.version == 3 and active.since_ms > first.since_ms
    with pytest.raises(StaleTradingStateError) as stale:
        a.set_trading_state("reducing", "late", "harvester", expected_version=2)
    assert stale.value.current == active and a.trading_state() == active
    assert journal.for_account(HL_B).trading_state() is None  # per account
    events = a.events(kind="trading_state")
    assert [e.detail["version"] for e in events] == [3, 2, 1] and all(e.ref == HL_A for e in events)
    assert events[0].detail["previous"] == "halted"
    for bad in (("paused", "r", "o"), ("active", " ", "o"), ("active", "r", "")):
        with pytest.raises(ValueError):
            a.set_trading_state(*bad)  # type: ignore[arg-type]
    assert len(a.set_trading_state("reducing", "x" * 1000, "o").reason) == 300


def test_trading_state_read_is_one_primary_key_lookup(journal: Journal) -> None:
    """Polled every 0.5 s and before every order: one statement, a primary-key search."""
    a = journal.for_account(HL_A)
    a.set_trading_state("halted", "r", "o")
    conn = journal._conn  # noqa: SLF001 - watching the statements the read runs
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        assert a.trading_state().state == "halted"
    finally:
        conn.set_trace_callback(None)
    [sql] = statements
    plan = conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
    assert len(plan) == 1 and "USING PRIMARY KEY" in plan[0][-1], plan


def test_trading_state_written_by_one_connection_is_read_by_the_other(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    with Journal(path) as console, Journal(path) as daemon:
        c, d = console.for_account(HL_A), daemon.for_account(HL_A)
        assert d.trading_state() is None
        c.set_trading_state("halted", "kill", "pfterm kill")
        seen = d.trading_state()
        assert seen is not None and (seen.state, seen.version) == ("halted", 1)
        with console.batch():  # a write not yet committed is not seen
            c.set_trading_state("reducing", "limit", "console")
            assert d.trading_state().state == "halted"
        assert d.trading_state().state == "reducing"
        d.set_trading_state("active", "resumed", "harvester", expected_version=2)
        assert (c.trading_state().state, c.trading_state().version) == ("active", 3)


_WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from pfterm.core.trading.journal import AccountRef, Journal
    with Journal(sys.argv[2]) as j:
        a = j.for_account(AccountRef.hyperliquid("mainnet", "0x" + "a1" * 20))
        for n in range(int(sys.argv[3])):
            a.set_trading_state(("active", "reducing", "halted")[n % 3], f"step {n}", sys.argv[4])
    """
)


def test_trading_state_writes_of_two_processes_serialise(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    Journal(path).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(REPO), str(path), "15", f"proc {k}"], stderr=subprocess.PIPE
        )
        for k in range(2)
    ]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e.decode() for e in errs]
    with Journal(path) as j:
        a = j.for_account(HL_A)
        assert a.trading_state().version == 30
        versions = sorted(e.detail["version"] for e in a.events(100, kind="trading_state"))
        assert versions == list(range(1, 31))  # no version lost or written twice


# --------------------------------------------------------------------------- sync cursors and gaps


@given(st.lists(st.integers(0, 2**45), min_size=1, max_size=12))
def test_sync_cursor_never_moves_backwards(times: list[int]) -> None:
    with Journal(":memory:") as j:
        a = j.for_account(HL_A)
        assert a.sync_cursor("funding") is None
        for n, t in enumerate(times):
            assert a.set_sync_cursor("funding", t) == max(times[: n + 1])
        assert a.sync_cursor("funding") == max(times)
        assert a.sync_cursor("fills") is None and j.for_account(HL_B).sync_cursor("funding") is None


def test_sync_cursor_with_rows_in_one_batch_and_gaps(journal: Journal) -> None:
    a = journal.for_account(HL_A)
    pays = [FundingPayment("hyperliquid", t, "BTC", 1.0, -1.0, 0.0001) for t in (3_600_000, 7_200_000)]
    with a.batch():
        a.record_fundings(pays)
        a.set_sync_cursor("funding", max(p.time_ms for p in pays))
    assert a.sync_cursor("funding") == 7_200_000
    with pytest.raises(RuntimeError), a.batch():  # a crash before commit: rows and cursor both absent
        a.record_funding(FundingPayment("hyperliquid", 10_800_000, "BTC", 1.0, -1.0, 0.0001))
        a.set_sync_cursor("funding", 10_800_000)
        raise RuntimeError
    assert a.sync_cursor("funding") == 7_200_000 and len(a.funding()) == 2
    with pytest.raises(ValueError, match="stream"):
        a.sync_cursor("trades")
    with pytest.raises(ValueError, match="int"):
        a.set_sync_cursor("fills", 1.5)  # type: ignore[arg-type]
    gap = a.record_gap("funding", 7_200_000, 90_000_000, "venue returned an error\nafter retries")
    assert (gap.stream, gap.from_ms, gap.to_ms, gap.reason, gap.ref) == (
        "funding",
        7_200_000,
        90_000_000,
        "venue returned an error after retries",
        HL_A,
    )
    again = a.record_gap("funding", 7_200_000, 90_000_000, "still failing")
    assert again.id == gap.id and a.gaps() == [again] and again.reason == "still failing"
    a.record_gap("fills", 1, 2, "more fills than the venue returns at once")
    assert [g.stream for g in a.gaps()] == ["fills", "funding"] and [g.stream for g in a.gaps("fills")] == ["fills"]
    assert journal.for_account(HL_B).gaps() == []
    assert [e.detail["stream"] for e in a.events(kind="sync_gap")] == ["fills", "funding", "funding"]
    with pytest.raises(ValueError, match="before"):
        a.record_gap("funding", 5, 4, "x")


# --------------------------------------------------------------------------- books


def test_books_register_idempotent_move_and_defaults(journal: Journal) -> None:
    journal.for_account(HL_A).record_fill(_fill("ETH", None, 1, 1.0))
    journal.for_account(BN).record_fill(_fill("ETH", None, 1, 1.0))
    journal.for_account(HL_B).record_funding(FundingPayment("hyperliquid", 1, "ETH", 1.0, 1.0, 0.0))
    assert [b.members for b in journal.books()] == [(BN,), (HL_A,), (HL_B,)]  # unregistered: one each
    book = journal.register_book(HL_A, [BN])
    assert (book.primary, book.members, book.registered) == (HL_A, (HL_A, BN), True)
    assert journal.register_book(HL_A, [HL_A, BN]) == book
    assert len(journal.events(kind="book")) == 1  # registering again wrote nothing
    assert journal.register_book(HL_A, [HL_A]) == book  # additive: BN stays
    assert journal.books() == [book, journal.book_of(HL_B)] and journal.book_of(BN) == book
    assert book.label == f"{HL_A.label} + {BN.label}"
    moved = journal.register_book(HL_B, [BN])  # the Binance key now hedges another wallet
    assert moved.members == (HL_B, BN) and journal.book_of(HL_A).members == (HL_A,)
    assert "moved" in journal.events(kind="book")[0].message
    with pytest.raises(ValueError, match="one account per venue"):
        journal.register_book(HL_A, [HL_B])
    with pytest.raises(TypeError):
        journal.register_book(HL_A, ["binance"])  # type: ignore[list-item]
    assert journal.accounts() == [BN, HL_A, HL_B]


def test_accounts_include_every_table(journal: Journal) -> None:
    journal.for_account(HL_A).set_trading_state("halted", "r", "o")
    journal.for_account(HL_B).set_sync_cursor("fills", 5)
    journal.for_account(SIM_1).record_gap("funding", 1, 2, "r")
    journal.for_account(BN).log_event("x", "y")
    journal.log_event("process", "wide")
    assert journal.accounts() == [BN, HL_A, HL_B, SIM_1]


def test_events_and_intents_carry_their_account(journal: Journal) -> None:
    a = journal.for_account(SIM_1)
    a.record_intent(cloid=_cloid(1), symbol="BTC", asset=0, side="B", size=1.0, price=1.0)
    [legacy] = journal.intents()
    assert (legacy.venue, legacy.network, legacy.account) == ("sim", "sim:s1", ADDR_A)  # old label, full ref
    assert legacy.ref == SIM_1 == a.intent(_cloid(1)).ref


# ------------------------------------------------------------------ the order path's hot forms


def _row(n: int, symbol: str = "BTC") -> dict:
    return {
        "cloid": _cloid(n),
        "symbol": symbol,
        "asset": 0,
        "side": "B",
        "size": 0.1,
        "price": 90_000.0,
        "tif": "Ioc",
        "reduce_only": True,
        "purpose": "kill",
    }


def test_record_sending_journals_intents_as_sent_all_or_none(journal: Journal) -> None:
    a = journal.for_account(HL_A)
    a.record_sending([_row(1), _row(2, "ETH")])
    sent = [a.intent(_cloid(n)) for n in (1, 2)]
    assert all(i is not None and i.state == "sent" and i.sent_ms is not None and i.reduce_only for i in sent)
    with pytest.raises(JournalError):
        a.record_sending([_row(3), _row(1)])  # 1 is journalled already: nothing of the batch is
    assert a.intent(_cloid(3)) is None
    assert journal.for_account(HL_B).intent(_cloid(1)) is None  # another account sees none of it
    with pytest.raises(ValueError):
        a.record_sending([{**_row(4), "size": -1}])


def test_request_cancels_links_the_accounts_own_orders_only(journal: Journal) -> None:
    a, b = journal.for_account(HL_A), journal.for_account(HL_B)
    a.record_sending([_row(1)])
    b.record_sending([_row(2)])
    a.request_cancels([(_cloid(1), 11), (_cloid(2), 22), (None, 33)])
    rows = {c.oid: c for c in a.cancels()}
    assert set(rows) == {11, 22, 33} and all(c.status == "requested" for c in rows.values())
    assert rows[11].cloid == _cloid(1)
    assert rows[22].cloid is None  # the other account's cloid: kept by its oid only
    assert b.cancels() == []
    with pytest.raises(ValueError):
        a.request_cancels([(None, None)])
