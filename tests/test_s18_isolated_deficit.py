"""Session 18, red team 20: an isolated pool that paid funding (a negative margin, or a margin below its requirement).

redteam20_1 (/work/coord/repro18/redteam20_1.py, ACC-006): an isolated pool that paid funding holds less than its
requirement (a negative "extra").  On a reduction ``compute_isolated_margin_after_fill`` kept the requirement of what
is left plus the *whole* deficit, so a half-taken Close at the mark turned a pool at 1.19x maintenance into a
liquidatable one (the owner lost the remainder's 714,750 XBt).  Now the remainder keeps its proportional share of
the deficit, ``⌈extra × |new| / |old|⌉`` (rounded so it keeps no less), paid from what the closed part frees and
realises, never from the rest of the free wallet: a reduction at the mark never lowers the pool's standing.  The
same rule serves an ADL partial close.  Proofs: ``ACC-006/reduction-shares-deficit`` (proved),
``KNOWN-BAD/ACC-006/whole-deficit`` (the old rule, refuted).

redteam20_2 (/work/coord/repro18/redteam20_2.py, MRG-050): an isolated margin that funding took below zero (the pool
backed by its unrealised profit) was subtracted like any posMargin, so it *added* to the available balance and a
Withdraw left the wallet at -3,970,500 XBt with the position open.  Now each isolated posMargin is floored at 0 in
the available and withdrawable balances.  Proofs: ``MRG-050/negative-isolated-margin/k=*`` (proved),
``KNOWN-BAD/MRG-050/negative-isolated-margin-adds/k=1`` (the old rule, refuted).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, PositionUpdate, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.proofs.known_bad_kernels import (
    compute_account_margin_negative_isolated_adds,
    compute_isolated_margin_after_fill_whole_deficit,
)
from perpspec.rules.events import AdlFill
from perpspec.rules.invariants import check_all
from perpspec.rules.margin import PositionMargin, compute_account_margin
from perpspec.rules.waterfall_postings import compute_isolated_margin_after_fill

E, P = "ETHUSD", 300_000
BIG = 10**12


def _ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    found = {name: problems for name, problems in check_all(engine, engine.step_info(events)).items() if problems}
    assert found == {}
    return events


def _short_that_paid_funding(deposits: tuple[tuple[int, int], ...], buyers: tuple[tuple[int, int], ...]) -> Engine:
    """Account 1 isolated 50x short of 1,000 ETHUSD at 3,000 USD; eight fundings at -0.1% (2,400,000 XBt paid)."""
    engine = Engine()
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=E, mark_price=P, index_price=P))
    for account, amount in deposits:
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    _ok(engine, c.Isolate(time_ms=0, account=1, symbol=E, enabled=True))
    _ok(engine, c.SetLeverage(time_ms=0, account=1, symbol=E, leverage_hundredths=5000))
    for account, qty in buyers:
        _ok(engine, c.PlaceOrder(time_ms=1, account=account, symbol=E, side="Buy", order_qty=qty, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=E, side="Sell", order_qty=1000, price=P))
    for t in range(2, 10):
        _ok(engine, c.FundingTick(time_ms=t, symbol=E, rate_e8=-100_000))
    ps = engine.accounts[1].positions[E]
    assert (ps.qty, ps.iso_margin) == (-1000, 6_229_500 - 2_400_000)  # the requirement less the funding paid
    return engine


# -- ACC-006, the kernel ---------------------------------------------------------------------------------------------


def test_acc_006_the_red_teams_reduction_keeps_the_remainders_share_of_the_deficit() -> None:
    # redteam20_1's numbers: requirement 6,229,500 for 1,000, 3,114,750 for 500; 2,400,000 paid in funding
    args = (3_829_500, 6_229_500, 3_114_750, 0, 0, BIG, BIG, -1000, -500)
    assert compute_isolated_margin_after_fill(*args) == 3_114_750 - 1_200_000  # half the deficit stays
    assert compute_isolated_margin_after_fill_whole_deficit(*args) == 3_114_750 - 2_400_000  # the old rule: all of it


@pytest.mark.parametrize(
    ("old_margin", "old_req", "new_req", "realised", "unallocated", "available", "old_qty", "new_qty", "expected"),
    [
        (5, 8, 2, 0, BIG, 0, 4, 1, 2),  # extra -3, share ⌈-3/4⌉ = 0: the remainder keeps its whole requirement
        (3, 8, 2, 0, BIG, 0, 4, 1, 1),  # extra -5, share ⌈-5/4⌉ = -1 (rounded up: the remainder keeps no less)
        (3, 8, 2, 0, BIG, 0, -4, -1, 1),  # the same for a short
        # the closed part frees 6, its loss takes 5: 1 of its share 3 reaches the rest; MRG-050's available pays the
        # other 2 (session 20, redteam24_2), as far as it reaches
        (5, 8, 2, -5, BIG, BIG, 4, 1, 2),
        (5, 8, 2, -5, BIG, 1, 4, 1, 1),
        (5, 8, 2, -5, BIG, 0, 4, 1, 0),  # nothing available: 136ac3c's figure
        # its loss beyond what it frees (1) and its share (3): the available pays both; with none, the remainder
        # keeps the whole deficit and the loss (session 19: the free wallet paid the 1 whatever the cross pool held)
        (5, 8, 2, -7, BIG, BIG, 4, 1, 2),
        (5, 8, 2, -7, BIG, 0, 4, 1, -2),
        (5, 8, 2, 0, 5 - 6 + 1, BIG, 4, 1, 0),  # the free wallet holds 1 beyond the whole-deficit pool: only that
        (10, 8, 2, 0, BIG, 0, 4, 1, 4),  # a positive extra (margin added) stays whole
        (5, 8, 10, 0, BIG, 0, 4, 5, 7),  # an increase keeps the whole extra
        (5, 8, 0, 0, BIG, 0, 4, 0, 0),  # a close keeps nothing
    ],
)
def test_acc_006_a_reduction_shares_a_deficit_in_proportion(
    old_margin: int, old_req: int, new_req: int, realised: int, unallocated: int, available: int, old_qty: int,
    new_qty: int, expected: int,
) -> None:
    got = compute_isolated_margin_after_fill(
        old_margin, old_req, new_req, realised, 0, unallocated, available, old_qty, new_qty
    )
    assert got == expected


# -- ACC-006 in the engine -------------------------------------------------------------------------------------------


def test_acc_006_a_partial_close_at_the_mark_leaves_the_remainder_as_safe_as_the_whole() -> None:
    engine = _short_that_paid_funding(((1, 10**10), (2, 10**10), (3, 10**10)), ((2, 1000),))
    a1 = engine.accounts[1]
    _, equity0, maint0, _ = engine.risk.pool_of(a1, E)
    _ok(engine, c.PlaceOrder(time_ms=30, account=3, symbol=E, side="Sell", order_qty=500, price=P))
    events = _ok(engine, c.PlaceOrder(
        time_ms=31, account=1, symbol=E, side="Buy", order_qty=1000, price=P, time_in_force="ImmediateOrCancel"
    ))
    _, equity1, maint1, _ = engine.risk.pool_of(a1, E)
    assert (a1.positions[E].qty, a1.positions[E].iso_margin) == (-500, 1_914_750)  # was 714,750: liquidatable
    assert equity1 * maint0 >= equity0 * maint1  # the margin ratio is not lowered
    liquidation = [x.liquidation_price for x in events if isinstance(x, PositionUpdate) and x.account == 1]
    assert liquidation == [300_600]  # above the mark for the short (was 298,200, below it)
    wallet = a1.wallet("XBt")
    _ok(engine, c.PriceUpdate(time_ms=32, symbol=E, mark_price=P, index_price=P))
    assert (a1.positions[E].qty, a1.wallet("XBt")) == (-500, wallet)  # not liquidated


def test_acc_006_an_adl_partial_close_keeps_the_remainders_share() -> None:
    # account 2's long of 40 is bankrupt after a 10% gap with an empty fund: ADL closes 40 of account 1's short
    engine = _short_that_paid_funding(((1, 10**10), (2, 600_000), (3, 10**10)), ((2, 40), (3, 960)))
    events = _ok(engine, c.PriceUpdate(time_ms=20, symbol=E, mark_price=270_000, index_price=270_000))
    adl = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, AdlFill)]
    assert [(f.account_id, f.close_qty) for f in adl] == [(1, -40)]
    ps = engine.accounts[1].positions[E]
    # requirement 5,980,320 for 960; 96% of the 2,400,000 deficit stays (the old rule kept all: 3,580,320)
    assert (ps.qty, ps.iso_margin) == (-960, 5_980_320 - 2_304_000)


def test_acc_006_mrg_066_a_leverage_round_trip_refills_the_deficit_from_the_available_balance() -> None:
    # SetLeverage re-margins the pool at its requirement (MRG-066): the deficit is paid from the available balance
    # (refused where that does not reach), never handed to the wallet; the round trip ends at the requirement
    engine = _short_that_paid_funding(((1, 10**10), (2, 10**10)), ((2, 1000),))
    a1 = engine.accounts[1]
    wallet, available = a1.wallet("XBt"), engine.available(1, "XBt")
    _ok(engine, c.SetLeverage(time_ms=20, account=1, symbol=E, leverage_hundredths=2500))
    _ok(engine, c.SetLeverage(time_ms=21, account=1, symbol=E, leverage_hundredths=5000))
    assert a1.positions[E].iso_margin == 6_229_500
    assert (a1.wallet("XBt"), engine.available(1, "XBt")) == (wallet, available - 2_400_000)


# -- MRG-050 ---------------------------------------------------------------------------------------------------------


def _isolated_line(pos_margin: int, pnl: int) -> PositionMargin:
    return PositionMargin(
        leverage_hundredths=5000, current_qty=-1000, pos_cost=-300_000_000, mark_value=-255_000_000,
        unrealised_pnl=pnl, pos_init=0, pos_comm=0, pos_cross=0, pos_margin=pos_margin, pos_maint=0,
        maint_margin=0, init_margin_req_ppm=0, maint_margin_req_ppm=0, risk_steps=0, liquidation_price=0,
        bankrupt_price=0,
    )


def test_mrg_050_a_negative_isolated_margin_adds_nothing_to_what_is_available() -> None:
    line = _isolated_line(-3_970_500, 45_000_000)
    account = compute_account_margin(989_575_000, (line,), 0)
    assert (account.available_margin, account.withdrawable_margin) == (989_575_000, 989_575_000)
    assert account.position_margin == -3_970_500  # the BitMEX field (Σ posMargin) is unchanged
    old = compute_account_margin_negative_isolated_adds(989_575_000, (line,), 0)
    assert old.withdrawable_margin == 989_575_000 + 3_970_500  # the old rule: more than the wallet


def test_mrg_064_a_withdrawal_never_takes_an_isolated_pools_unrealised_profit() -> None:
    engine = Engine()
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=E, mark_price=P, index_price=P))
    for account in (1, 2):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**9))
    _ok(engine, c.Isolate(time_ms=0, account=1, symbol=E, enabled=True))
    _ok(engine, c.SetLeverage(time_ms=0, account=1, symbol=E, leverage_hundredths=5000))
    _ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=E, side="Buy", order_qty=1000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=E, side="Sell", order_qty=1000, price=P))
    _ok(engine, c.PriceUpdate(time_ms=2, symbol=E, mark_price=255_000, index_price=255_000))
    for t in range(3, 43):
        _ok(engine, c.FundingTick(time_ms=t, symbol=E, rate_e8=-100_000))
    a1 = engine.accounts[1]
    assert a1.positions[E].iso_margin == -3_970_500
    wallet = a1.wallet("XBt")
    assert engine.available(1, "XBt") == wallet  # was wallet + 3,970,500
    refused = engine.process(c.Withdraw(time_ms=50, account=1, asset="XBt", amount=wallet + 1))
    assert not isinstance(refused[-1], Accepted)
    assert a1.wallet("XBt") == wallet
    _ok(engine, c.Withdraw(time_ms=51, account=1, asset="XBt", amount=wallet))
    assert a1.wallet("XBt") == 0
