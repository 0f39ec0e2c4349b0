"""One production stack (tests/production_stack.py) for the chaos, API and browser tests of this folder.

Its models are the demo's and a chaos copy of it (tests/stack/test_chaos.py). It is launched with
secrets configured where Nightshift reads them (Airflow connections for Slack and SMTP, besides the
stack's own generated ones), so the last test can look for each in every log.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import DEMO_SPEC, EXPECTATIONS
from tests.production_stack import RunningStack, running_stack

MODEL = "flights_delay"
CHAOS_MODEL = "flights_chaos"  # its dataset too
INGEST_RANGE = {"start": "2013-01-20", "end": "2013-02-10"}   # 8-9 Feb (the blizzard) are quarantined


def chaos_spec() -> dict:
    """The demo model on a dataset of its own, with short windows and retries 5 s apart."""
    spec = yaml.safe_load(DEMO_SPEC.read_text())
    spec.update(name=CHAOS_MODEL, windows={"train_days": 14, "holdout_days": 7})
    spec["source"]["dataset"] = CHAOS_MODEL
    spec["schedule"]["retry_delay_seconds"] = 5
    return spec


@pytest.fixture(scope="session")
def configured_secrets() -> dict[str, str]:
    """Secrets the stack is given through Airflow connections: a Slack webhook token and an SMTP
    password. Every failed task's notifications use them (and fail: nothing listens on port 9)."""
    return {name: f"{name}-{secrets.token_urlsafe(12)}" for name in ("slack-token", "smtp-password")}


def _launch_env(root: Path, secret: dict[str, str]) -> dict[str, str]:
    models, suites = root / "models", root / "expectations"
    models.mkdir()
    shutil.copy(DEMO_SPEC, models)
    (models / f"{CHAOS_MODEL}.yaml").write_text(yaml.safe_dump(chaos_spec()))
    shutil.copytree(EXPECTATIONS, suites)
    shutil.copy(suites / "flights.yaml", suites / f"{CHAOS_MODEL}.yaml")
    return {
        "NIGHTSHIFT_MODELS_DIR": str(models),
        "NIGHTSHIFT_EXPECTATIONS_DIR": str(suites),
        # Runs come from the tests (and asset events), not from the cron ticks unpausing creates at once.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        # A killed worker's task is noticed in seconds, not after the stack's one minute.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        "NIGHTSHIFT_SLACK_WEBHOOK_CONN_ID": "nightshift_slack",
        "AIRFLOW_CONN_NIGHTSHIFT_SLACK": json.dumps({"conn_type": "slackwebhook",
                                                     "password": f"http://127.0.0.1:9/services/{secret['slack-token']}"}),
        "NIGHTSHIFT_ALERT_EMAILS": "oncall@example.com",
        "AIRFLOW_CONN_SMTP_DEFAULT": f"smtp://alerts:{secret['smtp-password']}@127.0.0.1:9",
    }


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, configured_secrets: dict[str, str]) -> Iterator[RunningStack]:
    root = tmp_path_factory.mktemp("stack")
    with running_stack(root, "stack", _launch_env(root, configured_secrets)) as running:
        yield running


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
