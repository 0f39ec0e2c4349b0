from nightshift.failures import DataError, InfraError, failure_summary


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
        "reproduce nightshift reproduce flights_delay validate 2013-02-08",
    ]


def test_unknown_exception_still_gets_a_summary_with_its_last_frame():
    text = failure_summary(raise_and_catch(KeyError("arr_delay")), model="m", step="train", day="2013-03-31")
    assert text.startswith("NIGHTSHIFT FAILURE  unexpected/KeyError  m  2013-03-31")
    assert "test_failures.py:" in text


def test_steps_that_cannot_be_reproduced_point_to_airflow():
    text = failure_summary(InfraError("registry down", kind="registry"), model="m", step="promote", day="")
    assert "infra/registry" in text
    assert text.splitlines()[-1] == "reproduce clear the promote task instance in the Airflow UI to rerun it"
