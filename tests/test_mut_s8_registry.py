"""The order registry through public commands: cancel answers, the dead man's switch at its deadline, a spot
reservation at exactly the balance, ReduceOnly orders after a trigger and after a snapshot restore.

Found by the session-8 mutation run over ``engine/core/registry.py`` (helper "mutcodec", issue 13):

* CancelAll / CancelAllAfter answer order id 0 (``Accepted.order_id``: "the order a PlaceOrder created or an order
  command addressed, else 0"); the first order id is 1.
* CancelAllAfter (the dead man's switch, BitMEX ``cancelAllAfter``): the switch fires at exactly the deadline,
  also in a command that is then refused (session 15: the timers a command's time fires are committed, ORD-050).
* Spot reservations: a loss that leaves the balance at exactly the reservation keeps the spot order; one satoshi
  less cancels it ("Canceled: balance no longer covers the reservation").
* ReduceOnly (ORD ``execInst=ReduceOnly``; BitMEX: a resting ReduceOnly order is amended down to the position or
  cancelled once nothing is left to reduce): a triggered ReduceOnly stop-limit resting in the book, and ReduceOnly
  orders of an engine restored from a snapshot, are still cancelled when the position closes.
* A cancelled order's clOrdID is released; CancelAll's symbol and side filters; a spot buy reserves its value plus
  the taker fee (exactly the value when the fee is 0; one contract of a one-lot pair; two orders released one by one).
* LIQ-003: an account with two open cross positions, one of them a single ETHUSD contract, has its liquidation
  index refreshed when either mark moves (``OrderRegistry.touch`` keeps it in ``risk.multi``).
"""

from __future__ import annotations

from pathlib import Path

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Execution, Rejected, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import Liquidation
from perpspec.rules.instrument_file import load_instrument

SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))
XBT = 5_000_000
ETH = 300_000
NOTHING_LEFT = "Canceled: ReduceOnly order has no position left to reduce"


def _engine(wallet: int = 10**10) -> Engine:
    engine = Engine({"XBTUSD": load_instrument("XBTUSD"), "ETHUSD": load_instrument("ETHUSD")})
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=wallet if account == 1 else 10**11))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=XBT, index_price=XBT))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=ETH, index_price=ETH))
    return engine


def _accepted(engine: Engine, command: c.Command) -> Accepted:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), events[-1]
    return events[-1]


def _texts(events: list[object], account: int = 1) -> list[str]:
    return [e.text for e in events if isinstance(e, Execution) and e.account == account and e.exec_type == "Canceled"]


# ----------------------------------------------------------------------------------------------- cancel answers


def test_cancel_all_and_cancel_all_after_answer_order_id_0_and_the_first_order_is_1() -> None:
    engine = _engine()
    placed = _accepted(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=XBT - 50_000))
    assert placed.order_id == 1
    assert _accepted(engine, c.CancelAllAfter(time_ms=0, account=1, timeout_ms=60_000)).order_id == 0
    assert _accepted(engine, c.CancelAllAfter(time_ms=0, account=1, timeout_ms=0)).order_id == 0
    cancelled = engine.process(c.CancelAll(time_ms=0, account=1))
    assert isinstance(cancelled[-1], Accepted)
    assert cancelled[-1].order_id == 0
    assert _texts(cancelled) == ["Canceled: Cancel all via API"]


# ----------------------------------------------------------------------------------------------- dead man's switch


def test_a_command_refused_at_exactly_the_switch_deadline_fires_the_switch() -> None:
    """The switch fires at the deadline itself (t + timeout), in the refused command as in any other. Account
    100,000 arms it at 1,000 ms for 60,000 ms: its id is larger than the deadline (61,000), so only the deadline,
    not the account id, can tell the engine that a timer is due."""
    engine = _engine()
    trader = 100_000
    engine.process(c.VerifyAccount(time_ms=1_000, account=trader))
    engine.process(c.Deposit(time_ms=1_000, account=trader, asset="XBt", amount=10**10))
    _accepted(engine, c.PlaceOrder(time_ms=1_000, account=trader, symbol="XBTUSD", side="Buy", order_qty=100,
                                   price=XBT - 50_000))
    _accepted(engine, c.CancelAllAfter(time_ms=1_000, account=trader, timeout_ms=60_000))
    early = engine.process(c.CancelOrder(time_ms=60_999, account=trader, order_id=999))
    assert [type(e) for e in early] == [Rejected]  # a millisecond before: nothing due, the clock stays
    refused = engine.process(c.CancelOrder(time_ms=61_000, account=trader, order_id=999))
    assert _texts(refused, trader) == ["Canceled: Cancel-all-after (dead man's switch) fired"]
    assert isinstance(refused[-1], Rejected)
    assert (sorted(engine.live_orders), engine.time_ms) == ([], 61_000)


