"""proofs.abstraction walks terms through z3's C API: it must build exactly what the Python-API walk built.

The linear abstraction used to walk every node through z3's Python wrappers (a dozen wrapper objects and
reference counts per node, about a tenth of `perpspec prove`'s CPU).  It now reads nodes as raw pointers
and creates terms through the API as before.  The claim that makes this a pure speed change: it creates
the same terms in the same order, so a fresh context numbers them the same and the solver gets the very
same query.  These tests compare it, node by node and id by id, with the Python-API walk kept here as the
reference, and pin that a query with no nonlinear term is recognised as such without a context of its own.
"""

from __future__ import annotations

import typing

import z3

from perpspec.proofs.abstraction import LinearAbstraction, has_nonlinear, is_nonlinear
from perpspec.proofs.prover import Prover, Status
from perpspec.proofs.registry import REGISTRY, discover, run_obligation


class _PythonApiAbstraction:
    """The walk as it was (proofs/prover.py before session 18), through the Python API."""

    def __init__(self, context: z3.Context) -> None:
        self.context = context
        self._memo: dict[int, tuple[z3.ExprRef, z3.ExprRef]] = {}
        self._functions: dict[str, z3.FuncDeclRef] = {}
        self.replaced = 0

    def of(self, formula: z3.ExprRef) -> z3.ExprRef:
        memo = self._memo
        stack: list[tuple[z3.ExprRef, bool]] = [(formula, False)]
        while stack:
            term, expanded = stack.pop()
            key = term.get_id()
            if key in memo:
                continue
            if not z3.is_app(term) or term.num_args() == 0:
                memo[key] = (term, term)
            elif not expanded:
                stack.append((term, True))
                stack.extend((child, False) for child in term.children() if child.get_id() not in memo)
            else:
                children = term.children()
                rebuilt = [memo[child.get_id()][1] for child in children]
                if is_nonlinear(term):
                    self.replaced += 1
                    name = f"nonlinear!{term.decl().name()}!{len(rebuilt)}"
                    if name not in self._functions:
                        self._functions[name] = z3.Function(name, *[a.sort() for a in rebuilt], term.sort())
                    memo[key] = (term, self._functions[name](*rebuilt))
                elif any(not new.eq(old) for new, old in zip(rebuilt, children, strict=True)):
                    arguments = (z3.Ast * len(rebuilt))(*[child.as_ast() for child in rebuilt])
                    application = z3.Z3_mk_app(term.ctx.ref(), term.decl().ast, len(rebuilt), arguments)
                    memo[key] = (term, z3.z3._to_expr_ref(application, term.ctx))
                else:
                    memo[key] = (term, term)
        return memo[formula.get_id()][1]


def _nodes(term: z3.ExprRef) -> list[tuple[object, ...]]:
    """Every node reachable from ``term``: its id, operator, children's ids and sort (numerals' values)."""
    seen: set[int] = set()
    nodes: list[tuple[object, ...]] = []
    stack = [term]
    while stack:
        node = stack.pop()
        if node.get_id() in seen:
            continue
        seen.add(node.get_id())
        children = node.children()
        value = str(node) if z3.is_int_value(node) else ""
        nodes.append((node.get_id(), node.decl().name(), tuple(c.get_id() for c in children), str(node.sort()), value))
        stack.extend(children)
    return nodes


def _both(terms: list[z3.BoolRef]) -> tuple[list[list[tuple[object, ...]]], list[list[tuple[object, ...]]], int, int]:
    reference_context, raw_context = z3.Context(), z3.Context()
    reference = _PythonApiAbstraction(reference_context)
    raw = LinearAbstraction(raw_context)
    expected = [_nodes(reference.of(term.translate(reference_context))) for term in terms]
    got = [_nodes(raw.of(term.translate(raw_context))) for term in terms]
    return expected, got, reference.replaced, raw.replaced


