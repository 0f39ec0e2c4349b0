"""Shared fixtures: the demo spec, an isolated Nightshift home and lake per test (or per module), and
the real services: PostgreSQL databases and moto's S3 server."""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
import yaml

from nightshift import steps
from nightshift.data.lake import Lake
from nightshift.data.storage import s3_client
from nightshift.processes import free_port, serving
from nightshift.settings import CHECKOUT, Settings
from nightshift.spec import ModelSpec, load_spec

DEMO_SPEC = CHECKOUT / "include" / "models" / "flights_delay.yaml"
EXPECTATIONS = CHECKOUT / "include" / "expectations"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def pytest_configure(config: pytest.Config) -> None:
    """Keep Airflow imported by tests (DagBag) away from ~/airflow: a throwaway home, no examples."""
    airflow_home = Path(tempfile.mkdtemp(prefix="nightshift-test-airflow-"))
    os.environ["AIRFLOW_HOME"] = str(airflow_home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(CHECKOUT / "dags")


# `make check` and `make test` run the tests on two xdist workers (`--dist loadgroup --no-loadscope-reorder`).
# Every test of a module runs on one worker (its module fixtures are built once), every test of the machine's
# PostgreSQL on one worker, one at a time (the chaos suite restarts the server; the production stack is one
# session fixture), and the longest groups are handed out first: PostgreSQL's, then the Airflow runs.
SHARED_POSTGRES = "machine-postgres"
POSTGRES_FIXTURES = {"postgres_database", "stack"}


@pytest.hookimpl(wrapper=True)  # around xdist's own, which reads the groups into the test ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    modules: dict[Path, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.path, []).append(item)
    groups = {path: SHARED_POSTGRES if any(POSTGRES_FIXTURES & set(test.fixturenames) for test in tests)
              else str(path.relative_to(CHECKOUT)) for path, tests in modules.items()}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[item.path]))

    rank = {path: 0 if groups[path] == SHARED_POSTGRES else 1 if any(test.get_closest_marker("e2e") for test in tests)
            else 2 for path, tests in modules.items()}
    items.sort(key=lambda item: rank[item.path])  # stable: a module's tests keep their order
    return (yield)




