import datetime as dt

import pandas as pd
import pytest

from nightshift.failures import DataError

DAY = dt.date(2013, 2, 8)


def frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"flight": range(rows), "carrier": ["UA"] * rows})


def test_committed_partition_reads_back_with_manifest(lake):
    manifest = lake.write_partition("raw", "flights", DAY, frame(5), source="test")
    assert manifest["rows"] == 5 and manifest["source"] == "test"
    assert manifest["checksum"].startswith("sha256:")
    assert lake.days("raw", "flights") == [DAY]
    assert lake.read_partition("raw", "flights", DAY, columns=["flight"]).columns.tolist() == ["flight"]


def test_rewriting_a_day_replaces_it_exactly(lake):
    first = lake.write_partition("raw", "flights", DAY, frame(5))
    second = lake.write_partition("raw", "flights", DAY, frame(5))
    assert first["checksum"] == second["checksum"]
    assert len(lake.read_partition("raw", "flights", DAY)) == 5
    lake.write_partition("raw", "flights", DAY, frame(3))
    assert len(lake.read_partition("raw", "flights", DAY)) == 3
    assert [p.name for p in (lake.root / "raw" / "flights").iterdir()] == ["date=2013-02-08"]


def test_a_partition_without_manifest_is_invisible(lake):
    half_written = lake.partition_dir("raw", "flights", DAY)
    half_written.mkdir(parents=True)
    frame(2).to_parquet(half_written / "part-0.parquet")
    assert lake.days("raw", "flights") == []
    with pytest.raises(DataError, match="no committed partition"):
        lake.read_partition("raw", "flights", DAY)


def test_read_days_adds_the_partition_date(lake):
    for offset in range(3):
        lake.write_partition("validated", "flights", DAY + dt.timedelta(offset), frame(2))
    window = lake.read_days("validated", "flights", lake.days("validated", "flights"))
    assert len(window) == 6
    assert window["date"].dt.date.unique().tolist() == [DAY + dt.timedelta(i) for i in range(3)]


def test_attachments_are_committed_with_the_data(lake):
    lake.write_partition("quarantine", "flights", DAY, frame(1), attachments={"report.txt": "why"})
    assert (lake.partition_dir("quarantine", "flights", DAY) / "report.txt").read_text() == "why"