# ----------------------------------------------------------------------------------------------- spot reservation


def _spot_seller(wallet: int) -> tuple[Engine, list[object]]:
    """Account 1: a 100-contract XBTUSD long (fee 150 XBt) and a spot sell of 0.001 XBT reserving 100,000 XBt;
    three fundings at FND-004's XBTUSD cap (+0.375%) then cost the long 750 XBt each (0.375% of 200,000).

    One tick cannot reach the reservation: placing the spot sell needs the free balance, after the long's 2,153 XBt
    of margin, to cover it, and the cap is below the 1% initial margin; so the first two ticks (balance still above
    the reservation, nothing cancelled) bring it within one tick of the boundary and the third is the one judged.
    Returns the third tick's events."""
    engine = Engine({"XBTUSD": load_instrument("XBTUSD"), "XBT_USDT": SPOT})
    for account, asset, amount in ((1, "XBt", wallet), (2, "XBt", 10**11), (2, "USDt", 10**12)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset=asset, amount=amount))
    for symbol in ("XBTUSD", "XBT_USDT"):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=XBT, index_price=XBT))
    _accepted(engine, c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=100, price=XBT))
    _accepted(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=XBT))
    _accepted(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBT_USDT", side="Sell", order_qty=1_000, price=6_000_000))
    assert (engine.wallet(1, "XBt"), engine.accounts[1].reserved) == (wallet - 150, {"XBt": 100_000})
    for time_ms in (1, 2, 3):
        events = list(engine.process(c.FundingTick(time_ms=time_ms, symbol="XBTUSD", rate_e8=375_000)))
        assert isinstance(events[-1], Accepted), events[-1]
        assert engine.wallet(1, "XBt") == wallet - 150 - 750 * time_ms
        if time_ms < 3:
            assert _texts(events) == []
    return engine, events


def test_a_funding_loss_leaving_the_balance_at_exactly_the_reservation_keeps_the_spot_order() -> None:
    engine, events = _spot_seller(102_400)
    assert engine.wallet(1, "XBt") == 100_000
    assert _texts(events) == []
    assert engine.accounts[1].reserved == {"XBt": 100_000}
    assert [o.symbol for o in engine.live_orders.values() if o.account == 1] == ["XBT_USDT"]


def test_a_funding_loss_leaving_the_balance_one_below_the_reservation_cancels_the_spot_order() -> None:
    engine, events = _spot_seller(102_399)
    assert engine.wallet(1, "XBt") == 99_999
    assert _texts(events) == ["Canceled: balance no longer covers the reservation"]
    assert engine.accounts[1].reserved == {}


# ----------------------------------------------------------------------------------------------- ReduceOnly


def _long_eth(engine: Engine, qty: int, time_ms: int = 0) -> None:
    _accepted(engine, c.PlaceOrder(time_ms=time_ms, account=2, symbol="ETHUSD", side="Sell", order_qty=qty, price=ETH))
    _accepted(engine, c.PlaceOrder(time_ms=time_ms, account=1, symbol="ETHUSD", side="Buy", order_qty=qty, price=ETH))


def _close_eth(engine: Engine, qty: int, time_ms: int) -> list[object]:
    """Account 1 sells its long to a bid of account 2 at 2,990.00 (a plain order)."""
    _accepted(engine, c.PlaceOrder(time_ms=time_ms, account=2, symbol="ETHUSD", side="Buy", order_qty=qty, price=ETH - 1_000))
    events = list(engine.process(c.PlaceOrder(time_ms=time_ms, account=1, symbol="ETHUSD", side="Sell", order_qty=qty,
                                              price=ETH - 1_000)))
    assert isinstance(events[-1], Accepted), events[-1]
    assert "ETHUSD" not in engine.positions(1)  # flat
    return events


def test_a_triggered_reduce_only_stop_limit_is_cancelled_when_the_position_closes() -> None:
    """The stop is counted once while it waits and stays counted once it rests in the book."""
    engine = _engine()
    _long_eth(engine, 10)
    stop = _accepted(engine, c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Sell", order_qty=10,
                                          price=ETH + 5_000, ord_type="StopLimit", stop_px=ETH - 500, exec_inst="ReduceOnly"))
    triggered = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=ETH - 500, index_price=ETH - 500))
    assert [e.exec_type for e in triggered if isinstance(e, Execution) and e.order_id == stop.order_id] == [
        "TriggeredOrActivatedBySystem"
    ]
    assert engine.live_orders[stop.order_id].leaves_qty == 10
    events = _close_eth(engine, 10, 2)
    assert _texts(events) == [NOTHING_LEFT]
    assert stop.order_id not in engine.live_orders


