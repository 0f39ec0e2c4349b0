"""Validated window -> scikit-learn Pipeline -> MLflow run and registered version (alias challenger)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nightshift import __version__
from nightshift.data.lake import Lake
from nightshift.data.leakage import refuse_leaking_inputs
from nightshift.failures import DataError, ModelError
from nightshift.model.aggregates import describe_gaps
from nightshift.model.families import FAMILIES
from nightshift.model.features import FeatureFrame
from nightshift.model.inputs import class_codes, learned_classes, window_features
from nightshift.model.registry import CHALLENGER, CHAMPION, Registry, TrainedModel
from nightshift.settings import CHECKOUT
from nightshift.spec import ModelSpec, SpecError, spec_path

log = logging.getLogger(__name__)
# MLflow stores sklearn models with skops, which loads only reviewed types: the ones every pipeline needs
# beyond skops' defaults, and each family's own (nightshift.model.families). We wrote the files ourselves.
SKOPS_TRUSTED_TYPES = ["functools.partial", "sklearn.utils.validation.check_array"]
# What loading a model needs, pinned to the versions that trained it. Given, not inferred: MLflow infers
# them by loading the model in a subprocess (seconds per retrain) and lists whatever else that process
# had imported (pytest, rich).
SERVING_PACKAGES = ("mlflow", "scikit-learn", "skops", "scipy", "numpy", "pandas")
SERVING_MODULES = {"mlflow", "sklearn", "skops", "scipy", "numpy", "pandas"}  # what they are imported as


DAY_LISTS = ("train", "holdout", "quarantined", "missing")  # TrainingWindow's fields that list days
# scikit-learn's words for a parameter it refuses (InvalidParameterError): which one, and of what.
REJECTED_PARAMETER = re.compile(r"The '(\w+)' parameter of (\w+) must be")


@dataclass(frozen=True)
class TrainingWindow:
    """Which validated days train the model and which newer days are held out to judge it."""

    as_of: dt.date
    train: list[dt.date]
    holdout: list[dt.date]
    quarantined: list[dt.date]  # days in the training span left out: quarantined...
    missing: list[dt.date]      # ...or never ingested

    def to_xcom(self) -> dict[str, object]:
        return {"as_of": self.as_of.isoformat(),
                **{part: [day.isoformat() for day in getattr(self, part)] for part in DAY_LISTS}}

    @classmethod
    def from_xcom(cls, data: dict) -> TrainingWindow:
        return cls(as_of=dt.date.fromisoformat(data["as_of"]),
                   **{part: [dt.date.fromisoformat(day) for day in data[part]] for part in DAY_LISTS})

    def summary(self) -> str:
        return (f"{len(self.train)} validated days {self.train[0]}..{self.train[-1]}; holdout "
                f"{self.holdout[0]}..{self.holdout[-1]}; left out, quarantined: {_days(self.quarantined)}, "
                f"missing: {_days(self.missing)}")


def _days(days: list[dt.date]) -> str:
    return ",".join(map(str, days)) or "none"


def plan_window(spec: ModelSpec, lake: Lake, as_of: dt.date, train_days: int | None = None) -> TrainingWindow:
    """Holdout = the newest `holdout_days` validated days up to `as_of`; training = the validated days
    in the `train_days` before the holdout (the spec's window unless overridden). Never overlapping."""
    train_days = train_days or spec.windows.train_days
    validated = [day for day in lake.days("validated", spec.source.dataset) if day <= as_of]
    holdout = validated[-spec.windows.holdout_days:]
    if len(holdout) < spec.windows.holdout_days:
        raise DataError(
            f"only {len(validated)} validated days of {spec.source.dataset} up to {as_of}; "
            f"the holdout alone needs {spec.windows.holdout_days}",
            kind="empty_window", hint="Ingest more days first (the ingest DAG's form takes a date range).")
    start = holdout[0] - dt.timedelta(days=train_days)
    train = [day for day in validated if start <= day < holdout[0]]
    if not train:
        raise DataError(f"no validated days of {spec.source.dataset} between {start} and {holdout[0]}",
                        kind="empty_window", hint="Ingest the training window, or widen train_days.")
    coverage = lake.coverage(spec.source.dataset, start, holdout[0] - dt.timedelta(days=1))
    return TrainingWindow(as_of=as_of, train=train, holdout=holdout, quarantined=coverage.quarantined,
                          missing=coverage.missing)


def _fit_error(spec: ModelSpec, spec_file: Path, overrides: dict, rows: int, err: Exception) -> ModelError:
    """A fit that failed. When the estimator rejects a parameter the spec (or the run's `params`) gives,
    the error names where it was set, the key and the value, and says that a retry will not help."""
    rejected = REJECTED_PARAMETER.match(str(err))
    if not rejected or rejected.group(1) not in spec.model.params:
        return ModelError(f"training failed on {rows:,} rows: {err}", kind="training")
    name, estimator = rejected.group(1), rejected.group(2)
    key, value = f"model.params.{name}", spec.model.params[name]
    if name in overrides:
        return ModelError(f"{estimator} rejects {key} given by the run's params: {err}", kind="params",
                          evidence=f"the run's conf: params.{name} = {value!r} (over {spec_file})",
                          hint="Trigger the retrain again with another value; a retry will not help.")
    return ModelError(f"{estimator} rejects {key} of the spec: {err}", kind="params",
                      evidence=f"spec {spec_file}: {key} = {value!r}",
                      hint=f"Fix {key} in {spec_file}; a retry will not help: the same spec fails the same way.")


def build_pipeline(spec: ModelSpec):
    """The family's preprocessing (see nightshift.model.families), then its estimator, seeded by the spec;
    or what the spec's custom function returns."""
    from sklearn.pipeline import Pipeline

    if spec.model.custom:
        return _custom_pipeline(spec)
    family = FAMILIES[spec.model.estimator]
    params = dict(spec.model.params)
    if family.preprocessing == "native":
        params["categorical_features"] = spec.features.categorical or None
    estimator = family.estimator(spec.task).new(spec.model.seed, **params)
    return Pipeline([("encode", _preprocessing(family.preprocessing, spec)), ("model", estimator)])


def _custom_pipeline(spec: ModelSpec):
    """`model.custom`'s function called with the spec; a SpecError, before any fit, when it cannot be
    imported or returns no estimator for the task."""
    import importlib

    module, name = spec.model.custom.split(":")
    try:
        function = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise SpecError(f"model.custom: cannot import {spec.model.custom!r}: {err}",
                        hint="The module must be importable where the tasks run (include/ or an installed "
                             "package).") from err
    built = function(spec)
    needed = ["fit", "predict", *(["predict_proba"] if spec.task != "regression" else [])]
    if missing := [method for method in needed if not callable(getattr(built, method, None))]:
        raise SpecError(f"model.custom: {spec.model.custom} returned {type(built).__name__} {built!r:.80}, "
                        f"which has no {', '.join(missing)}: return an unfitted scikit-learn estimator or Pipeline "
                        f"for {spec.task}")
    return built


def _preprocessing(kind: str, spec: ModelSpec):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    categorical, numeric = spec.features.categorical, [c for c in spec.features.columns
                                                       if c not in spec.features.categorical]
    if kind == "linear":
        parts = [("categorical", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                               OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                  categorical),
                 ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)]
    else:  # trees: unknown categories are missing values to HistGradientBoosting, -1 to the forests
        unknown = np.nan if kind == "native" else -1
        parts = [("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=unknown,
                                                encoded_missing_value=unknown), categorical)]
    return ColumnTransformer([part for part in parts if part[2]], remainder="passthrough",
                             verbose_feature_names_out=False).set_output(transform="pandas")


