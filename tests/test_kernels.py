"""The specialised kernels (engine/kernels/): generated from the rules, proved equal, loaded only when current.

* drift: regenerating the kernels and their proof record changes nothing;
* differential: every kernel of every shipped instrument, as the engine imports
  it, returns what the rules return (Hypothesis), besides the Z3 equivalence
  obligations ``KRN/*`` of ``perpspec prove``;
* the emitted-subset interpreter refuses anything outside the subset, and on
  plain ints agrees with the imported module;
* the loader hands out a kernel set only while the proof record matches the
  rule source, the instrument's parameters and the emitted source.
"""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpspec.engine.kernels import load
from perpspec.engine.kernels.index import MODULES
from perpspec.proofs.specialise import generate
from perpspec.proofs.specialise.catalogue import KERNELS, KernelSpec
from perpspec.proofs.specialise.emit import trace_kernel
from perpspec.proofs.specialise.equivalence import mutate, prove_equivalence
from perpspec.proofs.specialise.interpret import EmittedSubsetError, evaluate, parse_module
from perpspec.proofs.specialise.trace import Node
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import builtin_symbols, load_instrument
from tests.kernel_mutants import assert_refuted_by_evaluation
from tests.strategies import BUILTIN, kernel_arguments

ROOT = Path(__file__).resolve().parent.parent
CASES = [(spec, symbol) for symbol in builtin_symbols() for spec in KERNELS]


def test_regenerating_the_kernels_and_their_record_changes_nothing() -> None:
    assert generate.differences(generate.render_all(), ROOT) == [], "run `python -m perpspec.proofs.specialise`"


def test_every_shipped_instrument_has_a_current_kernel_set() -> None:
    load.NOTICES.clear()
    missing = [symbol for symbol in builtin_symbols() if load.kernels_for(BUILTIN[symbol]) is None]
    assert (missing, load.NOTICES) == ([], {})


@pytest.mark.parametrize(("spec", "symbol"), CASES, ids=[f"{spec.name}-{symbol}" for spec, symbol in CASES])
@given(data=st.data())
def test_kernel_returns_what_the_rules_return(spec: KernelSpec, symbol: str, data: st.DataObject) -> None:
    inst = BUILTIN[symbol]
    arguments = data.draw(kernel_arguments(spec, inst))
    kernel = getattr(MODULES[symbol][generate.part_of(spec)], spec.name)
    expected = spec.reference(inst, *(arguments[name] for name in spec.params))
    assert expected == kernel(*(arguments[name] for name in spec.params))


@given(data=st.data())
def test_interpreter_on_ints_agrees_with_the_imported_module(data: st.DataObject) -> None:
    symbol = data.draw(st.sampled_from(builtin_symbols()))
    spec = data.draw(st.sampled_from(KERNELS))
    arguments = data.draw(kernel_arguments(spec, BUILTIN[symbol]))
    function = parse_module((ROOT / generate.kernel_path(symbol, spec.name)).read_text())[spec.name]
    kernel = getattr(MODULES[symbol][generate.part_of(spec)], spec.name)
    assert kernel(*(arguments[name] for name in spec.params)) == evaluate(function, arguments)


@pytest.mark.parametrize(
    "body",
    [
        "    import os\n    return (qty,)",
        "    t0 = abs(qty)\n    return (t0,)",
        "    t0 = qty.real\n    return (t0,)",
        "    t0 = qty + 1\n    t0 = t0 + 1\n    return (t0,)",
        "    t0 = qty ** 2\n    return (t0,)",
        "    t0 = (qty << 2) + 1\n    return (t0,)",
        "    t0 = t1 + 1\n    t1 = qty\n    return (t0,)",
        "    for _ in range(3):\n        qty = qty + 1\n    return (qty,)",
        "    if qty > 0:\n        return (1,)\n    return (qty,)",
        "    t0 = 0 < qty < 5\n    return (t0,)",
        "    t0 = qty / 2\n    return (t0,)",
        "    t0 = 'x'\n    return (t0,)",
        "    return qty",
    ],
)
def test_interpreter_refuses_code_outside_the_emitted_subset(body: str) -> None:
    with pytest.raises(EmittedSubsetError):
        parse_module(f"def kernel(qty: int) -> tuple[int]:\n{body}\n")


def test_interpreter_refuses_module_level_statements() -> None:
    with pytest.raises(EmittedSubsetError):
        parse_module("import os\n\ndef kernel(qty: int) -> tuple[int]:\n    return (qty,)\n")


def test_a_mutated_kernel_is_refuted_by_the_equivalence_proof() -> None:
    inst = load_instrument("XBTUSDT")
    spec = next(spec for spec in KERNELS if spec.name == "order_margin_cross")
    source = (ROOT / generate.kernel_path("XBTUSDT", spec.name)).read_text()
    assert prove_equivalence(spec, inst, source, "committed").proved
    mutated = mutate(source, spec.name, "ceil-as-floor")
    result = prove_equivalence(spec, inst, mutated, "mutant")  # the solver's own search: no witness point given
    assert_refuted_by_evaluation(spec, inst, mutated, result)


