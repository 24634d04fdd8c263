"""Run proof obligations on several processes, reusing results keyed by what each one depends on.

``perpspec prove -j N`` hands the selected obligations to ``N`` worker
processes (default: every core) and reports each outcome as it arrives.

A result is reused from the cache directory when its **key** is unchanged: the
SHA-256 of the obligation's id, the solver timeout, the Python version and
:func:`proofs.rulebook.obligation_key` of the module that defines it (its
import closure in ``rules/`` and ``proofs/``, the prover, every instrument
file, the files its modules list in a ``DEPENDS_ON`` tuple of globs
(:mod:`proofs.obligations_specialised` reads the emitted kernels, :mod:`proofs.witnesses` the stored witnesses), the Z3
version: :func:`proofs.rulebook_status.dependency_files`, the same list the
rulebook's stored run is keyed by).  Only PROVED and REFUTED results are stored — an UNKNOWN
(a timeout depends on the machine), a VACUOUS result or a crash always runs
again.  A cached row is the same result, marked ``cached``; it is never an
``unknown`` counted as proved.

The workers take the **longest obligations first** (so that on ``N`` processes
a long one does not start last and run alone): by the CPU time each took in the
last run (``timings.tsv`` in the cache directory; without a cache, ``--no-cache``,
the default cache directory's timings are still read for the order, and nothing
is written), else by the declared solver timeout (the slow ones declare a
longer one), else in registry order.  The order changes only when results
arrive, never what they are.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

import attrs

from perpspec.proofs.prover import Counterexample, ProofResult, Status
from perpspec.proofs.registry import REGISTRY, Obligation, Outcome, discover, run_obligation
from perpspec.rules.parse import loads_json

ROOT = Path(__file__).resolve().parent.parent
_CACHED_STATUSES = (Status.PROVED, Status.REFUTED)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/perpspec/prove`` (``~/.cache/perpspec/prove``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "perpspec" / "prove"


class Keys:
    """Cache keys of obligations, computed once per defining module."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        self.by_module: dict[str, str] = {}

    def module_key(self, module: str) -> str:
        """What every obligation defined in ``module`` depends on."""
        if module not in self.by_module:
            from perpspec.proofs.rulebook import obligation_key

            digest = hashlib.sha256(obligation_key(self.root, module.removeprefix("perpspec.")).encode())
            digest.update(sys.version.encode())
            self.by_module[module] = digest.hexdigest()
        return self.by_module[module]

    def of(self, obligation: Obligation, timeout_ms: int | None) -> str:
        """The cache key of one obligation at one timeout; "" (never cached) when not from ``proofs/``."""
        module = defining_module(obligation)
        if not module.startswith("perpspec.proofs."):
            return ""
        effective = timeout_ms if timeout_ms is not None else obligation.timeout_ms
        text = f"{obligation.id}\0{effective}\0{self.module_key(str(module))}"
        return hashlib.sha256(text.encode()).hexdigest()


def defining_module(obligation: Obligation) -> str:
    """The module that defines an obligation's run (a ``functools.partial`` names "functools": use its function's)."""
    run = obligation.run
    return str(getattr(getattr(run, "func", run), "__module__", ""))


