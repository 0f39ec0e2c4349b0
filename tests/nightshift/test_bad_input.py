"""Every kind of bad input in tests/data/bad/ goes through the whole pipeline (ingest, validate, and
train, gate and promote if it got that far) against a lake with three weeks of history and a
champion. Each must fail with a clear error naming what is wrong and where, keep the original,
commit nothing to validated/, and leave the champion alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from nightshift import steps
from nightshift.failures import DataError, NightshiftError
from nightshift.model.registry import CHAMPION
from nightshift.spec import load_spec
from tests.conftest import DEMO_SPEC, validated_world
from tests.figures import record

CORPUS = Path(__file__).parents[1] / "data" / "bad"
HISTORY = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(21)]
DAY = dt.date(2013, 1, 22)  # the day every corpus file holds


@dataclass(frozen=True)
class Case:
    file: str
    error: type[NightshiftError]
    says: tuple[str, ...]        # fragments of the message (and evidence) a reader needs
    unreadable: bool = False     # the file itself cannot be parsed: a copy is kept in quarantine
    quarantined: bool = False    # parsed and committed to raw/, then quarantined with a report


CASES = [
    Case("empty.csv", DataError, ("empty.csv: cannot read as csv: the file is empty (0 bytes)",), unreadable=True),
    Case("header_only.csv", DataError, ("header_only.csv: has a header (19 columns) but no rows",)),
    Case("missing_column.csv", DataError, ("expect_table_columns_to_match_set", "missing: ['carrier']"),
         quarantined=True),
    Case("renamed_column.csv", DataError, ("unexpected: ['destination']", "missing: ['dest']"), quarantined=True),
    Case("extra_column.csv", DataError, ("expect_table_columns_to_match_set", "unexpected: ['gate']"),
         quarantined=True),
    Case("wrong_type.csv", DataError, ("expect_column_values_to_be_in_type_list", "distance"), quarantined=True),
    Case("numbers_with_text.csv", DataError, ("expect_column_values_to_be_in_type_list", "sched_dep_time"),
         quarantined=True),
    Case("all_null_column.csv", DataError, ("expect_column_values_to_not_be_null", "carrier", "450   100.0"),
         quarantined=True),
    Case("duplicate_keys.csv", DataError, ("expect_compound_columns_to_be_unique", "one row per scheduled flight"),
         quarantined=True),
    Case("out_of_range.csv", DataError, ("expect_column_values_to_be_between", "distance", "[99999"),
         quarantined=True),
    Case("impossible_dates.csv", DataError, ("(450 rows read): 5 rows have no valid date in ['year', 'month', 'day']",
                                             "first at row(s) [5, 105")),
    Case("future_dates.csv", DataError, ("5 rows are dated after today",)),
    Case("wrong_encoding.csv", DataError, ("not UTF-8 text: byte b'\\xda' at line 32",), unreadable=True),
    Case("truncated.csv.gz", DataError, ("cannot read as csv (gzip): Compressed file ended",), unreadable=True),
    Case("mislabeled.csv.gz", DataError, ("cannot read as csv (gzip): Not a gzipped file",), unreadable=True),
    Case("mixed_delimiters.csv", DataError, ("line(s) 11, 71, 131", "separated by ';', the rest by ','"),
         unreadable=True),
    Case("repeated_header.csv", DataError, ("line(s) 202 repeat the header",), unreadable=True),
    Case("huge_single_line.csv.gz", DataError, ("expect_column_values_to_be_in_type_list", "dep_time",
                                                "sched_dep_time"), quarantined=True),
    Case("binary_garbage.csv", DataError, ("binary_garbage.csv: not UTF-8 text",), unreadable=True),
    Case("truncated.parquet", DataError, ("cannot read as parquet", "magic bytes not found"), unreadable=True),
    Case("target_leak.csv", DataError, ("leak:target_in_feature", "carrier", "ROC AUC 1.000"), quarantined=True),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three validated weeks of real flights, and a champion trained on them."""
    spec = load_spec(DEMO_SPEC)
    spec = spec.model_copy(update={"windows": spec.windows.model_copy(update={"train_days": 14})})
    with validated_world(tmp_path_factory, "bad-input", HISTORY, spec=spec, champion_as_of=HISTORY[-1]) as run:
        yield run.spec, run.lake, run.registry


def run_pipeline(spec, lake, day: dt.date) -> None:
    """What the ingest and retrain DAGs do for one day."""
    run = steps.Run(spec, lake)
    steps.ingest_raw(run, [day])
    steps.validate(run, [day])
    steps.retrain(run, day, infra_check=False)


def reading(spec, path: str):
    return spec.model_copy(update={"source": spec.source.model_copy(update={"path": path, "format": None})})


@pytest.fixture
def clean_day(world):
    spec, lake, _ = world
    yield
    for zone in ("raw", "validated", "quarantine"):
        lake.remove_partition(zone, spec.source.dataset, DAY)


def test_the_corpus_has_twenty_kinds_of_bad_input_and_one_good_day():
    assert len(CASES) >= 20
    assert {case.file for case in CASES} | {"good_day.csv", "make_corpus.py"} == {p.name for p in CORPUS.iterdir()
                                                                                    if p.name != "__pycache__"}


def test_the_good_day_passes_so_every_failure_comes_from_the_breakage(world, clean_day):
    spec, lake, _ = world
    run_pipeline(reading(spec, str(CORPUS / "good_day.csv")), lake, DAY)
    assert DAY in lake.days("validated", spec.source.dataset)


@pytest.mark.parametrize("case", CASES, ids=[case.file for case in CASES])
def test_bad_input_fails_clearly_and_loses_nothing(world, clean_day, case):
    spec, lake, registry = world
    source = CORPUS / case.file
    original = hashlib.sha256(source.read_bytes()).hexdigest()
    champion = registry.alias_version(spec.name, CHAMPION)

    with pytest.raises(case.error) as error:
        run_pipeline(reading(spec, str(source)), lake, DAY)

    told = f"{error.value}\n{error.value.evidence}\n{error.value.hint}"
    for fragment in case.says:
        assert fragment in told
    assert len(told) < 20_000, "a message must stay readable, whatever the input"
    assert hashlib.sha256(source.read_bytes()).hexdigest() == original
    assert DAY not in lake.days("validated", spec.source.dataset)
    assert registry.alias_version(spec.name, CHAMPION) == champion
    if case.quarantined:
        assert DAY in lake.days("quarantine", spec.source.dataset)
        assert lake.read_attachment("quarantine", spec.source.dataset, DAY, "report.json")
    else:
        assert DAY not in lake.days("raw", spec.source.dataset)
    if case.unreadable:
        kept = [key for key in lake.storage.list(f"quarantine/{spec.source.dataset}/unreadable/")
                if key.endswith(case.file)]
        assert [lake.storage.get(key) for key in kept] == [source.read_bytes()]
        assert kept[0] in error.value.hint
    record("bad inputs tried")
