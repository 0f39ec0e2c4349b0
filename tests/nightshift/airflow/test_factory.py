"""The factory's helpers, without a DAG run: the assets that link the DAGs, what every task inherits
(owner, timeouts, retries by error kind), the days a trigger form or the triggering asset events ask for,
and a step with nothing to do becoming a skip. The built DAGs themselves: tests/dags."""

from __future__ import annotations

import datetime as dt

import pytest
from airflow.sdk import RetryAction
from airflow.sdk.api.datamodels._generated import AssetReferenceAssetEventDagRun
from airflow.sdk.exceptions import AirflowSkipException
from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

from nightshift.airflow import factory
from nightshift.airflow.callbacks import log_failure_summary
from nightshift.failures import DataError, InfraError, ModelError, SourceNotReady
from nightshift.steps import NothingToDo

JAN = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(5)]


def test_the_assets_name_the_dataset_or_the_model_they_announce(spec):
    assert (factory.validated_asset(spec).name, factory.validated_asset(spec).uri) == (
        "flights__validated", "x-nightshift://validated/flights")
    assert factory.decay_asset(spec).uri == "x-nightshift://decay/flights_delay"
    assert factory.predictions_asset(spec).uri == "x-nightshift://predictions/flights_delay"
    assert {factory.validated_asset(spec).group, factory.decay_asset(spec).group} == {"nightshift"}


def test_every_dag_of_a_spec_gets_its_owner_tags_docs_and_timeouts(spec):
    common = factory._common(spec, "ingest: source -> raw")
    assert common["start_date"] == dt.datetime(2013, 1, 1, tzinfo=dt.UTC) and common["catchup"] is False
    assert common["tags"] == ["nightshift", "flights_delay", *spec.tags]
    assert common["doc_md"].startswith("**flights_delay** — ingest: source -> raw\n\n")
    args = common["default_args"]
    assert (args["owner"], args["retries"]) == (spec.owner, 2)
    assert args["execution_timeout"] == dt.timedelta(minutes=spec.schedule.task_timeout_minutes)
    assert args["retry_delay"] == dt.timedelta(seconds=spec.schedule.retry_delay_seconds)
    assert args["retry_policy"] is factory.RETRY_POLICY and args["on_failure_callback"] is log_failure_summary


@pytest.mark.parametrize(("error", "action", "delay"), [
    (DataError("a bad day"), RetryAction.FAIL, None),
    (ModelError("does not load"), RetryAction.FAIL, None),
    (SourceNotReady("no rows yet"), RetryAction.RETRY, dt.timedelta(minutes=30)),
    (InfraError("the registry is down"), RetryAction.DEFAULT, None),
    (KeyError("a bug"), RetryAction.DEFAULT, None),
], ids=["data", "model", "late-data", "infra", "unknown"])
def test_data_and_model_errors_fail_at_once_late_data_is_waited_for_the_rest_retries(error, action, delay):
    decision = factory.RETRY_POLICY.evaluate(error, try_number=1, max_tries=3)
    assert decision.action == action and decision.retry_delay == delay


def test_a_form_asks_for_a_range_or_one_day_or_nothing():
    assert factory._requested_days({"start": "2013-01-01", "end": "2013-01-03"}) == JAN[:3]
    assert factory._requested_days({"start": "2013-01-02", "end": None}) == [JAN[1]]
    assert factory._requested_days({"start": None, "end": None}) == []


def test_a_form_with_an_end_but_no_start_is_refused_naming_the_end():
    with pytest.raises(DataError, match=r"the form gives end=2013-01-03 but no start"):
        factory._requested_days({"start": None, "end": "2013-01-03"})


def test_planned_chunks_come_back_as_their_days_in_order():
    chunks = [factory._isos(JAN[:2]), factory._isos(JAN[2:])]
    assert chunks == [["2013-01-01", "2013-01-02"], ["2013-01-03", "2013-01-04", "2013-01-05"]]
    assert factory._chunked_days(chunks) == JAN


def event(spec, extra: dict) -> AssetEventDagRunReferenceResult:
    asset = factory.validated_asset(spec)
    return AssetEventDagRunReferenceResult(
        asset=AssetReferenceAssetEventDagRun(name=asset.name, uri=asset.uri, extra={}), extra=extra,
        source_task_id="publish", source_dag_id="flights_delay__ingest", source_run_id="manual__1",
        source_map_index=-1, source_aliases=[], timestamp=dt.datetime(2013, 1, 6, tzinfo=dt.UTC))


def test_the_days_the_triggering_events_announced_are_merged_and_sorted(spec):
    events = TriggeringAssetEventsAccessor.build([
        event(spec, {"days": ["2013-01-03", "2013-01-01"]}), event(spec, {"days": ["2013-01-01"]}),
        event(spec, {})])  # an event without days (a manual asset event, say)
    assert factory._announced_days({"triggering_asset_events": events}) == [JAN[0], JAN[2]]
    assert factory._announced_days({"triggering_asset_events": TriggeringAssetEventsAccessor.build([])}) == []


def test_a_step_with_nothing_to_do_is_a_skip_and_other_errors_pass_through():
    with pytest.raises(AirflowSkipException, match="no day of this run is in raw/"), \
            factory._skip_when_nothing_to_do():
        raise NothingToDo("no day of this run is in raw/")
    with pytest.raises(DataError), factory._skip_when_nothing_to_do():
        raise DataError("a bad day")


def test_without_specs_there_are_no_dags_not_even_the_rollback(tmp_path, monkeypatch):
    monkeypatch.setenv("NIGHTSHIFT_MODELS_DIR", str(tmp_path))
    assert factory.build_dags() == {}
