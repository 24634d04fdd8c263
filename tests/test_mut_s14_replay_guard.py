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

from perpspec.engine.serve.keys import (
    ALPHABET,
    ApiError,
    ApiKey,
    KeyStore,
    ReplayGuard,
    ReplayGuardError,
    authenticate,
    guard_key,
    read_guard_file,
    sign,
)


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


def test_a_key_whose_signatures_all_expired_no_longer_counts_as_a_holder() -> None:
    """Kills keeping ``self._held[key_id] = 0`` instead of deleting the key in ``_forget_expired`` (a statement
    mutant).

    Guard of 4: B holds 3 long-lived signatures, A one that expires at 100, and C one admitted under its share (5
    in all).  At 200 the guard, still full once A's is forgotten, judges C's second signature: the holders are B
    and C (A holds nothing), C's share is 4 // 2 = 2 and it holds 1: admitted.  The mutant kept A as a holder of
    0, shrank every share to 4 // 3 = 1 and refused C."""
    guard = ReplayGuard(capacity=4)
    for n in range(3):
        assert guard.admit(sig(n), expires_s=10_000, now_s=0, key_id="B")
    assert guard.admit(sig(10), expires_s=100, now_s=0, key_id="A")
    assert guard.admit(sig(20), expires_s=10_000, now_s=0, key_id="C")
    assert guard.admit(sig(21), expires_s=10_000, now_s=200, key_id="C")
    assert guard._held == {"B": 3, "C": 2}


def test_authenticate_counts_a_signature_against_the_key_that_signed_it(tmp_path: Path) -> None:
    """Kills dropping ``key.key_id`` from ``authenticate``'s ``refuse_replay`` call (a statement mutant).

    With ``replay_check`` the signature goes into the guard under its key: key A fills a guard of two, key B's
    first signed request is still admitted (its share is one, it holds none).  The mutant filed every signature
    under no key, so A's two filled the one anonymous share and B was refused (401)."""
    store = KeyStore(str(tmp_path / "keys.json"))
    a, b = store.create(1, ["trade"]), store.create(2, ["trade"])
    guard = ReplayGuard(capacity=2)

    def signed(key: ApiKey, expires: int) -> ApiKey:
        signature = sign(key.secret, "POST", "/api/v1/order", str(expires), b"{}")
        return authenticate(store, guard, verb="POST", target="/api/v1/order", body=b"{}", key_id=key.key_id,
                            expires=str(expires), signature=signature, now_s=1_000, replay_check=True)

    assert signed(a, 1_100) == a
    assert signed(a, 1_101) == a
    with pytest.raises(ApiError):
        signed(a, 1_102)  # A holds its share of the full guard
    assert signed(b, 1_100) == b
    assert guard._held == {a.key_id: 2, b.key_id: 1}


def test_the_keys_survive_a_second_restart(tmp_path: Path) -> None:
    """Kills ``_rewrite`` writing ``guard_line(s, e)`` without the key (a statement mutant).

    Opening a guard rewrites its file (expired lines dropped); the rewritten lines must still name their keys, or
    the run after the next restart files every signature under no key and the shares are lost.  The tests so far
    restarted once (the lines read were the appended ones, not a rewrite's)."""
    path = str(tmp_path / "guard")
    guard = ReplayGuard.open(path, now_s=0)
    for n in range(3):
        assert guard.admit(sig(n), expires_s=1_000, now_s=0, key_id="A")
    assert guard.admit(sig(9), expires_s=1_000, now_s=0, key_id="B")
    guard.close()
    ReplayGuard.open(path, now_s=10).close()  # the first restart rewrites the file
    again = ReplayGuard.open(path, now_s=20, capacity=4)
    assert again._held == {"A": 3, "B": 1}
    assert not again.admit(sig(50), expires_s=1_000, now_s=20, key_id="A")  # A holds 3 >= 4 // 2
    assert again.admit(sig(51), expires_s=1_000, now_s=20, key_id="B")
    again.close()
