"""Order entry at its edges, through PlaceOrder and AmendOrder: clOrdID length, a one-contract reduction's limit.

Found by ``python -m tests.mutation engine/core/entry.py`` (issue 13).  ETHUSD (lot 1, tick 0.05) at a mark of
3,000.00.  BitMEX: a clOrdID is at most 36 characters; a market order that reduces a position stops at its
bankruptcy price (LIQ-016), so it is cancelled there ("reached its price limit") before LIQ-044 has to refuse
a fill beyond it.
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Execution, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.kernels.load import generic_rules_only
from perpspec.rules.instrument_file import load_instrument

ETHUSD = load_instrument("ETHUSD")
XBTUSD = load_instrument("XBTUSD")
XBT_MARK = 10_000_000  # $100,000.00
MARK = 300_000
WALLET = 10**10


def _engine() -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=WALLET))
    return engine


def _place(engine: Engine, account: int, side: str, qty: int, price: int | None = None, **fields: object) -> list[Event]:
    return engine.process(
        c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side=side, order_qty=qty, price=price, **fields)  # type: ignore[arg-type]
    )


def _cancel_texts(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Execution) and e.exec_type == "Canceled"]


# ---------------------------------------------------------------------------------------------- clOrdID


def test_a_cl_ord_id_of_36_characters_is_accepted_on_a_plain_limit_order() -> None:
    events = _place(_engine(), 1, "Buy", 1, MARK - 100, cl_ord_id="x" * 36)
    assert not isinstance(events[-1], Rejected), events[-1]


def test_a_cl_ord_id_of_37_characters_is_refused_on_a_plain_limit_order() -> None:
    engine = _engine()
    last = _place(engine, 1, "Buy", 1, MARK - 100, cl_ord_id="x" * 37)[-1]
    assert isinstance(last, Rejected), last
    assert last.reason == Reason.MALFORMED
    assert engine.live_orders == {}


def test_a_cl_ord_id_of_36_characters_is_accepted_on_a_post_only_order() -> None:
    events = _place(_engine(), 1, "Buy", 1, MARK - 100, cl_ord_id="y" * 36, exec_inst="ParticipateDoNotInitiate")
    assert not isinstance(events[-1], Rejected), events[-1]


def test_a_cl_ord_id_of_37_characters_is_refused_on_a_post_only_order() -> None:
    engine = _engine()
    last = _place(engine, 1, "Buy", 1, MARK - 100, cl_ord_id="y" * 37, exec_inst="ParticipateDoNotInitiate")[-1]
    assert isinstance(last, Rejected), last
    assert last.reason == Reason.MALFORMED
    assert engine.live_orders == {}


# ---------------------------------------------------------------------------------------------- LIQ-016


def _isolated_long(qty: int) -> Engine:
    """Account 1 isolated at 50x, long ``qty`` at 3,000.00 (bankruptcy about 2% lower); account 2 bids 2,900.00."""
    engine = _engine()
    engine.process(c.SetLeverage(time_ms=0, account=1, symbol="ETHUSD", leverage_hundredths=5_000))
    _place(engine, 2, "Sell", qty, MARK)
    _place(engine, 1, "Buy", qty, MARK)
    assert engine.positions(1)["ETHUSD"].qty == qty
    _place(engine, 2, "Buy", qty, 290_000)
    return engine


def test_a_market_sell_of_a_one_contract_long_stops_at_its_bankruptcy_price() -> None:
    engine = _isolated_long(1)
    events = _place(engine, 1, "Sell", 1, ord_type="Market")
    assert _cancel_texts(events) == ["Canceled: market order reached its price limit"]
    assert engine.positions(1)["ETHUSD"].qty == 1


def test_a_market_sell_of_a_two_contract_long_stops_at_its_bankruptcy_price() -> None:
    engine = _isolated_long(2)
    events = _place(engine, 1, "Sell", 2, ord_type="Market")
    assert _cancel_texts(events) == ["Canceled: market order reached its price limit"]
    assert engine.positions(1)["ETHUSD"].qty == 2


def test_a_market_sell_of_a_one_contract_long_fills_above_its_bankruptcy_price() -> None:
    engine = _isolated_long(1)
    _place(engine, 2, "Buy", 1, 298_000)  # about 0.7% below the entry: well above the bankruptcy price
    events = _place(engine, 1, "Sell", 1, ord_type="Market")
    assert _cancel_texts(events) == []
    assert engine.positions(1) == {}



def test_after_the_mark_moved_a_market_sell_still_stops_at_the_positions_own_bankruptcy_price() -> None:
    # LIQ-016 from the pool's margin (equity less the position's PnL at mark): the mark falling 10.00 moves
    # neither the bankruptcy price (about 2,940.00) nor the fill at 2,950.00 above it
    engine = _isolated_long(1)
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK - 1_000, index_price=MARK - 1_000))
    _place(engine, 2, "Buy", 1, 295_000)
    events = _place(engine, 1, "Sell", 1, ord_type="Market")
    assert _cancel_texts(events) == []
    assert engine.positions(1) == {}


# ---------------------------------------------------------------------------------------------- MRG-061


def test_an_order_needing_one_satoshi_more_than_available_is_refused() -> None:
    # ETHUSD at 10.00: a resting sell of 3 at 10.05 holds exactly the wallet; a buy of 1 at 9.50 adds one satoshi
    # to the larger side's order margin (MRG-042), and one satoshi is still more than nothing available
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=1_000, index_price=1_000))
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    sell = c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Sell", order_qty=3, price=1_005)
    refused = _refused(engine.process(sell))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=int(refused.text.split()[1].rstrip(","))))
    assert not isinstance(engine.process(sell)[-1], Rejected)
    buy = _refused(_place(engine, 1, "Buy", 1, 950))
    assert (buy.reason, buy.text) == (Reason.INSUFFICIENT_MARGIN, "needs 1, available 0")

# ---------------------------------------------------------------------------------------------- maxOrderQty


def _xbtusd() -> Engine:
    """XBTUSD at $100,000 (10 M contracts are 100 XBT, within the base risk limit); account 1 has 1,000 XBT."""
    engine = Engine({"XBTUSD": XBTUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=XBT_MARK, index_price=XBT_MARK))
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=1_000 * 10**8))
    return engine


def _xbt_bid(engine: Engine, qty: int) -> Event:
    return engine.process(
        c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=qty, price=XBT_MARK - 50_000)
    )[-1]


def test_an_order_of_exactly_max_order_qty_is_accepted_and_one_lot_more_refused() -> None:
    engine = _xbtusd()
    assert not isinstance(_xbt_bid(engine, XBTUSD.max_order_qty), Rejected)
    over = _xbt_bid(engine, XBTUSD.max_order_qty + XBTUSD.lot_size)
    assert isinstance(over, Rejected), over
    assert over.reason == Reason.QTY_TOO_LARGE


def test_an_amend_to_exactly_max_order_qty_is_accepted_and_one_lot_more_refused() -> None:
    engine = _xbtusd()
    assert not isinstance(_xbt_bid(engine, 1_000), Rejected)
    [order_id] = list(engine.live_orders)
    over = engine.process(
        c.AmendOrder(time_ms=0, account=1, order_id=order_id, order_qty=XBTUSD.max_order_qty + XBTUSD.lot_size)
    )[-1]
    assert isinstance(over, Rejected), over
    assert over.reason == Reason.QTY_TOO_LARGE
    at_max = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, order_qty=XBTUSD.max_order_qty))[-1]
    assert not isinstance(at_max, Rejected), at_max
    assert engine.live_orders[order_id].order_qty == XBTUSD.max_order_qty


# ---------------------------------------------------------------------------------------------- typed refusals


def _refused(events: list[Event]) -> Rejected:
    last = events[-1]
    assert isinstance(last, Rejected), last
    return last


def test_a_stop_with_two_trigger_sources_is_refused() -> None:
    engine = _engine()
    last = _refused(_place(engine, 1, "Sell", 1, ord_type="Stop", stop_px=MARK - 1_000, exec_inst="MarkPrice,LastPrice"))
    assert (last.reason, last.text) == (Reason.INVALID_INSTRUCTION, "at most one trigger source")
    assert engine.live_orders == {}


def test_a_stop_with_one_trigger_source_is_accepted() -> None:
    events = _place(_engine(), 1, "Sell", 1, ord_type="Stop", stop_px=MARK - 1_000, exec_inst="LastPrice")
    assert not isinstance(events[-1], Rejected), events[-1]


def test_an_order_qty_of_zero_is_refused_with_or_without_a_side() -> None:
    engine = _engine()
    text = f"orderQty must be a positive multiple of lotSize {ETHUSD.lot_size}"
    for side in ("Buy", None):
        last = _refused(_place(engine, 1, side, 0, MARK - 100))  # type: ignore[arg-type]
        assert (last.reason, last.text) == (Reason.INVALID_QTY, text)
        last = _refused(_place(engine, 1, side, 0, ord_type="Market"))  # type: ignore[arg-type]
        assert (last.reason, last.text) == (Reason.INVALID_QTY, text)
    assert engine.live_orders == {}


def test_a_negative_order_qty_together_with_a_side_is_refused() -> None:
    last = _refused(_place(_engine(), 1, "Sell", -1, MARK + 100))
    assert (last.reason, last.text) == (Reason.INVALID_QTY, "negative orderQty together with side")


def test_a_price_or_stop_price_of_zero_is_refused() -> None:
    engine = _engine()
    text = f"price must be a positive multiple of tickSize {ETHUSD.tick_size}"
    for events in (
        _place(engine, 1, "Buy", 1, 0),
        _place(engine, 1, "Buy", 1, 0, exec_inst="ParticipateDoNotInitiate"),
        _place(engine, 1, "Sell", 1, ord_type="Stop", stop_px=0),
    ):
        last = _refused(events)
        assert (last.reason, last.text) == (Reason.INVALID_PRICE, text)
    assert engine.live_orders == {}


def test_an_amend_to_nothing_left_is_refused() -> None:
    # AmendOrder's new open quantity must be a positive lot multiple: leavesQty 0, or orderQty equal to cumQty
    engine = _engine()
    _place(engine, 2, "Sell", 2, MARK)
    _place(engine, 1, "Buy", 5, MARK)  # 2 filled, 3 rest
    [order_id] = [i for i, order in engine.live_orders.items() if order.account == 1]
    text = "the new open quantity must be a positive multiple of lotSize"
    for amend in (
        c.AmendOrder(time_ms=0, account=1, order_id=order_id, leaves_qty=0),
        c.AmendOrder(time_ms=0, account=1, order_id=order_id, order_qty=2),
    ):
        last = _refused(engine.process(amend))
        assert (last.reason, last.text) == (Reason.INVALID_QTY, text)
    assert engine.live_orders[order_id].leaves_qty == 3


def test_a_price_of_one_unit_is_a_price_where_the_tick_is_one_unit() -> None:
    # check_price: positive, on the tick, at most maxPrice; with a tick of one price unit, 1 is the lowest price
    fine = attrs.evolve(ETHUSD, tick_size=1)
    engine = Engine({"ETHUSD": fine})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=1, index_price=1))
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=WALLET))
    assert not isinstance(_place(engine, 1, "Buy", 1, 1)[-1], Rejected)
    assert _refused(_place(engine, 1, "Buy", 1, 0)).reason == Reason.INVALID_PRICE


def test_a_display_qty_from_0_to_the_order_qty_is_accepted_and_outside_refused() -> None:
    engine = _engine()
    assert not isinstance(_place(engine, 1, "Buy", 5, MARK - 100, display_qty=5)[-1], Rejected)
    assert not isinstance(_place(engine, 1, "Buy", 5, MARK - 100, display_qty=0)[-1], Rejected)  # hidden
    assert _refused(_place(engine, 1, "Buy", 5, MARK - 100, display_qty=-1)).reason == Reason.INVALID_QTY
    last = _refused(_place(engine, 1, "Buy", 5, MARK - 100, display_qty=6))
    assert (last.reason, last.text) == (Reason.INVALID_QTY, "displayQty must be 0 or a lot multiple up to orderQty")


# ---------------------------------------------------------------------------------------------- RSK-007


def test_a_sell_order_beyond_the_risk_limit_is_refused_and_one_at_it_accepted() -> None:
    # RSK-007 on the ask side: |position cost| + the larger side's value against the base limit of 50 XBT
    engine = _engine()
    at_limit = ETHUSD.risk_limit // MARK  # 16,666 contracts at 3,000.00: just within 50 XBT
    too_many = at_limit + 1
    last = _refused(_place(engine, 1, "Sell", too_many, MARK + 1_000))
    assert last.reason == Reason.RISK_LIMIT_EXCEEDED
    assert not isinstance(_place(engine, 1, "Sell", at_limit, MARK)[-1], Rejected)


def test_risk_limit_refusals_are_the_same_on_the_generic_rules_path() -> None:
    # the same checks without the proved kernels (engine.kernels.load.generic_rules_only): RSK-007 on either side
    with generic_rules_only():
        engine = _engine()
        too_many = ETHUSD.risk_limit // MARK + 1
        assert _refused(_place(engine, 1, "Buy", too_many, MARK)).reason == Reason.RISK_LIMIT_EXCEEDED
        assert _refused(_place(engine, 1, "Sell", too_many, MARK)).reason == Reason.RISK_LIMIT_EXCEEDED
        assert not isinstance(_place(engine, 1, "Buy", too_many - 1, MARK)[-1], Rejected)


# ---------------------------------------------------------------------------------------------- the plain-limit path


def test_a_market_order_with_a_price_is_refused() -> None:
    engine = _engine()
    last = _refused(_place(engine, 1, "Buy", 1, MARK, ord_type="Market"))
    assert (last.reason, last.text) == (Reason.INVALID_PRICE, "Market takes no price")


def test_a_post_only_buy_through_the_ask_is_cancelled_not_traded() -> None:
    # only a limit order with nothing but side, quantity, price (and clOrdID) takes the plain-limit path
    engine = _engine()
    _place(engine, 2, "Sell", 1, MARK)
    events = _place(engine, 1, "Buy", 1, MARK, exec_inst="ParticipateDoNotInitiate")
    assert _cancel_texts(events) == ["Canceled: ParticipateDoNotInitiate order would have traded"]
    assert engine.positions(1) == {}
