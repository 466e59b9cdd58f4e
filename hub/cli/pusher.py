"""caigou pusher run / status / parked / retry-parked: the push to upstream hubs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from hub.cli.context import err, out, state
from hub.federation.status import statuses
from hub.federation.upstreams import UpstreamError, find_upstream
from schema.tables import PUSH_PARKED, UPSTREAMS

app = typer.Typer(help="Push accepted records to the upstream hubs (联网推送).",
                  no_args_is_help=True)  # fmt: skip


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="pusher")


@app.command("run")
def run(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option(help="Push what is queued, then exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls.", min=0.05)] = 2.0,
) -> None:
    """Push the change feed to every upstream that is not paused; retries with backoff."""
    # here: the pusher and its HTTP client load for the commands that push, not for all
    from hub.federation.pusher import PushFailed, run_forever, running_names

    engine = state(ctx).engine()
    try:
        run_forever(engine, lambda: running_names(engine), interval=interval, once=once,
                    log=lambda line: err.print(line, highlight=False))  # fmt: skip
    except (PushFailed, UpstreamError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Per upstream: queue depth, oldest pending's age, parked records, last error."""
    with state(ctx).engine().connect() as conn:
        rows = statuses(conn)
    table = Table("upstream", "kinds", "state", "backlog", "oldest pending", "parked",
                  "last push", "last error")  # fmt: skip
    for row in rows:
        age = f"{row.oldest_age_seconds:,.0f} s" if row.oldest_pending else "-"
        table.add_row(row.name, ",".join(row.kinds), "paused" if row.paused else "running",
                      f"{row.backlog:,}", age, f"{row.parked:,}",
                      str(row.last_pushed_at or "-"), row.last_error or "-")  # fmt: skip
    out.print(table)


@app.command("parked")
def parked(ctx: typer.Context, name: Annotated[str | None, typer.Argument()] = None) -> None:
    """Records an upstream refused, with its reason."""
    p, u = PUSH_PARKED.c, UPSTREAMS.c
    query = (select(u.name, p.seq, p.kind, p.record_id, p.parked_at, p.reason)
             .join(UPSTREAMS, u.id == p.upstream_id).order_by(u.name, p.seq))  # fmt: skip
    if name:
        query = query.where(u.name == name)
    with state(ctx).engine().connect() as conn:
        if name:
            try:
                find_upstream(conn, name)
            except UpstreamError as exc:
                err.print(f"[red]error:[/red] {exc}", highlight=False)
                raise typer.Exit(2) from None
        rows = conn.execute(query).all()
    table = Table("upstream", "seq", "kind", "record", "parked", "reason")
    for row in rows:
        table.add_row(row.name, str(row.seq), row.kind, str(row.record_id), str(row.parked_at),
                      row.reason)  # fmt: skip
    out.print(table)


@app.command("retry-parked")
def retry(
    ctx: typer.Context,
    name: str,
    seq: Annotated[int | None, typer.Option(help="Only this change.")] = None,
) -> None:
    """Send NAME's parked records again; those accepted now leave the park."""
    from hub.federation.pusher import PushFailed, retry_parked  # here: as in `run`

    try:
        report = retry_parked(state(ctx).engine(), name, seq)
    except (PushFailed, UpstreamError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"{report.sent:,} sent again: {report.accepted:,} accepted, "
              f"{report.duplicates:,} duplicates, {report.parked:,} still parked",
              highlight=False)  # fmt: skip
