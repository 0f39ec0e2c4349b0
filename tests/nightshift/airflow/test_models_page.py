"""The Models page: one row per model with its aliased versions, last runs, the history of its versions,
open quarantines (their report and Data Docs served from the lake), monitoring and data; a model whose
facts could not be read shows the error in its row; everything shown is escaped."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pandas as pd
import pytest

from nightshift.airflow.models_page import (
    TEXT,
    RunSummary,
    history,
    quarantine_file,
    render,
    render_history,
    version_file,
)
from nightshift.data.lake import Lake
from nightshift.model.registry import Registry
from nightshift.operate.status import ModelStatus, VersionStatus

FEB_8 = dt.date(2013, 2, 8)


def version(number: str, *aliases: str, metric: str = "roc_auc=0.712", decision: str = "promote",
            **events: str) -> VersionStatus:
    return VersionStatus(number, list(aliases), "2013-03-01 02:00", "random_forest", "n_estimators=300", "12 trials",
                         "2013-01-01..2013-02-21", "41,000", decision, metric, "-", **events)


def status(tracking_uri: str = "sqlite:///mlflow.db", **facts) -> ModelStatus:
    defaults = {"validated": [dt.date(2013, 1, 1), dt.date(2013, 2, 28)], "scored": [dt.date(2013, 2, 28)],
                "scored_by": "2", "quarantine_reports": {}, "monitoring": None, "features": None,
                "versions": [version("1", "previous"), version("2", "champion")]}
    return ModelStatus("flights_delay", "flights", "file:///lake", tracking_uri, **(defaults | facts))


@dataclass
class Cell:
    text: str = ""
    links: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)  # of the spans and circles inside


class Rows(HTMLParser):
    """The page's table: row key (its `data-model`, or `data-version`) -> cell class -> what the cell shows
    (its text, whitespace folded)."""

    def __init__(self, page: str, key: str = "data-model"):
        super().__init__()
        self.key = key
        self.rows: dict[str, dict[str, Cell]] = {}
        self.model, self.cell = "", None
        self.feed(page)
        for cells in self.rows.values():
            for cell in cells.values():
                cell.text = " ".join(cell.text.split())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and self.key in attrs:
            self.model = attrs[self.key]
            self.rows[self.model] = {}
        elif tag == "td" and self.model:
            self.cell = self.rows[self.model].setdefault(attrs["class"], Cell())
        elif self.cell is not None and tag == "a":
            self.cell.links.append(attrs["href"])
        elif self.cell is not None and "class" in attrs:
            self.cell.classes.append(attrs["class"])

    def handle_endtag(self, tag):
        if tag == "td":
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.text += data


def row(page: str, model: str = "flights_delay") -> dict[str, Cell]:
    return Rows(page).rows[model]


def test_each_alias_shows_its_version_and_a_missing_one_says_none():
    cells = row(render([status()], {}))
    assert cells["champion"].text.startswith("v2 random_forest roc_auc=0.712 params n_estimators=300; tuning 12 "
                                             "trials;")
    assert "gate: promote" in cells["champion"].text
    assert cells["previous"].text.startswith("v1 ")
    assert cells["challenger"].text == "none"


def test_a_version_links_to_mlflow_only_when_mlflow_is_a_server():
    assert row(render([status()], {}))["champion"].links == []
    served = row(render([status("http://mlflow:5000/")], {}))
    assert served["champion"].links == ["http://mlflow:5000/#/models/flights_delay/versions/2"]


def test_last_runs_link_to_their_airflow_run_coloured_by_state():
    runs = {"flights_delay": [RunSummary("flights_delay__retrain", "manual__2013-03-01T00:00:00+00:00", "failed",
                                         "2013-03-01 00:00")]}
    shown = row(render([status()], runs))["runs"]
    assert shown.links == ["/dags/flights_delay__retrain/runs/manual__2013-03-01T00%3A00%3A00%2B00%3A00"]
    assert shown.text == "retrain failed 2013-03-01 00:00" and "bad" in shown.classes
    assert row(render([status()], {}))["runs"].text == "no runs"


def test_the_history_places_each_judged_version_by_its_metric_coloured_by_the_gates_decision():
    versions = [version("1", metric="roc_auc=0.6648"), version("2", metric="roc_auc=0.6787"),
                version("3", metric="roc_auc=0.6500", decision="reject"), version("4", metric="-")]
    chart = history(versions)
    assert [point.version for point in chart.points] == ["1", "2", "3"]  # v4 was never judged
    assert chart.metric == "roc_auc" and (chart.low, chart.high) == (0.65, 0.6787)
    xs, ys = [point.x for point in chart.points], [point.y for point in chart.points]
    assert xs == sorted(xs) and ys[1] == min(ys) and ys[2] == max(ys)  # higher is drawn higher (smaller y)
    cell = row(render([status(versions=versions)], {}))["history"]
    assert [css for css in cell.classes if css != "muted"] == ["promote", "promote", "reject"]
    assert "roc_auc 0.6500..0.6787 over 3 versions" in cell.text
    assert row(render([status(versions=[version("1", metric="-")])], {}))["history"].text == (
        "no evaluated version all versions")
    assert cell.links == ["models/flights_delay/history"]


def test_open_quarantines_link_their_report_and_data_docs_monitoring_and_data_are_summarised():
    cells = row(render([status(quarantine_reports={FEB_8: "file:///lake/q/report.txt"},
                               monitoring="champion v2 up to 2013-02-28: breaches []")], {}))
    assert cells["quarantines"].text == "2013-02-08 report Data Docs"
    assert cells["quarantines"].links == ["models/flights_delay/quarantine/2013-02-08/report.txt",
                                          "models/flights_delay/quarantine/2013-02-08/data_docs.html"]
    assert cells["monitoring"].text == "champion v2 up to 2013-02-28: breaches []"
    assert cells["data"].text.startswith("2 days validated (2013-01-01..2013-02-28) 1 days scored by v2")
    assert row(render([status()], {}))["quarantines"].text == "none"


def test_a_model_that_cannot_be_read_shows_its_error_and_the_others_still_show():
    page = render([("broken_model", FileNotFoundError("no spec broken_model.yaml")), status()], {})
    assert row(page, "broken_model")["error"].text == "cannot read: FileNotFoundError: no spec broken_model.yaml"
    assert "flights_delay" in Rows(page).rows


def test_what_the_page_shows_is_escaped():
    page = render([status(monitoring="<script>alert(1)</script>")], {})
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_quarantined_days_files_are_read_from_the_lake_and_nothing_else_is(home):
    lake = Lake.from_uri(home.lake_uri)
    lake.write_partition("quarantine", "flights", FEB_8, pd.DataFrame({"x": [1]}),
                         attachments={"report.txt": "cancellation rate 0.57", "data_docs.html": "<h1>docs</h1>"})
    assert quarantine_file(home, "flights_delay", FEB_8, "report.txt") == b"cancellation rate 0.57"
    assert quarantine_file(home, "flights_delay", FEB_8, "data_docs.html") == b"<h1>docs</h1>"
    for model, day, name, says in [("flights_delay", FEB_8, "data.parquet", "not a quarantine file"),
                                   ("no_such_model", FEB_8, "report.txt", "no model 'no_such_model'"),
                                   ("flights_delay", dt.date(2013, 2, 9), "report.txt", "is not quarantined")]:
        with pytest.raises(LookupError, match=says):
            quarantine_file(home, model, day, name)


def test_the_history_page_lists_versions_newest_first_with_who_made_each_champion():
    versions = [version("1", "previous", promoted="2013-03-01T02:10:00+00:00, replacing none"),
                version("2", metric="roc_auc=0.70", decision="reject"),
                version("3", "champion", metric="roc_auc=0.73", promoted="2013-03-02T02:10:00+00:00, replacing 1",
                        approval="approved by ana: better on every slice",
                        rollback="2013-03-05T09:00:00+00:00 by bob, from v4: drill", monitored_to="2013-03-04")]
    page = render_history(status(versions=versions))
    rows = Rows(page, key="data-version").rows
    assert list(rows) == ["3", "2", "1"]
    assert rows["3"]["version"].text == "v3 champion" and rows["1"]["version"].text == "v1 previous"
    assert rows["2"]["gate"].text == "reject failed: -"
    assert rows["3"]["gate"].text == "promote approved by ana: better on every slice"
    assert rows["3"]["champion"].text == ("promoted 2013-03-02T02:10:00+00:00, replacing 1 rolled back to "
                                          "2013-03-05T09:00:00+00:00 by bob, from v4: drill monitored up to 2013-03-04")
    assert rows["3"]["reports"].links == ["versions/3/gate/report.txt", "versions/3/gate/report.png",
                                          "versions/3/monitoring/2013-03-04/drift.png"]
    assert page.count("<circle") == 3


def test_a_versions_reports_are_read_from_its_run_and_nothing_else_is(home):
    registry = Registry.from_env()
    client = registry.client
    run = client.create_run(registry._experiment_id("flights_delay")).info.run_id  # artifacts under the home
    client.log_text(run, "GATE flights_delay: challenger v1 -> PROMOTE", "gate/report.txt")
    client.log_text(run, "{}", "spec.json")
    client.create_registered_model("flights_delay")
    client.create_model_version("flights_delay", f"runs:/{run}/model", run)
    assert version_file(registry, "flights_delay", "1", "gate/report.txt") == (
        b"GATE flights_delay: challenger v1 -> PROMOTE", TEXT)
    for path, says in [("gate/report.png", "no gate/report.png"), ("spec.json", "not a gate or monitoring report"),
                       ("gate/../spec.json", "not a gate or monitoring report")]:
        with pytest.raises(LookupError, match=says):
            version_file(registry, "flights_delay", "1", path)
    with pytest.raises(LookupError, match=r"flights_delay v2: no gate/report\.txt"):
        version_file(registry, "flights_delay", "2", "gate/report.txt")
