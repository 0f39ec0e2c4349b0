"""What importing `nightshift` sets up for every process that runs it (tasks, `nightshift serve`, the CLI)."""

from __future__ import annotations

import os
import subprocess
import sys

# Variables by which MLflow recognises CI or a test run, and then keeps its telemetry off by itself.
CI_MARKERS = ("CI", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER", "GITHUB_ACTIONS")
PROBE = ("import nightshift, mlflow; from mlflow.telemetry import get_telemetry_client; "
         "print(get_telemetry_client() is None)")


def telemetry_off(**extra: str) -> bool:
    env = {name: value for name, value in os.environ.items()
           if name not in CI_MARKERS and not name.startswith("MLFLOW_")}
    probe = subprocess.run([sys.executable, "-c", PROBE], env={**env, **extra}, capture_output=True, text=True,
                           timeout=120, check=True)
    return probe.stdout.strip().splitlines()[-1] == "True"


def test_mlflow_telemetry_is_off_unless_the_deployment_turns_it_on():
    assert telemetry_off()
    assert not telemetry_off(MLFLOW_DISABLE_TELEMETRY="false")  # the probe would see it on: no CI marker is left