def test_reduce_only_orders_of_a_restored_engine_are_amended_and_cancelled_with_the_position() -> None:
    """After Engine.from_snapshot (the derived per-account counter is rebuilt), a second ReduceOnly order placed
    there is still followed: both are cut to the position, then cancelled when it closes."""
    engine = _engine()
    _long_eth(engine, 10)
    _accepted(engine, c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Sell", order_qty=6, price=ETH + 5_000,
                                   exec_inst="ReduceOnly"))
    restored = Engine.from_snapshot(engine.snapshot())
    second = _accepted(restored, c.PlaceOrder(time_ms=1, account=1, symbol="ETHUSD", side="Sell", order_qty=8,
                                              price=ETH + 6_000, exec_inst="ReduceOnly"))
    assert second.order_id == 4
    reduced = list(restored.process(c.PlaceOrder(time_ms=2, account=2, symbol="ETHUSD", side="Buy", order_qty=3,
                                                 price=ETH - 1_000)))
    reduced += list(restored.process(c.PlaceOrder(time_ms=2, account=1, symbol="ETHUSD", side="Sell", order_qty=3,
                                                  price=ETH - 1_000)))
    assert restored.positions(1)["ETHUSD"].qty == 7
    replaced = [(e.order_id, e.order_qty, e.leaves_qty) for e in reduced
                if isinstance(e, Execution) and e.exec_type == "Replaced"]
    assert replaced == [(4, 7, 7)]  # the 6 still fits; the 8 is cut to the 7 left
    events = _close_eth(restored, 7, 3)
    assert _texts(events) == [NOTHING_LEFT, NOTHING_LEFT]
    assert [o for o in restored.live_orders.values() if o.account == 1] == []


# ----------------------------------------------------------------------------------------------- clOrdID


def test_a_cancelled_orders_cl_ord_id_is_free_again_and_addresses_nothing() -> None:
    """An order leaving the registry takes its clOrdID with it: CancelOrder by that clOrdID is UNKNOWN_ORDER, and
    a new order may use it (and is addressed by it)."""
    engine = _engine()
    first = _accepted(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100,
                                           price=XBT - 50_000, cl_ord_id="a"))
    assert _accepted(engine, c.CancelOrder(time_ms=0, account=1, cl_ord_id="a")).order_id == first.order_id
    again = engine.process(c.CancelOrder(time_ms=0, account=1, cl_ord_id="a"))
    assert isinstance(again[-1], Rejected)
    assert (again[-1].reason.value, again[-1].text) == ("UnknownOrder", "no live order with clOrdID 'a'")
    second = _accepted(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100,
                                            price=XBT - 50_000, cl_ord_id="a"))
    assert second.order_id == 2
    assert _accepted(engine, c.CancelOrder(time_ms=0, account=1, cl_ord_id="a")).order_id == 2


# ----------------------------------------------------------------------------------------------- CancelAll filters


def test_cancel_all_of_one_symbol_or_one_side_cancels_only_those_orders() -> None:
    """BitMEX ``DELETE /order/all`` with ``symbol`` / ``side``: the other orders stay, cancelled by order id."""
    engine = _engine()
    for symbol, side, price in (("XBTUSD", "Buy", XBT - 50_000), ("ETHUSD", "Buy", ETH - 1_000),
                                ("XBTUSD", "Sell", XBT + 50_000), ("ETHUSD", "Sell", ETH + 1_000)):
        _accepted(engine, c.PlaceOrder(time_ms=0, account=1, symbol=symbol, side=side, order_qty=100, price=price))
    by_symbol = engine.process(c.CancelAll(time_ms=0, account=1, symbol="XBTUSD"))
    assert [e.order_id for e in by_symbol if isinstance(e, Execution) and e.exec_type == "Canceled"] == [1, 3]
    assert sorted(engine.live_orders) == [2, 4]
    by_side = engine.process(c.CancelAll(time_ms=0, account=1, side="Sell"))
    assert [e.order_id for e in by_side if isinstance(e, Execution) and e.exec_type == "Canceled"] == [4]
    assert sorted(engine.live_orders) == [2]


