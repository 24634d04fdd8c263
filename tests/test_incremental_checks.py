"""The incremental registry check (engine/simulation/checks.py) answers as the full check, and loses no violation.

``simulate`` checks the whole registry after every mark update reading only the accounts
the engine's events named since the last check (the rest it keeps).  These tests compare,
after **every command**, its answers with the full check's (``check_all`` on ``PooledView``)
and every kept answer with the engine's — on shipped crashes and on the engine's Hypothesis
state machine (every order type, amends, transfers, leverage, funding, spot, liquidations and
ADL) — and plant violations: in an account the command named (reported at once, identically),
and at a mark no command moved to (every holder's equity is computed afresh from the mark).
A change no event names is outside what the incremental check reads: the final full check
reports it (the last test).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant

from perpspec.engine.core.events import Event
from perpspec.engine.simulation.checks import (
    IncrementalChecks,
    KeptView,
    named_accounts,
    value_rises_with_price,
)
from perpspec.engine.simulation.engine_port import PooledView
from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import Simulation
from perpspec.rules import invariants
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariant_registry import compute_best_prices
from tests.test_engine_stateful import EngineMachine
from tests.test_pooled_view import PLANTS

SMALL = {"tiny_crash": ()}  # the shipped scenarios at a size a test can run after every command
DEEP = {  # a minute or two each (-m deep): the makers requote every minute of 8 hours, whatever the accounts
    "default_crash": (("accounts.count", "60"),),
    "funding_spiral": (("accounts.count", "40"),),
    "short_squeeze": (("accounts.count", "40"),),
    "black_thursday": (("accounts.count", "40"),),
}


def same_answers(checks: IncrementalChecks, engine: Any, events: list[Event]) -> dict[str, list[str]]:
    step = engine.step_info(events)
    found = checks.check_all(step)
    full = PooledView(engine)
    assert found == invariants.check_all(full, step)
    # the "best" listing gives every contract's best prices as every account does (a crossed book is never met)
    best = KeptView(checks, checks.best_holders())
    for symbol in sorted(engine.instruments()):
        assert compute_best_prices(best, symbol) == compute_best_prices(full, symbol)
    assert checks.stale() == []
    return found


def run_compared(name: str, overrides: tuple[tuple[str, str], ...], tmp_path: Path, plant: bool) -> dict[str, int]:
    simulation = Simulation(load_scenario(name, overrides), tmp_path)
    checks = simulation.checks
    assert checks is not None
    port = simulation.port
    engine = port.engine
    apply = port.apply
    seen = {"commands": 0, "caught": 0, "marks": 0}

    def checked_apply(command: Any) -> Any:
        events = apply(command)
        seen["commands"] += 1
        checks.saw(events)
        same_answers(checks, engine, events)
        if plant:
            named: set[int] = set()
            named_accounts(events, named)
            targets = sorted(a for a in named if a >= 0 and a not in engine.step_info(events).liquidating_accounts)
            if targets:
                target = targets[len(targets) // 2]
                for planting in PLANTS:
                    inv_id, undo = planting(engine, target, simulation.asset)
                    try:
                        if inv_id:
                            checks.saw(events)  # the plant stands for a change of this command's account
                            if same_answers(checks, engine, events)[inv_id]:  # reported (identically) by both
                                seen["caught"] += 1
                    finally:
                        undo()
                        checks.saw(events)
                same_answers(checks, engine, events)
        return events

    port.apply = checked_apply  # type: ignore[method-assign]
    result = simulation.run()
    assert not result.invariant_violations
    return seen


@pytest.mark.parametrize("name", sorted(SMALL))
def test_the_incremental_check_answers_as_the_full_one_after_every_command(name: str, tmp_path: Path) -> None:
    seen = run_compared(name, SMALL[name], tmp_path, plant=False)
    assert seen["commands"] > 100


@pytest.mark.deep
@pytest.mark.parametrize("name", sorted(DEEP))
def test_the_incremental_check_answers_as_the_full_one_on_larger_runs(name: str, tmp_path: Path) -> None:
    seen = run_compared(name, DEEP[name], tmp_path, plant=False)
    assert seen["commands"] > 100


def test_a_violation_planted_in_a_named_account_is_caught_at_that_command(tmp_path: Path) -> None:
    seen = run_compared("tiny_crash", (), tmp_path, plant=True)
    assert seen["caught"] >= seen["commands"]  # most commands name an account; most plants are violations there


def test_a_mark_no_command_sent_is_read_for_every_holder(tmp_path: Path) -> None:
    """Every holder's equity at the current mark, named or not: a mark moved under the engine shows them all."""
    simulation = Simulation(load_scenario("tiny_crash"), tmp_path)
    checks = simulation.checks
    assert checks is not None
    engine = simulation.port.engine
    apply = simulation.port.apply
    seen = {"moved": 0}

    def checked_apply(command: Any) -> Any:
        events = apply(command)
        checks.saw(events)
        step = engine.step_info(events)
        holders = [a for a in engine.account_ids() if a >= 0 and engine.positions(a)]
        if step.waterfall_complete and holders and type(command).__name__ == "PriceUpdate":
            marks = engine.market.marks
            symbol = simulation.symbol
            before = marks[symbol]
            for moved in (engine.instruments()[symbol].tick_size, before * 50):  # far below, far above
                marks[symbol] = moved
                try:
                    found = same_answers(checks, engine, events)
                    owing = found["INV-NO-NEG-EQUITY-AFTER-ADL"]
                    assert owing, moved
                    seen["moved"] += 1
                finally:
                    marks[symbol] = before
        return events

    simulation.port.apply = checked_apply  # type: ignore[method-assign]
    simulation.run()
    assert seen["moved"] > 20


