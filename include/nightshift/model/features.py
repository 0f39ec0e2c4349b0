"""Validated rows -> model inputs: join the lookup tables, derive features, make the target."""

from __future__ import annotations

import datetime as dt
import logging
import operator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nightshift.data.sources import read_table
from nightshift.failures import DataError
from nightshift.spec import IDENTIFIER, RULE, Lookup, ModelSpec, rows_column

log = logging.getLogger(__name__)
# More rows than both of these repeating a lookup key is an error, not a few readings around DST.
MAX_REPEATED_KEY_SHARE, MAX_REPEATED_KEY_ROWS = 0.01, 10
AGGREGATE_GROUP = "group"  # in the aggregates' day tables: which group (its `by`, comma-joined) a row is of
OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
             "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True)
class FeatureFrame:
    X: pd.DataFrame
    y: pd.Series
    dropped_unknown_target: int
    # History days the rolling aggregates could not read (quarantined or missing), for the lineage.
    history_left_out: dict[dt.date, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.X)


def source_columns(spec: ModelSpec, available: list[str]) -> list[str]:
    """The columns of `available` that the features, lookups and target need; training reads only these."""
    wanted = {*spec.features.columns, spec.target.column, *(k for lookup in spec.lookups for k in lookup.keys),
              *(lookup.as_of.event_time for lookup in spec.lookups if lookup.as_of),
              *(k for aggregate in spec.features.aggregates.values() for k in aggregate.by)}
    for expression in spec.features.derived.values():
        wanted |= set(IDENTIFIER.findall(expression))
    return sorted(wanted & set(available))


def read_lookups(spec: ModelSpec) -> dict[str, pd.DataFrame]:
    """Each lookup table with its keys and taken columns, one row per key."""
    return {lookup.name: _read_lookup(lookup) for lookup in spec.lookups}


def _read_lookup(lookup: Lookup) -> pd.DataFrame:
    return prepare_lookup(lookup, read_table(lookup.path))


def prepare_lookup(lookup: Lookup, table: pd.DataFrame) -> pd.DataFrame:
    """The lookup's keys and columns; an as-of lookup's also its times (UTC nanoseconds), in time order, with
    rows lacking a time or key left out and, of two readings of one key at one time, the first kept (as an
    exact lookup keeps the first row of a key; merge_asof would pick either). Done once per read: every
    join reuses it."""
    wanted = [*lookup.keys, *([lookup.as_of.lookup_time] if lookup.as_of else []), *lookup.columns]
    if missing := [c for c in wanted if c not in table.columns]:
        raise DataError(f"lookup {lookup.name} ({lookup.path}): columns {missing} not found; its columns are "
                        f"{sorted(table.columns)}", kind="schema", hint=f"Fix lookups.{lookup.name} in the spec.")
    table = table[wanted].rename(columns=lookup.columns)
    if lookup.as_of is None:  # indexed by its keys: each join looks rows up in the same (hashed) index
        return _one_row_per_key(lookup, table, lookup.keys).set_index(lookup.keys)
    time = lookup.as_of.lookup_time
    table[time] = _times(table[time], f"lookup {lookup.name} ({lookup.path}): as_of.lookup_time {time!r}")
    table = table.dropna(subset=[time, *lookup.keys])
    # In time order within each key, indexed by the keys: a join finds a key's readings as one slice.
    table = _one_row_per_key(lookup, table, [*lookup.keys, time]).sort_values([*lookup.keys, time])
    return table.set_index(lookup.keys) if lookup.keys else table


def _times(values: pd.Series, what: str) -> pd.Series:
    """Timestamps in UTC, in nanoseconds (naive ones taken as UTC); a DataError showing values that are not
    times."""
    try:  # in one unit: merge_asof refuses to compare nanoseconds with microseconds
        return pd.to_datetime(values, utc=True).dt.as_unit("ns")
    except (ValueError, TypeError) as err:
        raise DataError(f"{what}: not a date or time column ({err}); first values {values.head(3).tolist()}",
                        kind="schema") from err


