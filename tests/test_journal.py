"""Trading journal: schema, intent lifecycle, idempotent fills/funding, redaction and
crash-and-restart reconciliation against venue-shaped open orders and fills."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pfterm.core.trading.journal import (
    REDACTED,
    SCHEMA_VERSION,
    Journal,
    JournalError,
    UnknownIntentError,
    redact,
)
from pfterm.core.venues.records import Fill, FundingPayment
from tests.fixture_files import FIXTURES

REPO = Path(__file__).resolve().parents[1]
HL = FIXTURES / "hyperliquid"

C1 = "0x" + "11" * 16
C2 = "0x" + "22" * 16
C3 = "0x" + "33" * 16


class Tick:
    """Deterministic ms clock advancing 1 ms per read."""

    def __init__(self, start: int = 1_769_916_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1
        return self.now


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "deep" / "dir" / "journal.db", clock=Tick())
    yield j
    j.close()


def _intent(j: Journal, cloid: str, **kw: Any):
    args: dict[str, Any] = dict(cloid=cloid, symbol="BTC", asset=0, side="B", size=0.1, price=95000.0)
    args.update(kw)
    return j.record_intent(**args)


def _hl_fill(cloid: str | None, oid: int, tid: int, sz: str, px: str = "95000.0", **kw: Any) -> dict[str, Any]:
    """A ``userFills`` item shaped like the venue's (decimal strings, hash, tid, feeToken)."""
    item = {
        "coin": "BTC",
        "px": px,
        "sz": sz,
        "side": "B",
        "time": 1_769_916_001_000 + tid,
        "startPosition": "0.0",
        "dir": "Open Long",
        "closedPnl": "0.0",
        "hash": "0x" + f"{tid:064x}",
        "oid": oid,
        "crossed": True,
        "fee": "0.95",
        "tid": tid,
        "feeToken": "USDC",
        "twapId": None,
    }
    if cloid is not None:
        item["cloid"] = cloid
    item.update(kw)
    return item


def _hl_open(cloid: str | None, oid: int) -> dict[str, Any]:
    """A ``frontendOpenOrders`` item."""
    item = {
        "coin": "BTC",
        "isPositionTpsl": False,
        "isTrigger": False,
        "limitPx": "95000.0",
        "oid": oid,
        "orderType": "Limit",
        "origSz": "0.1",
        "reduceOnly": False,
        "side": "B",
        "sz": "0.1",
        "timestamp": 1_769_916_000_500,
        "triggerCondition": "N/A",
        "triggerPx": "0.0",
        "tif": "Gtc",
    }
    if cloid is not None:
        item["cloid"] = cloid
    return item


def _snapshot(path: Path) -> list[tuple]:
    """Every row of the order tables, for before/after comparisons."""
    conn = sqlite3.connect(path)
    try:
        return [
            *conn.execute("SELECT cloid, state, oid, filled_sz, avg_px, error FROM intents ORDER BY cloid"),
            *conn.execute("SELECT venue, tid, hash, cloid, sz FROM fills ORDER BY tid"),
        ]
    finally:
        conn.close()


# --------------------------------------------------------------------------- schema


def test_schema_created_wal_and_versioned_then_reopened(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "j.db"
    with Journal(path) as j:
        assert j.journal_mode == "wal"
        assert j.schema_version == SCHEMA_VERSION >= 1
        _intent(j, C1)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"intents", "fills", "cancels", "funding", "events"} <= tables
    conn.close()
    with Journal(path) as j:
        assert j.schema_version == SCHEMA_VERSION
        assert j.intent(C1).state == "pending"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(JournalError, match="newer"):
        Journal(path)


# --------------------------------------------------------------------------- intents


def test_intent_lifecycle_resting_then_filled_by_fills(journal: Journal) -> None:
    i = _intent(journal, C1.upper().replace("0X", "0x"), side="buy", tif="Alo", purpose="hedge")
    assert (i.cloid, i.state, i.side, i.sent_ms, i.oid) == (C1, "pending", "B", None, None)
    assert [x.cloid for x in journal.open_intents()] == [C1]
    assert journal.mark_sent(C1).state == "sent"
    assert journal.mark_sent(C1).state == "sent"  # repeated: no-op
    acked = journal.record_ack(C1, status="resting", oid=777)
    assert (acked.state, acked.oid) == ("acked", 777)
    with pytest.raises(JournalError, match="refusing"):
        journal.mark_sent(C1)
    # Partial fill reported without a cloid: linked through the oid.
    assert journal.record_fill(Fill.from_hyperliquid(_hl_fill(None, 777, 1, "0.04", px="94000")))
    part = journal.intent(C1)
    assert (part.state, part.filled_sz) == ("acked", pytest.approx(0.04))
    assert journal.record_fill(Fill.from_hyperliquid(_hl_fill(C1, 777, 2, "0.06", px="96000")))
    done = journal.intent(C1)
    assert done.state == "filled"
    assert done.filled_sz == pytest.approx(0.1)
    assert done.avg_px == pytest.approx((0.04 * 94000 + 0.06 * 96000) / 0.1)
    assert journal.open_intents() == []
    # A late resting ack never moves a filled intent backwards; neither does an error.
    assert journal.record_ack(C1, status="resting", oid=777).state == "filled"
    assert journal.record_ack(C1, status="error", error="late").state == "filled"
    assert [f.cloid for f in journal.fills()] == [C1, C1]


