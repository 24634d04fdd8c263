"""LIQ-040..049 at their boundaries: unit quantities, equity exactly 0, and the engine posting what LIQ-040 says.

Written against the survivors of the mutation run (tests/mutation.py): each test states a property of the
rule at a value where a one-token slip (``>`` for ``>=``, ``0`` for ``1``, ``+`` for ``-``) changes the answer.
"""

from __future__ import annotations

import itertools

import attrs

from perpspec.api import Exchange
from perpspec.engine.core.ledger import peek_position
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.margin import CROSS
from perpspec.rules.position import FLAT, Position, apply_fill
from perpspec.rules.solvency import (
    PoolState,
    check_order_solvency,
    compute_fill_outcome,
    compute_opened_qty,
    compute_pool_equity,
    compute_reducing_qty,
    is_execution_safe,
    is_fill_solvent,
    is_order_solvent,
)
from perpspec.rules.waterfall import Holding, Ledger, get_isolated_margin_after_fill, get_opened_qty

XBTUSD = load_instrument("XBTUSD")
PX = XBTUSD.price_scale
FEE = XBTUSD.taker_fee_ppm
UNITS = range(-3, 4)


def test_liq_045_opened_qty_is_the_engine_helpers_for_every_small_position_change() -> None:
    # unit quantities (ETHUSD and the linear contracts trade in lots of 1): a slip at 0/1 shows
    for old, new in itertools.product(UNITS, UNITS):
        assert compute_opened_qty(old, new) == get_opened_qty(old, new), (old, new)


def test_liq_046_reducing_qty_is_the_overlap_of_opposite_sides_for_every_small_pair() -> None:
    for position, order in itertools.product(UNITS, UNITS):
        expected = min(abs(position), abs(order)) if position * order < 0 else 0
        assert compute_reducing_qty(position, order) == expected, (position, order)


def test_liq_041_an_order_leaving_the_pool_exactly_at_maintenance_is_safe() -> None:
    # excess after = 0 is "at maintenance": safe even when the order makes the pool worse
    assert is_execution_safe(5, 0)
    assert is_execution_safe(1, 0)
    assert not is_execution_safe(1, -1)


def test_liq_043_equity_exactly_zero_or_unchanged_is_solvent() -> None:
    # (pool before, pool after, account before, account after)
    assert is_fill_solvent(5, 0, 5, 5)  # the pool ends at exactly 0
    assert is_fill_solvent(5, 5, 5, 0)  # the account ends at exactly 0
    assert is_fill_solvent(-5, -5, 5, 5)  # an insolvent pool left no worse
    assert is_fill_solvent(5, 5, -5, -5)  # an insolvent account left no worse
    assert not is_fill_solvent(5, -1, 5, 5)
    assert not is_fill_solvent(5, 5, 5, -1)
    assert not is_fill_solvent(-5, -6, 5, 5)
    assert not is_fill_solvent(5, 5, -5, -6)


def _isolated_long(leverage: int, qty: int, entry: int, wallet: int) -> PoolState:
    position, _ = apply_fill(XBTUSD, FLAT, qty, entry)
    req = compute_requirement(XBTUSD, position, leverage, 0)
    margin = req.pos_init + req.pos_comm
    return PoolState(
        position=position, leverage_hundredths=leverage, chosen_tier=0, pool_margin=margin, other_pnl=0,
        other_maintenance=0, free_wallet=wallet - margin, account_equity=wallet, available=0,
    )  # fmt: skip


def _refused_below_maintenance_while_solvent() -> tuple[PoolState, int]:
    """An isolated 100x long 60,000 @ 9,000 selling half at the first price that leaves it below maintenance."""
    pool = _isolated_long(10_000, 60_000, 9_000 * PX, 10**8)
    for price in range(9_000 * PX, 8_000 * PX, -XBTUSD.tick_size):
        outcome = compute_fill_outcome(XBTUSD, pool, -30_000, price, FEE, 9_000 * PX)
        if outcome.retained_equity - outcome.maintenance < 0:
            return pool, price
    raise AssertionError("no such price")


def test_liq_042_a_partial_sale_leaving_the_pool_below_maintenance_is_refused_though_equity_stays_positive() -> None:
    pool, price = _refused_below_maintenance_while_solvent()
    outcome = compute_fill_outcome(XBTUSD, pool, -30_000, price, FEE, 9_000 * PX)
    assert min(outcome.maintenance, outcome.retained_equity, outcome.account_equity) > 0
    assert not is_order_solvent(XBTUSD, pool, -30_000, price, FEE, 9_000 * PX)
    rejection = check_order_solvency(XBTUSD, pool, -30_000, price, FEE, 9_000 * PX)
    assert rejection is not None
    # the refusal reports LIQ-002's excess (equity − maintenance) before and after
    after, realised = apply_fill(XBTUSD, pool.position, -30_000, price)
    equity = pool.pool_margin + realised - outcome.commission + compute_value(XBTUSD, after.qty, 9_000 * PX) - after.cost
    maintenance = compute_requirement(XBTUSD, after, 10_000, 0).pos_maint
    assert rejection.excess_after == equity - maintenance < 0
    before_maint = compute_requirement(XBTUSD, pool.position, 10_000, 0).pos_maint
    assert rejection.excess_before == pool.pool_margin - before_maint > 0
    # the same sale at mark is accepted
    assert check_order_solvency(XBTUSD, pool, -30_000, 9_000 * PX, FEE, 9_000 * PX) is None