def partition_checksums(lake: Lake, spec: ModelSpec, window: TrainingWindow) -> dict[str, str]:
    """Checksum of every validated partition the model saw or was judged on, by ISO day."""
    return {day.isoformat(): lake.manifest("validated", spec.source.dataset, day)["checksum"]
            for day in [*window.train, *window.holdout]}


def lineage() -> dict[str, str]:
    """What code and libraries made a model: enough to rebuild the environment that trained it."""
    import importlib.metadata
    import subprocess

    lock = CHECKOUT / "requirements.txt"
    try:
        # A fixed argument list, no shell; git from PATH as a developer runs it.
        command = ["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"]
        git = subprocess.run(command, capture_output=True, text=True, check=False)  # nosec B603 B607
        git_sha = git.stdout.strip() if git.returncode == 0 else "unknown"
    except FileNotFoundError:  # no git installed (a container image)
        git_sha = "unknown"
    return {
        "code_version": __version__,
        "git_sha": git_sha,
        "lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest() if lock.exists() else "unknown",
        **{f"lib.{name}": importlib.metadata.version(name)
           for name in ("scikit-learn", "pandas", "numpy", "mlflow", "great-expectations")},
    }


def trusted_types(spec: ModelSpec, pipeline) -> list[str]:
    """The types skops must be told to trust to load the fitted `pipeline`. Each must be one a family
    needs or come from a module the spec trusts (model.custom's own, model.trusted_modules); anything
    else is a ModelError listing them, before the model is stored."""
    import skops.io

    found = skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))
    allowed = {*SKOPS_TRUSTED_TYPES, *(kind for family in FAMILIES.values() for kind in family.trusted_types)}
    modules = [*spec.model.trusted_modules, *([spec.model.custom.split(":")[0]] if spec.model.custom else [])]
    if refused := [kind for kind in found if kind not in allowed
                   and not any(kind.startswith(f"{module}.") for module in modules)]:
        suggestion = sorted({kind.rsplit(".", 1)[0] for kind in refused})
        raise ModelError(f"the fitted pipeline holds types that load only when trusted: {refused}",
                         kind="untrusted_types",
                         hint=f"If you wrote or reviewed them, trust their modules in the spec: "
                              f"model.trusted_modules: {suggestion}")
    return sorted(found)


