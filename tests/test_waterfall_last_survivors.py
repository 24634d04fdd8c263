"""The engine waterfall's and order entry's last mutation survivors of issue 13, pinned through public commands.

Found by ``python -m tests.mutation engine/core/waterfall.py`` (see docs/mutation-engine.md):

* INS-011: a pool's residual margin of exactly one satoshi moves to the fund and is reported as a ``residual``
  (a positive amount), not as a ``draw``.
* INS-005 in ADL (ADL-020): the liquidator's pending position is closed against the deleveraged accounts at its
  take-over price.  Its cost basis is the value of its contracts at that price, and a valid instrument's value is
  linear in whole lots (``validate``: lotSize * multiplier * tickSize whole minor units; an inverse lot's value is
  per lot), so the cost it keeps (ACC-003, floored) is exact and the close leaves no profit: only the residual goes
  to the fund.  The quanto with a multiplier of 1 and a tick of 0.01 once shown to leave one satoshi of ``surplus``
  is refused by the engine.

ETHUSD with a tick of one price unit and a taker fee of 1 ppm: one contract bought at 3,000.00 by an account
holding 12,000 XBt is taken over at 2,900.00 and leaves exactly 1 XBt of margin. For the ADL case a quanto with a
multiplier of 1 and a tick of 1.00 (the smallest tick that keeps a contract's value whole satoshis).
"""

from __future__ import annotations

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Reason, Rejected, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import AdlFill, InsuranceMovement, Liquidation, PartialLiquidation
from perpspec.rules.instrument_file import InstrumentError, load_instrument

ETHUSD = load_instrument("ETHUSD")
XBT = 10**8


def _fine(taker_fee_ppm: int) -> object:
    """ETHUSD with a tick of one price unit and the given taker fee (every fee tier)."""
    tier = attrs.evolve(ETHUSD.fee_tiers[0], taker_fee_ppm=taker_fee_ppm)
    return attrs.evolve(ETHUSD, tick_size=1, taker_fee_ppm=taker_fee_ppm, fee_tiers=(tier,))


def _events(engine: Engine, mark: int) -> list[object]:
    """The rule records of a mark (and index) update to ``mark`` at time 1."""
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=mark, index_price=mark))
    return [e.record for e in events if isinstance(e, RuleEvent)]


def _one_contract_long(instrument: object, deposit: int) -> Engine:
    """Account 1 (``deposit`` XBt) bought one contract at 3,000.00 from account 2 (1,000 XBT), mark 3,000.00."""
    engine = Engine({"ETHUSD": instrument})  # type: ignore[dict-item]
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, deposit), (2, 1_000 * XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=1, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=1, price=300_000))
    return engine


def test_a_residual_of_one_satoshi_is_reported_as_a_residual() -> None:
    # INS-011: what is left of the pool's margin after the take-over goes to the fund, labelled by its sign
    engine = _one_contract_long(_fine(1), 12_000)
    records = _events(engine, 290_000)
    assert [r.residual_margin for r in records if isinstance(r, Liquidation)] == [1]
    assert [(r.kind, r.amount, r.rule_id) for r in records if isinstance(r, InsuranceMovement)] == [
        ("residual", 1, "INS-011")
    ]
    assert engine.insurance_funds["XBt"] == 1


def test_a_quanto_whose_contract_value_is_not_whole_satoshis_is_refused_by_the_engine() -> None:
    # whole on the tick grid (tick 1.00) is not enough: value is also paid at marks off it (redteam16_1)
    for tick in (1, 100):
        with pytest.raises(InstrumentError) as refused:
            Engine({"ETHUSD": attrs.evolve(ETHUSD, tick_size=tick, multiplier=1)})
        assert str(refused.value) == (
            "instruments['ETHUSD']: multiplier: lotSize * multiplier must be a multiple of priceScale (whole minor units)"
        )


