import pandas as pd
import pytest

from nightshift.failures import DataError
from nightshift.model.features import build_features, make_target, source_columns


def raw_rows() -> pd.DataFrame:
    return pd.DataFrame({
        "date": pd.to_datetime(["2013-02-04", "2013-02-05", "2013-02-05"]),
        "month": [2, 2, 2], "sched_dep_time": [515, 1340, 2359], "distance": [1400, 200, 800],
        "carrier": ["UA", "AA", "B6"], "origin": ["EWR", "JFK", "LGA"], "dest": ["IAH", "BOS", "MIA"],
        "tailnum": ["N1", "N2", "N9"], "time_hour": ["t1", "t2", "t3"], "arr_delay": [30.0, 3.0, None],
    })


@pytest.fixture
def lookups() -> dict[str, pd.DataFrame]:
    weather = pd.DataFrame({"origin": ["EWR", "JFK", "JFK"], "time_hour": ["t1", "t2", "t2"],
                            "temp": [30.0, 40.0, 99.0], "humid": 50.0, "wind_speed": 5.0, "precip": 0.0,
                            "visib": 10.0, "pressure": 1012.0})
    planes = pd.DataFrame({"tailnum": ["N1", "N2"], "plane_year": [2003, 2010], "seats": [180, 50]})
    return {"weather": weather, "planes": planes}


def test_features_join_lookups_and_derive_columns(spec, lookups):
    data = build_features(spec, raw_rows(), lookups)
    assert data.X.columns.tolist() == spec.features.columns
    assert data.X["dep_hour"].tolist() == [5, 13, 23]
    assert data.X["day_of_week"].tolist() == [0, 1, 1]           # Monday, Tuesday
    assert data.X["plane_age"].tolist()[:2] == [10, 3]
    assert data.X["temp"].tolist()[:2] == [30.0, 40.0]          # first reading of a repeated key
    assert pd.isna(data.X.loc[2, "temp"]) and pd.isna(data.X.loc[2, "seats"])  # no match: missing, row kept


def test_cancelled_flights_count_as_late(spec, lookups):
    data = build_features(spec, raw_rows(), lookups)
    assert data.y.tolist() == [1, 0, 1]
    assert data.dropped_unknown_target == 0


def test_unknown_targets_are_dropped_and_counted_when_the_spec_says_drop(spec):
    dropping = spec.model_copy(update={"target": spec.target.model_copy(update={"missing": "drop"})})
    target, known = make_target(dropping, pd.Series([16.0, 15.0, None]))
    assert target[known].tolist() == [1, 0]
    assert known.tolist() == [True, True, False]


def test_a_bad_derived_expression_names_the_feature(spec, lookups):
    broken = spec.model_copy(update={"features": spec.features.model_copy(
        update={"derived": {**spec.features.derived, "dep_hour": "sched_dep_tme // 100"}})})
    with pytest.raises(DataError, match=r"features.derived.dep_hour: cannot evaluate 'sched_dep_tme // 100'"):
        build_features(broken, raw_rows(), lookups)


def test_training_reads_only_the_columns_it_needs(spec):
    available = [*raw_rows().columns, "dep_delay", "air_time", "year", "day"]
    needed = source_columns(spec, available)
    assert "dep_delay" not in needed and "air_time" not in needed
    assert {"sched_dep_time", "tailnum", "time_hour", "origin", "arr_delay", "month"} <= set(needed)
