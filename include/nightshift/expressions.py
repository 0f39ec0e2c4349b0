"""Derived-feature expressions: what a spec may compute from its columns.

A derived feature is evaluated by pandas' `DataFrame.eval`, which can reach Python (`@pd.io.common.os`,
`col.__class__`, `col.to_csv(path)`). A spec is data, so an expression may use only columns, constants,
operators, pandas.eval's math functions and named members of the `.dt` / `.str` accessors. Members that
take a regex, repeat or pad strings, and large powers and constants are left out too: they let one line
of a spec pin a worker's CPU or memory inside C code, where no task timeout reaches.
"""

from __future__ import annotations

import ast

MATH_FUNCTIONS = {"sin", "cos", "tan", "exp", "log", "expm1", "log1p", "sqrt", "sinh", "cosh", "tanh", "arcsin",
                  "arccos", "arctan", "arccosh", "arcsinh", "arctanh", "abs", "log10", "floor", "ceil", "arctan2"}
ACCESSORS = {
    "dt": {"year", "month", "day", "hour", "minute", "second", "dayofweek", "day_of_week", "dayofyear",
           "day_of_year", "quarter", "is_month_start", "is_month_end", "date", "strftime", "floor", "ceil",
           "round", "normalize", "days_in_month"},
    "str": {"lower", "upper", "len", "strip", "lstrip", "rstrip", "slice", "startswith", "endswith", "title",
            "isdigit", "isalpha", "zfill"},
}
LARGEST_CONSTANT = 10**9
LARGEST_EXPONENT = 16
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
            members = "; ".join(f".{name}: {', '.join(sorted(allowed))}" for name, allowed in ACCESSORS.items())
            raise ValueError(f"{expression!r}: {ast.unparse(node)!r} is not allowed; use columns, numbers up to "
                             f"{LARGEST_CONSTANT:,}, operators (powers up to {LARGEST_EXPONENT}), the functions "
                             f"{sorted(MATH_FUNCTIONS)} and the accessors {members}")
    return expression


def _allowed(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):  # col.dt, col.dt.year, col.str.lower
        return node.attr in ACCESSORS or (isinstance(node.value, ast.Attribute)
                                          and node.attr in ACCESSORS.get(node.value.attr, ()))
    if isinstance(node, ast.Call):  # log(col), col.str.lower()
        return ((isinstance(node.func, ast.Name) and node.func.id in MATH_FUNCTIONS)
                or (isinstance(node.func, ast.Attribute) and _allowed(node.func) and node.func.attr not in ACCESSORS))
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return abs(node.value) <= LARGEST_CONSTANT
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return isinstance(node.right, ast.Constant) and abs(node.right.value) <= LARGEST_EXPONENT
    return isinstance(node, EXPRESSION_NODES)
