"""Attack review 3: the seeded random searches of tests/attack3_search.py and tests/attack3_boundaries.py as tests.

The default run takes a few seeds (a few seconds); ``pytest -m deep tests/test_attack3_search.py`` runs the
long searches (see the module docstrings for what is checked after every command).  The session-6 runs: 2,300
seeds, 1,010,326 commands (6,038 liquidations, 2,780 ADL fills, 943 settlements, 389,166 typed rejects); they
found the problems of tests/test_attack3_isolate_without_the_money.py (fixed),
test_attack3_close_out_maker_left_bankrupt.py and test_attack3_liquidation_at_the_price_bounds.py (both counted
as known by the search since); the boundary sweep: 8 seeds x 1,438 commands, nothing.
"""

from __future__ import annotations

import pytest

from tests.attack3_boundaries import sweep
from tests.attack3_search import run


@pytest.mark.parametrize("seed", range(4))
def test_a_short_search_finds_nothing(seed: int) -> None:
    result = run(seed, 150)
    assert result.problem is None, result.problem
    assert result.outcomes["accepted"] > 50


@pytest.mark.deep
@pytest.mark.parametrize("block", range(10))
def test_the_long_search_finds_nothing(block: int) -> None:
    for seed in range(block * 30, block * 30 + 30):
        result = run(seed, 300)
        assert result.problem is None, f"seed {seed}: {result.problem}"


@pytest.mark.deep
@pytest.mark.parametrize("seed", range(5))
def test_every_command_at_its_boundaries_is_a_typed_reject_or_keeps_the_invariants(seed: int) -> None:
    _, problems = sweep(seed, 200)
    assert problems == []
