"""The production topology as plain processes on this machine (no Docker): `make stack-up` / `make stack-down`.

    python stack/stack.py up        start what is not running, wait until every part is healthy
    python stack/stack.py status    what runs, where, and how to log in
    python stack/stack.py down      stop exactly the processes `up` started (by PID)
    python stack/stack.py down --purge   ... and drop the stack's databases, Redis keys and folder

Parts: PostgreSQL (a dedicated role and two databases: Airflow's metadata, MLflow's store) and Redis
(Celery's broker) are the machine's own servers; the stack starts moto's S3 server (a real HTTP S3
API; it keeps objects in memory), an MLflow tracking server (store on PostgreSQL, artifacts on S3),
`nightshift serve` for every model (behind a generated bearer token), and Airflow's api-server,
scheduler, dag-processor, triggerer and two Celery workers. The lake is on the same S3 endpoint.

Everything the stack writes lives under one folder (NIGHTSHIFT_STACK_DIR, default `.stack/`):
`pids/`, `logs/`, the Airflow home, `stack.json` (ports, names) and `credentials.env` (mode 0600:
generated at the first `up` unless given in the environment, never committed). `stack.env` holds the
environment to talk to the stack from a shell: `set -a; . .stack/stack.env; set +a`.

Settings (environment, read at the first `up` and kept in stack.json): NIGHTSHIFT_STACK_NAME (role,
databases and bucket; default `nightshift`), NIGHTSHIFT_STACK_AIRFLOW_PORT (8080),
NIGHTSHIFT_STACK_MLFLOW_PORT (5000), NIGHTSHIFT_STACK_S3_PORT (9000), NIGHTSHIFT_STACK_REDIS_DB (0),
NIGHTSHIFT_STACK_SERVE_PORT (5050).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN_USER = "admin"
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"
WORKERS = ("worker1", "worker2")
# The secrets, by the names docker-compose.yaml reads from `.env`: the environment wins, else generated once.
SECRETS = ("POSTGRES_PASSWORD", "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY",
           "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "NIGHTSHIFT_SERVE_TOKEN")
# Started before Airflow, in this order; every other part is Airflow's.
SERVICES = ("s3", "mlflow", "serve")


@dataclass(frozen=True)
class Layout:
    """Names and ports of one stack; fixed at its first `up`."""

    name: str
    airflow_port: int
    mlflow_port: int
    s3_port: int
    redis_db: int
    serve_port: int = 5050  # a stack made before serving has none in its stack.json

    @classmethod
    def from_env(cls) -> Layout:
        return cls(
            name=os.environ.get("NIGHTSHIFT_STACK_NAME", "nightshift"),
            airflow_port=int(os.environ.get("NIGHTSHIFT_STACK_AIRFLOW_PORT", "8080")),
            mlflow_port=int(os.environ.get("NIGHTSHIFT_STACK_MLFLOW_PORT", "5000")),
            s3_port=int(os.environ.get("NIGHTSHIFT_STACK_S3_PORT", "9000")),
            redis_db=int(os.environ.get("NIGHTSHIFT_STACK_REDIS_DB", "0")),
            serve_port=int(os.environ.get("NIGHTSHIFT_STACK_SERVE_PORT", "5050")),
        )

    @property
    def bucket(self) -> str:
        return self.name.replace("_", "-")

    @property
    def databases(self) -> dict[str, str]:
        return {"airflow": f"{self.name}_airflow", "mlflow": f"{self.name}_mlflow"}

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def serve_url(self) -> str:
        return f"http://127.0.0.1:{self.serve_port}"


class Stack:
    def __init__(self, root: Path):
        self.root = root
        self.pids, self.logs = root / "pids", root / "logs"

    # -- state ---------------------------------------------------------------------------------

    def layout(self) -> Layout:
        path = self.root / "stack.json"
        if path.exists():
            return Layout(**json.loads(path.read_text()))
        layout = Layout.from_env()
        self.root.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(layout), indent=2))
        return layout

    def credentials(self) -> dict[str, str]:
        path = self.root / "credentials.env"
        known = read_env(path) if path.exists() else {}
        generated = {
            "POSTGRES_PASSWORD": secrets.token_urlsafe(18),
            "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(12),
            "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW_FERNET_KEY": _fernet_key(),
            "AWS_ACCESS_KEY_ID": f"nightshift-{secrets.token_hex(4)}",
            "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(24),
            "NIGHTSHIFT_SERVE_TOKEN": secrets.token_urlsafe(24),
        }
        values = {name: os.environ.get(name) or known.get(name) or generated[name] for name in SECRETS}
        if values != known:
            self.root.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
        return values

    def database(self, purpose: str, scheme: str = "postgresql+psycopg2") -> str:
        """The URI of the stack's `airflow` or `mlflow` database, as its own role."""
        layout, password = self.layout(), self.credentials()["POSTGRES_PASSWORD"]
        return f"{scheme}://{layout.name}:{password}@127.0.0.1:5432/{layout.databases[purpose]}"

    def environment(self) -> dict[str, str]:
        """What every Airflow process, worker and CLI of the stack runs with."""
        layout, secret = self.layout(), self.credentials()
        return {
            "NIGHTSHIFT_HOME": str(self.root / "home"),
            "NIGHTSHIFT_LAKE_URI": f"s3://{layout.bucket}/lake",
            "NIGHTSHIFT_LOCK_URI": self.database("mlflow", "postgresql"),
            "MLFLOW_TRACKING_URI": layout.mlflow_url,
            "AWS_ENDPOINT_URL": layout.s3_url,
            "AWS_ACCESS_KEY_ID": secret["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": secret["AWS_SECRET_ACCESS_KEY"],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AIRFLOW_HOME": str(self.root / "airflow"),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(CHECKOUT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(CHECKOUT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": secret["AIRFLOW_FERNET_KEY"],
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{layout.airflow_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.root / "airflow" / "passwords.json"),
            "AIRFLOW__API__BASE_URL": layout.airflow_url,
            "AIRFLOW__API_AUTH__JWT_SECRET": secret["AIRFLOW_JWT_SECRET"],
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database("airflow"),
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{layout.redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": self.database("airflow", "db+postgresql"),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "nightshift.airflow.celery_config.CELERY_CONFIG",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            # Task logs go to the lake's bucket when a task ends (the Amazon provider's S3 log handler, through
            # the AWS_* settings above), so the UI shows them after the worker that wrote them is gone.
            "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
            "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{layout.bucket}/airflow-logs",
            # A lost worker's task is retried after 1 minute, not Airflow's default 5 (tests go lower).
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT":
                os.environ.get("AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT", "60"),
            # MLflow's client retries a stopped server for ~4 minutes by default; Airflow's backed-off
            # retries are the ones that wait for it (and say so in the task log).
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        }

    # -- processes -----------------------------------------------------------------------------

    def commands(self) -> dict[str, list[str]]:
        """Each long-running part, in start order."""
        layout, airflow = self.layout(), str(BIN / "airflow")
        return {
            "s3": [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(layout.s3_port)],
            # The store's URI (with its password) comes from MLFLOW_BACKEND_STORE_URI, not the command line.
            "mlflow": [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(layout.mlflow_port),
                       "--artifacts-destination", f"s3://{layout.bucket}/mlartifacts", "--workers", "2"],
            # Every model of the models folder, behind the stack's token.
            "serve": [str(BIN / "nightshift"), "serve", "--host", "127.0.0.1", "--port", str(layout.serve_port)],
            "api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", str(layout.airflow_port),
                           "--workers", "2"],
            "scheduler": [airflow, "scheduler"],
            "dag-processor": [airflow, "dag-processor"],
            "triggerer": [airflow, "triggerer"],
            **{worker: [airflow, "celery", "worker", "--celery-hostname", f"{worker}@%h", "--skip-serve-logs"]
               for worker in WORKERS},
        }

    def pid(self, part: str) -> int | None:
        """The PID of a running part this stack started; None when it is not running. The pid file also
        holds the process's start time, so a reused PID is not mistaken for the part."""
        path = self.pids / f"{part}.pid"
        if not path.exists():
            return None
        pid, started = path.read_text().split()
        return int(pid) if _start_time(int(pid)) == started else None

    def start(self, part: str, env: dict[str, str]) -> None:
        if pid := self.pid(part):
            print(f"  {part:<14} already running (pid {pid})")
            return
        self.pids.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{part}.log").open("a") as log:
            process = subprocess.Popen(self.commands()[part], env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.root)
        (self.pids / f"{part}.pid").write_text(f"{process.pid} {_start_time(process.pid)}")
        print(f"  {part:<14} started (pid {process.pid}, log {self.logs / f'{part}.log'})")

    def stop(self, parts: list[str]) -> None:
        """SIGTERM to each part's process group (it and its children), SIGKILL to what is left after 30 s."""
        running = {part: pid for part in parts if (pid := self.pid(part))}
        for part in parts:
            (self.pids / f"{part}.pid").unlink(missing_ok=True)
        for pid in running.values():
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while any(map(group_alive, running.values())) and time.monotonic() < deadline:
            time.sleep(0.2)
        for part, pid in running.items():
            if group_alive(pid):
                _signal_group(pid, signal.SIGKILL)
            print(f"  {part:<14} stopped (pid {pid})")

    # -- commands ------------------------------------------------------------------------------

    def up(self) -> None:
        layout, env = self.layout(), {**os.environ, **self.environment()}
        print(f"Nightshift stack '{layout.name}' in {self.root}")
        self.prepare_postgres()
        self.start("s3", env)
        # MLflow's job runner serves GenAI features Nightshift does not use: one moving part less. Its telemetry
        # is off, as in Nightshift's own processes (nightshift/__init__.py).
        self.start("mlflow", {**env, "MLFLOW_BACKEND_STORE_URI": self.database("mlflow"),
                              "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"})
        _wait(f"{layout.s3_url}/moto-api/", "s3", self.logs)
        self.create_bucket()
        _wait(f"{layout.mlflow_url}/health", "mlflow", self.logs)
        self.start("serve", {**env, "NIGHTSHIFT_SERVE_TOKEN": self.credentials()["NIGHTSHIFT_SERVE_TOKEN"]})
        self.prepare_airflow(env)
        for part in self.commands():
            if part not in SERVICES:
                self.start(part, env)
        self.wait_for_airflow(env)
        _wait(f"{layout.serve_url}/health", "serve", self.logs)
        (self.root / "stack.env").write_text("".join(f"{k}={v}\n" for k, v in self.environment().items()))
        (self.root / "stack.env").chmod(0o600)
        self.status()

    def down(self, purge: bool = False) -> None:
        self.stop(list(self.commands()))
        if purge:
            self.purge()

    def status(self) -> None:
        layout = self.layout()
        for part in self.commands():
            pid = self.pid(part)
            print(f"  {part:<14} {'running, pid ' + str(pid) if pid else 'stopped'}")
        print(f"\n  Airflow UI/API  {layout.airflow_url}  (user {ADMIN_USER}, password in "
              f"{self.root / 'credentials.env'}: AIRFLOW_ADMIN_PASSWORD)")
        print(f"  MLflow          {layout.mlflow_url}")
        print(f"  Serving         {layout.serve_url}  (Authorization: Bearer <NIGHTSHIFT_SERVE_TOKEN in "
              f"{self.root / 'credentials.env'}>)")
        print(f"  S3 endpoint     {layout.s3_url}  (bucket {layout.bucket}; lake s3://{layout.bucket}/lake)")
        print(f"  Shell           set -a; . {self.root / 'stack.env'}; set +a")

    # -- one-shot preparation ------------------------------------------------------------------

    def prepare_postgres(self) -> None:
        """The stack's role and databases on the machine's PostgreSQL (idempotent)."""
        from psycopg2 import sql

        layout, password = self.layout(), self.credentials()["POSTGRES_PASSWORD"]
        with _postgres_admin() as cursor:
            role = sql.Identifier(layout.name)
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (layout.name,))
            verb = sql.SQL("ALTER" if cursor.fetchone() else "CREATE")
            cursor.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD %s").format(verb, role), (password,))
            for database in layout.databases.values():
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if not cursor.fetchone():
                    cursor.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), role))

    def create_bucket(self) -> None:
        import boto3

        layout, secret = self.layout(), self.credentials()
        s3 = boto3.client("s3", endpoint_url=layout.s3_url, region_name="us-east-1",
                          aws_access_key_id=secret["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=secret["AWS_SECRET_ACCESS_KEY"])
        if layout.bucket not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}:
            s3.create_bucket(Bucket=layout.bucket)

    def prepare_airflow(self, env: dict[str, str]) -> None:
        """Migrate the metadata DB (idempotent) and write the admin's password file."""
        home = Path(env["AIRFLOW_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
        passwords.touch(mode=0o600)
        passwords.write_text(json.dumps({ADMIN_USER: self.credentials()["AIRFLOW_ADMIN_PASSWORD"]}))
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / "airflow-db-migrate.log").open("a") as log:
            if subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, stdout=log,
                              stderr=subprocess.STDOUT, check=False).returncode:
                raise SystemExit(f"airflow db migrate failed; see {self.logs / 'airflow-db-migrate.log'}")

    def wait_for_airflow(self, env: dict[str, str], timeout: float = 240) -> None:
        """The api-server answers and reports scheduler, dag-processor and triggerer healthy; both Celery
        workers answer a ping."""
        deadline = time.monotonic() + timeout
        health_url = f"{self.layout().airflow_url}/api/v2/monitor/health"
        while True:
            unhealthy = [part for part in self.commands() if not self.pid(part)]
            try:
                with urllib.request.urlopen(health_url, timeout=5) as response:
                    health = json.load(response)
                unhealthy += [name for name, state in health.items() if state.get("status") != "healthy"]
            except OSError:
                unhealthy.append("api-server (no answer)")
            if not unhealthy:
                unhealthy = self.silent_workers(env)
            if not unhealthy:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"not healthy after {timeout:.0f} s: {', '.join(unhealthy)}; logs in {self.logs}")
            time.sleep(2)

    def silent_workers(self, env: dict[str, str]) -> list[str]:
        host = socket.gethostname()
        ping = subprocess.run([str(BIN / "celery"), "--app", CELERY_APP, "inspect", "ping", "--timeout", "5",
                               "--destination", ",".join(f"{worker}@{host}" for worker in WORKERS)],
                              env=env, capture_output=True, text=True, check=False)
        return [worker for worker in WORKERS if f"{worker}@{host}: OK" not in ping.stdout]

    def purge(self) -> None:
        """Drop what `up` created outside the folder (databases, role, Redis keys), then the folder."""
        import redis
        from psycopg2 import sql

        layout = self.layout()
        with _postgres_admin() as cursor:
            for database in layout.databases.values():
                cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
            cursor.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(layout.name)))
        redis.Redis(host="127.0.0.1", port=6379, db=layout.redis_db).flushdb()
        shutil.rmtree(self.root)
        print(f"  purged databases, role, Redis db {layout.redis_db} and {self.root}")


def read_env(path: Path) -> dict[str, str]:
    """A `NAME=value` file (credentials.env, stack.env) as a dict."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@contextlib.contextmanager
def _postgres_admin() -> Iterator:
    """A cursor on the machine's PostgreSQL as its superuser, outside any transaction (for DDL)."""
    import psycopg2

    connection = psycopg2.connect(POSTGRES_ADMIN, connect_timeout=5)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _wait(url: str, part: str, logs: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{part} did not answer {url} within {timeout:.0f} s; see {logs / part}.log") from None
            time.sleep(0.5)


def _start_time(pid: int) -> str | None:
    """When the process started (clock ticks since boot, /proc/<pid>/stat field 22); None if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, IndexError):
        return None


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="stack", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--purge", action="store_true", help="with down: also drop databases, Redis keys, folder")
    args = parser.parse_args(argv)
    stack = Stack(Path(os.environ.get("NIGHTSHIFT_STACK_DIR", CHECKOUT / ".stack")).resolve())
    if args.command == "up":
        stack.up()
    elif args.command == "down":
        stack.down(purge=args.purge)
    else:
        stack.status()


if __name__ == "__main__":
    main()
