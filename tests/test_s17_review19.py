"""Session 17: review19's finds on what sweep, audit, export and simulate read and write (review19_1, 4, 5, 6).

* sweep reuses a cell only when its record's measures are the ones its verified event log gives (review19_1);
* a Parquet audit log is read only in the columns the mapping uses, and a nested column read is refused (review19_5);
* export refuses an output folder that is itself a symbolic link, the default ``<run>/csv`` or a given one (review19_6);
* a scenario or sweep grid whose instrument the engine would refuse is a typed refusal up front (review19_4).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.sweep import cells
from perpspec.engine.sweep.cells import CELL_FILE, run_cell
from perpspec.engine.sweep.grid import parse_grid

ROOT = Path(__file__).resolve().parent.parent
PRECIOUS = "not perpspec's to write\n"

# -- review19_1: a reused cell's measures are its event log's ----------------------------------------------------------

CELL = (("insurance.balance", "0.01"),)


def small_grid() -> Any:
    return parse_grid({"sweep": {"base": "tiny_crash"}, "axes": {"insurance.balance": ["0.01"]}}, "s17.toml", ROOT)


@pytest.fixture(scope="module")
def one_cell(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("s17-review19-sweep")
    row = run_cell(small_grid(), CELL, str(out))
    assert row["status"] == "ok", row
    assert row["adl_fills"] > 0
    assert row["liquidations"] > 0
    assert row["trades"] > 0
    return out, row


def test_an_honest_cell_is_reused_and_its_log_gives_its_measures(one_cell: tuple[Path, dict[str, Any]]) -> None:
    out, honest = one_cell
    (folder,) = [path for path in (out / "cells").iterdir() if not path.name.startswith(".")]
    recomputed = cells.log_measures(folder / "events.jsonl", honest["insurance_start"])
    assert recomputed == {name: honest[name] for name in recomputed}
    again = run_cell(small_grid(), CELL, str(out))
    assert again["reused"] is True
    assert {name: again[name] for name in cells.MEASURES} == {name: honest[name] for name in cells.MEASURES}


@pytest.mark.parametrize("forged", [
    {"adl_fills": 0, "adl_accounts": 0, "adl_contracts": 0, "socialised_loss": 0},  # review19_1's edit
    {"socialised_loss": 1},
    {"haircut_max_account": 0},
    {"liquidations": 0},
    {"liquidated_accounts": 0},
    {"trades": 1},
    {"rejected": 0},
    {"insurance_min": 10**12},
    {"insurance_end": 0},
    {"negative_equity_accounts": 7},
], ids=lambda forged: ",".join(forged))
def test_a_cell_whose_measures_were_edited_runs_again(one_cell: tuple[Path, dict[str, Any]],
                                                       forged: dict[str, int]) -> None:
    out, honest = one_cell
    (folder,) = [path for path in (out / "cells").iterdir() if not path.name.startswith(".")]
    record = json.loads((folder / CELL_FILE).read_text())
    record["measures"].update(forged)  # every key kept, every value an int: only the event log can tell
    (folder / CELL_FILE).write_text(json.dumps(record, indent=2, sort_keys=True))
    row = run_cell(small_grid(), CELL, str(out))
    assert row["reused"] is False
    assert row["status"] == "ok"
    assert {name: row[name] for name in cells.MEASURES} == {name: honest[name] for name in cells.MEASURES}


# -- review19_5: a Parquet log's extra and nested columns ---------------------------------------------------------------


def junk_log(path: Path, rows: int, per: int, strlen: int) -> Path:
    """An ordinary column and ``junk``: list<string>, each row ``per`` copies of one dictionary-encoded string."""
    arrow = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    values = arrow.DictionaryArray.from_arrays(arrow.array([0] * (rows * per), type=arrow.int32()),
                                               arrow.array(["x" * strlen]))
    junk = arrow.ListArray.from_arrays(arrow.array([i * per for i in range(rows + 1)], type=arrow.int32()), values)
    table = arrow.table({"table": arrow.array(["instrument"] * rows), "junk": junk})
    parquet.write_table(table, str(path), use_dictionary=True, compression="zstd", row_group_size=rows)
    return path


def test_parquet_columns_the_mapping_does_not_use_are_never_read(tmp_path: Path) -> None:
    from perpspec.engine.audit import load_mapping
    from perpspec.engine.audit.reader import read_log, read_parquet

    path = junk_log(tmp_path / "log.parquet", rows=8, per=300, strlen=4096)  # 1.2 MiB a row, in junk
    assert "junk" not in load_mapping("perpspec").source_fields()
    rows = list(read_log(path, load_mapping("perpspec").source_fields()))
    assert rows == [(number, {"table": "instrument"}) for number in range(1, 9)]
    assert next(iter(read_parquet(path, ["table"]))) == (1, {"table": "instrument"})


def test_a_nested_column_read_is_decoded_as_a_dictionary_and_its_rows_measured(tmp_path: Path) -> None:
    from perpspec.engine.audit.reader import MAX_LINE_BYTES, read_parquet
    from perpspec.engine.audit.schema import LogError

    small = list(read_parquet(junk_log(tmp_path / "small.parquet", rows=3, per=4, strlen=10)))
    assert small[2] == (3, {"table": "instrument", "junk": ["x" * 10] * 4})
    assert MAX_LINE_BYTES < 300 * 4096
    with pytest.raises(LogError, match="row longer than"):
        next(read_parquet(junk_log(tmp_path / "big.parquet", rows=8, per=300, strlen=4096)))


# -- review19_6: export's output folder itself a symbolic link ----------------------------------------------------------


@pytest.mark.parametrize("given", [False, True], ids=["default-out", "given-out"])
def test_export_refuses_an_output_folder_that_is_a_symbolic_link(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 given: bool) -> None:
    from perpspec.engine.cli.main import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "events.jsonl").write_text(json.dumps({"table": "execution", "seq": 1, "lastQty": 100}) + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "execution.csv").write_text(PRECIOUS)
    (run / "csv").symlink_to(elsewhere)  # what a received run folder can hold
    argv = ["export", str(run), "--format", "csv"] + (["--out", str(run / "csv")] if given else [])
    assert main(argv) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert sorted(path.name for path in elsewhere.iterdir()) == ["execution.csv"]  # no lock, no staging folder
    assert (elsewhere / "execution.csv").read_text() == PRECIOUS


# -- review19_4: what the engine refuses, the scenario loader refuses ---------------------------------------------------


def test_a_scenario_whose_instrument_the_engine_refuses_is_a_typed_refusal(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from perpspec.engine.cli.main import main
    from perpspec.engine.simulation.scenario import ScenarioError, load_scenario

    with pytest.raises(ScenarioError, match=r"instrument\.liquidationFee: is not charged by the engine"):
        load_scenario("tiny_crash", [("instrument.liquidationFee", "0.0005")])
    load_scenario("tiny_crash", [("instrument.liquidationFee", "0")])  # what the engine accepts still loads
    out = tmp_path / "out"
    assert main(["simulate", "tiny_crash", "--quiet", "--out", str(out),
                 "--set", "instrument.liquidationFee=0.0005"]) == 2
    err = capsys.readouterr().err
    assert "instrument.liquidationFee" in err
    assert "internal error" not in err
    assert not (out / "events.jsonl").exists()


def test_a_sweep_axis_the_engine_refuses_is_refused_before_any_cell_runs(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from perpspec.engine.cli.main import main

    grid = tmp_path / "fee.toml"
    grid.write_text('[sweep]\nbase = "tiny_crash"\n\n[axes]\n"instrument.liquidationFee" = ["0", "0.0005"]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(grid), "--out", str(out), "--quiet", "-j", "1"]) == 2
    err = capsys.readouterr().err
    assert "instrument.liquidationFee" in err
    assert "not charged by the engine" in err
    assert not (out / "cells").exists()
