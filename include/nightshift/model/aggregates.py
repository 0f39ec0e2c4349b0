"""Rolling aggregates over a dataset's own validated history, materialised per day in `features/<model>/`.

A row of day D gets, for each aggregate of the spec, the aggregation of a column over the rows of its group
in the days `[D - lag - window + 1, D - lag]`: only validated days (quarantined and missing ones are left
out and reported), never the future. What day D's rows get depends on the history alone, so it is one
table per day, one row per group key: `features/<model>/date=D/` holds it, with a manifest naming the
aggregates' definition and the checksum of every history day it read. A reader takes a day's table when
both still match (a day released or re-validated since makes it stale) and computes it otherwise, so
training, the gate, scoring and monitoring get the same values by the same code.

Materialising is incremental: a new day reads its own window's history (the group and aggregated
columns only), never the whole past.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass

import pandas as pd

from nightshift.data.lake import Coverage, Lake
from nightshift.failures import DataError
from nightshift.model.features import AGGREGATE_GROUP as GROUP, OPERATORS, make_target
from nightshift.spec import RULE, Aggregate, ModelSpec, rows_column

log = logging.getLogger(__name__)
ZONE = "features"
# Part of every table's definition: raise it when how an aggregate is computed changes, so that tables
# materialised by the old code are computed again.
ALGORITHM = 1


def history_columns(spec: ModelSpec) -> list[str]:
    """The dataset columns the aggregates read."""
    wanted = {column for a in spec.features.aggregates.values() for column in [*a.by, a.column] if column}
    return sorted(wanted)


def definition(spec: ModelSpec) -> str:
    """A hash of what the aggregates compute (with the target's label, which a target rate uses): a
    materialised table is used only by a spec of the same definition."""
    described = {"aggregates": {name: a.model_dump() for name, a in spec.features.aggregates.items()},
                 "label": spec.target.label, "algorithm": ALGORITHM}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


def history_span(spec: ModelSpec, day: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last history day any aggregate reads for rows of `day`."""
    spans = [a.history_days() for a in spec.features.aggregates.values()]
    return day - dt.timedelta(days=max(s[0] for s in spans)), day - dt.timedelta(days=min(s[1] for s in spans))


def check_columns(spec: ModelSpec, available: list[str], where: str) -> None:
    """Before any work: every aggregate's columns are columns of the dataset (a DataError naming the spec
    key otherwise; nothing is written)."""
    for name, aggregate in spec.features.aggregates.items():
        for key, column in [*(("by", c) for c in aggregate.by), ("column", aggregate.column)]:
            if column is not None and column not in available:
                raise DataError(
                    f"spec {spec.name}: features.aggregates.{name}.{key}: {column!r} is not a column of {where}; "
                    f"its columns are {sorted(available)}", kind="schema",
                    hint="Fix the aggregate in the spec: it aggregates the dataset's own validated columns.")


# computing

def aggregated_values(spec: ModelSpec, aggregate: Aggregate, history: pd.DataFrame) -> pd.Series:
    """The numbers an aggregate aggregates, one per history row, missing where the row has none: the
    column's values, a rate's 0/1 (the target's own label for the target without a rule), a count's 1."""
    if aggregate.column is None:
        return pd.Series(1.0, index=history.index)
    values = history[aggregate.column]
    if aggregate.agg == "count":
        return values.notna().astype("float64").where(values.notna())
    if aggregate.agg == "rate" and aggregate.rule is None:  # the target's label, as training makes it
        label, known = make_target(spec, values)
        return label.astype("float64").where(known)
    numbers = pd.to_numeric(values, errors="coerce")
    if aggregate.agg == "rate":
        op, number = RULE.match(aggregate.rule).groups()
        return OPERATORS[op](numbers, float(number)).astype("float64").where(numbers.notna())
    return numbers.astype("float64")


def history_frame(spec: ModelSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """What the aggregates read of validated `rows` (with their `date`, oldest day first): `date`, the group
    columns and one column of values per aggregate."""
    by = sorted({column for aggregate in spec.features.aggregates.values() for column in aggregate.by})
    if rows.empty:
        return pd.DataFrame(columns=["date", *by, *spec.features.aggregates])
    return rows[["date", *by]].assign(**{name: aggregated_values(spec, aggregate, rows)
                                         for name, aggregate in spec.features.aggregates.items()})


def stacked_tables(spec: ModelSpec, history: pd.DataFrame, days: list[dt.date]) -> pd.DataFrame:
    """The tables of `days` computed from `history` (a `history_frame`), stacked with their `date`."""
    return _stacked({day: day_table(spec, history, day) for day in days})


def _stacked(tables: dict[dt.date, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([table.assign(date=pd.Timestamp(day)) for day, table in sorted(tables.items())],
                     ignore_index=True)


def _between(history: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    """The history rows from `first` to `last`, inclusive (a slice: the rows are in day order)."""
    dates = history["date"].to_numpy()
    start, end = dates.searchsorted(pd.Timestamp(first).to_datetime64(), "left"), dates.searchsorted(
        pd.Timestamp(last).to_datetime64(), "right")
    return history.iloc[start:end]


def day_table(spec: ModelSpec, history: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """What rows of `day` get: per group key, each aggregate's value and rows (groups stacked, marked by
    GROUP). A group key with no row in any of its aggregates' windows has no row here."""
    tables = [_group_table(spec, history, day, names).assign(**{GROUP: group})
              for group, names in spec.features.aggregate_groups.items()]
    # Groups are stacked, each without the others' columns: integers (keys, counts) stay integers, nullable,
    # instead of becoming floats (a key past 2**53 would change).
    return pd.concat([table.astype({column: "Int64" for column, kind in table.dtypes.items()
                                    if pd.api.types.is_integer_dtype(kind)}) for table in tables], ignore_index=True)


def _group_table(spec: ModelSpec, history: pd.DataFrame, day: dt.date, names: list[str]) -> pd.DataFrame:
    columns = {}
    for name in names:
        aggregate = spec.features.aggregates[name]
        before, after = aggregate.history_days()
        window = _between(history, day - dt.timedelta(days=before), day - dt.timedelta(days=after))
        grouped = window.groupby(aggregate.by, sort=False)[name]
        columns[rows_column(name)] = grouped.count()  # the values its window held; a count is just that
        if aggregate.agg != "count":
            columns[name] = getattr(grouped, "mean" if aggregate.agg == "rate" else aggregate.agg)()
    table = pd.DataFrame(columns)  # the keys of every aggregate's window: 0 values where one window has none
    for name in names:
        aggregate = spec.features.aggregates[name]
        rows = table[rows_column(name)] = table[rows_column(name)].fillna(0).astype("int64")
        table[name] = rows.astype("float64") if aggregate.agg == "count" else table[name].astype("float64").where(
            rows >= aggregate.min_rows)
    return table.reset_index()


# materialised day tables

@dataclass(frozen=True)
class DayTables:
    """The aggregates' tables of some days, stacked with their `date`, and how they were had."""

    frame: pd.DataFrame
    read: list[dt.date]                # materialised and still fresh
    computed: list[dt.date]            # stale or not materialised: computed from the history
    left_out: dict[dt.date, str]       # history days the aggregates could not read: quarantined or missing

    def summary(self) -> str:
        return (f"aggregates of {len(self.read) + len(self.computed)} days: {len(self.read)} read from features/, "
                f"{len(self.computed)} computed; history days left out: {describe_gaps(self.left_out)}")


def day_tables(spec: ModelSpec, lake: Lake, days: list[dt.date], *, materialise: bool = False) -> DayTables:
    """The tables rows of `days` get: each day's materialised table when it is of this definition and its
    history has not changed since, computed from the history otherwise (and written, with `materialise`:
    the features step, and training, which runs the model's current spec)."""
    days = sorted(set(days))
    if not days:
        return DayTables(pd.DataFrame(columns=["date", GROUP]), [], [], {})
    dataset = spec.source.dataset
    first, last = history_span(spec, days[0])[0], history_span(spec, days[-1])[1]
    coverage = lake.coverage(dataset, first, last)
    checksums = {day: lake.manifest("validated", dataset, day)["checksum"] for day in coverage.validated}
    left_out = _left_out(spec, coverage)
    wanted = definition(spec)
    tables, read, stale = {}, [], []
    for day in days:
        manifest = lake.manifest(ZONE, spec.name, day) or {}
        if manifest.get("definition") == wanted and manifest.get("history") == _in_span(spec, day, checksums):
            tables[day] = lake.read_partition(ZONE, spec.name, day)
            read.append(day)
        else:
            stale.append(day)
    if stale:
        if known := lake.manifest("validated", dataset, stale[-1]):  # before any work, nothing written yet
            check_columns(spec, known["columns"], f"validated/{dataset}")
        span = history_span(spec, stale[0])[0], history_span(spec, stale[-1])[1]
        in_span = [day for day in checksums if span[0] <= day <= span[1]]
        rows = lake.read_days("validated", dataset, in_span, columns=history_columns(spec)) if in_span else \
            pd.DataFrame()
        history = history_frame(spec, rows)
        for day in stale:
            tables[day] = day_table(spec, history, day)
            if materialise:
                lake.write_partition(ZONE, spec.name, day, tables[day], definition=wanted,
                                     history=_in_span(spec, day, checksums), left_out=_in_span(spec, day, left_out))
    spans = [history_span(spec, day) for day in days]
    return DayTables(_stacked(tables), read, stale, {day: why for day, why in left_out.items()
                                                     if any(first <= day <= last for first, last in spans)})


def describe_gaps(left_out: dict) -> str:
    """History days left out, as `2013-02-08 (quarantined), ...`, or `none`."""
    return ", ".join(f"{day} ({why})" for day, why in sorted(left_out.items())) or "none"


def _left_out(spec: ModelSpec, coverage: Coverage) -> dict[dt.date, str]:
    """The gaps of a history: its quarantined days, and its missing days since the source's start (before
    it, a cold start has no history to miss)."""
    missing = [day for day in coverage.missing if day >= spec.source.start_date]
    return dict.fromkeys(coverage.quarantined, "quarantined") | dict.fromkeys(missing, "missing")


def _in_span(spec: ModelSpec, day: dt.date, by_day: dict[dt.date, str]) -> dict[str, str]:
    """The entries of `by_day` in the history span of `day`, by ISO day: what a manifest records."""
    first, last = history_span(spec, day)
    return {d.isoformat(): value for d, value in sorted(by_day.items()) if first <= d <= last}


def materialise(spec: ModelSpec, lake: Lake, days: list[dt.date]) -> DayTables:
    """The features step: the aggregates' tables of `days`, and of every later validated day whose history
    they are part of, in features/ (those already fresh are left as they are)."""
    dataset = spec.source.dataset
    reach = max(a.history_days()[0] for a in spec.features.aggregates.values())
    last = max(days) + dt.timedelta(days=reach)
    later = [day for day in lake.days("validated", dataset) if min(days) <= day <= last]
    return day_tables(spec, lake, sorted({*days, *later}), materialise=True)
