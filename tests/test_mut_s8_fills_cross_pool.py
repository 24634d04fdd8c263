"""LIQ-053 in ``Fills.make_guard`` for a trader's sweep (the proved kernels and the generic rules), through public
commands only (session 8 mutation survivors of ``engine/core/fills.py``).

* LIQ-053 judges isolated fills only; a cross fill is LIQ-044's alone.  Account 3 (1,000,000 XBt) holds a cross
  XBTUSD long of 10,000 and a cross XBTZ26 short of 10,000, both at 50,000.00; both marks rise to 55,000.00, so the
  long's profit and the short's loss cancel and the cross pool's equity is its margin, 970,000, over a maintenance
  of 230,300.  Account 3 sells its long at market at 55,000.00: the profit the fill realises, less its commission,
  moves 1,804,563 *into* the cross pool's margin — more than its equity above maintenance.  LIQ-044 allows it (a
  reduction at the mark); LIQ-053's comparison (equity − moved ≥ maintenance, or nothing moved out) is for the
  money an isolated fill moves out of the cross pool and is not applied to the cross pool's own fill.
* LIQ-053 measures what an isolated fill *moves* (the pool's margin after less its margin before the sweep), not
  the pool: an isolated 1x ETHUSD long holding 60,090,000 XBt takes its resting bid of 100 at 2,990.00 (a market
  sell meets it) and moves 29,944,850; a cross pool of exactly that plus its maintenance (575,750) lets it fill,
  one satoshi less cancels the bid.
"""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.kernels.load import generic_rules_only
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.solvency import FILL_CANCEL_TEXT

INSTRUMENTS = {symbol: load_instrument(symbol) for symbol in ("XBTUSD", "ETHUSD", "XBTZ26")}


def _ok(engine: Engine, command: c.Command) -> None:
    events = engine.process(command)
    assert not isinstance(events[-1], Rejected), (command, events[-1])


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "generic-rules"])
def test_liq_053_a_cross_fill_realising_a_profit_is_not_judged_as_a_move_out_of_the_cross_pool(
    kernels: bool,
) -> None:
    """LIQ-044 / LIQ-053: the taker's cross reduction fills in full; its wallet is 970,000 + 1,804,563."""
    with nullcontext() if kernels else generic_rules_only():
        engine = Engine(INSTRUMENTS)
        for symbol, price in (("XBTUSD", 5_000_000), ("ETHUSD", 300_000), ("XBTZ26", 5_000_000)):
            _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
        for account, amount in ((2, 10**10), (3, 1_000_000)):
            _ok(engine, c.VerifyAccount(time_ms=0, account=account))
            _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
        for symbol, side, other in (("XBTUSD", "Buy", "Sell"), ("XBTZ26", "Sell", "Buy")):
            _ok(
                engine,
                c.PlaceOrder(
                    time_ms=0, account=2, symbol=symbol, side=other, order_qty=10_000, price=5_000_000
                ),
            )
            _ok(
                engine,
                c.PlaceOrder(
                    time_ms=0, account=3, symbol=symbol, side=side, order_qty=10_000, price=5_000_000
                ),
            )
        for symbol in ("XBTUSD", "XBTZ26"):
            _ok(engine, c.PriceUpdate(time_ms=1, symbol=symbol, mark_price=5_500_000, index_price=5_500_000))
        assert engine.risk.pool_of(engine.accounts[3], "XBTUSD") == (
            970_000,
            970_000,
            230_300,
            ["XBTUSD", "XBTZ26"],
        )
        _ok(
            engine,
            c.PlaceOrder(
                time_ms=1, account=2, symbol="XBTUSD", side="Buy", order_qty=10_000, price=5_500_000
            ),
        )
        events = engine.process(
            c.PlaceOrder(
                time_ms=1, account=3, symbol="XBTUSD", side="Sell", order_qty=10_000, ord_type="Market"
            )
        )
    trades = [
        (e.account, e.last_qty, e.last_px)
        for e in events
        if isinstance(e, Execution) and e.exec_type == "Trade"
    ]
    assert trades == [(3, 10_000, 5_500_000), (2, 10_000, 5_500_000)]
    assert set(engine.positions(3)) == {"XBTZ26"}
    assert engine.accounts[3].wallet("XBt") == 2_774_563


