"""Source -> raw partitions: read the rows of each requested day and commit them, one day each.

Nothing half-read is committed: the source is read and checked whole (readable, has rows, every row
has a real date, none from the future) before any day is written. Days the source has no rows for
yet raise `SourceNotReady` (retryable: late upstream data), after the other days are committed.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from nightshift.data.lake import Lake
from nightshift.data.sources import list_files, parse, read_bytes, read_postgres
from nightshift.failures import DataError, SourceNotReady
from nightshift.spec import ModelSpec, Source


def read_source(source: Source, lake: Lake, first: dt.date, last: dt.date) -> pd.DataFrame:
    """The source rows that may fall from `first` to `last`: all of a files source, the matching rows
    of a query. An unparseable file is kept in quarantine before the error is raised."""
    if source.kind == "postgres":
        return read_postgres(source, first, last)
    frames = []
    for uri in list_files(source.path):
        data = read_bytes(uri)
        try:
            frames.append(parse(uri, data, source.format or ""))
        except DataError as err:
            kept = lake.keep_unreadable(source.dataset, uri, data, str(err))
            err.hint = f"The file as received is kept at {kept}. Fix it upstream and re-run the days."
            raise
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if frame.empty:
        raise DataError(f"{source.describe()}: has a header ({len(frame.columns)} columns) but no rows",
                        kind="empty_source")
    return frame


def row_dates(source: Source, frame: pd.DataFrame, today: dt.date | None = None) -> pd.Series:
    """The calendar date of each source row, from one date column or [year, month, day]. Rows without a
    real date, or dated after `today`, are an error naming the first few rows."""
    missing = [c for c in source.date_columns if c not in frame.columns]
    if missing:
        raise DataError(f"{_read_from(source, frame)}: date column(s) {missing} not found; columns are "
                        f"{_column_list(frame)}", kind="schema")
    cols = source.date_columns
    if len(cols) == 3:
        parts = pd.DataFrame({part: pd.to_numeric(frame[column], errors="coerce")
                              for part, column in zip(("year", "month", "day"), cols, strict=True)})
        stamps = pd.to_datetime(parts, errors="coerce")
    else:
        stamps = pd.to_datetime(frame[cols[0]], errors="coerce", utc=True).dt.tz_localize(None)
    _refuse(source, frame, stamps.isna(), f"have no valid date in {cols}")
    today = today or dt.datetime.now(dt.UTC).date()
    _refuse(source, frame, stamps.dt.date > today, f"are dated after today ({today}) in {cols}")
    return stamps.dt.date


def ingest_days(spec: ModelSpec, lake: Lake, days: list[dt.date]) -> dict[dt.date, int]:
    """Commit the source rows of each day to raw/; idempotent (a day is replaced whole). Returns the rows
    committed per day.

    The source is read once per call, so callers pass a chunk of days, not one day at a time.
    Days without rows are never committed as empty partitions: they raise SourceNotReady at the end.
    """
    days = sorted(days)
    source = spec.source
    frame = read_source(source, lake, days[0], days[-1])
    dates = row_dates(source, frame) if not frame.empty else pd.Series([], dtype=object)
    committed, empty = {}, []
    for day in days:
        rows = frame[dates == day]
        if rows.empty:
            empty.append(day.isoformat())
            continue
        with lake.day_lock(source.dataset, day):  # not while the day is being judged
            lake.write_partition("raw", source.dataset, day, rows.reset_index(drop=True), source=source.describe())
        committed[day] = len(rows)
    if empty:
        raise SourceNotReady(
            f"{_read_from(source, frame)}: no rows yet for {', '.join(empty)}", kind="late_data",
            hint=f"Upstream data is late or missing; the task retries. The other {len(committed)} days were "
                 "written to raw/. If the days will never come, leave them out of the run's range.")
    return committed


def _refuse(source: Source, frame: pd.DataFrame, bad: pd.Series, problem: str) -> None:
    if count := int(bad.sum()):
        rows = frame.index[bad.to_numpy()][:5].tolist()
        raise DataError(f"{_read_from(source, frame)}: {count} rows {problem}; first at row(s) {rows} "
                        "(0-based, after the header)", kind="bad_dates",
                        evidence=frame.loc[rows].to_string(max_colwidth=40)[:2000])


def _read_from(source: Source, frame: pd.DataFrame) -> str:
    return f"{source.describe()} ({len(frame):,} rows read)"


def _column_list(frame: pd.DataFrame) -> str:
    names = list(map(str, frame.columns))
    shown = ", ".join(n if len(n) <= 40 else n[:40] + "..." for n in names[:25])
    return f"[{shown}{', ...' if len(names) > 25 else ''}] ({len(names)} columns)"
