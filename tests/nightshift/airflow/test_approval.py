"""The approve task of a model with `approval: manual`: its form asks only for a reason and shows the
gate report, and its answer becomes a gate.Approval (no answer by the timeout: a rejection by nobody).
How the task sits in the retrain DAG: tests/dags; a human answering it in a real run: tests/e2e."""

from __future__ import annotations

import pytest

from nightshift.airflow.approval import APPROVE, REJECT, GateApproval, approval_of
from nightshift.model.gate import Approval


@pytest.mark.parametrize(("response", "approval"), [
    ({"chosen_options": [APPROVE], "responded_by_user": {"id": "7", "name": "ana"},
      "params_input": {"reason": "gain holds on every slice"}}, Approval(True, "ana", "gain holds on every slice")),
    ({"chosen_options": [REJECT], "responded_by_user": {"id": "7", "name": ""}, "params_input": {}},
     Approval(False, "7", "")),
    ({"chosen_options": [REJECT], "responded_by_user": None, "params_input": None},
     Approval(False, "nobody (timed out)", "")),
], ids=["approved", "rejected-by-id", "timed-out"])
def test_the_answer_becomes_an_approval_naming_who_and_why(response, approval):
    assert approval_of(response) == approval


def test_the_form_asks_only_for_a_reason_and_shows_the_gate_report_of_the_evaluate_task():
    approve = GateApproval(task_id="approve", model="flights_delay", timeout_hours=1.5, evaluate_task_id="judge",
                           params={"as_of": "2013-03-31"})  # the DAG's run params: not this form's
    assert set(approve.params) == {"reason"}
    assert approve.subject == "Promote the new flights_delay challenger to champion?"
    assert "{{ ti.xcom_pull(task_ids='judge')['report'] }}" in approve.body
    assert (approve.options, approve.defaults) == ([APPROVE, REJECT], [REJECT])
    assert approve.response_timeout.total_seconds() == 1.5 * 3600
