"""Issue 12: every CLI error is one line and a non-zero exit, and ``simulate --out`` is safe.

The edges the review hit with tracebacks, races and deletions, each a test: binary and non-UTF-8
input files, an unwritable or existing ``--out``, ``spec --out`` that cannot be written, Ctrl-C
during ``simulate`` (exit 130, the previous outputs untouched), ``perpspec replay … | head``
(quiet, exit 141), a subdirectory inside ``OUT/journal``, two runs on one folder, ``--compare``
labels that are paths, and ``what-if`` with nothing to compare.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perpspec.engine.cli.main import main
from perpspec.engine.simulation.output import (
    LOCK_NAME,
    NOTE_NAME,
    STAGING_PREFIX,
    OutputError,
    OutputFolder,
    folder_name,
    unique_folder_names,
)

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "specs" / "scenarios" / "tiny_crash.toml")
POSITIONS = str(ROOT / "specs" / "what_if" / "positions.toml")
BINARY = bytes(range(256)) * 4


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [
        line for line in err.splitlines() if line.strip() and not line.startswith("perpspec simulate: tiny")
    ]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden lock and staging left out) and the SHA-256 of its bytes."""
    out = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not relative.startswith((LOCK_NAME, STAGING_PREFIX)):
            out[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def finished_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding one complete ``simulate tiny_crash`` run (copied by the tests that change it)."""
    out = tmp_path_factory.mktemp("finished") / "out"
    assert main(["simulate", "tiny_crash", "--out", str(out), "--quiet"]) == 0
    return out


# ----------------------------------------------------------------------------- input files


@pytest.mark.parametrize("content", [BINARY, "name = 'caf\u00e9'\n".encode("latin-1"), b"\xff\xfe\x00"])
def test_a_binary_or_non_utf8_scenario_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    scenario = tmp_path / "scenario.toml"
    scenario.write_bytes(content)
    assert main(["simulate", str(scenario), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "not UTF-8 text" in one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_a_binary_instrument_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instrument = tmp_path / "XBTUSD.toml"
    instrument.write_bytes(BINARY)
    assert main(["what-if", "--params", str(instrument), "--state", POSITIONS]) == 2
    assert "not UTF-8 text" in one_line_error(capsys)


def test_a_binary_positions_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    positions = tmp_path / "positions.toml"
    positions.write_bytes(BINARY)
    assert main(["what-if", "--params", "XBTUSD", "--state", str(positions)]) == 2
    assert "not UTF-8 text" in one_line_error(capsys)


def test_a_binary_file_as_a_journal_is_damage_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "journal.log"
    log.write_bytes(BINARY)
    assert main(["replay", str(log)]) == 1
    out = capsys.readouterr().out
    assert (out.count("\n"), "not a perpspec journal" in out, "at byte offset 0" in out) == (1, True, True)


@pytest.mark.parametrize("content", [b"", b"[marks]\nXBTUSD = '50000'\n"])
def test_what_if_with_no_positions_is_an_error_not_an_empty_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    positions = tmp_path / "positions.toml"
    positions.write_bytes(content)
    assert main(["what-if", "--params", "XBTUSD", "--state", str(positions)]) == 2
    assert "holds no open positions" in one_line_error(capsys)


def test_what_if_with_positions_only_in_another_instrument_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    positions = tmp_path / "positions.toml"
    positions.write_text(
        "[marks]\nXBTUSDT = '50000'\n[[accounts]]\nid = 1\nwallet = { USDt = 10000000000 }\n"
        "positions = [ { symbol = 'XBTUSDT', qty = 1000, entry = '49000', leverage = 'cross' } ]\n"
    )
    assert main(["what-if", "--params", "XBTUSD", "--state", str(positions)]) == 2
    assert "none of its 1 positions is in XBTUSD" in one_line_error(capsys)


# ----------------------------------------------------------------------------- output paths


def test_an_out_that_is_a_file_is_one_line_and_the_file_is_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out"
    target.write_text("mine")
    assert main(["simulate", "tiny_crash", "--out", str(target), "--quiet"]) == 2
    assert "exists and is not a directory" in one_line_error(capsys)
    assert target.read_text() == "mine"


def test_an_out_that_cannot_be_created_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    assert main(["simulate", "tiny_crash", "--out", str(tmp_path / "file" / "out"), "--quiet"]) == 2
    assert "cannot use --out" in one_line_error(capsys)


def test_spec_out_that_cannot_be_written_is_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    started = time.perf_counter()
    assert main(["spec", "--out", str(tmp_path / "file" / "specs")]) == 2
    assert "--out" in one_line_error(capsys)
    assert time.perf_counter() - started < 30  # refused before the rulebook is built


def test_a_second_run_on_a_locked_folder_is_refused_and_deletes_nothing(
    finished_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    shutil.copytree(finished_out, out)
    before = tree_digest(out)
    fd = os.open(out / LOCK_NAME, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # the first run, still running
    try:
        assert main(["simulate", "tiny_crash", "--out", str(out), "--quiet"]) == 2
        assert "another perpspec simulate is writing to" in one_line_error(capsys)
    finally:
        os.close(fd)
    assert tree_digest(out) == before
    assert (out / LOCK_NAME).exists()


def test_a_subdirectory_and_a_stray_file_in_out_journal_survive_two_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / "journal" / "mine").mkdir(parents=True)
    (out / "journal" / "mine" / "notes.txt").write_text("keep")
    (out / "journal" / "README").write_text("keep too")
    for seed in ("1", "2"):
        assert main(["simulate", "tiny_crash", "--seed", seed, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert (out / "journal" / "mine" / "notes.txt").read_text() == "keep"
    assert (out / "journal" / "README").read_text() == "keep too"
    assert main(["replay", str(out / "journal" / "journal.log"), "--json"]) == 0
    assert [p.name for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)] == []


def test_compare_labels_that_are_paths_stay_inside_out_and_never_share_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "work" / "out"
    sibling = tmp_path / "work" / "journal"
    sibling.mkdir(parents=True)
    (sibling / "precious.log").write_text("not perpspec's")
    dots = tmp_path / "a" / "...toml"
    same = tmp_path / "b" / "tiny_crash.toml"
    dots.parent.mkdir()
    same.parent.mkdir()
    shutil.copy(TINY, dots)
    shutil.copy(TINY, same)
    status = main(["simulate", "--out", str(out), "--quiet", "--compare", str(dots), TINY, str(same)])
    capsys.readouterr()
    assert status == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["run", "tiny_crash", "tiny_crash-2"]
    assert (sibling / "precious.log").read_text() == "not perpspec's"
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["journal", "out"]


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("..", "run"),
        ("../../etc", "etc"),
        ("a/b", "a_b"),
        (".hidden", "hidden"),
        ("x..y", "x__y"),
        ("", "run"),
        ("adl.policy=queue", "adl.policy_queue"),
        ("\u00e9t\u00e9", "t"),
        ("a\\b", "a_b"),
    ],
)
def test_folder_names_have_no_separators_dots_or_hidden_names(label: str, name: str) -> None:
    assert folder_name(label) == name


def test_folder_names_are_unique_and_avoid_the_folders_own_outputs() -> None:
    assert unique_folder_names(["x", "x", "X", "journal", "report.html"]) == [
        "x",
        "x-2",
        "X-3",
        "journal-2",
        "report.html-2",
    ]


def test_a_commit_killed_between_renames_leaves_a_clear_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OutputFolder(tmp_path / "out") as out:
        for name in ("events.jsonl", "summary.json", "report.html"):
            out.stage(name).write_text("new " + name)
        real_replace = os.replace
        calls = []

        def dying_replace(source: object, target: object) -> None:
            calls.append(target)
            if len(calls) == 3:  # the note, then the first output: then the process "dies"
                raise OSError(5, "Input/output error")
            real_replace(source, target)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "replace", dying_replace)
        with pytest.raises(OSError, match="Input/output error"):
            out.commit(["events.jsonl", "summary.json", "report.html"])
    note = (tmp_path / "out" / NOTE_NAME).read_text()
    assert "may be a mix" in note
    assert "summary.json" in note


def test_a_directory_in_the_way_of_an_output_is_refused_before_anything_moves(tmp_path: Path) -> None:
    (tmp_path / "out" / "report.html").mkdir(parents=True)
    with OutputFolder(tmp_path / "out") as out:
        out.stage("events.jsonl").write_text("x")
        out.stage("report.html").write_text("x")
        with pytest.raises(OutputError, match="is a directory: not replaced"):
            out.commit(["events.jsonl", "report.html"])
    assert not (tmp_path / "out" / "events.jsonl").exists()


# ----------------------------------------------------------------------------- signals and pipes


def perpspec(*args: str, **options: object) -> subprocess.Popen[bytes]:
    process: subprocess.Popen[bytes] = subprocess.Popen([sys.executable, "-m", "perpspec", *args], **options)  # type: ignore[call-overload]
    return process


def test_ctrl_c_during_simulate_exits_130_in_one_line_and_leaves_the_previous_outputs(
    finished_out: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(finished_out, out)
    before = tree_digest(out)
    process = perpspec(
        "simulate",
        "default_crash",
        "--out",
        str(out),
        "--quiet",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(STAGING_PREFIX) for p in out.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # inside the run
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    lines = err.decode().strip().splitlines()
    assert process.returncode == 130
    assert lines[-1] == f"perpspec simulate: interrupted: nothing in {out} was changed"
    assert "Traceback" not in err.decode()
    assert tree_digest(out) == before
    assert [p.name for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)] == []


def test_replay_into_a_closed_pipe_is_quiet(finished_out: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head` that has already exited
    process = perpspec("replay", str(finished_out / "journal"), stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    _, err = process.communicate(timeout=120)
    assert (process.returncode, err.decode()) == (141, "")
