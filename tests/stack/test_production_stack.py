"""The production topology end to end, driven as a user's script would: Airflow's REST API v2 with a
login, tasks on Celery workers, MLflow's server registry, the lake and artifacts on S3."""

from __future__ import annotations

import socket

import boto3
import mlflow
import pytest
import requests

from nightshift.registry import MODEL_SHA256
from tests.stack.conftest import MODEL, RunningStack

pytestmark = pytest.mark.e2e

PARTS = ("s3", "mlflow", "api-server", "scheduler", "dag-processor", "triggerer", "worker1", "worker2")


def _pids(stack: RunningStack) -> dict[str, str]:
    return {part: (stack.root / "pids" / f"{part}.pid").read_text() for part in PARTS}


def test_stack_up_again_keeps_what_runs(stack: RunningStack):
    before = _pids(stack)
    again = stack.run("up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(f"{part:<14} already running" in again.stdout for part in PARTS), again.stdout
    assert _pids(stack) == before


def test_the_api_and_the_models_page_refuse_anonymous_calls(stack: RunningStack):
    for path in ("/api/v2/dags", "/nightshift/models"):
        assert requests.get(f"{stack.airflow_url}{path}", timeout=10).status_code == 401, path


def test_ingest_and_retrain_through_the_api_on_celery_workers(stack: RunningStack, ingest_run: str):
    api = stack.api()
    ingest = f"{MODEL}__ingest"
    assert api.call("GET", f"/dags/{ingest}/dagRuns/{ingest_run}").json()["state"] == "failed"  # quarantine

    run_id = api.trigger(f"{MODEL}__retrain", {"as_of": "2013-02-10", "train_days": 14})
    assert api.wait_for_run(f"{MODEL}__retrain", run_id) == "success"

    # Every task ran on one of the stack's Celery workers, which logged its task-instance id.
    worker_logs = "".join((stack.root / "logs" / f"{worker}.log").read_text() for worker in ("worker1", "worker2"))
    instances = api.task_instances(ingest, ingest_run) + api.task_instances(f"{MODEL}__retrain", run_id)
    for instance in instances:
        assert (instance["queue"], instance["hostname"]) == ("default", socket.gethostname()), instance
        assert f"id=UUID('{instance['id']}')" in worker_logs, instance["task_id"]

    # A champion in the MLflow server's registry, its artifacts on S3.
    registry = mlflow.MlflowClient(stack.env["MLFLOW_TRACKING_URI"])
    champion = registry.get_model_version_by_alias(MODEL, "champion")
    assert champion.tags[MODEL_SHA256]
    s3 = boto3.client("s3", endpoint_url=stack.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                      aws_access_key_id=stack.env["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=stack.env["AWS_SECRET_ACCESS_KEY"])
    bucket = stack.env["NIGHTSHIFT_LAKE_URI"].removeprefix("s3://").split("/")[0]
    keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for item in page.get("Contents", [])]
    assert "lake/validated/flights/date=2013-01-20/_SUCCESS" in keys
    assert any(key.startswith("lake/quarantine/flights/date=2013-02-08/") and key.endswith("/report.json")
               for key in keys)
    assert any(key.startswith("mlartifacts/") for key in keys)

    # The failed task's log, fetched through the API, ends with the failure summary.
    failed = next(i for i in api.task_instances(ingest, ingest_run) if i["task_id"] == "validate")
    assert failed["state"] == "failed"
    events = [line["event"] for line in api.log(ingest, ingest_run, "validate", failed["try_number"])
              if not line["event"].startswith("::")]
    assert events[-1].lstrip().startswith("NIGHTSHIFT FAILURE"), events[-3:]
    assert "2013-02-08" in events[-1] and "nightshift reproduce flights_delay validate" in events[-1]
