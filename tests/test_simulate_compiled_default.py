"""``perpspec simulate`` runs on the compiled engine when it is built, with the same outputs (issue 14).

The command re-runs itself in an interpreter importing ``build/native`` (as ``perpspec
bench`` does); these tests check that the re-run gets the same options back, that it is
not taken when the caller captures the output in-process or asks for ``--interpreted``,
and — when a current compiled build exists — that the compiled run writes the same
event log and journal, byte for byte, as the interpreted one.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from perpspec.engine.bench.native import status
from perpspec.engine.cli import simulate as cli_simulate
from perpspec.engine.cli.main import _available, build_parser


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser(_available()).parse_args(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate"],
        ["simulate", "tiny_crash", "--out", "/tmp/x", "--quiet"],
        ["simulate", "calm", "--seed", "7", "--set", "accounts.count=50", "--set", "insurance.balance=0", "--bench"],
        ["simulate", "--accounts", "20000", "--adl-policy", "pro-rata", "--profile", "p.prof"],
        ["simulate", "--compare", "adl.policy=queue", "adl.policy=pro-rata", "--interpreted"],
        ["simulate", "--list"],
    ],
)
def test_the_compiled_rerun_gets_the_same_options(argv: list[str]) -> None:
    args = parse(argv)
    again = parse(cli_simulate.forwarded(args))
    assert vars(again) == vars(args)


def test_every_simulate_option_is_forwarded() -> None:
    """A new option of simulate must be added to FORWARDED, or the compiled re-run would drop it."""
    parser = argparse.ArgumentParser()
    cli_simulate.add_arguments(parser)
    dests = {action.dest for action in parser._actions if action.dest != "help"}
    assert dests == set(cli_simulate.FORWARDED)


def test_no_rerun_with_output_captured_or_interpreted(capsys: pytest.CaptureFixture[str]) -> None:
    assert sys.stdout is not sys.__stdout__  # captured by pytest: this process prints
    assert cli_simulate.run_compiled(parse(["simulate", "tiny_crash"])) is None
    assert cli_simulate.run_compiled(parse(["simulate", "tiny_crash", "--interpreted"])) is None
    capsys.readouterr()


def test_the_child_flag_is_the_native_builds() -> None:
    from perpspec.engine.bench import native

    assert cli_simulate.CHILD_FLAG == native.CHILD_FLAG


def test_only_the_command_run_is_imported_to_parse_its_line() -> None:
    """``perpspec simulate`` builds simulate's options only (its parent and its compiled process start quicker)."""
    from perpspec.engine.cli.main import COMMANDS, selected_command

    assert selected_command(["simulate", "--quiet"], COMMANDS) == ["simulate"]
    assert selected_command(["--version"], COMMANDS) == []
    assert selected_command(["simulat"], COMMANDS) == []
    code = (
        "import sys; from perpspec.engine.cli.main import main; main(['simulate', '--list']); "
        "print(sorted(m for m in sys.modules if m.startswith('perpspec.engine.cli.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "['perpspec.engine.cli.main', 'perpspec.engine.cli.simulate']"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.skipif(status() is not None, reason=f"no current compiled build: {status()}")
def test_compiled_simulate_writes_the_same_bytes(tmp_path: Path) -> None:
    outs = {}
    for mode in ("compiled", "interpreted"):
        out = tmp_path / mode
        argv = [sys.executable, "-m", "perpspec.engine.cli.main", "simulate", "tiny_crash", "--out", str(out)]
        if mode == "interpreted":
            argv.append("--interpreted")
        done = subprocess.run(argv, capture_output=True, text=True, check=False, env=dict(os.environ))
        assert done.returncode == 0, done.stderr
        assert ("engine compiled with mypyc" in done.stderr) == (mode == "compiled")
        outs[mode] = out
    for name in ("events.jsonl", "journal/journal.log"):
        assert sha(outs["compiled"] / name) == sha(outs["interpreted"] / name)
