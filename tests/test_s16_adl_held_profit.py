"""ADL-032: a held close-out is deleveraged only once the mark has reached its bankruptcy price (session 16).

Red team 15 (/work/coord/repro16/redteam15_1.py): ADL-031 measures the fund's cover over everything the
liquidation engine holds in a currency, and once that cover was below 0 every held close-out the book did not take
was auto-deleveraged at its take-over (bankruptcy) price, in take-over order -- also one in PROFIT at mark, whose
mark had never reached that price.  Closing it there covers no shortfall: it hands the held profit to the
top-ranked opposing trader (a negative haircut) and leaves the fund poorer.  Colluders hedged a pair in XBTZ26,
an unrelated ETHUSD gap took the cover below 0, and the fund ended at 383,000 XBt instead of about 11.4M.  No
invariant noticed: INV-ADL-MINIMAL compared the haircut with max(shortfall, 0).

Now (``rules.adl.is_adl_due``, ADL-032, in the engine's ``Waterfall._close_pending`` and the rules model's
``close_out``): deleveraged only when the cover is < 0 and the mark is at or beyond the close-out's bankruptcy
price; a held position in profit at mark stays with the liquidation engine (AdlDeferred, rule ADL-032), for the
book or for settlement.  INV-ADL-MINIMAL also requires every ADL fill's haircut to be ≥ 0 (the auditor checks it
through the same function).  Proofs: ``ADL-032/gives-nothing-away/*`` (proved), ``KNOWN-BAD/ADL-032/cover-only/*``
(the old rule, refuted).
"""

from __future__ import annotations

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.proofs.known_bad_waterfall import is_adl_due_on_cover_only
from perpspec.rules.adl import compute_haircut, compute_held_pnl, is_adl_due
from perpspec.rules.events import AdlDeferred, AdlFill
from perpspec.rules.invariants import StepInfo, check_all
from perpspec.rules.invariants_trading import check_adl_minimal
from perpspec.rules.waterfall import Book, Ledger, PendingCloseOut, get_fund_cover
from tests.s16_adl_stream import run
from tests.test_waterfall_edges_closeout import ETHUSD, _held, _run, _with_eligible_short

Z, E = "XBTZ26", "ETHUSD"
EXPIRY = 1_798_200_000_000
T0 = EXPIRY - 60_000


def _ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    found = {name: problems for name, problems in check_all(engine, engine.step_info(events)).items() if problems}
    assert found == {}
    return events


def _records(events: list[Event], kind: type) -> list[object]:
    return [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, kind)]


# -- the kernel ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held_qty", "mark", "cover", "due"),
    [
        (5, 300_000, -1, True),  # a held long with the mark at its bankruptcy price: due
        (5, 299_995, -1, True),  # beyond it
        (5, 300_005, -1, False),  # one tick short of it: in profit at mark, kept
        (5, 299_000, 0, False),  # the fund still covers (ADL-031)
        (-5, 300_000, -1, True),  # a held short at its bankruptcy price
        (-5, 300_005, -1, True),
        (-5, 299_995, -1, False),
        (-5, 301_000, 0, False),
    ],
)
def test_adl_032_due_only_with_the_cover_below_zero_and_the_mark_at_or_beyond_the_bankruptcy_price(
    held_qty: int, mark: int, cover: int, due: bool
) -> None:
    assert is_adl_due(held_qty, 300_000, mark, cover) is due
    if due:  # what the proof says: the held PnL at mark ≤ 0 and every opposing close a haircut ≥ 0
        assert compute_held_pnl(ETHUSD, held_qty, 300_000, mark) <= 0
        assert compute_haircut(ETHUSD, -held_qty, mark, 300_000) >= 0


def test_adl_032_the_known_bad_rule_replays_its_counterexample() -> None:
    # KNOWN-BAD/ADL-032/cover-only/ETHUSD/engine-long: a held long of 1 at 0.05, the mark at 0.06, the cover -1
    assert is_adl_due_on_cover_only(1, 5, 6, -1) is True
    assert compute_haircut(ETHUSD, -1, 6, 5) < 0  # the short closed against it would be handed the held profit
    assert is_adl_due(1, 5, 6, -1) is False


# -- the rules model (rules.waterfall_closeout.close_out) --------------------------------------------------------------


def _with_a_losing_held_short(mark: int) -> tuple[Ledger, PendingCloseOut]:
    """Account 1's long of 5 ETHUSD held at 3,000.00, and a short of 100 held at 2,900.00: the cover is < 0."""
    ledger, item = _held(E, 5, 300_000, mark, fund=0, holdings=_with_eligible_short())
    other = PendingCloseOut(pending_id=1, account_id=9, symbol=E, qty=-100, takeover_price=290_000)
    ledger = attrs.evolve(ledger, pending=(item, other), next_pending_id=2)
    assert get_fund_cover(ledger, "XBt") < 0
    return ledger, item


def test_adl_032_the_rules_model_keeps_a_held_long_in_profit_at_mark_however_deep_the_cover() -> None:
    ledger, item = _with_a_losing_held_short(300_005)  # one tick above the long's bankruptcy price
    after, rest, events = _run(ledger, item, Book())
    [deferred] = events
    assert isinstance(deferred, AdlDeferred)
    assert (deferred.rule_id, deferred.unfilled_qty, deferred.fund_cover < 0) == ("ADL-032", 5, True)
    assert rest == 5
    assert after.holdings[(3, E)].position.qty == -5  # the eligible short is not handed the held profit


