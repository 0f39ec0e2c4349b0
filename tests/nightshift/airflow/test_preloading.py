"""The embedded default's executor loads the task libraries once, in the scheduler, before it forks the
workers that fork every task process (bench/README.md: freshness). The production stack's Celery workers do
the same: tests/stack/test_production_stack.py reads it in their logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from nightshift.airflow.preloading import TASK_LIBRARIES

STARTS_THE_EXECUTOR = """
import json, sys
from airflow.executors.executor_loader import ExecutorLoader
from nightshift.airflow.preloading import TASK_LIBRARIES

executor = ExecutorLoader.get_default_executor()
before = [name for name in TASK_LIBRARIES if name in sys.modules]
executor.start()
workers = len(executor.workers)
executor.end()
print(json.dumps({"class": f"{type(executor).__module__}.{type(executor).__name__}", "before": before,
                  "after": [name for name in TASK_LIBRARIES if name in sys.modules], "workers": workers,
                  "ours": sorted(name for name in sys.modules if name.startswith("nightshift."))}))
"""


def test_the_embedded_executor_loads_the_task_libraries_before_it_forks_its_workers(empty_home):
    env = {**os.environ, **empty_home.airflow_env(), "AIRFLOW__CORE__PARALLELISM": "2"}
    done = subprocess.run([sys.executable, "-c", STARTS_THE_EXECUTOR], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["class"] == "nightshift.airflow.preloading.LocalExecutor"
    assert seen["before"] == [] and seen["after"] == list(TASK_LIBRARIES)
    assert seen["workers"] == 2
    # The steps' modules stay for each task to import from disk: an edit takes effect at the next task.
    assert "nightshift.airflow.preloading" in seen["ours"]
    assert [name for name in seen["ours"] if name.split(".")[1] in {"steps", "model", "data", "operate"}] == []
