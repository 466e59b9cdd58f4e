"""caigou publisher add / list / revoke."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hub.cli.context import err, out, state
from hub.publishing.errors import PublisherError
from hub.publishing.publishers import add_publisher, list_publishers, revoke_publisher
from schema.types import PublisherRole, RecordKind

app = typer.Typer(
    help="Publishers: who may push which records for which regions.", no_args_is_help=True
)


@app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    role: Annotated[PublisherRole, typer.Option(help="What kind of publisher it is.")],
    region: Annotated[
        list[str], typer.Option(help="Division code it covers; repeat. 100000 = all.")
    ],
    kind: Annotated[list[RecordKind], typer.Option(help="Record kind it may publish; repeat.")],
    source_site: Annotated[
        str | None, typer.Option(help="Its site, recorded on each record.")
    ] = None,
) -> None:
    """Add a publisher and print its API token (shown once, stored hashed)."""
    with state(ctx).engine().begin() as conn:
        try:
            account, token = add_publisher(conn, name, role, region, kind, source_site)
        except ValueError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    out.print(f"added publisher {account.name}; its token (shown only now):", highlight=False)
    print(token)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List publishers and their scopes."""
    with state(ctx).engine().connect() as conn:
        rows = list_publishers(conn)
    table = Table("name", "role", "regions", "kinds", "source site", "revoked")
    for row in rows:
        table.add_row(
            *(
                str(row[k] or "")
                for k in ("name", "role", "regions", "kinds", "source_site", "revoked_at")
            )
        )
    out.print(table)


@app.command("revoke")
def revoke(ctx: typer.Context, name: str) -> None:
    """Revoke a publisher's token; what it published stays."""
    with state(ctx).engine().begin() as conn:
        try:
            revoke_publisher(conn, name)
        except PublisherError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    out.print(f"revoked {name}")
