"""Validated rows -> model inputs: join the lookup tables, derive features, make the target."""

from __future__ import annotations

import logging
import operator
from dataclasses import dataclass

import pandas as pd

from nightshift.data.sources import read_table
from nightshift.failures import DataError
from nightshift.spec import IDENTIFIER, RULE, Lookup, ModelSpec

log = logging.getLogger(__name__)
OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
             "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True)
class FeatureFrame:
    X: pd.DataFrame
    y: pd.Series
    dropped_unknown_target: int

    @property
    def rows(self) -> int:
        return len(self.X)


def source_columns(spec: ModelSpec, available: list[str]) -> list[str]:
    """The columns of `available` that the features, lookups and target need; training reads only these."""
    wanted = {*spec.features.columns, spec.target.column, *(k for lookup in spec.lookups for k in lookup.keys)}
    for expression in spec.features.derived.values():
        wanted |= set(IDENTIFIER.findall(expression))
    return sorted(wanted & set(available))


def read_lookups(spec: ModelSpec) -> dict[str, pd.DataFrame]:
    """Each lookup table with its keys and taken columns, one row per key."""
    return {lookup.name: _read_lookup(lookup) for lookup in spec.lookups}


def _read_lookup(lookup: Lookup) -> pd.DataFrame:
    wanted = [*lookup.keys, *lookup.columns]
    table = read_table(lookup.path)
    if missing := [c for c in wanted if c not in table.columns]:
        raise DataError(f"lookup {lookup.name} ({lookup.path}): columns {missing} not found", kind="schema")
    return table[wanted].rename(columns=lookup.columns)


def _one_row_per_key(lookup: Lookup, table: pd.DataFrame) -> pd.DataFrame:
    duplicated = table.duplicated(lookup.keys)
    if duplicated.any():
        # e.g. weather repeats a few (origin, hour) readings around DST: keep the first, never multiply rows.
        log.info("lookup %s: %d rows repeat a key %s; keeping the first", lookup.name, duplicated.sum(), lookup.keys)
        return table[~duplicated]
    return table


def model_inputs(spec: ModelSpec, frame: pd.DataFrame, lookups: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The model's input columns for every row of `frame` (rows with a `date` column, as
    `Lake.read_days` returns): lookups joined, derived features computed, types fixed."""
    return _typed_inputs(spec, _enrich(spec, frame, lookups))


def build_features(spec: ModelSpec, frame: pd.DataFrame, lookups: dict[str, pd.DataFrame]) -> FeatureFrame:
    """Model inputs and target for `frame`. Rows whose target is unknown are dropped and counted,
    unless the spec's `target.missing` says how to label them."""
    enriched = _enrich(spec, frame, lookups)
    target, known = make_target(spec, enriched[spec.target.column])
    X = _typed_inputs(spec, enriched.loc[known].reset_index(drop=True))
    return FeatureFrame(X=X, y=target[known].reset_index(drop=True), dropped_unknown_target=int((~known).sum()))


def _enrich(spec: ModelSpec, frame: pd.DataFrame, lookups: dict[str, pd.DataFrame]) -> pd.DataFrame:
    for lookup in spec.lookups:
        table = _one_row_per_key(lookup, lookups[lookup.name])
        frame = frame.merge(table, on=lookup.keys, how="left", validate="many_to_one")
    for name, expression in spec.features.derived.items():
        try:
            frame[name] = frame.eval(expression, engine="python")
        except Exception as err:  # pandas raises many types for a bad expression
            raise DataError(f"features.derived.{name}: cannot evaluate {expression!r}: {err}", kind="schema") from err
    if missing := [c for c in spec.features.columns if c not in frame.columns]:
        raise DataError(f"features {missing} not in the data; columns are {sorted(frame.columns)}", kind="schema")
    return frame


def _typed_inputs(spec: ModelSpec, frame: pd.DataFrame) -> pd.DataFrame:
    X = frame[spec.features.columns].copy()
    X[spec.features.numeric] = X[spec.features.numeric].astype("float64")
    X[spec.features.categorical] = X[spec.features.categorical].astype("object")
    return X


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
