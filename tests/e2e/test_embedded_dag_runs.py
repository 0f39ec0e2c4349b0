"""The DAGs through real Airflow in a temporary home, as the demo runs them: `airflow dags test
--use-executor` beside an api-server, on the SQLite metadata DB, so every task runs in the LocalExecutor and
writes its log where the UI reads it."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

import pytest

from nightshift import demo
from nightshift.data.lake import Lake
from nightshift.demo import prepare_airflow
from nightshift.embedded import ADMIN, ApiServer, admin_password, api_server
from nightshift.model.registry import CHAMPION, Registry
from tests.airflow_api import AirflowApi
from tests.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]  # one test of seven DAG runs: about 5 min on 2 cores
BLIZZARD = [dt.date(2013, 2, 8), dt.date(2013, 2, 9)]


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[EmailMessage]]]:
    """A local SMTP server (aiosmtpd) collecting what it receives."""
    from aiosmtpd.controller import Controller

    inbox: list[EmailMessage] = []

    class Collect:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            inbox.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    controller = Controller(Collect(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


@pytest.fixture
def airflow(home) -> Iterator[tuple[ApiServer, AirflowApi]]:
    prepare_airflow(home)
    with api_server(home, home.home / "airflow-processes") as server:
        yield server, AirflowApi(server.url, ADMIN, admin_password(home))


def test_ingest_train_gate_promote_and_reject_through_airflow(home, airflow, monkeypatch):
    server, api = airflow
    logs = home.home / "logs"

    def run_dag(dag_id: str, logical_date: str, conf: dict, log_file: Path) -> int:
        return demo.run_dag(home, dag_id, logical_date, conf, log_file, server)

    ingest_code = run_dag("flights_delay__ingest", "2013-02-13", {"start": "2013-01-20", "end": "2013-02-12"},
                          logs / "ingest.log")

    # The blizzard days are quarantined with their report; the run is red, the good days still flow.
    lake = Lake.from_uri(home.lake_uri)
    assert ingest_code != 0
    assert lake.days("quarantine", "flights") == BLIZZARD
    assert len(lake.days("validated", "flights")) == 24 - len(BLIZZARD)
    assert "dep_time" in lake.read_attachment("quarantine", "flights", BLIZZARD[0], "report.txt").decode()
    # The failed task's own log, where the UI reads it, ends with the failure summary.
    (ingest_run,) = api.call("GET", "/dags/flights_delay__ingest/dagRuns").json()["dag_runs"]
    run_id = ingest_run["dag_run_id"]
    states = {ti["task_id"]: ti["state"] for ti in api.task_instances("flights_delay__ingest", run_id)}
    assert states["validate"] == "failed" and states["publish"] == "success", states  # publish ran for the good days
    validate_log = "\n".join(str(line.get("event", "")) for line in
                             api.log("flights_delay__ingest", run_id, "validate", 1))
    assert "NIGHTSHIFT FAILURE  data/expectations  flights_delay" in validate_log
    # The rolling aggregates of every validated day are materialised; a later day's record the blizzard's gap.
    assert lake.days("features", "flights_delay") == lake.days("validated", "flights")
    left_out = lake.manifest("features", "flights_delay", dt.date(2013, 2, 12))["left_out"]
    assert {day: why for day, why in left_out.items() if why == "quarantined"} == {
        day.isoformat(): "quarantined" for day in BLIZZARD}

    assert run_dag("flights_delay__retrain", "2013-02-13", {"as_of": "2013-02-12"}, logs / "first.log") == 0
    registry = Registry.from_env()
    assert registry.alias_version("flights_delay", CHAMPION) == "1"
    report = json.loads(Path(registry.client.download_artifacts(registry.run_id("flights_delay", "1"),
                                                                "gate/report.json")).read_text())
    assert report["decision"] == "promote" and report["champion_version"] is None
    assert set(BLIZZARD).isdisjoint(dt.date.fromisoformat(d) for d in report["holdout"])

    assert run_dag("flights_delay__retrain", "2013-02-14", {"as_of": "2013-02-12", "train_days": 2},
                   logs / "short.log") == 0  # a rejection is a normal, green outcome
    assert registry.alias_version("flights_delay", CHAMPION) == "1"
    assert registry.version_tags("flights_delay", "2")["gate.decision"] == "reject"
    assert "REJECTED challenger v2" in (logs / "short.log").read_text()

    # The champion scores a validated day into predictions/, its version on every row.
    assert run_dag("flights_delay__score", "2013-02-14", {"start": "2013-02-12"}, logs / "score.log") == 0
    predictions = lake.read_partition("predictions", "flights_delay", dt.date(2013, 2, 12))
    assert set(predictions["model_version"]) == {"1"}
    assert len(predictions) == lake.manifest("validated", "flights", dt.date(2013, 2, 12))["rows"]

    # The monitor judges the champion on the recent days; its report is on the champion's run.
    assert run_dag("flights_delay__monitor", "2013-02-14", {"as_of": "2013-02-12"}, logs / "monitor.log") == 0
    assert "MONITOR flights_delay: champion v1" in (logs / "monitor.log").read_text()
    assert registry.version_tags("flights_delay", "1")["monitoring.last_as_of"] == "2013-02-12"

    # A rollback with nothing to roll back to fails at once (no retry) and says why, in the task log and
    # by email (through Airflow's SMTP notifier, to an SMTP server run by the test).
    with smtp_server() as (port, inbox):
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(
            {"conn_type": "smtp", "host": "127.0.0.1", "port": port,
             "extra": {"disable_ssl": True, "disable_tls": True}}))
        monkeypatch.setenv("NIGHTSHIFT_ALERT_EMAILS", "oncall@example.com")
        assert run_dag("nightshift__rollback", "2025-01-01",
                       {"model": "flights_delay", "target": "previous", "reason": "testing the form"},
                       logs / "rollback.log") != 0
    rollback_log = (logs / "rollback.log").read_text()
    assert "NIGHTSHIFT FAILURE  model/rollback  flights_delay" in rollback_log
    assert "nothing to roll back" in rollback_log
    (email,) = inbox
    assert email["To"] == "oncall@example.com"
    assert email["Subject"].startswith("NIGHTSHIFT FAILURE  model/rollback  flights_delay")
    assert "nothing to roll back" in email.get_payload(0).get_payload(decode=True).decode()
    assert registry.alias_version("flights_delay", CHAMPION) == "1"

    # A reviewer releases one blizzard day from the form; it moves to validated/ with the record.
    assert run_dag("flights_delay__release", "2013-02-15",
                   {"day": "2013-02-08", "reason": "reviewed: real storm, keep it for training"},
                   logs / "release.log") == 0
    assert lake.days("quarantine", "flights") == BLIZZARD[1:]
    released = lake.manifest("validated", "flights", BLIZZARD[0])
    assert released["verdict"] == "released" and released["reason"] == "reviewed: real storm, keep it for training"
    assert "RELEASED flights 2013-02-08" in (logs / "release.log").read_text()
