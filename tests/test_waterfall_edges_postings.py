"""The waterfall's postings and state at their one-unit edges: ACC-003/006, MRG-041, INS-008, LIQ-030.

Found by ``python -m tests.mutation rules/waterfall_postings.py rules/waterfall_state.py`` (issue 13): nothing
pinned which part of a position change *opens* (the part whose premium against mark the isolated pool must
bring, MRG-041) for one-contract moves, a premium of exactly one unit or of zero with a tight wallet, the
isolated ``posCross`` the ledger reports, a wallet or deposit row that does not exist yet, or a one-contract
isolated pool.  Every test calls the rule functions on a small ledger and asserts the exact amounts.
"""

from __future__ import annotations

import pytest

from perpspec.rules.contract import compute_value
from perpspec.rules.events import InsuranceMovement
from perpspec.rules.instrument import Instrument
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.invariants import StepInfo, check_conservation
from perpspec.rules.liquidation import apply_partial_close, compute_requirement
from perpspec.rules.margin import MarginSetting
from perpspec.rules.position import Position, apply_fill
from perpspec.rules.waterfall import (
    Holding,
    Ledger,
    apply_holding_fill,
    apply_partial_fill,
    compute_isolated_margin_after_fill,
    get_fund_cover,
    get_opened_qty,
    get_pool,
    get_pool_keys,
    process_fund_deposit,
)
from tests.strategies import BUILTIN

XBTUSD, ETHUSD = BUILTIN["XBTUSD"], BUILTIN["ETHUSD"]
XBT = 10**8


def _position(inst: Instrument, qty: int, price: int) -> Position:
    position, _ = apply_fill(inst, Position(qty=0, cost=0), qty, price)
    return position


# -- MRG-041 / ACC-006: which part of a fill opens ---------------------------------------------------------------

OPENED = [
    # (old, new, opened): from flat everything opens; growing on one side opens the growth; a reduction opens
    # nothing; a flip opens the whole new position
    (0, 1, 1),
    (0, -1, -1),
    (1, 2, 1),
    (-1, -2, -1),
    (2, 1, 0),
    (-2, -1, 0),
    (1, 1, 0),
    (-1, -1, 0),
    (2, 0, 0),
    (-2, 0, 0),
    (1, -1, -1),
    (-1, 1, 1),
    (2, 5, 3),
    (5, 2, 0),
    (1, -3, -3),
    (-3, 2, 2),
]


@pytest.mark.parametrize(("old", "new", "opened"), OPENED)
def test_mrg_041_the_opened_part_of_a_one_contract_position_change(old: int, new: int, opened: int) -> None:
    assert get_opened_qty(old, new) == opened


# -- ACC-006: the premium of an opening fill, at its edges --------------------------------------------------------


def test_acc_006_a_premium_of_one_unit_joins_the_pool_when_the_wallet_has_it() -> None:
    # old margin 1,000 on a requirement of 900 (extra 100), new requirement 1,800, no realised PnL:
    # kept = 1,800 + 100 = 1,900; one unit of premium, and the wallet beyond other isolated pools has exactly it
    assert compute_isolated_margin_after_fill(1_000, 900, 1_800, 0, 1, 1_901, 10**9, 1, 2) == 1_901
    # without the unit in the wallet the pool gets what the wallet has, never more
    assert compute_isolated_margin_after_fill(1_000, 900, 1_800, 0, 1, 1_900, 10**9, 1, 2) == 1_900


def test_acc_006_with_no_wallet_left_a_premium_fill_keeps_the_requirement_and_adds_no_premium() -> None:
    # the requirement is not limited by the unallocated wallet (attack review 2): from a wallet already spent (0 or
    # below) the pool keeps the new requirement, 1,800, as a fill at the mark would, and gets no premium; the 100
    # extra it held goes back to the wallet (ACC-006's bound: never more than the wallet, or the requirement)
    assert compute_isolated_margin_after_fill(1_000, 900, 1_800, 0, 5, 0, 10**9, 1, 2) == 1_800
    assert compute_isolated_margin_after_fill(1_000, 900, 1_800, 0, 5, -3, 10**9, 1, 2) == 1_800
    # one unit of the premium when the wallet has one unit beyond the 1,900 kept
    assert compute_isolated_margin_after_fill(1_000, 900, 1_800, 0, 5, 1_901, 10**9, 1, 2) == 1_901


