"""The Starlette application: /graphql (with ETags on GET), /healthz, /metrics."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import gc
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
import orjson
from graphql import GraphQLError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData

from hub.config import Settings
from hub.downloads import routes as download_routes
from hub.edge import middleware
from hub.edge.errors import body_for
from hub.extension_routes import extension_routes
from hub.graphql.context import Context, SearchFailed, SearchHere
from hub.graphql.errors import HubErrors
from hub.graphql.limits import MAX_QUERY_BYTES, checked, return_freed_memory
from hub.graphql.schema import schema
from hub.pg_reads import PgReads
from hub.publishing import PublisherError
from hub.publishing.publishers import authenticate
from hub.read.plan.roots import Compiled
from hub.read.plan.run import (
    FALLBACK,
    PLANNED,
    Executed,
    Planner,
    Prepared,
    assemble,
    execute,
)
from hub.read.search import driver_statements, records
from hub.read.search_plan import SearchPlan
from hub.search import search_backend
from hub.web import routes as web_routes
from hub.web.graphiql import ide_page
from indexer.search import SearchUnavailable
from schema.data_version import current_data_version
from schema.db import (
    READS_UNTIL,
    current_revision,
    ensure_schema,
    is_timeout,
    make_engine,
    reader,
)

if TYPE_CHECKING:  # checked against the strawberry installed, which has cross_web
    from cross_web import HTTPException
else:
    try:  # strawberry's own HTTP errors (a 400 with its message) live in cross_web since 0.3xx
        from cross_web import HTTPException
    except ImportError:  # pragma: no cover - older strawberry
        from strawberry.http.exceptions import HTTPException

log = logging.getLogger("caigou.http")
T = TypeVar("T")
JSON_NAMES = {int: "a number", float: "a number", str: "a string", bool: "true or false",
              type(None): "null"}  # fmt: skip


def data_version(conn: Connection) -> str:
    """The counter every write bumps in its own transaction (`schema.data_version`): ingests,
    publishers added, rotated or revoked, flags rebuilt. An ETag built on it stays valid
    until the next write of any kind."""
    return str(current_data_version(conn))


MAX_OPERATION_LABELS = 200


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "caigou_graphql_requests", "GraphQL requests by operation and outcome.",
            ["operation", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "caigou_graphql_seconds", "GraphQL request latency by operation.", ["operation"],
            registry=self.registry,
        )  # fmt: skip
        self.version = Gauge(
            "caigou_data_version",
            "Writes so far (the ETag's data version).",
            registry=self.registry,
        )
        self.plan = Counter(
            "caigou_graphql_plan", "GraphQL requests by path: planned, partial or fallback.",
            ["outcome"], registry=self.registry,
        )  # fmt: skip
        self.timeouts = Counter(
            "caigou_statement_timeouts", "Read statements cut short by CAIGOU_QUERY_TIMEOUT "
            "(GraphQL and pages; each counted once, where the database cut it).",
            registry=self.registry,
        )  # fmt: skip
        self.worker = Gauge(
            "caigou_worker_pid", "The id of the worker process that answered (one of "
            "`caigou serve --workers`): each worker counts its own requests.",
            registry=self.registry,
        )  # fmt: skip
        self.worker.set(os.getpid())
        self.operations: set[str] = set()
        self.push_backlog = Gauge(
            "caigou_push_backlog", "Changes not yet acknowledged by each upstream (联网推送).",
            ["upstream"], registry=self.registry,
        )  # fmt: skip
        self.push_parked = Gauge(
            "caigou_push_parked", "Records each upstream refused, parked for retry-parked.",
            ["upstream"], registry=self.registry,
        )  # fmt: skip

    def read_push(self, conn: Any) -> None:
        """The pusher's gauges from the database: any process may be the one pushing."""
        from hub.federation.status import statuses

        self.push_backlog.clear()
        self.push_parked.clear()
        for row in statuses(conn):
            self.push_backlog.labels(row.name).set(row.backlog)
            self.push_parked.labels(row.name).set(row.parked)

    def label(self, operation: str) -> str:
        """The operation name as a metric label: clients choose names, so past the first
        MAX_OPERATION_LABELS distinct ones they share `other` (each label is a series kept
        for the life of the process)."""
        if operation in self.operations:
            return operation
        if len(self.operations) < MAX_OPERATION_LABELS:
            self.operations.add(operation)
            return operation
        return "other"


