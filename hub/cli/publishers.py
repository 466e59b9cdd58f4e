"""caigou publisher add / list / rotate / revoke / audit."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from hub.cli.context import err, out, state
from hub.publishing.errors import PublisherError
from hub.publishing.publishers import (
    DEFAULT_GRACE,
    add_publisher,
    list_publishers,
    publish_audit,
    revoke_publisher,
    rotate_publisher,
)
from schema.types import PublisherRole, RecordKind

AUDIT_KEYS = ("id", "started_at", "finished_at", "source", "record_kind", "mode", "status",
              "total", "accepted", "duplicates", "rejected", "digest")  # fmt: skip
AUDIT_COLUMNS = ("batch", "started", "finished", "source", "kind", "mode", "outcome", "read",
                 "accepted", "duplicates", "refused", "sha256")  # fmt: skip
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


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    name: str,
    grace: Annotated[
        float,
        typer.Option(help="Hours the current token keeps working (0: it stops at once)."),
    ] = DEFAULT_GRACE.total_seconds() / 3600,
) -> None:
    """Give a publisher a new token (printed once); the old one works for the grace period."""
    with state(ctx).engine().begin() as conn:
        try:
            token, expires = rotate_publisher(conn, name, timedelta(hours=grace))
        except (PublisherError, ValueError) as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    until = f"until {expires:%Y-%m-%d %H:%M:%S} (UTC+8)" if expires else "no longer"
    out.print(f"rotated {name}; the old token works {until}; the new token (shown only now):",
              highlight=False)  # fmt: skip
    print(token)


@app.command("audit")
def audit(
    ctx: typer.Context,
    name: str,
    limit: Annotated[int, typer.Option(help="At most this many batches, newest first.")] = 50,
) -> None:
    """List a publisher's batches, newest first: when, source, outcome, counts and the
    SHA-256 of what was sent (tab-separated)."""
    with state(ctx).engine().connect() as conn:
        try:
            rows = publish_audit(conn, name, limit)
        except PublisherError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    # Tab-separated and never cut to the terminal's width: the digests are compared whole.
    print("\t".join(AUDIT_COLUMNS))
    for row in rows:
        print("\t".join("" if row[c] is None else str(row[c]) for c in AUDIT_KEYS))
    err.print(f"{len(rows)} batches shown (UTC+8)", highlight=False)
