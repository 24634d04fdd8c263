"""Session 21, mut31 (/work/coord/repro21/mut31_report.md): slips in the auditor's FND-008 over every holder (fnd20b)
that survived tests/test_s20_fnd008_residue_audit.py and test_s20_fnd019_licence.py.

- mut31_13 (A7): ``check_funding``'s ``account >= 0`` -> ``> 0``: account 0 (an ordinary trader; the liquidation
  engine is -1) never asked for its payment, so its credit left out and booked as residue reported as residue only.
- A14: ``funding_movement``'s currency check dropped: a residue row in XBt naming a USDt contract opened a funding
  instant for that contract, so the XBt instant's residue went unchecked.
- A12: ``on_funding``'s ``pending if pending is not None else current`` swapped: when a symbol's rate row comes an
  instant after its payments and that instant has a payment too, the residue booked with the first instant was
  judged against the second's snapshot (residue 0).
- A15: ``open_here[-1]`` -> ``[0]``: a residue row naming no contract, in an instant funding two contracts of its
  currency, attributed to the first opened rather than the last.
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.audit import INVARIANTS, RULES, audit_rows, load_mapping
from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.simulation.eventlog import encode_json, event_records, iso_timestamp, price_num, rate_num
from perpspec.engine.simulation.result import Tally
from perpspec.rules.instrument_file import load_instrument
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


TWO = {symbol: load_instrument(symbol) for symbol in ("XBTUSD", "ETHUSD")}  # two perpetuals settled in XBt


def _two_contract_log() -> list[dict[str, Any]]:
    """An engine log (as tests/test_s20_fnd019_licence.py's Run writes it, for two contracts): 3 sells 50,000
    XBTUSD to 8, 4 sells 1,000 ETHUSD to 6; FundingTicks of both at 0.1% at the same time."""
    commands: list[Any] = []
    for account in (3, 4, 6, 8):
        commands += [c.VerifyAccount(time_ms=0, account=account),
                     c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10)]
    for symbol, price, maker, taker, qty in (("XBTUSD", 5_000_000, 3, 8, 50_000), ("ETHUSD", 300_000, 4, 6, 1_000)):
        commands += [c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price),
                     c.PlaceOrder(time_ms=0, account=maker, symbol=symbol, side="Sell", order_qty=qty, price=price),
                     c.PlaceOrder(time_ms=0, account=taker, symbol=symbol, side="Buy", order_qty=qty, price=price)]
    commands += [c.FundingTick(time_ms=2, symbol="XBTUSD", rate_e8=100_000),
                 c.FundingTick(time_ms=2, symbol="ETHUSD", rate_e8=100_000)]
    engine = Engine(TWO)
    engine.track_steps = True
    tally, pending, lines = Tally(), {}, []  # type: ignore[var-annotated]
    for command in commands:
        inst = TWO[getattr(command, "symbol", None) or "XBTUSD"]
        events = list(engine.process(command))
        assert isinstance(events[-1], Accepted), (command, events[-1])
        if isinstance(command, c.PriceUpdate):
            lines.append(encode_json({"table": "instrument", "timestamp": iso_timestamp(command.time_ms),
                                      "symbol": command.symbol, "markPrice": price_num(inst, command.mark_price)}))
        lines += [encode_json(row) for event in events for row in event_records(inst, event, tally, pending)]
        if isinstance(command, c.FundingTick):
            lines.append(encode_json({"table": "funding", "timestamp": iso_timestamp(command.time_ms),
                                      "symbol": command.symbol, "fundingRate": rate_num(command.rate_e8)}))
    lines += [encode_json({"table": "margin", "timestamp": iso_timestamp(2), "account": account, "currency": "XBt",
                           "walletBalance": engine.accounts[account].wallet("XBt")}) for account in (3, 4, 6, 8)]
    return decode_rows(lines)


def _two_findings(rows: list[dict[str, Any]], level: str) -> list[tuple[str, str, str, str]]:
    audited = audit_rows(enumerate(rows, start=1), load_mapping("perpspec"), TWO, level)
    assert audited.error is None, audited.error
    return [(f.id, f.expected, f.reported, f.message.split(":")[0]) for f in audited.findings]


def test_a15_an_unnamed_residue_row_is_the_last_opened_funding_of_its_currency() -> None:
    """A foreign log funding XBTUSD and ETHUSD in one instant (the XBTUSD tick's command row removed, its rate row
    after ETHUSD's): account 4's ETHUSD credit of 300,000 booked as a residue row naming no contract, after the
    ETHUSD payments.  The residue is the last opened funding's (ETHUSD), so FND-008 reports the ETHUSD residue."""
    rows = _two_contract_log()
    assert [(r["account"], r["symbol"], r["amount"]) for r in rows if r.get("transactType") == "Funding"] == [
        (3, "XBTUSD", 100_000), (8, "XBTUSD", -100_000), (4, "ETHUSD", 300_000), (6, "ETHUSD", -300_000)]
    assert (_two_findings(rows, INVARIANTS), _two_findings(rows, RULES)) == ([], [])
    skimmed = _skim(rows, 4, 300_000)
    residue = next(row for row in skimmed if row.get("kind") == "funding residue")
    unnamed = {key: value for key, value in residue.items() if key != "symbol"}
    xbt_tick = next(row for row in skimmed if row.get("command") == "FundingTick")
    xbt_rate = next(row for row in skimmed if row.get("table") == "funding" and row["symbol"] == "XBTUSD")
    foreign = [row for row in skimmed if row is not residue and row is not xbt_tick and row is not xbt_rate]
    six = next(i for i, row in enumerate(foreign) if row.get("transactType") == "Funding" and row["account"] == 6)
    foreign.insert(six + 1, unnamed)
    eth_rate = next(i for i, row in enumerate(foreign) if row.get("table") == "funding")
    foreign.insert(eth_rate + 1, xbt_rate)
    found = [f for f in _two_findings(foreign, RULES) if f[0].startswith("FND")]
    assert found == [("FND-008", "300000", "none", "account 4 ETHUSD"), ("FND-008", "0", "300000", "ETHUSD")]