def test_acc_006_a_fill_at_or_better_than_mark_brings_no_premium_and_keeps_the_whole_requirement() -> None:
    # premium 0: the pool holds the new requirement whatever the unallocated wallet shows (the order's initial
    # margin was set aside when it was placed), and its extra as far as the wallet holds it: 1,900 when the
    # wallet beyond the other pools holds 1,900 or more, the bare requirement below
    assert compute_isolated_margin_after_fill(1_000, 900, 1_800, 0, 0, 1_900, 10**9, 1, 2) == 1_900
    assert compute_isolated_margin_after_fill(1_000, 900, 1_800, 0, 0, 1_850, 10**9, 1, 2) == 1_850
    assert compute_isolated_margin_after_fill(1_000, 900, 1_800, 0, 0, 500, 10**9, 1, 2) == 1_800
    assert compute_isolated_margin_after_fill(1_000, 900, 1_800, 0, 0, -5, 10**9, 1, 2) == 1_800


def test_acc_006_an_isolated_add_one_tick_worse_than_mark_funds_exactly_its_premium() -> None:
    # ETHUSD isolated 10x long of 10 @ 3,000.00; buy 1 more at 3,000.05 with the mark at 3,000.00: the premium
    # is the loss against mark of the one contract opened, and the wallet has plenty
    mark = 300_000
    position = _position(ETHUSD, 10, mark)
    req = compute_requirement(ETHUSD, position, 1_000, 0)
    margin = req.pos_init + req.pos_comm
    ledger = Ledger(
        instrument_map={"ETHUSD": ETHUSD},
        marks={"ETHUSD": mark},
        wallets={(1, "XBt"): XBT},
        holdings={(1, "ETHUSD"): Holding(position=position, leverage_hundredths=1_000, isolated_margin=margin)},
        funds={"XBt": InsuranceFund(currency="XBt")},
    )
    after = apply_holding_fill(ledger, 1, "ETHUSD", 1, mark + 5)
    grown = after.holdings[(1, "ETHUSD")]
    new_req = compute_requirement(ETHUSD, grown.position, 1_000, 0)
    premium = compute_value(ETHUSD, 1, mark + 5) - compute_value(ETHUSD, 1, mark)
    assert (grown.position.qty, premium > 0) == (11, True)
    assert grown.isolated_margin == new_req.pos_init + new_req.pos_comm + premium
    assert after.wallet(1, "XBt") == XBT  # opening realises nothing


# -- ACC-003: a fill for an account with no wallet row yet ----------------------------------------------------------


def test_acc_003_a_profit_realised_by_an_account_without_a_wallet_row_is_exactly_its_wallet() -> None:
    # account 7 holds a cross long of 10 ETHUSD but no wallet row (a maker the ledger was built without):
    # closing it 1.00 higher realises exactly the PnL, starting from 0
    position = _position(ETHUSD, 10, 300_000)
    ledger = Ledger(
        instrument_map={"ETHUSD": ETHUSD},
        marks={"ETHUSD": 300_100},
        wallets={},
        holdings={(7, "ETHUSD"): Holding(position=position)},
        funds={"XBt": InsuranceFund(currency="XBt")},
    )
    after = apply_holding_fill(ledger, 7, "ETHUSD", -10, 300_100)
    _, realised = apply_fill(ETHUSD, position, -10, 300_100)
    assert realised > 0
    assert after.wallets[(7, "XBt")] == realised
    # flat, and a cross holding sets no margin aside
    assert after.holdings[(7, "ETHUSD")] == Holding(position=Position(qty=0, cost=0))


def test_liq_012_a_fill_or_kill_reduction_of_an_account_without_a_wallet_row_posts_exactly_its_realised_pnl() -> None:
    # account 7: a cross long of 10 ETHUSD from 3,000.00 and no wallet row; 4 closed in one execution at 3,010.00
    position = _position(ETHUSD, 10, 300_000)
    ledger = Ledger(
        instrument_map={"ETHUSD": ETHUSD},
        marks={"ETHUSD": 301_000},
        wallets={},
        holdings={(7, "ETHUSD"): Holding(position=position, chosen_tier=1)},
        funds={"XBt": InsuranceFund(currency="XBt")},
    )
    close_value = compute_value(ETHUSD, 4, 301_000)
    after = apply_partial_fill(ledger, 7, "ETHUSD", 4, close_value, 0)
    kept, realised = apply_partial_close(position, 4, close_value)
    assert realised > 0
    assert after.wallets[(7, "XBt")] == realised
    assert after.holdings[(7, "ETHUSD")] == Holding(position=kept, chosen_tier=0)


