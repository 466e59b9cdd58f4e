"""caigou: set up the database, manage publishers, ingest records, build the demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hub.cli import (
    db,
    demo,
    export,
    flags,
    indexer,
    mirror,
    publishers,
    pusher,
    serve,
    upstream,
)
from hub.cli.context import AppState, err, out, state
from hub.config import Settings
from hub.publishing.errors import BatchRejected, FieldError, PublisherError
from schema.db import current_revision, head_revision, upgrade
from schema.types import RecordKind

app = typer.Typer(help="caigou-hub: government procurement disclosure data hub (政府采购信息公开).",
                  no_args_is_help=True, pretty_exceptions_enable=False)  # fmt: skip
db_app = typer.Typer(
    help="Database migrations (Alembic), backup and restore.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
db.register(db_app)
app.add_typer(publishers.app, name="publisher")
demo.register(app)
serve.register(app)
indexer.register(app)
export.register(app)
flags.register(app)
mirror.register(app)
upstream.register(app)
pusher.register(app)


@app.callback()
def main(
    ctx: typer.Context,
    database_url: Annotated[str | None, typer.Option(help="Overrides CAIGOU_DATABASE_URL.")] = None,
    export_root: Annotated[str | None, typer.Option(help="Overrides CAIGOU_EXPORT_ROOT.")] = None,
    elasticsearch_url: Annotated[
        str | None, typer.Option(help="Overrides CAIGOU_ELASTICSEARCH_URL.")
    ] = None,
    index_prefix: Annotated[str | None, typer.Option(help="Overrides CAIGOU_INDEX_PREFIX.")] = None,
    export_at: Annotated[str | None, typer.Option(help="Overrides CAIGOU_EXPORT_AT.")] = None,
    public_url: Annotated[str | None, typer.Option(help="Overrides CAIGOU_PUBLIC_URL.")] = None,
    data_license: Annotated[str | None, typer.Option(help="Overrides CAIGOU_DATA_LICENSE.")] = None,
    search_timeout: Annotated[
        float | None, typer.Option(help="Overrides CAIGOU_SEARCH_TIMEOUT.", min=0.01)
    ] = None,
    search_failures: Annotated[
        int | None, typer.Option(help="Overrides CAIGOU_SEARCH_FAILURES.", min=1)
    ] = None,
    search_cool_down: Annotated[
        float | None, typer.Option(help="Overrides CAIGOU_SEARCH_COOL_DOWN.", min=0.01)
    ] = None,
) -> None:
    try:
        environment = Settings.from_env()
    except ValueError as exc:  # a malformed setting, named
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    settings = environment.override(
        database_url=database_url, export_root=export_root,
        elasticsearch_url=elasticsearch_url, index_prefix=index_prefix, export_at=export_at,
        public_url=public_url, search_timeout=search_timeout, search_failures=search_failures,
        search_cool_down=search_cool_down, data_license=data_license,
    )  # fmt: skip
    ctx.obj = AppState(settings)
    ctx.call_on_close(ctx.obj.close)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply all migrations."""
    engine = state(ctx).engine(migrate=False)
    upgrade(engine)
    out.print(f"database at migration {current_revision(engine)} (head {head_revision()})")


@app.command("graphql-schema")
def graphql_schema() -> None:
    """Print the GraphQL schema (SDL); schema.graphql in the repository is this output."""
    from hub.graphql.schema import schema

    print(str(schema))


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the database's migration and the code's."""
    engine = state(ctx).engine(migrate=False)
    out.print(f"database: {current_revision(engine) or 'empty'}; code: {head_revision()}")


def _progress(position: int) -> None:
    if position == 10_000 or position % 100_000 == 0:
        err.print(f"… {position:,} records read", highlight=False)


@app.command()
def ingest(
    ctx: typer.Context,
    files: Annotated[
        list[Path], typer.Argument(exists=True, dir_okay=False, help="Files to ingest.")
    ],
    publisher: Annotated[str, typer.Option(help="Publisher name (see `caigou publisher list`).")],
    partial: Annotated[
        bool, typer.Option(help="Accept valid records; refused ones go to FILE.rejects.ndjson.")
    ] = False,
    kind: Annotated[
        RecordKind | None, typer.Option(help="Record kind; guessed when absent.")
    ] = None,
    source_site: Annotated[str | None, typer.Option(help="Site the records came from.")] = None,
    relays: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Relay metadata (转发): NDJSON, one object or null per record.",
        ),
    ] = None,
) -> None:
    """Ingest OCDS release packages, transaction or penalty CSV/NDJSON files."""
    if relays is not None and len(files) > 1:
        err.print("[red]--relays[/red] goes with one file: its lines follow that file's records")
        raise typer.Exit(2)
    from hub.publishing import ingest_file  # here: the other commands start without the pipeline
    from hub.publishing.readers import file_encoding

    engine = state(ctx).engine()
    failed = False
    for path in files:
        try:
            result = ingest_file(
                engine, path, publisher, kind=kind, partial=partial, source_site=source_site,
                progress=_progress, hub=state(ctx).settings.public_url, relays=relays,
            )  # fmt: skip
        except PublisherError as exc:
            err.print(f"[red]refused:[/red] {exc}")
            raise typer.Exit(2) from None
        except FieldError as exc:  # a file the pipeline cannot read at all (its kind unknown)
            err.print(f"[red]{path.name}[/red]: refused, nothing written: {exc}", highlight=False)
            failed = True
            continue
        counts = (f"{result.total:,} read, {result.accepted:,} accepted, "
                  f"{result.duplicates:,} duplicates, {result.rejected:,} rejected")  # fmt: skip
        for warning in result.warnings:
            err.print(f"[yellow]{path.name}[/yellow]: warning: {warning}", highlight=False)
        if result.status == "rejected":
            failed = True
            err.print(f"[red]{path.name}[/red]: {BatchRejected(result.refusals, result.total)}")
            err.print(counts, highlight=False)
            continue
        out.print(f"{path.name}: {result.kind} batch {result.status}: {counts}", highlight=False)
        if result.kind is not RecordKind.notice and file_encoding(path) == "gb18030":
            out.print(f"{path.name}: read as GB18030 (GBK), not UTF-8", highlight=False)
        if result.rejects_path:
            out.print(f"refused records with reasons: {result.rejects_path}", highlight=False)
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