def _ceilings(source: str, name: str) -> list[tuple[str, str, int, int]]:
    """The ceilings by a constant in ``name``, in walk order: ``("negated", x, 0, c)`` for ``-((-x) // c)``, and
    ``("offset", x, m, c)`` for a division by a constant whose numerator adds (``m``) or subtracts (``-m``) a
    constant: ``(x + (c - 1)) // c`` or, for a ceiling of ``a - K``, ``(a ± m) // c`` folded (no floor of the
    rules has that shape; a floor the mutation makes of a folded one still has it, with ``c - 1`` less)."""
    found: list[tuple[str, str, int, int]] = []
    for node in ast.walk(parse_module(source)[name]):
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.BinOp)
            and isinstance(node.operand.op, ast.FloorDiv)
            and isinstance(node.operand.left, ast.UnaryOp)
            and isinstance(node.operand.right, ast.Constant)
        ):
            found.append(("negated", ast.dump(node.operand.left.operand), 0, int(str(node.operand.right.value))))
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.FloorDiv)
            and isinstance(node.right, ast.Constant)
            and isinstance(node.left, ast.BinOp)
            and isinstance(node.left.op, (ast.Add, ast.Sub))
            and isinstance(node.left.right, ast.Constant)
        ):
            sign = 1 if isinstance(node.left.op, ast.Add) else -1
            offset, scale = int(str(node.left.right.value)), int(str(node.right.value))
            found.append(("offset", ast.dump(node.left.left), sign * offset, scale))
    return found


def _one_ceiling_floored(before: list[tuple[str, str, int, int]], after: list[tuple[str, str, int, int]]) -> bool:
    """``after`` is ``before`` with one ceiling made a floor: one site gone, or one folded site's offset ``c - 1``
    lower (``(a - K + (c - 1)) // c`` become ``(a - K) // c``)."""
    if len(after) == len(before) - 1:
        return any(before[:i] + before[i + 1 :] == after for i in range(len(before)))
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new] if len(after) == len(before) else []
    if len(changed) != 1:
        return False
    (kind, base, offset, scale), new = changed[0]
    return kind == "offset" and new == (kind, base, offset - (scale - 1), scale)


def test_a_ceiling_by_a_constant_is_emitted_as_one_addition_and_its_floor_is_refuted() -> None:
    """MRG-020's ppm ceilings ``-((-x) // c)`` are emitted as ``(x + (c - 1)) // c`` (one addition, no two
    negations: proofs/specialise/emit.py; a ceiling of ``t0 - K`` with the constant folded:
    ``(t0 - 5000000001) // 15000000000``), proved equal like every kernel, and the known-bad ``ceil-as-floor``
    (the first ppm ceiling ``x // 1000000``) is refuted at a point where it differs when run."""
    inst = load_instrument("XBTUSD")
    spec = next(spec for spec in KERNELS if spec.name == "account_margin_cross_1")
    source = (ROOT / generate.kernel_path("XBTUSD", spec.name)).read_text()
    sites = _ceilings(source, spec.name)
    assert [kind for kind, *_ in sites].count("negated") == 0, sites
    assert len(sites) >= 4, sites
    assert prove_equivalence(spec, inst, source, "committed").proved
    mutated = mutate(source, spec.name, "ceil-as-floor")
    assert _one_ceiling_floored(sites, _ceilings(mutated, spec.name))
    assert_refuted_by_evaluation(spec, inst, mutated, prove_equivalence(spec, inst, mutated, "mutant"))


def test_ceil_as_floor_takes_a_folded_ceiling_only_in_a_kernel_with_no_other() -> None:
    """``(a - 5) // 100`` (a ceiling of ``a - 104`` folded) is floored to ``(a - 104) // 100`` when it is the only
    one; beside a ``(b + 99) // 100`` the latter is floored (``b // 100``) and the folded one kept."""
    alone = "def k(a: int) -> tuple[int]:\n    return ((a - 5) // 100,)\n"
    assert "(a - 104) // 100" in mutate(alone, "k", "ceil-as-floor")
    both = "def k(a: int, b: int) -> tuple[int, int]:\n    return ((a - 5) // 100, (b + 99) // 100)\n"
    assert mutate(both, "k", "ceil-as-floor").count("(a - 5) // 100, b // 100") == 1


def _traced_ceilings(spec: KernelSpec, inst: Instrument) -> int:
    """The rule's ceilings by a constant > 1 (``-((-x) // c)``, traced; ``-(a - b)`` is traced as ``b - a``)."""
    graph, _outputs = trace_kernel(spec, inst)
    return sum(
        1
        for node in graph.nodes
        if node.op == "neg"
        and isinstance(division := node.args[0], Node)
        and division.op == "floordiv"
        and type(division.args[1]) is int
        and division.args[1] > 1
        and isinstance(division.args[0], Node)
        and division.args[0].op in ("neg", "sub")
    )


