"""SET-001, IDX-007, INS-005/006 at their edges: exact TWAPs, never-reported constituents, one-contract close-outs.

Written against mutation survivors: each case is a value where a one-token slip changes the answer.
"""

from __future__ import annotations

from perpspec.rules.index import Constituent, IndexParams, IndexState, is_fresh
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.insurance import (
    Fill,
    InsuranceFund,
    InsuranceReason,
    check_fund_deposit,
    settle_close_out,
)
from perpspec.rules.position import Position
from perpspec.rules.settlement import PositionSettled, compute_twap


def test_set_001_twap_is_exact_over_uneven_holding_times() -> None:
    # 100 for 1 ms, 200 for 2 ms, 400 for 5 ms over [0, 8): (100 + 400 + 2000) / 8 = 312.5 -> 313 (half up)
    assert compute_twap(((0, 100), (1, 200), (3, 400)), 0, 8) == (313, 3)
    assert compute_twap(((0, 100),), 0, 1) == (100, 1)  # one sample for one millisecond is its price
    assert compute_twap(((5, 7),), 0, 6) == (7, 1)  # the window starts at the first sample
    assert compute_twap(((9, 7),), 0, 6) is None


def test_set_003_a_settled_positions_wallet_moves_by_realised_pnl_less_the_fee() -> None:
    settled = PositionSettled(
        account_id=1, qty=100, cost=-1_000, realised_pnl=500, fee=30, position=Position(), fee_forgone=5
    )
    assert settled.wallet_delta == 470  # the fee charged (SET-006); what was forgone moves nothing


def test_idx_007_a_constituent_is_fresh_only_with_a_reported_price_younger_than_the_limit() -> None:
    params = IndexParams()
    assert (params.stale_after_ms, params.reinstate_after_ms, params.band_ppm, params.min_constituents) == (
        900_000,
        300_000,
        50_000,  # 5% from the median
        2,
    )
    never = Constituent(reference="BSTP", weight=1)
    assert (never.price, never.updated_ms) == (0, 0)
    assert not is_fresh(params, never, 1)  # never reported: not fresh, however recent the clock
    one_unit = Constituent(reference="BSTP", weight=1, price=1, updated_ms=0)
    assert is_fresh(params, one_unit, 899_999)  # any positive price counts
    assert not is_fresh(params, one_unit, 900_000)
    state = IndexState(constituents=(never,))
    assert (state.value, state.held, state.time_ms) == (0, False, 0)


def test_ins_006_a_deposit_of_one_minor_unit_is_accepted_and_zero_is_not() -> None:
    fund = InsuranceFund(currency="XBt")
    assert check_fund_deposit(fund, "XBt", 1) is None
    refused = check_fund_deposit(fund, "XBt", 0)
    assert refused is not None
    assert refused.reason is InsuranceReason.NON_POSITIVE_AMOUNT


def test_ins_005_a_one_contract_position_is_closed_in_full_on_its_own_side() -> None:
    eth = load_instrument("ETHUSD")  # lots of 1 contract
    assert eth.lot_size == 1
    for qty in (1, -1):
        # the fund is empty: only an offer at the bankruptcy price costs nothing
        close_out = settle_close_out(eth, 0, qty, 30_000, [Fill(qty=1, price=30_000)])
        assert (close_out.unfilled_qty, close_out.fund_delta, len(close_out.accepted)) == (0, 0, 1), qty
        # an offer worse than the bankruptcy price for this side is not affordable with an empty fund
        worse = 29_000 if qty > 0 else 31_000
        assert settle_close_out(eth, 0, qty, 30_000, [Fill(qty=1, price=worse)]).unfilled_qty == 1, qty
