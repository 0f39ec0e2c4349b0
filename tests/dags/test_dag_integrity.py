"""Every DAG imports cleanly, carries owner, retries, tags and docs, and the folder parses cheaply.

The folder is parsed once, at collection, and each DAG file and each DAG is a test of its own (as in the
astro template's `get_dags()`), so one bad DAG does not hide the others."""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag

from nightshift.settings import CHECKOUT, Settings
from nightshift.spec import load_spec, spec_path
from tests.conftest import DEMO_SPEC, models_folder_with_a_broken_spec

if TYPE_CHECKING:
    from airflow.sdk import DAG

DAGS_FOLDER = CHECKOUT / "dags"
HEAVY = ("pandas", "sklearn", "xgboost", "lightgbm", "optuna", "mlflow", "great_expectations")
KINDS = ("ingest", "retrain", "score", "monitor", "release")  # each model's DAGs are `<model>__<kind>`

DAGBAG = DagBag(dag_folder=str(DAGS_FOLDER))


def get_dags() -> list[tuple[str, DAG, str]]:
    """(dag_id, DAG, its file relative to the checkout) for every DAG the folder defines."""
    return [(dag_id, dag, str(Path(dag.fileloc).relative_to(CHECKOUT))) for dag_id, dag in sorted(DAGBAG.dags.items())]


DAGS = get_dags()
MODEL_DAGS = [(dag_id, dag, fileloc) for dag_id, dag, fileloc in DAGS if dag_id.rpartition("__")[2] in KINDS]


@pytest.mark.parametrize("path", sorted(DAGS_FOLDER.rglob("*.py")), ids=lambda path: path.name)
def test_dag_file_imports_without_errors(path):
    assert str(path) not in DAGBAG.import_errors, DAGBAG.import_errors[str(path)]


def test_every_model_gets_its_dags_and_there_is_one_rollback():
    assert {"flights_delay__ingest", "flights_delay__retrain", "flights_delay__score", "flights_delay__monitor",
            "flights_delay__release", "nightshift__rollback"} <= set(DAGBAG.dags)


@pytest.mark.parametrize(("dag_id", "dag", "fileloc"), DAGS, ids=[dag_id for dag_id, _, _ in DAGS])
def test_dag_has_the_nightshift_tag_and_docs(dag_id, dag, fileloc):
    assert dag.tags and "nightshift" in dag.tags, f"{dag_id} in {fileloc}: tags {dag.tags} lack 'nightshift'"
    assert dag.doc_md, f"{dag_id} in {fileloc} has no doc_md"


@pytest.mark.parametrize(("dag_id", "dag", "fileloc"), DAGS, ids=[dag_id for dag_id, _, _ in DAGS])
def test_every_task_has_an_owner_retries_and_a_failure_summary(dag_id, dag, fileloc):
    for task in dag.tasks:
        where = f"{dag_id}.{task.task_id} in {fileloc}"
        assert task.owner not in ("", "airflow"), f"{where} has no owner"
        assert task.retries >= 1, f"{where} has no retries"
        assert task.on_failure_callback, f"{where} has no failure summary"


@pytest.mark.parametrize(("dag_id", "dag", "fileloc"), MODEL_DAGS, ids=[dag_id for dag_id, _, _ in MODEL_DAGS])
def test_every_task_is_stopped_by_the_spec_timeout_and_retried_with_a_growing_delay(dag_id, dag, fileloc):
    spec = load_spec(spec_path(Settings.from_env().models_dir, dag_id.rpartition("__")[0]))
    for task in dag.tasks:
        where = f"{dag_id}.{task.task_id} in {fileloc}"
        assert task.execution_timeout == dt.timedelta(minutes=spec.schedule.task_timeout_minutes), where
        assert task.retry_delay == dt.timedelta(seconds=spec.schedule.retry_delay_seconds), where
        assert task.retry_exponential_backoff == 2.0 and task.max_retry_delay == dt.timedelta(minutes=10), where


def test_trigger_forms_expose_the_ranges():
    assert set(DAGBAG.dags["flights_delay__ingest"].params) == {"start", "end"}
    assert set(DAGBAG.dags["flights_delay__retrain"].params) == {"as_of", "train_days", "params", "force"}
    assert set(DAGBAG.dags["arrival_delay__retrain"].params) == {  # it searches
        "as_of", "train_days", "params", "force", "tune"}
    assert DAGBAG.dags["flights_delay__retrain"].params["params"] == {}  # the spec's own, unless the form says


def test_rollback_form_lists_the_models_and_needs_a_reason():
    params = DAGBAG.dags["nightshift__rollback"].params
    assert params.get_param("model").schema["enum"] == ["arrival_delay", "flights_delay"]
    assert params["target"] == "previous"
    assert params.get_param("reason").schema["minLength"] == 5


