"""An opt-in mutation run: does the suite (or a proof) notice when a rule or the engine's code is broken?

    python -m tests.mutation rules/solvency.py [MORE.py ...] [--tests FILE_OR_NODE ...] [--jobs 2]
        [--sample N] [--only I ...] [--proofs] [--out result.json] [--timeout S]

Each mutant is one small syntactic change of one module (the project's own AST mutator, no dependency):

* arithmetic ``+``/``-`` swapped, ``*`` → ``//``; comparisons ``<``↔``<=``, ``>``↔``>=``, ``==``↔``!=``;
* an integer constant ``n`` → ``n + 1``;
* the kernels' helpers swapped: ``min_``↔``max_``, ``and_``↔``or_``, ``ceildiv``↔``floordiv``,
  ``ppm_of_ceil``↔``ppm_of_floor``, ``round_half_up_div`` → ``floordiv``;
* a ``return`` of a value in a ``check_*``/``is_*`` function → ``return None``.

How a run goes (one parent process, ``fork`` per mutant, so pytest, Hypothesis, Z3 and perpspec are imported once):

1. **Index.** The candidate tests (``--tests``; by default every ``tests/test_*.py`` that names the module,
   hygiene tests excluded) run once, unmutated, under a profiler that records which functions of the mutated
   modules each test calls (and which run at import time).  The index is cached under ``.mutation-cache/``
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


def _outer(qualname: str) -> str:
    """``f.<locals>.g`` → ``f``; ``C.m.<locals>.h`` → ``C.m``; ``<lambda>`` etc. unchanged."""
    return qualname.split(".<locals>")[0]


class _IndexPlugin:
    """pytest plugin: which functions of the mutated modules each test calls, and how long it takes."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = {os.path.realpath(ROOT / relative): relative for relative in files}
        self.seen: dict[str, str | None] = {}
        self.current = "<import>"
        self.hits: dict[str, set[str]] = {}
        self.durations: dict[str, float] = {}
        self.failed: set[str] = set()
        self.items: list[str] = []
        self.names: dict[str, str] = {}
        self.started = 0.0

    def profile(self, frame: types.FrameType, event: str, arg: object) -> None:
        """The profiler hook: record each call of a function defined in a mutated module."""
        del arg
        if event != "call":
            return
        code = frame.f_code
        relative = self.seen.get(code.co_filename, "")
        if relative == "":
            relative = self.files.get(os.path.realpath(code.co_filename))
            self.seen[code.co_filename] = relative
        if relative is not None and code.co_qualname != "<module>":
            self.hits.setdefault(self.current, set()).add(f"{relative}::{_outer(code.co_qualname)}")

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


