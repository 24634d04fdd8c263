"""Attack review 3: the seeded random searches of tests/attack3_search.py and tests/attack3_boundaries.py as tests.

The default run takes a few seeds (a few seconds); ``pytest -m deep tests/test_attack3_search.py`` runs the
long searches (see the module docstrings for what is checked after every command).  Figures of the session-6
runs are in the attack3 report: 1,000+ seeds, 320,000+ commands, no problem found.
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
