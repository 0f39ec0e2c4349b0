"""A served model before any promotion: nothing to serve, said plainly, in process."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from nightshift.operate.serving.metrics import ServingMetrics
from nightshift.operate.serving.models import ServedModel
from nightshift.operate.serving.requests import RequestError
from tests.conftest import validated_world

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(3)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with validated_world(tmp_path_factory, "serving-models", DAYS) as run:
        yield run


def test_without_a_champion_requests_get_503_saying_what_the_server_waits_for(world):
    served = ServedModel(world.spec, world.lake, world.registry, ServingMetrics())
    served.follow()
    assert served.routes.champion is None
    assert served.waiting_for == "a champion: the retrain DAG has promoted none yet"
    with pytest.raises(RequestError, match="waiting for a champion") as refused:
        served.submit(pd.DataFrame({"carrier": ["UA"]}), "request-1")
    assert refused.value.status == 503
    assert served.describe() == {"champion": None, "challenger": None, "canary_percent": 0, "shadow": False,
                                 "canary_stopped": None, "not_served": {}}
