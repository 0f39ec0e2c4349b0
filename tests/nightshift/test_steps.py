"""The decisions the DAG tasks used to hold, as plain steps: day planning, what is validated and
announced, which day monitoring judges, when decay is signalled, what a model without a champion does.
Milliseconds each: a tiny local lake, an empty MLflow on SQLite, no Airflow."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from nightshift import steps
from nightshift.failures import DataError
from nightshift.model.gate import Verdict

JAN = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(10)]


@pytest.fixture
def run(spec, lake, home) -> steps.Run:
    return steps.Run(spec, lake, home)


def commit(run: steps.Run, zone: str, days: list[dt.date]) -> None:
    for day in days:
        run.lake.write_partition(zone, run.spec.source.dataset, day, pd.DataFrame({"x": [1]}))


def test_day_range_is_inclusive_and_refuses_an_end_before_the_start():
    assert steps.day_range(JAN[0], JAN[2]) == JAN[:3]
    with pytest.raises(DataError, match="end 2013-01-01 is before start 2013-01-03"):
        steps.day_range(JAN[2], JAN[0])


def test_requested_days_are_planned_in_chunks_of_the_spec(run):
    size = run.spec.schedule.ingest_chunk_days
    chunks = steps.plan_ingest(run, JAN, interval=None)
    assert [day for chunk in chunks for day in chunk] == JAN
    assert all(len(chunk) == size for chunk in chunks[:-1]) and 0 < len(chunks[-1]) <= size


def test_without_requested_days_the_data_interval_is_ingested_end_exclusive(run):
    assert steps.plan_ingest(run, [], interval=(JAN[3], JAN[4])) == [[JAN[3]]]


def test_a_run_without_days_or_interval_says_how_to_trigger(run):
    with pytest.raises(DataError, match="no days to ingest") as error:
        steps.plan_ingest(run, [], interval=None)
    assert "start" in error.value.hint


def test_validate_has_nothing_to_do_when_no_day_reached_raw(run):
    with pytest.raises(steps.NothingToDo, match="no day of this run is in raw/"):
        steps.validate(run, JAN[:2])


def test_only_the_runs_validated_days_are_announced(run):
    commit(run, "validated", [JAN[0], JAN[2], JAN[5]])
    assert steps.validated_days(run, JAN[:3]) == [JAN[0], JAN[2]]
    with pytest.raises(steps.NothingToDo):
        steps.validated_days(run, [JAN[1]])


def test_monitoring_judges_the_requested_day_then_the_newest_scored_then_the_newest_validated(run):
    commit(run, "validated", JAN[:5])
    assert steps.monitoring_day(run, JAN[1], [JAN[3]], run_date=JAN[9]) == JAN[1]
    assert steps.monitoring_day(run, None, [JAN[2], JAN[3]], run_date=JAN[9]) == JAN[3]
    assert steps.monitoring_day(run, None, [], run_date=JAN[9]) == JAN[4]
    assert steps.monitoring_day(run, None, [], run_date=JAN[2]) == JAN[2]  # never past the run's date


def test_monitoring_with_nothing_validated_yet_has_nothing_to_do(run):
    with pytest.raises(steps.NothingToDo, match="no validated day up to 2013-01-10"):
        steps.monitoring_day(run, None, [], run_date=JAN[9])


def test_decay_is_signalled_only_on_a_breach():
    checked = {"as_of": "2013-01-10", "breaches": ["drift:dep_hour"], "champion": "3"}
    assert steps.decay_signal("flights_delay", checked) == checked
    with pytest.raises(steps.NothingToDo, match="healthy"):
        steps.decay_signal("flights_delay", {**checked, "breaches": []})


def test_the_registry_is_opened_only_when_a_step_needs_it(run):
    steps.plan_ingest(run, JAN, interval=None)
    assert "registry" not in vars(run)


def test_a_verdict_crosses_xcom_with_its_days_intact():
    verdict = Verdict("4", "3", "promote", [], JAN[:2])
    assert Verdict.from_xcom(verdict.to_xcom()) == verdict
    assert verdict.to_xcom()["holdout"] == ["2013-01-01", "2013-01-02"]


def test_a_model_no_retrain_has_promoted_yet_has_nothing_to_score_or_monitor(run):
    commit(run, "validated", JAN[:2])
    with pytest.raises(steps.NothingToDo, match="flights_delay has no champion yet, so there is nothing to score"):
        steps.score(run, JAN[:2])
    with pytest.raises(steps.NothingToDo, match="nothing to monitor until a retrain promotes one"):
        steps.monitor(run, JAN[1])
    assert run.lake.days("predictions", run.spec.name) == []
