"""Sixteen kinds of failure, injected through real DAG runs on the embedded default (Airflow's
api-server, scheduler and dag-processor on SQLite with the LocalExecutor), each checked where the
person on call reads it: the end of the failed task's log file.

Each kind is a model of its own (a spec in a temporary models folder) so that all run at once; the
registry outage and the misspelt S3 endpoint need the scheduler restarted with other settings, so they
run last.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml

from nightshift import steps
from nightshift.data.sources import read_table
from nightshift.embedded import airflow_command
from nightshift.model.registry import Registry
from nightshift.settings import Settings
from nightshift.spec import load_spec
from tests.airflow_api import AirflowApi
from tests.conftest import DEMO_SPEC, EXPECTATIONS, validated_world
from tests.embedded_airflow import EmbeddedAirflow, embedded_airflow
from tests.waiting import wait_until

# The first test sets up the module's Airflow and runs every case: about 3 min on 2 cores.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

CORPUS = Path(__file__).parents[1] / "data" / "bad"
HISTORY = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(21)]
AS_OF, NEW_DAY = "2013-01-21", "2013-01-22"  # the corpus files hold 22 January
# Library lines that are not about the task: deprecation shims hit by module scans, GX's temp-dir chatter.
NOISE = ("DeprecatedImportWarning", "FutureWarning", "Created temporary directory")
DEAD = "127.0.0.1:9"  # the discard port: nothing answers
# A named pipe no one writes to: opening it to read blocks for ever, like a source that never answers.
NEVER_ANSWERS = Path(tempfile.gettempdir()) / f"nightshift-never-answers-{uuid.uuid4().hex[:8]}.csv"
# The planes table exported twice: every tail number repeats.
PLANES_TWICE = Path(tempfile.gettempdir()) / f"nightshift-planes-twice-{uuid.uuid4().hex[:8]}.csv"
# Airflow for these cases: manual runs only (no schedules); the DAG file parsed once, not again while
# the runs start (on SQLite, a re-parse that rewrites 80 DAGs beside 16 starting runs stalled every writer
# for the lock timeout); sources and S3 where nothing answers.
MANUAL_RUNS_DEAD_SERVICES = {
    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "3600",
    "AIRFLOW_CONN_UPSTREAM_DB": f"postgresql://postgres@{DEAD}/flights",
    "AIRFLOW_CONN_MISSPELT_DB": "postgresql://postgres@flights-db.invalid:5432/flights",  # resolves nowhere
    "AWS_ENDPOINT_URL": f"http://{DEAD}", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
    "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass(frozen=True)
class Case:
    model: str
    dag: str            # ingest, retrain or score
    task: str           # the task that must fail
    says: tuple[str, ...]
    spec: dict = field(default_factory=dict)   # changes to the demo spec (top-level sections)
    needs_champion: bool = False

    @property
    def conf(self) -> dict:
        return {"as_of": AS_OF} if self.dag == "retrain" else {"start": NEW_DAY if self.dag == "ingest" else AS_OF}


def _source(path: str, dataset: str, **extra) -> dict:
    return {"source": {"dataset": dataset, "path": path, "format": "csv", "date_columns": ["year", "month", "day"],
                       "start_date": "2013-01-01", **extra}}


def _lookups(weather_path: str | None = None, planes_path: str | None = None) -> dict:
    weather, planes = yaml.safe_load(DEMO_SPEC.read_text())["lookups"]
    return {"lookups": [{**weather, "path": weather_path or weather["path"]},
                        {**planes, "path": planes_path or planes["path"]}]}


CASES = [
    Case("bad_schema", "ingest", "validate", ("data/expectations", "column carrier missing", "missing: ['carrier']",
                                              "Do not release the day"),
         _source(str(CORPUS / "missing_column.csv"), "bad_schema")),
    Case("expectation_failure", "ingest", "validate", ("data/expectations", "column carrier all null",
                                                       "expect_column_values_to_not_be_null", "Do not release"),
         _source(str(CORPUS / "all_null_column.csv"), "expectation_failure")),
    Case("empty_source", "ingest", "ingest_raw", ("data/empty_source", "has a header (19 columns) but no rows"),
         _source(str(CORPUS / "header_only.csv"), "empty_source")),
    Case("missing_lookup", "retrain", "train", ("data/missing_source", "weather.csv: no file matches"),
         _lookups("/nonexistent/nycflights13/weather.csv")),
    Case("repeated_lookup_keys", "retrain", "train", ("data/lookup_keys", "rows repeat a key ['tailnum']",
                                                      "fix lookups.planes.keys"),
         _lookups(planes_path=str(PLANES_TWICE))),
    Case("rejected_param", "retrain", "train", ("model/params", ": model.params.learning_rate = -1.0",
                                                "a retry will not help"),
         {"model": {"estimator": "hist_gradient_boosting", "params": {"learning_rate": -1.0}, "seed": 13}}),
    Case("nan_metric", "retrain", "evaluate", ("model/nan_metric", "holdout labels: 0: "),
         {"target": {"column": "arr_delay", "rule": "> 1000", "missing": "negative"}}),  # no such flight 15-21 Jan
    Case("s3_down", "ingest", "ingest_raw", ("infra/source_unreachable", "s3://flights-upstream/", "next try in",
                                             f"AWS_ENDPOINT_URL = http://{DEAD} (environment)"),
         _source("s3://flights-upstream/2013/*.csv", "s3_down")),
    Case("postgres_down", "ingest", "ingest_raw", ("infra/source_unreachable", "next try in", "host 127.0.0.1, port 9",
                                                   "Airflow connection 'upstream_db' (AIRFLOW_CONN_UPSTREAM_DB"),
         {"source": {"dataset": "postgres_down", "kind": "postgres", "conn_id": "upstream_db", "table": "flights",
                     "date_columns": ["flight_date"], "start_date": "2013-01-01"}}),
    Case("misspelt_host", "ingest", "ingest_raw", ("config/misconfigured_endpoint", "'flights-db.invalid' does not",
                                                   "(AIRFLOW_CONN_MISSPELT_DB in the environment)"),
         {"source": {"dataset": "misspelt_host", "kind": "postgres", "conn_id": "misspelt_db", "table": "flights",
                     "date_columns": ["flight_date"], "start_date": "2013-01-01"}}),
    Case("hanging_source", "ingest", "ingest_raw", ("infra/timeout", "execution timeout of 0:01:00",
                                                     "next try in"),
         {**_source(str(NEVER_ANSWERS), "hanging_source"),
          "schedule": {**yaml.safe_load(DEMO_SPEC.read_text())["schedule"], "task_timeout_minutes": 1}}),
    Case("model_load", "score", "score_days", ("model/model_load", "does not load", "fails again",
                                               "No earlier version to roll back to: retrain"), needs_champion=True),
    Case("checksum", "score", "score_days", ("model/artifact_checksum", "the artifact changed after registration",
                                             "do not rerun", "No earlier version to roll back to: retrain"),
         needs_champion=True),
    Case("gate_config", "retrain", "evaluate", ("model/gate_config", "trained for another dataset or target"),
         needs_champion=True),
]
# Run last, by a scheduler whose tasks see an unreachable registry and a misspelt S3 endpoint.
LAST_SETTINGS = {"MLFLOW_TRACKING_URI": f"http://{DEAD}", "AWS_ENDPOINT_URL": "http://s3.invalid:9000"}
LAST = [
    Case("registry_down", "retrain", "train", ("infra/registry", "does not answer", "next try in",
                                               f"MLFLOW_TRACKING_URI = http://{DEAD} (environment)")),
    Case("misspelt_s3", "ingest", "ingest_raw", ("config/misconfigured_endpoint",
                                                 "the host of the S3 endpoint does not resolve",
                                                 "AWS_ENDPOINT_URL = http://s3.invalid:9000 (environment)"),
         _source("s3://flights-upstream/2013/*.csv", "misspelt_s3")),
]


def write_spec(models: Path, case: Case) -> Path:
    spec = yaml.safe_load(DEMO_SPEC.read_text())
    spec.update(name=case.model, **case.spec)
    spec["windows"] = {"train_days": 14, "holdout_days": 7}
    path = models / f"{case.model}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def sabotage(case: Case, path: Path, registry: Registry) -> None:
    """Break what the case breaks after its champion was promoted."""
    if case.model == "gate_config":  # the champion predicts another target than the spec now asks for
        path.write_text(path.read_text().replace("rule: '> 15'", "rule: '> 30'"))
        return
    source = registry.client.get_model_version(case.model, "1").source          # models:/m-...
    artifacts = Path(registry.client.get_logged_model(source.split("/")[-1]).artifact_location
                     .removeprefix("file://"))
    model_file = yaml.safe_load((artifacts / "MLmodel").read_text())["flavors"]["sklearn"]["pickled_model"]
    (artifacts / model_file).write_bytes(b"not a model")
    if case.model == "model_load":  # the checksum is re-recorded, so only loading fails
        registry.record_artifact_checksum(case.model, "1")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[tuple[Settings, dict[str, str]]]:
    """Three validated weeks of flights shared by the models, champions where a case needs one, and
    the models folder and expectation suites the Airflow processes read."""
    root = tmp_path_factory.mktemp("failures")
    models, suites = root / "models", root / "expectations"
    models.mkdir()
    shutil.copytree(EXPECTATIONS, suites)
    os.mkfifo(NEVER_ANSWERS)
    planes = read_table(yaml.safe_load(DEMO_SPEC.read_text())["lookups"][1]["path"])
    pd.concat([planes, planes]).to_csv(PLANES_TWICE, index=False)
    try:
        with validated_world(tmp_path_factory, "failure-injection", HISTORY) as world_run:
            for case in [*CASES, *LAST]:
                path = write_spec(models, case)
                if (dataset := case.spec.get("source", {}).get("dataset")) is not None:
                    shutil.copy(suites / "flights.yaml", suites / f"{dataset}.yaml")
                if case.needs_champion:
                    steps.retrain(steps.Run(load_spec(path), world_run.lake), HISTORY[-1], infra_check=False)
                    sabotage(case, path, world_run.registry)
            yield world_run.settings, {"NIGHTSHIFT_MODELS_DIR": str(models), "NIGHTSHIFT_EXPECTATIONS_DIR": str(suites)}
    finally:
        NEVER_ANSWERS.unlink()
        PLANES_TWICE.unlink()


def wait_for_failure(api: AirflowApi, dag_id: str, run_id: str, task: str, timeout: float = 600) -> None:
    """Until the task's first try has failed (failed, or waiting for a retry)."""
    def task_states() -> dict[str, str]:
        states = {ti["task_id"]: ti["state"] for ti in api.task_instances(dag_id, run_id)}
        assert states.get(task) not in ("success", "upstream_failed", "skipped"), states
        return states

    wait_until(task_states, done=lambda states: states.get(task) in ("failed", "up_for_retry"), timeout=timeout,
               interval=2, what=f"{dag_id}.{task} to fail")


