"""Attack review 2 (money paths): an isolated fill moves money out of a cross pool already in loss; the fund pays.

Fixed on main by LIQ-053 (1d38ca4); these stay as its regressions (the figures "on main" below
are those before the fix).  Severity was high.  A cross pool's equity is judged on the whole wallet less the isolated margins
*held* (``Risk.pool_of``); the margin reserved for a resting order in an isolated contract is not
held, so a cross loss can eat it without any liquidation.  When that isolated order fills later,
ACC-006 (``compute_isolated_margin_after_fill``) sets the new isolated margin to ``posInit +
posComm`` whatever the wallet still holds beyond the cross pool's needs (only the premium is
capped by ``unallocated``), and LIQ-044's per-fill guard (``rules.solvency.is_fill_allowed``)
checks the isolated pool and the account's total equity — never the cross pool the margin
leaves.  The cross pool drops below zero; the next waterfall takes it over at its owing price
(LIQ-036) and the insurance fund pays the deficit, while the money sits in the isolated pool,
which the owner closes and withdraws.

Two colluders holding opposite cross positions, each with an isolated bid resting in another
contract of the same currency, turn any price move into a fund loss: the loser lets the move
eat the reserved money, the partner fills the isolated bid, the fund pays the loss beyond what
is left.  No invariant fires (the account's total equity stays positive: INV-NO-NEG-EQUITY).

Reproduction (all XBt): account 2 (1 XBT) isolates ETHUSD at 1x and bids 300 @ 2,990.00
(MRG-060 reserves 89.8M of its wallet); it buys 50,000 XBTUSD cross from account 3 at
50,000.00.  XBTUSD falls to 45,000.00: the cross pool stays safe (equity 88,814,000 against
maintenance 575,750), since the reserved money still counts.  Account 4 sells 300 ETHUSD into the
bid: the isolated pool takes 89,834,550 and the cross pool is left with margin 10,112,875 and
equity −998,125.  The next mark update liquidates it; closed out at the mark, the fund is down
998,125 XBt, and account 2 withdraws 90,067,050 of its 100,000,000 while account 3 keeps the
11,091,000 it won.  The fund's loss grows with the move (whatever the loss beyond the wallet
left outside the isolated order's reservation).

Proposed fix: LIQ-044 judges every pool of the account in the fill's settlement currency that
the fill changes: an isolated fill that raises the isolated margin by Δ also lowers the cross
pool's margin by Δ, so refuse it (cancel the resting maker order / stop the taker, as LIQ-044
does) unless the cross pool's equity after ``− Δ`` stays ≥ its maintenance (or ≥ what it was,
when already below).  Equivalently, in ``Fills.make_guard`` / ``is_fill_allowed`` add the
cross pool's excess (``Risk.pool_of`` of a cross member) as a third condition; the rules model
(rules.solvency.PoolState) needs the cross pool's equity and maintenance as an input.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import Engine

FUND = 10**9
WALLET = 10**8
BIG = 10**10
XBT_QTY = 50_000
ETH_QTY = 300
ETH_BID = 299_000
FALLEN = 4_500_000


def _isolated_bid_filled_after_a_cross_loss() -> Engine:
    """The reproduction above up to account 4's fill of the isolated ETHUSD bid."""
    engine = Engine()
    engine.process(c.DepositInsurance(time_ms=0, asset="XBt", amount=FUND))
    for account_id, wallet in ((2, WALLET), (3, BIG), (4, BIG)):
        engine.process(c.VerifyAccount(time_ms=0, account=account_id))
        engine.process(c.Deposit(time_ms=0, account=account_id, asset="XBt", amount=wallet))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=100))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=ETH_QTY, price=ETH_BID))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=XBT_QTY, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=XBT_QTY, price=5_000_000))
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=FALLEN, index_price=FALLEN))
    account = engine.accounts[2]
    assert account.positions["XBTUSD"].qty == XBT_QTY
    _, equity, maintenance, _ = engine.risk.pool_of(account, "XBTUSD")
    assert (equity, maintenance) == (88_814_000, 575_750)  # safe: the reserved money still backs the pool
    engine.process(c.PlaceOrder(time_ms=2, account=4, symbol="ETHUSD", side="Sell", order_qty=ETH_QTY, price=ETH_BID))
    return engine


def test_an_isolated_fill_never_leaves_the_cross_pool_below_maintenance() -> None:
    engine = _isolated_bid_filled_after_a_cross_loss()
    account = engine.accounts[2]
    assert account.positions["XBTUSD"].qty == XBT_QTY
    assert not engine.risk.below_maintenance(account, "XBTUSD")  # before LIQ-053: equity −998,125


def test_the_fund_does_not_pay_for_an_account_that_could_pay() -> None:
    engine = _isolated_bid_filled_after_a_cross_loss()
    engine.process(c.PlaceOrder(time_ms=3, account=4, symbol="XBTUSD", side="Buy", order_qty=XBT_QTY, price=FALLEN))
    for step in range(4, 8):  # mark unchanged: any close-out of account 2's long fills at the mark
        engine.process(c.PriceUpdate(time_ms=step, symbol="XBTUSD", mark_price=FALLEN, index_price=FALLEN))
    assert not engine.waterfall.pending
    assert engine.insurance_funds["XBt"] >= FUND  # before LIQ-053: FUND − 998,125
