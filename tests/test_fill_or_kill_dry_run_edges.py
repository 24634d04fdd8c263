"""ORD FillOrKill decided by ``Fills.can_fill``: all or nothing, judged with the sweep's own guard (LIQ-044).

Found by the session-5 mutation run over ``engine/core/fills.py`` (issue 13): no test had a FillOrKill that the
dry run lets through (so ``left == 0`` was never the deciding answer), and none had account 0 as the taker (the
guard judges a trader's order, ``account_id >= 0``; liquidation orders of the negative accounts are not judged).

The book (after tests/test_attack_fill_or_kill_partial.py): account 3 sells 10,000 XBTUSD at 50,000.00 on
0.0025 XBT, account 1 sells 1,000 at 50,100.00; the mark rises to 52,500.00, so a fill of account 3's short is
beyond its bankruptcy price and LIQ-044 cancels that maker instead.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution
from perpspec.engine.core.exchange import Engine

FOK_CANCEL = "Canceled: FillOrKill could not be filled in full"


def _book(taker: int) -> Engine:
    engine = Engine()
    for account, deposit in ((1, 10**9), (taker, 10**9), (3, 250_000)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=deposit))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=10_000, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Sell", order_qty=1_000, price=5_010_000))
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=5_250_000, index_price=5_250_000))
    return engine


def _fok(engine: Engine, taker: int, qty: int) -> list[Event]:
    events = engine.process(
        c.PlaceOrder(time_ms=1, account=taker, symbol="XBTUSD", side="Buy", order_qty=qty, price=5_010_000,
                     time_in_force="FillOrKill")
    )
    assert isinstance(events[-1], Accepted)
    return events


def _traded(events: list[Event], account: int) -> list[tuple[int, int]]:
    return [(e.last_qty, e.last_px) for e in events if isinstance(e, Execution) and e.exec_type == "Trade" and e.account == account]


def _texts(events: list[Event], account: int) -> list[str]:
    return [e.text for e in events if isinstance(e, Execution) and e.exec_type == "Canceled" and e.account == account]


def test_a_fill_or_kill_the_guarded_book_can_fill_is_filled_in_full() -> None:
    engine = _book(2)
    events = _fok(engine, 2, 1_000)  # 1,000 of account 3's short is still a safe fill for it
    assert _traded(events, 2) == [(1_000, 5_000_000)]
    assert _texts(events, 2) == []
    assert engine.accounts[2].positions["XBTUSD"].qty == 1_000


def test_a_fill_or_kill_of_account_0_is_judged_as_any_traders() -> None:
    engine = _book(0)
    events = _fok(engine, 0, 11_000)  # only 1,000 of the 11,000 are safe to trade: nothing at all
    assert _traded(events, 0) == []
    assert _texts(events, 0) == [FOK_CANCEL]
    assert engine.accounts[1].orders  # account 1's ask is untouched
    engine = _book(0)
    events = _fok(engine, 0, 1_000)
    assert _traded(events, 0) == [(1_000, 5_000_000)]