def _fingerprint(modules: list[str], tests: list[str], deep: bool) -> str:
    digest = hashlib.sha256(json.dumps([modules, tests, deep, os.environ.get("HYPOTHESIS_PROFILE")]).encode())
    for folder in ("rules", "engine", "proofs", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


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


def build_index(
    modules: list[str], tests: list[str], deep: bool, scratch: Path, cache: bool = True
) -> dict[str, Any]:
    """Run the tests once, unmutated, recording which functions each calls (cached by the sources)."""
    key = _fingerprint(modules, tests, deep)
    cached = CACHE / f"index-{key}.json"
    if cache and cached.exists():
        return dict(json.loads(cached.read_text()))

    def work() -> dict[str, Any]:
        import pytest

        plugin = _IndexPlugin({relative: relative for relative in modules})
        sys.setprofile(plugin.profile)
        try:
            code = pytest.main(_pytest_args(tests, deep), plugins=[plugin])
        finally:
            sys.setprofile(None)
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
    if cache:
        CACHE.mkdir(exist_ok=True)
        cached.write_text(json.dumps(result))
    return result


def select_tests(index: dict[str, Any], mutant: Mutant) -> list[str]:
    """The tests that can notice ``mutant``, fastest first."""
    failed = set(index["failed"])
    usable = [item for item in index["items"] if item not in failed]
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
    return True


class _MutantFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves the mutated source for one module name."""

    def __init__(self, name: str, path: str, text: str) -> None:
        self.name, self.path, self.text = name, path, text

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
        if self.name != "perpspec.rules.num":
            module.__dict__.update(_helpers())
        exec(compile(self.text, self.path, "exec"), module.__dict__)  # the mutant


def plant_by_import(mutant: Mutant, source: str) -> None:
    """Forget every perpspec module and import them again with the mutated source in place."""
    name = module_name(mutant.module)
    path = str(
        ROOT / "perpspec" / mutant.module
        if (ROOT / "perpspec" / mutant.module).exists()
        else ROOT / mutant.module
    )
    for loaded in [loaded for loaded in sys.modules if _is_ours(loaded)]:
        del sys.modules[loaded]
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
    )


def _spread(found: list[Mutant], count: int) -> list[Mutant]:
    """``count`` mutants spread evenly over ``found`` (deterministic)."""
    if count >= len(found):
        return found
    stride = len(found) / count
    return [found[int(position * stride)] for position in range(count)]


def _prepare_parent(proofs: bool) -> None:
    """Import once what every child needs: pytest, Hypothesis, Z3, perpspec, the obligations."""
    import hypothesis  # noqa: F401
    import pytest  # noqa: F401

    with contextlib.suppress(ImportError):
        import z3  # noqa: F401
    for folder in ("rules", "engine/core"):
        for path in sorted((ROOT / folder).glob("*.py")):
            with contextlib.suppress(Exception):
                importlib.import_module(module_name(f"{folder}/{path.name}"))
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
        found.extend(_spread(every, sample) if sample else every)
    _prepare_parent(proofs)
    equivalents = known_equivalent()

    def work_for(mutant: Mutant, faithful: bool) -> Any:
        chosen = select_tests(index, mutant)
        return lambda: judge(mutant, sources[mutant.module], chosen, faithful, proofs, timeout_ms, deep)

    results: dict[str, dict[str, Any]] = {}

    def record(mutant: Mutant, status: str, verdict: dict[str, Any], elapsed: float, phase: str) -> None:
        killed = status == "timeout" or bool(verdict.get("killed_by"))
        entry = {
            "module": mutant.module,
            "index": mutant.index,
            "line": mutant.line,
            "function": mutant.scope,
            "change": mutant.text,
            "source": mutant.source_line,
            "phase": phase,
            "seconds": round(elapsed, 1),
            "status": "killed" if killed else "error" if "crash" in verdict else "survived",
            **verdict,
        }
        if status == "timeout":
            entry["killed_by"] = [f"timeout after {elapsed:.0f} s"]
        if not killed and any(_matches(known, mutant) for known in equivalents):
            entry["status"] = "equivalent"
            entry["reason"] = next(known["reason"] for known in equivalents if _matches(known, mutant))
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
        "summary": summary,
        "mutants": [results[mutant.key] for mutant in found],
    }
    if out is not None:
        out.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return report


def summarise(entries: list[dict[str, Any]], modules: list[str]) -> dict[str, dict[str, int]]:
    """Per module: total, killed, equivalent, survived."""
    summary: dict[str, dict[str, int]] = {}
    for relative in [*modules, "all"]:
        mine = [entry for entry in entries if relative in ("all", entry["module"])]
        summary[relative] = {
            "total": len(mine),
            "killed": sum(entry["status"] == "killed" for entry in mine),
            "equivalent": sum(entry["status"] == "equivalent" for entry in mine),
            "survived": sum(entry["status"] == "survived" for entry in mine),
            "error": sum(entry["status"] == "error" for entry in mine),
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
        "--timeout", type=int, default=600, help="seconds per mutant before it counts as killed (hung)"
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
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the index cache")
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    parser.add_argument("--out", type=Path, default=None, help="write every verdict to this JSON file")
    args = parser.parse_args(argv)
    if args.list:
        for relative in args.modules:
            for mutant in mutants((ROOT / relative).read_text(), relative)[: args.limit]:
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
    )
    print()
    for relative, counts in report["summary"].items():
        judged = counts["total"] - counts["equivalent"]
        rate = 100 * counts["killed"] / max(judged, 1)
        print(
            f"{relative}: {counts['killed']}/{counts['total']} killed, {counts['equivalent']} equivalent, "
            f"{counts['survived']} survived, {counts['error']} errors ({rate:.1f}% of the non-equivalent)"
        )
    for entry in report["mutants"]:
        if entry["status"] in ("survived", "error"):
            print(
                f"  {entry['status']} #{entry['index']} {entry['module']}:{entry['line']} ({entry['function']}): {entry['change']}   | {entry['source']}"
            )
    print(f"{report['seconds']} s, load {report['load'][0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
