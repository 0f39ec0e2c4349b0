"""Requests answered together. Building features and predicting costs about the same for one row as for
a hundred (pandas and scikit-learn work per call, not per row), so one thread per model answers what
waits as one batch: the requests that arrive while a batch is being answered make the next one. Nothing
waits for a batch to fill: an idle server answers a lone request at once.

A batch that fails is answered again one request at a time, so that a request whose values the features
cannot use fails alone.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import pandas as pd

log = logging.getLogger(__name__)
STOP = object()  # queued by `stop`: what was queued before it is answered, then the thread ends


@dataclass
class Pending:
    """One request's checked rows, waiting for its answer."""

    rows: pd.DataFrame
    request_id: str
    received: float                       # time.perf_counter() when it arrived
    served_at: pd.Timestamp               # the same, as a UTC time for the log
    done: Future = field(default_factory=Future)


class Batcher:
    """Feeds queued requests, in order and in batches of at most `max_rows` rows, to `answer_batch` (which
    returns one answer per request) on a thread of its own."""

    def __init__(self, name: str, answer_batch: Callable[[list[Pending]], list], max_rows: int) -> None:
        self.answer_batch, self.max_rows = answer_batch, max_rows
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"batch-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Answer what is queued, then stop."""
        self._queue.put(STOP)
        self._thread.join(timeout=60)

    def submit(self, pending: Pending) -> Future:
        self._queue.put(pending)
        return pending.done

    def _run(self) -> None:
        carried = None  # taken from the queue but left for the next batch (it would make this one too big)
        while (first := carried or self._queue.get()) is not STOP:
            batch, rows, carried = [first], len(first.rows), None
            while carried is None:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is STOP or rows + len(item.rows) > self.max_rows:
                    carried = item
                else:
                    batch.append(item)
                    rows += len(item.rows)
            self._answer(batch)

    def _answer(self, batch: list[Pending]) -> None:
        try:
            answers = self.answer_batch(batch)
        except Exception as err:  # noqa: BLE001 - each failure reaches its requests (their futures), none the thread
            if len(batch) == 1:
                batch[0].done.set_exception(err)
                return
            log.info("a batch of %d requests failed (%s); answering them one by one", len(batch), err)
            for pending in batch:
                self._answer([pending])
            return
        for pending, answer in zip(batch, answers, strict=True):
            pending.done.set_result(answer)
