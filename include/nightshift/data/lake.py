"""The lake: day-partitioned parquet on `file://` or `s3://`, `<zone>/<dataset>/date=YYYY-MM-DD/`.

A partition is visible only when complete. Each write is a new commit: its files go under
`date=D/<commit>/`, then the `_SUCCESS` manifest (rows, schema, content checksum, source, code
version, time, and the commit it points to) replaces the old one in a single atomic put, then the
previous commit's files are deleted. A crash at any point leaves the old manifest pointing at the
old files, or the new manifest at the new ones; files of a commit that never got its manifest are
invisible and are swept by the next write. Re-writing a day replaces it whole: same rows, same
checksum, never duplicates.

One writer per day: who writes a day's raw rows or moves it between `validated/` and `quarantine/`
holds `day_lock` (a file lock on disk, a lease on S3: see storage.Storage.lock). A judged day is
committed to its new zone before it leaves the old one, and `verdicts` (which `days` and `coverage`
read) finds it in exactly one zone whenever anyone looks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import io
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

import pandas as pd

from nightshift import __version__
from nightshift.data.storage import Storage
from nightshift.failures import DataError, InfraError
from nightshift.spec import check_name

ZONES = ("raw", "validated", "quarantine", "features", "predictions")
VERDICT_ZONES = ("validated", "quarantine")  # a judged day is in exactly one of them
LOCKS = "_locks"
LOCK_WAIT = dt.timedelta(minutes=5)
DATA_FILE = "data.parquet"
MANIFEST = "_SUCCESS"
# A commit folder without a manifest older than this is debris from a crashed write.
ABANDONED_AFTER = dt.timedelta(hours=1)


def storage_errors(method):
    """Storage failures (disk, S3 endpoint, permissions) become retryable InfraErrors naming the lake."""
    @functools.wraps(method)
    def wrapper(self: Lake, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except FileNotFoundError:
            raise
        except OSError as err:
            raise InfraError(f"lake {self.storage.root_uri}: {method.__name__} failed: {err}", kind="storage",
                             evidence=self.storage.configured_by()) from err
    return wrapper


@dataclass(frozen=True)
class Coverage:
    """The days of a date range by state: training reads the validated ones and reports the others."""

    validated: list[dt.date]
    quarantined: list[dt.date]
    missing: list[dt.date]


@dataclass(frozen=True)
class Lake:
    storage: Storage

    @classmethod
    def from_uri(cls, uri: str) -> Lake:
        return cls(Storage.for_uri(uri))

    @classmethod
    def from_env(cls) -> Lake:
        from nightshift.settings import Settings

        return cls.from_uri(Settings.from_env().lake_uri)

    def partition_key(self, zone: str, dataset: str, day: dt.date) -> str:
        return f"{self._dataset_key(zone, dataset)}/date={day.isoformat()}"

    @staticmethod
    def _dataset_key(zone: str, dataset: str) -> str:
        """`<zone>/<dataset>`, the folder of every key of a dataset; a dataset that is not a NAME is refused."""
        if zone not in ZONES:
            raise ValueError(f"unknown zone {zone!r}; zones are {ZONES}")
        return f"{zone}/{check_name(dataset, 'dataset')}"

    def uri(self, zone: str, dataset: str, day: dt.date) -> str:
        return self.storage.uri(self.partition_key(zone, dataset, day))

    def file_uri(self, zone: str, dataset: str, day: dt.date, name: str) -> str:
        """Where a committed file of the partition (the data, a report) lives."""
        return self.storage.uri(self._committed_key(zone, dataset, day, name))

    @storage_errors
    def write_partition(
        self,
        zone: str,
        dataset: str,
        day: dt.date,
        frame: pd.DataFrame,
        *,
        attachments: dict[str, str | bytes] | None = None,
        **manifest_extra: object,
    ) -> dict:
        """Commit `frame` (and attachments such as reports) as one day, replacing that day whole."""
        partition = self.partition_key(zone, dataset, day)
        # Commit ids sort by time to the microsecond: `verdicts` takes the newer of a day's two commits.
        commit = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
        files = {DATA_FILE: parquet_bytes(frame)}
        files.update({name: body.encode() if isinstance(body, str) else body
                      for name, body in (attachments or {}).items()})
        manifest = {
            "rows": len(frame),
            "columns": list(map(str, frame.columns)),
            "schema": {str(column): str(dtype) for column, dtype in frame.dtypes.items()},
            "checksum": content_checksum(frame),
            "code_version": __version__,
            "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **manifest_extra,
            "commit": commit,
            "files": sorted(files),
        }
        previous = (self.manifest(zone, dataset, day) or {}).get("commit")
        for name, body in files.items():
            self.storage.put(f"{partition}/{commit}/{name}", body)
        self.storage.put(f"{partition}/{MANIFEST}", json.dumps(manifest, indent=2, default=str).encode())
        self._sweep(partition, commit, previous)
        return manifest

    @storage_errors
    def manifest(self, zone: str, dataset: str, day: dt.date) -> dict | None:
        try:
            return json.loads(self.storage.get(f"{self.partition_key(zone, dataset, day)}/{MANIFEST}"))
        except FileNotFoundError:
            return None

    @storage_errors
    def days(self, zone: str, dataset: str) -> list[dt.date]:
        """Committed days of a dataset in a zone, oldest first (validated/ and quarantine/: as `verdicts`
        sees them)."""
        if zone in VERDICT_ZONES:
            return sorted(day for day, found in self.verdicts(dataset).items() if found == zone)
        return sorted(self._committed_days(zone, dataset))

    @storage_errors
    def verdicts(self, dataset: str) -> dict[dt.date, str]:
        """The zone of every judged day, `validated` or `quarantine`, in one look. A day being moved is
        committed to its new zone before it leaves the old one, so listing validated/, quarantine/ and
        validated/ again finds it at least once; found in both, it is where its newer commit is."""
        validated = self._committed_days("validated", dataset)
        quarantined = self._committed_days("quarantine", dataset)
        validated |= self._committed_days("validated", dataset)
        zones = dict.fromkeys(validated, "validated") | dict.fromkeys(quarantined, "quarantine")
        for day in validated & quarantined:
            commits = {zone: (self.manifest(zone, dataset, day) or {}).get("commit", "") for zone in VERDICT_ZONES}
            zones[day] = max(commits, key=commits.__getitem__)
        return zones

    def _committed_days(self, zone: str, dataset: str) -> set[dt.date]:
        suffix = f"/{MANIFEST}"
        return {dt.date.fromisoformat(key.removesuffix(suffix).rsplit("date=", 1)[1])
                for key in self.storage.list(f"{self._dataset_key(zone, dataset)}/")
                if key.endswith(suffix) and key.count("/") == 3}

    def day_lock(self, dataset: str, day: dt.date) -> contextlib.AbstractContextManager[None]:
        """The day's lock, held while its raw rows are written or it is judged: one writer per day of a
        dataset, across processes and machines. Waits up to LOCK_WAIT for another writer; one that died
        holding it gives it up by itself (Storage.lock)."""
        return self.storage.lock(f"{LOCKS}/{check_name(dataset, 'dataset')}/{day.isoformat()}",
                                 wait=LOCK_WAIT.total_seconds())

    @storage_errors
    def read_attachment(self, zone: str, dataset: str, day: dt.date, name: str) -> bytes:
        return self.storage.get(self._committed_key(zone, dataset, day, name))

    @storage_errors
    def read_partition(self, zone: str, dataset: str, day: dt.date, columns: list[str] | None = None) -> pd.DataFrame:
        """The committed rows of one day (only `columns`, if given). If a newer commit replaces the day
        while it is being read, the newer one is read."""
        try:
            return self._read_data(zone, dataset, day, columns)
        except FileNotFoundError:
            try:
                return self._read_data(zone, dataset, day, columns)
            except FileNotFoundError as err:
                raise InfraError(f"{self.uri(zone, dataset, day)}: replaced twice while reading ({err})",
                                 kind="storage") from None

    def _read_data(self, zone: str, dataset: str, day: dt.date, columns: list[str] | None) -> pd.DataFrame:
        return read_parquet(self.storage, self._committed_key(zone, dataset, day, DATA_FILE), columns)

    def read_days(
        self, zone: str, dataset: str, days: Iterable[dt.date], columns: list[str] | None = None
    ) -> pd.DataFrame:
        """Concatenate committed days (only `columns`, if given) with a `date` column added."""
        frames = [
            self.read_partition(zone, dataset, day, columns).assign(date=pd.Timestamp(day)) for day in days
        ]
        if not frames:
            raise DataError(f"{self.storage.uri(f'{zone}/{dataset}')}: no days to read", kind="empty_window")
        return pd.concat(frames, ignore_index=True)

    def coverage(self, dataset: str, first: dt.date, last: dt.date) -> Coverage:
        """Which days from `first` to `last` (inclusive) are validated, quarantined, or missing."""
        wanted = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        zones = self.verdicts(dataset)
        return Coverage(validated=[d for d in wanted if zones.get(d) == "validated"],
                        quarantined=[d for d in wanted if zones.get(d) == "quarantine"],
                        missing=[d for d in wanted if d not in zones])

    @storage_errors
    def keep_unreadable(self, dataset: str, source_uri: str, data: bytes, reason: str) -> str:
        """Keep a source file that could not be parsed, byte for byte, in quarantine/<dataset>/unreadable/
        with why; returns where."""
        name = f"{hashlib.sha256(data).hexdigest()[:12]}-{PurePosixPath(source_uri).name}"
        key = f"{self._dataset_key('quarantine', dataset)}/unreadable/{name}"
        self.storage.put(key, data)
        self.storage.put(f"{key}.report.json", json.dumps(
            {"source": source_uri, "bytes": len(data), "error": reason,
             "kept_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}, indent=2).encode())
        return self.storage.uri(key)

    @storage_errors
    def remove_partition(self, zone: str, dataset: str, day: dt.date) -> bool:
        """Make a day invisible (its manifest goes first), then delete its files."""
        partition = self.partition_key(zone, dataset, day)
        keys = self.storage.list(f"{partition}/")
        if not keys:
            return False
        self.storage.delete([f"{partition}/{MANIFEST}"])
        self.storage.delete(keys)
        return True

    def _committed_key(self, zone: str, dataset: str, day: dt.date, name: str) -> str:
        """The key of a file of the day's current commit."""
        manifest = self.manifest(zone, dataset, day)
        if manifest is None:
            raise DataError(f"{self.uri(zone, dataset, day)}: no committed partition", kind="missing_partition")
        return f"{self.partition_key(zone, dataset, day)}/{manifest['commit']}/{name}"

    def _sweep(self, partition: str, current: str, previous: str | None) -> None:
        """Delete the files of the commit just replaced, and of abandoned ones. Recent commits without a
        manifest may belong to a writer still at work and are left alone."""
        cutoff = f"{dt.datetime.now(dt.UTC) - ABANDONED_AFTER:%Y%m%dT%H%M%S}"
        stale = [key for key in self.storage.list(f"{partition}/")
                 if key.count("/") == 4 and (commit := key.split("/")[3]) != current
                 and (commit == previous or commit < cutoff)]
        self.storage.delete(stale)


def content_checksum(frame: pd.DataFrame) -> str:
    """A checksum of the rows and schema, independent of how the parquet file happens to be encoded."""
    digest = hashlib.sha256(json.dumps({str(c): str(t) for c, t in frame.dtypes.items()}).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def read_parquet(storage: Storage, key: str, columns: list[str] | None = None) -> pd.DataFrame:
    with storage.open(key) as f:
        # A local file is seekable: pyarrow reads only the wanted columns' chunks.
        return pd.read_parquet(f if f.seekable() else io.BytesIO(f.read()), columns=columns)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
