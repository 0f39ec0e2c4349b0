"""The flights GX suite against the same checks in vectorized pandas: time and peak memory, side by side.

The expectations come from the suite object at run time; each type maps to a pandas function that returns
what GX returns for it (success, unexpected count or observed value, unexpected %, the first 5 unexpected
values). Both sides must agree on every expectation of every frame before a figure is reported. GX runs as
production does: one `SuiteRunner.run` per frame (SUMMARY, 5 samples), nothing recomputed.

    python bench/validation.py [--write] [--expectations DIR]

Linux only: peak memory is read from /proc (bench/README.md has the method).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as dt
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results.md")
SAMPLE = 5   # partial_unexpected_count, as SuiteRunner asks of GX
REPEATS = 3  # each time is the median of 3 runs, GX and pandas interleaved
DAYS = pd.date_range("2013-01-25", periods=30)  # holds the 8-9 Feb blizzard: failing days are compared too
WORKLOADS = ("300k rows", "1M rows (3 copies)", f"{len(DAYS)} day partitions, one at a time")

Spec = dict[str, Any]  # one expectation as plain data, {"type", "kwargs", "meta"}: it crosses processes
Outcome = tuple[bool, Any, float | None, list[Any]]  # success, unexpected count or observed value, %, sample


def _map(values: pd.Series | pd.DataFrame, ok: Any, considered: int, mostly: float | None) -> Outcome:
    """A row-wise check as GX reports it: counted over `considered` rows, the sample in row order."""
    bad = ~np.asarray(ok, dtype=bool)
    count = int(bad.sum())
    success = considered == 0 or (considered - count) / considered >= (1.0 if mostly is None else mostly)
    sample = values.iloc[np.flatnonzero(bad)[:SAMPLE]]
    rows = sample.to_dict("records") if isinstance(sample, pd.DataFrame) else sample.tolist()
    return success, count, count / considered * 100 if considered else None, rows


def _between(x: Any, min_value: Any = None, max_value: Any = None, strict_min: bool | None = False,
             strict_max: bool | None = False, **_: Any) -> Any:
    above = True if min_value is None else (x > min_value if strict_min else x >= min_value)
    return above & (True if max_value is None else (x < max_value if strict_max else x <= max_value))


def _column_map(condition: Callable[..., Any]) -> Callable[..., Outcome]:
    """A GX column map expectation: `condition` on the non-null values; `mostly` of them must hold."""
    def check(frame: pd.DataFrame, column: str, mostly: float = 1.0, **kwargs: Any) -> Outcome:
        values = frame[column].dropna()
        return _map(values, condition(values, **kwargs), len(values), mostly)
    return check


def not_null(frame: pd.DataFrame, column: str, mostly: float = 1.0, **_: Any) -> Outcome:
    return _map(frame[column], frame[column].notna(), len(frame), mostly)  # GX counts it over all rows


def compound_unique(frame: pd.DataFrame, column_list: list[str], ignore_row_if: str = "all_values_are_missing",
                    mostly: float = 1.0, **_: Any) -> Outcome:
    rows, missing = frame[column_list], frame[column_list].isna()
    kept = {"all_values_are_missing": ~missing.all(axis=1), "any_value_is_missing": ~missing.any(axis=1),
            "never": np.ones(len(rows), dtype=bool)}[ignore_row_if]
    rows = rows[kept]
    return _map(rows, ~rows.duplicated(keep=False), len(rows), mostly)


def _types_named(name: str, instances: bool = False) -> list[Any]:
    """GX's reading of a type name: numpy's, else pandas' dtype class (and instance), plus Python's type."""
    try:
        found: list[Any] = [np.dtype(name).type, *([np.dtype(name)] if instances else [])]
    except TypeError:
        cls = getattr(pd, name, None)
        found = [t for t in (cls, getattr(pd.core.dtypes.dtypes, name, None)) if isinstance(t, type)]
        if instances and isinstance(cls, type) and issubclass(cls, pd.api.extensions.ExtensionDtype):
            with contextlib.suppress(TypeError):
                found.append(cls())
    native = {"none": type(None), "bool": bool, "int": int, "long": int, "float": float, "bytes": bytes,
              "complex": complex, "str": str, "string_types": str, "list": list, "dict": dict}
    return found + ([native[name.lower()]] if name.lower() in native else [])


def _typed(frame: pd.DataFrame, column: str, names: list[str] | None, by_value: bool, mostly: float) -> Outcome:
    """GX's two type checks: an object column value by value, any other by its dtype (type list: dtype ==)."""
    dtype = frame[column].dtype
    if names is not None and by_value and dtype.type is np.object_:
        values, wanted = frame[column].dropna(), tuple(t for n in names for t in _types_named(n))
        return _map(values, values.map(lambda v: isinstance(v, wanted)), len(values), mostly)
    single = names is None or len(names) == 1 and not by_value
    return (names is None or (dtype.type in _types_named(names[0]) if single
                              else dtype in [t for n in names for t in _types_named(n, instances=True)]),
            dtype.type.__name__, None, [])


def of_type(frame: pd.DataFrame, column: str, type_: str | None = None, mostly: float = 1.0, **_: Any) -> Outcome:
    by_value = type_ not in ("object", "object_", "O")
    return _typed(frame, column, None if type_ is None else [type_], False, mostly) if not by_value else \
        _typed(frame, column, None if type_ is None else [type_], frame[column].dtype.type is np.object_, mostly)


def in_type_list(frame: pd.DataFrame, column: str, type_list: list[str] | None = None, mostly: float = 1.0,
                 **_: Any) -> Outcome:
    return _typed(frame, column, type_list, True, mostly)


def columns_match_set(frame: pd.DataFrame, column_set: list[str] | None = None, exact_match: bool | None = True,
                      **_: Any) -> Outcome:
    actual, expected = set(frame.columns), set(column_set or [])
    return not expected - actual and (not exact_match or not actual - expected), sorted(map(str, actual)), None, []


def row_count_between(frame: pd.DataFrame, **bounds: Any) -> Outcome:
    return bool(_between(len(frame), **bounds)), len(frame), None, []


def mean_between(frame: pd.DataFrame, column: str, **bounds: Any) -> Outcome:
    mean = frame[column].mean()
    return (False, None, None, []) if pd.isna(mean) else (bool(_between(mean, **bounds)), mean, None, [])


CHECKS: dict[str, Callable[..., Outcome]] = {
    "expect_column_values_to_not_be_null": not_null,
    "expect_column_values_to_be_in_set": _column_map(lambda v, value_set, **_: v.isin(value_set)),
    "expect_column_values_to_match_regex": _column_map(lambda v, regex, **_: v.astype(str).str.contains(regex)),
    "expect_column_values_to_be_between": _column_map(_between),
    "expect_compound_columns_to_be_unique": compound_unique,
    "expect_column_values_to_be_of_type": of_type,
    "expect_column_values_to_be_in_type_list": in_type_list,
    "expect_table_columns_to_match_set": columns_match_set,
    "expect_table_row_count_to_be_between": row_count_between,
    "expect_column_mean_to_be_between": mean_between,
}
