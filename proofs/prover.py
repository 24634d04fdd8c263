"""The Prover: assume, then prove one goal, with vacuity and unknown treated as failures.

An obligation reads::

    with Prover() as prover:
        before = prover.record("before", Position)       # symbolic fields before.qty, before.cost
        price = prover.symbol("price")
        prover.assume(price > 0, "price positive")
        after, realised = apply_fill(inst, before, fill_qty, price)
        return prover.prove(<goal on after, realised>, "ACC-003 conserves value")

:meth:`Prover.prove` decides, in order:

1. the assumptions are **satisfiable** — otherwise the proof would hold for
   nothing and the result is ``VACUOUS`` (a failure); a witness (given with
   :meth:`Prover.witness`, else one stored for the obligation, :mod:`proofs.witnesses`)
   at which every assumption evaluates to true shows it without the solver, and one
   at which the goal evaluates to false is a counterexample;
2. ``assumptions ∧ ¬(goal ∧ every division side condition)`` is unsatisfiable
   (decided as two queries, ``assumptions ∧ ¬goal`` and ``assumptions ∧ ¬(every
   side condition)``: the same statement, often far faster than the one query)
   → ``PROVED``; either satisfiable → ``REFUTED`` with the model decoded into
   concrete values for every named symbol, rendered as Python ready to paste
   into a regression test; ``unknown`` or a timeout → ``UNKNOWN`` (a failure).
   The budget is z3's deterministic resource limit (:data:`RLIMIT_PER_MS` units
   per millisecond of ``timeout_ms``), with a wall-clock backstop: the same query
   is decided, or not, whatever the machine's load.  It is spent in **restarts**
   (:func:`restart_budgets`): short attempts with growing budgets and a new
   random seed each, then one attempt with the whole budget (so a timeout costs
   less than twice the per-query budget).

Each query with a nonlinear term is first decided on its **linear
abstraction** (:func:`linear_abstraction`): every nonlinear
operator (a product of two symbolic factors, a division or remainder by a
symbolic divisor) replaced by an uninterpreted function of its arguments.
Every model of the real query gives a model of the abstraction (interpret each
function as the operator it replaces), so an ``unsat`` abstraction proves the
real query; anything else falls through to the real query.  Many goals hold
for any values of their nonlinear terms (the same products on both sides);
lemma instances (:meth:`Prover.use`) are what lets the others follow linearly
from the nonlinear facts they state.  Linear integer arithmetic with
uninterpreted functions is decided in milliseconds where the nonlinear search
could take minutes or give up.

The division side conditions are the ``divisor != 0`` facts recorded by
:mod:`proofs.sym` for every symbolic ``//`` and ``%`` evaluated while the
prover was active (``with prover:``), including those in ``ite`` arms that
are not taken — exactly where Python would raise ``ZeroDivisionError``.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import time
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import attrs
import z3

from perpspec.proofs import witnesses
from perpspec.proofs.abstraction import LinearAbstraction, has_nonlinear
from perpspec.proofs.abstraction import is_nonlinear as is_nonlinear  # re-exported (tests, callers)
from perpspec.proofs.abstraction import linear_abstraction as linear_abstraction
from perpspec.proofs.sym import BoolLike, IntLike, SideConditions, SymInt, bool_term_of, collecting, term_of

DEFAULT_TIMEOUT_MS = 20_000
# A query's budget ``timeout_ms`` is spent as z3's deterministic resource count, RLIMIT_PER_MS units per
# millisecond: whether a query is decided then depends on the query alone, not on how loaded the machine
# is.  Calibrated on this project's queries (a cold run of all 758 obligations, z3's "rlimit count" per
# query against its CPU time): over the 62 queries that took 0.2 s or more, z3 spent 930 to 4,550 units per
# CPU-millisecond (10th to 90th percentile; median 2,550, extremes 230 and 8,200), so the budget is about
# the CPU time the number says, within a factor of three either way.  The wall-clock timeout,
# WALL_BACKSTOP times the number, only stops a query on a machine far slower or busier than that.
RLIMIT_PER_MS = 2_500
WALL_BACKSTOP = 5
# The linear abstraction is tried first; it decides in milliseconds or not at all.  Its budget is z3's
# deterministic resource count (the same on a loaded machine), a fixed share of the query's own:
# 1/ABSTRACTION_SHARE of ``timeout_ms × RLIMIT_PER_MS``, so 1 M units at the default 20 s and 3 M for an
# obligation that declares 60 s.  Measured on a cold run of all 804 obligations with a 30 M cap (999
# abstractions tried, none ran out): 412 decided, all but two within 0.7 M units; the two isolated
# LIQ-044 fills on ETHUSD and XBTUSDT needed 1.03 M and 1.05 M (0.06 s) and, cut at a flat 1 M, fell through
# to the nonlinear search (9 s to 68 s CPU, varying with term numbering).  Of the 587 that could not
# decide, all but one stopped within 0.75 M units; KRN/order_requirement_isolated/XBTUSDT (default timeout,
# so still cut at 1 M) runs to 3.05 M (5.3 s) before answering sat.  The wall-clock backstop, a quarter of
# the query's timeout, only stops an abstraction on a machine far slower or busier than that.  (Those figures
# are of z3's default solver; since session 19 the abstraction is decided by its SMT kernel alone, see
# Prover._abstraction_refutes: in a cold run of all 1,067 obligations, 317 had a query decided on it, none
# was left unknown.)
ABSTRACTION_SHARE = 50
ABSTRACTION_BACKSTOP_SHARE = 4
# A query is tried with growing budgets, each attempt in a fresh z3 context with its own random seed: the
# first gets RESTART_FIRST_RLIMIT units, each next one twice the last, while their sum stays within the
# query's budget; then one last attempt gets the whole budget.  Z3's time on one query is heavy-tailed in
# its seed (and in the process's history, which acts as one: ACC-003/realised-rounding/XBTUSD took 0.4 s
# to 6.0 s over 8 seeds, 7.4 s once in a full run; KNOWN-BAD/MRG-046/position-ignored/XBTUSDT 0.3 s to
# 1.4 s, 16.8 s once in a full run): an attempt that runs long is stopped and another seed tried.  The first
# budget is well above what the slowest steady queries need (ADL-020/conservation/XBTUSD/k=8: 14 M units on
# every seed tried; a cold run's real queries: 2,288 of 2,313 within 2 M, none above 14 M), so a query is
# restarted only when it runs far beyond its usual time.
RESTART_FIRST_RLIMIT = 20_000_000


def restart_budgets(total: int, first: int | None = None) -> list[int]:
    """The rlimit of each attempt at a query whose budget is ``total``: first, 2·first, 4·first, ... while
    their sum is at most ``total``, then ``total`` (20 M then 50 M for the default 50 M budget; 20 M, 40 M,
    80 M, then 150 M for 150 M).  ``first``: :data:`RESTART_FIRST_RLIMIT` unless given."""
    budgets: list[int] = []
    budget = RESTART_FIRST_RLIMIT if first is None else first
    while sum(budgets) + budget <= total and budget < total:
        budgets.append(budget)
        budget *= 2
    return [*budgets, total]

_TIMEOUT_MS: contextvars.ContextVar[int | None] = contextvars.ContextVar("proof_timeout_ms", default=None)

RecordT = TypeVar("RecordT")


@contextlib.contextmanager
def timeout_override(timeout_ms: int | None) -> Iterator[None]:
    """Within this block, every Prover built without an explicit timeout uses ``timeout_ms``."""
    token = _TIMEOUT_MS.set(timeout_ms)
    try:
        yield
    finally:
        _TIMEOUT_MS.reset(token)


def current_timeout_ms(default: int = DEFAULT_TIMEOUT_MS) -> int:
    """The timeout a new Prover gets: the active override, else ``default``."""
    override = _TIMEOUT_MS.get()
    return default if override is None else override


class Status(enum.Enum):
    """Outcome of one proof attempt."""

    PROVED = "proved"  # no assignment satisfies the assumptions and violates the goal
    REFUTED = "refuted"  # a counterexample exists (decoded in the result)
    UNKNOWN = "unknown"  # the solver gave up or timed out: a failure
    VACUOUS = "vacuous"  # the assumptions are unsatisfiable: a failure


@attrs.frozen(kw_only=True)
class Counterexample:
    """Concrete values of every named symbol, and the same rendered as Python."""

    values: Mapping[str, int]
    text: str

    def get(self, name: str) -> int:
        """The value of symbol ``name``."""
        return self.values[name]

    def build(self, cls: type[RecordT], prefix: str, **fixed: Any) -> RecordT:
        """Rebuild a record declared with :meth:`Prover.record` from the values."""
        fields = {
            name: self.values[f"{prefix}.{name}"]
            for name in _int_fields(cls)
            if name not in fixed and f"{prefix}.{name}" in self.values
        }
        return cls(**fields, **fixed)


@attrs.frozen(kw_only=True)
class ProofResult:
    """The result of proving one goal."""

    label: str
    status: Status
    time_us: int  # wall time of the solver calls, microseconds
    counterexample: Counterexample | None = None
    detail: str = ""

    @property
    def proved(self) -> bool:
        """True when the goal was proved (with satisfiable assumptions)."""
        return self.status is Status.PROVED

    @property
    def time_ms_text(self) -> str:
        """Elapsed time as milliseconds with one decimal, e.g. ``'12.3'``."""
        return f"{self.time_us // 1000}.{self.time_us % 1000 // 100}"


def _int_fields(cls: type[Any]) -> list[str]:
    hints = typing.get_type_hints(cls)
    return [field.name for field in attrs.fields(cls) if hints.get(field.name) is int]


@attrs.frozen(kw_only=True, eq=False)
class Lemma:
    """A universally quantified fact ``∀ params: premise ⇒ conclusion``, proved once on its own.

    A prover may then *use* it on any terms (:meth:`Prover.use`): the instance
    ``premise(terms) ⇒ conclusion(terms)`` becomes an assumption.  This is how a
    hard nonlinear goal is split into small queries: the lemma is proved with
    fresh symbols, and a proof that uses it is PROVED only if the lemma is.
    ``premise`` and ``conclusion`` take the parameters as ``int`` (symbolic); their
    divisions need only be safe under the premise (the lemma's proof checks that).
    """

    name: str
    params: tuple[str, ...]
    premise: Callable[..., bool]
    conclusion: Callable[..., bool]
    # optional: called as hints(prover, *arguments) to use other lemmas in this lemma's proof
    hints: Callable[..., None] | None = None

    def prove(self, timeout_ms: int | None = None) -> ProofResult:
        """Prove the lemma for fresh symbols (satisfiable premise required); cached per process."""
        key = (self, current_timeout_ms() if timeout_ms is None else timeout_ms)
        if key not in _LEMMA_RESULTS:
            _LEMMA_RESULTS[key] = self._prove(key[1])
        return _LEMMA_RESULTS[key]

    def _prove(self, timeout_ms: int) -> ProofResult:
        with witnesses.for_lemma(self.name), Prover(timeout_ms) as prover:  # its own witnesses, not the obligation's
            arguments = [prover.symbol(name) for name in self.params]
            prover.assume(self.premise(*arguments), f"{self.name} premise")
            if self.hints is not None:
                self.hints(prover, *arguments)
            return prover.prove(self.conclusion(*arguments), f"lemma {self.name}")


# A lemma is a fact: once proved (per lemma object and timeout) it need not be proved again.
_LEMMA_RESULTS: dict[tuple[Lemma, int], ProofResult] = {}


class Prover:
    """Collects assumptions and division side conditions; proves goals one at a time."""

    def __init__(self, timeout_ms: int | None = None) -> None:
        self.timeout_ms = current_timeout_ms() if timeout_ms is None else timeout_ms
        self.side_conditions = SideConditions()
        self.assumptions: list[tuple[str, z3.BoolRef]] = []
        self.symbols: dict[str, SymInt] = {}
        self.records: dict[str, str] = {}  # prefix -> class name, for rendering
        self.lemmas: dict[str, Lemma] = {}  # lemmas used as assumptions: proved before any goal
        self._lemma_results: dict[str, ProofResult] = {}
        self._witness: dict[str, int] = {}
        self._offered = witnesses.offered()  # stored witnesses of the running obligation (proofs/witnesses.py)
        self._vacuity: tuple[int, z3.CheckSatResult] | None = None  # (assumptions checked, result)
        self._instances: list[tuple[z3.BoolRef, z3.BoolRef]] = []  # (premise, conclusion) of lemmas used
        self._nonlinear: dict[int, tuple[z3.ExprRef, bool]] = {}  # has_nonlinear's memo (assumptions recur)
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Prover:
        self._stack.enter_context(collecting(self.side_conditions))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()

    # -- symbols --------------------------------------------------------------
    def symbol(self, name: str) -> int:
        """A named symbolic integer (reported in counterexamples).

        Typed ``int`` so that it passes into rule kernels under ``mypy --strict``
        (the kernels are duck-typed over ``int`` and :class:`SymInt`).
        """
        assert name not in self.symbols, f"symbol {name!r} declared twice"
        symbol = SymInt(z3.Int(name))
        self.symbols[name] = symbol
        return typing.cast(int, symbol)

    def record(self, cls: type[RecordT], prefix: str, **fixed: Any) -> RecordT:
        """An attrs record whose ``int`` fields are symbols ``prefix.field`` (``fixed`` ones concrete)."""
        fields: dict[str, Any] = dict(fixed)
        for name in _int_fields(cls):
            if name not in fixed:
                fields[name] = self.symbol(f"{prefix}.{name}")
        self.records[prefix] = cls.__name__
        return cls(**fields)

    # -- assumptions and goals --------------------------------------------------
    def assume(self, condition: BoolLike, label: str) -> None:
        """Add an assumption (a precondition or pre-invariant)."""
        self.assumptions.append((label, bool_term_of(condition)))

    def use(self, lemma: Lemma, *terms: int) -> None:
        """Assume the instance of ``lemma`` at ``terms`` (the lemma itself is proved before any goal)."""
        assert len(terms) == len(lemma.params), lemma.name
        self.lemmas.setdefault(lemma.name, lemma)
        # The lemma's own proof covers its divisions under its premise, so the instance's
        # side conditions are not goals here: collect them aside.
        with collecting(SideConditions()):
            premise, conclusion = bool_term_of(lemma.premise(*terms)), bool_term_of(lemma.conclusion(*terms))
        self.assumptions.append((f"lemma {lemma.name}", z3.Implies(premise, conclusion)))
        self._instances.append((premise, conclusion))

    def _follows_from_lemmas(self, goal: z3.BoolRef) -> bool:
        """Whether ``goal`` follows from the assumptions and lemma instances *propositionally*.

        Every assumption, lemma premise and conclusion, and the goal, is split into its
        conjuncts and each conjunct replaced by a Boolean atom named after its z3 term
        (identical terms share one atom).  If the abstraction entails the goal, so does
        the real formula (the abstraction only forgets facts).  This settles chains such
        as "the record satisfies lemma A's premise, A's conclusion is B's premise, the
        goal is B's conclusion", which the arithmetic solver may not see through when
        the terms are large.
        """
        if not self._instances:
            return False

        def atoms(formula: z3.BoolRef) -> z3.BoolRef:
            if z3.is_and(formula):
                return z3.And(*[atoms(child) for child in formula.children()])
            if z3.is_eq(formula) and formula.arg(0).eq(formula.arg(1)):
                return z3.BoolVal(True)  # t == t
            return z3.Bool(f"atom!{formula.get_id()}")

        abstract = z3.Solver()
        abstract.set("timeout", self.timeout_ms)
        instance_terms = {z3.Implies(premise, conclusion).get_id() for premise, conclusion in self._instances}
        for _, condition in self.assumptions:
            if condition.get_id() not in instance_terms:
                abstract.add(atoms(condition))
        for premise, conclusion in self._instances:
            abstract.add(z3.Implies(atoms(premise), atoms(conclusion)))
        abstract.add(z3.Not(atoms(goal)))
        return bool(abstract.check() == z3.unsat)

    def _prove_lemmas(self) -> ProofResult | None:
        """The first lemma in use that is not proved (None when all are)."""
        for name, lemma in self.lemmas.items():
            if name not in self._lemma_results:
                self._lemma_results[name] = lemma.prove(self.timeout_ms)  # its own prover and side conditions
            result = self._lemma_results[name]
            if result.status is not Status.PROVED:
                return result
        return None

    def _check(
        self, negated_goal: z3.BoolRef | None = None, abstract_first: bool = False
    ) -> tuple[z3.CheckSatResult, z3.Solver | None]:
        """Check the assumptions (and ``negated_goal``): each attempt (:func:`restart_budgets`) in
        a fresh z3 context (the terms translated into it, numbered afresh) with its own seed.

        Z3's search depends on how terms are numbered, on its random seed, and (through the
        order of internal tables) on the process's history.  In the main context the numbering
        depends on everything built before in the process, so the same query could take 0.2 s
        alone and time out late in a run; a fresh context removes that, not the rest: a query
        that takes 0.4 s on most seeds takes 6 s on some, and in a run of all obligations it
        may meet such a case.  The short attempts with new seeds stop those long runs early.
        Any attempt's ``unsat`` is a proof; ``sat`` comes with its model.

        ``abstract_first``: before the real query, its linear abstraction (when it has a
        nonlinear term); ``unsat`` there is returned as ``unsat`` with no solver.
        """
        outcome, solver = z3.unknown, z3.Solver()
        conditions = [condition for _, condition in self.assumptions]
        if negated_goal is not None:
            conditions.append(negated_goal)
        # in a context of its own: the abstraction's terms would renumber the real query's.  A query with
        # no nonlinear term is its own abstraction: it is not tried twice (and no context is made for it)
        if (
            abstract_first
            and has_nonlinear(conditions, self._nonlinear)
            and self._abstraction_refutes(conditions, z3.Context())
        ):
            return z3.unsat, None
        for seed, budget in enumerate(restart_budgets(self.timeout_ms * RLIMIT_PER_MS)):
            context = z3.Context()
            solver = z3.Solver(ctx=context)
            solver.set("rlimit", budget)
            solver.set("random_seed", seed)
            solver.set("timeout", budget // RLIMIT_PER_MS * WALL_BACKSTOP)
            solver.add(*[_into(condition, context) for condition in conditions])
            outcome = solver.check()
            if outcome != z3.unknown:
                break
        return outcome, solver

    def _abstraction_refutes(self, terms: list[z3.BoolRef], context: z3.Context) -> bool:
        """Whether the linear abstraction of the conjunction of ``terms`` is unsatisfiable (then so are they)."""
        abstraction = LinearAbstraction(context)
        abstract = [abstraction.of(_into(term, context)) for term in terms]
        if not abstraction.replaced:
            return False  # linear already: the abstraction is the query itself
        # z3's SMT kernel alone (SimpleSolver), not the default solver's tactic chosen for the formula's
        # logic: on an abstraction (linear arithmetic and uninterpreted functions) that tactic's
        # preprocessing can hide what the kernel sees at once (LIQ-054's isolated fills: their goal restates
        # LIQ-054's free wallet from the postings; the kernel refutes the abstraction in 5 k units, the
        # default solver needed 3.8 M, above this budget, and the real query then ran out of time)
        solver = z3.SimpleSolver(ctx=context)
        solver.set("timeout", self.timeout_ms // ABSTRACTION_BACKSTOP_SHARE)
        solver.set("rlimit", self.timeout_ms * RLIMIT_PER_MS // ABSTRACTION_SHARE)
        solver.add(*abstract)
        return bool(solver.check() == z3.unsat)

    def witness(self, **values: int) -> None:
        """A concrete assignment of the named symbols believed to satisfy every assumption.

        The vacuity check then evaluates the assumptions at it (cheap, and a
        satisfying example is proof of satisfiability); only if some assumption
        does not evaluate to true does it fall back to the solver.  A witness at
        which the goal evaluates to false is a counterexample: the goal is then
        REFUTED with it, without a search (known-bad variants).
        """
        self._witness = dict(values)
        self._vacuity = None

    def _candidates(self) -> tuple[Mapping[str, int], ...]:
        """The witness given with :meth:`witness` (if any), then the stored ones offered (:mod:`proofs.witnesses`)."""
        return ((self._witness,) if self._witness else ()) + tuple(self._offered)

    def _bindings(self, values: Mapping[str, int]) -> list[tuple[z3.ArithRef, z3.IntNumRef]]:
        """``values`` of the declared symbols (a name the proof did not declare is ignored)."""
        return [(self.symbols[name].term, z3.IntVal(value)) for name, value in values.items() if name in self.symbols]

    def _satisfies(self, values: Mapping[str, int]) -> bool:
        """Whether every assumption evaluates to true at ``values`` (exact: numerals only, by z3's simplifier)."""
        bindings = self._bindings(values)
        return all(
            z3.is_true(z3.simplify(z3.substitute(condition, *bindings))) for _, condition in self.assumptions
        )

    def _satisfying_witness(self) -> Mapping[str, int] | None:
        """The first candidate witness at which every assumption holds (None: the solver must decide)."""
        return next((values for values in self._candidates() if self._satisfies(values)), None)

    def _witness_satisfies(self) -> bool:
        return self._satisfying_witness() is not None

    def _record_witness(self, model: z3.ModelRef) -> None:
        """While recording (:mod:`proofs.witnesses`): keep ``model``'s values of the symbols if they check."""
        values = {name: _evaluate(model, symbol.term) for name, symbol in self.symbols.items()}
        if self._satisfies(values):
            witnesses.record(values)

    def check_assumptions(self) -> z3.CheckSatResult:
        """Satisfiability of the assumptions alone (sat is required for a meaningful proof).

        Decided once per set of assumptions (they only grow): several goals proved under the
        same ones share the check.  A witness (given, or stored) at which every assumption
        evaluates to true decides it without the solver.
        """
        count = len(self.assumptions)
        if self._vacuity is None or self._vacuity[0] != count:
            if self._witness_satisfies():
                outcome = z3.sat
            else:
                outcome, solver = self._check()
                if outcome == z3.sat and solver is not None and witnesses.recording():
                    self._record_witness(solver.model())
            self._vacuity = (count, outcome)
        return self._vacuity[1]

    def prove(self, goal: BoolLike, label: str) -> ProofResult:
        """Prove ``goal`` (and every division side condition) under the assumptions.

        A counterexample (a model of the assumptions violating the goal, or the witness given with
        :meth:`witness` doing so) is a refutation and shows by itself that the assumptions are
        satisfiable; otherwise the assumptions' satisfiability is checked after the goal's queries.
        """
        started = time.perf_counter_ns()
        failed_lemma = self._prove_lemmas()
        if failed_lemma is not None:
            detail = f"{failed_lemma.label} is {failed_lemma.status.value}: {failed_lemma.detail}"
            return attrs.evolve(failed_lemma, label=label, detail=detail)
        goal_term = bool_term_of(goal)
        sides = self._distinct_side_conditions()
        refuted_at_witness, at = self._witness_refutation(goal_term, sides)
        if refuted_at_witness:
            values = {name: value for name, value in at.items() if name in self.symbols}
            counterexample = Counterexample(values=values, text=self.render(values))
            return self._result(label, Status.REFUTED, started, refuted_at_witness, counterexample)
        if self._follows_from_lemmas(goal_term):
            # the goal is proved by chaining lemmas; the division side conditions still need the solver
            side_outcome, _ = self._check(z3.Not(z3.And(True, *sides)))
            if side_outcome == z3.unsat:
                return self._proved_if_satisfiable(label, started, "by lemmas")
        # assumptions ⇒ goal ∧ sides is proved as its two conjuncts, each its own query (the same
        # statement: an implication of a conjunction holds exactly when each conjunct's does).  The
        # solver often decides each part fast and the conjunction slowly, or not at all.
        unknown: tuple[z3.CheckSatResult, z3.Solver] | None = None
        on_abstraction = 0
        for is_goal in (True, False):
            if not is_goal and not sides:
                continue
            negated = z3.Not(goal_term) if is_goal else z3.Not(z3.And(*sides))
            outcome, solver = self._check(negated, abstract_first=True)
            if solver is None:
                on_abstraction += 1  # proved on the linear abstraction (see the module docstring)
                continue
            if outcome == z3.sat:
                model = solver.model()
                if witnesses.recording():
                    self._record_witness(model)
                detail = "goal violated" if is_goal else self._refutation_detail(model, goal_term)
                return self._result(label, Status.REFUTED, started, detail, self.decode(model))
            if outcome != z3.unsat and unknown is None:
                unknown = (outcome, solver)
        queries = 2 if sides else 1
        detail = "" if not on_abstraction else f"{on_abstraction} of {queries} queries on the linear abstraction"
        return self._proved_if_satisfiable(label, started, detail, unknown)

    def _proved_if_satisfiable(
        self,
        label: str,
        started: int,
        detail: str,
        unknown: tuple[z3.CheckSatResult, z3.Solver] | None = None,
    ) -> ProofResult:
        """After the goal's queries found no counterexample: VACUOUS, UNKNOWN or PROVED, in that order."""
        vacuity = self.check_assumptions()
        if vacuity == z3.unsat:
            return self._result(label, Status.VACUOUS, started, "the assumptions are unsatisfiable")
        if vacuity != z3.sat:
            return self._result(label, Status.UNKNOWN, started, f"assumption check: {self._reason(vacuity)}")
        if unknown is not None:
            return self._result(label, Status.UNKNOWN, started, self._reason(*unknown))
        return self._result(label, Status.PROVED, started, detail)

    def _witness_refutation(self, goal_term: z3.BoolRef, sides: list[z3.BoolRef]) -> tuple[str, Mapping[str, int]]:
        """Why a witness (:meth:`witness`, else a stored one) refutes the goal, and the witness ("" when none does).

        The witness must satisfy every assumption; the goal, or a division side condition, must
        then evaluate to false at it.  A concrete counterexample checked by evaluation: no search.
        """
        for values in self._candidates():
            if not self._satisfies(values):
                continue
            if self._evaluates_false(goal_term, values):
                return "goal violated (at the given witness)", values
            if any(self._evaluates_false(side, values) for side in sides):
                return "division by zero (at the given witness)", values
        return "", {}

    def _evaluates_false(self, condition: z3.BoolRef, values: Mapping[str, int]) -> bool:
        return bool(z3.is_false(z3.simplify(z3.substitute(condition, *self._bindings(values)))))

    def _distinct_side_conditions(self) -> list[z3.BoolRef]:
        """The division side conditions, each term once (the same divisor is often met many times)."""
        seen: set[int] = set()
        distinct = []
        for condition in self.side_conditions.conditions:
            if condition.get_id() not in seen:
                seen.add(condition.get_id())
                distinct.append(condition)
        return distinct

    def prove_all(self, goals: Sequence[tuple[BoolLike, str]], label: str) -> ProofResult:
        """Prove several goals (lemmas of one statement) in order; the first failure is the result.

        At least one goal: with none there would be no query, so no satisfiability check of the assumptions, and
        PROVED would claim nothing (under contradictory assumptions too).  An empty list is refused (ValueError,
        which :func:`proofs.registry.run_obligation` reports as a failure); ``prove(True, label)`` is the way to
        ask only whether the assumptions are satisfiable.
        """
        if not goals:
            raise ValueError(f"{label}: prove_all needs at least one goal (nothing to prove proves nothing)")
        total_us = 0
        for goal, goal_label in goals:
            result = self.prove(goal, f"{label}: {goal_label}")
            total_us += result.time_us
            if result.status is not Status.PROVED:
                return attrs.evolve(result, time_us=total_us, detail=f"{goal_label}: {result.detail}")
        return ProofResult(label=label, status=Status.PROVED, time_us=total_us)

    def _result(
        self,
        label: str,
        status: Status,
        started: int,
        detail: str,
        counterexample: Counterexample | None = None,
    ) -> ProofResult:
        elapsed_us = (time.perf_counter_ns() - started) // 1000
        return ProofResult(
            label=label, status=status, time_us=elapsed_us, counterexample=counterexample, detail=detail
        )

    @staticmethod
    def _reason(outcome: z3.CheckSatResult, solver: z3.Solver | None = None) -> str:
        reason = str(outcome)
        if solver is not None:
            reason = f"{reason} ({solver.reason_unknown()})"
        return reason

    def _refutation_detail(self, model: z3.ModelRef, goal_term: z3.BoolRef) -> str:
        zero_divisors = [
            _describe(divisor) for divisor in self.side_conditions.divisors if _evaluate(model, divisor) == 0
        ]
        if zero_divisors:
            return "division by zero: " + "; ".join(sorted(set(zero_divisors)))
        if z3.is_false(model.eval(_into(goal_term, model.ctx), model_completion=True)):
            return "goal violated"
        return "a division side condition is violated"

    # -- counterexamples ------------------------------------------------------
    def decode(self, model: z3.ModelRef) -> Counterexample:
        """Concrete values of every named symbol in ``model``, rendered as Python."""
        values: dict[str, int] = {}
        for name, symbol in self.symbols.items():
            values[name] = _evaluate(model, symbol.term)
        for declaration in model.decls():
            name = declaration.name()
            if declaration.arity() == 0 and name not in values and declaration.range() == z3.IntSort():
                value = model[declaration]
                if z3.is_int_value(value):
                    values[name] = value.as_long()
        return Counterexample(values=values, text=self.render(values))

    def render(self, values: Mapping[str, int]) -> str:
        """``prefix = Record(field=value, ...)`` for records, ``name = value`` for the rest."""
        lines: list[str] = []
        grouped: dict[str, list[tuple[str, int]]] = {}
        for name in sorted(values):
            prefix, dot, field = name.partition(".")
            if dot and prefix in self.records:
                grouped.setdefault(prefix, []).append((field, values[name]))
        for prefix, fields in grouped.items():
            arguments = ", ".join(f"{field}={value}" for field, value in fields)
            lines.append(f"{prefix} = {self.records[prefix]}({arguments})")
        for name in sorted(values):
            prefix, dot, _ = name.partition(".")
            if not (dot and prefix in self.records):
                lines.append(f"{_identifier(name)} = {values[name]}")
        return "\n".join(lines)

    def evaluate(self, model: z3.ModelRef, value: IntLike) -> int:
        """The value of an expression in a model (for diagnostics)."""
        return _evaluate(model, term_of(value))


def _evaluate(model: z3.ModelRef, term: z3.ArithRef) -> int:
    """The value of ``term`` (built in the main context) in ``model`` (built in a query's own context)."""
    return int(model.eval(_into(term, model.ctx), model_completion=True).as_long())


ExprT = TypeVar("ExprT", bound=z3.ExprRef)


def _into(term: ExprT, context: z3.Context) -> ExprT:
    """``term`` in ``context`` (translated when it was built in another one)."""
    return term if term.ctx == context else typing.cast(ExprT, term.translate(context))


def _describe(term: z3.ExprRef, limit: int = 40) -> str:
    """``term`` as text when it is small; else the symbols it depends on (z3 prints a large term in full, slowly)."""
    seen: dict[int, z3.ExprRef] = {}
    stack = [term]
    while stack and len(seen) <= limit:
        current = stack.pop()
        if current.get_id() not in seen:
            seen[current.get_id()] = current
            stack.extend(current.children())
    if len(seen) <= limit:
        return str(term)
    symbols: set[str] = set()
    visited: set[int] = set()
    stack = [term]
    while stack:
        current = stack.pop()
        if current.get_id() in visited:
            continue
        visited.add(current.get_id())
        if z3.is_const(current) and not z3.is_int_value(current) and current.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            symbols.add(current.decl().name())
        stack.extend(current.children())
    return f"a term of {len(visited)} nodes in {', '.join(sorted(symbols))}"


def _identifier(name: str) -> str:
    cleaned = "".join(character if character.isalnum() else "_" for character in name)
    return cleaned if not cleaned[:1].isdigit() else f"_{cleaned}"
