"""What every command gets: settings and a database brought up to date."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer
from rich.console import Console
from sqlalchemy import Engine

from hub.config import Settings
from schema.db import SchemaOutOfDate, ensure_schema, make_engine

err = Console(stderr=True)
out = Console()


@dataclass
class AppState:
    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)

    def engine(self, *, migrate: bool = True) -> Engine:
        """The engine, with the schema upgraded (SQLite) or checked (PostgreSQL)."""
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
            if migrate:
                try:
                    ensure_schema(self._engine)
                except SchemaOutOfDate as exc:
                    err.print(f"[red]error:[/red] {exc}")
                    raise typer.Exit(2) from None
        return self._engine


def state(ctx: typer.Context) -> AppState:
    return ctx.find_object(AppState)  # type: ignore[return-value]