class HubGraphQL(GraphQL[Context, None]):
    """strawberry's ASGI view with a connection per request and ETag revalidation on GET.

    The operation itself runs in a worker thread (`execute_single`): its resolvers read
    through a blocking connection, and on the event loop one slow aggregate held up every
    other request, /healthz included.
    """

    def __init__(
        self, engine: Engine, reads: Engine, metrics: Metrics, search: Any = None,
        max_query_bytes: int = MAX_QUERY_BYTES, planner: bool = True, pg: PgReads | None = None,
        request_timeout: float = 0,
    ) -> None:  # fmt: skip
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self.request_timeout = request_timeout  # CAIGOU_REQUEST_TIMEOUT: a request's reads
        self.pg = pg  # PostgreSQL: planned statements and the ETag's version on the loop
        self.engine = engine  # mutations write through it, each in its own transaction
        self.reads = reads  # the request's connection: `reader(engine, CAIGOU_QUERY_TIMEOUT)`
        self.metrics = metrics
        self.search = SearchHere(search) if search is not None else None
        self.max_query_bytes = max_query_bytes
        self.planner = Planner(schema) if planner else None  # CAIGOU_PLANNER
        # Operations running at once: each holds one pooled connection, so no more threads
        # than connections (more would only wait for a checkout).
        self.threads = pool_capacity(engine)
        self._limiter: anyio.CapacityLimiter | None = None
        return_freed_memory()  # request bodies up to the size cap, freed for good

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """The worker threads GraphQL work may hold: planned statements take theirs here too
        (`anyio.to_thread.run_sync(..., limiter=view.limiter)`)."""
        if self._limiter is None:  # made on the event loop, at the first request
            self._limiter = anyio.CapacityLimiter(self.threads)
        return self._limiter

    async def execute_single(
        self, request: Any, request_adapter: Any, sub_response: Any, context: Context,
        root_value: Any, request_data: Any,
    ) -> Any:  # fmt: skip
        """The operation, parsed, validated, limited and executed in a worker thread.

        Measured against the alternatives (PostgreSQL, one worker; the hop's own cost in
        isolation): the whole operation in one hop to a thread with an event loop of its own
        costs ~75 µs of CPU per request; a fresh loop per request (`asyncio.run`) ~150 µs;
        a hop per resolver or per DataLoader batch ~60 µs each, several per page, and every
        batch function would need rewriting; async drivers would rewrite every query. With
        one hop strawberry, its DataLoaders and its error masking stay as they are. On the
        50k-transaction demo (PostgreSQL, one worker, runs alternated): shape a's CPU per
        request 8.48 and 8.28 ms against 8.26 and 8.56 ms on the loop, 304s 0.50-0.54 ms
        either way; shape c (DB-bound) from c=1 to c=4 went 195 → 239 and 232 → 308 req/s
        where on the loop it stayed flat (237 → 236, 199 → 206).

        The planner (`execute_operation`) runs the statements it compiled in a worker thread
        under the same limiter; the root fields it declines come back through here.
        """
        execute = super().execute_single
        return await self.off_loop(
            execute, request, request_adapter, sub_response, context, root_value, request_data
        )

    async def off_loop(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """`await function(*args)` in a worker thread, on that thread's own event loop."""
        return await anyio.to_thread.run_sync(in_thread_loop, function, *args, limiter=self.limiter)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        # The whole body first, then a pooled connection: a client that sends its body slowly
        # (the edge bounds how slowly) must not hold one of the pool's few connections.
        receive, body = await _buffered(receive)
        # The reads' budget runs from here: a slow upload (up to CAIGOU_BODY_TIMEOUT) is not
        # the reads' time.
        budget = (
            READS_UNTIL.set(time.monotonic() + self.request_timeout)
            if self.request_timeout
            else None
        )
        try:
            await self._serve(scope, receive, body, send, started)
        finally:
            if budget is not None:
                READS_UNTIL.reset(budget)

    async def _serve(
        self, scope: Scope, receive: Receive, body: bytes, send: Send, started: float
    ) -> None:
        state = scope.setdefault("state", {})
        size = len(body)
        etag = await self._loop_etag(scope)
        asked = _fast_request(scope, body) if self.planner is not None else None
        if etag and etag in _if_none_match(scope):
            await _not_modified(send, etag, state)
        elif asked and (answer := await self._fast_loop(scope, asked, state)) is not None:
            await _send_json(send, answer, state)
        else:
            with await _connect(self.reads) as conn:
                state["conn"] = conn
                if etag is None and scope["method"] == "GET" and scope.get("query_string"):
                    # One primary-key read, but a read: a migration or VACUUM FULL holding
                    # data_version's lock must not hold the loop (a GET froze every request).
                    etag = await anyio.to_thread.run_sync(self._etag, scope, conn)
                if etag and etag in _if_none_match(scope):
                    await _not_modified(send, etag, state)
                elif asked and (answer := await self._fast(scope, asked, conn, state)) is not None:
                    await _send_json(_with_etag(send, etag, state), answer, state)
                else:
                    await super().__call__(scope, receive, _with_etag(send, etag, state))
        if size > LARGE_BODY:
            # A refused query's text is held by a cycle (error -> traceback -> frame ->
            # context); the young generation holds it, collected now rather than after
            # 10,000 more allocations, with megabytes each.
            gc.collect(0)
        operation = str(state.get("operation") or "anonymous")[:100]
        label = self.metrics.label(operation)
        elapsed = time.perf_counter() - started
        self.metrics.requests.labels(label, state.get("outcome", "ok")).inc()
        self.metrics.latency.labels(label).observe(elapsed)
        log.info(json.dumps({
            "method": scope["method"], "path": scope["path"], "operation": operation,
            "outcome": state.get("outcome", "ok"), "status": state.get("status"),
            "nodes": state.get("nodes"), "ms": round(elapsed * 1000, 2),
            "request_id": state.get("request_id"),
        }, ensure_ascii=False))  # fmt: skip

    def _etag(self, scope: Scope, conn: Connection) -> str | None:
        if scope["method"] != "GET" or not scope.get("query_string"):
            return None
        return _etag_of(data_version(conn), scope)

    async def _loop_etag(self, scope: Scope) -> str | None:
        """A GET's ETag from the version read on the loop (PostgreSQL, hub/pg_reads.py): a
        304 then needs no thread and no pooled connection. A lock held on the version's
        table (a migration, VACUUM FULL) makes it wait without holding the loop. None: not a
        GET with a query, or the version is read in a thread (SQLite, the pool failing)."""
        if self.pg is None or scope["method"] != "GET" or not scope.get("query_string"):
            return None
        version = await self.pg.version()
        return None if version is None else _etag_of(str(version), scope)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from the hub's own static files (hub/web/graphiql.py), never a CDN."""
        return ide_page()

    # orjson: a page of 100 rows is ~40 kB of JSON; the standard library took ~1 ms of it.
    def encode_json(self, data: object) -> bytes:
        if isinstance(data, Planned):
            return data.body
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        parsed = _PARSED.get()
        if parsed is not None and parsed[0] == data:  # memcmp: µs against ms of parsing
            return parsed[1]
        return orjson.loads(data)  # JSON that is no object or list: parse_json's 400

    def parse_json(self, data: str | bytes) -> Any:
        """A body or `variables` that is JSON but not an object is the caller's fault: 400."""
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, 'GraphQL takes a JSON object {"query": "…", "variables": '
                                f"{{…}}}}, not {JSON_NAMES.get(type(parsed), 'that')}")  # fmt: skip
        return parsed

    async def process_result(self, request: Request, result: Any) -> Any:
        """An answer with errors names the request id (so does the request's log line).

        It goes in the response's top-level `extensions`, leaving each error as the schema's
        error handling made it (a masked error carries nothing more than its message).
        """
        if isinstance(result, Planned):
            return result
        data = await super().process_result(request, result)
        request_id = request.scope.get("state", {}).get("request_id")
        if data.get("errors") and request_id:
            extensions = data.get("extensions") or {}
            extensions["request_id"] = request_id
            data["extensions"] = extensions
        return data

    # The planner (hub/read/plan): after the same limits and validation, each root field it
    # covers is one SQL statement building its JSON, run in a worker thread on the request's
    # connection; the rest goes to strawberry as a narrowed query, spliced in root order.
    async def execute_operation(
        self, request: Request, request_adapter: Any, request_data: Any, context: Context,
        root_value: Any, sub_response: Any,
    ) -> Any:  # fmt: skip
        args = (request, request_adapter, request_data, context, root_value, sub_response)
        try:
            answer = await self._planned(*args) if self.planner is not None else None
        except Exception:  # the planner's fault: logged, and the resolvers answer
            log.exception("the planner failed; the resolvers answer")
            answer = None
        if answer is None:
            sub_response.headers["x-caigou-plan"] = FALLBACK
            self.metrics.plan.labels(FALLBACK).inc()
            return await super().execute_operation(*args)
        return answer

    def _plan(
        self, planner: Planner, query: str, variables: Any, name: str | None, dialect: Any,
        whole: bool,
    ) -> Prepared | None:  # fmt: skip
        """Checks and plan (in a worker thread: a new query's checks and plan cost ~0.1 s of
        CPU for 25 aliases, which on the loop delayed /healthz). `whole` (`_fast`, past
        strawberry): only a plan whose every root field is a statement."""
        found = checked(schema, query, variables, self.max_query_bytes)
        if found is None:
            return None
        prepared = planner.prepare(found[0], query, name, variables, dialect.name)
        if prepared.outcome == FALLBACK:
            return None
        if whole and (
            prepared.outcome != PLANNED
            or not all(isinstance(c, Compiled | SearchPlan) for c in prepared.compiled.values())
        ):
            return None
        prepared.checked = found[1]
        if whole and dialect.name == "postgresql":
            planner.with_texts(prepared, query, name, variables, dialect)
        return prepared

    def _plan_and_run(
        self, planner: Planner, conn: Connection, query: str, variables: Any, name: str | None,
        search: Any, whole: bool,
    ) -> tuple[Prepared, int | None, Executed] | None:  # fmt: skip
        """`_plan`, then the statements, all in one worker thread."""
        prepared = self._plan(planner, query, variables, name, conn.dialect, whole)
        if prepared is None:
            return None
        try:
            return prepared, prepared.checked, execute(conn, prepared, search)
        except Exception:  # a fault: the resolvers answer it (and report it)
            log.warning("a planned statement failed; the resolvers answer", exc_info=True)
            conn.rollback()
            return None

    async def _fast_loop(
        self, scope: Scope, asked: tuple[str, Any, str | None], state: dict[str, Any]
    ) -> bytes | None:
        """`_fast` on PostgreSQL without a thread or a pooled SQLAlchemy connection, for a
        request seen before (same text, operation and variables): checked and planned then,
        its statements are awaited on the loop (hub/pg_reads.py), a search's hits from
        Elasticsearch on the loop (`GuardedSearch.loop_search`) and its records from the
        same pool. A request not seen, or not planned whole (a mutation, a partial plan),
        goes on to `_fast` and the view
        with no extra hop: `_fast` keeps what this needs for next time."""
        planner, pg = self.planner, self.pg
        if planner is None or pg is None:
            return None
        query, variables, name = asked
        prepared = planner.kept(query, name, variables, "postgresql")
        if prepared is None or not prepared.texts:
            return None
        plain = [statement for statement in prepared.texts if statement is not None]
        searched = len(plain) < len(prepared.texts)
        if searched and (self.search is None or not self.search.guarded.on_loop):
            return None  # no search, or one that works in-process: the threads answer
        cells = await pg.scalars(plain) if plain else []
        if cells is None:
            return None
        done = Executed()
        answers = iter(cells)
        for key, statement in zip(prepared.compiled, prepared.texts, strict=True):
            cell: str | bytes | DBAPIError | None
            if statement is None:
                plan = prepared.compiled[key]
                assert isinstance(plan, SearchPlan)
                cell = await self._loop_search(plan, pg, state)
                if cell is None:
                    return None
            else:
                cell = next(answers)
            if isinstance(cell, DBAPIError):
                done.timed_out[key], done.answers[key] = cell, b"null"
            elif isinstance(cell, bytes):
                done.answers[key] = cell
            else:
                done.answers[key] = b"null" if cell is None else cell.encode()
        return self._answered(scope, state, name, prepared, prepared.checked, done)

    async def _loop_search(
        self, plan: SearchPlan, pg: PgReads, state: dict[str, Any]
    ) -> bytes | DBAPIError | None:
        """A planned search on the loop: its hits awaited from Elasticsearch, its records
        from the loop's PostgreSQL pool. None: the threads and the view answer (a backend
        that failed is kept in `search_failed`: the resolver reports it, untried)."""
        assert self.search is not None
        try:
            result = await self.search.guarded.loop_search(plan.request)
        except SearchUnavailable as error:
            state["search_failed"] = error
            return None
        except Exception:  # a foreign cursor, a fault: the resolvers answer (and report it)
            return None
        jobs = plan.hydration(self.engine.dialect, result)
        rows = await pg.rows(driver_statements(jobs)) if jobs else []
        if rows is None or isinstance(rows, DBAPIError):
            return rows
        return plan.write(result, records(jobs, rows, raw=True))

    def _answered(
        self, scope: Scope, state: dict[str, Any], name: str | None, prepared: Prepared,
        nodes: int | None, done: Executed,
    ) -> bytes:  # fmt: skip
        """A whole plan's answer (`_fast`, `_fast_loop`), counted and logged as planned."""
        state["operation"], state["nodes"] = name or prepared.operation, nodes
        self.metrics.plan.labels(PLANNED).inc()
        if not done.timed_out:
            return assemble(prepared, done.answers)
        asking = SimpleNamespace(request=Request(scope))  # what the timeout's log line reads
        return self._with_timeouts(prepared, done, asking, state.get("request_id"))

    async def _fast(
        self, scope: Scope, asked: tuple[str, Any, str | None], conn: Connection,
        state: dict[str, Any],
    ) -> bytes | None:  # fmt: skip
        """A POST the planner answers whole, from its body to its bytes, past strawberry's
        view (request adapter, context, result processing: most of the hub's 1.9 ms of CPU
        on bench shape b, where the planned statement takes 0.15 ms). GETs (ETags), partial
        plans and timeouts take the view, as does anything unusual in the body: then
        strawberry gives its own answer or error. A search whose backend failed takes the
        view too, its failure kept (`search_failed`) so the resolver reports it untried."""
        planner = self.planner
        if planner is None or "search_failed" in state:  # tried on the loop: the view reports
            return None
        query, variables, name = asked

        ran = await anyio.to_thread.run_sync(
            self._plan_and_run, planner, conn, query, variables, name, self.search, True,
            limiter=self.limiter,
        )  # fmt: skip
        if ran is None:
            return None
        prepared, nodes, done = ran
        if done.failed:
            state["search_failed"] = next(iter(done.failed.values()))
            return None
        return self._answered(scope, state, name, prepared, nodes, done)

    async def _planned(
        self, request: Request, request_adapter: Any, request_data: Any, context: Context,
        root_value: Any, sub_response: Any,
    ) -> Planned | None:  # fmt: skip
        if not isinstance(request_data, GraphQLRequestData) or request_data.protocol != "http":
            return None
        planner, conn, name = self.planner, context.conn, request_data.operation_name
        if planner is None:
            return None
        query, variables = request_data.query or "", request_data.variables

        ran = await anyio.to_thread.run_sync(
            self._plan_and_run,
            planner,
            conn,
            query,
            variables,
            name,
            context.search,
            False,
            limiter=self.limiter,
        )
        if ran is None:
            return None
        prepared, nodes, done = ran
        request.state.operation, request.state.nodes = name or prepared.operation, nodes
        if done.failed:  # the search backend failed: its resolver reports that failure
            if context.search is not None:
                context.search = SearchFailed(context.search, next(iter(done.failed.values())))
            narrowed_plan = planner.without(prepared, done.failed)
            if narrowed_plan is None:
                return None
            prepared = narrowed_plan
        request_id = request.scope.get("state", {}).get("request_id")
        if prepared.narrowed is None or (done.timed_out and done.null_data(prepared)):
            answer = self._with_timeouts(prepared, done, context, request_id)
        else:
            narrowed = dataclasses.replace(request_data, query=prepared.narrowed)
            result = await self.execute_single(
                request, request_adapter, sub_response, context, root_value, narrowed
            )
            fallback = await self.process_result(request, result)
            answer = self._with_timeouts(prepared, done, context, request_id, fallback)
        sub_response.headers["x-caigou-plan"] = prepared.outcome
        self.metrics.plan.labels(prepared.outcome).inc()
        return Planned(answer)

    def _with_timeouts(
        self, prepared: Prepared, done: Executed, context: Any, request_id: Any,
        fallback: Any = None,
    ) -> bytes:  # fmt: skip
        """The planned answer, with the errors of fields cut short by the query timeout (a
        non-null one among them: `data` is null, as graphql-core makes it)."""
        errors = self._timeouts(prepared, done, context)
        extensions = {"request_id": request_id} if errors and request_id else None
        if errors and done.null_data(prepared):
            body = {
                "data": None,
                "errors": errors,
                **({"extensions": extensions} if extensions else {}),
            }
            return orjson.dumps(body)
        return assemble(prepared, done.answers, fallback, errors, extensions)

    def _timeouts(self, prepared: Prepared, done: Executed, context: Any) -> list[dict[str, Any]]:
        """The errors of planned fields cut short by CAIGOU_QUERY_TIMEOUT, as the resolvers
        give them: the same logging (`schema.process_errors`), coding and masking (HubErrors)."""
        raw = [
            GraphQLError(str(error), nodes=[prepared.nodes[key]], path=[key], original_error=error)
            for key, error in done.timed_out.items()
        ]
        if not raw:
            return []
        schema.process_errors(raw)
        handler = HubErrors()
        # What its one-line timeout log names: the operation and this hub's limit.
        handler.execution_context = SimpleNamespace(  # type: ignore[assignment]
            operation_name=prepared.operation, context=context
        )
        return [dict(error.formatted) for error in handler._process_errors(raw)]

    async def parse_http_body(self, request: Any) -> Any:
        kind = (request.content_type or "").split(";")[0].strip().lower()
        if request.method == "POST" and kind != "application/json":
            raise HTTPException(400, "POST /graphql takes Content-Type: application/json, "
                                f"not {kind or 'none'!r}")  # fmt: skip
        return await super().parse_http_body(request)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        # `search` is `SearchHere`: the operation will run in a worker thread
        search: Any = self.search
        failed = request.scope.get("state", {}).get("search_failed")
        if failed is not None and search is not None:  # `_fast` tried it: report, not retry
            search = SearchFailed(search, failed)
        return Context(
            request=request, engine=self.engine, conn=request.state.conn, response=response,
            search=search, max_query_bytes=self.max_query_bytes,
        )  # fmt: skip


