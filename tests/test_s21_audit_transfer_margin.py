"""The auditor reads the engine's ``TransferMargin`` row (session 21, audit21; redteam31, noticed).

The engine's own event log writes a ``transaction`` row with ``transactType`` "TransferMargin" for every accepted
``POST /position/transferMargin`` (``engine/core/account_desk.py``), and the auditor refused it ("unknown
transaction type 'TransferMargin'", exit 2): no log in which a client moved isolated margin could be audited.  It now
reads it as what it is -- margin moved between the wallet's free part and an isolated pool, within the wallet
(nothing moves in its ledger: conservation holds by construction, and a venue that also moved the wallet is caught by
its wallet rows, ACC-003) -- and at ``--rules`` judges it by the engine's rule, MRG-063 (``check_transfer_margin``),
as far as the log shows it: the contract's currency, a position the log built, isolated, non-zero, and an addition
within the available balance (the ledger's, with no orders and each isolated pool holding the least it can, is at
least the venue's).  A removal's bound (MRG-062) needs the pool's margin, which the log does not carry.
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.audit import INVARIANTS, RULES
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Transaction
from perpspec.engine.simulation.eventlog import encode_json, iso_timestamp
from tests.audit_engine_log import EngineLog, Row, X, audit, audit_both

P = 5_000_000  # 50,000.00


def _transfers() -> tuple[EngineLog, int]:
    """5 holds a 10x isolated long of 1,000 at 50,000 and 6 a cross long of 1,000 (2 sold both); 5 adds 1,000,000 XBt
    to its pool, takes 500,000 back, then adds everything MRG-050 leaves available; the log ends with every wallet
    (simulate's margin rows).  Returns the log and 5's wallet."""
    log = EngineLog()
    log.mark(0, P)
    log.open(0, {2: 10**11, 5: 10**8, 6: 10**8, 7: 10**8}, {5: 1000})
    log.order(0, 2, "Sell", 2_000, P)
    log.order(0, 5, "Buy", 1_000, P)
    log.order(0, 6, "Buy", 1_000, P)
    for time_ms, amount in ((1, 1_000_000), (2, -500_000), (3, 0)):
        amount = amount or log.engine.available(5, "XBt")
        events = log.run(c.TransferMargin(time_ms=time_ms, account=5, symbol=X, amount=amount))
        assert [(e.transact_type, e.amount) for e in events if isinstance(e, Transaction)] == [("TransferMargin", amount)]
    wallets = {a: account.wallet("XBt") for a, account in sorted(log.engine.accounts.items()) if a >= 0}
    log.lines += [encode_json({"table": "margin", "timestamp": iso_timestamp(3), "account": account, "currency": "XBt",
                               "walletBalance": wallet}) for account, wallet in wallets.items()]
    return log, wallets[5]


def _changed(rows: list[Row], index: int, **fields: Any) -> list[Row]:
    """The rows with the ``index``-th TransferMargin row's ``fields`` changed."""
    at = [i for i, row in enumerate(rows) if row.get("transactType") == "TransferMargin"][index]
    return [{**row, **fields} if i == at else row for i, row in enumerate(rows)]


def _rules(rows: list[Row]) -> list[tuple[str, str, str, str]]:
    """The ``--rules`` findings (id, message, expected, reported); ``--invariants`` has none on these logs."""
    assert audit(rows, INVARIANTS) == []
    return [(f[0], f[2], f[3], f[4]) for f in audit(rows, RULES)]


def test_a_log_with_margin_transfers_audits_clean() -> None:
    log, _ = _transfers()
    assert sum(row.get("transactType") == "TransferMargin" for row in log.rows) == 3
    assert audit_both(log.rows) == {INVARIANTS: [], RULES: []}


def test_an_addition_beyond_the_wallet_is_reported() -> None:
    """Tampered: 5 adds one satoshi more than its whole wallet (no open loss, no cross position: the most MRG-050
    could leave available)."""
    log, wallet = _transfers()
    assert _rules(_changed(log.rows, 0, amount=wallet + 1)) == [
        ("MRG-063", f"account 5 XBTUSD: transferMargin of {wallet + 1} (InsufficientAvailableBalance)",
         f"<= {wallet}", str(wallet + 1)),
    ]


def test_a_transfer_for_a_cross_position_a_flat_account_or_of_nothing_is_reported() -> None:
    log, _ = _transfers()
    assert _rules(_changed(log.rows, 0, account=6)) == [
        ("MRG-063", "account 6 XBTUSD: transferMargin of 1000000 (PositionNotIsolated)", "an isolated position",
         "cross"),
    ]
    assert _rules(_changed(log.rows, 1, account=7)) == [
        ("MRG-063", "account 7 XBTUSD: transferMargin of -500000: no open position to transfer margin to or from",
         "a position", "flat"),
    ]
    assert _rules(_changed(log.rows, 1, amount=0)) == [
        ("MRG-063", "account 5 XBTUSD: transferMargin of 0 (InvalidAmount)", "a non-zero amount", "0"),
    ]


def test_a_transfer_moving_money_between_currencies_is_reported() -> None:
    log, _ = _transfers()
    assert _rules(_changed(log.rows, 1, currency="USDt")) == [
        ("MRG-063", "account 5 XBTUSD: transferMargin of -500000 in another currency than the contract settles in",
         "XBt", "USDt"),
    ]


def test_a_transfer_that_created_money_in_the_wallet_is_reported() -> None:
    """Tampered: the venue credited the 500,000 its removal took out of the pool to the wallet as well (its final
    wallet row 500,000 higher): the transfer moves nothing out of the wallet, so the wallet is off (ACC-003)."""
    log, wallet = _transfers()
    rows = [{**row, "walletBalance": wallet + 500_000} if row.get("table") == "margin" and row["account"] == 5 else row
            for row in log.rows]
    assert _rules(rows) == [
        ("ACC-003", "account 5 XBt: walletBalance differs from the log's movements", str(wallet), str(wallet + 500_000)),
    ]
