"""Builds every model's DAGs from its spec (`<model>__ingest`, `__retrain`, `__score`, `__monitor`,
`__release`) and the shared `nightshift__rollback`.

This is the only place tasks are declared. Tasks are thin: read arguments, call one core function,
return a small result. Heavy libraries (pandas, sklearn, mlflow, GX) are imported inside tasks so
the DAG folder parses in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import logging

from airflow.sdk import (
    DAG,
    Asset,
    AssetOrTimeSchedule,
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    ExceptionRetryPolicy,
    Param,
    RetryAction,
    RetryRule,
    TriggerRule,
    dag,
    get_current_context,
    task,
)
from airflow.sdk.exceptions import AirflowSkipException

from nightshift.airflow.callbacks import log_failure_summary, log_retry_summary
from nightshift.failures import DataError
from nightshift.settings import Settings
from nightshift.spec import ModelSpec, load_all_specs

log = logging.getLogger("nightshift")

# Data and model errors will not go away on retry; infra errors (and unknown ones) get the retries.
# Late source data is waited for longer than a flaky service.
RETRY_POLICY = ExceptionRetryPolicy(rules=[
    RetryRule(exception=["nightshift.failures.DataError", "nightshift.failures.ModelError"],
              action=RetryAction.FAIL, reason="the data or the model must change; a retry cannot help"),
    RetryRule(exception="nightshift.failures.SourceNotReady", retry_delay=dt.timedelta(minutes=30),
              reason="upstream data is late; waiting for it to land"),
])


def build_dags() -> dict[str, DAG]:
    """Every model's DAGs by dag_id, and the rollback DAG. A broken spec fails the import with its
    file and key."""
    specs = load_all_specs(Settings.from_env().models_dir)
    dags = {}
    for spec in specs.values():
        for build in (ingest_dag, retrain_dag, score_dag, monitor_dag, release_dag):
            built = build(spec)
            dags[built.dag_id] = built
    if specs:
        dags["nightshift__rollback"] = rollback_dag(sorted(specs))
    return dags


def validated_asset(spec: ModelSpec) -> Asset:
    """Updated whenever new days of the model's dataset are validated."""
    dataset = spec.source.dataset
    return Asset(name=f"{dataset}__validated", uri=f"nightshift://validated/{dataset}", group="nightshift")


def decay_asset(spec: ModelSpec) -> Asset:
    """Updated by monitoring when the champion's quality or its inputs degrade: a retrain signal."""
    return Asset(name=f"{spec.name}__decay", uri=f"nightshift://decay/{spec.name}", group="nightshift")


def _common(spec: ModelSpec, purpose: str) -> dict:
    return {
        "start_date": dt.datetime.combine(spec.source.start_date, dt.time(), dt.UTC),
        "catchup": False,
        "tags": ["nightshift", spec.name, *spec.tags],
        "doc_md": f"**{spec.name}** — {purpose}\n\n{spec.description}\n\nSpec: `include/models/{spec.name}.yaml`",
        "default_args": _default_args(spec.owner, timeout=dt.timedelta(minutes=spec.schedule.task_timeout_minutes),
                                      retry_delay=dt.timedelta(seconds=spec.schedule.retry_delay_seconds)),
    }


def _default_args(owner: str, timeout: dt.timedelta, retries: int = 2,
                  retry_delay: dt.timedelta = dt.timedelta(seconds=30)) -> dict:
    return {
        "owner": owner,
        "retries": retries,
        "execution_timeout": timeout,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": 2.0,  # a service that is down gets more time with each try
        "max_retry_delay": dt.timedelta(minutes=10),
        "retry_policy": RETRY_POLICY,
        "on_failure_callback": log_failure_summary,
        "on_retry_callback": log_retry_summary,
    }


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _day_range_params(verb: str, default: str) -> dict[str, Param]:
    return {
        "start": Param(None, type=["null", "string"], format="date", title="First day",
                       description=f"{verb} a range: first day (empty: {default})."),
        "end": Param(None, type=["null", "string"], format="date", title="Last day",
                     description="Last day of the range, inclusive (empty: same as the first day)."),
    }


