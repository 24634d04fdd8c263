"""SET-003's posting order within one sign (helper mut17, session 17; a hand mutant of ``Prices.settle``).

Session 16 posts a contract's held surpluses before its draws, "each in pending-id order".  Two held longs of one
dated future, taken over at one mark update (pending 0 and 1), both gain at the settlement price: their surpluses are
posted pending 0 first (the mutant sorting the ids descending posted pending 1 first).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import InsuranceMovement
from tests.test_s16_settle_postings import EXPIRY, T0, Z, _ok


def test_set_003_two_held_surpluses_are_posted_in_pending_id_order() -> None:
    engine = Engine()
    engine.track_steps = True
    for account, amount in ((1, 1_500_000), (2, 10**9), (3, 1_400_000)):
        _ok(engine, c.VerifyAccount(time_ms=T0, account=account))
        _ok(engine, c.Deposit(time_ms=T0, account=account, asset="XBt", amount=amount))
    _ok(engine, c.PriceUpdate(time_ms=T0, symbol=Z, mark_price=5_000_000, index_price=5_000_000))
    _ok(engine, c.PlaceOrder(time_ms=T0, account=2, symbol=Z, side="Sell", order_qty=100_000, price=5_000_000))
    for account in (1, 3):
        _ok(engine, c.PlaceOrder(time_ms=T0, account=account, symbol=Z, side="Buy", order_qty=50_000, price=5_000_000))
    _ok(engine, c.PriceUpdate(time_ms=T0 + 1, symbol=Z, mark_price=4_955_000, index_price=4_955_000))  # both taken over
    assert [(p.pending_id, p.qty, p.takeover_price) for p in engine.waterfall.pending] == [
        (0, 50_000, 4_938_350), (1, 50_000, 4_933_450)]
    assert engine.insurance_funds["XBt"] == 152_500
    _ok(engine, c.PriceUpdate(time_ms=EXPIRY + 1, symbol=Z, mark_price=5_000_000, index_price=5_000_000))
    events = _ok(engine, c.Settle(time_ms=EXPIRY + 2, symbol=Z, settlement_price=5_000_000))
    moves = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, InsuranceMovement)]
    assert [(m.rule_id, m.kind, m.pending_id, m.amount, m.balance_after) for m in moves] == [
        ("SET-003", "surplus", 0, 1_248_500, 1_401_000),
        ("SET-003", "surplus", 1, 1_349_000, 2_750_000),
    ]
