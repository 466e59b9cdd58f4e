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
    "search_timeout": ("CAIGOU_SEARCH_TIMEOUT", "2",
                       "seconds a search waits for Elasticsearch to connect and to answer"),
    "search_failures": ("CAIGOU_SEARCH_FAILURES", "5",
                        "search failures in a row that open the circuit breaker"),
    "search_cool_down": ("CAIGOU_SEARCH_COOL_DOWN", "30",
                         "seconds an open breaker fails searches at once before trying again"),
}  # fmt: skip


@dataclass(frozen=True)
class Settings:
    database_url: str
    export_root: str
    elasticsearch_url: str | None
    index_prefix: str = "caigou"
    export_at: str = "01:00"
    public_url: str = "http://127.0.0.1:8000"
    search_timeout: float = 2.0
    search_failures: int = 5
    search_cool_down: float = 30.0

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
            search_timeout=_number(values, "search_timeout", float),
            search_failures=_number(values, "search_failures", int),
            search_cool_down=_number(values, "search_cool_down", float),
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


def _number(values: dict[str, str], name: str, kind: type[float] | type[int]) -> Any:
    """A positive number, or an error that names the variable."""
    variable, text = SETTINGS[name][0], values[name]
    try:
        number = kind(text)
    except ValueError:
        number = 0
    if number <= 0:
        raise ValueError(f"{variable}={text!r}: a positive {kind.__name__} is needed")
    return number
