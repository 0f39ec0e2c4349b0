"""Hostile or careless input never reaches a path, a key, SQL or Python: names that become paths are
NAMEs, keys stay under the lake root, YAML builds plain data only, and a spec cannot smuggle
a second statement into a source query. (Derived-feature code: test_expressions.py; storage keys:
data/test_storage.py; a suite's YAML: data/test_expectations.py; DAG Params: tests/dags; the source query
against a real PostgreSQL: tests/services/test_postgres_source.py.)"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from nightshift.cli import main
from nightshift.data.lake import Lake
from nightshift.spec import SpecError, load_spec
from tests.conftest import DEMO_SPEC
from tests.nightshift.test_spec import write_spec

DAY = dt.date(2013, 2, 8)


def python_tag(marker: Path) -> str:
    """YAML that runs a shell command when an unsafe loader reads it."""
    return f'!!python/object/apply:os.system ["touch {marker}"]'


@pytest.fixture
def models_dir(empty_home, tmp_path, monkeypatch) -> Path:
    """The demo spec in a models folder of its own, and a valid spec `stolen` just outside it."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "flights_delay.yaml").write_text(DEMO_SPEC.read_text())
    (tmp_path / "stolen.yaml").write_text(DEMO_SPEC.read_text().replace("name: flights_delay", "name: stolen"))
    monkeypatch.setenv("NIGHTSHIFT_MODELS_DIR", str(folder))
    return folder


@pytest.mark.parametrize("args", [
    ["status", "../stolen"],
    ["reproduce", "../stolen", "validate", "2013-02-08"],
    ["release", "../stolen", "2013-02-08", "--reason", "reviewed the late rows"],
])
def test_the_cli_refuses_a_model_name_that_climbs_out_of_the_models_folder(models_dir, empty_home, args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert re.search(r"Invalid value for '\[?MODEL\]?': model name '\.\./stolen' is not allowed", result.output), \
        result.output  # [MODEL]: status takes it optionally
    assert not empty_home.home.exists()  # refused before any spec, lake or registry was opened


def test_the_cli_refuses_a_model_name_that_would_put_a_lock_file_outside_its_home(models_dir, empty_home, tmp_path):
    # The file lock is `<home>/locks/promote-<model>.lock`: this name would land it in tmp_path.
    result = CliRunner().invoke(main, ["rollback", "x/../../../escaped", "--reason", "undo the bad release"])
    assert result.exit_code == 2, result.output
    assert "model name 'x/../../../escaped' is not allowed" in result.output
    assert not (tmp_path / "escaped.lock").exists() and not empty_home.home.exists()


@pytest.mark.parametrize(("key", "value"), [("name", "../stolen"), ("source__dataset", "../../outside"),
                                            ("source__dataset", "flights/../../outside")])
def test_a_spec_name_that_could_become_a_path_is_refused_at_load(tmp_path, key, value):
    with pytest.raises(SpecError, match=rf"{key.replace('__', '.')}: String should match pattern"):
        load_spec(write_spec(tmp_path, **{key: value}))


def test_the_lake_refuses_a_dataset_that_is_not_a_name_and_writes_nothing(tmp_path):
    lake = Lake.from_uri((tmp_path / "lake").as_uri())
    with pytest.raises(SpecError, match=r"dataset name '\.\./outside' is not allowed: use 1-63 lowercase"):
        lake.write_partition("raw", "../outside", DAY, pd.DataFrame({"flight": [1]}))
    with pytest.raises(SpecError, match="dataset name"):
        lake.days("raw", "../outside")
    assert list(tmp_path.rglob("*")) == []


def test_a_spec_with_a_python_tag_is_refused_and_runs_nothing(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "flights_delay.yaml"
    path.write_text(f"name: {python_tag(marker)}\n")
    with pytest.raises(SpecError, match=r"cannot read the spec: could not determine a constructor .*python/object"):
        load_spec(path)
    assert not marker.exists()


def test_a_table_name_carrying_sql_is_refused_by_the_spec(tmp_path):
    with pytest.raises(SpecError, match=r"source.table: String should match pattern"):
        load_spec(write_spec(tmp_path, source__kind="postgres", source__path=None, source__format=None,
                             source__conn_id="flights_db", source__date_columns=["flight_date"],
                             source__table="flights; DROP TABLE flights"))


def test_a_source_query_cannot_end_early_and_start_another_statement(tmp_path):
    smuggled = "SELECT * FROM flights) AS s; DELETE FROM flights; COMMIT; SELECT * FROM (SELECT * FROM flights"
    with pytest.raises(SpecError, match=r"source.query: Value error, a source query is one SELECT, without ';'"):
        load_spec(write_spec(tmp_path, source__kind="postgres", source__path=None, source__format=None,
                             source__conn_id="flights_db", source__date_columns=["flight_date"],
                             source__query=smuggled))
