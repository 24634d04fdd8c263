"""Attack review of ``perpspec serve``: deeply nested JSON parameters and a subscribe with thousands of topics.

Found by the session-5 integrity review:

* ``GET /api/v1/order?filter=[[[[...]]]]`` (1,100 levels, well inside the URL
  limit) made the JSON parser raise ``RecursionError``, which the parameter
  reader did not catch: a 500 ``Server Error`` with a logged traceback instead
  of BitMEX's 400 (the same for ``columns`` and an ``orderID`` list).  The body
  parser already caught it.
* A WebSocket subscribe answers each topic with a message that echoes the whole
  request (as BitMEX does).  One 16 KB message of about 4,000 topics made the
  server encode 4,000 copies of itself (about 0.4 CPU-s on the event loop that
  also runs the exchange) and queue them until the client's 16 MB budget
  overflowed; encoding went on after the overflow.  A request can never hold
  more topics than a connection may subscribe to (``max_ws_subscriptions``), so
  a longer list is now one 400, and nothing is encoded for a client already cut off.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from perpspec.engine.serve import ws
from perpspec.engine.serve.errors import ApiError
from perpspec.engine.serve.rest import ServerConfig, select
from perpspec.engine.serve.ws import Connection, _on_text

DEEP = "[" * 1_100 + "]" * 1_100  # deeper than the JSON parser recurses, shorter than the 4,096-character cap


@pytest.mark.parametrize("name", ["filter", "columns"])
def test_a_deeply_nested_list_parameter_is_a_400_not_a_server_error(name: str) -> None:
    ctx = SimpleNamespace(params={name: DEEP})
    with pytest.raises(ApiError) as refused:
        select(ctx, [])  # type: ignore[arg-type]
    assert (refused.value.status, str(refused.value)) == (400, f"'{name}' is not valid JSON")


def _server() -> SimpleNamespace:
    return SimpleNamespace(config=ServerConfig(), gateway=SimpleNamespace(hub=None))


def _queued(conn: Connection) -> list[dict[str, object]]:
    out = []
    while not conn.queue.empty():
        text = conn.queue.get_nowait()
        assert text is not None
        out.append(json.loads(text))
    return out


@pytest.mark.parametrize("op", ["subscribe", "unsubscribe"])
def test_a_request_with_more_topics_than_a_connection_may_hold_is_one_400(op: str) -> None:
    conn = Connection(None, capacity=10_000)  # type: ignore[arg-type]
    request = json.dumps({"op": op, "args": ["x"] * 4_000})
    _on_text(_server(), conn, request)
    assert _queued(conn) == [
        {"status": 400, "error": "Too many topics in one request (at most 100)", "request": {"op": op}}
    ]
    assert (conn.overflowed, conn.topics) == (False, set())


def test_a_request_of_exactly_the_subscription_limit_is_answered_topic_by_topic() -> None:
    conn = Connection(None, capacity=10_000)  # type: ignore[arg-type]
    _on_text(_server(), conn, json.dumps({"op": "subscribe", "args": ["nosuchtable"] * 100}))
    answers = _queued(conn)
    assert len(answers) == 100
    assert answers[0]["error"] == "Unknown table: nosuchtable"


def test_nothing_is_encoded_for_a_connection_that_overflowed(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: list[object] = []

    def counting(value: object) -> str:
        encoded.append(value)
        return json.dumps(value)

    monkeypatch.setattr(ws, "encode_json", counting)
    conn = Connection(None, capacity=1)  # type: ignore[arg-type]
    conn.send({"a": 1})
    conn.send({"b": 2})  # over capacity: the client is cut off
    assert conn.overflowed
    conn.send({"c": 3})
    assert encoded == [{"a": 1}, {"b": 2}]
