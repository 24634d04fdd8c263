"""serve bounds its TCP connections (redteam28_1's first step, redteam28_3's loopback addresses).

serve capped WebSockets but not plain HTTP connections, and aiohttp kept an accepted connection that sent nothing:
a few hundred idle sockets from one local process took the process to its descriptor limit (EMFILE), after which
snapshots failed (redteam28_1) and no one could connect.  And every address of 127.0.0.0/8 was a client of its
own for the caps and the unauthenticated rate limit, though any local process may use all of them.  Now
(engine/serve/conns.py): a cap in all (below the descriptor limit) and per client, every loopback address one
client, an idle connection makes room for a new one, idle connections and trickled bodies time out.

Each test fails on 136ac3c (the limits did not exist: ServerConfig refuses their names).
"""

from __future__ import annotations

import http.client
import resource
import socket
import time
from pathlib import Path
from typing import Any

from perpspec.engine.serve.conns import FD_RESERVE, LOOPBACK_CLIENT, ConnectionGuard, client_of
from perpspec.engine.serve.server import Running
from tests.serve_helpers import raw_request, start_server


def _connections(running: Running) -> int:
    count: int = running.call(lambda: len(running.server.conns))
    return count


def _wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def _closed_by_server(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True once the server closed ``sock`` (what it still sends before is read and dropped)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def test_idle_connections_are_capped_and_make_room_for_new_ones(tmp_path: Path) -> None:
    running, _keys = start_server(tmp_path, max_http_connections=8)
    held: list[socket.socket] = []
    try:
        own = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)  # a client's keep-alive connection
        own.request("GET", "/api/v1/instrument?symbol=XBTUSD")
        assert own.getresponse().read()
        for _ in range(40):  # idle sockets that never send a byte
            held.append(socket.create_connection(("127.0.0.1", running.port), timeout=5))
        time.sleep(0.3)
        assert _connections(running) <= 8
        assert raw_request(running, "GET", "/api/v1/instrument?symbol=XBTUSD")[0] == 200  # a new client gets in
        own.request("GET", "/api/v1/instrument?symbol=XBTUSD")  # the idle ones that never asked made room first
        assert own.getresponse().status == 200
        assert running.call(lambda: running.server.conns.evicted) >= 33
        own.close()
    finally:
        for sock in held:
            sock.close()
        running.stop()


def test_loopback_addresses_are_one_client(tmp_path: Path) -> None:
    running, _keys = start_server(tmp_path, max_http_connections_per_ip=4, ip_rate_limit_per_minute=3)
    held: list[socket.socket] = []
    try:
        for k in range(12):  # 127.0.0.2 .. 127.0.0.13
            held.append(socket.create_connection(("127.0.0.1", running.port), timeout=5,
                                                 source_address=(f"127.0.0.{k + 2}", 0)))
        time.sleep(0.3)
        assert running.call(running.server.conns.clients) == {LOOPBACK_CLIENT: 4}
        # the unauthenticated rate limit: one budget for every loopback address
        statuses = []
        for k in range(4):
            conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10,
                                              source_address=(f"127.0.0.{k + 20}", 0))
            conn.request("GET", "/api/v1/instrument?symbol=XBTUSD")
            statuses.append(conn.getresponse().status)
            conn.close()
        assert statuses == [200, 200, 200, 429]
    finally:
        for sock in held:
            sock.close()
        running.stop()


def test_an_idle_connection_and_slow_headers_are_closed_after_the_timeout(tmp_path: Path) -> None:
    running, _keys = start_server(tmp_path, http_idle_timeout_s=0.5)
    try:
        silent = socket.create_connection(("127.0.0.1", running.port), timeout=5)
        slow = socket.create_connection(("127.0.0.1", running.port), timeout=5)
        slow.sendall(b"GET /api/v1/instrument HTTP/1.1\r\nHo")  # headers that never end
        assert _closed_by_server(silent)
        assert _closed_by_server(slow)
        assert _wait_until(lambda: _connections(running) == 0)
        silent.close()
        slow.close()
    finally:
        running.stop()


def test_a_trickled_body_is_answered_408_and_the_connection_closed(tmp_path: Path) -> None:
    running, _keys = start_server(tmp_path, body_timeout_s=0.5)
    try:
        sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
        sock.sendall(b"POST /api/v1/order HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"symbol\"")
        sock.settimeout(5)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408")
        assert _closed_by_server(sock)
        sock.close()
    finally:
        running.stop()


def test_the_cap_stays_below_the_descriptor_limit() -> None:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    guard = ConnectionGuard(10**9, 10**9, 30)
    assert guard.max_connections == max(1, soft - FD_RESERVE)


def test_the_client_of_an_address() -> None:
    assert {client_of(a) for a in ("127.0.0.1", "127.0.0.2", "127.255.0.9", "::1", "::ffff:127.0.0.5")} == {
        LOOPBACK_CLIENT}
    assert client_of("10.0.0.1") == "10.0.0.1"
    assert client_of("fe80::1%eth0") == "fe80::1"
    assert client_of(None) == "unknown"
