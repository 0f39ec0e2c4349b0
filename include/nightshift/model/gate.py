"""Challenger vs champion on the same holdout -> GateReport. Fails closed.

A challenger is promoted only when every check passes: absolute thresholds, improvement over the
champion with bootstrap confidence, no secondary metric or slice much worse, size and latency
budgets, and a clean load in a fresh process. A missing or NaN value fails its check; a first model
(no champion) needs absolute thresholds: with none, nothing is promoted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Literal

from nightshift.data.lake import Lake
from nightshift.failures import ModelError
from nightshift.model.inputs import VersionModel, judged_rows, predict, window_features
from nightshift.model.metrics import Interval, SliceResult, compute_metrics, paired_bootstrap, slice_drops
from nightshift.model.registry import CHAMPION, ChampionChanged, Registry
from nightshift.spec import ModelSpec

WORST_SLICES_KEPT = 10
Decision = Literal["promote", "reject"]


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    """What promotion needs from a gate run; small enough for XCom."""

    challenger_version: str
    champion_version: str | None
    decision: Decision
    failed_checks: list[str]
    holdout: list[dt.date]

    def to_xcom(self) -> dict:
        return {**dataclasses.asdict(self), "holdout": [day.isoformat() for day in self.holdout]}

    @classmethod
    def from_xcom(cls, data: dict) -> Verdict:
        return cls(**{**data, "holdout": [dt.date.fromisoformat(day) for day in data["holdout"]]})


@dataclass(frozen=True)
class Approval:
    """A human's answer at the approve task of a model with `approval: manual`."""

    approved: bool
    by: str
    reason: str

    def record(self, registry: Registry, model: str, verdict: Verdict) -> Verdict:
        """Tag the answer on the challenger's version; a rejection turns the verdict into a reject."""
        registry.tag_version(model, verdict.challenger_version, {
            "approval.decision": "approved" if self.approved else "rejected",
            "approval.by": self.by, "approval.reason": self.reason or "(none given)"})
        if self.approved:
            return verdict
        return dataclasses.replace(verdict, decision="reject", failed_checks=[*verdict.failed_checks, "human approval"])


@dataclass
class GateReport:
    """The evidence measured on the holdout, and the checks judged from it."""

    model: str
    challenger_version: str
    champion_version: str | None
    primary_metric: str
    holdout: list[dt.date]
    holdout_rows: int
    challenger: dict[str, float]
    champion: dict[str, float] | None
    interval: Interval | None = None
    slices: list[SliceResult] = field(default_factory=list)  # worst first
    undefined_slices: list[str] = field(default_factory=list)
    unknown_classes: dict[str, int] = field(default_factory=dict)  # multiclass: holdout rows left out, by label
    leaderboard: list[dict] = field(default_factory=list)  # the trials of the search that chose it, best first
    budgets: dict[str, float] = field(default_factory=dict)
    infra_error: str | None = None  # None: not run; "": loaded and predicted in a fresh process
    checks: list[Check] = field(default_factory=list)

    @property
    def decision(self) -> Decision:
        return "promote" if self.checks and all(c.passed for c in self.checks) else "reject"

    @property
    def failed_checks(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        """JSON-ready: days as ISO strings."""
        return {**dataclasses.asdict(self), "holdout": [day.isoformat() for day in self.holdout],
                "decision": self.decision, "failed_checks": self.failed_checks}

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.challenger_version, self.champion_version, self.decision, self.failed_checks, self.holdout)

    def table(self) -> str:
        """Human-readable report for the task log and the MLflow run."""
        champion = f"champion v{self.champion_version}" if self.champion_version else "no champion yet"
        lines = [
            f"GATE {self.model}: challenger v{self.challenger_version} vs {champion} -> {self.decision.upper()}",
            f"holdout {self.holdout[0]}..{self.holdout[-1]} ({len(self.holdout)} days, {self.holdout_rows:,} rows)",
        ]
        if self.unknown_classes:
            lines.append(f"left out: {sum(self.unknown_classes.values()):,} holdout rows of labels no model learned: "
                         f"{self.unknown_classes}")
        lines.append(f"{'metric':<10} {'challenger':>11} {'champion':>11}")
        for metric, value in self.challenger.items():
            other = (self.champion or {}).get(metric)
            lines.append(f"{metric:<10} {value:>11.4f} {'-' if other is None else f'{other:.4f}':>11}")
        if self.slices:
            lines.append("worst slices (primary metric: challenger / champion, drop)")
            lines += [f"  {s.column}={s.value:<8} {s.rows:>6,} rows  {s.challenger:.4f} / {s.champion:.4f}  "
                      f"{s.drop:+.4f}" for s in self.slices[:5]]
        if self.leaderboard:
            lines.append(f"chosen by a search of {len(self.leaderboard)} trials on the validation days "
                         "(validation metric, estimator, params):")
            lines += [f"  #{t['number']:<3} {'failed' if t['metric'] is None else format(t['metric'], '.4f'):>8}  "
                      f"{t['config']['estimator']} {t['config']['params']}" for t in self.leaderboard[:5]]
        lines.append(f"{'check':<34} {'result':<6} detail")
        lines += [f"{c.name:<34} {'pass' if c.passed else 'FAIL':<6} {c.detail}" for c in self.checks]
        return "\n".join(lines)


