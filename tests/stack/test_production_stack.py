"""The production topology end to end, driven as a user would: Airflow's REST API v2 with a login,
tasks on Celery workers, MLflow's server registry, the lake and artifacts on S3; then the Airflow UI
in a real browser (Debian's chromium, driven by Playwright): log in, trigger a retrain through its
form, watch it finish, read a failed task's failure summary, open the Models page. Screenshots go to
test-artifacts/browser/. One module, so that one stack serves them all."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import mlflow
import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

from nightshift.data.sources import read_table
from nightshift.model.registry import MODEL_SHA256
from nightshift.settings import CHECKOUT
from stack.stack import WORKERS
from tests.airflow_api import ANSWER_TIMEOUT
from tests.invariants import FLIGHTS
from tests.production_stack import RunningStack
from tests.stack.conftest import MODEL
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

PARTS = ("s3", "mlflow", "serve", "api-server", "scheduler", "dag-processor", "triggerer", "worker1", "worker2")


def _pids(stack: RunningStack) -> dict[str, str]:
    return {part: (stack.root / "pids" / f"{part}.pid").read_text() for part in PARTS}


def test_stack_up_again_keeps_what_runs(stack: RunningStack):
    # The stack is shared with the chaos suite, whose PostgreSQL restart can make a part exit minutes later
    # (the triggerer did once on CI): first have everything up, as a supervisor keeps it.
    stack.up()
    before = _pids(stack)
    again = stack.run("up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(f"{part:<14} already running" in again.stdout for part in PARTS), again.stdout
    assert _pids(stack) == before


def test_the_api_and_the_models_page_refuse_anonymous_calls(stack: RunningStack):
    for path in ("/api/v2/dags", "/nightshift/models"):
        assert requests.get(f"{stack.airflow_url}{path}", timeout=10).status_code == 401, path


def test_a_trigger_with_a_value_out_of_range_is_refused_before_any_run(stack: RunningStack):
    api, retrain = stack.api(), f"{MODEL}__retrain"
    api.wait_for_dag(retrain)
    runs_before = api.call("GET", f"/dags/{retrain}/dagRuns").json()["total_entries"]
    for conf in ({"train_days": -3}, {"as_of": "2013-02-30"}):
        answer = api.session.post(f"{stack.airflow_url}/api/v2/dags/{retrain}/dagRuns",
                                  json={"logical_date": None, "conf": conf}, timeout=ANSWER_TIMEOUT)
        assert answer.status_code == 400, (conf, answer.status_code, answer.text[:300])
        assert next(iter(conf)) in answer.text, answer.text[:300]
    assert api.call("GET", f"/dags/{retrain}/dagRuns").json()["total_entries"] == runs_before


def test_ingest_and_retrain_through_the_api_on_celery_workers(stack: RunningStack, ingest_run: str):
    api = stack.api()
    ingest = f"{MODEL}__ingest"
    assert api.call("GET", f"/dags/{ingest}/dagRuns/{ingest_run}").json()["state"] == "failed"  # quarantine

    run_id = api.trigger(f"{MODEL}__retrain", {"as_of": "2013-02-10", "train_days": 14})
    assert api.wait_for_run(f"{MODEL}__retrain", run_id) == "success"

    # Every task ran on one of the stack's Celery workers, which logged its task-instance id; each worker had
    # loaded the task libraries before its pool started (nightshift.airflow.celery_config).
    logs = {worker: (stack.root / "logs" / f"{worker}.log").read_text() for worker in WORKERS}
    assert [worker for worker, log in logs.items() if "task libraries loaded for every task process" not in log] == []
    worker_logs = "".join(logs.values())
    instances = api.task_instances(ingest, ingest_run) + api.task_instances(f"{MODEL}__retrain", run_id)
    for instance in instances:
        assert (instance["queue"], instance["hostname"]) == ("default", socket.gethostname()), instance
        assert f"id=UUID('{instance['id']}')" in worker_logs, instance["task_id"]

    # A champion in the MLflow server's registry, its artifacts on S3.
    server = stack.env["MLFLOW_TRACKING_URI"]  # registry too: earlier tests set MLflow's global registry URI
    registry = mlflow.MlflowClient(tracking_uri=server, registry_uri=server)
    champion = registry.get_model_version_by_alias(MODEL, "champion")
    assert champion.tags[MODEL_SHA256]
    keys = bucket_keys(stack)
    assert "lake/validated/flights/date=2013-01-20/_SUCCESS" in keys
    assert any(key.startswith("lake/quarantine/flights/date=2013-02-08/") and key.endswith("/report.json")
               for key in keys)
    assert any(key.startswith("mlartifacts/") for key in keys)

    # The failed task's log, fetched through the API once the worker's own copy is gone (remote logging: read
    # from the bucket), ends with the failure summary.
    failed = next(i for i in api.task_instances(ingest, ingest_run) if i["task_id"] == "validate")
    assert failed["state"] == "failed"
    task_logs = f"dag_id={ingest}/run_id={ingest_run}/task_id=validate/"
    assert any(key.startswith(f"airflow-logs/{task_logs}") for key in keys), "the task log was not uploaded"
    local = list((stack.root / "airflow" / "logs").glob(f"{task_logs}*.log"))
    assert local, f"no local copy of {task_logs}"
    for path in local:  # out of the api-server's way, but still on disk for the secrets test at the end
        path.rename(path.with_name(f"{path.name}.set-aside"))
    events = [line["event"] for line in api.log(ingest, ingest_run, "validate", failed["try_number"])
              if not line["event"].startswith("::")]
    assert events[-1].lstrip().startswith("NIGHTSHIFT FAILURE"), events[-3:]
    assert "2013-02-08" in events[-1] and "nightshift reproduce flights_delay validate" in events[-1]


def lake_bucket(stack: RunningStack) -> tuple[Any, str]:
    """A client of the stack's S3, and the bucket its lake, MLflow's artifacts and the task logs are in."""
    s3 = boto3.client("s3", endpoint_url=stack.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                      aws_access_key_id=stack.env["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=stack.env["AWS_SECRET_ACCESS_KEY"])
    return s3, stack.env["NIGHTSHIFT_LAKE_URI"].removeprefix("s3://").split("/")[0]


def bucket_keys(stack: RunningStack, prefix: str = "") -> list[str]:
    s3, bucket = lake_bucket(stack)
    return [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])]


def test_the_stack_serves_the_champion_behind_its_token(stack: RunningStack, ingest_run: str):
    """After the retrain above: `nightshift serve` (every model, as compose runs it) answers with the
    champion in the MLflow server's registry, reading lookups and aggregates from the S3 lake."""
    url = f"http://127.0.0.1:{stack.parts.layout().serve_port}"
    token = {"Authorization": f"Bearer {stack.credentials['NIGHTSHIFT_SERVE_TOKEN']}"}
    assert requests.get(f"{url}/v1/models", timeout=10).status_code == 401
    server = stack.env["MLFLOW_TRACKING_URI"]
    champion = mlflow.MlflowClient(tracking_uri=server, registry_uri=server).get_model_version_by_alias(
        MODEL, "champion").version
    wait_until(lambda: requests.get(f"{url}/v1/models", headers=token, timeout=10).json()[MODEL]["champion"],
               done=lambda served: served == champion, timeout=120, what=f"the server to serve v{champion}")
    flights = read_table(FLIGHTS, "csv")
    rows = flights[(flights["month"] == 2) & (flights["day"] == 10)].head(20).drop(columns="arr_delay")
    answer = requests.post(f"{url}/v1/models/{MODEL}/predict", headers=token, timeout=30,
                           json={"dataframe_split": json.loads(rows.to_json(orient="split", index=False))})
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert len(predictions) == 20 and {row["version"] for row in predictions} == {champion}
    assert all(0 <= row["prediction"] <= 1 for row in predictions)


