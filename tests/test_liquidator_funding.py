"""FND-019: the liquidation engine's funding is paid by the insurance fund, never beyond it, after the residue.

The rule was the engine's own ``Prices._cap_liquidator_funding`` (a decision outside ``rules/``, with no proof);
it is now ``rules.funding.compute_liquidator_funding``, proved by ``FND-019/fund-never-negative`` (k = 5).  The
engine used to post the liquidation engine's share before FND-008's residue, so the event log showed the fund
below zero for a moment (closeout's review, a black_thursday sweep cell: −431 XBt at a 12:00 funding): the
reproduction below showed 76,000 → −1 → 0.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import InsuranceMovement
from perpspec.rules.funding import compute_liquidator_funding

LIQ = -1


def test_the_share_is_cut_to_the_fund_plus_residue_and_receivers_lose_it_in_account_order() -> None:
    # the liquidation engine owes 100; the fund holds 30 and receives a residue of 2; receivers 3 and 5
    deltas = ((LIQ, -100), (3, -2), (4, 60), (5, 40))
    assert sum(d for _, d in deltas) + 2 == 0
    assert compute_liquidator_funding(30, 2, deltas, LIQ) == ((LIQ, -32), (3, -2), (4, 0), (5, 32))
    # a fund that can pay: nothing changes, to the unit
    assert compute_liquidator_funding(98, 2, deltas, LIQ) == deltas
    assert compute_liquidator_funding(97, 2, deltas, LIQ) == ((LIQ, -99), (3, -2), (4, 59), (5, 40))
    # a liquidation engine that receives, or is absent: nothing changes
    assert compute_liquidator_funding(0, 0, ((LIQ, 5), (3, -5)), LIQ) == ((LIQ, 5), (3, -5))
    assert compute_liquidator_funding(0, 1, ((3, -6), (4, 5)), LIQ) == ((3, -6), (4, 5))
    # no liquidation engine: nothing is cut whatever the fund holds (no one would receive the cut)
    assert compute_liquidator_funding(-3, 0, ((3, -6), (4, 6)), LIQ) == ((3, -6), (4, 6))


def _held_take_over_at_funding() -> list[InsuranceMovement]:
    engine = Engine()
    for account, wallet in ((2, 1_200_000), (3, 10**10), (4, 10**9)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=wallet))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(
        c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=60_000, price=5_000_000)
    )
    engine.process(
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=50_000, price=5_000_000)
    )
    engine.process(
        c.PlaceOrder(time_ms=0, account=4, symbol="XBTUSD", side="Buy", order_qty=10_003, price=5_000_000)
    )
    # the mark between account 2's liquidation and bankruptcy prices, no bid: the liquidation engine holds it
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_972_500, index_price=4_972_500))
    assert [(p.qty, p.cost) for p in engine.waterfall.pending] == [(50_000, -101_049_000)]
    assert engine.insurance_funds["XBt"] == 76_000
    events = engine.process(c.FundingTick(time_ms=2, symbol="XBTUSD", rate_e8=100_001))
    assert engine.insurance_funds["XBt"] == 0
    return [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, InsuranceMovement)]


def test_the_fund_never_shows_a_negative_balance_at_a_funding_instant() -> None:
    moves = _held_take_over_at_funding()
    assert [(m.kind, m.amount, m.balance_after, m.rule_id) for m in moves] == [
        ("funding residue", 1, 76_001, "FND-008"),
        ("funding", -76_001, 0, "FND-019"),  # FND-008 would have been 100,0xx: cut to the fund's balance
    ]
    assert all(m.balance_after >= 0 for m in moves)
