"""Measurement prototype for the proposed LIQ-036 (specs/changes/proposed-liquidation-working.md). NOT a rule.

The liquidation engine works a taken-over position at a limit that starts at the take-over
(bankruptcy) price and moves toward the market by ``STEP_PPM`` of it per mark update, instead of
sweeping every level the fund can pay for at once (LIQ-032/INS-005 today). For one measurement
run it replaces ``Waterfall._close_in_book`` (engine/core/waterfall.py); nothing in ``rules/`` or
``engine/`` changes.

    python scripts/proto_liquidation_working.py SCENARIO OUT_DIR STEP_PPM [B] [NAME=VALUE ...]

``B``: variant B — once the fund plus what is held at mark is negative (ADL-031 would deleverage),
the limit is lifted and the fund pays to aggress the whole book while it can, before any ADL.

``STEP_PPM = 0`` runs the engine unchanged (the baseline, same numbers as ``perpspec simulate``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from perpspec.engine.core import waterfall
from perpspec.engine.core.book import Fill
from perpspec.engine.core.ledger import LIQUIDATOR
from perpspec.engine.core.orders import Order
from perpspec.engine.simulation.scenario import load_scenario, parse_assignment
from perpspec.engine.simulation.simulate import run_scenario
from perpspec.rules.instrument import Instrument
from perpspec.rules.insurance import Fill as OfferFill
from perpspec.rules.insurance import settle_close_out
from perpspec.rules.num import PPM

_AGES: dict[int, tuple[int, int]] = {}  # pending id -> (time of the last update seen, updates seen since take-over)


def working_limit(inst: Instrument, closing_buy: bool, takeover_price: int, age: int, step_ppm: int) -> int:
    """The proposed LIQ-036 limit: the take-over price moved toward the market by age × step, on the tick, in range."""
    tick = inst.tick_size
    move = takeover_price * age * step_ppm // PPM
    if closing_buy:  # a taken-over short: buy at most this (rounded up: toward the market)
        return min(-((-(takeover_price + move)) // tick) * tick, inst.max_price)
    return max((takeover_price - move) // tick * tick, tick)  # a taken-over long: sell at least this


def make_close_in_book(step_ppm: int, aggress_before_adl: bool) -> object:
    def _close_in_book(self: waterfall.Waterfall, inst: Instrument, pending: waterfall.Pending) -> None:
        now = self.stream.time_ms
        last, seen = _AGES.get(pending.pending_id, (-1, -1))
        if last != now:
            seen += 1
            _AGES[pending.pending_id] = (now, seen)
        book = self.market.books[inst.symbol]
        closing_buy = pending.qty < 0
        limit = working_limit(inst, closing_buy, pending.takeover_price, seen, step_ppm)
        # variant B: once the fund no longer covers what is held at mark (ADL-031 would deleverage), the
        # limit is lifted: the fund pays to aggress the whole book while it can, as today, before any ADL
        unlimited = aggress_before_adl and self._fund_cover(inst.settl_currency) < 0
        offers = [
            OfferFill(qty=qty, price=price)
            for price, qty in waterfall.level_totals(book, bid_side=not closing_buy)
            if unlimited or (price <= limit if closing_buy else price >= limit)
        ]
        fund = self.ledger.insurance_funds.get(inst.settl_currency, 0)
        result = settle_close_out(inst, fund, pending.qty, pending.takeover_price, offers)
        if not result.accepted:
            return
        total = sum(f.qty for f in result.accepted)
        fills: list[Fill] = []
        dropped: list[Order] = []
        guard = self.fills.make_guard(inst.symbol, fills)
        book.match(closing_buy, result.accepted[-1].price, total, LIQUIDATOR, fills, dropped, guard)
        self._liquidator_fills(inst, pending, fills, dropped)

    return _close_in_book


def main(argv: list[str]) -> None:
    scenario_name, out_dir, step_ppm = argv[0], Path(argv[1]), int(argv[2])
    variant_b = argv[3:4] == ["B"]
    overrides = argv[4:] if variant_b else argv[3:]
    if step_ppm > 0:
        patched = make_close_in_book(step_ppm, variant_b)
        waterfall.Waterfall._close_in_book = patched  # type: ignore[method-assign,assignment]
    scenario = load_scenario(scenario_name, [parse_assignment(text) for text in overrides])
    result = run_scenario(scenario, out_dir)
    print(
        f"adl_fills={result.adl_fills} insurance start={result.insurance_start} min={result.insurance_min} "
        f"end={result.insurance_end} violations={len(result.invariant_violations)} gap={result.conservation_gap}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
