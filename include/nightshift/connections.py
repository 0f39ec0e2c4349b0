"""Connections by id: a PostgreSQL source's `conn_id`, the lake's AWS connection (`NIGHTSHIFT_AWS_CONN_ID`,
else `aws_default` when defined).

The library asks `get_connection` and `aws_session`; where the answers come from is installed by the
caller with `use_lookup` and `use_aws_sessions`. Importing `nightshift.airflow` installs Airflow's
connections and the Amazon provider's sessions (the DAG file does, so every task has them; so does the
`nightshift` CLI); a test or a script can install its own. No Airflow here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nightshift.failures import InfraError


@dataclass(frozen=True)
class Connection:
    """What the library reads of a connection. `extra` is the connection's JSON extra, parsed (an S3
    connection's `endpoint_url` and `region_name`). Secrets stay out of the repr, so out of logs."""

    conn_id: str
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)


# The connection named by an id; raises LookupError (KeyError, say) when it has none by that id, so a
# plain mapping's `__getitem__` is a lookup.
ConnectionLookup = Callable[[str], Connection]
# A boto3 session for an AWS connection, and the S3 endpoint it names (None: AWS's own, or AWS_ENDPOINT_URL).
AwsSessions = Callable[[Connection], tuple[Any, str | None]]
AWS_DEFAULT = "aws_default"

_lookup: ConnectionLookup | None = None
_aws_sessions: AwsSessions | None = None


def use_lookup(lookup: ConnectionLookup | None) -> ConnectionLookup | None:
    """Make `lookup` answer `get_connection` in this process (None: no lookup). Returns the lookup it
    replaces, so a test can put it back."""
    global _lookup  # one lookup per process, installed once by whoever owns the process
    previous, _lookup = _lookup, lookup
    return previous


def provenance(conn_id: str) -> str:
    """Where a connection's settings came from, for an error that one of them caused."""
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    return f"the Airflow connection {conn_id!r}" + (f" ({variable} in the environment)" if variable in os.environ
                                                     else "")


def get_connection(conn_id: str) -> Connection:
    """The connection `conn_id`, from the installed lookup. InfraError (kind `connection`) naming the id
    when no lookup is installed or it has no such connection."""
    if _lookup is None:
        raise InfraError(f"connection {conn_id!r}: no connection lookup is installed in this process",
                         kind="connection",
                         hint="Outside Airflow tasks and the nightshift CLI, import nightshift.airflow (Airflow's "
                              "connections) or call nightshift.connections.use_lookup first.")
    try:
        return _lookup(conn_id)
    except LookupError:
        raise InfraError(f"connection {conn_id!r} is not defined", kind="connection",
                         hint=f"Add the connection {conn_id!r} (the Airflow UI's Admin > Connections, "
                              f"`airflow connections add {conn_id} ...`, or AIRFLOW_CONN_{conn_id.upper()}), "
                              "or fix the id in the spec or NIGHTSHIFT_AWS_CONN_ID.") from None


def use_aws_sessions(sessions: AwsSessions | None) -> AwsSessions | None:
    """Make `sessions` turn AWS connections into boto3 sessions in this process (None: the connection's
    keys, region and endpoint only). Returns what it replaces."""
    global _aws_sessions  # one way per process, installed once by whoever owns the process
    previous, _aws_sessions = _aws_sessions, sessions
    return previous


def aws_connection_id() -> str | None:
    """The AWS connection S3 is reached through: `NIGHTSHIFT_AWS_CONN_ID`, else `aws_default` when it is
    defined, else none (AWS's own chain: the environment, a profile, an instance role)."""
    if conn_id := os.environ.get("NIGHTSHIFT_AWS_CONN_ID"):
        return conn_id
    try:
        get_connection(AWS_DEFAULT)
    except InfraError:
        return None
    return AWS_DEFAULT


def aws_session(conn_id: str | None) -> tuple[Any, str | None]:
    """A boto3 session and the S3 endpoint for the AWS connection `conn_id`, made as the installed
    sessions make them (the Amazon provider's in Airflow: role ARNs, session tokens and profiles work);
    None: AWS's own chain."""
    import boto3

    if conn_id is None:
        return boto3.Session(), None
    connection = get_connection(conn_id)
    if _aws_sessions is not None:
        return _aws_sessions(connection)
    return (boto3.Session(aws_access_key_id=connection.login, aws_secret_access_key=connection.password,
                          region_name=connection.extra.get("region_name")), connection.extra.get("endpoint_url"))
