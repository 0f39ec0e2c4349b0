"""docker-compose.yaml stays correct for users: no Docker engine runs here, so parse and check it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from nightshift.settings import CHECKOUT
from stack.stack import CELERY_APP, SECRETS, Stack

COMPOSE = CHECKOUT / "docker-compose.yaml"
COMPOSE_TEXT = COMPOSE.read_text()
AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker"}
ONE_SHOTS = {"minio-init", "airflow-init"}
# `$$` is a literal dollar for the container's shell; `${NAME...}` and `$NAME` are Compose's interpolation.
INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)([^}]*)\}|\$(\w+)")
# Settings whose values name hosts, ports or paths, so differ between containers and the no-Docker stack.
LOCATION_SPECIFIC = {
    "NIGHTSHIFT_HOME", "NIGHTSHIFT_LOCK_URI", "MLFLOW_TRACKING_URI", "AWS_ENDPOINT_URL", "AIRFLOW_HOME",
    "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "AIRFLOW__API__BASE_URL",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND",
}


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE_TEXT)["services"]


def interpolations() -> dict[str, set[str]]:
    """Each variable Compose reads from the environment, with the modifiers it is read with."""
    found: dict[str, set[str]] = {}
    for match in INTERPOLATION.finditer(COMPOSE_TEXT):
        if match[0] != "$$":
            found.setdefault(match[1] or match[3], set()).add(match[2] or "")
    return found


def interpolate(value: str, secrets: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+):\?[^}]*\}", lambda match: secrets[match[1]], value)


def test_the_file_follows_the_compose_specification():
    check = subprocess.run([Path(sys.executable).with_name("check-jsonschema"), "--builtin-schema",
                            "vendor.compose-spec", COMPOSE], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_production_topology_is_declared(services):
    assert AIRFLOW_SERVICES | ONE_SHOTS | {"postgres", "redis", "minio", "mlflow", "serve"} == set(services)


def test_airflow_runs_exactly_the_settings_of_the_no_docker_stack(services, tmp_path, monkeypatch):
    for name in ("NIGHTSHIFT_STACK_NAME", "NIGHTSHIFT_STACK_REDIS_DB", *SECRETS):
        monkeypatch.delenv(name, raising=False)
    stack = Stack(tmp_path)
    expected, secrets = stack.environment(), stack.credentials()
    for name in AIRFLOW_SERVICES:
        env = {key: interpolate(value, secrets) for key, value in services[name]["environment"].items()}
        assert set(env) == set(expected), name
        for key, value in env.items():
            if key in LOCATION_SPECIFIC:
                assert urlsplit(value).scheme == urlsplit(expected[key]).scheme, (name, key)
            else:
                assert value == expected[key], (name, key)


def test_every_secret_comes_from_env_without_a_default_and_is_in_env_example():
    used = interpolations()
    assert set(used) == set(SECRETS)
    for name, modifiers in used.items():
        assert modifiers == {f":?set {name}"}, name
    example = (CHECKOUT / ".env.example").read_text()
    listed = re.findall(r"^(\w+)=(.*)$", example, flags=re.MULTILINE)
    assert [name for name, _ in listed] == list(SECRETS)
    assert {value for _, value in listed} == {"change-me"}


def test_airflow_runs_celery_on_postgres_with_the_lake_and_locks_beside_mlflow(services):
    assert services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"] == \
        "postgresql+psycopg2://airflow:${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}@postgres/mlflow"
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://"), name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:"), name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://"), name
        assert env["NIGHTSHIFT_LAKE_URI"] == "s3://nightshift/lake", name
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name
        assert env["NIGHTSHIFT_LOCK_URI"].endswith("@postgres/mlflow"), name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_mlflow_and_the_lake_share_the_bucket_minio_init_creates(services):
    creates = services["minio-init"]["command"][0]
    assert "mc mb --ignore-existing nightshift/nightshift" in creates
    assert "--artifacts-destination=s3://nightshift/mlartifacts" in services["mlflow"]["command"]
    assert services["mlflow"]["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    minio = services["minio"]["environment"]
    assert (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"]) == (
        "${AWS_ACCESS_KEY_ID:?set AWS_ACCESS_KEY_ID}", "${AWS_SECRET_ACCESS_KEY:?set AWS_SECRET_ACCESS_KEY}")


def test_long_running_services_are_health_checked_and_waited_for(services):
    for name, service in services.items():
        assert (name in ONE_SHOTS) == ("healthcheck" not in service), name
        for dependency, wait in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOTS else "service_healthy"
            assert wait == {"condition": expected}, (name, dependency)
    for name in AIRFLOW_SERVICES:
        assert {"postgres", "redis", "minio-init", "mlflow", "airflow-init"} <= set(services[name]["depends_on"])


def test_workers_scale_and_specs_are_mounted_read_only(services):
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        mounts = services[name]["volumes"]
        for folder in ("dags", "plugins", "include"):
            assert f"./{folder}:/opt/nightshift/{folder}:ro" in mounts, (name, folder)
        assert services[name]["environment"]["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/nightshift/dags"


def test_services_run_real_commands_of_the_image(services):
    """Airflow's own parser reads every `airflow ...` line a service or its health check runs: a misspelt
    command, option or job type fails here, not at `docker compose up`."""
    from airflow.cli.cli_parser import get_parser

    parser, lines = get_parser(), []
    for name, service in services.items():
        health_check = service.get("healthcheck", {}).get("test", [])[1:]   # after CMD
        lines += [(name, line) for line in (service.get("command"), health_check) if line and line[0] == "airflow"]
    assert {name for name, _ in lines} == AIRFLOW_SERVICES
    for name, line in lines:
        try:
            parser.parse_args(line[1:])
        except SystemExit:
            pytest.fail(f"{name}: `{' '.join(line)}` is not an Airflow command")
    assert "airflow db migrate &&" in services["airflow-init"]["command"][1]
    assert f"--app {CELERY_APP} inspect ping" in services["airflow-worker"]["healthcheck"]["test"][1]
    assert services["mlflow"]["command"][:2] == ["mlflow", "server"]
    assert "requirements.txt" in (CHECKOUT / services["mlflow"]["build"] / "Dockerfile").read_text()


def test_files_mounted_from_the_checkout_exist(services):
    for service in services.values():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (CHECKOUT / source).exists(), mount


def test_the_server_serves_every_model_with_the_stacks_settings_behind_its_token(services, tmp_path, monkeypatch):
    """The `serve` service runs a command the CLI accepts, with the no-Docker stack's settings (the token
    among its secrets), the specs mounted, and a health check on its own port."""
    from nightshift.cli import main

    for name in ("NIGHTSHIFT_STACK_NAME", "NIGHTSHIFT_STACK_REDIS_DB", *SECRETS):
        monkeypatch.delenv(name, raising=False)
    serve = services["serve"]
    assert serve["command"][:2] == ["nightshift", "serve"]
    options = main.commands["serve"].make_context("serve", serve["command"][2:]).params
    assert (options["models"], options["host"], options["port"]) == ([], "0.0.0.0", 5050)  # every model
    assert serve["ports"] == ["5050:5050"] and "localhost:5050/health" in serve["healthcheck"]["test"][-1]
    assert "./include:/opt/nightshift/include:ro" in serve["volumes"]
    stack = Stack(tmp_path)
    expected, secrets = stack.environment(), stack.credentials()
    env = {key: interpolate(value, secrets) for key, value in serve["environment"].items()}
    assert env["NIGHTSHIFT_SERVE_TOKEN"] == secrets["NIGHTSHIFT_SERVE_TOKEN"]
    assert stack.commands()["serve"][1:3] == ["serve", "--host"]
    for key, value in env.items():
        if key in LOCATION_SPECIFIC:
            assert urlsplit(value).scheme == urlsplit(expected[key]).scheme, key
        elif key != "NIGHTSHIFT_SERVE_TOKEN":
            assert value == expected[key], key
