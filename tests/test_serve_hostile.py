"""Hostile requests to ``perpspec serve``: typed BitMEX errors, no state change, the server stays up."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")

from perpspec.engine.serve.keys import ApiKey, sign
from perpspec.engine.serve.server import Running
from tests.serve_helpers import iterate, raw_request, start_server, state

Served = tuple[Running, dict[str, ApiKey]]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    running, keys = start_server(Path(tmp_path_factory.mktemp("serve-hostile")), max_body_bytes=64 * 1024)
    for _ in iterate(running):
        yield running, keys


GOOD = {"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": 40000, "ordType": "Limit"}

BAD_BODIES = [
    (b'{"symbol": "XBTUSD", "side": "Buy", ', "Malformed JSON body"),
    (b"[1, 2, 3]", "The JSON body must be an object"),
    (b'{"symbol": "XBTUSD", "orderQty": NaN}', "Malformed JSON body"),
    (b"\xff\xfe{}", "Malformed JSON body"),
    (b'{"symbol": "XBTUSD", "orderQty": ' + b"9" * 5000 + b"}", "Malformed JSON body"),
    (b"[" * 100_00 + b"]" * 100_00, "Malformed JSON body"),
]

WRONG_FIELDS = [
    ({"orderQty": "abc"}, "orderQty is invalid"),
    ({"orderQty": True}, "orderQty is invalid"),
    ({"orderQty": [100]}, "orderQty is invalid"),
    ({"orderQty": 10**30}, "orderQty is invalid"),
    ({"orderQty": 100.5}, "orderQty is invalid"),
    ({"price": {"a": 1}}, "Invalid price"),
    ({"price": "1e400"}, "Invalid price"),
    ({"price": 40000.123}, "Invalid price tickSize"),  # finer than the tick: BitMEX's text (ccxt: BadRequest)
    ({"price": "9" * 100}, "Invalid price"),
    ({"stopPx": [1]}, "Invalid stopPx for ordType"),
    ({"symbol": 5}, "Invalid symbol"),
    ({"symbol": "NOPE"}, "Invalid symbol"),
    ({"side": 7}, "Invalid side"),
    ({"clOrdID": {"x": 1}}, "Invalid clOrdID"),
    ({"clOrdID": "\u0000123"}, "Invalid clOrdID"),  # a NUL-led text must never come back as a bare number
    ({"clOrdID": "a\nb"}, "Invalid clOrdID"),
    ({"ordType": "x" * 1000}, "Invalid ordType"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_malformed_body_is_a_400_and_changes_nothing(served: Served, body: bytes, message: str) -> None:
    running, keys = served
    before = state(running)
    status, answer, _ = raw_request(running, "POST", "/api/v1/order", body, keys["one"])
    assert (status, answer["error"]["message"]) == (400, message)
    assert state(running) == before


@pytest.mark.parametrize(("change", "message"), WRONG_FIELDS, ids=[str(c) for c, _ in WRONG_FIELDS])
def test_wrong_field_type_is_a_400_and_changes_nothing(served: Served, change: dict[str, object], message: str) -> None:
    running, keys = served
    before = state(running)
    body = json.dumps({**GOOD, **change}).encode()
    status, answer, _ = raw_request(running, "POST", "/api/v1/order", body, keys["one"])
    assert (status, answer["error"]["message"], answer["error"]["name"]) == (400, message, "ValidationError")
    assert state(running) == before


def test_form_bodies_are_parsed_and_signed_over_their_raw_bytes(served: Served) -> None:
    running, keys = served
    body = b"symbol=XBTUSD&side=Buy&orderQty=100&price=40000.5&ordType=Limit"
    status, order, _ = raw_request(running, "POST", "/api/v1/order", body, keys["one"],
                                   content_type="application/x-www-form-urlencoded")
    assert (status, order["price"], order["ordStatus"]) == (200, 40000.5, "New")
    cancel = json.dumps({"orderID": order["orderID"]}).encode()
    status, rows, _ = raw_request(running, "DELETE", "/api/v1/order", cancel, keys["one"])
    assert (status, rows[0]["ordStatus"]) == (200, "Canceled")


def test_body_larger_than_the_limit_is_refused_with_a_json_error(served: Served) -> None:
    running, keys = served
    before = state(running)
    body = json.dumps({**GOOD, "text": "x" * 200_000}).encode()
    status, answer, _ = raw_request(running, "POST", "/api/v1/order", body, keys["one"])
    assert status == 413
    assert answer["error"]["name"] == "HTTPError"
    assert state(running) == before


def test_expired_signature_is_refused(served: Served) -> None:
    running, keys = served
    before = state(running)
    status, answer, _ = raw_request(running, "POST", "/api/v1/order", json.dumps(GOOD).encode(), keys["one"],
                                    expires=int(time.time()) - 10)
    assert status == 401
    assert answer["error"]["message"].startswith("This request has expired")
    assert state(running) == before


def test_identical_signed_orders_are_both_executed_as_on_bitmex(served: Served) -> None:
    """BitMEX's contract is expiry only: the same signed order twice (one second, one ``api-expires``) is two orders
    (redteam21_8; the replay guard keeps to withdrawals, test_serve_s18)."""
    running, keys = served
    key = keys["one"]
    body = json.dumps({**GOOD, "clOrdID": ""}).encode()
    expires = str(int(time.time()) + 30)
    headers = {"api-key": key.key_id, "api-expires": expires,
               "api-signature": sign(key.secret, "POST", "/api/v1/order", expires, body)}
    first = raw_request(running, "POST", "/api/v1/order", body, headers=headers)
    second = raw_request(running, "POST", "/api/v1/order", body, headers=headers)
    assert (first[0], second[0]) == (200, 200), second
    assert first[1]["orderID"] != second[1]["orderID"]
    for answer in (first, second):
        raw_request(running, "DELETE", "/api/v1/order", json.dumps({"orderID": answer[1]["orderID"]}).encode(), key)


def test_signature_over_another_path_or_body_is_refused(served: Served) -> None:
    running, keys = served
    key = keys["one"]
    body = json.dumps(GOOD).encode()
    expires = str(int(time.time()) + 30)
    for verb, path, signed_body in (("POST", "/api/v1/order?x=1", body), ("POST", "/api/v1/order", body + b" ")):
        headers = {"api-key": key.key_id, "api-expires": expires,
                   "api-signature": sign(key.secret, verb, path, expires, signed_body)}
        status, answer, _ = raw_request(running, "POST", "/api/v1/order", body, headers=headers)
        assert (status, answer["error"]["message"]) == (401, "Signature not valid.")


def test_unknown_key_and_missing_key(served: Served) -> None:
    running, _ = served
    headers = {"api-key": "nobody", "api-expires": str(int(time.time()) + 5), "api-signature": "0" * 64}
    status, answer, _ = raw_request(running, "GET", "/api/v1/position", headers=headers)
    assert (status, answer["error"]["message"]) == (401, "Invalid API Key.")
    status, answer, _ = raw_request(running, "GET", "/api/v1/position")
    assert (status, answer["error"]["message"]) == (401, "Invalid API Key.")


def test_unknown_paths_and_ids_are_typed_errors(served: Served) -> None:
    running, keys = served
    status, answer, _ = raw_request(running, "GET", "/api/v1/nothing/here")
    assert (status, answer["error"]["message"]) == (404, "Not Found")
    body = json.dumps({"orderID": "00000000-0000-4000-8000-00000000ffff"}).encode()
    status, answer, _ = raw_request(running, "DELETE", "/api/v1/order", body, keys["one"])
    assert (status, answer[0]["ordStatus"], answer[0]["ordRejReason"]) == (200, "Rejected", "Invalid orderID")
    status, answer, _ = raw_request(running, "GET", "/api/v1/order?filter=%7Bnot-json", key=keys["one"])
    assert (status, answer["error"]["message"]) == (400, "'filter' is not valid JSON")


def test_admin_endpoints_refuse_api_keys(served: Served) -> None:
    running, keys = served
    before = state(running)
    body = json.dumps({"account": 1, "currency": "XBt", "amount": 10**8}).encode()
    status, answer, _ = raw_request(running, "POST", "/api/v1/admin/deposit", body, keys["one"])
    assert (status, answer["error"]["message"]) == (403, "Access Denied")
    assert state(running) == before


def test_the_server_still_answers_after_all_of_it(served: Served) -> None:
    running, _ = served
    status, rows, _ = raw_request(running, "GET", "/api/v1/instrument?symbol=XBTUSD")
    assert (status, rows[0]["symbol"]) == (200, "XBTUSD")


def test_rate_limit_answers_429_json_with_bitmex_headers(tmp_path: Path) -> None:
    ccxt = pytest.importorskip("ccxt")
    from tests.serve_helpers import ccxt_client

    running, keys = start_server(tmp_path, rate_limit_per_minute=3)  # a fresh server: its own buckets
    try:
        answers = [raw_request(running, "GET", "/api/v1/position", key=keys["one"]) for _ in range(4)]
        assert [a[0] for a in answers] == [200, 200, 200, 429]
        assert [a[2]["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert answers[3][1]["error"]["name"] == "RateLimitError"
        assert int(answers[3][2]["Retry-After"]) >= 1
        with pytest.raises(ccxt.DDoSProtection):
            ccxt_client(running, keys["one"]).fetch_positions()
    finally:
        running.stop()


ENDPOINTS = [
    ("POST", "/api/v1/order", dict(GOOD)),
    ("PUT", "/api/v1/order", {"orderID": "00000000-0000-4000-8000-000000000001", "orderQty": 200, "price": 41000}),
    ("DELETE", "/api/v1/order", {"orderID": "00000000-0000-4000-8000-000000000001"}),
    ("DELETE", "/api/v1/order/all", {"symbol": "XBTUSD", "filter": {"side": "Buy"}}),
    ("POST", "/api/v1/order/cancelAllAfter", {"timeout": 60000}),
    ("POST", "/api/v1/position/leverage", {"symbol": "XBTUSD", "leverage": 10}),
    ("POST", "/api/v1/position/isolate", {"symbol": "XBTUSD", "enabled": True}),
    ("POST", "/api/v1/position/transferMargin", {"symbol": "XBTUSD", "amount": 1000}),
    ("POST", "/api/v1/position/riskLimit", {"symbol": "XBTUSD", "riskLimit": 20000000000}),
]
# (null and "" mean "absent" to BitMEX, and 0 or -1 can be meaningful: leverage 0 is cross margin)
HOSTILE_VALUES = [True, False, [], {}, [1, 2], {"$gt": 0}, "x" * 5000, -(10**40), 10**40, "NaN", "Infinity", "1e9",
                  12.345678901234567, "\u0000", "../../etc/passwd"]


def _view(running: Running, key: ApiKey) -> tuple[object, ...]:
    """Everything the account can see (orders, positions, margin): a hostile request must not move it."""
    out = []
    for path in ("/api/v1/order?count=1000", "/api/v1/position", "/api/v1/user/margin?currency=all"):
        status, rows, _ = raw_request(running, "GET", path, key=key)
        assert status == 200
        for row in rows if isinstance(rows, list) else [rows]:
            row.pop("timestamp", None)
        out.append(json.dumps(rows, sort_keys=True))
    return tuple(out)


@pytest.mark.parametrize(("verb", "path", "body"), ENDPOINTS, ids=[f"{v} {p}" for v, p, _ in ENDPOINTS])
def test_every_field_with_a_hostile_value_is_a_typed_error_and_moves_nothing(
    served: Served, verb: str, path: str, body: dict[str, object]
) -> None:
    running, keys = served
    before = _view(running, keys["two"])
    answers = set()
    accepted = set()
    for field in body:
        for value in HOSTILE_VALUES:
            data = json.dumps({**body, field: value}).encode()
            status, answer, _ = raw_request(running, verb, path, data, keys["two"])
            if status == 200:
                accepted.add((field, json.dumps(value)))
                continue
            assert 400 <= status < 500, (field, value, status, answer)
            assert (set(answer), set(answer["error"])) == ({"error"}, {"message", "name"}), answer
            answers.add(status)
    assert accepted <= LEGITIMATE.get(path, set())
    if not accepted:
        assert _view(running, keys["two"]) == before
    assert answers  # something was refused


# values of the list above that an endpoint rightly accepts (a boolean where a boolean belongs)
LEGITIMATE = {
    "/api/v1/position/isolate": {("enabled", "true"), ("enabled", "false")},
    "/api/v1/order/all": {("filter", "{}")},
}


def test_withdrawal_needs_the_withdraw_permission_and_never_takes_margin_in_use(tmp_path: Path) -> None:
    running, keys = start_server(tmp_path)
    try:
        body = json.dumps({"currency": "XBt", "amount": 100_000_000}).encode()
        status, answer, _ = raw_request(running, "POST", "/api/v1/user/requestWithdrawal", body, keys["one"])
        assert (status, answer["error"]["message"]) == (403, "Access Denied")
        withdrawer = running.call(running.server.keys.create, 1, ["read", "withdraw"])
        running.call(running.server.keys.save)
        status, answer, _ = raw_request(running, "POST", "/api/v1/user/requestWithdrawal", body, withdrawer)
        assert (status, answer["amount"]) == (200, -100_000_000)
        too_much = json.dumps({"currency": "XBt", "amount": 100 * 100_000_000}).encode()
        status, answer, _ = raw_request(running, "POST", "/api/v1/user/requestWithdrawal", too_much, withdrawer)
        assert status == 400
        assert "insufficient Available Balance" in answer["error"]["message"]
        status, wallet, _ = raw_request(running, "GET", "/api/v1/user/wallet?currency=XBt", key=withdrawer)
        assert wallet["amount"] == 9 * 100_000_000
    finally:
        running.stop()


def test_replay_guard_forgets_only_expired_signatures() -> None:
    from perpspec.engine.serve.keys import ReplayGuard

    guard = ReplayGuard(capacity=2)
    assert guard.admit("a", expires_s=100, now_s=90)
    assert not guard.admit("a", expires_s=100, now_s=91)  # a replay inside its window
    assert guard.admit("b", expires_s=200, now_s=91)
    assert not guard.admit("c", expires_s=300, now_s=95)  # full of live signatures: refuse, never forget one
    assert guard.admit("c", expires_s=300, now_s=101)  # "a" expired and made room
    guard.prune(250)
    assert guard.admit("b", expires_s=260, now_s=250) is True  # "b" expired at 200: its bytes are stale anyway


def test_non_ascii_digits_in_api_expires_are_a_401_not_a_server_error(served: Served) -> None:
    running, keys = served
    before = state(running)
    for expires in ("\u00c2\u00b2", "\u00b2"):  # UTF-8 and latin-1 bytes of '²': isdigit() but not int()
        headers = {"api-key": keys["one"].key_id, "api-expires": expires, "api-signature": "0" * 64}
        status, answer, _ = raw_request(running, "POST", "/api/v1/order", json.dumps(GOOD).encode(), headers=headers)
        assert (status, answer["error"]["message"]) == (401, "Signature not valid.")
    assert state(running) == before


def test_a_key_over_its_rate_limit_cannot_fill_the_replay_guard_and_lock_out_other_keys(tmp_path: Path) -> None:
    from perpspec.engine.serve.keys import ReplayGuard

    running, _keys = start_server(tmp_path, rate_limit_per_minute=2)
    try:
        running.server.guard = ReplayGuard(capacity=5)  # fail closed when full (unexpired signatures are kept)
        one = running.call(running.server.keys.create, 1, ["read", "withdraw"])
        two = running.call(running.server.keys.create, 2, ["read", "withdraw"])
        running.call(running.server.keys.save)
        target = "/api/v1/user/requestWithdrawal"  # the guard's route since redteam21_8: money leaves the account
        flood = [raw_request(running, "POST", target, json.dumps({"currency": "XBt", "amount": 1000 + n}).encode(),
                             one, expires=int(time.time()) + 3600)[0] for n in range(10)]
        assert flood == [200, 200] + [429] * 8
        status, answer, _ = raw_request(running, "POST", target, json.dumps({"currency": "XBt", "amount": 1000}).encode(),
                                        two)
        assert status == 200, answer
    finally:
        running.stop()


def test_a_request_the_key_may_not_make_still_costs_it_a_request(tmp_path: Path) -> None:
    """A read-only key's refused mutations are rate-limited like any request (session 14, redteam8).

    The 403 used to come before the key's bucket was charged: a key without the ``order`` permission could send
    mutations without limit, each costing the server an HMAC check and a refusal.  BitMEX counts every request.
    """
    running, _keys = start_server(tmp_path, rate_limit_per_minute=3)
    try:
        reader = running.call(running.server.keys.create, 1, ["read"])
        running.call(running.server.keys.save)
        statuses = [raw_request(running, "POST", "/api/v1/order", json.dumps(GOOD).encode(), reader)[0]
                    for _ in range(6)]
        assert statuses == [403, 403, 403, 429, 429, 429]  # old code: six 403s, never limited
    finally:
        running.stop()
