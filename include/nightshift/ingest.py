"""Source -> raw partitions: read the rows of each requested day and commit them, one day each."""

from __future__ import annotations

import datetime as dt
import glob
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from nightshift.failures import DataError
from nightshift.lake import Lake
from nightshift.spec import ModelSpec, Source


@dataclass
class IngestResult:
    rows: dict[str, int] = field(default_factory=dict)   # ISO day -> rows committed to raw/
    empty_days: list[str] = field(default_factory=list)  # requested days the source has no rows for

    def to_xcom(self) -> dict:
        return {"rows": self.rows, "empty_days": self.empty_days}


def resolve_path(path: str) -> list[Path]:
    """Local files for a source or lookup path: a plain path, a glob, file://, or package://<pkg>/<file>.

    package:// reads data files shipped inside an installed package by location, without importing it.
    """
    parsed = urlparse(path)
    if parsed.scheme == "package":
        found = importlib.util.find_spec(parsed.netloc)
        if found is None or not found.submodule_search_locations:
            raise DataError(f"{path}: package {parsed.netloc!r} is not installed", kind="missing_source")
        pattern = str(Path(found.submodule_search_locations[0]) / parsed.path.lstrip("/"))
    elif parsed.scheme in ("", "file"):
        pattern = parsed.path if parsed.scheme else path
    else:
        raise DataError(f"{path}: unsupported scheme {parsed.scheme!r} (use a path, file:// or package://)")
    matches = sorted(Path(p) for p in glob.glob(pattern))
    if not matches:
        raise DataError(f"{path}: no file matches", kind="missing_source", hint="Check the path in the spec.")
    return matches


def read_table(path: str, file_format: str = "", columns: list[str] | None = None) -> pd.DataFrame:
    """All files behind `path` as one frame; CSV may be compressed (inferred from the extension)."""
    files = resolve_path(path)
    file_format = file_format or ("parquet" if files[0].suffix == ".parquet" else "csv")
    try:
        if file_format == "parquet":
            frames = [pd.read_parquet(f, columns=columns) for f in files]
        else:
            frames = [pd.read_csv(f, usecols=columns) for f in files]
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read as {file_format}: {err}", kind="corrupt_source") from err
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def row_dates(source: Source, frame: pd.DataFrame) -> pd.Series:
    """The calendar date of each source row, from one date column or [year, month, day]."""
    missing = [c for c in source.date_columns if c not in frame.columns]
    if missing:
        raise DataError(f"{source.path}: date column(s) {missing} not found; columns are {list(frame.columns)}",
                        kind="schema")
    cols = source.date_columns
    if len(cols) == 3:
        stamps = pd.to_datetime(frame[cols].set_axis(["year", "month", "day"], axis=1), errors="coerce")
    else:
        stamps = pd.to_datetime(frame[cols[0]], errors="coerce", utc=True).dt.tz_localize(None)
    bad = int(stamps.isna().sum())
    if bad:
        raise DataError(f"{source.path}: {bad} rows have no valid date in {cols}", kind="schema")
    return stamps.dt.date


def ingest_days(spec: ModelSpec, lake: Lake, days: list[dt.date]) -> IngestResult:
    """Commit the source rows of each day to raw/; idempotent (a day is replaced whole).

    The source is read once per call, so callers pass a chunk of days, not one day at a time.
    Days without rows are reported, never committed as empty partitions.
    """
    frame = read_table(spec.source.path, spec.source.format)
    dates = row_dates(spec.source, frame)
    result = IngestResult()
    for day in sorted(days):
        rows = frame[dates == day]
        if rows.empty:
            result.empty_days.append(day.isoformat())
            continue
        lake.write_partition("raw", spec.source.dataset, day, rows.reset_index(drop=True), source=spec.source.path)
        result.rows[day.isoformat()] = len(rows)
    return result
