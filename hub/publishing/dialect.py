"""The two small places where SQLite and PostgreSQL differ for the pipeline."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Insert


def insert_ignoring_conflicts(conn: Connection, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING in the connection's dialect."""
    module = sqlite if conn.dialect.name == "sqlite" else postgresql
    return module.insert(table).on_conflict_do_nothing()


def raw_insert_sql(conn: Connection, table: Table, columns: tuple[str, ...]) -> str:
    """A driver-level INSERT for executemany: the bulk path skips per-value bind processing."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join(mark for _ in columns)})"
    )


def driver_value_converter(conn: Connection) -> Any:
    """Dates as SQLAlchemy's SQLite dialect stores them (ISO text); PostgreSQL takes objects.

    Times always with six places, as SQLAlchemy writes and binds them: a publish time to the
    second stored as `2024-03-01 10:00:00` sorts before the bound `2024-03-01 10:00:00.000000`,
    and a filter `from` that very second would miss it."""
    if conn.dialect.name != "sqlite":
        return None

    def convert(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat(" ", "microseconds")
        if isinstance(value, date):
            return value.isoformat()
        return value

    return convert
