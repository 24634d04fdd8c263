"""mut34: MRG-063's transfer check beside a contract the log states no mark for (session 23; engine/audit/recompute.py,
b06757a: ``check_transfer`` judges on ``margin_view(account, asset, self.unmarked(account, asset))``).

A position the log cannot value only lowers MRG-050's available balance, so the auditor leaves it out: the figure is
then the most it can be, and an honest transfer is never reported.  A mutation round (the view built without the
unmarked positions left out) found no test with a TransferMargin beside an unmarked contract.

5 (0.1 XBT) holds a 10x isolated long of 10,000 XBTUSD at 50,000 and 100 ETHUSD cross at 3,000 (30,000,000 XBt of
value), whose mark the log never states (the engine has it), and moves everything MRG-050 leaves it into its XBTUSD
pool.  Valued at the auditor's mark 0 (none stated), the ETHUSD long would count its whole value as a loss and report
the honest transfer.
"""

from __future__ import annotations

from perpspec.engine.audit import INVARIANTS, RULES
from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.core import commands as c
from tests.test_s22_audit_withdraw_unmarked import INSTRUMENTS, MARKS, E, Log, X, _audit


def _transfer_beside_unmarked() -> Log:
    log = Log()
    for symbol in (X, E):
        log.run(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=MARKS[symbol], index_price=MARKS[symbol]),
                mark_row=symbol == X)
    for account, amount in ((2, 10**11), (5, 10**7)):
        log.run(c.VerifyAccount(time_ms=0, account=account))
        log.run(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    log.run(c.SetLeverage(time_ms=0, account=5, symbol=X, leverage_hundredths=1000))
    for symbol, qty in ((X, 10_000), (E, 100 * INSTRUMENTS[E].lot_size)):
        log.run(c.PlaceOrder(time_ms=1, account=2, symbol=symbol, side="Sell", order_qty=qty, price=MARKS[symbol]))
        log.run(c.PlaceOrder(time_ms=1, account=5, symbol=symbol, side="Buy", order_qty=qty, price=MARKS[symbol]))
    amount = log.engine.available(5, "XBt")
    assert amount > 0
    log.run(c.TransferMargin(time_ms=2, account=5, symbol=X, amount=amount))
    return log


def test_an_honest_transfer_beside_an_unmarked_contract_is_clean() -> None:
    log = _transfer_beside_unmarked()
    rows = decode_rows(log.lines)
    assert [row["transactType"] for row in rows if row.get("transactType") == "TransferMargin"] == ["TransferMargin"]
    for level in (INVARIANTS, RULES):
        result = _audit(rows, level)
        assert result.findings == [], result.findings