# -- in the browser ------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; `make test` installs it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = CHECKOUT / "test-artifacts" / "browser"
# Every wait, expect's assertions included (5 s by default), gets 30 s: the UI reads the API on a 2-core
# machine that runs other tests beside it ('Locator expected to be checked' timed out at 5 s under load).
WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)


@pytest.fixture
def page() -> Page:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium package"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(WAIT_MS)
        try:
            yield page
        except BaseException:
            page.screenshot(path=SHOTS / "error.png")
            raise
        finally:
            browser.close()


def log_in(page: Page, stack: RunningStack) -> None:
    page.goto(stack.airflow_url)
    page.wait_for_url("**/auth/login**")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(stack.credentials["AIRFLOW_ADMIN_PASSWORD"])
    page.screenshot(path=SHOTS / "01-login.png")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("nav-dags-link")).to_be_visible()


def trigger_with_form(page: Page, dag_id: str, params: dict[str, str]) -> str:
    """Fill the DAG's trigger form (its Params) and submit; returns the new run's id."""
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Trigger Dag - {dag_id}")).to_be_visible()
    for name, value in params.items():
        field = dialog.locator(f'input[name="element_{name}"]')  # date: <input type=date>, integer: spinbutton
        field.fill(value)
        field.press("Tab")
        expect(field).to_have_value(value)
    page.screenshot(path=SHOTS / "03-trigger-form.png")
    def is_trigger(response) -> bool:
        return response.request.method == "POST" and response.url.endswith(f"/dags/{dag_id}/dagRuns")

    with page.expect_response(is_trigger) as sent:
        dialog.get_by_role("button", name="Trigger", exact=True).click()
    run = sent.value.json()
    assert {name: str(run["conf"][name]) for name in params} == params, run["conf"]
    return run["dag_run_id"]


