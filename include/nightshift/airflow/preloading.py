"""Task processes that start with the libraries their steps import already loaded.

Airflow 3 runs every task in a process forked from an executor worker: the LocalExecutor's workers are
forked from the scheduler, and each forks a task process per task. A Nightshift task then imported
pandas, scikit-learn, MLflow and Great Expectations afresh, 3 to 13 s of CPU per task on 2 cores (GX alone
6.5 s), often more than the step itself. Loaded once before the workers are forked, they are shared with
every task process (copy-on-write; Airflow freezes the garbage collector before it forks the workers).
"""

from __future__ import annotations

import importlib
import logging
import time

from airflow.executors import local_executor

# What the steps import inside their functions (the DAG file imports none of it): the lake, features and
# training, the registry, validation, the gate's report, scoring. Third-party libraries only: Nightshift's
# own modules are imported from disk by each task, so an edit to include/ takes effect at the next task.
TASK_LIBRARIES = (
    "pandas", "pyarrow.parquet",
    "great_expectations",
    "sklearn.compose", "sklearn.ensemble", "sklearn.impute", "sklearn.linear_model", "sklearn.metrics",
    "sklearn.model_selection", "sklearn.pipeline", "sklearn.preprocessing",
    "scipy.stats",
    "skops.io",
    "mlflow", "mlflow.pyfunc", "mlflow.sklearn",
    # MLflow's SQLite stores, the embedded default's registry: 2.2 s of imports when a task first opens it
    "mlflow.store.tracking.sqlalchemy_store", "mlflow.store.model_registry.sqlalchemy_store",
    "matplotlib.figure",
)
log = logging.getLogger(__name__)


def preload() -> None:
    """Import TASK_LIBRARIES, and say how long it took."""
    started = time.perf_counter()
    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # it logs INFO lines as it is imported
    for name in TASK_LIBRARIES:
        importlib.import_module(name)
    log.info("task libraries loaded for every task process in %.1f s", time.perf_counter() - started)


class LocalExecutor(local_executor.LocalExecutor):
    """Airflow's LocalExecutor, with TASK_LIBRARIES imported in the scheduler before its workers are forked:
    `AIRFLOW__CORE__EXECUTOR=nightshift.airflow.preloading.LocalExecutor` (the embedded default's). Its class
    name is Airflow's, which Airflow reads as a local deployment (SimpleAuthManager warns on any other)."""

    def start(self) -> None:
        preload()
        super().start()