def test_ingest_validates_the_runs_days_in_one_task_after_every_chunk():
    """One task, days in order: each day's history checks see the days validated before it."""
    validate = DAGBAG.dags["flights_delay__ingest"].get_task("validate")
    assert not validate.is_mapped and validate.trigger_rule == "all_done_min_one_success"
    assert {"plan_days", "ingest_raw"} <= validate.upstream_task_ids


def test_scoring_runs_when_days_are_validated_and_announces_predictions():
    score = DAGBAG.dags["flights_delay__score"]
    assert score.timetable.asset_condition.uri == "x-nightshift://validated/flights"
    assert set(score.params) == {"start", "end"}
    assert [outlet.uri for outlet in score.get_task("score_days").outlets] == ["x-nightshift://predictions/flights_delay"]


def test_monitoring_runs_daily_and_after_scoring_and_signals_decay_to_retraining():
    monitor = DAGBAG.dags["flights_delay__monitor"]
    assert monitor.timetable.timetable.expression == "0 6 * * *"
    assert monitor.timetable.asset_condition.uri == "x-nightshift://predictions/flights_delay"
    decay = monitor.get_task("signal_decay").outlets
    assert [outlet.uri for outlet in decay] == ["x-nightshift://decay/flights_delay"]


def test_release_form_takes_a_day_and_a_reason_and_announces_the_dataset():
    release = DAGBAG.dags["flights_delay__release"]
    assert type(release.timetable).__name__ == "NullTimetable"  # manual only
    assert release.params.get_param("reason").schema["minLength"] == 10
    assert release.params.get_param("day").schema["format"] == "date"
    assert [outlet.uri for outlet in release.get_task("release_day").outlets] == ["x-nightshift://validated/flights"]


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


def test_retrain_runs_nightly_on_new_validated_data_or_on_a_decay_signal():
    retrain = DAGBAG.dags["flights_delay__retrain"]
    assert type(retrain.timetable).__name__ == "AssetOrTimeSchedule"
    assert retrain.timetable.timetable.expression == "0 2 * * *"
    condition = retrain.timetable.asset_condition
    assert type(condition).__name__ == "AssetAny"  # either one, not both
    assert {asset.uri for asset in condition.objects} == {"x-nightshift://validated/flights",
                                                          "x-nightshift://decay/flights_delay"}
    assert retrain.max_active_runs == 1  # concurrent triggers never run twice at once
    ingest = DAGBAG.dags["flights_delay__ingest"]
    publish = ingest.get_task("publish")
    assert [outlet.uri for outlet in publish.outlets] == ["x-nightshift://validated/flights"]


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
     r"model: '../flights_delay' is not one of \['arrival_delay', 'flights_delay'\]"),
    ("nightshift__rollback", {"target": "../1", "reason": "bad release"}, "target: '../1' does not match"),
    ("flights_delay__ingest", {"start": "yesterday"}, "start: 'yesterday' is not a 'date'"),
    ("flights_delay__retrain", {"params": "learning_rate=0.05"}, "params: 'learning_rate=0.05' is not of type"),
    ("flights_delay__score", {"end": "2013-02-08'; DROP TABLE flights; --"}, "end: .* is not a 'date'"),
    ("flights_delay__release", {"day": "../../etc", "reason": "reviewed the late rows"}, "day: '../../etc' is not"),
])
def test_a_trigger_with_a_param_out_of_range_is_refused_before_the_run_exists(dag_id, conf, refused):
    from airflow.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=f"Invalid input for param {refused}"):
        trigger(DAGBAG.dags[dag_id], conf)


def test_a_trigger_within_range_is_accepted():
    assert trigger(DAGBAG.dags["flights_delay__retrain"], {"train_days": 30, "as_of": "2013-03-31"}) == {
        "as_of": "2013-03-31", "train_days": 30, "params": {}, "force": False}
    assert trigger(DAGBAG.dags["flights_delay__retrain"], {"params": {"learning_rate": 0.05}})["params"] == {
        "learning_rate": 0.05}
    assert trigger(DAGBAG.dags["nightshift__rollback"], {"target": "3", "reason": "bad release"})["target"] == "3"
    assert trigger(DAGBAG.dags["flights_delay__ingest"], {"start": "2013-02-08"}) == {"start": "2013-02-08",
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


def test_a_broken_spec_beside_good_ones_hides_none_of_them_and_shows_its_error(tmp_path, monkeypatch):
    from airflow.sdk.definitions.timetables.simple import NullTimetable

    from nightshift.spec import SpecError

    broken_file = models_folder_with_a_broken_spec(tmp_path)
    monkeypatch.setenv("NIGHTSHIFT_MODELS_DIR", str(tmp_path))
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    good = {f"{model}__{kind}" for model in ("flights_delay", "arrival_delay") for kind in KINDS}
    assert good <= set(bag.dags)
    assert [dag_id for dag_id in bag.dags if dag_id.startswith("team_b")] == ["team_b__spec_error"]
    placeholder = bag.dags["team_b__spec_error"]
    assert placeholder.is_paused_upon_creation and isinstance(placeholder.timetable, NullTimetable)
    assert f"{broken_file}: invalid spec" in placeholder.doc_md
    assert "windows.train_days: must be >= 1, got -3" in placeholder.doc_md
    assert bag.dags["nightshift__rollback"].params.get_param("model").schema["enum"] == ["arrival_delay",
                                                                                          "flights_delay"]
    (explain,) = placeholder.tasks  # a run of it fails saying why
    with pytest.raises(SpecError, match=r"windows\.train_days: must be >= 1, got -3"):
        explain.python_callable()


def demo_spec_copies(folder: Path, count: int) -> Path:
    """A models folder with `count` copies of the demo spec, m01, m02... (a spec is named as its file)."""
    folder.mkdir()
    spec = yaml.safe_load(DEMO_SPEC.read_text())
    for name in (f"m{i:02d}" for i in range(1, count + 1)):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump({**spec, "name": name}, sort_keys=False))
    return folder


