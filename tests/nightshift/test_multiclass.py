"""Multiclass classification across the platform: the spec, the classes a version learns, the metrics and
their bootstrap weights against scikit-learn, and a model predicting a flight's airport (EWR, JFK or LGA)
from its route and carrier through train -> gate -> promote -> score -> monitor, with a class the model
never learned left out and reported, never a crash."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from nightshift import steps
from nightshift.failures import DataError
from nightshift.model import train
from nightshift.model.inputs import judged_rows, learned_classes, window_features
from nightshift.model.metrics import compute_metrics, paired_bootstrap, poisson_weights, weighted_metric
from nightshift.model.registry import CHAMPION
from nightshift.spec import SpecError, load_spec
from tests.conftest import DEMO_SPEC, validated_world, without_aggregates

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(21)]
AIRPORTS = ["EWR", "JFK", "LGA"]


def probabilities(rng: np.random.Generator, y: np.ndarray, classes: int) -> np.ndarray:
    """Noisy class probabilities that favour the true class."""
    logits = rng.normal(size=(len(y), classes))
    logits[np.arange(len(y)), y] += 1.0
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_the_metrics_are_scikit_learns():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 600)
    p = probabilities(rng, y, 4)
    assert compute_metrics("multiclass", y, p) == pytest.approx({
        "roc_auc": roc_auc_score(y, p, multi_class="ovr", average="macro"), "log_loss": log_loss(y, p),
        "accuracy": accuracy_score(y, p.argmax(axis=1)), "f1_macro": f1_score(y, p.argmax(axis=1), average="macro")})


def test_each_bootstrap_resample_is_scikit_learns_metric_with_the_counts_as_weights():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 400)
    p = probabilities(rng, y, 3)
    counts = poisson_weights(rng, 4, len(y)) + 1  # every row drawn at least once: the same classes as unweighted
    expected = {
        "roc_auc": lambda w: roc_auc_score(y, p, multi_class="ovr", average="macro", sample_weight=w),
        "log_loss": lambda w: log_loss(y, p, sample_weight=w),
        "accuracy": lambda w: accuracy_score(y, p.argmax(axis=1), sample_weight=w),
        "f1_macro": lambda w: f1_score(y, p.argmax(axis=1), average="macro", sample_weight=w)}
    for metric, sklearn_metric in expected.items():
        assert weighted_metric("multiclass", metric, y.astype(float), p, counts) == pytest.approx(
            [sklearn_metric(counts[:, j]) for j in range(counts.shape[1])], rel=1e-6), metric


def test_a_class_missing_from_the_rows_is_left_out_of_the_macro_averages():
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1],
                  [0.1, 0.8, 0.1]])
    measured = compute_metrics("multiclass", y, p)
    assert measured["roc_auc"] == pytest.approx(np.mean([roc_auc_score(y == c, p[:, c]) for c in (0, 1)]))
    # class 2 is predicted once and never the label: its F1 is 0, as scikit-learn counts it
    assert measured["f1_macro"] == pytest.approx(f1_score(y, p.argmax(axis=1), average="macro"))


def test_the_bootstrap_sees_a_clearly_better_model():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 3000)
    good, noise = probabilities(rng, y, 3), rng.dirichlet([1, 1, 1], len(y))
    interval = paired_bootstrap("multiclass", "roc_auc", True, y, good, noise, confidence=0.95, resamples=200, seed=1)
    assert interval.lower > 0.1 and interval.lower <= interval.gain <= interval.upper


def test_predictions_of_models_that_learned_other_classes_are_aligned_and_unknown_labels_left_out():
    labels = pd.Series(["a", "b", "c", "d", "b"])
    first = np.array([[0.9, 0.1]] * 5)   # learned a, b
    second = np.array([[0.2, 0.8]] * 5)  # learned b, c
    judged = judged_rows("multiclass", labels, [first, second], [["a", "b"], ["b", "c"]])
    assert judged.y.tolist() == [0, 1, 2, 1]  # over a, b, c; "d" left out
    assert judged.unknown_classes == {"d": 1}
    assert judged.predictions[0][0].tolist() == [0.9, 0.1, 0.0] and judged.predictions[1][0].tolist() == [0.0, 0.2, 0.8]
    assert judged.kept.tolist() == [True, True, True, False, True]


def multiclass_spec(tmp_path, name: str = "flights_origin", **target):
    """The demo spec predicting the origin airport instead of a delay (origin is then no feature or slice)."""
    data = yaml.safe_load(DEMO_SPEC.read_text())
    data.update(name=name, task="multiclass", target={"column": "origin", "missing": "drop", **target})
    data["features"]["categorical"] = ["carrier", "dest"]
    without_aggregates(data)  # they are rates of the delay
    data["windows"] = {"train_days": 14, "holdout_days": 7}
    data["model"]["params"] = {"max_iter": 30}
    data["gate"] = {**data["gate"], "thresholds": {"roc_auc": {"min": 0.6}}, "slices": None}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_spec(path)


@pytest.mark.parametrize(("target", "says"), [
    ({"rule": "> 1"}, "target.rule: a multiclass target is the column's labels, without a rule"),
    ({"missing": "positive"}, "target.missing: a multiclass target can only drop missing values"),
    ({"classes": ["EWR", "EWR"]}, "must be distinct, got ['EWR', 'EWR']"),
    ({"classes": ["EWR"]}, "target.classes"),
])
def test_a_multiclass_target_that_cannot_be_learned_fails_at_load(tmp_path, target, says):
    with pytest.raises(SpecError, match=r"flights_origin\.yaml") as error:
        multiclass_spec(tmp_path, **target)
    assert says in str(error.value)


def test_classes_on_a_binary_target_fail_at_load(tmp_path):
    data = yaml.safe_load(DEMO_SPEC.read_text())
    data["target"]["classes"] = ["late", "on time"]
    (tmp_path / "flights_delay.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"target\.classes: only a multiclass target has classes"):
        load_spec(tmp_path / "flights_delay.yaml")


def test_the_learned_classes_are_the_declared_or_the_frequent_ones_and_two_at_least(tmp_path):
    labels = pd.Series(["JFK"] * 30 + ["LGA"] * 25 + ["EWR"] * 5)
    assert learned_classes(multiclass_spec(tmp_path), labels) == ["JFK", "LGA"]  # EWR has 5 rows < 20
    assert learned_classes(multiclass_spec(tmp_path, classes=["LGA", "JFK"]), labels) == ["LGA", "JFK"]
    with pytest.raises(DataError, match="1 class\\(es\\) of 'origin' with at least 20 rows") as error:
        learned_classes(multiclass_spec(tmp_path, classes=["JFK", "SFO"]), labels)
    assert error.value.kind == "empty_window"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with validated_world(tmp_path_factory, "multiclass", DAYS) as run:
        yield run


def test_a_multiclass_model_goes_through_the_gate_scoring_and_monitoring(world, tmp_path):
    run = steps.Run(multiclass_spec(tmp_path), world.lake, world.settings)
    first = steps.retrain(run, DAYS[-1], infra_check=False)
    assert first.promotion.promoted, first.report.table()
    assert world.registry.version_tags(run.spec.name, first.trained.version)["classes"] == ",".join(AIRPORTS)
    assert first.report.challenger["roc_auc"] > 0.6 and first.report.unknown_classes == {}

    # A challenger of another family is judged against the champion on the same rows, with the bootstrap.
    lightgbm = run.spec.model_copy(update={"model": run.spec.model.model_copy(update={
        "estimator": "lightgbm", "params": {"n_estimators": 30, "num_leaves": 15}})})
    second = steps.retrain(steps.Run(lightgbm, world.lake, world.settings), DAYS[-1], train_days=7, infra_check=False)
    report = second.report
    assert report.champion_version == first.trained.version and report.interval is not None
    assert set(report.champion) == set(report.challenger) == {"roc_auc", "log_loss", "accuracy", "f1_macro"}

    scored = steps.score(run, [DAYS[-1]])
    predictions = world.lake.read_partition("predictions", run.spec.name, DAYS[-1])
    assert len(predictions) == scored[0].rows and set(predictions["prediction"]) <= set(AIRPORTS)
    assert predictions["probability"].between(1 / 3, 1).all()

    monitored = steps.monitor(run, DAYS[-1])
    assert 0.5 < monitored.realized <= 1 and np.isfinite(monitored.prediction_psi)


def test_a_class_a_version_did_not_learn_is_left_out_of_its_training_and_reported_by_the_gate(world, tmp_path):
    spec = multiclass_spec(tmp_path, name="flights_two_airports", classes=["JFK", "LGA"])
    window = train.plan_window(spec, world.lake, DAYS[-1])
    trained = train.train_challenger(spec, world.lake, world.registry, window)
    assert world.registry.version_tags(spec.name, trained.version)["classes"] == "JFK,LGA"
    ewr_rows = int((window_features(spec, world.lake, window.holdout).y == "EWR").sum())
    report = steps.evaluate(steps.Run(spec, world.lake, world.settings), trained.version, window.holdout,
                            infra_check=False)
    assert ewr_rows > 0 and report.unknown_classes == {"EWR": ewr_rows}
    assert report.holdout_rows - ewr_rows > 0 and f"{ewr_rows:,} holdout rows of labels no model learned" in \
        report.table()
    assert world.registry.load_model(spec.name, trained.version).predict_proba(
        window_features(spec, world.lake, window.holdout).X.head(3)).shape == (3, 2)
    assert world.registry.alias_version(spec.name, CHAMPION) in (None, trained.version)
