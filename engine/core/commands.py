"""Commands: everything that can change the exchange, as plain frozen records.

A command is the whole input of one transition; ``time_ms`` (the logical
clock, milliseconds) is a field of every command, and the engine never reads a
clock.  Field names are snake_case forms of BitMEX's API names
(``order_qty`` = ``orderQty``, ``cl_ord_id`` = ``clOrdID``); string values are
BitMEX's (``side="Buy"``, ``ord_type="StopLimit"``,
``exec_inst="ReduceOnly,LastPrice"``).  Prices are the instrument's integer
price units, quantities contracts, money settlement minor units.

Fields are deliberately *not* validated here: a command is what a client
sent, and the engine answers every malformed one with a typed rejection
(never an exception).  The engine's typed validation layer
(:func:`engine.core.rejects.first_wrong_type`, run before any handler) refuses
a field of the wrong type, and an integer field outside signed 64 bits
(:data:`FIELD_INT_MIN` .. :data:`FIELD_INT_MAX`, BitMEX's own integer range):
``Rejected(Malformed)``, nothing changed.  The handlers' rules bound most
fields far tighter (maxOrderQty, maxPrice, the clock's end, ...).  Optional fields are ``None`` when absent, as in the
API.  Commands are hashable and serialisable (:func:`command_to_dict`,
:func:`command_from_dict`) for the journal.

A command is a ``NamedTuple``: immutable (the engine keeps the commands since its last rollback checkpoint
and replays them), and built without a Python-level ``__init__`` per field (issue 14: the attrs frozen
class's ``__init__``, one ``object.__setattr__`` per field, was about 14k instructions of the compiled
engine's 101k per order).  Two commands are equal only when they are of the same class
(:func:`_same_command`), as attrs records were.  :func:`field_names` and :func:`replace` are what
``attrs.fields`` and ``attrs.evolve`` were for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple


class PlaceOrder(NamedTuple):
    """``POST /order``."""

    time_ms: int
    account: int
    symbol: str
    side: str | None = None  # "Buy" / "Sell"; may be omitted with a signed order_qty
    order_qty: int | None = None  # contracts; negative means Sell (BitMEX); None only with Close
    price: int | None = None
    ord_type: str | None = None  # default: Limit with a price, Market without, Stop with stopPx only
    time_in_force: str | None = None
    exec_inst: str = ""
    display_qty: int | None = None
    stop_px: int | None = None
    peg_offset_value: int | None = None  # trailing stop distance (price units, signed as BitMEX)
    peg_price_type: str | None = None  # "TrailingStopPeg"
    cl_ord_id: str = ""


class AmendOrder(NamedTuple):
    """``PUT /order``: change orderQty or leavesQty, price, stopPx, pegOffsetValue; ``cl_ord_id`` renames the order.

    ``cl_ord_id`` is BitMEX's "optional new Client Order ID": the order is known by it from then on (the old
    one no longer names it).  ``None`` or ``""`` keeps the order's own.  Added last, with a default, so a journal
    written before it decodes (its AmendOrder records keep the order's id).
    """

    time_ms: int
    account: int
    order_id: int | None = None
    orig_cl_ord_id: str | None = None
    order_qty: int | None = None
    leaves_qty: int | None = None
    price: int | None = None
    stop_px: int | None = None
    peg_offset_value: int | None = None
    cl_ord_id: str | None = None  # a new clOrdID (a rename); None or "" keeps the order's own


class CancelOrder(NamedTuple):
    """``DELETE /order`` by orderID or clOrdID."""

    time_ms: int
    account: int
    order_id: int | None = None
    cl_ord_id: str | None = None


class CancelAll(NamedTuple):
    """``DELETE /order/all``, optionally for one symbol and/or side."""

    time_ms: int
    account: int
    symbol: str | None = None
    side: str | None = None


class CancelAllAfter(NamedTuple):
    """``POST /order/cancelAllAfter``: dead man's switch (0 disarms)."""

    time_ms: int
    account: int
    timeout_ms: int


class VerifyAccount(NamedTuple):
    """Identity verification: required before the first deposit, trade or withdrawal."""

    time_ms: int
    account: int


class Deposit(NamedTuple):
    """A deposit of ``amount`` minor units of ``asset`` (e.g. "XBt", "USDt")."""

    time_ms: int
    account: int
    asset: str
    amount: int


class Withdraw(NamedTuple):
    """A withdrawal; never takes margin in use or unrealised profit."""

    time_ms: int
    account: int
    asset: str
    amount: int


class SetLeverage(NamedTuple):
    """``POST /position/leverage``: isolated leverage in hundredths (100x = 10_000); 0 = cross."""

    time_ms: int
    account: int
    symbol: str
    leverage_hundredths: int


class Isolate(NamedTuple):
    """``POST /position/isolate``: ``enabled`` True isolates at the current effective leverage, False = cross."""

    time_ms: int
    account: int
    symbol: str
    enabled: bool


class TransferMargin(NamedTuple):
    """``POST /position/transferMargin``: add (> 0) or remove (< 0) isolated margin, minor units."""

    time_ms: int
    account: int
    symbol: str
    amount: int


class SetRiskLimit(NamedTuple):
    """``POST /position/riskLimit``: the chosen risk limit in minor units."""

    time_ms: int
    account: int
    symbol: str
    risk_limit: int


class PriceUpdate(NamedTuple):
    """New index and/or mark price for a symbol (price units); runs triggers and the waterfall."""

    time_ms: int
    symbol: str
    mark_price: int | None = None
    index_price: int | None = None


class FundingTick(NamedTuple):
    """A funding instant: exchange ``mark value × rate`` between position holders.

    ``rate_e8`` is the funding rate in units of 1e-8 (0.01% = 10_000);
    positive: longs pay shorts.
    """

    time_ms: int
    symbol: str
    rate_e8: int


class TimeTick(NamedTuple):
    """The logical clock advances (fires dead man's switches, expires Day orders)."""

    time_ms: int


class DepositInsurance(NamedTuple):
    """The exchange funds an insurance fund (a deposit whose counterpart is outside the exchange)."""

    time_ms: int
    asset: str
    amount: int


class Settle(NamedTuple):
    """Settle a dated future at/after its expiry at ``settlement_price`` (price units, ``settledPrice``).

    The caller computes the price with ``rules.settlement.compute_twap`` (SET-001) from the index
    samples of the window ending at expiry; the engine closes every position at it (SET-003).
    """

    time_ms: int
    symbol: str
    settlement_price: int


class Oversized(NamedTuple):
    """What the durable exchange journals and applies instead of a command too large for a journal record.

    A hostile client can send a field of megabytes; its record would exceed the
    journal's limit and be refused by every reader.  The stand-in keeps the
    command's class name and encoded size, is journaled like any command, and
    the engine always rejects it (``Malformed``), live and on replay alike.
    """

    time_ms: int
    command: str  # class name of the command received
    size: int  # bytes its journal record would have taken


Command = (
    PlaceOrder
    | AmendOrder
    | CancelOrder
    | CancelAll
    | CancelAllAfter
    | VerifyAccount
    | Deposit
    | Withdraw
    | SetLeverage
    | Isolate
    | TransferMargin
    | SetRiskLimit
    | PriceUpdate
    | FundingTick
    | TimeTick
    | DepositInsurance
    | Settle
    | Oversized
)

COMMAND_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        PlaceOrder,
        AmendOrder,
        CancelOrder,
        CancelAll,
        CancelAllAfter,
        VerifyAccount,
        Deposit,
        Withdraw,
        SetLeverage,
        Isolate,
        TransferMargin,
        SetRiskLimit,
        PriceUpdate,
        FundingTick,
        TimeTick,
        DepositInsurance,
        Settle,
        Oversized,
    )
}


