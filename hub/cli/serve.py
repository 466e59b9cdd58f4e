"""caigou serve: the hub under uvicorn."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer
import uvicorn

from hub.cli.context import out, state


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(help="Worker processes (use PostgreSQL for more than one).")
    ] = 1,
) -> None:
    """Serve GraphQL at /graphql (GraphiQL in a browser), /healthz and /metrics."""
    run(ctx, host, port, workers)


def run(ctx: typer.Context, host: str, port: int, workers: int) -> None:
    settings = state(ctx).settings
    state(ctx).engine()  # migrate (SQLite) or stop with advice before workers start
    # Workers are fresh processes: they read their settings from the environment.
    os.environ["CAIGOU_DATABASE_URL"] = settings.database_url
    os.environ["CAIGOU_EXPORT_ROOT"] = settings.export_root
    if settings.elasticsearch_url:
        os.environ["CAIGOU_ELASTICSEARCH_URL"] = settings.elasticsearch_url
    os.environ["CAIGOU_INDEX_PREFIX"] = settings.index_prefix
    os.environ["CAIGOU_SEARCH_TIMEOUT"] = str(settings.search_timeout)
    os.environ["CAIGOU_SEARCH_FAILURES"] = str(settings.search_failures)
    os.environ["CAIGOU_SEARCH_COOL_DOWN"] = str(settings.search_cool_down)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # The hub logs one line per request with its time; the client's own line for every
    # Elasticsearch call doubled the log and its writes. Its warnings (retries) still show.
    logging.getLogger("elastic_transport.transport").setLevel(logging.WARNING)
    out.print(f"caigou-hub serving {settings.database_url}", highlight=False)
    out.print(f"GraphQL (GraphiQL in a browser): http://{host}:{port}/graphql", highlight=False)
    out.print(
        f"health: http://{host}:{port}/healthz   metrics: http://{host}:{port}/metrics",
        highlight=False,
    )
    uvicorn.run(
        "hub.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )
