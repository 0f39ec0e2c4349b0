from pathlib import Path

import pytest
import yaml

from nightshift.spec import SpecError, load_models_folder, load_spec
from tests.conftest import DEMO_SPEC


def write_spec(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load(DEMO_SPEC.read_text())
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        node = data
        for parent in parents:
            node = node[parent]
        if value is None:
            del node[key]
        else:
            node[key] = value
    path = tmp_path / "flights_delay.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_demo_spec_loads_with_defaults(spec):
    assert spec.name == "flights_delay"
    assert spec.task == "classification"
    assert spec.schedule.ingest_chunk_days == 31  # default from the dataclass, not the file
    assert "dep_delay" in spec.never_features
    assert len(spec.spec_hash) == 12


def test_a_leaking_feature_is_refused(tmp_path):
    features = yaml.safe_load(DEMO_SPEC.read_text())["features"]
    features["numeric"].append("dep_delay")
    with pytest.raises(SpecError, match=r"\['dep_delay'\] are listed as never_features"):
        load_spec(write_spec(tmp_path, features=features))


def test_a_derived_feature_computed_from_the_target_is_refused(tmp_path):
    features = yaml.safe_load(DEMO_SPEC.read_text())["features"]
    features["derived"]["delay_bucket"] = "arr_delay // 30"
    features["numeric"].append("delay_bucket")
    with pytest.raises(SpecError, match=r"features.derived.delay_bucket: uses \['arr_delay'\]"):
        load_spec(write_spec(tmp_path, features=features))


def test_a_source_is_files_or_postgres_never_half_of_each(tmp_path):
    with pytest.raises(SpecError, match="a files source takes `path`"):
        load_spec(write_spec(tmp_path, source__conn_id="flights_db"))
    with pytest.raises(SpecError, match="a postgres source takes `conn_id` and exactly one of `table` or `query`"):
        load_spec(write_spec(tmp_path, source__kind="postgres", source__path=None, source__format=None,
                             source__conn_id="flights_db"))


def test_unknown_gate_metric_lists_known_ones(tmp_path):
    allowed = r"allowed: \['accuracy', 'brier', 'log_loss', 'roc_auc'\]"
    with pytest.raises(SpecError, match=rf"unknown metric 'f1'.*{allowed}"):
        load_spec(write_spec(tmp_path, gate__primary_metric="f1"))


def test_bad_target_rule_is_refused(tmp_path):
    with pytest.raises(SpecError, match=r"target.rule: .*'more than 15'"):
        load_spec(write_spec(tmp_path, target__rule="more than 15"))


def test_spec_name_must_match_its_file(tmp_path):
    path = write_spec(tmp_path)
    path.rename(tmp_path / "other.yaml")
    with pytest.raises(SpecError, match="must equal the file name 'other'"):
        load_spec(tmp_path / "other.yaml")


def test_all_shipped_specs_load():
    folder = load_models_folder(DEMO_SPEC.parent)
    assert sorted(folder.specs) == ["arrival_delay", "flights_delay"] and folder.broken == {}


def test_a_spec_that_does_not_load_is_kept_apart_with_its_error(tmp_path):
    write_spec(tmp_path)
    (tmp_path / "typo.yaml").write_text("name: typo\nwindows: [\n")
    folder = load_models_folder(tmp_path)
    assert list(folder.specs) == ["flights_delay"]
    assert f"{tmp_path / 'typo.yaml'}: cannot read the spec" in str(folder.broken["typo"])


def test_a_changed_copy_has_its_own_hash(spec):
    changed = spec.model_copy(update={"windows": spec.windows.model_copy(update={"train_days": 7})})
    assert changed.spec_hash != spec.spec_hash


def test_approval_is_auto_or_manual_with_a_positive_timeout(tmp_path):
    assert load_spec(write_spec(tmp_path, gate__approval="manual")).gate.approval == "manual"
    with pytest.raises(SpecError, match=r"gate.approval: must be 'auto' or 'manual', got 'maybe'"):
        load_spec(write_spec(tmp_path, gate__approval="maybe"))
    with pytest.raises(SpecError, match=r"gate.approval_timeout_hours: must be > 0, got 0"):
        load_spec(write_spec(tmp_path, gate__approval_timeout_hours=0))


@pytest.mark.parametrize(("key", "refused"), [
    ("windows__holdout_days", 0),
    ("monitoring__window_days", 0),
    ("schedule__ingest_chunk_days", 0),
    ("schedule__task_timeout_minutes", 0),
])
def test_a_zero_window_or_timeout_is_refused_naming_the_key(tmp_path, key, refused):
    with pytest.raises(SpecError, match=rf"{key.replace('__', '.')}: must be >= 1, got {refused}"):
        load_spec(write_spec(tmp_path, **{key: refused}))


def test_an_empty_slice_list_is_refused(tmp_path):
    with pytest.raises(SpecError, match=r"gate.slices.columns: List should have at least 1 item.*, got \[\]"):
        load_spec(write_spec(tmp_path, gate__slices={"columns": [], "max_drop": 0.03}))


def aggregate(name: str = "carrier_late_rate_7d", **changes) -> dict:
    """The demo's aggregates with `name` changed (a key given None is removed)."""
    aggregates = yaml.safe_load(DEMO_SPEC.read_text())["features"]["aggregates"]
    aggregates[name] = {key: value for key, value in {**aggregates[name], **changes}.items() if value is not None}
    return aggregates


def test_an_aggregate_whose_window_holds_the_rows_own_target_is_refused(tmp_path):
    # lag 0: the window is the row's own day, whose arrivals (the target) are not known when it is scored.
    path = write_spec(tmp_path, features__aggregates=aggregate(lag_days=0))
    with pytest.raises(SpecError, match=r"features.aggregates.carrier_late_rate_7d: aggregates 'arr_delay' \(an "
                                        r"outcome.*with lag_days 0.*lag_days must be >= 1"):
        load_spec(path)


def test_a_target_aggregate_must_wait_out_the_label_delay(tmp_path):
    path = write_spec(tmp_path, features__aggregates=aggregate(lag_days=2), monitoring__label_delay_days=3)
    with pytest.raises(SpecError, match=r"lag_days must be >= 3 .*monitoring.label_delay_days is 3"):
        load_spec(path)
    lagged = {name: {**declared, "lag_days": 3} for name, declared in aggregate().items()}
    spec = load_spec(write_spec(tmp_path, features__aggregates=lagged, monitoring__label_delay_days=3))
    assert {declared.lag_days for declared in spec.features.aggregates.values()} == {3}


def test_an_aggregate_of_a_never_feature_is_refused_unless_lagged(tmp_path):
    refused = aggregate("origin_late_rate_1d", agg="mean", column="dep_delay", lag_days=0)
    with pytest.raises(SpecError, match=r"origin_late_rate_1d: aggregates 'dep_delay'"):
        load_spec(write_spec(tmp_path, features__aggregates=refused))
    lagged = aggregate("origin_late_rate_1d", agg="mean", column="dep_delay", lag_days=1)
    assert load_spec(write_spec(tmp_path, features__aggregates=lagged))


@pytest.mark.parametrize(("changes", "says"), [
    ({"window_days": 0}, r"features.aggregates.carrier_late_rate_7d.window_days: must be >= 1, got 0"),
    ({"agg": "mode"}, r"agg: must be 'count', 'sum', 'mean', 'median', 'std' or 'rate', got 'mode'"),
    ({"agg": "mean", "column": None}, r"column: a mean aggregates a column; only count can go without"),
    ({"agg": "mean", "rule": "> 1"}, r"rule: only a rate takes a rule, this aggregation is mean"),
    ({"column": "distance"}, r"a rate of 'distance' needs a rule such as '> 15'"),
    ({"rule": "over 15"}, r"rule: .*'over 15' is not '<op> <number>'"),
    ({"lag_days": -1}, r"lag_days: must be >= 0, got -1"),
])
def test_a_bad_aggregate_is_refused_naming_the_key_and_what_is_allowed(tmp_path, changes, says):
    with pytest.raises(SpecError, match=says):
        load_spec(write_spec(tmp_path, features__aggregates=aggregate(**changes)))


def test_an_as_of_lookup_takes_a_duration_as_its_tolerance(tmp_path):
    lookups = yaml.safe_load(DEMO_SPEC.read_text())["lookups"]
    lookups[0]["as_of"]["tolerance"] = "3 hours"
    with pytest.raises(SpecError, match=r"lookups.0.as_of.tolerance: .*a duration such as '30s', '90min', '3h'"):
        load_spec(write_spec(tmp_path, lookups=lookups))
    lookups[0]["as_of"]["tolerance"] = "90min"
    assert load_spec(write_spec(tmp_path, lookups=lookups)).lookups[0].as_of.max_age.total_seconds() == 5400


def test_two_features_of_one_name_are_refused(tmp_path):
    features = yaml.safe_load(DEMO_SPEC.read_text())["features"]
    features["derived"]["carrier_late_rate_7d_rows"] = "dep_hour * 2"
    with pytest.raises(SpecError, match=r"features.derived.carrier_late_rate_7d_rows: makes the column "
                                        r"'carrier_late_rate_7d_rows', which features.aggregates.carrier_late_rate_7d"):
        load_spec(write_spec(tmp_path, features=features))
    dated = write_spec(tmp_path, features__aggregates={**aggregate(), "date": aggregate()["carrier_late_rate_7d"]})
    with pytest.raises(SpecError, match=r"features.aggregates.date: makes the column 'date', which the partition"):
        load_spec(dated)
