"""wait_until: the value it waited for, or a TimeoutError that says what it waited for."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.waiting import wait_until


def test_returns_the_first_truthy_value():
    answers = iter([None, 0, "", "ready", "later"])
    assert wait_until(lambda: next(answers), timeout=5, interval=0.001, what="an answer") == "ready"


def test_returns_the_first_value_done_accepts():
    counter = itertools.count()
    assert wait_until(lambda: next(counter), done=lambda n: n >= 3, timeout=5, interval=0.001, what="three") == 3


def test_gives_up_after_the_timeout_naming_what_it_waited_for_and_the_last_value():
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"waited 0.05 s for the DAG run to finish; last seen: 'running'"):
        wait_until(lambda: "running", done=lambda state: state == "success", timeout=0.05, interval=0.01,
                   what="the DAG run to finish")
    assert 0.05 <= time.monotonic() - started < 2


def test_an_error_in_the_probe_is_raised_at_once():
    def hopeless() -> bool:
        raise AssertionError("the run ended without asking")

    started = time.monotonic()
    with pytest.raises(AssertionError, match="the run ended without asking"):
        wait_until(hopeless, timeout=60, what="an approval request")
    assert time.monotonic() - started < 1
