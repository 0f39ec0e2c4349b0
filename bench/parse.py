"""parse: how long the DAG folder takes to parse with 20 model specs, against the same DAGs written naively
(one file per model, importing pandas, sklearn, MLflow and GX at the top as a naive author does); and with
100 specs, Nightshift's side alone, for the parse's growth with the number of models.

Measured as the dag-processor measures it: a parent that has imported Airflow once forks a child per DAG
file, and the child's `DagBag` reports the file's parse time (`dagbag_stats`). A child thus pays for what
the file imports beyond Airflow, and nothing else.

The parent is a fresh interpreter (`python bench/parse.py --measure JOB.json`), not the bench driver: the
driver has imported pandas and numpy (bench/common.py), and a fork of it would hand the naive files their
heaviest import for free. For the same reason this module imports nothing heavy at the top, and `common`
only inside `run`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from common import Outcome

ROOT = Path(__file__).resolve().parents[1]
NIGHTSHIFT_DAGS = ROOT / "dags" / "nightshift_dags.py"
MODELS, REPEATS = 20, 5            # specs and Nightshift parses in a full run; smoke: 2 specs, 1 naive file
MANY_MODELS = 100                  # Nightshift's file alone with this many specs: does its parse grow linearly?
TARGET_RATIO, TARGET_SECONDS, TARGET_MANY_SECONDS = 10, 0.3, 1.5
ParseStat = dict[str, float]       # one file's parse: seconds, cpu, dags, tasks (plain data: it crosses processes)

# The naive author's file: the same five DAGs and twelve tasks per model as the factory builds, the heavy
# libraries imported where tutorials put them. The task bodies never run; they only make the imports look used.
NAIVE_DAG = Template('''\
"""$model: ingest, retrain, score, monitor and release, written the naive way."""
import datetime as dt

import great_expectations as gx
import mlflow
import pandas as pd
import sklearn.ensemble
from airflow.sdk import dag, task

START = dt.datetime(2013, 1, 1, tzinfo=dt.timezone.utc)
ARGS = {"owner": "ml-platform", "retries": 2}


@dag(dag_id="${model}__ingest", schedule="0 4 * * *", start_date=START, catchup=False, default_args=ARGS)
def ingest():
    @task
    def plan_days() -> list[str]: return ["2013-01-01"]
    @task
    def ingest_raw(day: str) -> int: return len(pd.read_csv(f"/data/flights/{day}.csv"))
    @task
    def validate(days: list[str]) -> bool: return gx.get_context(mode="ephemeral") is not None
    @task
    def publish(days: list[str]) -> list[str]: return days
    @task(trigger_rule="one_failed")
    def fail_run_if_any_task_failed() -> None: raise RuntimeError("an ingest task failed")

    days = plan_days()
    raw, validated, published = ingest_raw.expand(day=days), validate(days), publish(days)
    raw >> validated >> published
    [raw, validated, published] >> fail_run_if_any_task_failed()


@dag(dag_id="${model}__retrain", schedule="0 2 * * *", start_date=START, catchup=False, default_args=ARGS)
def retrain():
    @task
    def train() -> str: return mlflow.sklearn.log_model(sklearn.ensemble.HistGradientBoostingClassifier(), "m")
    @task
    def evaluate(uri: str) -> float: return mlflow.evaluate(uri).metrics["roc_auc"]
    @task
    def promote(auc: float) -> bool: return auc > 0.62

    promote(evaluate(train()))


@dag(dag_id="${model}__score", schedule="0 5 * * *", start_date=START, catchup=False, default_args=ARGS)
def score():
    @task
    def score_days() -> int: return len(pd.DataFrame())

    score_days()


@dag(dag_id="${model}__monitor", schedule="0 6 * * *", start_date=START, catchup=False, default_args=ARGS)
def monitor():
    @task
    def check() -> list[str]: return []
    @task
    def signal_decay(breaches: list[str]) -> None: mlflow.set_tag("decay", bool(breaches))

    signal_decay(check())


@dag(dag_id="${model}__release", schedule=None, start_date=START, catchup=False, default_args=ARGS)
def release():
    @task
    def release_day() -> None: pd.Timestamp("2013-01-01")

    release_day()


ingest()
retrain()
score()
monitor()
release()
''')


def model_names(count: int) -> list[str]:
    return [f"m{i:02d}" for i in range(1, count + 1)]


def write_specs(folder: Path, models: list[str]) -> None:
    """Copies of the demo spec under other names; the dataset stays `flights`, so its suite is found."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = yaml.safe_load((ROOT / "include" / "models" / "flights_delay.yaml").read_text())
    for name in models:
        (folder / f"{name}.yaml").write_text(yaml.safe_dump({**spec, "name": name}, sort_keys=False))


