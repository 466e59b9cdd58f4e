"""Versions of the compiled records (SCD-2): daily change rows, and history folded from them.

On a day D, every project whose as-of state changed (a notice of it published on D, or
received on D when published earlier) gets ALL its rows of every compiled entity as of the
end of D, each with `valid_from` = D. A project's change set replaces all its earlier rows in
every entity: rows are keyed on the project only, never on an entity's own columns, so a row
that disappears (a lot withdrawn) is closed too. Nothing is counted twice: at any day exactly
one version of each project's rows is valid.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from exports.arrow import column_list, entity_schema, to_export
from exports.partitions import end_of
from exports.source import Source
from schema.versions import Validity

# Written in this order; the lead adds award_suppliers here.
COMPILED_ENTITIES = (
    "projects",
    "lots",
    "awards",
    "contracts",
    "contract_suppliers",
    "project_items",
    "evaluation_experts",
)
CHUNK_PROJECTS = 5_000  # projects read at once: bounded memory and SQL length


def project_key(entity: str) -> str:
    """The column naming a row's project: `id` on projects (the stable project id)."""
    return "id" if entity == "projects" else "project_id"


@cache
def validity_field(name: str) -> pa.Field:
    """`valid_from`/`valid_to` as declared in schema.versions, with their labels."""
    info = Validity.model_fields[name]
    return pa.field(name, pa.date32(), metadata={
        "label_zh": info.title or name, "description_en": info.description or ""})  # fmt: skip


# ---------------------------------------------------------------- placeholder: exports.asof
# The as-of engine (exports.asof) computes these from the notices published up to a day;
# until it is merged, today's compiled tables stand in for the projects' rows.


@cache
def row_schema(entity: str) -> pa.Schema:
    """The schema of a compiled entity's rows (placeholder: contract suppliers get the
    `project_id` of their contract, which the as-of engine's rows carry)."""
    schema = entity_schema(entity)
    if project_key(entity) not in schema.names:
        meta = {"label_zh": "项目", "description_en": "Project id (stable)."}
        schema = schema.append(pa.field("project_id", pa.int64(), metadata=meta))
    return schema


def changed_projects(source: Source, day: date) -> list[int]:
    """Projects with a notice published on `day`, or received on it when published earlier."""
    start, end = f"'{day.isoformat()}'", end_of(day)
    sql = (
        f"SELECT DISTINCT project_id FROM notices WHERE (published_at >= {start} AND "
        f"published_at < {end}) OR (received_at >= {start} AND received_at < {end} AND "
        f"published_at < {start}) ORDER BY project_id"
    )
    return _ids(source, sql)


def projects_published_by(source: Source, day: date) -> list[int]:
    """Every project with a notice published by the end of `day`."""
    sql = f"SELECT DISTINCT project_id FROM notices WHERE published_at < {end_of(day)} ORDER BY 1"
    return _ids(source, sql)


def _ids(source: Source, sql: str) -> list[int]:
    """One integer column of `sql`, through the source's own snapshot (both drivers are
    DB-API cursors)."""
    cursor = source.connection.cursor()  # type: ignore[attr-defined]
    try:
        cursor.execute(sql)
        return [int(row[0]) for row in cursor.fetchall()]
    finally:
        cursor.close()


def compiled_rows(source: Source, project_ids: Sequence[int], day: date) -> dict[str, pa.Table]:
    """Every compiled entity's rows of `project_ids` (placeholder for exports.asof's
    `project_states`: reads today's compiled tables, whatever `day` says)."""
    ids = ", ".join(str(int(i)) for i in project_ids) or "NULL"
    tables: dict[str, pa.Table] = {}
    for entity in COMPILED_ENTITIES:
        where = f"{project_key(entity)} IN ({ids})"
        if entity == "contract_suppliers":
            where = f"contract_pk IN (SELECT id FROM contracts WHERE project_id IN ({ids}))"
        sql = f"SELECT {column_list(entity)} FROM {entity} WHERE {where} ORDER BY id"
        batches = [to_export(b, entity) for b in source.batches(sql, entity)]
        table = pa.Table.from_batches(batches, schema=entity_schema(entity))
        if entity == "contract_suppliers":
            contracts = tables["contracts"]
            lookup = pc.index_in(table["contract_pk"], contracts["id"])
            table = table.append_column(row_schema(entity).field("project_id"),
                                        pc.take(contracts["project_id"], lookup))  # fmt: skip
        tables[entity] = table
    return tables


# ---------------------------------------------------------------- versions


def states(source: Source, project_ids: Sequence[int], day: date) -> Iterator[dict[str, pa.Table]]:
    """The projects' rows as of the end of `day`, a chunk of projects at a time."""
    for start in range(0, len(project_ids), CHUNK_PROJECTS):
        yield compiled_rows(source, project_ids[start : start + CHUNK_PROJECTS], day)


def change_schema(entity: str) -> pa.Schema:
    return row_schema(entity).append(validity_field("valid_from"))


def history_schema(entity: str) -> pa.Schema:
    return change_schema(entity).append(validity_field("valid_to"))


def dated(table: pa.Table, day: date) -> pa.Table:
    """Change rows: the project's rows with `valid_from` = the day they became its state."""
    column = pa.array([day] * table.num_rows, pa.date32())
    return table.append_column(validity_field("valid_from"), column)


def in_key_order(table: pa.Table, entity: str) -> pa.Table:
    """By project, then version; a stable sort keeps the rows' own order within a version,
    so a history folded day by day equals one rebuilt from scratch, byte for byte."""
    order = pc.sort_indices(
        table, sort_keys=[(project_key(entity), "ascending"), ("valid_from", "ascending")]
    )
    return table.take(order)


def apply_changes(
    history: pa.Table | None, changes: pa.Table, projects: pa.Array, day: date, entity: str
) -> pa.Table:
    """Close the open versions of `projects` on `day` and add `changes` as the open ones."""
    schema = history_schema(entity)
    opened = changes.append_column(validity_field("valid_to"), pa.nulls(changes.num_rows,
                                                                        pa.date32()))  # fmt: skip
    if history is None:
        return in_key_order(opened.cast(schema), entity)
    hit = pc.and_(
        pc.is_null(history["valid_to"]),
        pc.is_in(history[project_key(entity)], value_set=projects.cast(pa.int64())),
    )
    history = history.cast(schema)
    closed = pc.if_else(hit, pa.scalar(day, pa.date32()), history["valid_to"])
    index = schema.get_field_index("valid_to")
    history = history.set_column(index, schema.field("valid_to"), closed)
    return in_key_order(pa.concat_tables([history, opened.cast(schema)]), entity)


def as_of(history: pa.Table, day: date) -> pa.Table:
    """The versions valid at the end of `day` (valid_from ≤ day < valid_to)."""
    moment = pa.scalar(day, pa.date32())
    valid = pc.and_(
        pc.less_equal(history["valid_from"], moment),
        pc.or_(pc.is_null(history["valid_to"]), pc.greater(history["valid_to"], moment)),
    )
    return history.filter(valid)
