"""Pre-trade risk checks and liquidation arithmetic (pfterm.core.trading.risk)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pfterm.core.market.models import OrderIntent, Position
from pfterm.core.trading.risk import (
    RefusalCode,
    RiskLimits,
    TradingState,
    check_order,
    daily_loss_breached,
    distance_to_liquidation,
    liquidation_price,
    margin_ratio,
)

CLOID = "0x" + "ab" * 16
LIMITS = RiskLimits()


def intent(*, is_buy: bool = True, size: float = 0.1, px: float = 100_000.0, reduce_only: bool = False) -> OrderIntent:
    return OrderIntent("BTC", 0, is_buy, size, px, "Gtc", reduce_only, CLOID, "test")


def position(size: float, mark: float = 100_000.0) -> Position:
    return Position("BTC", size, mark, mark, None, 3.0, abs(size) * mark / 3, 0.0)


def check(
    order: OrderIntent,
    *,
    state: TradingState = TradingState.ACTIVE,
    pos: Position | None = None,
    mark: float | None = 100_000.0,
    equity: float = 1_000_000.0,
    **kw,
):
    return check_order(order, state=state, limits=LIMITS, mark_px=mark, position=pos, equity_usd=equity, **kw)


def test_accepts_a_plain_order() -> None:
    assert check(intent()) is None


@pytest.mark.parametrize(
    ("order", "kwargs", "code"),
    [
        (intent(size=0.0), {}, RefusalCode.INVALID),
        (intent(px=-1.0), {}, RefusalCode.INVALID),
        (intent(), {"mark": None}, RefusalCode.NO_PRICE),
        (intent(px=106_000.0), {}, RefusalCode.FAT_FINGER),
        (intent(is_buy=False, px=94_000.0), {}, RefusalCode.FAT_FINGER),
        (intent(size=1.2), {}, RefusalCode.ORDER_NOTIONAL),
        (intent(size=0.4), {"pos": position(2.3)}, RefusalCode.POSITION_NOTIONAL),
        (intent(size=0.4), {"equity": 500_000.0}, RefusalCode.MARKET_SHARE),
        (intent(size=0.4), {"equity": 10_000.0, "capital_usd": 10_000_000.0}, RefusalCode.LEVERAGE),
        (intent(size=0.1), {"equity": 0.0, "capital_usd": 10_000_000.0}, RefusalCode.LEVERAGE),
        (intent(size=0.4), {"capital_usd": 1_000_000.0, "venue_notional_usd": 270_000.0}, RefusalCode.VENUE_SHARE),
        (intent(), {"day_pnl_usd": -30_000.0}, RefusalCode.DAILY_LOSS),
        (intent(reduce_only=True), {}, RefusalCode.NOT_REDUCING),
        (intent(reduce_only=True), {"pos": position(0.5)}, RefusalCode.NOT_REDUCING),
        (intent(), {"state": TradingState.HALTED}, RefusalCode.HALTED),
        (intent(), {"state": TradingState.REDUCING}, RefusalCode.REDUCING),
        (intent(size=2.0), {"state": TradingState.REDUCING, "pos": position(-1.0)}, RefusalCode.REDUCING),
        (intent(is_buy=False), {"state": TradingState.HALTED, "pos": position(1.0)}, RefusalCode.HALTED),
        (
            intent(is_buy=False, px=85_000.0, reduce_only=True),
            {"state": TradingState.HALTED, "pos": position(1.0)},
            RefusalCode.FAT_FINGER,
        ),
    ],
)
def test_refusal_codes_and_one_line_messages(order: OrderIntent, kwargs: dict, code: RefusalCode) -> None:
    refusal = check(order, **kwargs)
    assert refusal is not None
    assert refusal.code is code
    assert refusal.message.startswith("refused: ")
    assert "\n" not in refusal.message


def test_order_notional_message() -> None:
    refusal = check(intent(size=1.2))
    assert refusal is not None
    assert refusal.message == "refused: BTC order notional $120,000 exceeds max $50,000"


def test_daily_loss_threshold() -> None:
    assert daily_loss_breached(-300.0, 10_000.0, LIMITS)
    assert not daily_loss_breached(-299.0, 10_000.0, LIMITS)


@pytest.mark.parametrize("state", list(TradingState))
def test_reduce_only_close_ignores_exposure_limits_in_every_state(state: TradingState) -> None:
    # Huge position, tiny equity, daily loss breached: a close still goes through.
    pos = position(-50.0)
    close = intent(is_buy=True, size=50.0, px=104_000.0, reduce_only=True)
    assert check(close, state=state, pos=pos, equity=1.0, capital_usd=1.0, day_pnl_usd=-1e9) is None


def test_reducing_non_reduce_only_allowed_when_reducing_not_halted() -> None:
    pos = position(1.0)
    order = intent(is_buy=False, size=0.5, px=99_000.0)
    assert check(order, state=TradingState.REDUCING, pos=pos) is None
    assert check(order, state=TradingState.HALTED, pos=pos).code is RefusalCode.HALTED


def test_close_passive_price_is_never_fat_finger() -> None:
    pos = position(1.0)
    assert check(intent(is_buy=False, px=200_000.0, reduce_only=True), state=TradingState.HALTED, pos=pos) is None


def test_close_gets_one_tick_of_room() -> None:
    pos = Position("X", -1.0, 0.125, 0.125, None, 3.0, 1.0, 0.0)
    close = OrderIntent("X", 1, True, 1.0, 0.14, "Ioc", True, CLOID, "kill")
    kw = {"state": TradingState.HALTED, "limits": LIMITS, "mark_px": 0.125, "position": pos, "equity_usd": 1.0}
    assert check_order(close, **kw).code is RefusalCode.FAT_FINGER
    assert check_order(close, **kw, price_tick_usd=0.01) is None


def test_close_without_mark_passes() -> None:
    assert (
        check(intent(is_buy=False, reduce_only=True), state=TradingState.HALTED, pos=position(1.0), mark=None) is None
    )


def test_limits_validate() -> None:
    with pytest.raises(ValueError):
        RiskLimits(max_leverage=0)
    with pytest.raises(ValueError):
        RiskLimits(close_band=1.5)


def test_liquidation_price_examples() -> None:
    assert liquidation_price(100.0, 5.0, 0.005, True) == pytest.approx(80.5)
    assert liquidation_price(100.0, 5.0, 0.005, False) == pytest.approx(119.5)
    assert liquidation_price(100.0, 1.0, 0.0, True) == 0.0
    with pytest.raises(ValueError):
        liquidation_price(0.0, 3.0, 0.01, True)


@given(
    entry=st.floats(min_value=1e-4, max_value=1e6),
    leverage=st.floats(min_value=1.01, max_value=100.0),
    mmr_share=st.floats(min_value=0.0, max_value=0.9),
)
def test_long_liq_below_entry_below_short_liq(entry: float, leverage: float, mmr_share: float) -> None:
    mmr = mmr_share / leverage  # maintenance margin below initial margin 1/L
    assert liquidation_price(entry, leverage, mmr, True) < entry < liquidation_price(entry, leverage, mmr, False)


def test_distance_and_margin_ratio() -> None:
    assert distance_to_liquidation(90.0, 100.0) == pytest.approx(0.10)
    assert distance_to_liquidation(115.0, 100.0) == pytest.approx(0.15)
    assert margin_ratio(1_000.0, 3_000.0) == pytest.approx(1 / 3)
    assert margin_ratio(1_000.0, 0.0) == math.inf
    with pytest.raises(ValueError):
        distance_to_liquidation(1.0, 0.0)


def test_passive_opening_price_far_from_mark_rests() -> None:
    """A bid 20 % under mark (or an ask 20 % over) only rests: no fat-finger refusal."""
    assert check(intent(px=80_000.0)) is None
    assert check(intent(is_buy=False, px=120_000.0)) is None
    assert check(intent(px=105_100.0)).code is RefusalCode.FAT_FINGER