def test_the_raw_walk_builds_the_python_api_walks_terms_with_the_same_ids() -> None:
    x, y, z = z3.Ints("x y z")
    flag = z3.Bool("flag")
    terms = [
        z3.And(x * y + (x * y) / z > 3, z3.If(x * y > 2, (x * y) % 7, 3 * x + x / 5) == 1),
        z3.Implies(flag, x * y * z == z * (y - x)),  # a product of three, shared subterms across roots
        x % z + 2 * y >= y / (z + 1),
        z3.Or(flag, x + 1 > y),  # linear: kept as it is
    ]
    expected, got, replaced_before, replaced_now = _both(typing.cast(list[z3.BoolRef], terms))
    assert got == expected
    assert replaced_now == replaced_before == 6


def test_the_raw_walk_matches_on_an_obligations_whole_query() -> None:
    # a real query (many thousands of nodes): every assumption and the negated goal of an equivalence proof
    discover()
    captured: list[list[z3.BoolRef]] = []
    original = Prover._abstraction_refutes

    def capture(self: Prover, terms: list[z3.BoolRef], context: z3.Context) -> bool:
        captured.append(list(terms))
        return original(self, terms, context)

    Prover._abstraction_refutes = capture  # type: ignore[method-assign]
    try:
        outcome = run_obligation(REGISTRY["KRN/order_requirement_isolated/XBTUSD"])
    finally:
        Prover._abstraction_refutes = original  # type: ignore[method-assign]
    assert outcome.passed
    assert captured
    for terms in captured:
        expected, got, replaced_before, replaced_now = _both(terms)
        assert got == expected
        assert replaced_now == replaced_before > 0


def test_has_nonlinear_finds_a_nonlinear_node_anywhere_and_only_then() -> None:
    x, y = z3.Ints("x y")
    memo: dict[int, tuple[z3.ExprRef, bool]] = {}
    assert not has_nonlinear([x + 3 * y > 2, z3.Not(x / 4 == y % 5)], memo)
    assert has_nonlinear([x > 1, z3.If(x > 0, y, 2 + x * y) > 0], memo)
    assert has_nonlinear([x > 1, x / y > 0], {})
    assert not has_nonlinear([x > 1], memo)  # remembered per term, each term's own answer


def test_a_linear_query_is_decided_without_trying_an_abstraction() -> None:
    tried: list[int] = []
    original = Prover._abstraction_refutes

    def count(self: Prover, terms: list[z3.BoolRef], context: z3.Context) -> bool:
        tried.append(len(terms))
        return original(self, terms, context)

    Prover._abstraction_refutes = count  # type: ignore[method-assign]
    try:
        with Prover(timeout_ms=5_000) as prover:
            x = prover.symbol("x")
            prover.assume(x > 3, "x above 3")
            linear = prover.prove(2 * x > 6, "linear")
            product = prover.prove(x * x > 9, "a product")
    finally:
        Prover._abstraction_refutes = original  # type: ignore[method-assign]
    assert (linear.status, product.status) == (Status.PROVED, Status.PROVED)
    assert tried == [2]  # only the query with x·x went through an abstraction


def test_the_kernel_obligations_rules_digest_is_recomputed_when_any_rule_file_changes(
    tmp_path: typing.Any, monkeypatch: typing.Any
) -> None:
    # the digest is memoised per content of rules/ (it parses the modules): same bytes, one computation;
    # any edited byte, computed afresh (so a changed rule source is still caught by committed_source)
    import shutil

    from perpspec.proofs import obligations_specialised
    from perpspec.rules.digest import RULES_DIR

    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules, ignore=shutil.ignore_patterns("__pycache__"))
    calls: list[int] = []
    monkeypatch.setattr(obligations_specialised, "RULES_DIR", rules)
    monkeypatch.setattr(obligations_specialised, "_RULES_DIGESTS", {})

    def counting_digest() -> str:
        calls.append(1)
        return f"digest {len(calls)}"

    monkeypatch.setattr(obligations_specialised, "compute_rules_digest", counting_digest)
    assert obligations_specialised.rules_digest() == obligations_specialised.rules_digest() == "digest 1"
    (rules / "margin.py").write_text((rules / "margin.py").read_text() + "\n# edited\n")
    assert obligations_specialised.rules_digest() == "digest 2"
