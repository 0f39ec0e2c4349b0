"""Candidates and search: trials judged on the training window's newest days (never the holdout), the
winner refit on the whole window as the challenger, every trial a child run of the retrain's run, the
budget kept, a failing trial recorded while the search goes on, and retrains between two searches fitting
the last winner."""

from __future__ import annotations

import datetime as dt

import mlflow
import pytest
import yaml

from nightshift import steps
from nightshift.failures import ModelError
from nightshift.model import train, tuning
from nightshift.model.registry import TUNING_ARTIFACT
from nightshift.spec import SpecError, load_spec
from tests.conftest import DEMO_SPEC, validated_world

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(21)]
QUICK_FOREST = {"n_estimators": 10, "min_samples_leaf": 20}


def tuned_spec(tmp_path, name: str = "flights_tuned", **model):
    data = yaml.safe_load(DEMO_SPEC.read_text())
    data["name"] = name
    data["model"] = {"estimator": "hist_gradient_boosting", "params": {"max_iter": 20}, "seed": 13, **model}
    data["windows"] = {"train_days": 14, "holdout_days": 7, "validation_days": 4}
    data["gate"] = {**data["gate"], "thresholds": {"roc_auc": {"min": 0.55}}, "slices": None}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_spec(path)


@pytest.mark.parametrize(("model", "says"), [
    ({"search": {"space": {}}}, "model.search.space: Dictionary should have at least 1 item after validation"),
    ({"search": {"space": {"learning_rate": {"low": 0.3, "high": 0.01}}}},
     "low must be below high, got {'high': 0.01, 'low': 0.3}"),
    ({"search": {"space": {"learning_rate": {"low": 0, "high": 1, "log": True}}}}, "a log range needs low > 0"),
    ({"search": {"space": {"max_iter": {"low": 10, "high": 50, "choices": [10]}}}}, "give choices, or low and high"),
    ({"search": {"space": {"max_iter": {"choices": "many"}}}}, "model.search.space.max_iter.choices"),
    ({"search": {"space": {"learning_rat": {"low": 0.01, "high": 0.3}}}},
     "model.search.space.learning_rat: HistGradientBoostingClassifier takes no parameter 'learning_rat'"),
    ({"candidates": [{"estimator": "random_forest", "params": {"n_estimator": 5}}]},
     "model.candidates.0.params.n_estimator: RandomForestClassifier takes no parameter 'n_estimator'"),
    ({"candidates": [{"estimator": "ridge"}]}, "model.candidates.0.estimator: 'ridge' is for regression only"),
], ids=["empty space", "low above high", "log from zero", "two kinds", "choices not a list", "unknown parameter",
        "candidate parameter", "candidate for another task"])
def test_a_search_or_candidate_that_cannot_run_fails_at_load_naming_the_key(tmp_path, model, says):
    with pytest.raises(SpecError) as error:
        tuned_spec(tmp_path, **model)
    assert says in str(error.value) and "flights_tuned.yaml" in str(error.value)


