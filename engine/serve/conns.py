"""Bounds on the TCP connections serve keeps open (redteam28_1, redteam28_3).

An accepted connection costs a file descriptor, and the descriptors are shared with the store: a serve at its
descriptor limit cannot write a snapshot, open the key store or accept anyone.  aiohttp keeps an accepted
connection that never sends a byte (and, before 3.10, forever), so plain HTTP connections are bounded here, as
the WebSocket side bounds its sessions:

* **clients**: every loopback address (127.0.0.0/8, ::1, and IPv4-mapped 127/8) is one client, :func:`client_of`:
  any local process may send from any of them, so "per address" is no bound on a loopback server; the caps and the
  unauthenticated rate limit are charged to the client;
* **caps**: at most ``max_http_connections`` connections in all (WebSockets included), never more than the
  process's descriptor limit less :data:`FD_RESERVE` (kept for the journal, snapshots, the key store and the
  listening socket), and ``max_http_connections_per_ip`` per client;
* **making room**: a connection beyond a cap closes the client's (or, for the total, anyone's) idle connection
  that has waited longest -- one that never finished a request first, then the least recently used; a connection
  is idle when no request is in progress on it (a WebSocket is a request in progress for its whole life).  When
  every connection is busy the new one is closed at once;
* **idle timeout**: a connection idle for ``http_idle_timeout_s`` (from its accept, or from the end of its last
  request; a request's headers arriving slowly count as idle) is closed by the server's ticker, and aiohttp's own
  keep-alive timeout is set to the same figure.

A request's body is read within ``body_timeout_s`` (pipeline.py) or answered 408 and the connection closed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import resource
import time
from collections.abc import Callable
from typing import Any, Final

FD_RESERVE: Final = 64  # descriptors never given to connections: the store's files, the listener, the loop's own
LOOPBACK_CLIENT: Final = "loopback"


def client_of(remote: str | None) -> str:
    """The client a connection or an unauthenticated request is charged to: its address, and one name for every
    loopback address (redteam28_3: 16 addresses of 127/8 took the 16 × 64 WebSocket slots)."""
    if not remote:
        return "unknown"
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return remote
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return LOOPBACK_CLIENT if address.is_loopback else str(address)


def descriptor_budget(reserve: int = FD_RESERVE) -> int:
    """Connections the process's descriptor limit allows (its soft ``RLIMIT_NOFILE`` less ``reserve``; at least 1)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 30
    return max(1, soft - reserve)


class _Slot:
    __slots__ = ("busy", "client", "last_active", "served", "transport")

    def __init__(self, client: str, transport: asyncio.BaseTransport, now: float) -> None:
        self.client = client
        self.transport = transport
        self.busy = 0  # requests in progress
        self.served = 0  # requests finished
        self.last_active = now  # accepted, or its last request ended


class ConnectionGuard:
    """The open TCP connections of one server, by client; caps them and closes the idle ones."""

    def __init__(
        self, max_connections: int, max_per_client: int, idle_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_connections = max(1, min(max_connections, descriptor_budget()))
        self.max_per_client = max(1, max_per_client)
        self.idle_timeout_s = idle_timeout_s
        self._clock = clock
        self._slots: dict[Any, _Slot] = {}  # by aiohttp's RequestHandler, in order of acceptance
        self.refused = 0  # connections closed at once: every connection busy
        self.evicted = 0  # idle connections closed to make room
        self.timed_out = 0  # idle connections closed by the idle timeout

    def __len__(self) -> int:
        return len(self._slots)

    def clients(self) -> dict[str, int]:
        """Open connections per client."""
        out: dict[str, int] = {}
        for slot in self._slots.values():
            out[slot.client] = out.get(slot.client, 0) + 1
        return out

    def install(self, web_server: Any) -> None:
        """Watch the connections of aiohttp's low-level server (``AppRunner.server``): it tells its
        ``connection_made``/``connection_lost`` for every connection its handlers accept and lose."""
        made, lost = web_server.connection_made, web_server.connection_lost

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            made(handler, transport)
            self.opened(handler, transport)

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            self.closed(handler)
            lost(handler, exc)

        web_server.connection_made = connection_made
        web_server.connection_lost = connection_lost

    def opened(self, handler: Any, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        remote = peer[0] if isinstance(peer, tuple) and peer else None
        client = client_of(remote if isinstance(remote, str) else None)
        mine = sum(1 for slot in self._slots.values() if slot.client == client)
        self._slots[handler] = _Slot(client, transport, self._clock())
        if mine >= self.max_per_client:  # room among the client's own connections
            placed = self._make_room(handler, client)
        else:
            placed = len(self._slots) <= self.max_connections or self._make_room(handler, None)
        if not placed:
            self._refuse(handler)

    def closed(self, handler: Any) -> None:
        self._slots.pop(handler, None)

    def begin(self, handler: Any) -> None:
        """A request's headers arrived on ``handler``'s connection: busy until :meth:`end`."""
        slot = self._slots.get(handler)
        if slot is not None:
            slot.busy += 1

    def end(self, handler: Any) -> None:
        slot = self._slots.get(handler)
        if slot is not None:
            slot.busy = max(0, slot.busy - 1)
            slot.served += 1
            slot.last_active = self._clock()

    def sweep(self) -> int:
        """Close the connections idle for longer than the idle timeout; how many."""
        deadline = self._clock() - self.idle_timeout_s
        stale = [h for h, slot in self._slots.items() if not slot.busy and slot.last_active <= deadline]
        for handler in stale:
            self._close(handler)
        self.timed_out += len(stale)
        return len(stale)

    def _make_room(self, new: Any, client: str | None) -> bool:
        """Close the idle connection (of ``client``, or anyone's) that waited longest; False when none is idle."""
        victim: Any = None
        best: tuple[int, float] | None = None
        for handler, slot in self._slots.items():
            if handler is new or slot.busy or (client is not None and slot.client != client):
                continue
            rank = (1 if slot.served else 0, slot.last_active)  # never used first, then least recently used
            if best is None or rank < best:
                victim, best = handler, rank
        if victim is None:
            return False
        self._close(victim)
        self.evicted += 1
        return True

    def _refuse(self, handler: Any) -> None:
        """Close the connection being accepted: on the loop's next turn, once aiohttp has started its handler (closed
        inside ``connection_made``, the handler's task would find its server gone and fail noisily)."""
        slot = self._slots.pop(handler, None)
        if slot is not None:
            asyncio.get_running_loop().call_soon(slot.transport.close)
        self.refused += 1

    def _close(self, handler: Any) -> None:
        slot = self._slots.pop(handler, None)
        if slot is not None:
            slot.transport.close()
