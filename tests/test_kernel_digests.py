"""The digests that bind a generated kernel to its rules (rules/digest.py): the import closure is exactly right.

A kernel is disabled as soon as any rule module it depends on changes; that holds only if
``rule_closure`` follows every ``from perpspec.rules.X import`` transitively and nothing else.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from perpspec.rules.digest import KERNEL_RULE_MODULES, RULES_DIR, compute_rules_digest, rule_closure

IMPORT = re.compile(r"^from perpspec\.rules\.(\w+) import", re.MULTILINE)


def _imports(name: str) -> set[str]:
    return set(IMPORT.findall((RULES_DIR / f"{name}.py").read_text()))


def test_the_kernel_closure_is_closed_under_rule_imports_and_minimal() -> None:
    closure = rule_closure()
    assert closure == tuple(sorted(closure))
    assert set(KERNEL_RULE_MODULES) <= set(closure)
    for name in closure:
        assert _imports(name) <= set(closure), name  # every rule module a member imports is in
    for name in set(closure) - set(KERNEL_RULE_MODULES):
        assert any(name in _imports(other) for other in closure), name  # and nothing else is


def test_a_leaf_module_is_its_own_closure_and_an_importer_brings_its_imports() -> None:
    assert rule_closure(("num",)) == ("num",)
    assert set(rule_closure(("contract",))) == {"contract", *_imports("contract")} | {
        name for imported in _imports("contract") for name in rule_closure((imported,))
    }
    assert rule_closure(("no_such_module",)) == ()


def test_the_rules_digest_changes_with_one_byte_of_one_module_in_the_closure(tmp_path: Path) -> None:
    copy = tmp_path / "rules"
    shutil.copytree(RULES_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert compute_rules_digest(rules_dir=copy) == compute_rules_digest()
    path = copy / "num.py"
    path.write_text(path.read_text() + "\n")
    assert compute_rules_digest(rules_dir=copy) != compute_rules_digest()
