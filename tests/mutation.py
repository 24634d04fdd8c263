"""An opt-in mutation run: does the suite (or a proof) notice when a rule or the engine's code is broken?

    python -m tests.mutation rules/solvency.py [MORE.py ...] [--tests FILE_OR_NODE ...] [--jobs 2]
        [--sample N] [--only I ...] [--since COMMIT] [--proofs] [--out result.json] [--timeout S]

Each mutant is one small syntactic change of one module (the project's own AST mutator, no dependency):

* arithmetic ``+``/``-`` swapped, ``*`` → ``//``; comparisons ``<``↔``<=``, ``>``↔``>=``, ``==``↔``!=``;
* an integer constant ``n`` → ``n + 1``;
* the kernels' helpers swapped: ``min_``↔``max_``, ``and_``↔``or_``, ``ceildiv``↔``floordiv``,
  ``ppm_of_ceil``↔``ppm_of_floor``, ``round_half_up_div`` → ``floordiv``;
* a ``return`` of a value in a ``check_*``/``is_*`` function → ``return None``.

How a run goes (one parent process, ``fork`` per mutant, so pytest, Hypothesis, Z3 and perpspec are imported once):

1. **Index.** The candidate tests (``--tests``; by default every ``tests/test_*.py`` that names the module,
   hygiene tests excluded) run once, unmutated, with every function of the mutated modules recording which
   test calls it (and which run at import time).  The index is cached under ``.mutation-cache/``
   keyed by the sources.  Tests that fail unmutated are left out (and reported).
2. **Mutants.** For each mutant a child process plants it and runs only the tests that called the mutated
   function (all of them when the change is at module level or the function runs at import), fastest first,
   ``pytest -x``.  A function mutant is planted by swapping the code of the live function object
   (``function.__code__``: every importer sees it); a change outside any function (a constant, a class body)
   by re-importing every perpspec module with the mutated source in place.
3. **Proofs** (``--proofs``): when the tests pass, the obligations of the rule ids in the mutated function's
   docstring, and of rules whose source calls it, run on the mutant (perpspec's own prove machinery); an
   obligation refuted (or vacuous, or crashing) kills the mutant.  ``unknown`` (a solver timeout) never kills.
4. **Confirmation.** A survivor of the fast path is run again the faithful way (fresh import of the mutated
   source, every candidate test), so a survivor is never an artefact of the code swap or of test selection.

Hygiene tests (specs drift, ruff, docs, the repository lints, the wheel) never count: a mutant must be killed
by a behavioural check.  ``--deep`` adds ``-m deep`` tests (they are not in the default suite; say so when you
quote a rate).  Known equivalent mutants are listed in ``tests/mutation_survivors.toml`` (module, function,
change, the source line, and why it is equivalent); a survivor matching an entry is reported as
``equivalent``.  ``--out FILE.json`` writes every mutant's verdict (killed by which test or obligation).

A mutant whose child runs past ``--timeout`` is stopped and reported as ``timeout``: not judged, so neither killed
nor survived, and listed at the end for a re-run (``--only`` those indices, a larger ``--timeout`` or a quieter
machine).  Before session 21 a timeout counted as a kill, so load could inflate a kill rate (mut31: two "kills"
of rules/solvency.py were 600 s timeouts, one of them an equivalent mutant).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import importlib
import importlib.abc
import importlib.util
import itertools
import json
import linecache
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".mutation-cache"
SURVIVORS = ROOT / "tests" / "mutation_survivors.toml"
# checks of form, not of behaviour: never count as kills
HYGIENE = {
    "test_specs_drift.py",
    "test_repo.py",
    "test_repo_rule_calls.py",
    "test_docs.py",
    "test_wheel.py",
    "test_coverage.py",
    "test_mutation_tool.py",
    "test_native.py",
    "test_check_params.py",
}

BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
}
COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
}
NAME_SWAPS = {
    "min_": "max_",
    "max_": "min_",
    "and_": "or_",
    "or_": "and_",
    "ceildiv": "floordiv",
    "floordiv": "ceildiv",
    "ppm_of_ceil": "ppm_of_floor",
    "ppm_of_floor": "ppm_of_ceil",
    "round_half_up_div": "floordiv",
}


# ---------------------------------------------------------------------------------------------- the mutator


class Mutant:
    """One change at one node of one module: its index in the module, line, enclosing definition, text."""

    def __init__(self, module: str, index: int, line: int, scope: str, text: str, source_line: str) -> None:
        self.module = module  # repository-relative path, e.g. rules/solvency.py
        self.index = index
        self.line = line
        self.scope = scope  # "compute_x", "Class.method", or "<module>" / "Class" outside any function
        self.text = text
        self.source_line = source_line
        self.occurrence = 0  # among the mutants with the same scope, change and source line (in index order)

    @property
    def key(self) -> str:
        """A name for the mutant, stable while the module's source is unchanged."""
        return f"{self.module}#{self.index}"

    def describe(self) -> str:
        """``rules/x.py:12 (function): Add -> Sub``."""
        return f"{self.module}:{self.line} ({self.scope}): {self.text}"


