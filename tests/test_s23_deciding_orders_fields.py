"""The simulator's kept trigger grouping compares only the fields the engine changes in place (session 23, issue 14).

``engine/simulation/checks.py`` :class:`DecidingOrders` keeps a pool's grouping while the pool holds the same orders
(by identity) with the same stopPx (and pegOffsetValue of a trailing stop): the grouping also reads an order's
trigger source, LastWithinMark, side and type, which the engine sets when it makes the order and never assigns
after.  Were it ever to assign one in place, INV-TRIGGERS-DUE-FIRED's reading could go on grouping the order where
it was, and the check could no longer fail for it: this test reads the source of ``rules/`` and ``engine/`` and
fails on any assignment to those attributes but the ``Order`` constructor's (and one of another class's own).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# what the grouping reads of an order that DecidingOrders does not compare (engine/simulation/checks.py)
UNCOMPARED = frozenset({"trigger_source", "last_within_mark", "is_buy", "ord_type"})
# (file, class) whose own attributes of those names may be assigned: Order's constructor; the serving layer's view
# of an order report (not an Order)
ALLOWED = frozenset({("engine/core/orders.py", "Order"), ("engine/serve/views.py", "OrderRecord")})


def assignments(source: str) -> list[tuple[str, int, str]]:
    """(class, line, attribute) of every assignment to an attribute named in UNCOMPARED in ``source`` (the class
    it is made in, or "" outside one): ``x.a = ``, ``x.a += ``, ``x.a: T = ``, ``setattr(x, "a", ...)``."""
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, klass: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.ClassDef) else klass
            targets: list[ast.AST] = []
            if isinstance(child, ast.Assign):
                targets = [target for item in child.targets for target in ast.walk(item)]  # a, b.x = ... too
            elif isinstance(child, (ast.AugAssign, ast.AnnAssign)):
                targets = [child.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr in UNCOMPARED:
                    found.append((klass, target.lineno, target.attr))
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, (ast.Name, ast.Attribute))
                and (child.func.id if isinstance(child.func, ast.Name) else child.func.attr) in ("setattr", "__setattr__")
                and len(child.args) >= 2
                and isinstance(child.args[1], ast.Constant)
                and child.args[1].value in UNCOMPARED
            ):
                found.append((klass, child.lineno, child.args[1].value))
            visit(child, inner)

    visit(ast.parse(source), "")
    return found


def test_the_engine_assigns_no_uncompared_field_of_an_order_after_making_it() -> None:
    """No module of rules/ or engine/ assigns an order's trigger source, LastWithinMark, side or type, but in
    ALLOWED: a kept grouping stays the pool's own as long as its orders and their stopPx/pegOffsetValue do."""
    stray = []
    for package in ("rules", "engine"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            for klass, line, attr in assignments(path.read_text(encoding="utf-8")):
                if (name, klass) not in ALLOWED:
                    stray.append(f"{name}:{line} ({klass or 'module'}) assigns .{attr}")
    assert stray == [], "DecidingOrders would not see it (engine/simulation/checks.py): " + "; ".join(stray)


def test_the_scan_finds_every_form_of_assignment() -> None:
    """The scan itself: each form of assignment, in a class or out of one, is found; reads and other names are not."""
    source = (
        "order.ord_type = 'Stop'\n"
        "class Fire:\n"
        "    def run(self, order):\n"
        "        order.is_buy, x = True, 1\n"
        "        order.last_within_mark: bool = False\n"
        "        order.trigger_source += ''\n"
        "        setattr(order, 'ord_type', 'Stop')\n"
        "        object.__setattr__(order, 'is_buy', True)\n"
        "        order.stop_px = order.ord_type\n"
        "        y = order.is_buy\n"
    )
    assert assignments(source) == [
        ("", 1, "ord_type"), ("Fire", 4, "is_buy"), ("Fire", 5, "last_within_mark"), ("Fire", 6, "trigger_source"),
        ("Fire", 7, "ord_type"), ("Fire", 8, "is_buy"),
    ]
