"""Session 17: what export, sweep and audit read and write (redteam18 finds 3, 6, 7 and 8).

* export refuses a table with more distinct fields than an event log has (its output was rows x fields);
* export and sweep never write through a file or symbolic link planted in their output folder;
* a Parquet audit log is read in bounded memory, and a damaged one is the log's fault;
* sweep reuses a cell's record only when it is exactly that cell's, with its journal and event log beside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.audit import load_mapping
from perpspec.engine.audit.run import INTERNAL, audit_log
from perpspec.engine.audit.schema import LogError
from perpspec.engine.cli.main import main
from perpspec.engine.simulation.export import MAX_COLUMNS, ExportInputError, export_events
from perpspec.engine.simulation.output import OutputError, write_replace
from perpspec.engine.sweep import cells
from perpspec.engine.sweep.cells import CELL_FILE, JOURNAL, TIMING_FILE, run_cell
from perpspec.engine.sweep.grid import parse_grid
from perpspec.engine.sweep.results import RESULTS_CSV, RESULTS_JSONL, write_results
from perpspec.rules.instrument_file import load_builtin_instruments

ROOT = Path(__file__).resolve().parent.parent
PRECIOUS = "not perpspec's to write\n"


def log_of(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "run" / "events.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def victim(tmp_path: Path, name: str = "victim.txt") -> Path:
    path = tmp_path / name
    path.write_text(PRECIOUS)
    return path


# -- #3: export output is linear in the log ------------------------------------------------------------------------


def test_export_refuses_a_table_with_more_distinct_fields_than_an_event_log_has(tmp_path: Path,
                                                                                capsys: pytest.CaptureFixture[str]) -> None:
    log = log_of(tmp_path, [{"table": "execution", f"k{i}": 1} for i in range(MAX_COLUMNS + 10)])
    with pytest.raises(ExportInputError, match=f"more than {MAX_COLUMNS} distinct fields"):
        export_events(log, tmp_path / "out", "csv")
    assert not (tmp_path / "out").exists()  # refused before the folder is made
    assert main(["export", str(log), "--format", "csv"]) == 2
    assert "distinct fields" in capsys.readouterr().err


def test_export_of_a_table_at_the_column_bound_is_unchanged(tmp_path: Path) -> None:
    rows = [{"table": "execution", f"k{i}": i} for i in range(MAX_COLUMNS - 1)]
    log = log_of(tmp_path, rows)
    (written,) = export_events(log, tmp_path / "out", "csv")
    lines = written.read_text().splitlines()
    assert lines[0].split(",") == ["table"] + [f"k{i}" for i in range(MAX_COLUMNS - 1)]
    assert len(lines) == MAX_COLUMNS


# -- #6: no write through a planted link or file -------------------------------------------------------------------


def test_export_refuses_a_symbolic_link_where_an_output_goes_and_leaves_its_target(tmp_path: Path,
                                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    log = log_of(tmp_path, [{"table": "execution", "seq": 1, "lastQty": 100}])
    target = victim(tmp_path)
    (log.parent / "csv").mkdir()
    os.symlink(target, log.parent / "csv" / "execution.csv")
    assert main(["export", str(log.parent)]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert target.read_text() == PRECIOUS
    assert sorted(p.name for p in (log.parent / "csv").iterdir()) == [".perpspec-export.lock", "execution.csv"]


def test_export_replaces_a_hard_linked_output_instead_of_writing_into_it(tmp_path: Path) -> None:
    log = log_of(tmp_path, [{"table": "execution", "seq": 1, "lastQty": 100}])
    target = victim(tmp_path)
    (log.parent / "csv").mkdir()
    os.link(target, log.parent / "csv" / "execution.csv")
    assert main(["export", str(log.parent)]) == 0
    assert target.read_text() == PRECIOUS
    assert (log.parent / "csv" / "execution.csv").read_text().splitlines() == ["table,seq,lastQty", "execution,1,100"]


def test_write_replace_never_writes_through_a_planted_temporary_and_refuses_a_link_when_asked(tmp_path: Path) -> None:
    target = victim(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(target, out / "results.jsonl.tmp")  # the name the old writers used
    write_replace(out / "results.jsonl", "{}\n")
    assert target.read_text() == PRECIOUS
    assert (out / "results.jsonl").read_text() == "{}\n"
    os.symlink(target, out / "report.html")
    with pytest.raises(OutputError, match="symbolic link"):
        write_replace(out / "report.html", "x", replace_link=False)
    write_replace(out / "report.html", "x")  # simulate's note: the link itself is replaced
    assert target.read_text() == PRECIOUS
    assert not (out / "report.html").is_symlink()
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "results.jsonl", "results.jsonl.tmp"]


def small_grid(measures: list[str] | None = None) -> Any:
    sweep: dict[str, Any] = {"base": "tiny_crash"}
    if measures is not None:
        sweep["measures"] = measures
    return parse_grid({"sweep": sweep, "axes": {"insurance.balance": ["0.01"]}}, "s17.toml", ROOT)


def test_sweep_results_never_go_through_a_planted_link(tmp_path: Path) -> None:
    grid = small_grid(["adl_fills"])
    row = {"insurance.balance": "0.01", "adl_fills": 3, "key": "k", "status": "ok", "error": "", "wall_seconds": 1,
           "reused": False}
    target = victim(tmp_path)
    os.symlink(target, tmp_path / (RESULTS_JSONL + ".tmp"))
    write_results(tmp_path, grid, [row])
    assert target.read_text() == PRECIOUS
    assert json.loads((tmp_path / RESULTS_JSONL).read_text())["adl_fills"] == 3
    (tmp_path / RESULTS_CSV).unlink()
    os.symlink(target, tmp_path / RESULTS_CSV)
    with pytest.raises(OutputError, match="symbolic link"):
        write_results(tmp_path, grid, [row])
    assert target.read_text() == PRECIOUS


def test_sweep_refuses_a_link_at_an_output_before_any_cell_runs(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    target = victim(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(target, out / "report.html")
    assert main(["sweep", str(ROOT / "specs" / "sweeps" / "tiny.toml"), "--out", str(out), "--quiet"]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert not list((out / "cells").iterdir())
    assert target.read_text() == PRECIOUS


# -- #8: a cell's record is reused only when it is that cell's -----------------------------------------------------

CELL = (("insurance.balance", "0.01"),)


@pytest.fixture(scope="module")
def one_cell(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("s17-sweep")
    row = run_cell(small_grid(), CELL, str(out))
    assert row["status"] == "ok", row
    assert row["reused"] is False
    assert row["adl_fills"] > 0  # the near-empty fund: the cell has ADL
    return out, row


def rerun(out: Path, damage: Any) -> dict[str, Any]:
    """Damage the cell's files with ``damage(folder)``, run the cell again; its row."""
    (folder,) = [path for path in (out / "cells").iterdir() if not path.name.startswith(".")]
    damage(folder)
    return run_cell(small_grid(), CELL, str(out))


