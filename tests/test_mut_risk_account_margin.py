"""MRG-050's available balance at order entry, with resting orders in two contracts of one currency.

Found by the session-7 mutation run over ``engine/core/risk.py`` (issue 13): ``Risk.account_margin`` takes the
order margin the entry path has just computed (``known``: the order's own contract, before the order) instead of
recomputing it, and every *other* contract's order margin from its own resting orders. No test had resting orders
in two contracts when an order was refused, so using the known figure for the wrong contract went unnoticed.

Account 2 (1 XBT, cross, no position) rests a buy of 10 ETHUSD at 2,900.00 (MRG-046: 62,394 XBt) and a buy of
1,000 XBTUSD at 49,000.00 (23,486 XBt); a buy of 5,000,000 XBTUSD at 49,000.00 is then refused naming the
available balance 100,000,000 − 62,394 − 23,486 = 99,914,120.

Also pinned: the available balance of an account whose single position is *isolated* (``available_margin`` takes
the proved ``account_margin_cross_1`` kernel only for a single open cross position), and the prices reported for a
cross position beside an isolated one (``position_prices``' kernel path: the pool is the wallet less the isolated
margin) and beside a one-contract cross member (``other_sums`` skips only flat members).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, PositionUpdate, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.margin import (
    CROSS,
    compute_bankruptcy_price,
    compute_liquidation_price,
    compute_position_backing,
)


def test_mrg_050_the_refusal_counts_each_contracts_own_resting_order_margin() -> None:
    engine = Engine()
    engine.process(c.VerifyAccount(time_ms=0, account=2))
    engine.process(c.Deposit(time_ms=0, account=2, asset="XBt", amount=10**8))
    for symbol, mark in (("ETHUSD", 300_000), ("XBTUSD", 5_000_000)):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
    for symbol, qty, price in (("ETHUSD", 10, 290_000), ("XBTUSD", 1_000, 4_900_000)):
        events = engine.process(c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Buy", order_qty=qty, price=price))
        assert isinstance(events[-1], Accepted), events[-1]
    margins = {
        symbol: engine.risk.contract_order_margin(engine.instrument_map[symbol], ps)
        for symbol, ps in engine.accounts[2].positions.items()
    }
    assert margins == {"ETHUSD": 62_394, "XBTUSD": 23_486}
    assert engine.available(2, "XBt") == 99_914_120
    refused = engine.process(
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=5_000_000, price=4_900_000)
    )[-1]
    assert isinstance(refused, Rejected), refused
    assert (refused.reason, refused.text) == (Reason.INSUFFICIENT_MARGIN, "needs 117423681, available 99914120")


def _isolated_xbtusd_long() -> Engine:
    """Account 2 (3,100,000 XBt) holds an isolated 10x long of 10,000 XBTUSD at 50,000.00 (2,016,500 set aside)."""
    engine = Engine()
    for account, amount in ((2, 3_100_000), (3, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for symbol, mark in (("ETHUSD", 300_000), ("XBTUSD", 5_000_000)):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
    assert isinstance(engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=1_000))[-1], Accepted)
    _trade(engine, "XBTUSD", 10_000, 5_000_000)
    assert (engine.wallet(2, "XBt"), engine.accounts[2].positions["XBTUSD"].iso_margin) == (3_085_000, 2_016_500)
    return engine


def _trade(engine: Engine, symbol: str, qty: int, price: int) -> list[Event]:
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol=symbol, side="Sell", order_qty=qty, price=price))
    events = engine.process(c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Buy", order_qty=qty, price=price))
    assert isinstance(events[-1], Accepted), events[-1]
    return events


def test_mrg_050_an_isolated_positions_available_balance_is_not_the_cross_formulas() -> None:
    # the account's only position is isolated: its margin is the money set aside, not a cross posMargin
    engine = _isolated_xbtusd_long()
    assert engine.available(2, "XBt") == 3_085_000 - 2_016_500
    refused = engine.process(
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=5_000_000, price=4_900_000)
    )[-1]
    assert isinstance(refused, Rejected), refused
    assert (refused.reason, refused.text) == (Reason.INSUFFICIENT_MARGIN, "needs 1096328541, available 1068500")


def test_mrg_034_a_cross_positions_prices_are_backed_by_the_wallet_less_the_isolated_margin() -> None:
    # ETHUSD (cross) beside the isolated XBTUSD: its pool is the wallet less the 2,016,500 set aside (MRG-050)
    engine = _isolated_xbtusd_long()
    bought = _trade(engine, "ETHUSD", 100, 300_000)
    [update] = [e for e in bought if isinstance(e, PositionUpdate) and e.account == 2 and e.symbol == "ETHUSD"]
    eth = load_instrument("ETHUSD")
    position = engine.accounts[2].positions["ETHUSD"].position
    req = compute_requirement(eth, position, CROSS, 0)
    pool = engine.wallet(2, "XBt") - 2_016_500
    backing = compute_position_backing(pool, pool, req.pos_maint, 0, req.pos_maint)
    expected = (
        compute_liquidation_price(eth, position.qty, position.cost, backing, req.pos_maint),
        compute_bankruptcy_price(eth, position.qty, position.cost, backing, req.pos_comm),
    )
    assert (update.liquidation_price, update.bankrupt_price) == expected == (292_770, 289_770)


def test_mrg_034_a_one_contract_member_counts_in_the_other_positions_prices() -> None:
    # account 2 (400,000 XBt), cross: 10,000 XBTUSD at 50,000.00, then one ETHUSD contract at 3,000.00 (marks at the
    # trade prices, no PnL); XBTUSD's prices, reported again by a margin command, keep ETHUSD's maintenance too
    engine = Engine()
    for account, amount in ((2, 400_000), (3, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for symbol, mark in (("ETHUSD", 300_000), ("XBTUSD", 5_000_000)):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
    _trade(engine, "XBTUSD", 10_000, 5_000_000)
    _trade(engine, "ETHUSD", 1, 300_000)
    again = engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=0))
    [update] = [e for e in again if isinstance(e, PositionUpdate) and e.account == 2 and e.symbol == "XBTUSD"]
    xbt, eth = load_instrument("XBTUSD"), load_instrument("ETHUSD")
    own = engine.accounts[2].positions["XBTUSD"].position
    own_req = compute_requirement(xbt, own, CROSS, 0)
    other_maint = compute_requirement(eth, engine.accounts[2].positions["ETHUSD"].position, CROSS, 0).pos_maint
    wallet = engine.wallet(2, "XBt")
    backing = compute_position_backing(wallet, wallet, own_req.pos_maint + other_maint, 0, own_req.pos_maint)
    solvent = compute_position_backing(wallet, wallet, own_req.pos_maint, 0, own_req.pos_maint)
    assert other_maint > 0
    assert (update.liquidation_price, update.bankrupt_price) == (
        compute_liquidation_price(xbt, own.qty, own.cost, backing, own_req.pos_maint),
        compute_bankruptcy_price(xbt, own.qty, own.cost, solvent, own_req.pos_comm),
    )


def test_mrg_011_012_a_single_cross_position_is_backed_by_its_wallet_to_the_satoshi() -> None:
    # one ETHUSD contract (a price unit is worth 1 XBt, a tick 5): deposits of 20,000 to 20,011 XBt cross a tick edge
    # of both prices twice (at 20,005 and 20,010), so a satoshi more or less of backing, of the other members' PnL or
    # of their maintenance (``other_sums``' single-position answer: none) shows
    eth = load_instrument("ETHUSD")
    seen = set()
    for deposit in range(20_000, 20_012):
        engine = Engine()
        for account, amount in ((2, deposit), (3, 10**10)):
            engine.process(c.VerifyAccount(time_ms=0, account=account))
            engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
        engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
        bought = _trade(engine, "ETHUSD", 1, 300_000)
        [update] = [e for e in bought if isinstance(e, PositionUpdate) and e.account == 2]
        position = engine.accounts[2].positions["ETHUSD"].position
        req = compute_requirement(eth, position, CROSS, 0)
        wallet = engine.wallet(2, "XBt")
        backing = compute_position_backing(wallet, wallet, req.pos_maint, 0, req.pos_maint)
        expected = (
            compute_liquidation_price(eth, position.qty, position.cost, backing, req.pos_maint),
            compute_bankruptcy_price(eth, position.qty, position.cost, backing, req.pos_comm),
        )
        assert (update.liquidation_price, update.bankrupt_price) == expected
        seen.add(expected)
    assert seen == {(283_455, 280_455), (283_450, 280_450), (283_445, 280_445)}


def test_liq_043_an_isolated_positions_own_profit_counts_in_the_account_equity() -> None:
    # account 2 (3,100,000 XBt) holds an isolated 10x long of 100 ETHUSD from 3,000.00; at a mark of 6,000.00 its
    # profit (30m XBt) is ten times its wallet: selling one contract at the mark is allowed (the account's equity
    # stays far above 0), and it would not be were the profit subtracted
    engine = Engine()
    for account, amount in ((2, 3_100_000), (3, 10**12)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    assert isinstance(engine.process(c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=1_000))[-1], Accepted)
    _trade(engine, "ETHUSD", 100, 300_000)
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=600_000, index_price=600_000))
    engine.process(c.PlaceOrder(time_ms=1, account=3, symbol="ETHUSD", side="Buy", order_qty=1, price=600_000))
    sold = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=1, price=600_000))
    assert isinstance(sold[-1], Accepted), sold[-1]
    assert engine.accounts[2].positions["ETHUSD"].qty == 99


def test_liq_043_an_isolated_positions_account_equity_counts_the_other_positions_profit() -> None:
    # account 2 (3,000,000 XBt): an isolated 10x long of 10,000 XBTUSD from 50,000.00 (a loss of 833,300 at 48,000.00)
    # beside a cross long of 100 ETHUSD from 3,000.00 (a profit of 30m XBt at 6,000.00): reducing the isolated
    # position at its mark is allowed; with the other profit subtracted the account would be 28m below zero
    engine = Engine()
    for account, amount in ((2, 3_000_000), (3, 10**12)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for symbol, mark in (("ETHUSD", 300_000), ("XBTUSD", 5_000_000)):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
    assert isinstance(engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=1_000))[-1], Accepted)
    _trade(engine, "XBTUSD", 10_000, 5_000_000)
    _trade(engine, "ETHUSD", 100, 300_000)
    for symbol, mark in (("ETHUSD", 600_000), ("XBTUSD", 4_800_000)):
        engine.process(c.PriceUpdate(time_ms=1, symbol=symbol, mark_price=mark, index_price=mark))
    assert engine.accounts[2].positions["XBTUSD"].qty == 10_000  # not liquidated: its margin covers the loss
    engine.process(c.PlaceOrder(time_ms=1, account=3, symbol="XBTUSD", side="Buy", order_qty=1_000, price=4_800_000))
    sold = engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="XBTUSD", side="Sell", order_qty=1_000, price=4_800_000))
    assert isinstance(sold[-1], Accepted), sold[-1]
    assert engine.accounts[2].positions["XBTUSD"].qty == 9_000


def test_mrg_011_012_a_flat_position_is_reported_with_prices_of_zero() -> None:
    # account 2 buys 100 ETHUSD and sells them back: the flat row of its PositionUpdate carries no prices
    engine = Engine()
    for account, amount in ((2, 10**8), (3, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    _trade(engine, "ETHUSD", 100, 300_000)
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Buy", order_qty=100, price=300_000))
    sold = engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=100, price=300_000))
    [update] = [e for e in sold if isinstance(e, PositionUpdate) and e.account == 2]
    assert (update.current_qty, update.liquidation_price, update.bankrupt_price) == (0, 0, 0)