def test_adl_032_the_rules_model_deleverages_a_held_long_once_the_mark_reaches_its_bankruptcy_price() -> None:
    ledger, item = _with_a_losing_held_short(300_000)
    _, rest, events = _run(ledger, item, Book())
    [fill] = events
    assert isinstance(fill, AdlFill)
    assert (fill.account_id, fill.close_qty, fill.haircut, rest) == (3, -5, 0, 0)


# -- INV-ADL-MINIMAL: every fill's haircut ≥ 0 -------------------------------------------------------------------------


def test_inv_adl_minimal_reports_an_adl_fill_with_a_negative_haircut() -> None:
    engine = Engine()
    fill = AdlFill(
        rule_id="ADL-020", policy="ranked-queue", pending_id=0, symbol=E, account_id=3, rank=0, position_qty=-5,
        position_cost=-1, pool_equity=10, score_num=1, score_den=1, close_qty=-5, price=300_000, mark_price=300_005,
        haircut=compute_haircut(ETHUSD, -5, 300_005, 300_000), unfilled_before=5, unfilled_after=0, equity_after=10,
    )
    assert fill.haircut < 0
    problems = check_adl_minimal(engine, StepInfo(waterfall_events=(fill,)))
    [problem] = problems
    assert "haircut" in problem
    assert "< 0" in problem
    at_bankruptcy = attrs.evolve(fill, mark_price=300_000, haircut=0)
    assert check_adl_minimal(engine, StepInfo(waterfall_events=(at_bankruptcy,))) == []


# -- the engine: red team 15's colluders -------------------------------------------------------------------------------


def test_adl_032_a_held_future_short_in_profit_stays_with_the_fund_when_another_contract_drains_the_cover() -> None:
    engine = Engine()
    engine.track_steps = True
    v, colluder, w, d = 1, 2, 3, 4
    for account, amount in ((v, 3_000_000), (colluder, 10**10), (w, 10**7), (d, 10**10)):
        _ok(engine, c.VerifyAccount(time_ms=T0, account=account))
        _ok(engine, c.Deposit(time_ms=T0, account=account, asset="XBt", amount=amount))
    _ok(engine, c.PriceUpdate(time_ms=T0, symbol=Z, mark_price=5_000_000, index_price=5_000_000))
    _ok(engine, c.PriceUpdate(time_ms=T0, symbol=E, mark_price=300_000, index_price=300_000))
    _ok(engine, c.PlaceOrder(time_ms=T0, account=colluder, symbol=Z, side="Buy", order_qty=100_000, price=5_000_000))
    _ok(engine, c.PlaceOrder(time_ms=T0, account=v, symbol=Z, side="Sell", order_qty=100_000, price=5_000_000))
    _ok(engine, c.PlaceOrder(time_ms=T0, account=d, symbol=E, side="Sell", order_qty=1000, price=300_000))
    _ok(engine, c.PlaceOrder(time_ms=T0, account=w, symbol=E, side="Buy", order_qty=1000, price=300_000))
    _ok(engine, c.PriceUpdate(time_ms=T0 + 1, symbol=Z, mark_price=5_045_000, index_price=5_045_000))
    [held] = engine.waterfall.pending
    assert (held.symbol, held.qty, held.takeover_price) == (Z, -100_000, 5_068_350)  # V's short, taken over
    _ok(engine, c.PriceUpdate(time_ms=EXPIRY + 1, symbol=Z, mark_price=4_800_000, index_price=4_800_000))
    events = _ok(engine, c.PriceUpdate(time_ms=EXPIRY + 2, symbol=E, mark_price=240_000, index_price=240_000))
    fills = _records(events, AdlFill)
    assert [(f.symbol, f.account_id) for f in fills] == [(E, d)]  # only the ETHUSD long, whose mark passed its price
    assert all(f.haircut >= 0 for f in fills)
    deferred = [r for r in _records(events, AdlDeferred) if r.symbol == Z]
    assert [(r.rule_id, r.pending_id, r.fund_cover < 0) for r in deferred] == [("ADL-032", held.pending_id, True)]
    assert engine.accounts[colluder].positions[Z].qty == 100_000  # not handed the held profit
    _ok(engine, c.Settle(time_ms=EXPIRY + 3, symbol=Z, settlement_price=4_800_000))
    assert engine.insurance_funds["XBt"] == 11_413_000  # the held short's profit at 48,000 is the fund's (was 383,000)


# -- generated: no ADL fill ever has a negative haircut ----------------------------------------------------------------


def test_adl_032_generated_streams_never_deleverage_at_a_negative_haircut() -> None:
    # tests/s16_adl_stream.py: every invariant after every command; on the old rule seeds 0..19 gave 11 negative
    # haircuts (seeds 0, 1, 6, 9, 10, 12, 15), unseen by every invariant of the time
    totals: dict[str, int] = {}
    for seed in range(24):
        result = run(seed)
        assert result.problem is None, f"seed {seed}: {result.problem}"
        assert result.negative_haircuts == [], f"seed {seed}: {result.negative_haircuts}"
        for key, count in result.counts.items():
            totals[key] = totals.get(key, 0) + count
    assert totals.get("AdlFill", 0) > 0  # the streams reach ADL ...
    assert totals.get("AdlDeferred ADL-032", 0) > 0  # ... and hold close-outs in profit with the cover below 0
