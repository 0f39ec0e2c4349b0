"""History-aware checks: a day compared with its trailing window of validated days.

Fixed expectations cannot tell a blizzard from a normal day without hard-coded dates or bounds loose
enough to miss it; comparing each day with the days before it can. Declared under `history:` in the
dataset's suite file, with tolerances; each check has a severity like any expectation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from nightshift.model.metrics import psi


@dataclass(frozen=True)
class Measure:
    column: str
    value: float
    explanation: str
    sample: list


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    severity: Literal["block", "warn"] = "block"
    why: str = ""

    def limit(self) -> float:
        raise NotImplementedError

    def measure(self, day: dt.date, frame: pd.DataFrame, past: pd.DataFrame) -> Iterator[Measure]:
        raise NotImplementedError


def _present(columns: list[str], frame: pd.DataFrame, past: pd.DataFrame) -> list[str]:
    """Columns both sides have; a missing column is the schema expectation's finding, not a history one."""
    return [column for column in columns if column in frame.columns and column in past.columns]


class Volume(_Check):
    """The day's row count against the median of earlier days (of the same weekday, by default)."""

    type: Literal["volume"]
    max_relative_change: float = Field(gt=0)
    same_weekday: bool = True

    def limit(self) -> float:
        return self.max_relative_change

    def measure(self, day, frame, past):
        daily = past.groupby("date").size()
        if self.same_weekday:
            daily = daily[pd.DatetimeIndex(daily.index).day_of_week == day.weekday()]
        if not daily.empty:
            usual = float(daily.median())
            change = abs(len(frame) / usual - 1)
            yield Measure("", change, f"{len(frame)} rows, {change:.0%} away from the usual {usual:.0f} "
                                      f"(allowed {self.limit():.0%})", [])


class NullRate(_Check):
    """The day's null fraction per column against the trailing window's, in absolute points."""

    type: Literal["null_rate"]
    columns: list[str] = Field(min_length=1)
    max_increase: float = Field(gt=0, le=1)

    def limit(self) -> float:
        return self.max_increase

    def measure(self, day, frame, past):
        for column in _present(self.columns, frame, past):
            now, before = frame[column].isna().mean(), past[column].isna().mean()
            yield Measure(column, now - before, f"null rate {now:.1%} against {before:.1%} "
                                                f"(allowed +{self.limit() * 100:.0f} points)", [])


class CategoryMix(_Check):
    """Total variation distance between the day's category shares and the trailing window's."""

    type: Literal["category_mix"]
    columns: list[str] = Field(min_length=1)
    max_distance: float = Field(gt=0, le=1)

    def limit(self) -> float:
        return self.max_distance

    def measure(self, day, frame, past):
        for column in _present(self.columns, frame, past):
            gap = frame[column].value_counts(normalize=True).sub(
                past[column].value_counts(normalize=True), fill_value=0).abs()
            distance = float(gap.sum() / 2)
            yield Measure(column, distance, f"category shares moved by {distance:.3f} total variation "
                                            f"(allowed {self.limit():.3f}); most moved first in sample",
                          gap.sort_values(ascending=False).index[:3].tolist())


class Distribution(_Check):
    """Population stability index of a numeric column, on the deciles of the trailing window."""

    type: Literal["distribution"]
    columns: list[str] = Field(min_length=1)
    max_psi: float = Field(gt=0)

    def limit(self) -> float:
        return self.max_psi

    def measure(self, day, frame, past):
        for column in _present(self.columns, frame, past):
            value = psi(*(pd.to_numeric(side[column], errors="coerce").dropna().to_numpy(float)
                          for side in (past, frame)))
            yield Measure(column, value, f"distribution shifted: PSI {value:.3f} (allowed {self.limit():.3f})", [])


class History(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    window_days: int = Field(28, ge=2, le=366, description="calendar days before the day that are compared")
    min_days: int = Field(7, ge=1, description="fewer validated days in the window: checks are skipped, and said")
    checks: list[Annotated[Volume | NullRate | CategoryMix | Distribution, Field(discriminator="type")]] = Field(
        min_length=1)

    @property
    def columns(self) -> list[str]:
        return sorted({column for check in self.checks for column in getattr(check, "columns", [])})

    def window(self, day: dt.date, validated: list[dt.date]) -> list[dt.date]:
        """The validated days this day is compared with."""
        first = day - dt.timedelta(days=self.window_days)
        return [d for d in validated if first <= d < day]


def deviations(history: History, day: dt.date, frame: pd.DataFrame,
               past: pd.DataFrame) -> list[tuple[_Check, Measure]]:
    """Every (check, measure) beyond its tolerance; `past` holds the trailing days with a `date` column."""
    return [(check, measure) for check in history.checks
            for measure in check.measure(day, frame, past) if measure.value > check.limit()]
