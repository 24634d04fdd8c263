"""MRG-011 / MRG-012 / MRG-034: the liquidation and bankruptcy prices of a cross position with a second member.

Found by the session-6 mutation run over ``engine/core/risk.py`` (issue 13): the engine reports a position's prices
through the proved ``position_prices_cross`` kernel, fed with the *other* members' sums (``Risk.other_sums``: the
wallet less other isolated margins, the other cross members' PnL and maintenance); no test pinned the prices of a
position whose pool has a second member, so sums starting at 1 instead of 0 went unnoticed (a satoshi of backing
moves an inverse price by hundreds of units here).  Pinned here through public commands, and checked against the
rules themselves: MRG-034's backing from the pool's totals (``compute_position_backing``), then MRG-011/012.

Account 2 deposits 400,000 XBt and buys, cross, 10,000 XBTUSD at 50,000.00 and 10 ETHUSD at 3,000.00 (marks at
the trade prices, so no PnL): wallet 400,000 − 15,000 − 2,250 = 382,750.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, PositionUpdate
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.margin import (
    CROSS,
    compute_bankruptcy_price,
    compute_liquidation_price,
    compute_position_backing,
)
from perpspec.rules.position import Position

XBT = (load_instrument("XBTUSD"), Position(qty=10_000, cost=-20_000_000))
ETH = (load_instrument("ETHUSD"), Position(qty=10, cost=3_000_000))
WALLET = 382_750


def _update(events: list[Event], symbol: str) -> PositionUpdate:
    (update,) = [e for e in events if isinstance(e, PositionUpdate) and e.account == 2 and e.symbol == symbol]
    return update


def _by_the_rules(own: tuple, other: tuple, wallet: int = WALLET) -> tuple[int, int]:
    """MRG-011/012 of ``own`` in a cross pool holding ``other`` too, both at their entry prices (PnL 0)."""
    own_req = compute_requirement(own[0], own[1], CROSS, 0)
    other_req = compute_requirement(other[0], other[1], CROSS, 0)
    maintenance = own_req.pos_maint + other_req.pos_maint
    backing = compute_position_backing(wallet, wallet, maintenance, 0, own_req.pos_maint)
    solvent = compute_position_backing(wallet, wallet, own_req.pos_maint, 0, own_req.pos_maint)
    return (
        compute_liquidation_price(own[0], own[1].qty, own[1].cost, backing, own_req.pos_maint),
        compute_bankruptcy_price(own[0], own[1].qty, own[1].cost, solvent, own_req.pos_comm),
    )


def test_mrg_034_the_prices_of_a_cross_position_count_the_pools_other_member_to_the_unit() -> None:
    engine = Engine()
    for account, amount in ((2, 400_000), (3, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    bought = {}
    for symbol, price, qty in (("XBTUSD", 5_000_000, 10_000), ("ETHUSD", 300_000, 10)):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
        engine.process(
            c.PlaceOrder(time_ms=0, account=3, symbol=symbol, side="Sell", order_qty=qty, price=price)
        )
        bought[symbol] = engine.process(
            c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Buy", order_qty=qty, price=price)
        )
        assert isinstance(bought[symbol][-1], Accepted)
    assert engine.wallet(2, "XBt") == WALLET
    eth = _update(bought["ETHUSD"], "ETHUSD")
    assert (eth.liquidation_price, eth.bankrupt_price) == (276_470, 261_955) == _by_the_rules(ETH, XBT)
    # a margin command reports XBTUSD's prices again, now with ETHUSD in its pool
    again = engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=0))
    xbt = _update(again, "XBTUSD")
    assert (xbt.liquidation_price, xbt.bankrupt_price) == (4_941_900, 4_909_800) == _by_the_rules(XBT, ETH)
    # alone in its pool (before ETHUSD was bought) XBTUSD's prices were lower: 2,250 more in the wallet, no ETHUSD
    # maintenance kept
    alone = _update(bought["XBTUSD"], "XBTUSD")
    assert (alone.liquidation_price, alone.bankrupt_price) == (4_933_450, 4_909_250)


def test_mrg_034_one_satoshi_of_the_other_members_sums_moves_a_one_contract_price_by_a_tick() -> None:
    """One ETHUSD contract (a price unit is worth 1 XBt) beside 10,000 XBTUSD, on a deposit of 300,005 XBt (wallet
    300,005 - 15,000 - 225 = 284,780): its liquidation price is 1,336.00, on a tick edge — a satoshi less backing
    (a deposit of 300,004) gives 1,336.05."""
    prices = {}
    for deposit in (300_005, 300_004):
        engine = Engine()
        for account, amount in ((2, deposit), (3, 10**10)):
            engine.process(c.VerifyAccount(time_ms=0, account=account))
            engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
        for symbol, price, qty in (("XBTUSD", 5_000_000, 10_000), ("ETHUSD", 300_000, 1)):
            engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
            engine.process(
                c.PlaceOrder(time_ms=0, account=3, symbol=symbol, side="Sell", order_qty=qty, price=price)
            )
            events = engine.process(
                c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Buy", order_qty=qty, price=price)
            )
        eth = _update(events, "ETHUSD")
        prices[deposit] = (eth.liquidation_price, eth.bankrupt_price)
        one_eth = (ETH[0], Position(qty=1, cost=300_000))
        assert prices[deposit] == _by_the_rules(one_eth, XBT, engine.wallet(2, "XBt"))
    assert prices == {300_005: (133_600, 15_450), 300_004: (133_605, 15_455)}
