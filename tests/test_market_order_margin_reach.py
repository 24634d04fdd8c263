"""MRG-060 for a market order: its margin is charged at the worst price the sweep can reach, ReduceOnly makers too.

Found by ``python -m tests.mutation engine/core/entry_terms.py`` (``compute_market_reach``'s ``available == 0``):
the reach counted only makers that are not ReduceOnly, and a market order whose only counterparty was a
ReduceOnly maker was treated as "nothing to trade with" — no margin check — and then filled against that
maker.  An account with 1,000 XBt bought a contract needing 6,455 XBt of initial margin, was born below
maintenance (equity 769 < 3,231) and was liquidated by the next mark update.  BitMEX checks the order's cost
against the available balance whatever the book holds.  ETHUSD at a mark of 3,000.00.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument

ETHUSD = load_instrument("ETHUSD")
MARK = 300_000
RICH = 10**10
POOR = 1_000  # below the 6,455 XBt one ETHUSD contract needs at 3,000.00


def _engine(poor: int = POOR) -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    for account, amount in ((1, poor), (2, RICH), (3, RICH)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    return engine


def _place(engine: Engine, account: int, side: str, qty: int, price: int | None = None, exec_inst: str = "") -> list[Event]:
    ord_type = "Market" if price is None else "Limit"
    return engine.process(
        c.PlaceOrder(
            time_ms=0, account=account, symbol="ETHUSD", side=side, order_qty=qty, price=price, ord_type=ord_type,
            exec_inst=exec_inst,
        )
    )


def _reduce_only_maker(engine: Engine, is_ask: bool, price: int) -> None:
    """Account 3 opens one contract against account 2, then rests a ReduceOnly order closing it at ``price``."""
    _place(engine, 2, "Sell" if is_ask else "Buy", 1, MARK)
    _place(engine, 3, "Buy" if is_ask else "Sell", 1, MARK)
    events = _place(engine, 3, "Sell" if is_ask else "Buy", 1, price, "ReduceOnly")
    assert not isinstance(events[-1], Rejected), events[-1]


def _qty(engine: Engine, account: int) -> int:
    position = engine.positions(account).get("ETHUSD")
    return 0 if position is None else position.qty


def test_a_market_buy_against_only_a_reduce_only_ask_is_charged_its_margin() -> None:
    engine = _engine()
    _reduce_only_maker(engine, is_ask=True, price=MARK + 5)
    last = _place(engine, 1, "Buy", 1)[-1]
    assert isinstance(last, Rejected), last
    assert last.reason == Reason.INSUFFICIENT_MARGIN
    assert (_qty(engine, 1), _qty(engine, 3), engine.accounts[1].wallet("XBt")) == (0, 1, POOR)


def test_a_market_sell_against_only_a_reduce_only_bid_is_charged_its_margin() -> None:
    engine = _engine()
    _reduce_only_maker(engine, is_ask=False, price=MARK - 5)
    last = _place(engine, 1, "Sell", 1)[-1]
    assert isinstance(last, Rejected), last
    assert last.reason == Reason.INSUFFICIENT_MARGIN
    assert (_qty(engine, 1), _qty(engine, 3), engine.accounts[1].wallet("XBt")) == (0, -1, POOR)


def test_with_the_margin_the_market_buy_trades_with_the_reduce_only_ask() -> None:
    engine = _engine(poor=RICH)
    _reduce_only_maker(engine, is_ask=True, price=MARK + 5)
    _place(engine, 1, "Buy", 1)
    assert (_qty(engine, 1), _qty(engine, 3)) == (1, 0)


def test_a_one_contract_ask_is_reached_and_charged() -> None:
    # a level of exactly one contract is liquidity: the order is checked there (and refused), not waved through
    engine = _engine()
    _place(engine, 2, "Sell", 1, MARK)
    last = _place(engine, 1, "Buy", 1)[-1]
    assert isinstance(last, Rejected), last
    assert last.reason == Reason.INSUFFICIENT_MARGIN



def _needs(event: Event) -> int:
    assert isinstance(event, Rejected), event
    assert event.reason == Reason.INSUFFICIENT_MARGIN
    return int(event.text.split()[1].rstrip(","))  # "needs N, available A"


def test_a_market_buy_sweeping_two_levels_is_charged_at_the_deeper_one() -> None:
    # one contract at 3,000.00 and one at 3,010.00: a market buy of 2 reaches 3,010.00 and is charged there, as a
    # limit buy of 2 at 3,010.00 would be (its premium over the mark is the larger)
    market, limit = _engine(), _engine()
    for engine in (market, limit):
        _place(engine, 2, "Sell", 1, MARK)
        _place(engine, 2, "Sell", 1, MARK + 1_000)
    assert _needs(_place(market, 1, "Buy", 2)[-1]) == _needs(_place(limit, 1, "Buy", 2, MARK + 1_000)[-1])


def test_a_market_sell_sweeping_two_levels_is_charged_at_the_deeper_one() -> None:
    market, limit = _engine(), _engine()
    for engine in (market, limit):
        _place(engine, 2, "Buy", 1, MARK)
        _place(engine, 2, "Buy", 1, MARK - 1_000)
    assert _needs(_place(market, 1, "Sell", 2)[-1]) == _needs(_place(limit, 1, "Sell", 2, MARK - 1_000)[-1])


def test_liquidity_exactly_at_the_fat_finger_cap_is_reached_and_charged() -> None:
    # the account's own order makes the best price (self-trade prevention: not liquidity); the only other order
    # sits exactly at the 5% cap from it, where the sweep may still fill, so the order is checked there
    for side, own, other in (("Buy", MARK, MARK * 105 // 100), ("Sell", MARK, MARK * 95 // 100)):
        engine = _engine(poor=10_000)  # enough for its own resting order of one contract, not for the other
        opposite = "Sell" if side == "Buy" else "Buy"
        assert not isinstance(_place(engine, 1, opposite, 1, own)[-1], Rejected)
        assert not isinstance(_place(engine, 2, opposite, 1, other)[-1], Rejected)
        _needs(_place(engine, 1, side, 1)[-1])
        assert (_qty(engine, 1), _qty(engine, 2)) == (0, 0)
