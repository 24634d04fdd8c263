"""MRG-061 on AmendOrder with a chosen tier: the amended order's own resting extra is not held twice (helper mut18,
session 17; hand mutants of session 16's lines in ``engine/core/entry.py`` and ``engine/core/risk.py``).

Since session 17 what a chosen tier holds includes what the resting orders would add if their larger side filled
(``Risk.resting_tier_extra``), and an amendment's requirement charges the chosen tier's extra of the amended order's
own fill (``OrderEntry.order_requirement``).  So the balance an amendment is judged on is net of the tiers' figure
*without* the order being amended (``held_tier_extras(..., replace=(symbol, the position without it))``): else its
extra is counted once in what is held and once in what is asked.  The owner (19,034,577 XBt) raises XBTUSD to tier 10
and rests a buy of 100,000 at 48,500.00, then amends it to 150,000: the smallest deposit with which the amendment is
accepted (one satoshi less is refused).  The mutants that dropped the ``replace`` (the order not taken out of the
position, or ``held_tier_extras`` ignoring it) refused it at any deposit up to 25,000,000.  The accepted amendment's
fill leaves the pool above maintenance at tier 10: nothing was under-charged.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Reason, Rejected
from perpspec.engine.core.exchange import Engine
from tests.test_s16_chosen_tier_orders import MAKER, OWNER, XBT_MARK, X, below, ok

DEPOSIT = 19_034_577


def resting_buy_at_tier_10(deposit: int) -> tuple[Engine, int]:
    engine = Engine()
    inst = engine.instrument_map[X]
    for who, amount in ((OWNER, deposit), (MAKER, 10**13)):
        ok(engine, c.VerifyAccount(time_ms=0, account=who))
        ok(engine, c.Deposit(time_ms=0, account=who, asset="XBt", amount=amount))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=XBT_MARK, index_price=XBT_MARK))
    ok(engine, c.SetRiskLimit(time_ms=0, account=OWNER, symbol=X, risk_limit=inst.risk_limit + 10 * inst.risk_step))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=100_000, price=4_850_000))
    [order_id] = list(engine.accounts[OWNER].positions[X].orders)
    return engine, order_id


def test_mrg_061_an_amendment_is_judged_without_its_own_resting_extra_held() -> None:
    engine, order_id = resting_buy_at_tier_10(DEPOSIT)
    account = engine.accounts[OWNER]
    assert engine.risk.held_tier_extras(account, "XBt") > 0  # the buy's extra at tier 10
    ok(engine, c.AmendOrder(time_ms=1, account=OWNER, order_id=order_id, order_qty=150_000))
    ok(engine, c.PlaceOrder(time_ms=2, account=MAKER, symbol=X, side="Sell", order_qty=150_000, price=4_850_000))
    ps = account.positions[X]
    assert (ps.qty, ps.chosen_tier) == (150_000, 10)
    assert not below(engine)


def test_mrg_061_one_satoshi_less_and_the_amendment_is_refused() -> None:
    engine, order_id = resting_buy_at_tier_10(DEPOSIT - 1)
    [refused] = engine.process(c.AmendOrder(time_ms=1, account=OWNER, order_id=order_id, order_qty=150_000))
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.INSUFFICIENT_MARGIN
