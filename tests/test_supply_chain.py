"""The code passes its static checks: `ruff check` on every Python tree, `bandit` on what Airflow runs, and
`deptry`: every package the code imports is declared in pyproject.toml, and every declared one is used.

They read their settings from pyproject.toml ([tool.ruff], [tool.bandit], [tool.deptry]); a finding that does
not apply is skipped on its own line (`# noqa: RULE - why`, `# nosec BXXX  # why`). Known vulnerabilities in the
lock are `make audit`'s job (pip-audit), which needs PyPI's per-release JSON API and so does not run here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the tools pinned in requirements.txt, not whatever is on PATH
LINTED = ["include", "dags", "plugins", "stack", "tests", "bench", "docs"]
SCANNED = ["include", "dags", "plugins"]  # the code the scheduler, workers and api-server import
DEPENDENCIES_OF = [*SCANNED, "stack", "bench"]  # tests/ may use the `test` extra, which deptry reads as dev


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / tool), *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)


def test_ruff_finds_nothing():
    done = run("ruff", "check", "--no-cache", *LINTED)
    assert done.returncode == 0, f"ruff check {' '.join(LINTED)}:\n{done.stdout}{done.stderr}"


def test_bandit_finds_nothing():
    done = run("bandit", "-c", "pyproject.toml", "-r", "-q", "-f", "json", *SCANNED)
    report = json.loads(done.stdout)
    assert report["errors"] == [], f"bandit could not scan: {report['errors']}"
    found = [f"{issue['filename']}:{issue['line_number']}: {issue['test_id']} {issue['issue_text']}\n{issue['code']}"
             for issue in report["results"]]
    assert found == [], "bandit; fix, or skip one that does not apply with `# nosec BXXX  # why`:\n" + "\n".join(found)


def test_every_imported_package_is_declared_and_every_declared_one_is_used():
    done = run("deptry", "--no-ansi", *DEPENDENCIES_OF)
    assert done.returncode == 0, f"deptry {' '.join(DEPENDENCIES_OF)}:\n{done.stdout}{done.stderr}"
