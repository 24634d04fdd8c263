"""The compiled trigger index (``perpspec build-native``) fires what the rule fired before the index.

The random stop books and price paths of tests/test_trigger_index.py are journaled by the interpreted engine with
``Triggers.run`` replaced by ``reference_run`` (every order judged on every pass); a child process running the
compiled engine (with the compiled ``StopIndex``) reruns the journal, snapshots included.  Every event and the
state hash must agree.  Skipped, with the reason, when the compiled engine is not built or is stale.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from perpspec.engine.core.triggers import Triggers
from tests.test_native import both_engines, needs_build
from tests.test_trigger_index import commands, fired, interpreted_only, reference_run


@needs_build
@interpreted_only
@pytest.mark.parametrize("seed", range(3))
def test_the_compiled_index_fires_what_the_reference_rule_fires(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    steps = [(rng.randint(0, 11), rng.randint(0, 10**6), rng.randint(-40, 40), rng.randint(1, 12)) for _ in range(500)]
    stream = commands(steps)
    monkeypatch.setattr(Triggers, "run", reference_run)
    result = both_engines(tmp_path, stream)
    assert fired(result["events"]) > 10
    assert (result["child"]["events"], result["child"]["event_hash"]) == (len(result["events"]), result["event_hash"])
    assert result["child"]["state_hash"] == result["state_hash"]
