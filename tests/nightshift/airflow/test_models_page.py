"""The Models page: one row per model with its aliased versions, last runs, open quarantines, monitoring
and data; a model whose facts could not be read shows the error in its row; everything shown is escaped."""

from __future__ import annotations

import datetime as dt
import re

from nightshift.airflow.models_page import RunSummary, render
from nightshift.operate.status import ModelStatus, VersionStatus


def version(number: str, *aliases: str) -> VersionStatus:
    return VersionStatus(number, list(aliases), "2013-03-01 02:00", "random_forest", "n_estimators=300", "12 trials",
                         "2013-01-01..2013-02-21", "41,000", "promote", "roc_auc 0.712", "-")


def status(tracking_uri: str = "sqlite:///mlflow.db", **facts) -> ModelStatus:
    defaults = {"validated": [dt.date(2013, 1, 1), dt.date(2013, 2, 28)], "scored": [dt.date(2013, 2, 28)],
                "scored_by": "2", "quarantine_reports": {}, "monitoring": None, "features": None,
                "versions": [version("1", "previous"), version("2", "champion")]}
    return ModelStatus("flights_delay", "flights", "file:///lake", tracking_uri, **(defaults | facts))


def cell(page: str, name: str) -> str:
    (found,) = re.findall(rf"<td class='{name}'>(.*?)</td>", page)
    return found


def test_each_alias_shows_its_version_and_a_missing_one_says_none():
    page = render([status()], {})
    assert cell(page, "champion").startswith("v2 random_forest roc_auc 0.712<br>")
    assert "params n_estimators=300; tuning 12 trials; " in cell(page, "champion")
    assert "gate: promote" in cell(page, "champion")
    assert cell(page, "previous").startswith("v1 ")
    assert cell(page, "challenger") == "<span class='muted'>none</span>"


def test_a_version_links_to_mlflow_only_when_mlflow_is_a_server():
    assert "<a " not in cell(render([status()], {}), "champion")
    served = render([status("http://mlflow:5000/")], {})
    assert cell(served, "champion").startswith(
        "<a href='http://mlflow:5000/#/models/flights_delay/versions/2' target='_blank'>v2</a>")


def test_last_runs_link_to_their_airflow_run_coloured_by_state():
    runs = {"flights_delay": [RunSummary("flights_delay__retrain", "manual__2013-03-01T00:00:00+00:00", "failed",
                                         "2013-03-01 00:00")]}
    shown = cell(render([status()], runs), "runs")
    assert ("<a href='/dags/flights_delay__retrain/runs/manual__2013-03-01T00%3A00%3A00%2B00%3A00' target='_top'>"
            "retrain</a> <span class='bad'>failed</span>") in shown
    assert cell(render([status()], {}), "runs") == "<span class='muted'>no runs</span>"


def test_open_quarantines_monitoring_and_data_are_summarised():
    page = render([status(quarantine_reports={dt.date(2013, 2, 8): "file:///lake/q/report.txt"},
                          monitoring="champion v2 up to 2013-02-28: breaches []")], {})
    assert cell(page, "quarantines") == ("<span class='bad'>2013-02-08</span> "
                                         "<span class='muted'>file:///lake/q/report.txt</span>")
    assert cell(page, "monitoring") == "champion v2 up to 2013-02-28: breaches []"
    assert cell(page, "data").startswith("2 days validated (2013-01-01..2013-02-28)<br>1 days scored by v2")
    assert cell(render([status()], {}), "quarantines") == "<span class='good'>none</span>"


def test_a_model_that_cannot_be_read_shows_its_error_and_the_others_still_show():
    page = render([("broken_model", FileNotFoundError("no spec broken_model.yaml")), status()], {})
    assert ("<tr data-model='broken_model'><td>broken_model</td><td colspan='7' class='bad'>cannot read: "
            "FileNotFoundError: no spec broken_model.yaml</td></tr>") in page
    assert "<tr data-model='flights_delay'>" in page


def test_what_the_page_shows_is_escaped():
    page = render([status(monitoring="<script>alert(1)</script>")], {})
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
