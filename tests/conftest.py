"""Shared fixtures: the demo spec, a lake and an isolated Nightshift home per test."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from nightshift.lake import Lake
from nightshift.settings import CHECKOUT, Settings
from nightshift.spec import ModelSpec, load_spec

DEMO_SPEC = CHECKOUT / "include" / "models" / "flights_delay.yaml"


def pytest_configure(config: pytest.Config) -> None:
    """Keep Airflow imported by tests (DagBag) away from ~/airflow: a throwaway home, no examples."""
    airflow_home = Path(tempfile.mkdtemp(prefix="nightshift-test-airflow-"))
    os.environ["AIRFLOW_HOME"] = str(airflow_home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(CHECKOUT / "dags")


@pytest.fixture
def spec() -> ModelSpec:
    return load_spec(DEMO_SPEC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh NIGHTSHIFT_HOME (lake, MLflow, Airflow) for one test."""
    for variable in ("NIGHTSHIFT_LAKE_URI", "MLFLOW_TRACKING_URI", "AIRFLOW_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("NIGHTSHIFT_HOME", str(tmp_path / "home"))
    return Settings.from_env()


@pytest.fixture
def lake(home: Settings) -> Lake:
    return Lake.from_uri(home.lake_uri)
