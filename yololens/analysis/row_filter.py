"""A row filter that can never run code: ``--keep "class_name == 'car' and score < 0.3"``.

pandas' ``query``/``eval`` resolve ``@name`` from the caller's globals and allow attribute access and calls, so
a filter string taken from a user (or from a shared notebook) could run anything. Here the string is parsed
with :mod:`ast` and only this small grammar is evaluated, column by column, over the objects table:

* column names (``score``; odd names in backticks: ```my col` == 1``), and literals: strings, numbers,
  ``True``/``False``, lists/tuples of those (for ``in``), a leading ``-`` on a number;
* comparisons ``== != < <= > >=`` (chains allowed), ``in`` / ``not in`` a literal list;
* ``and`` / ``or`` / ``not`` (and pandas' ``&`` / ``|`` / ``~``), parentheses;
* ``isna(col)`` / ``notna(col)`` (also ``col.isna()`` / ``col.notna()``; ``isnull``/``notnull`` too).

Anything else (calls, attributes, subscripts, ``@``, lambdas, arithmetic, names that are not columns) is
refused with one :class:`~yololens.errors.InputError` line before any row is looked at.
"""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd

from yololens.errors import InputError

_COMPARE = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
}
_NULL_TESTS = {"isna": True, "isnull": True, "notna": False, "notnull": False}
_MAX_CHARS = 2000  # a filter is typed by a person; a longer one is almost surely not meant as one
_BACKTICK = "__yololens_col_"


