"""The `nightshift` command, run through click on a fresh home: `reproduce` reruns the same steps the
DAG tasks run, and raises what they raise."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner

from nightshift.cli import main

DAY = dt.date(2013, 1, 3)


def test_reproduce_ingests_and_validates_a_day_as_the_tasks_do(home, lake):
    runner = CliRunner()
    ingested = runner.invoke(main, ["reproduce", "flights_delay", "ingest_raw", DAY.isoformat()])
    assert ingested.exit_code == 0, ingested.output
    assert lake.days("raw", "flights") == [DAY]

    validated = runner.invoke(main, ["reproduce", "flights_delay", "validate", DAY.isoformat()])
    assert validated.exit_code == 0, validated.output
    assert "validated" in validated.output and lake.days("validated", "flights") == [DAY]


def test_reproducing_validation_of_a_day_not_ingested_says_so(home):
    result = CliRunner().invoke(main, ["reproduce", "flights_delay", "validate", DAY.isoformat()])
    assert result.exit_code == 1 and "no day of this run is in raw/" in result.output


def test_evaluate_without_a_challenger_says_so(home):
    result = CliRunner().invoke(main, ["reproduce", "flights_delay", "evaluate", DAY.isoformat()])
    assert result.exit_code == 1 and "flights_delay has no challenger to evaluate" in result.output
