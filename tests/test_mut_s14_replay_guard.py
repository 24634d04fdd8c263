"""The replay guard's fair share and its key names measured by mutants (session 14, helper "mut14").

Found by ``python -m tests.mutation engine/serve/keys.py`` on session 13's lines (red team 6: a full guard refuses
only the keys holding their share): ``ReplayGuard._under_share`` (a key's share is ``capacity`` over the keys
holding signatures, the asking key counted, and at least one), ``guard_key`` (a key id of at most 64 characters of
the store's alphabet names itself, any other a 41-character digest) and ``read_guard_file`` (a stored key name of
at most 64 such characters).  The guard file is durable: what one run writes, the next run (a restart, or the next
release) must read back with the same names, or the restart fails or the shares split.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perpspec.engine.serve.keys import ALPHABET, ReplayGuard, ReplayGuardError, guard_key, read_guard_file


def sig(n: int) -> str:
    return f"{n:064x}"


def test_a_guard_filled_by_one_key_still_admits_another_key() -> None:
    """Kills ``holders = len(self._held) + (key_id not in self._held)`` -> ``-`` (``_under_share``).

    One key fills the guard: a second key's share is half of it, and it holds nothing, so its first signature is
    admitted.  The mutant counted the asking key out instead of in: 0 holders, a division by zero, and the request
    failed instead of being admitted (the lock-out of every other key that the share exists to prevent)."""
    guard = ReplayGuard(capacity=4)
    for n in range(4):
        assert guard.admit(sig(n), expires_s=1_000, now_s=0, key_id="A")
    assert not guard.admit(sig(10), expires_s=1_000, now_s=0, key_id="A")
    assert guard.admit(sig(11), expires_s=1_000, now_s=0, key_id="B")


def test_a_key_holding_its_share_of_one_is_refused_by_a_full_guard() -> None:
    """Kills ``max(1, self.capacity // holders)`` -> ``max(2, ...)`` (``_under_share``).

    Four keys hold one signature each of a guard of four: each holds its share (4 // 4 = 1), so a second signature
    of any of them is refused while the guard is full; a fifth key (share max(1, 4 // 5) = 1, holding none) is
    admitted.  The mutant gave every key a share of at least two: a full guard admitted a second signature of every
    key, which is what filling it to twice its capacity lets a handful of keys do again."""
    guard = ReplayGuard(capacity=4)
    for n, key in enumerate("ABCD"):
        assert guard.admit(sig(n), expires_s=1_000, now_s=0, key_id=key)
    for n, key in enumerate("ABCD", start=10):
        assert not guard.admit(sig(n), expires_s=1_000, now_s=0, key_id=key), key
    assert guard.admit(sig(20), expires_s=1_000, now_s=0, key_id="E")


def test_a_key_id_of_64_characters_names_itself_and_one_of_65_a_digest(tmp_path: Path) -> None:
    """Kills ``len(key_id) <= 64`` -> ``< 64`` and the constant ``64 -> 65`` in ``guard_key``.

    A key id of exactly 64 characters of the alphabet is stored as itself; one of 65 is stored as its digest.  The
    mutants stored a 64-character id as a digest, or a 65-character one as itself, which the guard file's reader
    refuses: the next restart failed on the guard file."""
    at_bound, beyond = ALPHABET[:62] + "AB", ALPHABET[:62] + "ABC"
    assert guard_key(at_bound) == at_bound
    assert guard_key(beyond) != beyond
    assert len(guard_key(beyond)) == 41
    path = str(tmp_path / "guard")
    guard = ReplayGuard.open(path, now_s=0)
    assert guard.admit(sig(1), expires_s=1_000, now_s=0, key_id=at_bound)
    assert guard.admit(sig(2), expires_s=1_000, now_s=0, key_id=beyond)
    guard.close()
    assert read_guard_file(path, now_s=0) == {sig(1): (1_000, at_bound), sig(2): (1_000, guard_key(beyond))}
    ReplayGuard.open(path, now_s=0).close()


def test_a_key_outside_the_alphabet_is_named_by_the_first_40_hex_digits_of_its_sha256() -> None:
    """Kills ``hexdigest()[:40]`` -> ``[:41]`` in ``guard_key``.

    The name is part of the durable guard file: a file written by one release names a key so, and the next must
    name it the same, or after an upgrade its stored signatures and its new ones count as two keys' shares.  The
    golden value is SHA-256("weird key/id")'s first 40 hex digits behind an "h"."""
    assert guard_key("weird key/id") == "h67f81ac560cd08c3a4da7977066961d4a7753399"


def test_a_stored_key_name_of_64_characters_loads_and_one_of_65_is_refused(tmp_path: Path) -> None:
    """Kills ``len(key_id) <= 64`` -> ``< 64`` and ``64 -> 65`` in ``read_guard_file``.

    The reader accepts exactly what ``guard_key`` writes: a name of up to 64 characters loads, a longer one is a
    damaged file (``ReplayGuardError``)."""
    path = tmp_path / "guard"
    path.write_bytes(f"1000 {sig(1)} {'k' * 64}\n".encode())
    assert read_guard_file(str(path), now_s=0) == {sig(1): (1_000, "k" * 64)}
    path.write_bytes(f"1000 {sig(1)} {'k' * 65}\n".encode())
    with pytest.raises(ReplayGuardError):
        read_guard_file(str(path), now_s=0)
