"""Stored witnesses: concrete values the prover checks by evaluation before it asks the solver.

A proof needs two answers the solver is slow to give but evaluation checks at once
(:mod:`proofs.prover`): that the assumptions are **satisfiable** (the vacuity check of
every proved obligation), and, for a known-bad variant, a **counterexample** (values
satisfying every assumption at which the goal, or a division side condition, is false).
Both are shown by one concrete assignment of the proof's symbols.  ``proofs/witnesses.json``
keeps, per obligation, the assignments its last recording run found (the models of its
satisfiable queries, as :meth:`Prover.witness` takes them), and :func:`proofs.registry.run_obligation`
offers them to every prover the obligation builds.

Nothing in the file is trusted.  A stored assignment is used only where every assumption
*evaluates* to true at it (z3's simplifier on numerals: exact integer arithmetic, a division
by zero left unevaluated and so never true); otherwise the solver runs as it would without
the file.  A stale file (a rule, an instrument or an obligation changed since it was
recorded) makes a run slower, never different: no assignment satisfies contradictory
assumptions, and a known-bad variant whose bug is gone is not false at its old
counterexample.  A lemma's prover is offered nothing (a lemma's result is kept per process
and must not depend on which obligation proved it first).

``python -m perpspec.proofs.witnesses [-j N]`` records the file afresh (every obligation run
once, in ``N`` processes).
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import json
import multiprocessing
import os
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# the file the provers read: in the dependency key of every obligation (proofs.rulebook_status.dependency_files)
DEPENDS_ON = ("proofs/witnesses.json",)

WITNESS_FILE = Path(__file__).resolve().parent / "witnesses.json"

Witness = Mapping[str, int]

_OFFERED: contextvars.ContextVar[tuple[Witness, ...]] = contextvars.ContextVar("stored_witnesses", default=())
# while recording: (the key witnesses are recorded under now, every key -> its witnesses)
_RECORDING: contextvars.ContextVar[tuple[str, dict[str, list[dict[str, int]]]] | None] = contextvars.ContextVar(
    "recorded_witnesses", default=None
)
_LOADED: dict[tuple[str, int, int], dict[str, tuple[Witness, ...]]] = {}


def load(path: Path = WITNESS_FILE) -> dict[str, tuple[Witness, ...]]:
    """Obligation id -> its stored assignments (empty when the file is absent or damaged); read once per version."""
    try:
        stat = path.stat()
    except OSError:
        return {}
    version = (str(path), stat.st_mtime_ns, stat.st_size)
    if version not in _LOADED:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            _LOADED[version] = {
                str(name): tuple({str(symbol): int(value) for symbol, value in item.items()} for item in items)
                for name, items in data["witnesses"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            _LOADED[version] = {}
    return _LOADED[version]


def offered() -> tuple[Witness, ...]:
    """The assignments a prover built now may try (see the module docstring)."""
    return _OFFERED.get()


@contextlib.contextmanager
def offering(
    witnesses: tuple[Witness, ...], recording: tuple[str, dict[str, list[dict[str, int]]]] | None = None
) -> Iterator[None]:
    """Within this block, provers are offered ``witnesses`` and (when given) record theirs under ``recording[0]``."""
    offered_token = _OFFERED.set(witnesses)
    recording_token = _RECORDING.set(recording)
    try:
        yield
    finally:
        _RECORDING.reset(recording_token)
        _OFFERED.reset(offered_token)


def for_key(key: str, path: Path = WITNESS_FILE) -> contextlib.AbstractContextManager[None]:
    """Offer the stored assignments of ``key``: an obligation's id (:func:`proofs.registry.run_obligation`), or
    ``lemma:`` and a lemma's name (its own proof, kept per process: offered its own witnesses only, whichever
    obligation proves it first).  While recording, nothing is offered (every witness comes from a solver's model)."""
    recording = _RECORDING.get()
    if recording is not None:
        return offering((), (key, recording[1]))
    return offering(load(path).get(key, ()))


def for_obligation(obligation_id: str, path: Path = WITNESS_FILE) -> contextlib.AbstractContextManager[None]:
    """:func:`for_key` of an obligation."""
    return for_key(obligation_id, path)


def for_lemma(name: str, path: Path = WITNESS_FILE) -> contextlib.AbstractContextManager[None]:
    """:func:`for_key` of a lemma."""
    return for_key(f"lemma:{name}", path)


def recording() -> bool:
    """Whether provers are recording their witnesses now."""
    return _RECORDING.get() is not None


def record(values: Mapping[str, int]) -> None:
    """Keep a checked satisfying assignment when recording (else nothing)."""
    recording = _RECORDING.get()
    if recording is not None and values:
        kept = recording[1].setdefault(recording[0], [])
        if dict(values) not in kept:
            kept.append(dict(values))


def _record_one(obligation_id: str) -> dict[str, list[dict[str, int]]]:
    from perpspec.proofs.registry import REGISTRY, run_obligation

    recorded: dict[str, list[dict[str, int]]] = {}
    with offering((), (obligation_id, recorded)):
        run_obligation(REGISTRY[obligation_id])
    return recorded


def _init() -> None:
    from perpspec.proofs.registry import discover

    discover()


def write(path: Path, witnesses: Mapping[str, list[dict[str, int]]]) -> None:
    """The file: one obligation a line, sorted (a recording's diff shows what changed)."""
    lines = [
        f"  {json.dumps(name)}: {json.dumps([dict(sorted(item.items())) for item in items])}"
        for name, items in sorted(witnesses.items())
        if items
    ]
    text = '{"witnesses": {\n' + ",\n".join(lines) + "\n}}\n"
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def main(argv: list[str] | None = None) -> int:
    """Record ``proofs/witnesses.json`` afresh."""
    from perpspec.proofs.registry import discover

    parser = argparse.ArgumentParser(prog="python -m perpspec.proofs.witnesses", description=__doc__)
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=WITNESS_FILE)
    args = parser.parse_args(argv)
    names = [obligation.id for obligation in discover()]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, args.jobs), mp_context=context, initializer=_init) as pool:
        recorded: dict[str, list[dict[str, int]]] = {}
        for part in pool.map(_record_one, names, chunksize=8):
            for key, items in part.items():  # a lemma proved in both workers: the first worker's witnesses
                recorded.setdefault(key, items)
    write(args.out, recorded)
    kept = sum(1 for name in names if recorded.get(name))
    lemmas = sum(1 for key in recorded if key.startswith("lemma:"))
    print(f"{kept} of {len(names)} obligations and {lemmas} lemmas have a witness: {args.out}")
    return 0


if __name__ == "__main__":
    # the package's module, not this __main__ copy: the workers' provers record through its context variables
    from perpspec.proofs import witnesses as _package_module

    raise SystemExit(_package_module.main())
