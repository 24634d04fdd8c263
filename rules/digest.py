"""Digests that tie a generated kernel to what it was generated from (concrete helpers, no rules).

A specialised kernel (``engine/kernels/``) is a copy of some rules with one
instrument's parameters folded in, proved equal to them.  Its proof record
(``specs/kernels.json``) holds three SHA-256 digests, and the engine runs a
kernel only while all three still match:

* :func:`compute_rules_digest` — the source of the rule modules the kernels
  call and, transitively, every ``rules/`` module they import;
* :func:`compute_instrument_digest` — the instrument parameters the kernels
  read (recorded while they were generated);
* :func:`compute_source_digest` — the emitted source file itself.

These functions read files to hash them and never run what they read.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import attrs

from perpspec.rules.instrument import Instrument
from perpspec.rules.num import concrete

RULES_DIR = Path(__file__).resolve().parent
# the rule modules the generated kernels call (their imports within rules/ are followed)
KERNEL_RULE_MODULES = ("contract", "liquidation", "margin", "num", "position", "risk_limit", "solvency")


@concrete
def rule_closure(modules: tuple[str, ...] = KERNEL_RULE_MODULES, rules_dir: Path = RULES_DIR) -> tuple[str, ...]:
    """The ``rules/`` module names ``modules`` import, transitively (themselves included), sorted."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        path = rules_dir.joinpath(f"{name}.py")
        if name in seen or not path.exists():
            continue
        seen.add(name)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                parts = node.module.split(".")
                if parts[:2] == ["perpspec", "rules"] and len(parts) == 3:
                    todo.append(parts[2])
    return tuple(sorted(seen))


@concrete
def compute_rules_digest(modules: tuple[str, ...] = KERNEL_RULE_MODULES, rules_dir: Path = RULES_DIR) -> str:
    """The SHA-256 digest of the source of the rule modules the kernels depend on (file name and bytes)."""
    digest = hashlib.sha256()
    for name in rule_closure(modules, rules_dir):
        digest.update(f"rules/{name}.py".encode() + b"\0" + (rules_dir.joinpath(f"{name}.py")).read_bytes() + b"\0")
    return digest.hexdigest()


@concrete
def compute_instrument_digest(inst: Instrument, fields: tuple[str, ...] | None = None) -> str:
    """The SHA-256 digest of the parameters ``fields`` of ``inst`` (default: all), by name and value.

    A kernel records the parameters its rules read while it was generated;
    the digest over just those lets a what-if or scenario that changes
    another parameter (a funding interval, an impact notional) keep the kernel,
    while any change to one it folded in disables it.
    """
    names = tuple(sorted(fields)) if fields is not None else tuple(field.name for field in attrs.fields(Instrument))
    text = "\n".join(f"{name}={getattr(inst, name)!r}" for name in names)
    return hashlib.sha256(text.encode()).hexdigest()


@concrete
def compute_source_digest(source: bytes) -> str:
    """The SHA-256 digest of an emitted source file's bytes."""
    return hashlib.sha256(source).hexdigest()
