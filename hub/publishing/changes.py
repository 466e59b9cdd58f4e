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

from hub.publishing.batch import BatchContext
from schema.changes import CHANGES, INSERT, SOURCE
from schema.tables import NOTICE_SOURCES, NOTICES, PENALTY_RECORDS, TRANSACTIONS
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
        ).all()
    )
    ocids = (
        dict(conn.execute(select(table.c.id, table.c.ocid).where(table.c.id.in_(hashes))).all())
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


def new_notice_sources(
    ctx: BatchContext, resourced: Iterable[int]
) -> list[tuple[int, int, str | None, datetime]]:
    """Held notices this batch gave a new source (a site that had not sent them before):
    their `notice_sources` row is this batch's, stamped with its time. (Issue 17's
    record_sources will say this for every kind; until then notices are the ones.)"""
    ids = sorted(set(resourced))
    table = NOTICE_SOURCES
    found: list[int] = []
    for start in range(0, len(ids), 900):
        found += ctx.conn.execute(
            select(table.c.notice_id)
            .join(NOTICES, NOTICES.c.id == table.c.notice_id)
            .where(
                table.c.notice_id.in_(ids[start : start + 900]),
                table.c.publisher_id == ctx.publisher.id,
                table.c.received_at == ctx.received_at,
                NOTICES.c.received_at != ctx.received_at,  # not stored by this very batch
            )
        ).scalars()
    return [(i, ctx.publisher.id, ctx.source_site, ctx.received_at) for i in sorted(found)]
