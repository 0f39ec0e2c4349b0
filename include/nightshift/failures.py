"""Error classes and the on-call failure summary.

Errors are raised where the fact is known, with the evidence attached; `failure_summary` turns any
exception into the one block that ends a failed task's log.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator

RUNBOOKS = "docs/runbooks.md"
# Task ids that `nightshift reproduce` can rerun outside Airflow.
REPRODUCIBLE_STEPS = ("ingest_raw", "validate", "build_features", "train", "evaluate")


class NightshiftError(Exception):
    """Base of all Nightshift errors. `kind` names the failure for the summary and the runbook."""

    category = "error"
    retryable = False

    def __init__(self, message: str, *, kind: str = "", hint: str = "", evidence: str = "") -> None:
        super().__init__(message)
        self.kind = kind or self.category
        self.hint = hint
        self.evidence = evidence


class DataError(NightshiftError):
    """Schema, expectations, empty or corrupt input: retrying will not help, the data must change."""

    category = "data"


class ModelError(NightshiftError):
    """Training failure or a gate / spec misconfiguration."""

    category = "model"


class ConfigError(NightshiftError):
    """A setting that cannot be right (a host name that does not resolve): fix the setting it names."""

    category = "config"


class InfraError(NightshiftError):
    """Storage, registry or another service: often transient, so tasks retry it."""

    category = "infra"
    retryable = True


class SourceNotReady(InfraError):
    """The source has no rows yet for some requested days: upstream is late. Retried after a longer delay."""


def connection_failure(error: BaseException) -> BaseException | None:
    """The refused, reset or timed-out connection behind an error a client library raised (MLflow's
    REST client wraps requests' errors; psycopg2 raises OperationalError), if there is one in its chain
    of causes."""
    import psycopg2
    import requests

    # Not TimeoutError as such: a lock that stays taken raises one too (filelock), and that is no outage.
    connection_errors = (ConnectionRefusedError, ConnectionResetError, ConnectionAbortedError,
                         requests.ConnectionError, requests.Timeout, psycopg2.OperationalError)
    return next((cause for cause in _causes(error) if isinstance(cause, connection_errors)), None)


def unresolved_host(error: BaseException) -> bool:
    """Whether a host name that does not resolve is behind an error (in its chain of causes): a setting to
    fix, where a refused or timed-out connection is an outage to wait out."""
    import socket

    return any(isinstance(cause, socket.gaierror) for cause in _causes(error))


def _causes(error: BaseException | None) -> Iterator[BaseException]:
    """The error and its causes, explicit or implicit, each once."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        yield error
        seen.add(id(error))
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)


def as_known_failure(error: BaseException) -> BaseException:
    """An error outside Nightshift's classes that was caused by a service not answering becomes the
    retryable infra error it is; anything else is returned as it is."""
    if isinstance(error, NightshiftError) or (cause := connection_failure(error)) is None:
        return error
    return InfraError(str(error), kind="service_unreachable", evidence=f"{type(cause).__name__}: {cause}",
                      hint="A service (MLflow, S3, PostgreSQL) did not answer; the URL is in the cause. Airflow "
                           "retries the task; once the service is back, clear the failed task to rerun it.")


def failure_summary(error: BaseException, *, model: str, step: str, day: str = "", where: str = "",
                    impact: str = "", options: str = "") -> str:
    """The block an on-call engineer reads first: what broke, where (`where`: the task, its try and the next
    one, the run), what it affects (`impact`: what still serves, what waits), why, evidence, what to do, how
    to rerun (with `options`: what the run's form changed, as `nightshift reproduce` options)."""
    error = as_known_failure(error)
    if isinstance(error, NightshiftError):
        title, hint, evidence = f"{error.category}/{error.kind}", error.hint, error.evidence
    else:
        frame = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
        raised_at = f" at {frame[0].filename}:{frame[0].lineno}" if frame else ""
        title = f"unexpected/{type(error).__name__}"
        hint, evidence = f"Not a known failure kind{raised_at}; read the traceback above.", ""
    cause, *details = str(error).splitlines() or [type(error).__name__]
    lines = [
        f"NIGHTSHIFT FAILURE  {title}  {model}  {day}".rstrip(),
        *([f"where     {where}"] if where else []),
        *([f"impact    {impact}"] if impact else []),
        f"cause     {cause}",
        *(f"          {line}" for line in details),
    ]
    if evidence:
        lines += ["evidence", *(f"  {line}" for line in evidence.splitlines())]
    if hint:
        lines.append(f"runbook   {hint}")
    if isinstance(error, NightshiftError):
        lines.append(f"see       {RUNBOOKS}#{error.kind}")
    if step in REPRODUCIBLE_STEPS:
        lines.append(f"reproduce nightshift reproduce {model} {step} {day} {options}".rstrip())
    else:
        again = "" if getattr(error, "retryable", True) else " (it fails the same way until the cause is fixed)"
        lines.append(f"reproduce clear the {step} task instance in the Airflow UI to rerun it{again}")
    return "\n".join(lines)
