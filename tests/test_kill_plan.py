"""The kill switch's plan for one round on one venue (:func:`pfterm.core.trading.kill.plan_kill`) and
the carry spot legs it sells (:func:`pfterm.core.trading.kill.carry_spot_to_sell`): pure, on fixed
markets."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from pfterm.core.market.models import OpenOrder, Position, SpotBalance
from pfterm.core.trading.hyperliquid import HyperliquidRules
from pfterm.core.trading.journal import AccountRef
from pfterm.core.trading.kill import carry_spot_to_sell, plan_kill
from pfterm.core.trading.orders import OrderManager
from pfterm.core.trading.risk import RiskLimits, TradingState, check_order
from pfterm.core.trading.venue import Instrument, VenueAccount
from pfterm.core.venues.hyperliquid.orders import price_tick
from tests.desks import FixedVenue

DECIMALS = {"BTC": 5, "ETH": 4, "SOL": 2, "kPEPE": 0}
ASSETS = {"BTC": 0, "ETH": 1, "SOL": 5, "kPEPE": 7}
MIDS = {"BTC": 100_000.0, "ETH": 3_000.0, "SOL": 150.0, "kPEPE": 0.0125, "@142": 99_950.0}
SYMBOLS = list(DECIMALS)
LIMITS = RiskLimits(max_market_share=1.0, max_order_notional_usd=1e9, max_position_notional_usd=1e9, max_leverage=50)


class _SpotVenue(FixedVenue):
    """Fixed Hyperliquid markets, the UBTC/USDC pair (``@142``) among them."""

    def __init__(self) -> None:
        super().__init__("hyperliquid", AccountRef("hyperliquid", "sim:test", "0x" + "1" * 40))
        self.pair = Instrument("@142", "@142", "spot", "BTC", 10142, HyperliquidRules(5, is_spot=True), 10.0)

    def spot_pair_of(self, base: str) -> Instrument | None:
        return self.pair if base == "BTC" else None


def _manager() -> OrderManager:
    venue = _SpotVenue()
    om = OrderManager(venue, None)  # type: ignore[arg-type]
    om.instruments = {
        s: Instrument(s, s, "perp", s, ASSETS[s], HyperliquidRules(d), 10.0, 20) for s, d in DECIMALS.items()
    }
    om.instruments["@142"] = venue.pair
    return om


def _counter():
    n = itertools.count(1)
    return lambda: f"0x{next(n):032x}"


def pos(symbol: str, size: float, mark: float | None = None) -> Position:
    m = MIDS[symbol] if mark is None else mark
    return Position(symbol, size, m, m, None, 3.0, abs(size) * m / 3, 0.0)


def order(symbol: str, oid: int) -> OpenOrder:
    return OpenOrder(symbol, oid, None, True, MIDS[symbol] * 0.9, 1.0, False, 1_700_000_000_000)


sizes = st.integers(min_value=-(10**6), max_value=10**6).filter(lambda n: n != 0)


@given(
    orders=st.lists(st.tuples(st.sampled_from(SYMBOLS), st.integers(0, 2**40)), max_size=20),
    positions=st.dictionaries(st.sampled_from(SYMBOLS), sizes),
    slippage=st.floats(min_value=0.0, max_value=0.2),
)
def test_every_order_is_cancelled_and_every_position_closed_once(orders, positions, slippage) -> None:
    om = _manager()
    open_orders = [order(s, oid) for s, oid in orders]
    book = [pos(s, n / 10 ** DECIMALS[s]) for s, n in positions.items()]  # venue sizes are on the lot
    plan = plan_kill(om, open_orders, book, MIDS, slippage)
    assert not plan.skipped and not plan.spot_sells
    assert plan.cancels == open_orders
    assert sorted(c.symbol for c in plan.closes) == sorted(positions)
    assert len({c.cloid for c in plan.closes}) == len(plan.closes)
    for close, p in zip(plan.closes, book, strict=True):
        mid = MIDS[p.symbol]
        assert close.reduce_only and close.tif == "Ioc" and close.purpose == "kill"
        assert close.is_buy == (p.size < 0)
        assert close.size == abs(p.size)
        assert close.asset_id == ASSETS[p.symbol]
        eps = 1e-12 * mid  # float noise in the reference bound, not in the price
        if close.is_buy:
            assert mid * (1 + slippage) - eps <= close.limit_px <= mid * (1 + slippage) * 1.001 + 1
        else:
            assert mid * (1 - slippage) * 0.999 - 1 <= close.limit_px <= mid * (1 - slippage) + eps


def test_the_full_size_is_closed_despite_float_noise() -> None:
    noisy = 0.1 + 0.2  # 0.30000000000000004
    plan = plan_kill(_manager(), [], [pos("SOL", -noisy), pos("ETH", 0.0299999999)], MIDS, 0.05, new_cloid=_counter())
    assert [c.size for c in plan.closes] == [0.3, 0.03]
    assert plan.closes[0].cloid == "0x" + "0" * 31 + "1"
    assert plan.closes[0].limit_px == 157.5  # 150 × 1.05
    assert plan.closes[1].limit_px == 2850.0  # 3000 × 0.95


def test_a_position_without_a_mid_is_closed_at_its_mark() -> None:
    plan = plan_kill(_manager(), [], [pos("ETH", 1.0, mark=3_100.0)], {}, 0.05)
    [close] = plan.closes
    assert close.limit_px == 2945.0  # 3100 × 0.95: a frozen mids feed does not stop the kill


def test_what_cannot_be_closed_is_said_never_dropped() -> None:
    unknown = Position("DOGE", 5.0, 0.1, 0.1, None, 1, 1, 0)
    no_price = Position("ETH", 1.0, 0.0, 0.0, None, 1, 1, 0)
    dust = pos("BTC", 0.000001)
    plan = plan_kill(_manager(), [], [unknown, no_price, dust, pos("SOL", 0.0)], {"BTC": 100_000.0}, 0.05)
    assert not plan.closes
    assert len(plan.skipped) == 3
    assert "DOGE: not in the venue's markets" in plan.skipped[0]
    assert "ETH: no price to close at" in plan.skipped[1]
    assert "below one lot" in plan.skipped[2]


def test_carry_spot_legs_are_spot_held_against_a_short() -> None:
    acc = VenueAccount(
        100_000.0,
        (pos("BTC", -0.5), pos("ETH", 2.0), pos("SOL", -10.0)),
        0.0,
        0.0,
        None,
        None,
        spot=(SpotBalance("BTC", 0.8), SpotBalance("ETH", 3.0), SpotBalance("HYPE", 50.0)),
    )
    # BTC: 0.5 of the 0.8 hedges the short; ETH is long perp (no carry); SOL has no spot; HYPE no perp
    assert carry_spot_to_sell(acc) == {"BTC": 0.5}


def test_the_carry_spot_leg_is_sold_on_its_pair_and_dust_is_left() -> None:
    om = _manager()
    plan = plan_kill(om, [], [], MIDS, 0.05, spot_left={"BTC": 0.12345678}, spot_held=[SpotBalance("BTC", 0.2)])
    [sale] = plan.spot_sells
    assert (sale.symbol, sale.asset_id, sale.is_buy, sale.size) == ("@142", 10142, False, 0.12345)
    assert sale.limit_px <= MIDS["@142"] * 0.95 and not sale.reduce_only
    dust = plan_kill(om, [], [], MIDS, 0.05, spot_left={"BTC": 0.00005}, spot_held=[SpotBalance("BTC", 0.2)])
    assert not dust.spot_sells  # $5 of spot: below the venue's $10 minimum, it stays


@given(
    size=st.floats(min_value=1e-4, max_value=1e4),
    is_long=st.booleans(),
    mid=st.floats(min_value=0.01, max_value=200_000.0),
    gap=st.floats(min_value=-0.04, max_value=0.04),
    sz_decimals=st.integers(0, 5),
)
def test_kill_closes_always_pass_the_gate_when_halted(
    size: float, is_long: bool, mid: float, gap: float, sz_decimals: int
) -> None:
    om = _manager()
    om.instruments["BTC"] = Instrument("BTC", "BTC", "perp", "BTC", 0, HyperliquidRules(sz_decimals), 10.0, 50)
    mark = mid * (1 + gap)
    p = Position("BTC", size if is_long else -size, mark, mark, None, 50.0, 1.0, 0.0)
    plan = plan_kill(om, [], [p], {"BTC": mid}, 0.05)
    for close in plan.closes:
        refusal = check_order(
            close,
            state=TradingState.HALTED,
            limits=LIMITS,
            mark_px=mark,
            position=p,
            equity_usd=0.0,
            price_tick_usd=price_tick(close.limit_px, sz_decimals),
        )
        assert refusal is None
