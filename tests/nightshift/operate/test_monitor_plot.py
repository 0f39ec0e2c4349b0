"""The monitor report as a picture: drift per feature (worst on top) coloured by whether it breaches a
limit or was expected, the prediction's own drift, realized against holdout performance, and the verdict."""

from __future__ import annotations

import datetime as dt

from matplotlib.colors import to_hex

from nightshift.operate.monitor import Drift, MonitorReport
from nightshift.operate.monitor_plot import plot_monitor

DRIFT = [Drift("temp", 0.40, 0.30, beyond_limits=True, expected=True),
         Drift("dep_hour", 0.35, 0.25, beyond_limits=True, expected=False),
         Drift("carrier", 0.01, None, beyond_limits=False, expected=False)]


def report(**measured) -> MonitorReport:
    return MonitorReport("flights_delay", "3", dt.date(2013, 3, 31), [], [], DRIFT, prediction_psi=0.05, **measured)


def test_drift_is_drawn_per_feature_smallest_first_with_the_prediction_last():
    drift, _ = plot_monitor(report()).axes
    labels = [label.get_text() for label in drift.get_yticklabels()]
    assert labels == ["carrier", "dep_hour", "temp", "prediction"]
    assert [patch.get_width() for patch in drift.patches] == [0.01, 0.35, 0.40, 0.05]
    assert [to_hex(patch.get_facecolor()) for patch in drift.patches] == [
        to_hex("tab:blue"), to_hex("tab:red"), to_hex("tab:orange"), to_hex("tab:purple")]


def test_realized_performance_is_shown_beside_the_holdout_when_labels_are_known():
    _, metric = plot_monitor(report(realized=0.66, expected=0.71, breaches=["realized roc_auc"])).axes
    assert [patch.get_height() for patch in metric.patches] == [0.71, 0.66]
    assert [label.get_text() for label in metric.get_xticklabels()] == ["holdout", "realized"]


def test_the_title_says_decay_only_when_something_breached():
    assert plot_monitor(report(breaches=["drift:dep_hour"])).get_suptitle() == \
        "flights_delay v3, up to 2013-03-31: DECAY"
    healthy = plot_monitor(report())
    assert healthy.get_suptitle() == "flights_delay v3, up to 2013-03-31: healthy"
    assert len(healthy.axes[1].patches) == 0  # no labels yet: no realized bar
