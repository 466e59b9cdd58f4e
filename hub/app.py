"""The Starlette application: /graphql (with ETags on GET), /healthz, /metrics."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import Connection, Engine, text
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
from hub.extension_routes import extension_routes
from hub.graphql.context import Context
from hub.graphql.limits import MAX_QUERY_BYTES, checked, return_freed_memory
from hub.graphql.schema import schema
from hub.publishing import PublisherError
from hub.publishing.publishers import authenticate
from hub.read.plan.run import FALLBACK, Planner, assemble, execute
from hub.search import search_backend
from hub.web import routes as web_routes
from hub.web.graphiql import ide_page
from schema.data_version import current_data_version
from schema.db import current_revision, ensure_schema, make_engine, reader

if TYPE_CHECKING:  # checked against the strawberry installed, which has cross_web
    from cross_web import HTTPException
else:
    try:  # strawberry's own HTTP errors (a 400 with its message) live in cross_web since 0.3xx
        from cross_web import HTTPException
    except ImportError:  # pragma: no cover - older strawberry
        from strawberry.http.exceptions import HTTPException

log = logging.getLogger("caigou.http")
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
        self.operations: set[str] = set()

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
    """strawberry's ASGI view with a connection per request and ETag revalidation on GET."""

    def __init__(
        self, engine: Engine, reads: Engine, metrics: Metrics, search: Any = None,
        max_query_bytes: int = MAX_QUERY_BYTES, planner: bool = True,
    ) -> None:  # fmt: skip
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self.engine = engine  # mutations write through it, each in its own transaction
        self.reads = reads  # the request's connection: `reader(engine, CAIGOU_QUERY_TIMEOUT)`
        self.metrics = metrics
        self.search = search
        self.max_query_bytes = max_query_bytes
        self.planner = Planner(schema) if planner else None  # CAIGOU_PLANNER
        return_freed_memory()  # request bodies up to the size cap, freed for good

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        # The whole body first, then a pooled connection: a client that sends its body slowly
        # (the edge bounds how slowly) must not hold one of the pool's few connections.
        receive, size = await _buffered(receive)
        with await _connect(self.reads) as conn:
            state["conn"] = conn
            etag = self._etag(scope, conn)
            if etag and etag in _if_none_match(scope):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 304,
                        "headers": [(b"etag", etag.encode())],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                state["outcome"] = "not_modified"
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
        digest = hashlib.sha256(
            data_version(conn).encode() + b"\0" + scope["query_string"]
        ).hexdigest()
        return f'W/"{digest[:32]}"'

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from the hub's own static files (hub/web/graphiql.py), never a CDN."""
        return ide_page()

    # orjson: a page of 100 rows is ~40 kB of JSON; the standard library took ~1 ms of it.
    def encode_json(self, data: object) -> bytes:
        if isinstance(data, Planned):
            return data.body
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
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

    async def _planned(
        self, request: Request, request_adapter: Any, request_data: Any, context: Context,
        root_value: Any, sub_response: Any,
    ) -> Planned | None:  # fmt: skip
        if not isinstance(request_data, GraphQLRequestData) or request_data.protocol != "http":
            return None
        query, variables = request_data.query or "", request_data.variables
        found = checked(schema, query, variables, self.max_query_bytes)
        if found is None or self.planner is None:
            return None
        conn = context.conn
        name = request_data.operation_name
        prepared = self.planner.prepare(found[0], query, name, variables, conn.dialect.name)
        if prepared.outcome == FALLBACK:
            return None
        request.state.operation, request.state.nodes = name or prepared.operation, found[1]
        try:
            planned = await anyio.to_thread.run_sync(execute, conn, prepared)
        except Exception:  # a timeout or a fault: the resolvers answer it (and report it)
            conn.rollback()
            return None
        fallback = None
        if prepared.narrowed is not None:
            narrowed = dataclasses.replace(request_data, query=prepared.narrowed)
            result = await self.execute_single(
                request, request_adapter, sub_response, context, root_value, narrowed
            )
            fallback = await self.process_result(request, result)
        sub_response.headers["x-caigou-plan"] = prepared.outcome
        self.metrics.plan.labels(prepared.outcome).inc()
        return Planned(assemble(prepared, planned, fallback))

    async def parse_http_body(self, request: Any) -> Any:
        kind = (request.content_type or "").split(";")[0].strip().lower()
        if request.method == "POST" and kind != "application/json":
            raise HTTPException(400, "POST /graphql takes Content-Type: application/json, "
                                f"not {kind or 'none'!r}")  # fmt: skip
        return await super().parse_http_body(request)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return Context(
            request=request, engine=self.engine, conn=request.state.conn, response=response,
            search=self.search, max_query_bytes=self.max_query_bytes,
        )  # fmt: skip


class Planned:
    """A planned answer's bytes, passed through strawberry's response untouched."""

    errors = None

    def __init__(self, body: bytes) -> None:
        self.body = body


LARGE_BODY = 1 << 20


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


async def _buffered(receive: Receive) -> tuple[Receive, int]:
    """`receive` with the request body already read (replayed as one message), its size."""
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

    return replay, len(first.get("body", b""))


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
        finally:
            if search is not None:
                await anyio.to_thread.run_sync(search.stop)


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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    metrics = Metrics()
    search = search_backend(settings, engine)
    reads = reader(engine, settings.query_timeout)

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
        middleware=middleware(settings, is_publisher),
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics_endpoint),
            Route(
                "/graphql",
                HubGraphQL(
                    engine, reads, metrics, search, settings.max_query_bytes, settings.planner
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
    app.state.export_root = settings.export_root
    app.state.settings = settings
    return app
