"""docker-compose.yaml stays correct for users: no Docker engine runs here, so parse and check it."""

from __future__ import annotations

import re

import pytest
import yaml

from nightshift.settings import CHECKOUT

COMPOSE_TEXT = (CHECKOUT / "docker-compose.yaml").read_text()
AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker"}


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE_TEXT)["services"]


def test_the_production_topology_is_declared(services):
    assert AIRFLOW_SERVICES | {"postgres", "redis", "mlflow", "airflow-init"} <= set(services)


def test_airflow_runs_celery_on_postgres(services):
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://"), name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:"), name
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_every_secret_comes_from_the_environment_without_a_default():
    secrets = set(re.findall(r"\$\{(\w+)", COMPOSE_TEXT))
    assert secrets == {"POSTGRES_PASSWORD", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY"}
    for name in secrets:
        assert all(f"${{{name}:?" in use for use in re.findall(rf"\$\{{{name}[^}}]*\}}", COMPOSE_TEXT)), name


def test_services_run_real_commands_of_the_image(services):
    assert services["airflow-worker"]["command"] == ["airflow", "celery", "worker"]
    assert services["mlflow"]["command"][:2] == ["mlflow", "server"]
    assert (CHECKOUT / services["mlflow"]["build"] / "Dockerfile").exists()
    init_sql = services["postgres"]["volumes"][0].split(":")[0]
    assert (CHECKOUT / init_sql).exists()
