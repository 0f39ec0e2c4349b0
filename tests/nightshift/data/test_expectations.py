"""A dataset's suite file is read strictly (a misspelled expectation, a bad severity or a YAML tag is an
error naming the file), and a suite run on a small frame turns into findings a reader can act on."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nightshift.data.expectations import SuiteRunner, data_docs_html, findings_of, load_history, load_suite
from nightshift.spec import SpecError
from tests.conftest import EXPECTATIONS
from tests.nightshift.test_hostile_input import python_tag

SUITE = """name: flights
expectations:
  - {type: expect_column_values_to_not_be_null, kwargs: {column: carrier}}
  - type: expect_column_values_to_be_between
    kwargs: {column: distance, min_value: 10, max_value: 6000}
    meta: {severity: warn, why: "a route this long is unusual"}
  - {type: expect_column_values_to_be_in_set, kwargs: {column: origin, value_set: [EWR, JFK, LGA]}}
"""


def write_suite(folder: Path, text: str) -> Path:
    path = folder / "flights.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def runner(tmp_path) -> SuiteRunner:
    write_suite(tmp_path, SUITE)
    return SuiteRunner(load_suite(tmp_path, "flights"))


def test_the_shipped_suite_loads_with_its_history_checks():
    assert len(load_suite(EXPECTATIONS, "flights").expectations) > 10
    assert load_history(EXPECTATIONS, "flights") is not None


def test_a_clean_frame_has_no_findings(runner):
    frame = pd.DataFrame({"carrier": ["UA", "AA"], "distance": [1400, 200], "origin": ["JFK", "EWR"]})
    assert findings_of(runner.run(frame)) == []


def test_a_passing_frame_is_only_checked_and_a_failing_one_gets_the_detailed_result(runner):
    clean = pd.DataFrame({"carrier": ["UA", "AA"], "distance": [1400, 200], "origin": ["JFK", "EWR"]})
    passed = runner.run(clean)
    assert passed.success and all(not item.result for item in passed.results)  # BOOLEAN_ONLY: no counts
    detailed = runner.detailed(clean)
    assert detailed.success and all("unexpected_count" in item.result for item in detailed.results
                                    if item.expectation_config.type == "expect_column_values_to_not_be_null")
    failed = runner.run(clean.assign(carrier=[None, "AA"]))
    assert not failed.success and any(item.result.get("unexpected_count") == 1 for item in failed.results)


def test_findings_say_what_failed_how_often_and_show_samples_blocking_first(runner):
    frame = pd.DataFrame({"carrier": ["UA", None, "AA", None], "distance": [1400, 99999, 200, 300],
                          "origin": ["JFK", "EWR", "LGA", "JFK"]})
    block, warn = findings_of(runner.run(frame))
    assert (block.expectation, block.column, block.severity) == ("expect_column_values_to_not_be_null", "carrier",
                                                                 "block")
    assert (block.unexpected_count, block.unexpected_percent) == (2, 50.0)
    assert (warn.expectation, warn.column, warn.severity) == ("expect_column_values_to_be_between", "distance",
                                                              "warn")
    assert warn.sample == [99999] and warn.why == "a route this long is unusual"


def test_a_huge_sample_value_is_cut_for_the_report(runner):
    huge = "X" * 5_000
    frame = pd.DataFrame({"carrier": ["UA"], "distance": [1400], "origin": [huge]})
    (finding,) = findings_of(runner.run(frame))
    assert finding.sample == [f"{'X' * 60}... (5000 chars)"]


def test_a_missing_column_is_a_finding_that_says_so(runner):
    frame = pd.DataFrame({"carrier": ["UA"], "distance": [1400]})
    (finding,) = findings_of(runner.run(frame))
    assert finding.column == "origin"
    assert finding.why == 'Error: The column "origin" in BatchData does not exist.'


def test_the_data_docs_page_is_one_html_document_naming_the_expectations(runner):
    frame = pd.DataFrame({"carrier": [None], "distance": [1400], "origin": ["JFK"]})
    page = data_docs_html(runner.run(frame))
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert "carrier" in page and "values must never be null" in page.lower()


def test_a_misspelled_expectation_is_an_error_not_a_silent_drop(tmp_path):
    (tmp_path / "flights.yaml").write_text(
        "name: flights\nexpectations:\n"
        "  - {type: expect_column_values_to_not_be_null, kwargs: {column: a}}\n"
        "  - {type: expect_column_values_to_be_nul, kwargs: {column: a}}\n"
    )
    with pytest.raises(SpecError, match=r"1 expectation\(s\) not recognised by GX"):
        load_suite(tmp_path, "flights")


def test_a_severity_other_than_block_or_warn_names_the_expectation_and_the_allowed_ones(tmp_path):
    path = write_suite(tmp_path, SUITE.replace("severity: warn", "severity: fatal"))
    with pytest.raises(SpecError) as error:
        load_suite(tmp_path, "flights")
    assert str(error.value) == f"{path}: expectation 2: severity 'fatal'; allowed: ('block', 'warn')"


@pytest.mark.parametrize(("text", "says"), [
    (None, "cannot read the expectation suite: [Errno 2] No such file"),
    ("- just\n- a list\n", "a suite is a YAML mapping with `expectations`"),
])
def test_a_suite_file_that_is_missing_or_not_a_mapping_is_named(tmp_path, text, says):
    if text is not None:
        write_suite(tmp_path, text)
    with pytest.raises(SpecError) as error:
        load_suite(tmp_path, "flights")
    assert str(error.value).startswith(f"{tmp_path / 'flights.yaml'}: {says}")


@pytest.mark.parametrize(("expectations", "says"), [
    ("{not_null: carrier}", "expectations: must be a list of entries, got dict {'not_null': 'carrier'}"),
    ("[expect_column_values_to_not_be_null]",
     "expectation 1: must be a mapping with a `type` and `kwargs`, got 'expect_column_values_to_not_be_null'"),
])
def test_expectations_that_are_not_a_list_of_mappings_are_named_with_what_was_given(tmp_path, expectations, says):
    path = write_suite(tmp_path, f"name: flights\nexpectations: {expectations}\n")
    with pytest.raises(SpecError) as error:
        load_suite(tmp_path, "flights")
    assert str(error.value) == f"{path}: {says}"


def test_a_suite_with_a_python_tag_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "flights.yaml").write_text(f"name: flights\nexpectations: {python_tag(marker)}\n")
    with pytest.raises(SpecError, match=r"cannot read the expectation suite: could not determine a constructor"):
        load_suite(tmp_path, "flights")
    assert not marker.exists()


def test_a_suite_without_history_checks_has_none(tmp_path):
    write_suite(tmp_path, SUITE)
    assert load_history(tmp_path, "flights") is None


def test_a_bad_history_declaration_names_the_file_and_the_key(tmp_path):
    (tmp_path / "flights.yaml").write_text(
        "name: flights\nexpectations: []\nhistory:\n  checks:\n    - {type: null_rate, columns: [a], max_rise: 0.1}\n")
    with pytest.raises(SpecError, match=r"(?s)flights.yaml: invalid history checks\n"
                                        r".*checks.0.null_rate.max_rise: unknown key"):
        load_history(tmp_path, "flights")