def _one_row_per_key(lookup: Lookup, table: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """The table with the first row of each key. A few repeats are real (weather repeats a few (origin, hour)
    readings around DST); more rows than MAX_REPEATED_KEY_SHARE of the table and MAX_REPEATED_KEY_ROWS repeating
    a key means the key does not identify a row (wrong keys, or an export appended twice), and a join would
    pick one of them blindly."""
    repeated = table.duplicated(key)
    if not repeated.any():
        return table
    if repeated.sum() > max(MAX_REPEATED_KEY_ROWS, MAX_REPEATED_KEY_SHARE * len(table)):
        sample = table.loc[repeated, key].drop_duplicates().head(3).to_dict("records")
        raise DataError(f"lookup {lookup.name} ({lookup.path}): {repeated.sum():,} of {len(table):,} rows repeat a "
                        f"key {key} (for example {sample})", kind="lookup_keys",
                        hint=f"The keys do not identify a row: fix lookups.{lookup.name}.keys in the spec, or remove "
                             "the repeated rows upstream. A retry reads the same table.")
    log.info("lookup %s: %d rows repeat a key %s; keeping the first", lookup.name, repeated.sum(), key)
    return table[~repeated]


def model_inputs(spec: ModelSpec, frame: pd.DataFrame, lookups: dict[str, pd.DataFrame],
                 aggregates: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """The model's input columns for every row of `frame` (rows with a `date` column, as
    `Lake.read_days` returns): lookups joined, rolling aggregates joined from their days' tables
    (`nightshift.model.aggregates.day_tables`), derived features computed, types fixed."""
    return _typed_inputs(spec, _enrich(spec, frame, lookups, aggregates))


def build_features(spec: ModelSpec, frame: pd.DataFrame, lookups: dict[str, pd.DataFrame],
                   aggregates: dict[str, pd.DataFrame] | None = None) -> FeatureFrame:
    """Model inputs and target for `frame`. Rows whose target is unknown are dropped and counted,
    unless the spec's `target.missing` says how to label them."""
    enriched = _enrich(spec, frame, lookups, aggregates)
    target, known = make_target(spec, enriched[spec.target.column])
    X = _typed_inputs(spec, enriched.loc[known].reset_index(drop=True))
    return FeatureFrame(X=X, y=target[known].reset_index(drop=True), dropped_unknown_target=int((~known).sum()))


def _enrich(spec: ModelSpec, frame: pd.DataFrame, lookups: dict[str, pd.DataFrame],
            aggregates: dict[str, pd.DataFrame] | None) -> pd.DataFrame:
    for lookup in spec.lookups:
        if lookup.as_of:
            frame = _join_as_of(lookup, frame, lookups[lookup.name])
        else:
            frame = _join_exact(lookup, frame, lookups[lookup.name])
    if spec.features.aggregates:
        frame = join_aggregates(spec, frame, aggregates)
    derived: dict[str, pd.Series] = {}
    for name, expression in spec.features.derived.items():
        # Given only the columns it names (a derived feature may name an earlier one): DataFrame.eval would
        # build a resolver for every column of the frame first.
        named = {column: derived[column] if column in derived else frame[column]
                 for column in dict.fromkeys(IDENTIFIER.findall(expression))
                 if column in derived or column in frame.columns}
        try:
            derived[name] = pd.eval(expression, engine="python", resolvers=[named])
        except Exception as err:  # pandas raises many types for a bad expression
            raise DataError(f"features.derived.{name}: cannot evaluate {expression!r}: {err}", kind="schema") from err
    if derived:
        frame = with_columns(frame, derived)
    if missing := [c for c in spec.features.columns if c not in frame.columns]:
        raise DataError(f"features {missing} not in the data; columns are {sorted(frame.columns)}", kind="schema")
    return frame


def _join_exact(lookup: Lookup, frame: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Each row joined to the lookup's row of equal keys (`table` indexed by them, as `prepare_lookup` gives
    it); rows without one get missing values."""
    positions = table.index.get_indexer(_keys_of(lookup, frame[lookup.keys], table.index))
    return with_columns(frame, _taken(table, positions))


def _join_as_of(lookup: Lookup, frame: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Each row joined to the lookup's latest row at or before its time, among rows of equal keys (none
    older than the tolerance), as `pandas.merge_asof(direction="backward")` joins them; rows without a time
    or a key get no match. Row order is kept. `table` is as `prepare_lookup` gives it."""
    event, time = lookup.as_of.event_time, lookup.as_of.lookup_time
    if event not in frame.columns:
        raise DataError(f"lookups.{lookup.name}.as_of.event_time: {event!r} is not a column of the rows; columns "
                        f"are {sorted(frame.columns)}", kind="schema", hint="Fix the lookup's as_of in the spec.")
    at = _times(frame[event], f"lookups.{lookup.name}.as_of.event_time {event!r}").to_numpy("datetime64[ns]")
    readings = table[time].to_numpy("datetime64[ns]")
    tolerance = None if lookup.as_of.max_age is None else np.timedelta64(lookup.as_of.max_age)
    positions = np.full(len(frame), -1)
    timed = ~np.isnat(at)
    if lookup.keys:
        keys = frame[lookup.keys]
        timed &= keys.notna().all(axis=1).to_numpy()
        rows = np.flatnonzero(timed)
        positions[rows] = _latest_by_key(_keys_of(lookup, keys.iloc[rows], table.index), at[rows], table.index,
                                         readings, tolerance)
    else:
        positions[timed] = _latest(readings, at[timed], tolerance)
    return with_columns(frame, _taken(table.drop(columns=[time]), positions))


def _keys_of(lookup: Lookup, keys: pd.DataFrame, index: pd.Index) -> pd.Index:
    """The rows' keys as `_as_index_of` gives them; keys that cannot be read so fail naming the lookup."""
    try:
        return _as_index_of(keys, index)
    except (ValueError, TypeError) as err:
        raise DataError(f"lookups.{lookup.name}.keys: the rows' {lookup.keys} cannot be read as the lookup's "
                        f"({err})", kind="schema", hint="Make the key columns the same type on both sides.") from err


def _as_index_of(keys: pd.DataFrame, index: pd.Index) -> pd.Index:
    """The rows' key columns as an index in `index`'s types (a number read as text, a date's unit), ready
    to be looked up in it."""
    dtypes = [index.dtype] if index.nlevels == 1 else [level.dtype for level in index.levels]
    keys = keys.astype(dict(zip(keys.columns, dtypes, strict=True)))
    return pd.Index(keys.iloc[:, 0]) if keys.shape[1] == 1 else pd.MultiIndex.from_frame(keys)


def _latest_by_key(keys: pd.Index, at: np.ndarray, index: pd.Index, readings: np.ndarray,
                   tolerance: np.timedelta64 | None) -> np.ndarray:
    """`_latest` among the readings of each row's key: `index` holds the readings' keys, sorted, so that a
    key's readings are one slice of `readings`."""
    found = np.full(len(keys), -1)
    codes, uniques = pd.factorize(keys)
    order = np.argsort(codes, stable=True)  # the rows of each key together
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    for code, key in enumerate(uniques):
        try:
            span = index.get_loc(key)
        except KeyError:  # no reading of this key
            continue
        span = slice(span, span + 1) if isinstance(span, int) else span
        chosen = order[bounds[code]:bounds[code + 1]]
        latest = _latest(readings[span], at[chosen], tolerance)
        found[chosen] = np.where(latest >= 0, span.start + latest, -1)
    return found


def _latest(readings: np.ndarray, at: np.ndarray, tolerance: np.timedelta64 | None) -> np.ndarray:
    """For each time of `at`, the position of the latest of the sorted `readings` at or before it, no more
    than `tolerance` before it; -1 where there is none."""
    if not len(readings):
        return np.full(len(at), -1)
    found = np.searchsorted(readings, at, side="right") - 1
    matched = found >= 0
    if tolerance is not None:
        matched &= at - readings[np.maximum(found, 0)] <= tolerance
    return np.where(matched, found, -1)


def _taken(table: pd.DataFrame, positions: np.ndarray) -> dict[str, object]:
    """The table's columns at these row positions; -1 gives a missing value (ints become floats, as a
    left merge makes them)."""
    return {column: pd.api.extensions.take(table[column].array, positions, allow_fill=True)
            for column in table.columns}


def aggregate_parts(spec: ModelSpec, tables: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The days' aggregate tables (stacked, with their `date`: `nightshift.model.aggregates.day_tables`) as
    `join_aggregates` takes them: one table per group of aggregates, indexed by the day and the group's keys."""
    parts = {}
    for group, names in spec.features.aggregate_groups.items():
        keys = ["date", *spec.features.aggregates[names[0]].by]
        columns = [*names, *(rows_column(name) for name in names)]
        parts[group] = tables.loc[tables[AGGREGATE_GROUP] == group, [*keys, *columns]].set_index(keys)
    return parts


def join_aggregates(spec: ModelSpec, frame: pd.DataFrame, parts: dict[str, pd.DataFrame] | None) -> pd.DataFrame:
    """Each row given its day's aggregates by its group keys (`parts`: from `aggregate_parts`); a key without
    history gets 0 rows and a missing value (0 for a count)."""
    if not isinstance(parts, dict):
        raise TypeError(f"{spec.name} has rolling aggregates: pass their day tables as aggregate_parts gives them, "
                        f"not {type(parts).__name__}")
    found = {}
    for group, names in spec.features.aggregate_groups.items():
        part = parts[group]
        # The rows' keys in the tables' types (a date's unit, a string dtype), then a lookup by index: a key
        # repeated in a table is an error (get_indexer refuses it), a key missing from it gets NaN.
        positions = part.index.get_indexer(_as_index_of(frame[list(part.index.names)], part.index))
        # A row of NaN after the table's: position -1 (no such key) takes it.
        table = np.vstack([part.to_numpy(dtype="float64", na_value=np.nan), np.full((1, part.shape[1]), np.nan)])
        values = table[positions]
        counts = {*(rows_column(name) for name in names),
                  *(name for name in names if spec.features.aggregates[name].agg == "count")}
        for i, column in enumerate(part.columns):
            found[column] = np.where(np.isnan(values[:, i]), 0.0, values[:, i]) if column in counts else values[:, i]
    return with_columns(frame, found)


def with_columns(frame: pd.DataFrame, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """`frame` with these columns added (or replaced) in one step: `assign` inserts them one at a time, which
    costs more than the work itself on the few rows of a serving request."""
    if replaced := [name for name in columns if name in frame.columns]:
        frame = frame.drop(columns=replaced)
    return pd.concat([frame, pd.DataFrame(columns, index=frame.index)], axis=1)


def _typed_inputs(spec: ModelSpec, frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame[spec.features.numeric].astype("float64"),
                      frame[spec.features.categorical].astype("object")], axis=1)


def make_target(spec: ModelSpec, values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(target, known mask): applies the rule, then the missing-value policy. Multiclass: the labels as
    strings (which of them a version learned is its own: nightshift.model.inputs.learned_classes)."""
    if spec.task == "multiclass":
        return values.astype("string").astype(object), values.notna()
    values = pd.to_numeric(values, errors="coerce")
    missing = values.isna()
    if spec.target.rule is None:
        return values, ~missing
    op, number = RULE.match(spec.target.rule).groups()
    target = OPERATORS[op](values, float(number)).astype("int64")
    if spec.target.missing == "drop":
        return target, ~missing
    target[missing] = 1 if spec.target.missing == "positive" else 0
    return target, pd.Series(True, index=values.index)
