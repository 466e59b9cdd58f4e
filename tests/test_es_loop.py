"""The loop's Elasticsearch node (indexer.es_loop) against servers that misbehave for real.

Each fault is a real socket on 127.0.0.1 served by asyncio: a kept-alive connection the server
drops, a server that never answers, one that sends half an answer. Answers and errors as
Elasticsearch itself gives them are in tests/test_search_elastic.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import uvloop
from elastic_transport import ConnectionError, ConnectionTimeout, HttpHeaders, NodeConfig
from elasticsearch.exceptions import HTTP_EXCEPTIONS, ApiError

from indexer.es_loop import LoopNode, answer_of

HEADERS = HttpHeaders({"content-type": "application/json"})
OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def _request(reader: asyncio.StreamReader) -> bytes:
    """One request read whole (its head, then its body by content-length); b"" at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b""
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)


def _serve(handle: Handler, requests: int, timeout: float = 5.0) -> tuple[list[object], int]:
    """`requests` POSTs through one node to a server running `handle` per connection (with
    the connection's number): each answer or error, and how many connections were opened."""
    opened = 0

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal opened
        opened += 1
        try:
            await handle(reader, writer, opened)
        finally:
            writer.close()

    async def run() -> list[object]:
        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        node = LoopNode(NodeConfig("http", "127.0.0.1", port, request_timeout=timeout))
        out: list[object] = []
        for _ in range(requests):
            try:
                out.append(answer_of(await node.perform_request("POST", "/x/_search", b"{}",
                                                                HEADERS)))  # fmt: skip
            except Exception as exc:  # the error is what the test reads
                out.append(exc)
        await node.close()
        server.close()
        await server.wait_closed()
        return out

    return uvloop.run(run()), opened


def test_a_kept_connection_is_reused() -> None:
    async def keep_answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                             _: int) -> None:  # fmt: skip
        while await _request(reader):
            writer.write(OK)

    answers, opened = _serve(keep_answering, 3)
    assert answers == [{"ok": True}] * 3 and opened == 1


def test_a_kept_connection_the_server_dropped_is_replaced_without_an_error() -> None:
    """The server answers one request per connection and drops the connection when the next
    request comes (an idle timeout or a restart meeting a request in flight): each request
    after the first is sent again, once, on a new connection."""

    async def one_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         _: int) -> None:  # fmt: skip
        await _request(reader)
        writer.write(OK)
        await _request(reader)  # the next request, dropped unanswered

    answers, opened = _serve(one_answer, 3)
    assert answers == [{"ok": True}] * 3
    assert opened == 3


def test_a_new_connection_that_fails_is_not_retried() -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await _request(reader)

    [error], opened = _serve(drop, 1)
    assert isinstance(error, ConnectionError) and opened == 1


def test_half_an_answer_is_an_error_and_not_sent_again() -> None:
    """The first connection answers once whole, then half an answer; every later one half."""

    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        served = 0
        while await _request(reader):
            served += 1
            if n == 1 and served == 1:
                writer.write(OK)
            else:
                writer.write(OK[:60])
                return

    answers, opened = _serve(half, 3)
    assert answers[0] == {"ok": True}
    assert all(isinstance(a, ConnectionError) for a in answers[1:]), answers
    assert opened == 2  # the kept connection's cut answer was not sent again elsewhere


def test_a_server_that_never_answers_times_out_and_its_connection_is_dropped() -> None:
    ended: list[bytes] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await _request(reader)
        ended.append(await reader.read())  # b"": the node closed the connection

    [error, second], opened = _serve(silent, 2, timeout=0.3)
    assert isinstance(error, ConnectionTimeout) and isinstance(second, ConnectionTimeout)
    assert opened == 2 and ended == [b"", b""]


@pytest.mark.parametrize("status", [400, 404, 503])
def test_an_error_status_raises_as_the_elasticsearch_client_does(status: int) -> None:
    body = b'{"error":{"type":"some_exception","reason":"why"},"status":%d}' % status
    answer = b"HTTP/1.1 %d X\r\ncontent-length: %d\r\n\r\n" % (status, len(body)) + body

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while await _request(reader):
            writer.write(answer)

    [error], _ = _serve(refuse, 1)
    assert type(error) is HTTP_EXCEPTIONS.get(status, ApiError)  # 503: ApiError itself
    assert error.message == "some_exception" and error.meta.status == status  # type: ignore[attr-defined]
