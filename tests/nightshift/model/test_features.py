import numpy as np
import pandas as pd
import pytest

from nightshift.failures import DataError
from nightshift.model.features import (
    _join_as_of,
    build_features,
    make_target,
    prepare_lookup,
    read_lookups,
    source_columns,
)
from nightshift.spec import Lookup, ModelSpec, load_spec
from tests.conftest import DEMO_SPEC, without_aggregates


def raw_rows() -> pd.DataFrame:
    return pd.DataFrame({
        "date": pd.to_datetime(["2013-02-04", "2013-02-05", "2013-02-05"]),
        "month": [2, 2, 2], "sched_dep_time": [515, 1340, 2359], "distance": [1400, 200, 800],
        "carrier": ["UA", "AA", "B6"], "origin": ["EWR", "JFK", "LGA"], "dest": ["IAH", "BOS", "MIA"],
        "tailnum": ["N1", "N2", "N9"], "arr_delay": [30.0, 3.0, None],
        "time_hour": ["2013-02-04T10:00:00Z", "2013-02-05T18:00:00Z", "2013-02-06T04:00:00Z"],
    })


def raw_lookups() -> dict[str, pd.DataFrame]:
    weather = pd.DataFrame({
        "origin": ["EWR", "EWR", "JFK", "JFK", "JFK", "LGA"],
        "time_hour": ["2013-02-04T09:00:00Z", "2013-02-04T11:00:00Z",     # EWR: an hour before and after
                      "2013-02-05T18:00:00Z", "2013-02-05T18:00:00Z",     # JFK: the hour itself, twice
                      "2013-02-05T19:00:00Z",
                      "2013-02-05T23:00:00Z"],                            # LGA: 5 hours before, past 3h
        "temp": [30.0, 31.0, 40.0, 41.0, 99.0, 20.0], "humid": 50.0, "wind_speed": 5.0, "precip": 0.0,
        "visib": 10.0, "pressure": 1012.0})
    planes = pd.DataFrame({"tailnum": ["N1", "N2"], "year": [2003, 2010], "seats": [180, 50]})
    return {"weather": weather, "planes": planes}


@pytest.fixture
def spec() -> ModelSpec:
    """The demo spec without its rolling aggregates (tests/nightshift/model/test_aggregates.py has them)."""
    return ModelSpec.model_validate(without_aggregates(load_spec(DEMO_SPEC).model_dump()))


@pytest.fixture
def lookups(spec) -> dict[str, pd.DataFrame]:
    """The lookup tables as read_lookups gives them."""
    tables = raw_lookups()
    return {lookup.name: prepare_lookup(lookup, tables[lookup.name]) for lookup in spec.lookups}


def test_features_join_lookups_and_derive_columns(spec, lookups):
    data = build_features(spec, raw_rows(), lookups)
    assert data.X.columns.tolist() == spec.features.columns
    assert data.X["dep_hour"].tolist() == [5, 13, 23]
    assert data.X["day_of_week"].tolist() == [0, 1, 1]           # Monday, Tuesday
    assert data.X["plane_age"].tolist()[:2] == [10, 3]
    assert pd.isna(data.X.loc[2, "seats"])                       # no plane: missing, row kept


def test_an_as_of_lookup_takes_the_latest_row_at_or_before_the_time_never_a_later_one(spec, lookups):
    data = build_features(spec, raw_rows(), lookups)
    assert data.X["temp"].tolist()[:2] == [30.0, 40.0]  # EWR: the 09:00 reading, not 11:00; JFK: the hour's first
    assert pd.isna(data.X.loc[2, "temp"])  # LGA's reading is 5 hours old, beyond the 3-hour tolerance
    assert data.rows == 3


def test_a_row_without_a_time_gets_no_as_of_match_and_keeps_its_place(spec, lookups):
    rows = raw_rows()
    rows.loc[0, "time_hour"] = None
    data = build_features(spec, rows, lookups)
    assert pd.isna(data.X.loc[0, "temp"]) and data.X["temp"].tolist()[1] == 40.0
    assert data.X["dep_hour"].tolist() == [5, 13, 23]


def test_an_as_of_lookup_time_that_is_no_time_names_the_lookup(spec):
    weather = raw_lookups()["weather"].assign(time_hour="yesterday-ish")
    with pytest.raises(DataError, match=r"lookup weather .*as_of.lookup_time 'time_hour': not a date or time"):
        prepare_lookup(spec.lookups[0], weather)


def test_an_as_of_event_time_missing_from_the_rows_names_the_spec_key(spec, lookups):
    with pytest.raises(DataError, match=r"lookups.weather.as_of.event_time: 'time_hour' is not a column"):
        build_features(spec, raw_rows().drop(columns="time_hour"), lookups)


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


