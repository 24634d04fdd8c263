"""The ``perpspec`` command line: one sub-command per module ``engine/cli/<name>.py``.

Each command module defines ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their command runs, so that z3 (used by
``prove`` and ``check-params``, which import :mod:`proofs` lazily) is never
loaded on the concrete path.  Exit status: 0 success, 1 a check failed,
2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

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
    "serve": ("cli.serve", "run a BitMEX-compatible REST + WebSocket exchange over the durable engine"),
    "keys": ("cli.keys", "create, revoke and list the API keys of a serve store"),
    "admin": ("cli.admin", "verify accounts, deposit and set prices on a running perpspec serve"),
    "sweep": ("cli.sweep", "run a grid of stress simulations (local process pool or Ray) with heat maps and thresholds"),
    "build-native": ("cli.build_native", "compile the engine's hot modules, verbatim, with mypyc (for bench --compiled)"),
    "audit": ("cli.audit", "check any engine's event log against perpspec's invariants and rules"),
}


class UsageError(Exception):
    """Bad input on the command line: printed as one line, exit status 2."""


def _available() -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(f"perpspec.engine.{module}") is not None:
            found[name] = (module, help_text)
    return found


def build_parser(commands: dict[str, tuple[str, str]]) -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per available command."""
    parser = argparse.ArgumentParser(
        prog="perpspec", description="The executable, proved rulebook of a BitMEX-style perpetual exchange."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in commands.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(f"perpspec.engine.{module}").add_arguments(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    commands = _available()
    parser = build_parser(commands)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(f"perpspec.engine.{commands[args.command][0]}")
    try:
        result: int = module.run(args)
    except UsageError as error:
        print(f"perpspec {args.command}: {error}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    # Re-import under the package name so that `python -m engine.cli.main` and the command modules
    # share one UsageError class (under runpy this file is `__main__`, a second copy).
    from perpspec.engine.cli.main import main as package_main

    sys.exit(package_main())
