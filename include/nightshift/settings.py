"""Where Nightshift keeps its state: one settings object, read from the environment.

With no environment set, everything lives under `.nightshift/` in the checkout (the embedded
default): the lake as local parquet, MLflow on SQLite with local artifacts, Airflow on SQLite.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
# Airflow's SQLite connections wait this long for a lock before "database is locked" (Python's default
# is 5 s, which a busy scheduler's write transaction outlasts on two loaded cores). Longer does not help
# where the dag-processor, the scheduler and the api-server wait on each other: that stall lasts exactly
# this long, whatever it is (seen with 16 DAG runs triggered while the dag-processor rewrote 80 DAGs).
AIRFLOW_SQLITE_CONNECT_ARGS = {"timeout": 30}


@dataclass(frozen=True)
class Settings:
    home: Path
    lake_uri: str
    mlflow_tracking_uri: str
    models_dir: Path
    expectations_dir: Path
    alert_emails: tuple[str, ...] = ()   # failure summaries by email (Airflow's SMTP connection)
    alert_from: str = "nightshift@localhost"
    slack_webhook_conn_id: str = ""      # failure summaries to Slack (an Airflow Slack webhook connection)

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("NIGHTSHIFT_HOME", CHECKOUT / ".nightshift")).resolve()
        emails = os.environ.get("NIGHTSHIFT_ALERT_EMAILS", "")
        return cls(
            home=home,
            lake_uri=os.environ.get("NIGHTSHIFT_LAKE_URI", (home / "lake").as_uri()),
            mlflow_tracking_uri=os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}"),
            models_dir=Path(os.environ.get("NIGHTSHIFT_MODELS_DIR", CHECKOUT / "include" / "models")),
            expectations_dir=Path(
                os.environ.get("NIGHTSHIFT_EXPECTATIONS_DIR", CHECKOUT / "include" / "expectations")
            ),
            alert_emails=tuple(address.strip() for address in emails.split(",") if address.strip()),
            alert_from=os.environ.get("NIGHTSHIFT_ALERT_FROM", "nightshift@localhost"),
            slack_webhook_conn_id=os.environ.get("NIGHTSHIFT_SLACK_WEBHOOK_CONN_ID", ""),
        )

    @property
    def mlflow_artifacts_uri(self) -> str | None:
        """Artifact root for experiments this install creates: under the home on the embedded default;
        None with a tracking server, which stores artifacts where it was told to (S3 in production)."""
        if uri := os.environ.get("NIGHTSHIFT_MLFLOW_ARTIFACTS_URI"):
            return uri
        return None if self.mlflow_tracking_uri.startswith("http") else (self.home / "mlartifacts").as_uri()

    @property
    def locks_dir(self) -> Path:
        return self.home / "locks"

    @property
    def lock_uri(self) -> str:
        """PostgreSQL URI for promotion locks: NIGHTSHIFT_LOCK_URI, else the registry's own database when
        MLflow talks to PostgreSQL directly; empty means file locks under `locks_dir`."""
        if uri := os.environ.get("NIGHTSHIFT_LOCK_URI"):
            return uri
        return self.mlflow_tracking_uri if self.mlflow_tracking_uri.startswith("postgresql") else ""

    def airflow_env(self) -> dict[str, str]:
        """Environment for Airflow on the embedded default; explicit AIRFLOW__* settings win."""
        defaults = {
            "AIRFLOW_HOME": str(self.home / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(CHECKOUT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(CHECKOUT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "nightshift.airflow.preloading.LocalExecutor",
            # One worker per slot, each forked from the scheduler with the task libraries loaded: 367 MB of RSS,
            # 14 MB of it its own (2026-12-08); two cores need few.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        }
        if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in os.environ:  # Airflow's own SQLite under AIRFLOW_HOME
            defaults["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"] = "nightshift.settings.AIRFLOW_SQLITE_CONNECT_ARGS"
        env = {**defaults, **{k: v for k, v in os.environ.items() if k.startswith("AIRFLOW")}}
        env.update(
            NIGHTSHIFT_HOME=str(self.home),
            NIGHTSHIFT_LAKE_URI=self.lake_uri,
            MLFLOW_TRACKING_URI=self.mlflow_tracking_uri,
        )
        return env
