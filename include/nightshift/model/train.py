"""Validated window -> scikit-learn Pipeline -> MLflow run and registered version (alias challenger)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from nightshift import __version__
from nightshift.data.lake import Lake
from nightshift.failures import DataError, ModelError
from nightshift.model.features import FeatureFrame, build_features, read_lookups, source_columns
from nightshift.model.registry import CHALLENGER, SPEC_ARTIFACT, WINDOW_ARTIFACT, Registry
from nightshift.settings import CHECKOUT
from nightshift.spec import ModelSpec

log = logging.getLogger(__name__)
# MLflow stores sklearn models with skops, which loads only reviewed types. These are the ones a
# HistGradientBoosting pipeline needs beyond skops' defaults; the files are ones we wrote ourselves.
SKOPS_TRUSTED_TYPES = [
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
]
# What loading a model needs, pinned to the versions that trained it. Given, not inferred: MLflow infers
# them by loading the model in a subprocess (seconds per retrain) and lists whatever else that process
# had imported (pytest, rich).
SERVING_PACKAGES = ("mlflow", "scikit-learn", "skops", "scipy", "numpy", "pandas")


@dataclass(frozen=True)
class TrainingWindow:
    """Which validated days train the model and which newer days are held out to judge it."""

    as_of: str
    train: list[str]
    holdout: list[str]
    quarantined: list[str]  # days in the training span left out: quarantined...
    missing: list[str]      # ...or never ingested

    def days(self, part: str) -> list[dt.date]:
        return [dt.date.fromisoformat(day) for day in getattr(self, part)]


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
    return TrainingWindow(
        as_of=as_of.isoformat(),
        train=[d.isoformat() for d in train],
        holdout=[d.isoformat() for d in holdout],
        quarantined=[d.isoformat() for d in coverage.quarantined],
        missing=[d.isoformat() for d in coverage.missing],
    )


def load_features(spec: ModelSpec, lake: Lake, days: list[dt.date]) -> FeatureFrame:
    """Read only the needed columns of these validated days and build model inputs."""
    dataset = spec.source.dataset
    available = lake.manifest("validated", dataset, days[0])["columns"]
    frame = lake.read_days("validated", dataset, days, columns=source_columns(spec, available))
    return build_features(spec, frame, read_lookups(spec))


def build_pipeline(spec: ModelSpec):
    """Encode categoricals, then gradient boosting (missing values handled natively). Seeded by the spec."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    categorical = spec.features.categorical
    encode = ColumnTransformer(
        [("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan), categorical)],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    estimator = HistGradientBoostingClassifier if spec.task == "classification" else HistGradientBoostingRegressor
    model = estimator(categorical_features=categorical or None, random_state=spec.model.seed, **spec.model.params)
    return Pipeline([("encode", encode), ("model", model)])


def partition_checksums(lake: Lake, spec: ModelSpec, window: TrainingWindow) -> dict[str, str]:
    """Checksum of every validated partition the model saw or was judged on, by day."""
    return {day: lake.manifest("validated", spec.source.dataset, dt.date.fromisoformat(day))["checksum"]
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


def serving_requirements() -> list[str]:
    import importlib.metadata

    return [f"{name}=={importlib.metadata.version(name)}" for name in SERVING_PACKAGES]


@dataclass(frozen=True)
class TrainResult:
    version: str
    run_id: str
    train_rows: int
    window: TrainingWindow

    def to_xcom(self) -> dict:
        return asdict(self)


def train_challenger(spec: ModelSpec, lake: Lake, registry: Registry, window: TrainingWindow) -> TrainResult:
    """Fit on the window's training days, log the run to MLflow, register a version as `challenger`."""
    data = load_features(spec, lake, window.days("train"))
    if data.y.nunique() < 2 and spec.task == "classification":
        raise DataError(f"training window {window.train[0]}..{window.train[-1]} has one class only",
                        kind="empty_window")
    pipeline = build_pipeline(spec)
    try:
        pipeline.fit(data.X, data.y)
    except (ValueError, TypeError) as err:
        raise ModelError(f"training failed on {data.rows:,} rows: {err}", kind="training") from err
    return register_challenger(spec, lake, registry, window, pipeline, data)


def register_challenger(spec: ModelSpec, lake: Lake, registry: Registry, window: TrainingWindow, pipeline,
                        data: FeatureFrame) -> TrainResult:
    """Log a fitted pipeline with its lineage to a new MLflow run, register it (version and tags in one
    write) and name it `challenger`."""
    import mlflow
    from mlflow.models import infer_signature

    sample = data.X.head(200)
    with registry.start_run(spec, run_name=f"retrain as of {window.as_of}") as run:
        mlflow.log_params({**spec.model.params, "estimator": spec.model.estimator, "seed": spec.model.seed,
                           "train_days": len(window.train), "holdout_days": len(window.holdout),
                           "spec_hash": spec.spec_hash})
        mlflow.log_metrics({"train_rows": data.rows, "dropped_unknown_target": data.dropped_unknown_target})
        mlflow.log_dict({**asdict(window), "partitions": partition_checksums(lake, spec, window)}, WINDOW_ARTIFACT)
        mlflow.log_dict(spec.model_dump(mode="json"), SPEC_ARTIFACT)
        with warnings.catch_warnings():
            # skops looks up some objects in every loaded module; in a task, each lookup of one of
            # Airflow's moved-module shims warns, which would put hundreds of lines in the task's log.
            warnings.simplefilter("ignore", FutureWarning)
            info = mlflow.sklearn.log_model(
                pipeline, name="model",
                signature=infer_signature(sample, pipeline.predict(sample)), input_example=sample.head(5),
                skops_trusted_types=SKOPS_TRUSTED_TYPES, pip_requirements=serving_requirements(),
            )
    version = registry.register_version(spec.name, info.model_uri, {
        **lineage(),
        "train_window": f"{window.train[0]}..{window.train[-1]}",
        "train_days": len(window.train),
        "train_rows": data.rows,
        "holdout_window": f"{window.holdout[0]}..{window.holdout[-1]}",
        "quarantined_days": ",".join(window.quarantined) or "none",
        "missing_days": ",".join(window.missing) or "none",
        "spec_hash": spec.spec_hash,
    })
    registry.name_challenger(spec.name, version)
    log.info("registered %s version %s as %s (%s rows, %s..%s)", spec.name, version, CHALLENGER,
             f"{data.rows:,}", window.train[0], window.train[-1])
    return TrainResult(version=version, run_id=run.info.run_id, train_rows=data.rows, window=window)
