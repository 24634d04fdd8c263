"""Session 21 (mut31's tool note): ``tests/mutation.py`` counted a mutant whose child ran past ``--timeout`` as
killed ("timeout after 600 s", 0 tests run), so load could inflate a kill rate (two rules/solvency.py "kills" of
mut31 were timeouts; one of them an equivalent mutant).  A timeout is now its own outcome: not judged, not counted
as killed nor as survived, listed for a re-run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests import mutation


def _mutant(index: int = 7) -> mutation.Mutant:
    return mutation.Mutant("rules/num.py", index, 12, "clamp", "min_ -> max_", "return min_(max_(value, low), high)")


def test_a_timeout_is_its_own_outcome() -> None:
    assert mutation.classify("timeout", {}) == "timeout"
    assert mutation.classify("ok", {"killed_by": ["tests/test_x.py::test_y"], "tests_run": 1}) == "killed"
    assert mutation.classify("ok", {"crash": "RuntimeError()"}) == "error"
    assert mutation.classify("ok", {"tests_run": 3, "killed_by": []}) == "survived"


def test_a_timed_out_mutant_is_not_killed_nor_equivalent_and_is_listed_for_a_re_run() -> None:
    known = [{"module": "rules/num.py", "function": "clamp", "change": "min_ -> max_",
              "source": "return min_(max_(value, low), high)", "reason": "listed as equivalent"}]
    mutant = _mutant()
    entry = mutation.verdict_entry(mutant, "timeout", {}, 601.0, "fast", known)
    assert entry["status"] == "timeout"
    assert "killed_by" not in entry
    assert "--only 7" in entry["reason"]
    killed = mutation.verdict_entry(mutant, "ok", {"killed_by": ["t"], "tests_run": 1}, 2.0, "fast", known)
    assert killed["status"] == "killed"
    assert mutation._matches(known[0], mutant)  # a survivor of the listed change is still "equivalent"
    assert mutation.verdict_entry(mutant, "ok", {"tests_run": 1}, 2.0, "fast", known)["status"] == "equivalent"
    counts = mutation.summarise([entry, killed], ["rules/num.py"])["rules/num.py"]
    assert counts == {"total": 2, "killed": 1, "equivalent": 0, "survived": 0, "error": 0, "timeout": 1}


def test_the_pool_reports_a_hung_child_as_a_timeout(tmp_path: Path) -> None:
    def hang() -> dict[str, Any]:
        time.sleep(60)
        return {}

    results = list(mutation._run_pool([(_mutant(), hang)], 1, tmp_path, 0.3))
    assert [(status, verdict) for _m, status, verdict, _s in results] == [("timeout", {})]
    _mutant_, status, verdict, elapsed = results[0]
    assert mutation.verdict_entry(_mutant_, status, verdict, elapsed, "fast", [])["status"] == "timeout"


def test_the_summary_line_leaves_timeouts_out_of_the_rate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [mutation.verdict_entry(_mutant(1), "ok", {"killed_by": ["t"]}, 1.0, "fast", []),
               mutation.verdict_entry(_mutant(2), "timeout", {}, 600.0, "fast", [])]
    report = {"modules": ["rules/num.py"], "mutants": entries, "seconds": 1, "load": (1.0, 1.0, 1.0),
              "summary": mutation.summarise(entries, ["rules/num.py"])}
    monkeypatch.setattr(mutation, "run", lambda *args, **kwargs: report)
    assert mutation.main(["rules/num.py"]) == 0
    out = capsys.readouterr().out
    assert "rules/num.py: 1/2 killed, 0 equivalent, 0 survived, 0 errors, 1 timed out (100.0% of the non-equivalent judged)" in out
    assert "python -m tests.mutation rules/num.py --only 2 and a larger --timeout" in out
    assert "  timeout #2 rules/num.py:12" in out