def _requested_days(params) -> list[str]:
    """The ISO days of the trigger form's start..end; empty when no start was given."""
    start = _date(params.get("start"))
    return _day_range(start, _date(params.get("end")) or start) if start else []


def _announced_days(context) -> list[str]:
    """The ISO days the asset events that triggered this run announced (in their `extra`), sorted."""
    return sorted({day for events in context["triggering_asset_events"].values()
                   for event in events for day in (event.extra or {}).get("days", [])})


def _day_range(start: dt.date, end: dt.date) -> list[str]:
    if end < start:
        raise DataError(f"end {end} is before start {start}", hint="Fix the dates in the trigger form.")
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def ingest_dag(spec: ModelSpec) -> DAG:
    model, chunk_days = spec.name, spec.schedule.ingest_chunk_days

    @dag(
        dag_id=f"{model}__ingest",
        schedule=CronDataIntervalTimetable(spec.schedule.ingest, timezone="UTC"),
        max_active_runs=4,
        params=_day_range_params("Ingest", "the run's data interval"),
        **_common(spec, "ingest: source -> raw -> GX validation -> validated/ or quarantine/"),
    )
    def ingest():
        @task
        def plan_days() -> list[list[str]]:
            """The days to ingest, in chunks (one task instance per chunk, not per day)."""
            context = get_current_context()
            days = _requested_days(context["params"])
            if not days:
                interval_start, interval_end = context.get("data_interval_start"), context.get("data_interval_end")
                if interval_start is None:
                    raise DataError("no days to ingest: this run has no data interval",
                                    hint="Trigger with the form's start (and end) dates.")
                days = _day_range(interval_start.date(), interval_end.date() - dt.timedelta(days=1))
            return [days[i:i + chunk_days] for i in range(0, len(days), chunk_days)]

        @task(retries=6)  # late data: six waits of 30 minutes
        def ingest_raw(days: list[str]) -> dict[str, int]:
            from nightshift.data import ingest as ingest_step
            from nightshift.data.lake import Lake

            rows = ingest_step.ingest_days(_spec(model), Lake.from_env(), [dt.date.fromisoformat(d) for d in days])
            log.info("raw rows per day: %s", rows)
            return rows

        # One task for all the run's days, oldest first, so each day's history checks see the days before it.
        @task(trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
        def validate(chunks: list[list[str]]) -> dict:
            """Validate the run's days that are in raw/, even when another ingest chunk failed."""
            from nightshift.data import validate as validate_step
            from nightshift.data.lake import Lake

            spec, lake = _spec(model), Lake.from_env()
            in_raw = set(lake.days("raw", spec.source.dataset))
            days = [day for chunk in chunks for iso in chunk if (day := dt.date.fromisoformat(iso)) in in_raw]
            if not days:
                raise AirflowSkipException("no day of this run is in raw/: nothing to validate")
            verdicts = validate_step.validate_days(spec, lake, days, Settings.from_env().expectations_dir)
            if any(v.failures or v.warnings for v in verdicts):
                log.info("findings:\n%s", validate_step.findings_table(verdicts))
            validate_step.raise_if_quarantined(spec, verdicts)
            return {v.day: v.status for v in verdicts}

        @task(outlets=[validated_asset(spec)], trigger_rule=TriggerRule.ALL_DONE)
        def publish(chunks: list[list[str]]) -> list[str]:
            """Announce the validated days (even when other days failed), so retraining can start."""
            from nightshift.data.lake import Lake

            spec = _spec(model)
            wanted = {day for chunk in chunks for day in chunk}
            days = [d.isoformat() for d in Lake.from_env().days("validated", spec.source.dataset)
                    if d.isoformat() in wanted]
            if not days:
                raise AirflowSkipException("no day of this run was validated: nothing to announce")
            get_current_context()["outlet_events"][validated_asset(spec)].extra = {"days": days}
            log.info("%d validated days announced: %s..%s", len(days), days[0], days[-1])
            return days

        @task(trigger_rule=TriggerRule.ONE_FAILED)
        def fail_run_if_any_task_failed() -> None:
            """`publish` runs even after failures, so it alone would mark the run green; this keeps it red."""
            raise DataError("an ingest or validate task of this run failed; its log ends with the reason",
                            kind="upstream", hint="Open the red ingest_raw / validate task instances above.")

        chunks = plan_days()
        ingested = ingest_raw.expand(days=chunks)
        validated = validate(chunks)
        published = publish(chunks)
        ingested >> validated >> published
        [ingested, validated, published] >> fail_run_if_any_task_failed()

    return ingest()


def retrain_dag(spec: ModelSpec) -> DAG:
    model = spec.name

    @dag(
        dag_id=f"{model}__retrain",
        # Nightly, when new validated data lands, or when monitoring signals decay: the same retrain.
        schedule=AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(spec.schedule.retrain, timezone="UTC"),
            assets=validated_asset(spec) | decay_asset(spec),
        ),
        max_active_runs=1,  # one promotion at a time per model
        params={
            "as_of": Param(None, type=["null", "string"], format="date", title="As of",
                           description="Use validated data up to this day (empty: up to the run's date)."),
            "train_days": Param(None, type=["null", "integer"], minimum=1, maximum=3660, title="Training days",
                                description=f"Override the spec's training window ({spec.windows.train_days} days)."),
        },
        **_common(spec, "retrain: train a challenger -> gate against the champion -> promote only if better"),
    )
    def retrain():
        @task
        def train() -> dict:
            from nightshift.data.lake import Lake
            from nightshift.model import train as train_step
            from nightshift.model.registry import Registry

            context = get_current_context()
            params = context["params"]
            as_of = _date(params.get("as_of")) or context["dag_run"].run_after.date()
            spec, lake = _spec(model), Lake.from_env()
            window = train_step.plan_window(spec, lake, as_of, params.get("train_days"))
            log.info("training on %d validated days %s..%s; holdout %s..%s; left out, quarantined: %s, missing: %s",
                     len(window.train), window.train[0], window.train[-1], window.holdout[0], window.holdout[-1],
                     window.quarantined or "none", window.missing or "none")
            return train_step.train_challenger(spec, lake, Registry.from_env(), window).to_xcom()

        @task
        def evaluate(trained: dict) -> dict:
            from nightshift.data.lake import Lake
            from nightshift.model import gate
            from nightshift.model.registry import Registry

            holdout = [dt.date.fromisoformat(d) for d in trained["window"]["holdout"]]
            report = gate.evaluate_challenger(_spec(model), Lake.from_env(), Registry.from_env(),
                                              trained["version"], holdout)
            log.info("\n%s", report.table())
            return {**report.verdict.to_xcom(), "report": report.table()}

        @task
        def promote(evaluated: dict, approval: dict | None = None) -> dict:
            """Promote a passing challenger (compare-and-set); a rejection is a normal, green outcome.
            With `approval: manual`, a human's rejection is recorded on the version and rejects it."""
            from nightshift.airflow.approval import approval_of
            from nightshift.data.lake import Lake
            from nightshift.model import gate
            from nightshift.model.registry import Registry

            spec, registry = _spec(model), Registry.from_env()
            verdict = gate.Verdict.from_xcom({k: v for k, v in evaluated.items() if k != "report"})
            if approval is not None:
                answer = approval_of(approval)
                verdict = answer.record(registry, model, verdict)
                log.info("%s by %s: %s", "APPROVED" if answer.approved else "REJECTED BY A HUMAN", answer.by,
                         answer.reason or "(no reason given)")
            final, replaced = gate.promote_if_better(spec, Lake.from_env(), registry, verdict)
            if final.decision != "promote":
                log.info("REJECTED challenger v%s (failed: %s); champion stays v%s", final.challenger_version,
                         ", ".join(final.failed_checks), final.champion_version)
                return {"champion": final.champion_version, "promoted": False}
            log.info("PROMOTED v%s to champion (previous: %s)", final.challenger_version, replaced or "none")
            return {"champion": final.challenger_version, "promoted": True}

        evaluated = evaluate(train())
        if spec.gate.approval == "manual":
            from nightshift.airflow.approval import GateApproval  # Airflow's HITL operator: only when asked for

            approve = GateApproval(task_id="approve", model=model, timeout_hours=spec.gate.approval_timeout_hours)
            evaluated >> approve
            promote(evaluated, approve.output)
        else:
            promote(evaluated)

    return retrain()