def test_ack_filled_and_error_and_cancel(journal: Journal) -> None:
    _intent(journal, C1, tif="Ioc", purpose="kill")
    journal.mark_sent(C1)
    f = journal.record_ack(C1, status="filled", oid=5, filled_sz="0.1", avg_px="95010.5")
    assert (f.state, f.oid, f.filled_sz, f.avg_px) == ("filled", 5, 0.1, 95010.5)

    _intent(journal, C2)
    journal.mark_sent(C2)
    r = journal.record_ack(C2, status="error", error="Order must have minimum value of $10.")
    assert (r.state, r.error) == ("rejected", "Order must have minimum value of $10.")

    _intent(journal, C3)
    journal.mark_sent(C3)
    journal.record_ack(C3, status="resting", oid=9)
    journal.record_cancel(C3, status="requested")
    c = journal.record_cancel(oid=9, status="cancelled")
    assert c.cloid == C3
    assert journal.intent(C3).state == "cancelled"
    assert [x.status for x in journal.cancels(C3)] == ["requested", "cancelled"]


def test_intent_validation_and_errors(journal: Journal) -> None:
    _intent(journal, C1)
    with pytest.raises(JournalError, match="already"):
        _intent(journal, C1)
    with pytest.raises(ValueError, match="cloid"):
        _intent(journal, "0x1234")
    with pytest.raises(ValueError, match="size"):
        _intent(journal, C2, size=0)
    with pytest.raises(ValueError, match="tif"):
        _intent(journal, C2, tif="Fok")
    with pytest.raises(ValueError, match="side"):
        _intent(journal, C2, side="long")
    with pytest.raises(UnknownIntentError):
        journal.mark_sent(C3)
    with pytest.raises(ValueError, match="oid"):
        journal.record_ack(C1, status="resting")
    with pytest.raises(ValueError, match="positive"):
        journal.fills(limit=0)
    assert journal.intent(C2) is None


# --------------------------------------------------------------------------- idempotence


def test_fills_and_funding_are_idempotent(journal: Journal) -> None:
    fill = Fill.from_hyperliquid(_hl_fill(None, 1, 42, "0.5"))
    assert journal.record_fill(fill) is True
    assert journal.record_fill(fill) is False
    # Same all-zero hash, different tid: a distinct fill.
    z = "0x" + "0" * 64
    assert journal.record_fill(Fill.from_hyperliquid(_hl_fill(None, 1, 43, "0.1", hash=z)))
    assert journal.record_fill(Fill.from_hyperliquid(_hl_fill(None, 1, 44, "0.1", hash=z)))
    assert len(journal.fills()) == 3
    assert len(journal.fills(since_ms=1_769_916_001_043)) == 2
    assert len(journal.fills(limit=1)) == 1

    item = {
        "delta": {"coin": "BTC", "fundingRate": "0.0001", "szi": "-0.5", "type": "funding", "usdc": "4.75"},
        "hash": "0x" + "ab" * 32,
        "time": 1_769_918_400_000,
    }
    pay = FundingPayment.from_hyperliquid(item)
    assert (pay.usdc, pay.size, pay.rate) == (4.75, -0.5, 0.0001)
    assert journal.record_funding(pay) is True
    assert journal.record_funding(pay) is False
    assert journal.funding() == [pay]
    assert journal.funding(since_ms=pay.time_ms + 1) == []


# --------------------------------------------------------------------------- redaction


