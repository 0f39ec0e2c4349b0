"""A lock on S3 made of one object, held as a lease.

- Taken by creating the object only if there is none (`If-None-Match: *`).
- Renewed by its holder every LEASE_S / 3 seconds: a PUT conditional on the holder's own ETag, whose body
  changes each time, so the ETag does too.
- Broken by a waiter that has watched it unchanged for a whole LEASE_S: a DELETE conditional on the ETag
  it watched, so a lock renewed meanwhile is not broken and two waiters cannot both break it.

A holder that dies (a killed worker) frees the lock LEASE_S seconds later, not when some age runs out, and
the clocks of different machines are never compared.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from nightshift.failures import InfraError

if TYPE_CHECKING:
    from nightshift.data.storage import S3Storage

log = logging.getLogger(__name__)

LEASE_S = 30.0


@contextmanager
def s3_lease(storage: S3Storage, key: str, wait: float) -> Iterator[None]:
    """Hold the lock object at `key`; InfraError after `wait` seconds of it being held by another."""
    lease = _Lease(storage, key)
    lease.take(wait)
    try:
        yield
    finally:
        lease.give_back()


class _Lease:
    def __init__(self, storage: S3Storage, key: str) -> None:
        self.storage, self.key = storage, key
        self.holder = {"host": socket.gethostname(), "pid": os.getpid(),
                       "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "renewals": 0}
        self.etag = ""
        self.stopped = threading.Event()
        self.renewer = threading.Thread(target=self._renew, name=f"lease {key}", daemon=True)

    def take(self, wait: float) -> None:
        try:
            self._wait_for_it(wait)
        except OSError as err:
            raise InfraError(f"{self.storage.uri(self.key)}: could not take the lock: {err}", kind="storage") from err
        self.renewer.start()

    def give_back(self) -> None:
        self.stopped.set()
        self.renewer.join()
        try:
            self._delete_if(self.etag)
        except OSError as err:  # it expires by itself
            log.warning("%s: could not give the lock back (it expires in %g s): %s", self.storage.uri(self.key),
                        LEASE_S, err)

    def _wait_for_it(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        watched, watched_since = "", 0.0
        while not self._put(IfNoneMatch="*"):
            if not (seen := self._etag()):
                continue  # given back meanwhile
            if seen != watched:
                watched, watched_since = seen, time.monotonic()
            elif time.monotonic() - watched_since >= LEASE_S:
                self._break(watched)
                continue
            if time.monotonic() > deadline:
                raise InfraError(f"{self.storage.uri(self.key)}: the lock is still held after {wait:g} s "
                                 f"(by {self._holder_of()})", kind="lock")
            time.sleep(random.uniform(0.05, 0.25))  # nosec B311  # jitter, not secrecy

    def _renew(self) -> None:
        while not self.stopped.wait(LEASE_S / 3):
            self.holder["renewals"] += 1
            try:
                renewed = self._put(IfMatch=self.etag)
            except OSError as err:  # the endpoint is down: the next renewal may get through
                log.warning("%s: could not renew the lock: %s", self.storage.uri(self.key), err)
                continue
            if not renewed:
                log.error("%s: the lock was broken while held (not renewed for %g s)", self.storage.uri(self.key),
                          LEASE_S)
                return

    def _break(self, etag: str) -> None:
        holder = self._holder_of()
        if self._delete_if(etag):
            log.warning("%s: broke a lock left unrenewed for %g s (by %s)", self.storage.uri(self.key), LEASE_S,
                        holder)

    def _put(self, **condition: str) -> bool:
        """PUT the holder's body on a condition, keeping its new ETag; False when the condition fails."""
        body = json.dumps(self.holder).encode()
        response = self._unless_refused(lambda: self.storage.client.put_object(
            Bucket=self.storage.bucket, Key=self.storage.object_key(self.key), Body=body, **condition))
        if response is None:
            return False
        self.etag = response["ETag"]
        return True

    def _delete_if(self, etag: str) -> bool:
        return self._unless_refused(lambda: self.storage.client.delete_object(
            Bucket=self.storage.bucket, Key=self.storage.object_key(self.key), IfMatch=etag)) is not None

    def _etag(self) -> str:
        try:
            with self.storage.errors(self.key):
                return self.storage.client.head_object(Bucket=self.storage.bucket,
                                                       Key=self.storage.object_key(self.key))["ETag"]
        except FileNotFoundError:
            return ""

    def _holder_of(self) -> str:
        try:
            holder = json.loads(self.storage.get(self.key))
        except (OSError, ValueError):
            return "a holder that is gone"
        return f"pid {holder['pid']} on {holder['host']} since {holder['since']}"

    def _unless_refused(self, request: Callable[[], dict]) -> dict | None:
        """The response of a conditional request, or None when S3 refused its condition (412; 409 for a
        concurrent conditional write; 404 for an object that is gone)."""
        from botocore.exceptions import ClientError

        try:
            with self.storage.errors(self.key):
                return request()
        except FileNotFoundError:
            return None
        except OSError as err:
            refused = err.__cause__
            if isinstance(refused, ClientError) and refused.response["Error"]["Code"] in (
                    "PreconditionFailed", "ConditionalRequestConflict"):
                return None
            raise
