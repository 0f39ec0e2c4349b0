"""Chaos on the production topology (stack/stack.py: Airflow on Celery and PostgreSQL, MLflow's server,
S3): Celery workers SIGKILLed at seeded random points of ingest, train and promote, the MLflow server
stopped, the S3 endpoint stopped, PostgreSQL restarted, each while a run is in flight. After the
retries and reruns, nothing is lost or duplicated: every visible partition is whole and equals its
source day, every registered version is complete, there is exactly one champion, and the run history
agrees with the registry.

The model is a copy of the demo's with its own dataset (so no other DAG reacts to its data), short
windows and a 5 s retry delay. `make chaos` runs this module alone; `make test` runs it too.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field

import pytest

from nightshift.data.lake import Lake
from nightshift.data.storage import s3_client
from nightshift.model.registry import Registry
from tests.airflow_api import AirflowApi
from tests.figures import record
from tests.invariants import assert_lake_matches_the_source, assert_versions_are_whole
from tests.production_stack import RunningStack, ancestors
from tests.stack.conftest import CHAOS_MODEL
from tests.waiting import wait_until

# A test is one to three DAG runs with retries after each fault (up to 2.5 min on 2 cores); the first also
# starts the production stack (1 min).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

SEED = 20261202
FIRST, LAST = dt.date(2013, 1, 1), dt.date(2013, 1, 28)
INGEST = {"start": FIRST.isoformat(), "end": LAST.isoformat()}
RETRAIN = {"as_of": LAST.isoformat(), "force": True}  # each run trains, on the days the champion saw
# Where a kill may land: a random moment up to this many seconds after the task is seen running
# (process start-up included, as in life).
KILL_WITHIN_S = {"ingest_raw": 4, "validate": 4, "train": 6, "promote": 2}
FINISHED = {"success", "failed"}


@dataclass
class Chaos:
    stack: RunningStack
    api: AirflowApi
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))

    def dag(self, kind: str) -> str:
        return f"{CHAOS_MODEL}__{kind}"

    def instance(self, kind: str, run_id: str, task: str) -> dict:
        return next(ti for ti in self.api.task_instances(self.dag(kind), run_id) if ti["task_id"] == task)

    def running_or_finished(self, kind: str, run_id: str, task: str, try_number: int = 1,
                            timeout: float = 300) -> dict:
        """The task instance once its try `try_number` (or a later one) runs, or once it has finished."""
        def seen(ti: dict) -> bool:
            return ti["state"] in FINISHED or (ti["state"] == "running" and ti["try_number"] >= try_number)

        return wait_until(lambda: self.instance(kind, run_id, task), done=seen, timeout=timeout, interval=0.5,
                          what=f"{task} try {try_number} to run (or the task to finish)")

    def kill_worker_running(self, kind: str, run_id: str, task: str, try_number: int) -> bool:
        """SIGKILL the Celery worker (and its task processes) running the task's try, at a seeded random
        moment, then start it again as a supervisor would. True when the try was still running then;
        False, with nothing killed, when it finished before it was seen running."""
        if self.running_or_finished(kind, run_id, task, try_number)["state"] != "running":
            return False
        time.sleep(self.rng.uniform(0, KILL_WITHIN_S[task]))
        ti = self.instance(kind, run_id, task)
        worker = self.worker_of(ti["pid"]) if ti["state"] == "running" else None
        for part in [worker] if worker else ["worker1", "worker2"]:  # finished already: kill an idle worker
            self.stack.kill(part)
            self.stack.restart(part)
        record("worker kills")
        if worker:
            record("kills that landed mid-task")
        return worker is not None

    def worker_of(self, pid: int | None) -> str | None:
        """The stack part whose process group holds the task process."""
        for part in ("worker1", "worker2"):
            group = self.stack.parts.pid(part)
            if pid and group and group in ancestors(pid):
                return part
        return None

    def run(self, kind: str, conf: dict) -> str:
        return self.api.trigger(self.dag(kind), conf)

    def finished(self, kind: str, run_id: str) -> str:
        return self.api.wait_for_run(self.dag(kind), run_id, timeout=900)

    def clear(self, kind: str, run_id: str, task: str) -> None:
        """Rerun a task (and what follows it) of a finished run, as the UI's Clear does."""
        self.api.call("POST", f"/dags/{self.dag(kind)}/clearTaskInstances", json={
            "dag_run_id": run_id, "task_ids": [task], "include_downstream": True, "only_failed": False,
            "dry_run": False, "reset_dag_runs": True})

    def failed_task(self, kind: str, run_id: str) -> str:
        """The one task of a failed run that failed itself (the rest are upstream_failed or done)."""
        failed = [ti["task_id"] for ti in self.api.task_instances(self.dag(kind), run_id) if ti["state"] == "failed"
                  and ti["task_id"] != "fail_run_if_any_task_failed"]
        assert len(failed) == 1, f"{kind} {run_id}: failed tasks {failed}"
        return failed[0]

    def last_event(self, kind: str, run_id: str, task: str) -> str:
        ti = self.instance(kind, run_id, task)
        events = [line["event"] for line in self.api.log(self.dag(kind), run_id, task, ti["try_number"])
                  if not line["event"].startswith("::")]
        return events[-1]


