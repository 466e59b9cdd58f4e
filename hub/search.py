"""Which search backend serves `search`: Elasticsearch when configured, else SQLite FTS5."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from hub.config import Settings
from indexer.search import SearchBackend, SearchRequest, SearchResult


class CatchingUp:
    """The embedded backend, brought up to date with the outbox before each search.

    Without a worker running (the demo, a small install), records published a moment ago
    are findable at once; with an empty outbox this costs one indexed query.
    """

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def search(self, request: SearchRequest) -> SearchResult:
        self.backend.catch_up()
        return self.backend.search(request)  # type: ignore[no-any-return]

    def health(self) -> dict[str, Any]:
        return self.backend.health()  # type: ignore[no-any-return]


def search_backend(settings: Settings, engine: Engine) -> SearchBackend | None:
    if settings.elasticsearch_url:
        from indexer.elastic import ElasticBackend

        return ElasticBackend(settings.elasticsearch_url, prefix=settings.index_prefix)
    if engine.dialect.name == "sqlite":
        from indexer.embedded import EmbeddedBackend

        return CatchingUp(EmbeddedBackend(engine))
    return None
