"""`approval: manual` through real Airflow: the retrain DAG waits at its approve task (Airflow's
human-in-the-loop operator) with the gate report, and a human answers through the REST API of an
api-server sharing the metadata DB, as the UI's Required Actions page does."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from nightshift import steps
from nightshift.demo import prepare_airflow
from nightshift.embedded import ADMIN, admin_password, airflow_command
from nightshift.model.registry import CHAMPION, Registry
from nightshift.settings import Settings
from tests.conftest import DEMO_SPEC, free_port, ingest_and_validate, serving
from tests.waiting import wait_until

# Two retrain runs and an api-server: 2-3 min alone on 2 cores, over 5 min for one run in a loaded full suite.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]
DAG = "flights_delay__retrain"
DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(21)]


@pytest.fixture
def manual_home(home, tmp_path, monkeypatch) -> Settings:
    """A home whose flights_delay spec says `approval: manual`, with three validated weeks."""
    spec = yaml.safe_load(DEMO_SPEC.read_text())
    spec["gate"]["approval"] = "manual"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "flights_delay.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("NIGHTSHIFT_MODELS_DIR", str(tmp_path / "models"))
    settings = Settings.from_env()
    ingest_and_validate(steps.Run.of("flights_delay", settings), DAYS)
    prepare_airflow(settings)
    return settings


def unanswered_requests(api: httpx.Client, run: subprocess.Popen, log: Path) -> list[dict]:
    """The retrain DAG's approval requests nobody has answered yet; the run must still be going."""
    details = api.get(f"/api/v2/dags/{DAG}/dagRuns/~/hitlDetails").json()["hitl_details"]
    unanswered = [d for d in details if not d["response_received"]]
    assert unanswered or run.poll() is None, f"the run ended without asking; see {log}"
    return unanswered


def answer_approval(settings: Settings, api: httpx.Client, logical_date: str, option: str, reason: str) -> str:
    """Run the retrain DAG, wait for its approve task to ask, answer; returns the run's log."""
    log = settings.home / f"retrain-{logical_date}.log"
    command, env = airflow_command(settings, "dags", "test", DAG, logical_date, "-c",
                                   json.dumps({"as_of": DAYS[-1].isoformat()}))
    with log.open("w") as out:
        run = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        (request,) = wait_until(lambda: unanswered_requests(api, run, log), timeout=300, interval=2,
                                what=f"an approval request; see {log}")
        assert request["subject"] == "Promote the new flights_delay challenger to champion?"
        assert "GATE flights_delay: challenger" in request["body"] and request["options"] == ["Approve", "Reject"]
        run_id = request["task_instance"]["dag_run_id"]
        response = api.patch(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails",
                             json={"chosen_options": [option], "params_input": {"reason": reason}})
        assert response.status_code == 200, response.text
        assert run.wait(timeout=600) == 0, f"see {log}"  # over 300 s once, on a loaded 2-core CI machine
    return log.read_text()


def test_a_human_rejects_then_approves_at_the_approve_task(manual_home):
    port = free_port()
    command, env = airflow_command(manual_home, "api-server", "--host", "127.0.0.1", "--port", str(port),
                                   "--workers", "1")
    url = f"http://127.0.0.1:{port}"
    with serving(command, f"{url}/api/v2/monitor/health", manual_home.home / "api-server.log", timeout=120, env=env):
        token = httpx.post(f"{url}/auth/token",
                           json={"username": ADMIN, "password": admin_password(manual_home)}).json()["access_token"]
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        registry = Registry.from_env()

        log = answer_approval(manual_home, api, "2013-01-22", "Reject", "holdout of one week is too small to trust")
        assert "REJECTED BY A HUMAN by admin" in log
        assert registry.alias_version("flights_delay", CHAMPION) is None
        tags = registry.version_tags("flights_delay", "1")
        assert (tags["gate.decision"], tags["approval.decision"], tags["approval.by"]) == ("promote", "rejected", ADMIN)
        assert tags["approval.reason"] == "holdout of one week is too small to trust"

        log = answer_approval(manual_home, api, "2013-01-23", "Approve", "reviewed the report")
        assert "PROMOTED v2 to champion" in log
        assert registry.alias_version("flights_delay", CHAMPION) == "2"
        assert registry.version_tags("flights_delay", "2")["approval.decision"] == "approved"
