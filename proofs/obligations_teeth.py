"""Proof obligations that pin the value a rule computes, where the others hold whatever it computes (redteam19).

Red team 19 planted one slip at a time in the rules with the project's mutator and found rules whose every
obligation stayed proved on the slipped rule: the obligations stated bounds (≥ 0, no more than is open, a
positive denominator) that any rounding or sign satisfies.  Each obligation here states the value itself —
the exact rational formula and the direction it is rounded — per shipped instrument, and each has a
known-bad variant (the slip the red team planted) that is refuted:

* **MRG-044** order margin: the netting of the charged and open contracts as the docstring states it; the
  initial margin ``⌈charged value × initMarginReq⌉``; the commission reserve, the entry fee on the open value
  plus the exit reserve on open value + initial margin, each rounded up on its own (each term equal to its own
  ceiling, review19_2); the premium on the open contracts; total = their sum.
  Known-bad: the initial margin floored, the exit reserve dropped, the exit reserve subtracted, one ceiling over
  the sum of the two terms (up to one minor unit below what the fill holds in posComm).
* **MRG-020** fields: ``unrealisedPnl`` is ACC-001's, ``markValue`` CON-001's value at mark, ``posMargin =
  posInit + posComm + posCross`` and ``maintMargin = posMargin + unrealisedPnl``.  Known-bad: the PnL's sign.
* **MRG-020** posComm floor (issue 13): ``posComm = ⌈takerFee × (posCost + posInit + max(0, posCross))⌉`` for
  any posCross, so never below the fee on posCost + posInit.  Known-bad: the rule before issue 13.
* **ADL-001** ranking score: its sign is the sign of the PnL (a winner always ranks ahead of a loser); it is
  exactly PnL% × effective leverage (PnL% > 0) or PnL% ÷ effective leverage (PnL% < 0); and it orders as
  BitMEX's ranking does: at equal leverage a larger PnL% ranks no lower, at equal PnL% a larger leverage ranks
  no lower.  Known-bad: the PnL computed as markValue + cost.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import attrs

from perpspec.proofs.kernels_common import ceil_exact, iff, when
from perpspec.proofs.obligations_core import assume_valid_price, assume_well_formed
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.registry import Expectation, Obligation, register
from perpspec.proofs.sym import all_of, implies
from perpspec.rules.adl import AdlScore, compute_adl_score
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.margin import CROSS, PositionMargin, compute_pos_comm, compute_position_margin
from perpspec.rules.num import PPM, abs_, and_, ite, max_, min_, ppm_of_ceil, ppm_of_floor
from perpspec.rules.order_margin import OrderMargin, OrderSide, compute_order_margin, compute_prorated
from perpspec.rules.position import Position, compute_unrealised_pnl

SHIPPED = ("XBTUSD", "ETHUSD", "XBTUSDT", "XBTZ26")  # every shipped derivative: inverse, quanto, linear, future
TIMEOUT_MS = 60_000

OrderMarginRule = Callable[[Instrument, int, OrderSide, OrderSide, int, int], OrderMargin]
PositionMarginRule = Callable[..., PositionMargin]
ScoreRule = Callable[[int, int, int], AdlScore]


def _add(id: str, rule_id: str, invariant_id: str, statement: str, run: Callable[[], ProofResult],
         expect: Expectation = "proved") -> None:
    bad = expect == "refuted"
    register(Obligation(
        id=f"KNOWN-BAD/{id}" if bad else id, rule_id=rule_id, invariant_id=invariant_id,
        statement=f"Known-bad: {statement}" if bad else statement, run=run, expect=expect, timeout_ms=TIMEOUT_MS,
    ))  # fmt: skip


# --------------------------------------------------------------------------- MRG-044: order margin


@attrs.frozen(kw_only=True)
class OrderFigures:
    """MRG-044's figures restated from its docstring: netting, the values charged and open, the premium."""

    open_bids: int
    open_asks: int
    charged_bids: int
    charged_asks: int
    charged_value: int  # the sides' values pro-rated (MRG-043, rounded up) to the charged contracts
    open_value: int  # the same, over every non-reducing contract
    premium: int  # the sides' premiums pro-rated to the non-reducing contracts


