"""ACC-006 / MRG-041 on the engine: a fill opening worse than mark brings its premium, as far as the wallet reaches.

Found by ``python -m tests.mutation engine/core/fills.py`` (``Fills.apply_effect``: the wallet *after* the fill,
``wallet + wallet_delta``, is what can fund the premium).  A resting isolated bid placed at the mark fills after
the mark fell 3.3%: the premium was never charged at entry, the wallet is exactly what entry required, so the
pool gets the whole wallet — including the maker rebate the fill itself paid in — and no more.  ETHUSD.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.order_margin import compute_order_premium
from perpspec.rules.position import Position

ETHUSD = load_instrument("ETHUSD")
MARK = 300_000
LOWER = 290_000


def test_an_isolated_bid_filled_above_a_fallen_mark_funds_its_premium_with_the_whole_wallet_after_the_rebate() -> None:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    for account, amount in ((1, 1), (2, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.SetLeverage(time_ms=0, account=1, symbol="ETHUSD", leverage_hundredths=1_000))
    bid = c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=100, price=MARK)
    refused = engine.process(bid)[-1]
    assert isinstance(refused, Rejected), refused
    need = int(refused.text.split()[1].rstrip(","))  # "needs N, available 1"
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=need - 1))
    assert not isinstance(engine.process(bid)[-1], Rejected)
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=LOWER, index_price=LOWER))
    events = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=100, price=MARK))
    [rebate] = [-e.exec_comm for e in events if isinstance(e, Execution) and e.exec_type == "Trade" and e.account == 1]
    ps = engine.accounts[1].positions["ETHUSD"]
    req = compute_requirement(ETHUSD, Position(qty=ps.qty, cost=ps.cost), 1_000, 0)
    premium = compute_order_premium(ETHUSD, 100, MARK, LOWER)
    assert (ps.qty, rebate) == (100, 7_500)  # maker rebate 0.025% of 30,000,000 XBt
    assert need + rebate < req.pos_init + req.pos_comm + premium  # the wallet cannot fund all of it
    assert ps.iso_margin == engine.accounts[1].wallet("XBt") == need + rebate


def test_the_premium_is_funded_only_from_the_wallet_beyond_the_other_isolated_margins() -> None:
    # the same fill with an isolated XBTUSD long beside it: the ETHUSD pool gets the wallet less XBTUSD's margin
    xbtusd = load_instrument("XBTUSD")
    engine = Engine({"ETHUSD": ETHUSD, "XBTUSD": xbtusd})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=1_000_000, index_price=1_000_000))
    for account, amount in ((1, 10**8), (2, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for symbol in ("ETHUSD", "XBTUSD"):
        engine.process(c.SetLeverage(time_ms=0, account=1, symbol=symbol, leverage_hundredths=1_000))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=10_000, price=1_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=10_000, price=1_000_000))
    other = engine.accounts[1].positions["XBTUSD"].iso_margin
    spare = engine.accounts[1].wallet("XBt") - other
    assert not isinstance(engine.process(c.Withdraw(time_ms=0, account=1, asset="XBt", amount=spare))[-1], Rejected)
    bid = c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=100, price=MARK)
    refused = engine.process(bid)[-1]
    assert isinstance(refused, Rejected), refused
    need = int(refused.text.split()[1].rstrip(","))  # "needs N, available 0"
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=need))
    assert not isinstance(engine.process(bid)[-1], Rejected)
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=LOWER, index_price=LOWER))
    engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=100, price=MARK))
    ps = engine.accounts[1].positions["ETHUSD"]
    assert ps.qty == 100
    assert ps.iso_margin == engine.accounts[1].wallet("XBt") - other == need + 7_500  # the maker rebate
    assert engine.accounts[1].positions["XBTUSD"].iso_margin == other
