"""The transparency scores in the dumps: every purchaser's, agency's and region's monthly
scores as they stand at the end of a day, for month-end snapshots and current/ (formulas:
schema.transparency).

Scores are computed, not stored, so they are written from Python rows rather than streamed
from a table; the columns still come from the catalogue (schema.scores). A snapshot's scores
count the flags standing at its end (the as-of flags, exports.flagrows), loaded into a
temporary table of the connection that computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pyarrow as pa
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table

from exports.arrow import entity_schema
from schema.flags import Flag
from schema.transparency import Group, Scope, score_counts, score_row

ENTITY = "transparency_scores"


def _standing_table(conn: Connection, flags: Sequence[Flag]) -> Table:
    """The project flags given, as a temporary table (the connection's own, dropped after)."""
    table = Table(
        "export_standing_flags", MetaData(),
        Column("project_id", Integer), Column("code", String), Column("severity", String),
        prefixes=["TEMPORARY"],
    )  # fmt: skip
    table.create(conn)
    rows = [{"project_id": f.project_id, "code": f.code, "severity": f.severity}
            for f in flags if f.project_id is not None]  # fmt: skip
    if rows:
        conn.execute(table.insert(), rows)
    return table


def score_rows(
    engine: Engine, day: date, flags: Sequence[Flag] | None = None
) -> list[dict[str, Any]]:
    """Rows for every group, entity and month up to `day`'s month, in key order; `flags`: the
    project flags standing at the end of `day` (else the stored ones first found by then)."""
    rows = []
    with engine.connect() as conn:
        standing = _standing_table(conn, flags) if flags is not None else None
        try:
            for group in Group:
                scope = Scope(group, month_to=day.strftime("%Y-%m"), as_of=day)
                counts = score_counts(conn, scope, today=day, flags=standing)
                for key, month in sorted(counts, key=lambda km: (str(km[0]), km[1])):
                    rows.append(score_row(counts[(key, month)], group.name.lower(), key, month))
        finally:
            if standing is not None:
                standing.drop(conn)
                conn.commit()
    return rows


def score_table(engine: Engine, day: date, flags: Sequence[Flag] | None = None) -> pa.Table:
    """The scores as they stand at the end of `day`, for a month-end snapshot or current/."""
    rows = score_rows(engine, day, flags)
    return pa.Table.from_pylist(rows, schema=entity_schema(ENTITY))
