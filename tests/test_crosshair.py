"""CrossHair: the PEP 316 contracts of proofs/contracts.py hold, and the known-bad one is refuted.

CrossHair runs in a subprocess with a small per-condition timeout (CPU
seconds), so the whole module stays well under a minute.  A search that
finds nothing is not a proof: "Confirmed over all paths" is, "Not confirmed"
means no counterexample was found in the time given.  Every condition must
at least be *reached* ("Unable to meet precondition" would mean the analysis
never ran the rule).
"""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD_CONTRACTS = (
    "ceildiv_rounds_up",
    "round_half_up_is_nearest",
    "commission_is_exact_fee_rounded_up",
    "inverse_fill_moves_only_its_value",
    "linear_trade_conserves",
    "linear_long_safe_above_bankruptcy",
    "inverse_short_liquidation_between",
    "maintenance_grows_with_size",
)
REACHED = ("Confirmed over all paths.", "Not confirmed.")


def crosshair_check(*functions: str, per_condition_timeout: str = "5") -> subprocess.CompletedProcess[str]:
    """``crosshair check`` on functions of proofs.contracts, reporting every postcondition."""
    command = [
        sys.executable,
        "-m",
        "crosshair",
        "check",
        "--analysis_kind=PEP316",
        f"--per_condition_timeout={per_condition_timeout}",
        "--report_all",
        *(f"perpspec.proofs.contracts.{function}" for function in functions),
    ]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def crosshair_checks(*groups: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """:func:`crosshair_check` of each group in its own process, all at once; one result (the worst exit status,
    the reports one after another).  Each condition keeps its own per-condition timeout (CPU seconds), so a busy
    machine makes the run longer, never the search shorter."""
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        runs = list(pool.map(lambda group: crosshair_check(*group), groups))
    return subprocess.CompletedProcess(
        [run.args for run in runs], max(run.returncode for run in runs), "".join(run.stdout for run in runs),
        "".join(run.stderr for run in runs),
    )


@pytest.fixture(scope="module")
def good_run() -> subprocess.CompletedProcess[str]:
    # two processes on two cores: the two contracts whose search runs out its timeout ("Not confirmed") apart
    return crosshair_checks(GOOD_CONTRACTS[::2], GOOD_CONTRACTS[1::2])


def test_crosshair_finds_no_counterexample_to_the_rule_contracts(
    good_run: subprocess.CompletedProcess[str],
) -> None:
    errors = [line for line in good_run.stdout.splitlines() if ": error:" in line]
    assert (good_run.returncode, errors) == (0, []), good_run.stderr


def test_crosshair_reaches_every_postcondition_of_the_rule_contracts(
    good_run: subprocess.CompletedProcess[str],
) -> None:
    verdicts = re.findall(r": info: (.*)$", good_run.stdout, flags=re.MULTILINE)
    unreached = [verdict for verdict in verdicts if verdict not in REACHED]
    # 12 postconditions over the 8 wrappers (ceildiv and commission have two each, ...)
    assert (len(verdicts) >= len(GOOD_CONTRACTS), unreached) == (True, []), good_run.stdout


def test_crosshair_refutes_the_known_bad_commission_rounding() -> None:
    run = crosshair_check("commission_floor_known_bad")
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert (run.returncode, len(errors), "commission_floor_known_bad(" in run.stdout) == (1, 1, True), run.stdout
