"""Hypothesis profiles: `dev` (default locally), `ci` (derandomized, bounded), `deep` (nightly); the `served` and
`stored_rulebook` fixtures.

Select with HYPOTHESIS_PROFILE=ci|dev|deep. `.ci/run` uses `ci`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep", max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, dict[str, Any]]]:
    """A running ``perpspec serve`` on a fresh store and its API keys (tests/serve_helpers.py); stopped after the test.

    The serve tests share it; a test module that defines its own ``served`` uses that one instead.
    """
    from tests.serve_helpers import start_server  # imported here: only the serve tests need aiohttp

    running, keys = start_server(tmp_path)
    try:
        yield running, keys
    finally:
        running.stop()


@pytest.fixture(scope="session")
def stored_rulebook() -> Any:
    """The rulebook built from the repository with the stored proof run (never re-running the obligations).

    Building it reads every rules/, engine/ and tests/ file and checks every instrument's parameters (~30 s of CPU);
    the rulebook tests only read it (``attrs.evolve`` for variants), so one build serves the session.
    """
    from perpspec.proofs import rulebook

    root = Path(__file__).resolve().parent.parent
    built, _ = rulebook.build_rulebook(root, root / "specs" / rulebook.STATUS_FILE, allow_run=False)
    return built
