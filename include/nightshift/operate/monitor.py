"""Champion health: its inputs and predictions on the recent days against its training window, and
its realized performance once the labels are in. A breach is a decay signal: the monitor DAG then
announces the Asset that triggers a retrain.

Drift per feature: PSI (numeric on the training window's deciles, categorical on shares) and, for
numeric features, the Kolmogorov-Smirnov statistic. Realized performance: the primary metric on the
recent days whose labels are known (`label_delay_days`), against the champion's own holdout metric.
Online traffic (rows `nightshift serve` answered on the recent days) is judged the same way, apart:
see `nightshift.operate.online_monitor`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nightshift.data.lake import Lake
from nightshift.failures import DataError, ModelError
from nightshift.model.features import make_target
from nightshift.model.inputs import VersionModel, judged_rows
from nightshift.model.metrics import category_psi, compute_metrics, psi
from nightshift.model.registry import CHAMPION, Registry
from nightshift.operate.online_monitor import champion_traffic, online_rows, record_challenger_evidence
from nightshift.spec import ModelSpec


@dataclass(frozen=True)
class Drift:
    feature: str
    psi: float
    ks: float | None  # numeric features only
    beyond_limits: bool
    expected: bool    # listed in monitoring.expected_drift: reported, no decay signal


@dataclass(frozen=True)
class Online:
    """The champion's online traffic: live inputs against its training window, realized once labelled."""

    rows: int
    drift: list[Drift]
    prediction_psi: float
    realized: float | None
    labelled_rows: int


@dataclass
class MonitorReport:
    model: str
    champion_version: str
    as_of: dt.date
    recent_days: list[dt.date]
    reference_days: list[dt.date]
    drift: list[Drift]
    prediction_psi: float
    realized: float | None = None   # primary metric on the labelled recent days
    expected: float | None = None   # the champion's holdout metric at its gate
    breaches: list[str] = field(default_factory=list)
    online: Online | None = None    # what `nightshift serve` answered on the recent days
    challenger_online: dict[str, float] = field(default_factory=dict)  # its canary and shadow evidence

    def to_dict(self) -> dict:
        """JSON-ready: days as ISO strings."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=dt.date.isoformat))

    def table(self) -> str:
        lines = [f"MONITOR {self.model}: champion v{self.champion_version}, {len(self.recent_days)} recent days up to "
                 f"{self.as_of} vs its {len(self.reference_days)} training days -> "
                 + (f"DECAY ({', '.join(self.breaches)})" if self.breaches else "healthy"),
                 f"{'feature':<16} {'PSI':>7} {'KS':>7}"]
        for d in sorted(self.drift, key=lambda d: -d.psi):
            ks = "" if d.ks is None else f"{d.ks:.3f}"
            flag = ("  (expected)" if d.expected else "  BREACH") if d.beyond_limits else ""
            lines.append(f"{d.feature:<16} {d.psi:>7.3f} {ks:>7}{flag}")
        lines.append(f"{'prediction':<16} {self.prediction_psi:>7.3f}")
        holdout = "" if self.expected is None else f" vs holdout {self.expected:.4f}"
        if self.realized is not None:
            lines.append(f"realized {self.realized:.4f}{holdout}")
        if online := self.online:
            drifted = [f"{d.feature} (PSI {d.psi:.3f})" for d in online.drift if d.beyond_limits and not d.expected]
            lines.append(f"online: {online.rows} rows answered; prediction PSI {online.prediction_psi:.3f}; drifted: "
                         f"{', '.join(drifted) or 'none'}")
            if online.realized is not None:
                lines.append(f"online realized {online.realized:.4f}{holdout} on {online.labelled_rows} labelled rows")
        if self.challenger_online:
            lines.append("challenger online: " + ", ".join(f"{k} {v:.4g}" for k, v in self.challenger_online.items()))
        return "\n".join(lines)


def monitor(spec: ModelSpec, lake: Lake, registry: Registry, as_of: dt.date) -> MonitorReport:
    """Measure the champion on the `monitoring.window_days` validated days up to `as_of`; logs the report
    (JSON, table, plot) to the champion's run under `monitoring/<as_of>/` and tags the version."""
    rules, dataset = spec.monitoring, spec.source.dataset
    version = registry.alias_version(spec.name, CHAMPION)
    if version is None:
        raise ModelError(f"{spec.name} has no champion to monitor", kind="no_champion",
                         hint="Monitoring starts once the retrain DAG promotes a model.")
    recent_days = lake.coverage(dataset, as_of - dt.timedelta(days=rules.window_days - 1), as_of).validated
    if not recent_days:
        raise DataError(f"no validated days of {dataset} in the {rules.window_days} days up to {as_of}",
                        kind="empty_window", hint="Ingest the recent days first.")
    champion = VersionModel.load(registry, lake, spec, version)
    reference_days = [dt.date.fromisoformat(d) for d in registry.training_window(spec.name, version)["train"]]
    reference, recent = (lake.read_days("validated", dataset, days) for days in (reference_days, recent_days))
    before, now = champion.inputs(reference), champion.inputs(recent)

    report = MonitorReport(spec.name, version, as_of, recent_days, reference_days, drift=[],
                           prediction_psi=_prediction_psi(champion, reference := _predicted(champion, before),
                                                          _predicted(champion, now)))
    report.drift = [_drift(feature, before[feature], now[feature], champion.spec, rules)
                    for feature in champion.spec.features.columns]
    labelled = recent[recent["date"].dt.date <= as_of - dt.timedelta(days=rules.label_delay_days)]
    report.expected = _holdout_metric(registry, spec, version)
    if not labelled.empty:
        report.realized = _realized(spec, champion, labelled)
    logged = online_rows(spec, lake, recent_days)
    if len(logged):
        report.online = _online(spec, champion, before, reference, logged, labelled, rules)
        report.challenger_online = record_challenger_evidence(spec, registry, logged, labelled, as_of)
    report.breaches = _breaches(spec, report)
    _record(registry, report)
    return report


