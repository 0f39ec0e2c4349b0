"""The Airflow UI in a real browser (Debian's chromium, driven by Playwright) on the production stack:
log in, trigger a retrain through its form, watch it finish, read a failed task's failure summary.
Screenshots go to test-artifacts/browser/."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from nightshift.settings import CHECKOUT
from tests.stack.conftest import MODEL, RunningStack

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; `make test` installs it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = CHECKOUT / "test-artifacts" / "browser"


@pytest.fixture
def page() -> Page:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium package"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(30_000)
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
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(f"/dags/{dag_id}/dagRuns")) as sent:
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
    expect(row.locator("td.champion a")).to_have_text(re.compile(r"v\d+"))  # a link to the MLflow version
    expect(row.locator("td.quarantines")).to_contain_text("2013-02-08")
    expect(row.locator("td.runs")).to_contain_text("ingest failed")
    page.screenshot(path=SHOTS / "06-models-page.png")
