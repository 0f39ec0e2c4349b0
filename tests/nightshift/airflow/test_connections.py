"""Airflow's connections as the library's Connection: whatever Airflow finds (here `AIRFLOW_CONN_<ID>`),
installed as the lookup by importing nightshift.airflow; an id Airflow does not know is a LookupError."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nightshift.airflow.connections import airflow_connection
from nightshift.connections import Connection


def test_an_airflow_connection_becomes_a_connection_with_its_extra_parsed(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", json.dumps({
        "conn_type": "aws", "login": "key", "password": "s3cret",
        "extra": {"endpoint_url": "http://minio:9000", "region_name": "eu-west-1"}}))
    assert airflow_connection("lake_s3") == Connection(
        conn_id="lake_s3", login="key", password="s3cret",
        extra={"endpoint_url": "http://minio:9000", "region_name": "eu-west-1"})


def test_an_id_airflow_does_not_know_is_a_lookup_error_naming_it():
    with pytest.raises(LookupError, match="nightshift_no_such_conn"):
        airflow_connection("nightshift_no_such_conn")


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
