"""Where a sweep's cells run: a local process pool (default, all cores) or Ray (``perpspec[ray]``).

Both call :func:`engine.sweep.cells.run_cell` with the same arguments, and a cell's
``cell.json`` depends only on the cell, so results are byte-identical whichever backend ran
them.  Rows come back in completion order; the caller sorts them into grid order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from perpspec.engine.sweep.cells import run_cell
from perpspec.engine.sweep.grid import Grid

Cell = tuple[tuple[str, str], ...]


class BackendError(RuntimeError):
    """A backend that cannot start (Ray missing, cluster unreachable); one line."""


def run_local(grid: Grid, cells: Sequence[Cell], out: str, jobs: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(cell index, row) as cells finish, on ``jobs`` processes (1: in this process, no pool)."""
    if jobs <= 1:
        for index, cell in enumerate(cells):
            yield index, run_cell(grid, cell, out)
        return
    pool = ProcessPoolExecutor(max_workers=jobs)
    try:
        pending: dict[Future[dict[str, Any]], int] = {}
        queue = list(enumerate(cells))
        queue.reverse()
        while queue or pending:
            broken = False
            while queue and len(pending) < 2 * jobs:  # bounded: the coordinator holds O(jobs) futures
                index, cell = queue.pop()
                try:
                    pending[pool.submit(run_cell, grid, cell, out)] = index
                except BrokenProcessPool:  # it broke since the last wait: this cell goes to the next pool
                    queue.append((index, cell))
                    broken = True
                    break
            if not broken:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=pending.__getitem__):
                    index = pending.pop(future)
                    try:
                        yield index, future.result()
                    except BrokenProcessPool as error:  # a worker died (OOM killer, a crash): the sweep goes on
                        broken = True
                        yield index, _worker_died(cells[index], error)
            if broken:  # every cell still in the broken pool fails with it; the rest run on a new pool
                wait(pending)
                for future, index in sorted(pending.items(), key=lambda item: item[1]):
                    died = future.exception()  # a cell that finished before the break keeps its row
                    yield index, future.result() if died is None else _worker_died(cells[index], died)
                pending.clear()
                pool.shutdown(wait=True)
                pool = ProcessPoolExecutor(max_workers=jobs)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _worker_died(cell: Cell, error: BaseException) -> dict[str, Any]:
    """The row of a cell whose worker process died (it, or a cell running beside it, killed the pool)."""
    return {**dict(cell), "key": "", "status": "failed", "wall_seconds": 0, "reused": False,
            "error": f"the worker process died ({type(error).__name__}); rerun the sweep to retry the cell"}


RAY_MISSING = "--ray needs the ray extra: pip install 'perpspec[ray]'"


def require_ray() -> None:
    """Refuse ``--ray`` before anything is written when Ray is not installed (BackendError)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise BackendError(RAY_MISSING) from None


def run_ray(
    grid: Grid, cells: Sequence[Cell], out: str, address: str | None, jobs: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(cell index, row) as cells finish on Ray: a local Ray (``address`` None) or a cluster.

    On a cluster ``out`` must be a folder every node sees (a shared file system).
    """
    try:
        import ray
    except ImportError:
        raise BackendError(RAY_MISSING) from None
    started_here = not ray.is_initialized()
    if started_here:
        try:
            if address is None:
                ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except Exception as error:  # ray raises many kinds: say which in one line
            raise BackendError(f"cannot start Ray ({address or 'local'}): {type(error).__name__}: {error}") from None
    remote: Callable[..., Any] = ray.remote(run_cell).remote
    try:
        pending: dict[Any, int] = {}
        queue = list(enumerate(cells))
        queue.reverse()
        limit = 2 * max(jobs, 1)
        while queue or pending:
            while queue and len(pending) < limit:
                index, cell = queue.pop()
                pending[remote(grid, cell, out)] = index
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                index = pending.pop(ref)
                try:
                    row = ray.get(ref)
                except Exception as error:  # the worker died (WorkerCrashedError after Ray's retries)
                    row = _worker_died(cells[index], error)
                yield index, row
    finally:
        if started_here:
            ray.shutdown()


def default_jobs() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
