"""Versions of the compiled records (SCD-2): daily change rows, and history folded from them.

On a day D, every project whose as-of state changed (a notice of it published on D, or
received on D when published earlier) gets ALL its rows of every compiled entity as of the
end of D, each with `valid_from` = D. A project's change set replaces all its earlier rows in
every entity: rows are keyed on the project only, never on an entity's own columns, so a row
that disappears (a lot withdrawn) is closed too. Nothing is counted twice: at any day exactly
one version of each project's rows is valid. In `history/`, an entity's rows that a change
set repeats exactly keep their version open (exports.versions.restated): a contract notice
opens a new version of the project and its contracts, not of its unchanged awards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from exports.arrow import entity_schema
from exports.asof import iter_project_states
from exports.partitions import end_of
from exports.party_names import named_schema
from exports.source import Source
from schema.relations import party_id_columns
from schema.versions import Validity


def project_key(entity: str) -> str:
    """The column naming a row's project: `id` on projects (the stable project id)."""
    return "id" if entity == "projects" else "project_id"


@cache
def validity_field(name: str) -> pa.Field:
    """`valid_from`/`valid_to` as declared in schema.versions, with their labels."""
    info = Validity.model_fields[name]
    return pa.field(name, pa.date32(), metadata={
        "label_zh": info.title or name, "description_en": info.description or ""})  # fmt: skip


@cache
def row_schema(entity: str) -> pa.Schema:
    """The published columns of a compiled entity's rows (exports.asof computes them; each
    party id gets its name and credit code beside it)."""
    return named_schema(entity_schema(entity), entity)


def party_ids(table: pa.Table, entity: str) -> set[int]:
    """The parties a table of compiled rows names (purchaser, agency, suppliers, …)."""
    found: set[int] = set()
    for column in party_id_columns(entity):
        if column in table.column_names:
            found.update(pc.unique(table[column]).drop_null().to_pylist())
    return found


def projects_published_by(source: Source, day: date) -> list[int]:
    """Every project with a notice published by the end of `day`."""
    sql = f"SELECT DISTINCT project_id FROM notices WHERE published_at < {end_of(day)} ORDER BY 1"
    return [int(row[0]) for row in source.rows(sql)]


# ---------------------------------------------------------------- versions


def states(source: Source, project_ids: Sequence[int], day: date) -> Iterator[dict[str, pa.Table]]:
    """The projects' rows as of the end of `day`, computed from the notices published up to
    it (exports.asof), a chunk of projects at a time."""
    yield from iter_project_states(source, project_ids, day)


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
    history = history.cast(schema)
    same = restated(history, changes, projects, entity)
    if same:  # a state already in force keeps its version (and its valid_from)
        kept = pc.invert(pc.is_in(changes[project_key(entity)], value_set=pa.array(same)))
        opened = opened.filter(kept)
        projects = pc.filter(projects, pc.invert(pc.is_in(projects, value_set=pa.array(same))))
    hit = pc.and_(
        pc.is_null(history["valid_to"]),
        pc.is_in(history[project_key(entity)], value_set=projects.cast(pa.int64())),
    )
    closed = pc.if_else(hit, pa.scalar(day, pa.date32()), history["valid_to"])
    index = schema.get_field_index("valid_to")
    history = history.set_column(index, schema.field("valid_to"), closed)
    return in_key_order(pa.concat_tables([history, opened.cast(schema)]), entity)


def restated(history: pa.Table, changes: pa.Table, projects: pa.Array, entity: str) -> list[int]:
    """Projects whose change rows repeat, row for row, the version of this entity they would
    close: a notice that changed a project's lots leaves its awards' version open, and a late
    arrival already folded in (a backfill after the fact) opens no version at all."""
    key = project_key(entity)
    ids = projects.cast(pa.int64())
    current = history.filter(
        pc.and_(pc.is_null(history["valid_to"]), pc.is_in(history[key], value_set=ids))
    )
    columns = [n for n in changes.column_names if n != "valid_from"]

    def by_project(table: pa.Table) -> dict[int, list[tuple[object, ...]]]:
        rows: dict[int, list[tuple[object, ...]]] = {}
        for row in table.select(columns).to_pylist():
            rows.setdefault(row[key], []).append(tuple(row.values()))
        return rows

    before, after = by_project(current), by_project(changes)
    return sorted(p for p in ids.to_pylist() if before.get(p, []) == after.get(p, []))


def as_of(history: pa.Table, day: date) -> pa.Table:
    """The versions valid at the end of `day` (valid_from ≤ day < valid_to)."""
    moment = pa.scalar(day, pa.date32())
    valid = pc.and_(
        pc.less_equal(history["valid_from"], moment),
        pc.or_kleene(pc.is_null(history["valid_to"]), pc.greater(history["valid_to"], moment)),
    )
    return history.filter(valid)
