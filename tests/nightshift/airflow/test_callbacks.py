"""Failure summaries to Slack through Airflow's Slack webhook notifier, against a local webhook
endpoint; a notification that fails is logged and never raised. (Email is tested end to end in
tests/e2e, from a real failing DAG run to a local SMTP server.) A failed train's reproduce line carries what
its run's form set."""

from __future__ import annotations

import json
import logging
import shlex
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from nightshift.airflow.callbacks import SLACK_LINES, notify, reproduce_options
from nightshift.settings import Settings

SUMMARY = "\n".join(["NIGHTSHIFT FAILURE  data/expectations  flights_delay  2013-02-08",
                     "cause     2 of 28 days quarantined", "evidence", *[f"  row {i}" for i in range(10)]])


@pytest.fixture
def webhook(monkeypatch) -> Iterator[list[dict]]:
    """A local Slack-style incoming webhook, wired to the connection NIGHTSHIFT_SLACK_WEBHOOK_CONN_ID names."""
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # http.server's name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AIRFLOW_CONN_ONCALL_SLACK", json.dumps(
        {"conn_type": "slackwebhook", "password": f"http://127.0.0.1:{server.server_port}/services/T0/B0/x"}))
    monkeypatch.setenv("NIGHTSHIFT_SLACK_WEBHOOK_CONN_ID", "oncall_slack")
    yield received
    server.shutdown()


def test_slack_gets_the_head_of_the_summary(webhook):
    notify(Settings.from_env(), SUMMARY, {})
    (message,) = webhook
    assert message["text"] == "```" + "\n".join(SUMMARY.splitlines()[:SLACK_LINES]) + "```"


def test_a_failing_notification_is_logged_not_raised(monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_ONCALL_SLACK", json.dumps(
        {"conn_type": "slackwebhook", "password": "http://127.0.0.1:1/services/T0/B0/x"}))
    monkeypatch.setenv("NIGHTSHIFT_SLACK_WEBHOOK_CONN_ID", "oncall_slack")
    with caplog.at_level(logging.ERROR, logger="nightshift"):
        notify(Settings.from_env(), SUMMARY, {})
    assert "could not send the failure summary by Slack" in caplog.text


def test_nothing_is_sent_unless_configured(webhook, monkeypatch):
    monkeypatch.delenv("NIGHTSHIFT_SLACK_WEBHOOK_CONN_ID")
    notify(Settings.from_env(), SUMMARY, {})
    assert webhook == []


def test_the_summary_says_which_try_failed_and_when_the_next_one_runs():
    """On the real tasks the factory builds: retries, delays and backoff as the DAGs have them."""
    import datetime as dt
    from types import SimpleNamespace

    from nightshift.airflow.callbacks import where
    from nightshift.airflow.factory import build_dags
    from nightshift.failures import InfraError, SourceNotReady

    ingest = build_dags()["flights_delay__ingest"]
    validate, ingest_raw = ingest.get_task("validate"), ingest.get_task("ingest_raw")
    now = dt.datetime(2026, 12, 4, 3, 0, tzinfo=dt.UTC)
    first = {"ti": SimpleNamespace(try_number=1), "task": validate, "run_id": "scheduled__2026-12-03",
             "exception": InfraError("S3 down", kind="storage")}
    assert validate.retry_delay == dt.timedelta(seconds=30)  # the demo spec's schedule.retry_delay_seconds
    assert where(first, retried=True, now=now) == (
        f"task validate, try 1 of {validate.retries + 1}; next try in 30 s to 60 s (from 03:00:30 UTC); "
        "run scheduled__2026-12-03")
    second = {**first, "ti": SimpleNamespace(try_number=2)}
    assert "try 2 of 3; next try in 60 s to 2 min (from 03:01:00 UTC)" in where(second, retried=True, now=now)
    late = {**first, "task": ingest_raw, "exception": SourceNotReady("no rows yet", kind="late_data")}
    assert "next try in 30 min (from 03:30:00 UTC)" in where(late, retried=True, now=now)
    assert where(first, retried=False).endswith("no further try; run scheduled__2026-12-03")


def test_the_impact_line_says_what_still_serves_and_what_waits(home, monkeypatch):
    from nightshift.airflow import callbacks
    from nightshift.airflow.callbacks import impact, serving
    from nightshift.model.registry import CHAMPION, Registry

    monkeypatch.setattr(callbacks, "CHAMPION_LOOKUP_S", 120)  # what is said, not how fast: a loaded CI is slow

    registry = Registry.from_env()
    registry.client.create_registered_model("flights_delay")
    version = registry.client.create_model_version("flights_delay", "file:///nowhere").version
    registry.set_alias("flights_delay", CHAMPION, str(version))
    assert serving("flights_delay", unchanged=True) == f"champion v{version} still serves, unchanged"
    moved = impact("flights_delay", "retrain", "promote", {})  # a failed promote may have moved it: not "unchanged"
    assert moved == f"champion v{version} serves; no new version from this run"
    registry.client.delete_registered_model("flights_delay")

    assert impact("flights_delay", "ingest", "validate", {"start": "2013-01-22", "end": "2013-01-24"}) == (
        "no champion yet: nothing serves; 2013-01-22 to 2013-01-24 not validated: retrains and scoring go without "
        "them until they are")
    assert impact("flights_delay", "score", "score_days", {"start": "2013-01-22"}).endswith(
        "; no predictions for 2013-01-22")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing answers: said, not waited for
    down = impact("flights_delay", "retrain", "train", {"as_of": "2013-01-21"})
    assert down.startswith("champion unknown (the registry did not answer: registry: the MLflow tracking server at "
                           "http://127.0.0.1:9 does not answer"), down
    assert down.endswith("; no new version from this run")


def test_a_failed_trains_reproduce_options_are_what_its_form_set_quoted_for_a_shell():
    form = {"as_of": "2013-03-31", "train_days": 14, "params": {"learning_rate": 0.05, "loss": "log loss"},
            "tune": True, "force": False}
    options = reproduce_options("train", form)
    assert options == """--train-days 14 --params '{"learning_rate":0.05,"loss":"log loss"}' --tune"""
    assert shlex.split(options)[3] == json.dumps(form["params"], separators=(",", ":"))
    assert reproduce_options("train", {"as_of": None, "params": {}, "train_days": None}) == ""
    assert reproduce_options("validate", form) == ""
