"""The order ticket's pricing (:func:`pfterm.core.trading.ticket.quote_ticket`), called directly: the
explicit order type, ``$`` sizing at the order's own price, market prices on the right side
of the mark, the fat-finger confirmation, fees and refusals, plus Hypothesis properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pfterm.core.market.models import MarketInfo, OrderIntent
from pfterm.core.trading.hyperliquid import HL_MAKER_FEE
from pfterm.core.trading.portfolio import TicketQuote, TicketRequest
from pfterm.core.trading.ticket import band_warning, quote_ticket, ticket_order_type

CLOID = "0x" + "cd" * 16
BTC = MarketInfo("hyperliquid", "BTC", 0, 5, 40)
MARK = 87_487.0


class Check:
    """A risk check that records what it was asked and answers ``refusal``."""

    def __init__(self, refusal: str | None = None) -> None:
        self.seen: list[OrderIntent] = []
        self.refusal = refusal

    def __call__(self, intent: OrderIntent) -> str | None:
        self.seen.append(intent)
        return self.refusal


def quote(
    req: TicketRequest, *, market: MarketInfo | None = BTC, mark: float | None = MARK, check=None, **kw
) -> TicketQuote:
    return quote_ticket(
        req, market=market, mark_px=mark, order_slippage=0.01, check=check or Check(), cloid=CLOID, **kw
    )


def limit(
    size: float, px: float | None, *, buy: bool = True, usd: bool = False, tif: str = "Gtc", reduce_only: bool = False
) -> TicketRequest:
    return TicketRequest("BTC", buy, size, usd, px, tif, reduce_only, "limit")


def market(size: float, *, buy: bool = True, usd: bool = False, reduce_only: bool = False) -> TicketRequest:
    return TicketRequest("BTC", buy, size, usd, None, "Gtc", reduce_only, "market")


def test_a_limit_without_a_price_is_refused_never_a_market_order() -> None:
    check = Check()
    q = quote(limit(0.02, None), check=check)
    assert q.intent is None and q.refusal == "a limit order needs a limit price" and q.order_type == "limit"
    assert check.seen == []


def test_usd_size_of_a_limit_order_is_divided_by_the_limit_price() -> None:
    q = quote(limit(1_000, 80_000.0, usd=True))
    assert q.intent is not None and q.intent.size == 0.0125  # 1000 / 80,000, not 1000 / mark
    assert q.notional_usd == pytest.approx(1_000.0) and q.est_px == 80_000.0


def test_market_order_is_an_ioc_at_mark_plus_slippage_sized_at_mark() -> None:
    q = quote(market(2_000, usd=True))
    it = q.intent
    assert it is not None and it.tif == "Ioc" and q.order_type == "market"
    assert it.limit_px == pytest.approx(MARK * 1.01, rel=1e-4) and it.limit_px >= MARK * 1.01
    assert it.size == math.floor(2_000 / MARK * 1e5) / 1e5
    assert q.est_px == MARK and q.notional_usd == pytest.approx(it.size * MARK)
    assert q.taker and q.est_fee_usd == pytest.approx(q.notional_usd * 0.00045)
    sell = quote(market(0.02, buy=False)).intent
    assert sell is not None and sell.limit_px <= MARK * 0.99


def test_a_market_order_with_a_price_is_refused() -> None:
    q = quote(TicketRequest("BTC", True, 0.02, False, 80_000.0, "Gtc", False, "market"))
    assert q.intent is None and q.refusal == "a market order takes no limit price"


def test_a_request_without_an_order_type_keeps_the_old_meaning() -> None:
    old_market = TicketRequest("BTC", True, 0.02, False, None, "Ioc", False)
    old_limit = TicketRequest("BTC", True, 0.02, False, 86_000.0, "Gtc", False)
    assert ticket_order_type(old_market) == "market" and ticket_order_type(old_limit) == "limit"
    assert quote(old_market).intent.tif == "Ioc" and quote(old_limit).intent.limit_px == 86_000.0


def test_fees_maker_when_resting_taker_when_crossing() -> None:
    resting = quote(limit(0.02, 86_000.0))
    assert not resting.taker and resting.fee_rate == HL_MAKER_FEE
    assert resting.est_fee_usd == pytest.approx(0.02 * 86_000.0 * HL_MAKER_FEE)
    crossing = quote(limit(0.02, 88_000.0))
    assert crossing.taker and crossing.est_px == MARK  # takes liquidity at about the mark
    alo = quote(limit(0.02, 88_000.0, tif="Alo"))
    assert alo.intent is not None and alo.refusal == "post-only order would cross the book"


def test_limit_beyond_the_fat_finger_band_asks_for_a_confirmation() -> None:
    far = quote(limit(0.02, 80_000.0))
    assert far.refusal is None and far.distance == pytest.approx(80_000 / MARK - 1)
    assert far.confirm == "buy limit 80,000 is 8.6 % below mark 87,487, beyond the 5 % band"
    assert quote(limit(0.02, 84_000.0)).confirm is None  # 4 % below
    assert quote(limit(0.02, 84_000.0), fat_finger_band=0.03).confirm is not None
    assert quote(market(0.02)).confirm is None  # a market order is bounded by the slippage
    sell_far_above = quote(limit(0.02, 95_000.0, buy=False))
    assert sell_far_above.confirm is not None and "sell limit 95,000 is 8.6 % above" in sell_far_above.confirm
    assert band_warning(True, 80_000.0, None, 0.05) is None  # no mark, no judgement


def test_refusals_and_the_risk_check() -> None:
    check = Check("refused: trading halted")
    q = quote(limit(0.02, 86_000.0), check=check)
    assert q.refusal == "refused: trading halted" and [i.limit_px for i in check.seen] == [86_000.0]
    assert quote(limit(0.02, 86_000.0), market=None).refusal == "BTC: no perp market"
    assert quote(market(0.02), mark=None).refusal == "BTC: no price for a market order"
    assert quote(limit(0.02, -1.0)).refusal == "limit price must be positive"
    assert quote(limit(0.0, 86_000.0)).refusal == "size must be positive"
    assert quote(limit(0.000001, 86_000.0)).refusal == "size rounds to zero at 5 decimals"
    assert quote(limit(0.02, 86_000.0, tif="Fok")).refusal == "unknown time in force 'Fok'"
    small = quote(limit(0.0001, 86_000.0))
    assert small.refusal == "order value $8.60 is below the $10 minimum"
    assert quote(limit(0.0001, 86_000.0, reduce_only=True)).refusal is None
    stop = TicketRequest("BTC", True, 1, False, None, "Gtc", False, "stop")
    assert quote(stop).refusal.startswith("unknown order type")
    exact = OrderIntent("BTC", 0, True, 0.02, 86_000.0, "Gtc", False, CLOID, "manual")
    assert quote(limit(0.02, 86_000.0)).intent == exact


# ---------------------------------------------------------------------------- properties

marks = st.floats(min_value=0.01, max_value=200_000.0, allow_nan=False, allow_infinity=False)
decimals = st.integers(min_value=0, max_value=5)
usd = st.floats(min_value=20.0, max_value=1_000_000.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(mark=marks, ratio=st.floats(min_value=0.5, max_value=1.5), amount=usd, dec=decimals, buy=st.booleans())
def test_usd_limit_size_times_limit_price_is_the_amount_within_one_lot(mark, ratio, amount, dec, buy) -> None:
    m = MarketInfo("hyperliquid", "X", 1, dec, 10)
    q = quote_ticket(
        limit(amount, mark * ratio, buy=buy, usd=True),
        market=m,
        mark_px=mark,
        order_slippage=0.01,
        check=lambda _i: None,
    )
    assume(q.intent is not None)
    it = q.intent
    lot = 10.0**-dec
    assert it.size * it.limit_px <= amount * (1 + 1e-9)
    assert amount - it.size * it.limit_px < lot * it.limit_px * (1 + 1e-9) + 1e-9


@settings(max_examples=300, deadline=None)
@given(mark=marks, amount=usd, dec=decimals, buy=st.booleans(), slip=st.floats(min_value=0.001, max_value=0.1))
def test_market_price_is_on_the_paying_side_of_the_mark_and_usd_is_at_mark(mark, amount, dec, buy, slip) -> None:
    m = MarketInfo("hyperliquid", "X", 1, dec, 10)
    q = quote_ticket(
        market(amount, buy=buy, usd=True), market=m, mark_px=mark, order_slippage=slip, check=lambda _i: None
    )
    assume(q.intent is not None)
    it = q.intent
    assert it.tif == "Ioc" and q.confirm is None
    if buy:
        assert it.limit_px >= mark
    else:
        assert it.limit_px <= mark
    lot = 10.0**-dec
    assert it.size * mark <= amount * (1 + 1e-9)
    assert amount - it.size * mark < lot * mark * (1 + 1e-9) + 1e-9


@settings(max_examples=300, deadline=None)
@given(
    size=st.floats(allow_nan=True, allow_infinity=True),
    px=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    mark=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    order_type=st.sampled_from(["limit", "market", None]),
    usd_size=st.booleans(),
    tif=st.sampled_from(["Gtc", "Alo", "Ioc"]),
    dec=decimals,
)
def test_never_raises_and_a_limit_never_becomes_a_market_order(size, px, mark, order_type, usd_size, tif, dec) -> None:
    m = MarketInfo("hyperliquid", "X", 1, dec, 10)
    req = TicketRequest("X", True, size, usd_size, px, tif, False, order_type)
    q = quote_ticket(req, market=m, mark_px=mark, order_slippage=0.01, check=lambda _i: None)
    if q.intent is None:
        assert q.refusal
        return
    assert q.intent.size > 0 and q.intent.limit_px > 0
    if order_type == "limit":
        assert px is not None and q.order_type == "limit" and q.intent.tif == tif
    if q.order_type == "market":
        assert q.intent.tif == "Ioc" and px is None


@settings(max_examples=200, deadline=None)
@given(mark=marks, ratio=st.floats(min_value=0.5, max_value=1.5), band=st.floats(min_value=0.01, max_value=0.2))
def test_confirmation_exactly_beyond_the_band(mark, ratio, band) -> None:
    m = MarketInfo("hyperliquid", "X", 1, 2, 10)
    q = quote_ticket(
        limit(1_000_000, mark * ratio, usd=True, reduce_only=True),
        market=m,
        mark_px=mark,
        order_slippage=0.01,
        check=lambda _i: None,
        fat_finger_band=band,
    )
    assume(q.intent is not None)
    beyond = abs(q.intent.limit_px - mark) / mark > band
    assert (q.confirm is not None) is beyond
