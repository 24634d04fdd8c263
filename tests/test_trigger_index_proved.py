"""The trigger index's proofs are about the engine's index (red team 11, redteam11_2).

``ORD-015/index-keys`` and ``ORD-007/never-fires`` used to rebuild StopIndex's tests by hand inside the proof
(``key <= bound``, ``level - distance >= signed_price``, the moved level and the stopPx written back): a bug
planted in ``StopIndex.pop_below`` (``<`` for ``<=``: a Stop its price touches is not fired) left all 38 trigger
obligations proved, and ``engine/core/triggers.py`` was not in their dependency key.  Now every key, bound and
comparison the index decides by is an index kernel of ``rules/triggers.py``; the engine calls them and the
obligations pass Z3 terms to the same functions.  Here a slip planted in a kernel (its code swapped in the live
function, as :mod:`proofs.mutate` plants one, so the engine and the obligations both run it) makes the engine miss
the stop *and* an obligation refute it; the engine's file is in the obligations' key; and the engine's index
makes no heap comparison of its own.
"""

from __future__ import annotations

import ast
import inspect
import shutil
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core import orders as o
from perpspec.engine.core.orders import Order
from perpspec.engine.core.triggers import StopIndex
from perpspec.proofs import registry
from perpspec.proofs import rulebook_status as status
from perpspec.proofs.prover import Status
from perpspec.rules import triggers as trigger_rules
from perpspec.rules.triggers import is_trigger_due

ROOT = Path(__file__).resolve().parent.parent
ENGINE_FILE = "engine/core/triggers.py"
INDEX_OBLIGATIONS = ("ORD-015/index-keys/", "ORD-007/never-fires/")

# the index kernels: every function of rules/triggers.py after its "index kernels" marker
INDEX_KERNELS = (
    "is_index_key_reached",
    "compute_index_key",
    "is_index_read",
    "compute_signed_price",
    "compute_trailing_distance",
    "compute_trailing_level",
    "compute_bucket_stop_px",
    "compute_trailing_reach",
    "compute_bucket_key",
    "compute_bucket_bound",
    "is_level_passed",
    "is_bucket_moved",
    "compute_moved_level",
)


def _index_obligations() -> list[registry.Obligation]:
    return [ob for ob in registry.discover() if ob.id.startswith(INDEX_OBLIGATIONS)]


def _statuses() -> dict[str, Status | None]:
    outcomes = {ob.id: registry.run_obligation(ob) for ob in _index_obligations()}
    return {name: None if outcome.result is None else outcome.result.status for name, outcome in outcomes.items()}


@contextmanager
def planted(name: str, old: str, new: str) -> Iterator[None]:
    """The index kernel ``name`` with ``old`` replaced by ``new`` in its source, for the engine and the proofs."""
    function: Callable[..., Any] = getattr(trigger_rules, name)
    if not hasattr(function, "__code__"):
        pytest.skip("rules.triggers is compiled (mypyc): its code cannot be swapped")
    source = textwrap.dedent(inspect.getsource(function))
    assert source.count(old) == 1, (name, old)
    namespace = dict(vars(trigger_rules))
    exec(compile(source.replace(old, new), f"<planted {name}>", "exec"), namespace)
    original = function.__code__
    function.__code__ = namespace[name].__code__
    try:
        yield
    finally:
        function.__code__ = original


def _sell_stop_fires_at(price: int) -> bool:
    """A MarkPrice sell Stop at 49,000 in a fresh StopIndex: taken by a pass at ``price``?"""
    stop = Order(order_id=1, account=1, symbol="T", is_buy=False, price=0, order_qty=100, ord_type=o.STOP,
                 stop_px=49_000, trigger_source=o.MARK_PRICE)
    index = StopIndex({1: stop})
    index.sync()
    return [order.order_id for order in index.take_due(None, price, 0, 0)] == [1]  # type: ignore[arg-type]


