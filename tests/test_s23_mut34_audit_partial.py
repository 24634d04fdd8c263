"""mut34: what a partial liquidation's record claims of the run, and pays_nothing's "every payment 0" (session 23;
engine/audit/instant.py from aud22, f397542 and c880d3b).

- ``get_partial_fills``: a filled LIQ-022 record explains, for each of its fills (``(qty, price)``, qty a magnitude),
  the liquidated account's execution (signed: a long's reduction sells) and one maker's (the other sign), at that
  price.  A mutation round found the sign-blind quantity (``abs``), the maker's side and the price untested: no test
  put a partial liquidation in the run of a funding instant with no posting.
- ``pays_nothing``: FND-008 pays nobody anything only when *every* payment is 0 (``not any``); one holder paid 0 beside
  others paid something is not it (``not all`` survived).
"""

from __future__ import annotations

from perpspec.engine.audit.instant import FundingSnapshot, Instant, get_partial_fills, pays_nothing
from perpspec.rules.contract import compute_value
from perpspec.rules.events import PartialLiquidation
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.position import Position

XBTUSD = load_instrument("XBTUSD")
X, P = "XBTUSD", 5_000_000
LONG, MAKER = 1, 2
BEFORE = Position(qty=1_000, cost=compute_value(XBTUSD, 1_000, P))


def _partial(fills: tuple[tuple[int, int], ...], close_qty: int) -> PartialLiquidation:
    return PartialLiquidation(
        rule_id="LIQ-022", account_id=LONG, pool="cross:XBt", symbol=X, mark_price=P, equity=1, maintenance=2,
        pool_margin=3, positions=(), close_qty=close_qty, limit_price=P, filled=True, fills=fills, from_tier=1,
        to_tier=0, maintenance_after=1, makers=(MAKER,) * len(fills),
    )


def _run_after(rows: list[tuple[int, str, int, int, Position]], record: PartialLiquidation) -> Instant:
    """An instant whose run (opened by a mark row: a plain trade can restart it, redteam34_1) so far changed account
    9's position, then ``rows`` executions, then ``record``."""
    now = Instant()
    now.before, now.worked, now.explained = {(9, X): BEFORE}, True, True
    for row in rows:
        now.trade(row)
    now.claim(get_partial_fills(record))
    return now


def test_a_long_s_partial_liquidation_claims_its_sell_and_its_maker_s_buy() -> None:
    now = _run_after([(LONG, X, -100, P, BEFORE), (MAKER, X, 100, P, Position(qty=0, cost=0))], _partial(((100, P),), -100))
    assert now.worked  # both executions its own: the run goes on
    assert now.before == {(9, X): BEFORE, (LONG, X): BEFORE, (MAKER, X): Position(qty=0, cost=0)}


def test_a_short_s_partial_liquidation_claims_its_buy_and_its_maker_s_sell() -> None:
    short = Position(qty=-1_000, cost=compute_value(XBTUSD, -1_000, P))
    now = _run_after([(MAKER, X, -60, P, Position(qty=0, cost=0)), (LONG, X, 60, P, short)], _partial(((60, P),), 60))
    assert now.worked
    assert now.before[(LONG, X)] == short


def test_executions_at_another_price_are_plain_trades() -> None:
    """The same quantities at another price are not the record's fills: the run restarts after them."""
    now = _run_after([(LONG, X, -100, P + 500, BEFORE), (MAKER, X, 100, P + 500, Position(qty=0, cost=0))],
                     _partial(((100, P),), -100))
    assert not now.worked
    assert now.before == {}


def test_pays_nothing_needs_every_payment_0() -> None:
    holders = tuple((account, Position(qty=qty, cost=compute_value(XBTUSD, qty, P)))
                    for account, qty in ((1, 1_000_000), (2, -999_999), (3, -1)))
    snap = FundingSnapshot(line=1, seq=None, mark=P, holders=holders)
    assert not pays_nothing(XBTUSD, snap, 100)  # 1 and 2 pay and receive 2,000; 3's payment rounds to 0
    flat = FundingSnapshot(line=1, seq=None, mark=P, holders=((3, holders[2][1]),))
    assert pays_nothing(XBTUSD, flat, 100)  # 3 alone: every payment 0