# -- INS-008 / ADL-031: a currency without deposits or without a fund -------------------------------------------------


def test_ins_008_the_first_deposit_of_a_currency_is_its_net_deposits() -> None:
    ledger = Ledger(
        instrument_map={"XBTUSD": XBTUSD},
        marks={"XBTUSD": 5_000_000},
        wallets={},
        holdings={},
        funds={"XBt": InsuranceFund(currency="XBt")},
    )
    after, movement = process_fund_deposit(ledger, "XBt", 250)
    assert (after.deposits["XBt"], after.insurance("XBt")) == (250, 250)
    # the movement belongs to no close-out and no contract
    assert movement == InsuranceMovement(
        rule_id="INS-008",
        currency="XBt",
        kind="deposit",
        amount=250,
        balance_before=0,
        balance_after=250,
        timestamp_ms=0,
        symbol="",
        pending_id=-1,
    )


def test_adl_031_a_currency_without_a_fund_has_nothing_to_cover_with() -> None:
    ledger = Ledger(
        instrument_map={"XBTUSD": XBTUSD},
        marks={"XBTUSD": 5_000_000},
        wallets={},
        holdings={},
        funds={},
    )
    assert (ledger.insurance("XBt"), get_fund_cover(ledger, "XBt")) == (0, 0)


# -- the ledger's view of an isolated holding ----------------------------------------------------------------------------


def test_an_isolated_holding_reports_its_margin_above_posinit_plus_poscomm_as_poscross() -> None:
    position = _position(XBTUSD, 100_000, 5_000_000)
    req = compute_requirement(XBTUSD, position, 2_500, 0)
    extra = 4_321
    holding = Holding(position=position, leverage_hundredths=2_500, isolated_margin=req.pos_init + req.pos_comm + extra)
    ledger = Ledger(
        instrument_map={"XBTUSD": XBTUSD},
        marks={"XBTUSD": 5_000_000},
        wallets={(1, "XBt"): XBT},
        holdings={(1, "XBTUSD"): holding, (2, "XBTUSD"): Holding(position=position)},
        funds={"XBt": InsuranceFund(currency="XBt")},
    )
    assert req.pos_comm > 0  # both parts of the requirement are taken off, not only posInit
    assert ledger.margin_setting(1, "XBTUSD") == MarginSetting(leverage_hundredths=2_500, pos_cross=extra)
    assert ledger.margin_setting(2, "XBTUSD") == MarginSetting()


def test_liq_030_an_isolated_pool_of_one_contract_holds_it() -> None:
    # ETHUSD lot 1: a one-contract isolated long is the pool's member, with its maintenance
    position = _position(ETHUSD, 1, 300_000)
    req = compute_requirement(ETHUSD, position, 1_000, 0)
    holding = Holding(position=position, leverage_hundredths=1_000, isolated_margin=req.pos_init + req.pos_comm)
    ledger = Ledger(
        instrument_map={"ETHUSD": ETHUSD},
        marks={"ETHUSD": 300_000},
        wallets={(1, "XBt"): XBT},
        holdings={(1, "ETHUSD"): holding},
        funds={"XBt": InsuranceFund(currency="XBt")},
    )
    assert get_pool_keys(ledger, 1) == ["isolated:ETHUSD"]
    pool = get_pool(ledger, 1, "isolated:ETHUSD")
    assert (pool.symbols, pool.margin, pool.maintenance) == (("ETHUSD",), holding.isolated_margin, req.pos_maint)
    assert pool.equity == holding.isolated_margin  # at its entry price: no unrealised PnL


# -- the ledger's defaults: the epoch, and an isolated holding given no margin ---------------------------------------


def test_ins_004_a_ledger_given_no_clock_is_at_time_0_and_its_fund_rows_say_so() -> None:
    ledger = Ledger(
        instrument_map={"XBTUSD": XBTUSD},
        marks={"XBTUSD": 5_000_000},
        wallets={},
        holdings={},
        funds={"XBt": InsuranceFund(currency="XBt")},
    )
    after, movement = process_fund_deposit(ledger, "XBt", 1)
    assert (ledger.clock_ms, movement.timestamp_ms) == (0, 0)
    assert [row.timestamp_ms for row in after.funds["XBt"].history] == [0]


