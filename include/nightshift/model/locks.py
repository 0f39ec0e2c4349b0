"""Locks that serialise a model's promotions: MLflow's alias API is a plain overwrite, so read-champion,
check and move happen under one of these. A PostgreSQL advisory lock when a lock database is configured
(shared by every machine), else a file lock (the embedded default, where every process shares one disk).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

from nightshift.failures import InfraError
from nightshift.settings import Settings

LOCK_TIMEOUT_S = 300


@contextlib.contextmanager
def postgres_advisory_lock(uri: str, name: str) -> Iterator[None]:
    """Hold a session-level advisory lock keyed by `name` on the PostgreSQL server at `uri`."""
    import psycopg2

    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    try:
        connection = psycopg2.connect(uri.replace("postgresql+psycopg2://", "postgresql://"), connect_timeout=10)
    except psycopg2.Error as err:
        raise InfraError(f"lock database unreachable: {str(err).strip()}", kind="lock") from err
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = %s", (f"{LOCK_TIMEOUT_S}s",))
            try:
                cursor.execute("SELECT pg_advisory_lock(%s)", (key,))
            except psycopg2.errors.LockNotAvailable:
                raise InfraError(f"the lock {name} is still held after {LOCK_TIMEOUT_S} s", kind="lock") from None
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        connection.close()



@contextlib.contextmanager
def promotion_lock(settings: Settings, model: str) -> Iterator[None]:
    """Serialise promote and rollback of one model across processes and machines: a PostgreSQL
    advisory lock when a lock database is configured, else a file lock (the embedded default,
    where every process shares one disk)."""
    if settings.lock_uri:
        with postgres_advisory_lock(settings.lock_uri, f"nightshift.promote.{model}"):
            yield
        return
    from filelock import FileLock, Timeout

    settings.locks_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock = FileLock(settings.locks_dir / f"promote-{model}.lock", timeout=LOCK_TIMEOUT_S).acquire()
    except Timeout as err:
        raise InfraError(f"{model}: the promotion lock {err.lock_file} is still held after {LOCK_TIMEOUT_S} s",
                         kind="lock") from None
    with lock:
        yield

