"""``perpspec check-params``: prove or refute, with Z3, what a risk committee asks of a parameter set.

Each property runs the rulebook's own kernels (``rules/risk_limit.py``,
``rules/margin.py``, ``rules/funding.py``) on the symbolic integer of
:mod:`proofs.sym` through the :class:`proofs.prover.Prover`, with the
instrument's parameters concrete and the position (size, entry price,
leverage, risk tier, price move) symbolic.  A property *holds* when Z3 proves
it for every input in the stated domain; it *fails* with a counterexample
decoded into domain terms (a position, a price move, the resulting equity).
When Z3 answers ``unknown`` the property is reported as such, together with
the result of evaluating the same kernels on a deterministic grid of
positions — never as holding.

The properties (ids ``PRM-*`` are used in tests and in the rulebook):

* ``PRM-TIERS`` — at every risk-limit tier maintenance < initial margin, and
  both requirements and the tier limits never decrease as a position grows;
* ``PRM-FUNDING-CAP`` — the absolute funding cap is below IM − MM at every
  tier, so one funding payment at the cap cannot take a position opened at
  the tier's maximum leverage from its initial margin to below maintenance
  with the mark unchanged;
* ``PRM-LIQ-FEE`` — a position liquidated at its liquidation price still has
  the equity to pay the liquidation fee and the commission of closing at that
  price, and its liquidation price is reached before its bankruptcy price;
* ``PRM-LEVERAGE`` — the isolated leverage bounds agree with the initial
  margin: the largest leverage is ``1 / initMargin`` (per tier), and every
  allowed leverage requires at least the tier's initial margin;
* ``PRM-BANKRUPTCY-RANGE`` — for every allowed position the bankruptcy price
  is a price an order can carry: on the tick grid, within ``[tickSize, maxPrice]``;
* ``PRM-FEES`` — for every pair of fee tiers (the maker's and the taker's: the
  two sides of a fill are charged each at its own account's tier) the taker's
  commission on a fill (ACC-002, rounded up) is at least the maker's rebate on
  it (rounded toward zero): no trade pays out of the fee pool, so two colluding
  accounts cannot drain it by trading with each other.
"""

from __future__ import annotations

import functools
from typing import cast

import attrs

from perpspec.proofs.prover import ProofResult, Prover, Status
from perpspec.proofs.sym import all_of, any_of
from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import (
    compute_bankruptcy_price,
    compute_leverage_margin_req_ppm,
    compute_position_margin,
)
from perpspec.rules.num import PPM, ceildiv
from perpspec.rules.parse import format_ppm, format_scaled
from perpspec.rules.position import Position
from perpspec.rules.risk_limit import (
    compute_maint_margin_req_ppm,
    compute_max_leverage_hundredths,
    compute_risk_init_margin_req_ppm,
    compute_risk_steps,
    compute_tier_limit,
)

PROPERTY_TIMEOUT_MS = 60_000  # generous: every property decides in well under a second; a page must not depend on load
EXACT_TIMEOUT_MS = 30_000  # per grid point of the exact liquidation-fee rule (typically 0.1 s)
LEVERAGE_1X = 100  # hundredths

# Minor units per major unit of the settlement currencies, for human-readable amounts.
_MAJOR = {"XBt": ("XBT", 10**8), "USDt": ("USDT", 10**6)}


@attrs.frozen(kw_only=True)
class TierRow:
    """One risk-limit tier as the margin rules compute it."""

    steps: int
    limit: int  # largest position value in the tier, settlement minor units
    maint_ppm: int
    init_ppm: int
    max_leverage_hundredths: int


def tier_table(inst: Instrument, tiers: int) -> list[TierRow]:
    """The first ``tiers`` risk-limit tiers, computed by the RSK rules."""
    return [
        TierRow(
            steps=steps,
            limit=compute_tier_limit(inst, steps),
            maint_ppm=compute_maint_margin_req_ppm(inst, steps),
            init_ppm=compute_risk_init_margin_req_ppm(inst, steps),
            max_leverage_hundredths=compute_max_leverage_hundredths(inst, steps),
        )
        for steps in range(tiers)
    ]