def predictions_asset(spec: ModelSpec) -> Asset:
    """Updated whenever days are scored by the model's champion."""
    return Asset(name=f"{spec.name}__predictions", uri=f"nightshift://predictions/{spec.name}", group="nightshift")


def score_dag(spec: ModelSpec) -> DAG:
    model = spec.name

    @dag(
        dag_id=f"{model}__score",
        schedule=validated_asset(spec),
        max_active_runs=1,
        params=_day_range_params("Score", "the days the triggering validation announced"),
        **_common(spec, "score: each newly validated day with the champion -> predictions/; the challenger "
                        "in shadow, compared on its version"),
    )
    def score():
        @task(outlets=[predictions_asset(spec)])
        def score_days() -> dict:
            from nightshift.data.lake import Lake
            from nightshift.model.registry import Registry
            from nightshift.operate import scoring

            context = get_current_context()
            days = _requested_days(context["params"]) or _announced_days(context)
            if not days:
                raise AirflowSkipException("no days to score: give start (and end) in the form")
            scores = scoring.score_days(_spec(model), Lake.from_env(), Registry.from_env(),
                                        [dt.date.fromisoformat(day) for day in days])
            for score in scores:
                log.info("scored %s: %d rows with champion v%s%s", score.day, score.rows, score.champion_version,
                         f"; shadow {score.shadow}" if score.shadow else "")
            context["outlet_events"][predictions_asset(spec)].extra = {"days": days}
            return {score.day: score.rows for score in scores}

        score_days()

    return score()