def test_liq_030_an_isolated_holding_given_no_margin_has_a_pool_of_its_unrealised_pnl_only() -> None:
    position = _position(ETHUSD, 10, 300_000)
    ledger = Ledger(
        instrument_map={"ETHUSD": ETHUSD},
        marks={"ETHUSD": 301_000},
        wallets={(1, "XBt"): XBT},
        holdings={(1, "ETHUSD"): Holding(position=position, leverage_hundredths=1_000)},
        funds={"XBt": InsuranceFund(currency="XBt")},
    )
    pool = get_pool(ledger, 1, "isolated:ETHUSD")
    unrealised = compute_value(ETHUSD, 10, 301_000) - position.cost
    assert (pool.margin, pool.equity) == (0, unrealised)
    # and the whole wallet stays with the cross side
    assert get_pool(ledger, 1, "cross:XBt").margin == XBT


def test_inv_conservation_holds_on_a_ledger_without_deposit_rows_when_no_money_came_in() -> None:
    # a long and a short at one price, no wallet, no fund balance, no deposit row: nothing came in, nothing is owed
    long = _position(ETHUSD, 3, 300_000)
    ledger = Ledger(
        instrument_map={"ETHUSD": ETHUSD},
        marks={"ETHUSD": 300_000},
        wallets={},
        holdings={(1, "ETHUSD"): Holding(position=long), (2, "ETHUSD"): Holding(position=_position(ETHUSD, -3, 300_000))},
        funds={"XBt": InsuranceFund(currency="XBt")},
    )
    assert ledger.net_deposits("XBt") == 0
    assert check_conservation(ledger, StepInfo()) == []


def test_acc_006_a_premium_cannot_use_the_margin_of_the_accounts_other_isolated_pool_in_the_same_currency() -> None:
    # account 1: isolated 10x longs of 10 ETHUSD and 100,000 XBTUSD, both margined in XBt; its wallet holds both
    # margins, the requirement the 11th ETHUSD adds, and 40 XBt more.  Adding 1 ETHUSD 1.00 above the mark brings a
    # premium of 100 XBt... as far as the wallet beyond the *XBTUSD* pool's margin reaches: exactly the 40 spare,
    # never the XBTUSD pool's money (and the requirement is kept whole, as on a fill at the mark)
    mark = 300_000
    eth = _position(ETHUSD, 10, mark)
    xbt = _position(XBTUSD, 100_000, 5_000_000)
    eth_req = compute_requirement(ETHUSD, eth, 1_000, 0)
    xbt_req = compute_requirement(XBTUSD, xbt, 1_000, 0)
    eth_margin = eth_req.pos_init + eth_req.pos_comm
    xbt_margin = xbt_req.pos_init + xbt_req.pos_comm
    new_req = compute_requirement(ETHUSD, apply_fill(ETHUSD, eth, 1, mark + 100)[0], 1_000, 0)
    kept = new_req.pos_init + new_req.pos_comm
    ledger = Ledger(
        instrument_map={"ETHUSD": ETHUSD, "XBTUSD": XBTUSD},
        marks={"ETHUSD": mark, "XBTUSD": 5_000_000},
        wallets={(1, "XBt"): kept + xbt_margin + 40},
        holdings={
            (1, "ETHUSD"): Holding(position=eth, leverage_hundredths=1_000, isolated_margin=eth_margin),
            (1, "XBTUSD"): Holding(position=xbt, leverage_hundredths=1_000, isolated_margin=xbt_margin),
        },
        funds={"XBt": InsuranceFund(currency="XBt")},
    )
    after = apply_holding_fill(ledger, 1, "ETHUSD", 1, mark + 100)
    grown = after.holdings[(1, "ETHUSD")]
    premium = compute_value(ETHUSD, 1, mark + 100) - compute_value(ETHUSD, 1, mark)
    assert (grown.position.qty, premium) == (11, 100)
    assert grown.isolated_margin == kept + 40
    assert after.holdings[(1, "XBTUSD")].isolated_margin == xbt_margin
