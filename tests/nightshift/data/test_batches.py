"""Appended batches beside a day's partition, on a local and an S3 lake: written whole, read in order,
never touched by the day's own rewrites."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from nightshift.data.batches import append_batch, batch_manifests, read_batches

DAY = dt.date(2013, 1, 5)


def test_batches_are_read_back_in_order_with_their_day_and_survive_rewrites_of_the_day(any_lake):
    first, second = pd.DataFrame({"x": [1, 2]}), pd.DataFrame({"x": [3]})
    append_batch(any_lake, "predictions", "m", DAY, "online", first, writer="a")
    any_lake.write_partition("predictions", "m", DAY, pd.DataFrame({"y": [0.5]}))  # the day's batch scores
    manifest = append_batch(any_lake, "predictions", "m", DAY, "online", second, writer="b")
    any_lake.write_partition("predictions", "m", DAY, pd.DataFrame({"y": [0.7]}))  # rewritten: old commit swept

    read = read_batches(any_lake, "predictions", "m", [DAY, DAY + dt.timedelta(days=1)], "online")
    assert read["x"].tolist() == [1, 2, 3] and set(read["date"]) == {pd.Timestamp(DAY)}
    assert [m["writer"] for m in batch_manifests(any_lake, "predictions", "m", DAY, "online")] == ["a", "b"]
    assert (manifest["rows"], manifest["source"]) == (1, "online")
    assert any_lake.read_partition("predictions", "m", DAY)["y"].tolist() == [0.7]
    assert any_lake.days("predictions", "m") == [DAY]  # batches add no day of their own


def test_a_batch_without_its_manifest_is_not_read(any_lake):
    from nightshift.data.batches import batch_folder
    from nightshift.data.lake import DATA_FILE, parquet_bytes

    any_lake.storage.put(f"{batch_folder(any_lake, 'predictions', 'm', DAY, 'online')}/crashed/{DATA_FILE}",
                         parquet_bytes(pd.DataFrame({"x": [9]})))
    assert read_batches(any_lake, "predictions", "m", [DAY], "online").empty
