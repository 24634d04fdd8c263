"""Session 20, redteam30 (an attack on liq20's take-over at a trade before release): the three reproducers, kept as
written by the red team (tests/reproducers/), each exits 0 when the system is right and 1 when the attack works.

- redteam30_1: one sell whose close-outs' prints chained K stops re-worked every held close-out of the exchange K
  times (K x H^2 in one PlaceOrder); a take-over now works only the close-outs it makes.
- redteam30_2: the auditor took "a trade's take-over, not an update" from the end row's label, which a venue could
  rewrite to hide a missed liquidation; it now reads the rows (a trader's fill before the first waterfall record).
- redteam30_3: an index-only PriceUpdate whose IndexPrice stop traded into a stale bid, taken over in that command,
  was judged as a mark update by the auditor: a false finding on an honest log.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["redteam30_1", "redteam30_2", "redteam30_3"])
def test_the_reproducer_finds_the_system_right(name: str) -> None:
    env = {**os.environ, "PERPSPEC_ROOT": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "reproducers" / f"{name}.py")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
