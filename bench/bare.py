"""The baseline of `overhead`: the retrain a team writes by hand, as one Python process.

It does the same work as the retrain DAG, without what Nightshift adds around it: it reads the
window's upstream parquet files directly (no lake, manifests or validation records), builds the same
features (the rolling aggregates computed from those files, nothing materialised) and the same
scikit-learn pipeline (Nightshift's functions, so the model work is identical),
scores the holdout, compares with the champion on ROC AUC alone, logs and registers the model in
MLflow and moves the `champion` alias when it is at least as good. No bootstrap, slices, budgets,
lineage, fresh-process load check, checksums or locks.

    python bench/bare.py LANDING_DIR AS_OF MODEL CHAMPION_OF   (MLflow from MLFLOW_TRACKING_URI)
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from nightshift.model.aggregates import history_columns, history_frame, stacked_tables
from nightshift.model.features import aggregate_parts, build_features, read_lookups, source_columns
from nightshift.model.train import build_pipeline, trusted_types
from nightshift.spec import load_spec


def read_window(landing: Path, days: list[dt.date], columns: list[str]) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(landing / f"flights_{day.isoformat()}.parquet", columns=columns)
                      .assign(date=pd.Timestamp(day)) for day in days], ignore_index=True)


def main(landing: Path, as_of: dt.date, model: str, champion_of: str, spec_path: Path) -> None:
    spec = load_spec(spec_path)
    holdout = [as_of - dt.timedelta(days=i) for i in reversed(range(spec.windows.holdout_days))]
    train = [holdout[0] - dt.timedelta(days=i) for i in reversed(range(1, spec.windows.train_days + 1))]
    columns = source_columns(spec, list(pd.read_parquet(landing / f"flights_{as_of}.parquet").columns))
    lookups = read_lookups(spec)
    upstream = [day for day in [*train, *holdout] if (landing / f"flights_{day.isoformat()}.parquet").exists()]
    history = history_frame(spec, read_window(landing, upstream, history_columns(spec)))
    fit_on, judge_on = (build_features(spec, read_window(landing, days, columns), lookups,
                                       aggregate_parts(spec, stacked_tables(spec, history, days)))
                        for days in (train, holdout))
    pipeline = build_pipeline(spec).fit(fit_on.X, fit_on.y)
    scores = pipeline.predict_proba(judge_on.X)[:, 1]
    auc = roc_auc_score(judge_on.y, scores)
    champion = mlflow.sklearn.load_model(f"models:/{champion_of}@champion")
    champion_auc = roc_auc_score(judge_on.y, champion.predict_proba(judge_on.X)[:, 1])
    mlflow.set_experiment(model)  # artifacts under the working directory, as a script's default
    with mlflow.start_run(run_name=f"bare retrain as of {as_of}"):
        mlflow.log_metrics({"roc_auc": auc, "log_loss": log_loss(judge_on.y, np.clip(scores, 1e-15, 1 - 1e-15)),
                            "champion_roc_auc": champion_auc, "train_rows": fit_on.rows})
        info = mlflow.sklearn.log_model(pipeline, name="model", registered_model_name=model,
                                        skops_trusted_types=trusted_types(spec, pipeline))
    if auc >= champion_auc:
        mlflow.MlflowClient().set_registered_model_alias(model, "champion", str(info.registered_model_version))


if __name__ == "__main__":
    landing_dir, day, name, champion_name, spec_file = sys.argv[1:6]
    main(Path(landing_dir), dt.date.fromisoformat(day), name, champion_name, Path(spec_file))