def order_figures(inst: Instrument, position_qty: int, bids: OrderSide, asks: OrderSide) -> OrderFigures:
    """Offers up to a long's size and bids up to a short's reduce; the rest are open.  Linear and quanto: the
    net bids (open bids − open offers, ≥ 0) and every open offer are charged; inverse: every open bid and the
    net offers."""
    open_bids = bids.qty - min_(bids.qty, max_(0, -position_qty))
    open_asks = asks.qty - min_(asks.qty, max_(0, position_qty))
    if inst.is_inverse:
        charged_bids, charged_asks = open_bids, max_(0, open_asks - open_bids)
    else:
        charged_bids, charged_asks = max_(0, open_bids - open_asks), open_asks

    def share(amount_bids: int, amount_asks: int, part_bids: int, part_asks: int) -> int:
        return compute_prorated(amount_bids, part_bids, bids.qty) + compute_prorated(amount_asks, part_asks, asks.qty)

    return OrderFigures(
        open_bids=open_bids, open_asks=open_asks, charged_bids=charged_bids, charged_asks=charged_asks,
        charged_value=share(bids.value, asks.value, charged_bids, charged_asks),
        open_value=share(bids.value, asks.value, open_bids, open_asks),
        premium=share(bids.premium, asks.premium, open_bids, open_asks),
    )  # fmt: skip


def _order_margin_slipped(slip: str, inst: Instrument, position_qty: int, bids: OrderSide, asks: OrderSide,
                          init_req: int, fee: int) -> OrderMargin:
    """KNOWN-BAD MRG-044: the rule with one slip in its initial margin or commission reserve."""
    real = compute_order_margin(inst, position_qty, bids, asks, init_req, fee)
    figures = order_figures(inst, position_qty, bids, asks)
    init_margin = real.init_margin
    if slip == "floor":  # the initial margin rounded toward the trader
        init_margin = ppm_of_floor(figures.charged_value, init_req)
    entry, exit_reserve = ppm_of_ceil(figures.open_value, fee), ppm_of_ceil(figures.open_value + init_margin, fee)
    if slip == "one-ceil":  # review19_2: one ceiling over the sum of the two terms, not one per term
        commission = ppm_of_ceil(figures.open_value + figures.open_value + init_margin, fee)
    else:
        commission = {"floor": entry + exit_reserve, "exit-reserve-dropped": entry,
                      "exit-reserve-subtracted": entry - exit_reserve}[slip]  # fmt: skip
    return attrs.evolve(real, init_margin=init_margin, commission=commission,
                        total=init_margin + real.premium + commission)  # fmt: skip


def prove_order_margin_exact(symbol: str, rule: OrderMarginRule = compute_order_margin) -> ProofResult:
    """MRG-044: every figure of the order margin equals its formula, each rounding up (toward the system)."""
    inst = load_instrument(symbol)
    fee = inst.taker_fee_ppm
    with Prover() as prover:
        bids, asks = prover.record(OrderSide, "bids"), prover.record(OrderSide, "asks")
        position_qty, init_req = prover.symbol("position_qty"), prover.symbol("init_margin_req_ppm")
        for name, side in (("bids", bids), ("asks", asks)):
            prover.assume(all_of(side.qty >= 0, side.value >= 0, side.premium >= 0), f"{name} ≥ 0")
            prover.assume(implies(side.qty == 0, and_(side.value == 0, side.premium == 0)), f"{name}: nothing without quantity")
        prover.assume(and_(init_req > 0, init_req <= PPM), "initMarginReq in (0, 100%]")
        result = rule(inst, position_qty, bids, asks, init_req, fee)
        want = order_figures(inst, position_qty, bids, asks)
        # each term of the commission reserve named and pinned to its own ceiling (review19_2: a window on the sum,
        # ``fees ≤ commission·PPM < fees + 2·PPM``, let one ceiling over the sum through).  A ceiling exists and is
        # unique for every input, so these two assumptions define the terms and constrain nothing else.
        entry, exit_reserve = prover.symbol("entry_fee"), prover.symbol("exit_reserve")
        prover.assume(ceil_exact(entry, want.open_value * fee, PPM), "entry fee = ⌈open value × takerFee⌉")
        prover.assume(ceil_exact(exit_reserve, (want.open_value + result.init_margin) * fee, PPM),
                      "exit reserve = ⌈(open value + initial margin) × takerFee⌉")  # fmt: skip
        return prover.prove_all([
            (and_(result.bid_qty_charged == want.charged_bids, result.ask_qty_charged == want.charged_asks),
             "the charged contracts are netted as stated"),
            (ceil_exact(result.init_margin, want.charged_value * init_req, PPM),
             "initial margin = charged value × initMarginReq, rounded up"),
            (result.commission == entry + exit_reserve,
             "commission = ⌈entry fee on open value⌉ + ⌈exit reserve on open value + initial margin⌉"),
            (result.premium == want.premium, "premium = the open contracts' share"),
            (result.total == result.init_margin + result.premium + result.commission, "total = the sum"),
        ], f"MRG-044 exact {symbol}")  # fmt: skip


