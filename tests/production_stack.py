"""The production topology (stack/stack.py) brought up for a test module on free ports, with its own
databases, Redis db and folder, and purged afterwards. PostgreSQL and Redis must be running: without
them the tests that use it fail, they never skip."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nightshift.settings import CHECKOUT
from stack.stack import Stack, group_alive, read_env
from tests.airflow_api import AirflowApi
from tests.conftest import free_port
from tests.waiting import wait_until

STACK = CHECKOUT / "stack" / "stack.py"


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

    def up(self) -> None:
        """`stack up` again: starts whatever part is not running (a supervisor's restart)."""
        up = self.run("up")
        assert up.returncode == 0, f"stack up failed:\n{up.stdout}\n{up.stderr}"

    @property
    def parts(self) -> Stack:
        """The stack's own process control (pids, start, stop), as stack.py's commands use it."""
        return Stack(self.root)

    def kill(self, part: str) -> None:
        """SIGKILL a part's whole process group (a Celery worker with its task processes) and wait until
        it is gone."""
        pid = self.parts.pid(part)
        assert pid, f"{part} is not running"
        descendants = descendants_of(pid)  # Airflow's task processes run in process groups of their own
        os.killpg(pid, signal.SIGKILL)
        for child in descendants:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        def gone() -> bool:
            return not group_alive(pid) and not any(Path(f"/proc/{child}").exists() for child in descendants)

        wait_until(gone, timeout=30, interval=0.1, what=f"{part} (process group {pid}) to be gone after SIGKILL")

    def restart(self, part: str) -> None:
        """Start a stopped part again as a supervisor would, without waiting for it to be healthy. A
        short-lived process starts it, so it is nobody's child here (as after `stack up`)."""
        start = (f"import os, pathlib, stack.stack; s = stack.stack.Stack(pathlib.Path({str(self.root)!r})); "
                 f"s.start({part!r}, {{**os.environ, **s.environment()}})")
        subprocess.run([sys.executable, "-c", start], env=self.launch_env, cwd=CHECKOUT, check=True,
                       capture_output=True, timeout=60)

    @property
    def airflow_url(self) -> str:
        return self.env["AIRFLOW__API__BASE_URL"]

    def api(self) -> AirflowApi:
        return AirflowApi(self.airflow_url, "admin", self.credentials["AIRFLOW_ADMIN_PASSWORD"])


def parent_pid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None


def ancestors(pid: int) -> list[int]:
    """The process, its parent, its parent's parent... up to (not including) init."""
    chain = []
    while pid and pid > 1:
        chain.append(pid)
        pid = parent_pid(pid)
    return chain


def descendants_of(pid: int) -> list[int]:
    """The processes started by this one, by its children, and so on."""
    running = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    return [other for other in running if other != pid and pid in ancestors(other)]


@contextmanager
def running_stack(root: Path, name: str, extra_env: dict[str, str] | None = None) -> Iterator[RunningStack]:
    """A stack in `root`, launched with `extra_env` on top of its own settings; its logs are kept in
    test-artifacts/<name>-logs/."""
    settings = {
        "NIGHTSHIFT_STACK_DIR": str(root),
        "NIGHTSHIFT_STACK_NAME": f"nightshift_test_{uuid.uuid4().hex[:8]}",
        "NIGHTSHIFT_STACK_AIRFLOW_PORT": str(free_port()),
        "NIGHTSHIFT_STACK_MLFLOW_PORT": str(free_port()),
        "NIGHTSHIFT_STACK_S3_PORT": str(free_port()),
        "NIGHTSHIFT_STACK_SERVE_PORT": str(free_port()),
        "NIGHTSHIFT_STACK_REDIS_DB": str(random.randint(1, 15)),
    }
    launch_env = {**{name: value for name, value in os.environ.items()  # not the test session's own settings
                     if not name.startswith(("AIRFLOW", "NIGHTSHIFT_", "MLFLOW_", "AWS_"))},
                  **settings, **(extra_env or {})}
    stack = RunningStack(root, launch_env, {}, {})
    try:
        stack.up()
        yield RunningStack(root, launch_env, read_env(root / "stack.env"), read_env(root / "credentials.env"))
    finally:
        shutil.copytree(root / "logs", CHECKOUT / "test-artifacts" / f"{name}-logs", dirs_exist_ok=True)
        started = [int(path.read_text().split()[0]) for path in (root / "pids").glob("*.pid")]
        down = stack.run("down", "--purge")
        assert down.returncode == 0, down.stdout + down.stderr
        assert not [pid for pid in started if Path(f"/proc/{pid}").exists()], "stack down left processes running"
