"""Builds every model's DAGs from its spec (`<model>__ingest`, `__retrain`, `__score`, `__monitor`,
`__release`) and the shared `nightshift__rollback`.

This is the only place tasks are declared, and it only wires: each task reads its arguments, calls
one step of `nightshift.steps` and pushes the step's small result (days as ISO strings at this edge).
Steps (and with them pandas, sklearn, mlflow, GX) are imported inside tasks, so the DAG folder parses
in milliseconds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
from pathlib import Path

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
    get_parsing_context,
    task,
)
from airflow.sdk.exceptions import AirflowSkipException

from nightshift.airflow.callbacks import LATE_DATA_RETRY_DELAY, log_failure_summary, log_retry_summary
from nightshift.failures import DataError
from nightshift.settings import Settings
from nightshift.spec import ModelSpec, SpecError, load_models_folder, load_spec, spec_path

log = logging.getLogger("nightshift")

# Data, model and configuration errors will not go away on retry; infra errors (and unknown ones) get the
# retries. Late source data is waited for longer than a flaky service.
RETRY_POLICY = ExceptionRetryPolicy(rules=[
    RetryRule(exception=["nightshift.failures.DataError", "nightshift.failures.ModelError",
                         "nightshift.failures.ConfigError"],
              action=RetryAction.FAIL, reason="the data, the model or a setting must change; a retry cannot help"),
    RetryRule(exception="nightshift.failures.SourceNotReady", retry_delay=LATE_DATA_RETRY_DELAY,
              reason="upstream data is late; waiting for it to land"),
])


def build_dags() -> dict[str, DAG]:
    """Every model's DAGs by dag_id, and the rollback DAG. A broken spec hides no other model: it gets a
    paused `<file>__spec_error` DAG that shows its error (file, key, value, what is allowed).

    A task process parses the file for one DAG only (Airflow's parsing context names it): then only its
    model's spec is read and its DAGs built, so a task's start-up does not grow with the number of models."""
    models_dir = Settings.from_env().models_dir
    if (wanted := _one_models_dags(models_dir, get_parsing_context().dag_id)) is not None:
        return wanted
    folder = load_models_folder(models_dir)
    dags = {}
    for spec in folder.specs.values():
        dags.update(_model_dags(spec))
    for file_name, error in folder.broken.items():
        log.error("%s", error)  # in the dag-processor's log too
        built = spec_error_dag(file_name, error)
        dags[built.dag_id] = built
    if folder.specs:
        dags["nightshift__rollback"] = rollback_dag(sorted(folder.specs))
    return dags


def _model_dags(spec: ModelSpec) -> dict[str, DAG]:
    built = (build(spec) for build in (ingest_dag, retrain_dag, score_dag, monitor_dag, release_dag))
    return {dag.dag_id: dag for dag in built}


def _one_models_dags(models_dir: Path, dag_id: str | None) -> dict[str, DAG] | None:
    """The DAGs of the model `dag_id` belongs to; None (build them all) outside a task, and where the model's
    spec does not load (the full build shows its error) or does not make `dag_id` (the rollback DAG)."""
    if dag_id is None:
        return None
    try:
        dags = _model_dags(load_spec(spec_path(models_dir, dag_id.rpartition("__")[0])))
    except Exception:  # noqa: BLE001 - whatever it is, the full build reports it
        return None
    return dags if dag_id in dags else None


def spec_error_dag(file_name: str, error: SpecError) -> DAG:
    """In place of a spec that does not load: paused, never scheduled, its error in its docs; a run
    fails with the error."""
    dag_id = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', file_name)[:200]}__spec_error"

    @dag(
        dag_id=dag_id,
        schedule=None,
        start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        is_paused_upon_creation=True,
        tags=["nightshift", "spec-error"],
        doc_md=f"**The spec `{file_name}.yaml` does not load**, so this model has no DAGs until it is fixed; the "
               f"other models are not affected.\n\n```\n{error}\n```",
        default_args=_default_args("nightshift", timeout=dt.timedelta(minutes=1), retries=0),
    )
    def spec_error():
        @task
        def explain_spec_error() -> None:
            raise SpecError(str(error), kind="spec",
                            hint="Fix the spec file; the model's DAGs appear at the next parse.")

        explain_spec_error()

    return spec_error()


# Our assets' URIs use Airflow's scheme for custom URIs, `x-...`, which it leaves as they are. Any other scheme
# is looked up among the providers' URI normalizers, and the first lookup in a process imports each provider's
# asset module (the Amazon provider's imports boto3): a quarter of a parse's CPU with 20 specs (0.37 -> 0.28 s),
# and of every task's parse.
SCHEME = "x-nightshift"


def validated_asset(spec: ModelSpec) -> Asset:
    """Updated whenever new days of the model's dataset are validated."""
    dataset = spec.source.dataset
    return Asset(name=f"{dataset}__validated", uri=f"{SCHEME}://validated/{dataset}", group="nightshift")


def decay_asset(spec: ModelSpec) -> Asset:
    """Updated by monitoring when the champion's quality or its inputs degrade: a retrain signal."""
    return Asset(name=f"{spec.name}__decay", uri=f"{SCHEME}://decay/{spec.name}", group="nightshift")


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


def _dates(values: list[str]) -> list[dt.date]:
    return [dt.date.fromisoformat(value) for value in values]


def _chunked_days(chunks: list[list[str]]) -> list[dt.date]:
    """The days of plan_days' chunks, in order."""
    return [dt.date.fromisoformat(day) for chunk in chunks for day in chunk]


def _isos(days) -> list[str]:
    return [day.isoformat() for day in days]


def _day_range_params(verb: str, default: str) -> dict[str, Param]:
    return {
        "start": Param(None, type=["null", "string"], format="date", title="First day",
                       description=f"{verb} a range: first day (empty: {default})."),
        "end": Param(None, type=["null", "string"], format="date", title="Last day",
                     description="Last day of the range, inclusive (empty: same as the first day)."),
    }


def _requested_days(params) -> list[dt.date]:
    """The days of the trigger form's start..end; empty when neither was given."""
    from nightshift.steps import day_range

    start, end = _date(params.get("start")), _date(params.get("end"))
    if end and not start:
        raise DataError(f"the form gives end={end} but no start", hint="Give start, and end for more than one day.")
    return day_range(start, end or start) if start else []


def _announced_days(context) -> list[dt.date]:
    """The days the asset events that triggered this run announced (in their `extra`), sorted."""
    return sorted({dt.date.fromisoformat(day) for events in context["triggering_asset_events"].values()
                   for event in events for day in (event.extra or {}).get("days", [])})


@contextlib.contextmanager
def _skip_when_nothing_to_do():
    """A step with no work raises NothingToDo; the task instance is then skipped, not failed."""
    from nightshift.steps import NothingToDo

    try:
        yield
    except NothingToDo as reason:
        raise AirflowSkipException(str(reason)) from None


def _run(model: str):
    """The step context, with the model's current spec read in the task (it may have changed since parsing)."""
    from nightshift.steps import Run

    return Run.of(model)


# The tasks: each reads its arguments, calls one step and returns its small result. `model` is the task's
# first argument (shown with the task in the UI); the step reads that model's current spec.

@task
def plan_days(model: str) -> list[list[str]]:
    """The days to ingest, in chunks (one task instance per chunk, not per day)."""
    from nightshift import steps

    context = get_current_context()
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    interval = (start.date(), end.date()) if start is not None else None
    return [_isos(chunk) for chunk in steps.plan_ingest(_run(model), _requested_days(context["params"]), interval)]


@task(retries=6)  # late data: six waits of 30 minutes
def ingest_raw(model: str, days: list[str]) -> dict[str, int]:
    from nightshift import steps

    return {day.isoformat(): rows for day, rows in steps.ingest_raw(_run(model), _dates(days)).items()}


@task(trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
def validate(model: str, chunks: list[list[str]]) -> dict[str, str]:
    """Validate the run's days that are in raw/, even when another ingest chunk failed."""
    from nightshift import steps

    with _skip_when_nothing_to_do():
        verdicts = steps.validate(_run(model), _chunked_days(chunks))
    return {day.isoformat(): status for day, status in verdicts.items()}


@task(trigger_rule=TriggerRule.ALL_DONE)
def build_features(model: str, chunks: list[list[str]]) -> dict[str, int]:
    """Materialise the rolling aggregates of the run's validated days (and of the later days whose history
    they are) in features/, even when another day was quarantined; skipped for a spec without aggregates."""
    from nightshift import steps

    with _skip_when_nothing_to_do():
        tables = steps.features(_run(model), _chunked_days(chunks))
    return {"read": len(tables.read), "computed": len(tables.computed)}


@task(trigger_rule=TriggerRule.ALL_DONE)
def publish(model: str, chunks: list[list[str]]) -> list[str]:
    """Announce the validated days (even when other days failed), so retraining can start."""
    from nightshift import steps

    run = _run(model)
    with _skip_when_nothing_to_do():
        days = _isos(steps.validated_days(run, _chunked_days(chunks)))
    get_current_context()["outlet_events"][validated_asset(run.spec)].extra = {"days": days}
    return days


@task(trigger_rule=TriggerRule.ONE_FAILED)
def fail_run_if_any_task_failed() -> None:
    """`publish` runs even after failures, so it alone would mark the run green; this keeps it red."""
    raise DataError("an ingest or validate task of this run failed; its log ends with the reason",
                    kind="upstream", hint="Open the red ingest_raw / validate task instances above.")


@task
def train(model: str) -> dict:
    from nightshift import steps

    context = get_current_context()
    params = context["params"]
    as_of = _date(params.get("as_of")) or context["dag_run"].run_after.date()
    with _skip_when_nothing_to_do():  # the champion's own data and spec: the run ends green, untrained
        return steps.train(_run(model), as_of, params.get("train_days"), tune=bool(params.get("tune")),
                           force=bool(params.get("force")), params=params.get("params")).to_xcom()


@task
def evaluate(model: str, trained: dict) -> dict:
    from nightshift import steps
    from nightshift.model.train import TrainResult

    challenger = TrainResult.from_xcom(trained)
    report = steps.evaluate(_run(model), challenger.version, challenger.window.holdout)
    return {**report.verdict.to_xcom(), "report": report.table()}


@task
def promote(model: str, evaluated: dict, approval: dict | None = None) -> dict:
    """Promote a passing challenger (compare-and-set); a rejection is a normal, green outcome."""
    from nightshift import steps
    from nightshift.airflow.approval import approval_of
    from nightshift.model.gate import Verdict

    verdict = Verdict.from_xcom({key: value for key, value in evaluated.items() if key != "report"})
    answer = approval_of(approval) if approval is not None else None
    return steps.promote(_run(model), verdict, answer).to_xcom()


@task
def score_days(model: str) -> dict[str, int]:
    from nightshift import steps

    context, run = get_current_context(), _run(model)
    days = _requested_days(context["params"]) or _announced_days(context)
    with _skip_when_nothing_to_do():
        scores = steps.score(run, days)
    context["outlet_events"][predictions_asset(run.spec)].extra = {"days": _isos(days)}
    return {scored.day.isoformat(): scored.rows for scored in scores}


@task
def check(model: str) -> dict:
    from nightshift import steps

    context, run = get_current_context(), _run(model)
    with _skip_when_nothing_to_do():
        as_of = steps.monitoring_day(run, _date(context["params"].get("as_of")), _announced_days(context),
                                     context["dag_run"].run_after.date())
        report = steps.monitor(run, as_of)
    return {"as_of": report.as_of.isoformat(), "breaches": report.breaches, "champion": report.champion_version}


@task
def signal_decay(model: str, checked: dict) -> None:
    """Announce decay (the retrain DAG listens); skipped, so no event, when the champion is healthy."""
    from nightshift import steps

    with _skip_when_nothing_to_do():
        signal = steps.decay_signal(model, checked)
    get_current_context()["outlet_events"][decay_asset(_run(model).spec)].extra = signal


@task
def release_day(model: str) -> dict:
    from nightshift import steps

    context, run = get_current_context(), _run(model)
    params, dag_run = context["params"], context["dag_run"]
    day = dt.date.fromisoformat(params["day"])
    record = steps.release(run, day, reviewer=dag_run.triggering_user_name or "airflow", reason=params["reason"])
    context["outlet_events"][validated_asset(run.spec)].extra = {"days": [day.isoformat()], "released": True}
    return record


@task
def roll_back() -> dict:
    from nightshift import steps

    context = get_current_context()
    params, run = context["params"], context["dag_run"]
    return steps.rollback(params["model"], params["target"], reason=params["reason"],
                          actor=run.triggering_user_name or "airflow")


# The DAGs: schedules, forms and wiring.

def ingest_dag(spec: ModelSpec) -> DAG:
    model = spec.name

    @dag(
        dag_id=f"{model}__ingest",
        schedule=CronDataIntervalTimetable(spec.schedule.ingest, timezone="UTC"),
        max_active_runs=4,
        params=_day_range_params("Ingest", "the run's data interval"),
        **_common(spec, "ingest: source -> raw -> GX validation -> validated/ or quarantine/ -> features/"),
    )
    def ingest():
        chunks = plan_days(model)
        ingested = ingest_raw.partial(model=model).expand(days=chunks)
        validated = validate(model, chunks)
        featured = build_features(model, chunks)
        published = publish.override(outlets=[validated_asset(spec)])(model, chunks)
        ingested >> validated >> featured >> published
        [ingested, validated, featured, published] >> fail_run_if_any_task_failed()

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
            "params": Param({}, type="object", title="Model parameters",
                            description=f"Try other values of model.params for this run only, e.g. "
                                        f'{{"max_iter": 50}} (the spec: {json.dumps(spec.model.params)}); the '
                                        "version records them and the gate judges it like any challenger."),
            "force": Param(False, type="boolean", title="Retrain even if unchanged",
                           description="Train even when the champion was trained with this spec on the same "
                                       "partitions (otherwise the run ends green without training)."),
            **({"tune": Param(False, type="boolean", title="Tune now",
                              description="Compare the candidates and search now, whatever schedule.tune says.")}
               if spec.model.tuned else {}),
        },
        **_common(spec, "retrain: train a challenger -> gate against the champion -> promote only if better"),
    )
    def retrain():
        evaluated = evaluate(model, train(model))
        if spec.gate.approval == "manual":
            from nightshift.airflow.approval import GateApproval  # Airflow's HITL operator: only when asked for

            approve = GateApproval(task_id="approve", model=model, timeout_hours=spec.gate.approval_timeout_hours)
            evaluated >> approve
            promote(model, evaluated, approve.output)
        else:
            promote(model, evaluated)

    return retrain()


