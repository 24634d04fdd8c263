"""KRN: engine/kernels/dispatch.py routes each kernel call to the proved kernel of the right instrument.

The engine calls a proved kernel as ``dispatch.<name>(kernels.index, ...)``
(a native call in the compiled build).  That is only the proved kernel if
branch ``k`` calls the function of the same name, with the same arguments in
the same order, in the module of ``SYMBOLS[k]`` that holds it (the instrument's kernels are split by
margin mode; the proof record lists each module's kernels), and if the verified kernel set
of an instrument carries the index of that instrument.
"""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pytest

from perpspec.engine.kernels import dispatch
from perpspec.engine.kernels.index import MODULES
from perpspec.engine.kernels.load import KERNEL_NAMES, kernels_for
from perpspec.proofs.specialise.catalogue import KERNELS, kernel_named
from perpspec.proofs.specialise.generate import RECORD_PATH, ROOT, part_of
from perpspec.rules.instrument_file import load_instrument

SOURCE = Path(inspect.getfile(dispatch)).with_suffix(".py").read_text(encoding="utf-8")


def _functions() -> dict[str, ast.FunctionDef]:
    tree = ast.parse(SOURCE)
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_dispatch_has_one_function_per_kernel_with_the_kernel_parameters() -> None:
    functions = _functions()
    assert sorted(functions) == sorted(KERNEL_NAMES) == sorted(spec.name for spec in KERNELS)
    for spec in KERNELS:
        params = [arg.arg for arg in functions[spec.name].args.args]
        assert params == ["k", *spec.params], spec.name


@pytest.mark.parametrize("name", sorted(KERNEL_NAMES))
def test_branch_k_calls_the_same_kernel_of_symbols_k_with_the_same_arguments(name: str) -> None:
    function = _functions()[name]
    part = part_of(kernel_named(name))
    record = json.loads((ROOT / RECORD_PATH).read_text(encoding="utf-8"))
    branches = function.body[1:]  # after the docstring
    assert len(branches) == len(dispatch.SYMBOLS) + 1
    for index, (branch, symbol) in enumerate(zip(branches, dispatch.SYMBOLS, strict=False)):
        assert isinstance(branch, ast.If)
        assert not branch.orelse
        test = branch.test
        assert isinstance(test, ast.Compare)
        assert isinstance(test.left, ast.Name)
        assert test.left.id == "k"
        assert isinstance(test.ops[0], ast.Eq)
        assert isinstance(test.comparators[0], ast.Constant)
        assert test.comparators[0].value == index
        (statement,) = branch.body
        assert isinstance(statement, ast.Return)
        call = statement.value
        assert isinstance(call, ast.Call)
        assert isinstance(call.func, ast.Attribute)
        assert isinstance(call.func.value, ast.Name)
        module = MODULES[symbol][part]
        assert module.__name__ == f"perpspec.engine.kernels.{call.func.value.id}"
        assert name in record["kernels"][symbol]["modules"][part]["functions"]  # where the loader takes it from
        assert call.func.attr == name
        assert [arg.id for arg in call.args if isinstance(arg, ast.Name)] == [a.arg for a in function.args.args[1:]]
        assert len(call.args) == len(function.args.args) - 1
        assert not call.keywords
    assert isinstance(branches[-1], ast.Raise)


def test_an_unknown_index_raises() -> None:
    with pytest.raises(IndexError):
        dispatch.order_term(len(dispatch.SYMBOLS), 100, 50_000_000, 50_000_000, 0, 0)


@pytest.mark.parametrize("symbol", sorted(MODULES))
def test_the_verified_kernel_set_carries_its_instruments_index(symbol: str) -> None:
    kernels = kernels_for(load_instrument(symbol))
    assert kernels is not None
    assert dispatch.SYMBOLS[kernels.index] == symbol
    # the same numbers through the dispatch as through the module's own function (MRG-042 term of one order)
    module = MODULES[symbol][part_of(kernel_named("order_term"))]
    inst = load_instrument(symbol)
    price = inst.tick_size * 100_000
    qty = inst.lot_size * 3
    assert dispatch.order_term(kernels.index, qty, price, price, 0, 0) == module.order_term(qty, price, price, 0, 0)
    assert dispatch.order_term(kernels.index, -qty, price, price, 0, 0) == kernels.order_term(-qty, price, price, 0, 0)
