"""pytest plugin for proofs/mutate.py: plants the mutant named by $PERPSPEC_MUTANT before any test runs.

``python -m pytest -p tests.mutant_plugin ...`` with ``PERPSPEC_MUTANT=<site id>``: the
mutated code is swapped into the live rule function at configure time, so every test
module that imports the rule afterwards calls the mutant.  Without the variable it does nothing.
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Apply the mutant, if one is named."""
    del config
    site_id = os.environ.get("PERPSPEC_MUTANT", "")
    if not site_id:
        return
    from perpspec.proofs import mutate

    mutate.apply(next(site for site in mutate.enumerate_sites() if site.id == site_id))
