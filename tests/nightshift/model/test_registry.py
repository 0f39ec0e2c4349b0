"""The MLflow registry (SQLite and local artifacts in a module home) as the one source of truth for what
serves: versions registered with their checksum, aliases moved by compare-and-set, tampered artifacts
refused, rollbacks recorded. Two small scikit-learn versions, registered once for the module; each test
starts with no aliases."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nightshift.failures import ConfigError, InfraError, ModelError
from nightshift.model.registry import (
    CHALLENGER,
    CHAMPION,
    MODEL_SHA256,
    PREVIOUS,
    ChampionChanged,
    Registry,
    TrainedModel,
    artifact_checksum,
)
from nightshift.model.train import serving_requirements
from nightshift.spec import ModelSpec, load_spec
from tests.conftest import DEMO_SPEC, free_port, module_home, tamper_artifact

WINDOW = {"as_of": "2013-01-21", "train": ["2013-01-01", "2013-01-02"], "holdout": ["2013-01-21"],
          "partitions": {"2013-01-01": "sha256:01", "2013-01-02": "sha256:02", "2013-01-21": "sha256:21"}}


def inputs(rows: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"distance": rng.uniform(100, 3000, rows), "dep_hour": rng.integers(5, 23, rows) * 1.0})
    return X, (X["dep_hour"] + rng.normal(0, 3, rows) > 15).astype(int)


def register(registry: Registry, spec: ModelSpec, seed: int = 0, **tags: object) -> str:
    """A small fitted pipeline logged and registered as the train step does; returns its version."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = inputs(seed=seed)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    logged = registry.log_trained_model(spec, TrainedModel(
        pipeline=pipeline, sample=X.head(50), run_name=f"small model {seed}", params={"seed": seed},
        metrics={"train_rows": len(X)}, window=WINDOW, trusted_types=[], requirements=serving_requirements([])))
    return registry.register_version(spec.name, logged.model_uri, {"seed": seed, **tags})


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[tuple[Registry, ModelSpec, str, str]]:
    """The registry, the spec, and two registered versions of its model."""
    with module_home(tmp_path_factory, "registry"):
        registry, spec = Registry.from_env(), load_spec(DEMO_SPEC)
        yield registry, spec, register(registry, spec, seed=0), register(registry, spec, seed=1)


@pytest.fixture
def registered(world) -> tuple[Registry, str, str, str]:
    """The registry, the model's name and its two versions, no alias set."""
    registry, spec, first, second = world
    for alias in (CHAMPION, CHALLENGER, PREVIOUS):
        if registry.alias_version(spec.name, alias) is not None:
            registry.client.delete_registered_model_alias(spec.name, alias)
    return registry, spec.name, first, second


def test_versions_are_listed_oldest_first_with_their_tags_and_checksum(registered):
    registry, model, first, second = registered
    versions = registry.versions(model)
    assert [v.version for v in versions] == [first, second] == ["1", "2"]
    assert versions[1].tags["seed"] == "1"
    assert len(versions[0].tags[MODEL_SHA256]) == 64 and float(versions[0].tags["model_size_mb"]) > 0
    assert versions[0].tags[MODEL_SHA256] != versions[1].tags[MODEL_SHA256]


def test_a_version_keeps_the_spec_and_the_window_it_was_trained_with(registered, spec):
    registry, model, first, _ = registered
    assert registry.trained_spec(model, first) == spec
    assert registry.training_window(model, first) == WINDOW


def test_a_missing_alias_or_model_is_none(registered):
    registry, model, _, _ = registered
    assert registry.alias_version(model, CHAMPION) is None
    assert registry.alias_version("no_such_model", CHAMPION) is None


def test_a_version_loads_and_predicts_as_a_scorer_would(registered):
    registry, model, first, _ = registered
    X, _ = inputs(rows=20, seed=5)
    with registry.loaded_pyfunc(model, first) as loaded:
        assert len(loaded.predict(X)) == 20
    assert set(registry.load_model(model, first).predict(X)) <= {0, 1}


def test_metrics_and_artifacts_go_to_the_run_that_trained_the_version(registered):
    registry, model, first, _ = registered
    registry.log_to_run(model, first, texts={"notes/why.txt": "checked"}, metrics={"monitoring.psi": 0.1}, step=3)
    registry.log_to_run(model, first, metrics={"monitoring.psi": 0.2}, step=4)
    assert registry.run_metric(model, first, "monitoring.psi") == 0.2
    assert registry.metric_steps(model, first, "monitoring.psi") == {3, 4}
    assert Path(registry.client.download_artifacts(registry.run_id(model, first), "notes/why.txt")).read_text() \
        == "checked"


