"""Airflow's connections as the library's `nightshift.connections.Connection`, and the Amazon provider's
boto3 sessions for AWS connections; installed when `nightshift.airflow` is imported."""

from __future__ import annotations

from typing import Any

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


def provider_aws_session(connection: Connection) -> tuple[Any, str | None]:
    """The boto3 session the Amazon provider makes of the AWS connection (keys, `aws_session_token`,
    `role_arn` assumed with refreshing credentials, `profile_name`, `region_name` in its extras), and its
    `endpoint_url`."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    hook = AwsBaseHook(aws_conn_id=connection.conn_id, client_type="s3")
    return hook.get_session(), hook.conn_config.endpoint_url
