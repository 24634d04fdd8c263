"""The mutation tool's children run every test under the chosen Hypothesis profile (a bug found by issue 13's run).

``tests/mutation.py`` imports the test modules once in its parent process, before pytest loads
``tests/conftest.py``.  A test decorated with ``@settings(max_examples=...)`` takes the values it does not set from
the profile in force when the decorator runs, so those tests kept Hypothesis' defaults in every child: a 200 ms
deadline (a slow example under load failed with ``DeadlineExceeded`` and counted as a kill) and random examples
(whether a mutant was killed depended on the seed).  The parent now loads the profile first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
from tests.mutation import _prepare_parent
_prepare_parent(False, ["tests/test_waterfall_differential.py"])
import tests.test_waterfall_differential as module
chosen = module.test_engine_and_rules_waterfalls_agree_after_one_mark_update._hypothesis_internal_use_settings
print(chosen.deadline, chosen.derandomize, chosen.max_examples)
"""


def test_a_test_with_its_own_settings_keeps_the_ci_profiles_deadline_and_derandomize_in_the_mutation_parent() -> None:
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    # the test sets max_examples itself; deadline and derandomize come from the ci profile, not Hypothesis' defaults
    assert done.stdout.split() == ["None", "True", "1500"]
