"""Ingest from the kinds of source the spec declares: local and S3 files (CSV, parquet, compressed,
globs) and PostgreSQL (tests/services); late data is retryable, never an empty partition. Listing and
parsing the files themselves: test_sources.py."""

import datetime as dt
import gzip

import pandas as pd
import pytest

from nightshift.data import ingest
from nightshift.data.storage import s3_client
from nightshift.failures import DataError, InfraError, SourceNotReady

CSV = """year,month,day,flight,carrier
2013,1,1,1,UA
2013,1,1,2,AA
2013,1,2,3,UA
"""
JAN_1, JAN_2, JAN_3 = dt.date(2013, 1, 1), dt.date(2013, 1, 2), dt.date(2013, 1, 3)


def with_source(spec, **changes):
    return spec.model_copy(update={"source": spec.source.model_validate({**spec.source.model_dump(), **changes})})


@pytest.fixture
def small_spec(spec, tmp_path):
    path = tmp_path / "flights.csv"
    path.write_text(CSV)
    return with_source(spec, path=str(path))


def test_each_day_becomes_one_raw_partition(small_spec, lake):
    rows = ingest.ingest_days(small_spec, lake, [JAN_1, JAN_2])
    assert rows == {JAN_1: 2, JAN_2: 1}
    assert lake.read_partition("raw", "flights", JAN_1)["flight"].tolist() == [1, 2]
    assert lake.manifest("raw", "flights", JAN_1)["source"] == small_spec.source.path


def test_ingesting_twice_gives_the_same_partition(small_spec, lake):
    ingest.ingest_days(small_spec, lake, [JAN_1])
    first = lake.manifest("raw", "flights", JAN_1)["checksum"]
    ingest.ingest_days(small_spec, lake, [JAN_1])
    assert lake.manifest("raw", "flights", JAN_1)["checksum"] == first
    assert len(lake.read_partition("raw", "flights", JAN_1)) == 2


def test_a_day_without_source_rows_is_late_data_not_an_empty_partition(small_spec, lake):
    with pytest.raises(SourceNotReady, match=r"\(3 rows read\): no rows yet for 2013-01-03") as error:
        ingest.ingest_days(small_spec, lake, [JAN_2, JAN_3])
    assert error.value.retryable and "1 days were written" in error.value.hint
    assert lake.days("raw", "flights") == [JAN_2]


def test_missing_source_file_names_the_path(spec, lake, tmp_path):
    with pytest.raises(DataError, match=r"nope\*\.csv: no file matches"):
        ingest.ingest_days(with_source(spec, path=str(tmp_path / "nope*.csv")), lake, [JAN_1])


def test_a_source_file_that_vanishes_while_being_read_writes_no_partition(spec, lake, tmp_path):
    (tmp_path / "a.csv").write_text(CSV)
    (tmp_path / "b.csv").symlink_to(tmp_path / "gone.csv")  # listed by the glob, gone when read
    with pytest.raises(InfraError, match="disappeared while it was being read"):
        ingest.ingest_days(with_source(spec, path=str(tmp_path / "*.csv")), lake, [JAN_1])
    assert lake.days("raw", "flights") == []

def test_globbed_compressed_csv_and_parquet_files_read_as_one_source(spec, lake, tmp_path):
    frame = pd.read_csv(pd.io.common.StringIO(CSV))
    (tmp_path / "part-1.csv.gz").write_bytes(gzip.compress(frame.iloc[:2].to_csv(index=False).encode()))
    (tmp_path / "part-2.csv.gz").write_bytes(gzip.compress(frame.iloc[2:].to_csv(index=False).encode()))
    rows = ingest.ingest_days(with_source(spec, path=str(tmp_path / "part-*.csv.gz"), format=None), lake,
                                [JAN_1, JAN_2])
    assert rows == {JAN_1: 2, JAN_2: 1}
    frame.to_parquet(tmp_path / "flights.parquet")
    parquet = with_source(spec, path=(tmp_path / "flights.parquet").as_uri(), format=None)
    assert ingest.ingest_days(parquet, lake, [JAN_1]) == {JAN_1: 2}


def test_s3_files_by_glob(spec, lake, s3_bucket):
    client = s3_client()
    client.put_object(Bucket=s3_bucket, Key="landing/flights/2013-01-01.csv.gz", Body=gzip.compress(CSV.encode()))
    client.put_object(Bucket=s3_bucket, Key="landing/other/ignored.csv", Body=b"x\n1\n")
    s3_spec = with_source(spec, path=f"s3://{s3_bucket}/landing/flights/*.csv.gz", format=None)
    assert ingest.ingest_days(s3_spec, lake, [JAN_1, JAN_2]) == {JAN_1: 2, JAN_2: 1}


def test_rows_dated_in_the_future_are_refused(small_spec):
    frame = pd.read_csv(pd.io.common.StringIO(CSV))
    with pytest.raises(DataError, match=r"3 rows are dated after today \(2012-12-31\)"):
        ingest.row_dates(small_spec.source, frame, today=dt.date(2012, 12, 31))
