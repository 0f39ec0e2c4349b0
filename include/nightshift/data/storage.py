"""Object storage under one root URI, `file://` or `s3://`: the few operations the lake and file
sources need, with the same meaning on both.

`put` is atomic on both: a reader sees the old object or the new one, never a half-written one
(a local temp file renamed into place; a single S3 PUT). `lock` holds a named lock across processes
that a holder which dies gives up by itself: a file lock on disk (the kernel frees it at once), a lease
on S3 (`s3_lease`: freed LEASE_S seconds after its last renewal). Listing is recursive and returns keys
relative to the root.

S3 settings come from an AWS connection (`NIGHTSHIFT_AWS_CONN_ID`, else `aws_default` when defined),
made into a session as Airflow's Amazon provider does in tasks and the CLI (keys, session tokens, role
ARNs, profiles, `endpoint_url`; see `nightshift.connections`), or from the usual AWS environment
(`AWS_ENDPOINT_URL`, credentials, region, profile), so MinIO, moto's server and AWS all work.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cache
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import urlparse

from nightshift.connections import AWS_DEFAULT, aws_connection_id, aws_session, provenance
from nightshift.failures import ConfigError, InfraError, unresolved_host


class Storage(ABC):
    root_uri: str

    @staticmethod
    def for_uri(uri: str) -> Storage:
        parsed = urlparse(uri)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise InfraError(f"{uri}: an s3:// URI needs a bucket", kind="storage")
            return S3Storage(parsed.netloc, parsed.path.strip("/"))
        if parsed.scheme in ("", "file"):
            return LocalStorage(Path(parsed.path if parsed.scheme else uri))
        raise InfraError(f"{uri}: unsupported storage scheme {parsed.scheme!r} (use file:// or s3://)",
                         kind="storage")

    def uri(self, key: str) -> str:
        return f"{self.root_uri.rstrip('/')}/{key}"

    def checked_key(self, key: str) -> str:
        """`key`, if it stays under the root: relative, without `..`. Names are validated where they enter
        (spec, CLI, Params); this is the last line of defence. Checked on the text, not on the disk, so a lake
        folder that is a symlink to another disk keeps working."""
        if key.startswith("/") or ".." in PurePosixPath(key).parts:
            raise ValueError(f"storage key {key!r} would leave {self.root_uri}: keys are relative, without '..'")
        return key

    @abstractmethod
    def put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def lock(self, key: str, wait: float) -> AbstractContextManager[None]:
        """Hold the lock named `key` across processes (and machines, on S3); InfraError when another holder
        keeps it for `wait` seconds. A holder that dies gives it up without anyone's help."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable binary stream; FileNotFoundError when the object does not exist."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Every key in the folder `prefix` (recursive), sorted: `raw` holds `raw/a`, never `raw2/a`."""

    @abstractmethod
    def delete(self, keys: list[str]) -> None:
        """Delete the keys that exist; missing ones are ignored."""

    def get(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    def configured_by(self) -> str:
        """Where the settings that reach this storage were set, for an error they may have caused ("" when
        none: a local folder is its URI)."""
        return ""


class LocalStorage(Storage):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root_uri = root.as_uri()

    def path(self, key: str) -> Path:
        return self.root / self.checked_key(key)

    def put(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp.name, target)

    @contextmanager
    def lock(self, key: str, wait: float) -> Iterator[None]:
        from filelock import FileLock, Timeout

        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            held = FileLock(path, timeout=wait).acquire()
        except Timeout:
            raise InfraError(f"{self.uri(key)}: the lock is still held after {wait:g} s", kind="lock") from None
        with held:
            yield

    def open(self, key: str) -> BinaryIO:
        return self.path(key).open("rb")

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        keys, root = [], len(str(self.root)) + 1
        # os.walk skips a folder that a concurrent writer's sweep removes while it is being listed. Keys are cut
        # from its paths as strings: Path.relative_to per file took most of a 200-file listing's 20 ms.
        for folder, _, names in os.walk(self.path(prefix)):
            under = f"{folder[root:]}/" if len(folder) > root else ""
            keys += [f"{under}{name}" for name in names if not name.startswith(".")]
        return sorted(keys)

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            path = self.path(key)
            path.unlink(missing_ok=True)
            # Drop directories left empty, up to (not including) the root.
            for parent in path.parents:
                if parent == self.root or not parent.is_relative_to(self.root):
                    break
                try:
                    parent.rmdir()
                except OSError:  # not empty, or already gone
                    break


class S3Storage(Storage):
    """Errors come out as OSError (FileNotFoundError for a missing key), as on local disk."""

    def __init__(self, bucket: str, prefix: str = "") -> None:
        self.bucket, self.prefix = bucket, prefix
        self.root_uri = f"s3://{bucket}/{prefix}".rstrip("/")
        self.client = s3_client()

    def object_key(self, key: str) -> str:
        key = self.checked_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        with self.errors(key):
            self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data)

    def configured_by(self) -> str:
        return s3_endpoint_setting()

    def lock(self, key: str, wait: float) -> AbstractContextManager[None]:
        from nightshift.data.s3_lease import s3_lease

        return s3_lease(self, key, wait)

    def open(self, key: str) -> BinaryIO:
        with self.errors(key):
            return self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"]

    def exists(self, key: str) -> bool:
        try:
            with self.errors(key):
                self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except FileNotFoundError:
            return False
        return True

    def list(self, prefix: str) -> list[str]:
        strip, folder = len(self.object_key("")), self.object_key(prefix.rstrip("/") + "/" if prefix.strip("/") else "")
        with self.errors(prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder)
            return sorted(item["Key"][strip:] for page in pages for item in page.get("Contents", []))

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # the DeleteObjects limit
            batch = [{"Key": self.object_key(key)} for key in keys[start:start + 1000]]
            with self.errors(keys[start]):
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    @contextmanager
    def errors(self, key: str) -> Iterator[None]:
        """S3's errors as on disk: FileNotFoundError for a missing object, OSError naming the object else."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as err:
            if err.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise FileNotFoundError(self.uri(key)) from err
            raise OSError(f"{self.uri(key)}: {err}") from err
        except BotoCoreError as err:  # endpoint unreachable, credentials missing, ...
            if unresolved_host(err):
                raise ConfigError(f"{self.uri(key)}: the host of the S3 endpoint does not resolve ({err})",
                                  kind="misconfigured_endpoint", evidence=s3_endpoint_setting(),
                                  hint="Fix the S3 endpoint where the tasks run (the setting above); a retry will "
                                       "not help.") from err
            raise OSError(f"{self.uri(key)}: {err}") from err


@cache
def s3_client():
    """One boto3 S3 client per process, from the AWS connection in use (`nightshift.connections`), else
    from AWS's own chain (the environment, a profile, an instance role)."""
    from botocore.config import Config

    session, endpoint = aws_session(aws_connection_id())
    # botocore's defaults wait 60 s per read and retry a hung endpoint for minutes before the task learns
    # of it. Here a refused connection fails in seconds, a hung one after 3 tries of 30 s (~1.5 min), as
    # a retryable storage error.
    config = Config(connect_timeout=10, read_timeout=30, retries={"mode": "standard", "max_attempts": 3})
    return session.client("s3", config=config, endpoint_url=endpoint)


def s3_endpoint_setting() -> str:
    """The S3 endpoint in use and where it was set, for an error it may have caused."""
    endpoint = s3_client().meta.endpoint_url
    if conn_id := aws_connection_id():
        named = "named by NIGHTSHIFT_AWS_CONN_ID" if conn_id != AWS_DEFAULT else "Airflow's default AWS connection"
        return f"endpoint {endpoint}: from {provenance(conn_id)}, {named}"
    for variable in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if variable in os.environ:
            return f"{variable} = {os.environ[variable]} (environment)"
    return f"endpoint {endpoint}: AWS's own (neither AWS_ENDPOINT_URL nor NIGHTSHIFT_AWS_CONN_ID is set)"
