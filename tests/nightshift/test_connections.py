"""Connections are looked up through the installed lookup. (Airflow's, installed by importing nightshift.airflow:
airflow/test_connections.py.)"""

from __future__ import annotations

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
