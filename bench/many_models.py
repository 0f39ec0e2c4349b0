"""many models: copies of the demo spec through one nightly cycle (ingest one day, retrain, score) on the
production stack (`stack/stack.py`: Airflow's api-server, scheduler, dag-processor and triggerer, two Celery
workers, the MLflow server, S3 on moto, `nightshift serve`), at two numbers of models.

Set-up, untimed, per number of models: a stack of its own whose models folder holds that many copies of
`flights_delay.yaml` (m01, m02, ...), each on a dataset of its own and on small windows; each copy's history
(the real 2013 flights of HISTORY) ingested, validated and materialised, and a champion promoted, in two
processes beside the stack, through the same steps the DAGs call.

Timed: every model's ingest DAG is triggered through the REST API for the next day at once, as their crons
would at the same minute. Each ingest's `publish` announces the validated day; the scheduler turns the
events into the retrain run (train, gate, promote) and the score run (the day scored by the champion). The
cycle ends when the last of these runs ends; every one must succeed. The scheduler's per-task overhead is
read from the task instances' timestamps: queued → running, and the hop from the end of a task's upstream
tasks to its being queued.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import yaml

from common import DEMO_SPEC, SUITE, Outcome, environment, figure, window
from freshness import wait_until_nothing_due
from tests.airflow_api import AirflowApi
from tests.production_stack import running_stack

SIZES, SMOKE_SIZES = (10, 50), (1, 2)
TRAIN_DAYS, HOLDOUT_DAYS = 14, 7
HISTORY = window(TRAIN_DAYS + HOLDOUT_DAYS, first=dt.date(2013, 3, 1))  # clear of the February blizzard
NEW_DAY = HISTORY[-1] + dt.timedelta(days=1)
STAGES = ("ingest", "retrain", "score")  # monitor stays paused: not part of the nightly cycle measured
TARGET_SLOPE = 1.1
CYCLE_TIMEOUT_S = 3600


@dataclass(frozen=True)
class TaskTimes:
    dag_id: str
    task_id: str
    queued_to_running: float   # seconds
    hop: float | None          # upstream tasks' end -> queued; None for a run's first task


@dataclass(frozen=True)
class Cycle:
    models: int
    wall_s: float
    tasks: list[TaskTimes]
    promoted: int              # retrains whose challenger the gate promoted

    def overhead(self, kind: str) -> list[float]:
        values = [getattr(task, kind) for task in self.tasks]
        return sorted(value for value in values if value is not None)


def run(workdir: Path, plots: Path, smoke: bool) -> Outcome:
    sizes = SMOKE_SIZES if smoke else SIZES
    cycles = [nightly_cycle(workdir / f"{count}-models", count) for count in sizes]
    small, large = cycles[0], cycles[-1]
    waits, hops = large.overhead("queued_to_running"), large.overhead("hop")
    slope = math.log(large.wall_s / small.wall_s) / math.log(large.models / small.models)
    return Outcome(
        id="many_models",
        what=f"{small.models} and {large.models} copies of the demo spec through one nightly cycle (ingest a day, "
             "retrain, score) on the production stack, two Celery workers",
        baseline=f"linear in the number of models from {small.models}",
        target=f"wall-time slope ≤ {TARGET_SLOPE} (log-log)",
        measured=f"slope {slope:.2f}: {small.wall_s:.0f} s for {small.models}, {large.wall_s:.0f} s for "
                 f"{large.models}; per task at {large.models}: queued → running median {median(waits):.2f} s, "
                 f"hop median {median(hops):.2f} s",
        met=slope <= TARGET_SLOPE, detail=detail(cycles, slope), plots=[plot(cycles, plots / "many_models.png")])


def nightly_cycle(root: Path, count: int) -> Cycle:
    models = [f"m{number:02d}" for number in range(1, count + 1)]
    launch_env = write_models(root, models)
    with running_stack(root / "stack", f"bench-{count}-models", launch_env) as stack:
        api = stack.api()
        unpause_on_an_empty_lake(api, [f"{model}__{stage}" for model in models for stage in STAGES])
        with environment({**stack.env, **launch_env}):  # spawned set-up processes inherit it
            champions = prepare_history(models)
        t0 = dt.datetime.now(dt.UTC)
        for model in models:
            api.trigger(f"{model}__ingest", {"start": NEW_DAY.isoformat()})
        runs = wait_for_cycle(api, models, t0)
        wall_s = max(_seconds(run["end_date"], t0) for run in runs)
        tasks = [times for run in runs for times in task_times(api, run)]
        with environment(stack.env):
            promoted = sum(champion != champions[model] for model, champion in champions_now(models).items())
    return Cycle(count, wall_s, tasks, promoted)


def write_models(root: Path, models: list[str]) -> dict[str, str]:
    """The models and expectations folders: each copy of the demo spec on its own dataset (with its own
    copy of the flights suite) and small windows. Returns the stack's extra settings."""
    folder, suites = root / "models", root / "expectations"
    folder.mkdir(parents=True)
    suites.mkdir()
    demo, suite = yaml.safe_load(DEMO_SPEC.read_text()), SUITE.read_text()
    for model in models:
        spec = {**demo, "name": model, "windows": {"train_days": TRAIN_DAYS, "holdout_days": HOLDOUT_DAYS},
                "source": {**demo["source"], "dataset": model}}
        (folder / f"{model}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        (suites / f"{model}.yaml").write_text(suite)
    return {"NIGHTSHIFT_MODELS_DIR": str(folder), "NIGHTSHIFT_EXPECTATIONS_DIR": str(suites)}


def unpause_on_an_empty_lake(api: AirflowApi, dag_ids: list[str]) -> None:
    """Unpauses the DAGs, then ends the runs that made. Unpausing a cron DAG creates its latest tick's run at
    once (see freshness.wait_until_nothing_due); on the empty lake the retrain's fails at once, but the
    ingest's waits 30 minutes to retry a day with no data, and would run again during the cycle: it is
    marked failed. (Turning the cron ticks off with `[scheduler] use_job_schedule` would also turn off the
    asset-triggered runs.)"""
    for dag_id in dag_ids:
        api.wait_for_dag(dag_id)
        api.unpause(dag_id)
    wait_until_nothing_due(api, dag_ids)
    for dag_id in dag_ids:
        for run in api.call("GET", f"/dags/{dag_id}/dagRuns", params={"state": ["queued", "running"]}).json()[
                "dag_runs"]:
            api.call("PATCH", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}", json={"state": "failed"})


def prepare_history(models: list[str]) -> dict[str, str]:
    """Every model's history and champion (its version by model), the models split between two fresh
    processes."""
    halves = [half for half in (models[0::2], models[1::2]) if half]
    with ProcessPoolExecutor(len(halves), mp_context=get_context("spawn")) as pool:
        return {model: version for done in pool.map(prepare_models, halves) for model, version in done.items()}


def prepare_models(models: list[str]) -> dict[str, str]:
    """In this process's environment (the stack's): each model's history ingested, validated and
    materialised, and a champion promoted. Returns the champions' versions."""
    from nightshift import steps

    versions = {}
    for model in models:
        run = steps.Run.of(model)
        steps.ingest_raw(run, HISTORY)
        steps.validate(run, HISTORY)
        steps.features(run, HISTORY)
        done = steps.retrain(run, HISTORY[-1], infra_check=False)
        if not done.promotion.promoted:
            raise RuntimeError(f"{model}: the set-up champion v{done.trained.version} was not promoted:\n"
                               f"{done.report.table()}")
        versions[model] = done.trained.version
    return versions


def champions_now(models: list[str]) -> dict[str, str | None]:
    from nightshift.model.registry import CHAMPION, Registry

    registry = Registry.from_env()
    return {model: registry.alias_version(model, CHAMPION) for model in models}


def wait_for_cycle(api: AirflowApi, models: list[str], t0: dt.datetime) -> list[dict[str, Any]]:
    """Every model's ingest, retrain and score run created after t0, once all have ended; raises naming the
    runs that did not succeed."""
    wanted = {f"{model}__{stage}" for model in models for stage in STAGES}
    deadline = time.monotonic() + CYCLE_TIMEOUT_S
    while True:
        runs = {run["dag_id"]: run for run in runs_since(api, t0) if run["dag_id"] in wanted}
        if len(runs) == len(wanted) and all(run["state"] in ("success", "failed") for run in runs.values()):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the cycle did not end within {CYCLE_TIMEOUT_S} s: "
                               f"{sorted(wanted - runs.keys())} not started, "
                               f"{sorted(d for d, run in runs.items() if run['state'] not in ('success', 'failed'))} "
                               "not ended")
        time.sleep(5)
    if failed := sorted(dag_id for dag_id, run in runs.items() if run["state"] != "success"):
        raise RuntimeError(f"runs of the cycle failed: {failed}; their failed tasks' logs end with why")
    return list(runs.values())


