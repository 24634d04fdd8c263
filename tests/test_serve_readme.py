"""The README's ``perpspec serve`` example, executed: start the server, create a key, five lines of ccxt.

The snippet below is the text for the README (issue 16); this test runs it verbatim against
``perpspec serve --demo --makers`` on an ephemeral port.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ccxt")
pytest.importorskip("aiohttp")

SNIPPET = """\
import ccxt
ex = ccxt.bitmex({"apiKey": KEY, "secret": SECRET, "enableRateLimit": False})
ex.urls["api"] = {"public": "http://127.0.0.1:8899", "private": "http://127.0.0.1:8899"}
order = ex.create_order("BTC/USD:BTC", "limit", "buy", 100, 7000)
print(order["id"], order["status"])
"""


def test_readme_example_places_an_order_on_perpspec_serve(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    created = subprocess.run([sys.executable, "-m", "perpspec", "keys", "create", "--account", "1", "--store", store,
                              "--json"], capture_output=True, text=True, check=True, timeout=60)
    key = json.loads(created.stdout)
    server = subprocess.Popen([sys.executable, "-m", "perpspec", "serve", "--store", store, "--port", "0",
                               "--demo", "--makers"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        base = server.stdout.readline().split()[2].removesuffix("/api/v1")
        code = SNIPPET.replace("http://127.0.0.1:8899", base)
        out = subprocess.run([sys.executable, "-c", f"KEY = {key['id']!r}; SECRET = {key['secret']!r}\n" + code],
                             capture_output=True, text=True, timeout=60, check=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    order_id, status = out.stdout.split()
    assert (order_id, status) == ("00000000-0000-4000-8000-" + order_id[-12:], "open")
    assert server.returncode == 0
