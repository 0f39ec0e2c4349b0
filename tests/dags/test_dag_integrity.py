"""Every DAG imports cleanly, carries owner, retries, tags and docs, and the folder parses cheaply."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
import yaml

from nightshift.settings import CHECKOUT
from tests.conftest import DEMO_SPEC

DAGS_FOLDER = CHECKOUT / "dags"
HEAVY = ("pandas", "sklearn", "mlflow", "great_expectations")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"flights_delay__ingest", "flights_delay__retrain", "flights_delay__score", "flights_delay__monitor",
            "flights_delay__release", "nightshift__rollback"} <= set(dagbag.dags)


def test_every_dag_has_owner_retries_tags_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and "nightshift" in dag.tags, dag_id
        assert dag.doc_md, dag_id
        for task in dag.tasks:
            assert task.owner not in ("", "airflow"), f"{dag_id}.{task.task_id} has no owner"
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
            assert task.on_failure_callback, f"{dag_id}.{task.task_id} has no failure summary"


def test_every_task_is_stopped_by_the_spec_timeout_and_retried_with_a_growing_delay(dagbag, spec):
    for kind in ("ingest", "retrain", "score", "monitor", "release"):
        for task in dagbag.dags[f"{spec.name}__{kind}"].tasks:
            where = f"{kind}.{task.task_id}"
            assert task.execution_timeout == dt.timedelta(minutes=spec.schedule.task_timeout_minutes), where
            assert task.retry_delay == dt.timedelta(seconds=spec.schedule.retry_delay_seconds), where
            assert task.retry_exponential_backoff == 2.0 and task.max_retry_delay == dt.timedelta(minutes=10), where


def test_trigger_forms_expose_the_ranges(dagbag):
    assert set(dagbag.dags["flights_delay__ingest"].params) == {"start", "end"}
    assert set(dagbag.dags["flights_delay__retrain"].params) == {"as_of", "train_days"}


def test_rollback_form_lists_the_models_and_needs_a_reason(dagbag):
    params = dagbag.dags["nightshift__rollback"].params
    assert params.get_param("model").schema["enum"] == ["flights_delay"]
    assert params["target"] == "previous"
    assert params.get_param("reason").schema["minLength"] == 5


def test_ingest_validates_the_runs_days_in_one_task_after_every_chunk(dagbag):
    """One task, days in order: each day's history checks see the days validated before it."""
    validate = dagbag.dags["flights_delay__ingest"].get_task("validate")
    assert not validate.is_mapped and validate.trigger_rule == "all_done_min_one_success"
    assert {"plan_days", "ingest_raw"} <= validate.upstream_task_ids


def test_scoring_runs_when_days_are_validated_and_announces_predictions(dagbag):
    score = dagbag.dags["flights_delay__score"]
    assert score.timetable.asset_condition.uri == "nightshift://validated/flights"
    assert set(score.params) == {"start", "end"}
    assert [outlet.uri for outlet in score.get_task("score_days").outlets] == ["nightshift://predictions/flights_delay"]


def test_monitoring_runs_daily_and_after_scoring_and_signals_decay_to_retraining(dagbag):
    monitor = dagbag.dags["flights_delay__monitor"]
    assert monitor.timetable.timetable.expression == "0 6 * * *"
    assert monitor.timetable.asset_condition.uri == "nightshift://predictions/flights_delay"
    decay = monitor.get_task("signal_decay").outlets
    assert [outlet.uri for outlet in decay] == ["nightshift://decay/flights_delay"]


def test_release_form_takes_a_day_and_a_reason_and_announces_the_dataset(dagbag):
    release = dagbag.dags["flights_delay__release"]
    assert type(release.timetable).__name__ == "NullTimetable"  # manual only
    assert release.params.get_param("reason").schema["minLength"] == 10
    assert release.params.get_param("day").schema["format"] == "date"
    assert [outlet.uri for outlet in release.get_task("release_day").outlets] == ["nightshift://validated/flights"]


def test_manual_approval_puts_a_human_between_the_gate_and_promotion(spec):
    from nightshift.airflow.approval import APPROVE, REJECT, GateApproval
    from nightshift.airflow.factory import retrain_dag

    manual = spec.model_copy(update={"gate": spec.gate.model_copy(update={"approval": "manual",
                                                                          "approval_timeout_hours": 24})})
    retrain = retrain_dag(manual)
    approve = retrain.get_task("approve")
    assert isinstance(approve, GateApproval) and approve.options == [APPROVE, REJECT]
    assert approve.defaults == [REJECT] and approve.response_timeout.total_seconds() == 24 * 3600
    assert approve.upstream_task_ids == {"evaluate"} and approve.downstream_task_ids == {"promote"}
    assert "approve" not in retrain_dag(spec).task_ids


