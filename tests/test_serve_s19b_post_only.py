"""A post-only order (execInst ParticipateDoNotInitiate) that would trade is cancelled, as BitMEX cancels it.

BitMEX answers HTTP 200 with the order, ordStatus Canceled, text "Canceled: Order had execInst of
ParticipateDoNotInitiate" (ccxt issue #4808 shows the POST /order answer; a BitMEX bot's lib/orders.js matches that
text on both POST and PUT /order answers of 200), so ccxt returns a canceled order and raises nothing.  Serve placed
it that way but with the engine's text, and answered an amend that would make a resting post-only order trade with
400 "ParticipateDoNotInitiateWouldTrade: ..." (ccxt BadRequest), leaving the order live at its old price.  The engine
refuses that amend and changes nothing (tested below); serve then cancels the order, and its rows -- REST, the
execution row, and the views rebuilt from the journal -- carry BitMEX's text.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ccxt = pytest.importorskip("ccxt")

from perpspec.engine.core import commands as cmd  # noqa: E402
from perpspec.engine.core.events import Reason, Rejected  # noqa: E402
from perpspec.engine.core.exchange import Engine  # noqa: E402
from perpspec.engine.durability.recovery import JOURNAL_NAME  # noqa: E402
from perpspec.engine.serve.gateway import rebuild_views  # noqa: E402
from perpspec.engine.serve.server import Running  # noqa: E402
from perpspec.engine.serve.views import Views  # noqa: E402
from tests.serve_helpers import ccxt_client, start_server, state  # noqa: E402

INV = "BTC/USD:BTC"
BITMEX_TEXT = "Canceled: Order had execInst of ParticipateDoNotInitiate"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Running, dict[str, Any], Path]]:
    running, keys = start_server(tmp_path)
    try:
        yield running, keys, tmp_path
    finally:
        running.stop()


def test_a_post_only_order_that_would_trade_comes_back_canceled_with_bitmex_s_text(served: Any) -> None:
    running, keys, _store = served
    one, two = ccxt_client(running, keys["one"]), ccxt_client(running, keys["two"])
    two.create_order(INV, "limit", "sell", 100, 50_000)
    order = one.create_order(INV, "limit", "buy", 100, 50_000, {"postOnly": True})
    assert (order["status"], order["postOnly"], order["info"]["text"]) == ("canceled", True, BITMEX_TEXT)
    assert all(p["contracts"] in (0, None) for p in one.fetch_positions([INV]))  # nothing traded


def test_an_amend_that_would_make_a_post_only_order_trade_cancels_it_as_bitmex(served: Any) -> None:
    running, keys, store = served
    one, two = ccxt_client(running, keys["one"]), ccxt_client(running, keys["two"])
    two.create_order(INV, "limit", "sell", 100, 50_000)
    resting = one.create_order(INV, "limit", "buy", 100, 49_000, {"postOnly": True})
    assert resting["status"] == "open"
    gateway = running.server.gateway
    before = state(running)
    # the engine refuses the amend and changes nothing (the refusal serve turns into BitMEX's cancel)
    probe = cmd.AmendOrder(time_ms=0, account=1, order_id=int(resting["id"].rsplit("-", 1)[1], 16), price=5_000_000)
    copy = running.call(lambda: Engine.from_snapshot(gateway.exchange.snapshot()))
    refused = copy.process(probe._replace(time_ms=copy.time_ms))
    assert isinstance(refused[-1], Rejected)
    assert refused[-1].reason is Reason.POST_ONLY_WOULD_TRADE
    assert state(running) == before
    number = int(resting["id"].rsplit("-", 1)[1], 16)
    assert (copy.live_orders[number].price, copy.live_orders[number].leaves_qty) == (4_900_000, 100)
    edited = one.edit_order(resting["id"], INV, "limit", "buy", 100, 50_000)  # was ccxt.BadRequest
    assert (edited["id"], edited["status"], edited["price"], edited["info"]["text"]) == (
        resting["id"], "canceled", 49_000, BITMEX_TEXT)
    assert one.fetch_order(resting["id"], INV)["info"]["text"] == BITMEX_TEXT
    assert one.fetch_open_orders(INV) == []
    assert two.fetch_open_orders(INV)[0]["remaining"] == 100  # nothing traded
    executions = running.call(lambda: [e.text for e in gateway.views.executions[1]])
    assert executions[-1] == BITMEX_TEXT
    rebuilt = Views()
    rebuild_views(os.path.join(store, JOURNAL_NAME), rebuilt)  # a restart shows the same text
    record = rebuilt.orders[int(resting["id"].rsplit("-", 1)[1], 16)]
    assert (record.ord_status, record.text, rebuilt.post_only_refused) == ("Canceled", BITMEX_TEXT, set())
