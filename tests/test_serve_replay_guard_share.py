"""A full replay guard refuses only the keys holding their share (red team 6, noticed).

The guard keeps every unexpired signature and, full, refused every signed mutation of every key: a handful of keys
signing within their rate limits with day-long expiries (six at 120 a minute fill a million in a day) locked every
other key out.  Now a full guard refuses a key only when it holds at least its fair share; the others are still
admitted (up to twice the capacity: the memory bound), and nothing unexpired is ever forgotten.  The guard file
names each signature's key, so a restart keeps the shares (a file of the older two-field form still loads).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perpspec.engine.serve.keys import ReplayGuard, ReplayGuardError, guard_key, read_guard_file


def sig(n: int) -> str:
    return f"{n:064x}"


def test_a_full_guard_still_admits_a_key_under_its_share() -> None:
    guard = ReplayGuard(capacity=10)
    for n in range(10):  # key A (and B) fill it: A holds 9, B 1
        assert guard.admit(sig(n), expires_s=10_000, now_s=0, key_id="A" if n < 9 else "B")
    assert not guard.admit(sig(100), expires_s=10_000, now_s=1, key_id="A")  # A is over its share (10 // 2)
    assert guard.admit(sig(101), expires_s=10_000, now_s=1, key_id="B")  # old code: refused (the guard was full)
    assert guard.admit(sig(102), expires_s=10_000, now_s=1, key_id="C")  # a new key: share 10 // 3
    assert not guard.admit(sig(101), expires_s=10_000, now_s=2, key_id="B")  # a replay is still a replay
    assert not guard.admit(sig(3), expires_s=10_000, now_s=2, key_id="C")  # whoever sends it


def test_the_memory_bound_is_twice_the_capacity() -> None:
    guard = ReplayGuard(capacity=4)
    admitted = sum(guard.admit(sig(n), expires_s=10_000, now_s=0, key_id=f"K{n}") for n in range(20))
    assert admitted == 8
    assert len(guard._seen) == 8


def test_expiry_frees_a_keys_share() -> None:
    guard = ReplayGuard(capacity=2)
    assert guard.admit(sig(1), expires_s=100, now_s=0, key_id="A")
    assert guard.admit(sig(2), expires_s=500, now_s=0, key_id="A")
    assert not guard.admit(sig(3), expires_s=500, now_s=50, key_id="A")
    assert guard.admit(sig(3), expires_s=500, now_s=101, key_id="A")  # sig(1) expired: A holds 1 again
    assert guard._held == {"A": 2}


def test_a_restart_keeps_each_signatures_key(tmp_path: Path) -> None:
    path = str(tmp_path / "guard")
    guard = ReplayGuard.open(path, now_s=0)
    for n in range(3):
        assert guard.admit(sig(n), expires_s=1_000, now_s=0, key_id="A")
    assert guard.admit(sig(9), expires_s=1_000, now_s=0, key_id="weird key/id")  # a store may name keys so
    guard.close()
    assert read_guard_file(path, now_s=0) == {
        sig(0): (1_000, "A"), sig(1): (1_000, "A"), sig(2): (1_000, "A"), sig(9): (1_000, guard_key("weird key/id")),
    }
    again = ReplayGuard.open(path, now_s=10, capacity=4)
    assert again._held == {"A": 3, guard_key("weird key/id"): 1}
    assert not again.admit(sig(1), expires_s=1_000, now_s=10, key_id="B")  # replayed after the restart
    assert not again.admit(sig(50), expires_s=1_000, now_s=10, key_id="A")  # A holds 3 >= 4 // 2
    assert again.admit(sig(51), expires_s=1_000, now_s=10, key_id="B")
    again.close()


def test_an_older_guard_file_loads_and_a_bad_key_field_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "guard"
    path.write_bytes(f"1000 {sig(1)}\n".encode())
    assert read_guard_file(str(path), now_s=0) == {sig(1): (1_000, "")}
    path.write_bytes(f"1000 {sig(1)} bad/key\n".encode())
    with pytest.raises(ReplayGuardError):
        read_guard_file(str(path), now_s=0)
