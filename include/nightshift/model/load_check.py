"""Infra check before promotion: a registered version loads from the registry in a fresh Python
process (as a scorer would load it) and predicts on a holdout sample that matches its signature.

Run as `python -m nightshift.model.load_check <model> <version> <sample.parquet>`; exits non-zero with
the reason on stderr.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

TIMEOUT_S = 300


def check_in_fresh_process(model: str, version: str, sample) -> str:
    """Empty string when the version loads and predicts; otherwise what went wrong."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "sample.parquet"
        sample.to_parquet(path, index=False)
        try:
            done = subprocess.run([sys.executable, "-m", "nightshift.model.load_check", model, version, str(path)],  # nosec B603  # this interpreter, an argument list, no shell
                                  capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return f"loading and predicting took more than {TIMEOUT_S}s"
    if done.returncode == 0:
        return ""
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {done.returncode}"


def main(model: str, version: str, sample_path: str) -> None:
    import pandas as pd

    from nightshift.model.registry import Registry

    sample = pd.read_parquet(sample_path)
    predictions = Registry.from_env().predict_in_pyfunc(model, version, sample)
    if len(predictions) != len(sample):
        raise SystemExit(f"{len(predictions)} predictions for {len(sample)} rows")


if __name__ == "__main__":
    main(*sys.argv[1:])
