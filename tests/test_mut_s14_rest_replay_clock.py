"""The REST replay check reads the clock in seconds (session 14, helper "mut14").

Found by ``python -m tests.mutation engine/serve/rest.py`` on the line session 13 changed (the replay check now
names the signing key): ``refuse_replay(..., now_ms // 1000, key.key_id)``.  The guard forgets a signature once its
``api-expires`` second has passed, but only when it is full; no test filled it with expired signatures through
REST, so ``now_ms // 1001`` (a clock about 20 days slow at today's time) passed: it kept expired signatures and
refused a key that held its share of them.

Rule: the replay guard (a signed withdrawal is admitted once while unexpired; an expired signature can never be
replayed, since its request is refused as expired, and it is forgotten when room is needed).  Since redteam21_8 the
guard keeps to withdrawals (orders follow BitMEX's contract, expiry only), so these tests withdraw.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")

from tests.serve_helpers import raw_request, start_server

WITHDRAW = "/api/v1/user/requestWithdrawal"
BODY = json.dumps({"currency": "XBt", "amount": 1_000}).encode()


def _withdraw_keys(running: Any) -> dict[str, Any]:
    keys = {name: running.call(running.server.keys.create, account, ["read", "withdraw"])
            for name, account in (("one", 1), ("two", 2))}
    running.call(running.server.keys.save)
    return keys


def test_a_full_guard_forgets_expired_signatures_by_the_current_second(tmp_path: Path) -> None:
    """The guard (capacity 2) is full of two signatures of key "one" that expired ten seconds ago: the key holds
    its whole share, so only forgetting them makes room, and its next signed order is admitted."""
    running, _ = start_server(tmp_path)
    try:
        key = _withdraw_keys(running)["one"]
        guard = running.server.guard
        now_s = int(time.time())

        def fill() -> None:
            guard.capacity = 2
            for n in range(2):
                assert guard.admit(f"{n:064x}", expires_s=now_s - 10, now_s=now_s - 100, key_id=key.key_id)

        running.call(fill)
        status, answer, _ = raw_request(running, "POST", WITHDRAW, BODY, key)
        assert status == 200, answer
        assert running.call(lambda: len(guard._seen)) == 1
    finally:
        running.stop()


def test_a_rest_signature_counts_against_the_key_that_signed_it(tmp_path: Path) -> None:
    """Kills dropping ``key.key_id`` from the REST handler's ``refuse_replay`` call (engine/serve/rest.py, a
    statement mutant).

    Key "one" fills a guard of two with two signed withdrawals; key "two"'s is still admitted (its share is one, it
    holds none), and a third of key "one" is refused as over its share.  The mutant filed every REST signature under
    no key: "one"'s two filled the one anonymous share and "two" was refused (400)."""
    running, _ = start_server(tmp_path)
    keys = _withdraw_keys(running)
    try:
        guard = running.server.guard

        def shrink() -> None:
            guard.capacity = 2

        running.call(shrink)
        now = int(time.time())
        for expires in (now + 60, now + 61):
            status, answer, _ = raw_request(running, "POST", WITHDRAW, BODY, keys["one"], expires=expires)
            assert status == 200, answer
        status, answer, _ = raw_request(running, "POST", WITHDRAW, BODY, keys["two"], expires=now + 60)
        assert status == 200, answer
        status, answer, _ = raw_request(running, "POST", WITHDRAW, BODY, keys["one"], expires=now + 62)
        assert status == 400, answer
    finally:
        running.stop()
