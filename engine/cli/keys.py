"""``perpspec keys create|revoke|list``: the API keys of a ``perpspec serve`` store.

Keys live in ``STORE/keys.json`` (owner-only, mode 0600); a running server
re-reads the file when it changes, so a revoked key stops working at its next
request.  A key belongs to one account and has permissions ``read``,
``trade``, ``withdraw`` (default ``read,trade``).  The secret is shown once.
"""

from __future__ import annotations

import argparse
import json

from perpspec.engine.cli.main import UsageError, whole_number
from perpspec.engine.cli.serve import DEFAULT_STORE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="create a key for an account (prints its id and secret)")
    create.add_argument("--account", type=whole_number, required=True, help="account number (a whole number from 0 to 2**63 - 1, what a command can carry)")
    create.add_argument("--permissions", default="read,trade", help="comma list of read, trade, withdraw")
    revoke = sub.add_parser("revoke", help="delete a key")
    revoke.add_argument("key_id", metavar="KEY_ID")
    sub.add_parser("list", help="list the keys (ids, accounts, permissions, disabled ones marked; never secrets)")
    for child in (create, revoke, sub.choices["list"]):
        child.add_argument("--store", default=DEFAULT_STORE, help=f"store directory (default ./{DEFAULT_STORE})")
        child.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from perpspec.engine.serve.keys import (  # no aiohttp needed (redteam26_4)
        KeyStore,
        KeyStoreError,
        keys_path,
    )

    store = KeyStore(keys_path(args.store))
    try:
        store.load()
        if args.action == "create":
            permissions = [p.strip() for p in args.permissions.split(",") if p.strip()]
            key = store.create(args.account, permissions)
            store.save()
            row = {"id": key.key_id, "secret": key.secret, "account": key.account, "permissions": ",".join(key.permissions)}
            print(json.dumps(row) if args.json else "\n".join(f"{name:12s}{value}" for name, value in row.items()))
        elif args.action == "revoke":
            if not store.revoke(args.key_id):
                raise UsageError(f"no key {args.key_id!r} in {store.path}")
            store.save()
            print(json.dumps({"revoked": args.key_id}) if args.json else f"revoked {args.key_id}")
        else:
            keys = store.keys()
            if args.json:
                print(json.dumps([{"id": k.key_id, "account": k.account, "permissions": list(k.permissions),
                                   "enabled": k.enabled} for k in keys]))
            else:
                for key in keys:
                    state = "" if key.enabled else "  disabled"
                    print(f"{key.key_id}  account {key.account}  {','.join(key.permissions)}{state}")
    except KeyStoreError as error:
        raise UsageError(str(error)) from None
    except OSError as error:  # --store is a file, or not writable
        raise UsageError(f"{store.path}: {error.strerror or error}") from None
    return 0
