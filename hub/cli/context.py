"""What every command gets: settings and a database brought up to date."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer
from rich.console import Console
from sqlalchemy import Engine

from hub.config import Settings
from hub.publishing.ingestlog import mark_interrupted
from schema.db import SchemaOutOfDate, ensure_schema, make_engine

err = Console(stderr=True)
out = Console()


@dataclass
class AppState:
    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)

    def engine(self, *, migrate: bool = True) -> Engine:
        """The engine, with the schema upgraded (SQLite) or checked (PostgreSQL), and the
        ingestion log cleared of batches whose process died mid-way."""
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
            if migrate:
                try:
                    ensure_schema(self._engine)
                except SchemaOutOfDate as exc:
                    err.print(f"[red]error:[/red] {exc}")
                    raise typer.Exit(2) from None
                for ingestion in mark_interrupted(self._engine):
                    err.print(f"ingestion {ingestion} was interrupted: marked so in the log",
                              highlight=False)  # fmt: skip
        return self._engine

    def close(self) -> None:
        """Close the pooled connections: the command may run inside another process (tests)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def state(ctx: typer.Context) -> AppState:
    return ctx.find_object(AppState)  # type: ignore[return-value]
