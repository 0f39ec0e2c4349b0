"""Rolling aggregates: each aggregation against a brute-force per-row computation over a small lake with gaps
and a quarantined day; materialised tables reused while fresh and recomputed when their history changes."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from nightshift.data.lake import Lake
from nightshift.failures import DataError
from nightshift.model import aggregates
from nightshift.model.features import aggregate_parts, join_aggregates
from nightshift.spec import ModelSpec, rows_column

START = dt.date(2013, 3, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(14)]
QUARANTINED, MISSING = DAYS[5], DAYS[8]
AGGREGATES = {
    "rows_3d": {"by": ["carrier"], "agg": "count", "window_days": 3},
    "delays_3d": {"by": ["carrier"], "agg": "count", "column": "dep_delay", "window_days": 3},
    "sum_4d": {"by": ["carrier", "origin"], "agg": "sum", "column": "dep_delay", "window_days": 4, "lag_days": 2},
    "mean_5d": {"by": ["carrier"], "agg": "mean", "column": "dep_delay", "window_days": 5, "min_rows": 4},
    "median_7d": {"by": ["origin"], "agg": "median", "column": "dep_delay", "window_days": 7},
    "std_2d": {"by": ["carrier", "origin"], "agg": "std", "column": "distance", "window_days": 2, "lag_days": 0},
    "early_rate_3d": {"by": ["origin"], "agg": "rate", "column": "dep_delay", "rule": "< 0", "window_days": 3},
    "late_rate_6d": {"by": ["carrier"], "agg": "rate", "column": "arr_delay", "window_days": 6},
}


def with_aggregates(spec: ModelSpec, declared: dict, **features) -> ModelSpec:
    data = spec.model_dump()
    data["features"]["aggregates"] = declared
    data["features"].update(features)
    return ModelSpec.model_validate(data)


def day_rows(day: dt.date, rng: np.random.Generator) -> pd.DataFrame:
    rows = int(rng.integers(5, 30))
    delays = rng.normal(5, 20, rows).round()
    delays[rng.random(rows) < 0.15] = np.nan
    arrivals = delays + rng.normal(0, 10, rows).round()
    return pd.DataFrame({
        "carrier": rng.choice(["UA", "AA", "B6", None], rows, p=[0.45, 0.3, 0.2, 0.05]),
        "origin": rng.choice(["EWR", "JFK", "LGA"], rows),
        "dep_delay": delays, "arr_delay": arrivals, "distance": rng.integers(100, 2500, rows),
    })


@pytest.fixture
def history_lake(tmp_path) -> Lake:
    """Validated days with a quarantined and a missing one; the quarantined day's rows must never count."""
    lake = Lake.from_uri((tmp_path / "lake").as_uri())
    rng = np.random.default_rng(7)
    for day in DAYS:
        if day != MISSING:
            zone = "quarantine" if day == QUARANTINED else "validated"
            lake.write_partition(zone, "flights", day, day_rows(day, rng))
    return lake


@pytest.fixture
def aggregated(spec) -> ModelSpec:
    return with_aggregates(spec.model_copy(update={"source": spec.source.model_copy(update={"start_date": START})}),
                           AGGREGATES)


def brute_force(spec: ModelSpec, history: pd.DataFrame, row: pd.Series, name: str) -> tuple[float, int]:
    """One row's aggregate, the slow obvious way: filter the history, then aggregate."""
    aggregate = spec.features.aggregates[name]
    before, after = aggregate.history_days()
    day = row["date"]
    window = history[(history["date"] >= day - pd.Timedelta(days=before))
                     & (history["date"] <= day - pd.Timedelta(days=after))]
    for key in aggregate.by:
        window = window[window[key] == row[key]]
    if aggregate.column is None:
        return float(len(window)), len(window)
    values = window[aggregate.column].dropna()
    if aggregate.agg == "count":
        return float(len(values)), len(values)
    if aggregate.agg == "rate":
        rule = aggregate.rule or spec.target.rule
        values = values.map(lambda v: float(eval(f"{v} {rule}")))
        if aggregate.rule is None:  # the target: a missing delay counts as late (target.missing: positive)
            values = pd.concat([values, pd.Series(1.0, index=window.index[window[aggregate.column].isna()])])
    value = {"sum": values.sum, "mean": values.mean, "median": values.median, "std": values.std,
             "rate": values.mean}[aggregate.agg]()
    return (float(value) if len(values) >= aggregate.min_rows else np.nan), len(values)


