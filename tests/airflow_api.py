"""A small client for Airflow 3's REST API v2, as a user's script would call it."""

from __future__ import annotations

import time
from urllib.parse import quote

import requests

from tests.waiting import wait_until

FINISHED = {"success", "failed"}
# How long one answer may take. CI saw the api-server (which also serves the Execution API to every
# task process) stall for over 30 s while thirteen runs started at once on a busy machine; the waits
# around these calls have deadlines of their own.
ANSWER_TIMEOUT = 120
TRIGGER_ATTEMPTS = 4


class AirflowApi:
    def __init__(self, base_url: str, username: str, password: str):
        self.base_url = base_url
        self.session = requests.Session()
        answer = self.session.post(f"{base_url}/auth/token", json={"username": username, "password": password},
                                   timeout=ANSWER_TIMEOUT)
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        answer = self.session.request(method, f"{self.base_url}/api/v2{path}", timeout=ANSWER_TIMEOUT, **kwargs)
        if not answer.ok:
            raise AssertionError(f"{method} {path} -> {answer.status_code}: {answer.text[:500]}")
        return answer

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Until the dag-processor has parsed the DAG."""
        url = f"{self.base_url}/api/v2/dags/{dag_id}"
        wait_until(lambda: self.session.get(url, timeout=ANSWER_TIMEOUT).status_code,
                   done=lambda status: status == 200, timeout=timeout, interval=2,
                   what=f"the dag-processor to parse {dag_id} (GET /dags/{dag_id} answering 200)")

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict) -> str:
        """A manual run's id. On SQLite a trigger can be refused with a 500 "Database error", nothing
        written (CI, 16 runs triggered at once): its transaction reads the DAG, then writes the run, and in
        WAL mode SQLite refuses that write at once ("database is locked", no busy wait) when the scheduler
        committed in between. Asked again, as a user would click again."""
        for attempt in range(1, TRIGGER_ATTEMPTS + 1):
            answer = self.session.post(f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns", timeout=ANSWER_TIMEOUT,
                                       json={"logical_date": None, "conf": conf})
            if not (answer.status_code == 500 and "Database error" in answer.text and attempt < TRIGGER_ATTEMPTS):
                break
            time.sleep(attempt)
        if not answer.ok:
            raise AssertionError(f"POST /dags/{dag_id}/dagRuns -> {answer.status_code} after {attempt} tries: "
                                 f"{answer.text[:500]}")
        return answer.json()["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 900) -> str:
        """The run's final state, success or failed."""
        return wait_until(lambda: self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"],
                          done=FINISHED.__contains__, timeout=timeout, interval=3,
                          what=f"{dag_id} {run_id} to finish")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()["task_instances"]

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> list[dict]:
        """The task's structured log lines (each with its `event`), as the UI shows them."""
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}"
        return self.call("GET", path, params={"full_content": "true", "map_index": map_index}).json()["content"]
