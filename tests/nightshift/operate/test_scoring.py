"""Scoring a validated day with the champion, and the challenger in shadow, against a real registry."""

from __future__ import annotations

import datetime as dt

import pytest

from nightshift.failures import ModelError
from nightshift.model import train
from nightshift.model.registry import CHALLENGER, Registry
from nightshift.operate import scoring
from tests.conftest import validated_world

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(21)]
DAY = DAYS[-1]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three validated weeks and a champion trained on them."""
    with validated_world(tmp_path_factory, "scoring", DAYS, champion_as_of=DAY) as run:
        yield run.spec, run.lake, run.registry


def test_a_day_is_scored_by_the_champion_with_its_version_on_every_row(world):
    spec, lake, registry = world
    (score,) = scoring.score_days(spec, lake, registry, [DAY])

    predictions = lake.read_partition("predictions", spec.name, DAY)
    validated = lake.read_partition("validated", spec.source.dataset, DAY)
    assert score.rows == len(predictions) == len(validated) and score.shadow is None
    assert predictions.columns.tolist() == [*spec.scoring.id_columns, "prediction", "model_version"]
    assert predictions[spec.scoring.id_columns].equals(validated[spec.scoring.id_columns])
    assert set(predictions["model_version"]) == {score.champion_version}
    assert predictions["prediction"].between(0, 1).all() and predictions["prediction"].nunique() > 10
    assert lake.manifest("predictions", spec.name, DAY)["model_version"] == score.champion_version


def test_scoring_a_day_again_gives_the_same_partition(world):
    spec, lake, registry = world
    scoring.score_days(spec, lake, registry, [DAY])
    first = lake.manifest("predictions", spec.name, DAY)
    scoring.score_days(spec, lake, registry, [DAY])
    again = lake.manifest("predictions", spec.name, DAY)
    assert again["checksum"] == first["checksum"] and again["commit"] != first["commit"]


def test_a_challenger_is_scored_in_shadow_and_compared_on_its_version(world):
    spec, lake, registry = world
    window = train.plan_window(spec, lake, DAY, train_days=5)
    shadow_version = train.train_challenger(spec, lake, registry, window).version
    try:
        (score,) = scoring.score_days(spec, lake, registry, [DAY])
        assert 0.5 < score.shadow["agreement"] <= 1
        assert 0.5 < score.shadow["champion_roc_auc"] < 1 and 0.5 < score.shadow["challenger_roc_auc"] < 1
        tags = registry.version_tags(spec.name, shadow_version)
        assert (tags["shadow.champion_version"], tags["shadow.days"], tags["shadow.last_day"]) == (
            score.champion_version, "1", DAY.isoformat())
        history = registry.client.get_metric_history(registry.run_id(spec.name, shadow_version), "shadow_agreement")
        assert [point.step for point in history] == [DAY.toordinal()]
        # the predictions partition still holds the champion's
        assert set(lake.read_partition("predictions", spec.name, DAY)["model_version"]) == {score.champion_version}
    finally:
        registry.retire_challenger(spec.name, shadow_version)
    assert registry.alias_version(spec.name, CHALLENGER) is None


def test_training_the_gate_scoring_and_monitoring_get_the_same_feature_values_row_by_row(world):
    """One code path: a day's inputs as training and the gate build them (window_features, which materialises
    the rolling aggregates), as scoring, shadow scoring and monitoring build them (a version's `inputs`,
    reading features/), and computed afresh with features/ emptied, are the same values; and the scored
    predictions are the champion's predictions on the training path's inputs."""
    import numpy as np
    import pandas as pd

    from nightshift.model.inputs import VersionModel, window_features
    from nightshift.model.registry import CHAMPION

    spec, lake, registry = world
    assert spec.features.aggregates, "the demo spec's rolling aggregates are what this test is about"
    days = DAYS[-3:]
    trained = window_features(spec, lake, days, materialise=True)
    champion = VersionModel.load(registry, lake, spec, registry.alias_version(spec.name, CHAMPION))
    rows = lake.read_days("validated", spec.source.dataset, days)
    scored = champion.inputs(rows)
    for day in days:
        lake.remove_partition("features", spec.name, day)
    computed = champion.inputs(rows)

    known = rows[spec.target.column].notna() | (spec.target.missing != "drop")  # rows training keeps
    for inputs in (scored, computed):
        pd.testing.assert_frame_equal(inputs[known.to_numpy()].reset_index(drop=True), trained.X)
    assert trained.X[list(spec.features.aggregates)].notna().mean().min() > 0.5  # real values, not all missing
    scoring.score_days(spec, lake, registry, [DAY])
    predictions = lake.read_partition("predictions", spec.name, DAY)["prediction"].to_numpy()
    on_training_inputs = champion.predict_inputs(window_features(spec, lake, [DAY]).X)
    np.testing.assert_array_equal(predictions, on_training_inputs)


def test_without_a_champion_scoring_says_so(spec, lake):
    with pytest.raises(ModelError, match="flights_delay has no champion to score with"):
        scoring.score_days(spec, lake, Registry.from_env(), [DAY])