def _same_command(self: tuple[Any, ...], other: object) -> bool:
    """Commands are equal when of the same class with equal fields (a NamedTuple alone compares as a tuple)."""
    return type(self) is type(other) and tuple.__eq__(self, other) is True


def _other_command(self: tuple[Any, ...], other: object) -> bool:
    return not _same_command(self, other)


def _command_hash(self: tuple[Any, ...]) -> int:
    return hash((type(self).__name__, tuple(self)))


_COMPARISONS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("__eq__", _same_command), ("__ne__", _other_command), ("__hash__", _command_hash)
)
for _cls in COMMAND_TYPES.values():
    for _name, _method in _COMPARISONS:
        setattr(_cls, _name, _method)


def field_names(cls: type[Any]) -> tuple[str, ...]:
    """A command class's field names, in declaration order (the journal schema's order)."""
    names: tuple[str, ...] = cls._fields
    return names


def field_defaults(cls: type[Any]) -> dict[str, Any]:
    """A command class's optional fields and their defaults."""
    return dict(cls._field_defaults)


def replace(command: Command, /, **changes: Any) -> Command:
    """``command`` with some fields changed (a new command; raises ValueError naming an unknown field)."""
    changed: Command = command._replace(**changes)
    return changed


def command_to_dict(command: Command) -> dict[str, Any]:
    """A JSON-ready mapping ``{"type": ..., fields...}`` (fields at their default are kept)."""
    out: dict[str, Any] = {"type": type(command).__name__}
    out.update(command._asdict())
    return out


