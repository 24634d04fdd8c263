"""The stored proof run's fingerprint covers proofs/specialise/ (session 14, helper "mut14").

A statement mutant of ``proofs/rulebook_status.py``'s ``dependency_files`` (session 13, redteam6_2): for "" (every
obligation) it adds ``proofs/**/*.py`` with ``rglob``; ``glob`` (the top level only) passed every test, and left
the KRN obligations' generator (``proofs/specialise/``) out of the fingerprint -- the very gap the fingerprint's
docstring records (a merge that added eight KRN obligations left the stored run looking current).

Rule: the rulebook's proof status is reused only while nothing an obligation reads has changed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from perpspec.proofs import rulebook_status as status

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A copy of what the obligations read: rules/, proofs/, the instrument files, the emitted kernels."""
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("rules", "proofs", "specs/instruments", "engine/kernels"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=ignore)
    shutil.copy(ROOT / "specs" / "kernels.json", tmp_path / "specs" / "kernels.json")
    return tmp_path


def test_a_change_under_proofs_specialise_changes_the_fingerprint(sources: Path) -> None:
    fingerprint = status.source_fingerprint(sources)
    for name in ("catalogue.py", "generate.py"):  # where the KRN obligations come from
        path = sources / "proofs" / "specialise" / name
        assert path in status.dependency_files(sources, "")
        path.write_bytes(path.read_bytes() + b"\n")
        before, fingerprint = fingerprint, status.source_fingerprint(sources)
        assert fingerprint != before, name