def test_adl_closes_the_pending_position_at_its_exact_cost_and_leaves_no_surplus() -> None:
    # account 1 (3,000 XBt) sold 7 contracts at 3,000.00 to accounts 2 (5) and 3 (2); at a mark of 4,000.00 it is
    # taken over at 3,423.00 (a cost of -23,961 for the liquidator's short of 7: 7 x 3,423 sat) and, with no fund to
    # close it in an empty book, deleveraged: 2 contracts of account 3 (the kept cost -17,115 for 5, exact), then 5
    # of account 2 (value 17,115 against the cost 17,115): no INS-005 movement, only the INS-011 residual
    # one satoshi per contract per dollar: prices in whole dollars (priceScale 1, tick 1), so a contract's value is
    # whole at every price, off the grid too (validate, redteam16_1)
    dollars = attrs.evolve(ETHUSD, tick_size=1, multiplier=1, price_scale=1, max_price=ETHUSD.max_price // 100)
    engine = Engine({"ETHUSD": dollars})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=3_000, index_price=3_000))
    for account, amount in ((1, 3_000), (2, 1_000 * XBT), (3, XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for account, qty in ((2, 5), (3, 2)):
        engine.process(c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side="Buy", order_qty=qty, price=3_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Sell", order_qty=7, price=3_000))
    records = _events(engine, 4_000)
    assert [(r.account_id, r.close_qty, r.price) for r in records if isinstance(r, AdlFill)] == [
        (3, 2, 3_423),
        (2, 5, 3_423),
    ]
    assert [(r.kind, r.amount, r.rule_id) for r in records if isinstance(r, InsuranceMovement)] == [
        ("residual", 22, "INS-011"),
    ]
    assert engine.insurance_funds["XBt"] == 22
    assert engine.pending == []


def test_an_amend_that_changes_nothing_is_not_judged_again_after_a_withdrawal() -> None:
    # ``_check_amend_funds``: an amend is checked (LIQ-042, the risk limit, MRG-060) only when it asks for more (a
    # larger quantity or a new price). Account 1 (cross, 0.1 XBT) is long 100 at 3,000.00 and rests a sell of 100 at
    # 2,900.00 (LIQ-042 accepts it: closed there it keeps a wallet of 0.09 XBT); it then withdraws all but 700,000
    # XBt, so that sell, filled, would leave the pool below -300,000 and worse than its excess at mark (LIQ-041), and a
    # new order like it is refused. Re-sending its quantity (or its quantity and price) asks for nothing more: it
    # is accepted and the order is unchanged
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, XBT // 10), (2, 1_000 * XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=100, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=100, price=300_000))
    sell = c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Sell", order_qty=100, price=290_000)
    assert not isinstance(engine.process(sell)[-1], Rejected)
    [order_id] = engine.live_orders
    withdrawn = engine.process(c.Withdraw(time_ms=0, account=1, asset="XBt", amount=9_300_000))
    assert not isinstance(withdrawn[-1], Rejected), withdrawn[-1]
    again = engine.process(sell)[-1]
    assert isinstance(again, Rejected), again
    assert again.reason == Reason.IMMEDIATE_LIQUIDATION
    for amend in (
        c.AmendOrder(time_ms=1, account=1, order_id=order_id, order_qty=100),
        c.AmendOrder(time_ms=1, account=1, order_id=order_id, leaves_qty=100, price=290_000),
    ):
        events = engine.process(amend)
        assert not isinstance(events[-1], Rejected), events[-1]
        assert (engine.live_orders[order_id].leaves_qty, engine.live_orders[order_id].price) == (100, 290_000)


@pytest.mark.parametrize(("withdrawn", "refused"), [(7_902_290, True), (7_902_289, False)])
def test_an_amend_of_the_price_alone_is_charged_for_the_whole_order(withdrawn: int, refused: bool) -> None:
    # MRG-060 on amend: a new price asks for more, and the position term is that of the *whole* order filling at
    # the new price (the quantity does not change, so there is no "added" part to charge instead). Account 1
    # (cross, 0.1 XBT) is long 100 at 3,000.00 and rests a buy of 100 at 2,900.00; moving it to 2,950.00 needs
    # 828,326 XBt: the order margin's increase, plus the maintenance step of 100 more contracts less the repricing
    # PnL (100 x -50.00 = -500,000). Charged for 0 contracts it would need only the increase and the 500,000
    refuse_at = 828_325
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, XBT // 10), (2, 1_000 * XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=100, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=100, price=300_000))
    buy = c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=100, price=290_000)
    assert not isinstance(engine.process(buy)[-1], Rejected)
    order_id = max(engine.live_orders)
    assert not isinstance(engine.process(c.Withdraw(time_ms=0, account=1, asset="XBt", amount=withdrawn))[-1], Rejected)
    last = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, price=295_000))[-1]
    if refused:
        assert isinstance(last, Rejected), last
        assert (last.reason, last.text) == (Reason.INSUFFICIENT_MARGIN, f"needs 828326, available {refuse_at}")
        assert engine.live_orders[order_id].price == 290_000
    else:
        assert not isinstance(last, Rejected), last
        assert engine.live_orders[order_id].price == 295_000


