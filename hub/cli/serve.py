"""caigou serve: the hub under uvicorn."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer
import uvicorn
from sqlalchemy import Engine

from hub.cli.context import err, out, state
from hub.config import LIMITS
from hub.edge.protocol import uvicorn_options
from hub.edge.request_id import RequestIdFormatter


def _help(name: str) -> str:
    variable, default, meaning = LIMITS[name]
    return f"Overrides {variable} (default {default}): {meaning}."


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Overrides CAIGOU_WORKERS (default 0): worker processes. 0: one per core on "
            "PostgreSQL; SQLite always serves with one, since it takes one writer at a time "
            "(publishes would queue for the lock across processes) and the serving process "
            "drains its embedded search index."
        ),
    ] = None,
    query_timeout: Annotated[float | None, typer.Option(help=_help("query_timeout"))] = None,
    request_timeout: Annotated[float | None, typer.Option(help=_help("request_timeout"))] = None,
    max_query_bytes: Annotated[int | None, typer.Option(help=_help("max_query_bytes"))] = None,
    max_body_bytes: Annotated[int | None, typer.Option(help=_help("max_body_bytes"))] = None,
    max_publish_bytes: Annotated[int | None, typer.Option(help=_help("max_publish_bytes"))] = None,
    rate_limit: Annotated[int | None, typer.Option(help=_help("rate_limit"))] = None,
    header_timeout: Annotated[float | None, typer.Option(help=_help("header_timeout"))] = None,
    body_timeout: Annotated[float | None, typer.Option(help=_help("body_timeout"))] = None,
    keep_alive_timeout: Annotated[
        float | None, typer.Option(help=_help("keep_alive_timeout"))
    ] = None,
    max_header_bytes: Annotated[int | None, typer.Option(help=_help("max_header_bytes"))] = None,
) -> None:
    """Serve GraphQL at /graphql (GraphiQL in a browser), /healthz and /metrics.

    Workers: one per core on PostgreSQL; on SQLite one (SQLite has one writer at a time).
    """
    limits = {
        "query_timeout": query_timeout, "request_timeout": request_timeout,
        "max_query_bytes": max_query_bytes,
        "max_body_bytes": max_body_bytes, "max_publish_bytes": max_publish_bytes,
        "rate_limit": rate_limit, "header_timeout": header_timeout, "body_timeout": body_timeout,
        "keep_alive_timeout": keep_alive_timeout, "max_header_bytes": max_header_bytes,
    }  # fmt: skip
    run(ctx, host, port, workers, limits)


def cores() -> int:
    """The cores this process may run on (its affinity: a container's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def worker_count(dialect: str, asked: int) -> tuple[int, str]:
    """How many worker processes serve, and why; ValueError when SQLite is asked for more
    than one. `asked` 0 means the default."""
    if dialect == "sqlite":
        if asked > 1:
            raise ValueError(
                f"--workers {asked} (CAIGOU_WORKERS) on SQLite: SQLite serves with one worker, "
                "since it takes one writer at a time and the serving process drains its "
                "embedded search index; use PostgreSQL for more"
            )
        return 1, "SQLite: one writer at a time, so one worker (PostgreSQL serves with more)"
    if asked:
        return asked, "--workers / CAIGOU_WORKERS"
    count = cores()
    return count, f"one per core ({count} cores)"


def connection_budget(engine: Engine, count: int, asked: bool) -> tuple[int, str]:
    """The workers PostgreSQL's `max_connections` has room for, and the start-up line that
    says so; ValueError when `--workers` was asked for more.

    Each worker has its own pool (pool_size + max_overflow connections at most) and a small
    one for the reads it awaits on its event loop (hub/pg_reads.py); the search
    indexer (`caigou index worker`) takes a pool too, and superusers keep their reserved
    connections. Past the limit a busy hub fails requests with "too many clients" instead of
    queueing them in its pools. The default (a worker per core) is lowered to fit, saying so.
    """
    if engine.dialect.name != "postgresql":
        return count, ""
    from hub.app import pool_capacity  # here: every other command starts without the app
    from hub.pg_reads import POOL_SIZE

    with engine.connect() as conn:
        limit = int(conn.exec_driver_sql("SHOW max_connections").scalar_one())
        reserved = int(conn.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one())
    indexer = pool_capacity(engine)
    per = indexer + POOL_SIZE
    usable = limit - reserved
    fits = (usable - indexer) // per
    if count > fits:
        needed = count * per + indexer
        why = (f"{count} workers × {per} pooled connections + {indexer} for the indexer = {needed} "
               f"> PostgreSQL's max_connections {limit} less {reserved} reserved for "
               "superusers")  # fmt: skip
        if asked or fits < 1:
            raise ValueError(
                f"--workers {count} (CAIGOU_WORKERS): {why}; serve with --workers "
                f"{max(fits, 0)} at most, or raise max_connections"
            )
        count = fits
        note = f" (a worker per core lowered to {fits}: {why})"
    else:
        note = ""
    line = (f"database connections: {count} workers × {per} (pool size + overflow, and "
            f"{POOL_SIZE} for reads on the event loop) + {indexer} for the indexer = "
            f"{count * per + indexer} of max_connections {limit} ({reserved} reserved for "
            f"superusers){note}")  # fmt: skip
    return count, line


def run(
    ctx: typer.Context,
    host: str,
    port: int,
    workers: int | None,
    limits: dict[str, float | None] | None = None,
) -> None:
    try:
        settings = state(ctx).settings.override(**(limits or {}), workers=workers)
        engine = state(ctx).engine()  # migrate (SQLite) or stop with advice before workers start
        count, why = worker_count(engine.dialect.name, settings.workers)
        fitting, connections = connection_budget(engine, count, asked=bool(settings.workers))
        if fitting != count:
            count, why = fitting, f"{why}, lowered to fit max_connections"
    except ValueError as exc:
        err.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(2) from None
    # Workers are fresh processes: they read their settings from the environment.
    os.environ.update(settings.environ())
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for handler in logging.getLogger().handlers:
        handler.setFormatter(RequestIdFormatter("%(message)s"))
    # The hub logs one line per request with its time; the client's own line for every
    # Elasticsearch call doubled the log and its writes. Its warnings (retries) still show.
    logging.getLogger("elastic_transport.transport").setLevel(logging.WARNING)
    out.print(f"caigou-hub serving {settings.database_url}", highlight=False)
    out.print(f"workers: {count} ({why})", highlight=False)
    if connections:
        out.print(connections, highlight=False)
    engine.dispose()  # each worker opens its own pool; this process keeps no connection
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
        workers=count,
        log_level="warning",
        **uvicorn_options(settings),
    )
