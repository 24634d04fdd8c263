"""An account's order history does not make ``GET /order`` or ``DELETE /order`` by clOrdID cost its length
(redteam28_2).

serve remembers up to 20,000 orders per account.  ``GET /order`` built a row for every one before filtering and
paging (ccxt's ``fetch_open_orders``, ``filter={"open": true}``: 0.35-0.67 s with 20,000), and each clOrdID of a
``DELETE /order`` scanned the history (100 ids: 0.5-0.9 s), on the one loop that applies every command.  Now the
views index clOrdIDs and open orders per account, and the lists filter and page records before building rows.

The indexes are checked against a scan of the history (the old lookup, kept here as the oracle) after every step
of random order flows that rename, fill, cancel and forget orders.  Each test fails on 136ac3c.
"""

from __future__ import annotations

import json
import random
import urllib.parse
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core import commands as cmd
from perpspec.engine.serve import rows
from perpspec.engine.serve import views as views_module
from perpspec.engine.serve.gateway import Gateway, rebuild_views
from perpspec.engine.serve.views import OrderRecord, Views
from tests.serve_helpers import raw_request

XBT = 100_000_000


def _scan_by_cl_ord_id(views: Views, account: int, cl_ord_id: str) -> OrderRecord | None:
    """136ac3c's lookup: the newest open order with the clOrdID, else the newest with it."""
    found: OrderRecord | None = None
    for order_id in reversed(views.account_orders.get(account, ())):
        record = views.orders[order_id]
        if record.cl_ord_id == cl_ord_id:
            if record.is_open:
                return record
            found = found or record
    return found


def _check_indexes(views: Views, accounts: tuple[int, ...], names: list[str]) -> None:
    for account in accounts:
        history = [views.orders[i] for i in views.account_orders.get(account, ())]
        assert list(views.open_orders.get(account, {})) == [r.order_id for r in history if r.is_open]
        assert [r.order_id for r in views.order_records(account, newest_first=True)] == [
            r.order_id for r in reversed(history)]
        for name in names:
            assert views.order_by_cl_ord_id(account, name) is _scan_by_cl_ord_id(views, account, name), name
        filed = sorted(i for ids in views.cl_orders.get(account, {}).values() for i in ids)
        assert filed == sorted(r.order_id for r in history)  # nothing forgotten stays filed


@pytest.mark.parametrize("seed", range(4))
def test_the_indexes_agree_with_a_scan_of_the_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       seed: int) -> None:
    monkeypatch.setattr(views_module, "MAX_ORDERS_PER_ACCOUNT", 12)  # forgetting happens within the run
    rng = random.Random(seed)
    gateway = Gateway.open(str(tmp_path), clock=lambda: 1_000)
    for account in (1, 2):
        gateway.verify(account)
        gateway.deposit(account, "XBt", 10 * XBT)
    gateway.set_price("XBTUSD", 5_000_000)
    names = ["a", "b", "c", "", "d"]
    for _ in range(160):
        account = rng.choice((1, 2))
        live = list(gateway.views.open_orders.get(account, {}))
        roll = rng.random()
        if roll < 0.5 or not live:
            side = rng.choice(("Buy", "Sell"))
            price = rng.choice((4_999_500, 5_000_000, 5_000_500))
            gateway.execute(cmd.PlaceOrder(time_ms=1_000, account=account, symbol="XBTUSD", side=side,
                                           order_qty=rng.choice((100, 200)), price=price,
                                           time_in_force=rng.choice((None, "ImmediateOrCancel")),
                                           cl_ord_id=rng.choice(names)))
        elif roll < 0.7:
            gateway.execute(cmd.AmendOrder(time_ms=1_000, account=account, order_id=rng.choice(live),
                                           cl_ord_id=rng.choice(names)))
        elif roll < 0.95:
            gateway.execute(cmd.CancelOrder(time_ms=1_000, account=account, order_id=rng.choice(live)))
        else:
            gateway.execute(cmd.CancelAll(time_ms=1_000, account=account))
        _check_indexes(gateway.views, (1, 2), names)
    # the views rebuilt from the journal (a restart) have the same indexes
    fresh = Views()
    gateway.close()
    rebuild_views(str(tmp_path / "journal.log"), fresh)
    for account in (1, 2):
        assert fresh.open_orders.get(account, {}) == gateway.views.open_orders.get(account, {})
        assert fresh.cl_orders.get(account, {}) == gateway.views.cl_orders.get(account, {})
        assert fresh.cl_open.get(account, {}) == gateway.views.cl_open.get(account, {})