def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand its reliability figures to the controller, which prints them."""
    from tests.figures import FIGURES

    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["figures"] = dict(FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    from tests.figures import FIGURES

    FIGURES.update(getattr(node, "workeroutput", {}).get("figures", {}))


def pytest_terminal_summary(terminalreporter) -> None:
    """The reliability figures (tests/figures.py) of the tests that ran, on whichever worker."""
    from tests.figures import summary

    if figures := summary():
        terminalreporter.write_sep("=", "reliability")
        terminalreporter.write_line(figures)


@pytest.fixture
def spec() -> ModelSpec:
    return load_spec(DEMO_SPEC)


@functools.cache
def _migrated_mlflow_db() -> Path:
    """An empty MLflow database with every migration applied, made once per test process."""
    from mlflow.tracking import MlflowClient

    path = Path(tempfile.mkdtemp(prefix="nightshift-test-mlflow-")) / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


def with_migrated_mlflow(settings: Settings) -> Settings:
    """The home, its MLflow database a copy of an empty migrated one: what MLflow makes on first use,
    without its migrations' 1.5 s per home."""
    settings.home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_migrated_mlflow_db(), settings.home / "mlflow.db")
    return settings


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """NIGHTSHIFT_HOME (lake, MLflow, Airflow) for one test, a folder not made yet."""
    for variable in ("NIGHTSHIFT_LAKE_URI", "MLFLOW_TRACKING_URI", "AIRFLOW_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("NIGHTSHIFT_HOME", str(tmp_path / "home"))
    return Settings.from_env()


@pytest.fixture
def home(empty_home: Settings) -> Settings:
    """A fresh NIGHTSHIFT_HOME for one test."""
    return with_migrated_mlflow(empty_home)


@pytest.fixture
def lake(home: Settings) -> Lake:
    return Lake.from_uri(home.lake_uri)


@contextmanager
def module_home(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Settings]:
    """A Nightshift home shared by a test module (for data and models that are costly to build)."""
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("NIGHTSHIFT_LAKE_URI", "MLFLOW_TRACKING_URI", "NIGHTSHIFT_LOCK_URI"):
            patch.delenv(variable, raising=False)
        patch.setenv("NIGHTSHIFT_HOME", str(tmp_path_factory.mktemp(name)))
        yield with_migrated_mlflow(Settings.from_env())


def ingest_and_validate(run: steps.Run, days: list) -> None:
    """What the ingest DAG does for these days, keeping going past a quarantined day."""
    from nightshift.data.validate import validate_days

    steps.ingest_raw(run, days)
    validate_days(run.spec, run.lake, days, run.settings.expectations_dir)


# Validated lakes already built this session, by what went into them: copied, not rebuilt (tens of seconds).
_VALIDATED_LAKES: dict[tuple, Path] = {}


@contextmanager
def validated_world(tmp_path_factory: pytest.TempPathFactory, name: str, days: list, *,
                    spec: ModelSpec | None = None, champion_as_of=None) -> Iterator[steps.Run]:
    """The test world: a module's home with `days` of real flights ingested and validated (for the demo
    spec unless given) and, given `champion_as_of`, a champion retrained as of that day (version 1)."""
    from nightshift.model.registry import CHAMPION

    spec = spec or load_spec(DEMO_SPEC)
    with module_home(tmp_path_factory, name) as settings:
        run = steps.Run(spec, Lake.from_uri(settings.lake_uri), settings)
        key = (spec.source.model_dump_json(), tuple(days), str(settings.expectations_dir))
        if key in _VALIDATED_LAKES:
            shutil.copytree(_VALIDATED_LAKES[key], settings.home / "lake")
        else:
            ingest_and_validate(run, days)
            _VALIDATED_LAKES[key] = tmp_path_factory.mktemp("validated-lake") / "lake"
            shutil.copytree(settings.home / "lake", _VALIDATED_LAKES[key])
        if champion_as_of is not None:
            steps.retrain(run, champion_as_of, infra_check=False)
            assert run.registry.alias_version(run.spec.name, CHAMPION) == "1"
        yield run


@pytest.fixture
def airflow_connections() -> Iterator[None]:
    """Connections looked up in Airflow (`AIRFLOW_CONN_<ID>`), and AWS sessions made by the Amazon provider,
    as in a task."""
    from nightshift import connections
    from nightshift.airflow.connections import airflow_connection, provider_aws_session

    previous, previous_sessions = connections.use_lookup(airflow_connection), connections.use_aws_sessions(
        provider_aws_session)
    yield
    connections.use_lookup(previous)
    connections.use_aws_sessions(previous_sessions)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty database on the PostgreSQL server; dropped afterwards. No server: the test fails."""
    name = f"nightshift_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(f"{POSTGRES}/postgres", connect_timeout=5)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server, a real HTTP endpoint, for the whole session; boto3 finds it through the
    standard AWS_* environment."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)]
    with serving(command, f"{endpoint}/moto-api/", tmp_path_factory.mktemp("moto") / "moto.log"):
        os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                          AWS_DEFAULT_REGION="us-east-1")
        s3_client.cache_clear()
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh bucket on the moto server."""
    name = f"nightshift-{uuid.uuid4().hex[:12]}"
    s3_client().create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["file", "s3"])
def any_lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    """The same tests on a local lake and on an S3 lake (moto's server)."""
    if request.param == "file":
        return Lake.from_uri((tmp_path / "lake").as_uri())
    return Lake.from_uri(f"s3://{request.getfixturevalue('s3_bucket')}/lake")


def without_aggregates(data: dict) -> dict:
    """A spec's data (as read from YAML) without its rolling aggregates, nor the features and drift
    expectations that name them: for a twin of the demo spec with another target."""
    added = {column for name in data["features"].pop("aggregates", {}) for column in (name, f"{name}_rows")}
    data["features"]["numeric"] = [column for column in data["features"]["numeric"] if column not in added]
    monitoring = data.get("monitoring", {})
    monitoring["expected_drift"] = [column for column in monitoring.get("expected_drift", []) if column not in added]
    return data


def models_folder_with_a_broken_spec(folder: Path) -> Path:
    """The shipped specs and `team_b.yaml`, a copy of the demo's with one bad value; its path."""
    for shipped in DEMO_SPEC.parent.glob("*.yaml"):
        (folder / shipped.name).write_text(shipped.read_text())
    data = yaml.safe_load(DEMO_SPEC.read_text())
    data["name"], data["windows"]["train_days"] = "team_b", -3
    (folder / "team_b.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder / "team_b.yaml"


def tamper_artifact(registry, model: str, version: str) -> tuple[Path, bytes]:
    """Change a version's stored model file (on the embedded default's artifact store); returns the file
    and its original bytes."""
    source = registry.client.get_model_version(model, version).source
    (stored,) = [p for p in registry.settings.home.glob("mlartifacts/**/model.skops")
                 if source.split("/")[-1] in str(p)]
    original = stored.read_bytes()
    stored.write_bytes(original + b"tampered")
    return stored, original
