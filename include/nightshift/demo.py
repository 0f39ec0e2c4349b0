"""The demo story, through real Airflow DAG runs on the embedded default.

Each run goes through `airflow dags test --use-executor` beside an api-server started for the story: its
tasks run in the LocalExecutor's processes and write their logs as in a deployment, so each run shows in
the UI afterwards with its task logs (the failed ingest's failure summary among them). Each run's own
output is kept under `<NIGHTSHIFT_HOME>/demo-logs/`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from nightshift.embedded import ApiServer, admin_password, airflow, airflow_command, api_server
from nightshift.settings import Settings

MODEL = "flights_delay"
ROLLBACK = "nightshift__rollback"
# `airflow dags test --use-executor` ends by joining the LocalExecutor's worker processes with no timeout,
# and once in a while one never ends (CI: a release run marked successful, and the command still waiting
# 17 minutes later). The run's outcome is in the command's log by then: past this grace after it, the
# command is stopped and the outcome read from there.
SHUTDOWN_GRACE_S = 60
RUN_FINISHED = re.compile(r"DagRun Finished: dag_id=\S+, .*?state=(?P<state>success|failed),")


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
    Step("Train the first model; no champion yet, so absolute thresholds decide (v1)",
         f"{MODEL}__retrain", "2013-03-01", {"as_of": "2013-02-28"}),
    Step("Try a lower learning rate from the retrain form, on the same days: the gate compares it with the "
         "champion on the same holdout and promotes it only if it is truly better (v2; v1 becomes `previous`)",
         f"{MODEL}__retrain", "2013-03-02", {"as_of": "2013-02-28", "params": {"learning_rate": 0.05}}),
    Step("Ingest March 2013", f"{MODEL}__ingest", "2013-04-01", {"start": "2013-03-01", "end": "2013-03-31"}),
    Step("Retrain on later data with the spec's own parameters: worse than the champion on the new holdout, "
         "so it is rejected, with the reasons (v3)", f"{MODEL}__retrain", "2013-04-01", {"as_of": "2013-03-31"}),
    Step("Roll back to `previous` from the rollback DAG's form (v1 is champion again)", ROLLBACK, "2013-04-02",
         {"model": MODEL, "target": "previous", "reason": "demo: a rollback drill"}),
    Step("Roll back to `previous` once more, which undoes it (v2 is champion again)", ROLLBACK, "2013-04-03",
         {"model": MODEL, "target": "previous", "reason": "demo: the drill is over"}),
    Step("Score the last week of March with the champion", f"{MODEL}__score", "2013-04-04",
         {"start": "2013-03-25", "end": "2013-03-31"}),
    Step("Monitor the champion on that week against its training window", f"{MODEL}__monitor", "2013-04-04",
         {"as_of": "2013-03-31"}),
]


def run_dag(settings: Settings, dag_id: str, logical_date: str, conf: dict, log_file: Path,
            server: ApiServer | None = None) -> int:
    """One real DAG run (`airflow dags test`): in-process, or, given the api-server, with its tasks in the
    LocalExecutor, so that each writes its task log. Returns the exit code (0: the run succeeded)."""
    executor = ["--use-executor"] if server else []
    command, env = airflow_command(settings, "dags", "test", dag_id, logical_date, "-c", json.dumps(conf), *executor)
    return run_until_finished(command, {**env, **(server.env_changes if server else {})}, log_file)


def run_until_finished(command: list[str], env: dict[str, str], log_file: Path,
                       grace_s: float = SHUTDOWN_GRACE_S) -> int:
    """Run a `dags test` command, its output to `log_file`; its exit code, or, when it has not exited
    `grace_s` after its log said the run finished, 0 or 1 by the run's state (the command stopped)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,  # nosec B603  # this venv's airflow, no shell
                                   start_new_session=True)
        finished: tuple[str, float] | None = None  # the run's state, and when the log said so
        while (code := process.poll()) is None:
            time.sleep(0.5)
            if finished is None:
                if found := RUN_FINISHED.search(log_file.read_text(errors="replace")):
                    finished = found["state"], time.monotonic()
            elif time.monotonic() - finished[1] > grace_s:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                out.write(f"nightshift: the run ended {finished[0]}, but `airflow dags test` had not exited "
                          f"{grace_s:g} s later (its LocalExecutor waits for its workers with no timeout); "
                          "stopped\n")
                return 0 if finished[0] == "success" else 1
    return code


def prepare_airflow(settings: Settings) -> None:
    if airflow(settings, "db", "migrate", log_file=settings.home / "demo-logs" / "00-db-migrate.log") != 0:
        raise SystemExit(f"airflow db migrate failed; see {settings.home / 'demo-logs' / '00-db-migrate.log'}")


def run_story(settings: Settings, story: list[Step] = STORY) -> None:
    """Start from an empty home, run each step, stop at the first unexpected outcome."""
    shutil.rmtree(settings.home, ignore_errors=True)
    print(f"Nightshift demo: state in {settings.home} (reset)\n")
    started = time.monotonic()
    prepare_airflow(settings)
    logs = settings.home / "demo-logs"
    with api_server(settings, logs) as server:
        for number, step in enumerate(story, 1):
            log_file = logs / f"{number:02d}-{step.dag}.log"
            print(f"[{number}/{len(story)}] {step.title}\n      {step.dag} {json.dumps(step.conf)}", flush=True)
            step_started = time.monotonic()
            code = run_dag(settings, step.dag, step.logical_date, step.conf, log_file, server)
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
