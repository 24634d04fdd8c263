"""The rulebook's stored proof run is reused only while nothing an obligation reads has changed.

Red team 6 (redteam6_2): an instrument change that refuted RSK-003 republished "proved", because the stored
run's fingerprint hashed only rules/ and proofs/, and the per-row key left out the emitted kernels and their
proof record that ``perpspec prove``'s cache key covers.  The fingerprint, the row keys and the prove cache keys
now come from one list (:func:`proofs.rulebook_status.dependency_files`): each test changes one file of a kind
in a temporary copy of the sources and sees all three change.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from perpspec.proofs import parallel, registry, rulebook
from perpspec.proofs import rulebook_status as status

ROOT = Path(__file__).resolve().parent.parent
RISK_OBLIGATION = "RSK-003/above-maintenance/XBTUSD"
KERNEL_OBLIGATION = "KRN/value/XBTUSD"


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A copy of what the obligations read: rules/, proofs/, the instrument files, the emitted kernels."""
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("rules", "proofs", "specs/instruments", "engine/kernels"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=ignore)
    shutil.copy(ROOT / "specs" / "kernels.json", tmp_path / "specs" / "kernels.json")
    return tmp_path


def _keys(root: Path) -> dict[str, str]:
    registry.discover()
    risk, kernel = registry.REGISTRY[RISK_OBLIGATION], registry.REGISTRY[KERNEL_OBLIGATION]
    rows, cache = status._KeyCache(root), parallel.Keys(root)
    return {
        "fingerprint": status.source_fingerprint(root),
        "risk row": rows.of(risk),
        "kernel row": rows.of(kernel),
        "risk cache": cache.of(risk, None),
        "kernel cache": cache.of(kernel, None),
    }


def _add_zero_init_margin_step(root: Path) -> None:
    """redteam6_2's change: a value the instrument files accept that refutes RSK-003 for XBTUSD."""
    toml = root / "specs" / "instruments" / "XBTUSD.toml"
    text = toml.read_text()
    assert 'maintMargin = "0.005"\n' in text
    toml.write_text(text.replace('maintMargin = "0.005"\n', 'maintMargin = "0.005"\ninitMarginStep = "0"\n', 1))


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in before if before[name] != after[name])


def test_an_instrument_change_changes_the_fingerprint_and_every_key(sources: Path) -> None:
    before = _keys(sources)
    _add_zero_init_margin_step(sources)
    assert _changed(before, _keys(sources)) == sorted(before)


@pytest.mark.parametrize(
    "emitted", ["specs/kernels.json", "engine/kernels/xbtusd_cross.py", "engine/kernels/xbtusd_isolated.py"]
)
def test_an_emitted_kernel_change_changes_the_fingerprint_and_the_kernel_keys(sources: Path, emitted: str) -> None:
    before = _keys(sources)
    path = sources / emitted
    path.write_bytes(path.read_bytes() + b"\n")
    assert _changed(before, _keys(sources)) == ["fingerprint", "kernel cache", "kernel row"]


def test_an_unchanged_copy_keeps_the_keys(sources: Path) -> None:
    assert _keys(sources) == _keys(sources)


def test_a_stored_run_of_other_instruments_is_not_reused(
    sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``perpspec spec``'s path: after an instrument change RSK-003 runs again (the run itself is stubbed out)."""
    registry.discover()
    obligation = registry.REGISTRY[RISK_OBLIGATION]
    monkeypatch.setattr(registry, "discover", lambda: [obligation])
    stored = rulebook.Outcome(
        id=RISK_OBLIGATION, statement="", rule_ids=("RSK-003",), invariant_ids=(), result="proved", bound="",
        known_bad=False, detail="", key=status._KeyCache(sources).of(obligation),
    )
    stored_path = tmp_path / "proof-status.json"
    stored_path.write_text(status.render_status(status.source_fingerprint(sources), [stored]))
    ran: list[str] = []

    def run_all(obligations: list[Any], *_args: Any, **_kwargs: Any) -> list[Any]:
        ran.extend(o.id for o in obligations)
        raise AssertionError("stop: only which obligations run matters here")

    monkeypatch.setattr(parallel, "run_all", run_all)
    assert status.proof_outcomes(stored_path, sources)[1:] == ([stored], 0)
    _add_zero_init_margin_step(sources)
    with pytest.raises(AssertionError, match="stop"):
        status.proof_outcomes(stored_path, sources)
    assert ran == [RISK_OBLIGATION]