def test_an_as_of_lookup_without_its_time_column_names_the_lookup_and_its_columns(spec, tmp_path):
    path = tmp_path / "weather.csv"
    raw_lookups()["weather"].drop(columns="time_hour").to_csv(path, index=False)
    weather = spec.lookups[0].model_copy(update={"path": str(path)})
    with pytest.raises(DataError, match=r"lookup weather .*columns \['time_hour'\] not found; its columns are "
                                        r"\['humid', 'origin', 'precip'"):
        read_lookups(spec.model_copy(update={"lookups": [weather]}))


def test_a_lookup_whose_keys_repeat_on_many_rows_is_refused_naming_the_lookup_and_keys(spec):
    planes = spec.lookups[1]
    twice = pd.concat([raw_lookups()["planes"]] * 2 + [pd.DataFrame({"tailnum": [f"N{i}" for i in range(3, 20)],
                                                                    "year": 2000, "seats": 100})] * 2)
    with pytest.raises(DataError, match=r"^lookup planes \(.*planes.csv\): 19 of 38 rows repeat a key \['tailnum'\] "
                                        r"\(for example \[\{'tailnum': 'N1'\}, \{'tailnum': 'N2'\}") as error:
        prepare_lookup(planes, twice)
    assert error.value.kind == "lookup_keys" and "fix lookups.planes.keys" in error.value.hint
    few = pd.concat([raw_lookups()["planes"]] * 2)  # two repeats: the first row of each key is kept
    assert prepare_lookup(planes, few).index.tolist() == ["N1", "N2"]  # indexed by the keys


@pytest.mark.parametrize("keys", [["origin"], ["origin", "gate"], []])
def test_the_as_of_join_matches_pandas_merge_asof_row_for_row(keys):
    """Random readings and rows with repeated times, readings exactly at the tolerance, keys the lookup lacks,
    rows without a time or a key: each row gets what `pandas.merge_asof(direction="backward")` gives it."""
    rng = np.random.default_rng(7)
    start = pd.Timestamp("2013-02-04", tz="UTC")

    def some(n: int, with_gaps: bool) -> pd.DataFrame:
        times = pd.Series(start + pd.to_timedelta(rng.integers(0, 48, n) * 30, unit="min")).dt.as_unit("ns")
        frame = pd.DataFrame({"origin": rng.choice(["EWR", "JFK", "LGA", "SFO"] if with_gaps else
                                                   ["EWR", "JFK", "LGA"], n),
                              "gate": rng.choice(["A", "B"], n), "time_hour": times})
        if with_gaps:
            frame.loc[rng.choice(n, 5, replace=False), "time_hour"] = pd.NaT
            frame.loc[rng.choice(n, 5, replace=False), "origin"] = None
        return frame

    readings = some(60, with_gaps=False).drop_duplicates([*keys, "time_hour"])  # one reading per key and time
    readings = readings.assign(temp=rng.normal(size=len(readings)))
    rows = some(400, with_gaps=True)
    lookup = Lookup(name="weather", path="weather.csv", keys=keys, columns={"temp": "temp"},
                    as_of={"event_time": "time_hour", "lookup_time": "time_hour", "tolerance": "2h"})
    joined = _join_as_of(lookup, rows, prepare_lookup(lookup, readings))

    table = readings.sort_values("time_hour")
    usable = rows["time_hour"].notna() & rows[keys].notna().all(axis=1)
    expected = pd.merge_asof(rows[usable].assign(_row=np.flatnonzero(usable)).sort_values("time_hour"),
                             table[[*keys, "time_hour", "temp"]], on="time_hour", by=keys or None,
                             direction="backward", tolerance=pd.Timedelta("2h")).set_index("_row")["temp"]
    assert joined["temp"].notna().sum() > 100 and joined["temp"].isna().sum() >= 5  # both kinds are exercised
    pd.testing.assert_series_equal(joined["temp"], expected.reindex(range(len(rows))), check_names=False,
                                   check_index_type=False)


def test_a_derived_feature_may_use_an_earlier_one(spec, lookups):
    derived = {**spec.features.derived, "evening": "dep_hour >= 18"}
    features = spec.features.model_copy(update={"derived": derived, "numeric": [*spec.features.numeric, "evening"]})
    data = build_features(spec.model_copy(update={"features": features}), raw_rows(), lookups)
    assert data.X["evening"].tolist() == [0.0, 0.0, 1.0]  # 05:15, 13:40, 23:59


def test_row_keys_that_cannot_be_read_as_the_lookups_keys_name_the_lookup(spec):
    numbered = raw_lookups()["planes"].assign(tailnum=[1, 2])  # the rows' tailnums are text: "N1", ...
    lookups = {lookup.name: prepare_lookup(lookup, {**raw_lookups(), "planes": numbered}[lookup.name])
               for lookup in spec.lookups}
    with pytest.raises(DataError, match=r"lookups.planes.keys: the rows' \['tailnum'\] cannot be read as the lookup's"):
        build_features(spec, raw_rows(), lookups)
