"""The engine decides nothing a rule decides (DESIGN §7): no inline copy of a rule outside ``rules/``.

Issue 13 found three: the LIQ-003 trigger (``equity - maintenance < 0``) written out in the engine's
waterfall, the INS-003 fund-draw cap (``min(max(fund, 0), deficit)``) and the MRG-033 backing
(``equity - own_term - (maintenance - own_maint)``).  This test reads the engine's source (AST) and fails on
a new copy of any of them:

* a **comparison** one of whose sides mentions both an equity and a maintenance/requirement name
  (``equity - maintenance < 0``, ``excess >= 0`` computed inline): the trigger is LIQ-003's
  ``is_liquidatable`` (or LIQ-041/043 for fills);
* ``min(max(<fund balance>, 0), ...)``, the fund paying as far as it reaches: INS-003's ``compute_draw``;
* an **assignment** to a name containing ``backing`` from arithmetic, or a ``*backing*`` function returning
  arithmetic: the backing is MRG-033/034's.

The scan is syntactic, so it is deliberately narrow: it names the patterns a reviewer found, and the
self-test below shows it catches each one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"

EQUITY_WORDS = ("equity",)
REQUIREMENT_WORDS = ("maint", "requirement")
FUND_WORDS = ("insurance", "fund")


def _names(node: ast.AST) -> list[str]:
    """Every identifier and attribute name in an expression, lower case."""
    found = []
    for item in ast.walk(node):
        if isinstance(item, ast.Name):
            found.append(item.id.lower())
        elif isinstance(item, ast.Attribute):
            found.append(item.attr.lower())
    return found


def _mentions(node: ast.AST, words: tuple[str, ...]) -> bool:
    return any(word in name for name in _names(node) for word in words)


def _is_call_to(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _is_fund_floor(node: ast.AST) -> bool:
    """``max(<the fund's balance>, 0)``: the "as far as it reaches" half of a draw cap."""
    if not (_is_call_to(node, "max") and isinstance(node, ast.Call)):
        return False
    zero = any(isinstance(argument, ast.Constant) and argument.value == 0 for argument in node.args)
    return zero and any(_mentions(argument, FUND_WORDS) for argument in node.args)


def _is_arithmetic(node: ast.AST) -> bool:
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub)


def find_rule_copies(source: str, filename: str) -> list[str]:
    """The inline rule copies in one module's source, as ``file:line: what``."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                if _is_arithmetic(side) and _mentions(side, EQUITY_WORDS) and _mentions(side, REQUIREMENT_WORDS):
                    problems.append(f"{filename}:{node.lineno}: equity compared with maintenance inline (LIQ-003)")
        elif _is_call_to(node, "min") and any(_is_fund_floor(argument) for argument in node.args):
            problems.append(f"{filename}:{node.lineno}: a cap on the insurance fund inline (INS-003 compute_draw)")
        elif isinstance(node, ast.FunctionDef) and "backing" in node.name.lower():
            for item in ast.walk(node):
                if isinstance(item, ast.Return) and item.value is not None and _is_arithmetic(item.value):
                    problems.append(f"{filename}:{item.lineno}: a backing computed inline (MRG-033/034)")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            if value is None or not _is_arithmetic(value):
                continue
            for target in targets:
                if any("backing" in name for name in _names(target)):
                    problems.append(f"{filename}:{node.lineno}: a backing computed inline (MRG-033/034)")
    return problems


def test_the_engine_has_no_inline_copy_of_a_rule() -> None:
    problems = []
    for path in sorted(ENGINE.rglob("*.py")):
        problems += find_rule_copies(path.read_text(), str(path.relative_to(ROOT)))
    assert problems == []


def test_the_scan_catches_each_copy_issue_13_found() -> None:
    copies = {
        "trigger": "def f(equity, maintenance):\n    return equity - maintenance < 0\n",
        "draw cap": "def f(self, deficit):\n    return min(max(self.insurance_funds.get('XBt', 0), 0), deficit)\n",
        "backing": "def f(equity, own_term, maintenance, own_maint):\n"
        "    backing = equity - own_term - (maintenance - own_maint)\n    return backing\n",
        "backing helper": "def position_backing(equity, own_term, maintenance, own_maint):\n"
        "    return equity - own_term - (maintenance - own_maint)\n",
    }
    found = {name: find_rule_copies(source, name) for name, source in copies.items()}
    assert all(len(problems) == 1 for problems in found.values()), found


def test_rule_calls_pass_the_scan() -> None:
    source = (
        "from perpspec.rules.liquidation import is_liquidatable\n"
        "def f(equity, maintenance, fund, deficit):\n"
        "    backing = compute_position_backing(1, 2, 3, 4, 5)\n"
        "    return is_liquidatable(equity, maintenance), compute_draw(fund, deficit), backing\n"
    )
    assert find_rule_copies(source, "ok") == []