def _online(spec: ModelSpec, champion: VersionModel, before: pd.DataFrame, reference: np.ndarray,
            logged: pd.DataFrame, labelled: pd.DataFrame, rules) -> Online | None:
    """The champion's online rows against its training window (`before`, and `reference`: its predictions)."""
    features = champion.spec.features.columns
    traffic = champion_traffic(spec, logged, champion.version, labelled, features)
    if traffic is None:
        return None
    drift = [_drift(feature, before[feature], traffic.inputs[feature], champion.spec, rules) for feature in features]
    return Online(len(traffic.inputs), drift, _prediction_psi(champion, reference, traffic.predictions),
                  traffic.realized, traffic.labelled_rows)


def _drift(feature: str, before: pd.Series, now: pd.Series, trained_with: ModelSpec, rules) -> Drift:
    expected = feature in rules.expected_drift
    if feature in trained_with.features.categorical:
        value = category_psi(before.dropna(), now.dropna())
        return Drift(feature, value, None, value > rules.max_psi, expected)
    from scipy.stats import ks_2samp

    before, now = before.dropna().to_numpy(float), now.dropna().to_numpy(float)
    value, ks = psi(before, now), float(ks_2samp(before, now).statistic) if len(before) and len(now) else 1.0
    return Drift(feature, value, ks, value > rules.max_psi or ks > rules.max_ks, expected)


def _predicted(champion: VersionModel, X: pd.DataFrame) -> np.ndarray:
    """What the champion predicts for inputs `X` as it is logged: the value, or for multiclass the class."""
    predictions = champion.predict_inputs(X)
    return predictions if champion.classes is None else champion.labels(predictions)


def _prediction_psi(champion: VersionModel, reference: np.ndarray, recent: np.ndarray) -> float:
    """How far the champion's predictions (`_predicted`) moved from those on its training window; multiclass:
    the mix of the classes it predicts."""
    return psi(reference, recent) if champion.classes is None else category_psi(reference, recent)


def _realized(spec: ModelSpec, champion: VersionModel, labelled: pd.DataFrame) -> float | None:
    """The primary metric on the labelled rows (multiclass: of the classes the champion learned)."""
    y, known = make_target(spec, labelled[spec.target.column])
    known = known.to_numpy()
    if not known.any():
        return None
    judged = judged_rows(spec.task, y[known], [champion.predict(labelled[known])], [champion.classes])
    if not len(judged):
        return None
    return compute_metrics(spec.task, judged.y, judged.predictions[0])[spec.gate.primary_metric]


def _breaches(spec: ModelSpec, report: MonitorReport) -> list[str]:
    rules = spec.monitoring
    breaches = [f"drift:{d.feature}" for d in report.drift if d.beyond_limits and not d.expected]
    if report.prediction_psi > rules.max_psi:
        breaches.append("drift:prediction")
    if _decayed(spec, report.expected, report.realized):
        breaches.append(f"decay:{spec.gate.primary_metric}")
    if online := report.online:
        breaches += [f"online_drift:{d.feature}" for d in online.drift if d.beyond_limits and not d.expected]
        if online.prediction_psi > rules.max_psi:
            breaches.append("online_drift:prediction")
        if _decayed(spec, report.expected, online.realized):
            breaches.append(f"online_decay:{spec.gate.primary_metric}")
    return breaches


def _decayed(spec: ModelSpec, expected: float | None, realized: float | None) -> bool:
    """The realized primary metric is worse than the holdout's by more than monitoring.max_metric_drop."""
    if expected is None or realized is None:
        return False
    sign = 1 if spec.metric_directions[spec.gate.primary_metric] else -1
    return sign * (expected - realized) > spec.monitoring.max_metric_drop


def _holdout_metric(registry: Registry, spec: ModelSpec, version: str) -> float | None:
    return registry.run_metric(spec.name, version, f"holdout_{spec.gate.primary_metric}")


def _record(registry: Registry, report: MonitorReport) -> None:
    from nightshift.operate.monitor_plot import plot_monitor

    folder = f"monitoring/{report.as_of}"
    registry.log_to_run(report.model, report.champion_version,
                        texts={f"{folder}/report.json": json.dumps(report.to_dict(), indent=2),
                               f"{folder}/report.txt": report.table()},
                        figures={f"{folder}/drift.png": plot_monitor(report)})
    registry.tag_version(report.model, report.champion_version, {
        "monitoring.last_as_of": report.as_of, "monitoring.breaches": ",".join(report.breaches) or "none",
        "monitoring.report": f"{folder}/report.json, report.txt, drift.png in the run's artifacts"})
