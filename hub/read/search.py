"""One search hydration: a page of hits → their records, for GraphQL `search` and the `/` page.

A backend (Elasticsearch or SQLite FTS5) answers with record keys, scores and highlights; the
records themselves come from the database, so a hit shows exactly what the rest of the hub
shows. Both sides read them here, one statement per kind, the parties of transactions and
the projects of notices joined into the same statement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import cache, lru_cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, Dialect, Select, any_, bindparam, literal_column, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import aliased

from indexer.search import Hit
from schema.catalogue import public_fields
from schema.codes import item_catalogue
from schema.divisions import region_name
from schema.tables import NOTICES, PENALTY_RECORDS, PROJECTS, TRANSACTIONS
from schema.tables import PARTIES as PARTIES_TABLE
from schema.types import CHANNEL_LABELS, NOTICE_TYPE_LABELS, Channel, NoticeType

TABLES: dict[str, Any] = {
    "notice": NOTICES,
    "transaction": TRANSACTIONS,
    "party": PARTIES_TABLE,
    "penalty": PENALTY_RECORDS,
}
PARTIES = TABLES["party"]
SIDES = ("purchaser", "supplier")  # a transaction's parties, by the key they appear under
PROJECT_COLUMNS = ("region_code", "category_code", "category_edition")  # what a notice shows
Key = tuple[str, int]
Record = dict[str, Any]


@lru_cache(maxsize=4096)
def facet_label(facet: str, key: str) -> str | None:
    """A facet value's Chinese name, where there is one. Cached: the same few hundred codes
    label every page's facets."""
    if facet == "notice_type" and key in NoticeType.__members__:
        return NOTICE_TYPE_LABELS[NoticeType(key)]
    if facet == "channel" and key in Channel.__members__:
        return CHANNEL_LABELS[Channel(key)]
    if facet == "category":
        item = item_catalogue().get(key)
        return item.name if item else None
    if facet == "region":
        return region_name(key)
    return None


@cache
def shown_columns(kind: str) -> tuple[str, ...]:
    """The columns the hub may show of a kind: its public fields and key (no raw payloads)."""
    table = TABLES[kind]
    return ("id", *(s.name for s in public_fields(table.name) if s.name != "id"))


def hydrate(
    conn: Connection,
    hits: Iterable[Hit],
    kinds: Collection[str] | None = None,
    *,
    columns: Mapping[str, Sequence[str]] | None = None,
    parties: bool | Sequence[str] = False,
    projects: bool = False,
) -> dict[Key, Record]:
    """The records of `hits` by (kind, pk): one statement per kind among `kinds` (None: all).

    `columns` narrows a kind's columns (default: all shown); `parties` adds each transaction's
    `purchaser` and `supplier` (their shown columns, or those named, and `id`, as records of
    their own: each column of a party is read twice, so only those shown); `projects`
    adds each notice's `project` (region and category). A hit whose record is gone (deleted
    since it was indexed) has no entry.
    """
    jobs = hydration(conn.dialect, hits, kinds, columns=columns, parties=parties,
                     projects=projects)  # fmt: skip
    return records(jobs, _rows(conn, jobs))


Job = tuple[str, Select[Any], "_Shape", list[int]]  # kind, statement, its shape, the pks


def hydration(
    dialect: Dialect,
    hits: Iterable[Hit],
    kinds: Collection[str] | None = None,
    *,
    columns: Mapping[str, Sequence[str]] | None = None,
    parties: bool | Sequence[str] = False,
    projects: bool = False,
) -> list[Job]:
    """`hydrate`'s statements, one per kind, not yet run: `driver_statements` gives them to
    an async driver (hub/pg_reads.py), `records` reads what they return."""
    wanted: dict[str, list[int]] = defaultdict(list)
    for hit in hits:
        if kinds is None or hit.kind in kinds:
            wanted[hit.kind].append(hit.pk)
    jobs: list[Job] = []
    for kind, pks in wanted.items():
        names = tuple(columns[kind]) if columns and kind in columns else shown_columns(kind)
        names = names if "id" in names else ("id", *names)
        joined = bool(parties and kind == "transaction") or (projects and kind == "notice")
        sides = _party_columns(parties) if joined and kind == "transaction" else ()
        statement = _statement(kind, names, joined, dialect.name, sides)
        jobs.append((kind, statement, _shape(statement, dialect), pks))
    return jobs


def driver_statements(jobs: list[Job]) -> list[tuple[str, dict[str, Any]]]:
    """Each job's (text, parameters) as psycopg takes them (PostgreSQL's compiled texts)."""
    return [(shape.sql, {"ids": pks}) for _, _, shape, pks in jobs]


def records(
    jobs: list[Job], rows: Sequence[Sequence[Any]], *, raw: bool = False
) -> dict[Key, Record]:
    """The records of each job's rows (`rows[i]` for `jobs[i]`), by (kind, pk); `raw`: as
    the driver gave them, their column types' reading still to apply."""
    found: dict[Key, Record] = {}
    for (kind, _, shape, _), got in zip(jobs, rows, strict=True):
        for row in _processed(list(got), shape) if raw else got:
            found[(kind, row[0])] = shape.record(row)
    return found