class Planned:
    """A planned answer's bytes, passed through strawberry's response untouched."""

    errors = None

    def __init__(self, body: bytes) -> None:
        self.body = body


LARGE_BODY = 1 << 20


def pool_capacity(engine: Engine) -> int:
    """Connections the engine's pool hands out at most (QueuePool: size + overflow)."""
    pool = engine.pool
    size, overflow = getattr(pool, "size", None), getattr(pool, "_max_overflow", 0)
    return max(1, (size() if callable(size) else 1) + max(int(overflow), 0))


class _OwnLoop:
    """A worker thread's own event loop, made at its first operation and kept.

    strawberry's execution is async (its DataLoaders batch on an event loop), and its
    resolvers block on the database: run on the serving loop, they held it for the whole
    operation. On a loop of the worker thread's own they block only that thread. A loop per
    thread, kept while anyio keeps the thread (10 s idle), not one per request: a new loop
    made and closed per request doubled the hop's CPU (~150 µs against ~75 µs).
    """

    def __init__(self) -> None:
        self.runner = asyncio.Runner()

    def __del__(self) -> None:
        """Closed when dropped: at its thread's end, or by the cyclic collector on whichever
        thread it runs, perhaps one whose loop is running (the server's). There no loop may
        run: `runner.close()` would fail and leave its `shutdown_asyncgens()` un-awaited (a
        warning on stderr), so the loop is closed without those steps, which it never needs
        (no async generator or executor of its own outlives an operation)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.runner.close()
            return
        self.runner.get_loop().close()


_LOOPS = threading.local()


def in_thread_loop(function: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run `function(*args)` to completion on this (worker) thread's event loop, in the
    caller's context (anyio copies it into the thread: the request id stays on log lines)."""
    own: _OwnLoop | None = getattr(_LOOPS, "own", None)
    if own is None:
        own = _LOOPS.own = _OwnLoop()
    coroutine = function(*args)
    return own.runner.run(coroutine, context=contextvars.copy_context())  # type: ignore[arg-type]


