"""Order sizes at their edges: ORD-012's Close without orderQty, and maxOrderQty (session 15, helper "mut15").

Mutants of session 14's code the suite let through:

* ``OrderEntry._fire``: ``if room > 0`` -> ``>= 0`` (a whole-position Close stop finding nothing to close was
  re-sized to 0 before its reports) and -> ``> 1`` (one contract left to close was not re-sized: its Triggered
  report kept the quantity it was placed with);
* ``entry_terms.side_and_qty``: ``side = SELL if ps.qty > 0`` -> ``ps.qty > 1`` (a Close without side of a
  one-contract long bought) and ``qty > inst.max_order_qty`` -> ``>=`` (an order of exactly maxOrderQty refused).

ETHUSD's lot is one contract, so a position of 1 is one a trader can hold.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core import orders as o
from perpspec.engine.core.events import Accepted, Event, Execution, Reason, Rejected
from perpspec.engine.core.exchange import Engine

ETH = "ETHUSD"
ETH_PRICE = 300_000  # 3,000.00 (tick 0.05)
XBT = "XBTUSD"
XBT_PRICE = 5_000_000


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def _engine(symbol: str, price: int) -> Engine:
    engine = Engine()
    for account in (1, 2):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**12))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    return engine


def _reports(events: list[Event], order_id: int, exec_type: str) -> list[Execution]:
    return [e for e in events if isinstance(e, Execution) and e.order_id == order_id and e.exec_type == exec_type]


def _long(engine: Engine, qty: int) -> None:
    """Account 2 buys ``qty`` ETHUSD from account 1 at the mark."""
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=ETH, side="Sell", order_qty=qty, price=ETH_PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=ETH, side="Buy", order_qty=qty, price=ETH_PRICE))


def test_ord_012_a_close_stop_finding_one_contract_is_resized_to_it_before_its_reports() -> None:
    """Placed while long 3, fired while long 1: the Triggered report shows 1, it sells 1, the trader is flat."""
    engine = _engine(ETH, ETH_PRICE)
    _long(engine, 3)
    events = ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=ETH, side="Sell", ord_type="Stop",
                                     stop_px=ETH_PRICE - 10_000, exec_inst="Close"))
    stop = events[-1].order_id  # type: ignore[attr-defined]
    assert _reports(events, stop, o.EXEC_NEW)[0].order_qty == 3
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=ETH, side="Buy", order_qty=2, price=ETH_PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=ETH, side="Sell", order_qty=2, price=ETH_PRICE))
    assert engine.accounts[2].positions[ETH].qty == 1
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=ETH, side="Buy", order_qty=10, price=ETH_PRICE - 20_000))
    events = ok(engine, c.PriceUpdate(time_ms=1, symbol=ETH, mark_price=ETH_PRICE - 15_000,
                                      index_price=ETH_PRICE - 15_000))
    (triggered,) = _reports(events, stop, o.EXEC_TRIGGERED)
    assert (triggered.order_qty, triggered.leaves_qty) == (1, 1)
    assert sum(e.last_qty for e in _reports(events, stop, o.EXEC_TRADE)) == 1
    assert engine.accounts[2].positions[ETH].qty == 0


def test_ord_012_a_close_stop_finding_nothing_to_close_is_cancelled_with_the_quantity_it_was_placed_with() -> None:
    """Flat when it fires: nothing to re-size to; its Triggered and Canceled reports keep the quantity it was placed
    with (the position then), and the cancel says why."""
    engine = _engine(ETH, ETH_PRICE)
    _long(engine, 3)
    events = ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=ETH, side="Sell", ord_type="Stop",
                                     stop_px=ETH_PRICE - 10_000, exec_inst="Close"))
    stop = events[-1].order_id  # type: ignore[attr-defined]
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=ETH, side="Buy", order_qty=3, price=ETH_PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=ETH, side="Sell", order_qty=3, price=ETH_PRICE))
    assert engine.accounts[2].positions[ETH].qty == 0
    events = ok(engine, c.PriceUpdate(time_ms=1, symbol=ETH, mark_price=ETH_PRICE - 15_000,
                                      index_price=ETH_PRICE - 15_000))
    (triggered,) = _reports(events, stop, o.EXEC_TRIGGERED)
    (cancelled,) = _reports(events, stop, o.EXEC_CANCELED)
    assert (triggered.order_qty, triggered.leaves_qty) == (3, 3)
    assert (cancelled.order_qty, cancelled.leaves_qty) == (3, 3)
    assert "Close order without orderQty found no position to close" in cancelled.text


def test_ord_012_a_close_without_side_or_qty_sells_a_one_contract_long() -> None:
    engine = _engine(ETH, ETH_PRICE)
    _long(engine, 1)
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=ETH, side="Buy", order_qty=5, price=ETH_PRICE - 50))
    events = ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=ETH, ord_type="Market", exec_inst="Close"))
    order_id = events[-1].order_id  # type: ignore[attr-defined]
    (new,) = _reports(events, order_id, o.EXEC_NEW)
    assert (new.side, new.order_qty) == ("Sell", 1)
    assert engine.accounts[2].positions[ETH].qty == 0


def test_an_order_of_exactly_max_order_qty_is_accepted_and_one_lot_more_refused() -> None:
    """maxOrderQty is the largest order quantity allowed, the edge included (a stop: placed without margin, so the
    size check is the only one that can refuse it)."""
    engine = _engine(XBT, XBT_PRICE)
    inst = engine.market.instrument_map[XBT]
    for qty, accepted in ((inst.max_order_qty, True), (inst.max_order_qty + inst.lot_size, False)):
        events = engine.process(c.PlaceOrder(time_ms=0, account=2, symbol=XBT, side="Buy", order_qty=qty,
                                             ord_type="Stop", stop_px=XBT_PRICE * 2))
        if accepted:
            assert isinstance(events[-1], Accepted), events[-1]
        else:
            assert isinstance(events[-1], Rejected)
            assert events[-1].reason is Reason.QTY_TOO_LARGE


def test_ord_012_amending_the_leaves_qty_makes_it_an_ordinary_close_of_that_quantity() -> None:
    """A quantity given by ``leavesQty`` (not only ``orderQty``) makes a Close stop without orderQty an ordinary Close
    of that quantity: the position grown since, it still sells only that (``AmendOrder`` clears ``whole_position``
    for either; ``c.leaves_qty`` dropped from the test passed every test)."""
    from tests.test_s14_close_stop import S, _close_stop, _engine, _fire, _sold

    engine = _engine()
    stop = _close_stop(engine)
    ok(engine, c.AmendOrder(time_ms=1, account=2, order_id=stop, leaves_qty=700))
    order = engine.registry.live_orders[stop]
    assert not order.whole_position
    assert (order.order_qty, order.leaves_qty) == (700, 700)
    ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Buy", order_qty=4_000, price=5_000_000))
    assert _sold(_fire(engine), stop) == 700
    assert engine.accounts[2].positions[S].qty == 5_000 - 700


def test_ord_012_a_fired_close_stop_limit_rests_as_an_ordinary_close_of_the_whole_position() -> None:
    """A StopLimit Close without orderQty, the position grown from 1,000 to 5,000 since: it fires re-sized to 5,000
    and rests at its limit, all of it shown (``shown_qty`` reset with the size: the book's depth shows 5,000), no
    longer flagged ``whole_position`` (a fired order is an ordinary Close order: a snapshot of it loads, the state
    check refusing a fired order flagged so)."""
    from tests.test_s14_close_stop import S, _engine

    engine = _engine()  # account 2 long 1,000 XBTUSD at 50,000
    events = ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Sell", ord_type="StopLimit",
                                     stop_px=4_900_000, price=5_200_000, exec_inst="Close"))
    stop = events[-1].order_id  # type: ignore[attr-defined]
    ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Buy", order_qty=4_000, price=5_000_000))
    assert engine.accounts[2].positions[S].qty == 5_000
    book = engine.market.books[S]
    assert book.depth(False, 5) == [(5_000_000, 5_000)]  # account 1's ask left
    events = ok(engine, c.PriceUpdate(time_ms=2, symbol=S, mark_price=4_890_000, index_price=4_890_000))
    (triggered,) = _reports(events, stop, o.EXEC_TRIGGERED)
    assert triggered.order_qty == 5_000
    order = engine.registry.live_orders[stop]
    assert (order.leaves_qty, order.shown_qty, order.whole_position) == (5_000, 5_000, False)
    assert book.depth(False, 5) == [(5_000_000, 5_000), (5_200_000, 5_000)]
    loaded = Engine.from_snapshot(engine.snapshot())
    assert loaded.state_hash() == engine.state_hash()


def test_ord_012_a_close_stop_re_sized_at_fire_is_capped_at_max_order_qty() -> None:
    """Re-sized to the whole position when it fires, but no larger than maxOrderQty (as a new order): here 1,000
    contracts of a contract whose maxOrderQty is 1,000, placed while long 1,000 and fired while long 3,000."""
    import attrs

    from perpspec.rules.instrument_file import load_instrument

    inst = attrs.evolve(load_instrument(XBT), max_order_qty=1_000)
    engine = Engine({XBT: inst})
    for account in (1, 2):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**12))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=XBT, mark_price=XBT_PRICE, index_price=XBT_PRICE))
    for _ in range(3):
        ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=XBT, side="Sell", order_qty=1_000, price=XBT_PRICE))
        ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=XBT, side="Buy", order_qty=1_000, price=XBT_PRICE))
        if engine.accounts[2].positions[XBT].qty == 1_000:
            events = ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=XBT, side="Sell", ord_type="Stop",
                                             stop_px=XBT_PRICE - 100_000, exec_inst="Close"))
            stop = events[-1].order_id  # type: ignore[attr-defined]
    assert engine.accounts[2].positions[XBT].qty == 3_000
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=XBT, side="Buy", order_qty=1_000, price=XBT_PRICE - 150_000))
    events = ok(engine, c.PriceUpdate(time_ms=1, symbol=XBT, mark_price=XBT_PRICE - 110_000,
                                      index_price=XBT_PRICE - 110_000))
    (triggered,) = _reports(events, stop, o.EXEC_TRIGGERED)
    assert triggered.order_qty == 1_000
    assert sum(e.last_qty for e in _reports(events, stop, o.EXEC_TRADE)) == 1_000
    assert engine.accounts[2].positions[XBT].qty == 2_000


def test_ord_012_a_whole_position_close_stop_refused_for_another_reason_says_that_reason() -> None:
    """The "found no position to close" text is the ReduceOnly refusal's, for a Close stop without orderQty: one
    refused for anything else when it fires keeps that refusal's text (``if whole and ... REDUCE_ONLY_WOULD_INCREASE``;
    ``if whole:`` alone passed every test).  Here the dated future expired before its mark reached the stop: it is
    cancelled because the contract only settles now (SET-001), and says so."""
    from tests.test_s14_expired_closeouts import EXPIRY, T0, Z

    engine = Engine()
    for account in (1, 2):
        ok(engine, c.VerifyAccount(time_ms=T0, account=account))
        ok(engine, c.Deposit(time_ms=T0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=T0, symbol=Z, mark_price=XBT_PRICE, index_price=XBT_PRICE))
    ok(engine, c.PlaceOrder(time_ms=T0, account=1, symbol=Z, side="Sell", order_qty=1_000, price=XBT_PRICE))
    ok(engine, c.PlaceOrder(time_ms=T0, account=2, symbol=Z, side="Buy", order_qty=1_000, price=XBT_PRICE))
    events = ok(engine, c.PlaceOrder(time_ms=T0, account=2, symbol=Z, side="Sell", ord_type="Stop",
                                     stop_px=XBT_PRICE - 100_000, exec_inst="Close"))
    stop = events[-1].order_id  # type: ignore[attr-defined]
    assert engine.registry.live_orders[stop].whole_position
    events = ok(engine, c.PriceUpdate(time_ms=EXPIRY + 1, symbol=Z, mark_price=XBT_PRICE - 200_000,
                                      index_price=XBT_PRICE - 200_000))
    (cancelled,) = _reports(events, stop, o.EXEC_CANCELED)
    assert "ContractExpired" in cancelled.text
    assert "found no position" not in cancelled.text
    assert engine.accounts[2].positions[Z].qty == 1_000  # nothing traded after expiry
