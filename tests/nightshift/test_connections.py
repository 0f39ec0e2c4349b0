"""Connections are looked up through the installed lookup; Airflow's is installed by importing nightshift.airflow."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from nightshift import connections
from nightshift.connections import Connection, get_connection
from nightshift.failures import InfraError, failure_summary

FLIGHTS_DB = Connection(conn_id="flights_db", host="db.internal", port=5432, login="reader", password="s3cret",
                        schema="ops")


@pytest.fixture
def installed() -> Iterator[None]:
    """Each test installs its own lookup; whatever was installed before (Airflow's, once any test imported
    nightshift.airflow) is put back after."""
    previous = connections.use_lookup(None)
    yield
    connections.use_lookup(previous)


def test_the_installed_lookup_answers(installed):
    connections.use_lookup({"flights_db": FLIGHTS_DB}.__getitem__)
    assert get_connection("flights_db") == FLIGHTS_DB


def test_a_missing_connection_is_an_infra_error_naming_the_id(installed):
    connections.use_lookup({"flights_db": FLIGHTS_DB}.__getitem__)
    with pytest.raises(InfraError, match=r"connection 'flihgts_db' is not defined") as error:
        get_connection("flihgts_db")
    assert error.value.kind == "connection"
    assert "AIRFLOW_CONN_FLIHGTS_DB" in error.value.hint
    assert "see       docs/runbooks.md#connection" in failure_summary(error.value, model="m", step="ingest_raw")


def test_without_a_lookup_the_error_names_the_id_and_says_how_to_install_one(installed):
    with pytest.raises(InfraError, match=r"connection 'flights_db': no connection lookup is installed") as error:
        get_connection("flights_db")
    assert error.value.kind == "connection"
    assert "import nightshift.airflow" in error.value.hint


def test_a_connection_keeps_its_secrets_out_of_its_repr():
    assert "s3cret" not in repr(FLIGHTS_DB)
    assert "s3cret" not in repr(Connection(conn_id="lake", extra={"aws_session_token": "s3cret"}))


def test_importing_nightshift_airflow_installs_airflow_connections(tmp_path):
    """In a fresh process, as in a task or the CLI: the import installs the lookup, and Airflow reads
    AIRFLOW_CONN_<ID>; an id Airflow does not know is the library's error, not Airflow's."""
    probe = (
        "import json, nightshift.airflow\n"
        "from nightshift.connections import get_connection\n"
        "from nightshift.failures import InfraError\n"
        "found = get_connection('flights_db')\n"
        "try:\n"
        "    get_connection('nowhere')\n"
        "except InfraError as err:\n"
        "    missing = str(err)\n"
        "print(json.dumps([found.host, found.port, found.login, found.password, found.schema, dict(found.extra),"
        " missing]))\n"
    )
    env = {"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
           "AIRFLOW_CONN_FLIGHTS_DB": json.dumps({"conn_type": "postgres", "host": "db.internal", "port": 5433,
                                                  "login": "reader", "password": "s3cret", "schema": "ops",
                                                  "extra": {"sslmode": "require"}})}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [
        "db.internal", 5433, "reader", "s3cret", "ops", {"sslmode": "require"}, "connection 'nowhere' is not defined"]
