"""serving: `nightshift serve` against `mlflow models serve` on the same champion version, both real processes
on 127.0.0.1, driven by the same load generator; then a hot swap of the champion under load.

Set-up, untimed: a Nightshift home of its own with real 2013 flights (the demo spec, `flights_delay`, from
1 January) ingested and validated, a champion (version 1) trained on the window before the last week, and
a second version trained on half that window, registered but not promoted.

Throughput and latency: each server in turn (never both at once) is started on a free port, waited for
(/ready for ours: a verified champion loaded and warmed up; /ping for MLflow's), warmed up, then loaded
for a fixed time per request shape by one asyncio client (aiohttp, keep-alive connections, CONCURRENCY
requests in flight, as the target says; then one, for a request's latency alone). Both get the same rows
of the newest validated day in the same order: ours the source rows as a client holds them (the day's
columns without the target; the server builds the point-in-time features), MLflow's the model inputs of
those rows, built in the bench by the version itself (`VersionModel.inputs`). Before the timed load, one
100-row request to each proves that both answer for the same model and rows.

Hot swap: ours again, its registry poll shortened to SWAP_POLL_S; while single-row requests run through
/v1/models/<model>/predict, the second version is promoted. Every response is counted: its status, its
`x-model-version` header and each row's `version`.

    python bench/serving.py [--smoke]   (make bench runs it through bench/run.py)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from common import DEMO_SPEC, SUITE, Outcome, environment, figure, machine
from nightshift.processes import free_port
from tests.waiting import wait_until

MODEL = "flights_delay"
FIRST_DAY = dt.date(2013, 1, 1)
CONCURRENCY = 8      # requests in flight for the target
LEVELS = (CONCURRENCY, 1)
SHAPES = {"single row": 1, "100 rows": 100}
TARGET_RATIO, TARGET_P99_MS = 1.5, 25.0
SWAP_POLL_S = 1.0
WARM_UP = CONCURRENCY * 3  # requests per server and shape before the timed load
BIN = Path(sys.executable).parent  # the venv's bin: `nightshift`, `mlflow` and the `uvicorn` MLflow execs
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Size:
    days: int              # validated days of real flights from FIRST_DAY: the last is the day requests are about
    load_s: float          # timed load per server and request shape
    swap_before_s: float   # load before the promotion...
    swap_after_s: float    # ...and after the new version serves


FULL = Size(days=35, load_s=25, swap_before_s=5, swap_after_s=10)   # 35 days: before the 8-9 February blizzard
SMOKE = Size(days=10, load_s=3, swap_before_s=1, swap_after_s=1)


@dataclass(frozen=True)
class Answer:
    started: float        # seconds after the load began
    latency_ms: float
    status: int           # 0: no HTTP answer (connection error, timeout)
    version: str          # the x-model-version header
    row_versions: tuple[str, ...] = ()  # /v1/.../predict only: each row's version


@dataclass(frozen=True)
class Load:
    server: str
    shape: str
    concurrency: int
    answers: list[Answer]
    seconds: float
    errors: Counter       # what went wrong, for the answers that were not 200

    @property
    def ok(self) -> np.ndarray:
        return np.array([answer.latency_ms for answer in self.answers if answer.status == 200])

    @property
    def failed(self) -> int:
        return sum(answer.status != 200 for answer in self.answers)

    @property
    def per_second(self) -> float:
        return len(self.ok) / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.ok, q)) if len(self.ok) else float("nan")


@dataclass(frozen=True)
class World:
    env: dict[str, str]       # for the bench process (in `environment`) and the servers
    day: dt.date              # the day the requests' rows are from
    rows: int                 # its rows
    champion: str
    successor: str            # the version the hot swap promotes (registered as challenger)


def run(workdir: Path, plots: Path, smoke: bool) -> Outcome:
    size = SMOKE if smoke else FULL
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    world = build_world(workdir, size)
    with environment(world.env):
        bodies = request_bodies(world)
    loads: list[Load] = []
    same_rows = {}
    for server in ("mlflow", "nightshift"):
        with start_server(server, world, workdir / f"{server}.log") as url:
            same_rows[server] = asyncio.run(one(f"{url}/invocations", bodies[server]["100 rows"][0]))
            for shape in SHAPES:
                asyncio.run(drive(f"{url}/invocations", bodies[server][shape], server, shape, requests=WARM_UP))
                loads += [asyncio.run(drive(f"{url}/invocations", bodies[server][shape], server, shape,
                                            seconds=size.load_s, concurrency=level)) for level in LEVELS]
    check_agreement(same_rows)
    swap = hot_swap(world, bodies["nightshift"]["single row"], size, workdir)
    return outcome(world, size, loads, swap, plots)


# --- the world ----------------------------------------------------------------------------------------------

def build_world(workdir: Path, size: Size) -> World:
    """The demo spec (as shipped in models/, polling the registry every SWAP_POLL_S in models-swap/),
    `size.days` of real flights validated, the champion (v1, the spec's windows) and its successor (a
    training window half as long), registered as challenger, not promoted."""
    home = workdir / "home"
    spec = yaml.safe_load(DEMO_SPEC.read_text())
    for folder, serving in (("models", None), ("models-swap", {"poll_seconds": SWAP_POLL_S})):
        (workdir / folder).mkdir()
        written = {**spec, "serving": serving} if serving else spec
        (workdir / folder / DEMO_SPEC.name).write_text(yaml.safe_dump(written, sort_keys=False))
    env = {"NIGHTSHIFT_HOME": str(home), "NIGHTSHIFT_MODELS_DIR": str(workdir / "models"),
           "NIGHTSHIFT_EXPECTATIONS_DIR": str(SUITE.parent), "NIGHTSHIFT_LAKE_URI": (home / "lake").as_uri(),
           "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
    with environment(env):
        from nightshift import steps
        from nightshift.data.validate import validate_days
        from nightshift.model import train

        run = steps.Run.of(MODEL)
        days = steps.day_range(FIRST_DAY, FIRST_DAY + dt.timedelta(days=size.days - 1))
        steps.ingest_raw(run, days)
        validate_days(run.spec, run.lake, days, run.settings.expectations_dir)
        if missing := sorted(set(days) - set(run.lake.days("validated", run.spec.source.dataset))):
            raise RuntimeError(f"bench days were quarantined: {missing}")
        day = days[-1]
        window = train.plan_window(run.spec, run.lake, day)
        champion = train.train_challenger(run.spec, run.lake, run.registry, window).version
        run.registry.promote(MODEL, champion, expected_champion=None)
        shorter = train.plan_window(run.spec, run.lake, day, train_days=max(len(window.train) // 2, 1))
        successor = train.train_challenger(run.spec, run.lake, run.registry, shorter).version
        rows = len(run.lake.read_partition("validated", run.spec.source.dataset, day))
    return World(env, day, rows, champion, successor)


def request_bodies(world: World) -> dict[str, dict[str, list[bytes]]]:
    """Serialized request bodies per server and shape, the same rows in the same order: source rows for
    ours, the champion's model inputs of those rows for MLflow's. Single rows: each of the day's rows;
    100 rows: the day's rows in consecutive slices."""
    import pandas as pd

    from nightshift.model.inputs import VersionModel
    from nightshift.steps import Run

    run = Run.of(MODEL)
    source = run.lake.read_partition("validated", run.spec.source.dataset, world.day)
    source = source.drop(columns=run.spec.target.column).reset_index(drop=True)
    inputs = VersionModel.load(run.registry, run.lake, run.spec, world.champion).inputs(
        source.assign(date=pd.Timestamp(world.day))).reset_index(drop=True)
    if len(inputs) != len(source):
        raise RuntimeError(f"{len(source)} rows gave {len(inputs)} rows of model inputs")

    def body(frame) -> bytes:
        split = json.loads(frame.to_json(orient="split", index=False, date_format="iso"))
        return json.dumps({"dataframe_split": split}).encode()

    slices = {shape: [slice(start, start + rows) for start in range(0, len(source) - rows + 1, rows)]
              for shape, rows in SHAPES.items()}
    return {server: {shape: [body(frame.iloc[part]) for part in parts] for shape, parts in slices.items()}
            for server, frame in (("nightshift", source), ("mlflow", inputs))}


