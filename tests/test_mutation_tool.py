"""The mutation tool (tests/mutation.py) itself: it kills an obvious mutant and lets an equivalent one live.

The run is opt-in (``python -m tests.mutation``); this checks the machinery the kill rates rest on: the
mutator, the per-function test selection, planting by code swap and by import, and the verdicts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests import mutation

ROOT = Path(__file__).resolve().parent.parent

DEMO_TEST = """
from perpspec.rules.num import abs_, clamp


def test_clamp_limits_to_the_range():
    assert clamp(5, 0, 3) == 3
    assert clamp(-5, 0, 3) == 0
    assert clamp(2, 0, 3) == 2


def test_abs_is_the_magnitude():
    assert abs_(-4) == 4
    assert abs_(4) == 4
    assert abs_(0) == 0
"""


def _index(text: str, line_part: str, scope: str) -> int:
    source = (ROOT / "rules" / "num.py").read_text()
    return next(
        m.index
        for m in mutation.mutants(source, "rules/num.py")
        if m.text == text and m.scope == scope and line_part in m.source_line
    )


def test_the_mutator_is_deterministic_and_changes_one_node() -> None:
    source = (ROOT / "rules" / "num.py").read_text()
    first = [(m.index, m.line, m.text) for m in mutation.mutants(source)]
    assert first == [(m.index, m.line, m.text) for m in mutation.mutants(source)]
    changed = mutation.mutated_source(source, _index("min_ -> max_", "min_(max_", "clamp"))
    assert "return max_(max_(value, low), high)" in changed


def test_an_obvious_mutant_is_killed_and_an_equivalent_one_survives(tmp_path: Path) -> None:
    demo = tmp_path / "test_num_demo.py"
    demo.write_text(DEMO_TEST)
    obvious = _index("min_ -> max_", "min_(max_", "clamp")  # clamp never limits from above
    equivalent = _index("Lt -> LtE", "value < 0", "abs_")  # abs_(0) is 0 either way
    out = tmp_path / "result.json"
    command = [
        sys.executable,
        "-m",
        "tests.mutation",
        "rules/num.py",
        "--tests",
        str(demo),
        "--only",
        str(obvious),
        str(equivalent),
        "--jobs",
        "2",
        "--no-cache",
        "--out",
        str(out),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    verdicts = {entry["index"]: entry for entry in json.loads(out.read_text())["mutants"]}
    assert verdicts[obvious]["status"] == "killed"
    assert verdicts[obvious]["killed_by"][0].endswith("::test_clamp_limits_to_the_range")
    assert verdicts[obvious]["tests_run"] == 1  # only the test that calls clamp
    assert verdicts[equivalent]["status"] in ("survived", "equivalent")
    assert verdicts[equivalent]["planted"] == "import"  # confirmed by the faithful way


def test_since_keeps_the_mutants_on_the_lines_changed_since_a_commit(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       check=True, capture_output=True)

    module = tmp_path / "m.py"
    module.write_text("def f(a, b):\n    x = a + b\n    y = a - b\n    return x < y\n")
    git("init", "-q")
    git("add", "m.py")
    git("commit", "-q", "-m", "one")
    module.write_text("def f(a, b):\n    x = a + b\n    y = a * b\n    return x < y\n\n\ndef g(c):\n    return c + 1\n")
    lines = mutation.changed_lines("m.py", "HEAD", root=tmp_path)
    assert lines == {3, 5, 6, 7, 8}
    kept = [m.describe() for m in mutation.mutants(module.read_text(), "m.py") if m.line in lines]
    assert kept == ["m.py:3 (f): Mult -> FloorDiv", "m.py:8 (g): Add -> Sub", "m.py:8 (g): 1 -> 2"]


def test_a_faithful_replant_forgets_the_test_helpers_a_test_imported() -> None:
    # session 15: `from tests import helper` found the package's attribute and got the helper bound to the
    # unmutated perpspec after plant_by_import had dropped every perpspec module, so some mutants looked killed
    script = (
        "import sys\n"
        "from tests import mutation\n"
        "from tests import streams as old\n"
        "from perpspec.engine.core import commands as old_commands\n"
        "mutation.forget_ours()\n"
        "from tests import streams as new\n"
        "from perpspec.engine.core import commands as new_commands\n"
        "assert new is not old and sys.modules['tests.streams'] is new\n"
        "assert new.c is new_commands and new_commands is not old_commands\n"
        "assert 'tests.mutation' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
