"""The linear abstraction of a query: every nonlinear operator replaced by an uninterpreted function.

See :class:`LinearAbstraction` for what it is and why it is sound; :mod:`proofs.prover` decides each
query with a nonlinear term on its abstraction first.

The abstraction walks every node of a query (often tens of thousands).  Through z3's Python API each
visit costs a dozen wrapper objects and reference-count calls; here the walk reads the terms through
z3's C API directly (raw pointers, no wrapper, no reference count: every node read is a subterm of a
root the walk holds), and only the terms it *creates* go through the API as usual.  It creates exactly
the terms the Python-API walk did, in the same order (the same post-order, the same memo), so the
abstraction's context numbers them the same and the solver is given the very same query.
"""

from __future__ import annotations

import ctypes
import typing
from typing import Any, TypeVar

import z3
from z3 import z3core

ExprT = TypeVar("ExprT", bound=z3.ExprRef)


def _raw(name: str, restype: Any, *argtypes: Any) -> Any:
    """z3's C function ``name`` called with plain pointer types (no wrapper object, no error check).

    Only for functions that read a valid term (they set no error on one): the checked wrappers in
    ``z3.z3core`` are kept for everything that creates a term.  The address is the one the checked
    wrapper ``z3.z3core.<name>`` calls (its ``_elems`` default holds the loaded library's function).
    """
    checked = getattr(z3core, name)
    address = ctypes.cast(checked.__defaults__[-1].f, ctypes.c_void_p).value
    assert address is not None, name
    return ctypes.CFUNCTYPE(restype, *argtypes)(address)


def _pointer(value: Any) -> int:
    """The address a ctypes pointer object holds (z3 builds some with ``value`` unset, some with it set)."""
    address = value.value if value.value is not None else value._as_parameter_
    return typing.cast(int, address.value if isinstance(address, ctypes.c_void_p) else address)


def _holding(kind: Any, pointer: int) -> Any:
    """A ``z3.Ast``, ``z3.FuncDecl`` or ``z3.Sort`` holding ``pointer`` (both ways ctypes and z3 read one)."""
    holder = kind(pointer)
    holder.value = pointer
    return holder


_P = ctypes.c_void_p
_get_ast_id = _raw("Z3_get_ast_id", ctypes.c_uint, _P, _P)
_get_ast_kind = _raw("Z3_get_ast_kind", ctypes.c_int, _P, _P)
_get_app_num_args = _raw("Z3_get_app_num_args", ctypes.c_uint, _P, _P)
_get_app_arg = _raw("Z3_get_app_arg", _P, _P, _P, ctypes.c_uint)
_get_app_decl = _raw("Z3_get_app_decl", _P, _P, _P)
_get_decl_kind = _raw("Z3_get_decl_kind", ctypes.c_int, _P, _P)
_is_numeral_ast = _raw("Z3_is_numeral_ast", ctypes.c_bool, _P, _P)
_get_sort = _raw("Z3_get_sort", _P, _P, _P)
_get_sort_kind = _raw("Z3_get_sort_kind", ctypes.c_int, _P, _P)

_APP_KINDS = (z3.Z3_APP_AST, z3.Z3_NUMERAL_AST)  # z3.is_app
_ARITH_SORTS = (z3.Z3_INT_SORT, z3.Z3_REAL_SORT)
_NONLINEAR_DIVISIONS = (z3.Z3_OP_IDIV, z3.Z3_OP_MOD, z3.Z3_OP_REM, z3.Z3_OP_DIV)


def is_nonlinear(term: z3.ExprRef) -> bool:
    """A product of two or more symbolic factors, or a division or remainder by a symbolic divisor."""
    if not z3.is_app(term):
        return False
    kind = term.decl().kind()
    if kind == z3.Z3_OP_MUL:
        return sum(1 for child in term.children() if not z3.is_int_value(child)) >= 2
    if kind in _NONLINEAR_DIVISIONS:
        return not z3.is_int_value(term.arg(1))
    return False


def _is_int_value(context: int, node: int) -> bool:
    """``z3.is_int_value`` of a raw node: an arithmetic term of sort Int that is a numeral."""
    sort_kind = _get_sort_kind(context, _get_sort(context, node))
    return bool(sort_kind in _ARITH_SORTS and sort_kind == z3.Z3_INT_SORT and _is_numeral_ast(context, node))


def _is_nonlinear_node(context: int, node: int, kind: int) -> bool:
    """:func:`is_nonlinear` of a raw application node whose declaration kind is ``kind``."""
    if kind == z3.Z3_OP_MUL:
        symbolic = 0
        for index in range(_get_app_num_args(context, node)):
            if not _is_int_value(context, _get_app_arg(context, node, index)):
                symbolic += 1
        return symbolic >= 2
    if kind in _NONLINEAR_DIVISIONS:
        return not _is_int_value(context, _get_app_arg(context, node, 1))
    return False


def has_nonlinear(terms: typing.Iterable[z3.ExprRef], seen: dict[int, tuple[z3.ExprRef, bool]]) -> bool:
    """Whether any of ``terms`` has a nonlinear subterm (:func:`is_nonlinear`).

    ``seen`` (term id -> (the term, the answer), kept by the caller between calls on terms of one
    context; the term is kept alive so that its id is never reused) saves walking shared subterms again.
    """
    found = False
    for term in terms:
        key = term.get_id()
        if key not in seen:
            seen[key] = (term, _walk_finds_nonlinear(term))
        found = found or seen[key][1]
    return found


