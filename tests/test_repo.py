"""Tests of the repository itself: layering, integers only, no value branching in kernels, types, lint.

These are the checks a reviewer would otherwise do by eye (DESIGN §1, §2, §4).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names)

# Modules of rules/ that are the edge (parsing, loading files) or the helpers themselves:
# they run on concrete values only and are exempt from the kernel lint.
EDGE_MODULES = {"num.py", "parse.py", "instrument_file.py", "__init__.py"}

ALLOWED_IMPORTS = {
    "rules": {"rules", "attrs"},
    "engine": {"rules", "engine", "attrs", "perpspec"},  # "perpspec": the package root itself (its __version__)
    "proofs": {"rules", "proofs", "attrs", "z3"},
}


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def top_level_imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(root module, line, at module level?) for every import in the tree.

    The project's own packages are named by their part under ``perpspec``:
    ``from perpspec.rules.margin import x`` and ``from perpspec import rules`` are ``rules``.
    """
    found: list[tuple[str, int, bool]] = []
    module_level = {id(node) for node in getattr(tree, "body", [])}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((_root(alias.name), node.lineno, id(node) in module_level))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "perpspec":
                found.extend((alias.name, node.lineno, id(node) in module_level) for alias in node.names)
            else:
                found.append((_root(node.module), node.lineno, id(node) in module_level))
    return found


def _root(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if parts[0] == "perpspec" and len(parts) > 1 else parts[0]


def test_the_project_is_imported_only_as_perpspec() -> None:
    """No module imports ``rules``/``engine``/``proofs``/``specs`` bare: installed, only ``perpspec`` exists."""
    offenders = []
    # the repository's own folders only: a hidden one (.venv, .git, a .venv-main link to another
    # checkout's virtualenv) or a link is not the project, and walking a virtualenv parsed
    # thousands of site-packages files (a minute of the suite)
    folders = [
        folder
        for folder in sorted(ROOT.iterdir())
        if folder.is_dir()
        and not folder.is_symlink()
        and not folder.name.startswith(".")
        and folder.name not in ("build", "perpspec")
    ]
    for path in sorted(path for folder in folders for path in folder.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
                for name in names
                if name.split(".")[0] in ("rules", "engine", "proofs", "specs", "tests")
                and not (name.split(".")[0] == "tests" and path.parts[len(ROOT.parts)] == "tests")
            ]
    assert offenders == []


@pytest.mark.parametrize("package", sorted(ALLOWED_IMPORTS))
def test_layering_imports_only_allowed_packages(package: str) -> None:
    violations = []
    for path in python_files(package):
        tree = ast.parse(path.read_text(), str(path))
        for module, line, at_top in top_level_imports(tree):
            if module in STDLIB or module == "__future__" or module in ALLOWED_IMPORTS[package]:
                continue
            # The CLI lives in engine/ and may load proofs (z3) lazily, inside a command's run().
            if package == "engine" and path.parent.name == "cli" and module == "proofs" and not at_top:
                continue
            # the Parquet export loads the optional pyarrow (perpspec[parquet]) inside its writer only
            if package == "engine" and path.name == "export.py" and module == "pyarrow" and not at_top:
                continue
            # engine/serve/ is the HTTP edge: aiohttp; its benchmark drives ccxt clients (lazily)
            if package == "engine" and path.parent.name == "serve" and (
                module == "aiohttp" or (module == "ccxt" and not at_top)
            ):
                continue
            # the sweep loads its optional extras (perpspec[ray], perpspec[parquet]) lazily, where they are used
            if package == "engine" and "sweep" in path.parts and module in ("ray", "pyarrow") and not at_top:
                continue
            # the pytest plugin (engine/audit/plugin.py) imports pytest inside its hooks, never at import time;
            # engine/audit/strategies.py is the public Hypothesis API for other engines' tests (the test extra);
            # engine/audit/reader.py reads a .parquet log with the parquet extra, loaded only then
            if package == "engine" and path.parent.name == "audit" and (path.name, module) in (
                ("plugin.py", "pytest"), ("strategies.py", "hypothesis"), ("reader.py", "pyarrow")
            ) and (module == "hypothesis" or not at_top):
                continue
            # engine/core/compiled.py names mypyc's class marker for mypy and mypyc only (under TYPE_CHECKING)
            if package == "engine" and path.name == "compiled.py" and module == "mypy_extensions" and not at_top:
                continue
            violations.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert violations == []


def test_nothing_imports_tests() -> None:
    violations = []
    for package in ALLOWED_IMPORTS:
        for path in python_files(package):
            tree = ast.parse(path.read_text(), str(path))
            for module, line, _ in top_level_imports(tree):
                if module == "tests":
                    violations.append(f"{path.relative_to(ROOT)}:{line}")
    assert violations == []


def test_rules_never_import_z3_even_lazily() -> None:
    offenders = []
    for package in ("rules", "engine"):
        for path in python_files(package):
            tree = ast.parse(path.read_text(), str(path))
            for module, line, _ in top_level_imports(tree):
                if module == "z3":
                    offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == []


FLOAT_CALLS = {"float", "round", "Decimal", "Fraction", "complex"}
FLOAT_MODULES = {"decimal", "fractions", "math", "random", "time", "datetime", "statistics"}


def float_violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    where = path.relative_to(ROOT)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            found.append(f"{where}:{node.lineno} float literal {node.value!r}")
        elif isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.Div):
            found.append(f"{where}:{node.lineno} true division")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FLOAT_CALLS:
            found.append(f"{where}:{node.lineno} call to {node.func.id}()")
    for module, line, _ in top_level_imports(tree):
        if module in FLOAT_MODULES:
            found.append(f"{where}:{line} imports {module}")
    return found


