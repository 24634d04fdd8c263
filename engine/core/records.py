"""The registry of record classes: the only way a class name in a journal or snapshot becomes a class.

A class is named in the bytes by its *stable name* (``engine.orders:Order``,
``rules.instrument:Instrument``: the flat module names from before the
engine's rooms, kept so old bytes stay identical; a class that moved keeps the
name it was always written under) and resolved only by a lookup in
:data:`REGISTRY`, a table of the project's own record classes (attrs records,
enums, NamedTuples and slotted classes defined in the modules of
:data:`RECORD_MODULES`) built when this module is imported.  Nothing here
imports a module, follows an attribute path or calls ``getattr`` with a name
read from bytes.  The encodings that use it: :mod:`engine.core.state_codec`
(snapshots and the Engine's checkpoint) and :mod:`engine.durability.command_codec`
(overview: :mod:`engine.durability.codec`).
"""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping
from typing import Any, Final

import attrs

from perpspec.engine.core import account_desk as _core_account_desk
from perpspec.engine.core import accounts as _core_accounts
from perpspec.engine.core import adlrank as _core_adlrank
from perpspec.engine.core import book as _core_book
from perpspec.engine.core import closeout as _core_closeout
from perpspec.engine.core import commands as _core_commands
from perpspec.engine.core import compiled as _core_compiled
from perpspec.engine.core import entry as _core_entry
from perpspec.engine.core import entry_amend as _core_entry_amend
from perpspec.engine.core import entry_plain as _core_entry_plain
from perpspec.engine.core import entry_sweep as _core_entry_sweep
from perpspec.engine.core import entry_terms as _core_entry_terms
from perpspec.engine.core import events as _core_events
from perpspec.engine.core import fastmargin as _core_fastmargin
from perpspec.engine.core import fills as _core_fills
from perpspec.engine.core import ledger as _core_ledger
from perpspec.engine.core import liqindex as _core_liqindex
from perpspec.engine.core import liquidation_guard as _core_liquidation_guard
from perpspec.engine.core import market as _core_market
from perpspec.engine.core import orders as _core_orders
from perpspec.engine.core import prices as _core_prices
from perpspec.engine.core import refbook as _core_refbook
from perpspec.engine.core import registry as _core_registry
from perpspec.engine.core import rejects as _core_rejects
from perpspec.engine.core import risk as _core_risk
from perpspec.engine.core import state_invariants as _core_state_invariants
from perpspec.engine.core import stream as _core_stream
from perpspec.engine.core import triggers as _core_triggers
from perpspec.engine.core import views as _core_views
from perpspec.engine.core import waterfall as _core_waterfall
from perpspec.rules import adl as _rules_adl
from perpspec.rules import contract as _rules_contract
from perpspec.rules import digest as _rules_digest
from perpspec.rules import events as _rules_events
from perpspec.rules import fee_tier as _rules_fee_tier
from perpspec.rules import funding as _rules_funding
from perpspec.rules import impact as _rules_impact
from perpspec.rules import index as _rules_index
from perpspec.rules import instrument as _rules_instrument
from perpspec.rules import instrument_file as _rules_instrument_file
from perpspec.rules import insurance as _rules_insurance
from perpspec.rules import invariant_registry as _rules_invariant_registry
from perpspec.rules import invariants as _rules_invariants
from perpspec.rules import invariants_trading as _rules_invariants_trading
from perpspec.rules import liquidation as _rules_liquidation
from perpspec.rules import liquidation_working as _rules_liquidation_working
from perpspec.rules import margin as _rules_margin
from perpspec.rules import mark as _rules_mark
from perpspec.rules import num as _rules_num
from perpspec.rules import order_margin as _rules_order_margin
from perpspec.rules import parse as _rules_parse
from perpspec.rules import position as _rules_position
from perpspec.rules import risk_limit as _rules_risk_limit
from perpspec.rules import settlement as _rules_settlement
from perpspec.rules import solvency as _rules_solvency
from perpspec.rules import triggers as _rules_triggers
from perpspec.rules import waterfall as _rules_waterfall
from perpspec.rules import waterfall_closeout as _rules_waterfall_closeout
from perpspec.rules import waterfall_liquidate as _rules_waterfall_liquidate
from perpspec.rules import waterfall_postings as _rules_waterfall_postings
from perpspec.rules import waterfall_state as _rules_waterfall_state


