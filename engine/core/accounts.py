"""Accounts: wallets, positions, margin settings and the per-account order tallies.

This is the engine's mutable working state for one account.  Every number in
it is computed by the rules (:mod:`rules.position` for fills,
:mod:`rules.margin` for requirements, :mod:`rules.liquidation` for the
trigger); this module only keeps them together and caches what is expensive:

* a position's :class:`rules.margin.PositionMargin` at the current mark is
  cached on the :class:`PositionState` keyed by everything it depends on;
* the resting orders of one account in one contract are kept in a dict by
  order id, so order margin (MRG-046) is computed over them without scanning
  the book.

Fee tiers (reference §10): a taker/maker fee schedule by 30-day average daily
volume in USD (:attr:`rules.instrument.Instrument.fee_tiers`).  Volume is
counted per UTC day of the logical clock; the tier for a day uses the 30
*previous* whole days (so it changes at most once a day, like BitMEX's daily
recalculation) and is cached.
"""

from __future__ import annotations

from typing import Any, Final

from perpspec.engine.core.compiled import mypyc_attr
from perpspec.engine.core.fastmargin import RestingCache, instrument_names, shift_resting_cache
from perpspec.engine.kernels import dispatch
from perpspec.engine.kernels.load import kernel_index, position_margin_record
from perpspec.rules import fee_tier
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import CROSS as MARGIN_CROSS
from perpspec.rules.margin import (
    PositionMargin,
    compute_position_margin,
)
from perpspec.rules.position import Position

CROSS: Final = MARGIN_CROSS  # rules.margin.CROSS as a compiled constant (an imported name is a module-dict lookup per read)
DAY_MS: Final = 86_400_000  # Final: a constant in the compiled build, not a module-dict lookup per read
FEE_WINDOW_DAYS: Final = fee_tier.FEE_WINDOW_DAYS
# ``dict.pop`` as a compiled constant: called as ``DICT_POP(d, key, None)`` it is one vectorcall of the method, where
# ``d.pop(key, None)`` compiled first looks the method up on the dict's type (a generic method call)
DICT_POP: Final = dict.pop
# minor units per whole unit of a settlement asset, for counting USD volume
MINOR_PER_UNIT: dict[str, int] = {"XBt": 100_000_000, "USDt": 1_000_000}


