"""The benchmarks that run on the production stack, at a tiny size (tests/bench_smoke.py). A module of its own:
xdist keeps a module's tests on one worker, so this one runs beside the other benchmarks' smoke run."""

from __future__ import annotations

import pytest

from tests.bench_smoke import ON_THE_STACK, smoke_run


@pytest.mark.e2e
@pytest.mark.timeout(1900)  # about 4 min on 2 cores: two stacks, one and two models
def test_the_benchmarks_on_the_production_stack_run_at_a_tiny_size(tmp_path):
    smoke_run(tmp_path, list(ON_THE_STACK))