def _count_timeout(metrics: Metrics, context: Any) -> None:
    if is_timeout(context.original_exception):
        metrics.timeouts.inc()


def _etag_of(version: str, scope: Scope) -> str:
    """The data version and the query string, hashed: weak, since the bytes are not compared."""
    digest = hashlib.sha256(version.encode() + b"\0" + scope["query_string"]).hexdigest()
    return f'W/"{digest[:32]}"'


async def _not_modified(send: Send, etag: str, state: dict[str, Any]) -> None:
    if state.get("conn") is not None:
        state["conn"].close()
    state["outcome"], state["status"] = "not_modified", 304
    await send(
        {"type": "http.response.start", "status": 304, "headers": [(b"etag", etag.encode())]}
    )
    await send({"type": "http.response.body", "body": b""})


def _if_none_match(scope: Scope) -> set[str]:
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            return {v.strip() for v in value.decode().split(",")}
    return set()


async def _connect(engine: Engine) -> Connection:
    """A pooled connection; when none is idle, waited for in a worker thread.

    Checkout blocks while the pool is exhausted (publishes waiting for the writer lock,
    searches waiting for the backend each hold one): on the event loop that wait froze
    every other request, /healthz included.
    """
    pool = engine.pool
    if getattr(pool, "checkedin", lambda: 1)() > 0:
        return engine.connect()
    return await anyio.to_thread.run_sync(engine.connect)


