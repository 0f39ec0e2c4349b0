"""Airflow as `nightshift airflow standalone` runs it on the embedded default: api-server, scheduler and
dag-processor as separate processes on a Nightshift home's SQLite, with the LocalExecutor. For tests and
benchmarks that need real scheduling (asset events, retries, a restarted scheduler), not `dags test`."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from nightshift.embedded import ADMIN, admin_password, airflow_command, api_server
from nightshift.settings import Settings
from tests.airflow_api import AirflowApi
from tests.production_stack import descendants_of


@contextmanager
def process(command: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    """Run `command` while the block runs, its output appended to `log`; terminated on the way out."""
    with log.open("a") as out:
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield
        finally:
            child.terminate()
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                # A scheduler waits for its running tasks (a hanging source's try may outlast a second SIGTERM):
                # its task processes, in process groups of their own, go with it.
                for pid in [child.pid, *descendants_of(child.pid)]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                child.wait(timeout=60)


@dataclass
class EmbeddedAirflow:
    api: AirflowApi
    command: list[str]     # the airflow CLI
    env: dict[str, str]
    logs: Path             # the processes' own output (task logs are under AIRFLOW_HOME/logs)
    scheduler: ExitStack

    def restart_scheduler(self, **changes: str) -> None:
        """A new scheduler process, with these environment variables changed (e.g. a service now down)."""
        self.scheduler.close()
        self.scheduler.enter_context(process([*self.command, "scheduler"], {**self.env, **changes},
                                             self.logs / "scheduler.log"))


@contextmanager
def embedded_airflow(settings: Settings, extra_env: dict[str, str]) -> Iterator[EmbeddedAirflow]:
    """api-server, scheduler and dag-processor on the home's SQLite (its metadata DB migrated first).

    DAGs are unpaused as they are first parsed, and the scheduler creates scheduled and asset-triggered
    runs, as a deployment does; `extra_env` wins over these defaults (e.g. USE_JOB_SCHEDULE=False for
    manual runs only). Mind that unpausing a cron DAG with catchup=False still creates its latest tick's
    run at once. The processes' output goes to `<home>/airflow-processes/`."""
    command, env = airflow_command(settings)
    logs = settings.home / "airflow-processes"
    subprocess.run([*command, "db", "migrate"], env=env, check=True, capture_output=True)
    with api_server(settings, logs, {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False", **extra_env}) as server, \
            ExitStack() as running:
        env.update(server.env_changes)
        running.enter_context(process([*command, "dag-processor"], env, logs / "dag-processor.log"))
        airflow = EmbeddedAirflow(AirflowApi(server.url, ADMIN, admin_password(settings)),
                                  command, env, logs, running.enter_context(ExitStack()))
        airflow.restart_scheduler()
        yield airflow
