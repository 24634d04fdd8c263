"""FND-019 end to end: the engine's funding haircut, and the auditor's licence for it (session 20, helper fnd20).

FND-019 (``rules.funding.compute_liquidator_funding``): the liquidation engine's funding is paid by the insurance
fund, never beyond its balance (after FND-008's residue); what the fund cannot pay is not credited to the receivers,
in account order, each at most its own credit.  ``perpspec audit --rules`` recomputes every funding payment
(FND-007) and licenses that haircut (``engine/audit/recompute.py`` ``check_funding``) only when the fund paid the
liquidation engine's share at the instant and that payment left it at zero.  The licence's end-to-end test was the
bounded tiny_crash log (tests/test_attack3_audit_bounded_waterfall.py, ``test_fnd_019_a_credit_cut_beyond_the_
funds_shortfall_is_caught``, removed in 1f28230): since session 19 FND-020 makes a FundingTick take the pools below
maintenance over before paying, and that log's funding no longer finds a close-out held.  The log below does.

The log (XBTUSD, one liquidation per update, an empty fund; commands as the tests build them, rows as ``perpspec
simulate`` writes them: the engine's events, a mark row per PriceUpdate, the funding row after the tick, each
account's final wallet).  Accounts 3 and 4 sell 50,000 at 50,000.00: account 3 to account 8 (10^10 XBt: safe),
account 4 to accounts 6 (1,200,000) and 7 (2,000,000).  The mark gaps to 49,300.00: account 6 is taken over
(equity −295,000; residual 76,000 to the fund) and its close-out deleveraged against account 4; account 7 (equity
505,000 < maintenance 575,750) is carried (LIQ-034).  A FundingTick at the cap (0.375%): FND-020 first runs the
waterfall at the mark, which takes account 7 over at 49,092.50 (residual 76,500: the fund holds 152,500); there is
no book, so its close-out stays held (ADL-031 defers: the mark is above its bankruptcy price).  Then it funds:
every 50,000 pays or receives 380,325 (residue 0); the liquidation engine owes 380,325 for account 7's long, the
fund pays the 152,500 it has, and the shortfall 227,825 is taken from the first receiver, account 3, credited
152,500; account 4 gets its full 380,325, account 8 pays 380,325.  The log audits clean at both levels.

Tampered copies (each consistent elsewhere: the reported wallets follow the cut) are reported: a credit one
satoshi beyond the shortfall (zero-sum and conservation: the fund's payment no longer balances it), the cut taken
from the wrong receiver (FND-007, account order), and the same haircut with a fund that could pay (FND-007: no
licence).  And fnd20_1 (/work/coord/repro20/fnd20_1.py): a payer taken below maintenance by its payment is taken
over by the waterfall that follows the payments, its residual posted to the fund before the funding row; the
licence read the fund at the funding row (76,175, not 0) and reported the engine's correct haircut as FND-007.
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.audit import INVARIANTS, RULES, audit_rows, load_mapping
from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, RuleEvent, Transaction
from perpspec.engine.core.exchange import Engine
from perpspec.engine.simulation.eventlog import encode_json, event_records, iso_timestamp, price_num, rate_num
from perpspec.engine.simulation.result import Tally
from perpspec.rules.events import InsuranceMovement, Liquidation
from perpspec.rules.funding import compute_funding_exchange, compute_liquidator_funding
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_conservation, check_funding_zero_sum
from perpspec.rules.position import Position

Row = dict[str, Any]
XBTUSD = load_instrument("XBTUSD")
INSTRUMENTS = {"XBTUSD": XBTUSD}
P0, CRASH, RATE = 5_000_000, 4_930_000, 375_000  # 50,000.00; 49,300.00; FND-004's cap for XBTUSD
LIQUIDATOR = -1
SAFE, THIN_6, THIN_7, MARGINAL_9 = 10**10, 1_200_000, 2_000_000, 2_200_000


def _commands(marginal_payer: bool = False, later_funding: bool = False) -> list[Any]:
    """The log's commands; ``marginal_payer``: account 9 also buys 50,000 from account 3 with 2,200,000 XBt, safe
    at 49,300.00 (equity 705,000 ≥ 575,750) until it pays its funding (324,675 after): fnd20_1.  ``later_funding``:
    then account 8 bids 50,000 at 49,092.50, the close-out's bankruptcy price, and a mark update at 49,300.00 sells
    the held close-out into it (no fund movement: the fund stays at 0), and a second FundingTick finds nothing held."""
    wallets = [(3, SAFE), (4, SAFE), (6, THIN_6), (7, THIN_7), (8, SAFE)] + ([(9, MARGINAL_9)] if marginal_payer else [])
    trades = [(3, 8), (4, 6), (4, 7)] + ([(3, 9)] if marginal_payer else [])
    commands: list[Any] = []
    for account, wallet in wallets:
        commands += [c.VerifyAccount(time_ms=0, account=account),
                     c.Deposit(time_ms=0, account=account, asset="XBt", amount=wallet)]
    commands.append(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=P0, index_price=P0))
    for maker, taker in trades:
        commands += [c.PlaceOrder(time_ms=0, account=maker, symbol="XBTUSD", side="Sell", order_qty=50_000, price=P0),
                     c.PlaceOrder(time_ms=0, account=taker, symbol="XBTUSD", side="Buy", order_qty=50_000, price=P0)]
    commands += [c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=CRASH, index_price=CRASH),
                 c.FundingTick(time_ms=2, symbol="XBTUSD", rate_e8=RATE)]
    if later_funding:
        commands += [c.PlaceOrder(time_ms=3, account=8, symbol="XBTUSD", side="Buy", order_qty=50_000, price=4_909_250),
                     c.PriceUpdate(time_ms=3, symbol="XBTUSD", mark_price=CRASH, index_price=CRASH),
                     c.FundingTick(time_ms=4, symbol="XBTUSD", rate_e8=RATE)]
    return commands


class Run:
    """The commands through a fresh engine (one liquidation per update); ``rows`` is the log simulate would write."""

    def __init__(self, commands: list[Any]) -> None:
        self.engine = Engine(INSTRUMENTS, max_liquidations_per_update=1)
        self.engine.track_steps = True
        self.events: list[list[Any]] = []
        self.before_funding: dict[str, Any] = {}
        tally, pending = Tally(), {}  # type: ignore[var-annotated]
        lines = []
        for command in commands:
            if isinstance(command, c.FundingTick):
                self.before_funding = {"fund": self.engine.insurance("XBt"), "wallets": self.wallets()}
            events = list(self.engine.process(command))
            assert isinstance(events[-1], Accepted), (command, events[-1])
            self.events.append(events)
            if isinstance(command, c.PriceUpdate) and command.mark_price is not None:  # simulate's mark row
                lines.append(encode_json({"table": "instrument", "timestamp": iso_timestamp(command.time_ms),
                                          "symbol": "XBTUSD", "markPrice": price_num(XBTUSD, command.mark_price)}))
            lines += [encode_json(row) for event in events for row in event_records(XBTUSD, event, tally, pending)]
            if isinstance(command, c.FundingTick):  # the rate's row, after the accepted tick's events
                lines.append(encode_json({"table": "funding", "timestamp": iso_timestamp(command.time_ms),
                                          "symbol": "XBTUSD", "fundingRate": rate_num(command.rate_e8)}))
        lines += [encode_json({"table": "margin", "timestamp": iso_timestamp(2), "account": account,
                               "currency": "XBt", "walletBalance": wallet}) for account, wallet in self.wallets().items()]
        self.rows: list[Row] = decode_rows(lines)

    def wallets(self) -> dict[int, int]:
        return {a: account.wallet("XBt") for a, account in sorted(self.engine.accounts.items()) if a >= 0}


def _audit(rows: list[Row], level: str) -> dict[str, int]:
    audited = audit_rows(enumerate(rows, start=1), load_mapping("perpspec"), INSTRUMENTS, level)
    assert audited.error is None, audited.error
    return audited.counts


def _funding(rows: list[Row]) -> list[tuple[int, int]]:
    return [(row["account"], row["amount"]) for row in rows if row.get("transactType") == "Funding"]


def _with_credits(rows: list[Row], credits: dict[int, int], move_wallets: bool = True) -> list[Row]:
    """The rows with each named account's funding credit reported as ``credits[account]`` and (``move_wallets``) its
    final reported wallet moved by the same amount (a venue's consistent log of that cut)."""
    moved = {account: amount - dict(_funding(rows))[account] for account, amount in credits.items() if move_wallets}
    out = []
    for row in rows:
        account = row.get("account")
        if row.get("transactType") == "Funding" and account in credits:
            row = {**row, "amount": credits[account]}
        elif row.get("table") == "margin" and account in moved:
            row = {**row, "walletBalance": row["walletBalance"] + moved[account]}
        out.append(row)
    return out


def _with_fund_deposit(rows: list[Row], amount: int) -> list[Row]:
    """The rows with ``amount`` deposited into the XBt fund before anything else (DepositInsurance, the engine's own
    rows for it) and every later fund movement's balances that much higher: a venue whose fund could pay."""
    engine = Engine(INSTRUMENTS)
    deposit = decode_rows([
        encode_json(row)
        for event in engine.process(c.DepositInsurance(time_ms=0, asset="XBt", amount=amount))
        for row in event_records(XBTUSD, event, Tally(), {})
    ])
    assert [(row["table"], row.get("kind")) for row in deposit] == [("rule", "deposit"), ("insurance", "deposit"),
                                                                     ("command", None)]
    shifted = []
    for row in rows:
        if row.get("table") == "rule" and "balance_before" in row:
            row = {**row, "balance_before": row["balance_before"] + amount, "balance_after": row["balance_after"] + amount}
        elif row.get("table") == "insurance":
            row = {**row, "walletBalance": row["walletBalance"] + amount}
        shifted.append(row)
    return [*deposit, *shifted]


def _with_skim(rows: list[Row], account: int, amount: int) -> list[Row]:
    """The rows with ``account``'s last funding credit reported ``amount`` lower, that amount posted to the fund as
    FND-008's residue right after it (zero-sum and conservation hold) and the account's reported wallet lower."""
    index = max(i for i, row in enumerate(rows) if row.get("transactType") == "Funding" and row["account"] == account)
    credit = rows[index]
    fund = next(row["balance_after"] for row in reversed(rows[:index]) if row.get("table") == "rule"
                and "balance_after" in row)
    residue = {"table": "rule", "seq": credit["seq"], "timestamp": credit["timestamp"], "ruleId": "FND-008",
               "kind": "funding residue", "account": -1, "symbol": "XBTUSD", "rule_id": "FND-008", "currency": "XBt",
               "amount": amount, "balance_before": fund, "balance_after": fund + amount, "pending_id": -1}
    out = [*rows[:index], {**credit, "amount": credit["amount"] - amount}, residue, *rows[index + 1:]]
    return [{**row, "walletBalance": row["walletBalance"] - amount}
            if row.get("table") == "margin" and row["account"] == account else row for row in out]


# --- (a) the engine: FND-019's haircut, exact -------------------------------------------------------------------


def test_fnd_019_the_fund_pays_what_it_has_and_the_first_receiver_is_credited_less() -> None:
    run = Run(_commands())
    engine, tick = run.engine, run.events[-1]
    [taken] = [e.record for e in tick if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
    assert (taken.account_id, taken.equity, taken.maintenance, taken.taken[0].takeover_price) == (
        7, 505_000, 575_750, 4_909_250
    )
    # the close-out is held when the funding is paid (no book; ADL-031 defers) and is still held after it
    [held] = engine.waterfall.pending
    assert (held.account, held.qty, held.cost, held.takeover_price) == (7, 50_000, -101_848_500, 4_909_250)
    assert run.before_funding["fund"] == 76_000  # account 6's residual; the tick's take-over adds 76,500
    # FND-008 as the rule gives it, the liquidation engine among the holders, then FND-019's cap
    holders = ((LIQUIDATOR, Position(qty=50_000, cost=-101_848_500)), (3, Position(qty=-50_000, cost=100_000_000)),
               (4, Position(qty=-50_000, cost=100_000_000)), (8, Position(qty=50_000, cost=-100_000_000)))
    exchange = compute_funding_exchange(XBTUSD, holders, CRASH, RATE)
    assert (exchange.wallet_deltas, exchange.residue) == (
        ((LIQUIDATOR, -380_325), (3, 380_325), (4, 380_325), (8, -380_325)), 0
    )
    capped = compute_liquidator_funding(152_500, 0, exchange.wallet_deltas, LIQUIDATOR)
    assert capped == ((LIQUIDATOR, -152_500), (3, 152_500), (4, 380_325), (8, -380_325))  # shortfall 227,825 on 3
    # what the engine did: exactly that, the fund's movement after the payments, the fund at 0
    paid = [(e.account, e.amount) for e in tick if isinstance(e, Transaction) and e.transact_type == "Funding"]
    assert paid == [(3, 152_500), (4, 380_325), (8, -380_325)] == [d for d in capped if d[0] != LIQUIDATOR]
    moves = [(m.rule_id, m.kind, m.amount, m.balance_before, m.balance_after) for e in tick if isinstance(e, RuleEvent)
             and isinstance(m := e.record, InsuranceMovement)]
    assert moves == [("INS-011", "residual", 76_500, 76_000, 152_500), ("FND-019", "funding", -152_500, 152_500, 0)]
    assert engine.insurance("XBt") == 0
    before = run.before_funding["wallets"]
    assert {a: w - before[a] for a, w in run.wallets().items() if w != before[a]} == {
        3: 152_500, 4: 380_325, 7: -1_925_000, 8: -380_325  # account 7: taken over, flat at exactly 0
    }
    # conservation and FND-008's zero sum (with the fund's share) hold after the tick
    step = engine.step_info(tick)
    assert [(p.wallet_deltas, p.residue) for p in step.funding] == [((-152_500, 152_500, 380_325, -380_325), 0)]
    assert check_conservation(engine, step) + check_funding_zero_sum(engine, step) == []


# --- (b) the auditor: the licence covers it ----------------------------------------------------------------------


def test_the_log_with_the_haircut_audits_clean_at_both_levels() -> None:
    rows = Run(_commands()).rows
    assert _funding(rows) == [(3, 152_500), (4, 380_325), (8, -380_325)]
    assert [(row["kind"], row["amount"], row["balance_after"]) for row in rows
            if row.get("table") == "rule" and row.get("ruleId") == "FND-019"] == [("funding", -152_500, 0)]
    assert (_audit(rows, INVARIANTS), _audit(rows, RULES)) == ({}, {})


# --- (c) tampered logs are reported -------------------------------------------------------------------------------


def test_a_credit_cut_one_satoshi_beyond_the_shortfall_is_reported() -> None:
    """What tests/test_attack3_audit_bounded_waterfall.py caught before session 19: account 3 credited 152,499.
    The licence takes the cut the log shows, but the fund's payment (152,500) no longer balances the credits:
    INV-FUNDING-ZERO-SUM and INV-CONSERVATION (the satoshi vanished); no FND-007.  With account 3's reported
    wallet left as the engine wrote it, ACC-003 too: that log's expectation before session 19, exactly."""
    rows = Run(_commands()).rows
    consistent = _with_credits(rows, {3: 152_499})
    assert _audit(consistent, RULES) == {"INV-CONSERVATION": 1, "INV-FUNDING-ZERO-SUM": 1}
    assert _audit(consistent, INVARIANTS) == {"INV-CONSERVATION": 1, "INV-FUNDING-ZERO-SUM": 1}
    assert _audit(_with_credits(rows, {3: 152_499}, move_wallets=False), RULES) == {
        "INV-CONSERVATION": 1, "INV-FUNDING-ZERO-SUM": 1, "ACC-003": 1
    }


def test_the_cut_taken_from_the_wrong_receiver_is_reported() -> None:
    """The same total cut from account 4 instead of account 3: zero-sum and conservation hold, the fund ends at 0,
    but FND-019 cuts in account order: FND-007 for both accounts (only at ``--rules``)."""
    rows = _with_credits(Run(_commands()).rows, {3: 380_325, 4: 152_500})
    assert _audit(rows, INVARIANTS) == {}
    assert _audit(rows, RULES) == {"FND-007": 2}


def test_the_haircut_with_a_fund_that_could_pay_is_reported() -> None:
    """The same log with 10^9 XBt more in the fund from the start: the fund's FND-019 payment leaves 10^9, so the
    liquidation engine's share was not cut and account 3 is owed its full 380,325 (FND-007)."""
    rows = _with_fund_deposit(Run(_commands()).rows, 10**9)
    assert _audit(rows, INVARIANTS) == {}
    audited = audit_rows(enumerate(rows, start=1), load_mapping("perpspec"), INSTRUMENTS, RULES)
    assert [(f.id, f.expected, f.reported) for f in audited.findings] == [("FND-007", "380325", "152500")]


def test_a_later_funding_is_not_licensed_by_an_earlier_fnd_019_payment() -> None:
    """The fund ends the first funding at 0 and stays there; the held close-out is then sold at its bankruptcy
    price and a second funding finds nothing held: every holder is paid in full.  Account 3's second credit
    reported 1,000 lower with that 1,000 posted to the fund as the residue (zero-sum and conservation hold) is
    FND-007: the fund's FND-019 payment belongs to the earlier instant, it licenses no cut here; and since fnd20b
    the residue is FND-008's, recomputed over the instant's holders (0 here, not 1,000)."""
    rows = Run(_commands(later_funding=True)).rows
    assert _funding(rows)[3:] == [(3, 380_325), (4, 380_325), (8, -760_650)]
    assert [row["kind"] for row in rows if row.get("table") == "rule"][-1] == "LiquidationFill"
    assert (_audit(rows, INVARIANTS), _audit(rows, RULES)) == ({}, {})
    skimmed = _with_skim(rows, 3, 1_000)
    assert _audit(skimmed, INVARIANTS) == {}
    audited = audit_rows(enumerate(skimmed, start=1), load_mapping("perpspec"), INSTRUMENTS, RULES)
    assert [(f.id, f.expected, f.reported) for f in audited.findings] == [
        ("FND-007", "380325", "379325"), ("FND-008", "0", "1000")
    ]


def test_fnd20_1_a_take_over_after_the_payments_does_not_void_the_licence() -> None:
    """fnd20_1: account 9 pays 380,325 and falls below maintenance; the waterfall after the payments takes it over
    and posts its residual 76,175 to the fund before the funding row.  The haircut (account 3 credited 152,500 of
    380,325) is still FND-019's: clean (the auditor read the fund at the funding row and reported FND-007)."""
    rows = Run(_commands(marginal_payer=True)).rows
    assert _funding(rows) == [(3, 152_500), (4, 760_650), (8, -380_325), (9, -380_325)]
    assert [(row["kind"], row["amount"], row["balance_after"]) for row in rows
            if row.get("table") == "rule" and row.get("kind") in ("residual", "funding")][-2:] == [
        ("funding", -152_500, 0), ("residual", 76_175, 76_175)
    ]
    assert (_audit(rows, INVARIANTS), _audit(rows, RULES)) == ({}, {})
    # and a cut beyond the shortfall there is still reported
    assert _audit(_with_credits(rows, {3: 152_499}), RULES) == {"INV-CONSERVATION": 1, "INV-FUNDING-ZERO-SUM": 1}
