"""Session 21, mut31_11 and mut31_12 (/work/coord/repro21/mut31_report.md): slips in serve's connection guard
(redteam28_1/3) and GET /order / GET /execution's lazy reading (redteam28_2) that survived the session-20 serve tests.

ConnectionGuard (fake transports and clock, no sockets):
- N4: the idle sweep ignoring ``busy`` (a request in progress, a WebSocket, closed after 10 s);
- N8: the per-client cap evicting *another* client's idle connection;
- N9: ``busy`` going below 0 on an unmatched end (the connection never idle again);
- N2: the total cap admitting one connection fewer than configured.
History (every answer == listing.select_rows over every row built):
- H2: ``not any`` -> ``not all``: a filter on a closed status answered from the open orders only ([]);
- H1: ``stamp < after`` -> ``<=``: startTime not inclusive;
- H7: execution_rows ignoring ``reverse``.
"""

from __future__ import annotations

import json
from pathlib import Path

from perpspec.engine.core import commands as cmd
from perpspec.engine.serve import rows
from perpspec.engine.serve.conns import ConnectionGuard
from perpspec.engine.serve.gateway import Gateway
from perpspec.engine.serve.history import execution_rows, order_rows
from perpspec.engine.serve.listing import read_listing, select_rows
from perpspec.engine.serve.units import iso_timestamp


class _Transport:
    def __init__(self, ip: str) -> None:
        self.ip, self.closed = ip, False

    def get_extra_info(self, name: str) -> object:
        return (self.ip, 1234) if name == "peername" else None

    def close(self) -> None:
        self.closed = True


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _guard(total: int, per_client: int, clock: _Clock) -> ConnectionGuard:
    return ConnectionGuard(total, per_client, 10.0, clock=clock)


def test_n4_a_request_in_progress_is_never_swept_as_idle() -> None:
    clock = _Clock()
    guard = _guard(10, 10, clock)
    transport = _Transport("10.0.0.1")
    guard.opened("busy", transport)
    guard.begin("busy")
    clock.now = 100.0
    guard.sweep()
    assert not transport.closed
    assert len(guard) == 1


def test_n9_an_unmatched_end_leaves_the_connection_idle_and_swept() -> None:
    clock = _Clock()
    guard = _guard(10, 10, clock)
    transport = _Transport("10.0.0.2")
    guard.opened("h", transport)
    guard.end("h")
    guard.end("h")
    clock.now = 100.0
    guard.sweep()
    assert transport.closed


def test_n8_the_per_client_cap_evicts_the_client_s_own_idle_connection() -> None:
    clock = _Clock()
    guard = _guard(10, 1, clock)
    other, mine = _Transport("10.0.0.3"), _Transport("10.0.0.4")
    guard.opened("other", other)  # older and never used: the first victim among *all* idle connections
    clock.now = 1.0
    guard.opened("mine", mine)
    guard.begin("mine")
    guard.end("mine")
    clock.now = 2.0
    guard.opened("mine2", _Transport("10.0.0.4"))
    assert mine.closed
    assert not other.closed


def test_n2_the_total_cap_admits_max_connections() -> None:
    clock = _Clock()
    guard = _guard(2, 10, clock)
    a, b = _Transport("10.0.0.5"), _Transport("10.0.0.6")
    guard.opened("a", a)
    guard.opened("b", b)
    assert (a.closed, b.closed, len(guard), guard.evicted) == (False, False, 2, 0)


ORDER_PARAMS = [
    {"filter": json.dumps({"ordStatus": "Canceled"})},
    {"filter": json.dumps({"ordStatus": ["Filled", "Canceled"]})},
    {"filter": json.dumps({"open": True})},
    {"startTime": iso_timestamp(2_000)},
    {"startTime": iso_timestamp(1_000), "endTime": iso_timestamp(2_000)},
    {"reverse": "true", "count": 2},
]
EXECUTION_PARAMS = [{"reverse": "true"}, {"reverse": "true", "count": 1}, {"startTime": iso_timestamp(2_000)}]


def test_h1_h2_h7_history_answers_what_the_listing_answers_over_every_row(tmp_path: Path) -> None:
    """Orders at 1,000 ms (cancelled), 2,000 ms (open) and 3,000 ms (filled): GET /order and GET /execution read
    indexes; each answer must equal the listing's semantics over every row built (and not be empty)."""
    now = [1_000]
    gateway = Gateway.open(str(tmp_path), clock=lambda: now[0])
    try:
        for account in (1, 2):
            gateway.verify(account)
            gateway.deposit(account, "XBt", 10**9)
        gateway.set_price("XBTUSD", 5_000_000)
        placed = gateway.execute(cmd.PlaceOrder(time_ms=1_000, account=1, symbol="XBTUSD", side="Buy", order_qty=100,
                                                price=4_000_000, cl_ord_id="gone"))
        gateway.execute(cmd.CancelOrder(time_ms=1_000, account=1, order_id=placed[-1].order_id))
        now[0] = 2_000
        gateway.execute(cmd.PlaceOrder(time_ms=2_000, account=1, symbol="XBTUSD", side="Buy", order_qty=100,
                                       price=4_000_000, cl_ord_id="live"))
        now[0] = 3_000
        gateway.execute(cmd.PlaceOrder(time_ms=3_000, account=2, symbol="XBTUSD", side="Sell", order_qty=100,
                                       price=5_000_000))
        gateway.execute(cmd.PlaceOrder(time_ms=3_000, account=1, symbol="XBTUSD", side="Buy", order_qty=100,
                                       price=5_000_000, cl_ord_id="done"))
        exchange, views = gateway.exchange, gateway.views
        instruments = exchange.instruments()
        every = [rows.order_row(instruments[r.symbol], r, exchange) for r in views.order_records(1)]
        wrong = []
        for params in ORDER_PARAMS:
            want = select_rows(params, every)
            if order_rows(read_listing(params), views, exchange, 1, None) != want or not want:
                wrong.append(("GET /order", params))
        history = views.executions.get(1, ())
        every_exec = [rows.execution_row(instruments[e.report.symbol], e) for e in history]
        for params in EXECUTION_PARAMS:
            want = select_rows(params, every_exec)
            if execution_rows(read_listing(params), views, exchange, 1, None, False) != want or not want:
                wrong.append(("GET /execution", params))
        assert wrong == []
    finally:
        gateway.close()

