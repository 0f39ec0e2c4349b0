"""Airflow's connections as the library's `nightshift.connections.Connection`; installed as the lookup
when `nightshift.airflow` is imported."""

from __future__ import annotations

from nightshift.connections import Connection


def airflow_connection(conn_id: str) -> Connection:
    """The Airflow connection `conn_id`, wherever Airflow finds it (a task's supervisor, the metadata DB,
    a secrets backend, `AIRFLOW_CONN_<ID>`). LookupError when Airflow has none by that id."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        found = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as err:
        raise LookupError(str(err)) from None
    return Connection(conn_id=conn_id, host=found.host, port=found.port, login=found.login,
                      password=found.password, schema=found.schema, extra=found.extra_dejson)
