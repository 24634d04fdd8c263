"""A command the journal holds is answered as done, whatever fails after it (redteam28_1, redteam28_5).

* ``DurableExchange.submit`` wrote the periodic snapshot inside the command's call: a snapshot that could not be
  written (EMFILE, ENOSPC, EIO) raised *after* the command was journaled and applied, so serve answered 500 for an
  order that rested, its views never heard of it, and every later command did the same while the condition lasted.
  The snapshot is an optimisation: its failure is logged once per episode and retried with back-off; the command
  stands and returns its events.
* ``Gateway.execute`` skipped the views and the realtime streams when a step after the engine raised.
* The price feed advanced ``next_funding`` only after ``gateway.execute`` returned: an exception after the tick was
  journaled left the instant due, and every later command paid it again (redteam28_5: five payments of one
  instant).  The instant is now done once the journal holds its tick.
* ``PriceFeed.run`` died silently on the first exception (prices and funding stopped for good); it logs and goes on.

Each test fails on 136ac3c.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core import commands as cmd
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability import recovery
from perpspec.engine.durability.journal import SyncPolicy, read_journal
from perpspec.engine.durability.recovery import JOURNAL_NAME, DurableExchange, command_codec, list_snapshots
from perpspec.engine.serve import feed as feed_module
from perpspec.engine.serve.feed import PriceFeed
from perpspec.engine.serve.gateway import Gateway
from tests.serve_helpers import raw_request

XBT = 100_000_000


def _no_descriptors(*_args: Any, **_kwargs: Any) -> None:
    raise OSError(errno.EMFILE, "Too many open files")


def _deposit(durable: DurableExchange, amount: int) -> list[Any]:
    return list(durable.submit(cmd.Deposit(time_ms=1, account=1, asset="XBt", amount=amount)))


def test_a_failed_periodic_snapshot_never_fails_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine, policy=SyncPolicy(), snapshot_every=4)
    durable.submit(cmd.VerifyAccount(time_ms=1, account=1))
    attempts: list[int] = []

    def failing(*args: Any, **kwargs: Any) -> None:
        attempts.append(durable.writer.next_seq - 1)
        _no_descriptors()

    monkeypatch.setattr(recovery, "write_snapshot", failing)
    caplog.set_level(logging.WARNING, logger="perpspec.durability")
    for _ in range(20):  # every one journaled, applied and answered, none raises
        assert type(_deposit(durable, 1)[-1]).__name__ == "Accepted"
    assert durable.exchange.wallet(1, "XBt") == 20
    assert durable.committed_seq == 21
    # retried with back-off (1, 2, 4, then every snapshot_every commands), not on every command, not given up
    assert attempts == [4, 5, 7, 11, 15, 19]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "snapshot" in errors[0].getMessage()
    monkeypatch.undo()
    for _ in range(4):  # the condition ends: the next retry writes it, and says so
        _deposit(durable, 1)
    assert [seq for seq, _path in list_snapshots(str(tmp_path))] == [23]
    assert durable.snapshot_failures == 0
    assert any("written again" in r.getMessage() for r in caplog.records)
    state = durable.exchange.state_hash()
    durable.close()
    reopened, _report = DurableExchange.open(str(tmp_path), command_codec(), Engine, policy=SyncPolicy())
    assert reopened.exchange.state_hash() == state  # the journal held every command answered
    reopened.close()


def test_orders_answered_during_a_snapshot_failure_are_listed_and_cancellable(
    served: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    running, keys = served
    durable = running.server.gateway.durable
    running.call(lambda: setattr(durable, "snapshot_every", 2))
    monkeypatch.setattr(recovery, "write_snapshot", _no_descriptors)
    logging.disable(logging.CRITICAL)
    try:
        statuses = []
        for i in range(6):
            body = json.dumps({"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": 40_000 + i,
                               "clOrdID": f"s{i}"}).encode()
            statuses.append(raw_request(running, "POST", "/api/v1/order", body, keys["one"])[0])
    finally:
        logging.disable(logging.NOTSET)
    assert statuses == [200] * 6
    listed = raw_request(running, "GET", "/api/v1/order?count=100", key=keys["one"])[1]
    assert sorted(row["clOrdID"] for row in listed) == [f"s{i}" for i in range(6)]
    status, rows, _ = raw_request(running, "DELETE", "/api/v1/order", json.dumps({"clOrdID": "s5"}).encode(),
                                  keys["one"])
    assert status == 200
    assert rows[0]["ordStatus"] == "Canceled"


def test_the_views_and_the_streams_hear_of_every_command_the_engine_ran(tmp_path: Path) -> None:
    gateway = Gateway.open(str(tmp_path), clock=lambda: 1_000)
    published: list[str] = []

    def broken_views(command: Any, events: Any) -> None:
        raise RuntimeError("a bug in a view")

    gateway.views.apply = broken_views  # type: ignore[method-assign]
    gateway.hub.publish = lambda command, events: published.append(type(command).__name__)  # type: ignore[method-assign]
    logging.disable(logging.CRITICAL)
    try:
        events = gateway.verify(1)  # the engine ran it: no exception reaches the caller
    finally:
        logging.disable(logging.NOTSET)
    assert type(events[-1]).__name__ == "Accepted"
    assert published == ["VerifyAccount"]
    assert gateway.commands == 1
    gateway.close()


def _funded_gateway(directory: Path, clock: list[int]) -> tuple[Gateway, PriceFeed, int]:
    """A gateway whose feed has ETHUSD's next instant armed; account 1 short, account 2 long 10,000."""
    gateway = Gateway.open(str(directory), clock=lambda: clock[0])
    for account in (1, 2):
        gateway.verify(account)
        gateway.deposit(account, "XBt", 10 * XBT)
    feed = PriceFeed(gateway)
    feed.apply(0)
    mark = gateway.exchange.marks["ETHUSD"]
    for account, side in ((1, "Sell"), (2, "Buy")):
        gateway.execute(cmd.PlaceOrder(time_ms=gateway.now_ms(), account=account, symbol="ETHUSD", side=side,
                                       order_qty=10_000, price=mark))
    feed.fund_if_due(gateway.now_ms())
    return gateway, feed, feed.next_funding["ETHUSD"]


