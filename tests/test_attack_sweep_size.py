"""Attack review of ``perpspec sweep``: ``--yes`` must not build a grid of any size.

Found by the session-5 integrity review: ``HARD_MAX_CELLS`` (100,000) bounded only the
``max_cells`` setting; ``--yes`` then ran any grid.  A 3 KB grid file of three axes of
1,000 values each (10⁹ cells) made ``perpspec sweep --yes`` materialise the whole
cross product as a list before the first cell, growing until the machine ran out of
memory (killed after 30 s here).  A grid above the hard limit is now refused when it
is read, with or without ``--yes``; below it, ``max_cells`` and ``--yes`` work as before.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perpspec.engine.cli.main import main
from perpspec.engine.sweep import backends
from perpspec.engine.sweep.grid import HARD_MAX_CELLS, GridError, load_grid


def _grid(tmp_path: Path, per_axis: int, axes: int = 3) -> Path:
    values = ", ".join(str(value) for value in range(1, per_axis + 1))
    names = ["seed", '"accounts.count"', '"market_makers.level_qty"'][:axes]
    path = tmp_path / "grid.toml"
    path.write_text('[sweep]\nbase = "tiny_crash"\n[axes]\n' + "".join(f"{name} = [{values}]\n" for name in names))
    return path


def test_a_grid_above_the_hard_limit_is_refused_when_read(tmp_path: Path) -> None:
    with pytest.raises(GridError, match=r"\[axes\]: 1,000,000,000 cells, more than the hard limit of 100,000"):
        load_grid(_grid(tmp_path, 1_000))


def test_yes_does_not_run_a_grid_above_the_hard_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*_: object) -> None:
        raise AssertionError("a grid above the hard limit reached the backend")

    monkeypatch.setattr(backends, "run_local", never)
    grid = _grid(tmp_path, 47)  # 103,823 cells: just above
    assert main(["sweep", str(grid), "--yes", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "more than the hard limit of 100,000" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_grid_at_the_hard_limit_is_read(tmp_path: Path) -> None:
    grid = load_grid(_grid(tmp_path, 100_000, axes=1))
    assert grid.size == HARD_MAX_CELLS