# --------------------------------------------------------------------------- MRG-020: the position's fields


def _position_margin_unrealised_sign(inst: Instrument, position: Position, mark_price: int, leverage: int,
                                     pos_cross: int = 0, cross_balance: int = 0, funding_rate_e8: int = 0) -> PositionMargin:
    """KNOWN-BAD MRG-020: unrealisedPnl = markValue + posCost (the slip red team 19 planted in MRG-020's copy)."""
    real = compute_position_margin(inst, position, mark_price, leverage, pos_cross, cross_balance, funding_rate_e8)
    unrealised = real.mark_value + position.cost
    return attrs.evolve(real, unrealised_pnl=unrealised, maint_margin=real.pos_margin + unrealised)


def _position_margin_pre_issue_13(inst: Instrument, position: Position, mark_price: int, leverage: int,
                                  pos_cross: int = 0, cross_balance: int = 0, funding_rate_e8: int = 0) -> PositionMargin:
    """KNOWN-BAD MRG-020: posComm on posCost + posInit + posCross however negative posCross is (before issue 13)."""
    real = compute_position_margin(inst, position, mark_price, leverage, pos_cross, cross_balance, funding_rate_e8)
    pos_comm = compute_pos_comm(abs_(position.cost), real.pos_init, real.pos_cross, inst.taker_fee_ppm)
    pos_margin = real.pos_init + pos_comm + real.pos_cross
    return attrs.evolve(real, pos_comm=pos_comm, pos_margin=pos_margin, maint_margin=pos_margin + real.unrealised_pnl)


def _position_inputs(prover: Prover, inst: Instrument) -> tuple[Position, int, int, int, int, int]:
    """Any well-formed position, a valid mark, any leverage ≥ 0 (0 = cross), any posCross, backing and rate."""
    position = prover.record(Position, "position")
    mark, leverage = prover.symbol("mark_price"), prover.symbol("leverage_hundredths")
    pos_cross, cross_balance, rate = prover.symbol("pos_cross"), prover.symbol("cross_balance"), prover.symbol("funding_rate_e8")
    assume_well_formed(prover, inst, position, "position")
    assume_valid_price(prover, inst, mark, "mark_price")
    prover.assume(leverage >= 0, "leverage ≥ 0 (0 = cross)")
    return position, mark, leverage, pos_cross, cross_balance, rate


