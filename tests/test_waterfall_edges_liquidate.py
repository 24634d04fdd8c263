"""Liquidating one pool (LIQ-031) at its edges: stopping exactly at maintenance after each step.

Found by ``python -m tests.mutation rules/waterfall_liquidate.py`` (issue 13): LIQ-031 re-checks the pool after
each of BitMEX's steps — lower the risk limit to what position and orders fit (LIQ-021), cancel the orders
(LIQ-020) and lower again, then FillOrKill reductions (LIQ-022), then the take-over (LIQ-023) — and stops as
soon as the pool is no longer *below* maintenance.  Nothing pinned a pool brought exactly to maintenance by a
step: it must stop there (LIQ-003: liquidatable means equity − maintenance < 0).
"""

from __future__ import annotations

import attrs

from perpspec.rules.contract import compute_value
from perpspec.rules.events import InsuranceMovement, Liquidation, OrdersCancelled, RiskLimitLowered
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.liquidation import (
    compute_cover_takeover_price,
    compute_owing_takeover_price,
    compute_pool_residual,
    compute_requirement,
    compute_takeover_price,
)
from perpspec.rules.margin import CROSS
from perpspec.rules.position import Position
from perpspec.rules.waterfall import Holding, Ledger, Recorder, get_pool, liquidate_pool
from tests.strategies import BUILTIN

XBTUSD = BUILTIN["XBTUSD"]
MARK = 5_000_000  # 50,000.00
XBT = 10**8
KEY = "cross:XBt"


def _ledger(wallet: int, holding: Holding) -> Ledger:
    return Ledger(
        instrument_map={"XBTUSD": XBTUSD},
        marks={"XBTUSD": MARK},
        wallets={(1, "XBt"): wallet},
        holdings={(1, "XBTUSD"): holding},
        funds={"XBt": InsuranceFund(currency="XBt")},
    )


def _at_maintenance_on_tier(holding: Holding, tier: int) -> Ledger:
    """The ledger whose pool is exactly at maintenance once ``holding`` is on risk-limit step ``tier``."""
    probe = _ledger(100 * XBT, attrs.evolve(holding, chosen_tier=tier, open_order_qty=0))
    wallet = 100 * XBT - get_pool(probe, 1, KEY).excess
    ledger = _ledger(wallet, holding)
    assert get_pool(_ledger(wallet, attrs.evolve(holding, chosen_tier=tier)), 1, KEY).excess == 0
    assert get_pool(ledger, 1, KEY).excess < 0  # on its chosen (higher) step it is below maintenance
    return ledger


def _long(qty: int) -> Position:
    return Position(qty=qty, cost=compute_value(XBTUSD, qty, MARK))


def test_liq_021_a_pool_brought_exactly_to_maintenance_by_lowering_its_risk_limit_keeps_its_orders() -> None:
    # 2,000,000 USD long (40 XBT: fits step 0) on step 3 with 100 contracts resting: step 1 lowers the limit to
    # step 0, which leaves the pool exactly at maintenance: no cancel, no reduction, no take-over
    holding = Holding(position=_long(2_000_000), chosen_tier=3, open_order_qty=100)
    ledger = _at_maintenance_on_tier(holding, 0)
    rec = Recorder()
    after = liquidate_pool(ledger, {}, 1, KEY, rec)
    [lowered] = rec.events
    assert isinstance(lowered, RiskLimitLowered)
    assert (lowered.from_tier, lowered.to_tier) == (3, 0)
    assert after.holdings[(1, "XBTUSD")] == attrs.evolve(holding, chosen_tier=0)
    assert get_pool(after, 1, KEY).excess == 0


def test_liq_020_a_pool_brought_exactly_to_maintenance_by_cancelling_its_orders_is_not_reduced() -> None:
    # 12,500,000 USD long (250 XBT: step 1 by itself) with 7,500,000 resting (150 XBT more: step 2), chosen step 2:
    # nothing to lower while the orders rest; cancelling them lets the limit fall to step 1, exactly at maintenance:
    # no FillOrKill reduction is tried (its event would say so even with an empty book)
    holding = Holding(position=_long(12_500_000), chosen_tier=2, open_order_qty=7_500_000)
    ledger = _at_maintenance_on_tier(holding, 1)
    rec = Recorder()
    after = liquidate_pool(ledger, {}, 1, KEY, rec)
    cancelled, lowered = rec.events
    assert isinstance(cancelled, OrdersCancelled)
    assert isinstance(lowered, RiskLimitLowered)
    assert (cancelled.open_order_qty, cancelled.reason, lowered.from_tier, lowered.to_tier) == (
        7_500_000,
        "liquidation",
        2,
        1,
    )
    assert after.holdings[(1, "XBTUSD")] == attrs.evolve(holding, chosen_tier=1, open_order_qty=0)
    assert after.pending == ()


