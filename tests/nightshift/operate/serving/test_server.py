"""`nightshift serve` as a real process on 127.0.0.1, against a real registry and lake: MLflow's client
protocol, request checks, a promotion under load, a tampered version, canary and shadow, the log."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import yaml

from nightshift.data.batches import read_batches
from nightshift.model import train
from nightshift.model.inputs import VersionModel
from nightshift.model.registry import CHALLENGER, CHAMPION
from nightshift.operate.monitor import monitor
from nightshift.operate.serving.models import CANARY_STOPPED
from nightshift.operate.serving.prediction_log import ONLINE
from tests.conftest import DEMO_SPEC, free_port, serving, tamper_artifact, validated_world
from tests.waiting import wait_until

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(21)]
DAY = DAYS[-1]
TOKEN = "test-token"
FAST = {"poll_seconds": 0.3, "log_flush_seconds": 0.5}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three validated weeks and a champion (version 1) trained on them."""
    with validated_world(tmp_path_factory, "serving", DAYS, champion_as_of=DAY) as run:
        yield run


@pytest.fixture(scope="module")
def rows(world) -> pd.DataFrame:
    """The last day's validated rows as a client sends them: without the target."""
    return world.lake.read_partition("validated", world.spec.source.dataset, DAY).drop(columns="arr_delay")


def payload(frame: pd.DataFrame, form: str = "dataframe_split") -> dict:
    orient = "split" if form == "dataframe_split" else "records"
    data = json.loads(frame.to_json(orient=orient, index=False, date_format="iso"))
    return {form: data}



