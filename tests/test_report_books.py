"""P&L report per account book (``pfterm.core.harvest.report.build_report(book=...)``, ``pfterm report``): two
accounts in one journal are never merged, a perp-against-perp book pairs its two accounts,
open legs are marked apart from the realised figures (or said unpriced), partly open
positions are flagged, sync gaps are reported. docs/domain.md §7 numbers computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pfterm.tui.cli
from pfterm.core.harvest.report import books_matching, build_report, report_json, report_text
from pfterm.core.trading.journal import AccountRef, Journal
from pfterm.core.venues.records import Fill, FundingPayment
from pfterm.tui.cli import main

H = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
SPOT = {"@142": "BTC", "@107": "HYPE"}
HL_A = AccountRef.hyperliquid("mainnet", "0x" + "aa" * 20)
HL_B = AccountRef.hyperliquid("mainnet", "0x" + "bb" * 20)
SIM = AccountRef.hyperliquid("sim:4f2a", "0x" + "cc" * 20)
BN = AccountRef.binance("mainnet", "binance-api-key")


def _fill(
    symbol: str,
    side: str,
    px: float,
    sz: float,
    t: int,
    tid: int,
    fee: float = 0.0,
    token: str = "USDC",
    closed: float = 0.0,
    venue: str = "hyperliquid",
) -> Fill:
    return Fill(venue, tid, f"0x{tid:064x}", symbol, side, px, sz, fee, token, t, oid=tid, closed_pnl=closed)  # type: ignore[arg-type]


def _fund(symbol: str, t: int, usdc: float, size: float) -> FundingPayment:
    return FundingPayment("hyperliquid", t, symbol, usdc, size, 0.0001)


@pytest.fixture
def journal(tmp_path: Path):
    j = Journal(tmp_path / "journal.sqlite", clock=lambda: T0 - 5_000)
    yield j
    j.close()


def _two_hype_accounts(j: Journal) -> None:
    """A: short 10 HYPE @30 (fee 0.135), bought back @28 (fee 0.126): perp +20, funding +0.5.
    B: short 10 HYPE @31 with the same trade ids, still open, funding +0.6 at the same time."""
    a, b = j.for_account(HL_A), j.for_account(HL_B)
    a.record_fill(_fill("HYPE", "A", 30.0, 10.0, T0, 1, fee=0.135))
    a.record_fill(_fill("HYPE", "B", 28.0, 10.0, T0 + 2 * H, 2, fee=0.126, closed=20.0))
    b.record_fill(_fill("HYPE", "A", 31.0, 10.0, T0, 1, fee=0.1395))
    a.record_funding(_fund("HYPE", T0 + H, 0.5, -10.0))
    b.record_funding(_fund("HYPE", T0 + H, 0.6, -10.0))


def test_two_accounts_are_reported_per_book_never_merged(journal: Journal) -> None:
    _two_hype_accounts(journal)
    assert len(journal.funding()) == 2  # funding of both accounts at the same time kept
    book_a, book_b = journal.books()
    assert (book_a.members, book_b.members) == ((HL_A,), (HL_B,))
    ra = build_report(journal, spot_map=SPOT, book=book_a, now_ms=T0 + 3 * H)
    [pa] = ra.positions
    assert (pa.status, pa.side, pa.closed_ms) == ("closed", "short_perp", T0 + 2 * H)
    assert pa.perp_pnl == pytest.approx(20.0) and pa.funding_pnl == pytest.approx(0.5)
    assert pa.net == pytest.approx(20.0 + 0.5 - 0.261) and pa.open_legs == []
    rb = build_report(journal, spot_map=SPOT, book=book_b, now_ms=T0 + 3 * H)
    [pb] = rb.positions
    assert (pb.status, pb.perp_size, pb.perp_pnl, pb.unrealised) == ("open", -10.0, 0.0, None)
    assert pb.funding_pnl == pytest.approx(0.6) and pb.unpriced and pb.net_with_unrealised is None
    # the process-wide form replays both accounts as one (what the old report did): both
    # shorts net into one position and A's buy-back is no longer a close
    merged = build_report(journal, spot_map=SPOT, now_ms=T0 + 3 * H)
    assert len(merged.positions) == 1 and merged.positions[0].perp_size == pytest.approx(-10.0)
    assert merged.positions[0].fills == 3 and merged.total.funding_pnl == pytest.approx(1.1)
    assert report_json(ra)["accounts"] == [HL_A.label] and report_json(ra)["book"] == HL_A.label
    assert "book" not in report_json(merged)


def _perp_perp(j: Journal) -> None:
    """Short 2 ETH on Hyperliquid @3010 (fee 0.903), long 2 ETH on Binance @3000 (fee 3.0);
    funding +4.0 (Hyperliquid) and -1.5 (Binance); both closed @3100 (fees 0.93, 3.1)."""
    hl, bn = j.for_account(HL_A), j.for_account(BN)
    hl.record_fill(_fill("ETH", "A", 3_010, 2.0, T0, 11, fee=0.903))
    bn.record_fill(_fill("ETH", "B", 3_000, 2.0, T0 + 500, 11, fee=3.0, token="USDT", venue="binance"))
    hl.record_funding(_fund("ETH", T0 + H, 4.0, -2.0))
    bn.record_funding(FundingPayment("binance", T0 + 8 * H, "ETH", -1.5, 2.0, 0.0001))
    hl.record_fill(_fill("ETH", "B", 3_100, 2.0, T0 + 9 * H, 12, fee=0.93, closed=-180.0))
    bn.record_fill(
        _fill("ETH", "A", 3_100, 2.0, T0 + 9 * H + 500, 12, fee=3.1, token="USDT", closed=200.0, venue="binance")
    )


def test_perp_against_perp_book_pairs_two_accounts(journal: Journal) -> None:
    _perp_perp(journal)
    # not registered: each account is its own book; the Binance one is its own perp position
    alone = {b.primary: build_report(journal, book=b) for b in journal.books()}
    [bn_only] = alone[BN].positions
    assert (bn_only.side, bn_only.hedge_venue) == ("long_perp", None)
    assert bn_only.perp_pnl == pytest.approx(200.0) and bn_only.funding_pnl == pytest.approx(-1.5)
    book = journal.register_book(HL_A, [BN])
    assert journal.books() == [book]
    r = build_report(journal, book=book)
    [p] = r.positions
    assert (p.side, p.hedge_venue, p.closed_ms, p.status) == ("short_perp", "binance", T0 + 9 * H + 500, "closed")
    assert p.perp_pnl == pytest.approx(20.0) == p.venue_closed_pnl
    assert p.funding_pnl == pytest.approx(2.5) and p.fees == pytest.approx(7.933)
    assert p.net == pytest.approx(14.567)
    assert report_json(r)["accounts"] == [HL_A.label, BN.label]
    assert "book: " + book.label in report_text(r)


def _carry(j: Journal, ref: AccountRef = HL_A, *, close_perp: bool) -> None:
    """Buy 1 UBTC @100,000 (fee 0.0007 UBTC), short 1 BTC @100,100 (fee 45.045), funding +100;
    with ``close_perp`` the perp is bought back @101,000 (fee 45.45, closed −900)."""
    v = j.for_account(ref)
    v.record_fill(_fill("@142", "B", 100_000, 1.0, T0, 21, fee=0.0007, token="UBTC"))
    v.record_fill(_fill("BTC", "A", 100_100, 1.0, T0 + 1_000, 22, fee=45.045))
    v.record_funding(_fund("BTC", T0 + H, 100.0, -1.0))
    if close_perp:
        v.record_fill(_fill("BTC", "B", 101_000, 1.0, T0 + 4 * H, 23, fee=45.45, closed=-900.0))


def test_partly_open_carry_unpriced_then_marked(journal: Journal) -> None:
    _carry(journal, close_perp=True)
    [book] = journal.books()
    r = build_report(journal, spot_map=SPOT, book=book, now_ms=T0 + 5 * H)
    [p] = r.positions
    assert (p.status, p.is_open, p.partly_open, p.unpriced) == ("partly open", True, True, True)
    assert [(leg.leg, leg.size, leg.avg_px, leg.mark, leg.unrealised_pnl) for leg in p.open_legs] == [
        ("spot", pytest.approx(0.9993), 100_000.0, None, None)
    ]
    fees = 0.0007 * 100_000 + 45.045 + 45.45
    assert p.net == p.realised_net == pytest.approx(-900 + 100 - fees) and p.net_with_unrealised is None
    assert any("partly open: perp leg closed" in n for n in p.notes)
    assert any("unpriced" in n and "unrealised legs excluded" in n for n in p.notes)
    assert any("partly open" in n for n in r.notes) and any("unpriced" in n for n in r.notes)
    text = report_text(r)
    assert "partly open, unpriced (no mark)" in text and "spot hyperliquid +0.9993 @ 100,000, no mark" in text
    assert "net with unrealised unknown" in text and max(len(line) for line in text.splitlines()) <= 100

    marked = build_report(journal, spot_map=SPOT, book=book, now_ms=T0 + 5 * H, marks={"BTC": 102_000.0})
    [m] = marked.positions
    assert m.status == "partly open" and not m.unpriced
    [leg] = m.open_legs
    assert leg.mark == 102_000.0 and leg.unrealised_pnl == pytest.approx(0.9993 * 2_000)
    assert m.unrealised == pytest.approx(1_998.6) and m.unrealised_spot == pytest.approx(1_998.6)
    assert m.realised_net == pytest.approx(p.realised_net) and m.realised_spot_pnl == pytest.approx(0.0)
    # with the open leg at the mark, net is the change of equity: USDC out and in, plus the
    # UBTC still held at the mark
    usdc = -100_000 - 900 - 45.045 - 45.45 + 100
    assert m.net_with_unrealised == pytest.approx(usdc + 0.9993 * 102_000)
    out = report_json(marked)
    pos = out["positions"][0]
    assert pos["status"] == "partly open" and pos["open_legs"][0]["unrealised_pnl"] == pytest.approx(1_998.6)
    assert pos["realised_net"] == pytest.approx(-900 + 100 - fees, abs=0.006)
    assert out["total"]["unrealised_pnl"] == pytest.approx(1_998.6) and out["total"]["partly_open"] == 1
    assert out["total"]["net_with_unrealised"] == pytest.approx(usdc + 0.9993 * 102_000, abs=0.006)
    text = report_text(marked)
    assert "net with unrealised +1,038.11" in text and "mark 102,000: +1,998.60" in text


def test_open_carry_both_legs_marked_is_not_partly_open(journal: Journal) -> None:
    _carry(journal, close_perp=False)
    r = build_report(journal, spot_map=SPOT, book=journal.books()[0], marks={"BTC": 99_000.0}, now_ms=T0 + 2 * H)
    [p] = r.positions
    assert p.status == "open" and not p.partly_open
    legs = {leg.leg: leg.unrealised_pnl for leg in p.open_legs}
    assert legs == {"perp": pytest.approx(-1 * (99_000 - 100_100)), "spot": pytest.approx(0.9993 * (99_000 - 100_000))}
    assert p.unrealised == pytest.approx(1_100 - 999.3)
    assert p.perp_pnl == pytest.approx(1_100) and p.realised_perp_pnl == pytest.approx(0.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(1, 50), st.integers(90, 110), st.integers(0, 30)),
        min_size=1,
        max_size=12,
    ),
    st.integers(80, 120),
)
def test_marked_net_is_the_change_of_equity(trades: list[tuple[bool, int, int, int]], mark: int) -> None:
    """Perp fills of any sizes, flips included: the sum of the positions' net at the mark is the
    cash result (−Σ signed size × price − fees) plus what is held at the mark (§7 at the mark)."""
    with Journal(":memory:") as j:
        v = j.for_account(HL_A)
        q = cash = 0.0
        for n, (buy, sz10, px, fee100) in enumerate(trades):
            sz, fee = sz10 / 10, fee100 / 100
            v.record_fill(_fill("SOL", "B" if buy else "A", float(px), sz, T0 + n * 1_000, n + 1, fee=fee))
            d = sz if buy else -sz
            q += d
            cash += -d * px - fee
        r = build_report(j, book=j.books()[0], marks={"SOL": float(mark)}, now_ms=T0 + H)
        assert r.total.net_with_unrealised == pytest.approx(cash + q * mark, abs=1e-6)
        assert r.total.realised_net == pytest.approx(r.total.net - r.total.unrealised)
        unpriced = build_report(j, book=j.books()[0], now_ms=T0 + H)
        assert unpriced.total.unrealised == 0.0
        assert unpriced.total.net == pytest.approx(r.total.realised_net, abs=1e-6)
        assert (unpriced.total.net_with_unrealised is None) == (abs(q) > 1e-9)


def test_sync_gaps_are_reported(journal: Journal) -> None:
    _carry(journal, close_perp=True)
    journal.for_account(HL_A).record_gap("funding", T0 + 2 * H, T0 + 3 * H, "venue unreachable")
    journal.for_account(HL_B).record_gap("funding", T0, T0 + H, "another account's gap")
    r = build_report(journal, spot_map=SPOT, book=journal.book_of(HL_A), now_ms=T0 + 5 * H)
    [gap] = r.gaps
    assert gap.reason == "venue unreachable"
    assert any("funding of hyperliquid mainnet 0xaaaa…aaaa not synced" in n and "missing" in n for n in r.notes)
    assert report_json(r)["sync_gaps"] == [
        {
            "account": HL_A.label,
            "stream": "funding",
            "from_ms": T0 + 2 * H,
            "to_ms": T0 + 3 * H,
            "reason": "venue unreachable",
        }
    ]
    assert build_report(journal, spot_map=SPOT, book=journal.book_of(HL_A), since_ms=T0 + 4 * H).gaps == []


def test_books_matching() -> None:
    from pfterm.core.trading.journal import Book

    books = [Book(HL_A, (HL_A, BN)), Book(HL_B, (HL_B,)), Book(SIM, (SIM,))]
    assert books_matching(books, HL_A.account.upper()) == [books[0]]
    assert books_matching(books, BN.account) == [books[0]]
    assert books_matching(books, "0xBBBBbb") == [books[1]]
    assert books_matching(books, HL_B.label) == [books[1]]
    assert books_matching(books, f"hyperliquid sim:4f2a {SIM.account}") == [books[2]]
    assert books_matching(books, "0xbb") == [] and books_matching(books, "nobody") == []


# --------------------------------------------------------------------------- pfterm report


def _cli_journal(path: Path) -> None:
    with Journal(path, clock=lambda: T0 - 5_000) as j:
        _two_hype_accounts(j)  # A closed, B open (mainnet)
        _carry(j, SIM, close_perp=True)  # an ended simulator session, spot still held


def test_cli_report_per_book_marks_and_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "journal.sqlite"
    _cli_journal(path)
    reads: list[str] = []

    def mids(url: str, timeout_s: float = 5.0) -> dict[str, float]:
        reads.append(url)
        return {"HYPE": 29.0, "BTC": 102_000.0, "@107": 29.1}

    monkeypatch.setattr(pfterm.tui.cli, "_read_mids", mids)
    assert main(["report", "--journal", str(path), "--json"]) == 0
    books = json.loads(capsys.readouterr().out)["books"]
    assert [b["accounts"] for b in books] == [[HL_A.label], [HL_B.label], [SIM.label]]
    assert reads == ["mainnet"]  # only the book with open legs on a known network, once
    assert books[0]["positions"][0]["status"] == "closed" and books[0]["total"]["net"] == pytest.approx(
        20.239, abs=0.006
    )
    hype = books[1]["positions"][0]
    assert hype["status"] == "open" and hype["unrealised"] == pytest.approx(-10 * (29.0 - 31.0), abs=0.006)
    assert hype["realised_net"] == pytest.approx(0.6 - 0.1395, abs=0.006)
    assert "open legs marked at the mids of mainnet" in books[1]["notes"]
    sim = books[2]["positions"][0]
    assert sim["status"] == "partly open" and sim["unpriced"] and sim["unrealised"] is None
    assert any(n.startswith("open legs unpriced: the embedded simulator session has ended") for n in books[2]["notes"])

    assert main(["report", "--journal", str(path)]) == 0
    text = capsys.readouterr().out
    assert text.count("P&L attribution since") == 3
    assert f"book: {HL_B.label}" in text and f"book: {SIM.label}" in text and "partly open" in text

    assert main(["report", "--journal", str(path), "--account", HL_B.account, "--json"]) == 0
    [only] = json.loads(capsys.readouterr().out)["books"]
    assert only["accounts"] == [HL_B.label]
    assert main(["report", "--journal", str(path), "--account", "0xdeadbeef"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no account matching '0xdeadbeef'" in err and "3 account(s)" in err

    assert main(["report", "--journal", str(path), "--account", HL_B.account, "--no-marks", "--json"]) == 0
    [only] = json.loads(capsys.readouterr().out)["books"]
    assert only["positions"][0]["unpriced"] and "open legs unpriced: --no-marks" in only["notes"]
    assert reads == ["mainnet"] * 3  # one read per run with open legs to mark, none with --no-marks


def test_cli_report_marks_unreadable_is_one_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "journal.sqlite"
    _cli_journal(path)
    # the ended simulator session marked at another venue: nothing listens on port 1
    args = [
        "report",
        "--journal",
        str(path),
        "--account",
        SIM.account,
        "--url",
        "hyperliquid=http://127.0.0.1:1",
        "--json",
    ]
    assert main(args) == 0
    [book] = json.loads(capsys.readouterr().out)["books"]
    [note] = [n for n in book["notes"] if n.startswith("open legs unpriced")]
    assert note.startswith("open legs unpriced: http://127.0.0.1:1: ") and "\n" not in note
    assert book["positions"][0]["unpriced"]
    assert main(["report", "--journal", str(path), "--url", "nonsense"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
