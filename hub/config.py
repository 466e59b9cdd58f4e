"""Settings from the environment, overridable on the command line."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///caigou.db"

# Each setting: environment variable, default, meaning. The README's table is checked
# against this by tests/test_docs.py.
SETTINGS = {
    "database_url": ("CAIGOU_DATABASE_URL", DEFAULT_DATABASE_URL,
                     "SQLAlchemy URL; SQLite file in the working folder by default, "
                     "postgresql://user@host/db for deployments"),
    "export_root": ("CAIGOU_EXPORT_ROOT", "exports-out",
                    "where daily dumps are written (folder or pyarrow.fs URL)"),
    "elasticsearch_url": ("CAIGOU_ELASTICSEARCH_URL", "",
                          "Elasticsearch base URL; empty means search runs on the database"),
    "public_url": ("CAIGOU_PUBLIC_URL", "http://127.0.0.1:8000",
                   "the hub's public base URL, written into the OCDS packages' uri"),
    "export_at": ("CAIGOU_EXPORT_AT", "01:00",
                  "Beijing time (HH:MM) at which `caigou indexer run` publishes yesterday's "
                  "dumps, catching up any day missed"),
    "index_prefix": ("CAIGOU_INDEX_PREFIX", "caigou",
                     "names of the Elasticsearch aliases (`<prefix>-notice` …): several hubs "
                     "can share a cluster"),
    "query_timeout": ("CAIGOU_QUERY_TIMEOUT", "10",
                      "seconds a read statement of a request may run (0: no limit)"),
    "max_query_bytes": ("CAIGOU_MAX_QUERY_BYTES", "100000",
                        "largest GraphQL query text accepted, comments and blanks included"),
}  # fmt: skip


@dataclass(frozen=True)
class Settings:
    database_url: str
    export_root: str
    elasticsearch_url: str | None
    index_prefix: str = "caigou"
    export_at: str = "01:00"
    public_url: str = "http://127.0.0.1:8000"
    query_timeout: float = 10.0
    max_query_bytes: int = 100_000

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {name: env.get(var, default) for name, (var, default, _) in SETTINGS.items()}
        return cls(
            database_url=values["database_url"],
            export_root=values["export_root"],
            elasticsearch_url=values["elasticsearch_url"] or None,
            index_prefix=values["index_prefix"],
            export_at=values["export_at"],
            public_url=values["public_url"],
            query_timeout=float(values["query_timeout"]),
            max_query_bytes=int(values["max_query_bytes"]),
        )

    def override(self, **changes: str | float | None) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def publication(self) -> Any:
        """Where the OCDS packages say they are published: this hub's /downloads/."""
        from exports.ocds import Publication

        return Publication(base_uri=f"{self.public_url.rstrip('/')}/downloads")

    @property
    def export_path(self) -> Path:
        return Path(self.export_root)
