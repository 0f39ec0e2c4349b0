"""Infra check before promotion: a registered version loads from the registry in a fresh Python
process (as a scorer would load it) and predicts on a holdout sample that matches its signature.

The process is started before the sample exists (`fresh_load_check`): it spends seconds importing MLflow
and scikit-learn and loading the version while the gate scores the champion, then reads the sample's path
on stdin. It exits non-zero with the reason on stderr: INFRA_EXIT when a service did not answer (the
registry, the artifact store), so that an outage is retried as one instead of rejecting a good model.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from nightshift.failures import InfraError, as_known_failure

TIMEOUT_S = 300
INFRA_EXIT = 75  # EX_TEMPFAIL: try again later


class FreshLoadCheck:
    """A started check, waiting for its sample."""

    def __init__(self, model: str, version: str) -> None:
        self.model, self.version, self.deadline = model, version, time.monotonic() + TIMEOUT_S
        self.process = subprocess.Popen(  # nosec B603  # this interpreter, an argument list, no shell
            [sys.executable, "-m", "nightshift.model.load_check", model, version],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def result(self, sample) -> str:
        """Empty string when the version loaded and predicted `sample`; otherwise what went wrong with the
        model. Raises InfraError when a service did not answer or the check did not finish in TIMEOUT_S."""
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "sample.parquet"
            sample.to_parquet(path, index=False)
            try:
                _, stderr = self.process.communicate(f"{path}\n", timeout=self.deadline - time.monotonic())
            except subprocess.TimeoutExpired:  # fresh_load_check kills the process
                raise InfraError(f"the fresh-process load check of {self.model} v{self.version} took more than "
                                 f"{TIMEOUT_S} s", kind="timeout", hint="A slow or hanging registry or artifact "
                                 "store? The task retries; the model was not judged.") from None
        if self.process.returncode == 0:
            return ""
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit code {self.process.returncode}"
        if self.process.returncode == INFRA_EXIT:
            raise InfraError(f"the fresh-process load check of {self.model} v{self.version} could not reach a "
                             f"service: {reason}", kind="service_unreachable",
                             hint="The registry or the artifact store did not answer; the task retries. The model "
                                  "was not judged.")
        return reason


@contextlib.contextmanager
def fresh_load_check(model: str, version: str) -> Iterator[FreshLoadCheck]:
    """The check's process, started now; killed when the block ends before it has (its result not asked for,
    or not given within TIMEOUT_S)."""
    check = FreshLoadCheck(model, version)
    try:
        yield check
    finally:
        if check.process.poll() is None:
            check.process.kill()
            check.process.communicate()


def check_in_fresh_process(model: str, version: str, sample) -> str:
    """`FreshLoadCheck.result` of a check started for this sample."""
    with fresh_load_check(model, version) as check:
        return check.result(sample)


def main(model: str, version: str, sample_path: Callable[[], str]) -> None:
    """Load the version, then predict the sample at the path `sample_path` gives once it is loaded."""
    import pandas as pd
    import skops.io  # noqa: F401  before MLflow: its import scans every loaded module (1.1 s, not 2.1 s)

    from nightshift.model.registry import Registry

    with Registry.from_env().loaded_pyfunc(model, version) as loaded:
        sample = pd.read_parquet(sample_path().strip())
        if len(predictions := loaded.predict(sample)) != len(sample):
            raise SystemExit(f"{len(predictions)} predictions for {len(sample)} rows")


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2], sys.stdin.readline)
    except Exception as error:  # an outage exits apart from a model that does not load (a traceback)
        if not isinstance(known := as_known_failure(error), InfraError):
            raise
        print(f"{type(error).__name__}: {known}".replace("\n", " "), file=sys.stderr)
        sys.exit(INFRA_EXIT)
