"""The rules' waterfall ledger at its edges: LIQ-003/LIQ-031's boundary, ACC-006 on a FillOrKill reduction and on a flip.

Found by ``python -m tests.mutation rules/waterfall.py``: nothing pinned a pool exactly at maintenance, the
isolated margin after a partial liquidation's FillOrKill (no premium: it only reduces), or a flipping fill whose
premium is funded only as far as the wallet *after* the realised PnL reaches (ACC-006, MRG-041).
"""

from __future__ import annotations

import attrs

from perpspec.rules.adl import RankedQueuePolicy
from perpspec.rules.contract import compute_value
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.liquidation import apply_partial_close, compute_requirement
from perpspec.rules.order_margin import compute_order_premium
from perpspec.rules.position import Position, apply_fill
from perpspec.rules.waterfall import (
    Holding,
    Ledger,
    Recorder,
    apply_holding_fill,
    apply_partial_fill,
    close_out,
    find_liquidatable,
    get_pool,
    get_pool_keys,
    liquidate_pool,
    process_fund_deposit,
)
from tests.strategies import BUILTIN
from tests.test_concrete_rules import _gapped_isolated_long

XBTUSD = BUILTIN["XBTUSD"]
XBT = 10**8
MARK = 5_000_000  # 50,000.00


def _ledger(wallet: int, holding: Holding, mark: int = MARK) -> Ledger:
    return Ledger(
        instrument_map={"XBTUSD": XBTUSD},
        marks={"XBTUSD": mark},
        wallets={(1, "XBt"): wallet},
        holdings={(1, "XBTUSD"): holding},
        funds={"XBt": InsuranceFund(currency="XBt")},
        deposits={"XBt": wallet - holding.position.cost},
    )


def _long(qty: int, price: int) -> Position:
    position, _ = apply_fill(XBTUSD, Position(qty=0, cost=0), qty, price)
    return position


# -- LIQ-003 / LIQ-031: a pool exactly at maintenance is not liquidated -----------------------------------


def test_liq_031_a_cross_pool_exactly_at_maintenance_is_left_alone() -> None:
    # a cross long of 2,000,000 USD on risk-limit step 3 (it fits step 0): a pool below maintenance would first
    # have its risk limit lowered (LIQ-021); one exactly at maintenance is not touched at all
    holding = Holding(position=_long(2_000_000, MARK), chosen_tier=3)
    probe = _ledger(10 * XBT, holding)
    [key] = get_pool_keys(probe, 1)
    at_maintenance = _ledger(10 * XBT - get_pool(probe, 1, key).excess, holding)
    assert get_pool(at_maintenance, 1, key).excess == 0
    rec = Recorder()
    assert (liquidate_pool(at_maintenance, {}, 1, key, rec), rec.events) == (at_maintenance, [])
    below = attrs.evolve(at_maintenance, wallets={(1, "XBt"): at_maintenance.wallet(1, "XBt") - 1})
    touched = Recorder()
    liquidate_pool(below, {}, 1, key, touched)
    assert touched.events  # one satoshi less and the waterfall starts (the example is on the edge)


# -- ACC-006: the isolated margin after a FillOrKill reduction -------------------------------------------------


def test_acc_006_a_partial_liquidation_keeps_the_rest_requirement_plus_the_extra_and_brings_no_premium() -> None:
    position = _long(100_000, MARK)
    req = compute_requirement(XBTUSD, position, 1_000, 0)  # 10x isolated
    extra = 12_345
    holding = Holding(position=position, leverage_hundredths=1_000, isolated_margin=req.pos_init + req.pos_comm + extra)
    ledger = _ledger(10 * XBT, holding)
    # 40,000 of the long closed in one FillOrKill execution at 49,000 (close_qty and its value signed like the
    # part of the position closed, LIQ-012)
    close_value = compute_value(XBTUSD, 40_000, 4_900_000)
    after = apply_partial_fill(ledger, 1, "XBTUSD", 40_000, close_value, 0)
    rest, realised = apply_partial_close(position, 40_000, close_value)
    assert rest.qty == 60_000
    rest_req = compute_requirement(XBTUSD, rest, 1_000, 0)
    freed = req.pos_init + req.pos_comm - rest_req.pos_init - rest_req.pos_comm
    # sold below the entry: the loss is paid from the requirement the closed part frees (ACC-006, attack review 2)
    assert (realised < 0, freed + realised > 0) == (True, True)
    assert after.holdings[(1, "XBTUSD")].isolated_margin == rest_req.pos_init + rest_req.pos_comm + extra


# -- ACC-006 / MRG-041: a flip's premium is funded from the wallet after the realised PnL --------------------


def test_acc_006_a_flip_below_mark_funds_its_premium_only_from_the_wallet_left_after_the_realised_loss() -> None:
    position = _long(100_000, MARK)
    req = compute_requirement(XBTUSD, position, 1_000, 0)
    margin = req.pos_init + req.pos_comm
    ledger = _ledger(margin, Holding(position=position, leverage_hundredths=1_000, isolated_margin=margin))
    price = 4_900_000  # sell 200,000 at 49,000: closes the long at a loss, opens a short 2% below mark
    after = apply_holding_fill(ledger, 1, "XBTUSD", -200_000, price)
    short, realised = apply_fill(XBTUSD, position, -200_000, price)
    short_req = compute_requirement(XBTUSD, short, 1_000, 0)
    premium = compute_order_premium(XBTUSD, -100_000, price, MARK)
    kept = short_req.pos_init + short_req.pos_comm  # a flip opens the new side from flat (ACC-006, attack review 2)
    assert (realised < 0, premium > 0) == (True, True)
    # the whole wallet after the loss is less than the requirement: the new side keeps its requirement (MRG-060's
    # charge; the old long's loss is the wallet's, never the new short's) and gets no premium
    assert margin + realised < kept
    assert after.holdings[(1, "XBTUSD")].isolated_margin == kept


