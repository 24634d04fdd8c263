"""Attack review 2 (money paths): closing most of an isolated position, or flipping it, leaves it below maintenance.

Severity: medium (the trader's own order gets its position liquidated at an unchanged mark; the
system gains).  Found by a seeded random search (seed 56 at constant marks: an isolated 50x
ETHUSD short of 66 flipped to a long of 4 by a market buy, liquidated by the next mark update at
the same mark; seed 7: a short of 78 reduced to 5 the same way).

ACC-006 (``rules.waterfall_postings.compute_isolated_margin_after_fill``) keeps
``new_req + (old_margin − old_req + min(0, realised))``: the realised loss of the part a
fill *closes* comes out of the extra margin, and what the extra lacks is taken from the
requirement of what is left.  On a reduction that is the same pool getting smaller.  On a
flip the "left" part is a *new* position: the old short's loss (the spread it paid above
mark to close) is charged to the margin of the new long, which is born below its
maintenance margin although MRG-060 charged the account the opened part's full initial margin
(the money stays in the cross wallet).  LIQ-042 (``rules.solvency.is_order_solvent``) does not
catch it: it judges ``retained_equity`` — the *old* pool margin plus the realised PnL — so the
flip looks safe, and LIQ-044's per-fill guard only asks for equity ≥ 0.  The trader's own order
leaves the position liquidatable at an unchanged mark; the next PriceUpdate takes it over at
its bankruptcy price (the trader loses the whole isolated margin, 11,097 XBt here, the fund
takes the residual and holds a long bought below mark).  The system gains, the trader loses:
INV-NO-FALSE-LIQUIDATION holds (the pool *is* below maintenance), but no price moved.

The same holds for a plain reduction: the realised loss of the 19,000 contracts closed is
charged to the margin of the 1,000 kept, whose requirement is 1/20 of the old one.  LIQ-042's
``solvent`` half only asks the actual pool equity to be ≥ 0, so a close that leaves it between 0
and maintenance executes.  A 0.08% spread on the close is enough at 50x, from a pool at
equity 830,600 against maintenance 230,600.

Reproduction (XBTUSD, mark 50,000.00 throughout): account 2 isolated 50x sells 20,000 to
account 3 at 50,000.00; account 3 offers 21,000 at 50,040.00; account 2 buys 21,000 (limit or
market) and is long 1,000 with isolated margin 11,097 against a maintenance of 11,521 (equity
9,497 at mark).  Buying only 19,000 there leaves a short of 1,000 with margin 11,130 against
11,530.

Proposed fix (ACC-006, one line, and its mirror in LIQ-040): when the fill changes the sign of
the position, the closed position's extra does not carry over — ``extra = ite(flip, 0, extra)``
— so the new side holds ``posInit + posComm`` (+ premium) funded from the unallocated wallet
(MRG-060 already required it); the closed side's realised loss is paid by the wallet as now.
For the reduction, LIQ-042 (``is_order_solvent``) should judge ACC-006's actual margin
(``outcome.pool_equity − outcome.maintenance`` with ``is_execution_safe``) instead of
``retained_equity``, refusing such a close as ImmediateLiquidation (and LIQ-016's market limit
likewise), or ACC-006 should charge the closed part's loss to the requirement it frees first
(``extra = old_margin − old_req + min(0, realised + freed)``, freed = old_req − new_req).

Fixed (session 6, ACC-006 in ``rules/waterfall_postings.py``, mirrored by LIQ-040): a flip opens the new side
from flat (its requirement, plus the premium as far as the free wallet reaches); a reduction's loss is paid from
the requirement it frees, then the extra, then the free wallet as far as it reaches, so the rest keeps its
requirement.  Here: the long of 1,000 holds 43,097 (requirement 41,497 + premium 1,600), the short of 1,000
keeps 41,530.  Proved: ``ACC-006/remainder-keeps-requirement`` and ``LIQ-040/isolated-fill-keeps-requirement/*``
(the rule before the fix refuted as ``KNOWN-BAD/ACC-006/charges-the-rest`` and
``KNOWN-BAD/LIQ-040/loss-charged-to-the-rest/*``).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Reason, Rejected, RuleEvent
from perpspec.engine.core.exchange import Engine

MARK = 5_000_000
CLOSE_PRICE = 5_004_000  # 0.08% above the mark, inside every band
SHORT = 20_000
NEW_LONG = 1_000


def _short_isolated_50x() -> Engine:
    """Account 2: isolated 50x short SHORT XBTUSD at MARK (from account 3); account 3 offers SHORT + NEW_LONG above."""
    engine = Engine()
    engine.process(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    for account in (2, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**8))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK, index_price=MARK))
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=5_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=SHORT, price=MARK))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=SHORT, price=MARK))
    assert engine.accounts[2].positions["XBTUSD"].qty == -SHORT
    engine.process(
        c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=SHORT + NEW_LONG, price=CLOSE_PRICE)
    )
    return engine


def _flip(engine: Engine, market: bool, qty: int = SHORT + NEW_LONG) -> None:
    price = {"ord_type": "Market"} if market else {"price": CLOSE_PRICE}
    events = engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=qty, **price))
    # executed today; a fix may instead refuse it as ImmediateLiquidation (LIQ-042), which these tests accept
    last = events[-1]
    assert isinstance(last, Accepted) or (isinstance(last, Rejected) and last.reason is Reason.IMMEDIATE_LIQUIDATION)


@pytest.mark.parametrize("market", [False, True], ids=["limit", "market"])
def test_a_flip_never_opens_the_new_side_below_maintenance(market: bool) -> None:
    engine = _short_isolated_50x()
    _flip(engine, market)
    account = engine.accounts[2]
    if account.positions["XBTUSD"].qty != 0:
        assert not engine.risk.below_maintenance(account, "XBTUSD")


def test_a_flipped_position_is_not_liquidated_at_an_unchanged_mark() -> None:
    engine = _short_isolated_50x()
    _flip(engine, market=True)
    wallet = engine.accounts[2].wallets["XBt"]
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=MARK, index_price=MARK))
    assert not [e for e in events if isinstance(e, RuleEvent) and e.rule_id == "LIQ-023"]
    assert engine.accounts[2].wallets["XBt"] == wallet


@pytest.mark.parametrize("market", [False, True], ids=["limit", "market"])
def test_closing_most_of_an_isolated_position_never_leaves_the_rest_below_maintenance(market: bool) -> None:
    engine = _short_isolated_50x()
    account = engine.accounts[2]
    _, equity, maintenance, _ = engine.risk.pool_of(account, "XBTUSD")
    assert (equity, maintenance) == (830_600, 230_600)  # far from liquidation before the close
    _flip(engine, market, qty=SHORT - NEW_LONG)
    if account.positions["XBTUSD"].qty == -NEW_LONG:  # executed (a refusal as ImmediateLiquidation is fine)
        assert not engine.risk.below_maintenance(account, "XBTUSD")  # on main: margin 11,130, maintenance 11,530
