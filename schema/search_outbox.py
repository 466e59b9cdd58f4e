"""The search outbox: every change to an indexed record, written in the change's transaction.

The indexer (`indexer.outbox`) drains it into Elasticsearch and deletes a row only once the
index acknowledged it, so a change is never lost when Elasticsearch is down or the indexer
dies. `enqueue` is the one way to write it: one executemany per batch, never a row at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import BigInteger, Connection, Integer, Text, literal, or_, select, union
from sqlmodel import SQLModel

from schema.columns import field, table_of
from schema.projects import Award, AwardSupplier, Notice, Project
from schema.records import PenaltyRecord, Transaction
from schema.types import BeijingTime

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid); PostgreSQL gets a bigint.
OutboxId = BigInteger().with_variant(Integer(), "sqlite")
UPSERT = "upsert"
DELETE = "delete"


class SearchOutbox(SQLModel, table=True):
    """A pending change to one searchable record (notice, transaction, party, penalty)."""

    __tablename__ = "search_outbox"

    id: int | None = field(
        "变更编号", "Monotonic change id; drained in this order.", primary_key=True,
        sa_type=OutboxId, public=False,
    )  # fmt: skip
    kind: str = field(
        "记录类别", "Search kind: notice, transaction, party or penalty.", public=False
    )
    record_pk: int = field("记录内部编号", "Internal id of the changed record.", public=False)
    op: str = field("操作", "upsert or delete.", public=False)
    created_at: BeijingTime = field(
        "变更时间", "When the change was written (UTC+8).", public=False
    )
    attempts: int = field(
        "尝试次数", "Failed indexing attempts so far.", default=0, public=False,
        sa_column_kwargs={"server_default": "0"},
    )  # fmt: skip
    last_error: str | None = field(
        "最近错误", "Why the last attempt failed.", default=None, sa_type=Text, public=False
    )
    parked_at: BeijingTime | None = field(
        "搁置时间",
        "When the change was parked after too many failures; an operator retries it.",
        default=None,
        public=False,
    )
    claimed_until: BeijingTime | None = field(
        "认领截止",
        "An indexer holds the change until then; also the earliest retry after a failure.",
        default=None,
        public=False,
    )


class SearchState(SQLModel, table=True):
    """Indexer bookkeeping by name, e.g. a running rebuild and its new indices."""

    __tablename__ = "search_state"

    name: str = field("名称", "What the entry records, e.g. rebuild.", primary_key=True)
    value: str = field("内容", "JSON value of the entry.", sa_type=Text)
    updated_at: BeijingTime = field("更新时间", "Last heartbeat of the entry (UTC+8).")


OUTBOX = table_of(SearchOutbox)
STATE = table_of(SearchState)


def enqueue(conn: Connection, kind: str, pks: Iterable[int], at: datetime, op: str = UPSERT) -> int:
    """Record that records `pks` of `kind` changed, in the caller's transaction; one statement."""
    stamp = at.isoformat(" ") if conn.dialect.name == "sqlite" else at
    rows = [(kind, pk, op, stamp) for pk in sorted(set(pks))]
    if rows:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(
            "INSERT INTO search_outbox (kind, record_pk, op, created_at, attempts) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}, 0)",
            rows,
        )
    return len(rows)


def enqueue_naming(conn: Connection, party_ids: list[int], at: datetime) -> None:
    """Re-index what names these parties (their code is in those documents): INSERT … SELECT."""
    for start in range(0, len(party_ids), 500):
        _enqueue_naming(conn, party_ids[start : start + 500], at)


def _enqueue_naming(conn: Connection, party_ids: list[int], at: datetime) -> None:
    tx, pen, notices = table_of(Transaction), table_of(PenaltyRecord), table_of(Notice)
    projects, awards, links = table_of(Project), table_of(Award), table_of(AwardSupplier)
    their_projects = union(
        select(projects.c.id).where(
            or_(projects.c.purchaser_id.in_(party_ids), projects.c.agency_id.in_(party_ids))
        ),
        select(awards.c.project_id)
        .join(links, links.c.award_pk == awards.c.id)
        .where(links.c.party_id.in_(party_ids)),
    )
    sources = {
        "transaction": select(tx.c.id).where(
            or_(tx.c.purchaser_id.in_(party_ids), tx.c.supplier_id.in_(party_ids))
        ),
        "penalty": select(pen.c.id).where(pen.c.subject_id.in_(party_ids)),
        "notice": select(notices.c.id).where(notices.c.project_id.in_(their_projects)),
    }
    for kind, ids in sources.items():
        rows = select(literal(kind), ids.subquery().c.id, literal(UPSERT), literal(at), literal(0))
        conn.execute(
            OUTBOX.insert().from_select(["kind", "record_pk", "op", "created_at", "attempts"], rows)
        )
