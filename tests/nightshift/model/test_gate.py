import math

import pytest

from nightshift.model.gate import GateReport, judge
from nightshift.model.metrics import Interval, SliceResult
from nightshift.spec import Gate


def evidence(challenger: dict, champion: dict | None = None, **measured) -> GateReport:
    defaults = {"budgets": {"model_size_mb": 1.0, "predict_ms_per_1k_rows": 5.0}, "infra_error": ""}
    if champion is not None:
        defaults |= {"interval": Interval(0.02, 0.01, 0.03, 0.95, 1000),
                     "slices": [SliceResult("origin", "JFK", 900, 0.70, 0.70, 0.0)]}
    return GateReport("flights_delay", "2", "1" if champion else None, "roc_auc", ["2013-03-01"], 6000,
                      challenger, champion, **(defaults | measured))


def decided(spec, report: GateReport) -> GateReport:
    report.checks = judge(spec, report)
    return report


GOOD = {"roc_auc": 0.72, "log_loss": 0.50}
CHAMPION = {"roc_auc": 0.70, "log_loss": 0.50}


def test_first_model_passes_on_absolute_thresholds(spec):
    report = decided(spec, evidence(GOOD))
    assert report.decision == "promote"
    assert [c.name for c in report.checks] == ["roc_auc threshold", "log_loss threshold", "budget model_size_mb",
                                               "budget predict_ms_per_1k_rows", "loads in a fresh process"]


def test_first_model_without_thresholds_fails_closed(spec):
    bare = spec.model_copy(update={"gate": Gate(primary_metric="roc_auc")})
    assert decided(bare, evidence({"roc_auc": 0.99})).failed_checks == ["thresholds configured"]


@pytest.mark.parametrize("challenger", [{"roc_auc": math.nan, "log_loss": 0.5}, {"log_loss": 0.5}])
def test_missing_or_nan_metric_fails_closed(spec, challenger):
    assert decided(spec, evidence(challenger)).failed_checks == ["roc_auc threshold"]


def test_clearly_better_challenger_is_promoted(spec):
    assert decided(spec, evidence(GOOD, CHAMPION)).decision == "promote"


def test_worse_challenger_is_rejected(spec):
    report = decided(spec, evidence({"roc_auc": 0.69, "log_loss": 0.5}, CHAMPION,
                                    interval=Interval(-0.01, -0.02, 0.0, 0.95, 1000)))
    assert report.failed_checks == ["roc_auc vs champion", "roc_auc confidence"]


def test_a_gain_the_bootstrap_cannot_confirm_is_rejected(spec):
    report = decided(spec, evidence(GOOD, CHAMPION, interval=Interval(0.02, 0.001, 0.04, 0.95, 1000)))
    assert report.failed_checks == ["roc_auc confidence"]
    assert "lower bound must exceed 0.002" in report.checks[3].detail


def test_missing_interval_fails_closed(spec):
    assert decided(spec, evidence(GOOD, CHAMPION, interval=None)).failed_checks == ["roc_auc confidence"]


def test_a_much_worse_secondary_metric_is_rejected(spec):
    report = decided(spec, evidence({"roc_auc": 0.72, "log_loss": 0.52}, CHAMPION))
    assert report.failed_checks == ["log_loss relative drop"]
    assert next(check.detail for check in report.checks if check.name == "log_loss relative drop") == (
        "4.00% worse than the champion, allowed 2.00% worse")


def test_a_better_secondary_metric_is_said_to_be_better(spec):
    report = decided(spec, evidence({**GOOD, "log_loss": 0.49}, CHAMPION))
    assert next(check.detail for check in report.checks if check.name == "log_loss relative drop") == (
        "2.00% better than the champion, allowed 2.00% worse")


def test_a_broken_slice_is_rejected_and_named(spec):
    broken = [SliceResult("carrier", "UA", 1200, 0.60, 0.70, 0.10), SliceResult("origin", "JFK", 900, 0.7, 0.7, 0)]
    report = decided(spec, evidence(GOOD, CHAMPION, slices=broken))
    assert report.failed_checks == ["slices"]
    assert "carrier=UA" in next(c.detail for c in report.checks if c.name == "slices")


def test_over_budget_or_unmeasured_models_are_rejected(spec):
    slow = decided(spec, evidence(GOOD, budgets={"model_size_mb": 1.0, "predict_ms_per_1k_rows": 900.0}))
    assert slow.failed_checks == ["budget predict_ms_per_1k_rows"]
    unmeasured = decided(spec, evidence(GOOD, budgets={"predict_ms_per_1k_rows": 5.0}))
    assert unmeasured.failed_checks == ["budget model_size_mb"]


def test_a_model_that_does_not_load_is_rejected_with_the_error(spec):
    report = decided(spec, evidence(GOOD, infra_error="ModuleNotFoundError: No module named 'xgboost'"))
    assert report.failed_checks == ["loads in a fresh process"]
    assert "xgboost" in report.table()


def test_lower_is_better_primary_metric_uses_its_direction(spec):
    by_loss = spec.model_copy(update={"gate": Gate(primary_metric="log_loss", thresholds={"log_loss": {"max": 0.6}},
                                                   vs_champion={"min_delta": 0.01, "confidence": None})})
    assert decided(by_loss, evidence({"log_loss": 0.50}, {"log_loss": 0.55})).decision == "promote"
    assert decided(by_loss, evidence({"log_loss": 0.58}, {"log_loss": 0.55})).failed_checks == ["log_loss vs champion"]


def test_no_checks_means_reject():
    assert GateReport("m", "2", None, "roc_auc", ["2013-03-01"], 10, {}, None).decision == "reject"


def test_report_table_shows_decision_numbers_and_slices(spec):
    text = decided(spec, evidence({"roc_auc": 0.60, "log_loss": 0.5}, CHAMPION)).table()
    assert "-> REJECT" in text and "0.6000 vs min 0.62" in text and "origin=JFK" in text
