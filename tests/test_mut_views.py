"""``Views.pooled_listing``, every account read once for the whole invariant registry, pinned against the engine.

Found by the session-7 mutation run over ``engine/core/views.py`` (issue 13): the listing's shortcuts and caches (a
single position record, the mapping and resting orders shown at the previous read, dormant accounts pooled) were
only checked through whole simulations, where an account with two positions, account 0, an account whose wallet
is exactly 0, or an order changed between two reads were rare. Each read here must equal what the engine holds.
"""

from __future__ import annotations

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.order_margin import RestingOrder
from perpspec.rules.position import Position


def _engine() -> Engine:
    engine = Engine()
    for symbol, mark in (("ETHUSD", 300_000), ("XBTUSD", 5_000_000)):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
    for account in (0, 1, 2, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**9))
    return engine


def _trade(engine: Engine, buyer: int, symbol: str, qty: int, price: int) -> None:
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol=symbol, side="Sell", order_qty=qty, price=price))
    engine.process(c.PlaceOrder(time_ms=0, account=buyer, symbol=symbol, side="Buy", order_qty=qty, price=price))


def test_the_listing_reads_two_positions_and_account_0_as_the_engine_holds_them() -> None:
    engine = _engine()
    _trade(engine, 1, "ETHUSD", 10, 300_000)
    _trade(engine, 1, "XBTUSD", 1_000, 5_000_000)
    _trade(engine, 0, "ETHUSD", 5, 300_000)
    _, _, reads = engine.views.pooled_listing(True)
    assert dict(reads.positions[1]) == {
        "ETHUSD": Position(qty=10, cost=3_000_000),
        "XBTUSD": Position(qty=1_000, cost=-2_000_000),
    }
    assert dict(reads.positions[0]) == {"ETHUSD": Position(qty=5, cost=1_500_000)}
    assert reads.wallets[0] == engine.accounts[0].wallets


def test_an_account_with_a_wallet_of_exactly_zero_is_pooled_not_listed() -> None:
    engine = _engine()
    engine.process(c.Withdraw(time_ms=0, account=2, asset="XBt", amount=10**9))
    assert engine.accounts[2].wallets == {"XBt": 0}
    listed, _, _ = engine.views.pooled_listing(True)
    assert 2 not in listed


def test_a_second_read_sees_a_partly_filled_an_amended_order_and_a_grown_position() -> None:
    engine = _engine()
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=10, price=290_000))
    _trade(engine, 2, "ETHUSD", 1, 300_000)
    _, _, reads = engine.views.pooled_listing(True)
    assert reads.opened[1] == [RestingOrder(symbol="ETHUSD", qty=10, price=290_000)]
    assert dict(reads.positions[2]) == {"ETHUSD": Position(qty=1, cost=300_000)}
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Sell", order_qty=4, price=290_000))
    _trade(engine, 2, "ETHUSD", 1, 300_000)
    _, _, reads = engine.views.pooled_listing(True)
    assert reads.opened[1] == [RestingOrder(symbol="ETHUSD", qty=6, price=290_000)]
    assert dict(reads.positions[2]) == {"ETHUSD": Position(qty=2, cost=600_000)}
    [order_id] = engine.accounts[1].orders
    engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, price=289_000))
    _, _, reads = engine.views.pooled_listing(True)
    assert reads.opened[1] == [RestingOrder(symbol="ETHUSD", qty=6, price=289_000)]


def test_a_second_read_sees_a_position_of_the_cheapest_lots_grown() -> None:
    # XBTUSD with the highest maxPrice validate accepts ($20bn): a lot is worth 1 sat there, so a position grown from
    # 100 to 200 contracts moves its cost from -1 to -2 and must be read anew. (A lot worth 0 sat, which kept the
    # cost of such a position at 0, needs an instrument the engine refuses: tests/test_fill_flat_path_edges.py.)
    cheapest = attrs.evolve(load_instrument("XBTUSD"), max_price=2 * 10**12)
    high = 2 * 10**12
    engine = Engine({"XBTUSD": cheapest})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=high, index_price=high))
    for account in (1, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**9))
    _trade(engine, 1, "XBTUSD", 100, high)
    _, _, reads = engine.views.pooled_listing(True)
    assert dict(reads.positions[1]) == {"XBTUSD": Position(qty=100, cost=-1)}
    _trade(engine, 1, "XBTUSD", 100, high)
    _, _, reads = engine.views.pooled_listing(True)
    assert dict(reads.positions[1]) == {"XBTUSD": Position(qty=200, cost=-2)}


def _sell(engine: Engine, seller: int, symbol: str, qty: int, price: int) -> None:
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol=symbol, side="Buy", order_qty=qty, price=price))
    engine.process(c.PlaceOrder(time_ms=0, account=seller, symbol=symbol, side="Sell", order_qty=qty, price=price))


@pytest.mark.parametrize("also_xbt", [False, True])  # one position record (the shortcut), or two (the shown mapping)
def test_a_second_read_sees_a_position_whose_quantity_changed_and_cost_did_not(also_xbt: bool) -> None:
    """Valid instruments (session 11): 100 ETHUSD bought at 3,000.00 cost 30,000,000; 100 more at 1,000.00 make
    40,000,000 for 200; selling 50 keeps 150 at 40,000,000 x 150 / 200 = 30,000,000, the cost read before. A read
    cache that compared the cost alone would show the old quantity (the case the cost-0 instrument covered)."""
    engine = _engine()
    if also_xbt:
        _trade(engine, 1, "XBTUSD", 1_000, 5_000_000)
    _trade(engine, 1, "ETHUSD", 100, 300_000)
    _, _, reads = engine.views.pooled_listing(True)
    assert reads.positions[1]["ETHUSD"] == Position(qty=100, cost=30_000_000)
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=100_000, index_price=100_000))
    _trade(engine, 1, "ETHUSD", 100, 100_000)
    _sell(engine, 1, "ETHUSD", 50, 100_000)
    assert engine.accounts[1].positions["ETHUSD"].qty == 150
    _, _, reads = engine.views.pooled_listing(True)
    assert reads.positions[1]["ETHUSD"] == Position(qty=150, cost=30_000_000)
