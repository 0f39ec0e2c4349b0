"""The demo story, through real Airflow DAG runs on the embedded default.

Each run goes through `airflow dags test` (in-process, no scheduler to start), so it is recorded in
Airflow's metadata DB and shows in the UI afterwards. Each run's output is kept under
`<NIGHTSHIFT_HOME>/demo-logs/`.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from nightshift.embedded import admin_password, airflow
from nightshift.settings import Settings

MODEL = "flights_delay"


@dataclass(frozen=True)
class Step:
    title: str
    dag: str
    logical_date: str
    conf: dict
    expect_success: bool = True


STORY = [
    Step("Ingest January-February 2013 (the 8-9 Feb blizzard must be quarantined)",
         f"{MODEL}__ingest", "2013-03-01", {"start": "2013-01-01", "end": "2013-02-28"}, expect_success=False),
    Step("Train the first model; no champion yet, so absolute thresholds decide",
         f"{MODEL}__retrain", "2013-03-01", {"as_of": "2013-02-28"}),
    Step("Ingest March 2013", f"{MODEL}__ingest", "2013-04-01", {"start": "2013-03-01", "end": "2013-03-31"}),
    Step("Retrain on later data: the gate compares challenger and champion on the same holdout",
         f"{MODEL}__retrain", "2013-04-01", {"as_of": "2013-03-31"}),
    Step("Retrain with a deliberately too-short window (3 days): a worse challenger must be rejected",
         f"{MODEL}__retrain", "2013-04-02", {"as_of": "2013-03-31", "train_days": 3}),
    Step("Score the last week of March with the champion", f"{MODEL}__score", "2013-04-03",
         {"start": "2013-03-25", "end": "2013-03-31"}),
    Step("Monitor the champion on that week against its training window", f"{MODEL}__monitor", "2013-04-03",
         {"as_of": "2013-03-31"}),
]


def run_dag(settings: Settings, dag_id: str, logical_date: str, conf: dict, log_file: Path) -> int:
    """One real DAG run, in-process (`airflow dags test`); returns the exit code."""
    return airflow(settings, "dags", "test", dag_id, logical_date, "-c", json.dumps(conf), log_file=log_file)


def prepare_airflow(settings: Settings) -> None:
    if airflow(settings, "db", "migrate", log_file=settings.home / "demo-logs" / "00-db-migrate.log") != 0:
        raise SystemExit(f"airflow db migrate failed; see {settings.home / 'demo-logs' / '00-db-migrate.log'}")


def run_story(settings: Settings, story: list[Step] = STORY) -> None:
    """Start from an empty home, run each step, stop at the first unexpected outcome."""
    shutil.rmtree(settings.home, ignore_errors=True)
    print(f"Nightshift demo: state in {settings.home} (reset)\n")
    started = time.monotonic()
    prepare_airflow(settings)
    for number, step in enumerate(story, 1):
        log_file = settings.home / "demo-logs" / f"{number:02d}-{step.dag}.log"
        print(f"[{number}/{len(story)}] {step.title}\n      {step.dag} {json.dumps(step.conf)}", flush=True)
        step_started = time.monotonic()
        code = run_dag(settings, step.dag, step.logical_date, step.conf, log_file)
        outcome = "success" if code == 0 else "failed"
        print(f"      -> run {outcome} in {time.monotonic() - step_started:.0f}s (log: {log_file})", flush=True)
        if step.expect_success and code != 0:
            raise SystemExit(f"unexpected failure; the end of {log_file} says why")
    print(f"\nStory finished in {time.monotonic() - started:.0f}s.\n")


def main() -> None:
    from nightshift.operate.status import print_status

    settings = Settings.from_env()
    run_story(settings)
    print_status(settings, MODEL)
    print(f"\nSee the runs in the Airflow UI: `make airflow`, then http://localhost:8080 "
          f"(user admin, password {admin_password(settings)}).")
    print(f"Serve the champion online: `.venv/bin/nightshift serve {MODEL}`, then POST to "
          "http://127.0.0.1:5050/invocations (README: Serving).")
