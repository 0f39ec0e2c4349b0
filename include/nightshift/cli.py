"""The `nightshift` command: demo, status, serve, rollback, release, reproduce."""

from __future__ import annotations

import datetime as dt
import json
import logging

import click

from nightshift.failures import REPRODUCIBLE_STEPS
from nightshift.settings import Settings


def model_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """MODEL becomes a file name, lock name and registry name: only a spec NAME is accepted."""
    from nightshift.spec import SpecError, check_name

    if value is None:  # an optional MODEL left out
        return None
    try:
        return check_name(value, "model")
    except SpecError as err:
        raise click.BadParameter(str(err), ctx, param) from None


def json_object(ctx: click.Context, param: click.Parameter, value: str | None) -> dict | None:
    """A JSON object given on the command line, such as a retrain form's params."""
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as err:
        raise click.BadParameter(f"{value!r} is not JSON: {err}", ctx, param) from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"{value!r} is not a JSON object ({{...}})", ctx, param)
    return parsed


@click.group()
def main() -> None:
    """Nightshift: keeps ML models healthy in production, on Apache Airflow."""
    import nightshift.airflow  # noqa: F401  # installs Airflow's connections as the connection lookup

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "mlflow", "urllib3", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@main.command()
def demo() -> None:
    """Run the demo story through real Airflow DAG runs on the embedded default (resets its home)."""
    from nightshift.demo import main as run_demo

    run_demo()


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def airflow(args: tuple[str, ...]) -> None:
    """The `airflow` CLI on this install's settings, e.g. `nightshift airflow dags list`.

    `nightshift airflow standalone` starts the UI, scheduler and dag-processor on the embedded default.
    """
    from nightshift.embedded import ADMIN, admin_password, airflow as run_airflow

    settings = Settings.from_env()
    if args[:1] == ("standalone",):
        click.echo(f"Airflow UI: http://localhost:8080  user {ADMIN}  password {admin_password(settings)}")
    raise SystemExit(run_airflow(settings, *args))


@main.command()
@click.argument("model", callback=model_name, required=False)
def status(model: str | None) -> None:
    """Partitions, model versions, gate decisions and aliases of MODEL; without MODEL, every model of the
    models folder (champion, last retrain, open quarantines, last monitoring) and each spec that does not
    load, with its error."""
    from nightshift.operate.status import print_overview, print_status
    from nightshift.spec import SpecError

    if model is None:
        print_overview(Settings.from_env())
        return
    try:
        print_status(Settings.from_env(), model)
    except SpecError as err:
        raise click.ClickException(str(err)) from None


@main.command()
@click.argument("model", callback=model_name)
@click.option("--to", "target", default="previous", show_default=True, help="a version number, or previous")
@click.option("--reason", required=True, help="why, for the record")
def rollback(model: str, target: str, reason: str) -> None:
    """Make an earlier version of MODEL the champion again (reversible: roll back to previous)."""
    import getpass

    from nightshift.model.registry import Registry

    record = Registry.from_env().rollback(model, target, reason=reason, actor=getpass.getuser())
    click.echo(f"{model}: champion v{record['from_version']} -> v{record['to_version']} "
               f"(recorded: by {record['by']} at {record['at']})")


@main.command()
@click.argument("model", callback=model_name)
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--reason", required=True, help="what you reviewed and why the day is fit for training")
def release(model: str, day: dt.datetime, reason: str) -> None:
    """Move a reviewed quarantined DAY of MODEL's dataset into validated/, recording who and why."""
    import getpass

    from nightshift.data.lake import Lake
    from nightshift.data.release import release_day
    from nightshift.failures import NightshiftError
    from nightshift.spec import load_spec, spec_path

    settings = Settings.from_env()
    spec = load_spec(spec_path(settings.models_dir, model))
    try:
        record = release_day(spec, Lake.from_uri(settings.lake_uri), day.date(), reviewer=getpass.getuser(),
                             reason=reason)
    except NightshiftError as err:
        raise click.ClickException(f"{err}{chr(10) + err.hint if err.hint else ''}") from None
    click.echo(f"{spec.source.dataset} {day.date()}: released to validated/ by {record['released_by']} "
               f"at {record['released_at']}")