def test_liq_042_an_order_reducing_by_one_contract_is_judged() -> None:
    # a long of 1 contract (a lot-1 contract) sold through its bankruptcy price: the one contract reduces
    eth = load_instrument("ETHUSD")
    position, _ = apply_fill(eth, FLAT, 1, 30_000)
    req = compute_requirement(eth, position, 10_000, 0)
    margin = req.pos_init + req.pos_comm
    pool = PoolState(
        position=position, leverage_hundredths=10_000, chosen_tier=0, pool_margin=margin, other_pnl=0,
        other_maintenance=0, free_wallet=0, account_equity=margin, available=0,
    )  # fmt: skip
    assert compute_reducing_qty(1, -1) == 1
    assert not is_order_solvent(eth, pool, -1, 20_000, eth.taker_fee_ppm, 30_000)


def _pool_before(ex: Exchange, account: int, symbol: str) -> tuple[PoolState, int, int]:
    engine = ex.engine
    holder = engine.ledger.accounts[account]
    inst = engine.market.instrument_map[symbol]
    pool = engine.risk.pool_state(holder, inst, peek_position(holder, inst))
    return pool, engine.fills.fee_ppm(holder, inst, maker=False), engine.market.marks[symbol]


def _trade(ex: Exchange, taker: int, qty: int, dollars: int) -> None:
    assert ex.order(2, "XBTUSD", -qty, dollars), "the maker's order rests"
    assert ex.order(taker, "XBTUSD", qty, dollars), "the taker's order trades"


def test_liq_040_the_engine_posts_exactly_the_outcome_computed_before_each_fill() -> None:
    """LIQ-040: position, isolated margin (ACC-006), wallet and equity after a fill are what the rule computed.

    An isolated 25x and a cross account trade a sequence that opens, adds worse than mark (a premium),
    reduces at a loss and at a profit, flips and closes.  Regression: the engine gave LIQ-040 a free wallet
    without the pool's own margin, so a premium-funded add was predicted 17 M XBt short of what was posted.
    """
    ex = Exchange(["XBTUSD"])
    for account, deposit in ((1, "1 XBT"), (3, "1 XBT"), (2, "100 XBT")):
        assert ex.open_account(account, deposit)
    assert ex.price("XBTUSD", 9_000)
    assert ex.set_leverage(1, "XBTUSD", 25)
    # the second step adds 120,000 worse than mark with the wallet mostly in the isolated margin already: ACC-006
    # funds the premium from the wallet beyond *other* isolated margins (LIQ-040 once left out the pool's own)
    steps = [(60_000, 9_000, 9_000), (120_000, 9_050, 9_000), (-30_000, 9_050, 9_100), (-180_000, 9_080, 9_100),
             (-10_000, 9_000, 9_050), (40_000, 9_020, 9_050)]  # fmt: skip
    engine = ex.engine
    for taker in (1, 3):
        for qty, dollars, mark in steps:
            assert ex.price("XBTUSD", mark)
            pool, fee, mark_units = _pool_before(ex, taker, "XBTUSD")
            outcome = compute_fill_outcome(XBTUSD, pool, qty, dollars * PX, fee, mark_units)
            wallet_before = ex.wallet(taker)
            _trade(ex, taker, qty, dollars)
            ps = engine.ledger.accounts[taker].positions["XBTUSD"]
            assert Position(qty=ps.qty, cost=ps.cost) == outcome.position
            assert ex.wallet(taker) - wallet_before == outcome.realised - outcome.commission
            pnl = compute_value(XBTUSD, ps.qty, mark_units) - ps.cost
            assert outcome.account_equity == ex.wallet(taker) + pnl
            if taker == 1:
                assert ps.iso_margin == outcome.pool_margin
                assert outcome.pool_equity == ps.iso_margin + pnl
            else:
                assert outcome.pool_margin == ex.wallet(taker)
                assert outcome.pool_equity == outcome.retained_equity == ex.wallet(taker) + pnl


def test_liq_048_an_isolated_pools_equity_is_its_margin_and_pnl_and_a_cross_pools_counts_the_others() -> None:
    position, _ = apply_fill(XBTUSD, FLAT, 60_000, 9_000 * PX)
    mark = 8_900 * PX
    pnl = compute_value(XBTUSD, position.qty, mark) - position.cost
    isolated = PoolState(
        position=position, leverage_hundredths=2_500, chosen_tier=0, pool_margin=30_000_000, other_pnl=7_777,
        other_maintenance=0, free_wallet=0, account_equity=0, available=0,
    )  # fmt: skip
    assert compute_pool_equity(XBTUSD, isolated, mark) == 30_000_000 + pnl  # the others' PnL is not its own
    cross = attrs.evolve(isolated, leverage_hundredths=CROSS)
    assert compute_pool_equity(XBTUSD, cross, mark) == 30_000_000 + 7_777 + pnl


