"""A PostgreSQL table or query as a source, through an Airflow connection, against the real server."""

import datetime as dt
import json
import signal
import time
from urllib.parse import urlparse

import psycopg2
import pytest

from nightshift.data import ingest
from nightshift.failures import DataError, InfraError, SourceNotReady

pytestmark = pytest.mark.usefixtures("airflow_connections")

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
    assert rows == {FEB_7: 2, FEB_8: 1}
    assert sorted(lake.read_partition("raw", "flights", FEB_7)["carrier"]) == ["AA", "UA"]
    assert lake.manifest("raw", "flights", FEB_7)["source"] == "postgres:flights_db/ops.flights"


def test_a_query_is_a_source_too(spec, lake, flights_db):
    query = "SELECT flight_date, carrier FROM ops.flights WHERE carrier <> 'AA'"
    rows = ingest.ingest_days(postgres_spec(spec, query=query), lake, [FEB_7])
    assert rows == {FEB_7: 1}


def test_a_day_not_yet_in_the_table_is_late_data(spec, lake, flights_db):
    with pytest.raises(SourceNotReady, match="no rows yet for 2013-02-09"):
        ingest.ingest_days(postgres_spec(spec, table="ops.flights"), lake, [FEB_8, dt.date(2013, 2, 9)])
    assert lake.days("raw", "flights") == [FEB_8]


def test_a_query_error_names_the_source_and_the_database_message(spec, lake, flights_db):
    with pytest.raises(DataError, match=r"postgres:flights_db/query: the query failed: .*carier.* does not exist"):
        ingest.ingest_days(postgres_spec(spec, query="SELECT flight_date, carier FROM ops.flights"), lake, [FEB_7])
    assert lake.days("raw", "flights") == []


def connection_with_extras(database_uri: str, **extra) -> str:
    """The database as an Airflow connection in JSON, with these extras."""
    parsed = urlparse(database_uri)
    return json.dumps({"conn_type": "postgres", "host": parsed.hostname, "port": parsed.port or 5432,
                       "login": parsed.username, "schema": parsed.path.lstrip("/"), "extra": extra})


def test_the_connections_libpq_options_reach_the_server_and_the_hooks_own_extras_do_not(spec, lake, flights_db,
                                                                                         monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FLIGHTS_DB", connection_with_extras(
        flights_db, options="-c search_path=ops", application_name="nightshift-source", cursor="dictcursor"))
    rows = ingest.ingest_days(postgres_spec(spec, table="flights"), lake, [FEB_7])  # found through search_path
    assert rows == {FEB_7: 2}
    query = "SELECT current_setting('application_name') AS name, now()::date AS flight_date"
    named = ingest.read_source(postgres_spec(spec, query=query).source, lake, dt.date(2000, 1, 1), dt.date(2999, 1, 1))
    assert named["name"].tolist() == ["nightshift-source"]


def test_an_option_libpq_does_not_know_names_the_connection(spec, lake, flights_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FLIGHTS_DB", connection_with_extras(flights_db, sslmodee="require"))
    with pytest.raises(InfraError, match=r"connection 'flights_db': invalid dsn: invalid connection option "
                                         r"\"sslmodee\"") as error:
        ingest.ingest_days(postgres_spec(spec, table="ops.flights"), lake, [FEB_7])
    assert "['sslmodee']" in error.value.hint


def test_an_unreachable_server_is_retryable(spec, lake, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FLIGHTS_DB", "postgresql://postgres@127.0.0.1:1/nowhere")
    with pytest.raises(InfraError, match="cannot reach PostgreSQL") as error:
        ingest.ingest_days(postgres_spec(spec, table="ops.flights"), lake, [FEB_7])
    assert error.value.retryable


def test_the_date_range_reaches_sql_only_as_parameters(spec, flights_db):
    """A value crafted to widen the WHERE clause is compared as a date, and refused; spliced into the SQL
    it would read every row before the end."""
    from nightshift.data.sources import read_postgres

    source = postgres_spec(spec, table="ops.flights").source
    with pytest.raises(DataError, match=r"the query failed: invalid input syntax for type date"):
        read_postgres(source, "2099-01-01' OR '1'='1", FEB_8)


def test_a_source_query_cannot_write_to_the_source_database(spec, lake, flights_db):
    """A write hidden in a function the query calls fails loudly: sources are read in a read-only transaction."""
    with psycopg2.connect(flights_db) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE FUNCTION ops.wipe() RETURNS boolean LANGUAGE sql AS "
                       "'DELETE FROM ops.flights; SELECT true'")
    query = "SELECT * FROM ops.flights WHERE ops.wipe()"
    with pytest.raises(DataError, match=r"the query failed: cannot execute DELETE in a read-only transaction") as error:
        ingest.ingest_days(postgres_spec(spec, query=query), lake, [FEB_7])
    assert error.value.evidence.startswith(f"query sent: SELECT * FROM (\n{query}\n) AS source WHERE")
    with psycopg2.connect(flights_db) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ops.flights")
        assert cursor.fetchone() == (4,)


class Timeout(BaseException):
    """What Airflow's execution timeout raises from its SIGALRM handler (AirflowTaskTimeout is one too)."""


def test_a_query_that_never_answers_yields_to_the_task_timeout(spec, lake, flights_db):
    never = "SELECT f.* FROM ops.flights AS f, (SELECT pg_sleep(30)) AS never"

    def time_is_up(signum, frame):
        raise Timeout

    previous = signal.signal(signal.SIGALRM, time_is_up)
    started = time.monotonic()
    signal.alarm(2)
    try:
        with pytest.raises(Timeout):
            ingest.ingest_days(postgres_spec(spec, query=never), lake, [FEB_7])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 10, "the alarm waited for the query"
    assert lake.days("raw", "flights") == []
