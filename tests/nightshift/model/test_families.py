"""Estimator families by configuration: each family's parameters are its scikit-learn estimators' own, a
spec naming a parameter, task or family that does not exist fails at load naming what does, and every
family goes through train -> gate -> promote and loads back from the registry with its own types trusted."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import get_args

import pytest
import yaml

from nightshift import steps
from nightshift.model import train
from nightshift.model.families import FAMILIES, EstimatorName
from nightshift.model.inputs import window_features
from nightshift.model.registry import CHAMPION
from nightshift.spec import SpecError, load_spec
from tests.conftest import DEMO_SPEC, validated_world, without_aggregates

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(21)]
PAIRS = [(family.name, task) for family in FAMILIES.values() for task in family.by_task]
QUICK = {"hist_gradient_boosting": {"max_iter": 30}, "random_forest": {"n_estimators": 20, "min_samples_leaf": 20},
         "extra_trees": {"n_estimators": 20, "min_samples_leaf": 20}, "logistic_regression": {"max_iter": 500},
         "ridge": {"alpha": 1.0}, "elastic_net": {"alpha": 0.1}, "xgboost": {"n_estimators": 30, "max_depth": 4},
         "lightgbm": {"n_estimators": 30, "num_leaves": 15}}


@pytest.mark.parametrize(("family", "task"), PAIRS)
def test_a_familys_parameters_are_its_estimators_own(family, task):
    estimator = FAMILIES[family].estimator(task)
    module, name = estimator.path.split(":")
    assert estimator.params == set(getattr(importlib.import_module(module), name)().get_params()) | set(
        estimator.defaults)


def test_the_spec_schema_names_every_family():
    assert set(get_args(EstimatorName)) == set(FAMILIES)


def spec_file(tmp_path, task: str = "classification", **model) -> str:
    data = yaml.safe_load(DEMO_SPEC.read_text())
    data["model"] = {"seed": 13, **model}
    if task == "regression":  # the demo's aggregates are rates of its yes/no target
        data = without_aggregates(data) | {"task": "regression", "target": {"column": "arr_delay", "missing": "drop"},
                 "gate": {"primary_metric": "rmse", "thresholds": {"rmse": {"max": 60}}}}
    path = tmp_path / "flights_delay.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(("model", "task", "says"), [
    ({"estimator": "gradient_boosting"}, "classification",
     "model.estimator: must be 'hist_gradient_boosting', 'random_forest', 'extra_trees', 'logistic_regression', "
     "'ridge', 'elastic_net', 'xgboost' or 'lightgbm', got 'gradient_boosting'"),
    ({"estimator": "random_forest", "params": {"n_estimator": 50}}, "classification",
     "model.params.n_estimator: RandomForestClassifier takes no parameter 'n_estimator' (given 50); its "
     "parameters: bootstrap, ccp_alpha, class_weight, criterion"),
    ({"estimator": "ridge"}, "classification",
     "model.estimator: 'ridge' is for regression only; for classification, use one of: extra_trees, "
     "hist_gradient_boosting, lightgbm, logistic_regression, random_forest, xgboost"),
    ({"estimator": "logistic_regression"}, "regression",
     "model.estimator: 'logistic_regression' is for classification only; for regression, use one of: "
     "elastic_net, extra_trees, hist_gradient_boosting, lightgbm, random_forest, ridge, xgboost"),
    ({"estimator": "lightgbm", "params": {"num_leaf": 7}}, "classification",
     "model.params.num_leaf: LGBMClassifier takes no parameter 'num_leaf' (given 7); its parameters: "
     "boosting_type, class_weight, colsample_bytree"),
    ({"estimator": "extra_trees", "params": {"random_state": 1}}, "classification",
     "model.params.random_state: set by Nightshift from `model.seed`; remove it from params"),
], ids=["unknown family", "unknown parameter", "family without the task", "family without the task 2",
        "a lightgbm parameter", "a parameter Nightshift sets"])
def test_a_model_the_families_cannot_build_fails_at_load_naming_the_key(tmp_path, model, task, says):
    with pytest.raises(SpecError) as error:
        load_spec(spec_file(tmp_path, task, **model))
    assert says in str(error.value), str(error.value)
    assert str(spec_file(tmp_path, task, **model)) in str(error.value)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with validated_world(tmp_path_factory, "families", DAYS) as run:
        yield run


def family_spec(tmp_path, family: str, task: str = "classification"):
    """The demo spec (or its regression twin) with this family on two weeks; the gate's floor lowered to what
    a quick model of any family reaches on them, since what is tested is the way through, not the skill."""
    spec = load_spec(spec_file(tmp_path, task, estimator=family, params=QUICK[family]))
    gate = {"thresholds": {"roc_auc": {"min": 0.55}}, "slices": None} if task == "classification" else {}
    return spec.model_validate({**spec.model_dump(), "name": f"{task}_{family}",
                                "gate": {**spec.gate.model_dump(), **gate},
                                "windows": {**spec.windows.model_dump(), "train_days": 14}})


DISTRIBUTIONS = {"sklearn": "scikit-learn", "xgboost": "xgboost-cpu", "lightgbm": "lightgbm"}


def loaded_module(pipeline) -> str:
    """The top-level package of the pipeline's estimator."""
    return type(pipeline.named_steps["model"]).__module__.split(".")[0]


def class_name(family: str, task: str) -> str:
    return FAMILIES[family].estimator(task).path.split(":")[1]


@pytest.mark.parametrize("family", [name for name, task in PAIRS if task == "classification"])
def test_each_classification_family_is_trained_judged_promoted_and_loads_back(world, family, tmp_path):
    spec = family_spec(tmp_path, family)
    done = steps.retrain(steps.Run(spec, world.lake, world.settings), DAYS[-1], infra_check=False)
    assert done.promotion.promoted, done.report.table()
    assert world.registry.alias_version(spec.name, CHAMPION) == done.trained.version
    holdout = window_features(spec, world.lake, done.trained.window.holdout)
    loaded = world.registry.load_model(spec.name, done.trained.version)  # skops: only the trusted types
    assert type(loaded.named_steps["model"]).__name__ == class_name(family, "classification")
    assert loaded.predict_proba(holdout.X).shape == (holdout.rows, 2)
    with world.registry.verified_artifact(spec.name, done.trained.version) as folder:
        pins = (folder / "requirements.txt").read_text().split()
    assert any(pin.startswith(f"{DISTRIBUTIONS[loaded_module(loaded)]}==") for pin in pins), pins


@pytest.mark.parametrize("family", [name for name, task in PAIRS if task == "regression"])
def test_each_regression_family_is_trained_registered_and_loads_back(world, family, tmp_path):
    spec = family_spec(tmp_path, family, "regression")
    window = train.plan_window(spec, world.lake, DAYS[-1])
    trained = train.train_challenger(spec, world.lake, world.registry, window)
    holdout = window_features(spec, world.lake, window.holdout)
    loaded = world.registry.load_model(spec.name, trained.version)
    assert type(loaded.named_steps["model"]).__name__ == class_name(family, "regression")
    predictions = loaded.predict(holdout.X)
    assert len(predictions) == holdout.rows and predictions.std() > 0