@attrs.frozen(kw_only=True)
class PropertyResult:
    """The verdict on one committee property for one parameter set."""

    id: str
    title: str
    verdict: str  # "holds" | "fails" | "unknown"
    how: str  # how the verdict was reached
    counterexample: tuple[str, ...] = ()  # domain terms, one line each

    @property
    def holds(self) -> bool:
        """True when the property was proved."""
        return self.verdict == "holds"

    def as_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "id": self.id,
            "title": self.title,
            "verdict": self.verdict,
            "how": self.how,
            "counterexample": list(self.counterexample),
        }


# --------------------------------------------------------------------------- rendering


def money(inst: Instrument, amount: int) -> str:
    """``123_456 XBt (0.00123456 XBT)``."""
    major = _MAJOR.get(inst.settl_currency)
    text = f"{amount:_} {inst.settl_currency}"
    return text if major is None else f"{text} ({format_scaled(amount, major[1])} {major[0]})"


def price(inst: Instrument, value: int) -> str:
    """A price in the quote currency, e.g. ``50000.5 USD``."""
    return f"{format_scaled(value, inst.price_scale)} {inst.quote_currency}"


def _contracts(count: int) -> str:
    return f"{count:_} contract" + ("" if count == 1 else "s")


def leverage(hundredths: int) -> str:
    """``25x`` / ``2.5x``."""
    return f"{format_scaled(hundredths, 100)}x"


def _verdict(result: ProofResult) -> str:
    if result.status is Status.PROVED:
        return "holds"
    if result.status is Status.REFUTED:
        return "fails"
    return "unknown"


def _how(result: ProofResult, domain: str) -> str:
    if result.status is Status.PROVED:
        return f"proved by Z3 for {domain}"
    if result.status is Status.REFUTED:
        return f"refuted by Z3 ({result.detail})"
    return f"Z3 {result.status.value}: {result.detail}"


# --------------------------------------------------------------------------- the tier domain


def _sym(prover: Prover, name: str) -> int:
    """A named symbolic integer, typed as the ``int`` the kernels take (see rules/num.py)."""
    symbol: object = prover.symbol(name)
    return cast(int, symbol)


def _max_steps_assumption(prover: Prover, inst: Instrument, steps: int) -> None:
    """Tiers that exist: ``steps ≥ 0`` and the tier still allows 1x leverage (IM ≤ 100%)."""
    prover.assume(steps >= 0, "a risk tier")
    prover.assume(compute_risk_init_margin_req_ppm(inst, steps) <= PPM, "the tier allows at least 1x")


def check_tiers(inst: Instrument) -> PropertyResult:
    """PRM-TIERS: maintenance < initial at every tier; requirements and limits monotone."""
    title = "maintenance < initial margin at every risk-limit tier; tiers monotone"
    with Prover(timeout_ms=PROPERTY_TIMEOUT_MS) as prover:
        value_low = _sym(prover, "position_value")
        value_high = _sym(prover, "larger_position_value")
        prover.assume(value_low >= 0, "a position value")
        prover.assume(value_high >= value_low, "a larger position")
        steps = compute_risk_steps(inst, value_low)
        steps_high = compute_risk_steps(inst, value_high)
        prover.assume(compute_risk_init_margin_req_ppm(inst, steps_high) <= PPM, "the tier allows at least 1x")
        maint, init = compute_maint_margin_req_ppm(inst, steps), compute_risk_init_margin_req_ppm(inst, steps)
        maint_high = compute_maint_margin_req_ppm(inst, steps_high)
        init_high = compute_risk_init_margin_req_ppm(inst, steps_high)
        goal = all_of(
            maint < init,
            maint_high < init_high,
            maint <= maint_high,
            init <= init_high,
            compute_tier_limit(inst, steps) <= compute_tier_limit(inst, steps_high),
        )
        result = prover.prove(goal, "PRM-TIERS")
    lines: tuple[str, ...] = ()
    if result.counterexample is not None:
        low = result.counterexample.get("position_value")
        high = result.counterexample.get("larger_position_value")
        lines = tuple(_tier_story(inst, low)) + tuple(_tier_story(inst, high))
        if not all(line.endswith("ok") for line in lines):
            lines = tuple(line for line in lines if not line.endswith("ok"))
        lines += _max_leverage_story(inst, high if compute_risk_steps(inst, high) else low)
    return PropertyResult(
        id="PRM-TIERS",
        title=title,
        verdict=_verdict(result),
        how=_how(result, "every position value of every tier that allows 1x"),
        counterexample=lines,
    )


