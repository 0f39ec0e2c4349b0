"""Validation errors said as scikit-learn says them: the key, what is allowed, and what was given.

`explain` turns a pydantic ValidationError (of a spec, or of an expectation suite's history checks) into
one line per problem, e.g. `windows.train_days: must be >= 1, got -3`.
"""

from __future__ import annotations

import re
import reprlib
from types import UnionType
from typing import Annotated, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

# Pydantic's bound errors, said as `must be >= 1`.
BOUNDS = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
# A given value in an error, shortened: a long string, a big list or a whole mapping would bury the message.
GIVEN = reprlib.Repr()
GIVEN.maxstring, GIVEN.maxother, GIVEN.maxlist, GIVEN.maxdict, GIVEN.maxlevel = 80, 80, 6, 4, 2


def explain(err: ValidationError, model: type[BaseModel] | None = None) -> str:
    """One line per problem: the key, what is allowed and what was given (shortened), as in
    `windows.train_days: must be >= 1, got -3`. `model`, the class that was validated, lets an unknown
    key's line list the keys allowed there."""
    return "\n".join(f"  {_problem(problem, model)}" for problem in err.errors())


def _problem(problem: dict, model: type[BaseModel] | None) -> str:
    loc, kind, given, ctx = problem["loc"], problem["type"], problem["input"], problem.get("ctx", {})
    key = ".".join(str(part) for part in loc)
    if kind == "value_error" and not loc:
        return str(ctx["error"])  # a check across keys: its message names the keys and the values
    if kind == "missing":
        keys = [str(name) for name in given] if isinstance(given, dict) else []
        shown = ", ".join(keys[:8]) + (f", ... ({len(keys)} keys)" if len(keys) > 8 else "")
        return f"{key}: required key missing (given keys: {shown or 'none'})"
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1]) if model else None
        allowed = f"allowed here: {', '.join(parent.model_fields)}" if parent else "not allowed here"
        message = f"unknown key ({allowed})"
    elif kind in BOUNDS:
        bound = next(iter(ctx.values()))
        message = f"must be {BOUNDS[kind]} {f'{bound:g}' if isinstance(bound, float) else bound}"
    else:  # pydantic's own words, minus a trailing "got ..." of its own (the value follows)
        message = re.sub(r"^Input should be ", "must be ", re.sub(r", got .*$", "", problem["msg"]))
    return f"{key or '(top level)'}: {message}, got {GIVEN.repr(given)}"


def _model_at(node: object, path: tuple) -> type[BaseModel] | None:
    """The model class whose keys sit at `path` under `node` (a model class): a field leads into its
    annotation, a list index or dict key into the item type, a union member's tag or name into it."""
    parts = list(path)
    while True:
        origin, args = get_origin(node), get_args(node)
        members = [arg for arg in args if arg is not type(None)]
        if origin is Annotated or (origin in (Union, UnionType) and len(members) == 1):
            node = members[0]
        elif not parts:
            return node if _is_model(node) else None
        elif origin in (Union, UnionType):
            tag = parts.pop(0)
            node = next((member for member in members if tag == getattr(member, "__name__", None) or any(
                tag in get_args(field.annotation) for field in getattr(member, "model_fields", {}).values()
                if get_origin(field.annotation) is Literal)), None)
        elif _is_model(node):
            field = node.model_fields.get(parts.pop(0))
            node = field and field.annotation
        elif origin in (list, dict):
            parts.pop(0)
            node = args[-1]
        else:
            return None


def _is_model(node: object) -> bool:
    return isinstance(node, type) and issubclass(node, BaseModel)
