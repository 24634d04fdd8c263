"""``perpspec build-native``: compile the engine's hot modules, verbatim, with mypyc into build/native.

Copies ``rules/`` and ``engine/`` byte for byte into ``build/native/`` and
compiles the order path (:data:`engine.bench_native.COMPILED_MODULES`) there with
mypyc (about a minute on two cores).  Nothing in the repository changes and
nothing imports the build unless asked: ``perpspec bench --compiled`` runs the
benchmark on it, ``tests/test_native.py`` replays one journal through both
engines and compares every byte.  ``--check`` only says whether the build is
there and current (exit 1 if not).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from perpspec.engine.bench.native import COMPILED_MODULES, NATIVE_DIR, build, status


def precompile(directory: Path) -> None:
    """Byte-compile the build's interpreted modules once, now.

    A process started on the build then loads them from ``__pycache__`` instead of
    compiling about seventy modules at every start (the interpreter writes no cache
    under ``PYTHONDONTWRITEBYTECODE``, or in a read-only build).  The linked
    ``proofs/`` and ``specs/`` are not followed (compileall skips symbolic links).
    A cache the interpreter finds stale is ignored, as usual.
    """
    import compileall

    compileall.compile_dir(directory / "perpspec", quiet=1, workers=1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", default=str(NATIVE_DIR), help=f"where the build goes (default {NATIVE_DIR})")
    parser.add_argument("--check", action="store_true", help="only report whether the build is present and current")


def run(args: argparse.Namespace) -> int:
    directory = Path(args.out)
    if args.check:
        reason = status(directory)
        print(reason or f"the compiled engine in {directory} is current ({len(COMPILED_MODULES)} modules)")
        return 0 if reason is None else 1
    try:
        manifest = build(directory)
    except RuntimeError as error:
        print(f"perpspec build-native: {error}")
        return 1
    precompile(directory)
    print(
        f"built {len(manifest['modules'])} modules with mypyc {manifest['mypyc']} in {manifest['seconds']} s: "
        + ", ".join(manifest["modules"])
    )
    print("run the benchmark on it with `perpspec bench --compiled`")
    return 0