# --- the servers --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def start_server(server: str, world: World, log_path: Path, models_dir: Path | None = None) -> Iterator[str]:
    """One server as its own process (and process group) on 127.0.0.1; yields its URL once ready, and
    stops the group afterwards."""
    port = free_port()
    env = {**os.environ, **world.env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for variable in ("NIGHTSHIFT_SERVE_TOKEN", "NIGHTSHIFT_SERVE_TOKEN_CONN_ID"):
        env.pop(variable, None)
    if models_dir:
        env["NIGHTSHIFT_MODELS_DIR"] = str(models_dir)
    if server == "nightshift":
        command = [str(BIN / "nightshift"), "serve", MODEL, "--host", "127.0.0.1", "--port", str(port)]
        probe = "/ready"
    else:
        command = [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{MODEL}/{world.champion}",
                   "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
        probe = "/ping"
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"{server} exited ({process.returncode}) before it was ready:\n"
                                   f"{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + probe, timeout=5) as answer:
                    return answer.status == 200
            except OSError:
                return False

        try:
            wait_until(ready, timeout=180, interval=0.2, what=f"{server} to be ready on {url}{probe} ({log_path})")
            yield url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# --- the load generator -------------------------------------------------------------------------------------

async def one(url: str, body: bytes) -> list:
    """One request's predictions (it must succeed)."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=JSON_HEADERS) as answer:
        text = await answer.text()
        if answer.status != 200:
            raise RuntimeError(f"{url} answered {answer.status}: {text[:1000]}")
        return json.loads(text)["predictions"]


async def drive(url: str, bodies: list[bytes], server: str, shape: str, *, seconds: float | None = None,
                requests: int | None = None, stop: threading.Event | None = None, rows: bool = False,
                began: float | None = None, concurrency: int = CONCURRENCY) -> Load:
    """`concurrency` clients on keep-alive connections, each posting its next body as soon as the last was
    answered, for `seconds`, or until `requests` were sent, or until `stop` is set. Client k sends bodies
    k, k + concurrency, ... (cycling), so every server sees the same rows in about the same order. With
    `rows`, each answer's body is read for its rows' versions. Times count from `began` (a perf_counter
    value; default: now)."""
    import aiohttp

    answers: list[Answer] = []
    errors: Counter = Counter()
    sent = 0
    started = began if began is not None else time.perf_counter()
    deadline = time.perf_counter() + seconds if seconds is not None else float("inf")

    def more() -> bool:
        nonlocal sent
        if time.perf_counter() >= deadline or (stop is not None and stop.is_set()) or (
                requests is not None and sent >= requests):
            return False
        sent += 1
        return True

    async def client(session: aiohttp.ClientSession, number: int) -> None:
        index = number
        while more():
            body, index = bodies[index % len(bodies)], index + concurrency
            begun = time.perf_counter()
            versions: tuple[str, ...] = ()
            try:
                async with session.post(url, data=body, headers=JSON_HEADERS) as response:
                    text = await response.read()
                    status, version = response.status, response.headers.get("x-model-version", "")
                if status != 200:
                    errors[f"HTTP {status}: {text[:300].decode(errors='replace')}"] += 1
                elif rows:
                    versions = tuple(row["version"] for row in json.loads(text)["predictions"])
            except (aiohttp.ClientError, TimeoutError) as err:
                status, version = 0, ""
                errors[f"{type(err).__name__}: {err}"] += 1
            answers.append(Answer(begun - started, (time.perf_counter() - begun) * 1000, status, version, versions))

    load_began = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(client(session, number) for number in range(concurrency)))
    return Load(server, shape, concurrency, answers, time.perf_counter() - load_began, errors)


def check_agreement(predictions: dict[str, list]) -> None:
    """The same 100 rows, the same version: MLflow's pyfunc answers the class (`predict`), ours the positive
    class's probability; the class must be the one the probability picks."""
    probability = np.asarray(predictions["nightshift"], dtype=float)
    label = np.asarray(predictions["mlflow"]).astype(float)
    if len(probability) != len(label) or ((probability > 0.5) != (label > 0.5)).any():
        raise RuntimeError(f"the servers disagree on the same rows: ours {probability.round(3).tolist()}, "
                           f"MLflow's {label.tolist()}")


# --- the hot swap -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Swap:
    load: Load
    promoted_at: float     # seconds after the load began
    serving_at: float      # ...when /v1/models first named the new version
    before: str
    after: str

    def answered_by(self, version: str) -> list[Answer]:
        return [answer for answer in self.load.answers if answer.status == 200 and answer.version == version]

    @property
    def first_new(self) -> float:
        """When the first request the new version answered was sent."""
        return min((answer.started for answer in self.answered_by(self.after)), default=float("inf"))

    @property
    def old_after_new(self) -> int:
        """Requests answered by the old version though sent after the first the new version answered."""
        return sum(answer.started > self.first_new for answer in self.answered_by(self.before))

    @property
    def mixed(self) -> int:
        """200s whose rows' versions are not the header's version."""
        return sum(answer.row_versions != (answer.version,) for answer in self.load.answers if answer.status == 200)

    @property
    def met(self) -> bool:
        return self.load.failed == 0 and len(self.answered_by(self.after)) > 0 and self.mixed == 0


def hot_swap(world: World, bodies: list[bytes], size: Size, workdir: Path) -> Swap:
    """Ours, polling every SWAP_POLL_S, under single-row load on /v1/models/<model>/predict; the successor is
    promoted while the load runs, which goes on until `size.swap_after_s` after the server names it."""
    from nightshift.model.registry import Registry

    with start_server("nightshift", world, workdir / "nightshift-swap.log", workdir / "models-swap") as url:
        stop, result = threading.Event(), {}
        began = time.perf_counter()

        def load() -> None:
            result["load"] = asyncio.run(drive(f"{url}/v1/models/{MODEL}/predict", bodies, "nightshift", "swap",
                                               seconds=600, stop=stop, rows=True, began=began))

        loader = threading.Thread(target=load, name="swap-load")
        loader.start()
        try:
            time.sleep(size.swap_before_s)
            with environment(world.env):
                Registry.from_env().promote(MODEL, world.successor, expected_champion=world.champion)
            promoted_at = time.perf_counter() - began
            wait_until(lambda: _champion_served(url), timeout=120, interval=0.1, what=f"v{world.successor} to serve",
                       done=lambda served: served == world.successor)
            serving_at = time.perf_counter() - began
            time.sleep(size.swap_after_s)
        finally:
            stop.set()
            loader.join()
    return Swap(result["load"], promoted_at, serving_at, world.champion, world.successor)


def _champion_served(url: str) -> str | None:
    with urllib.request.urlopen(f"{url}/v1/models", timeout=5) as answer:
        return json.loads(answer.read())[MODEL]["champion"]


# --- the report ---------------------------------------------------------------------------------------------

def outcome(world: World, size: Size, loads: list[Load], swap: Swap, plots: Path) -> Outcome:
    by = {(load.server, load.shape, load.concurrency): load for load in loads}
    ratio = {(shape, level): by["nightshift", shape, level].per_second / by["mlflow", shape, level].per_second
             for level in LEVELS for shape in SHAPES}
    p99 = by["nightshift", "single row", CONCURRENCY].percentile(99)
    met = ratio["single row", CONCURRENCY] >= TARGET_RATIO and p99 <= TARGET_P99_MS and swap.met
    measured = (f"{ratio['single row', CONCURRENCY]:.2f}× MLflow's throughput, p99 {p99:.0f} ms (single row); "
                f"{ratio['100 rows', CONCURRENCY]:.2f}× (100 rows); hot swap: {swap.load.failed} of "
                f"{len(swap.load.answers)} requests failed")
    return Outcome(
        id="serving", what="`nightshift serve`: requests per second and latency, and a hot swap under load",
        baseline="`mlflow models serve`, same version and rows",
        target=f"≥ {TARGET_RATIO:g}× throughput, p99 ≤ {TARGET_P99_MS:.0f} ms (single row); a hot swap loses 0",
        measured=measured, met=met, detail=detail(world, size, loads, ratio, swap),
        plots=[plot(loads, swap, plots / "serving.png")], note=note())


def detail(world: World, size: Size, loads: list[Load], ratio: dict[tuple[str, int], float], swap: Swap) -> str:
    ordered = sorted(loads, key=lambda load: (-load.concurrency, list(SHAPES).index(load.shape), load.server))
    rows = [f"| {load.concurrency} | {load.shape} | {load.server} | {len(load.answers):,} | {load.failed} | "
            f"{load.per_second:.1f} | {load.percentile(50):.1f} | {load.percentile(99):.1f} |" for load in ordered]
    ratios = [f"| {level} | {shape} | **{value:.2f}×** | {f'{TARGET_RATIO:g}×' if level == CONCURRENCY else '–'} |"
              for (shape, level), value in ratio.items()]
    latencies = swap.load.ok
    lines = [
        f"Champion v{world.champion} of `{MODEL}` (the demo spec), trained on real 2013 flights; the requests carry "
        f"the rows of {world.day} ({world.rows} flights) on keep-alive connections: {size.load_s:g} s of load per "
        f"server, request shape and number of requests in flight ({CONCURRENCY}, the target's, then 1), after "
        f"{WARM_UP} warm-up requests.", "",
        "| in flight | request | server | requests | failed | requests/s | p50 ms | p99 ms |",
        "|--:|---|---|--:|--:|--:|--:|--:|", *rows, "",
        "| in flight | request | ours / MLflow's throughput | target |", "|--:|---|--:|--:|", *ratios, "",
        f"Hot swap: single-row requests on `/v1/models/{MODEL}/predict`, {CONCURRENCY} in flight, the server "
        f"polling the registry every {SWAP_POLL_S:g} s. v{swap.after} was promoted over v{swap.before} "
        f"{swap.promoted_at:.1f} s into the load; `/v1/models` named it at {swap.serving_at:.1f} s; the first request "
        f"it answered was sent at {swap.first_new:.1f} s.", "",
        f"| requests | failed | by v{swap.before} | by v{swap.after} | by v{swap.before} though sent after the first "
        f"by v{swap.after} | rows' version ≠ header | p99 ms | slowest ms |", "|--:|--:|--:|--:|--:|--:|--:|--:|",
        f"| {len(swap.load.answers):,} | {swap.load.failed} | {len(swap.answered_by(swap.before)):,} | "
        f"{len(swap.answered_by(swap.after)):,} | {swap.old_after_new} | {swap.mixed} | "
        f"{swap.load.percentile(99):.1f} | {latencies.max() if len(latencies) else float('nan'):.1f} |",
    ]
    if errors := sum((load.errors for load in [*loads, swap.load]), Counter()):
        lines += ["", "Failed requests: " + "; ".join(f"{count}× {what}" for what, count in errors.most_common(5))]
    lines += ["", (
        "Method: each server is its own process on 127.0.0.1 (ours: `nightshift serve flights_delay`, the demo "
        "spec as shipped; MLflow's: `mlflow models serve -m models:/flights_delay/<v> --env-manager local`, one "
        "uvicorn worker, its default), started on a free port, waited for (ours: `/ready`), and loaded alone: the "
        "other is not running. The load generator is one asyncio client (aiohttp) in the bench process, on the "
        "same cores. Ours is sent the day's source rows without the target on `/invocations`, as a client holds "
        "them: it builds each row's point-in-time features (lookups, derived columns, the rolling aggregates of "
        "the days before) and logs every prediction to the lake. MLflow's is sent the same rows' model inputs, "
        "built beforehand by the version itself. Before the timed load, the same 100 rows go to both once, and "
        "the class MLflow answers must be the one our probability picks. Throughput counts 200s over the load's "
        "wall time; latency is from sending to the whole answer read, 200s only.")]
    return "\n".join(lines)


def note() -> str:
    return (f"The machine's load average at the end was {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores). "
            "The client shares the cores with the server it drives, on both sides. MLflow's scoring server "
            "answers each request in a thread of its own (`asyncio.to_thread`), so requests in flight parse, "
            "check and predict at once, contending for the GIL; ours queues them and answers what waits as one "
            "batch on one thread. MLflow's pyfunc answers `predict` (the class), ours the probability: the same "
            "model work.")


def plot(loads: list[Load], swap: Swap, path: Path) -> Path:
    """Requests per second and p99 per server and request shape; the swap's latencies over time, by version."""
    fig = figure(15, 4.2)
    throughput, p99, timeline = fig.subplots(1, 3)
    width, groups = 0.38, [(shape, level) for level in LEVELS for shape in SHAPES]
    for offset, server, color in ((-width / 2, "nightshift", "tab:blue"), (width / 2, "mlflow", "tab:orange")):
        mine = {(load.shape, load.concurrency): load for load in loads if load.server == server}
        positions = np.arange(len(groups)) + offset
        throughput.bar(positions, [mine[group].per_second for group in groups], width, color=color, label=server)
        p99.bar(positions, [mine[group].percentile(99) for group in groups], width, color=color, label=server)
    p99.axhline(TARGET_P99_MS, color="tab:red", linestyle="--", label=f"target {TARGET_P99_MS:g} ms (single row)")
    for ax, title, unit in ((throughput, "throughput", "requests per second"), (p99, "p99 latency", "ms")):
        ax.set_xticks(range(len(groups)), [f"{shape}\n{level} in flight" for shape, level in groups], fontsize="small")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.legend(fontsize="small")
    for version, color in ((swap.before, "tab:gray"), (swap.after, "tab:green")):
        mine = swap.answered_by(version)
        timeline.scatter([answer.started for answer in mine], [answer.latency_ms for answer in mine], s=4,
                         color=color, label=f"answered by v{version}")
    if failed := [answer for answer in swap.load.answers if answer.status != 200]:
        timeline.scatter([answer.started for answer in failed], [answer.latency_ms for answer in failed], s=12,
                         color="tab:red", marker="x", label=f"failed ({len(failed)})")
    timeline.axvline(swap.promoted_at, color="black", linestyle="--", label="promoted")
    timeline.set_xlabel("seconds into the load (request sent)")
    timeline.set_ylabel("latency (ms)")
    timeline.set_title("hot swap under load (ours, single row)")
    timeline.legend(fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny size")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/nightshift-bench-serving"))
    args = parser.parse_args()
    result = run(args.workdir / "serving", args.workdir / "plots", args.smoke)
    print(machine())
    print(f"{result.measured} (target {result.target}): {'met' if result.met else 'missed'}\n\n{result.detail}")


if __name__ == "__main__":
    main()
