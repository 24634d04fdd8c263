"""INV-WITHDRAW-SAFE in the auditor is the registry's check (session 21, audit21; redteam31_2).

The auditor judged a withdrawal by "equity at mark ≥ 0 after it", which it took to be implied by the registry's
statement (``rules.invariants.check_withdraw_safe``: available − unrealised profit ≥ 0).  It is not when an isolated
pool is below zero: MRG-050 counts an isolated pool at its margin (floored at 0), never its loss beyond it (the
liquidation engine's, i.e. the fund's).  So the owner of a bankrupt isolated pool a budget carried (LIQ-034) who
withdrew its free wallet -- accepted by the engine, ``check_all`` clean -- was reported at both levels
(/work/coord/repro21/redteam31_2.py).  The auditor now calls the registry's ``check_withdraw_safe`` over its ledger,
which shows no orders and no isolated margin (neither is in the log: each counts as holding nothing, the least MRG-050
can count, so an honest engine's withdrawal is never reported); a cross position's margin is the registry's own.
"""

from __future__ import annotations

from perpspec.engine.audit import INVARIANTS, RULES
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import RuleEvent
from tests.audit_engine_log import EngineLog, Row, X, audit_both

P = 5_000_000  # 50,000.00


def _carried_owner_withdraws() -> tuple[EngineLog, int]:
    """redteam31_2: budget 1; 7 and 8 hold 25x isolated longs of 10,000 at 50,000 (8 has 9.2M XBt beyond its pool);
    the mark falls to 45,000, beyond both bankruptcy prices: one pool is taken over, the other (8's) carried, its
    equity below zero; 8 withdraws what MRG-050 allows (its free wallet).  Returns the log and the amount."""
    log = EngineLog(max_liquidations_per_update=1)
    log.mark(0, P)
    log.open(0, {2: 10**11, 7: 2 * 10**6, 8: 10**7}, {7: 2500, 8: 2500})
    log.order(0, 2, "Sell", 20_000, P)
    for account in (7, 8):
        log.order(0, account, "Buy", 10_000, P)
    events = log.mark(3, P * 90 // 100)
    carried = [e.record for e in events if isinstance(e, RuleEvent) and type(e.record).__name__ == "WaterfallCarried"]
    assert [record.account_ids for record in carried] == [(8,)]
    _, equity, _, _ = log.engine.risk.pool_of(log.engine.accounts[8], X)
    assert equity < 0, equity
    free = log.engine.available(8, "XBt")
    log.run(c.Withdraw(time_ms=4, account=8, asset="XBt", amount=free))
    return log, free


def _with_withdrawal(rows: list[Row], more: int) -> list[Row]:
    """The rows with the (only) withdrawal ``more`` larger (a venue that paid that much more out)."""
    out = [{**row, "amount": row["amount"] - more} if row.get("transactType") == "Withdrawal" else row for row in rows]
    assert sum(row.get("transactType") == "Withdrawal" for row in out) == 1
    return out


def test_the_owner_of_a_carried_bankrupt_isolated_pool_withdrawing_its_free_wallet_audits_clean() -> None:
    log, free = _carried_owner_withdraws()
    assert free == 9_169_400
    assert audit_both(log.rows) == {INVARIANTS: [], RULES: []}


def test_a_payout_beyond_the_wallet_of_a_carried_pools_owner_is_reported() -> None:
    """Tampered: the carried pool's owner paid out one satoshi more than its whole wallet.  (Its pool's margin is not
    in the log and the carry says the pool may be below zero: the auditor counts the pool as holding nothing, so a
    payout of that margin alone is not seen.)"""
    log, _ = _carried_owner_withdraws()
    wallet = log.engine.accounts[8].wallet("XBt")  # after the withdrawal: what the pool's margin keeps
    tampered = _with_withdrawal(log.rows, wallet + 1)
    line = next(i for i, row in enumerate(tampered, start=1) if row.get("transactType") == "Withdrawal")
    for findings in audit_both(tampered).values():
        assert [(f[0], f[1], f[3], f[4]) for f in findings] == [("INV-WITHDRAW-SAFE", line, ">= 0", "-1")], findings
        assert "account 8 XBt" in findings[0][2]


def _losing_isolated_holder_withdraws() -> tuple[EngineLog, int, int]:
    """9 holds a 25x isolated long of 10,000 at 50,000 (9.2M XBt beyond its pool); the mark falls 3% (its pool's
    equity stays above maintenance) and 9 withdraws its free wallet.  Returns the log, the amount and the pool's
    equity at mark."""
    log = EngineLog()
    log.mark(0, P)
    log.open(0, {2: 10**11, 9: 10**7}, {9: 2500})
    log.order(0, 2, "Sell", 10_000, P)
    log.order(0, 9, "Buy", 10_000, P)
    log.mark(1, P * 97 // 100)
    _, equity, maintenance, _ = log.engine.risk.pool_of(log.engine.accounts[9], X)
    assert 0 < maintenance < equity, (equity, maintenance)
    free = log.engine.available(9, "XBt")
    log.run(c.Withdraw(time_ms=2, account=9, asset="XBt", amount=free))
    return log, free, equity


def test_a_losing_isolated_holder_withdrawing_its_free_wallet_audits_clean() -> None:
    log, free, _ = _losing_isolated_holder_withdraws()
    assert free > 0
    assert audit_both(log.rows) == {INVARIANTS: [], RULES: []}


def test_a_withdrawal_taking_the_margin_behind_an_isolated_loss_is_reported() -> None:
    """Tampered: paid out the pool's equity and one satoshi more beyond the free wallet: the wallet no longer covers
    the pool's loss at mark (a pool not carried holds at least its loss: its equity at mark is ≥ 0)."""
    log, _, equity = _losing_isolated_holder_withdraws()
    tampered = _with_withdrawal(log.rows, equity + 1)
    for findings in audit_both(tampered).values():
        assert [(f[0], f[3], f[4]) for f in findings] == [("INV-WITHDRAW-SAFE", ">= 0", "-1")], findings


def _cross_holder_withdraws() -> tuple[EngineLog, int]:
    """5 (cross) buys 10,000 at 50,000 from 2 and withdraws everything MRG-050 leaves available at that mark."""
    log = EngineLog()
    log.mark(0, P)
    log.open(0, {2: 10**11, 5: 10**7})
    log.order(0, 2, "Sell", 10_000, P)
    log.order(0, 5, "Buy", 10_000, P)
    free = log.engine.available(5, "XBt")
    log.run(c.Withdraw(time_ms=1, account=5, asset="XBt", amount=free))
    return log, free


def test_a_cross_holder_withdrawing_what_mrg_050_leaves_free_audits_clean() -> None:
    log, free = _cross_holder_withdraws()
    assert free > 0
    assert audit_both(log.rows) == {INVARIANTS: [], RULES: []}


def test_a_withdrawal_taking_a_cross_positions_margin_is_reported() -> None:
    """Tampered: one satoshi of the cross position's margin paid out.  Its equity at mark stays far above zero (the
    old "equity ≥ 0" check let it through); the registry's statement does not."""
    log, _ = _cross_holder_withdraws()
    tampered = _with_withdrawal(log.rows, 1)
    for findings in audit_both(tampered).values():
        assert [(f[0], f[3], f[4]) for f in findings] == [("INV-WITHDRAW-SAFE", ">= 0", "-1")], findings