# -- LIQ-036: a pool of one position that already owes is taken over beyond the price range --------------------------


def test_liq_036_a_pool_of_one_owing_position_is_taken_over_beyond_max_price_and_the_trader_ends_at_zero() -> None:
    # a cross XBTUSDT long of 1,000 bought at maxPrice whose wallet already owes its whole entry value: no price in
    # [tickSize, maxPrice] covers it, so the liquidation engine takes it over at its unclamped bankruptcy price;
    # the trader ends at 0 (never owing), the pool's commission reserve goes to the fund
    inst = BUILTIN["XBTUSDT"]
    position = Position(qty=1_000, cost=compute_value(inst, 1_000, inst.max_price))
    ledger = Ledger(
        instrument_map={"XBTUSDT": inst},
        marks={"XBTUSDT": inst.max_price},
        wallets={(1, "USDt"): -position.cost},
        holdings={(1, "XBTUSDT"): Holding(position=position)},
        funds={"USDt": InsuranceFund(currency="USDt", balance=10**6)},
    )
    pool = get_pool(ledger, 1, "cross:USDt")
    reserve = compute_requirement(inst, position, CROSS, 0).pos_comm
    rec = Recorder()
    after = liquidate_pool(ledger, {}, 1, "cross:USDt", rec)
    liquidation, movement = rec.events
    assert isinstance(liquidation, Liquidation)
    assert isinstance(movement, InsuranceMovement)
    [taken] = liquidation.taken
    expected = compute_owing_takeover_price(inst, position, pool.margin, reserve)
    assert taken.takeover_price == expected > inst.max_price
    assert liquidation.residual_margin >= 0
    assert (movement.kind, movement.amount) == ("residual", liquidation.residual_margin)
    assert after.wallet(1, "USDt") == 0
    assert after.insurance("USDt") == 10**6 + liquidation.residual_margin
    assert [(p.qty, p.takeover_price) for p in after.pending] == [(1_000, expected)]


# -- INS-011: the pool's leftover margin to the satoshi -----------------------------------------------------------------


def _one_contract_without_fees(wallet: int) -> Ledger:
    # ETHUSD without a taker fee: no commission reserve, so the take-over leaves the pool less than one tick of value
    # (5 XBt for one contract): a cross long of 1 at 3,000.00 with ``wallet`` behind it is taken over at
    # 3,000.00 - wallet rounded up to the tick (toward the system)
    inst = attrs.evolve(BUILTIN["ETHUSD"], taker_fee_ppm=0)
    return Ledger(
        instrument_map={"ETHUSD": inst},
        marks={"ETHUSD": 300_000},
        wallets={(1, "XBt"): wallet},
        holdings={(1, "ETHUSD"): Holding(position=Position(qty=1, cost=compute_value(inst, 1, 300_000)))},
        funds={"XBt": InsuranceFund(currency="XBt", balance=10)},
    )


def test_ins_011_a_leftover_margin_of_one_satoshi_goes_to_the_fund_as_a_residual() -> None:
    ledger = _one_contract_without_fees(1_001)
    rec = Recorder()
    after = liquidate_pool(ledger, {}, 1, "cross:XBt", rec)
    liquidation, movement = rec.events
    assert isinstance(liquidation, Liquidation)
    assert isinstance(movement, InsuranceMovement)
    assert (liquidation.taken[0].takeover_price, liquidation.residual_margin) == (299_000, 1)
    assert (movement.rule_id, movement.kind, movement.amount, movement.pending_id) == ("INS-011", "residual", 1, -1)
    assert (after.wallet(1, "XBt"), after.insurance("XBt")) == (0, 11)


def test_ins_011_no_leftover_margin_moves_nothing() -> None:
    ledger = _one_contract_without_fees(1_000)
    rec = Recorder()
    after = liquidate_pool(ledger, {}, 1, "cross:XBt", rec)
    [liquidation] = rec.events
    assert isinstance(liquidation, Liquidation)
    assert liquidation.residual_margin == 0
    assert (after.wallet(1, "XBt"), after.insurance("XBt")) == (0, 10)


