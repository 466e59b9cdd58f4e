"""Read the database as Arrow record batches, in bounded memory, from one consistent snapshot.

PostgreSQL goes through ADBC (binary COPY straight into Arrow, no Python objects per row) in
one REPEATABLE READ transaction, so every entity of a day and the watermark are cut at the
same instant. SQLite goes through its own driver in one read transaction (WAL: a snapshot),
`fetchmany` at a time: ADBC's SQLite driver guesses column types from the first rows and
fails on a text column whose first rows are NULL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa
from sqlalchemy import Engine

from exports.arrow import ExportField, export_fields

SQLITE_BATCH_ROWS = 50_000


class Source(Protocol):
    """What an export needs from a database: batches for a query and single values."""

    def batches(self, sql: str, entity: str) -> Iterator[pa.RecordBatch]:
        """The rows of `sql` (the entity's public columns, in order) as driver-typed batches."""
        ...

    def scalar(self, sql: str) -> Any: ...

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Every row of `sql` as plain tuples (SQLite gives times as ISO text): for small
        reads that Python works through row by row, such as a chunk of notices."""
        ...


class PostgresSource:
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def batches(self, sql: str, entity: str) -> Iterator[pa.RecordBatch]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)
            yield from cursor.fetch_record_batch()

    def scalar(self, sql: str) -> Any:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)
            row = cursor.fetchone()
        return row[0] if row else None

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]


def _sqlite_type(field: ExportField) -> pa.DataType:
    """How SQLite hands a column over: integers (also fen and booleans) as int, dates and
    times as text."""
    if (
        field.scale is not None
        or pa.types.is_integer(field.arrow_type)
        or pa.types.is_boolean(field.arrow_type)
    ):
        return pa.int64()
    if pa.types.is_boolean(field.arrow_type):
        return pa.int64()
    if pa.types.is_temporal(field.arrow_type):
        return pa.string()
    return field.arrow_type


class SqliteSource:
    def __init__(self, connection: Any, batch_rows: int = SQLITE_BATCH_ROWS) -> None:
        self.connection = connection
        self.batch_rows = batch_rows

    def batches(self, sql: str, entity: str) -> Iterator[pa.RecordBatch]:
        types = [_sqlite_type(f) for f in export_fields(entity)]
        names = [f.name for f in export_fields(entity)]
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(self.batch_rows):
                columns = zip(*rows, strict=True)
                arrays = [pa.array(c, type=t) for c, t in zip(columns, types, strict=True)]
                yield pa.RecordBatch.from_arrays(arrays, names=names)
        finally:
            cursor.close()

    def scalar(self, sql: str) -> Any:
        row = self.connection.execute(sql).fetchone()
        return row[0] if row else None

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.connection.execute(sql).fetchall()]


def as_datetime(value: Any) -> datetime:
    """A time as the drivers hand it over: PostgreSQL a datetime, SQLite ISO text."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def adbc_uri(engine: Engine) -> str:
    """The libpq URI of a SQLAlchemy PostgreSQL engine (driver name dropped)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def open_source(engine: Engine) -> Iterator[Source]:
    """A read-only snapshot of the database for the length of one export."""
    if engine.dialect.name == "postgresql":
        import adbc_driver_postgresql.dbapi as adbc_postgresql

        with adbc_postgresql.connect(adbc_uri(engine)) as connection:
            with connection.cursor() as cursor:  # autocommit is off: this opens the transaction
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                yield PostgresSource(connection)
            finally:
                connection.rollback()
        return
    if engine.dialect.name != "sqlite":
        raise ValueError(f"exports read PostgreSQL or SQLite, not {engine.dialect.name}")
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert connection is not None
        connection.execute("BEGIN")  # WAL: every read below sees this one snapshot
        try:
            yield SqliteSource(connection)
        finally:
            connection.execute("ROLLBACK")
    finally:
        raw.close()