def log_events(airflow_home: Path, dag_id: str, run_id: str, task: str) -> list[str]:
    """The events of the task's first try, read from the log file the task wrote, once its summary is there:
    the try's state is set before its callbacks run (a champion lookup takes seconds on a loaded machine)."""
    folder = airflow_home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task}"

    def events() -> list[str]:
        files = sorted(folder.rglob("attempt=1.log"))
        assert files, f"no log file for {dag_id}.{task} under {airflow_home / 'logs'}"
        return [json.loads(line)["event"] for line in files[0].read_text().splitlines() if line.startswith("{")]

    try:  # the callbacks have the task's overtime, 20 s, and then the process is ended
        return wait_until(events, done=summary_of, timeout=30, interval=1, what=f"{dag_id}.{task}'s summary")
    except TimeoutError:
        return events()  # the test says what the log holds instead


def run_cases(airflow: EmbeddedAirflow, cases: list[Case]) -> dict[str, list[str]]:
    """Trigger every case's DAG at once, then read each failed task's log."""
    runs = {}
    for case in cases:
        dag_id = f"{case.model}__{case.dag}"
        airflow.api.wait_for_dag(dag_id)
        runs[case.model] = (dag_id, airflow.api.trigger(dag_id, case.conf))
    events = {}
    for case in cases:
        dag_id, run_id = runs[case.model]
        wait_for_failure(airflow.api, dag_id, run_id, case.task)
        events[case.model] = log_events(Path(airflow.env["AIRFLOW_HOME"]), dag_id, run_id, case.task)
    return events