# -- LIQ-023 / LIQ-035: a cross pool of three contracts whose largest position absorbs the deficit ------------------------


def test_liq_023_a_cross_pool_of_three_contracts_has_its_other_two_positions_taken_over_at_the_mark() -> None:
    # longs of 1,000 ETHUSD, 50,000 XBTZ26 and 10,000 XBTUSD on 0.05 XBT: the ETHUSD long has the largest
    # maintenance and is taken over at its bankruptcy price, which absorbs the whole deficit (it is well inside the
    # price range), so the two others are taken over at their marks (LIQ-035 is not needed) and the pool's
    # commission reserve goes to the fund
    eth, xbt, z26 = BUILTIN["ETHUSD"], BUILTIN["XBTUSD"], BUILTIN["XBTZ26"]
    positions = {
        "ETHUSD": Position(qty=1_000, cost=compute_value(eth, 1_000, 300_000)),
        "XBTZ26": Position(qty=50_000, cost=compute_value(z26, 50_000, MARK)),
        "XBTUSD": Position(qty=10_000, cost=compute_value(xbt, 10_000, MARK)),
    }
    marks = {"ETHUSD": 290_000, "XBTUSD": 4_950_000, "XBTZ26": 4_950_000}
    ledger = Ledger(
        instrument_map={"ETHUSD": eth, "XBTUSD": xbt, "XBTZ26": z26},
        marks=marks,
        wallets={(1, "XBt"): 5_000_000},
        holdings={(1, symbol): Holding(position=position) for symbol, position in positions.items()},
        funds={"XBt": InsuranceFund(currency="XBt", balance=XBT)},
    )
    pool = get_pool(ledger, 1, KEY)
    assert pool.excess < 0
    rec = Recorder()
    after = liquidate_pool(ledger, {}, 1, KEY, rec)
    liquidation, movement = rec.events
    assert isinstance(liquidation, Liquidation)
    assert isinstance(movement, InsuranceMovement)
    eth_term = compute_value(eth, 1_000, 290_000) - positions["ETHUSD"].cost
    eth_comm = compute_requirement(eth, positions["ETHUSD"], CROSS, 0).pos_comm
    bankruptcy = compute_takeover_price(eth, positions["ETHUSD"], pool.equity - eth_term, eth_comm)
    assert [(t.symbol, t.takeover_price, t.pending_id) for t in liquidation.taken] == [
        ("ETHUSD", bankruptcy, 0),
        ("XBTZ26", 4_950_000, 1),
        ("XBTUSD", 4_950_000, 2),
    ]
    assert marks["ETHUSD"] < bankruptcy < 300_000
    # everything the pool had is accounted for: the trader ends at 0, the residual is the fund's
    assert after.wallet(1, "XBt") == 0
    assert (movement.amount, after.insurance("XBt")) == (liquidation.residual_margin, XBT + liquidation.residual_margin)
    assert liquidation.residual_margin >= 0


def test_liq_020_one_contract_resting_is_cancelled_when_its_pool_is_liquidated() -> None:
    eth = BUILTIN["ETHUSD"]
    position = Position(qty=10, cost=compute_value(eth, 10, 300_000))
    ledger = Ledger(
        instrument_map={"ETHUSD": eth},
        marks={"ETHUSD": 290_000},
        wallets={(1, "XBt"): 50_000},
        holdings={(1, "ETHUSD"): Holding(position=position, open_order_qty=1)},
        funds={"XBt": InsuranceFund(currency="XBt")},
    )
    rec = Recorder()
    after = liquidate_pool(ledger, {}, 1, KEY, rec)
    cancelled = rec.events[0]
    assert isinstance(cancelled, OrdersCancelled)
    assert (cancelled.rule_id, cancelled.account_id, cancelled.open_order_qty, cancelled.reason) == (
        "LIQ-020",
        1,
        1,
        "liquidation",
    )
    assert isinstance(rec.events[1], Liquidation)
    assert after.holdings[(1, "ETHUSD")].open_order_qty == 0


# -- LIQ-037: the last position of an owing cross pool absorbs the rest beyond the price range -----------------------------


