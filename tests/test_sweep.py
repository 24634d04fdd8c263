"""perpspec sweep: grids of simulate runs, cached by key, on a local pool or Ray, with bad grids refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perpspec.engine.cli.main import main
from perpspec.engine.sweep.cells import run_cell
from perpspec.engine.sweep.grid import GridError, load_grid, parse_grid, validate_axes
from perpspec.engine.sweep.results import find_thresholds

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "specs" / "sweeps" / "tiny.toml"
DETERMINISTIC = ("wall_seconds", "reused")


def rows(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def cell_files(out: Path) -> dict[str, bytes]:
    return {path.parent.name: path.read_bytes() for path in sorted((out / "cells").glob("*/cell.json"))}


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sweep-pool")
    assert main(["sweep", str(TINY), "--out", str(out), "-j", "2", "--quiet"]) == 0
    return out


def test_a_small_grid_runs_every_cell_through_the_engine_with_every_invariant_held(pooled: Path) -> None:
    found = rows(pooled)
    assert [(row["insurance.balance"], row["adl.policy"]) for row in found] == [
        ("0.01", "queue"), ("0.01", "pro-rata"), ("1", "queue"), ("1", "pro-rata"), ("100", "queue"), ("100", "pro-rata"),
    ]
    assert all(row["status"] == "ok" and row["invariant_violations"] == 0 and row["conservation_gap"] == 0 for row in found)
    assert all(isinstance(row["insurance_min"], int) for row in found)
    # the near-empty fund deleverages, the 100 XBT fund does not; pro-rata spreads ADL over more fills
    by = {(row["insurance.balance"], row["adl.policy"]): row for row in found}
    assert by[("0.01", "queue")]["adl_fills"] > 0
    assert by[("100", "queue")]["adl_fills"] == 0
    assert by[("0.01", "pro-rata")]["adl_fills"] > by[("0.01", "queue")]["adl_fills"]
    assert by[("0.01", "queue")]["socialised_loss"] == by[("0.01", "pro-rata")]["socialised_loss"] > 0
    # each cell is a full simulate run: its own event log, journal, summary and report
    key = str(by[("0.01", "queue")]["key"])
    assert {p.name for p in (pooled / "cells" / key).iterdir()} >= {"events.jsonl", "journal", "summary.json", "report.html", "cell.json"}
    summary = json.loads((pooled / "cells" / key / "summary.json").read_text())
    assert summary["adl_fills"] == by[("0.01", "queue")]["adl_fills"]


def test_results_are_written_as_jsonl_csv_and_exact_integer_parquet(pooled: Path) -> None:
    header = (pooled / "results.csv").read_text().splitlines()[0].split(",")
    assert header[:2] == ["insurance.balance", "adl.policy"]
    assert "socialised_loss" in header
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(pooled / "results.parquet")
    assert str(table.schema.field("insurance_min").type) == "int64"
    assert table.column("insurance_min").to_pylist() == [row["insurance_min"] for row in rows(pooled)]


def test_the_threshold_is_the_smallest_fund_with_no_adl(pooled: Path) -> None:
    grid = load_grid(TINY)
    found = find_thresholds(grid, rows(pooled), grid.thresholds[0])
    assert sorted((item["adl.policy"], item["first"]) for item in found) == [("pro-rata", "100"), ("queue", "100")]
    report = (pooled / "report.html").read_text()
    assert "Threshold: smallest insurance.balance with adl_fills == 0" in report
    assert report.count("cells/") == 6


def test_one_process_and_the_pool_write_the_same_cells_byte_for_byte(pooled: Path, tmp_path: Path) -> None:
    assert main(["sweep", str(TINY), "--out", str(tmp_path), "-j", "1", "--quiet"]) == 0
    assert cell_files(tmp_path) == cell_files(pooled)
    strip = [{k: v for k, v in row.items() if k not in DETERMINISTIC} for row in rows(tmp_path)]
    assert strip == [{k: v for k, v in row.items() if k not in DETERMINISTIC} for row in rows(pooled)]


def test_ray_writes_the_same_cells_as_the_local_pool(pooled: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'perpspec[ray]'); CI installs it")
    assert main(["sweep", str(TINY), "--out", str(tmp_path), "-j", "2", "--ray", "--quiet"]) == 0
    assert cell_files(tmp_path) == cell_files(pooled)


def test_an_interrupted_sweep_resumes_running_only_the_missing_cells(pooled: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "perpspec", "sweep", str(TINY), "--out", str(tmp_path), "-j", "1", "--quiet"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(cell_files(tmp_path)) < 2 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    finished = len(cell_files(tmp_path))
    assert 2 <= finished < 6, "the kill landed mid-sweep"
    rerun = subprocess.run(command, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"({finished} reused, 0 failed)" in rerun.stdout
    assert cell_files(tmp_path) == cell_files(pooled)


def test_a_widened_grid_reuses_the_finished_cells(pooled: Path, tmp_path: Path) -> None:
    grid = parse_grid(
        {"sweep": {"base": "tiny_crash", "measures": ["adl_fills"]},
         "axes": {"insurance.balance": ["0.01", "1", "100"], "adl.policy": ["queue"]}},
        "widened.toml", ROOT,
    )
    row = run_cell(grid, (("insurance.balance", "0.01"), ("adl.policy", "queue")), str(pooled))
    assert row["reused"] is True
    assert row["status"] == "ok"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[sweep]\nbase = "tiny_crash"\n[axes]\n"insurance.nonsense" = ["1"]\n', "insurance.nonsense"),
        ('[sweep]\nbase = "tiny_crash"\n[axes]\n"insurance.balance" = []\n', "axes.insurance.balance: a non-empty list"),
        ('[sweep]\nbase = "tiny_crash"\n[axes]\n"accounts.count" = [0]\n', "accounts.count"),
        ('[sweep]\nbase = "no_such_scenario"\n[axes]\nseed = [1]\n', "unknown scenario"),
        ('[sweep]\nbase = "tiny_crash"\nmeasures = ["fun"]\n[axes]\nseed = [1]\n', "unknown measure 'fun'"),
        ('[sweep]\nbase = "tiny_crash"\n[axes]\nseed = ["x"]\n', "axes.seed: integers"),
        ('[sweep]\nbase = "tiny_crash"\nmax_cells = 2\n[axes]\nseed = [1, 2, 3]\n', "add --yes"),
        ("\x00\x01 not toml", "not valid TOML"),
        (
            '[sweep]\nbase = "tiny_crash"\n[axes]\n"insurance.balance" = ["3", "1"]\n'
            '[[threshold]]\nmeasure = "adl_fills"\nop = "=="\nvalue = 0\nalong = "insurance.balance"\n',
            "numbers in increasing order",
        ),
        ('[sweep]\nbase = "tiny_crash"\n[axes]\n"insurance.balance" = ["1", "1.0"]\n', "'1' and '1.0' are the same value"),
    ],
)
def test_bad_grids_get_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    out = tmp_path / "out"
    assert main(["sweep", str(write(tmp_path, text)), "--out", str(out), "--quiet"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1, error
    assert message in error[0], error
    assert not out.exists(), "nothing is written before the grid is valid"


def test_grid_validation_names_the_axis_and_value() -> None:
    grid = parse_grid({"sweep": {"base": "tiny_crash"}, "axes": {"insurance.balance": ["1", "-5"]}}, "g.toml", ROOT)
    with pytest.raises(GridError, match=r"cell insurance.balance=-5"):
        validate_axes(grid)


@pytest.mark.parametrize("changed", ["rules/margin.py", "engine/core/book.py", "engine/durability/codec.py", "engine/sweep/cells.py"])
def test_the_cell_key_changes_with_every_source_a_cell_record_depends_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changed: str
) -> None:
    # cell.json records the journal's hash (written by engine/durability) and the measures
    # (computed by engine/sweep/cells.py): a change to either must not reuse a stale cell
    from perpspec.engine.sweep import cells

    for name in ("rules/margin.py", "engine/core/book.py", "engine/durability/codec.py", "engine/sweep/cells.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    monkeypatch.setattr(cells, "_PACKAGE", tmp_path)
    cells.code_digest.cache_clear()
    try:
        before = cells.code_digest()
        (tmp_path / changed).write_text("x = 2\n")
        cells.code_digest.cache_clear()
        assert before != cells.code_digest()
    finally:
        cells.code_digest.cache_clear()


def test_a_failed_cell_before_the_threshold_leaves_it_unknown_not_the_next_value() -> None:
    grid = parse_grid({"sweep": {"base": "tiny_crash"}, "axes": {"insurance.balance": ["0.01", "1", "100"]},
                       "threshold": [{"measure": "adl_fills", "op": "==", "value": 0, "along": "insurance.balance"}]},
                      "g.toml", ROOT)
    found = [{"insurance.balance": "0.01", "status": "ok", "adl_fills": 5},
             {"insurance.balance": "1", "status": "failed", "adl_fills": None},  # it may have held here
             {"insurance.balance": "100", "status": "ok", "adl_fills": 0}]
    assert find_thresholds(grid, found, grid.thresholds[0]) == [{"first": None}]
    found[1] = {"insurance.balance": "1", "status": "ok", "adl_fills": 0}
    assert find_thresholds(grid, found, grid.thresholds[0]) == [{"first": "1"}]


def _dies_on_the_one_xbt_cell(grid: object, cell: tuple[tuple[str, str], ...], out: str) -> dict[str, object]:
    """A worker that is killed (as by the OOM killer) on the "1" cells; every other cell is fine."""
    if dict(cell)["insurance.balance"] == "1":
        os._exit(9)
    time.sleep(0.05)
    return {**dict(cell), "key": "k", "status": "ok", "error": "", "wall_seconds": 0, "reused": False}


def test_a_worker_killed_mid_cell_fails_that_cell_and_the_sweep_goes_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from perpspec.engine.sweep import backends

    grid = parse_grid({"sweep": {"base": "tiny_crash"},
                       "axes": {"insurance.balance": ["0.01", "1", "100"], "seed": [1, 2, 3, 4]}}, "g.toml", ROOT)
    monkeypatch.setattr(backends, "run_cell", _dies_on_the_one_xbt_cell)
    found = dict(backends.run_local(grid, grid.cells(), str(tmp_path), 2))
    assert sorted(found) == list(range(12))
    failed = {index for index, row in found.items() if row["status"] != "ok"}
    assert {4, 5, 6, 7} <= failed  # the "1" cells
    assert all("worker process died" in found[index]["error"] for index in failed)
    assert any(found[index]["status"] == "ok" for index in range(8, 12))  # after the crashes: a new pool


def test_a_ray_task_whose_worker_died_fails_that_cell_and_the_sweep_goes_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import types

    from perpspec.engine.sweep import backends

    class WorkerCrashedError(Exception):
        pass

    class Ref:  # an ObjectRef: hashable, its value or its error read by ray.get
        def __init__(self, value: object) -> None:
            self.value = value

    def remote(function: object) -> object:  # a Ray that runs each task at once; the "1" cells' workers die
        def submit(grid: object, cell: tuple[tuple[str, str], ...], out: str) -> Ref:
            if dict(cell)["insurance.balance"] == "1":
                return Ref(WorkerCrashedError("the worker died unexpectedly"))
            return Ref({**dict(cell), "status": "ok"})

        return types.SimpleNamespace(remote=submit)

    def get(ref: Ref) -> object:
        if isinstance(ref.value, Exception):
            raise ref.value
        return ref.value

    fake = types.SimpleNamespace(is_initialized=lambda: True, remote=remote, get=get,
                                 wait=lambda refs, num_returns: (refs[:num_returns], refs[num_returns:]))
    monkeypatch.setitem(sys.modules, "ray", fake)
    grid = parse_grid({"sweep": {"base": "tiny_crash"}, "axes": {"insurance.balance": ["0.01", "1", "100"]}}, "g.toml", ROOT)
    found = dict(backends.run_ray(grid, grid.cells(), str(tmp_path), None, 2))
    assert [found[index]["status"] for index in range(3)] == ["ok", "failed", "ok"]
    assert "worker process died (WorkerCrashedError)" in found[1]["error"]


def test_ray_without_the_extra_is_refused_before_out_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """redteam23 (noticed): `sweep --ray` without Ray exited 2 but left OUT/cells behind."""
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "out"
    assert main(["sweep", str(TINY), "--out", str(out), "--ray", "--quiet"]) == 2
    assert "needs the ray extra" in capsys.readouterr().err
    assert not out.exists()