# engine modules at the edge may read the wall clock or format decimals for humans:
# the CLI, the report writer and progress line, the benchmarks, the sweep and the API gateway (serve).
# The deterministic rest may not.
ENGINE_EDGE_ROOMS = ("cli", "bench", "sweep", "serve")
ENGINE_EDGE_FILES = (
    "simulation/report.py",
    "simulation/report_data.py",
    "simulation/report_charts.py",
    "simulation/report_plots.py",
    "simulation/progress.py",
    "simulation/export.py",  # export: exact Decimal text
)


def is_engine_edge(path: Path) -> bool:
    relative = path.relative_to(ROOT / "engine")
    return relative.parts[0] in ENGINE_EDGE_ROOMS or relative.as_posix() in ENGINE_EDGE_FILES


# engine/'s rooms and the rooms each may import: the dependency direction is one way,
# cli -> bench -> sweep -> simulation -> durability -> core -> kernels -> rules; cli -> serve -> simulation
ENGINE_ROOMS = {
    "kernels": {"kernels"},  # generated, proved kernels (engine/kernels/load.py hands them out)
    "core": {"core", "kernels"},
    "durability": {"core", "durability", "kernels"},
    "simulation": {"core", "durability", "simulation", "kernels"},
    "bench": {"core", "durability", "simulation", "sweep", "bench", "kernels"},
    "sweep": {"core", "durability", "simulation", "sweep", "kernels"},
    "serve": {"core", "durability", "simulation", "serve", "kernels"},
    "cli": {"core", "durability", "simulation", "bench", "sweep", "serve", "audit", "cli", "kernels"},
    "audit": {"audit"},  # reads logs through rules/ only: any engine's, not perpspec's
}