def test_trigger_a_retrain_and_read_a_failure_in_the_ui(stack: RunningStack, ingest_run: str, page: Page):
    api, retrain = stack.api(), f"{MODEL}__retrain"
    log_in(page, stack)

    page.goto(f"{stack.airflow_url}/dags/{retrain}")
    expect(page.get_by_test_id("toggle-pause").get_by_role("checkbox")).to_be_checked()  # unpaused
    page.screenshot(path=SHOTS / "02-retrain-dag.png")
    run_id = trigger_with_form(page, retrain, {"as_of": "2013-02-10", "train_days": "10"})

    assert api.wait_for_run(retrain, run_id) == "success"
    page.goto(f"{stack.airflow_url}/dags/{retrain}/runs/{quote(run_id, safe='')}")
    badge = page.get_by_role("heading", name=run_id, exact=True).locator(
        "xpath=following-sibling::*[@data-testid='state-badge']")
    expect(badge).to_have_text("Success")
    page.screenshot(path=SHOTS / "04-retrain-success.png")

    # The ingest run's validate task failed on the quarantined blizzard days: its log ends with the summary.
    page.goto(f"{stack.airflow_url}/dags/{MODEL}__ingest/runs/{quote(ingest_run, safe='')}/tasks/validate")
    expect(page.locator('[data-testid^="virtualized-item-"]').first).to_be_visible()
    page.get_by_placeholder("Search logs...").fill("NIGHTSHIFT FAILURE")  # expands collapsed groups, scrolls
    summary = page.locator('[data-testid^="virtualized-item-"]').filter(has_text="NIGHTSHIFT FAILURE").first
    expect(summary).to_be_in_viewport()
    expect(summary).to_contain_text("flights_delay")
    page.screenshot(path=SHOTS / "05-failure-summary.png")


