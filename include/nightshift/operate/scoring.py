"""Validated day -> `predictions/<model>/date=D/`: the champion's predictions, its version on every row.

While a challenger exists it is scored in shadow on the same rows, and the comparison (agreement, and
the primary metric of both once the day's labels are known) is logged to the challenger's MLflow run
and summarised on its version, so that whoever approves it has live evidence. Idempotent per day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nightshift.data.lake import Lake
from nightshift.failures import DataError, ModelError
from nightshift.model.features import make_target
from nightshift.model.inputs import VersionModel, judged_rows
from nightshift.model.metrics import compute_metrics
from nightshift.model.registry import CHALLENGER, CHAMPION, Registry
from nightshift.spec import ModelSpec


@dataclass(frozen=True)
class DayScore:
    day: dt.date
    rows: int
    champion_version: str
    shadow: dict[str, float] | None  # the challenger against the champion on the same rows


def score_days(spec: ModelSpec, lake: Lake, registry: Registry, days: list[dt.date]) -> list[DayScore]:
    """Score each validated day with the champion (and the challenger in shadow); replaces earlier scores."""
    champion_version = registry.alias_version(spec.name, CHAMPION)
    if champion_version is None:
        raise ModelError(f"{spec.name} has no champion to score with", kind="no_champion",
                         hint="Run the retrain DAG until a model is promoted; scoring starts then.")
    champion = VersionModel.load(registry, lake, spec, champion_version)
    challenger_version = registry.alias_version(spec.name, CHALLENGER)
    challenger = VersionModel.load(registry, lake, spec, challenger_version) if challenger_version else None
    scores = []
    for day in sorted(days):
        frame = lake.read_days("validated", spec.source.dataset, [day])
        if missing := [c for c in spec.scoring.id_columns if c not in frame.columns]:
            raise DataError(f"scoring.id_columns {missing} are not columns of {spec.source.dataset}", kind="schema",
                            hint="Fix scoring.id_columns in the spec.")
        predictions = champion.predict(frame)
        rows = frame[spec.scoring.id_columns].assign(**prediction_columns(champion, predictions),
                                                     model_version=champion_version)
        lake.write_partition("predictions", spec.name, day, rows, model_version=champion_version,
                             source=lake.uri("validated", spec.source.dataset, day))
        shadow = None
        if challenger is not None:
            shadow = compare(spec, frame, (champion, predictions), (challenger, challenger.predict(frame)))
            _log_shadow(registry, spec.name, challenger.version, champion_version, day, shadow)
        scores.append(DayScore(day, len(rows), champion_version, shadow))
    return scores


def prediction_columns(model: VersionModel, predictions: np.ndarray) -> dict[str, np.ndarray]:
    """What a predictions partition holds: the prediction (the positive class's probability, the value, or
    for multiclass the most likely class with its probability)."""
    if model.spec.task != "multiclass":
        return {"prediction": predictions}
    return {"prediction": model.labels(predictions), "probability": predictions.max(axis=1)}


def compare(spec: ModelSpec, frame: pd.DataFrame, champion: tuple[VersionModel, np.ndarray],
            challenger: tuple[VersionModel, np.ndarray]) -> dict[str, float]:
    """How the challenger differs from the champion on the same rows; with the primary metric of both
    when the rows' labels are known."""
    (old_model, old), (new_model, new) = champion, challenger
    if spec.task == "multiclass":
        comparison = agreement(spec.task, old_model.labels(old), new_model.labels(new))
    else:
        comparison = agreement(spec.task, old, new)
    if spec.target.column in frame.columns:
        y, known = make_target(spec, frame[spec.target.column])
        known = known.to_numpy()
        judged = judged_rows(spec.task, y[known], [old[known], new[known]], [old_model.classes, new_model.classes])
        if len(judged):
            metric = spec.gate.primary_metric
            for side, predictions in zip(("champion", "challenger"), judged.predictions, strict=True):
                comparison[f"{side}_{metric}"] = compute_metrics(spec.task, judged.y, predictions)[metric]
    return comparison


def agreement(task: str, old: np.ndarray, new: np.ndarray) -> dict[str, float]:
    """How two models' predictions of the same rows agree: the share of rows given the same class (at 0.5
    for classification; multiclass: their labels), or for regression the mean absolute difference."""
    if task == "regression":
        return {"mean_abs_difference": float(np.mean(np.abs(old - new)))}
    same = (old >= 0.5) == (new >= 0.5) if task == "classification" else old == new
    return {"agreement": float(np.mean(same))}


def _log_shadow(registry: Registry, model: str, version: str, champion_version: str, day: dt.date,
                shadow: dict[str, float]) -> None:
    """The day's comparison as metrics on the challenger's run (one step per day), and a running summary
    on its version."""
    registry.log_to_run(model, version, metrics={f"shadow_{name}": value for name, value in shadow.items()},
                        step=day.toordinal())
    days = registry.metric_steps(model, version, f"shadow_{next(iter(shadow))}")
    registry.tag_version(model, version, {
        "shadow.champion_version": champion_version,
        "shadow.days": len(days),
        "shadow.last_day": day.isoformat(),
        **{f"shadow.last.{name}": f"{value:.4f}" for name, value in shadow.items()},
    })
