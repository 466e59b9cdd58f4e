"""Arrow schemas of the dumps, read from the field catalogue, and the cast into them.

Names, types and the Chinese/English descriptions are declared once, on the tables
(`schema.catalogue`); this module only maps Python types to Arrow types. Money and quantities
are stored as scaled integers (fen, thousandths) and leave as exact decimals (yuan, units).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import NaiveDatetime

from schema.catalogue import EXPORTED, FieldSpec, exported_fields
from schema.columns import ScaledDecimal, table_of

# 18 digits: decimals that fit an int64, which Parquet then stores as INT64 (smaller, faster
# in DuckDB) and which hold any amount up to ten thousand trillion yuan.
DECIMAL_PRECISION = 18
TIMESTAMP = pa.timestamp("us")  # naive Beijing time (UTC+8), as stored: no offset to invent
SCALAR_TYPES: dict[type, pa.DataType] = {
    int: pa.int64(),
    str: pa.string(),
    bool: pa.bool_(),
    float: pa.float64(),
    date: pa.date32(),
    datetime: TIMESTAMP,
}


@dataclass(frozen=True)
class ExportField:
    """One exported column: its catalogue entry, Arrow type and stored scale (for decimals)."""

    spec: FieldSpec
    arrow_type: pa.DataType
    scale: int | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def python_type(self) -> type:
        """The builtin the catalogue's type stands for (pydantic's NaiveDatetime: datetime)."""
        return datetime if self.spec.python_type is NaiveDatetime else self.spec.python_type


def _scale(entity: str, name: str) -> int:
    column_type = table_of(EXPORTED[entity]).c[name].type
    if not isinstance(column_type, ScaledDecimal):
        raise TypeError(f"{entity}.{name} is a Decimal but not stored as a ScaledDecimal")
    return column_type.scale


@cache
def export_fields(entity: str) -> tuple[ExportField, ...]:
    """The exported fields of `entity` with their Arrow types, in declared order."""
    fields = []
    for spec in exported_fields(entity):
        if spec.python_type is Decimal:
            scale = _scale(entity, spec.name)
            fields.append(ExportField(spec, pa.decimal128(DECIMAL_PRECISION, scale), scale))
        else:
            plain = ExportField(spec, pa.null())
            fields.append(ExportField(spec, SCALAR_TYPES[plain.python_type]))
    return tuple(fields)


@cache
def entity_schema(entity: str) -> pa.Schema:
    """Arrow schema with the Chinese label and English description on every field."""
    return pa.schema(
        [
            pa.field(
                f.name,
                f.arrow_type,
                nullable=True,  # the database enforces NOT NULL; Parquet stays OPTIONAL alike
                metadata={"label_zh": f.spec.label, "description_en": f.spec.description},
            )
            for f in export_fields(entity)
        ],
        metadata={"entity": entity},
    )


# The supplier links' export columns that their tables hold only through the parent row.
THROUGH_PARENT = {
    "award_suppliers": ("awards", "award_pk", ("project_id", "award_id")),
    "contract_suppliers": ("contracts", "contract_pk", ("project_id", "contract_id")),
}
# Export columns no table holds, filled after reading (exports.flagrows: the finding's key).
COMPUTED = {"flags": ("flag_key",)}


def column_list(entity: str) -> str:
    """The SELECT list of the exported columns over the entity's table, quoted for both
    dialects; a supplier link's project and award/contract id are read from its parent."""
    parent, pk, inherited = THROUGH_PARENT.get(entity, ("", "", ()))
    columns = []
    for f in export_fields(entity):
        if f.name in COMPUTED.get(entity, ()):
            columns.append(f'NULL AS "{f.name}"')
        elif f.name in inherited:
            read = f'SELECT p."{f.name}" FROM {parent} p WHERE p.id = {entity}.{pk}'
            columns.append(f'({read}) AS "{f.name}"')
        else:
            columns.append(f'"{f.name}"')
    return ", ".join(columns)


def _decimal(column: pa.Array, field: ExportField) -> pa.Array:
    """Scaled integers as decimals: the same digits, the point moved (no arithmetic)."""
    integers = column.cast(pa.int64())
    bounds = pc.min_max(integers)
    limit = 10**DECIMAL_PRECISION
    for bound in (bounds["min"].as_py(), bounds["max"].as_py()):
        if bound is not None and abs(bound) >= limit:
            raise ValueError(f"{field.name}: {bound} exceeds {DECIMAL_PRECISION} digits")
    wide = integers.cast(pa.decimal128(DECIMAL_PRECISION + 1, 0))
    return wide.view(field.arrow_type)


def _convert(column: pa.Array, field: ExportField) -> pa.Array:
    if field.scale is not None:
        return _decimal(column, field)
    if column.type == field.arrow_type:
        return column
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), field.arrow_type)
    return column.cast(field.arrow_type)  # ints to int64; SQLite's text dates and times parse


def to_export(raw: pa.RecordBatch, entity: str) -> pa.RecordBatch:
    """A batch as the database driver typed it, cast into the entity's export schema."""
    fields = export_fields(entity)
    columns = [_convert(raw.column(i), f) for i, f in enumerate(fields)]
    return pa.RecordBatch.from_arrays(columns, schema=entity_schema(entity))
