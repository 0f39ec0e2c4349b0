"""Planning the training window (validated days before a holdout of the newest ones, never
overlapping) and training a challenger on it: a registered version named `challenger`, with its lineage,
its data window and its partitions' checksums. A small synthetic lake; MLflow on SQLite in a module home."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from nightshift.data.lake import Lake
from nightshift.failures import ConfigError, DataError, ModelError
from nightshift.model import train
from nightshift.model.registry import CHALLENGER, Registry
from nightshift.model.train import TrainingWindow, TrainResult
from nightshift.spec import ModelSpec, SpecError, load_spec
from tests.conftest import DEMO_SPEC, module_home
from tests.nightshift.data.test_validate import flights_day

JAN = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(10)]
VALIDATED = [JAN[0], JAN[1], JAN[4], JAN[5], JAN[6], JAN[7]]  # 3 Jan quarantined, 4 Jan never ingested


def small(spec: ModelSpec, **windows) -> ModelSpec:
    """The demo spec with a short window and a quick model."""
    return spec.model_copy(update={
        "windows": spec.windows.model_copy(update={"train_days": 6, "holdout_days": 2, **windows}),
        "model": spec.model.model_copy(update={"params": {**spec.model.params, "max_iter": 20}})})


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[tuple[ModelSpec, Lake, Registry]]:
    with module_home(tmp_path_factory, "train") as settings:
        lake = Lake.from_uri(settings.lake_uri)
        for day in VALIDATED:
            lake.write_partition("validated", "flights", day, flights_day(day, rows=300))
        lake.write_partition("quarantine", "flights", JAN[2], flights_day(JAN[2], rows=300))
        yield small(load_spec(DEMO_SPEC)), lake, Registry.from_env()


@pytest.fixture(scope="module")
def trained(world) -> TrainResult:
    spec, lake, registry = world
    return train.train_challenger(spec, lake, registry, train.plan_window(spec, lake, JAN[7]))


def test_training_window_never_overlaps_the_holdout(world):
    spec, lake, _ = world
    window = train.plan_window(spec, lake, JAN[7])
    assert window.holdout == [JAN[6], JAN[7]]
    assert window.train == [JAN[0], JAN[1], JAN[4], JAN[5]]
    assert (window.quarantined, window.missing) == ([JAN[2]], [JAN[3]])


def test_the_window_ends_at_as_of_and_a_shorter_train_days_overrides_the_spec(world):
    spec, lake, _ = world
    window = train.plan_window(spec, lake, JAN[6], train_days=2)
    assert window.holdout == [JAN[5], JAN[6]]
    assert window.train == [JAN[4]] and window.missing == [JAN[3]]


def test_too_few_validated_days_for_the_holdout_says_how_many_there_are(world):
    spec, lake, _ = world
    with pytest.raises(DataError, match=r"only 1 validated days of flights up to 2013-01-01; the holdout alone "
                                        r"needs 2") as error:
        train.plan_window(spec, lake, JAN[0])
    assert error.value.kind == "empty_window" and "ingest DAG" in error.value.hint


def test_a_holdout_with_no_validated_days_before_it_names_the_span(world):
    spec, lake, _ = world
    with pytest.raises(DataError, match="no validated days of flights between 2013-01-03 and 2013-01-05"):
        train.plan_window(spec, lake, JAN[5], train_days=2)


def test_a_training_window_crosses_xcom_with_its_days_intact():
    window = TrainingWindow(as_of=JAN[9], train=JAN[:7], holdout=JAN[7:], quarantined=[JAN[2]], missing=[])
    assert TrainingWindow.from_xcom(window.to_xcom()) == window
    assert window.to_xcom()["holdout"] == ["2013-01-08", "2013-01-09", "2013-01-10"]
    assert window.summary() == ("7 validated days 2013-01-01..2013-01-07; holdout 2013-01-08..2013-01-10; "
                                "left out, quarantined: 2013-01-03, missing: none")


def test_a_train_result_crosses_xcom_intact():
    window = TrainingWindow(as_of=JAN[9], train=JAN[:7], holdout=JAN[7:], quarantined=[], missing=[JAN[1]])
    result = TrainResult(version="3", run_id="abc", train_rows=1200, window=window)
    assert TrainResult.from_xcom(result.to_xcom()) == result


def test_the_challenger_is_registered_and_named(world, trained):
    spec, _, registry = world
    assert trained.version == "1" and trained.window.train == [JAN[0], JAN[1], JAN[4], JAN[5]]
    assert registry.alias_version(spec.name, CHALLENGER) == trained.version
    assert registry.run_id(spec.name, trained.version) == trained.run_id
    assert 0 < trained.train_rows <= 4 * 300


def test_version_lineage_is_recorded(world, trained):
    spec, _, registry = world
    tags = registry.version_tags(spec.name, trained.version)
    assert len(tags["model_sha256"]) == 64 and float(tags["model_size_mb"]) > 0
    assert len(tags["lock_sha256"]) == 64 and tags["lib.scikit-learn"] and tags["spec_hash"] == spec.spec_hash
    assert tags["estimator"] == "hist_gradient_boosting"
    assert tags["params"] == "learning_rate=0.1 max_iter=20 max_leaf_nodes=31"
    assert (tags["train_window"], tags["holdout_window"]) == ("2013-01-01..2013-01-06", "2013-01-07..2013-01-08")
    assert (tags["quarantined_days"], tags["missing_days"]) == ("2013-01-03", "2013-01-04")
    # the rolling aggregates' history had the same gaps (before the source's start there is none to miss)
    assert tags["aggregates_history_left_out"] == "2013-01-03 (quarantined), 2013-01-04 (missing)"
    window = registry.training_window(spec.name, trained.version)
    assert set(window["partitions"]) == {*window["train"], *window["holdout"]}
    assert all(checksum.startswith("sha256:") for checksum in window["partitions"].values())


def test_the_registered_model_predicts_the_windows_features(world, trained):
    from nightshift.model.inputs import window_features

    spec, lake, registry = world
    holdout = window_features(spec, lake, trained.window.holdout)
    assert set(registry.load_model(spec.name, trained.version).predict(holdout.X)) <= {0, 1}


def test_a_window_with_one_class_only_is_refused_before_fitting(world, tmp_path):
    spec, _, registry = world
    lake = Lake.from_uri((tmp_path / "lake").as_uri())
    for day in JAN[:4]:
        lake.write_partition("validated", "flights", day, flights_day(day, rows=100).assign(arr_delay=-10.0))
    window = train.plan_window(spec, lake, JAN[3])
    with pytest.raises(DataError, match=r"training window 2013-01-01\.\.2013-01-02 has one class only"):
        train.train_challenger(spec, lake, registry, window)


def test_the_pipeline_is_seeded_by_the_spec_and_encodes_its_categoricals(spec):
    pipeline = train.build_pipeline(spec)
    model = pipeline.named_steps["model"]
    assert type(model).__name__ == "HistGradientBoostingClassifier" and model.random_state == spec.model.seed
    assert model.categorical_features == spec.features.categorical
    regression = spec.model_copy(update={"task": "regression"})
    assert type(train.build_pipeline(regression).named_steps["model"]).__name__ == "HistGradientBoostingRegressor"


# -- custom pipelines (model.custom) ------------------------------------------------------------------

def custom(spec: ModelSpec, function: str, **model) -> ModelSpec:
    """The spec with `model.custom` naming a function of tests/nightshift/custom_pipelines.py, validated."""
    config = {"custom": f"tests.nightshift.custom_pipelines:{function}", "seed": spec.model.seed, **model}
    return ModelSpec.model_validate({**spec.model_dump(), "name": f"custom_{function}", "model": config})


def test_a_custom_pipeline_is_trained_registered_and_loads_in_a_fresh_process(world):
    from nightshift.model.inputs import window_features
    from nightshift.model.load_check import check_in_fresh_process

    spec, lake, registry = world
    spec = custom(spec, "scaled_logistic", params={"C": 0.5})
    trained = train.train_challenger(spec, lake, registry, train.plan_window(spec, lake, JAN[7]))
    model = registry.load_model(spec.name, trained.version)
    assert type(model.steps[-1][1]).__name__ == "LogisticRegression" and model.steps[-1][1].C == 0.5
    tags = registry.version_tags(spec.name, trained.version)
    assert tags["estimator"] == "tests.nightshift.custom_pipelines:scaled_logistic"  # not the default family
    assert tags["params"] == "C=0.5"
    holdout = window_features(spec, lake, trained.window.holdout)
    assert check_in_fresh_process(spec.name, trained.version, holdout.X.head(50)) == ""


def test_a_type_from_a_module_the_spec_does_not_trust_is_refused_before_the_model_is_stored(world):
    spec, lake, registry = world
    foreign = custom(spec, "with_a_foreign_step")
    window = train.plan_window(foreign, lake, JAN[7])
    with pytest.raises(ModelError) as error:
        train.train_challenger(foreign, lake, registry, window)
    assert "['tests.nightshift.slow_step.slow_identity']" in str(error.value)
    assert error.value.hint.endswith("model.trusted_modules: ['tests.nightshift.slow_step']")
    assert registry.versions(foreign.name) == []

    trusted = custom(spec, "with_a_foreign_step", trusted_modules=["tests.nightshift.slow_step"])
    assert train.train_challenger(trusted, lake, registry, window).version == "1"


@pytest.mark.parametrize(("function", "says"), [
    ("no_such_function", "model.custom: cannot import 'tests.nightshift.custom_pipelines:no_such_function': module "
                         "'tests.nightshift.custom_pipelines' has no attribute 'no_such_function'"),
    ("not_an_estimator", "model.custom: tests.nightshift.custom_pipelines:not_an_estimator returned ndarray "
                         "array([0., 0., 0.]), which has no fit, predict, predict_proba"),
])
def test_a_custom_function_that_gives_no_estimator_fails_before_any_fit(world, function, says):
    spec, lake, registry = world
    spec = custom(spec, function)
    with pytest.raises(SpecError) as error:
        train.train_challenger(spec, lake, registry, train.plan_window(spec, lake, JAN[7]))
    assert str(error.value).startswith(says), str(error.value)


def test_a_model_is_a_family_or_a_custom_function_not_both(spec):
    data = {**spec.model_dump(), "model": {"estimator": "random_forest", "custom": "teams.models:build"}}
    with pytest.raises(ValidationError, match=r"give estimator \(a family\) or custom \(your function\), not both"):
        ModelSpec.model_validate(data)


def test_serving_requirements_pin_the_packages_the_stored_types_come_from():
    def pinned(types: list[str]) -> dict[str, str]:
        return dict(pin.split("==") for pin in train.serving_requirements(types))

    base = pinned([])
    assert set(base) == set(train.SERVING_PACKAGES)
    assert pinned(["functools.partial", "sklearn.tree._tree.Tree", "tests.nightshift.custom_pipelines.Step"]) == base
    with_boosters = pinned(["xgboost.core.Booster", "lightgbm.basic.Booster"])
    assert with_boosters == {**base, "xgboost-cpu": importlib.metadata.version("xgboost-cpu"),
                             "lightgbm": importlib.metadata.version("lightgbm")}


def test_an_aggregate_that_reads_the_rows_own_outcome_is_refused_before_any_fit(world, tmp_path):
    """The spec refuses aggregates of the outcomes it is told of; the data-level check catches the others: here
    an upstream copy of the arrival delay the spec does not list, averaged over each flight on its own day."""
    spec, _, registry = world
    lake = Lake.from_uri((tmp_path / "lake").as_uri())
    for day in VALIDATED:
        frame = flights_day(day, rows=300)
        lake.write_partition("validated", "flights", day, frame.assign(delay_copy=frame["arr_delay"]))
    data = spec.model_dump()
    data["features"]["aggregates"]["own_delay"] = {"by": ["carrier", "flight", "sched_dep_time"], "agg": "mean",
                                                   "column": "delay_copy", "window_days": 1, "lag_days": 0}
    data["features"]["numeric"].append("own_delay")
    leaking = ModelSpec.model_validate(data)
    versions = len(registry.versions(spec.name))
    with pytest.raises(DataError, match=r"model inputs that alone predict the target 'arr_delay'.*own_delay "
                                        r"\(ROC AUC (0\.9[89]\d|1\.000)\)") as error:
        train.train_challenger(leaking, lake, registry, train.plan_window(leaking, lake, JAN[7]))
    assert error.value.kind == "leak"
    assert len(registry.versions(spec.name)) == versions  # nothing was trained or registered


def test_a_parameter_the_estimator_rejects_names_the_spec_file_key_and_value(world):
    spec, lake, registry = world
    broken = spec.model_copy(update={"model": spec.model.model_copy(update={
        "params": {**spec.model.params, "learning_rate": -1.0}})})
    with pytest.raises(ModelError, match=r"^HistGradientBoostingClassifier rejects model\.params\.learning_rate of "
                                         r"the spec: The 'learning_rate' parameter") as error:
        train.train_challenger(broken, lake, registry, train.plan_window(broken, lake, JAN[7]))
    assert error.value.kind == "params"
    spec_file = registry.settings.models_dir / "flights_delay.yaml"
    assert error.value.evidence == f"spec {spec_file}: model.params.learning_rate = -1.0"
    assert "a retry will not help" in error.value.hint


def test_a_runs_params_replace_the_specs_and_the_version_records_what_was_fitted(world):
    spec, lake, registry = world
    result = train.train_challenger(spec, lake, registry, train.plan_window(spec, lake, JAN[7]),
                                    params={"max_iter": 5})
    tags = registry.version_tags(spec.name, result.version)
    assert tags["params"] == "learning_rate=0.1 max_iter=5 max_leaf_nodes=31"
    # Its spec is not the file's: a later retrain with the file's params is not skipped as a repeat.
    assert tags["spec_hash"] == spec.with_params({"max_iter": 5}).spec_hash != spec.spec_hash


def test_a_runs_param_the_estimator_rejects_is_named_as_the_runs_not_the_spec_files(world):
    spec, lake, registry = world
    with pytest.raises(ModelError, match=r"rejects model\.params\.learning_rate given by the run's params") as error:
        train.train_challenger(spec, lake, registry, train.plan_window(spec, lake, JAN[7]),
                               params={"learning_rate": -1.0})
    spec_file = registry.settings.models_dir / "flights_delay.yaml"
    assert error.value.evidence == f"the run's conf: params.learning_rate = -1.0 (over {spec_file})"


@pytest.mark.parametrize(("params", "says"), [
    ({"max_iter": [1]}, "model.params.max_iter.int: must be a valid integer, got [1]"),
    ({"max_iters": 5}, "model.params.max_iters: HistGradientBoostingClassifier takes no parameter 'max_iters'"),
])
def test_a_runs_params_that_do_not_fit_the_model_fail_before_any_fit_naming_the_key(spec, params, says):
    with pytest.raises(ConfigError, match=r"the run's params .* do not fit flights_delay's model") as error:
        spec.with_params(params)
    assert says in str(error.value) and error.value.kind == "params"
