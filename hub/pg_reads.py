"""PostgreSQL reads awaited on the event loop itself: the planned statements and the ETag's
data version.

A planned request is one statement the database answers in ~0.2 ms; carried through a
worker thread and SQLAlchemy's pooled connection it cost the hub more than that in the hop
(GIL hand-over, anyio's bookkeeping), the checkout and check-in, and the result wrapping.
psycopg's async connections wait for the database without holding the loop or any thread,
so the loop stays free (the rule: never block it) without a hop. Only statements the planner
built (texts compiled once, kept with the plan) and the version read come here; everything
else keeps SQLAlchemy's pool and the worker threads. SQLite has no such driver: it keeps the
threads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError

from schema.data_version import TABLE as DATA_VERSION
from schema.db import budgeted

log = logging.getLogger("caigou.http")

POOL_SIZE = 4  # per worker: statements of ~0.2 ms; more in flight wait their turn briefly
CONNECT_TIMEOUT = 5.0  # seconds to wait for a connection before the threads answer instead
STALL = 30.0  # seconds a read may take here when CAIGOU_QUERY_TIMEOUT sets no limit


class PgReads:
    """A small psycopg async pool per worker, opened on the loop that serves (lazily: the
    first request opens it; a call from another loop is declined and the caller falls back
    to its threaded path)."""

    def __init__(
        self, engine: Engine, timeout: float | None, on_timeout: Callable[[], None] | None = None
    ) -> None:
        self.on_timeout = on_timeout  # counts a statement cut short (the hub's metrics)
        url = engine.url.set(drivername="postgresql")
        self.conninfo = url.render_as_string(hide_password=False)
        ms = max(int(timeout * 1000), 1) if timeout and timeout > 0 else 0
        # Said after connecting, not as libpq `options`: those would replace the operator's
        # own (a search_path in the URL or PGOPTIONS), and the loop would read another schema.
        self.set_timeout = f"SET statement_timeout = {ms}"
        self.limit = ms / 1000  # 0: none
        # A bound of our own past the server's: a database that stops answering (a network
        # gone quiet) must not keep requests waiting here for ever.
        self.wait = (timeout if timeout and timeout > 0 else STALL) + 1.0
        self.pool: AsyncConnectionPool | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        compiled = select(DATA_VERSION.c.version).where(DATA_VERSION.c.id == 1).compile(
            dialect=engine.dialect, compile_kwargs={"literal_binds": True}
        )  # fmt: skip
        self.version_sql = str(compiled)
        self._pending: asyncio.Future[int] | None = None  # the next version read, not sent
        self._reading: asyncio.Lock | None = None

    def _ready(self) -> AsyncConnectionPool | None:
        loop = asyncio.get_running_loop()
        if self.pool is None:
            self.pool = AsyncConnectionPool(
                self.conninfo, min_size=1, max_size=POOL_SIZE, open=False, timeout=CONNECT_TIMEOUT,
                kwargs={"autocommit": True}, configure=self._configure, name="caigou-reads",
            )  # fmt: skip
            self.loop, self._reading = loop, asyncio.Lock()
        elif self.loop is not loop:
            return None
        return self.pool

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(self.set_timeout)

    async def _pool(self) -> AsyncConnectionPool | None:
        pool = self._ready()
        if pool is not None and pool.closed:
            try:
                await pool.open(wait=False)
            except psycopg.Error:  # closed at shutdown: a late request takes the threads
                return None
        return pool

    async def close(self) -> None:
        if self.pool is not None and self.loop is asyncio.get_running_loop():
            await self.pool.close()

    async def version(self) -> int | None:
        """The data version, read after the caller arrived. Callers that arrive while a read is
        in flight share the next one (its statement starts after they came, so it sees every
        write committed before them): at c=4 a read serves several requests. None: the
        pool cannot answer; the caller reads the version its own way. A read cut short by
        the query timeout raises its error (the caller's 503), not read a second time."""
        if await self._pool() is None or self._reading is None:
            return None
        if self._pending is None:
            self._pending = asyncio.get_running_loop().create_future()
        waiting = self._pending
        async with self._reading:
            if self._pending is waiting:  # nobody read it for us while we queued: read it
                self._pending = None
                try:
                    async with asyncio.timeout(self.wait):
                        waiting.set_result(await self._version())
                except BaseException as exc:  # every sharer falls back on its own
                    if not waiting.done():  # cancelled too: the sharers must not wait for ever
                        failed = exc if isinstance(exc, Exception) else ConnectionError(exc)
                        waiting.set_exception(failed)
                    if not isinstance(exc, Exception):
                        waiting.exception()  # retrieved: only sharers, if any, still await it
                        raise
        try:
            return await waiting
        except (TimeoutError, psycopg.Error, OSError) as exc:  # ConnectionError: an OSError
            log.warning("reading the data version on the loop failed (%r): read in a thread", exc)
            return None

    async def _version(self) -> int:
        pool = await self._pool()
        assert pool is not None
        async with pool.connection() as conn:
            try:
                row = await (await conn.execute(self.version_sql, prepare=True)).fetchone()
            except psycopg.errors.QueryCanceled as exc:  # the 503 the thread's read would give,
                raise self._cut(self.version_sql, {}, exc) from None  # without a second wait
        return int(row[0]) if row and row[0] is not None else 0

    def _cut(self, sql: str, params: dict[str, Any], exc: psycopg.Error) -> DBAPIError:
        """A statement cut short by the query timeout, counted, and wrapped as SQLAlchemy
        wraps it: one coding of timeouts (QUERY_TIMEOUT, the page's 503) for both paths."""
        if self.on_timeout is not None:
            self.on_timeout()
        error = DBAPIError.instance(sql, params, exc, psycopg.Error)
        if not isinstance(error, DBAPIError):
            raise exc
        return error

    async def scalars(
        self, statements: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[str | DBAPIError | None] | None:
        """Each statement's single cell (its JSON text); a statement cut short by the query
        timeout gives its error in its place, wrapped as SQLAlchemy wraps it (one coding of
        timeouts for both paths). None: the pool could not answer (no connection, a fault):
        the caller answers through the threads."""
        pool = await self._pool()
        if pool is None:
            return None
        out: list[str | DBAPIError | None] = []
        try:
            async with pool.connection() as conn:  # waits CONNECT_TIMEOUT at most
                for sql, params in statements:
                    try:  # each statement bounded on its own: none is cut and run twice
                        async with asyncio.timeout(self.wait):
                            row = await self._one(conn, sql, params)
                    except psycopg.errors.QueryCanceled as exc:
                        out.append(self._cut(sql, params, exc))
                        continue
                    out.append(None if row is None else row[0])
        except (TimeoutError, psycopg.Error, OSError) as exc:
            log.warning("a planned statement failed on the loop (%r): the threads answer", exc)
            return None
        return out

    async def _one(
        self, conn: psycopg.AsyncConnection[Any], sql: str, params: dict[str, Any]
    ) -> Any:
        """The statement's first row, within what is left of its request's budget
        (CAIGOU_REQUEST_TIMEOUT, as `schema.db` applies it on the threads' connections): a
        statement with less left than its own limit runs under a shorter one, said around it;
        the common case says nothing."""
        limit = budgeted(self.limit)
        if limit == self.limit:
            return await (await conn.execute(sql, params, prepare=True)).fetchone()
        await conn.execute(f"SET statement_timeout = {max(int(limit * 1000), 1)}")
        try:
            return await (await conn.execute(sql, params, prepare=True)).fetchone()
        finally:
            await conn.execute(self.set_timeout)

    async def rows(
        self, statements: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[list[tuple[Any, ...]]] | DBAPIError | None:
        """Each statement's rows, in one pipeline (one round trip for a search's kinds): a
        search's hydration, the outbox's lag. A statement cut short by the query timeout: its
        error, wrapped as SQLAlchemy wraps it. None: the pool could not answer."""
        pool = await self._pool()
        if pool is None:
            return None
        try:
            async with pool.connection() as conn, asyncio.timeout(self.wait):
                try:
                    if len(statements) == 1:
                        sql, params = statements[0]
                        cursor = await conn.execute(sql, params, prepare=True)
                        return [await cursor.fetchall()]
                    async with conn.pipeline():
                        cursors = [
                            await conn.execute(sql, params, prepare=True)
                            for sql, params in statements
                        ]  # fmt: skip
                        return [await cursor.fetchall() for cursor in cursors]
                except psycopg.errors.QueryCanceled as exc:
                    return self._cut(statements[0][0], statements[0][1], exc)
        except (TimeoutError, psycopg.Error, OSError) as exc:
            log.warning("a read on the loop failed (%r): the threads answer", exc)
            return None
