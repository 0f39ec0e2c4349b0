"""Reading what a spec's source declares: files (CSV or parquet, local, S3 or package data, by path
or glob, compressed or not) or a PostgreSQL table or query through a connection (`nightshift.connections`:
Airflow's, in tasks and the CLI).

Errors say what is wrong and where: the file (and line, when the parser knows it), or the query. A
file that cannot be parsed is copied, byte for byte, to the lake's quarantine before the error is
raised, so the evidence survives the upstream overwriting it.
"""

from __future__ import annotations

import datetime as dt
import glob
import importlib.util
import io
import re
import zipfile
from contextlib import closing
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pandas as pd

from nightshift.connections import get_connection, provenance
from nightshift.failures import ConfigError, DataError, InfraError
from nightshift.spec import Source

COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz", ".zst": "zstd"}
# How much of an unreadable file's message (a huge single line, say) goes into an error.
MESSAGE_LIMIT = 300


def list_files(path: str) -> list[str]:
    """The files behind a source or lookup path: a local path or glob, file://, s3://bucket/glob, or
    package://<package>/<file> (data shipped in an installed package, found without importing it)."""
    parsed = urlparse(path)
    if parsed.scheme == "s3":
        from nightshift.data.storage import S3Storage, s3_endpoint_setting

        # Not urlparse's path: a glob's `?` would start its query string.
        bucket, _, pattern = path.removeprefix("s3://").partition("/")
        folder = re.split(r"[*?\[]", pattern, maxsplit=1)[0].rpartition("/")[0]
        try:
            keys = S3Storage(bucket).list(folder)
        except OSError as err:
            raise InfraError(f"{path}: cannot list the files: {err}", kind="source_unreachable",
                             evidence=s3_endpoint_setting()) from err
        matches = [f"s3://{bucket}/{key}" for key in keys if _glob_matches(key, pattern)]
    else:
        if parsed.scheme == "package":
            found = importlib.util.find_spec(parsed.netloc)
            if found is None or not found.submodule_search_locations:
                raise DataError(f"{path}: package {parsed.netloc!r} is not installed", kind="missing_source")
            pattern = str(Path(found.submodule_search_locations[0]) / parsed.path.lstrip("/"))
        elif parsed.scheme in ("", "file"):
            pattern = path.removeprefix("file://")  # not urlparse's path: a `?` would end it
        else:
            raise DataError(f"{path}: unsupported scheme {parsed.scheme!r} (use a path, file://, s3:// or package://)",
                            kind="missing_source")
        matches = sorted(glob.glob(pattern))
    if not matches:
        raise DataError(f"{path}: no file matches", kind="missing_source", hint="Check the path in the spec.")
    return matches


def _glob_matches(key: str, pattern: str) -> bool:
    """As a local glob matches: part by part, so a `*` never crosses a `/`."""
    key_path, pattern_path = PurePosixPath(key), PurePosixPath(pattern)
    return len(key_path.parts) == len(pattern_path.parts) and key_path.match(pattern)


def file_format(name: str) -> str:
    suffixes = [s for s in Path(name).suffixes if s not in COMPRESSION]
    return "parquet" if suffixes[-1:] == [".parquet"] else "csv"


def read_bytes(uri: str) -> bytes:
    """The bytes of one listed file. A file that vanished since it was listed is an infra error: the
    upstream is probably rewriting it, and a retry will find it again."""
    try:
        if uri.startswith("s3://"):
            from nightshift.data.storage import S3Storage

            bucket, _, key = uri.removeprefix("s3://").partition("/")
            return S3Storage(bucket).get(key)
        return Path(uri).read_bytes()
    except FileNotFoundError:
        raise InfraError(f"{uri}: the file disappeared while it was being read (it was listed a moment "
                         "earlier)", kind="source_vanished",
                         hint="The upstream is probably rewriting it; the task retries.") from None
    except OSError as err:
        raise InfraError(f"{uri}: cannot read the file: {err}", kind="source_unreachable") from err


def parse(name: str, data: bytes, fmt: str = "", columns: list[str] | None = None) -> pd.DataFrame:
    """One file's rows. Raises DataError naming the file and, where known, the line."""
    fmt = fmt or file_format(name)
    compression = COMPRESSION.get(Path(name).suffix)
    try:
        if not data:
            raise ValueError("the file is empty (0 bytes)")
        if fmt == "parquet":
            return pd.read_parquet(io.BytesIO(data), columns=columns)
        frame = pd.read_csv(io.BytesIO(data), compression=compression, usecols=columns, encoding="utf-8-sig",
                            on_bad_lines="error", low_memory=False)
    except UnicodeDecodeError as err:
        raise DataError(f"{name}: not UTF-8 text: byte {data[err.start:err.start + 1]!r} "
                        f"at line {_line_of(data, err.start)} (encoding {err.encoding!r} expected)",
                        kind="corrupt_source", hint="Ask the producer to export UTF-8.") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        # pandas' ParserError and EmptyDataError are ValueErrors; a truncated gzip is an EOFError,
        # a truncated zip a BadZipFile, a corrupt parquet file an OSError or ArrowInvalid (a ValueError).
        raise DataError(f"{name}: cannot read as {fmt}{f' ({compression})' if compression else ''}: "
                        f"{_shorten(str(err))}", kind="corrupt_source") from None
    _check_csv_rows(name, frame)
    return frame


