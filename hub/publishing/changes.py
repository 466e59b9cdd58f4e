"""The change feed's one writer: a batch's accepted records, in the batch's transaction.

Called once per batch, after its handler stored its records and before the commit, inside
the batch lock (`ingest._one_writer_at_a_time`). Batches write one at a time, so every record
with an id above the last one the feed holds for its kind is this batch's, and its ids are
in the order it was stored: one INSERT … SELECT writes their changes in that order, for a
million transactions as cheaply as for one notice (no ids come back to Python).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, func, literal, select

from schema.changes import CHANGES, INSERT, SOURCE
from schema.tables import NOTICES, PENALTY_RECORDS, TRANSACTIONS
from schema.types import RecordKind

TABLES = {
    RecordKind.notice: NOTICES,
    RecordKind.transaction: TRANSACTIONS,
    RecordKind.penalty: PENALTY_RECORDS,
}
COLUMNS = ["kind", "record_id", "action", "publisher_id", "source_site", "accepted_at",
           "content_hash", "ocid"]  # fmt: skip


def record_changes(
    conn: Connection,
    kind: RecordKind,
    sources: Iterable[tuple[int, int, str | None, datetime]] = (),
) -> None:
    """Write an `insert` change for each record of `kind` stored since the feed's last one,
    then a `source` change for each (record id, publisher id, source site, time) given: an
    existing record another account delivered again (written after the inserts, so a record
    stored and re-sourced in one batch appears in the feed before its second source)."""
    table = TABLES[kind]
    last = (
        select(func.coalesce(func.max(CHANGES.c.record_id), 0))
        .where(CHANGES.c.kind == kind.value)
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
    extra = list(sources)
    if not extra:
        return
    hashes = dict(
        conn.execute(
            select(table.c.id, table.c.content_hash).where(table.c.id.in_({s[0] for s in extra}))
        ).tuples()
    )
    ocids = (
        dict(conn.execute(select(table.c.id, table.c.ocid).where(table.c.id.in_(hashes))).tuples())
        if "ocid" in table.c
        else {}
    )
    conn.execute(
        CHANGES.insert(),
        [
            {"kind": kind.value, "record_id": record_id, "action": SOURCE,
             "publisher_id": publisher_id, "source_site": site, "accepted_at": at,
             "content_hash": hashes[record_id], "ocid": ocids.get(record_id)}
            for record_id, publisher_id, site, at in extra
        ],
    )  # fmt: skip