def prove_position_fields(symbol: str, rule: PositionMarginRule = compute_position_margin) -> ProofResult:
    """MRG-020: unrealisedPnl is ACC-001's, markValue the value at mark, posMargin and maintMargin their sums."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        position, mark, leverage, pos_cross, cross_balance, rate = _position_inputs(prover, inst)
        fields = rule(inst, position, mark, leverage, pos_cross, cross_balance, rate)
        return prover.prove_all([
            (fields.unrealised_pnl == compute_unrealised_pnl(inst, position, mark), "unrealisedPnl = ACC-001's"),
            (fields.mark_value == compute_value(inst, position.qty, mark), "markValue = value at mark"),
            (and_(fields.current_qty == position.qty, fields.pos_cost == position.cost), "currentQty, posCost"),
            (fields.pos_margin == fields.pos_init + fields.pos_comm + fields.pos_cross, "posMargin = posInit + posComm + posCross"),
            (fields.maint_margin == fields.pos_margin + fields.unrealised_pnl, "maintMargin = posMargin + unrealisedPnl"),
        ], f"MRG-020 fields {symbol}")  # fmt: skip


def prove_pos_comm_floor(symbol: str, rule: PositionMarginRule = compute_position_margin) -> ProofResult:
    """MRG-020/MRG-004: posComm = ⌈fee × (posCost + posInit + max(0, posCross))⌉ for any posCross (issue 13)."""
    inst = load_instrument(symbol)
    fee = inst.taker_fee_ppm
    with Prover() as prover:
        position, mark, leverage, pos_cross, cross_balance, rate = _position_inputs(prover, inst)
        fields = rule(inst, position, mark, leverage, pos_cross, cross_balance, rate)
        extra = ite(and_(leverage != CROSS, position.qty != 0), pos_cross, 0)  # isolated and open: posCross counts
        base = abs_(position.cost) + fields.pos_init
        return prover.prove_all([
            (fields.pos_comm * PPM >= base * fee, "posComm ≥ the fee on posCost + posInit"),
            (ceil_exact(fields.pos_comm, (base + max_(0, extra)) * fee, PPM),
             "posComm = ⌈fee × (posCost + posInit + max(0, posCross))⌉"),
        ], f"MRG-020 posComm floor {symbol}")  # fmt: skip


# --------------------------------------------------------------------------- ADL-001: the ranking score


def compute_adl_score_pnl_sign(mark_value: int, cost: int, pool_equity: int) -> AdlScore:
    """KNOWN-BAD ADL-001: the PnL taken as markValue + cost (a long down 50% ranks first, a short up 50% last)."""
    return _score_of_pnl(mark_value + cost, cost, mark_value, pool_equity)


def _score_of_pnl(pnl: int, cost: int, mark_value: int, pool_equity: int) -> AdlScore:
    abs_cost, abs_mark, equity = max_(abs_(cost), 1), max_(abs_(mark_value), 1), max_(pool_equity, 1)
    num = ite(pnl > 0, pnl * abs_mark, ite(pnl < 0, pnl * equity, 0))
    den = ite(pnl > 0, abs_cost * equity, ite(pnl < 0, abs_cost * abs_mark, 1))
    return AdlScore(num=num, den=den)


def _assume_position(prover: Prover, mark_value: int, cost: int, label: str) -> None:
    prover.assume(and_(cost != 0, mark_value != 0), f"{label}: an open position (value and cost ≠ 0)")
    prover.assume(iff(cost > 0, mark_value > 0), f"{label}: value at mark and cost of the same sign")


def prove_score_exact(rule: ScoreRule = compute_adl_score) -> ProofResult:
    """ADL-001: the score's sign is the PnL's, and it is PnL% × leverage (PnL > 0) or PnL% ÷ leverage (PnL < 0)."""
    with Prover() as prover:
        mark_value, cost, equity = prover.symbol("mark_value"), prover.symbol("cost"), prover.symbol("pool_equity")
        _assume_position(prover, mark_value, cost, "the position")
        score = rule(mark_value, cost, equity)
        pnl, backing = mark_value - cost, max_(equity, 1)  # an equity ≤ 0 counts as one minor unit
        # PnL% = pnl / |cost|, effective leverage = |markValue| / equity: cross-multiplied, den > 0
        return prover.prove_all([
            (score.den > 0, "den > 0"),
            (and_(iff(score.num > 0, pnl > 0), iff(score.num < 0, pnl < 0)), "sign of the score = sign of the PnL"),
            (when(pnl > 0, score.num * abs_(cost) * backing == score.den * pnl * abs_(mark_value),
                  when(pnl < 0, score.num * abs_(cost) * abs_(mark_value) == score.den * pnl * backing, score.num == 0)),
             "score = PnL% × leverage (PnL > 0), PnL% ÷ leverage (PnL < 0), 0 (PnL = 0)"),
        ], "ADL-001 score")  # fmt: skip


def prove_score_orders(by: str, rule: ScoreRule = compute_adl_score) -> ProofResult:
    """ADL-001: two positions with equal leverage (``by="pnl"``) or equal PnL% (``by="leverage"``): the one with
    the larger PnL% / leverage never ranks lower."""
    with Prover() as prover:
        a = [prover.symbol(f"a.{name}") for name in ("mark_value", "cost", "pool_equity")]
        b = [prover.symbol(f"b.{name}") for name in ("mark_value", "cost", "pool_equity")]
        for label, (mark_value, cost, _) in (("a", a), ("b", b)):
            _assume_position(prover, mark_value, cost, label)
        pnl_a, pnl_b = a[0] - a[1], b[0] - b[1]
        pct_a, pct_b = pnl_a * abs_(b[1]), pnl_b * abs_(a[1])  # PnL%_a vs PnL%_b, cross-multiplied
        # leverage_a vs leverage_b, cross-multiplied (an equity ≤ 0 counts as one minor unit)
        lev_a, lev_b = abs_(a[0]) * max_(b[2], 1), abs_(b[0]) * max_(a[2], 1)
        if by == "pnl":
            prover.assume(and_(lev_a == lev_b, pct_a >= pct_b), "equal leverage, PnL%_a ≥ PnL%_b")
        else:
            prover.assume(and_(pct_a == pct_b, lev_a >= lev_b), "equal PnL%, leverage_a ≥ leverage_b")
        score_a, score_b = rule(*a), rule(*b)
        return prover.prove(score_a.num * score_b.den >= score_b.num * score_a.den, f"ADL-001 monotone in {by}")


# --------------------------------------------------------------------------- registration


def _register() -> None:
    p = functools.partial
    for symbol in SHIPPED:
        _add(f"MRG-044/exact/{symbol}", "MRG-044", "ROUNDING-TOWARD-SYSTEM",
             f"{symbol}: the charged contracts are netted as stated; initial margin = ⌈charged value × initMarginReq⌉; "
             "commission = the entry fee on the open value plus the exit reserve on open value + initial margin, "
             "each rounded up on its own (⌈open value × takerFee⌉ + ⌈(open value + initial margin) × takerFee⌉, each "
             "term equal to its own ceiling); premium = the open contracts' share; total = initial margin + premium "
             "+ commission.",
             p(prove_order_margin_exact, symbol))
        for slip, text in (("floor", "the initial margin rounded down (toward the trader)."),
                           ("exit-reserve-dropped", "the commission reserve without the exit reserve."),
                           ("exit-reserve-subtracted", "the exit reserve subtracted from the entry fee."),
                           ("one-ceil", "the commission reserve rounded up once over the sum of entry fee and exit "
                                        "reserve (up to one minor unit below the two ceilings a fill holds; review19_2).")):
            _add(f"MRG-044/{slip}/{symbol}", "MRG-044", "ROUNDING-TOWARD-SYSTEM", text,
                 p(prove_order_margin_exact, symbol, p(_order_margin_slipped, slip)), expect="refuted")
        _add(f"MRG-020/fields/{symbol}", "MRG-020", "INV-WITHDRAW-SAFE",
             f"{symbol}, any position, mark, leverage and posCross: unrealisedPnl is ACC-001's (markValue − posCost), "
             "markValue the value at mark, posMargin = posInit + posComm + posCross, maintMargin = posMargin + "
             "unrealisedPnl (the figures MRG-050's available and withdrawable balance read).",
             p(prove_position_fields, symbol))
        _add(f"MRG-020/unrealised-sign/{symbol}", "MRG-020", "INV-WITHDRAW-SAFE",
             "unrealisedPnl = markValue + posCost (a losing position shows a profit).",
             p(prove_position_fields, symbol, _position_margin_unrealised_sign), expect="refuted")
        _add(f"MRG-020/pos-comm-floor/{symbol}", "MRG-020", "INV-WITHDRAW-SAFE",
             f"{symbol}, any position and any posCross (negative included): posComm = ⌈takerFee × (posCost + posInit "
             "+ max(0, posCross))⌉, never below the fee on posCost + posInit (issue 13).",
             p(prove_pos_comm_floor, symbol))
        _add(f"MRG-020/negative-pos-cross-in-pos-comm/{symbol}", "MRG-020", "INV-WITHDRAW-SAFE",
             "the rule before issue 13: a negative posCross shrinks posComm below the fee on posCost + posInit.",
             p(prove_pos_comm_floor, symbol, _position_margin_pre_issue_13), expect="refuted")
    _add("ADL-001/score/exact", "ADL-001", "INV-ADL-ORDER",
         "The score of an open position has the sign of its PnL (a winner always ranks ahead of a loser) and is "
         "exactly PnL% × effective leverage when PnL% > 0, PnL% ÷ effective leverage when PnL% < 0, 0 at 0 "
         "(PnL% = (markValue − cost) / |cost|, leverage = |markValue| / pool equity, an equity ≤ 0 counting as 1).",
         prove_score_exact)
    _add("ADL-001/pnl-sign", "ADL-001", "INV-ADL-ORDER",
         "the PnL taken as markValue + cost (a long down 50% first in the queue, a short up 50% last).",
         p(prove_score_exact, compute_adl_score_pnl_sign), expect="refuted")
    for by, text in (("pnl", "At equal effective leverage, the position with the larger PnL% never ranks lower."),
                     ("leverage", "At equal PnL%, the position with the larger effective leverage never ranks lower.")):
        _add(f"ADL-001/score/monotone-{by}", "ADL-001", "INV-ADL-ORDER", text, p(prove_score_orders, by))
        _add(f"ADL-001/pnl-sign/monotone-{by}", "ADL-001", "INV-ADL-ORDER",
             "the PnL taken as markValue + cost.", p(prove_score_orders, by, compute_adl_score_pnl_sign), expect="refuted")


_register()
