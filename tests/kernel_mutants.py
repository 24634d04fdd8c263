"""A known-bad kernel must be REFUTED, and its counterexample must show the defect when run.

``not proved`` is not enough for a mutant: an ``unknown`` (the solver gave up) is not proved either, and it shows
nothing wrong (suite20: the swap-ite mutant of ``position_prices_cross`` ended ``unknown`` after a 140 s search and
passed as "not proved").  :func:`assert_refuted_by_evaluation` asks for a REFUTED result with a counterexample, and
runs the mutated kernel and the rules on plain ints at that counterexample: they must differ there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from perpspec.proofs.prover import ProofResult, Status
from perpspec.proofs.specialise.catalogue import KernelSpec
from perpspec.rules.instrument import Instrument


def kernel_of(source: str, name: str) -> Callable[..., tuple[int, ...]]:
    """The function ``name`` of an emitted kernel module's ``source``, compiled and run as Python on ints."""
    namespace: dict[str, Any] = {}
    exec(compile(source, f"kernel module ({name})", "exec"), namespace)
    function: Callable[..., tuple[int, ...]] = namespace[name]
    return function


def differs_at(spec: KernelSpec, inst: Instrument, source: str, values: Mapping[str, int]) -> bool:
    """Whether ``source``'s kernel and the rules (``spec.reference``) give different outputs at ``values``."""
    point = {name: values[name] for name in spec.params}
    got = kernel_of(source, spec.name)(**point)
    want = spec.reference(inst, *(point[name] for name in spec.params))
    return tuple(got) != tuple(want)


def assert_refuted_by_evaluation(spec: KernelSpec, inst: Instrument, source: str, result: ProofResult) -> None:
    """``result`` refutes the kernel of ``source``, at a point where the kernel, run, differs from the rules."""
    assert result.status is Status.REFUTED, (result.status, result.detail)
    assert result.counterexample is not None, result
    assert differs_at(spec, inst, source, result.counterexample.values), dict(result.counterexample.values)