@pytest.fixture(scope="module")
def task_logs(world) -> dict[str, list[str]]:
    settings, env = world
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_HOME", str(settings.home / "airflow"))  # its own, not the test session's
        with embedded_airflow(settings, {**env, **MANUAL_RUNS_DEAD_SERVICES}) as airflow:
            events = run_cases(airflow, CASES)
            airflow.restart_scheduler(**LAST_SETTINGS)
            return events | run_cases(airflow, LAST)


def summary_of(events: list[str]) -> str | None:
    return next((event for event in reversed(events) if "NIGHTSHIFT FAILURE" in event), None)


@pytest.fixture(scope="module")
def reproduced(world, task_logs) -> dict[str, subprocess.CompletedProcess]:
    """Each summary's `nightshift reproduce` line run as the person on call would, with the settings its task
    had, all at once. Not the source that never answers: reproducing it waits as long."""
    settings, env = world
    commands = {}
    for case in [*CASES, *LAST]:
        last_line = (summary_of(task_logs[case.model]) or "").strip().splitlines()[-1:]
        if last_line and last_line[0].startswith("reproduce nightshift ") and case.model != "hanging_source":
            commands[case.model] = last_line[0].split()[2:]
    base = {**airflow_command(settings)[1], **env, **MANUAL_RUNS_DEAD_SERVICES,
            "AIRFLOW_HOME": str(settings.home / "airflow")}
    last = {case.model for case in LAST}

    def reproduce(model: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(Path(sys.executable).parent / "nightshift"), *commands[model]], check=False,
                              capture_output=True, text=True, timeout=300,
                              env={**base, **(LAST_SETTINGS if model in last else {})})

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(commands, pool.map(reproduce, commands), strict=True))


