"""Airflow on the embedded default: the `airflow` CLI of this environment, run with the home's settings,
and the UI login's password, generated once per home. (Real DAG runs through it: tests/e2e.)"""

from __future__ import annotations

import json
import stat
import sys
from importlib.metadata import version
from pathlib import Path

from nightshift.embedded import ADMIN, admin_password, airflow, airflow_command


def test_the_cli_is_this_environments_airflow_with_the_homes_settings(home, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "2")  # an explicit setting wins
    command, env = airflow_command(home, "dags", "list")
    bin_dir = Path(sys.executable).parent
    assert command == [str(bin_dir / "airflow"), "dags", "list"] and Path(command[0]).exists()
    assert env["PATH"].split(":")[0] == str(bin_dir)  # `airflow standalone` starts its parts by name
    assert env["AIRFLOW_HOME"] == str(home.home / "airflow") and Path(env["AIRFLOW_HOME"]).is_dir()
    assert (env["NIGHTSHIFT_HOME"], env["MLFLOW_TRACKING_URI"]) == (str(home.home), home.mlflow_tracking_uri)
    assert env["AIRFLOW__CORE__PARALLELISM"] == "2"


def test_the_cli_runs_and_its_output_goes_to_the_log_file(home, tmp_path):
    log = tmp_path / "logs" / "version.log"
    assert airflow(home, "version", log_file=log) == 0
    assert log.read_text().strip().splitlines()[-1] == version("apache-airflow")


def test_the_admin_password_is_generated_once_per_home_and_kept_private(home):
    generated = admin_password(home)
    path = home.home / "airflow" / "simple_auth_manager_passwords.json.generated"
    assert json.loads(path.read_text()) == {ADMIN: generated} and len(generated) >= 16
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert admin_password(home) == generated


def test_a_password_airflow_generated_itself_is_the_one_given(home):
    path = home.home / "airflow" / "simple_auth_manager_passwords.json.generated"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({ADMIN: "chosen-by-airflow"}))
    assert admin_password(home) == "chosen-by-airflow"


def test_a_passwords_file_without_the_admin_gets_one_and_keeps_the_other_users(home):
    path = home.home / "airflow" / "simple_auth_manager_passwords.json.generated"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"viewer": "kept"}))
    added = admin_password(home)
    assert json.loads(path.read_text()) == {"viewer": "kept", ADMIN: added}
    assert admin_password(home) == added
