"""The compiled trailing-stop buckets (``perpspec build-native``) fire and trail as the one-by-one rule.

tests/test_trigger_trailing.py's streams rich in trailing stops are journaled by the interpreted engine with
``Triggers.run`` replaced by ``reference_run`` (every order judged, every trailing stop trailed, on every pass); a
child process running the compiled engine (with the compiled ``Bucket`` and ``StopIndex``) reruns the journal,
snapshots included.  Every event and the state hash must agree.  Skipped, with the reason, when the compiled engine
is not built or is stale.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perpspec.engine.core.triggers import Triggers
from tests.test_native import both_engines, needs_build
from tests.test_trigger_index import interpreted_only, reference_run
from tests.test_trigger_trailing import random_steps, trailing_fired, trailing_stream


@needs_build
@interpreted_only
@pytest.mark.parametrize("seed", range(3))
def test_the_compiled_buckets_trail_and_fire_as_the_reference_rule(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = trailing_stream(random_steps(100 + seed, 400))
    monkeypatch.setattr(Triggers, "run", reference_run)
    result = both_engines(tmp_path, stream)
    assert trailing_fired(result["events"]) > 20
    assert (result["child"]["events"], result["child"]["event_hash"]) == (len(result["events"]), result["event_hash"])
    assert result["child"]["state_hash"] == result["state_hash"]
