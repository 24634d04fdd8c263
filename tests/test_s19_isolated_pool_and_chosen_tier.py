"""Two engine inputs to proved rules that no test pinned (redteam25_1 and redteam25_11, session 19).

* ACC-006 on a fill (``Fills.apply_effect``): the free wallet that can fund an isolated pool's MRG-041 premium is the
  wallet after the fill less the *other isolated pools of the same settlement currency*; an isolated pool held in
  USDt is no part of an XBt wallet.  The engine computed that argument itself (the rules model had its own copy);
  both now call ``rules.waterfall_postings.compute_free_wallet``.  With the currency filter dropped, an ETHUSD pool beside an isolated XBTUSDT
  pool was funded 30,000 XBt short (the USDt pool's margin taken off the XBt wallet) and every test passed
  (/work/coord/repro19/redteam25_1.py): the neighbour of the existing test was XBTUSD, same currency.
* RSK-005/MRG-065 on SetLeverage (``AccountDesk._change_leverage``): the leverage is judged at the position's
  *chosen* risk tier when its owner raised the risk limit, not at the tier its size alone would give.  Judged at
  the natural tier, an XBTUSD position at riskLimit + 4 steps (at most 33.33x) was set to 100x
  (/work/coord/repro19/redteam25_11.py).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.order_margin import compute_order_premium
from perpspec.rules.position import Position
from perpspec.rules.risk_limit import compute_max_leverage_hundredths
from perpspec.rules.waterfall_postings import compute_free_wallet

ETHUSD, XBTUSD, XBTUSDT = load_instrument("ETHUSD"), load_instrument("XBTUSD"), load_instrument("XBTUSDT")
MARK, LOWER = 300_000, 290_000


def test_an_isolated_pool_in_another_currency_leaves_the_whole_xbt_wallet_to_fund_the_premium() -> None:
    engine = Engine({"ETHUSD": ETHUSD, "XBTUSDT": XBTUSDT})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=5_000_000, index_price=5_000_000))
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
    engine.process(c.Deposit(time_ms=0, account=2, asset="XBt", amount=10**10))
    engine.process(c.Deposit(time_ms=0, account=2, asset="USDt", amount=10**12))
    engine.process(c.Deposit(time_ms=0, account=1, asset="USDt", amount=10**10))
    for symbol in ("ETHUSD", "XBTUSDT"):
        engine.process(c.SetLeverage(time_ms=0, account=1, symbol=symbol, leverage_hundredths=1_000))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSDT", side="Sell", order_qty=100_000, price=5_000_000))
    bought = engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSDT", side="Buy", order_qty=100_000,
                                         price=5_000_000))
    assert not isinstance(bought[-1], Rejected), bought[-1]
    usdt_pool = engine.accounts[1].positions["XBTUSDT"].iso_margin
    assert usdt_pool > 7_500  # a pool in USDt big enough to show if it were taken off the XBt wallet
    bid = c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=100, price=MARK)
    refused = engine.process(bid)[-1]
    assert isinstance(refused, Rejected), refused
    need = int(refused.text.split()[1].rstrip(","))  # "needs N, available 0": the account holds no XBt yet
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=need))
    assert not isinstance(engine.process(bid)[-1], Rejected)
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=LOWER, index_price=LOWER))
    events = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=100, price=MARK))
    [rebate] = [-e.exec_comm for e in events if isinstance(e, Execution) and e.exec_type == "Trade" and e.account == 1]
    ps = engine.accounts[1].positions["ETHUSD"]
    assert (ps.qty, rebate) == (100, 7_500)  # maker rebate 0.025% of 30,000,000 XBt
    req = compute_requirement(ETHUSD, Position(qty=ps.qty, cost=ps.cost), 1_000, 0)
    assert compute_order_premium(ETHUSD, 100, MARK, LOWER) == 1_000_000
    assert need + rebate < req.pos_init + req.pos_comm + 1_000_000  # the wallet cannot fund all of it: takes it all
    assert ps.iso_margin == engine.accounts[1].wallet("XBt") == need + rebate
    assert engine.accounts[1].positions["XBTUSDT"].iso_margin == usdt_pool  # the USDt pool is untouched
    assert engine.accounts[1].wallet("USDt") >= usdt_pool


def test_the_free_wallet_rule_subtracts_only_pools_of_its_own_currency() -> None:
    # the one function the engine (Fills.apply_effect) and the rules model (get_isolated_margin_after_fill) call
    assert compute_free_wallet(1_000, "XBt", [("USDt", 500), ("XBt", 300), ("XBt", 50)]) == 650
    assert compute_free_wallet(1_000, "USDt", [("USDt", 500), ("XBt", 300)]) == 500
    assert compute_free_wallet(1_000, "XBt", []) == 1_000
    assert compute_free_wallet(100, "XBt", [("XBt", 300)]) == -200  # may go below zero: the rule caps, not this


def _long_at_a_raised_risk_limit(steps: int) -> Engine:
    engine = Engine({"XBTUSD": XBTUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**9))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=10_000, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=10_000, price=5_000_000))
    assert engine.accounts[1].positions["XBTUSD"].qty == 10_000
    done = engine.process(c.SetRiskLimit(time_ms=0, account=1, symbol="XBTUSD",
                                         risk_limit=XBTUSD.risk_limit + steps * XBTUSD.risk_step))
    assert not isinstance(done[-1], Rejected), done[-1]
    assert engine.accounts[1].positions["XBTUSD"].chosen_tier == steps
    return engine


def test_a_leverage_above_the_chosen_risk_tiers_maximum_is_refused_and_its_maximum_accepted() -> None:
    top = compute_max_leverage_hundredths(XBTUSD, 4)
    assert top == 3_333  # riskLimit + 4 steps: initMargin 1% + 4 × 0.5% = 3%, at most 33.33x
    assert compute_max_leverage_hundredths(XBTUSD, 0) == 10_000  # the position's own size is tier 0: 100x
    engine = _long_at_a_raised_risk_limit(4)
    for leverage in (10_000, 5_000, top + 1):
        refused = engine.process(c.SetLeverage(time_ms=0, account=1, symbol="XBTUSD", leverage_hundredths=leverage))
        assert isinstance(refused[-1], Rejected), (leverage, refused[-1])
        assert refused[-1].text == "leverage must be 0 (cross) or 1..3333"
        ps = engine.accounts[1].positions["XBTUSD"]
        assert (ps.leverage, ps.iso_margin) == (0, 0)  # nothing changed: still cross
    done = engine.process(c.SetLeverage(time_ms=0, account=1, symbol="XBTUSD", leverage_hundredths=top))
    assert not isinstance(done[-1], Rejected), done[-1]
    ps = engine.accounts[1].positions["XBTUSD"]
    assert (ps.leverage, ps.chosen_tier) == (top, 4)
    assert ps.iso_margin > 0


def test_the_same_position_without_a_raised_risk_limit_takes_100x() -> None:
    engine = Engine({"XBTUSD": XBTUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**9))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=10_000, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=10_000, price=5_000_000))
    done = engine.process(c.SetLeverage(time_ms=0, account=1, symbol="XBTUSD", leverage_hundredths=10_000))
    assert not isinstance(done[-1], Rejected), done[-1]
    assert engine.accounts[1].positions["XBTUSD"].leverage == 10_000