def test_the_index_obligations_are_proved_with_satisfiable_assumptions() -> None:
    """Every index obligation is PROVED, which the prover gives only once its assumptions are satisfiable."""
    statuses = _statuses()
    assert len(statuses) == 12
    assert set(statuses.values()) == {Status.PROVED}


def test_the_planted_strict_pop_makes_the_engine_miss_the_stop_and_the_proof_refute_it() -> None:
    """redteam11_2's bug, where it would now be written: the index pops an entry only *below* its bound."""
    assert is_trigger_due(False, False, False, 49_000, 49_000, 49_000)
    assert _sell_stop_fires_at(49_000)
    with planted("is_index_key_reached", "return key <= bound", "return key < bound"):
        assert not _sell_stop_fires_at(49_000)  # the engine's index runs the planted kernel
        statuses = _statuses()
    refuted = sorted(name for name, result in statuses.items() if result is Status.REFUTED)
    assert refuted == sorted(statuses)  # every fixed-stop heap and every bucket misses its touched stop


# a slip in each index kernel (the same kinds proofs/mutate.py plants: sign, strictness, dropped clause) and an
# obligation it must fail; slips that change only what the index costs (a bucket bound one higher: a bucket
# popped for nothing is placed back) or nothing at all (``is_level_passed`` at its level: moved to where it is)
# are not listed
SLIPS = [
    ("compute_index_key", "-price", "price", "ORD-015/index-keys/sell-stop"),
    ("is_index_read", "price != 0", "price == price", "ORD-015/index-keys/sell-stop"),
    ("is_index_read", "is_price_counted(last_within_mark, price, mark_price)", "is_within_mark_band(price, mark_price)",
     "ORD-015/index-keys/buy-stop"),
    ("compute_signed_price", "ite(is_buy, -price, price)", "ite(is_buy, price, -price)", "ORD-007/never-fires/buy-stop"),
    ("compute_trailing_distance", "-peg_offset", "peg_offset", "ORD-007/never-fires/sell-stop"),
    ("compute_trailing_level", "+ distance", "- distance", "ORD-007/never-fires/sell-stop"),
    ("compute_bucket_stop_px", "level - distance", "level + distance", "ORD-007/never-fires/buy-stop"),
    ("compute_trailing_reach", "level - signed_price", "level - signed_price - 1", "ORD-007/never-fires/sell-stop"),
    ("compute_bucket_key", "distance - level", "distance + level", "ORD-007/never-fires/buy-stop"),
    ("compute_bucket_bound", "return -signed_price", "return -signed_price - 1", "ORD-007/never-fires/sell-stop"),
    ("is_level_passed", "level < signed_price", "level > signed_price", "ORD-007/never-fires/sell-stop"),
    ("is_bucket_moved", "and_(read, ", "and_(True, ", "ORD-016/in-band/sell-stop-within-mark"),
    ("compute_moved_level", "signed_price, level)", "level, signed_price)", "ORD-007/never-fires/buy-stop"),
]


@pytest.mark.parametrize(("kernel", "old", "new", "obligation"), SLIPS, ids=[slip[0] for slip in SLIPS])
def test_a_slip_in_an_index_kernel_is_refuted(kernel: str, old: str, new: str, obligation: str) -> None:
    with planted(kernel, old, new):
        outcome = registry.run_obligation(registry.REGISTRY[obligation])
    assert outcome.result is not None
    assert outcome.result.status is Status.REFUTED


def test_every_index_kernel_has_a_slip_that_is_refuted() -> None:
    assert sorted({slip[0] for slip in SLIPS} | {"is_index_key_reached"}) == sorted(INDEX_KERNELS)


def test_an_assumption_the_kernels_make_unsatisfiable_fails_as_vacuous() -> None:
    """The prover's vacuity check applies to the index obligations: a distance kernel that is never positive
    leaves ``distance > 0`` unsatisfiable, and the bucket obligations fail as VACUOUS, not proved."""
    with planted("compute_trailing_distance", "ite(is_buy, peg_offset, -peg_offset)", "0 * peg_offset"):
        statuses = _statuses()
    assert {name: result for name, result in statuses.items() if name.startswith("ORD-007/")} == {
        name: Status.VACUOUS for name in statuses if name.startswith("ORD-007/")
    }


