"""The gate report as a picture: each metric's gain over the champion in its own direction (positive =
better), the bootstrap interval on the primary metric, the worst slices, and the decision in the title."""

from __future__ import annotations

import io

import pytest
from matplotlib.colors import to_hex

from nightshift.model.gate import Check, GateReport
from nightshift.model.gate_plot import plot_report
from nightshift.model.metrics import Interval, SliceResult

HIGHER_IS_BETTER = {"roc_auc": True, "log_loss": False}
SLICES = [SliceResult("carrier", "UA", 900, 0.60, 0.70, 0.10), SliceResult("origin", "JFK", 800, 0.69, 0.70, 0.01)]


def report(champion: dict | None, **measured) -> GateReport:
    return GateReport("flights_delay", "2", "1" if champion else None, "roc_auc", [], 6000,
                      {"roc_auc": 0.72, "log_loss": 0.55}, champion, slices=SLICES, **measured)


def bars(axis) -> dict[str, float]:
    return {label.get_text(): patch.get_width() for label, patch in zip(axis.get_yticklabels(), axis.patches,
                                                                        strict=True)}


def test_each_metric_shows_its_gain_in_its_own_direction():
    figure = plot_report(report({"roc_auc": 0.70, "log_loss": 0.50}), HIGHER_IS_BETTER)
    metrics, _ = figure.axes
    gains = bars(metrics)
    assert gains == {"roc_auc": pytest.approx(0.02), "log_loss": pytest.approx(-0.05)}  # log_loss rose: worse
    assert [to_hex(patch.get_facecolor()) for patch in metrics.patches] == [to_hex("tab:green"), to_hex("tab:red")]
    assert metrics.get_title() == "v2 vs champion v1 (positive = better)"
    assert figure.get_suptitle() == "flights_delay: REJECT"  # no checks were judged


def test_the_interval_is_drawn_on_the_primary_metric_with_its_confidence():
    figure = plot_report(report({"roc_auc": 0.70, "log_loss": 0.50}, interval=Interval(0.02, 0.005, 0.03, 0.95, 1000),
                                checks=[Check("roc_auc vs champion", True, "")]), HIGHER_IS_BETTER)
    metrics, _ = figure.axes
    assert [text.get_text() for text in metrics.get_legend().get_texts()] == ["95% interval"]
    assert figure.get_suptitle() == "flights_delay: PROMOTE"


def test_a_first_model_shows_its_holdout_metrics_instead_of_gains():
    metrics, _ = plot_report(report(None), HIGHER_IS_BETTER).axes
    assert bars(metrics) == {"roc_auc": 0.72, "log_loss": 0.55}
    assert metrics.get_title() == "challenger v2 on the holdout (no champion yet)"


def test_the_worst_slice_is_on_top_and_the_figure_saves_as_png():
    figure = plot_report(report({"roc_auc": 0.70, "log_loss": 0.50}), HIGHER_IS_BETTER)
    _, slices = figure.axes
    assert list(bars(slices).items()) == [("origin=JFK", 0.01), ("carrier=UA", 0.10)]  # barh draws upwards
    assert slices.get_title() == "worst slices: drop in roc_auc (positive = worse)"
    png = io.BytesIO()
    figure.savefig(png, format="png")
    assert png.getvalue().startswith(b"\x89PNG")
