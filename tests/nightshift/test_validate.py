import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from nightshift import validate
from nightshift.failures import DataError
from nightshift.spec import SpecError
from nightshift.settings import CHECKOUT

EXPECTATIONS = CHECKOUT / "include" / "expectations"
GOOD_DAY, STORM_DAY = dt.date(2013, 2, 7), dt.date(2013, 2, 8)


def flights_day(day: dt.date, rows: int = 800, cancelled: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "year": day.year, "month": day.month, "day": day.day,
        "dep_time": rng.integers(500, 2300, rows).astype(float), "sched_dep_time": rng.integers(500, 2300, rows),
        "dep_delay": rng.normal(10, 30, rows), "arr_time": rng.integers(500, 2359, rows).astype(float),
        "sched_arr_time": rng.integers(500, 2359, rows), "arr_delay": rng.normal(5, 30, rows),
        "carrier": rng.choice(["UA", "AA", "B6"], rows), "flight": rng.integers(1, 3000, rows),
        "tailnum": "N14228", "origin": rng.choice(["EWR", "JFK", "LGA"], rows), "dest": "IAH",
        "air_time": 200.0, "distance": 1400, "hour": 5, "minute": 15, "time_hour": f"{day}T10:00:00Z",
    })
    gone = frame.sample(frac=cancelled, random_state=1).index
    frame.loc[gone, ["dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"]] = np.nan
    return frame


def test_a_storm_day_is_quarantined_and_a_normal_day_validated(spec, lake):
    lake.write_partition("raw", "flights", GOOD_DAY, flights_day(GOOD_DAY))
    lake.write_partition("raw", "flights", STORM_DAY, flights_day(STORM_DAY, cancelled=0.5))

    good, storm = validate.validate_days(spec, lake, [GOOD_DAY, STORM_DAY], EXPECTATIONS)

    assert (good.status, storm.status) == ("validated", "quarantined")
    assert lake.days("validated", "flights") == [GOOD_DAY]
    assert lake.days("quarantine", "flights") == [STORM_DAY]
    failed = {(f.expectation, f.column) for f in storm.failures}
    assert ("expect_column_values_to_not_be_null", "dep_time") in failed
    dep_time = next(f for f in storm.failures if f.column == "dep_time")
    assert dep_time.unexpected_count == 400 and dep_time.unexpected_percent == pytest.approx(50.0)
    # the original rows and the report are kept together
    quarantined = lake.partition_dir("quarantine", "flights", STORM_DAY)
    assert len(lake.read_partition("quarantine", "flights", STORM_DAY)) == 800
    assert json.loads((quarantined / "report.json").read_text())["status"] == "quarantined"
    assert "dep_time" in (quarantined / "report.txt").read_text()

    with pytest.raises(DataError, match="1 of 2 days quarantined for flights: 2013-02-08") as error:
        validate.raise_if_quarantined(spec, [good, storm])
    assert "report.txt" in error.value.evidence


def test_a_warning_lets_the_day_through_and_is_recorded(spec, lake):
    lake.write_partition("raw", "flights", GOOD_DAY, flights_day(GOOD_DAY, rows=600))
    (verdict,) = validate.validate_days(spec, lake, [GOOD_DAY], EXPECTATIONS)
    assert verdict.status == "validated"
    assert [w.expectation for w in verdict.warnings] == ["expect_table_row_count_to_be_between"]


def test_revalidating_a_fixed_day_moves_it_out_of_quarantine(spec, lake):
    lake.write_partition("raw", "flights", STORM_DAY, flights_day(STORM_DAY, cancelled=0.5))
    validate.validate_days(spec, lake, [STORM_DAY], EXPECTATIONS)
    lake.write_partition("raw", "flights", STORM_DAY, flights_day(STORM_DAY))
    validate.validate_days(spec, lake, [STORM_DAY], EXPECTATIONS)
    assert lake.days("validated", "flights") == [STORM_DAY]
    assert lake.days("quarantine", "flights") == []


def test_a_misspelled_expectation_is_an_error_not_a_silent_drop(tmp_path):
    (tmp_path / "flights.yaml").write_text(
        "name: flights\nexpectations:\n"
        "  - {type: expect_column_values_to_not_be_null, kwargs: {column: a}}\n"
        "  - {type: expect_column_values_to_be_nul, kwargs: {column: a}}\n"
    )
    with pytest.raises(SpecError, match="1 expectation.s. not recognised by GX"):
        validate.load_suite(tmp_path, "flights")


def test_a_missing_column_quarantines_the_day_and_says_which(spec, lake):
    lake.write_partition("raw", "flights", GOOD_DAY, flights_day(GOOD_DAY).drop(columns=["dep_time"]))
    (verdict,) = validate.validate_days(spec, lake, [GOOD_DAY], EXPECTATIONS)
    assert verdict.status == "quarantined"
    dep_time = next(f for f in verdict.failures if f.column == "dep_time")
    assert 'column "dep_time"' in dep_time.why and "does not exist" in dep_time.why
