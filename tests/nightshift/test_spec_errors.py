"""How a spec error reads (nightshift.spec_errors): the key, what is allowed and the value given."""

import pytest

from nightshift.spec import SpecError, load_spec
from tests.nightshift.test_spec import write_spec


def test_unknown_key_names_file_key_value_and_the_allowed_keys(tmp_path):
    path = write_spec(tmp_path, windows__train_dayz=10)
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert str(path) in str(error.value)
    assert ("windows.train_dayz: unknown key (allowed here: train_days, holdout_days, validation_days), got 10"
            in str(error.value))


def test_an_unknown_key_in_a_list_item_or_a_mapping_lists_the_keys_of_that_item(tmp_path):
    with pytest.raises(SpecError, match=r"gate.thresholds.roc_auc.mn: unknown key \(allowed here: min, max\), got 0.7"):
        load_spec(write_spec(tmp_path, gate__thresholds={"roc_auc": {"mn": 0.7}}))


def test_bad_value_names_the_allowed_values_and_the_given_one(tmp_path):
    with pytest.raises(SpecError,
                       match=r"task: must be 'classification', 'regression' or 'multiclass', got 'clustering'"):
        load_spec(write_spec(tmp_path, task="clustering"))


def test_missing_field_is_named_with_the_keys_that_were_given(tmp_path):
    with pytest.raises(SpecError, match=r"windows: required key missing"):
        load_spec(write_spec(tmp_path, windows=None))
    with pytest.raises(SpecError, match=r"windows.holdout_days: required key missing \(given keys: train_days\)"):
        load_spec(write_spec(tmp_path, windows__holdout_days=None))


def test_negative_window_is_refused_showing_the_value(tmp_path):
    path = write_spec(tmp_path, windows__train_days=-3)
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert str(error.value) == f"{path}: invalid spec\n  windows.train_days: must be >= 1, got -3"


def test_a_value_of_the_wrong_type_is_shown(tmp_path):
    with pytest.raises(SpecError, match=r"windows.train_days: must be a valid integer, .*got 'many'$"):
        load_spec(write_spec(tmp_path, windows__train_days="many"))
    with pytest.raises(SpecError, match=r"windows.train_days: must be a valid integer, got 3.5$"):
        load_spec(write_spec(tmp_path, windows__train_days=3.5))


def test_a_long_given_value_is_shortened(tmp_path):
    with pytest.raises(SpecError) as error:
        load_spec(write_spec(tmp_path, windows__train_days="many " * 1000))
    line = str(error.value).splitlines()[-1]
    assert line.startswith("  windows.train_days: must be") and "..." in line and len(line) < 200


def test_a_check_across_keys_is_said_in_its_own_words(tmp_path):
    """A model-level check names its keys itself: no `(top level)` label, no dump of the whole file."""
    with pytest.raises(SpecError) as error:
        load_spec(write_spec(tmp_path, gate__primary_metric="f1"))
    assert str(error.value).splitlines()[1].startswith("  gate: unknown metric 'f1' for classification")
