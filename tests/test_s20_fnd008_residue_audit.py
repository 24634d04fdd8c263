"""FND-008 at the funding row: every holder paid, the residue the rule's (session 20, helper fnd20b; fnd20_2).

``perpspec audit --rules`` recomputed each funding payment the log reports (FND-007) and zero-sum with the residue
the log states (INV-FUNDING-ZERO-SUM), never FND-008 itself: a venue that left a receiver out of a funding instant
and posted its credit to the insurance fund as "funding residue" wrote a log that was zero-sum, conserved and whose
every reported payment was FND-007's, and it audited clean (/work/coord/repro20/fnd20_2.py).  Since fnd20b the
auditor keeps, at a funding instant's first record (a payment or the fund's funding or residue movement), the
holders its ledger knows (the liquidation engine's close-outs as one holder, account −1, as the engine funds them;
``engine/audit/instant.py`` ``get_funding_snapshot``), and at the funding row (``engine/audit/recompute.py``
``check_funding``): a trader with no payment row stands in at 0 and is reported (FND-008) unless FND-007, with
FND-019's haircut licensed as before, gives it 0; and the residue the log states must be
``rules.funding.compute_funding_exchange``'s over those holders (FND-008).

No invariant is broken by the skim (zero-sum and conservation hold): ``--invariants`` stays clean on it by design.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perpspec.engine.audit import INVARIANTS, RULES, audit_rows, load_mapping
from perpspec.engine.core import commands as c
from perpspec.rules.funding import compute_funding_exchange
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.position import Position
from tests.test_attack3_audit_bounded_waterfall import _tiny_crash_log
from tests.test_s20_fnd019_licence import CRASH, P0, RATE, XBTUSD, Run, _commands, _with_fund_deposit

Row = dict[str, Any]
TINY = {symbol: load_instrument(symbol) for symbol in ("XBTUSD", "XBTUSDT")}


def _findings(rows: list[Row], level: str) -> list[tuple[str, str, str]]:
    audited = audit_rows(enumerate(rows, start=1), load_mapping("perpspec"), TINY, level)
    assert audited.error is None, audited.error
    return [(f.id, f.expected, f.reported) for f in audited.findings]


def _funding(rows: list[Row]) -> list[tuple[int, int]]:
    return [(row["account"], row["amount"]) for row in rows if row.get("transactType") == "Funding"]


def _fnd20_2_log() -> list[Row]:
    """fnd20_2's honest log: 3 and 4 sell 50,000 at 50,000.00 to 8, 6 and 7 (4 sells 100,000), all safe; a
    FundingTick at 0.375% at that mark: 6, 7, 8 pay 375,000 each, 3 receives 375,000, 4 receives 750,000."""
    commands: list[Any] = []
    for account, wallet in ((3, 10**10), (4, 10**10), (6, 10**9), (7, 10**9), (8, 10**9)):
        commands += [c.VerifyAccount(time_ms=0, account=account),
                     c.Deposit(time_ms=0, account=account, asset="XBt", amount=wallet)]
    commands.append(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=P0, index_price=P0))
    for maker, taker in ((3, 8), (4, 6), (4, 7)):
        commands += [c.PlaceOrder(time_ms=0, account=maker, symbol="XBTUSD", side="Sell", order_qty=50_000, price=P0),
                     c.PlaceOrder(time_ms=0, account=taker, symbol="XBTUSD", side="Buy", order_qty=50_000, price=P0)]
    commands.append(c.FundingTick(time_ms=2, symbol="XBTUSD", rate_e8=RATE))
    rows = Run(commands).rows
    assert _funding(rows) == [(3, 375_000), (4, 750_000), (6, -375_000), (7, -375_000), (8, -375_000)]
    return rows


def _skim(rows: list[Row], account: int, amount: int) -> list[Row]:
    """The rows with ``account``'s first funding payment reported ``amount`` higher (a credit lower; the row dropped
    when that leaves it 0), that amount posted to the fund as FND-008's "funding residue" right after it, every later
    fund balance that much higher and the account's later reported wallets that much lower: a venue's consistent log
    of the skim (zero-sum, conservation and the fund's continuity hold)."""
    index = next(i for i, row in enumerate(rows) if row.get("transactType") == "Funding" and row["account"] == account)
    paid = rows[index]
    fund = next((row["balance_after"] for row in reversed(rows[:index])
                 if row.get("table") == "rule" and "balance_after" in row), 0)
    residue = {"table": "rule", "seq": paid["seq"], "timestamp": paid["timestamp"], "ruleId": "FND-008",
               "kind": "funding residue", "account": -1, "symbol": paid["symbol"], "rule_id": "FND-008",
               "currency": paid["currency"], "amount": amount, "balance_before": fund, "balance_after": fund + amount,
               "pending_id": -1}
    kept = [] if paid["amount"] == amount else [{**paid, "amount": paid["amount"] - amount}]
    later = []
    for row in rows[index + 1:]:
        if row.get("table") == "rule" and "balance_after" in row:
            row = {**row, "balance_before": row["balance_before"] + amount, "balance_after": row["balance_after"] + amount}
        elif row.get("table") == "margin" and row["account"] == account:
            row = {**row, "walletBalance": row["walletBalance"] - amount}
        later.append(row)
    return [*rows[:index], *kept, residue, *later]


def _drop(rows: list[Row], account: int) -> list[Row]:
    """The rows without ``account``'s first funding payment, its later reported wallets as if it was never made."""
    index = next(i for i, row in enumerate(rows) if row.get("transactType") == "Funding" and row["account"] == account)
    amount = rows[index]["amount"]
    return [*rows[:index], *({**row, "walletBalance": row["walletBalance"] - amount}
                             if row.get("table") == "margin" and row["account"] == account else row
                             for row in rows[index + 1:])]


def _recredit(rows: list[Row], account: int, amount: int) -> list[Row]:
    """The rows with ``account``'s first funding payment ``amount`` higher, its later reported wallets too."""
    index = next(i for i, row in enumerate(rows) if row.get("transactType") == "Funding" and row["account"] == account)
    return [*rows[:index], {**rows[index], "amount": rows[index]["amount"] + amount},
            *({**row, "walletBalance": row["walletBalance"] + amount}
              if row.get("table") == "margin" and row["account"] == account else row for row in rows[index + 1:])]


# --- fnd20_2 ---------------------------------------------------------------------------------------------------


def test_fnd20_2_a_receivers_credit_booked_as_residue_is_reported() -> None:
    """fnd20_2: account 4's credit of 750,000 left out, an FND-008 residue of 750,000 to the fund in its place.
    FND-008 twice at ``--rules``: account 4 is owed 750,000 and has no row; the residue is 0, not 750,000.  No
    invariant is broken (zero-sum and conservation hold), so ``--invariants`` reports nothing, by design."""
    rows = _fnd20_2_log()
    assert (_findings(rows, INVARIANTS), _findings(rows, RULES)) == ([], [])
    skimmed = _skim(rows, 4, 750_000)
    assert (4, 750_000) not in _funding(skimmed)
    assert _findings(skimmed, INVARIANTS) == []
    assert _findings(skimmed, RULES) == [("FND-008", "750000", "none"), ("FND-008", "0", "750000")]
    audited = audit_rows(enumerate(skimmed, start=1), load_mapping("perpspec"), TINY, RULES)
    assert "account 4 XBTUSD: no funding payment" in audited.findings[0].message
    assert audited.findings[1].kind == "insurance"


def test_part_of_a_credit_moved_into_the_residue_is_reported() -> None:
    """1,000 of account 4's credit moved into the residue: FND-007 (its row) and FND-008 (the residue)."""
    skimmed = _skim(_fnd20_2_log(), 4, 1_000)
    assert _findings(skimmed, INVARIANTS) == []
    assert _findings(skimmed, RULES) == [("FND-007", "750000", "749000"), ("FND-008", "0", "1000")]


def test_a_payers_row_dropped_is_reported() -> None:
    """Account 6's payment of 375,000 dropped and account 4 credited 375,000 less to keep it zero-sum (conserved):
    FND-007 for account 4 as before fnd20b, and now FND-008 for account 6's missing payment.  Dropped alone, it
    breaks zero-sum and conservation too."""
    consistent = _recredit(_drop(_fnd20_2_log(), 6), 4, -375_000)
    assert _findings(consistent, INVARIANTS) == []
    assert _findings(consistent, RULES) == [("FND-007", "750000", "375000"), ("FND-008", "-375000", "none")]
    dropped = _drop(_fnd20_2_log(), 6)
    assert ("FND-008", "-375000", "none") in _findings(dropped, RULES)
    assert {f[0] for f in _findings(dropped, INVARIANTS)} == {"INV-CONSERVATION", "INV-FUNDING-ZERO-SUM"}


# --- correct engine logs audit clean; tampered ones are reported -----------------------------------------------


def test_the_tiny_crash_funding_is_fnd_008s_and_audits_clean(tmp_path: Path) -> None:
    """tiny_crash (started at 03:45) funds XBTUSD at 04:00 with a residue of 13 satoshis; bounded (one liquidation per
    update) and not, it audits clean at both levels with the residue recomputed."""
    for bound in ("1", "64"):
        rows = _tiny_crash_log(tmp_path / bound, bound)
        residues = [row["amount"] for row in rows if row.get("kind") == "funding residue" and row["table"] == "rule"]
        assert residues == [13]
        assert (_findings(rows, INVARIANTS), _findings(rows, RULES)) == ([], [])


def test_tiny_crash_tampered_funding_is_reported(tmp_path: Path) -> None:
    """The bounded tiny_crash log: account 2's credit of 37,335 booked as residue (FND-008 twice: the residue is 13,
    not 37,348); account 4's payment of 160,011 dropped (FND-008, and zero-sum and conservation)."""
    rows = _tiny_crash_log(tmp_path, "1")
    assert (2, 37_335) in _funding(rows)
    assert (4, -160_011) in _funding(rows)
    skimmed = _skim(rows, 2, 37_335)
    assert _findings(skimmed, INVARIANTS) == []
    assert _findings(skimmed, RULES) == [("FND-008", "37335", "none"), ("FND-008", "13", "37348")]
    dropped = _drop(rows, 4)
    assert ("FND-008", "-160011", "none") in _findings(dropped, RULES)


def test_the_fnd_019_licence_logs_audit_clean() -> None:
    """The FND-019 logs of tests/test_s20_fnd019_licence.py (a close-out held at the funding: the liquidation
    engine is a holder, its share paid by the fund; fnd20_1; a later funding) audit clean at both levels."""
    for commands in (_commands(), _commands(marginal_payer=True), _commands(later_funding=True)):
        rows = Run(commands).rows
        assert (_findings(rows, INVARIANTS), _findings(rows, RULES)) == ([], [])


def _cut_to_zero_commands() -> list[Any]:
    """tests/test_s20_fnd019_licence.py's log with account 3 selling 20,000 (not 50,000) to account 8: at the
    FundingTick the fund (152,500) cannot pay the liquidation engine's 380,325, and the shortfall 227,825 takes all of
    account 3's credit (152,130, so the engine posts no row for it) and 75,695 of account 4's."""
    commands = []
    for command in _commands():
        if isinstance(command, c.PlaceOrder) and command.account in (3, 8):
            command = c.PlaceOrder(time_ms=command.time_ms, account=command.account, symbol="XBTUSD",
                                   side=command.side, order_qty=20_000, price=command.price)
        commands.append(command)
    return commands


def test_a_receiver_fnd_019_cut_to_zero_has_no_row_and_audits_clean() -> None:
    """The engine's haircut cuts account 3 to 0: it has no row, rightly (FND-019), and the log audits clean; with
    10^9 more in the fund (it could pay, no licence) account 3's missing credit is reported (FND-008) and account
    4's cut (FND-007)."""
    run = Run(_cut_to_zero_commands())
    rows = run.rows
    holders = ((-1, Position(qty=50_000, cost=-101_848_500)), (3, Position(qty=-20_000, cost=40_000_000)),
               (4, Position(qty=-50_000, cost=100_000_000)), (8, Position(qty=20_000, cost=-40_000_000)))
    exchange = compute_funding_exchange(XBTUSD, holders, CRASH, RATE)
    assert (exchange.wallet_deltas, exchange.residue) == (
        ((-1, -380_325), (3, 152_130), (4, 380_325), (8, -152_130)), 0
    )
    assert _funding(rows) == [(4, 304_630), (8, -152_130)]  # account 3: cut to 0, no row
    assert (_findings(rows, INVARIANTS), _findings(rows, RULES)) == ([], [])
    rich = _with_fund_deposit(rows, 10**9)
    assert _findings(rich, INVARIANTS) == []
    assert _findings(rich, RULES) == [("FND-008", "152130", "none"), ("FND-007", "380325", "304630")]
