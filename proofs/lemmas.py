"""Reusable lemmas: small universally quantified facts that split hard nonlinear goals.

A goal such as "equity stays above the reserve at every mark beyond the
liquidation price" mixes the inverse per-lot value ``round(N / price)`` (a
division by a symbol) with products by a symbolic lot count.  Z3 times out on
it directly; it proves each of the lemmas below in milliseconds, and the goal
in well under a second once their instances are assumed
(:meth:`proofs.prover.Prover.use`).  Every lemma is proved before a goal that
uses it, so nothing here is trusted.
"""

from __future__ import annotations

import functools

from perpspec.proofs.prover import Lemma
from perpspec.rules.contract import compute_lot_value_inverse, compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.num import PPM, abs_, and_, ceildiv, floordiv, ite, max_
from perpspec.rules.position import Position, apply_fill, compute_commission

PRODUCT_MONOTONE = Lemma(
    name="k·a ≤ k·b for k ≥ 0, a ≤ b",
    params=("k", "a", "b"),
    premise=lambda k, a, b: and_(k >= 0, a <= b),
    conclusion=lambda k, a, b: k * a <= k * b,
)


# A product emitted on the sign of a factor (proofs/specialise/emit.py: mypyc multiplies natively only
# non-negative factors below 2^30).  The linear abstraction replaces each product by an uninterpreted function
# of its factors, so it cannot see that the selection is a * b until an instance of one of these is assumed.
SIGNED_PRODUCT_LEFT = Lemma(
    name="(a·b if a ≥ 0 else -((-a)·b)) = a·b",
    params=("a", "b"),
    premise=lambda a, b: and_(a == a, b == b),  # none
    conclusion=lambda a, b: ite(a >= 0, a * b, -((-a) * b)) == a * b,
)
SIGNED_PRODUCT_RIGHT = Lemma(
    name="(a·b if b ≥ 0 else -(a·(-b))) = a·b",
    params=("a", "b"),
    premise=lambda a, b: and_(a == a, b == b),  # none
    conclusion=lambda a, b: ite(b >= 0, a * b, -(a * (-b))) == a * b,
)

# A division by a product with a positive constant factor, emitted as two divisions (proofs/specialise/emit.py:
# ``n // (a * c)`` is ``(n // a) // c``, so no product beyond mypyc's native range is formed).  Floors nest for a
# positive second divisor: ⌊⌊x⌋ / c⌋ = ⌊x / c⌋ for any real x (here x = n / a, a ≠ 0).  The linear abstraction
# cannot see it through the two uninterpreted divisions until an instance is assumed.
NESTED_FLOOR = Lemma(
    name="(n // a) // b = n // (a·b) for a ≠ 0, b > 0",
    params=("n", "a", "b"),
    premise=lambda _n, a, b: and_(a != 0, b > 0),
    conclusion=lambda n, a, b: floordiv(floordiv(n, a), b) == floordiv(n, a * b),
)


def lot_value_numerator(inst: Instrument) -> int:
    """``N``: an inverse lot is worth ``round_half_up(N / price)`` minor units."""
    return -inst.multiplier * inst.price_scale * inst.lot_size


@functools.cache
def lot_value_monotone(inst: Instrument) -> Lemma:
    """The inverse per-lot value does not increase with the price."""
    return Lemma(
        name=f"{inst.symbol}: lot value non-increasing in price",
        params=("low_price", "high_price"),
        premise=lambda low, high: and_(low > 0, low <= high),
        conclusion=lambda low, high: (
            compute_lot_value_inverse(inst, high) <= compute_lot_value_inverse(inst, low)
        ),
    )


def long_step_price(inst: Instrument, step: int) -> int:
    """``ceil_to_tick(N / step)``: the lowest tick price whose exact per-lot value is ≤ ``step``."""
    return ceildiv(lot_value_numerator(inst), max_(step, 1) * inst.tick_size) * inst.tick_size


def short_step_price(inst: Instrument, step: int) -> int:
    """``floor_to_tick(N / step)``: the highest tick price whose exact per-lot value is ≥ ``step``."""
    return floordiv(lot_value_numerator(inst), max_(step, 1) * inst.tick_size) * inst.tick_size


