"""``perpspec admin verify|deposit|price|state``: the operator's side of a running ``perpspec serve``.

Identity verification (KYC), deposits and manual prices go to the server's admin endpoints
(``/api/v1/admin/...``), authenticated by the store's ``admin.token`` (mode 0600), which API keys
cannot use.  The server must be running; every change is journaled like any other command.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from typing import Any

from perpspec.engine.cli.main import UsageError, whole_number
from perpspec.engine.cli.serve import DEFAULT_PORT, DEFAULT_STORE
from perpspec.rules.parse import loads_json

ADMIN_TOKEN_NAME = "admin.token"  # as perpspec.engine.serve.server writes it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = sub.add_parser("verify", help="verify an account's identity (required before it deposits or trades)")
    verify.add_argument("--account", type=whole_number, required=True)
    deposit = sub.add_parser("deposit", help="credit an account (amount in the currency's minor unit)")
    deposit.add_argument("--account", type=whole_number, required=True)
    deposit.add_argument("--currency", required=True, help="XBt (1e-8 XBT) or USDt (1e-6 USDT)")
    deposit.add_argument("--amount", type=whole_number, required=True, help="minor units, e.g. 100000000 = 1 XBT")
    price = sub.add_parser("price", help="set a contract's mark (and index) price")
    price.add_argument("--symbol", required=True)
    price.add_argument("--mark", required=True, help="price in the quote currency, e.g. 50000.5")
    price.add_argument("--index", help="index price (default: the mark)")
    sub.add_parser("state", help="the server's state hash and journal position")
    for child in sub.choices.values():
        child.add_argument("--store", default=DEFAULT_STORE, help=f"store directory (default ./{DEFAULT_STORE})")
        child.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="the server's address")


def run(args: argparse.Namespace) -> int:
    token_path = os.path.join(args.store, ADMIN_TOKEN_NAME)
    try:
        with open(token_path, encoding="ascii") as handle:
            token = handle.read().strip()
    except OSError as error:
        raise UsageError(f"no admin token at {token_path} ({error.strerror}): start perpspec serve there first") from None
    if args.action == "state":
        answer = _call(args.url, "GET", "/api/v1/admin/state", None, token)
    elif args.action == "verify":
        answer = _call(args.url, "POST", "/api/v1/admin/verify", {"account": args.account}, token)
    elif args.action == "deposit":
        answer = _call(args.url, "POST", "/api/v1/admin/deposit",
                       {"account": args.account, "currency": args.currency, "amount": args.amount}, token)
    else:
        body = {"symbol": args.symbol, "markPrice": args.mark}
        if args.index is not None:
            body["indexPrice"] = args.index
        answer = _call(args.url, "POST", "/api/v1/admin/price", body, token)
    print(json.dumps(answer))
    return 0


def _call(url: str, verb: str, path: str, body: dict[str, Any] | None, token: str) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method=verb,
                                     headers={"Content-Type": "application/json", "x-admin-token": token})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return loads_json(response.read())
    except urllib.error.HTTPError as error:
        try:
            message = loads_json(error.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = error.reason
        raise UsageError(f"{verb} {path}: {error.code} {message}") from None
    except urllib.error.URLError as error:
        raise UsageError(f"cannot reach {url} ({error.reason}): is perpspec serve running?") from None