def monitor_dag(spec: ModelSpec) -> DAG:
    model = spec.name

    @dag(
        dag_id=f"{model}__monitor",
        schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable(spec.schedule.monitor, timezone="UTC"),
                                     assets=predictions_asset(spec)),
        max_active_runs=1,
        params={"as_of": Param(None, type=["null", "string"], format="date", title="As of",
                               description="Judge the recent days up to this one (empty: the newest scored or "
                                           "validated day).")},
        **_common(spec, "monitor: the champion's drift and realized performance; a breach signals decay, "
                        "which triggers the retrain DAG"),
    )
    def monitor():
        @task
        def check() -> dict:
            from nightshift.data.lake import Lake
            from nightshift.model.registry import Registry
            from nightshift.operate import monitor as monitor_step

            context = get_current_context()
            spec, lake = _spec(model), Lake.from_env()
            scored = _announced_days(context)
            as_of = _date(context["params"].get("as_of")) or (_date(scored[-1]) if scored else None)
            if as_of is None:
                up_to = context["dag_run"].run_after.date()
                validated = [day for day in lake.days("validated", spec.source.dataset) if day <= up_to]
                if not validated:
                    raise AirflowSkipException(f"no validated day up to {up_to}: nothing to monitor")
                as_of = validated[-1]
            report = monitor_step.monitor(spec, lake, Registry.from_env(), as_of)
            log.info("\n%s\nreport: monitoring/%s/ (report.json, report.txt, drift.png) in the MLflow run of v%s",
                     report.table(), report.as_of, report.champion_version)
            return {"as_of": report.as_of, "breaches": report.breaches, "champion": report.champion_version}

        @task(outlets=[decay_asset(spec)])
        def signal_decay(checked: dict) -> None:
            """Announce decay (the retrain DAG listens); skipped, so no event, when the champion is healthy."""
            if not checked["breaches"]:
                raise AirflowSkipException("healthy: no decay signal")
            get_current_context()["outlet_events"][decay_asset(spec)].extra = checked
            log.warning("DECAY SIGNAL for %s v%s as of %s: %s; the retrain DAG is triggered", model,
                        checked["champion"], checked["as_of"], ", ".join(checked["breaches"]))

        signal_decay(check())

    return monitor()