def write_naive_dags(folder: Path, models: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}_dags.py" for name in models]
    for name, path in zip(models, paths, strict=True):
        path.write_text(NAIVE_DAG.substitute(model=name))
    return paths


def parse_file(path: str) -> ParseStat:
    """One DAG file through a DagBag, as a dag-processor child does; runs in a forked child."""
    from airflow.dag_processing.dagbag import DagBag

    cpu = time.process_time()  # this child's alone: less inflated than wall time by other processes' load
    bag = DagBag(dag_folder=path, safe_mode=False, load_op_links=False)
    cpu = time.process_time() - cpu
    if bag.import_errors:
        raise RuntimeError(f"{path} does not parse; the benchmark would time a failure:\n"
                           + "\n".join(bag.import_errors.values()))
    (stat,) = bag.dagbag_stats
    return {"seconds": stat.duration.total_seconds(), "cpu": cpu, "dags": stat.dag_num, "tasks": stat.task_num}


def measure(job: Path) -> None:
    """The dag-processor's parent: import Airflow once, then parse every file of the job, each in a new fork.

    The job is `{"out": path, "files": {label: [path, ...]}}`; a path listed twice is parsed twice, each
    time from the same cold start. Writes `{label: [ParseStat, ...]}` to `out`.
    """
    import gc
    import importlib

    import airflow.dag_processing.manager  # what `airflow dag-processor` has loaded
    import airflow.dag_processing.processor
    import airflow.sdk  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag  # noqa: F401
    from airflow.utils.file import iter_airflow_imports

    gc.freeze()  # as the manager does before its parsing loop: a child's collections skip the parent's objects
    order, results = json.loads(job.read_text()), {}
    for label, paths in order["files"].items():
        results[label] = []
        for path in paths:
            for module in iter_airflow_imports(path):  # the processor's pre-import, done before each fork
                importlib.import_module(module)
            with ProcessPoolExecutor(1, mp_context=get_context("fork")) as child:
                results[label].append(child.submit(parse_file, path).result())
            print(f"{label} {Path(path).name}: {results[label][-1]['seconds']:.3f} s", flush=True)
    Path(order["out"]).write_text(json.dumps(results))


def in_dag_processor(workdir: Path, files: dict[str, list[str]]) -> dict[str, list[ParseStat]]:
    """`measure` in a fresh interpreter (see the module's docstring); its output, Airflow's logs included,
    goes to workdir/processor.log."""
    job, out, log = workdir / "job.json", workdir / "parsed.json", workdir / "processor.log"
    job.write_text(json.dumps({"out": str(out), "files": files}))
    with log.open("w") as sink:
        done = subprocess.run([sys.executable, __file__, "--measure", str(job)], stdout=sink,
                              stderr=subprocess.STDOUT, timeout=1800, check=False)
    if done.returncode:
        tail = "\n".join(log.read_text().splitlines()[-40:])
        raise RuntimeError(f"the parse measurement failed (exit {done.returncode}); the end of {log}:\n{tail}")
    return json.loads(out.read_text())


