"""The approve task of a model with `approval: manual`: Airflow's human-in-the-loop operator, asked
only when the gate passed the challenger, showing the gate report."""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param

APPROVE, REJECT = "Approve", "Reject"


class GateApproval(HITLOperator):
    """Waits for a human to approve or reject a challenger the gate passed; no answer by the timeout
    is a rejection. Returns None (asks nothing) when the gate already rejected it."""

    def __init__(self, *, model: str, timeout_hours: float, evaluate_task_id: str = "evaluate", **kwargs) -> None:
        kwargs.pop("params", None)  # the DAG's run params; the form here asks only for a reason
        super().__init__(
            subject=f"Promote the new {model} challenger to champion?",
            body=("The evaluation gate passed this challenger. Its report:\n\n```\n"
                  f"{{{{ ti.xcom_pull(task_ids='{evaluate_task_id}')['report'] }}}}\n```"),
            options=[APPROVE, REJECT],
            defaults=[REJECT],
            params={"reason": Param("", type="string", title="Reason", description="Why, for the record.")},
            response_timeout=dt.timedelta(hours=timeout_hours),
            **kwargs,
        )
        self.evaluate_task_id = evaluate_task_id

    def execute(self, context):
        verdict = context["ti"].xcom_pull(task_ids=self.evaluate_task_id)
        if verdict["decision"] != "promote":
            self.log.info("the gate rejected challenger v%s: nothing to approve", verdict["challenger_version"])
            return None
        return super().execute(context)


def approval_of(response: dict):
    """The operator's answer (its XCom) as a gate.Approval."""
    from nightshift.model.gate import Approval

    user = response.get("responded_by_user") or {}  # none when the timeout answered with the default
    return Approval(approved=response["chosen_options"] == [APPROVE],
                    by=user.get("name") or user.get("id") or "nobody (timed out)",
                    reason=(response.get("params_input") or {}).get("reason", ""))
