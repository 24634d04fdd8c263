"""Session 18, review20: the hub's work is bounded by what subscribers watch; instrument rows follow funding.

* ``position`` / ``wallet``: a mark update or a deposit computes cross prices and wallet rows only for accounts an
  authenticated subscriber watches, and the hub keeps no cache of the others (review20_2: one ``position``
  subscriber made every mark tick compute the prices of every cross holder of the contract, O(holders));
* a funding instant re-sends the ``instrument`` row (the new fundingRate, the next fundingTimestamp), and a refused
  FundingTick publishes no funding row (review20_4);
* a key store row whose account is above a command's 64 bits (the previous release's ``keys create`` wrote it) loads
  as a disabled key with a warning naming it: ``serve`` keeps the other keys, ``keys list`` shows it, ``keys revoke``
  removes it (review20_3).

Counted, never timed: ``rows.position_prices`` and ``rows.wallet_row`` are wrapped to count their calls.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.cli.main import main
from perpspec.engine.core import commands as cmd
from perpspec.engine.core.commands import FIELD_INT_MAX
from perpspec.engine.serve import rows
from perpspec.engine.serve.errors import KEY_DISABLED
from perpspec.engine.serve.keys import ApiKey, KeyStore, KeyStoreError
from perpspec.engine.serve.server import Running, keys_path
from perpspec.engine.serve.units import encode_json
from tests.serve_helpers import XBT, raw_request, start_server

HOLDERS = 12


class Recorder:
    """A realtime subscriber that keeps every message (the hub's Subscriber protocol)."""

    def __init__(self, account: int | None, topics: set[tuple[str, str]]) -> None:
        self.account = account
        self.topics = topics
        self.messages: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.messages.append(json.loads(encode_json(message)))

    def rows(self, name: str) -> list[dict[str, Any]]:
        return [row for m in self.messages if m.get("table") == name for row in m["data"]]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Running]:
    running, _ = start_server(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def _subscribe(running: Running, account: int | None, *topics: tuple[str, str]) -> Recorder:
    recorder = Recorder(account, set(topics))
    hub = running.server.gateway.hub

    def attach() -> None:
        for table, symbol in topics:
            hub.partial(recorder, table, symbol)
        hub.subscribers.append(recorder)

    running.call(attach)
    return recorder


def _cross_holders(running: Running) -> list[int]:
    """Accounts 10.. each a cross long of 100 XBTUSD (account 2 the seller), none of them watched."""
    gateway = running.server.gateway
    holders = list(range(10, 10 + HOLDERS))

    def setup() -> None:
        for account in holders:
            gateway.verify(account)
            gateway.deposit(account, "XBt", XBT)
            now = gateway.now_ms()
            gateway.execute(cmd.PlaceOrder(time_ms=now, account=2, symbol="XBTUSD", side="Sell", order_qty=100,
                                           price=5_000_000))
            gateway.execute(cmd.PlaceOrder(time_ms=now, account=account, symbol="XBTUSD", side="Buy", order_qty=100,
                                           price=5_000_000))

    running.call(setup)
    return holders


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    original = getattr(rows, name)

    def counted(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(rows, name, counted)
    return calls


def _mark(running: Running, price: int) -> None:
    gateway = running.server.gateway
    running.call(lambda: gateway.execute(cmd.PriceUpdate(time_ms=gateway.now_ms(), symbol="XBTUSD", mark_price=price)))


# ----------------------------------------------------------------------------- review20_2: bounded by the watched


def test_a_mark_update_computes_no_cross_prices_for_unwatched_holders(
    served: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    holders = _cross_holders(served)
    _subscribe(served, 3, ("position", ""))  # account 3 holds nothing
    calls = _counting(monkeypatch, "position_prices")
    _mark(served, 5_001_000)
    assert calls == []
    assert not {account for account, _ in served.server.gateway.hub._cross} & set(holders)


def test_a_watched_cross_holder_alone_is_computed_and_its_prices_follow_a_deposit(
    served: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    holders = _cross_holders(served)
    watched = holders[0]
    recorder = _subscribe(served, watched, ("position", ""))
    calls = _counting(monkeypatch, "position_prices")
    _mark(served, 5_001_000)
    assert {args[1] for args in calls} == {watched}  # its own cross position (and its row), no other holder's
    before = recorder.rows("position")[-1]["liquidationPrice"]
    assert {account for account, _ in served.server.gateway.hub._cross} == {watched}
    recorder.messages.clear()
    calls.clear()
    gateway = served.server.gateway
    served.call(lambda: gateway.deposit(watched, "XBt", XBT))  # the margin behind the cross position moved
    assert {args[1] for args in calls} == {watched}
    streamed = [row for row in recorder.rows("position") if row["symbol"] == "XBTUSD"]
    assert streamed
    assert streamed[-1]["liquidationPrice"] < before  # re-sent: more margin, a lower liquidation price


def test_an_account_no_longer_watched_leaves_the_caches(served: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    holders = _cross_holders(served)
    watched = holders[0]
    recorder = _subscribe(served, watched, ("position", ""), ("wallet", ""))
    other = _subscribe(served, 3, ("position", ""), ("wallet", ""))  # keeps somebody watching
    gateway = served.server.gateway
    hub = gateway.hub
    _mark(served, 5_001_000)
    served.call(lambda: gateway.deposit(watched, "XBt", 1_000))
    assert watched in {account for account, _ in hub._cross}
    assert watched in {account for account, _ in hub._wallets}
    served.call(lambda: hub.subscribers.remove(recorder))
    calls = _counting(monkeypatch, "position_prices")
    _mark(served, 5_002_000)
    assert calls == []
    assert watched not in {account for account, _ in hub._cross}
    assert watched not in {account for account, _ in hub._wallets}
    assert other.account == 3


def test_a_deposit_to_an_unwatched_account_builds_no_wallet_row(
    served: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher = _subscribe(served, 3, ("wallet", ""))
    gateway = served.server.gateway
    calls = _counting(monkeypatch, "wallet_row")
    served.call(lambda: gateway.deposit(1, "XBt", 1_000))
    assert calls == []
    assert 1 not in {account for account, _ in gateway.hub._wallets}
    served.call(lambda: gateway.deposit(3, "XBt", 1_000))  # its own deposit is still streamed
    assert [row["amount"] for row in watcher.rows("wallet") if row["currency"] == "XBt"][-1] == 2_000


# ----------------------------------------------------------------------------- review20_4: funding and instrument


def _fund(running: Running, symbol: str, rate_e8: int) -> str:
    gateway = running.server.gateway
    events = running.call(lambda: gateway.execute(cmd.FundingTick(time_ms=gateway.now_ms(), symbol=symbol,
                                                                  rate_e8=rate_e8)))
    return type(events[-1]).__name__


def test_a_funding_instant_re_sends_the_instrument_row_with_the_new_rate(served: Running) -> None:
    recorder = _subscribe(served, None, ("instrument", "XBTUSD"), ("funding", ""))
    assert _fund(served, "XBTUSD", 20_000) == "Accepted"
    rest = raw_request(served, "GET", "/api/v1/instrument?symbol=XBTUSD")[1][0]
    streamed = recorder.rows("instrument")
    assert len(streamed) == 1
    assert streamed[0]["fundingRate"] == rest["fundingRate"] == 0.0002
    assert streamed[0]["fundingTimestamp"] == rest["fundingTimestamp"]
    assert streamed[0]["indicativeFundingRate"] == rest["indicativeFundingRate"]
    assert [row["fundingRate"] for row in recorder.rows("funding")] == [0.0002]


def test_a_refused_funding_tick_is_no_funding_row_and_no_instrument_update(served: Running) -> None:
    recorder = _subscribe(served, None, ("instrument", ""), ("funding", ""))
    before = raw_request(served, "GET", "/api/v1/instrument?symbol=XBTUSD")[1][0]["fundingRate"]
    assert _fund(served, "XBTUSD", 10**12) == "Rejected"  # beyond +-100 %: malformed
    assert _fund(served, "NOPE", 1) == "Rejected"
    assert recorder.messages == []
    assert list(served.server.gateway.views.funding) == []
    assert raw_request(served, "GET", "/api/v1/instrument?symbol=XBTUSD")[1][0]["fundingRate"] == before
    assert raw_request(served, "GET", "/api/v1/funding?symbol=XBTUSD")[1] == []


# ----------------------------------------------------------------------------- review20_3: a previous release's key

OLD_ID = "C" * 24
OLD_SECRET = "d" * 48


def _old_store(directory: Path) -> Path:
    """A store as the previous release's ``perpspec keys create --account 9223372036854775808`` left it."""
    good = {"id": "A" * 24, "secret": "b" * 48, "account": 1, "permissions": ["read", "trade"], "enabled": True}
    old = {"id": OLD_ID, "secret": OLD_SECRET, "account": FIELD_INT_MAX + 1, "permissions": ["read"], "enabled": True}
    path = Path(keys_path(str(directory)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"keys": [good, old]}, indent=1))
    os.chmod(path, 0o600)
    return path


def test_a_key_above_a_commands_64_bits_loads_disabled_with_a_warning_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = KeyStore(str(_old_store(tmp_path)))
    with caplog.at_level(logging.WARNING, logger="perpspec.serve"):
        store.load()
    old = store.get(OLD_ID)
    assert old is not None
    assert (old.enabled, old.allows("read")) == (False, False)
    assert store.get("A" * 24) is not None
    assert any(OLD_ID in record.getMessage() and "disabled" in record.getMessage() for record in caplog.records)
    with pytest.raises(KeyStoreError, match="account"):  # create still refuses it
        store.create(FIELD_INT_MAX + 1, ["read"])


def test_keys_list_shows_it_disabled_and_revoke_removes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _old_store(tmp_path)
    assert main(["keys", "list", "--store", str(tmp_path), "--json"]) == 0
    listed = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert (listed[OLD_ID]["enabled"], listed["A" * 24]["enabled"]) == (False, True)
    assert main(["keys", "list", "--store", str(tmp_path)]) == 0
    assert f"{OLD_ID}  account {FIELD_INT_MAX + 1}  read  disabled" in capsys.readouterr().out
    assert main(["keys", "revoke", OLD_ID, "--store", str(tmp_path)]) == 0
    assert [row["id"] for row in json.loads(path.read_text())["keys"]] == ["A" * 24]


def test_serve_keeps_the_other_keys_and_refuses_the_disabled_one(tmp_path: Path) -> None:
    _old_store(tmp_path)
    running, keys = start_server(tmp_path)
    try:
        old = ApiKey(key_id=OLD_ID, secret=OLD_SECRET, account=FIELD_INT_MAX + 1, permissions=("read",))
        status, answer, _ = raw_request(running, "GET", "/api/v1/position", key=old)
        assert (status, answer["error"]["message"]) == (403, KEY_DISABLED)
        good = ApiKey(key_id="A" * 24, secret="b" * 48, account=1, permissions=("read", "trade"))
        assert raw_request(running, "GET", "/api/v1/position", key=good)[0] == 200
        assert raw_request(running, "GET", "/api/v1/position", key=keys["two"])[0] == 200
    finally:
        running.stop()