@contextlib.contextmanager
def server(world, tmp_path: Path, serving_settings: dict, token: str | None = None) -> Iterator[str]:
    """`nightshift serve flights_delay` on a free port, with the demo spec's `serving` section replaced;
    yields its URL."""
    models = tmp_path / "models"
    models.mkdir()
    spec = yaml.safe_load(DEMO_SPEC.read_text())
    spec["serving"] = {**FAST, **serving_settings}
    (models / DEMO_SPEC.name).write_text(yaml.safe_dump(spec, sort_keys=False))
    port = free_port()
    env = {**os.environ, "NIGHTSHIFT_HOME": str(world.settings.home), "NIGHTSHIFT_MODELS_DIR": str(models)}
    env.pop("NIGHTSHIFT_SERVE_TOKEN", None)
    if token:  # from a secrets backend, through an Airflow connection (here Airflow's environment backend)
        env["NIGHTSHIFT_SERVE_TOKEN_CONN_ID"] = "serve_token"
        env["AIRFLOW_CONN_SERVE_TOKEN"] = json.dumps({"conn_type": "generic", "password": token})
    command = [str(Path(sys.executable).with_name("nightshift")), "serve", world.spec.name, "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with serving(command, f"{url}/health", tmp_path / "serve.log", env=env):
        wait_until(lambda: requests.get(f"{url}/ready", timeout=5).ok, timeout=60, interval=0.2,
                   what=f"the server to load its champion (log: {tmp_path / 'serve.log'})")
        yield url


@pytest.fixture(scope="module")
def plain(world, tmp_path_factory) -> Iterator[requests.Session]:
    """A server without canary, shadow or token; a client session for it."""
    with server(world, tmp_path_factory.mktemp("plain"), {}) as url:
        session = requests.Session()
        session.url = url
        yield session


def served(session: requests.Session) -> dict:
    return session.get(f"{session.url}/v1/models", timeout=5).json()["flights_delay"]


def train_challenger(world, train_days: int) -> str:
    window = train.plan_window(world.spec, world.lake, DAY, train_days=train_days)
    return train.train_challenger(world.spec, world.lake, world.registry, window).version


def test_mlflow_clients_get_the_champions_predictions(world, rows, plain):
    """MLflow's own scoring client, unchanged, gets what the champion predicts on the same rows in batch."""
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    champion = VersionModel.load(world.registry, world.lake, world.spec, "1")
    expected = champion.predict(rows.head(50).assign(date=pd.Timestamp(DAY)))
    client = ScoringServerClient("127.0.0.1", int(plain.url.rsplit(":", 1)[1]))
    client.wait_server_ready(timeout=5)
    assert np.allclose(client.invoke(rows.head(50)).get_predictions().iloc[:, 0], expected, rtol=0, atol=1e-12)
    for form in ("dataframe_split", "dataframe_records", "instances"):
        answer = plain.post(f"{plain.url}/invocations", json=payload(rows.head(50), form), timeout=30)
        assert answer.status_code == 200, answer.text
        assert np.allclose(answer.json()["predictions"], expected, rtol=0, atol=1e-12), form
        assert answer.headers["x-model-version"] == "1"
    predicted = plain.post(f"{plain.url}/v1/models/flights_delay/predict", json=payload(rows.head(2)), timeout=30)
    body = predicted.json()
    assert body["model"] == "flights_delay" and body["request_id"] == predicted.headers["x-request-id"]
    assert [row["version"] for row in body["predictions"]] == ["1", "1"]
    assert np.allclose([row["prediction"] for row in body["predictions"]], expected[:2], rtol=0, atol=1e-12)
    metrics = plain.get(f"{plain.url}/metrics", timeout=5).text
    assert 'nightshift_serve_requests_total{model="flights_delay",status="200",version="1"} 5.0' in metrics
    assert 'nightshift_serve_request_seconds_bucket{le="+Inf",model="flights_delay",version="1"}' in metrics


def test_requests_at_once_are_answered_together_each_with_its_own_rows_and_a_bad_one_fails_alone(world, rows,
                                                                                                    plain):
    from concurrent.futures import ThreadPoolExecutor

    champion = VersionModel.load(world.registry, world.lake, world.spec, "1")
    slices = [rows.iloc[start:start + 3] for start in range(0, 8 * 3, 3)]
    expected = [champion.predict(part.assign(date=pd.Timestamp(DAY))) for part in slices]
    bad = payload(slices[0], "dataframe_records")
    bad["dataframe_records"][1]["distance"] = "far"

    def ask(number: int) -> requests.Response:
        body = bad if number % 8 == 7 else payload(slices[number % 8])
        return requests.post(f"{plain.url}/invocations", json=body, timeout=60)

    with ThreadPoolExecutor(8) as clients:
        answers = list(clients.map(ask, range(80)))
    for number, answer in enumerate(answers):
        if number % 8 == 7:
            assert answer.status_code == 400 and "'far'" in answer.json()["message"], answer.text
        else:
            assert answer.status_code == 200, answer.text
            assert np.allclose(answer.json()["predictions"], expected[number % 8], rtol=0, atol=1e-12), number
    batches = plain.get(f"{plain.url}/metrics", timeout=5).text
    together = re.search(r'batch_requests_bucket\{le="1.0",model="flights_delay"\} (\d+)', batches)
    total = re.search(r'batch_requests_count\{model="flights_delay"\} (\d+)', batches)
    assert int(together[1]) < int(total[1])  # some batches held more than one request


def test_bad_requests_get_a_4xx_that_names_the_problem(rows, plain):
    def refused(body, status: int, *, headers: dict | None = None) -> str:
        kwargs = {"data": body} if isinstance(body, str | bytes) else {"json": body}
        answer = plain.post(f"{plain.url}/invocations", headers=headers, timeout=30, **kwargs)
        assert answer.status_code == status, answer.text
        return answer.json()["message"]

    assert "missing column(s) ['distance']" in refused(payload(rows.head(2).drop(columns="distance")), 400)
    wrong = payload(rows.head(3), "dataframe_records")
    wrong["dataframe_records"][2]["distance"] = "far"
    assert refused(wrong, 400) == "column 'distance': expected a number, got 'far' (str) in row 2"
    wrong = payload(rows.head(2), "dataframe_records")
    wrong["dataframe_records"][1]["carrier"] = 9
    assert refused(wrong, 400) == "column 'carrier': expected a string, got 9 (int) in row 1"
    big = payload(pd.concat([rows] * (1001 // len(rows) + 1)).head(1001))
    assert "1001 rows in one request; at most 1000 (serving.max_batch_rows)" in refused(big, 413)
    assert "not JSON" in refused("{", 400, headers={"Content-Type": "application/json"})
    assert "content type 'text/csv'" in refused("a,b", 415, headers={"Content-Type": "text/csv"})
    assert "exactly one of" in refused({"rows": []}, 400)
    stale = payload(rows.head(2), "dataframe_records")
    stale["dataframe_records"][0]["time_hour"] = "yesterday"
    assert "time_hour" in refused(stale, 400)
    assert plain.post(f"{plain.url}/v1/models/nope/predict", json=payload(rows.head(1)), timeout=5).status_code == 404
    assert 'kind="bad_request"' in plain.get(f"{plain.url}/metrics", timeout=5).text


def test_a_promotion_under_steady_load_swaps_versions_with_no_failed_request(world, rows, plain):
    body = json.dumps(payload(rows.head(20)))
    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    def load() -> None:
        client = requests.Session()
        client.headers.update(plain.headers)
        while not stop.is_set() and len(seen) < 20_000:  # bounded: the test ends either way
            answer = client.post(f"{plain.url}/invocations", data=body, timeout=30,
                                 headers={"Content-Type": "application/json"})
            seen.append((answer.status_code, answer.headers.get("x-model-version", "")))

    challenger = train_challenger(world, train_days=6)
    loader = threading.Thread(target=load)
    loader.start()
    try:
        wait_until(lambda: len(seen) > 20, timeout=60, what="the load to start")
        world.registry.promote(world.spec.name, challenger, expected_champion="1")
        wait_until(lambda: served(plain)["champion"] == challenger, timeout=60, what=f"v{challenger} to serve")
        before = len(seen)
        wait_until(lambda: len(seen) > before + 20, timeout=60, what="requests after the swap")
    finally:
        stop.set()
        loader.join()
    assert {status for status, _ in seen} == {200}, f"{sum(s != 200 for s, _ in seen)} of {len(seen)} failed"
    versions = [version for _, version in seen]
    swap = versions.index(challenger)
    assert set(versions[:swap]) == {"1"} and set(versions[swap:]) == {challenger}  # one clean switch
    assert 'nightshift_serve_swaps_total{model="flights_delay",role="champion"} 2.0' in plain.get(
        f"{plain.url}/metrics", timeout=5).text


def test_a_tampered_version_is_never_served(world, rows, plain):
    champion = served(plain)["champion"]
    tampered = train_challenger(world, train_days=7)
    stored, original = tamper_artifact(world.registry, world.spec.name, tampered)
    try:  # Nightshift's promote refuses a tampered version: the alias is moved by hand, as in MLflow's UI
        world.registry.set_alias(world.spec.name, CHAMPION, tampered)
        state = wait_until(lambda: served(plain), done=lambda state: tampered in state["not_served"], timeout=60,
                           what=f"the server to refuse v{tampered}")
        assert "artifact checksum" in state["not_served"][tampered] and state["champion"] == champion
        answer = plain.post(f"{plain.url}/invocations", json=payload(rows.head(5)), timeout=30)
        assert answer.status_code == 200 and answer.headers["x-model-version"] == champion
        assert (f'nightshift_serve_load_failures_total{{kind="artifact_checksum",model="flights_delay",'
                f'version="{tampered}"}} 1.0') in plain.get(f"{plain.url}/metrics", timeout=5).text
    finally:
        stored.write_bytes(original)
        world.registry.set_alias(world.spec.name, CHAMPION, champion)
        world.registry.retire_challenger(world.spec.name, tampered)


def test_the_canary_is_sticky_stops_itself_over_budget_and_shadow_and_canary_rows_are_logged(world, rows,
                                                                                            tmp_path):
    champion = world.registry.alias_version(world.spec.name, CHAMPION)
    challenger = train_challenger(world, train_days=5)
    started = pd.Timestamp.now(tz="UTC")  # the other tests' servers logged rows of the same day

    def logged_since() -> pd.DataFrame:
        logged = read_batches(world.lake, "predictions", world.spec.name, [DAY], ONLINE)
        return logged[logged["served_at"] >= started] if len(logged) else logged

    budget = {"max_p99_ms": 0.001, "min_requests": 8, "window": 10}  # no model predicts in a microsecond
    settings = {"canary_percent": 50, "shadow": True, "canary_budget": budget}
    try:
        with server(world, tmp_path, settings, token=TOKEN) as url:
            assert requests.get(f"{url}/v1/models", timeout=5).status_code == 401  # no token
            assert requests.get(f"{url}/ready", timeout=5).status_code == 200      # probes need none
            assert served_at(url)["challenger"] == challenger and served_at(url)["canary_percent"] == 50
            first = predict(url, rows.head(200))
            assert {row["version"] for row in first} == {champion, challenger}
            share = np.mean([row["version"] == challenger for row in first])
            assert 0.3 < share < 0.7
            for _ in range(3):  # sticky: the same flights get the same model, in any order and company
                again = predict(url, rows.head(200).iloc[::-1])[::-1]
                assert [row["version"] for row in again] == [row["version"] for row in first]
            for _ in range(8):
                predict(url, rows.head(20))
            state = served_at(url)
            assert state["canary_percent"] == 0 and "max_p99_ms" in state["canary_stopped"]
            assert {row["version"] for row in predict(url, rows.head(200))} == {champion}
            assert "max_p99_ms" in world.registry.version_tags(world.spec.name, challenger)[CANARY_STOPPED]
            logged = wait_until(logged_since,
                                done=lambda frame: "route" in frame and (frame["route"] == "shadow").sum() >= 200 * 5,
                                timeout=30, what="shadow rows in the lake")
        assert {"champion", "canary", "shadow"} <= set(logged["route"])
        requests_served = logged[logged["route"] != "shadow"]
        assert set(requests_served["model_version"]) == {champion, challenger}
        assert set(logged.loc[logged["route"] == "shadow", "model_version"]) == {challenger}
        assert {*world.spec.scoring.id_columns, *world.spec.features.columns, "prediction", "request_id", "row",
                "latency_ms", "served_at", "date"} <= set(logged.columns)
        shadow = logged[logged["route"] == "shadow"].set_index(["request_id", "row"])
        canary = requests_served[requests_served["route"] == "canary"].set_index(["request_id", "row"])
        both = canary.join(shadow["prediction"].rename("prediction_shadow"), how="inner")
        assert len(both) and np.allclose(both["prediction"], both["prediction_shadow"])  # one model, one answer

        # The monitor reads them: the champion's live traffic, and the challenger's evidence on its version.
        report = monitor(world.spec, world.lake, world.registry, DAY + dt.timedelta(days=1))
        answered = logged[(logged["route"] == "champion") & (logged["model_version"] == champion)]
        assert report.online.rows >= len(answered) and report.online.labelled_rows > 0.9 * report.online.rows
        assert {d.feature for d in report.online.drift} == set(world.spec.features.columns)
        assert 0.5 < report.online.realized < 1
        evidence = report.challenger_online
        assert evidence["canary_rows"] >= (logged["route"] == "canary").sum()
        assert 0.5 < evidence["shadow_agreement"] <= 1
        assert 0.5 < evidence["shadow_challenger_roc_auc"] < 1 and 0.5 < evidence["canary_champion_roc_auc"] < 1
        tags = world.registry.version_tags(world.spec.name, challenger)
        assert tags["online.shadow_agreement"] == f"{evidence['shadow_agreement']:.4g}"
        assert "online:" in report.table() and "challenger online: shadow_rows" in report.table()
    finally:
        world.registry.retire_challenger(world.spec.name, challenger)
    assert world.registry.alias_version(world.spec.name, CHALLENGER) is None


AUTHORISED = {"Authorization": f"Bearer {TOKEN}"}


def served_at(url: str) -> dict:
    return requests.get(f"{url}/v1/models", headers=AUTHORISED, timeout=5).json()["flights_delay"]


def predict(url: str, frame: pd.DataFrame) -> list[dict]:
    answer = requests.post(f"{url}/v1/models/flights_delay/predict", json=payload(frame), headers=AUTHORISED,
                           timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"]
