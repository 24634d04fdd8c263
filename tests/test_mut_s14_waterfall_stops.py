"""Stops after the waterfall's trades (``Prices._waterfall``, session 13) measured by mutants (session 14, "mut14").

Statement mutants of ``engine/core/prices.py`` on the lines session 13 changed: the waterfall of a *FundingTick*
is followed by the triggers too (only the PriceUpdate path was tested: calling ``self.waterfall.run`` there, as
before the fix, passed), and the contracts whose last price the waterfall moved run their triggers in symbol order
(the docstring's "contract by contract in symbol order"; the reverse order passed).

Rules: LIQ-024 (close-out in the book), FND-008 (funding, then the waterfall), the conditional orders' trigger
(stops on the last price); determinism (the same commands give the same events in the same order).
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


def fired(events: list[Event], order_id: int) -> list[int]:
    """The positions in ``events`` where ``order_id`` was triggered."""
    return [n for n, e in enumerate(events) if isinstance(e, Execution) and e.order_id == order_id
            and e.exec_type == "TriggeredOrActivatedBySystem"]


def test_a_close_out_after_funding_fires_the_last_price_stop_it_trades_through() -> None:
    """Kills ``self._waterfall(inst)`` -> ``self.waterfall.run(inst)`` in ``Prices.funding``.

    Account 1 is long 100,000 XBTUSD at 50,000 on thin margin, the mark at 49,900: above maintenance.  Funding at
    the cap (0.375%, longs pay) takes it below; the close-out sells into account 9's bid at 49,750 and the last
    price falls through account 3's LastPrice sell stop at 49,760, which fires in the same FundingTick, after the
    close-out's trades.  The mutant left it untriggered until the next trade or PriceUpdate."""
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
    ok(engine, c.PlaceOrder(time_ms=0, account=9, symbol="XBTUSD", side="Buy", order_qty=100_000, price=4_975_000))
    stop = ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=100, ord_type="Stop",
                                   stop_px=4_976_000, exec_inst="LastPrice"))[-1].order_id
    ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_990_000))
    assert engine.positions(1)["XBTUSD"].qty == 100_000  # not taken over at this mark
    events = ok(engine, c.FundingTick(time_ms=2, symbol="XBTUSD", rate_e8=375_000))
    liquidation = [n for n, e in enumerate(events) if isinstance(e, Execution) and e.text == "Liquidation"]
    assert [(events[n].last_qty, events[n].last_px) for n in liquidation] == [(100_000, 4_975_000)]
    assert engine.last_prices["XBTUSD"] == 4_975_000
    assert fired(events, stop)
    assert fired(events, stop)[0] > max(liquidation)
    assert stop not in engine.triggers.conditional["XBTUSD"]


def test_the_contracts_a_waterfall_traded_in_fire_their_stops_in_symbol_order() -> None:
    """Kills ``sorted(last_prices)`` -> ``sorted(last_prices, reverse=True)`` in ``Prices._waterfall``.

    An XBTUSD mark update takes over account 1's cross pool (long XBTUSD, short XBTZ26): its XBTUSD close-out sells
    at 49,000 through account 4's XBTUSD LastPrice sell stop at 49,500, its XBTZ26 close-out buys at 49,800 through
    account 4's XBTZ26 LastPrice sell stop at 49,900.  Both fire in the command, XBTUSD's first (symbol order),
    so the same commands give the same events in the same order; the mutant fired XBTZ26's first."""
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
    stops = {}
    for symbol, stop_px in (("XBTUSD", 4_950_000), ("XBTZ26", 4_990_000)):
        stops[symbol] = ok(engine, c.PlaceOrder(time_ms=0, account=4, symbol=symbol, side="Sell", order_qty=1_000,
                                                ord_type="Stop", stop_px=stop_px, exec_inst="LastPrice"))[-1].order_id
    events = ok(engine, c.PriceUpdate(time_ms=1_000, symbol="XBTUSD", mark_price=4_850_000, index_price=4_850_000))
    assert engine.market.last_prices["XBTUSD"] <= 4_950_000
    assert engine.market.last_prices["XBTZ26"] <= 4_990_000
    usd, z26 = fired(events, stops["XBTUSD"]), fired(events, stops["XBTZ26"])
    assert usd
    assert z26
    assert usd[0] < z26[0]
