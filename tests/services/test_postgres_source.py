"""A PostgreSQL table or query as a source, through an Airflow connection, against the real server."""

import datetime as dt

import psycopg2
import pytest

from nightshift import ingest
from nightshift.failures import DataError, InfraError, SourceNotReady

FEB_7, FEB_8 = dt.date(2013, 2, 7), dt.date(2013, 2, 8)


@pytest.fixture
def flights_db(postgres_database, monkeypatch) -> str:
    with psycopg2.connect(postgres_database) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA ops; CREATE TABLE ops.flights (flight_date date, carrier text, flight int)")
        cursor.executemany("INSERT INTO ops.flights VALUES (%s, %s, %s)",
                           [(FEB_7, "UA", 1), (FEB_7, "AA", 2), (FEB_8, "B6", 3), (dt.date(2013, 3, 1), "UA", 4)])
    monkeypatch.setenv("AIRFLOW_CONN_FLIGHTS_DB", postgres_database)
    return postgres_database


def postgres_spec(spec, **source):
    fields = {"dataset": "flights", "kind": "postgres", "conn_id": "flights_db", "date_columns": ["flight_date"],
              "start_date": "2013-01-01", **source}
    return spec.model_copy(update={"source": spec.source.model_validate(fields)})


def test_a_table_is_read_for_the_requested_days_only(spec, lake, flights_db):
    rows = ingest.ingest_days(postgres_spec(spec, table="ops.flights"), lake, [FEB_7, FEB_8])
    assert rows == {"2013-02-07": 2, "2013-02-08": 1}
    assert sorted(lake.read_partition("raw", "flights", FEB_7)["carrier"]) == ["AA", "UA"]
    assert lake.manifest("raw", "flights", FEB_7)["source"] == "postgres:flights_db/ops.flights"


def test_a_query_is_a_source_too(spec, lake, flights_db):
    query = "SELECT flight_date, carrier FROM ops.flights WHERE carrier <> 'AA'"
    rows = ingest.ingest_days(postgres_spec(spec, query=query), lake, [FEB_7])
    assert rows == {"2013-02-07": 1}


def test_a_day_not_yet_in_the_table_is_late_data(spec, lake, flights_db):
    with pytest.raises(SourceNotReady, match="no rows yet for 2013-02-09"):
        ingest.ingest_days(postgres_spec(spec, table="ops.flights"), lake, [FEB_8, dt.date(2013, 2, 9)])
    assert lake.days("raw", "flights") == [FEB_8]


def test_a_query_error_names_the_source_and_the_database_message(spec, lake, flights_db):
    with pytest.raises(DataError, match=r"postgres:flights_db/query: the query failed: .*carier.* does not exist"):
        ingest.ingest_days(postgres_spec(spec, query="SELECT flight_date, carier FROM ops.flights"), lake, [FEB_7])
    assert lake.days("raw", "flights") == []


def test_an_unreachable_server_is_retryable(spec, lake, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FLIGHTS_DB", "postgresql://postgres@127.0.0.1:1/nowhere")
    with pytest.raises(InfraError, match="cannot reach PostgreSQL") as error:
        ingest.ingest_days(postgres_spec(spec, table="ops.flights"), lake, [FEB_7])
    assert error.value.retryable
