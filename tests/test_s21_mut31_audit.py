"""Session 21, mut31 (/work/coord/repro21/mut31_report.md): slips in the auditor's FND-008 over every holder (fnd20b)
that survived tests/test_s20_fnd008_residue_audit.py and test_s20_fnd019_licence.py.

- mut31_13 (A7): ``check_funding``'s ``account >= 0`` -> ``> 0``: account 0 (an ordinary trader; the liquidation
  engine is -1) never asked for its payment, so its credit left out and booked as residue reported as residue only.
- A14: ``funding_movement``'s currency check dropped: a residue row in XBt naming a USDt contract opened a funding
  instant for that contract, so the XBt instant's residue went unchecked.
- A12: ``on_funding``'s ``pending if pending is not None else current`` swapped: when a symbol's rate row comes an
  instant after its payments and that instant has a payment too, the residue booked with the first instant was
  judged against the second's snapshot (residue 0).
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.audit import INVARIANTS, RULES
from perpspec.engine.core import commands as c
from tests.test_s20_fnd008_residue_audit import P0, RATE, Run, _findings, _fnd20_2_log, _funding, _skim


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


SKIMMED = [("FND-008", "750000", "none"), ("FND-008", "0", "750000")]  # fnd20_2: account 4's credit booked as residue


def test_a14_a_residue_row_naming_another_currency_s_contract_is_the_instant_s_of_its_own_currency() -> None:
    """fnd20_2's skim with the XBt residue row naming XBTUSDT (settled in USDt): it is attributed to the XBt
    instant funded here (XBTUSD), so the residue is still recomputed and reported."""
    rows = _skim(_fnd20_2_log(), 4, 750_000)
    renamed = [{**row, "symbol": "XBTUSDT"} if row.get("kind") == "funding residue" else row for row in rows]
    assert _findings(renamed, RULES) == SKIMMED


def test_a12_a_rate_row_an_instant_late_judges_the_residue_of_the_instant_that_opened_the_funding() -> None:
    """fnd20_2's skim with account 8's payment, the rate row and the closing margin rows moved to the next instant
    (a foreign log): the residue booked in the first instant is judged with that instant's funding (the snapshot
    waiting for its rate), not with the second instant's (which holds no residue).  The move also breaks
    zero-sum and conservation per instant (INV-*), which is not what this checks."""
    rows = _skim(_fnd20_2_log(), 4, 750_000)
    late = [row for row in rows if (row.get("transactType") == "Funding" and row["account"] == 8)
            or row.get("table") == "funding" or (row.get("table") == "margin" and row["timestamp"].endswith(".002Z"))]
    early = [row for row in rows if not any(row is moved for moved in late)]
    moved = early + [{**row, "timestamp": "1970-01-01T00:00:00.003Z"} for row in late]
    assert [f for f in _findings(moved, RULES) if f[0].startswith("FND")] == SKIMMED