def _tier_story(inst: Instrument, value: int) -> list[str]:
    steps = compute_risk_steps(inst, value)
    maint = compute_maint_margin_req_ppm(inst, steps)
    init = compute_risk_init_margin_req_ppm(inst, steps)
    low = compute_tier_limit(inst, steps - 1) if steps > 0 else 0
    verdict = "ok" if maint < init else "maintenance is NOT below initial"
    return [
        f"position value {money(inst, value)}: tier {steps} (values above {money(inst, low)} up to "
        f"{money(inst, compute_tier_limit(inst, steps))}): maintenance {format_ppm(maint)}, "
        f"initial {format_ppm(init)} — {verdict}"
    ]


def _max_leverage_story(inst: Instrument, value: int) -> tuple[str, ...]:
    steps = compute_risk_steps(inst, value)
    maint = compute_maint_margin_req_ppm(inst, steps)
    init = compute_risk_init_margin_req_ppm(inst, steps)
    if maint < init:
        return ()
    equity = ceildiv(value * init, PPM)
    requirement = ceildiv(value * maint, PPM)
    return (
        f"a position of that value opened at the tier's maximum leverage "
        f"{leverage(compute_max_leverage_hundredths(inst, steps))} has equity {money(inst, equity)} at entry, "
        f"not above its maintenance {money(inst, requirement)}: it is at (or past) liquidation with no price move",
    )


# --------------------------------------------------------------------------- funding cap


def check_funding_cap(inst: Instrument) -> PropertyResult:
    """PRM-FUNDING-CAP: the absolute funding cap is below IM − MM at every tier."""
    from perpspec.rules.funding import PPM_TO_E8, compute_cap_abs_e8

    title = "the funding cap is below IM − MM at every tier"
    cap_e8 = compute_cap_abs_e8(inst)
    with Prover(timeout_ms=PROPERTY_TIMEOUT_MS) as prover:
        steps = _sym(prover, "steps")
        _max_steps_assumption(prover, inst, steps)
        gap_ppm = compute_risk_init_margin_req_ppm(inst, steps) - compute_maint_margin_req_ppm(inst, steps)
        result = prover.prove(cap_e8 < gap_ppm * PPM_TO_E8, "PRM-FUNDING-CAP")
    lines: tuple[str, ...] = ()
    if result.counterexample is not None:
        steps_value = result.counterexample.get("steps")
        init = compute_risk_init_margin_req_ppm(inst, steps_value)
        maint = compute_maint_margin_req_ppm(inst, steps_value)
        value = compute_tier_limit(inst, steps_value)
        equity = ceildiv(value * init, PPM)
        payment = ceildiv(value * cap_e8, PPM * PPM_TO_E8)
        requirement = ceildiv(value * maint, PPM)
        lines = (
            f"tier {steps_value}: IM {format_ppm(init)} − MM {format_ppm(maint)} = {format_ppm(init - maint)}, "
            f"funding cap {_rate_e8(cap_e8)} (fundingCapRatio {format_ppm(inst.funding_cap_ratio_ppm)} of the base "
            f"IM − MM)",
            f"a position worth {money(inst, value)} opened at the tier's maximum leverage "
            f"{leverage(compute_max_leverage_hundredths(inst, steps_value))} has equity {money(inst, equity)}; "
            f"one funding payment at the cap costs {money(inst, payment)}",
            f"equity after funding {money(inst, equity - payment)} vs maintenance {money(inst, requirement)}: "
            + ("liquidatable by funding alone, mark unchanged" if equity - payment < requirement else "at maintenance, "
               "with no room for any price move"),
        )
    return PropertyResult(
        id="PRM-FUNDING-CAP",
        title=title,
        verdict=_verdict(result),
        how=_how(result, "every tier that allows 1x"),
        counterexample=lines,
    )


def _rate_e8(rate_e8: int) -> str:
    return f"{format_scaled(rate_e8 * 100, 10**8)}%"


# --------------------------------------------------------------------------- positions


def _describe_position(inst: Instrument, lots: int, entry_ticks: int, lev: int, side: int) -> tuple[Position, str]:
    qty = side * lots * inst.lot_size
    entry = entry_ticks * inst.tick_size
    position = Position(qty=qty, cost=compute_value(inst, qty, entry))
    text = (
        f"isolated {'long' if side > 0 else 'short'} {_contracts(abs(qty))} at {price(inst, entry)}, "
        f"leverage {leverage(lev)} (entry value {money(inst, abs(position.cost))})"
    )
    return position, text