@dataclass(frozen=True)
class _Shape:
    """How one cached statement runs on one dialect and how its rows become records."""

    sql: str  # the statement's text, compiled once
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column, its type's reading)
    own: tuple[str, ...]  # the kind's own columns, first in each row
    nested: tuple[tuple[str, tuple[str, ...]], ...]  # then each joined record's key, columns

    def record(self, row: Sequence[Any]) -> Record:
        """A row's own columns, then its joined records under their keys."""
        record = dict(zip(self.own, row, strict=False))
        at = len(self.own)
        for key, names in self.nested:
            record[key] = dict(zip(names, row[at : at + len(names)], strict=True))
            at += len(names)
        return record


@cache
def _shape(statement: Select[Any], dialect: Dialect) -> _Shape:
    keys = list(statement.selected_columns.keys())
    processors = []
    for i, selected in enumerate(statement.selected_columns):
        process = selected.type.dialect_impl(dialect).result_processor(dialect, None)
        if process is not None:
            processors.append((i, process))
    own = tuple(k for k in keys if "__" not in k)
    nested: dict[str, list[str]] = {}
    for key in keys[len(own) :]:
        side, column = key.split("__", 1)
        nested.setdefault(side, []).append(column)
    sql = statement.compile(dialect=dialect).string if dialect.name == "postgresql" else ""
    return _Shape(sql, tuple(processors), own, tuple((k, tuple(v)) for k, v in nested.items()))


def _rows(conn: Connection, jobs: list[Job]) -> list[list[Any]]:
    """Each job's rows for its pks, as sequences.

    On PostgreSQL in autocommit (the request connections) straight through psycopg, as
    prepared statements, every kind's in one pipeline (one round trip, not one per kind):
    SQLAlchemy's execution and result machinery cost about 0.3 ms of CPU a search, twice
    the driver's own work. The engine's `before_cursor_execute` listeners still run (the
    statement timeout is set there); errors come out as SQLAlchemy's, as the planner's
    timeout handling expects. Elsewhere through SQLAlchemy.
    """
    driver: Any = conn.connection.driver_connection
    if not jobs or not jobs[0][2].sql or not getattr(driver, "autocommit", False):
        return [[tuple(r) for r in conn.execute(st, {"ids": pks})] for _, st, _, pks in jobs]
    context = SimpleNamespace(execution_options=conn.get_execution_options())
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with ExitStack() as stack:
            if len(jobs) > 1:
                stack.enter_context(driver.pipeline())
            cursors = []
            for _, _, shape, pks in jobs:
                cursor = stack.enter_context(driver.cursor())
                params = {"ids": pks}
                conn.dispatch.before_cursor_execute(conn, cursor, shape.sql, params, context, False)
                cursor.execute(shape.sql, params, prepare=True)
                cursors.append(cursor)
            found = [cursor.fetchall() for cursor in cursors]
    except dbapi_error as error:
        raise DBAPIError.instance(jobs[0][2].sql, None, error, dbapi_error) from error
    return [_processed(rows, shape) for rows, (_, _, shape, _) in zip(found, jobs, strict=True)]


def _processed(rows: list[Any], shape: _Shape) -> list[Any]:
    """Rows with the values their column types read (ScaledDecimal's amounts)."""
    if not shape.processors:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for i, process in shape.processors:
            values[i] = process(values[i])
        out.append(values)
    return out


def _party_columns(parties: bool | Sequence[str]) -> tuple[str, ...]:
    if parties is True or isinstance(parties, bool):
        return shown_columns("party")
    return ("id", *sorted(set(parties) - {"id"}))


@cache
def _statement(
    kind: str, names: tuple[str, ...], joined: bool, dialect: str, sides: tuple[str, ...] = ()
) -> Select[Any]:
    """Built once per shape: building and keying a new one for every page cost a quarter of
    a millisecond, a tenth of the hub's own time in a search."""
    table = TABLES[kind]
    joins: list[tuple[str, Any, str, tuple[str, ...]]] = []  # (key, table, foreign key, columns)
    if joined and kind == "transaction":
        joins = [(side, PARTIES, f"{side}_id", sides) for side in SIDES]
    elif joined and kind == "notice":
        joins = [("project", PROJECTS, "project_id", PROJECT_COLUMNS)]
    columns: list[Any] = [table.c[n] for n in names]
    source: Any = table
    for key, other, foreign, wanted in joins:
        if dialect == "postgresql":
            # A lookup by key per row (LIMIT: not pulled up into a join): PostgreSQL hashed
            # a small table whole instead, 0.32 ms against 0.11 ms for a page of 21.
            found = (
                select(*(other.c[n] for n in wanted))
                .where(other.c.id == table.c[foreign])
                .limit(literal_column("1"))
                .lateral(key)
            )
            source = source.join(found, true())
        else:
            found = aliased(other, name=key)
            source = source.join(found, found.c.id == table.c[foreign])
        columns += [found.c[n].label(f"{key}__{n}") for n in wanted]
    statement = select(*columns).select_from(source)
    if dialect == "postgresql":  # one short statement text for any number of ids
        return statement.where(table.c.id == any_(bindparam("ids", type_=ARRAY(table.c.id.type))))
    return statement.where(table.c.id.in_(bindparam("ids", expanding=True)))
