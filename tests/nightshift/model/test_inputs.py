"""Model inputs: which spec builds a version's inputs, and a window's features read from the lake."""

from __future__ import annotations

import datetime as dt

import pytest

from nightshift.failures import ModelError
from nightshift.model.inputs import judged_spec, window_features
from tests.nightshift.data.test_validate import flights_day

DAYS = [dt.date(2013, 1, 1), dt.date(2013, 1, 2)]


def with_target(spec, **change):
    return spec.model_copy(update={"target": spec.target.model_copy(update=change)})


def test_a_version_keeps_its_own_inputs_when_the_spec_changed_only_its_features(spec):
    numeric = [feature for feature in spec.features.numeric if feature != "dep_hour"]
    current = spec.model_copy(update={"features": spec.features.model_copy(update={"numeric": numeric})})
    assert judged_spec(current, trained_with=spec, version="3") is spec


@pytest.mark.parametrize("change", [{"rule": "> 30"}, {"column": "dep_delay"}, {"missing": "negative"}])
def test_a_version_trained_for_another_target_is_refused_naming_both(spec, change):
    with pytest.raises(ModelError, match="v3 was trained for another dataset or target") as error:
        judged_spec(with_target(spec, **change), trained_with=spec, version="3")
    assert error.value.kind == "gate_config"
    assert str(next(iter(change.values()))) in str(error.value)


def test_a_windows_features_are_built_from_only_the_columns_the_spec_needs(spec, lake):
    for day in DAYS:
        lake.write_partition("validated", "flights", day, flights_day(day, rows=50).assign(unused=1))
    data = window_features(spec, lake, DAYS)
    assert list(data.X.columns) == spec.features.columns
    assert data.rows + data.dropped_unknown_target == 100
    assert set(data.y.unique()) <= {0, 1}
