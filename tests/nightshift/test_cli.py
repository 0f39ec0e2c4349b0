"""The `nightshift` command, run through click on a fresh home: `reproduce` reruns the same steps the
DAG tasks run, and raises what they raise."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner

from nightshift.cli import main
from tests.conftest import models_folder_with_a_broken_spec

DAY = dt.date(2013, 1, 3)


def test_reproduce_ingests_and_validates_a_day_as_the_tasks_do(home, lake):
    runner = CliRunner()
    ingested = runner.invoke(main, ["reproduce", "flights_delay", "ingest_raw", DAY.isoformat()])
    assert ingested.exit_code == 0, ingested.output
    assert lake.days("raw", "flights") == [DAY]

    validated = runner.invoke(main, ["reproduce", "flights_delay", "validate", DAY.isoformat()])
    assert validated.exit_code == 0, validated.output
    assert "validated" in validated.output and lake.days("validated", "flights") == [DAY]

    featured = runner.invoke(main, ["reproduce", "flights_delay", "build_features", DAY.isoformat()])
    assert featured.exit_code == 0, featured.output
    assert "features/flights_delay: aggregates of 1 days: 0 read from features/, 1 computed" in featured.output
    assert lake.days("features", "flights_delay") == [DAY]


def test_reproducing_validation_of_a_day_not_ingested_says_so(home):
    result = CliRunner().invoke(main, ["reproduce", "flights_delay", "validate", DAY.isoformat()])
    assert result.exit_code == 1 and "no day of this run is in raw/" in result.output


def test_evaluate_without_a_challenger_says_so(home):
    result = CliRunner().invoke(main, ["reproduce", "flights_delay", "evaluate", DAY.isoformat()])
    assert result.exit_code == 1 and "flights_delay has no challenger to evaluate" in result.output


def test_reproducing_a_train_takes_the_runs_form_values_and_raises_what_the_task_raised(home):
    """The options a failed train's summary gives (tests/nightshift/airflow/test_callbacks.py)."""
    runner = CliRunner()
    refused = runner.invoke(main, ["reproduce", "flights_delay", "train", DAY.isoformat(), "--train-days", "3",
                                   "--params", '{"max_iter":[1]}'])
    assert refused.exit_code == 1, refused.output
    assert "the run's params {'max_iter': [1]} do not fit flights_delay's model" in str(refused.exception)
    for value, says in [("[1]", "is not a JSON object"), ("{max_iter: 1}", "is not JSON")]:
        bad = runner.invoke(main, ["reproduce", "flights_delay", "train", DAY.isoformat(), "--params", value])
        assert bad.exit_code == 2 and says in bad.output, bad.output


def test_status_without_a_model_lists_every_spec_and_the_error_of_one_that_does_not_load(home, tmp_path,
                                                                                          monkeypatch):
    models_folder_with_a_broken_spec(tmp_path)
    monkeypatch.setenv("NIGHTSHIFT_MODELS_DIR", str(tmp_path))
    overview = CliRunner().invoke(main, ["status"])
    assert overview.exit_code == 0, overview.output
    rows = {line.split()[1]: line for line in overview.output.splitlines() if line.startswith("│ ") and
            line.split()[1] != "│"}
    assert "regression" in rows["arrival_delay"] and "lightgbm" in rows["arrival_delay"]
    cells = [cell.strip() for cell in rows["flights_delay"].split("│")[2:7]]
    assert cells == ["classification / hist_gradient_boosting", "none", "never", "none", "not yet"]  # nothing yet
    assert "spec does not load" in rows["team_b"]
    assert "windows.train_days: must be >= 1, got -3" in overview.output

    one = CliRunner().invoke(main, ["status", "team_b"])
    assert one.exit_code == 1 and "windows.train_days: must be >= 1, got -3" in one.output
    assert "Traceback" not in one.output