def runs_since(api: AirflowApi, t0: dt.datetime) -> Iterator[dict[str, Any]]:
    """Every DAG run due after t0, page by page (the API answers at most 100 at a time)."""
    offset = 0
    while True:
        page = api.call("GET", "/dags/~/dagRuns", params={"run_after_gte": t0.isoformat(), "limit": 100,
                                                           "offset": offset}).json()["dag_runs"]
        yield from page
        if len(page) < 100:
            return
        offset += len(page)


def task_times(api: AirflowApi, run: dict[str, Any]) -> list[TaskTimes]:
    """The run's task instances that ran (skipped ones were never queued), with their overheads."""
    dag_id = run["dag_id"]
    upstream: dict[str, set[str]] = {}
    for task in api.call("GET", f"/dags/{dag_id}/tasks").json()["tasks"]:
        for downstream in task["downstream_task_ids"]:
            upstream.setdefault(downstream, set()).add(task["task_id"])
    ran = [ti for ti in api.task_instances(dag_id, run["dag_run_id"]) if ti["queued_when"] and ti["end_date"]]
    ended: dict[str, str] = {}
    for ti in ran:  # a mapped task ends with its last instance
        ended[ti["task_id"]] = max(ended.get(ti["task_id"], ti["end_date"]), ti["end_date"])

    def hop(ti: dict[str, Any]) -> float | None:
        ends = [ended[task] for task in upstream.get(ti["task_id"], ()) if task in ended]
        return _seconds(ti["queued_when"], dt.datetime.fromisoformat(max(ends))) if ends else None

    return [TaskTimes(dag_id, ti["task_id"], _seconds(ti["start_date"], dt.datetime.fromisoformat(ti["queued_when"])),
                      hop(ti))
            for ti in ran]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