def _engine_imports(path: Path) -> list[tuple[str, int]]:
    """(imported module under perpspec.engine, line) for every import of an engine module in ``path``."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("perpspec.engine.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "perpspec.engine":
                found += [(f"perpspec.engine.{alias.name}", node.lineno) for alias in node.names]
            elif node.module.startswith("perpspec.engine."):
                found.append((node.module, node.lineno))
    return found


def test_engine_is_in_rooms_with_one_way_dependencies() -> None:
    """Every engine module lives in a room, and imports only its own room and the rooms below it."""
    loose = [p.name for p in (ROOT / "engine").glob("*.py") if p.name != "__init__.py"]
    assert loose == [], "every engine module belongs in a room (engine/core, durability, simulation, cli, bench)"
    rooms = sorted(p.name for p in (ROOT / "engine").iterdir() if p.is_dir() and p.name != "__pycache__")
    assert rooms == sorted(ENGINE_ROOMS), "a new room gets its line in ENGINE_ROOMS (what it may import)"
    violations = []
    for path in python_files("engine"):
        room = path.relative_to(ROOT / "engine").parts[0]
        if room not in ENGINE_ROOMS:
            continue
        for module, line in _engine_imports(path):
            target = module.split(".")[2]
            if target not in ENGINE_ROOMS[room]:
                violations.append(f"{path.relative_to(ROOT)}:{line} ({room}) imports {module} ({target})")
    assert violations == []


def test_no_import_cycles_between_modules() -> None:
    """The module-level imports of rules/, engine/ and proofs/ form no circle (``if TYPE_CHECKING:`` ones included)."""
    graph: dict[str, set[str]] = {}
    for package in ("rules", "engine", "proofs"):
        for path in python_files(package):
            relative = path.relative_to(ROOT).with_suffix("")
            name = "perpspec." + ".".join(relative.parts).removesuffix(".__init__")
            edges: set[str] = set()
            top = ast.parse(path.read_text(), str(path)).body
            typing_only = [
                inner
                for node in top
                if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                for inner in node.body
            ]
            for node in [*top, *typing_only]:
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    if node.module.startswith("perpspec."):
                        edges.add(node.module)
                        edges.update(f"{node.module}.{alias.name}" for alias in node.names)
                elif isinstance(node, ast.Import):
                    edges.update(alias.name for alias in node.names if alias.name.startswith("perpspec."))
            graph[name] = edges
    graph = {name: {edge for edge in edges if edge in graph and edge != name} for name, edges in graph.items()}
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]) if nxt in trail else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert [cycle for cycle in cycles if cycle not in KNOWN_CYCLES] == []


# Reviewed exceptions (none): session 18's rules.invariants <-> rules.invariants_trading cycle was removed in session 19
# by moving the registry's machinery to rules/invariant_registry.py, which both import.
KNOWN_CYCLES: frozenset[str] = frozenset()


def test_rules_are_integers_only_and_never_read_clocks_or_randomness() -> None:
    violations = [v for path in python_files("rules") for v in float_violations(path)]
    assert violations == []


def test_engine_core_is_integers_only_and_never_reads_clocks_or_randomness() -> None:
    core = [p for p in python_files("engine") if not is_engine_edge(p)]
    violations = [v for path in core for v in float_violations(path)]
    assert violations == []


BANNED_BUILTINS = {"min", "max", "abs", "sum", "any", "all", "bool", "sorted"}
VALUE_COMPARE = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)


def _is_concrete(function: ast.FunctionDef) -> bool:
    for decorator in function.decorator_list:
        name = decorator.id if isinstance(decorator, ast.Name) else getattr(decorator, "attr", "")
        if name == "concrete":
            return True
    return False


def branching_violations(path: Path) -> list[str]:
    """Value branching inside kernel functions (not marked @concrete, no `# structural`)."""
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source, str(path))
    where = path.relative_to(ROOT)
    found: list[str] = []

    def structural(node: ast.AST) -> bool:
        line = lines[node.lineno - 1]
        return "# structural" in line

    def visit(function: ast.FunctionDef) -> None:
        for node in ast.walk(function):
            if isinstance(node, ast.FunctionDef) and node is not function and _is_concrete(node):
                continue
            message = None
            if isinstance(node, ast.BoolOp):
                message = "and/or on values (use and_/or_)"
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                message = "`not` on a value (use not_)"
            elif isinstance(node, ast.IfExp):
                message = "conditional expression (use ite)"
            elif isinstance(node, ast.Compare) and len(node.ops) > 1:
                message = "chained comparison"
            elif isinstance(node, ast.If | ast.While | ast.Assert) and any(
                isinstance(sub, ast.Compare) and any(isinstance(op, VALUE_COMPARE) for op in sub.ops)
                for sub in ast.walk(node.test)
            ):
                message = "branch on a value comparison (use ite)"
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"min", "max", "abs"}
            ):
                message = f"builtin {node.func.id}() (use {node.func.id}_)"
            if message is not None and not structural(node):
                found.append(f"{where}:{node.lineno} {message}")

    for node in tree.body:
        candidates = [node] if isinstance(node, ast.FunctionDef) else []
        if isinstance(node, ast.ClassDef):
            candidates = [item for item in node.body if isinstance(item, ast.FunctionDef)]
        for function in candidates:
            if not _is_concrete(function):
                visit(function)
    return found


def test_rule_kernels_do_not_branch_on_values() -> None:
    kernels = [p for p in python_files("rules") if p.name not in EDGE_MODULES]
    violations = [v for path in kernels for v in branching_violations(path)]
    assert violations == []


def test_lint_catches_value_branching(tmp_path: Path) -> None:
    bad = ROOT / "rules" / "_lint_probe_tmp.py"
    bad.write_text("def f(x: int) -> int:\n    if x > 0:\n        return min(x, 3)\n    return x and 1\n")
    try:
        assert len(branching_violations(bad)) == 3
    finally:
        bad.unlink()


MAX_MODULE_LINES = 800


def test_every_module_is_under_800_lines() -> None:
    """The house rule, generated modules included: the specialiser splits an instrument's kernels by margin
    mode (proofs/specialise/generate.py) so that no emitted module reaches the limit."""
    modules = [*sorted((ROOT / "perpspec").glob("*.py"))]
    for package in ("rules", "engine", "proofs"):
        modules += python_files(package)
    counts = {path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines()) for path in modules}
    assert {name: count for name, count in counts.items() if count >= MAX_MODULE_LINES} == {}
    assert any(name.startswith("engine/kernels/") for name in counts)


def test_mypy_strict_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "-p", "perpspec"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:]


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:]
