"""More edges of the lean sweep (``engine.core.entry_sweep``) that mutation survivors showed untested.

Each case is a plain GoodTillCancel limit order crossing the book (the orders the lean sweep takes; a counter on
``entry_plain``'s ``enter_crossing`` checks that it did).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry_plain, entry_sweep
from perpspec.engine.core.events import Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.solvency import FILL_CANCEL_TEXT


@pytest.fixture
def lean(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many orders the lean sweep entered."""
    calls: list[int] = []
    original = entry_sweep.enter_crossing

    def counting(*args: object) -> None:
        calls.append(1)
        original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(entry_plain, "enter_crossing", counting)
    return calls


@pytest.mark.parametrize(
    ("bid", "trades", "qty", "wallet"),
    [
        (100, [("Trade", 100, 299_000, "")], 300, 199_887_475),
        (250, [("Canceled", 0, 0, FILL_CANCEL_TEXT)], 200, 199_880_000),
    ],
)
def test_liq_053_the_move_into_an_isolated_pool_is_measured_from_its_margin_not_from_zero(
    lean: list[int], bid: int, trades: list[tuple[str, int, int, str]], qty: int, wallet: int
) -> None:
    # account 2 (2 XBT): isolated 1x ETHUSD long of 200 (about 60M of margin), a 1x bid of ``bid`` at 2,990.00 and a
    # cross XBTUSD long of 50,000 fallen from 50,000.00 to 30,000.00; account 4's plain limit sell meets the bid.
    # 100 moves about 30M into the isolated pool, which the cross pool can spare (LIQ-053: the pool's 60M is not
    # counted again); 250 moves about 75M, which it cannot: the bid is cancelled
    engine = Engine()
    for account, amount in ((2, 2 * 10**8), (3, 10**10), (4, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=100))
    for account, symbol, side, order_qty, price in (
        (4, "ETHUSD", "Sell", 200, 300_000),
        (2, "ETHUSD", "Buy", 200, 300_000),
        (2, "ETHUSD", "Buy", bid, 299_000),
        (3, "XBTUSD", "Sell", 50_000, 5_000_000),
        (2, "XBTUSD", "Buy", 50_000, 5_000_000),
    ):
        placed = engine.process(
            c.PlaceOrder(
                time_ms=0, account=account, symbol=symbol, side=side, order_qty=order_qty, price=price
            )
        )
        assert not isinstance(placed[-1], Rejected), placed[-1]
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=3_000_000, index_price=3_000_000))
    lean.clear()
    events = engine.process(
        c.PlaceOrder(time_ms=2, account=4, symbol="ETHUSD", side="Sell", order_qty=bid, price=299_000)
    )
    assert lean == [1]
    maker = [
        (e.exec_type, e.last_qty, e.last_px, e.text)
        for e in events
        if isinstance(e, Execution) and e.account == 2
    ]
    assert maker == trades
    assert engine.positions(2)["ETHUSD"].qty == qty
    assert engine.accounts[2].wallet("XBt") == wallet


def test_acc_006_an_isolated_maker_reducing_at_a_loss_beyond_its_wallet_keeps_no_more_margin_than_its_wallet(
    lean: list[int],
) -> None:
    # account 2 (3,100,000 XBt): isolated 20x ETHUSD long of 200 from 3,000.00; the mark falls to 2,900.00 and it
    # offers 100 at 2,830.00, which account 4's plain limit buy takes. The realised loss (1,700,000 XBt plus the
    # commission) is more than the 100 contracts' requirement frees and the free wallet can pay: the rest comes
    # out of the remaining 100's requirement (ACC-006), and the pool keeps the wallet, not the 1,523,625 requirement it
    # would keep if the loss were not counted -- as far as MRG-050's available at the fill reaches (session 20): MRG-050
    # holds the pool, still at its 3,047,250 on the 100 left, at its posMargin, which includes posComm on that
    # 1,523,625 extra (0.075%: 1,143), so 1,143 of the wallet stays outside the pool (136ac3c: the whole 1,362,075)
    engine = Engine()
    for account, amount in ((2, 3_100_000), (3, 10**10), (4, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=2_000))
    for account, side in ((3, "Sell"), (2, "Buy")):
        placed = engine.process(
            c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side=side, order_qty=200, price=300_000)
        )
        assert not isinstance(placed[-1], Rejected), placed[-1]
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=290_000, index_price=290_000))
    placed = engine.process(
        c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=100, price=283_000)
    )
    assert not isinstance(placed[-1], Rejected), placed[-1]
    lean.clear()
    events = engine.process(
        c.PlaceOrder(time_ms=2, account=4, symbol="ETHUSD", side="Buy", order_qty=100, price=283_000)
    )
    assert lean == [1]
    maker = [
        (e.exec_type, e.last_qty, e.last_px) for e in events if isinstance(e, Execution) and e.account == 2
    ]
    assert maker == [("Trade", 100, 283_000)]
    position = engine.accounts[2].positions["ETHUSD"]
    assert (position.qty, position.cost) == (100, 30_000_000)
    assert engine.accounts[2].wallet("XBt") == 1_362_075
    assert position.iso_margin == 1_362_075 - 1_143


