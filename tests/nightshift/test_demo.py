"""The demo story's steps fit the DAGs they trigger: each names a DAG built from the demo spec, its conf
passes that DAG's trigger form, and the story moves forward in time. Running the story takes real DAG
runs (`airflow dags test`): tests/e2e/test_embedded_dag_runs.py. A `dags test` command that does not exit
after its run is stopped."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

import pytest

from nightshift.airflow.factory import build_dags
from nightshift.demo import MODEL, ROLLBACK, STORY, Step, run_until_finished


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


HANGS_AFTER_ITS_RUN = """
import sys, time
print("[info] DagRun Finished: dag_id=x, logical_date=2013-01-01, run_duration=1.0, state=%s, run_type=manual"
      % sys.argv[1], flush=True)
time.sleep(600)  # like a LocalExecutor joining a worker that never ends
"""


@pytest.mark.parametrize(("state", "code"), [("success", 0), ("failed", 1)])
def test_a_dags_test_command_that_hangs_after_its_run_is_stopped_and_its_outcome_read_from_its_log(
        tmp_path, state, code):
    log = tmp_path / "run.log"
    started = time.monotonic()
    assert run_until_finished([sys.executable, "-c", HANGS_AFTER_ITS_RUN, state], dict(os.environ), log,
                              grace_s=1) == code
    assert time.monotonic() - started < 60
    assert log.read_text().splitlines()[-1].startswith(f"nightshift: the run ended {state}, but `airflow dags test`")


def test_a_dags_test_command_that_exits_gives_its_own_exit_code(tmp_path):
    assert run_until_finished([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ), tmp_path / "run.log",
                              grace_s=1) == 3
