"""A small interpreter of the emitted subset of Python, over any number type (ints or ``SymInt``).

The equivalence obligations do not import the emitted module: they parse its
source and evaluate one function here on symbolic integers, so what is proved
is the text the engine loads.  Only the subset :mod:`.emit` produces is
accepted; anything else is an :class:`EmittedSubsetError`, never evaluated:

* a module of a docstring, ``from __future__ import annotations`` and functions;
* a function of ``int``-annotated positional parameters, a docstring, single
  assignments ``name = expression`` (each name assigned once, used after it is
  assigned) and one final ``return (expression, ...)``;
* an expression is an atom (a name, an integer or boolean constant, a negated
  constant) or one of ``+ - * // %``, unary ``-``, one comparison, ``and``/``or``
  of two operands, ``not`` or ``a if c else b`` over expressions.

``a if c else b`` on a symbolic condition becomes ``SymBool.ite`` after
evaluating *both* arms (as :func:`rules.num.ite` does, so the side conditions
of every division in either arm are recorded and proved), and
``//``/``%`` on symbolic operands record their ``divisor != 0`` side condition
(:mod:`proofs.sym`), so the prover proves the emitted divisions safe.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


class EmittedSubsetError(ValueError):
    """The source is not in the emitted subset (so it is not evaluated)."""


def _fail(node: ast.AST, message: str) -> EmittedSubsetError:
    return EmittedSubsetError(f"line {getattr(node, 'lineno', '?')}: {message}")


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def parse_module(source: str) -> dict[str, ast.FunctionDef]:
    """The functions of an emitted module, checked against the subset."""
    tree = ast.parse(source)
    functions: dict[str, ast.FunctionDef] = {}
    for index, statement in enumerate(tree.body):
        if index == 0 and _is_docstring(statement):
            continue
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            if [alias.name for alias in statement.names] != ["annotations"]:
                raise _fail(statement, "only `from __future__ import annotations`")
            continue
        if not isinstance(statement, ast.FunctionDef):
            raise _fail(statement, f"{type(statement).__name__} at module level")
        _check_function(statement)
        if statement.name in functions:
            raise _fail(statement, f"function {statement.name} defined twice")
        functions[statement.name] = statement
    return functions


def _check_function(function: ast.FunctionDef) -> None:
    arguments = function.args
    if (
        arguments.posonlyargs
        or arguments.vararg
        or arguments.kwonlyargs
        or arguments.kwarg
        or arguments.defaults
        or function.decorator_list
    ):
        raise _fail(function, "only plain positional parameters, no defaults or decorators")
    for argument in arguments.args:
        if not (isinstance(argument.annotation, ast.Name) and argument.annotation.id == "int"):
            raise _fail(argument, f"parameter {argument.arg} is not annotated int")
    body = function.body[1:] if function.body and _is_docstring(function.body[0]) else function.body
    if not body or not isinstance(body[-1], ast.Return):
        raise _fail(function, "must end with one return")
    assigned = {argument.arg for argument in arguments.args}
    for statement in body[:-1]:
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            raise _fail(statement, f"{type(statement).__name__}: only `name = expression`")
        _check_expression(statement.value, assigned)
        name = statement.targets[0].id
        if name in assigned:
            raise _fail(statement, f"{name} assigned twice")
        assigned.add(name)
    returned = body[-1].value
    if not isinstance(returned, ast.Tuple):
        raise _fail(body[-1], "must return a tuple")
    for element in returned.elts:
        _check_expression(element, assigned)


def _check_atom(node: ast.expr, assigned: set[str]) -> None:
    if isinstance(node, ast.Name):
        if node.id not in assigned:
            raise _fail(node, f"{node.id} used before it is assigned")
        return
    if isinstance(node, ast.Constant) and type(node.value) in (int, bool):
        return
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) is int
    ):
        return
    raise _fail(node, f"{ast.dump(node)} is not a name or an integer constant")


def _check_expression(node: ast.expr, assigned: set[str]) -> None:
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _check_expression(node.left, assigned)
        _check_expression(node.right, assigned)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        _check_expression(node.operand, assigned)
    elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        _check_expression(node.left, assigned)
        _check_expression(node.comparators[0], assigned)
    elif isinstance(node, ast.BoolOp) and len(node.values) == 2:
        for value in node.values:
            _check_expression(value, assigned)
    elif isinstance(node, ast.IfExp):
        for part in (node.test, node.body, node.orelse):
            _check_expression(part, assigned)
    else:
        _check_atom(node, assigned)


def evaluate(
    function: ast.FunctionDef, arguments: Mapping[str, Any], bindings: dict[str, Any] | None = None
) -> tuple[Any, ...]:
    """Run a checked emitted function on ``arguments`` (ints, or symbolic integers).

    ``bindings``, when given, receives the value of every parameter and assigned name.
    """
    env: dict[str, Any] = {} if bindings is None else bindings
    env.update((argument.arg, arguments[argument.arg]) for argument in function.args.args)
    body = function.body[1:] if _is_docstring(function.body[0]) else function.body
    for statement in body[:-1]:
        assert isinstance(statement, ast.Assign)
        assert isinstance(statement.targets[0], ast.Name)
        env[statement.targets[0].id] = _value(statement.value, env)
    returned = body[-1]
    assert isinstance(returned, ast.Return)
    assert isinstance(returned.value, ast.Tuple)
    return tuple(_value(element, env) for element in returned.value.elts)


def _atom(node: ast.expr, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.Constant):
        return node.value
    assert isinstance(node, ast.UnaryOp)
    assert isinstance(node.operand, ast.Constant)
    constant = node.operand.value
    assert isinstance(constant, int)
    return -constant


def _value(node: ast.expr, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_value(node.left, env), _value(node.right, env))
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, env)
        if isinstance(node.op, ast.USub):
            return -operand
        return operand.logical_not() if hasattr(operand, "logical_not") else not operand
    if isinstance(node, ast.Compare):
        return _COMPARE[type(node.ops[0])](_value(node.left, env), _value(node.comparators[0], env))
    if isinstance(node, ast.BoolOp):
        left, right = (_value(value, env) for value in node.values)
        method = "logical_and" if isinstance(node.op, ast.And) else "logical_or"
        if hasattr(left, method):
            return getattr(left, method)(right)
        if hasattr(right, method):
            return getattr(right, method)(left)
        return (left and right) if isinstance(node.op, ast.And) else (left or right)
    if isinstance(node, ast.IfExp):
        # both arms are evaluated (their divisions' side conditions recorded), as rules.num.ite does
        test, then, other = _value(node.test, env), _value(node.body, env), _value(node.orelse, env)
        if isinstance(test, bool):
            return then if test else other
        return test.ite(then, other)
    return _atom(node, env)
