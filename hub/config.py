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
                   "the hub's public base URL, written into the OCDS packages' uri; this "
                   "hub's name on relay paths"),
    "data_license": ("CAIGOU_DATA_LICENSE", "https://creativecommons.org/licenses/by/4.0/",
                     "URL of the licence of the hub's compilation in the dumps (CC BY 4.0 by "
                     "default); publishers' own terms stay theirs"),
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
# No option of `caigou serve`: read from the environment alone, which workers inherit.
PLANNER = ("CAIGOU_PLANNER", "on", "`on`: each GraphQL root field the planner covers is one "
           "SQL statement; `off`: every field goes through the resolvers")  # fmt: skip

# Limits of the HTTP edge (hub/edge) and of GraphQL: numbers, options of `caigou serve`,
# handed to every worker.
LIMITS = {
    "query_timeout": ("CAIGOU_QUERY_TIMEOUT", "10",
                      "seconds a read statement of a request may run (0: no limit)"),
    "request_timeout": ("CAIGOU_REQUEST_TIMEOUT", "30",
                        "seconds the read statements of one GraphQL request may run in all, so "
                        "aliases cannot multiply CAIGOU_QUERY_TIMEOUT (0: no limit)"),
    "max_query_bytes": ("CAIGOU_MAX_QUERY_BYTES", "100000",
                        "largest GraphQL query text accepted, comments and blanks included"),
    "max_body_bytes": ("CAIGOU_MAX_BODY_BYTES", "1048576",
                       "largest request body without `Authorization: Bearer` (queries, pages)"),
    "max_publish_bytes": ("CAIGOU_MAX_PUBLISH_BYTES", "67108864",
                          "largest request body with a live publisher's bearer token"),
    "rate_limit": ("CAIGOU_RATE_LIMIT", "600",
                   "requests a minute per client address and per bearer token; 0 disables"),
    "header_timeout": ("CAIGOU_HEADER_TIMEOUT", "10",
                       "seconds a client has to send a complete request head"),
    "body_timeout": ("CAIGOU_BODY_TIMEOUT", "60",
                     "seconds a client has to send a request body, once its head is in"),
    "keep_alive_timeout": ("CAIGOU_KEEP_ALIVE_TIMEOUT", "5",
                           "seconds an idle keep-alive connection stays open"),
    "max_header_bytes": ("CAIGOU_MAX_HEADER_BYTES", "65536",
                         "largest request head (request line and headers)"),
    "workers": ("CAIGOU_WORKERS", "0",
                "worker processes of `caigou serve`; 0: one per core on PostgreSQL, and "
                "always one on SQLite (one writer at a time)"),
}  # fmt: skip
SETTINGS.update(LIMITS)


def _number(name: str, raw: str) -> float:
    """A limit from the environment, refused by name when it is not a number >= 0."""
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"{LIMITS[name][0]} must be a number >= 0, not {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str
    export_root: str
    elasticsearch_url: str | None
    index_prefix: str = "caigou"
    export_at: str = "01:00"
    public_url: str = "http://127.0.0.1:8000"
    data_license: str = SETTINGS["data_license"][1]
    query_timeout: float = float(LIMITS["query_timeout"][1])
    request_timeout: float = float(LIMITS["request_timeout"][1])
    max_query_bytes: int = int(LIMITS["max_query_bytes"][1])
    max_body_bytes: int = int(LIMITS["max_body_bytes"][1])
    max_publish_bytes: int = int(LIMITS["max_publish_bytes"][1])
    rate_limit: int = int(LIMITS["rate_limit"][1])
    header_timeout: float = float(LIMITS["header_timeout"][1])
    body_timeout: float = float(LIMITS["body_timeout"][1])
    keep_alive_timeout: float = float(LIMITS["keep_alive_timeout"][1])
    max_header_bytes: int = int(LIMITS["max_header_bytes"][1])
    workers: int = int(LIMITS["workers"][1])
    search_timeout: float = 2.0
    search_failures: int = 5
    search_cool_down: float = 30.0
    planner: bool = True

    def __post_init__(self) -> None:
        for name, (variable, _, _) in LIMITS.items():
            if not getattr(self, name) >= 0:
                option = "--" + name.replace("_", "-")
                raise ValueError(f"{variable} ({option}) must be >= 0, not {getattr(self, name)}")

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
            data_license=values["data_license"] or SETTINGS["data_license"][1],
            search_timeout=_positive(values, "search_timeout", float),
            search_failures=_positive(values, "search_failures", int),
            search_cool_down=_positive(values, "search_cool_down", float),
            planner=_switch(env.get(PLANNER[0], PLANNER[1])),
            **{name: type(getattr(cls, name))(_number(name, values[name])) for name in LIMITS},
        )

    def environ(self) -> dict[str, str]:
        """Every setting as its environment variable: worker processes read them at start."""
        values = {name: getattr(self, name) for name in SETTINGS}
        return {var: "" if values[name] is None else str(values[name])
                for name, (var, _, _) in SETTINGS.items()}  # fmt: skip

    def override(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def publication(self) -> Any:
        """Where the OCDS packages say they are published (this hub's /downloads/), and the
        licence: CAIGOU_DATA_LICENSE, with /downloads/policy as the publication policy."""
        from exports.ocds import Publication

        return Publication(base_uri=f"{self.public_url.rstrip('/')}/downloads",
                           licence=self.licence())  # fmt: skip

    def licence(self) -> Any:
        """The dumps' licence and provenance (exports.licence.Licence)."""
        from exports.licence import Licence

        return Licence(url=self.data_license,
                       policy=f"{self.public_url.rstrip('/')}/downloads/policy")  # fmt: skip

    @property
    def export_path(self) -> Path:
        return Path(self.export_root)


def _positive(values: dict[str, str], name: str, kind: type[float] | type[int]) -> Any:
    """A positive number, or an error that names the variable."""
    variable, text = SETTINGS[name][0], values[name]
    try:
        number = kind(text)
    except ValueError:
        number = 0
    if number <= 0:
        raise ValueError(f"{variable}={text!r}: a positive {kind.__name__} is needed")
    return number


def _switch(text: str) -> bool:
    """CAIGOU_PLANNER: `on` or `off` (true/false, 1/0 too), or an error that names it."""
    switch = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}
    if text.strip().lower() not in switch:
        raise ValueError(f"{PLANNER[0]}={text!r}: `on` or `off` is needed")
    return switch[text.strip().lower()]
