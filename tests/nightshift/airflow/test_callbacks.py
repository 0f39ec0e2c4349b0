"""Failure summaries to Slack through Airflow's Slack webhook notifier, against a local webhook
endpoint; a notification that fails is logged and never raised. (Email is tested end to end in
tests/e2e, from a real failing DAG run to a local SMTP server.)"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from nightshift.airflow.callbacks import SLACK_LINES, notify
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