@pytest.mark.parametrize("symbol", builtin_symbols())
def test_the_ceil_as_floor_mutation_finds_a_ceiling_in_every_kernel_whose_rule_has_one(symbol: str) -> None:
    """Whatever form the emitter gives a ceiling (``-((-x) // c)``, ``(x + (c - 1)) // c``, folded ``(a ± m) // c``),
    ``ceil-as-floor`` finds one in every committed kernel whose rule rounds up by a constant, and turns it into a
    floor (:func:`_one_ceiling_floored`).  (Refuting every such mutant is a proof each, minutes under load: the
    refutations run are the test above, ``order_margin_cross`` above and ``KNOWN-BAD/KRN/ceil-as-floor/*``.)"""
    inst = load_instrument(symbol)
    found = 0
    for spec in KERNELS:
        if not _traced_ceilings(spec, inst):
            continue
        source = (ROOT / generate.kernel_path(symbol, spec.name)).read_text()
        before = _ceilings(source, spec.name)
        after = _ceilings(mutate(source, spec.name, "ceil-as-floor"), spec.name)
        assert _one_ceiling_floored(before, after), (spec.name, before, after)
        found += 1
    assert found >= 10, found


def test_a_changed_instrument_runs_the_generic_rules_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    changed = load_instrument("XBTUSD", {"takerFee": "0.001"})
    load.NOTICES.clear()
    with caplog.at_level(logging.WARNING, logger="perpspec.kernels"):
        assert load.kernels_for(changed) is None
        assert load.kernels_for(changed) is None
        assert load.kernels_for(load_instrument("XBTUSD", {"takerFee": "0.001"})) is None
    assert [record.getMessage() for record in caplog.records] == [
        "XBTUSD: running the generic rules (the instrument's parameters differ from those the kernels were "
        "generated for)"
    ]
    assert load.kernels_for(BUILTIN["XBTUSD"]) is not None


@pytest.mark.parametrize("part", generate.PARTS)
def test_an_edited_kernel_source_is_not_loaded(monkeypatch: pytest.MonkeyPatch, part: str) -> None:
    """Each emitted module of an instrument (its kernels split by margin mode) is checked, not only the first."""
    original = load._module_source

    def edited(module: object) -> bytes | None:
        source = original(module)  # type: ignore[arg-type]
        if source is None or not getattr(module, "__name__", "").endswith(f"_{part}"):
            return source
        return source.replace(b"return (", b"return (1 + ", 1)

    monkeypatch.setattr(load, "_module_source", edited)
    monkeypatch.setattr(load, "_CHOSEN", {})
    monkeypatch.setattr(load, "NOTICES", {})
    assert load.kernels_for(BUILTIN["ETHUSD"]) is None
    assert load.NOTICES["ETHUSD"] == f"engine/kernels/ethusd_{part}.py is not the file the proof record names"


def test_a_kernel_is_taken_only_from_the_module_the_record_lists_it_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record listing ``value`` in the isolated module (where no obligation proved it) loads nothing."""
    record = json.loads((ROOT / generate.RECORD_PATH).read_text(encoding="utf-8"))
    modules = record["kernels"]["XBTUSD"]["modules"]
    modules["cross"]["functions"].remove("value")
    modules["isolated"]["functions"].append("value")
    monkeypatch.setattr(load, "_STATE", {"enabled": True, "record": record})
    monkeypatch.setattr(load, "_CHOSEN", {})
    monkeypatch.setattr(load, "NOTICES", {})
    assert load.kernels_for(BUILTIN["XBTUSD"]) is None
    assert load.NOTICES["XBTUSD"] == "engine/kernels/xbtusd_isolated.py does not hold the kernel value once"
    assert load.kernels_for(BUILTIN["ETHUSD"]) is not None


def test_changed_rule_source_disables_every_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "_STATE", {"enabled": True, "rules_digest": "0" * 64})
    monkeypatch.setattr(load, "_CHOSEN", {})
    assert load.kernels_for(BUILTIN["XBTUSDT"]) is None
    assert load.NOTICES["XBTUSDT"] == "the rule source changed since the kernels were generated"


def test_generic_rules_only_hands_out_no_kernel() -> None:
    with load.generic_rules_only():
        assert load.kernels_for(BUILTIN["XBTUSD"]) is None
    assert load.kernels_for(BUILTIN["XBTUSD"]) is not None


def test_a_spot_pair_has_no_kernels_and_no_notice() -> None:
    from perpspec.rules.instrument import ContractKind

    spot = next(inst for inst in _spot_pairs() if inst.kind is ContractKind.SPOT)
    load.NOTICES.clear()
    assert (load.kernels_for(spot), load.NOTICES) == (None, {})


def _spot_pairs() -> list[Instrument]:
    from perpspec.rules.instrument_file import builtin_dir, load_instrument

    return [load_instrument(str(path)) for path in sorted((builtin_dir() / "spot").glob("*.toml"))]


def test_a_parameter_the_kernels_do_not_read_keeps_them() -> None:
    # a scenario's funding and impact settings: not folded into any kernel
    changed = load_instrument("XBTUSD", {"impactNotional": 1_000_000_000, "fundingInterval": "02:00:00"})
    assert load.kernels_for(changed) is not None