def test_liq_037_the_last_position_of_an_owing_cross_pool_is_taken_over_beyond_max_price_and_the_trader_ends_at_0() -> None:
    # a cross pool owing 13 XBT: a 100,000 XBTUSD long (the larger maintenance: taken over first, at its bankruptcy
    # price clamped to maxPrice, which recovers only 1.9 XBT) and a 10 ETHUSD long.  The ETHUSD long is the last one
    # taken over, so it absorbs the rest at its unclamped price beyond maxPrice (LIQ-037): the trader ends at 0, the
    # fund is not drawn, and the liquidation engine holds the deficit (fund, then ADL)
    eth, xbt = BUILTIN["ETHUSD"], BUILTIN["XBTUSD"]
    holdings = {
        (1, "XBTUSD"): Holding(position=Position(qty=100_000, cost=compute_value(xbt, 100_000, MARK))),
        (1, "ETHUSD"): Holding(position=Position(qty=10, cost=compute_value(eth, 10, 300_000))),
    }
    ledger = Ledger(
        instrument_map={"ETHUSD": eth, "XBTUSD": xbt},
        marks={"ETHUSD": 300_000, "XBTUSD": MARK},
        wallets={(1, "XBt"): -13 * XBT},
        holdings=holdings,
        funds={"XBt": InsuranceFund(currency="XBt", balance=XBT)},
    )
    rec = Recorder()
    after = liquidate_pool(ledger, {}, 1, KEY, rec)
    [liquidation] = rec.events
    assert isinstance(liquidation, Liquidation)
    first, last = liquidation.taken
    assert (first.symbol, first.takeover_price) == ("XBTUSD", xbt.max_price)
    assert last.symbol == "ETHUSD"
    assert last.takeover_price > eth.max_price
    assert liquidation.residual_margin == 0
    assert (after.wallet(1, "XBt"), after.insurance("XBt")) == (0, XBT)


def test_liq_035_a_middle_position_covers_the_deficit_and_the_loss_of_the_positions_still_to_come() -> None:
    # a cross pool owing 5 XBT: 100,000 XBTUSD long (first, bankruptcy price clamped to maxPrice: recovers 1.9 XBT),
    # 10 ETHUSD long (second), 1,000 XBTZ26 long whose mark is 2% below its entry (last, 40,820 XBt down).  The
    # ETHUSD long is taken over beyond its mark as far as the deficit *and* the XBTZ26 loss at mark need, so the last
    # one is taken over at its mark (LIQ-035) and the trader ends at 0
    eth, xbt, z26 = BUILTIN["ETHUSD"], BUILTIN["XBTUSD"], BUILTIN["XBTZ26"]
    positions = {
        "XBTUSD": Position(qty=100_000, cost=compute_value(xbt, 100_000, MARK)),
        "ETHUSD": Position(qty=10, cost=compute_value(eth, 10, 300_000)),
        "XBTZ26": Position(qty=1_000, cost=compute_value(z26, 1_000, MARK)),
    }
    marks = {"ETHUSD": 300_000, "XBTUSD": MARK, "XBTZ26": 4_900_000}
    ledger = Ledger(
        instrument_map={"ETHUSD": eth, "XBTUSD": xbt, "XBTZ26": z26},
        marks=marks,
        wallets={(1, "XBt"): -5 * XBT},
        holdings={(1, symbol): Holding(position=position) for symbol, position in positions.items()},
        funds={"XBt": InsuranceFund(currency="XBt", balance=XBT)},
    )
    rec = Recorder()
    after = liquidate_pool(ledger, {}, 1, KEY, rec)
    liquidation = rec.events[0]
    assert isinstance(liquidation, Liquidation)
    first, middle, last = liquidation.taken
    assert (first.symbol, first.takeover_price) == ("XBTUSD", xbt.max_price)
    after_first = compute_pool_residual(xbt, 100_000, positions["XBTUSD"].cost, -5 * XBT, xbt.max_price)
    z26_term = compute_value(z26, 1_000, 4_900_000) - positions["XBTZ26"].cost
    assert z26_term < 0
    expected = compute_cover_takeover_price(eth, positions["ETHUSD"], after_first + z26_term, 300_000)
    assert (middle.symbol, middle.takeover_price) == ("ETHUSD", expected)
    assert 300_000 < expected < eth.max_price
    assert (last.symbol, last.takeover_price) == ("XBTZ26", 4_900_000)
    assert liquidation.residual_margin >= 0
    assert after.wallet(1, "XBt") == 0