def test_each_aggregation_equals_a_brute_force_computation_per_row(aggregated, history_lake):
    validated = [day for day in DAYS if day not in (QUARANTINED, MISSING)]
    history = history_lake.read_days("validated", "flights", validated)
    scored = history_lake.read_days("validated", "flights", validated[3:])
    tables = aggregates.day_tables(aggregated, history_lake, validated[3:])
    joined = join_aggregates(aggregated, scored, aggregate_parts(aggregated, tables.frame))
    assert len(joined) == len(scored)
    checked = 0
    for _, row in joined.iterrows():
        for name in AGGREGATES:
            if any(pd.isna(row[key]) for key in aggregated.features.aggregates[name].by):
                assert row[rows_column(name)] == 0  # no group: no history
                continue
            value, rows = brute_force(aggregated, history, row, name)
            assert row[rows_column(name)] == rows, (name, row["date"], row.to_dict())
            np.testing.assert_allclose(row[name], value, rtol=1e-9, err_msg=f"{name} on {row['date']}")
            checked += 1
    assert checked > 1000


def test_gaps_are_left_out_and_reported_and_a_cold_start_gets_missing_values(aggregated, history_lake):
    tables = aggregates.day_tables(aggregated, history_lake, [DAYS[9]])
    assert tables.left_out == {QUARANTINED: "quarantined", MISSING: "missing"}
    first = aggregates.day_tables(aggregated, history_lake, [DAYS[0]])
    assert first.left_out == {}  # before the source's start there is nothing to miss
    scored = history_lake.read_days("validated", "flights", [DAYS[0]])
    joined = join_aggregates(aggregated, scored, aggregate_parts(aggregated, first.frame))
    assert joined["mean_5d"].isna().all() and (joined["mean_5d_rows"] == 0).all()
    assert (joined["rows_3d"] == 0).all()  # a count of no history is 0, not missing
    assert joined["std_2d"].notna().any()  # lag 0 reads the row's own day


def test_materialised_tables_are_reused_and_recomputed_when_their_history_changes(aggregated, history_lake):
    day = DAYS[9]
    written = aggregates.materialise(aggregated, history_lake, [day])
    assert day in written.computed and written.read == []
    manifest = history_lake.manifest("features", aggregated.name, day)
    assert manifest["definition"] == aggregates.definition(aggregated)
    assert manifest["left_out"] == {QUARANTINED.isoformat(): "quarantined", MISSING.isoformat(): "missing"}
    again = aggregates.day_tables(aggregated, history_lake, [day])
    assert again.read == [day] and again.computed == []
    pd.testing.assert_frame_equal(again.frame, written.frame.loc[written.frame["date"] == pd.Timestamp(day)]
                                  .reset_index(drop=True), check_dtype=False)

    # The quarantined day is released: the days whose history holds it are stale, the others are not.
    released = history_lake.read_partition("quarantine", "flights", QUARANTINED)
    history_lake.write_partition("validated", "flights", QUARANTINED, released)
    history_lake.remove_partition("quarantine", "flights", QUARANTINED)
    after = aggregates.day_tables(aggregated, history_lake, [day, DAYS[13]])
    assert after.computed == [day] and after.read == [DAYS[13]]  # only day's 7 days of history hold it


def test_a_new_day_materialises_only_the_days_whose_history_it_is(aggregated, history_lake):
    validated = history_lake.days("validated", "flights")
    aggregates.materialise(aggregated, history_lake, validated)
    history_lake.write_partition("validated", "flights", MISSING, day_rows(MISSING, np.random.default_rng(1)))
    added = aggregates.materialise(aggregated, history_lake, [MISSING])
    reach = max(a.history_days()[0] for a in aggregated.features.aggregates.values())
    assert added.computed == [day for day in history_lake.days("validated", "flights")
                              if MISSING <= day <= MISSING + dt.timedelta(days=reach)]


def test_another_definition_never_reads_a_table_it_did_not_write(aggregated, history_lake, spec):
    aggregates.materialise(aggregated, history_lake, [DAYS[9]])
    changed = with_aggregates(aggregated, {**AGGREGATES, "mean_5d": {**AGGREGATES["mean_5d"], "window_days": 6}})
    assert aggregates.day_tables(changed, history_lake, [DAYS[9]]).computed == [DAYS[9]]


def test_an_aggregate_of_a_column_the_dataset_lacks_fails_before_anything_is_written(aggregated, history_lake):
    misspelled = with_aggregates(aggregated, {**AGGREGATES,
                                              "mean_5d": {**AGGREGATES["mean_5d"], "column": "dep_dealy"}})
    with pytest.raises(DataError, match=r"features.aggregates.mean_5d.column: 'dep_dealy' is not a column of "
                                        r"validated/flights; its columns are \['arr_delay', 'carrier'"):
        aggregates.materialise(misspelled, history_lake, [DAYS[9]])
    assert history_lake.days("features", aggregated.name) == []
