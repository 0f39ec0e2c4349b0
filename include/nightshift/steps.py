"""One plain function per DAG task: what a task does, callable without Airflow.

The DAG factory wires these; `nightshift reproduce`, the tests and `bench/` call the same functions, so
the retrain sequence (`retrain`) exists once. Every step takes a `Run` (the model's current spec, the
lake, the registry, the settings) and explicit days, and returns a small result. A step with nothing to
do raises `NothingToDo`, which a task turns into a skip.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from nightshift.data.lake import Lake
from nightshift.failures import DataError
from nightshift.settings import Settings
from nightshift.spec import ModelSpec, load_spec, spec_path

if TYPE_CHECKING:
    from nightshift.data.validate import DayStatus
    from nightshift.model.aggregates import DayTables
    from nightshift.model.gate import Approval, GateReport, Verdict
    from nightshift.model.registry import Registry
    from nightshift.model.train import TrainResult
    from nightshift.operate.monitor import MonitorReport
    from nightshift.operate.scoring import DayScore

log = logging.getLogger("nightshift")


class NothingToDo(Exception):  # a signal, like SourceNotReady: the task is skipped
    """The step found no work (no day in raw/, nothing to announce, a healthy champion)."""


@dataclass
class Run:
    """What a step works on. The spec is the model's current spec file, read when the run starts (a
    version's own trained spec is used where its inputs are built: see `nightshift.model.inputs`)."""

    spec: ModelSpec
    lake: Lake
    settings: Settings = field(default_factory=Settings.from_env)

    @classmethod
    def of(cls, model: str, settings: Settings | None = None) -> Run:
        settings = settings or Settings.from_env()
        return cls(load_spec(spec_path(settings.models_dir, model)), Lake.from_uri(settings.lake_uri), settings)

    @cached_property
    def registry(self) -> Registry:
        """Opened on first use: data steps never need MLflow."""
        from nightshift.model.registry import Registry

        return Registry.from_env()


def day_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from start to end, inclusive."""
    if end < start:
        raise DataError(f"end {end} is before start {start}", hint="Fix the dates in the trigger form.")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


# ingest

def plan_ingest(run: Run, requested: list[dt.date], interval: tuple[dt.date, dt.date] | None) -> list[list[dt.date]]:
    """The days to ingest in chunks of `schedule.ingest_chunk_days` (a task instance per chunk): the
    requested days, else the run's data interval (`[start, end)`)."""
    days = requested
    if not days:
        if interval is None:
            raise DataError("no days to ingest: this run has no data interval",
                            hint="Trigger with the form's start (and end) dates.")
        days = day_range(interval[0], interval[1] - dt.timedelta(days=1))
    size = run.spec.schedule.ingest_chunk_days
    return [days[i:i + size] for i in range(0, len(days), size)]


def ingest_raw(run: Run, days: list[dt.date]) -> dict[dt.date, int]:
    """The source's rows of these days committed to raw/; rows per day."""
    from nightshift.data.ingest import ingest_days

    rows = ingest_days(run.spec, run.lake, days)
    log.info("raw rows per day: %s", ", ".join(f"{day}: {count}" for day, count in rows.items()))
    return rows


def validate(run: Run, days: list[dt.date]) -> dict[dt.date, DayStatus]:
    """Validate those of `days` that are in raw/ (another chunk's ingest may have failed), oldest first so
    each day's history checks see the days before it. Raises DataError if any day was quarantined."""
    from nightshift.data import validate as validation

    in_raw = set(run.lake.days("raw", run.spec.source.dataset))
    days = sorted(day for day in days if day in in_raw)
    if not days:
        raise NothingToDo("no day of this run is in raw/: nothing to validate")
    verdicts = validation.validate_days(run.spec, run.lake, days, run.settings.expectations_dir)
    if warned := [v for v in verdicts if v.warnings and not v.failures]:  # the failures end the log (raised below)
        log.info("warnings:\n%s", validation.findings_table(warned))
    validation.raise_if_quarantined(run.spec, verdicts)
    return {v.day: v.status for v in verdicts}


