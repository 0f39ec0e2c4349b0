"""Local server processes: a free port to give one, and a server run while a block runs."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(command: list[str], health_url: str, log_path: Path, timeout: float = 60,
            env: dict[str, str] | None = None) -> Iterator[None]:
    """Run a server process while the block runs: started (its output to `log_path`), answering
    `health_url`, then stopped. A server that exits, or does not answer within `timeout` seconds, is an
    error naming its log."""
    name = Path(command[0]).name
    with log_path.open("w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)  # nosec B603  # no shell
        try:
            deadline = time.monotonic() + timeout
            while not _answers(health_url):
                if server.poll() is not None:
                    raise RuntimeError(f"{name} exited ({server.returncode}); see {log_path}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"waited {timeout:g} s for {name} to answer {health_url} (its log: {log_path})")
                time.sleep(0.2)
            yield
        finally:
            server.terminate()
            server.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()  # nosec B310  # a local http URL of our own
    except OSError:
        return False
    return True
