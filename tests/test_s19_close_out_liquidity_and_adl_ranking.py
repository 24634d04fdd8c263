"""Two paths of the waterfall that the differential and randomised tests never reached (redteam25_5, redteam25_6).

* LIQ-024/INS-005/LIQ-051 (``closeout.level_totals``): the book's liquidity a close-out is judged on leaves
  ReduceOnly orders out — the sweep may trade them only as far as they still reduce their owner's position.
  Counted as liquidity, two ReduceOnly sells of one 100 long made 200 "there" at 50,500: the close-out of a 200
  short stopped reading at that level, filled 100 and left 100 held by the liquidation engine although a plain
  seller offered 200 at 50,600 (/work/coord/repro19/redteam25_6.py).  tests/test_close_out_prefix.py compares the
  function with itself, so it could not tell.
* ADL-005 over the lazy ranking (``adlrank._Side.resync``): an account re-read while its old row is still in the
  heap (not yet read by a close-out) has that row retired; kept live, the ranking yielded the account twice, once
  at its old size, and ``Waterfall._adl`` would deleverage what it no longer holds
  (/work/coord/repro19/redteam25_5.py).  The reference is ``rank_candidates`` over the current rows.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.adlrank import AdlRanking
from perpspec.engine.core.closeout import level_totals
from perpspec.engine.core.commands import Command
from perpspec.engine.core.events import Event, Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.adl import AdlCandidate, rank_candidates
from perpspec.rules.instrument_file import load_instrument

XBTUSD = load_instrument("XBTUSD")


def _ok(engine: Engine, command: Command) -> list[Event]:
    out = list(engine.process(command))
    assert not isinstance(out[-1], Rejected), (command, out[-1])
    return out


def _book_with_reduce_only_sells() -> Engine:
    """Account 1 short 200; account 3 long 100 resting two ReduceOnly sells of 100 at 50,500; account 5 200 at 50,600."""
    engine = Engine({"XBTUSD": XBTUSD})
    _ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    for account, amount in ((1, 20_000), (2, 10**9), (3, 10**9), (4, 10**9), (5, 10**9)):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    _ok(engine, c.DepositInsurance(time_ms=0, asset="XBt", amount=10**9))
    _ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=200, price=5_000_000))
    _ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Sell", order_qty=200, price=5_000_000))
    _ok(engine, c.PlaceOrder(time_ms=0, account=4, symbol="XBTUSD", side="Sell", order_qty=100, price=5_000_000))
    _ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=100, price=5_000_000))
    for _ in range(2):  # each alone within the position it reduces, as BitMEX allows; together twice the position
        _ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=100, price=5_050_000,
                                 exec_inst="ReduceOnly"))
    _ok(engine, c.PlaceOrder(time_ms=0, account=5, symbol="XBTUSD", side="Sell", order_qty=200, price=5_060_000))
    assert [engine.accounts[a].positions["XBTUSD"].qty for a in (1, 3)] == [-200, 100]
    return engine


def test_level_totals_leave_reduce_only_orders_out() -> None:
    engine = _book_with_reduce_only_sells()
    book = engine.market.books["XBTUSD"]
    assert level_totals(book, bid_side=False) == [(5_060_000, 200)]
    assert level_totals(book, bid_side=False, enough=200) == [(5_060_000, 200)]
    assert level_totals(book, bid_side=False, enough=100) == [(5_060_000, 200)]


def test_a_close_out_behind_reduce_only_makers_fills_its_whole_quantity_and_leaves_nothing_held() -> None:
    engine = _book_with_reduce_only_sells()
    # the mark rises to 52,500: account 1's short of 200 (bankrupt near 52,548) is taken over and closed in the book
    out = _ok(engine, c.PriceUpdate(time_ms=1_000, symbol="XBTUSD", mark_price=5_250_000, index_price=5_250_000))
    fills = [(e.account, e.last_qty, e.last_px) for e in out if isinstance(e, Execution) and e.exec_type == "Trade"]
    assert fills == [(3, 100, 5_050_000), (5, 100, 5_060_000)]  # the ReduceOnly maker as far as it reduces, then 5
    assert sum(qty for _, qty, _ in fills) == 200
    assert list(engine.waterfall.pending) == []  # nothing left held by the liquidation engine
    assert [engine.accounts[a].positions["XBTUSD"].qty for a in (1, 3, 5)] == [0, 0, -100]


def _rows() -> dict[int, AdlCandidate]:
    return {
        account: AdlCandidate(account_id=account, qty=-100 * account, cost=-10_000, pool_equity=5_000, mark_value=-9_000)
        for account in (1, 2, 3, 4)
    }


SHRUNK = AdlCandidate(account_id=2, qty=-50, cost=-5_000, pool_equity=5_000, mark_value=-4_600)


def test_an_account_re_read_while_its_row_is_still_in_the_heap_is_ranked_once_at_its_new_size() -> None:
    rows = _rows()
    ranking = AdlRanking()
    walk = ranking.ranked("X", False, rows, rows.get)
    assert next(walk).account_id == 4  # only the best row is read: 1, 2, 3 are still in the heap
    rows[2] = SHRUNK  # account 2 changes within the waterfall (say, a maker of a close-out fill)
    ranking.note([2])
    got = list(ranking.ranked("X", False, rows, rows.get))
    assert got == rank_candidates(list(rows.values()))
    assert [(candidate.account_id, candidate.qty) for candidate in got].count((2, -200)) == 0
    assert [candidate.account_id for candidate in got].count(2) == 1


def test_an_account_that_left_the_side_while_its_row_was_in_the_heap_is_not_ranked() -> None:
    rows = _rows()
    ranking = AdlRanking()
    walk = ranking.ranked("X", False, rows, rows.get)
    next(walk)
    del rows[2]  # account 2 closed its short: row_of gives None
    ranking.note([2])
    got = list(ranking.ranked("X", False, rows, rows.get))
    assert got == rank_candidates(list(rows.values()))
    assert 2 not in [candidate.account_id for candidate in got]


@pytest.mark.parametrize("read", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("changed", [1, 2, 3, 4])
@pytest.mark.parametrize("change", ["shrink", "grow", "leave"])
def test_after_any_prefix_read_and_any_one_change_the_ranking_is_rank_candidates(read: int, changed: int,
                                                                                 change: str) -> None:
    rows = _rows()
    ranking = AdlRanking()
    walk = ranking.ranked("X", False, rows, rows.get)
    for _ in range(read):
        next(walk)
    if change == "leave":
        del rows[changed]
    else:
        qty = -50 if change == "shrink" else -1_000
        rows[changed] = AdlCandidate(account_id=changed, qty=qty, cost=-10_000, pool_equity=5_000, mark_value=-9_500)
    ranking.note([changed])
    assert list(ranking.ranked("X", False, rows, rows.get)) == rank_candidates(list(rows.values()))