# -- LIQ-023 / LIQ-034: take-over ids are dense from 0, as the engine numbers them -----------------------------


def test_liq_034_a_cross_pool_of_two_contracts_is_taken_over_as_close_outs_0_and_1() -> None:
    ethusd = BUILTIN["ETHUSD"]
    holdings = {
        (1, "XBTUSD"): Holding(position=_long(100_000, MARK)),
        (1, "ETHUSD"): Holding(position=apply_fill(ethusd, Position(qty=0, cost=0), 100, 300_000)[0]),
    }
    ledger = Ledger(
        instrument_map={"XBTUSD": XBTUSD, "ETHUSD": ethusd},
        marks={"XBTUSD": MARK, "ETHUSD": 300_000},
        wallets={(1, "XBt"): 1_000},  # far below maintenance
        holdings=holdings,
        funds={"XBt": InsuranceFund(currency="XBt")},
        deposits={"XBt": 1_000},
    )
    [key] = get_pool_keys(ledger, 1)
    after = liquidate_pool(ledger, {}, 1, key, Recorder())
    ids = sorted(item.pending_id for item in after.pending)
    assert (ids, after.next_pending_id) == ([0, 1], 2)


# -- INS-008: the smallest deposit into the fund ---------------------------------------------------------------


def test_ins_008_a_one_satoshi_fund_deposit_raises_fund_and_net_deposits_by_one() -> None:
    ledger = _ledger(XBT, Holding())
    after, _ = process_fund_deposit(ledger, "XBt", 1)
    assert (after.insurance("XBt"), after.deposits["XBt"]) == (
        ledger.insurance("XBt") + 1,
        ledger.deposits["XBt"] + 1,
    )


# -- LIQ-033: who is found and in which order --------------------------------------------------------------


def _ethusd_longs(wallets: dict[int, int], qtys: dict[int, int], mark: int) -> Ledger:
    ethusd = BUILTIN["ETHUSD"]
    holdings = {
        (account, "ETHUSD"): Holding(position=apply_fill(ethusd, Position(qty=0, cost=0), qty, 300_000)[0])
        for account, qty in qtys.items()
    }
    return Ledger(
        instrument_map={"ETHUSD": ethusd},
        marks={"ETHUSD": mark},
        wallets={(account, "XBt"): amount for account, amount in wallets.items()},
        holdings=holdings,
        funds={"XBt": InsuranceFund(currency="XBt")},
        deposits={"XBt": sum(wallets.values())},
    )


def test_liq_033_account_0_below_maintenance_is_found() -> None:
    ledger = _ethusd_longs({0: 5_000}, {0: 1}, 290_000)
    assert find_liquidatable(ledger, "ETHUSD") == [(0, get_pool_keys(ledger, 0)[0])]


def test_liq_033_a_long_of_one_contract_is_ordered_with_the_longs_by_liquidation_price() -> None:
    # mark 2,900 from 3,000: account 2 (1 contract, 5,000 behind it) has the higher liquidation price than
    # account 1 (2 contracts, 10,000 each): the falling mark reached account 2 first
    ledger = _ethusd_longs({1: 20_000, 2: 5_000}, {1: 2, 2: 1}, 290_000)
    assert [account for account, _ in find_liquidatable(ledger, "ETHUSD")] == [2, 1]


def test_liq_033_a_pool_exactly_at_maintenance_is_not_found() -> None:
    probe = _ethusd_longs({1: 20_000}, {1: 2}, 290_000)
    [key] = get_pool_keys(probe, 1)
    at_maintenance = _ethusd_longs({1: 20_000 - get_pool(probe, 1, key).excess}, {1: 2}, 290_000)
    below = _ethusd_longs({1: 20_000 - get_pool(probe, 1, key).excess - 1}, {1: 2}, 290_000)
    assert (find_liquidatable(at_maintenance, "ETHUSD"), find_liquidatable(below, "ETHUSD")) == ([], [(1, key)])


# -- ADL-021: a shortfall only when something is left ------------------------------------------------------


def test_adl_021_a_close_out_adl_covers_in_full_reports_no_shortfall() -> None:
    # the gapped isolated long of tests/test_concrete_rules.py: no book, no fund, one opposite short takes it all
    gapped = _gapped_isolated_long(4_700_000)
    key = next(k for k in get_pool_keys(gapped, 1) if "XBTUSD" in k)
    ledger = liquidate_pool(gapped, {}, 1, key, Recorder())
    rec = Recorder()
    _, rest = close_out(ledger, {}, ledger.pending[0], RankedQueuePolicy(), rec)
    kinds = [type(event).__name__ for event in rec.events]
    assert (rest, "AdlFill" in kinds, "AdlShortfall" in kinds) == (0, True, False)


def test_the_liquidation_engine_is_account_minus_1_in_the_rules_as_in_the_engine() -> None:
    # the invariants read both through one ExchangeView: the held close-outs must sit on the same account id
    from perpspec.engine.core.ledger import LIQUIDATOR

    ledger = _ethusd_longs({1: 5_000}, {1: 1}, 290_000)
    [key] = get_pool_keys(ledger, 1)
    after = liquidate_pool(ledger, {}, 1, key, Recorder())
    assert (LIQUIDATOR, after.account_ids()) == (-1, [-1, 1])
    assert after.positions(-1)["ETHUSD"].qty == 1