def test_liq_053_an_isolated_maker_hit_twice_measures_its_second_move_from_the_margin_the_first_left(
    lean: list[int],
) -> None:
    # account 3 (30,000,000 XBt): isolated 10x ETHUSD bids of 100 at 3,100.00 and 100 at 3,090.00 and a cross
    # XBTUSD long of 50,000 fallen from 50,000.00 to 45,000.00; account 2's plain limit sell of 200 meets both.
    # The second fill moves about 3.1M into the isolated pool on top of the first's 3.1M: the cross pool can
    # spare it (LIQ-053; the pool after the first fill holds its margin, not the account's free wallet of about 30M)
    engine = Engine()
    for account, amount in ((2, 10**10), (3, 30_000_000), (4, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=310_000, index_price=310_000))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.SetLeverage(time_ms=0, account=3, symbol="ETHUSD", leverage_hundredths=1_000))
    for account, symbol, side, qty, price in (
        (3, "ETHUSD", "Buy", 100, 310_000),
        (3, "ETHUSD", "Buy", 100, 309_000),
        (4, "XBTUSD", "Sell", 50_000, 5_000_000),
        (3, "XBTUSD", "Buy", 50_000, 5_000_000),
    ):
        placed = engine.process(
            c.PlaceOrder(time_ms=0, account=account, symbol=symbol, side=side, order_qty=qty, price=price)
        )
        assert not isinstance(placed[-1], Rejected), placed[-1]
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_500_000, index_price=4_500_000))
    lean.clear()
    events = engine.process(
        c.PlaceOrder(time_ms=2, account=2, symbol="ETHUSD", side="Sell", order_qty=200, price=309_000)
    )
    assert lean == [1]
    maker = [
        (e.exec_type, e.last_qty, e.last_px) for e in events if isinstance(e, Execution) and e.account == 3
    ]
    assert maker == [("Trade", 100, 310_000), ("Trade", 100, 309_000)]
    position = engine.accounts[3].positions["ETHUSD"]
    assert (position.qty, position.iso_margin) == (200, 6_241_068)
    assert engine.accounts[3].wallet("XBt") == 29_940_475


def test_liq_044_a_cross_takers_pool_counts_its_other_positions_profit(lean: list[int]) -> None:
    # account 2 (2,000,000 XBt): a cross XBTZ26 long of 10,000 from 50,000.00, risen to 60,000.00 (about 3.3M of
    # profit); it buys 300 ETHUSD at 3,100.00 against a mark of 3,000.00 with a plain limit order, all that its
    # available balance allows (3,000,000 of premium): the pool's equity after the fill stays >= 0 only with the
    # XBTZ26 profit counted, and the fill is made (LIQ-044)
    engine = Engine()
    for account, amount in ((2, 2_000_000), (3, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for symbol, price in (("XBTZ26", 5_000_000), ("ETHUSD", 300_000)):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    for account, symbol, side, qty, price in (
        (3, "XBTZ26", "Sell", 10_000, 5_000_000),
        (2, "XBTZ26", "Buy", 10_000, 5_000_000),
        (3, "ETHUSD", "Sell", 300, 310_000),
    ):
        placed = engine.process(
            c.PlaceOrder(time_ms=0, account=account, symbol=symbol, side=side, order_qty=qty, price=price)
        )
        assert not isinstance(placed[-1], Rejected), placed[-1]
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTZ26", mark_price=6_000_000, index_price=6_000_000))
    lean.clear()
    events = engine.process(
        c.PlaceOrder(time_ms=2, account=2, symbol="ETHUSD", side="Buy", order_qty=300, price=310_000)
    )
    assert lean == [1]
    taker = [(e.exec_type, e.last_qty, e.text) for e in events if isinstance(e, Execution) and e.account == 2]
    assert taker == [("New", 0, ""), ("Trade", 300, "")]
    assert engine.positions(2)["ETHUSD"].qty == 300
    assert engine.accounts[2].wallet("XBt") == 1_915_250
