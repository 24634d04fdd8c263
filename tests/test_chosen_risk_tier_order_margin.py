"""MRG-060 with a chosen risk limit: an order also needs what the chosen tier adds to the position's margin.

Found by ``python -m tests.mutation engine/core/entry.py`` (``OrderEntry._chosen_tier_extra``): the pools hold a
position at its chosen tier (LIQ-001), so an order that grows a position below that tier's size needs the
difference in ``posInit + posComm`` between the chosen and the position's own tier, for the position after the
fill less what the position already carries.  Each test compares the figure a refusal names ("needs N") on an
account one risk step up with the same account at the base limit.  ETHUSD at 3,000.00, cross, sizes within the
base limit (50 XBT), so the own tier is 0.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_all
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.margin import CROSS
from perpspec.rules.position import Position, apply_fill

ETHUSD = load_instrument("ETHUSD")
MARK = 300_000


def _engine(tier: int) -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    for account, amount in ((1, 1), (2, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    limit = ETHUSD.risk_limit + tier * ETHUSD.risk_step
    engine.process(c.SetRiskLimit(time_ms=0, account=1, symbol="ETHUSD", risk_limit=limit))
    return engine


def _needs(event: Event) -> int:
    assert isinstance(event, Rejected), event
    assert event.reason == Reason.INSUFFICIENT_MARGIN
    return int(event.text.split()[1].rstrip(","))  # "needs N, available A"


def _buy(engine: Engine, qty: int, price: int = MARK) -> Event:
    return engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=qty, price=price))[-1]


def _gap(qty: int, price: int = MARK) -> int:
    """What tier 1 adds to ``posInit + posComm`` of a long of ``qty`` opened at ``price`` (cross)."""
    position, _ = apply_fill(ETHUSD, Position(), qty, price)
    chosen = compute_requirement(ETHUSD, position, CROSS, 1)
    own = compute_requirement(ETHUSD, position, CROSS, 0)
    return chosen.pos_init + chosen.pos_comm - own.pos_init - own.pos_comm


def _holding(tier: int, qty: int) -> Engine:
    """Account 1 long ``qty`` at the mark with exactly the wallet that order needed (nothing left)."""
    engine = _engine(tier)
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=_needs(_buy(engine, qty)) - 1))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=qty, price=MARK))
    assert not isinstance(_buy(engine, qty), Rejected)
    return engine


def test_an_order_from_flat_needs_the_chosen_tiers_extra_margin_of_the_position_it_opens() -> None:
    assert _gap(10_000) > 0
    assert _needs(_buy(_engine(1), 10_000)) - _needs(_buy(_engine(0), 10_000)) == _gap(10_000)


def test_an_order_adding_to_a_position_needs_only_the_extra_margin_it_adds() -> None:
    extra = _gap(10_000) - _gap(5_000)
    assert 0 < extra < _gap(10_000)
    assert _needs(_buy(_holding(1, 5_000), 5_000)) - _needs(_buy(_holding(0, 5_000), 5_000)) == extra


def test_an_amend_up_needs_the_chosen_tiers_extra_margin_too() -> None:
    def amended(tier: int) -> int:
        engine = _engine(tier)
        engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=2 * 10**7))  # 0.2 XBT: enough for 1,000, not 10,000
        placed = _buy(engine, 1_000, MARK - 1_000)
        assert not isinstance(placed, Rejected), placed
        [order_id] = list(engine.live_orders)
        return _needs(engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, order_qty=10_000))[-1])

    assert amended(1) - amended(0) == _gap(10_000, MARK - 1_000)




def test_an_account_with_nothing_available_can_still_place_an_order_that_needs_no_margin() -> None:
    # MRG-060 asks for margin only when the order needs some: a long that lost 15,000,000 XBt after the mark fell
    # (nothing available, still above maintenance) may rest a sell that reduces it, and may not add to it
    engine = _holding(0, 10_000)
    lower = MARK - 1_500
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=lower, index_price=lower))
    withdraw = engine.process(c.Withdraw(time_ms=1, account=1, asset="XBt", amount=1))[-1]
    assert isinstance(withdraw, Rejected), withdraw
    sell = c.PlaceOrder(time_ms=1, account=1, symbol="ETHUSD", side="Sell", order_qty=5_000, price=MARK + 1_000)
    engine.track_steps = True
    events = engine.process(sell)
    assert not isinstance(events[-1], Rejected)
    # INV-MARGIN-ON-ENTRY: an order that needed no margin is not held to the available balance (it is below 0)
    assert {k: v for k, v in check_all(engine, engine.step_info(events)).items() if v} == {}
    more = c.PlaceOrder(time_ms=1, account=1, symbol="ETHUSD", side="Buy", order_qty=1, price=lower)
    assert _needs(engine.process(more)[-1]) > 0
    assert engine.positions(1)["ETHUSD"].qty == 10_000


def test_a_position_already_at_the_chosen_tiers_size_needs_no_extra() -> None:
    # 20,000 at 3,000.00 is 60 XBT: its own tier is 1, so at a chosen tier 1 the extra is exactly 0 (not rounded
    # up to anything), and at tier 2 it is tier 2's margin over the own tier's
    def gap(tier: int) -> int:
        position, _ = apply_fill(ETHUSD, Position(), 20_000, MARK)
        chosen = compute_requirement(ETHUSD, position, CROSS, tier)
        own = compute_requirement(ETHUSD, position, CROSS, 0)
        return chosen.pos_init + chosen.pos_comm - own.pos_init - own.pos_comm

    assert (gap(1), gap(2) > 0) == (0, True)
    assert _needs(_buy(_engine(2), 20_000)) - _needs(_buy(_engine(1), 20_000)) == gap(2)
