"""Names and credit codes beside every party id of a dump, added column-wise.

`PartyNames` is read once per export from the export's `Source` (the same snapshot as the
rows, so every id is found), then `add_party_names` puts `<stem>_name` and `<stem>_uscc`
right after each party id column: one hash lookup (`index_in`) and two `take`s per column,
never a Python loop over rows. The fields are declared in schema.party_names.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from exports.arrow import column_list
from exports.source import Source
from schema.catalogue import EXPORTED, FieldSpec, exported_fields
from schema.party_names import name_fields
from schema.relations import party_id_columns


@dataclass(frozen=True)
class PartyNames:
    """Every party's id, name and credit code, as parallel arrays (ids ascending)."""

    ids: pa.Array
    names: pa.Array
    usccs: pa.Array

    @classmethod
    def from_table(cls, parties: pa.Table) -> PartyNames:
        """From a table with the parties' `id`, `name` and `uscc` columns."""
        parties = parties.sort_by("id")
        return cls(
            parties.column("id").combine_chunks().cast(pa.int64()),
            parties.column("name").combine_chunks().cast(pa.string()),
            parties.column("uscc").combine_chunks().cast(pa.string()),
        )

    @classmethod
    def load(cls, source: Source) -> PartyNames:
        """Read from the export's snapshot: the parties every row of the export names."""
        sql = f"SELECT {column_list('parties')} FROM parties ORDER BY id"
        batches = list(source.batches(sql, "parties"))
        if not batches:
            empty = pa.table({"id": pa.array([], pa.int64()), "name": pa.array([], pa.string()),
                              "uscc": pa.array([], pa.string())})  # fmt: skip
            return cls.from_table(empty)
        return cls.from_table(pa.Table.from_batches(batches).select(["id", "name", "uscc"]))

    def lookup(self, ids: pa.Array | pa.ChunkedArray, where: str) -> tuple[pa.Array, pa.Array]:
        """(names, credit codes) for `ids`, empty where an id is; ValueError naming `where`
        (entity.column) and the first id that is not a party."""
        ids = ids.cast(pa.int64())
        positions = pc.index_in(ids, value_set=self.ids)
        missing = pc.and_(pc.is_valid(ids), pc.is_null(positions))
        if pc.any(missing).as_py():
            first = pc.filter(ids, missing)[0].as_py()
            raise ValueError(f"{where}: party id {first} is not in parties")
        return pc.take(self.names, positions), pc.take(self.usccs, positions)


def _id_spec(entity: str, column: str) -> FieldSpec:
    if entity not in EXPORTED:
        raise KeyError(f"{entity} is not an entity of schema.catalogue")
    found = [f for f in exported_fields(entity) if f.name == column]
    if not found:
        raise KeyError(f"{entity}.{column} is declared a party id but is no public field")
    return found[0]


def _field(spec: FieldSpec) -> pa.Field:
    metadata = {"label_zh": spec.label, "description_en": spec.description}
    return pa.field(spec.name, pa.string(), nullable=True, metadata=metadata)


def _named_columns(entity: str, names: list[str]) -> list[str]:
    wanted = set(party_id_columns(entity))
    return [n for n in names if n in wanted]


def named_schema(schema: pa.Schema, entity: str) -> pa.Schema:
    """`schema` with the name and credit code fields after each party id: the schema of what
    `add_party_names` returns, for a writer opened before the rows arrive."""
    fields: list[pa.Field] = []
    ids = set(_named_columns(entity, schema.names))
    for field in schema:
        fields.append(field)
        if field.name in ids:
            added = name_fields(entity, _id_spec(entity, field.name), schema.names)
            fields.extend(_field(spec) for spec in added)
    return pa.schema(fields, metadata=schema.metadata)


def add_party_names(table: pa.Table, entity: str, names: PartyNames) -> pa.Table:
    """`table` (rows of `entity`, any columns) with every party id's name and credit code
    right after it; a table without party ids comes back as it is."""
    if not _named_columns(entity, table.column_names):
        return table
    schema = named_schema(table.schema, entity)
    columns: dict[str, pa.ChunkedArray | pa.Array] = {
        n: table.column(n) for n in table.column_names
    }
    for column in _named_columns(entity, table.column_names):
        at = schema.get_field_index(column)
        found_names, found_usccs = names.lookup(table.column(column), f"{entity}.{column}")
        columns[schema.field(at + 1).name] = found_names
        columns[schema.field(at + 2).name] = found_usccs
    return pa.Table.from_arrays([columns[n] for n in schema.names], schema=schema)
