"""Monitoring the champion on real flights: drift against its training window, realized performance,
and which breaches are a decay signal."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nightshift.failures import ModelError
from nightshift.model.registry import Registry
from nightshift.operate import monitor
from tests.conftest import validated_world

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(28)]
TRAINED_AS_OF = dt.date(2013, 1, 21)  # trained on 1-14 January, holdout 15-21


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with validated_world(tmp_path_factory, "monitor", DAYS, champion_as_of=TRAINED_AS_OF) as run:
        yield run.spec, run.lake, run.registry


def test_the_holdout_week_is_healthy_and_the_report_is_logged(world):
    spec, lake, registry = world
    report = monitor.monitor(spec, lake, registry, TRAINED_AS_OF)

    assert report.breaches == []
    assert len(report.recent_days) == 7 and len(report.reference_days) == 14
    assert report.realized == pytest.approx(report.expected, abs=0.03)
    assert {d.feature for d in report.drift} == set(spec.features.columns)
    weather = {d.feature for d in report.drift if d.beyond_limits}
    assert weather and weather <= set(spec.monitoring.expected_drift)  # reported, but no signal
    run_id = registry.run_id(spec.name, report.champion_version)
    logged = json.loads(Path(registry.client.download_artifacts(
        run_id, f"monitoring/{TRAINED_AS_OF}/report.json")).read_text())
    assert logged["realized"] == report.realized
    assert Path(registry.client.download_artifacts(run_id, f"monitoring/{TRAINED_AS_OF}/drift.png")).stat().st_size
    assert registry.version_tags(spec.name, report.champion_version)["monitoring.breaches"] == "none"


def test_a_week_the_champion_predicts_worse_is_decay(world):
    spec, lake, registry = world
    report = monitor.monitor(spec, lake, registry, dt.date(2013, 1, 28))
    assert report.breaches == ["decay:roc_auc"]
    assert report.expected - report.realized > spec.monitoring.max_metric_drop
    assert "DECAY (decay:roc_auc)" in report.table()


def test_labels_not_yet_known_are_not_judged(world):
    spec, lake, registry = world
    delayed = spec.model_copy(update={"monitoring": spec.monitoring.model_copy(update={"label_delay_days": 30})})
    report = monitor.monitor(delayed, lake, registry, dt.date(2013, 1, 28))
    assert report.realized is None and report.breaches == []


def test_a_unit_change_upstream_is_feature_drift(spec):
    """Distance reported in kilometres instead of miles: the same flights, a different distribution."""
    miles = pd.Series(np.random.default_rng(0).gamma(4, 250, 5000))
    drift = monitor._drift("distance", miles, miles.sample(1000, random_state=1) * 1.609, spec, spec.monitoring)
    assert drift.beyond_limits and not drift.expected and drift.ks > 0.2
    same = monitor._drift("distance", miles, miles.sample(1000, random_state=1), spec, spec.monitoring)
    assert not same.beyond_limits


def test_without_a_champion_monitoring_says_so(spec, lake):
    with pytest.raises(ModelError, match="flights_delay has no champion to monitor"):
        monitor.monitor(spec, lake, Registry.from_env(), TRAINED_AS_OF)
