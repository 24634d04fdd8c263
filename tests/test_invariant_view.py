"""The view one invariant check reads (engine/simulation/engine_port.py ``MemoView``) answers as the engine does.

``simulate`` checks every registered invariant through a view that reads each
account once per check and every account's orders in one pass
(``Views.orders_by_account``).  These tests compare it, answer by answer and
through the whole registry, with the engine itself on states with positions,
resting orders, stops (ReduceOnly among them) and pending liquidations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core.exchange import Engine
from perpspec.engine.simulation.engine_port import MemoView
from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import Simulation
from perpspec.rules import invariants
from perpspec.rules.instrument_file import load_instrument
from tests.streams import SYMBOL, command_stream


def assert_same_answers(engine: Any) -> None:
    view = MemoView(engine)
    assert view.account_ids() == engine.account_ids()
    assert view.assets() == engine.assets()
    held = 0
    for account in engine.account_ids():
        assert view.positions(account) == engine.positions(account)
        assert list(view.open_orders(account)) == list(engine.open_orders(account))
        assert list(view.reduce_only_orders(account)) == list(engine.reduce_only_orders(account))
        for asset in engine.assets():
            assert view.wallet(account, asset) == engine.wallet(account, asset)
        held += len(view.open_orders(account)) + len(view.reduce_only_orders(account))
    for step in (invariants.StepInfo(), invariants.StepInfo(waterfall_complete=True)):
        assert invariants.check_all(MemoView(engine), step) == invariants.check_all(engine, step)
    assert held > 0  # orders were compared, not only empty lists


@pytest.mark.parametrize("length", [300, 1_200, 2_500])
def test_memo_view_answers_as_the_engine_on_a_command_stream(length: int) -> None:
    engine = Engine({SYMBOL: load_instrument(SYMBOL)})
    for command in command_stream(7, length):
        engine.process(command)
    assert_same_answers(engine)


def test_memo_view_answers_as_the_engine_after_a_crash(tmp_path: Path) -> None:
    simulation = Simulation(load_scenario("tiny_crash"), tmp_path)
    result = simulation.run()
    assert result.liquidations > 0
    assert_same_answers(simulation.port.engine)


def test_positions_read_twice_are_equal_and_follow_a_change() -> None:
    """Views keeps the Position it handed out for an unchanged position, and a new one once it changed."""
    engine = Engine({SYMBOL: load_instrument(SYMBOL)})
    commands = command_stream(3, 800)
    for command in commands[:400]:
        engine.process(command)
    before = {account: engine.positions(account) for account in engine.account_ids()}
    assert before == {account: engine.positions(account) for account in engine.account_ids()}
    for command in commands[400:]:
        engine.process(command)
    after = {account: engine.positions(account) for account in engine.account_ids()}
    for account in engine.account_ids():
        state = engine.ledger.accounts[account].positions if account >= 0 else {}
        for symbol, position in after[account].items():
            if account >= 0:
                assert (position.qty, position.cost) == (state[symbol].qty, state[symbol].cost)
    assert before != after
