"""The hub's searches on its event loop: HTTP/1.1 to Elasticsearch over asyncio and httptools.

Measured on shape d (bench/search.py, a bare uvicorn app posting the same `_search`, answers
compared side by side with Elasticsearch's own): through `AsyncElasticsearch` and its aiohttp
node a search cost 1.5 ms more than the same call posted straight to Elasticsearch; through
the same client with an asyncio node 1.1-1.4 ms; with the asyncio node alone 0.5-0.7 ms,
as close as the bench can tell from a bare socket. A search page's whole budget is a fifth
of Elasticsearch's own ~13 ms. So the loop's few calls (search, point in time, plugins) go
to `LoopNode` directly: an elastic-transport node (its errors and response meta, as the
blocking path's `StdlibHttpNode`) without the client's and transport's layers, and
`answer_of` reads an answer as the client would, raising the same `ApiError` subclasses.
What the transport did that matters here is kept: one retry, on a kept-alive connection the
server had closed (never on a fresh one, never after a timeout). Plain HTTP only (a local
or private cluster); `https` URLs keep `AsyncElasticsearch` over aiohttp.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import httptools
import orjson
from elastic_transport import (
    ApiResponseMeta,
    ConnectionError,
    ConnectionTimeout,
    HttpHeaders,
    NodeConfig,
)
from elastic_transport._node import NodeApiResponse  # what every node returns; not re-exported
from elastic_transport._node._base_async import BaseAsyncNode
from elastic_transport.client_utils import DEFAULT, DefaultType
from elasticsearch.exceptions import HTTP_EXCEPTIONS, ApiError

MAX_IDLE = 16  # kept-alive connections per node; more in flight are closed when done


class _Exchange(asyncio.Protocol):
    """One connection: a request written, its response parsed by httptools as it arrives."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[bytes] | None = None
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.status = 0
        self.keep_alive = False
        self.closed = False
        self.answered = False  # a byte of a response arrived on it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"a malformed answer: {exc}", errors=(exc,)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("the server closed the connection"))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        # Read here: once the message is done the parser no longer says.
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(b"".join(self.body))

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    async def exchange(self, request: bytes) -> bytes:
        assert self.transport is not None
        self.headers, self.body, self.answered = [], [], False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class LoopNode(BaseAsyncNode):
    """One Elasticsearch node over plain HTTP on the running event loop (made on it, used
    only there: `ElasticBackend` keeps one per loop)."""

    _CLIENT_META_HTTP_CLIENT = ("ai", "0")

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        if config.scheme != "http":
            raise ValueError(f"{config.scheme}: this node speaks plain HTTP (a local cluster)")
        self._timeout = config.request_timeout
        self._idle: list[_Exchange] = []

    async def perform_request(  # type: ignore[override]
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> NodeApiResponse:
        if method == "HEAD":
            raise ValueError("HEAD: not asked by the hub's searches, and not parsed here")
        timeout = self._timeout if request_timeout is DEFAULT else request_timeout
        sent = self.headers.copy()
        if headers:
            sent.update(headers)
        lines = [f"{method} {self.path_prefix}{target} HTTP/1.1", f"host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in sent.items()]
        lines.append(f"content-length: {len(body) if body else 0}\r\n\r\n")
        request = "\r\n".join(lines).encode("latin-1") + (body or b"")
        started = time.time()
        try:
            async with asyncio.timeout(timeout):
                conn, data = await self._send(request)
        except TimeoutError as exc:
            raise ConnectionTimeout("Connection timed out during request", errors=(exc,)) from exc
        except OSError as exc:
            raise ConnectionError(str(exc), errors=(exc,)) from exc
        meta = ApiResponseMeta(
            node=self.config,
            duration=time.time() - started,
            http_version="1.1",
            status=conn.status,
            headers=HttpHeaders(conn.headers),
        )
        if conn.keep_alive and not conn.closed and len(self._idle) < MAX_IDLE:
            self._idle.append(conn)
        else:
            conn.close()
        return NodeApiResponse(meta, data)

    async def _send(self, request: bytes) -> tuple[_Exchange, bytes]:
        """The answer, on a kept-alive connection or a new one. A kept one the server closed
        meanwhile (a restart, its idle timeout) fails before any answer: the request goes
        on the next kept one, or a new one. A new one's failure is the caller's error."""
        while self._idle:
            conn = self._idle.pop()
            if conn.closed:
                continue
            try:
                return conn, await self._exchange(conn, request)
            except (OSError, ConnectionError):
                if conn.answered:
                    raise
        conn = await self._connect()
        return conn, await self._exchange(conn, request)

    @staticmethod
    async def _exchange(conn: _Exchange, request: bytes) -> bytes:
        try:
            return await conn.exchange(request)
        except BaseException:
            conn.close()  # half a response, a timeout, a cancelled request: never reused
            raise

    async def _connect(self) -> _Exchange:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Exchange, self.host, self.port)
        return conn

    async def close(self) -> None:  # type: ignore[override]
        while self._idle:
            self._idle.pop().close()


def answer_of(response: NodeApiResponse) -> Any:
    """The answer's JSON, or the `ApiError` the elasticsearch client raises for its status
    (404 → `NotFoundError`, …) with Elasticsearch's error type as its message."""
    meta, data = response
    body: Any = orjson.loads(data) if data else None
    if 200 <= meta.status < 299:
        return body
    message: Any = str(body)
    if isinstance(body, dict):
        error = body.get("error", message)
        message = error["type"] if isinstance(error, dict) and "type" in error else error
    raise HTTP_EXCEPTIONS.get(meta.status, ApiError)(message=message, meta=meta, body=body)
