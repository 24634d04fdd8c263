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
from perpspec.proofs.specialise.equivalence import mutate, prove_equivalence
from perpspec.proofs.specialise.interpret import EmittedSubsetError, evaluate, parse_module
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
