"""The whole engine with the proved kernels and with the generic rules: the same events and state, byte for byte.

The kernels are proved equal to the rules one call at a time (``KRN/*``) and
tested per kernel (tests/test_kernels.py); this runs a shipped scenario —
liquidations, insurance and ADL included — and a seeded day of trading
(tests/streams.py) through the engine both ways and compares the event log,
the journal and the state hash.
"""

from __future__ import annotations

from pathlib import Path

from perpspec.engine.kernels import load
from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import run_scenario


def test_a_scenario_gives_the_same_bytes_with_and_without_the_kernels(tmp_path: Path) -> None:
    scenario = load_scenario("tiny_crash")
    assert load.kernels_for(scenario.instrument) is not None  # its overrides leave the kernels' parameters alone
    specialised = run_scenario(scenario, tmp_path / "kernels")
    with load.generic_rules_only():
        generic = run_scenario(scenario, tmp_path / "generic")
    assert (specialised.journal_sha256, specialised.state_sha256) == (generic.journal_sha256, generic.state_sha256)
    assert Path(specialised.event_log).read_bytes() == Path(generic.event_log).read_bytes()


def _replay(commands: list[object]) -> tuple[str, str, int]:
    from perpspec.engine.core.exchange import Engine
    from perpspec.engine.durability.recovery import event_stream_hash

    engine = Engine()
    events = [event for command in commands for event in engine.process(command)]  # type: ignore[arg-type]
    return event_stream_hash(events), engine.state_hash(), len(events)


def test_a_seeded_day_of_trading_gives_the_same_events_and_state_with_and_without_the_kernels() -> None:
    from tests.streams import command_stream

    commands: list[object] = list(command_stream(seed=11, length=1_500))
    specialised = _replay(commands)
    with load.generic_rules_only():
        generic = _replay(commands)
    assert specialised == generic