def _walk_finds_nonlinear(term: z3.ExprRef) -> bool:
    context = _pointer(term.ctx.ref())
    visited: set[int] = set()
    stack: list[int] = [_pointer(term.as_ast())]
    while stack:
        node = stack.pop()
        key = _get_ast_id(context, node)
        if key in visited or _get_ast_kind(context, node) not in _APP_KINDS:
            continue
        visited.add(key)
        count = _get_app_num_args(context, node)
        if count and _is_nonlinear_node(context, node, _get_decl_kind(context, _get_app_decl(context, node))):
            return True
        stack.extend(_get_app_arg(context, node, index) for index in range(count))
    return False


class LinearAbstraction:
    """Terms with every nonlinear operator replaced by an uninterpreted function of its arguments.

    ``a * b`` (two symbolic factors) becomes ``nonlinear!*!2(a', b')``, ``a div b``
    (symbolic divisor) ``nonlinear!div!2(a', b')``, and so on, where ``a'``,
    ``b'`` are the arguments' own abstractions: linear integer arithmetic with
    uninterpreted functions, which Z3 decides fast.  Sound for refutation: a
    model of the original formula gives a model of its abstraction (each
    function interpreted as the operator it replaces: Z3's ``div`` and ``mod``
    by zero are functions of their arguments too), so an unsatisfiable
    abstraction means an unsatisfiable original.  Equal arguments give equal
    values (congruence); nothing else about the operator is known.  The names
    contain ``!``, which no symbol of a proof has.
    """

    def __init__(self, context: z3.Context) -> None:
        self.context = context
        self._raw_context = _pointer(context.ref())
        # term id -> (raw node, its abstraction: a raw node); every node read is kept alive by the roots in
        # self._roots, every node created by its wrapper in self._created
        self._memo: dict[int, tuple[int, int]] = {}
        self._roots: list[z3.ExprRef] = []
        self._created: list[z3.ExprRef] = []
        self._functions: dict[str, z3.FuncDeclRef] = {}
        self._names: dict[int, str] = {}  # declaration kind -> its name ("*", "div", ...)
        self.replaced = 0  # distinct nonlinear terms replaced so far

    def of(self, formula: ExprT) -> ExprT:
        """The abstraction of ``formula`` (built in this abstraction's context)."""
        assert _pointer(formula.ctx.ref()) == self._raw_context, "a term of another context"
        self._roots.append(formula)
        context = self._raw_context
        memo = self._memo
        # iterative post-order: rule terms nest deeper than Python's recursion limit allows (the same
        # visiting order as a walk through the Python API: the same terms created in the same order)
        stack: list[tuple[int, bool]] = [(_pointer(formula.as_ast()), False)]
        while stack:
            term, expanded = stack.pop()
            key = _get_ast_id(context, term)
            if key in memo:
                continue
            count = _get_app_num_args(context, term) if _get_ast_kind(context, term) in _APP_KINDS else 0
            if count == 0:
                memo[key] = (term, term)
            elif not expanded:
                stack.append((term, True))
                for index in range(count):
                    child = _get_app_arg(context, term, index)
                    if _get_ast_id(context, child) not in memo:
                        stack.append((child, False))
            else:
                children = [_get_app_arg(context, term, index) for index in range(count)]
                rebuilt = [memo[_get_ast_id(context, child)][1] for child in children]
                declaration = _get_app_decl(context, term)
                kind = _get_decl_kind(context, declaration)
                if _is_nonlinear_node(context, term, kind):
                    self.replaced += 1
                    memo[key] = (term, self._uninterpreted(term, declaration, kind, rebuilt))
                elif rebuilt != children:
                    memo[key] = (term, self._application(declaration, rebuilt))
                else:
                    memo[key] = (term, term)
        result = memo[formula.get_id()][1]
        wrapped = z3.z3._to_expr_ref(_holding(z3.Ast, result), self.context)
        return typing.cast(ExprT, wrapped)

    def _application(self, declaration: int, arguments: list[int]) -> int:
        """``declaration`` applied to ``arguments`` (a node kept alive by its wrapper in ``_created``)."""
        array = (z3.Ast * len(arguments))(*arguments)
        node = z3core.Z3_mk_app(self.context.ref(), _holding(z3.FuncDecl, declaration), len(arguments), array)
        self._created.append(z3.ExprRef(node, self.context))
        return _pointer(node)

    def _uninterpreted(self, term: int, declaration: int, kind: int, arguments: list[int]) -> int:
        """``term``'s nonlinear operator as an uninterpreted function of its (abstracted) arguments."""
        if kind not in self._names:
            self._names[kind] = z3.FuncDeclRef(_holding(z3.FuncDecl, declaration), self.context).name()
        name = f"nonlinear!{self._names[kind]}!{len(arguments)}"
        context = self._raw_context
        if name not in self._functions:
            sorts = [z3.SortRef(_holding(z3.Sort, _get_sort(context, argument)), self.context) for argument in arguments]
            result = z3.SortRef(_holding(z3.Sort, _get_sort(context, term)), self.context)
            self._functions[name] = z3.Function(name, *sorts, result)
        function = self._functions[name]
        domain = [_pointer(function.domain(index).as_ast()) for index in range(function.arity())]
        if domain != [_get_sort(context, argument) for argument in arguments]:
            raise TypeError(f"{name}: arguments of another sort than its first use")  # never: one sort per operator
        return self._application(_pointer(function.as_ast()), arguments)


def linear_abstraction(formula: ExprT) -> ExprT:
    """``formula`` with every nonlinear subterm replaced by an uninterpreted function (:class:`LinearAbstraction`)."""
    return LinearAbstraction(formula.ctx).of(formula)
