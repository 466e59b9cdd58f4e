"""The change feed: one row per accepted record, in acceptance (commit) order.

Written in the transaction that stores the record, inside the batch lock, so `seq` order is
commit order: a reader that has seen `seq` N has seen every change below N, and never finds
a gap filled in later. Mirrors (`caigou mirror pull`) and, later, the pusher to upstream hubs
read it; `seq` is never reused (SQLite AUTOINCREMENT), so a cursor holds forever.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer
from sqlmodel import SQLModel

from schema.columns import field, table_of
from schema.types import BeijingTime

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid); PostgreSQL gets a bigint.
Seq = BigInteger().with_variant(Integer(), "sqlite")
INSERT = "insert"  # a new record
SOURCE = "source"  # an existing record gained a source (another site delivered it)
ACTIONS = (INSERT, SOURCE)


class Change(SQLModel, table=True):
    """An accepted record (or a new source of one), in the order the hub accepted it."""

    __tablename__ = "changes"
    __table_args__ = (
        Index("ix_changes_kind_seq", "kind", "seq"),
        Index("ix_changes_kind_record", "kind", "record_id"),
        {"sqlite_autoincrement": True},
    )

    seq: int | None = field(
        "变更序号", "Monotonic change number, never reused: the feed's cursor.",
        primary_key=True, sa_type=Seq,
    )  # fmt: skip
    kind: str = field("记录类别", "notice, transaction or penalty.")
    record_id: int = field(
        "记录内部编号", "Id of the stored row in notices, transactions or penalty_records.",
        public=False,
    )  # fmt: skip
    action: str = field("变更类型", "insert (a new record) or source (a new source of one).")
    publisher_id: int = field(
        "发布者", "The account that delivered the record.", foreign_key="publishers.id",
        public=False,
    )  # fmt: skip
    source_site: str | None = field("来源网站", "Site it came from.", default=None)
    accepted_at: BeijingTime = field("接收时间", "When the hub accepted it (UTC+8).")
    content_hash: str = field("内容摘要", "The record's content hash.")
    ocid: str | None = field(
        "开放缔约标识OCID", "The project, when the record names one.", default=None
    )


class MirrorCursor(SQLModel, table=True):
    """How far `caigou mirror pull` has read another hub's feed: a crash resumes from here."""

    __tablename__ = "mirror_cursors"

    url: str = field("来源地址", "Base URL of the hub mirrored.", primary_key=True, public=False)
    cursor: str = field("游标", "The feed cursor after the last change ingested.", public=False)
    updated_at: BeijingTime = field("更新时间", "When the cursor last moved (UTC+8).", public=False)


CHANGES = table_of(Change)
MIRROR_CURSORS = table_of(MirrorCursor)