@pytest.mark.parametrize("case", [*CASES, *LAST], ids=lambda case: case.model)
def test_the_failed_task_log_ends_with_its_summary(task_logs, reproduced, case: Case):
    events = [event for event in task_logs[case.model] if not event.startswith("::")]
    summary = summary_of(events)
    assert summary is not None, f"no summary in the log of {case.model}: ...{events[-5:]}"
    assert events[-1] == summary, f"the summary is not the last thing in the log: {events[-3:]}"
    noise = [event for event in events[-30:] if any(chatter in event for chatter in NOISE)]
    assert not noise, f"library warnings in the last 30 lines of {case.model}'s log: {noise[:3]}"
    head, located, impact = summary.strip().splitlines()[:3]
    assert head.split()[2:4] == [case.says[0], case.model], head
    assert located.startswith(f"where     task {case.task}, try 1 of "), located
    assert ("next try in" in located) == case.says[0].startswith("infra/") and "; run manual__" in located, located
    serving = ("champion unknown (the registry did not answer" if case in LAST
               else "champion v1 still serves, unchanged" if case.needs_champion else "no champion yet: nothing serves")
    # On a loaded machine the lookup may run out of its time (the task's overtime is short): said as such.
    assert impact.startswith((f"impact    {serving}", "impact    champion not looked up")), impact
    for fragment in case.says[1:]:
        assert fragment in summary, f"{fragment!r} not in:\n{summary}"
    assert "reproduce " in summary
    if case.model in reproduced:  # the reproduce line re-raises the same error
        again, cause = reproduced[case.model], next(line for line in summary.splitlines() if line.startswith("cause"))
        assert again.returncode != 0 and cause.removeprefix("cause").strip() in again.stderr, \
            f"{cause!r} not raised again by the reproduce line; it ended:\n{again.stderr[-1500:]}"
