"""Mutation measurement over ``rules/``: do the proofs alone catch realistic rule slips? (opt-in)

``python -m perpspec.proofs.mutate [--limit N] [--out FILE]`` plants one slip at a
time in a rule function of ``rules/`` — the kinds the issue names:

* **rounding direction**: ``ceildiv`` ↔ ``floordiv``, ``round_half_up_div`` → ``floordiv``;
* **strict vs non-strict**: ``<`` ↔ ``<=``, ``>`` ↔ ``>=``;
* **sign**: a binary ``+`` ↔ ``-``; ``min_`` ↔ ``max_``;
* **dropped clause**: ``and_(a, b)`` → ``a``.

Sites are enumerated deterministically (rule functions in file order, nodes in
AST order) and every ``stride``-th one is taken, so ``--limit`` spreads the
mutants over the rulebook.  Each mutant runs in its own subprocess: the mutated
function is compiled and swapped into the live function object
(``function.__code__``), so every module that imported the rule sees it; then

* the **proofs** verdict: every obligation whose rules include the mutated rule
  or a rule whose source calls it is run (30 s per query); the mutant is killed
  when one of them no longer has its expected result — refuted where it was
  proved, proved where a counterexample was expected, vacuous or an error; an
  ``unknown`` (the solver gave up) is listed under ``unknown`` and never counted
  as a kill (it shows nothing about the mutant);
* the **tests** verdict: the test functions that name those rules
  (:func:`proofs.coverage.find_test_functions`) run under pytest in a
  subprocess that plants the same mutant (``tests/mutant_plugin.py``); killed
  when one fails.

The report counts mutants killed by the proofs only, the tests only, both and
neither.  Nothing here runs in the default test suite (``tests/test_mutate.py``
checks the mutator itself; a ``deep`` test runs a few mutants).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent
RULE_DOC = re.compile(r"^([A-Z]{3}-\d{3})\b")

_SWAP_CALLS = {
    "ceildiv": "floordiv",
    "floordiv": "ceildiv",
    "ppm_of_ceil": "ppm_of_floor",
    "ppm_of_floor": "ppm_of_ceil",
    "round_half_up_div": "floordiv",
    "min_": "max_",
    "max_": "min_",
}
_SWAP_COMPARE: dict[type[ast.cmpop], type[ast.cmpop]] = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}


@attrs.frozen(kw_only=True)
class Site:
    """One place a slip can be planted: a rule function and the n-th matching node in it."""

    module: str  # "rules.margin"
    qualname: str  # function name (top-level functions only)
    rule_id: str
    kind: str  # rounding | strictness | sign | dropped-clause
    index: int  # n-th mutable node of this kind in the function
    line: int
    description: str

    @property
    def id(self) -> str:
        """A stable name for the mutant."""
        return f"{self.rule_id}:{self.qualname}:{self.kind}:{self.index}"


def _nodes(tree: ast.AST) -> Iterator[tuple[str, ast.AST, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in _SWAP_CALLS:
                kind = "sign" if node.func.id in ("min_", "max_") else "rounding"
                yield kind, node, f"{node.func.id} → {_SWAP_CALLS[node.func.id]}"
            elif node.func.id == "and_" and len(node.args) == 2:
                yield "dropped-clause", node, "and_(a, b) → a"
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _SWAP_COMPARE:
            op = type(node.ops[0])
            yield "strictness", node, f"{op.__name__} → {_SWAP_COMPARE[op].__name__}"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
            yield "sign", node, "+ → -" if isinstance(node.op, ast.Add) else "- → +"


def _function_source(module: Any, name: str) -> str:
    return textwrap.dedent(inspect.getsource(getattr(module, name)))


def enumerate_sites(root: Path = ROOT) -> list[Site]:
    """Every mutable site in a top-level rule function of ``rules/``, in a fixed order."""
    sites: list[Site] = []
    for path in sorted((root / "rules").glob("*.py")):
        if path.stem in ("__init__", "num", "parse", "instrument_file", "events"):
            continue
        module_name = f"rules.{path.stem}"
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            match = RULE_DOC.match(ast.get_docstring(node) or "")
            if match is None:
                continue
            counters: dict[str, int] = {}
            for kind, target, description in _nodes(node):
                index = counters.get(kind, 0)
                counters[kind] = index + 1
                sites.append(
                    Site(
                        module=module_name,
                        qualname=node.name,
                        rule_id=match.group(1),
                        kind=kind,
                        index=index,
                        line=getattr(target, "lineno", node.lineno),
                        description=description,
                    )
                )
    return sites


def _spread(sites: list[Site], count: int) -> list[Site]:
    if count <= 0:
        return []
    if count >= len(sites):
        return list(sites)
    stride = len(sites) / count
    return [sites[int(i * stride)] for i in range(count)]


def select(sites: list[Site], limit: int) -> list[Site]:
    """``limit`` sites, the same share for each kind of slip, spread evenly over the rulebook."""
    kinds = sorted({site.kind for site in sites})
    by_kind = {kind: [site for site in sites if site.kind == kind] for kind in kinds}
    chosen: list[Site] = []
    left = limit
    for position, kind in enumerate(sorted(kinds, key=lambda name: len(by_kind[name]))):
        share = left // (len(kinds) - position)
        taken = _spread(by_kind[kind], share)
        chosen.extend(taken)
        left -= len(taken)
    return sorted(chosen, key=sites.index)


class _Mutator(ast.NodeTransformer):
    def __init__(self, kind: str, index: int) -> None:
        self.kind, self.index, self.seen, self.done = kind, index, 0, False

    def _hit(self, kind: str) -> bool:
        if kind != self.kind or self.done:
            return False
        hit = self.seen == self.index
        self.seen += 1
        self.done = hit
        return hit

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if isinstance(node.func, ast.Name):
            name = node.func.id
            if name in _SWAP_CALLS and self._hit("sign" if name in ("min_", "max_") else "rounding"):
                node.func = ast.Name(id=_SWAP_CALLS[name], ctx=ast.Load())
                return node
            if name == "and_" and len(node.args) == 2 and self._hit("dropped-clause"):
                return node.args[0]
        self.generic_visit(node)
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        if len(node.ops) == 1 and type(node.ops[0]) in _SWAP_COMPARE and self._hit("strictness"):
            node.ops = [_SWAP_COMPARE[type(node.ops[0])]()]
            return node
        self.generic_visit(node)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if isinstance(node.op, ast.Add | ast.Sub) and self._hit("sign"):
            node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
            return node
        self.generic_visit(node)
        return node


def _walk_order_mutate(tree: ast.FunctionDef, kind: str, index: int) -> bool:
    """Mutate the ``index``-th node of ``kind`` in :func:`_nodes` order (ast.walk: breadth first)."""
    targets = [node for node_kind, node, _ in _nodes(tree) if node_kind == kind]
    if index >= len(targets):
        return False
    target = targets[index]
    # mark the target, then let the transformer replace exactly that node
    target._mutate = True  # type: ignore[attr-defined]

    class _One(ast.NodeTransformer):
        def visit(self, node: ast.AST) -> ast.AST:
            if getattr(node, "_mutate", False):
                return typing.cast(ast.AST, _Mutator(kind, 0).visit(node))
            return typing.cast(ast.AST, super().visit(node))

    _One().visit(tree)
    return True


def apply(site: Site) -> None:
    """Plant the slip: swap the mutated code into the live rule function."""
    module = importlib.import_module(f"perpspec.{site.module}")
    function = getattr(module, site.qualname)
    function = inspect.unwrap(function)
    tree = ast.parse(_function_source(module, site.qualname))
    definition = tree.body[0]
    assert isinstance(definition, ast.FunctionDef)
    definition.decorator_list = []
    assert _walk_order_mutate(definition, site.kind, site.index), site
    ast.fix_missing_locations(tree)
    from perpspec.rules import num

    for name in _SWAP_CALLS.values():  # the swapped-in helper must resolve in the rule's module
        if not hasattr(module, name):
            setattr(module, name, getattr(num, name))
    namespace: dict[str, Any] = dict(vars(module))
    exec(compile(tree, f"<mutant {site.id}>", "exec"), namespace)
    function.__code__ = namespace[site.qualname].__code__


def _related_rules(site: Site) -> set[str]:
    """The mutated rule and every rule whose source calls the mutated function."""
    from perpspec.proofs.rulebook import discover_rules

    pattern = re.compile(rf"\b{re.escape(site.qualname)}\(")
    related = {site.rule_id}
    for rule in discover_rules():
        if pattern.search(rule.source.split('"""', 2)[-1]):
            related.add(rule.id)
    return related


