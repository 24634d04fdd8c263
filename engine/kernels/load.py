"""Hand the engine a proved kernel set for an instrument, or None (the generic rules run).

A kernel set is used only while the proof record ``specs/kernels.json``
matches, for that instrument, all three digests (:mod:`rules.digest`):

* the rule source the kernels were generated from (``rules/`` closure),
* the instrument parameters the kernels' rules read (recorded while they were
  generated; a what-if, ``check-params`` or a scenario that changes one of
  them does not match, so the generic rules run — never a stale kernel; a
  change to another parameter, such as the funding interval, keeps them),
* the source file of each of the instrument's emitted modules (its kernels are
  split by margin mode into several modules: each one is checked, and a kernel
  is taken only from the module the record lists it in).

Otherwise :func:`kernels_for` returns None and says why, once per instrument
and reason (a ``perpspec.kernels`` log warning, also kept in :data:`NOTICES`).
The modules are imported statically (:mod:`.index`); nothing read at run
time selects or supplies code — the record only says whether a kernel the
package already holds may run.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import attrs

from perpspec.engine.kernels.dispatch import SYMBOLS
from perpspec.engine.kernels.index import MODULES
from perpspec.rules.digest import compute_instrument_digest, compute_rules_digest, compute_source_digest
from perpspec.rules.instrument import ContractKind, Instrument
from perpspec.rules.margin import PositionMargin
from perpspec.rules.parse import loads_json

RECORD_FORMAT = 2  # proofs/specialise/generate.py: one entry per emitted module of an instrument
Kernel = Callable[..., tuple[int, ...]]
_LOG = logging.getLogger("perpspec.kernels")


@attrs.frozen(kw_only=True)
class KernelSet:
    """The proved kernels of one instrument (each equal to the rules named in its docstring)."""

    symbol: str
    index: int  # the instrument's branch in engine/kernels/dispatch.py (SYMBOLS[index] == symbol)
    position_margin_cross: Kernel
    position_margin_isolated: Kernel
    order_margin_cross: Kernel
    order_margin_isolated: Kernel
    order_term: Kernel
    order_requirement_cross: Kernel
    order_requirement_isolated: Kernel
    pretrade_cross: Kernel
    pretrade_isolated: Kernel
    requirement_cross: Kernel
    requirement_isolated: Kernel
    account_margin_cross_1: Kernel
    account_margin_flat: Kernel
    value: Kernel
    equity_term: Kernel
    trade: Kernel
    order_solvent_cross: Kernel
    order_solvent_isolated: Kernel
    fill_cross: Kernel
    fill_isolated: Kernel
    position_prices_cross: Kernel
    position_prices_isolated: Kernel


KERNEL_NAMES = tuple(field.name for field in attrs.fields(KernelSet) if field.name not in ("symbol", "index"))

# symbol -> why the generic rules run for it (first reason only)
NOTICES: dict[str, str] = {}
_CHOSEN: Final[dict[str, tuple[Instrument, KernelSet | None]]] = {}  # Final: a static in the compiled build
_STATE: Final[dict[str, Any]] = {"enabled": True}


class _LastChoice:
    """The instrument :func:`kernels_for` answered last and its answer (a native record when compiled).

    Most calls ask about the instrument asked just before: an identity test here spares the symbol's attribute
    read and the ``_CHOSEN`` lookup (and :func:`kernel_index` the ``KernelSet.index`` read).  It holds only an
    answer ``_CHOSEN`` held (or a spot pair's None), for the ``_CHOSEN`` dict it came from: emptied with it by
    :func:`generic_rules_only`, and a replaced ``_CHOSEN`` (tests) does not match.  An instrument changed by a
    what-if is another object: never this one.  The answer is one immutable tuple replaced by one store, so a
    reader in another thread (two engines in one process) sees the old answer or the new one, never a mix.
    """

    def __init__(self) -> None:
        self.answer: tuple[Any, ...] = _NO_ANSWER

    def forget(self) -> None:
        """Hold no answer."""
        self.answer = _NO_ANSWER

    def hold(self, inst: Instrument, kernels: KernelSet | None) -> None:
        """Hold ``kernels`` as the answer for ``inst``."""
        self.answer = (inst, kernels, -1 if kernels is None else kernels.index, _CHOSEN)


# (instrument, its kernels or None, their index or -1, the _CHOSEN dict the answer came from)
_NO_ANSWER: Final[tuple[Any, ...]] = (None, None, -1, None)
_LAST: Final = _LastChoice()


@contextlib.contextmanager
def generic_rules_only() -> Iterator[None]:
    """Within this block no kernel is handed out (differential tests, benchmarks of the generic path)."""
    previous = _STATE["enabled"]
    _STATE["enabled"] = False
    _CHOSEN.clear()
    _LAST.forget()
    try:
        yield
    finally:
        _STATE["enabled"] = previous
        _CHOSEN.clear()
        _LAST.forget()


def kernels_for(inst: Instrument) -> KernelSet | None:
    """The proved kernel set of ``inst``, or None when the record does not match it (said once).

    Spot pairs have no margin and no kernels: None, silently.
    """
    answer = _LAST.answer
    if answer[0] is inst and answer[3] is _CHOSEN:
        kernels: KernelSet | None = answer[1]
        return kernels
    return _choose(inst)


def kernel_index(inst: Instrument) -> int:
    """``kernels_for(inst).index`` (the instrument's branch in engine/kernels/dispatch.py), or -1 when None."""
    answer = _LAST.answer
    if answer[0] is inst and answer[3] is _CHOSEN:
        index: int = answer[2]
        return index
    kernels = _choose(inst)
    return -1 if kernels is None else kernels.index


def _choose(inst: Instrument) -> KernelSet | None:
    """:func:`kernels_for` without the last answer."""
    chosen = _CHOSEN.get(inst.symbol)  # filled only while enabled (generic_rules_only empties it), never for spot
    if chosen is not None and chosen[0] is inst:
        _LAST.hold(inst, chosen[1])
        return chosen[1]
    if inst.kind is ContractKind.SPOT:
        _LAST.hold(inst, None)
        return None
    if not _STATE["enabled"]:
        return None
    kernels, reason = _verify(inst)
    if kernels is None:
        _notice(inst.symbol, reason)
    _CHOSEN[inst.symbol] = (inst, kernels)
    _LAST.hold(inst, kernels)
    return kernels


def _notice(symbol: str, reason: str) -> None:
    if NOTICES.get(symbol) != reason:
        NOTICES[symbol] = reason
        _LOG.warning("%s: running the generic rules (%s)", symbol, reason)


def _record() -> dict[str, Any] | None:
    if "record" not in _STATE:
        try:
            text = resources.files("perpspec.specs").joinpath("kernels.json").read_text(encoding="utf-8")
            data = loads_json(text)
        except (OSError, ValueError):
            data = None
        _STATE["record"] = data if isinstance(data, dict) and data.get("format") == RECORD_FORMAT else None
    record: dict[str, Any] | None = _STATE["record"]
    return record


def _rules_digest() -> str:
    if "rules_digest" not in _STATE:
        _STATE["rules_digest"] = compute_rules_digest()
    digest: str = _STATE["rules_digest"]
    return digest


def _module_source(module: ModuleType) -> bytes | None:
    """The source file of an emitted module (beside the compiled extension when built with mypyc)."""
    location = getattr(module, "__file__", None)
    if not isinstance(location, str):
        return None
    path = Path(location)
    source = path if path.suffix == ".py" else path.with_name(f"{path.name.split('.')[0]}.py")
    try:
        return source.read_bytes()
    except OSError:
        return None


def _verify(inst: Instrument) -> tuple[KernelSet | None, str]:
    record = _record()
    if record is None:
        return None, "no proof record specs/kernels.json"
    entry = record.get("kernels", {}).get(inst.symbol)
    modules = MODULES.get(inst.symbol)
    if not isinstance(entry, dict) or modules is None:
        return None, "no kernels generated for this instrument"
    if record.get("rules_digest") != _rules_digest():
        return None, "the rule source changed since the kernels were generated"
    fields = entry.get("instrument_fields")
    if not isinstance(fields, list) or not all(isinstance(field, str) and hasattr(inst, field) for field in fields):
        return None, "the proof record names no instrument parameters"
    if entry.get("instrument_digest") != compute_instrument_digest(inst, tuple(fields)):
        return None, "the instrument's parameters differ from those the kernels were generated for"
    parts = entry.get("modules")
    if not isinstance(parts, dict) or sorted(parts) != sorted(modules):
        return None, "the proof record does not name the instrument's emitted modules"
    kernels: dict[str, Kernel] = {}
    for part, module in modules.items():
        listed = parts[part]
        if not isinstance(listed, dict):
            return None, "the proof record does not name the instrument's emitted modules"
        source = _module_source(module)
        if source is None or listed.get("source_digest") != compute_source_digest(source):
            return None, f"{listed.get('module')} is not the file the proof record names"
        functions = listed.get("functions")
        if not isinstance(functions, list):
            return None, f"the proof record lists no kernels of {listed.get('module')}"
        for name in functions:
            known = isinstance(name, str) and name in KERNEL_NAMES and name not in kernels
            kernel = getattr(module, name, None) if known else None
            if not callable(kernel):
                return None, f"{listed.get('module')} does not hold the kernel {name} once"
            kernels[name] = kernel
    if inst.symbol not in SYMBOLS:
        return None, "engine/kernels/dispatch.py has no branch for this instrument"
    for name in KERNEL_NAMES:
        if name not in kernels:
            return None, f"the emitted modules lack the kernel {name}"
    return KernelSet(symbol=inst.symbol, index=SYMBOLS.index(inst.symbol), **kernels), ""


def position_margin_record(values: tuple[int, ...]) -> PositionMargin:
    """The MRG-020 record from a ``position_margin_*`` kernel's outputs (in the record's field order)."""
    return PositionMargin(
        current_qty=values[0],
        leverage_hundredths=values[1],
        risk_steps=values[2],
        init_margin_req_ppm=values[3],
        maint_margin_req_ppm=values[4],
        pos_cost=values[5],
        pos_init=values[6],
        pos_comm=values[7],
        pos_cross=values[8],
        pos_margin=values[9],
        pos_maint=values[10],
        mark_value=values[11],
        unrealised_pnl=values[12],
        maint_margin=values[13],
        liquidation_price=values[14],
        bankrupt_price=values[15],
    )