def test_retrain_runs_nightly_on_new_validated_data_or_on_a_decay_signal(dagbag):
    retrain = dagbag.dags["flights_delay__retrain"]
    assert type(retrain.timetable).__name__ == "AssetOrTimeSchedule"
    assert retrain.timetable.timetable.expression == "0 2 * * *"
    condition = retrain.timetable.asset_condition
    assert type(condition).__name__ == "AssetAny"  # either one, not both
    assert {asset.uri for asset in condition.objects} == {"nightshift://validated/flights",
                                                          "nightshift://decay/flights_delay"}
    assert retrain.max_active_runs == 1  # concurrent triggers never run twice at once
    ingest = dagbag.dags["flights_delay__ingest"]
    publish = ingest.get_task("publish")
    assert [outlet.uri for outlet in publish.outlets] == ["nightshift://validated/flights"]


def trigger(dag, conf: dict) -> dict:
    """What the REST API (and so the UI's trigger form) does with a trigger's conf before a run exists:
    `create_dagrun` on the serialized DAG merges it into the Params and validates them."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(DagSerialization.to_dict(dag)).params.deep_merge(conf).validate()


@pytest.mark.parametrize(("dag_id", "conf", "refused"), [
    ("flights_delay__retrain", {"train_days": -3}, "train_days: -3 is less than the minimum of 1"),
    ("flights_delay__retrain", {"train_days": 0}, "train_days: 0 is less than the minimum of 1"),
    ("flights_delay__retrain", {"as_of": "2013-02-30"}, "as_of: '2013-02-30' is not a 'date'"),
    ("nightshift__rollback", {"model": "../flights_delay", "reason": "bad release"},
     r"model: '../flights_delay' is not one of \['flights_delay'\]"),
    ("nightshift__rollback", {"target": "../1", "reason": "bad release"}, "target: '../1' does not match"),
    ("flights_delay__ingest", {"start": "yesterday"}, "start: 'yesterday' is not a 'date'"),
    ("flights_delay__score", {"end": "2013-02-08'; DROP TABLE flights; --"}, "end: .* is not a 'date'"),
    ("flights_delay__release", {"day": "../../etc", "reason": "reviewed the late rows"}, "day: '../../etc' is not"),
])
def test_a_trigger_with_a_param_out_of_range_is_refused_before_the_run_exists(dagbag, dag_id, conf, refused):
    from airflow.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=f"Invalid input for param {refused}"):
        trigger(dagbag.dags[dag_id], conf)


def test_a_trigger_within_range_is_accepted(dagbag):
    assert trigger(dagbag.dags["flights_delay__retrain"], {"train_days": 30, "as_of": "2013-03-31"}) == {
        "as_of": "2013-03-31", "train_days": 30}
    assert trigger(dagbag.dags["nightshift__rollback"], {"target": "3", "reason": "bad release"})["target"] == "3"
    assert trigger(dagbag.dags["flights_delay__ingest"], {"start": "2013-02-08"}) == {"start": "2013-02-08",
                                                                                     "end": None}


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, check=False)


def test_dag_folder_imports_nothing_heavy():
    probe = run_python(
        "import json, runpy, sys\n"
        f"runpy.run_path({str(DAGS_FOLDER / 'nightshift_dags.py')!r})\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout.splitlines()[-1]) == []


def test_a_broken_spec_fails_the_import_naming_file_and_key(tmp_path):
    data = yaml.safe_load(DEMO_SPEC.read_text())
    data["windows"]["holdout_dayz"] = 7
    (tmp_path / "flights_delay.yaml").write_text(yaml.safe_dump(data))
    probe = run_python(f"import runpy; runpy.run_path({str(DAGS_FOLDER / 'nightshift_dags.py')!r})",
                       NIGHTSHIFT_MODELS_DIR=str(tmp_path))
    assert probe.returncode != 0
    assert f"{tmp_path / 'flights_delay.yaml'}: invalid spec" in probe.stderr
    assert "windows.holdout_dayz: unknown key" in probe.stderr