def _isolated_bid_beside_a_fallen_cross_long(deposit: int, kernels: bool) -> tuple[Engine, list[object]]:
    """Account 2 (``deposit`` XBt): an isolated 1x ETHUSD long of 200 at 3,000.00 (60,090,000 XBt of margin) and a
    resting bid of 100 at 2,990.00, a cross XBTUSD long of 50,000 at 50,000.00 whose mark falls to 45,000.00;
    account 4 then sells 100 ETHUSD at market into the bid."""
    with nullcontext() if kernels else generic_rules_only():
        engine = Engine(INSTRUMENTS)
        for symbol, price in (("XBTUSD", 5_000_000), ("ETHUSD", 300_000)):
            _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
        for account, amount in ((2, deposit), (3, 10**10), (4, 10**10)):
            _ok(engine, c.VerifyAccount(time_ms=0, account=account))
            _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
        _ok(engine, c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=100))
        for account, symbol, side, qty, price in (
            (4, "ETHUSD", "Sell", 200, 300_000),
            (2, "ETHUSD", "Buy", 200, 300_000),
            (2, "ETHUSD", "Buy", 100, 299_000),
            (3, "XBTUSD", "Sell", 50_000, 5_000_000),
            (2, "XBTUSD", "Buy", 50_000, 5_000_000),
        ):
            _ok(
                engine,
                c.PlaceOrder(
                    time_ms=0, account=account, symbol=symbol, side=side, order_qty=qty, price=price
                ),
            )
        _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_500_000, index_price=4_500_000))
        assert engine.accounts[2].positions["ETHUSD"].iso_margin == 60_090_000
        events = engine.process(
            c.PlaceOrder(time_ms=2, account=4, symbol="ETHUSD", side="Sell", order_qty=100, ord_type="Market")
        )
    return engine, list(events)


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "generic-rules"])
def test_liq_053_an_isolated_pool_holding_margin_may_move_exactly_the_cross_pool_s_excess(
    kernels: bool,
) -> None:
    """LIQ-053 measures what the fill *takes from the cross pool* (compute_cross_draw: its margin after, 90,034,850,
    less its margin before the sweep, 60,090,000, less the maker rebate of 7,475 the wallet gains: 29,937,375), not
    the whole pool: the cross pool's equity is 30,513,125 over a maintenance of 575,750, exactly enough; the bid
    fills and the cross pool then holds exactly 575,750.  (Before fix29b the rebate was not counted and the
    boundary was 30,520,600, leaving 583,225.)"""
    engine, events = _isolated_bid_beside_a_fallen_cross_long(101_834_125, kernels)
    trades = [
        (e.account, e.last_qty, e.last_px)
        for e in events
        if isinstance(e, Execution) and e.exec_type == "Trade"
    ]
    assert trades == [(4, 100, 299_000), (2, 100, 299_000)]
    assert engine.accounts[2].positions["ETHUSD"].iso_margin == 90_034_850
    assert engine.risk.pool_of(engine.accounts[2], "XBTUSD")[1:3] == (575_750, 575_750)


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "generic-rules"])
def test_liq_053_one_satoshi_less_and_the_isolated_bid_is_cancelled(kernels: bool) -> None:
    """LIQ-053: with a cross equity of 30,513,124 the same move would leave it one satoshi below maintenance."""
    engine, events = _isolated_bid_beside_a_fallen_cross_long(101_834_124, kernels)
    executions = [(e.account, e.exec_type, e.text) for e in events if isinstance(e, Execution)]
    assert (2, "Canceled", FILL_CANCEL_TEXT) in executions
    assert not [e for e in executions if e[1] == "Trade"]
    assert engine.positions(2)["ETHUSD"].qty == 200
    assert engine.risk.pool_of(engine.accounts[2], "XBTUSD")[1:3] == (30_513_124, 575_750)
