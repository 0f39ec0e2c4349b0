"""The demo story's steps fit the DAGs they trigger: each names a DAG built from the demo spec, its conf
passes that DAG's trigger form, and the story moves forward in time. Running the story takes real DAG
runs (`airflow dags test`): tests/e2e/test_embedded_dag_runs.py."""

from __future__ import annotations

import datetime as dt

import pytest

from nightshift.airflow.factory import build_dags
from nightshift.demo import MODEL, ROLLBACK, STORY, Step


@pytest.fixture(scope="module")
def dags() -> dict:
    return build_dags()


@pytest.mark.parametrize("step", STORY, ids=[f"{n}-{s.dag}" for n, s in enumerate(STORY, 1)])
def test_each_step_triggers_a_dag_of_the_demo_model_with_a_conf_its_form_accepts(dags, step: Step):
    from airflow.serialization.serialized_objects import DagSerialization

    assert step.dag in dags and (step.dag.startswith(f"{MODEL}__") or step.dag == ROLLBACK)
    # What the REST API does with a trigger's conf before a run exists (see tests/dags).
    params = DagSerialization.from_dict(DagSerialization.to_dict(dags[step.dag])).params
    assert set(step.conf) <= set(params)
    params.deep_merge(step.conf).validate()


def test_each_step_asks_only_for_days_before_its_logical_date_and_the_story_moves_forward():
    logical_dates = [dt.date.fromisoformat(step.logical_date) for step in STORY]
    assert logical_dates == sorted(logical_dates)
    for step, logical in zip(STORY, logical_dates, strict=True):
        asked = [dt.date.fromisoformat(step.conf[key]) for key in ("start", "end", "as_of") if key in step.conf]
        assert max(asked, default=dt.date.min) < logical, step.title


def test_the_story_shows_a_promotion_a_rejection_and_a_rollback_undone():
    retrains = [step.conf for step in STORY if step.dag == f"{MODEL}__retrain"]
    assert len(retrains) == 3 and "params" in retrains[1]  # the first model, a better one, a worse one
    rollbacks = [step.conf for step in STORY if step.dag == ROLLBACK]
    assert [conf["target"] for conf in rollbacks] == ["previous", "previous"]


def test_only_the_ingest_with_the_blizzard_is_expected_to_fail():
    assert [step.dag for step in STORY if not step.expect_success] == [f"{MODEL}__ingest"]
    assert "quarantined" in STORY[0].title and STORY[0].conf == {"start": "2013-01-01", "end": "2013-02-28"}