def parse_cpu_seconds(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> float:
    """One parse of the DAG folder with the specs in `models_dir`, in this process: its CPU time, which
    other processes' load inflates less than the wall time the DagBag reports."""
    monkeypatch.setenv("NIGHTSHIFT_MODELS_DIR", str(models_dir))
    gc.collect()  # the last parse's DAGs (reference cycles) are freed now, not scanned during this one
    started = time.process_time()
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    seconds = time.process_time() - started
    assert bag.import_errors == {}, bag.import_errors
    return seconds


def test_dag_folder_parse_time_grows_no_faster_than_the_number_of_specs(tmp_path, monkeypatch):
    """Each spec adds the same cost: nothing done per spec reads every other spec. Ratios measured in one
    test, not wall times, so that the check holds on a slow or busy machine: linear growth with a fixed
    cost gives less than 10x from 1 to 10 specs and less than 4x from 10 to 40 (measured: 6-9x and
    3.7-4.4x); quadratic growth, 100x and 16x. A step may cost at most 1.5x its proportional share."""
    folders = {count: demo_spec_copies(tmp_path / str(count), count) for count in (1, 10, 40)}
    gc.collect()
    gc.freeze()  # as the dag-processor does before it parses: collections skip what the session holds
    try:  # rounds of every count, so that a busy moment slows each count alike; the least of 5 rounds (a busy
        # machine only ever adds time)
        rounds = [{count: parse_cpu_seconds(folder, monkeypatch) for count, folder in folders.items()}
                  for _ in range(5)]
    finally:
        gc.unfreeze()
    seconds = {count: min(parses[count] for parses in rounds) for count in folders}
    measured = ", ".join(f"{count} specs {cpu:.3f} s" for count, cpu in seconds.items())
    assert seconds[10] <= 1.5 * 10 * seconds[1], f"10 specs cost more than 15x one spec: {measured}"
    assert seconds[40] <= 1.5 * 4 * seconds[10], f"40 specs cost more than 6x ten specs: {measured}"


def test_a_task_process_builds_only_its_models_dags_and_the_same_ones(tmp_path, monkeypatch):
    """A task process parses the folder under Airflow's parsing context, which names the task's DAG (the task
    runner sets it in the environment): only that model's DAGs are built, serialized exactly as in the full
    parse. The rollback DAG and a broken spec's DAG still get the whole folder."""
    from airflow.sdk.definitions.context import _AIRFLOW_PARSING_CONTEXT_DAG_ID
    from airflow.serialization.serialized_objects import DagSerialization

    models_folder_with_a_broken_spec(tmp_path)
    monkeypatch.setenv("NIGHTSHIFT_MODELS_DIR", str(tmp_path))
    full = DagBag(dag_folder=str(DAGS_FOLDER))

    def parsed_for(dag_id: str) -> DagBag:
        # Not Airflow's own context manager: it leaves the variable set when it was not set before, and every
        # later test in this process would then build one model's DAGs.
        monkeypatch.setenv(_AIRFLOW_PARSING_CONTEXT_DAG_ID, dag_id)
        return DagBag(dag_folder=str(DAGS_FOLDER))

    one_model = parsed_for("arrival_delay__retrain").dags
    assert sorted(one_model) == sorted(f"arrival_delay__{kind}" for kind in KINDS)
    for dag_id, dag in one_model.items():
        assert DagSerialization.to_dict(dag) == DagSerialization.to_dict(full.dags[dag_id]), dag_id
    for dag_id in ("nightshift__rollback", "team_b__spec_error"):
        assert sorted(parsed_for(dag_id).dags) == sorted(full.dags), dag_id
