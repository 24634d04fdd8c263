"""Session 22 (eng22, speed21's proposal 3): the take-over at a trade is asked only of a command that traded.

LIQ-034 at a trade (``Prices.take_over_filled``) reads the command's Trade executions to find the accounts they
filled.  It used to read every command's events; now ``EventStream.emit_exec`` marks the command when it emits a
Trade execution (``EventStream.traded``, reset by ``begin``) and ``Engine._dispatch`` asks for the take-over only then.
That is exact only while every Trade execution is made by ``emit_exec`` (the sweep's, the fills', the close-outs'):
these tests fail if one bypassed it (the pools a trade leaves below maintenance would wait for the next mark update)
or if the mark outlived its command.  The take-over itself is checked with the proved kernels and with the generic
rules (an instrument with no kernel set: ``Risk.pool_of``'s rule fallback).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.engine.kernels.load import generic_rules_only, kernel_index
from perpspec.rules.events import Liquidation, LiquidationFill
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_all

X, P = "XBTUSD", 5_000_000
XBTUSD = load_instrument(X)
# the kernels folded the risk limit in: with another one this instrument has no kernel set (the generic rules run)
UNPROVED = attrs.evolve(XBTUSD, risk_limit=XBTUSD.risk_limit * 2)


def _traded(events: list[Event]) -> bool:
    return any(type(event) is Execution and event.exec_type == "Trade" for event in events)


def _ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    found = {name: problems for name, problems in check_all(engine, engine.step_info(events)).items() if problems}
    assert found == {}, (command, found)
    assert engine.stream.traded == _traded(events), command  # the mark is this command's, and set by every Trade
    return events


def _px(bp: int) -> int:
    return P * bp // 10_000 // 50 * 50


def _decoys(inst: Instrument, decoys: int) -> Engine:
    """redteam27_3's market (tests/test_s20_maker_fill_takeover.py): the decoys' 100-contract 100x isolated bids rest
    at 48,950, stale since the mark fell to 48,600: a sell into them leaves each below maintenance."""
    engine = Engine({X: inst}, max_liquidations_per_update=2)
    engine.track_steps = True
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=P, index_price=P))
    for account in (2, 3):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    for account in range(100, 100 + decoys):
        _ok(engine, c.VerifyAccount(time_ms=1, account=account))
        _ok(engine, c.Deposit(time_ms=1, account=account, asset="XBt", amount=2_500))
        _ok(engine, c.SetLeverage(time_ms=1, account=account, symbol=X, leverage_hundredths=10_000))
        _ok(engine, c.PlaceOrder(time_ms=1, account=account, symbol=X, side="Buy", order_qty=100, price=_px(9790)))
    _ok(engine, c.PriceUpdate(time_ms=2, symbol=X, mark_price=_px(9790), index_price=_px(9790)))
    _ok(engine, c.PriceUpdate(time_ms=3, symbol=X, mark_price=_px(9720), index_price=_px(9720)))
    return engine


def _rules(kind: str) -> AbstractContextManager[None]:
    return generic_rules_only() if kind == "generic-rules" else nullcontext()


@pytest.mark.parametrize(
    ("kind", "inst"),
    [("kernels", XBTUSD), ("generic-rules", XBTUSD), ("no-kernel-set", UNPROVED)],
    ids=["kernels", "generic-rules", "no-kernel-set"],
)
def test_the_pools_a_sell_leaves_below_maintenance_are_taken_over_in_its_command(kind: str, inst: Instrument) -> None:
    decoys = 4
    with _rules(kind):
        assert (kernel_index(inst) >= 0) == (kind == "kernels")
        engine = _decoys(inst, decoys)
        sell = _ok(engine, c.PlaceOrder(time_ms=4, account=3, symbol=X, side="Sell", order_qty=100 * decoys,
                                        price=_px(9790)))
        records = [event.record for event in sell if isinstance(event, RuleEvent)]
        taken = sorted(record.account_id for record in records if isinstance(record, Liquidation))
        assert taken == list(range(100, 100 + decoys))  # every decoy the sell filled, in the sell's own command
        assert engine.stream.traded
        assert not any(engine.risk.below_maintenance(engine.accounts[a], X) for a in sorted(engine.ledger.holders[X]))
        # the next command trades nothing: the mark is gone with the sell's command
        _ok(engine, c.Deposit(time_ms=5, account=2, asset="XBt", amount=1))
        assert not engine.stream.traded


def _commands() -> Iterator[object]:
    from tests.streams import command_stream

    yield from command_stream(seed=11, length=1_500)


@pytest.mark.parametrize("kind", ["kernels", "generic-rules"])
def test_a_command_is_marked_exactly_when_it_emits_a_trade_execution(kind: str) -> None:
    """A seeded day of trading (tests/streams.py: liquidations, close-outs in the book, ADL): after each command the
    mark says whether its events hold a Trade execution (a maker's, a taker's, a close-out's)."""
    with _rules(kind):
        engine = Engine()
        marked = close_out_fills = 0
        for command in _commands():
            events = engine.process(command)  # type: ignore[arg-type]
            assert engine.stream.traded == _traded(events), command
            marked += engine.stream.traded
            close_out_fills += sum(isinstance(e, RuleEvent) and isinstance(e.record, LiquidationFill) for e in events)
    assert marked > 100 and close_out_fills > 0  # the stream reaches the sweep's, the fills' and the close-outs' trades