def serving_requirements(types: list[str]) -> list[str]:
    """SERVING_PACKAGES, and the installed distribution of every other package the stored `types` come
    from (XGBoost's, LightGBM's, a custom pipeline's), each pinned to the version that trained it."""
    import importlib.metadata
    import sys

    modules = {kind.split(".")[0] for kind in types} - set(sys.stdlib_module_names) - SERVING_MODULES
    by_module = importlib.metadata.packages_distributions() if modules else {}  # 0.4 s: every installed package
    needed = {*SERVING_PACKAGES, *(name for module in modules for name in by_module.get(module, []))}
    return sorted(f"{name}=={importlib.metadata.version(name)}" for name in needed)


@dataclass(frozen=True)
class TrainResult:
    version: str
    run_id: str
    train_rows: int
    window: TrainingWindow

    def to_xcom(self) -> dict:
        return {"version": self.version, "run_id": self.run_id, "train_rows": self.train_rows,
                "window": self.window.to_xcom()}

    @classmethod
    def from_xcom(cls, data: dict) -> TrainResult:
        return cls(data["version"], data["run_id"], data["train_rows"], TrainingWindow.from_xcom(data["window"]))


def train_challenger(spec: ModelSpec, lake: Lake, registry: Registry, window: TrainingWindow, *,
                     tune: bool = False, params: dict | None = None) -> TrainResult:
    """Fit on the window's training days, log the run to MLflow, register a version as `challenger`.
    What is fitted: when `tune` asks or `schedule.tune` says a search is due, the winner of the spec's
    candidates and search on the training days' validation split; otherwise the last winner recorded for
    this model section, else the spec's model. `params` replace some of the spec's `model.params`."""
    from nightshift.model import tuning

    spec = spec.with_params(params)
    spec_hash = spec.spec_hash  # of the spec as the retrain read it, before classes and a tuned model
    task_limit = dt.timedelta(minutes=spec.schedule.task_timeout_minutes)
    for run_id in registry.end_abandoned_runs(spec.name, older_than=task_limit):
        log.warning("marked MLflow run %s KILLED: it was left RUNNING by a task that died", run_id)
    data = window_features(spec, lake, window.train, materialise=True)
    refuse_leaking_inputs(spec, data.X, data.y, f"training window {window.train[0]}..{window.train[-1]}")
    if data.y.nunique() < 2 and spec.task == "classification":
        raise DataError(f"training window {window.train[0]}..{window.train[-1]} has one class only",
                        kind="empty_window")
    if spec.task == "multiclass":  # the classes this version learns are part of the spec it is trained with
        spec = spec.model_copy(update={"target": spec.target.model_copy(update={
            "classes": learned_classes(spec, data.y)})})
    data = fit_rows(spec, data)
    recorded = registry.model_tags(spec.name) if spec.model.tuned else {}
    due = tune or tuning.tuning_due(spec, tuning.last_tuned(spec, recorded), dt.datetime.now(dt.UTC))
    tuned = tuning.tune(spec, lake, window.train) if spec.model.tuned and due else None
    config = tuned.best if tuned else tuning.recorded_config(spec, recorded)
    fitted = config.on(spec)
    pipeline = build_pipeline(fitted)
    try:
        pipeline.fit(data.X, data.y)
    except (ValueError, TypeError) as err:
        raise _fit_error(spec, spec_path(registry.settings.models_dir, spec.name), params or {}, data.rows,
                         err) from err
    result = register_challenger(fitted, lake, registry, window, pipeline, data, spec_hash=spec_hash)
    if tuned:
        higher_is_better = spec.metric_directions[tuned.metric]
        registry.record_tuning(spec.name, result.version, tuned.metric,
                               [trial.row() for trial in tuned.leaderboard(higher_is_better)],
                               tuned.table(higher_is_better), tuned.record(spec))
    elif config != tuning.own_config(spec):
        registry.tag_version(spec.name, result.version, {"tuning": f"the winner of {recorded['tuned.at']}'s search"})
    return result


