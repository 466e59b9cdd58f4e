"""caigou indexer run / status / parked / retry-parked, and caigou index rebuild."""

from __future__ import annotations

import logging
from datetime import datetime, time
from typing import Annotated, Any

import typer
from rich.table import Table

from hub.cli.context import err, out, state
from hub.federation.upstreams import UpstreamError
from indexer import outbox, worker

app = typer.Typer(
    help="The indexer: keeps the search index in step with the database through the outbox.",
    no_args_is_help=True,
)
index_app = typer.Typer(help="Search indices (Elasticsearch or embedded).", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="indexer")
    root.add_typer(index_app, name="index")


def _target(ctx: typer.Context) -> Any:
    """Elasticsearch when configured, else the embedded index on SQLite; else a clear error."""
    from hub.search import search_backend

    backend = search_backend(state(ctx).settings, state(ctx).engine())
    if backend is None:
        err.print(
            "[red]error:[/red] no search index: on PostgreSQL set CAIGOU_ELASTICSEARCH_URL or "
            "pass --elasticsearch-url (a local one: `bash scripts/elasticsearch.sh start`)"
        )
        raise typer.Exit(2)
    return getattr(backend, "backend", backend)  # the embedded one comes wrapped


@app.command("run")
def run(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option(help="Drain what is due, then exit.")] = False,
    batch: Annotated[int, typer.Option(help="Changes per bulk request.", min=1)] = 1000,
    poll: Annotated[float, typer.Option(help="Seconds to sleep when idle.")] = 1.0,
    export: Annotated[
        bool, typer.Option(help="Publish the daily dumps at CAIGOU_EXPORT_AT (not with --once).")
    ] = True,
    push: Annotated[
        bool, typer.Option(help="Push accepted records to the upstreams (caigou pusher run).")
    ] = True,
) -> None:
    """Drain the outbox into the search index, publish the daily dumps and push to the
    upstream hubs; until SIGTERM."""
    # here: the pusher and its HTTP client load for this command, not for every one
    from hub.federation.pusher import PushFailed, in_background, run_forever, running_names

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)  # a line per request
    settings = state(ctx).settings
    target = _target(ctx)
    engine = state(ctx).engine()
    daily = None
    if export and not once:
        from exports.schedule import DailyExport
        from hub.flags.asof import FlagDays

        daily = DailyExport(engine, settings.export_root, _clock(settings.export_at),
                            publication=settings.publication(), flags=FlagDays)  # fmt: skip
    pushing = None
    if push and not once:
        pushing = in_background(
            engine, max(poll, 1.0), lambda line: err.print(line, highlight=False)
        )
    try:
        stats = worker.run(engine, target, once=once, batch=batch, poll=poll, tick=daily)
    except outbox.TargetUnavailable as exc:
        err.print(f"[red]error:[/red] Elasticsearch is unreachable ({exc}); changes stay queued")
        raise typer.Exit(1) from None
    finally:
        if pushing is not None:
            pushing.set()
    if push and once:
        try:
            run_forever(engine, lambda: running_names(engine), once=True,
                        log=lambda line: err.print(line, highlight=False))  # fmt: skip
        except (PushFailed, UpstreamError) as exc:
            err.print(f"[red]error:[/red] push: {exc}", highlight=False)
            raise typer.Exit(1) from None
    out.print(
        f"indexed {stats.indexed:,} documents in {stats.batches:,} batches; "
        f"{stats.parked:,} parked; {stats.outages:,} outages",
        highlight=False,
    )


def _clock(value: str) -> time:
    try:
        return datetime.strptime(value, "%H:%M").time()
    except ValueError:
        err.print(f"[red]error:[/red] CAIGOU_EXPORT_AT takes HH:MM (Beijing time), not {value!r}")
        raise typer.Exit(2) from None


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Lag (outbox depth, oldest pending change, parked) and index against database counts."""
    report = worker.status(state(ctx).engine(), _target(ctx))
    oldest = report["oldest_pending"]
    out.print(
        f"outbox: {report['pending']:,} pending (oldest {oldest or '—'}), "
        f"{report['parked']:,} parked",
        highlight=False,
    )
    if report["rebuilding"]:
        out.print(f"rebuild running into {report['rebuilding']}", highlight=False)
    table = Table("kind", "database", "index", "missing")
    for kind, counts in report["kinds"].items():
        indexed = counts["index"]
        missing = "?" if indexed is None else f"{counts['database'] - indexed:,}"
        shown = "unavailable" if indexed is None else f"{indexed:,}"
        table.add_row(kind, f"{counts['database']:,}", shown, missing)
    out.print(table)


@app.command("parked")
def parked(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Rows to show.", min=1)] = 100,
) -> None:
    """Changes given up on after repeated failures, with their last error."""
    with state(ctx).engine().connect() as conn:
        rows = outbox.parked_rows(conn, limit)
    if not rows:
        out.print("no parked changes")
        return
    table = Table("id", "kind", "record", "attempts", "parked at", "last error")
    for row in rows:
        table.add_row(
            str(row.id), row.kind, str(row.record_pk), str(row.attempts),
            str(row.parked_at), (row.last_error or "")[:200],
        )  # fmt: skip
    out.print(table)


@app.command("retry-parked")
def retry_parked(ctx: typer.Context) -> None:
    """Put every parked change back in line (after fixing what made it fail)."""
    with state(ctx).engine().begin() as conn:
        count = outbox.retry_parked(conn)
    out.print(f"{count:,} parked changes queued again", highlight=False)


@index_app.command("rebuild")
def rebuild(
    ctx: typer.Context,
    batch: Annotated[int, typer.Option(help="Documents per bulk request.", min=1)] = 1000,
) -> None:
    """Build new indices from the database and swap the aliases; searches keep working."""
    target = _target(ctx)
    if hasattr(target, "swap_aliases"):
        counts = worker.rebuild(state(ctx).engine(), target, batch=batch)
    else:  # the embedded index refills itself in one transaction
        counts = target.rebuild(batch=batch)
    summary = ", ".join(f"{kind} {n:,}" for kind, n in counts.items())
    out.print(f"rebuilt and swapped: {summary}", highlight=False)
