"""The reliability figures the suite prints at its end (tests/conftest.py): faults injected, kills (Celery
workers on the production stack, task processes on the embedded default), bad inputs tried, and items lost,
which the tests that count them also assert to be zero."""

from __future__ import annotations

from collections import Counter

FIGURES: Counter[str] = Counter()
ORDER = ("faults injected", "worker kills", "task process kills", "kills that landed mid-task", "bad inputs tried",
         "items lost")


def record(name: str, count: int = 1) -> None:
    assert name in ORDER, f"unknown figure {name!r}; known: {ORDER}"
    FIGURES[name] += count


def summary() -> str:
    return ", ".join(f"{name}: {FIGURES[name]}" for name in ORDER if name in FIGURES)
