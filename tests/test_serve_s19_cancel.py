"""``DELETE /order`` with ids some of which the account cannot cancel (note18_final §4): BitMEX's batch contract.

BitMEX answers ``DELETE /order`` (one ``orderID`` or a list) with one row per id: the orders it could cancel as
``Canceled`` rows, a known order no longer open as its row with ``error`` "Unable to cancel order due to existing
state: <ordStatus>" (reference §3/§6, HTTP 200), and an id it cannot find as a ``Rejected`` row with ``ordRejReason``
"Invalid orderID" (nautilus_trader's recorded BitMEX answer, ``http_cancel_all_close_race.json``).  Serve answered
404 for the whole batch when one id was unknown, so the other orders stayed live while the client was told nothing
was cancelled.  ccxt 4.5.83: ``cancel_orders`` parses every row; ``cancel_order`` raises OrderNotFound only on the
"existing state" text, and returns the parsed row otherwise (``status`` "rejected" for an unknown id).
"""

from __future__ import annotations

from typing import Any

import pytest

ccxt = pytest.importorskip("ccxt")

from tests.serve_helpers import ccxt_client, state  # noqa: E402

INV = "BTC/USD:BTC"
UNKNOWN = "00000000-0000-4000-8000-00000000ffff"


def test_cancel_orders_with_an_unknown_id_cancels_the_others(served: Any) -> None:
    running, keys = served
    one = ccxt_client(running, keys["one"])
    one.load_markets()
    first = one.create_order(INV, "limit", "buy", 100, 41000)
    second = one.create_order(INV, "limit", "buy", 100, 41500)
    cancelled = one.cancel_orders([first["id"], UNKNOWN, second["id"]], INV)
    assert [(o["id"], o["status"]) for o in cancelled] == [
        (first["id"], "canceled"), (UNKNOWN, "rejected"), (second["id"], "canceled")]
    assert cancelled[1]["info"]["error"] == "Unable to cancel order: Not found or not owned by user"
    assert one.fetch_open_orders(INV) == []


def test_another_accounts_order_is_rowed_as_unknown_and_left_alone(served: Any) -> None:
    running, keys = served
    one, two = ccxt_client(running, keys["one"]), ccxt_client(running, keys["two"])
    one.load_markets()
    mine = one.create_order(INV, "limit", "buy", 100, 41000)
    theirs = two.create_order(INV, "limit", "buy", 100, 41500)
    before = state(running)
    (row,) = one.cancel_orders([theirs["id"]], INV)
    assert (row["id"], row["status"], row["info"]["account"]) == (theirs["id"], "rejected", 0)
    assert {"symbol", "side", "price", "orderQty"}.isdisjoint(row["info"])  # nothing of the other account's order
    assert state(running) == before
    assert two.fetch_order(theirs["id"], INV)["status"] == "open"
    assert [o["status"] for o in one.cancel_orders([mine["id"], theirs["id"]], INV)] == ["canceled", "rejected"]
    assert two.fetch_order(theirs["id"], INV)["status"] == "open"


def test_a_closed_order_in_the_batch_keeps_its_existing_state_row(served: Any) -> None:
    running, keys = served
    one = ccxt_client(running, keys["one"])
    one.load_markets()
    done = one.create_order(INV, "limit", "buy", 100, 41000)
    one.cancel_order(done["id"], INV)
    live = one.create_order(INV, "limit", "buy", 100, 41500)
    rows = one.cancel_orders([done["id"], live["id"]], INV)
    assert [(o["id"], o["status"], o["info"].get("error")) for o in rows] == [
        (done["id"], "canceled", "Unable to cancel order due to existing state: Canceled"),
        (live["id"], "canceled", None)]
    with pytest.raises(ccxt.OrderNotFound):  # ccxt's cancel_order maps the existing-state row, as on BitMEX
        one.cancel_order(done["id"], INV)
    # one unknown id alone: a row, as on BitMEX (the parsed row is rejected; no 404 for the request)
    assert one.cancel_order(UNKNOWN, INV)["status"] == "rejected"