# ----------------------------------------------------------------------------------------------- a one-lot spot order


def test_a_spot_buy_of_one_contract_reserves_its_value_and_fee() -> None:
    """A spot pair with a lot of one contract: an order left with one contract still reserves (value + taker fee,
    rounded up: 50,000 USDt + 50).  Prices are whole USDT (priceScale 1, tick 1), so that a lot's value at every
    price is whole USDt (``validate``: lotSize * multiplier a multiple of priceScale; a lot of one contract at the
    shipped priceScale 100 is refused by the engine)."""
    one = attrs.evolve(SPOT, lot_size=1, tick_size=1, price_scale=1, max_price=SPOT.max_price // 100)
    engine = Engine({"XBT_USDT": one})
    price = XBT // 100
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBT_USDT", mark_price=price, index_price=price))
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="USDt", amount=10**9))
    _accepted(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBT_USDT", side="Buy", order_qty=1, price=price))
    assert engine.accounts[1].reserved == {"USDt": 50_050}


def test_cancelling_one_of_two_spot_buys_leaves_exactly_the_others_reservation() -> None:
    """Each spot buy reserves its quote value plus the taker fee (0.1%); releasing one leaves the other's amount."""
    engine = Engine({"XBT_USDT": SPOT})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBT_USDT", mark_price=XBT, index_price=XBT))
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="USDt", amount=10**10))
    first = _accepted(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBT_USDT", side="Buy", order_qty=10_000,
                                           price=XBT - 100))
    _accepted(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBT_USDT", side="Buy", order_qty=10_000, price=XBT - 200))
    assert engine.accounts[1].reserved == {"USDt": (499_990_000 + 499_990) + (499_980_000 + 499_980)}
    _accepted(engine, c.CancelOrder(time_ms=0, account=1, order_id=first.order_id))
    assert engine.accounts[1].reserved == {"USDt": 499_980_000 + 499_980}


def test_a_fee_free_spot_buy_reserves_exactly_its_value() -> None:
    """With a taker fee of 0 the reservation is the quote value alone (the fee term is max(0, commission))."""
    tier = attrs.evolve(SPOT.fee_tiers[0], maker_fee_ppm=0, taker_fee_ppm=0)
    free = attrs.evolve(SPOT, maker_fee_ppm=0, taker_fee_ppm=0, fee_tiers=(tier,))
    engine = Engine({"XBT_USDT": free})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBT_USDT", mark_price=XBT, index_price=XBT))
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="USDt", amount=10**10))
    _accepted(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBT_USDT", side="Buy", order_qty=10_000, price=XBT - 100))
    assert engine.accounts[1].reserved == {"USDt": 499_990_000}


# ----------------------------------------------------------------------------------------------- LIQ-003 and risk.multi


def test_liq_003_a_cross_pool_with_a_one_contract_member_is_liquidated_after_that_member_fell() -> None:
    """An account with two open cross positions (XBTUSD 1,000 long and ETHUSD one contract long, 250,000 XBt) is
    re-indexed on every mark move, a one-contract member included: after ETHUSD falls from 3,000.00 to 1,000.00
    (no liquidation), its XBTUSD trigger rises from 44,772.50 to 49,175.50, and XBTUSD at 49,175.00 liquidates
    the pool (equity 14,725 < maintenance 14,745; LIQ-023), at 49,175.50 it does not."""
    engine = _engine(250_000)
    for symbol, qty, price in (("XBTUSD", 1_000, XBT), ("ETHUSD", 1, ETH)):
        _accepted(engine, c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Sell", order_qty=qty, price=price))
        _accepted(engine, c.PlaceOrder(time_ms=0, account=1, symbol=symbol, side="Buy", order_qty=qty, price=price))
    # the index entries of both positions are computed here, with ETHUSD still at 3,000.00
    _accepted(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=XBT, index_price=XBT))
    fell = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=100_000, index_price=100_000))
    assert _liquidations(fell) == []
    above = engine.process(c.PriceUpdate(time_ms=2, symbol="XBTUSD", mark_price=4_917_550, index_price=4_917_550))
    assert _liquidations(above) == []
    below = engine.process(c.PriceUpdate(time_ms=3, symbol="XBTUSD", mark_price=4_917_500, index_price=4_917_500))
    assert [(r.account_id, r.pool, r.equity, r.maintenance) for r in _liquidations(below)] == [
        (1, "cross:XBt", 14_725, 14_745)
    ]


def _liquidations(events: list[object]) -> list[Liquidation]:
    return [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
