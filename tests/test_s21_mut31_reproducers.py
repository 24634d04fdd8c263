"""Session 21, mut31 (/work/coord/repro21/mut31_report.md): reproducers kept as written (tests/reproducers/), each
exits 0 when the system is right and 1 when the attack works.

- redteam29_5 (session 20): a FundingTick refused after its waterfall because a stop fired by a close-out's print
  traded into a maker's stale bid and left that maker due.  liq20 fixed it with the take-over after the waterfall's
  prints (``Prices._waterfall``'s second ``take_over_filled``), but the reproducer was not kept: mut31_2 deleted that
  call and every test passed (Engine._dispatch's own call does not run when the tick is refused).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["redteam29_5"])
def test_the_reproducer_finds_the_system_right(name: str) -> None:
    env = {**os.environ, "PERPSPEC_ROOT": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "reproducers" / f"{name}.py")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
