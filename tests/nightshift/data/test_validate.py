import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from nightshift.data import validate
from nightshift.failures import DataError
from tests.conftest import EXPECTATIONS

GOOD_DAY, STORM_DAY = dt.date(2013, 2, 7), dt.date(2013, 2, 8)


def flights_day(day: dt.date, rows: int = 800, cancelled: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(day.toordinal())
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


def validated_history(spec, lake, last: dt.date, days: int = 8) -> None:
    """`days` ordinary validated days up to `last`."""
    history = [last - dt.timedelta(days=i) for i in range(days)]
    for day in history:
        lake.write_partition("raw", "flights", day, flights_day(day, rows=800 + day.day))
    assert all(v.status == "validated" for v in validate.validate_days(spec, lake, history, EXPECTATIONS))


def test_a_storm_day_is_quarantined_by_its_history_with_a_report(spec, lake):
    """30% cancelled passes every fixed expectation; against the days before it, it is an anomaly."""
    validated_history(spec, lake, GOOD_DAY)
    lake.write_partition("raw", "flights", STORM_DAY, flights_day(STORM_DAY, cancelled=0.3))

    (storm,) = validate.validate_days(spec, lake, [STORM_DAY], EXPECTATIONS)

    assert storm.status == "quarantined"
    assert lake.days("quarantine", "flights") == [STORM_DAY] and STORM_DAY not in lake.days("validated", "flights")
    (finding,) = storm.failures
    assert (finding.expectation, finding.column) == ("history:null_rate", "dep_time")
    assert "null rate 30.0% against 0.0% (allowed +20 points), over 8 days" in finding.why
    # the original rows and the report are kept together
    assert len(lake.read_partition("quarantine", "flights", STORM_DAY)) == 800
    report = json.loads(lake.read_attachment("quarantine", "flights", STORM_DAY, "report.json"))
    assert report["status"] == "quarantined"
    assert "history:null_rate" in lake.read_attachment("quarantine", "flights", STORM_DAY, "report.txt").decode()

    data_docs = lake.read_attachment("quarantine", "flights", STORM_DAY, "data_docs.html").decode()
    assert "<html" in data_docs and "dep_time" in data_docs

    with pytest.raises(DataError, match="2013-02-08 quarantined for flights \\(no other day in this run\\)") as error:
        validate.raise_if_quarantined(spec, [storm])
    assert error.value.evidence.splitlines()[-1] == f"2013-02-08  data docs: {storm.data_docs_uri}"
    assert storm.data_docs_uri.endswith("/data_docs.html")


def test_validating_days_again_a_backfill_leaves_both_zones_as_they_were(spec, lake):
    validated_history(spec, lake, GOOD_DAY)
    lake.write_partition("raw", "flights", STORM_DAY, flights_day(STORM_DAY, cancelled=0.3))
    validate.validate_days(spec, lake, [STORM_DAY], EXPECTATIONS)

    def zones() -> dict:
        return {(zone, day): lake.manifest(zone, "flights", day)["checksum"]
                for zone in ("validated", "quarantine") for day in lake.days(zone, "flights")}

    before = zones()
    again = validate.validate_days(spec, lake, [GOOD_DAY - dt.timedelta(days=1), GOOD_DAY, STORM_DAY], EXPECTATIONS)
    assert [verdict.status for verdict in again] == ["validated", "validated", "quarantined"]
    assert zones() == before and ("quarantine", STORM_DAY) in before


def test_without_enough_history_the_checks_are_skipped_and_said(spec, lake):
    lake.write_partition("raw", "flights", STORM_DAY, flights_day(STORM_DAY, cancelled=0.3))
    (verdict,) = validate.validate_days(spec, lake, [STORM_DAY], EXPECTATIONS)
    assert verdict.status == "validated"
    assert verdict.notes == ["history checks skipped: 0 validated days in the previous 28 (need 7)"]


def test_half_the_flights_cancelled_is_quarantined_even_without_history(spec, lake):
    lake.write_partition("raw", "flights", STORM_DAY, flights_day(STORM_DAY, cancelled=0.6))
    (verdict,) = validate.validate_days(spec, lake, [STORM_DAY], EXPECTATIONS)
    assert [(f.expectation, f.column) for f in verdict.failures] == [("expect_column_values_to_not_be_null",
                                                                       "dep_time")]


def test_a_warning_lets_the_day_through_and_is_recorded(spec, lake):
    """Volume is a warning: a holiday flies less, and is still a real day to learn from."""
    validated_history(spec, lake, GOOD_DAY)
    lake.write_partition("raw", "flights", STORM_DAY, flights_day(STORM_DAY, rows=500))
    (verdict,) = validate.validate_days(spec, lake, [STORM_DAY], EXPECTATIONS)
    assert verdict.status == "validated" and verdict.failures == []
    (warning,) = verdict.warnings
    assert warning.expectation == "history:volume" and "500 rows, 38% away from the usual 801" in warning.why
    assert json.loads(lake.read_attachment("validated", "flights", STORM_DAY, "report.json"))["warnings"]


def test_revalidating_a_fixed_day_moves_it_out_of_quarantine(spec, lake):
    lake.write_partition("raw", "flights", STORM_DAY, flights_day(STORM_DAY, cancelled=0.6))
    validate.validate_days(spec, lake, [STORM_DAY], EXPECTATIONS)
    lake.write_partition("raw", "flights", STORM_DAY, flights_day(STORM_DAY))
    validate.validate_days(spec, lake, [STORM_DAY], EXPECTATIONS)
    assert lake.days("validated", "flights") == [STORM_DAY]
    assert lake.days("quarantine", "flights") == []


def test_a_missing_column_comes_first_and_takes_in_the_expectations_it_broke(spec, lake):
    lake.write_partition("raw", "flights", GOOD_DAY, flights_day(GOOD_DAY).drop(columns=["dep_time"]))
    (verdict,) = validate.validate_days(spec, lake, [GOOD_DAY], EXPECTATIONS)
    assert verdict.status == "quarantined"
    (columns,) = verdict.failures  # GX's errors on the absent column are folded into the finding that explains them
    assert columns.expectation == "expect_table_columns_to_match_set" and columns.missing_columns == ("dep_time",)
    assert columns.why == ("missing: ['dep_time']; so 2 more failed: "
                           "expect_column_values_to_be_in_type_list(dep_time), "
                           "expect_column_values_to_not_be_null(dep_time)")
    with pytest.raises(DataError) as error:
        validate.raise_if_quarantined(spec, [verdict])
    cause, read = str(error.value).splitlines()
    assert cause == "2013-02-07 quarantined for flights: column dep_time missing (no other day in this run)"
    assert read == f"read from {spec.source.describe()} (2013-02-07: 800 rows)"
    assert "Do not release the day" in error.value.hint and "nightshift release" not in error.value.hint


def test_an_all_null_column_explains_its_type_finding_and_is_not_offered_for_release(spec, lake):
    lake.write_partition("raw", "flights", GOOD_DAY, flights_day(GOOD_DAY).assign(carrier=np.nan))  # float64, as read
    (verdict,) = validate.validate_days(spec, lake, [GOOD_DAY], EXPECTATIONS)
    root, *others = verdict.failures
    assert (root.expectation, root.column, root.unexpected_percent) == ("expect_column_values_to_not_be_null",
                                                                          "carrier", 100.0)
    assert "so 1 more failed: expect_column_values_to_be_of_type(carrier)" in root.why, root.why
    assert all(f.column != "carrier" for f in others), others
    with pytest.raises(DataError, match="column carrier all null") as error:
        validate.raise_if_quarantined(spec, [verdict])
    assert "Do not release the day" in error.value.hint


@pytest.mark.parametrize(("quarantined", "judged", "says"), [
    (2, 5, "2 of 5 days quarantined for flights (2013-02-07, 2013-02-08); the other 3 were validated"),
    (1, 2, "1 of 2 days quarantined for flights (2013-02-07); the other 1 was validated"),
    (3, 3, "all 3 days of this run quarantined for flights (2013-02-07, 2013-02-08, 2013-02-09)"),
])
def test_the_cause_counts_the_days_truly(spec, quarantined, judged, says):
    verdicts = [validate.DayVerdict(day=GOOD_DAY + dt.timedelta(days=i), rows=10,
                                    status="quarantined" if i < quarantined else "validated") for i in range(judged)]
    with pytest.raises(DataError) as error:
        validate.raise_if_quarantined(spec, verdicts)
    assert str(error.value).splitlines()[0] == says
    assert "release it" in error.value.hint  # no broken column: a real but unusual day may be released
