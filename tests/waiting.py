"""Waiting for something outside the test (a server, a DAG run, a killed process) with a deadline."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import tenacity

T = TypeVar("T")


def wait_until(probe: Callable[[], T], *, timeout: float, interval: float = 0.5, what: str,
               done: Callable[[T], object] = bool) -> T:
    """The first value of `probe()` that `done` accepts (by default: the first truthy one), calling it
    every `interval` seconds. After `timeout` seconds raises TimeoutError naming `what` and the last value
    seen. An exception from `probe` (an assert that the wait is hopeless) is raised at once."""
    def timed_out(state: tenacity.RetryCallState) -> T:
        raise TimeoutError(f"waited {timeout:g} s for {what}; last seen: {state.outcome.result()!r}")

    # The deadline is checked after each probe, as the loops this replaced did: the probe runs at least
    # once, and a value that arrives in a probe started before the deadline still counts.
    retrying = tenacity.Retrying(retry=tenacity.retry_if_not_result(done), stop=tenacity.stop_after_delay(timeout),
                                 wait=tenacity.wait_fixed(interval), retry_error_callback=timed_out)
    return retrying(probe)
