"""Target leakage in a day's rows: a feature column that, alone, predicts the target almost perfectly.

Real features of a real problem do not do that; an upstream join or export that copied the outcome
into a feature does. Checked on every raw day, before the day can be trained on, and on the model inputs
of every training window, where derived features and rolling aggregates exist too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from nightshift.model.features import make_target
from nightshift.spec import ModelSpec, rows_column

# A single feature with a ROC AUC (classification) or |correlation| (regression) this high is a leak.
LEAK_SCORE = 0.98
MIN_ROWS = 50
SAMPLE_ROWS = 100_000  # of a training window: enough to see a leak, cheap at a million rows


@dataclass(frozen=True)
class Leak:
    column: str
    score: float
    measure: str


def find_leaks(spec: ModelSpec, frame: pd.DataFrame) -> list[Leak]:
    """Feature columns present in `frame` that predict the target on their own (multiclass: any one class
    against the rest)."""
    if spec.target.column not in frame.columns:
        return []
    target, known = make_target(spec, frame[spec.target.column])
    return leaks_in(spec, frame[known], target[known])


def leaks_in(spec: ModelSpec, features: pd.DataFrame, y: pd.Series) -> list[Leak]:
    """Feature columns of `features` that alone predict `y`, its rows' labels. A class needs MIN_ROWS rows
    to be judged: a handful of positives is told apart perfectly by chance (a lookup column once scored
    0.989 on the 3 flights of two weeks that were 1,000 minutes late)."""
    if len(y) < MIN_ROWS or y.nunique() < 2:
        return []
    if spec.task == "classification" and y.value_counts().min() < MIN_ROWS:
        return []
    outcomes = ([(y == label).astype("int64") for label, count in y.value_counts().items() if count >= MIN_ROWS]
                if spec.task == "multiclass" else [y])
    leaks = []
    for column in [c for c in spec.features.columns if c in features.columns]:
        scores = [_score(spec, column, features[column], outcome) for outcome in outcomes]
        if (best := max((found for found in scores if found), default=None)) and best[0] >= LEAK_SCORE:
            leaks.append(Leak(column, *best))
    return leaks


def _score(spec: ModelSpec, column: str, values: pd.Series, y: pd.Series) -> tuple[float, str] | None:
    """How well `values` alone predict `y`: ROC AUC (either direction) for a class, |correlation| for a
    number; None when too few rows have a value."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import TargetEncoder

    if column in spec.features.categorical:
        # Each row scored by its category's target rate in the other folds (cross-fitted, smoothed): a
        # rate that counted the row's own target would make every rare category look perfect.
        encoder = TargetEncoder(target_type="continuous", cv=KFold(5, shuffle=True, random_state=0))
        encoded = encoder.fit_transform(values.astype("string").fillna("").to_frame(), y)
        score = pd.Series(encoded[:, 0], index=values.index).where(values.notna())
    else:
        score = pd.to_numeric(values, errors="coerce")
    present = score.notna()
    if present.sum() < MIN_ROWS or score[present].nunique() < 2 or y[present].nunique() < 2:
        return None
    if spec.task == "regression":
        return abs(float(y[present].corr(score[present]))), "|correlation|"
    auc = roc_auc_score(y[present], score[present])
    return max(auc, 1 - auc), "ROC AUC"


def refuse_leaking_inputs(spec: ModelSpec, X: pd.DataFrame, y: pd.Series, where: str) -> None:
    """The leak check on the model inputs raw days do not hold (lookup columns, rolling aggregates, derived
    features), on a seeded sample of a training window's rows: a DataError naming each leak, before any fit."""
    from nightshift.failures import DataError

    built = {*spec.features.derived, *(column for name in spec.features.aggregates for column in
                                       (name, rows_column(name))),
             *(feature for lookup in spec.lookups for feature in lookup.columns.values())}
    columns = [column for column in spec.features.columns if column in built]
    if not columns:
        return
    rows = X.index if len(X) <= SAMPLE_ROWS else X.sample(SAMPLE_ROWS, random_state=spec.model.seed).index
    if leaks := leaks_in(spec, X.loc[rows, columns], y.loc[rows]):
        found = ", ".join(f"{leak.column} ({leak.measure} {leak.score:.3f})" for leak in leaks)
        raise DataError(
            f"{where}: model inputs that alone predict the target {spec.target.column!r} (limit {LEAK_SCORE}): "
            f"{found}; they would leak the outcome into training", kind="leak",
            hint="A rolling aggregate must read only days whose outcomes were known (lag_days); a lookup or "
                 "derived feature must not carry the outcome. Fix the spec; nothing was trained.")
