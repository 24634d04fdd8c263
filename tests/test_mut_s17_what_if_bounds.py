"""Boundaries of session 16's what-if refusals (helper mut17, session 17; mutants of engine/simulation/what_if.py).

* A positions file's mark exactly at ``maxPrice`` is accepted (``parse_state``: only a mark *above* it is refused).
* ``check_marks_in_range`` accepts the smallest mark, one price unit, and refuses 0 (``(0, maxPrice]``).
* A proposal changing an instrument's ``type`` is refused naming the file's field and values ("type inverse → linear"),
  never the Python attribute or the enum's repr.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from perpspec.engine.simulation.what_if import (
    StateError,
    check_marks_in_range,
    check_same_contract,
    parse_state,
    read_state_file,
)
from perpspec.rules.instrument import ContractKind
from perpspec.rules.instrument_file import load_instrument
from tests.test_whatif_s16 import EXAMPLE, _what_if


def test_a_positions_file_mark_exactly_at_max_price_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "positions.toml"
    state.write_text(EXAMPLE.read_text().replace('XBTUSD = "50000"', 'XBTUSD = "1000000"'))
    current = {"XBTUSD": load_instrument("XBTUSD"), "XBTUSDT": load_instrument("XBTUSDT")}
    parsed = parse_state(read_state_file(state), current, str(state))
    assert parsed.marks["XBTUSD"] == current["XBTUSD"].max_price
    status, _, err = _what_if(capsys, "maintMargin=0.008", state=state)
    assert (status, err) == (0, "")


def test_the_smallest_mark_is_in_range_and_zero_is_not() -> None:
    current = {"XBTUSD": load_instrument("XBTUSD"), "XBTUSDT": load_instrument("XBTUSDT")}
    state = parse_state(read_state_file(EXAMPLE), current, str(EXAMPLE))
    check_marks_in_range(attrs.evolve(state, marks={**state.marks, "XBTUSD": 1}), current, "current")
    with pytest.raises(StateError, match=r"mark of XBTUSD 0 USD is outside \(0, maxPrice 1000000 USD\] of the current"):
        check_marks_in_range(attrs.evolve(state, marks={**state.marks, "XBTUSD": 0}), current, "current")


def test_a_proposal_changing_the_contract_type_is_refused_naming_it() -> None:
    # (an instrument file cannot say it: an inverse multiplier is negative, so a linear XBTUSD fails validation first)
    current = {"XBTUSD": load_instrument("XBTUSD")}
    proposed = {"XBTUSD": attrs.evolve(current["XBTUSD"], kind=ContractKind.LINEAR)}
    with pytest.raises(StateError, match=r"^XBTUSD: type inverse → linear changes what a contract, a price or the money"):
        check_same_contract(current, proposed)