def _seconds(timestamp: str, since: dt.datetime) -> float:
    return (dt.datetime.fromisoformat(timestamp) - since).total_seconds()


def detail(cycles: list[Cycle], slope: float) -> str:
    def spread(values: list[float]) -> str:
        return f"{median(values):.2f} / {percentile(values, 0.95):.2f} / {values[-1]:.2f}" if values else "–"

    rows = [f"| {cycle.models} | {len(cycle.tasks)} | **{cycle.wall_s:.0f}** | {cycle.wall_s / cycle.models:.1f} | "
            f"{spread(cycle.overhead('queued_to_running'))} | {spread(cycle.overhead('hop'))} | "
            f"{cycle.promoted} of {cycle.models} |" for cycle in cycles]
    return "\n".join([
        f"Each model is a copy of `flights_delay.yaml` on its own dataset, trained on {TRAIN_DAYS} days and judged "
        f"on {HOLDOUT_DAYS}; its history is {HISTORY[0]}..{HISTORY[-1]} and the cycle ingests {NEW_DAY}.", "",
        "| models | tasks run | cycle wall s | s per model | queued → running s (median / p95 / max) | "
        "hop s (median / p95 / max) | promoted |", "|--:|--:|--:|--:|--:|--:|--:|", *rows, "",
        f"Wall-time slope (log-log) from {cycles[0].models} to {cycles[-1].models} models: **{slope:.2f}** "
        f"(target ≤ {TARGET_SLOPE}).", "",
        "Method: one production stack per number of models (`tests/production_stack.py`, as the stack tests "
        "start it), its DAGs unpaused on the empty lake and the runs that made ended, then the models' "
        "history and champions set up beside it, untimed. t0 is when the first ingest is triggered through the REST "
        "API; the cycle ends with the last ingest, retrain or score run to end (all must succeed). A task's "
        "queued → running includes waiting for one of the four worker slots (two workers, two each); its hop "
        "is from the end of its upstream tasks to its being queued: the scheduler's reaction, and, once the "
        "executor holds `[core] parallelism` (32) tasks queued or running, waiting for room in it. The first "
        "task of a run has no hop.",
    ])


def plot(cycles: list[Cycle], path: Path) -> Path:
    """The cycle's wall time against the number of models (with the linear line through the smallest), and
    the per-task overheads' distribution at each size."""
    from matplotlib.ticker import ScalarFormatter

    fig = figure(11, 4)
    wall, overhead = fig.subplots(1, 2)
    counts = [cycle.models for cycle in cycles]
    wall.plot(counts, [cycle.wall_s for cycle in cycles], "o-", label="measured")
    wall.plot(counts, [cycles[0].wall_s * count / cycles[0].models for count in counts], "--", color="gray",
              label="linear from the smallest")
    wall.set_xscale("log")
    wall.set_yscale("log")
    wall.set_xticks(counts, [str(count) for count in counts])
    wall.yaxis.set_major_formatter(ScalarFormatter())
    wall.set_xlabel("models")
    wall.set_ylabel("cycle wall time (s)")
    wall.set_title("one nightly cycle: ingest, retrain, score")
    wall.legend()
    data = [cycle.overhead(kind) or [0.0] for cycle in cycles for kind in ("queued_to_running", "hop")]
    labels = [f"{kind}\n{cycle.models} models" for cycle in cycles for kind in ("queued→running", "hop")]
    overhead.boxplot(data, tick_labels=labels)
    overhead.set_ylabel("seconds per task")
    overhead.set_title("scheduler overhead per task")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