def test_the_validation_days_must_leave_training_days_and_the_tune_schedule_be_a_cron(tmp_path):
    data = yaml.safe_load(DEMO_SPEC.read_text())
    data["model"]["candidates"] = [{"estimator": "random_forest"}]
    data["windows"]["validation_days"] = 42
    (tmp_path / "flights_delay.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"windows\.validation_days: .* below train_days \(42\), got 42"):
        load_spec(tmp_path / "flights_delay.yaml")
    data["windows"]["validation_days"] = 7
    data["schedule"]["tune"] = "every sunday"
    (tmp_path / "flights_delay.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"schedule\.tune: .*not a cron expression .*'every sunday'"):
        load_spec(tmp_path / "flights_delay.yaml")


def test_a_search_is_due_on_every_retrain_or_after_each_tick_of_schedule_tune(tmp_path):
    sunday = dt.datetime(2013, 1, 6, 3, tzinfo=dt.UTC)
    plain = tuned_spec(tmp_path)
    searched = tuned_spec(tmp_path, candidates=[{"estimator": "random_forest"}])
    weekly = searched.model_copy(update={"schedule": searched.schedule.model_copy(update={"tune": "0 3 * * 0"})})
    assert not tuning.tuning_due(plain, None, sunday)
    assert tuning.tuning_due(searched, sunday, sunday + dt.timedelta(hours=1))
    assert tuning.tuning_due(weekly, None, sunday)
    assert not tuning.tuning_due(weekly, sunday, sunday + dt.timedelta(days=6))
    assert tuning.tuning_due(weekly, sunday, sunday + dt.timedelta(days=7))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with validated_world(tmp_path_factory, "tuning", DAYS) as run:
        yield run


class ReadDays:
    """Records the days every read of the lake asked for."""

    def __init__(self, lake):
        self.lake, self.days = lake, set()

    def __getattr__(self, name):
        return getattr(self.lake, name)

    def read_days(self, zone, dataset, days, **kwargs):
        self.days.update(days)
        return self.lake.read_days(zone, dataset, days, **kwargs)


def test_the_trials_are_judged_on_the_newest_training_days_and_never_read_the_holdout(world, tmp_path):
    spec = tuned_spec(tmp_path, candidates=[{"estimator": "random_forest", "params": QUICK_FOREST}])
    window = train.plan_window(spec, world.lake, DAYS[-1])
    recording = ReadDays(world.lake)
    found = tuning.tune(spec, recording, window.train)
    assert recording.days == set(window.train) and recording.days.isdisjoint(window.holdout)
    assert found.validation == window.train[-4:]
    assert [(t.source, t.config.estimator) for t in found.trials] == [("spec", "hist_gradient_boosting"),
                                                                      ("candidate", "random_forest")]
    assert found.best in [t.config for t in found.trials]


def test_a_search_is_recorded_as_child_runs_and_the_next_retrains_fit_its_winner(world, tmp_path):
    spec = tuned_spec(tmp_path, candidates=[{"estimator": "random_forest", "params": QUICK_FOREST}],
                      search={"space": {"learning_rate": {"low": 0.02, "high": 0.3, "log": True},
                                        "max_leaf_nodes": {"low": 7, "high": 31}}, "trials": 3})
    run = steps.Run(spec, world.lake, world.settings)
    first = steps.retrain(run, DAYS[-1], tune=True, infra_check=False)
    registry, version = world.registry, first.trained.version
    board = registry.leaderboard(spec.name, version)
    assert len(board) == 5 and [t["source"] for t in board].count("search") == 3
    metrics = [t["metric"] for t in board]
    assert metrics == sorted(metrics, reverse=True)  # roc_auc: best first
    winner = board[0]["config"]
    tags = registry.version_tags(spec.name, version)
    assert (tags["estimator"], tags["tuning"]) == (winner["estimator"], "5 trials")
    assert "chosen by a search of 5 trials" in first.report.table()

    parent = registry.run_id(spec.name, version)
    children = mlflow.search_runs(experiment_names=[spec.name], output_format="list",
                                  filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    assert len(children) == 5 and all(child.info.status == "FINISHED" for child in children)
    assert all("validation_roc_auc" in child.data.metrics and "fit_seconds" in child.data.metrics
               and "estimator" in child.data.params for child in children)
    assert any(item.path == TUNING_ARTIFACT for item in registry.client.list_artifacts(parent, "tuning"))

    # Until schedule.tune's next tick, a retrain fits the recorded winner: one fit, no trials.
    weekly = spec.model_copy(update={"schedule": spec.schedule.model_copy(update={"tune": "0 3 * * 0"})})
    second = steps.train(steps.Run(weekly, world.lake, world.settings), DAYS[-1])
    tags = registry.version_tags(spec.name, second.version)
    assert tags["estimator"] == winner["estimator"] and tags["tuning"].startswith("the winner of ")
    assert registry.leaderboard(spec.name, second.version) == []


def test_a_failing_trial_is_recorded_and_the_search_goes_on_and_all_failing_is_a_model_error(world, tmp_path):
    spec = tuned_spec(tmp_path, candidates=[{"estimator": "random_forest", "params": {"n_estimators": -1}}])
    window = train.plan_window(spec, world.lake, DAYS[-1])
    found = tuning.tune(spec, world.lake, window.train)
    failed, = [t for t in found.trials if t.metric is None]
    assert failed.config.estimator == "random_forest" and "n_estimators" in failed.error
    assert found.best.estimator == "hist_gradient_boosting"

    broken = tuned_spec(tmp_path, params={"learning_rate": -1.0},
                        candidates=[{"estimator": "random_forest", "params": {"n_estimators": -1}}])
    with pytest.raises(ModelError, match="every one of the 2 tuning trials failed") as error:
        tuning.tune(broken, world.lake, window.train)
    assert "learning_rate" in error.value.evidence and "n_estimators" in error.value.evidence


def test_a_search_starts_no_trial_once_its_budget_is_spent(world, tmp_path):
    budget_s = 8.0  # one trial fits in 0.3 s on an idle machine, 3.2 s was seen under CI's load
    spec = tuned_spec(tmp_path, search={"space": {"max_iter": {"low": 20, "high": 60}}, "trials": 10_000,
                                        "budget_minutes": budget_s / 60})
    window = train.plan_window(spec, world.lake, DAYS[-1])
    found = tuning.tune(spec, world.lake, window.train)
    assert 1 < len(found.trials) < 10_000
    # Trials run one after another: all but the last started within the budget.
    assert sum(t.fit_seconds for t in found.trials[:-1]) <= budget_s


def test_a_multiclass_trial_whose_fit_days_lack_a_class_is_judged_with_that_class_at_probability_zero():
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from nightshift.model.metrics import compute_metrics

    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 2))
    fit_codes = np.where(X[:, 0] > 0, 2, 0)  # the window's class 1 only appears on the validation days
    model = LogisticRegression().fit(X, fit_codes)
    check_codes = np.array([0, 1, 2, 2, 0, 1])
    aligned = tuning.on_window_classes(model.predict_proba(X[:6]), model.classes_, classes=3)
    assert aligned.shape == (6, 3) and (aligned[:, 1] == 0).all()
    np.testing.assert_allclose(aligned[:, [0, 2]], model.predict_proba(X[:6]))
    metrics = compute_metrics("multiclass", check_codes, aligned)
    assert np.isfinite(metrics["accuracy"]) and metrics["accuracy"] <= 4 / 6  # class 1 is never predicted
