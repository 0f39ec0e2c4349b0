"""The load check before promotion: a registered version loads from the registry in a fresh Python
process and predicts on a sample that matches its signature; otherwise the last line of what went
wrong comes back. A service that does not answer is an outage to retry, never a verdict on the model.
(A model the gate rejects for it: test_promotion.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nightshift import failures
from nightshift.model import load_check
from nightshift.model.load_check import check_in_fresh_process, main
from nightshift.model.registry import Registry
from nightshift.spec import load_spec
from tests.conftest import DEMO_SPEC, module_home
from tests.nightshift.model.test_registry import inputs, register


@pytest.fixture(scope="module")
def version(tmp_path_factory) -> Iterator[str]:
    """One registered version of the demo model; the fresh process finds it through NIGHTSHIFT_HOME."""
    with module_home(tmp_path_factory, "load-check"):
        yield register(Registry.from_env(), load_spec(DEMO_SPEC))


def test_the_check_loads_the_version_and_predicts_every_row_of_the_sample(version, tmp_path):
    """What the fresh process runs, here in-process (a fresh interpreter costs ~10 s; the test below pays it
    once, and test_promotion's latency test sees a passing model through it)."""
    sample, _ = inputs(rows=30, seed=3)
    sample.to_parquet(tmp_path / "sample.parquet", index=False)
    main("flights_delay", version, lambda: f"{tmp_path / 'sample.parquet'}\n")  # returns: 30 predictions


def test_in_a_fresh_process_a_sample_that_does_not_match_the_signature_says_what_is_missing(version):
    sample, _ = inputs(rows=30, seed=3)
    problem = check_in_fresh_process("flights_delay", version, sample.drop(columns=["dep_hour"]))
    assert "dep_hour" in problem and "missing" in problem.lower(), problem
    assert "\n" not in problem  # the last line of the traceback, not all of it


def test_a_registry_that_does_not_answer_is_an_outage_to_retry_not_a_model_that_fails(version, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # the discard port: nothing answers
    sample, _ = inputs(rows=30, seed=3)
    with pytest.raises(failures.InfraError, match="could not reach a service") as error:
        check_in_fresh_process("flights_delay", version, sample)
    assert error.value.retryable and error.value.kind == "service_unreachable"
    assert "127.0.0.1:9" in str(error.value), error.value


def test_a_check_that_does_not_finish_is_an_outage_to_retry(version, monkeypatch):
    monkeypatch.setattr(load_check, "TIMEOUT_S", 0.01)
    sample, _ = inputs(rows=30, seed=3)
    with pytest.raises(failures.InfraError, match=r"took more than 0\.01 s") as error:
        check_in_fresh_process("flights_delay", version, sample)
    assert error.value.kind == "timeout"
