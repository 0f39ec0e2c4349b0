"""Champion health: its inputs and predictions on the recent days against its training window, and
its realized performance once the labels are in. A breach is a decay signal: the monitor DAG then
announces the Asset that triggers a retrain.

Drift per feature: PSI (numeric on the training window's deciles, categorical on shares) and, for
numeric features, the Kolmogorov-Smirnov statistic. Realized performance: the primary metric on the
recent days whose labels are known (`label_delay_days`), against the champion's own holdout metric.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field

import pandas as pd

from nightshift.data.lake import Lake
from nightshift.failures import DataError, ModelError
from nightshift.model.features import make_target
from nightshift.model.inputs import VersionModel, judged_rows
from nightshift.model.metrics import category_psi, compute_metrics, psi
from nightshift.model.registry import CHAMPION, Registry
from nightshift.spec import ModelSpec


@dataclass(frozen=True)
class Drift:
    feature: str
    psi: float
    ks: float | None  # numeric features only
    beyond_limits: bool
    expected: bool    # listed in monitoring.expected_drift: reported, no decay signal


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
        if self.realized is not None:
            lines.append(f"realized {self.realized:.4f} vs holdout {self.expected:.4f}")
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
                           prediction_psi=_prediction_psi(champion, before, now))
    report.drift = [_drift(feature, before[feature], now[feature], champion.spec, rules)
                    for feature in champion.spec.features.columns]
    labelled = recent[recent["date"].dt.date <= as_of - dt.timedelta(days=rules.label_delay_days)]
    if not labelled.empty:
        report.realized, report.expected = _realized(spec, champion, labelled), _holdout_metric(registry, spec, version)
    report.breaches = _breaches(spec, report)
    _record(registry, report)
    return report


def _drift(feature: str, before: pd.Series, now: pd.Series, trained_with: ModelSpec, rules) -> Drift:
    expected = feature in rules.expected_drift
    if feature in trained_with.features.categorical:
        value = category_psi(before.dropna(), now.dropna())
        return Drift(feature, value, None, value > rules.max_psi, expected)
    from scipy.stats import ks_2samp

    before, now = before.dropna().to_numpy(float), now.dropna().to_numpy(float)
    value, ks = psi(before, now), float(ks_2samp(before, now).statistic) if len(before) and len(now) else 1.0
    return Drift(feature, value, ks, value > rules.max_psi or ks > rules.max_ks, expected)


def _prediction_psi(champion: VersionModel, before: pd.DataFrame, now: pd.DataFrame) -> float:
    """How far the champion's predictions moved from those on its training window; multiclass: the mix of
    the classes it predicts."""
    reference, recent = champion.predict_inputs(before), champion.predict_inputs(now)
    if champion.classes is None:
        return psi(reference, recent)
    return category_psi(champion.labels(reference), champion.labels(recent))


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
    if report.realized is not None and report.expected is not None:
        sign = 1 if spec.metric_directions[spec.gate.primary_metric] else -1
        if sign * (report.expected - report.realized) > rules.max_metric_drop:
            breaches.append(f"decay:{spec.gate.primary_metric}")
    return breaches


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
