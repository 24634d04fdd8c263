"""Proof obligations over the specialised kernels: each emitted kernel equals the rules it names.

For every kernel of :data:`proofs.specialise.catalogue.KERNELS` and every
shipped instrument, the committed module that holds it
(``engine/kernels/<symbol>_<part>.py``, the instrument's kernels split by margin
mode: :func:`proofs.specialise.generate.part_of`) is read as text, checked
against its proof record ``specs/kernels.json`` (digests of the rule source, the
instrument's parameters and the file, and the record lists the kernel in that
file, where the engine's loader takes it from), and its function evaluated by the emitted-subset interpreter on symbolic integers
is proved equal to the rules, with every division's divisor non-zero, under
the rules' preconditions (:mod:`proofs.specialise.equivalence`).

Known-bad emitted variants — a ceiling division turned into a floor (posInit
rounded toward the trader), the arms of a selection swapped in ACC-004 — are
expected to be refuted.
"""

from __future__ import annotations

import functools
import hashlib
import json

from perpspec.proofs.prover import ProofResult
from perpspec.proofs.registry import Obligation, register
from perpspec.proofs.specialise.catalogue import KERNELS, kernel_named
from perpspec.proofs.specialise.equivalence import mutate, prove_equivalence
from perpspec.proofs.specialise.generate import RECORD_PATH, ROOT, module_path, obligation_id, part_of
from perpspec.rules.digest import (
    RULES_DIR,
    compute_instrument_digest,
    compute_rules_digest,
    compute_source_digest,
)
from perpspec.rules.instrument_file import builtin_symbols, load_instrument

# files outside rules/ and proofs/ these obligations read (in their dependency key: `perpspec prove`'s result cache
# and the rulebook's stored run, proofs.rulebook_status.dependency_files)
DEPENDS_ON = ("engine/kernels/*.py", "specs/kernels.json")

# An equivalence is a property of the generated copy, not of a rule: these obligations name no rule id,
# so they never change a rule's proof status on the rulebook pages (the kernel's docstring names its rules).
KERNEL_RULE = "kernel"

OBLIGATIONS: list[Obligation] = []


# compute_rules_digest() parses the rule modules to follow their imports (about 25 ms): computed once per
# content of rules/ in a process, not once per obligation (every rules/*.py is read each time, and any change
# to one computes the digest afresh)
_RULES_DIGESTS: dict[str, str] = {}


def rules_digest() -> str:
    """:func:`compute_rules_digest` of the rule modules as they are now (memoised on the bytes of every rules/*.py)."""
    contents = hashlib.sha256()
    for path in sorted(RULES_DIR.glob("*.py")):
        contents.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    key = contents.hexdigest()
    if key not in _RULES_DIGESTS:
        _RULES_DIGESTS[key] = compute_rules_digest()
    return _RULES_DIGESTS[key]


def committed_source(symbol: str, kernel: str) -> str:
    """The committed emitted module holding ``symbol``'s kernel ``kernel``, after checking it against the
    proof record (which must list the kernel in that module: the engine's loader takes it from there)."""
    record = json.loads((ROOT / RECORD_PATH).read_text(encoding="utf-8"))
    entry = record["kernels"][symbol]
    part = part_of(kernel_named(kernel))
    listed = entry["modules"][part]
    path = module_path(symbol, part)
    source = (ROOT / path).read_bytes()
    if record["rules_digest"] != rules_digest():
        raise ValueError("specs/kernels.json: the rule source changed since generation (regenerate)")
    fields = tuple(entry["instrument_fields"])
    if entry["instrument_digest"] != compute_instrument_digest(load_instrument(symbol), fields):
        raise ValueError(f"specs/kernels.json: {symbol}'s parameters changed since generation (regenerate)")
    if listed["module"] != path.as_posix() or kernel not in listed["functions"]:
        raise ValueError(f"specs/kernels.json: {symbol}'s {kernel} is not listed in {path.as_posix()} (regenerate)")
    if listed["source_digest"] != compute_source_digest(source):
        raise ValueError(f"specs/kernels.json: {listed['module']} is not the file generated (regenerate)")
    return source.decode("utf-8")


def prove_kernel(kernel: str, symbol: str) -> ProofResult:
    """The committed kernel ``kernel`` of ``symbol`` equals the rules."""
    return prove_equivalence(
        kernel_named(kernel), load_instrument(symbol), committed_source(symbol, kernel), obligation_id(kernel, symbol)
    )


def prove_mutant(kernel: str, symbol: str, mutation: str) -> ProofResult:
    """A known-bad variant of the committed kernel (expected refuted)."""
    source = mutate(committed_source(symbol, kernel), kernel, mutation)
    return prove_equivalence(kernel_named(kernel), load_instrument(symbol), source, f"known-bad {mutation} {kernel}")


def _add(obligation: Obligation) -> None:
    OBLIGATIONS.append(register(obligation))


def _register() -> None:
    for symbol in builtin_symbols():
        for spec in KERNELS:
            _add(
                Obligation(
                    id=obligation_id(spec.name, symbol),
                    rule_id=KERNEL_RULE,
                    invariant_id="KRN-EQUIVALENCE",
                    statement=(
                        f"{symbol}: the emitted kernel {spec.name} equals the rules it is generated from "
                        "(every output; every division's divisor non-zero)."
                    ),
                    run=functools.partial(prove_kernel, spec.name, symbol),
                )
            )
        known_bad = [
            ("position_margin_cross", "ceil-as-floor", "posInit rounded down"),
            ("trade", "swap-ite", "a selection's arms swapped"),
        ]
        if load_instrument(symbol).is_inverse:
            # an inverse value's -(qty // lot) * lot_value is emitted on its sign (proofs/specialise/emit.py)
            known_bad.append(("value", "signed-product-unnegated", "a negative factor's product left unnegated"))
            # an inverse price step's N // (step * tick) is emitted as (N // step) // tick (proofs/specialise/emit.py)
            known_bad.append(
                ("position_prices_cross", "nested-floor-inner-ceil", "a nested floor's first division rounded up")
            )
        for kernel, mutation, what in known_bad:
            _add(
                Obligation(
                    id=f"KNOWN-BAD/KRN/{mutation}/{kernel}/{symbol}",
                    rule_id=KERNEL_RULE,
                    invariant_id="KRN-EQUIVALENCE",
                    statement=f"Known-bad: {symbol}'s emitted {kernel} with {what} differs from the rules.",
                    run=functools.partial(prove_mutant, kernel, symbol, mutation),
                    expect="refuted",
                )
            )


_register()
