"""Derived-feature expressions: what a spec may compute from its columns.

A derived feature is evaluated by pandas' `DataFrame.eval`, which can reach Python (`@pd.io.common.os`,
`col.__class__`, `col.to_csv(path)`). A spec is data, so an expression may use only columns, constants,
operators, pandas.eval's math functions and the `.dt` / `.str` accessors.
"""

from __future__ import annotations

import ast

MATH_FUNCTIONS = {"sin", "cos", "tan", "exp", "log", "expm1", "log1p", "sqrt", "sinh", "cosh", "tanh", "arcsin",
                  "arccos", "arctan", "arccosh", "arcsinh", "arctanh", "abs", "log10", "floor", "ceil", "arctan2"}
ACCESSORS = {"dt", "str"}
EXPRESSION_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Name, ast.Constant,
                    ast.List, ast.Tuple, ast.keyword, ast.expr_context, ast.operator, ast.unaryop, ast.boolop,
                    ast.cmpop)


def check_expression(expression: str) -> str:
    """`expression`, if a derived feature may use it; else ValueError naming the part that is not allowed."""
    if "@" in expression:  # pandas.eval's reference to a Python variable of the caller
        raise ValueError(f"{expression!r}: '@' is not allowed; refer to columns by name")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as err:
        raise ValueError(f"{expression!r} is not an expression ({err.msg})") from None
    for node in ast.walk(tree):
        if not _allowed(node):
            raise ValueError(f"{expression!r}: {ast.unparse(node)!r} is not allowed; use columns, numbers, "
                             f"operators, the .dt and .str accessors and the functions {sorted(MATH_FUNCTIONS)}")
    return expression


def _allowed(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):  # col.dt, col.dt.year, col.str.lower
        return not node.attr.startswith("_") and (node.attr in ACCESSORS or _is_accessor(node.value))
    if isinstance(node, ast.Call):  # log(col), col.str.lower()
        return ((isinstance(node.func, ast.Name) and node.func.id in MATH_FUNCTIONS)
                or (isinstance(node.func, ast.Attribute) and _is_accessor(node.func.value)))
    return isinstance(node, EXPRESSION_NODES)


def _is_accessor(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr in ACCESSORS