def test_liq_040_a_cross_pool_retains_the_fills_pnl_and_commission_so_retained_equity_is_its_equity() -> None:
    # a cross pool of two positions (the other one with PnL): what the fill realises stays in the cross wallet
    position, _ = apply_fill(XBTUSD, FLAT, 60_000, 9_000 * PX)
    pool = PoolState(
        position=position, leverage_hundredths=CROSS, chosen_tier=0, pool_margin=30_000_000, other_pnl=-1_234_567,
        other_maintenance=555_555, free_wallet=30_000_000, account_equity=28_000_000, available=0,
    )  # fmt: skip
    for qty, dollars in ((-20_000, 8_950), (-60_000, 9_050), (-90_000, 8_990), (10_000, 9_100)):
        outcome = compute_fill_outcome(XBTUSD, pool, qty, dollars * PX, FEE, 9_000 * PX)
        after, realised = apply_fill(XBTUSD, position, qty, dollars * PX)
        pnl = compute_value(XBTUSD, after.qty, 9_000 * PX) - after.cost
        assert outcome.retained_equity == outcome.pool_equity == 30_000_000 + realised - outcome.commission - 1_234_567 + pnl


def test_liq_042_a_cross_sale_leaving_equity_positive_but_below_maintenance_is_refused() -> None:
    # cross 100x long 60,000 @ 9,000 with a thin wallet: selling half at a loss keeps equity > 0 (solvent) but
    # under maintenance; LIQ-041 alone refuses it
    position, _ = apply_fill(XBTUSD, FLAT, 60_000, 9_000 * PX)
    req = compute_requirement(XBTUSD, position, CROSS, 0)
    wallet = req.pos_maint * 2
    pool = PoolState(
        position=position, leverage_hundredths=CROSS, chosen_tier=0, pool_margin=wallet, other_pnl=0,
        other_maintenance=0, free_wallet=wallet, account_equity=wallet, available=0,
    )  # fmt: skip
    found = []
    for price in range(9_000 * PX, 8_800 * PX, -XBTUSD.tick_size):
        outcome = compute_fill_outcome(XBTUSD, pool, -30_000, price, FEE, 9_000 * PX)
        if outcome.pool_equity > 0 and outcome.account_equity > 0 and outcome.retained_equity < outcome.maintenance:
            found.append(price)
            assert not is_order_solvent(XBTUSD, pool, -30_000, price, FEE, 9_000 * PX), price
    assert found, "the band of prices where only LIQ-041 refuses is not empty"


def test_acc_006_a_premium_is_funded_only_from_the_wallet_left_after_the_fill() -> None:
    """LIQ-040's isolated margin is ACC-006 with the wallet after the fill (less realised loss and commission).

    An isolated long flips short below mark (it realises a loss and opens worse than mark) with almost no
    free wallet: the premium is funded only as far as the wallet reaches, exactly as the waterfall model's
    ACC-006 application computes it from the ledger after the commission is paid.
    """
    position, _ = apply_fill(XBTUSD, FLAT, 60_000, 9_000 * PX)
    leverage = 2_500
    req = compute_requirement(XBTUSD, position, leverage, 0)
    margin = req.pos_init + req.pos_comm + 100_000
    mark = 9_000 * PX
    for free in (0, 50_000, 300_000, 3_000_000):
        pool = PoolState(
            position=position, leverage_hundredths=leverage, chosen_tier=0, pool_margin=margin, other_pnl=0,
            other_maintenance=0, free_wallet=free + margin, account_equity=free + margin, available=0,
        )  # fmt: skip
        for qty, dollars, fee in ((-90_000, 8_900, FEE), (-90_000, 8_900, 0), (-120_000, 8_950, FEE)):
            outcome = compute_fill_outcome(XBTUSD, pool, qty, dollars * PX, fee, mark)
            commission = outcome.commission
            ledger = Ledger(
                instrument_map={"XBTUSD": XBTUSD},
                marks={"XBTUSD": mark},
                wallets={(1, "XBt"): free + margin - commission},  # the wallet once the commission is paid
                holdings={(1, "XBTUSD"): Holding(position=position, leverage_hundredths=leverage, isolated_margin=margin)},
                funds={"XBt": InsuranceFund(currency="XBt")},
            )
            after, realised = apply_fill(XBTUSD, position, qty, dollars * PX)
            expected = get_isolated_margin_after_fill(ledger, 1, "XBTUSD", after, realised, dollars * PX)
            assert outcome.pool_margin == expected, (free, qty, dollars, fee)
