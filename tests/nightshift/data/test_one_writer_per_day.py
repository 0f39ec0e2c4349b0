"""One writer per day: two ingests of the same days at once, the source changing between them (one
version of the days passes the suite, the other is quarantined), many rounds with a fixed seed, on a
local lake and on S3 (moto's server). After every round each day is in exactly one zone holding one of
the two versions whole, the version its zone's verdict belongs to; and no look of a reader meanwhile
finds a day once judged in neither zone. The lock itself: test_day_lock_* below."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import random
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import yaml

from nightshift.data import lake as lake_module, s3_lease
from nightshift.data.lake import Lake
from nightshift.failures import InfraError
from tests.conftest import DEMO_SPEC, EXPECTATIONS
from tests.nightshift.data.test_validate import flights_day

DAYS = [dt.date(2013, 1, 2) + dt.timedelta(days=i) for i in range(3)]
ROUNDS, SEED = 6, 20261204
VERSIONS = {"good": 0.0, "storm": 0.6}  # the share of cancelled flights: 60% is quarantined


def write_sources(root: Path) -> dict[str, Path]:
    """One spec per version of the same days, both writing the dataset `flights`."""
    specs = {}
    for version, cancelled in VERSIONS.items():
        folder = root / version
        folder.mkdir()
        for day in DAYS:
            flights_day(day, cancelled=cancelled).to_csv(folder / f"{day}.csv", index=False)
        spec = yaml.safe_load(DEMO_SPEC.read_text())
        spec["source"].update(path=str(folder / "*.csv"), format="csv")
        (root / f"models-{version}").mkdir()
        specs[version] = root / f"models-{version}" / "flights_delay.yaml"
        specs[version].write_text(yaml.safe_dump(spec, sort_keys=False))
    return specs


def ingest_and_validate(spec_path: str, lake_uri: str, delay: float) -> None:
    """What one ingest run does to the days, in a process of its own."""
    from nightshift.data.ingest import ingest_days
    from nightshift.data.validate import validate_days
    from nightshift.spec import load_spec

    time.sleep(delay)
    spec, lake = load_spec(Path(spec_path)), Lake.from_uri(lake_uri)
    ingest_days(spec, lake, DAYS)
    validate_days(spec, lake, DAYS, EXPECTATIONS)


def watch(lake: Lake, stop: threading.Event, seen_wrong: list[str]) -> None:
    """Look at the zones as a reader would (training's coverage), until stopped; note every look where a
    day once judged is in neither zone."""
    judged: set[dt.date] = set()
    while not stop.is_set():
        looked = lake.coverage("flights", DAYS[0], DAYS[-1])
        if neither := judged & set(looked.missing):
            seen_wrong.append(f"judged, then in neither zone: {sorted(neither)}")
        judged |= {*looked.validated, *looked.quarantined}
        time.sleep(0.005)  # a reader, not a second writer's worth of CPU


def checksums(lake_uri: str, spec_path: Path) -> dict[dt.date, str]:
    """The raw checksum of each day of one version, ingested alone."""
    from nightshift.data.ingest import ingest_days
    from nightshift.spec import load_spec

    lake = Lake.from_uri(lake_uri)
    ingest_days(load_spec(spec_path), lake, DAYS)
    return {day: lake.manifest("raw", "flights", day)["checksum"] for day in DAYS}


@pytest.mark.timeout(600)
def test_concurrent_ingests_of_the_same_days_leave_each_day_whole_in_exactly_one_zone(any_lake, tmp_path):
    specs = write_sources(tmp_path)
    versions = {version: checksums((tmp_path / f"alone-{version}").as_uri(), spec) for version, spec in specs.items()}
    lake_uri, rng, seen_wrong = any_lake.storage.root_uri, random.Random(SEED), []
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        for round_number in range(ROUNDS):
            stop = threading.Event()
            reader = threading.Thread(target=watch, args=(any_lake, stop, seen_wrong))
            reader.start()
            runs = [pool.submit(ingest_and_validate, str(specs[version]), lake_uri, rng.uniform(0, 0.3))
                    for version in rng.sample(list(VERSIONS), 2)]
            for run in runs:
                run.result()
            stop.set()
            reader.join()
            for day in DAYS:
                zones = [zone for zone in ("validated", "quarantine") if day in any_lake.days(zone, "flights")]
                assert len(zones) == 1, f"round {round_number}: {day} is in {zones}"
                judged = any_lake.manifest(zones[0], "flights", day)["checksum"]
                assert judged == versions["good" if zones[0] == "validated" else "storm"][day], \
                    f"round {round_number}: {day} in {zones[0]} holds rows its verdict was not given for"
                assert any_lake.manifest("raw", "flights", day)["checksum"] in {v[day] for v in versions.values()}
                assert len(any_lake.read_partition(zones[0], "flights", day)) == 800  # whole
    assert not seen_wrong, seen_wrong[:5]


def test_day_lock_admits_one_holder_and_the_next_one_after_it(any_lake, monkeypatch):
    monkeypatch.setattr(lake_module, "LOCK_WAIT", dt.timedelta(seconds=0.3))
    held = re.escape(f"{any_lake.storage.uri('_locks/flights/2013-01-02')}: the lock is still held after 0.3 s")
    with any_lake.day_lock("flights", DAYS[0]):
        with pytest.raises(InfraError, match=held), any_lake.day_lock("flights", DAYS[0]):
            pass
        with any_lake.day_lock("flights", DAYS[1]):  # another day is another lock
            pass
    with any_lake.day_lock("flights", DAYS[0]):  # released
        pass


HOLD_THE_LOCK = """
import sys, time
from nightshift.data.lake import Lake
from datetime import date
with Lake.from_uri(sys.argv[1]).day_lock("flights", date(2013, 1, 2)):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_day_lock_whose_holder_was_killed_is_taken_by_the_next_writer(any_lake, monkeypatch):
    """A worker SIGKILLed while it holds a day's lock: the next writer takes the lock in seconds (on disk
    the kernel frees it; on S3 the lease is not renewed), not after LOCK_WAIT."""
    monkeypatch.setattr(s3_lease, "LEASE_S", 1.0)  # the waiter's view of a lease (the holder renews every 10 s)
    monkeypatch.setattr(lake_module, "LOCK_WAIT", dt.timedelta(seconds=20))
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, any_lake.storage.root_uri],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
    finally:
        holder.kill()
        holder.wait()
    with any_lake.day_lock("flights", DAYS[0]):  # within LOCK_WAIT: before the holder's lease would end
        pass


@pytest.mark.parametrize("any_lake", ["s3"], indirect=True)
def test_an_s3_lease_is_renewed_while_its_holder_works(any_lake, monkeypatch):
    monkeypatch.setattr(s3_lease, "LEASE_S", 0.6)
    monkeypatch.setattr(lake_module, "LOCK_WAIT", dt.timedelta(seconds=2))
    key = f"{lake_module.LOCKS}/flights/{DAYS[0].isoformat()}"
    with any_lake.day_lock("flights", DAYS[0]):
        outcome: list[BaseException] = []
        waiter = threading.Thread(target=lambda: outcome.append(_take_and_return(any_lake)))
        waiter.start()
        waiter.join()  # 2 s: over three leases, each renewed in time
        holder = json.loads(any_lake.storage.get(key))
        assert holder["renewals"] >= 3, holder
        assert isinstance(outcome[0], InfraError) and "still held after 2 s (by pid" in str(outcome[0]), outcome
    assert not any_lake.storage.exists(key)  # given back


def _take_and_return(lake: Lake) -> BaseException | None:
    try:
        with lake.day_lock("flights", DAYS[0]):
            return None
    except InfraError as err:
        return err