def test_promotion_moves_the_champion_only_from_the_one_the_gate_compared_against(registered):
    registry, model, first, second = registered
    assert registry.promote(model, first, expected_champion=None) is None
    with pytest.raises(ChampionChanged, match=f"the gate compared version {second} with champion None, but the "
                                              f"champion is now {first}"):
        registry.promote(model, second, expected_champion=None)
    registry.name_challenger(model, second)
    assert registry.promote(model, second, expected_champion=first) == first
    assert registry.alias_version(model, CHAMPION) == second
    assert registry.alias_version(model, PREVIOUS) == first
    assert registry.alias_version(model, CHALLENGER) is None


def test_a_retired_challenger_loses_the_alias_only_if_it_still_holds_it(registered):
    registry, model, first, second = registered
    registry.name_challenger(model, second)
    registry.retire_challenger(model, first)  # not the challenger: nothing changes
    assert registry.alias_version(model, CHALLENGER) == second
    registry.retire_challenger(model, second)
    assert registry.alias_version(model, CHALLENGER) is None
    assert [v.version for v in registry.versions(model)] == [first, second]  # the version stays


def test_a_tampered_artifact_is_refused(registered):
    registry, model, first, _ = registered
    stored, original = tamper_artifact(registry, model, first)
    try:
        with pytest.raises(ModelError, match="does not match the recorded"):
            registry.load_model(model, first)
    finally:
        stored.write_bytes(original)
    registry.load_model(model, first)  # intact again


def test_a_challenger_tampered_with_after_the_gate_is_never_promoted(registered):
    registry, model, first, second = registered
    registry.promote(model, first, expected_champion=None)
    stored, original = tamper_artifact(registry, model, second)
    try:
        with pytest.raises(ModelError, match="does not match the recorded"):
            registry.promote(model, second, expected_champion=first)  # as if it passed
    finally:
        stored.write_bytes(original)
    assert registry.alias_version(model, CHAMPION) == first


def test_a_version_without_a_recorded_checksum_is_refused(registered, spec):
    import mlflow

    registry, model, first, _ = registered
    bare = mlflow.register_model(f"models:/{model}/{first}", model)  # not through Nightshift: no checksum tag
    with pytest.raises(ModelError, match=f"{model} version {bare.version} has no recorded model_sha256; refusing"):
        registry.load_model(model, str(bare.version))
    registry.client.delete_model_version(model, bare.version)


def test_a_promotion_that_died_half_way_completes_on_retry(registered):
    registry, model, champion, second = registered
    registry.promote(model, champion, expected_champion=None)
    registry.name_challenger(model, second)
    registry.set_alias(model, PREVIOUS, champion)  # what a try killed after moving the champion left
    registry.set_alias(model, CHAMPION, second)

    replaced = registry.promote(model, second, expected_champion=champion)

    assert replaced == champion
    assert registry.alias_version(model, CHAMPION) == second
    assert registry.alias_version(model, PREVIOUS) == champion
    assert registry.alias_version(model, CHALLENGER) is None


def test_rollback_is_recorded_and_reversible(registered):
    registry, model, champion, second = registered
    registry.promote(model, champion, expected_champion=None)
    registry.promote(model, second, expected_champion=champion)  # as if it had passed

    record = registry.rollback(model, PREVIOUS, reason="bad predictions on JFK", actor="on-call")
    assert record["to_version"] == champion and record["by"] == "on-call"
    assert registry.alias_version(model, CHAMPION) == champion
    assert registry.alias_version(model, PREVIOUS) == second
    assert registry.version_tags(model, champion)["rollback.reason"] == "bad predictions on JFK"

    registry.rollback(model, PREVIOUS, reason="false alarm", actor="on-call")
    assert registry.alias_version(model, CHAMPION) == second
    with pytest.raises(ModelError, match="already the champion"):
        registry.rollback(model, second, reason="again", actor="me")


def test_a_rollback_needs_a_reason_and_a_champion(registered):
    registry, model, first, _ = registered
    with pytest.raises(ModelError, match="a rollback needs a reason"):
        registry.rollback(model, first, reason="  ", actor="on-call")
    with pytest.raises(ModelError, match=rf"{model}: nothing to roll back \(champion None, target previous -> None\)"):
        registry.rollback(model, PREVIOUS, reason="undo", actor="on-call")


def test_a_tracking_server_that_does_not_answer_is_a_retryable_error_naming_it(home, monkeypatch):
    server = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    with pytest.raises(InfraError, match=f"registry: the MLflow tracking server at {server} does not answer") \
            as error:
        Registry.from_env()
    assert error.value.retryable
    assert error.value.evidence == f"MLFLOW_TRACKING_URI = {server} (environment)"


