"""A full replay guard admits or refuses a signature in O(log n), not a scan of every signature it holds.

Session 13's ``ReplayGuard.admit`` called ``_forget_expired`` on every admission once the guard was full, and that
read every remembered signature's expiry: a key flooding a full guard (each request refused, or admitted under its
share) cost the server O(capacity) -- a million comparisons -- per signed request.  The guard now keeps its
signatures in a heap by expiry as well, and forgets from its top.

The cost is counted: expiries are an ``int`` that counts the comparisons made with it.  The twin: random streams of
admissions (replays, keys over and under their share, expiries passing, prunes, a durable guard reopened) give the
same answers, the same remembered signatures in the same order, the same shares and the same guard file as the
guard that scanned (:class:`ScanningGuard`, session 13's ``_remember`` and ``_forget_expired`` as they read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from perpspec.engine.serve.keys import ReplayGuard

COMPARISONS = [0]


class CountingInt(int):
    """An expiry (or a clock) that counts the comparisons made with it."""

    def _count(self, other: Any, op: str) -> bool:
        COMPARISONS[0] += 1
        result: bool = getattr(int(self), op)(int(other) if isinstance(other, int) else other)
        return result

    def __lt__(self, other: Any) -> bool:
        return self._count(other, "__lt__")

    def __le__(self, other: Any) -> bool:
        return self._count(other, "__le__")

    def __gt__(self, other: Any) -> bool:
        return self._count(other, "__gt__")

    def __ge__(self, other: Any) -> bool:
        return self._count(other, "__ge__")

    def __eq__(self, other: object) -> bool:
        return self._count(other, "__eq__")

    def __hash__(self) -> int:
        return int.__hash__(self)


class ScanningGuard(ReplayGuard):
    """The session 13 guard: no expiry heap; expired signatures found by reading every one."""

    def _remember(self, signature: str, expires_s: int, key_id: str) -> None:
        self._seen[signature] = expires_s
        self._owner[signature] = key_id
        self._held[key_id] = self._held.get(key_id, 0) + 1

    def _forget_expired(self, now_s: int) -> None:
        for signature in [s for s, expires in self._seen.items() if expires < now_s]:
            del self._seen[signature]
            key_id = self._owner.pop(signature)
            left = self._held[key_id] - 1
            if left:
                self._held[key_id] = left
            else:
                del self._held[key_id]


def sig(n: int) -> str:
    return f"{n:064x}"


def flood(guard_class: type[ReplayGuard], capacity: int, requests: int) -> int:
    """Fill a guard with ``capacity`` day-long signatures of one key, then send ``requests`` more from it and from
    others (refused over the share, admitted under it); the comparisons those requests cost."""
    guard = guard_class(capacity=capacity)
    for n in range(capacity):
        assert guard.admit(sig(n), CountingInt(86_400), CountingInt(0), key_id="flood")
    COMPARISONS[0] = 0
    for n in range(requests):
        guard.admit(sig(capacity + n), CountingInt(86_400), CountingInt(1 + n // 100), key_id="flood" if n % 2 else f"K{n % 7}")
    return COMPARISONS[0]


def test_a_flooded_full_guard_costs_log_n_comparisons_a_request() -> None:
    small = flood(ReplayGuard, 2_000, 1_000)
    large = flood(ReplayGuard, 16_000, 1_000)
    assert small < 60 * 1_000  # the scanning guard: 2,000 a request (2,000,000)
    assert large < small * 2  # eight times the signatures: a few more heap levels, not eight times the cost


def test_the_scanning_guard_did_read_every_signature() -> None:
    assert flood(ScanningGuard, 2_000, 100) >= 2_000 * 100


def test_a_flood_still_forgets_what_expired() -> None:
    guard = ReplayGuard(capacity=3)
    for n in range(3):
        assert guard.admit(sig(n), expires_s=10 + n, now_s=0, key_id="A")
    assert not guard.admit(sig(3), expires_s=100, now_s=10, key_id="A")  # nothing expired before 10
    assert guard.admit(sig(3), expires_s=100, now_s=11, key_id="A")  # sig(0) expired at 10 < 11
    assert list(guard._seen) == [sig(1), sig(2), sig(3)]
    assert sorted(guard._expiry) == [(11, sig(1)), (12, sig(2)), (100, sig(3))]


# one step: (kind, signature number, key number, expiry ahead, clock step)
STEPS = st.lists(
    st.tuples(st.integers(0, 9), st.integers(0, 40), st.integers(0, 4), st.integers(0, 30), st.integers(0, 6)),
    max_size=120,
)


def replay(guard_class: type[ReplayGuard], steps: list[tuple[int, int, int, int, int]], capacity: int,
           path: str | None) -> tuple[list[bool], list[tuple[str, int, str]], dict[str, int], bytes]:
    """Run ``steps`` against a guard: every answer, then what it remembers (in order), its shares, its file."""
    now = 0

    def opened() -> ReplayGuard:
        if path is None:
            return guard_class(capacity=capacity)
        return guard_class.open(path, now, capacity=capacity)

    guard = opened()
    answers: list[bool] = []
    for kind, number, key, ahead, step in steps:
        now += step
        if kind == 8:
            guard.prune(now)
        elif kind == 9 and path is not None:  # a restart
            guard.close()
            guard = opened()
        else:
            answers.append(guard.admit(sig(number), now + ahead, now, key_id=f"K{key}" if key else ""))
    guard.close()
    remembered = [(s, e, guard._owner[s]) for s, e in guard._seen.items()]
    return answers, remembered, dict(guard._held), Path(path).read_bytes() if path is not None else b""


@settings(max_examples=200, deadline=None)
@given(STEPS, st.integers(1, 12))
def test_the_heap_guard_answers_as_the_scanning_guard(steps: list[tuple[int, int, int, int, int]], capacity: int) -> None:
    assert replay(ScanningGuard, steps, capacity, None) == replay(ReplayGuard, steps, capacity, None)


@settings(max_examples=60, deadline=None)
@given(STEPS, st.integers(1, 12))
def test_the_durable_heap_guard_writes_the_scanning_guards_file(
    tmp_path_factory: Any, steps: list[tuple[int, int, int, int, int]], capacity: int
) -> None:
    base = tmp_path_factory.mktemp("guard")
    scanning = replay(ScanningGuard, steps, capacity, str(base / "scanning"))
    heap = replay(ReplayGuard, steps, capacity, str(base / "heap"))
    assert scanning == heap