@mypyc_attr(allow_interpreted_subclasses=True)  # picklable when compiled (engine.core.compiled)
class PositionState:
    """One account's position in one contract, its margin setting and its resting orders.

    ``iso_margin`` is the money set aside for an isolated position (part of
    the wallet; the waterfall's ``Holding.isolated_margin``): ``posInit +
    posComm`` of the position plus whatever was transferred in, less losses
    realised against it.  ``chosen_tier`` is the risk-limit steps the owner
    chose (``(riskLimit − base) / riskStep``).
    """

    __slots__ = (
        "_pm",
        "_pm_key",
        "chosen_tier",
        "cost",
        "iso_margin",
        "leverage",
        "orders",
        "qty",
        "resting_cache",
        "risk_limit",
        "symbol",
    )

    def __init__(self, symbol: str, risk_limit: int) -> None:
        self.symbol = symbol
        self.qty = 0  # currentQty, signed
        self.cost = 0  # signed cost basis (posCost)
        self.leverage = CROSS  # hundredths; 0 = cross
        self.iso_margin = 0  # isolated pool margin (minor units); 0 when cross
        self.risk_limit = risk_limit  # chosen risk limit, minor units
        self.chosen_tier = 0
        # order id -> (signed leaves, limit price) of the resting orders: changed only by put_order/drop_order
        self.orders: dict[int, tuple[int, int]] = {}
        # what engine.core.fastmargin derived from ``orders`` (MRG-042 sums, MRG-046 margin); None after any change
        self.resting_cache: Any = None  # a RestingCache; anything else (a tuple of an older engine's state) is none
        self._pm: PositionMargin | None = None
        self._pm_key: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)

    @property
    def position(self) -> Position:
        """The rules' view of the position."""
        return Position(qty=self.qty, cost=self.cost)

    def put_order(self, order_id: int, signed_leaves: int, price: int) -> None:
        """A resting order enters or changes (the kept order-margin sums move with it)."""
        # compiled: ``key`` is boxed once for both lookups, and ``new`` (Any: one tuple object) is built once, stored and
        # passed on; a typed pair is a C struct boxed anew at each use
        key: Any = order_id
        new: Any = (signed_leaves, price)
        old = self.orders.get(key)
        self.orders[key] = new
        cache = self.resting_cache
        if isinstance(cache, RestingCache):
            shift_resting_cache(cache, old, new)

    def drop_order(self, order_id: int) -> None:
        """A resting order leaves (filled, cancelled or taken out of the book)."""
        # one lookup (get then del is two, and del is no cheaper compiled); Any: compiled, the tuple object is passed
        # on as it is (narrowed to a typed pair it would be unboxed and boxed again)
        old: Any = DICT_POP(self.orders, order_id, None)
        cache = self.resting_cache
        if old is not None and isinstance(cache, RestingCache):
            shift_resting_cache(cache, old, None)

    def copy(self) -> PositionState:
        """An independent copy (for trial computations before a change is accepted)."""
        other = PositionState(self.symbol, self.risk_limit)
        other.qty, other.cost, other.leverage = self.qty, self.cost, self.leverage
        other.iso_margin, other.chosen_tier = self.iso_margin, self.chosen_tier
        other.orders = dict(self.orders)
        return other

    def margin(self, inst: Instrument, mark_price: int, pos_cross: int) -> PositionMargin:
        """MRG-020 at ``mark_price``, cached until the position, mark or setting changes."""
        key = (self.qty, self.cost, mark_price, self.leverage, pos_cross)
        pm = self._pm
        if pm is None or key != self._pm_key:
            kernel_ix = kernel_index(inst)  # the proved specialised MRG-020, when current for inst
            if kernel_ix < 0:
                pm = compute_position_margin(inst, self.position, mark_price, self.leverage, pos_cross)
            elif self.leverage == CROSS:
                pm = position_margin_record(dispatch.position_margin_cross(kernel_ix, self.qty, self.cost, mark_price, 0, 0))
            else:
                pm = position_margin_record(
                    dispatch.position_margin_isolated(kernel_ix, self.qty, self.cost, mark_price, self.leverage, pos_cross, 0)
                )
            self._pm = pm
            self._pm_key = key
        return pm

    def canonical(self) -> tuple[object, ...]:
        """Everything that decides this position's future, for the state hash."""
        return (
            self.symbol,
            self.qty,
            self.cost,
            self.leverage,
            self.iso_margin,
            self.risk_limit,
            self.chosen_tier,
            tuple(sorted(self.orders.items())),
        )

    def __getstate__(self) -> tuple[object, ...]:
        return (self.symbol, self.qty, self.cost, self.leverage, self.iso_margin, self.risk_limit,
                self.chosen_tier, self.orders)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        (self.symbol, self.qty, self.cost, self.leverage, self.iso_margin, self.risk_limit, self.chosen_tier,
         self.orders) = state  # type: ignore[assignment]
        self.resting_cache = None
        self._pm = None
        self._pm_key = (0, 0, 0, 0, 0)


# Account's fields, named outside the class: a compiled class has no __slots__ attribute (the pickle state is these)
_ACCOUNT_FIELDS: Final = (
    "account_id",
    "cancel_at_ms",
    "cl_ord_ids",
    "fee_cache",
    "orders",
    "positions",
    "reserved",
    "verified",
    "volume_by_day",
    "wallets",
)


def compute_fee_tier(inst: Instrument, volume_by_day: dict[int, int], day: int) -> int:
    """The fee tier of ``day`` from an account's volume per day: ACC-008 (``rules.fee_tier``) on its 30-day window."""
    return fee_tier.compute_fee_tier(inst, fee_tier.compute_window_volume(tuple(volume_by_day.items()), day))


