"""The production stack's Celery settings: Airflow's own, with the task libraries loaded in each worker before
its prefork pool forks the processes that fork every task (as the embedded default's executor does, see
nightshift.airflow.preloading). `AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=nightshift.airflow.celery_config.CELERY_CONFIG`.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

from nightshift.airflow.preloading import preload

CELERY_CONFIG = DEFAULT_CELERY_CONFIG  # Airflow's settings as they are: this module is here for the signal


@worker_init.connect
def _load_task_libraries(**_: object) -> None:
    """In the worker's main process, before its pool starts (the scheduler and the API server, which read
    this module too, never send this signal)."""
    preload()
