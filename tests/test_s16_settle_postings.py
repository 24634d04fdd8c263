"""SET-003: Settle posts the held close-outs' surpluses before their draws, so the fund is ≥ 0 on every movement.

Red team 15 (/work/coord/repro16/redteam15_2.py): Settle checked only that the fund plus the sum of the contract's
held PnLs at the settlement price was ≥ 0, then posted each held close-out in pending-id order.  The liquidation
engine can hold a long and a short in one dated future (it never nets them): a held long losing at the settlement
price posted before a held short gaining at it took the fund from 305,000 to -1,079,000 XBt in between, and the
InsuranceMovement records published that balance (the rulebook claims the fund is ≥ 0 on every movement;
INV-INSURANCE-NONNEG looks only at the end state).  Now the surpluses go first (each still one movement per held
close-out, in pending-id order), then the draws.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import InsuranceMovement
from perpspec.rules.invariants import check_all

Z = "XBTZ26"
EXPIRY = 1_798_200_000_000
T0 = EXPIRY - 60_000


def _ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    found = {name: problems for name, problems in check_all(engine, engine.step_info(events)).items() if problems}
    assert found == {}
    return events


def test_set_003_settle_posts_the_held_surplus_before_the_held_draw() -> None:
    engine = Engine()
    engine.track_steps = True
    a, b = 1, 2
    for account in (a, b):
        _ok(engine, c.VerifyAccount(time_ms=T0, account=account))
        _ok(engine, c.Deposit(time_ms=T0, account=account, asset="XBt", amount=3_000_000))
    _ok(engine, c.PriceUpdate(time_ms=T0, symbol=Z, mark_price=5_000_000, index_price=5_000_000))
    _ok(engine, c.PlaceOrder(time_ms=T0, account=b, symbol=Z, side="Sell", order_qty=100_000, price=5_000_000))
    _ok(engine, c.PlaceOrder(time_ms=T0, account=a, symbol=Z, side="Buy", order_qty=100_000, price=5_000_000))
    _ok(engine, c.PriceUpdate(time_ms=T0 + 1, symbol=Z, mark_price=4_955_000, index_price=4_955_000))  # A taken over
    _ok(engine, c.PriceUpdate(time_ms=T0 + 2, symbol=Z, mark_price=5_050_000, index_price=5_050_000))  # B taken over
    _ok(engine, c.PriceUpdate(time_ms=EXPIRY + 1, symbol=Z, mark_price=4_900_000, index_price=4_900_000))
    assert [(p.pending_id, p.qty) for p in engine.waterfall.pending] == [(0, 100_000), (1, -100_000)]
    assert engine.insurance_funds["XBt"] == 305_000
    events = _ok(engine, c.Settle(time_ms=EXPIRY + 2, symbol=Z, settlement_price=4_900_000))
    moves = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, InsuranceMovement)]
    assert [(m.rule_id, m.kind, m.amount, m.balance_after) for m in moves] == [
        ("SET-003", "surplus", 6_979_000, 7_284_000),  # the held short (pending 1) first: was posted second
        ("SET-003", "draw", -1_384_000, 5_900_000),  # then the held long (pending 0): was 305,000 -> -1,079,000
    ]
    assert all(m.balance_after >= 0 for m in moves)
    assert (engine.insurance_funds["XBt"], engine.waterfall.pending) == (5_900_000, [])