class Opaque:
    """Stand-in for a hostile command value the state encoding cannot hold (an arbitrary object).

    It keeps the text a reject shows of the value (:func:`engine.core.rejects.show`:
    canonical and bounded; journals of earlier versions hold its ``repr``) — all the
    engine can say about such a value — so a journaled command replays to the same events.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


# The stable module names written into the bytes: the engine's modules were flat (``engine.core.orders``)
# before they moved into rooms (``engine.core.orders``); journals and snapshots keep the flat names.
_STABLE_MODULES: Final = {
    "engine.core.accounts": "engine.accounts",
    "engine.core.adlrank": "engine.adlrank",
    "engine.core.book": "engine.book",
    "engine.core.commands": "engine.commands",
    "engine.core.compiled": "engine.compiled",
    "engine.core.events": "engine.events",
    "engine.core.exchange": "engine.exchange",
    "engine.core.fastmargin": "engine.fastmargin",
    "engine.core.liqindex": "engine.liqindex",
    "engine.core.orders": "engine.orders",
    "engine.durability.journal": "engine.journal",
    "engine.durability.recovery": "engine.recovery",
}
# A class that moved to another module keeps the stable name it was always written under.
_STABLE_CLASSES: Final = {
    "engine.core.closeout:Pending": "engine.exchange:Pending",  # moved out of engine/core/waterfall.py
    "engine.core.records:Opaque": "engine.codec:Opaque",  # moved out of engine/durability/codec.py
    # rules/waterfall.py's records, split out to rules/waterfall_state.py
    "rules.waterfall_state:Book": "rules.waterfall:Book",
    "rules.waterfall_state:BookLevel": "rules.waterfall:BookLevel",
    "rules.waterfall_state:Holding": "rules.waterfall:Holding",
    "rules.waterfall_state:Ledger": "rules.waterfall:Ledger",
    "rules.waterfall_state:PendingCloseOut": "rules.waterfall:PendingCloseOut",
    "rules.waterfall_state:Pool": "rules.waterfall:Pool",
    "rules.waterfall_state:Recorder": "rules.waterfall:Recorder",
    # rules/margin.py's order-margin records, split out to rules/order_margin.py
    "rules.order_margin:OrderMargin": "rules.margin:OrderMargin",
    "rules.order_margin:OrderSide": "rules.margin:OrderSide",
    "rules.order_margin:RestingOrder": "rules.margin:RestingOrder",
    # rules/invariants.py's registry machinery, moved to rules/invariant_registry.py (session 19)
    "rules.invariant_registry:FundingPostings": "rules.invariants:FundingPostings",
    "rules.invariant_registry:Invariant": "rules.invariants:Invariant",
    "rules.invariant_registry:StepInfo": "rules.invariants:StepInfo",
}
# Slots added to a record class after states holding it were written: the value an older state means
# (stable name -> field -> value).  An older state lacking exactly these fields still decodes, with them.
ADDED_FIELDS: Final[Mapping[str, Mapping[str, object]]] = {
    "engine.exchange:Pending": {"age": 0},  # LIQ-050: a close-out taken over before ages were kept is age 0
    "rules.waterfall:PendingCloseOut": {"age": 0},  # the rules model's record of the same
    # ORD-012: an order from before whole-position Close orders kept the quantity it was placed with
    "engine.orders:Order": {"whole_position": False},
}


def qualified_name(obj: Any) -> str:
    """The stable name of a class (or function) as the bytes write it: ``module:qualname``."""
    # the stable name in the bytes stays ``engine.x:Name`` / ``rules.x:Name`` whatever the package is called
    module = obj.__module__.removeprefix("perpspec.")
    moved = _STABLE_CLASSES.get(f"{module}:{obj.__qualname__}")
    return moved if moved is not None else f"{_STABLE_MODULES.get(module, module)}:{obj.__qualname__}"


def slot_names(cls: type) -> tuple[str, ...]:
    """The slot fields of a class, in the order the state encoding writes them."""
    compiled = cls.__dict__.get("__mypyc_attrs__")
    if compiled is not None:
        # a class compiled by `perpspec build-native` keeps no __slots__; mypyc lists its fields in
        # assignment order, the source's __slots__ lists them sorted (ruff RUF023): sorted, the two
        # agree, so compiled and interpreted engines write the same bytes (tests/test_native.py)
        return tuple(sorted(compiled))
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        slots = klass.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for name in slots:
            if name not in ("__weakref__", "__dict__") and name not in names:
                names.append(name)
    return tuple(names)


# The modules whose record classes may appear in a state or a command (tests/test_integrity.py checks that every
# module of engine/core and rules/ is listed, so a class added to a new module is not silently undecodable):
# all but the codec's own two and engine/core/exchange.py, the Engine's, which checkpoints its state with this
# codec (so it cannot be imported here) and defines no class of its state.
RECORD_MODULES: Final = (
    _core_waterfall,
    _core_closeout,
    _core_views,
    _core_triggers,
    _core_stream,
    _core_risk,
    _core_rejects,
    _core_registry,
    _core_prices,
    _core_market,
    _core_ledger,
    _core_fills,
    _core_entry,
    _core_entry_amend,
    _core_entry_plain,
    _core_entry_sweep,
    _core_entry_terms,
    _core_account_desk,
    _core_accounts,
    _core_adlrank,
    _core_book,
    _core_commands,
    _core_compiled,
    _core_events,
    _core_fastmargin,
    _core_liqindex,
    _core_liquidation_guard,
    _core_orders,
    _core_refbook,
    _core_state_invariants,
    _rules_adl,
    _rules_contract,
    _rules_digest,
    _rules_events,
    _rules_fee_tier,
    _rules_funding,
    _rules_impact,
    _rules_index,
    _rules_instrument,
    _rules_instrument_file,
    _rules_insurance,
    _rules_invariant_registry,
    _rules_invariants,
    _rules_invariants_trading,
    _rules_liquidation,
    _rules_liquidation_working,
    _rules_margin,
    _rules_mark,
    _rules_num,
    _rules_order_margin,
    _rules_parse,
    _rules_position,
    _rules_risk_limit,
    _rules_settlement,
    _rules_solvency,
    _rules_triggers,
    _rules_waterfall,
    _rules_waterfall_closeout,
    _rules_waterfall_liquidate,
    _rules_waterfall_postings,
    _rules_waterfall_state,
)


def is_record_class(cls: type) -> bool:
    """An attrs record, an enum, a NamedTuple or a slotted class (never an exception or a plain class)."""
    if issubclass(cls, BaseException):
        return False
    return (
        attrs.has(cls)
        or issubclass(cls, enum.Enum)
        or issubclass(cls, tuple)
        or "__slots__" in cls.__dict__
        or "__mypyc_attrs__" in cls.__dict__
    )


def _build_registry() -> dict[str, type]:
    found: dict[str, type] = {}
    for module in RECORD_MODULES:
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module.__name__ and is_record_class(value):
                found[qualified_name(value)] = value
    found[qualified_name(Opaque)] = Opaque
    return found


# stable name -> class: the only way a name in the bytes becomes a class
REGISTRY: Final[Mapping[str, type]] = types.MappingProxyType(_build_registry())
# class -> stable name: what the encoder writes (looked up only for a class whose metaclass is type's or Enum's own)
REGISTERED_NAMES: Final[Mapping[type, str]] = types.MappingProxyType({cls: name for name, cls in REGISTRY.items()})
