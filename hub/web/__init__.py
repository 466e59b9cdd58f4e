"""Pages for people: search, projects, parties, transactions, served by the hub's own app.

Server-rendered HTML (Jinja2) that works without JavaScript; data comes from the same
tables and search backend the GraphQL API reads, never from HTTP calls to /graphql.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from hub.changes_route import endpoint as changes_feed
from hub.web import parties, projects, search_page, transactions, transparency
from hub.web.render import STATIC


def routes(engine: Engine, search: Any) -> list[BaseRoute]:
    """The web routes; `/downloads/` stays in hub.downloads."""
    return [
        Route("/", search_page.page(engine, search)),
        Route("/projects/{ocid:path}", projects.page(engine)),
        Route("/parties/{id}", parties.page(engine)),
        Route("/transactions", transactions.page(engine, search)),
        Route("/transactions.csv", transactions.csv_download(engine, search)),
        Route("/transparency", transparency.page(engine)),
        Route("/changes", changes_feed(engine)),  # NDJSON for mirrors (hub.changes_route)
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
