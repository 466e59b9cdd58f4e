"""The change feed's one writer: a batch's accepted records, in the batch's transaction.

Called once per batch, after its handler stored its records and before the commit, inside
the batch lock (`ingest._one_writer_at_a_time`). Batches write one at a time, so every record
with an id above the last one the feed holds for its kind is this batch's, and its ids are
in the order it was stored: one INSERT … SELECT writes their changes in that order, for a
million transactions as cheaply as for one notice (no ids come back to Python).
"""

from __future__ import annotations

from sqlalchemy import Connection, func, literal, select

from schema.changes import CHANGES, INSERT
from schema.tables import NOTICES, PENALTY_RECORDS, TRANSACTIONS
from schema.tables import RECORD_SOURCES as SOURCES
from schema.types import RecordKind

TABLES = {
    RecordKind.notice: NOTICES,
    RecordKind.transaction: TRANSACTIONS,
    RecordKind.penalty: PENALTY_RECORDS,
}
COLUMNS = ["kind", "record_id", "action", "publisher_id", "source_site", "accepted_at",
           "content_hash", "ocid"]  # fmt: skip


def record_changes(conn: Connection, kind: RecordKind) -> None:
    """Write an `insert` change for each record of `kind` stored since the feed's last one.
    (A held record that gains a source says so at once: `record_change`.)"""
    table = TABLES[kind]
    last = (
        select(func.coalesce(func.max(CHANGES.c.record_id), 0))
        .where(CHANGES.c.kind == kind.value, CHANGES.c.action == INSERT)
        .scalar_subquery()
    )
    ocid = table.c.ocid if "ocid" in table.c else literal(None)
    rows = (
        select(
            literal(kind.value),
            table.c.id,
            literal(INSERT),
            table.c.publisher_id,
            table.c.source_site,
            table.c.received_at,
            table.c.content_hash,
            ocid,
        )
        .where(table.c.id > last)
        .order_by(table.c.id)
    )
    conn.execute(CHANGES.insert().from_select(COLUMNS, rows))


def record_change(
    conn: Connection,
    kind: RecordKind,
    record_id: int,
    action: str,
    content_hash: str,
    ocid: str | None,
) -> None:
    """One change now: a held record gained a source (hub/publishing/sources.py), stamped
    with who delivered it, from where and when, as its newest `record_sources` row says."""
    source = conn.execute(
        select(SOURCES.c.publisher_id, SOURCES.c.source_site, SOURCES.c.received_at)
        .where(SOURCES.c.kind == kind.value, SOURCES.c.record_id == record_id)
        .order_by(SOURCES.c.id.desc())
        .limit(1)
    ).one()
    conn.execute(
        CHANGES.insert().values(
            kind=kind.value, record_id=record_id, action=action, publisher_id=source.publisher_id,
            source_site=source.source_site, accepted_at=source.received_at,
            content_hash=content_hash, ocid=ocid,
        )
    )  # fmt: skip
