"""Engines for both dialects and the Alembic migrations that shape them."""

from __future__ import annotations

import select
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
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
        event.listen(engine, "connect", _sqlite_deadline)
        event.listen(engine, "before_cursor_execute", _sqlite_start)
        event.listen(engine, "checkin", _sqlite_no_deadline)
        return engine
    engine = create_engine(url)
    event.listen(engine, "checkout", _still_connected)
    event.listen(engine, "before_cursor_execute", _pg_timeout)
    event.listen(engine, "commit", _pg_committed)
    event.listen(engine, "rollback", _pg_rolled_back)
    event.listen(engine, "reset", _pg_reset)
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


TIMEOUT = "caigou_statement_timeout"  # execution option: seconds a statement may run
# When (time.monotonic()) the reads of the GraphQL request running in this context must end:
# thirty aliased root fields of 9 s each were 270 s of one worker, each statement within
# CAIGOU_QUERY_TIMEOUT. Set by the GraphQL view (CAIGOU_REQUEST_TIMEOUT), copied into the
# worker threads with the rest of the request's context; None elsewhere.
READS_UNTIL: ContextVar[float | None] = ContextVar("caigou_reads_until", default=None)


def reader(engine: Engine, timeout: float | None = None) -> Engine:
    """The engine for read-only requests: each statement cut short after `timeout` seconds.

    Same pool as `engine` (one set of connections, every listener), with an execution
    option that `make_engine`'s listeners turn into PostgreSQL's `statement_timeout` or a
    SQLite deadline; ingests and exports on `engine` carry none and are never cut short.
    On PostgreSQL its connections are in autocommit: a request's reads in a transaction
    cost a BEGIN and a ROLLBACK round trip besides its queries and see nothing more
    consistent, since under READ COMMITTED each statement takes its own snapshot anyway.
    """
    options: dict[str, Any] = {TIMEOUT: timeout if timeout and timeout > 0 else 0}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    return engine.execution_options(**options)


def _wanted(context: Any) -> float:
    """A read's limit: the statement's own, shortened to what is left of its request's
    budget; 0 (none) for a write, which carries no TIMEOUT option and is never cut short.
    A statement of a request near its end pays a SET on PostgreSQL (a new limit); one with
    the whole statement limit left, the common case, pays nothing."""
    options = context.execution_options if context is not None else {}
    if TIMEOUT not in options:
        return 0.0
    return budgeted(float(options[TIMEOUT] or 0))


def budgeted(limit: float) -> float:
    """A read statement's limit in seconds (0: none), shortened to what is left of its
    request's budget (READS_UNTIL), never below a millisecond: past the budget the database
    cuts the statement at once, as any statement past its limit. The threads' connections
    (`_wanted`) and the planner's loop reads (hub/pg_reads.py) both ask here."""
    until = READS_UNTIL.get()
    if until is None:
        return limit
    left = max(until - time.monotonic(), 0.001)
    return min(limit, left) if limit > 0 else left


_UNKNOWN = -1  # a rollback undid the last SET or RESET: say it again


def _pg_timeout(conn: Any, cursor: Any, _sql: Any, _params: Any, context: Any, _many: Any) -> None:
    """Set the session's `statement_timeout` when it must change, else no round trip.

    A connection serving requests keeps its setting; one moving between a request and a
    write (rare: the pool hands back the most recent) pays one SET or RESET. Said inside a
    transaction, it holds once committed; a rollback undoes it, so it is said again.
    """
    wanted = _wanted(context)
    ms = max(int(wanted * 1000), 1) if wanted > 0 else 0
    current = conn.info.get("statement_timeout")  # None: the session's own default
    if ms == current or (ms == 0 and current is None):
        return
    # On a client cursor of its own: the statement's may be a server-side (named) cursor,
    # which would wrap the SET in DECLARE … CURSOR FOR.
    with cursor.connection.cursor() as setter:
        setter.execute(f"SET statement_timeout = {ms}" if ms else "RESET statement_timeout")
    conn.info["statement_timeout"] = ms or None
    conn.info["timeout_in_transaction"] = not getattr(cursor.connection, "autocommit", True)


def _pg_committed(conn: Any) -> None:
    conn.info["timeout_in_transaction"] = False


def _pg_rolled_back(conn: Any) -> None:
    _pg_forget(conn.info)


def _pg_reset(_dbapi_connection: Any, record: Any, _state: Any = None) -> None:
    _pg_forget(record.info)


def _pg_forget(info: dict[str, Any]) -> None:
    if info.pop("timeout_in_transaction", False):
        info["statement_timeout"] = _UNKNOWN


# How often, in SQLite virtual-machine steps, the deadline is looked at: ~1 ms of work.
_SQLITE_STEPS = 10_000


def _sqlite_deadline(dbapi_connection: Any, record: Any) -> None:
    deadline = [float("inf")]
    record.info["deadline"] = deadline
    dbapi_connection.set_progress_handler(lambda: time.monotonic() > deadline[0], _SQLITE_STEPS)


def _sqlite_start(
    conn: Any, _cursor: Any, _sql: Any, _params: Any, context: Any, _many: Any
) -> None:
    """Each statement's deadline, from its engine's option (none for writes)."""
    deadline = conn.info.get("deadline")
    if deadline is not None:
        wanted = _wanted(context)
        deadline[0] = time.monotonic() + wanted if wanted > 0 else float("inf")


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
    cursor.execute(f"PRAGMA cache_size=-{READ_CACHE_KIB}")
    cursor.close()


# SQLite page cache per connection. Pooled connections (up to 15, each warming its own cache
# under load) keep a small one: at 64 MiB each the serving process grew by hundreds of MiB
# as its connections warmed (bench/load.py). A bulk write takes the large one while it runs:
# the default 2 MiB thrashes on bulk ingests.
READ_CACHE_KIB = 8 * 1024
WRITE_CACHE_KIB = 64 * 1024


@contextmanager
def bulk_cache(conn: Connection) -> Iterator[None]:
    """The large page cache for one bulk write on SQLite, the small one again after it."""
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.dbapi_connection  # a PRAGMA here opens no SQLAlchemy transaction
    assert raw is not None
    raw.execute(f"PRAGMA cache_size=-{WRITE_CACHE_KIB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size=-{READ_CACHE_KIB}")


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