def run(workdir: Path, plots: Path, smoke: bool) -> Outcome:
    """Nightshift's one DAG file with 20 specs (median of 5 parses) against 20 naive files (each parsed once); the
    same file with 100 specs (median of 5)."""
    from common import Outcome, environment  # here, not at the top: common imports pandas (module docstring)

    workdir.mkdir(parents=True, exist_ok=True)
    models = model_names(2 if smoke else MODELS)
    write_specs(workdir / "models", models)
    naive = [str(path) for path in write_naive_dags(workdir / "naive_dags", models[:1] if smoke else models)]
    files = {"nightshift": [str(NIGHTSHIFT_DAGS)] * REPEATS, "naive": naive}
    if not smoke:  # first reads of pandas, sklearn, MLflow and GX from disk are not what is compared
        files = {"warm-up": [naive[0], str(NIGHTSHIFT_DAGS)], **files}
    env = {"AIRFLOW_HOME": str(workdir / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "NIGHTSHIFT_HOME": str(workdir / "home"), "NIGHTSHIFT_MODELS_DIR": str(workdir / "models"),
           "NIGHTSHIFT_EXPECTATIONS_DIR": str(ROOT / "include" / "expectations")}
    many = model_names(5 if smoke else MANY_MODELS)
    write_specs(workdir / "many" / "models", many)
    with environment(env):
        parsed = in_dag_processor(workdir, files)
    with environment({**env, "NIGHTSHIFT_MODELS_DIR": str(workdir / "many" / "models")}):
        parsed["many"] = in_dag_processor(workdir / "many", {"many": [str(NIGHTSHIFT_DAGS)] * REPEATS})["many"]
    figures = summarize(parsed["nightshift"], parsed["naive"], parsed["many"])
    met = (figures["ratio"] >= TARGET_RATIO and figures["nightshift"] <= TARGET_SECONDS
           and figures["many"] <= TARGET_MANY_SECONDS)
    return Outcome(
        id="parse", what=f"DAG-file parse time with {len(models)} model specs, as the dag-processor measures it; "
                         f"and with {len(many)}",
        baseline=f"the same DAGs written naively, {len(naive)} file(s) importing pandas/sklearn/MLflow/GX at the top",
        target=f"≥{TARGET_RATIO}× faster, ≤{TARGET_SECONDS} s total; ≤{TARGET_MANY_SECONDS} s with {MANY_MODELS} specs",
        measured=f"{figures['nightshift']:.2f} s vs {figures['naive']:.1f} s: {figures['ratio']:.0f}× faster; "
                 f"{figures['many']:.2f} s with {len(many)} specs",
        met=met, detail=detail(parsed, figures, len(models), len(many)),
        plots=[plot(plots / "parse.png", figures, len(models), len(many))], note="" if met else note(figures))


def summarize(nightshift: list[ParseStat], naive: list[ParseStat], many: list[ParseStat]) -> dict[str, float]:
    """Nightshift: the median parse of its one file (with MODELS specs, and MANY_MODELS); naive: the sum over
    its files (one parse each)."""
    figures = {"nightshift": statistics.median(s["seconds"] for s in nightshift),
               "nightshift_cpu": statistics.median(s["cpu"] for s in nightshift),
               "many": statistics.median(s["seconds"] for s in many),
               "naive": sum(s["seconds"] for s in naive), "naive_cpu": sum(s["cpu"] for s in naive),
               "naive_file": statistics.median(s["seconds"] for s in naive), "load": os.getloadavg()[0]}
    figures["ratio"] = figures["naive"] / figures["nightshift"]
    return figures


def nightshift_row(specs: int, stats: list[ParseStat]) -> str:
    """Nightshift's file parsed with `specs` model specs, several times: the median, the range, the CPU."""
    times = sorted(s["seconds"] for s in stats)
    return (f"| Nightshift: `dags/nightshift_dags.py`, {specs} specs | 1 | {stats[0]['dags']:.0f} "
            f"| {stats[0]['tasks']:.0f} | **{statistics.median(times):.3f} s** (median of {len(stats)}; "
            f"{times[0]:.3f}–{times[-1]:.3f}) | {statistics.median(s['cpu'] for s in stats):.3f} s |")


def detail(parsed: dict[str, list[ParseStat]], figures: dict[str, float], models: int, many_models: int) -> str:
    naive = parsed["naive"]
    return f"""\
| side | files | DAGs | tasks | parse time (wall) | CPU time |
|---|--:|--:|--:|--:|--:|
{nightshift_row(models, parsed["nightshift"])}
{nightshift_row(many_models, parsed["many"])}
| naive: one file per model | {len(naive)} \
| {sum(s["dags"] for s in naive):.0f} | {sum(s["tasks"] for s in naive):.0f} \
| **{figures["naive"]:.1f} s** (median file {figures["naive_file"]:.1f} s) | {figures["naive_cpu"]:.1f} s |
| ratio | | | | **{figures["ratio"]:.0f}×** | {figures["naive_cpu"] / figures["nightshift_cpu"]:.0f}× |

Each DAG file is parsed as the dag-processor parses it: a parent that imported Airflow, froze its objects \
out of garbage collection (`gc.freeze()`) and pre-imported the file's `airflow.*` imports forks a child, \
whose `DagBag` times the file (`dagbag_stats`, wall clock; the dag-processor's own figure). CPU time is the \
child's alone, which other processes' load inflates less (the \
load average was {figures["load"]:.1f} at the end of the run). Nightshift's side is its one DAG file building \
{models} copies of `flights_delay.yaml` (m01…), five DAGs each and the rollback DAG; the naive side is one \
file per model with the same five DAG shapes and twelve tasks, `pandas`, `sklearn.ensemble`, `mlflow` and \
`great_expectations` imported at the top. Every parse must load without import errors."""


def note(figures: dict[str, float]) -> str:
    missed = []
    if figures["nightshift"] > TARGET_SECONDS:
        missed.append(f"Nightshift's parse takes {figures['nightshift']:.2f} s ({figures['nightshift_cpu']:.2f} s "
                      f"CPU), above the {TARGET_SECONDS} s target.")
    if figures["many"] > TARGET_MANY_SECONDS:
        missed.append(f"With {MANY_MODELS} specs it takes {figures['many']:.2f} s, above {TARGET_MANY_SECONDS} s.")
    if figures["ratio"] < TARGET_RATIO:
        missed.append(f"The ratio, {figures['ratio']:.1f}×, is below {TARGET_RATIO}×.")
    return " ".join(missed)


def plot(path: Path, figures: dict[str, float], models: int, many_models: int) -> Path:
    """Log-scale bars: the two sides differ by orders of magnitude."""
    bars = {f"Nightshift\n1 file, {models} specs": figures["nightshift"],
            f"Nightshift\n1 file, {many_models} specs": figures["many"],
            "naive\none file (median)": figures["naive_file"], "naive\nall files": figures["naive"]}
    from common import figure

    fig = figure(7, 3.6)
    ax = fig.subplots()
    ax.barh(list(bars), list(bars.values()), color=["#2a7ab0", "#5b9bd5", "#d98b3a", "#c0504d"])
    for y, seconds in enumerate(bars.values()):
        ax.text(seconds * 1.1, y, f"{seconds:.2f} s", va="center")
    ax.axvline(TARGET_SECONDS, color="black", linestyle="--", linewidth=1, label=f"target: ≤ {TARGET_SECONDS} s")
    ax.legend(loc="upper right", frameon=False)
    ax.set_xscale("log")
    ax.set_xlim(min(bars.values()) / 3, max(bars.values()) * 4)
    ax.invert_yaxis()
    ax.set_xlabel("DAG-file parse time, seconds (log scale)")
    ax.set_title(f"DAG parsing: Nightshift {figures['ratio']:.0f}× faster than the naive files")
    fig.savefig(path, dpi=120)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description="The dag-processor's parent, for `run` (run bench/run.py instead).")
    parser.add_argument("--measure", type=Path, required=True, help="the job file `in_dag_processor` wrote")
    measure(parser.parse_args().measure)


if __name__ == "__main__":
    main()
