"""The second shipped spec, `arrival_delay` (a LightGBM regression that tunes), through real Airflow DAG
runs (`airflow dags test`, SQLite metadata DB): ingest -> retrain (a search, then the gate) -> score ->
monitor, on its own copy of the flights checked by the flights suite."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from nightshift.data.lake import Lake
from nightshift.demo import prepare_airflow, run_dag
from nightshift.model.registry import CHAMPION, Registry
from nightshift.spec import load_spec, spec_path

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # four DAG runs: about 3 min on 2 cores
MODEL, DATASET = "arrival_delay", "arrivals"
FIRST, LAST = dt.date(2013, 1, 1), dt.date(2013, 1, 21)


def test_a_tuned_lightgbm_regression_is_ingested_trained_scored_and_monitored_through_airflow(home):
    logs = home.home / "logs"
    spec = load_spec(spec_path(home.models_dir, MODEL))
    prepare_airflow(home)

    assert run_dag(home, f"{MODEL}__ingest", "2013-01-22", {"start": FIRST.isoformat(), "end": LAST.isoformat()},
                   logs / "ingest.log") == 0
    lake = Lake.from_uri(home.lake_uri)
    assert lake.days("validated", DATASET) == [FIRST + dt.timedelta(days=i) for i in range(21)]
    assert lake.days("validated", "flights") == []  # the other model's dataset is its own

    # The first retrain searches (nothing was tuned yet); the winner is refit and judged by the gate.
    assert run_dag(home, f"{MODEL}__retrain", "2013-01-22", {"as_of": LAST.isoformat(), "train_days": 14},
                   logs / "retrain.log") == 0
    registry = Registry.from_env()
    assert registry.alias_version(MODEL, CHAMPION) == "1"
    tags = registry.version_tags(MODEL, "1")
    assert tags["estimator"] in {"lightgbm", "hist_gradient_boosting"}, tags
    report = json.loads(Path(registry.client.download_artifacts(registry.run_id(MODEL, "1"),
                                                                "gate/report.json")).read_text())
    assert report["decision"] == "promote" and report["primary_metric"] == "mae"
    assert set(report["challenger"]) == {"rmse", "mae", "r2"}
    assert report["challenger"]["mae"] <= spec.gate.thresholds["mae"].max
    trials = 1 + len(spec.model.candidates) + spec.model.search.trials
    assert len(report["leaderboard"]) == trials
    assert {entry["source"] for entry in report["leaderboard"]} == {"spec", "candidate", "search"}
    holdout = {dt.date.fromisoformat(day) for day in report["holdout"]}
    assert holdout == {LAST - dt.timedelta(days=i) for i in range(spec.windows.holdout_days)}
    assert "TUNING" in (logs / "retrain.log").read_text()

    # The champion predicts minutes for every row of a validated day, cancelled flights included.
    assert run_dag(home, f"{MODEL}__score", "2013-01-22", {"start": LAST.isoformat()}, logs / "score.log") == 0
    predictions = lake.read_partition("predictions", MODEL, LAST)
    assert len(predictions) == lake.manifest("validated", DATASET, LAST)["rows"]
    assert set(predictions["model_version"]) == {"1"}
    assert predictions["prediction"].dtype.kind == "f" and predictions["prediction"].notna().all()

    assert run_dag(home, f"{MODEL}__monitor", "2013-01-22", {"as_of": LAST.isoformat()}, logs / "monitor.log") == 0
    assert f"MONITOR {MODEL}: champion v1" in (logs / "monitor.log").read_text()
    assert registry.version_tags(MODEL, "1")["monitoring.last_as_of"] == LAST.isoformat()
