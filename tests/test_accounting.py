"""CON/ACC: contract values, cost-basis fills, realised PnL and commission rounding."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from perpspec.rules.contract import compute_lot_value_inverse, compute_notional, compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.position import (
    Position,
    apply_fill,
    apply_trade,
    compute_avg_entry_price,
    compute_commission,
    compute_unrealised_pnl,
)
from tests.strategies import XBTUSD_LOT1, instruments, positions, realistic_prices, signed_lots

XBTUSD = load_instrument("XBTUSD")


def test_con_001_one_contract_at_50000_is_2000_sats() -> None:
    assert compute_lot_value_inverse(XBTUSD_LOT1, 5_000_000) == 2_000


def test_con_001_one_contract_at_50000_5_rounds_1999_98_to_2000_sats() -> None:
    assert compute_lot_value_inverse(XBTUSD_LOT1, 5_000_050) == 2_000


def test_con_001_rounds_per_lot_of_100_contracts() -> None:
    # 100 contracts at 50,000.5: 100e8 / 50000.5 = 199,998.0000...2 -> 199,998 sats (not 100 * 2,000)
    assert compute_lot_value_inverse(XBTUSD, 5_000_050) == 199_998


def test_con_002_inverse_long_has_negative_value_bitmex_sign() -> None:
    assert compute_value(XBTUSD_LOT1, 1, 5_000_000) == -2_000
    assert compute_value(XBTUSD_LOT1, -1, 5_000_000) == 2_000


def test_con_002_quanto_and_linear_values() -> None:
    ethusd = load_instrument("ETHUSD")
    xbtusdt = load_instrument("XBTUSDT")
    assert compute_value(ethusd, 10, 300_000) == 10 * 100 * 3_000  # 100 XBt per USD per contract
    assert compute_value(xbtusdt, 1_000, 5_000_050) == 50_000_500  # 0.001 XBT at 50,000.5 USDT = 50.0005 USDT


@given(st.data())
def test_con_002_value_is_additive_in_whole_lots(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    price = data.draw(realistic_prices(inst))
    a, b = data.draw(signed_lots(inst)), data.draw(signed_lots(inst))
    assert compute_value(inst, a + b, price) == compute_value(inst, a, price) + compute_value(inst, b, price)


@given(st.data())
def test_acc_003_fill_changes_wallet_minus_cost_by_minus_fill_value(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    position = data.draw(positions(inst))
    qty, price = data.draw(signed_lots(inst)), data.draw(realistic_prices(inst))
    after, realised = apply_fill(inst, position, qty, price)
    assert realised - (after.cost - position.cost) == -compute_value(inst, qty, price)
    assert after.qty == position.qty + qty


@given(st.data())
def test_acc_004_trade_conserves_funds_and_open_interest(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    buyer, seller = data.draw(positions(inst)), data.draw(positions(inst))
    qty = abs(data.draw(signed_lots(inst)))
    price = data.draw(realistic_prices(inst))
    fee_maker, fee_taker = data.draw(st.sampled_from([(-250, 750), (200, 750), (0, 175), (-100, 175)]))
    trade = apply_trade(inst, buyer, seller, qty, price, fee_taker, fee_maker)
    moved = (
        trade.buyer.wallet_delta
        - (trade.buyer.position.cost - buyer.cost)
        + trade.seller.wallet_delta
        - (trade.seller.position.cost - seller.cost)
        + trade.fee_pool_delta
    )
    assert moved == 0
    assert trade.buyer.position.qty + trade.seller.position.qty == buyer.qty + seller.qty


@given(st.data())
def test_acc_003_realisation_never_changes_equity_at_the_fill_price(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    position = data.draw(positions(inst))
    qty, price = data.draw(signed_lots(inst)), data.draw(realistic_prices(inst))
    after, realised = apply_fill(inst, position, qty, price)
    before_equity = compute_unrealised_pnl(inst, position, price)
    # buying or selling at the mark itself is equity-neutral: all of it is realised or kept
    assert realised + compute_unrealised_pnl(inst, after, price) == before_equity


@given(st.data())
def test_acc_003_realised_pnl_is_never_above_the_exact_share(data: st.DataObject) -> None:
    inst = data.draw(instruments())
    position = data.draw(positions(inst))
    lots_held = abs(position.qty) // inst.lot_size
    if lots_held < 2:
        return
    closed_lots = data.draw(st.integers(min_value=1, max_value=lots_held - 1))
    close = -closed_lots * inst.lot_size if position.qty > 0 else closed_lots * inst.lot_size
    price = data.draw(realistic_prices(inst))
    _, realised = apply_fill(inst, position, close, price)
    # exact share: realised = cost * (qty + close) / qty - cost - value(close)
    exact = Fraction(position.cost * (position.qty + close), position.qty) - position.cost
    exact -= compute_value(inst, close, price)
    assert realised <= exact < realised + 1


def test_acc_003_round_trip_inverse_15000_at_750_to_800() -> None:
    opened, _ = apply_fill(XBTUSD_LOT1, Position(), 15_000, 75_000)
    closed, realised = apply_fill(XBTUSD_LOT1, opened, -15_000, 80_000)
    # exact arithmetic gives +1.25 XBT; per-contract satoshi rounding of 1e8/750 = 133,333.33
    # loses 0.33 sat per contract: 15,000 * (133,333 - 125,000) = 124,995,000 sats
    assert (closed, realised) == (Position(), 124_995_000)


def test_acc_003_flip_realises_the_old_side_and_opens_at_the_fill_price() -> None:
    long_position, _ = apply_fill(XBTUSD_LOT1, Position(), 10, 5_000_000)
    flipped, realised = apply_fill(XBTUSD_LOT1, long_position, -30, 4_000_000)
    assert flipped == Position(qty=-20, cost=20 * 2_500)
    assert realised == 10 * (2_000 - 2_500)  # long inverse loses when price falls


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=-1_000, max_value=1_000))
def test_acc_002_commission_is_never_less_than_the_exact_fee(notional: int, fee_ppm: int) -> None:
    charged = compute_commission(notional, fee_ppm)
    assert charged * 1_000_000 >= notional * fee_ppm
    assert (charged - 1) * 1_000_000 < notional * fee_ppm


def test_acc_002_rebate_is_rounded_toward_zero() -> None:
    assert compute_commission(1_999, -250) == 0  # exact rebate 0.49975 sat: nothing paid out
    assert compute_commission(1_999, 750) == 2  # exact fee 1.49925 sat: 2 charged


def _entry_case(inst: Instrument, qty: int, price: int) -> int:
    opened, _ = apply_fill(inst, Position(), qty, price)
    return compute_avg_entry_price(inst, opened)


def test_acc_005_average_entry_price_of_a_single_fill_is_the_fill_price() -> None:
    assert _entry_case(XBTUSD_LOT1, 100, 5_000_000) == 5_000_000
    assert _entry_case(load_instrument("ETHUSD"), -7, 312_345) == 312_345
    assert compute_notional(XBTUSD, -200, 5_000_000) == 400_000