@pytest.fixture(scope="module")
def chaos(stack: RunningStack) -> Chaos:
    api = stack.api()
    for kind in ("ingest", "retrain"):
        api.wait_for_dag(f"{CHAOS_MODEL}__{kind}")
        api.unpause(f"{CHAOS_MODEL}__{kind}")
    return Chaos(stack, api)


@pytest.fixture(scope="module")
def world(stack: RunningStack):
    """The stack's lake and registry, seen from this process."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("NIGHTSHIFT_LAKE_URI", "NIGHTSHIFT_LOCK_URI", "MLFLOW_TRACKING_URI", "AWS_ENDPOINT_URL",
                     "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            patch.setenv(name, stack.env[name])
        s3_client.cache_clear()
        yield Lake.from_env(), Registry.from_env()
    s3_client.cache_clear()


def test_workers_killed_during_ingest_leave_whole_partitions(chaos: Chaos, world):
    run_id = chaos.run("ingest", INGEST)
    chaos.kill_worker_running("ingest", run_id, "ingest_raw", try_number=1)
    chaos.kill_worker_running("ingest", run_id, "validate", try_number=1)
    assert chaos.finished("ingest", run_id) == "success"
    assert_lake_matches_the_source(world[0], CHAOS_MODEL, FIRST, LAST)


def test_workers_killed_during_train_and_promote_leave_complete_versions_and_one_champion(chaos: Chaos, world):
    run_id = chaos.run("retrain", RETRAIN)
    for task in ("train", "promote"):
        for try_number in (1, 2):  # the tasks' two retries; the third try runs in peace
            if not chaos.kill_worker_running("retrain", run_id, task, try_number):
                break
    assert chaos.finished("retrain", run_id) == "success"
    assert_registry_is_whole(chaos, world[1], run_id)


def test_the_mlflow_server_stopped_mid_retrain_fails_as_infra_and_a_rerun_completes(chaos: Chaos, world):
    run_id = chaos.run("retrain", RETRAIN)
    chaos.running_or_finished("retrain", run_id, "train")
    time.sleep(chaos.rng.uniform(0, KILL_WITHIN_S["train"]))
    chaos.stack.parts.stop(["mlflow"])
    record("faults injected")
    try:
        assert chaos.finished("retrain", run_id) == "failed"  # every try failed while it was down
        failed = chaos.failed_task("retrain", run_id)
        summary = chaos.last_event("retrain", run_id, failed)
        assert summary.lstrip().startswith("NIGHTSHIFT FAILURE  infra/"), summary
    finally:
        chaos.stack.up()
    chaos.clear("retrain", run_id, failed)
    assert chaos.finished("retrain", run_id) == "success"
    assert_registry_is_whole(chaos, world[1], run_id)


def test_the_s3_endpoint_stopped_mid_ingest_is_retried_and_nothing_is_duplicated(chaos: Chaos, world):
    lake, s3 = world[0], chaos.stack.parts.pid("s3")
    run_id = chaos.run("ingest", INGEST)
    assert chaos.running_or_finished("ingest", run_id, "ingest_raw")["state"] == "running"
    time.sleep(chaos.rng.uniform(0, KILL_WITHIN_S["ingest_raw"]))
    stopped_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    os.kill(s3, signal.SIGSTOP)  # stopped: connections hang, nothing answers
    record("faults injected")
    try:
        time.sleep(35)  # past the 30 s read timeout: calls in flight give up and are retried
    finally:
        os.kill(s3, signal.SIGCONT)
    assert chaos.finished("ingest", run_id) == "success"
    rewritten = [day for day in lake.days("validated", CHAOS_MODEL)
                 if lake.manifest("validated", CHAOS_MODEL, day)["written_at"] >= stopped_at]
    assert rewritten, "no validated day was rewritten after the endpoint stopped"
    assert_lake_matches_the_source(lake, CHAOS_MODEL, FIRST, LAST)


def test_postgres_restarted_mid_run_is_survived(chaos: Chaos, world):
    run_id = chaos.run("ingest", INGEST)
    chaos.running_or_finished("ingest", run_id, "ingest_raw")
    time.sleep(chaos.rng.uniform(0, KILL_WITHIN_S["ingest_raw"]))
    before = _postgres_started()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", _postgres_version(), "main", "restart"],
                   check=True, capture_output=True)
    assert _postgres_started() != before
    record("faults injected")
    chaos.stack.up()  # a supervisor restarts any Airflow part that exited on the lost connection
    if chaos.finished("ingest", run_id) != "success":
        chaos.clear("ingest", run_id, chaos.failed_task("ingest", run_id))  # the operator's rerun
        assert chaos.finished("ingest", run_id) == "success"
    assert_lake_matches_the_source(world[0], CHAOS_MODEL, FIRST, LAST)


def _postgres_version() -> str:
    return subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True,
                          check=True).stdout.split()[0]


def _postgres_started() -> str:
    return subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SELECT pg_postmaster_start_time()"],
                          capture_output=True, text=True, check=True).stdout.strip()


def assert_registry_is_whole(chaos: Chaos, registry: Registry, run_id: str) -> None:
    """Every version is complete, and the champion is the one the run's promote task reported."""
    champion = assert_versions_are_whole(registry, CHAOS_MODEL)
    promoted = chaos.api.call("GET", f"/dags/{chaos.dag('retrain')}/dagRuns/{run_id}/taskInstances/promote/"
                                     "xcomEntries/return_value").json()["value"]
    assert champion == str(promoted["champion"])
