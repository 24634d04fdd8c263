"""A liquidation's trades move the last price, and the stops that watch it fire in the same command (red team 5).

``Prices.price_update`` ran the triggers before the waterfall and never after it: a close-out selling into a bid
through a LastPrice sell stop left the stop untriggered until the next PriceUpdate or trade in the contract, at
whatever price that brought (redteam5_5).  BitMEX's liquidation orders are book orders: their trades trigger stops
like any other.  The waterfall of a PriceUpdate or a FundingTick is now followed by the triggers when it traded.

Rules: LIQ-024 (close-out in the book), the conditional orders' trigger (ORD: stops on the last price).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_builtin_instruments


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def thin_long_over_a_bid(stop_px: int, exec_inst: str = "LastPrice") -> tuple[Engine, int]:
    """Account 1 long 100,000 XBTUSD at 50,000 on thin margin; account 9 bids 100,000 at 49,550; account 3 a sell stop."""
    engine = Engine()
    for account in (1, 3, 9):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
    ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    ok(engine, c.Deposit(time_ms=0, account=1, asset="XBt", amount=2_310_000))
    for account in (3, 9):
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.DepositInsurance(time_ms=0, asset="XBt", amount=10**9))
    ok(engine, c.PlaceOrder(time_ms=0, account=9, symbol="XBTUSD", side="Sell", order_qty=100_000, price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100_000, price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=0, account=9, symbol="XBTUSD", side="Buy", order_qty=100_000, price=4_955_000))
    stop = ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=100, ord_type="Stop",
                                   stop_px=stop_px, exec_inst=exec_inst))[-1]
    assert isinstance(stop, Accepted)
    return engine, stop.order_id


def close_out_trades(events: list[Event]) -> list[tuple[int, int]]:
    return [(e.last_qty, e.last_px) for e in events
            if isinstance(e, Execution) and e.exec_type == "Trade" and e.text == "Liquidation"]


def test_a_close_out_through_a_last_price_stop_fires_it_in_the_same_command() -> None:
    engine, stop = thin_long_over_a_bid(stop_px=4_956_000)
    events = ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_960_000))
    assert close_out_trades(events) == [(100_000, 4_955_000)]
    assert engine.last_prices["XBTUSD"] == 4_955_000
    # the bid is gone with the close-out: the stop-market sell triggers and finds nothing to trade at
    fired = [e for e in events if isinstance(e, Execution) and e.order_id == stop
             and e.exec_type == "TriggeredOrActivatedBySystem"]
    assert fired  # old code: the stop was still untriggered after this command (and after a TimeTick)
    assert stop not in engine.live_orders
    assert events.index(fired[0]) > max(events.index(e) for e in events
                                        if isinstance(e, Execution) and e.text == "Liquidation")


def test_a_stop_the_close_out_does_not_reach_stays() -> None:
    engine, stop = thin_long_over_a_bid(stop_px=4_954_500)  # below the close-out's price
    ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_960_000))
    order = engine.live_orders[stop]
    assert not order.triggered


def test_a_mark_price_stop_is_judged_on_the_mark_only() -> None:
    engine, stop = thin_long_over_a_bid(stop_px=4_956_000, exec_inst="MarkPrice")
    ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_960_000))  # mark above the stop
    assert not engine.live_orders[stop].triggered


def test_a_close_out_in_the_pools_other_contract_fires_that_contracts_stops() -> None:
    # review8_2: an XBTUSD mark update takes over account 1's cross pool (long XBTUSD, short XBTZ26); its XBTZ26
    # close-out trades at 49,800, so XBTZ26's last price falls through account 4's LastPrice sell stop at 49,900
    engine = Engine(dict(load_builtin_instruments()))
    for account, amount in ((1, 60_000), (2, 10**10), (3, 10**10), (4, 10**10)):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for symbol in ("XBTUSD", "XBTZ26"):
        ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=5_000_000, index_price=5_000_000))
    for account, symbol, side, qty, price in (
        (2, "XBTUSD", "Sell", 1_000, 5_000_000), (1, "XBTUSD", "Buy", 1_000, 5_000_000),
        (3, "XBTUSD", "Buy", 100_000, 4_900_000), (2, "XBTZ26", "Buy", 1_000, 5_000_000),
        (1, "XBTZ26", "Sell", 1_000, 5_000_000), (2, "XBTZ26", "Sell", 1_000, 5_000_000),
        (4, "XBTZ26", "Buy", 1_000, 5_000_000), (3, "XBTZ26", "Sell", 100_000, 4_980_000),
    ):
        ok(engine, c.PlaceOrder(time_ms=0, account=account, symbol=symbol, side=side, order_qty=qty, price=price))
    stop = ok(engine, c.PlaceOrder(time_ms=0, account=4, symbol="XBTZ26", side="Sell", order_qty=1_000,
                                   ord_type="Stop", stop_px=4_990_000, exec_inst="LastPrice"))[-1]
    assert isinstance(stop, Accepted)
    events = ok(engine, c.PriceUpdate(time_ms=1_000, symbol="XBTUSD", mark_price=4_850_000, index_price=4_850_000))
    assert engine.market.last_prices["XBTZ26"] <= 4_990_000  # the XBTZ26 close-out traded through the stop
    assert any(isinstance(e, Execution) and e.order_id == stop.order_id
               and e.exec_type == "TriggeredOrActivatedBySystem" for e in events)  # old code: still conditional
    assert stop.order_id not in engine.triggers.conditional["XBTZ26"]
