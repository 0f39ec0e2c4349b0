"""Appended batches of a day: rows that arrive all day from many writers (the online server's logged
predictions), `<zone>/<dataset>/date=D/<source>/<batch>/`, beside the day's own partition.

A day partition is replaced whole by its one writer; a log is only ever added to. Each batch is a
commit of its own: its parquet file is put first, then its manifest (rows, schema, checksum, and what
the writer adds), and readers take only batches with a manifest, so a batch is seen whole or not at
all. Batch ids sort by time, so a day's batches read in the order they were written.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pandas as pd

from nightshift.data.lake import (
    DATA_FILE,
    MANIFEST,
    Lake,
    content_checksum,
    parquet_bytes,
    read_parquet,
    storage_errors,
)


def batch_folder(lake: Lake, zone: str, dataset: str, day: dt.date, source: str) -> str:
    return f"{lake.partition_key(zone, dataset, day)}/{source}"


@storage_errors
def append_batch(lake: Lake, zone: str, dataset: str, day: dt.date, source: str, frame: pd.DataFrame,
                 **manifest_extra: object) -> dict:
    """Add `frame` to the day's `source` log as one batch; returns its manifest."""
    batch = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
    folder = f"{batch_folder(lake, zone, dataset, day, source)}/{batch}"
    manifest = {"rows": len(frame), "columns": list(map(str, frame.columns)),
                "schema": {str(column): str(dtype) for column, dtype in frame.dtypes.items()},
                "checksum": content_checksum(frame),
                "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                **manifest_extra, "source": source, "batch": batch}
    lake.storage.put(f"{folder}/{DATA_FILE}", parquet_bytes(frame))
    lake.storage.put(f"{folder}/{MANIFEST}", json.dumps(manifest, indent=2, default=str).encode())
    return manifest


@storage_errors
def batch_manifests(lake: Lake, zone: str, dataset: str, day: dt.date, source: str) -> list[dict]:
    """The committed batches of the day's `source` log, oldest first."""
    keys = lake.storage.list(f"{batch_folder(lake, zone, dataset, day, source)}/")
    return [json.loads(lake.storage.get(key)) for key in keys if key.endswith(f"/{MANIFEST}")]


@storage_errors
def read_batches(lake: Lake, zone: str, dataset: str, days: list[dt.date], source: str) -> pd.DataFrame:
    """Every committed batch of these days' `source` logs, oldest first, with a `date` column; an empty
    frame when there are none."""
    frames = []
    for day in days:
        folder = batch_folder(lake, zone, dataset, day, source)
        for manifest in batch_manifests(lake, zone, dataset, day, source):
            frame = read_parquet(lake.storage, f"{folder}/{manifest['batch']}/{DATA_FILE}")
            frames.append(frame.assign(date=pd.Timestamp(day)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
