"""caigou flags rebuild / list: consistency flags for supervisors (86号 (九))."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from hub.cli.context import out, state
from schema.severity import severity_rank
from schema.tables import FLAGS, PROJECTS

app = typer.Typer(help="Consistency flags: disclosure deadlines and stages compared.",
                  no_args_is_help=True)  # fmt: skip


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="flags")


@app.command("rebuild")
def rebuild(ctx: typer.Context) -> None:
    """Recompute every flag from the projects and transactions (run daily: some rules
    depend on today's date)."""
    from hub.flags import rebuild as rebuild_flags  # here: the rules load for this command

    counts = rebuild_flags(state(ctx).engine())
    out.print(
        f"{counts['projects']:,} projects checked: {counts['project_flags']:,} project flags, "
        f"{counts['transaction_flags']:,} transaction flags",
        highlight=False,
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    code: Annotated[str | None, typer.Option(help="Only this rule code.")] = None,
    severity: Annotated[str | None, typer.Option(help="Only high, medium or low.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 100,
) -> None:
    """List flags, most severe first, with the project and the reason."""
    query = select(FLAGS, PROJECTS.c.ocid).outerjoin(PROJECTS, PROJECTS.c.id == FLAGS.c.project_id)
    if code:
        query = query.where(FLAGS.c.code == code.upper())
    if severity:
        query = query.where(FLAGS.c.severity == severity.lower())
    with state(ctx).engine().connect() as conn:
        found = conn.execute(query.order_by(FLAGS.c.id)).all()
    rows = sorted(found, key=lambda r: (severity_rank(r.severity), r.id))
    table = Table("severity", "code", "project / transaction", "notices", "message")
    for row in rows[:limit]:
        target = row.ocid or (f"transaction {row.transaction_id}" if row.transaction_id else "")
        table.add_row(row.severity, row.code, target, row.notice_ids or "", row.message)
    out.print(table)
    out.print(f"{len(rows):,} flags" + (f", first {limit} shown" if len(rows) > limit else ""),
              highlight=False)  # fmt: skip
