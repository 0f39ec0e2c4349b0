"""A feature that alone predicts the target is a leak (nightshift.data.leakage); real features are not."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nightshift.data.leakage import MIN_ROWS, find_leaks


def a_day(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Flights whose arrival delay is loosely tied to distance and carrier, as real features are."""
    rng = np.random.default_rng(seed)
    distance = rng.uniform(100, 2500, rows)
    carrier = rng.choice(["UA", "AA", "DL", "B6"], rows)
    arr_delay = rng.normal(5, 30, rows) + distance / 500 + np.where(carrier == "B6", 8, 0)
    return pd.DataFrame({"distance": distance, "carrier": carrier, "arr_delay": arr_delay, "origin": "JFK"})


def test_real_features_are_not_leaks(spec):
    assert find_leaks(spec, a_day()) == []


def test_a_numeric_copy_of_the_outcome_is_a_leak_scored_by_roc_auc(spec):
    day = a_day()
    day["distance"] = day["arr_delay"] * 3 + 7    # an upstream join wrote the delay into distance
    [leak] = find_leaks(spec, day)
    assert (leak.column, leak.measure) == ("distance", "ROC AUC") and leak.score > 0.99


def test_a_category_that_spells_the_outcome_is_a_leak(spec):
    day = a_day()
    day["carrier"] = np.where(day["arr_delay"] > 15, "LATE", "ONTIME")
    assert [leak.column for leak in find_leaks(spec, day)] == ["carrier"]


def test_a_rare_category_cannot_look_perfect_by_chance(spec):
    """One row per category would predict its own row perfectly; smoothing toward the day's rate stops it."""
    day = a_day()
    day["carrier"] = [f"C{i}" for i in range(len(day))]
    assert find_leaks(spec, day) == []


def test_too_few_rows_or_no_target_column_say_nothing(spec):
    day = a_day()
    day["distance"] = day["arr_delay"]
    assert find_leaks(spec, day.head(MIN_ROWS - 1)) == []
    assert find_leaks(spec, day.drop(columns="arr_delay")) == []


def test_a_handful_of_positives_is_not_judged(spec):
    """Three late flights among 400 are told apart perfectly by many columns, by chance: too few to judge."""
    day = a_day()
    day["arr_delay"] = 0.0
    day.loc[day.index[:3], "arr_delay"] = 60.0
    day["distance"] = day["arr_delay"] * 3 + 7
    assert find_leaks(spec, day) == []
    day.loc[day.index[:MIN_ROWS], "arr_delay"] = 60.0   # with MIN_ROWS of them, the same copy is a leak
    day["distance"] = day["arr_delay"] * 3 + 7
    assert [leak.column for leak in find_leaks(spec, day)] == ["distance"]
