"""INS: the insurance fund — surplus, capped draws, deposits, history rows; known-bad uncapped draws."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from perpspec.proofs.known_bad_waterfall import compute_affordable_lots_uncapped, compute_draw_uncapped
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.insurance import (
    Fill,
    InsuranceFund,
    InsuranceReason,
    apply_fund_delta,
    check_fund_deposit,
    compute_affordable_lots,
    compute_draw,
    compute_fill_delta,
    get_insurance_rows,
    settle_close_out,
)
from tests.strategies import BUILTIN, instruments, lots, realistic_prices

XBTUSDT = BUILTIN["XBTUSDT"]  # lot 1000 contracts = 0.001 XBT: 10 USDT of price on one lot = 10_000 USDt


def test_fill_better_than_bankruptcy_is_a_surplus() -> None:
    # selling a taken-over long lot at 50,010 when its bankruptcy price is 50,000: +0.01 USDT
    assert compute_fill_delta(XBTUSDT, 1_000, 5_001_000, 5_000_000) == 10_000


def test_fill_worse_than_bankruptcy_is_a_draw() -> None:
    assert compute_fill_delta(XBTUSDT, 1_000, 4_999_000, 5_000_000) == -10_000


def test_close_out_takes_surplus_then_stops_where_the_fund_runs_out() -> None:
    offers = [Fill(qty=2_000, price=5_001_000), Fill(qty=5_000, price=4_990_000), Fill(qty=5_000, price=4_900_000)]
    # fund 150_000 + surplus 2 x 10_000: the 49,900 level costs 100_000 a lot -> 1 lot, then the fund is short
    result = settle_close_out(XBTUSDT, 150_000, 10_000, 5_000_000, offers)
    assert result.accepted == (Fill(qty=2_000, price=5_001_000), Fill(qty=1_000, price=4_990_000))
    assert (result.fund_delta, result.unfilled_qty) == (20_000 - 100_000, 7_000)


def test_close_out_of_a_short_buys_from_the_asks() -> None:
    offers = [Fill(qty=1_000, price=4_999_000), Fill(qty=1_000, price=5_002_000)]
    result = settle_close_out(XBTUSDT, 0, -2_000, 5_000_000, offers)
    # the first buy is 10_000 better than bankruptcy; the second costs 20_000 a lot: none affordable
    assert (result.accepted, result.fund_delta, result.unfilled_qty) == (
        (Fill(qty=1_000, price=4_999_000),),
        10_000,
        1_000,
    )


def test_empty_fund_takes_no_fill_worse_than_bankruptcy() -> None:
    result = settle_close_out(XBTUSDT, 0, 1_000, 5_000_000, [Fill(qty=1_000, price=4_999_500)])
    assert (result.accepted, result.fund_delta, result.unfilled_qty) == ((), 0, 1_000)


@given(
    inst=instruments(),
    fund=st.integers(min_value=0, max_value=10**9),
    data=st.data(),
)
def test_close_out_never_takes_the_fund_below_zero(inst: Instrument, fund: int, data: st.DataObject) -> None:
    bankruptcy = data.draw(realistic_prices(inst))
    qty = data.draw(lots(inst, 50)) * data.draw(st.sampled_from((1, -1)))
    offers = data.draw(
        st.lists(st.builds(Fill, qty=lots(inst, 20), price=realistic_prices(inst)), max_size=5)
    )
    offers.sort(key=lambda fill: -fill.price if qty > 0 else fill.price)
    result = settle_close_out(inst, fund, qty, bankruptcy, offers)
    side = 1 if qty > 0 else -1
    recomputed = sum(compute_fill_delta(inst, side * fill.qty, fill.price, bankruptcy) for fill in result.accepted)
    assert (True, recomputed, abs(qty)) == (
        fund + result.fund_delta >= 0,
        result.fund_delta,
        result.unfilled_qty + sum(fill.qty for fill in result.accepted),
    )


def test_known_bad_uncapped_draw_takes_the_fund_below_zero() -> None:
    # KNOWN-BAD INS-002 replayed: fund 5_000, one lot 10_000 worse than bankruptcy
    good = compute_affordable_lots(XBTUSDT, 1, 4_999_000, 5_000_000, 5_000, 1)
    bad = compute_affordable_lots_uncapped(XBTUSDT, 1, 4_999_000, 5_000_000, 5_000, 1)
    fund_after = 5_000 + compute_fill_delta(XBTUSDT, bad * 1_000, 4_999_000, 5_000_000)
    assert (good, bad, fund_after) == (0, 1, -5_000)


def test_draw_is_capped_at_the_fund() -> None:
    assert (compute_draw(300, 500), compute_draw(1_000, 300), compute_draw(1_000, -5)) == (300, 300, 0)


def test_known_bad_uncapped_draw_exceeds_the_fund() -> None:
    assert compute_draw_uncapped(300, 500) == 500


def test_fund_movements_are_history_rows() -> None:
    fund = InsuranceFund(currency="XBt")
    fund = apply_fund_delta(fund, 1_000, 10)
    fund = apply_fund_delta(fund, -400, 20)
    rows = [(row.currency, row.timestamp_ms, row.wallet_balance) for row in get_insurance_rows([fund])]
    assert rows == [("XBt", 20, 600), ("XBt", 10, 1_000)]


def test_fund_deposit_must_be_positive() -> None:
    rejection = check_fund_deposit(InsuranceFund(currency="XBt"), "XBt", 0)
    assert rejection is not None
    assert rejection.reason == InsuranceReason.NON_POSITIVE_AMOUNT


def test_fund_deposit_needs_a_fund_of_that_currency() -> None:
    rejection = check_fund_deposit(None, "ETH", 100)
    assert rejection is not None
    assert rejection.reason == InsuranceReason.UNKNOWN_CURRENCY


def test_fill_delta_is_value_difference_for_inverse() -> None:
    inst = BUILTIN["XBTUSD"]
    expected = compute_value(inst, 100, 5_000_000) - compute_value(inst, 100, 4_000_000)
    assert expected == compute_fill_delta(inst, 100, 5_000_000, 4_000_000)