def _liq_fee_shortfall(inst: Instrument, position: Position, entry: int, lev: int) -> tuple[int, int, int, int, int]:
    """(equity at the liquidation price, commission, fee, liquidation price, bankruptcy price)."""
    fields = compute_position_margin(inst, position, entry, lev)
    liq = fields.liquidation_price
    equity = fields.pos_margin + compute_value(inst, position.qty, liq) - position.cost
    notional = compute_notional(inst, position.qty, liq)
    commission = ceildiv(notional * inst.taker_fee_ppm, PPM)  # ceil: toward the fee pool (ACC-002)
    fee = ceildiv(notional * inst.liquidation_fee_ppm, PPM)  # ceil: toward the insurance fund
    return equity, commission, fee, liq, fields.bankrupt_price


def position_grid(inst: Instrument) -> list[tuple[int, int, int, int]]:
    """A deterministic grid of allowed isolated positions: (side, lots, entry ticks, leverage hundredths).

    Entry prices at 1/1000, 1/100, 1/20 and 1/2 of ``maxPrice``; sizes from one lot to
    ``maxOrderQty``; leverage 1x, 10x and the maximum of the position's tier.
    """
    ticks_max = inst.max_price // inst.tick_size
    entries = sorted({max(1, ticks_max // divisor) for divisor in (1000, 100, 20, 2)})
    lots_max = inst.max_order_qty // inst.lot_size
    sizes = sorted({size for size in (1, 10, 1000, lots_max // 10, lots_max) if 1 <= size <= lots_max})
    grid = []
    for side in (1, -1):
        for entry_ticks in entries:
            for lots in sizes:
                qty = side * lots * inst.lot_size
                value = compute_notional(inst, qty, entry_ticks * inst.tick_size)
                steps = compute_risk_steps(inst, value)
                if compute_risk_init_margin_req_ppm(inst, steps) > PPM:
                    continue
                maximum = compute_max_leverage_hundredths(inst, steps)
                for lev in sorted({LEVERAGE_1X, min(1000, maximum), maximum}, reverse=True):
                    grid.append((side, lots, entry_ticks, lev))
    return grid


def check_liquidation_fee(inst: Instrument) -> PropertyResult:
    """PRM-LIQ-FEE: at the liquidation price the equity pays the liquidation fee and closing commission.

    Proved at the level of rates for every tier: ``liquidationFee × (2 − MM) ≤ MM``.  At
    the liquidation price the position has lost ``IM(leverage) − MM`` of its entry value,
    so the value it is closed at is at most ``(1 + IM − MM) ×`` entry value, and at most
    ``(2 − MM) ×`` for the lowest leverage allowed (1x, IM = 100%); the fee on that value
    must fit in the maintenance margin ``MM ×`` entry value, while the commission is
    covered by the reserve ``posComm`` kept on entry value plus margin.  The exact
    statement — equity at the liquidation price minus the commission and the fee at that
    price, computed by the margin rules with every rounding — is evaluated on
    :func:`position_grid` (and, for linear and quanto contracts, proved by Z3 for every
    size at each grid point), which supplies the counterexample in domain terms.
    """
    title = (
        "a position liquidated at its liquidation price pays the liquidation fee and the closing commission "
        "from its own equity (≥ 0 after both), before its bankruptcy price"
    )
    with Prover(timeout_ms=PROPERTY_TIMEOUT_MS) as prover:
        steps = _sym(prover, "steps")
        _max_steps_assumption(prover, inst, steps)
        init = compute_risk_init_margin_req_ppm(inst, steps)
        maint = compute_maint_margin_req_ppm(inst, steps)
        del init
        result = prover.prove(inst.liquidation_fee_ppm * (2 * PPM - maint) <= maint * PPM, "PRM-LIQ-FEE")
    grid = position_grid(inst)
    violation: tuple[int, int, int, int] | None = None
    exact_proofs = 0
    if not inst.is_inverse:  # linear values: the exact rule is decidable with the size symbolic
        exact_proofs, violation = _prove_every_size(inst, grid)
    for side, lots, entry_ticks, lev in grid if violation is None else ():
        qty = side * lots * inst.lot_size
        entry = entry_ticks * inst.tick_size
        position = Position(qty=qty, cost=compute_value(inst, qty, entry))
        equity, commission, fee, liq, bankrupt = _liq_fee_shortfall(inst, position, entry, lev)
        before_bankruptcy = liq >= bankrupt if side > 0 else liq <= bankrupt
        if equity - commission - fee < 0 or not before_bankruptcy:
            violation = (side, lots, entry_ticks, lev)
            break
    if violation is None and result.status is Status.PROVED:
        return PropertyResult(
            id="PRM-LIQ-FEE",
            title=title,
            verdict="holds",
            how=f"rate condition proved by Z3 for every tier that allows 1x; exact rule evaluated on {len(grid)} "
            "positions (sides × entry prices × sizes × leverages) without a violation"
            + (
                f", and proved by Z3 for every size up to maxOrderQty at {exact_proofs} (side, entry price, "
                "leverage) points of that grid"
                if exact_proofs
                else ""
            ),
        )
    lines: tuple[str, ...] = ()
    if violation is not None:
        lines = _liq_fee_story(inst, *violation)
    elif result.counterexample is not None:
        steps_value = result.counterexample.get("steps")
        maint_value = compute_maint_margin_req_ppm(inst, steps_value)
        lines = (
            f"tier {steps_value}: liquidationFee {format_ppm(inst.liquidation_fee_ppm)} × (2 − MM "
            f"{format_ppm(maint_value)}) exceeds MM {format_ppm(maint_value)}: a 1x position cannot pay the fee "
            "at its liquidation price; no position of the evaluated grid shows it",
        )
    verdict = "fails" if violation is not None or result.status is Status.REFUTED else "unknown"
    return PropertyResult(
        id="PRM-LIQ-FEE", title=title, verdict=verdict, how=_how(result, "every tier"), counterexample=lines
    )


def _prove_every_size(inst: Instrument, grid: list[tuple[int, int, int, int]]) -> tuple[int, tuple[int, int, int, int] | None]:
    """Z3 on the exact rule with the size symbolic, at each (side, entry, leverage) of the grid.

    Returns how many points were proved and the first refuted position (checked concretely).
    """
    proved = 0
    for side, entry_ticks, lev in sorted({(side, entry, lev) for side, _, entry, lev in grid}, reverse=True):
        entry = entry_ticks * inst.tick_size
        with Prover(timeout_ms=EXACT_TIMEOUT_MS) as prover:
            lots = _sym(prover, "lots")
            prover.assume(lots >= 1, "at least one lot")
            prover.assume(lots * inst.lot_size <= inst.max_order_qty, "at most maxOrderQty contracts")
            qty = lots * (side * inst.lot_size)
            position = Position(qty=qty, cost=compute_value(inst, qty, entry))
            steps = compute_risk_steps(inst, compute_notional(inst, qty, entry))
            prover.assume(compute_risk_init_margin_req_ppm(inst, steps) <= PPM, "the tier allows at least 1x")
            prover.assume(lev <= compute_max_leverage_hundredths(inst, steps), "leverage at most the tier's maximum")
            equity, commission, fee, liq, bankrupt = _liq_fee_shortfall(inst, position, entry, lev)
            before_bankruptcy = liq >= bankrupt if side > 0 else liq <= bankrupt
            result = prover.prove(all_of(equity - commission - fee >= 0, before_bankruptcy), "PRM-LIQ-FEE exact")
        if result.status is Status.PROVED:
            proved += 1
        elif result.counterexample is not None:
            return proved, (side, result.counterexample.get("lots"), entry_ticks, lev)
    return proved, None


def _liq_fee_story(inst: Instrument, side: int, lots: int, entry_ticks: int, lev: int) -> tuple[str, ...]:
    position, text = _describe_position(inst, lots, entry_ticks, lev, side)
    entry = entry_ticks * inst.tick_size
    equity, commission, fee, liq, bankrupt = _liq_fee_shortfall(inst, position, entry, lev)
    after = equity - commission - fee
    return (
        text,
        f"mark moves {price(inst, entry)} → liquidation price {price(inst, liq)} "
        f"(bankruptcy price {price(inst, bankrupt)})",
        f"equity there {money(inst, equity)}; closing commission {money(inst, commission)} at takerFee "
        f"{format_ppm(inst.taker_fee_ppm)}; liquidation fee {money(inst, fee)} at liquidationFee "
        f"{format_ppm(inst.liquidation_fee_ppm)}",
        f"equity after fee and commission: {money(inst, after)}"
        + (" — the shortfall falls on the insurance fund" if after < 0 else ""),
    )


# --------------------------------------------------------------------------- leverage


def check_leverage(inst: Instrument) -> PropertyResult:
    """PRM-LEVERAGE: max isolated leverage = 1 / IM per tier; every allowed leverage needs ≥ IM."""
    title = "isolated leverage bounds agree with the initial margin (max leverage = 1 / initMargin)"
    base = compute_max_leverage_hundredths(inst, 0)
    if base != inst.max_leverage_hundredths:
        return PropertyResult(
            id="PRM-LEVERAGE",
            title=title,
            verdict="fails",
            how="evaluated",
            counterexample=(
                f"the instrument allows {leverage(inst.max_leverage_hundredths)} but the base tier's rule "
                f"allows {leverage(base)}",
            ),
        )
    with Prover(timeout_ms=PROPERTY_TIMEOUT_MS) as prover:
        steps = _sym(prover, "steps")
        lev = _sym(prover, "leverage_hundredths")
        _max_steps_assumption(prover, inst, steps)
        maximum = compute_max_leverage_hundredths(inst, steps)
        prover.assume(lev >= 1, "a positive leverage")
        init = compute_risk_init_margin_req_ppm(inst, steps)
        required = compute_leverage_margin_req_ppm(lev)
        goal = all_of(
            any_of(lev > maximum, required >= init),  # every allowed leverage needs at least the tier's IM
            maximum >= LEVERAGE_1X,  # the tier allows 1x
            maximum * init <= PPM * 100,  # the maximum is 1 / IM, rounded down to a hundredth ...
            (maximum + 1) * init > PPM * 100,  # ... and not more than a hundredth below it
        )
        result = prover.prove(goal, "PRM-LEVERAGE")
    lines: tuple[str, ...] = ()
    if result.counterexample is not None:
        steps_value = result.counterexample.get("steps")
        lev_value = result.counterexample.get("leverage_hundredths")
        maximum_value = compute_max_leverage_hundredths(inst, steps_value)
        init_value = compute_risk_init_margin_req_ppm(inst, steps_value)
        lines = (
            f"tier {steps_value}: initial margin {format_ppm(init_value)}, maximum isolated leverage "
            f"{leverage(maximum_value)} (1 / initial margin = {leverage((PPM * 100) // init_value)})",
            f"leverage {leverage(lev_value)} requires {format_ppm(compute_leverage_margin_req_ppm(lev_value))}"
            + (" — below the tier's initial margin" if lev_value <= maximum_value else ""),
        )
    return PropertyResult(
        id="PRM-LEVERAGE",
        title=title,
        verdict=_verdict(result),
        how=_how(result, "every leverage and every tier that allows 1x"),
        counterexample=lines,
    )


# --------------------------------------------------------------------------- bankruptcy range


def check_bankruptcy_range(inst: Instrument) -> PropertyResult:
    """PRM-BANKRUPTCY-RANGE: the bankruptcy price of every allowed position is a valid order price.

    Proved over a superset of the allowed positions: any number of lots, any cost
    basis, any margin and any commission reserve, through MRG-012.
    """
    title = "the bankruptcy price of every allowed position is on the tick grid within [tickSize, maxPrice]"
    for side in (1, -1):
        with Prover(timeout_ms=PROPERTY_TIMEOUT_MS) as prover:
            lots = _sym(prover, "lots")
            cost = _sym(prover, "cost")
            margin = _sym(prover, "margin")
            reserve = _sym(prover, "pos_comm")
            prover.assume(lots >= 1, "at least one lot")
            qty = lots * (side * inst.lot_size)
            bankrupt = compute_bankruptcy_price(inst, qty, cost, margin, reserve)
            goal = all_of(bankrupt >= inst.tick_size, bankrupt <= inst.max_price, bankrupt % inst.tick_size == 0)
            result = prover.prove(goal, "PRM-BANKRUPTCY-RANGE")
        if result.status is not Status.PROVED:
            lines: tuple[str, ...] = ()
            if result.counterexample is not None:
                values = result.counterexample
                qty_value = values.get("lots") * side * inst.lot_size
                concrete = compute_bankruptcy_price(
                    inst, qty_value, values.get("cost"), values.get("margin"), values.get("pos_comm")
                )
                lines = (
                    f"{'long' if side > 0 else 'short'} {_contracts(abs(qty_value))} with cost basis "
                    f"{money(inst, values.get('cost'))}, margin {money(inst, values.get('margin'))}, "
                    f"commission reserve {money(inst, values.get('pos_comm'))}",
                    f"bankruptcy price {price(inst, concrete)}: outside "
                    f"[{price(inst, inst.tick_size)}, {price(inst, inst.max_price)}] or off the tick grid",
                )
            return PropertyResult(
                id="PRM-BANKRUPTCY-RANGE",
                title=title,
                verdict=_verdict(result),
                how=_how(result, ""),
                counterexample=lines,
            )
    return PropertyResult(
        id="PRM-BANKRUPTCY-RANGE",
        title=title,
        verdict="holds",
        how="proved by Z3 for every long and short of any size, any cost basis, any margin and any "
        "commission reserve (a superset of the positions the parameters allow)",
    )


def check_fees(inst: Instrument) -> PropertyResult:
    """PRM-FEES: for every pair of fee tiers, a fill's taker commission is at least its maker rebate (ACC-002).

    The two sides of a fill are charged each at its own account's tier (ACC-002 over the 30-day ADV), so two
    accounts of one owner can sit in any two tiers: the property is asked of every (maker tier, taker tier)
    pair, the same tier included — ``commission(v, takerFee_j) + commission(v, makerFee_i) ≥ 0`` for every
    fill value ``v ≥ 0`` (the taker's commission rounded up, the rebate toward zero, as the engine does).
    """
    from perpspec.rules.position import compute_commission

    title = (
        "no trade pays out of the fee pool: the taker's commission covers the maker's rebate for every pair "
        "of fee tiers"
    )
    tiers = tuple(enumerate(inst.fee_tiers))
    # the same tier first, then every cross-tier pair
    pairs = [(i, i) for i, _ in tiers] + [(i, j) for i, _ in tiers for j, _ in tiers if i != j]

    def collected(value: int, maker: int, taker: int) -> int:
        return compute_commission(value, inst.fee_tiers[taker].taker_fee_ppm) + compute_commission(
            value, inst.fee_tiers[maker].maker_fee_ppm
        )

    for group in (pairs[: len(tiers)], pairs):  # a tier that fails alone is named alone; then every pair
        with Prover(timeout_ms=PROPERTY_TIMEOUT_MS) as prover:
            value = _sym(prover, "value")
            prover.assume(value >= 0, "a fill's value")
            result = prover.prove(all_of(*[collected(value, i, j) >= 0 for i, j in group]), "PRM-FEES")
        if result.status is not Status.PROVED:
            pairs = group
            break
    how = _how(result, "every fill value and every pair of fee tiers (maker's, taker's)")
    failing: tuple[str, ...] = ()
    if result.status is Status.REFUTED and result.counterexample is not None:
        amount = result.counterexample.get("value")
        i, j = next((i, j) for i, j in pairs if collected(amount, i, j) < 0)
        maker_tier, taker_tier = inst.fee_tiers[i], inst.fee_tiers[j]
        taker = compute_commission(amount, taker_tier.taker_fee_ppm)
        maker = compute_commission(amount, maker_tier.maker_fee_ppm)
        where = (
            f"fee tier {i}: makerFee {format_ppm(maker_tier.maker_fee_ppm)}, "
            f"takerFee {format_ppm(taker_tier.taker_fee_ppm)}"
            if i == j
            else f"maker at fee tier {i} (makerFee {format_ppm(maker_tier.maker_fee_ppm)}), "
            f"taker at fee tier {j} (takerFee {format_ppm(taker_tier.taker_fee_ppm)})"
        )
        failing = (
            where,
            f"a fill worth {money(inst, amount)}: the taker pays {money(inst, taker)}, the maker receives "
            f"{money(inst, -maker)}",
            f"the fee pool loses {money(inst, -(taker + maker))} on every such trade; two accounts of one owner "
            "can repeat it",
        )
    return PropertyResult(id="PRM-FEES", title=title, verdict=_verdict(result), how=how, counterexample=failing)


CHECKS = (check_tiers, check_funding_cap, check_liquidation_fee, check_leverage, check_bankruptcy_range, check_fees)


@functools.lru_cache(maxsize=64)
def check_instrument(inst: Instrument) -> tuple[PropertyResult, ...]:
    """Every committee property for one parameter set, in a fixed order (memoised: instruments are immutable)."""
    return tuple(check(inst) for check in CHECKS)
