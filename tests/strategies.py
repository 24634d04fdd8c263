"""Hypothesis strategies shared by the test suite (one module, as in Hypothesis itself).

Area-specific strategies that nobody else needs may live in their test module;
anything used twice belongs here.
"""

from __future__ import annotations

from hypothesis import strategies as st

from perpspec.proofs.specialise.catalogue import KernelSpec
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_builtin_instruments, load_instrument
from perpspec.rules.position import Position, apply_fill

BUILTIN: dict[str, Instrument] = load_builtin_instruments()
PERPETUALS: tuple[Instrument, ...] = tuple(
    inst for _, inst in sorted(BUILTIN.items()) if inst.is_perpetual and inst.symbol in ("XBTUSD", "ETHUSD", "XBTUSDT")
)
# lot size 1 era of XBTUSD: per-contract satoshi rounding (the real records' era)
XBTUSD_LOT1 = load_instrument("XBTUSD", {"lotSize": 1, "tickSize": "0.5"})


def instruments() -> st.SearchStrategy[Instrument]:
    """One of the shipped perpetuals, or XBTUSD in its lot-size-1 era."""
    return st.sampled_from((*PERPETUALS, XBTUSD_LOT1))


def prices(inst: Instrument, low_ticks: int = 1, high_ticks: int | None = None) -> st.SearchStrategy[int]:
    """A valid price (multiple of the tick, at most maxPrice), in price units."""
    top = inst.max_price // inst.tick_size if high_ticks is None else high_ticks
    return st.integers(min_value=low_ticks, max_value=top).map(lambda ticks: ticks * inst.tick_size)


def realistic_prices(inst: Instrument) -> st.SearchStrategy[int]:
    """Prices between 1% and 200% of a typical level, where liquidations are interesting."""
    level = {"XBTUSD": 50_000, "ETHUSD": 3_000, "XBTUSDT": 50_000}.get(inst.symbol, 50_000)
    low = max(1, level * inst.price_scale // 100 // inst.tick_size)
    high = level * inst.price_scale * 2 // inst.tick_size
    return prices(inst, low, high)


def lots(inst: Instrument, max_lots: int = 100_000) -> st.SearchStrategy[int]:
    """A positive quantity in whole lots."""
    return st.integers(min_value=1, max_value=max_lots).map(lambda n: n * inst.lot_size)


def signed_lots(inst: Instrument, max_lots: int = 100_000) -> st.SearchStrategy[int]:
    """A non-zero signed quantity in whole lots."""
    return st.tuples(lots(inst, max_lots), st.booleans()).map(lambda t: t[0] if t[1] else -t[0])


@st.composite
def positions(draw: st.DrawFn, inst: Instrument, max_fills: int = 4) -> Position:
    """A position built the way the engine builds one: by a few fills at valid prices."""
    position = Position()
    for _ in range(draw(st.integers(min_value=0, max_value=max_fills))):
        position, _ = apply_fill(inst, position, draw(signed_lots(inst, 10_000)), draw(realistic_prices(inst)))
    return position


@st.composite
def kernel_arguments(draw: st.DrawFn, spec: KernelSpec, inst: Instrument) -> dict[str, int]:
    """Arguments of a specialised kernel satisfying its preconditions (proofs.specialise.equivalence).

    Prices valid for ``inst``, best bid/ask 0 or valid, quantities whole lots, isolated leverage 0.01x-100x;
    everything else any integer of realistic magnitude (money up to 1e15 minor units), often small or zero.
    """
    values: dict[str, int] = {}
    for name in spec.params:
        if name in spec.prices:
            values[name] = draw(st.one_of(realistic_prices(inst), prices(inst)))
        elif name in spec.touches:
            values[name] = draw(st.one_of(st.just(0), realistic_prices(inst)))
        elif name in spec.lots:
            values[name] = draw(st.one_of(st.just(0), signed_lots(inst)))
        elif name == "leverage_hundredths":
            values[name] = draw(st.integers(min_value=1, max_value=10_000))
        else:
            values[name] = draw(st.one_of(st.just(0), st.integers(-10**6, 10**6), st.integers(-10**15, 10**15)))
    return values