def test_a_tracking_server_host_that_does_not_resolve_is_a_setting_to_fix_not_an_outage(home, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.invalid:5000")
    with pytest.raises(ConfigError, match=r"the host of the MLflow tracking server http://mlflow\.invalid:5000 does "
                                          "not resolve") as error:
        Registry.from_env()
    assert not error.value.retryable and error.value.kind == "misconfigured_endpoint"
    assert error.value.evidence == "MLFLOW_TRACKING_URI = http://mlflow.invalid:5000 (environment)"


def test_processes_opening_a_new_sqlite_registry_at_once_all_find_it(empty_home):
    """MLflow makes a new SQLite store's tables on first use without a lock; six processes at once failed
    ("table _alembic_tmp_experiments already exists") before the registry opened it one at a time."""
    opening = "from nightshift.model.registry import Registry; Registry.from_env().client.search_experiments()"
    processes = [subprocess.Popen([sys.executable, "-c", opening], stderr=subprocess.PIPE, text=True)
                 for _ in range(6)]
    failed = [error for process in processes if (error := process.communicate(timeout=120)[1]) and process.returncode]
    assert not failed, failed[0][-1500:]
    assert [e.name for e in Registry.from_env().client.search_experiments()] == ["Default"]


def test_a_process_killed_while_making_a_new_sqlite_registry_leaves_none_half_made(empty_home):
    """A failed task's callback on a fresh install made the store on a thread its task process did not wait
    for: killed between two of MLflow's migrations, it left a store no later process could open ("table
    online_scoring_configs already exists"). The tables are now made aside and moved into place."""
    import signal
    import time

    opening = "from nightshift.model.registry import Registry; Registry.from_env()"
    process = subprocess.Popen([sys.executable, "-c", opening], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (making := list(empty_home.home.glob(".mlflow.db.making-*"))):
        assert process.poll() is None and time.monotonic() < deadline, "the store was never made aside"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert making[0].exists() and not (empty_home.home / "mlflow.db").exists()

    assert [e.name for e in Registry.from_env().client.search_experiments()] == ["Default"]


def test_the_checksum_covers_every_file_path_and_byte_but_not_what_the_client_writes(tmp_path):
    (tmp_path / "model" / "data").mkdir(parents=True)
    (tmp_path / "model" / "MLmodel").write_text("flavors: {}")
    (tmp_path / "model" / "data" / "model.skops").write_bytes(b"weights")
    original = artifact_checksum(tmp_path / "model")
    (tmp_path / "model" / "registered_model_meta").write_text("model_name: flights_delay")
    assert artifact_checksum(tmp_path / "model") == original
    (tmp_path / "model" / "data" / "model.skops").rename(tmp_path / "model" / "data" / "other.skops")
    assert artifact_checksum(tmp_path / "model") != original


def test_a_run_left_running_past_the_task_limit_is_marked_killed_and_says_why(world):
    registry, spec, _, _ = world
    experiment = registry.client.get_experiment_by_name(spec.name).experiment_id
    two_hours_ago = int((dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).timestamp() * 1000)
    died = registry.client.create_run(experiment, start_time=two_hours_ago, run_name="a train that died")
    alive = registry.client.create_run(experiment, run_name="a train still fitting")

    assert registry.end_abandoned_runs(spec.name, older_than=dt.timedelta(hours=1)) == [died.info.run_id]
    killed = registry.client.get_run(died.info.run_id)
    assert killed.info.status == "KILLED"
    assert "its task died; marked KILLED by a later retrain" in killed.data.tags["nightshift.abandoned"]
    assert registry.client.get_run(alive.info.run_id).info.status == "RUNNING"
    assert registry.end_abandoned_runs(spec.name, older_than=dt.timedelta(hours=1)) == []
    assert registry.end_abandoned_runs("no_such_model", older_than=dt.timedelta(hours=1)) == []
    registry.client.set_terminated(alive.info.run_id)


def test_a_versions_run_shows_its_training_and_holdout_days_as_mlflow_datasets(world):
    import hashlib

    registry, spec, first, _ = world
    run = registry.client.get_run(registry.run_id(spec.name, first))
    logged = {next(tag.value for tag in item.tags if tag.key == "mlflow.data.context"): item.dataset
              for item in run.inputs.dataset_inputs}
    assert sorted(logged) == ["holdout", "training"]
    assert logged["training"].name == "flights 2013-01-01..2013-01-02"
    assert logged["training"].digest == hashlib.sha256(b"sha256:01\nsha256:02").hexdigest()[:16]
    assert logged["holdout"].name == "flights 2013-01-21..2013-01-21"
    assert f"{registry.settings.lake_uri}/validated/flights" in logged["training"].source
