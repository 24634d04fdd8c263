"""Shared set-up for the ``perpspec serve`` tests: a real server on 127.0.0.1 and signed raw requests."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from perpspec.engine.serve.keys import ApiKey, sign
from perpspec.engine.serve.rest import ServerConfig
from perpspec.engine.serve.server import Running, open_server, start_in_thread

XBT = 100_000_000  # XBt per XBT
USDT = 1_000_000  # USDt per USDT


def start_server(store: Path, **config: Any) -> tuple[Running, dict[str, ApiKey]]:
    """A server with accounts 1, 2 (funded) and 3 (nearly empty), keys for each, and marks at 50,000."""
    limits = {"rate_limit_per_minute": 1_000_000, "ip_rate_limit_per_minute": 1_000_000}
    limits.update(config)
    server = open_server(str(store), ServerConfig(**limits))
    keys = {
        "one": server.keys.create(1, ["read", "trade"]),
        "two": server.keys.create(2, ["read", "trade"]),
        "poor": server.keys.create(3, ["read", "trade"]),
        "reader": server.keys.create(1, ["read"]),
    }
    server.keys.save()
    running = start_in_thread(server)

    def setup() -> None:
        gateway = server.gateway
        for account, xbt in ((1, 10 * XBT), (2, 10 * XBT), (3, 1000)):
            gateway.verify(account)
            gateway.deposit(account, "XBt", xbt)
            gateway.deposit(account, "USDt", 100_000 * USDT)
        for symbol in ("XBTUSD", "XBTUSDT"):
            gateway.set_price(symbol, 5_000_000)  # 50,000.00
        gateway.set_price("ETHUSD", 300_000)

    running.call(setup)
    return running, keys


def state(running: Running) -> tuple[str, int]:
    """(state hash, journal's committed seq) read on the server's loop."""
    gateway = running.server.gateway
    return running.call(lambda: (gateway.exchange.state_hash(), gateway.durable.committed_seq))


def raw_request(
    running: Running,
    verb: str,
    target: str,
    body: bytes = b"",
    key: ApiKey | None = None,
    *,
    content_type: str = "application/json",
    expires: int | None = None,
    secret: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """Send one request with exactly these bytes, signed like BitMEX when ``key`` is given."""
    request = urllib.request.Request(running.url + target, data=body or None, method=verb)
    request.add_header("Content-Type", content_type)
    if key is not None:
        expires_text = str(int(time.time()) + 5 if expires is None else expires)
        request.add_header("api-key", key.key_id)
        request.add_header("api-expires", expires_text)
        request.add_header("api-signature", sign(secret or key.secret, verb, target, expires_text, body))
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null"), dict(error.headers)


def ccxt_client(running: Running, key: ApiKey | None, *, secret: str | None = None, flavour: Any = None) -> Any:
    """An unmodified ccxt 4.5.83 bitmex client pointed at the server."""
    import ccxt

    cls = flavour or ccxt.bitmex
    options: dict[str, Any] = {"enableRateLimit": False, "timeout": 20_000}
    if key is not None:
        options.update({"apiKey": key.key_id, "secret": secret or key.secret})
    client = cls(options)
    client.urls["api"] = {"public": running.url, "private": running.url, "ws": running.ws_url}
    return client


def iterate(running: Running) -> Iterator[Running]:
    try:
        yield running
    finally:
        running.stop()