def _funding_ticks(directory: Path) -> list[tuple[str, int]]:
    scan = read_journal(str(directory / JOURNAL_NAME))
    codec = command_codec()
    codec.use_writer_schema(scan.schema)
    commands = [codec.decode(payload) for _seq, payload in scan.records]
    return [(c.symbol, c.time_ms) for c in commands if isinstance(c, cmd.FundingTick)]


def test_an_instant_is_paid_once_when_a_snapshot_fails_at_its_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_700_000_000_000]
    gateway, feed, instant = _funded_gateway(tmp_path, clock)
    gateway.durable.snapshot_every = 1  # every command's snapshot fails from the instant on
    monkeypatch.setattr(recovery, "write_snapshot", _no_descriptors)
    clock[0] = instant + 1_000
    logging.disable(logging.CRITICAL)
    try:
        for i in range(5):  # the feed's wake, then commands of any client: each runs `before`
            with contextlib.suppress(OSError):  # 136ac3c: each raised, and paid the instant again
                if i == 0:
                    feed.fund_if_due(gateway.now_ms())
                else:
                    gateway.execute(cmd.CancelAll(time_ms=gateway.now_ms(), account=1))
    finally:
        logging.disable(logging.NOTSET)
    assert [t for t in _funding_ticks(tmp_path) if t[0] == "ETHUSD"] == [("ETHUSD", instant)]
    gateway.close()


def test_the_instant_is_done_once_the_journal_holds_its_tick(tmp_path: Path) -> None:
    """Whatever raises after the tick reached the journal, the feed does not send it again; what raises before it
    reached the journal leaves the instant due."""
    clock = [1_700_000_000_000]
    gateway, feed, instant = _funded_gateway(tmp_path, clock)
    real = gateway.execute
    mode = ["after"]

    def execute(command: Any) -> Any:
        if mode[0] == "before" and isinstance(command, cmd.FundingTick):
            raise RuntimeError("refused before the journal")
        events = real(command)
        if mode[0] == "after" and isinstance(command, cmd.FundingTick):
            raise RuntimeError("after the journal")
        return events

    gateway.execute = execute  # type: ignore[method-assign]
    clock[0] = instant + 1_000
    for _ in range(3):
        with contextlib.suppress(RuntimeError):
            feed.fund_if_due(gateway.now_ms())
    assert [t for t in _funding_ticks(tmp_path) if t[0] == "ETHUSD"] == [("ETHUSD", instant)]
    assert feed.next_funding["ETHUSD"] > instant
    # the next instant: a failure before the journal leaves it due, and the next wake pays it once
    nxt = feed.next_funding["ETHUSD"]
    clock[0] = nxt + 1_000
    mode[0] = "before"
    with pytest.raises(RuntimeError):
        feed.fund_if_due(gateway.now_ms())
    assert feed.next_funding["ETHUSD"] == nxt
    mode[0] = "none"
    assert "ETHUSD" in feed.fund_if_due(gateway.now_ms())
    assert [t for t in _funding_ticks(tmp_path) if t[0] == "ETHUSD"] == [("ETHUSD", instant), ("ETHUSD", nxt)]
    gateway.close()


def test_the_price_feed_logs_a_failed_wake_and_keeps_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = Gateway.open(str(tmp_path))
    feed = PriceFeed(gateway)
    monkeypatch.setattr(feed_module, "WAKE_MS", 10)
    wakes: list[int] = []

    def fund_if_due(now_ms: int) -> list[str]:
        wakes.append(now_ms)
        if len(wakes) <= 3:
            raise OSError(errno.EMFILE, "Too many open files")
        return []

    feed.fund_if_due = fund_if_due  # type: ignore[method-assign]
    caplog.set_level(logging.WARNING, logger="perpspec.serve")

    async def run_a_while() -> bool:
        task = asyncio.get_running_loop().create_task(feed.run())
        await asyncio.sleep(0.5)
        alive = not task.done()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await task
        return alive

    assert asyncio.run(run_a_while())
    assert len(wakes) > 5  # the wakes after the failures ran
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert "price feed" in failures[0].getMessage()
    assert any("running again" in r.getMessage() for r in caplog.records)
    gateway.close()