def test_the_models_page_shows_champion_runs_and_quarantines(stack: RunningStack, ingest_run: str, page: Page):
    log_in(page, stack)
    page.get_by_role("link", name="Models").click()  # the plugin's entry in the nav bar
    row = page.frame_locator("iframe").locator(f"tr[data-model='{MODEL}']")
    # The page reads every model's registry and lake state on request: seconds on a busy machine (4.6 s seen).
    expect(row.locator("td.champion a")).to_have_text(re.compile(r"v\d+"))  # links to MLflow
    expect(row.locator("td.quarantines")).to_contain_text("2013-02-08")
    expect(row.locator("td.runs")).to_contain_text("ingest failed")
    expect(row.locator("td.history circle").first).to_be_attached()  # the champion's metric, at least
    page.screenshot(path=SHOTS / "06-models-page.png")
    # The page fits the 1400-pixel window: nothing to scroll sideways.
    widths = page.frame_locator("iframe").locator("html").evaluate("html => [html.scrollWidth, html.clientWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} pixels wide in a {widths[1]}-pixel frame"
    # A quarantined day's report and Data Docs page are one click away, served by the plugin from the lake on S3
    # (in the page's frame: the UI's sandboxed frame opens no other window).
    frame = page.frame_locator("iframe")
    for link, says in (("report", "expect_column_values_to_not_be_null"), ("Data Docs", "dep_time")):
        row.locator("td.quarantines a", has_text=link).first.click()
        expect(frame.locator("body")).to_contain_text(says)
        page.screenshot(path=SHOTS / f"07-quarantine-{link.replace(' ', '-').lower()}.png")
        page.goto(f"{stack.airflow_url}/plugin/models")
    # The model's history: every version with its gate decision; the champion's gate report one click away.
    row.locator("td.history a", has_text="all versions").click()
    champion = frame.locator("tr[data-aliases~='champion']")
    expect(champion.locator("td.gate")).to_contain_text("promote")
    page.screenshot(path=SHOTS / "08-model-history.png")
    champion.locator("td.reports a", has_text="gate report").click()
    expect(frame.locator("body")).to_contain_text("-> PROMOTE")
    # A run's link shows the run in the UI around the page.
    page.goto(f"{stack.airflow_url}/plugin/models")
    row.locator("td.runs a", has_text="ingest").click()
    page.wait_for_url(re.compile(rf"/dags/{MODEL}__ingest/runs/"))


# -- after everything ----------------------------------------------------------------------------

NOT_SECRET = {"AWS_ACCESS_KEY_ID"}  # an identifier, sent in the clear in every signed request
SECRET_STORES = {"credentials.env", "stack.env", "passwords.json"}  # where the stack keeps them, mode 0600


def test_no_secret_appears_in_any_log(stack: RunningStack, configured_secrets: dict[str, str], ingest_run: str):
    """Runs last in the module, after ingest, retrains, failures (with their Slack and email
    notifications) and, before it, the chaos module's faults."""
    wanted = {**{name: value for name, value in stack.credentials.items() if name not in NOT_SECRET},
              **configured_secrets}
    logs = [path for path in stack.root.rglob("*") if path.is_file() and path.name not in SECRET_STORES
            and (path.suffix == ".log" or "logs" in path.relative_to(stack.root).parts)]
    text = {str(path.relative_to(stack.root)): path.read_text(errors="replace") for path in logs}
    # Task logs are in the bucket (remote logging; the workers' copies are emptied once uploaded).
    s3, bucket = lake_bucket(stack)
    text |= {f"s3://{bucket}/{key}": s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode(errors="replace")
             for key in bucket_keys(stack, "airflow-logs/")}
    assert len(text) > 20 and any(where.startswith("s3://") and "dag_id=" in where for where in text), \
        "task logs not found in the bucket"
    assert any("could not send the failure summary by Slack" in body for body in text.values()), \
        "the Slack notifier (which holds the webhook token) never ran"
    leaks = [(name, where) for where, body in text.items() for name, value in wanted.items() if value in body]
    assert not leaks, f"secrets in logs: {leaks}"
