"""Session 21, mut31 (/work/coord/repro21/mut31_report.md): slips in the auditor's FND-008 over every holder (fnd20b)
that survived tests/test_s20_fnd008_residue_audit.py and test_s20_fnd019_licence.py.

- mut31_13 (A7): ``check_funding``'s ``account >= 0`` -> ``> 0``: account 0 (an ordinary trader; the liquidation
  engine is -1) never asked for its payment, so its credit left out and booked as residue reported as residue only.
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.audit import INVARIANTS, RULES
from perpspec.engine.core import commands as c
from tests.test_s20_fnd008_residue_audit import P0, RATE, Run, _findings, _funding, _skim


def test_mut31_13_account_0_s_credit_booked_as_residue_is_reported() -> None:
    """fnd20_2's honest log with account 4 renamed 0 (it receives 750,000 at the instant); the venue leaves account
    0's credit out and books it as FND-008's residue: FND-008 for account 0's missing payment, and for the residue."""
    commands: list[Any] = []
    for account, wallet in ((3, 10**10), (0, 10**10), (6, 10**9), (7, 10**9), (8, 10**9)):
        commands += [c.VerifyAccount(time_ms=0, account=account),
                     c.Deposit(time_ms=0, account=account, asset="XBt", amount=wallet)]
    commands.append(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=P0, index_price=P0))
    for maker, taker in ((3, 8), (0, 6), (0, 7)):
        commands += [c.PlaceOrder(time_ms=0, account=maker, symbol="XBTUSD", side="Sell", order_qty=50_000, price=P0),
                     c.PlaceOrder(time_ms=0, account=taker, symbol="XBTUSD", side="Buy", order_qty=50_000, price=P0)]
    commands.append(c.FundingTick(time_ms=2, symbol="XBTUSD", rate_e8=RATE))
    rows = Run(commands).rows
    assert (0, 750_000) in _funding(rows)
    assert (_findings(rows, INVARIANTS), _findings(rows, RULES)) == ([], [])
    skimmed = _skim(rows, 0, 750_000)
    assert _findings(skimmed, RULES) == [("FND-008", "750000", "none"), ("FND-008", "0", "750000")]
