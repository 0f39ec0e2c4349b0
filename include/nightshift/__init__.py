"""Nightshift: keeps ML models healthy in production, on Apache Airflow.

The platform library. Every stage is a plain function that takes explicit inputs (spec, lake, dates)
and returns a small result; only `nightshift.airflow` imports Airflow.
"""

import os

__version__ = "0.1.0"

# MLflow's client telemetry (on by default outside CI) sets and unsets a variable in os.environ from a thread
# of its own; a request that reads the environment at that moment (requests looks for proxies there) fails
# with KeyError '_MLFLOW_TELEMETRY_SESSION_ID': an evaluate task of the many_models benchmark failed so, once
# in about 500 tasks. Nightshift's processes leave it off unless the deployment sets the variable.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
