"""Engines for both dialects and the Alembic migrations that shape them."""

from __future__ import annotations

import select
import sqlite3
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaOutOfDate(RuntimeError):
    """The database is behind the code and this command will not migrate it on its own."""


def normalise_url(url: str) -> str:
    """Accept the usual spellings and pick the driver we ship (psycopg 3)."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url)
    event.listen(engine, "checkout", _still_connected)
    return engine


def _still_connected(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Replace a pooled connection the server has closed, before anything uses it.

    A server that ends a session (restart, `pg_terminate_backend`, idle timeout) closes its
    socket, usually after a last error message, so an idle connection whose socket is
    readable is gone. A zero-timeout poll tells without the round trip of `pool_pre_ping`'s
    SELECT 1, which cost half a millisecond of every API request. Raising
    DisconnectionError makes the pool discard it and connect afresh.
    """
    connection = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    if connection.closed:
        raise DisconnectionError("the connection is closed")
    if peer_closed(connection.fileno()):
        raise DisconnectionError("the server closed the connection")


def peer_closed(sock: Any) -> bool:
    """An idle socket with something to read has been closed (or said goodbye) by its peer.

    Idle pooled connections, to PostgreSQL here and to Elasticsearch in `indexer.es_node`,
    expect nothing until they send; a zero-timeout poll costs no round trip.
    """
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def reader(engine: Engine, timeout: float | None = None) -> Engine:
    """The engine for read-only requests, each statement cut short after `timeout` seconds.

    Its own pool, so the limit never reaches ingests and exports on `engine`. PostgreSQL:
    `statement_timeout` set at connect (no round trip per request), and autocommit: a
    request's reads in a transaction cost a BEGIN and a ROLLBACK round trip besides its
    queries and see nothing more consistent, since under READ COMMITTED each statement
    takes its own snapshot either way. SQLite: a progress handler that interrupts a
    statement past its deadline, set as each statement starts.
    """
    if not timeout or timeout <= 0:
        if engine.dialect.name == "postgresql":
            return engine.execution_options(isolation_level="AUTOCOMMIT")
        return engine  # pysqlite opens no transaction for a SELECT anyway
    if engine.url.database in (None, "", ":memory:"):
        return engine  # a second engine would open another, empty, in-memory database
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "postgresql":
        options = f"-c statement_timeout={max(int(timeout * 1000), 1)}"
        reads = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"options": options})
        event.listen(reads, "checkout", _still_connected)
        return reads
    reads = make_engine(url)
    event.listen(reads, "connect", _sqlite_deadline)
    event.listen(reads, "before_cursor_execute", _sqlite_start(timeout))
    event.listen(reads, "checkin", _sqlite_no_deadline)
    return reads


# How often, in SQLite virtual-machine steps, the deadline is looked at: ~1 ms of work.
_SQLITE_STEPS = 10_000


def _sqlite_deadline(dbapi_connection: Any, record: Any) -> None:
    deadline = [float("inf")]
    record.info["deadline"] = deadline
    dbapi_connection.set_progress_handler(lambda: time.monotonic() > deadline[0], _SQLITE_STEPS)


def _sqlite_start(timeout: float) -> Any:
    def start(
        conn: Any, _cursor: Any, _statement: Any, _params: Any, _context: Any, _many: Any
    ) -> None:
        deadline = conn.info.get("deadline")
        if deadline is not None:
            deadline[0] = time.monotonic() + timeout

    return start


def _sqlite_no_deadline(_dbapi_connection: Any, record: Any) -> None:
    deadline = record.info.get("deadline")
    if deadline is not None:
        deadline[0] = float("inf")


def is_timeout(error: BaseException) -> bool:
    """A statement cut short by `reader`'s timeout (PostgreSQL 57014, SQLite interrupted)."""
    original = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(original, sqlite3.OperationalError):
        return str(original) == "interrupted"
    return getattr(original, "sqlstate", None) == "57014"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL so readers never wait for the writer; foreign keys on as in PostgreSQL."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: the default 2 MiB thrashes on bulk ingests
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def ensure_schema(engine: Engine, *, auto_upgrade: bool | None = None) -> None:
    """Bring the database to the code's revision, or say how.

    SQLite (one local file, one user) is upgraded on the spot; a shared PostgreSQL is only
    upgraded when it is empty, so several workers never race a migration.
    """
    current = current_revision(engine)
    if current == head_revision():
        return
    if auto_upgrade is None:
        auto_upgrade = engine.dialect.name == "sqlite" or current is None
    if not auto_upgrade:
        raise SchemaOutOfDate(
            f"the database is at migration {current}, this code needs {head_revision()}: "
            "run `caigou db upgrade` first"
        )
    upgrade(engine)
