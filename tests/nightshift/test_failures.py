import re

from nightshift.failures import ConfigError, DataError, InfraError, ModelError, failure_summary
from nightshift.settings import CHECKOUT


def raise_and_catch(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:  # noqa: BLE001 - the test needs the traceback attached
        return caught


def test_known_failure_summary_has_every_part():
    error = DataError("3 of 14 expectations failed", kind="expectations", evidence="col | 12%", hint="check upstream")
    text = failure_summary(error, model="flights_delay", step="validate", day="2013-02-08")
    assert text.splitlines() == [
        "NIGHTSHIFT FAILURE  data/expectations  flights_delay  2013-02-08",
        "cause     3 of 14 expectations failed",
        "evidence",
        "  col | 12%",
        "runbook   check upstream",
        "see       docs/runbooks.md#expectations",
        "reproduce nightshift reproduce flights_delay validate 2013-02-08",
    ]


def test_the_reproduce_line_carries_the_options_the_runs_form_set():
    error = ConfigError("the run's params do not fit", kind="params")
    text = failure_summary(error, model="m", step="train", day="2013-03-31", options="--params '{\"max_iter\":5}'")
    assert text.splitlines()[-1] == "reproduce nightshift reproduce m train 2013-03-31 --params '{\"max_iter\":5}'"


def test_unknown_exception_still_gets_a_summary_with_its_last_frame():
    text = failure_summary(raise_and_catch(KeyError("arr_delay")), model="m", step="train", day="2013-03-31",
                           where="task train, try 1 of 3")
    head, where, *_ = text.splitlines()
    assert head == "NIGHTSHIFT FAILURE  unexpected/KeyError  m  2013-03-31"
    assert where == "where     task train, try 1 of 3"
    assert re.search(r"runbook   Not a known failure kind at \S+test_failures\.py:\d+; read the traceback", text), text


def test_steps_that_cannot_be_reproduced_point_to_airflow():
    text = failure_summary(InfraError("registry down", kind="registry"), model="m", step="promote", day="")
    assert "infra/registry" in text
    assert text.splitlines()[-1] == "reproduce clear the promote task instance in the Airflow UI to rerun it"


def test_every_failure_kind_raised_in_the_code_has_a_runbook_entry():
    raised = {match for path in (CHECKOUT / "include" / "nightshift").rglob("*.py")
              for match in re.findall(r'kind="([a-z_]+)"', path.read_text())}
    raised |= {error.category for error in (DataError, ModelError, InfraError, ConfigError)}
    entries = set(re.findall(r"^### ([a-z_]+)$", (CHECKOUT / "docs" / "runbooks.md").read_text(), re.MULTILINE))
    assert len(raised) > 20 and raised <= entries, f"no runbook entry for {sorted(raised - entries)}"


def test_a_client_error_caused_by_a_refused_connection_is_a_retryable_infra_failure():
    import requests

    try:
        try:
            requests.get("http://127.0.0.1:9/api/2.0/mlflow/runs/get", timeout=2)
        except requests.RequestException as err:  # as MLflow's REST client wraps it (no `from`)
            raise RuntimeError("API request to http://127.0.0.1:9/api/2.0/mlflow/runs/get failed") from err
    except RuntimeError as wrapped:
        text = failure_summary(wrapped, model="m", step="train", day="2013-01-21")

    assert text.startswith("NIGHTSHIFT FAILURE  infra/service_unreachable  m  2013-01-21")
    assert "ConnectionError" in text and "127.0.0.1:9" in text


def test_an_error_with_no_connection_failure_behind_it_stays_unexpected():
    try:
        raise RuntimeError("boom") from KeyError("k")
    except RuntimeError as err:
        text = failure_summary(err, model="m", step="train")
    assert text.startswith("NIGHTSHIFT FAILURE  unexpected/RuntimeError")


def test_a_postgres_server_that_refuses_is_unreachable_but_a_lock_timeout_is_not():
    import psycopg2
    from filelock import Timeout

    try:
        psycopg2.connect("postgresql://postgres@127.0.0.1:1/none", connect_timeout=2)
    except psycopg2.OperationalError as err:
        refused = failure_summary(err, model="m", step="ingest_raw")
    lock = failure_summary(Timeout("/x/promote-m.lock"), model="m", step="promote")

    assert refused.startswith("NIGHTSHIFT FAILURE  infra/service_unreachable")
    assert lock.startswith("NIGHTSHIFT FAILURE  unexpected/Timeout")  # the registry raises infra/lock itself