@functools.cache
def long_step_safe(inst: Instrument) -> Lemma:
    """At or above ``ceil_to_tick(N / c)`` the rounded per-lot value is at most ``c``."""
    return Lemma(
        name=f"{inst.symbol}: per-lot value ≤ c above the long step price",
        params=("price", "step"),
        premise=lambda price, step: and_(step >= 1, and_(price > 0, price >= long_step_price(inst, step))),
        conclusion=lambda price, step: compute_lot_value_inverse(inst, price) <= step,
    )


@functools.cache
def short_step_safe(inst: Instrument) -> Lemma:
    """At or below ``floor_to_tick(N / c)`` the rounded per-lot value is at least ``c``."""
    return Lemma(
        name=f"{inst.symbol}: per-lot value ≥ c below the short step price",
        params=("price", "step"),
        premise=lambda price, step: and_(step >= 1, and_(price > 0, price <= short_step_price(inst, step))),
        conclusion=lambda price, step: compute_lot_value_inverse(inst, price) >= step,
    )


@functools.cache
def long_step_beyond(inst: Instrument) -> Lemma:
    """A tick or more below ``ceil_to_tick(N / c)`` the rounded per-lot value is at least ``c``."""
    return Lemma(
        name=f"{inst.symbol}: per-lot value ≥ c a tick below the long step price",
        params=("price", "step"),
        premise=lambda price, step: and_(
            step >= 1, and_(price > 0, price + inst.tick_size <= long_step_price(inst, step))
        ),
        conclusion=lambda price, step: compute_lot_value_inverse(inst, price) >= step,
    )


@functools.cache
def short_step_beyond(inst: Instrument) -> Lemma:
    """A tick or more above ``floor_to_tick(N / c)`` the rounded per-lot value is at most ``c``."""
    return Lemma(
        name=f"{inst.symbol}: per-lot value ≤ c a tick above the short step price",
        params=("price", "step"),
        premise=lambda price, step: and_(
            step >= 1, and_(price > 0, price >= short_step_price(inst, step) + inst.tick_size)
        ),
        conclusion=lambda price, step: compute_lot_value_inverse(inst, price) <= step,
    )


FLOOR_MONOTONE = Lemma(
    name="x // d ≤ y // d for d ≥ 1, x ≤ y",
    params=("d", "x", "y"),
    premise=lambda d, x, y: and_(d >= 1, x <= y),
    conclusion=lambda d, x, y: floordiv(x, d) <= floordiv(y, d),
)

CEIL_MONOTONE = Lemma(
    name="ceil(x / d) ≤ ceil(y / d) for d ≥ 1, x ≤ y",
    params=("d", "x", "y"),
    premise=lambda d, x, y: and_(d >= 1, x <= y),
    conclusion=lambda d, x, y: ceildiv(x, d) <= ceildiv(y, d),
)

FLOOR_AT_LEAST = Lemma(
    name="x // d ≥ k when x ≥ d·k, d ≥ 1",
    params=("d", "x", "k"),
    premise=lambda d, x, k: and_(d >= 1, x >= d * k),
    conclusion=lambda d, x, k: floordiv(x, d) >= k,
)

CEIL_AT_MOST = Lemma(
    name="ceil(x / d) ≤ k when x ≤ d·k, d ≥ 1",
    params=("d", "x", "k"),
    premise=lambda d, x, k: and_(d >= 1, x <= d * k),
    conclusion=lambda d, x, k: ceildiv(x, d) <= k,
)


@functools.cache
def long_step_antitone(inst: Instrument) -> Lemma:
    """A larger per-lot step gives a lower (or equal) long step price."""
    return Lemma(
        name=f"{inst.symbol}: long step price non-increasing in the step",
        params=("small", "large"),
        premise=lambda small, large: and_(small >= 1, small <= large),
        conclusion=lambda small, large: long_step_price(inst, large) <= long_step_price(inst, small),
    )


