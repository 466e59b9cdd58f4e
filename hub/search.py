"""Which search backend serves `search`, and how the hub calls it without ever freezing.

Elasticsearch when configured, else SQLite FTS5 on SQLite, else none. `GuardedSearch` wraps
either: backend calls run in worker threads (SEARCH_THREADS for Elasticsearch, one per core for
the embedded index), never on the
event loop; a circuit breaker fails searches fast once the backend has failed several times
in a row; health is cached and refreshed in the background, so `/healthz` never waits on
Elasticsearch; and every result says how far the index is behind the outbox. On the embedded
index the serving process drains the outbox in a background thread (`indexer.catch_up`),
never inside a request.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from hub.config import Settings
from hub.pg_reads import PgReads
from hub.read.errors import BadInput
from indexer.breaker import CircuitBreaker, CircuitOpen
from indexer.catch_up import CatchUpThread
from indexer.search import (
    CursorMismatch,
    IndexLag,
    SearchBackend,
    SearchRequest,
    SearchResult,
    SearchUnavailable,
)
from schema.db import make_engine, reader
from schema.search_outbox import OUTBOX

SEARCH_THREADS = 8  # Elasticsearch calls running at once: mostly waiting on the network
# The embedded index works on this machine's cores: more threads than cores only slice the
# same CPU finer, and take it from the event loop that serves every other request.
EMBEDDED_THREADS = max(2, os.cpu_count() or 2)
# Searches running or queued for a thread; more are refused at once. Each GraphQL request
# holds a pooled database connection (15 by default) while its search waits: a hung backend
# must not take them all, or the next request's checkout would block the event loop.
MAX_IN_FLIGHT = 12
BUSY_WAIT = 0.25  # seconds a search past MAX_IN_FLIGHT waits for a slot before "busy"
HEALTH_TTL = 5.0  # seconds a health answer is reused
HEALTH_WAIT = 0.25  # seconds /healthz waits for a fresh one before reporting the last known
STALL = 30.0  # seconds a search on the loop may take when its backend sets no timeout
COUNT_TTL = 1.0  # seconds the outbox's pending count is reused while behind
# Seconds the loop's whole lag answer is reused: the page's "catching up" notice comes a
# second late at most, and a page costs no database read beside its search (on two cores
# that read ran while Elasticsearch answered, and slowed it).
LAG_TTL = 1.0
T = TypeVar("T")


WAITING = OUTBOX.c.parked_at.is_(None)
HEAD = select(OUTBOX.c.created_at).where(WAITING).order_by(OUTBOX.c.id).limit(1)  # built once
PENDING = select(func.count()).where(WAITING)
HEAD_SQL, PENDING_SQL = (
    str(q.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    for q in (HEAD, PENDING)
)  # for the loop's driver (hub/pg_reads.py)


class OutboxLag:
    """How far the index is behind: one indexed read of the outbox's head per search, and a
    count (a scan, ~50 ms at 250k waiting) at most once a second while behind."""

    def __init__(self, engine: Engine) -> None:
        # Two reads, no transaction: on PostgreSQL in autocommit, without the BEGIN and
        # ROLLBACK round trips (SQLite's engine also writes the catch-up: left as it is).
        if engine.dialect.name == "postgresql":
            engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.engine = engine
        self._count: tuple[float, int] = (0.0, 0)
        self._lock = threading.Lock()
        self._shown: tuple[float, IndexLag] | None = None  # the loop's last answer, and when

    def __call__(self) -> IndexLag:
        with self.engine.connect() as conn:
            head = conn.execute(HEAD).first()
            if head is None:
                return IndexLag(0, None)
            with self._lock:
                counted_at, pending = self._count
            if pending == 0 or time.monotonic() - counted_at > COUNT_TTL:
                pending = int(conn.execute(PENDING).scalar_one())
                with self._lock:
                    self._count = (time.monotonic(), pending)
        return IndexLag(max(pending, 1), head.created_at)

    async def aread(self, pg: PgReads) -> IndexLag | None:
        """The same reads awaited on the loop's PostgreSQL pool, or the answer read under
        LAG_TTL ago; None: the lag is unknown."""
        shown = self._shown
        if shown and time.monotonic() - shown[0] < LAG_TTL:
            return shown[1]
        lag = await self._aread(pg)
        if lag is not None:
            self._shown = (time.monotonic(), lag)
        return lag

    async def _aread(self, pg: PgReads) -> IndexLag | None:
        head = await pg.rows([(HEAD_SQL, {})])
        if head is None or isinstance(head, DBAPIError):
            return None
        if not head[0]:
            return IndexLag(0, None)
        counted_at, pending = self._count
        if pending == 0 or time.monotonic() - counted_at > COUNT_TTL:
            counted = await pg.rows([(PENDING_SQL, {})])
            if counted is None or isinstance(counted, DBAPIError):
                return None
            pending = int(counted[0][0][0])
            with self._lock:
                self._count = (time.monotonic(), pending)
        return IndexLag(max(pending, 1), head[0][0][0])


class GuardedSearch:
    """A `SearchBackend` for the hub: breaker-guarded, off the loop, with lag and cached health."""

    def __init__(
        self,
        backend: Any,
        side: Engine,
        *,
        breaker: CircuitBreaker | None = None,
        catch_up: Any = None,
        threads: int = SEARCH_THREADS,
        busy_wait: float = BUSY_WAIT,
        overlap_lag: bool = False,
    ) -> None:
        """`side`: an engine of its own for the lag and the catch-up, so their connections
        never come out of the requests' pool; `catch_up`: the index the hub drains into;
        `overlap_lag`: read the lag while the backend answers (a remote backend: the lag's
        round trip to the database, ~1 ms, then costs a search nothing)."""
        self.backend = backend  # the CLI's indexer commands write through it directly
        self.breaker = breaker or CircuitBreaker(counts=(SearchUnavailable,))
        self.side = side
        self.lag = OutboxLag(side)
        self.catch_up = CatchUpThread(catch_up) if catch_up is not None else None
        self.threads, self.busy_wait = threads, busy_wait
        self._lag_threads = ThreadPoolExecutor(MAX_IN_FLIGHT, "search-lag") if overlap_lag else None
        self._limiter: anyio.CapacityLimiter | None = None
        self._in_flight = 0
        self._health: tuple[float, dict[str, Any]] | None = None
        self._checking = threading.Lock()
        self.pg: PgReads | None = None  # PostgreSQL: the loop's pool (`loop_search`'s lag)

    # background work of the serving process

    def start(self) -> None:
        """The serving process's background work: the catch-up, a first health check."""
        if self.catch_up is not None:
            self.catch_up.start()
        self._check_health()

    async def aclose(self) -> None:
        """The loop's Elasticsearch connections closed (shutdown, on the loop that made them)."""
        close = getattr(self.backend, "aclose", None)
        if close is not None:
            await close()

    def stop(self) -> None:
        if self.catch_up is not None:
            self.catch_up.stop()
        if self._lag_threads is not None:
            self._lag_threads.shutdown(wait=False)
        self.side.dispose()

    # searching

    def search(self, request: SearchRequest) -> SearchResult:
        """Blocking: for threads and the command line. The hub awaits `asearch`."""
        return self._search_then(request, _nothing)[0]

    def _search_then(
        self, request: SearchRequest, then: Callable[[SearchResult], T]
    ) -> tuple[SearchResult, T]:
        """The search, then `then(result)` in the same thread while the lag read ends."""
        pending = self._lag_threads.submit(self._lag) if self._lag_threads else None
        try:
            result: SearchResult = self.breaker.call(lambda: self.backend.search(request))
        except CircuitOpen as exc:
            raise SearchUnavailable(f"search is unavailable: {exc}") from None
        except CursorMismatch as exc:  # GraphQL answers BAD_USER_INPUT, the pages a 400
            raise BadInput(f"`after`: {exc}") from None
        after = then(result)
        return replace(result, lag=pending.result() if pending else self._lag()), after

    def _lag(self) -> IndexLag | None:
        try:
            return self.lag()
        except SQLAlchemyError:  # the database busy: the hits still stand, the lag is unknown
            return None

    async def asearch(self, request: SearchRequest) -> SearchResult:
        """`search` in a worker thread: a slow backend holds a thread, never the event loop."""
        return (await self.asearch_then(request, _nothing))[0]

    async def asearch_then(
        self, request: SearchRequest, then: Callable[[SearchResult], T]
    ) -> tuple[SearchResult, T]:
        """`asearch`, and `then(result)` (blocking: the page's hydration) in the same worker
        thread, not a second hop: each hop costs the loop and the request ~0.1 ms."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        refused = self.breaker.refusal()  # at once, not after a wait for a thread
        if refused is not None:
            raise SearchUnavailable(f"search is unavailable: {refused}")
        if self._in_flight >= MAX_IN_FLIGHT:
            await self._slot()
        self._in_flight += 1  # only ever changed on the event loop: no lock
        try:
            return await anyio.to_thread.run_sync(
                self._search_then, request, then, limiter=self._limiter
            )
        finally:
            self._in_flight -= 1

    @property
    def on_loop(self) -> bool:
        """Whether searches are awaited on the event loop (`loop_search`): Elasticsearch over
        indexer.es_loop, PostgreSQL with the loop's pool for the records and the lag. The
        embedded index works in-process: it keeps the threads."""
        return self.pg is not None and hasattr(self.backend, "asearch")

    async def loop_search(self, request: SearchRequest, *, lag: bool = False) -> SearchResult:
        """`asearch` on the event loop: no worker thread, under the same breaker, in-flight
        limit and timeout. `lag`: the outbox's lag read beside it on the loop's pool, or the
        one read under LAG_TTL ago (the page shows it; the planner never does)."""
        refused = self.breaker.refusal()
        if refused is not None:
            raise SearchUnavailable(f"search is unavailable: {refused}")
        if self._in_flight >= MAX_IN_FLIGHT:
            await self._slot()
        self._in_flight += 1
        pending = asyncio.ensure_future(self.lag.aread(self.pg)) if lag and self.pg else None
        try:
            result = await self._guarded(request)
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        finally:
            self._in_flight -= 1
        return replace(result, lag=await pending) if pending is not None else result

    async def _guarded(self, request: SearchRequest) -> SearchResult:
        try:
            return await self.breaker.acall(lambda: self._bounded(request))
        except CircuitOpen as exc:
            raise SearchUnavailable(f"search is unavailable: {exc}") from None
        except CursorMismatch as exc:
            raise BadInput(f"`after`: {exc}") from None

    async def _bounded(self, request: SearchRequest) -> SearchResult:
        """The client's own timeout bounds each call; this bounds the whole search (a PIT
        opened, then the search) by a little more, as a stuck connection must not hold it."""
        limit = getattr(self.backend, "search_timeout", None) or STALL
        try:
            async with asyncio.timeout(2 * limit + 1.0):
                result: SearchResult = await self.backend.asearch(request)
                return result
        except TimeoutError:
            raise SearchUnavailable(f"the search backend did not answer within {limit} s") from None

    async def _slot(self) -> None:
        """Wait up to `busy_wait` for a search to finish, then refuse as busy.

        A burst of ordinary searches frees a slot within tens of milliseconds; a hung
        Elasticsearch frees none, and the refusal still comes long before the search timeout.
        The embedded index cannot hang (its reads have the query deadline): a search waits
        for it as long as for an answer, the search timeout.
        """
        deadline = time.monotonic() + self.busy_wait
        while self._in_flight >= MAX_IN_FLIGHT:
            if time.monotonic() >= deadline:
                raise SearchUnavailable(
                    f"search is busy: {MAX_IN_FLIGHT} searches are waiting for the search backend"
                )
            await anyio.sleep(0.01)

    # health

    def health(self) -> dict[str, Any]:
        """Blocking and fresh: for the command line."""
        return _health(self.backend)

    async def ahealth(self) -> dict[str, Any]:
        """Cached; refreshed in a thread of its own, awaited for HEALTH_WAIT at most."""
        cached = self._health
        if cached is not None and time.monotonic() - cached[0] < HEALTH_TTL:
            return cached[1]
        if self.breaker.state == "open":
            return {"status": "unavailable", "circuit": "open", "error": self.breaker.last_error}
        if not self._check_health():  # a check is under way: never wait for it twice
            return _last_known(cached)
        deadline = time.monotonic() + HEALTH_WAIT
        while time.monotonic() < deadline and self._health is cached:
            await anyio.sleep(0.01)
        if self._health is not cached and self._health is not None:
            return self._health[1]
        return _last_known(cached)

    def _check_health(self) -> bool:
        """Start a health check in a thread of its own, unless one is under way."""
        if not self._checking.acquire(blocking=False):
            return False
        threading.Thread(target=self._refresh, name="search-health", daemon=True).start()
        return True

    def _refresh(self) -> None:
        try:
            self._health = (time.monotonic(), _health(self.backend))
        finally:
            self._checking.release()


def _nothing(_result: SearchResult) -> None:
    return None


def _last_known(cached: tuple[float, dict[str, Any]] | None) -> dict[str, Any]:
    if cached is not None:
        return {**cached[1], "stale": True}
    return {"status": "unknown", "error": f"no answer within {HEALTH_WAIT} s"}


def _health(backend: Any) -> dict[str, Any]:
    try:
        return dict(backend.health())
    except Exception as exc:
        return {"status": "unavailable", "error": str(exc)}


def search_backend(settings: Settings, engine: Engine) -> GuardedSearch | None:
    """The configured backend, guarded; `.backend` is the bare one (indexer commands)."""
    backend: SearchBackend
    breaker = CircuitBreaker(
        settings.search_failures, settings.search_cool_down, counts=(SearchUnavailable,)
    )
    if not settings.elasticsearch_url and engine.dialect.name != "sqlite":
        return None
    side = engine
    if engine.url.database not in (None, "", ":memory:"):  # one in-memory database is one engine
        side = make_engine(engine.url.render_as_string(hide_password=False))
    if settings.elasticsearch_url:
        from indexer.elastic import ElasticBackend

        backend = ElasticBackend(
            settings.elasticsearch_url, prefix=settings.index_prefix,
            search_timeout=settings.search_timeout,
        )  # fmt: skip
        return GuardedSearch(backend, side, breaker=breaker, overlap_lag=True)
    from indexer.embedded import EmbeddedBackend

    # Searches read through `side` too: a search holding a request's pooled connection while
    # taking a second one would let a dozen searches empty the pool under every other request.
    return GuardedSearch(
        EmbeddedBackend(side, reader(side, settings.query_timeout)), side, breaker=breaker,
        catch_up=EmbeddedBackend(side),
        threads=EMBEDDED_THREADS, busy_wait=settings.search_timeout,
    )  # fmt: skip
