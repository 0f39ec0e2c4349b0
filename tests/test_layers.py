"""The layer rules of docs/DESIGN.md, read from the code: outside `nightshift.airflow` the library never
imports Airflow, and only the registry (`nightshift.model.registry`, the one MLflow door) imports MLflow.

Every import counts, at any depth: inside functions, under `if TYPE_CHECKING:`, `importlib.import_module`
with a literal name. dags/ and plugins/ are Airflow's own files and may import it; they are not checked."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from nightshift.settings import CHECKOUT

LIBRARY = CHECKOUT / "include" / "nightshift"
# package -> the files (relative to the library; a folder ends with '/') that may import it
RULES = {
    "airflow": ("airflow/",),
    "mlflow": ("model/registry.py",),
}


def imports(tree: ast.AST) -> Iterator[tuple[int, str, str]]:
    """(line, top-level package, statement) of every absolute import in `tree`, however deeply nested."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:  # relative: the package itself
            names = [node.module]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            names = [node.args[0].value]
        else:
            continue
        for name in names:
            yield node.lineno, name.split(".")[0], ast.unparse(node)


def offenders(library: Path, package: str, allowed: tuple[str, ...]) -> list[str]:
    """`<file>:<line>: <statement>` for each import of `package` in a module of `library` outside `allowed`."""
    found = []
    for path in sorted(library.rglob("*.py")):
        relative = path.relative_to(library).as_posix()
        if any(relative == rule or (rule.endswith("/") and relative.startswith(rule)) for rule in allowed):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        found += [f"{relative}:{line}: {statement}" for line, top, statement in imports(tree) if top == package]
    return found


@pytest.mark.parametrize(("package", "allowed"), RULES.items(), ids=list(RULES))
def test_the_library_imports_a_service_package_only_through_its_door(package, allowed):
    found = offenders(LIBRARY, package, allowed)
    assert not found, (f"{len(found)} import(s) of {package} in include/nightshift outside {', '.join(allowed)}:\n"
                       + "\n".join(f"  include/nightshift/{line}" for line in found))


def test_the_checker_reports_every_offending_import_and_nothing_else(tmp_path):
    files = {
        "airflow/factory.py": "import airflow\nfrom airflow.sdk import task\n",  # its own package: allowed
        "model/registry.py": "import mlflow\n",  # the door: allowed
        "data/storage.py": ("import os\n\n\ndef client():\n"
                            "    if os.environ:\n        from airflow.sdk import BaseHook\n"),
        "operate/scoring.py": ("import importlib\nimport mlflow.pyfunc as pyfunc\n\n\n"
                               "def load():\n    return importlib.import_module('mlflow.sklearn')\n"),
        "steps.py": ("from typing import TYPE_CHECKING\n\nimport airflow_helpers\n"
                     "from nightshift.airflow import factory\nfrom . import airflow\n\n"
                     "if TYPE_CHECKING:\n    import airflow.sdk\n"),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert offenders(tmp_path, "airflow", RULES["airflow"]) == [
        "data/storage.py:6: from airflow.sdk import BaseHook",
        "steps.py:8: import airflow.sdk",
    ]
    assert offenders(tmp_path, "mlflow", RULES["mlflow"]) == [
        "operate/scoring.py:2: import mlflow.pyfunc as pyfunc",
        "operate/scoring.py:6: importlib.import_module('mlflow.sklearn')",
    ]
