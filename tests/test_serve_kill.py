"""Kill test: SIGKILL ``perpspec serve`` under concurrent load at 20 points; nothing acknowledged is lost.

After every restart each order a client saw acknowledged (placed, or cancelled) is there in that
state, every order there was sent by a client, and at the end the server's state hash equals
``perpspec replay`` of its store.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")

from perpspec.engine.serve.keys import ApiKey, KeyStore
from perpspec.engine.serve.server import admin_token, keys_path
from tests.serve_helpers import XBT

KILL_POINTS = 20
CLIENTS = 4


class Process:
    """``python -m perpspec serve`` on an ephemeral port."""

    def __init__(self, store: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "perpspec", "serve", "--store", str(store), "--port", "0", "--no-feed",
             "--rate-limit", "1000000"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("perpspec serve: http://127.0.0.1:"), line
        self.url = line.split()[2].removesuffix("/api/v1")

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        return out


def call(url: str, verb: str, path: str, body: dict[str, Any] | None, key: ApiKey | None,
         admin: str = "") -> tuple[int, Any]:
    from tests.serve_helpers import raw_request

    class Target:  # raw_request needs only .url
        pass

    target = Target()
    target.url = url  # type: ignore[attr-defined]
    headers = {"x-admin-token": admin} if admin else None
    data = json.dumps(body).encode() if body is not None else b""
    status, answer, _ = raw_request(target, verb, path, data, key, headers=headers)  # type: ignore[arg-type]
    return status, answer


def load(url: str, key: ApiKey, name: str, sent: set[str], placed: dict[str, str], cancelled: set[str],
         stop: threading.Event) -> None:
    """Place resting orders and cancel every third one until the server dies (bounded: 10,000 requests)."""
    for number in range(10_000):
        if stop.is_set():
            return
        cl_ord_id = f"{name}-{number}"
        sent.add(cl_ord_id)
        try:
            status, order = call(url, "POST", "/api/v1/order",
                                 {"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": 30000 + number % 100,
                                  "clOrdID": cl_ord_id}, key)
            if status != 200:
                return
            placed[cl_ord_id] = order["orderID"]
            if number % 3 == 0:
                status, rows = call(url, "DELETE", "/api/v1/order", {"orderID": order["orderID"]}, key)
                if status == 200 and rows[0]["ordStatus"] == "Canceled":
                    cancelled.add(cl_ord_id)
        except OSError:
            return


def all_orders(url: str, key: ApiKey) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        status, page = call(url, "GET", f"/api/v1/order?count=1000&start={len(rows)}", None, key)
        assert status == 200
        rows.extend(page)
        if len(page) < 1000:
            return rows


@pytest.mark.slow
def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    store = tmp_path / "store"
    keys = KeyStore(keys_path(str(store)))
    clients = [keys.create(1 + n, ["read", "trade"]) for n in range(CLIENTS)]
    keys.save()
    token = admin_token(str(store))
    server = Process(store)
    for key in clients:
        call(server.url, "POST", "/api/v1/admin/verify", {"account": key.account}, None, token)
        call(server.url, "POST", "/api/v1/admin/deposit", {"account": key.account, "currency": "XBt", "amount": 100 * XBT},
             None, token)
    call(server.url, "POST", "/api/v1/admin/price", {"symbol": "XBTUSD", "markPrice": 50000}, None, token)
    sent: dict[int, set[str]] = {k.account: set() for k in clients}
    placed: dict[int, dict[str, str]] = {k.account: {} for k in clients}
    cancelled: dict[int, set[str]] = {k.account: set() for k in clients}
    for point in range(KILL_POINTS):
        stop = threading.Event()
        threads = [threading.Thread(target=load, args=(server.url, k, f"r{point}c{k.account}", sent[k.account],
                                                       placed[k.account], cancelled[k.account], stop))
                   for k in clients]
        for thread in threads:
            thread.start()
        time.sleep(0.05 + 0.02 * (point % 7))  # kill points spread over the load
        server.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        server = Process(store)
        for key in clients:
            rows = {row["clOrdID"]: row for row in all_orders(server.url, key)}
            assert set(placed[key.account]) <= set(rows), f"kill point {point}: an acknowledged order is missing"
            assert set(rows) <= sent[key.account], f"kill point {point}: an order no client sent"
            assert all(rows[c]["ordStatus"] == "Canceled" for c in cancelled[key.account])
            assert all(rows[c]["orderID"] == placed[key.account][c] for c in placed[key.account])
    assert sum(len(p) for p in placed.values()) > KILL_POINTS  # the load really ran
    status, live = call(server.url, "GET", "/api/v1/admin/state", None, None, token)
    assert status == 200
    server.stop()
    replayed = subprocess.run([sys.executable, "-m", "perpspec", "replay", str(store), "--json"],
                              capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(replayed.stdout)["state_hash"] == live["stateHash"]
