"""Session 22 (eng22, speed21's proposal 3): the take-over at a trade knows the accounts the command's trades filled
without reading the command's events back.

LIQ-034 at a trade (``Prices.take_over_filled``) takes over the pools of the accounts the command's Trade executions
filled (taker or maker, not the liquidation engine) that are below maintenance at mark.  It used to read every
command's events to find them; now ``EventStream.emit_exec`` records their accounts as it makes each Trade execution
(``EventStream.filled``, emptied by ``begin`` and where a waterfall's rounds judged its own fills), and
``Engine._dispatch`` asks for the take-over only when it holds one.  That is exact only while every Trade execution
is made by ``emit_exec`` (the sweep's, the fills', the close-outs'): these tests fail if one bypassed it (the pools
a trade leaves below maintenance would wait for the next mark update) or if the record outlived its command.  The
take-over is checked with the proved kernels and with the generic rules (an instrument with no kernel set:
``Risk.pool_of``'s rule fallback).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution, Rejected, RuleEvent
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


class _Seen(dict[int, None]):
    """``EventStream.filled`` that also keeps every account recorded in it (interpreted engine only)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[int] = set()

    def __setitem__(self, account: int, value: None) -> None:
        self.seen.add(account)
        super().__setitem__(account, value)


def _watch(engine: Engine) -> _Seen:
    seen = _Seen()
    engine.stream.filled = seen
    return seen


def _fills(events: list[Event]) -> set[int]:
    """The accounts of the Trade executions among ``events`` (not the liquidation engine's)."""
    return {e.account for e in events if type(e) is Execution and e.exec_type == "Trade" and e.account >= 0}


def _ok(engine: Engine, command: c.Command, seen: _Seen) -> list[Event]:
    seen.seen.clear()
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    found = {name: problems for name, problems in check_all(engine, engine.step_info(events)).items() if problems}
    assert found == {}, (command, found)
    assert seen.seen == _fills(events), command  # every Trade execution's account recorded as it was made
    assert not engine.stream.filled  # and judged before the command returned
    return events


def _px(bp: int) -> int:
    return P * bp // 10_000 // 50 * 50


def _decoys(inst: Instrument, decoys: int) -> tuple[Engine, _Seen]:
    """redteam27_3's market (tests/test_s20_maker_fill_takeover.py): the decoys' 100-contract 100x isolated bids rest
    at 48,950, stale since the mark fell to 48,600: a sell into them leaves each below maintenance."""
    engine = Engine({X: inst}, max_liquidations_per_update=2)
    engine.track_steps = True
    seen = _watch(engine)
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=P, index_price=P), seen)
    for account in (2, 3):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account), seen)
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10), seen)
    for account in range(100, 100 + decoys):
        _ok(engine, c.VerifyAccount(time_ms=1, account=account), seen)
        _ok(engine, c.Deposit(time_ms=1, account=account, asset="XBt", amount=2_500), seen)
        _ok(engine, c.SetLeverage(time_ms=1, account=account, symbol=X, leverage_hundredths=10_000), seen)
        _ok(engine, c.PlaceOrder(time_ms=1, account=account, symbol=X, side="Buy", order_qty=100, price=_px(9790)), seen)
    _ok(engine, c.PriceUpdate(time_ms=2, symbol=X, mark_price=_px(9790), index_price=_px(9790)), seen)
    _ok(engine, c.PriceUpdate(time_ms=3, symbol=X, mark_price=_px(9720), index_price=_px(9720)), seen)
    return engine, seen


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
        engine, seen = _decoys(inst, decoys)
        sell = _ok(engine, c.PlaceOrder(time_ms=4, account=3, symbol=X, side="Sell", order_qty=100 * decoys,
                                        price=_px(9790)), seen)
        records = [event.record for event in sell if isinstance(event, RuleEvent)]
        taken = sorted(record.account_id for record in records if isinstance(record, Liquidation))
        assert taken == list(range(100, 100 + decoys))  # every decoy the sell filled, in the sell's own command
        assert not any(engine.risk.below_maintenance(engine.accounts[a], X) for a in sorted(engine.ledger.holders[X]))


