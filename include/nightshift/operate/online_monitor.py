"""Online traffic in monitoring: what `nightshift serve` logged to `predictions/<model>/date=D/online/`.

The champion's live inputs and predictions are compared with its training window like batch-scored
days are, and once a day's labels are in, its answered rows are joined to them by the spec's id columns
(`scoring.id_columns`, with the day) for the realized metric. Rows the challenger answered (canary) or
scored beside the champion (shadow) are compared with the champion's and recorded on the challenger's
version, as batch shadow scoring does: evidence for the gate and for approvers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nightshift.data.batches import read_batches
from nightshift.data.lake import Lake
from nightshift.model.features import make_target
from nightshift.model.metrics import compute_metrics
from nightshift.model.registry import CHALLENGER, Registry
from nightshift.operate.scoring import agreement
from nightshift.operate.serving.prediction_log import ONLINE
from nightshift.spec import ModelSpec

KEY = ["request_id", "row"]  # one answered row: shadow rows carry the key of the row they shadow


@dataclass(frozen=True)
class OnlineTraffic:
    """The champion's online rows of the recent days: their inputs, and their labels where known."""

    inputs: pd.DataFrame      # the logged model inputs of the rows the champion answered
    predictions: np.ndarray
    realized: float | None    # the primary metric on those of them whose labels are known
    labelled_rows: int


def online_rows(spec: ModelSpec, lake: Lake, days: list[dt.date]) -> pd.DataFrame:
    """Every row the server logged for these days (empty without online traffic)."""
    return read_batches(lake, "predictions", spec.name, days, ONLINE)


def labelled(spec: ModelSpec, logged: pd.DataFrame, validated: pd.DataFrame) -> pd.DataFrame:
    """`logged` with `y`, the label of each row whose day's rows are validated and hold its id columns."""
    keys = ["date", *spec.scoring.id_columns]
    y, known = make_target(spec, validated[spec.target.column])
    labels = validated.loc[known.to_numpy(), [*spec.scoring.id_columns, "date"]].assign(y=y[known].to_numpy())
    labels = labels.drop_duplicates(keys, keep=False)  # an id that is not unique in its day labels nothing
    labels = labels.astype({column: logged[column].dtype for column in spec.scoring.id_columns})  # requests' types
    return logged.merge(labels, on=keys, how="inner", validate="many_to_one")


def champion_traffic(spec: ModelSpec, logged: pd.DataFrame, version: str, validated: pd.DataFrame,
                     features: list[str]) -> OnlineTraffic | None:
    """The rows `version` answered as champion; None if it answered none."""
    answered = logged[(logged["route"] == "champion") & (logged["model_version"] == version)]
    if answered.empty:
        return None
    realized, rows = None, 0
    if spec.task != "multiclass" and spec.scoring.id_columns:  # multiclass logs no probability per class
        known = labelled(spec, answered, validated)
        rows = len(known)
        if rows:
            realized = compute_metrics(spec.task, known["y"], known["prediction"])[spec.gate.primary_metric]
    return OnlineTraffic(answered[features].reset_index(drop=True), answered["prediction"].to_numpy(), realized,
                         rows)


def record_challenger_evidence(spec: ModelSpec, registry: Registry, logged: pd.DataFrame, validated: pd.DataFrame,
                               as_of: dt.date) -> dict[str, float]:
    """The challenger's online rows (canary, shadow) against the champion's, as metrics on its run (one step
    per `as_of`) and tags on its version; returns them (empty without a challenger or its rows)."""
    challenger = registry.alias_version(spec.name, CHALLENGER)
    if challenger is None or spec.task == "multiclass":
        return {}
    mine = logged[logged["model_version"] == challenger]
    champion = logged[logged["route"] == "champion"]
    evidence: dict[str, float] = {}
    shadow = mine[mine["route"] == "shadow"].merge(champion[[*KEY, "prediction"]], on=KEY, suffixes=("", "_champion"))
    if len(shadow):
        evidence |= _compared("shadow", spec, shadow, validated)
    canary = mine[mine["route"] == "canary"]
    if len(canary):
        evidence |= {"canary_rows": float(len(canary))} | _judged("canary_challenger", spec, canary, validated)
        evidence |= _judged("canary_champion", spec, champion, validated)
    if evidence:
        registry.log_to_run(spec.name, challenger, metrics={f"online_{k}": v for k, v in evidence.items()},
                            step=as_of.toordinal())
        registry.tag_version(spec.name, challenger, {"online.as_of": as_of.isoformat(),
                                                     **{f"online.{k}": f"{v:.4g}" for k, v in evidence.items()}})
    return evidence


def _compared(side: str, spec: ModelSpec, rows: pd.DataFrame, validated: pd.DataFrame) -> dict[str, float]:
    """Shadow rows (the challenger's `prediction` beside the champion's): agreement, and both metrics."""
    new, old = rows["prediction"].to_numpy(), rows["prediction_champion"].to_numpy()
    evidence = {f"{side}_rows": float(len(rows))}
    evidence |= {f"{side}_{name}": value for name, value in agreement(spec.task, old, new).items()}
    evidence |= _judged(f"{side}_challenger", spec, rows, validated)
    evidence |= _judged(f"{side}_champion", spec, rows.assign(prediction=old), validated)
    return evidence


def _judged(name: str, spec: ModelSpec, rows: pd.DataFrame, validated: pd.DataFrame) -> dict[str, float]:
    """`{name}_<primary metric>` on those of `rows` whose labels are known (nothing if none are)."""
    if not spec.scoring.id_columns:
        return {}
    known = labelled(spec, rows, validated)
    if known.empty:
        return {}
    metric = spec.gate.primary_metric
    return {f"{name}_{metric}": float(compute_metrics(spec.task, known["y"], known["prediction"])[metric])}
