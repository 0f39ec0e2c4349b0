"""Promotions of one model are serialised (nightshift.model.locks): on the embedded default by a file
lock under the home; the PostgreSQL advisory lock is raced in tests/services/test_promotion_race.py."""

from __future__ import annotations

import threading

import pytest

from nightshift.failures import InfraError
from nightshift.model import locks


def test_a_second_promotion_of_the_same_model_waits_then_names_the_held_lock(home, monkeypatch):
    monkeypatch.setattr(locks, "LOCK_TIMEOUT_S", 0.2)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with locks.promotion_lock(home, "flights_delay"):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        held_lock = r"flights_delay: the promotion lock .*promote-flights_delay.lock is still held after 0.2 s"
        with pytest.raises(InfraError, match=held_lock), locks.promotion_lock(home, "flights_delay"):
            pass
        with locks.promotion_lock(home, "other_model"):  # another model's promotion does not wait
            pass
    finally:
        release.set()
        holder.join()
    with locks.promotion_lock(home, "flights_delay"):  # released with the first holder
        pass
