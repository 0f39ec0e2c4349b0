"""Infra check before promotion: a registered version loads from the registry in a fresh Python
process (as a scorer would load it) and predicts on a holdout sample that matches its signature.

Run as `python -m nightshift.model.load_check <model> <version> <sample.parquet>`; exits non-zero with
the reason on stderr: INFRA_EXIT when a service did not answer (the registry, the artifact store), so
that an outage is retried as one instead of rejecting a good model.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from nightshift.failures import InfraError, as_known_failure

TIMEOUT_S = 300
INFRA_EXIT = 75  # EX_TEMPFAIL: try again later


def check_in_fresh_process(model: str, version: str, sample) -> str:
    """Empty string when the version loads and predicts; otherwise what went wrong with the model.
    Raises InfraError when a service did not answer or the check did not finish in TIMEOUT_S."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "sample.parquet"
        sample.to_parquet(path, index=False)
        try:
            done = subprocess.run([sys.executable, "-m", "nightshift.model.load_check", model, version, str(path)],  # nosec B603  # this interpreter, an argument list, no shell
                                  capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise InfraError(f"the fresh-process load check of {model} v{version} took more than {TIMEOUT_S} s",
                             kind="timeout", hint="A slow or hanging registry or artifact store? The task "
                                                  "retries; the model was not judged.") from None
    if done.returncode == 0:
        return ""
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    reason = lines[-1] if lines else f"exit code {done.returncode}"
    if done.returncode == INFRA_EXIT:
        raise InfraError(f"the fresh-process load check of {model} v{version} could not reach a service: {reason}",
                         kind="service_unreachable", hint="The registry or the artifact store did not answer; "
                                                          "the task retries. The model was not judged.")
    return reason


def main(model: str, version: str, sample_path: str) -> None:
    import pandas as pd

    from nightshift.model.registry import Registry

    sample = pd.read_parquet(sample_path)
    predictions = Registry.from_env().predict_in_pyfunc(model, version, sample)
    if len(predictions) != len(sample):
        raise SystemExit(f"{len(predictions)} predictions for {len(sample)} rows")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:])
    except Exception as error:  # an outage exits apart from a model that does not load (a traceback)
        if not isinstance(known := as_known_failure(error), InfraError):
            raise
        print(f"{type(error).__name__}: {known}".replace("\n", " "), file=sys.stderr)
        sys.exit(INFRA_EXIT)
