import math

import pytest

from nightshift.gate import GateReport, compute_metrics, judge
from nightshift.spec import Gate


def report(checks) -> GateReport:
    return GateReport("m", "2", "1", "roc_auc", ["2013-03-01"], 10, {"roc_auc": 0.7}, None, checks)


def test_first_model_passes_on_absolute_thresholds(spec):
    checks = judge(spec, {"roc_auc": 0.70, "log_loss": 0.50}, champion=None)
    assert all(c.passed for c in checks) and len(checks) == 2


def test_first_model_without_thresholds_fails_closed(spec):
    bare = spec.model_copy(update={"gate": Gate(primary_metric="roc_auc")})
    checks = judge(bare, {"roc_auc": 0.99}, champion=None)
    assert report(checks).decision == "reject"
    assert report(checks).failed_checks == ["thresholds configured"]


@pytest.mark.parametrize("value", [math.nan, None])
def test_missing_or_nan_metric_fails_closed(spec, value):
    metrics = {"log_loss": 0.5} if value is None else {"roc_auc": value, "log_loss": 0.5}
    assert report(judge(spec, metrics, champion=None)).failed_checks == ["roc_auc threshold"]


def test_worse_challenger_is_rejected(spec):
    checks = judge(spec, {"roc_auc": 0.70, "log_loss": 0.5}, {"roc_auc": 0.71, "log_loss": 0.5})
    assert report(checks).failed_checks == ["roc_auc vs champion"]


def test_improvement_below_min_delta_is_rejected(spec):
    checks = judge(spec, {"roc_auc": 0.7015, "log_loss": 0.5}, {"roc_auc": 0.70, "log_loss": 0.5})
    assert report(checks).decision == "reject"


def test_clearly_better_challenger_passes(spec):
    checks = judge(spec, {"roc_auc": 0.72, "log_loss": 0.5}, {"roc_auc": 0.70, "log_loss": 0.5})
    assert report(checks).decision == "promote"


def test_lower_is_better_metrics_use_their_direction(spec):
    by_loss = spec.model_copy(update={"gate": Gate(primary_metric="log_loss", thresholds={"log_loss": {"max": 0.6}})})
    assert report(judge(by_loss, {"log_loss": 0.50}, {"log_loss": 0.55})).decision == "promote"
    assert report(judge(by_loss, {"log_loss": 0.58}, {"log_loss": 0.55})).decision == "reject"
    assert report(judge(by_loss, {"log_loss": 0.61}, None)).failed_checks == ["log_loss threshold"]


def test_no_checks_means_reject():
    assert report([]).decision == "reject"


def test_metrics_of_one_class_holdout_are_nan_not_a_crash():
    metrics = compute_metrics("classification", [1, 1, 1], [0.9, 0.8, 0.7])
    assert math.isnan(metrics["roc_auc"]) and metrics["accuracy"] == 1.0


def test_report_table_shows_the_decision_and_the_numbers(spec):
    checks = judge(spec, {"roc_auc": 0.60, "log_loss": 0.5}, None)
    text = report(checks).table()
    assert "-> REJECT" in text and "roc_auc threshold" in text and "0.6000 vs min 0.62" in text
