"""``perpspec keys`` and ``perpspec serve`` options, the Swagger spec and the default price feed."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")

from perpspec.engine.cli.main import main
from perpspec.engine.serve.feed import PriceFeed
from perpspec.engine.serve.server import keys_path
from tests.serve_helpers import raw_request, start_server


def test_keys_create_list_revoke_with_an_owner_only_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    assert main(["keys", "create", "--account", "7", "--permissions", "read", "--store", store, "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert (created["account"], created["permissions"], len(created["secret"])) == (7, "read", 48)
    assert stat.S_IMODE(os.stat(keys_path(store)).st_mode) == 0o600
    assert main(["keys", "list", "--store", store, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [{"id": created["id"], "account": 7, "permissions": ["read"], "enabled": True}]
    assert main(["keys", "revoke", created["id"], "--store", store]) == 0
    capsys.readouterr()
    assert main(["keys", "list", "--store", store, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_keys_refuse_unknown_permissions_and_a_store_others_can_read(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    assert main(["keys", "create", "--account", "1", "--permissions", "read,admin", "--store", store]) == 2
    assert main(["keys", "create", "--account", "1", "--store", store]) == 0
    os.chmod(keys_path(store), 0o644)
    assert main(["keys", "list", "--store", store]) == 2


def test_a_revoked_key_stops_working_on_the_running_server(tmp_path: Path) -> None:
    running, keys = start_server(tmp_path)
    try:
        assert raw_request(running, "GET", "/api/v1/position", key=keys["one"])[0] == 200
        assert main(["keys", "revoke", keys["one"].key_id, "--store", str(tmp_path)]) == 0
        status, answer, _ = raw_request(running, "GET", "/api/v1/position", key=keys["one"])
        assert (status, answer["error"]["message"]) == (401, "Invalid API Key.")
        assert raw_request(running, "GET", "/api/v1/position", key=keys["two"])[0] == 200
    finally:
        running.stop()


def test_serve_refuses_a_non_loopback_address(tmp_path: Path) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--store", str(tmp_path)]) == 2


def test_swagger_spec_is_generated_from_the_route_table(tmp_path: Path) -> None:
    running, _ = start_server(tmp_path)
    try:
        status, spec, _ = raw_request(running, "GET", "/api/explorer/swagger.json")
    finally:
        running.stop()
    assert (status, spec["swagger"], spec["basePath"]) == (200, "2.0", "/api/v1")
    new = spec["paths"]["/order"]["post"]
    assert new["operationId"] == "Order.new"
    assert {p["name"]: p["in"] for p in new["parameters"]}["orderQty"] == "formData"
    assert "/admin/deposit" not in spec["paths"]


def test_price_feed_marks_every_instrument_from_the_scenario_path(tmp_path: Path) -> None:
    running, _ = start_server(tmp_path)
    try:
        feed = PriceFeed(running.server.gateway, "calm", speed=60)
        prices = feed.prices_at(0)
        running.call(feed.apply, 0)
        status, rows, _ = raw_request(running, "GET", "/api/v1/instrument/active")
    finally:
        running.stop()
    assert prices["XBTUSD"] == feed.path[0]
    assert sorted(prices) == ["ETHUSD", "XBTUSD", "XBTUSDT", "XBTZ26"]
    assert status == 200
    assert {row["symbol"]: row["markPrice"] for row in rows}["XBTUSD"] * 100 == feed.path[0]


def test_price_feed_funds_perpetuals_at_the_funding_instant(tmp_path: Path) -> None:
    pytest.importorskip("ccxt")
    from tests.serve_helpers import ccxt_client

    running, keys = start_server(tmp_path)
    try:
        feed = PriceFeed(running.server.gateway, "calm", speed=60)
        now = running.call(running.server.gateway.now_ms)
        assert running.call(feed.fund_if_due, now) == []  # the first instant is still ahead
        for symbol in feed.next_funding:
            feed.next_funding[symbol] = now  # as if the clock had reached it
        funded = running.call(feed.fund_if_due, now)
        history = ccxt_client(running, keys["one"]).fetch_funding_rate_history("BTC/USD:BTC")
    finally:
        running.stop()
    assert funded == ["ETHUSD", "XBTUSD", "XBTUSDT"]
    assert [h["fundingRate"] for h in history] == [0.0001]  # 0.03 % a day over 8 h, no premium


def test_market_maker_quotes_every_marked_contract_after_a_price_step(tmp_path: Path) -> None:
    pytest.importorskip("ccxt")
    from perpspec.engine.serve.makers import MarketMaker
    from tests.serve_helpers import ccxt_client

    running, keys = start_server(tmp_path)
    try:
        maker = MarketMaker(running.server.gateway, levels=3)
        running.call(maker.ensure_account)
        feed = PriceFeed(running.server.gateway, "calm", speed=60, maker=maker)
        running.call(feed.apply, 0)
        client = ccxt_client(running, keys["one"])
        book = client.fetch_order_book("BTC/USD:BTC")
        filled = client.create_order("BTC/USD:BTC", "market", "buy", 100)
    finally:
        running.stop()
    assert (len(book["bids"]), len(book["asks"])) == (3, 3)
    assert book["bids"][0][0] < feed.path[0] / 100 < book["asks"][0][0]
    assert filled["status"] == "closed"


def test_admin_cli_verifies_funds_and_prices_on_a_running_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import signal
    import subprocess
    import sys

    pytest.importorskip("ccxt")
    from tests.serve_helpers import ccxt_client

    store = str(tmp_path / "store")
    server = subprocess.Popen([sys.executable, "-m", "perpspec", "serve", "--store", store, "--port", "0", "--no-feed"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[2].removesuffix("/api/v1")
        where = ["--store", store, "--url", url]
        assert main(["admin", "verify", "--account", "5", *where]) == 0
        assert main(["admin", "deposit", "--account", "5", "--currency", "XBt", "--amount", "250000000", *where]) == 0
        assert main(["admin", "price", "--symbol", "XBTUSD", "--mark", "50000.5", *where]) == 0
        assert main(["admin", "deposit", "--account", "5", "--currency", "DOGE", "--amount", "1", *where]) == 2
        capsys.readouterr()
        assert main(["keys", "create", "--account", "5", "--store", store, "--json"]) == 0
        key = json.loads(capsys.readouterr().out)

        class Target:
            pass

        target: Any = Target()
        target.url, target.ws_url = url, url.replace("http", "ws") + "/realtime"
        client = ccxt_client(target, None)
        client.apiKey, client.secret = key["id"], key["secret"]
        balance = client.fetch_balance()["BTC"]["total"]
        mark = client.fetch_ticker("BTC/USD:BTC")["markPrice"]
        assert main(["admin", "state", *where]) == 0
        state = json.loads(capsys.readouterr().out)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert (balance, mark) == (2.5, 50000.5)
    assert state["commands"] == 3  # verify, deposit, price: the unknown currency was refused at the edge


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--scenario", "no_such_scenario"], "--scenario no_such_scenario"),
        (["--rate-limit", "0"], "--rate-limit"),
        (["--rate-limit", "-5"], "--rate-limit"),
    ],
)
def test_serve_refuses_bad_options_in_one_line_before_listening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, options: list[str], words: str
) -> None:
    from perpspec.engine.serve import server

    async def started(*_args: object, **_options: object) -> int:
        raise AssertionError("the server started")  # instead of serving until Ctrl-C

    monkeypatch.setattr(server, "serve_until_stopped", started)
    assert main(["serve", "--port", "0", "--store", str(tmp_path / "store"), *options]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1, error
    assert words in error[0]
    assert not (tmp_path / "store").exists(), "nothing is created before the options are valid"


def test_serve_on_a_store_that_is_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "not-a-folder"
    store.write_text("x")
    assert main(["serve", "--port", "0", "--no-feed", "--store", str(store)]) == 1
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert error.strip().splitlines()[-1].startswith(f"perpspec serve: {store}")


@pytest.mark.parametrize("action", [["list"], ["create", "--account", "1"], ["revoke", "SOMEKEY"]])
def test_keys_on_a_store_that_is_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: list[str]
) -> None:
    store = tmp_path / "not-a-folder"
    store.write_text("x")
    assert main(["keys", *action, "--store", str(store)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1, error
    assert "not-a-folder" in error[0]
