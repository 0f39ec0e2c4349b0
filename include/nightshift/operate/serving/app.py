"""`nightshift serve`: the HTTP server (FastAPI on uvicorn) for one or more models.

    POST /invocations                    MLflow's scoring protocol (one model served)
    POST /models/<model>/invocations     the same, for one of several models
    POST /v1/models/<model>/predict      predictions with the version that made each, and a request id
    GET  /v1/models                      what serves each model now
    GET  /health  /ping                  the process is alive
    GET  /ready                          every model has a verified champion loaded
    GET  /metrics                        Prometheus: requests, errors, latency per model and version

With a token (NIGHTSHIFT_SERVE_TOKEN, or from a secrets backend through the Airflow connection
NIGHTSHIFT_SERVE_TOKEN_CONN_ID), every route but /health, /ping and /ready needs
`Authorization: Bearer <token>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import uuid

import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from nightshift.connections import get_connection
from nightshift.data.lake import Lake
from nightshift.failures import InfraError
from nightshift.model.registry import Registry
from nightshift.operate.serving.metrics import ServingMetrics
from nightshift.operate.serving.models import ServedModel
from nightshift.operate.serving.requests import RequestError, parse_payload
from nightshift.settings import Settings
from nightshift.spec import SpecError, load_models_folder, load_spec, spec_path

log = logging.getLogger(__name__)
OPEN_ROUTES = {"/health", "/ping", "/ready"}  # probes answer without the token
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def bearer_token() -> str | None:
    """The token clients must send: NIGHTSHIFT_SERVE_TOKEN, or the password of the connection
    NIGHTSHIFT_SERVE_TOKEN_CONN_ID names, wherever Airflow keeps connections (a secrets backend such as
    Vault or AWS Secrets Manager, the metadata DB, AIRFLOW_CONN_<ID>). None: no token."""
    if conn_id := os.environ.get("NIGHTSHIFT_SERVE_TOKEN_CONN_ID"):
        token = get_connection(conn_id).password
        if not token:
            raise InfraError(f"connection {conn_id!r} (NIGHTSHIFT_SERVE_TOKEN_CONN_ID) has no password: the token "
                             "goes there", kind="connection")
        return token
    return os.environ.get("NIGHTSHIFT_SERVE_TOKEN") or None


def load_models(settings: Settings, names: list[str], metrics: ServingMetrics) -> dict[str, ServedModel]:
    """The named models, or without names every model of the models folder whose spec loads (a broken
    spec is logged and left out: it hides no other model)."""
    if names:
        specs = [load_spec(spec_path(settings.models_dir, name)) for name in names]
    else:
        folder = load_models_folder(settings.models_dir)
        for error in folder.broken.values():
            log.error("not served: %s", error)
        specs = list(folder.specs.values())
    if not specs:
        raise SpecError(f"{settings.models_dir}: no model spec loads; nothing to serve")
    lake, registry = Lake.from_uri(settings.lake_uri), Registry.from_env()
    return {spec.name: ServedModel(spec, lake, registry, metrics) for spec in specs}


def create_app(models: dict[str, ServedModel], metrics: ServingMetrics, token: str | None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        for model in models.values():
            model.start()
        yield
        for model in models.values():
            model.stop()  # writes the logged predictions still buffered

    app = FastAPI(title="Nightshift serving", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.models = models

    @app.middleware("http")
    async def authenticate(request: Request, call_next):
        if token and request.url.path not in OPEN_ROUTES:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return _error(401, "missing or wrong bearer token (Authorization: Bearer <token>)")
        return await call_next(request)

    @app.get("/health")
    @app.get("/ping")
    async def health() -> dict:
        return {"status": "alive"}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        waiting = {name: model.waiting_for for name, model in models.items() if model.routes.champion is None}
        return JSONResponse({"ready": not waiting, "waiting": waiting}, status_code=503 if waiting else 200)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def served() -> dict:
        return {name: model.describe() for name, model in models.items()}

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        if len(models) != 1:
            return _error(400, f"this server serves {sorted(models)}: post to /models/<model>/invocations")
        return await _score(request, next(iter(models.values())), mlflow_format=True)

    @app.post("/models/{name}/invocations")
    async def model_invocations(name: str, request: Request) -> Response:
        return await _score(request, models.get(name), mlflow_format=True, name=name)

    @app.post("/v1/models/{name}/predict")
    async def predict(name: str, request: Request) -> Response:
        return await _score(request, models.get(name), mlflow_format=False, name=name)

    async def _score(request: Request, model: ServedModel | None, *, mlflow_format: bool, name: str = "") -> Response:
        if model is None:
            return _error(404, f"no model {name!r} here; this server serves {sorted(models)}")
        body = await request.body()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        champion = model.routes.champion
        version = champion.version if champion else "none"
        with metrics.latency.labels(model.name, version).time():
            try:
                submitted = await run_in_threadpool(_submit, model, body, request.headers.get("content-type"),
                                                    request_id)
                answer = await asyncio.wrap_future(submitted)
            except RequestError as err:
                metrics.requests.labels(model.name, version, str(err.status)).inc()
                metrics.errors.labels(model.name, version, "unavailable" if err.status == 503 else "bad_request").inc()
                return _error(err.status, str(err), request_id)
            except Exception:
                log.exception("%s: request %s failed", model.name, request_id)
                metrics.requests.labels(model.name, version, "500").inc()
                metrics.errors.labels(model.name, version, "internal").inc()
                return _error(500, f"the server failed on this request; see its log for request {request_id}",
                              request_id, code="INTERNAL_ERROR")
        metrics.requests.labels(model.name, version, "200").inc()
        if mlflow_format:
            content = {"predictions": _listed(answer.predictions["prediction"])}
        else:
            content = {"model": model.name, "request_id": request_id,
                       "predictions": _per_row(answer)}
        headers = {"x-request-id": request_id, "x-model-version": ",".join(dict.fromkeys(answer.versions))}
        return Response(json.dumps(content), media_type="application/json", headers=headers)

    return app


def _submit(model: ServedModel, body: bytes, content_type: str | None, request_id: str):
    """Parse and check one request, and queue it (in a worker thread: it is CPU work); its future answer."""
    return model.submit(parse_payload(body, content_type), request_id)


def _per_row(answer) -> list[dict]:
    """`[{"prediction": ..., "version": ...}, ...]` (and "probability", multiclass), one per request row."""
    columns = {name: _listed(values) for name, values in answer.predictions.items()}
    columns["version"] = answer.versions.tolist()
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _listed(values: np.ndarray) -> list:
    """JSON-ready values: floats as floats, NaN as null."""
    if values.dtype.kind == "f":
        return [None if np.isnan(value) else float(value) for value in values]
    return values.tolist()


def _error(status: int, message: str, request_id: str | None = None, code: str = "BAD_REQUEST") -> JSONResponse:
    """MLflow's error body: {"error_code", "message"}."""
    headers = {"x-request-id": request_id} if request_id else None
    return JSONResponse({"error_code": code, "message": message}, status_code=status, headers=headers)
