"""LIQ-052 for a spot seller: the base currency it spends is judged against its cross pool and its equity in it.

Found by the session-5 mutation run over ``engine/core/fills.py`` (issue 13): the tests of LIQ-052 had only a buyer
spending ``USDt`` with one cross position, where the cross pool and the account's equity are the same number, so
nothing told them apart (``Fills._equities_in``), and no seller.  Here account 2 sells XBT for USDT and holds two
positions margined in ``XBt``: XBTUSD isolated (1,000 contracts at 10x: 201,650 XBt of isolated margin) and one
ETHUSD contract cross (the lot is 1).  LIQ-052's inputs in XBt:

* the cross pool: the wallet, less every isolated margin, plus the cross positions' unrealised PnL (LIQ-048);
* the equity: the wallet plus every position's unrealised PnL.

After ETHUSD falls from 3,000.00 to 2,800.00 (-20,000 XBt) the pool is 1,498,275 - 201,650 - 20,000 = 1,276,625
XBt and the equity 1,478,275 XBt: a resting sell of 1,290,000 XBt (12,900 contracts) is cancelled with LIQ-044's
text, one of 1,270,000 is filled.  With a cross profit instead (ETHUSD to 3,200.00, no isolated position), the
profit counts in both: a sell of 990,000 XBt from a wallet of 999,775 is filled.
"""

from __future__ import annotations

from pathlib import Path

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.solvency import FILL_CANCEL_TEXT

SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))
PRICE = 5_000_000
ETH = 300_000


def _sell_after_eth_moves(deposit: int, sell_qty: int, eth_mark: int, isolated: bool) -> tuple[Engine, list[Event]]:
    engine = Engine({"XBT_USDT": SPOT, "XBTUSD": load_instrument("XBTUSD"), "ETHUSD": load_instrument("ETHUSD")})
    for symbol, price in (("XBT_USDT", PRICE), ("XBTUSD", PRICE), ("ETHUSD", ETH)):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    for account, asset, amount in ((2, "XBt", deposit), (3, "USDt", 10**12), (4, "XBt", 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    steps: list[c.SetLeverage | c.PlaceOrder] = []
    if isolated:
        steps += [
            c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=1_000),
            c.PlaceOrder(time_ms=0, account=4, symbol="XBTUSD", side="Sell", order_qty=1_000, price=PRICE),
            c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=1_000, price=PRICE),
        ]
    steps += [
        c.PlaceOrder(time_ms=0, account=4, symbol="ETHUSD", side="Sell", order_qty=1, price=ETH),
        c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=1, price=ETH),
        c.PlaceOrder(time_ms=0, account=2, symbol="XBT_USDT", side="Sell", order_qty=sell_qty, price=PRICE),
    ]
    for command in steps:
        assert isinstance(engine.process(command)[-1], Accepted)
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=eth_mark, index_price=eth_mark))
    assert not engine.risk.below_maintenance(engine.accounts[2], "ETHUSD")
    events = engine.process(c.PlaceOrder(time_ms=1, account=3, symbol="XBT_USDT", side="Buy", order_qty=sell_qty, price=PRICE))
    assert isinstance(events[-1], Accepted)
    return engine, events


def _seller(events: list[Event]) -> list[tuple[str, int, str]]:
    return [(e.exec_type, e.last_qty, e.text) for e in events if isinstance(e, Execution) and e.account == 2]


def test_liq_052_a_seller_may_not_spend_past_its_cross_pool_net_of_isolated_margin_and_cross_loss() -> None:
    engine, events = _sell_after_eth_moves(1_500_000, 12_900, 280_000, isolated=True)
    assert _seller(events) == [("Canceled", 0, FILL_CANCEL_TEXT)]
    assert engine.accounts[2].wallets == {"XBt": 1_498_275}
    assert engine.accounts[2].reserved == {}


def test_liq_052_a_seller_may_spend_up_to_its_cross_pool() -> None:
    engine, events = _sell_after_eth_moves(1_500_000, 12_700, 280_000, isolated=True)
    assert _seller(events) == [("Trade", 12_700, "")]
    assert engine.accounts[2].wallets["XBt"] == 1_498_275 - 1_270_000


def test_liq_052_a_cross_profit_counts_in_the_sellers_pool_and_equity() -> None:
    engine, events = _sell_after_eth_moves(1_000_000, 9_900, 320_000, isolated=False)
    assert _seller(events) == [("Trade", 9_900, "")]
    assert engine.accounts[2].wallets["XBt"] == 9_775
