"""A pipeline step that makes a model much slower to predict, for the gate's latency budget test.

It lives in an importable module (not in the test) so that the challenger still loads in the gate's
fresh process: the only thing wrong with it is its speed.
"""

import time

SECONDS_PER_1K_ROWS = 0.25  # above the demo spec's budget of 200 ms per 1,000 rows, and cheap to run


def slow_identity(frame):
    """Busy for the time, not asleep: the gate measures the CPU time a prediction costs."""
    done = time.process_time() + SECONDS_PER_1K_ROWS * len(frame) / 1000
    while time.process_time() < done:
        pass
    return frame
