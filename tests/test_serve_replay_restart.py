"""A captured signed mutation replayed after a restart of ``perpspec serve`` is refused: the replay guard lives in
the store (red-team finding find_12)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")

from perpspec.engine.serve.rest import ServerConfig
from perpspec.engine.serve.server import open_server, start_in_thread
from tests.serve_helpers import raw_request, start_server, state

# ----------------------------------------------------------------------------- find_12: replay after a restart


def test_a_signed_withdrawal_replayed_after_a_restart_is_refused(tmp_path: Path) -> None:
    running, _ = start_server(tmp_path)
    key = running.server.keys.create(1, ["read", "withdraw"])
    running.server.keys.save()
    body = json.dumps({"currency": "XBt", "amount": 1_000_000}).encode()
    expires = int(time.time()) + 3600
    target = "/api/v1/user/requestWithdrawal"
    status, _, _ = raw_request(running, "POST", target, body, key, expires=expires)
    assert status == 200
    running.stop()
    again = start_in_thread(open_server(str(tmp_path), ServerConfig(rate_limit_per_minute=10**6)))
    try:
        before = state(again)
        status, answer, _ = raw_request(again, "POST", target, body, key, expires=expires)  # the captured bytes
        assert (400, before) == (status, state(again))  # 400, ccxt's BadRequest: not bad credentials (redteam21_8)
        assert "replay" in answer["error"]["message"]
    finally:
        again.stop()


def test_replay_guard_file_keeps_only_unexpired_signatures(tmp_path: Path) -> None:
    from perpspec.engine.serve.keys import ReplayGuard
    from perpspec.engine.serve.server import GUARD_NAME

    path = str(tmp_path / GUARD_NAME)
    guard = ReplayGuard.open(path, now_s=100)
    assert guard.admit("a" * 64, expires_s=150, now_s=100)
    assert guard.admit("b" * 64, expires_s=300, now_s=100)
    guard.close()
    reopened = ReplayGuard.open(path, now_s=200)  # "a" expired meanwhile: it can never be replayed
    assert [reopened.admit("b" * 64, 300, 200), reopened.admit("a" * 64, 400, 200)] == [False, True]
    reopened.close()


def test_replay_guard_file_with_a_malformed_line_is_refused_and_a_torn_last_line_dropped(tmp_path: Path) -> None:
    from perpspec.engine.serve.keys import ReplayGuard, ReplayGuardError
    from perpspec.engine.serve.server import GUARD_NAME

    path = tmp_path / GUARD_NAME
    path.write_bytes(b"300 " + b"c" * 64 + b"\n300 " + b"d" * 10)  # the second line's write was cut short
    guard = ReplayGuard.open(str(path), now_s=200)
    assert [guard.admit("c" * 64, 300, 200), guard.admit("d" * 64, 300, 200)] == [False, True]
    guard.close()
    path.write_bytes(b"not a line\n")
    with pytest.raises(ReplayGuardError, match="line 1"):
        ReplayGuard.open(str(path), now_s=200)
