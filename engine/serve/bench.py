"""Gateway benchmark (a script, never a timed test): orders/s and latency through ``perpspec serve``.

``python -m perpspec.engine.serve.bench [--clients 1,8,64] [--orders 2000]`` starts ``perpspec serve``
in its own process on 127.0.0.1, funds one account per client through the admin endpoint, and has
that many unmodified ``ccxt.async_support.bitmex`` clients place resting limit orders as fast as the
server answers.  It prints orders/s and p50/p99 latency per client count, beside the engine's own
figure for the same commands in the same run (``Engine.process`` in-process, and through
``DurableExchange`` with its journal), and the gateway's overhead as a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

from perpspec.engine.core import commands as cmd
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability.journal import SyncPolicy
from perpspec.engine.durability.recovery import DurableExchange, command_codec
from perpspec.engine.serve.keys import ApiKey, KeyStore, keys_path
from perpspec.engine.serve.server import admin_token

XBT = 100_000_000


def _orders(account: int, count: int, start_ms: int) -> list[Any]:
    return [
        cmd.PlaceOrder(time_ms=start_ms + n, account=account, symbol="XBTUSD", side="Buy", order_qty=100,
                       price=3_000_000 + (n % 1000) * 50, ord_type="Limit", cl_ord_id=f"b{n}")
        for n in range(count)
    ]


def _setup(account: int) -> list[Any]:
    return [cmd.VerifyAccount(time_ms=1, account=account),
            cmd.Deposit(time_ms=1, account=account, asset="XBt", amount=1000 * XBT),
            cmd.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000)]


def engine_rate(count: int) -> tuple[float, float]:
    """(orders/s in-process, orders/s through the durable journal) for ``count`` resting limit orders."""
    orders = _orders(1, count, 10)
    in_process = 0.0
    for _ in range(2):  # the first round warms the interpreter's caches; the faster round counts
        engine = Engine()
        for command in _setup(1):
            engine.process(command)
        began = time.perf_counter()
        for command in orders:
            engine.process(command)
        in_process = max(in_process, count / (time.perf_counter() - began))
    with tempfile.TemporaryDirectory() as store:
        durable, _ = DurableExchange.open(store, command_codec(), Engine, policy=SyncPolicy(group_records=1))
        for command in _setup(1):
            durable.submit(command)
        began = time.perf_counter()
        for command in orders:
            durable.submit(command)
        durable_rate = count / (time.perf_counter() - began)
        durable.close()
    return in_process, durable_rate


def _post(url: str, path: str, body: dict[str, Any], token: str) -> None:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "x-admin-token": token})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


async def _client(url: str, key: ApiKey, count: int, latencies: list[float]) -> None:
    import ccxt.async_support as accxt

    client = accxt.bitmex({"apiKey": key.key_id, "secret": key.secret, "enableRateLimit": False})
    client.urls["api"] = {"public": url, "private": url}
    try:
        await client.load_markets()
        for n in range(count):
            began = time.perf_counter()
            await client.create_order("BTC/USD:BTC", "limit", "buy", 100, 30000 + (n % 1000) * 0.5,
                                      {"clOrdID": f"k{key.account}-{n}"})
            latencies.append(time.perf_counter() - began)
    finally:
        await client.close()


def gateway_rate(clients: int, orders: int) -> tuple[float, float, float]:
    """(orders/s, p50 ms, p99 ms) with ``clients`` concurrent async ccxt clients placing ``orders`` in all."""
    with tempfile.TemporaryDirectory() as store:
        keys = KeyStore(keys_path(store))
        api_keys = [keys.create(1 + n, ["read", "trade"]) for n in range(clients)]
        keys.save()
        token = admin_token(store)
        proc = subprocess.Popen([sys.executable, "-m", "perpspec", "serve", "--store", store, "--port", "0",
                                 "--no-feed", "--rate-limit", "1000000000"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().split()[2].removesuffix("/api/v1")
            for key in api_keys:
                _post(url, "/api/v1/admin/verify", {"account": key.account}, token)
                _post(url, "/api/v1/admin/deposit", {"account": key.account, "currency": "XBt", "amount": 1000 * XBT},
                      token)
            _post(url, "/api/v1/admin/price", {"symbol": "XBTUSD", "markPrice": 50000}, token)
            latencies: list[float] = []
            per_client = max(1, orders // clients)

            async def run_all() -> None:
                await asyncio.gather(*(_client(url, key, per_client, latencies) for key in api_keys))

            began = time.perf_counter()
            asyncio.run(run_all())
            elapsed = time.perf_counter() - began
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[min(len(latencies) - 1, len(latencies) * 99 // 100)] * 1000
    return len(latencies) / elapsed, p50, p99


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perpspec.engine.serve.bench", description=__doc__)
    parser.add_argument("--clients", default="1,8,64", help="comma list of concurrent client counts")
    parser.add_argument("--orders", type=int, default=2000, help="orders per client count (in all)")
    args = parser.parse_args(argv)
    in_process, durable = engine_rate(args.orders)
    print(f"engine in-process       {in_process:10.0f} orders/s")
    print(f"engine + journal        {durable:10.0f} orders/s")
    for clients in [int(c) for c in args.clients.split(",") if c.strip()]:
        rate, p50, p99 = gateway_rate(clients, args.orders)
        print(f"gateway {clients:3d} clients      {rate:10.0f} orders/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   "
              f"overhead x{durable / rate:.1f} vs engine + journal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
