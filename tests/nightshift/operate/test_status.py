"""What is where, per model: the lake's validated, quarantined and scored days, the champion's last
monitoring, and every registered version with its aliases and gate decision, as `nightshift status`
prints them. A small lake and two registered versions in a module home."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pytest

from nightshift.data.lake import Lake
from nightshift.model.aggregates import definition
from nightshift.model.registry import CHAMPION, PREVIOUS, Registry
from nightshift.operate.status import ModelStatus, model_status, print_status
from nightshift.settings import Settings
from nightshift.spec import load_spec
from tests.conftest import DEMO_SPEC, module_home
from tests.nightshift.model.test_registry import register

FEB = [dt.date(2013, 2, 6) + dt.timedelta(days=i) for i in range(4)]
GATED = {"train_window": "2013-01-01..2013-01-31", "train_rows": "24000", "gate.decision": "promote",
         "estimator": "logistic_regression", "params": "C=0.5 max_iter=500", "tuning": "12 trials",
         "gate.primary_metric": "roc_auc 0.712", "gate.failed_checks": "none"}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[Settings]:
    """Three validated days, one quarantined, one scored by v2, two with aggregates (one of an older spec);
    v1 previous, v2 champion and monitored."""
    with module_home(tmp_path_factory, "status") as settings:
        lake, rows = Lake.from_uri(settings.lake_uri), pd.DataFrame({"flight": [1, 2]})
        for day in (FEB[0], FEB[1], FEB[3]):
            lake.write_partition("validated", "flights", day, rows)
        lake.write_partition("quarantine", "flights", FEB[2], rows, attachments={"report.txt": "a storm"})
        lake.write_partition("predictions", "flights_delay", FEB[3], rows.assign(prediction=0.3), model_version="2")
        registry, spec = Registry.from_env(), load_spec(DEMO_SPEC)
        # The rolling aggregates of one day as the spec defines them, of another as an older spec did.
        lake.write_partition("features", spec.name, FEB[3], rows, definition=definition(spec),
                             left_out={FEB[2].isoformat(): "quarantined"})
        lake.write_partition("features", spec.name, FEB[1], rows, definition="an-older-one", left_out={})
        first, second = register(registry, spec, seed=0), register(registry, spec, seed=1, **GATED)
        registry.set_alias(spec.name, PREVIOUS, first)
        registry.set_alias(spec.name, CHAMPION, second)
        registry.tag_version(spec.name, second, {"monitoring.last_as_of": "2013-02-09", "monitoring.breaches": "[]"})
        yield settings


@pytest.fixture(scope="module")
def status(world) -> ModelStatus:
    return model_status(world, "flights_delay")


def test_the_lake_facts_are_the_days_of_each_zone(status, world):
    assert (status.dataset, status.validated, status.scored) == ("flights", [FEB[0], FEB[1], FEB[3]], [FEB[3]])
    assert status.scored_by == "2"
    (day, report), = status.quarantine_reports.items()
    assert day == FEB[2] and report.startswith(world.lake_uri) and report.endswith("/report.txt")


def test_every_version_shows_its_aliases_and_gate_decision_oldest_first(status):
    first, second = status.versions
    assert (first.version, first.aliases, first.decision, first.train_window) == ("1", [PREVIOUS], "not evaluated",
                                                                                 "-")
    assert (second.version, second.aliases, second.decision, second.primary_metric) == ("2", [CHAMPION], "promote",
                                                                                        "roc_auc 0.712")
    assert (first.estimator, second.estimator) == ("-", "logistic_regression")
    assert (first.params, second.params, second.tuning) == ("-", "C=0.5 max_iter=500", "12 trials")
    assert status.aliased(CHAMPION) == second and status.aliased("challenger") is None


def test_the_champions_last_monitoring_is_reported(status):
    assert status.monitoring == "champion v2 up to 2013-02-09: breaches []"


def test_a_version_links_to_the_mlflow_ui_only_when_mlflow_is_a_server(status):
    assert status.version_link("2") is None  # SQLite
    served = dataclasses.replace(status, tracking_uri="http://mlflow:5000/")
    assert served.version_link("2") == "http://mlflow:5000/#/models/flights_delay/versions/2"


def test_status_prints_the_days_the_reports_and_the_versions(world, capsys):
    print_status(world, "flights_delay")
    printed = capsys.readouterr().out
    assert "flights: 3 days validated (2013-02-06..2013-02-09), 1 quarantined: 2013-02-08" in printed
    assert "report.txt" in printed
    assert "predictions: 1 days scored, the last 2013-02-09 by champion v2" in printed
    assert ("features/flights_delay: 2 days materialised (2013-02-07..2013-02-09), 1 of the spec's current "
            "aggregates; history days left out: 2013-02-08 (quarantined)") in printed
    assert "monitoring of champion v2 up to 2013-02-09" in printed
    assert "roc_auc 0.712" in printed and "not evaluated" in printed


def test_a_model_with_nothing_yet_has_empty_facts(home):
    status = model_status(home, "flights_delay")
    assert (status.validated, status.quarantine_reports, status.scored, status.versions) == ([], {}, [], [])
    assert (status.features.days, status.features.left_out) == ([], {})
    assert status.scored_by is None and status.monitoring is None