class _NoScan(deque[int]):
    """An account's history that refuses to be walked (a lookup must use the indexes)."""

    def __iter__(self) -> Any:
        raise AssertionError("the whole history was walked")

    def __reversed__(self) -> Any:
        raise AssertionError("the whole history was walked")


def _history(running: Any, size: int) -> None:
    gateway = running.server.gateway

    def build() -> None:
        for i in range(size):
            events = gateway.execute(cmd.PlaceOrder(time_ms=gateway.now_ms(), account=1, symbol="XBTUSD", side="Buy",
                                                    order_qty=100, price=4_000_000, cl_ord_id=f"k{i}"))
            gateway.execute(cmd.CancelOrder(time_ms=gateway.now_ms(), account=1, order_id=events[-1].order_id))
        gateway.execute(cmd.PlaceOrder(time_ms=gateway.now_ms(), account=1, symbol="XBTUSD", side="Buy",
                                       order_qty=100, price=4_000_000, cl_ord_id="live"))

    running.call(build)


def test_lists_build_only_the_rows_they_answer(served: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    running, keys = served
    _history(running, 1_500)
    built: list[str] = []
    order_row, execution_row = rows.order_row, rows.execution_row
    monkeypatch.setattr(rows, "order_row", lambda *a: built.append("order") or order_row(*a))
    monkeypatch.setattr(rows, "execution_row", lambda *a: built.append("execution") or execution_row(*a))

    def get(target: str) -> list[Any]:
        built.clear()
        status, data, _ = raw_request(running, "GET", target, key=keys["one"])
        assert status == 200, data
        assert isinstance(data, list)
        return data

    opened = get("/api/v1/order?" + urllib.parse.urlencode({"filter": json.dumps({"open": True})}))
    assert [r["clOrdID"] for r in opened] == ["live"]
    assert built == ["order"]
    newest = get("/api/v1/order?count=5&reverse=true")
    assert [r["clOrdID"] for r in newest] == ["live", "k1499", "k1498", "k1497", "k1496"]
    assert len(built) == 5
    page = get("/api/v1/order?count=3&start=2&symbol=XBTUSD")
    assert [r["clOrdID"] for r in page] == ["k2", "k3", "k4"]
    assert len(built) == 5
    filtered = get("/api/v1/order?" + urllib.parse.urlencode({"filter": json.dumps({"clOrdID": "k700"})}))
    assert [(r["clOrdID"], r["ordStatus"]) for r in filtered] == [("k700", "Canceled")]
    assert len(built) == 1
    priced = get("/api/v1/order?count=2&" + urllib.parse.urlencode({"filter": json.dumps({"price": 40000})}))
    assert [(r["clOrdID"], r["price"]) for r in priced] == [("k0", 40_000), ("k1", 40_000)]
    assert len(built) == 2
    assert get("/api/v1/order?" + urllib.parse.urlencode({"filter": json.dumps({"price": 40000.5})})) == []
    assert built == []
    executions = get("/api/v1/execution?count=4&reverse=true")
    assert len(executions) == 4
    assert len(built) == 4
    assert get("/api/v1/execution/tradeHistory?count=4") == []  # nothing traded
    assert built == []


def test_delete_and_amend_by_clordid_do_not_walk_the_history(served: Any) -> None:
    running, keys = served
    _history(running, 50)
    views = running.server.gateway.views
    running.call(lambda: views.account_orders.__setitem__(1, _NoScan(views.account_orders[1])))
    amend = json.dumps({"origClOrdID": "live", "price": 41_000}).encode()
    status, row, _ = raw_request(running, "PUT", "/api/v1/order", amend, keys["one"])
    assert status == 200, row
    assert (row["clOrdID"], row["price"]) == ("live", 41_000)
    body = json.dumps({"clOrdID": [f"none{i}" for i in range(98)] + ["k7", "live"]}).encode()
    status, answer, _ = raw_request(running, "DELETE", "/api/v1/order", body, keys["one"])
    assert status == 200, answer
    assert [r.get("ordStatus") for r in answer[-2:]] == ["Canceled", "Canceled"]
    assert "existing state" in answer[-2]["error"]  # k7 was closed already
    assert "error" not in answer[-1]
    assert all(r["ordRejReason"] == "Invalid clOrdID" for r in answer[:98])