def load_cached(cache_dir: Path, key: str) -> ProofResult | None:
    """The stored result under ``key``, or None."""
    path = cache_dir / f"{key}.json"
    try:
        data = loads_json(path.read_text(encoding="utf-8"))  # a damaged cache entry is recomputed
        counterexample = data.get("counterexample")
        return ProofResult(
            label=str(data["label"]),
            status=Status(data["status"]),
            time_us=int(data["time_us"]),
            detail=str(data["detail"]),
            counterexample=None
            if counterexample is None
            else Counterexample(
                values={str(name): int(value) for name, value in counterexample["values"].items()},
                text=str(counterexample["text"]),
            ),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(cache_dir: Path, key: str, result: ProofResult) -> None:
    """Keep a PROVED or REFUTED result under ``key`` (anything else is not kept)."""
    if result.status not in _CACHED_STATUSES:
        return
    counterexample = result.counterexample
    data = {
        "label": result.label,
        "status": result.status.value,
        "time_us": result.time_us,
        "detail": result.detail,
        "counterexample": None
        if counterexample is None
        else {"values": dict(counterexample.values), "text": counterexample.text},
    }
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = cache_dir / f"{key}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
    temporary.replace(cache_dir / f"{key}.json")


TIMINGS_FILE = "timings.tsv"  # "<cpu microseconds>\t<obligation id>" per line; not a result


def load_timings(cache_dir: Path | None) -> dict[str, int]:
    """CPU microseconds each obligation took when it last ran (empty without a cache directory)."""
    if cache_dir is None:
        return {}
    timings: dict[str, int] = {}
    try:
        for line in (cache_dir / TIMINGS_FILE).read_text(encoding="utf-8").splitlines():
            cpu_us, _, name = line.partition("\t")
            timings[name] = int(cpu_us)
    except (OSError, ValueError):
        return {}
    return timings


def store_timings(cache_dir: Path, timings: dict[str, int]) -> None:
    """Keep the timings (merged with those already stored) for the next run's order."""
    merged = {**load_timings(cache_dir), **timings}
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = cache_dir / f"{TIMINGS_FILE}.{os.getpid()}.tmp"
    temporary.write_text("".join(f"{cpu_us}\t{name}\n" for name, cpu_us in sorted(merged.items())), encoding="utf-8")
    temporary.replace(cache_dir / TIMINGS_FILE)


def longest_first(obligations: Sequence[Obligation], timings: dict[str, int]) -> list[Obligation]:
    """The order workers take obligations in: longest last time first, then longest declared timeout."""
    position = {obligation.id: index for index, obligation in enumerate(obligations)}
    return sorted(
        obligations,
        key=lambda o: (-timings.get(o.id, 0), -(o.timeout_ms or 0), position[o.id]),
    )


def _worker_init() -> None:
    discover()


def _work(obligation_id: str, timeout_ms: int | None) -> tuple[str, ProofResult | None, str, int]:
    started = time.process_time_ns()
    outcome = run_obligation(REGISTRY[obligation_id], timeout_ms)
    return obligation_id, outcome.result, outcome.error, (time.process_time_ns() - started) // 1000


@attrs.frozen(kw_only=True)
class Progress:
    """One finished obligation: its position in the run, and whether it came from the cache."""

    done: int
    total: int
    outcome: Outcome
    cached: bool


def run_all(
    obligations: Sequence[Obligation],
    timeout_ms: int | None = None,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    report: Callable[[Progress], None] | None = None,
) -> list[Outcome]:
    """Run ``obligations`` on ``jobs`` processes (None: every core; 1: in this process); outcomes in input order.

    ``cache_dir`` None: no cache.  ``report`` is called once per obligation as it finishes.
    """
    keys = Keys()
    total = len(obligations)
    outcomes: dict[str, Outcome] = {}
    pending: list[tuple[Obligation, str]] = []

    def finish(outcome: Outcome, cached: bool) -> None:
        outcomes[outcome.obligation.id] = outcome
        if report is not None:
            report(Progress(done=len(outcomes), total=total, outcome=outcome, cached=cached))

    local: list[tuple[Obligation, str]] = []  # registered outside proofs/ (a test): unknown to a worker
    for obligation in obligations:
        key = keys.of(obligation, timeout_ms) if cache_dir is not None else ""
        cached = load_cached(cache_dir, key) if cache_dir is not None and key else None
        if cached is not None:
            finish(Outcome(obligation=obligation, result=cached), cached=True)
        elif defining_module(obligation).startswith("perpspec.proofs."):
            pending.append((obligation, key))
        else:
            local.append((obligation, key))

    def record(obligation: Obligation, key: str, result: ProofResult | None, error: str) -> None:
        if cache_dir is not None and key and result is not None and not error:
            store(cache_dir, key, result)
        finish(Outcome(obligation=obligation, result=result, error=error), cached=False)

    workers = min(jobs or os.cpu_count() or 1, len(pending))
    if workers <= 1:
        local = pending + local
        pending = []
    timings: dict[str, int] = {}
    for obligation, key in local:
        started = time.process_time_ns()
        ran = run_obligation(obligation, timeout_ms)
        timings[obligation.id] = (time.process_time_ns() - started) // 1000
        record(obligation, key, ran.result, ran.error)
    if pending:
        keys_of = {obligation.id: key for obligation, key in pending}
        # the order only: without a cache, the timings kept by earlier runs in the default cache directory
        order_timings = load_timings(cache_dir if cache_dir is not None else default_cache_dir())
        ordered = longest_first([obligation for obligation, _ in pending], order_timings)
        context = multiprocessing.get_context("spawn")  # z3 in a forked child is not safe
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init) as pool:
            by_future: dict[Future[tuple[str, ProofResult | None, str, int]], tuple[Obligation, str]] = {
                pool.submit(_work, obligation.id, timeout_ms): (obligation, keys_of[obligation.id])
                for obligation in ordered
            }
            waiting = set(by_future)
            while waiting:
                done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda item: by_future[item][0].id):
                    obligation, key = by_future[future]
                    try:
                        _, result, error, cpu_us = future.result()
                        timings[obligation.id] = cpu_us
                    except Exception as failure:  # a worker that died is a failure, reported, not fatal
                        result, error = None, f"{type(failure).__name__}: {failure}"
                    record(obligation, key, result, error)
    if cache_dir is not None and timings:
        store_timings(cache_dir, timings)
    return [outcomes[obligation.id] for obligation in obligations]