def features(run: Run, days: list[dt.date]) -> DayTables:
    """The rolling aggregates' tables of those of `days` that are validated, and of the later validated days
    whose history they are part of, materialised in features/ (fresh ones are left as they are)."""
    from nightshift.model.aggregates import materialise

    if not run.spec.features.aggregates:
        raise NothingToDo(f"{run.spec.name} declares no rolling aggregates (features.aggregates): nothing to "
                          "materialise")
    validated = set(run.lake.days("validated", run.spec.source.dataset))
    if not (days := sorted(day for day in days if day in validated)):
        raise NothingToDo("no day of this run is validated: no aggregates to materialise")
    tables = materialise(run.spec, run.lake, days)
    log.info("features/%s: %s", run.spec.name, tables.summary())
    return tables


def validated_days(run: Run, days: list[dt.date]) -> list[dt.date]:
    """Those of `days` that are in validated/ now: what the ingest run announces."""
    wanted = set(days)
    found = [day for day in run.lake.days("validated", run.spec.source.dataset) if day in wanted]
    if not found:
        raise NothingToDo("no day of this run was validated: nothing to announce")
    log.info("%d validated days announced: %s..%s", len(found), found[0], found[-1])
    return found


def release(run: Run, day: dt.date, *, reviewer: str, reason: str) -> dict:
    """A reviewed quarantined day moved to validated/; the release record."""
    from nightshift.data.release import release_day

    record = release_day(run.spec, run.lake, day, reviewer=reviewer, reason=reason)
    log.info("RELEASED %s %s to validated/ (by %s: %s)", run.spec.source.dataset, day, record["released_by"],
             record["reason"])
    return record


# retrain

def train(run: Run, as_of: dt.date, train_days: int | None = None, *, tune: bool = False,
          force: bool = False, params: dict | None = None) -> TrainResult:
    """Plan the window up to `as_of`, fit the challenger, register it. It searches (candidates and
    model.search) when `tune` asks or `schedule.tune` says a search is due; else it fits the last winner.
    `params` replace some of the spec's `model.params` for this run. Nothing to do when the champion was
    trained with this spec on these same partitions, unless `force` (or `tune`) asks."""
    from nightshift.model.train import plan_window, repeats_champion, train_challenger

    fitted_spec = run.spec.with_params(params)  # a value the spec cannot take fails before any data is read
    window = plan_window(run.spec, run.lake, as_of, train_days)
    log.info("training on %s%s", window.summary(), f" with params {params} over the spec's" if params else "")
    if not (tune or force) and (repeated := repeats_champion(fitted_spec, run.lake, run.registry, window)):
        raise NothingToDo(f"not retrained: {repeated}; the form's `force` retrains anyway")
    return train_challenger(run.spec, run.lake, run.registry, window, tune=tune, params=params)


def evaluate(run: Run, version: str, holdout: list[dt.date], *, infra_check: bool = True) -> GateReport:
    """Judge the challenger against the champion on the holdout; the report is recorded on its run."""
    from nightshift.model.gate import evaluate_challenger

    report = evaluate_challenger(run.spec, run.lake, run.registry, version, holdout, infra_check=infra_check)
    log.info("\n%s", report.table())
    return report


@dataclass(frozen=True)
class Promotion:
    verdict: Verdict         # the final one: judged again if the champion moved meanwhile
    replaced: str | None     # the champion a promotion replaced

    @property
    def promoted(self) -> bool:
        return self.verdict.decision == "promote"

    @property
    def champion(self) -> str | None:
        """The champion after the step."""
        return self.verdict.challenger_version if self.promoted else self.verdict.champion_version

    def to_xcom(self) -> dict:
        return {"champion": self.champion, "promoted": self.promoted}


