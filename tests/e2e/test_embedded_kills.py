"""Kills on the embedded default: while a model's cycle runs through Airflow's scheduler and LocalExecutor
(eight ingests at once, two retrains, scoring), the task processes of ingest_raw, validate, train,
evaluate, promote and score_days are SIGKILLed at seeded random moments, every try but the last of
each (ingest_raw: the first four of its seven). After the retries nothing is lost or duplicated:
every run succeeded, every partition is whole and equals its source day, each day has one verdict, every
registered version verifies, and every scored day is whole and from a registered version.

The model is a copy of the demo's with its own dataset, short windows and retries 1 s apart.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import yaml

from nightshift.data.lake import Lake
from nightshift.model.registry import Registry
from nightshift.settings import Settings
from tests.airflow_api import AirflowApi
from tests.conftest import DEMO_SPEC, EXPECTATIONS, module_home
from tests.embedded_airflow import embedded_airflow
from tests.figures import record
from tests.invariants import assert_lake_matches_the_source, assert_partition_is_whole, assert_versions_are_whole
from tests.waiting import wait_until

# About 7 min on 2 cores: some 100 task processes started, half of them killed.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

SEED = 20261205
MODEL = "flights_kills"  # its dataset too
FIRST, LAST = dt.date(2013, 1, 1), dt.date(2013, 1, 28)
INGESTS = [{"start": start.isoformat(), "end": (start + dt.timedelta(days=length - 1)).isoformat()}
           for start, length in zip([FIRST + dt.timedelta(days=d) for d in (0, 4, 8, 12, 16, 19, 22, 25)],
                                    (4, 4, 4, 4, 3, 3, 3, 3), strict=True)]
RETRAIN = {"as_of": LAST.isoformat(), "force": True}  # each run trains
SCORES = [{"start": "2013-01-22", "end": "2013-01-24"}, {"start": "2013-01-25", "end": "2013-01-28"}]
# Per task: how many of its first tries are killed, and within how many seconds of a try being seen
# running (process start-up included, as in life).
KILLS = {"ingest_raw": (4, 1.0), "validate": (2, 1.5), "train": (2, 3.0), "evaluate": (2, 3.0),
         "promote": (2, 1.0), "score_days": (2, 1.5)}
AT_LEAST = 50  # kills per run of this module, as the chaos suite promises
ACTIVE = {"queued", "running"}
# Manual and asset-triggered runs only (no cron ticks); the DAGs wait paused until the test unpauses them.
SETTINGS = {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}


def dag(kind: str) -> str:
    return f"{MODEL}__{kind}"


@dataclass
class Killer:
    """Watches the model's running task instances and SIGKILLs each targeted try's process once, at a
    seeded random moment after it is first seen running."""
    api: AirflowApi
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    due: dict[tuple, float] = field(default_factory=dict)  # a try -> when its process is killed
    tried: set[tuple] = field(default_factory=set)         # the tries whose kill came
    landed: list[tuple] = field(default_factory=list)      # ...and found the process still running

    def watch(self) -> None:
        running = self.api.call("GET", "/dags/~/dagRuns/~/taskInstances", params={
            "dag_id_prefix_pattern": f"{MODEL}__", "state": "running", "limit": 100}).json()["task_instances"]
        now = time.monotonic()
        for ti in running:
            tries, within = KILLS.get(ti["task_id"], (0, 0.0))
            key = (ti["dag_id"], ti["dag_run_id"], ti["task_id"], ti["map_index"], ti["try_number"])
            if ti["try_number"] > tries or key in self.tried or not ti["pid"]:
                continue
            if key not in self.due:
                self.due[key] = now + self.rng.uniform(0, within)
            elif now >= self.due[key]:
                self.tried.add(key)
                try:
                    os.kill(ti["pid"], signal.SIGKILL)
                except ProcessLookupError:  # the try ended since it was listed
                    continue
                self.landed.append(key)
                record("task process kills")
                record("kills that landed mid-task")

    def until_finished(self, runs: list[tuple[str, str]], timeout: float = 900) -> None:
        """Kill while the runs go on, until each has finished; each must have succeeded."""
        def states() -> dict[tuple[str, str], str]:
            self.watch()
            return {(dag_id, run_id): self.api.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"]
                    for dag_id, run_id in runs}

        finished = wait_until(states, done=lambda found: not ACTIVE & set(found.values()), timeout=timeout,
                              interval=0.5, what=f"{len(runs)} runs of {MODEL} to finish")
        assert set(finished.values()) == {"success"}, finished

    def until_idle(self, kinds: list[str], timeout: float = 600) -> list[dict]:
        """Kill while any run of these DAGs (asset-triggered ones too) is active; returns all their runs."""
        def runs() -> list[dict]:
            self.watch()
            return [run for kind in kinds for run in self.api.call("GET", f"/dags/{dag(kind)}/dagRuns",
                                                                   params={"limit": 100}).json()["dag_runs"]]

        return wait_until(runs, done=lambda found: all(run["state"] not in ACTIVE for run in found),
                          timeout=timeout, interval=0.5, what=f"every run of {MODEL}'s {kinds} to finish")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[tuple[Settings, dict[str, str]]]:
    """An empty home, the model's spec and expectation suite, and the environment Airflow reads them from."""
    with module_home(tmp_path_factory, "embedded-kills") as settings:
        models, suites = settings.home / "models", settings.home / "expectations"
        models.mkdir()
        shutil.copytree(EXPECTATIONS, suites)
        shutil.copy(suites / "flights.yaml", suites / f"{MODEL}.yaml")
        spec = yaml.safe_load(DEMO_SPEC.read_text())
        spec.update(name=MODEL, windows={"train_days": 14, "holdout_days": 7})
        spec["source"]["dataset"] = MODEL
        spec["schedule"]["retry_delay_seconds"] = 1
        (models / f"{MODEL}.yaml").write_text(yaml.safe_dump(spec))
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AIRFLOW_HOME", str(settings.home / "airflow"))  # its own, not the test session's
            patch.setenv("NIGHTSHIFT_MODELS_DIR", str(models))
            patch.setenv("NIGHTSHIFT_EXPECTATIONS_DIR", str(suites))
            yield settings, {"NIGHTSHIFT_MODELS_DIR": str(models), "NIGHTSHIFT_EXPECTATIONS_DIR": str(suites)}


