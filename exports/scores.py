"""The transparency scores in the dumps: every purchaser's, agency's and region's monthly
scores as they stand at the end of a day, for month-end snapshots and current/ (formulas:
schema.transparency).

Scores are computed, not stored, so they are written from Python rows rather than streamed
from a table; the columns still come from the catalogue (schema.scores).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine

from exports.arrow import entity_schema
from schema.transparency import Group, Scope, score_counts, score_row

ENTITY = "transparency_scores"


def score_rows(engine: Engine, day: date) -> list[dict[str, Any]]:
    """Rows for every group, entity and month up to `day`'s month, in key order."""
    rows = []
    with engine.connect() as conn:
        for group in Group:
            scope = Scope(group, month_to=day.strftime("%Y-%m"), as_of=day)
            counts = score_counts(conn, scope, today=day)
            for key, month in sorted(counts, key=lambda km: (str(km[0]), km[1])):
                rows.append(score_row(counts[(key, month)], group.name.lower(), key, month))
    return rows


def score_table(engine: Engine, day: date) -> pa.Table:
    """The scores as they stand at the end of `day`, for a month-end snapshot or current/."""
    return pa.Table.from_pylist(score_rows(engine, day), schema=entity_schema(ENTITY))