def repeats_champion(spec: ModelSpec, lake: Lake, registry: Registry, window: TrainingWindow) -> str | None:
    """Why training on this window would repeat the champion's training: the same spec file read, the same
    locked libraries, the same partitions by checksum (training and holdout days alike). None when
    anything changed."""
    champion = registry.alias_version(spec.name, CHAMPION)
    if champion is None:
        return None
    tags = registry.version_tags(spec.name, champion)
    if (tags.get("spec_hash"), tags.get("lock_sha256")) != (spec.spec_hash, lineage()["lock_sha256"]):
        return None
    if registry.training_window(spec.name, champion).get("partitions") != partition_checksums(lake, spec, window):
        return None
    return (f"champion v{champion} was trained with this spec and these locked libraries on these same "
            f"{len(window.train)} training and {len(window.holdout)} holdout partitions (equal checksums)")


def fit_rows(spec: ModelSpec, data: FeatureFrame) -> FeatureFrame:
    """The rows a model fits. Multiclass: labelled by their codes over the classes the spec's version
    learns; rows of other labels are left out and counted."""
    if spec.task != "multiclass":
        return data
    codes = class_codes(data.y, spec.target.classes)
    kept = codes >= 0
    if left_out := int((~kept).sum()):
        log.info("left out %s rows of labels not learned (rarer than %s rows, or not declared): %s", f"{left_out:,}",
                 spec.target.min_class_rows, data.y[~kept].value_counts().head(10).to_dict())
    return dataclasses.replace(data, X=data.X[kept].reset_index(drop=True), y=pd.Series(codes[kept]),
                               dropped_unknown_target=data.dropped_unknown_target + left_out)


def register_challenger(spec: ModelSpec, lake: Lake, registry: Registry, window: TrainingWindow, pipeline,
                        data: FeatureFrame, *, spec_hash: str) -> TrainResult:
    """Log a fitted pipeline with its lineage to a new MLflow run, register it (version and tags in one
    write) and name it `challenger`. `spec` is what was fitted; `spec_hash` that of the spec file read."""
    types = trusted_types(spec, pipeline)
    logged = registry.log_trained_model(spec, TrainedModel(
        pipeline=pipeline, sample=data.X.head(200), run_name=f"retrain as of {window.as_of}",
        params={**spec.model.params, "estimator": spec.model.builder, "seed": spec.model.seed,
                "train_days": len(window.train), "holdout_days": len(window.holdout), "spec_hash": spec_hash},
        metrics={"train_rows": data.rows, "dropped_unknown_target": data.dropped_unknown_target},
        window={**window.to_xcom(), "partitions": partition_checksums(lake, spec, window)},
        trusted_types=types, requirements=serving_requirements(types),
    ))
    version = registry.register_version(spec.name, logged.model_uri, {
        **lineage(),
        "train_window": f"{window.train[0]}..{window.train[-1]}",
        "train_days": len(window.train),
        "train_rows": data.rows,
        "holdout_window": f"{window.holdout[0]}..{window.holdout[-1]}",
        "quarantined_days": _days(window.quarantined),
        "missing_days": _days(window.missing),
        **({"aggregates_history_left_out": describe_gaps(data.history_left_out)} if spec.features.aggregates else {}),
        "spec_hash": spec_hash,
        "estimator": spec.model.builder,
        **({"classes": ",".join(spec.target.classes)} if spec.task == "multiclass" else {}),
        "params": " ".join(f"{key}={value}" for key, value in sorted(spec.model.params.items())) or "defaults",
    })
    registry.name_challenger(spec.name, version)
    log.info("registered %s version %s as %s (%s rows, %s..%s)", spec.name, version, CHALLENGER,
             f"{data.rows:,}", window.train[0], window.train[-1])
    return TrainResult(version=version, run_id=logged.run_id, train_rows=data.rows, window=window)
