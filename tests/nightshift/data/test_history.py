"""History checks on small frames: each flags a day that moved beyond its tolerance, and only then."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from nightshift.data.history import History, deviations
from nightshift.model.metrics import psi

DAY = dt.date(2013, 2, 8)


def past_days(rows: int = 500, days: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.concat([pd.DataFrame({"carrier": rng.choice(["UA", "AA", "B6"], rows),
                                    "distance": rng.normal(1000, 300, rows),
                                    "date": pd.Timestamp(DAY - dt.timedelta(days=d))}) for d in range(1, days + 1)])


def checks(*declared) -> History:
    return History.model_validate({"checks": list(declared)})


def test_a_new_category_mix_is_flagged_with_the_categories_that_moved():
    history = checks({"type": "category_mix", "columns": ["carrier"], "max_distance": 0.1, "severity": "warn"})
    usual = past_days().drop(columns="date").head(500)
    assert deviations(history, DAY, usual, past_days()) == []
    shifted = usual.assign(carrier=["WN"] * 300 + ["UA"] * 200)
    ((check, measure),) = deviations(history, DAY, shifted, past_days())
    assert check.severity == "warn" and measure.column == "carrier" and measure.sample[0] == "WN"
    assert "total variation" in measure.explanation


def test_a_shifted_distribution_is_flagged_by_psi():
    history = checks({"type": "distribution", "columns": ["distance"], "max_psi": 0.2})
    same = past_days(days=1).assign(date=pd.Timestamp(DAY))
    assert deviations(history, DAY, same, past_days()) == []
    longer = same.assign(distance=same["distance"] + 600)
    ((_, measure),) = deviations(history, DAY, longer, past_days())
    assert measure.value > 1 and "PSI" in measure.explanation


def test_psi_of_identical_samples_is_zero_and_grows_with_the_shift():
    sample = np.random.default_rng(0).normal(size=5000)
    assert psi(sample, sample) == pytest.approx(0, abs=1e-9)
    assert psi(sample, sample + 0.1) < psi(sample, sample + 0.5) < psi(sample, sample + 1.0)