def forge_measures(folder: Path) -> None:
    record = json.loads((folder / CELL_FILE).read_text())
    record["measures"].update({"adl_fills": 0, "insurance.balance": "100"})
    (folder / CELL_FILE).write_text(json.dumps(record))


def edit(name: str, text: str) -> Any:
    return lambda folder: (folder / name).write_text(text)


def forge_consistent_measures(folder: Path) -> None:
    record = json.loads((folder / CELL_FILE).read_text())
    record["measures"]["adl_fills"] = 0  # every field well-typed: only the journal hash can tell
    record["journal_sha256"] = "0" * 64
    (folder / CELL_FILE).write_text(json.dumps(record))


def append_to_journal(folder: Path) -> None:
    with (folder / JOURNAL).open("ab") as handle:
        handle.write(b"x")


@pytest.mark.parametrize("damage", [
    forge_measures,
    forge_consistent_measures,
    append_to_journal,
    edit(TIMING_FILE, "[]\n"),
    edit(TIMING_FILE, '{"wall_seconds": "1"}\n'),
    edit(CELL_FILE, "[1, 2]\n"),
    edit(CELL_FILE, '{"measures": {"adl_fills": "text"}}\n'),
    lambda folder: (folder / "events.jsonl").write_text(""),
    lambda folder: (folder / TIMING_FILE).unlink(),
], ids=["forged-measures", "forged-hash", "journal-changed", "timing-list", "timing-text", "record-list",
        "text-measure", "events-emptied", "timing-missing"])
