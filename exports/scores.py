"""The transparency scores in the daily dump: every purchaser's, agency's and region's monthly
scores as they stand when the day is cut (formulas: schema.transparency).

Scores are computed, not stored, so they are written from Python rows rather than streamed
from a table; the columns still come from the catalogue (schema.scores).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine

from exports.arrow import entity_schema
from exports.formats import WRITERS
from exports.manifest import FileEntry
from exports.storage import Store
from schema.transparency import Group, Scope, score_counts, score_row

ENTITY = "transparency_scores"
FOLDER = f"snapshots/{ENTITY}"


def score_rows(engine: Engine, day: date) -> list[dict[str, Any]]:
    """Rows for every group, entity and month up to `day`'s month, in key order."""
    rows = []
    with engine.connect() as conn:
        for group in Group:
            scope = Scope(group, month_to=day.strftime("%Y-%m"))
            counts = score_counts(conn, scope, today=day)
            for key, month in sorted(counts, key=lambda km: (str(km[0]), km[1])):
                rows.append(score_row(counts[(key, month)], group.name.lower(), key, month))
    return rows


def write_scores(engine: Engine, store: Store, staging: str, day: date) -> list[FileEntry]:
    """The day's score files (Parquet and CSV) in staging, with their manifest entries."""
    schema = entity_schema(ENTITY)
    table = pa.Table.from_pylist(score_rows(engine, day), schema=schema)
    entries = []
    for writer_type in WRITERS:
        path = f"{FOLDER}/date={day.isoformat()}/{ENTITY}.{writer_type.format}"
        writer = writer_type(store.open_output(f"{staging}/{path}"), schema)
        writer.write(table)
        written = writer.close()
        store.sync(f"{staging}/{path}")
        entries.append(
            FileEntry(path, ENTITY, writer.format, table.num_rows, written.bytes, written.sha256)
        )
    return entries
