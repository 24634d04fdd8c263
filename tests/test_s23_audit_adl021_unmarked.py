"""ADL-021 with an opposing position the log cannot value at once (session 23, aud23 finishing aud22b).

``instant.get_eligible_opposing`` skipped, in silence, every opposing account holding any contract the log states no
mark for, in any currency, and every account with an isolated pool in the currency: a venue that writes no mark row
for one contract could say "no eligible taker" while an eligible short stood in the book, audited clean.  Now a
currency's pool equity is bounded over the positions settled in it alone (``engine/audit/bounds.py``): an account is
named when eligible at the least its equity can be (ADL-003 is monotone in the pool's equity), and the opposing
accounts left undecided so are handed back, for the auditor to list the shortfall as not judged.
"""

from __future__ import annotations

from perpspec.engine.audit.instant import CloseOut, get_eligible_opposing, get_shortfall_problems
from perpspec.engine.audit.ledger import Ledger, get_close_out_account
from perpspec.rules.instrument_file import load_instrument

INSTS = {symbol: load_instrument(symbol) for symbol in ("ETHUSD", "XBTUSD", "XBTUSDT")}
XBT = 100_000_000
PENDING = 7
TAKEOVER = 280_000  # the held ETHUSD long's take-over price: a short sold at 300,000 profits there


def _ledger(other: dict[int, tuple[str, int]]) -> Ledger:
    """Accounts 0 and 1 short 100 ETHUSD at 300,000 (mark 290,000: both eligible); ``other``: account -> (symbol,
    qty) of a second position, in a contract the log states no mark for."""
    ledger = Ledger(INSTS)
    ledger.set_mark("ETHUSD", 290_000)
    for account in (0, 1):
        ledger.deposit(account, "XBt", 100 * XBT)
        ledger.deposit(account, "USDt", 100 * XBT)
        ledger.fill(account, "ETHUSD", -100, 300_000)
    for account, (symbol, qty) in other.items():
        ledger.fill(account, symbol, qty, 5_000_000)
    ledger.fill(get_close_out_account(PENDING), "ETHUSD", 100, TAKEOVER)
    return ledger


def _named(ledger: Ledger, undecided: list[str] | None = None) -> list[str]:
    if undecided is None:  # the signature main has
        return [e.split(" (")[0] for e in get_eligible_opposing(ledger, INSTS, "ETHUSD", 100, TAKEOVER)]
    return [e.split(" (")[0] for e in get_eligible_opposing(ledger, INSTS, "ETHUSD", 100, TAKEOVER, undecided)]


def test_a_contract_without_a_mark_in_another_currency_does_not_hide_an_eligible_short() -> None:
    """Account 0 also holds XBTUSDT (settled in USDt, no mark): its XBt pool is valued exactly, it is named, and the
    shortfall saying no one was eligible is refused naming it (on main: only account 1 named)."""
    ledger = _ledger({0: ("XBTUSDT", 1_000)})
    assert _named(ledger) == ["account 0 holds -100", "account 1 holds -100"]
    shortfall = {"pending_id": PENDING, "symbol": "ETHUSD", "unfilled_qty": 100}
    [problem] = get_shortfall_problems(ledger, INSTS, shortfall, CloseOut(owner=9, symbol="ETHUSD",
                                       takeover_price=TAKEOVER), get_close_out_account(PENDING))
    assert "account 0 holds -100" in problem
    assert "without a mark" not in problem


def test_a_bounded_contract_without_a_mark_in_the_same_currency_is_named_at_the_least() -> None:
    """Account 0 also holds an XBTUSD short (settled in XBt, no mark): an inverse short is worth between 0 and its
    value at mark 1, so its pool is at least wallet - cost: eligible there, named "at least" (on main: skipped)."""
    ledger = _ledger({0: ("XBTUSD", -100)})
    undecided: list[str] = []
    assert _named(ledger) == ["account 0 holds -100", "account 1 holds -100"]
    eligible = get_eligible_opposing(ledger, INSTS, "ETHUSD", 100, TAKEOVER, undecided)
    assert "at least" in eligible[0]
    assert "XBTUSD without a mark" in eligible[0]
    assert "at least" not in eligible[1]
    assert undecided == []


