"""The ``perpspec`` command line: one sub-command per module ``engine/cli/<name>.py``.

Each command module defines ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their command runs, so that z3 (used by
``prove`` and ``check-params``, which import :mod:`proofs` lazily) is never
loaded on the concrete path.

Every error is **one line on stderr and a non-zero exit**, never a traceback:
0 success, 1 a check failed (or a journal is damaged), 2 bad input (a file
that cannot be read or written, not UTF-8 text, malformed), 130 interrupted
(Ctrl-C), 141 standard output closed early (``perpspec replay … | head``:
quiet, like any Unix tool stopped by SIGPIPE), 70 an internal error (a bug:
set ``PERPSPEC_TRACEBACK=1`` to see where).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Collection, Sequence

import perpspec

# command name -> (module under engine/, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("cli.simulate", "run a stress scenario through the engine and write a report"),
    "prove": ("cli.prove", "run every Z3 proof obligation and print a table"),
    "position": ("cli.position", "compute a position's BitMEX fields (liquidation and bankruptcy price)"),
    "spec": ("cli.spec", "generate the human rulebook in specs/ (or diff two versions)"),
    "check-params": ("cli.check_params", "prove or refute committee properties of an instrument file"),
    "what-if": ("cli.what_if", "re-evaluate positions under new instrument parameters"),
    "replay": ("cli.replay", "rebuild engine state from a command journal"),
    "bench": ("cli.bench", "benchmark the engine against the shared measuring stick"),
    "export": ("cli.export", "write a run's event log as CSV or Parquet files, money as exact integers"),
    "explain": ("cli.explain", "one account's story in a simulated run: margin, liquidation, ADL, with rule ids"),
    "dump-journal": ("cli.dump_journal", "print a command journal's commands as JSON lines"),
    "serve": ("cli.serve", "run a BitMEX-compatible REST + WebSocket exchange over the durable engine"),
    "keys": ("cli.keys", "create, revoke and list the API keys of a serve store"),
    "admin": ("cli.admin", "verify accounts, deposit and set prices on a running perpspec serve"),
    "sweep": ("cli.sweep", "run a grid of stress simulations (local process pool or Ray) with heat maps and thresholds"),
    "build-native": ("cli.build_native", "compile the engine's hot modules, verbatim, with mypyc (for bench --compiled)"),
    "audit": ("cli.audit", "check any engine's event log against perpspec's invariants and rules"),
}


MISSING_Z3 = "needs the Z3 solver, which is an extra: pip install 'perpspec[prove]'"


class UsageError(Exception):
    """Bad input on the command line: printed as one line, exit status 2."""


def whole_number(text: str) -> int:
    """An ``argparse`` type for integer options: ASCII digits with an optional sign (``int`` alone takes any script's
    digits, "５" or "٥", as 5)."""
    cleaned = text.strip()
    digits = cleaned[1:] if cleaned[:1] in ("+", "-") else cleaned
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 200):
        raise ValueError(f"not a whole number: {text!r}")
    return int(cleaned)


whole_number.__name__ = "int"  # argparse names the type in its message: "invalid int value: '５'"


EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
EXIT_INTERNAL = 70  # EX_SOFTWARE


def describe_os_error(error: OSError) -> str:
    """``path: reason`` of a failed file operation, in one line."""
    where = error.filename if error.filename is not None else ""
    reason = error.strerror or type(error).__name__
    return f"{where}: {reason}" if where else reason


def one_line(text: str) -> str:
    """A message as one line (a newline in a file name or an error must not forge a second one)."""
    return " ".join(str(text).split())


def _available() -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(f"perpspec.engine.{module}") is not None:
            found[name] = (module, help_text)
    return found


def build_parser(
    commands: dict[str, tuple[str, str]], only: Collection[str] | None = None
) -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per available command.

    ``only``: the commands whose options are added (their modules imported); the
    others get an empty sub-parser, which still names them in ``--help``.  None: all.
    """
    parser = argparse.ArgumentParser(
        prog="perpspec", description="The executable, proved rulebook of a BitMEX-style perpetual exchange."
    )
    parser.add_argument("--version", action="version", version=f"perpspec {perpspec.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in commands.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name in only:
            importlib.import_module(f"perpspec.engine.{module}").add_arguments(command_parser)
    return parser


def selected_command(argv: Sequence[str], commands: Collection[str]) -> list[str]:
    """The command ``argv`` runs, as a list of at most one name: the first argument that is not an option.

    Only that command's module is imported to parse the line (``simulate`` does not load
    the servers, the prover's front end or the exporters); nothing when the first such
    argument names no command (argparse then says it is not one).
    """
    for argument in argv:
        if not argument.startswith("-"):
            return [argument] if argument in commands else []
    return []


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script: every failure becomes one line on stderr and an exit status."""
    command = "perpspec"
    try:
        commands = _available()
        line = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser(commands, only=selected_command(line, commands))
        args = parser.parse_args(line)
        if args.command is None:
            parser.print_help()
            return 2
        command = f"perpspec {args.command}"
        module = importlib.import_module(f"perpspec.engine.{commands[args.command][0]}")
        result: int = module.run(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at interpreter exit
    except UsageError as error:
        return _fail(command, str(error), 2)
    except ModuleNotFoundError as error:
        if error.name != "z3":
            if os.environ.get("PERPSPEC_TRACEBACK"):
                raise
            return _fail(command, f"internal error: {type(error).__name__}: {error}", EXIT_INTERNAL)
        return _fail(command, MISSING_Z3, 2)
    except KeyboardInterrupt as error:  # a command may say what the interruption left behind
        return _fail(command, str(error) or "interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as error:
        return _fail(command, describe_os_error(error), 2)
    except UnicodeDecodeError as error:
        return _fail(command, f"input is not UTF-8 text ({error.reason} at byte {error.start})", 2)
    except Exception as error:  # a bug: still one line (the traceback on request)
        if os.environ.get("PERPSPEC_TRACEBACK"):
            raise
        return _fail(command, f"internal error: {type(error).__name__}: {error}", EXIT_INTERNAL)
    return result


def _fail(command: str, message: str, status: int) -> int:
    with contextlib.suppress(BrokenPipeError, ValueError):  # stderr gone too: the status says it
        print(one_line(f"{command}: {message}"), file=sys.stderr)
    return status


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not complain again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    # Re-import under the package name so that `python -m engine.cli.main` and the command modules
    # share one UsageError class (under runpy this file is `__main__`, a second copy).
    from perpspec.engine.cli.main import main as package_main

    sys.exit(package_main())