def promote(run: Run, verdict: Verdict, approval: Approval | None = None) -> Promotion:
    """Promote a passing challenger (compare-and-set); a rejection is a normal outcome. A human's answer
    (`approval: manual`) is recorded on the version, and a rejection rejects it."""
    from nightshift.model.gate import promote_if_better

    if approval is not None:
        verdict = approval.record(run.registry, run.spec.name, verdict)
        log.info("%s by %s: %s", "APPROVED" if approval.approved else "REJECTED BY A HUMAN", approval.by,
                 approval.reason or "(no reason given)")
    final, replaced = promote_if_better(run.spec, run.lake, run.registry, verdict)
    if final.decision != "promote":
        log.info("REJECTED challenger v%s (failed: %s); champion stays v%s", final.challenger_version,
                 ", ".join(final.failed_checks), final.champion_version)
        return Promotion(final, replaced=None)
    log.info("PROMOTED v%s to champion (previous: %s)", final.challenger_version, replaced or "none")
    return Promotion(final, replaced=replaced)


@dataclass(frozen=True)
class Retrained:
    trained: TrainResult
    report: GateReport
    promotion: Promotion


def retrain(run: Run, as_of: dt.date, train_days: int | None = None, *, tune: bool = False, force: bool = False,
            params: dict | None = None, infra_check: bool = True) -> Retrained:
    """The retrain DAG's sequence in one call: train, evaluate, promote if better."""
    trained = train(run, as_of, train_days, tune=tune, force=force, params=params)
    report = evaluate(run, trained.version, trained.window.holdout, infra_check=infra_check)
    return Retrained(trained, report, promote(run, report.verdict))


# score and monitor

def score(run: Run, days: list[dt.date]) -> list[DayScore]:
    """Each day scored by the champion (and the challenger in shadow) into predictions/."""
    from nightshift.operate.scoring import score_days

    if not days:
        raise NothingToDo("no days to score: give start (and end) in the form")
    _skip_without_a_champion(run, "score with")
    scores = score_days(run.spec, run.lake, run.registry, days)
    for scored in scores:
        log.info("scored %s: %d rows with champion v%s%s", scored.day, scored.rows, scored.champion_version,
                 f"; shadow {scored.shadow}" if scored.shadow else "")
    return scores


def _skip_without_a_champion(run: Run, doing: str) -> None:
    """A model that no retrain has promoted yet has nothing to score or monitor: not a failure."""
    from nightshift.model.registry import CHAMPION

    if run.registry.alias_version(run.spec.name, CHAMPION) is None:
        raise NothingToDo(f"{run.spec.name} has no champion yet, so there is nothing to {doing} until a retrain "
                          "promotes one")


def monitoring_day(run: Run, requested: dt.date | None, scored: list[dt.date], run_date: dt.date) -> dt.date:
    """The day monitoring judges up to: the requested one, else the newest day just scored, else the
    newest validated day up to the run's date."""
    if requested or scored:
        return requested or max(scored)
    validated = [day for day in run.lake.days("validated", run.spec.source.dataset) if day <= run_date]
    if not validated:
        raise NothingToDo(f"no validated day up to {run_date}: nothing to monitor")
    return validated[-1]


def monitor(run: Run, as_of: dt.date) -> MonitorReport:
    """The champion's drift and realized performance up to `as_of`, recorded on its run."""
    from nightshift.operate.monitor import monitor as monitor_champion

    _skip_without_a_champion(run, "monitor")
    report = monitor_champion(run.spec, run.lake, run.registry, as_of)
    log.info("\n%s\nreport: monitoring/%s/ (report.json, report.txt, drift.png) in the MLflow run of v%s",
             report.table(), report.as_of, report.champion_version)
    return report


def decay_signal(model: str, checked: dict) -> dict:
    """What the decay Asset announces (the monitor task's result); NothingToDo when healthy."""
    if not checked["breaches"]:
        raise NothingToDo("healthy: no decay signal")
    log.warning("DECAY SIGNAL for %s v%s as of %s: %s; the retrain DAG is triggered", model,
                checked["champion"], checked["as_of"], ", ".join(checked["breaches"]))
    return checked


def rollback(model: str, target: str, *, reason: str, actor: str) -> dict[str, str]:
    """Make an earlier version the champion again; the record of who, when and why."""
    from nightshift.model.registry import Registry

    record = Registry.from_env().rollback(model, target, reason=reason, actor=actor)
    log.info("ROLLED BACK %s: champion v%s -> v%s (by %s: %s)", model, record["from_version"],
             record["to_version"], actor, reason)
    return record
