"""The market: the instruments, their order books and their prices (mark, index, last, settlement).

:class:`Market` owns the per-contract state every other component reads: the
instrument table, one :class:`engine.core.book.Book` per contract, the mark and
index prices (set by ``PriceUpdate``), the last traded price (set by fills)
and the settlement price of each settled dated future (SET-004).  It decides
nothing; its lookups answer typed rejections for bad input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from perpspec.engine.core import orders as o
from perpspec.engine.core.book import Book
from perpspec.engine.core.events import Reason
from perpspec.engine.core.rejects import Rej, is_str, show
from perpspec.rules.instrument import ContractKind, Instrument
from perpspec.rules.triggers import is_within_mark_band

# the member, read once: an Enum member looked up on its class costs a metaclass attribute lookup per read
_SPOT: Final = ContractKind.SPOT


def is_spot(inst: Instrument) -> bool:
    """A spot pair (no positions, leverage, funding or liquidation)."""
    return inst.kind is _SPOT


def is_expired(inst: Instrument, time_ms: int) -> bool:
    """A dated future at or after its expiry: SET-001's price is fixed by the window ending there, so nothing
    trades in its book any more (order entry, triggered orders, close-outs and partial liquidations) until Settle."""
    expiry = inst.expiry_ms
    return expiry is not None and time_ms >= expiry


class Market:
    """Instruments, books and prices."""

    def __init__(self, instrument_map: dict[str, Instrument]) -> None:
        self.instrument_map = instrument_map
        self.books: dict[str, Book] = {symbol: Book(symbol) for symbol in sorted(self.instrument_map)}
        self.marks: dict[str, int] = {}
        self.index_prices: dict[str, int] = {}
        self.last_prices: dict[str, int] = {}
        self.settled: dict[str, int] = {}  # settled dated futures -> settlement price (SET-004)
        self.funded: dict[str, int] = {}  # perpetuals -> the instant of the last FundingTick applied (FND-021)
        # not state: per contract, the trade prices printed since its triggers last judged them, as turning points
        # (note_print); Triggers.run consumes them, and every command ends with none (Engine.process)
        self.prints: dict[str, list[int]] = {}

    def funded_through(self, seq: int, time_ms: int) -> dict[str, int]:
        """FND-021's instants for a state saved before the engine kept them (a snapshot without ``funded``): every
        perpetual with a mark is taken as paid at the state's clock ``time_ms``, unless the state ran no command
        (``seq`` 0: nothing paid).  Safe: an instant paid before the save is at or before the clock, so none is paid
        again (a later one is refused by the clock, TimeWentBackwards; one at the clock by FND-021); the cost, only
        until the clock moves on, is a tick at the clock for an instant not yet paid, refused too."""
        if seq == 0:
            return {}
        return {
            symbol: time_ms
            for symbol, inst in sorted(self.instrument_map.items())
            if symbol in self.marks and inst.expiry_ms is None and not is_spot(inst)
        }

    def record_trade(self, symbol: str, price: int) -> None:
        """A trade at ``price`` in ``symbol``: its last price, and a print its last-price triggers judge
        (:meth:`note_print`)."""
        self.last_prices[symbol] = price
        self.note_print(symbol, price)

    def note_print(self, symbol: str, price: int) -> None:
        """A trade printed ``price`` in ``symbol`` (its last price): the conditional orders that watch the last price
        are judged at every print (ORD-015), not only the one a trigger pass reads (red team 7).

        Kept as the path's turning points: a print that continues the direction of the one before it replaces
        that one (a run of rising or falling prints is judged at its ends: between them the watched price only
        moves one way, so nothing fixed is due between them that is not due at an end, and a trailing stop that
        follows it is moved to the far end before the next turn judges it); a repeated price is kept once.  A run
        is also cut where it enters or leaves ORD-014's band around the mark (the first and last print of each part
        kept) (the mark a command's prints are
        judged at: PriceUpdate moves it before anything trades), so a ``LastWithinMark`` order is judged at the
        run's extreme prints within the band too.
        """
        path = self.prints.get(symbol)
        if path is None:
            self.prints[symbol] = [price]
            return
        top = path[-1]
        if price == top:
            return
        if len(path) >= 2 and (path[-2] < top) == (top < price):
            mark = self.marks.get(symbol, 0)
            band = is_within_mark_band(top, mark)
            if is_within_mark_band(path[-2], mark) == band == is_within_mark_band(price, mark):
                path[-1] = price
            else:
                path.append(price)
        else:
            path.append(price)

    def instrument(self, symbol: object) -> Instrument | Rej:
        """The instrument called ``symbol``, or a typed reject."""
        if not is_str(symbol):
            return Rej(Reason.MALFORMED, "symbol must be a string")
        assert isinstance(symbol, str)
        inst = self.instrument_map.get(symbol)
        if inst is None:
            return Rej(Reason.UNKNOWN_SYMBOL, f"unknown symbol {show(symbol)}")
        return inst

    def asset_known(self, asset: object) -> bool:
        """``asset`` is a settlement or base asset of some instrument."""
        return is_str(asset) and asset in self.assets()

    def assets(self) -> Sequence[str]:
        """Settlement assets, sorted."""
        assets = {inst.settl_currency for inst in self.instrument_map.values()}
        assets |= {inst.base_currency for inst in self.instrument_map.values() if inst.base_currency}
        return sorted(assets)

    def best(self, symbol: str) -> tuple[int, int]:
        """(best bid, best ask) of ``symbol``'s book, 0 for an empty side."""
        book = self.books[symbol]
        return (book.best_bid() or 0, book.best_ask() or 0)

    def usd_price(self, inst: Instrument) -> tuple[int, int]:
        """The USD price of a whole unit of ``inst``'s settlement asset for fee-tier volume, as (price, its scale):
        unrounded (ACC-009, ``rules.fee_tier.compute_usd_volume``, floors the volume once); (0, 1) when unknown."""
        if inst.settl_currency == "USDt":
            return 1, 1
        mark = self.marks.get("XBTUSD")
        xbtusd = self.instrument_map.get("XBTUSD")
        if mark is None or xbtusd is None:
            return 0, 1
        return mark, xbtusd.price_scale

    def trigger_price(self, symbol: str, source: str) -> int:
        """The price a conditional order with trigger ``source`` watches (0 before the first one)."""
        if source == o.LAST_PRICE:
            return self.last_prices.get(symbol, 0)
        if source == o.INDEX_PRICE:
            return self.index_prices.get(symbol, 0)
        return self.marks.get(symbol, 0)


class _LastFees:
    """The instrument :func:`fee_rates` was asked about last and its fee schedule (a native record compiled): one
    immutable ``(instrument, maker fees, taker fees)`` tuple replaced by one store (another thread sees the old answer
    or the new one, never a mix)."""

    def __init__(self) -> None:
        self.answer: tuple[Any, ...] = (None, [], [])


_FEES: Final = _LastFees()


def fee_rates(inst: Instrument) -> tuple[list[int], list[int]]:
    """The maker and the taker fee (ppm) of each of ``inst.fee_tiers``, by tier index.

    Compiled, an attribute of the (interpreted, frozen) ``Instrument`` and ``FeeTier`` records is a dict lookup per
    read; the instrument asked about last is recognised by identity instead (a changed instrument is another object).
    """
    answer = _FEES.answer
    if answer[0] is not inst:
        answer = (
            inst, [row.maker_fee_ppm for row in inst.fee_tiers], [row.taker_fee_ppm for row in inst.fee_tiers]
        )
        _FEES.answer = answer
    maker: list[int] = answer[1]
    taker: list[int] = answer[2]
    return maker, taker
