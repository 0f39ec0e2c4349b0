"""Holdout statistics for the gate: metrics, a paired bootstrap of the primary metric, slices.

Everything is vectorized with numpy: the bootstrap draws resample counts (not copies of the data),
and ROC AUC per resample comes from weighted cumulative sums over tie groups (scores rounded to 1e-4),
so 1,000 resamples of 100k rows take about a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EPS = 1e-15
# P(X <= k) for X ~ Poisson(1), k = 0..9; P(X > 9) is about 1e-7.
POISSON_1_CDF = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(10)]).astype(np.float32)


METRIC_NAMES = {"classification": ("roc_auc", "log_loss", "accuracy", "brier"), "regression": ("rmse", "mae", "r2"),
                "multiclass": ("roc_auc", "log_loss", "accuracy", "f1_macro")}


def compute_metrics(task: str, y_true, prediction) -> dict[str, float]:
    """Holdout metrics. Classification: `prediction` is the positive class's probability. Multiclass: `y_true`
    holds class codes 0..k-1 and `prediction` is n x k probabilities; ROC AUC is the macro average of each
    class against the rest, F1 the macro average over the classes in the labels or the predictions.
    A metric that cannot be computed (no rows, one class only) is NaN, which the gate treats as failing."""
    y = np.asarray(y_true, dtype="float64")
    p = np.asarray(prediction, dtype="float64")
    weights = np.ones((len(y), 1))
    return {name: float(weighted_metric(task, name, y, p, weights)[0]) for name in METRIC_NAMES[task]}


def weighted_metric(task: str, metric: str, y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One metric for each column of `weights` (n rows x B resamples of counts)."""
    if task == "multiclass":
        return _weighted_multiclass(metric, y.astype("int64"), p, weights)
    if metric == "roc_auc":
        return weighted_roc_auc(y, p, weights)
    if metric == "r2":
        mean_y = y @ weights / weights.sum(axis=0)
        variance = y**2 @ weights / weights.sum(axis=0) - mean_y**2
        mse = weighted_metric(task, "rmse", y, p, weights) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(variance > 0, 1 - mse / variance, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = _row_loss(metric, y, p) @ weights / weights.sum(axis=0)
    return np.sqrt(mean) if metric == "rmse" else mean


def _row_loss(metric: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-row terms of the metrics that are means over rows."""
    if metric == "log_loss":
        clipped = np.clip(p, EPS, 1 - EPS)
        return -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    if metric == "accuracy":
        return ((p >= 0.5) == (y == 1)).astype("float64")
    if metric in ("brier", "rmse"):
        return (p - y) ** 2
    if metric == "mae":
        return np.abs(p - y)
    raise ValueError(f"unknown metric {metric!r}")


def _weighted_multiclass(metric: str, y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Multiclass metrics for each column of `weights`; `y` holds codes 0..k-1, `p` is n x k."""
    rows, classes = np.arange(len(y)), p.shape[1] if p.ndim == 2 else 0
    total = weights.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "log_loss":
            return -np.log(np.clip(p[rows, y], EPS, 1)) @ weights / total
        predicted = p.argmax(axis=1) if len(y) else y
        if metric == "accuracy":
            return (predicted == y).astype("float64") @ weights / total
        if metric == "roc_auc":  # a class absent from a resample has no AUC and is left out of its mean
            per_class = np.stack([weighted_roc_auc((y == c).astype("float64"), p[:, c], weights)
                                  for c in range(classes)])
        elif metric == "f1_macro":  # classes neither in the labels nor predicted are left out, as scikit-learn does
            per_class = []
            for c in range(classes):
                hit, said = (y == c), (predicted == c)
                true_pos = (hit & said).astype("float64") @ weights
                wrong = (hit ^ said).astype("float64") @ weights  # false positives and false negatives
                per_class.append(np.where(2 * true_pos + wrong > 0, 2 * true_pos / (2 * true_pos + wrong), np.nan))
            per_class = np.stack(per_class)
        else:
            raise ValueError(f"unknown metric {metric!r}")
    defined = ~np.isnan(per_class)
    return np.where(defined.any(axis=0), np.where(defined, per_class, 0).sum(axis=0) / defined.sum(axis=0), np.nan)


def weighted_roc_auc(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC (ties count half) for each column of weights; NaN where a resample lacks a class.

    Rows are summed into tie groups of equal score by one sparse product per class, then the
    weighted Mann-Whitney count comes from a cumulative sum over the groups.
    """
    from scipy import sparse

    uniques, group = np.unique(score, return_inverse=True)
    groups, positive = len(uniques), y == 1
    per_group = []
    for rows in (np.flatnonzero(positive), np.flatnonzero(~positive)):
        indicator = sparse.csr_matrix((np.ones(len(rows), weights.dtype), (rows, group[rows])),
                                      shape=(len(y), groups))
        per_group.append(indicator.T @ weights)  # groups x resamples
    pos, neg = per_group
    negatives_below = np.cumsum(neg, axis=0, dtype="float64") - neg
    pairs = pos.sum(axis=0, dtype="float64") * neg.sum(axis=0, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, (pos * (negatives_below + 0.5 * neg)).sum(axis=0) / pairs, np.nan)


def poisson_weights(rng: np.random.Generator, resamples: int, rows: int) -> np.ndarray:
    """Bootstrap weights: how often each row is drawn, Poisson(1) per row (the Poisson bootstrap,
    the large-n form of drawing n rows with replacement). Inverse-CDF on uniforms, which numpy does
    far faster than its own Poisson sampler."""
    uniform = rng.random((rows, resamples), dtype=np.float32)
    counts = np.zeros((rows, resamples), dtype=np.float32)
    for threshold in POISSON_1_CDF:
        counts += uniform > threshold
    return counts


@dataclass(frozen=True)
class Interval:
    gain: float   # point estimate of the improvement (positive = challenger better)
    lower: float
    upper: float
    confidence: float
    resamples: int


def paired_bootstrap(task: str, metric: str, higher_is_better: bool, y, challenger, champion, *,
                     confidence: float, resamples: int, seed: int, batch: int = 100) -> Interval:
    """Percentile interval of (challenger - champion) on `metric`, both scored on the same resampled
    rows. Seeded: the same inputs always give the same interval. About 1 s for 100k rows x 1,000."""
    y = np.asarray(y, dtype="float64")
    new, old = np.asarray(challenger, dtype="float64"), np.asarray(champion, dtype="float64")
    sign = 1.0 if higher_is_better else -1.0
    point = sign * (compute_metrics(task, y, new)[metric] - compute_metrics(task, y, old)[metric])
    if metric == "roc_auc":
        # Resampled AUCs on scores rounded to 1e-4: at most 10,001 tie groups instead of one per row,
        # 25x faster at 100k rows, and each resampled AUC moves by about 1e-6.
        new, old = np.round(new, 4), np.round(old, 4)
    rng, n = np.random.default_rng(seed), len(y)
    gains = []
    for start in range(0, resamples, batch):
        size = min(batch, resamples - start)
        weights = poisson_weights(rng, size, n)  # the same draws weigh both models: paired
        gains.append(sign * (weighted_metric(task, metric, y, new, weights)
                             - weighted_metric(task, metric, y, old, weights)))
    gains = np.concatenate(gains)
    tail = (1 - confidence) / 2
    if np.isnan(gains).any() or math.isnan(point):
        return Interval(point, math.nan, math.nan, confidence, resamples)
    lower, upper = np.quantile(gains, [tail, 1 - tail])
    return Interval(float(point), float(lower), float(upper), confidence, resamples)


@dataclass(frozen=True)
class SliceResult:
    column: str
    value: str
    rows: int
    challenger: float
    champion: float
    drop: float  # how much worse the challenger is on this slice (positive = worse)


def slice_drops(task: str, metric: str, higher_is_better: bool, frame, y, challenger, champion,
                columns: list[str], min_rows: int) -> tuple[list[SliceResult], list[str]]:
    """Primary metric per slice with at least `min_rows` rows, worst first; and the slices where the
    metric is undefined (e.g. one class only), which cannot be judged."""
    y, new, old = (np.asarray(a, dtype="float64") for a in (y, challenger, champion))
    results, undefined = [], []
    for column in columns:
        values = frame[column].astype("string").fillna("<missing>").to_numpy()
        for value in np.unique(values):
            mask = values == value
            if mask.sum() < min_rows:
                continue
            a = compute_metrics(task, y[mask], new[mask])[metric]
            b = compute_metrics(task, y[mask], old[mask])[metric]
            if math.isnan(a) or math.isnan(b):
                undefined.append(f"{column}={value}")
                continue
            drop = (b - a) if higher_is_better else (a - b)
            results.append(SliceResult(column, str(value), int(mask.sum()), a, b, drop))
    return sorted(results, key=lambda r: r.drop, reverse=True), undefined


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """Population stability index of `actual` against `expected`, on the quantile bins of `expected`."""
    if len(expected) == 0 or len(actual) == 0:
        return 0.0 if len(expected) == len(actual) else float("inf")
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))
    expected_share, actual_share = (
        np.clip(np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1) / len(values),
                1e-4, None)
        for values in (expected, actual))
    return float(np.sum((actual_share - expected_share) * np.log(actual_share / expected_share)))


def category_psi(expected, actual) -> float:
    """Population stability index of two samples of categories, on their shares (a category one side
    lacks counts as a share of 1e-4)."""
    import pandas as pd

    shares = pd.concat([pd.Series(expected).value_counts(normalize=True),
                        pd.Series(actual).value_counts(normalize=True)], axis=1).fillna(0).to_numpy()
    before, now = (np.clip(shares[:, i], 1e-4, None) for i in (0, 1))
    return float(np.sum((now - before) * np.log(now / before)))