def test_a_change_no_event_names_is_reported_by_the_final_check(tmp_path: Path) -> None:
    """Outside the incremental check's reading, caught at the end: the final check reads every account afresh."""
    simulation = Simulation(load_scenario("tiny_crash"), tmp_path)
    engine = simulation.port.engine
    original = simulation.snapshot

    def snapshot(phase: str) -> None:
        if phase == "after":  # a silent change of a trader's wallet just before the final check
            account = engine.ledger.accounts[max(engine.ledger.accounts)]
            account.wallets[simulation.asset] += 1
        original(phase)

    simulation.snapshot = snapshot  # type: ignore[method-assign]
    result = simulation.run()
    problems = "\n".join(result.invariant_violations)
    assert "INV-CONSERVATION" in problems
    assert "incremental check: account" in problems


class IncrementalMachine(EngineMachine):
    """The engine state machine, the incremental check compared with the full one after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.checks = IncrementalChecks(self.engine)

    def run(self, command: Any) -> list[Event]:
        events = super().run(command)
        self.checks.saw(events)
        return events

    @invariant()
    def the_incremental_check_answers_as_the_full_one(self) -> None:
        same_answers(self.checks, self.engine, self.last_events)


TestIncrementalMachine = IncrementalMachine.TestCase
TestIncrementalMachine.settings = settings(max_examples=60, stateful_step_count=50, deadline=None)


CONTRACTS = [load_instrument(symbol) for symbol in ("XBTUSD", "ETHUSD", "XBTUSDT", "XBTZ26")]


@settings(max_examples=2_000, deadline=None)
@given(
    st.sampled_from(CONTRACTS),
    st.integers(-(10**7), 10**7).filter(lambda lots: lots != 0),
    st.integers(1, 10**9),
    st.integers(0, 10**9),
)
def test_a_positions_value_moves_with_the_price_the_way_the_incremental_check_assumes(
    inst: Any, lots: int, price: int, rise: int
) -> None:
    """CON-002 is monotone in the price, in the direction value_rises_with_price gives (the "equity" listing's skip)."""
    qty = lots * inst.lot_size
    low, high = compute_value(inst, qty, price), compute_value(inst, qty, price + rise)
    if value_rises_with_price(inst, qty):
        assert low <= high
    else:
        assert low >= high
    if rise > 0 and low != high:
        assert (high > low) == value_rises_with_price(inst, qty)


@settings(max_examples=1_000, deadline=None)
@given(
    st.sampled_from(CONTRACTS),
    st.integers(-(10**6), 10**6).filter(lambda lots: lots != 0),
    st.integers(1, 10**8),
    st.integers(-(10**12), 10**12),
    st.integers(0, 10**12),
)
def test_the_kept_bound_is_the_furthest_mark_with_equity_at_least_zero(
    inst: Any, lots: int, mark: int, cost: int, wallet: int
) -> None:
    """worst_safe_price: equity ≥ 0 at the bound (so at every mark between it and the kept one), < 0 one tick beyond."""
    from perpspec.engine.simulation.checks import worst_safe_price
    from perpspec.rules.position import Position

    qty = lots * inst.lot_size
    position = Position(qty=qty, cost=cost)

    def equity(price: int) -> int:
        return wallet + compute_value(inst, qty, price) - cost

    rises = value_rises_with_price(inst, qty)
    if equity(mark) < 0:
        assert worst_safe_price(inst, position, wallet, mark, rises, equity(mark)) == mark
        return
    assert worst_safe_price(inst, position, wallet, mark, rises, equity(mark) + 1) == mark  # not the invariant's value
    bound = worst_safe_price(inst, position, wallet, mark, rises, equity(mark))
    assert equity(bound) >= 0
    if rises:
        assert 1 <= bound <= mark
        assert bound == 1 or equity(bound - 1) < 0
        assert all(equity(p) >= 0 for p in (bound, (bound + mark) // 2, mark))
    else:
        assert mark <= bound <= max(inst.max_price, mark)
        assert bound == max(inst.max_price, mark) or equity(bound + 1) < 0
        assert all(equity(p) >= 0 for p in (mark, (bound + mark) // 2, bound))