@functools.cache
def short_step_antitone(inst: Instrument) -> Lemma:
    """A larger per-lot step gives a lower (or equal) short step price."""
    return Lemma(
        name=f"{inst.symbol}: short step price non-increasing in the step",
        params=("small", "large"),
        premise=lambda small, large: and_(small >= 1, small <= large),
        conclusion=lambda small, large: short_step_price(inst, large) <= short_step_price(inst, small),
    )


@functools.cache
def entry_value_above(inst: Instrument) -> Lemma:
    """``N < (round(N / E) + 1) · E``: the rounded lot value plus one exceeds the exact value."""
    return Lemma(
        name=f"{inst.symbol}: N < (lot value + 1) · price",
        params=("price",),
        premise=lambda price: price > 0,
        conclusion=lambda price: lot_value_numerator(inst) < (compute_lot_value_inverse(inst, price) + 1) * price,
    )


@functools.cache
def entry_value_below(inst: Instrument) -> Lemma:
    """``(round(N / E) − 1) · E ≤ N``: the rounded lot value minus one is below the exact value."""
    return Lemma(
        name=f"{inst.symbol}: (lot value − 1) · price ≤ N",
        params=("price",),
        premise=lambda price: price > 0,
        conclusion=lambda price: (compute_lot_value_inverse(inst, price) - 1) * price <= lot_value_numerator(inst),
    )


@functools.cache
def long_step_at_most(inst: Instrument) -> Lemma:
    """``N < c · P`` for the tick price ``P = ticks · tick`` ⇒ the long step price of ``c`` is at most ``P``."""
    return Lemma(
        name=f"{inst.symbol}: long step price ≤ P when N < c · P",
        params=("step", "ticks"),
        premise=lambda step, ticks: and_(
            and_(step >= 1, ticks >= 1), lot_value_numerator(inst) < step * (ticks * inst.tick_size)
        ),
        conclusion=lambda step, ticks: long_step_price(inst, step) <= ticks * inst.tick_size,
    )


@functools.cache
def short_step_at_least(inst: Instrument) -> Lemma:
    """``c · P ≤ N`` for the tick price ``P = ticks · tick`` ⇒ the short step price of ``c`` is at least ``P``."""
    return Lemma(
        name=f"{inst.symbol}: short step price ≥ P when c · P ≤ N",
        params=("step", "ticks"),
        premise=lambda step, ticks: and_(
            and_(step >= 1, ticks >= 1), step * (ticks * inst.tick_size) <= lot_value_numerator(inst)
        ),
        conclusion=lambda step, ticks: short_step_price(inst, step) >= ticks * inst.tick_size,
    )


@functools.cache
def linear_value_exact(inst: Instrument) -> Lemma:
    """Linear and quanto: ``value(lots · lot, ticks · tick) · scale = lots · lot · multiplier · ticks · tick``."""
    return Lemma(
        name=f"{inst.symbol}: linear value is exact on lots and ticks",
        params=("lots", "ticks"),
        premise=lambda _lots, ticks: ticks >= 1,
        conclusion=lambda lots, ticks: (
            compute_value(inst, lots * inst.lot_size, ticks * inst.tick_size) * inst.price_scale
            == lots * inst.lot_size * inst.multiplier * (ticks * inst.tick_size)
        ),
    )


PRODUCT_MONOTONE_BOTH = Lemma(
    name="a₁·b₁ ≤ a₂·b₂ for 0 ≤ a₁ ≤ a₂, 0 ≤ b₁ ≤ b₂",
    params=("a1", "a2", "b1", "b2"),
    premise=lambda a1, a2, b1, b2: and_(and_(a1 >= 0, a1 <= a2), and_(b1 >= 0, b1 <= b2)),
    conclusion=lambda a1, a2, b1, b2: a1 * b1 <= a2 * b2,
)


def _tick_price(inst: Instrument, price: int) -> bool:
    """``price`` is a tick price in ``(0, maxPrice]``."""
    return and_(and_(price > 0, price <= inst.max_price), price % inst.tick_size == 0)