def run_proofs(related: set[str], timeout_ms: int) -> dict[str, Any]:
    """Run the obligations of the related rules on the mutant; killed when one has an unexpected result."""
    from perpspec.proofs.registry import discover, run_obligation
    from perpspec.proofs.rulebook import ANY_RULE_ID

    failed: list[str] = []
    undecided: list[str] = []
    ran = 0
    for obligation in discover():
        if not set(ANY_RULE_ID.findall(f"{obligation.rule_id} {obligation.id}")) & related:
            continue
        ran += 1
        outcome = run_obligation(obligation, timeout_ms)
        if outcome.passed:
            continue
        if outcome.status_text == "unknown":  # the solver gave up: the mutant is not shown wrong (never a kill)
            undecided.append(f"{obligation.id}: unknown")
            continue
        failed.append(f"{obligation.id}: {outcome.status_text}")
        break
    return {"ran": ran, "killed": bool(failed), "by": failed, "unknown": undecided}


def naming_tests(related: set[str]) -> list[str]:
    """The test functions that name any of the related rules (read before the mutant is planted)."""
    from perpspec.proofs.coverage import find_test_functions
    from perpspec.proofs.rulebook import discover_rules

    names = {rule.id: rule.qualname.split(".")[-1] for rule in discover_rules() if not rule.qualname.startswith("_")}
    return sorted({test for rule_id, found in find_test_functions(ROOT, names).items() if rule_id in related for test in found})


