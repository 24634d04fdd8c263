"""ADL-003/005 in the engine (engine.adlrank, Engine._adl_candidates) against the plain scan and full sort.

The engine prunes holders by side and by "not losing at the bankruptcy price"
before it computes a pool's equity (without maintenance), and the ranked queue
takes only the prefix of the ranking it closes out of a heap.  The reference
here is what the engine did before: every holder of the contract in account
order, the pool through ``Engine._pool_of``, ``is_adl_eligible``, then
``rank_candidates`` over all of them.  States come from the waterfall
differential's builder (cross and isolated traders, one or two contracts, a
mark move through the engine's own waterfall), with up to 25 traders.
"""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from engine import commands as c
from engine.adlrank import select_ranked
from engine.exchange import Engine, Pending
from rules.adl import POLICIES, AdlCandidate, is_adl_eligible, rank_candidates
from rules.contract import compute_value
from tests.test_waterfall_differential import (
    INSTRUMENTS,
    START_MARK,
    SYMBOL_SETS,
    Scenario,
    Trade,
    build_engine,
)


def scan(engine: Engine, symbol: str, pending_qty: int, bankruptcy: int) -> list[AdlCandidate]:
    """The reference: every holder, its full pool, ADL-003, then ADL-005 over all the eligible."""
    inst = engine.instrument_map[symbol]
    mark = engine.marks[symbol]
    found = []
    for account_id in sorted(engine.holders[symbol]):
        if account_id < 0:
            continue
        account = engine.accounts[account_id]
        ps = account.positions[symbol]
        _, equity, _, _ = engine._pool_of(account, symbol)
        if is_adl_eligible(inst, ps.qty, ps.cost, equity, mark, pending_qty, bankruptcy):
            mark_value = compute_value(inst, ps.qty, mark)
            found.append(AdlCandidate(account_id=account_id, qty=ps.qty, cost=ps.cost, pool_equity=equity, mark_value=mark_value))
    return rank_candidates(found)


@st.composite
def crowds(draw: st.DrawFn) -> tuple[Scenario, int]:
    """A crowd of traders with positions, after one mark move; and the lots of a close-out to place."""
    symbols = draw(st.sampled_from(SYMBOL_SETS))
    traders = draw(st.integers(min_value=2, max_value=25))
    trades = []
    for _ in range(draw(st.integers(min_value=1, max_value=20))):
        buyer = draw(st.integers(min_value=1, max_value=traders))
        seller = (buyer + draw(st.integers(min_value=0, max_value=traders - 2))) % traders + 1
        share = draw(st.sampled_from((500_000, 2_000_000, 5_000_000, 10_000_000)))
        trades.append(Trade(buyer=buyer, seller=seller, symbol=draw(st.sampled_from(symbols)), share_ppm=share))
    scenario = Scenario(
        symbols=symbols,
        deposits_ppm=tuple(draw(st.integers(min_value=20_000, max_value=1_000_000)) for _ in range(traders)),
        leverages=tuple(tuple(draw(st.sampled_from((0, 0, 1_000, 2_500, 5_000))) for _ in symbols) for _ in range(traders)),
        trades=tuple(trades),
        levels=(),
        fund=10_000,  # a large fund: the move rarely liquidates, the crowd stays
        moved=draw(st.sampled_from(symbols)),
        move_ppm=draw(st.integers(min_value=-60_000, max_value=60_000)),
        policy="ranked-queue",
    )
    return scenario, draw(st.integers(min_value=1, max_value=400))


@settings(max_examples=150, deadline=None)
@given(crowd=crowds(), data=st.data())
def test_engine_adl_candidates_and_ranking_equal_the_full_scan(crowd: tuple[Scenario, int], data: st.DataObject) -> None:
    scenario, lots = crowd
    engine = build_engine(scenario)
    old = START_MARK[scenario.moved]
    inst = INSTRUMENTS[scenario.moved]
    mark = max(inst.tick_size, (old + old * scenario.move_ppm // 1_000_000) // inst.tick_size * inst.tick_size)
    engine.process(c.PriceUpdate(time_ms=1, symbol=scenario.moved, mark_price=mark))
    for symbol in scenario.symbols:
        inst = engine.instrument_map[symbol]
        for side in (1, -1):
            offset_ppm = data.draw(st.integers(min_value=-100_000, max_value=100_000))
            here = engine.marks[symbol]
            bankruptcy = max(inst.tick_size, (here + here * offset_ppm // 1_000_000) // inst.tick_size * inst.tick_size)
            qty = side * lots * inst.lot_size
            full = scan(engine, symbol, qty, bankruptcy)
            candidates = engine._adl_candidates(inst, Pending(0, -1, symbol, qty, compute_value(inst, qty, bankruptcy), bankruptcy))
            queue = select_ranked(candidates, POLICIES["ranked-queue"], lots, inst.lot_size)
            pro_rata = select_ranked(candidates, POLICIES["pro-rata"], lots, inst.lot_size)
            sizes = [abs(candidate.qty) // inst.lot_size for candidate in queue]
            event(f"eligible: {min(len(full), 3)}{'+' if len(full) >= 3 else ''}; queue reads {'all' if len(queue) == len(full) else 'a prefix'}")
            minimal = sum(sizes[:-1]) < lots and (sum(sizes) >= lots or len(queue) == len(full))
            assert (pro_rata, queue, len(candidates), minimal) == (full, full[: len(queue)], len(full), True)


def test_the_ranked_queue_reads_only_the_prefix_it_closes() -> None:
    """Three eligible longs, one lot to close: the queue takes the best-ranked one only; pro-rata ranks all three."""
    candidates = [
        AdlCandidate(account_id=account, qty=100 * account, cost=-1_000, pool_equity=500, mark_value=-900 + account)
        for account in (1, 2, 3)
    ]
    full = rank_candidates(candidates)
    queue = select_ranked(candidates, POLICIES["ranked-queue"], 1, 100)
    pro_rata = select_ranked(candidates, POLICIES["pro-rata"], 1, 100)
    assert (queue, pro_rata, len(full)) == (full[:1], full, 3)
