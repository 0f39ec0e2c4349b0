"""Airflow UI plugin: the "Models" page (nav bar), served by the api-server at /nightshift/models, with
each quarantined day's report and Data Docs page under /nightshift/models/<model>/quarantine/<day>/.
Only logged-in users see them (Airflow's own token or session cookie)."""

from __future__ import annotations

import datetime as dt

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPBearer

app = FastAPI(title="Nightshift")
RUNS_PER_MODEL = 6
# Reports and Data Docs are made from the data they describe: shown with no script, form or fetch (Data
# Docs name CDN scripts, which neither run nor load), their own inline styles kept.
SANDBOXED = {"Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:"}


async def logged_in(request: Request) -> None:
    """Airflow's own check: its token as a bearer header, or the UI's session cookie. Imported on the
    first request, not with the plugin: every Airflow process loads plugins and the import costs ~1 s."""
    from airflow.api_fastapi.core_api.security import get_user

    await get_user(request, None, await HTTPBearer(auto_error=False)(request))


@app.get("/models", response_class=HTMLResponse, dependencies=[Depends(logged_in)])
def models_page() -> str:
    from nightshift.airflow.models_page import render
    from nightshift.model.registry import Registry
    from nightshift.operate.status import model_status
    from nightshift.settings import Settings
    from nightshift.spec import load_models_folder

    settings = Settings.from_env()
    folder, registry = load_models_folder(settings.models_dir), Registry.from_env()
    statuses = []
    for model in folder.specs:
        try:
            statuses.append(model_status(settings, model, registry))
        except Exception as error:  # noqa: BLE001 - one unreadable model must not hide the others
            statuses.append((model, error))
    statuses += list(folder.broken.items())
    return render(statuses, {model: last_runs(model) for model in folder.specs})


@app.get("/models/{model}/quarantine/{day}/{name}", dependencies=[Depends(logged_in)])
def quarantine_file(model: str, day: dt.date, name: str) -> Response:
    """A quarantined day's report or Data Docs page from the lake, sandboxed."""
    from nightshift.airflow.models_page import QUARANTINE_FILES, quarantine_file
    from nightshift.settings import Settings

    try:
        body = quarantine_file(Settings.from_env(), model, day, name)
    except LookupError as err:
        raise HTTPException(status_code=404, detail=str(err)) from None
    return Response(body, media_type=QUARANTINE_FILES[name], headers=SANDBOXED)


@app.get("/models/{model}/history", response_class=HTMLResponse, dependencies=[Depends(logged_in)])
def history_page(model: str) -> str:
    from nightshift.airflow.models_page import render_history
    from nightshift.operate.status import model_status
    from nightshift.settings import Settings
    from nightshift.spec import SpecError

    try:
        return render_history(model_status(Settings.from_env(), model))
    except SpecError as err:
        raise HTTPException(status_code=404, detail=str(err)) from None


@app.get("/models/{model}/versions/{version}/{path:path}", dependencies=[Depends(logged_in)])
def version_file(model: str, version: int, path: str) -> Response:
    """A version's gate report or plot, or a monitoring report or drift plot, from its MLflow run."""
    from nightshift.airflow.models_page import version_file
    from nightshift.model.registry import Registry

    try:
        body, media_type = version_file(Registry.from_env(), model, str(version), path)
    except LookupError as err:
        raise HTTPException(status_code=404, detail=str(err)) from None
    return Response(body, media_type=media_type, headers=SANDBOXED)


def last_runs(model: str) -> list:
    """The model's newest DAG runs, from Airflow's metadata DB."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from nightshift.airflow.models_page import RunSummary

    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id.like(f"{model}\\_\\_%", escape="\\"))
                               .order_by(DagRun.run_after.desc()).limit(RUNS_PER_MODEL))
        return [RunSummary(run.dag_id, run.run_id, str(run.state), f"{run.run_after:%Y-%m-%d %H:%M}") for run in runs]


class NightshiftPlugin(AirflowPlugin):
    name = "nightshift"
    fastapi_apps = [{"app": app, "url_prefix": "/nightshift", "name": "Nightshift models"}]  # noqa: RUF012 - AirflowPlugin's interface
    external_views = [{"name": "Models", "href": "nightshift/models", "url_route": "models", "destination": "nav"}]  # noqa: RUF012 - AirflowPlugin's interface