def predictions_asset(spec: ModelSpec) -> Asset:
    """Updated whenever days are scored by the model's champion."""
    return Asset(name=f"{spec.name}__predictions", uri=f"{SCHEME}://predictions/{spec.name}", group="nightshift")


def score_dag(spec: ModelSpec) -> DAG:
    @dag(
        dag_id=f"{spec.name}__score",
        schedule=validated_asset(spec),
        max_active_runs=1,
        params=_day_range_params("Score", "the days the triggering validation announced"),
        **_common(spec, "score: each newly validated day with the champion -> predictions/; the challenger "
                        "in shadow, compared on its version"),
    )
    def score():
        score_days.override(outlets=[predictions_asset(spec)])(spec.name)

    return score()


def monitor_dag(spec: ModelSpec) -> DAG:
    @dag(
        dag_id=f"{spec.name}__monitor",
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
        signal_decay.override(outlets=[decay_asset(spec)])(spec.name, check(spec.name))

    return monitor()


def release_dag(spec: ModelSpec) -> DAG:
    @dag(
        dag_id=f"{spec.name}__release",
        schedule=None,
        max_active_runs=1,
        params={
            "day": Param(spec.source.start_date.isoformat(), type="string", format="date", title="Day",
                         description="The quarantined day you reviewed (`nightshift status` lists them)."),
            "reason": Param("", type="string", minLength=10, title="Reason",
                            description="What you reviewed and why the day is fit for training."),
        },
        **_common(spec, f"release: move a reviewed quarantined day of `{spec.source.dataset}` into validated/, "
                        "recording who and why; retraining then picks it up"),
    )
    def release():
        release_day.override(outlets=[validated_asset(spec)])(spec.name)

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
        roll_back()

    return rollback()