def test_a_partial_liquidation_of_exactly_one_contract_is_sent() -> None:
    # LIQ-022: a position one contract over its risk tier's base limit (16,667 at 3,000.00 = 50.001 XBT over a base
    # limit of 50 XBT) below maintenance at 2,940.00 is brought back by a FillOrKill reduction of one contract into
    # account 2's bid, which is sent and fills (a plan that closes anything is sent, however small)
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, 2 * XBT), (2, 1_000 * XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for account, steps in ((1, 1), (2, 4)):
        limit = ETHUSD.risk_limit + steps * ETHUSD.risk_step
        engine.process(c.SetRiskLimit(time_ms=0, account=account, symbol="ETHUSD", risk_limit=limit))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=16_667, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=16_667, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=20_000, price=294_000))
    records = _events(engine, 294_000)
    assert [(r.close_qty, r.filled, r.to_tier) for r in records if isinstance(r, PartialLiquidation)] == [(1, True, 0)]
    assert [r for r in records if isinstance(r, Liquidation)] == []
    assert engine.positions(1)["ETHUSD"].qty == 16_666


def test_a_tie_in_maintenance_between_members_is_broken_by_symbol() -> None:
    # LIQ-022: the member reduced first is the one with the largest maintenance; between two members of one cross
    # pool with exactly equal maintenance (no fees, so posComm = 0 and posMaint = maintMarginReq x posCost; the
    # second contract differs only in its initial margin) the earlier symbol is taken, whatever else their
    # requirement figures hold. Account 1 (5 XBT) is long 16,667 of each at 3,000.00, one contract over the base
    # limit in both; at 2,900.00 in both, one contract of ETHUSD is sold into account 2's bid
    tier = attrs.evolve(ETHUSD.fee_tiers[0], taker_fee_ppm=0, maker_fee_ppm=0)
    first = attrs.evolve(ETHUSD, taker_fee_ppm=0, maker_fee_ppm=0, fee_tiers=(tier,))
    second = attrs.evolve(first, symbol="ETHUSDB", init_margin_ppm=2 * first.init_margin_ppm)
    engine = Engine({"ETHUSD": first, "ETHUSDB": second})
    for symbol in ("ETHUSD", "ETHUSDB"):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=300_000, index_price=300_000))
    for account, amount in ((1, 5 * XBT), (2, 1_000 * XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for symbol in ("ETHUSD", "ETHUSDB"):
        for account, steps in ((1, 1), (2, 4)):
            limit = ETHUSD.risk_limit + steps * ETHUSD.risk_step
            engine.process(c.SetRiskLimit(time_ms=0, account=account, symbol=symbol, risk_limit=limit))
        engine.process(c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Sell", order_qty=16_667, price=300_000))
        engine.process(c.PlaceOrder(time_ms=0, account=1, symbol=symbol, side="Buy", order_qty=16_667, price=300_000))
        engine.process(c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Buy", order_qty=20_000, price=290_000))
    first_update = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSDB", mark_price=290_000, index_price=290_000))
    assert [e for e in first_update if isinstance(e, RuleEvent)] == []
    records = [
        e.record
        for e in engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=290_000, index_price=290_000))
        if isinstance(e, RuleEvent)
    ]
    partials = [r for r in records if isinstance(r, PartialLiquidation)]
    assert [(r.symbol, r.close_qty, r.filled) for r in partials] == [("ETHUSD", 1, True)]
    assert {p.symbol: p.qty for p in partials[0].positions} == {"ETHUSD": 16_667, "ETHUSDB": 16_667}
    assert (engine.positions(1)["ETHUSD"].qty, engine.positions(1)["ETHUSDB"].qty) == (16_666, 16_667)
