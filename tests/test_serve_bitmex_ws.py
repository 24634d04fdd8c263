"""The PyPI ``bitmex-ws`` 1.5.0 client (query-string subscribe, header auth) on ``perpspec serve``.

bitmex-ws pins websocket-client and installs top-level modules (``util``, ``main``), so it lives in
the ``test`` extra (and alone in ``bitmex-ws``); without it this module is skipped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")
bitmex_websocket = pytest.importorskip("bitmex_websocket")

from perpspec.engine.serve.keys import ApiKey  # noqa: E402
from perpspec.engine.serve.server import Running  # noqa: E402
from tests.serve_helpers import ccxt_client, iterate, start_server  # noqa: E402

Served = tuple[Running, dict[str, ApiKey]]
INV = "BTC/USD:BTC"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    running, keys = start_server(Path(tmp_path_factory.mktemp("serve-bitmex-ws")))
    for _ in iterate(running):
        yield running, keys


def connect(running: Running, key: ApiKey) -> Any:
    """The client's constructor blocks (no timeout) until its partials arrive: run it with one."""
    made: dict[str, Any] = {}

    def build() -> None:
        made["ws"] = bitmex_websocket.BitMEXWebsocket(
            endpoint=running.ws_url, symbol="XBTUSD", api_key=key.key_id, api_secret=key.secret
        )

    thread = threading.Thread(target=build, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert "ws" in made, "bitmex-ws never received its partials"
    return made["ws"]


def wait_for(condition: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_bitmex_ws_sees_ticker_depth_orders_positions_and_funds(served: Served) -> None:
    running, keys = served
    one, two = ccxt_client(running, keys["one"]), ccxt_client(running, keys["two"])
    two.create_order(INV, "limit", "sell", 100, 50000)
    one.create_order(INV, "market", "buy", 100)  # a trade: get_ticker() needs a non-empty trade partial
    client = connect(running, keys["one"])
    try:
        assert client.get_instrument()["symbol"] == "XBTUSD"
        assert client.get_ticker()["last"] == 50000.0
        assert client.funds()["currency"] in ("XBt", "USDt")
        assert [p["currentQty"] for p in client.positions() if p["symbol"] == "XBTUSD"] == [100]
        order = one.create_order(INV, "limit", "buy", 200, 44000, {"clOrdID": "bmws-1"})
        wait_for(lambda: [o["orderID"] for o in client.open_orders("bmws-")] == [order["id"]])
        wait_for(lambda: any(level["price"] == 44000 and level["side"] == "Buy" for level in client.market_depth()))
        one.cancel_order(order["id"], INV)
        wait_for(lambda: client.open_orders("bmws-") == [])
        wait_for(lambda: not any(level["price"] == 44000 for level in client.market_depth()))
    finally:
        client.exit()
