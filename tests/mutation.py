"""An opt-in mutation run: does the suite notice when a rule or the engine's order/fill/waterfall code is broken?

    python -m tests.mutation rules/solvency.py --tests tests/test_solvency.py [--limit N] [--timeout S]

Each mutant is one small syntactic change of one module (the project's own AST mutator, no dependency):

* arithmetic ``+``/``-`` swapped, ``*`` → ``//``; comparisons ``<``↔``<=``, ``>``↔``>=``, ``==``↔``!=``;
* an integer constant ``n`` → ``n + 1``;
* the kernels' helpers swapped: ``min_``↔``max_``, ``and_``↔``or_``, ``ceildiv``↔``floordiv``;
* a ``return`` of a name or call in a ``check_*``/``is_*`` function → ``return None`` / ``True``.

The repository is copied once to a scratch directory; every mutant is written there and the given tests run
against it (``python -m pytest -x -q``, hygiene tests such as specs drift and ruff are never among them: a
mutant must be *killed by a behavioural check*, a test or a proof, not by formatting).  A mutant survives
when the tests pass.  The run prints each survivor (file, line, change) and the kill rate.  It is slow by
design (one pytest process per mutant): opt in, run it on the modules you change.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv}
COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
}
NAME_SWAPS = {"min_": "max_", "max_": "min_", "and_": "or_", "or_": "and_", "ceildiv": "floordiv", "floordiv": "ceildiv"}


class Mutant:
    """One change at one node: ``apply`` edits the tree in place, ``describe`` says what it did."""

    def __init__(self, index: int, line: int, text: str) -> None:
        self.index = index
        self.line = line
        self.text = text


def _points(tree: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    """Every mutable node, in source order, with a description of its mutation."""
    in_predicate: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith(("check_", "is_")):
            for item in ast.walk(node):
                in_predicate.add(id(item))
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAPS:
            yield node, f"{type(node.op).__name__} -> {BINOP_SWAPS[type(node.op)].__name__}"
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE_SWAPS:
            yield node, f"{type(node.ops[0]).__name__} -> {COMPARE_SWAPS[type(node.ops[0])].__name__}"
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            yield node, f"{node.value} -> {node.value + 1}"
        elif isinstance(node, ast.Name) and node.id in NAME_SWAPS and isinstance(node.ctx, ast.Load):
            yield node, f"{node.id} -> {NAME_SWAPS[node.id]}"
        elif (
            isinstance(node, ast.Return)
            and id(node) in in_predicate
            and node.value is not None
            and not (isinstance(node.value, ast.Constant) and node.value.value is None)
        ):
            yield node, "return -> return None"


def _mutate(node: ast.AST) -> None:
    if isinstance(node, ast.BinOp):
        node.op = BINOP_SWAPS[type(node.op)]()
    elif isinstance(node, ast.Compare):
        node.ops = [COMPARE_SWAPS[type(node.ops[0])]()]
    elif isinstance(node, ast.Constant):
        node.value = node.value + 1
    elif isinstance(node, ast.Name):
        node.id = NAME_SWAPS[node.id]
    elif isinstance(node, ast.Return):
        node.value = ast.Constant(value=None)


def mutants(source: str) -> list[Mutant]:
    """The mutants of one module's source (a fresh parse per mutant keeps them independent)."""
    tree = ast.parse(source)
    return [
        Mutant(index, getattr(node, "lineno", 0), text) for index, (node, text) in enumerate(_points(tree))
    ]


def mutated_source(source: str, index: int) -> str:
    """The module's source with mutant ``index`` applied."""
    tree = ast.parse(source)
    for position, (node, _) in enumerate(_points(tree)):
        if position == index:
            _mutate(node)
            break
    return ast.unparse(tree)


def _scratch_copy() -> Path:
    """A copy of the repository (sources, tests, specs; no venv, no caches) to mutate in."""
    scratch = Path(tempfile.mkdtemp(prefix="perpspec-mutation-"))
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", ".hypothesis", ".pytest_cache", "*.egg-info")
    for name in ("rules", "engine", "proofs", "specs", "tests", "perpspec", "pyproject.toml"):
        source = ROOT / name
        if source.is_dir() and not source.is_symlink():
            shutil.copytree(source, scratch / name, ignore=ignore, symlinks=True)
        elif source.exists():
            shutil.copy2(source, scratch / name)
    return scratch


def run(
    module: str, tests: list[str], limit: int | None, timeout_s: int, only: set[int] | None = None
) -> tuple[int, int, list[str]]:
    """(killed, total, survivors) for the mutants of ``module`` against ``tests`` (``only``: these indices)."""
    scratch = _scratch_copy()
    target = scratch / module
    original = target.read_text()
    found = [m for m in mutants(original)[:limit] if only is None or m.index in only]
    environment = dict(os.environ, PYTHONPATH=str(scratch), HYPOTHESIS_PROFILE=os.environ.get("HYPOTHESIS_PROFILE", "dev"))
    killed = 0
    survivors = []
    try:
        for mutant in found:
            target.write_text(mutated_source(original, mutant.index))
            try:
                result = subprocess.run(
                    [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                    cwd=scratch, env=environment, capture_output=True, timeout=timeout_s, check=False,
                )
                dead = result.returncode != 0
            except subprocess.TimeoutExpired:
                dead = True  # a mutant that hangs the suite is noticed
            if dead:
                killed += 1
            else:
                survivors.append(f"#{mutant.index} {module}:{mutant.line}: {mutant.text}")
            print(f"{'killed ' if dead else 'SURVIVED'} #{mutant.index} {module}:{mutant.line}: {mutant.text}", flush=True)
    finally:
        target.write_text(original)
        shutil.rmtree(scratch, ignore_errors=True)
    return killed, len(found), survivors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="repository-relative path of the module to mutate, e.g. rules/solvency.py")
    parser.add_argument("--tests", nargs="+", required=True, help="the test files that must kill the mutants")
    parser.add_argument("--limit", type=int, default=None, help="at most this many mutants (in source order)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per mutant before it counts as killed")
    parser.add_argument("--only", type=int, nargs="*", default=None, help="run only these mutant indices")
    args = parser.parse_args(argv)
    only = None if args.only is None else set(args.only)
    killed, total, survivors = run(args.module, args.tests, args.limit, args.timeout, only)
    rate = 100 * killed // max(total, 1)
    print(f"\n{args.module}: {killed}/{total} mutants killed ({rate}%)")
    for survivor in survivors:
        print(f"  survivor {survivor}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
