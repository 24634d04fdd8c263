"""Path exploration: proving ``@concrete`` rules that branch with ``if`` on values.

A ``@concrete`` rule (a check returning a rejection or ``None``, a clock
computation, a median) branches on values with ``if``, ``and``/``or``,
chained comparisons and builtin ``min``/``max``.  On symbolic integers those
call :meth:`proofs.sym.SymBool.__bool__`, which normally raises.  Inside
:func:`explore` it instead *decides*: the first run takes every new branch
one way, records the condition, and later runs replay a prefix and take the
other way — a depth-first enumeration of every feasible path (branches the
solver shows infeasible under the path so far are not forked).  Each path
gives its path condition, the rule's result on that path (records with
symbolic fields), and the division side conditions met on it.

:func:`paths_goal` then states "on every path, the goal holds and no
division by zero is possible; and the paths cover every input" as one Z3
formula that a :class:`proofs.prover.Prover` proves under its assumptions
(with its vacuity check), so the proof is of the rule's own code, unbounded
whenever the rule has no loop over symbolic data.  A path explosion beyond
``max_paths`` raises instead of returning a partial set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import attrs
import z3

from perpspec.proofs import sym
from perpspec.proofs.sym import SideConditions, SymBool, collecting

ResultT = TypeVar("ResultT")

_FEASIBILITY_TIMEOUT_MS = 2_000


@attrs.frozen(kw_only=True)
class Path(Generic[ResultT]):
    """One feasible path: its condition, the rule's result, and its division side conditions."""

    condition: z3.BoolRef
    result: ResultT
    side_conditions: tuple[z3.BoolRef, ...]


class PathExplosion(Exception):
    """More than ``max_paths`` paths: the rule is not explored (never a partial proof)."""


class _Explorer:
    def __init__(self, prefix: list[bool]) -> None:
        self.prefix = prefix
        self.taken: list[bool] = []
        self.conditions: list[z3.BoolRef] = []
        self.forks: list[list[bool]] = []

    def decide(self, term: z3.BoolRef) -> bool:
        depth = len(self.taken)
        if depth < len(self.prefix):
            choice = self.prefix[depth]
        else:
            so_far = z3.And(True, *self.conditions)
            can_true, can_false = _feasible(z3.And(so_far, term)), _feasible(z3.And(so_far, z3.Not(term)))
            if can_true and can_false:
                self.forks.append([*self.taken, False])
            choice = can_true
        self.taken.append(choice)
        self.conditions.append(term if choice else z3.Not(term))
        return choice


def _feasible(formula: z3.BoolRef) -> bool:
    solver = z3.Solver()
    solver.set("timeout", _FEASIBILITY_TIMEOUT_MS)
    solver.add(formula)
    return bool(solver.check() != z3.unsat)  # unknown: keep the branch (never drop a path)


@contextlib.contextmanager
def _deciding(explorer: _Explorer) -> Iterator[None]:
    previous = sym.BRANCH_DECIDER
    sym.BRANCH_DECIDER = explorer.decide
    try:
        yield
    finally:
        sym.BRANCH_DECIDER = previous


def explore(run: Callable[[], ResultT], max_paths: int = 64) -> list[Path[ResultT]]:
    """Every feasible path of ``run()`` (which calls a concrete rule on symbolic arguments)."""
    pending: list[list[bool]] = [[]]
    paths: list[Path[ResultT]] = []
    while pending:
        if len(paths) >= max_paths:
            raise PathExplosion(f"more than {max_paths} paths")
        explorer = _Explorer(pending.pop())
        with collecting(SideConditions()) as side, _deciding(explorer):
            result = run()
        pending.extend(explorer.forks)
        paths.append(
            Path(
                condition=z3.And(True, *explorer.conditions),
                result=result,
                side_conditions=tuple(side.conditions),
            )
        )
    return paths


def paths_goal(paths: list[Path[ResultT]], goal: Callable[[ResultT], object]) -> SymBool:
    """On every path the goal and its side conditions hold, and the paths cover every input."""
    per_path = [
        z3.Implies(path.condition, z3.And(sym.bool_term_of(goal(path.result)), *path.side_conditions))  # type: ignore[arg-type]
        for path in paths
    ]
    return SymBool(z3.And(*per_path, z3.Or(*[path.condition for path in paths])))
