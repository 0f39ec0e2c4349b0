"""Object storage means the same on local disk and on S3 (moto's server): atomic puts, recursive sorted
listing relative to the root, deletes that ignore what is missing, and keys that never leave the root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nightshift.connections import aws_connection_id, aws_session
from nightshift.data.storage import LocalStorage, S3Storage, Storage, s3_client, s3_endpoint_setting
from nightshift.failures import ConfigError, InfraError


@pytest.fixture(params=["file", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """The same tests on a local folder and under a prefix of an S3 bucket."""
    if request.param == "file":
        return Storage.for_uri((tmp_path / "root").as_uri())
    return Storage.for_uri(f"s3://{request.getfixturevalue('s3_bucket')}/root")


def test_a_put_object_reads_back_and_a_second_put_replaces_it(storage):
    storage.put("raw/flights/day.parquet", b"first")
    storage.put("raw/flights/day.parquet", b"second")
    assert storage.get("raw/flights/day.parquet") == b"second"
    assert storage.exists("raw/flights/day.parquet")
    assert not storage.exists("raw/flights/other.parquet")


def test_listing_is_recursive_sorted_and_relative_to_the_root(storage):
    for key in ("raw/b/2.txt", "raw/a/1.txt", "raw/a/deeper/3.txt", "validated/a/4.txt", "raw2/a/5.txt"):
        storage.put(key, b"x")
    assert storage.list("raw/") == storage.list("raw") == ["raw/a/1.txt", "raw/a/deeper/3.txt", "raw/b/2.txt"]
    assert storage.list("raw/a") == ["raw/a/1.txt", "raw/a/deeper/3.txt"]  # a folder, not a string prefix
    assert storage.list("quarantine/") == []
    assert len(storage.list("")) == 5


def test_delete_removes_the_keys_and_ignores_missing_ones(storage):
    storage.put("raw/a/1.txt", b"x")
    storage.put("raw/a/2.txt", b"y")
    storage.delete(["raw/a/1.txt", "raw/a/never-written.txt"])
    assert storage.list("raw/") == ["raw/a/2.txt"]


def test_a_missing_object_is_file_not_found(storage):
    with pytest.raises(FileNotFoundError):
        storage.get("raw/nothing-here.txt")


def test_a_local_put_leaves_no_temporary_file_and_delete_drops_emptied_folders(tmp_path):
    storage = LocalStorage(tmp_path / "root")
    storage.put("raw/flights/2013-01-01/data.parquet", b"rows")
    assert [p.name for p in (tmp_path / "root" / "raw" / "flights" / "2013-01-01").iterdir()] == ["data.parquet"]
    storage.delete(["raw/flights/2013-01-01/data.parquet"])
    assert list((tmp_path / "root").iterdir()) == []  # the root itself stays


def test_a_missing_s3_object_names_its_uri(s3_bucket):
    with pytest.raises(FileNotFoundError, match=rf"s3://{s3_bucket}/root/raw/nothing\.txt"):
        S3Storage(s3_bucket, "root").get("raw/nothing.txt")


def test_an_s3_bucket_that_does_not_exist_is_an_os_error_naming_it(s3_endpoint):
    with pytest.raises(OSError, match=r"s3://nightshift-no-such-bucket/x: .*NoSuchBucket"):
        S3Storage("nightshift-no-such-bucket").put("x", b"x")


@pytest.mark.parametrize(("uri", "says"), [
    ("gs://bucket/lake", "gs://bucket/lake: unsupported storage scheme 'gs' (use file:// or s3://)"),
    ("s3:///lake", "s3:///lake: an s3:// URI needs a bucket"),
])
def test_an_unusable_root_uri_is_refused_naming_it(uri, says):
    with pytest.raises(InfraError) as error:
        Storage.for_uri(uri)
    assert str(error.value) == says and error.value.kind == "storage"


def test_a_plain_path_is_local_storage(tmp_path):
    storage = Storage.for_uri(str(tmp_path))
    assert isinstance(storage, LocalStorage) and storage.root_uri == tmp_path.as_uri()


def test_local_storage_refuses_keys_that_leave_its_root(tmp_path):
    storage, secret = LocalStorage(tmp_path / "lake"), tmp_path / "secret"
    secret.write_bytes(b"not the lake's")
    for key in ("../outside/data", "raw/../../outside/data", str(tmp_path / "outside" / "data")):
        with pytest.raises(ValueError, match=rf"storage key '{key}' would leave file://.*/lake: keys are relative"):
            storage.put(key, b"x")
    assert not (tmp_path / "outside").exists()
    with pytest.raises(ValueError, match="would leave"):
        storage.get("../secret")
    with pytest.raises(ValueError, match="would leave"):
        storage.delete(["../secret"])
    assert secret.read_bytes() == b"not the lake's"


def test_s3_storage_refuses_keys_that_leave_its_prefix(s3_bucket):
    storage = S3Storage(s3_bucket, "lake")
    with pytest.raises(ValueError, match=rf"storage key '\.\./other/data' would leave s3://{s3_bucket}/lake"):
        storage.put("../other/data", b"x")
    assert S3Storage(s3_bucket).list("") == []


@pytest.mark.usefixtures("airflow_connections")
def test_s3_settings_can_come_from_an_airflow_connection(s3_bucket, s3_endpoint, monkeypatch):
    """No AWS_* endpoint or keys in the environment: NIGHTSHIFT_AWS_CONN_ID names the connection to use."""
    for variable in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(variable)
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}}))
    monkeypatch.setenv("NIGHTSHIFT_AWS_CONN_ID", "lake_s3")
    s3_client.cache_clear()
    try:
        storage = S3Storage(s3_bucket, "via-connection")
        storage.put("raw/x.txt", b"through the connection")
        assert s3_client().meta.endpoint_url == s3_endpoint
        assert storage.get("raw/x.txt") == b"through the connection"
    finally:
        s3_client.cache_clear()


@pytest.mark.usefixtures("airflow_connections")
@pytest.mark.parametrize(("extra", "expected_token"), [
    ({"role_arn": "arn:aws:iam::123456789012:role/lake-writer"}, "assumed"),  # STS on moto, as on AWS
    ({"aws_session_token": "a-session-token"}, "a-session-token"),
])
def test_an_aws_connection_is_made_a_session_as_airflow_does_role_and_session_token_included(
        s3_bucket, s3_endpoint, monkeypatch, extra, expected_token):
    monkeypatch.delenv("NIGHTSHIFT_AWS_CONN_ID", raising=False)  # Airflow's default connection, as Airflow users set it
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1", **extra}}))
    s3_client.cache_clear()
    try:
        storage = S3Storage(s3_bucket, "via-aws-default")
        storage.put("raw/x.txt", b"through aws_default")
        assert storage.get("raw/x.txt") == b"through aws_default"
        session, endpoint = aws_session(aws_connection_id())
        credentials = session.get_credentials().get_frozen_credentials()
        assert endpoint == s3_endpoint and s3_endpoint_setting() == (
            f"endpoint {s3_endpoint}: from the Airflow connection 'aws_default' (AIRFLOW_CONN_AWS_DEFAULT in the "
            "environment), Airflow's default AWS connection")
    finally:
        s3_client.cache_clear()
    if expected_token == "assumed":  # the role's temporary credentials, not the connection's keys
        assert credentials.access_key != "testing" and credentials.token
    else:
        assert (credentials.access_key, credentials.token) == ("testing", expected_token)


def test_an_s3_endpoint_whose_host_does_not_resolve_is_a_setting_to_fix_naming_where_it_was_set(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://s3.invalid:9000")
    with_keys(monkeypatch)
    s3_client.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"^s3://lake/raw: the host of the S3 endpoint does not resolve") as error:
            S3Storage("lake").list("raw")
    finally:
        s3_client.cache_clear()
    assert error.value.kind == "misconfigured_endpoint" and not error.value.retryable
    assert error.value.evidence == "AWS_ENDPOINT_URL = http://s3.invalid:9000 (environment)"


def test_an_s3_endpoint_that_does_not_answer_is_a_retryable_lake_error_naming_the_setting(monkeypatch):
    from nightshift.data.lake import Lake

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # resolves; nothing listens
    with_keys(monkeypatch)
    s3_client.cache_clear()
    try:
        with pytest.raises(InfraError, match=r"^lake s3://lake: verdicts failed: ") as error:
            Lake.from_uri("s3://lake").verdicts("flights")
    finally:
        s3_client.cache_clear()
    assert error.value.retryable and error.value.evidence == "AWS_ENDPOINT_URL = http://127.0.0.1:9 (environment)"
    assert "Could not connect to the endpoint URL" in str(error.value)


def with_keys(monkeypatch) -> None:
    """Credentials and a region from the environment, no AWS connection: what is left to fail is the endpoint."""
    monkeypatch.delenv("NIGHTSHIFT_AWS_CONN_ID", raising=False)
    for variable, value in (("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "x"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(variable, value)
