"""A reviewer releases a quarantined day; the release is recorded and survives re-validation."""

import datetime as dt
import json

import pytest

from nightshift.data import validate
from nightshift.data.release import release_day
from nightshift.failures import DataError
from tests.conftest import EXPECTATIONS
from tests.nightshift.data.test_validate import flights_day

DAY = dt.date(2013, 2, 8)
REASON = "reviewed: a real storm, and the model should see one"


@pytest.fixture
def quarantined(spec, lake):
    lake.write_partition("raw", "flights", DAY, flights_day(DAY, cancelled=0.6))
    (verdict,) = validate.validate_days(spec, lake, [DAY], EXPECTATIONS)
    assert verdict.status == "quarantined"
    return lake.manifest("quarantine", "flights", DAY)


def test_release_moves_the_day_with_its_reports_and_the_record(spec, lake, quarantined):
    record = release_day(spec, lake, DAY, reviewer="ana", reason=REASON)

    assert lake.days("quarantine", "flights") == [] and lake.days("validated", "flights") == [DAY]
    released = lake.manifest("validated", "flights", DAY)
    assert released["checksum"] == quarantined["checksum"]
    assert (released["verdict"], released["released_by"], released["reason"]) == ("released", "ana", REASON)
    assert json.loads(lake.read_attachment("validated", "flights", DAY, "release.json")) == record
    assert json.loads(lake.read_attachment("validated", "flights", DAY, "report.json"))["status"] == "quarantined"
    assert lake.read_attachment("validated", "flights", DAY, "data_docs.html").startswith(b"<!DOCTYPE html>")
    assert lake.days("raw", "flights") == [DAY]  # the raw partition stays


def test_a_released_day_stays_released_while_its_raw_rows_are_unchanged(spec, lake, quarantined):
    release_day(spec, lake, DAY, reviewer="ana", reason=REASON)
    (verdict,) = validate.validate_days(spec, lake, [DAY], EXPECTATIONS)
    assert verdict.status == "released" and verdict.notes == [f"released by ana: {REASON}"]



def test_a_released_day_whose_rows_changed_is_judged_afresh_and_its_release_stays_on_record(spec, lake, quarantined):
    record = release_day(spec, lake, DAY, reviewer="ana", reason=REASON)
    lake.write_partition("raw", "flights", DAY, flights_day(DAY, cancelled=0.7))  # upstream sent new rows
    (verdict,) = validate.validate_days(spec, lake, [DAY], EXPECTATIONS)
    assert verdict.status == "quarantined" and lake.days("validated", "flights") == []
    said = f"released before by ana at {record['released_at']} ({REASON}); its raw rows changed since"
    assert any(note.startswith(said) for note in verdict.notes), verdict.notes
    before = {key: record[key] for key in ("released_by", "released_at", "reason")}
    assert lake.manifest("quarantine", "flights", DAY)["released_before"] == before
    report = json.loads(lake.read_attachment("quarantine", "flights", DAY, "report.json"))
    assert any(note.startswith(said) for note in report["notes"])

    (again,) = validate.validate_days(spec, lake, [DAY], EXPECTATIONS)  # and it stays on record after that
    assert lake.manifest("quarantine", "flights", DAY)["released_before"] == before
    assert any(note.startswith(said) for note in again.notes)


def test_a_release_needs_a_reason(spec, lake, quarantined):
    with pytest.raises(DataError, match="give a reason of at least 10 characters"):
        release_day(spec, lake, DAY, reviewer="ana", reason="ok")
    assert lake.days("quarantine", "flights") == [DAY]


def test_only_a_quarantined_day_can_be_released(spec, lake, quarantined):
    with pytest.raises(DataError, match=r"flights 2013-02-09 is not in quarantine \(quarantined days: 2013-02-08\)"):
        release_day(spec, lake, DAY + dt.timedelta(days=1), reviewer="ana", reason=REASON)
