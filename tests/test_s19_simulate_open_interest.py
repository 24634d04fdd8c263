"""The simulator's openInterest, row by row, while the liquidation engine holds a short (redteam25_9).

BitMEX's ``openInterest`` is the Σ of long quantities, the liquidation engine's held position included when it is
long; a short it holds is the other side of those longs, not more open interest.  Counted as ``abs``, a held short
overstated every ``instrument`` row written while it was held (a short squeeze) and every test passed
(/work/coord/repro19/redteam25_9.py): tests/test_simulate.py checks only the last row of ``tiny_crash``, where
the liquidation engine holds nothing or longs.  Here every instrument row of a short squeeze is checked against the
engine at the moment it is written, and the run must include rows written while a short is held.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import LIQUIDATOR, Simulation


def test_every_instrument_rows_open_interest_is_the_engines_longs_while_a_short_is_held(tmp_path: Path) -> None:
    scenario = load_scenario("short_squeeze", [("accounts.count", "100")])
    symbol = scenario.instrument.symbol
    seen: list[tuple[int, int, int]] = []  # (row's openInterest, the engine's, the liquidation engine's qty)
    simulation: Simulation | None = None

    def observe(record: Any) -> None:
        if record.get("table") != "instrument":
            return
        assert simulation is not None
        engine = simulation.port.engine
        longs = 0
        for account in engine.account_ids():
            position = engine.positions(account).get(symbol)
            if account != LIQUIDATOR and position is not None:
                longs += max(position.qty, 0)
        held = simulation.port.position(LIQUIDATOR, symbol).qty
        seen.append((record["openInterest"], longs + max(held, 0), held))

    simulation = Simulation(scenario, tmp_path, observer=observe)
    simulation.run()
    assert len(seen) > 10
    shorts_held = [row for row in seen if row[2] < 0]
    assert shorts_held, "the squeeze never left the liquidation engine holding a short: the test reaches nothing"
    assert [(written, engine) for written, engine, _ in seen if written != engine] == []