def _unquote_backticks(expr: str) -> tuple[str, dict[str, str]]:
    """Replace ```odd name``` (outside string literals) by placeholder identifiers; returns the map back."""
    out, names, i, quote = [], {}, 0, None
    while i < len(expr):
        ch = expr[i]
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < len(expr):
                out.append(expr[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "`":
            end = expr.find("`", i + 1)
            if end < 0:
                raise InputError("an opening backtick has no closing one")
            placeholder = f"{_BACKTICK}{len(names)}"
            names[placeholder] = expr[i + 1 : end]
            out.append(f" {placeholder} ")
            i = end
        else:
            out.append(ch)
        i += 1
    return "".join(out), names


class RowFilter:
    """A parsed, checked filter; call it on a table to get an ``(N,)`` bool array.

    Args:
        expr: the filter text (grammar in the module docstring).
        columns: the columns it may name (checked here, so a typo fails before any work).
    """

    def __init__(self, expr: str, columns) -> None:
        self.expr = expr
        self.columns = [str(c) for c in columns]
        if not isinstance(expr, str) or not expr.strip():
            raise InputError("the filter is empty")
        if len(expr) > _MAX_CHARS:
            raise InputError(f"the filter is longer than {_MAX_CHARS} characters")
        text, self._backticked = _unquote_backticks(expr)
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise InputError(f"not a filter: {exc.msg}") from None
        except (ValueError, MemoryError, RecursionError) as exc:  # NUL bytes, absurd nesting
            raise InputError(f"not a filter: {' '.join(str(exc).split())[:120] or type(exc).__name__}") from None
        self._tree = tree.body
        try:
            self._check(self._tree)
        except RecursionError:
            raise InputError("not a filter: nested too deeply") from None

    def _show(self, node: ast.AST) -> str:
        text = ast.unparse(node)
        for placeholder, name in self._backticked.items():
            text = text.replace(placeholder, f"`{name}`")
        return repr(text)

    # -- validation: walk once, refuse anything outside the grammar ------------------------------------
    def _column(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            name = self._backticked.get(node.id, node.id)
            if name not in self.columns:
                raise InputError(f"{name!r} is not a column")
            return name
        return None

    def _literal(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return isinstance(node.value, (str, int, float, bool)) and not isinstance(node.value, bytes)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return all(self._literal(e) and not isinstance(e, (ast.List, ast.Tuple, ast.Set)) for e in node.elts)
        return False

    def _null_test(self, node: ast.AST) -> tuple[str, bool] | None:
        """``isna(col)`` / ``col.isna()`` -> (column, True for isna); None if ``node`` is not one."""
        if not isinstance(node, ast.Call) or node.keywords:
            return None
        func = node.func
        if isinstance(func, ast.Name) and func.id in _NULL_TESTS and len(node.args) == 1:
            col = self._column(node.args[0])
            return (col, _NULL_TESTS[func.id]) if col else None
        if isinstance(func, ast.Attribute) and func.attr in _NULL_TESTS and not node.args:
            col = self._column(func.value)
            return (col, _NULL_TESTS[func.attr]) if col else None
        return None

    def _check(self, node: ast.AST) -> None:
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                self._check(v)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.Invert)):
            self._check(node.operand)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            self._check(node.left)
            self._check(node.right)
        elif isinstance(node, ast.Compare):
            for op, left, right in zip(node.ops, [node.left, *node.comparators], node.comparators):
                if isinstance(op, (ast.In, ast.NotIn)):
                    if self._column(left) is None or not isinstance(right, (ast.List, ast.Tuple, ast.Set)) \
                            or not self._literal(right):
                        raise InputError("'in' takes a column on the left and a list of values on the right")
                elif type(op) in _COMPARE:
                    for side in (left, right):
                        if self._column(side) is None and not self._literal(side):
                            raise InputError(f"only columns and literal values can be compared, not "
                                             f"{self._show(side)}")
                else:
                    raise InputError(f"the comparison {type(op).__name__} is not allowed (use == != < <= > >= in)")
        elif self._null_test(node) is not None:
            pass
        elif isinstance(node, ast.Name) and self._column(node):
            pass  # a boolean column on its own
        else:
            raise InputError(f"{self._show(node)} is not allowed in a filter (columns, literals, comparisons, "
                             "and/or/not, in, isna/notna only)")

    # -- evaluation ----------------------------------------------------------------------------------
    def __call__(self, table: pd.DataFrame) -> np.ndarray:
        """``(N,)`` bool: rows of ``table`` for which the filter holds (a null answer counts as no)."""
        try:
            hit = self._eval(self._tree, table)
        except (TypeError, ValueError) as exc:
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise InputError(f"cannot compare these values: {reason}") from None
        if np.ndim(hit) == 0:
            hit = pd.Series(bool(hit), index=table.index)
        hit = pd.Series(hit, index=table.index) if not isinstance(hit, pd.Series) else hit
        if not (pd.api.types.is_bool_dtype(hit.dtype) or hit.dropna().map(type).eq(bool).all()):
            raise InputError("not a yes/no condition on each row (e.g. \"class_name == 'car'\")")
        return hit.fillna(False).to_numpy(dtype=bool)

    def _value(self, node: ast.AST, table: pd.DataFrame):
        col = self._column(node)
        if col is not None:
            return table[col]
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return [self._value(e, table) for e in node.elts]
        if isinstance(node, ast.UnaryOp):  # -number (checked)
            return -node.operand.value
        return node.value  # a checked literal constant

    def _eval(self, node: ast.AST, table: pd.DataFrame):
        if isinstance(node, (ast.BoolOp, ast.BinOp)):
            parts = [node.left, node.right] if isinstance(node, ast.BinOp) else node.values
            both = isinstance(node.op, (ast.And, ast.BitAnd))
            vals = [_as_bool(self._eval(p, table), table) for p in parts]
            return np.logical_and.reduce(vals) if both else np.logical_or.reduce(vals)
        if isinstance(node, ast.UnaryOp):
            return ~_as_bool(self._eval(node.operand, table), table)
        if isinstance(node, ast.Compare):
            result = None
            for op, left, right in zip(node.ops, [node.left, *node.comparators], node.comparators):
                a = self._value(left, table)
                if isinstance(op, (ast.In, ast.NotIn)):
                    part = a.isin(self._value(right, table)).to_numpy()
                    part = ~part if isinstance(op, ast.NotIn) else part
                else:
                    b = self._value(right, table)
                    part = _COMPARE[type(op)](a, b)
                    part = part.fillna(False).to_numpy(dtype=bool) if isinstance(part, pd.Series) else part
                part = _as_bool(part, table)
                result = part if result is None else result & part
            return result
        null = self._null_test(node)
        if null is not None:
            col, isna = null
            miss = table[col].isna().to_numpy()
            return miss if isna else ~miss
        return table[self._column(node)]  # a boolean column


def _as_bool(value, table: pd.DataFrame) -> np.ndarray:
    if isinstance(value, pd.Series):
        if not (pd.api.types.is_bool_dtype(value.dtype) or value.dropna().map(type).eq(bool).all()):
            raise InputError(f"column {value.name!r} is not yes/no: compare it (e.g. {value.name} == ...)")
        return value.fillna(False).to_numpy(dtype=bool)
    if np.ndim(value) == 0:
        return np.full(len(table), bool(value))
    return np.asarray(value, dtype=bool)


def rows_matching(table: pd.DataFrame, expr: str, option: str = "--keep") -> np.ndarray:
    """``(N,)`` bool: the rows of ``table`` for which the filter ``expr`` holds; a bad filter raises
    :class:`InputError` naming ``option``, the filter and the reason (and the columns to choose from)."""
    try:
        return RowFilter(expr, table.columns)(table)
    except InputError as exc:
        cols = ", ".join(map(str, table.columns))
        raise InputError(f"{option} {expr!r}: {exc} (columns: {cols})") from None
