"""Every file a command reads is bounded: a device that never ends or an oversized file is refused.

Noticed in session 5 and left then: ``perpspec check-params /dev/zero`` (and every other TOML,
CSV, positions, mapping or snapshot reader) read until the memory was gone.  Now a human-written
input file is read through ``rules.parse.read_input_file`` (at most ``INPUT_FILE_LIMIT`` bytes,
the shipped ones are under 25 KB), a snapshot must be a regular file, and an event log is read a
bounded line at a time.  Each refusal is one line naming the file and exit status 2.
Session 11 (red team find_10): a FIFO hung every reader in ``open()``; it is now opened without
blocking and refused as not a regular file, like a device or a directory.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from perpspec.engine.audit.reader import MAX_LINE_BYTES, read_jsonl
from perpspec.engine.audit.schema import LogError
from perpspec.engine.cli.main import main
from perpspec.rules.instrument_file import InstrumentError, load_instrument
from perpspec.rules.parse import INPUT_FILE_LIMIT, read_input_file

ROOT = Path(__file__).resolve().parent.parent
POSITIONS = str(ROOT / "specs" / "what_if" / "positions.toml")
ZERO = "/dev/zero"
needs_dev_zero = pytest.mark.skipif(not Path(ZERO).exists(), reason="no /dev/zero on this system")


def test_a_file_of_exactly_the_limit_is_read_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_bytes(b"#" * 10)
    assert read_input_file(path, limit=10) == b"#" * 10
    path.write_bytes(b"#" * 11)
    with pytest.raises(OSError) as caught:
        read_input_file(path, limit=10)
    assert caught.value.errno == errno.EFBIG
    assert "larger than 10 bytes" in str(caught.value.strerror)


def test_an_oversized_instrument_file_is_a_typed_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_bytes(b"# padding\n" * (INPUT_FILE_LIMIT // 10 + 1))
    with pytest.raises(InstrumentError, match="larger than 4,194,304 bytes"):
        load_instrument(str(path))


@needs_dev_zero
@pytest.mark.parametrize(
    "argv",
    [
        ["check-params", ZERO],
        ["simulate", ZERO, "--quiet"],
        ["what-if", "--params", ZERO, "--state", POSITIONS],
        ["what-if", "--params", "XBTUSD", "--state", ZERO],
        ["sweep", ZERO],
    ],
    ids=["check-params", "simulate", "what-if-params", "what-if-state", "sweep"],
)
def test_dev_zero_is_refused_in_one_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert ZERO in err


def test_an_event_log_line_without_an_end_is_refused_at_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"{" + b" " * (MAX_LINE_BYTES + 5))
    with pytest.raises(LogError, match="longer than"):
        list(read_jsonl(path))
    path.write_bytes(b'{"a": 1}\n' + b" " * 3 + b"\n")
    assert [number for number, _ in read_jsonl(path)] == [1]


def _call_with_deadline(call: Callable[[], object], fifo: Path, seconds: float = 10.0) -> object:
    """``call()``'s result or the exception it raised; fails (and frees the reader) if it blocks longer."""
    outcome: list[object] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # handed back to the test, which asserts on it
            outcome.append(error)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():  # the old reader waits in open() for a writer: give it one, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(seconds)
        pytest.fail(f"reading the FIFO {fifo} blocked for more than {seconds} s")
    return outcome[0]


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


@needs_fifo
def test_a_fifo_is_refused_at_once_as_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "XBTUSD.toml"
    os.mkfifo(fifo)
    error = _call_with_deadline(lambda: read_input_file(fifo), fifo)
    assert isinstance(error, OSError)
    assert (error.errno, error.strerror) == (errno.EINVAL, "not a regular file: not an input file")


@needs_fifo
@pytest.mark.parametrize(
    "argv",
    [["check-params", "{fifo}"], ["what-if", "--params", "XBTUSD", "--state", "{fifo}"], ["sweep", "{fifo}"]],
    ids=["check-params", "what-if-state", "sweep"],
)
def test_a_fifo_given_to_a_command_is_refused_in_one_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fifo = tmp_path / "XBTUSD.toml"
    os.mkfifo(fifo)
    status = _call_with_deadline(lambda: main([part.format(fifo=fifo) for part in argv]), fifo)
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{fifo}: " in err
    assert "not a regular file" in err
