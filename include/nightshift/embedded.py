"""Airflow on the embedded default: the `airflow` CLI run with `.nightshift/` settings."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from nightshift.settings import Settings

ADMIN = "admin"


def airflow_command(settings: Settings, *args: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of the `airflow` CLI of this interpreter's environment."""
    bin_dir = Path(sys.executable).parent  # `airflow standalone` starts its components by name
    env = {**os.environ, **settings.airflow_env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return [str(bin_dir / "airflow"), *args], env


def airflow(settings: Settings, *args: str, log_file: Path | None = None) -> int:
    """Run the `airflow` CLI; output to `log_file` or the terminal. Returns the exit code."""
    command, env = airflow_command(settings, *args)
    if log_file is None:
        return subprocess.run(command, env=env, check=False).returncode  # nosec B603  # this venv's airflow, no shell
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as out:
        return subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode  # nosec B603  # this venv's airflow, no shell


def admin_password(settings: Settings) -> str:
    """The UI login's password: generated once per home and kept in Airflow's own passwords file."""
    path = Path(settings.airflow_env()["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    passwords = json.loads(path.read_text()) if path.exists() else {}
    if ADMIN not in passwords:  # other users' entries stay
        passwords[ADMIN] = secrets.token_urlsafe(12)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(passwords))
        path.chmod(0o600)
    return passwords[ADMIN]