def judge(spec: ModelSpec, report: GateReport) -> list[Check]:
    """The gate's checks on measured evidence. Pure: no I/O, so every rule is unit-tested."""
    return [*_threshold_checks(spec, report), *_champion_checks(spec, report), *_budget_checks(spec, report),
            *_infra_checks(report)]


def _known(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def _threshold_checks(spec: ModelSpec, report: GateReport) -> list[Check]:
    checks = []
    if report.champion is None and not spec.gate.thresholds:
        checks.append(Check("thresholds configured", False,
                            "a first model needs absolute thresholds in gate.thresholds; none are set"))
    for metric, bound in spec.gate.thresholds.items():
        value = report.challenger.get(metric)
        if not _known(value):
            checks.append(Check(f"{metric} threshold", False, f"{metric} is missing or NaN"))
            continue
        ok = (bound.min is None or value >= bound.min) and (bound.max is None or value <= bound.max)
        limits = " and ".join(f"{side} {limit}" for side, limit in (("min", bound.min), ("max", bound.max))
                              if limit is not None)
        checks.append(Check(f"{metric} threshold", ok, f"{value:.4f} vs {limits}"))
    return checks


def _champion_checks(spec: ModelSpec, report: GateReport) -> list[Check]:
    if report.champion is None:
        return []
    rules, higher_is_better, metric = spec.gate.vs_champion, spec.metric_directions, spec.gate.primary_metric
    new, old = report.challenger.get(metric), report.champion.get(metric)
    if not (_known(new) and _known(old)):
        checks = [Check(f"{metric} vs champion", False, f"{metric} missing or NaN ({new} vs {old})")]
    else:
        gain = (new - old) if higher_is_better[metric] else (old - new)
        checks = [Check(f"{metric} vs champion", gain >= rules.min_delta,
                        f"improvement {gain:+.4f}, needs >= {rules.min_delta}")]
    if rules.confidence is not None:
        interval = report.interval
        if interval is None or not _known(interval.lower):
            checks.append(Check(f"{metric} confidence", False, "no bootstrap interval could be computed"))
        else:
            checks.append(Check(
                f"{metric} confidence", interval.lower > rules.min_delta,
                f"{interval.confidence:.0%} interval of the gain [{interval.lower:+.4f}, {interval.upper:+.4f}] "
                f"({interval.resamples} paired resamples); lower bound must exceed {rules.min_delta}"))
    for secondary, allowed in rules.max_relative_drop.items():
        new, old = report.challenger.get(secondary), report.champion.get(secondary)
        if not (_known(new) and _known(old)) or old == 0:
            checks.append(Check(f"{secondary} relative drop", False, f"{secondary} missing, NaN or zero"))
            continue
        worse = ((old - new) if higher_is_better[secondary] else (new - old)) / abs(old)
        compared = f"{worse:.2%} worse than" if worse > 0 else f"{-worse:.2%} better than" if worse < 0 else "as"
        checks.append(Check(f"{secondary} relative drop", worse <= allowed,
                            f"{compared} the champion, allowed {allowed:.2%} worse"))
    if spec.gate.slices:
        worst = report.slices[0] if report.slices else None
        if worst is None:
            checks.append(Check("slices", False, f"no slice of {spec.gate.slices.columns} has "
                                                 f">= {spec.gate.slices.min_rows} rows to judge"))
        else:
            checks.append(Check("slices", worst.drop <= spec.gate.slices.max_drop,
                                f"worst {worst.column}={worst.value} ({worst.rows} rows) drops {worst.drop:+.4f}, "
                                f"allowed {spec.gate.slices.max_drop}"))
    return checks


def _budget_checks(spec: ModelSpec, report: GateReport) -> list[Check]:
    checks = []
    for name, limit in spec.gate.budgets.model_dump().items():
        if limit is None:
            continue
        measured = report.budgets.get(name)
        if not _known(measured):
            checks.append(Check(f"budget {name}", False, "not measured"))
        else:
            checks.append(Check(f"budget {name}", measured <= limit, f"{measured:.1f} vs limit {limit}"))
    return checks


def _infra_checks(report: GateReport) -> list[Check]:
    if report.infra_error is None:
        return []
    return [Check("loads in a fresh process", report.infra_error == "", report.infra_error or "loaded and predicted")]


def predict_ms_per_1k_rows(model, task: str, X, repeats: int = 5) -> float:
    """Median CPU time of predicting 1,000 holdout rows on one thread: what one serving request costs.
    CPU time on one thread, not wall time, so a busy machine (other tasks on the worker, OpenMP threads
    spinning for a core) does not fail a model that is fast enough."""
    from threadpoolctl import threadpool_limits

    sample = X.head(1000)
    timings = []
    with threadpool_limits(limits=1):
        for _ in range(repeats):
            started = time.process_time()
            predict(model, task, sample)
            timings.append((time.process_time() - started) * 1000 * 1000 / len(sample))
    return statistics.median(timings)


def evaluate_challenger(spec: ModelSpec, lake: Lake, registry: Registry, version: str,
                        holdout: list[dt.date], *, infra_check: bool = True) -> GateReport:
    """Score challenger and champion on the same holdout, judge, and record the report on the
    challenger's MLflow run and version tags. Idempotent for a given version, champion and holdout."""
    from nightshift.model.load_check import fresh_load_check

    # The fresh-process load check spends seconds importing and loading: it does so while the holdout is
    # built and both models are scored, then predicts on a sample of the holdout.
    with fresh_load_check(spec.name, version) if infra_check else contextlib.nullcontext() as load_check:
        data = window_features(spec, lake, holdout, materialise=True)  # the model's current spec
        report = _compare(spec, lake, registry, version, holdout, data)
        report.infra_error = load_check.result(data.X.head(100)) if load_check else None
    report.checks = judge(spec, report)
    _record(registry, report, spec.metric_directions)
    return report


def _compare(spec: ModelSpec, lake: Lake, registry: Registry, version: str, holdout: list[dt.date],
             data) -> GateReport:
    """The challenger's holdout metrics and budgets, and the champion's on the same rows."""
    task, metric = spec.task, spec.gate.primary_metric
    higher_is_better = spec.metric_directions[metric]
    challenger = VersionModel.load(registry, lake, spec, version)
    new = challenger.predict_inputs(data.X)
    alone = judged_rows(task, data.y, [new], [challenger.classes])
    measured = compute_metrics(task, alone.y, alone.predictions[0])
    if not _known(measured.get(metric)):
        labels = data.y.value_counts(dropna=False).head(5)
        raise ModelError(
            f"challenger v{version}'s {metric} on the holdout {holdout[0]}..{holdout[-1]} ({data.rows:,} rows) is "
            "NaN: the gate cannot judge it", kind="nan_metric",
            evidence="holdout labels: " + ", ".join(f"{value}: {count:,}" for value, count in labels.items()),
            hint="The holdout has one class (or no rows): check the target rule in the spec, or lengthen "
                 "windows.holdout_days.")
    report = GateReport(
        model=spec.name, challenger_version=version, champion_version=registry.alias_version(spec.name, CHAMPION),
        primary_metric=metric, holdout=holdout, holdout_rows=data.rows,
        challenger=measured, champion=None, unknown_classes=alone.unknown_classes,
        leaderboard=registry.leaderboard(spec.name, version) if spec.model.tuned else [],
        budgets={"model_size_mb": float(registry.version_tags(spec.name, version).get("model_size_mb", "nan")),
                 "predict_ms_per_1k_rows": predict_ms_per_1k_rows(challenger.model, task, data.X)},
    )
    if report.champion_version is not None:
        # The holdout as the champion's own spec builds it (its features may differ from today's spec);
        # the rows are the same, since a champion trained for another dataset or target is refused.
        champion = VersionModel.load(registry, lake, spec, report.champion_version)
        same_inputs = (champion.spec.lookups, champion.spec.features) == (spec.lookups, spec.features)
        old = champion.predict_inputs(data.X if same_inputs else window_features(champion.spec, lake, holdout).X)
        both = judged_rows(task, data.y, [new, old], [challenger.classes, champion.classes])
        (new, old), report.unknown_classes = both.predictions, both.unknown_classes
        report.challenger, report.champion = (compute_metrics(task, both.y, each) for each in (new, old))
        rules = spec.gate.vs_champion
        if rules.confidence is not None:
            report.interval = paired_bootstrap(task, metric, higher_is_better, both.y, new, old,
                                               confidence=rules.confidence, resamples=rules.resamples,
                                               seed=spec.model.seed)
        if spec.gate.slices:
            slices = spec.gate.slices
            worst, report.undefined_slices = slice_drops(task, metric, higher_is_better, data.X[both.kept], both.y,
                                                         new, old, slices.columns, slices.min_rows)
            report.slices = worst[:WORST_SLICES_KEPT]
    return report


def promote_if_better(spec: ModelSpec, lake: Lake, registry: Registry, verdict: Verdict,
                      rounds: int = 3) -> tuple[Verdict, str | None]:
    """Promote a passing challenger by compare-and-set. When the champion moved since the gate ran,
    judge again against the new champion, then retry. Returns the final verdict and the replaced
    champion (None when there was none, or the challenger was rejected)."""
    for _ in range(rounds):
        if verdict.decision != "promote":
            registry.retire_challenger(spec.name, verdict.challenger_version)
            return verdict, None
        try:
            return verdict, registry.promote(spec.name, verdict.challenger_version, verdict.champion_version)
        except ChampionChanged:
            verdict = evaluate_challenger(spec, lake, registry, verdict.challenger_version, verdict.holdout).verdict
    raise ModelError(f"{spec.name}: the champion changed {rounds} times while promoting v{verdict.challenger_version}",
                     kind="champion_changed", hint="Another retrain keeps promoting; rerun this one later.")


def _record(registry: Registry, report: GateReport, higher_is_better: dict[str, bool]) -> None:
    from nightshift.model.gate_plot import plot_report

    registry.log_to_run(
        report.model, report.challenger_version,
        dicts={"gate/report.json": report.to_dict()}, texts={"gate/report.txt": report.table()},
        figures={"gate/report.png": plot_report(report, higher_is_better)},
        metrics={f"holdout_{metric}": value for metric, value in report.challenger.items() if _known(value)})
    registry.tag_version(report.model, report.challenger_version, {
        "gate.decision": report.decision,
        "gate.failed_checks": ",".join(report.failed_checks) or "none",
        "gate.champion_version": report.champion_version or "none",
        "gate.primary_metric": f"{report.primary_metric}={report.challenger[report.primary_metric]:.4f}",
        "gate.report": "gate/report.json, gate/report.txt, gate/report.png in the run's artifacts",
    })
