"""Releasing a reviewed day from quarantine into validated/, with who and why on record.

Nothing is lost: the rows move unchanged (same checksum) together with the quarantine reports and a
`release.json`, the raw partition stays as it was, and re-validating the same raw rows keeps the
release (see `validate.validate_days`). Changed raw rows are judged afresh.
"""

from __future__ import annotations

import datetime as dt
import json

from nightshift.data.lake import DATA_FILE, Lake
from nightshift.failures import DataError, InfraError
from nightshift.spec import ModelSpec

MIN_REASON = 10


def release_record(manifest: dict) -> dict | None:
    """Who released a validated day, when and why, if its manifest is a release's."""
    if manifest.get("verdict") != "released":
        return None
    return {key: manifest[key] for key in ("released_by", "released_at", "reason")}


def release_day(spec: ModelSpec, lake: Lake, day: dt.date, *, reviewer: str, reason: str) -> dict:
    """Move a quarantined day into validated/; returns the release record."""
    dataset = spec.source.dataset
    if len(reason.strip()) < MIN_REASON:
        raise DataError(f"releasing {dataset} {day}: give a reason of at least {MIN_REASON} characters",
                        kind="release", hint="Say what you reviewed and why the day is fit for training.")
    with lake.day_lock(dataset, day):  # not while the day is written or judged again
        return _release(lake, dataset, day, reviewer, reason.strip())


def _release(lake: Lake, dataset: str, day: dt.date, reviewer: str, reason: str) -> dict:
    quarantined = lake.manifest("quarantine", dataset, day)
    if quarantined is None:
        days = ", ".join(map(str, lake.days("quarantine", dataset))) or "none"
        raise DataError(f"{dataset} {day} is not in quarantine (quarantined days: {days})", kind="release")
    frame = lake.read_partition("quarantine", dataset, day)
    attachments = {name: lake.read_attachment("quarantine", dataset, day, name)
                   for name in quarantined["files"] if name != DATA_FILE}
    record = {"released_by": reviewer, "reason": reason,
              "released_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "quarantine_commit": quarantined["commit"]}
    attachments["release.json"] = json.dumps(record, indent=2)
    written = lake.write_partition("validated", dataset, day, frame, attachments=attachments, verdict="released",
                                   source=quarantined.get("source", ""), **record)
    if written["checksum"] != quarantined["checksum"]:
        raise InfraError(f"{dataset} {day}: released rows do not match the quarantined ones "
                         f"({written['checksum']} != {quarantined['checksum']}); quarantine left in place",
                         kind="storage")
    lake.remove_partition("quarantine", dataset, day)
    return record
