"""An MLflow tracking server on PostgreSQL for service tests (the database fixture is shared, in
tests/conftest.py). A missing service fails these tests; it never skips them."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port


@pytest.fixture
def mlflow_server(postgres_database: str, tmp_path: Path) -> str:
    """An MLflow tracking server with its store on PostgreSQL and artifacts served from a local folder."""
    port = free_port()
    log = (tmp_path / "mlflow-server.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", postgres_database, "--artifacts-destination", str(tmp_path / "artifacts"),
         "--workers", "2"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"MLflow server did not start; see {log.name}") from None
                time.sleep(1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
