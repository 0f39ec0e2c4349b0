"""The lake's contract, on local disk and on S3 (moto's server): atomic, idempotent, day partitions."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from nightshift.data.lake import MANIFEST, Lake, content_checksum
from nightshift.failures import DataError

DAY = dt.date(2013, 2, 8)


def frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"flight": range(rows), "carrier": ["UA"] * rows})


def test_committed_partition_reads_back_with_manifest(any_lake):
    manifest = any_lake.write_partition("raw", "flights", DAY, frame(5), source="test")
    assert manifest["rows"] == 5 and manifest["source"] == "test"
    assert manifest["schema"] == {"flight": "int64", "carrier": "str"}
    assert manifest["checksum"].startswith("sha256:") and manifest["code_version"]
    assert any_lake.days("raw", "flights") == [DAY]
    assert any_lake.read_partition("raw", "flights", DAY, columns=["flight"]).columns.tolist() == ["flight"]


def test_rewriting_a_day_replaces_it_exactly(any_lake):
    first = any_lake.write_partition("raw", "flights", DAY, frame(5))
    second = any_lake.write_partition("raw", "flights", DAY, frame(5))
    assert first["checksum"] == second["checksum"] and first["commit"] != second["commit"]
    assert len(any_lake.read_partition("raw", "flights", DAY)) == 5
    third = any_lake.write_partition("raw", "flights", DAY, frame(3))
    assert len(any_lake.read_partition("raw", "flights", DAY)) == 3
    partition = any_lake.partition_key("raw", "flights", DAY)
    assert any_lake.storage.list(f"{partition}/") == sorted(
        [f"{partition}/{MANIFEST}", f"{partition}/{third['commit']}/data.parquet"])


def test_files_without_a_manifest_are_invisible(any_lake):
    partition = any_lake.partition_key("raw", "flights", DAY)
    any_lake.storage.put(f"{partition}/20130208T000000-crashed/data.parquet", b"half a file")
    assert any_lake.days("raw", "flights") == []
    with pytest.raises(DataError, match="no committed partition"):
        any_lake.read_partition("raw", "flights", DAY)


def test_a_crashed_commit_is_swept_by_the_next_write(any_lake):
    partition = any_lake.partition_key("raw", "flights", DAY)
    debris = f"{partition}/20000101T000000-crashed/data.parquet"
    any_lake.storage.put(debris, b"half a file")
    any_lake.write_partition("raw", "flights", DAY, frame(2))
    assert not any_lake.storage.exists(debris)


def test_a_window_says_which_days_are_quarantined_or_missing_and_reads_only_what_is_asked(any_lake):
    for offset in (0, 2):
        any_lake.write_partition("validated", "flights", DAY + dt.timedelta(offset), frame(2))
    any_lake.write_partition("quarantine", "flights", DAY + dt.timedelta(1), frame(2))
    coverage = any_lake.coverage("flights", DAY, DAY + dt.timedelta(3))
    assert coverage.validated == [DAY, DAY + dt.timedelta(2)]
    assert coverage.quarantined == [DAY + dt.timedelta(1)]
    assert coverage.missing == [DAY + dt.timedelta(3)]
    rows = any_lake.read_days("validated", "flights", coverage.validated, columns=["carrier"])
    assert rows.columns.tolist() == ["carrier", "date"] and len(rows) == 4
    assert rows["date"].dt.date.unique().tolist() == coverage.validated


def test_attachments_are_committed_with_the_data(any_lake):
    any_lake.write_partition("quarantine", "flights", DAY, frame(1), attachments={"report.txt": "why"})
    assert any_lake.read_attachment("quarantine", "flights", DAY, "report.txt") == b"why"
    assert any_lake.file_uri("quarantine", "flights", DAY, "report.txt").startswith(any_lake.storage.root_uri)


def test_removing_a_partition_hides_it_first(any_lake):
    any_lake.write_partition("validated", "flights", DAY, frame(1))
    assert any_lake.remove_partition("validated", "flights", DAY)
    assert any_lake.days("validated", "flights") == []
    assert any_lake.storage.list(any_lake.partition_key("validated", "flights", DAY)) == []


WRITER = """
import datetime as dt, sys
import pandas as pd
from nightshift.data.lake import Lake
lake = Lake.from_uri(sys.argv[1])
rows = int(sys.argv[2])
big = pd.DataFrame({"flight": range(rows), "note": ["x" * 50] * rows})
print("writing", flush=True)
while True:
    lake.write_partition("raw", "flights", dt.date(2013, 2, 8), big)
"""


@pytest.mark.parametrize("kill_after", [0.3, 0.9, 1.7])
def test_sigkill_mid_write_leaves_the_old_partition_or_the_new_one(any_lake, kill_after):
    """A writer killed at an arbitrary moment never leaves a partial or mixed partition visible."""
    any_lake.write_partition("raw", "flights", DAY, frame(7))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, any_lake.storage.root_uri, "300000"],
                              stdout=subprocess.PIPE, env=os.environ.copy())
    assert writer.stdout.readline().strip() == b"writing"
    time.sleep(kill_after)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    committed = any_lake.read_partition("raw", "flights", DAY)
    manifest = any_lake.manifest("raw", "flights", DAY)
    assert len(committed) in (7, 300_000) and len(committed) == manifest["rows"]
    assert content_checksum(committed) == manifest["checksum"]


def test_a_storage_failure_is_a_retryable_infra_error(s3_endpoint):
    from nightshift.failures import InfraError

    with pytest.raises(InfraError, match=r"lake s3://no-such-bucket/lake: \w+ failed: .*NoSuchBucket") \
            as error:
        Lake.from_uri("s3://no-such-bucket/lake").write_partition("raw", "flights", DAY, frame(1))
    assert error.value.retryable


def test_lake_uri_must_be_file_or_s3():
    from nightshift.failures import InfraError

    with pytest.raises(InfraError, match="unsupported storage scheme 'gs'"):
        Lake.from_uri("gs://bucket/lake")