# The body `_fast_request` parsed, for strawberry's view when the fast path passes the
# request on: a publish of 500 records is ~0.5 MB of JSON, parsed once, not twice. Each
# request runs in a task of its own, so the value never outlives its request.
_PARSED: contextvars.ContextVar[tuple[bytes, Any] | None] = contextvars.ContextVar(
    "parsed_body", default=None
)


def _fast_request(scope: Scope, body: bytes) -> tuple[str, Any, str | None] | None:
    """(query, variables, operation name) of a plain JSON POST, else None: strawberry's view
    takes anything unusual and gives its own answer or error."""
    if scope["method"] != "POST" or not _json_body(scope):
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    _PARSED.set((body, data))
    query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
    if not isinstance(query, str) or not isinstance(variables, dict | None):
        return None
    if not isinstance(name, str | None):
        return None
    return query, variables, name


def _json_body(scope: Scope) -> bool:
    """The request says its body is JSON (strawberry refuses a POST that does not)."""
    for key, value in scope["headers"]:
        if key == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


async def _send_json(send: Send, body: bytes, state: dict[str, Any]) -> None:
    """A planned answer: status 200, the bytes as the database built them."""
    state["status"] = 200
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-caigou-plan", PLANNED.encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _buffered(receive: Receive) -> tuple[Receive, bytes]:
    """`receive` with the request body already read (replayed as one message), the body."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client left: let the view see it
            first: Message = message
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            break
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return first
        return await receive()

    return replay, bytes(first.get("body", b""))


def _with_etag(send: Send, etag: str | None, state: dict[str, Any]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            # The answer is whole: the connection goes back to the pool before a slow reader
            # is sent it.
            if state.get("conn") is not None:
                state["conn"].close()
            state["status"] = message["status"]
            if etag and message["status"] == 200:
                extra = [(b"etag", etag.encode()), (b"cache-control", b"no-cache")]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """The heap settled, and the search's background work (the embedded catch-up) running."""
    search = app.state.search
    async with _settled_heap(app):
        if search is not None:
            search.start()
        try:
            yield
        finally:  # each closed even when the one before it fails
            try:
                if search is not None:
                    try:
                        await search.aclose()
                    finally:
                        await anyio.to_thread.run_sync(search.stop)
            finally:
                if app.state.pg is not None:
                    await app.state.pg.close()


