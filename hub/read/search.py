"""One search hydration: a page of hits → their records, for GraphQL `search` and the `/` page.

A backend (Elasticsearch or SQLite FTS5) answers with record keys, scores and highlights; the
records themselves come from the database, so a hit shows exactly what the rest of the hub
shows. Both sides read them here, one statement per kind, the parties of transactions and
the projects of notices joined into the same statement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Connection, Select, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
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
    wanted: dict[str, list[int]] = defaultdict(list)
    for hit in hits:
        if kinds is None or hit.kind in kinds:
            wanted[hit.kind].append(hit.pk)
    found: dict[Key, Record] = {}
    for kind, pks in wanted.items():
        names = tuple(columns[kind]) if columns and kind in columns else shown_columns(kind)
        names = names if "id" in names else ("id", *names)
        joined = bool(parties and kind == "transaction") or (projects and kind == "notice")
        sides = _party_columns(parties) if joined and kind == "transaction" else ()
        statement = _statement(kind, names, joined, conn.dialect.name, sides)
        for row in conn.execute(statement, {"ids": pks}):
            found[(kind, row.id)] = _record(kind, row._mapping, len(names), joined)
    return found


def _record(kind: str, values: Mapping[Any, Any], own: int, joined: bool) -> Record:
    """A row's own columns, then its joined records under their keys."""
    items = list(values.items())
    record = dict(items[:own])
    if not joined:
        return record
    nested: dict[str, Record] = defaultdict(dict)
    for name, value in items[own:]:
        side, column = name.split("__", 1)
        nested[side][column] = value
    if kind == "notice":
        record["project"] = nested["project"]
    else:
        record.update((side, nested[side]) for side in SIDES)
    return record


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
    statement = select(*(table.c[n] for n in names))
    if joined and kind == "transaction":
        for side in SIDES:
            party = aliased(PARTIES, name=side)
            statement = statement.add_columns(
                *(party.c[n].label(f"{side}__{n}") for n in sides)
            ).join(party, party.c.id == table.c[f"{side}_id"])
    elif joined and kind == "notice":
        statement = statement.add_columns(
            *(PROJECTS.c[n].label(f"project__{n}") for n in PROJECT_COLUMNS)
        ).join(PROJECTS, PROJECTS.c.id == table.c.project_id)
    if dialect == "postgresql":  # one short statement text for any number of ids
        return statement.where(table.c.id == any_(bindparam("ids", type_=ARRAY(table.c.id.type))))
    return statement.where(table.c.id.in_(bindparam("ids", expanding=True)))
