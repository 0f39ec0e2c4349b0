"""families: every estimator family on the flights at 1M rows (its holdout metrics and fit time), and
what a search gains over the spec's own configuration and what it costs.

One bench home (1M rows over the 49-day window: 42 training days, 7 holdout days) is ingested and
validated once. Each family is the bench model's spec with only `model` changed (family and the
starting parameters below), built as a retrain builds it (`build_pipeline`: the family's preprocessing
and estimator), fitted on the training days' features and judged on the holdout with the gate's
metrics. Two tasks: the demo's "more than 15 minutes late" (classification) and arrival_delay's minutes
late (regression), so that ridge and elastic net, regression only, are measured too.

Tuned against untuned: LightGBM on the classification task, its parameters below against the winner of
`tuning.tune` (the spec's configuration, then a seeded search, judged on the training window's newest
7 days), refit on the whole training window and judged on the same holdout. The search's cost is its
wall-clock time, every trial's fit included.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from common import (
    HOLDOUT_DAYS,
    MODEL,
    ROOT,
    TRAIN_DAYS,
    BenchHome,
    Outcome,
    bench_home,
    environment,
    figure,
    write_landing,
)

ROWS, SMOKE_ROWS = 1_000_000, 5_000
SMOKE_TRAIN_DAYS = 14
ARRIVAL_SPEC = ROOT / "include" / "models" / "arrival_delay.yaml"
FORESTS = {"n_estimators": 100, "min_samples_leaf": 20, "n_jobs": -1}  # every core, as the boosters use
STARTING_PARAMS = {
    "hist_gradient_boosting": {"max_iter": 200, "learning_rate": 0.1, "max_leaf_nodes": 31},
    "random_forest": FORESTS,
    "extra_trees": FORESTS,
    "logistic_regression": {"max_iter": 1000},
    "ridge": {"alpha": 1.0},
    "elastic_net": {"alpha": 0.01, "l1_ratio": 0.5},
    "xgboost": {"n_estimators": 200, "learning_rate": 0.1, "max_depth": 6},
    "lightgbm": {"n_estimators": 200, "learning_rate": 0.1, "num_leaves": 31},
}
TASK_FAMILIES = {
    "classification": ("hist_gradient_boosting", "random_forest", "extra_trees", "logistic_regression", "xgboost",
                       "lightgbm"),
    "regression": ("hist_gradient_boosting", "random_forest", "extra_trees", "ridge", "elastic_net", "xgboost",
                   "lightgbm"),
}
SEARCH = {"space": {"num_leaves": {"low": 15, "high": 255, "log": True},
                    "learning_rate": {"low": 0.02, "high": 0.3, "log": True},
                    "min_child_samples": {"low": 10, "high": 500, "log": True}},
          "trials": 12, "budget_minutes": 30}
SMOKE_TRIALS = 2
TARGETS = {"classification": "arriving more than 15 minutes late",
           "regression": "minutes late, cancelled flights left out"}


def variant(home: BenchHome, folder: Path, task: str, estimator: str, search: dict | None = None):
    """The bench spec with this task (regression: arrival_delay's target and gate) and this model."""
    from nightshift.spec import load_spec

    data = yaml.safe_load(home.spec_path.read_text())
    if task == "regression":
        arrival = yaml.safe_load(ARRIVAL_SPEC.read_text())
        for aggregate in data["features"].get("aggregates", {}).values():  # the same late rates, said outright
            if aggregate["agg"] == "rate" and "rule" not in aggregate:
                aggregate["rule"] = data["target"]["rule"]
        data.update({key: arrival[key] for key in ("task", "target", "gate", "monitoring")})
    data["model"] = {"estimator": estimator, "params": STARTING_PARAMS[estimator], "seed": 13,
                     **({"search": search} if search else {})}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{MODEL}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_spec(path)


def fit_and_judge(spec, train, holdout) -> dict:
    """Fit the spec's pipeline on the training features; its fit seconds and holdout metrics."""
    from nightshift.model.inputs import predict
    from nightshift.model.metrics import compute_metrics
    from nightshift.model.train import build_pipeline

    pipeline = build_pipeline(spec)
    started = time.perf_counter()
    pipeline.fit(train.X, train.y)
    fit_seconds = time.perf_counter() - started
    return {"fit_s": fit_seconds, **compute_metrics(spec.task, holdout.y, predict(pipeline, spec.task, holdout.X))}


def measure(home: BenchHome, folder: Path, smoke: bool) -> dict:
    from nightshift import steps
    from nightshift.data.lake import Lake
    from nightshift.model import tuning
    from nightshift.model.inputs import window_features
    from nightshift.settings import Settings

    spec, days = home.spec(), home.days
    lake = Lake.from_uri(Settings.from_env().lake_uri)
    steps.ingest_raw(steps.Run(spec, lake), days)
    home.validate(spec, lake, days)
    train_days, holdout_days = days[:-HOLDOUT_DAYS], days[-HOLDOUT_DAYS:]
    figures: dict = {"rows": 0, "days": (len(train_days), len(holdout_days)), "families": {}}
    for task, families in TASK_FAMILIES.items():
        task_spec = variant(home, folder, task, families[0])
        train, holdout = (window_features(task_spec, lake, part) for part in (train_days, holdout_days))
        figures["rows"] = max(figures["rows"], train.rows + holdout.rows)
        for family in families:
            print(f"   {task} {family}", flush=True)
            figures["families"][task, family] = fit_and_judge(variant(home, folder, task, family), train, holdout)
    search = {**SEARCH, "trials": SMOKE_TRIALS} if smoke else SEARCH
    searching = variant(home, folder, "classification", "lightgbm", search)
    print(f"   search: {search['trials']} trials", flush=True)
    started = time.perf_counter()
    found = tuning.tune(searching, lake, train_days)
    search_seconds = time.perf_counter() - started
    train, holdout = (window_features(searching, lake, part) for part in (train_days, holdout_days))
    figures["tuned"] = {**fit_and_judge(found.best.on(searching), train, holdout), "search_s": search_seconds,
                        "trials": len(found.trials), "params": found.best.params}
    return figures


def outcome(figures: dict, plots: Path) -> Outcome:
    families, tuned = figures["families"], figures["tuned"]
    untuned = families["classification", "lightgbm"]
    gain = tuned["roc_auc"] - untuned["roc_auc"]
    sections = []
    for task, (metric, other) in {"classification": ("roc_auc", "log_loss"), "regression": ("mae", "rmse")}.items():
        rows = [f"| {family} | {f[metric]:.4f} | {f[other]:.4f} | {f['fit_s']:.1f} |"
                for (t, family), f in families.items() if t == task]
        sections += [f"**{task}** ({TARGETS[task]})", "", f"| family | {metric} | {other} | fit s |",
                     "|---|--:|--:|--:|", *rows, ""]
    fig = figure(12, 7)
    axes = fig.subplots(2, 2)
    for row, (task, metric) in enumerate((("classification", "roc_auc"), ("regression", "mae"))):
        names = [family for t, family in families if t == task]
        values = [families[task, family][metric] for family in names]
        times = [families[task, family]["fit_s"] for family in names]
        if task == "classification":
            names, values, times = [*names, "lightgbm tuned"], [*values, tuned[metric]], [*times, tuned["search_s"]]
        axes[row][0].barh(names, values, color=["tab:orange" if "tuned" in n else "tab:blue" for n in names])
        axes[row][0].set(xlabel=f"holdout {metric}", xlim=(min(values) * 0.98, max(values) * 1.01),
                         title=f"{task}: holdout {metric} ({'higher' if metric == 'roc_auc' else 'lower'} is better)")
        axes[row][1].barh(names, times, color=["tab:orange" if "tuned" in n else "tab:blue" for n in names])
        axes[row][1].set(xlabel="seconds (tuned: the whole search)", title=f"{task}: fit time")
    fig.suptitle(f"estimator families on {figures['rows']:,} rows of flights ({figures['days'][0]} training days, "
                 f"{figures['days'][1]} holdout days)")
    plot = plots / "families.png"
    fig.savefig(plot, dpi=100)
    best = max((f["roc_auc"], family) for (task, family), f in families.items() if task == "classification")
    return Outcome(
        id="families", what=f"each family at {figures['rows']:,} rows: holdout metric and fit time; a search",
        baseline="the spec's own configuration, untuned", target="–",
        measured=f"best ROC AUC {best[0]:.4f} ({best[1]}); search {gain:+.4f} AUC for {tuned['search_s']:.0f} s",
        met=None,
        detail="\n".join([
            "Each family with the starting parameters in `bench/families.py`, fitted on the same training "
            "features, judged on the same holdout.", "", *sections,
            f"**Tuned against untuned** (LightGBM, classification): {tuned['trials']} trials in "
            f"{tuned['search_s']:.0f} s; the winner {tuned['params']} refit on the training window scores "
            f"ROC AUC {tuned['roc_auc']:.4f} against {untuned['roc_auc']:.4f} untuned ({gain:+.4f}), log loss "
            f"{tuned['log_loss']:.4f} against {untuned['log_loss']:.4f}; its refit took {tuned['fit_s']:.1f} s "
            f"against {untuned['fit_s']:.1f} s."]),
        plots=[plot])


def run(workdir: Path, plots: Path, smoke: bool) -> Outcome:
    rows, train_days = (SMOKE_ROWS, SMOKE_TRAIN_DAYS) if smoke else (ROWS, TRAIN_DAYS)
    home = bench_home(workdir / "home", max(rows // (train_days + HOLDOUT_DAYS), 1), train_days)
    write_landing(home.landing, rows, home.days)
    with environment(home.env):
        return outcome(measure(home, workdir / "variants", smoke), plots)