def test_task_processes_killed_through_a_cycle_lose_nothing(world):
    settings, env = world
    with embedded_airflow(settings, {**env, **SETTINGS}) as airflow:
        api, killer = airflow.api, Killer(airflow.api)
        for kind in ("ingest", "retrain", "score"):
            api.wait_for_dag(dag(kind))
        api.unpause(dag("ingest"))
        killer.until_finished([(dag("ingest"), api.trigger(dag("ingest"), conf)) for conf in INGESTS])
        api.unpause(dag("retrain"))  # the ingests' announcements may start one run more: no change, skipped
        for _ in range(2):
            killer.until_finished([(dag("retrain"), api.trigger(dag("retrain"), RETRAIN))])
        api.unpause(dag("score"))
        killer.until_finished([(dag("score"), api.trigger(dag("score"), conf)) for conf in SCORES])
        runs = killer.until_idle(["ingest", "retrain", "score"])
    assert {run["dag_run_id"]: run["state"] for run in runs if run["state"] != "success"} == {}
    lake, registry = Lake.from_uri(settings.lake_uri), Registry.from_env()
    assert_lake_matches_the_source(lake, MODEL, FIRST, LAST)
    versions = {str(v.version) for v in registry.client.search_model_versions(f"name = '{MODEL}'")}
    assert assert_versions_are_whole(registry, MODEL) in versions
    scored = lake.days("predictions", MODEL)
    assert set(scored) >= {dt.date(2013, 1, 22) + dt.timedelta(days=d) for d in range(7)}, scored
    for day in scored:
        rows = assert_partition_is_whole(lake, "predictions", MODEL, day)
        assert len(rows) == lake.manifest("validated", MODEL, day)["rows"], day
        assert str(lake.manifest("predictions", MODEL, day)["model_version"]) in versions, day
    assert len(killer.landed) >= AT_LEAST, f"{len(killer.landed)} kills landed: {killer.landed}"