def test_the_index_kernels_are_the_functions_after_the_marker() -> None:
    source = (ROOT / "rules" / "triggers.py").read_text()
    tail = ast.parse(source[source.index("# -- the index kernels"):])
    assert [node.name for node in tail.body if isinstance(node, ast.FunctionDef)] == list(INDEX_KERNELS)


def _called_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    return {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}


def _read_names(path: Path) -> set[str]:
    """Names read anywhere, a parameter's default included (the obligations take some kernels as parameters, so
    that a known-bad variant can stand in)."""
    tree = ast.parse(path.read_text(), str(path))
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def _called_through_kernels(names: set[str]) -> set[str]:
    """``names`` and the index kernels they call (``is_level_passed`` runs inside ``is_bucket_moved``)."""
    tree = ast.parse((ROOT / "rules" / "triggers.py").read_text())
    calls = {
        node.name: {call.func.id for call in ast.walk(node) if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)}
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
    }
    return names | {callee for name in names for callee in calls.get(name, set()) if callee in INDEX_KERNELS}


def test_the_engine_calls_every_index_kernel_and_the_obligations_use_each() -> None:
    missing = {
        ENGINE_FILE: sorted(set(INDEX_KERNELS) - _called_through_kernels(_called_names(ROOT / ENGINE_FILE))),
        "proofs/obligations_triggers.py": sorted(set(INDEX_KERNELS) - _read_names(ROOT / "proofs" / "obligations_triggers.py")),
    }
    assert missing == {ENGINE_FILE: [], "proofs/obligations_triggers.py": []}


def _reads_a_heap_key(node: ast.expr) -> bool:
    """``heap[0][0]``: the key of a heap's first entry."""
    return (
        isinstance(node, ast.Subscript)
        and isinstance(node.slice, ast.Constant)
        and node.slice.value == 0
        and isinstance(node.value, ast.Subscript)
        and isinstance(node.value.slice, ast.Constant)
        and node.value.slice.value == 0
    )


def test_the_engine_index_compares_no_heap_key_itself() -> None:
    """StopIndex's pops test a heap's first key only through an index kernel (redteam11_2 planted ``<`` there)."""
    tree = ast.parse((ROOT / ENGINE_FILE).read_text())
    (index,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "StopIndex"]
    inline = [
        node.lineno
        for node in ast.walk(index)
        if isinstance(node, ast.Compare) and any(map(_reads_a_heap_key, (node.left, *node.comparators)))
    ]
    assert inline == []