def model_names(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    return [model_name(ctx, param, value) for value in values]


@main.command()
@click.argument("models", nargs=-1, callback=model_names)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5050, show_default=True, type=click.IntRange(1, 65535))
def serve(models: list[str], host: str, port: int) -> None:
    """Serve MODELS online (without MODELS: every model of the models folder whose spec loads): MLflow's
    scoring protocol on /invocations, /v1/models/<model>/predict, /ready, /metrics. Follows each model's
    champion in the registry and swaps new versions in without a failed request; canary and shadow as the
    spec's `serving` says; predictions logged to the lake.

    Set NIGHTSHIFT_SERVE_TOKEN (or NIGHTSHIFT_SERVE_TOKEN_CONN_ID, an Airflow connection whose password
    is the token, from any secrets backend) to require a bearer token; a server on an address other
    than loopback refuses to start without one.
    """
    import os

    # One OpenMP thread per prediction (before scikit-learn loads OpenMP): a request is one small batch,
    # where a thread team costs more than it saves and competes with the server's own threads.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import uvicorn

    from nightshift.operate.serving.app import LOOPBACK, bearer_token, create_app, load_models
    from nightshift.operate.serving.metrics import ServingMetrics
    from nightshift.spec import SpecError

    token = bearer_token()
    if token is None and host not in LOOPBACK:
        raise click.ClickException(f"--host {host} is reachable from other machines: set NIGHTSHIFT_SERVE_TOKEN "
                                   "(or NIGHTSHIFT_SERVE_TOKEN_CONN_ID) so that only clients with the token are "
                                   "answered")
    metrics = ServingMetrics()
    try:
        app = create_app(load_models(Settings.from_env(), models, metrics), metrics, token)
    except SpecError as err:
        raise click.ClickException(str(err)) from None
    access = "bearer token required" if token else "no token"
    click.echo(f"serving {', '.join(app.state.models)} on http://{host}:{port} ({access})")
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")


@main.command()
@click.argument("model", callback=model_name)
@click.argument("step", type=click.Choice(REPRODUCIBLE_STEPS))
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--train-days", type=click.IntRange(1, 3660), help="train: the retrain form's training window")
@click.option("--params", callback=json_object, help="train: the retrain form's model.params, as a JSON object")
@click.option("--tune", is_flag=True, help="train: compare the candidates and search, as the form's tune")
def reproduce(model: str, step: str, day: dt.datetime, train_days: int | None, params: dict | None,
              tune: bool) -> None:
    """Rerun one STEP of MODEL for DAY outside Airflow, against the same storage; raises the same error.

    ingest_raw, validate and build_features (the rolling aggregates) take the day itself; train and evaluate
    use validated data up to DAY (evaluate judges the current challenger on that window's holdout). A failed
    train's summary gives the options its run's form set.
    """
    from nightshift import steps
    from nightshift.model.registry import CHALLENGER
    from nightshift.model.train import plan_window

    run, day = steps.Run.of(model), day.date()
    try:
        if step == "ingest_raw":
            for ingested, rows in steps.ingest_raw(run, [day]).items():
                click.echo(f"{ingested}: {rows} rows in raw/")
        elif step == "validate":
            for checked, status in steps.validate(run, [day]).items():
                click.echo(f"{checked}: {status}")
        elif step == "build_features":
            click.echo(f"features/{model}: {steps.features(run, [day]).summary()}")
        elif step == "train":
            fitted = steps.train(run, day, train_days, tune=tune, force=True, params=params)  # fitting again
            click.echo(fitted.to_xcom())
        elif (version := run.registry.alias_version(model, CHALLENGER)) is None:
            raise click.ClickException(f"{model} has no challenger to evaluate")
        else:
            steps.evaluate(run, version, plan_window(run.spec, run.lake, day).holdout)  # logs the gate's report
    except steps.NothingToDo as reason:
        raise click.ClickException(str(reason)) from None
