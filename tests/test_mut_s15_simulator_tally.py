"""The simulator's tally of INV-TRIGGERS-DUE-FIRED checks and of violations, and the CLI's whole numbers (session 15,
helper "mut15").

* ``Simulation.check_command`` counts one trigger check per command whose prices or conditional orders moved (those
  ``IncrementalChecks.trigger_symbols`` names): ``+= 2`` and a count starting at 1 (``Tally.trigger_checks``) passed
  every test.
* ``Simulation.note`` keeps the first 100 violations in full, then only their invariant's id: ``<= 100`` and
  ``< 101`` passed.
* ``whole_number`` (the CLI's integer options) takes up to 200 ASCII digits (a bound on the conversion's cost): the
  edge was never tried.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from perpspec.engine.cli.main import whole_number
from perpspec.engine.simulation.checks import IncrementalChecks
from perpspec.engine.simulation.result import Tally
from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import Simulation


def test_the_simulator_counts_one_trigger_check_per_command_that_moved_a_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Tally().trigger_checks == 0
    named: list[list[str]] = []
    trigger_symbols = IncrementalChecks.trigger_symbols

    def counted(self: IncrementalChecks, events: Any) -> list[str]:
        symbols = trigger_symbols(self, events)
        named.append(symbols)
        return symbols

    monkeypatch.setattr(IncrementalChecks, "trigger_symbols", counted)
    simulation = Simulation(load_scenario("tiny_crash", ()), tmp_path)
    simulation.run()
    assert simulation.tally.trigger_checks == sum(1 for symbols in named if symbols) > 0
    assert simulation.tally.violations == []


def test_the_first_hundred_violations_are_kept_in_full_then_only_their_ids() -> None:
    fake = SimpleNamespace(tally=Tally(), time_ms=0)
    Simulation.note(fake, "INV-X", [f"problem {number}" for number in range(150)])  # type: ignore[arg-type]
    kept = fake.tally.violations
    assert len(kept) == 150
    assert [line.endswith(f"INV-X: problem {number}") for number, line in enumerate(kept[:100])] == [True] * 100
    assert kept[100:] == ["INV-X"] * 50


def test_cli_whole_numbers_take_up_to_200_digits() -> None:
    assert whole_number("9" * 200) == int("9" * 200)
    assert whole_number("-" + "9" * 200) == -int("9" * 200)
    with pytest.raises(ValueError):
        whole_number("9" * 201)
