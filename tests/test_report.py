"""P&L attribution report (``pfterm.core.harvest.report``, ``pfterm report``): docs/domain.md §7 on crafted journals
with hand-computed numbers, and on a journal written by real trading against the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pfterm.core.harvest.report import (
    MS_PER_YEAR,
    build_report,
    default_spot_map,
    parse_since,
    report_json,
    report_text,
)
from pfterm.core.trading.journal import Journal
from pfterm.core.venues.records import Fill, FundingPayment
from pfterm.tui.cli import main

H = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
SPOT = {"@142": "BTC", "@151": "ETH", "@107": "HYPE", "PURR/USDC": "PURR"}


class _Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


_tid = iter(range(1, 1_000_000))


def _fill(
    symbol: str,
    side: str,
    px: float,
    sz: float,
    t: int,
    fee: float = 0.0,
    token: str = "USDC",
    closed: float = 0.0,
    cloid: str | None = None,
) -> Fill:
    tid = next(_tid)
    return Fill(
        "hyperliquid",
        tid,
        f"0x{tid:064x}",
        symbol,
        side,
        px,
        sz,
        fee,
        token,
        t,  # type: ignore[arg-type]
        oid=tid,
        cloid=cloid,
        closed_pnl=closed,
    )


def _fund(symbol: str, t: int, usdc: float, size: float) -> FundingPayment:
    return FundingPayment("hyperliquid", t, symbol, usdc, size, 0.0001)


@pytest.fixture
def clock() -> _Clock:
    return _Clock(T0 - 5_000)


@pytest.fixture
def journal(tmp_path: Path, clock: _Clock) -> Journal:
    j = Journal(tmp_path / "journal.sqlite", clock=clock)
    yield j
    j.close()


def _carry(j: Journal, clock: _Clock) -> None:
    """Cash and carry on BTC: buy 1 UBTC spot @100,000 (fee 0.0007 UBTC), short 1 BTC perp
    @100,100, three funding payments (+100, +120, -20), buy the perp back @101,000, sell the
    0.9993 UBTC left @101,000."""
    clock.t = T0 - 5_000
    j.log_event(
        "harvest_open",
        "open BTC carry",
        {"position_id": "h-1", "symbol": "BTC", "side": "short_perp", "strategy": "cash_and_carry"},
    )
    j.record_fill(_fill("@142", "B", 100_000, 1.0, T0, fee=0.0007, token="UBTC"))
    j.record_fill(_fill("BTC", "A", 100_100, 1.0, T0 + 1_000, fee=45.045))
    for k, usdc in ((1, 100.0), (2, 120.0), (3, -20.0)):
        j.record_funding(_fund("BTC", T0 + k * H, usdc, -1.0))
    j.record_fill(_fill("BTC", "B", 101_000, 1.0, T0 + 4 * H, fee=45.45, closed=-900.0))
    j.record_fill(_fill("@142", "A", 101_000, 0.9993, T0 + 4 * H + 1_000, fee=70.65))
    clock.t = T0 + 4 * H + 2_000
    j.log_event("harvest_close", "close BTC carry", {"position_id": "h-1", "reason": "apr below exit"})


def _losing_long(j: Journal) -> None:
    """Manual ETH long: buy 2 @3000 (fee 2.70), sell 2 @2900 (fee 2.61): perp -200, net -205.31."""
    j.record_fill(_fill("ETH", "B", 3_000, 2.0, T0 + 10 * H, fee=2.70))
    j.record_fill(_fill("ETH", "A", 2_900, 2.0, T0 + 11 * H, fee=2.61, closed=-200.0))


def _partial(j: Journal) -> None:
    """SOL long in two adds (avg 105), partly closed @120 (+75), rest closed @104 (-15)."""
    j.record_fill(_fill("SOL", "B", 100, 10, T0 + 20 * H, fee=0.45))
    j.record_fill(_fill("SOL", "B", 110, 10, T0 + 21 * H, fee=0.50))
    j.record_fill(_fill("SOL", "A", 120, 5, T0 + 22 * H, fee=0.27, closed=75.0))
    j.record_fill(_fill("SOL", "A", 104, 15, T0 + 23 * H, fee=0.70, closed=-15.0))


def _by_symbol(report, symbol: str):
    [p] = [p for p in report.positions if p.symbol == symbol]
    return p


def test_cash_and_carry_round_trip(journal: Journal, clock: _Clock) -> None:
    _carry(journal, clock)
    r = build_report(journal, spot_map=SPOT)
    p = _by_symbol(r, "BTC")
    assert (p.id, p.strategy, p.side, p.close_reason) == ("h-1", "cash_and_carry", "short_perp", "apr below exit")
    assert (p.opened_ms, p.closed_ms) == (T0, T0 + 4 * H + 1_000)
    assert p.spot_pnl == pytest.approx(0.9993 * 1_000)  # 999.30
    assert p.perp_pnl == pytest.approx(-900.0) == p.venue_closed_pnl  # (entry - exit) x size, short
    assert p.funding_pnl == pytest.approx(200.0)
    assert p.fees == pytest.approx(0.0007 * 100_000 + 45.045 + 45.45 + 70.65)  # 231.145
    assert p.net == pytest.approx(999.3 - 900 + 200 - 231.145)  # 68.155
    # the net equals the cash result: USDC out/in of both legs + funding - USDC fees
    cash = -100_000 + 0.9993 * 101_000 - 70.65 - 900 - 45.045 - 45.45 + 200
    assert p.net == pytest.approx(cash)
    assert p.notional_usd == pytest.approx(100_100)
    apr = 200 / (100_100 * (4 * H - 1_000) / MS_PER_YEAR)
    assert p.funding_apr_realised == pytest.approx(apr)
    assert (p.perp_size, p.spot_size, p.unrealised) == (0.0, 0.0, 0.0)
    assert r.win_rate == 1.0 and r.by_strategy["cash_and_carry"].net == pytest.approx(68.155)


def test_losing_manual_long_partial_close_and_win_rate(journal: Journal, clock: _Clock) -> None:
    _carry(journal, clock)
    _losing_long(journal)
    _partial(journal)
    r = build_report(journal, spot_map=SPOT)
    eth = _by_symbol(r, "ETH")
    assert (eth.strategy, eth.side) == ("manual", "long_perp")
    assert eth.perp_pnl == pytest.approx(-200) and eth.fees == pytest.approx(5.31)
    assert eth.net == pytest.approx(-205.31) and eth.funding_apr_realised == 0.0
    sol = _by_symbol(r, "SOL")
    assert sol.perp_pnl == pytest.approx(60.0) == pytest.approx(sol.venue_closed_pnl)
    assert sol.fees == pytest.approx(1.92) and sol.net == pytest.approx(58.08)
    assert sol.notional_usd == pytest.approx(20 * 110)
    # win rate: carry and SOL win, ETH loses
    assert r.win_rate == pytest.approx(2 / 3) and (r.total.closed, r.total.wins) == (3, 2)
    assert r.total.net == pytest.approx(68.155 - 205.31 + 58.08)
    assert r.by_strategy["manual"].positions == 2 and r.by_strategy["manual"].win_rate == 0.5


def test_open_position_excluded_or_marked(journal: Journal) -> None:
    journal.record_fill(_fill("HYPE", "A", 30.0, 10.0, T0, fee=0.135))
    journal.record_funding(_fund("HYPE", T0 + H, 0.5, -10.0))
    r = build_report(journal, spot_map=SPOT, now_ms=T0 + 2 * H)
    p = _by_symbol(r, "HYPE")
    assert p.is_open and p.closed_ms is None and p.unrealised is None
    assert p.perp_pnl == 0.0 and p.perp_size == -10.0
    assert p.net == pytest.approx(0.5 - 0.135)
    assert any("unrealised legs excluded" in n for n in p.notes)
    assert p.funding_apr_realised == pytest.approx(0.5 / (300 * 2 * H / MS_PER_YEAR))
    assert r.win_rate is None  # no closed position
    marked = build_report(journal, spot_map=SPOT, marks={"HYPE": 28.0}, now_ms=T0 + 2 * H)
    m = _by_symbol(marked, "HYPE")
    assert m.unrealised == pytest.approx(20.0) and m.perp_pnl == pytest.approx(20.0)
    assert m.net == pytest.approx(20.0 + 0.5 - 0.135)


def test_flip_splits_positions_and_matches_closed_pnl(journal: Journal) -> None:
    journal.record_fill(_fill("BTC", "B", 100, 1.0, T0, fee=1.0))
    journal.record_fill(_fill("BTC", "A", 110, 3.0, T0 + H, fee=3.0, closed=10.0))
    journal.record_fill(_fill("BTC", "B", 105, 2.0, T0 + 2 * H, fee=2.0, closed=10.0))
    r = build_report(journal, spot_map=SPOT)
    first, second = r.positions
    assert (first.side, first.closed_ms, first.perp_pnl, first.fees) == ("long_perp", T0 + H, 10.0, 2.0)
    assert (second.side, second.opened_ms, second.closed_ms) == ("short_perp", T0 + H, T0 + 2 * H)
    assert second.perp_pnl == pytest.approx(10.0) and second.fees == pytest.approx(4.0)
    assert r.total.perp_pnl == pytest.approx(20.0)


def test_spot_only_purr_and_fee_in_base(journal: Journal) -> None:
    """A spot fee in the base token leaves the inventory at the fill price; the lot remainder
    below the dust threshold does not keep the position open."""
    journal.record_fill(_fill("PURR/USDC", "B", 0.2, 1_000, T0, fee=1.0, token="PURR"))
    journal.record_fill(_fill("PURR/USDC", "A", 0.25, 998, T0 + H, fee=0.17465))
    p = _by_symbol(build_report(journal, spot_map=SPOT), "PURR")
    assert (p.side, p.closed_ms) == ("long_spot", T0 + H)  # 1 PURR (0.25 USD) left: dust
    assert p.spot_pnl == pytest.approx(998 * 0.05)
    assert p.fees == pytest.approx(0.2 + 0.17465)


def test_since_filter_venue_and_unattributed_funding(journal: Journal, clock: _Clock) -> None:
    _carry(journal, clock)
    _losing_long(journal)
    _partial(journal)
    journal.record_funding(_fund("XRP", T0 + 30 * H, 3.0, -100))  # no XRP fills in the journal
    r = build_report(journal, spot_map=SPOT, since_ms=T0 + 12 * H)
    assert [p.symbol for p in r.positions] == ["SOL"]
    assert r.unattributed_funding == pytest.approx(3.0) and r.total.funding_pnl == 0.0
    assert build_report(journal, spot_map=SPOT, venue="binance").positions == []


def test_json_and_text(journal: Journal, clock: _Clock) -> None:
    _carry(journal, clock)
    _losing_long(journal)
    r = build_report(journal, spot_map=SPOT)
    out = report_json(r)
    json.dumps(out)
    assert set(out) == {
        "since_ms",
        "as_of_ms",
        "marked",
        "positions",
        "by_strategy",
        "total",
        "win_rate",
        "funding_apr_realised",
        "unattributed_funding",
        "notes",
    }
    btc = out["positions"][0]
    cents = pytest.approx
    assert (btc["net"], btc["fees"], btc["spot_pnl"]) == (cents(68.155, abs=0.006), cents(231.145, abs=0.006), 999.3)
    assert btc["perp_pnl"] == -900.0 and btc["net"] == round(btc["net"], 2)
    assert out["total"]["net"] == cents(68.155 - 205.31, abs=0.006) and out["win_rate"] == 0.5
    text = report_text(r)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "cash_and_carry" in text and "win rate: 50.0%" in text and "TOTAL" in text


def test_default_spot_map() -> None:
    m = default_spot_map()
    assert m["@142"] == "BTC" and m["@151"] == "ETH" and m["@107"] == "HYPE" and m["PURR/USDC"] == "PURR"


def test_parse_since() -> None:
    now = T0 + 10 * 86_400_000
    assert parse_since("7d", now) == now - 7 * 86_400_000
    assert parse_since("24h", now) == now - 86_400_000
    assert parse_since("2026-01-01") == T0
    assert parse_since("2026-01-01T01:00") == T0 + H
    assert parse_since("2026-01-01T02:00+01:00") == T0 + H
    with pytest.raises(ValueError, match="--since"):
        parse_since("last week")


def test_cli_report_json_text_and_errors(
    journal: Journal, clock: _Clock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _carry(journal, clock)
    path = str(journal.path)
    assert main(["report", "--journal", path, "--json"]) == 0
    [out] = json.loads(capsys.readouterr().out)["books"]  # one report per book: one (legacy) account here
    assert out["positions"][0]["id"] == "h-1" and out["positions"][0]["net"] == pytest.approx(68.155, abs=0.006)
    assert main(["report", "--journal", path]) == 0
    assert "cash_and_carry" in capsys.readouterr().out
    # the 2026 fills are older than 7 days only after 2026-01-08; use a since after them
    assert main(["report", "--journal", path, "--since", "2099-01-01"]) == 0
    assert capsys.readouterr().out.strip() == "no fills in the journal since 2099-01-01 00:00 UTC"
    assert main(["report", "--journal", path, "--since", "7d", "--json"]) == 0
    json.loads(capsys.readouterr().out)
    assert main(["report", "--journal", path, "--since", "yesterday"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--since" in err
    assert main(["report", "--journal", str(tmp_path / "nope.sqlite")]) == 2
    assert not (tmp_path / "nope.sqlite").exists()
    empty = tmp_path / "empty.sqlite"
    Journal(empty).close()
    assert main(["report", "--journal", str(empty)]) == 0
    assert capsys.readouterr().out.startswith("no fills in the journal since")


# ------------------------------------------------------------------ real trading on the simulator


async def test_report_on_simulator_trading(tmp_path: Path) -> None:
    from pfterm.core.sim.market import MarketModel
    from pfterm.core.sim.server import SimulatorServer
    from pfterm.core.sim.snapshot import load_snapshot
    from pfterm.core.trading.desk import DeskSettings
    from pfterm.core.trading.portfolio import TicketRequest
    from pfterm.core.trading.risk import RiskLimits
    from pfterm.core.venues.hyperliquid.signing import Signer
    from tests.desks import desk_on

    model = MarketModel(load_snapshot(), seed=3, start_ms=T0 + 30 * 60_000, cascade_rate_per_hour=0.0)
    srv = SimulatorServer(model, speed=0.0, tick_hz=50.0, starting_usdc=100_000.0)
    await srv.start()
    j = Journal(tmp_path / "j.sqlite")
    try:
        limits = RiskLimits(
            max_market_share=1.0,
            max_order_notional_usd=1e7,
            max_position_notional_usd=1e7,
            max_leverage=20,
            max_venue_share=1.0,
        )
        trader = desk_on(
            srv.http_url or "", Signer.generate(), j, DeskSettings(limits=limits, kill_deadline_s=5.0), timeout_s=5.0
        )
        await trader.start()
        for is_buy, usd in ((True, 3_000), (True, 2_000), (False, 1_500), (False, 3_500)):
            quote = trader.quote(TicketRequest("ETH", is_buy, usd, True, None, "Ioc", False, "market"))
            assert quote.intent is not None, quote.refusal
            [out] = await trader.submit([quote.intent])
            assert out.status == "filled", out.message
            await trader.refresh()
        pos = [p for p in trader.account.account.positions if p.symbol == "ETH"]
        if pos:  # rounding left a remainder: close it
            [close] = await trader.submit(
                [
                    trader.quote(
                        TicketRequest(
                            "ETH",
                            pos[0].size < 0,
                            abs(pos[0].size) * pos[0].entry_px,
                            True,
                            None,
                            "Ioc",
                            True,
                            "market",
                        )
                    ).intent
                ]
            )
            assert close.status == "filled"
        await trader.sync_fills_and_funding()
        await trader.aclose()
    finally:
        await srv.stop()
    fills = j.fills()
    assert len(fills) >= 4
    r = build_report(j)
    j.close()
    assert len(r.positions) == 1 and not r.positions[0].is_open
    p = r.positions[0]
    assert p.strategy == "manual" and p.side == "long_perp"
    assert p.perp_pnl == pytest.approx(sum(f.closed_pnl for f in fills), abs=0.02)  # venue rounds to cents
    assert p.fees == pytest.approx(sum(f.fee for f in fills))


def _bn_fill(symbol: str, side: str, px: float, sz: float, t: int, fee: float, closed: float = 0.0) -> Fill:
    tid = next(_tid)
    return Fill("binance", tid, str(tid), symbol, side, px, sz, fee, "USDT", t, oid=tid, closed_pnl=closed)  # type: ignore[arg-type]


def test_perp_against_perp_is_one_position_with_both_legs(journal: Journal, clock: _Clock) -> None:
    """Short 2 ETH on Hyperliquid @3010 (maker fee 0.903), long 2 ETH on Binance @3000 (taker fee
    3.0); funding +4.0 (Hyperliquid, received) and -1.5 (Binance, paid); close both @3100 (fees
    0.93, 3.1). Hyperliquid perp (3010 − 3100) × 2 = −180, Binance (3100 − 3000) × 2 = +200:
    perp +20; funding +2.5; fees 7.933; net 14.567."""
    clock.t = T0 - 5_000
    journal.log_event(
        "harvest_open",
        "open ETH perp_perp",
        {"position_id": "h-2", "symbol": "ETH", "side": "short_perp", "strategy": "perp_perp"},
    )
    journal.record_fill(_fill("ETH", "A", 3_010, 2.0, T0, fee=0.903))
    journal.record_fill(_bn_fill("ETH", "B", 3_000, 2.0, T0 + 500, fee=3.0))
    journal.record_funding(_fund("ETH", T0 + H, 4.0, -2.0))
    journal.record_funding(FundingPayment("binance", T0 + 8 * H, "ETH", -1.5, 2.0, 0.00025))
    # before the hedge leg is closed the position is still open, marked per venue
    journal.record_fill(_fill("ETH", "B", 3_100, 2.0, T0 + 9 * H, fee=0.93, closed=-180.0))
    mid = build_report(journal, marks={"ETH": 3_100}, hedge_marks={"ETH": 3_090}, now_ms=T0 + 9 * H + 1)
    [p] = mid.positions
    assert p.is_open and p.hedge_venue == "binance" and p.hedge_size == pytest.approx(2.0)
    assert p.perp_pnl == pytest.approx(-180 + 2 * (3_090 - 3_000))  # the Binance leg at Binance's mark
    journal.record_fill(_bn_fill("ETH", "A", 3_100, 2.0, T0 + 9 * H + 500, fee=3.1, closed=200.0))
    r = build_report(journal)
    [p] = r.positions
    assert (p.strategy, p.side, p.closed_ms) == ("perp_perp", "short_perp", T0 + 9 * H + 500)
    assert p.perp_pnl == pytest.approx(20.0) == p.venue_closed_pnl
    assert p.funding_pnl == pytest.approx(2.5)  # both venues' payments
    assert p.fees == pytest.approx(0.903 + 3.0 + 0.93 + 3.1)
    assert p.net == pytest.approx(20 + 2.5 - 7.933)
    assert (p.perp_size, p.hedge_size) == (0.0, 0.0)
    # without the hedge venue rule the Binance long would have netted the Hyperliquid short
    # to zero and split this into separate positions
    assert len(r.positions) == 1