def run_tests(site: Site, tests: list[str]) -> dict[str, Any]:
    """Run the given test functions with the mutant planted (pytest in a subprocess, ``tests/mutant_plugin.py``)."""
    if not tests:
        return {"ran": 0, "killed": False, "by": []}
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "tests.mutant_plugin", "-p", "no:cacheprovider", *tests]
    environment = {**os.environ, "PERPSPEC_MUTANT": site.id}
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False, timeout=1_200)
    killed = done.returncode not in (0, 5)
    return {"ran": len(tests), "killed": killed, "by": [done.stdout.strip().splitlines()[-1]] if killed and done.stdout.strip() else []}


def run_one(site: Site, timeout_ms: int) -> dict[str, Any]:
    """Apply one mutant (in this process) and get both verdicts."""
    related = _related_rules(site)
    tests = run_tests(site, naming_tests(related))
    apply(site)
    proofs = run_proofs(related, timeout_ms)
    return {"site": attrs.asdict(site), "id": site.id, "related": sorted(related), "proofs": proofs, "tests": tests}


def summarise(results: list[dict[str, Any]]) -> dict[str, int]:
    """Counts: killed by proofs only, tests only, both, neither."""
    counts = {"mutants": len(results), "proofs_only": 0, "tests_only": 0, "both": 0, "neither": 0, "errors": 0}
    for result in results:
        if "error" in result:
            counts["errors"] += 1
            continue
        by_proofs, by_tests = result["proofs"]["killed"], result["tests"]["killed"]
        key = "both" if by_proofs and by_tests else "proofs_only" if by_proofs else "tests_only" if by_tests else "neither"
        counts[key] += 1
        counts["proof_unknowns"] = counts.get("proof_unknowns", 0) + bool(result["proofs"].get("unknown"))
    return counts


def main(argv: list[str] | None = None) -> int:
    """Run the measurement (each mutant in a subprocess) and write a JSON report."""
    parser = argparse.ArgumentParser(prog="python -m perpspec.proofs.mutate", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--limit", type=int, default=40, help="number of mutants (spread over all sites)")
    parser.add_argument("--timeout-ms", type=int, default=30_000, help="solver timeout per query")
    parser.add_argument("--out", default="", help="write the JSON report here")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)  # internal: run one mutant, print JSON
    args = parser.parse_args(argv)
    sites = enumerate_sites()
    if args.one:
        site = next(site for site in sites if site.id == args.one)
        print("MUTANT-RESULT " + json.dumps(run_one(site, args.timeout_ms)), flush=True)
        return 0
    chosen = select(sites, args.limit)
    results: list[dict[str, Any]] = []
    for number, site in enumerate(chosen, 1):
        command = [sys.executable, "-m", "perpspec.proofs.mutate", "--one", site.id, "--timeout-ms", str(args.timeout_ms)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1_800)
        line = next((line for line in done.stdout.splitlines() if line.startswith("MUTANT-RESULT ")), None)
        result: dict[str, Any] = (
            json.loads(line.removeprefix("MUTANT-RESULT ")) if line else {"id": site.id, "error": done.stderr[-500:]}
        )
        results.append(result)
        verdict = "error" if "error" in result else f"proofs={result['proofs']['killed']} tests={result['tests']['killed']}"
        print(f"[{number}/{len(chosen)}] {site.id} ({site.description}, line {site.line}): {verdict}", flush=True)
    report = {"sites": len(sites), "summary": summarise(results), "mutants": results}
    text = json.dumps(report, indent=2, sort_keys=True)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(json.dumps(report["summary"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
