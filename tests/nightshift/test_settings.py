from __future__ import annotations

from pydoc import locate

from nightshift.settings import Settings


def test_airflow_on_its_own_sqlite_waits_for_a_busy_scheduler_before_calling_the_database_locked(monkeypatch):
    monkeypatch.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    env = Settings.from_env().airflow_env()
    assert locate(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"])["timeout"] >= 30


def test_an_explicit_airflow_database_gets_no_sqlite_arguments(monkeypatch):
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2://postgres@127.0.0.1/airflow")
    env = Settings.from_env().airflow_env()
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS" not in env
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
