"""The per-request context: one database connection, the loaders, the caller."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine
from starlette.requests import HTTPConnection

from hub.edge.limits import bearer
from hub.graphql.errors import Unauthenticated
from hub.graphql.limits import MAX_QUERY_BYTES
from hub.graphql.loaders import Loaders
from hub.publishing.errors import PublisherError
from hub.publishing.publishers import PublisherAccount, authenticate
from hub.read.rows import by_ids
from hub.search import MAX_IN_FLIGHT
from indexer.breaker import CircuitOpen
from indexer.search import SearchRequest, SearchResult, SearchUnavailable
from schema.tables import PARTIES


class PartyCache:
    """Parties of the rows a request has fetched, built once each and resolved synchronously.

    A page of transactions names up to 200 parties. Resolving each through an async
    DataLoader costs a task per field and doubled the CPU of such a page; instead the page
    says which parties it will need (`want`), and the first lookup loads them all in one
    query. A lookup nobody announced still works: it loads with whatever else is pending.
    The caller says how to `build` a party from its row: the context knows no GraphQL type.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.built: dict[int, Any] = {}
        self.pending: set[int] = set()

    def want(self, pks: Iterable[int | None]) -> None:
        self.pending.update(pk for pk in pks if pk is not None and pk not in self.built)

    def get(self, pk: int, build: Callable[[Any], Any]) -> Any:
        party = self.built.get(pk)
        if party is None:
            self.pending.add(pk)
            keys, self.pending = self.pending, set()
            for row in by_ids(self.conn, PARTIES, keys):
                self.built[row.id] = build(row)
            party = self.built[pk]
        return party


class SearchHere:
    """The search backend as an operation running in a worker thread sees it.

    The hub's `GuardedSearch.asearch` hands the call to a thread and counts searches in
    flight on the event loop; an operation already off the loop (hub.app runs each one in a
    worker thread, on that thread's own event loop) runs the search where it is, under the
    same rules kept with thread locks: refused at once while the breaker is open; at most
    MAX_IN_FLIGHT searches running or waiting (past them one waits `busy_wait` for a
    place, then is refused as busy); at most `threads` of them calling the backend.
    """

    def __init__(self, guarded: Any) -> None:
        self.guarded = guarded
        self.calling = threading.BoundedSemaphore(guarded.threads)
        self.places = threading.Condition()
        self.in_flight = 0

    async def asearch(self, request: SearchRequest) -> SearchResult:
        return self.search(request)

    def search(self, request: SearchRequest, *, lag: bool = True) -> SearchResult:
        """Blocking, in the operation's worker thread. `lag=False` (the planner, which never
        shows `indexLag`): the backend's answer alone, without the outbox read beside it."""
        refused = self.guarded.breaker.refusal()
        if refused is not None:
            raise SearchUnavailable(f"search is unavailable: {refused}")
        with self.places:
            room = lambda: self.in_flight < MAX_IN_FLIGHT  # noqa: E731
            if not self.places.wait_for(room, timeout=self.guarded.busy_wait):
                raise SearchUnavailable(
                    f"search is busy: {MAX_IN_FLIGHT} searches are waiting for the search backend"
                )
            self.in_flight += 1
        try:
            with self.calling:
                if lag:
                    found: SearchResult = self.guarded.search(request)
                    return found
                return self._hits(request)
        finally:
            with self.places:
                self.in_flight -= 1
                self.places.notify()

    def _hits(self, request: SearchRequest) -> SearchResult:
        backend = self.guarded.backend
        try:
            result: SearchResult = self.guarded.breaker.call(lambda: backend.search(request))
        except CircuitOpen as exc:
            raise SearchUnavailable(f"search is unavailable: {exc}") from None
        return result

    def __getattr__(self, name: str) -> Any:  # health, backend, lag: the guarded search's
        return getattr(self.guarded, name)


class SearchFailed:
    """The request's search service once a planned search of it has failed: the resolver
    that answers the field reports that failure instead of trying the backend again (which
    would wait a second time and count twice towards the breaker)."""

    def __init__(self, here: Any, error: SearchUnavailable) -> None:
        self.here, self.error = here, error

    async def asearch(self, request: SearchRequest) -> SearchResult:
        raise self.error

    def search(self, request: SearchRequest, *, lag: bool = True) -> SearchResult:
        raise self.error

    def __getattr__(self, name: str) -> Any:
        return getattr(self.here, name)


@dataclass
class Context:
    request: HTTPConnection
    engine: Engine
    conn: Connection
    loaders: Loaders = field(init=False)
    parties: PartyCache = field(init=False)
    response: Any = None
    search: Any = None  # the SearchBackend, None when search is not configured
    max_query_bytes: int = MAX_QUERY_BYTES  # CAIGOU_MAX_QUERY_BYTES, read by QueryLimits

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.conn)
        self.parties = PartyCache(self.conn)

    def publisher(self) -> PublisherAccount:
        """The publisher whose `Authorization: Bearer` token came with the request."""
        token = bearer(self.request.scope)
        if token is None:
            raise Unauthenticated(
                "publishing needs a publisher token: Authorization: Bearer <token>"
            )
        try:
            return authenticate(self.conn, token)
        except PublisherError as exc:
            raise Unauthenticated(str(exc)) from None
