"""The production topology as plain processes (stack/stack.py), brought up once for these tests on free
ports, with its own databases, Redis db and folder; purged afterwards. PostgreSQL and Redis must be
running: without them these tests fail, they never skip."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nightshift.settings import CHECKOUT
from tests.conftest import free_port
from tests.airflow_api import AirflowApi

STACK = CHECKOUT / "stack" / "stack.py"
MODEL = "flights_delay"
INGEST_RANGE = {"start": "2013-01-20", "end": "2013-02-10"}   # 8-9 Feb (the blizzard) are quarantined


@dataclass(frozen=True)
class RunningStack:
    root: Path
    launch_env: dict[str, str]   # what stack.py runs with
    env: dict[str, str]          # the stack's own environment (stack.env)
    credentials: dict[str, str]  # credentials.env

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """stack.py with these arguments, as `make stack-up` / `make stack-down` run it."""
        return subprocess.run([sys.executable, str(STACK), *args], env=self.launch_env, capture_output=True,
                              text=True, timeout=600, check=False)

    @property
    def airflow_url(self) -> str:
        return self.env["AIRFLOW__API__BASE_URL"]

    def api(self) -> AirflowApi:
        return AirflowApi(self.airflow_url, "admin", self.credentials["AIRFLOW_ADMIN_PASSWORD"])


def _read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    root = tmp_path_factory.mktemp("stack")
    settings = {
        "NIGHTSHIFT_STACK_DIR": str(root),
        "NIGHTSHIFT_STACK_NAME": f"nightshift_test_{uuid.uuid4().hex[:8]}",
        "NIGHTSHIFT_STACK_AIRFLOW_PORT": str(free_port()),
        "NIGHTSHIFT_STACK_MLFLOW_PORT": str(free_port()),
        "NIGHTSHIFT_STACK_S3_PORT": str(free_port()),
        "NIGHTSHIFT_STACK_REDIS_DB": str(random.randint(1, 15)),
    }
    launch_env = {**{name: value for name, value in os.environ.items()  # not the test session's own settings
                     if not name.startswith(("AIRFLOW", "NIGHTSHIFT_", "MLFLOW_", "AWS_"))}, **settings}
    stack = RunningStack(root, launch_env, {}, {})
    try:
        up = stack.run("up")
        assert up.returncode == 0, f"stack up failed:\n{up.stdout}\n{up.stderr}"
        yield RunningStack(root, launch_env, _read_env(root / "stack.env"), _read_env(root / "credentials.env"))
    finally:
        shutil.copytree(root / "logs", CHECKOUT / "test-artifacts" / "stack-logs", dirs_exist_ok=True)
        started = [int(path.read_text().split()[0]) for path in (root / "pids").glob("*.pid")]
        down = stack.run("down", "--purge")
        assert down.returncode == 0, down.stdout + down.stderr
        assert not [pid for pid in started if Path(f"/proc/{pid}").exists()], "stack down left processes running"


@pytest.fixture(scope="session")
def ingest_run(stack: RunningStack) -> str:
    """The demo model's DAGs unpaused and an ingest of three weeks triggered through the API, finished."""
    api = stack.api()
    for kind in ("ingest", "retrain", "score", "monitor"):
        api.wait_for_dag(f"{MODEL}__{kind}")
        api.unpause(f"{MODEL}__{kind}")
    run_id = api.trigger(f"{MODEL}__ingest", INGEST_RANGE)
    api.wait_for_run(f"{MODEL}__ingest", run_id)
    return run_id
