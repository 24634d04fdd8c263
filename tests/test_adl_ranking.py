"""ADL-003/005 in the engine (Waterfall._adl_ranked over engine.adlrank.AdlRanking) against the plain scan and full sort.

The engine keeps, during one round of a waterfall, every holder's ADL row per contract
and side in a lazily sorted heap, re-reads only the accounts touched since,
and under the ranked queue walks the ranking only until the close-out is
covered.  The reference is what the engine did before: every holder of the
contract in account order, its pool through ``Risk.pool_of``, ADL-003,
then ``rank_candidates`` over all the eligible.  The check wraps
``Waterfall._adl_ranked``, so it compares every ADL call of whole waterfalls —
several close-outs reaching ADL in one update, accounts deleveraged or filled
in between — on crowds of up to 25 traders (cross and isolated, one or two
contracts), under both policies.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core.adlrank import AdlRanking
from perpspec.engine.core.exchange import Pending
from perpspec.engine.core.waterfall import Waterfall
from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import run_scenario
from perpspec.rules.adl import (
    POLICIES,
    AdlCandidate,
    AdlPolicy,
    RankedQueuePolicy,
    is_adl_eligible,
    rank_candidates,
)
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from tests.test_waterfall_differential import (
    INSTRUMENTS,
    START_MARK,
    SYMBOL_SETS,
    Scenario,
    Trade,
    build_engine,
)


def scan(waterfall: Waterfall, inst_symbol: str, pending: Pending) -> list[AdlCandidate]:
    """The reference: every holder, its full pool, ADL-003, then ADL-005 over all the eligible."""
    inst = waterfall.market.instrument_map[inst_symbol]
    mark = waterfall.market.marks[inst_symbol]
    found = []
    for account_id in sorted(waterfall.ledger.holders[inst_symbol]):
        if account_id < 0:
            continue
        account = waterfall.ledger.accounts[account_id]
        ps = account.positions[inst_symbol]
        _, equity, _, _ = waterfall.risk.pool_of(account, inst_symbol)
        if is_adl_eligible(inst, ps.qty, ps.cost, equity, mark, pending.qty, pending.takeover_price):
            mark_value = compute_value(inst, ps.qty, mark)
            found.append(AdlCandidate(account_id=account_id, qty=ps.qty, cost=ps.cost, pool_equity=equity, mark_value=mark_value))
    return rank_candidates(found)


class Calls:
    """What the wrapped ``_adl_ranked`` saw: (engine's answer, the scan's, lots, lot size, policy) per call."""

    def __init__(self) -> None:
        self.seen: list[tuple[list[AdlCandidate], list[AdlCandidate], int, int, AdlPolicy]] = []

    def problems(self) -> list[str]:
        found = []
        for number, (answer, full, lots, lot_size, policy) in enumerate(self.seen):
            sizes = [abs(candidate.qty) // lot_size for candidate in answer]
            if not isinstance(policy, RankedQueuePolicy):
                expected = full
            else:  # the shortest prefix of the full ranking covering the lots (all of it when none does)
                expected, covered = [], 0
                for candidate in full:
                    if covered >= lots:
                        break
                    expected.append(candidate)
                    covered += abs(candidate.qty) // lot_size
            if answer != expected:
                found.append(f"call {number} ({policy.name}, {lots} lots, sizes {sizes}): {answer} != {expected}")
        return found


def check_every_call(patch: pytest.MonkeyPatch) -> Calls:
    """Wrap ``Waterfall._adl_ranked``: each call also runs the scan, on the same state, before the engine answers."""
    record = Calls()
    original = Waterfall._adl_ranked

    def checked(self: Waterfall, inst: Instrument, pending: Pending, policy: AdlPolicy, ranking: AdlRanking) -> list[AdlCandidate]:
        full = scan(self, inst.symbol, pending)
        answer = original(self, inst, pending, policy, ranking)
        record.seen.append((answer, full, abs(pending.qty) // inst.lot_size, inst.lot_size, policy))
        return answer

    patch.setattr(Waterfall, "_adl_ranked", checked)
    return record


@st.composite
def crowds(draw: st.DrawFn) -> Scenario:
    """A crowd of leveraged traders, an empty fund and a thin or empty book: close-outs reach ADL."""
    symbols = draw(st.sampled_from(SYMBOL_SETS))
    traders = draw(st.integers(min_value=3, max_value=25))
    trades = []
    for _ in range(draw(st.integers(min_value=2, max_value=24))):
        buyer = draw(st.integers(min_value=1, max_value=traders))
        seller = (buyer + draw(st.integers(min_value=0, max_value=traders - 2))) % traders + 1
        share = draw(st.sampled_from((500_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000)))
        trades.append(Trade(buyer=buyer, seller=seller, symbol=draw(st.sampled_from(symbols)), share_ppm=share))
    return Scenario(
        symbols=symbols,
        deposits_ppm=tuple(draw(st.integers(min_value=20_000, max_value=1_000_000)) for _ in range(traders)),
        leverages=tuple(tuple(draw(st.sampled_from((0, 0, 1_000, 2_500, 5_000))) for _ in symbols) for _ in range(traders)),
        trades=tuple(trades),
        levels=tuple(draw(st.lists(st.tuples(st.integers(0, 60), st.integers(1, 5)), max_size=2, unique_by=lambda x: x[0]))),
        fund=draw(st.sampled_from((0, 0, 1))),
        moved=draw(st.sampled_from(symbols)),
        move_ppm=draw(st.one_of(st.integers(-300_000, -30_000), st.integers(30_000, 300_000))),
        policy=draw(st.sampled_from(sorted(POLICIES))),
    )


@settings(max_examples=200, deadline=None)
@given(scenario=crowds())
def test_every_adl_call_of_a_waterfall_ranks_as_the_full_scan(scenario: Scenario) -> None:
    check_crowd(scenario)


@pytest.mark.deep
@settings(max_examples=5_000, deadline=None)
@given(scenario=crowds())
def test_every_adl_call_of_a_waterfall_ranks_as_the_full_scan_deep(scenario: Scenario) -> None:
    check_crowd(scenario)


def check_crowd(scenario: Scenario) -> None:
    with pytest.MonkeyPatch.context() as patch:
        record = check_every_call(patch)
        engine = build_engine(scenario)
        inst = INSTRUMENTS[scenario.moved]
        old = START_MARK[scenario.moved]
        mark = max(inst.tick_size, (old + old * scenario.move_ppm // 1_000_000) // inst.tick_size * inst.tick_size)
        engine.process(c.PriceUpdate(time_ms=1, symbol=scenario.moved, mark_price=mark))
    event(f"ADL calls in the waterfall: {min(len(record.seen), 3)}{'+' if len(record.seen) >= 3 else ''}")
    event(f"a call read a prefix only: {any(len(answer) < len(full) for answer, full, *_ in record.seen)}")
    assert record.problems() == []


@pytest.mark.parametrize("policy", ["queue", "pro-rata"])
def test_every_adl_call_of_the_tiny_crash_simulation_ranks_as_the_full_scan(
    policy: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """1,000 accounts, a 30% fall in 20 minutes, a near-empty fund: ~20 close-outs reach ADL, several per update."""
    calls = check_every_call(monkeypatch)
    run_scenario(load_scenario("tiny_crash", overrides=[("accounts.count", "1000"), ("adl.policy", policy)]), tmp_path)
    assert (calls.problems(), len(calls.seen) >= 15) == ([], True)


def test_a_row_re_read_after_a_change_moves_between_heap_and_sorted_prefix() -> None:
    """AdlRanking: the prefix read so far stays sorted when a noted account's row ranks higher or lower."""
    rows = {
        account: AdlCandidate(account_id=account, qty=-100 * account, cost=-10_000, pool_equity=5_000, mark_value=-9_000)
        for account in (1, 2, 3, 4)
    }
    ranking = AdlRanking()
    first = [c.account_id for c in ranking.ranked("X", False, rows, rows.get)]
    read_two = ranking.ranked("X", False, rows, rows.get)
    next(read_two), next(read_two)  # 4 and 3 (the larger positions first on equal scores) are now the sorted prefix
    rows[1] = AdlCandidate(account_id=1, qty=-100, cost=-10_000, pool_equity=5_000, mark_value=-5_000)  # now the best
    rows[4] = AdlCandidate(account_id=4, qty=-400, cost=-10_000, pool_equity=5_000, mark_value=-9_500)  # now the worst
    ranking.note([1, 4])
    after = [c.account_id for c in ranking.ranked("X", False, rows, rows.get)]
    assert (first, after) == ([4, 3, 2, 1], [1, 3, 2, 4])
