"""Nightshift: every model in include/models/ gets its ingest and retrain DAGs.

Cheap to parse: the factory imports Airflow and the specs only; heavy libraries load inside tasks.
"""

from nightshift.airflow.factory import build_dags

globals().update(build_dags())