def _check_csv_rows(name: str, frame: pd.DataFrame) -> None:
    """Rows pandas reads without complaint but that mean the file was put together wrongly."""
    if len(frame.columns) < 2 or frame.empty:
        return
    first, rest = frame.iloc[:, 0].astype("string"), frame.iloc[:, 1:]
    # A repeated header is a row of the column names; only rows that start like one are compared whole.
    starts_like_header = (first == str(frame.columns[0])).fillna(False)
    header = pd.Series(frame.columns, index=frame.columns).astype("string")
    repeated = ((frame[starts_like_header].astype("string") == header).all(axis=1)
                .reindex(frame.index, fill_value=False))
    if repeated.any():
        raise DataError(f"{name}: line(s) {_csv_lines(repeated)} repeat the header (files concatenated?)",
                        kind="corrupt_source")
    for delimiter in (";", "\t", "|"):
        odd = rest.isna().all(axis=1) & first.str.contains(delimiter, regex=False).fillna(False)
        if odd.any():
            raise DataError(f"{name}: line(s) {_csv_lines(odd)} are separated by {delimiter!r}, the rest by ','",
                            kind="corrupt_source")


def _csv_lines(mask: pd.Series) -> str:
    """File line numbers (1 is the header) of the first few rows in `mask`."""
    lines = [int(i) + 2 for i in mask[mask].index[:5]]
    return ", ".join(map(str, lines)) + (f" (and {int(mask.sum()) - 5} more)" if mask.sum() > 5 else "")


def read_table(path: str, fmt: str = "", columns: list[str] | None = None) -> pd.DataFrame:
    """All files behind `path` as one frame."""
    frames = [parse(uri, read_bytes(uri), fmt, columns) for uri in list_files(path)]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


# Extras of an Airflow Postgres connection that are the hook's own, not libpq's.
AIRFLOW_POSTGRES_EXTRAS = frozenset({
    "cursor", "iam", "redshift", "redshift-serverless", "cluster-identifier", "workgroup-name", "aws_conn_id",
    "sqlalchemy_scheme", "sqlalchemy_query", "azure_conn_id", "enable_log_db_messages"})


def read_postgres(source: Source, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Rows of the source table or query whose date column falls from `first` to `last` (inclusive),
    read through the connection `source.conn_id` (see `nightshift.connections`)."""
    import psycopg2
    from psycopg2 import sql

    relation = (sql.SQL("(\n{}\n)").format(sql.SQL(source.query)) if source.query
                else sql.Identifier(*source.table.split(".")))
    query = sql.SQL("SELECT * FROM {} AS source WHERE {} >= %s AND {} < %s").format(
        relation, sql.Identifier(source.date_columns[0]), sql.Identifier(source.date_columns[0]))
    with closing(_connect(source)) as connection, connection.cursor() as cursor:
        try:
            cursor.execute(query, (first, last + dt.timedelta(days=1)))
            names = [column.name for column in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=names)
        except psycopg2.OperationalError as err:
            raise InfraError(f"{source.describe()}: cannot reach PostgreSQL: {_shorten(str(err))}",
                             kind="source_unreachable") from None
        except psycopg2.Error as err:
            raise DataError(f"{source.describe()}: the query failed: {_shorten(str(err).strip())}",
                            kind="source_query", evidence=f"query sent: {cursor.query.decode()}",
                            hint="Fix the table or query in the spec's source.") from None


def _connect(source: Source):
    import psycopg2
    import psycopg2.extras

    # libpq waits for a query's answer in C, where no signal reaches Python: a server that never answers
    # would outlive the task's execution timeout (SIGALRM). Waiting in Python's select() lets it fire.
    psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)
    conn_id = source.conn_id
    connection = get_connection(conn_id)
    # Every other extra is a libpq option (sslmode, sslrootcert, options, application_name, ...), as
    # Airflow's PostgresHook passes them; the connection's own may replace the timeouts below.
    libpq = {key: value for key, value in connection.extra.items() if key not in AIRFLOW_POSTGRES_EXTRAS}
    host, port = connection.host, connection.port or 5432
    tried = (f"host {host}, port {port}, user {connection.login}, database {connection.schema}: from "
             f"{provenance(conn_id)}")
    try:
        connected = psycopg2.connect(**{
            "host": host, "port": port, "user": connection.login,
            "password": connection.password or None, "dbname": connection.schema, "connect_timeout": 10,
            "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3, **libpq})
    except psycopg2.ProgrammingError as err:  # an option libpq does not know
        raise InfraError(f"connection {conn_id!r}: {_shorten(str(err).strip())}", kind="connection",
                         hint=f"Fix or remove the option in the connection's extras (given: {sorted(libpq)}).",
                         ) from None
    except psycopg2.OperationalError as err:
        if "could not translate host name" in str(err):
            raise ConfigError(f"{source.describe()}: the host name {host!r} does not resolve", evidence=tried,
                              kind="misconfigured_endpoint",
                              hint=f"Fix the host of the connection {conn_id!r} (Admin > Connections, or its "
                                   "AIRFLOW_CONN_ variable); a retry will not help.") from None
        raise InfraError(f"{source.describe()}: cannot reach PostgreSQL: {_shorten(str(err))}", evidence=tried,
                         kind="source_unreachable",
                         hint=f"The server is down or refuses connections, or the connection {conn_id!r} names the "
                              "wrong host or port (see evidence). The task retries; if the setting is wrong, fix it "
                              "and clear the task.") from None
    # A source is only read: a query that writes (through a function, say) fails instead of running.
    connected.set_session(readonly=True)
    return connected


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _shorten(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else f"{text[:MESSAGE_LIMIT]}... ({len(text)} characters)"