def command_from_dict(data: dict[str, Any]) -> Command:
    """Rebuild a command from :func:`command_to_dict` output; raises ValueError on an unknown type or field."""
    fields = dict(data)
    kind = fields.pop("type", None)
    cls = COMMAND_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown command type {kind!r}")
    try:
        command: Command = cls(**fields)
    except TypeError as error:
        raise ValueError(f"{kind}: {error}") from error
    return command


# ----------------------------------------------------------------------------- the typed validation layer

# Every integer field of every command (times, account and order ids, quantities, prices, amounts, rates, sizes)
# lies in signed 64 bits, as in BitMEX's API (redteam18_1/_4): a larger one is Malformed.  An unbounded Deposit
# made a wallet of thousands of digits that the state hash (repr) and the snapshot decoder refused, and ids of
# i * (2**61 - 1) all hash alike (CPython hashes an int modulo 2**61 - 1): within 64 bits at most five
# non-negative ids share a hash.  Wallets and funds grow only by such amounts, one command at a time.
FIELD_INT_MIN: Final = -(2**63)
FIELD_INT_MAX: Final = 2**63 - 1

_KINDS: dict[str, type[Any]] = {"int": int, "str": str, "bool": bool}
FIELD_NOUNS: dict[type[Any], str] = {int: "an integer", str: "a string", bool: "a boolean"}


def _field_kinds(cls: type[Any]) -> tuple[tuple[str, type[Any], bool], ...]:
    """(name, exact type, may be None) of every field of a command class, from its annotations."""
    kinds = []
    for name in field_names(cls):
        annotation = cls.__annotations__[name]  # the declared text (postponed annotations), or its ForwardRef
        declared = str(getattr(annotation, "__forward_arg__", annotation))
        optional = declared.endswith(" | None")
        kinds.append((name, _KINDS[declared.removesuffix(" | None")], optional))
    return tuple(kinds)


FIELD_KINDS: dict[type[Any], tuple[tuple[str, type[Any], bool], ...]] = {
    cls: _field_kinds(cls) for cls in COMMAND_TYPES.values()
}
# per class: one getter of every field value at once (a command's own items, as a plain tuple), and the
# (exact type, may be None) of each
FIELD_CHECKS: dict[type[Any], tuple[Callable[[Any], Any], tuple[tuple[type[Any], bool], ...]]] = {
    cls: (tuple, tuple((kind, opt) for _, kind, opt in kinds)) for cls, kinds in FIELD_KINDS.items()
}


def wrong_field_type(command: object) -> str | None:
    """The first field of ``command`` whose value is not exactly its declared type, as a reject text; else None.

    The typed validation layer; it lives in :func:`engine.core.rejects.wrong_field_type`
    (compiled with the engine, which calls it there).
    """
    from perpspec.engine.core.rejects import wrong_field_type as first_wrong  # rejects imports this module

    return first_wrong(command)
