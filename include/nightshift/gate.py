"""Challenger vs champion on the same holdout -> GateReport. Fails closed.

A challenger is promoted only when every check passes. A missing or NaN metric fails its check, and a
first model (no champion) needs absolute thresholds in the spec: with none, nothing is promoted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from dataclasses import dataclass, field

import numpy as np

from nightshift.lake import Lake
from nightshift.registry import CHAMPION, Registry
from nightshift.spec import ModelSpec


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class GateReport:
    model: str
    challenger_version: str
    champion_version: str | None
    primary_metric: str
    holdout: list[str]
    holdout_rows: int
    challenger: dict[str, float]
    champion: dict[str, float] | None
    checks: list[Check] = field(default_factory=list)

    @property
    def decision(self) -> str:
        return "promote" if self.checks and all(c.passed for c in self.checks) else "reject"

    @property
    def failed_checks(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "decision": self.decision, "failed_checks": self.failed_checks}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        """Human-readable report for the task log and the MLflow run."""
        champion = f"champion v{self.champion_version}" if self.champion_version else "no champion yet"
        lines = [
            f"GATE {self.model}: challenger v{self.challenger_version} vs {champion} -> {self.decision.upper()}",
            f"holdout {self.holdout[0]}..{self.holdout[-1]} ({len(self.holdout)} days, {self.holdout_rows:,} rows)",
            f"{'metric':<10} {'challenger':>11} {'champion':>11}",
        ]
        for metric, value in self.challenger.items():
            other = (self.champion or {}).get(metric)
            lines.append(f"{metric:<10} {value:>11.4f} {'-' if other is None else f'{other:.4f}':>11}")
        lines.append(f"{'check':<34} {'result':<6} detail")
        lines += [f"{c.name:<34} {'pass' if c.passed else 'FAIL':<6} {c.detail}" for c in self.checks]
        return "\n".join(lines)


def compute_metrics(task: str, y_true, prediction) -> dict[str, float]:
    """Holdout metrics; for classification `prediction` is the positive-class probability.
    A metric that cannot be computed (one class only) is NaN, which the gate treats as failing."""
    from sklearn import metrics

    y_true = np.asarray(y_true)
    prediction = np.asarray(prediction, dtype="float64")
    if task == "regression":
        return {
            "rmse": float(np.sqrt(metrics.mean_squared_error(y_true, prediction))),
            "mae": float(metrics.mean_absolute_error(y_true, prediction)),
            "r2": float(metrics.r2_score(y_true, prediction)),
        }
    both_classes = len(np.unique(y_true)) == 2
    return {
        "roc_auc": float(metrics.roc_auc_score(y_true, prediction)) if both_classes else math.nan,
        "log_loss": float(metrics.log_loss(y_true, prediction, labels=[0, 1])),
        "accuracy": float(metrics.accuracy_score(y_true, prediction >= 0.5)),
        "brier": float(metrics.brier_score_loss(y_true, prediction)),
    }


def judge(spec: ModelSpec, challenger: dict[str, float], champion: dict[str, float] | None) -> list[Check]:
    """The gate's checks, in order: absolute thresholds, then improvement over the champion."""
    gate, higher_is_better = spec.gate, spec.metric_directions
    checks = []
    if champion is None and not gate.thresholds:
        checks.append(Check("thresholds configured", False,
                            "a first model needs absolute thresholds in gate.thresholds; none are set"))
    for metric, bound in gate.thresholds.items():
        value = challenger.get(metric, math.nan)
        if not _known(value):
            checks.append(Check(f"{metric} threshold", False, f"{metric} is missing or NaN"))
            continue
        low_ok = bound.min is None or value >= bound.min
        high_ok = bound.max is None or value <= bound.max
        limits = " and ".join(f"{side} {limit}" for side, limit in (("min", bound.min), ("max", bound.max))
                              if limit is not None)
        checks.append(Check(f"{metric} threshold", low_ok and high_ok, f"{value:.4f} vs {limits}"))
    if champion is not None:
        metric = gate.primary_metric
        new, old = challenger.get(metric, math.nan), champion.get(metric, math.nan)
        if not (_known(new) and _known(old)):
            checks.append(Check(f"{metric} vs champion", False, f"{metric} missing or NaN ({new} vs {old})"))
        else:
            gain = (new - old) if higher_is_better[metric] else (old - new)
            checks.append(Check(f"{metric} vs champion", gain >= gate.vs_champion.min_delta,
                                f"improvement {gain:+.4f}, needs >= {gate.vs_champion.min_delta}"))
    return checks


def _known(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def predict(model, task: str, X) -> np.ndarray:
    return model.predict_proba(X)[:, 1] if task == "classification" else model.predict(X)


def evaluate_challenger(spec: ModelSpec, lake: Lake, registry: Registry, version: str,
                        holdout: list[dt.date]) -> GateReport:
    """Score challenger and champion on the same holdout, judge, and record the report on the
    challenger's MLflow run and version tags. Idempotent for a given version and holdout."""
    from nightshift.train import load_features

    data = load_features(spec, lake, holdout)
    champion_version = registry.alias_version(spec.name, CHAMPION)
    challenger = compute_metrics(spec.task, data.y, predict(registry.load_model(spec.name, version), spec.task, data.X))
    champion = None
    if champion_version is not None:
        champion_model = registry.load_model(spec.name, champion_version)
        champion = compute_metrics(spec.task, data.y, predict(champion_model, spec.task, data.X))
    report = GateReport(
        model=spec.name, challenger_version=version, champion_version=champion_version,
        primary_metric=spec.gate.primary_metric, holdout=[d.isoformat() for d in holdout],
        holdout_rows=data.rows, challenger=challenger, champion=champion,
        checks=judge(spec, challenger, champion),
    )
    _record(registry, report)
    return report


def _record(registry: Registry, report: GateReport) -> None:
    run_id = registry.run_id(report.model, report.challenger_version)
    client = registry.client
    client.log_dict(run_id, report.to_dict(), "gate/report.json")
    client.log_text(run_id, report.table(), "gate/report.txt")
    for metric, value in report.challenger.items():
        if _known(value):
            client.log_metric(run_id, f"holdout_{metric}", value)
    registry.tag_version(report.model, report.challenger_version, {
        "gate.decision": report.decision,
        "gate.failed_checks": ",".join(report.failed_checks) or "none",
        "gate.champion_version": report.champion_version or "none",
        "gate.primary_metric": f"{report.primary_metric}={report.challenger[report.primary_metric]:.4f}",
        "gate.report": "gate/report.json in the run's artifacts",
    })