def test_redaction_at_any_depth(journal: Journal) -> None:
    detail = {
        "symbol": "BTC",
        "PrivateKey": "0xdead",
        "api_secret": "s",
        "nested": {"signature": {"r": "0x1", "s": "0x2"}, "ok": 1, "list": [{"Mnemonic": "a b c"}, {"apiKey": "k"}]},
        "tuple": ({"seed_SECRET": 1},),
    }
    journal.log_event("order", "sent BTC buy", detail)
    (event,) = journal.events(10)
    d = event.detail
    assert d["symbol"] == "BTC"
    assert d["PrivateKey"] == d["api_secret"] == REDACTED
    assert d["nested"]["signature"] == REDACTED and d["nested"]["ok"] == 1
    assert d["nested"]["list"] == [{"Mnemonic": REDACTED}, {"apiKey": REDACTED}]
    assert d["tuple"] == [{"seed_SECRET": REDACTED}]
    raw = journal.path.read_bytes() + Path(str(journal.path) + "-wal").read_bytes()
    assert b"0xdead" not in raw and b"a b c" not in raw
    assert redact([{"key": 1}]) == [{"key": REDACTED}]


def test_events_newest_first_and_bounded(journal: Journal) -> None:
    for n in range(5):
        journal.log_event("harvest" if n % 2 else "order", f"m{n}", {"n": n})
    assert [e.message for e in journal.events(3)] == ["m4", "m3", "m2"]
    assert [e.detail["n"] for e in journal.events(10, kind="harvest")] == [3, 1]


# --------------------------------------------------------------------------- crash and restart


_CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, sys.argv[1])
    from pfterm.core.trading.journal import Journal
    j = Journal(sys.argv[2])
    j.record_intent(cloid=sys.argv[3], symbol="BTC", asset=0, side="B", size=0.1, price=95000.0,
                    purpose="hedge")
    if sys.argv[4] == "sent":
        j.mark_sent(sys.argv[3])
    os._exit(1)  # dies between the journal write and the venue's ack
    """
)


def _crash_after_intent(path: Path, cloid: str, stage: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH_SCRIPT, str(REPO), str(path), cloid, stage],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr.decode()


def test_crash_between_intent_and_ack_then_reconcile(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    _crash_after_intent(path, C1, "pending")  # crashed before the network call
    _crash_after_intent(path, C2, "sent")  # sent; the venue has it resting
    _crash_after_intent(path, C3, "sent")  # sent; the venue filled it
    c4 = "0x" + "44" * 16
    _crash_after_intent(path, c4, "sent")  # sent; the venue knows nothing (rejected?)

    with Journal(path) as j:
        assert {i.cloid: i.state for i in j.open_intents()} == {
            C1: "pending",
            C2: "sent",
            C3: "sent",
            c4: "sent",
        }
        open_orders = [_hl_open(C2, 1002), _hl_open("0x" + "ee" * 16, 1999), _hl_open(None, 1998)]
        fills = [
            _hl_fill(C3, 1003, 1, "0.06"),
            _hl_fill(C3, 1003, 2, "0.04"),
            _hl_fill(None, 1500, 3, "1.0"),  # placed elsewhere
        ]
        report = j.reconcile(open_orders, fills)
        changes = {c.cloid: (c.before, c.after) for c in report.changes}
        assert changes == {
            C1: ("pending", "unknown"),
            C2: ("sent", "acked"),
            C3: ("sent", "filled"),
            c4: ("sent", "unknown"),
        }
        assert [i.cloid for i in report.never_sent] == [C1]
        assert "never reached the venue" in report.never_sent[0].error
        assert report.resting == [C2]
        assert len(report.new_fills) == 3
        assert [f.tid for f in report.foreign_fills] == [3]
        assert sorted(o["oid"] for o in report.untracked_orders) == [1998, 1999]
        assert j.intent(C2).oid == 1002
        assert j.intent(C3).filled_sz == pytest.approx(0.1)
        assert j.intent(c4).sent_ms is not None and "no fills" in j.intent(c4).error
        assert j.events(5, kind="reconcile")
    before = _snapshot(path)

    # Restart again, same venue state: nothing changes, no duplicate fill.
    with Journal(path) as j:
        again = j.reconcile(open_orders, fills)
        assert again.changes == [] and again.new_fills == [] and not again.changed
        assert [i.cloid for i in again.never_sent] == [C1]
        assert len(j.fills()) == 3
    assert _snapshot(path) == before

    # The caller resends the never-sent intent with the SAME cloid.
    with Journal(path) as j:
        assert j.mark_sent(C1).state == "sent"
        assert j.record_ack(C1, status="resting", oid=1001).state == "acked"
        assert j.never_sent() == []


def test_reconcile_resting_order_disappears_and_partial_fill(journal: Journal) -> None:
    _intent(journal, C1)
    journal.mark_sent(C1)
    journal.record_ack(C1, status="resting", oid=11)
    _intent(journal, C2, size=1.0)
    journal.mark_sent(C2)
    journal.record_ack(C2, status="resting", oid=12)
    report = journal.reconcile([], [_hl_fill(C2, 12, 7, "0.25")])
    changes = {c.cloid: (c.before, c.after) for c in report.changes}
    assert changes == {C1: ("acked", "unknown"), C2: ("acked", "cancelled")}
    assert journal.intent(C2).filled_sz == pytest.approx(0.25)
    assert report.never_sent == []
    # The order reappears (e.g. a stale open-orders answer earlier): unknown → acked.
    later = journal.reconcile([_hl_open(C1, 11)], [])
    assert [(c.cloid, c.after) for c in later.changes] == [(C1, "acked")]
    assert journal.reconcile([_hl_open(C1, 11)], []).changes == []


def test_abandon_never_sent(journal: Journal) -> None:
    _intent(journal, C1)
    journal.reconcile([], [])
    assert journal.abandon(C1, "dropped after restart").state == "cancelled"
    assert journal.never_sent() == []
    with pytest.raises(JournalError):
        journal.mark_sent(C1)


# --------------------------------------------------------------------------- real shapes


def test_real_venue_shapes_parse_and_reconcile(journal: Journal) -> None:
    fills = json.loads((HL / "http_user_fills_with_cloid.json").read_text())
    opens = json.loads((HL / "sdk_cassettes" / "frontendOpenOrders.json").read_text())
    opens2 = json.loads((HL / "http_frontend_open_orders.json").read_text())
    funding = json.loads((HL / "sdk_cassettes" / "userFunding_with_end_time.json").read_text())
    cloid = fills[0]["cloid"]
    total = sum(float(f["sz"]) for f in fills if f.get("cloid") == cloid)
    _intent(journal, cloid, size=total, price=78751.0)
    journal.mark_sent(cloid)
    report = journal.reconcile(opens + opens2, fills)
    assert len(report.new_fills) == len(fills)
    assert journal.intent(cloid).state == "filled"
    assert journal.reconcile(opens + opens2, fills).new_fills == []
    assert len(report.untracked_orders) == len(opens) + len(opens2)
    payments = [FundingPayment.from_hyperliquid(x) for x in funding]
    assert sum(journal.record_funding(p) for p in payments) == len({(p.time_ms, p.symbol) for p in payments})
    assert sum(journal.record_funding(p) for p in payments) == 0


# --------------------------------------------------------------------------- batches


def _batch_intent(i: int, **over):
    base = dict(
        cloid=f"0x{i:032x}",
        symbol="BTC",
        asset=0,
        side="B",
        size=0.01,
        price=60000.0,
        tif="Ioc",
        reduce_only=True,
        purpose="kill",
    )
    base.update(over)
    return base


def test_batch_intents_are_all_or_none(tmp_path):
    with Journal(tmp_path / "j.sqlite") as j:
        j.record_intent(**_batch_intent(2))
        with pytest.raises(JournalError):
            j.record_intents([_batch_intent(1), _batch_intent(2), _batch_intent(3)])
        assert j.intent(f"0x{1:032x}") is None and j.intent(f"0x{3:032x}") is None
        with pytest.raises(ValueError):
            j.record_intents([_batch_intent(4), _batch_intent(5, size=-1)])
        assert j.intent(f"0x{4:032x}") is None


def test_batch_sent_acks_and_cancels(tmp_path):
    with Journal(tmp_path / "j.sqlite") as j:
        made = j.record_intents([_batch_intent(i) for i in range(1, 4)])
        assert [m.state for m in made] == ["pending"] * 3
        sent = j.mark_sent_many([m.cloid for m in made])
        assert all(s.state == "sent" and s.sent_ms is not None for s in sent)
        acks = j.record_acks(
            [
                {"cloid": made[0].cloid, "status": "filled", "oid": 11, "filled_sz": 0.01, "avg_px": 60010.0},
                {"cloid": made[1].cloid, "status": "resting", "oid": 12},
                {"cloid": made[2].cloid, "status": "error", "error": "Reduce only order would increase position."},
            ]
        )
        assert [a.state for a in acks] == ["filled", "acked", "rejected"]
        assert acks[2].error.startswith("Reduce only")
        with pytest.raises(JournalError):
            j.mark_sent_many([made[1].cloid])
        cancels = j.record_cancels([{"oid": 12, "status": "cancelled"}, {"oid": 999, "status": "error", "error": "x"}])
        assert cancels[0].cloid == made[1].cloid and j.intent(made[1].cloid).state == "cancelled"
        assert cancels[1].cloid is None and cancels[1].status == "error"
