"""A search as the HTTP calls it makes, run by a blocking client or awaited by an async one.

`ElasticBackend.search_calls` is a generator: it yields each `Call`, is sent back the answer's
body (or has the client's error thrown in, where it is handled as the blocking code handled
it), and returns the `SearchResult`. `run_calls` drives it with the blocking client (worker
threads, the command line); `arun_calls` awaits each call on the event loop, so a search of
the hub needs no worker thread and the logic (PIT, cursors, errors) is written once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")


class Call(NamedTuple):
    method: str
    path: str
    params: dict[str, Any] | None = None
    body: bytes | dict[str, Any] | None = None  # bytes: serialised already


Calls = Generator[Call, Any, T]


def run_calls(calls: Calls[T], perform: Callable[[Call], Any]) -> T:
    """Each call performed as it comes; its answer (or error) sent back in."""
    try:
        call = next(calls)
        while True:
            try:
                answer = perform(call)
            except Exception as exc:
                call = calls.throw(exc)
            else:
                call = calls.send(answer)
    except StopIteration as done:
        return done.value


async def arun_calls(calls: Calls[T], perform: Callable[[Call], Awaitable[Any]]) -> T:
    """`run_calls`, each call awaited."""
    try:
        call = next(calls)
        while True:
            try:
                answer = await perform(call)
            except Exception as exc:
                call = calls.throw(exc)
            else:
                call = calls.send(answer)
    except StopIteration as done:
        return done.value
    finally:
        calls.close()  # cancelled while awaiting: the generator's `with` blocks unwound