def test_what_the_bounds_cannot_decide_is_handed_back_as_undecided() -> None:
    """Account 0 also holds an XBTUSD long (no mark: its loss at a low enough mark exceeds any wallet) and account 1
    an isolated margin setting in XBt (its pool's margin is not in the log): neither is named, both are handed back
    (on main: no ``undecided`` to hand them to, and nothing said)."""
    ledger = _ledger({0: ("XBTUSD", 100)})
    ledger.set_leverage(1, "ETHUSD", 500)
    undecided: list[str] = []
    assert _named(ledger, undecided) == []
    assert undecided == ["account 0 holds -100 (a contract without a mark)", "account 1 holds -100 (an isolated pool)"]
    # a shortfall said with no one eligible is then accepted (no problem), its undecided takers handed back
    shortfall = {"pending_id": PENDING, "symbol": "ETHUSD", "unfilled_qty": 100}
    undecided = []
    assert get_shortfall_problems(ledger, INSTS, shortfall, CloseOut(owner=9, symbol="ETHUSD", takeover_price=TAKEOVER),
                                  get_close_out_account(PENDING), undecided) == []
    assert len(undecided) == 2
    # an account whose exact pool is not eligible is decided, not handed back
    poor = _ledger({})
    poor.move_wallet(0, "XBt", -101 * XBT)  # below zero: not eligible at its exact equity
    undecided = []
    assert _named(poor, undecided) == ["account 1 holds -100"]
    assert undecided == []


def test_a_position_losing_at_the_take_over_price_is_decided_whatever_its_pool() -> None:
    """ADL-003 wants the opposing position not losing at the take-over price: one that loses there is not eligible
    whatever its pool, so an isolated pool (or a bound deciding nothing) leaves nothing undecided (without this, every
    losing short of an isolated account would make an honest shortfall 'not judged')."""
    ledger = Ledger(INSTS)
    ledger.set_mark("ETHUSD", 290_000)
    for account in (0, 1):
        ledger.deposit(account, "XBt", 100 * XBT)
        ledger.fill(account, "ETHUSD", -100, 270_000)  # sold at 2,700.00: loses at the 2,800.00 take-over
    ledger.fill(0, "XBTUSD", 100, 5_000_000)  # and no mark for it
    ledger.set_leverage(1, "ETHUSD", 500)
    ledger.fill(get_close_out_account(PENDING), "ETHUSD", 100, TAKEOVER)
    undecided: list[str] = []
    assert _named(ledger, undecided) == []
    assert undecided == []


def test_a_shortfall_whose_take_over_is_not_in_the_log_is_listed_as_not_judged() -> None:
    """tests/test_audit_s16.py's honest shortfall with its close-out's pending id changed to one no take-over in the
    log made (as a log beginning after the take-over would read): nothing to judge it against, listed as not judged at
    its line (on main: accepted in silence, the verdict complete)."""
    import tests.test_audit_s16 as s16
    from perpspec.engine.audit import INVARIANTS, RULES, audit_rows, load_mapping

    rows, instruments = s16._shortfall_log()
    index = next(i for i, row in enumerate(rows) if row.get("kind") == "AdlShortfall")
    rows[index] = {**rows[index], "pending_id": 99}
    for level in (INVARIANTS, RULES):
        result = audit_rows(enumerate(rows, 1), load_mapping("perpspec"), instruments, level)
        assert result.findings == []
        assert [(n.id, n.line) for n in result.unjudged] == [("ADL-021", index + 1)]
        assert "its take-over is not in the log" in result.unjudged[0].message
        assert not result.complete
