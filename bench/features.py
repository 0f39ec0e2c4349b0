"""The features step: materialising the demo spec's rolling aggregates, for a full rebuild of the history and
for one new day, and what the aggregates (with the as-of weather) do to the holdout ROC AUC.

Timing. Validated days of resampled flights (bench/common.py) are written straight to a bench lake (the
features step reads validated/ only). In a fresh process each: a full rebuild (`steps.features` over every
day, the features zone empty), then one new day added to the lake and materialised. The baseline is the
rebuild's time per day: a new day's work should not grow with the history, only with the windows it reads.
Peak memory is measured above the process's RSS after set-up, against the size in memory of the validated
frame of the whole history (every column, as pandas holds it; read after the steps, so that its memory
does not hide their peak).

ROC AUC. The real flights of January to April 2013, ingested and validated as the demo does; for five
holdout weeks the demo spec is trained and judged on the same rows three ways: with exact-key weather and no
aggregates (the spec before the aggregates), with the as-of weather alone, and as shipped.

    python bench/features.py [--smoke]   (make bench runs it through bench/run.py)
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import yaml

from common import DEMO_SPEC, FIRST_DAY, Outcome, figure, in_fresh_process, machine, proc_mb, resample_day, reset_peak

SIZES = (300_000, 1_000_000, 3_000_000)
HISTORY_DAYS = 91
AUC_AS_OF = [dt.date(2013, 2, 28), dt.date(2013, 3, 15), dt.date(2013, 3, 31), dt.date(2013, 4, 15),
             dt.date(2013, 4, 30)]


def bench_spec(root: Path) -> Path:
    """The demo spec as `bench_features`, its source starting on the bench's first day."""
    models = root / "models"
    models.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load(DEMO_SPEC.read_text())
    data["name"] = "bench_features"
    data["source"]["start_date"] = FIRST_DAY.isoformat()
    (models / "bench_features.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return models


def write_history(root: Path, rows: int, days: int) -> None:
    """`days` validated days of `rows // days` resampled flights each, and one more day, not yet validated."""
    import numpy as np

    from nightshift.data.lake import Lake

    lake, rng = Lake.from_uri((root / "lake").as_uri()), np.random.default_rng(13)
    for number in range(days + 1):
        day = FIRST_DAY + dt.timedelta(days=number)
        frame = resample_day(day, rows // days, rng)
        lake.write_partition("raw" if number == days else "validated", "flights", day, frame)


def materialise(root: Path, days: int) -> dict[str, float]:
    """In this (fresh) process: the full rebuild, then the new day; seconds, peak MB and the frame's MB."""
    import os

    os.environ.update(NIGHTSHIFT_HOME=str(root), NIGHTSHIFT_MODELS_DIR=str(root / "models"),
                      NIGHTSHIFT_LAKE_URI=(root / "lake").as_uri())
    from nightshift import steps

    run = steps.Run.of("bench_features")
    history = [FIRST_DAY + dt.timedelta(days=number) for number in range(days)]
    baseline = reset_peak()
    start = time.perf_counter()
    rebuilt = steps.features(run, history)
    rebuild_s = time.perf_counter() - start
    peak_mb = proc_mb("VmHWM") - baseline
    new_day = history[-1] + dt.timedelta(days=1)
    run.lake.write_partition("validated", "flights", new_day, run.lake.read_partition("raw", "flights", new_day))
    start = time.perf_counter()
    added = steps.features(run, [new_day])
    new_day_s = time.perf_counter() - start
    # Last: once read, the frame's memory stays with the process's allocator and would hide the step's peak.
    frame_mb = run.lake.read_days("validated", "flights", history).memory_usage(deep=True).sum() / 2 ** 20
    if len(rebuilt.computed) != days or added.computed != [new_day]:
        raise RuntimeError(f"the rebuild computed {len(rebuilt.computed)} of {days} days; the new day computed "
                           f"{added.computed}, not just {new_day}")
    return {"rebuild_s": rebuild_s, "new_day_s": new_day_s, "peak_mb": peak_mb, "frame_mb": frame_mb}


def holdout_auc(home: Path, as_of_days: list[dt.date], train_days: int | None = None) -> dict[str, list[float]]:
    """The demo spec's holdout ROC AUC as of each day, with exact-key weather and no aggregates, with the
    as-of weather alone, and as shipped; every variant judged on the same holdout rows."""
    import os

    os.environ.update(NIGHTSHIFT_HOME=str(home))
    from sklearn.metrics import roc_auc_score

    from nightshift import steps
    from nightshift.data.validate import validate_days
    from nightshift.model.inputs import window_features
    from nightshift.model.train import build_pipeline, plan_window

    run = steps.Run.of("flights_delay")
    days = steps.day_range(dt.date(2013, 1, 1), max(as_of_days))
    steps.ingest_raw(run, days)
    validate_days(run.spec, run.lake, days, run.settings.expectations_dir)
    variants = {"before": _before_aggregates(run.spec), "as-of weather": _before_aggregates(run.spec, as_of=True),
                "as shipped": run.spec}
    found: dict[str, list[float]] = {name: [] for name in variants}
    for as_of in as_of_days:
        for name, spec in variants.items():
            window = plan_window(spec, run.lake, as_of, train_days)
            trained, holdout = (window_features(spec, run.lake, part) for part in (window.train, window.holdout))
            pipeline = build_pipeline(spec).fit(trained.X, trained.y)
            found[name].append(float(roc_auc_score(holdout.y, pipeline.predict_proba(holdout.X)[:, 1])))
    return found


def _before_aggregates(spec, as_of: bool = False):
    """The demo spec without its aggregates; its weather joined on the exact hour unless `as_of`."""
    from nightshift.spec import ModelSpec

    data = copy.deepcopy(spec.model_dump())
    added = {column for name in data["features"].pop("aggregates") for column in (name, f"{name}_rows")}
    data["features"]["numeric"] = [column for column in data["features"]["numeric"] if column not in added]
    if not as_of:
        weather = data["lookups"][0]
        weather["keys"], weather["as_of"] = [*weather["keys"], weather["as_of"]["event_time"]], None
    return ModelSpec.model_validate(data)


def timing_table(figures: dict[int, dict[str, float]], days: int) -> str:
    rows = [f"| {rows:,} | {f['rebuild_s']:.1f} s | {f['rebuild_s'] / days * 1000:.0f} ms | "
            f"{f['new_day_s'] * 1000:.0f} ms | **{f['new_day_s'] / (f['rebuild_s'] / days):.1f}×** | "
            f"{f['frame_mb']:.0f} | {f['peak_mb']:.0f} | **{f['peak_mb'] / f['frame_mb']:.2f}×** |"
            for rows, f in figures.items()]
    return "\n".join([f"Full rebuild: {days} validated days into an empty features zone. New day: one more day.", "",
                      "| rows | full rebuild | per day of the rebuild | new day | new day / per day | frame MB "
                      "| peak MB | peak / frame |", "|--:|--:|--:|--:|--:|--:|--:|--:|", *rows])


def auc_table(found: dict[str, list[float]], as_of_days: list[dt.date]) -> str:
    header = "| holdout ending | " + " | ".join(found) + " |"
    rows = [f"| {day} | " + " | ".join(f"{values[i]:.4f}" for values in found.values()) + " |"
            for i, day in enumerate(as_of_days)]
    mean = "| **mean** | " + " | ".join(f"**{statistics.mean(values):.4f}**" for values in found.values()) + " |"
    return "\n".join([header, "|---|" + "--:|" * len(found), *rows, mean])


def plot(figures: dict[int, dict[str, float]], days: int, path: Path) -> Path:
    fig = figure(8, 3.5)
    ax = fig.subplots()
    sizes = [rows / 1e6 for rows in figures]
    ax.plot(sizes, [f["rebuild_s"] / days for f in figures.values()], "o-", label="full rebuild, per day")
    ax.plot(sizes, [f["new_day_s"] for f in figures.values()], "s-", label="one new day")
    ax.set(xlabel="rows in the history (millions)", ylabel="seconds", title="materialising the rolling aggregates")
    ax.legend()
    fig.savefig(path, dpi=100)
    return path


def run(workdir: Path, plots: Path, smoke: bool) -> Outcome:
    sizes, days = ((20_000,), 35) if smoke else (SIZES, HISTORY_DAYS)
    figures = {}
    for rows in sizes:
        root = workdir / f"rows-{rows}"
        bench_spec(root)
        write_history(root, rows, days)
        print(f"   features at {rows:,} rows ...", file=sys.stderr)
        figures[rows] = in_fresh_process(materialise, root, days)
    as_of_days, train_days = ([dt.date(2013, 1, 28)], 14) if smoke else (AUC_AS_OF, None)
    found = in_fresh_process(holdout_auc, workdir / "auc", as_of_days, train_days)
    worst = max(f["new_day_s"] / (f["rebuild_s"] / days) for f in figures.values())
    memory = max(f["peak_mb"] / f["frame_mb"] for f in figures.values())
    gain = statistics.mean(found["as shipped"]) - statistics.mean(found["before"])
    return Outcome(
        id="features", what="materialising the rolling aggregates: a new day, and a full rebuild",
        baseline="the full rebuild's time per day", target="a new day ≤ 5× a rebuild's day; peak ≤ 1× the frame",
        measured=f"new day {worst:.1f}× a rebuild's day; peak {memory:.2f}× the frame; AUC {gain:+.4f}",
        met=worst <= 5 and memory <= 1,
        detail=f"{timing_table(figures, days)}\n\nHoldout ROC AUC of the demo spec (mean change as shipped against "
               f"before the aggregates: {gain:+.4f}):\n\n{auc_table(found, as_of_days)}",
        plots=[plot(figures, days, plots / "features.png")])


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="nightshift-bench-features-"))
    outcome = run(workdir, workdir, args.smoke)
    print(f"{outcome.measured}\n\n{outcome.detail}\n\n{machine()}")


if __name__ == "__main__":
    main()
