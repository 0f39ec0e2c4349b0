"""The lake: day-partitioned parquet, `<zone>/<dataset>/date=YYYY-MM-DD/`, with atomic commits.

A partition is visible only when complete: its files are written under a temporary name, the
`_SUCCESS` manifest (row count, checksum, columns, time) last, then the directory is renamed into
place. Re-writing a day replaces it whole. Readers see committed partitions only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from nightshift import __version__
from nightshift.failures import DataError, InfraError

ZONES = ("raw", "validated", "quarantine", "features", "predictions")
DATA_FILE = "part-0.parquet"
MANIFEST = "_SUCCESS"


@dataclass(frozen=True)
class Lake:
    root: Path

    @classmethod
    def from_uri(cls, uri: str) -> Lake:
        parsed = urlparse(uri)
        if parsed.scheme not in ("", "file"):
            raise InfraError(f"lake URI {uri!r}: only file:// lakes are supported so far", kind="storage")
        return cls(Path(parsed.path if parsed.scheme else uri))

    @classmethod
    def from_env(cls) -> Lake:
        from nightshift.settings import Settings

        return cls.from_uri(Settings.from_env().lake_uri)

    def partition_dir(self, zone: str, dataset: str, day: dt.date) -> Path:
        if zone not in ZONES:
            raise ValueError(f"unknown zone {zone!r}; zones are {ZONES}")
        return self.root / zone / dataset / f"date={day.isoformat()}"

    def uri(self, zone: str, dataset: str, day: dt.date) -> str:
        return f"file://{self.partition_dir(zone, dataset, day)}"

    def write_partition(
        self,
        zone: str,
        dataset: str,
        day: dt.date,
        frame: pd.DataFrame,
        *,
        attachments: dict[str, str] | None = None,
        **manifest_extra: object,
    ) -> dict:
        """Commit `frame` (and text attachments such as reports) as one day; replaces that day whole."""
        final = self.partition_dir(zone, dataset, day)
        staging = final.with_name(f".staging-{final.name}-{uuid.uuid4().hex}")
        try:
            staging.mkdir(parents=True)
            frame.to_parquet(staging / DATA_FILE, index=False)
            for name, text in (attachments or {}).items():
                (staging / name).write_text(text)
            manifest = {
                "rows": len(frame),
                "columns": list(map(str, frame.columns)),
                "checksum": "sha256:" + hashlib.sha256((staging / DATA_FILE).read_bytes()).hexdigest(),
                "code_version": __version__,
                "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                **manifest_extra,
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
            _swap_into_place(staging, final)
        except OSError as err:
            shutil.rmtree(staging, ignore_errors=True)
            raise InfraError(f"cannot write partition {final}: {err}", kind="storage") from err
        return manifest

    def manifest(self, zone: str, dataset: str, day: dt.date) -> dict | None:
        path = self.partition_dir(zone, dataset, day) / MANIFEST
        return json.loads(path.read_text()) if path.exists() else None

    def days(self, zone: str, dataset: str) -> list[dt.date]:
        """Committed days of a dataset in a zone, oldest first."""
        base = self.root / zone / dataset
        return sorted(
            dt.date.fromisoformat(path.parent.name.removeprefix("date="))
            for path in base.glob(f"date=*/{MANIFEST}")
        )

    def read_partition(self, zone: str, dataset: str, day: dt.date, columns: list[str] | None = None) -> pd.DataFrame:
        folder = self.partition_dir(zone, dataset, day)
        if not (folder / MANIFEST).exists():
            raise DataError(f"{folder}: no committed partition", kind="missing_partition")
        return pd.read_parquet(folder / DATA_FILE, columns=columns)

    def read_days(
        self, zone: str, dataset: str, days: Iterable[dt.date], columns: list[str] | None = None
    ) -> pd.DataFrame:
        """Concatenate committed days (only `columns`, if given) with a `date` column added."""
        frames = [
            self.read_partition(zone, dataset, day, columns).assign(date=pd.Timestamp(day)) for day in days
        ]
        if not frames:
            raise DataError(f"{self.root / zone / dataset}: no days to read", kind="empty_window")
        return pd.concat(frames, ignore_index=True)

    def remove_partition(self, zone: str, dataset: str, day: dt.date) -> bool:
        folder = self.partition_dir(zone, dataset, day)
        if not folder.exists():
            return False
        shutil.rmtree(folder)
        return True


def _swap_into_place(staging: Path, final: Path) -> None:
    """Rename a complete staging folder over the final one; readers never see a mix of the two."""
    if final.exists():
        retired = final.with_name(f".retired-{final.name}-{uuid.uuid4().hex}")
        final.rename(retired)
        staging.rename(final)
        shutil.rmtree(retired)
    else:
        staging.rename(final)
