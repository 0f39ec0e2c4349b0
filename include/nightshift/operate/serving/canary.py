"""The canary: which request rows the challenger answers, and the budget that stops it.

Rows are picked by a hash of their key columns, not at random, so one entity (a flight, a customer)
sees one model for as long as the canary runs, in every request and in every server process.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np
import pandas as pd

from nightshift.spec import CanaryBudget

BUCKETS = 10_000  # canary_percent is honoured to 0.01 %


def canary_rows(frame: pd.DataFrame, key: list[str], percent: float) -> np.ndarray:
    """A mask of the rows whose key falls in the canary's share; the same key always gives the same answer.
    pandas' row hash is stable across processes and runs (a fixed hash key), unlike Python's `hash`."""
    if percent <= 0:
        return np.zeros(len(frame), dtype=bool)
    hashes = pd.util.hash_pandas_object(frame[key], index=False).to_numpy()
    return hashes % BUCKETS < round(percent * BUCKETS / 100)


class CanaryGuard:
    """The canary's recent requests, judged against the spec's budget once there are enough of them."""

    def __init__(self, budget: CanaryBudget) -> None:
        self.budget = budget
        self._outcomes: deque[tuple[bool, float]] = deque(maxlen=budget.window)
        self._lock = threading.Lock()

    def record(self, ok: bool, milliseconds: float) -> str | None:
        """Count one canary request; the reason to stop the canary, when it is now over budget."""
        with self._lock:
            self._outcomes.append((ok, milliseconds))
            if len(self._outcomes) < self.budget.min_requests:
                return None
            failed = sum(not good for good, _ in self._outcomes) / len(self._outcomes)
            p99 = float(np.percentile([ms for _, ms in self._outcomes], 99))
            count = len(self._outcomes)
        if failed > self.budget.max_error_rate:
            return (f"error rate {failed:.1%} over the last {count} canary requests is above "
                    f"serving.canary_budget.max_error_rate {self.budget.max_error_rate:.1%}")
        if p99 > self.budget.max_p99_ms:
            return (f"p99 latency {p99:.1f} ms over the last {count} canary requests is above "
                    f"serving.canary_budget.max_p99_ms {self.budget.max_p99_ms:g} ms")
        return None
