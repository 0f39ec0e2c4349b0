"""An MLflow tracking server on PostgreSQL for service tests (the database fixture is shared, in
tests/conftest.py). A missing service fails these tests; it never skips them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, serving


@pytest.fixture
def mlflow_server(postgres_database: str, tmp_path: Path) -> Iterator[str]:
    """An MLflow tracking server with its store on PostgreSQL and artifacts served from a local folder."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
               "--backend-store-uri", postgres_database, "--artifacts-destination", str(tmp_path / "artifacts"),
               "--workers", "2"]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # its GenAI job runner: unused here
    with serving(command, f"{url}/health", tmp_path / "mlflow-server.log", timeout=120, env=env):
        yield url