def test_the_record_is_the_commands_own() -> None:
    """A record left by an earlier command (one rejected after it traded keeps its own) is gone at the next."""
    engine, _ = _decoys(XBTUSD, 1)
    engine.stream.filled[100] = None
    refused = engine.process(c.Deposit(time_ms=5, account=2, asset="XBt", amount=-1))
    assert isinstance(refused[-1], Rejected)
    assert engine.stream.filled == {}


@pytest.mark.parametrize("kind", ["kernels", "generic-rules"])
def test_every_trade_executions_account_is_recorded_as_it_is_made(kind: str) -> None:
    """A seeded day of trading (tests/streams.py: liquidations, close-outs in the book, ADL): each command's record
    holds exactly the accounts its Trade executions filled (a maker's, a taker's, a close-out's)."""
    from tests.streams import command_stream

    with _rules(kind):
        engine = Engine()
        seen = _watch(engine)
        traded = close_out_fills = 0
        for command in command_stream(seed=11, length=1_500):
            seen.seen.clear()
            events = engine.process(command)
            assert seen.seen == _fills(events), command
            traded += bool(seen.seen)
            close_out_fills += sum(isinstance(e, RuleEvent) and isinstance(e.record, LiquidationFill) for e in events)
    assert traded > 100  # the stream reaches the sweep's and the fills' trades
    assert close_out_fills > 0  # and the close-outs'


E, EP = "ETHUSD", 300_000


def test_a_traders_other_pool_does_not_hide_the_one_its_fill_left_due() -> None:
    """``Waterfall._due_among`` finds each pool of a filled account: every isolated position is its own pool (only
    a cross pool is found once per settlement currency).  Each decoy already holds a healthy isolated ETHUSD position
    (settled in XBt like XBTUSD, and read first: ETHUSD sorts before it); the sell still takes over every decoy's
    isolated XBTUSD pool in its own command (it would wait for the next mark update were isolated pools deduplicated
    by currency as cross ones are)."""
    decoys = 3
    engine = Engine({X: XBTUSD, E: load_instrument(E)}, max_liquidations_per_update=2)
    engine.track_steps = True
    seen = _watch(engine)
    for symbol, price in ((X, P), (E, EP)):
        _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price), seen)
    for account in (2, 3):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account), seen)
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10), seen)
    for account in range(100, 100 + decoys):
        _ok(engine, c.VerifyAccount(time_ms=1, account=account), seen)
        _ok(engine, c.Deposit(time_ms=1, account=account, asset="XBt", amount=10**7), seen)
        _ok(engine, c.SetLeverage(time_ms=1, account=account, symbol=E, leverage_hundredths=1_000), seen)
        _ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=E, side="Sell", order_qty=1, price=EP), seen)
        _ok(engine, c.PlaceOrder(time_ms=1, account=account, symbol=E, side="Buy", order_qty=1, price=EP), seen)
        # the decoy's available balance as in _decoys (2,500): its XBTUSD fill draws on it (ACC-006)
        spare = engine.available(account, "XBt") - 2_500
        _ok(engine, c.Withdraw(time_ms=1, account=account, asset="XBt", amount=spare), seen)
        _ok(engine, c.SetLeverage(time_ms=1, account=account, symbol=X, leverage_hundredths=10_000), seen)
        _ok(engine, c.PlaceOrder(time_ms=1, account=account, symbol=X, side="Buy", order_qty=100, price=_px(9790)), seen)
    _ok(engine, c.PriceUpdate(time_ms=2, symbol=X, mark_price=_px(9790), index_price=_px(9790)), seen)
    _ok(engine, c.PriceUpdate(time_ms=3, symbol=X, mark_price=_px(9720), index_price=_px(9720)), seen)
    for account in range(100, 100 + decoys):
        assert engine.positions(account)[E].qty == 1
        assert not engine.risk.below_maintenance(engine.accounts[account], E)
    sell = _ok(engine, c.PlaceOrder(time_ms=4, account=3, symbol=X, side="Sell", order_qty=100 * decoys,
                                    price=_px(9790)), seen)
    records = [event.record for event in sell if isinstance(event, RuleEvent)]
    taken = sorted(record.account_id for record in records if isinstance(record, Liquidation))
    assert taken == list(range(100, 100 + decoys))
    assert not any(engine.risk.below_maintenance(engine.accounts[a], X) for a in sorted(engine.ledger.holders[X]))
