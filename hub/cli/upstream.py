"""caigou upstream add / list / remove / pause / resume: the hubs this hub pushes to."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hub.cli.context import err, out, state
from hub.federation.upstreams import (
    UpstreamError,
    add_upstream,
    list_upstreams,
    read_kinds,
    remove_upstream,
    set_paused,
)

app = typer.Typer(help="Upstream hubs this hub pushes its records to (联网推送).",
                  no_args_is_help=True)  # fmt: skip


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="upstream")


def _refused(exc: UpstreamError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(2)


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the upstream.")],
    url: Annotated[str, typer.Argument(help="The upstream hub's base URL.")],
    token_file: Annotated[
        str, typer.Option(help="File holding the token the upstream gave this hub.")
    ],
    kinds: Annotated[
        list[str] | None, typer.Option(help="Kinds to push (notice,transaction,penalty).")
    ] = None,
    from_start: Annotated[
        bool, typer.Option(help="Push every record held (default: only what arrives now on).")
    ] = False,
) -> None:
    """Add an upstream; its token stays in the file, read at each push, never printed."""
    try:
        with state(ctx).engine().begin() as conn:
            upstream = add_upstream(conn, name, url, token_file, read_kinds(kinds),
                                    from_start=from_start)  # fmt: skip
    except UpstreamError as exc:
        raise _refused(exc) from None
    start = "from the first change" if from_start else f"after change {upstream.cursor}"
    out.print(f"added upstream {upstream.name} ({upstream.url}); pushing "
              f"{','.join(k.value for k in upstream.kinds)} {start}", highlight=False)  # fmt: skip


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """The upstreams, their kinds and cursors (tokens never shown)."""
    with state(ctx).engine().connect() as conn:
        rows = list_upstreams(conn)
    table = Table("name", "url", "kinds", "cursor", "state", "token file")
    for row in rows:
        table.add_row(row.name, row.url, ",".join(k.value for k in row.kinds), str(row.cursor),
                      "paused" if row.paused_at else "running", row.token_file)  # fmt: skip
    out.print(table)


def _change(ctx: typer.Context, name: str, action: str) -> None:
    try:
        with state(ctx).engine().begin() as conn:
            if action == "removed":
                remove_upstream(conn, name)
            else:
                set_paused(conn, name, action == "paused")
    except UpstreamError as exc:
        raise _refused(exc) from None
    out.print(f"{action} upstream {name}", highlight=False)


@app.command("remove")
def remove(ctx: typer.Context, name: str) -> None:
    """Stop pushing to NAME and forget its cursor and parked records."""
    _change(ctx, name, "removed")


@app.command("pause")
def pause(ctx: typer.Context, name: str) -> None:
    """Stop pushing to NAME; its cursor is kept."""
    _change(ctx, name, "paused")


@app.command("resume")
def resume(ctx: typer.Context, name: str) -> None:
    """Push to NAME again, from where it stopped."""
    _change(ctx, name, "resumed")