@functools.cache
def fill_cash_flow(inst: Instrument) -> Lemma:
    """ACC-003's cash flow: a fill's realised PnL less the cost it leaves is ``−cost before − value(fill)``.

    Whatever the fill does (opens, reduces, closes, flips), at a tick price on
    whole lots.  With it a fill outcome's dependence on the price is the one
    term ``value(fill, price)`` (the kept cost, ``cost · kept // qty``, cancels).
    """

    def conclusion(qty: int, cost: int, fill: int, price: int) -> bool:
        after, realised = apply_fill(inst, Position(qty=qty, cost=cost), fill, price)
        return realised - after.cost == -cost - compute_value(inst, fill, price)

    return Lemma(
        name=f"{inst.symbol}: realised − cost after = −cost before − value(fill)",
        params=("qty", "cost", "fill", "price"),
        premise=lambda qty, _cost, fill, price: and_(
            and_(qty % inst.lot_size == 0, fill % inst.lot_size == 0), _tick_price(inst, price)
        ),
        conclusion=conclusion,
    )


@functools.cache
def better_fill_value(inst: Instrument, side: int) -> Lemma:
    """A fill at a better tick price has a value no higher: a buy (``side`` +1) lower, a sell (−1) higher.

    The value is what the fill costs the account (CON-002's sign), so "no
    higher" is "the account pays no more, or receives no less".
    """
    return Lemma(
        name=f"{inst.symbol}: a {'buy' if side > 0 else 'sell'} at a better price has no higher value",
        params=("fill", "better", "price"),
        premise=lambda fill, better, price: and_(
            and_(fill % inst.lot_size == 0, fill * side > 0),
            and_(and_(_tick_price(inst, better), _tick_price(inst, price)), better * side <= price * side),
        ),
        conclusion=lambda fill, better, price: compute_value(inst, fill, better) <= compute_value(inst, fill, price),
    )


NET_OF_COMMISSION_MONOTONE = Lemma(
    name="−v − commission(|v|) non-increasing in v for a fee in (−100%, 100%)",
    params=("fee_ppm", "low", "high"),
    premise=lambda fee, low, high: and_(and_(fee > -PPM, fee < PPM), low <= high),
    conclusion=lambda fee, low, high: (
        -high - compute_commission(abs_(high), fee) <= -low - compute_commission(abs_(low), fee)
    ),
)


@functools.cache
def value_proportional(inst: Instrument) -> Lemma:
    """CON-002 is linear in whole lots at one price: ``value(k, p) · q = value(q, p) · k``."""
    return Lemma(
        name=f"{inst.symbol}: value(k) · q = value(q) · k on whole lots",
        params=("part", "whole", "price"),
        premise=lambda part, whole, price: and_(
            and_(part % inst.lot_size == 0, whole % inst.lot_size == 0), _tick_price(inst, price)
        ),
        conclusion=lambda part, whole, price: (
            compute_value(inst, part, price) * whole == compute_value(inst, whole, price) * part
        ),
    )


@functools.cache
def value_additive(inst: Instrument) -> Lemma:
    """CON-002 adds over whole lots at one tick price: ``value(a, p) + value(b, p) = value(a + b, p)``."""
    return Lemma(
        name=f"{inst.symbol}: value(a) + value(b) = value(a + b) on whole lots",
        params=("a", "b", "price"),
        premise=lambda a, b, price: and_(and_(a % inst.lot_size == 0, b % inst.lot_size == 0), _tick_price(inst, price)),
        conclusion=lambda a, b, price: (
            compute_value(inst, a, price) + compute_value(inst, b, price) == compute_value(inst, a + b, price)
        ),
    )


KEPT_COST_AT_LEAST = Lemma(
    name="⌊c·k/q⌋ ≥ c − V + W when W·q = V·k, k/q ∈ [0, 1], V ≥ c",
    params=("cost", "kept", "qty", "whole_value", "kept_value"),
    premise=lambda cost, kept, qty, whole, part: and_(
        and_(and_(qty != 0, kept * qty >= 0), and_(abs_(kept) <= abs_(qty), whole >= cost)), part * qty == whole * kept
    ),
    conclusion=lambda cost, kept, qty, whole, part: floordiv(cost * kept, qty) >= cost - whole + part,
)