def test_the_engine_file_is_in_the_index_obligations_dependency_key(tmp_path: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("rules", "proofs", "specs/instruments", "engine/core"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=ignore)
    registry.discover()
    obligation = registry.REGISTRY["ORD-015/index-keys/sell-stop"]
    modules = tuple(module.removeprefix("perpspec.") for module in status.run_modules(obligation.run))
    files = {path.relative_to(tmp_path).as_posix() for path in status.dependency_files(tmp_path, modules)}
    assert ENGINE_FILE in files
    before = (status._KeyCache(tmp_path).of(obligation), status.source_fingerprint(tmp_path))
    engine = tmp_path / ENGINE_FILE
    engine.write_text(engine.read_text() + "\n")
    after = (status._KeyCache(tmp_path).of(obligation), status.source_fingerprint(tmp_path))
    assert [b == a for b, a in zip(before, after, strict=True)] == [False, False]


# -- review10_1: the band gate of a LastWithinMark trailing stop's pass (red team 10's fix) is the kernel
# is_bucket_moved, which the ORD-016/in-band and ORD-007/never-fires obligations prove, not an ``if`` in take_at

GATE_OBLIGATIONS = ("ORD-016/in-band/", "ORD-007/never-fires/")


def _lwm_stop_after_wick() -> int:
    """A LastWithinMark sell trailing stop at 4,900 (offset -100), mark 5,000: its stopPx after a pass with the last
    price at 5,400 (8% from the mark, out of the band)."""
    stop = Order(order_id=1, account=1, symbol="T", is_buy=False, price=0, order_qty=1, ord_type=o.PEGGED,
                 stop_px=4_900, peg_offset=-100, trigger_source=o.LAST_PRICE, last_within_mark=True)
    index = StopIndex({1: stop})
    index.sync()
    index.take_due(None, 5_000, 5_400, 5_000)  # type: ignore[arg-type]
    index.write_back()
    return stop.stop_px


def test_the_planted_gateless_pass_drags_the_stop_and_the_band_obligations_refute_it() -> None:
    """redteam10_2's bug, where it would now be written: a bucket moves whenever the price passed its level, whether
    or not the pass reads its group (pass_level outside take_at's band test, as before the fix)."""
    assert _lwm_stop_after_wick() == 4_900
    with planted("is_bucket_moved", "and_(read, ", "and_(True, "):
        assert _lwm_stop_after_wick() == 5_300  # the engine's pass_level runs the planted kernel: the wick drags it
        outcomes = {
            ob.id: registry.run_obligation(ob) for ob in registry.discover() if ob.id.startswith(GATE_OBLIGATIONS)
        }
    statuses = {name: None if out.result is None else out.result.status for name, out in outcomes.items()}
    refuted = sorted(name for name, result in statuses.items() if result is Status.REFUTED)
    assert refuted == sorted(name for name in statuses if name.endswith("-within-mark"))  # the band groups' buckets
    assert {result for name, result in statuses.items() if name not in refuted} == {Status.PROVED}


def _method(name: str) -> ast.FunctionDef:
    tree = ast.parse((ROOT / ENGINE_FILE).read_text())
    (index,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "StopIndex"]
    (method,) = [node for node in index.body if isinstance(node, ast.FunctionDef) and node.name == name]
    return method


def _is_call(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)) and (
        (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == name
    )


def test_take_at_gives_pass_level_the_read_gate_and_pass_level_pops_by_the_gate_kernel() -> None:
    """take_at computes ``read = is_index_read(...)`` once per group and hands it to every pass_level call, which is
    in no ``if`` (the gate is the proved kernel's, not control flow that a proof cannot see); pass_level pops a
    bucket only while ``is_bucket_moved(read, ...)`` holds, and compares no level itself."""
    take_at = _method("take_at")
    (loop,) = [node for node in take_at.body if isinstance(node, ast.For)]
    reads = [
        node for node in loop.body
        if isinstance(node, ast.Assign) and [ast.unparse(target) for target in node.targets] == ["read"]
    ]
    assert len(reads) == 1
    assert _is_call(reads[0].value, "is_index_read")
    passes = [node for node in ast.walk(take_at) if _is_call(node, "pass_level")]
    assert len(passes) == 2
    assert all(ast.unparse(call.args[-1]) == "read" for call in passes)  # type: ignore[attr-defined]
    top_level = [node.value for node in loop.body if isinstance(node, ast.Expr)]
    assert all(call in top_level for call in passes)  # not inside the ``if read:`` (nor any other block)
    pass_level = _method("pass_level")
    assert [arg.arg for arg in pass_level.args.args] == ["self", "group", "signed_price", "read"]
    (loop_test,) = [node.test for node in ast.walk(pass_level) if isinstance(node, ast.While)]
    gates = [node for node in ast.walk(loop_test) if _is_call(node, "is_bucket_moved")]
    assert len(gates) == 1
    assert ast.unparse(gates[0].args[0]) == "read"  # type: ignore[attr-defined]
    assert [node for node in ast.walk(loop_test) if isinstance(node, ast.Compare)] == []