def _scopes(tree: ast.Module) -> dict[int, tuple[str, bool]]:
    """For every node id: (the enclosing top-level function or Class.method, whether that is a function)."""
    scope: dict[int, tuple[str, bool]] = {}
    for top in tree.body:
        if isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef):
            for item in ast.walk(top):
                scope[id(item)] = (top.name, True)
        elif isinstance(top, ast.ClassDef):
            for item in ast.walk(top):
                scope[id(item)] = (top.name, False)
            for member in top.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    for item in ast.walk(member):
                        scope[id(item)] = (f"{top.name}.{member.name}", True)
    return scope


def _points(tree: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    """Every mutable node, in a fixed order (``ast.walk``), with a description of its mutation."""
    in_predicate: set[int] = set()
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith(("check_", "is_")):
            for item in ast.walk(node):
                in_predicate.add(id(item))
        if isinstance(node, ast.AnnAssign):  # annotations carry no behaviour
            for item in ast.walk(node.annotation):
                docstrings.add(id(item))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for item in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
                if item.annotation is not None:
                    for part in ast.walk(item.annotation):
                        docstrings.add(id(part))
            if node.returns is not None:
                for part in ast.walk(node.returns):
                    docstrings.add(id(part))
    for node in ast.walk(tree):
        if id(node) in docstrings:
            continue
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
        node.value = ast.copy_location(ast.Constant(value=None), node.value)


def mutants(source: str, module: str = "<module>") -> list[Mutant]:
    """The mutants of one module's source (a fresh parse per mutant keeps them independent)."""
    tree = ast.parse(source)
    scopes = _scopes(tree)
    lines = source.splitlines()
    found = []
    seen: dict[tuple[str, str, str], int] = {}
    for index, (node, text) in enumerate(_points(tree)):
        line = getattr(node, "lineno", 0)
        scope, is_function = scopes.get(id(node), ("<module>", False))
        mutant = Mutant(
            module,
            index,
            line,
            scope if is_function else f"<{scope}>" if scope != "<module>" else scope,
            text,
            lines[line - 1].strip() if line else "",
        )
        same = (mutant.scope, text, mutant.source_line)
        mutant.occurrence = seen.get(same, 0)
        seen[same] = mutant.occurrence + 1
        found.append(mutant)
    return found


def mutated_tree(source: str, index: int) -> ast.Module:
    """The module's tree with mutant ``index`` applied (line numbers of the original kept)."""
    tree = ast.parse(source)
    for position, (node, _) in enumerate(_points(tree)):
        if position == index:
            _mutate(node)
            break
    return tree


def mutated_source(source: str, index: int) -> str:
    """The module's source with mutant ``index`` applied."""
    return ast.unparse(mutated_tree(source, index))


def is_function_scope(mutant: Mutant) -> bool:
    """Whether the change sits inside a function or method (planted by a code swap)."""
    return not mutant.scope.startswith("<")


# ---------------------------------------------------------------------------------------------- module names


def module_name(relative: str) -> str:
    """``rules/x.py`` → ``perpspec.rules.x``; ``engine/core/y.py`` → ``perpspec.engine.core.y``."""
    parts = Path(relative).with_suffix("").parts
    if parts[0] in ("rules", "engine", "proofs", "specs"):
        return ".".join(("perpspec", *parts))
    return ".".join(parts)


def _is_ours(name: str) -> bool:
    return (
        name == "perpspec"
        or name.startswith("perpspec.")
        or (name.startswith("tests.") and name != "tests.mutation")
    )


# ---------------------------------------------------------------------------------------------- the index


def candidate_tests(modules: list[str]) -> list[str]:
    """Every ``tests/test_*.py`` that names one of the modules (its dotted name or ``import``-able stem)."""
    patterns = []
    for relative in modules:
        dotted = module_name(relative)
        package, _, stem = dotted.rpartition(".")
        patterns.append(
            re.compile(rf"{re.escape(dotted)}\b|from {re.escape(package)} import[^\n]*\b{stem}\b")
        )
    found = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        if path.name in HYGIENE:
            continue
        text = path.read_text()
        if any(pattern.search(text) for pattern in patterns):
            found.append(str(path.relative_to(ROOT)))
    return found


def runnable(item: Any) -> str:
    """A node id pytest accepts from the repository root, wherever the test file is."""
    path = Path(item.path)
    where = os.path.relpath(path, ROOT) if path.is_relative_to(ROOT) else str(path)
    return f"{where}::{item.nodeid.split('::', 1)[1]}" if "::" in item.nodeid else where


class _IndexPlugin:
    """pytest plugin: which functions of the mutated modules each test calls, and how long it takes."""

    def __init__(self, files: dict[str, str]) -> None:
        self.current = "<import>"
        self.hits: dict[str, set[str]] = {}
        self.durations: dict[str, float] = {}
        self.failed: set[str] = set()
        self.items: list[str] = []
        self.names: dict[str, str] = {}
        self.started = 0.0

    def hit(self, key: str) -> None:
        """Called on entry to every function of a mutated module (the instrumented code)."""
        found = self.hits.get(self.current)
        if found is None:
            found = self.hits[self.current] = set()
        found.add(key)

    def pytest_collection_finish(self, session: Any) -> None:
        """Remember the collected tests, in order."""
        self.items = [runnable(item) for item in session.items]
        self.names = {item.nodeid: runnable(item) for item in session.items}

    def pytest_runtest_setup(self, item: Any) -> None:
        """From here on, calls belong to this test."""
        self.current = runnable(item)
        self.started = time.perf_counter()

    def pytest_runtest_teardown(self, item: Any) -> None:
        """The test is over."""
        self.durations[runnable(item)] = time.perf_counter() - self.started

    def pytest_runtest_logreport(self, report: Any) -> None:
        """A test that fails unmutated cannot judge a mutant."""
        if report.failed:
            self.failed.add(self.names.get(report.nodeid, report.nodeid))


def _pytest_args(tests: list[str], deep: bool) -> list[str]:
    return [
        *tests,
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-m",
        "" if deep else "not deep",
        "--rootdir",
        str(ROOT),
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
    ]


def _indexed(modules: list[str]) -> list[str]:
    """What the index instruments: every module of rules/ and engine/core/, and the ones asked for."""
    every = {
        str(path.relative_to(ROOT))
        for folder in ("rules", "engine/core")
        for path in (ROOT / folder).glob("*.py")
    }
    return sorted(every - {"rules/__init__.py", "engine/core/__init__.py"} | set(modules))


def _support_digest(indexed: list[str], deep: bool) -> str:
    """The sources every test file's index depends on (not the test files themselves, nor this tool)."""
    digest = hashlib.sha256(json.dumps([indexed, deep, os.environ.get("HYPOTHESIS_PROFILE")]).encode())
    paths = [
        path for folder in ("rules", "engine", "proofs") for path in sorted((ROOT / folder).rglob("*.py"))
    ]
    paths += [path for path in sorted((ROOT / "tests").glob("*.py")) if not path.name.startswith("test_")]
    for path in paths:
        if path.name != "mutation.py":
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _file_key(support: str, test: str) -> str:
    path = Path(test) if Path(test).is_absolute() else ROOT / test
    return hashlib.sha256((support + test).encode() + path.read_bytes()).hexdigest()[:24]


def _in_child(work: Any, log: Path, timeout_s: float) -> tuple[str, dict[str, Any]]:
    """Run ``work()`` in a forked child (own process group, output to ``log``): ("ok"|"timeout"|"crash", result)."""
    result_path = log.with_suffix(".json")
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            os.setpgid(0, 0)
            descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(descriptor, 1)
            os.dup2(descriptor, 2)
            result = work()
            result_path.write_text(json.dumps(result))
        except BaseException as error:  # the child reports everything
            with contextlib.suppress(Exception):
                result_path.write_text(json.dumps({"crash": repr(error)}))
            code = 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout_s
    while True:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", {}
        time.sleep(0.05)
    if not result_path.exists():
        return "crash", {}
    return "ok", json.loads(result_path.read_text())


HIT = "__perpspec_mutation_hit__"


class _Instrument(ast.NodeTransformer):
    """Adds ``__perpspec_mutation_hit__("module::scope")`` at the top of every function body (after its docstring)."""

    def __init__(self, relative: str) -> None:
        self.relative = relative
        self.scope: list[str] = []

    def _enter(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        outer = next((part for part in self.scope if not part.startswith("<")), None)
        scope = outer or ".".join([*[part.strip("<>") for part in self.scope], node.name])
        self.scope.append(scope)
        self.generic_visit(node)
        self.scope.pop()
        call = ast.Expr(ast.Call(ast.Name(HIT, ast.Load()), [ast.Constant(f"{self.relative}::{scope}")], []))
        ast.copy_location(call, node.body[0])
        ast.fix_missing_locations(call)
        docstring = isinstance(node.body[0], ast.Expr) and isinstance(
            getattr(node.body[0], "value", None), ast.Constant
        )
        node.body.insert(1 if docstring else 0, call)
        return node

    visit_FunctionDef = _enter  # noqa: N815 - the NodeTransformer protocol
    visit_AsyncFunctionDef = _enter  # noqa: N815

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        """Methods are ``Class.method``."""
        if self.scope:
            self.generic_visit(node)
            return node
        self.scope.append(f"<{node.name}>")
        self.generic_visit(node)
        self.scope.pop()
        return node


def instrumented(source: str, relative: str, path: str) -> types.CodeType:
    """The module's code with a hit recorded on entry to every function (line numbers unchanged)."""
    tree = _Instrument(relative).visit(ast.parse(source))
    return compile(tree, path, "exec")


def _module_path(relative: str) -> str:
    linked = ROOT / "perpspec" / relative
    return str(linked if linked.exists() else ROOT / relative)


def _run_index(modules: list[str], tests: list[str], deep: bool, scratch: Path) -> dict[str, Any]:
    """Run ``tests`` once, unmutated, with every function of ``modules`` recording the test that calls it."""

    def work() -> dict[str, Any]:
        import pytest

        plugin = _IndexPlugin({relative: relative for relative in modules})
        for relative in modules:
            path = _module_path(relative)
            code = instrumented((ROOT / relative).read_text(), relative, path)
            sys.meta_path.insert(0, _MutantFinder(module_name(relative), path, code, {HIT: plugin.hit}))
        for (
            relative
        ) in modules:  # before pytest's own import hook (which claims the perpspec plugin's package)
            importlib.import_module(module_name(relative))
        code = pytest.main(_pytest_args(tests, deep), plugins=[plugin])
        return {
            "code": int(code),
            "items": plugin.items,
            "failed": sorted(plugin.failed),
            "durations": plugin.durations,
            "hits": {name: sorted(found) for name, found in plugin.hits.items()},
        }

    status, result = _in_child(work, scratch / "index.log", 24 * 3600)
    if status != "ok" or "crash" in result:
        raise SystemExit(f"the index run failed ({status}): see {scratch / 'index.log'}")
    return result


def _file_of(item: str) -> str:
    return item.split("::", 1)[0]


def build_index(
    modules: list[str], tests: list[str], deep: bool, scratch: Path, cache: bool = True
) -> dict[str, Any]:
    """Which tests call which function (and how long each takes), cached per test file by the sources.

    Only the test files whose cache entry is missing run (in one child); adding a test file re-indexes it alone.
    """
    indexed = _indexed(modules)
    support = _support_digest(indexed, deep)
    cacheable = [test for test in tests if "::" not in test]
    keys = {test: CACHE / f"file-{_file_key(support, test)}.json" for test in cacheable} if cache else {}
    parts = {test: json.loads(keys[test].read_text()) for test in keys if keys[test].exists()}
    missing = [test for test in tests if test not in parts]
    if missing:
        print(f"indexing {len(missing)} test file(s)", flush=True)
        result = _run_index(indexed, missing, deep, scratch)
        at_import = sorted(
            {
                hit
                for name, found in result["hits"].items()
                if name not in result["durations"]
                for hit in found
            }
        )
        for test in missing:
            mine = [item for item in result["items"] if _file_of(item) == _file_of(test)]
            parts[test] = {
                "items": mine,
                "failed": [item for item in result["failed"] if item in set(mine)],
                "durations": {item: result["durations"].get(item, 0.0) for item in mine},
                "hits": {item: result["hits"].get(item, []) for item in mine},
                "import": at_import,
            }
            if test in keys:
                CACHE.mkdir(exist_ok=True)
                keys[test].write_text(json.dumps(parts[test]))
    index: dict[str, Any] = {"items": [], "failed": [], "durations": {}, "hits": {"<import>": set()}}
    for test in tests:
        part = parts[test]
        index["items"] += [item for item in part["items"] if item not in index["durations"]]
        index["durations"].update(part["durations"])
        index["failed"] += [item for item in part["failed"] if item not in index["failed"]]
        index["hits"].update(part["hits"])
        index["hits"]["<import>"].update(part["import"])
    return index


def select_tests(index: dict[str, Any], mutant: Mutant, max_seconds: float | None = None) -> list[str]:
    """The tests that can notice ``mutant`` (and take at most ``max_seconds`` unmutated), fastest first."""
    failed = set(index["failed"])
    usable = [item for item in index["items"] if item not in failed]
    if max_seconds is not None:
        usable = [item for item in usable if index["durations"].get(item, 0.0) <= max_seconds]
    target = f"{mutant.module}::{mutant.scope}"
    at_import = any(
        target in found for name, found in index["hits"].items() if name not in index["durations"]
    )
    if is_function_scope(mutant) and not at_import:
        usable = [item for item in usable if target in index["hits"].get(item, ())]
    return sorted(usable, key=lambda item: index["durations"].get(item, 0.0))


# ---------------------------------------------------------------------------------------------- planting


def _helpers() -> dict[str, Any]:
    num = importlib.import_module("perpspec.rules.num")
    return {name: getattr(num, name) for name in set(NAME_SWAPS.values()) if hasattr(num, name)}


def _live_function(module: types.ModuleType, scope: str) -> types.FunctionType | None:
    owner: Any = module
    parts = scope.split(".")
    for part in parts[:-1]:
        owner = vars(owner).get(part)
        if owner is None:
            return None
    found = vars(owner).get(parts[-1])
    if isinstance(found, staticmethod | classmethod):
        found = found.__func__
    if isinstance(found, property):
        found = found.fget
    while hasattr(found, "__wrapped__"):
        found = found.__wrapped__
    return found if isinstance(found, types.FunctionType) else None


def plant_by_swap(mutant: Mutant, source: str) -> bool:
    """Swap the mutated code into the live function; False when that cannot be done faithfully."""
    module = importlib.import_module(module_name(mutant.module))
    live = _live_function(module, mutant.scope)
    if live is None:
        return False
    tree = mutated_tree(source, mutant.index)
    parts = mutant.scope.split(".")
    definition: ast.AST | None = next(
        (
            node
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == parts[0]
        ),
        None,
    )
    if len(parts) == 2 and isinstance(definition, ast.ClassDef):
        definition = next(
            (node for node in definition.body if isinstance(node, ast.FunctionDef) and node.name == parts[1]),
            None,
        )
    if not isinstance(definition, ast.FunctionDef):
        return False
    definition.decorator_list = []
    namespace = dict(vars(module))
    for name, helper in _helpers().items():
        namespace.setdefault(name, helper)
        module.__dict__.setdefault(name, helper)
    code = compile(ast.Module(body=[definition], type_ignores=[]), module.__file__ or mutant.module, "exec")
    exec(code, namespace)  # the mutant, our own source
    replacement = namespace[definition.name]
    try:
        live.__code__ = replacement.__code__
    except ValueError:  # free variables differ (e.g. zero-argument super)
        return False
    # default arguments are evaluated when the def runs: a mutant there lives in these, not in the code
    live.__defaults__ = replacement.__defaults__
    live.__kwdefaults__ = replacement.__kwdefaults__
    return True


class _MutantFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves the mutated (or instrumented) source for one module name."""

    def __init__(
        self, name: str, path: str, text: str | types.CodeType, extra: dict[str, Any] | None = None
    ) -> None:
        self.name, self.path, self.text, self.extra = name, path, text, extra or {}

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        """Only the mutated module."""
        del path, target
        if fullname != self.name:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=self.path)

    def create_module(self, spec: Any) -> None:
        """The default module object."""
        del spec

    def exec_module(self, module: types.ModuleType) -> None:
        """Run the mutated source, with the swapped-in helpers resolvable."""
        module.__file__ = self.path
        if self.name != "perpspec.rules.num" and not self.extra:
            module.__dict__.update(_helpers())
        module.__dict__.update(self.extra)
        code = self.text if isinstance(self.text, types.CodeType) else compile(self.text, self.path, "exec")
        exec(code, module.__dict__)  # the mutant


def forget_ours() -> None:
    """Drop every perpspec and test module from ``sys.modules``, and from the packages that stay.

    ``tests`` itself stays imported (``tests.mutation`` runs the show), and it holds each test module it imported
    as an attribute: ``from tests import test_x as helper`` finds that attribute first and would hand a re-imported
    test the old ``test_x``, still bound to the unmutated perpspec (its objects then fail the new code's checks, so
    a mutant looked killed; session 15's note).  So the stale attribute goes too, and the helper is imported afresh.
    """
    gone = [name for name in sys.modules if _is_ours(name)]
    for name in gone:
        parent, _, child = name.rpartition(".")
        holder = sys.modules.get(parent)
        if holder is not None and not _is_ours(parent) and vars(holder).get(child) is sys.modules[name]:
            delattr(holder, child)
    for name in gone:
        del sys.modules[name]


def plant_by_import(mutant: Mutant, source: str) -> None:
    """Forget every perpspec module and import them again with the mutated source in place."""
    name = module_name(mutant.module)
    path = _module_path(mutant.module)
    forget_ours()
    text = mutated_source(source, mutant.index) + "\n"
    linecache.cache[path] = (len(text), None, text.splitlines(True), path)
    sys.meta_path.insert(0, _MutantFinder(name, path, text))
    importlib.import_module(name)


# ---------------------------------------------------------------------------------------------- judging


class _Failures:
    """pytest plugin: the first test that failed."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def pytest_runtest_logreport(self, report: Any) -> None:
        """Record failures (setup, call or teardown)."""
        if report.failed:
            self.failed.append(report.nodeid)


def related_rules(mutant: Mutant) -> set[str]:
    """The rule ids in the mutated function's docstring and of every rule whose source calls it."""
    from perpspec.proofs.rulebook import ANY_RULE_ID, discover_rules

    module = importlib.import_module(module_name(mutant.module))
    live = _live_function(module, mutant.scope) if is_function_scope(mutant) else None
    if live is None:
        return set()
    first = (live.__doc__ or "").strip().split("\n", 1)[0]
    related = set(ANY_RULE_ID.findall(first))
    pattern = re.compile(rf"\b{re.escape(mutant.scope.split('.')[-1])}\(")
    for rule in discover_rules():
        if pattern.search(rule.source.split('"""', 2)[-1]):
            related.add(rule.id)
    return related


def run_proofs(related: set[str], timeout_ms: int) -> list[str]:
    """Run the obligations of ``related`` on the planted mutant: the ids that fail definitely (not ``unknown``)."""
    from perpspec.proofs.prover import Status
    from perpspec.proofs.registry import discover, run_obligation
    from perpspec.proofs.rulebook import ANY_RULE_ID

    for obligation in discover():
        if not set(ANY_RULE_ID.findall(f"{obligation.rule_id} {obligation.id}")) & related:
            continue
        outcome = run_obligation(obligation, timeout_ms)
        if outcome.passed:
            continue
        if outcome.result is not None and outcome.result.status is Status.UNKNOWN:
            continue
        return [f"{obligation.id}: {outcome.status_text} {outcome.error}".strip()]
    return []


def judge(
    mutant: Mutant, source: str, tests: list[str], faithful: bool, proofs: bool, timeout_ms: int, deep: bool
) -> dict[str, Any]:
    """In the child: plant the mutant, run the tests (then the proofs); the verdict."""
    import pytest

    how = "import"
    if not faithful and is_function_scope(mutant) and plant_by_swap(mutant, source):
        how = "swap"
    else:
        try:
            plant_by_import(mutant, source)
        except Exception as error:  # the mutated module does not even import: noticed
            return {"planted": how, "tests_run": 0, "killed_by": [f"import fails: {error!r}"]}
    verdict: dict[str, Any] = {"planted": how, "tests_run": len(tests)}
    if tests:
        failures = _Failures()
        code = int(pytest.main([*_pytest_args(tests, deep), "-x"], plugins=[failures]))
        verdict["pytest_code"] = code
        if code in (1, 2):  # a test failed, or collection broke (the mutant does not import)
            verdict["killed_by"] = failures.failed[:1] or [f"pytest exit {code}"]
            return verdict
        if code not in (0, 5):  # an internal or usage error is the tool's, not a kill
            raise RuntimeError(f"pytest exit {code}")
    if proofs:
        related = related_rules(mutant)
        verdict["related"] = sorted(related)
        failed = run_proofs(related, timeout_ms)
        if failed:
            verdict["killed_by"] = failed
    return verdict


# ---------------------------------------------------------------------------------------------- the run


def _collapse(index: dict[str, Any], chosen: list[str]) -> list[str]:
    """Node ids → whole files where every test of a file is chosen (pytest collects a file once, not per id)."""
    by_file: dict[str, list[str]] = {}
    for item in index["items"]:
        by_file.setdefault(_file_of(item), []).append(item)
    wanted = set(chosen)
    whole = {
        name for name, items in by_file.items() if all(item in wanted for item in items) and len(items) > 1
    }
    collapsed: list[str] = []
    for item in chosen:
        name = _file_of(item)
        if name not in whole:
            collapsed.append(item)
        elif name not in collapsed:
            collapsed.append(name)
    return collapsed


def known_equivalent(path: Path = SURVIVORS) -> list[dict[str, str]]:
    """The survivors recorded as equivalent (module, function, change, source line, reason).

    ``path`` and every ``mutation_survivors_*.toml`` beside it (one file per group of modules).
    """
    files = [path, *sorted(path.parent.glob(f"{path.stem}_*.toml"))]
    return [entry for file in files if file.exists() for entry in tomllib.loads(file.read_text()).get("survivor", [])]


def _matches(entry: dict[str, str], mutant: Mutant) -> bool:
    return (
        entry.get("module") == mutant.module
        and entry.get("change") == mutant.text
        and entry.get("function", mutant.scope) == mutant.scope
        and entry.get("source", mutant.source_line).strip() == mutant.source_line
        and int(entry.get("occurrence", mutant.occurrence)) == mutant.occurrence
    )


def changed_lines(relative: str, since: str, root: Path = ROOT) -> set[int]:
    """The lines of ``relative`` (as it is now) that ``git diff since`` shows added or changed."""
    diff = subprocess.run(
        ["git", "-C", str(root), "diff", "--no-color", "--no-ext-diff", "-U0", since, "--", relative],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines: set[int] = set()
    for match in re.finditer(r"^@@ -\S+ \+(\d+)(?:,(\d+))? @@", diff, re.MULTILINE):
        start, count = int(match.group(1)), int(match.group(2) or "1")
        lines.update(range(start, start + count))
    return lines


def _spread(found: list[Mutant], count: int) -> list[Mutant]:
    """``count`` mutants spread evenly over ``found`` (deterministic)."""
    if count >= len(found):
        return found
    stride = len(found) / count
    return [found[int(position * stride)] for position in range(count)]


def _prepare_parent(proofs: bool, tests: list[str]) -> None:
    """Import once what every child needs: pytest, Hypothesis, Z3, perpspec, the obligations."""
    import hypothesis  # noqa: F401
    import pytest  # noqa: F401

    with contextlib.suppress(ImportError):
        import z3  # noqa: F401
    for folder in ("rules", "engine/core"):
        for path in sorted((ROOT / folder).glob("*.py")):
            with contextlib.suppress(Exception):
                importlib.import_module(module_name(f"{folder}/{path.name}"))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    # the Hypothesis profile (tests/conftest.py) before any test module: a test's @settings(...) takes every value
    # it does not set (deadline, derandomize) from the profile in force when the decorator runs, so a test module
    # imported first kept Hypothesis' defaults in every child (a 200 ms deadline: timing failures counted as
    # kills; random examples: kills that depended on the seed)
    importlib.import_module("tests.conftest")
    for test in tests:  # pytest finds them in sys.modules: a child collects without importing
        path = Path(test)
        if not path.is_absolute() and path.parts[0] == "tests":
            with contextlib.suppress(Exception):
                importlib.import_module(".".join(path.with_suffix("").parts))
    if proofs:
        from perpspec.proofs.registry import discover
        from perpspec.proofs.rulebook import discover_rules

        discover()
        discover_rules()


_SERIAL = itertools.count()


def _run_pool(
    jobs: list[tuple[Mutant, Any]], parallel: int, scratch: Path, timeout_s: float
) -> Iterator[tuple[Mutant, str, dict[str, Any], float]]:
    """Run ``(mutant, work)`` pairs in up to ``parallel`` forked children; yield each result as it ends."""
    pending = list(jobs)
    running: dict[int, tuple[Mutant, Path, float]] = {}
    while pending or running:
        while pending and len(running) < parallel:
            mutant, work = pending.pop(0)
            log = scratch / f"m{next(_SERIAL)}-{mutant.module.replace('/', '_')}-{mutant.index}.log"
            result_path = log.with_suffix(".json")
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    os.setpgid(0, 0)
                    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    os.dup2(descriptor, 1)
                    os.dup2(descriptor, 2)
                    result_path.write_text(json.dumps(work()))
                except BaseException as error:  # the child reports everything
                    with contextlib.suppress(Exception):
                        result_path.write_text(json.dumps({"crash": repr(error)}))
                    code = 1
                finally:
                    os._exit(code)
            running[pid] = (mutant, log, time.monotonic())
        time.sleep(0.05)
        for pid, (mutant, log, started) in list(running.items()):
            done, _ = os.waitpid(pid, os.WNOHANG)
            elapsed = time.monotonic() - started
            if not done and elapsed <= timeout_s:
                continue
            if not done:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                del running[pid]
                yield mutant, "timeout", {}, elapsed
                continue
            del running[pid]
            result_path = log.with_suffix(".json")
            result = json.loads(result_path.read_text()) if result_path.exists() else {"crash": "no result"}
            yield mutant, "ok", result, elapsed


def run(
    modules: list[str],
    tests: list[str] | None,
    *,
    limit: int | None = None,
    sample: int | None = None,
    only: set[int] | None = None,
    jobs: int = 1,
    timeout_s: int = 600,
    proofs: bool = False,
    timeout_ms: int = 30_000,
    deep: bool = False,
    confirm: bool = True,
    out: Path | None = None,
    faithful: bool = False,
    cache: bool = True,
    max_test_seconds: float | None = None,
    since: str | None = None,
) -> dict[str, Any]:
    """Mutate ``modules``, judge every mutant, return (and write to ``out``) the results."""
    os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")
    candidates = tests if tests else candidate_tests(modules)
    scratch = Path(tempfile.mkdtemp(prefix="perpspec-mutation-"))
    started = time.monotonic()
    index = build_index(modules, candidates, deep, scratch, cache)
    index_s = time.monotonic() - started
    print(
        f"index: {len(index['items'])} tests, {len(index['failed'])} failing unmutated, {index_s:.0f} s",
        flush=True,
    )
    sources = {relative: (ROOT / relative).read_text() for relative in modules}
    found: list[Mutant] = []
    for relative in modules:
        every = mutants(sources[relative], relative)[:limit]
        if only is not None:
            every = [mutant for mutant in every if mutant.index in only]
        if since is not None:
            lines = changed_lines(relative, since)
            every = [mutant for mutant in every if mutant.line in lines]
        found.extend(_spread(every, sample) if sample else every)
    _prepare_parent(proofs, [item for item in candidates if "::" not in item])
    equivalents = known_equivalent()

    def work_for(mutant: Mutant, faithful: bool) -> Any:
        chosen = _collapse(index, select_tests(index, mutant, max_test_seconds))
        return lambda: judge(mutant, sources[mutant.module], chosen, faithful, proofs, timeout_ms, deep)

    results: dict[str, dict[str, Any]] = {}

    def record(mutant: Mutant, status: str, verdict: dict[str, Any], elapsed: float, phase: str) -> None:
        entry = verdict_entry(mutant, status, verdict, elapsed, phase, equivalents)
        results[mutant.key] = entry
        if phase == "fast" and entry["status"] != "killed" and confirm:
            return
        by = ", ".join(entry.get("killed_by", [])) or entry.get("reason", "")
        print(
            f"{entry['status']:10} {mutant.describe()}  [{elapsed:.0f} s, {entry.get('tests_run', 0)} tests] {by}",
            flush=True,
        )

    fast = [(mutant, work_for(mutant, faithful)) for mutant in found]
    for mutant, status, verdict, elapsed in _run_pool(fast, jobs, scratch, timeout_s):
        record(mutant, status, verdict, elapsed, "fast")
    if confirm:
        again = [m for m in found if results[m.key]["status"] != "killed"]
        slow = [(mutant, work_for(mutant, True)) for mutant in again]
        for mutant, status, verdict, elapsed in _run_pool(slow, jobs, scratch, timeout_s):
            record(mutant, status, verdict, elapsed, "confirm")
    summary = summarise(list(results.values()), modules)
    report = {
        "modules": modules,
        "tests": candidates,
        "proofs": proofs,
        "deep": deep,
        "jobs": jobs,
        "hypothesis_profile": os.environ.get("HYPOTHESIS_PROFILE"),
        "index_seconds": round(index_s),
        "seconds": round(time.monotonic() - started),
        "load": os.getloadavg(),
        "failing_unmutated": index["failed"],
        "max_test_seconds": max_test_seconds,
        "summary": summary,
        "mutants": [results[mutant.key] for mutant in found],
    }
    if out is not None:
        out.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return report


def classify(status: str, verdict: dict[str, Any]) -> str:
    """A mutant's outcome from its child's ``status`` ("ok", "timeout") and ``verdict``: "timeout" (stopped at
    ``--timeout``: not judged, never a kill), "killed" (a test or an obligation failed), "error" (the child
    crashed), else "survived"."""
    if status == "timeout":
        return "timeout"
    if verdict.get("killed_by"):
        return "killed"
    if "crash" in verdict:
        return "error"
    return "survived"


def verdict_entry(
    mutant: Mutant,
    status: str,
    verdict: dict[str, Any],
    elapsed: float,
    phase: str,
    equivalents: list[dict[str, str]],
) -> dict[str, Any]:
    """The result entry of one mutant (``--out``): its place, its outcome (:func:`classify`; a survivor or an error
    matching a known equivalent is "equivalent", with the reason), what killed it."""
    entry = {
        "module": mutant.module,
        "index": mutant.index,
        "line": mutant.line,
        "function": mutant.scope,
        "change": mutant.text,
        "source": mutant.source_line,
        "occurrence": mutant.occurrence,
        "phase": phase,
        "seconds": round(elapsed, 1),
        "status": classify(status, verdict),
        **verdict,
    }
    if entry["status"] == "timeout":
        entry["reason"] = f"timeout after {elapsed:.0f} s: not judged, re-run it (--only {mutant.index})"
    elif entry["status"] != "killed" and any(_matches(known, mutant) for known in equivalents):
        entry["status"] = "equivalent"
        entry["reason"] = next(known["reason"] for known in equivalents if _matches(known, mutant))
    return entry


def summarise(entries: list[dict[str, Any]], modules: list[str]) -> dict[str, dict[str, int]]:
    """Per module: total, killed, equivalent, survived, error, timeout (not judged)."""
    summary: dict[str, dict[str, int]] = {}
    for relative in [*modules, "all"]:
        mine = [entry for entry in entries if relative in ("all", entry["module"])]
        summary[relative] = {
            "total": len(mine),
            "killed": sum(entry["status"] == "killed" for entry in mine),
            "equivalent": sum(entry["status"] == "equivalent" for entry in mine),
            "survived": sum(entry["status"] == "survived" for entry in mine),
            "error": sum(entry["status"] == "error" for entry in mine),
            "timeout": sum(entry["status"] == "timeout" for entry in mine),
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "modules",
        nargs="+",
        help="repository-relative paths of the modules to mutate, e.g. rules/solvency.py",
    )
    parser.add_argument(
        "--tests",
        nargs="+",
        default=None,
        help="test files or node ids (default: every test file naming the module)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="mutants judged at once (forked children)")
    parser.add_argument(
        "--sample", type=int, default=None, help="at most N mutants per module, spread evenly (deterministic)"
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N mutants of each module")
    parser.add_argument("--only", type=int, nargs="*", default=None, help="only these mutant indices")
    parser.add_argument(
        "--since", default=None, help="only mutants on the lines `git diff SINCE` added or changed (a commit)"
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=600,
        help="seconds per mutant before it is stopped and reported as a timeout (not judged: listed for a re-run)",
    )
    parser.add_argument(
        "--proofs", action="store_true", help="a surviving mutant faces the obligations of its rules"
    )
    parser.add_argument("--timeout-ms", type=int, default=30_000, help="solver timeout per obligation")
    parser.add_argument("--deep", action="store_true", help="include -m deep tests (not the default suite)")
    parser.add_argument("--no-confirm", action="store_true", help="do not re-run survivors the faithful way")
    parser.add_argument(
        "--faithful", action="store_true", help="plant every mutant by a fresh import (slower)"
    )
    parser.add_argument(
        "--max-test-seconds", type=float, default=None, help="leave out tests slower than this (unmutated)"
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the index cache")
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    parser.add_argument("--out", type=Path, default=None, help="write every verdict to this JSON file")
    args = parser.parse_args(argv)
    if args.list:
        for relative in args.modules:
            lines = None if args.since is None else changed_lines(relative, args.since)
            for mutant in mutants((ROOT / relative).read_text(), relative)[: args.limit]:
                if lines is None or mutant.line in lines:
                    print(f"#{mutant.index} {mutant.describe()}")
        return 0
    report = run(
        args.modules,
        args.tests,
        limit=args.limit,
        sample=args.sample,
        only=None if args.only is None else set(args.only),
        jobs=args.jobs,
        timeout_s=args.timeout,
        proofs=args.proofs,
        timeout_ms=args.timeout_ms,
        deep=args.deep,
        confirm=not args.no_confirm,
        out=args.out,
        faithful=args.faithful,
        cache=not args.no_cache,
        max_test_seconds=args.max_test_seconds,
        since=args.since,
    )
    print()
    for relative, counts in report["summary"].items():
        judged = counts["total"] - counts["equivalent"] - counts["timeout"]
        rate = 100 * counts["killed"] / max(judged, 1)
        print(
            f"{relative}: {counts['killed']}/{counts['total']} killed, {counts['equivalent']} equivalent, "
            f"{counts['survived']} survived, {counts['error']} errors, {counts['timeout']} timed out "
            f"({rate:.1f}% of the non-equivalent judged)"
        )
    for relative in report["modules"]:
        timed_out = [e["index"] for e in report["mutants"] if e["status"] == "timeout" and e["module"] == relative]
        if timed_out:
            print(
                f"timed out (not judged, not counted as killed): re-run with python -m tests.mutation {relative} "
                f"--only {' '.join(map(str, timed_out))} and a larger --timeout"
            )
    for entry in report["mutants"]:
        if entry["status"] in ("survived", "error", "timeout"):
            print(
                f"  {entry['status']} #{entry['index']} {entry['module']}:{entry['line']} ({entry['function']}): {entry['change']}   | {entry['source']}"
            )
    print(f"{report['seconds']} s, load {report['load'][0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