@asynccontextmanager
async def _settled_heap(app: Starlette) -> AsyncIterator[None]:
    """Keep the collector off the start-up heap while serving.

    A page of 100 transactions allocates tens of thousands of short-lived objects; with the
    default thresholds that set off a full collection over the whole heap (schema, SQLAlchemy,
    the catalogue) every ~10 requests, 75-100 ms each, which made the p99. Frozen, the
    start-up heap is no longer traversed; a larger first generation collects less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    yield


PAGE_TIMEOUT = (
    "查询超过了服务器允许的时间 the page's query ran longer than the server allows "
    "(CAIGOU_QUERY_TIMEOUT): narrow the filter or ask for less"
)


async def statement_timeout(request: Request, exc: Exception) -> Response:
    """A page's statement cut short by CAIGOU_QUERY_TIMEOUT: a 503 that says so (GraphQL
    answers its own, QUERY_TIMEOUT); any other database error stays a 500."""
    if not is_timeout(exc):
        raise exc
    # A client's slow page, not a server fault: one line, no traceback.
    limit = getattr(request.app.state, "settings", None)
    log.warning(
        "page %s cut short at CAIGOU_QUERY_TIMEOUT = %s", request.url.path,
        f"{limit.query_timeout:g} s" if limit else "its limit",
    )  # fmt: skip
    request_id = str(request.scope.get("state", {}).get("request_id") or "")
    kind, body = body_for(request.scope, 503, PAGE_TIMEOUT, request_id)
    if kind == b"application/json":
        body = orjson.dumps(
            {"error": PAGE_TIMEOUT, "code": "QUERY_TIMEOUT", "request_id": request_id}
        )
    return Response(body, 503, media_type=kind.decode())


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    metrics = Metrics()
    search = search_backend(settings, engine)
    reads = reader(engine, settings.query_timeout)
    event.listen(engine, "handle_error", lambda context: _count_timeout(metrics, context))
    postgres = engine.dialect.name == "postgresql"
    pg = PgReads(engine, settings.query_timeout, metrics.timeouts.inc) if postgres else None
    if search is not None:
        search.pg = pg  # PostgreSQL: searches awaited on the loop (`GuardedSearch.loop_search`)

    def database_health() -> dict[str, Any]:
        with reads.connect() as conn:
            conn.execute(text("SELECT 1"))
            return {"status": "ok", "database": "ok", "migration": current_revision(engine),
                    "data_version": data_version(conn)}  # fmt: skip

    async def healthz(request: Request) -> JSONResponse:
        try:  # in a worker thread: a database that hangs or a full pool never holds the loop
            body = await anyio.to_thread.run_sync(database_health)
        except Exception as exc:
            return JSONResponse(
                {"status": "error", "database": type(exc).__name__}, status_code=503
            )
        # Search down is degraded, not down: every other query still answers. Cached and
        # refreshed off the loop: a hung Elasticsearch never holds this answer up.
        body["search"] = await search.ahealth() if search else {"status": "not configured"}
        if body["search"].get("status") not in ("green", "yellow", "not configured"):
            body["status"] = "degraded"
        return JSONResponse(body)

    def read_version() -> None:
        with reads.connect() as conn:
            metrics.version.set(current_data_version(conn))
            metrics.read_push(conn)

    async def metrics_endpoint(request: Request) -> Response:
        await anyio.to_thread.run_sync(read_version)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def is_publisher(token: str) -> bool:
        """Whether a bearer token is a live publisher's: only bodies over the small cap ask."""

        def check() -> bool:
            with reads.connect() as conn:
                try:
                    authenticate(conn, token)
                except PublisherError:
                    return False
                return True

        return await anyio.to_thread.run_sync(check)

    app = Starlette(
        lifespan=_lifespan,
        exception_handlers={DBAPIError: statement_timeout},
        middleware=middleware(settings, is_publisher),
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics_endpoint),
            Route(
                "/graphql",
                HubGraphQL(
                    engine,
                    reads,
                    metrics,
                    search,
                    settings.max_query_bytes,
                    settings.planner,
                    pg,
                    settings.request_timeout,
                ),
                methods=["GET", "POST"],
            ),
            *extension_routes(),  # before /downloads/{path}: the caigou OCDS extension
            *download_routes(settings.export_root, settings.licence()),
            *web_routes(reads, search),
        ],
    )
    app.state.engine = engine
    app.state.search = search
    app.state.pg = pg
    app.state.export_root = settings.export_root
    app.state.settings = settings
    return app
