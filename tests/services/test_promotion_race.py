"""Concurrent retrains of one model against an MLflow tracking server on PostgreSQL.

Each retrain is a separate process running the real train -> gate -> promote path; the models differ
in which features they see, so their quality is known in advance: a noise-only model (fails the
threshold), a copy of the champion's recipe (no real gain), a strong one and a stronger one.
Whatever the order, the stronger one must end as the only champion, with `previous` on a version
that was champion before it.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from nightshift.model.locks import postgres_advisory_lock
from nightshift.model.registry import CHALLENGER, CHAMPION, PREVIOUS, Registry

START, DAYS = dt.date(2024, 1, 1), 28
AS_OF = START + dt.timedelta(days=DAYS - 1)
RECIPES = {
    "noise": ["x3"],
    "baseline": ["x2", "x3"],
    "strong": ["x1", "x2", "x3"],
    "stronger": ["x1", "x2", "x3", "x4"],
}


def write_world(root: Path) -> dict[str, Path]:
    """Synthetic daily data, its suite, and one models folder per recipe (all for model `race`)."""
    rng = np.random.default_rng(5)
    rows = DAYS * 300
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(1, 5)})
    frame["y"] = frame.x1 + frame.x2 + 1.5 * frame.x4 + rng.normal(scale=0.8, size=rows)
    frame["day"] = [(START + dt.timedelta(days=i // 300)).isoformat() for i in range(rows)]
    frame.to_csv(root / "race.csv", index=False)
    (root / "expectations").mkdir()
    (root / "expectations" / "race.yaml").write_text(yaml.safe_dump({"name": "race", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "y"}}]}))
    folders = {}
    for recipe, features in RECIPES.items():
        folders[recipe] = root / f"models-{recipe}"
        folders[recipe].mkdir()
        (folders[recipe] / "race.yaml").write_text(yaml.safe_dump({
            "name": "race", "description": f"synthetic, {recipe}", "owner": "test",
            "source": {"dataset": "race", "path": str(root / "race.csv"), "format": "csv",
                       "date_columns": ["day"], "start_date": START.isoformat()},
            "task": "classification", "target": {"column": "y", "rule": "> 0"},
            "features": {"numeric": features},
            "model": {"params": {"max_iter": 60}, "seed": 3},
            "windows": {"train_days": 21, "holdout_days": 7},
            "gate": {"primary_metric": "roc_auc", "thresholds": {"roc_auc": {"min": 0.6}},
                     "vs_champion": {"min_delta": 0.01, "confidence": 0.95, "resamples": 300}},
        }))
    return folders


def retrain(models_dir: str) -> dict:
    """One retrain, in its own process: train, gate, promote if better."""
    from nightshift import steps
    from nightshift.data.lake import Lake
    from nightshift.spec import load_spec

    # Forced: the baseline racer repeats the first champion's recipe and data on purpose.
    done = steps.retrain(steps.Run(load_spec(Path(models_dir) / "race.yaml"), Lake.from_env()), AS_OF, force=True)
    final = done.promotion.verdict
    return {"version": done.trained.version, "decision": final.decision, "replaced": done.promotion.replaced,
            "failed": final.failed_checks, "auc": done.report.challenger["roc_auc"]}


@pytest.fixture
def race_home(tmp_path, mlflow_server, postgres_database, monkeypatch):
    from nightshift.data import ingest, validate
    from nightshift.data.lake import Lake
    from nightshift.spec import load_spec

    folders = write_world(tmp_path)
    monkeypatch.setenv("NIGHTSHIFT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("NIGHTSHIFT_LOCK_URI", postgres_database)
    monkeypatch.setenv("NIGHTSHIFT_EXPECTATIONS_DIR", str(tmp_path / "expectations"))
    monkeypatch.delenv("NIGHTSHIFT_LAKE_URI", raising=False)
    spec, lake = load_spec(folders["baseline"] / "race.yaml"), Lake.from_env()
    days = [START + dt.timedelta(days=i) for i in range(DAYS)]
    ingest.ingest_days(spec, lake, days)
    validate.validate_days(spec, lake, days, tmp_path / "expectations")
    return folders


def test_racing_retrains_leave_exactly_the_best_champion(race_home):
    first = retrain(str(race_home["baseline"]))
    assert first["decision"] == "promote"

    racers = ["noise", "baseline", "strong", "stronger"]
    with ProcessPoolExecutor(max_workers=4, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = dict(zip(racers, pool.map(retrain, [str(race_home[r]) for r in racers]), strict=True))

    registry = Registry.from_env()
    champion, previous = registry.alias_version("race", CHAMPION), registry.alias_version("race", PREVIOUS)
    assert champion == results["stronger"]["version"], results
    assert results["noise"]["decision"] == "reject" and "roc_auc threshold" in results["noise"]["failed"]
    assert results["baseline"]["decision"] == "reject"
    assert previous in {first["version"], results["strong"]["version"]}
    promoted = [r for r in results.values() if r["decision"] == "promote"]
    assert {r["replaced"] for r in promoted} | {previous} <= {first["version"], results["strong"]["version"]}
    assert registry.alias_version("race", CHALLENGER) is None
    for name, result in results.items():
        tags = registry.version_tags("race", result["version"])
        assert tags["gate.decision"] == result["decision"], name


def test_advisory_lock_serialises_holders(postgres_database):
    events = []

    def hold(name: str) -> None:
        with postgres_advisory_lock(postgres_database, "nightshift.promote.race"):
            events.append(f"{name} in")
            time.sleep(0.5)
            events.append(f"{name} out")

    threads = [threading.Thread(target=hold, args=(name,)) for name in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(events) == 6
    assert all(events[i].endswith("in") and events[i + 1] == events[i].replace("in", "out") for i in range(0, 6, 2))


def test_first_runs_of_a_new_model_creating_its_experiment_at_once_share_one(mlflow_server, tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("NIGHTSHIFT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    registry, racers = Registry.from_env(), 4
    start = threading.Barrier(racers)

    def first_run(_: int) -> str:
        start.wait()
        return registry._experiment_id("brand_new_model")

    with ThreadPoolExecutor(racers) as pool:
        ids = set(pool.map(first_run, range(racers)))
    assert ids == {registry.client.get_experiment_by_name("brand_new_model").experiment_id}
