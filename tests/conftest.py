"""Hypothesis profiles: `dev` (default locally), `ci` (derandomized, bounded), `deep` (nightly); the `served` fixture.

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
