"""Logged predictions -> the lake's `predictions/<model>/date=D/online/` batches, off the request path.

Requests only append their rows to a buffer; a background thread writes the buffer as one batch per day
every `serving.log_flush_seconds` (or sooner, once `log_flush_rows` wait). A write that fails keeps the
rows for the next try; past MAX_BUFFERED_ROWS the oldest are dropped and counted, so an unreachable lake
costs logged rows, never requests or the server's memory.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

import pandas as pd

from nightshift.data.batches import append_batch
from nightshift.data.lake import Lake

log = logging.getLogger(__name__)
ONLINE = "online"  # the source of the rows the server logs, beside batch scoring's day partitions
MAX_BUFFERED_ROWS = 1_000_000
WRITER = f"{socket.gethostname()}:{os.getpid()}"  # which server process wrote a batch


class PredictionLog:
    """One model's logged rows on their way to the lake (each with the `date` of its partition)."""

    def __init__(self, lake: Lake, model: str, *, flush_seconds: float, flush_rows: int, metrics) -> None:
        self.lake, self.model = lake, model
        self.flush_seconds, self.flush_rows = flush_seconds, flush_rows
        self.metrics = metrics
        self._frames: list[pd.DataFrame] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"log-{model}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, rows: pd.DataFrame) -> None:
        with self._lock:
            self._frames.append(rows)
            self._rows += len(rows)
            full = self._rows >= self.flush_rows
        if full:
            self._wake.set()

    def close(self) -> None:
        """Write what is left, then stop."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()
        self.flush()

    def flush(self) -> int:
        """Write the buffered rows, one batch per day; returns how many were written."""
        with self._lock:
            frames, self._frames, self._rows = self._frames, [], 0
        if not frames:
            return 0
        rows = pd.concat(frames, ignore_index=True)
        written = 0
        for day, part in rows.groupby(rows["date"].dt.date, sort=True):
            try:
                append_batch(self.lake, "predictions", self.model, day, ONLINE, part.drop(columns="date"),
                             writer=WRITER)
            except Exception:  # the lake is down or refuses: keep the rows, never fail a request
                log.exception("%s: cannot write %d logged predictions of %s to the lake; kept for the next try",
                              self.model, len(part), day)
                self.metrics.log_failures.labels(self.model).inc()
                self._keep(part)
                continue
            written += len(part)
            self.metrics.logged_rows.labels(self.model).inc(len(part))
        return written

    def _keep(self, rows: pd.DataFrame) -> None:
        with self._lock:
            self._frames.insert(0, rows)
            self._rows += len(rows)
            while self._rows > MAX_BUFFERED_ROWS and len(self._frames) > 1:
                dropped = self._frames.pop(0)
                self._rows -= len(dropped)
                self.metrics.dropped_rows.labels(self.model).inc(len(dropped))