def release_dag(spec: ModelSpec) -> DAG:
    model, dataset = spec.name, spec.source.dataset

    @dag(
        dag_id=f"{model}__release",
        schedule=None,
        max_active_runs=1,
        params={
            "day": Param(spec.source.start_date.isoformat(), type="string", format="date", title="Day",
                         description="The quarantined day you reviewed (`nightshift status` lists them)."),
            "reason": Param("", type="string", minLength=10, title="Reason",
                            description="What you reviewed and why the day is fit for training."),
        },
        **_common(spec, f"release: move a reviewed quarantined day of `{dataset}` into validated/, "
                        "recording who and why; retraining then picks it up"),
    )
    def release():
        @task(outlets=[validated_asset(spec)])
        def release_day() -> dict:
            from nightshift.data.lake import Lake
            from nightshift.data.release import release_day as release_step

            context = get_current_context()
            params, run = context["params"], context["dag_run"]
            day = dt.date.fromisoformat(params["day"])
            record = release_step(_spec(model), Lake.from_env(), day,
                                  reviewer=run.triggering_user_name or "airflow", reason=params["reason"])
            context["outlet_events"][validated_asset(spec)].extra = {"days": [day.isoformat()], "released": True}
            log.info("RELEASED %s %s to validated/ (by %s: %s)", dataset, day, record["released_by"], record["reason"])
            return record

        release_day()

    return release()


def rollback_dag(models: list[str]) -> DAG:
    @dag(
        dag_id="nightshift__rollback",
        schedule=None,
        start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        tags=["nightshift", "rollback"],
        doc_md="**Rollback**: make an earlier version the champion again. The replaced champion becomes "
               "`previous`, so rolling back to `previous` once more undoes it. Who, when and why are "
               "recorded on the version and the registered model.",
        default_args=_default_args("nightshift", timeout=dt.timedelta(minutes=10), retries=1),
        params={
            "model": Param(models[0], type="string", enum=models, title="Model"),
            "target": Param("previous", type="string", pattern=r"^(previous|[0-9]+)$", title="Target version",
                            description="A version number, or `previous` (the champion before the current one)."),
            "reason": Param("", type="string", minLength=5, title="Reason", description="Why, for the record."),
        },
    )
    def rollback():
        @task
        def roll_back() -> dict:
            from nightshift.model.registry import Registry

            context = get_current_context()
            params, run = context["params"], context["dag_run"]
            actor = run.triggering_user_name or "airflow"
            record = Registry.from_env().rollback(params["model"], params["target"], reason=params["reason"],
                                                  actor=actor)
            log.info("ROLLED BACK %s: champion v%s -> v%s (by %s: %s)", params["model"], record["from_version"],
                     record["to_version"], actor, params["reason"])
            return record

        roll_back()

    return rollback()


def _spec(model: str) -> ModelSpec:
    """The current spec of a model, read in the task (the spec file may have changed since parsing)."""
    from nightshift.spec import load_spec, spec_path

    return load_spec(spec_path(Settings.from_env().models_dir, model))