@mypyc_attr(allow_interpreted_subclasses=True)  # picklable when compiled (engine.core.compiled)
class Account:
    """One trading account."""

    __slots__ = _ACCOUNT_FIELDS

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        self.verified = False
        self.wallets: dict[str, int] = {}  # asset -> walletBalance (minor units)
        self.positions: dict[str, PositionState] = {}
        self.orders: dict[int, object] = {}  # live order id -> engine.orders.Order (resting or untriggered)
        self.cl_ord_ids: dict[str, int] = {}  # live clOrdID -> order id
        self.cancel_at_ms = 0  # dead man's switch deadline; 0 = disarmed
        self.volume_by_day: dict[int, int] = {}  # UTC day index -> USD volume traded
        self.fee_cache: dict[str, tuple[int, int]] = {}  # symbol -> (day, fee tier index in its schedule)
        self.reserved: dict[str, int] = {}  # asset -> balance reserved by live spot orders

    def position(self, inst: Instrument) -> PositionState:
        """The account's position record in ``inst`` (created flat on first use)."""
        symbol = instrument_names(inst)[0]
        state = self.positions.get(symbol)
        if state is None:
            state = PositionState(symbol, inst.risk_limit)
            self.positions[symbol] = state
        return state

    def wallet(self, asset: str) -> int:
        """walletBalance in ``asset`` (0 if never funded)."""
        return self.wallets.get(asset, 0)

    def fee_tier(self, inst: Instrument, time_ms: int) -> int:
        """Index into ``inst.fee_tiers`` from the 30 previous days' average daily USD volume."""
        day = time_ms // DAY_MS
        symbol = instrument_names(inst)[0]
        cached = self.fee_cache.get(symbol)
        if cached is not None and cached[0] == day:
            return cached[1]
        # a pure read of the history (a rejected order reads it too: it must change nothing hashed; what it caches
        # for its day is dropped by add_volume if volume of an earlier day comes after it)
        tier = compute_fee_tier(inst, self.volume_by_day, day)
        self.fee_cache[symbol] = (day, tier)
        return tier

    def add_volume(self, usd: int, time_ms: int) -> None:
        """Count ``usd`` of traded volume on the day of ``time_ms``."""
        day = time_ms // DAY_MS
        key: Any = day  # compiled: boxed once for the lookup and the store
        volumes = self.volume_by_day
        today = volumes.get(key)
        # days no window from today on can count go; with today's the only day kept there is none (no list built)
        if len(volumes) != 1 or today is None:
            first = day - FEE_WINDOW_DAYS
            for old in [d for d in volumes if d < first]:
                del volumes[old]
        volumes[key] = (0 if today is None else today) + usd
        # today's volume counts from tomorrow: tiers cached for today stay valid; a tier cached for a later day (read
        # by a command the engine then rejected, putting its clock back) did not count it and goes (red team 5)
        cache = self.fee_cache
        for cached in cache.values():
            if cached[0] > day:
                for symbol in [name for name, (cached_day, _) in cache.items() if cached_day > day]:
                    del cache[symbol]
                break

    def canonical(self) -> tuple[object, ...]:
        """Everything that decides this account's future, for the state hash (orders hashed with the books)."""
        return (
            self.account_id,
            self.verified,
            tuple(sorted(self.wallets.items())),
            tuple(p.canonical() for _, p in sorted(self.positions.items())),
            tuple(sorted(self.cl_ord_ids.items())),
            self.cancel_at_ms,
            tuple(sorted(self.volume_by_day.items())),
            tuple(sorted(self.reserved.items())),
        )

    def __getstate__(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _ACCOUNT_FIELDS)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        for name, value in zip(_ACCOUNT_FIELDS, state, strict=True):
            setattr(self, name, value)


def compute_usd_volume(inst: Instrument, qty: int, price: int, usd_price: tuple[int, int]) -> int:
    """A fill's USD volume for fee tiers: ACC-009 (``rules.fee_tier``) at the settlement asset's USD price
    (``Market.usd_price``: a price and its scale) with the asset's minor units."""
    minor = MINOR_PER_UNIT.get(instrument_names(inst)[1], 1)
    return fee_tier.compute_usd_volume(inst, qty, price, usd_price[0], usd_price[1], minor)