def test_a_damaged_or_forged_cell_record_reruns_the_cell(one_cell: tuple[Path, dict[str, Any]], damage: Any) -> None:
    out, honest = one_cell
    row = rerun(out, damage)
    assert row["reused"] is False
    assert row["status"] == "ok"
    assert row["insurance.balance"] == "0.01"
    assert {name: row[name] for name in cells.MEASURES} == {name: honest[name] for name in cells.MEASURES}
    again = run_cell(small_grid(), CELL, str(out))  # rewritten: reused as it is
    assert again["reused"] is True
    assert {name: again[name] for name in cells.MEASURES} == {name: honest[name] for name in cells.MEASURES}


def test_a_rerun_cell_replaces_its_folder_and_never_writes_through_a_planted_link(
    one_cell: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, _ = one_cell
    target = victim(tmp_path)

    def plant(folder: Path) -> None:
        (folder / CELL_FILE).unlink()
        (folder / "summary.json").unlink()
        os.symlink(target, folder / "summary.json")

    row = rerun(out, plant)
    assert row["reused"] is False
    assert target.read_text() == PRECIOUS
    (folder,) = list((out / "cells").iterdir())  # no staging folder left
    assert not (folder / "summary.json").is_symlink()
    assert json.loads((folder / "summary.json").read_text())["event_log"] == str(folder / "events.jsonl")


# -- #7: Parquet audit logs ------------------------------------------------------------------------------------------


def audit(path: Path) -> Any:
    return audit_log(path, load_mapping("perpspec"), load_builtin_instruments())


def test_a_parquet_decompression_bomb_is_refused_from_its_footer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrow = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    from perpspec.engine.audit import reader

    monkeypatch.setattr(reader, "MAX_CHUNK_BYTES", 1 << 20)  # the same bomb, a hundredth of the size
    path = tmp_path / "bomb.parquet"
    parquet.write_table(arrow.table({"table": ["instrument"] * 100, "symbol": ["A" * 40_000] * 100}), str(path),
                        compression="zstd", use_dictionary=False)
    result = audit(path)
    assert result.error is not None
    assert "decompression bomb" in result.error.message
    assert result.error.field == "symbol"
    assert result.rows == 0  # refused before a row was decoded


def test_parquet_rows_longer_than_a_jsonl_row_are_refused_before_they_become_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrow = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    from perpspec.engine.audit import reader

    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "wide.parquet"
    parquet.write_table(arrow.table({"table": ["instrument"] * 50, "symbol": ["A" * 2000] * 50}), str(path))  # dictionary
    with pytest.raises(LogError, match="row longer than 1000 bytes"):
        next(reader.read_parquet(path))
    average = tmp_path / "average.parquet"
    parquet.write_table(arrow.table({"table": ["instrument"] * 50, "symbol": ["A" * 2000] * 50}), str(average),
                        use_dictionary=False)
    with pytest.raises(LogError, match="more than 1000 bytes a row"):
        next(reader.read_parquet(average))


def test_parquet_with_damaged_pages_is_the_logs_fault_not_an_internal_error(tmp_path: Path) -> None:
    arrow = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "damaged.parquet"
    parquet.write_table(arrow.table({"table": ["instrument"] * 1000, "symbol": ["XBTUSD"] * 1000}), str(path),
                        compression="zstd", use_dictionary=False)
    data = bytearray(path.read_bytes())
    for index in range(4, 60):
        data[index] ^= 0x5A
    path.write_bytes(bytes(data))
    result = audit(path)
    assert result.error is not None
    assert INTERNAL not in result.error.message
    assert "unreadable Parquet data" in result.error.message


def test_parquet_batches_are_bounded_and_rows_come_out_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrow = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    from perpspec.engine.audit import reader

    monkeypatch.setattr(reader, "MAX_BATCH_BYTES", 10_000)  # slices of a few rows: numbering must not care
    path = tmp_path / "rows.parquet"
    parquet.write_table(arrow.table({"n": list(range(3000)), "text": [f"{i:0900d}" for i in range(3000)]}), str(path),
                        row_group_size=700)
    rows = list(reader.read_parquet(path))
    assert [number for number, _ in rows] == list(range(1, 3001))
    assert [row["n"] for _, row in rows] == list(range(3000))


def test_a_log_error_quotes_at_most_a_bounded_message() -> None:
    error = LogError(3, "s" * 10_000, "unknown instrument " + "A" * (1 << 20))
    assert len(str(error)) < 1000
    assert "more characters" in error.message
